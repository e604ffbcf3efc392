/* migqueue.h: the limit-aware migration queue's decisions (DESIGN §6; reference
 * kubevirt-migration.md §2.4): which migration to start next, from which source to which target,
 * so that there are never more in flight than the cluster limit, the outbound-per-node limit and
 * vmrun's own inbound-per-node limit allow, counting the migrations that others started; what to
 * do with a failed one (retry after a backoff, within a per-item and an overall budget); and
 * when the whole queue will be done (vr_mq_simulate, the same policy run forward on the
 * estimates).
 *
 * Order: higher priority first; among equals, the item whose source node has the most estimated
 * work left per outbound slot (the node that bounds the finish), then the longest estimate, then
 * the order of adding. Targets: the eligible node (not the source) with a free inbound slot and
 * room for the VM's memory and CPU, preferring a higher preference, then fewer migrations coming
 * in, then more free memory, then the lower index.
 *
 * Pure C on plain numbers: nodes and items are indexes; no Lua, no I/O, no clock (the caller
 * passes `now` in seconds). Deterministic. Allocates only in vr_mq_new, vr_mq_add and
 * vr_mq_simulate; a failed allocation returns an error, nothing aborts. */
#ifndef VMRUN_MIGQUEUE_H
#define VMRUN_MIGQUEUE_H

#include <stddef.h>
#include <stdint.h>

typedef struct vr_mq vr_mq;

typedef struct vr_mq_limits {
  int cluster;           /* parallelMigrationsPerCluster, >= 1 */
  int outbound_per_node; /* parallelOutboundMigrationsPerNode, >= 1 */
  int inbound_per_node;  /* vmrun's own, >= 1; 0: no inbound limit */
} vr_mq_limits;

typedef struct vr_mq_retry {
  int max_attempts; /* per item, >= 1 (1: no retry) */
  int budget;       /* retries over the whole queue, >= 0 */
  double backoff_s; /* first backoff; doubles with each further failure */
  double max_backoff_s;
} vr_mq_retry;

typedef enum vr_mq_state {
  VR_MQ_WAITING = 0, /* not started, or waiting out a backoff */
  VR_MQ_RUNNING,
  VR_MQ_DONE,
  VR_MQ_FAILED, /* failed with no retry left */
  VR_MQ_CANCELLED,
} vr_mq_state;

typedef struct vr_mq_item_spec {
  int source;           /* node index */
  double estimate_s;    /* estimated duration, > 0 */
  int priority;         /* higher starts first */
  int64_t memory_bytes; /* what the target must have free (0: not checked) */
  int64_t cpu_millis;   /* the same for CPU */
  const int *targets;   /* the nodes it may go to; NULL: every eligible node */
  int target_count;
} vr_mq_item_spec;

typedef struct vr_mq_start {
  int item;
  int target; /* node index; -1 when no node is eligible as a target (the cluster chooses) */
} vr_mq_start;

/* A queue over node_count nodes (0 .. node_count-1). Default retry: 3 attempts, budget 10,
 * backoff 20 s doubling up to 300 s (KubeVirt's own evacuation backoff starts at 20 s). NULL
 * when out of memory or a limit is out of range. */
vr_mq *vr_mq_new(int node_count, const vr_mq_limits *limits);
void vr_mq_free(vr_mq *q);
/* 0, or -1 for values out of range. */
int vr_mq_set_limits(vr_mq *q, const vr_mq_limits *limits);
int vr_mq_set_retry(vr_mq *q, const vr_mq_retry *retry);

/* Declares node a possible target (eligible 1) or not (0, the default), with a preference
 * (higher is chosen first) and its free memory and CPU (< 0: not checked). Until a node is
 * declared eligible, starts get target -1 and no inbound limit or capacity applies. */
int vr_mq_set_target(vr_mq *q, int node, int eligible, int preference, int64_t free_memory,
                     int64_t free_cpu_millis);

/* Adds an item; returns its index (0, 1, ... in order), or -1 (bad spec, out of memory). */
int vr_mq_add(vr_mq *q, const vr_mq_item_spec *spec);

/* Migrations in flight that this queue did not start: their total, and per node those leaving
 * it and those coming to it (arrays of node_count; NULL: none). Replaces the previous counts. */
void vr_mq_set_foreign(vr_mq *q, int total, const int *outbound, const int *inbound);

/* Picks the next item to start now: 1 with *out filled and the item marked running (its slots
 * and target capacity taken), or 0 when nothing may start. Call it until it returns 0. */
int vr_mq_next(vr_mq *q, double now, vr_mq_start *out);

/* 0 when vr_mq_next cannot start anything now whatever the foreign migrations and the targets'
 * room: this queue's own running items fill the cluster limit, or the outbound limit of the
 * source of every waiting item whose backoff is over (or no item waits). 1 when it might, once
 * the foreign counts are up to date. Lets a caller skip counting the foreign migrations. */
int vr_mq_could_start(const vr_mq *q, double now);

/* The outcome of a running item. A failure is retried (waiting again, ready after a backoff)
 * while its attempts and the queue's budget last, else the item is failed. Returns the item's
 * new state, or -1 when it was not running. */
int vr_mq_finish(vr_mq *q, int item, double now, int succeeded);

/* Takes a waiting item out (it will not start); returns 0, or -1 when it is not waiting. */
int vr_mq_cancel(vr_mq *q, int item);

/* Reading the queue. */
vr_mq_state vr_mq_item_state(const vr_mq *q, int item);
int vr_mq_item_target(const vr_mq *q, int item);
int vr_mq_item_source(const vr_mq *q, int item);
int vr_mq_item_attempts(const vr_mq *q, int item);
double vr_mq_item_started(const vr_mq *q, int item);  /* the last start, or -1 */
double vr_mq_item_ready_at(const vr_mq *q, int item); /* when a backoff ends */
int vr_mq_item_count(const vr_mq *q);
int vr_mq_count(const vr_mq *q, vr_mq_state state);
int vr_mq_running_on(const vr_mq *q, int node, int inbound); /* this queue's, per node */
/* The earliest time > now at which a waiting item's backoff ends, or -1 when none waits. */
double vr_mq_next_ready(const vr_mq *q, double now);

/* Runs the queue's policy forward from now on a copy, as if every item took its estimate (a
 * running item ends at its start + estimate, or at now when that has passed) and nothing failed;
 * the foreign migrations end at now + foreign_remaining_s. Returns the time the last item ends
 * (now when nothing is left), and fills ends[item] when ends is not NULL (items that will not
 * run: -1). Returns -1 when out of memory, or when some waiting item can never start (no target
 * with room): *stuck is that item then (NULL allowed). */
double vr_mq_simulate(const vr_mq *q, double now, double foreign_remaining_s, double *ends,
                      int *stuck);

/* vr_mq_simulate without the look-ahead the queue uses to pick among waiting items (each pick
 * simulates the rest): the rule's own order only. Cheaper for a queue of many items; the
 * estimate of an ETA shown while the queue runs, not a plan. */
double vr_mq_simulate_quick(const vr_mq *q, double now, double foreign_remaining_s, double *ends,
                            int *stuck);

#endif
