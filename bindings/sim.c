/* sim.c: the `sim` module (vmrun.sim): the simulated cluster of this run: load a cluster file,
 * read the simulated clock. Also owns the run's vr_sim (runtime/sim.h) for the other bindings
 * (vr_lua_sim), and builds it from a real cluster's copy for vmrun --rehearse
 * (vr_lua_sim_rehearse, whose reading goes through cluster_remote.c and closes the connection
 * before the playbook runs). Glue only. */
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bindings.h"
#include "errors.h"
#include "log.h"
#include "scheduler.h"
#include "sim.h"
#include "store.h"

#define SIM_BOX_MT "vmrun.sim.Box"

static const char sim_key = 's';
static const char rehearsal_key = 'h'; /* true: the sim is a rehearsal's copy of a real cluster */

typedef struct sim_box {
  vr_sim *sim;
} sim_box;

static int box_gc(lua_State *L) {
  sim_box *b = luaL_checkudata(L, 1, SIM_BOX_MT);
  vr_sim_free(b->sim);
  b->sim = NULL;
  return 0;
}

static int load_cluster(lua_State *L, const char *path);
static void push_box_mt(lua_State *L);

/* Loads path as the run's cluster (the host's --cluster, or the default cluster on first use)
 * and logs what it holds: "simulating <what> <path> (15 nodes, 80 VMs, 31 pods)". Raises as
 * sim.load. */
void vr_lua_sim_load(lua_State *L, const char *path, const char *what) {
  lua_Integer nodes, vms, pods;
  load_cluster(L, path);
  lua_getfield(L, -1, "Node");
  lua_getfield(L, -2, "VirtualMachine");
  lua_getfield(L, -3, "Pod");
  nodes = lua_tointeger(L, -3), vms = lua_tointeger(L, -2), pods = lua_tointeger(L, -1);
  lua_pop(L, 4);
  vr_logf(vr_log_of(L), VR_LOG_INFO, "simulating %s %s (%lld nodes, %lld VMs, %lld pods)%s", what,
          path, (long long)nodes, (long long)vms, (long long)pods,
          strcmp(what, "the demo cluster") == 0 ? "; name another with --cluster FILE" : "");
}

vr_sim *vr_lua_sim(lua_State *L, int require_loaded) {
  sim_box *b;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &sim_key);
  b = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if ((b == NULL || b->sim == NULL) && require_loaded) {
    /* a playbook run without a cluster: the default (demo) cluster, on first use */
    if (lua_getfield(L, LUA_REGISTRYINDEX, VR_DEFAULT_CLUSTER_KEY) == LUA_TSTRING) {
      char path[4096];
      snprintf(path, sizeof path, "%s", lua_tostring(L, -1));
      lua_pop(L, 1);
      lua_pushnil(L);
      lua_setfield(L, LUA_REGISTRYINDEX, VR_DEFAULT_CLUSTER_KEY); /* once */
      vr_lua_sim_load(L, path, "the demo cluster");
      lua_rawgetp(L, LUA_REGISTRYINDEX, &sim_key);
      b = lua_touserdata(L, -1);
    }
    lua_pop(L, 1);
  }
  if ((b == NULL || b->sim == NULL) && require_loaded && vr_lua_remote_active(L)) {
    vr_error_raise(L, "usage", "this run acts on a real cluster: the simulator is not loaded");
  }
  if ((b == NULL || b->sim == NULL) && require_loaded) {
    vr_error_raise(L, "usage",
                   "no cluster is loaded: call sim.load(\"cluster.yaml\") with a Kubernetes YAML "
                   "file (a multi-document manifest or the List that kubectl get -o yaml prints)");
  }
  return b ? b->sim : NULL;
}

/* Pushes the error of a store operation as a vmrun.Error (kind from the status). */
void vr_push_store_error(lua_State *L, const vr_store_error *err, const char *resource) {
  const char *kind;
  switch (err->status) {
  case 404:
    kind = "not_found";
    break;
  case 409:
    kind = strcmp(err->reason, "AlreadyExists") == 0 ? "already_exists" : "conflict";
    break;
  case 410:
    kind = "expired";
    break;
  case 429:
    kind = "too_many_requests";
    break;
  case 403:
    kind = "forbidden";
    break;
  case 401:
    kind = "unauthorized";
    break;
  case 503:
    kind = "unavailable"; /* no answer from the API server, or it said it cannot serve */
    break;
  case 400:
  case 422:
    kind = "input";
    break;
  default:
    kind = "internal";
    break;
  }
  luaL_where(L, 1);
  vr_error_push(L, kind, "%s%s", lua_tostring(L, -1), err->message);
  lua_remove(L, -2);
  vr_error_set_integer(L, "status", err->status);
  vr_error_set_string(L, "reason", err->reason);
  if (resource) vr_error_set_string(L, "resource", resource);
}

/* sim.load(path) -> {kinds...}: loads a cluster file (Kubernetes YAML: multi-document or a List)
 * as this run's simulated cluster and returns how many objects of each kind it holds
 * ({Node = 12, Pod = 140, ...}). Raises vmrun.Error kind "input" naming the file and line on a
 * malformed file or object (exit code 2 when unhandled), "usage" when a cluster is already
 * loaded. */
static int l_sim_load(lua_State *L) {
  return load_cluster(L, luaL_checkstring(L, 1));
}

/* sim.load's work: loads path, pushes the counts; raises on a bad file or a loaded cluster. */
static int load_cluster(lua_State *L, const char *path) {
  vr_sched *s = vr_sched_of(L);
  vr_store_error err;
  sim_box *b;
  vr_sim *sim;
  const char *kinds[] = {"Node",
                         "Pod",
                         "VirtualMachine",
                         "VirtualMachineInstance",
                         "PersistentVolumeClaim",
                         "PodDisruptionBudget",
                         NULL};
  const char *groups[] = {"", "", "kubevirt.io", "kubevirt.io", "", "policy", NULL};
  int i;
  if (vr_lua_remote_active(L)) {
    return vr_error_raise(L, "usage",
                          "sim.load: this run acts on a real cluster (--kubeconfig, "
                          "--context or --in-cluster); it cannot also simulate one");
  }
  if (vr_lua_sim(L, 0) != NULL) {
    return vr_error_raise(L, "usage", "sim.load: a cluster is already loaded (%s)",
                          vr_sim_source(vr_lua_sim(L, 0)));
  }
  if (s == NULL) return luaL_error(L, "sim.load: no scheduler in this Lua state");
  b = lua_newuserdatauv(L, sizeof *b, 0);
  b->sim = NULL;
  push_box_mt(L);
  lua_setmetatable(L, -2);
  sim = vr_sim_new(vr_sched_clock(s), 1);
  if (sim == NULL) return luaL_error(L, "sim.load: out of memory");
  if (vr_sim_load_file(sim, path, &err) != 0) {
    vr_sim_free(sim);
    vr_push_store_error(L, &err, path);
    return lua_error(L);
  }
  b->sim = sim;
  lua_rawsetp(L, LUA_REGISTRYINDEX, &sim_key);
  lua_newtable(L);
  for (i = 0; kinds[i]; i++) {
    const cJSON **items;
    size_t n = vr_store_list(vr_sim_store(sim), groups[i], kinds[i], NULL, NULL, &items);
    if (n == (size_t)-1) return luaL_error(L, "sim.load: out of memory");
    free((void *)items);
    lua_pushinteger(L, (lua_Integer)n);
    lua_setfield(L, -2, kinds[i]);
  }
  return 1;
}

/* vr_lua_sim_rehearse(options lightuserdata): see bindings.h. */
int vr_lua_sim_rehearse(lua_State *L) {
  vr_remote_options *opt = lua_touserdata(L, 1);
  vr_sched *s = vr_sched_of(L);
  vr_store_error err;
  char cluster[256], server[1024], when[40], source[1400];
  cJSON *objects = NULL;
  const cJSON **items;
  size_t counts[4], i;
  static const char *const counted[][2] = {{"", "Node"},
                                           {"kubevirt.io", "VirtualMachine"},
                                           {"", "Pod"},
                                           {"kubevirt.io", "VirtualMachineInstanceMigration"}};
  sim_box *b;
  vr_sim *sim;
  if (s == NULL) return luaL_error(L, "no scheduler in this Lua state");
  lua_pushcfunction(L, vr_lua_remote_connect);
  lua_pushlightuserdata(L, opt);
  lua_call(L, 1, 0);
  b = lua_newuserdatauv(L, sizeof *b, 0); /* before the copy exists, which nothing then leaks */
  b->sim = NULL;
  push_box_mt(L);
  lua_setmetatable(L, -2);
  vr_lua_remote_take(L, vr_sim_kinds, &objects, cluster, sizeof cluster, server, sizeof server);
  vr_clock_format(vr_clock_now(vr_sched_clock(s)), when, sizeof when);
  snprintf(source, sizeof source, "rehearsal of cluster '%s' (%s) as read at %s", cluster, server,
           when);
  sim = vr_sim_new(vr_sched_clock(s), opt->seed);
  if (sim == NULL) {
    cJSON_Delete(objects);
    return luaL_error(L, "out of memory");
  }
  if (vr_sim_load_objects(sim, objects, source, &err) != 0) { /* (objects taken over) */
    vr_sim_free(sim);
    vr_push_store_error(L, &err, NULL);
    return lua_error(L);
  }
  b->sim = sim;
  lua_rawsetp(L, LUA_REGISTRYINDEX, &sim_key);
  lua_pushboolean(L, 1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &rehearsal_key);
  for (i = 0; i < 4; i++) {
    size_t n =
        i == 3 ? vr_store_list_unfinished(vr_sim_store(sim), counted[i][0], counted[i][1], NULL,
                                          &items)
               : vr_store_list(vr_sim_store(sim), counted[i][0], counted[i][1], NULL, NULL, &items);
    counts[i] = n == (size_t)-1 ? 0 : n;
    if (n != (size_t)-1) free((void *)items);
  }
  vr_logf(vr_log_of(L), VR_LOG_INFO,
          "rehearsing on a copy of cluster '%s' read at %s (%zu nodes, %zu VMs, %zu pods, %zu "
          "migrations in flight): the connection is closed, nothing the playbook does reaches "
          "the cluster",
          cluster, when, counts[0], counts[1], counts[2], counts[3]);
  return 0;
}

/* sim.clock() -> number: the simulated time in seconds since the epoch (the run's clock). */
static int l_sim_clock(lua_State *L) {
  vr_sched *s = vr_sched_of(L);
  if (s == NULL) return luaL_error(L, "sim.clock: no clock in this Lua state");
  lua_pushnumber(L, (double)vr_clock_now(vr_sched_clock(s)) / 1000.0);
  return 1;
}

/* sim.rehearsal() -> boolean: true when the simulated cluster is a rehearsal's copy of a real
 * one (vmrun --rehearse), whose host commands would still reach the real machines. Never raises. */
static int l_sim_rehearsal(lua_State *L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &rehearsal_key);
  lua_pushboolean(L, lua_toboolean(L, -1));
  return 1;
}

/* sim.source() -> string|nil: the path of the loaded cluster file ("rehearsal of cluster 'NAME'
 * (URL) as read at TIME" in a rehearsal; "vmrun serve at URL (FILE)" through the REST backend),
 * nil before sim.load. Never raises. */
static int l_sim_source(lua_State *L) {
  vr_sim *sim;
  if (vr_lua_remote_active(L)) { /* a vmrun serve through the REST backend: its cluster */
    const char *served = vr_lua_remote_sim_source(L);
    if (served == NULL) return 0;
    lua_pushstring(L, served);
    return 1;
  }
  sim = vr_lua_sim(L, 0);
  if (sim == NULL) return 0;
  lua_pushstring(L, vr_sim_source(sim));
  return 1;
}

/* sim.reboot(node) -> true
 * Reboots a simulated node: NotReady at once, its VMs are lost (their VMIs fail; run strategies
 * restart them elsewhere), Ready again with a new status.nodeInfo.bootID after the node's
 * sim.vmrun.io/reboot-seconds (default 300). Raises kind "not_found" for an unknown node,
 * "usage" when no cluster is loaded. */
static int l_sim_reboot(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  vr_sim *sim;
  vr_store_error err;
  char resource[300];
  if (vr_lua_remote_active(L)) return vr_lua_remote_sim_reboot(L, name);
  sim = vr_lua_sim(L, 1);
  if (vr_sim_reboot_node(sim, name, &err) != 0) {
    snprintf(resource, sizeof resource, "Node %s", name);
    vr_push_store_error(L, &err, resource);
    return lua_error(L);
  }
  lua_pushboolean(L, 1);
  return 1;
}

static const luaL_Reg sim_funcs[] = {
    {"load", l_sim_load},     {"clock", l_sim_clock},         {"source", l_sim_source},
    {"reboot", l_sim_reboot}, {"rehearsal", l_sim_rehearsal}, {NULL, NULL},
};

/* The box's metatable (with __gc, which frees the simulator); created on first need, because a
 * cluster may be loaded (--cluster, the default cluster) before anything opens vmrun.sim. */
static void push_box_mt(lua_State *L) {
  if (luaL_newmetatable(L, SIM_BOX_MT)) {
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
  }
}

int luaopen_vmrun_sim(lua_State *L) {
  push_box_mt(L);
  lua_pop(L, 1);
  luaL_newlib(L, sim_funcs);
  return 1;
}
