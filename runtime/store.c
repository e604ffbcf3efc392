/* store.c: the simulator's object store, or in mirror mode a copy of another server's objects
 * (see store.h). Objects are wrapped in reference-counted immutable records shared by the store
 * and its event log; indexes are string hash maps. */
#include "store.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"
#include "json_pool.h"
#include "kinds.h"
#include "pod_requests.h"
#include "strmap.h"

#define SEP "\x1f" /* separates the parts of composite keys */

typedef struct stored {
  cJSON *json;
  int refs;
  char *kind_key;       /* "group/kind" */
  char *ns;             /* "" for cluster-scoped objects */
  char *node;           /* the node index value, or NULL */
  char *ref;            /* the reference index value, or NULL */
  int unfinished;       /* in the unfinished index: a VMIM whose phase is not Succeeded or Failed */
  int live_pod;         /* a Pod not Succeeded or Failed: its requests count on its node */
  vr_requests requests; /* a live pod's, read once when it is stored */
  uint64_t rv; /* the store's revision of its write: metadata.resourceVersion as a number (0:
                 none), or in mirror mode the local revision (the server's are not in order) */
} stored;

/* What the live pods bound to a node request, kept as pods come, change and go. */
typedef struct node_sum {
  vr_requests requests;
  int64_t pods;
  uint64_t rv; /* the revision of the last change */
} node_sum;

typedef struct event {
  vr_watch_type type;
  uint64_t rv;
  stored *obj;
  stored *prev; /* the object before this event (NULL for ADDED): what a resuming watch saw */
} event;

struct vr_store_watch {
  char *kind_key;
  char *ns; /* NULL: all namespaces */
  vr_watch_cb cb;
  void *ctx;
  int dead;
  vr_store_watch *next;
};

struct vr_store {
  vr_strmap kinds;      /* kind_key -> vr_strmap* ("ns" SEP "name" -> stored*) */
  vr_strmap node_index; /* kind_key SEP node -> vr_strmap* ("ns" SEP "name" -> stored*) */
  vr_strmap ref_index;  /* kind_key SEP ns SEP ref -> vr_strmap* ("ns" SEP "name" -> stored*) */
  vr_strmap unfinished_index; /* kind_key -> vr_strmap* ("ns" SEP "name" -> stored*) */
  vr_strmap cluster_kinds;    /* kind_key -> (void *)1 for the cluster-scoped kinds stored so far */
  vr_strmap kind_rv;          /* kind_key -> (void *)(uintptr_t) rv of the kind's last change */
  vr_strmap node_sums;        /* node -> node_sum* (kept at zero pods: that change counts too) */
  int node_sums_lost;         /* a node_sum could not be made: sums are read from the pods */
  int kind_rv_lost;           /* a kind_rv entry could not be made: every kind reports rv */
  uint64_t rv;
  uint64_t rng;
  event *log;
  size_t log_cap, log_len, log_start; /* ring buffer */
  vr_store_watch *watches;
  int notifying;
  uint64_t (*now_ms)(void *ctx);
  void *clock_ctx;
  vr_admit_fn admit; /* may refuse creates and replaces (NULL: accept all) */
  void *admit_ctx;
  int (*finalizer_done)(void *ctx, const char *name); /* finalizers that never hold a delete */
  void *finalizer_ctx;
  int mirror; /* objects as another server sent them: vr_store_mirror_put and _remove only */
};

static void set_error(vr_store_error *err, int status, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void set_error(vr_store_error *err, int status, const char *reason, const char *fmt, ...) {
  va_list ap;
  if (err == NULL) return;
  err->status = status;
  snprintf(err->reason, sizeof err->reason, "%s", reason);
  va_start(ap, fmt);
  vsnprintf(err->message, sizeof err->message, fmt, ap);
  va_end(ap);
}

static void clear_error(vr_store_error *err) {
  if (err == NULL) return;
  err->status = 0;
  err->reason[0] = '\0';
  err->message[0] = '\0';
}

static void stored_unref(stored *o) {
  if (o == NULL || --o->refs > 0) return;
  cJSON_Delete(o->json);
  free(o->kind_key);
  free(o->ns);
  free(o->node);
  free(o->ref);
  free(o);
}

/* --- identity ------------------------------------------------------------------------------ */

void vr_api_group(const char *api_version, char *buf, size_t len) {
  const char *slash = api_version ? strchr(api_version, '/') : NULL;
  size_t n = slash ? (size_t)(slash - api_version) : 0;
  if (n >= len) n = len - 1;
  memcpy(buf, api_version ? api_version : "", n);
  buf[n] = '\0';
}

int vr_kind_cluster_scoped(const char *group, const char *kind) {
  static const char *const other_scoped[] = {
      /* cluster-scoped kinds outside the kinds table */
      "apiextensions.k8s.io/CustomResourceDefinition",
      "rbac.authorization.k8s.io/ClusterRole",
      "rbac.authorization.k8s.io/ClusterRoleBinding",
      "nodemaintenance.kubevirt.io/NodeMaintenance", /* the deprecated group (reference §5.1) */
      NULL,
  };
  char key[256];
  const vr_kind_info *known;
  int i;
  snprintf(key, sizeof key, "%s/%s", group, kind);
  known = vr_kind_lookup(key);
  if (known != NULL) return !known->namespaced;
  for (i = 0; other_scoped[i]; i++) {
    if (strcmp(other_scoped[i], key) == 0) return 1;
  }
  return 0;
}

static const char *string_at(const cJSON *obj, const char *a, const char *b) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, a);
  if (b != NULL) v = cJSON_GetObjectItemCaseSensitive(v, b);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The node an object is indexed under: Pods by spec.nodeName, VMIs by status.nodeName. */
static const char *node_of(const char *kind_key, const cJSON *obj) {
  if (strcmp(kind_key, "/Pod") == 0) return string_at(obj, "spec", "nodeName");
  if (strcmp(kind_key, "kubevirt.io/VirtualMachineInstance") == 0) {
    return string_at(obj, "status", "nodeName");
  }
  return NULL;
}

/* Whether an object goes in the unfinished index: VMIMs not in a final phase (the few that
 * hold or wait for a migration slot, among the many finished ones a cluster keeps). */
static int unfinished_of(const char *kind_key, const cJSON *obj) {
  const char *phase;
  if (strcmp(kind_key, "kubevirt.io/VirtualMachineInstanceMigration") != 0) return 0;
  phase = string_at(obj, "status", "phase");
  return phase == NULL || (strcmp(phase, "Succeeded") != 0 && strcmp(phase, "Failed") != 0);
}

/* The VMI an object belongs to, for the reference index: VMIMs by spec.vmiName, Pods by the
 * kubevirt.io/created-by label (the VMI's uid, on virt-launcher pods). */
static const char *ref_of(const char *kind_key, const cJSON *obj) {
  if (strcmp(kind_key, "/Pod") == 0) {
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "labels");
    return string_at(labels, "kubevirt.io/created-by", NULL);
  }
  if (strcmp(kind_key, "kubevirt.io/VirtualMachineInstanceMigration") == 0) {
    return string_at(obj, "spec", "vmiName");
  }
  return NULL;
}

static int valid_name(const char *name) {
  size_t n = strlen(name), i;
  if (n == 0 || n > 253) return 0;
  for (i = 0; i < n; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return 0;
  }
  return name[0] != '-' && name[0] != '.' && name[n - 1] != '-' && name[n - 1] != '.';
}

static uint64_t next_random(vr_store *s) {
  uint64_t x = s->rng; /* xorshift64* */
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  s->rng = x;
  return x * 2685821657736338717ull;
}

static void set_string(cJSON *obj, const char *key, const char *value) {
  cJSON *old = cJSON_GetObjectItemCaseSensitive(obj, key), *v;
  if (cJSON_IsString(old) && old->valuestring != NULL && value != NULL) {
    /* the common case, on every write: uid and creationTimestamp kept, resourceVersion bumped */
    if (strcmp(old->valuestring, value) == 0 || cJSON_SetValuestring(old, value) != NULL) return;
  }
  v = cJSON_CreateString(value);
  if (v == NULL) return;
  if (old != NULL) { /* not a string (resourceVersion: 12 in a file): replaced, name and all */
    cJSON_ReplaceItemInObjectCaseSensitive(obj, key, v);
  } else {
    cJSON_AddItemToObject(obj, key, v);
  }
}

/* buf = a sep b, cut to len - 1 characters (keys are built on every read: no printf). */
static void join(char *buf, size_t len, const char *a, const char *sep, const char *b) {
  size_t used = 0;
  const char *parts[3] = {a, sep, b};
  int i;
  for (i = 0; i < 3; i++) {
    size_t n = strlen(parts[i]);
    if (n > len - 1 - used) n = len - 1 - used;
    memcpy(buf + used, parts[i], n);
    used += n;
  }
  buf[used] = '\0';
}

/* Whether a kind is cluster-scoped: from the store's sets once it holds the kind. */
static int kind_scoped(const vr_store *s, const char *group, const char *kind) {
  char kind_key[300];
  join(kind_key, sizeof kind_key, group, "/", kind);
  if (vr_strmap_get(&s->cluster_kinds, kind_key) != NULL) return 1;
  if (vr_strmap_get(&s->kinds, kind_key) != NULL) return 0;
  return vr_kind_cluster_scoped(group, kind);
}

/* Checks the identity of obj and fills group/kind/ns/name; fixes the namespace. 0 or -1. */
static int identity(const vr_store *s, cJSON *obj, char *group, size_t glen, const char **kind,
                    const char **ns, const char **name, vr_store_error *err) {
  cJSON *meta;
  const char *api_version = string_at(obj, "apiVersion", NULL);
  *kind = string_at(obj, "kind", NULL);
  if (!cJSON_IsObject(obj)) {
    set_error(err, 422, "Invalid", "the object is not a JSON/YAML mapping");
    return -1;
  }
  if (api_version == NULL || *kind == NULL || (*kind)[0] == '\0') {
    set_error(err, 422, "Invalid", "%s is missing", api_version == NULL ? "apiVersion" : "kind");
    return -1;
  }
  meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
  if (!cJSON_IsObject(meta)) {
    set_error(err, 422, "Invalid", "%s: metadata is missing", *kind);
    return -1;
  }
  vr_api_group(api_version, group, glen);
  *name = string_at(meta, "name", NULL);
  if (kind_scoped(s, group, *kind)) {
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "namespace");
    *ns = "";
  } else {
    *ns = string_at(meta, "namespace", NULL);
    if (*ns == NULL || (*ns)[0] == '\0') {
      set_string(meta, "namespace", "default");
      *ns = string_at(meta, "namespace", NULL);
    }
    if (*ns == NULL || !valid_name(*ns)) {
      set_error(err, 422, "Invalid", "%s: metadata.namespace '%s' is not a valid name", *kind,
                *ns ? *ns : "");
      return -1;
    }
  }
  return 0;
}

int vr_store_set_cluster_scoped(vr_store *s, const char *group, const char *kind) {
  char kind_key[300];
  join(kind_key, sizeof kind_key, group, "/", kind);
  return vr_strmap_put(&s->cluster_kinds, kind_key, (void *)1);
}

static void object_key(char *buf, size_t len, const char *ns, const char *name) {
  join(buf, len, ns, SEP, name);
}

/* The namespace a read or delete addresses: "" for a cluster-scoped kind stored so far. */
static const char *read_namespace(const vr_store *s, const char *kind_key, const char *ns) {
  return ns == NULL || (ns[0] != '\0' && vr_strmap_get(&s->cluster_kinds, kind_key)) ? "" : ns;
}

static vr_strmap *submap(vr_strmap *m, const char *key, int create) {
  vr_strmap *sub = vr_strmap_get(m, key);
  if (sub != NULL || !create) return sub;
  sub = calloc(1, sizeof *sub);
  if (sub == NULL) return NULL;
  vr_strmap_init(sub);
  if (vr_strmap_put(m, key, sub) != 0) {
    free(sub);
    return NULL;
  }
  return sub;
}

/* --- events --------------------------------------------------------------------------------- */

static void reap_watches(vr_store *s) {
  vr_store_watch **p = &s->watches;
  while (*p) {
    vr_store_watch *w = *p;
    if (w->dead) {
      *p = w->next;
      free(w->kind_key);
      free(w->ns);
      free(w);
    } else {
      p = &w->next;
    }
  }
}

static int watch_wants(const vr_store_watch *w, const stored *o) {
  return !w->dead && strcmp(w->kind_key, o->kind_key) == 0 &&
         (w->ns == NULL || strcmp(w->ns, o->ns) == 0);
}

/* Records that an object of the kind changed at the current revision (cluster.revision(kind)). */
static void note_kind_change(vr_store *s, const char *kind_key) {
  if (vr_strmap_put(&s->kind_rv, kind_key, (void *)(uintptr_t)s->rv) != 0) s->kind_rv_lost = 1;
}

static void event_unref(event *e) {
  stored_unref(e->obj);
  if (e->prev) stored_unref(e->prev);
}

static void emit(vr_store *s, vr_watch_type type, stored *o, stored *prev) {
  event *e;
  vr_store_watch *w;
  if (s->log_len == s->log_cap) { /* overwrite the oldest */
    event_unref(&s->log[s->log_start]);
    s->log_start = (s->log_start + 1) % s->log_cap;
    s->log_len--;
  }
  e = &s->log[(s->log_start + s->log_len) % s->log_cap];
  e->type = type;
  e->rv = s->rv;
  e->obj = o;
  o->refs++;
  e->prev = prev;
  if (prev) prev->refs++;
  s->log_len++;
  note_kind_change(s, o->kind_key);
  s->notifying++;
  for (w = s->watches; w != NULL; w = w->next) {
    if (watch_wants(w, o)) w->cb(w->ctx, type, o->json, s->rv);
  }
  if (--s->notifying == 0) reap_watches(s);
}

/* --- life cycle --------------------------------------------------------------------------- */

int vr_store_set_event_log(vr_store *s, size_t n) {
  event *log;
  size_t keep, skip, i;
  if (n == 0) return -1;
  log = calloc(n, sizeof *log);
  if (log == NULL) return -1;
  keep = s->log_len < n ? s->log_len : n;
  skip = s->log_len - keep;
  for (i = 0; i < skip; i++) event_unref(&s->log[(s->log_start + i) % s->log_cap]);
  for (i = 0; i < keep; i++) log[i] = s->log[(s->log_start + skip + i) % s->log_cap];
  free(s->log);
  s->log = log;
  s->log_cap = n;
  s->log_start = 0;
  s->log_len = keep;
  return 0;
}

vr_store *vr_store_new(uint64_t seed, size_t event_log) {
  vr_store *s = calloc(1, sizeof *s);
  if (s == NULL) return NULL;
  s->log_cap = event_log ? event_log : 4096;
  s->log = calloc(s->log_cap, sizeof *s->log);
  if (s->log == NULL) {
    free(s);
    return NULL;
  }
  vr_strmap_init(&s->kinds);
  vr_strmap_init(&s->node_index);
  vr_strmap_init(&s->ref_index);
  vr_strmap_init(&s->unfinished_index);
  vr_strmap_init(&s->cluster_kinds);
  vr_strmap_init(&s->kind_rv);
  vr_strmap_init(&s->node_sums);
  s->rng = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
  if (s->rng == 0) s->rng = 1;
  return s;
}

static void free_submaps(vr_strmap *m, int unref_objects) {
  size_t pos = 0, p2;
  void *sub;
  while (vr_strmap_next(m, &pos, NULL, &sub)) {
    void *o;
    p2 = 0;
    while (unref_objects && vr_strmap_next(sub, &p2, NULL, &o)) stored_unref(o);
    vr_strmap_clear(sub);
    free(sub);
  }
  vr_strmap_clear(m);
}

void vr_store_free(vr_store *s) {
  size_t i;
  /* at exit with the pool installed (never under memory checkers) the process gives a
   * cluster's hundred thousand records back to the system at once */
  if (s == NULL || vr_json_pool_exiting()) return;
  for (i = 0; i < s->log_len; i++) event_unref(&s->log[(s->log_start + i) % s->log_cap]);
  free(s->log);
  free_submaps(&s->kinds, 1);
  free_submaps(&s->node_index, 0);
  free_submaps(&s->ref_index, 0);
  free_submaps(&s->unfinished_index, 0);
  vr_strmap_clear(&s->cluster_kinds);
  vr_strmap_clear(&s->kind_rv);
  {
    size_t pos = 0;
    void *sum;
    while (vr_strmap_next(&s->node_sums, &pos, NULL, &sum)) free(sum);
    vr_strmap_clear(&s->node_sums);
  }
  while (s->watches) {
    vr_store_watch *w = s->watches;
    s->watches = w->next;
    free(w->kind_key);
    free(w->ns);
    free(w);
  }
  free(s);
}

/* The store's clock as the API server writes timestamps: RFC 3339, whole seconds, UTC. */
static void now_timestamp(const vr_store *s, char *buf, size_t len) {
  time_t secs = (time_t)((s->now_ms ? s->now_ms(s->clock_ctx) : 0) / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* How many of the object's finalizers hold its deletion (the filter's never do). */
static int holding_finalizers(const vr_store *s, const cJSON *obj) {
  const cJSON *f;
  int n = 0;
  cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(
                            cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "finalizers")) {
    if (!cJSON_IsString(f) || s->finalizer_done == NULL ||
        !s->finalizer_done(s->finalizer_ctx, f->valuestring))
      n++;
  }
  return n;
}

void vr_store_set_admission(vr_store *s, vr_admit_fn admit, void *ctx) {
  s->admit = admit;
  s->admit_ctx = ctx;
}

void vr_store_set_clock(vr_store *s, uint64_t (*now_ms)(void *ctx), void *ctx) {
  s->now_ms = now_ms;
  s->clock_ctx = ctx;
}

uint64_t vr_store_revision(const vr_store *s) {
  return s->rv;
}

uint64_t vr_store_kind_revision(const vr_store *s, const char *group, const char *kind) {
  char kind_key[300];
  if (s->kind_rv_lost) return s->rv;
  join(kind_key, sizeof kind_key, group, "/", kind);
  return (uint64_t)(uintptr_t)vr_strmap_get(&s->kind_rv, kind_key);
}

/* --- writes ----------------------------------------------------------------------------------- */

/* A mirror store holds the server's objects as it sent them: the writes of the simulator (which
 * stamp, admit and finalize) are a programming error there. 1 (err filled) when refused. */
static int refused_in_mirror(const vr_store *s, const char *what, vr_store_error *err) {
  if (!s->mirror) return 0;
  set_error(err, 500, "InternalError",
            "%s on a mirror store: it only takes the server's objects (vr_store_mirror_put, "
            "vr_store_mirror_remove)",
            what);
  return 1;
}

/* The reference index key: kind_key SEP ns SEP ref. */
static void ref_key(char *buf, size_t len, const char *kind_key, const char *ns, const char *ref) {
  size_t n;
  join(buf, len, kind_key, SEP, ns);
  n = strlen(buf);
  join(buf + n, len - n, SEP, ref, "");
}

static void index_key(char *buf, size_t len, const stored *o, int ref) {
  if (ref) {
    ref_key(buf, len, o->kind_key, o->ns, o->ref);
  } else {
    join(buf, len, o->kind_key, SEP, o->node);
  }
}

/* Counts a live pod's requests on its node (sign 1) or takes them off (-1), at the current
 * revision. */
static void sum_apply(vr_store *s, const stored *o, int sign) {
  node_sum *sum;
  if (!o->live_pod || o->node == NULL || s->node_sums_lost) return;
  sum = vr_strmap_get(&s->node_sums, o->node);
  if (sum == NULL) {
    sum = calloc(1, sizeof *sum);
    if (sum == NULL || vr_strmap_put(&s->node_sums, o->node, sum) != 0) {
      free(sum);
      s->node_sums_lost = 1;
      return;
    }
  }
  sum->requests.cpu_milli += sign * o->requests.cpu_milli;
  sum->requests.memory += sign * o->requests.memory;
  sum->pods += sign;
  sum->rv = s->rv;
}

/* Adds o to the node and reference indexes it belongs to. */
static void index_add(vr_store *s, stored *o, const char *okey) {
  char key[900];
  vr_strmap *members;
  sum_apply(s, o, 1);
  if (o->node != NULL) {
    index_key(key, sizeof key, o, 0);
    members = submap(&s->node_index, key, 1);
    if (members) vr_strmap_put(members, okey, o);
  }
  if (o->ref != NULL) {
    index_key(key, sizeof key, o, 1);
    members = submap(&s->ref_index, key, 1);
    if (members) vr_strmap_put(members, okey, o);
  }
  if (o->unfinished) {
    members = submap(&s->unfinished_index, o->kind_key, 1);
    if (members) vr_strmap_put(members, okey, o);
  }
}

static void index_drop(vr_strmap *index, const char *key, const char *okey) {
  vr_strmap *members = submap(index, key, 0);
  if (members == NULL) return;
  vr_strmap_remove(members, okey);
  if (vr_strmap_count(members) == 0) { /* an index entry lives as long as it has members */
    vr_strmap_remove(index, key);
    vr_strmap_clear(members);
    free(members);
  }
}

static void index_remove(vr_store *s, stored *o, const char *okey) {
  char key[900];
  sum_apply(s, o, -1);
  if (o->node != NULL) {
    index_key(key, sizeof key, o, 0);
    index_drop(&s->node_index, key, okey);
  }
  if (o->ref != NULL) {
    index_key(key, sizeof key, o, 1);
    index_drop(&s->ref_index, key, okey);
  }
  if (o->unfinished) index_drop(&s->unfinished_index, o->kind_key, okey);
}

static int same_value(const char *a, const char *b) {
  return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Replaces old by o (same key) in the indexes: in place where the indexed value is unchanged. */
static void index_move(vr_store *s, stored *old, stored *o, const char *okey) {
  char key[900];
  vr_strmap *members;
  if (same_value(old->node, o->node) && same_value(old->ref, o->ref) &&
      old->unfinished == o->unfinished) {
    if (old->live_pod != o->live_pod || old->requests.cpu_milli != o->requests.cpu_milli ||
        old->requests.memory != o->requests.memory) {
      sum_apply(s, old, -1);
      sum_apply(s, o, 1);
    }
    if (o->node != NULL) {
      index_key(key, sizeof key, o, 0);
      members = submap(&s->node_index, key, 0);
      if (members) vr_strmap_put(members, okey, o); /* an existing key: no allocation */
    }
    if (o->ref != NULL) {
      index_key(key, sizeof key, o, 1);
      members = submap(&s->ref_index, key, 0);
      if (members) vr_strmap_put(members, okey, o);
    }
    if (o->unfinished) {
      members = submap(&s->unfinished_index, o->kind_key, 0);
      if (members) vr_strmap_put(members, okey, o);
    }
    return;
  }
  index_remove(s, old, okey);
  index_add(s, o, okey);
}

static void stamp(vr_store *s, cJSON *meta) {
  char buf[64];
  s->rv++;
  snprintf(buf, sizeof buf, "%llu", (unsigned long long)s->rv);
  set_string(meta, "resourceVersion", buf);
}

#define INTERN_DEPTH_MAX 64

/* Gives every member name below node that is still a private copy (members the controllers or
 * the REST client added) its interned copy. Stored versions are duplicated on every change and
 * read by name all the time: an interned name is shared by the copies instead of copied again,
 * and the Lua converter pushes it from its cache. Names it cannot intern stay copies; subtrees
 * deeper than INTERN_DEPTH_MAX keep theirs too. */
static void intern_member_names(cJSON *node, int depth) {
  cJSON *c;
  if (depth > INTERN_DEPTH_MAX) return;
  for (c = node->child; c != NULL; c = c->next) {
    if (c->string != NULL && !(c->type & cJSON_StringIsConst)) {
      const char *name = vr_json_intern(c->string);
      if (name != NULL) {
        cJSON_free(c->string);
        c->string = (char *)name;
        c->type |= cJSON_StringIsConst;
      }
    }
    if (c->child != NULL) intern_member_names(c, depth + 1);
  }
}

/* The objects of the kind an object is written to (the map made for a new kind, a cluster-scoped
 * one noted as such), and its kind_key and okey; NULL with err filled when out of memory. */
static vr_strmap *write_target(vr_store *s, const char *group, const char *kind, const char *ns,
                               const char *name, char kind_key[300], char okey[600],
                               vr_store_error *err) {
  vr_strmap *objects;
  join(kind_key, 300, group, "/", kind);
  object_key(okey, 600, ns, name);
  objects = submap(&s->kinds, kind_key, 1);
  if (objects == NULL ||
      (ns[0] == '\0' && vr_strmap_put(&s->cluster_kinds, kind_key, (void *)1) != 0)) {
    set_error(err, 500, "InternalError", "out of memory");
    return NULL;
  }
  return objects;
}

/* Wraps obj (owned) as a stored record; NULL when out of memory (obj freed). */
static stored *wrap(cJSON *obj, const char *kind_key, const char *ns) {
  stored *o = calloc(1, sizeof *o);
  const char *node, *version;
  if (o == NULL) {
    cJSON_Delete(obj);
    return NULL;
  }
  if (obj != NULL) intern_member_names(obj, 0);
  o->json = obj;
  o->refs = 1;
  o->kind_key = strdup(kind_key);
  o->ns = strdup(ns);
  node = node_of(kind_key, obj);
  o->node = node && node[0] ? strdup(node) : NULL;
  node = ref_of(kind_key, obj);
  o->ref = node && node[0] ? strdup(node) : NULL;
  o->unfinished = unfinished_of(kind_key, obj);
  version = string_at(obj, "metadata", "resourceVersion");
  o->rv = version ? strtoull(version, NULL, 10) : 0;
  if (strcmp(kind_key, "/Pod") == 0) {
    const char *phase = string_at(obj, "status", "phase");
    o->live_pod =
        phase == NULL || (strcmp(phase, "Succeeded") != 0 && strcmp(phase, "Failed") != 0);
    if (o->live_pod) o->requests = vr_pod_requests(obj);
  }
  if (o->kind_key == NULL || o->ns == NULL) {
    stored_unref(o);
    return NULL;
  }
  return o;
}

int vr_store_create(vr_store *s, cJSON *obj, const cJSON **out, vr_store_error *err) {
  char group[128], kind_key[300], okey[600], generated[300];
  const char *kind, *ns, *name;
  cJSON *meta;
  vr_strmap *objects;
  stored *o;
  clear_error(err);
  if (refused_in_mirror(s, "vr_store_create", err)) goto fail;
  if (identity(s, obj, group, sizeof group, &kind, &ns, &name, err) != 0) goto fail;
  meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
  if (name == NULL) {
    const char *prefix = string_at(meta, "generateName", NULL);
    if (prefix == NULL) {
      set_error(err, 422, "Invalid", "%s: metadata.name is missing", kind);
      goto fail;
    }
    do {
      static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
      char suffix[6];
      int i;
      for (i = 0; i < 5; i++) suffix[i] = alphabet[next_random(s) % (sizeof alphabet - 1)];
      suffix[5] = '\0';
      snprintf(generated, sizeof generated, "%.240s%s", prefix, suffix);
      join(kind_key, sizeof kind_key, group, "/", kind);
      object_key(okey, sizeof okey, ns, generated);
      objects = submap(&s->kinds, kind_key, 0);
    } while (objects && vr_strmap_get(objects, okey));
    set_string(meta, "name", generated);
    name = string_at(meta, "name", NULL);
  }
  if (name == NULL || !valid_name(name)) {
    set_error(err, 422, "Invalid",
              "%s: metadata.name '%s' is not a valid name (lower-case letters, digits, '-' and "
              "'.', at most 253)",
              kind, name ? name : "");
    goto fail;
  }
  objects = write_target(s, group, kind, ns, name, kind_key, okey, err);
  if (objects == NULL) goto fail;
  if (s->admit && s->admit(s->admit_ctx, NULL, obj, err) != 0) goto fail;
  if (vr_strmap_get(objects, okey)) {
    set_error(err, 409, "AlreadyExists", "%s \"%s\" already exists%s%s", kind, name,
              ns[0] ? " in namespace " : "", ns);
    goto fail;
  }
  if (string_at(meta, "uid", NULL) == NULL) {
    char uid[40];
    uint64_t a = next_random(s), b = next_random(s);
    snprintf(uid, sizeof uid, "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(a >> 32),
             (unsigned)(a >> 16) & 0xffffu, (unsigned)a & 0xfffu,
             (unsigned)((b >> 48) & 0x3fffu) | 0x8000u,
             (unsigned long long)(b & 0xffffffffffffull));
    set_string(meta, "uid", uid);
  }
  if (string_at(meta, "creationTimestamp", NULL) == NULL) {
    char ts[32];
    now_timestamp(s, ts, sizeof ts);
    set_string(meta, "creationTimestamp", ts);
  }
  stamp(s, meta);
  o = wrap(obj, kind_key, ns);
  if (o == NULL || vr_strmap_put(objects, okey, o) != 0) {
    if (o) stored_unref(o);
    set_error(err, 500, "InternalError", "out of memory");
    return -1;
  }
  index_add(s, o, okey);
  if (out) *out = o->json;
  emit(s, VR_WATCH_ADDED, o, NULL);
  return 0;
fail:
  cJSON_Delete(obj);
  return -1;
}

int vr_store_replace(vr_store *s, cJSON *obj, int check_rv, const cJSON **out,
                     vr_store_error *err) {
  char group[128], kind_key[300], okey[600];
  const char *kind, *ns, *name, *want, *deleting;
  cJSON *meta;
  vr_strmap *objects;
  stored *old, *o;
  int finalized;
  clear_error(err);
  if (refused_in_mirror(s, "vr_store_replace", err)) goto fail;
  if (identity(s, obj, group, sizeof group, &kind, &ns, &name, err) != 0) goto fail;
  if (name == NULL) {
    set_error(err, 422, "Invalid", "%s: metadata.name is missing", kind);
    goto fail;
  }
  join(kind_key, sizeof kind_key, group, "/", kind);
  object_key(okey, sizeof okey, ns, name);
  objects = submap(&s->kinds, kind_key, 0);
  old = objects ? vr_strmap_get(objects, okey) : NULL;
  if (old == NULL) {
    set_error(err, 404, "NotFound", "%s \"%s\" not found", kind, name);
    goto fail;
  }
  meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
  want = string_at(meta, "resourceVersion", NULL);
  if (check_rv && want != NULL &&
      strcmp(want, string_at(old->json, "metadata", "resourceVersion")) != 0) {
    set_error(err, 409, "Conflict",
              "Operation cannot be fulfilled on %s \"%s\": the object has been modified; please "
              "apply your changes to the latest version and try again",
              kind, name);
    goto fail;
  }
  set_string(meta, "uid", string_at(old->json, "metadata", "uid"));
  set_string(meta, "creationTimestamp", string_at(old->json, "metadata", "creationTimestamp"));
  if (s->admit && s->admit(s->admit_ctx, old->json, obj, err) != 0) goto fail;
  /* finalizers: an object being deleted keeps its deletionTimestamp, and goes once an update
   * removes the last finalizer that holds it (below; see vr_store_delete) */
  deleting = string_at(old->json, "metadata", "deletionTimestamp");
  finalized = deleting != NULL && holding_finalizers(s, obj) == 0;
  if (deleting != NULL) set_string(meta, "deletionTimestamp", deleting);
  stamp(s, meta);
  o = wrap(obj, kind_key, ns);
  if (o == NULL) {
    set_error(err, 500, "InternalError", "out of memory");
    return -1;
  }
  vr_strmap_put(objects, okey, o); /* replaces an existing key: no allocation */
  index_move(s, old, o, okey);
  if (out) *out = o->json;
  emit(s, VR_WATCH_MODIFIED, o, old);
  stored_unref(old);
  /* the last finalizer is gone: the object is removed (a MODIFIED then a DELETED event; *out
   * stays readable through the event log that holds it) */
  if (finalized) return vr_store_delete(s, group, kind, ns, name, err);
  return 0;
fail:
  cJSON_Delete(obj);
  return -1;
}

void vr_store_set_finalizer_filter(vr_store *s, int (*done_at_once)(void *ctx, const char *name),
                                   void *ctx) {
  s->finalizer_done = done_at_once;
  s->finalizer_ctx = ctx;
}

int vr_store_delete(vr_store *s, const char *group, const char *kind, const char *ns,
                    const char *name, vr_store_error *err) {
  char kind_key[300], okey[600], buf[64];
  vr_strmap *objects;
  stored *o, *gone;
  cJSON *meta;
  clear_error(err);
  if (refused_in_mirror(s, "vr_store_delete", err)) return -1;
  join(kind_key, sizeof kind_key, group, "/", kind);
  ns = read_namespace(s, kind_key, ns);
  object_key(okey, sizeof okey, ns, name);
  objects = submap(&s->kinds, kind_key, 0);
  o = objects ? vr_strmap_get(objects, okey) : NULL;
  if (o == NULL) {
    set_error(err, 404, "NotFound", "%s \"%s\" not found", kind, name);
    return -1;
  }
  /* finalizers (as the API server): an object that has some only gets metadata.deletionTimestamp
   * (a MODIFIED event; deleting it again changes nothing); it goes when an update empties its
   * finalizers (vr_store_replace). Finalizers whose controllers finish at once (the
   * finalizer filter) do not hold it. */
  if (holding_finalizers(s, o->json) > 0) {
    stored *marked;
    char ts[32];
    if (string_at(o->json, "metadata", "deletionTimestamp") != NULL) return 0;
    marked = wrap(cJSON_Duplicate(o->json, 1), o->kind_key, o->ns);
    if (marked == NULL || marked->json == NULL) {
      if (marked) stored_unref(marked);
      set_error(err, 500, "InternalError", "out of memory");
      return -1;
    }
    now_timestamp(s, ts, sizeof ts);
    meta = cJSON_GetObjectItemCaseSensitive(marked->json, "metadata");
    set_string(meta, "deletionTimestamp", ts);
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "deletionGracePeriodSeconds");
    cJSON_AddNumberToObject(meta, "deletionGracePeriodSeconds", 0);
    stamp(s, meta);
    marked->rv = s->rv;                   /* (wrapped before its stamp) */
    vr_strmap_put(objects, okey, marked); /* replaces an existing key: no allocation */
    index_move(s, o, marked, okey);
    emit(s, VR_WATCH_MODIFIED, marked, o);
    stored_unref(o);
    return 0;
  }
  vr_strmap_remove(objects, okey);
  s->rv++; /* the deleted object carries the deletion's resourceVersion, as in Kubernetes */
  index_remove(s, o, okey);         /* (after: its node's requests change at this revision) */
  note_kind_change(s, o->kind_key); /* (before anything can fail: the object is gone already) */
  gone = wrap(cJSON_Duplicate(o->json, 1), o->kind_key, o->ns); /* earlier events keep theirs */
  if (gone == NULL || gone->json == NULL) {
    if (gone) stored_unref(gone);
    stored_unref(o);
    set_error(err, 500, "InternalError", "out of memory");
    return -1;
  }
  meta = cJSON_GetObjectItemCaseSensitive(gone->json, "metadata");
  snprintf(buf, sizeof buf, "%llu", (unsigned long long)s->rv);
  set_string(meta, "resourceVersion", buf);
  emit(s, VR_WATCH_DELETED, gone, o);
  stored_unref(o);
  stored_unref(gone);
  return 0;
}

/* --- mirror mode ------------------------------------------------------------------------------ */

void vr_store_set_mirror(vr_store *s) {
  s->mirror = 1;
}

/* A resourceVersion as an unsigned decimal number: 1 with *n set when all of it is digits (and it
 * fits), 0 otherwise (absent, empty, anything else: the server's are opaque strings). */
static int rv_number(const char *v, uint64_t *n) {
  uint64_t x = 0;
  if (v == NULL || *v == '\0') return 0;
  for (; *v != '\0'; v++) {
    uint64_t digit = (uint64_t)(*v - '0');
    if (*v < '0' || *v > '9' || x > (UINT64_MAX - digit) / 10) return 0;
    x = x * 10 + digit;
  }
  *n = x;
  return 1;
}

/* Whether resourceVersion a is older than b: both numbers, a the smaller. */
static int rv_older(const char *a, const char *b) {
  uint64_t x, y;
  return rv_number(a, &x) && rv_number(b, &y) && x < y;
}

int vr_store_mirror_put(vr_store *s, cJSON *obj, const cJSON **out, vr_store_error *err) {
  char group[128], kind_key[300], okey[600];
  const char *kind, *ns, *name, *want, *have;
  vr_strmap *objects;
  stored *old, *o;
  clear_error(err);
  if (!s->mirror) {
    set_error(err, 500, "InternalError", "vr_store_mirror_put on a store not in mirror mode");
    goto fail;
  }
  if (identity(s, obj, group, sizeof group, &kind, &ns, &name, err) != 0) goto fail;
  if (name == NULL || name[0] == '\0' || strlen(name) > 253) { /* (longer: keys would be cut) */
    set_error(err, 422, "Invalid", "%s: metadata.name is %s", kind,
              name == NULL || name[0] == '\0' ? "missing" : "longer than 253 characters");
    goto fail;
  }
  objects = write_target(s, group, kind, ns, name, kind_key, okey, err);
  if (objects == NULL) goto fail;
  old = vr_strmap_get(objects, okey);
  if (old != NULL) { /* not newer (the same version, or a late event): nothing changes */
    want = string_at(obj, "metadata", "resourceVersion");
    have = string_at(old->json, "metadata", "resourceVersion");
    if (want != NULL && have != NULL && (strcmp(want, have) == 0 || rv_older(want, have))) {
      if (out) *out = old->json;
      cJSON_Delete(obj);
      return 0;
    }
  }
  o = wrap(obj, kind_key, ns); /* (before the revision moves: failing changes nothing) */
  if (o == NULL || (old == NULL && vr_strmap_put(objects, okey, o) != 0)) {
    if (o) stored_unref(o);
    set_error(err, 500, "InternalError", "out of memory");
    return -1;
  }
  if (old != NULL) vr_strmap_put(objects, okey, o); /* replaces an existing key: no allocation */
  s->rv++;
  o->rv = s->rv; /* the local revision orders the changes; the server's stays in the object */
  if (old != NULL) {
    index_move(s, old, o, okey);
  } else {
    index_add(s, o, okey);
  }
  if (out) *out = o->json;
  emit(s, old != NULL ? VR_WATCH_MODIFIED : VR_WATCH_ADDED, o, old);
  if (old != NULL) stored_unref(old);
  return 1;
fail:
  cJSON_Delete(obj);
  return -1;
}

int vr_store_mirror_remove(vr_store *s, const char *group, const char *kind, const char *ns,
                           const char *name, const char *rv) {
  char kind_key[300], okey[600];
  vr_strmap *objects;
  stored *o, *gone = NULL;
  if (!s->mirror) return -1;
  join(kind_key, sizeof kind_key, group, "/", kind);
  ns = read_namespace(s, kind_key, ns);
  object_key(okey, sizeof okey, ns, name);
  objects = submap(&s->kinds, kind_key, 0);
  o = objects ? vr_strmap_get(objects, okey) : NULL;
  if (o == NULL || rv_older(rv, string_at(o->json, "metadata", "resourceVersion"))) return 0;
  if (rv != NULL) { /* the event carries the deletion's resourceVersion; earlier ones keep theirs */
    gone = wrap(cJSON_Duplicate(o->json, 1), o->kind_key, o->ns);
    if (gone != NULL && gone->json != NULL) {
      set_string(cJSON_GetObjectItemCaseSensitive(gone->json, "metadata"), "resourceVersion", rv);
    } else if (gone != NULL) { /* out of memory: the event carries the stored copy as it is */
      stored_unref(gone);
      gone = NULL;
    }
  }
  vr_strmap_remove(objects, okey);
  s->rv++;
  index_remove(s, o, okey); /* (after: its node's requests change at this revision) */
  emit(s, VR_WATCH_DELETED, gone != NULL ? gone : o, o);
  stored_unref(o);
  if (gone != NULL) stored_unref(gone);
  return 1;
}

/* --- reads ------------------------------------------------------------------------------------ */

const cJSON *vr_store_get(const vr_store *s, const char *group, const char *kind, const char *ns,
                          const char *name) {
  char kind_key[300], okey[600];
  vr_strmap *objects;
  stored *o;
  join(kind_key, sizeof kind_key, group, "/", kind);
  objects = vr_strmap_get(&s->kinds, kind_key);
  if (objects == NULL) return NULL;
  object_key(okey, sizeof okey, read_namespace(s, kind_key, ns), name);
  o = vr_strmap_get(objects, okey);
  return o ? o->json : NULL;
}

int vr_store_version_at(const vr_store *s, const char *group, const char *kind, const char *ns,
                        const char *name, uint64_t rv, const cJSON **obj) {
  char kind_key[300];
  const char *want_ns;
  const event *first = NULL; /* the object's oldest event after rv */
  size_t i;
  join(kind_key, sizeof kind_key, group, "/", kind);
  want_ns = read_namespace(s, kind_key, ns);
  *obj = NULL;
  for (i = s->log_len; i-- > 0;) { /* newest first, down to rv */
    const event *e = &s->log[(s->log_start + i) % s->log_cap];
    const stored *o = e->obj;
    const char *n;
    if (e->rv <= rv) break;
    if (strcmp(o->kind_key, kind_key) != 0 || strcmp(o->ns, want_ns) != 0) continue;
    n = string_at(o->json, "metadata", "name");
    if (n != NULL && strcmp(n, name) == 0) first = e;
  }
  if (first == NULL) return 0; /* no change since rv in the log */
  /* the object before its first change after rv is the object at rv; an ADDED had none */
  *obj = first->type == VR_WATCH_ADDED || first->prev == NULL ? NULL : first->prev->json;
  return 1;
}

/* An object and its map key ("ns" SEP "name"): keys sort as (namespace, name) because SEP sorts
 * before every character a name may hold. */
typedef struct keyed {
  const char *key;
  const cJSON *json;
} keyed;

static int compare_keyed(const void *a, const void *b) {
  return strcmp(((const keyed *)a)->key, ((const keyed *)b)->key);
}

/* The objects of a map (all of a kind, or an index entry), only those in ns when ns is set and
 * only those written after revision after (0: all), sorted by key into a new array; *total (may
 * be NULL) gets how many are in ns, written after `after` or not. */
static size_t members_since(const vr_strmap *objects, const char *ns, uint64_t after, int sort,
                            const cJSON ***items, size_t *total) {
  size_t pos = 0, n = 0, i, in_ns = 0, count = objects ? vr_strmap_count(objects) : 0;
  const char *okey;
  void *v;
  const cJSON **out = malloc((count + 1) * sizeof *out);
  keyed *sorted = malloc((count + 1) * sizeof *sorted);
  if (out == NULL || sorted == NULL) {
    free(out);
    free(sorted);
    return (size_t)-1;
  }
  while (objects && vr_strmap_next(objects, &pos, &okey, &v)) {
    stored *o = v;
    if (ns != NULL && ns[0] != '\0' && strcmp(o->ns, ns) != 0) continue;
    in_ns++;
    if (after > 0 && o->rv <= after) continue;
    sorted[n].key = okey;
    sorted[n++].json = o->json;
  }
  if (sort && n > 1) qsort(sorted, n, sizeof *sorted, compare_keyed);
  for (i = 0; i < n; i++) out[i] = sorted[i].json;
  free(sorted);
  *items = out;
  if (total != NULL) *total = in_ns;
  return n;
}

static size_t sorted_members(const vr_strmap *objects, const char *ns, const cJSON ***items) {
  return members_since(objects, ns, 0, 1, items, NULL);
}

size_t vr_store_list_changed(const vr_store *s, const char *group, const char *kind, const char *ns,
                             uint64_t after, const cJSON ***items, size_t *total) {
  char kind_key[300];
  join(kind_key, sizeof kind_key, group, "/", kind);
  return members_since(vr_strmap_get(&s->kinds, kind_key), ns, after, 1, items, total);
}

size_t vr_store_select(const vr_store *s, const char *group, const char *kind, const char *ns,
                       const char *node, int sort, const cJSON ***items) {
  char kind_key[300];
  join(kind_key, sizeof kind_key, group, "/", kind);
  if (node != NULL) {
    char key[900]; /* as index_key builds them */
    join(key, sizeof key, kind_key, SEP, node);
    return members_since(vr_strmap_get(&s->node_index, key), ns, 0, sort, items, NULL);
  }
  return members_since(vr_strmap_get(&s->kinds, kind_key), ns, 0, sort, items, NULL);
}

size_t vr_store_list(const vr_store *s, const char *group, const char *kind, const char *ns,
                     const char *node, const cJSON ***items) {
  return vr_store_select(s, group, kind, ns, node, 1, items);
}

size_t vr_store_list_ref(const vr_store *s, const char *group, const char *kind, const char *ns,
                         const char *ref, const cJSON ***items) {
  char key[900], kind_key[300]; /* as index_key builds them */
  join(kind_key, sizeof kind_key, group, "/", kind);
  ns = read_namespace(s, kind_key, ns);
  ref_key(key, sizeof key, kind_key, ns, ref ? ref : "");
  return sorted_members(vr_strmap_get(&s->ref_index, key), NULL, items);
}

/* The sums of requests_by_node read from the pods themselves: what the node sums hold, for when
 * one of them could not be made. */
static int sums_from_pods(const vr_store *s, vr_node_requests_cb cb, void *ctx) {
  static const char prefix[] = "/Pod" SEP;
  size_t pos = 0;
  const char *key;
  void *members;
  while (vr_strmap_next(&s->node_index, &pos, &key, &members)) {
    size_t at = 0;
    const char *okey;
    void *v;
    vr_requests sum = {0, 0};
    int64_t pods = 0;
    if (strncmp(key, prefix, sizeof prefix - 1) != 0) continue;
    while (vr_strmap_next(members, &at, &okey, &v)) {
      const stored *o = v;
      if (!o->live_pod) continue;
      sum.cpu_milli += o->requests.cpu_milli;
      sum.memory += o->requests.memory;
      pods++;
    }
    if (pods > 0 && cb(ctx, key + sizeof prefix - 1, sum.cpu_milli, sum.memory, pods) != 0)
      return -1;
  }
  return 0;
}

int vr_store_requests_by_node(const vr_store *s, uint64_t after, vr_node_requests_cb cb,
                              void *ctx) {
  size_t pos = 0;
  const char *node;
  void *v;
  if (s->node_sums_lost) return sums_from_pods(s, cb, ctx) == 0 ? 1 : -1;
  while (vr_strmap_next(&s->node_sums, &pos, &node, &v)) {
    const node_sum *sum = v;
    if (after == 0 ? sum->pods == 0 : sum->rv <= after) continue;
    if (cb(ctx, node, sum->requests.cpu_milli, sum->requests.memory, sum->pods) != 0) return -1;
  }
  return after == 0 ? 1 : 0;
}

size_t vr_store_list_unfinished(const vr_store *s, const char *group, const char *kind,
                                const char *ns, const cJSON ***items) {
  char kind_key[300];
  join(kind_key, sizeof kind_key, group, "/", kind);
  return sorted_members(vr_strmap_get(&s->unfinished_index, kind_key), ns, items);
}

/* --- watches ---------------------------------------------------------------------------------- */

vr_store_watch *vr_store_watch_start(vr_store *s, const char *group, const char *kind,
                                     const char *ns, uint64_t from_rv, vr_watch_cb cb, void *ctx,
                                     vr_store_error *err) {
  vr_store_watch *w = calloc(1, sizeof *w);
  char kind_key[300];
  size_t i;
  clear_error(err);
  if (w == NULL) {
    set_error(err, 500, "InternalError", "out of memory");
    return NULL;
  }
  snprintf(kind_key, sizeof kind_key, "%s/%s", group, kind);
  w->kind_key = strdup(kind_key);
  w->ns = ns && ns[0] ? strdup(ns) : NULL;
  w->cb = cb;
  w->ctx = ctx;
  if (w->kind_key == NULL || (ns && ns[0] && w->ns == NULL)) {
    free(w->kind_key);
    free(w->ns);
    free(w);
    set_error(err, 500, "InternalError", "out of memory");
    return NULL;
  }
  if (from_rv != 0 && from_rv < s->rv) {
    /* every event after from_rv must still be in the log */
    uint64_t oldest = s->log_len ? s->log[s->log_start].rv : s->rv + 1;
    if (from_rv + 1 < oldest) {
      set_error(err, 410, "Expired", "too old resource version: %llu (%llu)",
                (unsigned long long)from_rv, (unsigned long long)(oldest - 1));
      free(w->kind_key);
      free(w->ns);
      free(w);
      return NULL;
    }
    s->notifying++;
    for (i = 0; i < s->log_len; i++) {
      event *e = &s->log[(s->log_start + i) % s->log_cap];
      if (e->rv > from_rv && watch_wants(w, e->obj)) cb(ctx, e->type, e->obj->json, e->rv);
    }
    if (--s->notifying == 0) reap_watches(s);
  }
  w->next = s->watches;
  s->watches = w;
  return w;
}

void vr_store_watch_stop(vr_store *s, vr_store_watch *w) {
  w->dead = 1;
  if (s->notifying == 0) reap_watches(s);
}

/* --- loading cluster files ------------------------------------------------------------------- */

/* An object the loader created, for the checks after the whole stream is in. */
typedef struct loaded {
  const cJSON *obj;
  int line;
  int list_item; /* 1-based position inside a kind: List, or 0 */
} loaded;

typedef struct load_state {
  vr_store *s;
  const char *filename;
  loaded *items;
  size_t n, cap;
} load_state;

/* "Kind ns/name" of an object, for messages. */
static void describe_object(const cJSON *obj, char *buf, size_t len) {
  const char *kind = string_at(obj, "kind", NULL), *name = string_at(obj, "metadata", "name");
  const char *ns = string_at(obj, "metadata", "namespace");
  snprintf(buf, len, "%.100s %.100s%s%.100s", kind ? kind : "object", ns ? ns : "", ns ? "/" : "",
           name ? name : "(no name)");
}

/* Prefixes err's message with "file:line: [item K of the List: ]Kind ns/name: " (line 0, objects
 * that come from no file: "origin: Kind ns/name: "). */
static void name_object(const load_state *ls, const char *what, int line, int list_item,
                        vr_store_error *err) {
  char where[40] = "", at[16] = "", msg[sizeof err->message];
  if (line > 0) snprintf(at, sizeof at, ":%d", line);
  if (list_item > 0) snprintf(where, sizeof where, "item %d of the List: ", list_item);
  snprintf(msg, sizeof msg, "%.120s%s: %s%.120s: %.200s", ls->filename, at, where, what,
           err->message);
  memcpy(err->message, msg, sizeof msg);
}

static int load_one(load_state *ls, cJSON *obj, int line, int list_item, vr_store_error *err) {
  const cJSON *stored_obj;
  char what[320];
  if (ls->n == ls->cap) {
    size_t cap = ls->cap ? ls->cap * 2 : 64;
    loaded *items = realloc(ls->items, cap * sizeof *items);
    if (items == NULL) {
      cJSON_Delete(obj);
      set_error(err, 500, "InternalError", "out of memory");
      return -1;
    }
    ls->items = items;
    ls->cap = cap;
  }
  describe_object(obj, what, sizeof what); /* the store frees obj when it refuses it */
  if (vr_store_create(ls->s, obj, &stored_obj, err) != 0) {
    name_object(ls, what, line, list_item, err);
    return -1;
  }
  ls->items[ls->n].obj = stored_obj;
  ls->items[ls->n].line = line;
  ls->items[ls->n].list_item = list_item;
  ls->n++;
  return 0;
}

/* Runs check on every loaded object in load order; its error gets the object's prefix. */
static int check_loaded(const load_state *ls, vr_load_check check, void *check_ctx,
                        vr_store_error *err) {
  size_t k;
  for (k = 0; check != NULL && k < ls->n; k++) {
    if (check(check_ctx, ls->items[k].obj, err) != 0) {
      char what[320];
      describe_object(ls->items[k].obj, what, sizeof what);
      name_object(ls, what, ls->items[k].line, ls->items[k].list_item, err);
      return -1;
    }
  }
  return 0;
}

int vr_store_load_yaml(vr_store *s, const char *text, size_t len, const char *filename,
                       vr_load_check check, void *check_ctx, vr_store_error *err) {
  vr_codec_error cerr;
  int *lines = NULL;
  cJSON *docs = vr_yaml_to_cjson(text, len, &lines, &cerr);
  int i, ndocs, rc = 0;
  load_state ls = {s, filename, NULL, 0, 0};
  clear_error(err);
  if (docs == NULL) {
    set_error(err, 422, "Invalid", "%s:%d:%d: %s", filename, cerr.line, cerr.column, cerr.message);
    return -1;
  }
  ndocs = cJSON_GetArraySize(docs);
  for (i = 0; i < ndocs && rc == 0; i++) {
    cJSON *doc = cJSON_DetachItemFromArray(docs, 0);
    const char *kind = string_at(doc, "kind", NULL);
    cJSON *items = cJSON_GetObjectItemCaseSensitive(doc, "items");
    int line = lines ? lines[i] : 0;
    if (!cJSON_IsObject(doc)) {
      set_error(err, 422, "Invalid", "%s:%d: a document is not a mapping", filename, line);
      cJSON_Delete(doc);
      rc = -1;
    } else if (kind && strcmp(kind, "List") == 0 && cJSON_IsArray(items)) {
      int item = 0;
      while (rc == 0 && items->child != NULL) { /* counting the array each time is quadratic */
        rc = load_one(&ls, cJSON_DetachItemFromArray(items, 0), line, ++item, err);
      }
      cJSON_Delete(doc);
    } else {
      rc = load_one(&ls, doc, line, 0, err);
    }
  }
  if (rc == 0) rc = check_loaded(&ls, check, check_ctx, err);
  free(ls.items);
  cJSON_Delete(docs);
  free(lines);
  return rc;
}

int vr_store_load_objects(vr_store *s, cJSON *objects, const char *origin, vr_load_check check,
                          void *check_ctx, vr_store_error *err) {
  load_state ls = {s, origin, NULL, 0, 0};
  int rc = 0;
  clear_error(err);
  if (!cJSON_IsArray(objects)) {
    set_error(err, 422, "Invalid", "%s: not a list of objects", origin);
    cJSON_Delete(objects);
    return -1;
  }
  while (rc == 0 && objects->child != NULL) {
    cJSON *obj = cJSON_DetachItemViaPointer(objects, objects->child);
    if (!cJSON_IsObject(obj)) {
      set_error(err, 422, "Invalid", "%s: an item is not an object", origin);
      cJSON_Delete(obj);
      rc = -1;
    } else {
      rc = load_one(&ls, obj, 0, 0, err);
    }
  }
  if (rc == 0) rc = check_loaded(&ls, check, check_ctx, err);
  free(ls.items);
  cJSON_Delete(objects);
  return rc;
}
