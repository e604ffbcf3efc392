/* sim_internal.h: what the simulator's own files share (not for bindings): the vr_sim
 * structure, its work queues and timed events, and the controller entry points. Controllers
 * run from clock callbacks (never inside a store watch callback), only touch the store and
 * enqueue more work; they never call Lua. */
#ifndef VMRUN_SIM_INTERNAL_H
#define VMRUN_SIM_INTERNAL_H

#include <cjson/cJSON.h>

#include "clock.h"
#include "sim.h"
#include "store.h"
#include "strmap.h"

enum { SIM_Q_VM, SIM_Q_VMI, SIM_QUEUES };

typedef struct sim_event sim_event;
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
  vr_strmap queues[SIM_QUEUES]; /* "ns" SEP "name" -> (void *)1 */
  vr_timer work_timer;
  int work_armed;
  vr_store_watch *watches[4]; /* VM, VMI, Node, Pod */
  sim_event *events;          /* pending timed events */
  int started;                /* controllers attached */
};

#define SIM_SEP "\x1f"

/* Queues ns/name for a controller and arms the work timer (safe inside watch callbacks). */
void sim_enqueue(vr_sim *sim, int queue, const char *ns, const char *name);
/* Runs fn(sim, ns, name) after delay_ms of simulated time. */
void sim_after(vr_sim *sim, uint64_t delay_ms, sim_event_fn fn, const char *ns, const char *name);
uint64_t sim_random(vr_sim *sim);

/* Controllers (sim_workloads.c). */
void sim_reconcile_vm(vr_sim *sim, const char *ns, const char *name);
void sim_reconcile_vmi(vr_sim *sim, const char *ns, const char *name);

/* 1 when the VMI can live-migrate, else 0 with KubeVirt's reason and message (§3.6). */
int sim_vmi_live_migratable(vr_sim *sim, const cJSON *vmi, char *reason, size_t rlen, char *message,
                            size_t mlen);
/* Gives VMIs loaded with a node their virt-launcher pods (at load, before the controllers). */
void sim_adopt_loaded(vr_sim *sim);

/* Small cJSON helpers. */
const cJSON *sim_path(const cJSON *obj, const char *dotted); /* "spec.template.spec" */
const char *sim_string(const cJSON *obj, const char *dotted);
/* Sets obj.<dotted> (creating objects on the way) to item (owned). */
void sim_set(cJSON *obj, const char *dotted, cJSON *item);

#endif
