/* schedule.c: cron expressions, maintenance windows, schedule files and next runs (see
 * schedule.h and docs/schedule.md). Wall-clock questions go through tz.h, never through the
 * process's TZ. The schedule file is read with libyaml's document API so that every error names
 * file, line and column; unknown keys, a key given twice and keys without a value are errors.
 *
 * It may not run anything, read the clock, call Lua or touch files other than the schedule file
 * (and, through tz.c, its zone file); checking that playbooks exist is the command's job. */
#include "schedule.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "args.h"
#include "luaval.h"

#define SCHED_MAX_FILE (4u << 20) /* a schedule file larger than this is refused */
#define WEEK_MINUTES   (7 * 1440)

struct vr_blocked {
  int64_t start, end; /* [start, end) */
  const vr_freeze *freeze;
  const vr_exclusion *exclusion;
};

static const char *const day_abbr[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};

/* ---- errors ---------------------------------------------------------------------------------- */

static int set_error(vr_schedule_error *err, const char *file, int line, int column,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Fills err; returns -1 so that callers can `return set_error(...)`. */
static int set_error(vr_schedule_error *err, const char *file, int line, int column,
                     const char *fmt, ...) {
  va_list ap;
  snprintf(err->file, sizeof err->file, "%s", file != NULL ? file : "");
  err->line = line;
  err->column = column;
  va_start(ap, fmt);
  vsnprintf(err->message, sizeof err->message, fmt, ap);
  va_end(ap);
  return -1;
}

void vr_schedule_error_format(const vr_schedule_error *err, char *buf, size_t len) {
  if (err->file[0] != '\0' && err->line > 0 && err->column > 0)
    snprintf(buf, len, "%s:%d:%d: %s", err->file, err->line, err->column, err->message);
  else if (err->file[0] != '\0' && err->line > 0)
    snprintf(buf, len, "%s:%d: %s", err->file, err->line, err->message);
  else if (err->file[0] != '\0')
    snprintf(buf, len, "%s: %s", err->file, err->message);
  else
    snprintf(buf, len, "%s", err->message);
}

/* "6h", "1h30m", "2d", "45m" for a whole number of minutes. */
static void format_duration(int64_t secs, char *buf, size_t len) {
  int64_t d = secs / 86400, h = secs % 86400 / 3600, m = secs % 3600 / 60;
  size_t o = 0;
  buf[0] = '\0';
  if (d > 0) o += (size_t)snprintf(buf + o, len - o, "%lldd", (long long)d);
  if (h > 0 && o < len) o += (size_t)snprintf(buf + o, len - o, "%lldh", (long long)h);
  if ((m > 0 || o == 0) && o < len) snprintf(buf + o, len - o, "%lldm", (long long)m);
}

/* ---- cron: parsing --------------------------------------------------------------------------- */

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
static const char *const wday_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

typedef struct cron_field {
  const char *name;
  int lo, hi;
  const char *const *names; /* NULL: numbers only; names[i] is value i + name_base */
  int name_base;
} cron_field;

static const cron_field cron_fields[5] = {
    {"minute", 0, 59, NULL, 0},           {"hour", 0, 23, NULL, 0},
    {"day-of-month", 1, 31, NULL, 0},     {"month", 1, 12, month_names, 1},
    {"day-of-week", 0, 7, wday_names, 0},
};

typedef struct cron_parse {
  const char *text;
  vr_schedule_error *err;
} cron_parse;

static int cron_fail(cron_parse *cp, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int cron_fail(cron_parse *cp, const char *at, const char *fmt, ...) {
  va_list ap;
  cp->err->file[0] = '\0';
  cp->err->line = 0;
  cp->err->column = (int)(at - cp->text) + 1;
  va_start(ap, fmt);
  vsnprintf(cp->err->message, sizeof cp->err->message, fmt, ap);
  va_end(ap);
  return -1;
}

/* A number or (where the field has them) a three-letter name at *p, ending before end. */
static int cron_value(cron_parse *cp, const cron_field *f, const char **p, const char *end,
                      int *out) {
  const char *s = *p;
  if (s < end && isdigit((unsigned char)*s)) {
    long v = 0;
    while (s < end && isdigit((unsigned char)*s)) {
      if (v < 100000) v = v * 10 + (*s - '0');
      s++;
    }
    if (v < f->lo || v > f->hi)
      return cron_fail(cp, *p, "%s field: %.*s is out of range %d-%d", f->name, (int)(s - *p), *p,
                       f->lo, f->hi);
    *out = (int)v;
    *p = s;
    return 0;
  }
  if (s < end && isalpha((unsigned char)*s)) {
    size_t n = 0;
    int i;
    while (s + n < end && isalpha((unsigned char)s[n])) n++;
    if (f->names == NULL)
      return cron_fail(cp, s, "%s field: '%.*s' is not a number", f->name, (int)n, s);
    for (i = 0; f->names == month_names ? i < 12 : i < 7; i++)
      if (n == 3 && strncasecmp(s, f->names[i], 3) == 0) {
        *out = i + f->name_base;
        *p = s + n;
        return 0;
      }
    return cron_fail(cp, s, "%s field: unknown %s name '%.*s' (expected %s)", f->name,
                     f->names == month_names ? "month" : "day", (int)n, s,
                     f->names == month_names ? "JAN, FEB, ... DEC" : "SUN, MON, ... SAT");
  }
  if (s >= end) return cron_fail(cp, s, "%s field: a value is missing", f->name);
  return cron_fail(cp, s, "%s field: unexpected '%c'", f->name, *s);
}

static int cron_number(cron_parse *cp, const cron_field *f, const char **p, const char *end,
                       int *out) {
  const char *s = *p;
  long v = 0;
  if (s >= end || !isdigit((unsigned char)*s))
    return cron_fail(cp, s, "%s field: a step must be a number", f->name);
  while (s < end && isdigit((unsigned char)*s)) {
    if (v < 100000) v = v * 10 + (*s - '0');
    s++;
  }
  if (v < 1 || v > f->hi)
    return cron_fail(cp, *p, "%s field: step %.*s is out of range 1-%d", f->name, (int)(s - *p), *p,
                     f->hi);
  *out = (int)v;
  *p = s;
  return 0;
}

/* One field [p, end) into bits. */
static int cron_parse_field(cron_parse *cp, int fi, const char *p, const char *end, uint64_t *bits,
                            uint8_t *star) {
  const cron_field *f = &cron_fields[fi];
  *bits = 0;
  *star = *p == '*';
  for (;;) {
    const char *item = p, *comma = memchr(p, ',', (size_t)(end - p));
    const char *stop = comma != NULL ? comma : end;
    int lo, hi, step = 1, v;
    if (p == stop) return cron_fail(cp, p, "%s field: an empty item in the list", f->name);
    if (*p == '*') {
      lo = f->lo;
      hi = f->hi;
      p++;
    } else {
      if (cron_value(cp, f, &p, stop, &lo) < 0) return -1;
      hi = lo;
      if (p < stop && *p == '-') {
        p++;
        if (cron_value(cp, f, &p, stop, &hi) < 0) return -1;
        if (hi < lo)
          return cron_fail(cp, item, "%s field: the range %.*s goes backwards", f->name,
                           (int)(p - item), item);
      }
    }
    if (p < stop && *p == '/') {
      if (*item != '*' && hi == lo && memchr(item, '-', (size_t)(p - item)) == NULL)
        return cron_fail(cp, item,
                         "%s field: a step needs a range or '*' before it (write %d-%d/N "
                         "or */N, not %.*s)",
                         f->name, lo, f->hi, (int)(stop - item), item);
      p++;
      if (cron_number(cp, f, &p, stop, &step) < 0) return -1;
    }
    if (p < stop) return cron_fail(cp, p, "%s field: unexpected '%c'", f->name, *p);
    for (v = lo; v <= hi; v += step) *bits |= (uint64_t)1 << v;
    if (comma == NULL) break;
    p = comma + 1;
  }
  return 0;
}

static int cron_from_fields(cron_parse *cp, const char *fields[5], const char *ends[5],
                            vr_cron *out) {
  uint64_t bits[5];
  uint8_t star[5];
  int i, m, d, meet = 0;
  for (i = 0; i < 5; i++)
    if (cron_parse_field(cp, i, fields[i], ends[i], &bits[i], &star[i]) < 0) return -1;
  if (bits[4] >> 7 & 1) bits[4] = (bits[4] | 1) & 0x7f; /* 7 is Sunday too */
  out->minutes = bits[0];
  out->hours = (uint32_t)bits[1];
  out->mdays = (uint32_t)bits[2];
  out->months = (uint16_t)bits[3];
  out->wdays = (uint8_t)bits[4];
  out->mday_star = star[2];
  out->wday_star = star[4];
  /* when both day fields must match, some chosen month must have some chosen day (February
   * counts its 29th) */
  if (out->mday_star || out->wday_star) {
    for (m = 1; m <= 12 && !meet; m++)
      if (out->months >> m & 1)
        for (d = 1; d <= (m == 2 ? 29 : vr_days_in_month(2001, m)); d++)
          if (out->mdays >> d & 1) meet = 1;
    if (!meet)
      return cron_fail(cp, fields[2],
                       "day-of-month field: no day in '%.*s' happens in the months '%.*s', so "
                       "the expression never runs",
                       (int)(ends[2] - fields[2]), fields[2], (int)(ends[3] - fields[3]),
                       fields[3]);
  }
  return 0;
}

int vr_cron_parse(const char *text, vr_cron *cron, vr_schedule_error *err) {
  static const struct {
    const char *name, *expr;
  } nicknames[] = {{"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
                   {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
                   {"@hourly", "0 * * * *"}};
  cron_parse cp;
  const char *p = text, *fields[5], *ends[5], *sixth = NULL;
  int n = 0;
  size_t i;
  memset(err, 0, sizeof *err);
  memset(cron, 0, sizeof *cron);
  cp.text = text;
  cp.err = err;
  while (*p == ' ' || *p == '\t') p++;
  if (*p == '@') {
    const char *s = p;
    size_t len;
    while (*p != '\0' && *p != ' ' && *p != '\t') p++;
    len = (size_t)(p - s);
    while (*p == ' ' || *p == '\t') p++;
    for (i = 0; i < sizeof nicknames / sizeof nicknames[0]; i++)
      if (strlen(nicknames[i].name) == len && strncasecmp(s, nicknames[i].name, len) == 0) {
        vr_schedule_error ignored;
        memset(&ignored, 0, sizeof ignored);
        if (*p != '\0') return cron_fail(&cp, p, "nothing may follow %s", nicknames[i].name);
        return vr_cron_parse(nicknames[i].expr, cron, &ignored);
      }
    if (len == 7 && strncasecmp(s, "@reboot", 7) == 0)
      return cron_fail(&cp, s, "@reboot is not supported: a schedule runs at times of day");
    return cron_fail(&cp, s,
                     "unknown nickname '%.*s' (expected @yearly, @annually, @monthly, @weekly, "
                     "@daily, @midnight or @hourly)",
                     (int)len, s);
  }
  while (*p != '\0') {
    if (n == 5) {
      sixth = p;
      while (*p != '\0') {
        while (*p != '\0' && *p != ' ' && *p != '\t') p++;
        while (*p == ' ' || *p == '\t') p++;
        n++;
      }
      break;
    }
    fields[n] = p;
    while (*p != '\0' && *p != ' ' && *p != '\t') p++;
    ends[n++] = p;
    while (*p == ' ' || *p == '\t') p++;
  }
  if (n != 5)
    return cron_fail(&cp, sixth != NULL ? sixth : p,
                     "expected 5 fields (minute hour day-of-month month day-of-week), got %d%s", n,
                     n == 6 ? " (a seconds or year field is not supported)" : "");
  return cron_from_fields(&cp, fields, ends, cron);
}

/* ---- cron: matching and next times ----------------------------------------------------------- */

static int day_matches(const vr_cron *c, int mday, int wday) {
  int dom = (int)(c->mdays >> mday & 1), dow = c->wdays >> wday & 1;
  return c->mday_star || c->wday_star ? dom && dow : dom || dow;
}

int vr_cron_matches(const vr_cron *c, int64_t local) {
  int64_t days = vr_floor_div(local, 86400), y;
  int sec = (int)(local - days * 86400), m, d;
  vr_civil_from_days(days, &y, &m, &d);
  return (c->months >> m & 1) && day_matches(c, d, vr_weekday(days)) &&
         (c->hours >> (sec / 3600) & 1) && (c->minutes >> (sec % 3600 / 60) & 1);
}

/* The first matching local minute at or after local (a whole minute); VR_NEVER when none comes
 * before day last_day. */
static int64_t next_local_match(const vr_cron *c, int64_t local, int64_t last_day) {
  int64_t days = vr_floor_div(local, 86400);
  int sec = (int)(local - days * 86400), h = sec / 3600, mi = sec % 3600 / 60;
  while (days <= last_day) {
    int64_t y;
    int mo, d;
    vr_civil_from_days(days, &y, &mo, &d);
    if (!(c->months >> mo & 1)) {
      days += vr_days_in_month(y, mo) - d + 1;
      h = mi = 0;
      continue;
    }
    if (day_matches(c, d, vr_weekday(days))) {
      for (; h < 24; h++, mi = 0) {
        if (!(c->hours >> h & 1)) continue;
        for (; mi < 60; mi++)
          if (c->minutes >> mi & 1) return days * 86400 + h * 3600 + mi * 60;
      }
    }
    days++;
    h = mi = 0;
  }
  return VR_NEVER;
}

int64_t vr_cron_next(const vr_cron *cron, const vr_tz *tz, int64_t after) {
  int64_t limit = after + VR_SCHEDULE_SEARCH_S;
  int64_t local = vr_floor_div(vr_tz_local(tz, after), 60) * 60;
  int64_t last_day = vr_floor_div(local, 86400) + VR_SCHEDULE_SEARCH_S / 86400 + 2;
  /* local times map to instants in order (skipped ones to the jump, repeated ones to their
   * first occurrence), so the first match whose instant is after `after` is the answer; only a
   * repeated hour can give matches at or before it */
  for (;;) {
    int64_t m = next_local_match(cron, local, last_day), t;
    if (m == VR_NEVER) return VR_NEVER;
    t = vr_tz_utc(tz, m);
    if (t > after) return t > limit ? VR_NEVER : t;
    local = m + 60;
  }
}

/* ---- windows --------------------------------------------------------------------------------- */

int vr_schedule_blocked(const vr_schedule *s, int64_t t, const vr_freeze **freeze,
                        const vr_exclusion **exclusion) {
  const vr_freeze *f = NULL;
  const vr_exclusion *e = NULL;
  size_t i;
  for (i = 0; i < s->nblocked_ && s->blocked_[i].start <= t; i++) {
    const struct vr_blocked *b = &s->blocked_[i];
    if (t >= b->end) continue;
    if (b->freeze != NULL && f == NULL) f = b->freeze;
    if (b->exclusion != NULL && e == NULL) e = b->exclusion;
  }
  if (freeze != NULL) *freeze = f;
  if (exclusion != NULL) *exclusion = f == NULL ? e : NULL;
  return f != NULL || e != NULL;
}

/* The first instant at or after t that is neither frozen nor excluded. */
static int64_t unblocked_from(const vr_schedule *s, int64_t t) {
  size_t i;
  /* sorted by start: an interval that holds t moves t to its end, and no earlier one can hold
   * the new t without having held the old one */
  for (i = 0; i < s->nblocked_ && s->blocked_[i].start <= t; i++)
    if (t < s->blocked_[i].end) t = s->blocked_[i].end;
  return t;
}

/* The first blocked interval that starts in (a, b); VR_NEVER when none. */
static int64_t block_start_in(const vr_schedule *s, int64_t a, int64_t b) {
  size_t i;
  for (i = 0; i < s->nblocked_; i++)
    if (s->blocked_[i].start > a && s->blocked_[i].start < b) return s->blocked_[i].start;
  return VR_NEVER;
}

/* The latest end of a blocked interval in (a, b]; a when none. */
static int64_t block_end_in(const vr_schedule *s, int64_t a, int64_t b) {
  int64_t best = a;
  size_t i;
  for (i = 0; i < s->nblocked_; i++)
    if (s->blocked_[i].end > best && s->blocked_[i].end <= b) best = s->blocked_[i].end;
  return best;
}

/* The occurrence of weekly window w on local date day: from its start to start + duration, both
 * on the wall clock (so that touching windows stay touching across a DST change). */
static void occurrence(const vr_schedule *s, const vr_weekly_window *w, int64_t day, int64_t *start,
                       int64_t *end) {
  int64_t local = day * 86400 + (int64_t)w->start * 60;
  *start = vr_tz_utc(s->tz, local);
  *end = vr_tz_utc(s->tz, local + w->duration);
}

typedef struct cover {
  int any;
  int64_t min_start, max_end;
} cover;

/* The occurrences of the weekly windows that hold instant x. */
static cover cover_at(const vr_schedule *s, int64_t x) {
  cover c = {0, 0, 0};
  int64_t lx = vr_tz_local(s->tz, x), day;
  int64_t last = vr_floor_div(lx, 86400) + 1;
  size_t i;
  for (day = vr_floor_div(lx - s->max_duration_, 86400) - 1; day <= last; day++) {
    int wd = vr_weekday(day);
    for (i = 0; i < s->nweekly; i++) {
      int64_t st, en;
      if (!(s->weekly[i].days >> wd & 1)) continue;
      occurrence(s, &s->weekly[i], day, &st, &en);
      if (st > x || x >= en) continue;
      if (!c.any || st < c.min_start) c.min_start = st;
      if (!c.any || en > c.max_end) c.max_end = en;
      c.any = 1;
    }
  }
  return c;
}

static int is_open(const vr_schedule *s, int64_t x) {
  return s->nweekly > 0 && !vr_schedule_blocked(s, x, NULL, NULL) && cover_at(s, x).any;
}

/* The end of the window that holds t (t must be open), at most VR_SCHEDULE_HORIZON_S away. */
static int64_t stretch_end(const vr_schedule *s, int64_t t) {
  int64_t x = t, limit = t + VR_SCHEDULE_HORIZON_S;
  for (;;) {
    cover c = cover_at(s, x);
    int64_t b;
    if (!c.any) return x;
    if ((b = block_start_in(s, x, c.max_end)) != VR_NEVER) return b < limit ? b : limit;
    x = c.max_end;
    if (x >= limit) return limit;
    if (vr_schedule_blocked(s, x, NULL, NULL)) return x;
  }
}

/* The start of the window that holds t (t must be open), at most VR_SCHEDULE_HORIZON_S back. */
static int64_t stretch_start(const vr_schedule *s, int64_t t) {
  int64_t a = t, limit = t - VR_SCHEDULE_HORIZON_S;
  for (;;) {
    cover c = cover_at(s, a);
    int64_t be = block_end_in(s, c.min_start, a);
    if (be > c.min_start) return be > limit ? be : limit;
    a = c.min_start;
    if (a <= limit) return limit;
    if (!is_open(s, a - 1)) return a;
    a--;
  }
}

int vr_schedule_window_at(const vr_schedule *s, int64_t t, vr_window *w) {
  if (!is_open(s, t)) {
    if (w != NULL) w->start = w->end = 0;
    return 0;
  }
  if (w != NULL) {
    w->start = stretch_start(s, t);
    w->end = stretch_end(s, t);
  }
  return 1;
}

int vr_schedule_next_window(const vr_schedule *s, int64_t t, vr_window *w) {
  int64_t x = t, day, last;
  size_t i;
  if (w != NULL) w->start = w->end = 0;
  if (s->nweekly == 0) return 0;
  if (is_open(s, t)) {
    x = stretch_end(s, t);
    if (x >= t + VR_SCHEDULE_HORIZON_S) return 0;
  }
  /* x is not open: the answer is the earliest open instant after it. Occurrences come in start
   * order (by day, then by time of day: weekly is sorted so), and the first one with an open
   * instant at or after x has the earliest. */
  day = vr_floor_div(vr_tz_local(s->tz, x) - s->max_duration_, 86400) - 1;
  last = day + VR_SCHEDULE_SEARCH_S / 86400;
  for (; day <= last; day++) {
    int wd = vr_weekday(day);
    for (i = 0; i < s->nweekly; i++) {
      int64_t st, en, p;
      if (!(s->weekly[i].days >> wd & 1)) continue;
      occurrence(s, &s->weekly[i], day, &st, &en);
      if (en <= x) continue;
      p = unblocked_from(s, st > x ? st : x);
      if (p < en) {
        if (w != NULL) {
          w->start = p;
          w->end = stretch_end(s, p);
        }
        return 1;
      }
    }
  }
  return 0;
}

int64_t vr_schedule_time_left(const vr_schedule *s, int64_t t) {
  vr_window w;
  return vr_schedule_window_at(s, t, &w) ? w.end - t : 0;
}

/* ---- runs ------------------------------------------------------------------------------------ */

const char *vr_skip_name(vr_skip skip) {
  switch (skip) {
  case VR_SKIP_FROZEN:
    return "frozen";
  case VR_SKIP_EXCLUDED:
    return "excluded";
  case VR_SKIP_OUTSIDE_WINDOW:
    return "outside window";
  case VR_SKIP_NONE:
    break;
  }
  return "";
}

vr_skip vr_schedule_may_start(const vr_schedule *s, const vr_runbook *rb, int64_t t, vr_window *w,
                              const vr_freeze **freeze, const vr_exclusion **exclusion) {
  const vr_freeze *f;
  const vr_exclusion *e;
  vr_window ignored;
  if (w == NULL) w = &ignored;
  w->start = w->end = 0;
  if (freeze != NULL) *freeze = NULL;
  if (exclusion != NULL) *exclusion = NULL;
  if (vr_schedule_blocked(s, t, &f, &e)) {
    if (freeze != NULL) *freeze = f;
    if (exclusion != NULL) *exclusion = e;
    return f != NULL ? VR_SKIP_FROZEN : VR_SKIP_EXCLUDED;
  }
  if (rb->window && !vr_schedule_window_at(s, t, w)) return VR_SKIP_OUTSIDE_WINDOW;
  return VR_SKIP_NONE;
}

int vr_schedule_next_run(const vr_schedule *s, const vr_runbook *rb, int64_t after,
                         vr_schedule_run *run) {
  int64_t c = vr_cron_next(&rb->cron, s->tz, after), limit = after + VR_SCHEDULE_SEARCH_S;
  memset(run, 0, sizeof *run);
  run->runbook = rb;
  run->cron_time = c;
  run->start = VR_NEVER;
  while (c != VR_NEVER && c <= limit) {
    const vr_freeze *f;
    const vr_exclusion *e;
    vr_window w;
    vr_skip why = vr_schedule_may_start(s, rb, c, &w, &f, &e);
    if (why == VR_SKIP_NONE) {
      run->start = c;
      run->window = w;
      return 1;
    }
    if (run->skipped == VR_SKIP_NONE) run->skipped = why;
    run->skipped_all |= 1u << why;
    if (run->freeze == NULL) run->freeze = f;
    if (run->exclusion == NULL) run->exclusion = e;
    /* jump over what stands in the way instead of trying each cron time */
    if (why == VR_SKIP_OUTSIDE_WINDOW) {
      vr_window next;
      if (!vr_schedule_next_window(s, c, &next)) return 0;
      c = vr_cron_next(&rb->cron, s->tz, next.start - 1);
    } else {
      c = vr_cron_next(&rb->cron, s->tz, unblocked_from(s, c) - 1);
    }
  }
  return 0;
}

size_t vr_schedule_next_runs(const vr_schedule *s, int64_t now, size_t n, vr_schedule_run *out) {
  vr_schedule_run *next;
  int *has;
  size_t i, k;
  if (n == 0 || s->nrunbooks == 0) return 0;
  next = calloc(s->nrunbooks, sizeof *next);
  has = calloc(s->nrunbooks, sizeof *has);
  if (next == NULL || has == NULL) {
    free(next);
    free(has);
    return (size_t)-1;
  }
  for (i = 0; i < s->nrunbooks; i++)
    has[i] = vr_schedule_next_run(s, &s->runbooks[i], now, &next[i]);
  for (k = 0; k < n; k++) {
    size_t best = s->nrunbooks;
    for (i = 0; i < s->nrunbooks; i++)
      if (has[i] && (best == s->nrunbooks || next[i].start < next[best].start)) best = i;
    if (best == s->nrunbooks) break;
    out[k] = next[best];
    has[best] = vr_schedule_next_run(s, &s->runbooks[best], next[best].start, &next[best]);
  }
  free(next);
  free(has);
  return k;
}

int vr_schedule_check_runs(const vr_schedule *s, int64_t now, vr_schedule_error *err) {
  size_t i;
  memset(err, 0, sizeof *err);
  for (i = 0; i < s->nrunbooks; i++) {
    const vr_runbook *rb = &s->runbooks[i];
    vr_schedule_run run;
    if (vr_schedule_next_run(s, rb, now, &run)) continue;
    return set_error(err, s->file, rb->cron_line, rb->cron_column,
                     "runbook '%s' never runs: none of its cron times ('%s') in the next 50 years "
                     "%s",
                     rb->name, rb->cron_text,
                     rb->window ? "falls inside a window that is not frozen or excluded"
                                : "is outside the freezes and excluded dates");
  }
  return 0;
}

/* ---- the schedule file: YAML nodes ----------------------------------------------------------- */

typedef struct sreader {
  yaml_document_t doc;
  const char *file;
  char *dir; /* the schedule file's absolute folder */
  vr_schedule_error *err;
  vr_schedule *s;
} sreader;

static yaml_node_t *nd(sreader *r, int index) {
  return yaml_document_get_node(&r->doc, index);
}

static int ln(const yaml_node_t *n) {
  return (int)n->start_mark.line + 1;
}

static int col(const yaml_node_t *n) {
  return (int)n->start_mark.column + 1;
}

static int fail(sreader *r, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(sreader *r, const yaml_node_t *n, const char *fmt, ...) {
  va_list ap;
  char msg[512];
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return set_error(r->err, r->file, n != NULL ? ln(n) : 0, n != NULL ? col(n) : 0, "%s", msg);
}

static int oom(sreader *r) {
  return set_error(r->err, r->file, 0, 0, "out of memory");
}

static int is_null(const yaml_node_t *n) {
  static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
  size_t i;
  if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
  for (i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
    if (strcmp((const char *)n->data.scalar.value, nulls[i]) == 0) return 1;
  return 0;
}

static const char *describe(const yaml_node_t *n) {
  if (n->type == YAML_MAPPING_NODE) return "a mapping";
  if (n->type == YAML_SEQUENCE_NODE) return "a list";
  return is_null(n) ? "nothing" : "a string";
}

static const char *text_of(const yaml_node_t *n) {
  return (const char *)n->data.scalar.value;
}

/* The column of byte `offset` of a scalar's value, where the text shows it as is (a plain or
 * quoted scalar on one line without escapes); else the scalar's own column. */
static int column_in(const yaml_node_t *n, size_t offset) {
  size_t len = n->data.scalar.length, width = n->end_mark.column - n->start_mark.column;
  int quoted = n->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
               n->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
  if (n->start_mark.line != n->end_mark.line) return col(n);
  if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && width == len) return col(n) + (int)offset;
  if (quoted && width == len + 2) return col(n) + 1 + (int)offset;
  return col(n);
}

/* The values of the keys of mapping map, each NULL when absent. Keys not in the list, keys that
 * are not strings and keys given twice are errors; so is a key without a value. */
static int read_fields(sreader *r, yaml_node_t *map, const char *what, const char *const *keys,
                       size_t n, yaml_node_t **vals) {
  yaml_node_pair_t *p;
  size_t i;
  for (i = 0; i < n; i++) vals[i] = NULL;
  if (map->type != YAML_MAPPING_NODE)
    return fail(r, map, "%s must be a mapping, not %s", what, describe(map));
  for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
    yaml_node_t *k = nd(r, p->key), *v = nd(r, p->value);
    const char *key;
    int best = -1, best_distance = 3;
    if (k->type != YAML_SCALAR_NODE)
      return fail(r, k, "%s: a key must be a string, not %s", what, describe(k));
    key = text_of(k);
    for (i = 0; i < n; i++)
      if (strcmp(key, keys[i]) == 0) break;
    if (i == n) {
      char expected[256];
      size_t o = 0, j;
      for (j = 0; j < n; j++) {
        int d = vr_edit_distance(key, keys[j], 1);
        if (d < best_distance) best_distance = d, best = (int)j;
        o +=
            (size_t)snprintf(expected + o, sizeof expected - o, "%s%s", j > 0 ? ", " : "", keys[j]);
        if (o >= sizeof expected) break;
      }
      if (strcmp(key, "<<") == 0)
        return fail(r, k, "%s: merge keys (<<) are not supported in a schedule file", what);
      if (best >= 0)
        return fail(r, k, "%s: unknown key '%s' (did you mean '%s'?)", what, key, keys[best]);
      return fail(r, k, "%s: unknown key '%s' (expected one of: %s)", what, key, expected);
    }
    if (vals[i] != NULL) return fail(r, k, "%s: key '%s' is given twice", what, key);
    if (is_null(v)) return fail(r, k, "%s: key '%s' has no value", what, key);
    vals[i] = v;
  }
  return 0;
}

/* A scalar's text; NULL when absent. */
static int get_text(sreader *r, yaml_node_t *v, const char *what, const char **out) {
  *out = NULL;
  if (v == NULL) return 0;
  if (v->type != YAML_SCALAR_NODE)
    return fail(r, v, "%s must be a string, not %s", what, describe(v));
  if (strlen(text_of(v)) != v->data.scalar.length)
    return fail(r, v, "%s holds a NUL character", what);
  if (v->data.scalar.length == 0) return fail(r, v, "%s is empty", what);
  *out = text_of(v);
  return 0;
}

static int get_bool(sreader *r, yaml_node_t *v, const char *what, int *out) {
  const char *t;
  if (v == NULL) return 0;
  if (v->type != YAML_SCALAR_NODE || v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
    return fail(r, v, "%s must be true or false, not %s", what, describe(v));
  t = text_of(v);
  if (strcmp(t, "true") == 0 || strcmp(t, "True") == 0 || strcmp(t, "TRUE") == 0)
    *out = 1;
  else if (strcmp(t, "false") == 0 || strcmp(t, "False") == 0 || strcmp(t, "FALSE") == 0)
    *out = 0;
  else
    return fail(r, v, "%s must be true or false, not '%s'", what, t);
  return 0;
}

static int get_list(sreader *r, yaml_node_t *v, const char *what, size_t *count) {
  if (v->type != YAML_SEQUENCE_NODE)
    return fail(r, v, "%s must be a list, not %s", what, describe(v));
  *count = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
  return 0;
}

static yaml_node_t *item(sreader *r, yaml_node_t *list, size_t i) {
  return nd(r, list->data.sequence.items.start[i]);
}

static char *dup_s(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d != NULL) memcpy(d, s, n);
  return d;
}

static char *join(const char *dir, const char *rel) {
  size_t a = strlen(dir), b = strlen(rel);
  char *out = malloc(a + b + 2);
  if (out == NULL) return NULL;
  memcpy(out, dir, a);
  out[a] = '/';
  memcpy(out + a + 1, rel, b + 1);
  return out;
}

/* A path from the file: ~ and ~/x are under $HOME, relative paths under the file's folder. */
static int resolve_path(sreader *r, yaml_node_t *v, const char *what, const char *path,
                        char **out) {
  if (path[0] == '~') {
    const char *home = getenv("HOME");
    if (path[1] != '\0' && path[1] != '/')
      return fail(r, v, "%s: '%s': only ~ and ~/... are supported, not ~user", what, path);
    if (home == NULL || home[0] != '/')
      return fail(r, v, "%s: '%s' starts with ~ but $HOME is not an absolute folder", what, path);
    *out = path[1] == '\0' ? dup_s(home) : join(home, path + 2);
  } else if (path[0] == '/') {
    *out = dup_s(path);
  } else {
    *out = join(r->dir, path);
  }
  return *out == NULL ? oom(r) : 0;
}

/* ---- the schedule file: values --------------------------------------------------------------- */

static const char *const month_full[] = {"January",   "February", "March",    "April",
                                         "May",       "June",     "July",     "August",
                                         "September", "October",  "November", "December"};

/* "YYYY-MM-DD" -> days since 1970-01-01. */
static int parse_date(sreader *r, yaml_node_t *v, const char *what, int64_t *day) {
  const char *t;
  int y, m, d, i;
  if (get_text(r, v, what, &t) < 0) return -1;
  for (i = 0; i < 10; i++)
    if (i == 4 || i == 7 ? t[i] != '-' : !isdigit((unsigned char)t[i])) break;
  if (i < 10 || t[10] != '\0')
    return fail(r, v, "%s: '%s' is not a date: expected YYYY-MM-DD, e.g. 2026-12-24", what, t);
  y = atoi(t);
  m = (t[5] - '0') * 10 + (t[6] - '0');
  d = (t[8] - '0') * 10 + (t[9] - '0');
  if (y < 1970) return fail(r, v, "%s: %s is before 1970", what, t);
  if (m < 1 || m > 12) return fail(r, v, "%s: %s has no month %d", what, t, m);
  if (d < 1 || d > vr_days_in_month(y, m))
    return fail(r, v, "%s: %s is not a date: %s %d has %d days", what, t, month_full[m - 1], y,
                vr_days_in_month(y, m));
  *day = vr_days_from_civil(y, m, d);
  return 0;
}

static void format_date(int64_t day, char *buf, size_t len) {
  int64_t y;
  int m, d;
  vr_civil_from_days(day, &y, &m, &d);
  snprintf(buf, len, "%04lld-%02d-%02d", (long long)y, m, d);
}

/* "HH:MM" (or "H:MM") -> minutes after midnight. */
static int parse_clock(sreader *r, yaml_node_t *v, const char *what, int *minutes) {
  const char *t, *p;
  int h = 0, m;
  if (get_text(r, v, what, &t) < 0) return -1;
  for (p = t; isdigit((unsigned char)*p) && p - t < 2; p++) h = h * 10 + (*p - '0');
  if (p == t || *p != ':' || !isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]) ||
      p[3] != '\0')
    return fail(r, v, "%s: '%s' is not a time of day: expected HH:MM, e.g. \"22:00\"", what, t);
  m = (p[1] - '0') * 10 + (p[2] - '0');
  if (h > 23 || m > 59)
    return fail(r, v, "%s: '%s' is not a time of day (00:00 to 23:59)", what, t);
  *minutes = h * 60 + m;
  return 0;
}

static int parse_window_duration(sreader *r, yaml_node_t *v, const char *what, int64_t *secs) {
  const char *t;
  double d;
  size_t n;
  if (get_text(r, v, what, &t) < 0) return -1;
  n = strlen(t);
  if (vr_parse_duration(t, &d) != 0)
    return fail(r, v, "%s: '%s' is not a duration: expected e.g. 6h, 90m, 1h30m, 2d", what, t);
  if (isdigit((unsigned char)t[n - 1]))
    return fail(r, v, "%s: '%s' needs a unit: e.g. 6h, 90m, 1h30m", what, t);
  if (d <= 0) return fail(r, v, "%s: %s makes an empty window", what, t);
  if (d > VR_WINDOW_MAX_DURATION)
    return fail(r, v, "%s: %s is longer than a week (7d at most)", what, t);
  if (d != (double)((int64_t)(d / 60) * 60))
    return fail(r, v, "%s: %s is not a whole number of minutes", what, t);
  *secs = (int64_t)d;
  return 0;
}

static int parse_day(sreader *r, yaml_node_t *v, const char *what, int *wday) {
  static const char *const full[] = {"sunday",   "monday", "tuesday", "wednesday",
                                     "thursday", "friday", "saturday"};
  const char *t;
  int i;
  if (get_text(r, v, what, &t) < 0) return -1;
  for (i = 0; i < 7; i++)
    if (strcasecmp(t, day_abbr[i]) == 0 || strcasecmp(t, full[i]) == 0) {
      *wday = i;
      return 0;
    }
  return fail(r, v, "%s: unknown day '%s' (expected Mon, Tue, Wed, Thu, Fri, Sat or Sun)", what, t);
}

/* ---- the schedule file: sections ------------------------------------------------------------- */

static const char *const weekly_keys[] = {"days", "start", "duration"};
enum { WK_DAYS, WK_START, WK_DURATION, WK_N };

static int read_weekly_window(sreader *r, yaml_node_t *v, size_t index, vr_weekly_window *w) {
  yaml_node_t *f[WK_N];
  char what[96], sub[128];
  size_t i, ndays = 1;
  snprintf(what, sizeof what, "windows.weekly[%zu]", index + 1);
  if (read_fields(r, v, what, weekly_keys, WK_N, f) < 0) return -1;
  w->line = ln(v);
  w->column = col(v);
  for (i = 0; i < WK_N; i++)
    if (f[i] == NULL) return fail(r, v, "%s: key '%s' is missing", what, weekly_keys[i]);
  snprintf(sub, sizeof sub, "%s.days", what);
  if (f[WK_DAYS]->type == YAML_SEQUENCE_NODE) {
    if (get_list(r, f[WK_DAYS], sub, &ndays) < 0) return -1;
    if (ndays == 0) return fail(r, f[WK_DAYS], "%s is empty: the window never opens", sub);
  }
  for (i = 0; i < ndays; i++) {
    yaml_node_t *d = f[WK_DAYS]->type == YAML_SEQUENCE_NODE ? item(r, f[WK_DAYS], i) : f[WK_DAYS];
    int wd = 0;
    if (parse_day(r, d, sub, &wd) < 0) return -1;
    if (w->days >> wd & 1) return fail(r, d, "%s: %s is listed twice", sub, day_abbr[wd]);
    w->days |= (uint8_t)(1u << wd);
  }
  snprintf(sub, sizeof sub, "%s.start", what);
  if (parse_clock(r, f[WK_START], sub, &w->start) < 0) return -1;
  snprintf(sub, sizeof sub, "%s.duration", what);
  return parse_window_duration(r, f[WK_DURATION], sub, &w->duration);
}

/* Two occurrences overlap on the nominal week (minutes after Sunday 00:00, wrapping). */
static int week_overlap(int a, int la, int b, int lb) {
  return (b - a + WEEK_MINUTES) % WEEK_MINUTES < la || (a - b + WEEK_MINUTES) % WEEK_MINUTES < lb;
}

static int check_overlaps(sreader *r, yaml_node_t *list) {
  vr_schedule *s = r->s;
  size_t i, j;
  int di, dj;
  for (j = 0; j < s->nweekly; j++)
    for (i = 0; i <= j; i++)
      for (dj = 0; dj < 7; dj++)
        for (di = 0; di < (i == j ? dj : 7); di++) {
          const vr_weekly_window *a = &s->weekly[i], *b = &s->weekly[j];
          int sa = di * 1440 + a->start, sb = dj * 1440 + b->start;
          char da[32], db[32];
          if (!(a->days >> di & 1) || !(b->days >> dj & 1)) continue;
          if (!week_overlap(sa, (int)(a->duration / 60), sb, (int)(b->duration / 60))) continue;
          format_duration(a->duration, da, sizeof da);
          format_duration(b->duration, db, sizeof db);
          if (i == j) {
            /* name first the day whose window reaches into the other's */
            int first = week_overlap(sa, (int)(a->duration / 60), sb, 0) ? di : dj;
            return fail(r, item(r, list, j),
                        "windows.weekly[%zu]: its %s %02d:%02d window (%s) reaches into its %s "
                        "%02d:%02d window: shorten the duration or list fewer days",
                        j + 1, day_abbr[first], a->start / 60, a->start % 60, da,
                        day_abbr[first == di ? dj : di], b->start / 60, b->start % 60);
          }
          return fail(r, item(r, list, j),
                      "windows.weekly[%zu]: %s %02d:%02d for %s overlaps windows.weekly[%zu] "
                      "(line %d: %s %02d:%02d for %s)",
                      j + 1, day_abbr[dj], b->start / 60, b->start % 60, db, i + 1, a->line,
                      day_abbr[di], a->start / 60, a->start % 60, da);
        }
  return 0;
}

static const char *const freeze_keys[] = {"from", "to", "reason"};
enum { FZ_FROM, FZ_TO, FZ_REASON, FZ_N };

static int read_freeze(sreader *r, yaml_node_t *v, size_t index, vr_freeze *fz) {
  yaml_node_t *f[FZ_N];
  char what[96], sub[128], a[16], b[16];
  const char *reason;
  snprintf(what, sizeof what, "windows.freeze[%zu]", index + 1);
  if (read_fields(r, v, what, freeze_keys, FZ_N, f) < 0) return -1;
  fz->line = ln(v);
  fz->column = col(v);
  if (f[FZ_FROM] == NULL) return fail(r, v, "%s: key 'from' is missing", what);
  if (f[FZ_TO] == NULL) return fail(r, v, "%s: key 'to' is missing", what);
  snprintf(sub, sizeof sub, "%s.from", what);
  if (parse_date(r, f[FZ_FROM], sub, &fz->from) < 0) return -1;
  snprintf(sub, sizeof sub, "%s.to", what);
  if (parse_date(r, f[FZ_TO], sub, &fz->to) < 0) return -1;
  if (fz->to < fz->from) {
    format_date(fz->from, a, sizeof a);
    format_date(fz->to, b, sizeof b);
    return fail(r, f[FZ_TO], "%s: the freeze ends (%s) before it starts (%s)", what, b, a);
  }
  snprintf(sub, sizeof sub, "%s.reason", what);
  if (get_text(r, f[FZ_REASON], sub, &reason) < 0) return -1;
  if (reason != NULL && (fz->reason = dup_s(reason)) == NULL) return oom(r);
  return 0;
}

static const char *const windows_keys[] = {"weekly", "exclude", "freeze"};
enum { WN_WEEKLY, WN_EXCLUDE, WN_FREEZE, WN_N };

static int read_windows(sreader *r, yaml_node_t *v) {
  vr_schedule *s = r->s;
  yaml_node_t *f[WN_N];
  size_t i, n = 0;
  if (read_fields(r, v, "windows", windows_keys, WN_N, f) < 0) return -1;
  if (f[WN_WEEKLY] != NULL) {
    if (get_list(r, f[WN_WEEKLY], "windows.weekly", &n) < 0) return -1;
    if (n == 0)
      return fail(r, f[WN_WEEKLY], "windows.weekly is empty: list a window or remove the key");
    if ((s->weekly = calloc(n, sizeof *s->weekly)) == NULL) return oom(r);
    for (i = 0; i < n; i++, s->nweekly++)
      if (read_weekly_window(r, item(r, f[WN_WEEKLY], i), i, &s->weekly[i]) < 0) return -1;
    if (check_overlaps(r, f[WN_WEEKLY]) < 0) return -1;
  }
  if (f[WN_EXCLUDE] != NULL) {
    if (get_list(r, f[WN_EXCLUDE], "windows.exclude", &n) < 0) return -1;
    if (n > 0 && (s->excluded = calloc(n, sizeof *s->excluded)) == NULL) return oom(r);
    for (i = 0; i < n; i++, s->nexcluded++) {
      yaml_node_t *d = item(r, f[WN_EXCLUDE], i);
      char what[64];
      snprintf(what, sizeof what, "windows.exclude[%zu]", i + 1);
      if (parse_date(r, d, what, &s->excluded[i].day) < 0) return -1;
      s->excluded[i].line = ln(d);
      s->excluded[i].column = col(d);
    }
  }
  if (f[WN_FREEZE] != NULL) {
    if (get_list(r, f[WN_FREEZE], "windows.freeze", &n) < 0) return -1;
    if (n > 0 && (s->freezes = calloc(n, sizeof *s->freezes)) == NULL) return oom(r);
    s->nfreezes = n; /* all zeroed: vr_schedule_free frees what a failed read left */
    for (i = 0; i < n; i++)
      if (read_freeze(r, item(r, f[WN_FREEZE], i), i, &s->freezes[i]) < 0) return -1;
  }
  return 0;
}

static const char *const cluster_keys[] = {"kubeconfig", "context", "namespace", "file",
                                           "in_cluster"};
enum { CL_KUBECONFIG, CL_CONTEXT, CL_NAMESPACE, CL_FILE, CL_IN_CLUSTER, CL_N };

static int read_cluster(sreader *r, yaml_node_t *v) {
  vr_schedule_cluster *c = &r->s->cluster;
  yaml_node_t *f[CL_N];
  const char *kubeconfig, *context, *ns, *file;
  if (read_fields(r, v, "cluster", cluster_keys, CL_N, f) < 0 ||
      get_text(r, f[CL_KUBECONFIG], "cluster.kubeconfig", &kubeconfig) < 0 ||
      get_text(r, f[CL_CONTEXT], "cluster.context", &context) < 0 ||
      get_text(r, f[CL_NAMESPACE], "cluster.namespace", &ns) < 0 ||
      get_text(r, f[CL_FILE], "cluster.file", &file) < 0 ||
      get_bool(r, f[CL_IN_CLUSTER], "cluster.in_cluster", &c->in_cluster) < 0)
    return -1;
  c->line = ln(v);
  c->column = col(v);
  if (file != NULL && (kubeconfig != NULL || context != NULL || ns != NULL || c->in_cluster))
    return fail(r, f[CL_FILE],
                "cluster: file (a simulated cluster) cannot go with kubeconfig, context, "
                "namespace or in_cluster (a real one)");
  if (c->in_cluster && (kubeconfig != NULL || context != NULL))
    return fail(r, f[CL_IN_CLUSTER],
                "cluster: in_cluster (the pod's service account) cannot go with a kubeconfig "
                "or context");
  if (file == NULL && kubeconfig == NULL && context == NULL && !c->in_cluster)
    return fail(r, v,
                "cluster names no cluster: give kubeconfig and/or context, in_cluster: true, "
                "or file (a simulated cluster)");
  if (kubeconfig != NULL) {
    if ((c->kubeconfig = dup_s(kubeconfig)) == NULL) return oom(r);
    if (resolve_path(r, f[CL_KUBECONFIG], "cluster.kubeconfig", kubeconfig, &c->kubeconfig_path) <
        0)
      return -1;
  }
  if (file != NULL) {
    if ((c->file = dup_s(file)) == NULL) return oom(r);
    if (resolve_path(r, f[CL_FILE], "cluster.file", file, &c->file_path) < 0) return -1;
  }
  if (context != NULL && (c->context = dup_s(context)) == NULL) return oom(r);
  if (ns != NULL && (c->namespace_ = dup_s(ns)) == NULL) return oom(r);
  return 0;
}

static int valid_runbook_name(const char *n) {
  size_t i, len = strlen(n);
  if (len == 0 || len > 63 || !isalnum((unsigned char)n[0])) return 0;
  for (i = 0; i < len; i++)
    if (!isalnum((unsigned char)n[i]) && n[i] != '.' && n[i] != '_' && n[i] != '-') return 0;
  return 1;
}

static const char *const runbook_keys[] = {"name", "playbook", "cron", "args", "window"};
enum { RB_NAME, RB_PLAYBOOK, RB_CRON, RB_ARGS, RB_WINDOW, RB_N };

static int read_runbook(sreader *r, yaml_node_t *v, size_t index, vr_runbook *rb) {
  vr_schedule *s = r->s;
  yaml_node_t *f[RB_N];
  char what[128], sub[160];
  const char *name, *playbook, *cron;
  vr_schedule_error cerr;
  size_t i;
  snprintf(what, sizeof what, "runbooks[%zu]", index + 1);
  if (read_fields(r, v, what, runbook_keys, RB_N, f) < 0) return -1;
  rb->line = ln(v);
  rb->column = col(v);
  if (f[RB_NAME] == NULL) return fail(r, v, "%s: key 'name' is missing", what);
  if (get_text(r, f[RB_NAME], "runbook name", &name) < 0) return -1;
  if (!valid_runbook_name(name))
    return fail(r, f[RB_NAME],
                "runbook name '%s': use letters, digits, '.', '_' and '-' (at most 63, starting "
                "with a letter or digit)",
                name);
  for (i = 0; i < index; i++)
    if (strcmp(s->runbooks[i].name, name) == 0)
      return fail(r, f[RB_NAME], "runbook name '%s' is already used at line %d", name,
                  s->runbooks[i].line);
  if ((rb->name = dup_s(name)) == NULL) return oom(r);
  snprintf(what, sizeof what, "runbook '%s'", name);
  if (f[RB_PLAYBOOK] == NULL) return fail(r, v, "%s: key 'playbook' is missing", what);
  if (f[RB_CRON] == NULL) return fail(r, v, "%s: key 'cron' is missing", what);
  snprintf(sub, sizeof sub, "%s: playbook", what);
  if (get_text(r, f[RB_PLAYBOOK], sub, &playbook) < 0) return -1;
  if ((rb->playbook = dup_s(playbook)) == NULL) return oom(r);
  if (resolve_path(r, f[RB_PLAYBOOK], sub, playbook, &rb->playbook_path) < 0) return -1;
  snprintf(sub, sizeof sub, "%s: cron", what);
  if (get_text(r, f[RB_CRON], sub, &cron) < 0) return -1;
  if ((rb->cron_text = dup_s(cron)) == NULL) return oom(r);
  rb->cron_line = ln(f[RB_CRON]);
  rb->cron_column = col(f[RB_CRON]);
  if (vr_cron_parse(cron, &rb->cron, &cerr) < 0)
    return set_error(r->err, r->file, ln(f[RB_CRON]),
                     column_in(f[RB_CRON], (size_t)(cerr.column > 0 ? cerr.column - 1 : 0)),
                     "%s: cron '%s': %s", what, cron, cerr.message);
  if (f[RB_ARGS] != NULL) {
    snprintf(sub, sizeof sub, "%s: args", what);
    if (get_list(r, f[RB_ARGS], sub, &rb->nargs) < 0) return -1;
  }
  if ((rb->args = calloc(rb->nargs + 1, sizeof *rb->args)) == NULL) return oom(r);
  for (i = 0; i < rb->nargs; i++) {
    yaml_node_t *a = item(r, f[RB_ARGS], i);
    if (a->type != YAML_SCALAR_NODE || is_null(a))
      return fail(r, a, "%s: args[%zu] must be a string, not %s", what, i + 1, describe(a));
    if (strlen(text_of(a)) != a->data.scalar.length)
      return fail(r, a, "%s: args[%zu] holds a NUL character", what, i + 1);
    if ((rb->args[i] = dup_s(text_of(a))) == NULL) return oom(r);
  }
  rb->window = s->nweekly > 0;
  snprintf(sub, sizeof sub, "%s: window", what);
  if (get_bool(r, f[RB_WINDOW], sub, &rb->window) < 0) return -1;
  if (rb->window && s->nweekly == 0)
    return fail(r, f[RB_WINDOW],
                "%s: window: true, but the schedule has no weekly windows (windows.weekly)", what);
  return 0;
}

/* The excluded dates and freezes as instants, sorted by start. */
static int build_blocked(sreader *r) {
  vr_schedule *s = r->s;
  size_t n = s->nexcluded + s->nfreezes, i, k = 0;
  if (n == 0) return 0;
  if ((s->blocked_ = calloc(n, sizeof *s->blocked_)) == NULL) return oom(r);
  for (i = 0; i < s->nfreezes; i++, k++) {
    s->blocked_[k].start = vr_tz_utc(s->tz, s->freezes[i].from * 86400);
    s->blocked_[k].end = vr_tz_utc(s->tz, (s->freezes[i].to + 1) * 86400);
    s->blocked_[k].freeze = &s->freezes[i];
  }
  for (i = 0; i < s->nexcluded; i++, k++) {
    s->blocked_[k].start = vr_tz_utc(s->tz, s->excluded[i].day * 86400);
    s->blocked_[k].end = vr_tz_utc(s->tz, (s->excluded[i].day + 1) * 86400);
    s->blocked_[k].exclusion = &s->excluded[i];
  }
  s->nblocked_ = n;
  /* insertion sort: the lists are short and this keeps freezes before exclusions on a tie */
  for (i = 1; i < n; i++) {
    struct vr_blocked b = s->blocked_[i];
    size_t j = i;
    while (j > 0 && s->blocked_[j - 1].start > b.start) {
      s->blocked_[j] = s->blocked_[j - 1];
      j--;
    }
    s->blocked_[j] = b;
  }
  return 0;
}

/* Sorts the weekly windows by time of day (vr_schedule_next_window relies on it). */
static void sort_weekly(vr_schedule *s) {
  size_t i;
  for (i = 1; i < s->nweekly; i++) {
    vr_weekly_window w = s->weekly[i];
    size_t j = i;
    while (j > 0 && s->weekly[j - 1].start > w.start) {
      s->weekly[j] = s->weekly[j - 1];
      j--;
    }
    s->weekly[j] = w;
  }
  for (i = 0; i < s->nweekly; i++)
    if (s->weekly[i].duration > s->max_duration_) s->max_duration_ = s->weekly[i].duration;
}

static const char *const top_keys[] = {"timezone", "cluster", "windows", "runbooks", "history"};
enum { TOP_TIMEZONE, TOP_CLUSTER, TOP_WINDOWS, TOP_RUNBOOKS, TOP_HISTORY, TOP_N };

static int read_schedule(sreader *r, yaml_node_t *root) {
  vr_schedule *s = r->s;
  yaml_node_t *f[TOP_N];
  const char *tzname, *history;
  char msg[400];
  size_t i, n = 0;
  if (root->type != YAML_MAPPING_NODE)
    return fail(r, root,
                "a schedule must be a mapping (timezone, cluster, windows, runbooks, "
                "history), not %s",
                describe(root));
  if (read_fields(r, root, "schedule", top_keys, TOP_N, f) < 0) return -1;
  if (get_text(r, f[TOP_TIMEZONE], "timezone", &tzname) < 0) return -1;
  if ((s->timezone = dup_s(tzname != NULL ? tzname : "UTC")) == NULL) return oom(r);
  if ((s->tz = vr_tz_load(s->timezone, msg, sizeof msg)) == NULL)
    return fail(r, f[TOP_TIMEZONE], "timezone: %s", msg);
  if (f[TOP_CLUSTER] == NULL)
    return fail(r, root,
                "the schedule names no cluster: add cluster: {kubeconfig: FILE, "
                "context: NAME} (or file: for a simulated cluster)");
  if (read_cluster(r, f[TOP_CLUSTER]) < 0) return -1;
  if (f[TOP_WINDOWS] != NULL && read_windows(r, f[TOP_WINDOWS]) < 0) return -1;
  if (f[TOP_RUNBOOKS] == NULL) return fail(r, root, "the schedule has no runbooks: add runbooks:");
  if (get_list(r, f[TOP_RUNBOOKS], "runbooks", &n) < 0) return -1;
  if (n == 0) return fail(r, f[TOP_RUNBOOKS], "runbooks is empty: the schedule runs nothing");
  if ((s->runbooks = calloc(n, sizeof *s->runbooks)) == NULL) return oom(r);
  s->nrunbooks = n; /* all zeroed: vr_schedule_free frees what a failed read left */
  for (i = 0; i < n; i++)
    if (read_runbook(r, item(r, f[TOP_RUNBOOKS], i), i, &s->runbooks[i]) < 0) return -1;
  if (get_text(r, f[TOP_HISTORY], "history", &history) < 0) return -1;
  if (history != NULL && (s->history = dup_s(history)) == NULL) return oom(r);
  if (resolve_path(r, f[TOP_HISTORY] != NULL ? f[TOP_HISTORY] : root, "history",
                   history != NULL ? history : ".vmrun/schedule-history.jsonl",
                   &s->history_path) < 0)
    return -1;
  sort_weekly(s);
  return build_blocked(r);
}

/* The absolute folder of path. */
static char *folder_of(const char *path) {
  const char *slash = strrchr(path, '/');
  char *dir, *cwd, *out;
  size_t cap = 4096;
  if (slash == path) return dup_s("/");
  if (slash != NULL) {
    size_t n = (size_t)(slash - path);
    if ((dir = malloc(n + 1)) == NULL) return NULL;
    memcpy(dir, path, n);
    dir[n] = '\0';
    if (path[0] == '/') return dir;
  } else {
    dir = NULL;
  }
  if ((cwd = malloc(cap)) == NULL || getcwd(cwd, cap) == NULL) {
    free(cwd);
    free(dir);
    return NULL;
  }
  out = dir != NULL ? join(cwd, dir) : dup_s(cwd);
  free(cwd);
  free(dir);
  return out;
}

vr_schedule *vr_schedule_parse(const char *text, size_t len, const char *path,
                               vr_schedule_error *err) {
  sreader r;
  yaml_parser_t parser;
  yaml_document_t second;
  yaml_node_t *root;
  int rc = -1;
  memset(&r, 0, sizeof r);
  r.file = path;
  r.err = err;
  memset(err, 0, sizeof *err);
  if ((r.s = calloc(1, sizeof *r.s)) == NULL || (r.s->file = dup_s(path)) == NULL ||
      (r.dir = folder_of(path)) == NULL) {
    set_error(err, path, 0, 0,
              r.s == NULL || r.s->file == NULL ? "out of memory"
                                               : "cannot find the current folder");
    vr_schedule_free(r.s);
    free(r.dir);
    return NULL;
  }
  if (!yaml_parser_initialize(&parser)) {
    oom(&r);
    vr_schedule_free(r.s);
    free(r.dir);
    return NULL;
  }
  yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
  if (!yaml_parser_load(&parser, &r.doc)) {
    if (parser.error == YAML_MEMORY_ERROR)
      oom(&r);
    else
      set_error(err, path, (int)parser.problem_mark.line + 1, (int)parser.problem_mark.column + 1,
                "malformed YAML: %s%s%s%s", parser.problem != NULL ? parser.problem : "error",
                parser.context != NULL ? " " : "", parser.context != NULL ? parser.context : "",
                parser.context != NULL && strstr(parser.context, "alias") != NULL
                    ? " (a value that starts with '*' must be quoted: cron: \"*/15 * * * *\")"
                    : "");
    yaml_parser_delete(&parser);
    vr_schedule_free(r.s);
    free(r.dir);
    return NULL;
  }
  root = yaml_document_get_root_node(&r.doc);
  if (root == NULL || is_null(root)) {
    set_error(err, path, root != NULL ? ln(root) : 0, 0, "the schedule file is empty");
  } else if (!yaml_parser_load(&parser, &second)) {
    set_error(err, path, (int)parser.problem_mark.line + 1, (int)parser.problem_mark.column + 1,
              "malformed YAML: %s", parser.problem != NULL ? parser.problem : "error");
  } else {
    yaml_node_t *root2 = yaml_document_get_root_node(&second);
    if (root2 != NULL)
      set_error(err, path, ln(root2), col(root2),
                "a schedule file holds one YAML document; a second one starts here");
    else
      rc = read_schedule(&r, root);
    yaml_document_delete(&second);
  }
  yaml_parser_delete(&parser);
  yaml_document_delete(&r.doc);
  free(r.dir);
  if (rc < 0) {
    vr_schedule_free(r.s);
    return NULL;
  }
  return r.s;
}

vr_schedule *vr_schedule_load(const char *path, vr_schedule_error *err) {
  struct stat st;
  char msg[600], *text;
  size_t len;
  vr_schedule *s;
  memset(err, 0, sizeof *err);
  if (stat(path, &st) != 0) {
    set_error(err, path, 0, 0, "cannot read the schedule: %s", strerror(errno));
    return NULL;
  }
  if (!S_ISREG(st.st_mode) || st.st_size > (off_t)SCHED_MAX_FILE) {
    set_error(err, path, 0, 0, "cannot read the schedule: %s",
              S_ISDIR(st.st_mode) ? "it is a folder" : "not a regular file of at most 4 MiB");
    return NULL;
  }
  if ((text = vr_read_file(path, &len, msg, sizeof msg)) == NULL) {
    set_error(err, NULL, 0, 0, "%s", msg);
    return NULL;
  }
  s = vr_schedule_parse(text, len, path, err);
  free(text);
  return s;
}

void vr_schedule_free(vr_schedule *s) {
  size_t i, j;
  if (s == NULL) return;
  free(s->file);
  free(s->timezone);
  vr_tz_free(s->tz);
  free(s->cluster.kubeconfig);
  free(s->cluster.kubeconfig_path);
  free(s->cluster.context);
  free(s->cluster.namespace_);
  free(s->cluster.file);
  free(s->cluster.file_path);
  free(s->weekly);
  free(s->excluded);
  for (i = 0; i < s->nfreezes; i++) free(s->freezes[i].reason);
  free(s->freezes);
  for (i = 0; i < s->nrunbooks; i++) {
    vr_runbook *rb = &s->runbooks[i];
    free(rb->name);
    free(rb->playbook);
    free(rb->playbook_path);
    free(rb->cron_text);
    if (rb->args != NULL)
      for (j = 0; j < rb->nargs; j++) free(rb->args[j]);
    free(rb->args);
  }
  free(s->runbooks);
  free(s->history);
  free(s->history_path);
  free(s->blocked_);
  free(s);
}

/* ---- times ------------------------------------------------------------------------------------
 */

/* n digits at *p into *out. */
static int digits(const char **p, int n, int *out) {
  int v = 0, i;
  for (i = 0; i < n; i++) {
    if (!isdigit((unsigned char)(*p)[i])) return -1;
    v = v * 10 + ((*p)[i] - '0');
  }
  *p += n;
  *out = v;
  return 0;
}

int vr_schedule_parse_time(const char *text, const vr_tz *tz, int64_t *out) {
  const char *p = text;
  int y, mo, d, h = 0, mi = 0, s = 0, oh, om, sign;
  int64_t local;
  if (digits(&p, 4, &y) < 0 || *p++ != '-' || digits(&p, 2, &mo) < 0 || *p++ != '-' ||
      digits(&p, 2, &d) < 0)
    return -1;
  if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > vr_days_in_month(y, mo)) return -1;
  if (*p == 'T' || *p == ' ') {
    p++;
    if (digits(&p, 2, &h) < 0 || *p++ != ':' || digits(&p, 2, &mi) < 0) return -1;
    if (*p == ':') {
      p++;
      if (digits(&p, 2, &s) < 0) return -1;
      if (*p == '.' || *p == ',')
        for (p++; isdigit((unsigned char)*p); p++) continue;
    }
    if (h > 23 || mi > 59 || s > 59) return -1;
  }
  local = vr_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
  if (*p == '\0') {
    *out = vr_tz_utc(tz, local);
    return 0;
  }
  if (*p == 'Z' && p[1] == '\0') {
    *out = local;
    return 0;
  }
  if (*p != '+' && *p != '-') return -1;
  sign = *p++ == '-' ? -1 : 1;
  if (digits(&p, 2, &oh) < 0) return -1;
  if (*p == ':') p++;
  if (digits(&p, 2, &om) < 0 || *p != '\0' || oh > 23 || om > 59) return -1;
  *out = local - sign * (oh * 3600 + om * 60);
  return 0;
}

/* "Sat 2026-12-19 22:00 CET" (seconds only when not zero). */
void vr_format_local(const vr_tz *tz, int64_t t, char *buf, size_t len) {
  static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  vr_tz_info info;
  int64_t local = t + vr_tz_info_at(tz, t, &info), day = vr_floor_div(local, 86400), y;
  int sec = (int)(local - day * 86400), m, d;
  char secs[8] = "";
  vr_civil_from_days(day, &y, &m, &d);
  if (sec % 60 != 0) snprintf(secs, sizeof secs, ":%02d", sec % 60);
  snprintf(buf, len, "%s %04lld-%02d-%02d %02d:%02d%s %s", days[vr_weekday(day)], (long long)y, m,
           d, sec / 3600, sec % 3600 / 60, secs, info.abbr);
}

void vr_format_utc(int64_t t, char *buf, size_t len) {
  int64_t day = vr_floor_div(t, 86400), y;
  int sec = (int)(t - day * 86400), m, d;
  char secs[8] = "";
  vr_civil_from_days(day, &y, &m, &d);
  if (sec % 60 != 0) snprintf(secs, sizeof secs, ":%02d", sec % 60);
  snprintf(buf, len, "%04lld-%02d-%02d %02d:%02d%s UTC", (long long)y, m, d, sec / 3600,
           sec % 3600 / 60, secs);
}
