/* scheduler.h: tasks (coroutines) on the libuv loop.
 *
 * Every piece of playbook code runs in a task. A blocking primitive starts its work, then calls
 * vr_await(), which yields the task; completions (libuv and clock callbacks) call
 * vr_op_complete(), which only marks the op done and puts the task on the ready queue; the loop
 * resumes ready tasks from an idle handle, never from inside a callback. On resume the
 * primitive's continuation calls vr_op_finish(), which raises the timeout or cancellation error,
 * and then pushes its results.
 *
 * Cancellation (t:cancel(), a failed task, --timeout, SIGINT/SIGTERM) goes through one path: a
 * waiting task's op is cancelled (op->cancel stops the work) and the task is resumed with a
 * vmrun.Error{kind="cancelled"}; a running task gets it at its next wait or from the
 * instruction-count hook. The error unwinds through pcall and <close> handlers, which may still
 * wait (to clean up over the network); a second request delivers it again.
 *
 * An error that leaves a task nobody is waiting on fails the run: the scheduler records it,
 * cancels every other task and reports it once with the traceback through the task chain.
 * Only the host calls vr_sched_run; bindings use vr_await / vr_op_* / vr_task_spawn. */
#ifndef VMRUN_SCHEDULER_H
#define VMRUN_SCHEDULER_H

#include <lua.h>
#include <uv.h>

#include "clock.h"

typedef struct vr_sched vr_sched;
typedef struct vr_task vr_task;
typedef struct vr_op vr_op;

typedef enum {
  VR_OP_IDLE = 0,
  VR_OP_PENDING,
  VR_OP_DONE,
  VR_OP_TIMEOUT,
  VR_OP_CANCELLED
} vr_op_status;

/* One pending wait, owned by the binding that started it (often embedded in a larger struct). */
struct vr_op {
  vr_task *task; /* the waiting task while pending */
  vr_op_status status;
  void (*cancel)(vr_op *op); /* stops the work on timeout or cancellation; may be NULL; must not
                                raise, resume or free memory the continuation still reads */
  const char *what;          /* "task.sleep": names the wait in errors and deadlock reports */
  double timeout;            /* seconds (< 0: none), for messages */
  vr_timer deadline;
};

/* Exit codes of a run. */
enum {
  VR_EXIT_OK = 0,
  VR_EXIT_FAILED = 1,
  VR_EXIT_USAGE = 2,
  VR_EXIT_TIMEOUT = 3,
  VR_EXIT_INTERRUPTED = 130
};

vr_sched *vr_sched_new(lua_State *L, uv_loop_t *loop, vr_clock *clock);
/* Frees the scheduler; call after vr_sched_run returned. Closes its handles (run the loop once
 * more before closing the loop). */
void vr_sched_free(vr_sched *s);

/* The scheduler of a Lua state (NULL if none), the task running L (NULL outside tasks). */
vr_sched *vr_sched_of(lua_State *L);
vr_task *vr_task_of(lua_State *L);
vr_clock *vr_sched_clock(vr_sched *s);
uv_loop_t *vr_sched_loop(vr_sched *s);

/* Spawns a task running the function below nargs arguments at the top of L (both popped).
 * `where` describes the spawn site ("hello.lua:12") or NULL; the new task is ready, it runs after
 * the caller yields. Returns the task with one reference held for the caller, or NULL (with an
 * error message pushed) when L has no scheduler. May raise memory errors. */
vr_task *vr_task_spawn(lua_State *L, int nargs, const char *where);
void vr_task_ref(vr_task *t);
void vr_task_unref(vr_task *t);
int vr_task_id(const vr_task *t);
/* "new", "ready", "running", "waiting", "done", "failed", "cancelled" */
const char *vr_task_status(const vr_task *t);
int vr_task_finished(const vr_task *t);
/* Requests cancellation of t with a reason (copied). Safe from callbacks. */
void vr_task_cancel(vr_task *t, const char *reason);

/* Yields the running task until the op completes, times out (timeout in seconds; < 0: never) or
 * is cancelled; then k runs. Raises at once when L is not a task's main coroutine, cannot yield
 * here, or has a cancellation pending. Start the work before calling; its completion must come
 * from a callback, not from inside this call. */
int vr_await(lua_State *L, vr_op *op, const char *what, double timeout, lua_KFunction k,
             lua_KContext ctx);
/* The checks vr_await makes, for primitives that must fail before they start work. Raises. */
void vr_await_check(lua_State *L, const char *what);
/* In the continuation: returns if the op completed, raises vmrun.Error kind "timeout" or
 * "cancelled" otherwise. */
void vr_op_finish(lua_State *L, vr_op *op);
/* From callbacks: marks the op done and makes its task ready. No-op unless pending. */
void vr_op_complete(vr_op *op);

/* Waits until every target is finished or one of them failed (fail_fast) or the timeout passes.
 * The targets must stay referenced by the caller's stack during the wait. In k, call
 * vr_op_finish on vr_join_op(L). */
int vr_task_join(lua_State *L, const char *what, vr_task **targets, int n, int fail_fast,
                 double timeout, lua_KFunction k, lua_KContext ctx);
vr_op *vr_join_op(lua_State *L);
/* For a finished task: pushes its results onto L (returns how many) or, when it failed, pushes
 * its error and returns -1. */
int vr_task_push_results(lua_State *L, vr_task *t);
/* Marks a failed task's error as handled by the caller (so it does not fail the run). */
void vr_task_observe(vr_task *t);

/* Holds (counted): while held no task runs and virtual time does not jump; I/O goes on. For a
 * backend that must make a wait look, to the other tasks and the clock, as if it took no time
 * (the REST backend against a server whose clock the client drives). */
void vr_sched_hold(vr_sched *s);
void vr_sched_release(vr_sched *s);
/* As vr_op_complete, but the task is resumed before any other ready task, in the batch it was
 * in when it yielded. */
void vr_op_complete_first(vr_op *op);
/* The loop stops when nothing is ready (other I/O may be open), so that virtual time can jump:
 * for runs whose watch streams stay open. */
void vr_sched_stop_when_idle(vr_sched *s);
/* The run ends when its last task finishes, though I/O (watch streams) is still open: for the
 * REST backend. (Without it the loop runs until nothing is open, so that host commands being
 * stopped at the end still finish.) */
void vr_sched_end_with_last_task(vr_sched *s);
/* The exit code the run is stopping with (an interrupt, --timeout, a failure), or -1 while it is
 * not: for work that runs the loop before the scheduler does (connecting to a cluster). */
int vr_sched_stop_code(vr_sched *s);

/* Cancels every task (reason copied) and sets the run's exit code if none is set yet. */
void vr_sched_cancel_all(vr_sched *s, const char *reason, int exit_code);
/* Arms the whole-run wall-clock limit (seconds). */
void vr_sched_set_timeout(vr_sched *s, double seconds, const char *label);
/* Installs SIGINT/SIGTERM handling for this scheduler (first: graceful cancel, second: exit). */
int vr_sched_handle_signals(vr_sched *s);
/* The playbook stops gracefully (vmrun.on_abort): from now on the first SIGINT/SIGTERM only asks
 * for an abort (vr_sched_abort_requested says why), the second cancels every task as the first
 * did before, the third exits at once. */
void vr_sched_set_abort(vr_sched *s);
/* Asks for the graceful abort (the first reason stays); NULL until then. */
void vr_sched_request_abort(vr_sched *s, const char *reason);
const char *vr_sched_abort_requested(const vr_sched *s);

/* Runs the loop until every task finished; reports an unobserved failure on stderr; returns the
 * exit code. */
int vr_sched_run(vr_sched *s, const char *progname);

/* Counts for leak checks: live (unfinished) tasks, the waiting ones among them, clock timers,
 * real I/O in flight. */
typedef struct vr_sched_stats {
  int tasks;
  int waiting;
  size_t timers;
  int real_pending;
} vr_sched_stats;
void vr_sched_stats_get(vr_sched *s, vr_sched_stats *out);
/* The unfinished tasks, oldest first: stores up to max of them in out (which may be NULL when
 * max is 0) and returns how many there are. For leak checks (task.list). */
int vr_sched_live_tasks(vr_sched *s, vr_task **out, int max);

#endif
