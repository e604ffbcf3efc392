/* kube_mirror.h: the REST backend's local copy of a Kubernetes API server's objects, kept as
 * client-go's informers keep theirs: per kind, a streaming list (a WATCH with sendInitialEvents,
 * which goes on as the kind's watch; see vr_kube_mirror_set_watch_list) or a paginated LIST then a
 * WATCH from the list's resourceVersion, decoded event by event into a mirror store (store.h,
 * vr_store_set_mirror); after a cut the watch resumes from the last resourceVersion it saw
 * (bookmarks included), and a 410 Expired (an answer or an ERROR event) relists, deleting what went
 * away meanwhile. A kind the kinds table does not know, or that the server does not serve at the
 * table's version, is found through discovery; a kind the server does not serve at all is "absent"
 * (empty).
 *
 * A kind starts syncing when first asked for (vr_kube_mirror_ensure). Until its first list is in,
 * errors fail it (its waiters learn why); after that, errors only delay it: it retries with
 * backoff and logs a warning. No Lua; no secrets (messages come from kube_remote). */
#ifndef VMRUN_KUBE_MIRROR_H
#define VMRUN_KUBE_MIRROR_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "kube_remote.h"
#include "store.h"

typedef struct vr_kube_mirror vr_kube_mirror;
typedef struct vr_mirror_waiter vr_mirror_waiter;

typedef enum {
  VR_MIRROR_IDLE = 0, /* never asked for */
  VR_MIRROR_SYNCING,  /* first list in progress */
  VR_MIRROR_SYNCED,   /* listed, watching (or reconnecting) */
  VR_MIRROR_ABSENT,   /* the server does not serve the kind: no objects */
  VR_MIRROR_FAILED    /* the first list failed: see the error */
} vr_mirror_state;

/* Log lines: level 0 debug, 1 info, 2 warning. */
typedef void (*vr_mirror_log_fn)(void *ctx, int level, const char *message);

/* A mirror filling store (which must be a new store in mirror mode; it stays the caller's and
 * must outlive the mirror). seed: the jitter of watch timeouts and backoffs. NULL when out of
 * memory. */
vr_kube_mirror *vr_kube_mirror_new(vr_kube_remote *remote, uv_loop_t *loop, vr_store *store,
                                   uint64_t seed);
void vr_kube_mirror_set_log(vr_kube_mirror *m, vr_mirror_log_fn fn, void *ctx);
/* Streaming lists (Kubernetes' WatchList, 1.27 and later, on by default in 1.32 and from 1.34):
 * one request per kind instead of a LIST and a WATCH. Off by default. The first kind's streaming
 * list finds out whether the server has them (the other kinds wait for its first event): a
 * server that refuses it (422 or 400) or answers it as a plain watch gets paginated LISTs from
 * then on. Set it before the first vr_kube_mirror_ensure. */
void vr_kube_mirror_set_watch_list(vr_kube_mirror *m, int enabled);
/* Stops every list and watch (waiters get their callback with the kind not synced) and frees
 * the mirror once its timers have closed (run the loop afterwards). NULL is fine. */
void vr_kube_mirror_free(vr_kube_mirror *m);

/* The state of a kind; *error (may be NULL) gets why it failed (valid until the next call). */
vr_mirror_state vr_kube_mirror_state(vr_kube_mirror *m, const char *group, const char *kind,
                                     const char **error);

/* Starts syncing a kind unless it is already. When the kind is SYNCED, ABSENT or FAILED, returns
 * NULL and calls nothing. Otherwise cb(data) runs once (never from inside this call) when the
 * kind leaves SYNCING or the mirror is freed, unless the returned waiter is cancelled before.
 * NULL with *oom = 1 when out of memory. */
typedef void (*vr_mirror_ready_fn)(void *data);
vr_mirror_waiter *vr_kube_mirror_ensure(vr_kube_mirror *m, const char *group, const char *kind,
                                        vr_mirror_ready_fn cb, void *data, int *oom);
void vr_kube_mirror_waiter_cancel(vr_mirror_waiter *w);

/* Where a synced kind lives on the server: 1 with *out filled, 0 when not synced (or absent). */
int vr_kube_mirror_resource(vr_kube_mirror *m, const char *group, const char *kind,
                            vr_kube_resource *out);

/* Applies what a write's answer returned, so that the writer reads its own write before the
 * watch brings it: an object of a synced kind is stored (unless the mirror holds a newer one);
 * with deleted set it is removed unless it still has a deletionTimestamp (deletion in
 * progress: stored). Other kinds are left to their watch. */
void vr_kube_mirror_apply(vr_kube_mirror *m, const cJSON *obj, int deleted);

/* Removes an object a delete answered with a Status (gone at once), when its kind is synced. */
void vr_kube_mirror_forget(vr_kube_mirror *m, const char *group, const char *kind, const char *ns,
                           const char *name);

/* Ordered mode (a client that drives a simulated server's clock and must see its changes in the
 * server's order): watch events are held instead of applied, and progress(ctx) runs after each
 * event or bookmark that arrives; vr_kube_mirror_caught_up says whether every synced kind's watch
 * has reached resourceVersion rv (events or bookmarks), and vr_kube_mirror_flush applies the held
 * events in resourceVersion order. */
void vr_kube_mirror_set_ordered(vr_kube_mirror *m, int ordered, void (*progress)(void *ctx),
                                void *ctx);
int vr_kube_mirror_caught_up(const vr_kube_mirror *m, uint64_t rv);
void vr_kube_mirror_flush(vr_kube_mirror *m);

/* Counts for summaries and tests. */
typedef struct vr_kube_mirror_stats {
  unsigned long lists, watches, relists, events;
} vr_kube_mirror_stats;
void vr_kube_mirror_stats_get(const vr_kube_mirror *m, vr_kube_mirror_stats *out);

#endif
