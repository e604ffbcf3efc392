/* serve_faults.c: the --faults rules of `vmrun serve` (see serve_faults.h): parsing, and the
 * seeded decision per request. It only decides; kube_api.c carries the fault out. */
#include "serve_faults.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RULES 32

typedef enum rule_type {
  F_ERROR,
  F_LATENCY,
  F_DROP,
  F_CONFLICT,
  F_THROTTLE,
  F_WATCH_CUT
} rule_type;

static const char *const VERBS[] = {"get",   "list",   "watch", "create",    "update",
                                    "patch", "delete", "evict", "discovery", NULL};

typedef struct rule {
  rule_type type;
  unsigned verbs; /* bit i: VERBS[i] */
  double probability;
  int code;
  uint64_t ms;
} rule;

struct vr_serve_faults {
  rule rules[MAX_RULES];
  size_t nrules;
  uint64_t rng;
};

static double next_random(vr_serve_faults *f) {
  uint64_t x = f->rng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  f->rng = x;
  return (double)((x * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

static int parse_probability(const char *s, size_t n, double *p) {
  char buf[32], *end;
  if (n == 0 || n >= sizeof buf) return -1;
  memcpy(buf, s, n);
  buf[n] = '\0';
  *p = strtod(buf, &end);
  return (*end == '\0' && *p >= 0 && *p <= 1) ? 0 : -1;
}

/* "150ms", "2s", "1m", "1.5s" -> ms. */
static int parse_duration(const char *s, size_t n, uint64_t *ms) {
  char buf[32], *end;
  double v;
  if (n == 0 || n >= sizeof buf) return -1;
  memcpy(buf, s, n);
  buf[n] = '\0';
  v = strtod(buf, &end);
  if (end == buf || !(v >= 0 && v < 1e9)) return -1; /* also NaN: no undefined conversion */
  if (strcmp(end, "ms") == 0) {
    *ms = (uint64_t)v;
  } else if (strcmp(end, "s") == 0) {
    *ms = (uint64_t)(v * 1000);
  } else if (strcmp(end, "m") == 0) {
    *ms = (uint64_t)(v * 60000);
  } else {
    return -1;
  }
  return 0;
}

static int parse_int(const char *s, size_t n, long lo, long hi, int *out) {
  char buf[16], *end;
  long v;
  if (n == 0 || n >= sizeof buf) return -1;
  memcpy(buf, s, n);
  buf[n] = '\0';
  v = strtol(buf, &end, 10);
  if (*end != '\0' || v < lo || v > hi) return -1;
  *out = (int)v;
  return 0;
}

/* VERBS part: "get+list" -> bits; -1 for an unknown verb. */
static int parse_verbs(const char *s, size_t n, unsigned *bits) {
  *bits = 0;
  while (n > 0) {
    size_t len = 0;
    int i, found = 0;
    while (len < n && s[len] != '+') len++;
    for (i = 0; VERBS[i]; i++) {
      if (strlen(VERBS[i]) == len && strncmp(VERBS[i], s, len) == 0) {
        *bits |= 1u << i;
        found = 1;
      }
    }
    if (!found) return -1;
    s += len;
    n -= len;
    if (n > 0) { /* the '+' */
      s++;
      n--;
      if (n == 0) return -1;
    }
  }
  return *bits ? 0 : -1;
}

static int parse_rule(rule *r, const char *text, size_t n, char *err, size_t errlen) {
  const char *eq = memchr(text, '=', n), *at, *value, *colon;
  size_t name_len, vlen;
  unsigned all_but_discovery = (1u << 8) - 1;
  if (eq == NULL) {
    snprintf(err, errlen, "rule '%.*s' has no '='", (int)n, text);
    return -1;
  }
  at = memchr(text, '@', (size_t)(eq - text));
  name_len = (size_t)((at ? at : eq) - text);
  value = eq + 1;
  vlen = n - (size_t)(value - text);
  colon = memchr(value, ':', vlen);
  r->verbs = all_but_discovery;
  if (at && parse_verbs(at + 1, (size_t)(eq - at - 1), &r->verbs) != 0) {
    snprintf(err, errlen,
             "rule '%.*s': verbs are get, list, watch, create, update, patch, delete, evict, "
             "discovery, joined with '+'",
             (int)n, text);
    return -1;
  }
#define NAME_IS(lit) (name_len == sizeof lit - 1 && strncmp(text, lit, name_len) == 0)
  if (NAME_IS("error")) {
    r->type = F_ERROR;
    if (colon == NULL || parse_probability(value, (size_t)(colon - value), &r->probability) ||
        parse_int(colon + 1, vlen - (size_t)(colon - value) - 1, 400, 599, &r->code)) {
      snprintf(err, errlen, "rule '%.*s': expected error=PROBABILITY:CODE (CODE 400..599)", (int)n,
               text);
      return -1;
    }
  } else if (NAME_IS("latency")) {
    r->type = F_LATENCY;
    if (colon == NULL || parse_probability(value, (size_t)(colon - value), &r->probability) ||
        parse_duration(colon + 1, vlen - (size_t)(colon - value) - 1, &r->ms)) {
      snprintf(err, errlen, "rule '%.*s': expected latency=PROBABILITY:DURATION (150ms, 2s)",
               (int)n, text);
      return -1;
    }
  } else if (NAME_IS("drop") || NAME_IS("conflict")) {
    r->type = NAME_IS("drop") ? F_DROP : F_CONFLICT;
    if (colon != NULL || parse_probability(value, vlen, &r->probability)) {
      snprintf(err, errlen, "rule '%.*s': expected %.*s=PROBABILITY (0 to 1)", (int)n, text,
               (int)name_len, text);
      return -1;
    }
    if (r->type == F_CONFLICT && !at) r->verbs = (1u << 4) | (1u << 5); /* update, patch */
  } else if (NAME_IS("throttle")) {
    r->type = F_THROTTLE;
    if (colon == NULL || parse_probability(value, (size_t)(colon - value), &r->probability) ||
        parse_int(colon + 1, vlen - (size_t)(colon - value) - 1, 0, 3600, &r->code)) {
      snprintf(err, errlen, "rule '%.*s': expected throttle=PROBABILITY:RETRY_AFTER_SECONDS",
               (int)n, text);
      return -1;
    }
  } else if (NAME_IS("watch-cut")) {
    r->type = F_WATCH_CUT;
    r->probability = 1;
    r->verbs = 1u << 2;
    if (at || parse_duration(value, vlen, &r->ms) || r->ms == 0) {
      snprintf(err, errlen, "rule '%.*s': expected watch-cut=DURATION (30s; no @verbs)", (int)n,
               text);
      return -1;
    }
  } else {
    snprintf(err, errlen,
             "unknown rule '%.*s' (error, latency, drop, conflict, throttle, watch-cut)",
             (int)name_len, text);
    return -1;
  }
#undef NAME_IS
  return 0;
}

vr_serve_faults *vr_serve_faults_parse(const char *spec, uint64_t seed, char *err, size_t errlen) {
  vr_serve_faults *f = calloc(1, sizeof *f);
  const char *p = spec;
  if (f == NULL) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  f->rng = seed * 0x9E3779B97F4A7C15ull + 0xD1B54A32D192ED03ull;
  if (f->rng == 0) f->rng = 1;
  while (*p) {
    size_t n = strcspn(p, ",");
    if (n == 0) {
      snprintf(err, errlen, "empty rule");
      free(f);
      return NULL;
    }
    if (f->nrules == MAX_RULES) {
      snprintf(err, errlen, "more than %d rules", MAX_RULES);
      free(f);
      return NULL;
    }
    if (parse_rule(&f->rules[f->nrules], p, n, err, errlen) != 0) {
      free(f);
      return NULL;
    }
    f->nrules++;
    p += n;
    if (*p == ',') p++;
  }
  if (f->nrules == 0) {
    snprintf(err, errlen, "no rules");
    free(f);
    return NULL;
  }
  return f;
}

void vr_serve_faults_free(vr_serve_faults *f) {
  free(f);
}

int vr_serve_faults_decide(void *ctx, const char *verb, const char *resource,
                           vr_kube_fault *fault) {
  vr_serve_faults *f = ctx;
  unsigned bit = 0;
  size_t i;
  int any = 0;
  (void)resource;
  for (i = 0; VERBS[i]; i++) {
    if (strcmp(VERBS[i], verb) == 0) bit = 1u << i;
  }
  if (bit == 0) return 0;
  for (i = 0; i < f->nrules; i++) { /* not a chance: every watch, whatever else fires */
    if (f->rules[i].type == F_WATCH_CUT && (f->rules[i].verbs & bit)) {
      fault->watch_cut_ms = f->rules[i].ms;
      any = 1;
    }
  }
  for (i = 0; i < f->nrules; i++) {
    const rule *r = &f->rules[i];
    if (!(r->verbs & bit) || r->type == F_WATCH_CUT) continue;
    if (next_random(f) >= r->probability) continue;
    switch (r->type) {
    case F_ERROR:
      fault->status = r->code;
      break;
    case F_LATENCY:
      fault->delay_ms = r->ms;
      break;
    case F_DROP:
      fault->drop = 1;
      break;
    case F_CONFLICT:
      fault->status = 409;
      break;
    case F_THROTTLE:
      fault->status = 429;
      fault->retry_after = r->code;
      break;
    default:
      break;
    }
    return 1; /* the first rule that fires decides */
  }
  return any;
}
