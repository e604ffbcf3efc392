/* sim.h: the simulated cluster: its object store, the run's clock (virtual time) and the seed
 * that makes a run deterministic. The controllers (scheduler, eviction, migration, maintenance)
 * attach here as they are built. No Lua here. */
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

/* The path of the loaded cluster file, or NULL. */
const char *vr_sim_source(const vr_sim *sim);

#endif
