/* process.c: host commands on libuv (see process.h). Only argv arrays are executed; there is no
 * shell anywhere. Nothing here knows about Lua. */
#include "process.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

typedef struct out_buf {
  char *data;
  size_t len, cap;
  int truncated;
} out_buf;

struct vr_process {
  uv_loop_t *loop;
  vr_clock *clock;
  uv_process_t proc;
  uv_pipe_t out_pipe, err_pipe, in_pipe;
  uv_write_t in_write;
  uv_timer_t kill_timer;
  int has_stdin;
  int open_handles; /* handles not yet closed */
  int exited, out_eof, err_eof;
  out_buf out, err;
  char *stdin_copy;
  vr_process_result result;
  uint64_t started;
  vr_process_done_cb cb;
  void *data;
  int done_called;
  int spawn_failed; /* nobody is told; the last close callback frees */
};

static void maybe_done(vr_process *p) {
  if (p->spawn_failed) {
    if (p->open_handles == 0) free(p);
    return;
  }
  if (p->done_called || p->open_handles > 0) return;
  p->done_called = 1;
  p->result.out = p->out.data ? p->out.data : "";
  p->result.err = p->err.data ? p->err.data : "";
  p->result.out_len = p->out.len;
  p->result.err_len = p->err.len;
  p->result.out_truncated = p->out.truncated;
  p->result.err_truncated = p->err.truncated;
  p->result.seconds = (double)(uv_hrtime() - p->started) / 1e9;
  vr_clock_real_end(p->clock);
  p->cb(p, p->data);
}

static void on_closed(uv_handle_t *h) {
  vr_process *p = h->data;
  p->open_handles--;
  maybe_done(p);
}

static void close_handle(vr_process *p, uv_handle_t *h) {
  if (!uv_is_closing(h)) uv_close(h, on_closed);
  (void)p;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  vr_process *p = h->data;
  out_buf *b = (uv_pipe_t *)h == &p->out_pipe ? &p->out : &p->err;
  if (b->cap - b->len < 65536 && b->cap < VR_PROCESS_MAX_OUTPUT + 65536) {
    size_t ncap = b->cap ? b->cap * 2 : 65536;
    char *n = realloc(b->data, ncap + 1);
    if (n != NULL) {
      b->data = n;
      b->cap = ncap;
      b->data[b->len] = '\0'; /* stays a C string even when nothing is read into it */
    }
  }
  (void)suggested;
  if (b->data == NULL || b->cap == b->len) { /* out of memory: read into a scratch buffer */
    static char scratch[4096];
    b->truncated = 1;
    buf->base = scratch;
    buf->len = sizeof scratch;
    return;
  }
  buf->base = b->data + b->len;
  buf->len = b->cap - b->len;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  vr_process *p = s->data;
  out_buf *b = (uv_pipe_t *)s == &p->out_pipe ? &p->out : &p->err;
  if (n > 0) {
    if (b->data != NULL && buf->base == b->data + b->len) {
      if (b->len + (size_t)n > VR_PROCESS_MAX_OUTPUT) {
        b->truncated = 1;
        b->len = VR_PROCESS_MAX_OUTPUT;
      } else {
        b->len += (size_t)n;
      }
      b->data[b->len] = '\0';
    }
    return;
  }
  if (n < 0) { /* EOF or error: this stream is finished */
    uv_read_stop(s);
    close_handle(p, (uv_handle_t *)s);
  }
}

static void on_process_exit(uv_process_t *proc, int64_t status, int term_signal) {
  vr_process *p = proc->data;
  p->exited = 1;
  p->result.exited = term_signal == 0;
  p->result.status = status;
  p->result.term_signal = term_signal;
  uv_timer_stop(&p->kill_timer);
  close_handle(p, (uv_handle_t *)&p->kill_timer);
  close_handle(p, (uv_handle_t *)proc);
}

static void on_stdin_written(uv_write_t *req, int status) {
  vr_process *p = req->data;
  (void)status; /* a child that does not read its stdin is not an error */
  close_handle(p, (uv_handle_t *)&p->in_pipe);
}

static void on_kill_timer(uv_timer_t *t) {
  vr_process *p = t->data;
  if (!p->exited) uv_process_kill(&p->proc, SIGKILL);
}

/* Builds environ + additions (additions win). Returns a malloc'd array of borrowed strings. */
static char **merged_env(char **add) {
  size_t n = 0, k = 0, i, j;
  char **env;
  while (environ[n]) n++;
  while (add && add[k]) k++;
  env = calloc(n + k + 1, sizeof *env);
  if (env == NULL) return NULL;
  for (i = 0, j = 0; i < n; i++) {
    size_t a, keylen = strcspn(environ[i], "=");
    int overridden = 0;
    for (a = 0; a < k; a++) {
      if (strncmp(add[a], environ[i], keylen) == 0 && add[a][keylen] == '=') overridden = 1;
    }
    if (!overridden) env[j++] = environ[i];
  }
  for (i = 0; i < k; i++) env[j++] = add[i];
  env[j] = NULL;
  return env;
}

int vr_process_start(uv_loop_t *loop, vr_clock *clock, const vr_process_spec *spec,
                     vr_process_done_cb cb, void *data, vr_process **out, char *err,
                     size_t errlen) {
  vr_process *p = calloc(1, sizeof *p);
  uv_process_options_t opts;
  uv_stdio_container_t stdio[3];
  char **env = NULL;
  int rc;
  if (p == NULL) {
    snprintf(err, errlen, "out of memory");
    return UV_ENOMEM;
  }
  p->loop = loop;
  p->clock = clock;
  p->cb = cb;
  p->data = data;
  p->has_stdin = spec->stdin_data != NULL;
  if (spec->env_add) {
    env = merged_env(spec->env_add);
    if (env == NULL) {
      free(p);
      snprintf(err, errlen, "out of memory");
      return UV_ENOMEM;
    }
  }
  uv_pipe_init(loop, &p->out_pipe, 0);
  uv_pipe_init(loop, &p->err_pipe, 0);
  uv_timer_init(loop, &p->kill_timer);
  p->out_pipe.data = p->err_pipe.data = p->kill_timer.data = p->proc.data = p;
  p->open_handles = 4; /* out, err, kill timer, process */
  if (p->has_stdin) {
    uv_pipe_init(loop, &p->in_pipe, 0);
    p->in_pipe.data = p;
    p->open_handles++;
    stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
    stdio[0].data.stream = (uv_stream_t *)&p->in_pipe;
  } else {
    stdio[0].flags = UV_IGNORE;
  }
  stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[1].data.stream = (uv_stream_t *)&p->out_pipe;
  stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[2].data.stream = (uv_stream_t *)&p->err_pipe;
  memset(&opts, 0, sizeof opts);
  opts.exit_cb = on_process_exit;
  opts.file = spec->argv[0];
  opts.args = spec->argv;
  opts.env = env;
  opts.cwd = spec->cwd;
  opts.stdio_count = 3;
  opts.stdio = stdio;
  p->started = uv_hrtime();
  rc = uv_spawn(loop, &p->proc, &opts);
  free(env);
  if (rc != 0) {
    /* the handles were initialised: close them; the last close callback frees p */
    snprintf(err, errlen, "%s", uv_strerror(rc));
    p->spawn_failed = 1;
    close_handle(p, (uv_handle_t *)&p->out_pipe);
    close_handle(p, (uv_handle_t *)&p->err_pipe);
    close_handle(p, (uv_handle_t *)&p->kill_timer);
    if (p->has_stdin) close_handle(p, (uv_handle_t *)&p->in_pipe);
    close_handle(p, (uv_handle_t *)&p->proc);
    return rc;
  }
  vr_clock_real_begin(clock);
  uv_read_start((uv_stream_t *)&p->out_pipe, on_alloc, on_read);
  uv_read_start((uv_stream_t *)&p->err_pipe, on_alloc, on_read);
  if (p->has_stdin) {
    uv_buf_t buf;
    p->stdin_copy = malloc(spec->stdin_len ? spec->stdin_len : 1);
    if (p->stdin_copy == NULL) {
      close_handle(p, (uv_handle_t *)&p->in_pipe);
    } else {
      memcpy(p->stdin_copy, spec->stdin_data, spec->stdin_len);
      buf = uv_buf_init(p->stdin_copy, (unsigned)spec->stdin_len);
      p->in_write.data = p;
      if (uv_write(&p->in_write, (uv_stream_t *)&p->in_pipe, &buf, 1, on_stdin_written) != 0) {
        close_handle(p, (uv_handle_t *)&p->in_pipe);
      }
    }
  }
  *out = p;
  return 0;
}

void vr_process_terminate(vr_process *p, unsigned grace_ms) {
  if (p->exited) return;
  uv_process_kill(&p->proc, SIGTERM);
  uv_timer_start(&p->kill_timer, on_kill_timer, grace_ms, 0);
}

const vr_process_result *vr_process_result_get(const vr_process *p) {
  return &p->result;
}

void vr_process_free(vr_process *p) {
  if (p == NULL) return;
  free(p->out.data);
  free(p->err.data);
  free(p->stdin_copy);
  free(p);
}
