/* http_parse.c: the incremental HTTP/1.1 request parser of `vmrun serve` and its query-string
 * helpers (see http_parse.h; RFC 9112 for the syntax, RFC 9110 for field lists).
 *
 * Rules it keeps: no I/O, no libuv, no Lua and no global state. Each byte is looked at once: the
 * parser keeps its place between feeds, so a request fed one byte at a time costs what it costs
 * fed whole, and the outcome (requests, errors, *consumed) does not depend on where the input was
 * split. Limits are checked byte by byte as input arrives, so nothing it buffers grows past its
 * limit (plus a line ending and a NUL). Every allocation is checked; until vr_http_parser_take
 * hands a request over, the parser owns it and everything in it. Memory comes only from malloc,
 * calloc and realloc (never strdup), which lets the unit test fail each allocation in turn. */
#include "http_parse.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_TARGET       8192
#define DEFAULT_MAX_HEADER_BYTES 65536
#define DEFAULT_MAX_HEADERS      100
#define DEFAULT_MAX_BODY         (8u << 20)
/* Limits are clamped to this, so that sums of counts and limits never overflow. */
#define LIMIT_CEILING (SIZE_MAX / 4)
/* Empty lines skipped before a request line (RFC 9112 2.2 "at least one"; a few is plenty). */
#define MAX_EMPTY_LINES 8
/* "HTTP/1.1" and its CR: a longer version is refused before its line ends. */
#define MAX_VERSION_BYTES 9
/* A chunk-size line with its extensions (which are ignored). */
#define MAX_CHUNK_LINE 4096
/* A line buffer larger than this is given back between requests. */
#define LINE_KEEP 4096

typedef enum parse_state {
  AWAIT_REQUEST,     /* between requests: empty lines are skipped */
  READ_METHOD,       /* the request line, byte by byte ... */
  READ_TARGET,       /* ... */
  READ_VERSION,      /* ... up to its LF */
  READ_HEADER_LINE,  /* a header field line, or the empty line that ends the section */
  READ_BODY,         /* Content-Length bytes */
  READ_CHUNK_SIZE,   /* a chunk-size line, extensions included */
  READ_CHUNK_DATA,   /* a chunk's data */
  READ_CHUNK_END,    /* the CRLF after a chunk's data */
  READ_TRAILER_LINE, /* a trailer field line (discarded), or the empty line that ends them */
  COMPLETE,          /* a request waits for vr_http_parser_take */
  FAILED             /* the stream is broken: error_status says how to answer */
} parse_state;

struct vr_http_parser {
  vr_http_limits limits; /* defaults filled in, clamped to LIMIT_CEILING */
  parse_state state;
  vr_http_request *req; /* the request being read, from the end of its request line on */
  size_t header_cap;    /* entries allocated in req->headers */
  size_t body_cap;      /* bytes allocated in req->body */
  char *line;           /* the line being read, without its LF */
  size_t line_len, line_cap;
  size_t empty_lines;                         /* skipped before this request line */
  int await_lf;                               /* a CR was skipped before the request line */
  size_t method_len, target_len, version_len; /* of the request line read so far */
  size_t section_bytes; /* of the request line and header section, or of the trailer section */
  size_t body_left;     /* Content-Length bytes, or bytes of the current chunk, still to come */
  int body_started;     /* a byte after the header section has arrived */
  int error_status;
  const char *error_message;
};

/* ---- characters -------------------------------------------------------------------------- */

/* tchar (RFC 9110 5.6.2): what method and field names are made of. */
static int is_tchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return 1;
  return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int is_ows(char c) {
  return c == ' ' || c == '\t';
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* s (n bytes) equals the lower-case word, ignoring ASCII case. */
static int equals_ignoring_case(const char *s, size_t n, const char *word) {
  size_t i;
  for (i = 0; i < n; i++) {
    if (word[i] == '\0' || ascii_lower(s[i]) != word[i]) return 0;
  }
  return word[n] == '\0';
}

/* The next non-empty element of a comma-separated field value (RFC 9110 5.6.1), without its
 * surrounding whitespace, from *cursor on; 0 when there is none left. */
static int next_list_element(const char **cursor, const char **element, size_t *element_len) {
  const char *s = *cursor;
  for (;;) {
    const char *start, *end;
    while (is_ows(*s) || *s == ',') s++;
    if (*s == '\0') {
      *cursor = s;
      return 0;
    }
    start = s;
    while (*s != '\0' && *s != ',') s++;
    end = s;
    while (end > start && is_ows(end[-1])) end--;
    *cursor = s;
    *element = start;
    *element_len = (size_t)(end - start);
    return 1;
  }
}

/* Adds the decimal digits s (n bytes) to *value, saturating at SIZE_MAX; 0 unless all digits. */
static int parse_decimal(const char *s, size_t n, size_t *value) {
  size_t v = 0, i;
  if (n == 0) return 0;
  for (i = 0; i < n; i++) {
    size_t digit;
    if (s[i] < '0' || s[i] > '9') return 0;
    digit = (size_t)(s[i] - '0');
    v = v > (SIZE_MAX - digit) / 10 ? SIZE_MAX : v * 10 + digit;
  }
  *value = v;
  return 1;
}

/* ---- allocation and failure ---------------------------------------------------------------- */

static char *copy_bytes(const char *s, size_t n) {
  char *copy = malloc(n + 1);
  if (copy == NULL) return NULL;
  memcpy(copy, s, n);
  copy[n] = '\0';
  return copy;
}

/* Breaks the stream; returns 0 so that callers can `return fail(...)`. */
static int fail(vr_http_parser *p, int status, const char *message) {
  p->state = FAILED;
  p->error_status = status;
  p->error_message = message;
  return 0;
}

static int fail_memory(vr_http_parser *p) {
  return fail(p, 500, "out of memory");
}

/* Room for extra more bytes in the line buffer, and a NUL after them. The buffer grows
 * geometrically, but never past the longest line some limit allows. */
static int reserve_line(vr_http_parser *p, size_t extra) {
  size_t need = p->line_len + extra + 1, cap, bound;
  char *grown;
  if (need <= p->line_cap) return 1;
  bound =
      (p->limits.max_header_bytes > MAX_CHUNK_LINE ? p->limits.max_header_bytes : MAX_CHUNK_LINE) +
      1;
  cap = p->line_cap < 128 ? 128 : p->line_cap * 2;
  if (cap > bound) cap = bound;
  if (cap < need) cap = need;
  grown = realloc(p->line, cap);
  if (grown == NULL) return fail_memory(p);
  p->line = grown;
  p->line_cap = cap;
  return 1;
}

static int append_line(vr_http_parser *p, const char *data, size_t n) {
  if (!reserve_line(p, n)) return 0;
  memcpy(p->line + p->line_len, data, n);
  p->line_len += n;
  p->line[p->line_len] = '\0';
  return 1;
}

/* Room for n more body bytes and the NUL after the body. The buffer grows geometrically, but
 * never past what the Content-Length announced (an empty body gets its NUL alone; a chunked one
 * stops at max_body): a client that announces a large body and sends little gets little memory. */
static int reserve_body(vr_http_parser *p, size_t n) {
  vr_http_request *r = p->req;
  size_t need = r->body_len + n + 1, cap, bound;
  char *grown;
  if (need <= p->body_cap) return 1;
  bound = p->state == READ_CHUNK_DATA ? p->limits.max_body + 1 : r->body_len + p->body_left + 1;
  cap = p->body_cap < 1024 ? 1024 : p->body_cap * 2;
  if (cap > bound) cap = bound;
  if (cap < need) cap = need;
  grown = realloc(r->body, cap);
  if (grown == NULL) return fail_memory(p);
  r->body = grown;
  p->body_cap = cap;
  return 1;
}

/* The request is whole: its body gets its NUL (and exists even when empty). */
static int complete_request(vr_http_parser *p) {
  if (!reserve_body(p, 0)) return 0;
  p->req->body[p->req->body_len] = '\0';
  p->state = COMPLETE;
  return 1;
}

/* ---- request line ---------------------------------------------------------------------------- */

/* Skips empty lines (CRLF or a bare LF) before a request line. */
static size_t skip_empty_lines(vr_http_parser *p, const char *data, size_t len) {
  size_t i;
  for (i = 0; i < len; i++) {
    char c = data[i];
    if (p->await_lf && c != '\n') {
      fail(p, 400, "CR without LF before the request line");
      return i;
    }
    if (c == '\r') {
      p->await_lf = 1;
      continue;
    }
    if (c != '\n') {
      p->state = READ_METHOD;
      return i;
    }
    p->await_lf = 0;
    if (++p->empty_lines > MAX_EMPTY_LINES) {
      fail(p, 400, "too many empty lines before the request line");
      return i + 1;
    }
  }
  return i;
}

/* Checks one byte of the request line before its LF, so that garbage (a TLS handshake, say) and
 * an overlong target are refused as they arrive. */
static int request_line_byte(vr_http_parser *p, unsigned char c) {
  switch (p->state) {
  case READ_METHOD:
    if (c == ' ' && p->method_len > 0) {
      p->state = READ_TARGET;
      return 1;
    }
    if (c == '\r' || c == ' ') return fail(p, 400, "malformed request line");
    if (!is_tchar(c)) return fail(p, 400, "bad character in the method");
    p->method_len++;
    return 1;
  case READ_TARGET:
    if (c == ' ' || c == '\r') {
      if (c == '\r' || p->target_len == 0) return fail(p, 400, "malformed request line");
      p->state = READ_VERSION;
      return 1;
    }
    if (c == '#') return fail(p, 400, "fragment in the request target");
    if (c < 0x21 || c > 0x7e) return fail(p, 400, "bad character in the request target");
    if (++p->target_len > p->limits.max_target) return fail(p, 414, "request target too long");
    return 1;
  default: /* READ_VERSION */
    if (++p->version_len > MAX_VERSION_BYTES) return fail(p, 400, "malformed HTTP version");
    return 1;
  }
}

/* For an absolute-form target (RFC 9112 3.2.2: "http://host/path?query"), where its path starts
 * (at its end when it has none); NULL when the target is not one. */
static const char *absolute_form_path(const char *t, size_t n) {
  const char *end = t + n, *authority, *s;
  if (n >= 7 && equals_ignoring_case(t, 7, "http://")) {
    authority = t + 7;
  } else if (n >= 8 && equals_ignoring_case(t, 8, "https://")) {
    authority = t + 8;
  } else {
    return NULL;
  }
  for (s = authority; s < end && *s != '/' && *s != '?';) s++;
  return s > authority ? s : NULL;
}

/* Sets the request's method, target, path, query and version from the complete request line. */
static int finish_request_line(vr_http_parser *p) {
  const char *method = p->line, *target = method + p->method_len + 1;
  const char *version = target + p->target_len + 1, *from, *end = target + p->target_len;
  const char *question;
  size_t version_len = p->version_len;
  vr_http_request *r;
  if (version_len > 0 && version[version_len - 1] == '\r') version_len--;
  if (version_len != 8 || memcmp(version, "HTTP/", 5) != 0 || version[5] < '0' ||
      version[5] > '9' || version[6] != '.' || version[7] < '0' || version[7] > '9')
    return fail(p, 400, "malformed HTTP version");
  if (version[5] != '1' || (version[7] != '0' && version[7] != '1'))
    return fail(p, 505, "HTTP version not supported");

  if (p->target_len == 1 && target[0] == '*') {
    if (p->method_len != 7 || memcmp(method, "OPTIONS", 7) != 0)
      return fail(p, 400, "request target \"*\" outside OPTIONS");
    from = target;
  } else if (target[0] == '/') {
    from = target;
  } else if ((from = absolute_form_path(target, p->target_len)) == NULL) {
    return fail(p, 400, "bad request target");
  }
  question = memchr(from, '?', (size_t)(end - from));
  if (question == NULL) question = end;

  r = calloc(1, sizeof *r);
  if (r == NULL) return fail_memory(p);
  p->req = r;
  r->version_minor = version[7] - '0';
  r->method = copy_bytes(method, p->method_len);
  r->target = copy_bytes(target, p->target_len);
  r->query =
      question < end ? copy_bytes(question + 1, (size_t)(end - question - 1)) : copy_bytes("", 0);
  /* An absolute-form target without a path ("http://host?x") asks for "/" */
  r->path = from == question ? copy_bytes("/", 1) : malloc((size_t)(question - from) + 1);
  if (r->method == NULL || r->target == NULL || r->query == NULL || r->path == NULL)
    return fail_memory(p);
  if (from < question && vr_http_decode(from, (size_t)(question - from), 0, r->path,
                                        (size_t)(question - from) + 1) < 0)
    return fail(p, 400, "bad percent-escape in the path");
  p->state = READ_HEADER_LINE;
  return 1;
}

/* Reads the request line up to its LF, checking each byte as it comes. */
static size_t read_request_line(vr_http_parser *p, const char *data, size_t len) {
  size_t i;
  int at_lf = 0;
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)data[i];
    if (++p->section_bytes > p->limits.max_header_bytes) {
      fail(p, 431, "header section too large");
      return i;
    }
    if (c == '\n') {
      at_lf = 1;
      break;
    }
    if (!request_line_byte(p, c)) return i;
  }
  if (at_lf && p->state != READ_VERSION) {
    fail(p, 400, "malformed request line");
    return i;
  }
  if (!append_line(p, data, i)) return i;
  if (!at_lf) return i;
  finish_request_line(p);
  p->line_len = 0;
  return i + 1;
}

/* ---- header and trailer fields --------------------------------------------------------------- */

/* Splits a field line (without its line ending) into name and value (surrounding whitespace
 * removed); NULL, or why the line is not a field line. */
static const char *split_field_line(const char *line, size_t n, size_t *name_len,
                                    const char **value, size_t *value_len) {
  const char *colon, *v, *end = line + n, *s;
  size_t i;
  if (is_ows(line[0])) return "obsolete line folding (a field line starting with whitespace)";
  colon = memchr(line, ':', n);
  if (colon == NULL) return "header field without a colon";
  *name_len = (size_t)(colon - line);
  if (*name_len == 0) return "bad header field name";
  if (is_ows(colon[-1])) return "whitespace before the colon of a header field";
  for (i = 0; i < *name_len; i++) {
    if (!is_tchar((unsigned char)line[i])) return "bad header field name";
  }
  for (v = colon + 1; v < end && is_ows(*v);) v++;
  while (end > v && is_ows(end[-1])) end--;
  for (s = v; s < end; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c < 0x20 && c != '\t') || c == 0x7f) return "bad character in a header field value";
  }
  *value = v;
  *value_len = (size_t)(end - v);
  return NULL;
}

static int add_header(vr_http_parser *p, const char *name, size_t name_len, const char *value,
                      size_t value_len) {
  vr_http_request *r = p->req;
  vr_http_header *h;
  size_t i;
  if (r->nheaders == p->header_cap) {
    size_t cap = p->header_cap < 8 ? 8 : p->header_cap * 2;
    vr_http_header *grown;
    if (cap > p->limits.max_headers) cap = p->limits.max_headers;
    grown = realloc(r->headers, cap * sizeof *grown);
    if (grown == NULL) return fail_memory(p);
    r->headers = grown;
    p->header_cap = cap;
  }
  h = &r->headers[r->nheaders];
  h->name = copy_bytes(name, name_len);
  h->value = copy_bytes(value, value_len);
  if (h->name == NULL || h->value == NULL) {
    free(h->name);
    free(h->value);
    return fail_memory(p);
  }
  for (i = 0; i < name_len; i++) h->name[i] = ascii_lower(h->name[i]);
  r->nheaders++;
  return 1;
}

/* The header section is complete: framing (RFC 9112 6), connection and expectation. */
static int end_header_section(vr_http_parser *p) {
  vr_http_request *r = p->req;
  size_t i, content_length = 0, cl_values = 0, te_codings = 0, te_chunked = 0;
  int has_te = 0, has_cl = 0, te_unknown = 0, cl_bad = 0, cl_differ = 0;
  int conn_close = 0, conn_keep_alive = 0, expect_100 = 0;
  for (i = 0; i < r->nheaders; i++) {
    const char *name = r->headers[i].name, *cursor = r->headers[i].value, *e;
    size_t n, value;
    if (strcmp(name, "transfer-encoding") == 0) {
      has_te = 1;
      while (next_list_element(&cursor, &e, &n)) {
        te_codings++;
        if (equals_ignoring_case(e, n, "chunked"))
          te_chunked++;
        else
          te_unknown = 1;
      }
    } else if (strcmp(name, "content-length") == 0) {
      /* One value, or a list of identical ones ("5, 5"), in one or more fields */
      size_t elements = 0;
      has_cl = 1;
      while (next_list_element(&cursor, &e, &n)) {
        if (!parse_decimal(e, n, &value))
          cl_bad = 1;
        else if (cl_values++ > 0 && value != content_length)
          cl_differ = 1;
        else
          content_length = value;
        elements++;
      }
      if (elements == 0) cl_bad = 1;
    } else if (strcmp(name, "connection") == 0) {
      while (next_list_element(&cursor, &e, &n)) {
        if (equals_ignoring_case(e, n, "close")) conn_close = 1;
        if (equals_ignoring_case(e, n, "keep-alive")) conn_keep_alive = 1;
      }
    } else if (strcmp(name, "expect") == 0) {
      while (next_list_element(&cursor, &e, &n)) {
        if (equals_ignoring_case(e, n, "100-continue")) expect_100 = 1;
      }
    }
  }
  r->keep_alive = r->version_minor == 1 ? !conn_close : conn_keep_alive && !conn_close;
  /* RFC 9110 10.1.1: a server ignores 100-continue in an HTTP/1.0 request */
  r->expect_continue = r->version_minor == 1 && expect_100;

  if (has_te) {
    /* RFC 9112 6.1 lets a server take Transfer-Encoding over Content-Length when both come, but a
     * request with both is how request smuggling starts (a proxy in front may frame it by the
     * other one), so it is refused; so is Transfer-Encoding in HTTP/1.0, whose framing is faulty
     * by the same section. */
    if (has_cl) return fail(p, 400, "both Transfer-Encoding and Content-Length");
    if (r->version_minor == 0) return fail(p, 400, "Transfer-Encoding in an HTTP/1.0 request");
    if (te_unknown) return fail(p, 501, "transfer coding other than chunked");
    if (te_chunked != 1 || te_codings != 1)
      return fail(p, 400, "chunked transfer coding missing or applied twice");
    p->state = READ_CHUNK_SIZE;
    return 1;
  }
  if (has_cl) {
    if (cl_bad) return fail(p, 400, "bad Content-Length");
    if (cl_differ) return fail(p, 400, "differing Content-Length values");
    if (content_length > p->limits.max_body) return fail(p, 413, "body too large");
    if (content_length > 0) {
      p->body_left = content_length;
      p->state = READ_BODY;
      return 1;
    }
  }
  return complete_request(p);
}

static int header_line(vr_http_parser *p, const char *line, size_t n) {
  const char *message, *value;
  size_t name_len, value_len;
  if (n == 0) return end_header_section(p);
  message = split_field_line(line, n, &name_len, &value, &value_len);
  if (message != NULL) return fail(p, 400, message);
  if (p->req->nheaders >= p->limits.max_headers) return fail(p, 431, "too many header fields");
  return add_header(p, line, name_len, value, value_len);
}

/* ---- chunked bodies -------------------------------------------------------------------------- */

/* chunk-size [ chunk-ext ] (RFC 9112 7.1): hex digits, then optional whitespace and extensions
 * (";name=value", ignored). */
static int chunk_size_line(vr_http_parser *p, const char *line, size_t n) {
  size_t size = 0, i = 0;
  for (; i < n && hex_value(line[i]) >= 0; i++) {
    size_t digit = (size_t)hex_value(line[i]);
    size = size > (SIZE_MAX - digit) / 16 ? SIZE_MAX : size * 16 + digit;
  }
  if (i == 0) return fail(p, 400, "bad chunk size");
  while (i < n && is_ows(line[i])) i++;
  if (i < n && line[i] != ';') return fail(p, 400, "bad chunk size");
  if (size == 0) {
    p->state = READ_TRAILER_LINE;
    p->section_bytes = 0;
    return 1;
  }
  if (size > p->limits.max_body - p->req->body_len) return fail(p, 413, "body too large");
  p->body_left = size;
  p->state = READ_CHUNK_DATA;
  return 1;
}

static int trailer_line(vr_http_parser *p, const char *line, size_t n) {
  const char *message, *value;
  size_t name_len, value_len;
  if (n == 0) return complete_request(p);
  message = split_field_line(line, n, &name_len, &value, &value_len);
  if (message != NULL) return fail(p, 400, message);
  return 1; /* trailer fields are read and dropped */
}

/* ---- lines and bodies ------------------------------------------------------------------------ */

/* Whether n more bytes of the current line stay within its limit. */
static int line_within_limit(vr_http_parser *p, size_t n) {
  switch (p->state) {
  case READ_HEADER_LINE:
  case READ_TRAILER_LINE:
    if (n > p->limits.max_header_bytes - p->section_bytes)
      return fail(p, 431,
                  p->state == READ_HEADER_LINE ? "header section too large"
                                               : "trailer section too large");
    p->section_bytes += n;
    return 1;
  case READ_CHUNK_SIZE:
    if (n > MAX_CHUNK_LINE - p->line_len) return fail(p, 400, "chunk size line too long");
    return 1;
  default: /* READ_CHUNK_END: a CR at most before the LF */
    if (n > 2 - p->line_len) return fail(p, 400, "chunk data not followed by CRLF");
    return 1;
  }
}

/* A line (its CR, if any, removed) is complete. */
static void end_line(vr_http_parser *p) {
  size_t n = p->line_len;
  if (n > 0 && p->line[n - 1] == '\r') n--;
  p->line_len = 0;
  if (memchr(p->line, '\r', n) != NULL) {
    fail(p, 400, "CR without LF");
    return;
  }
  switch (p->state) {
  case READ_HEADER_LINE:
    header_line(p, p->line, n);
    break;
  case READ_CHUNK_SIZE:
    chunk_size_line(p, p->line, n);
    break;
  case READ_TRAILER_LINE:
    trailer_line(p, p->line, n);
    break;
  default: /* READ_CHUNK_END */
    if (n != 0)
      fail(p, 400, "chunk data not followed by CRLF");
    else
      p->state = READ_CHUNK_SIZE;
    break;
  }
}

/* Reads up to and including the next LF into the line buffer. */
static size_t read_line(vr_http_parser *p, const char *data, size_t len) {
  const char *lf = memchr(data, '\n', len);
  size_t n = lf != NULL ? (size_t)(lf - data) + 1 : len;
  if (!line_within_limit(p, n)) return n;
  if (!append_line(p, data, lf != NULL ? n - 1 : n)) return n;
  if (lf != NULL) end_line(p);
  return n;
}

static size_t read_body_bytes(vr_http_parser *p, const char *data, size_t len) {
  vr_http_request *r = p->req;
  size_t n = len < p->body_left ? len : p->body_left;
  if (!reserve_body(p, n)) return n;
  memcpy(r->body + r->body_len, data, n);
  r->body_len += n;
  p->body_left -= n;
  if (p->body_left == 0) {
    if (p->state == READ_BODY)
      complete_request(p);
    else
      p->state = READ_CHUNK_END;
  }
  return n;
}

/* ---- the parser ------------------------------------------------------------------------------ */

static size_t limit_or_default(size_t value, size_t fallback) {
  if (value == 0) return fallback;
  return value > LIMIT_CEILING ? LIMIT_CEILING : value;
}

vr_http_parser *vr_http_parser_new(const vr_http_limits *limits) {
  vr_http_parser *p = calloc(1, sizeof *p);
  vr_http_limits none = {0, 0, 0, 0};
  if (p == NULL) return NULL;
  if (limits == NULL) limits = &none;
  p->limits.max_target = limit_or_default(limits->max_target, DEFAULT_MAX_TARGET);
  p->limits.max_header_bytes = limit_or_default(limits->max_header_bytes, DEFAULT_MAX_HEADER_BYTES);
  p->limits.max_headers = limit_or_default(limits->max_headers, DEFAULT_MAX_HEADERS);
  p->limits.max_body = limit_or_default(limits->max_body, DEFAULT_MAX_BODY);
  p->state = AWAIT_REQUEST;
  return p;
}

void vr_http_parser_free(vr_http_parser *p) {
  if (p == NULL) return;
  vr_http_request_free(p->req);
  free(p->line);
  free(p);
}

vr_http_status vr_http_parser_feed(vr_http_parser *p, const char *data, size_t len,
                                   size_t *consumed) {
  size_t used = 0;
  if (consumed != NULL) *consumed = 0;
  if (p == NULL) return VR_HTTP_ERROR;
  if (data == NULL) len = 0;
  while (used < len && p->state != COMPLETE && p->state != FAILED) {
    const char *rest = data + used;
    size_t left = len - used;
    switch (p->state) {
    case AWAIT_REQUEST:
      used += skip_empty_lines(p, rest, left);
      break;
    case READ_METHOD:
    case READ_TARGET:
    case READ_VERSION:
      used += read_request_line(p, rest, left);
      break;
    case READ_HEADER_LINE:
      used += read_line(p, rest, left);
      break;
    case READ_BODY:
    case READ_CHUNK_DATA:
      p->body_started = 1;
      used += read_body_bytes(p, rest, left);
      break;
    default: /* the chunk framing lines and trailers */
      p->body_started = 1;
      used += read_line(p, rest, left);
      break;
    }
  }
  if (consumed != NULL) *consumed = used;
  if (p->state == FAILED) return VR_HTTP_ERROR;
  return p->state == COMPLETE ? VR_HTTP_REQUEST : VR_HTTP_NEED_MORE;
}

vr_http_request *vr_http_parser_take(vr_http_parser *p) {
  vr_http_request *r;
  if (p == NULL || p->state != COMPLETE) return NULL;
  r = p->req;
  p->req = NULL;
  p->state = AWAIT_REQUEST;
  p->header_cap = p->body_cap = 0;
  p->line_len = p->empty_lines = 0;
  p->await_lf = p->body_started = 0;
  p->method_len = p->target_len = p->version_len = 0;
  p->section_bytes = p->body_left = 0;
  if (p->line_cap > LINE_KEEP) {
    free(p->line);
    p->line = NULL;
    p->line_cap = 0;
  }
  return r;
}

int vr_http_parser_wants_continue(const vr_http_parser *p) {
  if (p == NULL || p->req == NULL || !p->req->expect_continue || p->body_started) return 0;
  return p->state == READ_BODY || p->state == READ_CHUNK_SIZE;
}

int vr_http_parser_in_request(const vr_http_parser *p) {
  if (p == NULL) return 0;
  return p->state != AWAIT_REQUEST && p->state != COMPLETE;
}

int vr_http_parser_error(const vr_http_parser *p, const char **message) {
  if (p == NULL || p->state != FAILED) {
    if (message != NULL) *message = "";
    return 0;
  }
  if (message != NULL) *message = p->error_message;
  return p->error_status;
}

void vr_http_request_free(vr_http_request *r) {
  size_t i;
  if (r == NULL) return;
  for (i = 0; i < r->nheaders; i++) {
    free(r->headers[i].name);
    free(r->headers[i].value);
  }
  free(r->headers);
  free(r->method);
  free(r->target);
  free(r->path);
  free(r->query);
  free(r->body);
  free(r);
}

const char *vr_http_header_get(const vr_http_request *r, const char *name) {
  size_t i;
  if (r == NULL || name == NULL) return NULL;
  for (i = 0; i < r->nheaders; i++) {
    if (strcmp(r->headers[i].name, name) == 0) return r->headers[i].value;
  }
  return NULL;
}

/* ---- query strings --------------------------------------------------------------------------- */

long vr_http_decode(const char *in, size_t n, int plus_is_space, char *out, size_t outlen) {
  size_t i = 0, o = 0;
  if (out == NULL || outlen == 0) return -1;
  out[0] = '\0';
  if (in == NULL && n > 0) return -1;
  while (i < n) {
    char c = in[i];
    if (c == '%') {
      int high = n - i >= 3 ? hex_value(in[i + 1]) : -1,
          low = high >= 0 ? hex_value(in[i + 2]) : -1;
      if (low < 0) goto refuse; /* a bad escape */
      c = (char)(high * 16 + low);
      i += 3;
    } else {
      if (c == '+' && plus_is_space) c = ' ';
      i++;
    }
    if (c == '\0' || o + 1 >= outlen || o >= (size_t)LONG_MAX) goto refuse;
    out[o++] = c;
  }
  out[o] = '\0';
  return (long)o;
refuse:
  out[0] = '\0';
  return -1;
}

/* Whether the form-encoded s (n bytes) decodes to name; a bad escape or a NUL never matches. */
static int decodes_to(const char *s, size_t n, const char *name) {
  size_t i = 0, j = 0;
  while (i < n) {
    char c = s[i];
    if (c == '%') {
      int high = n - i >= 3 ? hex_value(s[i + 1]) : -1, low = high >= 0 ? hex_value(s[i + 2]) : -1;
      if (low < 0) return 0;
      c = (char)(high * 16 + low);
      i += 3;
    } else {
      if (c == '+') c = ' ';
      i++;
    }
    if (c == '\0' || name[j] != c) return 0;
    j++;
  }
  return name[j] == '\0';
}

int vr_http_query_get(const char *query, const char *name, char *out, size_t outlen) {
  const char *pair = query;
  if (out != NULL && outlen > 0) out[0] = '\0';
  if (query == NULL || name == NULL) return 0;
  for (;;) {
    const char *amp = strchr(pair, '&');
    size_t pair_len = amp != NULL ? (size_t)(amp - pair) : strlen(pair);
    const char *eq = memchr(pair, '=', pair_len);
    size_t name_len = eq != NULL ? (size_t)(eq - pair) : pair_len;
    if (pair_len > 0 && decodes_to(pair, name_len, name)) {
      const char *value = eq != NULL ? eq + 1 : pair + pair_len;
      return vr_http_decode(value, pair_len - (size_t)(value - pair), 1, out, outlen) < 0 ? -1 : 1;
    }
    if (amp == NULL) return 0;
    pair = amp + 1;
  }
}
