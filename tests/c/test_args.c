/* test_args.c: unit tests of runtime/args.c: vr_parse_duration and vr_parse_size over tables of
 * good and bad inputs, and the Lua-facing checks (vr_check_duration, vr_opt_duration,
 * vr_check_timeout_arg, vr_check_options) with their error text and the caller's file:line. */
#include "args.h"
#include "check.h"

#include <lauxlib.h>
#include <lualib.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct duration_case {
  const char *text;
  double seconds;
} duration_case;

static const duration_case good_durations[] = {
    {"90", 90},     {"90s", 90},       {"0", 0},        {"0s", 0},        {"1.5m", 90},
    {"20m", 1200},  {"2h", 7200},      {"1h30m", 5400}, {"1.5h", 5400},   {"500ms", 0.5},
    {"10ms", 0.01}, {"2d", 172800},    {"1m30s", 90},   {"1h1m1s", 3661}, {"1d2h", 93600},
    {".5s", 0.5},   {"2.", 2},         {"  5s  ", 5},   {"\t3m\n", 180},  {"1h30m15s500ms", 5415.5},
    {"0.25", 0.25}, {"36000s", 36000},
};

static const char *const bad_durations[] = {
    "",     "   ", "5x",  "1h30", "-3s",    "+3s",    "nan",     "inf",   "NaN",  "infs",  "s",
    "h1",   "1 h", "5 s", "1hh",  "1ms5",   "1.5.5s", "1h30m30", ".",     ".s",   "0x10s", "0x10",
    "1e3s", "1e3", "1E3", "m",    "1h 30m", "3y",     "1sec",    "1hour", "1,5h", "१s",
};

typedef struct size_case {
  const char *text;
  size_t bytes;
} size_case;

static const size_case good_sizes[] = {
    {"512", 512},
    {"0", 0},
    {"512K", 512u * 1024},
    {"512k", 512u * 1024},
    {"64M", 64u << 20},
    {"64m", 64u << 20},
    {"1G", (size_t)1 << 30},
    {"64MiB", 64u << 20},
    {"64MB", 64u << 20},
    {"64mb", 64u << 20},
    {"8KiB", 8192},
    {"1.5G", (size_t)3 << 29},
    {"1.5", 1},
    {" 2M", 2u << 20},
    {"100B", 100},
};

static const char *const bad_sizes[] = {
    "",    "abc",  "-1",   "+1",     "5x",   "1T", "64 M", "nan",   "inf",  "0x10",
    "1e3", "1e19", "64Mi", "64MiBx", "64iB", "M",  ".",    "1.2.3", "64M ", "99999999999G",
};

static void test_parse_duration(void) {
  size_t i;
  for (i = 0; i < sizeof good_durations / sizeof good_durations[0]; i++) {
    double secs = -1;
    int rc = vr_parse_duration(good_durations[i].text, &secs);
    if (rc != 0 || fabs(secs - good_durations[i].seconds) > 1e-9) {
      fprintf(stderr, "duration '%s': rc %d, %g s, expected %g s\n", good_durations[i].text, rc,
              secs, good_durations[i].seconds);
    }
    CHECK(rc == 0 && fabs(secs - good_durations[i].seconds) <= 1e-9);
  }
  for (i = 0; i < sizeof bad_durations / sizeof bad_durations[0]; i++) {
    double secs = -42;
    int rc = vr_parse_duration(bad_durations[i], &secs);
    if (rc != -1) fprintf(stderr, "duration '%s' accepted as %g s\n", bad_durations[i], secs);
    CHECK(rc == -1);
    CHECK(secs == -42); /* untouched on failure */
  }
  {
    double secs = 0;
    CHECK(vr_parse_duration("1e400s", &secs) == -1);
    /* a number of 64 characters or more is refused (no internal buffer overflows) */
    CHECK(vr_parse_duration("000000000000000000000000000000000000000000000000000000000000000000"
                            "0001s",
                            &secs) == -1);
    CHECK(vr_parse_duration("99999999999999999999999999999d", &secs) == 0 && secs > 1e30);
  }
}

static void test_parse_size(void) {
  size_t i;
  for (i = 0; i < sizeof good_sizes / sizeof good_sizes[0]; i++) {
    size_t bytes = 7;
    int rc = vr_parse_size(good_sizes[i].text, &bytes);
    if (rc != 0 || bytes != good_sizes[i].bytes) {
      fprintf(stderr, "size '%s': rc %d, %zu bytes, expected %zu\n", good_sizes[i].text, rc, bytes,
              good_sizes[i].bytes);
    }
    CHECK(rc == 0 && bytes == good_sizes[i].bytes);
  }
  for (i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++) {
    size_t bytes = 7;
    int rc = vr_parse_size(bad_sizes[i], &bytes);
    if (rc != -1) fprintf(stderr, "size '%s' accepted as %zu\n", bad_sizes[i], bytes);
    CHECK(rc == -1);
    CHECK(bytes == 7);
  }
}

/* --- through Lua ------------------------------------------------------------------------------ */

static const char *const wait_options[] = {"timeout", "interval", NULL};

/* check_options(t) -- vr_check_options(t, "thing.wait", {timeout, interval}); returns true */
static int l_check_options(lua_State *L) {
  vr_check_options(L, 1, "thing.wait", wait_options);
  lua_pushboolean(L, 1);
  return 1;
}

/* duration(v) -> vr_check_duration(v, "thing.sleep") */
static int l_duration(lua_State *L) {
  lua_pushnumber(L, vr_check_duration(L, 1, "thing.sleep"));
  return 1;
}

/* opt_duration(v) -> vr_opt_duration(v, "thing.sleep", 42) */
static int l_opt_duration(lua_State *L) {
  lua_pushnumber(L, vr_opt_duration(L, 1, "thing.sleep", 42));
  return 1;
}

/* timeout_arg(v) -> vr_check_timeout_arg(v, -1); also checks the stack was left as it was */
static int l_timeout_arg(lua_State *L) {
  int top = lua_gettop(L);
  double t = vr_check_timeout_arg(L, 1, -1);
  if (lua_gettop(L) != top) return luaL_error(L, "stack changed");
  lua_pushnumber(L, t);
  return 1;
}

/* Runs code (chunk name "spec.lua"); returns NULL when it succeeded or its error message (a
 * static copy). */
static const char *lua_run(lua_State *L, const char *code) {
  static char msg[512];
  int top = lua_gettop(L);
  if (luaL_loadbuffer(L, code, strlen(code), "@spec.lua") != LUA_OK ||
      lua_pcall(L, 0, 0, 0) != LUA_OK) {
    snprintf(msg, sizeof msg, "%s", luaL_tolstring(L, -1, NULL));
    lua_settop(L, top);
    return msg;
  }
  lua_settop(L, top);
  return NULL;
}

#define CHECK_LUA_OK(L, code)                                                                      \
  do {                                                                                             \
    const char *err_ = lua_run(L, code);                                                           \
    if (err_ != NULL) fprintf(stderr, "lua error: %s\n", err_);                                    \
    CHECK(err_ == NULL);                                                                           \
  } while (0)

#define CHECK_LUA_ERR(L, code, expected) CHECK_STR(lua_run(L, code), expected)

static void test_lua_checks(void) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  lua_register(L, "check_options", l_check_options);
  lua_register(L, "duration", l_duration);
  lua_register(L, "opt_duration", l_opt_duration);
  lua_register(L, "timeout_arg", l_timeout_arg);

  /* vr_check_options: known keys pass, the first unknown key is named with the caller's line */
  CHECK_LUA_OK(L, "assert(check_options({timeout = 1, interval = 2}))");
  CHECK_LUA_OK(L, "assert(check_options({}))");
  CHECK_LUA_OK(L, "assert(check_options(nil))"); /* not a table: nothing to check */
  CHECK_LUA_ERR(L, "\n\ncheck_options({tiemout = 5})",
                "spec.lua:3: unknown option 'tiemout' for thing.wait (expected one of: timeout, "
                "interval)");
  CHECK_LUA_ERR(L, "check_options({timeout = 1, 'positional'})",
                "spec.lua:1: unknown option '1' for thing.wait (expected one of: timeout, "
                "interval)");
  CHECK_LUA_ERR(L, "check_options({[true] = 1})",
                "spec.lua:1: unknown option 'true' for thing.wait (expected one of: timeout, "
                "interval)");
  {
    int top;
    lua_newtable(L);
    lua_pushinteger(L, 1);
    lua_setfield(L, -2, "x");
    top = lua_gettop(L);
    lua_pushcfunction(L, l_check_options); /* direct call from C: no Lua caller, no location */
    lua_pushvalue(L, -2);
    CHECK(lua_pcall(L, 1, 1, 0) != LUA_OK);
    CHECK_STR(lua_tostring(L, -1),
              "unknown option 'x' for thing.wait (expected one of: timeout, interval)");
    lua_settop(L, top - 1);
  }

  /* vr_check_duration */
  CHECK_LUA_OK(L, "assert(duration(90) == 90)");
  CHECK_LUA_OK(L, "assert(duration(0.5) == 0.5)");
  CHECK_LUA_OK(L, "assert(duration('1h30m') == 5400)");
  CHECK_LUA_OK(L, "assert(duration('500ms') == 0.5)");
  CHECK_LUA_ERR(L, "duration('5x')",
                "spec.lua:1: bad duration '5x' for thing.sleep: expected seconds or a string like "
                "\"90s\", \"20m\", \"2h\", \"1h30m\"");
  CHECK_LUA_ERR(L, "duration('1h30')",
                "spec.lua:1: bad duration '1h30' for thing.sleep: expected seconds or a string "
                "like \"90s\", \"20m\", \"2h\", \"1h30m\"");
  CHECK_LUA_ERR(L, "duration(-3)",
                "spec.lua:1: bad duration -3 for thing.sleep: expected a number of seconds >= 0");
  CHECK_CONTAINS(lua_run(L, "duration(0/0)"), /* "nan" or "-nan" */
                 "nan for thing.sleep: expected a number of seconds >= 0");
  CHECK_LUA_ERR(L, "duration(math.huge)",
                "spec.lua:1: bad duration inf for thing.sleep: expected a number of seconds >= 0");
  CHECK_LUA_ERR(L, "duration({})",
                "spec.lua:1: bad duration for thing.sleep: expected seconds or a string like "
                "\"20m\", got table");
  CHECK_LUA_ERR(L, "duration()",
                "spec.lua:1: bad duration for thing.sleep: expected seconds or a string like "
                "\"20m\", got no value");

  /* vr_opt_duration */
  CHECK_LUA_OK(L, "assert(opt_duration() == 42 and opt_duration(nil) == 42)");
  CHECK_LUA_OK(L, "assert(opt_duration('2m') == 120)");
  CHECK_LUA_ERR(L, "opt_duration(false)",
                "spec.lua:1: bad duration for thing.sleep: expected seconds or a string like "
                "\"20m\", got boolean");

  /* vr_check_timeout_arg: a duration or {timeout=} */
  CHECK_LUA_OK(L, "assert(timeout_arg() == -1)");
  CHECK_LUA_OK(L, "assert(timeout_arg('20m') == 1200)");
  CHECK_LUA_OK(L, "assert(timeout_arg(5) == 5)");
  CHECK_LUA_OK(L, "assert(timeout_arg({timeout = '1m'}) == 60)");
  CHECK_LUA_OK(L, "assert(timeout_arg({}) == -1)");
  CHECK_LUA_ERR(L, "timeout_arg({timout = 5})",
                "spec.lua:1: unknown option 'timout' for wait (expected one of: timeout)");
  CHECK_LUA_ERR(L, "timeout_arg({timeout = 'soon'})",
                "spec.lua:1: bad duration 'soon' for timeout: expected seconds or a string like "
                "\"90s\", \"20m\", \"2h\", \"1h30m\"");
  CHECK(lua_gettop(L) == 0);
  lua_close(L);
}

int main(void) {
  test_parse_duration();
  test_parse_size();
  test_lua_checks();
  return CHECK_DONE();
}
