/* exec_credential.h: client-go credential plugins (client.authentication.k8s.io/v1 and v1beta1)
 * for vmrun's Kubernetes REST backend. Runs the kubeconfig's exec command from its argv (never a
 * shell), with its env additions and KUBERNETES_EXEC_INFO (an ExecCredential whose spec says the
 * run is not interactive and, with provideClusterInfo, describes the cluster), reads the
 * ExecCredential it prints, and keeps it until 10 s before its expirationTimestamp; concurrent
 * requests for a credential share one run of the plugin.
 *
 * Secrets: the credential's token and key are wiped when replaced or freed; error messages name
 * the command and its exit, and carry at most the first line of its stderr, never its stdout
 * (which holds the secret). No Lua here. */
#ifndef VMRUN_EXEC_CREDENTIAL_H
#define VMRUN_EXEC_CREDENTIAL_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "clock.h"
#include "kubeconfig.h"

typedef struct vr_exec_credential {
  char *token; /* bearer token, or NULL */
  char *client_cert_pem;
  size_t client_cert_pem_len;
  char *client_key_pem;
  size_t client_key_pem_len;
  int64_t expires_ms; /* ms since the epoch; 0: no expiry given */
} vr_exec_credential;

/* Parses what a plugin printed. api_version: the one the kubeconfig asked for; the plugin must
 * answer with it. Returns 0, or -1 with a message (never holding the text's secrets). */
int vr_exec_credential_parse(const char *text, size_t len, const char *api_version,
                             vr_exec_credential *out, char *err, size_t errlen);
/* Wipes and frees what a credential holds (the struct itself is the caller's). */
void vr_exec_credential_clear(vr_exec_credential *c);

/* The KUBERNETES_EXEC_INFO value for a plugin (malloc'd JSON, caller frees), or NULL when out of
 * memory. cluster may be NULL (provideClusterInfo false); ca_pem may be NULL. */
char *vr_exec_info_json(const vr_kube_exec *exec, const vr_kube_config *cluster);

typedef struct vr_exec_plugin vr_exec_plugin;

/* A credential is ready (cred non-NULL, valid during the call) or could not be had (error). */
typedef void (*vr_exec_plugin_cb)(void *data, const vr_exec_credential *cred, const char *error);

/* A plugin for the config's exec settings (config->exec must be set; the config must outlive
 * the plugin). NULL when out of memory. */
vr_exec_plugin *vr_exec_plugin_new(uv_loop_t *loop, vr_clock *clock, const vr_kube_config *config);
/* Calls cb with the cached credential at once while it has more than 10 s left and force is 0;
 * otherwise runs the plugin (or joins the run in progress) and calls cb when it ends (force:
 * after a 401, the cached credential is not trusted). Returns 0, -1 when out of memory (cb is
 * then not called). */
int vr_exec_plugin_get(vr_exec_plugin *p, int force, vr_exec_plugin_cb cb, void *data);
/* Stops a run in progress (its waiters get the error "cancelled") and frees the plugin once the
 * process has ended. */
void vr_exec_plugin_free(vr_exec_plugin *p);

#endif
