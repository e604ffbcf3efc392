/* clock.c: real and virtual time with a timer heap (see clock.h). Callbacks only enqueue work;
 * nothing here touches Lua. */
#include "clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

struct vr_clock {
  uv_loop_t *loop;
  uv_timer_t *wake; /* fires real-time timers; owned until its close callback */
  int virtual_time;
  uint64_t start_wall; /* ms since the epoch at start (real time) */
  uint64_t start_hr;   /* uv_hrtime() at start, ns */
  uint64_t vnow;       /* virtual now while no real I/O is pending */
  uint64_t sync_hr;    /* uv_hrtime() when real I/O began (virtual time) */
  int real_pending;
  vr_timer **heap;
  size_t count, cap;
  uint64_t seq;
  vr_event_source *sources;
  size_t nsources;
};

static uint64_t wall_ms(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
}

static int timer_before(const vr_timer *a, const vr_timer *b) {
  return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void heap_swap(vr_clock *c, size_t i, size_t j) {
  vr_timer *t = c->heap[i];
  c->heap[i] = c->heap[j];
  c->heap[j] = t;
  c->heap[i]->heap_index = i;
  c->heap[j]->heap_index = j;
}

static void heap_up(vr_clock *c, size_t i) {
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!timer_before(c->heap[i], c->heap[parent])) break;
    heap_swap(c, i, parent);
    i = parent;
  }
}

static void heap_down(vr_clock *c, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < c->count && timer_before(c->heap[l], c->heap[m])) m = l;
    if (r < c->count && timer_before(c->heap[r], c->heap[m])) m = r;
    if (m == i) break;
    heap_swap(c, i, m);
    i = m;
  }
}

static void heap_remove(vr_clock *c, vr_timer *t) {
  size_t i = t->heap_index;
  c->count--;
  if (i != c->count) {
    c->heap[i] = c->heap[c->count];
    c->heap[i]->heap_index = i;
    heap_down(c, i);
    heap_up(c, i);
  }
  t->active = 0;
}

uint64_t vr_clock_now(vr_clock *c) {
  if (!c->virtual_time) return c->start_wall + (uv_hrtime() - c->start_hr) / 1000000u;
  if (c->real_pending > 0) return c->vnow + (uv_hrtime() - c->sync_hr) / 1000000u;
  return c->vnow;
}

int vr_clock_is_virtual(const vr_clock *c) {
  return c->virtual_time;
}

static uint64_t next_due(vr_clock *c) {
  uint64_t due = c->count ? c->heap[0]->due : UINT64_MAX;
  size_t i;
  for (i = 0; i < c->nsources; i++) {
    uint64_t d = c->sources[i].next_due(c->sources[i].ctx);
    if (d < due) due = d;
  }
  return due;
}

static void fire_due(vr_clock *c, uint64_t now) {
  size_t i;
  while (c->count > 0 && c->heap[0]->due <= now) {
    vr_timer *t = c->heap[0];
    heap_remove(c, t);
    t->cb(t);
  }
  for (i = 0; i < c->nsources; i++) {
    if (c->sources[i].next_due(c->sources[i].ctx) <= now)
      c->sources[i].advance(c->sources[i].ctx, now);
  }
}

/* Fires the first timer due at or before now, else every source event due: 1 when it fired
 * anything. */
static size_t fire_one(vr_clock *c, uint64_t now) {
  size_t i;
  if (c->count > 0 && c->heap[0]->due <= now) {
    vr_timer *t = c->heap[0];
    heap_remove(c, t);
    t->cb(t);
    return 1;
  }
  for (i = 0; i < c->nsources; i++) {
    if (c->sources[i].next_due(c->sources[i].ctx) <= now) {
      c->sources[i].advance(c->sources[i].ctx, now);
      return 1;
    }
  }
  return 0;
}

static void on_wake(uv_timer_t *handle);

/* Arms the libuv timer for the next due event when time flows in real time. */
static void clock_arm(vr_clock *c) {
  uint64_t due, now;
  if (c->wake == NULL) return;
  if (c->virtual_time && c->real_pending == 0) {
    uv_timer_stop(c->wake);
    return;
  }
  due = next_due(c);
  if (due == UINT64_MAX) {
    uv_timer_stop(c->wake);
    return;
  }
  now = vr_clock_now(c);
  uv_timer_start(c->wake, on_wake, due > now ? due - now : 0, 0);
}

static void on_wake(uv_timer_t *handle) {
  vr_clock *c = handle->data;
  fire_due(c, vr_clock_now(c));
  clock_arm(c);
}

vr_clock *vr_clock_new(uv_loop_t *loop, int virtual_time, uint64_t start_ms) {
  vr_clock *c = calloc(1, sizeof *c);
  if (c == NULL) return NULL;
  c->wake = malloc(sizeof *c->wake);
  if (c->wake == NULL || uv_timer_init(loop, c->wake) != 0) {
    free(c->wake);
    free(c);
    return NULL;
  }
  c->wake->data = c;
  c->loop = loop;
  c->virtual_time = virtual_time;
  c->start_wall = wall_ms();
  c->start_hr = uv_hrtime();
  c->vnow = start_ms ? start_ms : c->start_wall;
  return c;
}

static void free_handle(uv_handle_t *handle) {
  free(handle);
}

void vr_clock_free(vr_clock *c) {
  if (c == NULL) return;
  c->count = 0; /* timers may live in memory that is already gone: do not touch them */
  if (c->wake) {
    uv_timer_stop(c->wake);
    uv_close((uv_handle_t *)c->wake, free_handle);
  }
  free(c->heap);
  free(c->sources);
  free(c);
}

void vr_timer_start(vr_clock *c, vr_timer *t, uint64_t delay_ms, vr_timer_cb cb, void *data) {
  uint64_t now = vr_clock_now(c);
  if (t->active) heap_remove(c, t);
  if (c->count == c->cap) {
    size_t ncap = c->cap ? c->cap * 2 : 64;
    vr_timer **nheap = realloc(c->heap, ncap * sizeof *nheap);
    if (nheap == NULL) abort(); /* a timer that silently never fires is worse than stopping */
    c->heap = nheap;
    c->cap = ncap;
  }
  t->due = delay_ms > UINT64_MAX - now ? UINT64_MAX - 1 : now + delay_ms;
  t->seq = c->seq++;
  t->cb = cb;
  t->data = data;
  t->active = 1;
  t->heap_index = c->count;
  c->heap[c->count++] = t;
  heap_up(c, t->heap_index);
  clock_arm(c);
}

void vr_timer_stop(vr_clock *c, vr_timer *t) {
  if (!t->active) return;
  heap_remove(c, t);
  clock_arm(c);
}

size_t vr_clock_timer_count(const vr_clock *c) {
  return c->count;
}

int vr_clock_add_source(vr_clock *c, const vr_event_source *source) {
  vr_event_source *n = realloc(c->sources, (c->nsources + 1) * sizeof *n);
  if (n == NULL) return -1;
  c->sources = n;
  c->sources[c->nsources++] = *source;
  clock_arm(c);
  return 0;
}

void vr_clock_remove_source(vr_clock *c, void *ctx) {
  size_t i;
  for (i = 0; i < c->nsources; i++) {
    if (c->sources[i].ctx == ctx) {
      memmove(&c->sources[i], &c->sources[i + 1], (c->nsources - i - 1) * sizeof *c->sources);
      c->nsources--;
      break;
    }
  }
  clock_arm(c);
}

void vr_clock_real_begin(vr_clock *c) {
  if (c->virtual_time && c->real_pending == 0) c->sync_hr = uv_hrtime();
  c->real_pending++;
  clock_arm(c);
}

void vr_clock_real_end(vr_clock *c) {
  if (c->real_pending <= 0) return;
  if (c->virtual_time && c->real_pending == 1) c->vnow = vr_clock_now(c);
  c->real_pending--;
  clock_arm(c);
}

int vr_clock_real_pending(const vr_clock *c) {
  return c->real_pending;
}

int vr_clock_jump(vr_clock *c) {
  uint64_t due;
  if (!c->virtual_time || c->real_pending > 0) return 0;
  due = next_due(c);
  if (due == UINT64_MAX) return 0;
  if (due > c->vnow) c->vnow = due;
  fire_due(c, c->vnow);
  return 1;
}

size_t vr_clock_advance(vr_clock *c, uint64_t until, size_t max_fires) {
  size_t fired = 0;
  if (!c->virtual_time || c->real_pending > 0) return 0;
  while (max_fires == 0 || fired < max_fires) {
    uint64_t due = next_due(c);
    if (due > until) {
      if (until > c->vnow) c->vnow = until;
      break;
    }
    if (due > c->vnow) c->vnow = due;
    fired += fire_one(c, c->vnow);
  }
  return fired;
}

void vr_clock_make_virtual(vr_clock *c, uint64_t now_ms) {
  c->virtual_time = 1;
  c->vnow = now_ms;
  clock_arm(c);
}

uint64_t vr_clock_next_due(vr_clock *c) {
  return next_due(c);
}

void vr_clock_fire_due(vr_clock *c) {
  if (c->virtual_time && c->real_pending == 0) fire_due(c, c->vnow);
}

void vr_clock_format(uint64_t t, char *buf, size_t len) {
  time_t secs = (time_t)(t / 1000u);
  struct tm tm;
  char date[32];
  gmtime_r(&secs, &tm);
  strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf, len, "%s.%03uZ", date, (unsigned)(t % 1000u));
}
