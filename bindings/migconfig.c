/* migconfig.c: vmrun.migconfig, the effective KubeVirt live-migration settings
 * (runtime/migration_config.h) for Lua: stdlib-lua/vmrun/cluster.lua reads the KubeVirt and
 * HyperConverged CRs and the MigrationPolicies through the cluster interface and passes them
 * here, so that cluster.migration_limits works the same on any backend. Reads its arguments
 * only; no I/O. Raises vmrun.Errors with the caller's file:line. */
#include <cjson/cJSON.h>
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "bindings.h"
#include "codec.h"
#include "errors.h"
#include "luaval.h"
#include "migration_config.h"

#define MAX_POLICIES 4096

/* The cJSON trees made from the arguments (freed by __gc when a Lua error unwinds). */
typedef struct tree_box {
  cJSON *kubevirt, *hyperconverged, *vmi, *ns;
  cJSON **policies;
  size_t npolicies;
  cJSON *result;
} tree_box;

static const char tree_box_key = 't';

static int tree_box_gc(lua_State *L) {
  tree_box *b = lua_touserdata(L, 1);
  cJSON_Delete(b->kubevirt);
  cJSON_Delete(b->hyperconverged);
  cJSON_Delete(b->vmi);
  cJSON_Delete(b->ns);
  cJSON_Delete(b->result);
  for (size_t i = 0; i < b->npolicies; i++) cJSON_Delete(b->policies[i]);
  free(b->policies);
  memset(b, 0, sizeof *b);
  return 0;
}

/* The table at idx as cJSON, or NULL for nil; raises kind usage for another type. */
static cJSON *tree_at(lua_State *L, int idx, const char *what) {
  vr_codec_error err;
  cJSON *tree;
  if (lua_isnoneornil(L, idx)) return NULL;
  if (!lua_istable(L, idx)) {
    luaL_where(L, 1);
    vr_error_push(L, "usage", "%smigconfig.effective: %s must be a table or nil",
                  lua_tostring(L, -1), what);
    lua_error(L);
  }
  tree = vr_json_to_cjson(L, idx, &err);
  if (tree == NULL) {
    luaL_where(L, 1);
    vr_error_push(L, "input", "%smigconfig.effective: %s: %s", lua_tostring(L, -1), what,
                  err.message);
    lua_error(L);
  }
  return tree;
}

/* migconfig.effective(kubevirt, hyperconverged, policies, vmi, namespace) -> settings
 * The effective settings: {<jsonName> = {value=, source=}, ..., kubevirtVersion=,
 * hyperConvergedVersion=, migrationPolicy=} (vr_migration_config_to_json's shape; an unset value
 * is vmrun.null). kubevirt and hyperconverged are the CRs or nil; with vmi (a VMI or nil), the
 * settings that VMI migrates with: policies (a list of MigrationPolicy objects) and namespace
 * (the VMI's Namespace object or nil) choose its MigrationPolicy, and its own evictionStrategy
 * applies. Raises kind "input" when a CR or policy does not read (the message names the object
 * and field), "usage" for arguments of the wrong type. */
static int l_effective(lua_State *L) {
  tree_box *b;
  vr_migration_config cluster, out;
  char err[VR_MC_ERRLEN];
  size_t n = 0;
  lua_settop(L, 5);
  if (!lua_isnil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
  b = vr_push_gc_userdata(L, sizeof *b, &tree_box_key, tree_box_gc); /* 6 */
  b->kubevirt = tree_at(L, 1, "the KubeVirt CR");
  b->hyperconverged = tree_at(L, 2, "the HyperConverged CR");
  b->vmi = tree_at(L, 4, "the VMI");
  b->ns = tree_at(L, 5, "the namespace");
  if (!lua_isnil(L, 3)) {
    n = lua_rawlen(L, 3);
    if (n > MAX_POLICIES)
      return vr_error_raise_for(L, "input", NULL,
                                "migconfig.effective: %zu MigrationPolicies; at most %d are read",
                                n, MAX_POLICIES);
    b->policies = calloc(n + 1, sizeof *b->policies);
    if (b->policies == NULL) return luaL_error(L, "migconfig.effective: out of memory");
    for (size_t i = 0; i < n; i++) {
      lua_rawgeti(L, 3, (lua_Integer)i + 1);
      b->policies[i] = tree_at(L, lua_gettop(L), "a MigrationPolicy");
      b->npolicies = i + 1;
      lua_pop(L, 1);
    }
  }
  if (vr_migration_config_cluster(b->kubevirt, b->hyperconverged, &cluster, err, sizeof err) != 0 ||
      (b->vmi != NULL &&
       vr_migration_config_for_vmi(&cluster, (const cJSON *const *)b->policies, b->npolicies,
                                   b->vmi, b->ns, &out, err, sizeof err) != 0)) {
    luaL_where(L, 1);
    vr_error_push(L, "input", "%s%s", lua_tostring(L, -1), err);
    return lua_error(L);
  }
  b->result = vr_migration_config_to_json(b->vmi != NULL ? &out : &cluster);
  if (b->result == NULL) return luaL_error(L, "migconfig.effective: out of memory");
  vr_json_push_cjson(L, b->result);
  return 1;
}

/* migconfig.quantity(text [, scale]) -> integer | nil, message
 * A Kubernetes resource quantity ("8Gi", "1.5Gi", "1e9", "500m", "250M") in units of
 * 10^scale (scale 0, the default: whole units such as bytes; -3: milli-units such as
 * millicores), rounded as Kubernetes rounds. A number is taken as a quantity of whole units.
 * nil and a message for text that is not a quantity or does not fit 64 bits. Raises (plain
 * error) for a scale outside -9..18. */
static int l_quantity(lua_State *L) {
  char err[128];
  int64_t out;
  int scale = (int)luaL_optinteger(L, 2, 0);
  const char *text;
  luaL_argcheck(L, scale >= -9 && scale <= 18, 2, "scale must be in -9..18");
  if (lua_type(L, 1) == LUA_TNUMBER)
    lua_pushfstring(L, "%f", lua_tonumber(L, 1));
  else
    lua_pushvalue(L, 1);
  text = lua_tostring(L, -1);
  if (text == NULL) {
    lua_pushnil(L);
    lua_pushstring(L, "not a quantity");
    return 2;
  }
  if (vr_quantity_parse(text, scale, &out, err, sizeof err) != 0) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  lua_pushinteger(L, (lua_Integer)out);
  return 1;
}

static const luaL_Reg migconfig_funcs[] = {
    {"effective", l_effective},
    {"quantity", l_quantity},
    {NULL, NULL},
};

int luaopen_vmrun_migconfig(lua_State *L) {
  luaL_newlib(L, migconfig_funcs);
  return 1;
}
