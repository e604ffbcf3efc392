/* test_migqueue.c: the limit-aware migration queue's decisions (runtime/migqueue.c): the cluster,
 * outbound and inbound limits are never exceeded, also with migrations that others started (a
 * random run over many seeds checks it at every step); the order (priority, the busiest source,
 * the longest first); targets (eligibility, preference, inbound limit, memory and CPU room);
 * retries with backoff and budgets; cancel; vr_mq_could_start; and vr_mq_simulate's plan. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "migqueue.h"

static uint64_t rng = 1;

static double uniform(void) {
  rng = rng * 6364136223846793005u + 1442695040888963407u;
  return (double)(rng >> 11) / 9007199254740992.0;
}

static vr_mq_item_spec item(int source, double estimate) {
  vr_mq_item_spec s = {.source = source, .estimate_s = estimate};
  return s;
}

/* Random runs: items finish (or fail) at random; foreign counts change at random; after every
 * decision the limits hold. */
static void test_limits_hold(void) {
  for (int seed = 1; seed <= 200; seed++) {
    const int nodes = 2 + seed % 7, draining = 1 + seed % (nodes - 1 > 3 ? 3 : nodes - 1);
    vr_mq_limits limits = {1 + seed % 5, 1 + seed % 3, seed % 3};
    vr_mq *q = vr_mq_new(nodes, &limits);
    int foreign_out[16] = {0}, foreign_in[16] = {0}, foreign_total = 0, violations = 0;
    double now = 0;
    rng = (uint64_t)seed;
    for (int n = draining; n < nodes; n++) CHECK(vr_mq_set_target(q, n, 1, 0, -1, -1) == 0);
    for (int i = 0; i < 30; i++) {
      vr_mq_item_spec s = item((int)(uniform() * draining), 10 + uniform() * 100);
      CHECK(vr_mq_add(q, &s) == i);
    }
    for (int step = 0; step < 400; step++) {
      vr_mq_start st;
      int running[16] = {0};
      if (uniform() < 0.2) { /* others start or end migrations */
        foreign_total = 0;
        for (int n = 0; n < nodes; n++) {
          foreign_out[n] = uniform() < 0.2;
          foreign_in[n] = uniform() < 0.2;
          foreign_total += foreign_out[n];
        }
        vr_mq_set_foreign(q, foreign_total, foreign_out, foreign_in);
      }
      /* could_start 0 means no start whatever the foreign counts: none even with no foreign */
      if (!vr_mq_could_start(q, now)) {
        vr_mq_set_foreign(q, 0, NULL, NULL);
        if (vr_mq_next(q, now, &st)) violations++;
        vr_mq_set_foreign(q, foreign_total, foreign_out, foreign_in);
      }
      while (vr_mq_next(q, now, &st)) {
        /* right after each start, the limits hold with the foreign counts the queue knows */
        const int tgt = st.target;
        const int src = vr_mq_item_source(q, st.item);
        int ours = vr_mq_count(q, VR_MQ_RUNNING);
        CHECK(st.target == vr_mq_item_target(q, st.item));
        CHECK(tgt >= draining || tgt == -1);
        if (ours + foreign_total > limits.cluster) violations++;
        if (vr_mq_running_on(q, src, 0) + foreign_out[src] > limits.outbound_per_node) violations++;
        if (tgt >= 0 && limits.inbound_per_node > 0 &&
            vr_mq_running_on(q, tgt, 1) + foreign_in[tgt] > limits.inbound_per_node)
          violations++;
      }
      /* the queue's inbound counts match its running items */
      for (int i = 0; i < vr_mq_item_count(q); i++)
        if (vr_mq_item_state(q, i) == VR_MQ_RUNNING && vr_mq_item_target(q, i) >= 0)
          running[vr_mq_item_target(q, i)]++;
      for (int n = 0; n < nodes; n++)
        if (vr_mq_running_on(q, n, 1) != running[n]) violations++;
      /* some running items end */
      for (int i = 0; i < vr_mq_item_count(q); i++)
        if (vr_mq_item_state(q, i) == VR_MQ_RUNNING && uniform() < 0.3)
          vr_mq_finish(q, i, now, uniform() < 0.8);
      now += 1 + uniform() * 30;
    }
    CHECK(violations == 0);
    if (violations) fprintf(stderr, "seed %d: %d limit violations\n", seed, violations);
    vr_mq_free(q);
  }
}

/* A new decision may never go past a limit even when the foreign count alone fills it. */
static void test_foreign_fill_the_cluster(void) {
  vr_mq_limits limits = {3, 2, 0};
  vr_mq *q = vr_mq_new(4, &limits);
  vr_mq_start st;
  int out[4] = {2, 0, 0, 0};
  for (int i = 0; i < 6; i++) {
    vr_mq_item_spec s = item(i % 2, 50);
    vr_mq_add(q, &s);
  }
  vr_mq_set_foreign(q, 3, NULL, NULL);
  CHECK(vr_mq_next(q, 0, &st) == 0);
  CHECK(vr_mq_could_start(q, 0) == 1); /* only the others' migrations stand in the way */
  vr_mq_set_foreign(q, 2, out, NULL);  /* node 0's two outbound slots are taken by others */
  CHECK(vr_mq_next(q, 0, &st) == 1);
  CHECK(st.item == 1 || st.item == 3 || st.item == 5); /* from node 1 */
  CHECK(vr_mq_next(q, 0, &st) == 0);
  vr_mq_set_foreign(q, 0, NULL, NULL);
  CHECK(vr_mq_next(q, 0, &st) == 1 && vr_mq_next(q, 0, &st) == 1); /* 3 of ours: the limit */
  CHECK(vr_mq_could_start(q, 0) == 0);
  vr_mq_free(q);
}

static void test_order(void) {
  vr_mq_limits limits = {1, 1, 0};
  vr_mq *q = vr_mq_new(3, &limits);
  vr_mq_start st;
  vr_mq_item_spec a = item(0, 10), b = item(0, 40), c = item(1, 30), d = item(1, 20),
                  e = item(2, 5);
  e.priority = 5;
  vr_mq_add(q, &a); /* 0 */
  vr_mq_add(q, &b); /* 1 */
  vr_mq_add(q, &c); /* 2 */
  vr_mq_add(q, &d); /* 3 */
  vr_mq_add(q, &e); /* 4 */
  /* priority first */
  CHECK(vr_mq_next(q, 0, &st) == 1 && st.item == 4);
  CHECK(vr_mq_next(q, 0, &st) == 0); /* the cluster limit is 1 */
  vr_mq_finish(q, 4, 5, 1);
  /* node 0 and node 1 both have 50 s left; the longest item of them (40 s) goes first */
  CHECK(vr_mq_next(q, 5, &st) == 1 && st.item == 1);
  vr_mq_finish(q, 1, 45, 1);
  /* node 1 now has more left (50 s against 10 s): its longest */
  CHECK(vr_mq_next(q, 45, &st) == 1 && st.item == 2);
  vr_mq_free(q);
  /* the busiest source before the longest item: node 1 has 60 s left, node 0 35 s */
  q = vr_mq_new(2, &limits);
  a = item(0, 35);
  b = item(1, 30);
  vr_mq_add(q, &a);
  vr_mq_add(q, &b);
  vr_mq_add(q, &b);
  CHECK(vr_mq_next(q, 0, &st) == 1 && st.item == 1);
  vr_mq_free(q);
}

static void test_targets(void) {
  vr_mq_limits limits = {10, 10, 1};
  vr_mq *q = vr_mq_new(5, &limits);
  vr_mq_start st;
  vr_mq_item_spec big = item(0, 100), small = item(0, 10), pinned = item(0, 10);
  int only_four[] = {4};
  big.memory_bytes = 8 << 20;
  small.memory_bytes = 1 << 20;
  pinned.targets = only_four;
  pinned.target_count = 1;
  /* Before any node is eligible: target -1, no inbound limit. */
  vr_mq_add(q, &small);
  CHECK(vr_mq_next(q, 0, &st) == 1 && st.target == -1);
  vr_mq_finish(q, st.item, 1, 1);
  vr_mq_set_target(q, 1, 1, 0, 4 << 20, -1);  /* too small for big */
  vr_mq_set_target(q, 2, 1, 5, 16 << 20, -1); /* preferred */
  vr_mq_set_target(q, 3, 1, 0, 16 << 20, -1);
  vr_mq_set_target(q, 4, 1, 0, -1, -1);
  CHECK(vr_mq_add(q, &big) == 1);
  CHECK(vr_mq_add(q, &big) == 2);
  CHECK(vr_mq_add(q, &pinned) == 3);
  CHECK(vr_mq_add(q, &big) == 4);
  CHECK(vr_mq_next(q, 2, &st) == 1 && st.item == 1 && st.target == 2); /* the preferred node */
  CHECK(vr_mq_next(q, 2, &st) == 1 && st.item == 2 && st.target == 3); /* 2's inbound is full */
  CHECK(vr_mq_next(q, 2, &st) == 1 && st.item == 4 && st.target == 4); /* 1 is too small */
  /* the pinned item may only go to 4, whose inbound slot is taken */
  CHECK(vr_mq_next(q, 2, &st) == 0);
  vr_mq_finish(q, 4, 3, 0); /* failed: 4's slot is free again, item 4 backs off */
  CHECK(vr_mq_next(q, 3, &st) == 1 && st.item == 3 && st.target == 4);
  /* item 1 succeeded on node 2: its memory stays taken (16 - 8 = 8 MiB left) */
  vr_mq_finish(q, 1, 4, 1);
  vr_mq_finish(q, 3, 4, 1);
  CHECK(vr_mq_next_ready(q, 4) == 3 + 20); /* the first backoff is 20 s */
  CHECK(vr_mq_next(q, 22, &st) == 0);
  CHECK(vr_mq_next(q, 23, &st) == 1 && st.item == 4 && st.target == 2);
  CHECK(vr_mq_item_attempts(q, 4) == 2);
  vr_mq_free(q);
}

static void test_retry_budgets(void) {
  vr_mq_limits limits = {5, 5, 0};
  vr_mq_retry retry = {.max_attempts = 3, .budget = 3, .backoff_s = 10, .max_backoff_s = 15};
  vr_mq *q = vr_mq_new(2, &limits);
  vr_mq_start st;
  double now = 0;
  CHECK(vr_mq_set_retry(q, &retry) == 0);
  for (int i = 0; i < 2; i++) {
    vr_mq_item_spec s = item(0, 10);
    vr_mq_add(q, &s);
  }
  /* item 0 fails three times: backoffs 10, then 15 (capped), then it is failed */
  CHECK(vr_mq_next(q, now, &st) && st.item == 0);
  CHECK(vr_mq_next(q, now, &st) && st.item == 1);
  CHECK(vr_mq_finish(q, 0, now, 0) == VR_MQ_WAITING);
  CHECK(vr_mq_item_ready_at(q, 0) == 10);
  CHECK(vr_mq_next(q, 9, &st) == 0);
  CHECK(vr_mq_next(q, 10, &st) && st.item == 0);
  CHECK(vr_mq_finish(q, 0, 10, 0) == VR_MQ_WAITING);
  CHECK(vr_mq_item_ready_at(q, 0) == 25);
  CHECK(vr_mq_next(q, 25, &st) && st.item == 0);
  CHECK(vr_mq_finish(q, 0, 30, 0) == VR_MQ_FAILED);
  /* item 1 has one retry left in the budget (3 - 2), then none */
  CHECK(vr_mq_finish(q, 1, 30, 0) == VR_MQ_WAITING);
  CHECK(vr_mq_next(q, 40, &st) && st.item == 1);
  CHECK(vr_mq_finish(q, 1, 41, 0) == VR_MQ_FAILED);
  CHECK(vr_mq_finish(q, 1, 41, 1) == -1); /* not running */
  CHECK(vr_mq_count(q, VR_MQ_FAILED) == 2);
  retry.max_attempts = 0;
  CHECK(vr_mq_set_retry(q, &retry) == -1);
  vr_mq_free(q);
}

static void test_cancel_and_bad_input(void) {
  vr_mq_limits limits = {1, 1, 0}, bad = {0, 1, 0};
  vr_mq *q = vr_mq_new(2, &limits);
  vr_mq_start st;
  vr_mq_item_spec s = item(0, 10), wrong = item(2, 10), zero = item(0, 0);
  int bad_target[] = {7};
  CHECK(vr_mq_new(2, &bad) == NULL);
  CHECK(vr_mq_add(q, &wrong) == -1);
  CHECK(vr_mq_add(q, &zero) == -1);
  zero.estimate_s = NAN;
  CHECK(vr_mq_add(q, &zero) == -1);
  s.targets = bad_target;
  s.target_count = 1;
  CHECK(vr_mq_add(q, &s) == -1);
  s.targets = NULL;
  s.target_count = 0;
  CHECK(vr_mq_add(q, &s) == 0);
  CHECK(vr_mq_add(q, &s) == 1);
  CHECK(vr_mq_cancel(q, 0) == 0);
  CHECK(vr_mq_cancel(q, 0) == -1);
  CHECK(vr_mq_next(q, 0, &st) == 1 && st.item == 1);
  CHECK(vr_mq_cancel(q, 1) == -1); /* running */
  CHECK(vr_mq_next(q, 0, &st) == 0);
  CHECK(vr_mq_set_target(q, 5, 1, 0, -1, -1) == -1);
  vr_mq_free(q);
}

static void test_simulate(void) {
  vr_mq_limits limits = {2, 1, 0};
  vr_mq *q = vr_mq_new(3, &limits);
  vr_mq_start st;
  double ends[4];
  int stuck;
  vr_mq_item_spec a = item(0, 30), b = item(0, 10), c = item(1, 25), d = item(1, 5);
  vr_mq_add(q, &a);
  vr_mq_add(q, &b);
  vr_mq_add(q, &c);
  vr_mq_add(q, &d);
  /* node 0: 30 + 10 = 40 in a row, node 1: 25 + 5 = 30 */
  CHECK(vr_mq_simulate(q, 0, 0, ends, &stuck) == 40);
  CHECK(ends[0] == 30 && ends[1] == 40 && ends[2] == 25 && ends[3] == 30);
  CHECK(stuck == -1);
  CHECK(vr_mq_count(q, VR_MQ_WAITING) == 4); /* the plan changed nothing */
  /* a foreign migration holding one cluster slot for 100 s makes it one at a time: 70 s */
  vr_mq_set_foreign(q, 1, NULL, NULL);
  CHECK(vr_mq_simulate(q, 0, 100, NULL, NULL) == 70);
  vr_mq_set_foreign(q, 0, NULL, NULL);
  /* from the middle: a started at 0 and still running at 20; c and d start at 20 */
  CHECK(vr_mq_next(q, 0, &st) && st.item == 0);
  CHECK(vr_mq_simulate(q, 20, 0, NULL, NULL) == 50);
  /* without the look-ahead: the same here (the rule's order is already the best), and no item
   * of the queue changed */
  CHECK(vr_mq_simulate_quick(q, 20, 0, ends, NULL) == 50);
  CHECK(ends[0] == 30 && vr_mq_count(q, VR_MQ_WAITING) == 3);
  /* an item no target can take: stuck */
  vr_mq_set_target(q, 2, 1, 0, 100, -1);
  {
    vr_mq_item_spec huge = item(1, 10);
    huge.memory_bytes = 1000;
    CHECK(vr_mq_add(q, &huge) == 4);
  }
  CHECK(vr_mq_simulate(q, 20, 0, NULL, &stuck) == -1);
  CHECK(stuck == 4);
  stuck = -1;
  CHECK(vr_mq_simulate_quick(q, 20, 0, NULL, &stuck) == -1);
  CHECK(stuck == 4);
  vr_mq_free(q);
}

/* The rollout never starts a lower priority while a higher one may start; an empty queue plans. */
static void test_priority_kept_by_lookahead(void) {
  int violations = 0;
  for (int seed = 1; seed <= 300; seed++) {
    vr_mq_limits limits = {2 + seed % 3, 1 + seed % 2, 0};
    vr_mq *q = vr_mq_new(4, &limits);
    vr_mq_start st;
    int priority[32] = {0}, n = 6 + seed % 10;
    rng = (uint64_t)seed;
    for (int i = 0; i < n; i++) {
      vr_mq_item_spec s = item((int)(uniform() * 4), 5 + uniform() * 100);
      s.priority = priority[i] = uniform() < 0.3;
      vr_mq_add(q, &s);
    }
    while (vr_mq_next(q, 0, &st)) {
      if (priority[st.item] == 1) continue;
      for (int i = 0; i < n; i++) /* a waiting higher one whose source has room: a violation */
        if (priority[i] == 1 && vr_mq_item_state(q, i) == VR_MQ_WAITING &&
            vr_mq_running_on(q, vr_mq_item_source(q, i), 0) < limits.outbound_per_node)
          violations++;
    }
    vr_mq_free(q);
  }
  CHECK(violations == 0);
  for (int seed = 1; seed <= 100; seed++) { /* the quick plan also ends every item */
    vr_mq_limits limits = {2 + seed % 3, 1 + seed % 2, 0};
    vr_mq *q = vr_mq_new(4, &limits);
    double ends[32], full, quick;
    int n = 6 + seed % 20, all_end = 1;
    rng = (uint64_t)seed;
    for (int i = 0; i < n; i++) {
      vr_mq_item_spec s = item((int)(uniform() * 4), 5 + uniform() * 100);
      vr_mq_add(q, &s);
    }
    full = vr_mq_simulate(q, 0, 0, NULL, NULL);
    quick = vr_mq_simulate_quick(q, 0, 0, ends, NULL);
    for (int i = 0; i < n; i++) all_end = all_end && ends[i] > 0 && ends[i] <= quick;
    CHECK(full > 0 && quick > 0 && all_end);
    vr_mq_free(q);
  }
  {
    vr_mq_limits limits = {1, 1, 0};
    vr_mq *empty = vr_mq_new(0, &limits);
    CHECK(vr_mq_simulate(empty, 5, 0, NULL, NULL) == 5);
    vr_mq_free(empty);
  }
}

int main(void) {
  test_limits_hold();
  test_foreign_fill_the_cluster();
  test_order();
  test_targets();
  test_retry_budgets();
  test_cancel_and_bad_input();
  test_simulate();
  test_priority_kept_by_lookahead();
  return CHECK_DONE();
}
