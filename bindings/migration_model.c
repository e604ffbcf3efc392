/* migration_model.c: vmrun.migration.model, the live-migration model (runtime/migration_model.h)
 * for Lua: how long one migration takes, and how it ends, for ETAs and pre-flight estimates. The
 * caller (stdlib-lua/vmrun/queue.lua) reads the VMI and the effective settings and passes plain
 * numbers here. Pure computation: no I/O, never yields. Raises vmrun.Errors with the caller's
 * file:line. */
#include <lauxlib.h>
#include <math.h>
#include <string.h>

#include "bindings.h"
#include "errors.h"
#include "migration_model.h"

#define MAX_BYTES 1152921504606846976.0 /* 2^60 */

/* A number field of the table at idx (>= 0); absent gives dflt. Raises kind usage otherwise. */
static double number_field(lua_State *L, int idx, const char *name, double dflt) {
  int t = lua_getfield(L, idx, name);
  double v = lua_tonumber(L, -1);
  lua_pop(L, 1);
  if (t == LUA_TNIL) return dflt;
  if (t != LUA_TNUMBER || !(v >= 0) || !isfinite(v))
    vr_error_raise_for(L, "usage", NULL,
                       "migration_model.estimate: %s must be a finite number >= 0", name);
  return v;
}

static int bool_field(lua_State *L, int idx, const char *name) {
  int t = lua_getfield(L, idx, name);
  int v = lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (t != LUA_TNIL && t != LUA_TBOOLEAN)
    vr_error_raise_for(L, "usage", NULL, "migration_model.estimate: %s must be a boolean", name);
  return v;
}

/* migration_model.estimate{memory=, working_set=, dirty_rate=, local_disk=, block=, vfio=,
 *   bandwidth=, bandwidth_per_migration=, completion_timeout_per_gib=, progress_timeout=,
 *   allow_auto_converge=, allow_post_copy=, allow_workload_disruption=, downtime_ms=}
 *   -> {seconds, outcome, reason, converges, passes, downtime, timeout}
 * One migration from the moment it runs, at a constant link bandwidth (bytes/s) of which
 * bandwidth_per_migration (bytes/s, 0: none) caps its share. memory, working_set (default a
 * quarter of memory), local_disk: bytes; dirty_rate: bytes/s; timeouts: seconds (0 disables).
 * outcome is "completed", "failed" (reason: KubeVirt's) or "never" (seconds = math.huge);
 * converges says whether pre-copy alone gets there, passes and downtime (s) how. Raises kind
 * "usage" for a missing memory or bandwidth, a field of the wrong type, and inputs the model
 * refuses (a downtime limit above 2,000,000 ms). */
static int l_estimate(lua_State *L) {
  vr_mig_inputs in;
  vr_mig_state st;
  vr_mig_status status;
  vr_mig_plan plan;
  vr_mig_result outcome = VR_MIG_RUNNING;
  double bandwidth, seconds, memory;
  int awd;
  luaL_checktype(L, 1, LUA_TTABLE);
  memset(&in, 0, sizeof in);
  memory = number_field(L, 1, "memory", -1);
  bandwidth = number_field(L, 1, "bandwidth", -1);
  if (memory < 0 || bandwidth < 0)
    return vr_error_raise_for(L, "usage", NULL,
                              "migration_model.estimate: memory and bandwidth are needed");
  /* byte counts become 64-bit integers: keep them where the conversion is defined */
  if (memory > MAX_BYTES || number_field(L, 1, "working_set", 0) > MAX_BYTES ||
      number_field(L, 1, "local_disk", 0) > MAX_BYTES ||
      number_field(L, 1, "bandwidth_per_migration", 0) > MAX_BYTES ||
      number_field(L, 1, "completion_timeout_per_gib", 0) > MAX_BYTES ||
      number_field(L, 1, "progress_timeout", 0) > MAX_BYTES)
    return vr_error_raise_for(L, "usage", NULL,
                              "migration_model.estimate: a size or timeout above 2^60");
  in.memory_bytes = (uint64_t)memory;
  in.working_set_bytes = (uint64_t)number_field(L, 1, "working_set", memory / 4);
  in.dirty_rate = number_field(L, 1, "dirty_rate", 0);
  in.local_disk_bytes = (uint64_t)number_field(L, 1, "local_disk", 0);
  in.block_migration = bool_field(L, 1, "block");
  in.vfio = bool_field(L, 1, "vfio");
  in.downtime_limit_ms = (uint32_t)number_field(L, 1, "downtime_ms", 0);
  in.config.bandwidth_per_migration = (uint64_t)number_field(L, 1, "bandwidth_per_migration", 0);
  in.config.completion_timeout_per_gib =
      (int64_t)number_field(L, 1, "completion_timeout_per_gib", 150);
  in.config.progress_timeout = (int64_t)number_field(L, 1, "progress_timeout", 150);
  in.config.allow_auto_converge = bool_field(L, 1, "allow_auto_converge");
  in.config.allow_post_copy = bool_field(L, 1, "allow_post_copy");
  lua_getfield(L, 1, "allow_workload_disruption");
  awd = lua_isnil(L, -1) ? -1 : lua_toboolean(L, -1);
  lua_pop(L, 1);
  in.config.allow_workload_disruption = vr_mig_resolve_awd(awd, in.config.allow_post_copy);
  if (number_field(L, 1, "downtime_ms", 0) > VR_MIG_MAX_DOWNTIME_MS || vr_mig_init(&st, &in) != 0 ||
      vr_mig_estimate(&in, bandwidth, &plan) != 0)
    return vr_error_raise_for(L, "usage", NULL,
                              "migration_model.estimate: the model refuses these inputs");
  seconds = vr_mig_eta(&st, bandwidth, &outcome);
  lua_createtable(L, 0, 7);
  lua_pushnumber(L, seconds < 0 ? HUGE_VAL : seconds);
  lua_setfield(L, -2, "seconds");
  lua_pushstring(L, outcome == VR_MIG_COMPLETED ? "completed"
                    : outcome == VR_MIG_FAILED  ? "failed"
                                                : "never");
  lua_setfield(L, -2, "outcome");
  if (outcome == VR_MIG_FAILED) {
    /* the state at the end says why: run it there */
    vr_mig_advance(&st, seconds, bandwidth);
    vr_mig_get_status(&st, &status);
    if (status.failure_reason != NULL) {
      lua_pushstring(L, status.failure_reason);
      lua_setfield(L, -2, "reason");
    }
  }
  lua_pushboolean(L, plan.converges);
  lua_setfield(L, -2, "converges");
  lua_pushinteger(L, (lua_Integer)plan.passes);
  lua_setfield(L, -2, "passes");
  lua_pushnumber(L, plan.downtime_s);
  lua_setfield(L, -2, "downtime");
  lua_pushnumber(L, plan.timeout_s);
  lua_setfield(L, -2, "timeout");
  return 1;
}

static const luaL_Reg migration_model_funcs[] = {
    {"estimate", l_estimate},
    {NULL, NULL},
};

int luaopen_vmrun_migration_model(lua_State *L) {
  luaL_newlib(L, migration_model_funcs);
  return 1;
}
