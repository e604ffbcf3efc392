/* host.c: the vmrun host (vmrun.h): the Lua state with a limited allocator, the standard
 * libraries with vmrun's guardrails (no shell, undefined-global errors, warned global
 * assignment, os.exit that still runs cleanup), the preloaded C and embedded Lua modules, lazy
 * globals, and running a playbook as task 0 on the libuv loop, after connecting to a real
 * cluster, or copying one into the simulator for a rehearsal, when the config names one.
 * Modelled on lua.c: every Lua call runs protected, the loop included. */
#include "vmrun.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "args.h"
#include "clock.h"
#include "codec.h"
#include "embedded.h"
#include "bindings.h"
#include "errors.h"
#include "journal.h"
#include "json_pool.h"
#include "log.h"
#include "luaval.h"
#include "modules.h"
#include "scheduler.h"

#define MEMORY_RESERVE (1u << 20) /* lets error handling run after the limit was hit */

typedef struct host_memory {
  size_t used;
  size_t limit; /* 0: none */
  int over;     /* the limit was hit: the reserve is open until usage drops below the limit */
} host_memory;

struct vr_host {
  vr_host_config cfg;
  char *dev_runtime;
  char *cluster_file, *default_cluster;
  char *progname;
  uv_loop_t loop;
  vr_clock *clock;
  vr_sched *sched;
  vr_log log;
  lua_State *L;
  host_memory mem;
  int ran;
};

static const char lazy_globals_key = 'g';

const char *vr_version(void) {
  return VMRUN_VERSION;
}

void vr_host_config_init(vr_host_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->progname = "vmrun";
  cfg->log_level = VR_LOG_INFO;
}

/* Lua's allocator: the memory limit, then the small-block pool when main installed it (a
 * playbook that reads cluster objects makes millions of small tables and strings), else malloc. */
static void *host_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  host_memory *m = ud;
  size_t old = ptr ? osize : 0;
  void *n;
  if (nsize == 0) {
    vr_json_pool_free(ptr);
    m->used -= old;
    if (m->over && m->used < m->limit) m->over = 0;
    return NULL;
  }
  if (m->limit && nsize > old) {
    size_t cap = m->limit + (m->over ? MEMORY_RESERVE : 0);
    if (m->used - old + nsize > cap) {
      m->over = 1;
      return NULL; /* Lua raises "not enough memory" */
    }
  }
  if (vr_json_pool_installed()) {
    n = vr_json_pool_realloc(ptr, old, nsize);
  } else {
    n = realloc(ptr, nsize);
  }
  if (n == NULL) return NULL;
  m->used = m->used - old + nsize;
  return n;
}

static int host_panic(lua_State *L) {
  const char *msg = lua_tostring(L, -1);
  fprintf(stderr, "vmrun: unprotected Lua error (this is a bug in vmrun): %s\n",
          msg ? msg : "(not a string)");
  return 0; /* Lua aborts */
}

/* --- guardrails ------------------------------------------------------------------------------ */

/* os.execute / io.popen replacement: raises, pointing at exec.run. */
static int no_shell(lua_State *L) {
  return vr_error_raise(L, "usage",
                        "%s is not available in vmrun: run host commands with "
                        "exec.run{\"prog\", \"arg\", ...} (an argv array, never a "
                        "shell string)",
                        lua_tostring(L, lua_upvalueindex(1)));
}

/* os.exit([code]) -> does not return. Raises vmrun.Error{kind="exit", status=code}, so that
 * cleanup (<close>, pcall) runs and every other task is cancelled before vmrun exits. */
static int os_exit_graceful(lua_State *L) {
  lua_Integer code = 0;
  if (lua_isboolean(L, 1)) {
    code = lua_toboolean(L, 1) ? 0 : 1;
  } else if (!lua_isnoneornil(L, 1)) {
    code = luaL_checkinteger(L, 1);
  }
  vr_error_push(L, "exit", "os.exit(%d)", (int)code);
  vr_error_set_integer(L, "status", code);
  return lua_error(L);
}

/* Finds a near name among the keys of the table at idx; pushes it or nothing. */
static int push_near_name(lua_State *L, int idx, const char *name, int best) {
  int found = 0;
  idx = lua_absindex(L, idx);
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    lua_pop(L, 1);
    if (lua_type(L, -1) == LUA_TSTRING) {
      int d = vr_edit_distance(name, lua_tostring(L, -1), 0);
      if (d < best) {
        best = d;
        if (found) lua_remove(L, -2);
        lua_pushvalue(L, -1);
        lua_insert(L, -2);
        found = 1;
      }
    }
  }
  return found ? best : -1;
}

/* _G.__index(t, name): loads a lazy global (json, task, ...) on first use, or raises
 * "undefined global 'name'" with a "did you mean" hint. */
static int global_index(lua_State *L) {
  const char *name;
  if (lua_type(L, 2) != LUA_TSTRING) return 0;
  name = lua_tostring(L, 2);
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) == LUA_TSTRING) { /* a lazy module global */
    lua_getglobal(L, "require");
    lua_pushvalue(L, -2);
    lua_call(L, 1, 1);
    lua_pushvalue(L, 2);
    lua_pushvalue(L, -2);
    lua_rawset(L, 1);
    return 1;
  }
  lua_pop(L, 1);
  {
    int d1 = push_near_name(L, lua_upvalueindex(1), name, 3);
    int d2 = push_near_name(L, 1, name, d1 > 0 ? d1 : 3);
    if (d2 > 0)
      return luaL_error(L, "undefined global '%s' (did you mean '%s'?)", name, lua_tostring(L, -1));
    if (d1 > 0)
      return luaL_error(L, "undefined global '%s' (did you mean '%s'?)", name,
                        lua_tostring(L, d2 > 0 ? -2 : -1));
  }
  return luaL_error(L, "undefined global '%s'", name);
}

/* _G.__newindex(t, name, value): sets the global and warns once per name. */
static int global_newindex(lua_State *L) {
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) == LUA_TNIL && lua_type(L, 2) == LUA_TSTRING) {
    vr_log *log = vr_log_of(L);
    lua_Debug ar;
    char where[256] = "";
    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "Sl", &ar) && ar.currentline > 0) {
      snprintf(where, sizeof where, "%s:%d: ", ar.short_src, ar.currentline);
    }
    vr_logf(log, VR_LOG_WARN,
            "%snew global '%s' (declare it local, or use vmrun.global('%s', value) to make a "
            "global on purpose)",
            where, lua_tostring(L, 2), lua_tostring(L, 2));
    lua_pushvalue(L, 2);
    lua_pushboolean(L, 1);
    lua_rawset(L, lua_upvalueindex(1));
  }
  lua_settop(L, 3);
  lua_rawset(L, 1);
  return 0;
}

static void install_global_guard(lua_State *L) {
  lua_pushglobaltable(L);
  lua_createtable(L, 0, 2); /* stack: _G, mt */
  lua_rawgetp(L, LUA_REGISTRYINDEX, &lazy_globals_key);
  lua_pushcclosure(L, global_index, 1);
  lua_setfield(L, -2, "__index");
  lua_newtable(L); /* names already warned about */
  lua_pushcclosure(L, global_newindex, 1);
  lua_setfield(L, -2, "__newindex");
  lua_setmetatable(L, -2);
  lua_pop(L, 1);
}

/* --- modules --------------------------------------------------------------------------------- */

/* package.preload loader of an embedded stdlib-lua module (upvalue: its index). */
static int embedded_loader(lua_State *L) {
  const vr_embedded_module *m = &vr_embedded_modules[lua_tointeger(L, lua_upvalueindex(1))];
  char chunkname[512];
  snprintf(chunkname, sizeof chunkname, "@%s", m->path);
  if (luaL_loadbufferx(L, m->source, m->length, chunkname, "t") != LUA_OK) return lua_error(L);
  lua_pushstring(L, m->name);
  lua_call(L, 1, 1);
  return 1;
}

/* package.searchers entry for --dev-runtime DIR (upvalue: DIR): DIR/a/b.lua or DIR/a/b/init.lua */
static int dev_runtime_searcher(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  const char *dir = lua_tostring(L, lua_upvalueindex(1));
  const char *suffixes[] = {".lua", "/init.lua"};
  char rel[512];
  size_t i;
  int k;
  for (i = 0; i < sizeof rel - 1 && name[i]; i++) rel[i] = name[i] == '.' ? '/' : name[i];
  rel[i] = '\0';
  for (k = 0; k < 2; k++) {
    const char *path = lua_pushfstring(L, "%s/%s%s", dir, rel, suffixes[k]);
    FILE *f = fopen(path, "r");
    if (f != NULL) {
      fclose(f);
      if (luaL_loadfilex(L, path, "t") != LUA_OK) return lua_error(L);
      lua_pushstring(L, path);
      return 2;
    }
    lua_pop(L, 1);
  }
  lua_pushfstring(L, "no file '%s/%s.lua' (--dev-runtime)", dir, rel);
  return 1;
}

static void set_preload(lua_State *L, const char *name, lua_CFunction open) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, open);
  lua_setfield(L, -2, name);
  lua_pop(L, 1);
}

static void set_lazy_global(lua_State *L, const char *global, const char *module) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &lazy_globals_key);
  lua_pushstring(L, module);
  lua_setfield(L, -2, global);
  lua_pop(L, 1);
}

/* Bootstraps the state (runs protected). */
static int host_boot(lua_State *L) {
  vr_host *h = lua_touserdata(L, 1);
  size_t i;
  luaL_checkversion(L);
  lua_gc(L, LUA_GCSTOP);
  luaL_openlibs(L);
  vr_error_init(L);
  vr_log_attach(L, &h->log);

  /* no shell strings; os.exit runs cleanup */
  lua_getglobal(L, "os");
  lua_pushliteral(L, "os.execute");
  lua_pushcclosure(L, no_shell, 1);
  lua_setfield(L, -2, "execute");
  lua_pushcfunction(L, os_exit_graceful);
  lua_setfield(L, -2, "exit");
  lua_pop(L, 1);
  lua_getglobal(L, "io");
  lua_pushliteral(L, "io.popen");
  lua_pushcclosure(L, no_shell, 1);
  lua_setfield(L, -2, "popen");
  lua_pop(L, 1);

  lua_newtable(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &lazy_globals_key);
  for (i = 0; vr_builtin_modules[i].name != NULL; i++) {
    set_preload(L, vr_builtin_modules[i].name, vr_builtin_modules[i].open);
    if (vr_builtin_modules[i].global) {
      set_lazy_global(L, vr_builtin_modules[i].global, vr_builtin_modules[i].name);
    }
  }
  for (i = 0; vr_lua_globals[i].global != NULL; i++) {
    set_lazy_global(L, vr_lua_globals[i].global, vr_lua_globals[i].module);
  }
  if (h->dev_runtime) {
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "searchers");
    lua_pushstring(L, h->dev_runtime);
    lua_pushcclosure(L, dev_runtime_searcher, 1);
    for (i = lua_rawlen(L, -2) + 1; i > 2; i--) {
      lua_rawgeti(L, -2, (lua_Integer)i - 1);
      lua_rawseti(L, -3, (lua_Integer)i);
    }
    lua_rawseti(L, -2, 2);
    lua_pop(L, 2);
  } else {
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    for (i = 0; i < vr_embedded_module_count; i++) {
      lua_pushinteger(L, (lua_Integer)i);
      lua_pushcclosure(L, embedded_loader, 1);
      lua_setfield(L, -2, vr_embedded_modules[i].name);
    }
    lua_pop(L, 1);
  }
  install_global_guard(L);
  lua_gc(L, LUA_GCRESTART);
  /* generational, with a major collection once the heap grew by half (Lua's default: doubled) and
   * a minor one after 10 % (default 20 %): a playbook over a large cluster makes many objects
   * into short-lived tables, and the pool allocator keeps what the heap once reached (the
   * 1,000-node rolling maintenance peaks about 50 MB lower, at the same speed) */
  lua_gc(L, LUA_GCGEN, 10, 50);
  return 0;
}

static int report_pcall(vr_host *h, lua_State *L, int status, const char *what) {
  const char *msg = lua_tostring(L, -1);
  if (status == LUA_OK) return 0;
  fprintf(stderr, "%s: %s: %s\n", h->progname, what, msg ? msg : "(error object is not a string)");
  lua_pop(L, 1);
  return -1;
}

vr_host *vr_host_new(const vr_host_config *cfg) {
  vr_host *h = calloc(1, sizeof *h);
  int status;
  if (h == NULL) {
    fprintf(stderr, "vmrun: out of memory\n");
    return NULL;
  }
  h->cfg = *cfg;
  h->progname = strdup(cfg->progname ? cfg->progname : "vmrun");
  h->dev_runtime = cfg->dev_runtime ? strdup(cfg->dev_runtime) : NULL;
  h->cluster_file = cfg->cluster_file ? strdup(cfg->cluster_file) : NULL;
  h->default_cluster = cfg->default_cluster ? strdup(cfg->default_cluster) : NULL;
  h->mem.limit = cfg->max_memory;
  if (uv_loop_init(&h->loop) != 0) {
    fprintf(stderr, "vmrun: cannot create the event loop\n");
    free(h->progname);
    free(h->dev_runtime);
    free(h->cluster_file);
    free(h->default_cluster);
    free(h);
    return NULL;
  }
  h->clock = vr_clock_new(&h->loop, !cfg->real_time, 0);
  vr_log_init(&h->log, cfg->log_level, cfg->log_json, h->clock);
  h->L = lua_newstate(host_alloc, &h->mem);
  if (h->clock == NULL || h->L == NULL) {
    fprintf(stderr, "vmrun: cannot create the Lua state\n");
    vr_host_free(h);
    return NULL;
  }
  lua_atpanic(h->L, host_panic);
  lua_pushcfunction(h->L, host_boot);
  lua_pushlightuserdata(h->L, h);
  status = lua_pcall(h->L, 1, 0, 0);
  if (report_pcall(h, h->L, status, "cannot start the runtime") != 0) {
    vr_host_free(h);
    return NULL;
  }
  h->sched = vr_sched_new(h->L, &h->loop, h->clock);
  if (h->sched == NULL) {
    fprintf(stderr, "vmrun: cannot create the scheduler\n");
    vr_host_free(h);
    return NULL;
  }
  if (cfg->handle_signals) vr_sched_handle_signals(h->sched);
  return h;
}

lua_State *vr_host_lua(vr_host *h) {
  return h->L;
}

typedef struct register_args {
  const char *name;
  lua_CFunction open;
  const char *global;
} register_args;

static int host_register(lua_State *L) {
  register_args *a = lua_touserdata(L, 1);
  set_preload(L, a->name, a->open);
  if (a->global) set_lazy_global(L, a->global, a->name);
  return 0;
}

int vr_host_register_module(vr_host *h, const char *name, lua_CFunction open, const char *global) {
  register_args a;
  a.name = name;
  a.open = open;
  a.global = global;
  lua_pushcfunction(h->L, host_register);
  lua_pushlightuserdata(h->L, &a);
  return report_pcall(h, h->L, lua_pcall(h->L, 1, 0, 0), "cannot register a module");
}

/* --- running ---------------------------------------------------------------------------------- */

typedef struct run_args {
  vr_host *h;
  const char *path;      /* file to run, or NULL */
  const char *code;      /* code to run when path is NULL */
  const char *chunkname; /* for code */
  int argc;
  char **argv;
  int specs; /* `vmrun test`: no default cluster (each spec loads its own) */
  int exit_code;
} run_args;

/* Simulates the cluster file at index 1 (the --cluster option), logging what it holds. */
static int load_cluster_option(lua_State *L) {
  vr_lua_sim_load(L, lua_tostring(L, 1), "cluster");
  return 0;
}

/* Prepends the playbook's folder (and its lib/) to package.path. */
/* Lua shortens a chunk name longer than LUA_IDSIZE to "...<tail>" in the messages it makes; a
 * message about a file the host loaded should name the whole path, so the "...<tail>" prefix of
 * the message at the top of the stack is put back to `path` when `path` ends with that tail. */
static void restore_full_path(lua_State *L, const char *path) {
  const char *msg = lua_tostring(L, -1);
  const char *colon;
  size_t tail_len, path_len = strlen(path);
  if (msg == NULL || strncmp(msg, "...", 3) != 0 || (colon = strchr(msg + 3, ':')) == NULL) return;
  tail_len = (size_t)(colon - (msg + 3));
  if (tail_len > path_len || memcmp(path + path_len - tail_len, msg + 3, tail_len) != 0) return;
  lua_pushfstring(L, "%s%s", path, colon);
  lua_replace(L, -2);
}

static void set_package_path(lua_State *L, const char *path) {
  const char *slash = strrchr(path, '/');
  lua_getglobal(L, "package");
  if (slash != NULL) {
    lua_pushlstring(L, path, (size_t)(slash - path));
  } else {
    lua_pushliteral(L, ".");
  }
  lua_getfield(L, -2, "path");
  lua_pushfstring(L, "%s/?.lua;%s/lib/?.lua;%s", lua_tostring(L, -2), lua_tostring(L, -2),
                  lua_tostring(L, -1));
  lua_setfield(L, -4, "path");
  lua_pop(L, 3);
}

/* The registry's VR_RUN_INFO_KEY table: this run for its journal (vmrun.journal.core.run). */
static void set_run_info(lua_State *L, const vr_host *h, const run_args *a) {
  char id[VR_RUN_ID_MAX], cwd[4096];
  int i;
  lua_createtable(L, 0, 6);
  if (h->cfg.resume_run != NULL)
    snprintf(id, sizeof id, "%s", h->cfg.resume_run);
  else if (h->cfg.run_id != NULL)
    snprintf(id, sizeof id, "%s", h->cfg.run_id);
  else
    vr_run_id_new(id);
  lua_pushstring(L, id);
  lua_setfield(L, -2, "id");
  lua_pushboolean(L, h->cfg.resume_run != NULL);
  lua_setfield(L, -2, "resuming");
  if (h->cfg.state_dir != NULL) {
    lua_pushstring(L, h->cfg.state_dir);
    lua_setfield(L, -2, "state_dir");
  }
  if (h->cfg.run_id != NULL) { /* named by the caller: its journal must be new */
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "named");
  }
  if (h->cfg.retry_failed && h->cfg.resume_run != NULL) {
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "retry_failed");
  }
  if (h->cfg.window_end != 0) { /* the window's end on the wall clock (seconds since the epoch) */
    lua_pushinteger(L, (lua_Integer)h->cfg.window_end);
    lua_setfield(L, -2, "window_end");
  }
  if (a->path != NULL && strcmp(a->path, "-") != 0) {
    char *full = realpath(a->path, NULL);
    lua_pushstring(L, full ? full : a->path);
    lua_setfield(L, -2, "playbook");
    free(full);
  }
  if (getcwd(cwd, sizeof cwd) != NULL) {
    lua_pushstring(L, cwd);
    lua_setfield(L, -2, "cwd");
  }
  lua_pushinteger(L, (lua_Integer)getpid());
  lua_setfield(L, -2, "pid");
  if (gethostname(cwd, sizeof cwd) == 0) {
    cwd[sizeof cwd - 1] = '\0';
    lua_pushstring(L, cwd);
    lua_setfield(L, -2, "host");
  }
  /* the arguments before the playbook: vmrun's own options (for `vmrun undo`) */
  lua_createtable(L, h->cfg.host_argc > 1 ? h->cfg.host_argc - 1 : 0, 0);
  for (i = 1; i < h->cfg.host_argc; i++) {
    lua_pushstring(L, h->cfg.host_argv[i]);
    lua_rawseti(L, -2, i);
  }
  lua_setfield(L, -2, "options");
  lua_createtable(L, h->cfg.run_argc, 0);
  for (i = 0; i < h->cfg.run_argc; i++) {
    lua_pushstring(L, h->cfg.run_argv[i]);
    lua_rawseti(L, -2, i + 1);
  }
  lua_setfield(L, -2, "argv");
  lua_setfield(L, LUA_REGISTRYINDEX, VR_RUN_INFO_KEY);
}

static int host_run(lua_State *L) {
  run_args *a = lua_touserdata(L, 1);
  vr_host *h = a->h;
  int status, i;
  char where[512];
  lua_settop(L, 0);
  /* arg: the script at 0, its arguments at 1..n, the host's own arguments below 0 */
  lua_createtable(L, a->argc, h->cfg.host_argc + 1);
  for (i = 0; i < h->cfg.host_argc; i++) {
    lua_pushstring(L, h->cfg.host_argv[i]);
    lua_rawseti(L, -2, i - h->cfg.host_argc);
  }
  lua_pushstring(L, a->path ? a->path : "-e");
  lua_rawseti(L, -2, 0);
  for (i = 0; i < a->argc; i++) {
    lua_pushstring(L, a->argv[i]);
    lua_rawseti(L, -2, i + 1);
  }
  lua_pushglobaltable(L); /* rawset: the global guard would warn about a new global */
  lua_pushliteral(L, "arg");
  lua_pushvalue(L, -3);
  lua_rawset(L, -3);
  lua_pop(L, 2);
  set_run_info(L, h, a);
  if (h->cfg.timeout > 0) { /* the whole run: connecting to a cluster included */
    char label[64];
    snprintf(label, sizeof label, "--timeout %gs", h->cfg.timeout);
    vr_sched_set_timeout(h->sched, h->cfg.timeout, label);
  }
  if (h->cfg.kubeconfig || h->cfg.context || h->cfg.namespace_ || h->cfg.in_cluster) {
    /* a real cluster: connected and read before the playbook (or, rehearsing, copied into the
     * simulator and disconnected), or exit 2 */
    vr_remote_options opt;
    memset(&opt, 0, sizeof opt);
    opt.kubeconfig = h->cfg.kubeconfig;
    opt.context = h->cfg.context;
    opt.namespace_ = h->cfg.namespace_;
    opt.in_cluster = h->cfg.in_cluster;
    opt.rehearse = h->cfg.rehearse;
    opt.seed = 1;
    /* a rehearsal: read into the simulator, the connection closed before the playbook */
    lua_pushcfunction(L, h->cfg.rehearse ? vr_lua_sim_rehearse : vr_lua_remote_connect);
    lua_pushlightuserdata(L, &opt);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
      int stopping = vr_sched_stop_code(h->sched); /* interrupted or timed out while connecting */
      fprintf(stderr, "%s: %s\n", h->progname, luaL_tolstring(L, -1, NULL));
      lua_pop(L, 2);
      a->exit_code = stopping >= 0 ? stopping : VR_EXIT_USAGE;
      return 0;
    }
  } else if (h->cluster_file != NULL) { /* --cluster FILE: loaded before the playbook, or exit 2 */
    lua_pushcfunction(L, load_cluster_option);
    lua_pushstring(L, h->cluster_file);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
      fprintf(stderr, "%s: %s\n", h->progname, luaL_tolstring(L, -1, NULL));
      lua_pop(L, 2);
      a->exit_code = VR_EXIT_USAGE;
      return 0;
    }
  } else if (h->default_cluster != NULL && !a->specs) {
    lua_pushstring(L, h->default_cluster);
    lua_setfield(L, LUA_REGISTRYINDEX, VR_DEFAULT_CLUSTER_KEY);
  }
  if (a->path) {
    int from_stdin = strcmp(a->path, "-") == 0;
    set_package_path(L, from_stdin ? "./-" : a->path);
    status = luaL_loadfilex(L, from_stdin ? NULL : a->path, "t"); /* "-": the playbook on stdin */
    if (status == LUA_ERRFILE) {
      const char *msg = lua_tostring(L, -1);
      if (strncmp(msg, "cannot open ", 12) == 0) msg += 12;
      fprintf(stderr, "%s: cannot open playbook %s\n", h->progname, msg);
      a->exit_code = VR_EXIT_USAGE;
      return 0;
    }
  } else {
    status = luaL_loadbufferx(L, a->code, strlen(a->code), a->chunkname, "t");
  }
  if (status != LUA_OK) {
    if (a->path && strcmp(a->path, "-") != 0) restore_full_path(L, a->path);
    fprintf(stderr, "%s: %s\n", h->progname, lua_tostring(L, -1));
    a->exit_code = VR_EXIT_USAGE;
    return 0;
  }
  luaL_checkstack(L, a->argc + 2, "too many arguments");
  for (i = 0; i < a->argc; i++) lua_pushstring(L, a->argv[i]);
  snprintf(where, sizeof where, "%s", a->path ? a->path : "(command line)");
  {
    vr_task *t = vr_task_spawn(L, a->argc, where);
    if (t == NULL) return lua_error(L);
    vr_task_unref(t); /* the scheduler keeps it while it runs */
  }
  a->exit_code = vr_sched_run(h->sched, h->progname);
  return 0;
}

static int run(vr_host *h, run_args *a) {
  int status;
  if (h->ran) {
    fprintf(stderr, "%s: a host runs one playbook; create a new host for another\n", h->progname);
    return VR_EXIT_USAGE;
  }
  h->ran = 1;
  a->h = h;
  a->exit_code = VR_EXIT_FAILED;
  lua_pushcfunction(h->L, host_run);
  lua_pushlightuserdata(h->L, a);
  status = lua_pcall(h->L, 1, 0, 0);
  if (status != LUA_OK) {
    const char *msg = lua_tostring(h->L, -1);
    fprintf(stderr, "%s: %s\n", h->progname,
            status == LUA_ERRMEM ? "not enough memory (--max-memory)"
                                 : (msg ? msg : "internal error"));
    lua_pop(h->L, 1);
    return VR_EXIT_FAILED;
  }
  return a->exit_code;
}

int vr_host_run_file(vr_host *h, const char *path, int argc, char **argv) {
  run_args a;
  memset(&a, 0, sizeof a);
  a.path = path;
  a.argc = argc;
  a.argv = argv;
  return run(h, &a);
}

int vr_host_run_string(vr_host *h, const char *code, const char *chunkname, int argc, char **argv) {
  run_args a;
  memset(&a, 0, sizeof a);
  a.code = code;
  a.chunkname = chunkname ? chunkname : "=(command line)";
  a.argc = argc;
  a.argv = argv;
  return run(h, &a);
}

int vr_host_run_specs(vr_host *h, int nfiles, char **files) {
  run_args a;
  memset(&a, 0, sizeof a);
  a.code = "return require('vmrun.testing').run_files(...)";
  a.chunkname = "=vmrun test";
  a.argc = nfiles;
  a.argv = files;
  a.specs = 1;
  return run(h, &a);
}

static void close_walk(uv_handle_t *handle, void *arg) {
  (void)arg;
  if (!uv_is_closing(handle)) uv_close(handle, NULL);
}

void vr_host_free(vr_host *h) {
  if (h == NULL) return;
  vr_log_status(&h->log, NULL); /* the terminal's status line goes with the run */
  if (h->sched) vr_sched_free(h->sched);
  if (h->L) lua_close(h->L);
  if (h->clock) vr_clock_free(h->clock);
  uv_run(&h->loop, UV_RUN_NOWAIT);     /* close callbacks of what was closed cleanly */
  uv_walk(&h->loop, close_walk, NULL); /* handles left by abandoned work */
  uv_run(&h->loop, UV_RUN_DEFAULT);
  uv_loop_close(&h->loop);
  free(h->progname);
  free(h->dev_runtime);
  free(h->cluster_file);
  free(h->default_cluster);
  free(h);
}
