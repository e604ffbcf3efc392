/* sim.c: the simulated cluster's container (see sim.h). */
#include "sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "luaval.h"

struct vr_sim {
  vr_store *store;
  vr_clock *clock;
  uint64_t seed;
  char *source;
};

static uint64_t sim_now(void *ctx) {
  return vr_clock_now(((vr_sim *)ctx)->clock);
}

vr_sim *vr_sim_new(vr_clock *clock, uint64_t seed) {
  vr_sim *sim = calloc(1, sizeof *sim);
  if (sim == NULL) return NULL;
  sim->store = vr_store_new(seed, 0);
  if (sim->store == NULL) {
    free(sim);
    return NULL;
  }
  sim->clock = clock;
  sim->seed = seed;
  vr_store_set_clock(sim->store, sim_now, sim);
  return sim;
}

void vr_sim_free(vr_sim *sim) {
  if (sim == NULL) return;
  vr_store_free(sim->store);
  free(sim->source);
  free(sim);
}

vr_store *vr_sim_store(vr_sim *sim) {
  return sim->store;
}

vr_clock *vr_sim_clock(vr_sim *sim) {
  return sim->clock;
}

uint64_t vr_sim_seed(const vr_sim *sim) {
  return sim->seed;
}

const char *vr_sim_source(const vr_sim *sim) {
  return sim->source;
}

int vr_sim_load_file(vr_sim *sim, const char *path, vr_store_error *err) {
  char msg[300];
  size_t len;
  char *text = vr_read_file(path, &len, msg, sizeof msg);
  int rc;
  if (text == NULL) {
    err->status = 400;
    snprintf(err->reason, sizeof err->reason, "BadRequest");
    snprintf(err->message, sizeof err->message, "cannot read cluster file %s", msg);
    return -1;
  }
  rc = vr_store_load_yaml(sim->store, text, len, path, err);
  free(text);
  if (rc == 0) {
    free(sim->source);
    sim->source = strdup(path);
  }
  return rc;
}
