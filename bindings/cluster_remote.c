/* cluster_remote.c: the REST backend of the cluster bindings: the run's connection to a real
 * Kubernetes API server (vmrun --kubeconfig / --context / --namespace / --in-cluster), opened by
 * the host before the playbook runs. Reads come from the mirror store (runtime/kube_mirror.h),
 * which list-and-watch keeps current; a kind is synced on first use (the task yields until its
 * list is in). Writes (create, replace, patch, delete, eviction, evacuate/cancel) are HTTP
 * requests during which the task yields; their answers are applied to the mirror at once, so a
 * task reads its own writes. Errors are vmrun.Error with the HTTP status, the Kubernetes reason
 * and the resource, as the simulator's.
 *
 * A `vmrun serve` server also offers its sim.vmrun.io group: sim.source() names it and
 * sim.reboot reboots its nodes. A rehearsal (vmrun --rehearse) only reads: vr_lua_remote_take
 * copies the kinds the simulator models and closes the connection before the playbook runs.
 * Glue only: HTTP, kubeconfig and the mirror live in runtime/. */
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bindings.h"
#include "codec.h"
#include "errors.h"
#include "kinds.h"
#include "kube_mirror.h"
#include "kube_remote.h"
#include "kubeconfig.h"
#include "log.h"
#include "luaval.h"
#include "scheduler.h"
#include "secret.h"
#include "sim.h"
#include "store.h"

typedef struct remote_box {
  vr_kube_remote *remote;
  vr_kube_mirror *mirror;
  vr_store *store;
  vr_log *log;
  char *sim_source; /* a vmrun serve server's cluster file, or NULL for a real cluster */
  int closed;
  /* lockstep: a `vmrun serve --clock client` whose simulated time this run drives (see
   * docs/serve.md): every wait on the server holds the scheduler, and the server's changes are
   * applied in its order once the mirror has them all, so that the run goes as in-process */
  int lockstep;
  vr_sched *sched;
  vr_clock *clock;
  uint64_t next_due;   /* the server's next event (ms since the epoch), UINT64_MAX: none */
  uint64_t server_now; /* the server's simulated time (ms since the epoch) */
  int syncing;         /* a clock request or a catch-up is in progress */
  int rev_known;       /* want_rev holds the revision to catch up to */
  uint64_t want_rev;
  vr_op *sync_target; /* completed first when the sync ends (NULL: nothing waits) */
  int sync_releases;  /* holds to release when it ends */
} remote_box;

static const char remote_key = 'r';
#define REMOTE_BOX_MT "vmrun.cluster.Remote"

/* The kinds the maintenance reads all the time: synced before the playbook starts. */
static const struct {
  const char *group, *kind;
} eager_kinds[] = {
    {"", "Node"},
    {"", "Pod"},
    {"kubevirt.io", "VirtualMachine"},
    {"kubevirt.io", "VirtualMachineInstance"},
    {"kubevirt.io", "VirtualMachineInstanceMigration"},
    {"kubevirt.io", "KubeVirt"},
    {"", "Namespace"},
    {"policy", "PodDisruptionBudget"},
};
#define EAGER_KINDS (sizeof eager_kinds / sizeof eager_kinds[0])

static void box_close(remote_box *b) {
  if (b->closed) return;
  b->closed = 1;
  if (b->lockstep) vr_clock_remove_source(b->clock, b);
  vr_kube_mirror_free(b->mirror); /* first: its calls go through the connection */
  vr_kube_remote_free(b->remote);
  vr_store_free(b->store);
  free(b->sim_source);
  b->mirror = NULL;
  b->remote = NULL;
  b->store = NULL;
}

static int box_gc(lua_State *L) {
  box_close(luaL_checkudata(L, 1, REMOTE_BOX_MT));
  return 0;
}

static remote_box *get_box(lua_State *L) {
  remote_box *b;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &remote_key);
  b = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return b && !b->closed ? b : NULL;
}

int vr_lua_remote_active(lua_State *L) {
  return get_box(L) != NULL;
}

vr_store *vr_lua_cluster_store(lua_State *L) {
  remote_box *b = get_box(L);
  if (b != NULL) return b->store;
  return vr_sim_store(vr_lua_sim(L, 1));
}

const char *vr_lua_default_namespace(lua_State *L) {
  remote_box *b = get_box(L);
  const char *kept;
  if (b != NULL) return vr_kube_remote_config(b->remote)->namespace_;
  lua_getfield(L, LUA_REGISTRYINDEX, VR_DEFAULT_NAMESPACE_KEY); /* (the registry keeps it) */
  kept = lua_tostring(L, -1);
  lua_pop(L, 1);
  return kept ? kept : "default";
}

const char *vr_lua_remote_sim_source(lua_State *L) {
  remote_box *b = get_box(L);
  return b ? b->sim_source : NULL;
}

int vr_lua_remote_identity(lua_State *L, char *buf, size_t len) {
  remote_box *b = get_box(L);
  const vr_kube_config *cfg;
  if (b == NULL) return 0;
  cfg = vr_kube_remote_config(b->remote);
  snprintf(buf, len, "cluster '%s' at %s", cfg->cluster, cfg->server);
  return 1;
}

static void mirror_log(void *ctx, int level, const char *message) {
  remote_box *b = ctx;
  vr_logf(b->log,
          level == 2   ? VR_LOG_WARN
          : level == 1 ? VR_LOG_INFO
                       : VR_LOG_DEBUG,
          "cluster: %s", message);
}

/* --- lockstep --------------------------------------------------------------------------------- */

static void sync_end(remote_box *b, const char *error) {
  vr_op *target = b->sync_target;
  int releases = b->sync_releases;
  b->syncing = 0;
  b->rev_known = 0;
  b->sync_target = NULL;
  b->sync_releases = 0;
  if (error != NULL) {
    vr_logf(b->log, VR_LOG_ERROR, "cluster: the simulated server's clock cannot be driven: %s",
            error);
    vr_sched_cancel_all(b->sched, "the simulated server's clock cannot be driven", VR_EXIT_FAILED);
    b->next_due = UINT64_MAX;
  } else {
    vr_kube_mirror_flush(b->mirror); /* the server's changes, in its order */
  }
  if (target != NULL) vr_op_complete_first(target);
  while (releases-- > 0) vr_sched_release(b->sched);
}

static void on_mirror_progress(void *ctx) {
  remote_box *b = ctx;
  if (b->syncing && b->rev_known && vr_kube_mirror_caught_up(b->mirror, b->want_rev))
    sync_end(b, NULL);
}

static void on_clock_answer(vr_kube_request *req, const vr_kube_response *resp, void *data) {
  remote_box *b = data;
  cJSON *doc;
  const cJSON *next, *rev;
  char msg[700];
  (void)req;
  if (b->closed) return;
  doc = resp->status == 200 ? cJSON_ParseWithLength(resp->body, resp->body_len) : NULL;
  next = cJSON_GetObjectItemCaseSensitive(doc, "nextDueMs");
  rev = cJSON_GetObjectItemCaseSensitive(doc, "revision");
  if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(doc, "nowMs")))
    b->server_now = (uint64_t)cJSON_GetObjectItemCaseSensitive(doc, "nowMs")->valuedouble;
  if (doc == NULL || !cJSON_IsString(rev) || !(cJSON_IsNumber(next) || cJSON_IsNull(next))) {
    vr_store_error err;
    vr_kube_response_error(resp, "the server's sim.vmrun.io clock", &err);
    snprintf(msg, sizeof msg, "%s",
             resp->status == 200 ? "the clock's answer is malformed" : err.message);
    cJSON_Delete(doc);
    sync_end(b, msg);
    return;
  }
  b->next_due = cJSON_IsNumber(next) ? (uint64_t)next->valuedouble : UINT64_MAX;
  b->want_rev = strtoull(rev->valuestring, NULL, 10);
  b->rev_known = 1;
  cJSON_Delete(doc);
  on_mirror_progress(b);
}

/* Asks the server's clock (GET, or POST to advance it), then waits until the watches have
 * brought everything up to the revision it gives, applies that, completes target first and
 * releases one hold. The caller holds the scheduler already. */
static void lockstep_sync(remote_box *b, const char *body, vr_op *target) {
  vr_kube_request_spec spec;
  if (b->syncing) { /* cannot happen: holds keep everything else still */
    vr_logf(b->log, VR_LOG_ERROR, "cluster: lockstep: a second clock request while one is on");
  }
  b->syncing = 1;
  b->rev_known = 0;
  b->sync_target = target;
  b->sync_releases++;
  memset(&spec, 0, sizeof spec);
  spec.method = body ? "POST" : "GET";
  spec.path = "/apis/sim.vmrun.io/v1/clock";
  spec.body = body;
  spec.body_len = body ? strlen(body) : 0;
  spec.on_done = on_clock_answer;
  spec.data = b;
  if (vr_kube_remote_start(b->remote, &spec) == NULL) sync_end(b, "out of memory");
}

static uint64_t lockstep_next_due(void *ctx) {
  remote_box *b = ctx;
  return b->syncing || b->closed ? UINT64_MAX : b->next_due;
}

/* The clock reached now with server events due: the server moves to now too. */
static void lockstep_advance(void *ctx, uint64_t now) {
  remote_box *b = ctx;
  char body[64];
  snprintf(body, sizeof body, "{\"advanceToMs\":%llu}", (unsigned long long)now);
  vr_sched_hold(b->sched);
  lockstep_sync(b, body, NULL);
}

/* --- waiting for a kind's first list ------------------------------------------------------- */

typedef struct kind_wait {
  vr_op op; /* first: the cancel hook gets the op */
  remote_box *box;
  int holding; /* lockstep: the scheduler is held until the kind is in */
  vr_mirror_waiter *waiter;
  int top; /* the stack of the call that waits, to restore before it runs again */
  lua_CFunction again;
  char group[128], kind[128];
} kind_wait;

static const char kind_wait_key = 'k';

static void kind_wait_stop(kind_wait *w) {
  vr_kube_mirror_waiter_cancel(w->waiter);
  w->waiter = NULL;
  if (w->holding) {
    w->holding = 0;
    vr_sched_release(w->box->sched);
  }
}

static int kind_wait_gc(lua_State *L) {
  kind_wait *w = lua_touserdata(L, 1);
  if (vr_sched_of(L) == NULL) w->holding = 0; /* the host is closing: the scheduler is gone */
  kind_wait_stop(w);
  return 0;
}

static void kind_wait_cancel(vr_op *op) {
  kind_wait_stop((kind_wait *)op);
}

static void on_kind_ready(void *data) {
  kind_wait *w = data;
  w->waiter = NULL; /* (freed by the mirror) */
  if (w->holding) { /* lockstep: as if the read had taken no time */
    vr_op_complete_first(&w->op);
    w->holding = 0;
    vr_sched_release(w->box->sched);
    return;
  }
  vr_op_complete(&w->op);
}

static int raise_kind_failed(lua_State *L, const char *kind, const char *why);

static int kind_wait_k(lua_State *L, int status, lua_KContext ctx) {
  kind_wait *w = lua_touserdata(L, (int)ctx);
  lua_CFunction again = w->again;
  (void)status;
  vr_op_finish(L, &w->op); /* raises on cancellation */
  if (!w->box->closed) { /* the sync failed: raise (running again would only try again, forever) */
    const char *why;
    if (vr_kube_mirror_state(w->box->mirror, w->group, w->kind, &why) == VR_MIRROR_FAILED)
      return raise_kind_failed(L, w->kind, why);
  }
  lua_settop(L, w->top);
  return again(L); /* the call from the start, now that the kind is in */
}

/* Raises why a kind cannot be read. */
static int raise_kind_failed(lua_State *L, const char *kind, const char *why) {
  luaL_where(L, 1);
  vr_error_push(L, "unavailable", "%scannot read the cluster's %s objects: %s", lua_tostring(L, -1),
                kind, why ? why : "unknown error");
  vr_error_set_string(L, "resource", kind);
  return lua_error(L);
}

int vr_lua_remote_need_kind(lua_State *L, const char *group, const char *kind, lua_CFunction again,
                            int *rc) {
  remote_box *b = get_box(L);
  const char *why;
  vr_mirror_state st;
  kind_wait *w;
  int oom, top;
  if (b == NULL) return 0;
  st = vr_kube_mirror_state(b->mirror, group, kind, &why);
  if (st == VR_MIRROR_SYNCED || st == VR_MIRROR_ABSENT) return 0;
  /* not synced yet, or failed before (then this call tries again: the server may be back) */
  top = lua_gettop(L);
  vr_await_check(L, "cluster (reading a kind for the first time)");
  w = vr_push_gc_userdata(L, sizeof *w, &kind_wait_key, kind_wait_gc);
  w->top = top;
  w->again = again;
  w->box = b;
  snprintf(w->group, sizeof w->group, "%s", group);
  snprintf(w->kind, sizeof w->kind, "%s", kind);
  w->waiter = vr_kube_mirror_ensure(b->mirror, group, kind, on_kind_ready, w, &oom);
  if (w->waiter == NULL) {
    if (oom) return luaL_error(L, "out of memory");
    st = vr_kube_mirror_state(b->mirror, group, kind, &why);
    if (st == VR_MIRROR_FAILED) return raise_kind_failed(L, kind, why);
    lua_settop(L, top);
    return 0; /* settled meanwhile */
  }
  w->op.cancel = kind_wait_cancel;
  if (b->lockstep) {
    vr_sched_hold(b->sched);
    w->holding = 1;
  }
  *rc = vr_await(L, &w->op, "cluster sync", -1, kind_wait_k, (lua_KContext)(top + 1));
  return 1;
}

/* After vr_lua_remote_need_kind returned 0: raises when the kind failed; 0 when absent, 1 when
 * synced (with *res filled). */
static int kind_resource(lua_State *L, remote_box *b, const char *group, const char *kind,
                         vr_kube_resource *res) {
  const char *why;
  vr_mirror_state st = vr_kube_mirror_state(b->mirror, group, kind, &why);
  if (st == VR_MIRROR_FAILED) return raise_kind_failed(L, kind, why);
  return vr_kube_mirror_resource(b->mirror, group, kind, res);
}

/* --- requests ------------------------------------------------------------------------------ */

typedef enum {
  ANSWER_OBJECT,    /* create, replace, patch: the stored object */
  ANSWER_DELETED,   /* delete: true */
  ANSWER_TRUE,      /* evacuate/cancel, reboot: true */
  ANSWER_EVICTION,  /* evict: true; try_evict: true | nil, err */
  ANSWER_PATCH_READ /* the fresh read before a patch is sent again after a 409 */
} answer_kind;

typedef struct rest_op {
  vr_op op; /* first: the cancel hook gets the op */
  remote_box *box;
  int holding; /* lockstep: the scheduler is held until the answer and the server's changes are in
                */
  vr_kube_call *call;
  answer_kind answer;
  int raise;        /* evictions: raise (evict) or return nil, err (try_evict) */
  int conflicts;    /* patches: 409s retried so far */
  int precondition; /* a patch with a resourceVersion: a 409 is the caller's */
  int status;
  int attempts; /* of the answer (a retried DELETE that meets 404: the first one did it) */
  char *body;
  size_t body_len;
  char *content_type;
  char *error;
  /* to send a patch again */
  char method[8];
  char *path, *object_path, *request_body, *request_type;
  /* lockstep: a write waiting for the server's clock to reach the run's */
  char *deferred_method, *deferred_path, *deferred_body, *deferred_type;
  char resource[300];
  /* a delete's object, to forget when the answer is a Status (the object is gone) */
  char group[128], kind[128], ns[254], name[254];
} rest_op;

static const char rest_op_key = 'o';

static void rest_op_clear_answer(rest_op *o) {
  if (o->body) vr_secret_free_n(o->body, o->body_len + 1); /* a Secret's data may be in there */
  free(o->content_type);
  free(o->error);
  o->body = o->content_type = o->error = NULL;
  o->body_len = 0;
  o->status = 0;
}

static int rest_op_gc(lua_State *L) {
  rest_op *o = lua_touserdata(L, 1);
  if (o->box != NULL && o->box->sync_target == &o->op) o->box->sync_target = NULL;
  o->op.task = NULL; /* nobody waits for it now (its task may be freed: the host is closing) */
  if (o->holding && vr_sched_of(L) == NULL) o->holding = 0; /* no scheduler to release */
  if (o->call) {
    vr_kube_call *c = o->call;
    o->call = NULL;
    vr_kube_call_cancel(c);
  }
  rest_op_clear_answer(o);
  free(o->path);
  free(o->object_path);
  vr_secret_free(o->request_body);
  free(o->request_type);
  o->path = o->object_path = o->request_body = o->request_type = NULL;
  free(o->deferred_method);
  free(o->deferred_path);
  vr_secret_free(o->deferred_body);
  free(o->deferred_type);
  o->deferred_method = o->deferred_path = o->deferred_body = o->deferred_type = NULL;
  return 0;
}

static void rest_op_cancel(vr_op *op) {
  rest_op *o = (rest_op *)op;
  if (o->box != NULL && o->box->sync_target == op) o->box->sync_target = NULL;
  if (o->call) {
    vr_kube_call *c = o->call;
    o->call = NULL;
    vr_kube_call_cancel(c); /* its on_done runs now; the op is no longer pending */
  }
}

static char *dup_bytes(const char *s, size_t n) {
  char *d = malloc(n + 1);
  if (d) {
    memcpy(d, s, n);
    d[n] = '\0';
  }
  return d;
}

static void on_rest_done(vr_kube_request *req, const vr_kube_response *resp, void *data) {
  rest_op *o = data;
  (void)req;
  o->call = NULL;
  rest_op_clear_answer(o);
  o->status = resp->status;
  o->attempts = resp->attempts;
  o->body = dup_bytes(resp->body ? resp->body : "", resp->body_len);
  o->body_len = o->body ? resp->body_len : 0;
  o->content_type = resp->content_type ? strdup(resp->content_type) : NULL;
  o->error = resp->error ? strdup(resp->error) : NULL;
  if (o->holding) { /* lockstep: the server's changes first (also after a cancel: it may have
                       changed something) */
    remote_box *b = o->box;
    o->holding = 0;
    if (!b->closed) {
      lockstep_sync(b, NULL, o->op.status == VR_OP_PENDING ? &o->op : NULL);
      return;
    }
    vr_sched_release(b->sched);
  }
  vr_op_complete(&o->op);
}

static vr_kube_call *start_request(remote_box *b, rest_op *o, const char *method, const char *path,
                                   const char *body, const char *content_type);

/* Lockstep: the server's clock reached the run's; the write that waited for it goes. */
static void on_caught_up(vr_kube_request *req, const vr_kube_response *resp, void *data) {
  rest_op *o = data;
  remote_box *b = o->box;
  cJSON *doc;
  (void)req;
  o->call = NULL;
  if (resp->status == 200 && (doc = cJSON_ParseWithLength(resp->body, resp->body_len)) != NULL) {
    const cJSON *now = cJSON_GetObjectItemCaseSensitive(doc, "nowMs");
    const cJSON *next = cJSON_GetObjectItemCaseSensitive(doc, "nextDueMs");
    if (cJSON_IsNumber(now)) b->server_now = (uint64_t)now->valuedouble;
    b->next_due = cJSON_IsNumber(next) ? (uint64_t)next->valuedouble : UINT64_MAX;
    cJSON_Delete(doc);
  }
  if (resp->status == 200 && o->op.status == VR_OP_PENDING && !b->closed) {
    o->call = start_request(b, o, o->deferred_method, o->deferred_path, o->deferred_body,
                            o->deferred_type);
    if (o->call != NULL) return;
  }
  /* cancelled, or the clock could not move: the write is not sent */
  on_rest_done(NULL, resp, o);
}

static vr_kube_call *start_request(remote_box *b, rest_op *o, const char *method, const char *path,
                                   const char *body, const char *content_type) {
  vr_kube_request_spec spec;
  memset(&spec, 0, sizeof spec);
  spec.method = method;
  spec.path = path;
  spec.body = body;
  spec.body_len = body ? strlen(body) : 0;
  spec.content_type = content_type;
  /* merge and strategic PATCHes and DELETEs may be sent twice (a JSON patch may not: "add
   * /spec/taints/-" would add twice); a POST that creates could create twice; an eviction is sent
   * again only after a lost connection (a pod already going is answered as the first time), its
   * errors are answers for the drain to read */
  spec.retry_writes = (strcmp(method, "PATCH") == 0 && content_type != NULL &&
                       strcmp(content_type, "application/json-patch+json") != 0) ||
                      strcmp(method, "DELETE") == 0;
  spec.resend_on_drop = o->answer == ANSWER_EVICTION;
  spec.no_retry_429 = o->answer == ANSWER_EVICTION;
  spec.on_done = on_rest_done;
  spec.data = o;
  return vr_kube_remote_start(b->remote, &spec);
}

/* Starts the op's request (method, path, body); raises when out of memory. In lockstep a write
 * first brings the server's clock to the run's (the server did nothing in between, or the run
 * would have moved it already), so that the write happens at the same simulated time. */
static void rest_send(lua_State *L, remote_box *b, rest_op *o, const char *method, const char *path,
                      const char *body, const char *content_type) {
  vr_kube_request_spec spec;
  o->box = b;
  if (b->lockstep && strcmp(method, "GET") != 0 && b->server_now < vr_clock_now(b->clock)) {
    char advance[64];
    free(o->deferred_method);
    free(o->deferred_path);
    vr_secret_free(o->deferred_body);
    free(o->deferred_type);
    o->deferred_method = strdup(method);
    o->deferred_path = strdup(path);
    o->deferred_body = body ? strdup(body) : NULL;
    o->deferred_type = content_type ? strdup(content_type) : NULL;
    if (!o->deferred_method || !o->deferred_path || (body && !o->deferred_body) ||
        (content_type && !o->deferred_type))
      luaL_error(L, "out of memory");
    snprintf(advance, sizeof advance, "{\"advanceToMs\":%llu}",
             (unsigned long long)vr_clock_now(b->clock));
    memset(&spec, 0, sizeof spec);
    spec.method = "POST";
    spec.path = "/apis/sim.vmrun.io/v1/clock";
    spec.body = advance;
    spec.body_len = strlen(advance);
    spec.on_done = on_caught_up;
    spec.data = o;
    o->call = vr_kube_remote_start(b->remote, &spec);
    if (o->call == NULL) luaL_error(L, "out of memory");
    vr_sched_hold(b->sched);
    o->holding = 1;
    return;
  }
  o->call = start_request(b, o, method, path, body, content_type);
  if (o->call == NULL) luaL_error(L, "out of memory");
  if (b->lockstep) {
    vr_sched_hold(b->sched);
    o->holding = 1;
  }
}

static int rest_k(lua_State *L, int status, lua_KContext ctx);

static int rest_await(lua_State *L, rest_op *o, int idx) {
  o->op.cancel = rest_op_cancel;
  return vr_await(L, &o->op, o->resource, -1, rest_k, (lua_KContext)idx);
}

static void push_answer_error(lua_State *L, rest_op *o, const char *what) {
  vr_kube_response resp;
  vr_store_error err;
  memset(&resp, 0, sizeof resp);
  resp.status = o->status;
  resp.body = o->body ? o->body : "";
  resp.body_len = o->body_len;
  resp.content_type = o->content_type;
  resp.error = o->error;
  vr_kube_response_error(&resp, what, &err);
  vr_push_store_error(L, &err, o->resource);
}

static int rest_k(lua_State *L, int status, lua_KContext ctx) {
  int idx = (int)ctx;
  rest_op *o = lua_touserdata(L, idx);
  remote_box *b = get_box(L);
  cJSON *doc;
  (void)status;
  vr_op_finish(L, &o->op); /* raises on cancellation (the gc cleans up) */
  if (b == NULL) return luaL_error(L, "the cluster connection is closed");
  if (o->answer == ANSWER_PATCH_READ) { /* the fresh read after a conflict: send again */
    if (o->status == 200 && (doc = cJSON_ParseWithLength(o->body, o->body_len)) != NULL) {
      vr_kube_mirror_apply(b->mirror, doc, 0);
      cJSON_Delete(doc);
    }
    o->answer = ANSWER_OBJECT;
    o->op.status = VR_OP_IDLE;
    vr_await_check(L, o->resource);
    rest_send(L, b, o, "PATCH", o->path, o->request_body, o->request_type);
    return rest_await(L, o, idx);
  }
  if (o->answer == ANSWER_DELETED && o->status == 404 && o->attempts > 1) {
    /* sent again after a lost answer: the first attempt deleted it */
    vr_kube_mirror_forget(b->mirror, o->group, o->kind, o->ns[0] ? o->ns : NULL, o->name);
    lua_pushboolean(L, 1);
    return 1;
  }
  if (o->status >= 200 && o->status < 300) {
    switch (o->answer) {
    case ANSWER_OBJECT:
      doc = cJSON_ParseWithLength(o->body, o->body_len);
      if (!cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        return vr_error_raise_for(L, "internal", o->resource,
                                  "%s: the server's answer is not a JSON object", o->resource);
      }
      vr_kube_mirror_apply(b->mirror, doc, 0);
      vr_json_push_cjson(L, doc);
      cJSON_Delete(doc);
      return 1;
    case ANSWER_DELETED:
      doc = cJSON_ParseWithLength(o->body, o->body_len);
      if (cJSON_IsObject(doc)) {
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(doc, "kind");
        if (!(cJSON_IsString(kind) && strcmp(kind->valuestring, "Status") == 0))
          vr_kube_mirror_apply(b->mirror, doc, 1);
        else /* a Status: deleted at once */
          vr_kube_mirror_forget(b->mirror, o->group, o->kind, o->ns[0] ? o->ns : NULL, o->name);
      }
      cJSON_Delete(doc);
      lua_pushboolean(L, 1);
      return 1;
    default:
      lua_pushboolean(L, 1);
      return 1;
    }
  }
  if (o->answer == ANSWER_OBJECT && o->status == 409 && o->path != NULL && !o->precondition &&
      o->conflicts < 5) {
    /* a patch without a precondition met a conflict: read the object again, then send again */
    o->conflicts++;
    o->answer = ANSWER_PATCH_READ;
    o->op.status = VR_OP_IDLE;
    vr_await_check(L, o->resource); /* (a cancellation comes before anything is sent) */
    rest_send(L, b, o, "GET", o->object_path, NULL, NULL);
    return rest_await(L, o, idx);
  }
  if (o->answer == ANSWER_EVICTION && !o->raise) {
    lua_pushnil(L);
    push_answer_error(L, o, o->resource);
    return 2;
  }
  push_answer_error(L, o, o->resource);
  return lua_error(L);
}

/* Pushes a new op for a request about resource (the userdata stays on the stack during the
 * wait); returns it. */
static rest_op *new_op(lua_State *L, answer_kind answer, const char *resource) {
  rest_op *o = vr_push_gc_userdata(L, sizeof *o, &rest_op_key, rest_op_gc);
  o->answer = answer;
  snprintf(o->resource, sizeof o->resource, "%s", resource);
  return o;
}

/* Sends and waits; the continuation pushes the answer. body is the caller's (copied). */
static int request(lua_State *L, remote_box *b, answer_kind answer, const char *resource,
                   const char *method, const char *path, const char *body,
                   const char *content_type) {
  rest_op *o;
  vr_await_check(L, resource);
  o = new_op(L, answer, resource);
  rest_send(L, b, o, method, path, body, content_type);
  return rest_await(L, o, lua_gettop(L));
}

static int raise_absent(lua_State *L, const char *kind, const char *resource) {
  luaL_where(L, 1);
  vr_error_push(L, "not_found",
                "%s%s: the cluster does not serve %s objects (is the operator "
                "that defines them installed?)",
                lua_tostring(L, -1), resource, kind);
  vr_error_set_integer(L, "status", 404);
  vr_error_set_string(L, "reason", "NotFound");
  vr_error_set_string(L, "resource", resource);
  return lua_error(L);
}

/* The resource of a kind that vr_lua_remote_need_kind made ready; raises when absent. */
static void must_resource(lua_State *L, remote_box *b, const char *group, const char *kind,
                          const char *resource, vr_kube_resource *res) {
  if (!kind_resource(L, b, group, kind, res)) raise_absent(L, kind, resource);
}

static int path_or_raise(lua_State *L, char *buf, size_t len, const vr_kube_resource *res,
                         const char *ns, const char *name, const char *sub, const char *query) {
  if (vr_kube_path(buf, len, res, ns, name, sub, query) != 0)
    return vr_error_raise(L, "usage", "a name is too long for a request path");
  return 0;
}

int vr_lua_remote_write(lua_State *L, const char *group, const char *kind, cJSON *obj, int replace,
                        const char *resource) {
  remote_box *b = get_box(L);
  vr_kube_resource res;
  char path[2048];
  char *body;
  const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
  const cJSON *ns = cJSON_GetObjectItemCaseSensitive(meta, "namespace");
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(meta, "name");
  const char *namespace_;
  int rc;
  if (!kind_resource(L, b, group, kind, &res)) {
    cJSON_Delete(obj);
    return raise_absent(L, kind, resource);
  }
  namespace_ = res.namespaced ? (cJSON_IsString(ns) ? ns->valuestring
                                                    : vr_kube_remote_config(b->remote)->namespace_)
                              : NULL;
  if (replace && !cJSON_IsString(name)) {
    cJSON_Delete(obj);
    return vr_error_raise_for(L, "input", resource, "%s: metadata.name is missing", resource);
  }
  if (vr_kube_path(path, sizeof path, &res, namespace_, replace ? name->valuestring : NULL, NULL,
                   NULL) != 0) {
    cJSON_Delete(obj);
    return vr_error_raise(L, "usage", "a name is too long for a request path");
  }
  body = cJSON_PrintUnformatted(obj);
  cJSON_Delete(obj);
  if (body == NULL) return luaL_error(L, "out of memory");
  lua_pushstring(L, body); /* (the request copies it; Lua owns this copy if a raise comes) */
  cJSON_free(body);
  rc = request(L, b, ANSWER_OBJECT, resource, replace ? "PUT" : "POST", path, lua_tostring(L, -1),
               NULL);
  return rc;
}

int vr_lua_remote_patch(lua_State *L, const char *group, const char *kind, const char *ns,
                        const char *name, cJSON *patch, const char *type, const char *resource) {
  remote_box *b = get_box(L);
  vr_kube_resource res;
  char path[2048];
  const char *content_type;
  const cJSON *meta = cJSON_GetObjectItemCaseSensitive(patch, "metadata");
  int precondition =
      cJSON_IsObject(patch) && cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion") != NULL;
  rest_op *o;
  char *body;
  if (!kind_resource(L, b, group, kind, &res)) {
    cJSON_Delete(patch);
    return raise_absent(L, kind, resource);
  }
  if (strcmp(type, "json") == 0) {
    content_type = "application/json-patch+json";
    precondition = 1; /* its "test" operations are the caller's preconditions */
  } else if (strcmp(type, "strategic") == 0 && vr_kind_builtin_group(group)) {
    content_type = "application/strategic-merge-patch+json";
  } else { /* the API server has no strategic merge for custom resources */
    content_type = "application/merge-patch+json";
  }
  if (vr_kube_path(path, sizeof path, &res, res.namespaced ? ns : NULL, name, NULL, NULL) != 0) {
    cJSON_Delete(patch);
    return vr_error_raise(L, "usage", "a name is too long for a request path");
  }
  body = cJSON_PrintUnformatted(patch);
  cJSON_Delete(patch);
  if (body == NULL) return luaL_error(L, "out of memory");
  vr_await_check(L, resource);
  o = new_op(L, ANSWER_OBJECT, resource);
  o->precondition = precondition;
  o->path = strdup(path);
  o->object_path = strdup(path);
  o->request_body = strdup(body);
  o->request_type = strdup(content_type);
  cJSON_free(body);
  if (!o->path || !o->object_path || !o->request_body || !o->request_type)
    return luaL_error(L, "out of memory");
  rest_send(L, b, o, "PATCH", o->path, o->request_body, o->request_type);
  return rest_await(L, o, lua_gettop(L));
}

int vr_lua_remote_delete(lua_State *L, const char *group, const char *kind, const char *ns,
                         const char *name, long long grace, const char *resource) {
  remote_box *b = get_box(L);
  vr_kube_resource res;
  char path[2048], body[160];
  must_resource(L, b, group, kind, resource, &res);
  path_or_raise(L, path, sizeof path, &res, res.namespaced ? ns : NULL, name, NULL, NULL);
  rest_op *o;
  if (grace >= 0)
    snprintf(body, sizeof body,
             "{\"apiVersion\":\"v1\",\"kind\":\"DeleteOptions\",\"gracePeriodSeconds\":%lld}",
             grace);
  vr_await_check(L, resource);
  o = new_op(L, ANSWER_DELETED, resource);
  snprintf(o->group, sizeof o->group, "%s", group);
  snprintf(o->kind, sizeof o->kind, "%s", kind);
  snprintf(o->ns, sizeof o->ns, "%s", res.namespaced && ns ? ns : "");
  snprintf(o->name, sizeof o->name, "%s", name);
  rest_send(L, b, o, "DELETE", path, grace >= 0 ? body : NULL, NULL);
  return rest_await(L, o, lua_gettop(L));
}

int vr_lua_remote_evict(lua_State *L, const char *ns, const char *name, cJSON *eviction,
                        int dry_run, int raise, const char *resource) {
  remote_box *b = get_box(L);
  vr_kube_resource res;
  char path[2048];
  char *body;
  rest_op *o;
  if (!kind_resource(L, b, "", "Pod", &res)) {
    cJSON_Delete(eviction);
    return raise_absent(L, "Pod", resource);
  }
  if (vr_kube_path(path, sizeof path, &res, ns, name, "eviction", dry_run ? "dryRun=All" : NULL) !=
      0) {
    cJSON_Delete(eviction);
    return vr_error_raise(L, "usage", "a name is too long for a request path");
  }
  cJSON_AddStringToObject(eviction, "apiVersion", "policy/v1");
  cJSON_AddStringToObject(eviction, "kind", "Eviction");
  {
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(eviction, "metadata");
    if (meta == NULL) meta = cJSON_AddObjectToObject(eviction, "metadata");
    if (meta != NULL) {
      cJSON_AddStringToObject(meta, "name", name);
      cJSON_AddStringToObject(meta, "namespace", ns);
    }
  }
  body = cJSON_PrintUnformatted(eviction);
  cJSON_Delete(eviction);
  if (body == NULL) return luaL_error(L, "out of memory");
  lua_pushstring(L, body);
  cJSON_free(body);
  vr_await_check(L, resource);
  o = new_op(L, ANSWER_EVICTION, resource);
  o->raise = raise;
  rest_send(L, b, o, "POST", path, lua_tostring(L, -2), NULL);
  return rest_await(L, o, lua_gettop(L));
}

int vr_lua_remote_evacuate_cancel(lua_State *L, const char *ns, const char *name, const char *node,
                                  const char *resource) {
  remote_box *b = get_box(L);
  vr_kube_resource res;
  char path[2048];
  cJSON *body;
  char *text;
  must_resource(L, b, "kubevirt.io", "VirtualMachineInstance", resource, &res);
  snprintf(res.group, sizeof res.group, "subresources.kubevirt.io");
  snprintf(res.version, sizeof res.version, "v1");
  path_or_raise(L, path, sizeof path, &res, ns, name, "evacuate/cancel", NULL);
  body = cJSON_CreateObject();
  if (body == NULL || cJSON_AddStringToObject(body, "evacuationNodeName", node) == NULL) {
    cJSON_Delete(body);
    return luaL_error(L, "out of memory");
  }
  text = cJSON_PrintUnformatted(body);
  cJSON_Delete(body);
  if (text == NULL) return luaL_error(L, "out of memory");
  lua_pushstring(L, text);
  cJSON_free(text);
  return request(L, b, ANSWER_TRUE, resource, "PUT", path, lua_tostring(L, -1), NULL);
}

int vr_lua_remote_sim_reboot(lua_State *L, const char *node) {
  remote_box *b = get_box(L);
  char path[1024], resource[300];
  size_t at;
  snprintf(resource, sizeof resource, "Node %s", node);
  if (b->sim_source == NULL)
    return vr_error_raise_for(L, "usage", resource,
                              "sim.reboot: the cluster is a real one (%s): only a simulated "
                              "cluster reboots its nodes by itself",
                              vr_kube_remote_config(b->remote)->server);
  snprintf(path, sizeof path, "/apis/sim.vmrun.io/v1/nodes/");
  at = strlen(path);
  {
    vr_kube_resource fake;
    char escaped[700];
    memset(&fake, 0, sizeof fake);
    snprintf(fake.version, sizeof fake.version, "v1");
    snprintf(fake.plural, sizeof fake.plural, "x");
    if (vr_kube_path(escaped, sizeof escaped, &fake, NULL, node, NULL, NULL) != 0)
      return vr_error_raise(L, "usage", "sim.reboot: the node name is too long");
    snprintf(path + at, sizeof path - at, "%s/reboot", escaped + strlen("/api/v1/x/"));
  }
  return request(L, b, ANSWER_TRUE, resource, "POST", path, "{}", NULL);
}

/* --- connecting ---------------------------------------------------------------------------- */

typedef struct probe {
  int done, status;
  char *body;
  size_t len;
  char error[600];
  char content_type[128];
} probe;

static void on_probe_done(vr_kube_request *req, const vr_kube_response *resp, void *data) {
  probe *p = data;
  (void)req;
  p->done = 1;
  p->status = resp->status;
  p->body = dup_bytes(resp->body ? resp->body : "", resp->body_len);
  p->len = p->body ? resp->body_len : 0;
  if (resp->error) snprintf(p->error, sizeof p->error, "%s", resp->error);
  if (resp->content_type)
    snprintf(p->content_type, sizeof p->content_type, "%s", resp->content_type);
}

/* Raises when the run was interrupted or timed out while connecting (the scheduler is not
 * running yet: its signal and --timeout handlers only mark the run as stopping). */
static void check_stopping(lua_State *L, vr_sched *s) {
  int code = vr_sched_stop_code(s);
  if (code < 0) return;
  lua_pushstring(L, code == VR_EXIT_TIMEOUT ? "timed out while connecting to the cluster"
                                            : "interrupted while connecting to the cluster");
  lua_error(L);
}

/* Runs the loop until *done, or until the run is stopping (then 0). */
static int run_until_done(vr_sched *s, const int *done) {
  while (!*done) {
    if (vr_sched_stop_code(s) >= 0) return 0;
    uv_run(vr_sched_loop(s), UV_RUN_ONCE);
  }
  return 1;
}

/* One GET before the playbook starts, into p (the loop runs until its answer); raises when the
 * run is interrupted or times out meanwhile (the request is cancelled first). */
static void probe_get(lua_State *L, remote_box *b, const char *path, probe *p) {
  vr_kube_request_spec spec;
  vr_kube_call *call;
  memset(&spec, 0, sizeof spec);
  memset(p, 0, sizeof *p);
  spec.method = "GET";
  spec.path = path;
  spec.on_done = on_probe_done;
  spec.data = p;
  call = vr_kube_remote_start(b->remote, &spec);
  if (call == NULL) luaL_error(L, "out of memory");
  if (!run_until_done(b->sched, &p->done)) {
    vr_kube_call_cancel(call); /* its answer (cancelled) lands in p now, not later */
    free(p->body);
    p->body = NULL;
    check_stopping(L, b->sched);
  }
}

typedef struct kind_sync {
  vr_mirror_waiter *waiter; /* NULL once it fired */
  int *pending;
} kind_sync;

static void on_kind_synced(void *data) {
  kind_sync *k = data;
  k->waiter = NULL; /* (freed by the mirror) */
  (*k->pending)--;
}

/* Syncs kinds (groups[i], kinds[i], n of them) before the playbook starts, running the loop
 * until each is synced, absent or failed; raises when out of memory or when the run is
 * interrupted or times out meanwhile (the waiters, which point into this frame, are cancelled
 * first). */
static void sync_kinds(lua_State *L, remote_box *b, const char *const *groups,
                       const char *const *kinds, size_t n) {
  kind_sync *w = lua_newuserdatauv(L, n * sizeof *w + 1, 0);
  int pending = 0, oom = 0, done = 0;
  size_t i;
  for (i = 0; i < n; i++) {
    w[i].pending = &pending;
    w[i].waiter =
        oom ? NULL
            : vr_kube_mirror_ensure(b->mirror, groups[i], kinds[i], on_kind_synced, &w[i], &oom);
    if (w[i].waiter != NULL) pending++;
  }
  while (pending > 0 && vr_sched_stop_code(b->sched) < 0)
    uv_run(vr_sched_loop(b->sched), UV_RUN_ONCE);
  done = pending == 0;
  for (i = 0; i < n && !done; i++)
    if (w[i].waiter != NULL) vr_kube_mirror_waiter_cancel(w[i].waiter);
  lua_pop(L, 1);
  if (oom) luaL_error(L, "out of memory");
  if (!done) check_stopping(L, b->sched);
}

/* For a 401: what the user sent, by where it came from (files and commands, never a secret). */
static void credentials_of(const vr_kube_config *cfg, char *buf, size_t len) {
  char part[5][300];
  size_t n = 0, i, at = 0;
  if (cfg->exec != NULL)
    snprintf(part[n++], sizeof part[0], "a credential from the exec plugin '%.200s'",
             cfg->exec->command);
  if (cfg->token_file != NULL && cfg->token_file[0] != '\0')
    snprintf(part[n++], sizeof part[0], "the token in the file %.200s", cfg->token_file);
  else if (cfg->token != NULL && cfg->token[0] != '\0')
    snprintf(part[n++], sizeof part[0], "the kubeconfig's token");
  if (cfg->client_cert_file != NULL && cfg->client_cert_file[0] != '\0')
    snprintf(part[n++], sizeof part[0], "the client certificate %.200s", cfg->client_cert_file);
  else if (cfg->client_cert_pem != NULL)
    snprintf(part[n++], sizeof part[0], "the client certificate in client-certificate-data");
  if (cfg->username != NULL && cfg->username[0] != '\0')
    snprintf(part[n++], sizeof part[0], "basic auth as '%.200s'", cfg->username);
  snprintf(buf, len, "%s", n == 0 ? "no credentials" : "");
  for (i = 0; i < n; i++) {
    int w = snprintf(buf + at, len - at, "%s%s", i ? ", " : "", part[i]);
    if (w < 0 || (size_t)w >= len - at) break;
    at += (size_t)w;
  }
}

/* What the server is: /version (a Kubernetes API server answers it as JSON), and whether it is a
 * `vmrun serve` (the sim.vmrun.io group). Raises kind "unavailable" naming what is wrong: the
 * server, the reason, and for a 401 the user and what it sent. */
static void probe_server(lua_State *L, remote_box *b, uv_loop_t *loop, char *version, size_t vlen) {
  probe p;
  cJSON *doc;
  const cJSON *git;
  const vr_kube_config *cfg = vr_kube_remote_config(b->remote);
  (void)loop;
  probe_get(L, b, "/version", &p);
  doc = p.status == 200 ? cJSON_ParseWithLength(p.body, p.len) : NULL;
  git = cJSON_GetObjectItemCaseSensitive(doc, "gitVersion");
  if (!cJSON_IsString(git)) {
    vr_kube_response resp;
    vr_store_error err;
    char what[600], hint[700];
    memset(&resp, 0, sizeof resp);
    resp.status = p.status;
    resp.body = p.body ? p.body : "";
    resp.body_len = p.len;
    resp.error = p.error[0] ? p.error : NULL;
    resp.content_type = p.content_type[0] ? p.content_type : NULL;
    /* without an answer the client's error already names the request (GET /version) */
    snprintf(what, sizeof what, "%s%s", cfg->server, p.status == 0 ? "" : "/version");
    hint[0] = '\0';
    if (p.status == 200) {
      char excerpt[120];
      size_t i, n = p.len < sizeof excerpt - 1 ? p.len : sizeof excerpt - 1;
      for (i = 0; i < n; i++)
        excerpt[i] = (p.body[i] >= 0x20 && p.body[i] < 0x7f) ? p.body[i] : ' ';
      excerpt[n] = '\0';
      snprintf(err.message, sizeof err.message,
               "%.300s answered something that is not a Kubernetes version (%s): is this a "
               "Kubernetes API server?",
               what, excerpt);
    } else {
      vr_kube_response_error(&resp, what, &err);
    }
    if (p.status == 401) {
      char creds[600];
      credentials_of(cfg, creds, sizeof creds);
      snprintf(hint, sizeof hint, "; the server does not accept the credentials of user '%s' (%s)",
               cfg->user[0] ? cfg->user : "none", creds);
    }
    cJSON_Delete(doc);
    free(p.body);
    luaL_where(L, 1);
    vr_error_push(L, "unavailable", "cannot use cluster '%s': %s%s", cfg->cluster, err.message,
                  hint);
    vr_error_set_string(L, "resource", cfg->server);
    lua_error(L);
  }
  snprintf(version, vlen, "%s", git->valuestring);
  cJSON_Delete(doc);
  free(p.body);
  /* a vmrun serve (its gitVersion ends in "-vmrun"; a real cluster is not asked for the clock)? */
  {
    size_t n = strlen(version);
    if (n < 6 || strcmp(version + n - 6, "-vmrun") != 0) return;
  }
  probe_get(L, b, "/apis/sim.vmrun.io/v1/clock", &p);
  if (p.status == 200 && (doc = cJSON_ParseWithLength(p.body, p.len)) != NULL) {
    const cJSON *source = cJSON_GetObjectItemCaseSensitive(doc, "source");
    const cJSON *mode = cJSON_GetObjectItemCaseSensitive(doc, "mode");
    const cJSON *now = cJSON_GetObjectItemCaseSensitive(doc, "nowMs");
    const cJSON *next = cJSON_GetObjectItemCaseSensitive(doc, "nextDueMs");
    char buf[1200];
    if (cJSON_IsString(mode) && strcmp(mode->valuestring, "client") == 0 && cJSON_IsNumber(now)) {
      b->lockstep = 1;
      b->next_due = cJSON_IsNumber(next) ? (uint64_t)next->valuedouble : UINT64_MAX;
      vr_clock_make_virtual(b->clock, (uint64_t)now->valuedouble);
      b->server_now = (uint64_t)now->valuedouble;
    }
    snprintf(buf, sizeof buf, "vmrun serve at %s (%s)", cfg->server,
             cJSON_IsString(source) ? source->valuestring : "simulated");
    b->sim_source = strdup(buf);
    cJSON_Delete(doc);
  }
  free(p.body);
}

/* vr_lua_remote_connect(options lightuserdata): see bindings.h. */
int vr_lua_remote_connect(lua_State *L) {
  const vr_remote_options *opt = lua_touserdata(L, 1);
  vr_sched *s = vr_sched_of(L);
  vr_kubeconfig_error kerr;
  vr_kube_config *cfg;
  vr_kube_client_options copt;
  remote_box *b;
  char err[700], version[128], cluster[256];
  uv_loop_t *loop;
  size_t i;
  if (s == NULL) return luaL_error(L, "no scheduler in this Lua state");
  loop = vr_sched_loop(s);
  memset(&kerr, 0, sizeof kerr);
  /* VMRUN_SERVICEACCOUNT_DIR: the service account's files elsewhere than
   * /var/run/secrets/kubernetes.io/serviceaccount (an unusual mount, or a test) */
  cfg = opt->in_cluster ? vr_kubeconfig_in_cluster(getenv("VMRUN_SERVICEACCOUNT_DIR"), &kerr)
                        : vr_kubeconfig_load(opt->kubeconfig, opt->context, opt->namespace_, &kerr);
  if (cfg == NULL) {
    vr_kubeconfig_error_format(&kerr, err, sizeof err);
    lua_pushstring(L, err);
    return lua_error(L);
  }
  if (cfg->cluster[0] == '\0') { /* in-cluster: the name messages use */
    char *name = strdup("in-cluster");
    if (name == NULL) {
      vr_kube_config_free(cfg);
      return luaL_error(L, "out of memory");
    }
    free(cfg->cluster);
    cfg->cluster = name;
  }
  if (opt->in_cluster && opt->namespace_ != NULL) {
    free(cfg->namespace_);
    cfg->namespace_ = strdup(opt->namespace_);
    if (cfg->namespace_ == NULL) {
      vr_kube_config_free(cfg);
      return luaL_error(L, "out of memory");
    }
  }
  /* the first line: which cluster this run acts on */
  fprintf(stderr,
          "vmrun: %scluster '%s' at %s (context '%s', user '%s', namespace '%s'; from %s)%s\n",
          opt->rehearse ? "rehearsal of " : "", cfg->cluster, cfg->server,
          cfg->context[0] ? cfg->context : "in-cluster", cfg->user[0] ? cfg->user : "none",
          cfg->namespace_, cfg->source,
          opt->rehearse ? ": read only, the playbook runs on a copy in the simulator" : "");
  if (strncmp(cfg->server, "http://", 7) == 0 && strncmp(cfg->server, "http://127.", 11) != 0 &&
      strncmp(cfg->server, "http://localhost", 16) != 0)
    fprintf(stderr,
            "vmrun: warning: %s is plain HTTP: no TLS, and the user's credentials are not "
            "sent (as kubectl does)\n",
            cfg->server);
  fflush(stderr);
  snprintf(cluster, sizeof cluster, "%s", cfg->cluster);
  b = lua_newuserdatauv(L, sizeof *b, 0);
  memset(b, 0, sizeof *b);
  b->closed = 1; /* until everything is set up */
  if (luaL_newmetatable(L, REMOTE_BOX_MT)) {
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  memset(&copt, 0, sizeof copt);
  copt.seed = opt->seed;
  b->remote = vr_kube_remote_new(loop, vr_sched_clock(s), cfg, &copt, err, sizeof err);
  if (b->remote == NULL) {
    lua_pushfstring(L, "cannot use cluster '%s': %s", cluster, err);
    return lua_error(L);
  }
  b->store = vr_store_new(opt->seed, 0);
  if (b->store != NULL) vr_store_set_mirror(b->store);
  b->mirror = b->store ? vr_kube_mirror_new(b->remote, loop, b->store, opt->seed) : NULL;
  b->log = vr_log_of(L);
  b->sched = s;
  b->clock = vr_sched_clock(s);
  vr_sched_end_with_last_task(s); /* the mirror's watches stay open */
  b->next_due = UINT64_MAX;
  b->closed = 0;
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &remote_key);
  if (b->mirror == NULL) return luaL_error(L, "out of memory");
  vr_kube_mirror_set_log(b->mirror, mirror_log, b);
  probe_server(L, b, loop, version, sizeof version);
  {
    /* streaming lists from Kubernetes 1.27 (older servers would take one for a plain watch);
     * a server whose WatchList gate is off refuses the first, and the kinds are LISTed then */
    int major = 0, minor = 0;
    if (sscanf(version, "v%d.%d", &major, &minor) == 2 && (major > 1 || minor >= 27))
      vr_kube_mirror_set_watch_list(b->mirror, 1);
  }
  if (opt->rehearse) b->lockstep = 0; /* a rehearsal reads: it never drives a server's clock */
  {
    const char *groups[EAGER_KINDS], *kinds[EAGER_KINDS];
    for (i = 0; i < EAGER_KINDS; i++) {
      groups[i] = eager_kinds[i].group;
      kinds[i] = eager_kinds[i].kind;
    }
    sync_kinds(L, b, groups, kinds, EAGER_KINDS);
  }
  if (b->lockstep) { /* from now on the server moves only when this run's clock does */
    vr_event_source source;
    source.next_due = lockstep_next_due;
    source.advance = lockstep_advance;
    source.ctx = b;
    if (vr_clock_add_source(b->clock, &source) != 0) return luaL_error(L, "out of memory");
    vr_kube_mirror_set_ordered(b->mirror, 1, on_mirror_progress, b);
    vr_sched_stop_when_idle(s);
  }
  for (i = 0; i < EAGER_KINDS; i++) {
    const char *why;
    if (vr_kube_mirror_state(b->mirror, eager_kinds[i].group, eager_kinds[i].kind, &why) ==
        VR_MIRROR_FAILED) {
      lua_pushfstring(L, "cannot read cluster '%s': %s", vr_kube_remote_config(b->remote)->cluster,
                      why);
      return lua_error(L);
    }
  }
  {
    const cJSON **items;
    size_t nodes = vr_store_list(b->store, "", "Node", NULL, NULL, &items);
    size_t vmis;
    if (nodes != (size_t)-1) free((void *)items);
    vmis = vr_store_list(b->store, "kubevirt.io", "VirtualMachineInstance", NULL, NULL, &items);
    if (vmis != (size_t)-1) free((void *)items);
    vr_logf(b->log, VR_LOG_INFO, "connected to %s (Kubernetes %s): %zu nodes, %zu VMIs%s",
            b->sim_source ? b->sim_source : vr_kube_remote_config(b->remote)->server, version,
            nodes == (size_t)-1 ? 0 : nodes, vmis == (size_t)-1 ? 0 : vmis,
            vr_kube_mirror_state(b->mirror, "kubevirt.io", "VirtualMachineInstance", NULL) ==
                    VR_MIRROR_ABSENT
                ? " (KubeVirt is not installed)"
                : "");
  }
  return 0;
}

/* vr_lua_remote_take: see bindings.h. */
void vr_lua_remote_take(lua_State *L, const vr_sim_kind *kinds, cJSON **objects, char *cluster,
                        size_t clen, char *server, size_t slen) {
  remote_box *b = get_box(L);
  cJSON *all;
  size_t i, k, n_kinds = 0;
  if (b == NULL) {
    luaL_error(L, "not connected to a cluster");
    return;
  }
  while (kinds[n_kinds].kind != NULL) n_kinds++;
  {
    const char **groups = lua_newuserdatauv(L, (n_kinds + 1) * sizeof *groups * 2, 0);
    const char **names = groups + n_kinds + 1;
    for (i = 0; i < n_kinds; i++) {
      groups[i] = kinds[i].group;
      names[i] = kinds[i].kind;
    }
    sync_kinds(L, b, groups, names, n_kinds);
    lua_pop(L, 1);
  }
  lua_pushstring(L, vr_kube_remote_config(b->remote)->namespace_);
  lua_setfield(L, LUA_REGISTRYINDEX, VR_DEFAULT_NAMESPACE_KEY);
  all = cJSON_CreateArray();
  for (i = 0; all != NULL && kinds[i].kind != NULL; i++) {
    const char *why;
    const cJSON **items;
    size_t n;
    vr_mirror_state st = vr_kube_mirror_state(b->mirror, kinds[i].group, kinds[i].kind, &why);
    if (st == VR_MIRROR_FAILED) {
      cJSON_Delete(all);
      raise_kind_failed(L, kinds[i].kind, why);
      return;
    }
    if (st != VR_MIRROR_SYNCED) continue; /* absent: the server does not serve it */
    n = vr_store_list(b->store, kinds[i].group, kinds[i].kind, NULL, NULL, &items);
    for (k = 0; all != NULL && n != (size_t)-1 && k < n; k++) {
      cJSON *copy = cJSON_Duplicate(items[k], 1);
      if (copy == NULL || !cJSON_AddItemToArray(all, copy)) {
        cJSON_Delete(copy);
        cJSON_Delete(all);
        all = NULL;
      }
    }
    if (n == (size_t)-1) {
      cJSON_Delete(all);
      all = NULL;
    } else {
      free((void *)items);
    }
  }
  if (all == NULL) {
    luaL_error(L, "out of memory");
    return;
  }
  snprintf(cluster, clen, "%s", vr_kube_remote_config(b->remote)->cluster);
  snprintf(server, slen, "%s", vr_kube_remote_config(b->remote)->server);
  box_close(b); /* the mirror and the client: no request can follow */
  uv_run(vr_sched_loop(b->sched), UV_RUN_NOWAIT); /* their handles' close callbacks */
  *objects = all;
}
