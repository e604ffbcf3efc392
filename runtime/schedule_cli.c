/* schedule_cli.c: the `vmrun schedule` command (see schedule_cli.h, docs/schedule.md): reads the
 * schedule (schedule.h), checks that its playbooks and simulated cluster file can be read and
 * that every runbook runs again; `--list` prints the next runs as a table, `--check` only checks,
 * and without either the schedule runs (schedule_run.h).
 *
 * It may not run a runbook, contact a cluster or write history itself. Output goes to stdout,
 * errors to stderr as one line. */
#include "schedule_cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "args.h"
#include "schedule.h"
#include "schedule_run.h"

#define EXIT_USAGE    2
#define DEFAULT_COUNT 10
#define MAX_COUNT     1000

static const char usage_text[] =
    "usage: vmrun schedule FILE [--once | --run RUNBOOK]\n"
    "       vmrun schedule --list FILE [--now TIME] [--count N]\n"
    "       vmrun schedule --check FILE [--now TIME]\n"
    "\n"
    "Reads a schedule file: runbooks with cron times, maintenance windows, excluded dates and\n"
    "freezes, in the schedule's time zone (docs/schedule.md). Without --list or --check it runs\n"
    "the schedule until SIGINT or SIGTERM: each runbook at its times, one run at a time, with\n"
    "the end of its window (a rolling maintenance starts no batch that would overrun it, and a\n"
    "run paused there is resumed in the next window), the history as JSON lines.\n"
    "\n"
    "  --once          run the schedule until one run has ended, then exit with its code\n"
    "  --run RUNBOOK   start RUNBOOK now, under the schedule's rules (its window, freezes,\n"
    "                  excluded dates; a paused run of it is resumed), and exit with its code\n"
    "  --list          print the next runs: the runbook, its start in the schedule's time zone\n"
    "                  and in UTC, the end of the window it starts in, and why the cron times\n"
    "                  before it were skipped (frozen, excluded, outside window)\n"
    "  --check         only check the file: exit 0 when it is good\n"
    "  --now TIME      list from TIME instead of the clock: 2026-12-19T21:00Z,\n"
    "                  2026-12-19T22:00+01:00, or 2026-12-19T22:00 in the schedule's time zone\n"
    "  --count N       how many runs to list (default 10, at most 1000)\n"
    "  -h, --help      print this help and exit\n"
    "\n"
    "exit codes: 0 ok, 2 usage error, a bad schedule file (file:line:column: what is wrong) or\n"
    "a history another vmrun schedule holds; with --once and --run, the run's own code\n";

static int usage_error(const char *fmt, const char *arg) {
  return vr_cli_usage_error("vmrun schedule", fmt, arg);
}

/* ---- times ----------------------------------------------------------------------------------- */

static void format_day(int64_t day, char *buf, size_t len) {
  int64_t y;
  int m, d;
  vr_civil_from_days(day, &y, &m, &d);
  snprintf(buf, len, "%04lld-%02d-%02d", (long long)y, m, d);
}

/* ---- checks ---------------------------------------------------------------------------------- */

static void report(const vr_schedule_error *err) {
  char buf[1200];
  vr_schedule_error_format(err, buf, sizeof buf);
  fprintf(stderr, "vmrun schedule: %s\n", buf);
}

/* The files the schedule names that must exist where it is checked: playbooks and a simulated
 * cluster (a kubeconfig may live only where the schedule runs). */
static int check_files(const vr_schedule *s) {
  vr_schedule_error err;
  size_t i;
  memset(&err, 0, sizeof err);
  snprintf(err.file, sizeof err.file, "%s", s->file);
  for (i = 0; i < s->nrunbooks; i++) {
    const vr_runbook *rb = &s->runbooks[i];
    if (access(rb->playbook_path, R_OK) == 0) continue;
    err.line = rb->line;
    err.column = rb->column;
    snprintf(err.message, sizeof err.message, "runbook '%s': playbook %s cannot be read: %s",
             rb->name, rb->playbook_path, strerror(errno));
    report(&err);
    return -1;
  }
  if (s->cluster.file_path != NULL && access(s->cluster.file_path, R_OK) != 0) {
    err.line = s->cluster.line;
    err.column = s->cluster.column;
    snprintf(err.message, sizeof err.message, "cluster: file %s cannot be read: %s",
             s->cluster.file_path, strerror(errno));
    report(&err);
    return -1;
  }
  return 0;
}

/* ---- --list ---------------------------------------------------------------------------------- */

enum { COL_RUNBOOK, COL_START, COL_START_UTC, COL_WINDOW_END, COL_SKIPPED, NCOLS };
#define CELL 320

/* "since Mon 2026-12-14 03:30 CET: outside window, frozen (year-end freeze)": the cron times
 * from the first one skipped on, and every reason met, in order of precedence. */
static void skipped_text(const vr_schedule *s, const vr_schedule_run *run, char *buf, size_t len) {
  char when[64], a[16], b[16];
  size_t o;
  int first = 1, why;
  buf[0] = '\0';
  if (run->skipped == VR_SKIP_NONE) return;
  vr_format_local(s->tz, run->cron_time, when, sizeof when);
  o = (size_t)snprintf(buf, len, "since %s:", when);
  for (why = VR_SKIP_FROZEN; why <= VR_SKIP_OUTSIDE_WINDOW && o < len; why++) {
    if (!(run->skipped_all >> why & 1)) continue;
    o += (size_t)snprintf(buf + o, len - o, "%s %s", first ? "" : ",", vr_skip_name((vr_skip)why));
    first = 0;
    if (o >= len) break;
    if (why == VR_SKIP_FROZEN && run->freeze != NULL && run->freeze->reason != NULL) {
      o += (size_t)snprintf(buf + o, len - o, " (%s)", run->freeze->reason);
    } else if (why == VR_SKIP_FROZEN && run->freeze != NULL) {
      format_day(run->freeze->from, a, sizeof a);
      format_day(run->freeze->to, b, sizeof b);
      o += (size_t)snprintf(buf + o, len - o, " (%s to %s)", a, b);
    } else if (why == VR_SKIP_EXCLUDED && run->exclusion != NULL) {
      format_day(run->exclusion->day, a, sizeof a);
      o += (size_t)snprintf(buf + o, len - o, " (%s)", a);
    }
  }
}

/* "context admin@prod of ~/.kube/prod, namespace ops" and the like. */
static void cluster_text(const vr_schedule_cluster *c, char *buf, size_t len) {
  char ns[160] = "";
  if (c->namespace_ != NULL) snprintf(ns, sizeof ns, ", namespace %s", c->namespace_);
  if (c->file != NULL)
    snprintf(buf, len, "simulated from %s", c->file);
  else if (c->in_cluster)
    snprintf(buf, len, "in-cluster (the pod's service account)%s", ns);
  else if (c->context != NULL && c->kubeconfig != NULL)
    snprintf(buf, len, "context %s of %s%s", c->context, c->kubeconfig, ns);
  else if (c->context != NULL)
    snprintf(buf, len, "context %s ($KUBECONFIG, else ~/.kube/config)%s", c->context, ns);
  else
    snprintf(buf, len, "the current context of %s%s", c->kubeconfig, ns);
}

/* One table row: columns padded to their widths, two spaces apart; nothing after the last cell
 * that is not empty. */
static void print_row(const char *const *cells, const size_t *widths, int ncols) {
  int c;
  while (ncols > 1 && cells[ncols - 1][0] == '\0') ncols--;
  for (c = 0; c < ncols - 1; c++) printf("%-*s  ", (int)widths[c], cells[c]);
  printf("%s\n", cells[ncols - 1]);
}

static int list_runs(const vr_schedule *s, int64_t now, size_t count) {
  const char *headers[NCOLS] = {"RUNBOOK", NULL, "START (UTC)", "WINDOW ENDS",
                                "SKIPPED CRON TIMES"};
  char start_header[128], cluster[600];
  vr_schedule_run *runs = calloc(count, sizeof *runs);
  char(*cells)[NCOLS][CELL] = calloc(count, sizeof *cells), line[96];
  size_t widths[NCOLS], n, i;
  int c, any_skipped = 0;
  if (runs == NULL || cells == NULL) {
    free(runs);
    free(cells);
    fprintf(stderr, "vmrun schedule: out of memory\n");
    return 1;
  }
  n = vr_schedule_next_runs(s, now, count, runs);
  if (n == (size_t)-1) {
    free(runs);
    free(cells);
    fprintf(stderr, "vmrun schedule: out of memory\n");
    return 1;
  }
  snprintf(start_header, sizeof start_header, "START (%s)", s->timezone);
  headers[COL_START] = start_header;
  for (c = 0; c < NCOLS; c++) widths[c] = strlen(headers[c]);
  for (i = 0; i < n; i++) {
    snprintf(cells[i][COL_RUNBOOK], CELL, "%s", runs[i].runbook->name);
    vr_format_local(s->tz, runs[i].start, cells[i][COL_START], CELL);
    vr_format_utc(runs[i].start, cells[i][COL_START_UTC], CELL);
    if (runs[i].runbook->window && runs[i].window.end >= runs[i].start + VR_SCHEDULE_HORIZON_S)
      snprintf(cells[i][COL_WINDOW_END], CELL, "not within 400 days");
    else if (runs[i].runbook->window)
      vr_format_local(s->tz, runs[i].window.end, cells[i][COL_WINDOW_END], CELL);
    else
      snprintf(cells[i][COL_WINDOW_END], CELL, "-");
    skipped_text(s, &runs[i], cells[i][COL_SKIPPED], CELL);
    if (runs[i].skipped != VR_SKIP_NONE) any_skipped = 1;
    for (c = 0; c < NCOLS; c++)
      if (strlen(cells[i][c]) > widths[c]) widths[c] = strlen(cells[i][c]);
  }
  vr_format_local(s->tz, now, line, sizeof line);
  cluster_text(&s->cluster, cluster, sizeof cluster);
  printf("schedule %s: %zu runbook%s on cluster %s\n", s->file, s->nrunbooks,
         s->nrunbooks == 1 ? "" : "s", cluster);
  {
    char utc[48];
    vr_format_utc(now, utc, sizeof utc);
    printf("next %zu run%s after %s (%s):\n\n", n, n == 1 ? "" : "s", line, utc);
  }
  print_row(headers, widths, any_skipped ? NCOLS : NCOLS - 1);
  for (i = 0; i < n; i++) {
    const char *row[NCOLS];
    for (c = 0; c < NCOLS; c++) row[c] = cells[i][c];
    print_row(row, widths, any_skipped ? NCOLS : NCOLS - 1);
  }
  free(runs);
  free(cells);
  return 0;
}

/* ---- the command ----------------------------------------------------------------------------- */

int vr_schedule_main(int argc, char **argv) {
  const char *file = NULL, *now_text = NULL;
  int i, missing = 0, list = 0, check = 0, rc;
  vr_schedule_daemon_options run_opts = {NULL, NULL, 0};
  char self[4096];
  size_t self_len = sizeof self;
  long count = DEFAULT_COUNT;
  int64_t now;
  vr_schedule_error err;
  vr_schedule *s;
  for (i = 1; i < argc; i++) {
    const char *a = argv[i], *v;
    char *end;
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      fputs(usage_text, stdout);
      return 0;
    } else if (strcmp(a, "--list") == 0) {
      list = 1;
    } else if (strcmp(a, "--check") == 0) {
      check = 1;
    } else if (strcmp(a, "--once") == 0) {
      run_opts.once = 1;
    } else if ((v = vr_cli_option_value(argc, argv, &i, "--run", &missing)) != NULL) {
      if (missing || !v[0]) return usage_error("option '%s' needs a RUNBOOK name", a);
      run_opts.runbook = v;
    } else if ((v = vr_cli_option_value(argc, argv, &i, "--now", &missing)) != NULL) {
      if (missing || !v[0])
        return usage_error("option '%s' needs a TIME such as 2026-12-19T21:00Z", a);
      now_text = v;
    } else if ((v = vr_cli_option_value(argc, argv, &i, "--count", &missing)) != NULL) {
      if (missing) return usage_error("option '%s' needs a number", a);
      errno = 0;
      count = strtol(v, &end, 10);
      if (end == v || *end != '\0' || errno != 0 || count < 1 || count > MAX_COUNT)
        return usage_error("bad --count '%s': expected 1 to 1000", v);
    } else if (strcmp(a, "--") == 0 && i + 1 < argc && file == NULL) {
      file = argv[++i];
    } else if (a[0] == '-' && a[1] != '\0') {
      return usage_error("unknown option '%s'", a);
    } else if (file == NULL) {
      file = a;
    } else {
      return usage_error("one schedule FILE at a time ('%s' is a second)", a);
    }
  }
  if (list && check) return usage_error("%s: give --list or --check, not both", "--list");
  if (file == NULL) {
    fputs(usage_text, stderr);
    return EXIT_USAGE;
  }
  if ((list || check) && (run_opts.once || run_opts.runbook != NULL))
    return usage_error("%s: --once and --run run the schedule; --list and --check only read it",
                       list ? "--list" : "--check");
  if (run_opts.once && run_opts.runbook != NULL)
    return usage_error("%s: give --once or --run, not both", "--once");
  if (!list && !check && now_text != NULL)
    return usage_error("%s: a schedule runs on the clock (--now is for --list and --check)",
                       "--now");
  if ((s = vr_schedule_load(file, &err)) == NULL) {
    report(&err);
    return EXIT_USAGE;
  }
  now = (int64_t)time(NULL);
  if (now_text != NULL && vr_schedule_parse_time(now_text, s->tz, &now) != 0) {
    vr_schedule_free(s);
    return usage_error("bad --now '%s': expected an ISO 8601 time such as 2026-12-19T21:00Z, "
                       "2026-12-19T22:00+01:00 or 2026-12-19T22:00 (the schedule's time zone)",
                       now_text);
  }
  if (check_files(s) < 0) {
    rc = EXIT_USAGE;
  } else if (vr_schedule_check_runs(s, now, &err) < 0) {
    report(&err);
    rc = EXIT_USAGE;
  } else if (!list && !check) {
    if (uv_exepath(self, &self_len) != 0) {
      fprintf(stderr, "vmrun schedule: cannot find the vmrun binary to start runs with\n");
      rc = EXIT_USAGE;
    } else {
      run_opts.self = self;
      rc = vr_schedule_daemon(s, &run_opts);
    }
  } else if (check) {
    printf("%s: ok (%zu runbook%s, %zu weekly window%s, %zu excluded date%s, %zu freeze%s; time "
           "zone %s)\n",
           s->file, s->nrunbooks, s->nrunbooks == 1 ? "" : "s", s->nweekly,
           s->nweekly == 1 ? "" : "s", s->nexcluded, s->nexcluded == 1 ? "" : "s", s->nfreezes,
           s->nfreezes == 1 ? "" : "s", s->timezone);
    rc = 0;
  } else {
    rc = list_runs(s, now, (size_t)count);
  }
  vr_schedule_free(s);
  return rc;
}
