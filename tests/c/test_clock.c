/* test_clock.c: unit tests of runtime/clock.c. Virtual time: jumps to the earliest timer, ties
 * broken by start order, timers started, stopped and restarted from callbacks, a large random heap,
 * event sources mixed with timers, the clock standing still without a jump, real I/O making
 * virtual time flow at the real pace; RFC 3339 formatting; real time: timers fire in order and
 * never early. Timing checks are lower bounds or orderings only. */
#include "check.h"
#include "clock.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define START 1000000000000ull /* 2001-09-09T01:46:40.000Z */

/* --- a recorder of timer firings ------------------------------------------------------------ */

typedef struct firing {
  int id;
  uint64_t at; /* vr_clock_now() in the callback */
  int real_pending;
} firing;

typedef struct recorder {
  vr_clock *clock;
  firing log[512];
  int n;
} recorder;

typedef struct rec_timer {
  vr_timer timer;
  recorder *rec;
  int id;
  /* optional action in the callback */
  struct rec_timer *start_other;
  uint64_t other_delay;
  struct rec_timer *stop_other;
} rec_timer;

static void on_rec(vr_timer *timer) {
  rec_timer *t = timer->data;
  recorder *r = t->rec;
  CHECK(timer->active == 0); /* removed from the heap before its callback */
  if (r->n < (int)(sizeof r->log / sizeof r->log[0])) {
    r->log[r->n].id = t->id;
    r->log[r->n].at = vr_clock_now(r->clock);
    r->log[r->n].real_pending = vr_clock_real_pending(r->clock);
    r->n++;
  }
  if (t->start_other) {
    vr_timer_start(r->clock, &t->start_other->timer, t->other_delay, on_rec, t->start_other);
  }
  if (t->stop_other) vr_timer_stop(r->clock, &t->stop_other->timer);
}

static void rec_init(rec_timer *t, recorder *r, int id) {
  memset(t, 0, sizeof *t);
  t->rec = r;
  t->id = id;
}

static void rec_start(recorder *r, rec_timer *t, uint64_t delay) {
  vr_timer_start(r->clock, &t->timer, delay, on_rec, t);
}

static vr_clock *clock_new(uv_loop_t *loop, int virtual_time, uint64_t start_ms) {
  vr_clock *c = vr_clock_new(loop, virtual_time, start_ms);
  if (c == NULL) {
    fprintf(stderr, "vr_clock_new failed\n");
    exit(1);
  }
  return c;
}

/* Jumps until nothing is pending (at most `limit` jumps); returns the number of jumps. */
static int jump_all(vr_clock *c, int limit) {
  int n = 0;
  while (n < limit && vr_clock_jump(c)) n++;
  return n;
}

static void close_loop(uv_loop_t *loop) {
  uv_run(loop, UV_RUN_DEFAULT); /* the clock's close callback */
  CHECK(uv_loop_close(loop) == 0);
}

/* --- virtual time -------------------------------------------------------------------------- */

static void test_virtual_basics(void) {
  uv_loop_t loop;
  recorder r;
  rec_timer a, b, c, d;
  uv_loop_init(&loop);
  memset(&r, 0, sizeof r);
  r.clock = clock_new(&loop, 1, START);
  CHECK(vr_clock_is_virtual(r.clock));
  CHECK(vr_clock_now(r.clock) == START);
  CHECK(vr_clock_jump(r.clock) == 0); /* nothing pending */
  CHECK(vr_clock_now(r.clock) == START);

  rec_init(&a, &r, 1);
  rec_init(&b, &r, 2);
  rec_init(&c, &r, 3);
  rec_init(&d, &r, 4);
  rec_start(&r, &a, 30);
  rec_start(&r, &b, 10);
  rec_start(&r, &c, 20);
  rec_start(&r, &d, 10); /* same due time as b, started later: fires after b */
  CHECK(vr_clock_timer_count(r.clock) == 4);

  /* time stands still while nothing jumps: running the loop fires nothing */
  uv_run(&loop, UV_RUN_NOWAIT);
  CHECK(r.n == 0);
  CHECK(vr_clock_now(r.clock) == START);

  CHECK(vr_clock_jump(r.clock) == 1); /* to +10: b and d */
  CHECK(r.n == 2);
  CHECK(vr_clock_now(r.clock) == START + 10);
  CHECK(vr_clock_jump(r.clock) == 1); /* +20: c */
  CHECK(vr_clock_jump(r.clock) == 1); /* +30: a */
  CHECK(vr_clock_jump(r.clock) == 0);
  CHECK(r.n == 4);
  if (r.n == 4) {
    CHECK(r.log[0].id == 2 && r.log[0].at == START + 10);
    CHECK(r.log[1].id == 4 && r.log[1].at == START + 10);
    CHECK(r.log[2].id == 3 && r.log[2].at == START + 20);
    CHECK(r.log[3].id == 1 && r.log[3].at == START + 30);
  }
  CHECK(vr_clock_now(r.clock) == START + 30);
  CHECK(vr_clock_timer_count(r.clock) == 0);

  /* start 0 of a virtual clock: it starts at the wall-clock time */
  {
    vr_clock *w = clock_new(&loop, 1, 0);
    uint64_t now = vr_clock_now(w);
    CHECK(now > START);            /* after 2001 */
    CHECK(vr_clock_now(w) == now); /* and stands still */
    vr_clock_free(w);
  }
  vr_clock_free(r.clock);
  close_loop(&loop);
}

static void test_virtual_stop_restart(void) {
  uv_loop_t loop;
  recorder r;
  rec_timer a, b, c;
  uv_loop_init(&loop);
  memset(&r, 0, sizeof r);
  r.clock = clock_new(&loop, 1, START);
  rec_init(&a, &r, 1);
  rec_init(&b, &r, 2);
  rec_init(&c, &r, 3);

  vr_timer_stop(r.clock, &a.timer); /* never started: no-op */
  rec_start(&r, &a, 10);
  CHECK(a.timer.active);
  vr_timer_stop(r.clock, &a.timer);
  CHECK(!a.timer.active);
  vr_timer_stop(r.clock, &a.timer); /* twice: no-op */
  CHECK(vr_clock_timer_count(r.clock) == 0);
  CHECK(vr_clock_jump(r.clock) == 0);
  CHECK(vr_clock_now(r.clock) == START); /* a stopped timer does not move the clock */

  /* restarting an active timer moves it (it fires once, at the new time) */
  rec_start(&r, &a, 10);
  rec_start(&r, &b, 20);
  rec_start(&r, &a, 50);
  CHECK(vr_clock_timer_count(r.clock) == 2);
  jump_all(r.clock, 10);
  CHECK(r.n == 2);
  if (r.n == 2) {
    CHECK(r.log[0].id == 2 && r.log[0].at == START + 20);
    CHECK(r.log[1].id == 1 && r.log[1].at == START + 50);
  }

  /* a callback stops a timer due at the same time (it must not fire) and starts another */
  r.n = 0;
  a.stop_other = &b;
  a.start_other = &c;
  a.other_delay = 5;
  rec_start(&r, &a, 10);
  rec_start(&r, &b, 10);
  CHECK(vr_clock_jump(r.clock) == 1);
  CHECK(r.n == 1 && r.log[0].id == 1);
  CHECK(!b.timer.active);
  CHECK(c.timer.active && c.timer.due == START + 65);
  jump_all(r.clock, 10);
  CHECK(r.n == 2);
  if (r.n == 2) CHECK(r.log[1].id == 3 && r.log[1].at == START + 65);

  /* a callback starting a 0-delay timer: it fires at the same virtual time */
  r.n = 0;
  a.stop_other = NULL;
  a.start_other = &c;
  a.other_delay = 0;
  rec_start(&r, &a, 100);
  jump_all(r.clock, 10);
  CHECK(r.n == 2);
  if (r.n == 2) {
    CHECK(r.log[0].id == 1 && r.log[1].id == 3);
    CHECK(r.log[0].at == START + 165 && r.log[1].at == START + 165);
  }

  /* a timer that restarts itself from its callback keeps going one period at a time */
  r.n = 0;
  a.start_other = &a;
  a.other_delay = 7;
  rec_start(&r, &a, 7);
  CHECK(vr_clock_jump(r.clock) == 1);
  CHECK(vr_clock_jump(r.clock) == 1);
  CHECK(vr_clock_jump(r.clock) == 1);
  CHECK(r.n == 3);
  if (r.n == 3) CHECK(r.log[2].at == START + 165 + 21);
  vr_timer_stop(r.clock, &a.timer);
  CHECK(vr_clock_jump(r.clock) == 0);

  /* a huge delay saturates instead of wrapping around */
  rec_start(&r, &b, UINT64_MAX);
  CHECK(b.timer.due > vr_clock_now(r.clock));
  vr_timer_stop(r.clock, &b.timer);

  /* freeing the clock with active timers leaves them alone (their memory may be gone) */
  rec_start(&r, &b, 10);
  rec_start(&r, &c, 20);
  vr_clock_free(r.clock);
  close_loop(&loop);
}

/* Many timers with random delays: they fire in (due, start order) order, stopped ones never. */
static void test_virtual_heap_order(void) {
  enum { N = 300 };
  uv_loop_t loop;
  static recorder r;
  static rec_timer t[N];
  uint64_t due[N];
  int stopped[N], i, expected = 0, sorted = 1, no_stopped = 1, exact = 1;
  uint32_t seed = 12345;
  uv_loop_init(&loop);
  memset(&r, 0, sizeof r);
  r.clock = clock_new(&loop, 1, START);
  for (i = 0; i < N; i++) {
    seed = seed * 1103515245u + 12345u;
    rec_init(&t[i], &r, i);
    due[i] = (seed >> 16) % 50; /* many ties */
    rec_start(&r, &t[i], due[i]);
    stopped[i] = 0;
  }
  for (i = 0; i < N; i += 7) {
    vr_timer_stop(r.clock, &t[i].timer);
    stopped[i] = 1;
  }
  for (i = 0; i < N; i++) expected += !stopped[i];
  CHECK(vr_clock_timer_count(r.clock) == (size_t)expected);
  jump_all(r.clock, 1000);
  CHECK(r.n == expected);
  for (i = 0; i < r.n; i++) {
    int id = r.log[i].id;
    if (stopped[id]) no_stopped = 0;
    if (r.log[i].at != START + due[id]) exact = 0;
    if (i > 0) {
      int prev = r.log[i - 1].id;
      if (due[prev] > due[id] || (due[prev] == due[id] && t[prev].timer.seq > t[id].timer.seq))
        sorted = 0;
    }
  }
  CHECK(sorted);
  CHECK(no_stopped);
  CHECK(exact);
  vr_clock_free(r.clock);
  close_loop(&loop);
}

/* --- event sources ---------------------------------------------------------------------------- */

typedef struct fake_source {
  uint64_t events[8]; /* absolute times, ascending */
  int nevents, next;
  uint64_t advanced_to[16];
  int nadvance;
  recorder *rec; /* events are also logged there, with id 100 + index */
} fake_source;

static uint64_t fake_next_due(void *ctx) {
  fake_source *f = ctx;
  return f->next < f->nevents ? f->events[f->next] : UINT64_MAX;
}

static void fake_advance(void *ctx, uint64_t now) {
  fake_source *f = ctx;
  if (f->nadvance < 16) f->advanced_to[f->nadvance++] = now;
  while (f->next < f->nevents && f->events[f->next] <= now) {
    recorder *r = f->rec;
    r->log[r->n].id = 100 + f->next;
    r->log[r->n].at = now;
    r->n++;
    f->next++;
  }
}

static void test_event_sources(void) {
  uv_loop_t loop;
  recorder r;
  rec_timer a, b;
  fake_source f;
  vr_event_source src;
  uv_loop_init(&loop);
  memset(&r, 0, sizeof r);
  memset(&f, 0, sizeof f);
  r.clock = clock_new(&loop, 1, START);
  f.rec = &r;
  f.events[0] = START + 10;
  f.events[1] = START + 15;
  f.events[2] = START + 15;
  f.events[3] = START + 30;
  f.nevents = 4;
  src.next_due = fake_next_due;
  src.advance = fake_advance;
  src.ctx = &f;
  CHECK(vr_clock_add_source(r.clock, &src) == 0);
  rec_init(&a, &r, 1);
  rec_init(&b, &r, 2);
  rec_start(&r, &a, 15);
  rec_start(&r, &b, 40);

  CHECK(vr_clock_jump(r.clock) == 1); /* +10: the source's first event */
  CHECK(vr_clock_now(r.clock) == START + 10);
  CHECK(r.n == 1 && r.log[0].id == 100);
  CHECK(vr_clock_jump(r.clock) == 1); /* +15: the timer first, then both source events */
  CHECK(r.n == 4);
  if (r.n == 4) {
    CHECK(r.log[1].id == 1 && r.log[1].at == START + 15);
    CHECK(r.log[2].id == 101 && r.log[3].id == 102 && r.log[3].at == START + 15);
  }
  CHECK(vr_clock_jump(r.clock) == 1); /* +30: source */
  CHECK(vr_clock_jump(r.clock) == 1); /* +40: timer b */
  CHECK(vr_clock_jump(r.clock) == 0);
  CHECK(r.n == 6);
  if (r.n == 6) {
    CHECK(r.log[4].id == 103 && r.log[4].at == START + 30);
    CHECK(r.log[5].id == 2 && r.log[5].at == START + 40);
  }
  CHECK(f.nadvance == 3); /* advance is called only when an event is due */
  CHECK(f.advanced_to[0] == START + 10 && f.advanced_to[1] == START + 15 &&
        f.advanced_to[2] == START + 30);

  /* an event in the past is processed at the current time: the clock never goes back */
  f.events[4] = START + 5;
  f.nevents = 5;
  CHECK(vr_clock_jump(r.clock) == 1);
  CHECK(vr_clock_now(r.clock) == START + 40);
  CHECK(f.next == 5 && f.advanced_to[3] == START + 40);

  /* a removed source is not asked any more */
  f.events[5] = START + 100;
  f.nevents = 6;
  vr_clock_remove_source(r.clock, &f);
  vr_clock_remove_source(r.clock, &f); /* unknown ctx: no-op */
  CHECK(vr_clock_jump(r.clock) == 0);
  CHECK(vr_clock_now(r.clock) == START + 40);
  CHECK(f.next == 5);
  vr_clock_free(r.clock);
  close_loop(&loop);
}

/* --- real I/O under virtual time ------------------------------------------------------------ */

typedef struct real_io {
  vr_clock *clock;
  uint64_t ended_at;                   /* vr_clock_now() just before real_end */
  uint64_t hr_start, hr_begun, hr_end; /* before and after real_begin, before real_end */
  int ended;
} real_io;

static void on_real_io_done(uv_timer_t *handle) {
  real_io *io = handle->data;
  io->hr_end = uv_hrtime();
  io->ended_at = vr_clock_now(io->clock);
  CHECK(vr_clock_jump(io->clock) == 0); /* no jumps while real I/O is pending */
  vr_clock_real_end(io->clock);
  io->ended = 1;
  uv_close((uv_handle_t *)handle, NULL);
}

static void test_real_io_under_virtual_time(void) {
  uv_loop_t loop;
  uv_timer_t io_timer;
  recorder r;
  rec_timer v, far;
  real_io io;
  uint64_t after;
  uv_loop_init(&loop);
  memset(&r, 0, sizeof r);
  memset(&io, 0, sizeof io);
  r.clock = clock_new(&loop, 1, START);
  io.clock = r.clock;
  rec_init(&v, &r, 1);
  rec_init(&far, &r, 2);
  rec_start(&r, &far, 3600 * 1000);

  CHECK(vr_clock_real_pending(r.clock) == 0);
  vr_clock_real_end(r.clock); /* unbalanced end: ignored */
  CHECK(vr_clock_real_pending(r.clock) == 0);

  uv_update_time(&loop); /* the loop's cached time must not be stale when the timers start */
  io.hr_start = uv_hrtime();
  vr_clock_real_begin(r.clock);
  io.hr_begun = uv_hrtime();
  CHECK(vr_clock_real_pending(r.clock) == 1);
  rec_start(&r, &v, 20); /* due 20 ms into the real I/O */
  uv_timer_init(&loop, &io_timer);
  io_timer.data = &io;
  uv_timer_start(&io_timer, on_real_io_done, 50, 0);
  uv_run(&loop, UV_RUN_DEFAULT); /* returns when the I/O ended and the clock stopped flowing */

  CHECK(io.ended);
  CHECK(r.n == 1); /* v fired in real time, the far timer did not */
  if (r.n == 1) {
    CHECK(r.log[0].id == 1);
    CHECK(r.log[0].real_pending == 1);
    CHECK(r.log[0].at >= START + 20);
    CHECK(r.log[0].at <= io.ended_at);
  }
  /* virtual time flowed at the real pace while the I/O ran (bounds from both sides of begin) */
  CHECK(io.ended_at - START >= (io.hr_end - io.hr_begun) / 1000000u);
  CHECK(io.ended_at - START <= (io.hr_end - io.hr_start) / 1000000u + 1);
  after = vr_clock_now(r.clock);
  CHECK(after == io.ended_at); /* and stands still again afterwards */
  CHECK(vr_clock_real_pending(r.clock) == 0);

  /* nested real I/O: time flows until the last one ends */
  vr_clock_real_begin(r.clock);
  vr_clock_real_begin(r.clock);
  vr_clock_real_end(r.clock);
  CHECK(vr_clock_real_pending(r.clock) == 1);
  CHECK(vr_clock_jump(r.clock) == 0);
  vr_clock_real_end(r.clock);
  CHECK(vr_clock_real_pending(r.clock) == 0);
  after = vr_clock_now(r.clock);

  CHECK(vr_clock_jump(r.clock) == 1); /* the far timer, exactly at its due time */
  CHECK(r.n == 2);
  if (r.n == 2) CHECK(r.log[1].id == 2 && r.log[1].at == START + 3600 * 1000);
  CHECK(after < START + 3600 * 1000);
  vr_clock_free(r.clock);
  close_loop(&loop);
}

/* --- real time -------------------------------------------------------------------------------- */

static void test_real_time(void) {
  uv_loop_t loop;
  recorder r;
  rec_timer a, b, c;
  uint64_t wall_before, t0, hr0;
  uv_loop_init(&loop);
  memset(&r, 0, sizeof r);
  {
    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    wall_before = (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
  }
  r.clock = clock_new(&loop, 0, 0);
  CHECK(!vr_clock_is_virtual(r.clock));
  t0 = vr_clock_now(r.clock);
  CHECK(t0 + 1000 >= wall_before && t0 < wall_before + 60 * 1000); /* the wall clock */
  CHECK(vr_clock_jump(r.clock) == 0);
  rec_init(&a, &r, 1);
  rec_init(&b, &r, 2);
  rec_init(&c, &r, 3);
  uv_update_time(&loop);
  hr0 = uv_hrtime();
  t0 = vr_clock_now(r.clock);
  rec_start(&r, &a, 30);
  rec_start(&r, &b, 10);
  rec_start(&r, &c, 40);
  vr_timer_stop(r.clock, &c.timer);
  uv_run(&loop, UV_RUN_DEFAULT); /* returns once no timer is left */
  CHECK(r.n == 2);
  if (r.n == 2) {
    CHECK(r.log[0].id == 2 && r.log[1].id == 1);
    CHECK(r.log[0].at >= t0 + 10);
    CHECK(r.log[1].at >= t0 + 30);
  }
  CHECK(uv_hrtime() - hr0 >= 29 * 1000000ull); /* real time passed (ms rounding aside) */
  CHECK(vr_clock_now(r.clock) >= t0 + 30);
  CHECK(vr_clock_timer_count(r.clock) == 0);
  vr_clock_free(r.clock);
  close_loop(&loop);
}

/* --- formatting ------------------------------------------------------------------------------- */

static void test_format(void) {
  char buf[64];
  vr_clock_format(0, buf, sizeof buf);
  CHECK_STR(buf, "1970-01-01T00:00:00.000Z");
  vr_clock_format(START, buf, sizeof buf);
  CHECK_STR(buf, "2001-09-09T01:46:40.000Z");
  vr_clock_format(1795627200000ull + 7, buf, sizeof buf);
  CHECK_STR(buf, "2026-11-25T17:20:00.007Z");
  vr_clock_format(951868799999ull, buf, sizeof buf); /* leap day, last millisecond */
  CHECK_STR(buf, "2000-02-29T23:59:59.999Z");
  vr_clock_format(START + 123, buf, 10); /* truncated, still terminated */
  CHECK_STR(buf, "2001-09-0");
}

/* vr_clock_advance: every timer due on the way fires at its own time, in order; time ends at
 * `until` (never earlier, never back); a timer that keeps restarting at delay 0 is cut off by
 * max_fires and goes on at the next call; real I/O in flight leaves the clock alone. */
static void test_advance(void) {
  uv_loop_t loop;
  recorder r;
  rec_timer a, b, c, loop_timer;
  uv_loop_init(&loop);
  memset(&r, 0, sizeof r);
  r.clock = clock_new(&loop, 1, START);
  rec_init(&a, &r, 1);
  rec_init(&b, &r, 2);
  rec_init(&c, &r, 3);
  a.start_other = &c; /* a starts c 5 ms later: inside the same advance */
  a.other_delay = 5;
  rec_start(&r, &a, 10);
  rec_start(&r, &b, 50);
  CHECK(vr_clock_next_due(r.clock) == START + 10);
  CHECK(vr_clock_advance(r.clock, START + 40, 0) == 2);
  CHECK(vr_clock_now(r.clock) == START + 40);
  CHECK(r.n == 2);
  if (r.n == 2) {
    CHECK(r.log[0].id == 1 && r.log[0].at == START + 10);
    CHECK(r.log[1].id == 3 && r.log[1].at == START + 15);
  }
  CHECK(vr_clock_advance(r.clock, START + 20, 0) == 0); /* never back */
  CHECK(vr_clock_now(r.clock) == START + 40);
  CHECK(vr_clock_advance(r.clock, START + 50, 0) == 1); /* b, due exactly at until */
  CHECK(r.n == 3 && r.log[2].id == 2 && r.log[2].at == START + 50);
  CHECK(vr_clock_next_due(r.clock) == UINT64_MAX);

  /* a timer that restarts itself at once: bounded per call, and time does not move on past it */
  rec_init(&loop_timer, &r, 4);
  loop_timer.start_other = &loop_timer;
  loop_timer.other_delay = 0;
  rec_start(&r, &loop_timer, 0);
  CHECK(vr_clock_advance(r.clock, START + 100, 7) == 7);
  CHECK(vr_clock_now(r.clock) == START + 50);
  CHECK(vr_clock_timer_count(r.clock) == 1);
  vr_timer_stop(r.clock, &loop_timer.timer);
  CHECK(vr_clock_advance(r.clock, START + 100, 7) == 0);
  CHECK(vr_clock_now(r.clock) == START + 100);

  /* with real I/O pending, advancing is the real clock's business */
  vr_clock_real_begin(r.clock);
  CHECK(vr_clock_advance(r.clock, START + 500, 0) == 0);
  vr_clock_real_end(r.clock);
  CHECK(vr_clock_now(r.clock) < START + 500);
  vr_clock_free(r.clock);
  close_loop(&loop);
}

int main(void) {
  test_advance();
  test_virtual_basics();
  test_virtual_stop_restart();
  test_virtual_heap_order();
  test_event_sources();
  test_real_io_under_virtual_time();
  test_real_time();
  test_format();
  return CHECK_DONE();
}
