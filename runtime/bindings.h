/* bindings.h: the openers of the C modules in bindings/ (one file each). */
#ifndef VMRUN_BINDINGS_H
#define VMRUN_BINDINGS_H

#include <lua.h>

int luaopen_vmrun(lua_State *L);
int luaopen_vmrun_task(lua_State *L);
int luaopen_vmrun_time(lua_State *L);
int luaopen_vmrun_log(lua_State *L);
int luaopen_vmrun_json(lua_State *L);
int luaopen_vmrun_yaml(lua_State *L);
int luaopen_vmrun_exec(lua_State *L);
int luaopen_vmrun_sim(lua_State *L);
int luaopen_vmrun_cluster(lua_State *L);
int luaopen_vmrun_migconfig(lua_State *L);
int luaopen_vmrun_queue_core(lua_State *L);
int luaopen_vmrun_drain_core(lua_State *L);
int luaopen_vmrun_migration_model(lua_State *L);
int luaopen_vmrun_cbt_core(lua_State *L);
int luaopen_vmrun_cbt_tracker(lua_State *L);

/* Shared by the cluster bindings (bindings/sim.c). */
struct vr_sim;
struct vr_store_error;
/* The run's simulated cluster; NULL before sim.load, or raises a usage error when required. */
struct vr_sim *vr_lua_sim(lua_State *L, int require_loaded);
/* The registry field that holds the path of the cluster a playbook run simulates on its first
 * cluster access when none was loaded (the host's default cluster; unset in `vmrun test`). */
#define VR_DEFAULT_CLUSTER_KEY "vmrun.default_cluster"
void vr_lua_sim_load(lua_State *L, const char *path, const char *what);
/* Pushes a store error as a vmrun.Error (kind from the HTTP status, caller's file:line). */
void vr_push_store_error(lua_State *L, const struct vr_store_error *err, const char *resource);

#endif
