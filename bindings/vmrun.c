/* vmrun.c: the `vmrun` module: version, the null sentinel, structured errors, deliberate
 * globals, exit and runtime statistics. Glue over runtime/errors.h, luaval.h and sched.h. */
#include <lauxlib.h>
#include <string.h>

#include "bindings.h"
#include "errors.h"
#include "luaval.h"
#include "scheduler.h"
#include "vmrun.h"

/* vmrun.error(kind, message [, fields]) -- raises a vmrun.Error {kind=, message=, ...fields}.
 * The message gets the caller's file:line, or that of the function `fields.level` levels up
 * (1: the caller; a library function passes 2 to name its own caller); level is not copied.
 * Raises a usage error on bad arguments. */
static int l_vmrun_error(lua_State *L) {
  const char *kind = luaL_checkstring(L, 1);
  const char *message = luaL_checkstring(L, 2);
  lua_Integer level = 1;
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    if (lua_getfield(L, 3, "level") != LUA_TNIL) {
      int ok;
      level = lua_tointegerx(L, -1, &ok);
      if (!ok || level < 1 || level > 100) luaL_argerror(L, 3, "fields.level must be 1 to 100");
    }
    lua_pop(L, 1);
  }
  luaL_where(L, (int)level);
  vr_error_push(L, kind, "%s%s", lua_tostring(L, -1), message);
  if (lua_istable(L, 3)) {
    lua_pushnil(L);
    while (lua_next(L, 3) != 0) {
      if (lua_type(L, -2) == LUA_TSTRING && strcmp(lua_tostring(L, -2), "kind") != 0 &&
          strcmp(lua_tostring(L, -2), "message") != 0 &&
          strcmp(lua_tostring(L, -2), "level") != 0) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -4);
      } else {
        lua_pop(L, 1);
      }
    }
  }
  return lua_error(L);
}

/* vmrun.is_error(v [, kind]) -> boolean: v is a vmrun.Error (of that kind). */
static int l_vmrun_is_error(lua_State *L) {
  const char *kind = vr_error_kind(L, 1);
  const char *want = luaL_optstring(L, 2, NULL);
  lua_pushboolean(L, kind != NULL && (want == NULL || strcmp(kind, want) == 0));
  return 1;
}

/* vmrun.global(name, value) -- defines a global on purpose (no new-global warning). */
static int l_vmrun_global(lua_State *L) {
  luaL_checkstring(L, 1);
  lua_settop(L, 2);
  lua_pushglobaltable(L);
  lua_insert(L, 1);
  lua_rawset(L, 1);
  return 0;
}

/* vmrun.exit([code]) -- ends the run with code (default 0) after cancelling every task and
 * running their cleanup; same as os.exit. Does not return. */
static int l_vmrun_exit(lua_State *L) {
  lua_Integer code = luaL_optinteger(L, 1, 0);
  vr_error_push(L, "exit", "vmrun.exit(%d)", (int)code);
  vr_error_set_integer(L, "status", code);
  return lua_error(L);
}

/* vmrun.stats() -> {tasks=, waiting=, timers=, real_pending=, memory_kb=}
 * Live tasks, waiting tasks, pending clock timers, real I/O in flight, Lua heap size. */
static int l_vmrun_stats(lua_State *L) {
  vr_sched *s = vr_sched_of(L);
  vr_sched_stats st;
  memset(&st, 0, sizeof st);
  if (s) vr_sched_stats_get(s, &st);
  lua_createtable(L, 0, 5);
  lua_pushinteger(L, st.tasks);
  lua_setfield(L, -2, "tasks");
  lua_pushinteger(L, st.waiting);
  lua_setfield(L, -2, "waiting");
  lua_pushinteger(L, (lua_Integer)st.timers);
  lua_setfield(L, -2, "timers");
  lua_pushinteger(L, st.real_pending);
  lua_setfield(L, -2, "real_pending");
  lua_pushinteger(L, lua_gc(L, LUA_GCCOUNT, 0));
  lua_setfield(L, -2, "memory_kb");
  return 1;
}

#define WITHOUT_NULLS_DEPTH 200

static const char drop_marker = 'd'; /* a lightuserdata: "leave this key out" */

/* Pushes the value at idx without its nulls; returns 1 when that is a new table, 0 when it is the
 * value itself (it holds no null). Raises past WITHOUT_NULLS_DEPTH nested tables. */
static int push_without_nulls(lua_State *L, int idx, int depth) {
  int changes_at, have = 0;
  idx = lua_absindex(L, idx);
  if (lua_type(L, idx) != LUA_TTABLE) {
    lua_pushvalue(L, idx);
    return 0;
  }
  if (depth > WITHOUT_NULLS_DEPTH)
    return vr_error_raise(L, "usage", "vmrun.without_nulls: tables nested deeper than %d",
                          WITHOUT_NULLS_DEPTH);
  luaL_checkstack(L, 8, "vmrun.without_nulls");
  lua_pushnil(L); /* the slot of the changes: key -> replacement, or the drop marker */
  changes_at = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) { /* key, value */
    if (vr_null_is(L, -1)) {
      lua_pop(L, 1);
      lua_pushlightuserdata(L, (void *)&drop_marker); /* key, marker */
    } else if (lua_type(L, -1) == LUA_TTABLE) {
      if (push_without_nulls(L, -1, depth + 1)) {
        lua_remove(L, -2); /* key, copy */
      } else {
        lua_pop(L, 2); /* key */
        continue;
      }
    } else {
      lua_pop(L, 1); /* key */
      continue;
    }
    if (!have) {
      lua_newtable(L);
      lua_replace(L, changes_at);
      have = 1;
    }
    lua_pushvalue(L, -2); /* key, replacement, key */
    lua_insert(L, -2);    /* key, key, replacement */
    lua_rawset(L, changes_at);
  }
  if (!have) {
    lua_pop(L, 1);
    lua_pushvalue(L, idx);
    return 0;
  }
  lua_newtable(L); /* changes, copy */
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) { /* key, value */
    lua_pushvalue(L, -2);
    lua_rawget(L, changes_at); /* key, value, change */
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
    } else if (lua_touserdata(L, -1) == (void *)&drop_marker) {
      lua_pop(L, 2);
      continue;
    } else {
      lua_remove(L, -2); /* key, change */
    }
    lua_pushvalue(L, -2);
    lua_insert(L, -2); /* key, key, value */
    lua_rawset(L, changes_at + 1);
  }
  if (vr_shape_get(L, idx) != VR_SHAPE_NONE) vr_shape_set(L, -1, vr_shape_get(L, idx));
  lua_remove(L, changes_at);
  return 1;
}

/* vmrun.without_nulls(value) -> value
 * The value without vmrun.null anywhere in it, so that optional fields read with `or`: the value
 * itself when it holds no null, else a copy of the tables on the way to each null, sharing the
 * others. Read the result, do not change it (it may be the value). Raises kind "usage" past 200
 * nested tables (a table that holds itself). */
static int l_vmrun_without_nulls(lua_State *L) {
  luaL_checkany(L, 1);
  lua_settop(L, 1);
  if (vr_null_is(L, 1)) {
    lua_pushnil(L);
    return 1;
  }
  push_without_nulls(L, 1, 0);
  return 1;
}

/* vmrun.stop_gracefully()
 * From now on the run's first SIGINT/SIGTERM (Ctrl-C, `vmrun abort`) only asks the playbook to
 * stop (vmrun.abort_requested says so), the second cancels every task, the third exits at once.
 * A playbook that calls it checks vmrun.abort_requested() between steps. Raises kind "usage"
 * outside a scheduler. */
static int l_vmrun_stop_gracefully(lua_State *L) {
  vr_sched *s = vr_sched_of(L);
  if (s == NULL) return vr_error_raise(L, "usage", "vmrun.stop_gracefully: no scheduler");
  vr_sched_set_abort(s);
  return 0;
}

/* vmrun.abort_requested() -> reason | nil
 * Why the run was asked to stop (an interrupt, vmrun.request_abort), or nil. Never fails. */
static int l_vmrun_abort_requested(lua_State *L) {
  vr_sched *s = vr_sched_of(L);
  const char *why = s ? vr_sched_abort_requested(s) : NULL;
  if (why == NULL) return 0;
  lua_pushstring(L, why);
  return 1;
}

/* vmrun.request_abort(reason)
 * Asks the run to stop as an interrupt would with vmrun.stop_gracefully (the first reason
 * stays). Raises kind "usage" for a reason that is not a string. */
static int l_vmrun_request_abort(lua_State *L) {
  vr_sched *s = vr_sched_of(L);
  const char *why = luaL_checkstring(L, 1);
  if (s == NULL) return vr_error_raise(L, "usage", "vmrun.request_abort: no scheduler");
  vr_sched_request_abort(s, why);
  return 0;
}

static const luaL_Reg vmrun_funcs[] = {
    {"error", l_vmrun_error},
    {"is_error", l_vmrun_is_error},
    {"global", l_vmrun_global},
    {"exit", l_vmrun_exit},
    {"stats", l_vmrun_stats},
    {"without_nulls", l_vmrun_without_nulls},
    {"stop_gracefully", l_vmrun_stop_gracefully},
    {"abort_requested", l_vmrun_abort_requested},
    {"request_abort", l_vmrun_request_abort},
    {NULL, NULL},
};

int luaopen_vmrun(lua_State *L) {
  luaL_newlib(L, vmrun_funcs);
  lua_pushstring(L, vr_version());
  lua_setfield(L, -2, "version");
  vr_null_push(L);
  lua_setfield(L, -2, "null");
  return 1;
}
