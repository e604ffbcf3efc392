/* bindings/yaml.c: the vmrun.yaml Lua module: YAML text <-> Lua values (runtime/yaml.c, codec.h).
 * Glue only: checks arguments and options, calls the codec and turns its errors into vmrun.Error
 * tables. It may not parse or format YAML itself, call lua_resume or touch the event loop. */
#include "codec.h"
#include "errors.h"
#include "luaval.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

typedef struct yaml_opts {
  const char *name; /* source name in messages */
  int all;          /* every document */
  int sort_keys;
  int indent;
} yaml_opts;

enum { OPT_NAME = 1, OPT_ALL = 2, OPT_SORT_KEYS = 4, OPT_INDENT = 8 };

/* Reads the option table at idx (nil or absent allowed); `allowed` is a set of OPT_ flags.
 * Raises a Lua argument error for unknown keys and wrong types. */
static void check_opts(lua_State *L, int idx, unsigned allowed, yaml_opts *o) {
  if (lua_isnoneornil(L, idx)) return;
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_pushnil(L);
  while (lua_next(L, idx)) { /* stack: key, value */
    const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
    if ((allowed & OPT_NAME) && strcmp(key, "name") == 0) {
      if (lua_type(L, -1) != LUA_TSTRING) luaL_argerror(L, idx, "option 'name' must be a string");
      o->name = lua_tostring(L, -1); /* anchored by the option table */
    } else if ((allowed & OPT_ALL) && strcmp(key, "all") == 0) {
      if (!lua_isboolean(L, -1)) luaL_argerror(L, idx, "option 'all' must be a boolean");
      o->all = lua_toboolean(L, -1);
    } else if ((allowed & OPT_SORT_KEYS) && strcmp(key, "sort_keys") == 0) {
      if (!lua_isboolean(L, -1)) luaL_argerror(L, idx, "option 'sort_keys' must be a boolean");
      o->sort_keys = lua_toboolean(L, -1);
    } else if ((allowed & OPT_INDENT) && strcmp(key, "indent") == 0) {
      lua_Integer n;
      if (!lua_isinteger(L, -1) || (n = lua_tointeger(L, -1)) < 2 || n > 9) {
        luaL_argerror(L, idx, "option 'indent' must be an integer from 2 to 9");
      }
      o->indent = (int)lua_tointeger(L, -1);
    } else {
      lua_pushvalue(L, -2);
      luaL_argerror(L, idx, lua_pushfstring(L, "unknown option '%s'", luaL_tolstring(L, -1, NULL)));
    }
    lua_pop(L, 1);
  }
}

/* Pushes the vmrun.Error{kind="decode"} for a codec error in source `name`:
 * message "NAME:LINE:COL: what" (or "NAME: what" without a position), fields line, column and
 * resource=NAME. */
static void push_decode_error(lua_State *L, const char *name, const vr_codec_error *err) {
  if (err->line > 0) {
    vr_error_push(L, "decode", "%s:%d:%d: %s", name, err->line, err->column, err->message);
    vr_error_set_integer(L, "line", err->line);
    vr_error_set_integer(L, "column", err->column);
  } else {
    vr_error_push(L, "decode", "%s: %s", name, err->message);
  }
  vr_error_set_string(L, "resource", name);
}

/* Decodes argument 1 with the options at argument 2; on success pushes the value and returns 1,
 * on failure pushes the vmrun.Error and returns 0. */
static int decode_arg(lua_State *L, unsigned allowed, int all) {
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  yaml_opts o = {"yaml", all, 1, 2};
  vr_codec_error err;
  check_opts(L, 2, allowed, &o);
  if (vr_yaml_decode(L, text, len, o.all, &err)) return 1;
  push_decode_error(L, o.name, &err);
  return 0;
}

/* yaml.decode(text [, {name=string}]) -> value
 * The single document of a YAML stream (yaml.null when there is none). Raises
 * vmrun.Error{kind="decode", line=, column=, resource=name} with message "NAME:LINE:COL: what"
 * for invalid YAML and for a stream of several documents; argument errors for bad options. */
static int l_yaml_decode(lua_State *L) {
  if (!decode_arg(L, OPT_NAME, 0)) return lua_error(L);
  return 1;
}

/* yaml.decode_all(text [, {name=string}]) -> array
 * Every non-empty document of a YAML stream, in order (empty and null documents are skipped, as
 * kubectl does). Raises vmrun.Error{kind="decode"} like yaml.decode. */
static int l_yaml_decode_all(lua_State *L) {
  if (!decode_arg(L, OPT_NAME, 1)) return lua_error(L);
  return 1;
}

/* yaml.try_decode(text [, {name=string, all=boolean}]) -> value | nil, err
 * yaml.decode (or yaml.decode_all with all=true) that returns nil and the vmrun.Error instead of
 * raising it. Still raises argument errors for a non-string text or bad options. */
static int l_yaml_try_decode(lua_State *L) {
  if (decode_arg(L, OPT_NAME | OPT_ALL, 0)) return 1;
  lua_pushnil(L);
  lua_insert(L, -2);
  return 2;
}

static const char file_box_key = 'f';

static int file_box_gc(lua_State *L) {
  char **box = lua_touserdata(L, 1);
  free(*box);
  *box = NULL;
  return 0;
}

/* Pushes a userdata owning a malloc'd buffer (freed by __gc unless taken back earlier), so that
 * a memory error raised while the buffer is in use does not leak it. */
static char **push_file_box(lua_State *L) {
  return vr_push_gc_userdata(L, sizeof(char *), &file_box_key, file_box_gc);
}

/* yaml.decode_file(path [, {all=boolean}]) -> value | array
 * Reads and decodes a whole file: its single document, or with all=true the array of its
 * non-empty documents. Raises vmrun.Error{kind="input", resource=path} when the file cannot be
 * read and vmrun.Error{kind="decode"} with message "PATH:LINE:COL: what" when it is invalid. */
static int l_yaml_decode_file(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  yaml_opts o = {NULL, 0, 1, 2};
  char msg[512];
  size_t len;
  char **box;
  vr_codec_error err;
  int ok;
  check_opts(L, 2, OPT_ALL, &o);
  lua_settop(L, 2);
  box = push_file_box(L); /* stack: path, opts, box */
  *box = vr_read_file(path, &len, msg, sizeof msg);
  if (*box == NULL) {
    luaL_where(L, 1);
    vr_error_push(L, "input", "%s%s", lua_tostring(L, -1), msg);
    vr_error_set_string(L, "resource", path);
    return lua_error(L);
  }
  ok = vr_yaml_decode(L, *box, len, o.all, &err);
  free(*box);
  *box = NULL;
  if (ok) return 1;
  push_decode_error(L, path, &err);
  return lua_error(L);
}

/* yaml.encode(value [, {sort_keys=boolean, indent=integer}]) -> string
 * Block-style YAML (indent 2 by default, mapping keys in byte order unless sort_keys=false) that
 * yaml.decode reads back as the same value. Raises vmrun.Error{kind="encode"} naming the path
 * ("$.spec.items[3]", 1-based) for nil, cycles, nesting deeper than the limit, functions,
 * threads, userdata other than yaml.null, mixed or sparse tables, non-string object keys and
 * strings that are not UTF-8. */
static int l_yaml_encode(lua_State *L) {
  yaml_opts o = {NULL, 0, 1, 2};
  vr_encode_opts eo;
  vr_codec_error err;
  luaL_checkany(L, 1);
  check_opts(L, 2, OPT_SORT_KEYS | OPT_INDENT, &o);
  memset(&eo, 0, sizeof eo);
  eo.pretty = 1;
  eo.indent = o.indent;
  eo.sort_keys = o.sort_keys;
  if (vr_yaml_encode(L, 1, &eo, &err)) return 1;
  return vr_error_raise(L, "encode", "%s", err.message);
}

static const luaL_Reg yaml_funcs[] = {
    {"decode", l_yaml_decode},         {"decode_all", l_yaml_decode_all},
    {"try_decode", l_yaml_try_decode}, {"decode_file", l_yaml_decode_file},
    {"encode", l_yaml_encode},         {NULL, NULL},
};

/* require("vmrun.yaml") -> {decode, decode_all, try_decode, decode_file, encode, null} */
int luaopen_vmrun_yaml(lua_State *L) {
  luaL_newlib(L, yaml_funcs);
  vr_null_push(L);
  lua_setfield(L, -2, "null");
  return 1;
}
