/* schedule_run.c: `vmrun schedule FILE` (schedule_run.h, docs/schedule.md): a libuv loop with a
 * timer for the next due run, a child process for the run in progress and handlers for SIGINT
 * and SIGTERM; the history file, locked with flock(2) so that one daemon runs a schedule, holds
 * a "start" record before each run and an "end" record after it (fsync'd JSON lines), and on
 * start-up says which runs are to be resumed.
 *
 * It may not act on a cluster, read the runs' output or decide what a run does: each run is
 * `vmrun [cluster options] --state-dir DIR --run-id ID [--window-end TIME] PLAYBOOK ARGS...` or
 * `vmrun resume ID --state-dir DIR [--window-end TIME]`, started from an argv array in a session
 * of its own (a terminal's Ctrl-C reaches the daemon, which passes it on once). */
#include "schedule_run.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "durable.h"
#include "journal.h"

#define EXIT_USAGE  2
#define WAKE_MAX_S  60 /* the longest sleep between looks at the clock (it may be set, or jump) */
#define MAX_ARGS    32 /* the arguments vmrun adds before a runbook's own */
#define MAX_RESUMES 3  /* failed resumes of a run in a row before it is left to the operator */
#define RETRY_S     60 /* the wait before the first retry of a failed resume (then doubled) */

typedef struct schedule_daemon {
  vr_schedule *s;
  const vr_schedule_daemon_options *o;
  char state_dir[4096];
  int history_fd;
  uv_loop_t loop;
  uv_timer_t timer;
  uv_signal_t sig_int, sig_term;
  uv_process_t *child; /* the run in progress (its own handle: freed when closed); NULL none */
  int signals;         /* SIGINT and SIGTERM received */
  int exit_code;       /* what the daemon exits with */
  int finishing;       /* the handles are being closed */
  int64_t *after;      /* per runbook: its cron times up to this one are past */
  /* per runbook, its run to resume: */
  char (*pending)[VR_RUN_ID_MAX]; /* the run's id; "" none */
  int64_t *paused_end; /* paused: the end of the window it paused in (it needs a later one); 0 */
  int64_t *retry_at;   /* not before this time (a failed resume's back-off); 0 */
  int *failures;       /* resumes of it that failed in a row */
  size_t logged_rb;    /* the next run last announced (so as to say it once) */
  int64_t logged_due;
  /* the run in progress */
  size_t rb;
  char run_id[VR_RUN_ID_MAX];
  int resuming;
  int64_t started, window_end;
} schedule_daemon;

/* ---- output and records ---------------------------------------------------------------------- */

static void iso_utc(int64_t t, char *buf, size_t len) {
  int64_t day = vr_floor_div(t, 86400), y;
  int sec = (int)(t - day * 86400), m, d;
  vr_civil_from_days(day, &y, &m, &d);
  snprintf(buf, len, "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)y, m, d, sec / 3600,
           sec % 3600 / 60, sec % 60);
}

/* "2h05m", "12m30s", "40s" */
static void human_duration(int64_t s, char *buf, size_t len) {
  if (s < 0) s = 0;
  if (s >= 86400)
    snprintf(buf, len, "%lldd%02lldh", (long long)(s / 86400), (long long)(s % 86400 / 3600));
  else if (s >= 3600)
    snprintf(buf, len, "%lldh%02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
  else if (s >= 60)
    snprintf(buf, len, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
  else
    snprintf(buf, len, "%llds", (long long)s);
}

/* A line on stderr: "2026-11-27T11:15:10Z vmrun schedule: ..." */
static void say(const char *fmt, ...) {
  char when[32];
  va_list ap;
  iso_utc((int64_t)time(NULL), when, sizeof when);
  fprintf(stderr, "%s vmrun schedule: ", when);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  fflush(stderr);
}

/* Appends rec (consumed) with its "at" to the history and fsyncs it: 0, or -1 (said). */
static int history_append(schedule_daemon *d, cJSON *rec) {
  char at[32], *line;
  size_t n;
  int rc;
  iso_utc((int64_t)time(NULL), at, sizeof at);
  cJSON_AddStringToObject(rec, "at", at);
  line = cJSON_PrintUnformatted(rec);
  cJSON_Delete(rec);
  if (line == NULL) {
    say("out of memory writing the history");
    return -1;
  }
  n = strlen(line);
  line[n] = '\n'; /* (the terminator becomes the line's end: written by length) */
  rc = vr_write_full(d->history_fd, line, n + 1);
  if (rc == 0) rc = fdatasync(d->history_fd);
  if (rc != 0) say("cannot write the history %s: %s", d->s->history_path, strerror(errno));
  cJSON_free(line); /* (cJSON's allocator: the json pool's, in vmrun) */
  return rc;
}

static cJSON *record(const char *type, const vr_runbook *rb, const char *run_id) {
  cJSON *rec = cJSON_CreateObject();
  if (rec == NULL) return NULL;
  cJSON_AddStringToObject(rec, "type", type);
  if (rb != NULL) cJSON_AddStringToObject(rec, "runbook", rb->name);
  if (run_id != NULL) cJSON_AddStringToObject(rec, "run", run_id);
  return rec;
}

/* What a run's journal says (vr_journal_end_status): -1 when it has none (the run changed nothing
 * it journals), 0 when it has no "end" record (the run was cut short), 1 with its end status. */
static int journal_status(const schedule_daemon *d, const char *run_id, char *status, size_t len) {
  char path[4200];
  snprintf(path, sizeof path, "%s/runs/%s.jsonl", d->state_dir, run_id);
  return vr_journal_end_status(path, status, len);
}

static long runbook_index(const vr_schedule *s, const char *name) {
  size_t i;
  for (i = 0; i < s->nrunbooks; i++)
    if (strcmp(s->runbooks[i].name, name) == 0) return (long)i;
  return -1;
}

/* Whether a run that ended so is to be resumed (paused at a window's end, or cut short). A
 * simulated cluster (cluster.file) dies with its run: nothing of it can be resumed. */
static int resumable(const schedule_daemon *d, const char *status) {
  if (d->s->cluster.file_path != NULL) return 0;
  return strcmp(status, "paused") == 0 || strcmp(status, "interrupted") == 0;
}

/* ---- the history at start-up ----------------------------------------------------------------- */

/* Opens and locks the history, trims a crash-cut last line, and reads which runs are to be
 * resumed; a run that has a "start" and no "end" (the daemon died during it) gets its "end" now,
 * as its journal says. 0, or -1 (said). */
static int history_open(schedule_daemon *d) {
  const char *path = d->s->history_path;
  vr_journal_lines j;
  char(*open_run)[VR_RUN_ID_MAX];
  int64_t *window_end_of; /* per runbook: the window_end of its last "start" record */
  size_t i;
  int existed;
  if (vr_make_parent_folders(path) != 0) {
    fprintf(stderr, "vmrun schedule: cannot create the folder of %s: %s\n", path, strerror(errno));
    return -1;
  }
  existed = access(path, F_OK) == 0;
  d->history_fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (d->history_fd < 0 || (!existed && vr_sync_parent_folder(path) != 0)) {
    fprintf(stderr, "vmrun schedule: cannot open the history %s: %s\n", path, strerror(errno));
    return -1;
  }
  if (flock(d->history_fd, LOCK_EX | LOCK_NB) != 0) {
    fprintf(stderr,
            "vmrun schedule: another vmrun schedule runs this schedule (it holds %s); one at a "
            "time\n",
            path);
    return -1;
  }
  if (vr_journal_read(path, &j) != 0) {
    fprintf(stderr, "vmrun schedule: cannot read the history %s: %s\n", path, strerror(errno));
    return -1;
  }
  if (j.partial) {
    say("%s:%zu: the last record was cut short (a crash while writing it): dropped", path, j.n + 1);
    if (ftruncate(d->history_fd, (off_t)j.valid_len) != 0) {
      fprintf(stderr, "vmrun schedule: cannot trim %s: %s\n", path, strerror(errno));
      vr_journal_lines_free(&j);
      return -1;
    }
  }
  open_run = calloc(d->s->nrunbooks, sizeof *open_run);
  window_end_of = calloc(d->s->nrunbooks, sizeof *window_end_of);
  if (open_run == NULL || window_end_of == NULL) {
    free(open_run);
    free(window_end_of);
    vr_journal_lines_free(&j);
    return -1;
  }
  for (i = 0; i < j.n; i++) {
    cJSON *rec = cJSON_Parse(j.lines[i]);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(rec, "type");
    const cJSON *rbn = cJSON_GetObjectItemCaseSensitive(rec, "runbook");
    const cJSON *run = cJSON_GetObjectItemCaseSensitive(rec, "run");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(rec, "status");
    long k;
    if (!cJSON_IsObject(rec) || !cJSON_IsString(t)) {
      fprintf(stderr,
              "vmrun schedule: %s:%zu: not a history record (a JSON object with a type); fix or "
              "remove the line\n",
              path, i + 1);
      cJSON_Delete(rec);
      free(open_run);
      free(window_end_of);
      vr_journal_lines_free(&j);
      return -1;
    }
    k = cJSON_IsString(rbn) ? runbook_index(d->s, rbn->valuestring) : -1;
    if (k >= 0 && cJSON_IsString(run) && vr_run_id_valid(run->valuestring)) {
      if (strcmp(t->valuestring, "start") == 0) {
        const cJSON *we = cJSON_GetObjectItemCaseSensitive(rec, "window_end");
        int64_t end = 0;
        snprintf(open_run[k], VR_RUN_ID_MAX, "%s", run->valuestring);
        if (!cJSON_IsString(we) || vr_schedule_parse_time(we->valuestring, NULL, &end) != 0)
          end = 0;
        window_end_of[k] = end;
      } else if (strcmp(t->valuestring, "end") == 0) {
        open_run[k][0] = '\0';
        d->pending[k][0] = '\0';
        if (cJSON_IsString(st) && resumable(d, st->valuestring)) {
          snprintf(d->pending[k], VR_RUN_ID_MAX, "%s", run->valuestring);
          /* a paused run goes on in a window after the one it ran in; one cut short at once */
          d->paused_end[k] = strcmp(st->valuestring, "paused") == 0 ? window_end_of[k] : 0;
        }
      }
    }
    cJSON_Delete(rec);
  }
  vr_journal_lines_free(&j);
  for (i = 0; i < d->s->nrunbooks; i++) {
    char status[32];
    int js;
    cJSON *rec;
    if (open_run[i][0] == '\0') continue;
    js = journal_status(d, open_run[i], status, sizeof status);
    if (js == 0) snprintf(status, sizeof status, "interrupted");
    if (js < 0) snprintf(status, sizeof status, "lost");
    say("run %s of %s has no end in the history (the daemon stopped during it): its journal says "
        "%s%s",
        open_run[i], d->s->runbooks[i].name, js < 0 ? "nothing (there is none)" : status,
        resumable(d, status) ? "; it is resumed when its runbook may next run" : "");
    if ((rec = record("end", &d->s->runbooks[i], open_run[i])) == NULL ||
        (cJSON_AddStringToObject(rec, "status", status),
         cJSON_AddStringToObject(rec, "note", "recorded at the daemon's next start"),
         history_append(d, rec)) != 0) {
      free(open_run);
      free(window_end_of);
      return -1;
    }
    if (resumable(d, status)) {
      snprintf(d->pending[i], VR_RUN_ID_MAX, "%s", open_run[i]);
      d->paused_end[i] = strcmp(status, "paused") == 0 ? window_end_of[i] : 0;
    }
  }
  free(open_run);
  free(window_end_of);
  return 0;
}

/* ---- when ------------------------------------------------------------------------------------ */

/* When runbook i is due next, and whether as a resume. A run to resume goes, from its retry_at
 * on, as soon as its runbook may start with more time than it had: a window runbook's paused run
 * when the window it is in then ends after the one it paused in (the next window; or this one,
 * when the schedule's windows changed), a run cut short at once; a runbook without windows when
 * it may start, else at its next cron time. Otherwise the runbook's next cron run. VR_NEVER when
 * there is none. */
static int64_t due_of(const schedule_daemon *d, size_t i, int64_t now, int *resume) {
  const vr_runbook *rb = &d->s->runbooks[i];
  vr_schedule_run run;
  vr_window w;
  int64_t from = d->retry_at[i] > now ? d->retry_at[i] : now;
  *resume = d->pending[i][0] != '\0';
  if (*resume) {
    if (vr_schedule_may_start(d->s, rb, from, &w, NULL, NULL) == VR_SKIP_NONE &&
        (!rb->window || w.end > d->paused_end[i]))
      return from;
    if (rb->window) return vr_schedule_next_window(d->s, from, &w) ? w.start : VR_NEVER;
    return vr_schedule_next_run(d->s, rb, d->after[i] > from - 1 ? d->after[i] : from - 1, &run)
               ? run.start
               : VR_NEVER;
  }
  return vr_schedule_next_run(d->s, rb, d->after[i], &run) ? run.start : VR_NEVER;
}

/* The cron times of every runbook that went by while a run ran (up to now): one "skipped" record
 * per runbook, and those times are past. */
static void record_missed(schedule_daemon *d, int64_t now) {
  size_t i;
  for (i = 0; i < d->s->nrunbooks; i++) {
    const vr_runbook *rb = &d->s->runbooks[i];
    vr_schedule_run run;
    int64_t first = 0, last = 0;
    long count = 0;
    cJSON *rec;
    char a[32], b[32];
    while (vr_schedule_next_run(d->s, rb, d->after[i], &run) && run.start <= now) {
      if (count++ == 0) first = run.start;
      last = run.start;
      d->after[i] = run.start;
    }
    if (count == 0) continue;
    iso_utc(first, a, sizeof a);
    iso_utc(last, b, sizeof b);
    say("%s: %ld run(s) from %s to %s skipped: run %s of %s was running", rb->name, count, a, b,
        d->run_id, d->s->runbooks[d->rb].name);
    if ((rec = record("skipped", rb, NULL)) == NULL) continue;
    cJSON_AddStringToObject(rec, "from", a);
    cJSON_AddStringToObject(rec, "to", b);
    cJSON_AddNumberToObject(rec, "count", (double)count);
    cJSON_AddStringToObject(rec, "reason", "busy");
    cJSON_AddStringToObject(rec, "busy_with", d->run_id);
    history_append(d, rec);
  }
}

/* ---- the loop -------------------------------------------------------------------------------- */

static void plan(schedule_daemon *d);

static void close_cb(uv_handle_t *h) {
  (void)h;
}

static void free_process(uv_handle_t *h) {
  free(h);
}

static void finish(schedule_daemon *d, int code) {
  if (d->finishing) return;
  d->finishing = 1;
  d->exit_code = code;
  uv_timer_stop(&d->timer);
  uv_close((uv_handle_t *)&d->timer, close_cb);
  uv_close((uv_handle_t *)&d->sig_int, close_cb);
  uv_close((uv_handle_t *)&d->sig_term, close_cb);
}

/* What comes of runbook rb's run after it ended with status (js: journal_status's answer) and
 * code: done with it, or to be resumed (when, and after how many failed resumes). */
static void after_run(schedule_daemon *d, const char *status, int js, int code, int64_t now) {
  const vr_runbook *rb = &d->s->runbooks[d->rb];
  size_t i = d->rb;
  int paused = strcmp(status, "paused") == 0;
  if (!resumable(d, status) || js < 0) {
    d->pending[i][0] = '\0';
    d->failures[i] = 0;
    if (paused)
      say("run %s simulated its cluster (cluster.file) or kept no journal: it cannot be resumed; "
          "%s runs anew at its next time",
          d->run_id, rb->name);
    return;
  }
  snprintf(d->pending[i], VR_RUN_ID_MAX, "%s", d->run_id);
  if (d->resuming && !(paused && code == 4)) {
    /* the resume did not get on: cut short again, or refused or unable to reach the cluster
     * before it began (its journal still says paused) */
    if (++d->failures[i] >= MAX_RESUMES) {
      d->pending[i][0] = '\0';
      d->failures[i] = 0;
      say("run %s: %d resumes in a row failed (see above): no longer tried; fix the cause, then "
          "`vmrun resume %s --state-dir %s` (or `vmrun undo %s`)",
          d->run_id, MAX_RESUMES, d->run_id, d->state_dir, d->run_id);
      return;
    }
    d->retry_at[i] = now + ((int64_t)RETRY_S << (d->failures[i] - 1));
    say("run %s: resume %d of %d failed; tried again when %s may run, from %lld s on", d->run_id,
        d->failures[i], MAX_RESUMES, rb->name, (long long)(d->retry_at[i] - now));
    return;
  }
  d->failures[i] = 0;
  d->retry_at[i] = 0;
  d->paused_end[i] = paused ? d->window_end : 0;
  if (paused && !rb->window) { /* (its own window_end): at its next cron time */
    vr_schedule_run next;
    d->retry_at[i] = vr_schedule_next_run(d->s, rb, now, &next) ? next.start : VR_NEVER;
  }
  say("run %s is resumed %s", d->run_id,
      paused ? "in the next window it may run in" : "at once (it was cut short)");
}

static void run_exited(uv_process_t *p, int64_t exit_status, int term_signal) {
  schedule_daemon *d = p->data;
  const vr_runbook *rb = &d->s->runbooks[d->rb];
  int64_t now = (int64_t)time(NULL);
  char status[32], took[32];
  int js = journal_status(d, d->run_id, status, sizeof status);
  int code = term_signal != 0 ? 128 + term_signal : (int)exit_status;
  cJSON *rec;
  d->child = NULL;
  uv_close((uv_handle_t *)p, free_process);
  if (js == 0) {
    snprintf(status, sizeof status, "interrupted");
  } else if (js < 0) { /* a playbook that journals nothing: its exit code says */
    snprintf(status, sizeof status, "%s",
             code == 0     ? "done"
             : code == 4   ? "paused"
             : code == 130 ? "aborted"
                           : "failed");
  }
  human_duration(now - d->started, took, sizeof took);
  say("run %s of %s ended: %s (exit %d) after %s", d->run_id, rb->name, status, code, took);
  if ((rec = record("end", rb, d->run_id)) != NULL) {
    cJSON_AddStringToObject(rec, "status", status);
    cJSON_AddNumberToObject(rec, "exit", code);
    if (term_signal != 0) cJSON_AddNumberToObject(rec, "signal", term_signal);
    cJSON_AddNumberToObject(rec, "seconds", (double)(now - d->started));
    history_append(d, rec);
  }
  after_run(d, status, js, code, now);
  if (d->o->runbook == NULL) record_missed(d, now); /* (--run is no daemon: it missed nothing) */
  if (d->signals > 0) {
    finish(d, 130);
  } else if (d->o->once || d->o->runbook != NULL) {
    finish(d, code);
  } else {
    plan(d);
  }
}

/* Whether a resume of run_id may go now: 1 yes; 0 not now (its process still runs: retry_at is
 * moved on) or not at all (its journal says it ended: no longer pending), both said. */
static int resume_ready(schedule_daemon *d, size_t i, int64_t now) {
  char status[32], path[4200], host[256], here[256];
  int pid, js = journal_status(d, d->pending[i], status, sizeof status);
  if (js == 1 && strcmp(status, "paused") != 0) {
    say("run %s ended meanwhile (%s): nothing to resume", d->pending[i], status);
    d->pending[i][0] = '\0';
    return 0;
  }
  snprintf(path, sizeof path, "%s/runs/%s.jsonl", d->state_dir, d->pending[i]);
  pid = vr_journal_run_process(path, host, sizeof host);
  if (gethostname(here, sizeof here) != 0) here[0] = '\0';
  here[sizeof here - 1] = '\0';
  if (pid > 0 && strcmp(host, here) == 0 && vr_vmrun_alive(pid)) {
    if (d->retry_at[i] <= now)
      say("run %s still runs (pid %d, started before this daemon): its resume waits for it",
          d->pending[i], pid);
    d->retry_at[i] = now + RETRY_S;
    return 0;
  }
  return 1;
}

/* Starts runbook i now (resume: its pending run). 0, or -1 when it could not start (recorded). */
static int launch(schedule_daemon *d, size_t i, int resume) {
  const vr_runbook *rb = &d->s->runbooks[i];
  const vr_schedule_cluster *c = &d->s->cluster;
  int64_t now = (int64_t)time(NULL);
  char window_end[32] = "", **argv;
  size_t n = 0, k;
  uv_process_options_t opts;
  uv_stdio_container_t stdio[3];
  vr_window w;
  cJSON *rec;
  int rc;
  d->rb = i;
  d->resuming = resume;
  d->started = now;
  d->window_end = 0;
  if (rb->window && vr_schedule_window_at(d->s, now, &w)) {
    d->window_end = w.end;
    iso_utc(w.end, window_end, sizeof window_end);
  }
  if (resume) {
    snprintf(d->run_id, sizeof d->run_id, "%s", d->pending[i]);
  } else {
    vr_run_id_new(d->run_id);
  }
  argv = calloc(MAX_ARGS + rb->nargs + 1, sizeof *argv);
  if (argv == NULL) return -1;
  argv[n++] = (char *)d->o->self;
  if (resume) {
    argv[n++] = "resume";
    argv[n++] = d->run_id;
  } else {
    if (c->kubeconfig_path != NULL) argv[n++] = "--kubeconfig", argv[n++] = c->kubeconfig_path;
    if (c->context != NULL) argv[n++] = "--context", argv[n++] = c->context;
    if (c->namespace_ != NULL) argv[n++] = "--namespace", argv[n++] = c->namespace_;
    if (c->in_cluster) argv[n++] = "--in-cluster";
    if (c->file_path != NULL) argv[n++] = "--cluster", argv[n++] = c->file_path;
    argv[n++] = "--run-id";
    argv[n++] = d->run_id;
  }
  argv[n++] = "--state-dir";
  argv[n++] = d->state_dir;
  if (window_end[0] != '\0') argv[n++] = "--window-end", argv[n++] = window_end;
  if (!resume) {
    argv[n++] = rb->playbook_path;
    for (k = 0; k < rb->nargs; k++) argv[n++] = rb->args[k];
  }
  argv[n] = NULL;
  if ((rec = record("start", rb, d->run_id)) == NULL) {
    free(argv);
    return -1;
  }
  cJSON_AddBoolToObject(rec, "resume", resume);
  if (window_end[0] != '\0') cJSON_AddStringToObject(rec, "window_end", window_end);
  if (history_append(d, rec) != 0) { /* no run without its record */
    free(argv);
    finish(d, 1);
    return -1;
  }
  if (window_end[0] != '\0') {
    char left[32];
    human_duration(w.end - now, left, sizeof left);
    say("%s run %s of %s (window ends %s, in %s)", resume ? "resuming" : "starting", d->run_id,
        rb->name, window_end, left);
  } else {
    say("%s run %s of %s", resume ? "resuming" : "starting", d->run_id, rb->name);
  }
  memset(&opts, 0, sizeof opts);
  stdio[0].flags = UV_IGNORE;
  stdio[1].flags = UV_INHERIT_FD;
  stdio[1].data.fd = 1;
  stdio[2].flags = UV_INHERIT_FD;
  stdio[2].data.fd = 2;
  opts.file = d->o->self;
  opts.args = argv;
  opts.exit_cb = run_exited;
  opts.stdio = stdio;
  opts.stdio_count = 3;
  opts.flags = UV_PROCESS_DETACHED; /* its own session: a terminal's Ctrl-C reaches us alone */
  if ((d->child = calloc(1, sizeof *d->child)) == NULL) {
    free(argv);
    return -1;
  }
  d->child->data = d;
  rc = uv_spawn(&d->loop, d->child, &opts);
  free(argv);
  if (rc != 0) {
    say("cannot start %s: %s", d->o->self, uv_strerror(rc));
    uv_close((uv_handle_t *)d->child, free_process); /* (an initialized handle, all the same) */
    d->child = NULL;
    if ((rec = record("end", rb, d->run_id)) != NULL) {
      cJSON_AddStringToObject(rec, "status", "failed");
      cJSON_AddStringToObject(rec, "error", uv_strerror(rc));
      history_append(d, rec);
    }
    return -1;
  }
  return 0;
}

static void timer_cb(uv_timer_t *t) {
  plan(t->data);
}

/* Starts what is due, or sleeps until it is (WAKE_MAX_S at most). */
static void plan(schedule_daemon *d) {
  int64_t now = (int64_t)time(NULL), best = VR_NEVER, due;
  size_t i, best_i = 0;
  int resume, best_resume = 0;
  if (d->finishing || d->child != NULL) return;
  for (i = 0; i < d->s->nrunbooks; i++) {
    due = due_of(d, i, now, &resume);
    if (due < best) best = due, best_i = i, best_resume = resume;
  }
  if (best == VR_NEVER) {
    say("no runbook runs again (their cron times are all frozen, excluded or outside the "
        "windows): stopping");
    finish(d, 0);
    return;
  }
  if (best <= now) {
    const vr_runbook *rb = &d->s->runbooks[best_i];
    vr_window w;
    const vr_freeze *fr = NULL;
    const vr_exclusion *ex = NULL;
    vr_skip why = vr_schedule_may_start(d->s, rb, now, &w, &fr, &ex);
    if (best_resume && !resume_ready(d, best_i, now)) { /* (said) */
      plan(d);
      return;
    }
    if (!best_resume) d->after[best_i] = best; /* this cron time is taken (or skipped) */
    if (why != VR_SKIP_NONE) { /* late (the machine slept, the clock jumped): not now */
      cJSON *rec = record("skipped", rb, NULL);
      char when[32];
      iso_utc(best, when, sizeof when);
      say("%s: its run at %s is skipped: %s now", rb->name, when, vr_skip_name(why));
      if (rec != NULL) {
        cJSON_AddStringToObject(rec, "from", when);
        cJSON_AddStringToObject(rec, "to", when);
        cJSON_AddNumberToObject(rec, "count", 1);
        cJSON_AddStringToObject(rec, "reason", vr_skip_name(why));
        history_append(d, rec);
      }
      plan(d);
      return;
    }
    if (launch(d, best_i, best_resume) != 0) { /* (said and recorded) look again later */
      if (!d->finishing) uv_timer_start(&d->timer, timer_cb, WAKE_MAX_S * 1000, 0);
    }
    return;
  }
  if (best_i != d->logged_rb || best != d->logged_due) {
    char local[64], left[32];
    vr_format_local(d->s->tz, best, local, sizeof local);
    human_duration(best - now, left, sizeof left);
    say("next: %s %s at %s (in %s)", best_resume ? "resuming run" : "runbook",
        best_resume ? d->pending[best_i] : d->s->runbooks[best_i].name, local, left);
    d->logged_rb = best_i;
    d->logged_due = best;
  }
  uv_timer_start(&d->timer, timer_cb,
                 (uint64_t)(best - now < WAKE_MAX_S ? best - now : WAKE_MAX_S) * 1000, 0);
}

static void signal_cb(uv_signal_t *h, int signum) {
  schedule_daemon *d = h->data;
  d->signals++;
  if (d->child != NULL) {
    /* the run's first signal stops it gracefully, a second cancels, a third ends it */
    say("signal %d: run %s is asked to stop (%d); the daemon exits after it", signum, d->run_id,
        d->signals);
    uv_process_kill(d->child, SIGINT);
    return;
  }
  say("signal %d: stopping (no run in progress)", signum);
  finish(d, 0);
}

int vr_schedule_daemon(vr_schedule *s, const vr_schedule_daemon_options *o) {
  schedule_daemon d;
  char *slash;
  int64_t now = (int64_t)time(NULL);
  size_t i;
  int rc;
  memset(&d, 0, sizeof d);
  d.s = s;
  d.o = o;
  d.history_fd = -1;
  d.logged_rb = (size_t)-1;
  snprintf(d.state_dir, sizeof d.state_dir, "%s", s->history_path);
  if ((slash = strrchr(d.state_dir, '/')) != NULL) *slash = '\0'; /* (the path is absolute) */
  d.after = calloc(s->nrunbooks, sizeof *d.after);
  d.pending = calloc(s->nrunbooks, sizeof *d.pending);
  d.paused_end = calloc(s->nrunbooks, sizeof *d.paused_end);
  d.retry_at = calloc(s->nrunbooks, sizeof *d.retry_at);
  d.failures = calloc(s->nrunbooks, sizeof *d.failures);
  if (d.after == NULL || d.pending == NULL || d.paused_end == NULL || d.retry_at == NULL ||
      d.failures == NULL) {
    rc = 1;
    goto out;
  }
  /* (cron times strictly after now - 1: one at this very second counts) */
  for (i = 0; i < s->nrunbooks; i++) d.after[i] = now - 1;
  if (history_open(&d) != 0) {
    rc = EXIT_USAGE;
    goto out;
  }
  if (uv_loop_init(&d.loop) != 0) {
    rc = 1;
    goto out;
  }
  uv_timer_init(&d.loop, &d.timer);
  d.timer.data = &d;
  uv_signal_init(&d.loop, &d.sig_int);
  uv_signal_init(&d.loop, &d.sig_term);
  d.sig_int.data = d.sig_term.data = &d;
  uv_signal_start(&d.sig_int, signal_cb, SIGINT);
  uv_signal_start(&d.sig_term, signal_cb, SIGTERM);
  say("running %s: %zu runbook(s), history %s, journals in %s/runs", s->file, s->nrunbooks,
      s->history_path, d.state_dir);
  if (o->runbook != NULL) {
    long k = runbook_index(s, o->runbook);
    vr_window w;
    const vr_freeze *fr = NULL;
    const vr_exclusion *ex = NULL;
    vr_skip why =
        k < 0 ? VR_SKIP_NONE : vr_schedule_may_start(s, &s->runbooks[k], now, &w, &fr, &ex);
    if (k < 0 || why != VR_SKIP_NONE) {
      if (k < 0)
        fprintf(stderr, "vmrun schedule: --run %s: %s has no such runbook\n", o->runbook, s->file);
      else
        fprintf(stderr, "vmrun schedule: --run %s: it may not start now: %s%s%s\n", o->runbook,
                vr_skip_name(why), fr != NULL && fr->reason != NULL ? ", " : "",
                fr != NULL && fr->reason != NULL ? fr->reason : "");
      finish(&d, EXIT_USAGE);
    } else if (d.pending[k][0] != '\0' && !resume_ready(&d, (size_t)k, now) &&
               d.pending[k][0] != '\0') {
      fprintf(stderr, "vmrun schedule: --run %s: its run %s still runs\n", o->runbook,
              d.pending[k]);
      finish(&d, EXIT_USAGE);
    } else if (launch(&d, (size_t)k, d.pending[k][0] != '\0') != 0) {
      finish(&d, 1);
    }
  } else {
    plan(&d);
  }
  uv_run(&d.loop, UV_RUN_DEFAULT);
  rc = d.exit_code;
  (void)uv_loop_close(&d.loop); /* (every handle was closed: the loop ended) */
out:
  if (d.history_fd >= 0) close(d.history_fd); /* (the lock goes with it) */
  free(d.after);
  free(d.pending);
  free(d.paused_end);
  free(d.retry_at);
  free(d.failures);
  return rc;
}
