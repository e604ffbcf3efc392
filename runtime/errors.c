/* errors.c: vmrun.Error tables (see errors.h). May raise only Lua memory errors, except
 * vr_error_raise, which always raises. */
#include "errors.h"

#include <lauxlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* __tostring(err) -> err.message (or "kind error" when a script built one without a message) */
static int error_tostring(lua_State *L) {
  if (lua_getfield(L, 1, "message") == LUA_TSTRING) return 1;
  lua_pop(L, 1);
  lua_getfield(L, 1, "kind");
  lua_pushfstring(L, "%s error", lua_isstring(L, -1) ? lua_tostring(L, -1) : "vmrun");
  return 1;
}

void vr_error_init(lua_State *L) {
  if (luaL_newmetatable(L, VR_ERROR_MT)) {
    lua_pushcfunction(L, error_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_pop(L, 1);
}

void vr_error_pushv(lua_State *L, const char *kind, const char *fmt, va_list ap) {
  lua_createtable(L, 0, 6);
  lua_pushstring(L, kind);
  lua_setfield(L, -2, "kind");
  lua_pushvfstring(L, fmt, ap);
  lua_setfield(L, -2, "message");
  vr_error_init(L);
  luaL_setmetatable(L, VR_ERROR_MT);
}

void vr_error_push(lua_State *L, const char *kind, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vr_error_pushv(L, kind, fmt, ap);
  va_end(ap);
}

int vr_error_raise(lua_State *L, const char *kind, const char *fmt, ...) {
  va_list ap;
  luaL_where(L, 1); /* "file:line: " of the Lua caller, or "" */
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap); /* stack: where, text */
  va_end(ap);
  lua_concat(L, 2); /* stack: message */
  vr_error_push(L, kind, "%s", lua_tostring(L, -1));
  if (lua_getfield(L, -1, "message") == LUA_TSTRING) { /* keep `where` also as a field */
    luaL_where(L, 1);
    if (lua_rawlen(L, -1) > 2) {
      lua_pushlstring(L, lua_tostring(L, -1), lua_rawlen(L, -1) - 2); /* strip ": " */
      lua_setfield(L, -4, "where");
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  lua_remove(L, -2); /* drop the plain message */
  return lua_error(L);
}

int vr_error_raise_for(lua_State *L, const char *kind, const char *resource, const char *fmt, ...) {
  char text[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  luaL_where(L, 1);
  vr_error_push(L, kind, "%s%s", lua_tostring(L, -1), text);
  if (resource != NULL) vr_error_set_string(L, "resource", resource);
  return lua_error(L);
}

void vr_error_set_string(lua_State *L, const char *field, const char *value) {
  lua_pushstring(L, value);
  lua_setfield(L, -2, field);
}

void vr_error_set_integer(lua_State *L, const char *field, lua_Integer value) {
  lua_pushinteger(L, value);
  lua_setfield(L, -2, field);
}

int vr_error_is(lua_State *L, int idx) {
  int is = 0;
  if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx)) return 0;
  luaL_getmetatable(L, VR_ERROR_MT);
  is = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return is;
}

const char *vr_error_kind(lua_State *L, int idx) {
  const char *kind;
  if (!vr_error_is(L, idx)) return NULL;
  lua_getfield(L, idx, "kind");
  kind = lua_tostring(L, -1); /* anchored by the error table */
  lua_pop(L, 1);
  return kind;
}
