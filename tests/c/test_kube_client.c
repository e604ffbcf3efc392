/* test_kube_client.c: tests of runtime/kube_client.c against vmrun's own HTTP server
 * (runtime/http_server.h) running on the same libuv loop on 127.0.0.1, with scripted answers per
 * path: plain answers, retries of 5xx, 429 and Retry-After, writes with and without retry_writes,
 * connection refused and dropped, streams split across chunks, stopped and cancelled, cancels
 * during a backoff, the client freed with requests in flight (also from inside callbacks),
 * bearer tokens (token, token file re-read, set_token), basic auth, timeouts, body limits and TLS
 * material that cannot be used. It talks to nothing but 127.0.0.1 and runs no TLS handshake
 * worth the name (the TLS tests against nginx come later). */
#include "check.h"
#include "http_server.h"
#include "kube_client.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SECRET "s3cr3t-token-value"

static vr_http_server *server;
static int port;
static char base_url[64];

/* --- the server ---------------------------------------------------------------------------- */

enum {
  P_OK,
  P_FLAKY,
  P_RATELIMIT,
  P_RATELIMIT0,
  P_UNAVAIL,
  P_ALWAYS500,
  P_DROP,
  P_STREAM5,
  P_STREAMOPEN,
  P_STREAMBIG,
  P_NEVER,
  P_ECHO,
  P_BIG,
  P_OTHER,
  P_COUNT
};
static const char *const path_names[P_COUNT] = {
    "/ok",      "/flaky",      "/ratelimit", "/ratelimit0", "/unavail", "/always500", "/drop",
    "/stream5", "/streamopen", "/streambig", "/never",      "/echo",    "/big",       "(other)"};
static int hits[P_COUNT];

/* What the last request carried. */
static struct {
  char method[16], auth[256], ua[128], accept[64], ctype[128];
  int has_auth, has_ctype, expect;
  size_t body_len;
} seen;

static uv_loop_t loop;

/* Every callback that changes what the tests wait for wakes the loop: uv_run(UV_RUN_ONCE)
 * would otherwise go on to wait for I/O after running a timer. */
static void wake(void) {
  uv_stop(&loop);
}

static int streams_closed; /* server-side streams that ended because the client went away */
static int held_open;      /* /never requests not yet closed */

typedef struct held {
  vr_http_request *req;
} held;

static void on_held_closed(void *data) {
  held *h = data;
  vr_http_request_free(h->req);
  free(h);
  held_open--;
  wake();
}

typedef struct streamer {
  vr_http_conn *conn;
  vr_http_request *req;
  uv_timer_t timer;
  const char *const *chunks;
  int nchunks, step, keep_open;
} streamer;

static void on_streamer_timer_closed(uv_handle_t *h) {
  streamer *s = h->data;
  vr_http_request_free(s->req);
  free(s);
}

static void on_stream_conn_closed(void *data) {
  streamer *s = data;
  s->conn = NULL;
  streams_closed++;
  wake();
  uv_timer_stop(&s->timer);
  uv_close((uv_handle_t *)&s->timer, on_streamer_timer_closed);
}

static void on_streamer_tick(uv_timer_t *t) {
  streamer *s = t->data;
  if (s->step < s->nchunks) {
    const char *chunk = s->chunks[s->step++];
    if (vr_http_stream_send(s->conn, chunk, strlen(chunk)) != 0) return; /* closed: cb ran */
  }
  if (s->step < s->nchunks) return;
  uv_timer_stop(&s->timer);
  if (s->keep_open) return; /* until the client goes away */
  vr_http_stream_end(s->conn);
  uv_close((uv_handle_t *)&s->timer, on_streamer_timer_closed);
}

static const char *const stream5_chunks[] = {"{\"n\":1}\n{\"n", "\":2}\n{\"n\":3}\n",
                                             "{\"n\":4}\n{\"n\":5", "}"};
static const char *const streamopen_chunks[] = {"{\"n\":1}\n", "{\"n\":2}\n"};
static char big_line[5001];
static const char *const streambig_chunks[] = {"{\"n\":1}\n", big_line};

static void start_stream(vr_http_conn *conn, vr_http_request *req, const char *const *chunks, int n,
                         int keep_open) {
  streamer *s = calloc(1, sizeof *s);
  if (s == NULL || vr_http_stream_start(conn, 200, "application/json") != 0) {
    free(s);
    vr_http_request_free(req);
    return;
  }
  s->conn = conn;
  s->req = req;
  s->chunks = chunks;
  s->nchunks = n;
  s->keep_open = keep_open;
  uv_timer_init(&loop, &s->timer);
  s->timer.data = s;
  vr_http_conn_on_close(conn, on_stream_conn_closed, s);
  uv_timer_start(&s->timer, on_streamer_tick, 5, 5);
}

static const char *header(const vr_http_request *req, const char *name) {
  size_t i;
  for (i = 0; i < req->nheaders; i++) {
    if (strcmp(req->headers[i].name, name) == 0) return req->headers[i].value;
  }
  return NULL;
}

static void handler(void *ctx, vr_http_conn *conn, vr_http_request *req) {
  static const char ok_body[] = "{\"kind\":\"NodeList\",\"items\":[]}";
  static const char status_body[] = "{\"kind\":\"Status\",\"code\":500}";
  const char *h;
  int p, n;
  (void)ctx;
  for (p = 0; p < P_OTHER; p++) {
    if (strcmp(req->path, path_names[p]) == 0) break;
  }
  n = ++hits[p];
  wake();
  snprintf(seen.method, sizeof seen.method, "%s", req->method);
  h = header(req, "authorization");
  seen.has_auth = h != NULL;
  snprintf(seen.auth, sizeof seen.auth, "%s", h ? h : "");
  h = header(req, "user-agent");
  snprintf(seen.ua, sizeof seen.ua, "%s", h ? h : "");
  h = header(req, "accept");
  snprintf(seen.accept, sizeof seen.accept, "%s", h ? h : "");
  h = header(req, "content-type");
  seen.has_ctype = h != NULL;
  snprintf(seen.ctype, sizeof seen.ctype, "%s", h ? h : "");
  seen.expect = req->expect_continue || header(req, "expect") != NULL;
  seen.body_len = req->body_len;
  switch (p) {
  case P_OK:
    vr_http_respond(conn, 200, "application/json", NULL, ok_body, strlen(ok_body));
    break;
  case P_FLAKY:
    if (n <= 2) {
      vr_http_respond(conn, 500, "application/json", NULL, status_body, strlen(status_body));
    } else {
      vr_http_respond(conn, 200, "application/json", NULL, ok_body, strlen(ok_body));
    }
    break;
  case P_RATELIMIT:
  case P_RATELIMIT0:
    if (n == 1) {
      vr_http_respond(conn, 429, "application/json", p == P_RATELIMIT ? "Retry-After: 1\r\n" : NULL,
                      "{}", 2);
    } else {
      vr_http_respond(conn, 200, "application/json", NULL, ok_body, strlen(ok_body));
    }
    break;
  case P_UNAVAIL:
    if (n == 1) {
      vr_http_respond(conn, 503, "application/json", NULL, "{}", 2);
    } else {
      vr_http_respond(conn, 201, "application/json", NULL, ok_body, strlen(ok_body));
    }
    break;
  case P_ALWAYS500:
    vr_http_respond(conn, 500, "application/json", NULL, status_body, strlen(status_body));
    break;
  case P_DROP:
    if (n == 1) {
      vr_http_conn_drop(conn);
    } else {
      vr_http_respond(conn, 200, "application/json", NULL, ok_body, strlen(ok_body));
    }
    break;
  case P_STREAM5:
    start_stream(conn, req, stream5_chunks, 4, 0);
    return;
  case P_STREAMOPEN:
    start_stream(conn, req, streamopen_chunks, 2, 1);
    return;
  case P_STREAMBIG:
    start_stream(conn, req, streambig_chunks, 2, 1);
    return;
  case P_NEVER: {
    held *hd = calloc(1, sizeof *hd);
    if (hd == NULL) break;
    hd->req = req;
    held_open++;
    vr_http_conn_on_close(conn, on_held_closed, hd);
    return;
  }
  case P_ECHO:
    vr_http_respond(conn, 201, "application/json", NULL, "{}", 2);
    break;
  case P_BIG:
    vr_http_respond(conn, 200, "application/json", NULL, big_line, 5000);
    break;
  default:
    vr_http_respond(conn, 404, "application/json", NULL, "{\"kind\":\"Status\",\"code\":404}",
                    strlen("{\"kind\":\"Status\",\"code\":404}"));
    break;
  }
  vr_http_request_free(req);
}

/* --- running the loop ------------------------------------------------------------------------ */

static uv_timer_t guard;
static int guard_fired;

static void on_guard(uv_timer_t *t) {
  (void)t;
  guard_fired = 1;
  wake();
}

/* Runs the loop until *flag >= want (or a 10 s guard); 1 when reached. */
static int run_until(const int *flag, int want) {
  guard_fired = 0;
  uv_timer_start(&guard, on_guard, 10000, 0);
  while (*flag < want && !guard_fired) uv_run(&loop, UV_RUN_ONCE);
  uv_timer_stop(&guard);
  if (guard_fired) fprintf(stderr, "run_until: timed out waiting\n");
  return !guard_fired;
}

/* Runs the loop until *count is 0 (or a 10 s guard); 1 when reached. */
static int run_until_zero(const int *count) {
  guard_fired = 0;
  uv_timer_start(&guard, on_guard, 10000, 0);
  while (*count > 0 && !guard_fired) uv_run(&loop, UV_RUN_ONCE);
  uv_timer_stop(&guard);
  if (guard_fired) fprintf(stderr, "run_until_zero: timed out waiting\n");
  return !guard_fired;
}

static int tick_done;
static void on_tick(uv_timer_t *t) {
  (void)t;
  tick_done = 1;
  wake();
}

/* Runs the loop for ms milliseconds. */
static void run_for(uint64_t ms) {
  uv_timer_t t;
  tick_done = 0;
  uv_timer_init(&loop, &t);
  uv_timer_start(&t, on_tick, ms, 0);
  while (!tick_done) uv_run(&loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&loop, UV_RUN_NOWAIT);
}

static double now_s(void) {
  return (double)uv_hrtime() / 1e9;
}

/* --- the client side -------------------------------------------------------------------------- */

typedef struct result {
  int done;
  int status, attempts;
  char body[8192];
  size_t body_len;
  char ctype[128];
  int has_ctype, has_error;
  char error[512];
  int nlines;
  char lines[16][128];
  size_t line_lens[16];
  int stop_at;   /* on_line returns 1 at this line (1-based) */
  int cancel_at; /* on_line cancels its request at this line */
  int done_during_line;
  vr_kube_client *free_at_line; /* on_line frees this client at line 1 */
  vr_kube_client *free_in_done;
  vr_kube_client *start_in_done; /* on_done tries to start a request on it */
  vr_kube_request *started_in_done;
  vr_kube_request *req;
  double done_at;
} result;

static int all_done; /* on_done calls, all requests */

static void on_done(vr_kube_request *req, const vr_kube_response *resp, void *data) {
  result *r = data;
  r->done++;
  all_done++;
  wake();
  r->done_at = now_s();
  CHECK(req == r->req || r->req == NULL);
  r->status = resp->status;
  r->attempts = resp->attempts;
  CHECK(resp->body != NULL);
  if (resp->body != NULL) {
    CHECK(resp->body[resp->body_len] == '\0');
    r->body_len = resp->body_len;
    snprintf(r->body, sizeof r->body, "%s", resp->body);
  }
  r->has_ctype = resp->content_type != NULL;
  snprintf(r->ctype, sizeof r->ctype, "%s", resp->content_type ? resp->content_type : "");
  r->has_error = resp->error != NULL;
  snprintf(r->error, sizeof r->error, "%s", resp->error ? resp->error : "");
  if (resp->error != NULL) { /* no secret ever shows in a message */
    CHECK(strstr(resp->error, SECRET) == NULL);
    CHECK(strstr(resp->error, "tok-") == NULL);
    CHECK(strstr(resp->error, "YWxpY2U6cHc") == NULL);
    CHECK(strstr(resp->error, "labelSelector") == NULL);
  }
  if (r->start_in_done != NULL) {
    vr_kube_request_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.method = "GET";
    spec.path = "/ok";
    spec.on_done = on_done;
    spec.data = r;
    r->started_in_done = vr_kube_request_start(r->start_in_done, &spec);
  }
  if (r->free_in_done != NULL) vr_kube_client_free(r->free_in_done);
}

static int on_line(vr_kube_request *req, const char *line, size_t len, void *data) {
  result *r = data;
  CHECK(r->done == 0);
  CHECK(line[len] == '\0');
  wake();
  if (r->nlines < 16) {
    snprintf(r->lines[r->nlines], sizeof r->lines[0], "%.*s", (int)len, line);
    r->line_lens[r->nlines] = len;
  }
  r->nlines++;
  if (r->free_at_line != NULL && r->nlines == 1) {
    vr_kube_client_free(r->free_at_line);
    if (r->done) r->done_during_line = 1;
    return 0;
  }
  if (r->cancel_at == r->nlines) {
    vr_kube_request_cancel(req);
    if (r->done) r->done_during_line = 1;
    vr_kube_request_cancel(req); /* again: a no-op */
    return 0;
  }
  return r->stop_at == r->nlines;
}

static vr_kube_config config(const char *url) {
  vr_kube_config k;
  memset(&k, 0, sizeof k);
  k.server = (char *)url;
  return k;
}

static vr_kube_client_options fast_options(void) {
  vr_kube_client_options o;
  memset(&o, 0, sizeof o);
  o.timeout = 5;
  o.max_attempts = 5;
  o.backoff_initial = 0.01;
  o.backoff_max = 0.05;
  o.seed = 42;
  return o;
}

static vr_kube_client *client_for(const vr_kube_config *k, const vr_kube_client_options *o) {
  char err[256];
  vr_kube_client *c = vr_kube_client_new(&loop, k, o, err, sizeof err);
  if (c == NULL) fprintf(stderr, "vr_kube_client_new: %s\n", err);
  CHECK(c != NULL);
  return c;
}

static vr_kube_request *start(vr_kube_client *c, const char *method, const char *path, result *r) {
  vr_kube_request_spec spec;
  memset(&spec, 0, sizeof spec);
  spec.method = method;
  spec.path = path;
  spec.on_done = on_done;
  spec.data = r;
  r->req = vr_kube_request_start(c, &spec);
  CHECK(r->req != NULL);
  return r->req;
}

static vr_kube_request *start_stream_req(vr_kube_client *c, const char *path, result *r) {
  vr_kube_request_spec spec;
  memset(&spec, 0, sizeof spec);
  spec.method = "GET";
  spec.path = path;
  spec.on_line = on_line;
  spec.on_done = on_done;
  spec.data = r;
  r->req = vr_kube_request_start(c, &spec);
  CHECK(r->req != NULL);
  return r->req;
}

/* Frees the client and lets the loop close its handles. */
static void free_client(vr_kube_client *c) {
  vr_kube_client_free(c);
  run_for(20);
}

/* --- the tests ------------------------------------------------------------------------------- */

static void test_plain_get(void) {
  vr_kube_config k = config(base_url);
  vr_kube_client_options o = fast_options();
  vr_kube_client *c = client_for(&k, &o);
  result r;
  memset(&r, 0, sizeof r);
  if (c == NULL) return;
  start(c, "GET", "/ok", &r);
  CHECK(r.done == 0); /* never answered from inside start */
  CHECK(run_until(&r.done, 1));
  CHECK(r.status == 200);
  CHECK(r.attempts == 1);
  CHECK(!r.has_error);
  CHECK_STR(r.body, "{\"kind\":\"NodeList\",\"items\":[]}");
  CHECK(r.body_len == strlen(r.body));
  CHECK_STR(r.ctype, "application/json");
  CHECK_STR(seen.method, "GET");
  CHECK_STR(seen.accept, "application/json");
  CHECK_CONTAINS(seen.ua, "vmrun/");
  CHECK(!seen.has_auth);
  CHECK(!seen.has_ctype);

  /* a 404 is an answer: status and body, and an error line that says so */
  memset(&r, 0, sizeof r);
  start(c, "GET", "/missing?x=1", &r);
  CHECK(run_until(&r.done, 1));
  CHECK(r.status == 404);
  CHECK(r.attempts == 1);
  CHECK_CONTAINS(r.body, "\"code\":404");
  CHECK_STR(r.error, "GET /missing: HTTP 404");

  /* a spec that cannot be sent fails through on_done, from the loop */
  memset(&r, 0, sizeof r);
  start(c, "GET", "api/v1/nodes", &r);
  CHECK(r.done == 0);
  CHECK(run_until(&r.done, 1));
  CHECK(r.status == 0);
  CHECK(r.attempts == 0);
  CHECK_CONTAINS(r.error, "does not start with '/'");
  memset(&r, 0, sizeof r);
  start(c, "TRACE", "/ok", &r);
  CHECK(run_until(&r.done, 1));
  CHECK_CONTAINS(r.error, "unsupported method");

  /* the user agent option */
  free_client(c);
  o.user_agent = "test-agent/1";
  c = client_for(&k, &o);
  if (c == NULL) return;
  memset(&r, 0, sizeof r);
  start(c, "GET", "/ok", &r);
  CHECK(run_until(&r.done, 1));
  CHECK_STR(seen.ua, "test-agent/1");
  free_client(c);
}

static void test_retries(void) {
  vr_kube_config k = config(base_url);
  vr_kube_client_options o = fast_options();
  vr_kube_client *c = client_for(&k, &o);
  result r;
  double t0;
  if (c == NULL) return;

  /* 500 twice, then 200: a GET is retried */
  memset(&r, 0, sizeof r);
  hits[P_FLAKY] = 0;
  start(c, "GET", "/flaky", &r);
  CHECK(run_until(&r.done, 1));
  CHECK(r.status == 200);
  CHECK(r.attempts == 3);
  CHECK(hits[P_FLAKY] == 3);
  CHECK(!r.has_error);

  /* always 500: max_attempts tries, then the last answer with an error line */
  memset(&r, 0, sizeof r);
  hits[P_ALWAYS500] = 0;
  start(c, "GET", "/always500", &r);
  CHECK(run_until(&r.done, 1));
  CHECK(r.status == 500);
  CHECK(r.attempts == 5);
  CHECK(hits[P_ALWAYS500] == 5);
  CHECK_CONTAINS(r.body, "\"code\":500");
  CHECK_STR(r.error, "GET /always500: HTTP 500 (5 attempts)");

  /* 429 without Retry-After: retried for a POST as well (the server did nothing) */
  memset(&r, 0, sizeof r);
  hits[P_RATELIMIT0] = 0;
  start(c, "POST", "/ratelimit0", &r);
  CHECK(run_until(&r.done, 1));
  CHECK(r.status == 200);
  CHECK(r.attempts == 2);

  /* 503 for a POST: retried (the server did not take it) ... */
  memset(&r, 0, sizeof r);
  hits[P_UNAVAIL] = 0;
  start(c, "POST", "/unavail", &r);
  CHECK(run_until(&r.done, 1));
  CHECK(r.status == 201);
  CHECK(r.attempts == 2);
  CHECK(hits[P_UNAVAIL] == 2);
  /* ... a 500 for a POST is not, without retry_writes ... */
  memset(&r, 0, sizeof r);
  hits[P_ALWAYS500] = 0;
  start(c, "POST", "/always500", &r);
  CHECK(run_until(&r.done, 1));
  CHECK(r.status == 500);
  CHECK(r.attempts == 1);
  CHECK(hits[P_ALWAYS500] == 1);
  CHECK_STR(r.error, "POST /always500: HTTP 500");
  /* ... and is with it */
  {
    vr_kube_request_spec spec;
    memset(&spec, 0, sizeof spec);
    memset(&r, 0, sizeof r);
    hits[P_ALWAYS500] = 0;
    spec.method = "POST";
    spec.path = "/always500";
    spec.body = "{\"a\":1}";
    spec.body_len = 7;
    spec.retry_writes = 1;
    spec.on_done = on_done;
    spec.data = &r;
    r.req = vr_kube_request_start(c, &spec);
    CHECK(run_until(&r.done, 1));
    CHECK(r.status == 500);
    CHECK(r.attempts == 5);
    CHECK(hits[P_ALWAYS500] == 5);
    CHECK(seen.body_len == 7);
  }
  free_client(c);

  /* 429 with Retry-After: 1 waits a second although the backoff is 10 ms (capped at 2 s) */
  o.backoff_max = 2;
  c = client_for(&k, &o);
  if (c == NULL) return;
  memset(&r, 0, sizeof r);
  hits[P_RATELIMIT] = 0;
  t0 = now_s();
  start(c, "GET", "/ratelimit", &r);
  CHECK(run_until(&r.done, 1));
  CHECK(r.status == 200);
  CHECK(r.attempts == 2);
  CHECK(r.done_at - t0 >= 0.95);
  CHECK(r.done_at - t0 < 1.9);
  free_client(c);

  /* Retry-After is capped at backoff_max */
  o.backoff_max = 0.05;
  c = client_for(&k, &o);
  if (c == NULL) return;
  memset(&r, 0, sizeof r);
  hits[P_RATELIMIT] = 0;
  t0 = now_s();
  start(c, "GET", "/ratelimit", &r);
  CHECK(run_until(&r.done, 1));
  CHECK(r.status == 200);
  CHECK(r.attempts == 2);
  CHECK(r.done_at - t0 < 0.9);
  free_client(c);
}

/* A port where nothing listens. */
static int free_port(void) {
  uv_tcp_t t;
  struct sockaddr_in addr;
  struct sockaddr_storage got;
  int len = sizeof got, p = 0;
  uv_tcp_init(&loop, &t);
  uv_ip4_addr("127.0.0.1", 0, &addr);
  if (uv_tcp_bind(&t, (const struct sockaddr *)&addr, 0) == 0 &&
      uv_tcp_getsockname(&t, (struct sockaddr *)&got, &len) == 0) {
    p = ntohs(((struct sockaddr_in *)&got)->sin_port);
  }
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&loop, UV_RUN_NOWAIT);
  return p;
}

static void test_connection_errors(void) {
  char url[64];
  vr_kube_config k;
  vr_kube_client_options o = fast_options();
  vr_kube_client *c;
  result r;
  snprintf(url, sizeof url, "http://127.0.0.1:%d", free_port());
  k = config(url);
  k.token = (char *)SECRET;
  o.max_attempts = 3;
  c = client_for(&k, &o);
  if (c == NULL) return;
  memset(&r, 0, sizeof r);
  start(c, "GET", "/api/v1/nodes?labelSelector=a%3Db", &r);
  CHECK(run_until(&r.done, 1));
  CHECK(r.status == 0);
  CHECK(r.attempts == 3);
  CHECK_STR(r.error, "GET /api/v1/nodes: connection refused (3 attempts)");
  CHECK_STR(r.body, "");
  CHECK(!r.has_ctype);
  /* nothing was sent: a POST is retried too */
  memset(&r, 0, sizeof r);
  start(c, "POST", "/api/v1/namespaces/default/pods", &r);
  CHECK(run_until(&r.done, 1));
  CHECK(r.attempts == 3);
  CHECK_STR(r.error, "POST /api/v1/namespaces/default/pods: connection refused (3 attempts)");
  free_client(c);

  /* a dropped connection (no answer): a GET is retried on a new connection */
  k = config(base_url);
  c = client_for(&k, &o);
  if (c == NULL) return;
  memset(&r, 0, sizeof r);
  hits[P_DROP] = 0;
  start(c, "GET", "/drop", &r);
  CHECK(run_until(&r.done, 1));
  CHECK(r.status == 200);
  CHECK(r.attempts == 2);
  CHECK(hits[P_DROP] == 2);
  free_client(c);
  /* a POST is not: the server may have acted on it (a new client: a new connection, so that
   * libcurl's own resend on a stale reused connection does not come into play) */
  c = client_for(&k, &o);
  if (c == NULL) return;
  memset(&r, 0, sizeof r);
  hits[P_DROP] = 0;
  start(c, "POST", "/drop", &r);
  CHECK(run_until(&r.done, 1));
  CHECK(r.status == 0);
  CHECK(r.attempts == 1);
  CHECK(hits[P_DROP] == 1);
  CHECK_STR(r.error, "POST /drop: connection closed without a response");
  free_client(c);
}

static void test_streams(void) {
  vr_kube_config k = config(base_url);
  vr_kube_client_options o = fast_options();
  vr_kube_client *c = client_for(&k, &o);
  result r;
  int i, closed;
  if (c == NULL) return;

  /* five lines split across chunks; the last one without a newline comes at the end */
  memset(&r, 0, sizeof r);
  start_stream_req(c, "/stream5", &r);
  CHECK(run_until(&r.done, 1));
  CHECK(r.status == 200);
  CHECK(!r.has_error);
  CHECK(r.attempts == 1);
  CHECK_STR(r.body, "");
  CHECK(r.body_len == 0);
  CHECK(r.nlines == 5);
  for (i = 0; i < 5 && i < r.nlines; i++) {
    char want[32];
    snprintf(want, sizeof want, "{\"n\":%d}", i + 1);
    CHECK_STR(r.lines[i], want);
    CHECK(r.line_lens[i] == strlen(want));
  }

  /* the last line (no newline, delivered at the end) cancels its request, or stops it */
  memset(&r, 0, sizeof r);
  r.cancel_at = 5;
  start_stream_req(c, "/stream5", &r);
  CHECK(run_until(&r.done, 1));
  CHECK(r.done_during_line);
  CHECK(r.nlines == 5);
  CHECK_STR(r.error, "cancelled");
  memset(&r, 0, sizeof r);
  r.stop_at = 5;
  start_stream_req(c, "/stream5", &r);
  CHECK(run_until(&r.done, 1));
  CHECK(r.nlines == 5);
  CHECK(r.status == 200);
  CHECK(!r.has_error);

  /* on_line returns non-zero: the stream ends with its status */
  memset(&r, 0, sizeof r);
  closed = streams_closed;
  r.stop_at = 2;
  start_stream_req(c, "/streamopen", &r);
  CHECK(run_until(&r.done, 1));
  CHECK(r.status == 200);
  CHECK(!r.has_error);
  CHECK(r.nlines == 2);
  CHECK(run_until(&streams_closed, closed + 1)); /* the connection was closed */

  /* cancelled from inside on_line: on_done at once, no more lines */
  memset(&r, 0, sizeof r);
  closed = streams_closed;
  r.cancel_at = 1;
  start_stream_req(c, "/streamopen", &r);
  CHECK(run_until(&r.done, 1));
  CHECK(r.done_during_line);
  CHECK(r.status == 0);
  CHECK_STR(r.error, "cancelled");
  CHECK(run_until(&streams_closed, closed + 1));
  CHECK(r.nlines == 1);
  CHECK(r.done == 1);

  /* cancelled from outside, midway */
  memset(&r, 0, sizeof r);
  closed = streams_closed;
  start_stream_req(c, "/streamopen", &r);
  CHECK(run_until(&r.nlines, 2));
  vr_kube_request_cancel(r.req);
  CHECK(r.done == 1);
  CHECK_STR(r.error, "cancelled");
  CHECK(run_until(&streams_closed, closed + 1));
  CHECK(r.done == 1);
  free_client(c);
}

static void test_cancel(void) {
  vr_kube_config k = config(base_url);
  vr_kube_client_options o = fast_options();
  vr_kube_client *c;
  result r;
  double t0;
  o.backoff_initial = 2;
  o.backoff_max = 2;
  c = client_for(&k, &o);
  if (c == NULL) return;

  /* during the backoff wait */
  memset(&r, 0, sizeof r);
  hits[P_ALWAYS500] = 0;
  t0 = now_s();
  start(c, "GET", "/always500", &r);
  CHECK(run_until(&hits[P_ALWAYS500], 1));
  run_for(200); /* the 500 has arrived; the retry waits 2 s */
  CHECK(r.done == 0);
  vr_kube_request_cancel(r.req);
  CHECK(r.done == 1);
  CHECK(r.status == 0);
  CHECK(r.attempts == 1);
  CHECK_STR(r.error, "cancelled");
  CHECK_STR(r.body, "");
  run_for(50);
  CHECK(hits[P_ALWAYS500] == 1);
  CHECK(now_s() - t0 < 1.5);

  /* before the first attempt */
  memset(&r, 0, sizeof r);
  hits[P_OK] = 0;
  start(c, "GET", "/ok", &r);
  vr_kube_request_cancel(r.req);
  CHECK(r.done == 1);
  CHECK(r.attempts == 0);
  CHECK_STR(r.error, "cancelled");
  run_for(50);
  CHECK(hits[P_OK] == 0);

  /* while the request is at the server */
  memset(&r, 0, sizeof r);
  hits[P_NEVER] = 0;
  start(c, "GET", "/never", &r);
  CHECK(run_until(&hits[P_NEVER], 1));
  vr_kube_request_cancel(r.req);
  CHECK(r.done == 1);
  CHECK(r.attempts == 1);
  CHECK_STR(r.error, "cancelled");
  CHECK(run_until_zero(&held_open));
  free_client(c);
}

static void test_free_in_flight(void) {
  vr_kube_config k = config(base_url);
  vr_kube_client_options o = fast_options();
  vr_kube_client *c;
  result never, stream, waiting, fresh, other;
  o.backoff_initial = 2;
  o.backoff_max = 2;

  /* from outside: a request at the server, a stream, one in its backoff, one not started */
  c = client_for(&k, &o);
  if (c == NULL) return;
  memset(&never, 0, sizeof never);
  memset(&stream, 0, sizeof stream);
  memset(&waiting, 0, sizeof waiting);
  memset(&fresh, 0, sizeof fresh);
  hits[P_NEVER] = hits[P_ALWAYS500] = 0;
  start(c, "GET", "/never", &never);
  start_stream_req(c, "/streamopen", &stream);
  start(c, "GET", "/always500", &waiting);
  CHECK(run_until(&stream.nlines, 2));
  CHECK(run_until(&hits[P_NEVER], 1));
  CHECK(run_until(&hits[P_ALWAYS500], 1));
  run_for(100);
  start(c, "GET", "/ok", &fresh);
  fresh.start_in_done = c; /* a request started while the client goes: refused */
  vr_kube_client_free(c);
  CHECK(never.done == 1 && stream.done == 1 && waiting.done == 1 && fresh.done == 1);
  CHECK_STR(never.error, "cancelled");
  CHECK_STR(stream.error, "cancelled");
  CHECK_STR(waiting.error, "cancelled");
  CHECK_STR(fresh.error, "cancelled");
  CHECK(fresh.started_in_done == NULL);
  CHECK(waiting.attempts == 1);
  CHECK(run_until_zero(&held_open));
  run_for(50);

  /* from inside on_line, with another request in flight */
  c = client_for(&k, &o);
  if (c == NULL) return;
  memset(&stream, 0, sizeof stream);
  memset(&other, 0, sizeof other);
  start(c, "GET", "/never", &other);
  stream.free_at_line = c;
  start_stream_req(c, "/streamopen", &stream);
  CHECK(run_until(&stream.done, 1));
  CHECK(stream.done_during_line);
  CHECK(stream.nlines == 1);
  CHECK(other.done == 1);
  CHECK_STR(stream.error, "cancelled");
  CHECK_STR(other.error, "cancelled");
  run_for(50);

  /* from inside on_done, with another request waiting for its retry */
  c = client_for(&k, &o);
  if (c == NULL) return;
  memset(&fresh, 0, sizeof fresh);
  memset(&waiting, 0, sizeof waiting);
  hits[P_ALWAYS500] = 0;
  start(c, "GET", "/always500", &waiting);
  CHECK(run_until(&hits[P_ALWAYS500], 1));
  fresh.free_in_done = c;
  start(c, "GET", "/ok", &fresh);
  CHECK(run_until(&fresh.done, 1));
  CHECK(fresh.status == 200);
  CHECK(waiting.done == 1);
  CHECK_STR(waiting.error, "cancelled");
  run_for(50);

  /* from inside the on_done of a cancel */
  c = client_for(&k, &o);
  if (c == NULL) return;
  memset(&fresh, 0, sizeof fresh);
  memset(&other, 0, sizeof other);
  start(c, "GET", "/never", &other);
  start(c, "GET", "/ok", &fresh);
  fresh.free_in_done = c;
  vr_kube_request_cancel(fresh.req);
  CHECK(fresh.done == 1 && other.done == 1);
  run_for(50);

  /* an idle client, and NULL */
  c = client_for(&k, &o);
  free_client(c);
  vr_kube_client_free(NULL);
  vr_kube_request_cancel(NULL);
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  if (f == NULL) return;
  fputs(text, f);
  fclose(f);
}

static void test_auth(void) {
  vr_kube_config k = config(base_url);
  vr_kube_client_options o = fast_options();
  vr_kube_client *c;
  result r;
  char tokfile[] = "/tmp/vmrun-kube-client-token-XXXXXX";
  int fd = mkstemp(tokfile);
  CHECK(fd >= 0);
  if (fd < 0) return;
  close(fd);

  /* a bearer token */
  k.token = (char *)SECRET;
  c = client_for(&k, &o);
  if (c == NULL) return;
  memset(&r, 0, sizeof r);
  start(c, "GET", "/ok", &r);
  CHECK(run_until(&r.done, 1));
  CHECK_STR(seen.auth, "Bearer " SECRET);
  free_client(c);

  /* a token file, read for each request, trimmed; the token is the fallback */
  write_file(tokfile, "tok-one\n");
  k.token_file = tokfile;
  c = client_for(&k, &o);
  if (c == NULL) return;
  memset(&r, 0, sizeof r);
  start(c, "GET", "/ok", &r);
  CHECK(run_until(&r.done, 1));
  CHECK_STR(seen.auth, "Bearer tok-one");
  write_file(tokfile, "  tok-two\t\r\n");
  memset(&r, 0, sizeof r);
  start(c, "GET", "/ok", &r);
  CHECK(run_until(&r.done, 1));
  CHECK_STR(seen.auth, "Bearer tok-two");
  /* an exec plugin's token comes first */
  vr_kube_client_set_token(c, "tok-exec");
  memset(&r, 0, sizeof r);
  start(c, "GET", "/ok", &r);
  CHECK(run_until(&r.done, 1));
  CHECK_STR(seen.auth, "Bearer tok-exec");
  vr_kube_client_set_token(c, NULL);
  unlink(tokfile); /* unreadable: the kubeconfig's token */
  memset(&r, 0, sizeof r);
  start(c, "GET", "/ok", &r);
  CHECK(run_until(&r.done, 1));
  CHECK_STR(seen.auth, "Bearer " SECRET);
  free_client(c);

  /* an unreadable token file and no token: the request fails before it is sent */
  k.token = NULL;
  c = client_for(&k, &o);
  if (c == NULL) return;
  memset(&r, 0, sizeof r);
  hits[P_OK] = 0;
  start(c, "GET", "/ok", &r);
  CHECK(run_until(&r.done, 1));
  CHECK(r.status == 0);
  CHECK_CONTAINS(r.error, "GET /ok: cannot read the token file");
  CHECK(hits[P_OK] == 0);
  free_client(c);

  /* basic auth */
  k = config(base_url);
  k.username = (char *)"alice";
  k.password = (char *)"pw";
  c = client_for(&k, &o);
  if (c == NULL) return;
  memset(&r, 0, sizeof r);
  start(c, "GET", "/ok", &r);
  CHECK(run_until(&r.done, 1));
  CHECK_STR(seen.auth, "Basic YWxpY2U6cHc=");
  free_client(c);
}

static void test_timeouts(void) {
  vr_kube_config k = config(base_url);
  vr_kube_client_options o = fast_options();
  vr_kube_client *c = client_for(&k, &o);
  vr_kube_request_spec spec;
  result r;
  double t0;
  if (c == NULL) return;

  /* a handler that never answers: the per-attempt timeout of the spec (not retried) */
  memset(&r, 0, sizeof r);
  memset(&spec, 0, sizeof spec);
  hits[P_NEVER] = 0;
  spec.method = "GET";
  spec.path = "/never";
  spec.timeout = 0.2;
  spec.on_done = on_done;
  spec.data = &r;
  t0 = now_s();
  r.req = vr_kube_request_start(c, &spec);
  CHECK(run_until(&r.done, 1));
  CHECK(r.status == 0);
  CHECK(r.attempts == 1);
  CHECK_STR(r.error, "GET /never: timed out after 0.2 s");
  CHECK(r.done_at - t0 >= 0.15);
  CHECK(r.done_at - t0 < 3);
  CHECK(hits[P_NEVER] == 1);
  free_client(c);

  /* the client's timeout */
  o.timeout = 0.2;
  c = client_for(&k, &o);
  if (c == NULL) return;
  memset(&r, 0, sizeof r);
  start(c, "GET", "/never", &r);
  CHECK(run_until(&r.done, 1));
  CHECK_STR(r.error, "GET /never: timed out after 0.2 s");

  /* a stream has no overall limit, but its answer must begin within the client's timeout */
  memset(&r, 0, sizeof r);
  start_stream_req(c, "/never", &r);
  CHECK(run_until(&r.done, 1));
  CHECK(r.status == 0);
  CHECK_STR(r.error, "GET /never: timed out after 0.2 s waiting for the response");
  /* ... and once it began, it may be quiet for longer */
  memset(&r, 0, sizeof r);
  start_stream_req(c, "/streamopen", &r);
  run_for(600);
  CHECK(r.done == 0);
  CHECK(r.nlines == 2);
  vr_kube_request_cancel(r.req);
  CHECK(r.done == 1);
  free_client(c);
  CHECK(run_until_zero(&held_open));
}

static void test_bodies(void) {
  vr_kube_config k = config(base_url);
  vr_kube_client_options o = fast_options();
  vr_kube_client *c;
  vr_kube_request_spec spec;
  result r;
  size_t big = 3u << 19; /* 1.5 MiB: libcurl would ask for 100-continue */
  char *body = malloc(big);
  CHECK(body != NULL);
  if (body == NULL) return;
  memset(body, 'x', big);
  o.max_body = 1000;
  c = client_for(&k, &o);
  if (c == NULL) {
    free(body);
    return;
  }
  memset(&spec, 0, sizeof spec);
  memset(&r, 0, sizeof r);
  spec.method = "POST";
  spec.path = "/echo";
  spec.body = body;
  spec.body_len = big;
  spec.on_done = on_done;
  spec.data = &r;
  r.req = vr_kube_request_start(c, &spec);
  free(body); /* copied */
  CHECK(run_until(&r.done, 1));
  CHECK(r.status == 201);
  CHECK_STR(seen.method, "POST");
  CHECK(seen.body_len == big);
  CHECK_STR(seen.ctype, "application/json");
  CHECK(!seen.expect);

  memset(&r, 0, sizeof r);
  spec.method = "PATCH";
  spec.body = "{\"metadata\":{}}";
  spec.body_len = strlen(spec.body);
  spec.content_type = "application/merge-patch+json";
  r.req = vr_kube_request_start(c, &spec);
  CHECK(run_until(&r.done, 1));
  CHECK_STR(seen.method, "PATCH");
  CHECK_STR(seen.ctype, "application/merge-patch+json");
  CHECK(seen.body_len == strlen("{\"metadata\":{}}"));

  memset(&r, 0, sizeof r);
  start(c, "DELETE", "/echo", &r);
  CHECK(run_until(&r.done, 1));
  CHECK_STR(seen.method, "DELETE");
  CHECK(!seen.has_ctype);
  CHECK(seen.body_len == 0);

  memset(&r, 0, sizeof r);
  start(c, "PUT", "/echo", &r);
  CHECK(run_until(&r.done, 1));
  CHECK_STR(seen.method, "PUT");
  CHECK(seen.body_len == 0);

  /* bodies and streamed lines past max_body fail the request */
  memset(&r, 0, sizeof r);
  start(c, "GET", "/big", &r);
  CHECK(run_until(&r.done, 1));
  CHECK(r.status == 0);
  CHECK(r.attempts == 1);
  CHECK_STR(r.error, "GET /big: response body larger than 1000 bytes");
  memset(&r, 0, sizeof r);
  start_stream_req(c, "/streambig", &r);
  CHECK(run_until(&r.done, 1));
  CHECK(r.nlines == 1);
  CHECK(r.status == 200);
  CHECK_STR(r.error, "GET /streambig: a streamed line is longer than 1000 bytes");
  free_client(c);
}

static void test_tls_material(void) {
  char url[64], err[256], cafile[] = "/tmp/vmrun-kube-client-ca-XXXXXX";
  vr_kube_config k;
  vr_kube_client_options o = fast_options();
  vr_kube_client *c;
  result r;
  int fd;
  snprintf(url, sizeof url, "https://127.0.0.1:%d", port);

  /* a CA file that does not exist: no client, and a message that names the file */
  k = config(url);
  k.ca_file = (char *)"/nonexistent/vmrun-ca.pem";
  k.token = (char *)SECRET;
  c = vr_kube_client_new(&loop, &k, &o, err, sizeof err);
  CHECK(c == NULL);
  CHECK_STR(err, "cannot read the CA file /nonexistent/vmrun-ca.pem: No such file or directory");

  /* certificate-authority-data that is not PEM */
  k = config(url);
  k.ca_pem = (char *)"not a certificate";
  k.ca_pem_len = strlen(k.ca_pem);
  c = vr_kube_client_new(&loop, &k, &o, err, sizeof err);
  CHECK(c == NULL);
  CHECK_STR(err, "certificate-authority-data is not a PEM certificate");

  /* a certificate without a key */
  k = config(url);
  k.client_cert_pem = (char *)"-----BEGIN CERTIFICATE-----\n";
  k.client_cert_pem_len = strlen(k.client_cert_pem);
  c = vr_kube_client_new(&loop, &k, &o, err, sizeof err);
  CHECK(c == NULL);
  CHECK_STR(err, "a client certificate needs a client key");

  /* not a URL */
  k = config("ftp://example");
  c = vr_kube_client_new(&loop, &k, &o, err, sizeof err);
  CHECK(c == NULL);
  CHECK_STR(err, "the server is not an http:// or https:// URL");

  /* a readable CA file without certificates: the request fails with a TLS message */
  fd = mkstemp(cafile);
  CHECK(fd >= 0);
  if (fd < 0) return;
  CHECK(write(fd, "garbage\n", 8) == 8);
  close(fd);
  k = config(url);
  k.ca_file = cafile;
  k.token = (char *)SECRET;
  c = client_for(&k, &o);
  if (c != NULL) {
    memset(&r, 0, sizeof r);
    start(c, "GET", "/api", &r);
    CHECK(run_until(&r.done, 1));
    CHECK(r.status == 0);
    CHECK(r.attempts == 1);
    {
      char want[200];
      snprintf(want, sizeof want, "GET /api: TLS: cannot load the CA certificates from %s", cafile);
      CHECK_STR(r.error, want);
    }
    free_client(c);
  }
  unlink(cafile);

  /* verification on, the system's CAs, a server that does not speak TLS: a TLS error */
  k = config(url);
  k.token = (char *)SECRET;
  c = client_for(&k, &o);
  if (c != NULL) {
    memset(&r, 0, sizeof r);
    start(c, "GET", "/api", &r);
    CHECK(run_until(&r.done, 1));
    CHECK(r.status == 0);
    CHECK_CONTAINS(r.error, "GET /api: TLS: ");
    free_client(c);
  }

  /* in-memory PEM that the TLS library refuses */
  k = config(url);
  k.ca_pem = (char *)"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  k.ca_pem_len = strlen(k.ca_pem);
  c = client_for(&k, &o);
  if (c != NULL) {
    memset(&r, 0, sizeof r);
    start(c, "GET", "/api", &r);
    CHECK(run_until(&r.done, 1));
    CHECK_STR(r.error,
              "GET /api: TLS: cannot load the CA certificates (certificate-authority-data)");
    free_client(c);
  }
  k = config(url);
  k.insecure_skip_tls_verify = 1;
  k.client_cert_pem = (char *)"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  k.client_cert_pem_len = strlen(k.client_cert_pem);
  k.client_key_pem = (char *)"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
  k.client_key_pem_len = strlen(k.client_key_pem);
  c = client_for(&k, &o);
  if (c != NULL) {
    memset(&r, 0, sizeof r);
    start(c, "GET", "/api", &r);
    CHECK(run_until(&r.done, 1));
    CHECK_STR(r.error, "GET /api: TLS: cannot use the client certificate or key "
                       "(client-certificate-data, client-key-data)");
    free_client(c);
  }

  /* tls-server-name: the connection goes to the server's address (a name that no resolver
   * knows is never looked up), and TLS then fails against this plain-HTTP server */
  k = config(url);
  k.tls_server_name = (char *)"kubernetes.invalid";
  c = client_for(&k, &o);
  if (c != NULL) {
    memset(&r, 0, sizeof r);
    start(c, "GET", "/api", &r);
    CHECK(run_until(&r.done, 1));
    CHECK(r.status == 0);
    CHECK_CONTAINS(r.error, "GET /api: TLS: handshake failed");
    free_client(c);
  }

  /* server URLs that cannot be used */
  {
    static const char *const bad[] = {"https://127.0.0.1:0",      "https://127.0.0.1:99999",
                                      "https://127.0.0.1:",       "https://[::1",
                                      "https://user:pw@host:443", "https://",
                                      "https://127.0.0.1:44x3"};
    size_t i;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
      k = config(bad[i]);
      c = vr_kube_client_new(&loop, &k, &o, err, sizeof err);
      CHECK(c == NULL);
      CHECK_CONTAINS(err, "the server URL");
      CHECK(strstr(err, "pw") == NULL);
    }
  }

  /* tls-server-name is checked */
  k = config(url);
  k.tls_server_name = (char *)"bad name/";
  c = vr_kube_client_new(&loop, &k, &o, err, sizeof err);
  CHECK(c == NULL);
  CHECK_STR(err, "tls-server-name is not a host name");
}

int main(void) {
  vr_http_server_config sc;
  char err[256];
  static const char *const proxies[] = {"http_proxy",  "HTTP_PROXY", "https_proxy",
                                        "HTTPS_PROXY", "all_proxy",  "ALL_PROXY"};
  size_t i;
  for (i = 0; i < sizeof proxies / sizeof proxies[0]; i++) unsetenv(proxies[i]);
  memset(big_line, 'y', 5000);
  uv_loop_init(&loop);
  uv_timer_init(&loop, &guard);
  memset(&sc, 0, sizeof sc);
  sc.handler = handler;
  server = vr_http_server_new(&loop, &sc);
  CHECK(server != NULL);
  if (server == NULL) return CHECK_DONE();
  if (vr_http_server_listen(server, "127.0.0.1", 0, &port, err, sizeof err) != 0) {
    fprintf(stderr, "listen: %s\n", err);
    CHECK(0);
    return CHECK_DONE();
  }
  snprintf(base_url, sizeof base_url, "http://127.0.0.1:%d", port);

  test_plain_get();
  test_retries();
  test_connection_errors();
  test_streams();
  test_cancel();
  test_free_in_flight();
  test_auth();
  test_timeouts();
  test_bodies();
  test_tls_material();

  vr_http_server_close(server);
  uv_close((uv_handle_t *)&guard, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
  return CHECK_DONE();
}
