/* migqueue.c: the limit-aware migration queue's decisions (see migqueue.h for the contract). */
#include "migqueue.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct mq_item {
  int source, priority, target, attempts;
  int *targets; /* owned; NULL: every eligible node */
  int target_count;
  double estimate, started, ready_at;
  int64_t memory, cpu;
  vr_mq_state state;
} mq_item;

typedef struct mq_node {
  int eligible, preference;
  int64_t free_memory, free_cpu; /* < 0: not checked */
  int out_ours, in_ours, out_foreign, in_foreign;
  double waiting_work; /* estimates of the waiting items leaving this node */
} mq_node;

struct vr_mq {
  vr_mq_limits limits;
  vr_mq_retry retry;
  int node_count;
  mq_node *nodes;
  mq_item *items;
  int count, capacity;
  int running, foreign_total, retries_used, any_eligible;
  int planning;     /* 0: the queue; 1: a plan of it (vr_mq_simulate); 2: a plan inside a plan's
                       lookahead, which looks ahead no further */
  double *pressure; /* vr_mq_next's scratch, node_count + 1 entries, owned by the queue and shared
                       with its plans' copies (a vr_mq_next does not read it after the lookahead,
                       whose plans write it) */
};

/* With at most this many items waiting, vr_mq_next tries each item that may start and keeps the
 * one whose simulated finish is earliest (a one-step rollout of the ordering rule, never worse
 * than the rule itself); with more, the rule alone decides. */
#define LOOKAHEAD_MAX 24

static int limits_ok(const vr_mq_limits *l) {
  return l != NULL && l->cluster >= 1 && l->outbound_per_node >= 1 && l->inbound_per_node >= 0;
}

vr_mq *vr_mq_new(int node_count, const vr_mq_limits *limits) {
  vr_mq *q;
  if (node_count < 0 || !limits_ok(limits)) return NULL;
  q = calloc(1, sizeof *q);
  if (q == NULL) return NULL;
  q->nodes = calloc((size_t)node_count + 1, sizeof *q->nodes);
  q->pressure = calloc((size_t)node_count + 1, sizeof *q->pressure);
  if (q->nodes == NULL || q->pressure == NULL) {
    free(q->nodes);
    free(q->pressure);
    free(q);
    return NULL;
  }
  for (int n = 0; n < node_count; n++) q->nodes[n].free_memory = q->nodes[n].free_cpu = -1;
  q->node_count = node_count;
  q->limits = *limits;
  q->retry = (vr_mq_retry){.max_attempts = 3, .budget = 10, .backoff_s = 20, .max_backoff_s = 300};
  return q;
}

void vr_mq_free(vr_mq *q) {
  if (q == NULL) return;
  for (int i = 0; i < q->count; i++) free(q->items[i].targets);
  free(q->items);
  free(q->nodes);
  free(q->pressure);
  free(q);
}

int vr_mq_set_limits(vr_mq *q, const vr_mq_limits *limits) {
  if (!limits_ok(limits)) return -1;
  q->limits = *limits;
  return 0;
}

int vr_mq_set_retry(vr_mq *q, const vr_mq_retry *retry) {
  if (retry->max_attempts < 1 || retry->budget < 0 || !(retry->backoff_s >= 0) ||
      !(retry->max_backoff_s >= retry->backoff_s))
    return -1;
  q->retry = *retry;
  return 0;
}

int vr_mq_set_target(vr_mq *q, int node, int eligible, int preference, int64_t free_memory,
                     int64_t free_cpu_millis) {
  if (node < 0 || node >= q->node_count) return -1;
  q->nodes[node].eligible = eligible != 0;
  q->nodes[node].preference = preference;
  q->nodes[node].free_memory = free_memory < 0 ? -1 : free_memory;
  q->nodes[node].free_cpu = free_cpu_millis < 0 ? -1 : free_cpu_millis;
  q->any_eligible = 0;
  for (int n = 0; n < q->node_count; n++) q->any_eligible |= q->nodes[n].eligible;
  return 0;
}

int vr_mq_add(vr_mq *q, const vr_mq_item_spec *spec) {
  mq_item *it;
  if (spec->source < 0 || spec->source >= q->node_count || !(spec->estimate_s > 0) ||
      !isfinite(spec->estimate_s) || spec->memory_bytes < 0 || spec->cpu_millis < 0 ||
      spec->target_count < 0 || (spec->target_count > 0 && spec->targets == NULL))
    return -1;
  for (int t = 0; t < spec->target_count; t++)
    if (spec->targets[t] < 0 || spec->targets[t] >= q->node_count) return -1;
  if (q->count == q->capacity) {
    int cap = q->capacity ? q->capacity * 2 : 64;
    mq_item *items = realloc(q->items, (size_t)cap * sizeof *items);
    if (items == NULL) return -1;
    q->items = items;
    q->capacity = cap;
  }
  it = &q->items[q->count];
  memset(it, 0, sizeof *it);
  if (spec->targets != NULL) {
    it->targets = malloc((size_t)(spec->target_count ? spec->target_count : 1) * sizeof(int));
    if (it->targets == NULL) return -1;
    memcpy(it->targets, spec->targets, (size_t)spec->target_count * sizeof(int));
    it->target_count = spec->target_count;
  }
  it->source = spec->source;
  it->priority = spec->priority;
  it->estimate = spec->estimate_s;
  it->memory = spec->memory_bytes;
  it->cpu = spec->cpu_millis;
  it->target = -1;
  it->started = -1;
  it->state = VR_MQ_WAITING;
  q->nodes[spec->source].waiting_work += spec->estimate_s;
  return q->count++;
}

void vr_mq_set_foreign(vr_mq *q, int total, const int *outbound, const int *inbound) {
  q->foreign_total = total > 0 ? total : 0;
  for (int n = 0; n < q->node_count; n++) {
    q->nodes[n].out_foreign = outbound != NULL && outbound[n] > 0 ? outbound[n] : 0;
    q->nodes[n].in_foreign = inbound != NULL && inbound[n] > 0 ? inbound[n] : 0;
  }
}

static int fits(const mq_node *n, const mq_item *it) {
  return (n->free_memory < 0 || n->free_memory >= it->memory) &&
         (n->free_cpu < 0 || n->free_cpu >= it->cpu);
}

/* 1 when node a is a better target than node b for this item (b may be -1). */
static int better_target(const vr_mq *q, int a, int b) {
  const mq_node *na = &q->nodes[a], *nb;
  int load_a, load_b;
  if (b < 0) return 1;
  nb = &q->nodes[b];
  if (na->preference != nb->preference) return na->preference > nb->preference;
  load_a = na->in_ours + na->in_foreign;
  load_b = nb->in_ours + nb->in_foreign;
  if (load_a != load_b) return load_a < load_b;
  if (na->free_memory != nb->free_memory) return na->free_memory > nb->free_memory;
  return a < b;
}

/* The best target for the item, -1 when no node is eligible at all (the cluster chooses), or -2
 * when eligible nodes exist but none may take it now. */
static int choose_target(const vr_mq *q, const mq_item *it) {
  int best = -1, count = it->targets != NULL ? it->target_count : q->node_count;
  if (!q->any_eligible) return -1;
  for (int k = 0; k < count; k++) {
    int n = it->targets != NULL ? it->targets[k] : k;
    const mq_node *node = &q->nodes[n];
    if (!node->eligible || n == it->source || !fits(node, it)) continue;
    if (q->limits.inbound_per_node > 0 &&
        node->in_ours + node->in_foreign >= q->limits.inbound_per_node)
      continue;
    if (better_target(q, n, best)) best = n;
  }
  return best < 0 ? -2 : best;
}

static int outbound_free(const vr_mq *q, int node) {
  const mq_node *n = &q->nodes[node];
  return n->out_ours + n->out_foreign < q->limits.outbound_per_node;
}

/* 1 when item a goes before item b (b may be -1); pressure: work left per outbound slot. */
static int before(const vr_mq *q, const double *pressure, int a, int b) {
  const mq_item *x = &q->items[a], *y;
  if (b < 0) return 1;
  y = &q->items[b];
  if (x->priority != y->priority) return x->priority > y->priority;
  if (pressure[x->source] != pressure[y->source]) return pressure[x->source] > pressure[y->source];
  if (x->estimate != y->estimate) return x->estimate > y->estimate;
  return a < b;
}

static void start_item(vr_mq *q, int item, int target, double now) {
  mq_item *it = &q->items[item];
  it->state = VR_MQ_RUNNING;
  it->attempts++;
  it->started = now;
  it->target = target;
  q->running++;
  q->nodes[it->source].out_ours++;
  q->nodes[it->source].waiting_work -= it->estimate;
  if (q->nodes[it->source].waiting_work < 1e-9) q->nodes[it->source].waiting_work = 0;
  if (target >= 0) {
    mq_node *t = &q->nodes[target];
    t->in_ours++;
    if (t->free_memory >= 0) t->free_memory -= it->memory;
    if (t->free_cpu >= 0) t->free_cpu -= it->cpu;
  }
}

static vr_mq *shallow_copy(const vr_mq *q);
static void free_copy(vr_mq *c);
static double simulate_in(vr_mq *c, int level, double now, double foreign_remaining_s, double *ends,
                          int *stuck);

/* The rollout: among the items that may start now (the rule's pick first), the one after whose
 * start the simulated finish is earliest; best when none is better or memory runs out. */
static int lookahead(const vr_mq *q, double now, const double *pressure, int best,
                     int *best_target) {
  int chosen = best, waiting = 0;
  double chosen_end = -1;
  for (int i = 0; i < q->count; i++) waiting += q->items[i].state == VR_MQ_WAITING;
  if (q->planning > 1 || waiting > LOOKAHEAD_MAX || waiting < 2) return best;
  for (int pass = 0; pass < 2; pass++) {
    for (int i = 0; i < q->count; i++) {
      const mq_item *it = &q->items[i];
      int target;
      double end;
      vr_mq *c;
      if ((pass == 0) != (i == best)) continue; /* the rule's pick is the first to beat */
      if (it->priority != q->items[best].priority) continue; /* priority is never traded */
      if (it->state != VR_MQ_WAITING || it->ready_at > now || !outbound_free(q, it->source))
        continue;
      if ((target = choose_target(q, it)) == -2) continue;
      if ((c = shallow_copy(q)) == NULL) return best;
      start_item(c, i, target, now);
      end = simulate_in(c, 3, now, 0, NULL, NULL); /* its plan looks ahead no further */
      free_copy(c);
      if (end >= 0 && (chosen_end < 0 || end < chosen_end - 1e-9)) {
        chosen = i;
        chosen_end = end;
        *best_target = target;
      }
    }
  }
  (void)pressure;
  return chosen;
}

int vr_mq_could_start(const vr_mq *q, double now) {
  if (q->running >= q->limits.cluster) return 0;
  for (int i = 0; i < q->count; i++) {
    const mq_item *it = &q->items[i];
    if (it->state == VR_MQ_WAITING && it->ready_at <= now &&
        q->nodes[it->source].out_ours < q->limits.outbound_per_node)
      return 1;
  }
  return 0;
}

int vr_mq_next(vr_mq *q, double now, vr_mq_start *out) {
  double *pressure;
  unsigned char *skip;
  int started = 0, startable = 0;
  if (q->running + q->foreign_total >= q->limits.cluster) return 0;
  for (int i = 0; i < q->count && !startable; i++) { /* most calls find nothing: say so at once */
    const mq_item *it = &q->items[i];
    startable = it->state == VR_MQ_WAITING && it->ready_at <= now && outbound_free(q, it->source);
  }
  if (!startable) return 0;
  skip = calloc((size_t)q->count + 1, 1);
  if (skip == NULL) return 0;
  /* the work per source node: only the items' sources are read (by `before`) */
  pressure = q->pressure;
  for (int i = 0; i < q->count; i++)
    pressure[q->items[i].source] = q->nodes[q->items[i].source].waiting_work;
  for (int i = 0; i < q->count; i++) {
    const mq_item *it = &q->items[i];
    if (it->state == VR_MQ_RUNNING) {
      double left = it->started + it->estimate - now;
      if (left > 0) pressure[it->source] += left;
    }
  }
  for (;;) {
    int best = -1, target;
    for (int i = 0; i < q->count; i++) {
      const mq_item *it = &q->items[i];
      if (it->state != VR_MQ_WAITING || skip[i] || it->ready_at > now) continue;
      if (!outbound_free(q, it->source)) continue;
      if (before(q, pressure, i, best)) best = i;
    }
    if (best < 0) break;
    target = choose_target(q, &q->items[best]);
    if (target == -2) {
      skip[best] = 1; /* no room for it now: the next one may fit */
      continue;
    }
    best = lookahead(q, now, pressure, best, &target);
    start_item(q, best, target, now);
    out->item = best;
    out->target = target;
    started = 1;
    break;
  }
  free(skip);
  return started;
}

int vr_mq_finish(vr_mq *q, int item, double now, int succeeded) {
  mq_item *it;
  if (item < 0 || item >= q->count || q->items[item].state != VR_MQ_RUNNING) return -1;
  it = &q->items[item];
  q->running--;
  q->nodes[it->source].out_ours--;
  if (it->target >= 0) {
    mq_node *t = &q->nodes[it->target];
    t->in_ours--;
    if (!succeeded) { /* the target pod goes away: its room is free again */
      if (t->free_memory >= 0) t->free_memory += it->memory;
      if (t->free_cpu >= 0) t->free_cpu += it->cpu;
    }
  }
  if (succeeded) {
    it->state = VR_MQ_DONE;
  } else if (it->attempts < q->retry.max_attempts && q->retries_used < q->retry.budget) {
    double backoff = q->retry.backoff_s * pow(2, it->attempts - 1);
    q->retries_used++;
    it->state = VR_MQ_WAITING;
    it->ready_at = now + (backoff < q->retry.max_backoff_s ? backoff : q->retry.max_backoff_s);
    q->nodes[it->source].waiting_work += it->estimate;
  } else {
    it->state = VR_MQ_FAILED;
  }
  return (int)it->state;
}

int vr_mq_cancel(vr_mq *q, int item) {
  if (item < 0 || item >= q->count || q->items[item].state != VR_MQ_WAITING) return -1;
  q->items[item].state = VR_MQ_CANCELLED;
  q->nodes[q->items[item].source].waiting_work -= q->items[item].estimate;
  if (q->nodes[q->items[item].source].waiting_work < 1e-9)
    q->nodes[q->items[item].source].waiting_work = 0;
  return 0;
}

vr_mq_state vr_mq_item_state(const vr_mq *q, int item) {
  return item >= 0 && item < q->count ? q->items[item].state : VR_MQ_CANCELLED;
}

int vr_mq_item_target(const vr_mq *q, int item) {
  return item >= 0 && item < q->count ? q->items[item].target : -1;
}

int vr_mq_item_source(const vr_mq *q, int item) {
  return item >= 0 && item < q->count ? q->items[item].source : -1;
}

int vr_mq_item_attempts(const vr_mq *q, int item) {
  return item >= 0 && item < q->count ? q->items[item].attempts : 0;
}

double vr_mq_item_started(const vr_mq *q, int item) {
  return item >= 0 && item < q->count ? q->items[item].started : -1;
}

double vr_mq_item_ready_at(const vr_mq *q, int item) {
  return item >= 0 && item < q->count ? q->items[item].ready_at : -1;
}

int vr_mq_item_count(const vr_mq *q) {
  return q->count;
}

int vr_mq_count(const vr_mq *q, vr_mq_state state) {
  int n = 0;
  for (int i = 0; i < q->count; i++) n += q->items[i].state == state;
  return n;
}

int vr_mq_running_on(const vr_mq *q, int node, int inbound) {
  if (node < 0 || node >= q->node_count) return 0;
  return inbound ? q->nodes[node].in_ours : q->nodes[node].out_ours;
}

double vr_mq_next_ready(const vr_mq *q, double now) {
  double next = -1;
  for (int i = 0; i < q->count; i++) {
    const mq_item *it = &q->items[i];
    if (it->state == VR_MQ_WAITING && it->ready_at > now && (next < 0 || it->ready_at < next))
      next = it->ready_at;
  }
  return next;
}

/* A deep copy (the target lists are shared with q: the copy never frees them). */
static vr_mq *shallow_copy(const vr_mq *q) {
  vr_mq *c = malloc(sizeof *c);
  if (c == NULL) return NULL;
  *c = *q;
  c->nodes = malloc(((size_t)q->node_count + 1) * sizeof *c->nodes);
  c->items = malloc(((size_t)q->count + 1) * sizeof *c->items);
  if (c->nodes == NULL || c->items == NULL) {
    free(c->nodes);
    free(c->items);
    free(c);
    return NULL;
  }
  if (q->node_count > 0) memcpy(c->nodes, q->nodes, (size_t)q->node_count * sizeof *c->nodes);
  if (q->count > 0) memcpy(c->items, q->items, (size_t)q->count * sizeof *c->items);
  c->capacity = q->count;
  return c;
}

static void free_copy(vr_mq *c) {
  free(c->nodes);
  free(c->items);
  free(c);
}

/* vr_mq_simulate with the copy at planning level (2: no lookahead inside). */
static double simulate_at(const vr_mq *q, int level, double now, double foreign_remaining_s,
                          double *ends, int *stuck);

double vr_mq_simulate(const vr_mq *q, double now, double foreign_remaining_s, double *ends,
                      int *stuck) {
  return simulate_at(q, q->planning + 1, now, foreign_remaining_s, ends, stuck);
}

double vr_mq_simulate_quick(const vr_mq *q, double now, double foreign_remaining_s, double *ends,
                            int *stuck) {
  return simulate_at(q, 2, now, foreign_remaining_s, ends, stuck);
}

static double simulate_at(const vr_mq *q, int level, double now, double foreign_remaining_s,
                          double *ends, int *stuck) {
  vr_mq *c = shallow_copy(q);
  double last;
  if (c == NULL) {
    if (stuck != NULL) *stuck = -1;
    return -1;
  }
  last = simulate_in(c, level, now, foreign_remaining_s, ends, stuck);
  free_copy(c);
  return last;
}

/* simulate_at on a copy the caller made and frees (it is changed: the plan runs on it). */
static double simulate_in(vr_mq *c, int level, double now, double foreign_remaining_s, double *ends,
                          int *stuck) {
  double *end = calloc((size_t)c->count + 1, sizeof *end);
  double t = now, last = now,
         foreign_end = now + (foreign_remaining_s > 0 ? foreign_remaining_s : 0);
  vr_mq_start s;
  if (stuck != NULL) *stuck = -1;
  if (end == NULL) return -1;
  c->retry.budget = 0; /* the plan assumes success */
  c->planning = level;
  for (int i = 0; i < c->count; i++) {
    end[i] = -1;
    if (c->items[i].state == VR_MQ_RUNNING) {
      double e = c->items[i].started + c->items[i].estimate;
      end[i] = e > now ? e : now;
    } else if (c->items[i].state == VR_MQ_DONE) {
      end[i] = c->items[i].started + c->items[i].estimate;
    }
  }
  if (c->foreign_total == 0) foreign_end = now;
  for (;;) {
    double next = -1;
    int waiting = 0;
    if (c->foreign_total > 0 && t >= foreign_end) vr_mq_set_foreign(c, 0, NULL, NULL);
    while (vr_mq_next(c, t, &s)) end[s.item] = t + c->items[s.item].estimate;
    for (int i = 0; i < c->count; i++) {
      const mq_item *it = &c->items[i];
      if (it->state == VR_MQ_RUNNING && (next < 0 || end[i] < next)) next = end[i];
      if (it->state == VR_MQ_WAITING) {
        waiting = 1;
        if (it->ready_at > t && (next < 0 || it->ready_at < next)) next = it->ready_at;
      }
    }
    if (c->foreign_total > 0 && foreign_end > t && (next < 0 || foreign_end < next))
      next = foreign_end;
    if (next < 0) {
      if (waiting) { /* nothing runs, nothing will: a waiting item has no target with room */
        for (int i = 0; i < c->count && stuck != NULL && *stuck < 0; i++)
          if (c->items[i].state == VR_MQ_WAITING) *stuck = i;
        last = -1;
      }
      break;
    }
    t = next;
    for (int i = 0; i < c->count; i++) {
      if (c->items[i].state == VR_MQ_RUNNING && end[i] <= t) {
        vr_mq_finish(c, i, t, 1);
        if (end[i] > last) last = end[i];
      }
    }
  }
  if (ends != NULL) {
    for (int i = 0; i < c->count; i++) {
      vr_mq_state st = c->items[i].state;
      ends[i] = st == VR_MQ_DONE ? end[i] : -1;
    }
  }
  free(end);
  return last;
}
