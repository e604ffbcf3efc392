/* json.c: the JSON codec of codec.h: a single-pass decoder from text straight onto the Lua stack,
 * an encoder from Lua values to JSON text, and the bridges between Lua values and cJSON trees.
 *
 * Rules it keeps: no unbounded recursion on the C stack (explicit frame stacks, depth capped at
 * VR_CODEC_MAX_DEPTH; the cJSON-to-Lua bridge recurses at most PUSH_RECURSION_MAX levels, then
 * walks with a frame stack); no Lua code runs (tables are read and written raw, metamethods
 * ignored); nothing raises except Lua memory errors, and memory that such an error could strand is
 * owned by a userdata with __gc, never by a bare malloc; a failure leaves the Lua stack as it was
 * and describes itself in a vr_codec_error.
 *
 * Decisions: strings must be valid UTF-8 when decoded (checked only on bytes >= 0x80, so ASCII
 * costs nothing) but are written byte for byte when encoded; an empty untagged table encodes as {};
 * integral numbers that fit int64 decode as integers, everything else as floats; encoded paths use
 * Lua's 1-based array indices ("$.items[1]" is items[1] in Lua). Column numbers count bytes. */
#include "codec.h"
#include "json_pool.h"
#include "luaval.h"

#include <lauxlib.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { K_ARRAY = 0, K_OBJECT = 1 };

/* Byte classes inside strings: 0 plain, 1 '"' or '\\', 2 control (< 0x20), 3 non-ASCII. */
static const unsigned char str_class[256] = {
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
};

/* 2^53: integral floats below it print without a fraction; cJSON holds integers up to it exactly.
 */
#define EXACT_DOUBLE_LIMIT 9007199254740992.0

/* Length of the well-formed UTF-8 sequence (RFC 3629: no overlongs, no surrogates, at most
 * U+10FFFF) that starts with the byte >= 0x80 at p, or 0 when it is malformed or cut short. */
static size_t utf8_sequence(const unsigned char *p, const unsigned char *end) {
  size_t avail = (size_t)(end - p);
  unsigned c = p[0], lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) return avail >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
    return avail >= 3 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
    return avail >= 4 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 && (p[3] & 0xC0) == 0x80
               ? 4
               : 0;
  }
  return 0;
}

/* ============================================================================================
 * Decoder
 *
 * Values are pushed on the Lua stack as they are read. The members of an open array or object are
 * collected on the stack above the frame's base; the table is made with its exact size when the
 * container closes (or once DEC_BATCH members are waiting, after which members go straight into
 * the table). Stack layout during a decode: top0+1 object metatable, top0+2 array metatable,
 * top0+3 scratch userdata for strings with escapes, then the values.
 * ============================================================================================ */

#define DEC_BATCH 256 /* members collected on the stack before a container's table is made */

typedef struct dframe {
  int base;          /* stack index of the first collected member, or of the table once made */
  int kind;          /* K_ARRAY / K_OBJECT */
  int table;         /* 1 once the table exists at base */
  lua_Integer count; /* members so far */
} dframe;

typedef struct decoder {
  lua_State *L;
  const unsigned char *text; /* after a BOM, if any; positions count from here */
  const unsigned char *end;
  vr_codec_error *err;
  int mt_object, mt_array, scratch_idx;
  unsigned char *scratch; /* the userdata at scratch_idx */
  size_t scratch_cap;
} decoder;

/* Fills err with the message and the position of the byte at `at`. Returns NULL for chaining. */
static const unsigned char *dec_fail(decoder *d, const unsigned char *at, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(d->err->message, sizeof d->err->message, fmt, ap);
  va_end(ap);
  vr_text_position((const char *)d->text, (size_t)(at - d->text), &d->err->line, &d->err->column);
  return NULL;
}

/* Describes the byte at p for messages: 'x', byte 0x01 or end of input. */
static const char *dec_describe(const decoder *d, const unsigned char *p, char *buf, size_t size) {
  if (p >= d->end) return "end of input";
  if (*p > 0x20 && *p < 0x7F) {
    snprintf(buf, size, "'%c'", *p);
  } else {
    snprintf(buf, size, "byte 0x%02X", *p);
  }
  return buf;
}

static const unsigned char *skip_ws(const unsigned char *p, const unsigned char *end) {
  while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
  return p;
}

/* Makes the scratch buffer hold at least `need` bytes, keeping its first `keep`. May raise
 * (memory). */
static void dec_scratch_reserve(decoder *d, size_t need, size_t keep) {
  size_t cap = d->scratch_cap ? d->scratch_cap : 256;
  unsigned char *nb;
  if (need <= d->scratch_cap) return;
  while (cap < need) cap *= 2;
  nb = lua_newuserdatauv(d->L, cap, 0);
  if (keep) memcpy(nb, d->scratch, keep);
  lua_replace(d->L, d->scratch_idx);
  d->scratch = nb;
  d->scratch_cap = cap;
}

static void dec_append(decoder *d, size_t *used, const unsigned char *src, size_t n) {
  if (n == 0) return;
  if (*used + n > d->scratch_cap) dec_scratch_reserve(d, *used + n, *used);
  memcpy(d->scratch + *used, src, n);
  *used += n;
}

static int hex4(const unsigned char *p, const unsigned char *end) {
  int v = 0, i;
  if (end - p < 4) return -1;
  for (i = 0; i < 4; i++) {
    unsigned c = p[i];
    v <<= 4;
    if (c >= '0' && c <= '9') {
      v |= (int)(c - '0');
    } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
      v |= (int)((c | 0x20) - 'a' + 10);
    } else {
      return -1;
    }
  }
  return v;
}

/* Decodes the escape at q (a backslash) into the scratch buffer; returns the position after it. */
static const unsigned char *dec_escape(decoder *d, const unsigned char *q, size_t *used) {
  unsigned char out[4];
  size_t n = 1;
  long cp;
  if (q + 1 >= d->end) return dec_fail(d, q, "unterminated string");
  switch (q[1]) {
  case '"':
  case '\\':
  case '/':
    out[0] = q[1];
    break;
  case 'b':
    out[0] = '\b';
    break;
  case 'f':
    out[0] = '\f';
    break;
  case 'n':
    out[0] = '\n';
    break;
  case 'r':
    out[0] = '\r';
    break;
  case 't':
    out[0] = '\t';
    break;
  case 'u':
    cp = hex4(q + 2, d->end);
    if (cp < 0) return dec_fail(d, q, "invalid \\u escape (expected 4 hex digits)");
    if (cp >= 0xDC00 && cp <= 0xDFFF) {
      return dec_fail(d, q, "lone surrogate \\u%04lX in string", (unsigned long)cp);
    }
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      long lo = -1;
      if (d->end - q >= 12 && q[6] == '\\' && q[7] == 'u') lo = hex4(q + 8, d->end);
      if (lo < 0xDC00 || lo > 0xDFFF) {
        return dec_fail(d, q, "lone surrogate \\u%04lX in string", (unsigned long)cp);
      }
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      q += 6;
    }
    if (cp < 0x80) {
      out[0] = (unsigned char)cp;
    } else if (cp < 0x800) {
      out[0] = (unsigned char)(0xC0 | (cp >> 6));
      out[1] = (unsigned char)(0x80 | (cp & 0x3F));
      n = 2;
    } else if (cp < 0x10000) {
      out[0] = (unsigned char)(0xE0 | (cp >> 12));
      out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
      out[2] = (unsigned char)(0x80 | (cp & 0x3F));
      n = 3;
    } else {
      out[0] = (unsigned char)(0xF0 | (cp >> 18));
      out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
      out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
      out[3] = (unsigned char)(0x80 | (cp & 0x3F));
      n = 4;
    }
    dec_append(d, used, out, n);
    return q + 6;
  default:
    if (q[1] > 0x20 && q[1] < 0x7F) return dec_fail(d, q, "invalid escape '\\%c' in string", q[1]);
    return dec_fail(d, q, "invalid escape (byte 0x%02X after '\\') in string", q[1]);
  }
  dec_append(d, used, out, 1);
  return q + 2;
}

/* Reads the string whose opening quote is at p and pushes it. Returns the position after the
 * closing quote, or NULL after dec_fail. May raise (memory). */
static const unsigned char *dec_string(decoder *d, const unsigned char *p) {
  const unsigned char *start = p + 1, *q = start, *end = d->end;
  size_t used = 0;
  int copying = 0; /* 1 once an escape was seen: the string is built in the scratch buffer */
  for (;;) {
    const unsigned char *run = q;
    unsigned c;
    while (end - q >= 4 &&
           (str_class[q[0]] | str_class[q[1]] | str_class[q[2]] | str_class[q[3]]) == 0) {
      q += 4;
    }
    while (q < end && str_class[*q] == 0) q++;
    if (copying && q > run) dec_append(d, &used, run, (size_t)(q - run));
    if (q >= end) return dec_fail(d, p, "unterminated string");
    c = *q;
    if (c == '"') break;
    if (c == '\\') {
      if (!copying) {
        copying = 1;
        dec_append(d, &used, start, (size_t)(q - start));
      }
      q = dec_escape(d, q, &used);
      if (q == NULL) return NULL;
    } else if (c < 0x20) {
      if (c == '\n') return dec_fail(d, q, "unescaped newline in string (unterminated string?)");
      return dec_fail(d, q, "unescaped control character 0x%02X in string", c);
    } else {
      size_t n = utf8_sequence(q, end);
      if (n == 0) return dec_fail(d, q, "invalid UTF-8 byte 0x%02X in string", c);
      if (copying) dec_append(d, &used, q, n);
      q += n;
    }
  }
  if (copying) {
    lua_pushlstring(d->L, (const char *)d->scratch, used);
  } else {
    lua_pushlstring(d->L, (const char *)start, (size_t)(q - start));
  }
  return q + 1;
}

#define IS_DIGIT(c) ((unsigned)(c) - '0' < 10u)

/* Reads the number at p (a '-' or a digit) and pushes it. */
static const unsigned char *dec_number(decoder *d, const unsigned char *p) {
  const unsigned char *s = p, *end = d->end;
  uint64_t u = 0;
  int ndigits = 0, is_float = 0, neg = 0;
  if (*p == '-') {
    neg = 1;
    p++;
  }
  if (p >= end || !IS_DIGIT(*p)) return dec_fail(d, p, "invalid number: expected a digit");
  if (*p == '0') {
    p++;
    ndigits = 1;
    if (p < end && IS_DIGIT(*p)) return dec_fail(d, s, "invalid number: leading zero");
  } else {
    while (p < end && IS_DIGIT(*p)) {
      if (ndigits < 19) u = u * 10 + (uint64_t)(*p - '0');
      ndigits++;
      p++;
    }
  }
  if (p < end && *p == '.') {
    p++;
    if (p >= end || !IS_DIGIT(*p)) return dec_fail(d, p, "invalid number: expected a digit");
    while (p < end && IS_DIGIT(*p)) p++;
    is_float = 1;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    p++;
    if (p < end && (*p == '+' || *p == '-')) p++;
    if (p >= end || !IS_DIGIT(*p)) return dec_fail(d, p, "invalid number: expected a digit");
    while (p < end && IS_DIGIT(*p)) p++;
    is_float = 1;
  }
  if (!is_float && ndigits <= 19) {
    if (!neg && u <= (uint64_t)LUA_MAXINTEGER) {
      lua_pushinteger(d->L, (lua_Integer)u);
      return p;
    }
    if (neg && u <= (uint64_t)LUA_MAXINTEGER) {
      lua_pushinteger(d->L, -(lua_Integer)u);
      return p;
    }
    if (neg && u == (uint64_t)LUA_MAXINTEGER + 1) {
      lua_pushinteger(d->L, LUA_MININTEGER);
      return p;
    }
  }
  {
    char small[64], *buf = small;
    size_t n = (size_t)(p - s);
    double v;
    if (n >= sizeof small) {
      dec_scratch_reserve(d, n + 1, 0);
      buf = (char *)d->scratch;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    v = strtod(buf, NULL);
    if (isinf(v)) return dec_fail(d, s, "number out of range");
    lua_pushnumber(d->L, v);
  }
  return p;
}

/* Turns the members collected above f->base into a table at f->base tagged with its shape. */
static void dec_make_table(decoder *d, dframe *f) {
  lua_State *L = d->L;
  int n = lua_gettop(L) - f->base + 1, i;
  if (f->kind == K_ARRAY) {
    lua_createtable(L, n, 0); /* stack: members..., t */
    for (i = 0; i < n; i++) {
      lua_pushvalue(L, f->base + i);
      lua_rawseti(L, -2, i + 1);
    }
    lua_pushvalue(L, d->mt_array);
  } else {
    lua_createtable(L, 0, n / 2); /* stack: k1, v1, ..., kn, vn, t */
    for (i = 0; i < n; i += 2) {
      lua_pushvalue(L, f->base + i);
      lua_pushvalue(L, f->base + i + 1);
      lua_rawset(L, -3); /* in order, so the last of duplicate keys wins */
    }
    lua_pushvalue(L, d->mt_object);
  }
  lua_setmetatable(L, -2);
  lua_replace(L, f->base);
  lua_settop(L, f->base);
  f->table = 1;
}

/* Returns 1 with the value pushed, or 0 with nothing pushed and err (which may be NULL) filled. */
int vr_json_decode(lua_State *L, const char *text, size_t len, vr_codec_error *err) {
  decoder d;
  dframe frames[VR_CODEC_MAX_DEPTH];
  dframe *f;
  int depth = 0, top0 = lua_gettop(L);
  const unsigned char *p = (const unsigned char *)text, *end = p + len, *comma;
  char what[16];
  vr_codec_error dummy;

  if (err == NULL) err = &dummy;
  err->message[0] = '\0';
  err->line = err->column = 0;
  if (len >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF) p += 3; /* UTF-8 BOM */
  memset(&d, 0, sizeof d);
  d.L = L;
  d.text = p;
  d.end = end;
  d.err = err;
  if (!lua_checkstack(L, 8)) {
    dec_fail(&d, p, "Lua stack overflow");
    return 0;
  }
  vr_shape_push_mt(L, VR_SHAPE_OBJECT);
  vr_shape_push_mt(L, VR_SHAPE_ARRAY);
  lua_pushnil(L);
  d.mt_object = top0 + 1;
  d.mt_array = top0 + 2;
  d.scratch_idx = top0 + 3;

value: /* read one value at p and push it */
  p = skip_ws(p, end);
  if (p >= end) {
    dec_fail(&d, p,
             depth == 0 ? "empty input, expected a JSON value"
                        : "unexpected end of input, expected a value");
    goto fail;
  }
  if (!lua_checkstack(L, 4)) {
    dec_fail(&d, p, "document too large for the Lua stack");
    goto fail;
  }
  switch (*p) {
  case '{':
  case '[': {
    int kind = *p == '{' ? K_OBJECT : K_ARRAY;
    if (depth == VR_CODEC_MAX_DEPTH) {
      dec_fail(&d, p, "nesting deeper than %d levels", VR_CODEC_MAX_DEPTH);
      goto fail;
    }
    p = skip_ws(p + 1, end);
    if (p < end && *p == (kind == K_OBJECT ? '}' : ']')) { /* empty: {} or [] */
      lua_createtable(L, 0, 0);
      lua_pushvalue(L, kind == K_OBJECT ? d.mt_object : d.mt_array);
      lua_setmetatable(L, -2);
      p++;
      break;
    }
    f = &frames[depth++];
    f->base = lua_gettop(L) + 1;
    f->kind = kind;
    f->table = 0;
    f->count = 0;
    if (kind == K_OBJECT) goto key;
    goto value;
  }
  case '"':
    p = dec_string(&d, p);
    if (p == NULL) goto fail;
    break;
  case 't':
    if (end - p < 4 || memcmp(p, "true", 4) != 0) {
      dec_fail(&d, p, "invalid literal (expected true)");
      goto fail;
    }
    lua_pushboolean(L, 1);
    p += 4;
    break;
  case 'f':
    if (end - p < 5 || memcmp(p, "false", 5) != 0) {
      dec_fail(&d, p, "invalid literal (expected false)");
      goto fail;
    }
    lua_pushboolean(L, 0);
    p += 5;
    break;
  case 'n':
    if (end - p < 4 || memcmp(p, "null", 4) != 0) {
      dec_fail(&d, p, "invalid literal (expected null)");
      goto fail;
    }
    vr_null_push(L);
    p += 4;
    break;
  default:
    if (*p == '-' || IS_DIGIT(*p)) {
      p = dec_number(&d, p);
      if (p == NULL) goto fail;
      break;
    }
    dec_fail(&d, p, "unexpected %s, expected a value", dec_describe(&d, p, what, sizeof what));
    goto fail;
  }

after_value: /* a value is on top: store it in the open container, then find what follows */
  if (depth == 0) goto done;
  f = &frames[depth - 1];
  f->count++;
  p = skip_ws(p, end);
  if (f->kind == K_ARRAY) {
    if (f->table) {
      lua_rawseti(L, f->base, f->count);
    } else if (f->count == DEC_BATCH) {
      dec_make_table(&d, f);
    }
    if (p < end && *p == ',') {
      comma = p;
      p = skip_ws(p + 1, end);
      if (p < end && *p == ']') {
        dec_fail(&d, comma, "trailing comma before ']'");
        goto fail;
      }
      goto value;
    }
    if (p < end && *p == ']') {
      p++;
      if (!f->table) dec_make_table(&d, f);
      depth--;
      goto after_value;
    }
    dec_fail(&d, p, "expected ',' or ']' after array element, got %s",
             dec_describe(&d, p, what, sizeof what));
    goto fail;
  }
  if (f->table) {
    lua_rawset(L, f->base);
  } else if (f->count == DEC_BATCH) {
    dec_make_table(&d, f);
  }
  if (p < end && *p == ',') {
    comma = p;
    p = skip_ws(p + 1, end);
    if (p < end && *p == '}') {
      dec_fail(&d, comma, "trailing comma before '}'");
      goto fail;
    }
    goto key;
  }
  if (p < end && *p == '}') {
    p++;
    if (!f->table) dec_make_table(&d, f);
    depth--;
    goto after_value;
  }
  dec_fail(&d, p, "expected ',' or '}' after object member, got %s",
           dec_describe(&d, p, what, sizeof what));
  goto fail;

key: /* read an object key and its ':' */
  p = skip_ws(p, end);
  if (p >= end || *p != '"') {
    dec_fail(&d, p, "expected '\"' to start an object key, got %s",
             dec_describe(&d, p, what, sizeof what));
    goto fail;
  }
  if (!lua_checkstack(L, 4)) {
    dec_fail(&d, p, "document too large for the Lua stack");
    goto fail;
  }
  p = dec_string(&d, p);
  if (p == NULL) goto fail;
  p = skip_ws(p, end);
  if (p >= end || *p != ':') {
    dec_fail(&d, p, "expected ':' after object key, got %s",
             dec_describe(&d, p, what, sizeof what));
    goto fail;
  }
  p++;
  goto value;

done:
  p = skip_ws(p, end);
  if (p < end) {
    dec_fail(&d, p, "unexpected %s after the JSON value", dec_describe(&d, p, what, sizeof what));
    goto fail;
  }
  lua_replace(L, top0 + 1);
  lua_settop(L, top0 + 1);
  return 1;

fail:
  lua_settop(L, top0);
  return 0;
}

/* ============================================================================================
 * Encoder (Lua -> JSON text, Lua -> cJSON)
 *
 * One walk serves both outputs. The value being written is always at the top of the stack; an
 * open table keeps its slot until it is closed, with copies of its string keys above it (so the
 * key strings stay anchored and can be sorted). Stack layout: top0+1 the box, top0+2 object
 * metatable, top0+3 array metatable, top0+4 null, then the walk.
 * ============================================================================================ */

typedef struct ekey {
  const char *s; /* anchored by the key copy at `slot` */
  size_t len;
  int slot;
} ekey;

typedef struct eframe {
  int tbl;  /* stack index of the table */
  int kind; /* K_ARRAY / K_OBJECT */
  const void *ptr;
  lua_Integer n; /* members */
  lua_Integer i; /* members begun so far; the current one is i (1-based) */
  size_t keys;   /* objects: index of the first key in box->keys */
  cJSON *node;   /* cJSON output: the container */
} eframe;

/* Memory of a walk, allocated with the state's allocator and freed by ebox_free, or by __gc when a
 * memory error unwinds past the walk. */
typedef struct ebox {
  lua_Alloc alloc;
  void *ud;
  char *buf;
  size_t len, cap;
  ekey *keys;
  size_t nkeys, keycap;
  eframe *frames;
  size_t framecap;
} ebox;

typedef struct encoder {
  lua_State *L;
  ebox *box;
  vr_codec_error *err;
  int to_cjson;
  int pretty, indent, sort;
  int mt_object, mt_array, null_idx;
  int oom; /* a text write failed for lack of memory */
  int depth;
  cJSON *root;
} encoder;

static const char ebox_mt_key = 'b';

static void ebox_free(ebox *b) {
  if (b->buf) b->alloc(b->ud, b->buf, b->cap, 0);
  if (b->keys) b->alloc(b->ud, b->keys, b->keycap * sizeof(ekey), 0);
  if (b->frames) b->alloc(b->ud, b->frames, b->framecap * sizeof(eframe), 0);
  b->buf = NULL;
  b->keys = NULL;
  b->frames = NULL;
  b->len = b->cap = b->nkeys = b->keycap = b->framecap = 0;
}

static int ebox_gc(lua_State *L) {
  ebox *b = lua_touserdata(L, 1);
  if (b) ebox_free(b);
  return 0;
}

/* Pushes a new, empty box. May raise (memory). */
static ebox *ebox_push(lua_State *L) {
  ebox *b = vr_push_gc_userdata(L, sizeof(ebox), &ebox_mt_key, ebox_gc);
  b->alloc = lua_getallocf(L, &b->ud);
  return b;
}

/* Grows the array *p of *cap elements of `size` bytes to hold `need`; 0 when out of memory. */
static int ebox_grow(ebox *b, void **p, size_t *cap, size_t size, size_t need) {
  size_t ncap = *cap ? *cap : 16;
  void *np;
  while (ncap < need) {
    if (ncap > SIZE_MAX / 2 / size) return 0;
    ncap *= 2;
  }
  np = b->alloc(b->ud, *p, *cap * size, ncap * size);
  if (np == NULL) return 0;
  *p = np;
  *cap = ncap;
  return 1;
}

/* Room for n more output bytes. On failure sets e->oom; the walk checks it after each value. */
static int out_reserve(encoder *e, size_t n) {
  ebox *b = e->box;
  void *p = b->buf;
  if (b->cap - b->len >= n) return 1;
  if (n > SIZE_MAX - b->len || !ebox_grow(b, &p, &b->cap, 1, b->len + n)) {
    e->oom = 1;
    return 0;
  }
  b->buf = p;
  return 1;
}

static void out_bytes(encoder *e, const char *s, size_t n) {
  if (!out_reserve(e, n)) return;
  memcpy(e->box->buf + e->box->len, s, n);
  e->box->len += n;
}

static void out_char(encoder *e, char c) {
  if (!out_reserve(e, 1)) return;
  e->box->buf[e->box->len++] = c;
}

static void out_newline(encoder *e, int level) {
  size_t n = (size_t)level * (size_t)e->indent;
  if (!out_reserve(e, n + 1)) return;
  e->box->buf[e->box->len++] = '\n';
  memset(e->box->buf + e->box->len, ' ', n);
  e->box->len += n;
}

/* '"', '\\' and control characters; other bytes, UTF-8 or not, are written as they are. */
#define NEEDS_ESCAPE(c) (str_class[c] == 1 || str_class[c] == 2)

static void out_string(encoder *e, const char *s, size_t len) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *p = (const unsigned char *)s, *end = p + len;
  ebox *b = e->box;
  if (!out_reserve(e, len + 2)) return;
  b->buf[b->len++] = '"';
  while (p < end) {
    const unsigned char *run = p;
    unsigned c;
    while (p < end && !NEEDS_ESCAPE(*p)) p++;
    if (p > run) {
      if (!out_reserve(e, (size_t)(p - run) + 1)) return;
      memcpy(b->buf + b->len, run, (size_t)(p - run));
      b->len += (size_t)(p - run);
    }
    if (p == end) break;
    c = *p++;
    if (!out_reserve(e, 7)) return;
    b->buf[b->len++] = '\\';
    switch (c) {
    case '"':
    case '\\':
      b->buf[b->len++] = (char)c;
      break;
    case '\b':
      b->buf[b->len++] = 'b';
      break;
    case '\f':
      b->buf[b->len++] = 'f';
      break;
    case '\n':
      b->buf[b->len++] = 'n';
      break;
    case '\r':
      b->buf[b->len++] = 'r';
      break;
    case '\t':
      b->buf[b->len++] = 't';
      break;
    default:
      memcpy(b->buf + b->len, "u00", 3);
      b->buf[b->len + 3] = hex[c >> 4];
      b->buf[b->len + 4] = hex[c & 15];
      b->len += 5;
    }
  }
  out_char(e, '"');
}

static void out_integer(encoder *e, lua_Integer v) {
  char tmp[24], *p = tmp + sizeof tmp;
  uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
  do {
    *--p = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0) *--p = '-';
  out_bytes(e, p, (size_t)(tmp + sizeof tmp - p));
}

/* A finite float: integral values below 2^53 without a fraction, others in the shortest of %.14g
 * and %.17g that reads back to the same double. */
static void out_float(encoder *e, double x) {
  char tmp[40];
  int n;
  if (x == floor(x) && fabs(x) < EXACT_DOUBLE_LIMIT) {
    out_integer(e, (lua_Integer)x);
    return;
  }
  n = snprintf(tmp, sizeof tmp, "%.14g", x);
  if (strtod(tmp, NULL) != x) n = snprintf(tmp, sizeof tmp, "%.17g", x);
  out_bytes(e, tmp, (size_t)n);
}

/* --- error messages naming the path ------------------------------------------------------- */

typedef struct pathbuf {
  char s[512];
  size_t n;
  int cut; /* something did not fit */
} pathbuf;

static void path_add(pathbuf *pb, const char *s, size_t n) {
  size_t room = sizeof pb->s - 1 - pb->n;
  if (n > room) {
    n = room;
    pb->cut = 1;
  }
  memcpy(pb->s + pb->n, s, n);
  pb->n += n;
  pb->s[pb->n] = '\0';
}

static int is_identifier(const char *s, size_t len) {
  size_t i;
  if (len == 0 || IS_DIGIT(s[0])) return 0;
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!(c == '_' || IS_DIGIT(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'))) return 0;
  }
  return 1;
}

/* The path of the member being written at each of the first `nframes` frames: $.a.b[2]["x/y"].
 * Paths longer than fit in a message keep their end. */
static const char *enc_path(encoder *e, int nframes, pathbuf *pb) {
  int j;
  pb->n = 0;
  pb->cut = 0;
  path_add(pb, "$", 1);
  for (j = 0; j < nframes; j++) {
    const eframe *f = &e->box->frames[j];
    char num[32];
    if (f->kind == K_ARRAY) {
      int n = snprintf(num, sizeof num, "[%lld]", (long long)f->i);
      path_add(pb, num, (size_t)n);
    } else {
      const ekey *k = &e->box->keys[f->keys + (size_t)(f->i - 1)];
      if (is_identifier(k->s, k->len)) {
        path_add(pb, ".", 1);
        path_add(pb, k->s, k->len);
      } else {
        size_t i;
        path_add(pb, "[\"", 2);
        for (i = 0; i < k->len && !pb->cut; i++) {
          char c = k->s[i];
          if (c == '"' || c == '\\') path_add(pb, "\\", 1);
          if ((unsigned char)c < 0x20) c = '?';
          path_add(pb, &c, 1);
        }
        path_add(pb, "\"]", 2);
      }
    }
  }
  if (pb->n > 160) { /* keep "$..." and the last 150 bytes */
    memmove(pb->s + 4, pb->s + pb->n - 150, 150);
    memcpy(pb->s, "$...", 4);
    pb->n = 154;
    pb->s[pb->n] = '\0';
  }
  return pb->s;
}

/* "PATH: what" into err, for the member being written. Returns 0. */
static int enc_fail(encoder *e, const char *fmt, ...) {
  pathbuf pb;
  char what[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  snprintf(e->err->message, sizeof e->err->message, "%s: %s", enc_path(e, e->depth, &pb), what);
  return 0;
}

static int enc_oom(encoder *e) {
  snprintf(e->err->message, sizeof e->err->message, "out of memory");
  return 0;
}

/* cJSON output: hangs a new item under the member being written, or makes it the root. */
static int enc_attach(encoder *e, cJSON *item) {
  const eframe *f;
  if (item == NULL) return enc_oom(e);
  if (e->depth == 0) {
    e->root = item;
    return 1;
  }
  f = &e->box->frames[e->depth - 1];
  if (f->kind == K_ARRAY) {
    if (cJSON_AddItemToArray(f->node, item)) return 1;
  } else {
    const ekey *k = &e->box->keys[f->keys + (size_t)(f->i - 1)];
    if (strlen(k->s) != k->len) {
      cJSON_Delete(item);
      return enc_fail(e, "object key contains a NUL byte, which cJSON cannot hold");
    }
    const char *name = vr_json_intern(k->s);
    if (name ? cJSON_AddItemToObjectCS(f->node, name, item)
             : cJSON_AddItemToObject(f->node, k->s, item))
      return 1;
  }
  cJSON_Delete(item);
  return enc_oom(e);
}

static int key_compare(const void *a, const void *b) {
  const ekey *x = a, *y = b;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = memcmp(x->s, y->s, n);
  if (c != 0) return c;
  return x->len < y->len ? -1 : x->len > y->len;
}

/* Writes the scalar on top of the stack and pops it. */
static int enc_scalar(encoder *e, int type) {
  lua_State *L = e->L;
  cJSON *item = NULL;
  switch (type) {
  case LUA_TBOOLEAN:
    if (e->to_cjson) {
      item = cJSON_CreateBool(lua_toboolean(L, -1));
    } else {
      out_bytes(e, lua_toboolean(L, -1) ? "true" : "false", lua_toboolean(L, -1) ? 4 : 5);
    }
    break;
  case LUA_TNUMBER:
    if (lua_isinteger(L, -1)) {
      lua_Integer v = lua_tointeger(L, -1);
      if (e->to_cjson) {
        if (v > (lua_Integer)EXACT_DOUBLE_LIMIT || v < -(lua_Integer)EXACT_DOUBLE_LIMIT) {
          return enc_fail(e, "integer %lld is beyond 2^53 and cannot be held exactly by cJSON",
                          (long long)v);
        }
        item = cJSON_CreateNumber((double)v);
      } else {
        out_integer(e, v);
      }
    } else {
      double x = lua_tonumber(L, -1);
      if (isnan(x)) return enc_fail(e, "NaN cannot be encoded in JSON");
      if (isinf(x)) return enc_fail(e, "%s cannot be encoded in JSON", x > 0 ? "inf" : "-inf");
      if (e->to_cjson) {
        item = cJSON_CreateNumber(x);
      } else {
        out_float(e, x);
      }
    }
    break;
  case LUA_TSTRING: {
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    if (e->to_cjson) {
      if (strlen(s) != len)
        return enc_fail(e, "string contains a NUL byte, which cJSON cannot hold");
      item = cJSON_CreateString(s);
    } else {
      out_string(e, s, len);
    }
    break;
  }
  case LUA_TUSERDATA:
    if (lua_rawequal(L, -1, e->null_idx)) {
      if (e->to_cjson) {
        item = cJSON_CreateNull();
      } else {
        out_bytes(e, "null", 4);
      }
      break;
    }
    return enc_fail(e, "userdata cannot be encoded in JSON");
  case LUA_TNIL:
    return enc_fail(e, "nil cannot be encoded in JSON (use json.null)");
  default:
    return enc_fail(e, "%s cannot be encoded in JSON", lua_typename(L, type));
  }
  if (e->to_cjson && !enc_attach(e, item)) return 0;
  lua_pop(L, 1);
  return 1;
}

/* Starts writing the table on top of the stack: checks depth, cycles and keys, then either writes
 * it whole (empty) or opens a frame for its members. */
static int enc_open(encoder *e) {
  lua_State *L = e->L;
  ebox *b = e->box;
  int tbl = lua_gettop(L), kind, j;
  vr_shape shape = VR_SHAPE_NONE;
  const void *ptr = lua_topointer(L, tbl);
  lua_Integer nint = 0, maxint = 0, minint = 1, n;
  size_t nstr = 0, i;
  eframe *f;
  cJSON *node = NULL;

  if (e->depth >= VR_CODEC_MAX_DEPTH) {
    return enc_fail(e, "nesting deeper than %d levels", VR_CODEC_MAX_DEPTH);
  }
  for (j = 0; j < e->depth; j++) {
    if (b->frames[j].ptr == ptr) {
      pathbuf anc;
      return enc_fail(e, "cycle (the table is its own ancestor %s)", enc_path(e, j, &anc));
    }
  }
  if (lua_getmetatable(L, tbl)) {
    if (lua_rawequal(L, -1, e->mt_object)) {
      shape = VR_SHAPE_OBJECT;
    } else if (lua_rawequal(L, -1, e->mt_array)) {
      shape = VR_SHAPE_ARRAY;
    }
    lua_pop(L, 1);
  }

  /* One pass over the keys: count them, keep a copy of each string key on the stack. */
  if (!lua_checkstack(L, 4)) return enc_fail(e, "Lua stack overflow");
  lua_pushnil(L);
  while (lua_next(L, tbl)) { /* stack: tbl, key copies..., key, value */
    lua_pop(L, 1);
    switch (lua_type(L, -1)) {
    case LUA_TSTRING:
      if (!lua_checkstack(L, 4)) return enc_fail(e, "table has too many keys for the Lua stack");
      lua_pushvalue(L, -1); /* the copy stays below the iteration key */
      nstr++;
      break;
    case LUA_TNUMBER:
      if (lua_isinteger(L, -1)) {
        lua_Integer k = lua_tointeger(L, -1);
        nint++;
        if (k > maxint) maxint = k;
        if (k < minint) minint = k;
        break;
      }
      return enc_fail(e, "table has the non-integer number key %.14g", lua_tonumber(L, -1));
    default:
      return enc_fail(e, "table has a key of type %s", luaL_typename(L, -1));
    }
  }
  if (nstr > 0 && nint > 0) return enc_fail(e, "table mixes integer and string keys");
  if (shape == VR_SHAPE_ARRAY && nstr > 0) {
    return enc_fail(e, "array has the string key \"%s\"", lua_tostring(L, tbl + 1));
  }
  if (shape == VR_SHAPE_OBJECT && nint > 0) {
    return enc_fail(e, "object has the integer key %lld", (long long)minint);
  }
  kind = shape == VR_SHAPE_ARRAY || (shape == VR_SHAPE_NONE && nint > 0) ? K_ARRAY : K_OBJECT;
  if (kind == K_ARRAY && minint < 1) {
    return enc_fail(e, "table has the integer key %lld (arrays start at 1)", (long long)minint);
  }
  if (kind == K_ARRAY && maxint != nint) {
    return enc_fail(e, "sparse array (%lld elements, highest index %lld)", (long long)nint,
                    (long long)maxint);
  }
  n = kind == K_ARRAY ? nint : (lua_Integer)nstr;

  if (e->to_cjson) {
    node = kind == K_ARRAY ? cJSON_CreateArray() : cJSON_CreateObject();
    if (!enc_attach(e, node)) return 0;
  } else {
    out_char(e, kind == K_ARRAY ? '[' : '{');
  }
  if (n == 0) {
    if (!e->to_cjson) out_char(e, kind == K_ARRAY ? ']' : '}');
    lua_settop(L, tbl - 1);
    return 1;
  }

  if (b->nkeys + nstr > b->keycap) {
    void *p = b->keys;
    if (!ebox_grow(b, &p, &b->keycap, sizeof(ekey), b->nkeys + nstr)) return enc_oom(e);
    b->keys = p;
  }
  for (i = 0; i < nstr; i++) {
    ekey *k = &b->keys[b->nkeys + i];
    k->slot = tbl + 1 + (int)i;
    k->s = lua_tolstring(L, k->slot, &k->len);
  }
  if (e->sort && nstr > 1) qsort(b->keys + b->nkeys, nstr, sizeof(ekey), key_compare);
  if ((size_t)e->depth >= b->framecap) {
    void *p = b->frames;
    if (!ebox_grow(b, &p, &b->framecap, sizeof(eframe), (size_t)e->depth + 1)) return enc_oom(e);
    b->frames = p;
  }
  f = &b->frames[e->depth++];
  f->tbl = tbl;
  f->kind = kind;
  f->ptr = ptr;
  f->n = n;
  f->i = 0;
  f->keys = b->nkeys;
  f->node = node;
  b->nkeys += nstr;
  return 1;
}

/* Pushes the next member of the open frame f, writing the separator and key before it. */
static void enc_member(encoder *e, eframe *f) {
  lua_State *L = e->L;
  if (!e->to_cjson) {
    if (f->i > 0) out_char(e, ',');
    if (e->pretty) out_newline(e, e->depth);
  }
  if (f->kind == K_ARRAY) {
    lua_rawgeti(L, f->tbl, f->i + 1);
  } else {
    const ekey *k = &e->box->keys[f->keys + (size_t)f->i];
    if (!e->to_cjson) {
      out_string(e, k->s, k->len);
      out_bytes(e, ": ", e->pretty ? 2 : 1);
    }
    lua_pushvalue(L, k->slot);
    lua_rawget(L, f->tbl);
  }
  f->i++;
}

static void enc_close(encoder *e, eframe *f) {
  if (!e->to_cjson) {
    if (e->pretty) out_newline(e, e->depth - 1);
    out_char(e, f->kind == K_ARRAY ? ']' : '}');
  }
  e->box->nkeys = f->keys;
  lua_settop(e->L, f->tbl - 1);
  e->depth--;
}

/* Writes the value at idx. Stack: the box, metatables and null are in place; returns 0 on failure
 * with err filled (the caller restores the stack). */
static int enc_walk(encoder *e, int idx) {
  lua_State *L = e->L;
  lua_pushvalue(L, idx);
  for (;;) {
    int type = lua_type(L, -1);
    if (type == LUA_TTABLE ? !enc_open(e) : !enc_scalar(e, type)) return 0;
    if (e->oom) return enc_oom(e);
    for (;;) { /* climb to the next member to write */
      eframe *f;
      if (e->depth == 0) return 1;
      f = &e->box->frames[e->depth - 1];
      if (f->i < f->n) {
        if (!lua_checkstack(L, 4)) return enc_fail(e, "Lua stack overflow");
        enc_member(e, f);
        break;
      }
      enc_close(e, f);
    }
  }
}

/* Sets up an encoder and its stack slots (box, metatables, null). May raise (memory). */
static void enc_init(encoder *e, lua_State *L, vr_codec_error *err, int top0) {
  e->L = L;
  e->err = err;
  e->box = ebox_push(L);
  vr_shape_push_mt(L, VR_SHAPE_OBJECT);
  vr_shape_push_mt(L, VR_SHAPE_ARRAY);
  vr_null_push(L);
  e->mt_object = top0 + 2;
  e->mt_array = top0 + 3;
  e->null_idx = top0 + 4;
  e->oom = 0;
  e->depth = 0;
  e->root = NULL;
  e->to_cjson = 0;
  e->pretty = 0;
  e->indent = 2;
  e->sort = 1;
  err->message[0] = '\0';
  err->line = err->column = 0;
}

/* Returns 1 with the text pushed as a string, or 0 with nothing pushed and err filled (line and
 * column 0). opts NULL: compact, sorted keys; opts->indent 0 means 2. */
int vr_json_encode(lua_State *L, int idx, const vr_encode_opts *opts, vr_codec_error *err) {
  encoder e;
  vr_codec_error dummy;
  int top0 = lua_gettop(L);
  if (err == NULL) err = &dummy;
  idx = lua_absindex(L, idx);
  if (!lua_checkstack(L, 8)) {
    snprintf(err->message, sizeof err->message, "Lua stack overflow");
    err->line = err->column = 0;
    return 0;
  }
  enc_init(&e, L, err, top0);
  if (opts) {
    e.pretty = opts->pretty != 0;
    e.indent = opts->indent <= 0 ? 2 : opts->indent > 32 ? 32 : opts->indent;
    e.sort = opts->sort_keys != 0;
  }
  if (!enc_walk(&e, idx)) {
    ebox_free(e.box);
    lua_settop(L, top0);
    return 0;
  }
  lua_pushlstring(L, e.box->buf ? e.box->buf : "", e.box->len);
  ebox_free(e.box);
  lua_replace(L, top0 + 1);
  lua_settop(L, top0 + 1);
  return 1;
}

/* Returns a new tree (the caller deletes it; object keys sorted) or NULL with err filled. Refuses,
 * besides what the encoder refuses, integers beyond +-2^53 and strings or keys with NUL bytes. */
cJSON *vr_json_to_cjson(lua_State *L, int idx, vr_codec_error *err) {
  encoder e;
  vr_codec_error dummy;
  int top0 = lua_gettop(L);
  if (err == NULL) err = &dummy;
  idx = lua_absindex(L, idx);
  if (!lua_checkstack(L, 8)) {
    snprintf(err->message, sizeof err->message, "Lua stack overflow");
    err->line = err->column = 0;
    return NULL;
  }
  enc_init(&e, L, err, top0);
  e.to_cjson = 1;
  if (!enc_walk(&e, idx)) {
    cJSON_Delete(e.root);
    e.root = NULL;
  }
  ebox_free(e.box);
  lua_settop(L, top0);
  return e.root;
}

/* ============================================================================================
 * cJSON -> Lua
 *
 * Each open container holds three slots: its table, a light userdata pointing at the child being
 * converted, and the index of that child (an integer for arrays, false for objects).
 * ============================================================================================ */

static void push_cjson_scalar(lua_State *L, const cJSON *item) {
  if (item == NULL || cJSON_IsNull(item) || cJSON_IsInvalid(item)) {
    vr_null_push(L);
  } else if (cJSON_IsTrue(item)) {
    lua_pushboolean(L, 1);
  } else if (cJSON_IsFalse(item)) {
    lua_pushboolean(L, 0);
  } else if (cJSON_IsNumber(item)) {
    double x = item->valuedouble;
    if (x == floor(x) && fabs(x) <= EXACT_DOUBLE_LIMIT) {
      lua_pushinteger(L, (lua_Integer)x);
    } else {
      lua_pushnumber(L, x);
    }
  } else { /* strings, and raw JSON text as its text */
    /* (not lua_pushstring: its cache of C pointers compares the text against two cached
     * strings first, and tree values are seldom pushed twice from the same pointer) */
    const char *text = item->valuestring ? item->valuestring : "";
    lua_pushlstring(L, text, strlen(text));
  }
}

/* The registry's array of member names as Lua strings, by interned-name number + 1: a cluster
 * object's names are pushed from it without hashing them again. */
static const char member_names_key = 'n';

static void push_member_names(lua_State *L) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &member_names_key) == LUA_TTABLE) return;
  lua_pop(L, 1);
  lua_createtable(L, 256, 0);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &member_names_key);
}

/* The member name of c as a Lua string; names is the stack index of the member-name array. */
static void push_member_name(lua_State *L, const cJSON *c, int names) {
  long number;
  if (c->string == NULL) {
    lua_pushliteral(L, "");
    return;
  }
  if ((c->type & cJSON_StringIsConst) && (number = vr_json_intern_number(c->string)) >= 0) {
    if (lua_rawgeti(L, names, number + 1) == LUA_TSTRING) return;
    lua_pop(L, 1);
    lua_pushlstring(L, c->string, strlen(c->string));
    lua_pushvalue(L, -1);
    lua_rawseti(L, names, number + 1);
    return;
  }
  lua_pushlstring(L, c->string, strlen(c->string));
}

/* vr_json_push_cjson without recursion, for subtrees nested deeper than PUSH_RECURSION_MAX. */
static void push_cjson_iterative(lua_State *L, const cJSON *item) {
  int top0 = lua_gettop(L), depth = 0;
  const cJSON *node = item;
  luaL_checkstack(L, 8, "cJSON to Lua");
  vr_shape_push_mt(L, VR_SHAPE_OBJECT); /* top0+1 */
  vr_shape_push_mt(L, VR_SHAPE_ARRAY);  /* top0+2 */
  push_member_names(L);                 /* top0+3 */
  for (;;) {
    /* push the value of node */
    if (node != NULL && (cJSON_IsArray(node) || cJSON_IsObject(node))) {
      int is_array = cJSON_IsArray(node) != 0, n = 0;
      const cJSON *c;
      for (c = node->child; c != NULL; c = c->next) n++;
      luaL_checkstack(L, 6, "cJSON tree too deep"); /* t, child, index, value, key, name cache */
      lua_createtable(L, is_array ? n : 0, is_array ? 0 : n);
      lua_pushvalue(L, is_array ? top0 + 2 : top0 + 1);
      lua_setmetatable(L, -2);
      if (node->child != NULL) {
        lua_pushlightuserdata(L, (void *)node->child); /* stack: t, child, index */
        if (is_array) {
          lua_pushinteger(L, 1);
        } else {
          lua_pushboolean(L, 0);
        }
        depth++;
        node = node->child;
        continue;
      }
    } else {
      push_cjson_scalar(L, node);
    }
    /* store the value on top into its parent; climb while parents are complete */
    for (;;) {
      const cJSON *cur;
      if (depth == 0) goto done;
      cur = lua_touserdata(L, -3); /* stack: t, child, index, value */
      if (lua_isinteger(L, -2)) {
        lua_Integer i = lua_tointeger(L, -2);
        lua_rawseti(L, -4, i);
        lua_pushinteger(L, i + 1);
        lua_replace(L, -2);
      } else {
        push_member_name(L, cur, top0 + 3);
        lua_insert(L, -2);
        lua_rawset(L, -5); /* stack: t, child, false, key, value */
      }
      if (cur->next != NULL) {
        lua_pushlightuserdata(L, (void *)cur->next);
        lua_replace(L, -3);
        node = cur->next;
        break;
      }
      lua_pop(L, 2); /* the finished table is now the value on top */
      depth--;
    }
  }
done:
  lua_replace(L, top0 + 1);
  lua_settop(L, top0 + 1);
}

#define PUSH_RECURSION_MAX 100

/* One value; mts is the stack index of the object metatable, mts + 1 the array one, mts + 2 the
 * member-name array. Recursion
 * (fewer API calls per member than the iterative walk) down to PUSH_RECURSION_MAX levels. */
static void push_cjson_value(lua_State *L, const cJSON *node, int mts, int depth) {
  const cJSON *c;
  int is_array, n = 0;
  if (node == NULL || !(cJSON_IsArray(node) || cJSON_IsObject(node))) {
    push_cjson_scalar(L, node);
    return;
  }
  if (depth >= PUSH_RECURSION_MAX) {
    push_cjson_iterative(L, node);
    return;
  }
  luaL_checkstack(L, 4, "cJSON to Lua");
  is_array = cJSON_IsArray(node) != 0;
  for (c = node->child; c != NULL; c = c->next) n++;
  lua_createtable(L, is_array ? n : 0, is_array ? 0 : n);
  lua_pushvalue(L, is_array ? mts + 1 : mts);
  lua_setmetatable(L, -2);
  n = 0;
  for (c = node->child; c != NULL; c = c->next) {
    if (is_array) {
      push_cjson_value(L, c, mts, depth + 1);
      lua_rawseti(L, -2, ++n);
    } else {
      push_member_name(L, c, mts + 2);
      push_cjson_value(L, c, mts, depth + 1);
      lua_rawset(L, -3);
    }
  }
}

/* Pushes the tree as Lua values (NULL pushes null; raw items push their text as a string). Raises
 * only memory errors, or a stack overflow for trees nested hundreds of thousands deep. */
void vr_json_push_cjson(lua_State *L, const cJSON *item) {
  int mts;
  if (item == NULL || !(cJSON_IsObject(item) || cJSON_IsArray(item))) {
    /* a scalar (what cluster.get_field mostly reads): no metatables or member names to set up */
    luaL_checkstack(L, 1, "cJSON to Lua");
    push_cjson_scalar(L, item);
    return;
  }
  luaL_checkstack(L, 8, "cJSON to Lua");
  vr_shape_push_mt(L, VR_SHAPE_OBJECT);
  vr_shape_push_mt(L, VR_SHAPE_ARRAY);
  push_member_names(L);
  mts = lua_gettop(L) - 2;
  push_cjson_value(L, item, mts, 0);
  lua_replace(L, mts); /* the value where the object metatable was */
  lua_pop(L, 2);
}
