/* vmx.c: the VMware key/value text format (see vmx.h). Lines are read one by one; whatever a line
 * holds, the parse goes on and the line becomes an issue when it is not a clean `key = "value"`.
 * It may not read files, call Lua or keep pointers into the caller's text. */
#include "vmx.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "strmap.h"

static int add_issue(vr_vmx *v, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records an issue; -1 when out of memory. */
static int add_issue(vr_vmx *v, int line, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  if (v->issue_count == v->issue_cap) {
    size_t cap = v->issue_cap ? v->issue_cap * 2 : 8;
    vr_vmx_issue *grown = realloc(v->issues, cap * sizeof *grown);
    if (grown == NULL) return -1;
    v->issues = grown;
    v->issue_cap = cap;
  }
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if ((v->issues[v->issue_count].message = strdup(buf)) == NULL) return -1;
  v->issues[v->issue_count++].line = line;
  return 0;
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* The value's bytes with |XX escapes decoded (malloc'd); *bad_escape set when a '|' is not
 * followed by two hex digits or encodes a NUL (both kept as written). */
static char *unescape(const char *s, size_t n, int *bad_escape) {
  char *out = malloc(n + 1), *o = out;
  size_t i;
  if (out == NULL) return NULL;
  for (i = 0; i < n; i++) {
    if (s[i] == '|') {
      int hi = i + 1 < n ? hex_digit(s[i + 1]) : -1, lo = i + 2 < n ? hex_digit(s[i + 2]) : -1;
      if (hi >= 0 && lo >= 0 && (hi | lo) != 0) {
        *o++ = (char)(hi * 16 + lo);
        i += 2;
        continue;
      }
      *bad_escape = 1;
    }
    *o++ = s[i];
  }
  *o = '\0';
  return out;
}

static int add_entry(vr_vmx *v, vr_vmx_entry *e) {
  if (v->count == v->cap) {
    size_t cap = v->cap ? v->cap * 2 : 64;
    vr_vmx_entry *grown = realloc(v->entries, cap * sizeof *grown);
    if (grown == NULL) return -1;
    v->entries = grown;
    v->cap = cap;
  }
  v->entries[v->count] = *e;
  if (vr_strmap_put(v->index, e->lower, (void *)(v->count + 1)) != 0) return -1;
  v->count++;
  return 0;
}

static void free_entry(vr_vmx_entry *e) {
  free(e->key);
  free(e->lower);
  free(e->value);
}

/* One line (without its end of line): an entry, an issue, or nothing (blank, comment). */
static int parse_line(vr_vmx *v, const char *p, const char *end, int line, int flags) {
  const char *key, *key_end, *val, *val_end;
  vr_vmx_entry e;
  int bad_escape = 0;
  uintptr_t first;
  while (p < end && (*p == ' ' || *p == '\t')) p++;
  if (p == end || *p == '#') return 0;
  key = p;
  while (p < end && *p != ' ' && *p != '\t' && *p != '=') p++;
  key_end = p;
  while (p < end && (*p == ' ' || *p == '\t')) p++;
  if (key == key_end) return add_issue(v, line, "a line without a key before '='");
  if (p == end || *p != '=') {
    return add_issue(v, line, "'%.*s' is not followed by '=': the line is ignored",
                     (int)(key_end - key > 80 ? 80 : key_end - key), key);
  }
  p++;
  while (p < end && (*p == ' ' || *p == '\t')) p++;
  val_end = end;
  while (val_end > p && (val_end[-1] == ' ' || val_end[-1] == '\t')) val_end--;
  memset(&e, 0, sizeof e);
  e.line = line;
  e.quoted = p < val_end && *p == '"';
  if (e.quoted) {
    val = p + 1;
    if (val_end > val && val_end[-1] == '"') {
      val_end--;
    } else if (add_issue(v, line, "the value of '%.*s' has no closing quote",
                         (int)(key_end - key > 80 ? 80 : key_end - key), key) != 0) {
      return -1;
    }
  } else {
    val = p;
    if (!(flags & VR_VMX_UNQUOTED) &&
        add_issue(v, line, "the value of '%.*s' is not quoted",
                  (int)(key_end - key > 80 ? 80 : key_end - key), key) != 0)
      return -1;
  }
  e.key = strndup(key, (size_t)(key_end - key));
  e.lower = strndup(key, (size_t)(key_end - key));
  e.value = unescape(val, (size_t)(val_end - val), &bad_escape);
  if (e.key == NULL || e.lower == NULL || e.value == NULL) {
    free_entry(&e);
    return -1;
  }
  {
    char *c;
    for (c = e.lower; *c; c++) *c = (char)tolower((unsigned char)*c);
  }
  if (bad_escape && add_issue(v, line,
                              "the value of '%s' has a '|' that is not an escape (|XX, two hex "
                              "digits, not |00); it is kept as written",
                              e.key) != 0) {
    free_entry(&e);
    return -1;
  }
  first = (uintptr_t)vr_strmap_get(v->index, e.lower);
  if (first != 0) {
    int rc = add_issue(v, line, "duplicate key '%s' (first at line %d): the first value is used",
                       e.key, v->entries[first - 1].line);
    free_entry(&e);
    return rc;
  }
  if (add_entry(v, &e) != 0) {
    free_entry(&e);
    return -1;
  }
  return 0;
}

/* A name that is both a key and the namespace of other keys ("scsi0:0" and "scsi0:0.present"):
 * one issue per such key. */
static int check_namespaces(vr_vmx *v) {
  size_t i;
  vr_strmap reported;
  int rc = 0;
  vr_strmap_init(&reported);
  for (i = 0; i < v->count && rc == 0; i++) {
    char *dot;
    if (strlen(v->entries[i].lower) > 256) continue; /* no real key is this long: not quadratic */
    for (dot = strchr(v->entries[i].lower, '.'); dot != NULL && rc == 0;
         dot = strchr(dot + 1, '.')) {
      uintptr_t at;
      *dot = '\0';
      at = (uintptr_t)vr_strmap_get(v->index, v->entries[i].lower);
      if (at != 0 && vr_strmap_get(&reported, v->entries[i].lower) == NULL) {
        rc = vr_strmap_put(&reported, v->entries[i].lower, (void *)1);
        if (rc == 0) {
          rc = add_issue(v, v->entries[i].line,
                         "'%s' is both a key (line %d) and the namespace of '%s'",
                         v->entries[at - 1].key, v->entries[at - 1].line, v->entries[i].key);
        }
      }
      *dot = '.';
    }
  }
  vr_strmap_clear(&reported);
  return rc;
}

static int compare_issues(const void *a, const void *b) {
  const vr_vmx_issue *x = a, *y = b;
  if (x->line != y->line) return x->line < y->line ? -1 : 1;
  return x < y ? -1 : x > y; /* qsort is not stable: keep the order of equal lines */
}

static int starts_with(const char *text, size_t len, const char *prefix) {
  size_t n = strlen(prefix);
  return len >= n && memcmp(text, prefix, n) == 0;
}

int vr_vmx_parse(const char *text, size_t len, vr_vmx *out, char *err, size_t errlen) {
  return vr_vmx_parse_flags(text, len, 0, out, err, errlen);
}

int vr_vmx_parse_flags(const char *text, size_t len, int flags, vr_vmx *out, char *err,
                       size_t errlen) {
  const char *p = text, *end = text + len, *nul = memchr(text, '\0', len);
  int line = 1;
  memset(out, 0, sizeof *out);
  if ((out->index = calloc(1, sizeof(vr_strmap))) == NULL) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  vr_strmap_init(out->index);
  if (starts_with(text, len, "VMDK") || starts_with(text, len, "KDMV")) {
    snprintf(err, errlen, "line 1: a VMDK disk image, not a key/value file such as a .vmx");
    return -1;
  }
  if (!(flags & VR_VMX_DESCRIPTOR) && starts_with(text, len, "# Disk DescriptorFile")) {
    snprintf(err, errlen, "line 1: a VMDK disk descriptor, not a key/value file such as a .vmx");
    return -1;
  }
  if (nul != NULL) {
    const char *q;
    for (q = text; q < nul; q++) line += *q == '\n';
    snprintf(err, errlen, "line %d: binary data (a NUL byte), not a text file", line);
    return -1;
  }
  if (starts_with(text, len, "\xEF\xBB\xBF")) p += 3; /* a UTF-8 byte order mark */
  while (p < end) {
    const char *eol = p, *stop;
    while (eol < end && *eol != '\n' && !(*eol == '\r' && (eol + 1 == end || eol[1] != '\n')))
      eol++; /* LF, CRLF, or a CR alone (old Mac files) ends a line */
    stop = eol;
    if (stop > p && stop[-1] == '\r') stop--;
    if (parse_line(out, p, stop, line, flags) != 0) {
      snprintf(err, errlen, "out of memory");
      return -1;
    }
    if (eol == end) break;
    p = eol + 1;
    line++;
  }
  if (check_namespaces(out) != 0) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  if (out->issue_count > 1)
    qsort(out->issues, out->issue_count, sizeof *out->issues, compare_issues);
  return 0;
}

void vr_vmx_free(vr_vmx *v) {
  size_t i;
  for (i = 0; i < v->count; i++) free_entry(&v->entries[i]);
  for (i = 0; i < v->issue_count; i++) free(v->issues[i].message);
  free(v->entries);
  free(v->issues);
  if (v->index != NULL) vr_strmap_clear(v->index);
  free(v->index);
  memset(v, 0, sizeof *v);
}

const vr_vmx_entry *vr_vmx_find(const vr_vmx *v, const char *key) {
  char lower[256];
  size_t i, n = strlen(key);
  uintptr_t at;
  if (n >= sizeof lower || v->index == NULL) return NULL;
  for (i = 0; i <= n; i++) lower[i] = (char)tolower((unsigned char)key[i]);
  at = (uintptr_t)vr_strmap_get(v->index, lower);
  return at ? &v->entries[at - 1] : NULL;
}

const char *vr_vmx_get(const vr_vmx *v, const char *key) {
  const vr_vmx_entry *e = vr_vmx_find(v, key);
  return e ? e->value : NULL;
}

int vr_vmx_bool(const vr_vmx *v, const char *key) {
  static const char *const yes[] = {"true", "t", "1", "yes"}, *const no[] = {"false", "f", "0",
                                                                             "no"};
  const char *value = vr_vmx_get(v, key);
  size_t i;
  if (value == NULL) return -1;
  for (i = 0; i < 4; i++) {
    if (strcasecmp(value, yes[i]) == 0) return 1;
    if (strcasecmp(value, no[i]) == 0) return 0;
  }
  return -1;
}

int vr_vmx_present(const vr_vmx *v, const char *ns) {
  char name[160];
  size_t n = strlen(ns);
  if (n + sizeof ".present" > sizeof name) return 0;
  snprintf(name, sizeof name, "%s.present", ns);
  if (vr_vmx_bool(v, name) != 1) return 0;
  for (;;) { /* the enclosing namespaces: "a.b" in "a.b.c", the controller "scsi0" of "scsi0:1" */
    char *cut = strrchr(name, '.');
    *cut = '\0';
    cut = strrchr(name, '.');
    if (cut == NULL) cut = strrchr(name, ':');
    if (cut == NULL) return 1;
    strcpy(cut, ".present");
    if (vr_vmx_bool(v, name) == 0) return 0;
  }
}

/* "scsi0:1.fileName" -> bus "scsi", controller 0, unit 1, node length; 0 when not a bus device. */
static int device_key(const char *lower, const char **bus, int *controller, int *unit,
                      size_t *node_len) {
  static const char *const buses[] = {"scsi", "sata", "ide", "nvme"};
  size_t i;
  for (i = 0; i < 4; i++) {
    size_t b = strlen(buses[i]);
    const char *p = lower + b;
    char *stop;
    long c, u;
    if (strncmp(lower, buses[i], b) != 0 || !isdigit((unsigned char)*p)) continue;
    c = strtol(p, &stop, 10);
    if (*stop != ':' || !isdigit((unsigned char)stop[1])) return 0;
    u = strtol(stop + 1, &stop, 10);
    if (*stop != '.' || c > 99 || u > 99) return 0;
    *bus = buses[i];
    *controller = (int)c;
    *unit = (int)u;
    *node_len = (size_t)(stop - lower);
    return 1;
  }
  return 0;
}

static int compare_disks(const void *a, const void *b) {
  const vr_vmx_disk *x = a, *y = b;
  int c = strcmp(x->bus, y->bus);
  if (c != 0) return c;
  if (x->controller != y->controller) return x->controller < y->controller ? -1 : 1;
  return (x->unit > y->unit) - (x->unit < y->unit);
}

static int ends_with_ci(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/* Whether a device is a hard disk: by its deviceType, or, without one, by a .vmdk file (SCSI and
 * NVMe disks often name no type; virt-v2v takes an untyped SCSI device for a disk). */
static int device_is_disk(const vr_vmx_disk *d) {
  static const char *const disk_types[] = {"scsi-harddisk", "disk",         "plaindisk",
                                           "rawdisk",       "ata-harddisk", "sata-harddisk"};
  size_t i;
  if (d->device_type != NULL) {
    for (i = 0; i < sizeof disk_types / sizeof disk_types[0]; i++) {
      if (strcasecmp(d->device_type, disk_types[i]) == 0) return 1;
    }
    return 0;
  }
  if (strcmp(d->bus, "scsi") == 0 || strcmp(d->bus, "nvme") == 0) return 1;
  return d->file != NULL && ends_with_ci(d->file, ".vmdk");
}

size_t vr_vmx_disks(const vr_vmx *v, vr_vmx_disk **out) {
  vr_strmap nodes;
  vr_vmx_disk *disks = NULL;
  size_t n = 0, cap = 0, i;
  *out = NULL;
  vr_strmap_init(&nodes);
  for (i = 0; i < v->count; i++) {
    const char *bus;
    int controller, unit;
    size_t node_len;
    uintptr_t at;
    vr_vmx_disk *d;
    char node[32], key[64];
    if (!device_key(v->entries[i].lower, &bus, &controller, &unit, &node_len)) continue;
    snprintf(node, sizeof node, "%s%d:%d", bus, controller, unit);
    at = (uintptr_t)vr_strmap_get(&nodes, node);
    if (at != 0) {
      if (v->entries[i].line < disks[at - 1].line) disks[at - 1].line = v->entries[i].line;
      continue;
    }
    if (n == cap) {
      vr_vmx_disk *grown;
      cap = cap ? cap * 2 : 8;
      if ((grown = realloc(disks, cap * sizeof *grown)) == NULL) goto oom;
      disks = grown;
    }
    if (vr_strmap_put(&nodes, node, (void *)(n + 1)) != 0) goto oom;
    d = &disks[n++];
    memset(d, 0, sizeof *d);
    snprintf(d->node, sizeof d->node, "%s", node);
    d->bus = bus;
    d->controller = controller;
    d->unit = unit;
    d->line = v->entries[i].line;
    d->present = vr_vmx_present(v, node);
    snprintf(key, sizeof key, "%s.deviceType", node);
    d->device_type = vr_vmx_get(v, key);
    snprintf(key, sizeof key, "%s.fileName", node);
    d->file = vr_vmx_get(v, key);
    snprintf(key, sizeof key, "%s.mode", node);
    d->mode = vr_vmx_get(v, key) ? vr_vmx_get(v, key) : "persistent";
    d->independent = strncasecmp(d->mode, "independent", 11) == 0;
    snprintf(key, sizeof key, "%s.ctkEnabled", node);
    d->ctk_enabled = vr_vmx_bool(v, key);
    d->is_disk = device_is_disk(d);
  }
  vr_strmap_clear(&nodes);
  if (n > 0) qsort(disks, n, sizeof *disks, compare_disks);
  *out = disks;
  return n;
oom:
  vr_strmap_clear(&nodes);
  free(disks);
  return (size_t)-1;
}
