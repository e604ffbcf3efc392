/* kube_mirror.c: per-kind list-and-watch into a mirror store (see kube_mirror.h). Each kind has
 * a reflector: discovery when needed, a streaming list (a WATCH with sendInitialEvents) or LIST
 * pages, then WATCH streams resumed from the last resourceVersion, relisting on 410. Everything
 * runs from libuv callbacks; nothing blocks and nothing here knows Lua. */
#include "kube_mirror.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kinds.h"
#include "strmap.h"

#define LIST_PAGE          "500"
#define WATCH_TIMEOUT_S    300 /* plus up to 60 s of jitter, as client-go spreads its watches */
#define BACKOFF_INITIAL_MS 500
#define BACKOFF_MAX_MS     30000
#define QUICK_WATCH_MS     1000 /* a watch that ends cleanly sooner than this counts as failing */
#define INITIAL_EVENTS_END "k8s.io/initial-events-end" /* the streaming list's last bookmark */

typedef enum { STEP_NONE, STEP_GROUP, STEP_RESOURCES, STEP_LIST, STEP_WATCH } step;

struct vr_mirror_waiter {
  struct reflector *r;
  vr_mirror_ready_fn cb;
  void *data;
  vr_mirror_waiter *next;
};

typedef struct reflector {
  vr_kube_mirror *m;
  char group[128], kind[128];
  char kind_key[260];
  vr_kube_resource res;
  int resolved;   /* res is known */
  int discovered; /* res came from discovery (a 404 then means absent) */
  vr_mirror_state state;
  char error[600];
  char rv[64]; /* last resourceVersion seen (list, event or bookmark) */
  step step;
  vr_kube_call *call;
  cJSON *pending; /* the pages of the list in progress */
  char *continue_token;
  int list_restarts; /* continue tokens that expired in a row */
  int failures;      /* consecutive failed attempts (for the backoff and the log) */
  int quick_watches; /* consecutive watches that ended at once */
  int relist_wanted; /* the watch saw 410: list again when it ends */
  int streaming;     /* the watch in progress is a streaming list still sending its objects */
  int plain_list;    /* the next list is a LIST (the streaming list just failed) */
  int not_streamed;  /* the server answered a streaming list as a plain watch */
  int awaiting;      /* waits to list until the server is known to stream lists or not */
  uint64_t watch_started;
  uv_timer_t timer;
  step after_timer;
  vr_mirror_waiter *waiters;
  struct reflector *next;
} reflector;

/* An event held back in ordered mode. */
typedef struct held_event {
  uint64_t rv;
  unsigned long seq; /* arrival order, for events without a numeric resourceVersion */
  int deleted;
  cJSON *obj;
  struct reflector *r;
} held_event;

struct vr_kube_mirror {
  vr_kube_remote *remote;
  /* lists are streamed: 0 no, 1 yes, 2 to be found out by the first (probe), while the other
   * kinds' lists wait, so that a server that refuses gets one request it refuses, not one a kind */
  int watch_list;
  struct reflector *probe;
  int ordered; /* hold watch events until vr_kube_mirror_flush */
  held_event *held;
  size_t nheld, capheld;
  unsigned long seq;
  void (*progress)(void *ctx);
  void *progress_ctx;
  uv_loop_t *loop;
  vr_store *store;
  uint64_t rng;
  reflector *reflectors;
  vr_mirror_log_fn log;
  void *log_ctx;
  int freeing;
  int open_timers;
  vr_kube_mirror_stats stats;
};

static void mirror_log(vr_kube_mirror *m, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void mirror_log(vr_kube_mirror *m, int level, const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  if (m->log == NULL) return;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  m->log(m->log_ctx, level, buf);
}

static uint64_t next_random(vr_kube_mirror *m) {
  /* xorshift64* */
  m->rng ^= m->rng >> 12;
  m->rng ^= m->rng << 25;
  m->rng ^= m->rng >> 27;
  return m->rng * 2685821657736338717ull;
}

static reflector *find(vr_kube_mirror *m, const char *group, const char *kind) {
  reflector *r;
  for (r = m->reflectors; r != NULL; r = r->next)
    if (strcmp(r->group, group) == 0 && strcmp(r->kind, kind) == 0) return r;
  return NULL;
}

static void notify_waiters(reflector *r) {
  while (r->waiters != NULL) {
    vr_mirror_waiter *w = r->waiters;
    r->waiters = w->next;
    w->cb(w->data);
    free(w);
  }
}

static void settle(reflector *r, vr_mirror_state state) {
  r->state = state;
  notify_waiters(r);
}

static void start_step(reflector *r, step s);

static void on_retry_timer(uv_timer_t *t) {
  reflector *r = t->data;
  if (r->m->freeing) return;
  start_step(r, r->after_timer);
}

/* Retries s after the backoff of the consecutive failures so far. */
static void retry_later(reflector *r, step s) {
  uint64_t delay = BACKOFF_INITIAL_MS;
  int i;
  for (i = 1; i < r->failures && delay < BACKOFF_MAX_MS; i++) delay *= 2;
  if (delay > BACKOFF_MAX_MS) delay = BACKOFF_MAX_MS;
  delay += next_random(r->m) % (delay / 5 + 1); /* up to 20 % later */
  r->after_timer = s;
  r->step = STEP_NONE;
  uv_timer_start(&r->timer, on_retry_timer, delay, 0);
}

/* A failure of the step in progress: before the first sync it fails the kind; after, it is
 * logged (the first time and then at growing intervals) and the step retried later. */
static void step_failed(reflector *r, step retry, const char *message) {
  r->failures++;
  if (r->state == VR_MIRROR_SYNCING) {
    snprintf(r->error, sizeof r->error, "%s", message);
    r->step = STEP_NONE;
    settle(r, VR_MIRROR_FAILED);
    return;
  }
  if ((r->failures & (r->failures - 1)) == 0) /* 1, 2, 4, 8, ... */
    mirror_log(r->m, 2, "%s: %s (attempt %d; the copy of the cluster may lag until it recovers)",
               r->kind, message, r->failures);
  retry_later(r, retry);
}

/* --- applying objects ---------------------------------------------------------------------- */

static void set_type(reflector *r, cJSON *obj) {
  char api_version[200];
  if (!cJSON_IsObject(obj)) return;
  if (r->res.group[0])
    snprintf(api_version, sizeof api_version, "%s/%s", r->res.group, r->res.version);
  else
    snprintf(api_version, sizeof api_version, "%s", r->res.version);
  if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(obj, "apiVersion"))) {
    cJSON_DeleteItemFromObjectCaseSensitive(obj, "apiVersion");
    cJSON_AddStringToObject(obj, "apiVersion", api_version);
  }
  if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(obj, "kind"))) {
    cJSON_DeleteItemFromObjectCaseSensitive(obj, "kind");
    cJSON_AddStringToObject(obj, "kind", r->kind);
  }
}

static const char *meta_string(const cJSON *obj, const char *field) {
  const cJSON *v =
      cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), field);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void put(reflector *r, cJSON *obj) {
  vr_store_error err;
  set_type(r, obj);
  if (vr_store_mirror_put(r->m->store, obj, NULL, &err) < 0)
    mirror_log(r->m, 2, "%s: an object cannot be kept: %s", r->kind, err.message);
}

static void object_key(char *buf, size_t len, const char *ns, const char *name) {
  snprintf(buf, len, "%s/%s", ns ? ns : "", name ? name : "");
}

/* The list is complete (r->pending): its objects replace the kind's (those that went away are
 * removed), and the kind is synced at resourceVersion rv. */
static void install_list(reflector *r, const char *rv) {
  vr_strmap seen;
  cJSON *item;
  const cJSON **items;
  size_t n, i;
  char key[600];
  int seen_whole = 1; /* every listed key is in seen (else nothing is removed) */
  vr_strmap_init(&seen);
  while ((item = cJSON_DetachItemFromArray(r->pending, 0)) != NULL) {
    const char *ns = meta_string(item, "namespace"), *name = meta_string(item, "name");
    object_key(key, sizeof key, r->res.namespaced ? (ns ? ns : "default") : "", name);
    if (vr_strmap_put(&seen, key, (void *)1) != 0) seen_whole = 0;
    put(r, item);
  }
  cJSON_Delete(r->pending);
  r->pending = NULL;
  n = seen_whole ? vr_store_list(r->m->store, r->group, r->kind, NULL, NULL, &items) : (size_t)-1;
  if (n != (size_t)-1) {
    char(*gone)[600] = n ? calloc(n, sizeof *gone) : NULL;
    size_t ngone = 0;
    for (i = 0; i < n; i++) {
      const char *ns = meta_string(items[i], "namespace"), *name = meta_string(items[i], "name");
      object_key(key, sizeof key, r->res.namespaced ? (ns ? ns : "default") : "", name);
      if (vr_strmap_get(&seen, key) == NULL && gone != NULL)
        snprintf(gone[ngone++], 600, "%s", key);
    }
    free((void *)items);
    for (i = 0; i < ngone; i++) {
      char *slash = strchr(gone[i], '/');
      *slash = '\0';
      vr_store_mirror_remove(r->m->store, r->group, r->kind, gone[i][0] ? gone[i] : NULL, slash + 1,
                             NULL);
    }
    free(gone);
  }
  vr_strmap_clear(&seen);
  snprintf(r->rv, sizeof r->rv, "%s", rv ? rv : "");
  r->failures = 0;
  r->list_restarts = 0;
  r->plain_list = 0;
  r->m->stats.lists++;
  if (r->state == VR_MIRROR_SYNCING) {
    mirror_log(r->m, 0, "%s: %zu objects", r->kind,
               (size_t)(n == (size_t)-1 ? 0 : n)); /* (before removals: close enough) */
    settle(r, VR_MIRROR_SYNCED);
  }
}

/* A LIST is complete: installed, then watched from its resourceVersion. */
static void finish_list(reflector *r, const char *rv) {
  install_list(r, rv);
  start_step(r, STEP_WATCH);
  if (r->m->progress) r->m->progress(r->m->progress_ctx); /* its resourceVersion moved */
}

/* --- answers ------------------------------------------------------------------------------- */

static void describe(reflector *r, const char *what, char *buf, size_t len) {
  snprintf(buf, len, "%s %s", what, r->kind);
}

static void on_discovery_done(vr_kube_request *req, const vr_kube_response *resp, void *data) {
  reflector *r = data;
  cJSON *doc;
  char what[300];
  (void)req;
  r->call = NULL;
  if (r->m->freeing) return;
  if (resp->status == 404 && r->state == VR_MIRROR_SYNCED) {
    /* a kind that was there went away (a CRD being reinstalled): keep what the copy holds and
     * look again later, rather than giving up on it */
    step_failed(r, STEP_GROUP, "the server does not serve the kind now (404)");
    return;
  }
  if (resp->status == 404) { /* the group, or the version, is not served */
    r->step = STEP_NONE;
    r->failures = 0;
    settle(r, VR_MIRROR_ABSENT);
    return;
  }
  describe(r, "discovery of", what, sizeof what);
  if (resp->status != 200) {
    vr_store_error err;
    vr_kube_response_error(resp, what, &err);
    step_failed(r, r->step, err.message);
    return;
  }
  doc = cJSON_ParseWithLength(resp->body, resp->body_len);
  if (doc == NULL) {
    char msg[700];
    snprintf(msg, sizeof msg, "%s: the answer is not JSON (%s)", what,
             resp->content_type ? resp->content_type : "no content type");
    step_failed(r, r->step, msg);
    return;
  }
  if (r->step == STEP_GROUP) {
    const cJSON *pv = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(doc, "preferredVersion"), "version");
    if (!cJSON_IsString(pv)) {
      cJSON_Delete(doc);
      step_failed(r, STEP_GROUP, "discovery: the API group has no preferred version");
      return;
    }
    snprintf(r->res.version, sizeof r->res.version, "%s", pv->valuestring);
    cJSON_Delete(doc);
    start_step(r, STEP_RESOURCES);
    return;
  }
  {
    const cJSON *res;
    cJSON_ArrayForEach(res, cJSON_GetObjectItemCaseSensitive(doc, "resources")) {
      const cJSON *name = cJSON_GetObjectItemCaseSensitive(res, "name");
      const cJSON *kind = cJSON_GetObjectItemCaseSensitive(res, "kind");
      if (cJSON_IsString(name) && cJSON_IsString(kind) && strchr(name->valuestring, '/') == NULL &&
          strcmp(kind->valuestring, r->kind) == 0) {
        snprintf(r->res.plural, sizeof r->res.plural, "%s", name->valuestring);
        r->res.namespaced = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "namespaced"));
        if (!r->res.namespaced && vr_store_set_cluster_scoped(r->m->store, r->group, r->kind) != 0)
          mirror_log(r->m, 2, "%s: out of memory", r->kind);
        r->resolved = 1;
        r->discovered = 1;
        break;
      }
    }
  }
  cJSON_Delete(doc);
  if (!r->resolved && r->state == VR_MIRROR_SYNCED) { /* went away: look again later */
    step_failed(r, STEP_GROUP, "the server does not serve the kind now");
    return;
  }
  if (!r->resolved) {
    r->step = STEP_NONE;
    settle(r, VR_MIRROR_ABSENT);
    return;
  }
  r->failures = 0;
  start_step(r, STEP_LIST);
}

static void on_list_done(vr_kube_request *req, const vr_kube_response *resp, void *data) {
  reflector *r = data;
  cJSON *doc, *items, *meta;
  const cJSON *cont, *rv;
  char what[300];
  (void)req;
  r->call = NULL;
  if (r->m->freeing) return;
  describe(r, "list of", what, sizeof what);
  if (resp->status == 410 && r->continue_token != NULL && r->list_restarts < 3) {
    /* the continue token expired (the list took longer than etcd keeps it): start over */
    r->list_restarts++;
    free(r->continue_token);
    r->continue_token = NULL;
    cJSON_Delete(r->pending);
    r->pending = NULL;
    start_step(r, STEP_LIST);
    return;
  }
  if (resp->status == 404 && !r->discovered) { /* not at the table's version: ask the server */
    r->resolved = 0;
    start_step(r, STEP_GROUP);
    return;
  }
  if (resp->status == 404 && r->state == VR_MIRROR_SYNCED) { /* went away: look again later */
    step_failed(r, STEP_GROUP, "the server does not serve the kind now (404)");
    return;
  }
  if (resp->status == 404) {
    r->step = STEP_NONE;
    settle(r, VR_MIRROR_ABSENT);
    return;
  }
  if (resp->status != 200) {
    vr_store_error err;
    vr_kube_response_error(resp, what, &err);
    step_failed(r, STEP_LIST, err.message);
    return;
  }
  doc = cJSON_ParseWithLength(resp->body, resp->body_len);
  items = cJSON_GetObjectItemCaseSensitive(doc, "items");
  if (doc == NULL || !(cJSON_IsArray(items) || cJSON_IsNull(items))) {
    char msg[700];
    snprintf(msg, sizeof msg,
             "%s: the answer is not a Kubernetes list (%s): is the server a Kubernetes API "
             "server?",
             what, resp->content_type ? resp->content_type : "no content type");
    cJSON_Delete(doc);
    step_failed(r, STEP_LIST, msg);
    return;
  }
  if (r->pending == NULL) r->pending = cJSON_CreateArray();
  if (r->pending == NULL) {
    cJSON_Delete(doc);
    step_failed(r, STEP_LIST, "out of memory");
    return;
  }
  if (cJSON_IsArray(items)) {
    cJSON *item;
    while ((item = cJSON_DetachItemFromArray(items, 0)) != NULL)
      cJSON_AddItemToArray(r->pending, item);
  }
  meta = cJSON_GetObjectItemCaseSensitive(doc, "metadata");
  cont = cJSON_GetObjectItemCaseSensitive(meta, "continue");
  rv = cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion");
  free(r->continue_token);
  r->continue_token = NULL;
  if (cJSON_IsString(cont) && cont->valuestring[0] != '\0') {
    r->continue_token = strdup(cont->valuestring);
    cJSON_Delete(doc);
    if (r->continue_token == NULL) {
      step_failed(r, STEP_LIST, "out of memory");
      return;
    }
    start_step(r, STEP_LIST);
    return;
  }
  {
    char version[64];
    snprintf(version, sizeof version, "%s", cJSON_IsString(rv) ? rv->valuestring : "");
    cJSON_Delete(doc);
    finish_list(r, version);
  }
}

static uint64_t numeric_rv(const char *rv) {
  char *end;
  unsigned long long v;
  if (rv == NULL || rv[0] == '\0') return 0;
  v = strtoull(rv, &end, 10);
  return *end == '\0' ? (uint64_t)v : 0;
}

static void apply_event(reflector *r, int deleted, cJSON *obj) {
  if (deleted) {
    const char *name = meta_string(obj, "name");
    vr_store_mirror_remove(r->m->store, r->group, r->kind,
                           r->res.namespaced ? meta_string(obj, "namespace") : NULL,
                           name ? name : "", meta_string(obj, "resourceVersion"));
    cJSON_Delete(obj);
  } else {
    put(r, obj);
  }
}

/* Ordered mode: keeps an event for vr_kube_mirror_flush (applied at once when out of memory). */
static void hold_event(reflector *r, int deleted, cJSON *obj) {
  vr_kube_mirror *m = r->m;
  if (obj == NULL) return;
  if (m->nheld == m->capheld) {
    size_t ncap = m->capheld ? m->capheld * 2 : 64;
    held_event *n = realloc(m->held, ncap * sizeof *n);
    if (n == NULL) {
      apply_event(r, deleted, obj);
      return;
    }
    m->held = n;
    m->capheld = ncap;
  }
  m->held[m->nheld].rv = numeric_rv(meta_string(obj, "resourceVersion"));
  m->held[m->nheld].seq = m->seq++;
  m->held[m->nheld].deleted = deleted;
  m->held[m->nheld].obj = obj;
  m->held[m->nheld].r = r;
  m->nheld++;
}

/* The key of obj in r->pending's terms. */
static void pending_key(const reflector *r, const cJSON *obj, char *buf, size_t len) {
  const char *ns = meta_string(obj, "namespace");
  object_key(buf, len, r->res.namespaced ? (ns ? ns : "default") : "", meta_string(obj, "name"));
}

/* The probe has its answer: the kinds that waited list now (from their timers: not from inside
 * the client's callback). */
static void release_awaiting(vr_kube_mirror *m) {
  reflector *r;
  m->probe = NULL;
  for (r = m->reflectors; r != NULL; r = r->next) {
    if (!r->awaiting) continue;
    r->awaiting = 0;
    r->after_timer = STEP_LIST;
    uv_timer_start(&r->timer, on_retry_timer, 0, 0);
  }
}

/* An event of a streaming list before its end: the objects gather in r->pending, and the
 * bookmark that ends them installs the list (the stream goes on as the kind's watch). Returns
 * non-zero to end the stream: a bookmark without the end annotation says that the server took
 * the request for a plain watch. Takes obj (detached from its event). */
static int stream_event(reflector *r, const char *type, cJSON *obj) {
  char key[600], other[600];
  if (r->m->probe == r && strcmp(type, "BOOKMARK") != 0) { /* (a plain watch may bookmark) */
    r->m->watch_list = 1;
    release_awaiting(r->m);
  }
  if (strcmp(type, "BOOKMARK") == 0) {
    const cJSON *end = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "metadata"),
                                         "annotations"),
        INITIAL_EVENTS_END);
    int marked = cJSON_IsString(end) && strcmp(end->valuestring, "true") == 0;
    char rv[64];
    snprintf(rv, sizeof rv, "%s",
             meta_string(obj, "resourceVersion") ? meta_string(obj, "resourceVersion") : "");
    cJSON_Delete(obj);
    if (!marked) {
      r->not_streamed = 1;
      return 1;
    }
    if (r->m->probe == r) {
      r->m->watch_list = 1;
      release_awaiting(r->m);
    }
    r->streaming = 0;
    r->step = STEP_WATCH;
    install_list(r, rv);
    if (r->m->progress) r->m->progress(r->m->progress_ctx);
    return 0;
  }
  if (r->pending == NULL) r->pending = cJSON_CreateArray();
  if (r->pending == NULL) {
    cJSON_Delete(obj);
    return 1; /* out of memory: the stream ends, and a LIST follows */
  }
  if (strcmp(type, "ADDED") != 0) { /* (a server sends ADDED only; a change replaces) */
    cJSON *item = r->pending->child, *next;
    pending_key(r, obj, key, sizeof key);
    for (; item != NULL; item = next) {
      next = item->next;
      pending_key(r, item, other, sizeof other);
      if (strcmp(key, other) == 0) cJSON_Delete(cJSON_DetachItemViaPointer(r->pending, item));
    }
    if (type[0] == 'D') {
      cJSON_Delete(obj);
      return 0;
    }
  }
  cJSON_AddItemToArray(r->pending, obj);
  return 0;
}

/* One line of a watch stream: an event applied to the store. Returns non-zero to end the
 * stream (an ERROR event, or garbage). */
static int on_watch_line(vr_kube_request *req, const char *line, size_t len, void *data) {
  reflector *r = data;
  cJSON *ev, *obj;
  const cJSON *type;
  const char *t, *rv;
  (void)req;
  if (r->m->freeing) return 1;
  if (len == 0) return 0;
  ev = cJSON_ParseWithLength(line, len);
  type = cJSON_GetObjectItemCaseSensitive(ev, "type");
  obj = cJSON_GetObjectItemCaseSensitive(ev, "object");
  if (!cJSON_IsString(type) || !cJSON_IsObject(obj)) {
    cJSON_Delete(ev);
    mirror_log(r->m, 2,
               "%s: the watch stream sent something that is not a watch event; "
               "listing again",
               r->kind);
    r->relist_wanted = 1;
    return 1;
  }
  t = type->valuestring;
  r->m->stats.events++;
  if (r->streaming && strcmp(t, "ERROR") != 0) {
    int end = stream_event(r, t, cJSON_DetachItemViaPointer(ev, obj));
    cJSON_Delete(ev);
    return end;
  }
  if (strcmp(t, "ERROR") == 0) {
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(obj, "code");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(obj, "message");
    if (cJSON_IsNumber(code) && code->valueint == 410) {
      r->relist_wanted = 1;
      mirror_log(r->m, 0, "%s: resourceVersion %s expired; listing again", r->kind, r->rv);
    } else {
      mirror_log(r->m, 2, "%s: the watch ended with an error: %s", r->kind,
                 cJSON_IsString(msg) ? msg->valuestring : "(no message)");
    }
    cJSON_Delete(ev);
    return 1;
  }
  rv = meta_string(obj, "resourceVersion");
  if (rv != NULL) snprintf(r->rv, sizeof r->rv, "%s", rv);
  if (strcmp(t, "DELETED") == 0 || strcmp(t, "ADDED") == 0 || strcmp(t, "MODIFIED") == 0) {
    int deleted = t[0] == 'D';
    cJSON *object = cJSON_DetachItemViaPointer(ev, obj);
    if (r->m->ordered)
      hold_event(r, deleted, object);
    else
      apply_event(r, deleted, object);
  }
  cJSON_Delete(ev);
  if (r->m->progress) r->m->progress(r->m->progress_ctx);
  return 0;
}

/* A streaming list ended before its objects were all in. A server that refuses streaming lists
 * (422 or 400: its WatchList feature gate is off) or took it for a plain watch gets LISTs from
 * now on, for every kind; anything else is the LIST's to find out and report, this time. */
static void stream_failed(reflector *r, const vr_kube_response *resp) {
  int refused = resp->status == 422 || resp->status == 400 || r->not_streamed;
  r->streaming = 0;
  r->relist_wanted = 0;
  cJSON_Delete(r->pending);
  r->pending = NULL;
  if (refused && r->m->watch_list) {
    r->m->watch_list = 0;
    mirror_log(r->m, 0, "%s: the server %s streaming lists; listing instead", r->kind,
               r->not_streamed ? "does not know" : "refuses");
  }
  r->not_streamed = 0;
  r->plain_list = 1;
  if (r->m->probe == r) release_awaiting(r->m); /* (refused: they LIST; else one probes again) */
  start_step(r, STEP_LIST);
}

static void on_watch_done(vr_kube_request *req, const vr_kube_response *resp, void *data) {
  reflector *r = data;
  char what[300];
  (void)req;
  r->call = NULL;
  if (r->m->freeing) return;
  if (r->streaming) {
    stream_failed(r, resp);
    return;
  }
  if (r->relist_wanted || resp->status == 410) {
    r->relist_wanted = 0;
    r->m->stats.relists++;
    start_step(r, STEP_LIST);
    return;
  }
  if (resp->status == 200 && resp->error == NULL) {
    uint64_t lasted = uv_now(r->m->loop) - r->watch_started;
    if (lasted >= QUICK_WATCH_MS) {
      r->quick_watches = 0;
      r->failures = 0;
      start_step(r, STEP_WATCH);
      return;
    }
    if (++r->quick_watches < 3) {
      start_step(r, STEP_WATCH);
      return;
    }
    step_failed(r, STEP_WATCH, "the server keeps ending the watch at once");
    return;
  }
  describe(r, "watch of", what, sizeof what);
  {
    vr_store_error err;
    vr_kube_response_error(resp, what, &err);
    /* a kind that went away (404) or a changed permission (403): list again, later */
    step_failed(r, resp->status == 404 || resp->status == 403 ? STEP_LIST : STEP_WATCH,
                err.message);
  }
}

/* --- steps --------------------------------------------------------------------------------- */

static void start_call(reflector *r, const char *path, vr_kube_done_cb done, vr_kube_line_cb line,
                       double timeout) {
  vr_kube_request_spec spec;
  memset(&spec, 0, sizeof spec);
  spec.method = "GET";
  spec.path = path;
  spec.on_done = done;
  spec.on_line = line;
  spec.data = r;
  spec.timeout = timeout;
  r->call = vr_kube_remote_start(r->m->remote, &spec);
  if (r->call == NULL) step_failed(r, r->step, "out of memory");
}

static void start_step(reflector *r, step s) {
  char path[2048], query[1200];
  r->step = s;
  switch (s) {
  case STEP_NONE:
    return;
  case STEP_GROUP:
    if (r->group[0] == '\0') { /* the core group has one version */
      snprintf(r->res.version, sizeof r->res.version, "v1");
      start_step(r, STEP_RESOURCES);
      return;
    }
    snprintf(path, sizeof path, "/apis/%s", r->group);
    start_call(r, path, on_discovery_done, NULL, 0);
    return;
  case STEP_RESOURCES:
    if (r->group[0] == '\0')
      snprintf(path, sizeof path, "/api/%s", r->res.version);
    else
      snprintf(path, sizeof path, "/apis/%s/%s", r->group, r->res.version);
    start_call(r, path, on_discovery_done, NULL, 0);
    return;
  case STEP_LIST:
    query[0] = '\0';
    if (r->m->watch_list && !r->plain_list && r->continue_token == NULL) {
      /* a streaming list: the objects as ADDED events, then a bookmark, on the watch to come */
      char timeout[32];
      if (r->m->watch_list == 2 && r->m->probe != NULL && r->m->probe != r) {
        r->awaiting = 1; /* the probe's answer decides how this kind lists */
        return;
      }
      if (r->m->watch_list == 2) r->m->probe = r;
      snprintf(timeout, sizeof timeout, "%d", WATCH_TIMEOUT_S + (int)(next_random(r->m) % 61));
      vr_kube_query_add(query, sizeof query, "watch", "1");
      vr_kube_query_add(query, sizeof query, "sendInitialEvents", "true");
      vr_kube_query_add(query, sizeof query, "resourceVersionMatch", "NotOlderThan");
      vr_kube_query_add(query, sizeof query, "allowWatchBookmarks", "true");
      vr_kube_query_add(query, sizeof query, "timeoutSeconds", timeout);
      vr_kube_path(path, sizeof path, &r->res, NULL, NULL, NULL, query);
      cJSON_Delete(r->pending);
      r->pending = NULL;
      r->streaming = 1;
      r->not_streamed = 0;
      r->watch_started = uv_now(r->m->loop);
      r->m->stats.watches++;
      start_call(r, path, on_watch_done, on_watch_line, 0);
      return;
    }
    vr_kube_query_add(query, sizeof query, "limit", LIST_PAGE);
    if (r->continue_token != NULL &&
        vr_kube_query_add(query, sizeof query, "continue", r->continue_token) != 0) {
      step_failed(r, STEP_LIST, "the server's continue token is too long");
      return;
    }
    if (vr_kube_path(path, sizeof path, &r->res, NULL, NULL, NULL, query) != 0) {
      step_failed(r, STEP_LIST, "the request path is too long");
      return;
    }
    start_call(r, path, on_list_done, NULL, 120);
    return;
  case STEP_WATCH: {
    char timeout[32];
    snprintf(timeout, sizeof timeout, "%d", WATCH_TIMEOUT_S + (int)(next_random(r->m) % 61));
    query[0] = '\0';
    vr_kube_query_add(query, sizeof query, "watch", "1");
    vr_kube_query_add(query, sizeof query, "allowWatchBookmarks", "true");
    vr_kube_query_add(query, sizeof query, "timeoutSeconds", timeout);
    if (r->rv[0] != '\0' && vr_kube_query_add(query, sizeof query, "resourceVersion", r->rv) != 0) {
      step_failed(r, STEP_LIST, "the resourceVersion is too long");
      return;
    }
    vr_kube_path(path, sizeof path, &r->res, NULL, NULL, NULL, query);
    r->watch_started = uv_now(r->m->loop);
    r->m->stats.watches++;
    start_call(r, path, on_watch_done, on_watch_line, 0);
    return;
  }
  }
}

/* --- the mirror ---------------------------------------------------------------------------- */

vr_kube_mirror *vr_kube_mirror_new(vr_kube_remote *remote, uv_loop_t *loop, vr_store *store,
                                   uint64_t seed) {
  vr_kube_mirror *m = calloc(1, sizeof *m);
  if (m == NULL) return NULL;
  m->remote = remote;
  m->loop = loop;
  m->store = store;
  m->rng = seed * 0x9E3779B97F4A7C15ull + 1;
  return m;
}

void vr_kube_mirror_set_watch_list(vr_kube_mirror *m, int enabled) {
  m->watch_list = enabled ? 2 : 0;
}

void vr_kube_mirror_set_log(vr_kube_mirror *m, vr_mirror_log_fn fn, void *ctx) {
  m->log = fn;
  m->log_ctx = ctx;
}

static void on_reflector_closed(uv_handle_t *h) {
  reflector *r = h->data;
  vr_kube_mirror *m = r->m;
  free(r);
  if (--m->open_timers == 0) free(m);
}

void vr_kube_mirror_free(vr_kube_mirror *m) {
  reflector *r, *next;
  if (m == NULL) return;
  m->freeing = 1;
  {
    size_t i;
    for (i = 0; i < m->nheld; i++) cJSON_Delete(m->held[i].obj);
    free(m->held);
    m->held = NULL;
    m->nheld = 0;
  }
  for (r = m->reflectors; r != NULL; r = r->next) {
    if (r->call) {
      vr_kube_call *c = r->call;
      r->call = NULL;
      vr_kube_call_cancel(c);
    }
    notify_waiters(r);
  }
  if (m->reflectors == NULL) {
    free(m);
    return;
  }
  for (r = m->reflectors; r != NULL; r = next) {
    next = r->next;
    cJSON_Delete(r->pending);
    free(r->continue_token);
    uv_close((uv_handle_t *)&r->timer, on_reflector_closed);
  }
}

vr_mirror_state vr_kube_mirror_state(vr_kube_mirror *m, const char *group, const char *kind,
                                     const char **error) {
  reflector *r = find(m, group, kind);
  if (error) *error = r && r->state == VR_MIRROR_FAILED ? r->error : NULL;
  return r ? r->state : VR_MIRROR_IDLE;
}

vr_mirror_waiter *vr_kube_mirror_ensure(vr_kube_mirror *m, const char *group, const char *kind,
                                        vr_mirror_ready_fn cb, void *data, int *oom) {
  reflector *r = find(m, group, kind);
  vr_mirror_waiter *w;
  *oom = 0;
  if (m->freeing) return NULL;
  if (r != NULL && r->state == VR_MIRROR_FAILED) { /* asked again: another try */
    r->state = VR_MIRROR_SYNCING;
    r->failures = 0;
    r->error[0] = '\0';
    start_step(r, r->resolved ? STEP_LIST : STEP_GROUP);
  } else if (r != NULL && r->state != VR_MIRROR_SYNCING) {
    return NULL;
  }
  w = calloc(1, sizeof *w);
  if (w == NULL) {
    *oom = 1;
    return NULL;
  }
  if (r == NULL) {
    const vr_kind_info *info;
    char name[300];
    r = calloc(1, sizeof *r);
    if (r == NULL || uv_timer_init(m->loop, &r->timer) != 0) {
      free(r);
      free(w);
      *oom = 1;
      return NULL;
    }
    m->open_timers++;
    r->timer.data = r;
    r->m = m;
    snprintf(r->group, sizeof r->group, "%s", group);
    snprintf(r->kind, sizeof r->kind, "%s", kind);
    snprintf(r->res.group, sizeof r->res.group, "%s", group);
    snprintf(r->res.kind, sizeof r->res.kind, "%s", kind);
    snprintf(name, sizeof name, "%s%s%s", group, group[0] ? "/" : "", kind);
    info = vr_kind_lookup(name);
    if (info != NULL && strcmp(info->group, group) == 0) {
      snprintf(r->res.version, sizeof r->res.version, "%s", info->version);
      snprintf(r->res.plural, sizeof r->res.plural, "%s", info->plural);
      r->res.namespaced = info->namespaced;
      r->resolved = 1;
    }
    r->state = VR_MIRROR_SYNCING;
    r->next = m->reflectors;
    m->reflectors = r;
    start_step(r, r->resolved ? STEP_LIST : STEP_GROUP);
    if (r->state != VR_MIRROR_SYNCING) { /* failed at once (out of memory) */
      free(w);
      return NULL;
    }
  }
  w->r = r;
  w->cb = cb;
  w->data = data;
  w->next = r->waiters;
  r->waiters = w;
  return w;
}

void vr_kube_mirror_waiter_cancel(vr_mirror_waiter *w) {
  vr_mirror_waiter **p;
  if (w == NULL) return;
  for (p = &w->r->waiters; *p != NULL; p = &(*p)->next) {
    if (*p == w) {
      *p = w->next;
      free(w);
      return;
    }
  }
}

int vr_kube_mirror_resource(vr_kube_mirror *m, const char *group, const char *kind,
                            vr_kube_resource *out) {
  reflector *r = find(m, group, kind);
  if (r == NULL || r->state != VR_MIRROR_SYNCED) return 0;
  *out = r->res;
  return 1;
}

void vr_kube_mirror_apply(vr_kube_mirror *m, const cJSON *obj, int deleted) {
  const cJSON *api_version = cJSON_GetObjectItemCaseSensitive(obj, "apiVersion");
  const cJSON *kind = cJSON_GetObjectItemCaseSensitive(obj, "kind");
  char group[128];
  reflector *r;
  cJSON *copy;
  vr_store_error err;
  if (!cJSON_IsString(api_version) || !cJSON_IsString(kind)) return;
  vr_api_group(api_version->valuestring, group, sizeof group);
  r = find(m, group, kind->valuestring);
  if (r == NULL || r->state != VR_MIRROR_SYNCED) return;
  if (deleted && meta_string(obj, "deletionTimestamp") == NULL) {
    vr_store_mirror_remove(m->store, group, kind->valuestring,
                           r->res.namespaced ? meta_string(obj, "namespace") : NULL,
                           meta_string(obj, "name") ? meta_string(obj, "name") : "", NULL);
    return;
  }
  copy = cJSON_Duplicate(obj, 1);
  if (copy != NULL && vr_store_mirror_put(m->store, copy, NULL, &err) < 0)
    mirror_log(m, 2, "%s: an object cannot be kept: %s", r->kind, err.message);
}

void vr_kube_mirror_forget(vr_kube_mirror *m, const char *group, const char *kind, const char *ns,
                           const char *name) {
  reflector *r = find(m, group, kind);
  if (r == NULL || r->state != VR_MIRROR_SYNCED) return;
  vr_store_mirror_remove(m->store, group, kind, r->res.namespaced ? ns : NULL, name, NULL);
}

void vr_kube_mirror_set_ordered(vr_kube_mirror *m, int ordered, void (*progress)(void *ctx),
                                void *ctx) {
  m->ordered = ordered;
  m->progress = progress;
  m->progress_ctx = ctx;
}

int vr_kube_mirror_caught_up(const vr_kube_mirror *m, uint64_t rv) {
  const reflector *r;
  for (r = m->reflectors; r != NULL; r = r->next) {
    if (r->state != VR_MIRROR_SYNCED) continue;
    if (r->step != STEP_WATCH || numeric_rv(r->rv) < rv) return 0;
  }
  return 1;
}

static int compare_held(const void *a, const void *b) {
  const held_event *x = a, *y = b;
  if (x->rv != y->rv) return x->rv < y->rv ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void vr_kube_mirror_flush(vr_kube_mirror *m) {
  size_t i, n = m->nheld;
  held_event *held = m->held;
  m->held = NULL;
  m->nheld = m->capheld = 0;
  if (n > 1) qsort(held, n, sizeof *held, compare_held);
  for (i = 0; i < n; i++) apply_event(held[i].r, held[i].deleted, held[i].obj);
  free(held);
}

void vr_kube_mirror_stats_get(const vr_kube_mirror *m, vr_kube_mirror_stats *out) {
  *out = m->stats;
}
