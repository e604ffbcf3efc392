/* bench_queue.c: the limit-aware migration queue's plan (runtime/migqueue.c, vr_mq_simulate)
 * against lower bounds of the makespan, on generated drains: 1 to 50 draining nodes, 5 to 2,000
 * VMs of mixed sizes spread over them at random, under four limit sets (KubeVirt's default 5
 * per cluster / 2 outbound, OpenShift's 5 / 1, and 10 / 2, 20 / 4), three seeds each, with
 * enough target nodes that vmrun's inbound limit (2) does not bind.
 *
 * Named bound (the issue's): LB = max(sum / cluster_limit, max over nodes of
 * sum_node / outbound_limit, longest item). No schedule beats it, but some workloads cannot reach
 * it either (five 900 s VMs on four slots need 1,800 s, LB says 1,125 s), so the bench also
 * prints a tighter bound, LB2 = max(LB, the (k+1)-th largest + k-th largest item, where k is the
 * slots: cluster-wide and per node), and for workloads of at most 8 VMs the exact optimum (the
 * best greedy list schedule over every start order). Goal: queue / LB <= 1.10 on every workload;
 * where the optimum (or LB2) itself is above 1.10 x LB, the goal is judged against it.
 *
 * Durations: a VM of M GiB takes 5 + M * s seconds, s uniform in [6, 14] s/GiB (about 1 GiB/s
 * with dirty pages sent again); sizes: 70% 2-8 GiB, 24% 16-32 GiB, 6% 64-128 GiB.
 * Usage: cc -O2 -Iruntime bench/queue/bench_queue.c runtime/migqueue.c -lm && ./a.out */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "migqueue.h"

static uint64_t rng;

static double uniform(void) {
  rng = rng * 6364136223846793005u + 1442695040888963407u;
  return (double)(rng >> 11) / 9007199254740992.0;
}

static int descending(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? 1 : x > y ? -1 : 0;
}

/* The (k+1)-th and k-th largest of n values summed (two of the k+1 largest share a slot), or 0. */
static double pair_bound(double *v, int n, int k) {
  if (n <= k) return 0;
  qsort(v, (size_t)n, sizeof *v, descending);
  return v[k - 1] + v[k];
}

typedef struct workload {
  int draining, vms, cluster, outbound, seed;
  int *source;
  double *estimate;
} workload;

static double plan(const workload *w) {
  vr_mq_limits limits = {w->cluster, w->outbound, 2};
  int targets = w->draining + w->cluster; /* inbound 2 each: 2 x targets > cluster limit */
  vr_mq *q = vr_mq_new(w->draining + targets, &limits);
  double end;
  for (int n = w->draining; n < w->draining + targets; n++) vr_mq_set_target(q, n, 1, 0, -1, -1);
  for (int i = 0; i < w->vms; i++) {
    vr_mq_item_spec s = {.source = w->source[i], .estimate_s = w->estimate[i], .priority = 0};
    vr_mq_add(q, &s);
  }
  end = vr_mq_simulate(q, 0, 0, NULL, NULL);
  vr_mq_free(q);
  return end;
}

/* Greedy list scheduling in a fixed order: whenever a slot frees, start the first items of the
 * order whose node has a free outbound slot. Its best over every order is the optimum for
 * these tiny workloads (an optimal schedule starts each item when the one it waits for ends). */
static double list_schedule(const workload *w, const int *order) {
  double end[8], t = 0, last = 0;
  int started[8] = {0}, done = 0, running = 0, out[64] = {0};
  for (int i = 0; i < w->vms; i++) end[i] = -1;
  while (done < w->vms) {
    double next = -1;
    for (int k = 0; k < w->vms && running < w->cluster; k++) {
      int i = order[k];
      if (started[i] || out[w->source[i]] >= w->outbound) continue;
      started[i] = 1;
      end[i] = t + w->estimate[i];
      running++;
      out[w->source[i]]++;
    }
    for (int i = 0; i < w->vms; i++)
      if (started[i] && end[i] > t && (next < 0 || end[i] < next)) next = end[i];
    t = next;
    for (int i = 0; i < w->vms; i++) {
      if (started[i] && end[i] == t) {
        running--;
        out[w->source[i]]--;
        done++;
        if (t > last) last = t;
      }
    }
  }
  return last;
}

static void best_order(const workload *w, int *order, int *used, int depth, double *best) {
  if (depth == w->vms) {
    double end = list_schedule(w, order);
    if (end < *best) *best = end;
    return;
  }
  for (int i = 0; i < w->vms; i++) {
    if (used[i]) continue;
    used[i] = 1;
    order[depth] = i;
    best_order(w, order, used, depth + 1, best);
    used[i] = 0;
  }
}

int main(void) {
  static const int draining[] = {1, 2, 5, 10, 20, 50};
  static const int vm_counts[] = {5, 8, 20, 100, 500, 2000};
  static const int limit_sets[][2] = {{5, 2}, {5, 1}, {10, 2}, {20, 4}};
  double worst = 0, worst_judged = 0, total_s = 0;
  char worst_name[160] = "", worst_judged_name[160] = "";
  int workloads = 0, inherent = 0;
  for (size_t d = 0; d < sizeof draining / sizeof *draining; d++) {
    for (size_t v = 0; v < sizeof vm_counts / sizeof *vm_counts; v++) {
      for (size_t l = 0; l < sizeof limit_sets / sizeof *limit_sets; l++) {
        for (int seed = 1; seed <= 3; seed++) {
          workload w = {draining[d], vm_counts[v], limit_sets[l][0], limit_sets[l][1], seed,
                        NULL,        NULL};
          double sum = 0, longest = 0, lb, lb2, *node_sum, *all, *mine, end, judged_by, ratio;
          clock_t t0;
          char name[160];
          rng = (uint64_t)seed * 1000003u + d * 7919u + v * 104729u + l * 31u;
          w.source = calloc((size_t)w.vms, sizeof *w.source);
          w.estimate = calloc((size_t)w.vms, sizeof *w.estimate);
          node_sum = calloc((size_t)w.draining, sizeof *node_sum);
          all = calloc((size_t)w.vms, sizeof *all);
          mine = calloc((size_t)w.vms, sizeof *mine);
          for (int i = 0; i < w.vms; i++) {
            double r = uniform(), gib = r < 0.70   ? 2 + uniform() * 6
                                        : r < 0.94 ? 16 + uniform() * 16
                                                   : 64 + uniform() * 64;
            w.source[i] = (int)(uniform() * w.draining);
            w.estimate[i] = 5 + gib * (6 + uniform() * 8);
            sum += w.estimate[i];
            node_sum[w.source[i]] += w.estimate[i];
            all[i] = w.estimate[i];
            if (w.estimate[i] > longest) longest = w.estimate[i];
          }
          lb = sum / w.cluster > longest ? sum / w.cluster : longest;
          for (int n = 0; n < w.draining; n++)
            if (node_sum[n] / w.outbound > lb) lb = node_sum[n] / w.outbound;
          lb2 = lb;
          if (pair_bound(all, w.vms, w.cluster) > lb2) lb2 = pair_bound(all, w.vms, w.cluster);
          for (int n = 0; n < w.draining; n++) {
            int k = 0;
            for (int i = 0; i < w.vms; i++)
              if (w.source[i] == n) mine[k++] = w.estimate[i];
            if (pair_bound(mine, k, w.outbound) > lb2) lb2 = pair_bound(mine, k, w.outbound);
          }
          t0 = clock();
          end = plan(&w);
          total_s += (double)(clock() - t0) / CLOCKS_PER_SEC;
          judged_by = lb2;
          if (w.vms <= 8 && w.draining <= 64) {
            int order[8], used[8] = {0};
            double best = 1e300;
            best_order(&w, order, used, 0, &best);
            judged_by = best; /* the optimum */
          }
          if (judged_by < lb) judged_by = lb;
          ratio = end / lb;
          snprintf(name, sizeof name, "%d draining, %d VMs, limits %d/%d, seed %d", w.draining,
                   w.vms, w.cluster, w.outbound, seed);
          if (ratio > worst) worst = ratio, snprintf(worst_name, sizeof worst_name, "%s", name);
          if (judged_by > 1.10 * lb) inherent++;
          {
            double judged = end / (judged_by > 1.10 * lb ? judged_by : lb);
            if (judged > worst_judged)
              worst_judged = judged,
              snprintf(worst_judged_name, sizeof worst_judged_name, "%s", name);
          }
          workloads++;
          free(w.source);
          free(w.estimate);
          free(node_sum);
          free(all);
          free(mine);
        }
      }
    }
  }
  printf("queue plan over %d workloads (planning took %.2f s of CPU in all)\n", workloads, total_s);
  printf("  worst queue/LB: %.3f (%s)\n", worst, worst_name);
  printf("  workloads where no schedule reaches 1.10 x LB (optimum or LB2 above it): %d\n",
         inherent);
  printf("  worst ratio judged (queue/LB, or queue/optimum-or-LB2 where that is above 1.10 x LB): "
         "%.3f (%s); goal <= 1.10\n",
         worst_judged, worst_judged_name);
  return 0;
}
