/* notify.c: vmrun.notify.core, the transport of stdlib-lua/vmrun/notify.lua: one JSON POST to a
 * webhook URL through the REST backend's HTTP client (runtime/kube_client.h: libcurl on the
 * libuv loop, TLS verified against the system's CAs, connection errors, 429 and 503 retried), the
 * task waiting meanwhile. A webhook URL often holds its secret in the path or the query: neither
 * appears in any message, only the scheme and host. It never encodes the payload (the Lua layer
 * does) and never touches the cluster. Raises vmrun.Errors of kind "notify". */
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "bindings.h"
#include "errors.h"
#include "kube_client.h"
#include "scheduler.h"

#define POST_BOX_MT "vmrun.notify.post"

/* Shared by the waiting task (through its box) and the request (until on_done). */
typedef struct post_req {
  vr_op op;
  vr_kube_client *client;
  vr_kube_request *request; /* NULL once done */
  int status;               /* the answer's status (0: none) */
  char why[400];            /* when it failed: the reason, without the URL's path */
  int refs;
} post_req;

typedef struct post_box {
  post_req *req;
} post_box;

static void req_release(post_req *r) {
  if (--r->refs > 0) return;
  vr_kube_client_free(r->client);
  free(r);
}

/* The client's error names the method and the path ("POST /hooks/SECRET: HTTP 500"): keep what
 * follows the path only. */
static void reason_of(const vr_kube_response *resp, char *out, size_t len) {
  const char *e = resp->error, *colon;
  if (e == NULL) {
    snprintf(out, len, "HTTP %d", resp->status);
    return;
  }
  colon = strstr(e, ": ");
  snprintf(out, len, "%s", colon ? colon + 2 : "the request failed");
}

static void on_done(vr_kube_request *req, const vr_kube_response *resp, void *data) {
  post_req *r = data;
  (void)req;
  r->request = NULL;
  r->status = resp->status;
  if (resp->status < 200 || resp->status >= 300) reason_of(resp, r->why, sizeof r->why);
  vr_op_complete(&r->op);
  req_release(r);
}

/* Timeout or cancellation: the request goes (its on_done comes at once, and lets go). */
static void post_cancel(vr_op *op) {
  post_req *r = (post_req *)op;
  if (r->request != NULL) vr_kube_request_cancel(r->request);
}

static int box_gc(lua_State *L) {
  post_box *b = luaL_checkudata(L, 1, POST_BOX_MT);
  post_req *r = b->req;
  b->req = NULL;
  if (r == NULL) return 0;
  if (r->request != NULL) vr_kube_request_cancel(r->request);
  req_release(r);
  return 0;
}

/* Stack during the wait: 1 url, 2 body, 3 options, 4 the box, 5 "scheme://host" for messages. */
static int post_k(lua_State *L, int status, lua_KContext ctx) {
  post_box *b = luaL_checkudata(L, 4, POST_BOX_MT);
  post_req *r = b->req;
  (void)status;
  (void)ctx;
  vr_op_finish(L, &r->op); /* raises on the timeout or a cancellation */
  if (r->status < 200 || r->status >= 300)
    return vr_error_raise_for(L, "notify", lua_tostring(L, 5), "POST to %s: %s", lua_tostring(L, 5),
                              r->why);
  lua_pushinteger(L, r->status);
  return 1;
}

/* core.post(url, body [, {timeout=}]) -> status — waits
 * POSTs body (a JSON text) to url (http:// or https://) and returns the answer's 2xx status.
 * timeout: seconds for each attempt (default 10); connection errors, 429 and 503 are tried up to
 * 3 times. Raises kind "notify" ("POST to https://host: HTTP 500", "... connection refused",
 * naming the scheme and host only, never the path or query), "usage" for a URL that is not
 * http(s), "timeout" or "cancelled". */
static int l_post(lua_State *L) {
  size_t body_len;
  const char *url = luaL_checkstring(L, 1);
  const char *body = luaL_checklstring(L, 2, &body_len);
  const char *rest, *path;
  vr_sched *s = vr_sched_of(L);
  vr_kube_config cfg;
  vr_kube_client_options copt;
  vr_kube_request_spec spec;
  post_box *b;
  post_req *r;
  char base[512], err[400];
  double timeout = 10;
  size_t n;
  lua_settop(L, 3);
  if (lua_istable(L, 3)) {
    lua_getfield(L, 3, "timeout");
    if (lua_isnumber(L, -1)) timeout = lua_tonumber(L, -1);
    lua_pop(L, 1);
  }
  if (strncmp(url, "https://", 8) == 0)
    rest = url + 8;
  else if (strncmp(url, "http://", 7) == 0)
    rest = url + 7;
  else
    return vr_error_raise_for(L, "usage", NULL,
                              "notify: the webhook URL must be http:// or https://");
  path = strpbrk(rest, "/?");
  n = path ? (size_t)(path - url) : strlen(url);
  if (n >= sizeof base || n == (size_t)(rest - url))
    return vr_error_raise_for(L, "usage", NULL, "notify: the webhook URL has no host");
  memcpy(base, url, n);
  base[n] = '\0';
  if (s == NULL) return luaL_error(L, "notify: no scheduler in this Lua state");
  vr_await_check(L, "notify.post");
  b = lua_newuserdatauv(L, sizeof *b, 0); /* 4 */
  b->req = NULL;
  luaL_setmetatable(L, POST_BOX_MT);
  lua_pushstring(L, base); /* 5 */
  r = calloc(1, sizeof *r);
  if (r == NULL) return luaL_error(L, "notify: out of memory");
  memset(&cfg, 0, sizeof cfg);
  cfg.server = base;
  memset(&copt, 0, sizeof copt);
  copt.timeout = timeout > 0 ? timeout : 10;
  copt.max_attempts = 3;
  copt.backoff_initial = 0.5;
  copt.backoff_max = 5;
  r->client = vr_kube_client_new(vr_sched_loop(s), &cfg, &copt, err, sizeof err);
  if (r->client == NULL) {
    free(r);
    return vr_error_raise_for(L, "notify", base, "POST to %s: %s", base, err);
  }
  memset(&spec, 0, sizeof spec);
  spec.method = "POST";
  spec.path = path && path[0] == '/' ? path : "/";
  spec.content_type = "application/json";
  spec.body = body;
  spec.body_len = body_len;
  spec.on_done = on_done;
  spec.data = r;
  r->op.cancel = post_cancel;
  r->refs = 2; /* the box's and the request's */
  r->request = vr_kube_request_start(r->client, &spec);
  if (r->request == NULL) {
    vr_kube_client_free(r->client);
    free(r);
    return luaL_error(L, "notify: out of memory");
  }
  b->req = r; /* from here the box owns its share (see box_gc) */
  return vr_await(L, &r->op, "notify.post", -1, post_k, 0);
}

static const luaL_Reg notify_core_funcs[] = {{"post", l_post}, {NULL, NULL}};

int luaopen_vmrun_notify_core(lua_State *L) {
  if (luaL_newmetatable(L, POST_BOX_MT)) {
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  luaL_newlib(L, notify_core_funcs);
  return 1;
}
