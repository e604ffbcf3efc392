/* http_server.c: the HTTP/1.1 server of `vmrun serve` (see http_server.h). One connection reads
 * one request at a time: bytes that arrive while a request is being answered wait in the
 * connection's input buffer (bounded) and are parsed once the answer is complete. Nothing here
 * blocks, and nothing aborts on what a client sends. */
#include "http_server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define READ_BUFFER       65536
#define MAX_WAITING_INPUT (1u << 20) /* bytes of later requests read while one is answered */
#define LINGER_MS         2000 /* how long a closing connection reads what the client still sends */
#define BACKPRESSURE      (1u << 20) /* queued answer bytes above which no new request is taken */
#define CLOSE_WRITE_MS    30000 /* for a last answer to be written before the connection goes */

enum conn_state { C_READING, C_HANDLING, C_STREAMING, C_CLOSING };

struct vr_http_conn {
  uv_tcp_t tcp; /* first: the handle's pointer is the connection's */
  uv_timer_t timer;
  vr_http_server *server;
  vr_http_conn *prev, *next;
  vr_http_parser *parser;
  enum conn_state state;
  int handles_open;  /* tcp and timer, until their close callbacks */
  int keep_alive;    /* of the request being answered */
  int head;          /* the request being answered is a HEAD request */
  int http10;        /* ... came as HTTP/1.0: streams are close-delimited */
  int sent_continue; /* "100 Continue" already sent for the request being read */
  int in_process;    /* process_input is on the stack */
  int header_timer;  /* the whole-request deadline runs (armed once, when a request begins) */
  int read_stopped;  /* reading paused: the client does not read its answers */
  int close_after_write;
  int lingering; /* answered for the last time: reading what the client still sends */
  uv_shutdown_t shutdown_req;
  size_t pending_write; /* bytes queued in uv_write requests */
  char *input;          /* bytes read, not yet given to the parser */
  size_t input_len, input_cap;
  char *read_buffer;
  void (*on_close)(void *data);
  void *on_close_data;
  char peer[64];
};

struct vr_http_server {
  uv_loop_t *loop;
  uv_tcp_t listener;
  int listening, closing;
  vr_http_server_config config;
  vr_http_conn *conns;
  size_t nconns;
};

typedef struct write_req {
  uv_write_t req;
  vr_http_conn *conn;
  size_t len;
  char data[]; /* the bytes written */
} write_req;

const char *vr_http_reason(int status) {
  switch (status) {
  case 100:
    return "Continue";
  case 200:
    return "OK";
  case 201:
    return "Created";
  case 202:
    return "Accepted";
  case 204:
    return "No Content";
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 406:
    return "Not Acceptable";
  case 408:
    return "Request Timeout";
  case 409:
    return "Conflict";
  case 410:
    return "Gone";
  case 413:
    return "Content Too Large";
  case 414:
    return "URI Too Long";
  case 415:
    return "Unsupported Media Type";
  case 422:
    return "Unprocessable Entity";
  case 429:
    return "Too Many Requests";
  case 431:
    return "Request Header Fields Too Large";
  case 500:
    return "Internal Server Error";
  case 501:
    return "Not Implemented";
  case 503:
    return "Service Unavailable";
  case 504:
    return "Gateway Timeout";
  case 505:
    return "HTTP Version Not Supported";
  default:
    return "Unknown";
  }
}

static void process_input(vr_http_conn *c);
static void conn_close(vr_http_conn *c);
static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);
static void on_linger_timeout(uv_timer_t *timer);

/* --- closing ------------------------------------------------------------------------------- */

static void on_handle_closed(uv_handle_t *handle) {
  vr_http_conn *c = handle->data;
  if (--c->handles_open > 0) return;
  vr_http_parser_free(c->parser);
  free(c->input);
  free(c->read_buffer);
  free(c);
}

/* Tells the handler (once) that c is going away, unlinks c and closes its handles. */
static void conn_close(vr_http_conn *c) {
  vr_http_server *s = c->server;
  void (*cb)(void *) = c->on_close;
  if (c->state == C_CLOSING) return;
  c->state = C_CLOSING;
  c->on_close = NULL;
  if (cb) cb(c->on_close_data);
  if (c->prev) {
    c->prev->next = c->next;
  } else {
    s->conns = c->next;
  }
  if (c->next) c->next->prev = c->prev;
  s->nconns--;
  uv_timer_stop(&c->timer);
  uv_close((uv_handle_t *)&c->timer, on_handle_closed);
  uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
}

void vr_http_conn_drop(vr_http_conn *c) {
  conn_close(c);
}

void vr_http_conn_on_close(vr_http_conn *c, void (*cb)(void *data), void *data) {
  c->on_close = cb;
  c->on_close_data = data;
}

const char *vr_http_conn_peer(const vr_http_conn *c) {
  return c->peer;
}

static void on_linger_timeout(uv_timer_t *timer) {
  conn_close(timer->data);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  (void)req;
  (void)status; /* the timer or the client's EOF closes the connection */
}

/* The last answer is written: end the sending side, but read (and drop) what the client still
 * sends for a while before closing, so that closing with unread input does not reset the
 * connection and lose the answer (a client still sending a body that was refused). */
static void start_linger(vr_http_conn *c) {
  if (c->lingering || c->state == C_CLOSING) return;
  c->lingering = 1;
  if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
    conn_close(c);
    return;
  }
  uv_timer_start(&c->timer, on_linger_timeout, LINGER_MS, 0);
}

/* --- writing -------------------------------------------------------------------------------- */

static void on_written(uv_write_t *req, int status) {
  write_req *w = (write_req *)req;
  vr_http_conn *c = w->conn;
  c->pending_write -= w->len;
  free(w);
  if (c->state == C_CLOSING) return;
  if (status < 0) {
    conn_close(c);
  } else if (c->close_after_write && c->pending_write == 0) {
    start_linger(c);
  } else if (c->pending_write <= BACKPRESSURE / 2) {
    if (c->read_stopped && uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0) {
      c->read_stopped = 0;
    }
    if (c->state == C_READING && !c->in_process && c->input_len > 0) process_input(c);
  }
}

/* Queues n bytes (copied). -1 when the connection is closing or the write failed at once. */
static int conn_write(vr_http_conn *c, const char *data, size_t n) {
  write_req *w;
  uv_buf_t buf;
  if (c->state == C_CLOSING) return -1;
  w = malloc(sizeof *w + n);
  if (w == NULL) {
    conn_close(c);
    return -1;
  }
  memcpy(w->data, data, n);
  w->conn = c;
  w->len = n;
  buf = uv_buf_init(w->data, (unsigned)n);
  if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, on_written) != 0) {
    free(w);
    conn_close(c);
    return -1;
  }
  c->pending_write += n;
  if (c->pending_write > BACKPRESSURE && c->state != C_STREAMING && !c->read_stopped &&
      !c->lingering && uv_read_stop((uv_stream_t *)&c->tcp) == 0) {
    c->read_stopped = 1;
  }
  return 0;
}

/* The request is answered: go on with the next one, or close. */
static void answered(vr_http_conn *c) {
  if (c->state == C_CLOSING) return;
  c->on_close = NULL;
  if (!c->keep_alive) {
    c->close_after_write = 1;
    c->state = C_READING; /* parses nothing more: closes once written */
    if (c->pending_write == 0) {
      start_linger(c);
    } else { /* a client that never reads its last answer does not hold the connection */
      uv_timer_start(&c->timer, on_linger_timeout, CLOSE_WRITE_MS, 0);
    }
    return;
  }
  c->state = C_READING;
  if (!c->in_process) process_input(c);
}

/* The config's headers hook's lines into buf ("" without a hook). */
static void hook_headers(const vr_http_conn *c, char *buf, size_t len) {
  const vr_http_server_config *cfg = &c->server->config;
  buf[0] = '\0';
  if (cfg->headers) cfg->headers(cfg->headers_ctx, buf, len);
  buf[len - 1] = '\0';
}

void vr_http_respond(vr_http_conn *c, int status, const char *content_type,
                     const char *extra_headers, const char *body, size_t len) {
  char head[1536], hooked[256];
  int n;
  char *all;
  if (c->state != C_HANDLING) return;
  hook_headers(c, hooked, sizeof hooked);
  n = snprintf(head, sizeof head, "HTTP/1.1 %d %s\r\n%s%s%sContent-Length: %zu\r\n%s%s%s\r\n",
               status, vr_http_reason(status), content_type ? "Content-Type: " : "",
               content_type ? content_type : "", content_type ? "\r\n" : "", len,
               c->keep_alive ? "" : "Connection: close\r\n", extra_headers ? extra_headers : "",
               hooked);
  if (n < 0 || (size_t)n >= sizeof head) n = 0;
  if (c->head) len = 0;
  all = malloc((size_t)n + len + 1);
  if (all == NULL) {
    conn_close(c);
    return;
  }
  memcpy(all, head, (size_t)n);
  if (len) memcpy(all + n, body, len);
  conn_write(c, all, (size_t)n + len);
  free(all);
  answered(c);
}

int vr_http_stream_start(vr_http_conn *c, int status, const char *content_type) {
  char head[768], hooked[256];
  int n;
  if (c->state != C_HANDLING) return -1;
  if (c->http10) c->keep_alive = 0;
  hook_headers(c, hooked, sizeof hooked);
  n = snprintf(head, sizeof head, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n%s%s\r\n", status,
               vr_http_reason(status), content_type ? content_type : "application/json",
               c->http10 ? "Connection: close\r\n" : "Transfer-Encoding: chunked\r\n", hooked);
  if (n < 0 || (size_t)n >= sizeof head) return -1;
  if (conn_write(c, head, (size_t)n) != 0) return -1;
  c->state = C_STREAMING;
  return 0;
}

int vr_http_stream_send(vr_http_conn *c, const char *data, size_t len) {
  char size_line[32];
  char *chunk;
  int n, rc;
  if (c->state != C_STREAMING) return -1;
  if (len == 0 || c->head) return 0; /* an empty chunk would end the stream; HEAD: no body */
  if (c->pending_write > c->server->config.max_pending_write) {
    conn_close(c); /* the client does not read: cut it */
    return -1;
  }
  if (c->http10) return conn_write(c, data, len);
  n = snprintf(size_line, sizeof size_line, "%zx\r\n", len);
  chunk = malloc((size_t)n + len + 2);
  if (chunk == NULL) {
    conn_close(c);
    return -1;
  }
  memcpy(chunk, size_line, (size_t)n);
  memcpy(chunk + n, data, len);
  memcpy(chunk + n + len, "\r\n", 2);
  rc = conn_write(c, chunk, (size_t)n + len + 2);
  free(chunk);
  return rc;
}

void vr_http_stream_end(vr_http_conn *c) {
  if (c->state != C_STREAMING) return;
  if (!c->http10 && !c->head) conn_write(c, "0\r\n\r\n", 5);
  c->state = C_HANDLING;
  answered(c);
}

/* A request that cannot be read: its status with a Status object, then close. */
static void respond_bad_request(vr_http_conn *c, int status, const char *message) {
  char body[512], escaped[256];
  size_t i, j = 0;
  for (i = 0; message[i] && j + 2 < sizeof escaped; i++) {
    char ch = message[i];
    if (ch == '"' || ch == '\\') escaped[j++] = '\\';
    escaped[j++] = (ch >= 0x20 && ch < 0x7f) ? ch : '?';
  }
  escaped[j] = '\0';
  snprintf(body, sizeof body,
           "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
           "\"message\":\"%s\",\"reason\":\"BadRequest\",\"code\":%d}",
           escaped, status);
  c->state = C_HANDLING;
  c->keep_alive = 0;
  c->head = 0;
  vr_http_respond(c, status, "application/json", NULL, body, strlen(body));
}

/* --- reading -------------------------------------------------------------------------------- */

static void on_timeout(uv_timer_t *timer) {
  vr_http_conn *c = timer->data;
  if (c->state != C_READING) return;
  if (vr_http_parser_in_request(c->parser)) {
    respond_bad_request(c, 408, "the request did not arrive in time");
  } else {
    conn_close(c); /* idle keep-alive connection */
  }
}

/* Arms the deadline of a connection that waits for a request: the whole request must arrive
 * within the header timeout from its first byte (armed once, not on every read), and an idle
 * keep-alive connection goes after the idle timeout. */
static void arm_timeout(vr_http_conn *c) {
  const vr_http_server_config *cfg = &c->server->config;
  if (c->lingering || c->close_after_write) return; /* their own timers run */
  if (c->state != C_READING) {
    uv_timer_stop(&c->timer);
    c->header_timer = 0;
  } else if (vr_http_parser_in_request(c->parser)) {
    if (!c->header_timer) {
      c->header_timer = 1;
      uv_timer_start(&c->timer, on_timeout, cfg->header_timeout_ms, 0);
    }
  } else {
    c->header_timer = 0;
    uv_timer_start(&c->timer, on_timeout, cfg->idle_timeout_ms, 0);
  }
}

/* Parses what is in the input buffer while the connection is free to answer and its queued
 * answers are below BACKPRESSURE (a client that pipelines requests but does not read the answers
 * gets no more of them until it does). The consumed bytes are removed once, at the end. */
static void process_input(vr_http_conn *c) {
  size_t off = 0;
  c->in_process = 1;
  while (c->state == C_READING && !c->close_after_write && off < c->input_len &&
         c->pending_write <= BACKPRESSURE) {
    size_t used = 0;
    vr_http_status st = vr_http_parser_feed(c->parser, c->input + off, c->input_len - off, &used);
    off += used;
    if (st == VR_HTTP_ERROR) {
      const char *why = "bad request";
      int status = vr_http_parser_error(c->parser, &why);
      respond_bad_request(c, status, why);
      break;
    }
    if (st == VR_HTTP_NEED_MORE) {
      if (vr_http_parser_wants_continue(c->parser) && !c->sent_continue) {
        c->sent_continue = 1;
        conn_write(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
      }
      break;
    }
    {
      vr_http_request *req = vr_http_parser_take(c->parser);
      if (req == NULL) break;
      c->sent_continue = 0;
      c->keep_alive = req->keep_alive && !c->server->closing;
      c->head = strcmp(req->method, "HEAD") == 0;
      c->http10 = req->version_minor == 0;
      c->state = C_HANDLING;
      c->header_timer = 0;
      uv_timer_stop(&c->timer);
      c->server->config.handler(c->server->config.ctx, c, req);
    }
  }
  if (c->state != C_CLOSING && off > 0) {
    memmove(c->input, c->input + off, c->input_len - off);
    c->input_len -= off;
  }
  c->in_process = 0;
  if (c->state != C_CLOSING) arm_timeout(c);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf) {
  vr_http_conn *c = handle->data;
  (void)suggested;
  *buf = uv_buf_init(c->read_buffer, READ_BUFFER);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  vr_http_conn *c = stream->data;
  (void)buf;
  if (c->state == C_CLOSING) return;
  if (nread < 0) { /* EOF or error: the client is gone */
    conn_close(c);
    return;
  }
  if (nread == 0) return;
  if (c->close_after_write) return; /* answered for the last time: ignore the rest */
  if (c->input_len + (size_t)nread > c->input_cap) {
    size_t cap = c->input_cap ? c->input_cap : READ_BUFFER;
    char *bigger;
    while (cap < c->input_len + (size_t)nread) cap *= 2;
    if (cap > MAX_WAITING_INPUT + READ_BUFFER) {
      if (c->state == C_READING) {
        /* the parser consumes as it goes; this much unread input means a stalled client */
        respond_bad_request(c, 431, "too much input");
      } else {
        conn_close(c); /* pipelining far ahead of the answers */
      }
      return;
    }
    bigger = realloc(c->input, cap);
    if (bigger == NULL) {
      conn_close(c);
      return;
    }
    c->input = bigger;
    c->input_cap = cap;
  }
  memcpy(c->input + c->input_len, c->read_buffer, (size_t)nread);
  c->input_len += (size_t)nread;
  if (c->state == C_READING && !c->in_process) process_input(c);
}

static void on_connection(uv_stream_t *listener, int status) {
  vr_http_server *s = listener->data;
  vr_http_conn *c;
  struct sockaddr_storage addr;
  int len = sizeof addr;
  if (status < 0) return;
  c = calloc(1, sizeof *c);
  if (c == NULL) return;
  c->server = s;
  c->parser = vr_http_parser_new(&s->config.limits);
  c->read_buffer = malloc(READ_BUFFER);
  if (c->parser == NULL || c->read_buffer == NULL || uv_tcp_init(s->loop, &c->tcp) != 0) {
    vr_http_parser_free(c->parser);
    free(c->read_buffer);
    free(c);
    return;
  }
  uv_timer_init(s->loop, &c->timer);
  c->tcp.data = c;
  c->timer.data = c;
  c->handles_open = 2;
  c->next = s->conns;
  if (s->conns) s->conns->prev = c;
  s->conns = c;
  s->nconns++;
  if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0 || s->nconns > s->config.max_connections) {
    conn_close(c);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&addr, &len) == 0 &&
      addr.ss_family == AF_INET) {
    char ip[32];
    const struct sockaddr_in *in = (const struct sockaddr_in *)&addr;
    uv_ip4_name(in, ip, sizeof ip);
    snprintf(c->peer, sizeof c->peer, "%s:%u", ip, (unsigned)ntohs(in->sin_port));
  }
  c->state = C_READING;
  arm_timeout(c);
  if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) conn_close(c);
}

/* --- the server ------------------------------------------------------------------------------ */

vr_http_server *vr_http_server_new(uv_loop_t *loop, const vr_http_server_config *config) {
  vr_http_server *s = calloc(1, sizeof *s);
  if (s == NULL) return NULL;
  s->loop = loop;
  s->config = *config;
  if (s->config.header_timeout_ms == 0) s->config.header_timeout_ms = 30000;
  if (s->config.idle_timeout_ms == 0) s->config.idle_timeout_ms = 300000;
  if (s->config.max_pending_write == 0) s->config.max_pending_write = 16u << 20;
  if (s->config.max_connections == 0) s->config.max_connections = 1024;
  if (uv_tcp_init(loop, &s->listener) != 0) {
    free(s);
    return NULL;
  }
  s->listener.data = s;
  return s;
}

int vr_http_server_listen(vr_http_server *s, const char *host, int port, int *bound_port, char *err,
                          size_t errlen) {
  struct sockaddr_in addr;
  struct sockaddr_storage got;
  int len = sizeof got, rc;
  if (uv_ip4_addr(host, port, &addr) != 0) {
    snprintf(err, errlen, "'%s' is not an IPv4 address", host);
    return -1;
  }
  if ((ntohl(addr.sin_addr.s_addr) >> 24) != 127) {
    snprintf(err, errlen,
             "%s is not a loopback address (127.0.0.0/8): vmrun serve listens only "
             "on loopback",
             host);
    return -1;
  }
  rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&addr, 0);
  if (rc == 0) rc = uv_listen((uv_stream_t *)&s->listener, 128, on_connection);
  if (rc != 0) {
    snprintf(err, errlen, "cannot listen on %s:%d: %s", host, port, uv_strerror(rc));
    return -1;
  }
  s->listening = 1;
  if (uv_tcp_getsockname(&s->listener, (struct sockaddr *)&got, &len) == 0) {
    *bound_port = ntohs(((struct sockaddr_in *)&got)->sin_port);
  } else {
    *bound_port = port;
  }
  return 0;
}

static void on_listener_closed(uv_handle_t *handle) {
  free(handle->data);
}

void vr_http_server_close(vr_http_server *s) {
  if (s->closing) return;
  s->closing = 1;
  while (s->conns) conn_close(s->conns);
  uv_close((uv_handle_t *)&s->listener, on_listener_closed);
}

size_t vr_http_server_connections(const vr_http_server *s) {
  return s->nconns;
}
