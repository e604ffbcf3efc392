/* http_parse.h: an incremental HTTP/1.1 request parser for `vmrun serve` (RFC 9112): request
 * line, header fields, bodies framed by Content-Length or chunked transfer coding, pipelined
 * requests, and the limits that keep a bad or hostile client from growing the server's memory.
 * Also the query-string helpers the API server needs (percent-decoding, form '+').
 *
 * No I/O, no libuv and no Lua here: bytes go in, whole requests come out. Nothing aborts and
 * nothing leaks on any input, allocation failure included; an error names the HTTP status to
 * answer (400, 413, 414, 431, 501, 505) and says why in one line. */
#ifndef VMRUN_HTTP_PARSE_H
#define VMRUN_HTTP_PARSE_H

#include <stddef.h>

/* One header field. name is lower-cased; value has its surrounding whitespace removed. */
typedef struct vr_http_header {
  char *name;
  char *value;
} vr_http_header;

/* A complete request; owned by the caller of vr_http_parser_take. */
typedef struct vr_http_request {
  char *method;        /* "GET", "PATCH", ... as sent (methods are case-sensitive) */
  char *target;        /* the raw request-target: "/api/v1/pods?limit=500" */
  char *path;          /* the target's path, percent-decoded: "/api/v1/pods" */
  char *query;         /* the raw query after '?', not decoded; "" when there is none */
  int version_minor;   /* HTTP/1.<version_minor>: 0 or 1 */
  int keep_alive;      /* HTTP/1.1 without "Connection: close", or 1.0 with keep-alive */
  int expect_continue; /* the request had "Expect: 100-continue" */
  vr_http_header *headers;
  size_t nheaders;
  char *body; /* body_len bytes (chunked bodies decoded) and a NUL after them; never NULL */
  size_t body_len;
} vr_http_request;

/* Limits (0 in a field: its default). */
typedef struct vr_http_limits {
  size_t max_target;       /* request-target bytes (default 8 KiB): 414 URI Too Long */
  size_t max_header_bytes; /* request line and header section (default 64 KiB): 431 */
  size_t max_headers;      /* header fields (default 100): 431 */
  size_t max_body;         /* body bytes after decoding (default 8 MiB): 413 Content Too Large */
} vr_http_limits;

typedef struct vr_http_parser vr_http_parser;

typedef enum vr_http_status {
  VR_HTTP_NEED_MORE = 0, /* every byte given was consumed; no request is complete yet */
  VR_HTTP_REQUEST = 1,   /* a request is complete: vr_http_parser_take it */
  VR_HTTP_ERROR = -1,    /* the stream is broken: answer vr_http_parser_error's status, close */
} vr_http_status;

/* limits may be NULL (every default). NULL when out of memory. */
vr_http_parser *vr_http_parser_new(const vr_http_limits *limits);
void vr_http_parser_free(vr_http_parser *p);

/* Feeds len bytes. *consumed gets how many were used: all of them unless a request completed
 * (VR_HTTP_REQUEST), in which case the rest belongs to the next (pipelined) request: take the
 * request, then feed the rest again. After VR_HTTP_ERROR every later call returns it again.
 * While a complete request waits to be taken, a call uses no bytes and returns VR_HTTP_REQUEST.
 * Where the input is split between calls never changes the outcome. Up to 8 empty lines before a
 * request line are skipped (RFC 9112 2.2). The Host field is not checked here. */
vr_http_status vr_http_parser_feed(vr_http_parser *p, const char *data, size_t len,
                                   size_t *consumed);

/* The completed request (ownership passes to the caller; the parser is ready for the next one),
 * or NULL when none is complete. */
vr_http_request *vr_http_parser_take(vr_http_parser *p);

/* 1 when the header section of the request being read is complete, it asked for
 * "Expect: 100-continue", and its body has not arrived yet (a server answers "100 Continue"
 * once); 0 otherwise, and for HTTP/1.0 requests, whose expectation is ignored (RFC 9110 10.1.1).
 * "Not arrived" means no byte after the header section has been fed. */
int vr_http_parser_wants_continue(const vr_http_parser *p);

/* 1 while part of a request has been read (an idle connection that closes between requests is
 * not an error; one that closes in the middle of a request is). 0 before the first byte of a
 * request line (empty lines skipped before it do not count) and while a complete request waits to
 * be taken; 1 after VR_HTTP_ERROR. */
int vr_http_parser_in_request(const vr_http_parser *p);

/* After VR_HTTP_ERROR: the status to answer (400 Bad Request, 413, 414, 431, 501 Not
 * Implemented for a transfer coding other than chunked, 505 HTTP Version Not Supported, 500 out
 * of memory) and a one-line reason ("header field without a colon"); 0 and "" when the stream is
 * not broken. */
int vr_http_parser_error(const vr_http_parser *p, const char **message);

void vr_http_request_free(vr_http_request *r);

/* The value of the first header field named name (give it lower-case), or NULL. */
const char *vr_http_header_get(const vr_http_request *r, const char *name);

/* Query strings (application/x-www-form-urlencoded: '&'-separated name=value pairs, '+' is a
 * space, %XX escapes). vr_http_query_get decodes the value of the first parameter named name
 * (a parameter without '=' has the value "") into out (NUL-terminated). Returns 1 when found,
 * 0 when absent, -1 when the value has a bad escape or does not fit in outlen. */
int vr_http_query_get(const char *query, const char *name, char *out, size_t outlen);

/* Percent-decodes n bytes of in into out (outlen bytes, NUL-terminated); plus_is_space turns
 * '+' into ' '. Returns the decoded length, or -1 for a bad escape, a decoded NUL byte, or no
 * room (out is then "" when outlen > 0). */
long vr_http_decode(const char *in, size_t n, int plus_is_space, char *out, size_t outlen);

#endif
