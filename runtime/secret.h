/* secret.h: wiping secrets (tokens, passwords, keys) out of memory before it is freed, shared by
 * the kubeconfig loader, the exec credential plugins and the Kubernetes client. Only memory
 * these own can be wiped; copies made by libraries (libyaml, libcurl) are out of reach. */
#ifndef VMRUN_SECRET_H
#define VMRUN_SECRET_H

#include <stdlib.h>
#include <string.h>

/* Zeroes n bytes at p in a way the compiler may not drop (p may be NULL). */
static inline void vr_secret_wipe(void *p, size_t n) {
  if (p != NULL && n > 0) explicit_bzero(p, n);
}

/* Wipes a NUL-terminated secret and frees it (s may be NULL). */
static inline void vr_secret_free(char *s) {
  if (s == NULL) return;
  vr_secret_wipe(s, strlen(s));
  free(s);
}

/* Wipes n bytes at p and frees p (p may be NULL). */
static inline void vr_secret_free_n(void *p, size_t n) {
  if (p == NULL) return;
  vr_secret_wipe(p, n);
  free(p);
}

#endif
