/* kube_api.c: the Kubernetes API over the simulator (see kube_api.h). A request is routed by its
 * path to discovery, to a resource of kinds.h or to the vmrun-only group sim.vmrun.io/v1 (the
 * clock, node reboots), then answered from the store; writes go through the same store and
 * simulator calls as the in-process bindings. Watches stream store events through the client's
 * selectors. Every error is a Status object with the API server's reason and message form. It
 * may not block, it trusts nothing a client sends, and it moves simulated time only through
 * the config's sync and after_write or a client-driven clock's POST. */
#include "kube_api.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "kinds.h"
#include "kube_table.h"
#include "patch.h"
#include "selector.h"
#include "strmap.h"

#define SEGMENTS 10

/* The vmrun-only API group: a test control channel, not a kind of kinds.h. */
#define SIM_GROUP   "sim.vmrun.io"
#define SIM_VERSION "v1"
/* The largest advanceToMs: JSON numbers are exact integers up to 2^53 - 1. */
#define MAX_ADVANCE_MS 9007199254740991.0

/* A request path, understood. */
typedef enum route_type {
  R_ROOT,
  R_VERSION,
  R_API,             /* /api */
  R_APIS,            /* /apis */
  R_GROUP,           /* /apis/<group> */
  R_DISCOVERY,       /* /api/v1 or /apis/<group>/<version> */
  R_RESOURCE,        /* a collection or an object */
  R_SIM_CLOCK,       /* /apis/sim.vmrun.io/v1/clock */
  R_SIM_REBOOT,      /* /apis/sim.vmrun.io/v1/nodes/<name>/reboot */
  R_EVACUATE_CANCEL, /* /apis/subresources.kubevirt.io/v1/namespaces/<ns>/virtualmachineinstances/
                        <name>/evacuate/cancel (KubeVirt v1.8+) */
  R_NOT_FOUND,
} route_type;

typedef struct route {
  route_type type;
  const char *group, *version; /* of R_GROUP, R_DISCOVERY, R_RESOURCE */
  const vr_kind_info *info;    /* R_RESOURCE */
  const char *ns;              /* NULL: every namespace, or a cluster-scoped kind */
  const char *name;            /* NULL: the collection */
  const char *sub;             /* subresource ("eviction", "status") or NULL */
  int legacy_watch;            /* /api/v1/watch/... */
} route;

typedef struct kwatch kwatch;

/* A request answered later (a latency fault), with the fault decided for it. */
typedef struct delayed {
  uv_timer_t timer;
  struct vr_kube_api *api;
  vr_http_conn *conn;
  vr_http_request *req;
  vr_kube_fault fault; /* what else was decided (a watch cut) */
  int gone;
  struct delayed *prev, *next;
} delayed;

/* A JSON list answer kept for the next identical request while the kind does not change: its
 * items as text, and what its metadata said beyond the resourceVersion (which is always the
 * store's current one, so that a client's next watch starts from now). */
typedef struct list_cache_entry {
  char *target; /* the request-target: path and query */
  uint64_t kind_rev;
  char *items; /* "[...]", from cJSON_Print (cJSON_free) */
  size_t items_len;
  char next[1100];
  size_t remaining;
  uint64_t used; /* for LRU */
} list_cache_entry;

#define LIST_CACHE_ENTRIES 8
#define LIST_CACHE_BYTES   ((size_t)64 << 20)

struct vr_kube_api {
  vr_kube_api_config config;
  list_cache_entry list_cache[LIST_CACHE_ENTRIES];
  size_t list_cache_bytes;
  uint64_t list_cache_clock;
  char address[96]; /* for /api's serverAddressByClientCIDRs */
  uint64_t requests;
  kwatch *watches;
  size_t nwatches;
  delayed *delayed; /* answers waiting for their latency fault */
};

/* One request in flight: what the log line needs. */
typedef struct req_info {
  vr_kube_api *api;
  char method[16];
  char *path, *query;
  uint64_t started_ns;
} req_info;

struct kwatch {
  vr_kube_api *api;
  vr_http_conn *conn;
  vr_store_watch *store_watch;
  const vr_kind_info *info;
  vr_label_selector *labels;
  vr_field_selector *fields;
  int table;
  int bookmarks;
  uint64_t last_rv;
  vr_strmap matching; /* "ns/name" of the objects that match now, as the client was told */
  int replaying;      /* events after a resumed watch's resourceVersion are being replayed */
  uint64_t from_rv;   /* that resourceVersion */
  vr_strmap replayed; /* the keys the replay has had an event for */
  uv_timer_t end_timer, bookmark_timer;
  int timers_open;
  int ended;
  req_info info_log;
  kwatch *prev, *next;
};

/* --- small helpers --------------------------------------------------------------------------- */

static uint64_t now_ms(vr_kube_api *api) {
  return vr_clock_now(vr_sim_clock(api->config.sim));
}

/* "v1", "kubevirt.io/v1": a kind's apiVersion. */
static const char *group_version(const vr_kind_info *k, char *buf, size_t len) {
  snprintf(buf, len, "%s%s%s", k->group, k->group[0] ? "/" : "", k->version);
  return buf;
}

/* "pods", "virtualmachineinstances.kubevirt.io": how the API server names a resource in
 * messages. */
static const char *qualified_resource(const vr_kind_info *k, char *buf, size_t len) {
  snprintf(buf, len, "%s%s%s", k->plural, k->group[0] ? "." : "", k->group);
  return buf;
}

static void log_request(vr_kube_api *api, const req_info *ri, int status) {
  FILE *f = api->config.log;
  cJSON *line;
  char *text;
  char when[40];
  if (f == NULL) return;
  line = cJSON_CreateObject();
  if (line == NULL) return;
  vr_clock_format(now_ms(api), when, sizeof when);
  cJSON_AddStringToObject(line, "sim_time", when);
  cJSON_AddStringToObject(line, "method", ri->method);
  cJSON_AddStringToObject(line, "path", ri->path ? ri->path : "");
  cJSON_AddStringToObject(line, "query", ri->query ? ri->query : "");
  cJSON_AddNumberToObject(line, "status", status);
  cJSON_AddNumberToObject(line, "duration_ms", (double)(uv_hrtime() - ri->started_ns) / 1e6);
  text = cJSON_PrintUnformatted(line);
  cJSON_Delete(line);
  if (text == NULL) return;
  fprintf(f, "%s\n", text);
  fflush(f);
  cJSON_free(text);
}

static void req_info_init(req_info *ri, vr_kube_api *api, const vr_http_request *req) {
  memset(ri, 0, sizeof *ri);
  ri->api = api;
  snprintf(ri->method, sizeof ri->method, "%s", req->method);
  ri->path = strdup(req->path);
  ri->query = strdup(req->query);
  ri->started_ns = uv_hrtime();
}

static void req_info_free(req_info *ri) {
  free(ri->path);
  free(ri->query);
  ri->path = ri->query = NULL;
}

/* Answers with a JSON document (deleted here). */
static void respond_json(vr_http_conn *c, const req_info *ri, int status, cJSON *doc,
                         const char *extra_headers) {
  char *text = doc ? cJSON_PrintUnformatted(doc) : NULL;
  cJSON_Delete(doc);
  if (text == NULL) {
    static const char oom[] = "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
                              "\"status\":\"Failure\",\"message\":\"out of memory\","
                              "\"reason\":\"InternalError\",\"code\":500}";
    log_request(ri->api, ri, 500);
    vr_http_respond(c, 500, "application/json", NULL, oom, sizeof oom - 1);
    return;
  }
  log_request(ri->api, ri, status);
  vr_http_respond(c, status, "application/json", extra_headers, text, strlen(text));
  cJSON_free(text);
}

static const char *default_reason(int code) {
  switch (code) {
  case 400:
    return "BadRequest";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 404:
    return "NotFound";
  case 405:
    return "MethodNotAllowed";
  case 406:
    return "NotAcceptable";
  case 409:
    return "Conflict";
  case 410:
    return "Expired";
  case 413:
    return "RequestEntityTooLarge";
  case 415:
    return "UnsupportedMediaType";
  case 422:
    return "Invalid";
  case 429:
    return "TooManyRequests";
  case 504:
    return "Timeout";
  case 503:
    return "ServiceUnavailable";
  default:
    return "InternalError";
  }
}

/* A Status object (reason NULL: the usual one for the code). details_kind/name may be NULL. */
static cJSON *status_object(int code, const char *reason, const char *message,
                            const char *details_kind, const char *details_group,
                            const char *details_name) {
  cJSON *st = cJSON_CreateObject();
  if (st == NULL) return NULL;
  cJSON_AddStringToObject(st, "kind", "Status");
  cJSON_AddStringToObject(st, "apiVersion", "v1");
  cJSON_AddObjectToObject(st, "metadata");
  cJSON_AddStringToObject(st, "status", code < 400 ? "Success" : "Failure");
  if (message) cJSON_AddStringToObject(st, "message", message);
  if (code >= 400) cJSON_AddStringToObject(st, "reason", reason ? reason : default_reason(code));
  if (details_kind || details_name || (code == 422 && message)) {
    cJSON *d = cJSON_AddObjectToObject(st, "details");
    if (d && details_name) cJSON_AddStringToObject(d, "name", details_name);
    if (d && details_group && details_group[0]) cJSON_AddStringToObject(d, "group", details_group);
    if (d && details_kind) cJSON_AddStringToObject(d, "kind", details_kind);
    if (d && code == 422 && message) { /* kubectl prints an Invalid error from its causes */
      cJSON *causes = cJSON_AddArrayToObject(d, "causes"), *cause = cJSON_CreateObject();
      if (cause) {
        cJSON_AddStringToObject(cause, "reason", "FieldValueInvalid");
        cJSON_AddStringToObject(cause, "message", message);
        if (causes) {
          cJSON_AddItemToArray(causes, cause);
        } else {
          cJSON_Delete(cause);
        }
      }
    }
  }
  cJSON_AddNumberToObject(st, "code", code);
  return st;
}

static void respond_status(vr_http_conn *c, const req_info *ri, int code, const char *reason,
                           const char *message, const route *rt) {
  const char *kind = rt && rt->info ? rt->info->plural : NULL;
  const char *group = rt && rt->info ? rt->info->group : NULL;
  const char *name = rt ? rt->name : NULL;
  char retry[64] = "";
  if (code == 429) snprintf(retry, sizeof retry, "Retry-After: 1\r\n");
  respond_json(c, ri, code, status_object(code, reason, message, kind, group, name),
               retry[0] ? retry : NULL);
}

/* A store or simulator error, in the API server's words. */
static void respond_store_error(vr_http_conn *c, const req_info *ri, const vr_store_error *err,
                                const route *rt) {
  char msg[768], res[300];
  const char *reason = err->reason[0] ? err->reason : NULL;
  const char *name = rt->name ? rt->name : "";
  qualified_resource(rt->info, res, sizeof res);
  if (err->status == 404 && (strcmp(rt->info->kind, "Pod") != 0 || err->message[0] == '\0')) {
    snprintf(msg, sizeof msg, "%s \"%s\" not found", res, name);
  } else if (err->status == 409 && reason && strcmp(reason, "AlreadyExists") == 0) {
    snprintf(msg, sizeof msg, "%s \"%s\" already exists", res, name);
  } else if (err->status == 409) {
    snprintf(msg, sizeof msg,
             "Operation cannot be fulfilled on %s \"%s\": the object has been modified; please "
             "apply your changes to the latest version and try again",
             res, name);
    reason = "Conflict";
  } else if (err->status == 429 && reason && strcmp(reason, "DisruptionBudget") == 0) {
    cJSON *st = status_object(429, "TooManyRequests", err->message, rt->info->plural,
                              rt->info->group, rt->name);
    cJSON *details = cJSON_GetObjectItemCaseSensitive(st, "details");
    cJSON *causes = details ? cJSON_AddArrayToObject(details, "causes") : NULL;
    cJSON *cause = cJSON_CreateObject();
    if (cause) {
      cJSON_AddStringToObject(cause, "reason", "DisruptionBudget");
      cJSON_AddStringToObject(cause, "message", err->message);
      if (causes) {
        cJSON_AddItemToArray(causes, cause);
      } else {
        cJSON_Delete(cause);
      }
    }
    respond_json(c, ri, 429, st, "Retry-After: 1\r\n");
    return;
  } else if (err->status == 429) {
    snprintf(msg, sizeof msg,
             "admission webhook \"virt-launcher-eviction-interceptor.kubevirt.io\" denied the "
             "request: %s",
             err->message);
    reason = "TooManyRequests";
  } else {
    snprintf(msg, sizeof msg, "%s", err->message);
  }
  respond_status(c, ri, err->status ? err->status : 500, reason, msg, rt);
}

static void respond_not_found(vr_http_conn *c, const req_info *ri, const route *rt) {
  vr_store_error err;
  err.status = 404;
  snprintf(err.reason, sizeof err.reason, "NotFound");
  err.message[0] = '\0';
  respond_store_error(c, ri, &err, rt);
}

/* 1 when the Accept header asks for a server-side Table first among what it lists. */
static int wants_table(const vr_http_request *req) {
  const char *accept = vr_http_header_get(req, "accept");
  return accept != NULL && strstr(accept, "as=Table") != NULL;
}

static int query_flag(const char *query, const char *name) {
  char v[16];
  if (vr_http_query_get(query, name, v, sizeof v) != 1) return 0;
  return strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0;
}

/* A non-negative integer query parameter: 1 found, 0 absent, -1 malformed. */
static int query_uint(const char *query, const char *name, uint64_t *out) {
  char v[32], *end;
  int rc = vr_http_query_get(query, name, v, sizeof v);
  unsigned long long n;
  if (rc != 1) return rc;
  if (v[0] == '\0' || !isdigit((unsigned char)v[0])) return -1;
  n = strtoull(v, &end, 10);
  if (*end != '\0') return -1;
  *out = n;
  return 1;
}

/* "5s", "1m30s", "2h" (Go durations as kubectl sends timeout=) or plain seconds -> ms. */
static int parse_go_duration(const char *s, uint64_t *ms) {
  double total = 0;
  if (*s == '\0') return -1;
  while (*s) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0) return -1;
    s = end;
    if (*s == '\0') {
      total += v * 1000;
    } else if (strncmp(s, "ms", 2) == 0) {
      total += v;
      s += 2;
    } else if (*s == 's') {
      total += v * 1000;
      s++;
    } else if (*s == 'm') {
      total += v * 60000;
      s++;
    } else if (*s == 'h') {
      total += v * 3600000;
      s++;
    } else {
      return -1;
    }
  }
  if (!(total < 1e15)) return -1; /* also NaN and infinities: no undefined conversion */
  *ms = (uint64_t)total;
  return 0;
}

/* --- routing --------------------------------------------------------------------------------- */

static const vr_kind_info *find_resource(const char *group, const char *version,
                                         const char *plural) {
  int i;
  for (i = 0; vr_known_kinds[i].kind; i++) {
    const vr_kind_info *k = &vr_known_kinds[i];
    if (strcmp(k->group, group) == 0 && strcmp(k->version, version) == 0 &&
        strcmp(k->plural, plural) == 0)
      return k;
  }
  return NULL;
}

static int group_known(const char *group, const char *version) {
  int i;
  for (i = 0; vr_known_kinds[i].kind; i++) {
    if (strcmp(vr_known_kinds[i].group, group) == 0 &&
        (version == NULL || strcmp(vr_known_kinds[i].version, version) == 0))
      return 1;
  }
  return 0;
}

/* Splits path (modified in place) at '/'; returns the number of segments, -1 for too many or an
 * empty one inside. */
static int split_path(char *path, char **seg) {
  int n = 0;
  char *p = path;
  if (*p == '/') p++;
  if (*p == '\0') return 0;
  while (p != NULL) {
    char *slash = strchr(p, '/');
    if (slash) *slash = '\0';
    if (n == SEGMENTS) return -1;
    if (*p == '\0') return slash == NULL ? n : -1; /* a trailing slash is fine */
    seg[n++] = p;
    p = slash ? slash + 1 : NULL;
  }
  return n;
}

/* Resolves the part after /api/v1 or /apis/<group>/<version>: seg[0..n). */
static void route_resource(route *rt, char **seg, int n) {
  const vr_kind_info *k;
  int i = 0;
  rt->type = R_NOT_FOUND;
  if (n > 0 && strcmp(seg[0], "watch") == 0) {
    rt->legacy_watch = 1;
    i = 1;
  }
  if (n - i >= 2 && strcmp(seg[i], "namespaces") == 0 && strcmp(rt->group, "") == 0) {
    /* /namespaces/<ns>/<plural>[/<name>[/<sub>]], or the Namespace <ns> itself */
    if (n - i >= 3 && (k = find_resource(rt->group, rt->version, seg[i + 2])) != NULL &&
        k->namespaced) {
      if (n - i > 5) return;
      rt->info = k;
      rt->ns = seg[i + 1];
      rt->name = n - i >= 4 ? seg[i + 3] : NULL;
      rt->sub = n - i >= 5 ? seg[i + 4] : NULL;
      rt->type = R_RESOURCE;
      return;
    }
    if (n - i > 3) return;
    rt->info = find_resource("", "v1", "namespaces");
    rt->name = seg[i + 1];
    rt->sub = n - i == 3 ? seg[i + 2] : NULL;
    rt->type = rt->info ? R_RESOURCE : R_NOT_FOUND;
    return;
  }
  if (n - i >= 2 && strcmp(seg[i], "namespaces") == 0) {
    /* /apis/<g>/<v>/namespaces/<ns>/<plural>[/<name>[/<sub>]] */
    if (n - i < 3 || n - i > 5) return;
    k = find_resource(rt->group, rt->version, seg[i + 2]);
    if (k == NULL || !k->namespaced) return;
    rt->info = k;
    rt->ns = seg[i + 1];
    rt->name = n - i >= 4 ? seg[i + 3] : NULL;
    rt->sub = n - i >= 5 ? seg[i + 4] : NULL;
    rt->type = R_RESOURCE;
    return;
  }
  if (n - i < 1 || n - i > 3) return;
  k = find_resource(rt->group, rt->version, seg[i]);
  if (k == NULL) return;
  if (k->namespaced && n - i > 1) return; /* a namespaced object needs its namespace */
  rt->info = k;
  rt->name = n - i >= 2 ? seg[i + 1] : NULL;
  rt->sub = n - i >= 3 ? seg[i + 2] : NULL;
  rt->type = R_RESOURCE;
}

/* /apis/sim.vmrun.io[/v1[/clock | /nodes/<name>/reboot]]: seg[0..n), seg[1] the group. */
static void route_sim(route *rt, char **seg, int n) {
  rt->group = SIM_GROUP;
  if (n == 2) {
    rt->type = R_GROUP;
    return;
  }
  if (strcmp(seg[2], SIM_VERSION) != 0) return;
  rt->version = SIM_VERSION;
  if (n == 3) {
    rt->type = R_DISCOVERY;
  } else if (n == 4 && strcmp(seg[3], "clock") == 0) {
    rt->type = R_SIM_CLOCK;
  } else if (n == 6 && strcmp(seg[3], "nodes") == 0 && strcmp(seg[5], "reboot") == 0) {
    rt->type = R_SIM_REBOOT;
    rt->name = seg[4];
    rt->sub = seg[5];
  }
}

static int is_sim_group(const route *rt) {
  return rt->group != NULL && strcmp(rt->group, SIM_GROUP) == 0;
}

static void route_path(route *rt, char *path) {
  char *seg[SEGMENTS];
  int n = split_path(path, seg);
  memset(rt, 0, sizeof *rt);
  rt->type = R_NOT_FOUND;
  if (n < 0) return;
  if (n == 0) {
    rt->type = R_ROOT;
  } else if (strcmp(seg[0], "version") == 0 && n == 1) {
    rt->type = R_VERSION;
  } else if (strcmp(seg[0], "api") == 0) {
    if (n == 1) {
      rt->type = R_API;
    } else if (strcmp(seg[1], "v1") == 0) {
      rt->group = "";
      rt->version = "v1";
      if (n == 2) {
        rt->type = R_DISCOVERY;
      } else {
        route_resource(rt, seg + 2, n - 2);
      }
    }
  } else if (strcmp(seg[0], "apis") == 0) {
    if (n == 1) {
      rt->type = R_APIS;
    } else if (strcmp(seg[1], SIM_GROUP) == 0) {
      route_sim(rt, seg, n);
    } else if (n == 9 && strcmp(seg[1], "subresources.kubevirt.io") == 0 &&
               strcmp(seg[2], "v1") == 0 && strcmp(seg[3], "namespaces") == 0 &&
               strcmp(seg[5], "virtualmachineinstances") == 0 && strcmp(seg[7], "evacuate") == 0 &&
               strcmp(seg[8], "cancel") == 0) {
      rt->type = R_EVACUATE_CANCEL;
      rt->group = "subresources.kubevirt.io";
      rt->version = "v1";
      rt->ns = seg[4];
      rt->name = seg[6];
      rt->sub = "evacuate/cancel";
    } else if (group_known(seg[1], NULL) && seg[1][0] != '\0') {
      rt->group = seg[1];
      if (n == 2) {
        rt->type = R_GROUP;
      } else if (group_known(seg[1], seg[2])) {
        rt->version = seg[2];
        if (n == 3) {
          rt->type = R_DISCOVERY;
        } else {
          route_resource(rt, seg + 3, n - 3);
        }
      }
    }
  }
}

/* --- discovery ------------------------------------------------------------------------------- */

static cJSON *string_array(const char *const *items) {
  cJSON *a = cJSON_CreateArray();
  while (a && *items) cJSON_AddItemToArray(a, cJSON_CreateString(*items++));
  return a;
}

static const char *const RESOURCE_VERBS[] = {"create", "delete", "get",   "list",
                                             "patch",  "update", "watch", NULL};

static cJSON *resource_entry(const vr_kind_info *k) {
  cJSON *r = cJSON_CreateObject();
  char singular[128];
  size_t i;
  if (r == NULL) return NULL;
  for (i = 0; k->kind[i] && i + 1 < sizeof singular; i++)
    singular[i] = (char)tolower((unsigned char)k->kind[i]);
  singular[i] = '\0';
  cJSON_AddStringToObject(r, "name", k->plural);
  cJSON_AddStringToObject(r, "singularName", singular);
  cJSON_AddBoolToObject(r, "namespaced", k->namespaced);
  cJSON_AddStringToObject(r, "kind", k->kind);
  cJSON_AddItemToObject(r, "verbs", string_array(RESOURCE_VERBS));
  if (k->short_names[0]) {
    cJSON *names = cJSON_AddArrayToObject(r, "shortNames");
    const char *p = k->short_names;
    while (names && *p) {
      size_t len = strcspn(p, ",");
      char buf[64];
      snprintf(buf, sizeof buf, "%.*s", (int)len, p);
      cJSON_AddItemToArray(names, cJSON_CreateString(buf));
      p += len;
      if (*p == ',') p++;
    }
  }
  if (strcmp(k->kind, "Pod") == 0 || strcmp(k->kind, "VirtualMachine") == 0 ||
      strcmp(k->kind, "VirtualMachineInstance") == 0) {
    static const char *const all[] = {"all", NULL};
    cJSON_AddItemToObject(r, "categories", string_array(all));
  }
  return r;
}

static cJSON *subresource_entry(const char *name, const char *kind, int namespaced,
                                const char *group, const char *version, const char *const *verbs) {
  cJSON *r = cJSON_CreateObject();
  if (r == NULL) return NULL;
  cJSON_AddStringToObject(r, "name", name);
  cJSON_AddStringToObject(r, "singularName", "");
  cJSON_AddBoolToObject(r, "namespaced", namespaced);
  if (group) cJSON_AddStringToObject(r, "group", group);
  if (version) cJSON_AddStringToObject(r, "version", version);
  cJSON_AddStringToObject(r, "kind", kind);
  cJSON_AddItemToObject(r, "verbs", string_array(verbs));
  return r;
}

static cJSON *discovery_list(const char *group, const char *version) {
  static const char *const create_only[] = {"create", NULL};
  static const char *const status_verbs[] = {"get", "patch", "update", NULL};
  cJSON *doc = cJSON_CreateObject(), *resources;
  char gv[128];
  int i;
  if (doc == NULL) return NULL;
  if (group[0]) {
    snprintf(gv, sizeof gv, "%s/%s", group, version);
  } else {
    snprintf(gv, sizeof gv, "%s", version);
  }
  cJSON_AddStringToObject(doc, "kind", "APIResourceList");
  cJSON_AddStringToObject(doc, "apiVersion", "v1");
  cJSON_AddStringToObject(doc, "groupVersion", gv);
  resources = cJSON_AddArrayToObject(doc, "resources");
  for (i = 0; resources && vr_known_kinds[i].kind; i++) {
    const vr_kind_info *k = &vr_known_kinds[i];
    char sub[160];
    if (strcmp(k->group, group) != 0 || strcmp(k->version, version) != 0) continue;
    cJSON_AddItemToArray(resources, resource_entry(k));
    if (strcmp(k->kind, "Pod") == 0) {
      cJSON_AddItemToArray(resources, subresource_entry("pods/eviction", "Eviction", 1, "policy",
                                                        "v1", create_only));
    }
    if (strcmp(k->kind, "Pod") == 0 || strcmp(k->kind, "Node") == 0 ||
        strcmp(k->kind, "VirtualMachineInstance") == 0 || strcmp(k->kind, "VirtualMachine") == 0 ||
        strcmp(k->kind, "VirtualMachineInstanceMigration") == 0) {
      snprintf(sub, sizeof sub, "%s/status", k->plural);
      cJSON_AddItemToArray(
          resources, subresource_entry(sub, k->kind, k->namespaced, NULL, NULL, status_verbs));
    }
  }
  if (resources && strcmp(group, SIM_GROUP) == 0) { /* no kind of kinds.h is in it */
    static const char *const clock_verbs[] = {"create", "get", NULL};
    cJSON *clock = subresource_entry("clock", "Clock", 0, NULL, NULL, clock_verbs);
    if (clock)
      cJSON_ReplaceItemInObjectCaseSensitive(clock, "singularName", cJSON_CreateString("clock"));
    cJSON_AddItemToArray(resources, clock);
    cJSON_AddItemToArray(resources,
                         subresource_entry("nodes/reboot", "Node", 0, NULL, NULL, create_only));
  }
  return doc;
}

static cJSON *group_entry(const char *group) {
  cJSON *g = cJSON_CreateObject(), *versions, *v, *pref;
  char gv[128];
  int i;
  const char *version = "v1";
  if (g == NULL) return NULL;
  for (i = 0; vr_known_kinds[i].kind; i++) {
    if (strcmp(vr_known_kinds[i].group, group) == 0) {
      version = vr_known_kinds[i].version;
      break;
    }
  }
  snprintf(gv, sizeof gv, "%s/%s", group, version);
  cJSON_AddStringToObject(g, "name", group);
  versions = cJSON_AddArrayToObject(g, "versions");
  v = cJSON_CreateObject();
  if (v) {
    cJSON_AddStringToObject(v, "groupVersion", gv);
    cJSON_AddStringToObject(v, "version", version);
    cJSON_AddItemToArray(versions, v);
  }
  pref = cJSON_AddObjectToObject(g, "preferredVersion");
  if (pref) {
    cJSON_AddStringToObject(pref, "groupVersion", gv);
    cJSON_AddStringToObject(pref, "version", version);
  }
  return g;
}

static cJSON *group_list(void) {
  cJSON *doc = cJSON_CreateObject(), *groups;
  int i, j;
  if (doc == NULL) return NULL;
  cJSON_AddStringToObject(doc, "kind", "APIGroupList");
  cJSON_AddStringToObject(doc, "apiVersion", "v1");
  groups = cJSON_AddArrayToObject(doc, "groups");
  for (i = 0; groups && vr_known_kinds[i].kind; i++) {
    const char *g = vr_known_kinds[i].group;
    int seen = 0;
    if (g[0] == '\0') continue;
    for (j = 0; j < i; j++) {
      if (strcmp(vr_known_kinds[j].group, g) == 0) seen = 1;
    }
    if (!seen) cJSON_AddItemToArray(groups, group_entry(g));
  }
  if (groups) cJSON_AddItemToArray(groups, group_entry(SIM_GROUP));
  return doc;
}

static cJSON *api_versions(const vr_kube_api *api) {
  cJSON *doc = cJSON_CreateObject(), *addrs, *a;
  static const char *const v1[] = {"v1", NULL};
  if (doc == NULL) return NULL;
  cJSON_AddStringToObject(doc, "kind", "APIVersions");
  cJSON_AddItemToObject(doc, "versions", string_array(v1));
  addrs = cJSON_AddArrayToObject(doc, "serverAddressByClientCIDRs");
  a = cJSON_CreateObject();
  if (a) {
    cJSON_AddStringToObject(a, "clientCIDR", "0.0.0.0/0");
    cJSON_AddStringToObject(a, "serverAddress", api->address);
    cJSON_AddItemToArray(addrs, a);
  }
  return doc;
}

static cJSON *version_doc(void) {
  cJSON *doc = cJSON_CreateObject();
  if (doc == NULL) return NULL;
  cJSON_AddStringToObject(doc, "major", "1");
  cJSON_AddStringToObject(doc, "minor", "34");
  /* the "-vmrun" suffix tells vmrun's REST backend to look for the sim.vmrun.io group */
  cJSON_AddStringToObject(doc, "gitVersion", "v1.34.0-vmrun");
  cJSON_AddStringToObject(doc, "gitCommit", "");
  cJSON_AddStringToObject(doc, "gitTreeState", "clean");
  cJSON_AddStringToObject(doc, "buildDate", "2026-01-01T00:00:00Z");
  cJSON_AddStringToObject(doc, "goVersion", "");
  cJSON_AddStringToObject(doc, "compiler", "vmrun");
  cJSON_AddStringToObject(doc, "platform", "linux/amd64");
  return doc;
}

static cJSON *root_paths(void) {
  cJSON *doc = cJSON_CreateObject(), *paths;
  char buf[160];
  int i;
  if (doc == NULL) return NULL;
  paths = cJSON_AddArrayToObject(doc, "paths");
  cJSON_AddItemToArray(paths, cJSON_CreateString("/api"));
  cJSON_AddItemToArray(paths, cJSON_CreateString("/api/v1"));
  cJSON_AddItemToArray(paths, cJSON_CreateString("/apis"));
  for (i = 0; vr_known_kinds[i].kind; i++) {
    const vr_kind_info *k = &vr_known_kinds[i];
    int j, seen = 0;
    if (k->group[0] == '\0') continue;
    for (j = 0; j < i; j++) {
      if (strcmp(vr_known_kinds[j].group, k->group) == 0) seen = 1;
    }
    if (seen) continue;
    snprintf(buf, sizeof buf, "/apis/%s", k->group);
    cJSON_AddItemToArray(paths, cJSON_CreateString(buf));
    snprintf(buf, sizeof buf, "/apis/%s/%s", k->group, k->version);
    cJSON_AddItemToArray(paths, cJSON_CreateString(buf));
  }
  cJSON_AddItemToArray(paths, cJSON_CreateString("/apis/" SIM_GROUP));
  cJSON_AddItemToArray(paths, cJSON_CreateString("/apis/" SIM_GROUP "/" SIM_VERSION));
  cJSON_AddItemToArray(paths, cJSON_CreateString("/version"));
  return doc;
}

/* --- reading --------------------------------------------------------------------------------- */

typedef struct selection {
  vr_label_selector *labels;
  vr_field_selector *fields;
} selection;

static void selection_free(selection *s) {
  vr_label_selector_free(s->labels);
  vr_field_selector_free(s->fields);
}

/* Parses labelSelector and fieldSelector; -1 with a message. */
static int selection_parse(selection *s, const char *query, char *err, size_t errlen) {
  char text[4096];
  int rc;
  memset(s, 0, sizeof *s);
  rc = vr_http_query_get(query, "labelSelector", text, sizeof text);
  if (rc < 0) {
    snprintf(err, errlen, "labelSelector: bad escape or too long");
    return -1;
  }
  s->labels = vr_label_selector_parse(rc == 1 ? text : "", err, errlen);
  if (s->labels == NULL) return -1;
  rc = vr_http_query_get(query, "fieldSelector", text, sizeof text);
  if (rc < 0) {
    snprintf(err, errlen, "fieldSelector: bad escape or too long");
    selection_free(s);
    return -1;
  }
  s->fields = vr_field_selector_parse(rc == 1 ? text : "", err, errlen);
  if (s->fields == NULL) {
    selection_free(s);
    return -1;
  }
  return 0;
}

static int selection_matches(const selection *s, const cJSON *obj) {
  const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
  return vr_label_selector_matches(s->labels, cJSON_GetObjectItemCaseSensitive(meta, "labels")) &&
         vr_field_selector_matches(s->fields, obj);
}

/* The node index value a field selector pins, for the kinds the store indexes by node. */
static const char *pinned_node(const selection *s, const vr_kind_info *k) {
  if (strcmp(k->kind, "Pod") == 0) return vr_field_selector_requires(s->fields, "spec.nodeName");
  if (strcmp(k->kind, "VirtualMachineInstance") == 0)
    return vr_field_selector_requires(s->fields, "status.nodeName");
  return NULL;
}

static const char *meta_string(const cJSON *obj, const char *field) {
  const cJSON *v =
      cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), field);
  return cJSON_IsString(v) ? v->valuestring : "";
}

/* Continue tokens: "<namespace>\x01<name>" of the last item sent, hex-encoded (so that it
 * survives any client's URL handling). */
static void encode_continue(const cJSON *last, char *buf, size_t len) {
  static const char hex[] = "0123456789abcdef";
  const char *parts[2];
  size_t j = 0;
  int p;
  parts[0] = meta_string(last, "namespace");
  parts[1] = meta_string(last, "name");
  for (p = 0; p < 2; p++) {
    const unsigned char *s = (const unsigned char *)parts[p];
    if (p == 1 && j + 2 < len) {
      buf[j++] = '0';
      buf[j++] = '1';
    }
    for (; *s && j + 2 < len; s++) {
      buf[j++] = hex[*s >> 4];
      buf[j++] = hex[*s & 15];
    }
  }
  buf[j] = '\0';
}

static int decode_continue(const char *token, char *ns, size_t nslen, char *name, size_t nlen) {
  size_t j = 0, len = strlen(token), i;
  char *out = ns;
  size_t cap = nslen;
  if (len % 2) return -1;
  for (i = 0; i < len; i += 2) {
    int hi = isdigit((unsigned char)token[i]) ? token[i] - '0' : token[i] - 'a' + 10;
    int lo = isdigit((unsigned char)token[i + 1]) ? token[i + 1] - '0' : token[i + 1] - 'a' + 10;
    int byte;
    if (hi < 0 || hi > 15 || lo < 0 || lo > 15) return -1;
    byte = hi * 16 + lo;
    if (byte == 1 && out == ns) {
      ns[j] = '\0';
      out = name;
      cap = nlen;
      j = 0;
      continue;
    }
    if (byte == 0 || j + 1 >= cap) return -1;
    out[j++] = (char)byte;
  }
  if (out != name) return -1;
  name[j] = '\0';
  return 0;
}

/* 1 when obj sorts after (ns, name), the store's order. */
static int after_key(const cJSON *obj, const char *ns, const char *name) {
  int c = strcmp(meta_string(obj, "namespace"), ns);
  if (c != 0) return c > 0;
  return strcmp(meta_string(obj, "name"), name) > 0;
}

static void list_cache_drop(vr_kube_api *api, list_cache_entry *e) {
  if (e->items) api->list_cache_bytes -= e->items_len;
  free(e->target);
  cJSON_free(e->items);
  memset(e, 0, sizeof *e);
}

static list_cache_entry *list_cache_find(vr_kube_api *api, const char *target, uint64_t kind_rev) {
  int i;
  for (i = 0; i < LIST_CACHE_ENTRIES; i++) {
    list_cache_entry *e = &api->list_cache[i];
    if (e->target == NULL || strcmp(e->target, target) != 0) continue;
    if (e->kind_rev != kind_rev) { /* the kind changed since: stale */
      list_cache_drop(api, e);
      return NULL;
    }
    e->used = ++api->list_cache_clock;
    return e;
  }
  return NULL;
}

/* Keeps items (taking it) for target; frees it when it does not fit. */
static void list_cache_put(vr_kube_api *api, const char *target, uint64_t kind_rev, char *items,
                           size_t items_len, const char *next, size_t remaining) {
  list_cache_entry *victim = NULL;
  int i;
  if (items_len > LIST_CACHE_BYTES / 2 || (target = strdup(target)) == NULL) {
    cJSON_free(items);
    return;
  }
  for (;;) { /* evict the least recently used until there is a free entry and room */
    list_cache_entry *lru = NULL;
    victim = NULL;
    for (i = 0; i < LIST_CACHE_ENTRIES; i++) {
      list_cache_entry *e = &api->list_cache[i];
      if (e->target == NULL) {
        if (victim == NULL) victim = e;
      } else if (lru == NULL || e->used < lru->used) {
        lru = e;
      }
    }
    if (victim && api->list_cache_bytes + items_len <= LIST_CACHE_BYTES) break;
    if (lru == NULL) break;
    list_cache_drop(api, lru);
  }
  victim->target = (char *)target;
  victim->kind_rev = kind_rev;
  victim->items = items;
  victim->items_len = items_len;
  snprintf(victim->next, sizeof victim->next, "%s", next);
  victim->remaining = remaining;
  victim->used = ++api->list_cache_clock;
  api->list_cache_bytes += items_len;
}

/* A JSON list answer: the kind's List with the store's resourceVersion, continue and
 * remainingItemCount when more remain, and the items given as JSON text. */
static void respond_list(vr_kube_api *api, vr_http_conn *c, const req_info *ri, const route *rt,
                         const char *items, size_t items_len, const char *next, size_t remaining) {
  char head[1600], gv[128], more[1200] = "";
  size_t head_len;
  char *body;
  if (next[0]) {
    snprintf(more, sizeof more, ",\"continue\":\"%s\",\"remainingItemCount\":%zu", next, remaining);
  }
  head_len = (size_t)snprintf(
      head, sizeof head,
      "{\"kind\":\"%sList\",\"apiVersion\":\"%s\",\"metadata\":{\"resourceVersion\":\"%llu\"%s},"
      "\"items\":",
      rt->info->kind, group_version(rt->info, gv, sizeof gv),
      (unsigned long long)vr_store_revision(vr_sim_store(api->config.sim)), more);
  body = malloc(head_len + items_len + 2);
  if (body == NULL) {
    respond_status(c, ri, 500, NULL, "out of memory", rt);
    return;
  }
  memcpy(body, head, head_len);
  memcpy(body + head_len, items, items_len);
  body[head_len + items_len] = '}';
  log_request(api, ri, 200);
  vr_http_respond(c, 200, "application/json", NULL, body, head_len + items_len + 1);
  free(body);
}

static void handle_list(vr_kube_api *api, vr_http_conn *c, vr_http_request *req, const req_info *ri,
                        const route *rt) {
  vr_store *store = vr_sim_store(api->config.sim);
  selection sel;
  char err[512], token[1024], cont_ns[256] = "", cont_name[256] = "", next[1100];
  const cJSON **items = NULL;
  const cJSON **picked = NULL;
  size_t n, i, count = 0, remaining = 0;
  uint64_t limit = 0, kind_rev;
  int has_limit, has_cont, table = wants_table(req);
  list_cache_entry *hit;
  if (selection_parse(&sel, req->query, err, sizeof err) != 0) {
    respond_status(c, ri, 400, "BadRequest", err, rt);
    return;
  }
  has_limit = query_uint(req->query, "limit", &limit);
  has_cont = vr_http_query_get(req->query, "continue", token, sizeof token);
  if (has_limit < 0 || has_cont < 0 ||
      (has_cont == 1 && token[0] != '\0' &&
       decode_continue(token, cont_ns, sizeof cont_ns, cont_name, sizeof cont_name) != 0)) {
    selection_free(&sel);
    respond_status(c, ri, 400, "BadRequest",
                   has_limit < 0 ? "limit: expected a non-negative integer"
                                 : "continue: the token is not one this server gave",
                   rt);
    return;
  }
  kind_rev = vr_store_kind_revision(store, rt->info->group, rt->info->kind);
  if (!table && (hit = list_cache_find(api, req->target, kind_rev)) != NULL) {
    selection_free(&sel);
    respond_list(api, c, ri, rt, hit->items, hit->items_len, hit->next, hit->remaining);
    return;
  }
  n = vr_store_list(store, rt->info->group, rt->info->kind, rt->ns, pinned_node(&sel, rt->info),
                    &items);
  if (n == (size_t)-1 || (picked = malloc((n + 1) * sizeof *picked)) == NULL) {
    free((void *)items);
    selection_free(&sel);
    respond_status(c, ri, 500, NULL, "out of memory", rt);
    return;
  }
  next[0] = '\0';
  for (i = 0; i < n; i++) {
    if (cont_name[0] && !after_key(items[i], cont_ns, cont_name)) continue;
    if (!selection_matches(&sel, items[i])) continue;
    if (limit > 0 && count == limit) {
      remaining++;
      continue;
    }
    picked[count++] = items[i];
  }
  if (remaining > 0) encode_continue(picked[count - 1], next, sizeof next);
  selection_free(&sel);
  if (table) {
    char rvbuf[32];
    snprintf(rvbuf, sizeof rvbuf, "%llu", (unsigned long long)vr_store_revision(store));
    respond_json(c, ri, 200,
                 vr_kube_table(rt->info->group, rt->info->kind, picked, count, now_ms(api), rvbuf,
                               next[0] ? next : NULL),
                 NULL);
  } else {
    /* references, not copies: the stored objects stay valid until the next write, and the
     * text is printed before anything can write */
    cJSON *arr = cJSON_CreateArray();
    char *text = NULL;
    for (i = 0; arr && i < count; i++) {
      if (!cJSON_AddItemReferenceToArray(arr, (cJSON *)picked[i])) break;
    }
    if (arr && i == count) text = cJSON_PrintUnformatted(arr);
    cJSON_Delete(arr);
    if (text == NULL) {
      respond_status(c, ri, 500, NULL, "out of memory", rt);
    } else {
      size_t len = strlen(text);
      respond_list(api, c, ri, rt, text, len, next, remaining);
      list_cache_put(api, req->target, kind_rev, text, len, next, remaining);
    }
  }
  free((void *)items);
  free((void *)picked);
}

static void handle_get(vr_kube_api *api, vr_http_conn *c, vr_http_request *req, const req_info *ri,
                       const route *rt) {
  vr_store *store = vr_sim_store(api->config.sim);
  const cJSON *obj = vr_store_get(store, rt->info->group, rt->info->kind, rt->ns, rt->name);
  char msg[600], res[300];
  if (obj == NULL) {
    snprintf(msg, sizeof msg, "%s \"%s\" not found", qualified_resource(rt->info, res, sizeof res),
             rt->name);
    respond_status(c, ri, 404, "NotFound", msg, rt);
    return;
  }
  if (wants_table(req)) {
    char rvbuf[32];
    snprintf(rvbuf, sizeof rvbuf, "%s", meta_string(obj, "resourceVersion"));
    respond_json(c, ri, 200,
                 vr_kube_table(rt->info->group, rt->info->kind, &obj, 1, now_ms(api), rvbuf, NULL),
                 NULL);
    return;
  }
  respond_json(c, ri, 200, cJSON_Duplicate(obj, 1), NULL);
}

/* --- watches --------------------------------------------------------------------------------- */

static void watch_end(kwatch *w);

static void on_watch_timer_closed(uv_handle_t *handle) {
  kwatch *w = handle->data;
  if (--w->timers_open > 0) return;
  vr_strmap_clear(&w->matching);
  vr_strmap_clear(&w->replayed);
  free(w);
}

/* Stops everything and frees w once its timers are closed. The connection is not touched. */
static void watch_free(kwatch *w) {
  vr_kube_api *api = w->api;
  if (w->store_watch) vr_store_watch_stop(vr_sim_store(api->config.sim), w->store_watch);
  w->store_watch = NULL;
  vr_label_selector_free(w->labels);
  vr_field_selector_free(w->fields);
  w->labels = NULL;
  w->fields = NULL;
  req_info_free(&w->info_log);
  if (w->prev) {
    w->prev->next = w->next;
  } else {
    api->watches = w->next;
  }
  if (w->next) w->next->prev = w->prev;
  api->nwatches--;
  uv_timer_stop(&w->end_timer);
  uv_timer_stop(&w->bookmark_timer);
  uv_close((uv_handle_t *)&w->end_timer, on_watch_timer_closed);
  uv_close((uv_handle_t *)&w->bookmark_timer, on_watch_timer_closed);
}

/* The connection went away: the watch ends without writing. */
static void on_watch_conn_closed(void *data) {
  kwatch *w = data;
  if (w->ended) return;
  w->ended = 1;
  w->conn = NULL;
  log_request(w->api, &w->info_log, 200);
  watch_free(w);
}

/* Encodes and sends one event; 0, or -1 when the connection is gone (w is then freed). */
static int watch_send(kwatch *w, const char *type, const cJSON *obj) {
  cJSON *ev = cJSON_CreateObject(), *object = NULL;
  char *text;
  size_t len;
  int rc;
  if (ev == NULL) return 0;
  cJSON_AddStringToObject(ev, "type", type);
  if (w->table && strcmp(type, "BOOKMARK") != 0 && strcmp(type, "ERROR") != 0) {
    char rvbuf[32];
    snprintf(rvbuf, sizeof rvbuf, "%s", meta_string(obj, "resourceVersion"));
    object = vr_kube_table(w->info->group, w->info->kind, &obj, 1, now_ms(w->api), rvbuf, NULL);
    if (object) cJSON_AddItemToObject(ev, "object", object);
  } else if (obj) {
    cJSON_AddItemReferenceToObject(ev, "object", (cJSON *)obj);
  }
  text = cJSON_PrintUnformatted(ev);
  cJSON_Delete(ev);
  if (text == NULL) return 0;
  len = strlen(text);
  text[len] = '\n'; /* replaces the NUL: the line is sent by length */
  rc = vr_http_stream_send(w->conn, text, len + 1);
  cJSON_free(text);
  return rc;
}

static void object_key(const cJSON *obj, char *buf, size_t len) {
  snprintf(buf, len, "%s/%s", meta_string(obj, "namespace"), meta_string(obj, "name"));
}

/* Whether obj is in the watch's selection. */
static int object_selected(const kwatch *w, const cJSON *obj) {
  const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
  return vr_label_selector_matches(w->labels, cJSON_GetObjectItemCaseSensitive(meta, "labels")) &&
         vr_field_selector_matches(w->fields, obj);
}

static void on_store_event(void *ctx, vr_watch_type type, const cJSON *obj, uint64_t rv) {
  kwatch *w = ctx;
  char key[600];
  int matches, matched;
  const char *kind;
  if (w->ended) return;
  if (rv > w->last_rv) w->last_rv = rv;
  object_key(obj, key, sizeof key);
  matches = type != VR_WATCH_DELETED && object_selected(w, obj);
  matched = vr_strmap_get(&w->matching, key) != NULL; /* the client holds it */
  if (w->replaying && vr_strmap_get(&w->replayed, key) == NULL) {
    /* the first replayed event of an object: the client holds it if it was selected at the
     * watch's resourceVersion; the store's log keeps, with each event, the object before it */
    const char *ns = meta_string(obj, "namespace");
    const cJSON *then = NULL;
    if (vr_strmap_put(&w->replayed, key, (void *)1) != 0) return;
    vr_strmap_remove(&w->matching, key);
    matched = vr_store_version_at(vr_sim_store(w->api->config.sim), w->info->group, w->info->kind,
                                  ns[0] ? ns : NULL, meta_string(obj, "name"), w->from_rv, &then) &&
              then != NULL && object_selected(w, then);
    if (matched && vr_strmap_put(&w->matching, key, (void *)1) != 0) return;
  }
  if (type == VR_WATCH_DELETED) {
    if (!matched) return; /* the client never held it */
    vr_strmap_remove(&w->matching, key);
    kind = "DELETED";
  } else if (matches && matched) {
    kind = "MODIFIED";
  } else if (matches) {
    if (vr_strmap_put(&w->matching, key, (void *)1) != 0) return;
    kind = "ADDED";
  } else if (matched) {
    vr_strmap_remove(&w->matching, key); /* it left the selection: for this client, deleted */
    kind = "DELETED";
  } else {
    return;
  }
  watch_send(w, kind, obj);
}

/* A BOOKMARK at the watch's resourceVersion; initial_end marks the end of a streaming list's
 * initial events (the annotation k8s.io/initial-events-end). */
static void send_bookmark_at(kwatch *w, int initial_end) {
  cJSON *obj = cJSON_CreateObject(), *meta;
  char gv[128], rvbuf[32];
  if (obj == NULL) return;
  cJSON_AddStringToObject(obj, "kind", w->info->kind);
  cJSON_AddStringToObject(obj, "apiVersion", group_version(w->info, gv, sizeof gv));
  meta = cJSON_AddObjectToObject(obj, "metadata");
  snprintf(rvbuf, sizeof rvbuf, "%llu", (unsigned long long)w->last_rv);
  cJSON_AddStringToObject(meta, "resourceVersion", rvbuf);
  if (initial_end) {
    cJSON *annotations = cJSON_AddObjectToObject(meta, "annotations");
    cJSON_AddStringToObject(annotations, "k8s.io/initial-events-end", "true");
  }
  watch_send(w, "BOOKMARK", obj);
  cJSON_Delete(obj);
}

static void send_bookmark(kwatch *w) {
  send_bookmark_at(w, 0);
}

/* The streaming list's options (sendInitialEvents, resourceVersionMatch), checked as the API
 * server's validation checks them: 0 and *send_initial (1 true, 0 false, -1 not given), or -1
 * with the 422 answered. */
static int streaming_options(vr_kube_api *api, vr_http_conn *c, const vr_http_request *req,
                             const req_info *ri, const route *rt, int *send_initial) {
  char sie[16], match[32], message[300];
  int has_sie = vr_http_query_get(req->query, "sendInitialEvents", sie, sizeof sie) == 1;
  int has_match = vr_http_query_get(req->query, "resourceVersionMatch", match, sizeof match) == 1 &&
                  match[0] != '\0';
  const char *field = NULL, *problem = NULL;
  *send_initial = has_sie ? (strcasecmp(sie, "true") == 0 || strcmp(sie, "1") == 0) : -1;
  if (has_sie && (!has_match || strcmp(match, "NotOlderThan") != 0)) {
    field = "resourceVersionMatch";
    problem = "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan";
  } else if (has_sie && !query_flag(req->query, "allowWatchBookmarks")) {
    field = "allowWatchBookmarks";
    problem = "sendInitialEvents requires setting allowWatchBookmarks to true";
  } else if (has_sie && api->config.watch_list_disabled) {
    field = "sendInitialEvents";
    problem =
        "sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled";
  } else if (!has_sie && has_match) {
    field = "resourceVersionMatch";
    problem = "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided";
  }
  if (problem == NULL) return 0;
  snprintf(message, sizeof message, "ListOptions.meta.k8s.io \"\" is invalid: %s: Forbidden: %s",
           field, problem);
  respond_status(c, ri, 422, "Invalid", message, rt);
  return -1;
}

/* The watch ends normally (timeoutSeconds, a cut): bookmark, end of stream, next request. */
static void watch_end(kwatch *w) {
  vr_http_conn *conn = w->conn;
  if (w->ended) return;
  if (w->bookmarks) send_bookmark(w);
  if (w->ended) return; /* the bookmark found the connection gone */
  w->ended = 1;
  vr_http_conn_on_close(conn, NULL, NULL);
  log_request(w->api, &w->info_log, 200);
  watch_free(w);
  vr_http_stream_end(conn);
}

static void on_watch_end_timer(uv_timer_t *t) {
  watch_end(t->data);
}

static void on_bookmark_timer(uv_timer_t *t) {
  kwatch *w = t->data;
  if (!w->ended) send_bookmark(w);
}

/* Starts a watch stream; takes ri's strings once the stream exists (for its log line). */
static void handle_watch(vr_kube_api *api, vr_http_conn *c, vr_http_request *req, req_info *ri,
                         const route *rt, uint64_t cut_ms) {
  vr_store *store = vr_sim_store(api->config.sim);
  selection sel;
  char err[512], rvtext[32];
  uint64_t from_rv = 0, timeout_ms = 0, t;
  int has_rv, initial, send_initial;
  vr_store_error serr;
  vr_store_watch *sw;
  kwatch *w;
  if (selection_parse(&sel, req->query, err, sizeof err) != 0) {
    respond_status(c, ri, 400, "BadRequest", err, rt);
    return;
  }
  has_rv = vr_http_query_get(req->query, "resourceVersion", rvtext, sizeof rvtext);
  if (has_rv < 0) {
    selection_free(&sel);
    respond_status(c, ri, 400, "BadRequest", "resourceVersion: too long", rt);
    return;
  }
  if (streaming_options(api, c, req, ri, rt, &send_initial) != 0) {
    selection_free(&sel);
    return;
  }
  /* a streaming list sends the state now: never older than any resourceVersion asked for */
  initial = send_initial == 1 || has_rv == 0 || rvtext[0] == '\0' || strcmp(rvtext, "0") == 0;
  if (!initial) {
    char *end;
    from_rv = strtoull(rvtext, &end, 10);
    if (*end != '\0' || !isdigit((unsigned char)rvtext[0])) {
      selection_free(&sel);
      respond_status(c, ri, 400, "BadRequest", "resourceVersion: expected a number", rt);
      return;
    }
  }
  if (query_uint(req->query, "timeoutSeconds", &t) == 1)
    timeout_ms = (t > 100000000 ? 100000000 : t) * 1000; /* at most about 3 years */
  {
    char tv[32];
    uint64_t ms;
    if (vr_http_query_get(req->query, "timeout", tv, sizeof tv) == 1 &&
        parse_go_duration(tv, &ms) == 0 && ms > 0 && (timeout_ms == 0 || ms < timeout_ms))
      timeout_ms = ms;
  }
  if (cut_ms > 0 && (timeout_ms == 0 || cut_ms < timeout_ms)) timeout_ms = cut_ms;
  w = calloc(1, sizeof *w);
  if (w == NULL) {
    selection_free(&sel);
    respond_status(c, ri, 500, NULL, "out of memory", rt);
    return;
  }
  w->api = api;
  w->conn = c;
  w->info = rt->info;
  w->labels = sel.labels;
  w->fields = sel.fields;
  w->table = wants_table(req);
  w->bookmarks = query_flag(req->query, "allowWatchBookmarks");
  w->last_rv = initial ? vr_store_revision(store) : from_rv;
  w->info_log = *ri; /* takes the strings */
  ri->path = ri->query = NULL;
  vr_strmap_init(&w->matching);
  vr_strmap_init(&w->replayed);
  uv_timer_init(api->config.loop, &w->end_timer);
  uv_timer_init(api->config.loop, &w->bookmark_timer);
  w->end_timer.data = w;
  w->bookmark_timer.data = w;
  w->timers_open = 2;
  w->next = api->watches;
  if (api->watches) api->watches->prev = w;
  api->watches = w;
  api->nwatches++;
  if (vr_http_stream_start(c, 200, "application/json") != 0) {
    w->ended = 1;
    watch_free(w);
    return;
  }
  vr_http_conn_on_close(c, on_watch_conn_closed, w);
  {
    /* what matches now: the client gets it as ADDED events (no resourceVersion), or has it
     * already (an object with no event after from_rv is as it was then; the replay decides for
     * the others) */
    const cJSON **items;
    size_t n = vr_store_list(store, rt->info->group, rt->info->kind, rt->ns,
                             pinned_node(&sel, rt->info), &items),
           i;
    if (n == (size_t)-1) n = 0, items = NULL;
    for (i = 0; i < n && !w->ended; i++) {
      char key[600];
      if (!selection_matches(&sel, items[i])) continue;
      object_key(items[i], key, sizeof key);
      vr_strmap_put(&w->matching, key, (void *)1);
      /* (sendInitialEvents=false: from now, without the state) */
      if (initial && send_initial != 0 && watch_send(w, "ADDED", items[i]) != 0) break;
    }
    free((void *)items);
    if (w->ended) return; /* the connection went while the state was sent: w is being freed */
    if (send_initial == 1) {
      send_bookmark_at(w, 1);
      if (w->ended) return;
    }
  }
  w->replaying = !initial;
  w->from_rv = from_rv;
  sw = vr_store_watch_start(store, rt->info->group, rt->info->kind, rt->ns, from_rv, on_store_event,
                            w, &serr);
  if (w->ended) { /* the replay found the connection gone: w is being freed */
    if (sw) vr_store_watch_stop(store, sw);
    return;
  }
  w->replaying = 0;
  vr_strmap_clear(&w->replayed);
  w->store_watch = sw;
  if (w->store_watch == NULL) {
    cJSON *st = status_object(serr.status ? serr.status : 500, serr.reason[0] ? serr.reason : NULL,
                              serr.message, NULL, NULL, NULL);
    if (st) {
      watch_send(w, "ERROR", st);
      cJSON_Delete(st);
    }
    if (!w->ended) {
      w->bookmarks = 0;
      watch_end(w);
    }
    return;
  }
  if (timeout_ms > 0) uv_timer_start(&w->end_timer, on_watch_end_timer, timeout_ms, 0);
  if (w->bookmarks && api->config.client_clock) {
    /* a client that drives the clock learns at once that this stream holds everything up to
     * now (a watch that resumed after a cut may have missed the bookmarks of the changes) */
    uint64_t rev = vr_store_revision(store);
    if (rev > w->last_rv) w->last_rv = rev;
    send_bookmark(w);
    if (w->ended) return;
  }
  if (w->bookmarks) {
    uint64_t every = api->config.bookmark_interval_ms ? api->config.bookmark_interval_ms : 60000;
    uv_timer_start(&w->bookmark_timer, on_bookmark_timer, every, every);
  }
}

/* --- writing --------------------------------------------------------------------------------- */

static const char *dry_run(const vr_http_request *req) {
  static char v[16];
  if (vr_http_query_get(req->query, "dryRun", v, sizeof v) == 1 && v[0]) return v;
  return NULL;
}

/* The request body as JSON, or NULL with a 400 answered. */
static cJSON *parse_body(vr_http_conn *c, const vr_http_request *req, const req_info *ri,
                         const route *rt) {
  cJSON *body = cJSON_ParseWithLength(req->body, req->body_len);
  if (body == NULL) {
    respond_status(c, ri, 400, "BadRequest",
                   req->body_len == 0 ? "the request has no body" : "the body is not valid JSON",
                   rt);
  }
  return body;
}

static void set_member(cJSON *obj, const char *name, cJSON *value) {
  if (value == NULL) return;
  if (cJSON_GetObjectItemCaseSensitive(obj, name)) {
    cJSON_ReplaceItemInObjectCaseSensitive(obj, name, value);
  } else {
    cJSON_AddItemToObject(obj, name, value);
  }
}

/* Checks (and fills in) kind, apiVersion, namespace and name of a body against the URL;
 * 0, or -1 with the 400 answered (body not freed). */
static int check_identity(vr_http_conn *c, const req_info *ri, const route *rt, cJSON *body,
                          int needs_name) {
  char gv[128], msg[600];
  const cJSON *kind = cJSON_GetObjectItemCaseSensitive(body, "kind");
  const cJSON *apiv = cJSON_GetObjectItemCaseSensitive(body, "apiVersion");
  cJSON *meta = cJSON_GetObjectItemCaseSensitive(body, "metadata");
  const cJSON *ns, *name;
  group_version(rt->info, gv, sizeof gv);
  if (!cJSON_IsObject(body)) {
    respond_status(c, ri, 400, "BadRequest", "the body is not a JSON object", rt);
    return -1;
  }
  if (kind == NULL) {
    cJSON_AddStringToObject(body, "kind", rt->info->kind);
  } else if (!cJSON_IsString(kind) || strcmp(kind->valuestring, rt->info->kind) != 0) {
    snprintf(msg, sizeof msg, "the kind in the body does not match %s", rt->info->kind);
    respond_status(c, ri, 400, "BadRequest", msg, rt);
    return -1;
  }
  if (apiv == NULL) {
    cJSON_AddStringToObject(body, "apiVersion", gv);
  } else if (!cJSON_IsString(apiv) || strcmp(apiv->valuestring, gv) != 0) {
    snprintf(msg, sizeof msg,
             "the API version in the data (%s) does not match the expected API version (%s)",
             cJSON_IsString(apiv) ? apiv->valuestring : "?", gv);
    respond_status(c, ri, 400, "BadRequest", msg, rt);
    return -1;
  }
  if (meta == NULL) meta = cJSON_AddObjectToObject(body, "metadata");
  if (!cJSON_IsObject(meta)) {
    respond_status(c, ri, 400, "BadRequest", "metadata must be an object", rt);
    return -1;
  }
  ns = cJSON_GetObjectItemCaseSensitive(meta, "namespace");
  if (rt->info->namespaced && rt->ns) {
    if (ns == NULL || (cJSON_IsString(ns) && ns->valuestring[0] == '\0')) {
      set_member(meta, "namespace", cJSON_CreateString(rt->ns));
    } else if (!cJSON_IsString(ns) || strcmp(ns->valuestring, rt->ns) != 0) {
      respond_status(c, ri, 400, "BadRequest",
                     "the namespace of the provided object does not match the namespace sent "
                     "on the request",
                     rt);
      return -1;
    }
  }
  name = cJSON_GetObjectItemCaseSensitive(meta, "name");
  if (needs_name && rt->name &&
      (!cJSON_IsString(name) || strcmp(name->valuestring, rt->name) != 0)) {
    respond_status(c, ri, 400, "BadRequest",
                   "the name of the object does not match the name on the URL", rt);
    return -1;
  }
  return 0;
}

static void after_write(vr_kube_api *api) {
  if (api->config.after_write) api->config.after_write(api->config.sync_ctx);
}

/* A write is done: the controllers' immediate work runs, then the stored object is the answer
 * (copied first: the controllers may write it again). */
static void respond_written(vr_kube_api *api, vr_http_conn *c, const req_info *ri, int code,
                            const cJSON *stored) {
  cJSON *copy = cJSON_Duplicate(stored, 1);
  after_write(api);
  respond_json(c, ri, code, copy, NULL);
}

/* The body of a create or update, checked against the URL (check_identity); NULL when it was
 * refused (answered). */
static cJSON *object_body(vr_http_conn *c, const vr_http_request *req, const req_info *ri,
                          const route *rt, int needs_name) {
  cJSON *body = parse_body(c, req, ri, rt);
  if (body != NULL && check_identity(c, ri, rt, body, needs_name) != 0) {
    cJSON_Delete(body);
    body = NULL;
  }
  return body;
}

static void handle_create(vr_kube_api *api, vr_http_conn *c, vr_http_request *req,
                          const req_info *ri, const route *rt) {
  vr_store_error err;
  const cJSON *stored = NULL;
  cJSON *body;
  route named = *rt;
  if (dry_run(req)) {
    respond_status(c, ri, 400, "BadRequest",
                   "dryRun is not supported for create by vmrun serve (it is for patch, delete "
                   "and eviction)",
                   rt);
    return;
  }
  body = object_body(c, req, ri, rt, 0);
  if (body == NULL) return;
  named.name = meta_string(body, "name")[0] ? strdup(meta_string(body, "name")) : NULL;
  if (vr_store_create(vr_sim_store(api->config.sim), body, &stored, &err) != 0) {
    respond_store_error(c, ri, &err, &named);
  } else {
    respond_written(api, c, ri, 201, stored);
  }
  free((void *)named.name);
}

/* The whole new object for a write to the status subresource: the stored object with only its
 * status taken from updated. */
static cJSON *status_only(const cJSON *current, const cJSON *updated) {
  cJSON *doc = cJSON_Duplicate(current, 1);
  const cJSON *st = cJSON_GetObjectItemCaseSensitive(updated, "status");
  if (doc == NULL) return NULL;
  if (st) {
    set_member(doc, "status", cJSON_Duplicate(st, 1));
  } else {
    cJSON_DeleteItemFromObjectCaseSensitive(doc, "status");
  }
  return doc;
}

static void handle_replace(vr_kube_api *api, vr_http_conn *c, vr_http_request *req,
                           const req_info *ri, const route *rt) {
  vr_store *store = vr_sim_store(api->config.sim);
  vr_store_error err;
  const cJSON *stored = NULL, *current;
  cJSON *body, *doc;
  const char *rv;
  if (dry_run(req)) {
    respond_status(c, ri, 400, "BadRequest", "dryRun is not supported for update by vmrun serve",
                   rt);
    return;
  }
  body = object_body(c, req, ri, rt, 1);
  if (body == NULL) return;
  current = vr_store_get(store, rt->info->group, rt->info->kind, rt->ns, rt->name);
  if (current == NULL) {
    cJSON_Delete(body);
    respond_not_found(c, ri, rt);
    return;
  }
  rv = meta_string(body, "resourceVersion");
  if (rt->sub) {
    doc = status_only(current, body);
    if (doc && rv[0]) {
      set_member(cJSON_GetObjectItemCaseSensitive(doc, "metadata"), "resourceVersion",
                 cJSON_CreateString(rv));
    }
    cJSON_Delete(body);
  } else {
    doc = body;
  }
  if (doc == NULL) {
    respond_status(c, ri, 500, NULL, "out of memory", rt);
    return;
  }
  if (vr_store_replace(store, doc, rv[0] != '\0', &stored, &err) != 0) {
    respond_store_error(c, ri, &err, rt);
    return;
  }
  respond_written(api, c, ri, 200, stored);
}

static void handle_patch(vr_kube_api *api, vr_http_conn *c, vr_http_request *req,
                         const req_info *ri, const route *rt) {
  vr_store *store = vr_sim_store(api->config.sim);
  const char *ctype = vr_http_header_get(req, "content-type");
  vr_patch_type type = vr_patch_type_of(ctype);
  vr_patch_error perr;
  vr_store_error err;
  const cJSON *current, *stored = NULL;
  cJSON *patch, *doc;
  char msg[600];
  if (type == VR_PATCH_TYPE_UNSUPPORTED) {
    snprintf(msg, sizeof msg,
             "the body of the request was in an unknown format - accepted media types include: "
             "application/json-patch+json, application/merge-patch+json, "
             "application/strategic-merge-patch+json (got %s)",
             ctype ? ctype : "no Content-Type");
    respond_status(c, ri, 415, "UnsupportedMediaType", msg, rt);
    return;
  }
  current = vr_store_get(store, rt->info->group, rt->info->kind, rt->ns, rt->name);
  if (current == NULL) {
    respond_not_found(c, ri, rt);
    return;
  }
  patch = parse_body(c, req, ri, rt);
  if (patch == NULL) return;
  doc = vr_patch_apply(type, current, patch, rt->info->kind, &perr);
  cJSON_Delete(patch);
  if (doc == NULL) {
    int code = perr.kind == VR_PATCH_BAD_PATCH ? 400 : perr.kind == VR_PATCH_NO_MEMORY ? 500 : 422;
    respond_status(c, ri, code, NULL, perr.message, rt);
    return;
  }
  if (rt->sub) {
    cJSON *only = status_only(current, doc);
    cJSON_Delete(doc);
    doc = only;
    if (doc == NULL) {
      respond_status(c, ri, 500, NULL, "out of memory", rt);
      return;
    }
  }
  {
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(doc, "metadata");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(meta, "name");
    const cJSON *ns = cJSON_GetObjectItemCaseSensitive(meta, "namespace");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(doc, "kind");
    if (!cJSON_IsString(name) || strcmp(name->valuestring, rt->name) != 0 ||
        !cJSON_IsString(kind) || strcmp(kind->valuestring, rt->info->kind) != 0 ||
        (rt->ns && (!cJSON_IsString(ns) || strcmp(ns->valuestring, rt->ns) != 0))) {
      cJSON_Delete(doc);
      respond_status(c, ri, 422, "Invalid", "a patch cannot change the kind, name or namespace",
                     rt);
      return;
    }
  }
  if (dry_run(req)) {
    respond_json(c, ri, 200, doc, NULL);
    return;
  }
  if (vr_store_replace(store, doc, 1, &stored, &err) != 0) {
    respond_store_error(c, ri, &err, rt);
    return;
  }
  respond_written(api, c, ri, 200, stored);
}

/* DeleteOptions.gracePeriodSeconds from the query or a JSON body (other bodies, such as the
 * protobuf ones of newer kubectl, are ignored): -1 when not given. */
static long long grace_period(const vr_http_request *req) {
  uint64_t v;
  cJSON *body;
  long long grace = -1;
  if (query_uint(req->query, "gracePeriodSeconds", &v) == 1) return (long long)v;
  if (req->body_len == 0 || req->body[0] != '{') return -1;
  body = cJSON_ParseWithLength(req->body, req->body_len);
  if (body) {
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(body, "gracePeriodSeconds");
    if (cJSON_IsNumber(g) && g->valuedouble >= 0) grace = (long long)g->valuedouble;
    cJSON_Delete(body);
  }
  return grace;
}

static void handle_delete(vr_kube_api *api, vr_http_conn *c, vr_http_request *req,
                          const req_info *ri, const route *rt) {
  vr_store *store = vr_sim_store(api->config.sim);
  vr_store_error err;
  const cJSON *after;
  const char *kind = rt->info->kind;
  const cJSON *current = vr_store_get(store, rt->info->group, kind, rt->ns, rt->name);
  int rc;
  if (current == NULL) {
    respond_not_found(c, ri, rt);
    return;
  }
  if (dry_run(req)) {
    respond_json(c, ri, 200, cJSON_Duplicate(current, 1), NULL);
    return;
  }
  if (strcmp(rt->info->group, "") == 0 && strcmp(kind, "Pod") == 0) {
    rc = vr_sim_delete_pod(api->config.sim, rt->ns, rt->name, grace_period(req), &err);
  } else {
    rc = vr_store_delete(store, rt->info->group, kind, rt->ns, rt->name, &err);
  }
  if (rc != 0) {
    respond_store_error(c, ri, &err, rt);
    return;
  }
  after_write(api);
  after = vr_store_get(store, rt->info->group, kind, rt->ns, rt->name);
  if (after) { /* graceful: the object with its deletionTimestamp */
    respond_json(c, ri, 200, cJSON_Duplicate(after, 1), NULL);
  } else {
    respond_json(c, ri, 200,
                 status_object(200, NULL, NULL, rt->info->plural, rt->info->group, rt->name), NULL);
  }
}

static void handle_eviction(vr_kube_api *api, vr_http_conn *c, vr_http_request *req,
                            const req_info *ri, const route *rt) {
  vr_store_error err;
  cJSON *body = NULL;
  const char *dr = dry_run(req);
  route pod = *rt;
  if (req->body_len > 0) {
    const cJSON *kind, *name;
    body = parse_body(c, req, ri, rt);
    if (body == NULL) return;
    kind = cJSON_GetObjectItemCaseSensitive(body, "kind");
    name = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(body, "metadata"),
                                            "name");
    if (!cJSON_IsObject(body) ||
        (kind && (!cJSON_IsString(kind) || strcmp(kind->valuestring, "Eviction") != 0))) {
      cJSON_Delete(body);
      respond_status(c, ri, 400, "BadRequest", "the body is not an Eviction", rt);
      return;
    }
    if (cJSON_IsString(name) && strcmp(name->valuestring, rt->name) != 0) {
      cJSON_Delete(body);
      respond_status(c, ri, 400, "BadRequest", "name in URL does not match name in Eviction object",
                     rt);
      return;
    }
    if (!dr) {
      const cJSON *opts = cJSON_GetObjectItemCaseSensitive(body, "deleteOptions");
      const cJSON *d = cJSON_GetObjectItemCaseSensitive(opts, "dryRun");
      if (cJSON_IsArray(d) && cJSON_GetArraySize(d) > 0) dr = "All";
    }
  }
  pod.sub = NULL;
  if (vr_sim_evict(api->config.sim, rt->ns, rt->name, body, dr != NULL, &err) != 0) {
    cJSON_Delete(body);
    respond_store_error(c, ri, &err, &pod);
    return;
  }
  cJSON_Delete(body);
  if (!dr) after_write(api);
  respond_json(c, ri, 201, status_object(201, NULL, NULL, NULL, NULL, NULL), NULL);
}

static void method_not_allowed(vr_http_conn *c, const req_info *ri, const route *rt,
                               const char *method) {
  char msg[200];
  snprintf(msg, sizeof msg, "the server does not allow this method on the requested resource (%s)",
           method);
  respond_status(c, ri, 405, "MethodNotAllowed", msg, rt);
}

/* --- the sim.vmrun.io/v1 group ---------------------------------------------------------------- */

static void add_uint(cJSON *obj, const char *name, uint64_t v) {
  char buf[32];
  snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
  cJSON_AddRawToObject(obj, name, buf); /* exact, where a double would round large seeds */
}

/* The Clock object: the clock's mode and now, the earliest pending timer or simulator event,
 * the store's revision, the seed and the cluster file. */
static cJSON *clock_object(vr_kube_api *api) {
  vr_sim *sim = api->config.sim;
  vr_clock *clock = vr_sim_clock(sim);
  uint64_t now = vr_clock_now(clock), due = vr_clock_next_due(clock);
  const char *source = vr_sim_source(sim);
  cJSON *doc = cJSON_CreateObject();
  char buf[40];
  if (doc == NULL) return NULL;
  cJSON_AddStringToObject(doc, "apiVersion", SIM_GROUP "/" SIM_VERSION);
  cJSON_AddStringToObject(doc, "kind", "Clock");
  cJSON_AddStringToObject(doc, "mode", api->config.client_clock ? "client" : "paced");
  cJSON_AddNumberToObject(doc, "speed", api->config.speed);
  add_uint(doc, "nowMs", now);
  vr_clock_format(now, buf, sizeof buf);
  cJSON_AddStringToObject(doc, "now", buf);
  if (due == UINT64_MAX) {
    cJSON_AddNullToObject(doc, "nextDueMs");
  } else {
    add_uint(doc, "nextDueMs", due);
  }
  snprintf(buf, sizeof buf, "%llu", (unsigned long long)vr_store_revision(vr_sim_store(sim)));
  cJSON_AddStringToObject(doc, "revision", buf);
  add_uint(doc, "seed", vr_sim_seed(sim));
  if (source) {
    cJSON_AddStringToObject(doc, "source", source);
  } else {
    cJSON_AddNullToObject(doc, "source");
  }
  return doc;
}

/* POST {"advanceToMs": T} with a client-driven clock: fires everything due up to T in order and
 * sets now to T. */
static void advance_clock(vr_kube_api *api, vr_http_conn *c, const vr_http_request *req,
                          const req_info *ri, const route *rt) {
  vr_clock *clock = vr_sim_clock(api->config.sim);
  cJSON *body;
  const cJSON *to;
  uint64_t target, now = vr_clock_now(clock);
  char msg[300], a[40], b[40];
  if (!api->config.client_clock) {
    snprintf(msg, sizeof msg,
             "the clock is paced by --speed (%g simulated seconds per real second): start vmrun "
             "serve with --clock client to move it with POST",
             api->config.speed);
    respond_status(c, ri, 409, "Conflict", msg, rt);
    return;
  }
  body = cJSON_ParseWithLength(req->body, req->body_len);
  to = cJSON_GetObjectItemCaseSensitive(body, "advanceToMs");
  if (!cJSON_IsObject(body) || !cJSON_IsNumber(to) || !(to->valuedouble >= 0) ||
      to->valuedouble > MAX_ADVANCE_MS || (double)(uint64_t)to->valuedouble != to->valuedouble) {
    cJSON_Delete(body);
    respond_status(c, ri, 400, "BadRequest",
                   "the body must be a JSON object with an integer advanceToMs (ms since the "
                   "epoch, at most 2^53 - 1)",
                   rt);
    return;
  }
  target = (uint64_t)to->valuedouble;
  cJSON_Delete(body);
  if (target < now) {
    vr_clock_format(target, a, sizeof a);
    vr_clock_format(now, b, sizeof b);
    snprintf(msg, sizeof msg,
             "advanceToMs %llu (%s) is before the clock's now %llu (%s): simulated time does not "
             "go back",
             (unsigned long long)target, a, (unsigned long long)now, b);
    respond_status(c, ri, 400, "BadRequest", msg, rt);
    return;
  }
  vr_clock_advance(clock, target, 0); /* target == now: fires what is due now */
  respond_json(c, ri, 200, clock_object(api), NULL);
}

static void handle_sim_clock(vr_kube_api *api, vr_http_conn *c, vr_http_request *req,
                             const req_info *ri, const route *rt) {
  const char *m = req->method;
  if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0) {
    respond_json(c, ri, 200, clock_object(api), NULL); /* paced: answer() synced it */
  } else if (strcmp(m, "POST") == 0) {
    advance_clock(api, c, req, ri, rt);
  } else {
    method_not_allowed(c, ri, rt, m);
  }
}

/* POST .../nodes/<name>/reboot: the simulator reboots the node (vr_sim_reboot_node). */
static void handle_sim_reboot(vr_kube_api *api, vr_http_conn *c, vr_http_request *req,
                              const req_info *ri, const route *rt) {
  vr_store_error err;
  char msg[400];
  if (strcmp(req->method, "POST") != 0) {
    method_not_allowed(c, ri, rt, req->method);
    return;
  }
  if (dry_run(req)) {
    respond_status(c, ri, 400, "BadRequest", "dryRun is not supported for a node reboot", rt);
    return;
  }
  if (vr_sim_reboot_node(api->config.sim, rt->name, &err) != 0) {
    int code = err.status >= 400 && err.status <= 599 ? err.status : 500;
    respond_json(c, ri, code,
                 status_object(code, err.reason[0] ? err.reason : NULL, err.message, "nodes", NULL,
                               rt->name),
                 NULL);
    return;
  }
  after_write(api);
  snprintf(msg, sizeof msg, "node %s is rebooting", rt->name);
  respond_json(c, ri, 200, status_object(200, NULL, msg, "nodes", NULL, rt->name), NULL);
}

/* PUT .../virtualmachineinstances/<name>/evacuate/cancel {"evacuationNodeName": node}: KubeVirt's
 * evacuate-cancel (clears status.evacuationNodeName when it names node; 200 with no body). */
static void handle_evacuate_cancel(vr_kube_api *api, vr_http_conn *c, vr_http_request *req,
                                   const req_info *ri, const route *rt) {
  vr_store_error err;
  cJSON *body;
  const cJSON *node;
  if (strcmp(req->method, "PUT") != 0) {
    method_not_allowed(c, ri, rt, req->method);
    return;
  }
  if (req->body_len == 0) {
    respond_status(c, ri, 400, "BadRequest", "No body", rt);
    return;
  }
  body = parse_body(c, req, ri, rt);
  if (body == NULL) return;
  node = cJSON_GetObjectItemCaseSensitive(body, "evacuationNodeName");
  if (!cJSON_IsString(node)) {
    cJSON_Delete(body);
    respond_status(c, ri, 400, "BadRequest", "evacuationNodeName is required", rt);
    return;
  }
  if (vr_sim_evacuate_cancel(api->config.sim, rt->ns, rt->name, node->valuestring, &err) != 0) {
    int code = err.status >= 400 && err.status <= 599 ? err.status : 500;
    cJSON_Delete(body);
    respond_json(c, ri, code,
                 status_object(code, err.reason[0] ? err.reason : NULL, err.message,
                               "virtualmachineinstances", "kubevirt.io", rt->name),
                 NULL);
    return;
  }
  cJSON_Delete(body);
  after_write(api);
  respond_json(c, ri, 200, status_object(200, NULL, NULL, NULL, NULL, NULL), NULL);
}

/* With a client-driven clock: after a request changed the store, every watch that allows
 * bookmarks gets one at the store's revision, so that a client knows its streams hold
 * everything up to it (the lockstep of vmrun's REST backend). */
static void bookmark_all(vr_kube_api *api) {
  uint64_t rev = vr_store_revision(vr_sim_store(api->config.sim));
  kwatch *w, *next;
  for (w = api->watches; w != NULL; w = next) {
    next = w->next; /* (a send may end the watch) */
    if (!w->bookmarks || w->ended) continue;
    if (rev > w->last_rv) w->last_rv = rev;
    send_bookmark(w);
  }
}

/* --- dispatch -------------------------------------------------------------------------------- */

static void handle_resource(vr_kube_api *api, vr_http_conn *c, vr_http_request *req, req_info *ri,
                            const route *rt, const vr_kube_fault *fault) {
  const char *m = req->method;
  int get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
  if (rt->sub && strcmp(rt->sub, "status") != 0 &&
      !(strcmp(rt->sub, "eviction") == 0 && strcmp(rt->info->kind, "Pod") == 0)) {
    respond_status(c, ri, 404, "NotFound", "the server could not find the requested resource", rt);
    return;
  }
  if (rt->sub && strcmp(rt->sub, "eviction") == 0) {
    if (strcmp(m, "POST") != 0) {
      method_not_allowed(c, ri, rt, m);
    } else {
      handle_eviction(api, c, req, ri, rt);
    }
    return;
  }
  if (rt->name == NULL) {
    if (get && (rt->legacy_watch || query_flag(req->query, "watch"))) {
      if (strcmp(m, "HEAD") == 0) {
        method_not_allowed(c, ri, rt, m); /* a watch is a stream of events: no HEAD */
        return;
      }
      handle_watch(api, c, req, ri, rt, fault->watch_cut_ms);
    } else if (get) {
      handle_list(api, c, req, ri, rt);
    } else if (strcmp(m, "POST") == 0) {
      if (rt->info->namespaced && rt->ns == NULL) {
        respond_status(c, ri, 405, "MethodNotAllowed",
                       "create needs a namespace: POST to /namespaces/<ns>/<resource>", rt);
      } else {
        handle_create(api, c, req, ri, rt);
      }
    } else {
      method_not_allowed(c, ri, rt, m);
    }
    return;
  }
  if (get) {
    handle_get(api, c, req, ri, rt);
  } else if (strcmp(m, "PUT") == 0) {
    handle_replace(api, c, req, ri, rt);
  } else if (strcmp(m, "PATCH") == 0) {
    handle_patch(api, c, req, ri, rt);
  } else if (strcmp(m, "DELETE") == 0 && rt->sub == NULL) {
    handle_delete(api, c, req, ri, rt);
  } else {
    method_not_allowed(c, ri, rt, m);
  }
}

/* The verb a request is, as the API server's audit names it (for fault selection). */
static const char *verb_of(const vr_http_request *req, const route *rt) {
  const char *m = req->method;
  if (rt->type != R_RESOURCE) return "discovery";
  if (rt->sub && strcmp(rt->sub, "eviction") == 0) return "evict";
  if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0) {
    if (rt->name) return "get";
    return rt->legacy_watch || query_flag(req->query, "watch") ? "watch" : "list";
  }
  if (strcmp(m, "POST") == 0) return "create";
  if (strcmp(m, "PUT") == 0) return "update";
  if (strcmp(m, "PATCH") == 0) return "patch";
  if (strcmp(m, "DELETE") == 0) return "delete";
  return "other";
}

static void answer(vr_kube_api *api, vr_http_conn *c, vr_http_request *req,
                   const vr_kube_fault *decided);

static void on_delayed_closed(uv_handle_t *h) {
  free(h->data);
}

static void delayed_unlink(delayed *d) {
  vr_kube_api *api = d->api;
  if (d->prev) {
    d->prev->next = d->next;
  } else {
    api->delayed = d->next;
  }
  if (d->next) d->next->prev = d->prev;
}

static void on_delayed_conn_gone(void *data) {
  delayed *d = data;
  d->gone = 1;
}

static void on_delay_done(uv_timer_t *t) {
  delayed *d = t->data;
  delayed_unlink(d);
  if (!d->gone) {
    vr_http_conn_on_close(d->conn, NULL, NULL);
    answer(d->api, d->conn, d->req, &d->fault);
  } else {
    vr_http_request_free(d->req);
  }
  uv_close((uv_handle_t *)&d->timer, on_delayed_closed);
}

/* Answers a request. decided: the fault already decided for it (a delayed answer), or NULL to
 * ask the fault injector now. */
static void answer(vr_kube_api *api, vr_http_conn *c, vr_http_request *req,
                   const vr_kube_fault *decided) {
  route rt;
  req_info ri;
  char *path = strdup(req->path);
  vr_kube_fault fault;
  uint64_t revision_before;
  memset(&fault, 0, sizeof fault);
  if (decided) fault = *decided;
  if (path == NULL) {
    vr_http_request_free(req);
    vr_http_conn_drop(c);
    return;
  }
  route_path(&rt, path);
  req_info_init(&ri, api, req);
  if (api->config.sync) api->config.sync(api->config.sync_ctx);
  /* the sim.vmrun.io group is a test control channel: never a fault (docs/serve.md) */
  if (!decided && api->config.fault && !is_sim_group(&rt)) {
    char res[300] = "";
    if (rt.type == R_RESOURCE) qualified_resource(rt.info, res, sizeof res);
    if (api->config.fault(api->config.fault_ctx, verb_of(req, &rt), res, &fault)) {
      if (fault.drop) {
        log_request(api, &ri, 0);
        req_info_free(&ri);
        free(path);
        vr_http_request_free(req);
        vr_http_conn_drop(c);
        return;
      }
      if (fault.delay_ms > 0) {
        delayed *d = calloc(1, sizeof *d);
        if (d != NULL) {
          d->api = api;
          d->conn = c;
          d->req = req;
          d->fault = fault;
          d->fault.delay_ms = 0;
          d->next = api->delayed;
          if (api->delayed) api->delayed->prev = d;
          api->delayed = d;
          uv_timer_init(api->config.loop, &d->timer);
          d->timer.data = d;
          vr_http_conn_on_close(c, on_delayed_conn_gone, d);
          uv_timer_start(&d->timer, on_delay_done, fault.delay_ms, 0);
          req_info_free(&ri);
          free(path);
          return;
        }
      }
      if (fault.status > 0) {
        char msg[200], hdr[64] = "";
        snprintf(msg, sizeof msg, "injected fault (vmrun serve --faults): %d %s", fault.status,
                 vr_http_reason(fault.status));
        if (fault.status == 429 && fault.retry_after > 0)
          snprintf(hdr, sizeof hdr, "Retry-After: %d\r\n", fault.retry_after);
        respond_json(c, &ri, fault.status, status_object(fault.status, NULL, msg, NULL, NULL, NULL),
                     hdr[0] ? hdr : NULL);
        req_info_free(&ri);
        free(path);
        vr_http_request_free(req);
        return;
      }
    }
  }
  api->requests++;
  revision_before = vr_store_revision(vr_sim_store(api->config.sim));
  switch (rt.type) {
  case R_ROOT:
    respond_json(c, &ri, 200, root_paths(), NULL);
    break;
  case R_VERSION:
    respond_json(c, &ri, 200, version_doc(), NULL);
    break;
  case R_API:
    respond_json(c, &ri, 200, api_versions(api), NULL);
    break;
  case R_APIS:
    respond_json(c, &ri, 200, group_list(), NULL);
    break;
  case R_GROUP:
    respond_json(c, &ri, 200, group_entry(rt.group), NULL);
    break;
  case R_DISCOVERY:
    respond_json(c, &ri, 200, discovery_list(rt.group, rt.version), NULL);
    break;
  case R_RESOURCE:
    handle_resource(api, c, req, &ri, &rt, &fault);
    break;
  case R_SIM_CLOCK:
    handle_sim_clock(api, c, req, &ri, &rt);
    break;
  case R_SIM_REBOOT:
    handle_sim_reboot(api, c, req, &ri, &rt);
    break;
  case R_EVACUATE_CANCEL:
    handle_evacuate_cancel(api, c, req, &ri, &rt);
    break;
  default:
    respond_status(c, &ri, 404, "NotFound", "the server could not find the requested resource",
                   NULL);
  }
  if (api->config.client_clock &&
      vr_store_revision(vr_sim_store(api->config.sim)) != revision_before)
    bookmark_all(api);
  req_info_free(&ri);
  free(path);
  vr_http_request_free(req);
}

void vr_kube_api_handle(void *ctx, vr_http_conn *conn, vr_http_request *req) {
  answer(ctx, conn, req, NULL);
}

vr_kube_api *vr_kube_api_new(const vr_kube_api_config *config) {
  vr_kube_api *api = calloc(1, sizeof *api);
  if (api == NULL) return NULL;
  api->config = *config;
  return api;
}

void vr_kube_api_free(vr_kube_api *api) {
  int i;
  if (api == NULL) return;
  while (api->watches) {
    kwatch *w = api->watches;
    vr_http_conn *conn = w->conn;
    w->ended = 1;
    if (conn) vr_http_conn_on_close(conn, NULL, NULL);
    watch_free(w);
    if (conn) vr_http_conn_drop(conn);
  }
  while (api->delayed) { /* answers still waiting: their connections are closed with the server */
    delayed *d = api->delayed;
    delayed_unlink(d);
    if (!d->gone) vr_http_conn_on_close(d->conn, NULL, NULL);
    vr_http_request_free(d->req);
    uv_timer_stop(&d->timer);
    uv_close((uv_handle_t *)&d->timer, on_delayed_closed);
  }
  for (i = 0; i < LIST_CACHE_ENTRIES; i++) list_cache_drop(api, &api->list_cache[i]);
  free(api);
}

void vr_kube_api_set_address(vr_kube_api *api, const char *address) {
  snprintf(api->address, sizeof api->address, "%s", address);
}

uint64_t vr_kube_api_requests(const vr_kube_api *api) {
  return api->requests;
}

size_t vr_kube_api_watches(const vr_kube_api *api) {
  return api->nwatches;
}
