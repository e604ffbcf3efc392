/* sim_eviction.c: pod eviction and deletion in the simulator: the pods/eviction subresource
 * (reference kubevirt-migration.md §4.3) with KubeVirt's eviction webhook in front of it (§3.2,
 * HEAD behaviour), PodDisruptionBudgets computed from the pods they select (including the
 * maxUnavailable-on-VM-pods trap, §4.3 and §8 row 5), graceful pod deletion (a virt-launcher pod
 * going away shuts its VM down, §3.5; deletions loaded in flight go on), and the VMI
 * LiveMigratable condition (§3.6). Runs inside binding calls or the simulator's work loop; never
 * calls Lua. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drain_filter.h" /* vr_k8s_time_ms */
#include "migration_config.h"
#include "selector.h"
#include "sim_internal.h"

static void set_error(vr_store_error *err, int status, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void set_error(vr_store_error *err, int status, const char *reason, const char *fmt, ...) {
  va_list ap;
  err->status = status;
  snprintf(err->reason, sizeof err->reason, "%s", reason);
  va_start(ap, fmt);
  vsnprintf(err->message, sizeof err->message, fmt, ap);
  va_end(ap);
}

static const char *label(const cJSON *obj, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(sim_path(obj, "metadata.labels"), key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int is_launcher(const cJSON *pod) {
  const char *l = label(pod, "kubevirt.io");
  return l && strcmp(l, "virt-launcher") == 0;
}

/* --- LiveMigratable (§3.6) ---------------------------------------------------------------------
 */

/* 1 when the VMI can live-migrate; else 0 with KubeVirt's reason and message. */
int sim_vmi_live_migratable(vr_sim *sim, const cJSON *vmi, char *reason, size_t rlen, char *message,
                            size_t mlen) {
  const cJSON *spec = sim_path(vmi, "spec"), *iface, *net, *vol;
  const char *ns = sim_string(vmi, "metadata.namespace");
  const cJSON *pod_network = NULL;
  cJSON_ArrayForEach(net, sim_path(spec, "networks")) {
    if (sim_path(net, "pod") != NULL) pod_network = net;
  }
  cJSON_ArrayForEach(iface, sim_path(spec, "domain.devices.interfaces")) {
    const char *name = sim_string(iface, "name");
    const char *net_name = pod_network ? sim_string(pod_network, "name") : NULL;
    if (sim_path(iface, "bridge") != NULL && name && net_name && strcmp(name, net_name) == 0 &&
        sim_annotation(vmi, "kubevirt.io/allow-pod-bridge-network-live-migration") == NULL) {
      snprintf(reason, rlen, "InterfaceNotLiveMigratable");
      snprintf(message, mlen,
               "cannot migrate VMI which does not use masquerade, bridge with "
               "kubevirt.io/allow-pod-bridge-network-live-migration VM annotation or a migratable "
               "plugin to connect to the pod network");
      return 0;
    }
  }
  if (cJSON_GetArraySize(sim_path(spec, "domain.devices.hostDevices")) > 0 ||
      cJSON_GetArraySize(sim_path(spec, "domain.devices.gpus")) > 0) {
    snprintf(reason, rlen, "HostDeviceNotLiveMigratable");
    snprintf(message, mlen, "VMI uses a PCI host devices");
    return 0;
  }
  cJSON_ArrayForEach(vol, sim_path(spec, "volumes")) {
    const char *claim = sim_string(vol, "persistentVolumeClaim.claimName");
    const cJSON *pvc, *mode;
    int rwx = 0;
    if (claim == NULL) claim = sim_string(vol, "dataVolume.name");
    if (claim == NULL) continue;
    pvc = vr_store_get(sim->store, "", "PersistentVolumeClaim", ns, claim);
    cJSON_ArrayForEach(mode, sim_path(pvc, "spec.accessModes")) {
      if (cJSON_IsString(mode) && strcmp(mode->valuestring, "ReadWriteMany") == 0) rwx = 1;
    }
    if (!rwx) {
      snprintf(reason, rlen, "DisksNotLiveMigratable");
      snprintf(message, mlen,
               "cannot migrate VMI: PVC %s is not shared, live migration requires that all PVCs "
               "must be shared (using ReadWriteMany access mode)",
               claim);
      return 0;
    }
  }
  return 1;
}

/* --- deletion -----------------------------------------------------------------------------------
 */

/* The pod is gone: remove it; a virt-launcher pod's VMI ends Succeeded (the guest shut down). */
static void pod_gone(vr_sim *sim, const char *ns, const char *name) {
  const cJSON *pod = vr_store_get(sim->store, "", "Pod", ns, name);
  vr_store_error err;
  if (pod == NULL || sim_path(pod, "metadata.deletionTimestamp") == NULL) return;
  if (is_launcher(pod)) {
    const char *vmi_name = sim_annotation(pod, "kubevirt.io/domain");
    const cJSON *vmi =
        vmi_name ? vr_store_get(sim->store, "kubevirt.io", "VirtualMachineInstance", ns, vmi_name)
                 : NULL;
    const char *uid = label(pod, "kubevirt.io/created-by");
    const char *vmi_node = vmi ? sim_string(vmi, "status.nodeName") : NULL;
    const char *pod_node = sim_string(pod, "spec.nodeName");
    /* only the VMI's live pod takes the guest down; an old source or target pod does not */
    if (vmi != NULL && uid && strcmp(uid, sim_string(vmi, "metadata.uid")) == 0 &&
        !sim_phase_is(pod, "Succeeded") && !sim_phase_is(pod, "Failed") && vmi_node && pod_node &&
        strcmp(vmi_node, pod_node) == 0 && !sim_phase_is(vmi, "Succeeded") &&
        !sim_phase_is(vmi, "Failed")) {
      cJSON *copy = cJSON_Duplicate(vmi, 1);
      sim_set(copy, "status.phase", cJSON_CreateString("Succeeded"));
      /* virt-controller's Ready from a pod going down (syncReadyConditionFromPod) */
      sim_vmi_set_ready(copy, "False", "PodTerminating", "virt-launcher pod is terminating");
      vr_store_replace(sim->store, copy, 0, NULL, &err);
    }
  }
  vr_store_delete(sim->store, "", "Pod", ns, name, &err);
}

/* The pod's own grace period: spec.terminationGracePeriodSeconds, default 30 s. */
static long long own_grace(const cJSON *pod) {
  const cJSON *g = sim_path(pod, "spec.terminationGracePeriodSeconds");
  return cJSON_IsNumber(g) ? (long long)g->valuedouble : 30;
}

/* How long the pod takes to go once deleted: its containers' (or guest's) stop time, capped by
 * the grace period; at once when it is not running. */
static uint64_t stop_ms(const cJSON *pod, long long grace_seconds) {
  uint64_t delay = is_launcher(pod) ? sim_annotation_ms(pod, "sim.vmrun.io/shutdown-seconds")
                                    : sim_annotation_ms(pod, "sim.vmrun.io/stop-seconds");
  if (sim_phase_is(pod, "Succeeded") || sim_phase_is(pod, "Failed") || sim_phase_is(pod, "Pending"))
    delay = 0;
  if (grace_seconds < 0) grace_seconds = 0;
  if (delay > (uint64_t)grace_seconds * 1000u) delay = (uint64_t)grace_seconds * 1000u;
  return delay;
}

void sim_adopt_deleting(vr_sim *sim) {
  const cJSON **items;
  size_t n = vr_store_list(sim->store, "", "Pod", NULL, NULL, &items), i, found = 0;
  char(*names)[2][254];
  vr_store_error err;
  for (i = 0; n != (size_t)-1 && i < n; i++) { /* (sim_after writes nothing) */
    const cJSON *pod = items[i], *g = sim_path(pod, "metadata.deletionGracePeriodSeconds");
    if (sim_path(pod, "metadata.deletionTimestamp") == NULL) continue;
    sim_after(sim, stop_ms(pod, cJSON_IsNumber(g) ? (long long)g->valuedouble : own_grace(pod)),
              pod_gone, sim_string(pod, "metadata.namespace"), sim_string(pod, "metadata.name"));
  }
  if (n != (size_t)-1) free((void *)items);
  n = vr_store_list(sim->store, "kubevirt.io", "VirtualMachineInstance", NULL, NULL, &items);
  if (n == (size_t)-1) return;
  names = calloc(n + 1, sizeof *names);
  for (i = 0; names != NULL && i < n; i++) { /* first the names: deleting changes the store */
    if (sim_path(items[i], "metadata.deletionTimestamp") == NULL) continue;
    snprintf(names[found][0], sizeof names[0][0], "%s", sim_string(items[i], "metadata.namespace"));
    snprintf(names[found][1], sizeof names[0][1], "%s", sim_string(items[i], "metadata.name"));
    found++;
  }
  free((void *)items);
  for (i = 0; i < found; i++)
    vr_store_delete(sim->store, "kubevirt.io", "VirtualMachineInstance", names[i][0], names[i][1],
                    &err);
  free(names);
}

int vr_sim_delete_pod(vr_sim *sim, const char *ns, const char *name, long long grace_seconds,
                      vr_store_error *err) {
  const cJSON *pod = vr_store_get(sim->store, "", "Pod", ns, name);
  cJSON *copy;
  char ts[40];
  uint64_t delay;
  if (pod == NULL) {
    set_error(err, 404, "NotFound", "pods \"%s\" not found", name);
    return -1;
  }
  if (sim_path(pod, "metadata.deletionTimestamp") != NULL) return 0; /* already going */
  if (grace_seconds < 0) grace_seconds = own_grace(pod);
  delay = stop_ms(pod, grace_seconds);
  sim_timestamp(sim, ts, sizeof ts);
  copy = cJSON_Duplicate(pod, 1);
  sim_set(copy, "metadata.deletionTimestamp", cJSON_CreateString(ts));
  sim_set(copy, "metadata.deletionGracePeriodSeconds", cJSON_CreateNumber((double)grace_seconds));
  if (vr_store_replace(sim->store, copy, 0, NULL, err) != 0) return -1;
  sim_after(sim, delay, pod_gone, ns, name);
  return 0;
}

/* --- PodDisruptionBudgets (§4.3) ---------------------------------------------------------------
 */

int sim_pod_ready(const cJSON *pod) {
  const cJSON *c;
  if (!sim_phase_is(pod, "Running") || sim_path(pod, "metadata.deletionTimestamp")) return 0;
  cJSON_ArrayForEach(c, sim_path(pod, "status.conditions")) {
    const char *type = sim_string(c, "type"), *status = sim_string(c, "status");
    if (type && strcmp(type, "Ready") == 0) return status && strcmp(status, "True") == 0;
  }
  return 1; /* Running without conditions: Ready */
}

static int owned_by_scalable(const cJSON *pod) {
  const cJSON *o;
  cJSON_ArrayForEach(o, sim_path(pod, "metadata.ownerReferences")) {
    const char *kind = sim_string(o, "kind");
    if (cJSON_IsTrue(sim_path(o, "controller")) && kind &&
        (strcmp(kind, "ReplicaSet") == 0 || strcmp(kind, "StatefulSet") == 0 ||
         strcmp(kind, "ReplicationController") == 0 || strcmp(kind, "Deployment") == 0))
      return 1;
  }
  return 0;
}

/* Kubernetes drops a disruptedPods entry that the pod's deletion has not confirmed after 2 min
 * (the disruption controller's DeletionTimeout). */
#define PDB_DELETION_TIMEOUT_MS 120000

/* 1 for a LabelSelector without requirements: a budget with one selects nothing (§4.3). */
static int selector_empty(const cJSON *sel) {
  return sel == NULL ||
         (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(sel, "matchLabels")) == 0 &&
          cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(sel, "matchExpressions")) == 0);
}

/* 1 when the budget's disruptedPods entry for this pod still counts: the pod is not being
 * deleted yet and the entry is younger than the deletion timeout. */
static int disruption_pending(vr_sim *sim, const cJSON *pdb, const cJSON *pod) {
  const cJSON *at = cJSON_GetObjectItemCaseSensitive(sim_path(pdb, "status.disruptedPods"),
                                                     sim_string(pod, "metadata.name"));
  int64_t ms;
  if (!cJSON_IsString(at) || sim_path(pod, "metadata.deletionTimestamp") != NULL) return 0;
  if (vr_k8s_time_ms(at->valuestring, &ms) != 0) return 0;
  return (int64_t)vr_clock_now(sim->clock) < ms + PDB_DELETION_TIMEOUT_MS;
}

/* What the disruption controller computes for a budget. */
typedef struct pdb_counts {
  long long expected, healthy, desired, allowed;
} pdb_counts;

static void pdb_count(vr_sim *sim, const cJSON *pdb, const char *ns, pdb_counts *c) {
  char err[VR_SELECTOR_ERRLEN];
  const cJSON *sel = sim_path(pdb, "spec.selector");
  vr_label_selector *ls;
  const cJSON **pods, *min = sim_path(pdb, "spec.minAvailable");
  const cJSON *max = sim_path(pdb, "spec.maxUnavailable");
  long long disrupted = 0;
  int scalable = 1;
  size_t n, i;
  memset(c, 0, sizeof *c);
  if (selector_empty(sel)) return; /* selects nothing */
  ls = vr_label_selector_from_json(sel, err, sizeof err);
  if (ls == NULL) return;
  n = vr_store_list(sim->store, "", "Pod", ns, NULL, &pods);
  for (i = 0; n != (size_t)-1 && i < n; i++) {
    if (!vr_label_selector_matches(ls, sim_path(pods[i], "metadata.labels"))) continue;
    if (sim_phase_is(pods[i], "Succeeded") || sim_phase_is(pods[i], "Failed")) continue;
    c->expected++;
    if (sim_pod_ready(pods[i])) c->healthy++;
    if (!owned_by_scalable(pods[i])) scalable = 0;
    if (disruption_pending(sim, pdb, pods[i])) disrupted++;
  }
  if (n != (size_t)-1) free((void *)pods);
  vr_label_selector_free(ls);
  if (cJSON_IsNumber(min)) {
    c->desired = (long long)min->valuedouble;
  } else if (cJSON_IsString(min) || max != NULL) {
    /* a percentage or maxUnavailable needs the pods' controller's /scale: VMI pods have none,
     * so the budget allows nothing (kubevirt/kubevirt#18063) */
    if (!scalable || c->expected == 0) {
      c->desired = c->expected;
      return;
    }
    if (cJSON_IsNumber(max)) {
      c->desired = c->expected - (long long)max->valuedouble;
    } else {
      const char *text = cJSON_IsString(min) ? min->valuestring : max->valuestring;
      long long pct = atoll(text);
      if (cJSON_IsString(min)) {
        c->desired = (c->expected * pct + 99) / 100;
      } else {
        c->desired = c->expected - c->expected * pct / 100;
      }
    }
  }
  if (c->desired < 0) c->desired = 0;
  c->allowed = c->healthy - disrupted - c->desired > 0 ? c->healthy - disrupted - c->desired : 0;
}

long long sim_pdb_disruptions_allowed(vr_sim *sim, const cJSON *pdb, const char *ns) {
  pdb_counts c;
  pdb_count(sim, pdb, ns, &c);
  return c.allowed;
}

/* Sets a number member of obj; 1 when it changed. */
static int set_count(cJSON *obj, const char *key, long long value) {
  const cJSON *old = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (cJSON_IsNumber(old) && (long long)old->valuedouble == value) return 0;
  cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
  cJSON_AddNumberToObject(obj, key, (double)value);
  return 1;
}

void sim_reconcile_pdb(vr_sim *sim, const char *ns, const char *name) {
  const cJSON *pdb = vr_store_get(sim->store, "policy", "PodDisruptionBudget", ns, name);
  const cJSON *generation;
  cJSON *copy, *status;
  pdb_counts c;
  int changed = 0;
  if (pdb == NULL) return;
  pdb_count(sim, pdb, ns, &c);
  copy = cJSON_Duplicate(pdb, 1);
  if (copy == NULL) return;
  status = cJSON_GetObjectItemCaseSensitive(copy, "status");
  if (!cJSON_IsObject(status)) {
    cJSON_DeleteItemFromObjectCaseSensitive(copy, "status");
    status = cJSON_AddObjectToObject(copy, "status");
    changed = 1;
  }
  { /* keep only the disruptions still pending (normally none: an evicted pod is being deleted
     * at once); look again when the oldest expires */
    cJSON *disrupted = cJSON_GetObjectItemCaseSensitive(status, "disruptedPods"), *e, *next;
    int64_t soonest = -1;
    for (e = disrupted ? disrupted->child : NULL; e != NULL; e = next) {
      const cJSON *pod = vr_store_get(sim->store, "", "Pod", ns, e->string);
      int64_t ms;
      next = e->next;
      if (pod == NULL || !disruption_pending(sim, pdb, pod)) {
        cJSON_DeleteItemFromObjectCaseSensitive(disrupted, e->string);
        changed = 1;
      } else if (vr_k8s_time_ms(e->valuestring, &ms) == 0 && (soonest < 0 || ms < soonest)) {
        soonest = ms;
      }
    }
    if (soonest >= 0) {
      int64_t due = soonest + PDB_DELETION_TIMEOUT_MS - (int64_t)vr_clock_now(sim->clock);
      sim_after(sim, due > 0 ? (uint64_t)due : 0, sim_reconcile_pdb, ns, name);
    }
  }
  generation = sim_path(pdb, "metadata.generation");
  changed |= set_count(status, "observedGeneration",
                       cJSON_IsNumber(generation) ? (long long)generation->valuedouble : 1);
  changed |= set_count(status, "expectedPods", c.expected);
  changed |= set_count(status, "currentHealthy", c.healthy);
  changed |= set_count(status, "desiredHealthy", c.desired);
  changed |= set_count(status, "disruptionsAllowed", c.allowed);
  if (!changed) {
    cJSON_Delete(copy);
    return;
  }
  sim_save(sim, copy);
}

void sim_enqueue_pdbs(vr_sim *sim, const char *ns) {
  const cJSON **pdbs;
  size_t n = vr_store_list(sim->store, "policy", "PodDisruptionBudget", ns, NULL, &pdbs), i;
  if (n == (size_t)-1) return;
  for (i = 0; i < n; i++) sim_enqueue(sim, SIM_Q_PDB, ns, sim_string(pdbs[i], "metadata.name"));
  free((void *)pdbs);
}

/* --- eviction ------------------------------------------------------------------------------------
 */

/* KubeVirt's eviction webhook (§3.2, HEAD): 0 = allow, -1 = denied (429 in err). */
static int kubevirt_webhook(vr_sim *sim, const cJSON *pod, const cJSON *eviction, int dry_run,
                            vr_store_error *err) {
  const char *ns = sim_string(pod, "metadata.namespace"), *vmi_name;
  const cJSON *vmi;
  const vr_migration_config *cfg;
  vr_eviction_strategy strategy;
  char reason[64], message[400], cerr[VR_MC_ERRLEN];
  int migratable;
  const char *evac;
  if (!is_launcher(pod) || sim_phase_is(pod, "Succeeded") || sim_phase_is(pod, "Failed")) return 0;
  vmi_name = sim_annotation(pod, "kubevirt.io/domain");
  if (vmi_name == NULL) return 0;
  vmi = vr_store_get(sim->store, "kubevirt.io", "VirtualMachineInstance", ns, vmi_name);
  if (vmi == NULL) {
    set_error(err, 429, "TooManyRequests", "virtualmachineinstances.kubevirt.io \"%s\" not found",
              vmi_name);
    return -1;
  }
  cfg = sim_cluster_config(sim);
  if (vr_vmi_eviction_strategy(cfg, vmi, &strategy, NULL, 0, cerr, sizeof cerr) != 0) return 0;
  if (strategy == VR_EVICTION_NONE) return 0;
  migratable = sim_vmi_live_migratable(sim, vmi, reason, sizeof reason, message, sizeof message);
  if (strategy == VR_EVICTION_LIVE_MIGRATE && !migratable) {
    set_error(err, 429, "TooManyRequests",
              "VMI %s is configured with an eviction strategy but is not live-migratable",
              vmi_name);
    return -1;
  }
  if (strategy == VR_EVICTION_LIVE_MIGRATE_IF_POSSIBLE && !migratable) return 0;
  evac = sim_string(vmi, "status.evacuationNodeName");
  if (evac != NULL && evac[0] != '\0' && sim->kubevirt_minor <= 4) {
    return 0; /* up to v1.4 a marked VMI's pod is left to its disruption budget (§3.2) */
  }
  if (evac != NULL && evac[0] != '\0') {
    set_error(err, 429, "TooManyRequests",
              "Evacuation in progress: Eviction triggered evacuation of VMI \"%s/%s\"", ns,
              vmi_name);
    return -1;
  }
  if (sim_string(vmi, "status.nodeName") == NULL || sim_string(pod, "spec.nodeName") == NULL ||
      strcmp(sim_string(vmi, "status.nodeName"), sim_string(pod, "spec.nodeName")) != 0) {
    set_error(err, 429, "TooManyRequests", "Eviction request for target Pod");
    return -1;
  }
  if (!dry_run) {
    cJSON *copy = cJSON_Duplicate(vmi, 1);
    const char *by = sim_annotation(eviction, "requested-by");
    vr_store_error werr;
    sim_set(copy, "status.evacuationNodeName",
            cJSON_CreateString(sim_string(pod, "spec.nodeName")));
    if (by && strcmp(by, "sigs.k8s.io/descheduler") == 0) {
      cJSON *ann = (cJSON *)sim_path(copy, "metadata.annotations");
      if (ann == NULL)
        ann = cJSON_AddObjectToObject((cJSON *)sim_path(copy, "metadata"), "annotations");
      cJSON_DeleteItemFromObjectCaseSensitive(ann, "kubevirt.io/eviction-source");
      cJSON_AddStringToObject(ann, "kubevirt.io/eviction-source", "descheduler");
    }
    if (vr_store_replace(sim->store, copy, 0, NULL, &werr) != 0) {
      set_error(err, 429, "TooManyRequests", "kubevirt failed marking the vmi for eviction: %s",
                werr.message);
      return -1;
    }
  }
  set_error(err, 429, "TooManyRequests", "Eviction triggered evacuation of VMI \"%s/%s\"", ns,
            vmi_name);
  return -1;
}

int vr_sim_evict(vr_sim *sim, const char *ns, const char *name, const cJSON *eviction, int dry_run,
                 vr_store_error *err) {
  const cJSON *pod = vr_store_get(sim->store, "", "Pod", ns, name), **pdbs, *match = NULL;
  const cJSON *grace = sim_path(eviction, "deleteOptions.gracePeriodSeconds");
  long long grace_seconds = cJSON_IsNumber(grace) ? (long long)grace->valuedouble : -1;
  size_t n, i;
  int matches = 0;
  err->status = 0;
  if (pod == NULL) {
    set_error(err, 404, "NotFound", "pods \"%s\" not found", name);
    return -1;
  }
  if (kubevirt_webhook(sim, pod, eviction, dry_run, err) != 0) return -1;
  if (sim_phase_is(pod, "Succeeded") || sim_phase_is(pod, "Failed") ||
      sim_phase_is(pod, "Pending") || sim_path(pod, "metadata.deletionTimestamp") != NULL) {
    return dry_run ? 0 : vr_sim_delete_pod(sim, ns, name, grace_seconds, err);
  }
  n = vr_store_list(sim->store, "policy", "PodDisruptionBudget", ns, NULL, &pdbs);
  for (i = 0; n != (size_t)-1 && i < n; i++) {
    char serr[VR_SELECTOR_ERRLEN];
    const cJSON *sel = sim_path(pdbs[i], "spec.selector");
    vr_label_selector *ls;
    if (selector_empty(sel)) continue; /* matches nothing */
    ls = vr_label_selector_from_json(sel, serr, sizeof serr);
    if (ls && vr_label_selector_matches(ls, sim_path(pod, "metadata.labels"))) {
      matches++;
      match = pdbs[i];
    }
    vr_label_selector_free(ls);
  }
  if (matches > 1) {
    free((void *)pdbs);
    set_error(err, 500, "InternalError",
              "This pod has more than one PodDisruptionBudget, which the eviction subresource "
              "does not support.");
    return -1;
  }
  if (match != NULL) {
    const char *pdb_name = sim_string(match, "metadata.name");
    long long allowed = sim_pdb_disruptions_allowed(sim, match, ns);
    if (allowed <= 0) {
      free((void *)pdbs);
      set_error(err, 429, "TooManyRequests",
                "Cannot evict pod as it would violate the pod's disruption budget.");
      snprintf(err->reason, sizeof err->reason, "DisruptionBudget");
      (void)pdb_name;
      return -1;
    }
    if (!dry_run) { /* record the disruption on the budget */
      cJSON *copy = cJSON_Duplicate(match, 1);
      char ts[40];
      vr_store_error werr;
      sim_timestamp(sim, ts, sizeof ts);
      if (sim_path(copy, "status.disruptedPods") == NULL) {
        sim_set(copy, "status.disruptedPods", cJSON_CreateObject());
      }
      cJSON_DeleteItemFromObjectCaseSensitive((cJSON *)sim_path(copy, "status.disruptedPods"),
                                              name);
      cJSON_AddStringToObject((cJSON *)sim_path(copy, "status.disruptedPods"), name, ts);
      sim_set(copy, "status.disruptionsAllowed", cJSON_CreateNumber((double)(allowed - 1)));
      vr_store_replace(sim->store, copy, 0, NULL, &werr);
    }
  }
  free((void *)pdbs);
  return dry_run ? 0 : vr_sim_delete_pod(sim, ns, name, grace_seconds, err);
}

/* --- node reboot --------------------------------------------------------------------------------
 */

static void set_node_ready(vr_sim *sim, const cJSON *node, int ready) {
  cJSON *copy = cJSON_Duplicate(node, 1), *conditions = cJSON_CreateArray(), *c;
  char ts[40];
  int found = 0;
  sim_timestamp(sim, ts, sizeof ts);
  cJSON_ArrayForEach(c, sim_path(node, "status.conditions")) {
    const char *type = sim_string(c, "type");
    cJSON *dup = cJSON_Duplicate(c, 1);
    if (type && strcmp(type, "Ready") == 0) {
      found = 1;
      cJSON_Delete(dup);
      dup = sim_condition("Ready", ready ? "True" : "False",
                          ready ? "KubeletReady" : "KubeletNotReady",
                          ready ? "kubelet is posting ready status" : "node is rebooting");
      cJSON_AddStringToObject(dup, "lastTransitionTime", ts);
    }
    cJSON_AddItemToArray(conditions, dup);
  }
  if (!found) {
    c = sim_condition("Ready", ready ? "True" : "False", ready ? "KubeletReady" : "KubeletNotReady",
                      ready ? "kubelet is posting ready status" : "node is rebooting");
    cJSON_AddStringToObject(c, "lastTransitionTime", ts);
    cJSON_AddItemToArray(conditions, c);
  }
  sim_set(copy, "status.conditions", conditions);
  if (ready) {
    char boot_id[40];
    snprintf(boot_id, sizeof boot_id, "%016llx", (unsigned long long)sim_random(sim));
    sim_set(copy, "status.nodeInfo.bootID", cJSON_CreateString(boot_id));
  }
  sim_save(sim, copy);
}

/* The node is up again (down_at: when it went down): Ready, and the kubelet restarts the
 * containers of the pods that stayed on it in place. */
static void node_back(vr_sim *sim, const char *down_at, const char *name) {
  const cJSON *node = vr_store_get(sim->store, "", "Node", NULL, name), **pods;
  size_t n, i;
  if (node == NULL) return;
  set_node_ready(sim, node, 1);
  n = vr_store_list(sim->store, "", "Pod", NULL, name, &pods);
  for (i = 0; n != (size_t)-1 && i < n; i++) {
    cJSON *copy;
    if (is_launcher(pods[i]) || !sim_phase_is(pods[i], "Running") ||
        sim_path(pods[i], "metadata.deletionTimestamp") != NULL)
      continue;
    copy = cJSON_Duplicate(pods[i], 1);
    sim_pod_restarted(sim, copy, down_at);
    sim->status_writes++; /* containers restarted: nothing a controller reads changed */
    sim_save(sim, copy);  /* pods[i] is freed: the loop reads only later pods */
    sim->status_writes--;
  }
  if (n != (size_t)-1) free((void *)pods);
}

int vr_sim_reboot_node(vr_sim *sim, const char *name, vr_store_error *err) {
  const cJSON *node = vr_store_get(sim->store, "", "Node", NULL, name), **pods;
  size_t n, i;
  uint64_t duration;
  char down_at[40];
  if (node == NULL) {
    set_error(err, 404, "NotFound", "nodes \"%s\" not found", name);
    return -1;
  }
  duration = sim_annotation_ms(node, "sim.vmrun.io/reboot-seconds");
  sim_timestamp(sim, down_at, sizeof down_at);
  set_node_ready(sim, node, 0);
  /* the guests on the node are lost: their VMIs fail, the launcher pods are gone */
  n = vr_store_list(sim->store, "", "Pod", NULL, name, &pods);
  for (i = 0; n != (size_t)-1 && i < n; i++) {
    const char *ns = sim_string(pods[i], "metadata.namespace");
    char pod_name[300];
    vr_store_error derr;
    if (!is_launcher(pods[i]) || sim_phase_is(pods[i], "Succeeded") ||
        sim_phase_is(pods[i], "Failed"))
      continue;
    snprintf(pod_name, sizeof pod_name, "%s", sim_string(pods[i], "metadata.name"));
    {
      const char *vmi_name = sim_annotation(pods[i], "kubevirt.io/domain");
      const cJSON *vmi =
          vmi_name ? vr_store_get(sim->store, "kubevirt.io", "VirtualMachineInstance", ns, vmi_name)
                   : NULL;
      const char *vmi_node = vmi ? sim_string(vmi, "status.nodeName") : NULL;
      if (vmi && vmi_node && strcmp(vmi_node, name) == 0 && !sim_phase_is(vmi, "Succeeded") &&
          !sim_phase_is(vmi, "Failed")) {
        cJSON *copy = cJSON_Duplicate(vmi, 1), *conditions = cJSON_CreateArray();
        cJSON_AddItemToArray(
            conditions, sim_condition("Ready", "False", "NodeUnresponsive", "the node rebooted"));
        sim_set(copy, "status.phase", cJSON_CreateString("Failed"));
        sim_set(copy, "status.conditions", conditions);
        sim_save(sim, copy);
      }
    }
    vr_store_delete(sim->store, "", "Pod", ns, pod_name, &derr);
  }
  if (n != (size_t)-1) free((void *)pods);
  sim_after(sim, duration, node_back, down_at, name);
  return 0;
}
