/* cbt_tracker.c: vmrun.cbt.tracker, the Lua face of the disk-image change tracker
 * (runtime/blocktrack.h): cbt.track and cbt.changed, re-exported by stdlib-lua/vmrun/cbt.lua.
 * Reads images; writes only their tracking files (crash-safe, see blocktrack.c). Raises
 * vmrun.Errors with the playbook's file:line; never changes an image. */
#include <inttypes.h>
#include <lauxlib.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bindings.h"
#include "blocktrack.h"
#include "errors.h"
#include "luaval.h"

#define DEFAULT_MAX_LENGTH ((lua_Integer)64 << 20)

/* Raises the vmrun.Error for a failed tracker call: kind from the status, resource = file. */
static int raise_status(lua_State *L, vr_bt_status status, const char *resource, const char *err) {
  const char *kind = status == VR_BT_CONFLICT         ? "conflict"
                     : status == VR_BT_RESET_REQUIRED ? "reset_required"
                     : status == VR_BT_MEMORY         ? "memory"
                                                      : "input";
  luaL_where(L, 1);
  vr_error_push(L, kind, "%s%s", lua_tostring(L, -1), err);
  vr_error_set_string(L, "resource", resource);
  return lua_error(L);
}

static int raise_usage(lua_State *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Raises kind "usage" with the caller's file:line. */
static int raise_usage(lua_State *L, const char *fmt, ...) {
  char text[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  luaL_where(L, 1);
  vr_error_push(L, "usage", "%s%s", lua_tostring(L, -1), text);
  return lua_error(L);
}

/* Checks that the options table at idx (or nil) has only the allowed keys (a NULL-ended list,
 * named in the message). */
static void check_option_names(lua_State *L, int idx, const char *fn, const char *const *allowed,
                               const char *list) {
  if (lua_isnoneornil(L, idx)) return;
  if (!lua_istable(L, idx)) raise_usage(L, "%s: options must be a table (%s)", fn, list);
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    const char *const *name = allowed;
    lua_pop(L, 1);
    if (lua_type(L, -1) == LUA_TSTRING) {
      for (; *name != NULL; name++)
        if (strcmp(*name, lua_tostring(L, -1)) == 0) break;
    }
    if (lua_type(L, -1) != LUA_TSTRING || *name == NULL) {
      raise_usage(L, "%s: unknown option %.60s (%s)", fn, luaL_tolstring(L, -1, NULL), list);
    }
  }
}

/* opts[field] as a string, or NULL when absent; raises kind usage for another type. */
static const char *opt_string(lua_State *L, int idx, const char *fn, const char *field) {
  const char *value = NULL;
  if (lua_isnoneornil(L, idx)) return NULL;
  lua_getfield(L, idx, field);
  if (lua_type(L, -1) == LUA_TSTRING)
    value = lua_tostring(L, -1); /* kept alive by opts */
  else if (!lua_isnil(L, -1))
    raise_usage(L, "%s: option %s must be a string", fn, field);
  lua_pop(L, 1);
  return value;
}

/* opts[field] as an integer from min to max, or dflt when absent; raises kind usage otherwise. */
static lua_Integer opt_integer(lua_State *L, int idx, const char *fn, const char *field,
                               lua_Integer dflt, lua_Integer min, lua_Integer max) {
  lua_Integer value = dflt;
  int isnum = 0;
  if (lua_isnoneornil(L, idx)) return dflt;
  lua_getfield(L, idx, field);
  if (!lua_isnil(L, -1)) {
    value = lua_tointegerx(L, -1, &isnum);
    if (!isnum || lua_type(L, -1) != LUA_TNUMBER || value < min || value > max)
      raise_usage(L, "%s: option %s must be an integer from %" PRId64 " to %" PRId64, fn, field,
                  (int64_t)min, (int64_t)max);
  }
  lua_pop(L, 1);
  return value;
}

static void set_integer(lua_State *L, const char *field, uint64_t value) {
  lua_pushinteger(L, (lua_Integer)value);
  lua_setfield(L, -2, field);
}

static void set_string(lua_State *L, const char *field, const char *value) {
  if (value == NULL || value[0] == '\0') return;
  lua_pushstring(L, value);
  lua_setfield(L, -2, field);
}

static const char *state_path_of(const char *image, const char *state, char *buf, size_t len) {
  if (state != NULL) return state;
  return vr_bt_default_state_path(image, buf, len) == 0 ? buf : image;
}

/* cbt.track(image [, {block_size=, state=, reset=}]) -> change_id, info
 * Hashes image (a raw disk image or any regular file) block by block and updates its tracking
 * file (state, default image .. ".vmrun-cbt"); returns the new change ID "UUID/sequence" and
 * {change_id, previous, reset, size, block_size, blocks, changed_blocks, data_blocks,
 * bytes_hashed, state}. block_size (bytes, a power of two from 4 KiB to 64 MiB, default the
 * tracking file's or 64 KiB) may change only with reset = true, which starts a new epoch.
 * A damaged tracking file, or one for another file, starts a new epoch (info.reset says why).
 * Raises kind "usage" on bad arguments, "input" when the image cannot be read or the tracking
 * file cannot be written, "conflict" while another pass holds the image's lock. */
static int l_track(lua_State *L) {
  static const char *const names[] = {"block_size", "state", "reset", NULL};
  const char *image = luaL_checkstring(L, 1);
  vr_bt_options opts = {0};
  vr_bt_info info;
  char err[1024], state_buf[4096];
  vr_bt_status status;
  check_option_names(L, 2, "cbt.track", names, "block_size, state, reset");
  opts.state_path = opt_string(L, 2, "cbt.track", "state");
  opts.block_size = (uint32_t)opt_integer(L, 2, "cbt.track", "block_size", 0, VR_BT_MIN_BLOCK_SIZE,
                                          VR_BT_MAX_BLOCK_SIZE);
  if (opts.block_size & (opts.block_size - 1))
    raise_usage(L,
                "cbt.track: option block_size must be a power of two from %" PRIu32 " to %" PRIu32,
                VR_BT_MIN_BLOCK_SIZE, VR_BT_MAX_BLOCK_SIZE);
  if (lua_istable(L, 2)) {
    lua_getfield(L, 2, "reset");
    if (!lua_isnil(L, -1) && !lua_isboolean(L, -1))
      raise_usage(L, "%s: option %s must be a boolean", "cbt.track", "reset");
    opts.reset = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  status = vr_bt_track(image, &opts, &info, err, sizeof err);
  if (status != VR_BT_OK) return raise_status(L, status, image, err);
  lua_pushstring(L, info.change_id);
  lua_createtable(L, 0, 10);
  set_string(L, "change_id", info.change_id);
  set_string(L, "previous", info.previous_id);
  set_string(L, "reset", info.reset_reason);
  set_integer(L, "size", info.image_size);
  set_integer(L, "block_size", info.block_size);
  set_integer(L, "blocks", info.blocks);
  set_integer(L, "changed_blocks", info.changed_blocks);
  set_integer(L, "data_blocks", info.data_blocks);
  set_integer(L, "bytes_hashed", info.bytes_hashed);
  set_string(L, "state", state_path_of(image, opts.state_path, state_buf, sizeof state_buf));
  return 2;
}

static const char extents_box_key = 'x';

static int extents_box_gc(lua_State *L) {
  vr_bt_extents *box = lua_touserdata(L, 1);
  free(box->items);
  box->items = NULL;
  return 0;
}

/* cbt.changed(image, since [, {state=, max_length=}]) -> extents, info
 * The byte ranges of image that changed after change ID since, up to the last cbt.track:
 * {{start=, length=}...} merged and in order, none past the image's size and none longer than
 * max_length (bytes, default 64 MiB; 0: no limit). since "*" gives every block that held data
 * at the last track. info = {change_id (the current one), size, block_size, blocks, bytes (the
 * extents' total), state}. Raises kind "reset_required" when since is from another epoch or
 * newer than the tracking file, or the tracking file is missing, damaged or for another file
 * (copy the whole image); "input" for a malformed change ID or an image or file that cannot be
 * read; "usage" on bad arguments. */
static int l_changed(lua_State *L) {
  static const char *const names[] = {"state", "max_length", NULL};
  const char *image = luaL_checkstring(L, 1);
  const char *since = luaL_checkstring(L, 2);
  const char *state;
  char err[1024], state_buf[4096];
  lua_Integer max_length;
  vr_bt_info info;
  vr_bt_extents *box;
  vr_bt_status status;
  check_option_names(L, 3, "cbt.changed", names, "state, max_length");
  state = opt_string(L, 3, "cbt.changed", "state");
  max_length =
      opt_integer(L, 3, "cbt.changed", "max_length", DEFAULT_MAX_LENGTH, 0, (lua_Integer)1 << 62);
  box = vr_push_gc_userdata(L, sizeof *box, &extents_box_key, extents_box_gc);
  status = vr_bt_changed(image, state, since, (uint64_t)max_length, box, &info, err, sizeof err);
  if (status != VR_BT_OK) {
    return raise_status(L, status,
                        status == VR_BT_RESET_REQUIRED
                            ? state_path_of(image, state, state_buf, sizeof state_buf)
                            : image,
                        err);
  }
  lua_createtable(L, box->count > INT_MAX ? INT_MAX : (int)box->count, 0);
  for (size_t i = 0; i < box->count; i++) {
    lua_createtable(L, 0, 2);
    set_integer(L, "start", box->items[i].start);
    set_integer(L, "length", box->items[i].length);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_createtable(L, 0, 6);
  set_string(L, "change_id", info.change_id);
  set_integer(L, "size", info.image_size);
  set_integer(L, "block_size", info.block_size);
  set_integer(L, "blocks", info.blocks);
  set_integer(L, "bytes", box->total_bytes);
  set_string(L, "state", state_path_of(image, state, state_buf, sizeof state_buf));
  return 2;
}

static const luaL_Reg cbt_tracker_funcs[] = {
    {"track", l_track},
    {"changed", l_changed},
    {NULL, NULL},
};

int luaopen_vmrun_cbt_tracker(lua_State *L) {
  luaL_newlib(L, cbt_tracker_funcs);
  return 1;
}
