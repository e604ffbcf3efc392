/* sim_migration.c: live migration in the simulator (reference kubevirt-migration.md §2-§3): the
 * evacuation controller (VMIs marked by an eviction get a kubevirt-evacuation VMIM, with the
 * 20/40/80 s backoff after failures, §3.3, §2.4), the migration controller (VMIM phases with
 * their timestamps, §2.2; the parallel limits counted as KubeVirt counts them, priorities and
 * requeue delays, §2.4; target pods kept off the source node, the 5-minute unschedulable
 * timeout; abort by deletion; garbage collection of finished VMIMs, §2.1) and the running
 * migrations stepped through the pre-copy model (runtime/migration_model.h, §7.2) with the NIC
 * bandwidth of the source and target nodes shared by the migrations using it; migrations loaded
 * in flight (a copy of a live cluster) are taken over at load. Runs from the simulator's work
 * loop and timed events only; never calls Lua. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drain_filter.h" /* vr_k8s_time_ms */
#include "migration_config.h"
#include "migration_model.h"
#include "sim_internal.h"

#define HANDOFF_MS              1000 /* each of Scheduled -> PreparingTarget -> TargetReady -> Running */
#define UNSCHEDULABLE_TIMEOUT_S 300 /* defaultUnschedulablePendingTimeoutSeconds (§2.2) */
#define GC_KEEP                 5   /* finalized VMIMs kept per VMI (§2.1) */
#define EVACUATION_BACKOFF_S    20  /* first backoff; doubles per further failure (§2.4) */

struct sim_migration {
  char ns[254], name[254], vmi[254];
  char uid[64];
  char source[254], target[254], target_pod[300];
  vr_mig_state st;
  double bandwidth;
  uint64_t last_ms;
  uint64_t generation; /* of the pending model event */
  sim_event *event;    /* the pending model event, or NULL */
  sim_migration *next;
};

static const char *priority_names[] = {"system-critical", "user-triggered", "system-maintenance"};

int sim_vmim_priority(const cJSON *vmim) {
  const char *p = sim_string(vmim, "spec.priority");
  if (p == NULL) return 0;
  if (strcmp(p, priority_names[0]) == 0) return 100;
  if (strcmp(p, priority_names[1]) == 0) return 50;
  if (strcmp(p, priority_names[2]) == 0) return 20;
  return 0;
}

/* Requeue delay by priority (HEAD, §2.4). */
static uint64_t requeue_ms(int priority) {
  return priority >= 100 ? 1000 : priority >= 50 ? 3000 : 5000;
}

/* Seconds since the epoch of a timestamp (vr_k8s_time_ms), 0 if it is none. */
static int64_t timestamp_s(const char *text) {
  int64_t ms;
  return vr_k8s_time_ms(text, &ms) == 0 ? ms / 1000 : 0;
}

static int vmim_final(const cJSON *vmim) {
  return sim_phase_is(vmim, "Succeeded") || sim_phase_is(vmim, "Failed");
}

/* Phases that count toward the parallel limits (IsRunning, §2.2). */
static int vmim_running(const cJSON *vmim) {
  static const char *running[] = {"Scheduling",  "Scheduled", "PreparingTarget",
                                  "TargetReady", "Running",   NULL};
  const char *p = sim_string(vmim, "status.phase");
  int i;
  for (i = 0; p && running[i]; i++) {
    if (strcmp(p, running[i]) == 0) return 1;
  }
  return 0;
}

/* Sets status.phase and appends to phaseTransitionTimestamps (a modified copy). */
static void set_phase(vr_sim *sim, cJSON *vmim, const char *phase) {
  char ts[40];
  cJSON *list = (cJSON *)sim_path(vmim, "status.phaseTransitionTimestamps"), *entry;
  sim_timestamp(sim, ts, sizeof ts);
  sim_set(vmim, "status.phase", cJSON_CreateString(phase));
  if (!cJSON_IsArray(list)) {
    sim_set(vmim, "status.phaseTransitionTimestamps", cJSON_CreateArray());
    list = (cJSON *)sim_path(vmim, "status.phaseTransitionTimestamps");
  }
  entry = cJSON_CreateObject();
  cJSON_AddStringToObject(entry, "phase", phase);
  cJSON_AddStringToObject(entry, "phaseTransitionTimestamp", ts);
  cJSON_AddItemToArray(list, entry);
}

static void vmim_fail(vr_sim *sim, const cJSON *vmim, const char *reason) {
  cJSON *copy = cJSON_Duplicate(vmim, 1), *conditions = cJSON_CreateArray();
  set_phase(sim, copy, "Failed");
  cJSON_AddItemToArray(conditions, sim_condition("Failed", "True", "MigrationFailed", reason));
  sim_set(copy, "status.conditions", conditions);
  sim_save(sim, copy);
}

const vr_migration_config *sim_cluster_config(vr_sim *sim) {
  const cJSON **kv = NULL, **hco = NULL;
  size_t nkv, nhco;
  char err[VR_MC_ERRLEN];
  vr_migration_config *cfg = &sim->cluster_config;
  int listed;
  if (sim->cluster_config_valid) return cfg;
  nkv = vr_store_list(sim->store, "kubevirt.io", "KubeVirt", NULL, NULL, &kv);
  nhco = vr_store_list(sim->store, "hco.kubevirt.io", "HyperConverged", NULL, NULL, &hco);
  listed = nkv != (size_t)-1 && nhco != (size_t)-1;
  if (nkv == (size_t)-1) nkv = 0, kv = NULL;
  if (nhco == (size_t)-1) nhco = 0, hco = NULL;
  if (vr_migration_config_cluster(nkv ? kv[0] : NULL, nhco ? hco[0] : NULL, cfg, err, sizeof err) !=
      0) {
    vr_migration_config_cluster(NULL, NULL, cfg, err, sizeof err); /* defaults on a bad CR */
  }
  free((void *)kv);
  free((void *)hco);
  /* kept once the controllers watch the CRs (on_cluster_config clears it); not when a list
   * ran out of memory (the defaults stand in for this call only) */
  sim->cluster_config_valid = sim->started && listed;
  return cfg;
}

void sim_cluster_config_changed(vr_sim *sim) {
  sim->cluster_config_valid = 0;
}

static int64_t num(const vr_mc_value *v, int64_t dflt) {
  return v && v->set ? (int64_t)v->num : dflt;
}

/* --- running migrations and bandwidth --------------------------------------------------------- */

static sim_migration *find_migration(vr_sim *sim, const char *ns, const char *name) {
  sim_migration *m;
  for (m = sim->migrations; m; m = m->next) {
    if (strcmp(m->ns, ns) == 0 && strcmp(m->name, name) == 0) return m;
  }
  return NULL;
}

static double node_nic(vr_sim *sim, const char *node_name) {
  const cJSON *node = vr_store_get(sim->store, "", "Node", NULL, node_name);
  return (double)sim_annotation_bytes(node, "sim.vmrun.io/nic-bandwidth");
}

static void on_model_event(vr_sim *sim, const char *ns, const char *name);

/* Brings every running migration to now at its old bandwidth, shares the node links anew and
 * schedules each one's next model event. */
static void relink(vr_sim *sim) {
  uint64_t now = vr_clock_now(sim->clock);
  sim_migration *m, *o;
  for (m = sim->migrations; m; m = m->next) {
    if (now > m->last_ms) vr_mig_advance(&m->st, (double)(now - m->last_ms) / 1000.0, m->bandwidth);
    m->last_ms = now;
  }
  for (m = sim->migrations; m; m = m->next) {
    int out = 0, in = 0;
    double share, next;
    for (o = sim->migrations; o; o = o->next) {
      if (strcmp(o->source, m->source) == 0) out++;
      if (strcmp(o->target, m->target) == 0) in++;
    }
    share = node_nic(sim, m->source) / out;
    if (node_nic(sim, m->target) / in < share) share = node_nic(sim, m->target) / in;
    m->bandwidth = share;
    m->generation = ++sim->migration_generation;
    sim_cancel(sim, m->event);
    m->event = NULL;
    next = vr_mig_finished(&m->st) ? 0 : vr_mig_next_event(&m->st, m->bandwidth);
    if (isfinite(next)) {
      char key[64];
      snprintf(key, sizeof key, "%llu", (unsigned long long)m->generation);
      m->event = sim_after(sim, (uint64_t)ceil(next * 1000.0), on_model_event, m->ns, key);
    }
  }
}

static void remove_migration(vr_sim *sim, sim_migration *gone) {
  sim_migration **p = &sim->migrations;
  sim_cancel(sim, gone->event);
  while (*p && *p != gone) p = &(*p)->next;
  if (*p) *p = gone->next;
  free(gone);
}

/* Writes the VMI's status.migrationState from the model (a modified copy). */
static void fill_migration_state(vr_sim *sim, cJSON *vmi, const sim_migration *m, int final) {
  vr_mig_status status;
  char ts[40];
  cJSON *ms = cJSON_CreateObject();
  const cJSON *old = sim_path(vmi, "status.migrationState");
  vr_mig_get_status(&m->st, &status);
  sim_timestamp(sim, ts, sizeof ts);
  cJSON_AddStringToObject(ms, "migrationUid", m->uid);
  cJSON_AddStringToObject(ms, "sourceNode", m->source);
  cJSON_AddStringToObject(ms, "targetNode", m->target);
  cJSON_AddStringToObject(ms, "targetPod", m->target_pod);
  cJSON_AddStringToObject(ms, "mode", status.mode_name);
  /* the start of this migration (not of an earlier one whose state the VMI still shows) */
  if (sim_string(old, "startTimestamp") && sim_string(old, "migrationUid") &&
      strcmp(sim_string(old, "migrationUid"), m->uid) == 0)
    cJSON_AddStringToObject(ms, "startTimestamp", sim_string(old, "startTimestamp"));
  else
    cJSON_AddStringToObject(ms, "startTimestamp", ts);
  if (final) {
    cJSON_AddStringToObject(ms, "endTimestamp", ts);
    cJSON_AddBoolToObject(ms, "completed", status.result == VR_MIG_COMPLETED);
    if (status.result == VR_MIG_FAILED) {
      cJSON_AddBoolToObject(ms, "failed", 1);
      if (status.failure_reason)
        cJSON_AddStringToObject(ms, "failureReason", status.failure_reason);
      if (status.abort_status) cJSON_AddStringToObject(ms, "abortStatus", status.abort_status);
    }
  }
  cJSON_AddNumberToObject(ms, "dataTotalBytes", (double)status.data_total);
  cJSON_AddNumberToObject(ms, "dataProcessedBytes", (double)status.data_processed);
  cJSON_AddNumberToObject(ms, "dataRemainingBytes", (double)status.data_remaining);
  sim_set(vmi, "status.migrationState", ms);
}

/* The end of a migration: the VMI moves (or stays), pods and the VMIM follow. */
static void finish(vr_sim *sim, sim_migration *m, const char *abort_reason) {
  const cJSON *vmi =
      vr_store_get(sim->store, "kubevirt.io", "VirtualMachineInstance", m->ns, m->vmi);
  const cJSON *vmim =
      vr_store_get(sim->store, "kubevirt.io", "VirtualMachineInstanceMigration", m->ns, m->name);
  vr_mig_status status;
  vr_store_error err;
  int ok;
  vr_mig_get_status(&m->st, &status);
  ok = abort_reason == NULL && status.result == VR_MIG_COMPLETED;
  if (abort_reason != NULL) {
    m->st.result = VR_MIG_FAILED;
    snprintf(m->st.reason, sizeof m->st.reason, "%s", abort_reason);
  }
  if (vmi != NULL) {
    cJSON *copy = cJSON_Duplicate(vmi, 1);
    const cJSON *source_pod = sim_launcher_pod(sim, vmi);
    fill_migration_state(sim, copy, m, 1);
    if (abort_reason != NULL) {
      sim_set(copy, "status.migrationState.abortRequested", cJSON_CreateBool(1));
      sim_set(copy, "status.migrationState.abortStatus", cJSON_CreateString("Succeeded"));
    }
    if (ok) {
      cJSON *status_obj = (cJSON *)sim_path(copy, "status");
      sim_set(copy, "status.nodeName", cJSON_CreateString(m->target));
      /* the VMI runs in the target pod now: virt-handler reports that pod's address */
      sim_vmi_set_interfaces(copy, vr_store_get(sim->store, "", "Pod", m->ns, m->target_pod));
      cJSON_DeleteItemFromObjectCaseSensitive(status_obj, "evacuationNodeName");
      sim_set(copy, "status.migrationTransport", cJSON_CreateString("Unix"));
      if (sim_path(copy, "metadata.annotations")) {
        cJSON_DeleteItemFromObjectCaseSensitive((cJSON *)sim_path(copy, "metadata.annotations"),
                                                "kubevirt.io/eviction-source");
      }
      if (source_pod != NULL) { /* the source virt-launcher exits */
        cJSON *pod = cJSON_Duplicate(source_pod, 1);
        sim_pod_set_phase(sim, pod, "Succeeded");
        sim_save(sim, pod);
      }
    }
    sim_save(sim, copy);
  }
  if (!ok) vr_sim_delete_pod(sim, m->ns, m->target_pod, 0, &err);
  if (vmim != NULL) {
    cJSON *copy = cJSON_Duplicate(vmim, 1);
    vmi = vr_store_get(sim->store, "kubevirt.io", "VirtualMachineInstance", m->ns, m->vmi);
    if (vmi && sim_path(vmi, "status.migrationState")) {
      sim_set(copy, "status.migrationState",
              cJSON_Duplicate(sim_path(vmi, "status.migrationState"), 1));
    }
    set_phase(sim, copy, ok ? "Succeeded" : "Failed");
    sim_save(sim, copy);
  }
  remove_migration(sim, m);
  relink(sim);
  sim_requeue_pending(sim); /* a slot is free (reEnqueueHighestPriorityPendingMigrations) */
}

static void on_model_event(vr_sim *sim, const char *ns, const char *key) {
  uint64_t generation = strtoull(key, NULL, 10);
  sim_migration *m;
  for (m = sim->migrations; m; m = m->next) {
    if (m->generation == generation && strcmp(m->ns, ns) == 0) break;
  }
  if (m == NULL) return; /* superseded by a relink */
  m->event = NULL;       /* it fired; the event frees itself */
  relink(sim);
  for (m = sim->migrations; m; m = m->next) {
    if (vr_mig_finished(&m->st)) {
      char vmi_name[254];
      snprintf(vmi_name, sizeof vmi_name, "%s", m->vmi);
      finish(sim, m, NULL);
      sim_enqueue(sim, SIM_Q_VMI, ns, vmi_name);
      return; /* finish relinked; the others got new events */
    }
  }
}

/* The handoff is done: the migration starts running (VMIM Running, model started). resumed_ms >
 * 0: a migration loaded Running that long ago (sim_adopt_migrations) goes on in the model from
 * where it would be by now; its VMIM's phase stays as it is. */
static void start_running(vr_sim *sim, const cJSON *vmim, const cJSON *vmi, int resume,
                          uint64_t resumed_ms) {
  const vr_migration_config *cluster;
  vr_migration_config cfg;
  vr_mig_inputs in;
  sim_migration *m = calloc(1, sizeof *m);
  const cJSON **policies = NULL;
  size_t npolicies;
  char err[VR_MC_ERRLEN];
  cJSON *copy;
  int64_t memory = sim_vmi_memory(vmi), working_set;
  if (m == NULL) return;
  cluster = sim_cluster_config(sim);
  npolicies =
      vr_store_list(sim->store, "migrations.kubevirt.io", "MigrationPolicy", NULL, NULL, &policies);
  if (npolicies == (size_t)-1) npolicies = 0, policies = NULL;
  if (vr_migration_config_for_vmi(
          cluster, policies, npolicies, vmi,
          vr_store_get(sim->store, "", "Namespace", NULL, sim_string(vmi, "metadata.namespace")),
          &cfg, err, sizeof err) != 0) {
    cfg = *cluster;
  }
  free((void *)policies);
  memset(&in, 0, sizeof in);
  in.memory_bytes = memory > 0 ? (uint64_t)memory : 0;
  working_set = sim_annotation_bytes(vmi, "sim.vmrun.io/working-set");
  in.working_set_bytes = working_set > 0 ? (uint64_t)working_set : in.memory_bytes / 4;
  in.dirty_rate = (double)sim_annotation_bytes(vmi, "sim.vmrun.io/dirty-rate");
  in.vfio = cJSON_GetArraySize(sim_path(vmi, "spec.domain.devices.hostDevices")) > 0 ||
            cJSON_GetArraySize(sim_path(vmi, "spec.domain.devices.gpus")) > 0;
  in.config.completion_timeout_per_gib = num(&cfg.completion_timeout_per_gib, 150);
  in.config.progress_timeout = num(&cfg.progress_timeout, 150);
  in.config.allow_auto_converge = (int)num(&cfg.allow_auto_converge, 0);
  in.config.allow_post_copy = (int)num(&cfg.allow_post_copy, 0);
  in.config.allow_workload_disruption = vr_mig_resolve_awd(
      cfg.allow_workload_disruption.set ? (int)cfg.allow_workload_disruption.num : -1,
      in.config.allow_post_copy);
  in.config.bandwidth_per_migration = (uint64_t)num(&cfg.bandwidth_per_migration, 0);
  if (vr_mig_init(&m->st, &in) != 0) {
    free(m);
    vmim_fail(sim, vmim, "the simulator cannot model this VMI's migration");
    return;
  }
  snprintf(m->ns, sizeof m->ns, "%s", sim_string(vmim, "metadata.namespace"));
  snprintf(m->name, sizeof m->name, "%s", sim_string(vmim, "metadata.name"));
  snprintf(m->vmi, sizeof m->vmi, "%s", sim_string(vmi, "metadata.name"));
  snprintf(m->uid, sizeof m->uid, "%s", sim_string(vmim, "metadata.uid"));
  snprintf(m->source, sizeof m->source, "%s", sim_string(vmi, "status.nodeName"));
  snprintf(m->target, sizeof m->target, "%s", sim_annotation(vmim, "sim.vmrun.io/target-node"));
  snprintf(m->target_pod, sizeof m->target_pod, "%s",
           sim_annotation(vmim, "sim.vmrun.io/target-pod"));
  m->last_ms = vr_clock_now(sim->clock);
  m->next = sim->migrations;
  sim->migrations = m;
  if (resumed_ms > 0) { /* at the bandwidth it gets now, for as long as it has been running */
    relink(sim);
    vr_mig_advance(&m->st, (double)resumed_ms / 1000.0, m->bandwidth);
  }
  copy = cJSON_Duplicate(vmi, 1);
  fill_migration_state(sim, copy, m, 0);
  sim_save(sim, copy);
  if (!resume) {
    copy = cJSON_Duplicate(vmim, 1);
    set_phase(sim, copy, "Running");
    sim_save(sim, copy);
  }
  relink(sim);
}

/* Scheduled -> PreparingTarget -> TargetReady -> Running, a second apart. */
static void handoff(vr_sim *sim, const char *ns, const char *name) {
  const cJSON *vmim =
      vr_store_get(sim->store, "kubevirt.io", "VirtualMachineInstanceMigration", ns, name);
  const cJSON *vmi;
  const char *next;
  cJSON *copy;
  if (vmim == NULL) return;
  vmi = vr_store_get(sim->store, "kubevirt.io", "VirtualMachineInstance", ns,
                     sim_string(vmim, "spec.vmiName"));
  if (vmi == NULL || sim_phase_is(vmi, "Succeeded") || sim_phase_is(vmi, "Failed")) {
    vmim_fail(sim, vmim, "the VMI is gone or no longer running");
    return;
  }
  if (sim_phase_is(vmim, "Scheduled")) {
    next = "PreparingTarget";
  } else if (sim_phase_is(vmim, "PreparingTarget")) {
    next = "TargetReady";
  } else if (sim_phase_is(vmim, "TargetReady")) {
    start_running(sim, vmim, vmi, 0, 0);
    return;
  } else {
    return;
  }
  copy = cJSON_Duplicate(vmim, 1);
  set_phase(sim, copy, next);
  sim_save(sim, copy);
  sim_after(sim, HANDOFF_MS, handoff, ns, name);
}

/* The target pod started. */
static void target_started(vr_sim *sim, const char *ns, const char *name) {
  const cJSON *vmim =
      vr_store_get(sim->store, "kubevirt.io", "VirtualMachineInstanceMigration", ns, name);
  const cJSON *pod;
  cJSON *copy;
  if (vmim == NULL || !sim_phase_is(vmim, "Scheduling")) return;
  pod = vr_store_get(sim->store, "", "Pod", ns, sim_annotation(vmim, "sim.vmrun.io/target-pod"));
  if (pod == NULL) {
    vmim_fail(sim, vmim, "target pod is gone");
    return;
  }
  copy = cJSON_Duplicate(pod, 1);
  sim_pod_set_phase(sim, copy, "Running");
  sim_save(sim, copy);
  copy = cJSON_Duplicate(vmim, 1);
  set_phase(sim, copy, "Scheduled");
  sim_save(sim, copy);
  sim_after(sim, HANDOFF_MS, handoff, ns, name);
}

/* --- the migration controller ----------------------------------------------------------------- */

void sim_note_vmim(vr_sim *sim, int deleted, const cJSON *vmim) {
  char key[520];
  sim_key(key, sizeof key, sim_string(vmim, "metadata.namespace"),
          sim_string(vmim, "metadata.name"));
  if (!deleted && vmim_running(vmim)) {
    vr_strmap_put(&sim->vmims_running, key, (void *)1);
  } else {
    vr_strmap_remove(&sim->vmims_running, key);
  }
  if (!deleted && sim_phase_is(vmim, "Pending")) {
    vr_strmap_put(&sim->vmims_pending, key, (void *)1);
  } else {
    vr_strmap_remove(&sim->vmims_pending, key);
  }
}

/* Recounts the migrations that hold a slot (IsRunning, §2.2), in total and per node (by the
 * VMI's node or its migration's source node, §2.4); kept until a VMIM or VMI changes. */
static void count_migrations(vr_sim *sim) {
  size_t pos = 0;
  const char *key;
  vr_strmap_reset(&sim->limits_outbound);
  sim->limits_running = 0;
  while (vr_strmap_next(&sim->vmims_running, &pos, &key, NULL)) {
    const cJSON *vmim, *vmi;
    const char *node, *src, *name;
    char ns[254];
    if (sim_split_key(key, ns, sizeof ns, &name) != 0) continue;
    vmim = vr_store_get(sim->store, "kubevirt.io", "VirtualMachineInstanceMigration", ns, name);
    if (vmim == NULL || !vmim_running(vmim)) continue;
    sim->limits_running++;
    vmi = vr_store_get(sim->store, "kubevirt.io", "VirtualMachineInstance", ns,
                       sim_string(vmim, "spec.vmiName"));
    node = sim_string(vmi, "status.nodeName");
    src = sim_string(vmi, "status.migrationState.sourceNode");
    if (node) {
      intptr_t c = (intptr_t)vr_strmap_get(&sim->limits_outbound, node);
      if (vr_strmap_put(&sim->limits_outbound, node, (void *)(c + 1)) != 0) return;
    }
    if (src && (node == NULL || strcmp(src, node) != 0)) {
      intptr_t c = (intptr_t)vr_strmap_get(&sim->limits_outbound, src);
      if (vr_strmap_put(&sim->limits_outbound, src, (void *)(c + 1)) != 0) return;
    }
  }
  sim->limits_valid = 1;
}

/* 1 when the limits leave room for a migration out of source_node (§2.4). */
static int within_limits(vr_sim *sim, const char *source_node, const vr_migration_config *cfg) {
  intptr_t outbound;
  if (!sim->limits_valid) count_migrations(sim);
  if (!sim->limits_valid) return 0;
  outbound = (intptr_t)vr_strmap_get(&sim->limits_outbound, source_node);
  return sim->limits_running < num(&cfg->parallel_migrations_per_cluster, 5) &&
         outbound < num(&cfg->parallel_outbound_migrations_per_node, 2);
}

static void requeue_later(vr_sim *sim, const char *ns, const char *name, uint64_t ms);

/* The CPU model a VMI runs with: its own spec.domain.cpu.model, else the cluster's
 * spec.configuration.cpuModel on the KubeVirt CR, else host-model (KubeVirt's default). */
static const char *cpu_model_of(vr_sim *sim, const cJSON *vmi) {
  const char *model = sim_string(vmi, "spec.domain.cpu.model");
  const cJSON **kv = NULL;
  size_t nkv;
  if (model && *model) return model;
  nkv = vr_store_list(sim->store, "kubevirt.io", "KubeVirt", NULL, NULL, &kv);
  if (nkv != (size_t)-1 && nkv > 0) model = sim_string(kv[0], "spec.configuration.cpuModel");
  free((void *)kv);
  return model && *model ? model : "host-model";
}

/* Adds to selector the CPU labels virt-controller puts on a migration target pod: for a
 * host-model VMI the source node's host model among the target's migratable models
 * (cpu-model-migration.node.kubevirt.io/M for each host-model-cpu.node.kubevirt.io/M of the
 * source); for a named model, cpu-model.node.kubevirt.io/MODEL; nothing for host-passthrough.
 * A source node without host-model labels adds nothing. Returns 0, or -1 out of memory. */
static int add_cpu_selector(vr_sim *sim, const cJSON *vmi, const char *source, cJSON *selector) {
  static const char host_prefix[] = "host-model-cpu.node.kubevirt.io/";
  const char *model = cpu_model_of(sim, vmi);
  char key[320];
  if (strcmp(model, "host-passthrough") == 0) return 0;
  if (strcmp(model, "host-model") != 0) {
    snprintf(key, sizeof key, "cpu-model.node.kubevirt.io/%s", model);
    cJSON_DeleteItemFromObjectCaseSensitive(selector, key);
    return cJSON_AddStringToObject(selector, key, "true") ? 0 : -1;
  }
  const cJSON *node = source ? vr_store_get(sim->store, "", "Node", NULL, source) : NULL;
  const cJSON *label;
  cJSON_ArrayForEach(label, sim_path(node, "metadata.labels")) {
    if (label->string == NULL || strncmp(label->string, host_prefix, sizeof host_prefix - 1) != 0)
      continue;
    snprintf(key, sizeof key, "cpu-model-migration.node.kubevirt.io/%s",
             label->string + sizeof host_prefix - 1);
    cJSON_DeleteItemFromObjectCaseSensitive(selector, key);
    if (cJSON_AddStringToObject(selector, key, "true") == NULL) return -1;
  }
  return 0;
}

/* The target node for a migration: as for any pod of the VMI (§2.4), with the VMIM's
 * spec.addedNodeSelector and the CPU labels of add_cpu_selector added to the VMI's
 * nodeSelector. */
static const cJSON *pick_target(vr_sim *sim, const cJSON *vmim, const cJSON *vmi,
                                const char *exclude, char *why, size_t whylen) {
  const cJSON *added = sim_path(vmim, "spec.addedNodeSelector"), *entry;
  const cJSON *node = NULL;
  cJSON *extra = cJSON_CreateObject(), *copy, *selector;
  /* the labels to add first, so that the VMI is copied only when there are some */
  if (extra == NULL || add_cpu_selector(sim, vmi, exclude, extra) != 0) goto out_of_memory;
  cJSON_ArrayForEach(entry, added) {
    if (!cJSON_IsString(entry)) continue;
    cJSON_DeleteItemFromObjectCaseSensitive(extra, entry->string);
    if (cJSON_AddStringToObject(extra, entry->string, entry->valuestring) == NULL)
      goto out_of_memory;
  }
  if (extra->child == NULL) {
    cJSON_Delete(extra);
    return sim_pick_node(sim, vmi, exclude, why, whylen);
  }
  if ((copy = cJSON_Duplicate(vmi, 1)) == NULL) goto out_of_memory;
  selector = (cJSON *)sim_path(copy, "spec.nodeSelector");
  if (!cJSON_IsObject(selector)) {
    sim_set(copy, "spec.nodeSelector", cJSON_CreateObject());
    selector = (cJSON *)sim_path(copy, "spec.nodeSelector");
  }
  while (selector != NULL && extra->child != NULL) {
    cJSON *label = cJSON_DetachItemViaPointer(extra, extra->child);
    cJSON_DeleteItemFromObjectCaseSensitive(selector, label->string);
    cJSON_AddItemToObject(selector, label->string, label);
  }
  if (selector != NULL) node = sim_pick_node(sim, copy, exclude, why, whylen);
  cJSON_Delete(copy);
  cJSON_Delete(extra);
  if (selector == NULL) snprintf(why, whylen, "out of memory");
  return node;
out_of_memory:
  cJSON_Delete(extra);
  snprintf(why, whylen, "out of memory");
  return NULL;
}

static void reconcile_pending(vr_sim *sim, const cJSON *vmim, const cJSON *vmi) {
  const char *ns = sim_string(vmim, "metadata.namespace"),
             *name = sim_string(vmim, "metadata.name");
  const char *source = sim_string(vmi, "status.nodeName");
  const vr_migration_config *cfg;
  const cJSON *node;
  char why[512], pod_name[300];
  cJSON *copy, *ann;
  cfg = sim_cluster_config(sim);
  if (source == NULL || !within_limits(sim, source, cfg)) {
    requeue_later(sim, ns, name, requeue_ms(sim_vmim_priority(vmim)));
    return;
  }
  node = pick_target(sim, vmim, vmi, source, why, sizeof why);
  sim_create_launcher(sim, vmi, node ? sim_string(node, "metadata.name") : NULL, 0,
                      sim_string(vmim, "metadata.uid"), pod_name, sizeof pod_name);
  copy = cJSON_Duplicate(vmim, 1);
  ann = (cJSON *)sim_path(copy, "metadata.annotations");
  if (!cJSON_IsObject(ann)) {
    cJSON_DeleteItemFromObjectCaseSensitive((cJSON *)sim_path(copy, "metadata"), "annotations");
    ann = cJSON_AddObjectToObject((cJSON *)sim_path(copy, "metadata"), "annotations");
  }
  cJSON_AddStringToObject(ann, "sim.vmrun.io/target-pod", pod_name);
  if (node)
    cJSON_AddStringToObject(ann, "sim.vmrun.io/target-node", sim_string(node, "metadata.name"));
  set_phase(sim, copy, "Scheduling");
  if (node == NULL) {
    cJSON *conditions = cJSON_CreateArray();
    cJSON_AddItemToArray(conditions, sim_condition("PodScheduled", "False", "Unschedulable", why));
    sim_set(copy, "status.conditions", conditions);
  }
  sim_save(sim, copy);
  if (node != NULL) {
    sim_after(sim, sim_pod_start_ms(vmi), target_started, ns, name);
  } else {
    requeue_later(sim, ns, name, 5000);
  }
}

/* A target pod that could not be placed: try again; fail after five minutes (§2.2). */
static void reconcile_unscheduled(vr_sim *sim, const cJSON *vmim, const cJSON *vmi) {
  const char *ns = sim_string(vmim, "metadata.namespace"),
             *name = sim_string(vmim, "metadata.name");
  const char *pod_name = sim_annotation(vmim, "sim.vmrun.io/target-pod");
  const cJSON *pod = pod_name ? vr_store_get(sim->store, "", "Pod", ns, pod_name) : NULL, *node;
  const cJSON *list = sim_path(vmim, "status.phaseTransitionTimestamps"), *last;
  char why[512];
  vr_store_error err;
  if (pod == NULL) {
    vmim_fail(sim, vmim, "target pod is gone");
    return;
  }
  node = pick_target(sim, vmim, vmi, sim_string(vmi, "status.nodeName"), why, sizeof why);
  if (node != NULL) {
    cJSON *copy = cJSON_Duplicate(pod, 1), *vcopy = cJSON_Duplicate(vmim, 1);
    sim_set(copy, "spec.nodeName", cJSON_CreateString(sim_string(node, "metadata.name")));
    sim_pod_set_phase(sim, copy, "Pending"); /* on its node now: the kubelet reports it */
    sim_save(sim, copy);
    cJSON_DeleteItemFromObjectCaseSensitive((cJSON *)sim_path(vcopy, "status"), "conditions");
    cJSON_AddStringToObject((cJSON *)sim_path(vcopy, "metadata.annotations"),
                            "sim.vmrun.io/target-node", sim_string(node, "metadata.name"));
    sim_save(sim, vcopy);
    sim_after(sim, sim_pod_start_ms(vmi), target_started, ns, name);
    return;
  }
  last = cJSON_GetArrayItem(list, cJSON_GetArraySize(list) - 1);
  if ((int64_t)(vr_clock_now(sim->clock) / 1000u) -
          timestamp_s(sim_string(last, "phaseTransitionTimestamp")) >=
      UNSCHEDULABLE_TIMEOUT_S) {
    vr_sim_delete_pod(sim, ns, pod_name, 0, &err);
    vmim_fail(sim, vmim, "target pod was unschedulable for 5 minutes");
    sim_enqueue(sim, SIM_Q_VMI, ns, sim_string(vmi, "metadata.name"));
    return;
  }
  requeue_later(sim, ns, name, 5000);
}

/* Keeps the GC_KEEP most recent finished VMIMs of a VMI (§2.1). */
static void garbage_collect(vr_sim *sim, const char *ns, const char *vmi_name) {
  const cJSON **vmims;
  size_t n, i, finals = 0;
  vr_store_error err;
  if (vmi_name == NULL) return;
  n = vr_store_list_ref(sim->store, "kubevirt.io", "VirtualMachineInstanceMigration", ns, vmi_name,
                        &vmims);
  if (n == (size_t)-1) return;
  for (i = 0; i < n; i++) {
    if (vmim_final(vmims[i])) finals++;
  }
  /* oldest first by resourceVersion of creation order: names sort arbitrarily, use the uid-free
   * creationTimestamp then name */
  while (finals > GC_KEEP) {
    const cJSON *oldest = NULL;
    for (i = 0; i < n; i++) {
      if (vmims[i] == NULL || !vmim_final(vmims[i])) continue;
      if (oldest == NULL || strcmp(sim_string(vmims[i], "metadata.creationTimestamp"),
                                   sim_string(oldest, "metadata.creationTimestamp")) < 0)
        oldest = vmims[i];
    }
    if (oldest == NULL) break;
    for (i = 0; i < n; i++) {
      if (vmims[i] == oldest) vmims[i] = NULL;
    }
    vr_store_delete(sim->store, "kubevirt.io", "VirtualMachineInstanceMigration", ns,
                    sim_string(oldest, "metadata.name"), &err);
    finals--;
  }
  free((void *)vmims);
}

void sim_reconcile_vmim(vr_sim *sim, const char *ns, const char *name) {
  const cJSON *vmim =
      vr_store_get(sim->store, "kubevirt.io", "VirtualMachineInstanceMigration", ns, name);
  const cJSON *vmi;
  sim_migration *running = find_migration(sim, ns, name);
  if (vmim == NULL) { /* deleted: abort a running migration (§2.2) */
    if (running != NULL) {
      char vmi_name[254];
      snprintf(vmi_name, sizeof vmi_name, "%s", running->vmi);
      finish(sim, running,
             "Live migration aborted: its VirtualMachineInstanceMigration was deleted");
      sim_enqueue(sim, SIM_Q_VMI, ns, vmi_name);
    }
    return;
  }
  if (vmim_final(vmim)) {
    garbage_collect(sim, ns, sim_string(vmim, "spec.vmiName"));
    return;
  }
  vmi = vr_store_get(sim->store, "kubevirt.io", "VirtualMachineInstance", ns,
                     sim_string(vmim, "spec.vmiName"));
  if (vmi == NULL || sim_phase_is(vmi, "Succeeded") || sim_phase_is(vmi, "Failed")) {
    if (running) finish(sim, running, "the VMI is gone");
    vmim_fail(sim, vmim, "Migration failed because the VMI is gone or not running");
    return;
  }
  if (sim_path(vmim, "status.phase") == NULL || sim_phase_is(vmim, "")) {
    const cJSON **others;
    size_t n, i;
    int busy = 0;
    n = vr_store_list_ref(sim->store, "kubevirt.io", "VirtualMachineInstanceMigration", ns,
                          sim_string(vmi, "metadata.name"), &others);
    for (i = 0; n != (size_t)-1 && i < n; i++) {
      if (others[i] != vmim && sim_path(others[i], "status.phase") && !vmim_final(others[i]) &&
          !sim_phase_is(others[i], ""))
        busy = 1;
    }
    if (n != (size_t)-1) free((void *)others);
    if (busy) {
      vmim_fail(sim, vmim, "another migration job is in progress");
    } else {
      cJSON *copy = cJSON_Duplicate(vmim, 1);
      set_phase(sim, copy, "Pending");
      sim_save(sim, copy);
    }
    return;
  }
  if (sim_phase_is(vmim, "Pending")) {
    reconcile_pending(sim, vmim, vmi);
  } else if (sim_phase_is(vmim, "Scheduling") &&
             sim_annotation(vmim, "sim.vmrun.io/target-node") == NULL) {
    reconcile_unscheduled(sim, vmim, vmi);
  }
}

static void requeue_event(vr_sim *sim, const char *ns, const char *name) {
  char key[520];
  sim_key(key, sizeof key, ns, name);
  vr_strmap_remove(&sim->vmim_requeues, key);
  sim_enqueue(sim, SIM_Q_VMIM, ns, name);
}

/* The work queue's AddAfter: a VMIM waits for one requeue at most, the earliest asked for (a
 * pending VMIM is reconciled on every freed slot too; without this each of those reconciles
 * would add a timer of its own). */
static void requeue_later(vr_sim *sim, const char *ns, const char *name, uint64_t ms) {
  char key[520];
  sim_event *waiting, *e;
  sim_key(key, sizeof key, ns, name);
  waiting = vr_strmap_get(&sim->vmim_requeues, key);
  if (waiting != NULL && waiting->timer.due <= vr_clock_now(sim->clock) + ms) return;
  if (waiting != NULL) {
    vr_strmap_remove(&sim->vmim_requeues, key);
    sim_cancel(sim, waiting);
  }
  e = sim_after(sim, ms, requeue_event, ns, name);
  if (e != NULL) vr_strmap_put(&sim->vmim_requeues, key, e); /* out of memory: not deduplicated */
}

void sim_requeue_pending(vr_sim *sim) {
  size_t n = vr_strmap_count(&sim->vmims_pending), pos = 0, i = 0, limit;
  const char *key, *name;
  char ns[254], **keys;
  if (n == 0) return;
  keys = malloc(n * sizeof *keys);
  if (keys == NULL) return; /* the 1/3/5 s requeues still come */
  while (i < n && vr_strmap_next(&sim->vmims_pending, &pos, &key, NULL)) keys[i++] = (char *)key;
  sim_sort_vmim_keys(sim, keys, i);
  limit = (size_t)num(&sim_cluster_config(sim)->parallel_migrations_per_cluster, 5);
  for (n = 0; n < i && n < limit; n++) {
    if (sim_split_key(keys[n], ns, sizeof ns, &name) == 0) sim_enqueue(sim, SIM_Q_VMIM, ns, name);
  }
  free(keys);
}

int vr_sim_evacuate_cancel(vr_sim *sim, const char *ns, const char *name, const char *node,
                           vr_store_error *err) {
  const cJSON *vmi;
  const char *marked;
  cJSON *copy;
  memset(err, 0, sizeof *err);
  if (sim_kubevirt_minor(sim) < 8) {
    err->status = 404;
    snprintf(err->reason, sizeof err->reason, "NotFound");
    snprintf(err->message, sizeof err->message,
             "the server could not find the requested resource (evacuate/cancel needs KubeVirt "
             "v1.8 or later)");
    return -1;
  }
  if (node == NULL || node[0] == '\0') {
    err->status = 400;
    snprintf(err->reason, sizeof err->reason, "BadRequest");
    snprintf(err->message, sizeof err->message, "evacuationNodeName is required");
    return -1;
  }
  vmi = vr_store_get(sim->store, "kubevirt.io", "VirtualMachineInstance", ns, name);
  if (vmi == NULL) {
    err->status = 404;
    snprintf(err->reason, sizeof err->reason, "NotFound");
    snprintf(err->message, sizeof err->message,
             "virtualmachineinstances.kubevirt.io \"%s\" not found", name);
    return -1;
  }
  marked = sim_string(vmi, "status.evacuationNodeName");
  if (marked == NULL) return 0;
  if (strcmp(marked, node) != 0) {
    err->status = 409;
    snprintf(err->reason, sizeof err->reason, "Conflict");
    snprintf(err->message, sizeof err->message, "VMI %s/%s is being evacuated from %s, not from %s",
             ns, name, marked, node);
    return -1;
  }
  copy = cJSON_Duplicate(vmi, 1);
  if (copy == NULL) {
    err->status = 500;
    snprintf(err->message, sizeof err->message, "out of memory");
    return -1;
  }
  cJSON_DeleteItemFromObjectCaseSensitive((cJSON *)sim_path(copy, "status"), "evacuationNodeName");
  return vr_store_replace(sim->store, copy, 1, NULL, err);
}

/* --- the evacuation controller (§3.3) ------------------------------------------------------------
 */

/* 1 when the node has a NoSchedule taint with key (NULL: any key). */
static int node_tainted(vr_sim *sim, const char *node_name, const char *key) {
  const cJSON *node = vr_store_get(sim->store, "", "Node", NULL, node_name), *t;
  cJSON_ArrayForEach(t, sim_path(node, "spec.taints")) {
    const char *k = sim_string(t, "key"), *effect = sim_string(t, "effect");
    if (effect && strcmp(effect, "NoSchedule") == 0 && k && (key == NULL || strcmp(k, key) == 0))
      return 1;
  }
  return 0;
}

void sim_evacuate_vmi(vr_sim *sim, const cJSON *vmi) {
  const char *ns = sim_string(vmi, "metadata.namespace"), *name = sim_string(vmi, "metadata.name");
  const char *evac = sim_string(vmi, "status.evacuationNodeName");
  const char *node = sim_string(vmi, "status.nodeName");
  const cJSON **vmims, *last_failed = NULL;
  const vr_migration_config *cfg;
  vr_eviction_strategy strategy;
  char err[VR_MC_ERRLEN], reason[64], message[400];
  size_t n, i;
  int failures = 0, active = 0;
  cJSON *vmim, *meta, *ann;
  vr_store_error serr;
  int marked = evac != NULL && node != NULL && strcmp(evac, node) == 0;
  if (node == NULL || !sim_phase_is(vmi, "Running")) return;
  if (!marked && !node_tainted(sim, node, NULL)) return; /* cheap test first */
  cfg = sim_cluster_config(sim);
  if (!marked) { /* nodeDrainTaintKey:NoSchedule on its node evacuates every VMI (§3.3) */
    if (!node_tainted(sim, node,
                      cfg->node_drain_taint_key.set ? cfg->node_drain_taint_key.str
                                                    : "kubevirt.io/drain"))
      return;
    evac = node;
  }
  if (vr_vmi_eviction_strategy(cfg, vmi, &strategy, NULL, 0, err, sizeof err) != 0) return;
  if (!sim_vmi_live_migratable(sim, vmi, reason, sizeof reason, message, sizeof message)) return;
  if (!vr_migrate_on_eviction(strategy, 1)) return;
  n = vr_store_list_ref(sim->store, "kubevirt.io", "VirtualMachineInstanceMigration", ns, name,
                        &vmims);
  if (n == (size_t)-1) return;
  for (i = 0; i < n; i++) {
    if (!vmim_final(vmims[i])) active = 1;
  }
  /* backoff: failed evacuation VMIMs since the last success (§2.4) */
  for (i = 0; i < n; i++) {
    if (sim_annotation(vmims[i], "kubevirt.io/evacuationMigration") == NULL) continue;
    if (sim_phase_is(vmims[i], "Succeeded")) {
      failures = 0;
      last_failed = NULL;
    } else if (sim_phase_is(vmims[i], "Failed")) {
      failures++;
      if (last_failed == NULL || strcmp(sim_string(vmims[i], "metadata.creationTimestamp"),
                                        sim_string(last_failed, "metadata.creationTimestamp")) >= 0)
        last_failed = vmims[i];
    }
  }
  free((void *)vmims);
  if (active) return;
  if (failures > 0 && last_failed != NULL) {
    const cJSON *list = sim_path(last_failed, "status.phaseTransitionTimestamps");
    const char *failed_at = sim_string(cJSON_GetArrayItem(list, cJSON_GetArraySize(list) - 1),
                                       "phaseTransitionTimestamp");
    int64_t backoff = (int64_t)EVACUATION_BACKOFF_S << (failures - 1 > 20 ? 20 : failures - 1);
    int64_t t0 = timestamp_s(failed_at), now = (int64_t)(vr_clock_now(sim->clock) / 1000u);
    if (now < t0 + backoff) {
      sim_after(sim, (uint64_t)(t0 + backoff - now) * 1000u, sim_requeue_vmi_event, ns, name);
      return;
    }
  }
  vmim = cJSON_CreateObject();
  cJSON_AddStringToObject(vmim, "apiVersion", "kubevirt.io/v1");
  cJSON_AddStringToObject(vmim, "kind", "VirtualMachineInstanceMigration");
  meta = cJSON_AddObjectToObject(vmim, "metadata");
  cJSON_AddStringToObject(meta, "generateName", "kubevirt-evacuation-");
  cJSON_AddStringToObject(meta, "namespace", ns);
  ann = cJSON_AddObjectToObject(meta, "annotations");
  cJSON_AddStringToObject(ann, "kubevirt.io/evacuationMigration", evac);
  cJSON_AddStringToObject(cJSON_AddObjectToObject(meta, "labels"), "kubevirt.io/vmi-name", name);
  sim_set(vmim, "spec.vmiName", cJSON_CreateString(name));
  sim_set(vmim, "spec.priority", cJSON_CreateString("system-critical"));
  vr_store_create(sim->store, vmim, NULL, &serr);
}

/* --- migrations in flight when the cluster was loaded -------------------------------------------
 */

/* The VMI's status.migrationState when it is this VMIM's (by migrationUid; without one, when it
 * shows no finished migration), else NULL. */
static const cJSON *own_migration_state(const cJSON *vmi, const cJSON *vmim) {
  const cJSON *ms = sim_path(vmi, "status.migrationState");
  const char *uid = sim_string(ms, "migrationUid"), *mine = sim_string(vmim, "metadata.uid");
  if (ms == NULL) return NULL;
  if (uid != NULL) return mine != NULL && strcmp(uid, mine) == 0 ? ms : NULL;
  return cJSON_IsTrue(sim_path(ms, "completed")) || cJSON_IsTrue(sim_path(ms, "failed")) ? NULL
                                                                                         : ms;
}

/* The VMI's live pod that virt-controller labelled with the VMIM's uid (the target pod), or
 * NULL. */
static const cJSON *labelled_target(vr_sim *sim, const cJSON *vmi, const cJSON *vmim) {
  const char *uid = sim_string(vmim, "metadata.uid");
  const cJSON **pods, *found = NULL;
  size_t n, i;
  if (uid == NULL || sim_string(vmi, "metadata.uid") == NULL) return NULL;
  n = vr_store_list_ref(sim->store, "", "Pod", sim_string(vmi, "metadata.namespace"),
                        sim_string(vmi, "metadata.uid"), &pods);
  for (i = 0; n != (size_t)-1 && i < n && found == NULL; i++) {
    const cJSON *job = cJSON_GetObjectItemCaseSensitive(sim_path(pods[i], "metadata.labels"),
                                                        "kubevirt.io/migrationJobUID");
    if (cJSON_IsString(job) && strcmp(job->valuestring, uid) == 0 &&
        !sim_phase_is(pods[i], "Succeeded") && !sim_phase_is(pods[i], "Failed") &&
        sim_path(pods[i], "metadata.deletionTimestamp") == NULL)
      found = pods[i];
  }
  if (n != (size_t)-1) free((void *)pods);
  return found;
}

/* When a migration loaded Running started (ms since the epoch; 0: unknown): its
 * status.migrationState's startTimestamp, else the VMIM's last transition to Running. */
static int64_t running_since(const cJSON *vmim, const cJSON *state) {
  const cJSON *t;
  const char *text = sim_string(state, "startTimestamp");
  int64_t ms = 0;
  if (text == NULL) text = sim_string(vmim, "status.migrationState.startTimestamp");
  if (text == NULL) {
    cJSON_ArrayForEach(t, sim_path(vmim, "status.phaseTransitionTimestamps")) {
      const char *phase = sim_string(t, "phase");
      if (phase && strcmp(phase, "Running") == 0) text = sim_string(t, "phaseTransitionTimestamp");
    }
  }
  if (text == NULL || vr_k8s_time_ms(text, &ms) != 0) return 0;
  return ms;
}

/* Takes over one VMIM loaded in flight (see sim_adopt_migrations). */
static void adopt_migration(vr_sim *sim, const char *ns, const char *name) {
  const cJSON *vmim =
      vr_store_get(sim->store, "kubevirt.io", "VirtualMachineInstanceMigration", ns, name);
  const cJSON *vmi, *state, *pod;
  const char *node, *pod_name;
  char phase[32], target[254] = "", target_pod[300] = "";
  int64_t since;
  cJSON *copy, *ann;
  if (vmim == NULL || !vmim_running(vmim)) return;
  snprintf(phase, sizeof phase, "%s", sim_string(vmim, "status.phase"));
  vmi = vr_store_get(sim->store, "kubevirt.io", "VirtualMachineInstance", ns,
                     sim_string(vmim, "spec.vmiName"));
  if (vmi == NULL || sim_phase_is(vmi, "Succeeded") || sim_phase_is(vmi, "Failed") ||
      sim_string(vmi, "status.nodeName") == NULL)
    return; /* the controller fails it: the VMI is gone or not running */
  state = own_migration_state(vmi, vmim);
  node = sim_annotation(vmim, "sim.vmrun.io/target-node");
  if (node == NULL) node = sim_string(vmim, "status.migrationState.targetNode");
  if (node == NULL) node = sim_string(state, "targetNode");
  pod_name = sim_annotation(vmim, "sim.vmrun.io/target-pod");
  if (pod_name == NULL) pod_name = sim_string(vmim, "status.migrationState.targetPod");
  if (pod_name == NULL) pod_name = sim_string(state, "targetPod");
  pod = pod_name ? vr_store_get(sim->store, "", "Pod", ns, pod_name) : NULL;
  if (pod == NULL) pod = labelled_target(sim, vmi, vmim);
  if (node == NULL && pod != NULL) node = sim_string(pod, "spec.nodeName");
  if (node != NULL) snprintf(target, sizeof target, "%s", node);
  if (pod != NULL) snprintf(target_pod, sizeof target_pod, "%s", sim_string(pod, "metadata.name"));
  if (target[0] != '\0' && vr_store_get(sim->store, "", "Node", NULL, target) == NULL) {
    vmim_fail(sim, vmim, "in flight when the cluster was read, toward a node that is not in it");
    return;
  }
  if (target[0] == '\0' && !(strcmp(phase, "Scheduling") == 0 && pod != NULL)) {
    vmim_fail(sim, vmim,
              "in flight when the cluster was read, with no target node that the simulator can "
              "tell");
    return;
  }
  if (pod == NULL) /* the target pod, which the copy lacks */
    sim_create_launcher(sim, vmi, target, strcmp(phase, "Scheduling") != 0,
                        sim_string(vmim, "metadata.uid"), target_pod, sizeof target_pod);
  since = strcmp(phase, "Running") == 0 ? running_since(vmim, state) : 0;
  /* the simulator's own record of the target, as reconcile_pending writes it */
  copy = cJSON_Duplicate(vmim, 1);
  ann = (cJSON *)sim_path(copy, "metadata.annotations");
  if (!cJSON_IsObject(ann)) {
    cJSON_DeleteItemFromObjectCaseSensitive((cJSON *)sim_path(copy, "metadata"), "annotations");
    ann = cJSON_AddObjectToObject((cJSON *)sim_path(copy, "metadata"), "annotations");
  }
  cJSON_DeleteItemFromObjectCaseSensitive(ann, "sim.vmrun.io/target-pod");
  cJSON_AddStringToObject(ann, "sim.vmrun.io/target-pod", target_pod);
  cJSON_DeleteItemFromObjectCaseSensitive(ann, "sim.vmrun.io/target-node");
  if (target[0] != '\0') cJSON_AddStringToObject(ann, "sim.vmrun.io/target-node", target);
  sim_save(sim, copy);
  if (strcmp(phase, "Scheduling") == 0) {
    if (target[0] != '\0') sim_after(sim, sim_pod_start_ms(vmi), target_started, ns, name);
    /* (without a node: reconcile_unscheduled places the pod) */
  } else if (strcmp(phase, "Running") != 0) {
    sim_after(sim, HANDOFF_MS, handoff, ns, name);
  } else {
    uint64_t now = vr_clock_now(sim->clock);
    vmim = vr_store_get(sim->store, "kubevirt.io", "VirtualMachineInstanceMigration", ns, name);
    if (vmim != NULL)
      start_running(sim, vmim, vmi, 1,
                    since > 0 && (uint64_t)since < now ? now - (uint64_t)since : 0);
  }
}

void sim_adopt_migrations(vr_sim *sim) {
  const cJSON **items;
  size_t n = vr_store_list(sim->store, "kubevirt.io", "VirtualMachineInstanceMigration", NULL, NULL,
                           &items),
         i, found = 0;
  char(*keys)[520];
  if (n == (size_t)-1) return;
  keys = calloc(n + 1, sizeof *keys);
  for (i = 0; keys != NULL && i < n; i++) { /* first the keys: taking over writes VMIMs */
    if (vmim_running(items[i]))
      sim_key(keys[found++], sizeof keys[0], sim_string(items[i], "metadata.namespace"),
              sim_string(items[i], "metadata.name"));
  }
  free((void *)items);
  for (i = 0; i < found; i++) {
    char ns[254];
    const char *name;
    if (sim_split_key(keys[i], ns, sizeof ns, &name) == 0) adopt_migration(sim, ns, name);
  }
  free(keys);
}

void sim_requeue_vmi_event(vr_sim *sim, const char *ns, const char *name) {
  sim_enqueue(sim, SIM_Q_VMI, ns, name);
}

void sim_free_migrations(vr_sim *sim) {
  vr_strmap_clear(&sim->limits_outbound);
  vr_strmap_clear(&sim->vmims_running);
  vr_strmap_clear(&sim->vmims_pending);
  vr_strmap_clear(&sim->vmim_requeues); /* the events themselves go with sim->events */
  while (sim->migrations) {
    sim_migration *m = sim->migrations;
    sim->migrations = m->next;
    free(m);
  }
}
