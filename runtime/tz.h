/* tz.h: IANA time zones ("Europe/Berlin") read from the system's TZif files (tzfile(5), RFC
 * 8536: the 64-bit transitions, then the POSIX TZ rule of the footer for later times), and the
 * conversions between UTC instants and local wall-clock times that vmrun's schedules need. Also
 * the proleptic Gregorian calendar helpers they use.
 *
 * A zone is an immutable value: conversions never touch the process's TZ variable, tzset() or
 * localtime(), so they are safe from any thread. Loading reads one file under $TZDIR (default
 * /usr/share/zoneinfo); nothing else does I/O. Zone files with leap seconds ("right/...") are
 * refused.
 *
 * Times are int64 seconds. An instant is seconds since 1970-01-01T00:00:00Z (POSIX time); a local
 * time is the wall-clock reading written as seconds since 1970-01-01T00:00:00 on that wall clock
 * (local = instant + the UTC offset in effect). */
#ifndef VMRUN_TZ_H
#define VMRUN_TZ_H

#include <stddef.h>
#include <stdint.h>

typedef struct vr_tz vr_tz;

typedef struct vr_tz_info {
  int offset;    /* seconds east of UTC */
  int is_dst;    /* daylight saving time in effect */
  char abbr[16]; /* "CET", "CEST", "EST", "+03" */
} vr_tz_info;

/* Loads a zone by its IANA name. NULL, "" and "UTC" give the built-in UTC (no file). Returns
 * NULL with a message in err (no file name or line: the caller adds them): an invalid name, an
 * unknown zone, or a file that is not a valid TZif file of version 2 or later. */
vr_tz *vr_tz_load(const char *name, char *err, size_t errlen);
void vr_tz_free(vr_tz *tz);
const char *vr_tz_name(const vr_tz *tz);

/* The UTC offset, DST flag and abbreviation in effect at instant t (info may be NULL). Returns
 * the offset. */
int vr_tz_info_at(const vr_tz *tz, int64_t t, vr_tz_info *info);
/* The local (wall-clock) time at instant t. */
int64_t vr_tz_local(const vr_tz *tz, int64_t t);

/* The instants whose wall clock reads local. Returns 1 (one instant, *first), 2 (a repeated
 * time after the clocks went back: *first < *second), or 0 for a time that the clocks skip when
 * they go forward: *first then receives the instant of that change (second may be NULL). */
int vr_tz_resolve(const vr_tz *tz, int64_t local, int64_t *first, int64_t *second);
/* The instant vmrun uses for a local time: the only one, the first of a repeated time, or the
 * instant the clocks jump for a skipped time (see docs/schedule.md). Non-decreasing in local. */
int64_t vr_tz_utc(const vr_tz *tz, int64_t local);

/* ---- the calendar (proleptic Gregorian; days since 1970-01-01) ---- */
int64_t vr_days_from_civil(int64_t year, int month, int day);
void vr_civil_from_days(int64_t days, int64_t *year, int *month, int *day);
int vr_weekday(int64_t days); /* 0 Sunday ... 6 Saturday */
int vr_days_in_month(int64_t year, int month);
int64_t vr_floor_div(int64_t a, int64_t b); /* rounds toward minus infinity; b > 0 */

#endif
