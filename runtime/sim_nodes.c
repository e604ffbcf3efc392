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

/* RFC 3339 UTC ("2025-01-02T03:04:05Z", fraction and offset ignored) to ms since the epoch;
 * -1 when unreadable. */
static int64_t parse_time_ms(const char *text) {
  int y, mo, d, h, mi, s;
  int64_t yy, era, yoe, doy, doe, days;
  if (text == NULL || sscanf(text, "%d-%d-%dT%d:%d:%d", &y, &mo, &d, &h, &mi, &s) != 6) return -1;
  if (mo < 1 || mo > 12 || d < 1 || d > 31) return -1;
  yy = (int64_t)y - (mo <= 2); /* days from civil (proleptic Gregorian) */
  era = (yy >= 0 ? yy : yy - 399) / 400;
  yoe = yy - era * 400;
  doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  days = era * 146097 + doe - 719468;
  return ((days * 24 + h) * 60 + mi) * 60000 + (int64_t)s * 1000;
}

/* --- node-lifecycle controller: the taints ---------------------------------------------------- */

static cJSON *new_taint(const char *key, const char *effect, const char *ts) {
  cJSON *t = cJSON_CreateObject();
  cJSON_AddStringToObject(t, "key", key);
  cJSON_AddStringToObject(t, "effect", effect);
  cJSON_AddStringToObject(t, "timeAdded", ts);
  return t;
}

/* Brings the managed taints in line with the node's state; writes the node only on a change. */
static void sync_taints(vr_sim *sim, const cJSON *node) {
  const cJSON *taints = sim_path(node, "spec.taints"), *t;
  int present[MANAGED] = {0}, change = 0;
  size_t i;
  char ts[40];
  cJSON *copy, *out;
  cJSON_ArrayForEach(t, taints) {
    const char *key = sim_string(t, "key"), *effect = sim_string(t, "effect");
    i = managed_index(key, effect);
    if (i < MANAGED) {
      if (!wanted(node, i) || present[i]) change = 1; /* stale, or a duplicate */
      present[i] = 1;
    } else if (str_eq(effect, "NoExecute") && sim_path(t, "timeAdded") == NULL) {
      change = 1;
    }
  }
  for (i = 0; i < MANAGED; i++) {
    if (wanted(node, i) && !present[i]) change = 1;
  }
  if (!change) return;
  sim_timestamp(sim, ts, sizeof ts);
  memset(present, 0, sizeof present);
  out = cJSON_CreateArray();
  cJSON_ArrayForEach(t, taints) {
    const char *key = sim_string(t, "key"), *effect = sim_string(t, "effect");
    cJSON *dup;
    i = managed_index(key, effect);
    if (i < MANAGED && (!wanted(node, i) || present[i])) continue;
    if (i < MANAGED) present[i] = 1;
    dup = cJSON_Duplicate(t, 1);
    if (str_eq(effect, "NoExecute") && sim_path(dup, "timeAdded") == NULL)
      cJSON_AddStringToObject(dup, "timeAdded", ts);
    cJSON_AddItemToArray(out, dup);
  }
  for (i = 0; i < MANAGED; i++) {
    if (wanted(node, i) && !present[i])
      cJSON_AddItemToArray(out, new_taint(managed[i].key, managed[i].effect, ts));
  }
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

cJSON *sim_default_tolerations(const cJSON *tolerations) {
  static const char *const keys[] = {TAINT_NOT_READY, TAINT_UNREACHABLE};
  cJSON *out = cJSON_IsArray(tolerations) ? cJSON_Duplicate(tolerations, 1) : cJSON_CreateArray();
  const cJSON *t;
  size_t k;
  for (k = 0; k < 2; k++) {
    int has = 0;
    cJSON_ArrayForEach(t, tolerations) { /* the admission plugin's test: key and effect only */
      const char *key = sim_string(t, "key"), *effect = sim_string(t, "effect");
      if ((key == NULL || key[0] == '\0' || strcmp(key, keys[k]) == 0) &&
          (effect == NULL || effect[0] == '\0' || strcmp(effect, "NoExecute") == 0))
        has = 1;
    }
    if (!has) {
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

typedef struct no_execute {
  cJSON *single; /* a one-taint array, owned */
  int64_t added; /* timeAdded, ms */
} no_execute;

/* When the pod must go (ms since the epoch; INT64_MIN: at once), or -1 when it may stay. A pod
 * whose tolerations are malformed is left alone. */
static int64_t pod_deadline(const cJSON *pod, const no_execute *taints, size_t n) {
  cJSON *tolerations = sim_default_tolerations(sim_path(pod, "spec.tolerations"));
  int64_t deadline = -1;
  size_t i;
  for (i = 0; i < n; i++) {
    vr_toleration_result r;
    int64_t at;
    if (vr_tolerations_check(tolerations, taints[i].single, VR_TAINT_NO_EXECUTE, &r, NULL, 0) < 0) {
      deadline = -1;
      break;
    }
    if (r.evict_after < 0) continue;
    at = r.evict_after == 0 ? INT64_MIN : taints[i].added + (int64_t)r.evict_after * 1000;
    if (deadline == -1 || at < deadline) deadline = at;
  }
  cJSON_Delete(tolerations);
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

/* Deletes the pods on the node that its NoExecute taints evict now; arms a check for the next
 * tolerationSeconds deadline. */
static void taint_manager(vr_sim *sim, const cJSON *node, const char *name) {
  const cJSON *t, **pods;
  no_execute *taints;
  size_t n = 0, count = 0, npods, i;
  int64_t now = (int64_t)vr_clock_now(sim->clock), next = -1, fallback = now;
  char(*doomed)[2][254] = NULL;
  size_t ndoomed = 0;
  cancel_timer(sim, name);
  cJSON_ArrayForEach(t, sim_path(node, "spec.taints")) {
    if (str_eq(sim_string(t, "effect"), "NoExecute")) count++;
  }
  if (count == 0) return;
  taints = calloc(count, sizeof *taints);
  if (taints == NULL) return;
  cJSON_ArrayForEach(t, sim_path(node, "spec.taints")) {
    int64_t added;
    if (!str_eq(sim_string(t, "effect"), "NoExecute")) continue;
    added = parse_time_ms(sim_string(t, "timeAdded"));
    taints[n].added = added < 0 ? fallback : added;
    taints[n].single = cJSON_CreateArray();
    cJSON_AddItemToArray(taints[n].single, cJSON_Duplicate(t, 1));
    n++;
  }
  npods = vr_store_list(sim->store, "", "Pod", NULL, name, &pods);
  if (npods != (size_t)-1) {
    doomed = calloc(npods + 1, sizeof *doomed);
    for (i = 0; doomed != NULL && i < npods; i++) {
      int64_t at;
      if (sim_path(pods[i], "metadata.deletionTimestamp") != NULL) continue;
      at = pod_deadline(pods[i], taints, n);
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
  for (i = 0; i < n; i++) cJSON_Delete(taints[i].single);
  free(taints);
  for (i = 0; i < ndoomed; i++) {
    vr_store_error err;
    vr_sim_delete_pod(sim, doomed[i][0], doomed[i][1], -1, &err);
  }
  free(doomed);
  if (next != -1) {
    sim_event *e = sim_after(sim, (uint64_t)(next - now), taint_timer, "", name);
    if (e != NULL && vr_strmap_put(&sim->taint_timers, name, e) != 0) sim_cancel(sim, e);
  }
}

static int has_no_execute(const cJSON *node) {
  const cJSON *t;
  cJSON_ArrayForEach(t, sim_path(node, "spec.taints")) {
    if (str_eq(sim_string(t, "effect"), "NoExecute")) return 1;
  }
  return 0;
}

void sim_reconcile_node(vr_sim *sim, const char *ns, const char *name) {
  const cJSON *node = vr_store_get(sim->store, "", "Node", NULL, name);
  if (node == NULL) {
    cancel_timer(sim, name);
    return;
  }
  if (str_eq(ns, SIM_NODE_PODS)) { /* a pod arrived or changed: only NoExecute taints matter */
    if (has_no_execute(node)) taint_manager(sim, node, name);
    return;
  }
  sync_taints(sim, node);
  node = vr_store_get(sim->store, "", "Node", NULL, name); /* the write replaced it */
  if (node != NULL) taint_manager(sim, node, name);
}

void sim_free_nodes(vr_sim *sim) {
  vr_strmap_clear(&sim->taint_timers);
}
