/* task.c: the `task` module (vmrun.task): spawn, sleep, yield, all, current, list, and the
 * vmrun.Task handle (wait, cancel, status, id). Glue only: argument checks, then
 * runtime/sched.h; it never resumes a coroutine itself. */
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "bindings.h"
#include "errors.h"
#include "scheduler.h"

#define VR_TASK_MT "vmrun.Task"

typedef struct task_handle {
  vr_task *task;
} task_handle;

typedef struct sleep_op {
  vr_op op;
} sleep_op;

static void push_handle(lua_State *L, vr_task *t) {
  task_handle *h = lua_newuserdatauv(L, sizeof *h, 0);
  h->task = t; /* takes over the caller's reference */
  luaL_setmetatable(L, VR_TASK_MT);
}

static vr_task *check_task(lua_State *L, int idx) {
  task_handle *h = luaL_checkudata(L, idx, VR_TASK_MT);
  return h->task;
}

/* Copies luaL_where(L, 1) without the trailing ": " into buf. */
static void caller_where(lua_State *L, char *buf, size_t len) {
  size_t n;
  const char *w;
  luaL_where(L, 1);
  w = lua_tolstring(L, -1, &n);
  if (n >= 2) n -= 2;
  if (n >= len) n = len - 1;
  memcpy(buf, w, n);
  buf[n] = '\0';
  lua_pop(L, 1);
}

/* task.spawn(fn, ...) -> vmrun.Task
 * Starts fn(...) as a new task; it runs when the caller next waits. Raises on a non-function.
 * An error in the task that nobody waits for fails the run (see t:wait). */
static int l_task_spawn(lua_State *L) {
  char where[256];
  vr_task *t;
  luaL_checktype(L, 1, LUA_TFUNCTION);
  caller_where(L, where, sizeof where);
  t = vr_task_spawn(L, lua_gettop(L) - 1, where);
  if (t == NULL) return lua_error(L);
  push_handle(L, t);
  return 1;
}

static void sleep_cancel(vr_op *op) {
  (void)op; /* the deadline timer is the whole sleep; the scheduler stops it */
}

static int sleep_k(lua_State *L, int status, lua_KContext ctx) {
  sleep_op *s = (sleep_op *)ctx;
  (void)status;
  if (s->op.status == VR_OP_TIMEOUT) { /* the deadline is the end of the sleep */
    s->op.status = VR_OP_IDLE;
    s->op.task = NULL;
    return 0;
  }
  vr_op_finish(L, &s->op); /* raises the cancellation */
  return 0;
}

static int sleep_for(lua_State *L, double secs, const char *what) {
  sleep_op *s = lua_newuserdatauv(L, sizeof *s, 0); /* anchored on the stack during the wait */
  memset(s, 0, sizeof *s);
  s->op.cancel = sleep_cancel;
  return vr_await(L, &s->op, what, secs, sleep_k, (lua_KContext)s);
}

/* task.sleep(duration) -- yields for duration (seconds or "90s", "20m", ...).
 * Under virtual time it returns as soon as every other task is waiting, with the clock moved.
 * Raises on a bad duration, outside a task, or when the task is cancelled. */
static int l_task_sleep(lua_State *L) {
  double secs = vr_check_duration(L, 1, "task.sleep");
  lua_settop(L, 0);
  return sleep_for(L, secs, "task.sleep");
}

/* task.yield() -- lets every other ready task run, then continues. Raises when cancelled. */
static int l_task_yield(lua_State *L) {
  lua_settop(L, 0);
  return sleep_for(L, 0, "task.yield");
}

/* task.current() -> vmrun.Task  -- the running task; raises outside tasks. */
static int l_task_current(lua_State *L) {
  vr_task *t = vr_task_of(L);
  if (t == NULL) return luaL_error(L, "task.current: not inside a task");
  vr_task_ref(t);
  push_handle(L, t);
  return 1;
}

static int task_wait_k(lua_State *L, int status, lua_KContext ctx) {
  vr_task *t = check_task(L, 1);
  int n;
  (void)status;
  (void)ctx;
  vr_op_finish(L, vr_join_op(L));
  lua_settop(L, 1);
  n = vr_task_push_results(L, t);
  if (n < 0) {
    vr_task_observe(t);
    return lua_error(L);
  }
  return n;
}

/* t:wait([timeout | {timeout=}]) -> the task's results
 * Yields until t finished. Re-raises t's error (which then counts as handled); raises
 * vmrun.Error kind "timeout" when the timeout passes first (t keeps running). */
static int l_task_wait(lua_State *L) {
  vr_task *t = check_task(L, 1);
  double timeout = vr_check_timeout_arg(L, 2, -1);
  lua_settop(L, 1);
  return vr_task_join(L, "t:wait", &t, 1, 1, timeout, task_wait_k, 0);
}

/* t:cancel([reason]) -- requests cancellation: t gets vmrun.Error kind "cancelled" at its current
 * or next wait (its <close> handlers and pcall cleanup run). Does not wait; no-op when finished. */
static int l_task_cancel(lua_State *L) {
  vr_task *t = check_task(L, 1);
  const char *reason = luaL_optstring(L, 2, "cancelled by t:cancel()");
  vr_task_cancel(t, reason);
  return 0;
}

/* t:status() -> "new"|"ready"|"running"|"waiting"|"done"|"failed"|"cancelled" */
static int l_task_status(lua_State *L) {
  lua_pushstring(L, vr_task_status(check_task(L, 1)));
  return 1;
}

static int task_tostring(lua_State *L) {
  vr_task *t = check_task(L, 1);
  lua_pushfstring(L, "vmrun.Task %d (%s)", vr_task_id(t), vr_task_status(t));
  return 1;
}

static int task_gc(lua_State *L) {
  task_handle *h = luaL_checkudata(L, 1, VR_TASK_MT);
  if (h->task) vr_task_unref(h->task);
  h->task = NULL;
  return 0;
}

/* __close: leaving the scope of `local t <close> = task.spawn(...)` cancels t if still running. */
static int task_close(lua_State *L) {
  vr_task *t = check_task(L, 1);
  if (!vr_task_finished(t)) vr_task_cancel(t, "its scope was closed");
  return 0;
}

/* t.id -> integer; other keys: the methods. */
static int task_index(lua_State *L) {
  vr_task *t = check_task(L, 1);
  const char *key = luaL_checkstring(L, 2);
  if (strcmp(key, "id") == 0) {
    lua_pushinteger(L, vr_task_id(t));
    return 1;
  }
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(1));
  return 1;
}

/* task.all(list [, {timeout=}]) -> results
 * list holds vmrun.Task handles and/or functions (spawned here). Waits for all; results[i] is the
 * first result of list[i]. The first failure cancels the others and is raised; a timeout cancels
 * the unfinished ones and raises kind "timeout". */
static int all_k(lua_State *L, int status, lua_KContext ctx) {
  int n = (int)ctx, i;
  vr_op *op = vr_join_op(L);
  (void)status;
  if (op->status != VR_OP_DONE) { /* timeout or cancellation: stop the others first */
    for (i = 1; i <= n; i++) {
      lua_rawgeti(L, 3, i);
      vr_task_cancel(check_task(L, -1),
                     op->status == VR_OP_TIMEOUT ? "task.all timed out" : "task.all was cancelled");
      lua_pop(L, 1);
    }
  }
  vr_op_finish(L, op);
  for (i = 1; i <= n; i++) { /* a failure: cancel the rest, raise it */
    vr_task *t;
    lua_rawgeti(L, 3, i);
    t = check_task(L, -1);
    lua_pop(L, 1);
    if (vr_task_finished(t) && strcmp(vr_task_status(t), "done") != 0) {
      int j;
      for (j = 1; j <= n; j++) {
        lua_rawgeti(L, 3, j);
        vr_task_cancel(check_task(L, -1), "another task in task.all failed");
        lua_pop(L, 1);
      }
      vr_task_observe(t);
      vr_task_push_results(L, t);
      return lua_error(L);
    }
  }
  lua_createtable(L, n, 0);
  for (i = 1; i <= n; i++) {
    int top = lua_gettop(L), got;
    lua_rawgeti(L, 3, i);
    got = vr_task_push_results(L, check_task(L, -1));
    if (got > 0) {
      lua_pushvalue(L, top + 2);
      lua_rawseti(L, top, i);
    }
    lua_settop(L, top);
  }
  return 1;
}

static int l_task_all(lua_State *L) {
  int n, i;
  double timeout = -1;
  vr_task **targets;
  luaL_checktype(L, 1, LUA_TTABLE);
  if (!lua_isnoneornil(L, 2)) {
    static const char *const allowed[] = {"timeout", NULL};
    luaL_checktype(L, 2, LUA_TTABLE);
    vr_check_options(L, 2, "task.all", allowed);
    lua_getfield(L, 2, "timeout");
    timeout = vr_opt_duration(L, -1, "task.all timeout", -1);
    lua_pop(L, 1);
  }
  lua_settop(L, 2);
  n = (int)lua_rawlen(L, 1);
  lua_createtable(L, n, 0);                                                     /* 3: the handles */
  targets = lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * sizeof *targets, 0); /* 4 */
  for (i = 1; i <= n; i++) {
    lua_rawgeti(L, 1, i);
    if (lua_type(L, -1) == LUA_TFUNCTION) {
      char where[256];
      vr_task *t;
      caller_where(L, where, sizeof where);
      t = vr_task_spawn(L, 0, where);
      if (t == NULL) return lua_error(L);
      push_handle(L, t);
    } else if (luaL_testudata(L, -1, VR_TASK_MT) == NULL) {
      return luaL_error(L, "task.all: element %d is a %s, expected a vmrun.Task or a function", i,
                        luaL_typename(L, -1));
    }
    targets[i - 1] = check_task(L, -1);
    lua_rawseti(L, 3, i);
  }
  if (n == 0) {
    lua_newtable(L);
    return 1;
  }
  return vr_task_join(L, "task.all", targets, n, 1, timeout, all_k, (lua_KContext)n);
}

/* task.list() -> {vmrun.Task...}: every unfinished task (the caller included), oldest first.
 * For leak checks and debugging; the handles keep finished tasks' results readable. */
static int l_task_list(lua_State *L) {
  vr_sched *s = vr_sched_of(L);
  vr_task **tasks;
  int n, i;
  if (s == NULL) return luaL_error(L, "task.list: no scheduler in this Lua state");
  n = vr_sched_live_tasks(s, NULL, 0);
  tasks = lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * sizeof *tasks, 0);
  n = vr_sched_live_tasks(s, tasks, n);
  lua_createtable(L, n, 0);
  for (i = 0; i < n; i++) {
    vr_task_ref(tasks[i]);
    push_handle(L, tasks[i]);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

static const luaL_Reg task_methods[] = {
    {"wait", l_task_wait},
    {"cancel", l_task_cancel},
    {"status", l_task_status},
    {NULL, NULL},
};

static const luaL_Reg task_funcs[] = {
    {"spawn", l_task_spawn},
    {"sleep", l_task_sleep},
    {"yield", l_task_yield},
    {"all", l_task_all},
    {"current", l_task_current},
    {"list", l_task_list},
    {NULL, NULL},
};

int luaopen_vmrun_task(lua_State *L) {
  if (luaL_newmetatable(L, VR_TASK_MT)) {
    luaL_newlib(L, task_methods);
    lua_pushcclosure(L, task_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, task_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushcfunction(L, task_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, task_close);
    lua_setfield(L, -2, "__close");
  }
  lua_pop(L, 1);
  luaL_newlib(L, task_funcs);
  return 1;
}
