/* sim.h: the simulated cluster: its object store, the run's clock (virtual time) and the seed
 * that makes a run deterministic. The controllers (scheduler, eviction, migration, maintenance)
 * attach here as they are built. No Lua here. */
#ifndef VMRUN_SIM_H
#define VMRUN_SIM_H

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
/* The path of the loaded cluster file, or NULL. */
const char *vr_sim_source(const vr_sim *sim);

#endif
