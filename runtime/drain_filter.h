/* drain_filter.h: the pod filter chain of `kubectl drain` (reference kubevirt-migration.md §4.2
 * step 4; [KCTL] pkg/drain/filters.go) as pure functions on Kubernetes-shaped pods (cJSON): which
 * pods a drain evicts, which it leaves alone (with or without a warning) and which make the
 * drain fail, with kubectl's exact message texts, and kubectl's summaries of a filtered list.
 * Used by the simulator's NodeMaintenance controller (whose fixed options never produce
 * errors); the summaries are for the playbook-facing drain, which takes kubectl's options. No Lua,
 * no store, no I/O; the only lookup (does a DaemonSet exist) is a callback. */
#ifndef VMRUN_DRAIN_FILTER_H
#define VMRUN_DRAIN_FILTER_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

/* The decision for one pod (kubectl's PodDeleteStatus: Okay, Warning with delete true/false,
 * Skip, Error). */
typedef enum {
  VR_DRAIN_DELETE,      /* evict (or delete) it */
  VR_DRAIN_DELETE_WARN, /* evict it; kubectl prints the message as a WARNING */
  VR_DRAIN_SKIP,        /* leave it, silently (a mirror pod, an old terminating pod) */
  VR_DRAIN_SKIP_WARN,   /* leave it with a warning ("ignoring DaemonSet-managed Pods") */
  VR_DRAIN_ERROR        /* the node cannot be drained while this pod is there */
} vr_drain_decision;

/* 1 when the DaemonSet ns/name exists, 0 when it does not. */
typedef int (*vr_daemonset_exists_fn)(void *ctx, const char *ns, const char *name);

/* kubectl drain's options that the filters read (§4.1). */
typedef struct vr_drain_options {
  int force;                                /* --force */
  int ignore_daemonsets;                    /* --ignore-daemonsets */
  int delete_emptydir_data;                 /* --delete-emptydir-data */
  long long skip_wait_for_delete_timeout_s; /* --skip-wait-for-delete-timeout (0: off) */
  int keep_finished; /* not kubectl's: leave Succeeded and Failed pods (0: evict them, as kubectl)
                      */
  uint64_t now_ms;   /* the time, ms since the epoch (for the above) */
  vr_daemonset_exists_fn daemonset_exists; /* NULL: no DaemonSet exists */
  void *ctx;                               /* passed to daemonset_exists */
} vr_drain_options;

#define VR_DRAIN_MSG_MAX 320

/* Runs the filters in kubectl's order (skip-deleted, DaemonSet, mirror, local storage,
 * unreplicated; with keep_finished, a finished pod is skipped after skip-deleted with the message
 * "finished (<phase>)"), stopping at the first that does not delete; like kubectl, the decision is
 * the last filter's, so a warning of an earlier filter that lets the pod through is dropped.
 * message (may be NULL) receives the warning or error text, "" otherwise. */
vr_drain_decision vr_drain_filter(const cJSON *pod, const vr_drain_options *opts, char *message,
                                  size_t len);

/* 1 for the decisions that evict the pod (VR_DRAIN_DELETE, VR_DRAIN_DELETE_WARN). */
int vr_drain_deletes(vr_drain_decision d);

/* One filtered pod, for the summaries below. */
typedef struct vr_drain_entry {
  const char *ns, *name;
  vr_drain_decision decision;
  const char *message;
} vr_drain_entry;

/* kubectl's texts for a filtered list, into buf (truncated to len; returns the length it needed):
 * errors: one "cannot delete <message>: ns/a, ns/b" per distinct message, as one error or, for
 * several, utilerrors' "[e1, e2]" (kubectl's RunNodeDrain error); warnings: "<message>: ns/a,
 * ns/b; <message2>: ..." (printed after "WARNING: "). Messages come in the order first seen
 * (kubectl iterates a Go map). "" when there are none. */
size_t vr_drain_errors(const vr_drain_entry *entries, size_t n, char *buf, size_t len);
size_t vr_drain_warnings(const vr_drain_entry *entries, size_t n, char *buf, size_t len);

/* A Kubernetes timestamp (RFC 3339: "2026-05-01T10:00:00Z", fractions and offsets allowed) as
 * ms since the epoch. Returns 0, or -1 when text is not one. */
int vr_k8s_time_ms(const char *text, int64_t *ms);

#endif
