/* scheduler.c: the task scheduler (see scheduler.h): coroutines resumed from a libuv idle handle,
 * ops completed by callbacks, joins, cancellation, the instruction-count hook, signals, the
 * whole-run timeout, deadlock detection and the report of an unobserved failure.
 *
 * Callbacks never resume Lua; only on_idle (via run_task) does, and uv_run itself is called
 * from inside the host's protected main, so a Lua memory error in a callback unwinds to the
 * host instead of aborting. Nothing here knows about Kubernetes. */
#include "scheduler.h"

#include <lauxlib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"

#if LUA_VERSION_RELEASE_NUM >= 50406
#define reset_thread(co, from) lua_closethread((co), (from))
#else
#define reset_thread(co, from) ((void)(from), lua_resetthread(co))
#endif

typedef enum { T_NEW, T_READY, T_RUNNING, T_WAITING, T_DONE } task_state;

typedef struct join_state {
  vr_op op; /* first member: join_of() converts back */
  vr_task **targets;
  int n;
  int fail_fast;
} join_state;

struct vr_task {
  vr_sched *s; /* NULL once the scheduler is gone */
  int id;
  int refs; /* one while live, one per Lua handle or C holder */
  lua_State *co;
  int co_ref;
  task_state state;
  int nargs;          /* T_NEW: arguments waiting on co's stack */
  int ok;             /* T_DONE: 1 returned, 0 failed; co's top holds results table or error */
  int cancel_pending; /* cancellation requested, not yet delivered */
  int cancelled;      /* cancellation delivered at least once */
  int observed;       /* a joiner took the failure */
  char cancel_reason[160];
  char chain[400]; /* "task 2 (spawned at x.lua:3 by task 0 (main))" */
  vr_op *waiting;
  vr_task *next_ready;
  int queued;
  vr_task *prev, *next; /* every allocated task */
  vr_op **joiners;      /* join ops of tasks waiting for this one */
  int njoin, capjoin;
  join_state join;
};

struct vr_sched {
  lua_State *L;
  uv_loop_t *loop;
  vr_clock *clock;
  uv_idle_t *idle;
  uv_async_t *signal_async;
  uv_timer_t *run_timer;   /* --timeout */
  uv_timer_t *grace_timer; /* cleanup after cancellation */
  vr_task *ready_head, *ready_tail;
  vr_task *tasks; /* all allocated tasks */
  int live;
  int next_id;
  vr_task *running;
  uint64_t deadline_hr; /* --timeout as uv_hrtime() value, 0: none */
  char timeout_label[64];
  int exit_code; /* -1 until decided */
  int cancelling;
  int abandoned;
  int interrupted;  /* a SIGINT/SIGTERM cancelled the tasks */
  int signals_seen; /* the signals handled so far */
  /* the graceful abort (vr_sched_set_abort): the first signal asks for it instead of cancelling */
  int abort_set;
  char abort_reason[160]; /* "" until asked */
  char progname[64];      /* prefix of the scheduler's messages */
  vr_task *failure;       /* first unobserved failure (referenced) */
  int more_failures;
  char cancel_reason[160];
  /* holds (vr_sched_hold): while > 0 no task runs and the clock does not jump */
  int hold;
  vr_task *urgent;     /* resumed before any other (vr_op_complete_first) */
  vr_task *batch_last; /* the last task of the batch on_idle is running */
  int in_batch;
  int held_last;          /* the held task is the batch's last: the batch ends when it yields */
  int stop_when_idle;     /* end uv_run when nothing is ready, so that virtual time can jump */
  int end_with_last_task; /* end uv_run when the last task finishes (open streams remain) */
};

static const char sched_key = 's';
static vr_sched *volatile signal_sched;
static volatile sig_atomic_t signal_count;
static volatile sig_atomic_t signal_exit_after = 2; /* the signal that exits at once */

#define GRACE_SECONDS 60

/* --- lists ------------------------------------------------------------------------------- */

static void on_idle(uv_idle_t *handle);

static void ready_push(vr_sched *s, vr_task *t) {
  if (t->queued) return;
  t->queued = 1;
  t->next_ready = NULL;
  if (s->ready_tail) {
    s->ready_tail->next_ready = t;
  } else {
    s->ready_head = t;
  }
  s->ready_tail = t;
  if (s->hold == 0) uv_idle_start(s->idle, on_idle); /* idempotent; keeps poll from blocking */
}

static vr_task *ready_pop(vr_sched *s) {
  vr_task *t = s->ready_head;
  if (t == NULL) return NULL;
  s->ready_head = t->next_ready;
  if (s->ready_head == NULL) s->ready_tail = NULL;
  t->queued = 0;
  t->next_ready = NULL;
  return t;
}

static void make_ready(vr_task *t) {
  if (t->state == T_WAITING) t->state = T_READY;
  ready_push(t->s, t);
}

/* --- public accessors -------------------------------------------------------------------- */

vr_sched *vr_sched_of(lua_State *L) {
  vr_sched *s;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &sched_key);
  s = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return s;
}

vr_task *vr_task_of(lua_State *L) {
  return *(vr_task **)lua_getextraspace(L);
}

vr_clock *vr_sched_clock(vr_sched *s) {
  return s->clock;
}

uv_loop_t *vr_sched_loop(vr_sched *s) {
  return s->loop;
}

int vr_task_id(const vr_task *t) {
  return t->id;
}

int vr_task_finished(const vr_task *t) {
  return t->state == T_DONE;
}

const char *vr_task_status(const vr_task *t) {
  switch (t->state) {
  case T_NEW:
    return "new";
  case T_READY:
    return "ready";
  case T_RUNNING:
    return "running";
  case T_WAITING:
    return "waiting";
  case T_DONE:
    return t->ok ? "done" : (t->cancelled ? "cancelled" : "failed");
  }
  return "unknown";
}

void vr_task_ref(vr_task *t) {
  t->refs++;
}

static void task_free(vr_task *t) {
  vr_sched *s = t->s;
  if (s != NULL) {
    if (t->prev) {
      t->prev->next = t->next;
    } else {
      s->tasks = t->next;
    }
    if (t->next) t->next->prev = t->prev;
    *(vr_task **)lua_getextraspace(t->co) = NULL;
    luaL_unref(s->L, LUA_REGISTRYINDEX, t->co_ref);
  }
  free(t->joiners);
  free(t->join.targets);
  free(t);
}

void vr_task_unref(vr_task *t) {
  if (--t->refs <= 0) task_free(t);
}

/* --- joins ---------------------------------------------------------------------------------- */

static void joiner_remove(vr_task *target, vr_op *op) {
  int i;
  for (i = 0; i < target->njoin; i++) {
    if (target->joiners[i] == op) {
      target->joiners[i] = target->joiners[--target->njoin];
      return;
    }
  }
}

static int joiner_add(vr_task *target, vr_op *op) {
  if (target->njoin == target->capjoin) {
    int ncap = target->capjoin ? target->capjoin * 2 : 4;
    vr_op **n = realloc(target->joiners, (size_t)ncap * sizeof *n);
    if (n == NULL) return -1;
    target->joiners = n;
    target->capjoin = ncap;
  }
  target->joiners[target->njoin++] = op;
  return 0;
}

static void join_detach(vr_op *op) {
  join_state *j = (join_state *)op;
  int i;
  for (i = 0; i < j->n; i++) joiner_remove(j->targets[i], op);
  free(j->targets);
  j->targets = NULL;
  j->n = 0;
}

/* A target finished: complete the join op when its condition holds. */
static void join_notify(vr_op *op, vr_task *finished) {
  join_state *j = (join_state *)op;
  int i, all_done = 1;
  if (op->status != VR_OP_PENDING) return;
  if (!(j->fail_fast && !finished->ok)) {
    for (i = 0; i < j->n; i++) {
      if (j->targets[i]->state != T_DONE) all_done = 0;
    }
    if (!all_done) return;
  }
  join_detach(op);
  vr_op_complete(op);
}

/* --- ops ------------------------------------------------------------------------------------ */

static void on_deadline(vr_timer *timer) {
  vr_op *op = timer->data;
  if (op->status != VR_OP_PENDING) return;
  op->status = VR_OP_TIMEOUT;
  if (op->cancel) op->cancel(op);
  if (op->task) {
    op->task->waiting = NULL;
    make_ready(op->task);
  }
}

/* Marks a pending op done and detaches it from its task; returns the task to make ready, or
 * NULL (the op was not pending, or nobody waits on it). */
static vr_task *op_done(vr_op *op) {
  vr_task *t = op->task;
  if (op->status != VR_OP_PENDING) return NULL;
  op->status = VR_OP_DONE;
  if (t == NULL) return NULL;
  if (t->s) vr_timer_stop(t->s->clock, &op->deadline);
  t->waiting = NULL;
  return t;
}

void vr_op_complete(vr_op *op) {
  vr_task *t = op_done(op);
  if (t != NULL) make_ready(t);
}

static void op_cancel(vr_op *op) {
  vr_task *t = op->task;
  if (op->status != VR_OP_PENDING) return;
  op->status = VR_OP_CANCELLED;
  vr_timer_stop(t->s->clock, &op->deadline);
  if (op->cancel) op->cancel(op);
  t->waiting = NULL;
  make_ready(t);
}

/* Raises the cancellation error in the task running L (may raise only). */
static int deliver_cancel(lua_State *L, vr_task *t) {
  t->cancel_pending = 0;
  t->cancelled = 1;
  return vr_error_raise(L, "cancelled", "cancelled: %s", t->cancel_reason);
}

static void format_seconds(double secs, char *buf, size_t len) {
  if (secs >= 3600 && secs == (double)(long long)secs && (long long)secs % 3600 == 0) {
    snprintf(buf, len, "%lldh", (long long)secs / 3600);
  } else if (secs >= 60 && secs == (double)(long long)secs && (long long)secs % 60 == 0) {
    snprintf(buf, len, "%lldm", (long long)secs / 60);
  } else {
    snprintf(buf, len, "%gs", secs);
  }
}

void vr_op_finish(lua_State *L, vr_op *op) {
  vr_task *t = vr_task_of(L);
  vr_op_status status = op->status;
  char dur[32];
  op->status = VR_OP_IDLE;
  op->task = NULL;
  if (status == VR_OP_DONE) return;
  if (status == VR_OP_CANCELLED && t != NULL) deliver_cancel(L, t);
  if (status == VR_OP_TIMEOUT) {
    format_seconds(op->timeout, dur, sizeof dur);
    vr_error_raise(L, "timeout", "%s timed out after %s", op->what, dur);
  }
  luaL_error(L, "%s: internal error: resumed with op status %d", op->what, (int)status);
}

/* Checks that L may wait now; raises otherwise (may raise). */
static vr_task *await_check(lua_State *L, const char *what) {
  vr_task *t = vr_task_of(L);
  if (t == NULL || t->co != L) {
    luaL_error(L, "%s must be called from a playbook task, not from inside a coroutine of your own",
               what);
  }
  if (!lua_isyieldable(L)) {
    luaL_error(L,
               "%s cannot wait here: it is called from a C function that cannot yield "
               "(a metamethod, a table.sort comparator or an iterator)",
               what);
  }
  if (t->cancel_pending) deliver_cancel(L, t);
  return t;
}

static int await_checked(lua_State *L, vr_task *t, vr_op *op, const char *what, double timeout,
                         lua_KFunction k, lua_KContext ctx) {
  op->task = t;
  op->status = VR_OP_PENDING;
  op->what = what;
  op->timeout = timeout;
  t->waiting = op;
  if (timeout >= 0) {
    vr_timer_start(t->s->clock, &op->deadline, (uint64_t)(timeout * 1000.0 + 0.5), on_deadline, op);
  }
  return lua_yieldk(L, 0, ctx, k);
}

void vr_await_check(lua_State *L, const char *what) {
  (void)await_check(L, what);
}

int vr_await(lua_State *L, vr_op *op, const char *what, double timeout, lua_KFunction k,
             lua_KContext ctx) {
  vr_task *t = await_check(L, what);
  return await_checked(L, t, op, what, timeout, k, ctx);
}

vr_op *vr_join_op(lua_State *L) {
  vr_task *t = vr_task_of(L);
  return t ? &t->join.op : NULL;
}

int vr_task_join(lua_State *L, const char *what, vr_task **targets, int n, int fail_fast,
                 double timeout, lua_KFunction k, lua_KContext ctx) {
  vr_task *t = await_check(L, what);
  join_state *j = &t->join;
  int i, pending = 0, failed = 0;
  for (i = 0; i < n; i++) {
    if (targets[i] == t) luaL_error(L, "a task cannot wait for itself");
    if (targets[i]->state != T_DONE) {
      pending++;
    } else if (!targets[i]->ok) {
      failed = 1;
    }
  }
  if (pending == 0 || (fail_fast && failed)) {
    j->op.status = VR_OP_DONE;
    return k(L, LUA_OK, ctx);
  }
  j->targets = malloc((size_t)n * sizeof *j->targets);
  if (j->targets == NULL) luaL_error(L, "task.wait: out of memory");
  memcpy(j->targets, targets, (size_t)n * sizeof *targets);
  j->n = n;
  j->fail_fast = fail_fast;
  j->op.cancel = join_detach;
  for (i = 0; i < n; i++) {
    if (targets[i]->state != T_DONE && joiner_add(targets[i], &j->op) != 0) {
      j->n = i; /* only the first i were added */
      join_detach(&j->op);
      luaL_error(L, "task.wait: out of memory");
    }
  }
  j->n = n;
  return await_checked(L, t, &j->op, what, timeout, k, ctx);
}

int vr_task_push_results(lua_State *L, vr_task *t) {
  lua_State *co = t->co;
  int n;
  if (!lua_checkstack(co, 2)) luaL_error(L, "task results: stack overflow");
  lua_pushvalue(co, -1);
  lua_xmove(co, L, 1);
  if (!t->ok) return -1;
  lua_getfield(L, -1, "n");
  n = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  luaL_checkstack(L, n + 1, "too many task results");
  {
    int tbl = lua_gettop(L), i;
    for (i = 1; i <= n; i++) lua_rawgeti(L, tbl, i);
    lua_remove(L, tbl);
  }
  return n;
}

void vr_task_observe(vr_task *t) {
  t->observed = 1;
}

/* --- running tasks ---------------------------------------------------------------------------- */

/* Message handler of every task: turns the error into a vmrun.Error with a traceback through the
 * task chain (runs at the error point, before unwinding). */
static int task_msgh(lua_State *L) {
  vr_task *t = vr_task_of(L);
  const char *chain = t ? t->chain : "a coroutine";
  if (!vr_error_is(L, 1)) {
    int type = lua_type(L, 1);
    if (type == LUA_TSTRING || type == LUA_TNUMBER) {
      vr_error_push(L, "runtime", "%s", lua_tostring(L, 1));
    } else if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) {
      vr_error_push(L, "runtime", "%s", lua_tostring(L, -1));
      lua_remove(L, -2);
    } else {
      vr_error_push(L, "runtime", "(error object is a %s value)", luaL_typename(L, 1));
    }
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "value");
    lua_replace(L, 1);
    lua_settop(L, 1);
  }
  lua_getfield(L, 1, "traceback");
  if (lua_isstring(L, -1)) {
    luaL_traceback(L, L, NULL, 1);
    lua_pushfstring(L, "%s\n(re-raised in %s)\n%s", lua_tostring(L, -2), chain,
                    lua_tostring(L, -1));
  } else {
    luaL_traceback(L, L, NULL, 1);
    lua_pushfstring(L, "%s\n\tin %s", lua_tostring(L, -1), chain);
  }
  lua_setfield(L, 1, "traceback");
  lua_settop(L, 1);
  return 1;
}

/* Continuation of task_entry: packs the outcome as (true, {n=, ...}) or (false, err). */
static int task_entry_k(lua_State *L, int status, lua_KContext ctx) {
  int top = lua_gettop(L), n, i;
  (void)ctx;
  if (status == LUA_OK || status == LUA_YIELD) {
    n = top - 1; /* slot 1 holds the message handler */
    lua_createtable(L, n, 1);
    for (i = 1; i <= n; i++) {
      lua_pushvalue(L, i + 1);
      lua_rawseti(L, -2, i);
    }
    lua_pushinteger(L, n);
    lua_setfield(L, -2, "n");
    lua_pushboolean(L, 1);
    lua_insert(L, -2);
    return 2;
  }
  if (status == LUA_ERRMEM && !vr_error_is(L, -1)) {
    lua_settop(L, 0);
    vr_error_push(L, "memory", "not enough memory: the Lua heap limit (--max-memory) was reached");
  }
  lua_pushboolean(L, 0);
  lua_insert(L, -2);
  return 2;
}

/* The first function of every task coroutine: task_entry(fn, ...) runs fn under the message
 * handler with a yieldable pcall, so that <close> handlers may wait while unwinding. */
static int task_entry(lua_State *L) {
  vr_task *t = vr_task_of(L);
  int status;
  if (t->cancel_pending) { /* cancelled before it ever ran */
    t->cancel_pending = 0;
    t->cancelled = 1;
    lua_settop(L, 0);
    lua_pushboolean(L, 0);
    vr_error_push(L, "cancelled", "cancelled before it started: %s", t->cancel_reason);
    return 2;
  }
  lua_pushcfunction(L, task_msgh);
  lua_insert(L, 1);
  status = lua_pcallk(L, lua_gettop(L) - 2, LUA_MULTRET, 1, 0, task_entry_k);
  return task_entry_k(L, status, 0);
}

static void set_exit_code(vr_sched *s, int code) {
  if (s->exit_code < 0) s->exit_code = code;
}

static int exit_code_for(lua_State *co, vr_task *t) {
  const char *kind = vr_error_kind(co, -1);
  (void)t;
  if (kind == NULL) return VR_EXIT_FAILED;
  if (strcmp(kind, "usage") == 0 || strcmp(kind, "input") == 0 || strcmp(kind, "decode") == 0)
    return VR_EXIT_USAGE;
  if (strcmp(kind, "timeout") == 0) return VR_EXIT_TIMEOUT;
  if (strcmp(kind, "exit") == 0) {
    lua_Integer code;
    lua_getfield(co, -1, "status");
    code = lua_tointeger(co, -1);
    lua_pop(co, 1);
    return (int)code;
  }
  return VR_EXIT_FAILED;
}

static void task_finish(vr_sched *s, vr_task *t) {
  int i;
  t->state = T_DONE;
  s->live--;
  /* with open watch streams the loop would never run dry: the last task ends the run */
  if (s->live == 0 && s->end_with_last_task) uv_stop(s->loop);
  if (!t->ok) {
    const char *kind = vr_error_kind(t->co, -1);
    int expected_cancel = t->cancelled && kind != NULL && strcmp(kind, "cancelled") == 0;
    if (t->njoin > 0) {
      t->observed = 1;
    } else if (!expected_cancel && !t->observed) {
      if (s->failure == NULL) {
        s->failure = t;
        vr_task_ref(t);
        set_exit_code(s, exit_code_for(t->co, t));
        snprintf(s->cancel_reason, sizeof s->cancel_reason, "task %d failed", t->id);
        if (kind && strcmp(kind, "exit") == 0) {
          vr_sched_cancel_all(s, "the playbook called os.exit", s->exit_code);
        } else if (t->id == 0) {
          vr_sched_cancel_all(s, "the main task failed", s->exit_code);
        } else {
          char reason[64];
          snprintf(reason, sizeof reason, "task %d failed", t->id);
          vr_sched_cancel_all(s, reason, s->exit_code);
        }
      } else {
        s->more_failures++;
      }
    }
  }
  for (i = t->njoin - 1; i >= 0; i--) {
    if (i < t->njoin) join_notify(t->joiners[i], t);
  }
  vr_task_unref(t); /* the live reference */
}

static void run_task(vr_sched *s, vr_task *t) {
  int nres = 0, status, nargs = 0;
  if (t->state == T_NEW) nargs = t->nargs + 1; /* fn and its arguments, for task_entry */
  t->state = T_RUNNING;
  s->running = t;
  status = lua_resume(t->co, s->L, nargs, &nres);
  s->running = NULL;
  if (status == LUA_YIELD) {
    lua_pop(t->co, nres);
    if (t->waiting != NULL) {
      t->state = T_WAITING;
    } else { /* yielded by the hook or a bare coroutine.yield(): run again later */
      t->state = T_READY;
      ready_push(s, t);
    }
    return;
  }
  if (status == LUA_OK) {
    t->ok = lua_toboolean(t->co, -2);
  } else { /* the error escaped task_entry (memory, or an error in the handler) */
    t->ok = 0;
    if (!vr_error_is(t->co, -1)) {
      const char *msg = lua_tostring(t->co, -1);
      vr_error_push(t->co, status == LUA_ERRMEM ? "memory" : "runtime", "%s",
                    msg ? msg : "error in error handling");
    }
    reset_thread(t->co, s->L);
    vr_error_push(t->co, "runtime", "task %d failed while handling an error", t->id);
  }
  task_finish(s, t);
}

/* Runs the tasks that were ready when the batch began (not those they make ready), then fires
 * what the clock has due; a hold stops it where it is, and the batch goes on once released (the
 * held task first when vr_op_complete_first resumed it), as if the task had not yielded. */
static void on_idle(uv_idle_t *handle) {
  vr_sched *s = handle->data;
  if (s->hold > 0) goto held;
  if (s->urgent != NULL) {
    vr_task *t = s->urgent;
    s->urgent = NULL;
    if (t->state != T_DONE) run_task(s, t);
    if (s->hold > 0) goto held;
    if (s->held_last) {
      s->held_last = 0;
      s->in_batch = 0;
    }
  }
  if (!s->in_batch && s->batch_last == NULL) {
    s->batch_last = s->ready_tail;
    s->in_batch = s->batch_last != NULL;
  }
  while (s->in_batch && s->ready_head != NULL) {
    vr_task *t = ready_pop(s);
    int last = t == s->batch_last;
    if (t->state != T_DONE) run_task(s, t);
    if (s->hold > 0) {
      s->held_last = last;
      goto held;
    }
    if (last) s->in_batch = 0;
  }
  s->in_batch = 0;
  s->batch_last = NULL;
  /* task.yield() under virtual time, even beside a busy task; nothing once the run is over */
  if (s->live > 0) vr_clock_fire_due(s->clock);
  if (s->hold > 0) goto held;
  if (s->ready_head == NULL && s->urgent == NULL) {
    uv_idle_stop(handle);
    /* (real I/O in flight: the loop waits for it, virtual time flows meanwhile) */
    if (s->stop_when_idle && vr_clock_real_pending(s->clock) == 0) uv_stop(s->loop);
  }
  return;
held:
  uv_idle_stop(handle);
}

void vr_sched_hold(vr_sched *s) {
  s->hold++;
}

void vr_sched_release(vr_sched *s) {
  if (s->hold <= 0) return;
  if (--s->hold > 0) return;
  if (s->ready_head != NULL || s->urgent != NULL) {
    uv_idle_start(s->idle, on_idle);
  } else if (s->stop_when_idle && vr_clock_real_pending(s->clock) == 0) {
    uv_stop(s->loop);
  }
}

void vr_sched_stop_when_idle(vr_sched *s) {
  s->stop_when_idle = 1;
}

int vr_sched_stop_code(vr_sched *s) {
  return s->cancelling ? s->exit_code : -1;
}

void vr_sched_end_with_last_task(vr_sched *s) {
  s->end_with_last_task = 1;
}

void vr_op_complete_first(vr_op *op) {
  vr_task *t = op_done(op);
  if (t == NULL) return;
  if (t->state == T_WAITING) t->state = T_READY;
  if (t->s->urgent != NULL && t->s->urgent != t) { /* (one at a time; cannot happen) */
    ready_push(t->s, t);
    return;
  }
  t->s->urgent = t;
  if (t->s->hold == 0) uv_idle_start(t->s->idle, on_idle);
}

vr_task *vr_task_spawn(lua_State *L, int nargs, const char *where) {
  vr_sched *s = vr_sched_of(L);
  vr_task *parent = vr_task_of(L), *t;
  lua_State *co;
  if (s == NULL) {
    lua_pushstring(L, "no scheduler in this Lua state");
    return NULL;
  }
  t = calloc(1, sizeof *t);
  if (t == NULL) luaL_error(L, "task.spawn: out of memory");
  co = lua_newthread(L);                      /* stack: fn, args..., co */
  t->co_ref = luaL_ref(L, LUA_REGISTRYINDEX); /* stack: fn, args... */
  t->co = co;
  t->s = s;
  t->id = s->next_id++;
  t->refs = 2; /* live + caller */
  t->nargs = nargs;
  t->state = T_NEW;
  *(vr_task **)lua_getextraspace(co) = t;
  lua_pushcfunction(co, task_entry);
  lua_xmove(L, co, nargs + 1); /* co: task_entry, fn, args... */
  if (t->id == 0) {
    snprintf(t->chain, sizeof t->chain, "task 0 (the playbook's main chunk)");
  } else if (parent != NULL) {
    snprintf(t->chain, sizeof t->chain, "task %d (spawned at %.150s by %.200s)", t->id,
             where ? where : "?", parent->chain);
  } else {
    snprintf(t->chain, sizeof t->chain, "task %d (spawned at %s)", t->id, where ? where : "?");
  }
  t->next = s->tasks;
  if (s->tasks) s->tasks->prev = t;
  s->tasks = t;
  s->live++;
  if (s->cancelling) {
    t->cancel_pending = 1;
    snprintf(t->cancel_reason, sizeof t->cancel_reason, "%s", s->cancel_reason);
  }
  ready_push(s, t);
  return t;
}

void vr_task_cancel(vr_task *t, const char *reason) {
  if (t->state == T_DONE || t->s == NULL) return;
  snprintf(t->cancel_reason, sizeof t->cancel_reason, "%s", reason);
  if (t->state == T_WAITING && t->waiting != NULL) {
    t->cancel_pending = 0;
    t->cancelled = 1;
    op_cancel(t->waiting);
  } else {
    t->cancel_pending = 1;
  }
}

/* --- run-wide cancellation, timeout, signals ---------------------------------------------------
 */

static void on_grace(uv_timer_t *handle) {
  vr_sched *s = handle->data;
  fprintf(stderr, "%s: %d task(s) still running %ds after cancellation; exiting without them\n",
          s->progname, s->live, GRACE_SECONDS);
  s->abandoned = 1;
  uv_stop(s->loop);
}

void vr_sched_cancel_all(vr_sched *s, const char *reason, int exit_code) {
  vr_task *t;
  set_exit_code(s, exit_code);
  if (!s->cancelling) {
    snprintf(s->cancel_reason, sizeof s->cancel_reason, "%s", reason);
    s->cancelling = 1;
    uv_timer_start(s->grace_timer, on_grace, GRACE_SECONDS * 1000, 0);
  }
  for (t = s->tasks; t != NULL; t = t->next) {
    if (t->state != T_DONE && !t->cancelled && !t->cancel_pending) vr_task_cancel(t, reason);
  }
}

static void on_run_timeout(uv_timer_t *handle) {
  vr_sched *s = handle->data;
  if (s->cancelling) return;
  fprintf(stderr, "%s: %s reached; cancelling %d task(s)\n", s->progname, s->timeout_label,
          s->live);
  vr_sched_cancel_all(s, s->timeout_label, VR_EXIT_TIMEOUT);
}

void vr_sched_set_timeout(vr_sched *s, double seconds, const char *label) {
  uint64_t ms = (uint64_t)(seconds * 1000.0 + 0.5);
  snprintf(s->timeout_label, sizeof s->timeout_label, "%s", label);
  s->deadline_hr = uv_hrtime() + ms * 1000000u;
  uv_update_time(s->loop); /* the loop's time is stale before uv_run: do not fire early */
  uv_timer_start(s->run_timer, on_run_timeout, ms, 0);
}

static void on_signal_handler(int sig) {
  static const char msg[] = ": interrupted again; exiting now\n";
  (void)sig;
  if (++signal_count >= signal_exit_after) {
    const char *name = signal_sched ? signal_sched->progname : "vmrun";
    ssize_t rc = write(STDERR_FILENO, "\n", 1);
    rc = write(STDERR_FILENO, name, strlen(name)); /* strlen is async-signal-safe */
    rc = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)rc;
    _exit(VR_EXIT_INTERRUPTED);
  }
  if (signal_sched) uv_async_send(signal_sched->signal_async);
}

void vr_sched_set_abort(vr_sched *s) {
  s->abort_set = 1;
  if (signal_sched == s) signal_exit_after = 3;
}

const char *vr_sched_abort_requested(const vr_sched *s) {
  return s->abort_reason[0] ? s->abort_reason : NULL;
}

void vr_sched_request_abort(vr_sched *s, const char *reason) {
  if (s->abort_reason[0]) return;
  snprintf(s->abort_reason, sizeof s->abort_reason, "%s", reason);
}

static void handle_interrupt(vr_sched *s) {
  if (s->signals_seen >= signal_count) return; /* the hook sees signal_count at every tick */
  s->signals_seen = signal_count;
  if (s->abort_set && !s->abort_reason[0]) {
    vr_sched_request_abort(s, "interrupted by signal");
    fprintf(stderr,
            "\n%s: interrupted; stopping: no new work starts, what is in flight ends as the "
            "playbook says (interrupt again to cancel everything, a third time to exit at once)\n",
            s->progname);
    if (signal_count < 2) return;
  }
  if (s->interrupted) return;
  s->interrupted = 1;
  fprintf(stderr,
          "\n%s: interrupted; cancelling %d task(s) and running their cleanup "
          "(interrupt again to exit at once)\n",
          s->progname, s->live);
  vr_sched_cancel_all(s, "interrupted by signal", VR_EXIT_INTERRUPTED);
}

static void on_signal_async(uv_async_t *handle) {
  handle_interrupt(handle->data);
}

int vr_sched_handle_signals(vr_sched *s) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal_handler;
  sigemptyset(&sa.sa_mask);
  signal_sched = s;
  signal_count = 0;
  if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0) return -1;
  return 0;
}

/* Instruction-count hook: signals, the whole-run deadline and cancellation reach a CPU-bound
 * task. It never yields: tasks are cooperative, so code between two waits runs without other
 * tasks interleaving (a read-modify-write of a shared table needs no lock). */
static void count_hook(lua_State *L, lua_Debug *ar) {
  vr_sched *s;
  vr_task *t;
  uint64_t now;
  (void)ar;
  s = vr_sched_of(L);
  if (s == NULL || (t = s->running) == NULL) return;
  now = uv_hrtime();
  if (signal_count > 0 && signal_sched == s) handle_interrupt(s);
  if (s->deadline_hr != 0 && now >= s->deadline_hr && !s->cancelling) on_run_timeout(s->run_timer);
  if (t->cancel_pending && L != t->co) { /* a coroutine of the task's own: keep it pending */
    vr_error_raise(L, "cancelled", "cancelled: %s", t->cancel_reason);
  } else if (t->cancel_pending) {
    deliver_cancel(L, t);
  }
}

/* --- life cycle ----------------------------------------------------------------------------------
 */

static void *handle_new(size_t size, vr_sched *s) {
  uv_handle_t *h = calloc(1, size);
  if (h) h->data = s;
  return h;
}

vr_sched *vr_sched_new(lua_State *L, uv_loop_t *loop, vr_clock *clock) {
  vr_sched *s = calloc(1, sizeof *s);
  if (s == NULL) return NULL;
  s->L = L;
  s->loop = loop;
  s->clock = clock;
  s->exit_code = -1;
  snprintf(s->progname, sizeof s->progname, "vmrun");
  s->idle = handle_new(sizeof *s->idle, s);
  s->signal_async = handle_new(sizeof *s->signal_async, s);
  s->run_timer = handle_new(sizeof *s->run_timer, s);
  s->grace_timer = handle_new(sizeof *s->grace_timer, s);
  if (!s->idle || !s->signal_async || !s->run_timer || !s->grace_timer) {
    free(s->idle);
    free(s->signal_async);
    free(s->run_timer);
    free(s->grace_timer);
    free(s);
    return NULL;
  }
  uv_idle_init(loop, s->idle);
  uv_async_init(loop, s->signal_async, on_signal_async);
  uv_unref((uv_handle_t *)s->signal_async);
  uv_timer_init(loop, s->run_timer);
  uv_unref((uv_handle_t *)s->run_timer);
  uv_timer_init(loop, s->grace_timer);
  uv_unref((uv_handle_t *)s->grace_timer);
  /* lua_newthread copies the main thread's extra space into every new coroutine: make it NULL,
   * so that coroutines a script creates itself are not taken for tasks (vr_task_of). */
  *(vr_task **)lua_getextraspace(L) = NULL;
  lua_pushlightuserdata(L, s);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &sched_key);
  lua_sethook(L, count_hook, LUA_MASKCOUNT, 1000);
  return s;
}

static void free_handle(uv_handle_t *h) {
  free(h);
}

void vr_sched_free(vr_sched *s) {
  vr_task *t, *next;
  if (s == NULL) return;
  if (signal_sched == s) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal_sched = NULL;
  }
  lua_sethook(s->L, NULL, 0, 0);
  lua_pushnil(s->L);
  lua_rawsetp(s->L, LUA_REGISTRYINDEX, &sched_key);
  if (s->failure) vr_task_unref(s->failure);
  for (t = s->tasks; t != NULL; t = next) { /* orphan what Lua handles still reference */
    next = t->next;
    *(vr_task **)lua_getextraspace(t->co) = NULL;
    luaL_unref(s->L, LUA_REGISTRYINDEX, t->co_ref);
    t->s = NULL;
    if (t->state != T_DONE) {
      t->state = T_DONE;
      vr_task_unref(t);
    }
  }
  uv_close((uv_handle_t *)s->idle, free_handle);
  uv_close((uv_handle_t *)s->signal_async, free_handle);
  uv_close((uv_handle_t *)s->run_timer, free_handle);
  uv_close((uv_handle_t *)s->grace_timer, free_handle);
  free(s);
}

void vr_sched_stats_get(vr_sched *s, vr_sched_stats *out) {
  vr_task *t;
  memset(out, 0, sizeof *out);
  for (t = s->tasks; t != NULL; t = t->next) {
    if (t->state == T_DONE) continue;
    out->tasks++;
    if (t->state == T_WAITING) out->waiting++;
  }
  out->timers = vr_clock_timer_count(s->clock);
  out->real_pending = vr_clock_real_pending(s->clock);
}

int vr_sched_live_tasks(vr_sched *s, vr_task **out, int max) {
  vr_task *t, *last = NULL;
  int n = 0;
  for (t = s->tasks; t != NULL; t = t->next) last = t; /* the list is newest first */
  for (t = last; t != NULL; t = t->prev) {
    if (t->state == T_DONE) continue;
    if (n < max) out[n] = t;
    n++;
  }
  return n;
}

/* Where a suspended task waits: its innermost Lua frame. */
static void task_where(vr_task *t, char *buf, size_t len) {
  lua_Debug ar;
  int level;
  snprintf(buf, len, "?");
  for (level = 0; lua_getstack(t->co, level, &ar); level++) {
    if (lua_getinfo(t->co, "Sl", &ar) && ar.currentline > 0) {
      snprintf(buf, len, "%s:%d", ar.short_src, ar.currentline);
      return;
    }
  }
}

static void report_deadlock(vr_sched *s) {
  vr_task *t;
  fprintf(stderr, "%s: deadlock: every task is waiting and nothing can wake them:\n", s->progname);
  for (t = s->tasks; t != NULL; t = t->next) {
    char where[200];
    if (t->state == T_DONE) continue;
    task_where(t, where, sizeof where);
    fprintf(stderr, "  task %d waits in %s at %s\n", t->id,
            t->waiting ? t->waiting->what : "(nothing)", where);
  }
}

static void report_failure(vr_sched *s, const char *progname) {
  lua_State *co = s->failure->co;
  const char *kind = vr_error_kind(co, -1);
  if (kind != NULL && strcmp(kind, "exit") == 0) return;
  if (vr_error_is(co, -1)) {
    lua_getfield(co, -1, "message");
    fprintf(stderr, "%s: %s\n", progname, lua_isstring(co, -1) ? lua_tostring(co, -1) : "error");
    lua_pop(co, 1);
    if (kind == NULL || (strcmp(kind, "input") != 0 && strcmp(kind, "decode") != 0)) {
      lua_getfield(co, -1, "traceback"); /* bad input is named by its message alone */
      if (lua_isstring(co, -1)) fprintf(stderr, "%s\n", lua_tostring(co, -1));
      lua_pop(co, 1);
    }
  } else {
    fprintf(stderr, "%s: %s\n", progname,
            lua_isstring(co, -1) ? lua_tostring(co, -1) : "(error object is not a string)");
  }
  if (s->more_failures > 0) {
    fprintf(stderr, "%s: %d more task(s) failed after it\n", progname, s->more_failures);
  }
}

int vr_sched_run(vr_sched *s, const char *progname) {
  int deadlocks = 0;
  snprintf(s->progname, sizeof s->progname, "%s", progname);
  for (;;) {
    uv_run(s->loop, UV_RUN_DEFAULT);
    if (s->abandoned) break;
    if (s->ready_head != NULL || s->urgent != NULL || s->hold > 0) continue;
    if (s->live == 0) break; /* the simulator's own timers do not keep a finished run going */
    if (vr_clock_jump(s->clock)) continue;
    if (deadlocks++ > 0 && s->cancelling) {
      fprintf(stderr, "%s: %d task(s) cannot finish their cleanup; exiting without them\n",
              progname, s->live);
      s->abandoned = 1;
      break;
    }
    report_deadlock(s);
    vr_sched_cancel_all(s, "deadlock", VR_EXIT_FAILED);
  }
  uv_timer_stop(s->grace_timer);
  uv_timer_stop(s->run_timer);
  if (s->failure != NULL) report_failure(s, progname);
  if (s->exit_code < 0) s->exit_code = VR_EXIT_OK;
  return s->exit_code;
}
