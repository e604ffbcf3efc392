/* time.c: the `time` module (vmrun.time): the run's clock (real or virtual) and durations.
 * Glue only over runtime/clock.h and runtime/args.h. */
#include <lauxlib.h>
#include <math.h>

#include "args.h"
#include "bindings.h"
#include "clock.h"
#include "scheduler.h"

static vr_clock *clock_of(lua_State *L) {
  vr_sched *s = vr_sched_of(L);
  if (s == NULL) luaL_error(L, "time: no clock in this Lua state");
  return vr_sched_clock(s);
}

/* time.now() -> number: seconds since the Unix epoch on the run's clock (millisecond steps).
 * Under virtual time this is simulated time. */
static int l_time_now(lua_State *L) {
  lua_pushnumber(L, (double)vr_clock_now(clock_of(L)) / 1000.0);
  return 1;
}

/* time.format([t]) -> "2026-11-25T17:20:00.000Z" (RFC 3339, UTC); t defaults to time.now().
 * Raises on a non-number. */
static int l_time_format(lua_State *L) {
  char buf[40];
  double t =
      lua_isnoneornil(L, 1) ? (double)vr_clock_now(clock_of(L)) / 1000.0 : luaL_checknumber(L, 1);
  if (!isfinite(t) || t < 0) return luaL_argerror(L, 1, "time must be >= 0");
  vr_clock_format((uint64_t)(t * 1000.0 + 0.5), buf, sizeof buf);
  lua_pushstring(L, buf);
  return 1;
}

/* time.duration(d) -> seconds: parses "90s", "20m", "2h", "1h30m", "500ms" or a number.
 * Raises with the caller's file:line on a bad duration. */
static int l_time_duration(lua_State *L) {
  lua_pushnumber(L, vr_check_duration(L, 1, "time.duration"));
  return 1;
}

/* time.is_virtual() -> boolean: true when the run uses the virtual (simulated) clock. */
static int l_time_is_virtual(lua_State *L) {
  lua_pushboolean(L, vr_clock_is_virtual(clock_of(L)));
  return 1;
}

static const luaL_Reg time_funcs[] = {
    {"now", l_time_now},
    {"format", l_time_format},
    {"duration", l_time_duration},
    {"is_virtual", l_time_is_virtual},
    {NULL, NULL},
};

int luaopen_vmrun_time(lua_State *L) {
  luaL_newlib(L, time_funcs);
  return 1;
}
