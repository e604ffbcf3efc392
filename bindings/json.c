/* bindings/json.c: the vmrun.json Lua module (decode, try_decode, decode_file, encode, null,
 * object, array, is_null) over the codec in runtime/json.c.
 *
 * Bad input raises a vmrun.Error (kind "decode", "encode" or "input"); misuse raises through
 * luaL_argerror with the caller's file:line. Functions here never yield and never call Lua code.
 * Memory the codec could strand on a memory error is owned by userdata with __gc. */
#include "codec.h"
#include "errors.h"
#include "luaval.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

/* Checks that the option table at idx (if any) has only the listed string keys. */
static void check_opts(lua_State *L, int idx, const char *const known[]) {
  if (lua_isnoneornil(L, idx)) return;
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    int i, ok = 0;
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING) luaL_argerror(L, idx, "option names must be strings");
    for (i = 0; known[i] != NULL; i++) {
      if (strcmp(lua_tostring(L, -1), known[i]) == 0) ok = 1;
    }
    if (!ok) luaL_argerror(L, idx, lua_pushfstring(L, "unknown option '%s'", lua_tostring(L, -1)));
  }
}

/* The field `name` of the option table at idx: its type must be `type` (or nil). Pushes it. */
static int opt_field(lua_State *L, int idx, const char *name, int type) {
  int t;
  if (lua_isnoneornil(L, idx)) {
    lua_pushnil(L);
    return LUA_TNIL;
  }
  t = lua_getfield(L, idx, name);
  if (t != LUA_TNIL && t != type) {
    luaL_argerror(L, idx,
                  lua_pushfstring(L, "option '%s' must be a %s, not a %s", name,
                                  lua_typename(L, type), luaL_typename(L, -1)));
  }
  return t;
}

/* The text argument at idx: a string (numbers are not taken for JSON text). */
static const char *check_text(lua_State *L, int idx, size_t *len) {
  if (lua_type(L, idx) != LUA_TSTRING) luaL_typeerror(L, idx, "string");
  return lua_tolstring(L, idx, len);
}

/* The source name from decode's options; the string stays anchored by the option table. */
static const char *decode_name(lua_State *L, int idx) {
  static const char *const known[] = {"name", NULL};
  const char *name = "json";
  check_opts(L, idx, known);
  if (opt_field(L, idx, "name", LUA_TSTRING) == LUA_TSTRING) name = lua_tostring(L, -1);
  lua_pop(L, 1);
  return name;
}

/* Pushes the vmrun.Error{kind="decode", message="NAME:LINE:COL: what", line, column, resource}. */
static void push_decode_error(lua_State *L, const char *name, const vr_codec_error *err) {
  vr_error_push(L, "decode", "%s:%d:%d: %s", name, err->line, err->column, err->message);
  vr_error_set_integer(L, "line", err->line);
  vr_error_set_integer(L, "column", err->column);
  vr_error_set_string(L, "resource", name);
}

/* json.decode(text [, {name=string}]) -> value
 * Objects and arrays come back as tables tagged with their shape, null as json.null.
 * Raises vmrun.Error{kind="decode"} with message "NAME:LINE:COL: what" (NAME defaults to "json")
 * and the fields line, column and resource=NAME. */
static int l_json_decode(lua_State *L) {
  size_t len;
  const char *text = check_text(L, 1, &len);
  const char *name = decode_name(L, 2);
  vr_codec_error err;
  if (vr_json_decode(L, text, len, &err)) return 1;
  push_decode_error(L, name, &err);
  return lua_error(L);
}

/* json.try_decode(text [, {name=string}]) -> value | nil, err
 * Like json.decode, but returns nil and the vmrun.Error instead of raising it. Misuse still
 * raises. */
static int l_json_try_decode(lua_State *L) {
  size_t len;
  const char *text = check_text(L, 1, &len);
  const char *name = decode_name(L, 2);
  vr_codec_error err;
  if (vr_json_decode(L, text, len, &err)) return 1;
  lua_pushnil(L);
  push_decode_error(L, name, &err);
  return 2;
}

/* A malloc'd file buffer owned by a userdata, so a memory error during the decode cannot leak it.
 */
static int filebuf_gc(lua_State *L) {
  char **buf = lua_touserdata(L, 1);
  if (buf != NULL) {
    free(*buf);
    *buf = NULL;
  }
  return 0;
}

static const char filebuf_mt_key = 'f';

static char **push_filebuf(lua_State *L) {
  return vr_push_gc_userdata(L, sizeof(char *), &filebuf_mt_key, filebuf_gc);
}

/* json.decode_file(path) -> value
 * Reads and decodes a whole file. Raises vmrun.Error{kind="input", resource=path} when the file
 * cannot be read ("caller.lua:3: path: reason"), and vmrun.Error{kind="decode"} as json.decode
 * does, with the path as the name ("path:LINE:COL: what"). */
static int l_json_decode_file(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  char **buf, msg[512];
  size_t len;
  vr_codec_error err;
  int ok;
  lua_settop(L, 1);
  buf = push_filebuf(L); /* stack: path, filebuf */
  *buf = vr_read_file(path, &len, msg, sizeof msg);
  if (*buf == NULL) {
    luaL_where(L, 1);
    vr_error_push(L, "input", "%s%s", lua_tostring(L, -1), msg);
    vr_error_set_string(L, "resource", path);
    return lua_error(L);
  }
  ok = vr_json_decode(L, *buf, len, &err); /* stack: path, filebuf[, value] */
  free(*buf);
  *buf = NULL;
  if (ok) return 1;
  push_decode_error(L, path, &err);
  return lua_error(L);
}

/* json.encode(value [, {pretty=bool, indent=1..16, sort_keys=bool}]) -> string
 * Compact by default; pretty output puts each member on its own line, indented by `indent` spaces
 * (default 2; giving indent alone turns pretty on). Object keys are sorted by bytes unless
 * sort_keys=false. Raises vmrun.Error{kind="encode"} naming the offending path, e.g.
 * "caller.lua:9: $.spec.items[3]: table mixes integer and string keys", for mixed or sparse tables,
 * cycles, nesting beyond 1000 levels, NaN or infinite numbers, nil, functions, threads and
 * userdata other than json.null. */
static int l_json_encode(lua_State *L) {
  static const char *const known[] = {"pretty", "indent", "sort_keys", NULL};
  vr_encode_opts opts = {0, 2, 1};
  vr_codec_error err;
  int pretty_type;
  luaL_checkany(L, 1);
  check_opts(L, 2, known);
  pretty_type = opt_field(L, 2, "pretty", LUA_TBOOLEAN);
  opts.pretty = lua_toboolean(L, -1);
  if (opt_field(L, 2, "indent", LUA_TNUMBER) == LUA_TNUMBER) {
    int isint;
    lua_Integer indent = lua_tointegerx(L, -1, &isint);
    luaL_argcheck(L, isint && indent >= 1 && indent <= 16, 2,
                  "option 'indent' must be an integer 1..16");
    opts.indent = (int)indent;
    if (pretty_type == LUA_TNIL) opts.pretty = 1;
  }
  if (opt_field(L, 2, "sort_keys", LUA_TBOOLEAN) == LUA_TBOOLEAN) {
    opts.sort_keys = lua_toboolean(L, -1);
  }
  lua_settop(L, 1);
  if (vr_json_encode(L, 1, &opts, &err)) return 1;
  return vr_error_raise(L, "encode", "%s", err.message);
}

/* Tags the table argument (or a new table) with a shape. Tables that already carry another
 * metatable are refused: replacing it would break their behaviour. */
static int tag_table(lua_State *L, vr_shape shape) {
  if (lua_isnoneornil(L, 1)) {
    lua_createtable(L, 0, 0);
  } else {
    luaL_checktype(L, 1, LUA_TTABLE);
    if (lua_getmetatable(L, 1)) {
      lua_pop(L, 1);
      if (vr_shape_get(L, 1) == VR_SHAPE_NONE) {
        luaL_argerror(L, 1, "table already has a metatable");
      }
    }
    lua_settop(L, 1);
  }
  vr_shape_set(L, -1, shape);
  return 1;
}

/* json.object([t]) -> t
 * Tags t (or a new empty table) as a JSON object, so that it encodes as {} even when empty.
 * Raises (argument error) when t is not a table or has a metatable other than a shape tag. */
static int l_json_object(lua_State *L) {
  return tag_table(L, VR_SHAPE_OBJECT);
}

/* json.array([t]) -> t
 * Tags t (or a new empty table) as a JSON array, so that it encodes as [] even when empty.
 * Raises (argument error) when t is not a table or has a metatable other than a shape tag. */
static int l_json_array(lua_State *L) {
  return tag_table(L, VR_SHAPE_ARRAY);
}

/* json.is_null(v) -> boolean
 * True when v is json.null (the same value as yaml.null and vmrun.null). Never raises, except
 * for a missing argument. */
static int l_json_is_null(lua_State *L) {
  luaL_checkany(L, 1);
  lua_pushboolean(L, vr_null_is(L, 1));
  return 1;
}

static const luaL_Reg json_funcs[] = {
    {"decode", l_json_decode},           {"try_decode", l_json_try_decode},
    {"decode_file", l_json_decode_file}, {"encode", l_json_encode},
    {"object", l_json_object},           {"array", l_json_array},
    {"is_null", l_json_is_null},         {NULL, NULL},
};

/* require("vmrun.json") -> the module table; json.null is the shared null sentinel. */
int luaopen_vmrun_json(lua_State *L) {
  vr_error_init(L);
  luaL_newlib(L, json_funcs);
  vr_null_push(L);
  lua_setfield(L, -2, "null");
  return 1;
}
