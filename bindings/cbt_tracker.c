/* cbt_tracker.c: vmrun.cbt.tracker, the Lua face of the disk-image change tracker
 * (runtime/blocktrack.h): cbt.track and cbt.changed, re-exported by stdlib-lua/vmrun/cbt.lua.
 * Both run on libuv's thread pool while the calling task waits, so that hashing a large image
 * does not stop the other tasks; cancelling the task stops a pass (the tracking file stays as
 * it was). Reads images; writes only their tracking files (crash-safe, see blocktrack.c).
 * Raises vmrun.Errors with the playbook's file:line; never changes an image. */
#include <inttypes.h>
#include <lauxlib.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "bindings.h"
#include "blocktrack.h"
#include "errors.h"
#include "luaval.h"
#include "scheduler.h"

#define DEFAULT_MAX_LENGTH ((lua_Integer)64 << 20)

/* Raises the vmrun.Error for a failed tracker call: kind from the status, resource = file. */
static int raise_status(lua_State *L, vr_bt_status status, const char *resource, const char *err) {
  const char *kind = status == VR_BT_CONFLICT         ? "conflict"
                     : status == VR_BT_RESET_REQUIRED ? "reset_required"
                     : status == VR_BT_MEMORY         ? "memory"
                     : status == VR_BT_CANCELLED      ? "cancelled"
                                                      : "input";
  return vr_error_raise_for(L, kind, resource, "%s", err);
}

/* Raises kind "usage" with the caller's file:line. */
#define raise_usage(L, ...) vr_error_raise_for((L), "usage", NULL, __VA_ARGS__)

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

/* A path argument: a string without NUL bytes (which would silently cut it short). */
static const char *check_path(lua_State *L, int idx, const char *fn, const char *what) {
  size_t len = 0;
  const char *path;
  if (lua_type(L, idx) != LUA_TSTRING) {
    raise_usage(L, "%s: %s must be a string", fn, what);
    return NULL;
  }
  path = lua_tolstring(L, idx, &len);
  if (path == NULL || strlen(path) != len) {
    raise_usage(L, "%s: %s holds a NUL byte", fn, what);
    return NULL;
  }
  return path;
}

/* opts[field] (read raw) as a path, or NULL when absent; raises kind usage for another type.
 * The string is copied into buf: the caller keeps nothing that Lua may collect. */
static const char *opt_path(lua_State *L, int idx, const char *fn, const char *field, char *buf,
                            size_t buflen) {
  const char *value = NULL;
  if (lua_isnoneornil(L, idx)) return NULL;
  lua_pushstring(L, field);
  if (lua_rawget(L, idx) != LUA_TNIL) {
    char what[64];
    snprintf(what, sizeof what, "option %s", field);
    value = check_path(L, -1, fn, what);
    if (strlen(value) >= buflen) raise_usage(L, "%s: option %s is too long", fn, field);
    value = strcpy(buf, value);
  }
  lua_pop(L, 1);
  return value;
}

/* opts[field] as an integer from min to max, or dflt when absent; raises kind usage otherwise. */
static lua_Integer opt_integer(lua_State *L, int idx, const char *fn, const char *field,
                               lua_Integer dflt, lua_Integer min, lua_Integer max) {
  lua_Integer value = dflt;
  int isnum = 0;
  if (lua_isnoneornil(L, idx)) return dflt;
  lua_pushstring(L, field);
  lua_rawget(L, idx);
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

/* One tracker call on the thread pool. The Lua side holds it through a box userdata; the
 * request is freed by the box's __gc once the work is done, or by the work's completion when the
 * box went first (the task was cancelled and its stack unwound). */
typedef struct tracker_request {
  uv_work_t work;
  vr_op op;
  vr_clock *clock;
  int changed; /* 0: track, 1: changed */
  char image[4096], state[4096], since[128];
  int has_state;
  vr_bt_options opts;
  uint64_t max_length;
  volatile int cancel;
  int done, abandoned;
  vr_bt_status status;
  vr_bt_info info;
  vr_bt_extents extents;
  char err[1024];
} tracker_request;

typedef struct tracker_box {
  tracker_request *req;
} tracker_box;

static const char tracker_box_key = 'r';

static void request_free(tracker_request *r) {
  free(r->extents.items);
  free(r);
}

static int tracker_box_gc(lua_State *L) {
  tracker_box *box = lua_touserdata(L, 1);
  tracker_request *r = box->req;
  box->req = NULL;
  if (r == NULL) return 0;
  if (r->done) {
    request_free(r);
  } else {
    r->cancel = 1; /* nobody waits any more: stop the pass, and free it when it ends */
    r->abandoned = 1;
  }
  return 0;
}

static void tracker_work(uv_work_t *work) {
  tracker_request *r = work->data;
  const char *state = r->has_state ? r->state : NULL;
  if (r->changed) {
    r->status = vr_bt_changed(r->image, state, r->since, r->max_length, &r->extents, &r->info,
                              r->err, sizeof r->err);
  } else {
    r->opts.state_path = state;
    r->opts.cancel = &r->cancel;
    r->status = vr_bt_track(r->image, &r->opts, &r->info, r->err, sizeof r->err);
  }
}

static void tracker_after(uv_work_t *work, int uv_status) {
  tracker_request *r = work->data;
  if (uv_status == UV_ECANCELED && r->status == VR_BT_OK) {
    r->status = VR_BT_CANCELLED;
    snprintf(r->err, sizeof r->err, "%.900s: cancelled before it started", r->image);
  }
  r->done = 1;
  vr_clock_real_end(r->clock);
  if (r->abandoned)
    request_free(r);
  else
    vr_op_complete(&r->op);
}

static void tracker_cancel(vr_op *op) {
  tracker_request *r = (tracker_request *)((char *)op - offsetof(tracker_request, op));
  r->cancel = 1;
  uv_cancel((uv_req_t *)&r->work); /* only succeeds while the work has not started */
}

/* Pushes a box owning a new request for image (and state, or NULL). */
static tracker_request *new_request(lua_State *L, const char *fn, const char *image,
                                    const char *state) {
  tracker_box *box = vr_push_gc_userdata(L, sizeof *box, &tracker_box_key, tracker_box_gc);
  tracker_request *r;
  if (strlen(image) >= sizeof r->image) raise_usage(L, "%s: the image path is too long", fn);
  r = calloc(1, sizeof *r);
  if (r == NULL) luaL_error(L, "%s: out of memory", fn);
  box->req = r;
  strcpy(r->image, image);
  if (state != NULL) {
    strcpy(r->state, state); /* opt_path checked the length */
    r->has_state = 1;
  }
  r->work.data = r;
  return r;
}

/* Queues the request's work and waits for it; k pushes the results. */
static int start_and_wait(lua_State *L, tracker_request *r, const char *what, lua_KFunction k) {
  vr_sched *s = vr_sched_of(L);
  int rc;
  if (s == NULL) return luaL_error(L, "%s: no scheduler in this Lua state", what);
  vr_await_check(L, what);
  r->clock = vr_sched_clock(s);
  r->op.cancel = tracker_cancel;
  rc = uv_queue_work(vr_sched_loop(s), &r->work, tracker_work, tracker_after);
  if (rc != 0) return luaL_error(L, "%s: cannot start: %s", what, uv_strerror(rc));
  vr_clock_real_begin(r->clock);
  return vr_await(L, &r->op, what, -1, k, 0);
}

static tracker_request *request_at(lua_State *L, int idx) {
  return ((tracker_box *)lua_touserdata(L, idx))->req;
}

/* Raises for a failed request: resource is the tracking file when the error concerns it. */
static int raise_request(lua_State *L, tracker_request *r) {
  char state_buf[4096];
  const char *state = r->has_state ? r->state : NULL;
  const char *resource = r->info.error_in_state || r->status == VR_BT_RESET_REQUIRED
                             ? state_path_of(r->image, state, state_buf, sizeof state_buf)
                             : r->image;
  return raise_status(L, r->status, resource, r->err);
}

/* Pushes the info table with what both calls report: change_id, size, block_size, blocks, state. */
static void push_info(lua_State *L, const tracker_request *r, int fields) {
  char state_buf[4096];
  lua_createtable(L, 0, fields);
  set_string(L, "change_id", r->info.change_id);
  set_integer(L, "size", r->info.image_size);
  set_integer(L, "block_size", r->info.block_size);
  set_integer(L, "blocks", r->info.blocks);
  set_string(L, "state",
             state_path_of(r->image, r->has_state ? r->state : NULL, state_buf, sizeof state_buf));
}

static int track_k(lua_State *L, int status, lua_KContext ctx) {
  tracker_request *r = request_at(L, 3);
  (void)status;
  (void)ctx;
  vr_op_finish(L, &r->op);
  if (r->status != VR_BT_OK) return raise_request(L, r);
  lua_pushstring(L, r->info.change_id);
  push_info(L, r, 10);
  set_string(L, "previous", r->info.previous_id);
  set_string(L, "reset", r->info.reset_reason);
  set_integer(L, "changed_blocks", r->info.changed_blocks);
  set_integer(L, "data_blocks", r->info.data_blocks);
  set_integer(L, "bytes_read", r->info.bytes_read);
  return 2;
}

/* cbt.track(image [, {block_size=, state=, reset=}]) -> change_id, info  -- waits
 * Hashes image (a raw disk image or any regular file) block by block and updates its tracking
 * file (state, default image .. ".vmrun-cbt"); returns the new change ID "UUID/sequence" and
 * {change_id, previous, reset, size, block_size, blocks, changed_blocks, data_blocks,
 * bytes_read, state}. block_size (bytes, a power of two from 4 KiB to 64 MiB, default the
 * tracking file's or 64 KiB) may change only with reset = true, which starts a new epoch.
 * A damaged tracking file, or one for another file, starts a new epoch (info.reset says why).
 * Options are read raw (no __index). Raises kind "usage" on bad arguments, "input" when the
 * image cannot be read or the tracking file cannot be written (resource: the file concerned),
 * "conflict" while another pass holds the image's lock, "cancelled" when the task is. */
static int l_track(lua_State *L) {
  static const char *const names[] = {"block_size", "state", "reset", NULL};
  char state[4096];
  const char *image = check_path(L, 1, "cbt.track", "the image");
  const char *state_path;
  tracker_request *r;
  uint32_t block_size;
  int reset = 0;
  check_option_names(L, 2, "cbt.track", names, "block_size, state, reset");
  state_path = opt_path(L, 2, "cbt.track", "state", state, sizeof state);
  block_size = (uint32_t)opt_integer(L, 2, "cbt.track", "block_size", 0, VR_BT_MIN_BLOCK_SIZE,
                                     VR_BT_MAX_BLOCK_SIZE);
  if (block_size & (block_size - 1))
    raise_usage(L,
                "cbt.track: option block_size must be a power of two from %" PRIu32 " to %" PRIu32,
                VR_BT_MIN_BLOCK_SIZE, VR_BT_MAX_BLOCK_SIZE);
  if (lua_istable(L, 2)) {
    lua_pushstring(L, "reset");
    lua_rawget(L, 2);
    if (!lua_isnil(L, -1) && !lua_isboolean(L, -1))
      raise_usage(L, "%s: option %s must be a boolean", "cbt.track", "reset");
    reset = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  lua_settop(L, 2);
  r = new_request(L, "cbt.track", image, state_path); /* 3: the box */
  r->opts.block_size = block_size;
  r->opts.reset = reset;
  return start_and_wait(L, r, "cbt.track", track_k);
}

static int changed_k(lua_State *L, int status, lua_KContext ctx) {
  tracker_request *r = request_at(L, 4);
  (void)status;
  (void)ctx;
  vr_op_finish(L, &r->op);
  if (r->status != VR_BT_OK) return raise_request(L, r);
  lua_createtable(L, r->extents.count > INT_MAX ? INT_MAX : (int)r->extents.count, 0);
  for (size_t i = 0; i < r->extents.count; i++) {
    lua_createtable(L, 0, 2);
    set_integer(L, "start", r->extents.items[i].start);
    set_integer(L, "length", r->extents.items[i].length);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  push_info(L, r, 6);
  set_integer(L, "bytes", r->extents.total_bytes);
  return 2;
}

/* cbt.changed(image, since [, {state=, max_length=}]) -> extents, info  -- waits
 * The byte ranges of image that changed after change ID since, up to the last cbt.track:
 * {{start=, length=}...} merged and in order, none past the image's size and none longer than
 * max_length (bytes, default 64 MiB; 0: no limit). since "*" gives every block that held data
 * at the last track. info = {change_id (the current one), size, block_size, blocks, bytes (the
 * extents' total), state}. Options are read raw. Raises kind "reset_required" (resource: the
 * tracking file) when since is from another epoch or newer than the tracking file, or the
 * tracking file is missing, damaged or for another file (copy the whole image); "input" for a
 * malformed change ID, "*" before the first track, a tracking file of a newer format, or a file
 * that cannot be read; "usage" on bad arguments; "cancelled" when the task is. */
static int l_changed(lua_State *L) {
  static const char *const names[] = {"state", "max_length", NULL};
  char state[4096];
  const char *image = check_path(L, 1, "cbt.changed", "the image");
  const char *since = luaL_checkstring(L, 2);
  const char *state_path;
  lua_Integer max_length;
  tracker_request *r;
  check_option_names(L, 3, "cbt.changed", names, "state, max_length");
  state_path = opt_path(L, 3, "cbt.changed", "state", state, sizeof state);
  max_length =
      opt_integer(L, 3, "cbt.changed", "max_length", DEFAULT_MAX_LENGTH, 0, (lua_Integer)1 << 62);
  lua_settop(L, 3);
  r = new_request(L, "cbt.changed", image, state_path); /* 4: the box */
  r->changed = 1;
  r->max_length = (uint64_t)max_length;
  snprintf(r->since, sizeof r->since, "%s", since); /* a longer one is no change ID anyway */
  if (strlen(since) >= sizeof r->since) strcpy(r->since, "(too long)");
  return start_and_wait(L, r, "cbt.changed", changed_k);
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
