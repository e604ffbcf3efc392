/* queue_core.c: vmrun.queue.core, the Lua face of the migration queue's decision core
 * (runtime/migqueue.h) for stdlib-lua/vmrun/queue.lua, which talks to the cluster. Nodes and
 * items are 1-based integers here (0-based in C). No I/O; raises kind "usage" on bad arguments. */
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "bindings.h"
#include "errors.h"
#include "migqueue.h"

#define QUEUE_CORE_MT "vmrun.QueueCore"

typedef struct queue_box {
  vr_mq *q;
  int nodes;
  int *counts; /* set_foreign's outbound and inbound counts, 2 x (nodes + 1), reused per call */
} queue_box;

static queue_box *check_box(lua_State *L) {
  queue_box *b = luaL_checkudata(L, 1, QUEUE_CORE_MT);
  if (b->q == NULL) luaL_error(L, "queue core: already freed");
  return b;
}

static int field_int(lua_State *L, int idx, const char *name, int dflt) {
  int isnum;
  lua_Integer v;
  lua_getfield(L, idx, name);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return dflt;
  }
  v = lua_tointegerx(L, -1, &isnum);
  if (!isnum || v < -1000000000 || v > 1000000000)
    vr_error_raise(L, "usage", "queue: %s must be an integer", name);
  lua_pop(L, 1);
  return (int)v;
}

static double field_number(lua_State *L, int idx, const char *name, double dflt) {
  double v;
  lua_getfield(L, idx, name);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return dflt;
  }
  if (lua_type(L, -1) != LUA_TNUMBER)
    vr_error_raise(L, "usage", "queue: %s must be a number", name);
  v = lua_tonumber(L, -1);
  lua_pop(L, 1);
  return v;
}

static int check_node(lua_State *L, const queue_box *b, int idx) {
  lua_Integer n = luaL_checkinteger(L, idx);
  if (n < 1 || n > b->nodes)
    vr_error_raise(L, "usage", "queue: node %d is not between 1 and %d", (int)n, b->nodes);
  return (int)n - 1;
}

static int check_item(lua_State *L, queue_box *b, int idx) {
  lua_Integer i = luaL_checkinteger(L, idx);
  if (i < 1 || i > vr_mq_item_count(b->q))
    vr_error_raise(L, "usage", "queue: item %d does not exist", (int)i);
  return (int)i - 1;
}

static void read_limits(lua_State *L, int idx, vr_mq_limits *limits) {
  luaL_checktype(L, idx, LUA_TTABLE);
  limits->cluster = field_int(L, idx, "cluster", 5);
  limits->outbound_per_node = field_int(L, idx, "outbound_per_node", 2);
  limits->inbound_per_node = field_int(L, idx, "inbound_per_node", 2);
}

/* core.new(node_count, {cluster=, outbound_per_node=, inbound_per_node=}) -> QueueCore
 * Raises kind "usage" for limits out of range (cluster and outbound >= 1, inbound >= 0). */
static int l_new(lua_State *L) {
  lua_Integer nodes = luaL_checkinteger(L, 1);
  vr_mq_limits limits;
  queue_box *b;
  if (nodes < 0 || nodes > 1000000) return vr_error_raise(L, "usage", "queue: bad node count");
  read_limits(L, 2, &limits);
  b = lua_newuserdatauv(L, sizeof *b, 0);
  b->q = NULL;
  b->counts = NULL;
  b->nodes = (int)nodes;
  luaL_setmetatable(L, QUEUE_CORE_MT);
  b->q = vr_mq_new((int)nodes, &limits);
  if (b->q == NULL)
    return vr_error_raise(L, "usage",
                          "queue: limits out of range (cluster %d, outbound %d, inbound %d)",
                          limits.cluster, limits.outbound_per_node, limits.inbound_per_node);
  b->counts = calloc(2 * ((size_t)nodes + 1), sizeof *b->counts);
  if (b->counts == NULL) return luaL_error(L, "queue: out of memory");
  return 1;
}

static int l_gc(lua_State *L) {
  queue_box *b = luaL_checkudata(L, 1, QUEUE_CORE_MT);
  vr_mq_free(b->q);
  b->q = NULL;
  free(b->counts);
  b->counts = NULL;
  return 0;
}

/* q:set_retry{max_attempts=, budget=, backoff=, max_backoff=}; raises kind "usage" out of range */
static int l_set_retry(lua_State *L) {
  queue_box *b = check_box(L);
  vr_mq_retry r;
  luaL_checktype(L, 2, LUA_TTABLE);
  r.max_attempts = field_int(L, 2, "max_attempts", 3);
  r.budget = field_int(L, 2, "budget", 10);
  r.backoff_s = field_number(L, 2, "backoff", 20);
  r.max_backoff_s = field_number(L, 2, "max_backoff", 300);
  if (vr_mq_set_retry(b->q, &r) != 0)
    return vr_error_raise(L, "usage", "queue: bad retry settings");
  return 0;
}

/* q:set_target(node, eligible, preference, free_memory, free_cpu_millis) (-1: not checked) */
static int l_set_target(lua_State *L) {
  queue_box *b = check_box(L);
  int node = check_node(L, b, 2);
  vr_mq_set_target(b->q, node, lua_toboolean(L, 3), (int)luaL_optinteger(L, 4, 0),
                   (int64_t)luaL_optinteger(L, 5, -1), (int64_t)luaL_optinteger(L, 6, -1));
  return 0;
}

/* q:add{source=, estimate=, priority=, memory=, cpu=, targets={node...}} -> item
 * Raises kind "usage" for a bad item (source or target out of range, estimate not > 0). */
static int l_add(lua_State *L) {
  queue_box *b = check_box(L);
  vr_mq_item_spec spec;
  int *targets = NULL, id;
  luaL_checktype(L, 2, LUA_TTABLE);
  memset(&spec, 0, sizeof spec);
  spec.source = field_int(L, 2, "source", 0) - 1;
  spec.estimate_s = field_number(L, 2, "estimate", 0);
  spec.priority = field_int(L, 2, "priority", 0);
  spec.memory_bytes = (int64_t)field_number(L, 2, "memory", 0);
  spec.cpu_millis = (int64_t)field_number(L, 2, "cpu", 0);
  if (lua_getfield(L, 2, "targets") == LUA_TTABLE) {
    size_t n = lua_rawlen(L, -1);
    targets = lua_newuserdatauv(L, (n + 1) * sizeof *targets, 0); /* freed by the GC */
    for (size_t i = 0; i < n; i++) {
      lua_rawgeti(L, -2, (lua_Integer)i + 1);
      targets[i] = (int)lua_tointeger(L, -1) - 1;
      lua_pop(L, 1);
    }
    spec.targets = targets;
    spec.target_count = (int)n;
  }
  id = vr_mq_add(b->q, &spec);
  if (id < 0) return vr_error_raise(L, "usage", "queue: bad item (source, estimate or targets)");
  lua_pushinteger(L, id + 1);
  return 1;
}

/* Reads {[node index] = count} at idx (absent: 0; a table may hold only the nodes that have
 * some) into counts[0..nodes-1]; other keys are ignored. */
static void read_counts(lua_State *L, int idx, int *counts, int nodes) {
  if (!lua_istable(L, idx)) return;
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    if (lua_isinteger(L, -2)) {
      lua_Integer n = lua_tointeger(L, -2);
      if (n >= 1 && n <= nodes) counts[n - 1] = (int)lua_tointeger(L, -1);
    }
    lua_pop(L, 1);
  }
}

/* q:set_foreign(total, {[node] = outbound}, {[node] = inbound})
 * The migrations of others that hold slots: in total, and per node index (nodes without any may
 * be left out). */
static int l_set_foreign(lua_State *L) {
  queue_box *b = check_box(L);
  int total = (int)luaL_checkinteger(L, 2);
  int *out = b->counts, *in = b->counts + b->nodes + 1; /* owned by the box */
  memset(b->counts, 0, 2 * ((size_t)b->nodes + 1) * sizeof *b->counts);
  read_counts(L, 3, out, b->nodes);
  read_counts(L, 4, in, b->nodes);
  vr_mq_set_foreign(b->q, total, out, in);
  return 0;
}

/* q:next(now) -> item, target | nil  (target nil: the cluster chooses) */
static int l_next(lua_State *L) {
  queue_box *b = check_box(L);
  vr_mq_start st;
  if (!vr_mq_next(b->q, luaL_checknumber(L, 2), &st)) return 0;
  lua_pushinteger(L, st.item + 1);
  if (st.target >= 0)
    lua_pushinteger(L, st.target + 1);
  else
    lua_pushnil(L);
  return 2;
}

static const char *const state_names[] = {"waiting", "running", "done", "failed", "cancelled"};

/* q:finish(item, now, succeeded) -> state name | nil (not running) */
static int l_finish(lua_State *L) {
  queue_box *b = check_box(L);
  int item = check_item(L, b, 2);
  int state = vr_mq_finish(b->q, item, luaL_checknumber(L, 3), lua_toboolean(L, 4));
  if (state < 0) return 0;
  lua_pushstring(L, state_names[state]);
  return 1;
}

/* q:cancel(item) -> boolean (false: it was not waiting) */
static int l_cancel(lua_State *L) {
  queue_box *b = check_box(L);
  lua_pushboolean(L, vr_mq_cancel(b->q, check_item(L, b, 2)) == 0);
  return 1;
}

/* q:item(i) -> {state, attempts, target, started, ready_at} */
static int l_item(lua_State *L) {
  queue_box *b = check_box(L);
  int i = check_item(L, b, 2), target = vr_mq_item_target(b->q, i);
  lua_createtable(L, 0, 5);
  lua_pushstring(L, state_names[vr_mq_item_state(b->q, i)]);
  lua_setfield(L, -2, "state");
  lua_pushinteger(L, vr_mq_item_attempts(b->q, i));
  lua_setfield(L, -2, "attempts");
  if (target >= 0) {
    lua_pushinteger(L, target + 1);
    lua_setfield(L, -2, "target");
  }
  lua_pushnumber(L, vr_mq_item_started(b->q, i));
  lua_setfield(L, -2, "started");
  lua_pushnumber(L, vr_mq_item_ready_at(b->q, i));
  lua_setfield(L, -2, "ready_at");
  return 1;
}

/* q:could_start(now) -> boolean
 * false when q:next(now) cannot start anything whatever the foreign migrations and the targets'
 * room (the queue's own running items fill its limits, or nothing waits): the caller need not
 * count the foreign migrations first. Raises a Lua error when now is not a number. */
static int l_could_start(lua_State *L) {
  queue_box *b = check_box(L);
  lua_pushboolean(L, vr_mq_could_start(b->q, luaL_checknumber(L, 2)));
  return 1;
}

/* q:next_ready(now) -> time | nil */
static int l_next_ready(lua_State *L) {
  queue_box *b = check_box(L);
  double t = vr_mq_next_ready(b->q, luaL_checknumber(L, 2));
  if (t < 0) return 0;
  lua_pushnumber(L, t);
  return 1;
}

/* q:simulate(now [, foreign_remaining [, quick]]) -> end_time, {item end times} | nil, stuck_item
 * quick: without the look-ahead (an estimate for an ETA, cheaper with many items). */
static int l_simulate(lua_State *L) {
  queue_box *b = check_box(L);
  int n = vr_mq_item_count(b->q), stuck = -1;
  double *ends = lua_newuserdatauv(L, ((size_t)n + 1) * sizeof *ends, 0);
  double now = luaL_checknumber(L, 2), foreign = luaL_optnumber(L, 3, 0);
  double end = lua_toboolean(L, 4) ? vr_mq_simulate_quick(b->q, now, foreign, ends, &stuck)
                                   : vr_mq_simulate(b->q, now, foreign, ends, &stuck);
  if (end < 0) {
    lua_pushnil(L);
    if (stuck >= 0)
      lua_pushinteger(L, stuck + 1);
    else
      lua_pushnil(L);
    return 2;
  }
  lua_pushnumber(L, end);
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    lua_pushnumber(L, ends[i]);
    lua_rawseti(L, -2, i + 1);
  }
  return 2;
}

static const luaL_Reg queue_core_methods[] = {
    {"set_retry", l_set_retry},
    {"set_target", l_set_target},
    {"add", l_add},
    {"set_foreign", l_set_foreign},
    {"next", l_next},
    {"finish", l_finish},
    {"cancel", l_cancel},
    {"item", l_item},
    {"next_ready", l_next_ready},
    {"could_start", l_could_start},
    {"simulate", l_simulate},
    {NULL, NULL},
};

static const luaL_Reg queue_core_funcs[] = {
    {"new", l_new},
    {NULL, NULL},
};

int luaopen_vmrun_queue_core(lua_State *L) {
  if (luaL_newmetatable(L, QUEUE_CORE_MT)) {
    luaL_newlib(L, queue_core_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  luaL_newlib(L, queue_core_funcs);
  return 1;
}
