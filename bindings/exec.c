/* exec.c: the `exec` module (vmrun.exec): host commands from argv arrays, never a shell string.
 * Glue over runtime/process.h and the scheduler; the waiting task yields while the command runs
 * in real time (even under the virtual clock). */
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "bindings.h"
#include "errors.h"
#include "process.h"
#include "scheduler.h"

#define EXEC_BOX_MT   "vmrun.exec.Request"
#define KILL_GRACE_MS 5000

/* Shared by the Lua side (the box, until the result is taken or the box is collected) and the
 * running process (until on_done): freed when both have let go. */
typedef struct exec_req {
  vr_op op;
  vr_process *proc;
  int finished;  /* the process exited and its output is drained */
  int cancelled; /* timed out or cancelled: the command is being stopped, nobody waits */
  int refs;
  char what[96]; /* "exec.run 'prog'" */
} exec_req;

typedef struct exec_box {
  exec_req *req; /* NULL once the Lua side let go */
} exec_box;

static void req_release(exec_req *r) {
  if (--r->refs > 0) return;
  vr_process_free(r->proc);
  free(r);
}

static void on_done(vr_process *p, void *data) {
  exec_req *r = data;
  (void)p;
  r->finished = 1;
  if (!r->cancelled) vr_op_complete(&r->op);
  req_release(r);
}

/* Timeout or cancellation: stop the command (on_done still comes, and lets go). */
static void exec_cancel(vr_op *op) {
  exec_req *r = (exec_req *)op;
  r->cancelled = 1;
  vr_process_terminate(r->proc, KILL_GRACE_MS);
}

static int box_gc(lua_State *L) {
  exec_box *b = luaL_checkudata(L, 1, EXEC_BOX_MT);
  exec_req *r = b->req;
  b->req = NULL;
  if (r == NULL) return 0;
  if (!r->finished && !r->cancelled) { /* the task went away while the command runs */
    r->cancelled = 1;
    vr_process_terminate(r->proc, KILL_GRACE_MS);
  }
  req_release(r);
  return 0;
}

static void push_result(lua_State *L, const vr_process_result *res) {
  lua_createtable(L, 0, 8);
  lua_pushboolean(L, res->exited && res->status == 0);
  lua_setfield(L, -2, "ok");
  if (res->exited) {
    lua_pushinteger(L, res->status);
    lua_setfield(L, -2, "status");
  } else {
    lua_pushinteger(L, res->term_signal);
    lua_setfield(L, -2, "signal");
  }
  lua_pushlstring(L, res->out, res->out_len);
  lua_setfield(L, -2, "stdout");
  lua_pushlstring(L, res->err, res->err_len);
  lua_setfield(L, -2, "stderr");
  lua_pushboolean(L, res->out_truncated || res->err_truncated);
  lua_setfield(L, -2, "truncated");
  lua_pushnumber(L, res->seconds);
  lua_setfield(L, -2, "seconds");
}

/* Stack during the wait: 1 the argument table, 2 the strings kept alive, 3 the box, 4 check. */
static int exec_k(lua_State *L, int status, lua_KContext ctx) {
  exec_box *b = luaL_checkudata(L, 3, EXEC_BOX_MT);
  exec_req *r = b->req;
  int check = lua_toboolean(L, 4);
  const vr_process_result *res;
  (void)status;
  (void)ctx;
  /* raises on a timeout or cancellation; the box keeps its reference until it is collected,
   * so that r outlives this frame whether or not the process has ended already */
  vr_op_finish(L, &r->op);
  res = vr_process_result_get(r->proc);
  push_result(L, res);
  if (check && !(res->exited && res->status == 0)) {
    size_t n = strcspn(res->err, "\n");
    lua_rawgeti(L, 1, 1);
    if (res->exited) {
      vr_error_push(L, "exec", "'%s' exited with status %d%s", lua_tostring(L, -1),
                    (int)res->status, n ? ": " : "");
    } else {
      vr_error_push(L, "exec", "'%s' was killed by signal %d%s", lua_tostring(L, -1),
                    res->term_signal, n ? ": " : "");
    }
    if (n) { /* the first line of stderr says why */
      lua_getfield(L, -1, "message");
      lua_pushlstring(L, res->err, n > 300 ? 300 : n);
      lua_concat(L, 2);
      lua_setfield(L, -2, "message");
    }
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, "resource");
    lua_pushinteger(L, res->exited ? res->status : 128 + res->term_signal);
    lua_setfield(L, -2, "status");
    lua_getfield(L, -3, "stdout");
    lua_setfield(L, -2, "stdout");
    lua_getfield(L, -3, "stderr");
    lua_setfield(L, -2, "stderr");
    b->req = NULL;
    req_release(r);
    return lua_error(L);
  }
  b->req = NULL;
  req_release(r);
  return 1;
}

/* exec.run{"prog", "arg", ..., timeout=, env=, cwd=, stdin=, check=} -> result
 * Runs prog (looked up in PATH) with the given arguments, no shell. result = {ok=, status= (exit
 * status) or signal=, stdout=, stderr=, truncated=, seconds=}; a non-zero exit is not an error
 * unless check=true. env adds variables to the inherited environment; stdin is text written to
 * the command's stdin (default: /dev/null). Raises: vmrun.Error kind "exec" when prog cannot be
 * started (or fails with check=true), "timeout" when it outlives timeout (it is sent SIGTERM,
 * then SIGKILL after 5s), "cancelled" when the task is cancelled (the command is stopped too);
 * misuse (no argv, non-string arguments, unknown options) raises with the caller's file:line. */
static int l_exec_run(lua_State *L) {
  static const char *const allowed[] = {"timeout", "env", "cwd", "stdin", "check", NULL};
  vr_process_spec spec;
  exec_req *r;
  exec_box *b;
  vr_sched *s = vr_sched_of(L);
  char err[256];
  double timeout = -1;
  int n, i, rc, check = 0;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  n = (int)lua_rawlen(L, 1);
  if (n == 0) return luaL_error(L, "exec.run needs an argv array, e.g. exec.run{\"ls\", \"-l\"}");
  lua_pushnil(L); /* option keys: everything that is not 1..n */
  while (lua_next(L, 1) != 0) {
    lua_pop(L, 1);
    if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1 && lua_tointeger(L, -1) <= n) continue;
    if (lua_type(L, -1) == LUA_TSTRING) {
      const char *k = lua_tostring(L, -1);
      int known = 0;
      for (i = 0; allowed[i]; i++) known |= strcmp(allowed[i], k) == 0;
      if (known) continue;
      return luaL_error(L,
                        "unknown option '%s' for exec.run (expected one of: timeout, env, cwd, "
                        "stdin, check)",
                        k);
    }
    return luaL_error(L, "exec.run: unexpected key %s in the argv table",
                      luaL_tolstring(L, -1, NULL));
  }
  lua_newtable(L); /* 2: keeps every string and buffer below alive during the wait */
  memset(&spec, 0, sizeof spec);
  spec.argv = lua_newuserdatauv(L, (size_t)(n + 1) * sizeof(char *), 0);
  lua_rawseti(L, 2, 1);
  for (i = 1; i <= n; i++) {
    int t = lua_rawgeti(L, 1, i);
    if (t != LUA_TSTRING && t != LUA_TNUMBER) {
      return luaL_error(L, "exec.run: argv[%d] is a %s; every argument must be a string", i,
                        lua_typename(L, t));
    }
    spec.argv[i - 1] = (char *)lua_tostring(L, -1); /* a number becomes a string on the stack */
    lua_rawseti(L, 2, i + 1);
  }
  spec.argv[n] = NULL;
  lua_getfield(L, 1, "timeout");
  timeout = vr_opt_duration(L, -1, "exec.run timeout", -1);
  lua_pop(L, 1);
  lua_getfield(L, 1, "check");
  check = lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (lua_getfield(L, 1, "cwd") != LUA_TNIL) {
    if (lua_type(L, -1) != LUA_TSTRING) return luaL_error(L, "exec.run: cwd must be a string");
    spec.cwd = lua_tostring(L, -1);
    lua_setfield(L, 2, "cwd");
  } else {
    lua_pop(L, 1);
  }
  if (lua_getfield(L, 1, "stdin") != LUA_TNIL) {
    if (lua_type(L, -1) != LUA_TSTRING) return luaL_error(L, "exec.run: stdin must be a string");
    spec.stdin_data = lua_tolstring(L, -1, &spec.stdin_len);
    lua_setfield(L, 2, "stdin");
  } else {
    lua_pop(L, 1);
  }
  if (lua_getfield(L, 1, "env") != LUA_TNIL) { /* 3: env */
    int count = 0, k = 0;
    if (lua_type(L, 3) != LUA_TTABLE) return luaL_error(L, "exec.run: env must be a table");
    lua_pushnil(L);
    while (lua_next(L, 3) != 0) {
      if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING ||
          strchr(lua_tostring(L, -2), '=') != NULL || lua_tostring(L, -2)[0] == '\0') {
        return luaL_error(L, "exec.run: env must map variable names to string values");
      }
      lua_pop(L, 1);
      count++;
    }
    spec.env_add = lua_newuserdatauv(L, (size_t)(count + 1) * sizeof(char *), 0);
    lua_setfield(L, 2, "env");
    lua_pushnil(L);
    while (lua_next(L, 3) != 0) {
      lua_pushfstring(L, "%s=%s", lua_tostring(L, -2), lua_tostring(L, -1));
      spec.env_add[k++] = (char *)lua_tostring(L, -1);
      lua_rawseti(L, 2, n + 1 + k);
      lua_pop(L, 1);
    }
    spec.env_add[k] = NULL;
  }
  lua_settop(L, 2);
  if (s == NULL) return luaL_error(L, "exec.run: no scheduler in this Lua state");
  vr_await_check(L, "exec.run");          /* fail before starting anything */
  b = lua_newuserdatauv(L, sizeof *b, 0); /* 3 */
  b->req = NULL;
  luaL_setmetatable(L, EXEC_BOX_MT);
  lua_pushboolean(L, check); /* 4 */
  r = calloc(1, sizeof *r);
  if (r == NULL) return luaL_error(L, "exec.run: out of memory");
  snprintf(r->what, sizeof r->what, "exec.run '%s'", spec.argv[0]);
  r->op.cancel = exec_cancel;
  r->refs = 2; /* the box's and the process's */
  rc = vr_process_start(vr_sched_loop(s), vr_sched_clock(s), &spec, on_done, r, &r->proc, err,
                        sizeof err);
  if (rc != 0) {
    free(r);
    luaL_where(L, 1);
    vr_error_push(L, "exec", "%scannot run '%s': %s", lua_tostring(L, -1), spec.argv[0], err);
    vr_error_set_string(L, "resource", spec.argv[0]);
    return lua_error(L);
  }
  b->req = r; /* from here the box owns the request (see box_gc) */
  return vr_await(L, &r->op, r->what, timeout, exec_k, 0);
}

static const luaL_Reg exec_funcs[] = {
    {"run", l_exec_run},
    {NULL, NULL},
};

int luaopen_vmrun_exec(lua_State *L) {
  if (luaL_newmetatable(L, EXEC_BOX_MT)) {
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  luaL_newlib(L, exec_funcs);
  return 1;
}
