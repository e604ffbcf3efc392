/* sim.h: the simulated cluster: its object store (from a cluster file or from in-memory objects),
 * the run's clock (virtual time) and the seed that makes a run deterministic. The controllers
 * (scheduler, eviction, migration, maintenance) attach here as they are built. No Lua here. */
#ifndef VMRUN_SIM_H
#define VMRUN_SIM_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "clock.h"
#include "store.h"

typedef struct vr_sim vr_sim;

/* NULL when out of memory. The clock stamps creation times; it must outlive the simulator. */
vr_sim *vr_sim_new(vr_clock *clock, uint64_t seed);
void vr_sim_free(vr_sim *sim);

vr_store *vr_sim_store(vr_sim *sim);
vr_clock *vr_sim_clock(vr_sim *sim);
uint64_t vr_sim_seed(const vr_sim *sim);

/* Loads a cluster file (Kubernetes YAML) into the store. On error (err filled, messages name
 * the file and line) the simulator must be discarded. Returns 0 or -1. */
int vr_sim_load_file(vr_sim *sim, const char *path, vr_store_error *err);
/* Loads objects (a cJSON array of Kubernetes objects as an API server returns them; taken over
 * in every case) as vr_sim_load_file loads a file: the same admission and reference checks, with
 * errors naming source and the object ("SOURCE: Pod prod/web: spec.nodeName 'w9' names no Node
 * in the file"). Their status is taken as the present, as a file's is (see sim_start in sim.c:
 * migrations and deletions in flight go on). metadata.managedFields is dropped; uid and
 * creationTimestamp are kept, resourceVersions are the simulator's own. source becomes
 * vr_sim_source. On error the simulator must be discarded. Returns 0 or -1. */
int vr_sim_load_objects(vr_sim *sim, cJSON *objects, const char *source, vr_store_error *err);

/* The kinds the simulator models or the stock playbooks read from it, as {group, kind}, ending
 * with {NULL, NULL}: what a rehearsal (vmrun --rehearse) copies from a real cluster. Secrets are
 * never among them. */
typedef struct vr_sim_kind {
  const char *group, *kind;
} vr_sim_kind;
extern const vr_sim_kind vr_sim_kinds[];
/* POST pods/<name>/eviction (reference §4.3) with KubeVirt's eviction webhook in front (§3.2).
 * eviction is the Eviction body (metadata.annotations, deleteOptions.gracePeriodSeconds; may be
 * NULL). Returns 0 when the pod is being deleted (or would be, with dry_run); -1 with err:
 * 404, 429 (KubeVirt's messages, or reason "DisruptionBudget"), 500 (several budgets). */
int vr_sim_evict(vr_sim *sim, const char *ns, const char *name, const cJSON *eviction, int dry_run,
                 vr_store_error *err);
/* Deletes a pod gracefully: deletionTimestamp now, gone after its stop time (a virt-launcher
 * pod: the guest shuts down and the VMI ends Succeeded) capped by the grace period (seconds; -1:
 * the pod's own, default 30). 404 when absent; 0 when it is already being deleted. */
int vr_sim_delete_pod(vr_sim *sim, const char *ns, const char *name, long long grace_seconds,
                      vr_store_error *err);

/* PUT virtualmachineinstances/<name>/evacuate/cancel (KubeVirt v1.8+, reference §3.3): clears
 * the VMI's status.evacuationNodeName when it is node (the caller names the node, so that a
 * cancel never undoes a newer evacuation), which stops the evacuation controller from creating
 * migrations for it. 0 also when the VMI is not marked (idempotent); -1 with err: 404 when the
 * KubeVirt version has no such subresource or the VMI does not exist, 409 when it is marked for
 * another node, 400 when node is empty. */
int vr_sim_evacuate_cancel(vr_sim *sim, const char *ns, const char *name, const char *node,
                           vr_store_error *err);

/* Reboots a node: NotReady at once, the VMs on it are lost (their VMIs fail, the virt-launcher
 * pods are gone; run strategies decide what restarts), Ready again with a new bootID after the
 * node's sim.vmrun.io/reboot-seconds (default 300). Other pods restart in place then (their
 * containers' restartCount + 1). 404 when the node does not exist. */
int vr_sim_reboot_node(vr_sim *sim, const char *name, vr_store_error *err);

/* The path of the loaded cluster file (or the source given to vr_sim_load_objects), or NULL. */
const char *vr_sim_source(const vr_sim *sim);

#endif
