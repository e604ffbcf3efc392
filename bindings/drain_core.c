/* drain_core.c: vmrun.drain.core, kubectl drain's pod filter chain (runtime/drain_filter.h) for
 * Lua: stdlib-lua/vmrun/node.lua lists a node's pods and the DaemonSets that own them through
 * the cluster interface and asks here which pods a drain evicts, which it leaves and which stop
 * it, with kubectl's own texts. Reads its arguments only: no I/O, no cluster access, never
 * yields. Raises vmrun.Errors with the caller's file:line. */
#include <cjson/cJSON.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bindings.h"
#include "codec.h"
#include "drain_filter.h"
#include "errors.h"
#include "luaval.h"

/* The converted pods, their messages and the summary buffer (freed by __gc when a Lua error
 * unwinds). */
typedef struct filter_box {
  cJSON **pods;
  char (*messages)[VR_DRAIN_MSG_MAX];
  vr_drain_entry *entries;
  size_t n;
  char *text;
} filter_box;

static const char filter_box_key = 'f';

static int filter_box_gc(lua_State *L) {
  filter_box *b = lua_touserdata(L, 1);
  for (size_t i = 0; i < b->n; i++) cJSON_Delete(b->pods[i]);
  free(b->pods);
  free(b->messages);
  free(b->entries);
  free(b->text);
  memset(b, 0, sizeof *b);
  return 0;
}

/* The context of the DaemonSet lookup: the Lua state and the index of the set of the
 * DaemonSets that exist ("namespace/name" = true). */
typedef struct daemonset_set {
  lua_State *L;
  int idx;
} daemonset_set;

static int daemonset_in_set(void *ctx, const char *ns, const char *name) {
  daemonset_set *set = ctx;
  int found;
  if (set->idx == 0) return 0;
  lua_pushfstring(set->L, "%s/%s", ns, name);
  found = lua_rawget(set->L, set->idx) != LUA_TNIL && lua_toboolean(set->L, -1);
  lua_pop(set->L, 1);
  return found;
}

static const char *decision_name(vr_drain_decision d) {
  switch (d) {
  case VR_DRAIN_DELETE:
    return "delete";
  case VR_DRAIN_DELETE_WARN:
    return "delete_warn";
  case VR_DRAIN_SKIP:
    return "skip";
  case VR_DRAIN_SKIP_WARN:
    return "skip_warn";
  case VR_DRAIN_ERROR:
    return "error";
  }
  return "error";
}

/* A boolean option: absent is 0; another type raises kind usage. */
static int bool_option(lua_State *L, int opts, const char *name) {
  int t = lua_getfield(L, opts, name);
  int v = lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (t != LUA_TNIL && t != LUA_TBOOLEAN)
    vr_error_raise_for(L, "usage", NULL, "drain.filter: option %s must be a boolean", name);
  return v;
}

/* A number option (>= 0): absent is 0; another type raises kind usage. */
static double number_option(lua_State *L, int opts, const char *name) {
  int t = lua_getfield(L, opts, name);
  double v = lua_tonumber(L, -1);
  lua_pop(L, 1);
  if (t != LUA_TNIL && (t != LUA_TNUMBER || !(v >= 0)))
    vr_error_raise_for(L, "usage", NULL, "drain.filter: option %s must be a number >= 0", name);
  return t == LUA_TNIL ? 0 : v;
}

/* drain.filter(pods, opts) -> decisions, errors, warnings
 * Runs kubectl drain's filters (skip-deleted, DaemonSet, mirror, local storage, unreplicated,
 * in that order) over pods (a list of Pod objects). opts: force, ignore_daemonsets,
 * delete_emptydir_data, keep_finished (booleans; keep_finished, not kubectl's, skips Succeeded
 * and Failed pods with the message "finished (<phase>)"), skip_wait_for_delete_timeout (seconds;
 * 0: off), now
 * (seconds since the epoch, for that timeout), daemonsets (a set {["ns/name"] = true} of the
 * DaemonSets that exist). decisions[i] = {decision = "delete" | "delete_warn" | "skip" |
 * "skip_warn" | "error", message = kubectl's text or nil}; errors and warnings are kubectl's
 * summaries ("cannot delete <message>: ns/a, ns/b", "<message>: ns/a; ...") or "".
 * Raises kind "usage" for arguments of the wrong type, "input" for a pod that is not a
 * Kubernetes object (the message says which). */
static int l_filter(lua_State *L) {
  filter_box *b;
  vr_drain_options o;
  daemonset_set set = {L, 0};
  size_t n, need;
  lua_settop(L, 2);
  luaL_checktype(L, 1, LUA_TTABLE);
  if (lua_isnil(L, 2)) {
    lua_newtable(L);
    lua_replace(L, 2);
  }
  luaL_checktype(L, 2, LUA_TTABLE);
  memset(&o, 0, sizeof o);
  o.force = bool_option(L, 2, "force");
  o.ignore_daemonsets = bool_option(L, 2, "ignore_daemonsets");
  o.delete_emptydir_data = bool_option(L, 2, "delete_emptydir_data");
  o.skip_wait_for_delete_timeout_s = (long long)number_option(L, 2, "skip_wait_for_delete_timeout");
  o.keep_finished = bool_option(L, 2, "keep_finished");
  o.now_ms = (uint64_t)(number_option(L, 2, "now") * 1000.0);
  lua_getfield(L, 2, "daemonsets"); /* 3 */
  if (lua_istable(L, 3)) {
    set.idx = 3;
  } else if (!lua_isnil(L, 3)) {
    return vr_error_raise_for(L, "usage", NULL,
                              "drain.filter: option daemonsets must be a set of \"ns/name\"");
  }
  o.daemonset_exists = daemonset_in_set;
  o.ctx = &set;

  n = lua_rawlen(L, 1);
  b = vr_push_gc_userdata(L, sizeof *b, &filter_box_key, filter_box_gc); /* 4 */
  b->pods = calloc(n + 1, sizeof *b->pods);
  b->messages = calloc(n + 1, sizeof *b->messages);
  b->entries = calloc(n + 1, sizeof *b->entries);
  if (b->pods == NULL || b->messages == NULL || b->entries == NULL)
    return luaL_error(L, "drain.filter: out of memory");
  lua_createtable(L, (int)n, 0); /* 5: decisions */
  for (size_t i = 0; i < n; i++) {
    vr_codec_error err;
    cJSON *pod;
    const cJSON *meta;
    lua_rawgeti(L, 1, (lua_Integer)i + 1);
    if (!lua_istable(L, -1))
      return vr_error_raise_for(L, "input", NULL, "drain.filter: pod %zu is not a table", i + 1);
    pod = vr_json_to_cjson(L, lua_gettop(L), &err);
    lua_pop(L, 1);
    if (pod == NULL)
      return vr_error_raise_for(L, "input", NULL, "drain.filter: pod %zu: %s", i + 1, err.message);
    b->pods[i] = pod;
    b->n = i + 1;
    meta = cJSON_GetObjectItemCaseSensitive(pod, "metadata");
    b->entries[i].ns = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "namespace"));
    b->entries[i].name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "name"));
    if (b->entries[i].name == NULL)
      return vr_error_raise_for(L, "input", NULL, "drain.filter: pod %zu has no metadata.name",
                                i + 1);
    if (b->entries[i].ns == NULL) b->entries[i].ns = "default";
    b->entries[i].decision = vr_drain_filter(pod, &o, b->messages[i], VR_DRAIN_MSG_MAX);
    b->entries[i].message = b->messages[i];
    lua_createtable(L, 0, 2);
    lua_pushstring(L, decision_name(b->entries[i].decision));
    lua_setfield(L, -2, "decision");
    if (b->messages[i][0] != '\0') {
      lua_pushstring(L, b->messages[i]);
      lua_setfield(L, -2, "message");
    }
    lua_rawseti(L, 5, (lua_Integer)i + 1);
  }
  need = vr_drain_errors(b->entries, n, NULL, 0);
  {
    size_t need_w = vr_drain_warnings(b->entries, n, NULL, 0);
    if (need_w > need) need = need_w;
  }
  b->text = malloc(need + 1);
  if (b->text == NULL) return luaL_error(L, "drain.filter: out of memory");
  vr_drain_errors(b->entries, n, b->text, need + 1);
  lua_pushstring(L, b->text);
  vr_drain_warnings(b->entries, n, b->text, need + 1);
  lua_pushstring(L, b->text);
  return 3;
}

static const luaL_Reg drain_core_funcs[] = {
    {"filter", l_filter},
    {NULL, NULL},
};

int luaopen_vmrun_drain_core(lua_State *L) {
  luaL_newlib(L, drain_core_funcs);
  return 1;
}
