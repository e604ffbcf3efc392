/* bindings.h: the openers of the C modules in bindings/ (one file each). */
#ifndef VMRUN_BINDINGS_H
#define VMRUN_BINDINGS_H

#include <lua.h>

int luaopen_vmrun(lua_State *L);
int luaopen_vmrun_task(lua_State *L);
int luaopen_vmrun_time(lua_State *L);
int luaopen_vmrun_log(lua_State *L);
int luaopen_vmrun_json(lua_State *L);
int luaopen_vmrun_yaml(lua_State *L);
int luaopen_vmrun_exec(lua_State *L);
int luaopen_vmrun_sim(lua_State *L);
int luaopen_vmrun_cluster(lua_State *L);
int luaopen_vmrun_migconfig(lua_State *L);
int luaopen_vmrun_queue_core(lua_State *L);
int luaopen_vmrun_drain_core(lua_State *L);
int luaopen_vmrun_journal_core(lua_State *L);
int luaopen_vmrun_notify_core(lua_State *L);
int luaopen_vmrun_gate_core(lua_State *L);
/* The registry key of the table the host fills for vmrun.journal.core's run(): id, resuming,
 * state_dir, playbook, cwd, argv. */
#define VR_RUN_INFO_KEY "vmrun.run"
int luaopen_vmrun_migration_model(lua_State *L);
int luaopen_vmrun_cbt_core(lua_State *L);
int luaopen_vmrun_cbt_tracker(lua_State *L);

/* Shared by the cluster bindings (bindings/sim.c). */
struct vr_sim;
struct vr_store_error;
/* The run's simulated cluster; NULL before sim.load, or raises a usage error when required. */
struct vr_sim *vr_lua_sim(lua_State *L, int require_loaded);
/* The registry field that holds the path of the cluster a playbook run simulates on its first
 * cluster access when none was loaded (the host's default cluster; unset in `vmrun test`). */
#define VR_DEFAULT_CLUSTER_KEY "vmrun.default_cluster"
void vr_lua_sim_load(lua_State *L, const char *path, const char *what);
/* Pushes a store error as a vmrun.Error (kind from the HTTP status, caller's file:line). */
void vr_push_store_error(lua_State *L, const struct vr_store_error *err, const char *resource);

/* The REST backend (bindings/cluster_remote.c): a real cluster named by the user. */
struct vr_store;
typedef struct vr_remote_options {
  const char *kubeconfig; /* --kubeconfig (a ':'-separated list as KUBECONFIG), or NULL */
  const char *context;    /* --context, or NULL: current-context */
  const char *namespace_; /* --namespace, or NULL: the context's */
  int in_cluster;         /* --in-cluster: the pod's service account */
  int rehearse;           /* --rehearse: read only, for vr_lua_sim_rehearse (the first line says
                             so; a vmrun serve's clock is never driven) */
  unsigned long long seed;
} vr_remote_options;
/* lua_CFunction: connects to the cluster the vr_remote_options (light userdata at 1) name,
 * prints the first line (which cluster, context, user and namespace), checks that the server is
 * a Kubernetes API server and syncs the kinds the maintenance reads, before the playbook runs.
 * Raises a message naming what is wrong (kubeconfig file:line, unreachable server, garbage). */
int vr_lua_remote_connect(lua_State *L);
/* 1 when the run acts on a real cluster (or a vmrun serve) through the REST backend. */
int vr_lua_remote_active(lua_State *L);
/* The store the cluster bindings read: the REST backend's mirror or the simulator's (which is
 * loaded on first use; raises as vr_lua_sim). */
struct vr_store *vr_lua_cluster_store(lua_State *L);
/* The namespace of names given without one: the context's with the REST backend, else
 * "default". */
const char *vr_lua_default_namespace(lua_State *L);
/* "vmrun serve at URL (FILE)" for a vmrun serve server, NULL otherwise (and without REST). */
const char *vr_lua_remote_sim_source(lua_State *L);
/* "cluster 'NAME' at SERVER" of the connection into buf: 1, or 0 when there is none. */
int vr_lua_remote_identity(lua_State *L, char *buf, size_t len);
/* With the REST backend and a kind not synced yet: starts syncing it, yields, and when its list
 * is in runs again(L) on the stack as it was; returns 1 with *rc the value to return. Returns 0
 * when the caller can go on (no REST backend, the kind synced or absent). Raises kind
 * "unavailable" when the kind cannot be read. */
int vr_lua_remote_need_kind(lua_State *L, const char *group, const char *kind, lua_CFunction again,
                            int *rc);
/* REST writes of a kind made ready by vr_lua_remote_need_kind: each yields the task until the
 * answer and then returns what the simulator's version does (see cluster_core.c); objects
 * passed in are taken over. */
struct cJSON;
int vr_lua_remote_write(lua_State *L, const char *group, const char *kind, struct cJSON *obj,
                        int replace, const char *resource);
int vr_lua_remote_patch(lua_State *L, const char *group, const char *kind, const char *ns,
                        const char *name, struct cJSON *patch, const char *type,
                        const char *resource);
int vr_lua_remote_delete(lua_State *L, const char *group, const char *kind, const char *ns,
                         const char *name, long long grace, const char *resource);
int vr_lua_remote_evict(lua_State *L, const char *ns, const char *name, struct cJSON *eviction,
                        int dry_run, int raise, const char *resource);
int vr_lua_remote_evacuate_cancel(lua_State *L, const char *ns, const char *name, const char *node,
                                  const char *resource);
int vr_lua_remote_sim_reboot(lua_State *L, const char *node);
/* Rehearsal: after vr_lua_remote_connect, syncs the kinds (a vr_sim_kinds-style list ending with
 * a NULL kind; those the server does not serve are absent), copies their objects into a new
 * cJSON array (*objects, the caller's), writes the cluster's name and server URL, keeps the
 * namespace of names given without one (VR_DEFAULT_NAMESPACE_KEY), and closes the connection:
 * the mirror and the HTTP client are freed, so nothing reaches the cluster afterwards and the
 * cluster bindings use the simulator. Raises kind "unavailable" naming a kind that cannot be
 * read (nothing is copied then, and the connection stays open until the Lua state closes). */
struct vr_sim_kind;
void vr_lua_remote_take(lua_State *L, const struct vr_sim_kind *kinds, struct cJSON **objects,
                        char *cluster, size_t clen, char *server, size_t slen);
/* The registry field with the namespace of names given without one once the REST connection is
 * closed (a rehearsal keeps the context's); unset: "default". */
#define VR_DEFAULT_NAMESPACE_KEY "vmrun.default_namespace"
/* lua_CFunction (bindings/sim.c): vmrun --rehearse: connects to the cluster the vr_remote_options
 * (light userdata at 1, rehearse set) name, copies what the simulator models
 * (vr_lua_remote_take with vr_sim_kinds), closes the connection and simulates the copy as this
 * run's cluster, before the playbook runs. Raises as vr_lua_remote_connect, or with a message
 * naming the object the simulator refuses. */
int vr_lua_sim_rehearse(lua_State *L);

#endif
