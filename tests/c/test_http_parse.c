/* test_http_parse.c: unit tests of runtime/http_parse.c: simple and kubectl-like requests (list
 * with a query, strategic merge PATCH, eviction POST), request-target forms, header fields,
 * Content-Length and chunked bodies (extensions, trailers), pipelining with exact *consumed,
 * connection persistence, Expect: 100-continue, idle and mid-request states, every error status
 * and the limits (checked before a line ends), the query helpers, a memory failure at every
 * allocation, and a seeded fuzz loop. Every input is also fed byte by byte and split at every
 * point (the fuzz loop at random points), and the outcomes must be identical.
 *
 * The parser's source is compiled into this test with malloc, calloc and realloc renamed to
 * counting versions that fail on request; the parser itself has no test hooks. This test's own
 * allocations use the real functions. */
#include "check.h"

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Allocations the parser may still make before one fails; negative: none fails. */
static long allocations_left = -1;
static long allocations_failed = 0;

static int allocation_fails(void) {
  if (allocations_left < 0) return 0;
  if (allocations_left == 0) {
    allocations_failed++;
    return 1;
  }
  allocations_left--;
  return 0;
}

static void *fallible_malloc(size_t n) {
  return allocation_fails() ? NULL : malloc(n);
}

static void *fallible_calloc(size_t count, size_t size) {
  return allocation_fails() ? NULL : calloc(count, size);
}

static void *fallible_realloc(void *ptr, size_t n) {
  return allocation_fails() ? NULL : realloc(ptr, n);
}

#define malloc  fallible_malloc
#define calloc  fallible_calloc
#define realloc fallible_realloc
#include "http_parse.c"
#undef malloc
#undef calloc
#undef realloc

/* ---- outcomes as text ------------------------------------------------------------------------ */

typedef struct text {
  char *data;
  size_t len, cap;
} text;

static void text_add(text *t, const char *s, size_t n) {
  if (t->len + n + 1 > t->cap) {
    size_t cap = t->cap < 256 ? 256 : t->cap;
    char *grown;
    while (cap < t->len + n + 1) cap *= 2;
    grown = realloc(t->data, cap);
    if (grown == NULL) {
      fprintf(stderr, "test out of memory\n");
      exit(2);
    }
    t->data = grown;
    t->cap = cap;
  }
  memcpy(t->data + t->len, s, n);
  t->len += n;
  t->data[t->len] = '\0';
}

static void text_addf(text *t, const char *format, ...) {
  char buf[512];
  va_list ap;
  int n;
  va_start(ap, format);
  n = vsnprintf(buf, sizeof buf, format, ap);
  va_end(ap);
  if (n > 0) text_add(t, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

static int text_equal(const text *a, const text *b) {
  return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

static void text_free(text *t) {
  free(t->data);
  t->data = NULL;
  t->len = t->cap = 0;
}

static void describe_request(text *t, const vr_http_request *r) {
  size_t i;
  CHECK(r->method != NULL && r->target != NULL && r->path != NULL && r->query != NULL);
  CHECK(r->body != NULL && r->body[r->body_len] == '\0');
  text_addf(t, "REQ %s %s path=%s query=%s 1.%d ka=%d ec=%d", r->method, r->target, r->path,
            r->query, r->version_minor, r->keep_alive, r->expect_continue);
  for (i = 0; i < r->nheaders; i++)
    text_addf(t, " [%s: %s]", r->headers[i].name, r->headers[i].value);
  text_addf(t, " body %zu:", r->body_len);
  text_add(t, r->body, r->body_len);
  text_add(t, "\n", 1);
}

/* Feeds in[0..n) in pieces that end at cuts[0..ncuts) (and n), taking each request as it comes,
 * and describes what came out: requests, the error, or the state at the end. */
static void run_pieces(const vr_http_limits *limits, const char *in, size_t n, const size_t *cuts,
                       size_t ncuts, text *out) {
  vr_http_parser *p = vr_http_parser_new(limits);
  size_t start = 0, k;
  if (p == NULL) {
    text_addf(out, "NEW failed\n");
    return;
  }
  for (k = 0; k <= ncuts; k++) {
    size_t end = k < ncuts ? cuts[k] : n;
    const char *piece = in + start;
    size_t left = end - start;
    start = end;
    for (;;) {
      size_t used = (size_t)-1;
      vr_http_status st = vr_http_parser_feed(p, piece, left, &used);
      CHECK(used <= left);
      if (used > left) used = left;
      if (st == VR_HTTP_REQUEST) {
        vr_http_request *r = vr_http_parser_take(p);
        CHECK(r != NULL);
        if (r == NULL) goto done;
        describe_request(out, r);
        vr_http_request_free(r);
        piece += used;
        left -= used;
        continue;
      }
      if (st == VR_HTTP_ERROR) {
        const char *why = NULL;
        int status = vr_http_parser_error(p, &why);
        text_addf(out, "ERR %d %s\n", status, why != NULL ? why : "(null)");
        CHECK(vr_http_parser_feed(p, "x", 1, &used) == VR_HTTP_ERROR);
        CHECK(vr_http_parser_take(p) == NULL);
        goto done;
      }
      CHECK(st == VR_HTTP_NEED_MORE && used == left);
      break;
    }
  }
  text_addf(out, "END in_request=%d wants_continue=%d\n", vr_http_parser_in_request(p),
            vr_http_parser_wants_continue(p));
done:
  vr_http_parser_free(p);
}

static void run_whole(const vr_http_limits *limits, const char *in, size_t n, text *out) {
  run_pieces(limits, in, n, NULL, 0, out);
}

static void run_bytewise(const vr_http_limits *limits, const char *in, size_t n, text *out) {
  size_t *cuts = malloc((n + 1) * sizeof *cuts), i;
  for (i = 0; i + 1 < n; i++) cuts[i] = i + 1;
  run_pieces(limits, in, n, cuts, n > 0 ? n - 1 : 0, out);
  free(cuts);
}

/* The outcome fed whole, byte by byte, and (for inputs up to every_split_max bytes) split in two
 * at every point must be the same. Returns the whole outcome (free it). */
static text check_splits_n(const vr_http_limits *limits, const char *in, size_t n,
                           size_t every_split_max) {
  text whole = {0}, other = {0};
  size_t k;
  run_whole(limits, in, n, &whole);
  run_bytewise(limits, in, n, &other);
  CHECK(text_equal(&whole, &other));
  if (!text_equal(&whole, &other))
    fprintf(stderr, "whole:\n%s\nbyte by byte:\n%s\n", whole.data, other.data);
  text_free(&other);
  for (k = 1; n <= every_split_max && k < n; k++) {
    run_pieces(limits, in, n, &k, 1, &other);
    if (!text_equal(&whole, &other)) {
      CHECK(text_equal(&whole, &other));
      fprintf(stderr, "split at %zu:\n%s\nwhole:\n%s\n", k, other.data, whole.data);
      text_free(&other);
      break;
    }
    text_free(&other);
  }
  return whole;
}

static text check_splits(const vr_http_limits *limits, const char *in) {
  return check_splits_n(limits, in, strlen(in), 4096);
}

/* in makes exactly the outcome expected (after the equivalence checks). */
static void check_outcome(const vr_http_limits *limits, const char *in, const char *expected) {
  text t = check_splits(limits, in);
  CHECK_STR(t.data, expected);
  text_free(&t);
}

/* in fails with status, and a message containing why. */
static void check_error(const vr_http_limits *limits, const char *in, int status, const char *why) {
  text t = check_splits(limits, in);
  char prefix[32];
  snprintf(prefix, sizeof prefix, "ERR %d ", status);
  CHECK_CONTAINS(t.data, prefix);
  CHECK_CONTAINS(t.data, why);
  if (t.data == NULL || strstr(t.data, prefix) == NULL) fprintf(stderr, "  input: %s\n", in);
  text_free(&t);
}

/* The single request in in (fed whole, all of it consumed), or NULL. */
static vr_http_request *parse_one(const char *in) {
  vr_http_parser *p = vr_http_parser_new(NULL);
  vr_http_request *r = NULL;
  size_t used = 0, n = strlen(in);
  text t = check_splits(NULL, in);
  text_free(&t);
  if (vr_http_parser_feed(p, in, n, &used) == VR_HTTP_REQUEST && used == n)
    r = vr_http_parser_take(p);
  CHECK(r != NULL);
  if (r == NULL) fprintf(stderr, "  input: %s\n", in);
  vr_http_parser_free(p);
  return r;
}

/* ---- requests -------------------------------------------------------------------------------- */

static void test_simple_get(void) {
  vr_http_request *r = parse_one("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
  if (r == NULL) return;
  CHECK_STR(r->method, "GET");
  CHECK_STR(r->target, "/");
  CHECK_STR(r->path, "/");
  CHECK_STR(r->query, "");
  CHECK(r->version_minor == 1 && r->keep_alive == 1 && r->expect_continue == 0);
  CHECK(r->nheaders == 1);
  CHECK_STR(vr_http_header_get(r, "host"), "localhost");
  CHECK(vr_http_header_get(r, "accept") == NULL);
  CHECK(r->body != NULL && r->body_len == 0 && r->body[0] == '\0');
  vr_http_request_free(r);
  vr_http_request_free(NULL);

  /* bare LF line endings, a lower-case method (methods are case-sensitive tokens), HTTP/1.0 */
  r = parse_one("get /x HTTP/1.0\nHost: a\n\n");
  if (r != NULL) {
    CHECK_STR(r->method, "get");
    CHECK(r->version_minor == 0 && r->keep_alive == 0);
    vr_http_request_free(r);
  }
}

static void test_kubectl_requests(void) {
  char buf[2048];
  const char *patch = "{\"spec\":{\"unschedulable\":true}}";
  const char *eviction =
      "{\"kind\":\"Eviction\",\"apiVersion\":\"policy/v1\",\"metadata\":{\"name\":"
      "\"web-0\",\"namespace\":\"default\"}}";
  vr_http_request *r = parse_one(
      "GET /api/v1/nodes?limit=500 HTTP/1.1\r\n"
      "Host: 127.0.0.1:6443\r\n"
      "User-Agent: kubectl/v1.30.2 (linux/amd64) kubernetes/3968350\r\n"
      "Accept: application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;"
      "g=meta.k8s.io,application/json\r\n"
      "Kubectl-Command: kubectl get\r\n"
      "Kubectl-Session: 0b5c7e52-0bd6-4bd1-9d4a-1bb2f2c3d6a1\r\n"
      "Accept-Encoding: gzip\r\n"
      "\r\n");
  if (r != NULL) {
    char limit[16];
    CHECK_STR(r->path, "/api/v1/nodes");
    CHECK_STR(r->query, "limit=500");
    CHECK_STR(r->target, "/api/v1/nodes?limit=500");
    CHECK(r->nheaders == 6);
    CHECK_STR(vr_http_header_get(r, "user-agent"),
              "kubectl/v1.30.2 (linux/amd64) kubernetes/3968350");
    CHECK_CONTAINS(vr_http_header_get(r, "accept"), "as=Table;v=v1;g=meta.k8s.io");
    CHECK_STR(vr_http_header_get(r, "kubectl-command"), "kubectl get");
    CHECK(vr_http_query_get(r->query, "limit", limit, sizeof limit) == 1);
    CHECK_STR(limit, "500");
    CHECK(vr_http_query_get(r->query, "continue", limit, sizeof limit) == 0);
    vr_http_request_free(r);
  }

  snprintf(buf, sizeof buf,
           "PATCH /api/v1/nodes/worker-1 HTTP/1.1\r\n"
           "Host: 127.0.0.1:6443\r\n"
           "User-Agent: kubectl/v1.30.2 (linux/amd64) kubernetes/3968350\r\n"
           "Content-Length: %zu\r\n"
           "Accept: application/json\r\n"
           "Content-Type: application/strategic-merge-patch+json\r\n"
           "Kubectl-Command: kubectl cordon\r\n"
           "Accept-Encoding: gzip\r\n"
           "\r\n%s",
           strlen(patch), patch);
  r = parse_one(buf);
  if (r != NULL) {
    CHECK_STR(r->method, "PATCH");
    CHECK_STR(r->path, "/api/v1/nodes/worker-1");
    CHECK_STR(vr_http_header_get(r, "content-type"), "application/strategic-merge-patch+json");
    CHECK(r->body_len == strlen(patch));
    CHECK_STR(r->body, patch);
    vr_http_request_free(r);
  }

  snprintf(buf, sizeof buf,
           "POST /api/v1/namespaces/default/pods/web-0/eviction HTTP/1.1\r\n"
           "Host: 127.0.0.1:6443\r\n"
           "User-Agent: kubectl/v1.30.2 (linux/amd64) kubernetes/3968350\r\n"
           "Content-Length: %zu\r\n"
           "Accept: application/json, */*\r\n"
           "Content-Type: application/json\r\n"
           "Kubectl-Command: kubectl drain\r\n"
           "Accept-Encoding: gzip\r\n"
           "\r\n%s",
           strlen(eviction), eviction);
  r = parse_one(buf);
  if (r != NULL) {
    CHECK_STR(r->method, "POST");
    CHECK_STR(r->path, "/api/v1/namespaces/default/pods/web-0/eviction");
    CHECK_STR(r->body, eviction);
    snprintf(buf, sizeof buf, "%zu", strlen(eviction));
    CHECK_STR(vr_http_header_get(r, "content-length"), buf);
    vr_http_request_free(r);
  }
}

static void test_targets(void) {
  vr_http_request *r =
      parse_one("GET http://example.com:8080/api/v1/pods?watch=1 HTTP/1.1\r\n\r\n");
  if (r != NULL) {
    CHECK_STR(r->target, "http://example.com:8080/api/v1/pods?watch=1");
    CHECK_STR(r->path, "/api/v1/pods");
    CHECK_STR(r->query, "watch=1");
    vr_http_request_free(r);
  }
  r = parse_one("GET HTTP://example.com HTTP/1.1\r\n\r\n");
  if (r != NULL) {
    CHECK_STR(r->path, "/");
    CHECK_STR(r->query, "");
    vr_http_request_free(r);
  }
  r = parse_one("GET https://h?a=b HTTP/1.1\r\n\r\n");
  if (r != NULL) {
    CHECK_STR(r->path, "/");
    CHECK_STR(r->query, "a=b");
    vr_http_request_free(r);
  }
  r = parse_one("OPTIONS * HTTP/1.1\r\n\r\n");
  if (r != NULL) {
    CHECK_STR(r->path, "*");
    CHECK_STR(r->target, "*");
    vr_http_request_free(r);
  }
  /* the path is decoded ('+' stays), the query is not; "?" alone gives an empty query */
  r = parse_one("GET /api/v1/namespaces/a%20b/pods/x+y%2Fz?labelSelector=app%3Dweb&x=a+b HTTP/1.1"
                "\r\n\r\n");
  if (r != NULL) {
    CHECK_STR(r->path, "/api/v1/namespaces/a b/pods/x+y/z");
    CHECK_STR(r->query, "labelSelector=app%3Dweb&x=a+b");
    vr_http_request_free(r);
  }
  r = parse_one("GET /a?? HTTP/1.1\r\n\r\n");
  if (r != NULL) {
    CHECK_STR(r->path, "/a");
    CHECK_STR(r->query, "?");
    vr_http_request_free(r);
  }
  r = parse_one("GET /a? HTTP/1.1\r\n\r\n");
  if (r != NULL) {
    CHECK_STR(r->query, "");
    vr_http_request_free(r);
  }
}

static void test_header_fields(void) {
  vr_http_request *r = parse_one("GET / HTTP/1.1\r\n"
                                 "X-Spaces: \t padded value \t \r\n"
                                 "X-EMPTY:\r\n"
                                 "x-dup: first\r\n"
                                 "X-Dup: second\r\n"
                                 "X-Opaque: caf\xc3\xa9 \"quoted\" (and\ttab)\r\n"
                                 "!#$%&'*+-.^_`|~09az: tchars\r\n"
                                 "\r\n");
  if (r == NULL) return;
  CHECK(r->nheaders == 6);
  CHECK_STR(r->headers[0].name, "x-spaces");
  CHECK_STR(vr_http_header_get(r, "x-spaces"), "padded value");
  CHECK_STR(vr_http_header_get(r, "x-empty"), "");
  CHECK_STR(vr_http_header_get(r, "x-dup"), "first");
  CHECK_STR(r->headers[3].value, "second");
  CHECK_STR(vr_http_header_get(r, "x-opaque"), "caf\xc3\xa9 \"quoted\" (and\ttab)");
  CHECK_STR(vr_http_header_get(r, "!#$%&'*+-.^_`|~09az"), "tchars");
  CHECK(vr_http_header_get(r, "X-Dup") == NULL); /* names are given lower-case */
  CHECK(vr_http_header_get(NULL, "x") == NULL);
  vr_http_request_free(r);

  /* empty lines before the request line are skipped, up to 8 */
  r = parse_one("\r\n\n\r\nGET / HTTP/1.1\r\n\r\n");
  if (r != NULL) vr_http_request_free(r);
  check_error(NULL, "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n", 400,
              "too many empty lines");
}

static void test_bodies(void) {
  vr_http_request *r;
  /* Content-Length repeated with equal values */
  check_outcome(NULL,
                "POST /a HTTP/1.1\r\nContent-Length: 5, 5\r\nContent-Length: 005\r\n\r\nhello",
                "REQ POST /a path=/a query= 1.1 ka=1 ec=0 [content-length: 5, 5] "
                "[content-length: 005] body 5:hello\nEND in_request=0 wants_continue=0\n");
  check_outcome(NULL, "POST /a HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
                "REQ POST /a path=/a query= 1.1 ka=1 ec=0 [content-length: 0] body 0:\n"
                "END in_request=0 wants_continue=0\n");
  /* a body with a NUL and a CRLF inside */
  {
    static const char in[] = "PUT /b HTTP/1.1\r\nContent-Length: 6\r\n\r\na\0b\r\nc";
    vr_http_parser *p = vr_http_parser_new(NULL);
    size_t used = 0;
    CHECK(vr_http_parser_feed(p, in, sizeof in - 1, &used) == VR_HTTP_REQUEST);
    CHECK(used == sizeof in - 1);
    r = vr_http_parser_take(p);
    CHECK(r != NULL && r->body_len == 6 && memcmp(r->body, "a\0b\r\nc", 7) == 0);
    vr_http_request_free(r);
    vr_http_parser_free(p);
  }

  /* chunked: extensions, upper-case hex and leading zeros, bare LFs, trailers */
  check_outcome(NULL,
                "POST /c HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n"
                "5;ext=1\r\nhello\r\n"
                "5 ; name=\"quoted;value\";flag\r\n worl\r\n"
                "00000A\r\nd, and mor\r\n"
                "1\nE\n"
                "0;last\r\n"
                "X-Checksum: abc\r\n"
                "Other: 1\r\n"
                "\r\n",
                "REQ POST /c path=/c query= 1.1 ka=1 ec=0 [transfer-encoding: Chunked] "
                "body 21:hello world, and morE\nEND in_request=0 wants_continue=0\n");
  check_outcome(NULL, "POST /c HTTP/1.1\r\nTransfer-Encoding: , chunked\r\n\r\n0\r\n\r\n",
                "REQ POST /c path=/c query= 1.1 ka=1 ec=0 [transfer-encoding: , chunked] body 0:\n"
                "END in_request=0 wants_continue=0\n");
  /* a GET with neither has no body; the next bytes are the next request */
  check_outcome(NULL, "GET /a HTTP/1.1\r\n\r\nhello",
                "REQ GET /a path=/a query= 1.1 ka=1 ec=0 body 0:\n"
                "END in_request=1 wants_continue=0\n");
}

static void test_pipelining(void) {
#define ONE   "GET /one HTTP/1.1\r\nHost: a\r\n\r\n"
#define TWO   "POST /two HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
#define EMPTY "\r\n" /* an empty line between requests is skipped */
#define THREE "POST /three HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n"
  static const char in[] = ONE TWO EMPTY THREE "GET /four HTTP/1.0\r\n";
  const size_t ends[] = {sizeof ONE - 1, sizeof ONE TWO - 1, sizeof ONE TWO EMPTY THREE - 1};
#undef ONE
#undef TWO
#undef EMPTY
#undef THREE
  vr_http_parser *p = vr_http_parser_new(NULL);
  const char *paths[] = {"/one", "/two", "/three"};
  const char *bodies[] = {"", "abc", "xy"};
  size_t at = 0, used = 0, i;
  text t;
  for (i = 0; i < 3; i++) {
    vr_http_request *r;
    CHECK(vr_http_parser_feed(p, in + at, sizeof in - 1 - at, &used) == VR_HTTP_REQUEST);
    CHECK(at + used == ends[i]);
    /* a request waiting to be taken: nothing more is used */
    CHECK(vr_http_parser_feed(p, in + at + used, 5, &used) == VR_HTTP_REQUEST && used == 0);
    CHECK(vr_http_parser_in_request(p) == 0);
    r = vr_http_parser_take(p);
    CHECK(vr_http_parser_take(p) == NULL);
    CHECK(r != NULL);
    if (r == NULL) break;
    CHECK_STR(r->path, paths[i]);
    CHECK_STR(r->body, bodies[i]);
    vr_http_request_free(r);
    at = ends[i];
  }
  CHECK(vr_http_parser_feed(p, in + at, sizeof in - 1 - at, &used) == VR_HTTP_NEED_MORE);
  CHECK(used == sizeof in - 1 - at);
  CHECK(vr_http_parser_in_request(p) == 1);
  vr_http_parser_free(p); /* frees the request being read */

  t = check_splits(NULL, in);
  CHECK_CONTAINS(t.data, "REQ POST /three");
  CHECK_CONTAINS(t.data, "END in_request=1");
  text_free(&t);
}

static void test_keep_alive(void) {
  struct {
    const char *request;
    int keep_alive;
  } cases[] = {
      {"GET / HTTP/1.1\r\n\r\n", 1},
      {"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 0},
      {"GET / HTTP/1.1\r\nConnection: Keep-Alive, CLOSE\r\n\r\n", 0},
      {"GET / HTTP/1.1\r\nConnection: upgrade\r\nConnection: close\r\n\r\n", 0},
      {"GET / HTTP/1.1\r\nConnection: closed\r\n\r\n", 1},
      {"GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n", 1},
      {"GET / HTTP/1.0\r\n\r\n", 0},
      {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 1},
      {"GET / HTTP/1.0\r\nconnection: te, KEEP-ALIVE\r\n\r\n", 1},
      {"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", 0},
      {"GET / HTTP/1.0\r\nKeep-Alive: timeout=5\r\n\r\n", 0},
  };
  size_t i;
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    vr_http_request *r = parse_one(cases[i].request);
    if (r == NULL) continue;
    CHECK(r->keep_alive == cases[i].keep_alive);
    if (r->keep_alive != cases[i].keep_alive) fprintf(stderr, "  case %zu\n", i);
    vr_http_request_free(r);
  }
}

static void test_expect_continue(void) {
  static const char head[] = "PUT /x HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\n";
  static const char chunked[] =
      "PUT /x HTTP/1.1\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n";
  vr_http_parser *p = vr_http_parser_new(NULL);
  vr_http_request *r;
  size_t used = 0;
  CHECK(vr_http_parser_wants_continue(p) == 0);
  CHECK(vr_http_parser_feed(p, head, sizeof head - 2, &used) == VR_HTTP_NEED_MORE);
  CHECK(vr_http_parser_wants_continue(p) == 0); /* the header section is not complete */
  CHECK(vr_http_parser_feed(p, "\n", 1, &used) == VR_HTTP_NEED_MORE);
  CHECK(vr_http_parser_wants_continue(p) == 1);
  CHECK(vr_http_parser_feed(p, "o", 1, &used) == VR_HTTP_NEED_MORE);
  CHECK(vr_http_parser_wants_continue(p) == 0);
  CHECK(vr_http_parser_feed(p, "k", 1, &used) == VR_HTTP_REQUEST);
  CHECK(vr_http_parser_wants_continue(p) == 0);
  r = vr_http_parser_take(p);
  CHECK(r != NULL && r->expect_continue == 1 && strcmp(r->body, "ok") == 0);
  vr_http_request_free(r);

  CHECK(vr_http_parser_feed(p, chunked, sizeof chunked - 1, &used) == VR_HTTP_NEED_MORE);
  CHECK(vr_http_parser_wants_continue(p) == 1);
  CHECK(vr_http_parser_feed(p, "0\r\n\r\n", 5, &used) == VR_HTTP_REQUEST);
  r = vr_http_parser_take(p);
  CHECK(r != NULL && r->expect_continue == 1 && r->body_len == 0);
  vr_http_request_free(r);
  vr_http_parser_free(p);

  /* no body: nothing to wait for; HTTP/1.0 ignores the expectation; others are not 100 */
  check_outcome(NULL, "GET / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
                "REQ GET / path=/ query= 1.1 ka=1 ec=1 [expect: 100-continue] body 0:\n"
                "END in_request=0 wants_continue=0\n");
  check_outcome(NULL, "PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
                "END in_request=1 wants_continue=0\n");
  check_outcome(NULL, "PUT / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
                "END in_request=1 wants_continue=1\n");
  check_outcome(NULL, "PUT / HTTP/1.1\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\n",
                "END in_request=1 wants_continue=0\n");
}

static void test_idle_and_mid_request(void) {
  vr_http_parser *p = vr_http_parser_new(NULL);
  vr_http_request *r;
  size_t used = 0;
  const char *why = NULL;
  CHECK(vr_http_parser_in_request(p) == 0);
  CHECK(vr_http_parser_error(p, &why) == 0 && why != NULL && *why == '\0');
  CHECK(vr_http_parser_feed(p, "", 0, &used) == VR_HTTP_NEED_MORE && used == 0);
  CHECK(vr_http_parser_feed(p, NULL, 0, &used) == VR_HTTP_NEED_MORE && used == 0);
  CHECK(vr_http_parser_feed(p, "\r", 1, &used) == VR_HTTP_NEED_MORE && used == 1);
  CHECK(vr_http_parser_in_request(p) == 0);
  CHECK(vr_http_parser_feed(p, "\n", 1, &used) == VR_HTTP_NEED_MORE);
  CHECK(vr_http_parser_in_request(p) == 0);
  CHECK(vr_http_parser_feed(p, "G", 1, &used) == VR_HTTP_NEED_MORE);
  CHECK(vr_http_parser_in_request(p) == 1);
  CHECK(vr_http_parser_feed(p, "ET / HTTP/1.1\r\n", 15, &used) == VR_HTTP_NEED_MORE);
  CHECK(vr_http_parser_in_request(p) == 1);
  CHECK(vr_http_parser_take(p) == NULL);
  CHECK(vr_http_parser_feed(p, "\r\n", 2, &used) == VR_HTTP_REQUEST && used == 2);
  CHECK(vr_http_parser_in_request(p) == 0);
  r = vr_http_parser_take(p);
  CHECK(r != NULL);
  vr_http_request_free(r);
  CHECK(vr_http_parser_in_request(p) == 0);
  CHECK(vr_http_parser_feed(p, "\r\r", 2, &used) == VR_HTTP_ERROR);
  CHECK(vr_http_parser_in_request(p) == 1);
  CHECK(vr_http_parser_error(p, &why) == 400);
  CHECK_CONTAINS(why, "CR without LF");
  vr_http_parser_free(p);
  vr_http_parser_free(NULL);
  CHECK(vr_http_parser_feed(NULL, "x", 1, &used) == VR_HTTP_ERROR && used == 0);
  CHECK(vr_http_parser_take(NULL) == NULL && vr_http_parser_in_request(NULL) == 0);
  CHECK(vr_http_parser_wants_continue(NULL) == 0 && vr_http_parser_error(NULL, NULL) == 0);
}

/* ---- errors and limits ----------------------------------------------------------------------- */

static void test_errors(void) {
  /* request line */
  check_error(NULL, "G@T / HTTP/1.1\r\n\r\n", 400, "method");
  check_error(NULL, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400, "method");
  check_error(NULL, " GET / HTTP/1.1\r\n\r\n", 400, "malformed request line");
  check_error(NULL, "GET  / HTTP/1.1\r\n\r\n", 400, "malformed request line");
  check_error(NULL, "GET / HTTP/1.1 \r\n\r\n", 400, "malformed HTTP version");
  check_error(NULL, "GET /\r\n\r\n", 400, "malformed request line");
  check_error(NULL, "GET\r\n\r\n", 400, "malformed request line");
  check_error(NULL, "GET / http/1.1\r\n\r\n", 400, "malformed HTTP version");
  check_error(NULL, "GET / HTTP/1.10\r\n\r\n", 400, "malformed HTTP version");
  check_error(NULL, "GET / HTTP/1\r\n\r\n", 400, "malformed HTTP version");
  check_error(NULL, "GET / HTTP/1.1\rX\n\r\n", 400, "malformed HTTP version");
  check_error(NULL, "GET / \r\n\r\n", 400, "malformed HTTP version");
  check_error(NULL, "GET /\r HTTP/1.1\r\n\r\n", 400, "malformed request line");
  check_error(NULL, "GET /a#frag HTTP/1.1\r\n\r\n", 400, "fragment");
  check_error(NULL, "GET /a\tb HTTP/1.1\r\n\r\n", 400, "bad character in the request target");
  check_error(NULL, "GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n", 400, "bad character");
  check_error(NULL, "GET /a%zz HTTP/1.1\r\n\r\n", 400, "bad percent-escape in the path");
  check_error(NULL, "GET /a%2 HTTP/1.1\r\n\r\n", 400, "bad percent-escape");
  check_error(NULL, "GET /a%00b HTTP/1.1\r\n\r\n", 400, "bad percent-escape");
  check_error(NULL, "GET api/v1 HTTP/1.1\r\n\r\n", 400, "bad request target");
  check_error(NULL, "CONNECT example.com:443 HTTP/1.1\r\n\r\n", 400, "bad request target");
  check_error(NULL, "GET http:///x HTTP/1.1\r\n\r\n", 400, "bad request target");
  check_error(NULL, "GET ftp://h/x HTTP/1.1\r\n\r\n", 400, "bad request target");
  check_error(NULL, "GET * HTTP/1.1\r\n\r\n", 400, "\"*\"");
  check_error(NULL, "GET / HTTP/2.0\r\n\r\n", 505, "HTTP version not supported");
  check_error(NULL, "GET / HTTP/1.2\r\n\r\n", 505, "not supported");
  check_error(NULL, "GET / HTTP/0.9\r\n\r\n", 505, "not supported");

  /* header fields */
  check_error(NULL, "GET / HTTP/1.1\r\nHo(st: a\r\n\r\n", 400, "bad header field name");
  check_error(NULL, "GET / HTTP/1.1\r\n: a\r\n\r\n", 400, "bad header field name");
  check_error(NULL, "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, "whitespace before the colon");
  check_error(NULL, "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400, "whitespace before the colon");
  check_error(NULL, "GET / HTTP/1.1\r\nNo colon here\r\n\r\n", 400, "without a colon");
  check_error(NULL, "GET / HTTP/1.1\r\nX-A: 1\r\n  folded\r\n\r\n", 400, "obsolete line folding");
  check_error(NULL, "GET / HTTP/1.1\r\n\tX-A: 1\r\n\r\n", 400, "obsolete line folding");
  check_error(NULL, "GET / HTTP/1.1\r\nX-A: 1\r2\r\n\r\n", 400, "CR without LF");
  check_error(NULL, "GET / HTTP/1.1\r\nX-A: 1\x01\r\n\r\n", 400, "bad character in a header");
  check_error(NULL, "GET / HTTP/1.1\r\nX-A: a\x7f\r\n\r\n", 400, "bad character in a header");
  {
    static const char nul[] = "GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n";
    text t = check_splits_n(NULL, nul, sizeof nul - 1, 4096);
    CHECK_CONTAINS(t.data, "ERR 400 bad character in a header field value");
    text_free(&t);
  }

  /* framing */
  check_error(NULL, "POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400, "bad Content-Length");
  check_error(NULL, "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, "bad Content-Length");
  check_error(NULL, "POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n", 400, "bad Content-Length");
  check_error(NULL, "POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", 400, "bad Content-Length");
  check_error(NULL, "POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", 400, "bad Content-Length");
  check_error(NULL, "POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", 400, "bad Content-Length");
  check_error(NULL, "POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\nhello", 400,
              "differing Content-Length");
  check_error(NULL, "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", 400,
              "differing Content-Length");
  check_error(NULL,
              "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
              "0\r\n\r\n",
              400, "both Transfer-Encoding and Content-Length");
  check_error(NULL, "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\n", 400,
              "both Transfer-Encoding and Content-Length");
  check_error(NULL, "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400,
              "HTTP/1.0");
  check_error(NULL, "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501,
              "transfer coding other than chunked");
  check_error(NULL, "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501,
              "other than chunked");
  check_error(NULL, "POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n", 501, "chunked");
  check_error(NULL, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400,
              "applied twice");
  check_error(NULL,
              "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
              400, "applied twice");
  check_error(NULL, "POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n", 400, "missing");

  /* chunk framing */
  check_error(NULL, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400,
              "bad chunk size");
  check_error(NULL, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", 400,
              "bad chunk size");
  check_error(NULL, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", 400,
              "bad chunk size");
  check_error(NULL, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5 x\r\n", 400,
              "bad chunk size");
  check_error(NULL, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", 400,
              "chunk data not followed by CRLF");
  check_error(NULL, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\r\n", 400,
              "chunk data not followed by CRLF");
  check_error(NULL,
              "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nbad\r\n\r\n",
              400, "without a colon");
}

static void test_limits(void) {
  vr_http_limits small = {16, 128, 3, 10};
  vr_http_parser *p;
  char *big;
  size_t used = 0, i, n;
  text t;

  /* 414: the target's limit, checked before the line ends */
  check_error(&small, "GET /1234567890123456 HTTP/1.1\r\n\r\n", 414, "request target too long");
  check_outcome(&small, "GET /123456789012345 HTTP/1.1\r\n\r\n",
                "REQ GET /123456789012345 path=/123456789012345 query= 1.1 ka=1 ec=0 body 0:\n"
                "END in_request=0 wants_continue=0\n");
  big = malloc(80000);
  memcpy(big, "GET /", 5);
  memset(big + 5, 'a', 80000 - 5);
  p = vr_http_parser_new(NULL);
  CHECK(vr_http_parser_feed(p, big, 80000, &used) == VR_HTTP_ERROR);
  CHECK(used == 4 + 8192); /* up to the byte past the default 8 KiB */
  CHECK(vr_http_parser_error(p, NULL) == 414);
  vr_http_parser_free(p);

  /* 431 by size: a header line that never ends is refused once past the limit */
  p = vr_http_parser_new(NULL);
  n = (size_t)snprintf(big, 80000, "GET / HTTP/1.1\r\nX-Big: ");
  memset(big + n, 'b', 80000 - n);
  CHECK(vr_http_parser_feed(p, big, 80000, &used) == VR_HTTP_ERROR);
  CHECK(vr_http_parser_error(p, NULL) == 431);
  CHECK(p->line_cap <= 65536 + 1);
  vr_http_parser_free(p);
  /* ... fed a byte at a time, the same, and the line buffer never outgrows the limit */
  p = vr_http_parser_new(NULL);
  for (i = 0; i < 80000; i++) {
    if (vr_http_parser_feed(p, big + i, 1, &used) != VR_HTTP_NEED_MORE) break;
  }
  CHECK(i == 65536 && vr_http_parser_error(p, NULL) == 431);
  CHECK(p->line_cap <= 65536 + 1);
  vr_http_parser_free(p);
  /* a long line's buffer is given back once its request is taken */
  p = vr_http_parser_new(NULL);
  n = (size_t)snprintf(big, 80000, "GET / HTTP/1.1\r\nX-Big: ");
  memset(big + n, 'b', 10000);
  memcpy(big + n + 10000, "\r\n\r\n", 4);
  CHECK(vr_http_parser_feed(p, big, n + 10004, &used) == VR_HTTP_REQUEST && used == n + 10004);
  CHECK(p->line_cap > 10000 && p->line_cap <= 65536 + 1);
  vr_http_request_free(vr_http_parser_take(p));
  CHECK(p->line == NULL && p->line_cap == 0);
  CHECK(vr_http_parser_feed(p, "GET / HTTP/1.1\r\n\r\n", 18, &used) == VR_HTTP_REQUEST);
  vr_http_request_free(vr_http_parser_take(p));
  vr_http_parser_free(p);
  /* the request line counts too, before its end */
  {
    vr_http_limits short_head = {100, 32, 0, 0};
    check_error(&short_head, "GET /0123456789012345678901234567890123456789", 431,
                "header section too large");
  }
  check_error(&small,
              "GET /1 HTTP/1.1\r\nX-A: 0123456789012345678901234567890123456789\r\n"
              "X-B: 0123456789012345678901234567890123456789\r\nX-C: 0123456789\r\n\r\n",
              431, "header section too large");
  /* exactly at the limit (128 bytes with the final CRLF) is fine, a byte more is not */
  n = (size_t)snprintf(big, 80000, "GET /1 HTTP/1.1\r\nX-A: ");
  memset(big + n, 'v', 102);
  memcpy(big + n + 102, "\r\n\r\n", 5);
  CHECK(strlen(big) == 128);
  t = check_splits(&small, big);
  CHECK_CONTAINS(t.data, "vvvvv] body 0:\nEND in_request=0");
  text_free(&t);
  memset(big + n, 'v', 103);
  memcpy(big + n + 103, "\r\n\r\n", 5);
  check_error(&small, big, 431, "header section too large");

  /* 431 by count */
  check_error(&small, "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", 431,
              "too many header fields");
  check_outcome(&small, "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n",
                "REQ GET / path=/ query= 1.1 ka=1 ec=0 [a: 1] [b: 2] [c: 3] body 0:\n"
                "END in_request=0 wants_continue=0\n");
  n = (size_t)snprintf(big, 80000, "GET / HTTP/1.1\r\n");
  for (i = 0; i < 101; i++) n += (size_t)snprintf(big + n, 80000 - n, "X-%zu: v\r\n", i);
  n += (size_t)snprintf(big + n, 80000 - n, "\r\n");
  t = check_splits_n(NULL, big, n, 0);
  CHECK_STR(t.data, "ERR 431 too many header fields\n");
  text_free(&t);
  /* 100 are fine */
  n = (size_t)snprintf(big, 80000, "GET / HTTP/1.1\r\n");
  for (i = 0; i < 100; i++) n += (size_t)snprintf(big + n, 80000 - n, "X-%zu: v\r\n", i);
  n += (size_t)snprintf(big + n, 80000 - n, "\r\n");
  t = check_splits_n(NULL, big, n, 0);
  CHECK_CONTAINS(t.data, "[x-99: v] body 0:\nEND");
  text_free(&t);

  /* 413 by Content-Length, before the body arrives, and by chunks as their sizes arrive */
  check_error(&small, "POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", 413, "body too large");
  check_error(NULL, "POST / HTTP/1.1\r\nContent-Length: 8388609\r\n\r\n", 413, "body too large");
  check_error(NULL, "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999999\r\n\r\n", 413,
              "body too large");
  check_error(NULL,
              "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999999, "
              "99999999999999999999999999\r\n\r\n",
              413, "body too large");
  check_outcome(&small, "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789",
                "REQ POST / path=/ query= 1.1 ka=1 ec=0 [content-length: 10] body 10:0123456789\n"
                "END in_request=0 wants_continue=0\n");
  check_error(&small, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n012345\r\n5\r\n",
              413, "body too large");
  check_outcome(&small,
                "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n012345\r\n4\r\n6789\r\n"
                "0\r\n\r\n",
                "REQ POST / path=/ query= 1.1 ka=1 ec=0 [transfer-encoding: chunked] "
                "body 10:0123456789\nEND in_request=0 wants_continue=0\n");
  check_error(NULL,
              "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
              "ffffffffffffffffffffffffffffffffffff\r\n",
              413, "body too large");
  check_outcome(NULL,
                "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                "000000000000000000000000000000000000000000000000000000000001\r\nx\r\n0\r\n\r\n",
                "REQ POST / path=/ query= 1.1 ka=1 ec=0 [transfer-encoding: chunked] body 1:x\n"
                "END in_request=0 wants_continue=0\n");

  /* a chunk-size line's extensions are bounded; trailers count against the header limit */
  n = (size_t)snprintf(big, 80000, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;");
  memset(big + n, 'e', 5000);
  n += 5000;
  t = check_splits_n(NULL, big, n, 0);
  CHECK_STR(t.data, "ERR 400 chunk size line too long\n");
  text_free(&t);
  check_error(&small,
              "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
              "X-T: 0123456789012345678901234567890123456789012345678901234567890123456789"
              "0123456789012345678901234567890123456789012345678901234567890123456789\r\n\r\n",
              431, "trailer section too large");

  /* a large announced body gets memory as it arrives */
  p = vr_http_parser_new(NULL);
  n = (size_t)snprintf(big, 80000, "PUT / HTTP/1.1\r\nContent-Length: 8388608\r\n\r\n0123456789");
  CHECK(vr_http_parser_feed(p, big, n, &used) == VR_HTTP_NEED_MORE && used == n);
  CHECK(p->body_cap == 1024 && p->req->body_len == 10);
  vr_http_parser_free(p);

  /* 0 in a field: its default */
  {
    vr_http_limits zero = {0, 0, 0, 0};
    p = vr_http_parser_new(&zero);
    CHECK(p->limits.max_target == 8192 && p->limits.max_header_bytes == 65536);
    CHECK(p->limits.max_headers == 100 && p->limits.max_body == 8u << 20);
    vr_http_parser_free(p);
  }
  free(big);
}

/* A large request fed one byte at a time: the parser keeps its place, so this is linear. */
static void test_bytewise_large(void) {
  size_t body = 2u << 20, head, i, n, used = 0;
  vr_http_limits lim = {0, 0, 0, 4u << 20};
  char *in = malloc(body + 70000);
  vr_http_parser *p = vr_http_parser_new(&lim);
  vr_http_request *r = NULL;
  head = (size_t)snprintf(in, 70000, "PUT /big HTTP/1.1\r\nContent-Length: %zu\r\n", body);
  for (i = 0; i < 90; i++) {
    n = (size_t)snprintf(in + head, 70000 - head, "X-Filler-%zu: ", i);
    memset(in + head + n, 'f', 600);
    memcpy(in + head + n + 600, "\r\n", 2);
    head += n + 602;
  }
  memcpy(in + head, "\r\n", 2);
  head += 2;
  CHECK(head < 65536);
  for (i = 0; i < body; i++) in[head + i] = (char)('a' + i % 26);
  n = head + body;
  for (i = 0; i < n; i++) {
    vr_http_status st = vr_http_parser_feed(p, in + i, 1, &used);
    CHECK(used == 1);
    if (st != VR_HTTP_NEED_MORE) {
      CHECK(st == VR_HTTP_REQUEST && i == n - 1);
      break;
    }
  }
  r = vr_http_parser_take(p);
  CHECK(r != NULL && r->nheaders == 91 && r->body_len == body);
  if (r != NULL) CHECK(memcmp(r->body, in + head, body) == 0 && r->body[body] == '\0');
  vr_http_request_free(r);
  vr_http_parser_free(p);
  free(in);
}

/* ---- query strings --------------------------------------------------------------------------- */

static void test_query(void) {
  char out[64], tiny[4];
  const char *q = "labelSelector=app%3Dweb%2Ctier+in+(a%2Cb)&limit=500&&watch&empty=&a+b=c%20d"
                  "&field%53elector=x&limit=600&bad=%zz&nul=%00&%zz=1";
  CHECK(vr_http_query_get(q, "labelSelector", out, sizeof out) == 1);
  CHECK_STR(out, "app=web,tier in (a,b)");
  CHECK(vr_http_query_get(q, "limit", out, sizeof out) == 1); /* first match wins */
  CHECK_STR(out, "500");
  CHECK(vr_http_query_get(q, "watch", out, sizeof out) == 1);
  CHECK_STR(out, "");
  CHECK(vr_http_query_get(q, "empty", out, sizeof out) == 1);
  CHECK_STR(out, "");
  CHECK(vr_http_query_get(q, "a b", out, sizeof out) == 1);
  CHECK_STR(out, "c d");
  CHECK(vr_http_query_get(q, "fieldSelector", out, sizeof out) == 1);
  CHECK_STR(out, "x");
  CHECK(vr_http_query_get(q, "bad", out, sizeof out) == -1);
  CHECK_STR(out, "");
  CHECK(vr_http_query_get(q, "nul", out, sizeof out) == -1);
  CHECK(vr_http_query_get(q, "absent", out, sizeof out) == 0);
  CHECK(vr_http_query_get(q, "lim", out, sizeof out) == 0);
  CHECK(vr_http_query_get(q, "", out, sizeof out) == 0);
  CHECK(vr_http_query_get(q, "labelSelector", tiny, sizeof tiny) == -1);
  CHECK(vr_http_query_get(q, "limit", tiny, sizeof tiny) == 1);
  CHECK_STR(tiny, "500");
  CHECK(vr_http_query_get(q, "limit", tiny, 3) == -1);
  CHECK(vr_http_query_get(q, "limit", tiny, 0) == -1);
  CHECK(vr_http_query_get("a=1&&b=2", "b", out, sizeof out) == 1);
  CHECK_STR(out, "2");
  CHECK(vr_http_query_get("a", "a", out, sizeof out) == 1);
  CHECK_STR(out, "");
  CHECK(vr_http_query_get("a=", "a", out, sizeof out) == 1);
  CHECK_STR(out, "");
  CHECK(vr_http_query_get("=v", "", out, sizeof out) == 1);
  CHECK_STR(out, "v");
  CHECK(vr_http_query_get("a=1=2", "a", out, sizeof out) == 1);
  CHECK_STR(out, "1=2");
  CHECK(vr_http_query_get("a=%zz&a=2", "a", out, sizeof out) == -1); /* the first one counts */
  CHECK(vr_http_query_get("%00=1", "", out, sizeof out) == 0);
  CHECK(vr_http_query_get("", "a", out, sizeof out) == 0);
  CHECK(vr_http_query_get("&&", "a", out, sizeof out) == 0);
  CHECK(vr_http_query_get(NULL, "a", out, sizeof out) == 0);

  CHECK(vr_http_decode("a+b%2fc%2C", 10, 0, out, sizeof out) == 6);
  CHECK_STR(out, "a+b/c,");
  CHECK(vr_http_decode("a+b%2fc%2C", 10, 1, out, sizeof out) == 6);
  CHECK_STR(out, "a b/c,");
  CHECK(vr_http_decode("abc", 2, 0, out, sizeof out) == 2);
  CHECK_STR(out, "ab");
  CHECK(vr_http_decode("", 0, 0, out, sizeof out) == 0);
  CHECK_STR(out, "");
  CHECK(vr_http_decode("abc", 3, 0, out, 4) == 3);
  CHECK(vr_http_decode("abc", 3, 0, out, 3) == -1);
  CHECK_STR(out, "");
  CHECK(vr_http_decode("abc", 3, 0, out, 0) == -1);
  CHECK(vr_http_decode("%", 1, 0, out, sizeof out) == -1);
  CHECK(vr_http_decode("%4", 2, 0, out, sizeof out) == -1);
  CHECK(vr_http_decode("%41", 2, 0, out, sizeof out) == -1); /* the escape is cut by n */
  CHECK(vr_http_decode("%4g", 3, 0, out, sizeof out) == -1);
  CHECK(vr_http_decode("%g4", 3, 0, out, sizeof out) == -1);
  CHECK(vr_http_decode("a%00", 4, 0, out, sizeof out) == -1);
  CHECK(vr_http_decode("a\0b", 3, 0, out, sizeof out) == -1);
  CHECK(vr_http_decode("%e2%82%AC", 9, 0, out, sizeof out) == 3);
  CHECK_STR(out, "\xe2\x82\xac");
}

/* ---- memory failure -------------------------------------------------------------------------- */

/* After a failed allocation the outcome is what normally comes out up to that point, then a 500,
 * or (when the failure hit the parser's creation) no parser. */
static void check_failure_outcome(const text *t, const text *normal) {
  const char *err = strstr(t->data, "ERR 500 out of memory\n");
  if (strcmp(t->data, "NEW failed\n") == 0) return;
  CHECK(err != NULL);
  if (err == NULL) return;
  CHECK((size_t)(err - t->data) <= normal->len &&
        memcmp(t->data, normal->data, (size_t)(err - t->data)) == 0);
  CHECK(err[strlen("ERR 500 out of memory\n")] == '\0');
}

/* Feeds in whole (bytewise 0) or byte by byte with the k-th allocation failing, and checks the
 * outcome; returns whether an allocation failed. */
static int run_failing(const char *in, const text *normal, long k, int bytewise) {
  text t = {0};
  long failed_before = allocations_failed;
  int failed;
  allocations_left = k;
  if (bytewise)
    run_bytewise(NULL, in, strlen(in), &t);
  else
    run_whole(NULL, in, strlen(in), &t);
  allocations_left = -1;
  failed = allocations_failed != failed_before;
  if (failed)
    check_failure_outcome(&t, normal);
  else
    CHECK(text_equal(&t, normal));
  text_free(&t);
  return failed;
}

static void test_allocation_failure(void) {
  const char *inputs[] = {
      "GET /api/v1/nodes?limit=500 HTTP/1.1\r\nHost: a\r\nAccept: application/json\r\n\r\n"
      "POST /p%20q HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
      "PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n"
      "F: 6\r\nG: 7\r\nH: 8\r\nI: 9\r\n\r\n3;x\r\nabc\r\n0\r\nT: 1\r\n\r\n"
      "GET / HTTP/1.1\r\n",
      "OPTIONS * HTTP/1.0\r\n\r\n",
  };
  size_t i;
  for (i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
    text normal = {0};
    long k;
    run_whole(NULL, inputs[i], strlen(inputs[i]), &normal);
    for (k = 0; k <= 1000; k++) {
      int whole_failed = run_failing(inputs[i], &normal, k, 0);
      int bytewise_failed = run_failing(inputs[i], &normal, k, 1);
      if (!whole_failed && !bytewise_failed) break;
    }
    CHECK(k > 5 && k <= 1000);
    text_free(&normal);
  }
}

/* ---- fuzzing --------------------------------------------------------------------------------- */

static uint32_t rng_state = 0x12345678u;

static uint32_t rng(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 17;
  rng_state ^= rng_state << 5;
  return rng_state;
}

/* Mutated and truncated requests, fed whole, byte by byte and split at random points: nothing
 * may crash or leak, and the outcomes must agree. */
static void test_fuzz(void) {
  static const char *seeds[] = {
      "GET /api/v1/nodes?limit=500 HTTP/1.1\r\nHost: a\r\nAccept: application/json\r\n\r\n",
      "PATCH /api/v1/nodes/n1 HTTP/1.1\r\nContent-Type: application/merge-patch+json\r\n"
      "Content-Length: 11\r\n\r\n{\"a\":\"b\"}\r\n",
      "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
      "4;e=1\r\nabcd\r\n10\r\n0123456789abcdef\r\n0\r\nT: v\r\n\r\n",
      "GET http://h:1/p%41th?q=%3D HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
      "OPTIONS * HTTP/1.1\r\n\r\n",
      "\r\nGET / HTTP/1.1\nX: 1\n\nGET /2 HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabc",
  };
  static const char interesting[] = "\r\n :;,%%0123456789aAfFgG\t#?/+*\x00\x7f\x80\xff-";
  char buf[1024];
  vr_http_limits small = {12, 96, 4, 24};
  int iter;
  for (iter = 0; iter < 4000; iter++) {
    const char *seed = seeds[rng() % (sizeof seeds / sizeof seeds[0])];
    size_t n = strlen(seed), m, k, ncuts = 0;
    size_t cuts[8];
    int mutations = 1 + (int)(rng() % 4);
    const vr_http_limits *limits = rng() % 4 == 0 ? &small : NULL;
    text whole = {0}, other = {0};
    memcpy(buf, seed, n);
    for (m = 0; m < (size_t)mutations; m++) {
      size_t at;
      if (n == 0) break;
      at = rng() % n;
      switch (rng() % 6) {
      case 0:
        buf[at] = (char)(rng() & 0xff);
        break;
      case 1:
        buf[at] = interesting[rng() % (sizeof interesting - 1)];
        break;
      case 2: /* delete a byte */
        memmove(buf + at, buf + at + 1, n - at - 1);
        n--;
        break;
      case 3: /* insert a byte */
        if (n + 1 < sizeof buf) {
          memmove(buf + at + 1, buf + at, n - at);
          buf[at] = interesting[rng() % (sizeof interesting - 1)];
          n++;
        }
        break;
      case 4: { /* repeat a span */
        size_t len = 1 + rng() % 40;
        if (at + len > n) len = n - at;
        if (n + len < sizeof buf) {
          memmove(buf + at + len, buf + at, n - at);
          n += len;
        }
        break;
      }
      default:
        n = at;
        break; /* truncate */
      }
    }
    run_whole(limits, buf, n, &whole);
    run_bytewise(limits, buf, n, &other);
    CHECK(text_equal(&whole, &other));
    text_free(&other);
    if (n > 1) {
      ncuts = 1 + rng() % 8;
      for (k = 0; k < ncuts; k++) cuts[k] = 1 + rng() % (n - 1);
      /* sort the cuts (duplicates make empty pieces, which is fine) */
      for (k = 1; k < ncuts; k++) {
        size_t v = cuts[k], j = k;
        while (j > 0 && cuts[j - 1] > v) {
          cuts[j] = cuts[j - 1];
          j--;
        }
        cuts[j] = v;
      }
      run_pieces(limits, buf, n, cuts, ncuts, &other);
      CHECK(text_equal(&whole, &other));
      if (!text_equal(&whole, &other))
        fprintf(stderr, "fuzz %d:\n%s\nvs\n%s\n", iter, whole.data, other.data);
      text_free(&other);
    }
    text_free(&whole);
  }
}

int main(void) {
  test_simple_get();
  test_kubectl_requests();
  test_targets();
  test_header_fields();
  test_bodies();
  test_pipelining();
  test_keep_alive();
  test_expect_continue();
  test_idle_and_mid_request();
  test_errors();
  test_limits();
  test_bytewise_large();
  test_query();
  test_allocation_failure();
  test_fuzz();
  return CHECK_DONE();
}
