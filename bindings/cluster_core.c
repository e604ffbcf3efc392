/* cluster_core.c: vmrun.cluster.core, the raw resource API of the `cluster` module over the
 * simulated cluster: get, list, create, replace, delete and watch on Kubernetes-shaped tables, and
 * the vmrun.Watch class. Objects cross as fresh Lua tables (JSON shapes: null sentinel, tagged
 * objects and arrays); the store keeps its own copies. Glue over runtime/store.h; waiting goes
 * through the scheduler. */
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "bindings.h"
#include "codec.h"
#include "errors.h"
#include "kinds.h"
#include "luaval.h"
#include "patch.h"
#include "pod_requests.h"
#include "scheduler.h"
#include "selector.h"
#include "sim.h"
#include "store.h"
#include "strmap.h"

#define VR_WATCH_MT "vmrun.Watch"

typedef struct kind_ref {
  char group[128];
  char kind[128];
  int cluster_scoped;
} kind_ref;

/* A kind name resolves the same way every time: the last few resolved are remembered (a
 * playbook that polls asks for the same kind thousands of times). */
typedef struct kind_memo {
  char name[64];
  kind_ref ref;
} kind_memo;

#define KIND_MEMOS 8
static kind_memo kind_memos[KIND_MEMOS];
static unsigned kind_memo_next;

/* Resolves the kind argument at idx (may raise). */
static void check_kind(lua_State *L, int idx, kind_ref *k) {
  char err[256];
  const char *name = luaL_checkstring(L, idx);
  size_t i;
  for (i = 0; i < KIND_MEMOS; i++) {
    if (kind_memos[i].name[0] != '\0' && strcmp(kind_memos[i].name, name) == 0) {
      *k = kind_memos[i].ref;
      return;
    }
  }
  if (vr_kind_resolve(name, k->group, sizeof k->group, k->kind, sizeof k->kind, err, sizeof err) !=
      0) {
    vr_error_raise(L, "usage", "%s", err);
  }
  k->cluster_scoped = vr_kind_cluster_scoped(k->group, k->kind);
  if (strlen(name) < sizeof kind_memos[0].name) {
    kind_memo *m = &kind_memos[kind_memo_next++ % KIND_MEMOS];
    strcpy(m->name, name);
    m->ref = *k;
  }
}

/* The (namespace, name) arguments at idx, idx+1; cluster-scoped kinds take (name) alone. */
static void check_object_name(lua_State *L, int idx, const kind_ref *k, const char **ns,
                              const char **name, const char *fname) {
  if (k->cluster_scoped && lua_isnoneornil(L, idx + 1)) {
    *ns = NULL;
    *name = luaL_checkstring(L, idx);
    return;
  }
  if (lua_isnoneornil(L, idx + 1)) {
    vr_error_raise(L, "usage", "%s: %s is namespaced: %s(\"%s\", namespace, name)", fname, k->kind,
                   fname, k->kind);
  }
  *ns = k->cluster_scoped ? NULL : luaL_optstring(L, idx, vr_lua_default_namespace(L));
  *name = luaL_checkstring(L, idx + 1);
}

static void push_object(lua_State *L, const cJSON *obj) {
  vr_json_push_cjson(L, obj);
}

/* The Lua table at idx as a new cJSON tree (may raise with the encoder's message). */
static cJSON *check_object(lua_State *L, int idx, const char *fname) {
  vr_codec_error err;
  cJSON *obj;
  luaL_checktype(L, idx, LUA_TTABLE);
  obj = vr_json_to_cjson(L, idx, &err);
  if (obj == NULL)
    vr_error_raise(L, "usage", "%s: the object cannot be stored: %s", fname, err.message);
  return obj;
}

/* With the REST backend and a kind not synced yet: waits for its first list, then runs fn again
 * from the start (see vr_lua_remote_need_kind). Call before anything is pushed. */
#define NEED_KIND(L, k, fn)                                                                        \
  do {                                                                                             \
    int need_rc_;                                                                                  \
    if (vr_lua_remote_need_kind((L), (k)->group, (k)->kind, (fn), &need_rc_)) return need_rc_;     \
  } while (0)

static void resource_name(char *buf, size_t len, const char *kind, const char *ns,
                          const char *name) {
  snprintf(buf, len, "%s %s%s%s", kind, ns ? ns : "", ns ? "/" : "", name ? name : "");
}

/* cluster.get(kind, namespace, name) / cluster.get(kind, name) for cluster-scoped kinds
 *   -> object table | nil when absent
 * kind is a kind, plural or short name ("Pod", "vmis", "vmim") or "group/Kind". Raises a usage
 * error on an unknown kind or a missing namespace, "usage" when no cluster is loaded. */
static int l_cluster_get(lua_State *L) {
  kind_ref k;
  const char *ns, *name;
  const cJSON *obj;
  check_kind(L, 1, &k);
  check_object_name(L, 2, &k, &ns, &name, "cluster.get");
  NEED_KIND(L, &k, l_cluster_get);
  obj = vr_store_get(vr_lua_cluster_store(L), k.group, k.kind, ns, name);
  if (obj == NULL) return 0;
  push_object(L, obj);
  return 1;
}

/* cluster.get_field(kind, namespace, name, path) -> value | nil
 * The value at a dotted path of the object ("status.migrationState"), without making the rest
 * of the object into a table: a table, string, number, boolean or the null sentinel; nil when
 * the object or the path is absent. namespace is nil for cluster-scoped kinds. Raises a usage
 * error on an unknown kind, a missing namespace or name, or an empty path. */
static int l_cluster_get_field(lua_State *L) {
  kind_ref k;
  const char *ns, *name, *path, *seg;
  const cJSON *at;
  char part[256];
  check_kind(L, 1, &k);
  if (k.cluster_scoped) {
    ns = NULL;
  } else if (lua_isnoneornil(L, 2)) {
    return vr_error_raise(L, "usage", "cluster.get_field: %s is namespaced: a namespace is needed",
                          k.kind);
  } else {
    ns = luaL_checkstring(L, 2);
  }
  name = luaL_checkstring(L, 3);
  path = luaL_checkstring(L, 4);
  if (path[0] == '\0') return vr_error_raise(L, "usage", "cluster.get_field: the path is empty");
  NEED_KIND(L, &k, l_cluster_get_field);
  at = vr_store_get(vr_lua_cluster_store(L), k.group, k.kind, ns, name);
  for (seg = path; at != NULL && seg != NULL;) {
    const char *dot = strchr(seg, '.');
    size_t n = dot ? (size_t)(dot - seg) : strlen(seg);
    if (n == 0 || n >= sizeof part)
      return vr_error_raise(L, "usage", "cluster.get_field: bad path \"%s\"", path);
    memcpy(part, seg, n);
    part[n] = '\0';
    at = cJSON_IsObject(at) ? cJSON_GetObjectItemCaseSensitive(at, part) : NULL;
    seg = dot ? dot + 1 : NULL;
  }
  if (at == NULL) return 0;
  push_object(L, at);
  return 1;
}

typedef struct selector_box { /* owns what a listing allocates, in case pushing raises */
  vr_label_selector *labels;
  vr_field_selector *fields;
  const cJSON **items;
} selector_box;

static const char selector_box_key = 'b';

static int selector_box_gc(lua_State *L) {
  selector_box *b = lua_touserdata(L, 1);
  vr_label_selector_free(b->labels);
  vr_field_selector_free(b->fields);
  free((void *)b->items);
  b->labels = NULL;
  b->fields = NULL;
  b->items = NULL;
  return 0;
}

/* Pushes a box owning the parsed selectors of opts.selector / opts.field (may raise). */
static selector_box *push_selectors(lua_State *L, const char *label_text, const char *field_text,
                                    const char *fname) {
  char err[VR_SELECTOR_ERRLEN];
  selector_box *b = vr_push_gc_userdata(L, sizeof *b, &selector_box_key, selector_box_gc);
  if (label_text && (b->labels = vr_label_selector_parse(label_text, err, sizeof err)) == NULL) {
    vr_error_raise(L, "usage", "%s: %s", fname, err);
  }
  if (field_text && (b->fields = vr_field_selector_parse(field_text, err, sizeof err)) == NULL) {
    vr_error_raise(L, "usage", "%s: %s", fname, err);
  }
  return b;
}

static int object_selected(const cJSON *obj, const selector_box *b) {
  if (b->labels != NULL) {
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "labels");
    if (!vr_label_selector_matches(b->labels, labels)) return 0;
  }
  return b->fields == NULL || vr_field_selector_matches(b->fields, obj);
}

/* The node a field selector pins through the node index ("spec.nodeName=x" for Pods,
 * "status.nodeName=x" for VMIs), or NULL. */
static const char *indexed_node(const kind_ref *k, const selector_box *b) {
  if (b->fields == NULL) return NULL;
  if (strcmp(k->group, "") == 0 && strcmp(k->kind, "Pod") == 0) {
    return vr_field_selector_requires(b->fields, "spec.nodeName");
  }
  if (strcmp(k->group, "kubevirt.io") == 0 && strcmp(k->kind, "VirtualMachineInstance") == 0) {
    return vr_field_selector_requires(b->fields, "status.nodeName");
  }
  return NULL;
}

/* The VMI that a field selector pins VirtualMachineInstanceMigrations of one namespace to
 * ("spec.vmiName=x"), for the reference index; NULL for other kinds, other namespaces, or with a
 * node (VMIMs have none: the listing filters them all out). */
static const char *indexed_vmi(const kind_ref *k, const char *ns, const char *node,
                               const selector_box *b) {
  if (b->fields == NULL || ns == NULL || node != NULL) return NULL;
  if (strcmp(k->group, "kubevirt.io") != 0 ||
      strcmp(k->kind, "VirtualMachineInstanceMigration") != 0)
    return NULL;
  const char *vmi = vr_field_selector_requires(b->fields, "spec.vmiName");
  return vmi != NULL && vmi[0] != '\0' ? vmi : NULL; /* the index holds no empty names */
}

/* Whether a field selector leaves out the finished VirtualMachineInstanceMigrations
 * ("status.phase!=Succeeded,status.phase!=Failed", as cluster.migrations{active=true} asks),
 * so that the unfinished index holds every candidate. */
static int wants_unfinished(const kind_ref *k, const char *node, const selector_box *b) {
  size_t i, n;
  int succeeded = 0, failed = 0;
  if (b->fields == NULL || node != NULL) return 0;
  if (strcmp(k->group, "kubevirt.io") != 0 ||
      strcmp(k->kind, "VirtualMachineInstanceMigration") != 0)
    return 0;
  n = vr_field_selector_count(b->fields);
  for (i = 0; i < n; i++) {
    const char *path, *value;
    int negated;
    if (!vr_field_selector_term(b->fields, i, &path, &negated, &value)) continue;
    if (!negated || strcmp(path, "status.phase") != 0) continue;
    if (strcmp(value, "Succeeded") == 0) succeeded = 1;
    if (strcmp(value, "Failed") == 0) failed = 1;
  }
  return succeeded && failed;
}

/* The stored objects that cluster.list and cluster.count select: reads the (kind, opts)
 * arguments, leaves the selector box on the stack and returns the candidates (b->items, the box
 * frees them if a later call raises; the caller frees them) with *n set, or NULL with *n = 0
 * when node= and the field selector disagree. Raises like cluster.list. */
static const char *const list_options[] = {"namespace", "node", "selector", "field", NULL};

/* What the (kind [, opts]) arguments select: the kind, the namespace and node options and the
 * selectors' texts, and the parsed selectors in a box on the Lua stack (it frees them). */
typedef struct selection {
  kind_ref k;
  const char *ns, *node, *label_text, *field_text;
  selector_box *b;
} selection;

/* Checks the kind and the options and parses the selectors (may raise). */
static void parse_selection(lua_State *L, const char *fname, const char *const *allowed,
                            selection *sel) {
  memset(sel, 0, sizeof *sel);
  check_kind(L, 1, &sel->k);
  /* (the caller made the kind ready: need_selected_kind) */
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    vr_check_options(L, 2, fname, allowed);
    lua_getfield(L, 2, "namespace");
    sel->ns = luaL_optstring(L, -1, NULL);
    lua_getfield(L, 2, "node");
    sel->node = luaL_optstring(L, -1, NULL);
    lua_getfield(L, 2, "selector");
    sel->label_text = luaL_optstring(L, -1, NULL);
    lua_getfield(L, 2, "field");
    sel->field_text = luaL_optstring(L, -1, NULL);
  }
  sel->b = push_selectors(L, sel->label_text, sel->field_text, fname);
}

/* The objects the selection may hold, from the smallest index that has them all (the caller
 * still checks each with object_selected), in a new array the box owns until the caller frees
 * it; NULL with *n = 0 when none can match. */
static const cJSON **fetch_selection(lua_State *L, const char *fname, int sort,
                                     const selection *sel, size_t *n) {
  const kind_ref *k = &sel->k;
  const char *pinned, *vmi;
  const cJSON **items;
  vr_store *store = vr_lua_cluster_store(L);
  *n = 0;
  pinned = indexed_node(k, sel->b);
  if (sel->node != NULL && pinned != NULL && strcmp(sel->node, pinned) != 0) return NULL;
  vmi = indexed_vmi(k, sel->ns, sel->node, sel->b);
  if (vmi != NULL) {
    *n = vr_store_list_ref(store, k->group, k->kind, sel->ns, vmi, &items);
  } else if (wants_unfinished(k, sel->node, sel->b)) {
    *n = vr_store_list_unfinished(store, k->group, k->kind, sel->ns, &items);
  } else {
    *n = vr_store_select(store, k->group, k->kind, sel->ns, sel->node ? sel->node : pinned, sort,
                         &items);
  }
  if (*n == (size_t)-1) luaL_error(L, "%s: out of memory", fname);
  sel->b->items = items;
  return items;
}

static const cJSON **select_objects(lua_State *L, const char *fname, int sort,
                                    const char *const *allowed, selector_box **box, size_t *n) {
  selection sel;
  parse_selection(L, fname, allowed, &sel);
  *box = sel.b;
  return fetch_selection(L, fname, sort, &sel, n);
}

/* Pushes an array of push_one(object) for the objects that the (kind, opts) arguments select;
 * push_one returns 0 when it pushed nothing (the object is left out). */
static int push_selected(lua_State *L, const char *fname,
                         int (*push_one)(lua_State *, const cJSON *)) {
  selector_box *b;
  size_t n, i;
  lua_Integer out = 0;
  const cJSON **items;
  items = select_objects(L, fname, 1, list_options, &b, &n);
  lua_createtable(L, (int)n, 0);
  for (i = 0; i < n; i++) {
    if (!object_selected(items[i], b) || !push_one(L, items[i])) continue;
    lua_rawseti(L, -2, ++out);
  }
  b->items = NULL;
  free((void *)items);
  vr_shape_set(L, -1, VR_SHAPE_ARRAY);
  return 1;
}

static int push_whole(lua_State *L, const cJSON *obj) {
  push_object(L, obj);
  return 1;
}

/* "name", or "namespace/name" for a namespaced object; 0 without a name. */
static int push_name(lua_State *L, const cJSON *obj) {
  const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(meta, "name");
  const cJSON *ns = cJSON_GetObjectItemCaseSensitive(meta, "namespace");
  if (!cJSON_IsString(name)) return 0;
  if (cJSON_IsString(ns) && ns->valuestring[0] != '\0') {
    lua_pushfstring(L, "%s/%s", ns->valuestring, name->valuestring);
  } else {
    lua_pushstring(L, name->valuestring);
  }
  return 1;
}

/* cluster.list(kind [, {namespace=, node=, selector=, field=}]) -> array of objects
 * Sorted by namespace and name. node selects through the node index (Pods by spec.nodeName,
 * VMIs by status.nodeName); selector is a label selector ("app=web,tier!=db", "env in (a,b)",
 * "!gpu"), field a field selector ("status.phase=Running,metadata.name!=x"), as in kubectl.
 * Raises a usage error on an unknown kind or option or a malformed selector. */
static int l_cluster_list(lua_State *L) {
  kind_ref k;
  check_kind(L, 1, &k);
  NEED_KIND(L, &k, l_cluster_list);
  return push_selected(L, "cluster.list", push_whole);
}

/* cluster.names(kind [, {namespace=, node=, selector=, field=}]) -> array of strings
 * The names of the objects cluster.list would return, in its order: "name" for cluster-scoped
 * kinds (Node), "namespace/name" for namespaced ones; the objects are not made into tables.
 * Raises as cluster.list does. */
static int l_cluster_names(lua_State *L) {
  kind_ref k;
  check_kind(L, 1, &k);
  NEED_KIND(L, &k, l_cluster_names);
  return push_selected(L, "cluster.names", push_name);
}

/* cluster.count(..., {limit = 1}) asks whether anything matches, and a poll asks it again and
 * again (cluster.settle on a large cluster: VMs still starting): the object found the last time
 * mostly still matches, and is looked at first instead of the whole kind. A hint per kind and
 * selector texts, for counts over the whole kind (no namespace or node); only a hint: the object
 * is read and checked again, and when it is gone or no longer matches the kind is counted. */
typedef struct count_hint {
  char what[320]; /* "group/kind", the label selector and the field selector, '\n' between */
  char ns[64], name[254];
  size_t at; /* its place in the kind's listing: the next count starts looking there */
} count_hint;

#define COUNT_HINTS 8
static count_hint count_hints[COUNT_HINTS];
static unsigned count_hint_next;

/* The hint key of a selection into what (sizeof count_hints[0].what); 0 when it does not fit. */
static int hint_key(const selection *sel, char *what) {
  int n = snprintf(what, sizeof count_hints[0].what, "%s/%s\n%s\n%s", sel->k.group, sel->k.kind,
                   sel->label_text ? sel->label_text : "", sel->field_text ? sel->field_text : "");
  return n > 0 && (size_t)n < sizeof count_hints[0].what;
}

static count_hint *find_hint(const char *what) {
  for (size_t i = 0; i < COUNT_HINTS; i++)
    if (count_hints[i].what[0] != '\0' && strcmp(count_hints[i].what, what) == 0)
      return &count_hints[i];
  return NULL;
}

/* Remembers obj, at place `at` of the listing, as the match of what (names too long for the
 * hint are not remembered). */
static void keep_hint(const char *what, const cJSON *obj, size_t at) {
  const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
  const char *ns = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "namespace"));
  const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "name"));
  count_hint *h = find_hint(what);
  if (name == NULL || strlen(name) >= sizeof h->name || (ns && strlen(ns) >= sizeof h->ns)) return;
  if (h == NULL) h = &count_hints[count_hint_next++ % COUNT_HINTS];
  snprintf(h->what, sizeof h->what, "%s", what);
  snprintf(h->ns, sizeof h->ns, "%s", ns ? ns : "");
  snprintf(h->name, sizeof h->name, "%s", name);
  h->at = at;
}

/* cluster.count(kind [, {namespace=, node=, selector=, field=, limit=}]) -> integer
 * How many objects cluster.list would return, without making them into tables (the wait for a
 * drained node: `while cluster.count("vmi", {node = n}) > 0 do ... end`); with limit (an
 * integer >= 1), at most that many: it stops counting there (`limit = 1` asks whether any
 * exist). Raises as cluster.list does, and a usage error on a bad limit. */
static int l_cluster_count(lua_State *L) {
  static const char *const allowed[] = {"namespace", "node", "selector", "field", "limit", NULL};
  selection sel;
  size_t n, i;
  lua_Integer count = 0, limit = 0;
  const cJSON **items;
  char what[sizeof count_hints[0].what];
  int hinted;
  size_t start = 0; /* where the look through the kind begins (a hint's place, else 0) */
  check_kind(L, 1, &sel.k);
  NEED_KIND(L, &sel.k, l_cluster_count);
  parse_selection(L, "cluster.count", allowed, &sel);
  if (lua_istable(L, 2)) { /* the kind and the other options are checked by now */
    lua_getfield(L, 2, "limit");
    if (!lua_isnil(L, -1)) {
      int isnum = 0;
      if (lua_type(L, -1) == LUA_TNUMBER) limit = lua_tointegerx(L, -1, &isnum);
      if (!isnum || limit < 1)
        return vr_error_raise(L, "usage", "cluster.count: limit must be an integer >= 1");
    }
    lua_pop(L, 1);
  }
  hinted = limit == 1 && sel.ns == NULL && sel.node == NULL && hint_key(&sel, what);
  if (hinted) {
    const count_hint *h = find_hint(what);
    const cJSON *obj = h == NULL ? NULL
                                 : vr_store_get(vr_lua_cluster_store(L), sel.k.group, sel.k.kind,
                                                h->ns[0] ? h->ns : NULL, h->name);
    if (obj != NULL && object_selected(obj, sel.b)) {
      lua_pushinteger(L, 1);
      return 1;
    }
    start = h != NULL ? h->at : 0;
  }
  items = fetch_selection(L, "cluster.count", 0, &sel, &n);
  if (start >= n) start = 0;
  /* from the last match's place on, round to it: whether any matches does not depend on the
   * order, and the objects still starting lie mostly after the one that was */
  for (i = 0; i < n && (limit == 0 || count < limit); i++) {
    size_t at = (start + i) % n;
    if (!object_selected(items[at], sel.b)) continue;
    count++;
    if (hinted) keep_hint(what, items[at], at);
  }
  sel.b->items = NULL;
  free((void *)items);
  lua_pushinteger(L, count);
  return 1;
}

/* The revision at idx (a cluster.revision string, or a number with an integer value, >= 0),
 * for fname's messages; an empty string is 0 when empty_is_zero (as cluster.watch always took
 * it). */
static uint64_t check_since(lua_State *L, int idx, const char *fname, int empty_is_zero) {
  lua_Integer rv;
  int isnum;
  if (lua_type(L, idx) == LUA_TSTRING) {
    char *end;
    const char *text = lua_tostring(L, idx);
    rv = (lua_Integer)strtoll(text, &end, 10);
    if (*end != '\0' || (text[0] == '\0' && !empty_is_zero))
      vr_error_raise(L, "usage", "%s: bad since '%s'", fname, text);
  } else {
    rv = lua_tointegerx(L, idx, &isnum);
    if (!isnum)
      vr_error_raise(L, "usage", "%s: since must be a revision (cluster.revision)", fname);
  }
  if (rv < 0) vr_error_raise(L, "usage", "%s: since must be >= 0", fname);
  return (uint64_t)rv;
}

/* Pushes one node's sums into the table on top of the stack (a callback of
 * vr_store_requests_by_node; it may raise out of memory, which leaves the store as it was). */
static int push_sum(void *ctx, const char *node, int64_t cpu_milli, int64_t memory, int64_t pods) {
  lua_State *L = ctx;
  lua_createtable(L, 0, 3);
  lua_pushinteger(L, (lua_Integer)cpu_milli);
  lua_setfield(L, -2, "cpu");
  lua_pushinteger(L, (lua_Integer)memory);
  lua_setfield(L, -2, "memory");
  lua_pushinteger(L, (lua_Integer)pods);
  lua_setfield(L, -2, "pods");
  lua_setfield(L, -2, node);
  return 0;
}

/* cluster.requests_by_node([since]) -> {[node] = {cpu = millicores, memory = bytes, pods = n}},
 * whole What the pods bound to each node (spec.nodeName) and not finished (phase neither Succeeded
 * nor Failed) request there, counted as the scheduler counts them (containers, the largest init
 * container, overhead); a node without such pods is absent. With since (a cluster.revision
 * string or an integer): only the nodes whose sums changed after it, a node left without pods
 * as {cpu = 0, memory = 0, pods = 0}, so that a caller that kept the sums read at since updates
 * just those; whole is true when the table is the whole picture instead (no since, or the
 * cluster could not keep track), to be taken as it is. Kept as pods are stored: no pod is made
 * into a table. Raises a usage error on a bad since. */
static int l_cluster_requests_by_node(lua_State *L) {
  static const kind_ref pods = {"", "Pod", 0};
  uint64_t since = lua_isnoneornil(L, 1) ? 0 : check_since(L, 1, "cluster.requests_by_node", 0);
  int rc;
  NEED_KIND(L, &pods, l_cluster_requests_by_node);
  lua_newtable(L);
  rc = vr_store_requests_by_node(vr_lua_cluster_store(L), since, push_sum, L);
  lua_pushboolean(L, rc == 1);
  return 2;
}

/* cluster.pod_requests(namespace, name) -> {cpu = millicores, memory = bytes} | nil
 * What one pod asks of its node, counted as cluster.requests_by_node counts it (the containers,
 * the largest init container if more, spec.overhead), without making the pod into a table; nil
 * when there is no such pod. Raises a usage error on arguments that are not strings. */
static int l_cluster_pod_requests(lua_State *L) {
  const char *ns, *name;
  const cJSON *pod;
  vr_requests req;
  if (lua_type(L, 1) != LUA_TSTRING || lua_type(L, 2) != LUA_TSTRING)
    return vr_error_raise(L, "usage", "cluster.pod_requests: a namespace and a name are needed");
  ns = lua_tostring(L, 1);
  name = lua_tostring(L, 2);
  {
    static const kind_ref pods = {"", "Pod", 0};
    NEED_KIND(L, &pods, l_cluster_pod_requests);
  }
  pod = vr_store_get(vr_lua_cluster_store(L), "", "Pod", ns, name);
  if (pod == NULL) {
    lua_pushnil(L);
    return 1;
  }
  req = vr_pod_requests(pod);
  lua_createtable(L, 0, 2);
  lua_pushinteger(L, (lua_Integer)req.cpu_milli);
  lua_setfield(L, -2, "cpu");
  lua_pushinteger(L, (lua_Integer)req.memory);
  lua_setfield(L, -2, "memory");
  return 1;
}

static int write_result(lua_State *L, int rc, const cJSON *stored, const vr_store_error *err,
                        const char *resource) {
  if (rc != 0) {
    vr_push_store_error(L, err, resource);
    return lua_error(L);
  }
  push_object(L, stored);
  return 1;
}

static void object_resource(lua_State *L, int idx, char *buf, size_t len) {
  const char *kind, *ns, *name;
  lua_getfield(L, idx, "kind");
  kind = lua_tostring(L, -1);
  lua_getfield(L, idx, "metadata");
  if (lua_istable(L, -1)) {
    lua_getfield(L, -1, "namespace");
    ns = lua_tostring(L, -1);
    lua_getfield(L, -2, "name");
    name = lua_tostring(L, -1);
    resource_name(buf, len, kind ? kind : "object", ns, name);
    lua_pop(L, 2);
  } else {
    resource_name(buf, len, kind ? kind : "object", NULL, NULL);
  }
  lua_pop(L, 2);
}

/* The kind of the object table at idx, from its apiVersion and kind (raises a usage error when
 * either is missing). */
static void object_kind(lua_State *L, int idx, kind_ref *k, const char *fname) {
  const char *api_version, *kind;
  lua_getfield(L, idx, "apiVersion");
  lua_getfield(L, idx, "kind");
  api_version = lua_tostring(L, -2);
  kind = lua_tostring(L, -1);
  if (api_version == NULL || kind == NULL) {
    vr_error_raise(L, "input", "%s: the object needs apiVersion and kind", fname);
    return; /* (not reached) */
  }
  vr_api_group(api_version, k->group, sizeof k->group);
  snprintf(k->kind, sizeof k->kind, "%s", kind);
  k->cluster_scoped = vr_kind_cluster_scoped(k->group, k->kind);
  lua_pop(L, 2);
}

/* Stores the object at index 1: created, or replaced (with optimistic concurrency). */
static int write_object(lua_State *L, int replace, lua_CFunction again) {
  const char *fname = replace ? "cluster.replace" : "cluster.create";
  char resource[300];
  vr_store_error err;
  const cJSON *stored = NULL;
  vr_store *store;
  cJSON *obj;
  kind_ref k;
  int rc;
  luaL_checktype(L, 1, LUA_TTABLE);
  if (vr_lua_remote_active(L)) {
    object_kind(L, 1, &k, fname);
    NEED_KIND(L, &k, again);
  }
  store = vr_lua_cluster_store(L); /* first: it may raise, and obj must not leak */
  object_resource(L, 1, resource, sizeof resource);
  obj = check_object(L, 1, fname); /* nothing raises after */
  if (vr_lua_remote_active(L))
    return vr_lua_remote_write(L, k.group, k.kind, obj, replace, resource);
  rc = replace ? vr_store_replace(store, obj, 1, &stored, &err)
               : vr_store_create(store, obj, &stored, &err);
  return write_result(L, rc, stored, &err, resource);
}

/* cluster.create(object) -> the stored object (with uid, resourceVersion, creationTimestamp)
 * Raises vmrun.Error kind "already_exists" (status 409) or "input" (422: no apiVersion, kind or
 * name, invalid name), with resource = "Kind namespace/name". */
static int l_cluster_create(lua_State *L) {
  return write_object(L, 0, l_cluster_create);
}

/* cluster.replace(object) -> the stored object
 * Replaces the whole object. When object.metadata.resourceVersion is set it must be the current
 * one (optimistic concurrency). Raises kind "conflict" (409), "not_found" (404), "input" (422). */
static int l_cluster_replace(lua_State *L) {
  return write_object(L, 1, l_cluster_replace);
}

/* cluster.delete(kind, namespace, name [, {grace_period=}]) / cluster.delete(kind, name) -> true
 * Pods are deleted gracefully (deletionTimestamp now, gone when stopped, at most grace_period s
 * later); other kinds at once. Raises kind "not_found" (404) when the object does not exist. */
static int l_cluster_delete(lua_State *L) {
  char resource[300];
  kind_ref k;
  const char *ns, *name;
  vr_store_error err;
  vr_sim *sim;
  lua_Integer grace = -1;
  check_kind(L, 1, &k);
  check_object_name(L, 2, &k, &ns, &name, "cluster.delete");
  NEED_KIND(L, &k, l_cluster_delete);
  if (strcmp(k.group, "") == 0 && strcmp(k.kind, "Pod") == 0 && lua_type(L, 4) == LUA_TTABLE) {
    static const char *const allowed[] = {"grace_period", NULL};
    vr_check_options(L, 4, "cluster.delete", allowed);
    lua_getfield(L, 4, "grace_period");
    grace = luaL_optinteger(L, -1, -1);
    lua_pop(L, 1);
  }
  if (vr_lua_remote_active(L)) {
    resource_name(resource, sizeof resource, k.kind, ns, name);
    return vr_lua_remote_delete(L, k.group, k.kind, ns, name, grace, resource);
  }
  sim = vr_lua_sim(L, 1);
  if (strcmp(k.group, "") == 0 && strcmp(k.kind, "Pod") == 0) { /* graceful, as the API server */
    if (vr_sim_delete_pod(sim, ns, name, grace, &err) != 0) {
      resource_name(resource, sizeof resource, k.kind, ns, name);
      vr_push_store_error(L, &err, resource);
      return lua_error(L);
    }
    lua_pushboolean(L, 1);
    return 1;
  }
  if (vr_store_delete(vr_sim_store(sim), k.group, k.kind, ns, name, &err) != 0) {
    resource_name(resource, sizeof resource, k.kind, ns, name);
    vr_push_store_error(L, &err, resource);
    return lua_error(L);
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* cluster.patch(kind, namespace, name, patch [, {type=}]) / cluster.patch(kind, name, patch
 * [, opts]) for cluster-scoped kinds -> the stored object
 * type: "strategic" (default for the kinds vmrun knows, as kubectl), "merge" (RFC 7386; the
 * default for other kinds) or "json" (RFC 6902: patch is an array of operations, applied all or
 * nothing). A metadata.resourceVersion in the patch is a precondition. Raises kind "not_found"
 * (404), "input" (400 malformed patch, 422 a patch that does not apply or changes the object's
 * identity), "conflict" (409). */
static int l_cluster_patch(lua_State *L) {
  static const char *const allowed[] = {"type", NULL};
  kind_ref k;
  const char *ns, *name, *type_name = NULL;
  char resource[300];
  int patch_idx, opts_idx, rc;
  vr_patch_type type;
  vr_patch_error perr;
  vr_store_error err;
  const cJSON *current, *stored = NULL;
  cJSON *patch, *doc;
  vr_codec_error cerr;
  vr_sim *sim;
  check_kind(L, 1, &k);
  if (k.cluster_scoped && lua_type(L, 3) == LUA_TTABLE) {
    ns = NULL;
    name = luaL_checkstring(L, 2);
    patch_idx = 3;
  } else {
    check_object_name(L, 2, &k, &ns, &name, "cluster.patch");
    patch_idx = 4;
  }
  opts_idx = patch_idx + 1;
  luaL_checktype(L, patch_idx, LUA_TTABLE);
  if (!lua_isnoneornil(L, opts_idx)) {
    luaL_checktype(L, opts_idx, LUA_TTABLE);
    vr_check_options(L, opts_idx, "cluster.patch", allowed);
    lua_getfield(L, opts_idx, "type");
    type_name = luaL_optstring(L, -1, NULL);
    lua_pop(L, 1);
  }
  if (type_name == NULL) {
    type = vr_kind_lookup(k.kind) ? VR_PATCH_TYPE_STRATEGIC : VR_PATCH_TYPE_MERGE;
  } else if (strcmp(type_name, "strategic") == 0) {
    type = VR_PATCH_TYPE_STRATEGIC;
  } else if (strcmp(type_name, "merge") == 0) {
    type = VR_PATCH_TYPE_MERGE;
  } else if (strcmp(type_name, "json") == 0) {
    type = VR_PATCH_TYPE_JSON;
  } else {
    return vr_error_raise(
        L, "usage", "cluster.patch: bad type '%s' (expected strategic, merge or json)", type_name);
  }
  NEED_KIND(L, &k, l_cluster_patch);
  resource_name(resource, sizeof resource, k.kind, ns, name);
  if (vr_lua_remote_active(L)) {
    patch = vr_json_to_cjson(L, patch_idx, &cerr);
    if (patch == NULL) {
      return vr_error_raise(L, "usage", "cluster.patch: the patch cannot be encoded: %s",
                            cerr.message);
    }
    return vr_lua_remote_patch(L, k.group, k.kind, ns, name, patch,
                               type == VR_PATCH_TYPE_JSON    ? "json"
                               : type == VR_PATCH_TYPE_MERGE ? "merge"
                                                             : "strategic",
                               resource);
  }
  sim = vr_lua_sim(L, 1);
  current = vr_store_get(vr_sim_store(sim), k.group, k.kind, ns, name);
  if (current == NULL) {
    return vr_error_raise(L, "not_found", "%s \"%s\" not found", k.kind, name);
  }
  patch = vr_json_to_cjson(L, patch_idx, &cerr);
  if (patch == NULL) {
    return vr_error_raise(L, "usage", "cluster.patch: the patch cannot be encoded: %s",
                          cerr.message);
  }
  doc = vr_patch_apply(type, current, patch, k.kind, &perr);
  cJSON_Delete(patch);
  if (doc == NULL) {
    luaL_where(L, 1);
    vr_error_push(L, perr.kind == VR_PATCH_NO_MEMORY ? "internal" : "input", "%s%s: %s",
                  lua_tostring(L, -1), resource, perr.message);
    vr_error_set_integer(L, "status",
                         perr.kind == VR_PATCH_BAD_PATCH   ? 400
                         : perr.kind == VR_PATCH_NO_MEMORY ? 500
                                                           : 422);
    vr_error_set_string(L, "resource", resource);
    return lua_error(L);
  }
  {
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(doc, "metadata");
    const cJSON *new_name = cJSON_GetObjectItemCaseSensitive(meta, "name");
    const cJSON *new_ns = cJSON_GetObjectItemCaseSensitive(meta, "namespace");
    const cJSON *new_kind = cJSON_GetObjectItemCaseSensitive(doc, "kind");
    if (!cJSON_IsString(new_name) || strcmp(new_name->valuestring, name) != 0 ||
        !cJSON_IsString(new_kind) || strcmp(new_kind->valuestring, k.kind) != 0 ||
        (ns != NULL && (!cJSON_IsString(new_ns) || strcmp(new_ns->valuestring, ns) != 0))) {
      cJSON_Delete(doc);
      luaL_where(L, 1);
      vr_error_push(L, "input", "%s%s: a patch cannot change the kind, name or namespace",
                    lua_tostring(L, -1), resource);
      vr_error_set_integer(L, "status", 422);
      vr_error_set_string(L, "resource", resource);
      return lua_error(L);
    }
  }
  rc = vr_store_replace(vr_sim_store(sim), doc, 1, &stored, &err);
  return write_result(L, rc, stored, &err, resource);
}

/* Runs an eviction; pushes true, or (with raise = 0) nil and the error. */
static int evict(lua_State *L, int raise, lua_CFunction again) {
  static const char *const allowed[] = {"dry_run", "grace_period", "annotations", NULL};
  static const kind_ref pods = {"", "Pod", 0};
  const char *ns = luaL_checkstring(L, 1), *name = luaL_checkstring(L, 2);
  int dry_run = 0;
  char resource[300];
  vr_store_error err;
  vr_codec_error cerr;
  cJSON *eviction = NULL;
  vr_sim *sim;
  int rc;
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    vr_check_options(L, 3, raise ? "cluster.evict" : "cluster.try_evict", allowed);
    lua_getfield(L, 3, "dry_run");
    dry_run = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  NEED_KIND(L, &pods, again);
  sim = vr_lua_remote_active(L) ? NULL : vr_lua_sim(L, 1);
  lua_createtable(L, 0, 2); /* the Eviction body: metadata.annotations, deleteOptions */
  if (!lua_isnoneornil(L, 3)) {
    lua_getfield(L, 3, "annotations");
    if (!lua_isnil(L, -1)) {
      luaL_checktype(L, -1, LUA_TTABLE);
      lua_createtable(L, 0, 1);
      lua_insert(L, -2);
      lua_setfield(L, -2, "annotations");
      lua_setfield(L, -2, "metadata");
    } else {
      lua_pop(L, 1);
    }
    lua_getfield(L, 3, "grace_period");
    if (!lua_isnil(L, -1)) {
      lua_Integer grace = luaL_checkinteger(L, -1);
      if (grace < 0) return vr_error_raise(L, "usage", "cluster.evict: grace_period must be >= 0");
      lua_createtable(L, 0, 1);
      lua_pushinteger(L, grace);
      lua_setfield(L, -2, "gracePeriodSeconds");
      lua_setfield(L, -3, "deleteOptions");
    }
    lua_pop(L, 1);
  }
  eviction = vr_json_to_cjson(L, -1, &cerr);
  if (eviction == NULL) return vr_error_raise(L, "usage", "cluster.evict: %s", cerr.message);
  resource_name(resource, sizeof resource, "Pod", ns, name);
  if (sim == NULL) return vr_lua_remote_evict(L, ns, name, eviction, dry_run, raise, resource);
  rc = vr_sim_evict(sim, ns, name, eviction, dry_run, &err);
  cJSON_Delete(eviction);
  if (rc == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  resource_name(resource, sizeof resource, "Pod", ns, name);
  if (raise) {
    vr_push_store_error(L, &err, resource);
    return lua_error(L);
  }
  lua_pushnil(L);
  vr_push_store_error(L, &err, resource);
  return 2;
}

/* cluster.evict(namespace, pod [, {dry_run=, grace_period=, annotations=}]) -> true
 * POSTs the pod's eviction: KubeVirt's webhook first (a virt-launcher pod of a LiveMigrate VM is
 * never evicted: the VMI is marked for evacuation and the answer is 429 "Eviction triggered
 * evacuation of VMI ..."), then the PodDisruptionBudgets; on success the pod is deleted
 * gracefully. Raises kind "too_many_requests" (429: KubeVirt's messages, or reason
 * "DisruptionBudget"), "not_found" (404), "internal" (500: more than one budget). */
static int l_cluster_evict(lua_State *L) {
  return evict(L, 1, l_cluster_evict);
}

/* cluster.try_evict(namespace, pod [, opts]) -> true | nil, err: the same without raising. */
static int l_cluster_try_evict(lua_State *L) {
  return evict(L, 0, l_cluster_try_evict);
}

/* cluster.core.evacuate_cancel(namespace, vmi, node) -> true
 * PUTs the VMI's evacuate/cancel subresource (KubeVirt v1.8+): clears status.evacuationNodeName
 * when it is node, so that KubeVirt stops creating evacuation migrations for it; true also when
 * the VMI was not marked. Raises kind "not_found" (404: no such VMI, or a KubeVirt version
 * without the subresource), "conflict" (409: marked for another node), "input" (400). */
static int l_cluster_evacuate_cancel(lua_State *L) {
  const char *ns = luaL_checkstring(L, 1), *name = luaL_checkstring(L, 2);
  const char *node = luaL_checkstring(L, 3);
  static const kind_ref vmis = {"kubevirt.io", "VirtualMachineInstance", 0};
  char resource[300];
  vr_store_error err;
  vr_sim *sim;
  NEED_KIND(L, &vmis, l_cluster_evacuate_cancel);
  resource_name(resource, sizeof resource, "VirtualMachineInstance", ns, name);
  if (vr_lua_remote_active(L)) return vr_lua_remote_evacuate_cancel(L, ns, name, node, resource);
  sim = vr_lua_sim(L, 1);
  if (vr_sim_evacuate_cancel(sim, ns, name, node, &err) != 0) {
    vr_push_store_error(L, &err, resource);
    return lua_error(L);
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* --- watches ------------------------------------------------------------------------------ */

typedef struct watch_event {
  vr_watch_type type;
  uint64_t rv;
  cJSON *obj;
  struct watch_event *next;
} watch_event;

typedef struct watch_ud {
  vr_op op; /* the pending w:next() */
  vr_store *store;
  vr_store_watch *watch;
  watch_event *head, *tail;
  int dropped; /* events lost to memory exhaustion */
  double timeout;
  int closed;
} watch_ud;

static void on_watch_event(void *ctx, vr_watch_type type, const cJSON *obj, uint64_t rv) {
  watch_ud *w = ctx;
  watch_event *e = calloc(1, sizeof *e);
  if (e == NULL || (e->obj = cJSON_Duplicate(obj, 1)) == NULL) {
    free(e);
    w->dropped++;
  } else {
    e->type = type;
    e->rv = rv;
    if (w->tail) {
      w->tail->next = e;
    } else {
      w->head = e;
    }
    w->tail = e;
  }
  vr_op_complete(&w->op); /* no-op unless a task waits in w:next() */
}

static void watch_close(watch_ud *w) {
  if (w->watch) vr_store_watch_stop(w->store, w->watch);
  w->watch = NULL;
  w->closed = 1;
  while (w->head) {
    watch_event *e = w->head;
    w->head = e->next;
    cJSON_Delete(e->obj);
    free(e);
  }
  w->tail = NULL;
}

static watch_ud *check_watch(lua_State *L, int idx) {
  return luaL_checkudata(L, idx, VR_WATCH_MT);
}

/* Pushes the first queued event as {type=, object=, resource_version=}; 0 when none. */
static int pop_event(lua_State *L, watch_ud *w) {
  static const char *const names[] = {"ADDED", "MODIFIED", "DELETED"};
  watch_event *e = w->head;
  if (e == NULL) return 0;
  lua_createtable(L, 0, 3);
  lua_pushstring(L, names[e->type]);
  lua_setfield(L, -2, "type");
  push_object(L, e->obj);
  lua_setfield(L, -2, "object");
  lua_pushfstring(L, "%I", (lua_Integer)e->rv);
  lua_setfield(L, -2, "resource_version");
  w->head = e->next;
  if (w->head == NULL) w->tail = NULL;
  cJSON_Delete(e->obj);
  free(e);
  return 1;
}

static int watch_next_k(lua_State *L, int status, lua_KContext ctx) {
  watch_ud *w = check_watch(L, 1);
  (void)status;
  (void)ctx;
  if (w->op.status == VR_OP_TIMEOUT) { /* no event in time: the iteration ends */
    w->op.status = VR_OP_IDLE;
    lua_pushnil(L);
    lua_pushliteral(L, "timeout");
    return 2;
  }
  vr_op_finish(L, &w->op); /* raises on cancellation */
  if (pop_event(L, w)) return 1;
  lua_pushnil(L);
  lua_pushliteral(L, "closed");
  return 2;
}

/* w:next([timeout]) -> event | nil, "timeout" | nil, "closed"
 * The next event {type="ADDED"|"MODIFIED"|"DELETED", object=, resource_version=}, waiting (the
 * task yields) until one arrives or the timeout (default: the watch's own) passes. Also the
 * iterator: `for ev in cluster.watch("Pod") do ... end` ends at the timeout. Raises when the
 * task is cancelled. */
static int l_watch_next(lua_State *L) {
  watch_ud *w = check_watch(L, 1);
  double timeout = vr_opt_duration(L, 2, "watch timeout", w->timeout);
  lua_settop(L, 1);
  if (w->dropped) {
    w->dropped = 0;
    return vr_error_raise(L, "internal", "watch: events were lost (out of memory)");
  }
  if (pop_event(L, w)) return 1;
  if (w->closed) {
    lua_pushnil(L);
    lua_pushliteral(L, "closed");
    return 2;
  }
  w->op.cancel = NULL;
  return vr_await(L, &w->op, "watch:next", timeout, watch_next_k, 0);
}

/* __call(w, state, control): lets a watch drive a generic for loop. */
static int watch_call(lua_State *L) {
  lua_settop(L, 1);
  return l_watch_next(L);
}

/* w:close() -- stops the watch; queued events are dropped. Idempotent. */
static int l_watch_close(lua_State *L) {
  watch_close(check_watch(L, 1));
  return 0;
}

static int watch_gc(lua_State *L) {
  watch_close(check_watch(L, 1));
  return 0;
}

/* cluster.watch(kind [, {namespace=, since=, timeout=}]) -> vmrun.Watch
 * Events of a kind from now on, or after resourceVersion `since` (replaying retained events;
 * raises kind "expired" (410) when they are gone: list again). timeout ends the iteration when
 * no event arrives for that long (default: wait forever). */
static int l_cluster_watch(lua_State *L) {
  static const char *const allowed[] = {"namespace", "since", "timeout", NULL};
  kind_ref k;
  const char *ns = NULL;
  uint64_t since = 0;
  double timeout = -1;
  vr_store_error err;
  watch_ud *w;
  vr_store *store;
  char resource[300];
  check_kind(L, 1, &k);
  NEED_KIND(L, &k, l_cluster_watch);
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    vr_check_options(L, 2, "cluster.watch", allowed);
    lua_getfield(L, 2, "namespace");
    ns = luaL_optstring(L, -1, NULL);
    lua_getfield(L, 2, "since");
    if (!lua_isnil(L, -1)) since = check_since(L, -1, "cluster.watch", 1);
    lua_getfield(L, 2, "timeout");
    timeout = vr_opt_duration(L, -1, "cluster.watch timeout", -1);
  }
  store = vr_lua_cluster_store(L);
  w = lua_newuserdatauv(L, sizeof *w, 0);
  memset(w, 0, sizeof *w);
  w->store = store;
  w->timeout = timeout;
  w->closed = 1; /* until started: __gc has nothing to stop */
  luaL_setmetatable(L, VR_WATCH_MT);
  w->closed = 0;
  w->watch = vr_store_watch_start(w->store, k.group, k.kind, ns, since, on_watch_event, w, &err);
  if (w->watch == NULL) {
    watch_close(w);
    resource_name(resource, sizeof resource, k.kind, ns, NULL);
    vr_push_store_error(L, &err, resource);
    return lua_error(L);
  }
  return 1;
}

/* cluster.changed(kind, since [, {namespace=, names=}]) -> objects, total
 * The objects of the kind (in the namespace, when given) created or changed after revision
 * since (a cluster.revision string or an integer; 0: all), sorted as cluster.list sorts, and how
 * many objects of the kind there are now: a reader that kept what it read at since refreshes
 * only these, and knows that some were deleted when its count and total differ. names = true:
 * their names as cluster.names gives them instead of the objects. Raises a usage error on an
 * unknown kind or option or a bad since. */
static int l_cluster_changed(lua_State *L) {
  static const char *const allowed[] = {"namespace", "names", NULL};
  kind_ref k;
  const char *ns = NULL;
  const cJSON **items;
  int names = 0;
  lua_Integer out = 0;
  size_t n, i, total = 0;
  uint64_t since;
  vr_store *store;
  selector_box *b;
  check_kind(L, 1, &k);
  NEED_KIND(L, &k, l_cluster_changed);
  since = check_since(L, 2, "cluster.changed", 0);
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    vr_check_options(L, 3, "cluster.changed", allowed);
    lua_getfield(L, 3, "namespace");
    ns = luaL_optstring(L, -1, NULL);
    lua_getfield(L, 3, "names");
    if (!lua_isnil(L, -1) && !lua_isboolean(L, -1))
      return vr_error_raise(L, "usage", "cluster.changed: option names must be a boolean");
    names = lua_toboolean(L, -1);
  }
  store = vr_lua_cluster_store(L);
  b = push_selectors(L, NULL, NULL, "cluster.changed"); /* owns items while pushing may raise */
  n = vr_store_list_changed(store, k.group, k.kind, ns, since, &items, &total);
  if (n == (size_t)-1) return luaL_error(L, "cluster.changed: out of memory");
  b->items = items;
  lua_createtable(L, (int)n, 0);
  for (i = 0; i < n; i++) {
    if (names ? !push_name(L, items[i]) : !push_whole(L, items[i])) continue;
    lua_rawseti(L, -2, ++out);
  }
  b->items = NULL;
  free((void *)items);
  vr_shape_set(L, -1, VR_SHAPE_ARRAY);
  lua_pushinteger(L, (lua_Integer)total);
  return 2;
}

/* cluster.revision([kind]) -> string
 * The cluster's current resourceVersion (for watch{since=}); with a kind, that of the last
 * create, change or delete of an object of that kind ("0": none yet), which lets a caller keep
 * what it read of one kind while others change. Raises a usage error on an unknown kind. */
static int l_cluster_revision(lua_State *L) {
  kind_ref k;
  if (lua_isnoneornil(L, 1)) {
    lua_pushfstring(L, "%I", (lua_Integer)vr_store_revision(vr_lua_cluster_store(L)));
    return 1;
  }
  check_kind(L, 1, &k);
  NEED_KIND(L, &k, l_cluster_revision);
  lua_pushfstring(L, "%I",
                  (lua_Integer)vr_store_kind_revision(vr_lua_cluster_store(L), k.group, k.kind));
  return 1;
}

/* --- cluster.wait_change ------------------------------------------------------------------- */

#define CHANGE_WAIT_KINDS 8

typedef struct change_wait {
  vr_op op; /* first: the cancel hook gets the op */
  vr_store *store;
  vr_store_watch *watches[CHANGE_WAIT_KINDS];
  int count;
} change_wait;

static const char change_wait_key = 'c';

static void change_wait_stop(change_wait *c) {
  for (int i = 0; i < c->count; i++) {
    if (c->watches[i] != NULL) vr_store_watch_stop(c->store, c->watches[i]);
    c->watches[i] = NULL;
  }
  c->count = 0;
}

static int change_wait_gc(lua_State *L) {
  change_wait_stop(lua_touserdata(L, 1));
  return 0;
}

static void change_wait_cancel(vr_op *op) {
  change_wait_stop((change_wait *)op);
}

static void on_change(void *ctx, vr_watch_type type, const cJSON *obj, uint64_t rv) {
  (void)type;
  (void)obj;
  (void)rv;
  vr_op_complete(&((change_wait *)ctx)->op); /* a no-op unless the task still waits */
}

static int wait_change_k(lua_State *L, int status, lua_KContext ctx) {
  change_wait *c = lua_touserdata(L, (int)ctx);
  (void)status;
  change_wait_stop(c);
  if (c->op.status == VR_OP_TIMEOUT) {
    c->op.status = VR_OP_IDLE;
    lua_pushboolean(L, 0);
    return 1;
  }
  vr_op_finish(L, &c->op); /* raises on cancellation */
  lua_pushboolean(L, 1);
  return 1;
}

/* cluster.wait_change(since [, timeout]) -> changed — waits
 * since: {[kind] = revision} (cluster.revision(kind) values, at most 8 kinds). True at once when
 * a kind's revision is not the one given any more; else waits until an object of one of the
 * kinds is created, changed or deleted (true) or the timeout passes (false; default: no
 * timeout). What a poll loop waits on instead of sleeping when only a change can give it
 * something new. Raises kind "usage" on an unknown kind or a bad revision or timeout, "cancelled"
 * when the task is. */
static int l_cluster_wait_change(lua_State *L) {
  change_wait *c;
  vr_store *store;
  vr_store_error err;
  double timeout;
  int ud;
  luaL_checktype(L, 1, LUA_TTABLE);
  timeout = vr_opt_duration(L, 2, "cluster.wait_change timeout", -1);
  lua_settop(L, 1);
  store = vr_lua_cluster_store(L);
  vr_await_check(L, "cluster.wait_change");
  c = vr_push_gc_userdata(L, sizeof *c, &change_wait_key, change_wait_gc); /* stops the watches */
  ud = lua_gettop(L);
  c->store = store;
  lua_pushnil(L);
  while (lua_next(L, 1) != 0) { /* kind, revision */
    kind_ref k;
    uint64_t seen;
    if (lua_type(L, -2) != LUA_TSTRING)
      return vr_error_raise(L, "usage", "cluster.wait_change: since maps kinds to revisions");
    check_kind(L, -2, &k);
    seen = check_since(L, -1, "cluster.wait_change", 0);
    lua_pop(L, 1);
    if (vr_store_kind_revision(c->store, k.group, k.kind) != seen) {
      change_wait_stop(c);
      lua_pushboolean(L, 1);
      return 1;
    }
    if (c->count == CHANGE_WAIT_KINDS)
      return vr_error_raise(L, "usage", "cluster.wait_change: at most %d kinds", CHANGE_WAIT_KINDS);
    c->watches[c->count] =
        vr_store_watch_start(c->store, k.group, k.kind, NULL, 0, on_change, c, &err);
    if (c->watches[c->count] == NULL)
      return vr_error_raise(L, "internal", "cluster.wait_change: %s", err.message);
    c->count++;
  }
  c->op.cancel = change_wait_cancel;
  return vr_await(L, &c->op, "cluster.wait_change", timeout, wait_change_k, (lua_KContext)ud);
}

/* cluster.target() -> {real = true, identity = "cluster 'NAME' at SERVER"} |
 *                     {real = false, identity = "simulated FILE"}
 * What this run acts on: the real cluster of its connection (a `vmrun serve` included), or the
 * simulation in this process (the default cluster is loaded by this call, as by any cluster
 * access). Raises kind "usage" when there is no cluster. */
static int l_cluster_target(lua_State *L) {
  char buf[1400];
  vr_sim *sim;
  if (vr_lua_remote_identity(L, buf, sizeof buf)) {
    lua_createtable(L, 0, 2);
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "real");
  } else if ((sim = vr_lua_sim(L, 1)) != NULL) {
    snprintf(buf, sizeof buf, "simulated %s", vr_sim_source(sim) ? vr_sim_source(sim) : "cluster");
    lua_createtable(L, 0, 2);
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "real");
  } else {
    return 0; /* (vr_lua_sim raised) */
  }
  lua_pushstring(L, buf);
  lua_setfield(L, -2, "identity");
  return 1;
}

static const luaL_Reg watch_methods[] = {
    {"next", l_watch_next},
    {"close", l_watch_close},
    {NULL, NULL},
};

static const luaL_Reg cluster_core_funcs[] = {
    /* clang-format off */
    {"get", l_cluster_get},
    {"list", l_cluster_list},
    {"count", l_cluster_count},
    {"get_field", l_cluster_get_field},
    {"names", l_cluster_names},
    {"requests_by_node", l_cluster_requests_by_node},
    {"pod_requests", l_cluster_pod_requests},
    {"create", l_cluster_create},
    {"replace", l_cluster_replace},
    {"patch", l_cluster_patch},
    {"delete", l_cluster_delete},
    {"evict", l_cluster_evict},
    {"try_evict", l_cluster_try_evict},
    {"evacuate_cancel", l_cluster_evacuate_cancel},
    {"watch", l_cluster_watch},
    {"revision", l_cluster_revision},
    {"changed", l_cluster_changed},
    {"wait_change", l_cluster_wait_change},
    {"target", l_cluster_target},
    {NULL, NULL},
    /* clang-format on */
};

int luaopen_vmrun_cluster(lua_State *L) {
  if (luaL_newmetatable(L, VR_WATCH_MT)) {
    luaL_newlib(L, watch_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, watch_call);
    lua_setfield(L, -2, "__call");
    lua_pushcfunction(L, watch_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, watch_gc);
    lua_setfield(L, -2, "__close");
  }
  lua_pop(L, 1);
  luaL_newlib(L, cluster_core_funcs);
  return 1;
}
