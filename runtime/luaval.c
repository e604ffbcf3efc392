/* luaval.c: the null sentinel, shape tags and file reading shared by the codecs (luaval.h).
 * Registry slots are keyed by the addresses of private statics. Raises only memory errors. */
#include "luaval.h"

#include <errno.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char null_key = 'n';
static const char object_mt_key = 'o';
static const char array_mt_key = 'a';

static int null_tostring(lua_State *L) {
  lua_pushliteral(L, "null");
  return 1;
}

void vr_null_push(lua_State *L) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &null_key) != LUA_TNIL) return;
  lua_pop(L, 1);
  lua_newuserdatauv(L, 0, 0);
  lua_createtable(L, 0, 3);
  lua_pushcfunction(L, null_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pushliteral(L, "vmrun.null");
  lua_setfield(L, -2, "__name");
  lua_pushliteral(L, "null is read-only");
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &null_key);
}

int vr_null_is(lua_State *L, int idx) {
  int is;
  if (lua_type(L, idx) != LUA_TUSERDATA) return 0;
  idx = lua_absindex(L, idx);
  vr_null_push(L);
  is = lua_rawequal(L, idx, -1);
  lua_pop(L, 1);
  return is;
}

static int shape_mt_tostring(lua_State *L) {
  lua_pushfstring(L, "table: %p", lua_topointer(L, 1));
  return 1;
}

void vr_shape_push_mt(lua_State *L, vr_shape shape) {
  const void *key = shape == VR_SHAPE_ARRAY ? (const void *)&array_mt_key : &object_mt_key;
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, key) != LUA_TNIL) return;
  lua_pop(L, 1);
  lua_createtable(L, 0, 2);
  lua_pushstring(L, shape == VR_SHAPE_ARRAY ? "array" : "object");
  lua_setfield(L, -2, "__shape");
  lua_pushcfunction(L, shape_mt_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, key);
}

void vr_shape_set(lua_State *L, int idx, vr_shape shape) {
  idx = lua_absindex(L, idx);
  if (shape == VR_SHAPE_NONE) {
    lua_pushnil(L);
  } else {
    vr_shape_push_mt(L, shape);
  }
  lua_setmetatable(L, idx);
}

vr_shape vr_shape_get(lua_State *L, int idx) {
  vr_shape shape = VR_SHAPE_NONE;
  if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx)) return VR_SHAPE_NONE;
  vr_shape_push_mt(L, VR_SHAPE_OBJECT);
  if (lua_rawequal(L, -1, -2)) {
    shape = VR_SHAPE_OBJECT;
  } else {
    vr_shape_push_mt(L, VR_SHAPE_ARRAY);
    if (lua_rawequal(L, -1, -3)) shape = VR_SHAPE_ARRAY;
    lua_pop(L, 1);
  }
  lua_pop(L, 2);
  return shape;
}

void *vr_push_gc_userdata(lua_State *L, size_t size, const void *key, lua_CFunction gc) {
  void *ud = lua_newuserdatauv(L, size, 0);
  memset(ud, 0, size);
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, key) == LUA_TNIL) {
    lua_pop(L, 1);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__gc");
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, key);
  }
  lua_setmetatable(L, -2);
  return ud;
}

char *vr_read_file(const char *path, size_t *len, char *err, size_t errlen) {
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  size_t cap = 0, used = 0;
  if (f == NULL) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return NULL;
  }
  for (;;) {
    size_t n;
    if (cap - used < 65536) {
      size_t ncap = cap ? cap * 2 : 65536 + 1;
      char *nbuf = realloc(buf, ncap);
      if (nbuf == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        free(buf);
        fclose(f);
        return NULL;
      }
      buf = nbuf;
      cap = ncap;
    }
    n = fread(buf + used, 1, cap - used - 1, f);
    used += n;
    if (n == 0) break;
  }
  if (ferror(f)) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    free(buf);
    fclose(f);
    return NULL;
  }
  fclose(f);
  buf[used] = '\0';
  if (len) *len = used;
  return buf;
}

void vr_text_position(const char *text, size_t off, int *line, int *column) {
  int l = 1, c = 1;
  size_t i;
  for (i = 0; i < off && text[i] != '\0'; i++) {
    if (text[i] == '\n') {
      l++;
      c = 1;
    } else {
      c++;
    }
  }
  *line = l;
  *column = c;
}
