/* log.c: the `log` module (vmrun.log): leveled log lines on stderr with optional fields, as text
 * or JSON lines (--log-format), stamped with the run's clock. Glue over runtime/log.h; field
 * values are encoded with the JSON codec. */
#include <lauxlib.h>
#include <string.h>

#include "bindings.h"
#include "codec.h"
#include "log.h"

/* Appends " key=value" pairs (keys sorted) of the fields table at idx to b. */
static void add_text_fields(lua_State *L, int idx, luaL_Buffer *b) {
  int n, i;
  lua_newtable(L); /* the sorted keys */
  n = 0;
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    lua_pop(L, 1);
    if (lua_type(L, -1) == LUA_TSTRING) {
      lua_pushvalue(L, -1);
      lua_rawseti(L, -3, ++n);
    }
  }
  lua_getglobal(L, "table");
  lua_getfield(L, -1, "sort");
  lua_pushvalue(L, -3);
  lua_call(L, 1, 0);
  lua_pop(L, 1);
  for (i = 1; i <= n; i++) {
    const char *key;
    lua_rawgeti(L, -1, i);
    key = lua_tostring(L, -1);
    lua_getfield(L, idx, key);
    luaL_addchar(b, ' ');
    luaL_addstring(b, key);
    luaL_addchar(b, '=');
    if (lua_type(L, -1) == LUA_TSTRING) {
      size_t len;
      const char *s = lua_tolstring(L, -1, &len);
      if (len == 0 || strpbrk(s, " =\"\n\t") != NULL) {
        size_t need = vr_json_quote(s, len, NULL, 0) + 1;
        char *q = luaL_prepbuffsize(b, need);
        luaL_addsize(b, vr_json_quote(s, len, q, need));
      } else {
        luaL_addlstring(b, s, len);
      }
      lua_pop(L, 1);
    } else if (lua_type(L, -1) == LUA_TTABLE) {
      vr_codec_error err;
      vr_encode_opts opts = {0, 2, 1};
      if (vr_json_encode(L, -1, &opts, &err)) {
        lua_remove(L, -2);
        luaL_addvalue(b);
      } else {
        luaL_addstring(b, "<unencodable>");
        lua_pop(L, 1);
      }
    } else {
      luaL_tolstring(L, -1, NULL);
      lua_remove(L, -2);
      luaL_addvalue(b);
    }
    lua_pop(L, 1); /* key */
  }
  lua_pop(L, 1); /* sorted keys */
}

static int log_at(lua_State *L, vr_log_level level) {
  vr_log *log = vr_log_of(L);
  size_t msglen;
  const char *msg;
  if (!vr_log_enabled(log, level)) return 0;
  lua_settop(L, 2);
  msg = luaL_tolstring(L, 1, &msglen); /* index 3 */
  if (lua_isnoneornil(L, 2)) {
    vr_log_emit(log, level, msg, msglen, NULL, NULL);
    return 0;
  }
  luaL_checktype(L, 2, LUA_TTABLE);
  if (log->json) {
    vr_codec_error err;
    vr_encode_opts opts = {0, 2, 1};
    size_t len;
    const char *json;
    if (!vr_json_encode(L, 2, &opts, &err)) {
      return luaL_error(L, "log fields cannot be encoded: %s", err.message);
    }
    json = lua_tolstring(L, -1, &len);
    if (len >= 2 && json[0] == '{') {
      lua_pushlstring(L, json + 1, len - 2); /* the members without braces */
      vr_log_emit(log, level, msg, msglen, NULL, lua_tostring(L, -1));
    } else {
      vr_log_emit(log, level, msg, msglen, NULL, NULL);
    }
  } else {
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    add_text_fields(L, 2, &b);
    luaL_pushresult(&b);
    vr_log_emit(log, level, msg, msglen, lua_tostring(L, -1), NULL);
  }
  return 0;
}

/* log.debug(msg [, fields]) / log.info / log.warn / log.error
 * Writes one line to stderr: time (run clock), level, msg (any value, via tostring) and the
 * fields table as key=value (text) or JSON members (--log-format json). Debug lines need -v,
 * info lines are hidden by -q. Raises when fields is not a table or cannot be encoded. */
static int l_log_debug(lua_State *L) {
  return log_at(L, VR_LOG_DEBUG);
}
static int l_log_info(lua_State *L) {
  return log_at(L, VR_LOG_INFO);
}
static int l_log_warn(lua_State *L) {
  return log_at(L, VR_LOG_WARN);
}
static int l_log_error(lua_State *L) {
  return log_at(L, VR_LOG_ERROR);
}

/* log.level() -> "debug"|"info"|"warn"|"error": the lowest level that is written. */
static int l_log_level(lua_State *L) {
  vr_log *log = vr_log_of(L);
  lua_pushstring(L, vr_log_level_name(log ? log->level : VR_LOG_INFO));
  return 1;
}

/* log.status(text | nil) -> boolean
 * Keeps text as the live status line under the log lines (replacing the previous one), or
 * removes it with nil or "". Only on a terminal with text logs: true when shown, false
 * otherwise (nothing is written: progress must also go to log lines). Raises (plain error) for
 * another type. */
static int l_log_status(lua_State *L) {
  const char *text = lua_isnoneornil(L, 1) ? NULL : luaL_checkstring(L, 1);
  lua_pushboolean(L, vr_log_status(vr_log_of(L), text));
  return 1;
}

static const luaL_Reg log_funcs[] = {
    {"debug", l_log_debug}, {"info", l_log_info},     {"warn", l_log_warn}, {"error", l_log_error},
    {"level", l_log_level}, {"status", l_log_status}, {NULL, NULL},
};

int luaopen_vmrun_log(lua_State *L) {
  luaL_newlib(L, log_funcs);
  return 1;
}
