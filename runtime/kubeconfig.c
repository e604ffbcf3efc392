/* kubeconfig.c: kubeconfig files read as kubectl (client-go's clientcmd) reads them, and the
 * in-cluster service-account configuration (see kubeconfig.h, docs/kubeconfig.md). The YAML is
 * read with libyaml's document API so that every error names the file and line of its node.
 *
 * Scalars resolve as kubectl's YAML 1.1 reader (go-yaml v2) resolves them: a plain 123, true, yes
 * or ~ is a number, a boolean or null, and a field that wants a string refuses it (kubectl does
 * too). Unknown keys are ignored; a known key given twice in one mapping is an error. Merge keys
 * (<<) are followed.
 *
 * It may not touch the network, run the exec plugin, call Lua, read token, certificate or key
 * files (it only checks that they can be opened), or put a secret value (token, password, key or
 * certificate data, exec arguments and environment, proxy or server URL) into a message. Every
 * copy of a secret it makes is wiped before it is freed; libyaml's scanner frees some temporary
 * buffers itself, without wiping them, which this file cannot reach. */
#include "kubeconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "secret.h"
#include "strmap.h"

#define KC_MAX_FILE        (16u << 20) /* a kubeconfig larger than this is refused */
#define KC_MAX_SMALL_FILE  4096        /* the service account's namespace file */
#define KC_MAX_MERGE_DEPTH 8           /* nested merge keys (<<) */
#define KC_MAX_MERGES      10000       /* merged mappings per file: aliases can multiply them */
#define KC_SA_DIR          "/var/run/secrets/kubernetes.io/serviceaccount"
#define KC_EXEC_V1         "client.authentication.k8s.io/v1"
#define KC_EXEC_V1BETA1    "client.authentication.k8s.io/v1beta1"

/* ---- errors and secrets ------------------------------------------------------------------- */

long vr_kubeconfig_test_fail_alloc = 0;

/* The test hook: the allocation that brings the count to 0 fails. */
static int alloc_fails(void) {
  return vr_kubeconfig_test_fail_alloc > 0 && --vr_kubeconfig_test_fail_alloc == 0;
}

static void *kc_malloc(size_t n) {
  return alloc_fails() ? NULL : malloc(n);
}

static void *kc_calloc(size_t count, size_t size) {
  return alloc_fails() ? NULL : calloc(count, size);
}

static void *kc_realloc(void *p, size_t n) {
  return alloc_fails() ? NULL : realloc(p, n);
}

static int kc_fail(vr_kubeconfig_error *err, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Fills err; returns -1 so that callers can `return kc_fail(...)`. */
static int kc_fail(vr_kubeconfig_error *err, const char *file, int line, const char *fmt, ...) {
  va_list ap;
  snprintf(err->file, sizeof err->file, "%s", file != NULL ? file : "");
  err->line = line;
  va_start(ap, fmt);
  vsnprintf(err->message, sizeof err->message, fmt, ap);
  va_end(ap);
  return -1;
}

static int kc_oom(vr_kubeconfig_error *err) {
  return kc_fail(err, NULL, 0, "out of memory");
}

static char *dup_n(const char *s, size_t n) {
  char *d = kc_malloc(n + 1);
  if (d == NULL) return NULL;
  memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

static char *dup_s(const char *s) {
  return dup_n(s, strlen(s));
}

/* ---- paths (client-go resolves relative paths against the file's folder) ------------------ */

/* Go's filepath.Clean for an absolute path: no empty, "." or ".." segments, no trailing '/'. */
static char *clean_abs(const char *path) {
  size_t n = strlen(path), o = 0;
  char *out = kc_malloc(n + 2);
  const char *p = path;
  if (out == NULL) return NULL;
  while (*p != '\0') {
    const char *seg;
    size_t len;
    while (*p == '/') p++;
    seg = p;
    while (*p != '\0' && *p != '/') p++;
    len = (size_t)(p - seg);
    if (len == 0 || (len == 1 && seg[0] == '.')) continue;
    if (len == 2 && seg[0] == '.' && seg[1] == '.') {
      while (o > 0 && out[o - 1] != '/') o--;
      if (o > 0) o--; /* the '/' before the dropped segment */
      continue;
    }
    out[o++] = '/';
    memcpy(out + o, seg, len);
    o += len;
  }
  if (o == 0) out[o++] = '/';
  out[o] = '\0';
  return out;
}

static char *join_clean(const char *dir, const char *rel) {
  size_t a = strlen(dir), b = strlen(rel);
  char *joined = kc_malloc(a + b + 2), *out;
  if (joined == NULL) return NULL;
  memcpy(joined, dir, a);
  joined[a] = '/';
  memcpy(joined + a + 1, rel, b + 1);
  out = clean_abs(joined);
  free(joined);
  return out;
}

static char *current_dir(void) {
  size_t cap = 256;
  for (;;) {
    char *buf = kc_malloc(cap);
    if (buf == NULL) return NULL;
    if (getcwd(buf, cap) != NULL) return buf;
    free(buf);
    if (errno != ERANGE || cap > (1u << 20)) return NULL;
    cap *= 2;
  }
}

/* The absolute, clean folder of file (client-go: filepath.Abs(filepath.Dir(file))). */
static char *folder_of(const char *file) {
  char *abs, *slash;
  if (file[0] == '/') {
    abs = clean_abs(file);
  } else {
    char *cwd = current_dir();
    if (cwd == NULL) return NULL;
    abs = join_clean(cwd, file);
    free(cwd);
  }
  if (abs == NULL) return NULL;
  slash = strrchr(abs, '/');
  if (slash == abs)
    abs[1] = '\0';
  else if (slash != NULL)
    *slash = '\0';
  return abs;
}

/* A path from a kubeconfig: absolute ones as written, relative ones joined to dir. */
static char *resolve_path(const char *dir, const char *path) {
  return path[0] == '/' ? dup_s(path) : join_clean(dir, path);
}

/* 0 when path opens for reading and is not a folder; else an errno value. */
static int check_readable(const char *path) {
  struct stat st;
  int fd = open(path, O_RDONLY | O_CLOEXEC), e = 0;
  if (fd < 0) return errno;
  if (fstat(fd, &st) != 0)
    e = errno;
  else if (S_ISDIR(st.st_mode))
    e = EISDIR;
  close(fd);
  return e;
}

/* Reads a whole file (at most max bytes) into a NUL-terminated buffer that the caller wipes and
 * frees. Returns 0, or an errno value. A buffer that must grow is wiped before it is freed. */
static int read_whole(const char *path, size_t max, char **data, size_t *len) {
  struct stat st;
  size_t cap, n = 0;
  char *buf;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  *data = NULL;
  *len = 0;
  if (fd < 0) return errno;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return e;
  }
  if (S_ISDIR(st.st_mode)) {
    close(fd);
    return EISDIR;
  }
  cap = st.st_size > 0 && (uintmax_t)st.st_size < max ? (size_t)st.st_size + 1 : 4096;
  if ((buf = kc_malloc(cap + 1)) == NULL) {
    close(fd);
    return ENOMEM;
  }
  for (;;) {
    ssize_t got;
    if (n == cap) {
      char *grown;
      if (cap >= max) {
        vr_secret_free_n(buf, cap + 1);
        close(fd);
        return EFBIG;
      }
      cap = cap * 2 > max ? max : cap * 2;
      if ((grown = kc_malloc(cap + 1)) == NULL) {
        vr_secret_free_n(buf, n + 1);
        close(fd);
        return ENOMEM;
      }
      memcpy(grown, buf, n);
      vr_secret_free_n(buf, n);
      buf = grown;
    }
    got = read(fd, buf + n, cap - n);
    if (got < 0) {
      int e = errno;
      if (e == EINTR) continue;
      vr_secret_free_n(buf, cap + 1);
      close(fd);
      return e;
    }
    if (got == 0) break;
    n += (size_t)got;
  }
  close(fd);
  buf[n] = '\0';
  *data = buf;
  *len = n;
  return 0;
}

/* ---- YAML nodes ---------------------------------------------------------------------------- */

typedef struct kc_file {
  char *path; /* as listed, for messages */
  char *dir;  /* absolute folder, for relative paths */
  yaml_document_t doc;
  int has_doc;
  size_t merges; /* mappings merged through merge keys (<<) so far in this file */
} kc_file;

enum { K_NULL, K_BOOL, K_NUMBER, K_STRING, K_MAP, K_SEQ };

static const char *kind_name(int kind) {
  static const char *const names[] = {"null",     "a boolean", "a number",
                                      "a string", "a mapping", "a list"};
  return names[kind];
}

static yaml_node_t *nd(kc_file *f, int index) {
  return yaml_document_get_node(&f->doc, index);
}

static int ln(const yaml_node_t *n) {
  return n != NULL ? (int)n->start_mark.line + 1 : 0;
}

static int is_digit(char c) {
  return c >= '0' && c <= '9';
}

/* go-yaml v2's number resolution for a plain scalar s (n bytes): after dropping '_', a signed
 * 0x/0o/0b integer or [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?; .inf and .nan. */
static int plain_is_number(const char *s, size_t n) {
  static const char *const special[] = {".inf",  ".Inf",  ".INF",  "+.inf", "+.Inf", "+.INF",
                                        "-.inf", "-.Inf", "-.INF", ".nan",  ".NaN",  ".NAN"};
  char t[80];
  size_t m = 0, i = 0, k;
  int digits = 0;
  if (n == 0 || !(is_digit(s[0]) || s[0] == '+' || s[0] == '-' || s[0] == '.')) return 0;
  for (k = 0; k < sizeof special / sizeof special[0]; k++)
    if (strlen(special[k]) == n && memcmp(special[k], s, n) == 0) return 1;
  /* a very long run of digits is a number too; only its shape matters here */
  for (k = 0; k < n; k++) {
    if (s[k] == '_' && s[0] != '.') continue;
    if (m + 1 >= sizeof t) {
      for (; k < n; k++)
        if (!is_digit(s[k]) && s[k] != '_') return 0;
      break;
    }
    t[m++] = s[k];
  }
  t[m] = '\0';
  if (t[i] == '+' || t[i] == '-') i++;
  if (t[i] == '0' && t[i + 1] != '\0' && strchr("xXoObB", t[i + 1]) != NULL) {
    const char *set = (t[i + 1] == 'x' || t[i + 1] == 'X')   ? "0123456789abcdefABCDEF"
                      : (t[i + 1] == 'o' || t[i + 1] == 'O') ? "01234567"
                                                             : "01";
    i += 2;
    if (t[i] == '\0') return 0;
    for (; t[i] != '\0'; i++)
      if (strchr(set, t[i]) == NULL) return 0;
    return 1;
  }
  while (is_digit(t[i])) i++, digits++;
  if (t[i] == '.') {
    i++;
    if (digits == 0 && !is_digit(t[i])) return 0;
    while (is_digit(t[i])) i++, digits++;
  }
  if (digits == 0) return 0;
  if (t[i] == 'e' || t[i] == 'E') {
    i++;
    if (t[i] == '+' || t[i] == '-') i++;
    if (!is_digit(t[i])) return 0;
    while (is_digit(t[i])) i++;
  }
  return t[i] == '\0';
}

static int in_list(const char *s, size_t n, const char *const *list) {
  for (; *list != NULL; list++)
    if (strlen(*list) == n && memcmp(*list, s, n) == 0) return 1;
  return 0;
}

/* The node's kind as kubectl sees it; *truth gets a boolean's value. */
static int node_kind(const yaml_node_t *v, int *truth) {
  static const char *const nulls[] = {"~", "null", "Null", "NULL", NULL};
  static const char *const yes[] = {"y",    "Y",    "yes", "Yes", "YES", "true",
                                    "True", "TRUE", "on",  "On",  "ON",  NULL};
  static const char *const no[] = {"n",     "N",     "no",  "No",  "NO",  "false",
                                   "False", "FALSE", "off", "Off", "OFF", NULL};
  const char *s;
  size_t n;
  *truth = 0;
  if (v->type == YAML_MAPPING_NODE) return K_MAP;
  if (v->type == YAML_SEQUENCE_NODE) return K_SEQ;
  s = (const char *)v->data.scalar.value;
  n = v->data.scalar.length;
  if (v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return K_STRING;
  if (n == 0 || in_list(s, n, nulls)) return K_NULL;
  if (in_list(s, n, yes)) {
    *truth = 1;
    return K_BOOL;
  }
  if (in_list(s, n, no)) return K_BOOL;
  if (plain_is_number(s, n)) return K_NUMBER;
  return K_STRING;
}

static int is_null(const yaml_node_t *v) {
  int truth;
  return v == NULL || node_kind(v, &truth) == K_NULL;
}

static int is_merge_key(const yaml_node_t *k) {
  return k != NULL && k->type == YAML_SCALAR_NODE &&
         k->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && k->data.scalar.length == 2 &&
         memcmp(k->data.scalar.value, "<<", 2) == 0;
}

static int key_index(const yaml_node_t *k, const char *const *keys, size_t n) {
  size_t i;
  if (k == NULL || k->type != YAML_SCALAR_NODE) return -1;
  for (i = 0; i < n; i++)
    if (strlen(keys[i]) == k->data.scalar.length &&
        memcmp(keys[i], k->data.scalar.value, k->data.scalar.length) == 0)
      return (int)i;
  return -1;
}

static int merge_fields(kc_file *f, yaml_node_t *map, const char *const *keys, size_t n,
                        yaml_node_t **vals, int depth, const char *what, vr_kubeconfig_error *err);

/* A merge key's value: a mapping, or a list of mappings (earlier ones win). */
static int merge_value(kc_file *f, yaml_node_t *v, const char *const *keys, size_t n,
                       yaml_node_t **vals, int depth, const char *what, vr_kubeconfig_error *err) {
  yaml_node_item_t *it;
  if (v != NULL && v->type == YAML_MAPPING_NODE)
    return merge_fields(f, v, keys, n, vals, depth, what, err);
  if (v != NULL && v->type == YAML_SEQUENCE_NODE) {
    for (it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
      yaml_node_t *m = nd(f, *it);
      if (m == NULL || m->type != YAML_MAPPING_NODE)
        return kc_fail(err, f->path, ln(m != NULL ? m : v), "%sa merge key (<<) must name mappings",
                       what);
      if (merge_fields(f, m, keys, n, vals, depth, what, err) < 0) return -1;
    }
    return 0;
  }
  return kc_fail(err, f->path, ln(v), "%sa merge key (<<) must name a mapping", what);
}

/* Fills the unset vals from a merged mapping: its own keys, then its merges. */
static int merge_fields(kc_file *f, yaml_node_t *map, const char *const *keys, size_t n,
                        yaml_node_t **vals, int depth, const char *what, vr_kubeconfig_error *err) {
  yaml_node_pair_t *p;
  if (depth > KC_MAX_MERGE_DEPTH)
    return kc_fail(err, f->path, ln(map), "%smerge keys (<<) nest too deep", what);
  if (++f->merges > KC_MAX_MERGES) /* a few lines of aliases can ask for billions (kubectl: */
    return kc_fail(err, f->path, ln(map), /* "document contains excessive aliasing") */
                   "%smerge keys (<<) expand too much (more than %d merged mappings)", what,
                   KC_MAX_MERGES);
  for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
    yaml_node_t *k = nd(f, p->key);
    int i;
    if (is_merge_key(k)) continue;
    i = key_index(k, keys, n);
    if (i >= 0 && vals[i] == NULL) vals[i] = nd(f, p->value);
  }
  for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++)
    if (is_merge_key(nd(f, p->key)) &&
        merge_value(f, nd(f, p->value), keys, n, vals, depth + 1, what, err) < 0)
      return -1;
  return 0;
}

/* The values of the known keys of mapping map (NULL when absent). Keys written in the mapping
 * win over merged ones; a known key written twice is an error; other keys are ignored. */
static int collect_fields(kc_file *f, yaml_node_t *map, const char *const *keys, size_t n,
                          yaml_node_t **vals, const char *what, vr_kubeconfig_error *err) {
  yaml_node_pair_t *p;
  size_t i;
  for (i = 0; i < n; i++) vals[i] = NULL;
  for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
    yaml_node_t *k = nd(f, p->key);
    int j;
    if (is_merge_key(k)) continue;
    j = key_index(k, keys, n);
    if (j < 0) continue;
    if (vals[j] != NULL) return kc_fail(err, f->path, ln(k), "%s%s is given twice", what, keys[j]);
    vals[j] = nd(f, p->value);
  }
  for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++)
    if (is_merge_key(nd(f, p->key)) &&
        merge_value(f, nd(f, p->value), keys, n, vals, 1, what, err) < 0)
      return -1;
  return 0;
}

/* A string field: *out is NULL when the field is absent, null or empty (as in client-go, where
 * an empty string is the same as no value). Numbers and booleans are refused as kubectl does. */
static int get_string(kc_file *f, const yaml_node_t *v, const char *what, const char *key,
                      const char **out, vr_kubeconfig_error *err) {
  int truth, kind;
  *out = NULL;
  if (v == NULL) return 0;
  kind = node_kind(v, &truth);
  if (kind == K_NULL) return 0;
  if (kind != K_STRING)
    return kc_fail(err, f->path, ln(v), "%s%s must be a string, not %s%s", what, key,
                   kind_name(kind), kind == K_NUMBER || kind == K_BOOL ? " (quote it)" : "");
  if (strlen((const char *)v->data.scalar.value) != v->data.scalar.length)
    return kc_fail(err, f->path, ln(v), "%s%s holds a NUL character", what, key);
  if (v->data.scalar.length > 0) *out = (const char *)v->data.scalar.value;
  return 0;
}

static int get_bool(kc_file *f, const yaml_node_t *v, const char *what, const char *key, int *out,
                    vr_kubeconfig_error *err) {
  int truth, kind;
  *out = 0;
  if (v == NULL) return 0;
  kind = node_kind(v, &truth);
  if (kind == K_NULL) return 0;
  if (kind != K_BOOL)
    return kc_fail(err, f->path, ln(v), "%s%s must be true or false, not %s", what, key,
                   kind_name(kind));
  *out = truth;
  return 0;
}

/* A list field: NULL when absent or null. */
static int get_list(kc_file *f, yaml_node_t *v, const char *what, const char *key,
                    yaml_node_t **out, vr_kubeconfig_error *err) {
  int truth, kind;
  *out = NULL;
  if (v == NULL) return 0;
  kind = node_kind(v, &truth);
  if (kind == K_NULL) return 0;
  if (kind != K_SEQ)
    return kc_fail(err, f->path, ln(v), "%s%s must be a list, not %s", what, key, kind_name(kind));
  *out = v;
  return 0;
}

/* Whether a field is set to something (for the refused fields: any non-empty value). */
static int is_set(const yaml_node_t *v) {
  if (v == NULL || is_null(v)) return 0;
  if (v->type == YAML_SCALAR_NODE) return v->data.scalar.length > 0;
  if (v->type == YAML_SEQUENCE_NODE)
    return v->data.sequence.items.top > v->data.sequence.items.start;
  return v->data.mapping.pairs.top > v->data.mapping.pairs.start;
}

/* ---- base64 (the *-data fields) ------------------------------------------------------------ */

static int b64_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

/* Standard base64 as Go's encoding/json decodes []byte: '\r' and '\n' are skipped, padding is
 * required, anything else outside the alphabet is an error. Returns 0 (*out NUL-terminated, or
 * NULL when empty), -1 with *bad the offending byte's offset (n when the data ends early), -2
 * when out of memory. */
static int b64_decode(const char *s, size_t n, unsigned char **out, size_t *out_len, size_t *bad) {
  unsigned char *buf = kc_malloc(n / 4 * 3 + 4);
  uint32_t acc = 0;
  size_t i, o = 0;
  int q = 0, pad = 0, done = 0;
  *out = NULL;
  *out_len = 0;
  if (buf == NULL) return -2;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    int v;
    if (c == '\r' || c == '\n') continue;
    if (done) goto bad;
    if (c == '=') {
      if (q < 2) goto bad;
      pad++;
      if (++q == 4) {
        if (pad == 1) {
          buf[o++] = (unsigned char)(acc >> 10);
          buf[o++] = (unsigned char)(acc >> 2);
        } else {
          buf[o++] = (unsigned char)(acc >> 4);
        }
        done = 1;
      }
      continue;
    }
    if (pad > 0 || (v = b64_value(c)) < 0) goto bad;
    acc = (acc << 6) | (uint32_t)v;
    if (++q == 4) {
      buf[o++] = (unsigned char)(acc >> 16);
      buf[o++] = (unsigned char)(acc >> 8);
      buf[o++] = (unsigned char)acc;
      acc = 0;
      q = 0;
    }
  }
  if (q != 0 && !done) {
    i = n;
    goto bad;
  }
  if (o == 0) {
    free(buf);
    return 0;
  }
  buf[o] = '\0';
  *out = buf;
  *out_len = o;
  return 0;
bad:
  vr_secret_free_n(buf, n / 4 * 3 + 4);
  *bad = i;
  return -1;
}

/* A *-data field: its decoded bytes, owned by the caller (wiped when freed). */
static int get_data(kc_file *f, const yaml_node_t *v, const char *what, const char *key,
                    unsigned char **out, size_t *out_len, vr_kubeconfig_error *err) {
  const char *s;
  size_t bad = 0;
  int rc;
  *out = NULL;
  *out_len = 0;
  if (get_string(f, v, what, key, &s, err) < 0) return -1;
  if (s == NULL) return 0;
  rc = b64_decode(s, v->data.scalar.length, out, out_len, &bad);
  if (rc == -2) return kc_oom(err);
  if (rc < 0) {
    if (bad == v->data.scalar.length)
      return kc_fail(err, f->path, ln(v),
                     "%s%s is not valid base64 (it ends in the middle of a group)", what, key);
    if (s[bad] == ' ' || s[bad] == '\t')
      return kc_fail(err, f->path, ln(v),
                     "%s%s is not valid base64 (a space or tab at byte %zu; kubectl refuses "
                     "them too: write the data on one line, or as a literal block `|`)",
                     what, key, bad);
    return kc_fail(err, f->path, ln(v), "%s%s is not valid base64 (at byte %zu)", what, key, bad);
  }
  return 0;
}

/* ---- the sections ---------------------------------------------------------------------------- */

typedef struct kc_entry {
  const char *name; /* in the document */
  kc_file *file;
  yaml_node_t *body; /* the cluster, user or context mapping; NULL when it has none */
  int line;          /* the list item's line */
} kc_entry;

typedef struct kc_section {
  kc_entry *v;
  size_t n, cap;
  vr_strmap index; /* name -> 1 + position: the first file's entry */
} kc_section;

enum { SEC_CLUSTERS, SEC_USERS, SEC_CONTEXTS };

static const char *const cluster_keys[] = {"server",
                                           "certificate-authority",
                                           "certificate-authority-data",
                                           "insecure-skip-tls-verify",
                                           "tls-server-name",
                                           "proxy-url",
                                           "disable-compression"};
enum { CL_SERVER, CL_CA, CL_CA_DATA, CL_INSECURE, CL_TLS_NAME, CL_PROXY, CL_NO_COMPRESSION, CL_N };

typedef struct kc_cluster {
  yaml_node_t *node[CL_N];
  const char *server, *ca, *tls_server_name, *proxy;
  unsigned char *ca_data;
  size_t ca_data_len;
  int insecure;
} kc_cluster;

static const char *const user_keys[] = {"token",
                                        "tokenFile",
                                        "client-certificate",
                                        "client-certificate-data",
                                        "client-key",
                                        "client-key-data",
                                        "username",
                                        "password",
                                        "exec",
                                        "as",
                                        "as-uid",
                                        "as-groups",
                                        "as-user-extra",
                                        "auth-provider"};
enum {
  US_TOKEN,
  US_TOKEN_FILE,
  US_CERT,
  US_CERT_DATA,
  US_KEY,
  US_KEY_DATA,
  US_USERNAME,
  US_PASSWORD,
  US_EXEC,
  US_AS,
  US_AS_UID,
  US_AS_GROUPS,
  US_AS_EXTRA,
  US_AUTH_PROVIDER,
  US_N
};

typedef struct kc_user {
  yaml_node_t *node[US_N];
  const char *token, *token_file, *cert, *key, *username, *password;
  unsigned char *cert_data, *key_data;
  size_t cert_data_len, key_data_len;
} kc_user;

static const char *const context_keys[] = {"cluster", "user", "namespace"};
enum { CX_CLUSTER, CX_USER, CX_NAMESPACE, CX_N };

typedef struct kc_context {
  yaml_node_t *node[CX_N];
  const char *cluster, *user, *ns;
} kc_context;

static const char *const exec_keys[] = {
    "apiVersion", "command", "args", "env", "installHint", "provideClusterInfo", "interactiveMode"};
enum { EX_API, EX_COMMAND, EX_ARGS, EX_ENV, EX_HINT, EX_CLUSTER_INFO, EX_INTERACTIVE, EX_N };

static const char *const env_keys[] = {"name", "value"};

static void cluster_clear(kc_cluster *c) {
  vr_secret_free_n(c->ca_data, c->ca_data_len + 1);
  memset(c, 0, sizeof *c);
}

static void user_clear(kc_user *u) {
  vr_secret_free_n(u->cert_data, u->cert_data_len + 1);
  vr_secret_free_n(u->key_data, u->key_data_len + 1);
  memset(u, 0, sizeof *u);
}

static void prefix(char *buf, size_t len, const char *item, const char *name) {
  snprintf(buf, len, "%s '%s': ", item, name);
}

static int read_cluster(const kc_entry *e, kc_cluster *c, vr_kubeconfig_error *err) {
  kc_file *f = e->file;
  char what[320];
  int ignored;
  memset(c, 0, sizeof *c);
  if (e->body == NULL) return 0;
  prefix(what, sizeof what, "cluster", e->name);
  if (collect_fields(f, e->body, cluster_keys, CL_N, c->node, what, err) < 0 ||
      get_string(f, c->node[CL_SERVER], what, "server", &c->server, err) < 0 ||
      get_string(f, c->node[CL_CA], what, "certificate-authority", &c->ca, err) < 0 ||
      get_data(f, c->node[CL_CA_DATA], what, "certificate-authority-data", &c->ca_data,
               &c->ca_data_len, err) < 0 ||
      get_bool(f, c->node[CL_INSECURE], what, "insecure-skip-tls-verify", &c->insecure, err) < 0 ||
      get_string(f, c->node[CL_TLS_NAME], what, "tls-server-name", &c->tls_server_name, err) < 0 ||
      get_string(f, c->node[CL_PROXY], what, "proxy-url", &c->proxy, err) < 0 ||
      get_bool(f, c->node[CL_NO_COMPRESSION], what, "disable-compression", &ignored, err) < 0) {
    cluster_clear(c);
    return -1;
  }
  return 0;
}

static int read_user(const kc_entry *e, kc_user *u, vr_kubeconfig_error *err) {
  kc_file *f = e->file;
  char what[320];
  memset(u, 0, sizeof *u);
  if (e->body == NULL) return 0;
  prefix(what, sizeof what, "user", e->name);
  if (collect_fields(f, e->body, user_keys, US_N, u->node, what, err) < 0 ||
      get_string(f, u->node[US_TOKEN], what, "token", &u->token, err) < 0 ||
      get_string(f, u->node[US_TOKEN_FILE], what, "tokenFile", &u->token_file, err) < 0 ||
      get_string(f, u->node[US_CERT], what, "client-certificate", &u->cert, err) < 0 ||
      get_data(f, u->node[US_CERT_DATA], what, "client-certificate-data", &u->cert_data,
               &u->cert_data_len, err) < 0 ||
      get_string(f, u->node[US_KEY], what, "client-key", &u->key, err) < 0 ||
      get_data(f, u->node[US_KEY_DATA], what, "client-key-data", &u->key_data, &u->key_data_len,
               err) < 0 ||
      get_string(f, u->node[US_USERNAME], what, "username", &u->username, err) < 0 ||
      get_string(f, u->node[US_PASSWORD], what, "password", &u->password, err) < 0) {
    user_clear(u);
    return -1;
  }
  return 0;
}

static int read_context(const kc_entry *e, kc_context *c, vr_kubeconfig_error *err) {
  kc_file *f = e->file;
  char what[320];
  memset(c, 0, sizeof *c);
  if (e->body == NULL) return 0;
  prefix(what, sizeof what, "context", e->name);
  if (collect_fields(f, e->body, context_keys, CX_N, c->node, what, err) < 0 ||
      get_string(f, c->node[CX_CLUSTER], what, "cluster", &c->cluster, err) < 0 ||
      get_string(f, c->node[CX_USER], what, "user", &c->user, err) < 0 ||
      get_string(f, c->node[CX_NAMESPACE], what, "namespace", &c->ns, err) < 0)
    return -1;
  return 0;
}

static void exec_free(vr_kube_exec *x) {
  char **p;
  if (x == NULL) return;
  vr_secret_free(x->api_version);
  vr_secret_free(x->command);
  if (x->args != NULL) {
    for (p = x->args; *p != NULL; p++) vr_secret_free(*p);
    free(x->args);
  }
  if (x->env != NULL) {
    for (p = x->env; *p != NULL; p++) vr_secret_free(*p);
    free(x->env);
  }
  vr_secret_free(x->install_hint);
  vr_secret_free(x->interactive_mode);
  free(x);
}

/* client-go's cleanANSIEscapeCodes: control characters other than \t \n \v \f \r (ESC first of
 * all) become "U+001B", so that an install hint cannot drive the terminal. */
static char *clean_hint(const char *s) {
  size_t n = strlen(s), i, o = 0;
  char *out = kc_malloc(n * 6 + 1);
  if (out == NULL) return NULL;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if ((c < 0x20 && !(c >= 0x09 && c <= 0x0d)) || c == 0x7f) {
      o += (size_t)snprintf(out + o, 7, "U+%04X", c);
    } else if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
               (unsigned char)s[i + 1] <= 0x9f) { /* C1 controls */
      o += (size_t)snprintf(out + o, 7, "U+%04X", (unsigned char)s[i + 1]);
      i++;
    } else {
      out[o++] = (char)c;
    }
  }
  out[o] = '\0';
  return out;
}

/* The exec plugin of a user. Every user's is type-checked; only the used user's (out != NULL)
 * is checked as client-go's validation does and built. */
static int read_exec(kc_file *f, yaml_node_t *v, const char *what, vr_kube_exec **out,
                     vr_kubeconfig_error *err) {
  yaml_node_t *x[EX_N], *args = NULL, *env = NULL;
  const char *api = NULL, *command = NULL, *hint = NULL, *mode = NULL;
  int cluster_info = 0, truth, kind;
  yaml_node_item_t *it;
  vr_kube_exec *e = NULL;
  size_t i;
  if (out != NULL) *out = NULL;
  if (v == NULL || (kind = node_kind(v, &truth)) == K_NULL) return 0;
  if (kind != K_MAP)
    return kc_fail(err, f->path, ln(v), "%sexec must be a mapping, not %s", what, kind_name(kind));
  if (collect_fields(f, v, exec_keys, EX_N, x, what, err) < 0 ||
      get_string(f, x[EX_API], what, "exec apiVersion", &api, err) < 0 ||
      get_string(f, x[EX_COMMAND], what, "exec command", &command, err) < 0 ||
      get_list(f, x[EX_ARGS], what, "exec args", &args, err) < 0 ||
      get_list(f, x[EX_ENV], what, "exec env", &env, err) < 0 ||
      get_string(f, x[EX_HINT], what, "exec installHint", &hint, err) < 0 ||
      get_bool(f, x[EX_CLUSTER_INFO], what, "exec provideClusterInfo", &cluster_info, err) < 0 ||
      get_string(f, x[EX_INTERACTIVE], what, "exec interactiveMode", &mode, err) < 0)
    return -1;
  if (args != NULL)
    for (it = args->data.sequence.items.start; it < args->data.sequence.items.top; it++) {
      const char *s;
      if (get_string(f, nd(f, *it), what, "each exec argument", &s, err) < 0) return -1;
    }
  if (env != NULL)
    for (it = env->data.sequence.items.start; it < env->data.sequence.items.top; it++) {
      yaml_node_t *item = nd(f, *it), *ev[2];
      const char *name, *value;
      if (is_null(item)) { /* an item without a name, to client-go's validation */
        if (out != NULL)
          return kc_fail(err, f->path, ln(item != NULL ? item : env),
                         "%san exec env item has no name", what);
        continue;
      }
      if (item->type != YAML_MAPPING_NODE)
        return kc_fail(err, f->path, ln(item),
                       "%seach exec env item must be a mapping (name, value)", what);
      if (collect_fields(f, item, env_keys, 2, ev, what, err) < 0 ||
          get_string(f, ev[0], what, "exec env name", &name, err) < 0 ||
          get_string(f, ev[1], what, "exec env value", &value, err) < 0)
        return -1;
      if (out != NULL && name == NULL)
        return kc_fail(err, f->path, ln(item), "%san exec env item has no name", what);
    }
  if (out == NULL) return 0;

  /* the used user: client-go's validation */
  if (command == NULL) return kc_fail(err, f->path, ln(v), "%sexec has no command", what);
  if (api == NULL)
    return kc_fail(err, f->path, ln(v), "%sexec has no apiVersion (%s or %s)", what, KC_EXEC_V1,
                   KC_EXEC_V1BETA1);
  if (strcmp(api, KC_EXEC_V1) != 0 && strcmp(api, KC_EXEC_V1BETA1) != 0)
    return kc_fail(err, f->path, ln(x[EX_API]),
                   "%sexec apiVersion '%s' is not supported (kubectl takes %s and %s only)", what,
                   api, KC_EXEC_V1, KC_EXEC_V1BETA1);
  if (mode == NULL && strcmp(api, KC_EXEC_V1BETA1) == 0) mode = "IfAvailable";
  if (mode == NULL)
    return kc_fail(err, f->path, ln(v),
                   "%sexec has no interactiveMode (Never, IfAvailable or Always), which %s "
                   "requires",
                   what, KC_EXEC_V1);
  if (strcmp(mode, "Never") != 0 && strcmp(mode, "IfAvailable") != 0 && strcmp(mode, "Always") != 0)
    return kc_fail(err, f->path, ln(x[EX_INTERACTIVE]),
                   "%sexec interactiveMode '%s' is not Never, IfAvailable or Always", what, mode);

  if ((e = kc_calloc(1, sizeof *e)) == NULL) return kc_oom(err);
  e->provide_cluster_info = cluster_info;
  if ((e->api_version = dup_s(api)) == NULL ||
      (e->command =
           strchr(command, '/') != NULL ? resolve_path(f->dir, command) : dup_s(command)) == NULL ||
      (e->interactive_mode = dup_s(mode)) == NULL ||
      (hint != NULL && (e->install_hint = clean_hint(hint)) == NULL))
    goto oom;
  i = args != NULL ? (size_t)(args->data.sequence.items.top - args->data.sequence.items.start) : 0;
  if ((e->args = kc_calloc(i + 1, sizeof *e->args)) == NULL) goto oom;
  for (i = 0; args != NULL && args->data.sequence.items.start + i < args->data.sequence.items.top;
       i++) {
    yaml_node_t *a = nd(f, args->data.sequence.items.start[i]);
    const char *s = NULL;
    if (!is_null(a)) s = (const char *)a->data.scalar.value;
    if ((e->args[i] = dup_s(s != NULL ? s : "")) == NULL) goto oom;
  }
  i = env != NULL ? (size_t)(env->data.sequence.items.top - env->data.sequence.items.start) : 0;
  if ((e->env = kc_calloc(i + 1, sizeof *e->env)) == NULL) goto oom;
  i = 0;
  for (it = env != NULL ? env->data.sequence.items.start : NULL;
       env != NULL && it < env->data.sequence.items.top; it++) {
    yaml_node_t *item = nd(f, *it), *ev[2];
    const char *name = NULL, *value = NULL;
    size_t a, b;
    if (is_null(item)) continue;
    if (collect_fields(f, item, env_keys, 2, ev, what, err) < 0 ||
        get_string(f, ev[0], what, "exec env name", &name, err) < 0 ||
        get_string(f, ev[1], what, "exec env value", &value, err) < 0) {
      exec_free(e);
      return -1;
    }
    a = strlen(name);
    b = value != NULL ? strlen(value) : 0;
    if ((e->env[i] = kc_malloc(a + b + 2)) == NULL) goto oom;
    memcpy(e->env[i], name, a);
    e->env[i][a] = '=';
    if (b > 0) memcpy(e->env[i] + a + 1, value, b);
    e->env[i][a + b + 1] = '\0';
    i++;
  }
  *out = e;
  return 0;
oom:
  exec_free(e);
  return kc_oom(err);
}

/* ---- loading the files ----------------------------------------------------------------------- */

typedef struct kc_load {
  kc_file *files;
  size_t nfiles;
  kc_section sec[3];
  const char *current; /* the first current-context */
  kc_file *current_file;
  int current_line;
  vr_kubeconfig_error *err;
} kc_load;

static void wipe_document(yaml_document_t *d) {
  yaml_node_t *n;
  for (n = d->nodes.start; n != NULL && n < d->nodes.top; n++)
    if (n->type == YAML_SCALAR_NODE) vr_secret_wipe(n->data.scalar.value, n->data.scalar.length);
}

static void wipe_parser(yaml_parser_t *p) {
  yaml_token_t *t;
  if (p->buffer.start != NULL)
    vr_secret_wipe(p->buffer.start, (size_t)(p->buffer.end - p->buffer.start));
  if (p->raw_buffer.start != NULL)
    vr_secret_wipe(p->raw_buffer.start, (size_t)(p->raw_buffer.end - p->raw_buffer.start));
  for (t = p->tokens.head; t != NULL && t < p->tokens.tail; t++)
    if (t->type == YAML_SCALAR_TOKEN) vr_secret_wipe(t->data.scalar.value, t->data.scalar.length);
}

static int line_at_offset(const char *data, size_t len, size_t offset) {
  size_t i;
  int line = 1;
  for (i = 0; i < offset && i < len; i++)
    if (data[i] == '\n') line++;
  return line;
}

static int add_entry(kc_section *s, const kc_entry *e) {
  if (vr_strmap_get(&s->index, e->name) != NULL) return 0; /* an earlier file's wins */
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 8;
    kc_entry *grown = kc_realloc(s->v, cap * sizeof *grown);
    if (grown == NULL) return -1;
    s->v = grown;
    s->cap = cap;
  }
  s->v[s->n] = *e;
  if (vr_strmap_put(&s->index, e->name, (void *)(uintptr_t)(s->n + 1)) < 0) return -1;
  s->n++;
  return 0;
}

static const kc_entry *find_entry(const kc_section *s, const char *name) {
  uintptr_t pos = (uintptr_t)vr_strmap_get(&s->index, name);
  return pos != 0 ? &s->v[pos - 1] : NULL;
}

/* One list (clusters, users or contexts) of one file: every entry type-checked, new names added. */
static int read_section(kc_load *L, kc_file *f, yaml_node_t *list, int sec) {
  static const char *const list_name[] = {"clusters", "users", "contexts"};
  static const char *const item_name[] = {"cluster", "user", "context"};
  vr_kubeconfig_error *err = L->err;
  vr_strmap seen;
  yaml_node_item_t *it;
  int rc = 0;
  size_t i = 0;
  if (list == NULL) return 0;
  vr_strmap_init(&seen);
  for (it = list->data.sequence.items.start; rc == 0 && it < list->data.sequence.items.top;
       it++, i++) {
    const char *keys[2] = {"name", item_name[sec]};
    yaml_node_t *item = nd(f, *it), *vals[2];
    char what[64];
    const char *name;
    kc_entry e;
    int truth, kind;
    void *first;
    snprintf(what, sizeof what, "item %zu of %s: ", i + 1, list_name[sec]);
    if (item == NULL || item->type != YAML_MAPPING_NODE) {
      rc = kc_fail(err, f->path, ln(item != NULL ? item : list),
                   "item %zu of %s must be a mapping (name, %s), not %s", i + 1, list_name[sec],
                   item_name[sec], item != NULL ? kind_name(node_kind(item, &truth)) : "empty");
      break;
    }
    if (collect_fields(f, item, keys, 2, vals, what, err) < 0 ||
        get_string(f, vals[0], what, "name", &name, err) < 0) {
      rc = -1;
      break;
    }
    if (name == NULL) {
      rc = kc_fail(err, f->path, ln(item), "item %zu of %s has no name", i + 1, list_name[sec]);
      break;
    }
    e.name = name;
    e.file = f;
    e.line = ln(item);
    e.body = vals[1];
    if (e.body != NULL && (kind = node_kind(e.body, &truth)) != K_MAP) {
      if (kind != K_NULL) {
        rc = kc_fail(err, f->path, ln(e.body), "%s '%s': %s must be a mapping, not %s",
                     item_name[sec], name, item_name[sec], kind_name(kind));
        break;
      }
      e.body = NULL;
    }
    if ((first = vr_strmap_get(&seen, name)) != NULL) {
      rc = kc_fail(err, f->path, e.line, "%s '%s' is defined twice in this file (first at line %d)",
                   item_name[sec], name, (int)(intptr_t)first);
      break;
    }
    if (vr_strmap_put(&seen, name, (void *)(intptr_t)e.line) < 0) {
      rc = kc_oom(err);
      break;
    }
    if (sec == SEC_CLUSTERS) {
      kc_cluster c;
      rc = read_cluster(&e, &c, err);
      if (rc == 0) cluster_clear(&c);
    } else if (sec == SEC_USERS) {
      kc_user u;
      char uwhat[320];
      rc = read_user(&e, &u, err);
      if (rc == 0) {
        prefix(uwhat, sizeof uwhat, "user", name);
        rc = read_exec(f, u.node[US_EXEC], uwhat, NULL, err);
        user_clear(&u);
      }
    } else {
      kc_context c;
      rc = read_context(&e, &c, err);
    }
    if (rc == 0 && add_entry(&L->sec[sec], &e) < 0) rc = kc_oom(err);
  }
  vr_strmap_clear(&seen);
  return rc;
}

static const char *const top_keys[] = {"apiVersion", "kind",     "clusters",
                                       "users",      "contexts", "current-context"};
enum { TOP_API, TOP_KIND, TOP_CLUSTERS, TOP_USERS, TOP_CONTEXTS, TOP_CURRENT, TOP_N };

/* Parses f's text into f->doc and reads its sections into L. */
static int read_file(kc_load *L, kc_file *f, const char *data, size_t len) {
  vr_kubeconfig_error *err = L->err;
  yaml_parser_t parser;
  yaml_node_t *root, *v[TOP_N], *lists[3];
  const char *api, *kind, *current;
  int truth, sec;
  if (!yaml_parser_initialize(&parser)) return kc_oom(err);
  yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
  if (!yaml_parser_load(&parser, &f->doc)) {
    int line = parser.error == YAML_READER_ERROR ? line_at_offset(data, len, parser.problem_offset)
                                                 : (int)parser.problem_mark.line + 1;
    if (parser.error == YAML_MEMORY_ERROR)
      kc_oom(err);
    else if (parser.context != NULL)
      kc_fail(err, f->path, line, "malformed YAML: %s (%s at line %d)",
              parser.problem != NULL ? parser.problem : "error", parser.context,
              (int)parser.context_mark.line + 1);
    else
      kc_fail(err, f->path, line, "malformed YAML: %s",
              parser.problem != NULL ? parser.problem : "error");
    wipe_parser(&parser);
    yaml_parser_delete(&parser);
    return -1;
  }
  f->has_doc = 1;
  wipe_parser(&parser);
  yaml_parser_delete(&parser);

  root = yaml_document_get_root_node(&f->doc);
  if (root == NULL || is_null(root)) return 0; /* an empty file is an empty config */
  if (root->type != YAML_MAPPING_NODE)
    return kc_fail(err, f->path, ln(root), "a kubeconfig must be a mapping, not %s",
                   kind_name(node_kind(root, &truth)));
  if (collect_fields(f, root, top_keys, TOP_N, v, "", err) < 0 ||
      get_string(f, v[TOP_API], "", "apiVersion", &api, err) < 0 ||
      get_string(f, v[TOP_KIND], "", "kind", &kind, err) < 0 ||
      get_string(f, v[TOP_CURRENT], "", "current-context", &current, err) < 0)
    return -1;
  if (kind != NULL && strcmp(kind, "Config") != 0)
    return kc_fail(err, f->path, ln(v[TOP_KIND]), "kind is '%s', not Config: not a kubeconfig",
                   kind);
  if (api != NULL && strcmp(api, "v1") != 0)
    return kc_fail(err, f->path, ln(v[TOP_API]), "apiVersion is '%s'; kubeconfig files are v1",
                   api);
  for (sec = 0; sec < 3; sec++) {
    static const char *const names[] = {"clusters", "users", "contexts"};
    if (get_list(f, v[TOP_CLUSTERS + sec], "", names[sec], &lists[sec], err) < 0) return -1;
  }
  for (sec = 0; sec < 3; sec++)
    if (read_section(L, f, lists[sec], sec) < 0) return -1;
  if (current != NULL && L->current == NULL) {
    L->current = current;
    L->current_file = f;
    L->current_line = ln(v[TOP_CURRENT]);
  }
  return 0;
}

/* ---- checks and the result ------------------------------------------------------------------ */

/* A DNS-1123 label, as Kubernetes requires of namespace names. */
static int valid_namespace(const char *s) {
  size_t n = strlen(s), i;
  if (n == 0 || n > 63) return 0;
  for (i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || is_digit(c) || (c == '-' && i > 0 && i + 1 < n))) return 0;
  }
  return 1;
}

static int is_alnum(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* scheme://host[:port][/path]: the normalized server URL (scheme lower-case, no query, fragment
 * or trailing '/'), or NULL with *why (which never quotes the URL: it may hold a secret); NULL
 * with *why NULL when out of memory. */
static char *normalize_server(const char *s, const char **why, int *https) {
  const char *auth, *end, *host_end, *p;
  size_t scheme_len, n;
  char *out;
  for (p = s; *p != '\0'; p++)
    if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '\\') {
      *why = "it holds a space, a backslash or a control character";
      return NULL;
    }
  if (strncasecmp(s, "https://", 8) == 0)
    scheme_len = 5, *https = 1;
  else if (strncasecmp(s, "http://", 7) == 0)
    scheme_len = 4, *https = 0;
  else {
    *why = "it does not start with https:// or http://";
    return NULL;
  }
  auth = s + scheme_len + 3;
  end = auth + strcspn(auth, "/?#");
  if (memchr(auth, '@', (size_t)(end - auth)) != NULL) {
    *why = "it holds a user name or password (user@host); use the user's fields instead";
    return NULL;
  }
  if (auth[0] == '[') {
    host_end = memchr(auth, ']', (size_t)(end - auth));
    if (host_end == NULL || host_end == auth + 1) {
      *why = "its IPv6 address has no closing ']'";
      return NULL;
    }
    for (p = auth + 1; p < host_end; p++)
      if (!(is_alnum(*p) || *p == ':' || *p == '.' || *p == '%')) {
        *why = "its IPv6 address is malformed";
        return NULL;
      }
    host_end++;
  } else {
    for (host_end = auth; host_end < end && *host_end != ':'; host_end++)
      if (!(is_alnum(*host_end) || strchr("-._~%", *host_end) != NULL)) {
        *why = "its host name holds a character a host name cannot";
        return NULL;
      }
    if (host_end == auth) {
      *why = "it has no host";
      return NULL;
    }
  }
  if (host_end < end) {
    unsigned long port = 0;
    if (*host_end != ':' || host_end + 1 == end) {
      *why = "its port is malformed";
      return NULL;
    }
    for (p = host_end + 1; p < end; p++) {
      if (!is_digit(*p) || (port = port * 10 + (unsigned long)(*p - '0')) > 65535) {
        *why = "its port is not a number from 1 to 65535";
        return NULL;
      }
    }
    if (port == 0) {
      *why = "its port is not a number from 1 to 65535";
      return NULL;
    }
  }
  /* the path, without query, fragment and trailing '/' */
  p = end + strcspn(end, "?#");
  while (p > end && p[-1] == '/') p--;
  n = (size_t)(p - s);
  *why = NULL;
  if ((out = dup_n(s, n)) == NULL) return NULL;
  for (n = 0; n < scheme_len; n++) out[n] = (char)(out[n] | 0x20); /* ASCII letters only */
  return out;
}

/* client-go accepts a proxy-url with the http, https or socks5 scheme. */
static int valid_proxy(const char *s) {
  const char *p;
  for (p = s; *p != '\0'; p++)
    if ((unsigned char)*p <= 0x20 || *p == 0x7f) return 0;
  return (strncasecmp(s, "http://", 7) == 0 && s[7] != '\0') ||
         (strncasecmp(s, "https://", 8) == 0 && s[8] != '\0') ||
         (strncasecmp(s, "socks5://", 9) == 0 && s[9] != '\0');
}

/* Moves decoded data (NUL-terminated by the decoder) into the result. */
static void set_pem(char **dst, size_t *dst_len, unsigned char **data, size_t *len) {
  *dst = (char *)*data;
  *dst_len = *len;
  *data = NULL;
  *len = 0;
}

/* The file behind a path field: resolved against the file's folder and opened once. */
static int take_file(const kc_entry *e, const char *item, const yaml_node_t *node, const char *path,
                     const char *field, char **dst, vr_kubeconfig_error *err) {
  int e_no;
  if ((*dst = resolve_path(e->file->dir, path)) == NULL) return kc_oom(err);
  if ((e_no = check_readable(*dst)) != 0)
    return kc_fail(err, e->file->path, ln(node), "%s '%s': %s %s cannot be read: %s", item, e->name,
                   field, *dst, strerror(e_no));
  return 0;
}

static int fill_cluster(const kc_entry *e, vr_kube_config *c, int *https,
                        vr_kubeconfig_error *err) {
  kc_file *f = e->file;
  kc_cluster cl;
  const char *why;
  int rc = -1;
  if (read_cluster(e, &cl, err) < 0) return -1;
  if (cl.server == NULL) {
    kc_fail(err, f->path, e->line, "cluster '%s' has no server", e->name);
    goto done;
  }
  if ((c->server = normalize_server(cl.server, &why, https)) == NULL) {
    if (why == NULL)
      kc_oom(err);
    else
      kc_fail(err, f->path, ln(cl.node[CL_SERVER]), "cluster '%s': server is not a valid URL: %s",
              e->name, why);
    goto done;
  }
  if (cl.ca != NULL && cl.ca_data != NULL) {
    kc_fail(err, f->path, ln(cl.node[CL_CA_DATA]),
            "cluster '%s': both certificate-authority and certificate-authority-data are set; "
            "keep one",
            e->name);
    goto done;
  }
  if (cl.proxy != NULL) {
    if (!valid_proxy(cl.proxy)) {
      kc_fail(err, f->path, ln(cl.node[CL_PROXY]),
              "cluster '%s': proxy-url must be an http://, https:// or socks5:// URL", e->name);
      goto done;
    }
    if ((c->proxy_url = dup_s(cl.proxy)) == NULL) {
      kc_oom(err);
      goto done;
    }
  }
  if (*https) {
    if (cl.insecure && (cl.ca != NULL || cl.ca_data != NULL)) {
      kc_fail(err, f->path, ln(cl.node[CL_INSECURE]),
              "cluster '%s': insecure-skip-tls-verify and a certificate authority are both set "
              "(kubectl refuses this too)",
              e->name);
      goto done;
    }
    c->insecure_skip_tls_verify = cl.insecure;
    if (cl.tls_server_name != NULL && (c->tls_server_name = dup_s(cl.tls_server_name)) == NULL) {
      kc_oom(err);
      goto done;
    }
    if (cl.ca_data != NULL) set_pem(&c->ca_pem, &c->ca_pem_len, &cl.ca_data, &cl.ca_data_len);
  }
  /* the file is checked even for http:// (client-go's validation opens it) */
  if (cl.ca != NULL &&
      take_file(e, "cluster", cl.node[CL_CA], cl.ca, "certificate-authority", &c->ca_file, err) < 0)
    goto done;
  if (!*https) {
    free(c->ca_file);
    c->ca_file = NULL;
  }
  rc = 0;
done:
  cluster_clear(&cl);
  return rc;
}

static int refuse_user(const kc_entry *e, const kc_user *u, vr_kubeconfig_error *err) {
  static const int imp[] = {US_AS, US_AS_UID, US_AS_GROUPS, US_AS_EXTRA};
  size_t i;
  for (i = 0; i < sizeof imp / sizeof imp[0]; i++)
    if (is_set(u->node[imp[i]]))
      return kc_fail(err, e->file->path, ln(u->node[imp[i]]),
                     "user '%s' asks for impersonation (%s), which vmrun does not support: remove "
                     "%s or use a user that is itself allowed to act",
                     e->name, user_keys[imp[i]], user_keys[imp[i]]);
  if (is_set(u->node[US_AUTH_PROVIDER])) {
    yaml_node_t *p = u->node[US_AUTH_PROVIDER], *vals[1];
    static const char *const name_key[] = {"name"};
    const char *name = NULL;
    vr_kubeconfig_error scratch;
    memset(&scratch, 0, sizeof scratch);
    if (p->type == YAML_MAPPING_NODE &&
        collect_fields(e->file, p, name_key, 1, vals, "", &scratch) == 0)
      get_string(e->file, vals[0], "", "name", &name, &scratch);
    return kc_fail(err, e->file->path, ln(p),
                   "user '%s' uses the auth-provider%s%s%s, which vmrun does not support (kubectl "
                   "deprecated auth-provider plugins): use an exec credential plugin instead",
                   e->name, name != NULL ? " '" : "", name != NULL ? name : "",
                   name != NULL ? "'" : "");
  }
  return 0;
}

static void drop_credentials(vr_kube_config *c) {
  vr_secret_free(c->client_cert_file);
  vr_secret_free(c->client_key_file);
  vr_secret_free(c->token);
  vr_secret_free(c->token_file);
  vr_secret_free(c->username);
  vr_secret_free(c->password);
  vr_secret_free_n(c->client_cert_pem, c->client_cert_pem_len + 1);
  vr_secret_free_n(c->client_key_pem, c->client_key_pem_len + 1);
  exec_free(c->exec);
  c->client_cert_file = c->client_key_file = c->token = c->token_file = NULL;
  c->username = c->password = c->client_cert_pem = c->client_key_pem = NULL;
  c->client_cert_pem_len = c->client_key_pem_len = 0;
  c->exec = NULL;
}

static int fill_user(const kc_entry *e, vr_kube_config *c, int https, vr_kubeconfig_error *err) {
  kc_file *f = e->file;
  kc_user u;
  char what[320];
  int rc = -1;
  if (read_user(e, &u, err) < 0) return -1;
  prefix(what, sizeof what, "user", e->name);
  if (refuse_user(e, &u, err) < 0) goto done;
  if (u.token != NULL && (u.username != NULL || u.password != NULL)) {
    kc_fail(err, f->path, e->line,
            "user '%s' has more than one authentication method (token and username/password); "
            "kubectl allows only one",
            e->name);
    goto done;
  }
  if (u.cert != NULL || u.cert_data != NULL) {
    if (u.cert != NULL && u.cert_data != NULL) {
      kc_fail(err, f->path, ln(u.node[US_CERT_DATA]),
              "user '%s': both client-certificate and client-certificate-data are set; keep one",
              e->name);
      goto done;
    }
    if (u.key != NULL && u.key_data != NULL) {
      kc_fail(err, f->path, ln(u.node[US_KEY_DATA]),
              "user '%s': both client-key and client-key-data are set; keep one", e->name);
      goto done;
    }
    if (u.key == NULL && u.key_data == NULL) {
      kc_fail(err, f->path, ln(u.node[u.cert != NULL ? US_CERT : US_CERT_DATA]),
              "user '%s' has a client certificate but no client-key or client-key-data", e->name);
      goto done;
    }
    if (u.cert != NULL && take_file(e, "user", u.node[US_CERT], u.cert, "client-certificate",
                                    &c->client_cert_file, err) < 0)
      goto done;
    if (u.key != NULL &&
        take_file(e, "user", u.node[US_KEY], u.key, "client-key", &c->client_key_file, err) < 0)
      goto done;
    if (u.cert_data != NULL)
      set_pem(&c->client_cert_pem, &c->client_cert_pem_len, &u.cert_data, &u.cert_data_len);
    if (u.key_data != NULL)
      set_pem(&c->client_key_pem, &c->client_key_pem_len, &u.key_data, &u.key_data_len);
  } /* a key without a certificate is not used (client-go ignores it too) */
  if (u.token != NULL && (c->token = dup_s(u.token)) == NULL) goto oom;
  if (u.token_file != NULL) {
    if ((c->token_file = resolve_path(f->dir, u.token_file)) == NULL) goto oom;
    /* client-go reads the file when there is no token; it must be readable then */
    if (u.token == NULL && https) {
      int e_no = check_readable(c->token_file);
      if (e_no != 0) {
        kc_fail(err, f->path, ln(u.node[US_TOKEN_FILE]),
                "user '%s': tokenFile %s cannot be read: %s", e->name, c->token_file,
                strerror(e_no));
        goto done;
      }
    }
  }
  if (u.username != NULL && (c->username = dup_s(u.username)) == NULL) goto oom;
  if (u.password != NULL && (c->password = dup_s(u.password)) == NULL) goto oom;
  if (read_exec(f, u.node[US_EXEC], what, &c->exec, err) < 0) goto done;
  rc = 0;
  goto done;
oom:
  kc_oom(err);
done:
  user_clear(&u);
  return rc;
}

static vr_kube_config *resolve(kc_load *L, const char *context, const char *ns_override,
                               const char *source) {
  vr_kubeconfig_error *err = L->err;
  vr_kube_config *c;
  const kc_entry *cx, *cl, *us = NULL;
  kc_context ctx;
  const char *ns;
  int https = 0;
  if (context != NULL) {
    if ((cx = find_entry(&L->sec[SEC_CONTEXTS], context)) == NULL) {
      kc_fail(err, NULL, 0, "context '%s' does not exist in %s", context, source);
      return NULL;
    }
  } else if (L->current != NULL) {
    if ((cx = find_entry(&L->sec[SEC_CONTEXTS], L->current)) == NULL) {
      kc_fail(err, L->current_file->path, L->current_line,
              "current-context names context '%s', which no file defines", L->current);
      return NULL;
    }
  } else {
    kc_fail(err, NULL, 0, "no context named and no current-context set in %s", source);
    return NULL;
  }
  if (read_context(cx, &ctx, err) < 0) return NULL;
  if (ctx.cluster == NULL) {
    kc_fail(err, cx->file->path, cx->line, "context '%s' names no cluster", cx->name);
    return NULL;
  }
  if ((cl = find_entry(&L->sec[SEC_CLUSTERS], ctx.cluster)) == NULL) {
    kc_fail(err, cx->file->path, ln(ctx.node[CX_CLUSTER]),
            "context '%s' names cluster '%s', which no file defines", cx->name, ctx.cluster);
    return NULL;
  }
  if (ctx.user != NULL && (us = find_entry(&L->sec[SEC_USERS], ctx.user)) == NULL) {
    kc_fail(err, cx->file->path, ln(ctx.node[CX_USER]),
            "context '%s' names user '%s', which no file defines", cx->name, ctx.user);
    return NULL;
  }
  ns = ns_override != NULL ? ns_override : ctx.ns != NULL ? ctx.ns : "default";
  if (!valid_namespace(ns)) {
    if (ns_override != NULL)
      kc_fail(err, NULL, 0,
              "namespace '%s' is not a valid namespace name (lower-case letters, digits and '-', "
              "at most 63)",
              ns);
    else
      kc_fail(err, cx->file->path, ln(ctx.node[CX_NAMESPACE]),
              "context '%s': namespace '%s' is not a valid namespace name (lower-case letters, "
              "digits and '-', at most 63)",
              cx->name, ns);
    return NULL;
  }
  if ((c = kc_calloc(1, sizeof *c)) == NULL) {
    kc_oom(err);
    return NULL;
  }
  if ((c->context = dup_s(cx->name)) == NULL || (c->cluster = dup_s(cl->name)) == NULL ||
      (c->user = dup_s(us != NULL ? us->name : "")) == NULL ||
      (c->namespace_ = dup_s(ns)) == NULL || (c->source = dup_s(source)) == NULL) {
    kc_oom(err);
    vr_kube_config_free(c);
    return NULL;
  }
  if (fill_cluster(cl, c, &https, err) < 0 || (us != NULL && fill_user(us, c, https, err) < 0)) {
    vr_kube_config_free(c);
    return NULL;
  }
  /* kubectl sends no credentials and uses no TLS settings over plain http */
  if (!https) drop_credentials(c);
  return c;
}

/* ---- the entry points --------------------------------------------------------------------------
 */

static void load_free(kc_load *L) {
  size_t i;
  int s;
  for (i = 0; i < L->nfiles; i++) {
    kc_file *f = &L->files[i];
    if (f->has_doc) {
      wipe_document(&f->doc);
      yaml_document_delete(&f->doc);
    }
    free(f->path);
    free(f->dir);
  }
  free(L->files);
  for (s = 0; s < 3; s++) {
    free(L->sec[s].v);
    vr_strmap_clear(&L->sec[s].index);
  }
}

/* Splits a ':'-separated list into L->files (empty items and repeats dropped, as client-go). */
static int split_list(kc_load *L, const char *list) {
  size_t count = 1, i;
  const char *p = list;
  for (; *p != '\0'; p++)
    if (*p == ':') count++;
  if ((L->files = kc_calloc(count, sizeof *L->files)) == NULL) return -1;
  p = list;
  for (;;) {
    size_t n = strcspn(p, ":");
    int repeat = 0;
    for (i = 0; i < L->nfiles; i++)
      if (strlen(L->files[i].path) == n && memcmp(L->files[i].path, p, n) == 0) repeat = 1;
    if (n > 0 && !repeat) {
      if ((L->files[L->nfiles].path = dup_n(p, n)) == NULL) return -1;
      L->nfiles++;
    }
    p += n;
    if (*p == ':')
      p++;
    else
      break;
  }
  return 0;
}

vr_kube_config *vr_kubeconfig_load(const char *paths, const char *context,
                                   const char *namespace_override, vr_kubeconfig_error *err) {
  vr_kubeconfig_error scratch;
  kc_load L;
  vr_kube_config *c = NULL;
  char *source = NULL, *home_file = NULL;
  const char *list, *env;
  size_t i, loaded = 0;
  int explicit_file = 0, s;
  if (err == NULL) err = &scratch;
  memset(err, 0, sizeof *err);
  memset(&L, 0, sizeof L);
  L.err = err;
  for (s = 0; s < 3; s++) vr_strmap_init(&L.sec[s].index);
  if (context != NULL && context[0] == '\0') context = NULL;
  if (namespace_override != NULL && namespace_override[0] == '\0') namespace_override = NULL;

  env = getenv("KUBECONFIG");
  if (paths != NULL && paths[0] != '\0') {
    list = paths;
    explicit_file = strchr(paths, ':') == NULL;
    source = dup_s(paths);
  } else if (env != NULL && env[0] != '\0') {
    list = env;
    if ((source = kc_malloc(strlen(env) + sizeof "KUBECONFIG=")) != NULL)
      snprintf(source, strlen(env) + sizeof "KUBECONFIG=", "KUBECONFIG=%s", env);
  } else {
    const char *home = getenv("HOME");
    if (home == NULL || home[0] == '\0') {
      kc_fail(err, NULL, 0, "no kubeconfig: KUBECONFIG and HOME are both unset");
      goto out;
    }
    if ((home_file = kc_malloc(strlen(home) + sizeof "/.kube/config")) == NULL) goto oom;
    snprintf(home_file, strlen(home) + sizeof "/.kube/config", "%s/.kube/config", home);
    list = home_file;
    source = dup_s(home_file);
  }
  if (source == NULL || split_list(&L, list) < 0) goto oom;
  if (L.nfiles == 0) {
    kc_fail(err, NULL, 0, "no kubeconfig: %s names no file", source);
    goto out;
  }

  for (i = 0; i < L.nfiles; i++) {
    kc_file *f = &L.files[i];
    char *data;
    size_t len;
    int e_no = read_whole(f->path, KC_MAX_FILE, &data, &len), rc;
    if (e_no == ENOENT && !explicit_file) continue; /* missing files in a list are skipped */
    if (e_no == ENOMEM) goto oom;
    if (e_no != 0) {
      kc_fail(err, f->path, 0, "cannot read the kubeconfig: %s",
              e_no == ENOENT  ? "the file does not exist"
              : e_no == EFBIG ? "larger than 16 MiB"
                              : strerror(e_no));
      goto out;
    }
    if ((f->dir = folder_of(f->path)) == NULL) {
      vr_secret_free_n(data, len + 1);
      goto oom;
    }
    rc = read_file(&L, f, data, len);
    vr_secret_free_n(data, len + 1);
    if (rc < 0) goto out;
    loaded++;
  }
  if (loaded == 0) {
    kc_fail(err, L.nfiles == 1 ? L.files[0].path : NULL, 0,
            L.nfiles == 1 ? "no kubeconfig: the file does not exist"
                          : "no kubeconfig: none of the files in the list exists");
    goto out;
  }
  c = resolve(&L, context, namespace_override, source);
  goto out;
oom:
  kc_oom(err);
out:
  load_free(&L);
  free(source);
  free(home_file);
  return c;
}

/* The in-cluster host, IPv6 addresses in brackets (Go's net.JoinHostPort). */
static int in_cluster_server(const char *host, const char *port, char **out) {
  size_t n = strlen(host) + strlen(port) + sizeof "https://[]:";
  const char *why;
  int https, bracket = strchr(host, ':') != NULL && host[0] != '[';
  char *url = kc_malloc(n);
  *out = NULL;
  if (url == NULL) return -1;
  snprintf(url, n, "https://%s%s%s:%s", bracket ? "[" : "", host, bracket ? "]" : "", port);
  *out = normalize_server(url, &why, &https);
  free(url);
  return *out != NULL ? 0 : why == NULL ? -1 : 1;
}

static char *path_in(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = kc_malloc(n);
  if (p != NULL) snprintf(p, n, "%s/%s", dir, name);
  return p;
}

static void append(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void append(char *buf, size_t len, const char *fmt, ...) {
  size_t used = strlen(buf);
  va_list ap;
  if (used + 1 >= len) return;
  va_start(ap, fmt);
  vsnprintf(buf + used, len - used, fmt, ap);
  va_end(ap);
}

vr_kube_config *vr_kubeconfig_in_cluster(const char *dir, vr_kubeconfig_error *err) {
  vr_kubeconfig_error scratch;
  const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
  const char *pod_ns = getenv("POD_NAMESPACE"), *ns = "default";
  char missing[400] = "";
  char *token = NULL, *ca = NULL, *ns_file = NULL, *ns_data = NULL, *server = NULL;
  vr_kube_config *c = NULL;
  int e_no;
  size_t ns_len = 0;
  if (err == NULL) err = &scratch;
  memset(err, 0, sizeof *err);
  if (dir == NULL || dir[0] == '\0') dir = KC_SA_DIR;
  if ((token = path_in(dir, "token")) == NULL || (ca = path_in(dir, "ca.crt")) == NULL ||
      (ns_file = path_in(dir, "namespace")) == NULL)
    goto oom;
  if (host == NULL || host[0] == '\0')
    append(missing, sizeof missing, "; KUBERNETES_SERVICE_HOST is not set");
  if (port == NULL || port[0] == '\0')
    append(missing, sizeof missing, "; KUBERNETES_SERVICE_PORT is not set");
  if ((e_no = check_readable(token)) != 0)
    append(missing, sizeof missing, "; the token %s cannot be read (%s)", token, strerror(e_no));
  if ((e_no = check_readable(ca)) != 0)
    append(missing, sizeof missing, "; the CA %s cannot be read (%s)", ca, strerror(e_no));
  if (missing[0] == '\0') {
    int rc = in_cluster_server(host, port, &server);
    if (rc < 0) goto oom;
    if (rc > 0)
      append(missing, sizeof missing,
             "; KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT do not make a URL (%s:%s)",
             host, port);
  }
  if (missing[0] != '\0') {
    kc_fail(err, NULL, 0, "not running in a cluster: %s", missing + 2);
    goto out;
  }
  /* the namespace: POD_NAMESPACE, else the file, else "default" (client-go's order) */
  if (pod_ns != NULL && pod_ns[0] != '\0') {
    ns = pod_ns;
  } else {
    e_no = read_whole(ns_file, KC_MAX_SMALL_FILE, &ns_data, &ns_len);
    if (e_no == ENOMEM) goto oom;
    if (e_no == 0) {
      char *a = ns_data, *b = ns_data + ns_len;
      while (a < b && (*a == ' ' || *a == '\t' || *a == '\n' || *a == '\r')) a++;
      while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\n' || b[-1] == '\r')) b--;
      *b = '\0';
      memmove(ns_data, a, (size_t)(b - a) + 1);
    }
    if (ns_data != NULL && ns_data[0] != '\0') ns = ns_data;
  }
  if (!valid_namespace(ns)) {
    kc_fail(err, ns == ns_data ? ns_file : NULL, 0,
            "the pod's namespace '%s' is not a valid namespace name", ns);
    goto out;
  }
  if ((c = kc_calloc(1, sizeof *c)) == NULL) goto oom;
  c->server = server;
  server = NULL;
  c->token_file = token;
  token = NULL;
  c->ca_file = ca;
  ca = NULL;
  if ((c->context = dup_s("")) == NULL || (c->cluster = dup_s("")) == NULL ||
      (c->user = dup_s("")) == NULL || (c->namespace_ = dup_s(ns)) == NULL ||
      (c->source = dup_s("in-cluster")) == NULL) {
    vr_kube_config_free(c);
    c = NULL;
    goto oom;
  }
  goto out;
oom:
  kc_oom(err);
out:
  free(token);
  free(ca);
  free(ns_file);
  free(ns_data);
  free(server);
  return c;
}

void vr_kube_config_free(vr_kube_config *c) {
  if (c == NULL) return;
  drop_credentials(c);
  vr_secret_free(c->context);
  vr_secret_free(c->cluster);
  vr_secret_free(c->user);
  vr_secret_free(c->server);
  vr_secret_free(c->namespace_);
  vr_secret_free(c->tls_server_name);
  vr_secret_free(c->proxy_url);
  vr_secret_free(c->ca_file);
  vr_secret_free_n(c->ca_pem, c->ca_pem_len + 1);
  vr_secret_free(c->source);
  free(c);
}

void vr_kubeconfig_error_format(const vr_kubeconfig_error *err, char *buf, size_t len) {
  if (buf == NULL || len == 0) return;
  if (err == NULL) {
    buf[0] = '\0';
  } else if (err->file[0] != '\0' && err->line > 0) {
    snprintf(buf, len, "%s:%d: %s", err->file, err->line, err->message);
  } else if (err->file[0] != '\0') {
    snprintf(buf, len, "%s: %s", err->file, err->message);
  } else {
    snprintf(buf, len, "%s", err->message);
  }
}
