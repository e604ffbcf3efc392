/* test_schedule.c: unit tests of runtime/tz.c and runtime/schedule.c: the calendar; zones against
 * glibc's localtime_r (Europe/Berlin, America/New_York, Australia/Sydney, across the table and the
 * footer rule) and skipped and repeated local times; cron parsing (every error with its column)
 * and next times (steps, ranges, names, nicknames, Feb 29, the day-of-month/day-of-week OR rule,
 * DST in Berlin and New York); windows (crossing midnight, touching windows joined, excluded dates
 * and freezes cutting them, a window over a DST night, time left, the next window); next runs
 * with their skip reasons; and schedule files: every key read, every error with file:line:column.
 * It sets TZ (for the glibc comparison) and HOME in its own process only, and writes one file
 * under a mkdtemp folder, which it removes. */
#include "check.h"
#include "schedule.h"
#include "tz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* "2026-03-29T01:00Z" or "2026-03-29T01:00:30Z" -> seconds. */
static int64_t utc(const char *iso) {
  int y, mo, d, h, mi, s = 0;
  if (sscanf(iso, "%d-%d-%dT%d:%d:%dZ", &y, &mo, &d, &h, &mi, &s) < 5) {
    fprintf(stderr, "bad test time %s\n", iso);
    exit(1);
  }
  return vr_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

/* seconds -> "2026-03-29T01:00Z" (or with seconds when not whole minutes), rotating buffers. */
static const char *iso(int64_t t) {
  static char bufs[8][40];
  static int next;
  char *b = bufs[next++ % 8];
  int64_t days = vr_floor_div(t, 86400), y;
  int sec = (int)(t - days * 86400), m, d;
  if (t == VR_NEVER) return "never";
  vr_civil_from_days(days, &y, &m, &d);
  if (sec % 60 != 0)
    snprintf(b, 40, "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)y, m, d, sec / 3600,
             sec % 3600 / 60, sec % 60);
  else
    snprintf(b, 40, "%04lld-%02d-%02dT%02d:%02dZ", (long long)y, m, d, sec / 3600, sec % 3600 / 60);
  return b;
}

static vr_tz *zone(const char *name) {
  char err[256];
  vr_tz *tz = vr_tz_load(name, err, sizeof err);
  if (tz == NULL) {
    fprintf(stderr, "cannot load %s: %s\n", name, err);
    exit(1);
  }
  return tz;
}

/* ---- the calendar ---------------------------------------------------------------------------- */

static void test_calendar(void) {
  int64_t d, y;
  int m, day, bad = 0;
  for (d = -800000; d < 800000; d += 13) {
    vr_civil_from_days(d, &y, &m, &day);
    if (vr_days_from_civil(y, m, day) != d) bad++;
  }
  CHECK(bad == 0);
  CHECK(vr_days_from_civil(1970, 1, 1) == 0);
  CHECK(vr_days_from_civil(2000, 3, 1) == 11017);
  CHECK(vr_weekday(0) == 4);                                /* Thursday */
  CHECK(vr_weekday(vr_days_from_civil(2026, 12, 26)) == 6); /* Saturday */
  CHECK(vr_weekday(vr_days_from_civil(1969, 12, 28)) == 0); /* Sunday, before 1970 */
  CHECK(vr_days_in_month(2024, 2) == 29);
  CHECK(vr_days_in_month(2100, 2) == 28);
  CHECK(vr_days_in_month(2000, 2) == 29);
  CHECK(vr_days_in_month(2026, 4) == 30);
  CHECK(vr_floor_div(-1, 60) == -1);
  CHECK(vr_floor_div(-60, 60) == -1);
  CHECK(vr_floor_div(59, 60) == 0);
}

/* ---- zones ----------------------------------------------------------------------------------- */

/* Offsets and DST flags as glibc gives them, every ~7 hours from 1925 to 2100 (the table, then
 * the footer's rule after 2037), and local -> UTC round trips. */
static void compare_with_libc(const char *name) {
  vr_tz *tz = zone(name);
  int64_t t;
  int bad = 0, bad_resolve = 0;
  setenv("TZ", name, 1);
  tzset();
  for (t = -1420000000LL; t < 4102444800LL; t += 25247) {
    time_t tt = (time_t)t;
    struct tm tm;
    vr_tz_info info;
    int64_t first, second;
    int n, off = vr_tz_info_at(tz, t, &info);
    localtime_r(&tt, &tm);
    if (off != tm.tm_gmtoff || info.is_dst != (tm.tm_isdst > 0) || strcmp(info.abbr, tm.tm_zone))
      if (bad++ < 3)
        fprintf(stderr, "%s at %s: offset %d dst %d %s, glibc %ld %d %s\n", name, iso(t), off,
                info.is_dst, info.abbr, (long)tm.tm_gmtoff, tm.tm_isdst, tm.tm_zone);
    n = vr_tz_resolve(tz, t + off, &first, &second);
    if (!(n == 1 && first == t) && !(n == 2 && (first == t || second == t))) bad_resolve++;
  }
  CHECK(bad == 0);
  CHECK(bad_resolve == 0);
  unsetenv("TZ");
  tzset();
  vr_tz_free(tz);
}

static void test_zones(void) {
  static const struct {
    const char *zone, *local; /* local as if it were UTC */
    int n;
    const char *first, *second;
  } cases[] = {
      /* Berlin: 02:00-02:59 skipped on 2026-03-29, repeated on 2026-10-25 */
      {"Europe/Berlin", "2026-03-29T02:30Z", 0, "2026-03-29T01:00Z", NULL},
      {"Europe/Berlin", "2026-03-29T01:59Z", 1, "2026-03-29T00:59Z", NULL},
      {"Europe/Berlin", "2026-03-29T03:00Z", 1, "2026-03-29T01:00Z", NULL},
      {"Europe/Berlin", "2026-10-25T02:30Z", 2, "2026-10-25T00:30Z", "2026-10-25T01:30Z"},
      {"Europe/Berlin", "2026-10-25T03:00Z", 1, "2026-10-25T02:00Z", NULL},
      /* after the table (2037): the footer's rule */
      {"Europe/Berlin", "2045-03-26T02:30Z", 0, "2045-03-26T01:00Z", NULL},
      {"Europe/Berlin", "2045-10-29T02:30Z", 2, "2045-10-29T00:30Z", "2045-10-29T01:30Z"},
      /* New York: 02:00-02:59 skipped on 2026-03-08, 01:00-01:59 repeated on 2026-11-01 */
      {"America/New_York", "2026-03-08T02:30Z", 0, "2026-03-08T07:00Z", NULL},
      {"America/New_York", "2026-11-01T01:30Z", 2, "2026-11-01T05:30Z", "2026-11-01T06:30Z"},
      {"America/New_York", "2026-11-01T02:00Z", 1, "2026-11-01T07:00Z", NULL},
      /* southern hemisphere: Sydney skips 02:00-02:59 on 2026-10-04 */
      {"Australia/Sydney", "2026-10-04T02:30Z", 0, "2026-10-03T16:00Z", NULL},
      {"UTC", "2026-10-25T02:30Z", 1, "2026-10-25T02:30Z", NULL},
  };
  size_t i;
  char err[256];
  vr_tz *tz;
  vr_tz_info info;
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int64_t first = 0, second = 0;
    int n;
    tz = zone(cases[i].zone);
    n = vr_tz_resolve(tz, utc(cases[i].local), &first, &second);
    CHECK(n == cases[i].n);
    CHECK_STR(iso(first), cases[i].first);
    if (cases[i].second != NULL) CHECK_STR(iso(second), cases[i].second);
    CHECK_STR(iso(vr_tz_utc(tz, utc(cases[i].local))), cases[i].first);
    vr_tz_free(tz);
  }
  compare_with_libc("Europe/Berlin");
  compare_with_libc("America/New_York");
  compare_with_libc("Australia/Sydney");

  tz = zone("America/New_York");
  CHECK(vr_tz_info_at(tz, utc("2026-07-01T12:00Z"), &info) == -4 * 3600);
  CHECK_STR(info.abbr, "EDT");
  CHECK(info.is_dst == 1);
  CHECK_STR(vr_tz_name(tz), "America/New_York");
  vr_tz_free(tz);
  tz = zone("UTC");
  CHECK(vr_tz_info_at(tz, utc("2026-07-01T12:00Z"), &info) == 0);
  CHECK_STR(info.abbr, "UTC");
  vr_tz_free(tz);

  CHECK(vr_tz_load("Europe/Berln", err, sizeof err) == NULL);
  CHECK_CONTAINS(err, "unknown time zone 'Europe/Berln'");
  CHECK(vr_tz_load("../../etc/passwd", err, sizeof err) == NULL);
  CHECK_CONTAINS(err, "is not a time zone name");
  CHECK(vr_tz_load("/etc/localtime", err, sizeof err) == NULL);
  CHECK_CONTAINS(err, "is not a time zone name");
  CHECK(vr_tz_load("Europe", err, sizeof err) == NULL);
  CHECK_CONTAINS(err, "unknown time zone 'Europe'");
  if (access("/usr/share/zoneinfo/right/UTC", R_OK) == 0) {
    CHECK(vr_tz_load("right/UTC", err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "leap seconds");
  }
  /* TZDIR moves the folder */
  setenv("TZDIR", "/nonexistent", 1);
  CHECK(vr_tz_load("Europe/Berlin", err, sizeof err) == NULL);
  CHECK_CONTAINS(err, "/nonexistent/Europe/Berlin");
  unsetenv("TZDIR");
}

/* ---- cron ------------------------------------------------------------------------------------ */

static void test_cron_parse(void) {
  static const struct {
    const char *expr, *error; /* NULL: valid */
    int column;
  } cases[] = {
      {"* * * * *", NULL, 0},
      {"  */15 0-23/2 1,15 JAN-jun mon-FRI  ", NULL, 0},
      {"0 22 * * 6", NULL, 0},
      {"0 0 29 2 *", NULL, 0},
      {"0 0 * * 7", NULL, 0},
      {"5-20/5 */6 L * *", "day-of-month field: 'L' is not a number", 12},
      {"@daily", NULL, 0},
      {"@ANNUALLY", NULL, 0},
      {"", "expected 5 fields (minute hour day-of-month month day-of-week), got 0", 1},
      {"0 22 * *", "expected 5 fields (minute hour day-of-month month day-of-week), got 4", 9},
      {"0 0 22 * * 6",
       "expected 5 fields (minute hour day-of-month month day-of-week), got 6 (a seconds or year "
       "field is not supported)",
       12},
      {"60 * * * *", "minute field: 60 is out of range 0-59", 1},
      {"0 24 * * *", "hour field: 24 is out of range 0-23", 3},
      {"0 0 0 * *", "day-of-month field: 0 is out of range 1-31", 5},
      {"0 0 * 13 *", "month field: 13 is out of range 1-12", 7},
      {"0 0 * * 8", "day-of-week field: 8 is out of range 0-7", 9},
      {"0 0 * * 5-1", "day-of-week field: the range 5-1 goes backwards", 9},
      {"0 0 * * FRI-MON", "day-of-week field: the range FRI-MON goes backwards", 9},
      {"*/0 * * * *", "minute field: step 0 is out of range 1-59", 3},
      {"10/15 * * * *",
       "minute field: a step needs a range or '*' before it (write 10-59/N or */N, not 10/15)", 1},
      {"0 0 * JNA *", "month field: unknown month name 'JNA' (expected JAN, FEB, ... DEC)", 7},
      {"0 0 * * MONDAY",
       "day-of-week field: unknown day name 'MONDAY' (expected SUN, MON, ... SAT)", 9},
      {"0 0 * * 1,,2", "day-of-week field: an empty item in the list", 11},
      {"0 0 * * 1,", "day-of-week field: an empty item in the list", 11},
      {"0 0 * * *5", "day-of-week field: unexpected '5'", 10},
      {"0 0 1-x * *", "day-of-month field: 'x' is not a number", 7},
      {"0 0 1-? * *", "day-of-month field: unexpected '?'", 7},
      {"0 0 */x * *", "day-of-month field: a step must be a number", 7},
      {"0 0 30 2 *",
       "day-of-month field: no day in '30' happens in the months '2', so the expression never runs",
       5},
      {"0 0 31 APR,jun,9,11 *",
       "day-of-month field: no day in '31' happens in the months 'APR,jun,9,11', so the "
       "expression never runs",
       5},
      {"0 0 31 4 MON", NULL, 0}, /* OR: every Monday in April */
      {"@reboot", "@reboot is not supported: a schedule runs at times of day", 1},
      {"@fortnightly",
       "unknown nickname '@fortnightly' (expected @yearly, @annually, @monthly, @weekly, @daily, "
       "@midnight or @hourly)",
       1},
      {"@daily 5", "nothing may follow @daily", 8},
  };
  size_t i;
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    vr_cron c;
    vr_schedule_error e;
    int rc = vr_cron_parse(cases[i].expr, &c, &e);
    if (cases[i].error == NULL) {
      CHECK(rc == 0);
      if (rc != 0) fprintf(stderr, "  '%s': %s\n", cases[i].expr, e.message);
    } else {
      CHECK(rc == -1);
      CHECK_STR(rc == -1 ? e.message : "(accepted)", cases[i].error);
      CHECK(e.column == cases[i].column);
      if (e.column != cases[i].column)
        fprintf(stderr, "  '%s': column %d, expected %d\n", cases[i].expr, e.column,
                cases[i].column);
    }
  }
  {
    vr_cron c;
    vr_schedule_error e;
    CHECK(vr_cron_parse("0 0 * * 7", &c, &e) == 0 && c.wdays == 1);
    CHECK(vr_cron_parse("0 0 * * 0-7", &c, &e) == 0 && c.wdays == 0x7f);
    CHECK(vr_cron_parse("*/15 * * * *", &c, &e) == 0 &&
          c.minutes == ((1ull << 0) | (1ull << 15) | (1ull << 30) | (1ull << 45)));
    CHECK(vr_cron_parse("1-5/2 * * * *", &c, &e) == 0 &&
          c.minutes == ((1ull << 1) | (1ull << 3) | (1ull << 5)));
    CHECK(vr_cron_parse("@weekly", &c, &e) == 0 && c.wdays == 1 && c.hours == 1 && c.minutes == 1);
    CHECK(vr_cron_parse("0 12 */2 * 1", &c, &e) == 0 && c.mday_star && !c.wday_star);
    CHECK(vr_cron_matches(&c, utc("2026-02-09T12:00Z")));  /* the 9th, a Monday */
    CHECK(!vr_cron_matches(&c, utc("2026-02-16T12:00Z"))); /* a Monday, but the 16th */
    CHECK(!vr_cron_matches(&c, utc("2026-02-11T12:00Z"))); /* the 11th, a Wednesday */
  }
}

static void test_cron_next(void) {
  static const struct {
    const char *expr, *zone, *after;
    const char *next[4];
  } cases[] = {
      {"*/15 * * * *",
       "UTC",
       "2026-01-01T00:07Z",
       {"2026-01-01T00:15Z", "2026-01-01T00:30Z", "2026-01-01T00:45Z", "2026-01-01T01:00Z"}},
      /* strictly after: a cron time equal to `after` is not returned */
      {"0 * * * *",
       "UTC",
       "2026-01-01T05:00Z",
       {"2026-01-01T06:00Z", "2026-01-01T07:00Z", "2026-01-01T08:00Z", "2026-01-01T09:00Z"}},
      {"5-20/5 */6 * * *",
       "UTC",
       "2026-01-01T00:00:30Z",
       {"2026-01-01T00:05Z", "2026-01-01T00:10Z", "2026-01-01T00:15Z", "2026-01-01T00:20Z"}},
      {"5-20/5 */6 * * *",
       "UTC",
       "2026-01-01T00:20Z",
       {"2026-01-01T06:05Z", "2026-01-01T06:10Z", "2026-01-01T06:15Z", "2026-01-01T06:20Z"}},
      {"0 9 * JAN,jul MON-FRI",
       "UTC",
       "2026-06-30T12:00Z",
       {"2026-07-01T09:00Z", "2026-07-02T09:00Z", "2026-07-03T09:00Z", "2026-07-06T09:00Z"}},
      {"0 22 * * 6",
       "Europe/Berlin",
       "2026-12-18T00:00Z",
       {"2026-12-19T21:00Z", "2026-12-26T21:00Z", "2027-01-02T21:00Z", "2027-01-09T21:00Z"}},
      {"@monthly",
       "America/New_York",
       "2026-01-15T00:00Z",
       {"2026-02-01T05:00Z", "2026-03-01T05:00Z", "2026-04-01T04:00Z", "2026-05-01T04:00Z"}},
      /* Feb 29: leap years only, and 2100 is not one */
      {"0 0 29 2 *",
       "UTC",
       "2026-01-01T00:00Z",
       {"2028-02-29T00:00Z", "2032-02-29T00:00Z", "2036-02-29T00:00Z", "2040-02-29T00:00Z"}},
      {"0 0 29 2 *",
       "UTC",
       "2096-03-01T00:00Z",
       {"2104-02-29T00:00Z", "2108-02-29T00:00Z", "2112-02-29T00:00Z", "2116-02-29T00:00Z"}},
      /* both day fields restricted: the 13th OR a Monday */
      {"0 12 13 * 1",
       "UTC",
       "2026-02-01T00:00Z",
       {"2026-02-02T12:00Z", "2026-02-09T12:00Z", "2026-02-13T12:00Z", "2026-02-16T12:00Z"}},
      /* Feb 29 OR a Monday in February */
      {"0 0 29 2 1",
       "UTC",
       "2027-03-01T00:00Z",
       {"2028-02-07T00:00Z", "2028-02-14T00:00Z", "2028-02-21T00:00Z", "2028-02-28T00:00Z"}},
      /* a day field that starts with '*' is unrestricted: odd days AND Mondays */
      {"0 12 */2 * 1",
       "UTC",
       "2026-02-01T00:00Z",
       {"2026-02-09T12:00Z", "2026-02-23T12:00Z", "2026-03-09T12:00Z", "2026-03-23T12:00Z"}},
      /* Berlin, spring forward (2026-03-29, 02:00 -> 03:00): a skipped 02:30 runs at the jump */
      {"30 2 * * *",
       "Europe/Berlin",
       "2026-03-28T12:00Z",
       {"2026-03-29T01:00Z", "2026-03-30T00:30Z", "2026-03-31T00:30Z", "2026-04-01T00:30Z"}},
      /* several skipped times run once, at the jump; 03:00 falls on the same instant */
      {"*/30 * * * *",
       "Europe/Berlin",
       "2026-03-29T00:15Z",
       {"2026-03-29T00:30Z", "2026-03-29T01:00Z", "2026-03-29T01:30Z", "2026-03-29T02:00Z"}},
      /* Berlin, fall back (2026-10-25, 03:00 -> 02:00): a repeated 02:30 runs once, the first
       * time */
      {"30 2 * * *",
       "Europe/Berlin",
       "2026-10-24T12:00Z",
       {"2026-10-25T00:30Z", "2026-10-26T01:30Z", "2026-10-27T01:30Z", "2026-10-28T01:30Z"}},
      /* asked during the second 02:30, it is already past */
      {"30 2 * * *",
       "Europe/Berlin",
       "2026-10-25T01:15Z",
       {"2026-10-26T01:30Z", "2026-10-27T01:30Z", "2026-10-28T01:30Z", "2026-10-29T01:30Z"}},
      {"*/30 * * * *",
       "Europe/Berlin",
       "2026-10-25T00:00Z",
       {"2026-10-25T00:30Z", "2026-10-25T02:00Z", "2026-10-25T02:30Z", "2026-10-25T03:00Z"}},
      /* the same after the zone's table, from its footer rule */
      {"30 2 * * *",
       "Europe/Berlin",
       "2045-03-25T12:00Z",
       {"2045-03-26T01:00Z", "2045-03-27T00:30Z", "2045-03-28T00:30Z", "2045-03-29T00:30Z"}},
      /* New York: 2026-03-08 02:00 -> 03:00 and 2026-11-01 02:00 -> 01:00 */
      {"0 2 * * *",
       "America/New_York",
       "2026-03-07T12:00Z",
       {"2026-03-08T07:00Z", "2026-03-09T06:00Z", "2026-03-10T06:00Z", "2026-03-11T06:00Z"}},
      {"30 1 * * *",
       "America/New_York",
       "2026-10-31T12:00Z",
       {"2026-11-01T05:30Z", "2026-11-02T06:30Z", "2026-11-03T06:30Z", "2026-11-04T06:30Z"}},
      {"0 2 * * *",
       "America/New_York",
       "2026-10-31T12:00Z",
       {"2026-11-01T07:00Z", "2026-11-02T07:00Z", "2026-11-03T07:00Z", "2026-11-04T07:00Z"}},
      {"@hourly",
       "America/New_York",
       "2026-11-01T04:30Z",
       {"2026-11-01T05:00Z", "2026-11-01T07:00Z", "2026-11-01T08:00Z", "2026-11-01T09:00Z"}},
  };
  size_t i;
  int k;
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    vr_cron c;
    vr_schedule_error e;
    vr_tz *tz = zone(cases[i].zone);
    int64_t t = utc(cases[i].after);
    CHECK(vr_cron_parse(cases[i].expr, &c, &e) == 0);
    for (k = 0; k < 4; k++) {
      t = vr_cron_next(&c, tz, t);
      CHECK_STR(iso(t), cases[i].next[k]);
      if (t == VR_NEVER || strcmp(iso(t), cases[i].next[k]) != 0) {
        fprintf(stderr, "  '%s' in %s after %s, time %d\n", cases[i].expr, cases[i].zone,
                cases[i].after, k + 1);
        break;
      }
    }
    vr_tz_free(tz);
  }
}

/* Deterministic pseudo-random numbers for the property tests. */
static uint64_t rng_state = 88172645463325252ull;
static int rnd(int n) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (int)(rng_state % (uint64_t)n);
}

/* A random field item for [lo, hi]: *, *\/k, a, a-b, a-b/k. */
static int random_item(char *buf, size_t len, int lo, int hi) {
  int a = lo + rnd(hi - lo + 1), b = a + rnd(hi - a + 1), k = 1 + rnd(4 * (hi - lo) / 10 + 1);
  switch (rnd(5)) {
  case 0:
    return snprintf(buf, len, "*");
  case 1:
    return snprintf(buf, len, "*/%d", k);
  case 2:
    return snprintf(buf, len, "%d", a);
  case 3:
    return snprintf(buf, len, "%d-%d", a, b);
  default:
    return snprintf(buf, len, "%d-%d/%d", a, b, k);
  }
}

static void random_cron(char *buf, size_t len) {
  static const int lo[5] = {0, 0, 1, 1, 0}, hi[5] = {59, 23, 31, 12, 7};
  size_t o = 0;
  int f, items;
  for (f = 0; f < 5; f++) {
    if (f > 0) buf[o++] = ' ';
    /* mostly '*' for the days and months, so that a few days hold matches */
    if ((f >= 2 && rnd(3) != 0) || (f == 1 && rnd(3) == 0)) {
      buf[o++] = '*';
      continue;
    }
    for (items = 1 + rnd(2); items > 0; items--) {
      o += (size_t)random_item(buf + o, len - o, lo[f], hi[f]);
      if (items > 1) buf[o++] = ',';
    }
  }
  buf[o] = '\0';
}

/* The next run by brute force, minute by minute: an instant whose local time matches and is not
 * the second showing of that local time (the clock read the same an hour earlier), or an instant
 * where the clock jumped over a local minute that matches. VR_NEVER within `minutes`. */
static int64_t brute_next(const vr_cron *c, const vr_tz *tz, int64_t after, int minutes) {
  int64_t t = vr_floor_div(after, 60) * 60 + 60, end = t + (int64_t)minutes * 60;
  for (; t <= end; t += 60) {
    int64_t local = vr_tz_local(tz, t), before = vr_tz_local(tz, t - 60), skipped;
    if (vr_cron_matches(c, local) && vr_tz_local(tz, t - 3600) != local) return t;
    for (skipped = before + 60; skipped < local; skipped += 60)
      if (vr_cron_matches(c, skipped)) return t;
  }
  return VR_NEVER;
}

/* vr_cron_next against brute_next for random expressions within 90 minutes of a DST change (in
 * its zone: before, in a skipped or repeated hour, after), and around Feb 29 in UTC. */
static void test_cron_brute_force(void) {
  static const struct {
    const char *zone, *at;
  } around[] = {
      {"Europe/Berlin", "2026-03-29T01:00Z"},    {"Europe/Berlin", "2026-10-25T01:00Z"},
      {"America/New_York", "2026-03-08T07:00Z"}, {"America/New_York", "2026-11-01T06:00Z"},
      {"Europe/Berlin", "2045-10-29T01:00Z"},    {"UTC", "2028-02-28T23:00Z"}};
  vr_tz *tzs[6];
  int n, i, bad = 0, compared = 0;
  for (i = 0; i < 6; i++) tzs[i] = zone(around[i].zone);
  for (n = 0; n < 600; n++) {
    int k = rnd(6);
    char expr[128];
    vr_cron c;
    vr_schedule_error e;
    int64_t after = utc(around[k].at) + (int64_t)(rnd(180) - 90) * 60 + rnd(60), got, want;
    random_cron(expr, sizeof expr);
    if (vr_cron_parse(expr, &c, &e) != 0) continue;
    want = brute_next(&c, tzs[k], after, 4 * 1440);
    got = vr_cron_next(&c, tzs[k], after);
    compared++;
    if (want != VR_NEVER ? got != want : got <= after + 4 * 86400)
      if (bad++ < 5)
        fprintf(stderr, "  '%s' in %s after %s: %s, brute force %s\n", expr, around[k].zone,
                iso(after), iso(got), iso(want));
  }
  for (i = 0; i < 6; i++) vr_tz_free(tzs[i]);
  CHECK(bad == 0);
  CHECK(compared > 450);
}

/* ---- schedules ------------------------------------------------------------------------------- */

static vr_schedule *parse(const char *text) {
  vr_schedule_error e;
  vr_schedule *s = vr_schedule_parse(text, strlen(text), "s.yaml", &e);
  if (s == NULL) {
    char buf[1200];
    vr_schedule_error_format(&e, buf, sizeof buf);
    fprintf(stderr, "unexpected error: %s\n", buf);
    check_failures++;
  }
  return s;
}

static const char example[] = "timezone: Europe/Berlin\n"
                              "cluster: {kubeconfig: ~/.kube/prod, context: admin@prod}\n"
                              "windows:\n"
                              "  weekly: [{days: [Sat], start: \"22:00\", duration: 6h}]\n"
                              "  exclude: [2026-12-24]\n"
                              "  freeze: [{from: 2026-12-20, to: 2027-01-03, reason: year-end "
                              "freeze}]\n"
                              "runbooks:\n"
                              "  - name: monthly-patch\n"
                              "    playbook: playbooks/rolling-maintenance.lua\n"
                              "    cron: \"0 22 * * 6\"\n"
                              "    args: [\"--batch\", auto, 3]\n"
                              "    window: true\n"
                              "  - name: audit\n"
                              "    playbook: /opt/audit.lua\n"
                              "    cron: \"0 6 * * *\"\n"
                              "    window: false\n"
                              "history: .vmrun/schedule-history.jsonl\n";

static void test_file(void) {
  vr_schedule *s;
  char cwd[1024], expect[1200];
  setenv("HOME", "/home/ops", 1);
  if (getcwd(cwd, sizeof cwd) == NULL) cwd[0] = '\0';
  s = parse(example);
  if (s == NULL) return;
  CHECK_STR(s->file, "s.yaml");
  CHECK_STR(s->timezone, "Europe/Berlin");
  CHECK_STR(vr_tz_name(s->tz), "Europe/Berlin");
  CHECK_STR(s->cluster.kubeconfig, "~/.kube/prod");
  CHECK_STR(s->cluster.kubeconfig_path, "/home/ops/.kube/prod");
  CHECK_STR(s->cluster.context, "admin@prod");
  CHECK(s->cluster.file == NULL && s->cluster.namespace_ == NULL && !s->cluster.in_cluster);
  CHECK(s->nweekly == 1 && s->weekly[0].days == 1 << 6 && s->weekly[0].start == 22 * 60 &&
        s->weekly[0].duration == 6 * 3600 && s->weekly[0].line == 4);
  CHECK(s->nexcluded == 1 && s->excluded[0].day == vr_days_from_civil(2026, 12, 24));
  CHECK(s->nfreezes == 1 && s->freezes[0].from == vr_days_from_civil(2026, 12, 20) &&
        s->freezes[0].to == vr_days_from_civil(2027, 1, 3));
  CHECK_STR(s->freezes[0].reason, "year-end freeze");
  CHECK(s->nrunbooks == 2);
  CHECK_STR(s->runbooks[0].name, "monthly-patch");
  CHECK_STR(s->runbooks[0].playbook, "playbooks/rolling-maintenance.lua");
  snprintf(expect, sizeof expect, "%s/playbooks/rolling-maintenance.lua", cwd);
  CHECK_STR(s->runbooks[0].playbook_path, expect);
  CHECK_STR(s->runbooks[0].cron_text, "0 22 * * 6");
  CHECK(s->runbooks[0].nargs == 3);
  CHECK_STR(s->runbooks[0].args[0], "--batch");
  CHECK_STR(s->runbooks[0].args[1], "auto");
  CHECK_STR(s->runbooks[0].args[2], "3");
  CHECK(s->runbooks[0].args[3] == NULL);
  CHECK(s->runbooks[0].window == 1 && s->runbooks[0].line == 8);
  CHECK(s->runbooks[0].cron_line == 10 && s->runbooks[0].cron_column == 11);
  CHECK_STR(s->runbooks[1].playbook_path, "/opt/audit.lua");
  CHECK(s->runbooks[1].window == 0 && s->runbooks[1].nargs == 0 && s->runbooks[1].args[0] == NULL);
  CHECK_STR(s->history, ".vmrun/schedule-history.jsonl");
  snprintf(expect, sizeof expect, "%s/.vmrun/schedule-history.jsonl", cwd);
  CHECK_STR(s->history_path, expect);
  vr_schedule_free(s);

  /* defaults: UTC, the default history, window runbooks when there are weekly windows, relative
   * paths from the file's folder; a single day as a scalar; a simulated cluster */
  {
    static const char text[] = "cluster: {file: ../clusters/demo.yaml}\n"
                               "windows: {weekly: [{days: sunday, start: '1:30', duration: 1h}]}\n"
                               "runbooks: [{name: a, playbook: a.lua, cron: '@daily'}]\n";
    vr_schedule_error e;
    s = vr_schedule_parse(text, strlen(text), "/srv/ops/s.yaml", &e);
    CHECK(s != NULL);
    if (s == NULL) return;
    CHECK_STR(s->timezone, "UTC");
    CHECK_STR(s->cluster.file_path, "/srv/ops/../clusters/demo.yaml");
    CHECK_STR(s->runbooks[0].playbook_path, "/srv/ops/a.lua");
    CHECK(s->history == NULL);
    CHECK_STR(s->history_path, "/srv/ops/.vmrun/schedule-history.jsonl");
    CHECK(s->runbooks[0].window == 1);
    CHECK(s->weekly[0].days == 1 && s->weekly[0].start == 90);
    vr_schedule_free(s);
  }
}

/* Mutated copies of the example (bytes changed, dropped, doubled; lines swapped) never crash or
 * leak (ASan), and every one refused says what and where. */
static void test_file_mutations(void) {
  static const char alphabet[] = " \n:-[]{},'\"*#&!|>0123456789aSz@~";
  char text[sizeof example + 64];
  int n, accepted = 0, refused = 0, unexplained = 0;
  for (n = 0; n < 1500; n++) {
    size_t len = sizeof example - 1, pos, k;
    vr_schedule_error e;
    vr_schedule *s;
    memcpy(text, example, len + 1);
    for (k = 1 + (size_t)rnd(3); k > 0; k--) {
      pos = (size_t)rnd((int)len);
      switch (rnd(3)) {
      case 0:
        text[pos] = alphabet[rnd((int)sizeof alphabet - 1)];
        break;
      case 1:
        memmove(text + pos, text + pos + 1, len - pos);
        len--;
        break;
      default:
        if (len + 1 < sizeof text) {
          memmove(text + pos + 1, text + pos, len - pos + 1);
          len++;
        }
      }
    }
    s = vr_schedule_parse(text, len, "s.yaml", &e);
    if (s != NULL) {
      accepted++;
      vr_schedule_free(s);
    } else {
      refused++;
      if (e.message[0] == '\0' || strcmp(e.file, "s.yaml") != 0) unexplained++;
    }
  }
  CHECK(unexplained == 0);
  CHECK(accepted > 100 && refused > 800);
}

static void check_error(int line, const char *text, const char *expected) {
  vr_schedule_error e;
  char buf[1200];
  vr_schedule *s = vr_schedule_parse(text, strlen(text), "s.yaml", &e);
  check_count++;
  if (s != NULL) {
    check_failures++;
    fprintf(stderr, "%s:%d: accepted, expected: %s\n", __FILE__, line, expected);
    vr_schedule_free(s);
    return;
  }
  vr_schedule_error_format(&e, buf, sizeof buf);
  if (strcmp(buf, expected) != 0) {
    check_failures++;
    fprintf(stderr, "%s:%d: expected \"%s\"\n%*s got \"%s\"\n", __FILE__, line, expected,
            (int)strlen(__FILE__) + 8, "", buf);
  }
}

#define HEAD "cluster: {context: prod}\n"
#define RB   "runbooks: [{name: a, playbook: a.lua, cron: '0 22 * * 6'}]\n"

static void test_file_errors(void) {
  check_error(__LINE__, "", "s.yaml: the schedule file is empty");
  check_error(__LINE__, "# nothing\n", "s.yaml: the schedule file is empty");
  check_error(__LINE__, "- a\n",
              "s.yaml:1:1: a schedule must be a mapping (timezone, cluster, windows, runbooks, "
              "history), not a list");
  check_error(__LINE__, HEAD "runbooks: [\n",
              "s.yaml:3:1: malformed YAML: did not find expected node content while parsing a "
              "flow node");
  check_error(__LINE__, HEAD RB "---\n" HEAD RB,
              "s.yaml:4:1: a schedule file holds one YAML document; a second one starts here");
  check_error(__LINE__, "timezon: UTC\n" HEAD RB,
              "s.yaml:1:1: schedule: unknown key 'timezon' (did you mean 'timezone'?)");
  check_error(__LINE__, HEAD RB "owner: ops\n",
              "s.yaml:3:1: schedule: unknown key 'owner' (expected one of: timezone, cluster, "
              "windows, runbooks, history)");
  check_error(__LINE__, HEAD RB "timezone: UTC\ntimezone: Europe/Berlin\n",
              "s.yaml:4:1: schedule: key 'timezone' is given twice");
  check_error(__LINE__, "timezone:\n" HEAD RB, "s.yaml:1:1: schedule: key 'timezone' has no value");
  check_error(__LINE__, "timezone: Europe/Berln\n" HEAD RB,
              "s.yaml:1:11: timezone: unknown time zone 'Europe/Berln' (no zone file "
              "/usr/share/zoneinfo/Europe/Berln)");
  check_error(__LINE__, "timezone: [UTC]\n" HEAD RB,
              "s.yaml:1:11: timezone must be a string, not a list");
  check_error(__LINE__, RB,
              "s.yaml:1:1: the schedule names no cluster: add cluster: {kubeconfig: FILE, "
              "context: NAME} (or file: for a simulated cluster)");
  check_error(__LINE__, "cluster: {namespace: x}\n" RB,
              "s.yaml:1:10: cluster names no cluster: give kubeconfig and/or context, "
              "in_cluster: true, or file (a simulated cluster)");
  check_error(__LINE__, "cluster: {file: demo.yaml, context: x}\n" RB,
              "s.yaml:1:17: cluster: file (a simulated cluster) cannot go with kubeconfig, "
              "context, namespace or in_cluster (a real one)");
  check_error(__LINE__, "cluster: {in_cluster: yes}\n" RB,
              "s.yaml:1:23: cluster.in_cluster must be true or false, not 'yes'");
  check_error(__LINE__, "cluster: {kubeconfig: ~ops/k}\n" RB,
              "s.yaml:1:23: cluster.kubeconfig: '~ops/k': only ~ and ~/... are supported, not "
              "~user");
  check_error(__LINE__, "cluster: {contxt: prod}\n" RB,
              "s.yaml:1:11: cluster: unknown key 'contxt' (did you mean 'context'?)");
  check_error(__LINE__, HEAD, "s.yaml:1:1: the schedule has no runbooks: add runbooks:");
  check_error(__LINE__, HEAD "runbooks: []\n",
              "s.yaml:2:11: runbooks is empty: the schedule runs nothing");
  check_error(__LINE__, HEAD "runbooks:\n  - name: a\n    cron: '@daily'\n",
              "s.yaml:3:5: runbook 'a': key 'playbook' is missing");
  check_error(__LINE__, HEAD "runbooks:\n  - playbook: a.lua\n    cron: '@daily'\n",
              "s.yaml:3:5: runbooks[1]: key 'name' is missing");
  check_error(__LINE__, HEAD "runbooks:\n  - {name: a, playbook: a.lua}\n",
              "s.yaml:3:5: runbook 'a': key 'cron' is missing");
  check_error(__LINE__,
              HEAD "runbooks:\n  - {name: a, playbook: a.lua, cron: '@daily'}\n"
                   "  - {name: b, playbook: b.lua, cron: '@daily'}\n"
                   "  - {name: a, playbook: c.lua, cron: '@daily'}\n",
              "s.yaml:5:12: runbook name 'a' is already used at line 3");
  check_error(__LINE__, HEAD "runbooks:\n  - {name: 'a b', playbook: a.lua, cron: '@daily'}\n",
              "s.yaml:3:12: runbook name 'a b': use letters, digits, '.', '_' and '-' (at most "
              "63, starting with a letter or digit)");
  check_error(__LINE__, HEAD "runbooks:\n  - name: a\n    playbok: a.lua\n    cron: '@daily'\n",
              "s.yaml:4:5: runbooks[1]: unknown key 'playbok' (did you mean 'playbook'?)");
  /* cron errors point at the field inside the expression: quoted, plain, and folded */
  check_error(__LINE__,
              HEAD "runbooks:\n  - name: a\n    playbook: a.lua\n    cron: \"0 25 * * *\"\n",
              "s.yaml:5:14: runbook 'a': cron '0 25 * * *': hour field: 25 is out of range 0-23");
  check_error(__LINE__, HEAD "runbooks:\n  - name: a\n    playbook: a.lua\n    cron: 0 22 * * 8\n",
              "s.yaml:5:20: runbook 'a': cron '0 22 * * 8': day-of-week field: 8 is out of range "
              "0-7");
  check_error(__LINE__,
              HEAD "runbooks:\n  - name: a\n    playbook: a.lua\n    cron: >-\n      0 0 "
                   "30 2 *\n",
              "s.yaml:5:11: runbook 'a': cron '0 0 30 2 *': day-of-month field: no day in '30' "
              "happens in the months '2', so the expression never runs");
  check_error(__LINE__,
              HEAD "runbooks:\n  - name: a\n    playbook: a.lua\n    cron: */15 * * * *\n",
              "s.yaml:5:12: malformed YAML: did not find expected alphabetic or numeric "
              "character while scanning an alias (a value that starts with '*' must be quoted: "
              "cron: \"*/15 * * * *\")");
  check_error(__LINE__, HEAD "runbooks:\n  - name: a\n    playbook: a.lua\n    cron: '0 22 * *'\n",
              "s.yaml:5:20: runbook 'a': cron '0 22 * *': expected 5 fields (minute hour "
              "day-of-month month day-of-week), got 4");
  check_error(__LINE__,
              HEAD "runbooks:\n  - {name: a, playbook: a.lua, cron: '@daily', args: "
                   "[x, [y]]}\n",
              "s.yaml:3:58: runbook 'a': args[2] must be a string, not a list");
  check_error(__LINE__,
              HEAD "runbooks:\n  - {name: a, playbook: a.lua, cron: '@daily', args: "
                   "x}\n",
              "s.yaml:3:54: runbook 'a': args must be a list, not a string");
  check_error(__LINE__,
              HEAD "runbooks:\n  - {name: a, playbook: a.lua, cron: '@daily', window: "
                   "true}\n",
              "s.yaml:3:56: runbook 'a': window: true, but the schedule has no weekly windows "
              "(windows.weekly)");
  check_error(__LINE__, HEAD "runbooks:\n  - {name: a, playbook: [a.lua], cron: '@daily'}\n",
              "s.yaml:3:25: runbook 'a': playbook must be a string, not a list");
  check_error(__LINE__, HEAD "runbooks:\n  - {name: a, playbook: '', cron: '@daily'}\n",
              "s.yaml:3:25: runbook 'a': playbook is empty");
  /* windows */
  check_error(__LINE__, HEAD RB "windows: {weekly: [{days: [Sat], start: '22:00', duration: 6}]}\n",
              "s.yaml:3:60: windows.weekly[1].duration: '6' needs a unit: e.g. 6h, 90m, 1h30m");
  check_error(__LINE__,
              HEAD RB "windows: {weekly: [{days: [Sat], start: '22:00', duration: soon}]}\n",
              "s.yaml:3:60: windows.weekly[1].duration: 'soon' is not a duration: expected e.g. "
              "6h, 90m, 1h30m, 2d");
  check_error(__LINE__,
              HEAD RB "windows: {weekly: [{days: [Sat], start: '22:00', duration: 0m}]}\n",
              "s.yaml:3:60: windows.weekly[1].duration: 0m makes an empty window");
  check_error(__LINE__,
              HEAD RB "windows: {weekly: [{days: [Sat], start: '22:00', duration: 8d}]}\n",
              "s.yaml:3:60: windows.weekly[1].duration: 8d is longer than a week (7d at most)");
  check_error(__LINE__,
              HEAD RB "windows: {weekly: [{days: [Sat], start: '22:00', duration: 90s}]}\n",
              "s.yaml:3:60: windows.weekly[1].duration: 90s is not a whole number of minutes");
  check_error(__LINE__, HEAD RB "windows: {weekly: [{days: [], start: '22:00', duration: 6h}]}\n",
              "s.yaml:3:27: windows.weekly[1].days is empty: the window never opens");
  check_error(__LINE__,
              HEAD RB "windows: {weekly: [{days: [Sat, Sab], start: '22:00', duration: "
                      "6h}]}\n",
              "s.yaml:3:33: windows.weekly[1].days: unknown day 'Sab' (expected Mon, Tue, Wed, "
              "Thu, Fri, Sat or Sun)");
  check_error(__LINE__,
              HEAD RB "windows: {weekly: [{days: [Sat, sat], start: '22:00', duration: "
                      "6h}]}\n",
              "s.yaml:3:33: windows.weekly[1].days: Sat is listed twice");
  check_error(__LINE__,
              HEAD RB "windows: {weekly: [{days: [Sat], start: '24:00', duration: 6h}]}\n",
              "s.yaml:3:41: windows.weekly[1].start: '24:00' is not a time of day (00:00 to "
              "23:59)");
  check_error(__LINE__, HEAD RB "windows: {weekly: [{days: [Sat], start: 10pm, duration: 6h}]}\n",
              "s.yaml:3:41: windows.weekly[1].start: '10pm' is not a time of day: expected HH:MM, "
              "e.g. \"22:00\"");
  check_error(__LINE__, HEAD RB "windows: {weekly: [{days: [Sat], duration: 6h}]}\n",
              "s.yaml:3:20: windows.weekly[1]: key 'start' is missing");
  check_error(__LINE__, HEAD RB "windows: {weekly: [{days: [Sat], start: '22:00', length: 6h}]}\n",
              "s.yaml:3:50: windows.weekly[1]: unknown key 'length' (expected one of: days, "
              "start, duration)");
  check_error(__LINE__, HEAD RB "windows: {weekly: []}\n",
              "s.yaml:3:19: windows.weekly is empty: list a window or remove the key");
  check_error(__LINE__, HEAD RB "windows: {daily: []}\n",
              "s.yaml:3:11: windows: unknown key 'daily' (expected one of: weekly, exclude, "
              "freeze)");
  /* overlaps: two windows, and one window with itself (30h from Sat to Sun) */
  check_error(__LINE__,
              HEAD RB "windows:\n  weekly:\n    - {days: [Sat], start: '22:00', duration: 6h}\n"
                      "    - {days: [Sun], start: '02:00', duration: 2h}\n",
              "s.yaml:6:7: windows.weekly[2]: Sun 02:00 for 2h overlaps windows.weekly[1] (line "
              "5: Sat 22:00 for 6h)");
  check_error(__LINE__,
              HEAD RB
              "windows:\n  weekly:\n    - {days: [Sat, Sun], start: '22:00', duration: 30h}\n",
              "s.yaml:5:7: windows.weekly[1]: its Sat 22:00 window (1d6h) reaches into its Sun "
              "22:00 window: shorten the duration or list fewer days");
  /* across the end of the week: Sat 22:00 + 6h reaches into Sunday 04:00 */
  check_error(__LINE__,
              HEAD RB "windows:\n  weekly:\n    - {days: [Sun], start: '03:00', duration: 1h}\n"
                      "    - {days: [Sat], start: '22:00', duration: 6h}\n",
              "s.yaml:6:7: windows.weekly[2]: Sat 22:00 for 6h overlaps windows.weekly[1] (line "
              "5: Sun 03:00 for 1h)");
  check_error(__LINE__, HEAD RB "windows: {exclude: [2026-02-30]}\n",
              "s.yaml:3:21: windows.exclude[1]: 2026-02-30 is not a date: February 2026 has 28 "
              "days");
  check_error(__LINE__, HEAD RB "windows: {exclude: [2026-13-01]}\n",
              "s.yaml:3:21: windows.exclude[1]: 2026-13-01 has no month 13");
  check_error(__LINE__, HEAD RB "windows: {exclude: [24.12.2026]}\n",
              "s.yaml:3:21: windows.exclude[1]: '24.12.2026' is not a date: expected YYYY-MM-DD, "
              "e.g. 2026-12-24");
  check_error(__LINE__, HEAD RB "windows: {exclude: 2026-12-24}\n",
              "s.yaml:3:20: windows.exclude must be a list, not a string");
  check_error(__LINE__, HEAD RB "windows: {freeze: [{from: 2026-12-20, to: 2026-12-01}]}\n",
              "s.yaml:3:43: windows.freeze[1]: the freeze ends (2026-12-01) before it starts "
              "(2026-12-20)");
  check_error(__LINE__, HEAD RB "windows: {freeze: [{from: 2026-12-20}]}\n",
              "s.yaml:3:20: windows.freeze[1]: key 'to' is missing");
  check_error(__LINE__, HEAD RB "windows: {freeze: [{from: 2026-12-20, until: 2027-01-03}]}\n",
              "s.yaml:3:39: windows.freeze[1]: unknown key 'until' (expected one of: from, to, "
              "reason)");
  check_error(__LINE__, HEAD RB "windows: {freeze: [{<<: {from: 2026-12-20}, to: 2027-01-03}]}\n",
              "s.yaml:3:21: windows.freeze[1]: merge keys (<<) are not supported in a schedule "
              "file");
}

/* ---- windows --------------------------------------------------------------------------------- */

static void test_windows(void) {
  static const char text[] =
      "timezone: Europe/Berlin\n"
      "cluster: {context: prod}\n"
      "windows:\n"
      "  weekly:\n"
      "    - {days: [Sat], start: '22:00', duration: 6h}\n"       /* crosses midnight */
      "    - {days: [Tue, Wed], start: '00:00', duration: 24h}\n" /* touching: one 48h window */
      "  exclude: [2026-12-13]\n"                                 /* the Sunday of a window */
      "  freeze: [{from: 2026-12-20, to: 2027-01-03, reason: year-end freeze}]\n"
      "runbooks: [{name: a, playbook: a.lua, cron: '@hourly'}]\n";
  static const struct {
    const char *at;
    int inside;
    const char *start, *end; /* the window holding `at`, or the next one */
  } cases[] = {
      /* Sat 2026-12-05 22:00 CET = 21:00Z to Sun 04:00 CET = 03:00Z */
      {"2026-12-05T20:59Z", 0, "2026-12-05T21:00Z", "2026-12-06T03:00Z"},
      {"2026-12-05T21:00Z", 1, "2026-12-05T21:00Z", "2026-12-06T03:00Z"},
      {"2026-12-05T23:30Z", 1, "2026-12-05T21:00Z", "2026-12-06T03:00Z"}, /* after midnight */
      {"2026-12-06T02:59:59Z", 1, "2026-12-05T21:00Z", "2026-12-06T03:00Z"},
      {"2026-12-06T03:00Z", 0, "2026-12-07T23:00Z", "2026-12-09T23:00Z"}, /* Tue+Wed joined */
      {"2026-12-08T12:00Z", 1, "2026-12-07T23:00Z", "2026-12-09T23:00Z"},
      {"2026-12-09T22:00Z", 1, "2026-12-07T23:00Z", "2026-12-09T23:00Z"},
      /* Sunday 2026-12-13 is excluded: that Saturday's window ends at midnight */
      {"2026-12-12T22:00Z", 1, "2026-12-12T21:00Z", "2026-12-12T23:00Z"},
      {"2026-12-12T23:00Z", 0, "2026-12-14T23:00Z", "2026-12-16T23:00Z"},
      /* the freeze (Dec 20 to Jan 3, both included) cuts the Saturday of Dec 19 at midnight and
       * removes everything up to Jan 4 00:00 CET; Jan 4 is a Monday, so the next window is
       * Tue Jan 5 */
      {"2026-12-19T22:30Z", 1, "2026-12-19T21:00Z", "2026-12-19T23:00Z"},
      {"2026-12-19T23:00Z", 0, "2027-01-04T23:00Z", "2027-01-06T23:00Z"},
      {"2027-01-02T21:30Z", 0, "2027-01-04T23:00Z", "2027-01-06T23:00Z"},
      /* DST, fall back: Sat 2026-10-24 22:00 CEST = 20:00Z to Sun 04:00 CET = 03:00Z (7 hours) */
      {"2026-10-25T02:59Z", 1, "2026-10-24T20:00Z", "2026-10-25T03:00Z"},
      {"2026-10-25T03:00Z", 0, "2026-10-26T23:00Z", "2026-10-28T23:00Z"},
      /* spring forward: Sat 2026-03-28 22:00 CET = 21:00Z to Sun 04:00 CEST = 02:00Z (5 hours);
       * the next, Tue+Wed in summer time, from Mon 22:00Z */
      {"2026-03-29T01:59Z", 1, "2026-03-28T21:00Z", "2026-03-29T02:00Z"},
      {"2026-03-29T02:00Z", 0, "2026-03-30T22:00Z", "2026-04-01T22:00Z"},
  };
  vr_schedule *s = parse(text);
  size_t i;
  if (s == NULL) return;
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    vr_window w;
    int64_t t = utc(cases[i].at);
    int inside = vr_schedule_window_at(s, t, &w);
    CHECK(inside == cases[i].inside);
    if (!inside) {
      CHECK(w.start == 0 && w.end == 0);
      CHECK(vr_schedule_time_left(s, t) == 0);
      CHECK(vr_schedule_next_window(s, t, &w) == 1);
    } else {
      CHECK(vr_schedule_time_left(s, t) == utc(cases[i].end) - t);
    }
    CHECK_STR(iso(w.start), cases[i].start);
    CHECK_STR(iso(w.end), cases[i].end);
    if (strcmp(iso(w.start), cases[i].start) != 0 || strcmp(iso(w.end), cases[i].end) != 0)
      fprintf(stderr, "  at %s\n", cases[i].at);
  }
  {
    vr_window w;
    const vr_freeze *f;
    const vr_exclusion *e;
    /* inside a window, the next window is the one after it */
    CHECK(vr_schedule_next_window(s, utc("2026-12-05T23:00Z"), &w) == 1);
    CHECK_STR(iso(w.start), "2026-12-07T23:00Z");
    CHECK(vr_schedule_blocked(s, utc("2026-12-12T23:00Z"), &f, &e) == 1 && f == NULL &&
          e == &s->excluded[0]);
    CHECK(vr_schedule_blocked(s, utc("2027-01-03T22:59Z"), &f, &e) == 1 && f == &s->freezes[0] &&
          e == NULL);
    CHECK(vr_schedule_blocked(s, utc("2027-01-03T23:00Z"), &f, &e) == 0 && f == NULL && e == NULL);
    CHECK(vr_schedule_blocked(s, utc("2026-12-19T22:59Z"), NULL, NULL) == 0);
  }
  vr_schedule_free(s);

  /* always open (every day, 24h, touching): the window runs to the horizon; a window that
   * starts at a skipped local time opens at the jump */
  {
    static const char always[] =
        "cluster: {context: prod}\n"
        "windows: {weekly: [{days: [Mon, Tue, Wed, Thu, Fri, Sat, Sun], start: '00:00', "
        "duration: 24h}]}\n" RB;
    static const char gap[] =
        "timezone: Europe/Berlin\n"
        "cluster: {context: prod}\n"
        "windows: {weekly: [{days: [Sun], start: '02:30', duration: 1h}]}\n" RB;
    vr_window w;
    int64_t t = utc("2026-06-01T12:00Z");
    s = parse(always);
    if (s == NULL) return;
    CHECK(vr_schedule_window_at(s, t, &w) == 1);
    CHECK(w.start == t - VR_SCHEDULE_HORIZON_S && w.end == t + VR_SCHEDULE_HORIZON_S);
    CHECK(vr_schedule_next_window(s, t, &w) == 0);
    vr_schedule_free(s);
    s = parse(gap);
    if (s == NULL) return;
    CHECK(vr_schedule_next_window(s, utc("2026-03-28T12:00Z"), &w) == 1);
    CHECK_STR(iso(w.start), "2026-03-29T01:00Z");
    CHECK_STR(iso(w.end), "2026-03-29T01:30Z"); /* 03:30 CEST: the end is on the wall clock */
    vr_schedule_free(s);
    /* in Berlin too: the day of 25 hours and the day of 23 leave no gap between the days */
    s = parse("timezone: Europe/Berlin\n"
              "cluster: {context: prod}\n"
              "windows: {weekly: [{days: [Mon, Tue, Wed, Thu, Fri, Sat, Sun], start: '00:00', "
              "duration: 24h}]}\n" RB);
    if (s == NULL) return;
    t = utc("2027-10-31T12:00Z");
    CHECK(vr_schedule_window_at(s, t, &w) == 1);
    CHECK(w.start == t - VR_SCHEDULE_HORIZON_S && w.end == t + VR_SCHEDULE_HORIZON_S);
    vr_schedule_free(s);
  }
}

/* Windows by brute force: the occurrences and blocked intervals of a random schedule listed
 * around a DST change; whether an instant is open; and, since openness changes only at their
 * edges, each window found by scanning the sorted edges (not by following chains of openings as
 * schedule.c does). */
typedef struct brute_windows {
  int64_t occ[400][2], blocked[8][2], edges[820];
  int nocc, nblocked, nedges;
} brute_windows;

static int brute_open(const brute_windows *b, int64_t t) {
  int i, in = 0;
  for (i = 0; i < b->nblocked; i++)
    if (b->blocked[i][0] <= t && t < b->blocked[i][1]) return 0;
  for (i = 0; i < b->nocc && !in; i++) in = b->occ[i][0] <= t && t < b->occ[i][1];
  return in;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

static void brute_build(brute_windows *b, const vr_schedule *s, int64_t base_day) {
  int64_t day;
  size_t i;
  b->nocc = b->nblocked = b->nedges = 0;
  for (day = base_day - 20; day <= base_day + 20; day++)
    for (i = 0; i < s->nweekly; i++) {
      int64_t local = day * 86400 + s->weekly[i].start * 60;
      if (!(s->weekly[i].days >> vr_weekday(day) & 1) || b->nocc == 400) continue;
      b->occ[b->nocc][0] = vr_tz_utc(s->tz, local);
      b->occ[b->nocc++][1] = vr_tz_utc(s->tz, local + s->weekly[i].duration);
    }
  for (i = 0; i < s->nexcluded; i++, b->nblocked++) {
    b->blocked[b->nblocked][0] = vr_tz_utc(s->tz, s->excluded[i].day * 86400);
    b->blocked[b->nblocked][1] = vr_tz_utc(s->tz, (s->excluded[i].day + 1) * 86400);
  }
  for (i = 0; i < s->nfreezes; i++, b->nblocked++) {
    b->blocked[b->nblocked][0] = vr_tz_utc(s->tz, s->freezes[i].from * 86400);
    b->blocked[b->nblocked][1] = vr_tz_utc(s->tz, (s->freezes[i].to + 1) * 86400);
  }
  for (i = 0; i < (size_t)b->nocc; i++) {
    b->edges[b->nedges++] = b->occ[i][0];
    b->edges[b->nedges++] = b->occ[i][1];
  }
  for (i = 0; i < (size_t)b->nblocked; i++) {
    b->edges[b->nedges++] = b->blocked[i][0];
    b->edges[b->nedges++] = b->blocked[i][1];
  }
  qsort(b->edges, (size_t)b->nedges, sizeof b->edges[0], cmp_i64);
}

/* The window holding t (open): from the last edge at or before t after which it is open all
 * the way, to the first edge after t where it closes. */
static void brute_window(const brute_windows *b, int64_t t, int64_t *start, int64_t *end) {
  int i;
  *start = *end = VR_NEVER;
  for (i = 0; i < b->nedges; i++)
    if (b->edges[i] > t && !brute_open(b, b->edges[i])) {
      *end = b->edges[i];
      break;
    }
  for (i = b->nedges - 1; i >= 0; i--)
    if (b->edges[i] <= t && !brute_open(b, b->edges[i] - 1)) {
      *start = b->edges[i];
      break;
    }
}

static void test_windows_brute_force(void) {
  static const struct {
    const char *zone, *at;
  } around[] = {{"Europe/Berlin", "2026-03-29T01:00Z"},
                {"Europe/Berlin", "2026-10-25T01:00Z"},
                {"America/New_York", "2026-03-08T07:00Z"},
                {"America/New_York", "2026-11-01T06:00Z"},
                {"UTC", "2026-06-15T00:00Z"}};
  static brute_windows b;
  int n, k, bad = 0, samples = 0, inside_samples = 0;
  for (n = 0; n < 200; n++) {
    char text[2048], date[16], date2[16];
    int64_t at, base_day;
    size_t o;
    int w, nw = 1 + rnd(2), e;
    vr_schedule *s;
    vr_schedule_error err;
    k = rnd(5);
    at = utc(around[k].at);
    base_day = vr_floor_div(at, 86400);
    o = (size_t)snprintf(text, sizeof text,
                         "timezone: %s\ncluster: {context: x}\nwindows:\n"
                         "  weekly:\n",
                         around[k].zone);
    for (w = 0; w < nw; w++) {
      int days = 1 + rnd(127), d, first = 1;
      o += (size_t)snprintf(text + o, sizeof text - o, "    - {days: [");
      for (d = 0; d < 7; d++)
        if (days >> d & 1) {
          static const char *const names[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
          o += (size_t)snprintf(text + o, sizeof text - o, "%s%s", first ? "" : ", ", names[d]);
          first = 0;
        }
      /* a quarter of them whole days (00:00 for 24h), which join into longer windows */
      e = rnd(4) == 0 ? 0 : rnd(48) * 30;
      o += (size_t)snprintf(text + o, sizeof text - o, "], start: '%02d:%02d', duration: %dm}\n",
                            e / 60, e % 60, e == 0 ? 1440 : 30 * (1 + rnd(48)));
    }
    o += (size_t)snprintf(text + o, sizeof text - o, "  exclude: [");
    for (e = rnd(3); e > 0; e--) {
      {
        int64_t y;
        int m, d;
        vr_civil_from_days(base_day - 8 + rnd(16), &y, &m, &d);
        snprintf(date, sizeof date, "%04lld-%02d-%02d", (long long)y, m, d);
      }
      o += (size_t)snprintf(text + o, sizeof text - o, "%s%s", date, e > 1 ? ", " : "");
    }
    o += (size_t)snprintf(text + o, sizeof text - o, "]\n  freeze: [");
    if (rnd(2)) {
      int64_t from = base_day - 8 + rnd(16), y;
      int m, d;
      vr_civil_from_days(from, &y, &m, &d);
      snprintf(date, sizeof date, "%04lld-%02d-%02d", (long long)y, m, d);
      vr_civil_from_days(from + rnd(3), &y, &m, &d);
      snprintf(date2, sizeof date2, "%04lld-%02d-%02d", (long long)y, m, d);
      o += (size_t)snprintf(text + o, sizeof text - o, "{from: %s, to: %s}", date, date2);
    }
    snprintf(text + o, sizeof text - o, "]\n" RB);
    if ((s = vr_schedule_parse(text, strlen(text), "s.yaml", &err)) == NULL) continue;
    brute_build(&b, s, base_day);
    for (e = 0; e < 25; e++) {
      int64_t t = at + (int64_t)(rnd(14 * 1440) - 7 * 1440) * 60, bs, be;
      vr_window win;
      int inside = vr_schedule_window_at(s, t, &win), want = brute_open(&b, t);
      samples++;
      if (inside != want) {
        if (bad++ < 5)
          fprintf(stderr, "  at %s: inside %d, brute force %d\n%s", iso(t), inside, want, text);
        continue;
      }
      if (inside) {
        inside_samples++;
        brute_window(&b, t, &bs, &be);
        if (vr_schedule_time_left(s, t) != win.end - t) bad++;
      } else {
        int i, found = vr_schedule_next_window(s, t, &win);
        bs = be = VR_NEVER;
        for (i = 0; i < b.nedges; i++)
          if (b.edges[i] > t && brute_open(&b, b.edges[i])) {
            bs = b.edges[i];
            brute_window(&b, bs, &bs, &be);
            break;
          }
        if (bs == VR_NEVER || bs > at + 10 * 86400) continue; /* beyond what is listed */
        if (!found) bad++;
      }
      /* only where the brute-force lists reach */
      if (bs < at - 12 * 86400 || be == VR_NEVER || be > at + 12 * 86400) continue;
      if (win.start != bs || win.end != be)
        if (bad++ < 5)
          fprintf(stderr, "  at %s (inside %d): %s to %s, brute force %s to %s\n%s", iso(t), inside,
                  iso(win.start), iso(win.end), iso(bs), iso(be), text);
    }
    vr_schedule_free(s);
  }
  CHECK(bad == 0);
  CHECK(samples > 1000);
  CHECK(inside_samples > 200);
}

/* ---- runs ------------------------------------------------------------------------------------ */

static void test_runs(void) {
  static const char text[] =
      "timezone: Europe/Berlin\n"
      "cluster: {context: prod}\n"
      "windows:\n"
      "  weekly: [{days: [Sat], start: '22:00', duration: 6h}]\n"
      "  exclude: [2027-01-16]\n"
      "  freeze: [{from: 2026-12-20, to: 2027-01-03, reason: year-end freeze}]\n"
      "runbooks:\n"
      "  - {name: weekly, playbook: a.lua, cron: '0 23 * * 6'}\n"  /* in the window */
      "  - {name: nightly, playbook: b.lua, cron: '30 3 * * *'}\n" /* mostly outside */
      "  - {name: audit, playbook: c.lua, cron: '0 23 * * 6', window: false}\n"
      "  - {name: leap, playbook: d.lua, cron: '0 22 29 2 *'}\n";
  static const struct {
    const char *runbook, *cron_time, *start, *window_end;
    vr_skip skipped;
  } expected[] = {
      /* Sat 2026-12-12 23:00 CET = 22:00Z, its window ends Sun 04:00 CET = 03:00Z */
      {"weekly", "2026-12-12T22:00Z", "2026-12-12T22:00Z", "2026-12-13T03:00Z", VR_SKIP_NONE},
      {"audit", "2026-12-12T22:00Z", "2026-12-12T22:00Z", "never", VR_SKIP_NONE},
      /* nightly 03:30: only Sunday's falls inside the window */
      {"nightly", "2026-12-13T02:30Z", "2026-12-13T02:30Z", "2026-12-13T03:00Z", VR_SKIP_NONE},
      /* the freeze (from Sunday Dec 20 00:00) cuts the window of Saturday Dec 19 at 23:00Z */
      {"weekly", "2026-12-19T22:00Z", "2026-12-19T22:00Z", "2026-12-19T23:00Z", VR_SKIP_NONE},
      {"audit", "2026-12-19T22:00Z", "2026-12-19T22:00Z", "never", VR_SKIP_NONE},
      {"weekly", "2026-12-26T22:00Z", "2027-01-09T22:00Z", "2027-01-10T03:00Z", VR_SKIP_FROZEN},
      {"audit", "2026-12-26T22:00Z", "2027-01-09T22:00Z", "never", VR_SKIP_FROZEN},
      /* Monday's 03:30 is outside; Sunday Dec 20's is frozen: the next is Jan 10 */
      {"nightly", "2026-12-14T02:30Z", "2027-01-10T02:30Z", "2027-01-10T03:00Z",
       VR_SKIP_OUTSIDE_WINDOW},
      /* Saturday Jan 16 is excluded: Sunday's window opens at its midnight (23:00Z) */
      {"nightly", "2027-01-11T02:30Z", "2027-01-17T02:30Z", "2027-01-17T03:00Z",
       VR_SKIP_OUTSIDE_WINDOW},
  };
  vr_schedule_run runs[16];
  vr_schedule *s = parse(text);
  size_t n, i;
  if (s == NULL) return;
  n = vr_schedule_next_runs(s, utc("2026-12-12T12:00Z"), 9, runs);
  CHECK(n == 9);
  for (i = 0; i < n && i < sizeof expected / sizeof expected[0]; i++) {
    const char *end = runs[i].window.end != 0 ? iso(runs[i].window.end) : "never";
    CHECK_STR(runs[i].runbook->name, expected[i].runbook);
    CHECK_STR(iso(runs[i].cron_time), expected[i].cron_time);
    CHECK_STR(iso(runs[i].start), expected[i].start);
    CHECK_STR(end, expected[i].window_end);
    CHECK(runs[i].skipped == expected[i].skipped);
    if (runs[i].skipped != expected[i].skipped)
      fprintf(stderr, "  run %zu skipped %s\n", i + 1, vr_skip_name(runs[i].skipped));
  }
  CHECK(runs[5].freeze == &s->freezes[0] && runs[5].exclusion == NULL);
  CHECK(runs[5].skipped_all == 1u << VR_SKIP_FROZEN);
  /* nightly from Dec 14: outside the window until Sunday Dec 20, which is frozen */
  CHECK(runs[7].skipped_all == (1u << VR_SKIP_OUTSIDE_WINDOW | 1u << VR_SKIP_FROZEN));
  CHECK(runs[7].freeze == &s->freezes[0]);
  CHECK(runs[0].skipped_all == 0 && runs[0].freeze == NULL);
  CHECK_STR(vr_skip_name(VR_SKIP_OUTSIDE_WINDOW), "outside window");
  CHECK_STR(vr_skip_name(VR_SKIP_NONE), "");

  /* the excluded Saturday 2027-01-16: skipped for both the window runbook and the other */
  {
    vr_schedule_run run;
    CHECK(vr_schedule_next_run(s, &s->runbooks[0], utc("2027-01-14T00:00Z"), &run) == 1);
    CHECK_STR(iso(run.cron_time), "2027-01-16T22:00Z");
    CHECK_STR(iso(run.start), "2027-01-23T22:00Z");
    CHECK(run.skipped == VR_SKIP_EXCLUDED && run.exclusion == &s->excluded[0]);
    CHECK(vr_schedule_next_run(s, &s->runbooks[2], utc("2027-01-14T00:00Z"), &run) == 1);
    CHECK(run.skipped == VR_SKIP_EXCLUDED);
    /* Feb 29 at 22:00 inside a Saturday window: 2048 is the first (22 years out) */
    CHECK(vr_schedule_next_run(s, &s->runbooks[3], utc("2026-01-01T00:00Z"), &run) == 1);
    CHECK_STR(iso(run.cron_time), "2028-02-29T21:00Z");
    CHECK_STR(iso(run.start), "2048-02-29T21:00Z");
    CHECK(run.skipped == VR_SKIP_OUTSIDE_WINDOW);
  }
  {
    vr_schedule_error e;
    memset(&e, 0, sizeof e);
    CHECK(vr_schedule_check_runs(s, utc("2026-12-12T12:00Z"), &e) == 0);
  }
  vr_schedule_free(s);

  /* a window runbook whose cron never meets a window */
  {
    static const char never[] = "cluster: {context: prod}\n"
                                "windows: {weekly: [{days: [Sat], start: '22:00', duration: 6h}]}\n"
                                "runbooks:\n"
                                "  - name: noon\n"
                                "    playbook: a.lua\n"
                                "    cron: '0 12 * * 1'\n";
    vr_schedule_error e;
    vr_schedule_run run;
    char buf[1200];
    s = parse(never);
    if (s == NULL) return;
    CHECK(vr_schedule_next_run(s, &s->runbooks[0], utc("2026-01-01T00:00Z"), &run) == 0);
    CHECK(vr_schedule_next_runs(s, utc("2026-01-01T00:00Z"), 5, &run) == 0);
    CHECK(vr_schedule_check_runs(s, utc("2026-01-01T00:00Z"), &e) == -1);
    vr_schedule_error_format(&e, buf, sizeof buf);
    CHECK_STR(buf, "s.yaml:6:11: runbook 'noon' never runs: none of its cron times ('0 12 * * "
                   "1') in the next 50 years falls inside a window that is not frozen or "
                   "excluded");
    vr_schedule_free(s);
  }
}

static void test_load(void) {
  char dir[] = "/tmp/vmrun-schedule-XXXXXX", path[256], buf[1200];
  vr_schedule_error e;
  vr_schedule *s;
  FILE *f;
  if (mkdtemp(dir) == NULL) {
    perror("mkdtemp");
    check_failures++;
    return;
  }
  snprintf(path, sizeof path, "%s/ops.yaml", dir);
  CHECK(vr_schedule_load(path, &e) == NULL);
  vr_schedule_error_format(&e, buf, sizeof buf);
  CHECK_CONTAINS(buf, "ops.yaml: cannot read the schedule: No such file or directory");
  f = fopen(path, "w");
  if (f != NULL) {
    fputs(example, f);
    fclose(f);
  }
  s = vr_schedule_load(path, &e);
  CHECK(s != NULL);
  if (s != NULL) {
    snprintf(buf, sizeof buf, "%s/playbooks/rolling-maintenance.lua", dir);
    CHECK_STR(s->runbooks[0].playbook_path, buf);
  }
  vr_schedule_free(s);
  CHECK(vr_schedule_load(dir, &e) == NULL);
  CHECK_CONTAINS(e.message, "it is a folder");
  unlink(path);
  rmdir(dir);
}

int main(void) {
  unsetenv("TZDIR");
  test_calendar();
  test_zones();
  test_cron_parse();
  test_cron_next();
  test_cron_brute_force();
  test_file();
  test_file_errors();
  test_file_mutations();
  test_windows();
  test_windows_brute_force();
  test_runs();
  test_load();
  return CHECK_DONE();
}
