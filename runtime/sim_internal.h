/* sim_internal.h: what the simulator's own files share (not for bindings): the vr_sim
 * structure, its work queues and timed events, and the controller entry points. Controllers
 * run from clock callbacks (never inside a store watch callback), only touch the store and
 * enqueue more work; they never call Lua. */
#ifndef VMRUN_SIM_INTERNAL_H
#define VMRUN_SIM_INTERNAL_H

#include <cjson/cJSON.h>

#include "clock.h"
#include "migration_config.h"
#include "sim.h"
#include "store.h"
#include "strmap.h"

/* Work queues, run in this order each round. Keys are "ns" SEP "name"; nodes use "" for ns and
 * NodeMaintenances (cluster-scoped, two API groups) their API group. */
enum { SIM_Q_NODE, SIM_Q_NM, SIM_Q_VM, SIM_Q_VMI, SIM_Q_VMIM, SIM_Q_PDB, SIM_Q_RS, SIM_QUEUES };

/* The simulator's store watches. */
enum {
  SIM_W_VM,
  SIM_W_VMI,
  SIM_W_NODE,
  SIM_W_POD,
  SIM_W_VMIM,
  SIM_W_NM,
  SIM_W_NM_OLD,
  SIM_W_KUBEVIRT,
  SIM_W_HCO,
  SIM_W_PDB,
  SIM_W_RS,
  SIM_WATCHES
};

#define SIM_NM_GROUP     "nodemaintenance.medik8s.io"  /* NodeMaintenance, current (§5.1) */
#define SIM_NM_GROUP_OLD "nodemaintenance.kubevirt.io" /* NodeMaintenance, deprecated (§5.1) */

typedef struct sim_event sim_event;
typedef struct sim_migration sim_migration;
typedef struct sim_node_cache sim_node_cache;
typedef void (*sim_event_fn)(vr_sim *sim, const char *ns, const char *name);

struct sim_event {
  vr_timer timer;
  vr_sim *sim;
  sim_event_fn fn;
  char ns[254];
  char name[254];
  sim_event *prev, *next;
};

struct vr_sim {
  vr_store *store;
  vr_clock *clock;
  uint64_t seed;
  uint64_t rng;
  char *source;
  vr_strmap queues[SIM_QUEUES];       /* "ns" SEP "name" -> (void *)1 */
  vr_strmap queue_spares[SIM_QUEUES]; /* emptied queues whose tables are reused */
  vr_timer work_timer;
  int work_armed;
  vr_store_watch *watches[SIM_WATCHES];
  sim_migration *migrations;  /* running migrations (sim_migration.c) */
  vr_strmap pod_usage;        /* "ns" SEP "name" -> the pod's node and requests */
  vr_strmap unscheduled;      /* "ns" SEP "name" of the VMIs waiting for a node -> (void *)1 */
  vr_strmap node_usage;       /* node -> summed requests of its live pods */
  sim_node_cache *node_cache; /* sorted nodes for scheduling; NULL after a node changed */
  int limits_valid;           /* the counts below are current (cleared by VMIM/VMI changes) */
  int64_t limits_running;     /* migrations holding a slot */
  vr_strmap limits_outbound;  /* node -> (intptr_t) migrations out of it */
  vr_strmap vmims_running;    /* "ns" SEP "name" of VMIMs in a phase that holds a slot -> 1 */
  vr_strmap vmims_pending;    /* "ns" SEP "name" of VMIMs in phase Pending -> 1 */
  vr_strmap vmim_requeues;    /* "ns" SEP "name" of a VMIM -> its waiting requeue (sim_event *) */
  uint64_t migration_generation;
  vr_strmap maintenance;   /* NodeMaintenance key -> its drain state (sim_maintenance.c) */
  sim_event *events;       /* pending timed events */
  sim_event *spare_events; /* fired or cancelled ones, for reuse (through next) */
  size_t sched_next_start; /* the scheduler's rotating search start (sim_workloads.c) */
  vr_strmap taint_timers;  /* node -> its pending taint-eviction check (sim_nodes.c) */
  vr_strmap taint_pods;    /* node -> (vr_strmap *) "ns" SEP "name" of its pods changed since the
                              taint manager looked (sim_nodes.c) */
  int started;             /* controllers attached */
  int objects_loading;     /* vr_sim_load_objects is loading (its messages say so) */
  int status_writes;       /* > 0 while a kubelet rewrites only pod status fields no controller
                              reads (sim_status.c): the pod watch queues nothing for them */
  int controller_writes;   /* > 0 while a controller writes an object it built from stored,
                              admitted ones (sim_save, launcher pods): admission skips its checks */
  vr_migration_config cluster_config; /* sim_cluster_config's answer */
  int cluster_config_valid;           /* it is current: kept once started, until a KubeVirt or
                                         HyperConverged CR changes */
  int kubevirt_minor; /* the KubeVirt version whose behaviour applies, read at load (HEAD: 1000) */
  uint32_t pod_ips;   /* pod network addresses handed out so far (sim_status.c) */
  uint64_t timestamp_second; /* sim_timestamp's last second of the run and its text */
  char timestamp_text[40];
  struct { /* the last launcher_requests answer (sim_workloads.c), for one VMI version */
    char uid[64], resource_version[32];
    double overhead_ratio, cpu_allocation_ratio;
    int64_t cpu_milli, memory;
  } launcher_memo;
};

#define SIM_SEP "\x1f"

/* buf = ns SEP name (NULL parts are ""), cut to len - 1 characters: the key of the work queues
 * and of the per-object sets. */
void sim_key(char *buf, size_t len, const char *ns, const char *name);
/* Splits such a key into ns (a buffer of nslen) and *name (inside key); 0, or -1 when malformed
 * or the namespace does not fit. */
int sim_split_key(const char *key, char *ns, size_t nslen, const char **name);
/* Queues ns/name for a controller and arms the work timer (safe inside watch callbacks). */
void sim_enqueue(vr_sim *sim, int queue, const char *ns, const char *name);
/* Runs fn(sim, ns, name) after delay_ms of simulated time; the event (NULL when out of memory)
 * is valid until it fires or is cancelled. */
sim_event *sim_after(vr_sim *sim, uint64_t delay_ms, sim_event_fn fn, const char *ns,
                     const char *name);
void sim_cancel(vr_sim *sim, sim_event *e);
uint64_t sim_random(vr_sim *sim);

/* The ReplicaSet controller (sim_replicaset.c): a ReplicaSet with fewer active pods than
 * spec.replicas gets new ones from its template, placed by the scheduler (Pending when no node
 * fits). Queued by its own changes and by its pods' (sim_enqueue_owner_rs). */
void sim_reconcile_replicaset(vr_sim *sim, const char *ns, const char *name);
/* Queues the ReplicaSet that controls the pod, if any (safe in watch callbacks). */
void sim_enqueue_owner_rs(vr_sim *sim, const cJSON *pod);
/* The scheduler's node for a plain pod needing cpu_milli and memory (its nodeSelector, affinity
 * and tolerations apply), or NULL with the reasons in why. */
const cJSON *sim_pick_node_for_pod(vr_sim *sim, const cJSON *pod, int64_t cpu_milli, int64_t memory,
                                   char *why, size_t whylen);

/* Controllers (sim_workloads.c). */
void sim_reconcile_vm(vr_sim *sim, const char *ns, const char *name);
void sim_reconcile_vmi(vr_sim *sim, const char *ns, const char *name);

/* Whether a pod counts as healthy for a PodDisruptionBudget: Running, not being deleted, and
 * Ready (or without conditions). */
int sim_pod_ready(const cJSON *pod);
/* How many more of its pods (in namespace ns) the PDB lets go now, computed from the pods as the
 * disruption controller does (0 blocks; never < 0). */
long long sim_pdb_disruptions_allowed(vr_sim *sim, const cJSON *pdb, const char *ns);
/* The disruption controller (§4.3): keeps a PodDisruptionBudget's status (expectedPods,
 * currentHealthy, desiredHealthy, disruptionsAllowed, observedGeneration) computed from the pods
 * it selects; queued by pod and budget changes. */
void sim_reconcile_pdb(vr_sim *sim, const char *ns, const char *name);
/* Queues the budgets of a namespace (a pod there changed; safe in watch callbacks). */
void sim_enqueue_pdbs(vr_sim *sim, const char *ns);
/* 1 when the VMI can live-migrate, else 0 with KubeVirt's reason and message (§3.6). */
int sim_vmi_live_migratable(vr_sim *sim, const cJSON *vmi, char *reason, size_t rlen, char *message,
                            size_t mlen);
/* Gives VMIs loaded with a node their virt-launcher pods (at load, before the controllers). */
void sim_adopt_loaded(vr_sim *sim);
/* Deletions in flight at load: pods loaded with a deletionTimestamp go after their stop time
 * (capped by their grace period), as if deleted now; VMIs loaded with one are deleted (their
 * finalizers are KubeVirt's, which finish at once). */
void sim_adopt_deleting(vr_sim *sim);
/* Migrations in flight at load (sim_migration.c): VMIMs in Scheduling, Scheduled,
 * PreparingTarget, TargetReady or Running go on from their phase. The target node and pod come
 * from the sim.vmrun.io/target-* annotations, else the VMIM's or the VMI's
 * status.migrationState, else the pod labelled with the VMIM's uid (a missing target pod on a
 * known node is created); a Running migration resumes in the model as far as it would have got
 * since its start. A VMIM whose target cannot be told fails. */
void sim_adopt_migrations(vr_sim *sim);

/* Shared by the controllers (sim_workloads.c). */
/* The scheduler's node for a VMI's pod (never `exclude`), or NULL with the reasons in why. */
const cJSON *sim_pick_node(vr_sim *sim, const cJSON *vmi, const char *exclude, char *why,
                           size_t whylen);
/* Creates a virt-launcher pod for the VMI on node (NULL: not scheduled), Running or Pending;
 * migration_uid labels a migration target pod. name_out (may be NULL) gets its name. */
void sim_create_launcher(vr_sim *sim, const cJSON *vmi, const char *node, int running,
                         const char *migration_uid, char *name_out, size_t name_len);
/* The VMI's live virt-launcher pod on its node, or NULL. */
const cJSON *sim_launcher_pod(vr_sim *sim, const cJSON *vmi);
/* Replaces an object with a modified copy (owned); errors are dropped: controllers retry. */
void sim_save(vr_sim *sim, cJSON *copy);
cJSON *sim_condition(const char *type, const char *status, const char *reason, const char *message);
uint64_t sim_pod_start_ms(const cJSON *vmi);
int64_t sim_vmi_memory(const cJSON *vmi);

/* The status fields of the agents of a real cluster (sim_status.c); none of them feeds a
 * decision. */
/* Sets a pod's status.phase (a copy being written) with what the kubelet reports in it, once the
 * pod is on a node: hostIP and podIP (with podIPs) when it has none (the node's
 * InternalIP; a pod on the host network has the node's, others the next address of the pod
 * network 10.128.0.0/14 in order; a finished pod gets none) and one containerStatuses entry per
 * spec.containers element (waiting ContainerCreating while Pending, running and ready while
 * Running, terminated when Succeeded or Failed; restartCount and lastState kept). */
void sim_pod_set_phase(vr_sim *sim, cJSON *pod, const char *phase);
/* A pod loaded from a cluster file on a node, with a phase: what sim_pod_set_phase would add
 * that it lacks (addresses, containerStatuses), keeping what the file gives. 1 when changed. */
int sim_pod_fill_loaded(vr_sim *sim, cJSON *pod);
/* The kubelet restarted the pod's containers in place after its node went down at down_at (a
 * timestamp): restartCount + 1, lastState terminated (255, Unknown), running since now. */
void sim_pod_restarted(vr_sim *sim, cJSON *pod, const char *down_at);
/* A node without an InternalIP address gets 10.0.0.10 + index (and a Hostname address). 1 when
 * changed. */
int sim_node_fill_addresses(cJSON *node, size_t index);
/* A node written without a Ready condition is Ready (the simulator's rule): it gets the
 * condition the kubelet reports, Ready True (KubeletReady), as of now. 1 when changed. */
int sim_node_fill_ready(vr_sim *sim, cJSON *node);
/* status.interfaces of a running VMI (a copy being written) as virt-handler reports them: one
 * per spec.domain.devices.interfaces element (or KubeVirt's default pod-network interface), with
 * its MAC (spec.macAddress, else a fixed one in 52:54:00 from the uid) and queueCount; the
 * pod-network interface has the address of pod, the VMI's live virt-launcher pod (NULL: none). */
void sim_vmi_set_interfaces(cJSON *vmi, const cJSON *pod);
/* Sets the VMI's Ready condition (a copy being written), keeping its other conditions. */
void sim_vmi_set_ready(cJSON *vmi, const char *status, const char *reason, const char *message);
/* The VM's status.conditions as KubeVirt's VM controller derives them from its VMI (NULL: none):
 * Ready from the VMI's Ready (False VMINotExists without a VMI, False VMIConditionMissing
 * without the condition), then the VMI's other conditions. The caller owns the array. */
cJSON *sim_vm_conditions(const cJSON *vmi);
/* 1 when conditions (a VM's status.conditions) are what sim_vm_conditions(vmi) gives. */
int sim_vm_conditions_current(const cJSON *conditions, const cJSON *vmi);
/* The VMI's vCPUs (cores x sockets x threads, or its CPU request or limit rounded up). */
int64_t sim_vmi_vcpus(const cJSON *vmi);

/* Keeps the sets of running and pending VMIMs for a VMIM change (safe in watch callbacks). */
void sim_note_vmim(vr_sim *sim, int deleted, const cJSON *vmim);

/* Keeps the per-node request totals up to date for a pod change (safe in watch callbacks). */
void sim_account_pod(vr_sim *sim, int deleted, const cJSON *pod);
void sim_free_accounting(vr_sim *sim);
/* Drops the scheduler's node cache (a node, or the KubeVirt or HyperConverged CR, changed: the
 * cache holds the launcher overhead ratio too). */
void sim_node_cache_clear(vr_sim *sim);
/* A node was modified: its cache entry is refreshed in place when its labels stayed (the memo
 * and the node order hold), else the cache is dropped. */
void sim_node_cache_update(vr_sim *sim, const cJSON *node);

/* Node lifecycle and taint manager (sim_nodes.c): a node's taints follow spec.unschedulable and
 * its conditions (Ready: False/Unknown; a node without a Ready condition is Ready); pods that do
 * not tolerate a NoExecute taint are deleted (§6.3). ns "": the node changed; SIM_NODE_PODS: pods
 * on it changed (only the taint manager looks, at the pods sim_note_node_pod noted). */
#define SIM_NODE_PODS "pods"
void sim_reconcile_node(vr_sim *sim, const char *ns, const char *name);
/* Notes a pod that was written for the taint manager of its node and queues the node, when the
 * node has NoExecute taints (safe in watch callbacks). */
void sim_note_node_pod(vr_sim *sim, const cJSON *pod);
/* The node's taints as the node-lifecycle controller is about to leave them (managed taints
 * added or dropped per the node's state, e.g. not-ready right after Ready turned False), or NULL
 * when spec.taints already is so. The scheduler filters on these, so that readiness acts only
 * through the taints (§6.1, §6.3). The caller owns the array. */
cJSON *sim_node_pending_taints(vr_sim *sim, const cJSON *node);
/* A copy of tolerations (NULL: none) with what Kubernetes' DefaultTolerationSeconds admission
 * adds to a pod lacking them: node.kubernetes.io/not-ready and /unreachable, Exists, NoExecute,
 * tolerationSeconds 300. The caller owns the array. */
cJSON *sim_default_tolerations(const cJSON *tolerations);
/* Cancels the taint-eviction checks (simulator teardown; the events themselves are freed there). */
void sim_free_nodes(vr_sim *sim);

/* NodeMaintenance controller (sim_maintenance.c, §5); group is the CR's API group. */
void sim_reconcile_nodemaintenance(vr_sim *sim, const char *group, const char *name);
/* The NodeMaintenance admission webhook (§5.1): on create the node must exist and have no other
 * NodeMaintenance; spec.nodeName is immutable. 0, or -1 with a 403 in err. */
int sim_admit_nodemaintenance(vr_sim *sim, const cJSON *old, const cJSON *obj, vr_store_error *err);
/* Frees the controller's drain states (simulator teardown, after the timed events). */
void sim_free_maintenance(vr_sim *sim);

/* KubeVirt's disruption-budget controller (sim_disruption.c, §3.2): up to v1.5 a budget per
 * VMI that migrates on eviction; from v1.6 leftovers are deleted (sim_drop_budgets, at load). */
int sim_kubevirt_minor(vr_sim *sim);
void sim_reconcile_vmi_budget(vr_sim *sim, const char *ns, const char *name);
void sim_drop_budgets(vr_sim *sim);

/* Migrations (sim_migration.c). */
/* The cluster-wide settings from the KubeVirt and HyperConverged CRs (admission refuses bad
 * ones; the defaults if they are missing). Valid until the next call. */
const vr_migration_config *sim_cluster_config(vr_sim *sim);
/* Drops the settings sim_cluster_config keeps (a KubeVirt or HyperConverged CR changed). */
void sim_cluster_config_changed(vr_sim *sim);
void sim_reconcile_vmim(vr_sim *sim, const char *ns, const char *name);
/* A migration finished: queues the highest-priority Pending VMIMs, up to
 * parallelMigrationsPerCluster of them (reEnqueueHighestPriorityPendingMigrations, §2.4). */
void sim_requeue_pending(vr_sim *sim);
/* Sorts "ns" SEP "name" VMIM keys in the migration queue's order: priority, then age, then key
 * (§2.4). Unsorted when out of memory. */
void sim_sort_vmim_keys(vr_sim *sim, char **keys, size_t n);
/* Creates the evacuation VMIM of a VMI marked by an eviction, after its backoff (§3.3). */
void sim_evacuate_vmi(vr_sim *sim, const cJSON *vmi);
void sim_requeue_vmi_event(vr_sim *sim, const char *ns, const char *name);
/* A VMIM's queue priority (§2.4): 100 system-critical, 50 user-triggered, 20
 * system-maintenance, 0 none. */
int sim_vmim_priority(const cJSON *vmim);
/* Frees the running migrations (simulator teardown). */
void sim_free_migrations(vr_sim *sim);

/* Admission and load checks (sim_admission.c): vr_admit_fn and vr_load_check for the store. */
int sim_admit(void *ctx, const cJSON *old, const cJSON *obj, vr_store_error *err);
int sim_load_check(void *ctx, const cJSON *obj, vr_store_error *err);
/* A sim.vmrun.io/ annotation of obj (full key) as milliseconds / bytes; a missing annotation
 * gives its documented default (bytes: -1 when it has none). Admission has checked the values. */
uint64_t sim_annotation_ms(const cJSON *obj, const char *key);
/* 1 for the finalizers of KubeVirt's and Kubernetes' controllers, which the simulator completes
 * at once (a VM or PVC from a snapshot deletes); 0 for others (NodeMaintenance's, users'). */
int sim_finalizer_done_at_once(void *ctx, const char *name);
int64_t sim_annotation_bytes(const cJSON *obj, const char *key);

/* Small cJSON helpers. */
const cJSON *sim_path(const cJSON *obj, const char *dotted); /* "spec.template.spec" */
const char *sim_string(const cJSON *obj, const char *dotted);
const char *sim_annotation(const cJSON *obj, const char *key); /* metadata.annotations[key] */
int sim_phase_is(const cJSON *obj, const char *phase);         /* status.phase == phase */
/* The run's time as the API server writes timestamps: RFC 3339, whole seconds, UTC. */
void sim_timestamp(vr_sim *sim, char *buf, size_t len);
/* Sets obj.<dotted> (creating objects on the way) to item (owned). */
void sim_set(cJSON *obj, const char *dotted, cJSON *item);

#endif
