/* args.c: durations, sizes and option-table checks (see args.h). */
#include "args.h"

#include <ctype.h>
#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A plain decimal number at p: digits with an optional fraction ("90", "1.5", ".5"); no sign,
 * exponent, hex, "inf" or "nan" (strtod alone accepts "0x10" and "1e3"). Returns the number of
 * bytes read, 0 when there is no number. */
static size_t parse_decimal(const char *p, double *value) {
  char buf[64];
  size_t n = 0, digits = 0;
  int dot = 0;
  while (isdigit((unsigned char)p[n]) || (p[n] == '.' && !dot)) {
    if (p[n] == '.') {
      dot = 1;
    } else {
      digits++;
    }
    n++;
  }
  if (digits == 0 || n >= sizeof buf) return 0;
  memcpy(buf, p, n);
  buf[n] = '\0';
  *value = strtod(buf, NULL);
  return isfinite(*value) ? n : 0;
}

int vr_parse_duration(const char *text, double *seconds) {
  const char *p = text;
  double total = 0;
  int parts = 0;
  while (isspace((unsigned char)*p)) p++;
  if (*p == '\0') return -1;
  while (*p != '\0' && !isspace((unsigned char)*p)) {
    double value, unit;
    size_t n = parse_decimal(p, &value);
    if (n == 0) return -1;
    p += n;
    if (strncmp(p, "ms", 2) == 0) {
      unit = 0.001;
      p += 2;
    } else if (*p == 's') {
      unit = 1;
      p++;
    } else if (*p == 'm') {
      unit = 60;
      p++;
    } else if (*p == 'h') {
      unit = 3600;
      p++;
    } else if (*p == 'd') {
      unit = 86400;
      p++;
    } else if (*p == '\0' || isspace((unsigned char)*p)) {
      if (parts > 0) return -1; /* "1h30" is ambiguous */
      unit = 1;
    } else {
      return -1;
    }
    total += value * unit;
    parts++;
  }
  while (isspace((unsigned char)*p)) p++;
  if (*p != '\0' || !isfinite(total)) return -1;
  *seconds = total;
  return 0;
}

int vr_parse_size(const char *text, size_t *bytes) {
  const char *end = text;
  double value, mult = 1;
  size_t n;
  while (isspace((unsigned char)*end)) end++;
  n = parse_decimal(end, &value);
  if (n == 0) return -1;
  end += n;
  switch (toupper((unsigned char)*end)) {
  case '\0':
  case 'B': /* "100B": plain bytes, the suffix is read below */
    break;
  case 'K':
    mult = 1024.0;
    end++;
    break;
  case 'M':
    mult = 1024.0 * 1024;
    end++;
    break;
  case 'G':
    mult = 1024.0 * 1024 * 1024;
    end++;
    break;
  default:
    return -1;
  }
  if (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0 || strcmp(end, "b") == 0) end += strlen(end);
  if (*end != '\0' || value * mult > 1e18) return -1;
  *bytes = (size_t)(value * mult);
  return 0;
}

double vr_check_duration(lua_State *L, int idx, const char *what) {
  double secs;
  if (lua_type(L, idx) == LUA_TNUMBER) {
    secs = lua_tonumber(L, idx);
    if (!isfinite(secs) || secs < 0) {
      luaL_error(L, "bad duration %s for %s: expected a number of seconds >= 0",
                 lua_tostring(L, idx), what);
    }
    return secs;
  }
  if (lua_type(L, idx) == LUA_TSTRING) {
    if (vr_parse_duration(lua_tostring(L, idx), &secs) == 0) return secs;
    luaL_error(L,
               "bad duration '%s' for %s: expected seconds or a string like \"90s\", \"20m\", "
               "\"2h\", \"1h30m\"",
               lua_tostring(L, idx), what);
  }
  luaL_error(L, "bad duration for %s: expected seconds or a string like \"20m\", got %s", what,
             luaL_typename(L, idx));
  return 0;
}

double vr_opt_duration(lua_State *L, int idx, const char *what, double dflt) {
  if (lua_isnoneornil(L, idx)) return dflt;
  return vr_check_duration(L, idx, what);
}

double vr_check_timeout_arg(lua_State *L, int idx, double dflt) {
  double secs;
  if (lua_type(L, idx) != LUA_TTABLE) return vr_opt_duration(L, idx, "timeout", dflt);
  {
    static const char *const allowed[] = {"timeout", NULL};
    vr_check_options(L, idx, "wait", allowed);
  }
  lua_getfield(L, idx, "timeout");
  secs = vr_opt_duration(L, -1, "timeout", dflt);
  lua_pop(L, 1);
  return secs;
}

void vr_check_options(lua_State *L, int idx, const char *fname, const char *const allowed[]) {
  idx = lua_absindex(L, idx);
  if (lua_type(L, idx) != LUA_TTABLE) return;
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    int i, known = 0;
    if (lua_type(L, -2) == LUA_TSTRING) {
      const char *key = lua_tostring(L, -2);
      for (i = 0; allowed[i] != NULL; i++) {
        if (strcmp(allowed[i], key) == 0) known = 1;
      }
    }
    if (!known) {
      luaL_Buffer b;
      luaL_buffinit(L, &b);
      for (i = 0; allowed[i] != NULL; i++) {
        if (i > 0) luaL_addstring(&b, ", ");
        luaL_addstring(&b, allowed[i]);
      }
      luaL_pushresult(&b);
      lua_pushvalue(L, -3);
      luaL_error(L, "unknown option '%s' for %s (expected one of: %s)", luaL_tolstring(L, -1, NULL),
                 fname, lua_tostring(L, -2));
    }
    lua_pop(L, 1);
  }
}

int vr_edit_distance(const char *a, const char *b, int ignore_case) {
  int row[64], i, j, la = (int)strlen(a), lb = (int)strlen(b);
  if (la > 63 || lb > 63) return 99;
  for (j = 0; j <= lb; j++) row[j] = j;
  for (i = 1; i <= la; i++) {
    int prev = row[0];
    row[0] = i;
    for (j = 1; j <= lb; j++) {
      int ca = (unsigned char)a[i - 1], cb = (unsigned char)b[j - 1];
      int cost = ignore_case ? tolower(ca) != tolower(cb) : ca != cb;
      int best = row[j] + 1, tmp;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      if (prev + cost < best) best = prev + cost;
      tmp = row[j];
      row[j] = best;
      prev = tmp;
    }
  }
  return row[lb];
}

const char *vr_cli_option_value(int argc, char **argv, int *i, const char *name, int *missing) {
  size_t n = strlen(name);
  if (strncmp(argv[*i], name, n) != 0) return NULL;
  if (argv[*i][n] == '=') return argv[*i] + n + 1;
  if (argv[*i][n] != '\0') return NULL;
  if (*i + 1 >= argc) {
    *missing = 1;
    return "";
  }
  (*i)++;
  return argv[*i];
}

int vr_cli_usage_error(const char *command, const char *fmt, const char *arg) {
  fprintf(stderr, "%s: ", command);
  fprintf(stderr, fmt, arg);
  fprintf(stderr, " (see %s --help)\n", command);
  return 2;
}
