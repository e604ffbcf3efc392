/* schedule.h: the scheduling core of `vmrun schedule` (docs/schedule.md): cron expressions,
 * maintenance windows (weekly windows, excluded dates, freeze periods) in a schedule's time zone,
 * schedule files (YAML) read into a vr_schedule with file:line:column errors, and the next runs of
 * a schedule's runbooks.
 *
 * Pure C: no Lua, no clock (every question takes its "now"), no I/O but reading the schedule file
 * and its time zone's file (tz.h). Nothing here runs a runbook, locks a cluster, checks that a
 * playbook exists or writes history.
 *
 * Times are int64 seconds since 1970-01-01T00:00:00Z. Cron fields and windows are read on the
 * schedule's wall clock. A local time that the clocks skip (spring forward) happens at the instant
 * they jump; a local time that happens twice (fall back) happens at its first occurrence only (so
 * a cron time never fires twice and is never lost). A window ends at its start plus its duration
 * on the wall clock, by the same rules. */
#ifndef VMRUN_SCHEDULE_H
#define VMRUN_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#include "tz.h"

#define VR_NEVER INT64_MAX
/* How far ahead a run, a window start or a cron time is looked for before it counts as never. */
#define VR_SCHEDULE_SEARCH_S ((int64_t)50 * 366 * 86400)
/* A window (a stretch of maintenance time) is followed at most this far from the time asked
 * about; one that is still open then is reported as ending there. */
#define VR_SCHEDULE_HORIZON_S  ((int64_t)400 * 86400)
#define VR_WINDOW_MAX_DURATION (7 * 86400)

typedef struct vr_schedule_error {
  char file[512];    /* "" when not about a file */
  int line;          /* 1-based; 0 when not about a line */
  int column;        /* 1-based; 0 when unknown. vr_cron_parse: the column in the expression */
  char message[512]; /* what is wrong, without the position */
} vr_schedule_error;

/* "file:line:column: message", "file:line: message", "file: message" or "message". */
void vr_schedule_error_format(const vr_schedule_error *err, char *buf, size_t len);

/* ---- cron ------------------------------------------------------------------------------------ */

/* Five fields: minute hour day-of-month month day-of-week, each '*', a number, a name (JAN-DEC,
 * SUN-SAT, any case), a range a-b, a step (*\/n, a-b/n), or a list of those; day-of-week 0 and 7
 * are Sunday. Or @yearly (@annually), @monthly, @weekly, @daily (@midnight), @hourly. Vixie cron's
 * rule: when neither day field starts with '*', a day matches if either matches; otherwise both
 * must (so "*\/2" counts as unrestricted, as in Vixie cron and cronie). */
typedef struct vr_cron {
  uint64_t minutes; /* bit i: minute i (0-59) */
  uint32_t hours;   /* 0-23 */
  uint32_t mdays;   /* 1-31 */
  uint16_t months;  /* 1-12 */
  uint8_t wdays;    /* 0-6, Sunday 0 */
  uint8_t mday_star, wday_star;
} vr_cron;

/* 0, or -1 with err->message ("minute field: 60 is out of range 0-59") and err->column (where in
 * text). Refuses expressions whose days never happen ("0 0 30 2 *"). */
int vr_cron_parse(const char *text, vr_cron *cron, vr_schedule_error *err);
/* The first cron time strictly after `after` on tz's wall clock (NULL: UTC); VR_NEVER when there
 * is none within VR_SCHEDULE_SEARCH_S. */
int64_t vr_cron_next(const vr_cron *cron, const vr_tz *tz, int64_t after);
/* Whether local wall-clock time `local` (seconds, see tz.h) matches, to the minute. */
int vr_cron_matches(const vr_cron *cron, int64_t local);

/* ---- the schedule ---------------------------------------------------------------------------- */

typedef struct vr_weekly_window {
  uint8_t days;     /* bit d: weekday d (0 Sunday ... 6 Saturday) */
  int start;        /* minutes after local midnight, 0-1439 */
  int64_t duration; /* seconds: whole minutes, 1 minute to 7 days */
  int line, column;
} vr_weekly_window;

typedef struct vr_exclusion {
  int64_t day; /* a local date: days since 1970-01-01 */
  int line, column;
} vr_exclusion;

typedef struct vr_freeze {
  int64_t from, to; /* local dates (days since 1970-01-01), both included */
  char *reason;     /* NULL when none was given */
  int line, column;
} vr_freeze;

typedef struct vr_schedule_cluster {
  char *kubeconfig;      /* as written, NULL when absent */
  char *kubeconfig_path; /* ~ expanded, relative to the schedule file's folder, absolute */
  char *context;         /* NULL: the kubeconfig's current context */
  char *namespace_;
  char *file; /* a simulated cluster file, as written */
  char *file_path;
  int in_cluster;
  int line, column;
} vr_schedule_cluster;

typedef struct vr_runbook {
  char *name;          /* [A-Za-z0-9][A-Za-z0-9._-]*, unique in the schedule */
  char *playbook;      /* as written */
  char *playbook_path; /* ~ expanded, relative to the schedule file's folder, absolute */
  char *cron_text;
  vr_cron cron;
  char **args; /* NULL-terminated; nargs strings */
  size_t nargs;
  int window; /* must start inside a window (default: when the schedule has weekly windows) */
  int line, column;
  int cron_line, cron_column;
} vr_runbook;

typedef struct vr_schedule {
  char *file;     /* as given */
  char *timezone; /* "UTC" unless given */
  vr_tz *tz;
  vr_schedule_cluster cluster;
  vr_weekly_window *weekly; /* sorted by time of day (start) */
  size_t nweekly;
  vr_exclusion *excluded;
  size_t nexcluded;
  vr_freeze *freezes;
  size_t nfreezes;
  vr_runbook *runbooks;
  size_t nrunbooks;
  char *history;      /* as written; NULL: the default .vmrun/schedule-history.jsonl */
  char *history_path; /* resolved as the playbooks are */
  /* private: the excluded dates and freezes as instants, and the longest window */
  struct vr_blocked *blocked_;
  size_t nblocked_;
  int64_t max_duration_;
} vr_schedule;

/* Reads a schedule file. NULL with err filled (file:line:column and what is wrong). */
vr_schedule *vr_schedule_load(const char *path, vr_schedule_error *err);
/* The same from text; path names the file in messages and is the folder relative paths start
 * from. */
vr_schedule *vr_schedule_parse(const char *text, size_t len, const char *path,
                               vr_schedule_error *err);
void vr_schedule_free(vr_schedule *s);

/* ---- windows --------------------------------------------------------------------------------- */

/* A stretch of maintenance time [start, end): the union of the weekly windows' occurrences (ones
 * that touch or overlap join), less the excluded dates and the freezes. */
typedef struct vr_window {
  int64_t start, end;
} vr_window;

/* 1 when t is frozen or on an excluded date (freeze and exclusion may be NULL; the one that
 * applies is set, the other NULL), else 0. */
int vr_schedule_blocked(const vr_schedule *s, int64_t t, const vr_freeze **freeze,
                        const vr_exclusion **exclusion);
/* 1 when t is inside a window, with w (may be NULL) its start and end; else 0. */
int vr_schedule_window_at(const vr_schedule *s, int64_t t, vr_window *w);
/* The first window that starts after t: 1, or 0 when none starts within VR_SCHEDULE_SEARCH_S. */
int vr_schedule_next_window(const vr_schedule *s, int64_t t, vr_window *w);
/* Seconds left in the window at t (0 outside a window). */
int64_t vr_schedule_time_left(const vr_schedule *s, int64_t t);

/* ---- runs ------------------------------------------------------------------------------------ */

typedef enum vr_skip {
  VR_SKIP_NONE = 0,
  VR_SKIP_FROZEN,
  VR_SKIP_EXCLUDED,
  VR_SKIP_OUTSIDE_WINDOW
} vr_skip;

/* "frozen", "excluded", "outside window" ("" for VR_SKIP_NONE). */
const char *vr_skip_name(vr_skip skip);

/* Whether runbook rb may start at t: VR_SKIP_NONE, or why not (frozen first, then excluded, then
 * outside a window for window runbooks). w gets the window t is in (zeros when none). */
vr_skip vr_schedule_may_start(const vr_schedule *s, const vr_runbook *rb, int64_t t, vr_window *w,
                              const vr_freeze **freeze, const vr_exclusion **exclusion);

typedef struct vr_schedule_run {
  const vr_runbook *runbook;
  int64_t cron_time; /* the first cron time after the previous run (or after now) */
  int64_t start;     /* the first cron time from cron_time on that may start */
  vr_window window;  /* window runbooks: the window start is in; zeros otherwise */
  /* why cron_time could not start (VR_SKIP_NONE when start == cron_time), and bit 1 << reason
   * for every reason met from cron_time to start */
  vr_skip skipped;
  unsigned skipped_all;
  const vr_freeze *freeze;       /* the first freeze met (skipped_all has VR_SKIP_FROZEN) */
  const vr_exclusion *exclusion; /* the first excluded date met */
} vr_schedule_run;

/* The first run of rb after `after` (strictly): 1, or 0 when it has none within
 * VR_SCHEDULE_SEARCH_S. */
int vr_schedule_next_run(const vr_schedule *s, const vr_runbook *rb, int64_t after,
                         vr_schedule_run *run);
/* The next n runs after now across the runbooks, by start (file order on a tie). Returns how many
 * out holds: fewer than n only when no runbook runs again; (size_t)-1 when out of memory. */
size_t vr_schedule_next_runs(const vr_schedule *s, int64_t now, size_t n, vr_schedule_run *out);
/* 0, or -1 with err naming (file:line:column of its cron) the first runbook that never runs
 * after now (its cron times are all frozen, excluded or outside the windows). */
int vr_schedule_check_runs(const vr_schedule *s, int64_t now, vr_schedule_error *err);

/* ISO 8601: YYYY-MM-DD[(T| )HH:MM[:SS[.fff]]][Z|(+|-)HH[:]MM]; without an offset the time is
 * tz's wall-clock time (tz NULL: UTC). Returns 0 with *out the instant, or -1 when text is not
 * such a time. */
int vr_schedule_parse_time(const char *text, const vr_tz *tz, int64_t *out);
/* "Sat 2026-12-19 22:00 CET" on tz's wall clock (seconds only when not zero). */
void vr_format_local(const vr_tz *tz, int64_t t, char *buf, size_t len);
/* "2026-12-19 21:00 UTC" */
void vr_format_utc(int64_t t, char *buf, size_t len);

#endif
