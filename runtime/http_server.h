/* http_server.h: a small HTTP/1.1 server on a libuv loop for `vmrun serve`: listens on a
 * loopback TCP address, reads requests with http_parse.h (pipelined requests are answered in
 * order, one at a time), hands each whole request to one handler, and writes whole responses or
 * chunked streams (watches). Single-threaded: everything runs in loop callbacks.
 *
 * Limits: the request limits of http_parse.h; a client that sends nothing for the idle timeout,
 * or takes longer than the header timeout to send a request, is disconnected; a stream whose
 * client does not read (more than max_pending_write bytes queued) is cut. A bad request gets its
 * status and a Kubernetes Status object, then the connection closes.
 *
 * It knows nothing of Kubernetes beyond that error body, and nothing of Lua. */
#ifndef VMRUN_HTTP_SERVER_H
#define VMRUN_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "http_parse.h"

typedef struct vr_http_server vr_http_server;
typedef struct vr_http_conn vr_http_conn;

/* Called once per request; req belongs to the handler from then on (vr_http_request_free).
 * The handler answers now or later with vr_http_respond or a stream; the connection reads the
 * next request only after the answer is complete. */
typedef void (*vr_http_handler)(void *ctx, vr_http_conn *conn, vr_http_request *req);

typedef struct vr_http_server_config {
  vr_http_limits limits;
  uint64_t header_timeout_ms; /* to receive a whole request once it began (default 30 s) */
  uint64_t idle_timeout_ms;   /* keep-alive connection with no request (default 5 min) */
  size_t max_pending_write;   /* queued response bytes before a stream is cut (default 16 MiB) */
  size_t max_connections;     /* more are accepted and closed at once (default 1024) */
  vr_http_handler handler;
  void *ctx;
  /* Adds header lines to every response head and stream head, such as "X-Vmrun-Revision: 7\r\n"
   * (NULL: none): writes CRLF-terminated lines into buf (len bytes, NUL-terminated; "" for
   * none). Called as the head is written, so that it reports the state after the request was
   * handled. headers_ctx is its ctx. */
  void (*headers)(void *headers_ctx, char *buf, size_t len);
  void *headers_ctx;
} vr_http_server_config;

/* NULL when out of memory. */
vr_http_server *vr_http_server_new(uv_loop_t *loop, const vr_http_server_config *config);

/* Binds and listens on host:port (host a loopback IPv4 address such as 127.0.0.1; port 0 picks
 * a free one). *bound_port gets the port. Returns 0, or -1 with a message in err. */
int vr_http_server_listen(vr_http_server *s, const char *host, int port, int *bound_port, char *err,
                          size_t errlen);

/* Stops listening and closes every connection (streams get their close callback). The server
 * is freed once the loop has run the handles' close callbacks. */
void vr_http_server_close(vr_http_server *s);

/* How many connections are open. */
size_t vr_http_server_connections(const vr_http_server *s);

/* A whole response: status, Content-Type (NULL: none), body (copied). Keeps the connection open
 * when the request allowed it. extra_headers (NULL or CRLF-terminated lines, such as
 * "Retry-After: 1\r\n") are added as given, then those of the config's headers hook. */
void vr_http_respond(vr_http_conn *c, int status, const char *content_type,
                     const char *extra_headers, const char *body, size_t len);

/* Begins a chunked response (HTTP/1.0 clients: close-delimited), with the headers hook's lines.
 * Returns 0, or -1 when the connection is already gone. */
int vr_http_stream_start(vr_http_conn *c, int status, const char *content_type);
/* Sends one chunk (copied). Returns 0, or -1 when the connection is gone or was cut because
 * the client does not read: the caller stops streaming; its close callback has run. */
int vr_http_stream_send(vr_http_conn *c, const char *data, size_t len);
/* Ends the stream; the connection goes on with the next request (or closes). */
void vr_http_stream_end(vr_http_conn *c);

/* Called once when the connection closes while its request is unanswered or its stream is open
 * (client gone, server closing, stream cut), so that the handler stops using c. After it, c
 * must not be used. Setting it again replaces it; NULL removes it. */
void vr_http_conn_on_close(vr_http_conn *c, void (*cb)(void *data), void *data);

/* Closes the connection at once, without an answer (fault injection: a dropped connection). */
void vr_http_conn_drop(vr_http_conn *c);

/* The peer's address as "127.0.0.1:54321" (for logs). */
const char *vr_http_conn_peer(const vr_http_conn *c);

/* The reason phrase of a status ("Not Found"); "Unknown" for codes it does not know. */
const char *vr_http_reason(int status);

#endif
