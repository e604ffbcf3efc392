/* clock.h: the run's clock and its timers, in real time or virtual time.
 *
 * Time is milliseconds since the Unix epoch. Real time follows the wall clock (monotonically,
 * from one reading at start) and fires timers from one libuv timer. Virtual time stands still
 * while Lua code runs and jumps, when the scheduler has nothing runnable (vr_clock_jump), to the
 * earliest pending timer or event of a registered event source (the simulator is one). While
 * real I/O is pending (vr_clock_real_begin/end: host commands, HTTP), virtual time flows at the
 * real pace so that such I/O and its timeouts behave as in real time.
 *
 * Timer callbacks run from the libuv loop or from vr_clock_jump; they must only enqueue work
 * (complete an op), never resume Lua code. Nothing here knows about Lua. */
#ifndef VMRUN_CLOCK_H
#define VMRUN_CLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct vr_clock vr_clock;
typedef struct vr_timer vr_timer;
typedef void (*vr_timer_cb)(vr_timer *timer);

struct vr_timer {
  uint64_t due;      /* ms since the epoch */
  uint64_t seq;      /* insertion order, breaks ties deterministically */
  size_t heap_index; /* position in the clock's heap while active */
  int active;
  vr_timer_cb cb;
  void *data; /* owner's pointer */
};

/* A source of timed events other than timers (the simulator): next_due returns the time of its
 * earliest pending event or UINT64_MAX; advance(now) processes every event due at or before now. */
typedef struct vr_event_source {
  uint64_t (*next_due)(void *ctx);
  void (*advance)(void *ctx, uint64_t now);
  void *ctx;
} vr_event_source;

/* start_ms: the virtual clock's start time (0: the current wall-clock time). NULL on failure. */
vr_clock *vr_clock_new(uv_loop_t *loop, int virtual_time, uint64_t start_ms);
/* Stops every timer; the libuv handle is closed, so run the loop once more before freeing it. */
void vr_clock_free(vr_clock *clock);

uint64_t vr_clock_now(vr_clock *clock);
int vr_clock_is_virtual(const vr_clock *clock);

/* Starts (or restarts) timer to fire delay_ms from now. */
void vr_timer_start(vr_clock *clock, vr_timer *timer, uint64_t delay_ms, vr_timer_cb cb,
                    void *data);
void vr_timer_stop(vr_clock *clock, vr_timer *timer);
size_t vr_clock_timer_count(const vr_clock *clock);

int vr_clock_add_source(vr_clock *clock, const vr_event_source *source);
void vr_clock_remove_source(vr_clock *clock, void *ctx);

/* Real I/O in flight (each begin has one end). */
void vr_clock_real_begin(vr_clock *clock);
void vr_clock_real_end(vr_clock *clock);
int vr_clock_real_pending(const vr_clock *clock);

/* Virtual time with nothing runnable and no real I/O pending: jump to the next timer or source
 * event and fire everything due. Returns 1 if it moved or fired anything, 0 when nothing is
 * pending. In real time it returns 0. */
int vr_clock_jump(vr_clock *clock);

/* Virtual time with no real I/O pending: fires the timers and source events already due (at or
 * before now) without moving time, so that zero-delay waits (task.yield) complete while other
 * tasks stay runnable. No-op otherwise (a libuv timer fires them). */
void vr_clock_fire_due(vr_clock *clock);

/* Virtual time with no real I/O pending: moves time forward to until (ms since the epoch),
 * firing every timer and source event due on the way at its own time, in order; never moves
 * time back. For a clock that a driver paces (`vmrun serve --speed N`). Stops early, leaving the
 * rest for the next call, after max_fires firings (0: no limit), so that controllers that keep
 * scheduling work at the same instant cannot hold the caller for ever. Returns how many timers
 * and source events it fired. */
size_t vr_clock_advance(vr_clock *clock, uint64_t until, size_t max_fires);

/* Turns a real-time clock without timers into a virtual one at now_ms (ms since the epoch): a
 * run whose time a server's simulation drives. */
void vr_clock_make_virtual(vr_clock *clock, uint64_t now_ms);

/* The earliest pending timer or source event (ms since the epoch), UINT64_MAX when none. */
uint64_t vr_clock_next_due(vr_clock *clock);

/* Formats t (ms since the epoch) as RFC 3339 UTC with milliseconds: 2026-11-25T17:20:00.000Z. */
void vr_clock_format(uint64_t t, char *buf, size_t len);

#endif
