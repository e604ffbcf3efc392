/* sim_nodes.c: the simulator's node-lifecycle controller and taint manager (reference
 * kubevirt-migration.md §6.3, §4.2 step 2):
 *
 *  - a node's controller-managed taints follow its state: node.kubernetes.io/unschedulable
 *    (NoSchedule) while spec.unschedulable is true; node.kubernetes.io/not-ready (NoSchedule and
 *    NoExecute) while the Ready condition is False, .../unreachable while it is Unknown; the
 *    memory-, disk-, pid-pressure and network-unavailable NoSchedule taints while those
 *    conditions are True. Added taints carry timeAdded; NoExecute taints written without one get
 *    it here, as the API server does. A node without a Ready condition counts as Ready.
 *  - the taint manager: a pod on the node that does not tolerate one of its NoExecute taints is
 *    deleted at once by plain deletion (vr_sim_delete_pod: no eviction API, no webhook, no PDB; a
 *    VM's guest shuts down); a pod whose toleration has tolerationSeconds is deleted that many
 *    seconds after the taint's timeAdded; a toleration without it keeps the pod. Pods lacking
 *    not-ready/unreachable tolerations are treated as Kubernetes' DefaultTolerationSeconds
 *    admission would have admitted them (300 s).
 *
 * What it may not do: write a node that does not need to change (a write re-triggers this
 * controller), evict through the eviction API, touch pods on other nodes, or call Lua. It runs
 * from the simulator's work loop and from its own timed events only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drain_filter.h" /* vr_k8s_time_ms */
#include "selector.h"
#include "sim_internal.h"

#define DEFAULT_TOLERATION_SECONDS 300 /* DefaultTolerationSeconds admission plugin */
#define TAINT_NOT_READY            "node.kubernetes.io/not-ready"
#define TAINT_UNREACHABLE          "node.kubernetes.io/unreachable"

/* The taints the node-lifecycle controller owns, and the node state that calls for each
 * (condition NULL: spec.unschedulable). */
static const struct {
  const char *key, *effect, *condition, *status;
} managed[] = {
    {"node.kubernetes.io/unschedulable", "NoSchedule", NULL, NULL},
    {TAINT_NOT_READY, "NoSchedule", "Ready", "False"},
    {TAINT_NOT_READY, "NoExecute", "Ready", "False"},
    {TAINT_UNREACHABLE, "NoSchedule", "Ready", "Unknown"},
    {TAINT_UNREACHABLE, "NoExecute", "Ready", "Unknown"},
    {"node.kubernetes.io/memory-pressure", "NoSchedule", "MemoryPressure", "True"},
    {"node.kubernetes.io/disk-pressure", "NoSchedule", "DiskPressure", "True"},
    {"node.kubernetes.io/pid-pressure", "NoSchedule", "PIDPressure", "True"},
    {"node.kubernetes.io/network-unavailable", "NoSchedule", "NetworkUnavailable", "True"},
};
#define MANAGED (sizeof managed / sizeof managed[0])

static int str_eq(const char *a, const char *b) {
  return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* The status of a node condition; a missing Ready condition reads "True" (a node written
 * without conditions in a cluster file is Ready), other missing conditions read NULL. */
static const char *condition_status(const cJSON *node, const char *type) {
  const cJSON *c;
  cJSON_ArrayForEach(c, sim_path(node, "status.conditions")) {
    if (str_eq(sim_string(c, "type"), type)) {
      const char *s = sim_string(c, "status");
      return s ? s : "Unknown";
    }
  }
  return strcmp(type, "Ready") == 0 ? "True" : NULL;
}

static int wanted(const cJSON *node, size_t i) {
  if (managed[i].condition == NULL) return cJSON_IsTrue(sim_path(node, "spec.unschedulable"));
  return str_eq(condition_status(node, managed[i].condition), managed[i].status);
}

/* Index of the managed taint with this key and effect, or MANAGED. */
static size_t managed_index(const char *key, const char *effect) {
  size_t i;
  for (i = 0; i < MANAGED; i++) {
    if (str_eq(key, managed[i].key) && str_eq(effect, managed[i].effect)) return i;
  }
  return MANAGED;
}

/* --- node-lifecycle controller: the taints ---------------------------------------------------- */

static cJSON *new_taint(const char *key, const char *effect, const char *ts) {
  cJSON *t = cJSON_CreateObject();
  cJSON_AddStringToObject(t, "key", key);
  cJSON_AddStringToObject(t, "effect", effect);
  cJSON_AddStringToObject(t, "timeAdded", ts);
  return t;
}

/* The managed taints brought in line with the node's state, new ones stamped now (sim_internal.h).
 */
cJSON *sim_node_pending_taints(vr_sim *sim, const cJSON *node) {
  const cJSON *taints = sim_path(node, "spec.taints"), *t;
  int present[MANAGED] = {0}, want[MANAGED], change = 0;
  size_t i;
  char ts[40];
  cJSON *out;
  for (i = 0; i < MANAGED; i++) want[i] = wanted(node, i);
  cJSON_ArrayForEach(t, taints) {
    const char *key = sim_string(t, "key"), *effect = sim_string(t, "effect");
    i = managed_index(key, effect);
    if (i < MANAGED) {
      if (!want[i] || present[i]) change = 1; /* stale, or a duplicate */
      present[i] = 1;
    } else if (str_eq(effect, "NoExecute") && sim_path(t, "timeAdded") == NULL) {
      change = 1;
    }
  }
  for (i = 0; i < MANAGED; i++) {
    if (want[i] && !present[i]) change = 1;
  }
  if (!change) return NULL;
  sim_timestamp(sim, ts, sizeof ts);
  memset(present, 0, sizeof present);
  out = cJSON_CreateArray();
  cJSON_ArrayForEach(t, taints) {
    const char *key = sim_string(t, "key"), *effect = sim_string(t, "effect");
    cJSON *dup;
    i = managed_index(key, effect);
    if (i < MANAGED && (!want[i] || present[i])) continue;
    if (i < MANAGED) present[i] = 1;
    dup = cJSON_Duplicate(t, 1);
    if (str_eq(effect, "NoExecute") && sim_path(dup, "timeAdded") == NULL)
      cJSON_AddStringToObject(dup, "timeAdded", ts);
    cJSON_AddItemToArray(out, dup);
  }
  for (i = 0; i < MANAGED; i++) {
    if (want[i] && !present[i])
      cJSON_AddItemToArray(out, new_taint(managed[i].key, managed[i].effect, ts));
  }
  return out;
}

/* Brings the managed taints in line with the node's state; writes the node only on a change. */
static void sync_taints(vr_sim *sim, const cJSON *node) {
  cJSON *copy, *out = sim_node_pending_taints(sim, node);
  if (out == NULL) return;
  copy = cJSON_Duplicate(node, 1);
  if (cJSON_GetArraySize(out) == 0) {
    cJSON_Delete(out);
    cJSON_DeleteItemFromObjectCaseSensitive((cJSON *)sim_path(copy, "spec"), "taints");
  } else {
    sim_set(copy, "spec.taints", out);
  }
  sim_save(sim, copy);
}

/* --- taint manager ---------------------------------------------------------------------------- */

/* The DefaultTolerationSeconds admission plugin's test for key: does a toleration cover it with
 * NoExecute (key and effect only; an empty one covers all)? */
static int has_default_toleration(const cJSON *tolerations, const char *key) {
  const cJSON *t;
  cJSON_ArrayForEach(t, tolerations) {
    const char *k = sim_string(t, "key"), *effect = sim_string(t, "effect");
    if ((k == NULL || k[0] == '\0' || strcmp(k, key) == 0) &&
        (effect == NULL || effect[0] == '\0' || strcmp(effect, "NoExecute") == 0))
      return 1;
  }
  return 0;
}

cJSON *sim_default_tolerations(const cJSON *tolerations) {
  static const char *const keys[] = {TAINT_NOT_READY, TAINT_UNREACHABLE};
  cJSON *out = cJSON_IsArray(tolerations) ? cJSON_Duplicate(tolerations, 1) : cJSON_CreateArray();
  size_t k;
  for (k = 0; k < 2; k++) {
    if (!has_default_toleration(tolerations, keys[k])) {
      cJSON *d = cJSON_CreateObject();
      cJSON_AddStringToObject(d, "key", keys[k]);
      cJSON_AddStringToObject(d, "operator", "Exists");
      cJSON_AddStringToObject(d, "effect", "NoExecute");
      cJSON_AddNumberToObject(d, "tolerationSeconds", DEFAULT_TOLERATION_SECONDS);
      cJSON_AddItemToArray(out, d);
    }
  }
  return out;
}

/* A node's NoExecute taints, read once per check. */
typedef struct no_execute {
  cJSON *single;   /* a one-taint array, owned */
  int64_t added;   /* timeAdded, ms */
  const char *key; /* not-ready or unreachable (the admission's defaults apply), else NULL */
} no_execute;

typedef struct no_execute_set {
  no_execute *items;
  size_t n;
} no_execute_set;

static void free_no_execute(no_execute_set *set) {
  size_t i;
  for (i = 0; i < set->n; i++) cJSON_Delete(set->items[i].single);
  free(set->items);
  set->items = NULL;
  set->n = 0;
}

/* Fills set with the node's NoExecute taints; 0 (set->n may be 0), or -1 when out of memory. */
static int load_no_execute(const cJSON *node, int64_t now, no_execute_set *set) {
  const cJSON *t;
  size_t count = 0;
  set->items = NULL;
  set->n = 0;
  cJSON_ArrayForEach(t, sim_path(node, "spec.taints")) {
    if (str_eq(sim_string(t, "effect"), "NoExecute")) count++;
  }
  if (count == 0) return 0;
  set->items = calloc(count, sizeof *set->items);
  if (set->items == NULL) return -1;
  cJSON_ArrayForEach(t, sim_path(node, "spec.taints")) {
    no_execute *x;
    const char *key = sim_string(t, "key");
    if (!str_eq(sim_string(t, "effect"), "NoExecute")) continue;
    x = &set->items[set->n++];
    if (vr_k8s_time_ms(sim_string(t, "timeAdded"), &x->added) != 0) x->added = now;
    x->key = str_eq(key, TAINT_NOT_READY) || str_eq(key, TAINT_UNREACHABLE) ? key : NULL;
    x->single = cJSON_CreateArray();
    cJSON_AddItemToArray(x->single, cJSON_Duplicate(t, 1));
  }
  return 0;
}

/* When the pod must go (ms since the epoch; INT64_MIN: at once), or -1 when it may stay. A pod
 * whose tolerations are malformed is left alone. A pod lacking a not-ready/unreachable NoExecute
 * toleration is judged as the DefaultTolerationSeconds admission would have admitted it, without
 * copying its tolerations (sim_default_tolerations). */
static int64_t pod_deadline(const cJSON *pod, const no_execute_set *set) {
  const cJSON *tolerations = sim_path(pod, "spec.tolerations");
  int64_t deadline = -1;
  size_t i;
  for (i = 0; i < set->n; i++) {
    vr_toleration_result r;
    int64_t at;
    long long after;
    if (vr_tolerations_check(tolerations, set->items[i].single, VR_TAINT_NO_EXECUTE, &r, NULL, 0) <
        0)
      return -1;
    after = r.evict_after;
    if (set->items[i].key != NULL && !has_default_toleration(tolerations, set->items[i].key))
      after = DEFAULT_TOLERATION_SECONDS; /* nothing else of the pod's can tolerate it */
    if (after < 0) continue;
    at = after == 0 ? INT64_MIN : set->items[i].added + (int64_t)after * 1000;
    if (deadline == -1 || at < deadline) deadline = at;
  }
  return deadline;
}

static void taint_timer(vr_sim *sim, const char *ns, const char *name) {
  (void)ns;
  vr_strmap_remove(&sim->taint_timers, name); /* this event; freed when it returns */
  sim_reconcile_node(sim, "", name);
}

static void cancel_timer(vr_sim *sim, const char *node) {
  sim_event *e = vr_strmap_remove(&sim->taint_timers, node);
  if (e != NULL) sim_cancel(sim, e);
}

/* Arms the node's check for `at` unless one is due earlier (or, replace: in any case). */
static void arm_timer(vr_sim *sim, const char *node, int64_t at, int64_t now, int replace) {
  sim_event *e = vr_strmap_get(&sim->taint_timers, node);
  if (e != NULL && !replace && (int64_t)e->timer.due <= at) return;
  cancel_timer(sim, node);
  e = sim_after(sim, (uint64_t)(at - now), taint_timer, "", node);
  if (e != NULL && vr_strmap_put(&sim->taint_timers, node, e) != 0) sim_cancel(sim, e);
}

static void free_pod_set(vr_strmap *set) {
  if (set == NULL) return;
  vr_strmap_clear(set);
  free(set);
}

/* Deletes the pods on the node that its NoExecute taints evict now; arms a check for the next
 * tolerationSeconds deadline. */
static void taint_manager(vr_sim *sim, const cJSON *node, const char *name) {
  const cJSON **pods;
  no_execute_set set;
  size_t npods, i;
  int64_t now = (int64_t)vr_clock_now(sim->clock), next = -1;
  char(*doomed)[2][254] = NULL;
  size_t ndoomed = 0;
  cancel_timer(sim, name);
  if (load_no_execute(node, now, &set) != 0 || set.n == 0) return;
  npods = vr_store_list(sim->store, "", "Pod", NULL, name, &pods);
  if (npods != (size_t)-1) {
    doomed = calloc(npods + 1, sizeof *doomed);
    for (i = 0; doomed != NULL && i < npods; i++) {
      int64_t at;
      if (sim_path(pods[i], "metadata.deletionTimestamp") != NULL) continue;
      at = pod_deadline(pods[i], &set);
      if (at == -1) continue;
      if (at <= now) { /* names copied: deleting rewrites the pods listed */
        snprintf(doomed[ndoomed][0], sizeof doomed[0][0], "%s",
                 sim_string(pods[i], "metadata.namespace"));
        snprintf(doomed[ndoomed][1], sizeof doomed[0][1], "%s",
                 sim_string(pods[i], "metadata.name"));
        ndoomed++;
      } else if (next == -1 || at < next) {
        next = at;
      }
    }
    free((void *)pods);
  }
  free_no_execute(&set);
  for (i = 0; i < ndoomed; i++) {
    vr_store_error err;
    vr_sim_delete_pod(sim, doomed[i][0], doomed[i][1], -1, &err);
  }
  free(doomed);
  if (next != -1) arm_timer(sim, name, next, now, 1);
}

/* The taint manager for the pods of the node noted since it last looked (sim_note_node_pod):
 * only those are checked, and the node's pending check moves earlier if one of them is due
 * sooner. */
static void taint_manager_pods(vr_sim *sim, const cJSON *node, const char *name) {
  vr_strmap *pending = vr_strmap_remove(&sim->taint_pods, name);
  no_execute_set set;
  int64_t now = (int64_t)vr_clock_now(sim->clock), next = -1;
  size_t pos = 0;
  const char *key;
  if (pending == NULL) return;
  if (load_no_execute(node, now, &set) != 0 || set.n == 0) {
    free_pod_set(pending);
    return;
  }
  while (vr_strmap_next(pending, &pos, &key, NULL)) {
    char ns[254];
    const char *pod_name;
    const cJSON *pod;
    int64_t at;
    if (sim_split_key(key, ns, sizeof ns, &pod_name) != 0) continue;
    pod = vr_store_get(sim->store, "", "Pod", ns, pod_name);
    if (pod == NULL || !str_eq(sim_string(pod, "spec.nodeName"), name) ||
        sim_path(pod, "metadata.deletionTimestamp") != NULL)
      continue;
    at = pod_deadline(pod, &set);
    if (at == -1) continue;
    if (at <= now) {
      vr_store_error err;
      vr_sim_delete_pod(sim, ns, pod_name, -1, &err); /* the key stays valid: pending owns it */
    } else if (next == -1 || at < next) {
      next = at;
    }
  }
  free_no_execute(&set);
  free_pod_set(pending);
  if (next != -1) arm_timer(sim, name, next, now, 0);
}

static int has_no_execute(const cJSON *node) {
  const cJSON *t;
  cJSON_ArrayForEach(t, sim_path(node, "spec.taints")) {
    if (str_eq(sim_string(t, "effect"), "NoExecute")) return 1;
  }
  return 0;
}

void sim_note_node_pod(vr_sim *sim, const cJSON *pod) {
  const char *node_name = sim_string(pod, "spec.nodeName");
  const cJSON *node;
  vr_strmap *set;
  char key[520];
  if (node_name == NULL || sim_path(pod, "metadata.deletionTimestamp") != NULL) return;
  node = vr_store_get(sim->store, "", "Node", NULL, node_name);
  if (node == NULL || !has_no_execute(node)) return; /* a new NoExecute taint checks them all */
  set = vr_strmap_get(&sim->taint_pods, node_name);
  if (set == NULL) {
    set = calloc(1, sizeof *set);
    if (set == NULL) return;
    vr_strmap_init(set);
    if (vr_strmap_put(&sim->taint_pods, node_name, set) != 0) {
      free(set);
      return;
    }
  }
  sim_key(key, sizeof key, sim_string(pod, "metadata.namespace"), sim_string(pod, "metadata.name"));
  if (vr_strmap_put(set, key, (void *)1) != 0) return;
  sim_enqueue(sim, SIM_Q_NODE, SIM_NODE_PODS, node_name);
}

void sim_reconcile_node(vr_sim *sim, const char *ns, const char *name) {
  const cJSON *node = vr_store_get(sim->store, "", "Node", NULL, name);
  if (str_eq(ns, SIM_NODE_PODS) && node != NULL) { /* pods changed: only NoExecute taints matter */
    taint_manager_pods(sim, node, name);
    return;
  }
  free_pod_set(vr_strmap_remove(&sim->taint_pods, name)); /* the full check covers them */
  if (node == NULL) {
    cancel_timer(sim, name);
    return;
  }
  sync_taints(sim, node);
  node = vr_store_get(sim->store, "", "Node", NULL, name); /* the write replaced it */
  if (node != NULL) taint_manager(sim, node, name);
}

void sim_free_nodes(vr_sim *sim) {
  size_t pos = 0;
  void *v;
  while (vr_strmap_next(&sim->taint_pods, &pos, NULL, &v)) free_pod_set(v);
  vr_strmap_clear(&sim->taint_pods);
  vr_strmap_clear(&sim->taint_timers);
}
