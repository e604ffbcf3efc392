/* kube_client.h: the HTTP client of vmrun's Kubernetes REST backend: libcurl's multi interface
 * driven by the libuv loop (no thread per request; any number of requests and watch streams in
 * flight), configured from a vr_kube_config (kubeconfig.h): server URL, TLS verification (on
 * unless the kubeconfig turns it off), CA, client certificate and key (files or in-memory PEM),
 * tls-server-name, proxy-url, bearer token or token file (read on each request: it may rotate),
 * basic auth. Retries with exponential backoff and jitter on connection errors, 5xx and 429
 * (honouring Retry-After), per-attempt timeouts (the client's, or the request's own; no
 * deadline spans the retries: a caller that needs one cancels). Watches are streamed and handed
 * over line by line (one JSON event per line).
 *
 * Exec credential plugins are run by the caller (it hands over the token it got); this module
 * runs no host commands. Tokens, passwords, keys and certificates never appear in anything it
 * returns or logs: error messages name the method, the URL path and the status. No Lua here. */
#ifndef VMRUN_KUBE_CLIENT_H
#define VMRUN_KUBE_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "kubeconfig.h"

typedef struct vr_kube_client vr_kube_client;
typedef struct vr_kube_request vr_kube_request;

/* What a finished request produced. */
typedef struct vr_kube_response {
  int status;       /* HTTP status; 0 when no answer came (connection error, timeout) */
  const char *body; /* the whole body (NUL-terminated; "" for a stream that was answered 2xx,
                     * whose body went to on_line; a stream's error answer is here) */
  size_t body_len;
  const char *content_type; /* or NULL */
  int attempts;             /* how many tries were made (1 without retries) */
  /* when status is 0 or the request failed for good (including a final status >= 400:
   * "GET /api/v1/nodes/x: HTTP 404"): why, in one line without secrets, naming the method and
   * the path without its query ("GET /api/v1/nodes: connection refused (3 attempts)",
   * "... timed out after 30 s", "... TLS: certificate verify failed"); NULL otherwise */
  const char *error;
} vr_kube_response;

/* Called once when a request ends (answered, failed for good, or cancelled: then status 0 and
 * error "cancelled"). The response is valid during the call only, and req is freed when the
 * call returns. Never called from inside vr_kube_request_start. */
typedef void (*vr_kube_done_cb)(vr_kube_request *req, const vr_kube_response *resp, void *data);
/* Called for each complete line of a streamed body (watch events; the newline is not
 * included; line[len] is a NUL), as the bytes arrive; a last line without a newline comes when
 * the body ends cleanly. Only for a 2xx answer. Return 0 to go on, non-zero to end the stream
 * (done_cb then follows with the status and no error). Streams are never retried: a failure
 * ends the stream with its status (0 if none came) and an error. */
typedef int (*vr_kube_line_cb)(vr_kube_request *req, const char *line, size_t len, void *data);

typedef struct vr_kube_client_options {
  double timeout;         /* per attempt, seconds (default 30; streams: no overall limit unless
                             the spec sets one, but connecting and the answer's header must
                             come within it). A timeout after connecting is not retried */
  int max_attempts;       /* tries for retriable failures (default 5) */
  double backoff_initial; /* seconds before the first retry (default 0.5), doubled each time */
  double backoff_max;     /* cap (default 30); a retry waits up to 20 % longer (jitter). A
                             Retry-After (seconds) on 429/503 replaces the backoff, capped here */
  uint64_t seed;          /* jitter; the same seed gives the same delays */
  const char *user_agent; /* default "vmrun/<version>" */
  size_t max_body;        /* bytes of a body, or of one streamed line (default 256 MiB): more
                             fails the request */
} vr_kube_client_options;

/* A client for one cluster. config is copied (secrets included; wiped on free). NULL with a
 * message in err (no secrets) when the TLS material cannot be used. */
vr_kube_client *vr_kube_client_new(uv_loop_t *loop, const vr_kube_config *config,
                                   const vr_kube_client_options *options, char *err, size_t errlen);
/* Cancels every request (their done callbacks run with "cancelled") and frees the client once
 * the loop has closed its handles. */
void vr_kube_client_free(vr_kube_client *c);

/* Replaces the bearer token (an exec plugin's fresh credential); copied, wiped on replace.
 * It comes before token_file (re-read for each attempt) and token; NULL or "" drops it. */
void vr_kube_client_set_token(vr_kube_client *c, const char *token);

typedef struct vr_kube_request_spec {
  const char *method;       /* "GET", "POST", "PUT", "PATCH", "DELETE" */
  const char *path;         /* "/api/v1/namespaces/default/pods?labelSelector=a%3Db" */
  const char *content_type; /* of body (NULL: application/json when there is a body) */
  const char *body;         /* may be NULL */
  size_t body_len;
  int retry_writes;        /* the request may be sent twice: retry POST/PATCH/PUT/DELETE on
                              any 5xx and after a connection lost once it was sent, as GETs
                              (default: only on 429, 503 and connection errors before the
                              request was sent) */
  int resend_on_drop;      /* a connection lost after the request was sent: send it again
                              (a write that is harmless twice, as an eviction) */
  int no_retry_429;        /* a 429 is an answer, not a throttle: do not retry it (evictions:
                              a PodDisruptionBudget or KubeVirt's webhook said no) */
  double timeout;          /* overrides the client's per-attempt timeout (0: the client's) */
  vr_kube_line_cb on_line; /* non-NULL: stream the body line by line */
  vr_kube_done_cb on_done;
  void *data;
} vr_kube_request_spec;

/* Starts a request; NULL when out of memory or the client is being freed (on_done is then not
 * called). */
vr_kube_request *vr_kube_request_start(vr_kube_client *c, const vr_kube_request_spec *spec);
/* Cancels a request in flight or waiting for a retry: its on_done runs with "cancelled" (at
 * once). No-op from inside its own on_done; after on_done has returned, req is gone and must
 * not be passed here. */
void vr_kube_request_cancel(vr_kube_request *req);

#endif
