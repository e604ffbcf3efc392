/* store.h: the simulator's object store: Kubernetes-shaped objects (cJSON trees) keyed by API
 * group, kind, namespace and name, with a global resourceVersion bumped on every write, uids and
 * creation timestamps, a node index (Pods by spec.nodeName, VMIs by status.nodeName), a
 * reference index (launcher Pods by their VMI's uid, VMIMs by their VMI's name), an unfinished
 * index (VMIMs not yet Succeeded or Failed), and an
 * event log that feeds watches and lets them resume from a resourceVersion (410 Expired when it
 * has been overwritten), as the Kubernetes API server does.
 *
 * In mirror mode (vr_store_set_mirror) the same store holds a copy of a real API server's
 * objects as that server sent them (fed by LIST and WATCH through vr_store_mirror_put and
 * vr_store_mirror_remove), for the same reads. Its revision is then a local counter of the
 * changes the mirror applied, and the objects keep the server's resourceVersions: every
 * revision below (vr_store_revision, kind revisions, list_changed, requests_by_node, watches
 * and version_at) is that local one there.
 *
 * Stored objects are immutable: readers get const pointers that stay valid until the next write
 * to the same object; writers hand in a whole new tree (copy, change, replace). Watch callbacks
 * run synchronously inside the write that caused them and must not write to the store. Nothing
 * here knows Lua, HTTP or KubeVirt behaviour; it never aborts on bad input. */
#ifndef VMRUN_STORE_H
#define VMRUN_STORE_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

typedef struct vr_store vr_store;
typedef struct vr_store_watch vr_store_watch;

/* HTTP-style status of a store operation, with the Kubernetes reason. */
typedef struct vr_store_error {
  int status;      /* 0 ok, 404, 409, 410, 422, 500 */
  char reason[32]; /* "NotFound", "AlreadyExists", "Conflict", "Expired", "Invalid", ... */
  char message[512];
} vr_store_error;

typedef enum { VR_WATCH_ADDED, VR_WATCH_MODIFIED, VR_WATCH_DELETED } vr_watch_type;

typedef void (*vr_watch_cb)(void *ctx, vr_watch_type type, const cJSON *obj, uint64_t rv);

/* seed makes uids and generated names deterministic; event_log is how many recent events are
 * kept for watches that resume (0: 4096). */
vr_store *vr_store_new(uint64_t seed, size_t event_log);
/* Resizes the event log to keep the last n events (n >= 1); the oldest are dropped when it
 * shrinks, so that watches resuming from before them get 410. Returns 0, -1 when out of memory
 * (the log is unchanged). */
int vr_store_set_event_log(vr_store *s, size_t n);
/* Frees the store and everything in it; once vr_json_pool_begin_exit has been called (the
 * process is ending on the cJSON pool) it leaves all of it to the system instead. */
void vr_store_free(vr_store *s);
/* The clock used for creationTimestamp (ms since the epoch); default: 0 (1970-01-01). */
void vr_store_set_clock(vr_store *s, uint64_t (*now_ms)(void *ctx), void *ctx);

/* Admission: called for every create (old NULL) and replace (old: the stored object) after the
 * store's own checks and defaulting, before anything changes; obj is the incoming object. Return
 * 0 to accept, or fill err (a 4xx status and a message naming the field) and return -1 to refuse
 * the write. It must not write to the store. */
typedef int (*vr_admit_fn)(void *ctx, const cJSON *old, const cJSON *obj, vr_store_error *err);
void vr_store_set_admission(vr_store *s, vr_admit_fn admit, void *ctx);

/* Finalizers whose controllers would finish at once (the simulator's stand-ins for KubeVirt's and
 * Kubernetes' own): done_at_once(name) = 1 means that finalizer does not hold a delete. Without
 * a filter every finalizer holds, as on an API server. */
void vr_store_set_finalizer_filter(vr_store *s, int (*done_at_once)(void *ctx, const char *name),
                                   void *ctx);

/* The current resourceVersion (of the last write; in mirror mode the local revision). */
uint64_t vr_store_revision(const vr_store *s);

/* The resourceVersion of the last create, change or delete of an object of the kind (0: none
 * yet); the store's revision when it could not keep track (out of memory), which is never
 * older than the truth. */
uint64_t vr_store_kind_revision(const vr_store *s, const char *group, const char *kind);

/* The API group of an apiVersion ("v1" -> "", "kubevirt.io/v1" -> "kubevirt.io") into buf. */
void vr_api_group(const char *api_version, char *buf, size_t len);
/* 1 for the cluster-scoped kinds vmrun knows (Node, Namespace, StorageClass, MigrationPolicy,
 * NodeMaintenance, ...), 0 otherwise. */
int vr_kind_cluster_scoped(const char *group, const char *kind);

/* Makes a kind the store does not know cluster-scoped (objects without a namespace), as
 * discovery finds it on a server (a mirror store, before its objects come). 0, -1 when out of
 * memory. */
int vr_store_set_cluster_scoped(vr_store *s, const char *group, const char *kind);
/* Creates obj (the store takes ownership in every case). Sets metadata.uid, resourceVersion and
 * creationTimestamp when absent (resourceVersion always), metadata.namespace "default" for
 * namespaced kinds without one, and a name from metadata.generateName. 409 AlreadyExists,
 * 422 Invalid (not an object, no apiVersion/kind/name, bad name). *stored (may be NULL) gets the
 * stored object. */
int vr_store_create(vr_store *s, cJSON *obj, const cJSON **stored, vr_store_error *err);

/* Replaces the object with obj's identity (takes ownership in every case), keeping its uid and
 * creationTimestamp. With check_rv, obj's metadata.resourceVersion must equal the stored one
 * (409 Conflict otherwise). 404 when it does not exist, 422 when obj is invalid. */
int vr_store_replace(vr_store *s, cJSON *obj, int check_rv, const cJSON **stored,
                     vr_store_error *err);

/* Deletes an object (namespace NULL or "" for cluster-scoped kinds). 404 when absent. */
int vr_store_delete(vr_store *s, const char *group, const char *kind, const char *ns,
                    const char *name, vr_store_error *err);
/* (vr_store_create, vr_store_replace and vr_store_delete on a mirror store are a programming
 * error: they fail with 500 InternalError, create and replace freeing obj.) */

/* Mirror mode (call on a new, empty store): the store holds copies of another server's objects
 * as that server sent them. Nothing is stamped, admitted or finalized: uid, resourceVersion,
 * creationTimestamp, deletionTimestamp and finalizers stay as received, and names are never
 * generated; a namespaced kind without metadata.namespace gets "default" as in vr_store_create.
 * Each change the mirror applies bumps the store's revision by one (a local counter, not the
 * server's resourceVersions, which arrive out of order across kinds: one watch per kind); its
 * watch events, indexes and revisions are as for the simulator's writes. */
void vr_store_set_mirror(vr_store *s);
/* Inserts or replaces obj (ownership taken in every case) as the server sent it (an ADDED or
 * MODIFIED event). Returns 1 when the store changed, 0 when obj is not newer than the stored
 * copy (nothing changes, obj freed): both have a metadata.resourceVersion and they are equal,
 * or both are unsigned decimal numbers and obj's is the smaller (a write's answer applied at once
 * and then seen again through the watch, or a late event); otherwise it applies (resourceVersions
 * that are not numbers are opaque: only equality tells). -1 with err filled: 422 when obj has no
 * apiVersion/kind/name (or a name longer than 253 characters, or a bad namespace), 500 when out
 * of memory (nothing changed) or on a store not in mirror mode. *stored (may be NULL) gets the
 * stored object (the existing one when 0). */
int vr_store_mirror_put(vr_store *s, cJSON *obj, const cJSON **stored, vr_store_error *err);
/* Removes an object (namespace NULL or "" for cluster-scoped kinds): a DELETED event carrying
 * the last stored copy, its metadata.resourceVersion set to rv when rv is not NULL (when out of
 * memory, the stored copy as it is). Returns 1 when removed, 0 when absent or when rv and the
 * stored copy's resourceVersion are both numbers and rv is the smaller (a late event about an
 * object the mirror has since seen again: it stays), -1 on a store not in mirror mode. */
int vr_store_mirror_remove(vr_store *s, const char *group, const char *kind, const char *ns,
                           const char *name, const char *rv);

/* The stored object or NULL. */
const cJSON *vr_store_get(const vr_store *s, const char *group, const char *kind, const char *ns,
                          const char *name);

/* Objects of a kind, optionally only in namespace ns and only on node (through the node index;
 * Pods and VMIs). *items (caller frees the array, not the objects) is sorted by namespace and
 * name. Returns the count, or (size_t)-1 when out of memory. */
size_t vr_store_list(const vr_store *s, const char *group, const char *kind, const char *ns,
                     const char *node, const cJSON ***items);

/* Objects of a kind (only in namespace ns when ns is set) written after revision after (0: every
 * one; their resourceVersion, or in mirror mode the local revision of their last change), sorted
 * and returned as vr_store_list does; *total (may be NULL) gets how many objects of the kind there
 * are in ns, so that a reader that kept the objects read at revision `after` can tell that some
 * were deleted. */
size_t vr_store_list_changed(const vr_store *s, const char *group, const char *kind, const char *ns,
                             uint64_t after, const cJSON ***items, size_t *total);

/* vr_store_list, sorted only when sort is set (unsorted: in the order of the store's maps, which
 * is the same for the same writes; for readers that count). */
size_t vr_store_select(const vr_store *s, const char *group, const char *kind, const char *ns,
                       const char *node, int sort, const cJSON ***items);

/* Objects of a kind in namespace ns that refer to a VMI, through the reference index: Pods whose
 * kubevirt.io/created-by label is ref (a VMI's uid), VirtualMachineInstanceMigrations whose
 * spec.vmiName is ref. Sorted and returned as vr_store_list does. */
size_t vr_store_list_ref(const vr_store *s, const char *group, const char *kind, const char *ns,
                         const char *ref, const cJSON ***items);

/* Per node, what its live Pods (bound to it, phase neither Succeeded nor Failed) request, as
 * vr_pod_requests counts it when a pod is stored: cb(ctx, node, cpu_milli, memory, pods), in no
 * particular order. after 0: each node with such pods; otherwise each node whose sum changed
 * after that revision, also to zero pods, so that a reader that kept the sums read at `after`
 * updates only these. Returns 1 when it reported the whole picture (after 0, or the store could
 * not keep its sums: then each node with pods), 0 when only the changes, -1 when cb failed. */
typedef int (*vr_node_requests_cb)(void *ctx, const char *node, int64_t cpu_milli, int64_t memory,
                                   int64_t pods);
int vr_store_requests_by_node(const vr_store *s, uint64_t after, vr_node_requests_cb cb, void *ctx);

/* The VirtualMachineInstanceMigrations not in a final phase (no phase yet, or neither Succeeded
 * nor Failed), through the unfinished index, optionally only in namespace ns; sorted and
 * returned as vr_store_list does. Other kinds have none. */
size_t vr_store_list_unfinished(const vr_store *s, const char *group, const char *kind,
                                const char *ns, const cJSON ***items);

/* The object as it was at revision rv, from the event log (which keeps, with each event, the
 * object before it): 1 with *obj set (NULL when it did not exist then) when the log holds a
 * change of the object after rv; 0 when it holds none (the object is as it is now, or its
 * changes left the log). For watches that resume: what did the client see at rv. *obj stays
 * valid until the event leaves the log. */
int vr_store_version_at(const vr_store *s, const char *group, const char *kind, const char *ns,
                        const char *name, uint64_t rv, const cJSON **obj);

/* Watches a kind (ns NULL: every namespace). from_rv 0: only future events; otherwise the
 * retained events after from_rv are replayed first (synchronously, through cb); 410 Expired
 * when events after from_rv are no longer retained. NULL on error. */
vr_store_watch *vr_store_watch_start(vr_store *s, const char *group, const char *kind,
                                     const char *ns, uint64_t from_rv, vr_watch_cb cb, void *ctx,
                                     vr_store_error *err);
void vr_store_watch_stop(vr_store *s, vr_store_watch *w);

/* Loads a Kubernetes YAML stream (multi-document, or kind: List documents) into the store.
 * Errors name the file, the document's line and the object ("cluster.yaml:42: Pod default/web:
 * metadata.name is missing"); on error the objects of the stream that were already created stay
 * (call on an empty store and discard it on failure). When the whole stream is in, check (may
 * be NULL) is called for each loaded object in file order, for what needs the other objects
 * (references); its error gets the same file:line and object prefix. Returns 0 or -1. */
typedef int (*vr_load_check)(void *ctx, const cJSON *obj, vr_store_error *err);
int vr_store_load_yaml(vr_store *s, const char *text, size_t len, const char *filename,
                       vr_load_check check, void *check_ctx, vr_store_error *err);
/* Loads objects (a cJSON array of Kubernetes objects, taken over in every case) as
 * vr_store_load_yaml loads a stream: each created in order, then check for each; errors name
 * origin (a description of where the objects come from) and the object ("origin: Pod prod/web:
 * spec.nodeName 'w9' names no Node"). Returns 0 or -1 (discard the store then). */
int vr_store_load_objects(vr_store *s, cJSON *objects, const char *origin, vr_load_check check,
                          void *check_ctx, vr_store_error *err);

#endif
