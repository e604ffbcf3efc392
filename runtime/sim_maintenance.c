/* sim_maintenance.c: the simulator's NodeMaintenance operator (reference kubevirt-migration.md
 * §5): the medik8s reconcile loop (§5.2) for CRs of both API groups (§5.1: medik8s.io taints
 * medik8s.io/drain and leases node-<node> in medik8s-leases; the deprecated kubevirt.io group
 * taints kubevirt.io/drain, which KubeVirt's evacuation controller also acts on, and leases <node>
 * in node-maintenance), its admission webhook (§5.1), and the kubectl drain library it runs
 * (§4.2: filter chain from drain_filter.h, evictions in parallel re-POSTed every 5 s on 429, 1 s
 * polling until the pods are gone, a 30 s timeout per attempt, a new attempt 5 s after a failed
 * one). Runs from the simulator's work loop and timed events only; never calls Lua. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drain_filter.h"
#include "selector.h"
#include "sim_internal.h"

#define FINALIZER          "foregroundDeleteNodeMaintenance"
#define EXCLUDE_LABEL      "remediation.medik8s.io/exclude-from-remediation"
#define UNSCHEDULABLE      "node.kubernetes.io/unschedulable"
#define LEASE_HOLDER       "node-maintenance"
#define LEASE_SECONDS      3600
#define DRAIN_TIMEOUT_MS   30000 /* DrainerTimeout */
#define DRAIN_TIMEOUT_TEXT "30s" /* as Go prints it */
#define EVICT_RETRY_MS     5000  /* kubectl's sleep after a 429 */
#define DELETE_POLL_MS     1000  /* kubectl's waitForDelete interval */
#define DRAIN_REQUEUE_MS   5000  /* waitDurationOnDrainError */
#define MAX_LEASE_ERRORS   3     /* maxAllowedErrorToUpdateOwnedLease */
#define BACKOFF_FIRST_MS   5     /* controller-runtime's per-item exponential backoff */
#define BACKOFF_MAX_MS     1000000
#define WEBHOOK            "admission webhook \"vnodemaintenance.kb.io\" denied the request: "

/* What differs between the two API groups (§5.1). */
typedef struct flavour {
  const char *group;
  const char *taint;        /* the drain taint's key */
  const char *lease_ns;     /* the Lease's namespace */
  const char *lease_prefix; /* the Lease's name is prefix + node */
  int full_status;          /* drainProgress, lastUpdate and pendingPodsRefs exist */
} flavour;

static const flavour flavours[] = {
    {SIM_NM_GROUP, "medik8s.io/drain", "medik8s-leases", "node-", 1},
    {SIM_NM_GROUP_OLD, "kubevirt.io/drain", "node-maintenance", "", 0},
};

/* A pod of a running drain attempt (one of kubectl's eviction goroutines). */
typedef struct nm_pod {
  char ns[254], name[254], uid[64];
  int waiting;      /* evicted; waiting for it to be gone */
  int done;         /* finished, with or without an error */
  uint64_t next_ms; /* when it is looked at next */
} nm_pod;

/* The controller's memory for one CR (what a blocking RunNodeDrain and the work queue's
 * backoff keep in NMO). Owned by sim->maintenance. */
typedef struct nm_state {
  int attempting; /* a drain attempt runs */
  uint64_t deadline_ms;
  nm_pod *pods;
  size_t npods;
  char *errors; /* the attempt's errors so far, ", "-separated, or NULL */
  size_t nerrors;
  sim_event *event;  /* the attempt's next step, or a requeue; NULL when none */
  unsigned failures; /* consecutive reconcile errors (backoff) */
} nm_state;

static const flavour *flavour_of(const char *group) {
  return strcmp(group, SIM_NM_GROUP_OLD) == 0 ? &flavours[1] : &flavours[0];
}

static void state_key(char *buf, size_t len, const char *group, const char *name) {
  snprintf(buf, len, "%s" SIM_SEP "%s", group, name);
}

static nm_state *state_get(vr_sim *sim, const char *group, const char *name, int create) {
  char key[520];
  nm_state *st;
  state_key(key, sizeof key, group, name);
  st = vr_strmap_get(&sim->maintenance, key);
  if (st != NULL || !create) return st;
  st = calloc(1, sizeof *st);
  if (st != NULL && vr_strmap_put(&sim->maintenance, key, st) != 0) {
    free(st);
    st = NULL;
  }
  return st;
}

static void end_attempt(nm_state *st) {
  free(st->pods);
  free(st->errors);
  st->pods = NULL;
  st->errors = NULL;
  st->npods = st->nerrors = 0;
  st->attempting = 0;
}

static void state_drop(vr_sim *sim, const char *group, const char *name) {
  char key[520];
  nm_state *st;
  state_key(key, sizeof key, group, name);
  st = vr_strmap_remove(&sim->maintenance, key);
  if (st == NULL) return;
  sim_cancel(sim, st->event);
  end_attempt(st);
  free(st);
}

void sim_free_maintenance(vr_sim *sim) {
  size_t pos = 0;
  void *v;
  while (vr_strmap_next(&sim->maintenance, &pos, NULL, &v)) { /* events are already gone */
    end_attempt(v);
    free(v);
  }
  vr_strmap_clear(&sim->maintenance);
}

/* --- small helpers ------------------------------------------------------------------------------
 */

static const cJSON *get_nm(vr_sim *sim, const char *group, const char *name) {
  return vr_store_get(sim->store, group, "NodeMaintenance", NULL, name);
}

static int64_t status_int(const cJSON *nm, const char *field) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(sim_path(nm, "status"), field);
  return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

/* status.<field> = v, or no field for 0 (the Go type's omitempty). */
static void set_status_int(cJSON *nm, const char *field, int64_t v) {
  char path[64];
  snprintf(path, sizeof path, "status.%s", field);
  if (v == 0) {
    cJSON_DeleteItemFromObjectCaseSensitive((cJSON *)sim_path(nm, "status"), field);
  } else {
    sim_set(nm, path, cJSON_CreateNumber((double)v));
  }
}

static void set_status_str(cJSON *nm, const char *field, const char *v) {
  char path[64];
  snprintf(path, sizeof path, "status.%s", field);
  sim_set(nm, path, cJSON_CreateString(v));
}

/* Writes a modified copy of an object unless nothing changed (so that a reconcile that changes
 * nothing causes no event and the loop settles). Takes copy. */
static void save_if_changed(vr_sim *sim, const cJSON *orig, cJSON *copy) {
  if (orig != NULL && cJSON_Compare(orig, copy, 1)) {
    cJSON_Delete(copy);
    return;
  }
  sim_save(sim, copy);
}

static int has_string(const cJSON *array, const char *s) {
  const cJSON *v;
  cJSON_ArrayForEach(v, array) {
    if (cJSON_IsString(v) && strcmp(v->valuestring, s) == 0) return 1;
  }
  return 0;
}

/* A Lease time (MicroTime: "2026-05-01T10:00:00.000000Z") for now. */
static void micro_now(vr_sim *sim, char *buf, size_t len) {
  char ms[40];
  vr_clock_format(vr_clock_now(sim->clock), ms, sizeof ms); /* ...T10:00:00.000Z */
  if (strlen(ms) >= 24) ms[23] = '\0';
  snprintf(buf, len, "%s000Z", ms);
}

/* --- the drain library's pod list (§4.2 steps 3-4) ------------------------------------------ */

static int daemonset_exists(void *ctx, const char *ns, const char *name) {
  return vr_store_get(((vr_sim *)ctx)->store, "apps", "DaemonSet", ns, name) != NULL;
}

/* NMO's drainer: Force, DeleteEmptyDirData, IgnoreAllDaemonSets (§5.2 step 5). */
static vr_drain_options drainer(vr_sim *sim) {
  vr_drain_options o;
  memset(&o, 0, sizeof o);
  o.force = o.ignore_daemonsets = o.delete_emptydir_data = 1;
  o.now_ms = vr_clock_now(sim->clock);
  o.daemonset_exists = daemonset_exists;
  o.ctx = sim;
  return o;
}

/* GetPodsForDeletion on a node: the pods on it, which of them the drain evicts, and kubectl's
 * error text when a filter refuses the drain. */
typedef struct pod_list {
  const cJSON **pods; /* every pod on the node (store pointers, valid until the next write) */
  size_t total;
  vr_drain_decision *decisions;
  size_t evict; /* how many are evicted */
  char *errors; /* kubectl's error text, or NULL */
} pod_list;

static void pod_list_free(pod_list *l) {
  free((void *)l->pods);
  free(l->decisions);
  free(l->errors);
  memset(l, 0, sizeof *l);
}

/* 0, or -1 when out of memory. */
static int pods_for_deletion(vr_sim *sim, const char *node, pod_list *l) {
  vr_drain_options o = drainer(sim);
  vr_drain_entry *entries;
  char(*msgs)[VR_DRAIN_MSG_MAX];
  size_t i, nerr = 0;
  memset(l, 0, sizeof *l);
  l->total = vr_store_list(sim->store, "", "Pod", NULL, node, &l->pods);
  if (l->total == (size_t)-1) {
    l->total = 0;
    l->pods = NULL;
    return -1;
  }
  l->decisions = calloc(l->total + 1, sizeof *l->decisions);
  entries = calloc(l->total + 1, sizeof *entries);
  msgs = calloc(l->total + 1, sizeof *msgs);
  if (l->decisions == NULL || entries == NULL || msgs == NULL) {
    free(entries);
    free(msgs);
    pod_list_free(l);
    return -1;
  }
  for (i = 0; i < l->total; i++) {
    l->decisions[i] = vr_drain_filter(l->pods[i], &o, msgs[i], sizeof msgs[i]);
    entries[i].ns = sim_string(l->pods[i], "metadata.namespace");
    entries[i].name = sim_string(l->pods[i], "metadata.name");
    entries[i].decision = l->decisions[i];
    entries[i].message = msgs[i];
    if (vr_drain_deletes(l->decisions[i])) l->evict++;
    if (l->decisions[i] == VR_DRAIN_ERROR) nerr++;
  }
  if (nerr > 0) {
    size_t need = vr_drain_errors(entries, l->total, NULL, 0);
    l->errors = malloc(need + 1);
    if (l->errors != NULL) vr_drain_errors(entries, l->total, l->errors, need + 1);
  }
  free(entries);
  free(msgs);
  return 0;
}

/* status.pendingPods (names) and pendingPodsRefs from a list; no fields when empty. */
static void set_pending(cJSON *nm, const flavour *f, const pod_list *l) {
  cJSON *names = cJSON_CreateArray(), *refs = cJSON_CreateArray();
  cJSON *status = (cJSON *)sim_path(nm, "status");
  size_t i;
  for (i = 0; i < l->total; i++) {
    cJSON *ref;
    if (!vr_drain_deletes(l->decisions[i])) continue;
    cJSON_AddItemToArray(names, cJSON_CreateString(sim_string(l->pods[i], "metadata.name")));
    ref = cJSON_CreateObject();
    cJSON_AddStringToObject(ref, "namespace", sim_string(l->pods[i], "metadata.namespace"));
    cJSON_AddStringToObject(ref, "name", sim_string(l->pods[i], "metadata.name"));
    cJSON_AddItemToArray(refs, ref);
  }
  cJSON_DeleteItemFromObjectCaseSensitive(status, "pendingPods");
  cJSON_DeleteItemFromObjectCaseSensitive(status, "pendingPodsRefs");
  if (cJSON_GetArraySize(names) > 0) {
    sim_set(nm, "status.pendingPods", names);
    names = NULL;
    if (f->full_status) {
      sim_set(nm, "status.pendingPodsRefs", refs);
      refs = NULL;
    }
  }
  cJSON_Delete(names);
  cJSON_Delete(refs);
}

/* How far the drain got: drainProgress, or (the old group has no such field) the same figure
 * from evictionPods and pendingPods. */
static int64_t progress_of(const cJSON *nm, const flavour *f) {
  int64_t evict = status_int(nm, "evictionPods");
  if (f->full_status) return status_int(nm, "drainProgress");
  if (evict == 0) return 0;
  return (evict - cJSON_GetArraySize(sim_path(nm, "status.pendingPods"))) * 100 / evict;
}

static void set_last_update(vr_sim *sim, cJSON *nm, const flavour *f) {
  char ts[40];
  if (!f->full_status) return;
  sim_timestamp(sim, ts, sizeof ts);
  set_status_str(nm, "lastUpdate", ts);
}

/* --- the node: label, taints, cordon (§5.2 step 4, step 7) ------------------------------------ */

static int is_taint(const cJSON *t, const char *key) {
  const char *k = sim_string(t, "key"), *effect = sim_string(t, "effect");
  return k && effect && strcmp(k, key) == 0 && strcmp(effect, "NoSchedule") == 0;
}

/* Puts the node into maintenance (on) or takes it out: the exclude-from-remediation label, the
 * drain and unschedulable NoSchedule taints, spec.unschedulable. */
static void set_node_maintenance(vr_sim *sim, const flavour *f, const cJSON *node, int on) {
  cJSON *copy = cJSON_Duplicate(node, 1), *taints, *t, *spec;
  const char *keys[2];
  int i;
  keys[0] = f->taint;
  keys[1] = UNSCHEDULABLE;
  { /* the label's key has dots: not a sim_set path */
    cJSON *labels = (cJSON *)sim_path(copy, "metadata.labels");
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(labels, EXCLUDE_LABEL);
    int set = cJSON_IsString(l) && strcmp(l->valuestring, "true") == 0;
    if (on && !set) {
      if (!cJSON_IsObject(labels)) {
        sim_set(copy, "metadata.labels", cJSON_CreateObject());
        labels = (cJSON *)sim_path(copy, "metadata.labels");
      }
      cJSON_DeleteItemFromObjectCaseSensitive(labels, EXCLUDE_LABEL);
      cJSON_AddStringToObject(labels, EXCLUDE_LABEL, "true");
    } else if (!on && set) {
      cJSON_DeleteItemFromObjectCaseSensitive(labels, EXCLUDE_LABEL);
    }
  }
  if (sim_path(copy, "spec") == NULL) sim_set(copy, "spec", cJSON_CreateObject());
  spec = (cJSON *)sim_path(copy, "spec");
  taints = cJSON_GetObjectItemCaseSensitive(spec, "taints");
  if (on) {
    if (!cJSON_IsArray(taints)) {
      cJSON_DeleteItemFromObjectCaseSensitive(spec, "taints");
      taints = cJSON_AddArrayToObject(spec, "taints");
    }
    for (i = 0; i < 2; i++) {
      int found = 0;
      cJSON_ArrayForEach(t, taints) found |= is_taint(t, keys[i]);
      if (!found) {
        t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "key", keys[i]);
        cJSON_AddStringToObject(t, "effect", "NoSchedule");
        cJSON_AddItemToArray(taints, t);
      }
    }
    cJSON_DeleteItemFromObjectCaseSensitive(spec, "unschedulable");
    cJSON_AddBoolToObject(spec, "unschedulable", 1);
  } else {
    int n = cJSON_GetArraySize(taints);
    while (n-- > 0) {
      t = cJSON_GetArrayItem(taints, n);
      if (is_taint(t, keys[0]) || is_taint(t, keys[1])) cJSON_DeleteItemFromArray(taints, n);
    }
    if (taints != NULL && cJSON_GetArraySize(taints) == 0)
      cJSON_DeleteItemFromObjectCaseSensitive(spec, "taints");
    cJSON_DeleteItemFromObjectCaseSensitive(spec, "unschedulable"); /* uncordoned */
  }
  save_if_changed(sim, node, copy);
}

/* --- the lease (§5.1, medik8s common/pkg/lease) ------------------------------------------------
 */

static void lease_name(char *buf, size_t len, const flavour *f, const char *node) {
  snprintf(buf, len, "%s%s", f->lease_prefix, node);
}

static void lease_owner(cJSON *lease, const cJSON *node) {
  cJSON *owners = cJSON_CreateArray(), *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "apiVersion", "v1");
  cJSON_AddStringToObject(o, "kind", "Node");
  cJSON_AddStringToObject(o, "name", sim_string(node, "metadata.name"));
  cJSON_AddStringToObject(o, "uid", sim_string(node, "metadata.uid"));
  cJSON_AddItemToArray(owners, o);
  sim_set(lease, "metadata.ownerReferences", owners);
}

static int64_t lease_time(const cJSON *lease, const char *field) {
  int64_t ms;
  return vr_k8s_time_ms(sim_string(lease, field), &ms) == 0 ? ms : -1;
}

/* RequestLease for 3600 s: creates, renews or takes over an expired lease. 0, or 1 when another
 * holder has a valid lease (holder gets its name). */
static int request_lease(vr_sim *sim, const flavour *f, const cJSON *node, char *holder,
                         size_t hlen) {
  char name[300], now_text[40];
  const char *node_name = sim_string(node, "metadata.name"), *who;
  const cJSON *lease, *dur;
  int64_t now = (int64_t)vr_clock_now(sim->clock), renew, due;
  int update, acquire = 0;
  cJSON *copy;
  lease_name(name, sizeof name, f, node_name);
  micro_now(sim, now_text, sizeof now_text);
  lease = vr_store_get(sim->store, "coordination.k8s.io", "Lease", f->lease_ns, name);
  if (lease == NULL) {
    vr_store_error err;
    copy = cJSON_CreateObject();
    cJSON_AddStringToObject(copy, "apiVersion", "coordination.k8s.io/v1");
    cJSON_AddStringToObject(copy, "kind", "Lease");
    sim_set(copy, "metadata.name", cJSON_CreateString(name));
    sim_set(copy, "metadata.namespace", cJSON_CreateString(f->lease_ns));
    lease_owner(copy, node);
    sim_set(copy, "spec.holderIdentity", cJSON_CreateString(LEASE_HOLDER));
    sim_set(copy, "spec.leaseDurationSeconds", cJSON_CreateNumber(LEASE_SECONDS));
    sim_set(copy, "spec.acquireTime", cJSON_CreateString(now_text));
    sim_set(copy, "spec.renewTime", cJSON_CreateString(now_text));
    sim_set(copy, "spec.leaseTransitions", cJSON_CreateNumber(0));
    vr_store_create(sim->store, copy, NULL, &err);
    return 0;
  }
  who = sim_string(lease, "spec.holderIdentity");
  dur = sim_path(lease, "spec.leaseDurationSeconds");
  renew = lease_time(lease, "spec.renewTime");
  due = cJSON_IsNumber(dur) && renew >= 0 ? renew + (int64_t)dur->valuedouble * 1000 : -1;
  if (who != NULL && strcmp(who, LEASE_HOLDER) == 0) {
    if (due < 0) {
      update = acquire = 1;
    } else if (due < now) {
      update = 1;
      acquire = sim_path(lease, "spec.acquireTime") == NULL;
    } else {
      update = due < now + LEASE_SECONDS * 1000; /* renewed whenever time has passed */
    }
  } else {
    if (due >= now && renew <= now) { /* valid: not ours to take */
      snprintf(holder, hlen, "%s", who ? who : "");
      return 1;
    }
    update = acquire = 1; /* taking over an expired lease */
  }
  if (!update) return 0;
  copy = cJSON_Duplicate(lease, 1);
  if (acquire) {
    const cJSON *tr = sim_path(lease, "spec.leaseTransitions");
    sim_set(copy, "spec.acquireTime", cJSON_CreateString(now_text));
    sim_set(copy, "spec.leaseTransitions",
            cJSON_CreateNumber(cJSON_IsNumber(tr) ? tr->valuedouble + 1 : 1));
  }
  lease_owner(copy, node);
  sim_set(copy, "spec.holderIdentity", cJSON_CreateString(LEASE_HOLDER));
  sim_set(copy, "spec.leaseDurationSeconds", cJSON_CreateNumber(LEASE_SECONDS));
  sim_set(copy, "spec.renewTime", cJSON_CreateString(now_text));
  save_if_changed(sim, lease, copy);
  return 0;
}

/* InvalidateLease: deletes our lease; another holder's is left alone. */
static void invalidate_lease(vr_sim *sim, const flavour *f, const char *node_name) {
  char name[300];
  const cJSON *lease;
  const char *who;
  vr_store_error err;
  lease_name(name, sizeof name, f, node_name);
  lease = vr_store_get(sim->store, "coordination.k8s.io", "Lease", f->lease_ns, name);
  if (lease == NULL) return;
  who = sim_string(lease, "spec.holderIdentity");
  if (who != NULL && strcmp(who, LEASE_HOLDER) != 0) return;
  vr_store_delete(sim->store, "coordination.k8s.io", "Lease", f->lease_ns, name, &err);
}

/* stopNodeMaintenanceImp: taints off, uncordon, lease invalidated, label off. */
static void stop_maintenance(vr_sim *sim, const flavour *f, const char *node_name) {
  const cJSON *node = node_name ? vr_store_get(sim->store, "", "Node", NULL, node_name) : NULL;
  if (node != NULL) set_node_maintenance(sim, f, node, 0);
  if (node_name != NULL) invalidate_lease(sim, f, node_name);
}

/* --- reconcile outcomes ------------------------------------------------------------------------
 */

static void requeue_event(vr_sim *sim, const char *group, const char *name) {
  nm_state *st = state_get(sim, group, name, 0);
  if (st != NULL) st->event = NULL; /* this event; freed after it returns */
  sim_enqueue(sim, SIM_Q_NM, group, name);
}

/* onReconcileErrorWithRequeue: lastError, lastUpdate, the pending pods and drainProgress
 * recomputed, the status written, a new reconcile after delay_ms (0: none). Takes nm_copy. */
static void reconcile_error(vr_sim *sim, const flavour *f, const cJSON *nm, cJSON *nm_copy,
                            const char *message, uint64_t delay_ms) {
  const char *node = sim_string(nm_copy, "spec.nodeName");
  char name[254]; /* nm is replaced below; its strings go with it */
  nm_state *st;
  pod_list l;
  snprintf(name, sizeof name, "%s", sim_string(nm, "metadata.name"));
  st = state_get(sim, f->group, name, 1);
  set_status_str(nm_copy, "lastError", message);
  set_last_update(sim, nm_copy, f);
  if (node != NULL && node[0] != '\0' && pods_for_deletion(sim, node, &l) == 0) {
    int64_t evict = status_int(nm_copy, "evictionPods");
    set_pending(nm_copy, f, &l);
    if (evict != 0 && f->full_status)
      set_status_int(nm_copy, "drainProgress", (evict - (int64_t)l.evict) * 100 / evict);
    pod_list_free(&l);
  }
  save_if_changed(sim, nm, nm_copy);
  if (delay_ms > 0 && st != NULL) {
    sim_cancel(sim, st->event);
    st->event = sim_after(sim, delay_ms, requeue_event, f->group, name);
  }
}

/* The drain succeeded: Succeeded, 100 %, no pending pods. Takes nm_copy. */
static void drain_succeeded(vr_sim *sim, const flavour *f, const cJSON *nm, cJSON *nm_copy) {
  cJSON *status = (cJSON *)sim_path(nm_copy, "status");
  if (!sim_phase_is(nm_copy, "Succeeded")) set_last_update(sim, nm_copy, f);
  set_status_str(nm_copy, "phase", "Succeeded");
  if (f->full_status) set_status_int(nm_copy, "drainProgress", 100);
  cJSON_DeleteItemFromObjectCaseSensitive(status, "pendingPods");
  cJSON_DeleteItemFromObjectCaseSensitive(status, "pendingPodsRefs");
  save_if_changed(sim, nm, nm_copy);
}

/* Exponential backoff of a reconcile that returned an error. */
static uint64_t backoff_ms(nm_state *st) {
  uint64_t ms = BACKOFF_FIRST_MS;
  unsigned i;
  for (i = 0; i < st->failures && ms < BACKOFF_MAX_MS; i++) ms *= 2;
  st->failures++;
  return ms < BACKOFF_MAX_MS ? ms : BACKOFF_MAX_MS;
}

/* --- a drain attempt (RunNodeDrain with a 30 s timeout, §4.2 steps 6-7) ------------------------
 */

static void add_error(nm_state *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add_error(nm_state *st, const char *fmt, ...) {
  char msg[700];
  size_t old = st->errors ? strlen(st->errors) : 0;
  char *grown;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  grown = realloc(st->errors, old + strlen(msg) + 3);
  if (grown == NULL) return;
  if (old > 0) {
    memcpy(grown + old, ", ", 2);
    old += 2;
  }
  strcpy(grown + old, msg);
  st->errors = grown;
  st->nerrors++;
}

static void drain_step(vr_sim *sim, const char *group, const char *name);

static void step_event(vr_sim *sim, const char *group, const char *name) {
  nm_state *st = state_get(sim, group, name, 0);
  if (st == NULL) return;
  st->event = NULL; /* this event; freed after it returns */
  drain_step(sim, group, name);
}

/* The attempt is over: Succeeded, or the aggregated errors and a new attempt in 5 s. */
static void finish_attempt(vr_sim *sim, const flavour *f, const char *name, nm_state *st) {
  const cJSON *nm = get_nm(sim, f->group, name);
  char *errors = st->errors;
  size_t nerrors = st->nerrors;
  st->errors = NULL;
  end_attempt(st);
  if (nm != NULL && sim_path(nm, "metadata.deletionTimestamp") == NULL) {
    if (nerrors == 0) {
      drain_succeeded(sim, f, nm, cJSON_Duplicate(nm, 1));
    } else {
      size_t len = strlen(errors) + 3;
      char *message = malloc(len);
      if (message != NULL)
        snprintf(message, len, nerrors > 1 ? "[%s]" : "%s", errors); /* utilerrors.Aggregate */
      reconcile_error(sim, f, nm, cJSON_Duplicate(nm, 1), message ? message : errors,
                      DRAIN_REQUEUE_MS);
      free(message);
    }
  }
  free(errors);
}

/* Steps every eviction goroutine that is due: POST the eviction (again after a 429), or poll the
 * evicted pod; schedules the next step or finishes the attempt. */
static void drain_step(vr_sim *sim, const char *group, const char *name) {
  const flavour *f = flavour_of(group);
  nm_state *st = state_get(sim, group, name, 0);
  uint64_t now = vr_clock_now(sim->clock), next = UINT64_MAX;
  size_t i;
  if (st == NULL || !st->attempting) return;
  for (i = 0; i < st->npods; i++) {
    nm_pod *p = &st->pods[i];
    if (p->done || p->next_ms > now) continue;
    if (!p->waiting) {
      vr_store_error err;
      if (now >= st->deadline_ms) {
        add_error(st, "error when evicting pods/\"%s\" -n \"%s\": global timeout reached: %s",
                  p->name, p->ns, DRAIN_TIMEOUT_TEXT);
        p->done = 1;
        continue;
      }
      if (vr_sim_evict(sim, p->ns, p->name, NULL, 0, &err) == 0) {
        p->waiting = 1;
      } else if (err.status == 404) {
        p->done = 1;
        continue;
      } else if (err.status == 429) {
        p->next_ms = now + EVICT_RETRY_MS;
        continue;
      } else {
        add_error(st, "error when evicting pods/\"%s\" -n \"%s\": %s", p->name, p->ns, err.message);
        p->done = 1;
        continue;
      }
    }
    { /* waitForDelete: gone, or replaced by a pod of the same name */
      const cJSON *pod = vr_store_get(sim->store, "", "Pod", p->ns, p->name);
      const char *uid = sim_string(pod, "metadata.uid");
      if (pod == NULL || uid == NULL || strcmp(uid, p->uid) != 0) {
        p->done = 1;
      } else if (now >= st->deadline_ms) {
        add_error(st,
                  "error when waiting for pod \"%s\" in namespace \"%s\" to terminate: global "
                  "timeout reached: %s",
                  p->name, p->ns, DRAIN_TIMEOUT_TEXT);
        p->done = 1;
      } else {
        p->next_ms = now + DELETE_POLL_MS;
      }
    }
  }
  for (i = 0; i < st->npods; i++) {
    if (!st->pods[i].done && st->pods[i].next_ms < next) next = st->pods[i].next_ms;
  }
  if (next == UINT64_MAX) {
    finish_attempt(sim, f, name, st);
    return;
  }
  st->event = sim_after(sim, next > now ? next - now : 0, step_event, group, name);
}

/* Starts RunNodeDrain on the list's pods (steps 6-7 run from drain_step). */
static void start_attempt(vr_sim *sim, const flavour *f, const char *name, nm_state *st,
                          const pod_list *l) {
  size_t i, n = 0;
  uint64_t now = vr_clock_now(sim->clock);
  st->pods = calloc(l->evict + 1, sizeof *st->pods);
  if (st->pods == NULL) {
    const cJSON *nm = get_nm(sim, f->group, name);
    if (nm != NULL)
      reconcile_error(sim, f, nm, cJSON_Duplicate(nm, 1), "out of memory starting a drain",
                      DRAIN_REQUEUE_MS);
    return;
  }
  for (i = 0; i < l->total; i++) {
    nm_pod *p;
    if (!vr_drain_deletes(l->decisions[i])) continue;
    p = &st->pods[n++];
    snprintf(p->ns, sizeof p->ns, "%s", sim_string(l->pods[i], "metadata.namespace"));
    snprintf(p->name, sizeof p->name, "%s", sim_string(l->pods[i], "metadata.name"));
    snprintf(p->uid, sizeof p->uid, "%s",
             sim_string(l->pods[i], "metadata.uid") ? sim_string(l->pods[i], "metadata.uid") : "");
    p->next_ms = now;
  }
  st->npods = n;
  st->attempting = 1;
  st->deadline_ms = now + DRAIN_TIMEOUT_MS;
  drain_step(sim, f->group, name);
}

/* --- the reconcile loop (§5.2) ------------------------------------------------------------------
 */

/* Step 7: the CR is being deleted: maintenance off, then the finalizer goes (and the CR). */
static void reconcile_deletion(vr_sim *sim, const flavour *f, const cJSON *nm) {
  const char *name = sim_string(nm, "metadata.name");
  const cJSON *finalizers = sim_path(nm, "metadata.finalizers");
  state_drop(sim, f->group, name); /* a running attempt stops */
  if (has_string(finalizers, FINALIZER)) {
    cJSON *copy = cJSON_Duplicate(nm, 1), *list;
    int i = cJSON_GetArraySize(finalizers);
    stop_maintenance(sim, f, sim_string(nm, "spec.nodeName"));
    list = (cJSON *)sim_path(copy, "metadata.finalizers");
    while (i-- > 0) {
      const cJSON *v = cJSON_GetArrayItem(list, i);
      if (cJSON_IsString(v) && strcmp(v->valuestring, FINALIZER) == 0)
        cJSON_DeleteItemFromArray(list, i);
    }
    sim_save(sim, copy); /* the store removes the CR when no finalizer is left */
  }
}

/* Step 1: finalizer and owner reference (one metadata write); the first status. Returns the
 * current CR. */
static const cJSON *begin(vr_sim *sim, const flavour *f, const cJSON *nm, const cJSON *node) {
  char name[254]; /* nm is replaced below; its strings go with it */
  cJSON *copy = cJSON_Duplicate(nm, 1);
  const cJSON *ref;
  int owned = 0;
  snprintf(name, sizeof name, "%s", sim_string(nm, "metadata.name"));
  if (!has_string(sim_path(nm, "metadata.finalizers"), FINALIZER)) {
    if (!cJSON_IsArray(sim_path(copy, "metadata.finalizers")))
      sim_set(copy, "metadata.finalizers", cJSON_CreateArray());
    cJSON_AddItemToArray((cJSON *)sim_path(copy, "metadata.finalizers"),
                         cJSON_CreateString(FINALIZER));
  }
  cJSON_ArrayForEach(ref, sim_path(nm, "metadata.ownerReferences")) {
    const char *kind = sim_string(ref, "kind"), *uid = sim_string(ref, "uid");
    if (node && kind && uid && strcmp(kind, "Node") == 0 &&
        strcmp(uid, sim_string(node, "metadata.uid")) == 0)
      owned = 1;
  }
  if (node != NULL && !owned) { /* step 2 */
    cJSON *o = cJSON_CreateObject();
    if (!cJSON_IsArray(sim_path(copy, "metadata.ownerReferences")))
      sim_set(copy, "metadata.ownerReferences", cJSON_CreateArray());
    cJSON_AddStringToObject(o, "apiVersion", "v1");
    cJSON_AddStringToObject(o, "kind", "Node");
    cJSON_AddStringToObject(o, "name", sim_string(node, "metadata.name"));
    cJSON_AddStringToObject(o, "uid", sim_string(node, "metadata.uid"));
    cJSON_AddBoolToObject(o, "blockOwnerDeletion", 0);
    cJSON_AddBoolToObject(o, "controller", 0);
    cJSON_AddItemToArray((cJSON *)sim_path(copy, "metadata.ownerReferences"), o);
  }
  if (sim_string(nm, "status.phase") == NULL) { /* initMaintenanceStatus */
    const char *node_name = sim_string(nm, "spec.nodeName");
    pod_list l;
    set_status_str(copy, "phase", "Running");
    set_last_update(sim, copy, f);
    if (node_name != NULL && node_name[0] != '\0' && pods_for_deletion(sim, node_name, &l) == 0) {
      set_pending(copy, f, &l);
      set_status_int(copy, "evictionPods", (int64_t)l.evict);
      set_status_int(copy, "totalpods", (int64_t)l.total);
      pod_list_free(&l);
    }
  }
  save_if_changed(sim, nm, copy);
  return get_nm(sim, f->group, name);
}

void sim_reconcile_nodemaintenance(vr_sim *sim, const char *group, const char *name) {
  const flavour *f = flavour_of(group);
  const cJSON *nm = get_nm(sim, group, name), *node;
  const char *node_name;
  char node_buf[254]; /* begin() replaces nm; the node's name must outlive it */
  nm_state *st;
  cJSON *copy;
  char holder[254], msg[700];
  int64_t lease_errors;
  pod_list l;
  if (nm == NULL) {
    state_drop(sim, group, name);
    return;
  }
  if (sim_path(nm, "metadata.deletionTimestamp") != NULL) {
    reconcile_deletion(sim, f, nm);
    return;
  }
  st = state_get(sim, group, name, 1);
  if (st == NULL) return;
  if (st->attempting || st->event != NULL) return; /* draining, or waiting to requeue */
  node_name = sim_string(nm, "spec.nodeName");
  if (node_name != NULL) {
    snprintf(node_buf, sizeof node_buf, "%s", node_name);
    node_name = node_buf;
  }
  node = node_name ? vr_store_get(sim->store, "", "Node", NULL, node_name) : NULL;
  nm = begin(sim, f, nm, node);
  if (nm == NULL) return;
  copy = cJSON_Duplicate(nm, 1);
  if (node == NULL) { /* the node is gone: Failed, not requeued */
    set_status_str(copy, "phase", "Failed");
    snprintf(msg, sizeof msg, "nodes \"%s\" not found", node_name ? node_name : "");
    reconcile_error(sim, f, nm, copy, msg, 0);
    return;
  }
  lease_errors = status_int(nm, "errorOnLeaseCount");
  if (lease_errors > MAX_LEASE_ERRORS) { /* step 2 */
    stop_maintenance(sim, f, node_name);
    set_status_str(copy, "phase", "Failed");
    snprintf(msg, sizeof msg, "maintenance failed: lease could not be extended after %lld attempts",
             (long long)lease_errors);
    set_status_str(copy, "lastError", msg);
    set_last_update(sim, copy, f);
    save_if_changed(sim, nm, copy);
    return;
  }
  if (request_lease(sim, f, node, holder, sizeof holder) != 0) { /* step 3 */
    if (progress_of(nm, f) > 0) {
      lease_errors++;
      set_status_int(copy, "errorOnLeaseCount", lease_errors);
      snprintf(msg, sizeof msg,
               "failed to extend a lease that used to be owned by us, incrementing error on "
               "lease count: can't update valid lease held by different owner: %s, "
               "errorOnLeaseCount: %lld",
               holder, (long long)lease_errors);
    } else {
      snprintf(msg, sizeof msg,
               "failed to obtain a lease that is not owned by us : can't update valid lease held "
               "by different owner: %s errorOnLeaseCount %lld",
               holder, (long long)lease_errors);
    }
    reconcile_error(sim, f, nm, copy, msg, backoff_ms(st));
    return;
  }
  st->failures = 0;
  set_status_str(copy, "phase", "Running");
  set_status_int(copy, "errorOnLeaseCount", 0);
  set_node_maintenance(sim, f, node, 1);            /* step 4 */
  if (pods_for_deletion(sim, node_name, &l) != 0) { /* step 5 */
    reconcile_error(sim, f, nm, copy, "out of memory listing the node's pods", DRAIN_REQUEUE_MS);
    return;
  }
  if (l.errors != NULL) {
    reconcile_error(sim, f, nm, copy, l.errors, DRAIN_REQUEUE_MS);
  } else if (l.evict == 0) {
    drain_succeeded(sim, f, nm, copy); /* step 6 */
  } else {
    save_if_changed(sim, nm, copy);
    start_attempt(sim, f, name, st, &l);
  }
  pod_list_free(&l);
}

/* --- admission (§5.1) ---------------------------------------------------------------------------
 */

static int deny(vr_store_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int deny(vr_store_error *err, const char *fmt, ...) {
  va_list ap;
  size_t n;
  err->status = 403;
  snprintf(err->reason, sizeof err->reason, "Forbidden");
  n = (size_t)snprintf(err->message, sizeof err->message, "%s", WEBHOOK);
  va_start(ap, fmt);
  if (n < sizeof err->message) vsnprintf(err->message + n, sizeof err->message - n, fmt, ap);
  va_end(ap);
  return -1;
}

/* medik8s's etcd quorum check for a NodeMaintenance (reference §5.1): a node that is not
 * control-plane (label node-role.kubernetes.io/control-plane or master) may always go; one that
 * is may go when there is no etcd guard PDB (openshift-etcd/etcd-guard-pdb, before OpenShift
 * 4.11 etcd-quorum-guard), when the PDB allows a disruption, or when the node has no Ready guard
 * pod (its etcd member is down already, taking it cannot cost more quorum). */
static int etcd_disruption_allowed(vr_sim *sim, const cJSON *node) {
  static const char *const pdb_names[] = {"etcd-guard-pdb", "etcd-quorum-guard"};
  const cJSON *labels = sim_path(node, "metadata.labels"), *pdb = NULL, **pods;
  char serr[VR_SELECTOR_ERRLEN];
  vr_label_selector *ls;
  size_t i, n;
  int ready_guard = 0;
  if (cJSON_GetObjectItemCaseSensitive(labels, "node-role.kubernetes.io/control-plane") == NULL &&
      cJSON_GetObjectItemCaseSensitive(labels, "node-role.kubernetes.io/master") == NULL)
    return 1;
  for (i = 0; i < 2 && pdb == NULL; i++)
    pdb = vr_store_get(sim->store, "policy", "PodDisruptionBudget", "openshift-etcd", pdb_names[i]);
  if (pdb == NULL || sim_pdb_disruptions_allowed(sim, pdb, "openshift-etcd") >= 1) return 1;
  ls = vr_label_selector_from_json(sim_path(pdb, "spec.selector"), serr, sizeof serr);
  if (ls == NULL) return 0; /* a guard selector that does not read: refused, as the check fails */
  n = vr_store_list(sim->store, "", "Pod", "openshift-etcd", sim_string(node, "metadata.name"),
                    &pods);
  for (i = 0; n != (size_t)-1 && i < n; i++) {
    if (vr_label_selector_matches(ls, sim_path(pods[i], "metadata.labels")) &&
        sim_pod_ready(pods[i]))
      ready_guard = 1;
  }
  if (n != (size_t)-1) free((void *)pods);
  vr_label_selector_free(ls);
  return !ready_guard;
}

int sim_admit_nodemaintenance(vr_sim *sim, const cJSON *old, const cJSON *obj,
                              vr_store_error *err) {
  const char *node = sim_string(obj, "spec.nodeName");
  size_t g;
  if (old != NULL) { /* ValidateUpdate */
    const char *was = sim_string(old, "spec.nodeName");
    if ((was == NULL) != (node == NULL) || (was && strcmp(was, node) != 0))
      return deny(err, "updating spec.NodeName isn't allowed");
    return 0;
  }
  if (node == NULL || vr_store_get(sim->store, "", "Node", NULL, node) == NULL)
    return deny(err, "invalid nodeName, no node with name %s found", node ? node : "");
  for (g = 0; g < sizeof flavours / sizeof flavours[0]; g++) { /* either group counts */
    const cJSON **items;
    size_t n = vr_store_list(sim->store, flavours[g].group, "NodeMaintenance", NULL, NULL, &items);
    size_t i;
    int taken = 0;
    if (n == (size_t)-1) continue;
    for (i = 0; i < n; i++) {
      const char *other = sim_string(items[i], "spec.nodeName");
      if (other && strcmp(other, node) == 0) taken = 1;
    }
    free((void *)items);
    if (taken)
      return deny(err, "invalid nodeName, a NodeMaintenance for node %s already exists", node);
  }
  if (!etcd_disruption_allowed(sim, vr_store_get(sim->store, "", "Node", NULL, node))) {
    return deny(err,
                "can not put master/control-plane node into maintenance at this moment, "
                "disrupting node %s will violate etcd quorum",
                node);
  }
  return 0;
}
