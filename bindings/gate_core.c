/* gate_core.c: vmrun.gate.core, the waiting side of the approval gates of
 * stdlib-lua/vmrun/gate.lua. A gate is answered by the first of: a line on the terminal (stdin,
 * only when it is one), an answer file that appears (looked at every half second, removed once
 * taken), an HTTP POST on a loopback address carrying the gate's one-time token
 * (runtime/http_server.h), or the run being asked to stop (vmrun.request_abort, the first Ctrl-C of
 * a maintenance); the task waits meanwhile (vr_await), with the wait's timeout. Everything a gate
 * opened is closed when its wait ends, times out or is cancelled, and the terminal is left as it
 * was found.
 *
 * It never reads stdin when it is not a terminal, never listens beyond 127.0.0.0/8, and never
 * writes the token anywhere: g:token() hands it to gate.lua, which prints it once on stderr. It
 * decides nothing about defaults, the virtual clock or the journal (gate.lua does). */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>
#include <uv.h>

#include "args.h"
#include "bindings.h"
#include "errors.h"
#include "http_server.h"
#include "log.h"
#include "scheduler.h"
#include "secret.h"

#define GATE_MT       "vmrun.Gate"
#define FILE_POLL_MS  500  /* how often the answer file is looked at */
#define ABORT_POLL_MS 200  /* how often a waiting gate looks for an abort request */
#define LINE_MAX_LEN  256  /* a longer terminal line is no answer */
#define FILE_READ_MAX 4096 /* bytes of the answer file that are read */

/* Shared by the Lua side (the box, until it is collected) and the libuv handles (until their
 * close callbacks): freed when all have let go. */
typedef struct gate_req {
  vr_op op;
  uv_loop_t *loop;
  vr_clock *clock;
  vr_sched *sched;
  vr_log *log;
  int refs;
  int waiting; /* a task waits in g:wait */
  int real;    /* the wait holds vr_clock_real_begin */
  int closed;  /* the sources are closed: nothing more can answer */
  char *message;
  /* the answer */
  int answered, approved;
  char how[16];
  char who[320];
  /* the terminal */
  int tty_wanted, tty_on, tty_done;
  int tty_queued;            /* waits for the terminal (another gate reads it) */
  struct gate_req *tty_next; /* the next gate in that queue */
  uv_tty_t tty;
  struct termios saved_termios;
  int have_termios, saved_fl, saved_fd;
  char rbuf[256];
  char line[LINE_MAX_LEN];
  size_t line_len;
  int line_over;
  int by_line; /* a typed line answered: the prompt's line is ended already */
  char tty_name[64];
  /* the answer file */
  char *path;
  uv_timer_t poll; /* looks at the file every FILE_POLL_MS */
  int poll_on;
  char reported[96]; /* the last content reported as no answer, so that it is reported once */
  /* HTTP */
  vr_http_server *server;
  char token[33];
  char url[96];
  /* abort requests */
  uv_timer_t abort_timer;
  int abort_on;
} gate_req;

/* The gate that reads the terminal now (two readers of one terminal would split its lines), and
 * the gates waiting to ask there next, in the order they asked. */
static const gate_req *tty_owner;
static gate_req *tty_queue;

static int tty_open(gate_req *r);

static void tty_unqueue(gate_req *r) {
  gate_req **p = &tty_queue;
  if (!r->tty_queued) return;
  r->tty_queued = 0;
  while (*p != NULL && *p != r) p = &(*p)->tty_next;
  if (*p == r) *p = r->tty_next;
  r->tty_next = NULL;
}

/* The terminal is free: the first gate in the queue asks there now. Only from a task's
 * continuation of a run that goes on (not while the run is being cancelled, nor from __gc). */
static void tty_next_asks(void) {
  gate_req *next = tty_queue;
  int rc;
  if (next == NULL || tty_owner != NULL) return;
  tty_unqueue(next);
  rc = tty_open(next);
  if (rc != 0)
    vr_logf(next->log, VR_LOG_WARN, "gate: cannot read the terminal: %s", uv_strerror(rc));
}

typedef struct gate_box {
  gate_req *req; /* NULL once collected */
} gate_box;

static void req_release(gate_req *r) {
  if (--r->refs > 0) return;
  vr_secret_wipe(r->token, sizeof r->token);
  free(r->message);
  free(r->path);
  free(r);
}

static void on_handle_closed(uv_handle_t *h) {
  req_release(h->data);
}

/* The name of uid into buf ("uid 1000" when it has none). */
static void user_name(uid_t uid, char *buf, size_t len) {
  struct passwd pw, *found = NULL;
  char scratch[1024];
  if (getpwuid_r(uid, &pw, scratch, sizeof scratch, &found) == 0 && found != NULL)
    snprintf(buf, len, "%s", found->pw_name);
  else
    snprintf(buf, len, "uid %u", (unsigned)uid);
}

/* s with what is not printable ASCII made '?', cut to fit out. */
static void printable(const char *s, size_t n, char *out, size_t len) {
  size_t i, k = 0;
  for (i = 0; i < n && k + 1 < len; i++) {
    unsigned char c = (unsigned char)s[i];
    out[k++] = (char)(c >= 32 && c < 127 ? c : '?');
  }
  out[k] = '\0';
}

/* "approve"/"yes"/"y" -> 1, "deny"/"no"/"n" -> 0, anything else -1; s is trimmed and compared
 * without case. short_forms: whether "y" and "n" count (the terminal). */
static int parse_answer(const char *s, size_t n, int short_forms) {
  char w[16];
  size_t i;
  while (n > 0 && isspace((unsigned char)*s)) s++, n--;
  while (n > 0 && isspace((unsigned char)s[n - 1])) n--;
  if (n == 0 || n >= sizeof w) return -1;
  for (i = 0; i < n; i++) w[i] = (char)tolower((unsigned char)s[i]);
  w[n] = '\0';
  if (strcmp(w, "approve") == 0 || strcmp(w, "yes") == 0 || (short_forms && strcmp(w, "y") == 0))
    return 1;
  if (strcmp(w, "deny") == 0 || strcmp(w, "no") == 0 || (short_forms && strcmp(w, "n") == 0))
    return 0;
  return -1;
}

/* The first answer counts; the waiting task (if any) is made ready. */
static void answer(gate_req *r, int approved, const char *how, const char *who) {
  if (r->answered || r->closed) return;
  r->answered = 1;
  r->approved = approved;
  snprintf(r->how, sizeof r->how, "%s", how);
  snprintf(r->who, sizeof r->who, "%.*s", (int)sizeof r->who - 1, who); /* cut, not overrun */
  vr_op_complete(&r->op);
}

/* --- the terminal ------------------------------------------------------------------------- */

static void tty_write(const char *text) {
  fputs(text, stderr);
  fflush(stderr);
}

static void tty_prompt(gate_req *r, int again) {
  char buf[1200];
  vr_log_status(r->log, NULL); /* the prompt is not written into the status line */
  if (again)
    snprintf(buf, sizeof buf, "Please answer yes or no: ");
  else
    snprintf(buf, sizeof buf, "%.1000s [y/n] ", r->message);
  tty_write(buf);
}

/* Stops reading the terminal and gives fd 0 back as it was found: its file status flags (libuv
 * reopens the terminal over fd 0 and makes it non-blocking), close-on-exec flag and termios. */
static void tty_close(gate_req *r) {
  if (!r->tty_on) return;
  r->tty_on = 0;
  r->tty_done = 1;
  uv_read_stop((uv_stream_t *)&r->tty);
  uv_close((uv_handle_t *)&r->tty, on_handle_closed); /* closes libuv's own fd now */
  if (r->saved_fl != -1) (void)fcntl(STDIN_FILENO, F_SETFL, r->saved_fl);
  if (r->saved_fd != -1) (void)fcntl(STDIN_FILENO, F_SETFD, r->saved_fd);
  if (r->have_termios) {
    /* a line typed half-way when something else answered is not left to the shell */
    if (!r->by_line) (void)tcflush(STDIN_FILENO, TCIFLUSH);
    (void)tcsetattr(STDIN_FILENO, TCSANOW, &r->saved_termios);
  }
  if (!r->by_line) tty_write("\n");     /* ends the prompt's line */
  if (tty_owner == r) tty_owner = NULL; /* the next gate asks once this one's wait ends */
}

static void tty_line(gate_req *r) {
  int a = r->line_over ? -1 : parse_answer(r->line, r->line_len, 1);
  char who[160];
  r->line_len = 0;
  r->line_over = 0;
  if (a < 0) {
    tty_prompt(r, 1);
    return;
  }
  user_name(getuid(), who, sizeof who);
  snprintf(who + strlen(who), sizeof who - strlen(who), " on %s", r->tty_name);
  uv_read_stop((uv_stream_t *)&r->tty); /* what is typed later is not this gate's */
  r->by_line = 1;
  answer(r, a, "terminal", who);
}

static void on_tty_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  gate_req *r = h->data;
  (void)suggested;
  *buf = uv_buf_init(r->rbuf, sizeof r->rbuf);
}

static void on_tty_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  gate_req *r = s->data;
  ssize_t i;
  if (nread < 0) { /* end of input (Ctrl-D, a hang-up) */
    char who[200];
    uv_read_stop(s);
    if (r->poll_on || r->server != NULL) { /* the other sources may still answer */
      vr_logf(r->log, VR_LOG_WARN, "gate: the terminal closed (%s): no answer from it",
              nread == UV_EOF ? "end of input" : uv_strerror((int)nread));
      return;
    }
    user_name(getuid(), who, sizeof who);
    snprintf(who + strlen(who), sizeof who - strlen(who), " on %s (end of input)", r->tty_name);
    answer(r, 0, "terminal", who); /* nothing else can answer: no */
    return;
  }
  for (i = 0; i < nread && r->tty_on && !r->answered; i++) {
    char c = buf->base[i];
    if (c == '\n') {
      tty_line(r);
    } else if (r->line_len < sizeof r->line) {
      r->line[r->line_len++] = c;
    } else {
      r->line_over = 1;
    }
  }
}

/* Starts asking on the terminal. 0, or a libuv error. */
static int tty_open(gate_req *r) {
  int rc;
  if (ttyname_r(STDIN_FILENO, r->tty_name, sizeof r->tty_name) != 0)
    snprintf(r->tty_name, sizeof r->tty_name, "the terminal");
  r->saved_fl = fcntl(STDIN_FILENO, F_GETFL);
  r->saved_fd = fcntl(STDIN_FILENO, F_GETFD);
  r->have_termios = tcgetattr(STDIN_FILENO, &r->saved_termios) == 0;
  rc = uv_tty_init(r->loop, &r->tty, STDIN_FILENO, 1);
  if (rc != 0) {
    r->tty_done = 1;
    return rc;
  }
  r->tty.data = r;
  r->refs++;
  r->tty_on = 1;
  tty_owner = r;
  rc = uv_read_start((uv_stream_t *)&r->tty, on_tty_alloc, on_tty_read);
  if (rc != 0) {
    tty_close(r);
    return rc;
  }
  tty_prompt(r, 0);
  return 0;
}

/* --- the answer file ---------------------------------------------------------------------- */

/* Reads the answer file, if it is there; takes its answer (and removes it), or reports what it
 * says once and waits past it. */
static void file_check(gate_req *r) {
  char buf[FILE_READ_MAX + 1], who[400], owner[160], shown[64];
  struct stat st;
  ssize_t n;
  size_t line;
  int fd, a;
  if (r->path == NULL || r->answered || r->closed) return;
  fd = open(r->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return; /* not there (yet) */
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    if (strcmp(r->reported, "\x01") != 0) {
      vr_logf(r->log, VR_LOG_WARN, "gate: %s is not a regular file: no answer; waiting", r->path);
      snprintf(r->reported, sizeof r->reported, "\x01");
    }
    return;
  }
  n = read(fd, buf, FILE_READ_MAX);
  close(fd);
  if (n <= 0) return; /* empty: being written */
  buf[n] = '\0';
  line = strcspn(buf, "\n");
  a = parse_answer(buf, line, 0);
  if (a < 0) {
    printable(buf, line > 40 ? 40 : line, shown, sizeof shown);
    if (strcmp(r->reported, shown) != 0) {
      vr_logf(r->log, VR_LOG_WARN,
              "gate: %s says \"%s%s\", which is no answer (approve, yes, deny or no on its first "
              "line): waiting for another",
              r->path, shown, line > 40 ? "..." : "");
      snprintf(r->reported, sizeof r->reported, "%s", shown);
    }
    return;
  }
  if (unlink(r->path) != 0 && errno != ENOENT) {
    /* a file that stays would answer the next gate too: it is not taken */
    if (strcmp(r->reported, "\x02") != 0) {
      vr_logf(r->log, VR_LOG_WARN,
              "gate: %s says %s, but vmrun cannot remove it (%s), and an answer that stays would "
              "answer every later gate: not taken; write it where vmrun can remove it",
              r->path, a ? "approve" : "deny", strerror(errno));
      snprintf(r->reported, sizeof r->reported, "\x02");
    }
    return;
  }
  user_name(st.st_uid, owner, sizeof owner);
  snprintf(who, sizeof who, "%s (owner %s)", r->path, owner);
  answer(r, a, "file", who);
}

/* A timer rather than uv_fs_poll: that one takes the file as it first finds it for its baseline
 * and calls back only on a change, so an answer written just before its first look would wait
 * for another change. */
static void on_poll(uv_timer_t *t) {
  file_check(t->data);
}

/* --- HTTP ----------------------------------------------------------------------------------- */

/* Compares without leaking where the first difference is. */
static int token_equal(const char *given, const char *token) {
  size_t n = strlen(token), m = strlen(given), i;
  unsigned char d = (unsigned char)(n != m);
  for (i = 0; i < n; i++) d |= (unsigned char)(token[i] ^ (i < m ? given[i] : 0));
  return d == 0;
}

static void respond_json(vr_http_conn *c, int status, const char *extra, cJSON *body) {
  char *text = cJSON_PrintUnformatted(body);
  cJSON_Delete(body);
  if (text == NULL) {
    vr_http_respond(c, 500, "text/plain", NULL, "out of memory\n", 14);
    return;
  }
  vr_http_respond(c, status, "application/json", extra, text, strlen(text));
  cJSON_free(text);
}

static cJSON *error_body(const char *message) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "error", message);
  return o;
}

static const char *state_of(const gate_req *r) {
  return !r->answered ? "waiting" : r->approved ? "approved" : "denied";
}

/* GET /: the message, the state and how to answer. */
static void respond_info(gate_req *r, vr_http_conn *c) {
  cJSON *o = cJSON_CreateObject(), *how;
  cJSON_AddStringToObject(o, "message", r->message);
  cJSON_AddStringToObject(o, "state", state_of(r));
  how = cJSON_AddObjectToObject(o, "answer");
  cJSON_AddStringToObject(how, "approve", "POST /approve");
  cJSON_AddStringToObject(how, "deny", "POST /deny");
  cJSON_AddStringToObject(how, "token",
                          "the gate's token, as \"Authorization: Bearer TOKEN\" or ?token=TOKEN "
                          "(vmrun printed it on its stderr)");
  cJSON_AddStringToObject(how, "by", "optional: who answers, as ?by=NAME or \"X-Vmrun-By: NAME\"");
  respond_json(c, 200, NULL, o);
}

/* POST /approve or /deny. */
static void respond_answer(gate_req *r, vr_http_conn *c, vr_http_request *req, int approve) {
  const char *auth = vr_http_header_get(req, "authorization");
  const char *by_header = vr_http_header_get(req, "x-vmrun-by");
  char given[128], by[128], who[320], shown[72];
  int have = 0, rc;
  cJSON *o;
  given[0] = '\0';
  if (auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0) {
    snprintf(given, sizeof given, "%s", auth + 7);
    have = 1;
  } else if ((rc = vr_http_query_get(req->query, "token", given, sizeof given)) != 0) {
    have = 1;
    if (rc < 0) given[0] = '\0';
  }
  if (!have) {
    respond_json(c, 401, "WWW-Authenticate: Bearer\r\n",
                 error_body("this gate's token is required: \"Authorization: Bearer TOKEN\" or "
                            "?token=TOKEN"));
    return;
  }
  if (r->token[0] == '\0' || !token_equal(given, r->token)) {
    vr_logf(r->log, VR_LOG_WARN, "gate: refused POST %s from %s: wrong token (403)", req->path,
            vr_http_conn_peer(c));
    vr_secret_wipe(given, sizeof given);
    respond_json(c, 403, NULL, error_body("wrong token"));
    return;
  }
  vr_secret_wipe(given, sizeof given);
  if (r->answered) {
    o = error_body("the gate was answered already");
    cJSON_AddStringToObject(o, "state", state_of(r));
    respond_json(c, 409, NULL, o);
    return;
  }
  by[0] = '\0';
  if (by_header != NULL) {
    snprintf(by, sizeof by, "%s", by_header);
  } else if (vr_http_query_get(req->query, "by", by, sizeof by) < 0) {
    by[0] = '\0';
  }
  printable(by, strlen(by) > 64 ? 64 : strlen(by), shown, sizeof shown);
  if (shown[0] != '\0')
    snprintf(who, sizeof who, "%s via http from %s", shown, vr_http_conn_peer(c));
  else
    snprintf(who, sizeof who, "http from %s", vr_http_conn_peer(c));
  answer(r, approve, "http", who);
  o = cJSON_CreateObject();
  cJSON_AddBoolToObject(o, "approved", approve);
  cJSON_AddStringToObject(o, "message", r->message);
  respond_json(c, 200, NULL, o);
}

/* The request's copies of a token (the Authorization header, the query) are wiped before it is
 * freed. */
static void wipe_token(vr_http_request *req) {
  size_t i;
  for (i = 0; i < req->nheaders; i++)
    if (strcmp(req->headers[i].name, "authorization") == 0)
      vr_secret_wipe(req->headers[i].value, strlen(req->headers[i].value));
  vr_secret_wipe(req->query, strlen(req->query));
  vr_secret_wipe(req->target, strlen(req->target));
}

static void on_request(void *ctx, vr_http_conn *c, vr_http_request *req) {
  gate_req *r = ctx;
  int get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
  int post = strcmp(req->method, "POST") == 0;
  if (strcmp(req->path, "/") == 0) {
    if (get)
      respond_info(r, c);
    else
      respond_json(c, 405, "Allow: GET, HEAD\r\n", error_body("GET / says how to answer"));
  } else if (strcmp(req->path, "/approve") == 0 || strcmp(req->path, "/deny") == 0) {
    if (post)
      respond_answer(r, c, req, strcmp(req->path, "/approve") == 0);
    else
      respond_json(c, 405, "Allow: POST\r\n", error_body("answer with POST"));
  } else {
    respond_json(c, 404, NULL, error_body("no such path: GET / says how to answer"));
  }
  wipe_token(req);
  vr_http_request_free(req);
}

/* "127.0.0.1:8700" or "localhost:0" -> host, port; -1 with a message in err. */
static int parse_address(const char *addr, char *host, size_t hlen, int *port, char *err,
                         size_t elen) {
  const char *colon = strrchr(addr, ':');
  char *end;
  long p;
  size_t n;
  if (colon == NULL || colon == addr || colon[1] == '\0') {
    snprintf(err, elen,
             "'%.100s' is not HOST:PORT (such as 127.0.0.1:8700, or port 0 for a free one)", addr);
    return -1;
  }
  errno = 0;
  p = strtol(colon + 1, &end, 10);
  if (*end != '\0' || errno != 0 || p < 0 || p > 65535 || !isdigit((unsigned char)colon[1])) {
    snprintf(err, elen, "'%.100s': the port must be a number from 0 to 65535", addr);
    return -1;
  }
  n = (size_t)(colon - addr);
  if (n == 9 && strncmp(addr, "localhost", 9) == 0) {
    snprintf(host, hlen, "127.0.0.1");
  } else if (n < hlen) {
    memcpy(host, addr, n);
    host[n] = '\0';
  } else {
    snprintf(err, elen, "'%.100s' is not HOST:PORT", addr);
    return -1;
  }
  *port = (int)p;
  return 0;
}

/* --- abort requests -------------------------------------------------------------------------- */

static void on_abort_poll(uv_timer_t *t) {
  gate_req *r = t->data;
  const char *why = vr_sched_abort_requested(r->sched);
  if (why != NULL) answer(r, 0, "abort", why);
}

/* --- opening and closing -----------------------------------------------------------------------
 */

static void stop_abort_poll(gate_req *r) {
  if (!r->abort_on) return;
  r->abort_on = 0;
  uv_timer_stop(&r->abort_timer);
  uv_close((uv_handle_t *)&r->abort_timer, on_handle_closed);
}

/* Closes every source (again: nothing). Never frees r, never raises: for op->cancel too. */
static void close_sources(gate_req *r) {
  if (r->real) {
    r->real = 0;
    vr_clock_real_end(r->clock);
  }
  stop_abort_poll(r);
  tty_unqueue(r);
  tty_close(r);
  if (r->poll_on) {
    r->poll_on = 0;
    uv_timer_stop(&r->poll);
    uv_close((uv_handle_t *)&r->poll, on_handle_closed);
  }
  if (r->server != NULL) {
    vr_http_server_close(r->server);
    r->server = NULL;
  }
  r->closed = 1;
  vr_secret_wipe(r->token, sizeof r->token);
}

/* Timeout or cancellation of a wait. */
static void gate_cancel(vr_op *op) {
  close_sources((gate_req *)op);
}

static gate_box *check_gate(lua_State *L) {
  return luaL_checkudata(L, 1, GATE_MT);
}

/* __gc: closes the sources and lets go of the gate (its memory goes with the last libuv handle). */
static int gate_gc(lua_State *L) {
  gate_box *b = check_gate(L);
  gate_req *r = b->req;
  b->req = NULL;
  if (r == NULL) return 0;
  close_sources(r);
  req_release(r);
  return 0;
}

/* core.open{message=, tty=, file=, http=} -> vmrun.Gate
 * Opens a gate's sources: tty (boolean: ask on the terminal when the gate is waited on; refused
 * unless stdin is a terminal), file (the path of an answer file, watched from now), http (a
 * loopback "HOST:PORT" to listen on now, port 0 for a free one; a one-time token is made). Raises
 * kind "usage" for bad options, an address that is not loopback or a tty without a terminal, "io"
 * when it cannot listen or get random bytes. */
static int l_open(lua_State *L) {
  static const char *const allowed[] = {"message", "tty", "file", "http", NULL};
  vr_sched *s = vr_sched_of(L);
  gate_box *b;
  gate_req *r;
  const char *message, *file = NULL, *http = NULL;
  int tty;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  vr_check_options(L, 1, "gate.open", allowed);
  if (lua_getfield(L, 1, "message") != LUA_TSTRING)
    return vr_error_raise_for(L, "usage", NULL, "gate: the message must be a string");
  message = lua_tostring(L, -1);
  tty = lua_getfield(L, 1, "tty") != LUA_TNIL && lua_toboolean(L, -1);
  if (lua_getfield(L, 1, "file") != LUA_TNIL) {
    if (lua_type(L, -1) != LUA_TSTRING || lua_rawlen(L, -1) == 0 ||
        strlen(lua_tostring(L, -1)) != lua_rawlen(L, -1))
      return vr_error_raise_for(L, "usage", NULL, "gate: file must be a path");
    file = lua_tostring(L, -1);
  }
  if (lua_getfield(L, 1, "http") != LUA_TNIL) {
    if (lua_type(L, -1) != LUA_TSTRING)
      return vr_error_raise_for(L, "usage", NULL, "gate: http must be \"127.0.0.1:PORT\"");
    http = lua_tostring(L, -1);
  }
  if (tty && !isatty(STDIN_FILENO))
    return vr_error_raise_for(L, "usage", NULL,
                              "gate: tty = true, but stdin is not a terminal: nobody can answer "
                              "there");
  if (s == NULL) return luaL_error(L, "gate: no scheduler in this Lua state");
  b = lua_newuserdatauv(L, sizeof *b, 0);
  b->req = NULL;
  luaL_setmetatable(L, GATE_MT);
  r = calloc(1, sizeof *r);
  if (r == NULL || (r->message = strdup(message)) == NULL ||
      (file != NULL && (r->path = strdup(file)) == NULL)) {
    if (r != NULL) free(r->message);
    free(r);
    return luaL_error(L, "gate: out of memory");
  }
  r->loop = vr_sched_loop(s);
  r->clock = vr_sched_clock(s);
  r->sched = s;
  r->log = vr_log_of(L);
  r->refs = 1; /* the box's */
  r->tty_wanted = tty;
  r->saved_fl = r->saved_fd = -1;
  r->op.cancel = gate_cancel;
  b->req = r; /* from here gate_gc frees what is opened below, should it raise */
  if (http != NULL) {
    vr_http_server_config cfg;
    unsigned char raw[16];
    char host[64], err[256];
    int port, bound = 0, i;
    if (parse_address(http, host, sizeof host, &port, err, sizeof err) != 0) {
      close_sources(r);
      return vr_error_raise_for(L, "usage", http, "gate: http = %s", err);
    }
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
      close_sources(r);
      return vr_error_raise_for(L, "io", NULL, "gate: no random bytes for the token: %s",
                                strerror(errno));
    }
    for (i = 0; i < (int)sizeof raw; i++) snprintf(r->token + 2 * i, 3, "%02x", raw[i]);
    vr_secret_wipe(raw, sizeof raw);
    memset(&cfg, 0, sizeof cfg);
    cfg.handler = on_request;
    cfg.ctx = r;
    cfg.limits.max_body = 64 << 10;
    cfg.max_connections = 16;
    cfg.header_timeout_ms = 10000;
    cfg.idle_timeout_ms = 30000;
    r->server = vr_http_server_new(r->loop, &cfg);
    if (r->server == NULL) return luaL_error(L, "gate: out of memory");
    if (vr_http_server_listen(r->server, host, port, &bound, err, sizeof err) != 0) {
      int loopback = strstr(err, "loopback") != NULL || strstr(err, "IPv4") != NULL;
      if (loopback) /* the server's message names `vmrun serve`: say it for the gate */
        snprintf(err, sizeof err,
                 "%.100s is not a loopback IPv4 address (127.0.0.0/8): a gate "
                 "listens only on loopback",
                 host);
      close_sources(r);
      return vr_error_raise_for(L, loopback ? "usage" : "io", http, "gate: http = %s: %s", http,
                                err);
    }
    snprintf(r->url, sizeof r->url, "http://%s:%d", host, bound);
  }
  if (r->path != NULL) {
    int rc = uv_timer_init(r->loop, &r->poll);
    if (rc == 0) {
      r->poll.data = r;
      r->refs++;
      r->poll_on = 1;
      rc = uv_timer_start(&r->poll, on_poll, FILE_POLL_MS, FILE_POLL_MS);
    }
    if (rc != 0) {
      close_sources(r);
      return vr_error_raise_for(L, "io", r->path, "gate: cannot watch %s: %s", r->path,
                                uv_strerror(rc));
    }
  }
  return 1;
}

static int push_answer(lua_State *L, const gate_req *r) {
  lua_pushboolean(L, r->approved);
  lua_pushstring(L, r->how);
  lua_pushstring(L, r->who);
  return 3;
}

/* Stack during the wait: 1 the gate. */
static int gate_k(lua_State *L, int status, lua_KContext ctx) {
  gate_box *b = check_gate(L);
  gate_req *r = b->req;
  (void)status;
  (void)ctx;
  r->waiting = 0;
  close_sources(r);
  if (vr_sched_stop_code(r->sched) < 0) tty_next_asks();
  if (r->op.status == VR_OP_TIMEOUT) {
    r->op.status = VR_OP_IDLE;
    r->op.task = NULL;
    lua_pushnil(L);
    lua_pushstring(L, "timeout");
    lua_pushnil(L);
    return 3;
  }
  vr_op_finish(L, &r->op); /* raises on a cancellation */
  return push_answer(L, r);
}

/* g:wait([timeout]) -> approved | nil, how, who — waits
 * Waits for the first answer: approved is true or false, how "terminal", "file", "http" or
 * "abort" (the run was asked to stop: false, who the reason), who says who or what answered.
 * When timeout (a duration) passes first: nil, "timeout". The sources are closed when it returns
 * (an answered gate returns its answer again). Raises kind "cancelled" when the task is
 * cancelled (the sources are closed too), and misuse errors for a closed gate that was never
 * answered, a second waiting task, or a bad timeout. */
static int l_wait(lua_State *L) {
  gate_box *b = check_gate(L);
  gate_req *r = b->req;
  double timeout = vr_opt_duration(L, 2, "gate wait timeout", -1);
  lua_settop(L, 1);
  if (r == NULL || (r->closed && !r->answered))
    return luaL_error(L, "gate: this gate is closed: open another");
  if (r->waiting) return luaL_error(L, "gate: another task waits on this gate already");
  vr_await_check(L, "gate.approve");
  file_check(r);
  if (r->answered) {
    close_sources(r);
    return push_answer(L, r);
  }
  if (r->tty_wanted && !r->tty_on && !r->tty_done && !r->tty_queued) {
    if (tty_owner != NULL) { /* asks once the gate there now is answered */
      gate_req **p = &tty_queue;
      while (*p != NULL) p = &(*p)->tty_next;
      *p = r;
      r->tty_queued = 1;
      vr_logf(r->log, VR_LOG_INFO,
              "gate: another gate asks on the terminal: \"%s\" is asked there next", r->message);
    } else {
      int rc = tty_open(r);
      if (rc != 0)
        vr_logf(r->log, VR_LOG_WARN, "gate: cannot read the terminal: %s", uv_strerror(rc));
    }
  }
  if (!r->tty_on && !r->tty_queued && !r->poll_on && r->server == NULL && timeout < 0) {
    close_sources(r);
    return vr_error_raise_for(L, "usage", NULL, "gate: nothing can answer this gate");
  }
  if (uv_timer_init(r->loop, &r->abort_timer) == 0) {
    r->abort_timer.data = r;
    r->refs++;
    r->abort_on = 1;
    uv_timer_start(&r->abort_timer, on_abort_poll, 0, ABORT_POLL_MS);
  }
  vr_clock_real_begin(r->clock);
  r->real = 1;
  r->waiting = 1;
  return vr_await(L, &r->op, "gate.approve", timeout, gate_k, 0);
}

/* g:close(), __close — closes the sources (again: nothing); an answer already given stays readable
 * with g:wait(). Misuse error while a task waits on the gate. */
static int l_close(lua_State *L) {
  gate_box *b = check_gate(L);
  if (b->req == NULL) return 0;
  if (b->req->waiting) return luaL_error(L, "gate: a task waits on this gate: cancel it instead");
  close_sources(b->req);
  return 0;
}

/* g:url() -> string | nil — "http://127.0.0.1:PORT" of the HTTP source, nil without one. */
static int l_url(lua_State *L) {
  gate_box *b = check_gate(L);
  if (b->req == NULL || b->req->url[0] == '\0') return 0;
  lua_pushstring(L, b->req->url);
  return 1;
}

/* g:token() -> string | nil — the HTTP source's one-time token (32 hex digits) while the gate is
 * open; nil without an HTTP source or once closed. For the operator only: never log it. */
static int l_token(lua_State *L) {
  gate_box *b = check_gate(L);
  if (b->req == NULL || b->req->closed || b->req->token[0] == '\0') return 0;
  lua_pushstring(L, b->req->token);
  return 1;
}

/* core.terminal() -> name | nil, why — the terminal a gate would ask on: stdin's ("/dev/pts/3")
 * when stdin is a terminal and vmrun is in its foreground; else nil and why not. Never raises. */
static int l_terminal(lua_State *L) {
  char name[64];
  pid_t fg;
  if (!isatty(STDIN_FILENO)) {
    lua_pushnil(L);
    lua_pushstring(L, "stdin is not a terminal");
    return 2;
  }
  fg = tcgetpgrp(STDIN_FILENO);
  if (fg != -1 && fg != getpgrp()) {
    lua_pushnil(L);
    lua_pushstring(L, "vmrun runs in the background of its terminal");
    return 2;
  }
  if (ttyname_r(STDIN_FILENO, name, sizeof name) != 0) snprintf(name, sizeof name, "a terminal");
  lua_pushstring(L, name);
  return 1;
}

static const luaL_Reg gate_methods[] = {
    {"wait", l_wait},  {"close", l_close},   {"url", l_url}, {"token", l_token},
    {"__gc", gate_gc}, {"__close", l_close}, {NULL, NULL},
};

static const luaL_Reg gate_core_funcs[] = {
    {"open", l_open},
    {"terminal", l_terminal},
    {NULL, NULL},
};

int luaopen_vmrun_gate_core(lua_State *L) {
  if (luaL_newmetatable(L, GATE_MT)) {
    luaL_setfuncs(L, gate_methods, 0);
    lua_pushvalue(L, -1);
    lua_setfield(L, -2, "__index");
  }
  lua_pop(L, 1);
  luaL_newlib(L, gate_core_funcs);
  return 1;
}
