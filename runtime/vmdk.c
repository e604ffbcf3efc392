/* vmdk.c: the VMDK disk descriptor (see vmdk.h). Extent lines are taken out first (their line
 * numbers kept); everything else is read by the .vmx key/value reader with unquoted values
 * allowed. It may not read files or call Lua. */
#include "vmdk.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SECTOR 512u

static uint64_t le64(const unsigned char *p) {
  uint64_t v = 0;
  int i;
  for (i = 7; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

/* An extent line: ACCESS SECTORS TYPE ["FILE" [OFFSET]]. 1 when line is one (added), 0 when
 * not, -1 when out of memory. */
static int parse_extent(vr_vmdk *d, const char *p, const char *end, int line) {
  static const char *const access[] = {"RW", "RDONLY", "NOACCESS"};
  const char *word = p, *q;
  char *stop;
  vr_vmdk_extent e;
  size_t i, n, access_len;
  unsigned long long sectors;
  char number[32];
  while (word < end && (*word == ' ' || *word == '\t')) word++;
  for (q = word; q < end && *q != ' ' && *q != '\t';) q++;
  for (i = 0; i < 3; i++) {
    if ((size_t)(q - word) == strlen(access[i]) &&
        strncmp(word, access[i], (size_t)(q - word)) == 0)
      break;
  }
  if (i == 3) return 0;
  access_len = (size_t)(q - word);
  while (q < end && (*q == ' ' || *q == '\t')) q++;
  for (n = 0; q + n < end && isdigit((unsigned char)q[n]) && n < sizeof number - 1; n++) {
    number[n] = q[n];
  }
  if (n == 0 || n > 18 || (q + n < end && isdigit((unsigned char)q[n]))) return 0; /* < 10^18 */
  number[n] = '\0';
  sectors = strtoull(number, &stop, 10);
  memset(&e, 0, sizeof e);
  e.line = line;
  e.sectors = sectors;
  e.access = strndup(word, access_len);
  q += n;
  while (q < end && (*q == ' ' || *q == '\t')) q++;
  word = q;
  while (q < end && *q != ' ' && *q != '\t') q++;
  e.type = strndup(word, (size_t)(q - word));
  while (q < end && (*q == ' ' || *q == '\t')) q++;
  if (q < end && *q == '"') {
    const char *close = memchr(q + 1, '"', (size_t)(end - q - 1));
    if (close != NULL) e.file = strndup(q + 1, (size_t)(close - q - 1));
  }
  if (e.access == NULL || e.type == NULL) goto oom;
  if (d->extent_count == d->extent_cap) {
    size_t cap = d->extent_cap ? d->extent_cap * 2 : 4;
    vr_vmdk_extent *grown = realloc(d->extents, cap * sizeof *grown);
    if (grown == NULL) goto oom;
    d->extents = grown;
    d->extent_cap = cap;
  }
  d->extents[d->extent_count++] = e;
  return 1;
oom:
  free(e.access);
  free(e.type);
  free(e.file);
  return -1;
}

int vr_vmdk_sparse_descriptor(const unsigned char *header, size_t header_len, uint64_t *offset,
                              uint64_t *size, char *err, size_t errlen) {
  if (header_len < 44) {
    snprintf(err, errlen, "a sparse VMDK image whose header is cut short");
    return -1;
  }
  *offset = le64(header + 28);
  *size = le64(header + 36);
  if (*offset == 0 || *size == 0) {
    snprintf(err, errlen, "a sparse VMDK image without an embedded descriptor");
    return -1;
  }
  if (*offset > UINT64_MAX / SECTOR / 2 || *size > VR_VMDK_DESCRIPTOR_MAX / SECTOR) {
    snprintf(err, errlen, "a sparse VMDK image whose descriptor is out of range");
    return -1;
  }
  *offset *= SECTOR;
  *size *= SECTOR;
  return 0;
}

int vr_vmdk_parse(const char *data, size_t len, vr_vmdk *out, char *err, size_t errlen) {
  if (len >= 4 && memcmp(data, "KDMV", 4) == 0) { /* a monolithic sparse image */
    uint64_t offset, size;
    memset(out, 0, sizeof *out);
    if (vr_vmdk_sparse_descriptor((const unsigned char *)data, len, &offset, &size, err, errlen) !=
        0)
      return -1;
    if (offset > len || size > len - offset) {
      snprintf(err, errlen, "a sparse VMDK image whose descriptor lies past its end");
      return -1;
    }
    return vr_vmdk_parse_text(data + offset, (size_t)size, 1, out, err, errlen);
  }
  return vr_vmdk_parse_text(data, len, 0, out, err, errlen);
}

int vr_vmdk_parse_text(const char *text, size_t len, int embedded, vr_vmdk *out, char *err,
                       size_t errlen) {
  char *copy, *p, *end;
  int line = 1, rc;
  memset(out, 0, sizeof *out);
  out->embedded = embedded;
  if (memchr(text, '\0', len) != NULL) {
    const char *nul = memchr(text, '\0', len);
    if (!out->embedded) { /* padding ends an embedded descriptor; elsewhere it is binary */
      const char *q;
      for (q = text; q < nul; q++) line += *q == '\n';
      snprintf(err, errlen, "line %d: binary data (a NUL byte), not a disk descriptor", line);
      return -1;
    }
    len = (size_t)(nul - text);
    line = 1;
  }
  if ((copy = malloc(len + 1)) == NULL) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  memcpy(copy, text, len);
  copy[len] = '\0';
  /* extent lines become blank lines of the copy, so that the key/value reader keeps the line
   * numbers of the others */
  for (p = copy, end = copy + len; p < end; line++) {
    char *eol = memchr(p, '\n', (size_t)(end - p));
    char *stop = eol ? eol : copy + len;
    rc = parse_extent(out, p, stop, line);
    if (rc < 0) {
      free(copy);
      snprintf(err, errlen, "out of memory");
      return -1;
    }
    if (rc == 1) memset(p, ' ', (size_t)(stop - p));
    if (eol == NULL) break;
    p = eol + 1;
  }
  rc =
      vr_vmx_parse_flags(copy, len, VR_VMX_UNQUOTED | VR_VMX_DESCRIPTOR, &out->fields, err, errlen);
  free(copy);
  if (rc != 0) return -1;
  if (vr_vmx_get(&out->fields, "createType") == NULL && out->extent_count == 0) {
    snprintf(err, errlen, "no disk descriptor here (no createType and no extent line)");
    return -1;
  }
  return 0;
}

void vr_vmdk_free(vr_vmdk *d) {
  size_t i;
  for (i = 0; i < d->extent_count; i++) {
    free(d->extents[i].access);
    free(d->extents[i].type);
    free(d->extents[i].file);
  }
  free(d->extents);
  vr_vmx_free(&d->fields);
  memset(d, 0, sizeof *d);
}

int vr_vmdk_version(const vr_vmdk *d) {
  const char *v = vr_vmx_get(&d->fields, "version");
  char *end;
  long n;
  if (v == NULL) return 0;
  n = strtol(v, &end, 10);
  return *end == '\0' && end != v && n > 0 && n < 100 ? (int)n : 0;
}

int vr_vmdk_physical_rdm(const vr_vmdk *d) {
  const char *t = vr_vmx_get(&d->fields, "createType");
  if (t == NULL) return -1;
  return strcasecmp(t, "vmfsPassthroughRawDeviceMap") == 0 || strcasecmp(t, "vmfsRDMP") == 0;
}

int vr_vmdk_rdm(const vr_vmdk *d) {
  const char *t = vr_vmx_get(&d->fields, "createType");
  if (t == NULL) return 0;
  return vr_vmdk_physical_rdm(d) == 1 || strcasecmp(t, "vmfsRawDeviceMap") == 0 ||
         strcasecmp(t, "vmfsRDM") == 0;
}
