/* kube_client.c: the HTTP client of vmrun's Kubernetes REST backend (see kube_client.h): libcurl's
 * multi interface driven by the libuv loop (a uv_poll_t per socket curl asks for, one uv_timer_t
 * for curl's timeouts, one for retries and stream deadlines), retries with backoff, streams split
 * into lines.
 *
 * It may not: start threads of its own (libcurl may resolve host names on one of its own),
 * busy-loop on curl_multi_perform, run host commands, follow redirects, turn on CURLOPT_VERBOSE,
 * or put a token, password, key or certificate into an error message. Secrets it copies are
 * wiped before they are freed (libcurl's own copies of header lines are outside its reach). No
 * Lua here. */
#include "kube_client.h"

#include "secret.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef VMRUN_VERSION
#define VMRUN_VERSION "0"
#endif

#define DEFAULT_MAX_BODY ((size_t)256 << 20)
#define TOKEN_FILE_MAX   65536
#define MAX_SECONDS      1e7 /* longer waits are clamped (no float-to-integer overflow) */
#define JITTER           0.2 /* a retry waits up to 20 % longer than its backoff */

enum { R_WAITING, R_RUNNING, R_DONE };

typedef struct kc_buf {
  char *data;
  size_t len, cap;
} kc_buf;

typedef struct kc_sock {
  uv_poll_t poll;
  curl_socket_t fd;
  vr_kube_client *client;
  struct kc_sock *prev, *next;
} kc_sock;

struct vr_kube_request {
  vr_kube_client *client;
  vr_kube_request *prev, *next; /* in the client's list while not done, or done but attached */
  int state;
  char *method, *where, *url, *content_type, *body;
  size_t body_len;
  const char *invalid; /* why the spec cannot be sent (reported by the first attempt) */
  int is_get, retry_writes, resend_on_drop, no_retry_429, stream;
  double timeout;
  vr_kube_line_cb on_line;
  vr_kube_done_cb on_done;
  void *data;
  uint64_t due; /* waiting: loop time of the next attempt; running stream: header deadline (0) */
  int attempts;
  /* the current (or last) attempt */
  CURL *easy;
  struct curl_slist *headers;
  char errbuf[CURL_ERROR_SIZE];
  kc_buf resp, line;
  int decided, lines; /* stream: the status is known; the body is split into lines (2xx) */
  long retry_after;   /* seconds, -1 when the answer had none */
  char ctype[128];
  int have_ctype;
  int stopped;      /* on_line asked to end the stream */
  int held;         /* attempt_done delivers the last line: a cancel must not free r */
  const char *fail; /* a callback aborted the transfer: why */
  char failbuf[96];
  char error[512];
};

struct vr_kube_client {
  uv_loop_t *loop;
  CURLM *multi;
  CURLSH *share;
  uv_timer_t curl_timer, sched;
  int handles_open;
  kc_sock *socks;
  vr_kube_request *head, *tail;
  int busy;    /* loop callbacks of this client on the stack */
  int in_curl; /* inside curl_multi_socket_action: no easy handle may be removed */
  int closing, torn_down;
  /* options */
  double timeout, backoff_initial, backoff_max;
  int max_attempts;
  uint64_t rng;
  size_t max_body;
  char *user_agent;
  /* connection */
  int https, insecure;
  char *url_base;                /* scheme://host:port/prefix the paths are appended to */
  struct curl_slist *connect_to; /* tls-server-name: "name:port:host:port" (CURLOPT_CONNECT_TO) */
  char *host_line; /* tls-server-name: "Host: host:port" (the server URL's, as Go sends it) */
  char *proxy_url;
  char *ca_file, *ca_pem, *cert_file, *cert_pem, *key_file, *key_pem;
  size_t ca_pem_len, cert_pem_len, key_pem_len;
  /* credentials (secret) */
  char *token, *exec_token, *token_file, *basic_line, *password;
};

/* --- small helpers ------------------------------------------------------------------------- */

static char *dup_n(const char *s, size_t n) {
  char *d = malloc(n + 1);
  if (d == NULL) return NULL;
  if (n) memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

/* NULL stays NULL; *ok becomes 0 when out of memory. */
static char *dup_opt(const char *s, int *ok) {
  char *d;
  if (s == NULL) return NULL;
  d = dup_n(s, strlen(s));
  if (d == NULL) *ok = 0;
  return d;
}

static char *dup_opt_n(const char *s, size_t n, int *ok) {
  char *d;
  if (s == NULL) return NULL;
  d = dup_n(s, n);
  if (d == NULL) *ok = 0;
  return d;
}

static char *concat(const char *a, const char *b, const char *c3) {
  size_t na = strlen(a), nb = strlen(b), nc = strlen(c3);
  char *d = malloc(na + nb + nc + 1);
  if (d == NULL) return NULL;
  memcpy(d, a, na);
  memcpy(d + na, b, nb);
  memcpy(d + na + nb, c3, nc + 1);
  return d;
}

static long ms_of(double seconds) {
  if (seconds > MAX_SECONDS) seconds = MAX_SECONDS;
  if (seconds < 0.001) return 1;
  return (long)(seconds * 1000.0 + 0.5);
}

/* Appends n bytes, keeping a NUL after them; -1 (and *why) past max or when out of memory. */
static int buf_add(kc_buf *b, const char *p, size_t n, size_t max, const char **why) {
  if (n > max || b->len > max - n) {
    *why = "too large";
    return -1;
  }
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 16384;
    char *grown;
    while (cap < b->len + n + 1) cap *= 2;
    grown = realloc(b->data, cap);
    if (grown == NULL) {
      *why = "out of memory";
      return -1;
    }
    b->data = grown;
    b->cap = cap;
  }
  if (n) memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
  return 0;
}

static uint64_t next_random(vr_kube_client *c) {
  uint64_t z = (c->rng += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* "prefix" + base64(a ":" b), NUL-terminated; the caller wipes and frees it. */
static char *basic_header(const char *user, const char *pass) {
  size_t nu = strlen(user), np = strlen(pass), n = nu + 1 + np, i, o;
  const char *prefix = "Authorization: Basic ";
  size_t pl = strlen(prefix);
  unsigned char *raw = malloc(n);
  char *out;
  if (raw == NULL) return NULL;
  memcpy(raw, user, nu);
  raw[nu] = ':';
  memcpy(raw + nu + 1, pass, np);
  out = malloc(pl + (n + 2) / 3 * 4 + 1);
  if (out == NULL) {
    vr_secret_free_n(raw, n);
    return NULL;
  }
  memcpy(out, prefix, pl);
  o = pl;
  for (i = 0; i < n; i += 3) {
    unsigned v = (unsigned)raw[i] << 16;
    if (i + 1 < n) v |= (unsigned)raw[i + 1] << 8;
    if (i + 2 < n) v |= raw[i + 2];
    out[o++] = b64chars[(v >> 18) & 63];
    out[o++] = b64chars[(v >> 12) & 63];
    out[o++] = i + 1 < n ? b64chars[(v >> 6) & 63] : '=';
    out[o++] = i + 2 < n ? b64chars[v & 63] : '=';
  }
  out[o] = '\0';
  vr_secret_free_n(raw, n);
  return out;
}

/* Reads a token file (at most TOKEN_FILE_MAX bytes) and trims surrounding whitespace. Returns 0
 * with *out (the caller wipes and frees it; NULL when the file holds only whitespace), or an
 * errno value. */
static int read_token_file(const char *path, char **out) {
  char *buf;
  size_t n = 0, start = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  *out = NULL;
  if (fd < 0) return errno;
  buf = malloc(TOKEN_FILE_MAX + 1);
  if (buf == NULL) {
    close(fd);
    return ENOMEM;
  }
  for (;;) {
    ssize_t got = read(fd, buf + n, TOKEN_FILE_MAX + 1 - n);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      int e = errno;
      close(fd);
      vr_secret_free_n(buf, TOKEN_FILE_MAX + 1);
      return e;
    }
    if (got == 0) break;
    n += (size_t)got;
    if (n > TOKEN_FILE_MAX) {
      close(fd);
      vr_secret_free_n(buf, TOKEN_FILE_MAX + 1);
      return EFBIG;
    }
  }
  close(fd);
  while (start < n && strchr(" \t\r\n", buf[start]) != NULL) start++;
  while (n > start && strchr(" \t\r\n", buf[n - 1]) != NULL) n--;
  if (n > start) {
    *out = dup_n(buf + start, n - start);
    if (*out == NULL) {
      vr_secret_free_n(buf, TOKEN_FILE_MAX + 1);
      return ENOMEM;
    }
  }
  vr_secret_free_n(buf, TOKEN_FILE_MAX + 1);
  return 0;
}

/* Copies a curl error text for a message: printable ASCII only, at most 160 bytes, and nothing
 * at all if a secret the client holds shows up in it. */
static void clean_detail(const vr_kube_client *c, const char *in, char *out, size_t outlen) {
  size_t i, o = 0;
  const char *secrets[3];
  secrets[0] = c->token;
  secrets[1] = c->exec_token;
  secrets[2] = c->password;
  out[0] = '\0';
  for (i = 0; i < 3; i++) {
    if (secrets[i] != NULL && secrets[i][0] != '\0' && strstr(in, secrets[i]) != NULL) return;
  }
  if (c->proxy_url != NULL && strchr(c->proxy_url, '@') != NULL && strstr(in, c->proxy_url)) return;
  for (i = 0; in[i] != '\0' && o + 1 < outlen && i < 160; i++) {
    unsigned char ch = (unsigned char)in[i];
    out[o++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : ' ';
  }
  while (o > 0 && out[o - 1] == ' ') o--;
  out[o] = '\0';
}

/* --- the request list ---------------------------------------------------------------------- */

static void link_req(vr_kube_client *c, vr_kube_request *r) {
  r->prev = c->tail;
  r->next = NULL;
  if (c->tail) {
    c->tail->next = r;
  } else {
    c->head = r;
  }
  c->tail = r;
}

static void unlink_req(vr_kube_client *c, vr_kube_request *r) {
  if (r->prev) {
    r->prev->next = r->next;
  } else if (c->head == r) {
    c->head = r->next;
  }
  if (r->next) {
    r->next->prev = r->prev;
  } else if (c->tail == r) {
    c->tail = r->prev;
  }
  r->prev = r->next = NULL;
}

static void wipe_headers(struct curl_slist *h) {
  for (; h != NULL; h = h->next) vr_secret_wipe(h->data, strlen(h->data));
}

/* Takes the attempt's easy handle out of the multi handle and frees it (never inside curl). */
static void detach_easy(vr_kube_request *r) {
  vr_kube_client *c = r->client;
  if (r->easy != NULL) {
    if (c->multi != NULL) curl_multi_remove_handle(c->multi, r->easy);
    curl_easy_cleanup(r->easy);
    r->easy = NULL;
  }
  if (r->headers != NULL) {
    wipe_headers(r->headers);
    curl_slist_free_all(r->headers);
    r->headers = NULL;
  }
}

static void req_free(vr_kube_request *r) {
  free(r->method);
  free(r->where);
  free(r->url);
  free(r->content_type);
  free(r->body);
  free(r->resp.data);
  free(r->line.data);
  free(r);
}

/* Marks r done and calls on_done (r stays allocated; the caller unlinks and frees it). */
static void report(vr_kube_request *r, int status, const char *error) {
  vr_kube_response resp;
  int body_ok = status != 0 && !r->lines && r->resp.data != NULL;
  r->state = R_DONE;
  memset(&resp, 0, sizeof resp);
  resp.status = status;
  resp.body = body_ok ? r->resp.data : "";
  resp.body_len = body_ok ? r->resp.len : 0;
  resp.content_type = status != 0 && r->have_ctype ? r->ctype : NULL;
  resp.attempts = r->attempts;
  resp.error = error;
  if (r->on_done != NULL) r->on_done(r, &resp, r->data);
}

/* Ends r for good (its easy handle already detached): on_done, then free. */
static void finish(vr_kube_request *r, int status, const char *error) {
  unlink_req(r->client, r);
  report(r, status, error);
  req_free(r);
}

/* Ends r with "METHOD /path: reason (N attempts)". */
static void finish_failed(vr_kube_request *r, int status, const char *reason) {
  if (r->attempts > 1) {
    snprintf(r->error, sizeof r->error, "%s: %s (%d attempts)", r->where, reason, r->attempts);
  } else {
    snprintf(r->error, sizeof r->error, "%s: %s", r->where, reason);
  }
  finish(r, status, r->error);
}

/* --- scheduling: first attempts, retries and stream deadlines ----------------------------- */

static void on_sched(uv_timer_t *t);

static void sched_rearm(vr_kube_client *c) {
  uint64_t now = uv_now(c->loop), best = UINT64_MAX;
  vr_kube_request *r;
  if (c->torn_down) return;
  for (r = c->head; r != NULL; r = r->next) {
    if ((r->state == R_WAITING || (r->state == R_RUNNING && r->due != 0)) && r->due < best) {
      best = r->due;
    }
  }
  if (best == UINT64_MAX) {
    uv_timer_stop(&c->sched);
  } else {
    uv_timer_start(&c->sched, on_sched, best > now ? best - now : 0, 0);
  }
}

static void teardown(vr_kube_client *c);

/* At the end of every loop callback: a client freed meanwhile is torn down now. */
static void leave(vr_kube_client *c) {
  c->busy--;
  if (c->busy == 0 && c->closing && !c->torn_down) teardown(c);
}

/* --- one attempt ---------------------------------------------------------------------------- */

static size_t on_header(char *ptr, size_t size, size_t nitems, void *userdata) {
  vr_kube_request *r = userdata;
  size_t n = size * nitems, i;
  if (r->state == R_DONE) return 0;
  if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0) { /* a new status line: a new header block */
    r->have_ctype = 0;
    r->retry_after = -1;
    return n;
  }
  if (n > 0 && (ptr[0] == '\r' || ptr[0] == '\n')) { /* the end of a header block */
    long status = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && r->stream) r->due = 0; /* the answer came: no header deadline */
    return n;
  }
  for (i = 0; i < n && ptr[i] != ':'; i++) {}
  if (i < n) {
    size_t vs = i + 1, ve = n;
    while (vs < ve && (ptr[vs] == ' ' || ptr[vs] == '\t')) vs++;
    while (ve > vs && strchr(" \t\r\n", ptr[ve - 1]) != NULL) ve--;
    if (i == 12 && strncasecmp(ptr, "content-type", 12) == 0 && ve - vs < sizeof r->ctype) {
      memcpy(r->ctype, ptr + vs, ve - vs);
      r->ctype[ve - vs] = '\0';
      r->have_ctype = 1;
    } else if (i == 11 && strncasecmp(ptr, "retry-after", 11) == 0 && ve > vs && ve - vs <= 7) {
      long v = 0;
      size_t k;
      for (k = vs; k < ve && ptr[k] >= '0' && ptr[k] <= '9'; k++) v = v * 10 + (ptr[k] - '0');
      if (k == ve) r->retry_after = v; /* an HTTP-date is ignored: the backoff applies */
    }
  }
  return n;
}

/* A body or line could not be kept (buf_add's why): the transfer is aborted with this reason. */
static void set_fail(vr_kube_request *r, const char *why, const char *what) {
  if (strcmp(why, "too large") == 0) {
    snprintf(r->failbuf, sizeof r->failbuf, "%s %zu bytes", what, r->client->max_body);
    r->fail = r->failbuf;
  } else {
    r->fail = "out of memory";
  }
}

/* Delivers one complete line (copied, NUL-terminated) to on_line. -1: stop the transfer. */
static int deliver_line(vr_kube_request *r, const char *p, size_t n) {
  vr_kube_client *c = r->client;
  const char *why = NULL;
  if (r->line.len > 0 || n > 0) {
    if (buf_add(&r->line, p, n, c->max_body, &why) != 0) {
      set_fail(r, why, "a streamed line is longer than");
      return -1;
    }
  }
  if (r->on_line(r, r->line.data != NULL ? r->line.data : "", r->line.len, r->data) != 0) {
    r->stopped = 1;
  }
  r->line.len = 0;
  if (r->line.data != NULL) r->line.data[0] = '\0';
  return (r->state == R_DONE || r->stopped) ? -1 : 0;
}

static size_t feed_lines(vr_kube_request *r, const char *p, size_t n) {
  vr_kube_client *c = r->client;
  size_t off = 0;
  while (off < n) {
    const char *nl = memchr(p + off, '\n', n - off);
    if (nl == NULL) {
      const char *why = NULL;
      if (buf_add(&r->line, p + off, n - off, c->max_body, &why) != 0) {
        set_fail(r, why, "a streamed line is longer than");
        return 0;
      }
      break;
    }
    if (deliver_line(r, p + off, (size_t)(nl - (p + off))) != 0) return 0;
    off = (size_t)(nl - p) + 1;
  }
  return n;
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *userdata) {
  vr_kube_request *r = userdata;
  vr_kube_client *c = r->client;
  size_t n = size * nmemb;
  const char *why = NULL;
  if (r->state == R_DONE || r->stopped) return 0;
  if (r->stream && !r->decided) {
    long status = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    r->decided = 1;
    r->lines = status >= 200 && status < 300;
  }
  if (r->lines) return feed_lines(r, ptr, n);
  if (buf_add(&r->resp, ptr, n, c->max_body, &why) != 0) {
    set_fail(r, why, "response body larger than");
    return 0;
  }
  return n;
}

#define SET(opt, val)                                                                              \
  do {                                                                                             \
    if (rc == CURLE_OK) rc = curl_easy_setopt(e, opt, val);                                        \
  } while (0)

/* The TLS options (shared by every attempt and by the check in vr_kube_client_new). */
static CURLcode set_tls(vr_kube_client *c, CURL *e) {
  CURLcode rc = CURLE_OK;
  struct curl_blob blob;
  if (!c->https) return CURLE_OK;
  SET(CURLOPT_SSL_VERIFYPEER, c->insecure ? 0L : 1L);
  SET(CURLOPT_SSL_VERIFYHOST, c->insecure ? 0L : 2L);
  if (c->ca_file != NULL || c->ca_pem != NULL) {
    /* only the cluster's CA, as kubectl: not the system's folder of CAs as well */
    SET(CURLOPT_CAPATH, (char *)NULL);
  }
  if (c->ca_file != NULL) SET(CURLOPT_CAINFO, c->ca_file);
  if (c->ca_pem != NULL) {
    blob.data = c->ca_pem;
    blob.len = c->ca_pem_len;
    blob.flags = CURL_BLOB_NOCOPY; /* the client's copy outlives every easy handle */
    SET(CURLOPT_CAINFO_BLOB, &blob);
  }
  if (c->cert_file != NULL || c->cert_pem != NULL) {
    SET(CURLOPT_SSLCERTTYPE, "PEM");
    SET(CURLOPT_SSLKEYTYPE, "PEM");
    if (c->cert_file != NULL) SET(CURLOPT_SSLCERT, c->cert_file);
    if (c->cert_pem != NULL) {
      blob.data = c->cert_pem;
      blob.len = c->cert_pem_len;
      blob.flags = CURL_BLOB_NOCOPY;
      SET(CURLOPT_SSLCERT_BLOB, &blob);
    }
    if (c->key_file != NULL) SET(CURLOPT_SSLKEY, c->key_file);
    if (c->key_pem != NULL) {
      blob.data = c->key_pem;
      blob.len = c->key_pem_len;
      blob.flags = CURL_BLOB_NOCOPY;
      SET(CURLOPT_SSLKEY_BLOB, &blob);
    }
  }
  return rc;
}

/* Adds "Authorization: Bearer ..." when a token applies: the exec plugin's (set_token), else
 * the token file's (read now: it may have rotated), else the kubeconfig's token. */
static int add_bearer(vr_kube_request *r, struct curl_slist **h, char *why, size_t whylen) {
  vr_kube_client *c = r->client;
  char *from_file = NULL, *line;
  const char *token = c->exec_token;
  struct curl_slist *added;
  if (token == NULL && c->token_file != NULL) {
    int e = read_token_file(c->token_file, &from_file);
    if (e == ENOMEM) {
      snprintf(why, whylen, "out of memory");
      return -1;
    }
    if (e == 0 && from_file != NULL) {
      token = from_file;
    } else if (c->token == NULL) {
      snprintf(why, whylen, "cannot read the token file %s: %s", c->token_file,
               e != 0 ? strerror(e) : "it is empty");
      return -1;
    }
  }
  if (token == NULL) token = c->token;
  if (token == NULL) return 0;
  line = concat("Authorization: Bearer ", token, "");
  vr_secret_free(from_file);
  if (line == NULL) {
    snprintf(why, whylen, "out of memory");
    return -1;
  }
  added = curl_slist_append(*h, line);
  vr_secret_free(line);
  if (added == NULL) {
    snprintf(why, whylen, "out of memory");
    return -1;
  }
  *h = added;
  return 0;
}

static int add_header(struct curl_slist **h, const char *line) {
  struct curl_slist *added = curl_slist_append(*h, line);
  if (added == NULL) return -1;
  *h = added;
  return 0;
}

/* A fresh easy handle for r's next attempt. -1 with why on failure (r->easy/headers are then
 * whatever was made; detach_easy frees them). */
static int setup_easy(vr_kube_request *r, char *why, size_t whylen) {
  vr_kube_client *c = r->client;
  CURL *e;
  CURLcode rc = CURLE_OK;
  int has_body = !r->is_get && (r->body != NULL || strcmp(r->method, "POST") == 0 ||
                                strcmp(r->method, "PUT") == 0 || strcmp(r->method, "PATCH") == 0);
  r->easy = e = curl_easy_init();
  if (e == NULL) {
    snprintf(why, whylen, "out of memory");
    return -1;
  }
  if (add_header(&r->headers, "Accept: application/json") != 0 ||
      add_header(&r->headers, "Expect:") != 0 ||
      (c->host_line != NULL && add_header(&r->headers, c->host_line) != 0)) {
    snprintf(why, whylen, "out of memory");
    return -1;
  }
  if (has_body) {
    char *ct = concat("Content-Type: ", r->content_type ? r->content_type : "application/json", "");
    int bad = ct == NULL || add_header(&r->headers, ct) != 0;
    free(ct);
    if (bad) {
      snprintf(why, whylen, "out of memory");
      return -1;
    }
  }
  if (c->basic_line != NULL && add_header(&r->headers, c->basic_line) != 0) {
    snprintf(why, whylen, "out of memory");
    return -1;
  }
  if (c->basic_line == NULL && add_bearer(r, &r->headers, why, whylen) != 0) return -1;

  r->errbuf[0] = '\0';
  SET(CURLOPT_ERRORBUFFER, r->errbuf);
  SET(CURLOPT_URL, r->url);
  SET(CURLOPT_PRIVATE, (void *)r);
  SET(CURLOPT_NOSIGNAL, 1L);
  SET(CURLOPT_PROTOCOLS_STR, "http,https");
  SET(CURLOPT_FOLLOWLOCATION, 0L);
  SET(CURLOPT_HTTPHEADER, r->headers);
  SET(CURLOPT_HEADEROPT, (long)CURLHEADER_SEPARATE); /* not in a proxy CONNECT */
  SET(CURLOPT_USERAGENT, c->user_agent);
  SET(CURLOPT_ACCEPT_ENCODING, "gzip");
  SET(CURLOPT_WRITEFUNCTION, on_write);
  SET(CURLOPT_WRITEDATA, (void *)r);
  SET(CURLOPT_HEADERFUNCTION, on_header);
  SET(CURLOPT_HEADERDATA, (void *)r);
  SET(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
  SET(CURLOPT_TCP_KEEPALIVE, 1L);
  SET(CURLOPT_TCP_KEEPIDLE, 30L);
  SET(CURLOPT_TCP_KEEPINTVL, 10L);
  if (c->https) {
    /* HTTP/2 when the server offers it (ALPN): many watches share one connection; a transfer
     * waits for a connection being set up rather than opening another (ALPN tells at once) */
    SET(CURLOPT_PIPEWAIT, 1L);
  } else {
    /* no h2c: with plain HTTP libcurl learns the version only from a response, and waiting
     * for that would hold every request behind a watch on the first connection */
    SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
  }
  if (c->share != NULL) SET(CURLOPT_SHARE, c->share);
  if (r->is_get) {
    SET(CURLOPT_HTTPGET, 1L);
  } else {
    if (strcmp(r->method, "POST") == 0) {
      SET(CURLOPT_POST, 1L);
    } else {
      SET(CURLOPT_CUSTOMREQUEST, r->method);
    }
    if (has_body) {
      SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
      SET(CURLOPT_POSTFIELDS, r->body != NULL ? r->body : "");
    }
  }
  if (r->stream) {
    /* a watch lasts as long as the server's timeoutSeconds: no overall limit unless the spec
     * sets one; connecting and the response's header have the client's timeout (the header
     * deadline is kept by the scheduler) */
    if (r->timeout > 0) SET(CURLOPT_TIMEOUT_MS, ms_of(r->timeout));
    SET(CURLOPT_CONNECTTIMEOUT_MS, ms_of(r->timeout > 0 ? r->timeout : c->timeout));
  } else {
    SET(CURLOPT_TIMEOUT_MS, ms_of(r->timeout > 0 ? r->timeout : c->timeout));
  }
  if (c->connect_to != NULL) SET(CURLOPT_CONNECT_TO, c->connect_to);
  if (rc == CURLE_OK) rc = set_tls(c, e);
  if (c->proxy_url != NULL) SET(CURLOPT_PROXY, c->proxy_url);
  if (rc != CURLE_OK) {
    snprintf(why, whylen, "cannot set up the request: %s", curl_easy_strerror(rc));
    return -1;
  }
  return 0;
}

#undef SET

/* --- outcomes ------------------------------------------------------------------------------- */

typedef enum kc_kind {
  K_FINAL,      /* not retried */
  K_CONNECT,    /* nothing was sent: every method may be retried */
  K_AFTER_SEND, /* the request may have reached the server: GETs (and retry_writes) only */
} kc_kind;

static kc_kind describe(vr_kube_request *r, CURLcode rc, long oserr, curl_off_t connect_us,
                        char *out, size_t outlen) {
  vr_kube_client *c = r->client;
  double t = r->timeout > 0 ? r->timeout : c->timeout;
  char detail[200];
  clean_detail(c, r->errbuf, detail, sizeof detail);
  switch (rc) {
  case CURLE_COULDNT_CONNECT:
    snprintf(out, outlen, "%s",
             oserr == ECONNREFUSED    ? "connection refused"
             : oserr == ETIMEDOUT     ? "connection timed out"
             : oserr == EHOSTUNREACH  ? "host unreachable"
             : oserr == ENETUNREACH   ? "network unreachable"
             : oserr == EADDRNOTAVAIL ? "cannot connect: address not available"
                                      : "cannot connect");
    return K_CONNECT;
  case CURLE_COULDNT_RESOLVE_HOST:
    snprintf(out, outlen, "cannot resolve the server's host name");
    return K_CONNECT;
  case CURLE_COULDNT_RESOLVE_PROXY:
    snprintf(out, outlen, "cannot resolve the proxy's host name");
    return K_CONNECT;
  case CURLE_OPERATION_TIMEDOUT:
    if (connect_us == 0) {
      snprintf(out, outlen, "timed out after %g s while connecting", t);
      return K_CONNECT;
    }
    snprintf(out, outlen, "timed out after %g s", t);
    return K_FINAL;
  case CURLE_GOT_NOTHING:
    snprintf(out, outlen, "connection closed without a response");
    return K_AFTER_SEND;
  case CURLE_RECV_ERROR:
    if (strstr(detail, " alert ") !=
        NULL) { /* a TLS 1.3 server refusing the client's certificate */
      snprintf(out, outlen, "TLS: the server refused the connection: %s", detail);
      return K_FINAL;
    }
    snprintf(out, outlen, "%s%s%s",
             oserr == ECONNRESET ? "connection reset" : "connection failed while receiving",
             detail[0] ? ": " : "", detail);
    return K_AFTER_SEND;
  case CURLE_SEND_ERROR:
    snprintf(out, outlen, "%s%s%s",
             oserr == ECONNRESET ? "connection reset while sending"
                                 : "connection failed while sending",
             detail[0] ? ": " : "", detail);
    return K_AFTER_SEND;
  case CURLE_PARTIAL_FILE:
    snprintf(out, outlen, "connection closed before the whole response arrived");
    return K_AFTER_SEND;
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
    snprintf(out, outlen, "HTTP/2 error%s%s", detail[0] ? ": " : "", detail);
    return K_AFTER_SEND;
  case CURLE_SSL_CACERT_BADFILE:
    if (c->ca_file != NULL) {
      snprintf(out, outlen, "TLS: cannot load the CA certificates from %s", c->ca_file);
    } else if (c->ca_pem != NULL) {
      snprintf(out, outlen, "TLS: cannot load the CA certificates (certificate-authority-data)");
    } else {
      snprintf(out, outlen, "TLS: cannot load the system's CA certificates");
    }
    return K_FINAL;
  case CURLE_SSL_CERTPROBLEM:
    snprintf(out, outlen, "TLS: cannot use the client certificate or key (%s%s, %s%s)",
             c->cert_file != NULL ? "client-certificate " : "client-certificate-data",
             c->cert_file != NULL ? c->cert_file : "",
             c->key_file != NULL ? "client-key " : "client-key-data",
             c->key_file != NULL ? c->key_file : "");
    return K_FINAL;
  case CURLE_PEER_FAILED_VERIFICATION: /* which CA it was checked against */
    snprintf(out, outlen, "TLS: certificate verify failed%s%s (CA: %s%s)", detail[0] ? ": " : "",
             detail,
             c->ca_file != NULL  ? "certificate-authority "
             : c->ca_pem != NULL ? "certificate-authority-data"
                                 : "the system's CA certificates",
             c->ca_file != NULL ? c->ca_file : "");
    return K_FINAL;
  case CURLE_SSL_CONNECT_ERROR:
    snprintf(out, outlen, "TLS: handshake failed%s%s", detail[0] ? ": " : "", detail);
    /* a reset during the handshake is a connection error; anything else is not */
    return (oserr == ECONNRESET || oserr == EPIPE) ? K_CONNECT : K_FINAL;
  default:
    snprintf(out, outlen, "%s%s%s", curl_easy_strerror(rc), detail[0] ? ": " : "", detail);
    return K_FINAL;
  }
}

static void schedule_retry(vr_kube_request *r, long retry_after) {
  vr_kube_client *c = r->client;
  double delay;
  if (retry_after >= 0) {
    delay = (double)retry_after < c->backoff_max ? (double)retry_after : c->backoff_max;
  } else {
    double base = c->backoff_initial;
    int i;
    for (i = 1; i < r->attempts && base < c->backoff_max; i++) base *= 2;
    if (base > c->backoff_max) base = c->backoff_max;
    delay = base + base * JITTER * ((double)(next_random(c) >> 11) * 0x1.0p-53);
  }
  if (delay > MAX_SECONDS) delay = MAX_SECONDS;
  r->state = R_WAITING;
  r->due = uv_now(c->loop) + (uint64_t)(delay * 1000.0 + 0.5);
  sched_rearm(c);
}

/* An attempt ended (curl said CURLMSG_DONE): answer, retry or fail. */
static void attempt_done(vr_kube_request *r, CURLcode rc) {
  vr_kube_client *c = r->client;
  long status = 0, oserr = 0;
  curl_off_t connect_us = 0;
  char reason[384];
  kc_kind kind;
  curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo(r->easy, CURLINFO_OS_ERRNO, &oserr);
  curl_easy_getinfo(r->easy, CURLINFO_CONNECT_TIME_T, &connect_us);
  detach_easy(r);
  r->due = 0;
  if (r->state == R_DONE) { /* already reported (cancelled) */
    unlink_req(c, r);
    req_free(r);
    return;
  }
  if (r->stopped) {
    finish(r, (int)status, NULL);
    return;
  }
  if (r->fail != NULL) {
    finish_failed(r, r->stream ? (int)status : 0, r->fail);
    return;
  }
  if (rc == CURLE_OK) {
    int retriable;
    if (r->lines) {
      if (r->line.len > 0) { /* the last line had no newline */
        r->held = 1;
        deliver_line(r, NULL, 0);
        r->held = 0;
        if (r->state == R_DONE) { /* cancelled (or the client freed) in on_line */
          unlink_req(c, r);
          req_free(r);
          return;
        }
        if (r->fail != NULL) {
          finish_failed(r, (int)status, r->fail);
          return;
        }
      }
      finish(r, (int)status, NULL);
      return;
    }
    /* 429 and 503: the server did not take the request (a throttle, or not available), so any
     * request may be sent again; other 5xx only where a second try does no harm */
    retriable =
        !r->stream &&
        ((status == 429 && !r->no_retry_429) || status == 503 ||
         (status >= 500 && status != 501 && status != 505 && (r->is_get || r->retry_writes)));
    if (retriable && r->attempts < c->max_attempts) {
      schedule_retry(r, (status == 429 || status == 503) ? r->retry_after : -1);
      return;
    }
    if (status >= 400) {
      snprintf(reason, sizeof reason, "HTTP %ld", status);
      finish_failed(r, (int)status, reason);
    } else {
      finish(r, (int)status, NULL);
    }
    return;
  }
  kind = describe(r, rc, oserr, connect_us, reason, sizeof reason);
  if (!r->stream &&
      (kind == K_CONNECT ||
       (kind == K_AFTER_SEND && (r->is_get || r->retry_writes || r->resend_on_drop))) &&
      r->attempts < c->max_attempts) {
    schedule_retry(r, -1);
    return;
  }
  finish_failed(r, r->stream ? (int)status : 0, reason);
}

/* Starts r's next attempt (r is waiting and due). */
static void attempt_start(vr_kube_request *r) {
  vr_kube_client *c = r->client;
  char why[256];
  if (r->invalid != NULL) {
    finish_failed(r, 0, r->invalid);
    return;
  }
  r->attempts++;
  r->resp.len = 0;
  if (r->resp.data != NULL) r->resp.data[0] = '\0';
  r->line.len = 0;
  r->decided = r->lines = r->have_ctype = r->stopped = 0;
  r->retry_after = -1;
  r->fail = NULL;
  why[0] = '\0';
  if (setup_easy(r, why, sizeof why) != 0) {
    detach_easy(r);
    finish_failed(r, 0, why);
    return;
  }
  r->state = R_RUNNING;
  r->due = (r->stream && r->timeout <= 0) ? uv_now(c->loop) + (uint64_t)ms_of(c->timeout) : 0;
  if (curl_multi_add_handle(c->multi, r->easy) != CURLM_OK) {
    curl_easy_cleanup(r->easy); /* never added */
    r->easy = NULL;
    detach_easy(r);
    finish_failed(r, 0, "cannot start the transfer");
  }
}

/* Requests cancelled inside curl's callbacks: now that curl has returned, detach and free. */
static void reap(vr_kube_client *c) {
  vr_kube_request *r = c->head, *next;
  for (; r != NULL; r = next) {
    next = r->next;
    if (r->state == R_DONE && !r->held) {
      detach_easy(r);
      unlink_req(c, r);
      req_free(r);
    }
  }
}

static void check_multi_info(vr_kube_client *c) {
  CURLMsg *m;
  int left;
  while (!c->closing && (m = curl_multi_info_read(c->multi, &left)) != NULL) {
    char *priv = NULL;
    if (m->msg != CURLMSG_DONE) continue;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
    if (priv != NULL) attempt_done((vr_kube_request *)(void *)priv, m->data.result);
  }
}

/* --- libuv <-> libcurl ---------------------------------------------------------------------- */

static void drive(vr_kube_client *c, curl_socket_t fd, int flags) {
  int running = 0;
  c->busy++;
  c->in_curl++;
  curl_multi_socket_action(c->multi, fd, flags, &running);
  c->in_curl--;
  reap(c);
  check_multi_info(c);
  leave(c);
}

static void on_poll(uv_poll_t *h, int status, int events) {
  kc_sock *s = h->data;
  int flags = 0;
  if (status < 0) {
    flags = CURL_CSELECT_ERR;
  } else {
    if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  }
  drive(s->client, s->fd, flags);
}

static void on_curl_timeout(uv_timer_t *t) {
  drive(t->data, CURL_SOCKET_TIMEOUT, 0);
}

static void maybe_free_client(vr_kube_client *c) {
  if (c->torn_down && c->handles_open == 0) {
    free(c);
    curl_global_cleanup();
  }
}

static void on_handle_closed(uv_handle_t *h) {
  vr_kube_client *c = h->data;
  c->handles_open--;
  maybe_free_client(c);
}

static void on_sock_closed(uv_handle_t *h) {
  kc_sock *s = h->data;
  vr_kube_client *c = s->client;
  free(s);
  c->handles_open--;
  maybe_free_client(c);
}

static void sock_close(vr_kube_client *c, kc_sock *s) {
  uv_poll_stop(&s->poll);
  if (s->prev) {
    s->prev->next = s->next;
  } else {
    c->socks = s->next;
  }
  if (s->next) s->next->prev = s->prev;
  uv_close((uv_handle_t *)&s->poll, on_sock_closed);
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
  vr_kube_client *c = userp;
  kc_sock *s = socketp;
  int events = 0;
  (void)easy;
  if (what == CURL_POLL_REMOVE) {
    if (s != NULL) {
      if (c->multi != NULL) curl_multi_assign(c->multi, fd, NULL);
      sock_close(c, s);
    }
    return 0;
  }
  if (s == NULL) {
    s = calloc(1, sizeof *s);
    if (s == NULL) return -1;
    if (uv_poll_init_socket(c->loop, &s->poll, fd) != 0) {
      free(s);
      return -1;
    }
    s->fd = fd;
    s->client = c;
    s->poll.data = s;
    s->next = c->socks;
    if (c->socks) c->socks->prev = s;
    c->socks = s;
    c->handles_open++;
    curl_multi_assign(c->multi, fd, s);
  }
  if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) events |= UV_READABLE;
  if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) events |= UV_WRITABLE;
  return uv_poll_start(&s->poll, events, on_poll) == 0 ? 0 : -1;
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp) {
  vr_kube_client *c = userp;
  (void)multi;
  if (c->torn_down) return 0;
  if (timeout_ms < 0) {
    uv_timer_stop(&c->curl_timer);
  } else {
    /* 0: on the next loop turn (curl_multi_socket_action must not be called from here) */
    uv_timer_start(&c->curl_timer, on_curl_timeout, (uint64_t)timeout_ms, 0);
  }
  return 0;
}

static void on_sched(uv_timer_t *t) {
  vr_kube_client *c = t->data;
  c->busy++;
  while (!c->closing) {
    uint64_t now = uv_now(c->loop);
    vr_kube_request *r;
    for (r = c->head; r != NULL; r = r->next) {
      if ((r->state == R_WAITING || (r->state == R_RUNNING && r->due != 0)) && r->due <= now) {
        break;
      }
    }
    if (r == NULL) break;
    if (r->state == R_WAITING) {
      attempt_start(r);
    } else { /* a stream whose answer did not come in time */
      char reason[128];
      r->due = 0;
      detach_easy(r);
      snprintf(reason, sizeof reason, "timed out after %g s waiting for the response", c->timeout);
      finish_failed(r, 0, reason);
    }
  }
  sched_rearm(c);
  leave(c);
}

/* --- the client ----------------------------------------------------------------------------- */

/* Wipes and frees what the client copied from the configuration. */
static void free_fields(vr_kube_client *c) {
  free(c->user_agent);
  free(c->url_base);
  if (c->connect_to != NULL) curl_slist_free_all(c->connect_to);
  free(c->host_line);
  vr_secret_free(c->proxy_url); /* may hold proxy credentials */
  free(c->ca_file);
  free(c->cert_file);
  free(c->key_file);
  vr_secret_free_n(c->ca_pem, c->ca_pem_len);
  vr_secret_free_n(c->cert_pem, c->cert_pem_len);
  vr_secret_free_n(c->key_pem, c->key_pem_len);
  vr_secret_free(c->token);
  vr_secret_free(c->exec_token);
  free(c->token_file);
  vr_secret_free(c->basic_line);
  vr_secret_free(c->password);
  c->user_agent = c->url_base = c->host_line = c->proxy_url = NULL;
  c->connect_to = NULL;
  c->ca_file = c->cert_file = c->key_file = c->ca_pem = c->cert_pem = c->key_pem = NULL;
  c->token = c->exec_token = c->token_file = c->basic_line = c->password = NULL;
}

static void teardown(vr_kube_client *c) {
  c->torn_down = 1;
  uv_timer_stop(&c->curl_timer);
  uv_timer_stop(&c->sched);
  while (c->head != NULL) { /* every one is done (reported) by now */
    vr_kube_request *r = c->head;
    detach_easy(r);
    unlink_req(c, r);
    req_free(r);
  }
  if (c->multi != NULL) {
    CURLM *m = c->multi;
    c->multi = NULL; /* the socket callback (REMOVE) must not call back into it */
    curl_multi_cleanup(m);
  }
  while (c->socks != NULL) sock_close(c, c->socks);
  if (c->share != NULL) curl_share_cleanup(c->share);
  c->share = NULL;
  free_fields(c);
  uv_close((uv_handle_t *)&c->curl_timer, on_handle_closed);
  uv_close((uv_handle_t *)&c->sched, on_handle_closed);
}

static int file_readable(const char *path, char *err, size_t errlen, const char *what) {
  struct stat st;
  int fd = open(path, O_RDONLY | O_CLOEXEC), e = 0;
  if (fd < 0) {
    e = errno;
  } else {
    if (fstat(fd, &st) != 0) {
      e = errno;
    } else if (S_ISDIR(st.st_mode)) {
      e = EISDIR;
    }
    close(fd);
  }
  if (e != 0) snprintf(err, errlen, "cannot read the %s %s: %s", what, path, strerror(e));
  return e == 0 ? 0 : -1;
}

static int looks_like_pem(const char *p, size_t n) {
  static const char mark[] = "-----BEGIN ";
  size_t i, m = sizeof mark - 1;
  for (i = 0; i + m <= n; i++) {
    if (memcmp(p + i, mark, m) == 0) return 1;
  }
  return 0;
}

/* Splits the server URL and prepares the request URL base (and, with tls-server-name, the
 * connect-to mapping and Host line). Messages never show the URL. */
static int parse_server(vr_kube_client *c, const char *server, const char *tsn, char *err,
                        size_t errlen) {
  const char *rest, *auth, *host_end, *port_s = NULL;
  size_t alen, hlen, plen;
  long port = 0;
  char portbuf[8], *host = NULL, *prefix = NULL, *authority = NULL;
  int ok = 1;
  if (strncasecmp(server, "https://", 8) == 0) {
    c->https = 1;
    rest = server + 8;
  } else if (strncasecmp(server, "http://", 7) == 0) {
    rest = server + 7;
  } else {
    snprintf(err, errlen, "the server is not an http:// or https:// URL");
    return -1;
  }
  auth = rest;
  alen = strcspn(auth, "/?#");
  if (alen == 0 || memchr(auth, '@', alen) != NULL) {
    snprintf(err, errlen, "the server URL has no host, or has credentials in it");
    return -1;
  }
  if (auth[0] == '[') {
    host_end = memchr(auth, ']', alen);
    if (host_end == NULL) {
      snprintf(err, errlen, "the server URL has a bad IPv6 address");
      return -1;
    }
    host_end++;
  } else {
    host_end = memchr(auth, ':', alen);
    if (host_end == NULL) host_end = auth + alen;
  }
  hlen = (size_t)(host_end - auth);
  if (host_end < auth + alen) {
    size_t k;
    if (*host_end != ':' || host_end + 1 == auth + alen) {
      snprintf(err, errlen, "the server URL has a bad port");
      return -1;
    }
    port_s = host_end + 1;
    for (k = 0; port_s + k < auth + alen; k++) {
      if (port_s[k] < '0' || port_s[k] > '9' || k > 5) {
        snprintf(err, errlen, "the server URL has a bad port");
        return -1;
      }
      port = port * 10 + (port_s[k] - '0');
    }
    if (port < 1 || port > 65535) {
      snprintf(err, errlen, "the server URL has a bad port");
      return -1;
    }
  } else {
    port = c->https ? 443 : 80;
  }
  if (hlen == 0) {
    snprintf(err, errlen, "the server URL has no host");
    return -1;
  }
  plen = strcspn(auth + alen, "?#");
  while (plen > 0 && auth[alen + plen - 1] == '/') plen--;
  snprintf(portbuf, sizeof portbuf, "%ld", port);
  host = dup_opt_n(auth, hlen, &ok);
  prefix = dup_opt_n(auth + alen, plen, &ok);
  authority = dup_opt_n(auth, alen, &ok);
  if (ok && c->https && tsn != NULL && tsn[0] != '\0') {
    size_t i, n = strlen(tsn);
    char name[300], map[700];
    for (i = 0; i < n; i++) {
      char ch = tsn[i];
      if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '.' || ch == '-' || ch == '_' || ch == ':')) {
        break;
      }
    }
    if (i < n || n > 253) {
      snprintf(err, errlen, "tls-server-name is not a host name");
      free(host);
      free(prefix);
      free(authority);
      return -1;
    }
    snprintf(name, sizeof name, strchr(tsn, ':') != NULL ? "[%s]" : "%s", tsn);
    snprintf(map, sizeof map, "%s:%s:%s:%s", name, portbuf, host, portbuf);
    c->connect_to = curl_slist_append(NULL, map);
    c->host_line = concat("Host: ", authority, "");
    {
      size_t need = strlen("https://") + strlen(name) + 1 + strlen(portbuf) + plen + 1;
      c->url_base = malloc(need);
      if (c->url_base != NULL) {
        snprintf(c->url_base, need, "https://%s:%s%s", name, portbuf, prefix);
      }
    }
    ok = c->connect_to != NULL && c->host_line != NULL && c->url_base != NULL;
  } else if (ok) {
    c->url_base = concat(c->https ? "https://" : "http://", authority, prefix);
    ok = c->url_base != NULL;
  }
  free(host);
  free(prefix);
  free(authority);
  if (!ok) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  return 0;
}

/* Checks the TLS material and copies the configuration into c. */
static int take_config(vr_kube_client *c, const vr_kube_config *k, char *err, size_t errlen) {
  int ok = 1;
  if (parse_server(c, k->server, k->tls_server_name, err, errlen) != 0) return -1;
  c->proxy_url = dup_opt(k->proxy_url != NULL && k->proxy_url[0] ? k->proxy_url : NULL, &ok);
  if (c->proxy_url != NULL && strncmp(c->proxy_url, "socks5://", 9) == 0) {
    /* kubectl's SOCKS5 proxy resolves host names at the proxy: curl's socks5h does that */
    char *h = malloc(strlen(c->proxy_url) + 2);
    if (h == NULL) {
      ok = 0;
    } else {
      sprintf(h, "socks5h://%s", c->proxy_url + 9);
      vr_secret_free(c->proxy_url);
      c->proxy_url = h;
    }
  }
  if (c->https) {
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    if (v == NULL || !(v->features & CURL_VERSION_SSL)) {
      snprintf(err, errlen, "this libcurl has no TLS support: cannot reach an https:// server");
      return -1;
    }
    c->insecure = k->insecure_skip_tls_verify != 0;
    if (k->ca_file != NULL && file_readable(k->ca_file, err, errlen, "CA file") != 0) return -1;
    if (k->client_cert_file != NULL &&
        file_readable(k->client_cert_file, err, errlen, "client certificate file") != 0) {
      return -1;
    }
    if (k->client_key_file != NULL &&
        file_readable(k->client_key_file, err, errlen, "client key file") != 0) {
      return -1;
    }
    if (k->ca_pem != NULL && !looks_like_pem(k->ca_pem, k->ca_pem_len)) {
      snprintf(err, errlen, "certificate-authority-data is not a PEM certificate");
      return -1;
    }
    if (k->client_cert_pem != NULL && !looks_like_pem(k->client_cert_pem, k->client_cert_pem_len)) {
      snprintf(err, errlen, "client-certificate-data is not a PEM certificate");
      return -1;
    }
    if (k->client_key_pem != NULL && !looks_like_pem(k->client_key_pem, k->client_key_pem_len)) {
      snprintf(err, errlen, "client-key-data is not a PEM key");
      return -1;
    }
    if ((k->client_cert_file != NULL || k->client_cert_pem != NULL) && k->client_key_file == NULL &&
        k->client_key_pem == NULL) {
      snprintf(err, errlen, "a client certificate needs a client key");
      return -1;
    }
    c->ca_file = dup_opt(k->ca_file, &ok);
    c->ca_pem = dup_opt_n(k->ca_pem, k->ca_pem_len, &ok);
    c->ca_pem_len = k->ca_pem_len;
    if (k->client_cert_file != NULL || k->client_cert_pem != NULL) {
      c->cert_file = dup_opt(k->client_cert_file, &ok);
      c->cert_pem = dup_opt_n(k->client_cert_pem, k->client_cert_pem_len, &ok);
      c->cert_pem_len = k->client_cert_pem_len;
      c->key_file = dup_opt(k->client_key_file, &ok);
      c->key_pem = dup_opt_n(k->client_key_pem, k->client_key_pem_len, &ok);
      c->key_pem_len = k->client_key_pem_len;
    }
  }
  if (k->token != NULL && k->token[0] != '\0') c->token = dup_opt(k->token, &ok);
  if (k->token_file != NULL && k->token_file[0] != '\0')
    c->token_file = dup_opt(k->token_file, &ok);
  if (k->username != NULL && k->username[0] != '\0') {
    c->password = dup_opt(k->password != NULL ? k->password : "", &ok);
    c->basic_line = basic_header(k->username, k->password != NULL ? k->password : "");
    if (c->basic_line == NULL) ok = 0;
  }
  if (!ok) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  return 0;
}

vr_kube_client *vr_kube_client_new(uv_loop_t *loop, const vr_kube_config *config,
                                   const vr_kube_client_options *options, char *err,
                                   size_t errlen) {
  vr_kube_client *c;
  vr_kube_client_options o;
  CURL *probe;
  CURLcode rc;
  char *ua;
  if (errlen > 0) err[0] = '\0';
  if (config == NULL || config->server == NULL) {
    snprintf(err, errlen, "no server given");
    return NULL;
  }
  memset(&o, 0, sizeof o);
  if (options != NULL) o = *options;
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    snprintf(err, errlen, "libcurl cannot be initialised");
    return NULL;
  }
  c = calloc(1, sizeof *c);
  if (c == NULL) {
    curl_global_cleanup();
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  c->loop = loop;
  c->timeout = o.timeout > 0 ? o.timeout : 30;
  c->max_attempts = o.max_attempts > 0 ? o.max_attempts : 5;
  c->backoff_initial = o.backoff_initial > 0 ? o.backoff_initial : 0.5;
  c->backoff_max = o.backoff_max > 0 ? o.backoff_max : 30;
  if (c->timeout > MAX_SECONDS) c->timeout = MAX_SECONDS;
  if (c->backoff_max > MAX_SECONDS) c->backoff_max = MAX_SECONDS;
  c->rng = o.seed;
  c->max_body = o.max_body > 0 ? o.max_body : DEFAULT_MAX_BODY;
  ua = o.user_agent != NULL ? dup_n(o.user_agent, strlen(o.user_agent))
                            : dup_n("vmrun/" VMRUN_VERSION, strlen("vmrun/" VMRUN_VERSION));
  c->user_agent = ua;
  if (ua != NULL && strpbrk(ua, "\r\n") != NULL) {
    snprintf(err, errlen, "the user agent holds a line break");
    goto fail;
  }
  if (ua == NULL) {
    snprintf(err, errlen, "out of memory");
    goto fail;
  }
  if (take_config(c, config, err, errlen) != 0) goto fail;
  /* the TLS material as libcurl will get it: a backend without blob support fails here */
  probe = curl_easy_init();
  if (probe == NULL) {
    snprintf(err, errlen, "out of memory");
    goto fail;
  }
  rc = set_tls(c, probe);
  curl_easy_cleanup(probe);
  if (rc != CURLE_OK) {
    snprintf(err, errlen, "libcurl cannot use the TLS settings: %s", curl_easy_strerror(rc));
    goto fail;
  }
  c->multi = curl_multi_init();
  c->share = curl_share_init();
  if (c->multi == NULL || c->share == NULL ||
      curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK ||
      curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket) != CURLM_OK ||
      curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, (void *)c) != CURLM_OK ||
      curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer) != CURLM_OK ||
      curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, (void *)c) != CURLM_OK) {
    snprintf(err, errlen, "cannot set up libcurl");
    goto fail;
  }
  uv_timer_init(loop, &c->curl_timer);
  uv_timer_init(loop, &c->sched);
  c->curl_timer.data = c;
  c->sched.data = c;
  c->handles_open = 2;
  return c;
fail:
  if (c->multi != NULL) curl_multi_cleanup(c->multi);
  if (c->share != NULL) curl_share_cleanup(c->share);
  free_fields(c);
  free(c);
  curl_global_cleanup();
  return NULL;
}

/* Reports r as cancelled. Freed now unless curl or attempt_done still holds it. */
static void cancel_now(vr_kube_request *r) {
  vr_kube_client *c = r->client;
  if (r->state == R_RUNNING && r->easy != NULL && c->in_curl > 0) {
    report(r, 0, "cancelled"); /* reap() detaches and frees it once curl has returned */
    return;
  }
  if (r->held) {
    report(r, 0, "cancelled"); /* attempt_done frees it */
    return;
  }
  detach_easy(r);
  finish(r, 0, "cancelled");
}

void vr_kube_client_free(vr_kube_client *c) {
  if (c == NULL || c->closing) return;
  c->closing = 1;
  for (;;) {
    vr_kube_request *r;
    for (r = c->head; r != NULL && r->state == R_DONE; r = r->next) {}
    if (r == NULL) break;
    cancel_now(r);
  }
  if (c->busy == 0) teardown(c);
}

void vr_kube_client_set_token(vr_kube_client *c, const char *token) {
  if (c == NULL || c->closing) return;
  vr_secret_free(c->exec_token);
  c->exec_token = NULL;
  if (token != NULL && token[0] != '\0') c->exec_token = dup_n(token, strlen(token));
}

vr_kube_request *vr_kube_request_start(vr_kube_client *c, const vr_kube_request_spec *spec) {
  static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
  vr_kube_request *r;
  const char *method, *path;
  size_t i, plen, wlen;
  if (c == NULL || c->closing || spec == NULL) return NULL;
  r = calloc(1, sizeof *r);
  if (r == NULL) return NULL;
  r->client = c;
  method = spec->method != NULL ? spec->method : "?";
  path = spec->path != NULL ? spec->path : "";
  for (i = 0; i < sizeof methods / sizeof methods[0]; i++) {
    if (strcmp(method, methods[i]) == 0) break;
  }
  if (i == sizeof methods / sizeof methods[0]) r->invalid = "unsupported method";
  if (path[0] != '/') r->invalid = "the path does not start with '/'";
  for (i = 0; path[i] != '\0'; i++) {
    unsigned char ch = (unsigned char)path[i];
    if (ch <= 0x20 || ch >= 0x7f) r->invalid = "the path holds a space or a control character";
  }
  if (spec->body == NULL && spec->body_len > 0) r->invalid = "body_len without a body";
  if (spec->content_type != NULL && strpbrk(spec->content_type, "\r\n") != NULL) {
    r->invalid = "the content type holds a line break";
  }
  /* "METHOD /path" for messages: the query is left out, and anything unprintable */
  plen = strcspn(path, "?");
  if (plen > 200) plen = 200;
  wlen = strlen(method) > 10 ? 10 : strlen(method);
  r->where = malloc(wlen + 1 + plen + 1);
  r->method = dup_n(method, strlen(method));
  r->url = concat(c->url_base, path, "");
  r->content_type =
      spec->content_type != NULL ? dup_n(spec->content_type, strlen(spec->content_type)) : NULL;
  if (spec->body != NULL) r->body = dup_n(spec->body, spec->body_len);
  if (r->where == NULL || r->method == NULL || r->url == NULL ||
      (spec->content_type != NULL && r->content_type == NULL) ||
      (spec->body != NULL && r->body == NULL)) {
    req_free(r);
    return NULL;
  }
  for (i = 0; i < wlen; i++) {
    unsigned char ch = (unsigned char)method[i];
    r->where[i] = (ch > 0x20 && ch < 0x7f) ? (char)ch : '?';
  }
  r->where[wlen] = ' ';
  for (i = 0; i < plen; i++) {
    unsigned char ch = (unsigned char)path[i];
    r->where[wlen + 1 + i] = (ch > 0x20 && ch < 0x7f) ? (char)ch : '?';
  }
  r->where[wlen + 1 + plen] = '\0';
  r->body_len = spec->body != NULL ? spec->body_len : 0;
  r->is_get = strcmp(method, "GET") == 0;
  r->retry_writes = spec->retry_writes;
  r->no_retry_429 = spec->no_retry_429;
  r->resend_on_drop = spec->resend_on_drop;
  r->timeout = spec->timeout > 0 ? (spec->timeout > MAX_SECONDS ? MAX_SECONDS : spec->timeout) : 0;
  r->stream = spec->on_line != NULL;
  r->on_line = spec->on_line;
  r->on_done = spec->on_done;
  r->data = spec->data;
  r->retry_after = -1;
  r->state = R_WAITING;
  r->due = uv_now(c->loop); /* the first attempt starts from the loop, never inside a callback */
  link_req(c, r);
  sched_rearm(c);
  return r;
}

void vr_kube_request_cancel(vr_kube_request *r) {
  if (r == NULL || r->state == R_DONE) return;
  cancel_now(r);
}
