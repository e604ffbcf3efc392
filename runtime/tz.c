/* tz.c: IANA time zones from TZif files and local/UTC conversions (see tz.h). The zone keeps the
 * file's 64-bit transition table and the POSIX TZ rule of its footer, which decides times after
 * the last transition (slim zone files end their table early; fat ones near 2037).
 *
 * It may not call tzset(), localtime() or mktime(), or change the process's environment: a zone
 * is read once and is immutable after. The only I/O is reading the zone's file. */
#include "tz.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "luaval.h"

#define TZ_MAX_FILE    (1u << 20) /* a zone file larger than this is refused */
#define TZ_MAX_TYPES   256
#define TZ_MAX_OFFSET  93599 /* RFC 8536: -89999 <= utoff <= 93599 */
#define TZ_MIN_OFFSET  (-89999)
#define TZ_RESOLVE_PAD (2 * 86400) /* wider than any UTC offset */

typedef struct tz_type {
  int32_t offset;
  int is_dst;
  char abbr[16];
} tz_type;

/* One date of a POSIX rule: Jn (1..365, never Feb 29), n (0..365) or Mm.w.d. */
typedef struct tz_date {
  char kind; /* 'J', 'D' or 'M' */
  int a, b, c;
  int32_t time; /* seconds after local midnight (may be negative or past 24h) */
} tz_date;

typedef struct tz_rule {
  tz_type std, dst;
  int has_dst;
  tz_date start, end;
} tz_rule;

struct vr_tz {
  char *name;
  size_t ntrans;
  int64_t *trans; /* ascending */
  unsigned char *trans_type;
  size_t ntypes;
  tz_type *types;
  int has_rule; /* a footer rule decides times from the last transition on */
  tz_rule rule;
};

/* ---- the calendar ---------------------------------------------------------------------------- */

int64_t vr_floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* Howard Hinnant's days_from_civil / civil_from_days. */
int64_t vr_days_from_civil(int64_t year, int month, int day) {
  int64_t y = month <= 2 ? year - 1 : year;
  int64_t era = vr_floor_div(y, 400);
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void vr_civil_from_days(int64_t days, int64_t *year, int *month, int *day) {
  int64_t z = days + 719468;
  int64_t era = vr_floor_div(z, 146097);
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *day = (int)(doy - (153 * mp + 2) / 5 + 1);
  *month = m;
  *year = yoe + era * 400 + (m <= 2);
}

int vr_weekday(int64_t days) {
  int64_t r = (days + 4) % 7; /* 1970-01-01 was a Thursday */
  return (int)(r < 0 ? r + 7 : r);
}

static int is_leap(int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int vr_days_in_month(int64_t year, int month) {
  static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && is_leap(year) ? 29 : dim[month - 1];
}

/* ---- POSIX TZ rules (the TZif footer) -------------------------------------------------------- */

static const char *parse_abbr(const char *p, char out[16]) {
  size_t n = 0;
  if (*p == '<') {
    p++;
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
           *p == '+' || *p == '-') {
      if (n < 15) out[n] = *p;
      n++;
      p++;
    }
    if (*p != '>') return NULL;
    p++;
  } else {
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')) {
      if (n < 15) out[n] = *p;
      n++;
      p++;
    }
  }
  if (n < 3 || n > 15) return NULL;
  out[n] = '\0';
  return p;
}

/* [+-]hh[:mm[:ss]] with hh <= max_hours. */
static const char *parse_hms(const char *p, int max_hours, int32_t *secs) {
  int sign = 1, part = 0, v[3] = {0, 0, 0};
  if (*p == '+' || *p == '-') sign = *p++ == '-' ? -1 : 1;
  for (;;) {
    int digits = 0;
    while (*p >= '0' && *p <= '9' && digits < 3) v[part] = v[part] * 10 + (*p++ - '0'), digits++;
    if (digits == 0) return NULL;
    if (part > 0 && v[part] > 59) return NULL;
    if (++part == 3 || *p != ':') break;
    p++;
  }
  if (v[0] > max_hours) return NULL;
  *secs = sign * (v[0] * 3600 + v[1] * 60 + v[2]);
  return p;
}

static const char *parse_num(const char *p, int lo, int hi, int *out) {
  int v = 0, digits = 0;
  while (*p >= '0' && *p <= '9' && digits < 4) v = v * 10 + (*p++ - '0'), digits++;
  if (digits == 0 || v < lo || v > hi) return NULL;
  *out = v;
  return p;
}

static const char *parse_date(const char *p, tz_date *d) {
  d->a = d->b = d->c = 0;
  if (*p == 'J') {
    d->kind = 'J';
    p = parse_num(p + 1, 1, 365, &d->a);
  } else if (*p == 'M') {
    d->kind = 'M';
    if ((p = parse_num(p + 1, 1, 12, &d->a)) == NULL || *p++ != '.') return NULL;
    if ((p = parse_num(p, 1, 5, &d->b)) == NULL || *p++ != '.') return NULL;
    p = parse_num(p, 0, 6, &d->c);
  } else {
    d->kind = 'D';
    p = parse_num(p, 0, 365, &d->a);
  }
  if (p == NULL) return NULL;
  d->time = 2 * 3600;
  if (*p == '/') p = parse_hms(p + 1, 167, &d->time); /* TZif v3 allows -167..167 hours */
  return p;
}

/* "CET-1CEST,M3.5.0,M10.5.0/3"; the empty string is no rule. Returns 0, or -1 when invalid. */
static int parse_rule(const char *s, tz_rule *r, int *has_rule) {
  const char *p = s;
  int32_t off;
  memset(r, 0, sizeof *r);
  *has_rule = 0;
  if (*s == '\0') return 0;
  if ((p = parse_abbr(p, r->std.abbr)) == NULL || (p = parse_hms(p, 24, &off)) == NULL) return -1;
  r->std.offset = -off; /* POSIX offsets count west of Greenwich */
  *has_rule = 1;
  if (*p == '\0') return 0;
  if ((p = parse_abbr(p, r->dst.abbr)) == NULL) return -1;
  r->dst.is_dst = 1;
  r->dst.offset = r->std.offset + 3600;
  if (*p != ',' && *p != '\0') {
    if ((p = parse_hms(p, 24, &off)) == NULL) return -1;
    r->dst.offset = -off;
  }
  /* a zone file always gives the dates; POSIX leaves them to the implementation otherwise */
  if (*p++ != ',' || (p = parse_date(p, &r->start)) == NULL || *p++ != ',' ||
      (p = parse_date(p, &r->end)) == NULL || *p != '\0')
    return -1;
  r->has_dst = 1;
  return 0;
}

static int64_t rule_day(const tz_date *d, int64_t year) {
  int64_t jan1 = vr_days_from_civil(year, 1, 1), first, day;
  if (d->kind == 'J') return jan1 + d->a - 1 + (is_leap(year) && d->a >= 60);
  if (d->kind == 'D') return jan1 + d->a;
  first = vr_days_from_civil(year, d->a, 1);
  day = first + (d->c - vr_weekday(first) + 7) % 7 + 7 * (d->b - 1);
  while (day >= first + vr_days_in_month(year, d->a)) day -= 7;
  return day;
}

/* The rule's two changes in a year: to DST (its time is in standard time) and back. */
static void rule_changes(const tz_rule *r, int64_t year, int64_t *to_dst, int64_t *to_std) {
  *to_dst = rule_day(&r->start, year) * 86400 + r->start.time - r->std.offset;
  *to_std = rule_day(&r->end, year) * 86400 + r->end.time - r->dst.offset;
}

static int64_t year_of(int64_t t) {
  int64_t y;
  int m, d;
  vr_civil_from_days(vr_floor_div(t, 86400), &y, &m, &d);
  return y;
}

static const tz_type *rule_type_at(const tz_rule *r, int64_t t) {
  int64_t y = year_of(t), yy, best = INT64_MIN;
  const tz_type *type = &r->std;
  if (!r->has_dst) return type;
  /* the latest change at or before t; on a tie the later year's change wins, so that a rule of
   * all-year DST (to DST on Jan 1, back at 25:00 on Dec 31) stays in DST */
  for (yy = y - 1; yy <= y + 1; yy++) {
    int64_t s, e;
    rule_changes(r, yy, &s, &e);
    if (s <= t && s >= best) best = s, type = &r->dst;
    if (e <= t && e >= best) best = e, type = &r->std;
  }
  return type;
}

/* The first change of the rule after t; 0 when it has none. */
static int rule_next_change(const tz_rule *r, int64_t t, int64_t *when) {
  int64_t y = year_of(t), yy, best = INT64_MAX;
  if (!r->has_dst) return 0;
  for (yy = y - 1; yy <= y + 2; yy++) {
    int64_t s, e;
    rule_changes(r, yy, &s, &e);
    if (s > t && s < best) best = s;
    if (e > t && e < best) best = e;
  }
  *when = best;
  return 1;
}

/* ---- lookups --------------------------------------------------------------------------------- */

static const tz_type utc_type = {0, 0, "UTC"};

/* The index of the last transition at or before t, or -1. */
static long last_at_or_before(const vr_tz *tz, int64_t t) {
  size_t lo = 0, hi = tz->ntrans;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (tz->trans[mid] <= t)
      lo = mid + 1;
    else
      hi = mid;
  }
  return (long)lo - 1;
}

static const tz_type *type_at(const vr_tz *tz, int64_t t) {
  long i;
  if (tz->ntypes == 0 && !tz->has_rule) return &utc_type;
  if (tz->ntrans > 0 && t >= tz->trans[tz->ntrans - 1] && tz->has_rule)
    return rule_type_at(&tz->rule, t);
  if (tz->ntrans == 0) return tz->has_rule ? rule_type_at(&tz->rule, t) : &tz->types[0];
  i = last_at_or_before(tz, t);
  return i < 0 ? &tz->types[0] : &tz->types[tz->trans_type[i]];
}

/* The first instant after t where the zone's type may change; 0 when there is none. */
static int next_change(const vr_tz *tz, int64_t t, int64_t *when) {
  if (tz->ntrans > 0 && t < tz->trans[tz->ntrans - 1]) {
    *when = tz->trans[last_at_or_before(tz, t) + 1];
    return 1;
  }
  return tz->has_rule ? rule_next_change(&tz->rule, t, when) : 0;
}

int vr_tz_info_at(const vr_tz *tz, int64_t t, vr_tz_info *info) {
  const tz_type *type = tz != NULL ? type_at(tz, t) : &utc_type;
  if (info != NULL) {
    info->offset = type->offset;
    info->is_dst = type->is_dst;
    memcpy(info->abbr, type->abbr, sizeof info->abbr);
  }
  return type->offset;
}

int64_t vr_tz_local(const vr_tz *tz, int64_t t) {
  return t + vr_tz_info_at(tz, t, NULL);
}

int vr_tz_resolve(const vr_tz *tz, int64_t local, int64_t *first, int64_t *second) {
  int64_t p = local - TZ_RESOLVE_PAD, end = local + TZ_RESOLVE_PAD, found[2] = {0, 0}, change;
  int n = 0, prev_offset = 0, have_prev = 0;
  if (tz == NULL) {
    *first = local;
    return 1;
  }
  /* walk the stretches of constant offset around local: in each, local - offset is the only
   * candidate; between two, a forward jump over local is where a skipped time goes */
  for (;;) {
    int offset = vr_tz_info_at(tz, p, NULL);
    int more = next_change(tz, p, &change) && change <= end;
    int64_t stop = more ? change : end + 1, t = local - offset;
    if (have_prev && n == 0 && offset > prev_offset && local >= p + prev_offset &&
        local < p + offset) {
      *first = p; /* skipped: the instant the clocks jumped */
      return 0;
    }
    if (t >= p && t < stop && (n == 0 || found[n - 1] != t) && n < 2) found[n++] = t;
    if (!more) break;
    prev_offset = offset;
    have_prev = 1;
    p = change;
  }
  if (n == 0) { /* not reached for valid zones; keep the result defined */
    *first = local - vr_tz_info_at(tz, local, NULL);
    return 1;
  }
  *first = found[0];
  if (n == 2 && second != NULL) *second = found[1];
  return n;
}

int64_t vr_tz_utc(const vr_tz *tz, int64_t local) {
  int64_t first, second;
  vr_tz_resolve(tz, local, &first, &second);
  return first;
}

/* ---- loading --------------------------------------------------------------------------------- */

const char *vr_tz_name(const vr_tz *tz) {
  return tz != NULL ? tz->name : "UTC";
}

void vr_tz_free(vr_tz *tz) {
  if (tz == NULL) return;
  free(tz->name);
  free(tz->trans);
  free(tz->trans_type);
  free(tz->types);
  free(tz);
}

/* Letters, digits, '_', '-', '+' and '.' in '/'-separated parts; no part is empty, "." or "..";
 * so that a name can only ever open a file under the zone folder. */
static int valid_name(const char *name) {
  const char *p = name, *part = name;
  if (strlen(name) > 255) return 0;
  for (;; p++) {
    if (*p == '/' || *p == '\0') {
      size_t n = (size_t)(p - part);
      if (n == 0 || (n == 1 && part[0] == '.') || (n == 2 && part[0] == '.' && part[1] == '.'))
        return 0;
      if (*p == '\0') return 1;
      part = p + 1;
    } else if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                 *p == '_' || *p == '-' || *p == '+' || *p == '.')) {
      return 0;
    }
  }
}

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p) {
  return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

typedef struct tzif_counts {
  uint64_t isut, isstd, leap, time, type, chars;
} tzif_counts;

static int read_header(const unsigned char *p, size_t len, tzif_counts *c, char *version) {
  if (len < 44 || memcmp(p, "TZif", 4) != 0) return -1;
  *version = (char)p[4];
  c->isut = be32(p + 20);
  c->isstd = be32(p + 24);
  c->leap = be32(p + 28);
  c->time = be32(p + 32);
  c->type = be32(p + 36);
  c->chars = be32(p + 40);
  return 0;
}

/* Parses a TZif file of version 2 or later into tz. Returns NULL, or what is wrong. */
static const char *parse_tzif(vr_tz *tz, const unsigned char *p, size_t len) {
  tzif_counts c;
  char version;
  uint64_t skip, need;
  const unsigned char *times, *idx, *types, *chars, *footer, *nl;
  size_t i;
  char rule_text[128];
  if (read_header(p, len, &c, &version) != 0) return "not a TZif zone file";
  if (version < '2') return "a TZif file of version 1, without 64-bit times";
  skip = 44 + c.time * 5 + c.type * 6 + c.chars + c.leap * 8 + c.isstd + c.isut;
  if (skip >= len || read_header(p + skip, len - skip, &c, &version) != 0)
    return "a TZif file cut short";
  p += skip + 44;
  len -= skip + 44;
  need = c.time * 9 + c.type * 6 + c.chars + c.leap * 12 + c.isstd + c.isut;
  if (need > len) return "a TZif file cut short";
  if (c.leap != 0) return "a zone file with leap seconds (use the zone without 'right/')";
  if (c.type == 0 || c.type > TZ_MAX_TYPES || c.chars == 0 || (c.isstd != 0 && c.isstd != c.type) ||
      (c.isut != 0 && c.isut != c.type))
    return "a TZif file with inconsistent counts";
  times = p;
  idx = times + c.time * 8;
  types = idx + c.time;
  chars = types + c.type * 6;
  footer = p + need;
  if (chars[c.chars - 1] != '\0') return "a TZif file with unterminated abbreviations";
  tz->ntrans = (size_t)c.time;
  tz->ntypes = (size_t)c.type;
  tz->trans = malloc(sizeof *tz->trans * (tz->ntrans + 1));
  tz->trans_type = malloc(tz->ntrans + 1);
  tz->types = calloc(tz->ntypes, sizeof *tz->types);
  if (tz->trans == NULL || tz->trans_type == NULL || tz->types == NULL) return "out of memory";
  for (i = 0; i < tz->ntrans; i++) {
    tz->trans[i] = be64(times + i * 8);
    tz->trans_type[i] = idx[i];
    if (idx[i] >= c.type) return "a TZif transition with an unknown type";
    if (i > 0 && tz->trans[i] <= tz->trans[i - 1]) return "TZif transitions out of order";
  }
  for (i = 0; i < tz->ntypes; i++) {
    const unsigned char *t = types + i * 6;
    int32_t off = (int32_t)be32(t);
    if (off < TZ_MIN_OFFSET || off > TZ_MAX_OFFSET || t[4] > 1 || t[5] >= c.chars)
      return "a TZif local time type out of range";
    tz->types[i].offset = off;
    tz->types[i].is_dst = t[4];
    snprintf(tz->types[i].abbr, sizeof tz->types[i].abbr, "%s", (const char *)chars + t[5]);
  }
  len -= (size_t)need;
  if (len < 2 || footer[0] != '\n' || (nl = memchr(footer + 1, '\n', len - 1)) == NULL ||
      (size_t)(nl - footer - 1) >= sizeof rule_text)
    return "a TZif file without its footer";
  memcpy(rule_text, footer + 1, (size_t)(nl - footer - 1));
  rule_text[nl - footer - 1] = '\0';
  if (parse_rule(rule_text, &tz->rule, &tz->has_rule) != 0)
    return "a TZif footer with a POSIX TZ rule vmrun cannot read";
  return NULL;
}

vr_tz *vr_tz_load(const char *name, char *err, size_t errlen) {
  const char *dir = getenv("TZDIR"), *problem;
  char path[4352], msg[4400];
  unsigned char *data = NULL;
  size_t len = 0;
  struct stat st;
  int e;
  vr_tz *tz;
  if (name == NULL || name[0] == '\0' || strcmp(name, "UTC") == 0) name = "UTC";
  tz = calloc(1, sizeof *tz);
  if (tz == NULL || (tz->name = strdup(name)) == NULL) {
    vr_tz_free(tz);
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  if (strcmp(name, "UTC") == 0) return tz;
  if (!valid_name(name)) {
    snprintf(err, errlen, "'%s' is not a time zone name (IANA names look like Europe/Berlin)",
             name);
    vr_tz_free(tz);
    return NULL;
  }
  if (dir == NULL || dir[0] == '\0') dir = "/usr/share/zoneinfo";
  snprintf(path, sizeof path, "%s/%s", dir, name);
  e = stat(path, &st) != 0 ? errno : S_ISREG(st.st_mode) ? 0 : ENOENT; /* "Europe": a folder */
  if (e != 0) {
    if (e == ENOENT || e == ENOTDIR)
      snprintf(err, errlen, "unknown time zone '%s' (no zone file %s)", name, path);
    else
      snprintf(err, errlen, "time zone '%s': cannot read %s: %s", name, path, strerror(e));
    vr_tz_free(tz);
    return NULL;
  }
  if (st.st_size > (off_t)TZ_MAX_FILE ||
      (data = (unsigned char *)vr_read_file(path, &len, msg, sizeof msg)) == NULL) {
    snprintf(err, errlen, "time zone '%s': cannot read %s", name,
             st.st_size > (off_t)TZ_MAX_FILE ? path : msg);
    vr_tz_free(tz);
    return NULL;
  }
  problem = parse_tzif(tz, data, len);
  free(data);
  if (problem != NULL) {
    if (strcmp(problem, "out of memory") == 0)
      snprintf(err, errlen, "out of memory");
    else
      snprintf(err, errlen, "time zone '%s': %s is %s", name, path, problem);
    vr_tz_free(tz);
    return NULL;
  }
  return tz;
}
