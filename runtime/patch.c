/* patch.c: JSON merge patch, JSON patch and Kubernetes strategic merge patch on cJSON trees
 * (patch.h).
 *
 * Rules it keeps: no Lua; inputs are only read (results are built from copies); every allocation
 * is checked and every partial result is freed on failure; recursion is bounded because check_tree
 * refuses inputs deeper than VR_PATCH_MAX_DEPTH before any work, and a JSON patch refuses an
 * operation whose result would be deeper. Lists are changed only by appending and detaching (see
 * insert_at). All memory comes from cJSON's allocator (cJSON_malloc and the cJSON_Create
 * functions), so cJSON_InitHooks covers everything here.
 *
 * Strategic merge patch strategies: the table smp_rules below, keyed by kind and dotted field path
 * ("[]" stands for "an element of the merged list"). Its entries are the patchStrategy and
 * patchMergeKey struct tags of the Kubernetes API types for the fields that clients patch:
 * ObjectMeta (k8s.io/apimachinery meta/v1: finalizers merge as a set, ownerReferences by uid),
 * core/v1 Node and Pod (kubernetes/kubernetes staging/src/k8s.io/api/core/v1/types.go) and
 * policy/v1 PodDisruptionBudget (staging/src/k8s.io/api/policy/v1/types.go). Node spec.taints has
 * no patchStrategy there (+listType=atomic), so a patch replaces the whole list; that is also what
 * its clients expect: kubectl taint sends the two-way strategic merge patch of the old and new Node
 * (kubectl pkg/cmd/taint/taint.go), which for an atomic list is the complete new list, and
 * Ansible's kubernetes.core k8s_taint sends {"spec": {"taints": <complete list>}} for both taint
 * and untaint. Merging taints by key would make "kubectl taint node n k-" a no-op while other
 * taints remain, and would fold taints that share a key but differ in effect. Lease has no list
 * fields with a strategy; the KubeVirt kinds are custom resources without patch tags. */
#include "patch.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#if defined(__GNUC__)
#define PATCH_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define PATCH_PRINTF(f, a)
#endif

/* ============================================================================================
 * Shared helpers
 * ============================================================================================ */

static void fail(vr_patch_error *err, vr_patch_fail kind, const char *fmt, ...) PATCH_PRINTF(3, 4);

/* Fills err (never NULL here) with kind and the formatted message. */
static void fail(vr_patch_error *err, vr_patch_fail kind, const char *fmt, ...) {
  va_list ap;
  err->kind = kind;
  va_start(ap, fmt);
  vsnprintf(err->message, sizeof err->message, fmt, ap);
  va_end(ap);
}

static void fail_memory(vr_patch_error *err) {
  fail(err, VR_PATCH_NO_MEMORY, "out of memory");
}

static void clear_error(vr_patch_error *err) {
  err->kind = VR_PATCH_OK;
  err->message[0] = '\0';
}

/* Copies s into out (size n >= 8), replacing its tail with "..." when it does not fit. */
static const char *shorten(const char *s, char *out, size_t n) {
  size_t len = strlen(s);
  if (len < n) {
    memcpy(out, s, len + 1);
  } else {
    memcpy(out, s, n - 4);
    memcpy(out + n - 4, "...", 4);
  }
  return out;
}

/* 1 when item is a well-formed cJSON value (known type, strings and member names not NULL) that
 * nests at most `limit` containers deep. The recursion is at most limit + 1 calls deep. */
static int tree_ok(const cJSON *item, int limit, int in_object) {
  const cJSON *c;
  if (in_object && item->string == NULL) return 0;
  switch (item->type & 0xFF) {
  case cJSON_False:
  case cJSON_True:
  case cJSON_NULL:
  case cJSON_Number:
    return 1;
  case cJSON_String:
  case cJSON_Raw:
    return item->valuestring != NULL;
  case cJSON_Array:
  case cJSON_Object:
    if (limit <= 0) return 0;
    for (c = item->child; c != NULL; c = c->next) {
      if (!tree_ok(c, limit - 1, cJSON_IsObject(item))) return 0;
    }
    return 1;
  default:
    return 0;
  }
}

/* Refuses (VR_PATCH_BAD_PATCH, naming `what`) a missing, malformed or too deep input. */
static int check_tree(const cJSON *item, const char *what, vr_patch_error *err) {
  if (item == NULL) {
    fail(err, VR_PATCH_BAD_PATCH, "%s is missing", what);
    return 0;
  }
  if (!tree_ok(item, VR_PATCH_MAX_DEPTH, 0)) {
    fail(err, VR_PATCH_BAD_PATCH,
         "%s is not a well-formed JSON value or nests deeper than %d levels", what,
         VR_PATCH_MAX_DEPTH);
    return 0;
  }
  return 1;
}

/* A deep copy of item without its member name (caller owns), or NULL when memory runs out. */
static cJSON *dup_value(const cJSON *item) {
  cJSON *copy = cJSON_Duplicate(item, 1);
  if (copy != NULL && copy->string != NULL) {
    if (!(copy->type & cJSON_StringIsConst)) cJSON_free(copy->string);
    copy->string = NULL;
    copy->type &= ~cJSON_StringIsConst;
  }
  return copy;
}

/* Appends value (owned) to container: as member `key` of an object, or as an array element when
 * key is NULL. On failure frees value and returns 0 (only memory can fail). */
static int put(cJSON *container, const char *key, cJSON *value) {
  cJSON_bool ok = key != NULL ? cJSON_AddItemToObject(container, key, value)
                              : cJSON_AddItemToArray(container, value);
  if (!ok) cJSON_Delete(value);
  return ok != 0;
}

/* Gives item the member name key (a copy). Returns 0 when memory runs out (item unchanged). */
static int set_name(cJSON *item, const char *key) {
  size_t n = strlen(key) + 1;
  char *copy = cJSON_malloc(n);
  if (copy == NULL) return 0;
  memcpy(copy, key, n);
  if (item->string != NULL && !(item->type & cJSON_StringIsConst)) cJSON_free(item->string);
  item->string = copy;
  item->type &= ~cJSON_StringIsConst;
  return 1;
}

/* Inserts item (owned; for objects already named) at position idx (0 to size) of container.
 * Only appends and detaches, which relink and cannot fail. cJSON_InsertItemInArray is not used:
 * the Debian 12 build of cJSON (1.7.15-1+deb12u4) refuses every insertion in the middle of a list
 * and returns false. */
static void insert_at(cJSON *container, int idx, cJSON *item) {
  int n = cJSON_GetArraySize(container), k;
  cJSON_AddItemToArray(container, item);
  for (k = idx; k < n; k++) {
    cJSON_AddItemToArray(container, cJSON_DetachItemFromArray(container, idx));
  }
}

/* Puts value (owned; for objects already named) where old is in parent, and deletes old. Cannot
 * fail. */
static void swap_in(cJSON *parent, cJSON *old, cJSON *value) {
  int idx = 0;
  const cJSON *c;
  for (c = parent->child; c != old; c = c->next) idx++;
  cJSON_Delete(cJSON_DetachItemViaPointer(parent, old));
  insert_at(parent, idx, value);
}

/* The last member of object named key, or NULL. */
static const cJSON *last_member(const cJSON *object, const char *key) {
  const cJSON *c, *found = NULL;
  for (c = object->child; c != NULL; c = c->next) {
    if (strcmp(c->string, key) == 0) found = c;
  }
  return found;
}

static int equal(const cJSON *a, const cJSON *b) {
  return cJSON_Compare(a, b, 1) != 0;
}

/* 1 when array holds an element equal to value. */
static int array_contains(const cJSON *array, const cJSON *value) {
  const cJSON *c;
  for (c = array->child; c != NULL; c = c->next) {
    if (equal(c, value)) return 1;
  }
  return 0;
}

/* ============================================================================================
 * JSON merge patch (RFC 7386)
 * ============================================================================================ */

/* MergePatch(target, patch) of RFC 7386 section 2 as a new tree; target may be NULL (absent).
 * NULL only when memory runs out. */
static cJSON *merge(const cJSON *target, const cJSON *patch) {
  const cJSON *m;
  cJSON *out, *value;
  if (!cJSON_IsObject(patch)) return dup_value(patch);
  if (!cJSON_IsObject(target)) target = NULL;
  out = cJSON_CreateObject();
  if (out == NULL) return NULL;
  for (m = target ? target->child : NULL; m != NULL; m = m->next) {
    const cJSON *p = last_member(patch, m->string);
    if (p != NULL && cJSON_IsNull(p)) continue;
    value = p != NULL ? merge(m, p) : dup_value(m);
    if (value == NULL || !put(out, m->string, value)) goto fail;
  }
  for (m = patch->child; m != NULL; m = m->next) {
    if (cJSON_IsNull(m) || last_member(patch, m->string) != m) continue;
    if (target != NULL && cJSON_GetObjectItemCaseSensitive(target, m->string) != NULL) continue;
    value = merge(NULL, m);
    if (value == NULL || !put(out, m->string, value)) goto fail;
  }
  return out;
fail:
  cJSON_Delete(out);
  return NULL;
}

cJSON *vr_patch_merge(const cJSON *doc, const cJSON *patch, vr_patch_error *err) {
  vr_patch_error local;
  cJSON *out;
  if (err == NULL) err = &local;
  clear_error(err);
  if (!check_tree(doc, "document", err) || !check_tree(patch, "patch", err)) return NULL;
  out = merge(doc, patch);
  if (out == NULL) fail_memory(err);
  return out;
}

/* ============================================================================================
 * JSON Pointer (RFC 6901) and JSON patch (RFC 6902)
 * ============================================================================================ */

typedef struct jptr {
  char *buf;  /* the unescaped tokens, each NUL-terminated, back to back (cJSON_malloc) */
  char **tok; /* tok[i] points into buf (cJSON_malloc) */
  int n;      /* number of tokens; 0 is the whole document */
} jptr;

static void ptr_free(jptr *p) {
  cJSON_free(p->buf);
  cJSON_free(p->tok);
  p->buf = NULL;
  p->tok = NULL;
  p->n = 0;
}

/* Parses a JSON Pointer into p. Returns 1; 0 with *why set when the syntax is wrong; -1 when
 * memory runs out. p needs ptr_free only after 1. */
static int ptr_parse(const char *text, jptr *p, const char **why) {
  size_t len = strlen(text), count = 0, i;
  char *w;
  p->buf = NULL;
  p->tok = NULL;
  p->n = 0;
  if (len == 0) return 1;
  if (text[0] != '/') {
    *why = "invalid pointer: it must be empty or start with '/'";
    return 0;
  }
  for (i = 0; i < len; i++) count += text[i] == '/';
  if (count > (size_t)INT_MAX) {
    *why = "invalid pointer: too many tokens";
    return 0;
  }
  p->buf = cJSON_malloc(len + 1);
  p->tok = cJSON_malloc(count * sizeof *p->tok);
  if (p->buf == NULL || p->tok == NULL) {
    ptr_free(p);
    return -1;
  }
  w = p->buf;
  i = 0;
  while (i < len) { /* text[i] is '/' */
    i++;
    p->tok[p->n++] = w;
    while (i < len && text[i] != '/') {
      if (text[i] != '~') {
        *w++ = text[i++];
      } else if (text[i + 1] == '0' || text[i + 1] == '1') {
        *w++ = text[i + 1] == '0' ? '~' : '/';
        i += 2;
      } else {
        *why = "invalid pointer: '~' must be followed by '0' or '1'";
        ptr_free(p);
        return 0;
      }
    }
    *w++ = '\0';
  }
  return 1;
}

enum { IDX_END = -1, IDX_BAD = -2 };

/* The array index token names: 0 or more (values above INT_MAX come back as INT_MAX + 1LL),
 * IDX_END for "-", IDX_BAD for anything else (signs, leading zeros, empty, non-digits). */
static long long parse_index(const char *tok) {
  long long v = 0;
  const char *c;
  if (strcmp(tok, "-") == 0) return IDX_END;
  if (tok[0] < '0' || tok[0] > '9' || (tok[0] == '0' && tok[1] != '\0')) return IDX_BAD;
  for (c = tok; *c != '\0'; c++) {
    if (*c < '0' || *c > '9') return IDX_BAD;
    if (v <= INT_MAX) v = v * 10 + (*c - '0');
  }
  return v > INT_MAX ? (long long)INT_MAX + 1 : v;
}

/* The element of container that tok names, or NULL with the reason in why. */
static cJSON *ptr_child(cJSON *container, const char *tok, char *why, size_t whylen) {
  if (cJSON_IsObject(container)) {
    cJSON *c = cJSON_GetObjectItemCaseSensitive(container, tok);
    if (c == NULL) snprintf(why, whylen, "no such element");
    return c;
  }
  if (cJSON_IsArray(container)) {
    long long idx = parse_index(tok);
    char shown[40];
    if (idx == IDX_BAD) {
      snprintf(why, whylen, "\"%s\" is not an array index", shorten(tok, shown, sizeof shown));
      return NULL;
    }
    if (idx == IDX_END || idx >= cJSON_GetArraySize(container)) {
      snprintf(why, whylen, "no such element");
      return NULL;
    }
    return cJSON_GetArrayItem(container, (int)idx);
  }
  snprintf(why, whylen, "no such element");
  return NULL;
}

/* The item at the first `upto` tokens of p below root, or NULL with the reason in why. */
static cJSON *ptr_walk(cJSON *root, const jptr *p, int upto, char *why, size_t whylen) {
  int i;
  for (i = 0; i < upto && root != NULL; i++) root = ptr_child(root, p->tok[i], why, whylen);
  return root;
}

/* Results of the operation helpers: R_FAIL leaves the reason in their `why` buffer; R_REPORTED
 * means the error is already in err. */
enum { R_REPORTED = -2, R_NOMEM = -1, R_FAIL = 0, R_OK = 1 };

/* RFC 6902 "add" of value (owned: freed on failure) at p in *root. R_FAIL sets why. */
static int op_add(cJSON **root, const jptr *p, cJSON *value, char *why, size_t whylen) {
  cJSON *parent, *old;
  const char *last;
  if (p->n == 0) {
    cJSON_Delete(*root);
    *root = value;
    return R_OK;
  }
  parent = ptr_walk(*root, p, p->n - 1, why, whylen);
  last = p->tok[p->n - 1];
  if (cJSON_IsObject(parent)) {
    old = cJSON_GetObjectItemCaseSensitive(parent, last);
    if (old == NULL) return put(parent, last, value) ? R_OK : R_NOMEM;
    if (!set_name(value, last)) {
      cJSON_Delete(value);
      return R_NOMEM;
    }
    swap_in(parent, old, value);
    return R_OK;
  }
  if (cJSON_IsArray(parent)) {
    long long idx = parse_index(last), size = cJSON_GetArraySize(parent);
    char shown[40];
    if (idx == IDX_BAD) {
      snprintf(why, whylen, "\"%s\" is not an array index", shorten(last, shown, sizeof shown));
    } else if (idx > size) {
      snprintf(why, whylen, "index %lld is out of range (the array has %lld elements)", idx, size);
    } else if (idx == IDX_END || idx == size) {
      return put(parent, NULL, value) ? R_OK : R_NOMEM;
    } else {
      insert_at(parent, (int)idx, value);
      return R_OK;
    }
  } else if (parent != NULL) {
    snprintf(why, whylen, "no such element");
  }
  cJSON_Delete(value);
  return R_FAIL;
}

/* Detaches the item at p (not the root) from *root and returns it (caller owns, unnamed), or NULL
 * with the reason in why. */
static cJSON *op_detach(cJSON *root, const jptr *p, char *why, size_t whylen) {
  cJSON *parent, *item;
  if (p->n == 0) {
    snprintf(why, whylen, "cannot remove the whole document");
    return NULL;
  }
  parent = ptr_walk(root, p, p->n - 1, why, whylen);
  if (parent == NULL) return NULL;
  item = ptr_child(parent, p->tok[p->n - 1], why, whylen);
  if (item == NULL) return NULL;
  cJSON_DetachItemViaPointer(parent, item);
  if (item->string != NULL && !(item->type & cJSON_StringIsConst)) cJSON_free(item->string);
  item->string = NULL;
  item->type &= ~cJSON_StringIsConst;
  return item;
}

/* RFC 6902 "replace" of the item at p with value (owned: freed on failure). */
static int op_replace(cJSON **root, const jptr *p, cJSON *value, char *why, size_t whylen) {
  cJSON *parent, *old;
  if (p->n == 0) {
    cJSON_Delete(*root);
    *root = value;
    return R_OK;
  }
  parent = ptr_walk(*root, p, p->n - 1, why, whylen);
  old = parent != NULL ? ptr_child(parent, p->tok[p->n - 1], why, whylen) : NULL;
  if (old == NULL) {
    cJSON_Delete(value);
    return R_FAIL;
  }
  if (cJSON_IsObject(parent) && !set_name(value, p->tok[p->n - 1])) {
    cJSON_Delete(value);
    return R_NOMEM;
  }
  swap_in(parent, old, value);
  return R_OK;
}

/* 1 when a's tokens are a prefix of b's (equal pointers included). */
static int ptr_prefix(const jptr *a, const jptr *b) {
  int i;
  if (a->n > b->n) return 0;
  for (i = 0; i < a->n; i++) {
    if (strcmp(a->tok[i], b->tok[i]) != 0) return 0;
  }
  return 1;
}

static const char *const op_names[] = {"add", "remove", "replace", "move", "copy", "test"};
enum { OP_ADD, OP_REMOVE, OP_REPLACE, OP_MOVE, OP_COPY, OP_TEST, OP_COUNT };

/* The members an operation object may carry. */
typedef struct op_fields {
  const cJSON *op, *path, *from, *value;
} op_fields;

/* Finds op's members; duplicates of them are malformed. Returns 0 with err set on failure. */
static int op_read_fields(const cJSON *op, int index, op_fields *f, vr_patch_error *err) {
  static const char *const names[] = {"op", "path", "from", "value"};
  const cJSON **slots[4];
  const cJSON *c;
  int i;
  slots[0] = &f->op;
  slots[1] = &f->path;
  slots[2] = &f->from;
  slots[3] = &f->value;
  f->op = f->path = f->from = f->value = NULL;
  if (!cJSON_IsObject(op)) {
    fail(err, VR_PATCH_BAD_PATCH, "op %d: not an object", index);
    return 0;
  }
  for (c = op->child; c != NULL; c = c->next) {
    for (i = 0; i < 4; i++) {
      if (strcmp(c->string, names[i]) != 0) continue;
      if (*slots[i] != NULL) {
        fail(err, VR_PATCH_BAD_PATCH, "op %d: duplicate member \"%s\"", index, names[i]);
        return 0;
      }
      *slots[i] = c;
    }
  }
  return 1;
}

/* Parses the pointer in member (a string) into p, for operation `index`. Returns R_OK, or
 * R_REPORTED with err set (bad syntax or memory). */
static int op_pointer(const cJSON *member, jptr *p, const char *prefix, vr_patch_error *err) {
  const char *why = NULL;
  int parsed = ptr_parse(member->valuestring, p, &why);
  if (parsed < 0) fail_memory(err);
  if (parsed == 0) fail(err, VR_PATCH_BAD_PATCH, "%s: %s", prefix, why);
  return parsed == 1 ? R_OK : R_REPORTED;
}

/* Runs a parsed operation on *root. R_FAIL leaves the reason in why. */
static int op_run(int kind, cJSON **root, const jptr *path, const jptr *from, const cJSON *value,
                  const char *prefix, char *why, size_t whylen, vr_patch_error *err) {
  const cJSON *source;
  cJSON *item;
  char inner[160];
  switch (kind) {
  case OP_ADD:
  case OP_REPLACE:
    source = value;
    break;
  case OP_REMOVE:
    if (path->n == 0) {
      snprintf(why, whylen, "cannot remove the whole document");
      return R_FAIL;
    }
    item = op_detach(*root, path, why, whylen);
    cJSON_Delete(item);
    return item != NULL ? R_OK : R_FAIL;
  case OP_TEST:
    source = ptr_walk(*root, path, path->n, why, whylen);
    if (source == NULL) return R_FAIL;
    if (equal(source, value)) return R_OK;
    snprintf(why, whylen, "test failed: the value differs");
    return R_FAIL;
  default: /* OP_MOVE, OP_COPY */
    if (kind == OP_MOVE && ptr_prefix(from, path) && from->n < path->n) {
      fail(err, VR_PATCH_BAD_PATCH, "%s: \"from\" is a proper prefix of \"path\"", prefix);
      return R_REPORTED;
    }
    source = ptr_walk(*root, from, from->n, inner, sizeof inner);
    if (source == NULL) {
      snprintf(why, whylen, "from: %s", inner);
      return R_FAIL;
    }
    break;
  }
  if (!tree_ok(source, VR_PATCH_MAX_DEPTH - path->n, 0)) {
    fail(err, VR_PATCH_BAD_PATCH, "%s: the result would nest deeper than %d levels", prefix,
         VR_PATCH_MAX_DEPTH);
    return R_REPORTED;
  }
  if (kind == OP_MOVE) {
    if (from->n == path->n && ptr_prefix(from, path)) return R_OK; /* same place: no change */
    item = op_detach(*root, from, why, whylen);
    if (item == NULL) return R_FAIL;
  } else {
    item = dup_value(source);
    if (item == NULL) return R_NOMEM;
  }
  return kind == OP_REPLACE ? op_replace(root, path, item, why, whylen)
                            : op_add(root, path, item, why, whylen);
}

/* Applies operation `index` to *root (the private working copy). Returns 0 with err set. On
 * failure *root may be half-changed; the caller discards it. */
static int op_apply(cJSON **root, const cJSON *op, int index, vr_patch_error *err) {
  op_fields f;
  jptr path = {0}, from = {0};
  int kind, rc;
  char shown[96], prefix[160], why[200];
  if (!op_read_fields(op, index, &f, err)) return 0;
  if (f.op == NULL || !cJSON_IsString(f.op)) {
    fail(err, VR_PATCH_BAD_PATCH, "op %d: %s", index,
         f.op == NULL ? "missing \"op\"" : "\"op\" is not a string");
    return 0;
  }
  for (kind = 0; kind < OP_COUNT; kind++) {
    if (strcmp(f.op->valuestring, op_names[kind]) == 0) break;
  }
  if (kind == OP_COUNT) {
    fail(err, VR_PATCH_BAD_PATCH, "op %d: unknown op \"%s\"", index,
         shorten(f.op->valuestring, shown, sizeof shown));
    return 0;
  }
  if (f.path == NULL || !cJSON_IsString(f.path)) {
    fail(err, VR_PATCH_BAD_PATCH, "op %d (%s): %s", index, op_names[kind],
         f.path == NULL ? "missing \"path\"" : "\"path\" is not a string");
    return 0;
  }
  snprintf(prefix, sizeof prefix, "op %d (%s %s)", index, op_names[kind],
           f.path->valuestring[0] != '\0' ? shorten(f.path->valuestring, shown, sizeof shown)
                                          : "\"\"");
  if ((kind == OP_ADD || kind == OP_REPLACE || kind == OP_TEST) && f.value == NULL) {
    fail(err, VR_PATCH_BAD_PATCH, "%s: missing \"value\"", prefix);
    return 0;
  }
  if ((kind == OP_MOVE || kind == OP_COPY) && (f.from == NULL || !cJSON_IsString(f.from))) {
    fail(err, VR_PATCH_BAD_PATCH, "%s: %s", prefix,
         f.from == NULL ? "missing \"from\"" : "\"from\" is not a string");
    return 0;
  }
  rc = op_pointer(f.path, &path, prefix, err);
  if (rc == R_OK && (kind == OP_MOVE || kind == OP_COPY)) {
    char from_prefix[200];
    snprintf(from_prefix, sizeof from_prefix, "%s: from %s", prefix,
             shorten(f.from->valuestring, shown, sizeof shown));
    rc = op_pointer(f.from, &from, from_prefix, err);
  }
  if (rc == R_OK) {
    why[0] = '\0';
    rc = op_run(kind, root, &path, &from, f.value, prefix, why, sizeof why, err);
    if (rc == R_FAIL) fail(err, VR_PATCH_CANNOT_APPLY, "%s: %s", prefix, why);
    if (rc == R_NOMEM) fail_memory(err);
  }
  ptr_free(&path);
  ptr_free(&from);
  return rc == R_OK;
}

cJSON *vr_patch_json(const cJSON *doc, const cJSON *ops, vr_patch_error *err) {
  vr_patch_error local;
  const cJSON *op;
  cJSON *work;
  int index = 0;
  if (err == NULL) err = &local;
  clear_error(err);
  if (!check_tree(doc, "document", err) || !check_tree(ops, "patch", err)) return NULL;
  if (!cJSON_IsArray(ops)) {
    fail(err, VR_PATCH_BAD_PATCH, "a JSON patch must be an array of operations");
    return NULL;
  }
  work = dup_value(doc);
  if (work == NULL) {
    fail_memory(err);
    return NULL;
  }
  for (op = ops->child; op != NULL; op = op->next, index++) {
    if (!op_apply(&work, op, index, err)) {
      cJSON_Delete(work);
      return NULL;
    }
  }
  return work;
}

/* ============================================================================================
 * Strategic merge patch
 * ============================================================================================ */

typedef enum smp_strategy {
  SMP_LIST_BY_KEY, /* list of maps merged on merge_key (patchStrategy merge + patchMergeKey) */
  SMP_LIST_SET,    /* list of primitives merged as a set (patchStrategy merge, no key) */
  SMP_MAP_REPLACE, /* map taken as given, not merged (patchStrategy replace) */
} smp_strategy;

typedef struct smp_rule {
  const char *kind; /* NULL: every known kind (ObjectMeta) */
  const char *path; /* dotted field path; "[]" is an element of the merged list before it */
  smp_strategy strategy;
  const char *merge_key;
} smp_rule;

/* Fields without an entry are maps that merge or lists that are replaced. */
static const smp_rule smp_rules[] = {
    /* ObjectMeta (apimachinery meta/v1 types.go) */
    {NULL, "metadata.finalizers", SMP_LIST_SET, NULL},
    {NULL, "metadata.ownerReferences", SMP_LIST_BY_KEY, "uid"},
    /* Node (core/v1 NodeSpec, NodeStatus). spec.taints: none, replaced (see the file comment). */
    {"Node", "spec.podCIDRs", SMP_LIST_SET, NULL},
    {"Node", "status.conditions", SMP_LIST_BY_KEY, "type"},
    {"Node", "status.addresses", SMP_LIST_BY_KEY, "type"},
    /* Pod (core/v1 PodSpec, Container, EphemeralContainerCommon, PodStatus). tolerations,
       readinessGates, command, args, envFrom: none, replaced. */
    {"Pod", "spec.volumes", SMP_LIST_BY_KEY, "name"}, /* merge,retainKeys */
    {"Pod", "spec.initContainers", SMP_LIST_BY_KEY, "name"},
    {"Pod", "spec.containers", SMP_LIST_BY_KEY, "name"},
    {"Pod", "spec.ephemeralContainers", SMP_LIST_BY_KEY, "name"},
    {"Pod", "spec.imagePullSecrets", SMP_LIST_BY_KEY, "name"},
    {"Pod", "spec.hostAliases", SMP_LIST_BY_KEY, "ip"},
    {"Pod", "spec.topologySpreadConstraints", SMP_LIST_BY_KEY, "topologyKey"},
    {"Pod", "spec.schedulingGates", SMP_LIST_BY_KEY, "name"},
    {"Pod", "spec.resourceClaims", SMP_LIST_BY_KEY, "name"}, /* merge,retainKeys */
    {"Pod", "spec.initContainers[].ports", SMP_LIST_BY_KEY, "containerPort"},
    {"Pod", "spec.initContainers[].env", SMP_LIST_BY_KEY, "name"},
    {"Pod", "spec.initContainers[].volumeMounts", SMP_LIST_BY_KEY, "mountPath"},
    {"Pod", "spec.initContainers[].volumeDevices", SMP_LIST_BY_KEY, "devicePath"},
    {"Pod", "spec.containers[].ports", SMP_LIST_BY_KEY, "containerPort"},
    {"Pod", "spec.containers[].env", SMP_LIST_BY_KEY, "name"},
    {"Pod", "spec.containers[].volumeMounts", SMP_LIST_BY_KEY, "mountPath"},
    {"Pod", "spec.containers[].volumeDevices", SMP_LIST_BY_KEY, "devicePath"},
    {"Pod", "spec.ephemeralContainers[].ports", SMP_LIST_BY_KEY, "containerPort"},
    {"Pod", "spec.ephemeralContainers[].env", SMP_LIST_BY_KEY, "name"},
    {"Pod", "spec.ephemeralContainers[].volumeMounts", SMP_LIST_BY_KEY, "mountPath"},
    {"Pod", "spec.ephemeralContainers[].volumeDevices", SMP_LIST_BY_KEY, "devicePath"},
    {"Pod", "status.conditions", SMP_LIST_BY_KEY, "type"},
    {"Pod", "status.podIPs", SMP_LIST_BY_KEY, "ip"},
    {"Pod", "status.hostIPs", SMP_LIST_BY_KEY, "ip"},
    /* PodDisruptionBudget (policy/v1) */
    {"PodDisruptionBudget", "spec.selector", SMP_MAP_REPLACE, NULL},
    {"PodDisruptionBudget", "status.conditions", SMP_LIST_BY_KEY, "type"},
};

static const char *const smp_kinds[] = {
    "Node",
    "Pod",
    "VirtualMachine",
    "VirtualMachineInstance",
    "VirtualMachineInstanceMigration",
    "PodDisruptionBudget",
    "Lease",
};

#define SMP_PATH_MAX 200

typedef struct smp {
  const char *kind; /* NULL: no rules apply */
  char path[SMP_PATH_MAX];
  size_t len;
  int lost; /* the path did not fit: no rule can match */
  vr_patch_error *err;
} smp;

static const char DIR_PATCH[] = "$patch";
static const char DIR_RETAIN[] = "$retainKeys";
static const char DIR_DELETE_PREFIX[] = "$deleteFromPrimitiveList/";
static const char DIR_ORDER_PREFIX[] = "$setElementOrder/";

typedef struct smp_mark {
  size_t len;
  int lost;
} smp_mark;

/* Appends ".seg" (or "seg" at the top, or "[]" when element) to the path; returns the mark that
 * smp_pop restores. */
static smp_mark smp_push(smp *s, const char *seg, int element) {
  smp_mark mark = {s->len, s->lost};
  size_t n = element ? 2 : strlen(seg) + (s->len > 0);
  if (s->lost || s->len + n >= sizeof s->path) {
    s->lost = 1;
    return mark;
  }
  if (element) {
    memcpy(s->path + s->len, "[]", 3);
  } else {
    if (s->len > 0) s->path[s->len++] = '.';
    memcpy(s->path + s->len, seg, strlen(seg) + 1);
  }
  s->len += element ? 2 : strlen(seg);
  return mark;
}

static void smp_pop(smp *s, smp_mark mark) {
  s->len = mark.len;
  s->lost = mark.lost;
  s->path[s->len] = '\0';
}

static void smp_fail(smp *s, const char *fmt, ...) PATCH_PRINTF(2, 3);

/* Fails with VR_PATCH_BAD_PATCH, the message prefixed by the current field path. */
static void smp_fail(smp *s, const char *fmt, ...) {
  char what[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  fail(s->err, VR_PATCH_BAD_PATCH, "%s%s: %s", s->len > 0 ? s->path : "patch", s->lost ? "..." : "",
       what);
}

/* The rule for the current path, or NULL. */
static const smp_rule *smp_rule_here(const smp *s) {
  size_t i;
  if (s->kind == NULL || s->lost) return NULL;
  for (i = 0; i < sizeof smp_rules / sizeof smp_rules[0]; i++) {
    if ((smp_rules[i].kind == NULL || strcmp(smp_rules[i].kind, s->kind) == 0) &&
        strcmp(smp_rules[i].path, s->path) == 0) {
      return &smp_rules[i];
    }
  }
  return NULL;
}

static int starts_with(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The directive member of patch named prefix + key (the last one), or NULL. */
static const cJSON *directive_for(const cJSON *patch, const char *prefix, const char *key) {
  const cJSON *c, *found = NULL;
  size_t n = strlen(prefix);
  for (c = patch->child; c != NULL; c = c->next) {
    if (strncmp(c->string, prefix, n) == 0 && strcmp(c->string + n, key) == 0) found = c;
  }
  return found;
}

/* The last member of patch named key that is not a directive (does not start with '$'). */
static const cJSON *plain_member(const cJSON *patch, const char *key) {
  return key[0] == '$' ? NULL : last_member(patch, key);
}

/* 1 when every member of array is a string. */
static int all_strings(const cJSON *array) {
  const cJSON *c;
  for (c = array->child; c != NULL; c = c->next) {
    if (!cJSON_IsString(c)) return 0;
  }
  return 1;
}

/* 1 when array (of strings) holds key. */
static int has_string(const cJSON *array, const char *key) {
  const cJSON *c;
  for (c = array->child; c != NULL; c = c->next) {
    if (strcmp(c->valuestring, key) == 0) return 1;
  }
  return 0;
}

/* Checks the directives of a patch map. Sets *directive to the $patch value (NULL when none) and
 * *retain to the $retainKeys list (or NULL). Returns 0 with the error set. */
static int smp_map_directives(smp *s, const cJSON *patch, const char **directive,
                              const cJSON **retain) {
  const cJSON *c;
  char shown[64];
  *directive = NULL;
  *retain = NULL;
  for (c = patch->child; c != NULL; c = c->next) {
    if (c->string[0] != '$') continue;
    if (strcmp(c->string, DIR_PATCH) == 0) {
      if (!cJSON_IsString(c) ||
          (strcmp(c->valuestring, "replace") != 0 && strcmp(c->valuestring, "delete") != 0 &&
           strcmp(c->valuestring, "merge") != 0)) {
        smp_fail(s, "unknown $patch directive %s",
                 cJSON_IsString(c) ? shorten(c->valuestring, shown, sizeof shown)
                                   : "(not a string)");
        return 0;
      }
      *directive = c->valuestring;
    } else if (strcmp(c->string, DIR_RETAIN) == 0) {
      if (!cJSON_IsArray(c) || !all_strings(c)) {
        smp_fail(s, "$retainKeys must be a list of field names");
        return 0;
      }
      *retain = c;
    } else if (starts_with(c->string, DIR_DELETE_PREFIX) ||
               starts_with(c->string, DIR_ORDER_PREFIX)) {
      const char *field = strchr(c->string, '/') + 1;
      if (field[0] == '\0' || !cJSON_IsArray(c)) {
        smp_fail(s, "%s must name a field and hold a list",
                 shorten(c->string, shown, sizeof shown));
        return 0;
      }
    } else {
      smp_fail(s, "unknown directive \"%s\"", shorten(c->string, shown, sizeof shown));
      return 0;
    }
  }
  if (*retain != NULL) {
    for (c = patch->child; c != NULL; c = c->next) {
      if (c->string[0] == '$' || cJSON_IsNull(c) || has_string(*retain, c->string)) continue;
      smp_fail(s, "field \"%s\" is not listed in $retainKeys",
               shorten(c->string, shown, sizeof shown));
      return 0;
    }
  }
  return 1;
}

static int smp_value(smp *s, const cJSON *orig, const cJSON *patch, cJSON **out);
static int smp_map(smp *s, const cJSON *orig, const cJSON *patch, cJSON **out);

/* A copy of list without the elements equal to one in values (caller owns), or NULL (memory). */
static cJSON *without_values(const cJSON *list, const cJSON *values) {
  cJSON *out = cJSON_CreateArray(), *copy;
  const cJSON *c;
  if (out == NULL) return NULL;
  for (c = list->child; c != NULL; c = c->next) {
    if (array_contains(values, c)) continue;
    copy = dup_value(c);
    if (copy == NULL || !put(out, NULL, copy)) {
      cJSON_Delete(out);
      return NULL;
    }
  }
  return out;
}

/* The position of the first entry of order that names elem (by merge key for keyed lists, by
 * value otherwise), or -1. */
static int order_rank(const cJSON *order, const cJSON *elem, const smp_rule *rule) {
  const cJSON *c, *key = NULL;
  int rank = 0;
  if (rule->strategy == SMP_LIST_BY_KEY) {
    if (!cJSON_IsObject(elem)) return -1;
    key = cJSON_GetObjectItemCaseSensitive(elem, rule->merge_key);
    if (key == NULL) return -1;
  }
  for (c = order->child; c != NULL; c = c->next, rank++) {
    if (key != NULL) {
      const cJSON *k =
          cJSON_IsObject(c) ? cJSON_GetObjectItemCaseSensitive(c, rule->merge_key) : NULL;
      if (k != NULL && equal(k, key)) return rank;
    } else if (equal(c, elem)) {
      return rank;
    }
  }
  return -1;
}

/* $setElementOrder: the elements of list (owned by the caller) that order names take, in the
 * order's order, the positions the named elements held; the others stay where they are. Returns
 * 0 when memory runs out (list unchanged). */
static int reorder(cJSON *list, const cJSON *order, const smp_rule *rule) {
  int n = cJSON_GetArraySize(list), i, j, named = 0;
  cJSON **items, **placed, *c;
  int *rank, *by_rank;
  if (n < 2) return 1;
  items = cJSON_malloc(2 * (size_t)n * sizeof *items);
  rank = cJSON_malloc(2 * (size_t)n * sizeof *rank);
  if (items == NULL || rank == NULL) {
    cJSON_free(items);
    cJSON_free(rank);
    return 0;
  }
  placed = items + n;
  by_rank = rank + n; /* positions of the named elements, sorted by rank (stable) */
  for (i = 0, c = list->child; c != NULL; c = c->next, i++) {
    items[i] = c;
    rank[i] = order_rank(order, c, rule);
    if (rank[i] < 0) continue;
    for (j = named++; j > 0 && rank[by_rank[j - 1]] > rank[i]; j--) by_rank[j] = by_rank[j - 1];
    by_rank[j] = i;
  }
  for (i = 0, j = 0; i < n; i++) placed[i] = rank[i] < 0 ? items[i] : items[by_rank[j++]];
  while (list->child != NULL) cJSON_DetachItemViaPointer(list, list->child);
  for (i = 0; i < n; i++) cJSON_AddItemToArray(list, placed[i]);
  cJSON_free(items);
  cJSON_free(rank);
  return 1;
}

/* The $patch value of a list element, or NULL when it is not a directive element. */
static const cJSON *element_directive(const cJSON *elem) {
  return cJSON_IsObject(elem) ? cJSON_GetObjectItemCaseSensitive(elem, DIR_PATCH) : NULL;
}

/* Merges the list patch into orig (NULL when absent) under rule (NULL: replace). *out gets the new
 * list. Returns 0 with the error set. The path is the list's field. */
static int smp_list(smp *s, const cJSON *orig, const cJSON *patch, const smp_rule *rule,
                    cJSON **out) {
  const cJSON *e, *d;
  cJSON *result = NULL, *value;
  int replace = 0, index = 0, by_key = rule != NULL && rule->strategy == SMP_LIST_BY_KEY;
  smp_mark mark;
  char shown[64];
  *out = NULL;
  for (e = patch->child; e != NULL; e = e->next, index++) {
    if ((d = element_directive(e)) == NULL) continue;
    if (!cJSON_IsString(d)) {
      smp_fail(s, "element %d: $patch is not a string", index);
      return 0;
    }
    if (strcmp(d->valuestring, "replace") == 0) {
      if (cJSON_GetArraySize(e) != 1) {
        smp_fail(s, "element %d: {\"$patch\": \"replace\"} takes no other fields", index);
        return 0;
      }
      replace = 1;
    } else if (strcmp(d->valuestring, "delete") == 0) {
      if (!by_key) {
        smp_fail(s, "element %d: $patch: delete needs a list merged by key, and this one is not",
                 index);
        return 0;
      }
      if (cJSON_GetObjectItemCaseSensitive(e, rule->merge_key) == NULL) {
        smp_fail(s, "element %d: $patch: delete without the merge key \"%s\"", index,
                 rule->merge_key);
        return 0;
      }
    } else if (strcmp(d->valuestring, "merge") != 0) {
      smp_fail(s, "element %d: unknown $patch directive %s", index,
               shorten(d->valuestring, shown, sizeof shown));
      return 0;
    }
  }
  if (by_key && !replace) {
    result = orig != NULL ? dup_value(orig) : cJSON_CreateArray();
  } else if (rule != NULL && rule->strategy == SMP_LIST_SET && !replace && orig != NULL) {
    result = cJSON_CreateArray();
    for (e = orig->child; result != NULL && e != NULL; e = e->next) {
      if (array_contains(result, e)) continue;
      value = dup_value(e);
      if (value == NULL || !put(result, NULL, value)) {
        cJSON_Delete(result);
        result = NULL;
      }
    }
  } else {
    result = cJSON_CreateArray();
  }
  if (result == NULL) {
    fail_memory(s->err);
    return 0;
  }
  mark = smp_push(s, NULL, 1);
  index = 0;
  for (e = patch->child; e != NULL; e = e->next, index++) {
    const cJSON *key = NULL;
    cJSON *found = NULL, *c;
    d = element_directive(e);
    if (d != NULL && (strcmp(d->valuestring, "replace") == 0 ||
                      (strcmp(d->valuestring, "merge") == 0 && cJSON_GetArraySize(e) == 1))) {
      continue;
    }
    if (d != NULL && strcmp(d->valuestring, "delete") == 0) {
      if (replace) continue;
      key = cJSON_GetObjectItemCaseSensitive(e, rule->merge_key);
      for (c = result->child; c != NULL;) {
        cJSON *next = c->next;
        const cJSON *k =
            cJSON_IsObject(c) ? cJSON_GetObjectItemCaseSensitive(c, rule->merge_key) : NULL;
        if (k != NULL && equal(k, key)) cJSON_Delete(cJSON_DetachItemViaPointer(result, c));
        c = next;
      }
      continue;
    }
    if (by_key && !replace) {
      if (!cJSON_IsObject(e)) {
        smp_pop(s, mark);
        smp_fail(s, "element %d is not a map (the list merges on \"%s\")", index, rule->merge_key);
        goto fail;
      }
      key = cJSON_GetObjectItemCaseSensitive(e, rule->merge_key);
      if (key == NULL) {
        smp_pop(s, mark);
        smp_fail(s, "element %d has no merge key \"%s\"", index, rule->merge_key);
        goto fail;
      }
      for (c = result->child; c != NULL && found == NULL; c = c->next) {
        const cJSON *k =
            cJSON_IsObject(c) ? cJSON_GetObjectItemCaseSensitive(c, rule->merge_key) : NULL;
        if (k != NULL && equal(k, key)) found = c;
      }
      if (!smp_map(s, found, e, &value)) goto fail;
    } else if (!smp_value(s, NULL, e, &value)) {
      goto fail;
    }
    if (value == NULL) continue; /* cannot happen: delete elements were handled above */
    if (found != NULL) {
      swap_in(result, found, value);
    } else if (rule != NULL && rule->strategy == SMP_LIST_SET && !replace &&
               array_contains(result, value)) {
      cJSON_Delete(value);
    } else if (!put(result, NULL, value)) {
      fail_memory(s->err);
      goto fail;
    }
  }
  smp_pop(s, mark);
  *out = result;
  return 1;
fail:
  smp_pop(s, mark);
  cJSON_Delete(result);
  return 0;
}

/* Merges patch (not null) into orig (NULL when absent) at the current path. *out gets the new
 * value, or NULL when a $patch: delete removes the field. Returns 0 with the error set. */
static int smp_value(smp *s, const cJSON *orig, const cJSON *patch, cJSON **out) {
  const smp_rule *rule = smp_rule_here(s);
  if (cJSON_IsObject(patch)) {
    if (rule != NULL && rule->strategy == SMP_MAP_REPLACE) orig = NULL;
    return smp_map(s, cJSON_IsObject(orig) ? orig : NULL, patch, out);
  }
  if (cJSON_IsArray(patch)) {
    if (rule != NULL && rule->strategy == SMP_MAP_REPLACE) rule = NULL;
    return smp_list(s, cJSON_IsArray(orig) ? orig : NULL, patch, rule, out);
  }
  *out = dup_value(patch);
  if (*out == NULL) {
    fail_memory(s->err);
    return 0;
  }
  return 1;
}

/* The new value of field key of a map: orig_member and patch_member may each be NULL (not both);
 * patch is the patch map, for the field's directives. *out gets NULL when the field goes. */
static int smp_field(smp *s, const char *key, const cJSON *orig_member, const cJSON *patch_member,
                     const cJSON *patch, cJSON **out) {
  const cJSON *del = directive_for(patch, DIR_DELETE_PREFIX, key);
  const cJSON *order = directive_for(patch, DIR_ORDER_PREFIX, key);
  const cJSON *base = orig_member;
  cJSON *trimmed = NULL;
  smp_mark mark = smp_push(s, key, 0);
  int ok = 1;
  *out = NULL;
  if (del != NULL && cJSON_IsArray(base)) {
    trimmed = without_values(base, del);
    if (trimmed == NULL) goto nomem;
    base = trimmed;
  }
  if (patch_member != NULL) {
    ok = smp_value(s, base, patch_member, out);
    cJSON_Delete(trimmed);
  } else if (trimmed != NULL) {
    *out = trimmed;
  } else {
    *out = dup_value(base);
    if (*out == NULL) goto nomem;
  }
  if (ok && order != NULL && cJSON_IsArray(*out)) {
    const smp_rule *rule = smp_rule_here(s);
    if (rule != NULL && rule->strategy != SMP_MAP_REPLACE && !reorder(*out, order, rule)) {
      cJSON_Delete(*out);
      *out = NULL;
      goto nomem;
    }
  }
  smp_pop(s, mark);
  return ok;
nomem:
  smp_pop(s, mark);
  fail_memory(s->err);
  return 0;
}

/* Merges the patch map into orig (NULL when absent) at the current path. *out gets the new map, or
 * NULL when $patch: delete removes it. Returns 0 with the error set. */
static int smp_map(smp *s, const cJSON *orig, const cJSON *patch, cJSON **out) {
  const char *directive;
  const cJSON *retain, *m;
  cJSON *result, *value;
  *out = NULL;
  if (!smp_map_directives(s, patch, &directive, &retain)) return 0;
  if (directive != NULL && strcmp(directive, "delete") == 0) return 1;
  if (directive != NULL && strcmp(directive, "replace") == 0) orig = NULL;
  result = cJSON_CreateObject();
  if (result == NULL) goto nomem;
  for (m = orig != NULL ? orig->child : NULL; m != NULL; m = m->next) {
    const cJSON *p = plain_member(patch, m->string);
    if (retain != NULL && !has_string(retain, m->string)) continue;
    if (p != NULL && cJSON_IsNull(p)) continue;
    if (!smp_field(s, m->string, m, p, patch, &value)) goto fail;
    if (value != NULL && !put(result, m->string, value)) goto nomem;
  }
  for (m = patch->child; m != NULL; m = m->next) {
    if (m->string[0] == '$' || cJSON_IsNull(m) || last_member(patch, m->string) != m) continue;
    if (orig != NULL && cJSON_GetObjectItemCaseSensitive(orig, m->string) != NULL) continue;
    if (!smp_field(s, m->string, NULL, m, patch, &value)) goto fail;
    if (value != NULL && !put(result, m->string, value)) goto nomem;
  }
  *out = result;
  return 1;
nomem:
  fail_memory(s->err);
fail:
  cJSON_Delete(result);
  return 0;
}

int vr_patch_strategic_known(const char *kind) {
  size_t i;
  if (kind == NULL) return 0;
  for (i = 0; i < sizeof smp_kinds / sizeof smp_kinds[0]; i++) {
    if (strcmp(smp_kinds[i], kind) == 0) return 1;
  }
  return 0;
}

cJSON *vr_patch_strategic(const cJSON *doc, const cJSON *patch, const char *kind,
                          vr_patch_error *err) {
  vr_patch_error local;
  smp s;
  cJSON *out;
  if (err == NULL) err = &local;
  clear_error(err);
  if (!check_tree(doc, "document", err) || !check_tree(patch, "patch", err)) return NULL;
  if (!cJSON_IsObject(patch)) {
    fail(err, VR_PATCH_BAD_PATCH, "a strategic merge patch must be a JSON object");
    return NULL;
  }
  if (kind == NULL && cJSON_IsObject(doc)) {
    kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "kind"));
  }
  s.kind = vr_patch_strategic_known(kind) ? kind : NULL;
  s.path[0] = '\0';
  s.len = 0;
  s.lost = 0;
  s.err = err;
  if (!smp_map(&s, cJSON_IsObject(doc) ? doc : NULL, patch, &out)) return NULL;
  if (out == NULL) {
    fail(err, VR_PATCH_BAD_PATCH, "patch: $patch: delete at the top level would delete the object");
  }
  return out;
}

/* ============================================================================================
 * Content types and dispatch
 * ============================================================================================ */

vr_patch_type vr_patch_type_of(const char *content_type) {
  static const struct {
    const char *name;
    vr_patch_type type;
  } types[] = {
      {"application/merge-patch+json", VR_PATCH_TYPE_MERGE},
      {"application/json-patch+json", VR_PATCH_TYPE_JSON},
      {"application/strategic-merge-patch+json", VR_PATCH_TYPE_STRATEGIC},
  };
  size_t len, i;
  if (content_type == NULL) return VR_PATCH_TYPE_UNSUPPORTED;
  while (*content_type == ' ' || *content_type == '\t') content_type++;
  len = strcspn(content_type, "; \t");
  for (i = 0; i < sizeof types / sizeof types[0]; i++) {
    if (strlen(types[i].name) == len && strncasecmp(types[i].name, content_type, len) == 0) {
      return types[i].type;
    }
  }
  return VR_PATCH_TYPE_UNSUPPORTED;
}

cJSON *vr_patch_apply(vr_patch_type type, const cJSON *doc, const cJSON *patch, const char *kind,
                      vr_patch_error *err) {
  vr_patch_error local;
  if (err == NULL) err = &local;
  switch (type) {
  case VR_PATCH_TYPE_MERGE:
    return vr_patch_merge(doc, patch, err);
  case VR_PATCH_TYPE_JSON:
    return vr_patch_json(doc, patch, err);
  case VR_PATCH_TYPE_STRATEGIC:
    return vr_patch_strategic(doc, patch, kind, err);
  default:
    fail(err, VR_PATCH_BAD_PATCH, "unsupported patch type");
    return NULL;
  }
}
