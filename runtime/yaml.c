/* yaml.c: the YAML half of codec.h, built on libyaml's event API: YAML text -> Lua values,
 * Lua values -> YAML text, and YAML text -> cJSON trees for C code.
 *
 * Reading (the choices follow kubectl where YAML leaves room):
 *  - plain scalars resolve by the YAML 1.2 core schema, plus octal 0644 (see resolve_plain());
 *    quoted and block scalars are strings; tags !!str !!int !!float !!bool !!null !!map !!seq
 *    and "!" are honoured, any other tag is an error;
 *  - mapping keys become strings holding the key's source text (80 -> "80", true -> "true");
 *    mapping or sequence keys and duplicate keys are errors;
 *  - aliases give the anchored value itself (the same Lua table; a copy in cJSON); anchors do not
 *    cross documents; aliases may add at most YAML_MAX_ALIAS_NODES nodes per stream;
 *  - merge keys (<<: *base, <<: [*a, *b]) are supported: keys written in the mapping win, then
 *    earlier sources over later ones;
 *  - empty and null documents are skipped; nesting is capped at VR_CODEC_MAX_DEPTH;
 *  - cJSON cannot hold integers beyond +-2^53 exactly, infinities, NaN or NUL bytes in strings:
 *    vr_yaml_to_cjson reports them as errors rather than changing the data.
 * Writing: block style, keys in byte order by default, strings quoted whenever a plain scalar
 * would read back as something else (here or in YAML 1.1 readers such as kubectl), multi-line
 * strings as literal blocks when libyaml allows. YAML can hold .inf and .nan, so they are
 * written; nil is refused (yaml.null stands for null). Error paths look like "$.spec.items[3]"
 * with Lua's 1-based indices, as in json.c.
 *
 * vr_yaml_decode and vr_yaml_encode return 1 with one value pushed, or 0 with *err filled in and
 * the stack as it was; vr_yaml_to_cjson returns NULL on error. vr_yaml_to_cjson parses a big
 * stream in two halves at once (a second thread, joined before it returns; see split_point());
 * the Lua paths never start a thread.
 *
 * Nesting is handled with explicit stacks, never C recursion. The C-side state of a Lua call lives
 * in a userdata with __gc, so the only error that may escape (a Lua memory error) leaks nothing.
 * This file may not raise any other error, call Lua code (all table access is raw, metamethods
 * are never triggered) or keep references to Lua values after returning. */
#include "codec.h"
#include "json_pool.h"
#include "luaval.h"
#include "strmap.h"

#include <lauxlib.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* Nodes that aliases may add to one stream (each alias adds the size of the node it repeats).
 * Real files stay far below; "billion laughs" documents hit it after a few levels. */
#define YAML_MAX_ALIAS_NODES 1000000
/* Integers at or below this magnitude are exact in a double (and so in a cJSON number). */
#define YAML_MAX_SAFE_INTEGER INT64_C(9007199254740992)
#define CORE_TAG              "tag:yaml.org,2002:"

#ifndef VR_PRINTF
#if defined(__GNUC__)
#define VR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define VR_PRINTF(f, a)
#endif
#endif

static VR_PRINTF(4, 5) void set_error(vr_codec_error *err, int line, int column, const char *fmt,
                                      ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->message, sizeof err->message, fmt, ap);
  va_end(ap);
  err->line = line;
  err->column = column;
}

/* Copies at most 40 bytes of s into out for messages, marking the cut with "..." (made at a
 * UTF-8 character boundary); control characters become '?'. */
static const char *snippet(const char *s, size_t len, char *out, size_t outlen) {
  size_t i, n = len > 40 ? 40 : len;
  if (n > outlen - 4) n = outlen - 4;
  while (n > 0 && n < len && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    out[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
  }
  if (n < len) {
    memcpy(out + n, "...", 3);
    n += 3;
  }
  out[n] = '\0';
  return out;
}

static char *dup_bytes(const char *s, size_t len) {
  char *p = malloc(len + 1);
  if (p == NULL) return NULL;
  memcpy(p, s, len);
  p[len] = '\0';
  return p;
}

/* ------------------------------------------------------------------------------------------- */
/* Scalar resolution                                                                           */
/* ------------------------------------------------------------------------------------------- */

typedef enum { SC_NULL, SC_BOOL, SC_INT, SC_FLOAT, SC_STRING } scalar_kind;

typedef struct scalar_value {
  scalar_kind kind;
  int boolean;
  int64_t integer;
  double number; /* SC_FLOAT, and SC_INT when `overflow` */
  int overflow;  /* SC_INT beyond int64: `number` holds the nearest double */
} scalar_value;

static int is_digit(char c) {
  return c >= '0' && c <= '9';
}

static int match_null(const char *s, size_t n) {
  return n == 0 || (n == 1 && s[0] == '~') ||
         (n == 4 && (!strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL")));
}

static int match_bool(const char *s, size_t n, int *value) {
  if (n == 4 && (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))) {
    *value = 1;
    return 1;
  }
  if (n == 5 && (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))) {
    *value = 0;
    return 1;
  }
  return 0;
}

static int digit_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return 99;
}

/* Integer forms: [-+]?[0-9]+ (decimal; with a leading zero and more digits, octal as in YAML 1.1
 * and kubectl, so that file modes like 0644 mean 420), 0x[0-9a-fA-F]+ and 0o[0-7]+.
 * Returns 1 for an integer (sv filled), 0 for text that is not one, -1 for digits with a leading
 * zero that are not octal ("09", "0189"): those are kept as strings. s must be NUL-terminated. */
static int parse_int(const char *s, size_t n, scalar_value *sv) {
  size_t i = 0, start;
  int neg = 0, base = 10;
  uint64_t acc = 0, limit;
  double approx = 0;
  int overflow = 0;
  if (n > 0 && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    i = 1;
  }
  if (i == n || !is_digit(s[i])) return 0;
  if (i == 0 && n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    i = 2;
  } else if (i == 0 && n > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'O')) {
    base = 8;
    i = 2;
  } else if (s[i] == '0' && n - i > 1) {
    size_t j;
    for (j = i; j < n; j++) {
      if (!is_digit(s[j])) return 0;
    }
    for (j = i; j < n; j++) {
      if (s[j] > '7') return -1;
    }
    base = 8;
  }
  start = i;
  limit = neg ? (uint64_t)INT64_MAX + 1u : (uint64_t)INT64_MAX;
  for (; i < n; i++) {
    int d = digit_value(s[i]);
    if (d >= base) return 0;
    approx = approx * base + d;
    if (!overflow && (acc > (limit - (uint64_t)d) / (uint64_t)base)) overflow = 1;
    if (!overflow) acc = acc * (uint64_t)base + (uint64_t)d;
  }
  if (i == start) return 0;
  sv->kind = SC_INT;
  sv->overflow = overflow;
  if (overflow) {
    /* strtod rounds decimal text correctly; other bases are exact powers of two anyway */
    sv->number = base == 10 ? strtod(s, NULL) : (neg ? -approx : approx);
    sv->integer = 0;
  } else if (neg) {
    sv->integer = acc == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)acc;
  } else {
    sv->integer = (int64_t)acc;
  }
  return 1;
}

/* Float forms of the core schema: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?,
 * [-+]?\.(inf|Inf|INF) and \.(nan|NaN|NAN). s must be NUL-terminated. */
static int parse_float(const char *s, size_t n, double *out) {
  size_t i = 0, digits = 0;
  int neg = 0;
  char *end = NULL;
  if (n > 0 && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    i = 1;
  }
  if (n - i == 4 && s[i] == '.' &&
      (!strcmp(s + i + 1, "inf") || !strcmp(s + i + 1, "Inf") || !strcmp(s + i + 1, "INF"))) {
    *out = neg ? -HUGE_VAL : HUGE_VAL;
    return 1;
  }
  if (n == 4 && (!strcmp(s, ".nan") || !strcmp(s, ".NaN") || !strcmp(s, ".NAN"))) {
    *out = NAN;
    return 1;
  }
  while (i < n && is_digit(s[i])) i++, digits++;
  if (i < n && s[i] == '.') {
    size_t frac = 0;
    i++;
    while (i < n && is_digit(s[i])) i++, frac++;
    if (digits == 0 && frac == 0) return 0;
  } else if (digits == 0) {
    return 0;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    size_t exp = 0;
    i++;
    if (i < n && (s[i] == '-' || s[i] == '+')) i++;
    while (i < n && is_digit(s[i])) i++, exp++;
    if (exp == 0) return 0;
  }
  if (i != n) return 0;
  *out = strtod(s, &end);
  return end == s + n;
}

/* Resolves an untagged plain scalar (s NUL-terminated, n its length):
 *   ""  ~  null Null NULL                         -> null
 *   true True TRUE false False FALSE              -> boolean
 *   [-+]?[0-9]+, 0x.., 0o.., 0[0-7]+ (octal)      -> integer (beyond int64: a float)
 *   1.5  -2.  .5  1e3  -1.2E-3  .inf  -.inf  .nan -> float
 *   anything else                                 -> string
 * So YAML 1.1 booleans (yes, no, on, off, y, n) stay strings, as do "1.2.3", "10Gi", "1_000" and
 * leading-zero digit strings that are not octal ("09"). */
static void resolve_plain(const char *s, size_t n, scalar_value *sv) {
  int r;
  sv->kind = SC_STRING;
  sv->overflow = 0;
  if (memchr(s, '\0', n) != NULL) return;
  if (n > 0 && strchr("-+.0123456789tTfFnN~", s[0]) == NULL) return;
  if (match_null(s, n)) {
    sv->kind = SC_NULL;
  } else if (match_bool(s, n, &sv->boolean)) {
    sv->kind = SC_BOOL;
  } else if ((r = parse_int(s, n, sv)) != 0) {
    if (r < 0) sv->kind = SC_STRING;
  } else if (parse_float(s, n, &sv->number)) {
    sv->kind = SC_FLOAT;
  }
}

/* "tag:yaml.org,2002:int" -> "int"; NULL for tags outside the core namespace. */
static const char *core_tag(const char *tag) {
  size_t n = sizeof CORE_TAG - 1;
  return strncmp(tag, CORE_TAG, n) == 0 ? tag + n : NULL;
}

/* A tag as written in YAML, for messages: "!!int", "!custom". */
static const char *tag_display(const char *tag, char *out, size_t outlen) {
  const char *core = core_tag(tag);
  if (core != NULL) {
    snprintf(out, outlen, "!!%s", core);
  } else {
    snprintf(out, outlen, "%s", tag);
  }
  return out;
}

/* ------------------------------------------------------------------------------------------- */
/* Reader: events -> Lua values or cJSON                                                       */
/* ------------------------------------------------------------------------------------------- */

typedef struct anchor_rec {
  char *name;
  char *text; /* scalar anchors: the source text (an alias of it may be a mapping key) */
  size_t textlen;
  size_t count; /* nodes in the anchored value, counting what its own aliases expand to */
  int height;   /* nesting levels in the anchored value (0 for a scalar) */
  cJSON *node;  /* cJSON path: the anchored node, owned by the tree or the graveyard */
} anchor_rec;   /* Lua path: the value is anchors[index + 1] */

typedef struct yframe {
  int is_map;
  char *anchor;       /* this collection's anchor, registered when it is complete */
  yaml_mark_t mark;   /* where it starts */
  size_t start_nodes; /* reader->nodes before it was opened */
  int height;         /* highest child */
  lua_Integer n;      /* sequences: items so far */
  int have_key;       /* mappings: a key is waiting for its value */
  int key_is_merge;   /* ... and it is the merge key << */
  int has_merge;      /* a << entry was seen */
  char *key;
  size_t keylen;
  cJSON *node;         /* cJSON path: the collection (owned here until it is complete) */
  cJSON *merge;        /* cJSON path: the value of <<, applied when the mapping is complete */
  size_t nkeys;        /* cJSON path: entries in `node` */
  const char **keyset; /* cJSON path, mappings past KEYSET_MIN entries: their keys, hashed */
  size_t keyset_cap;
} yframe;

typedef struct yreader {
  lua_State *L; /* NULL on the cJSON path */
  int base;     /* Lua path: stack top on entry */
  const char *text;
  vr_codec_error *err;
  yaml_parser_t parser;
  int parser_ok;
  yaml_event_t event;
  int have_event;
  yframe *frames;
  int nframes, frames_cap;
  anchor_rec *anchors;
  size_t nanchors, anchors_cap;
  int *hash; /* open addressing over `anchors` indices, -1 = free */
  size_t hash_cap;
  size_t nodes;       /* nodes built so far (aliases count what they expand to) */
  size_t alias_nodes; /* nodes added by aliases */
  int *doc_lines;
  size_t ndocs, docs_cap;
  int doc_line, doc_column;       /* where the current document starts */
  int root_line;                  /* where its root node starts ("---" may be a line before) */
  int doc_root_pending;           /* a document started; its root node not yet seen */
  int second_line, second_column; /* where the second non-empty document starts */
  size_t cur_count;               /* the value just completed: its node count and height */
  int cur_height;
  cJSON *cur; /* cJSON path: the value just completed, not yet attached */
  cJSON *docs;
  cJSON *graveyard; /* nodes that anchors may still point to but no document owns */
  vr_strmap names;  /* cJSON path: member name -> its interned copy (no lock per member) */
} yreader;

/* Lua path stack layout (absolute indices). The completed value, if any, is on top. */
#define R_UD(r)       ((r)->base + 1)
#define R_ANCHORS(r)  ((r)->base + 2) /* anchor index + 1 -> value (current document) */
#define R_MERGES(r)   ((r)->base + 3) /* frame depth -> value of its << key */
#define R_DOCS(r)     ((r)->base + 4) /* non-empty documents, in order */
#define R_FRAME(r, i) ((r)->base + 5 + (i))

static int mark_line(const yaml_mark_t *m) {
  return m->line >= (size_t)INT_MAX ? INT_MAX : (int)m->line + 1;
}

static int mark_column(const yaml_mark_t *m) {
  return m->column >= (size_t)INT_MAX ? INT_MAX : (int)m->column + 1;
}

static VR_PRINTF(3, 4) int fail(yreader *r, const yaml_mark_t *mark, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->err->message, sizeof r->err->message, fmt, ap);
  va_end(ap);
  r->err->line = mark ? mark_line(mark) : 0;
  r->err->column = mark ? mark_column(mark) : 0;
  return 0;
}

static int fail_oom(yreader *r) {
  return fail(r, NULL, "out of memory");
}

static int reserve(yreader *r, int n) {
  if (r->L != NULL && !lua_checkstack(r->L, n)) {
    return fail(r, &r->event.start_mark, "nesting too deep for the Lua stack");
  }
  return 1;
}

static unsigned long hash_name(const char *s) {
  unsigned long h = 2166136261u;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
  return h;
}

/* Small mappings find duplicate keys by walking their cJSON entries; larger ones keep a hash
 * set of the keys (pointers to the entries' own strings) so that wide mappings stay linear. */
#define KEYSET_MIN 32

static int keyset_has(const yframe *f, const char *key) {
  size_t mask = f->keyset_cap - 1, h;
  for (h = hash_name(key) & mask; f->keyset[h] != NULL; h = (h + 1) & mask) {
    if (strcmp(f->keyset[h], key) == 0) return 1;
  }
  return 0;
}

static void keyset_put(yframe *f, const char *key) {
  size_t mask = f->keyset_cap - 1, h = hash_name(key) & mask;
  while (f->keyset[h] != NULL) h = (h + 1) & mask;
  f->keyset[h] = key;
}

/* Records the entry just added to mapping frame f. 0 when out of memory. */
static int keyset_add(yframe *f, const cJSON *item) {
  f->nkeys++;
  if (f->nkeys < KEYSET_MIN) return 1;
  if (f->nkeys * 2 > f->keyset_cap) {
    size_t ncap = f->keyset_cap ? f->keyset_cap * 2 : 4 * KEYSET_MIN;
    const char **slots = calloc(ncap, sizeof *slots);
    const cJSON *each;
    if (slots == NULL) return 0;
    free(f->keyset);
    f->keyset = slots;
    f->keyset_cap = ncap;
    cJSON_ArrayForEach(each, f->node) keyset_put(f, each->string);
    return 1;
  }
  keyset_put(f, item->string);
  return 1;
}

static void frame_free(yframe *f) {
  free(f->key);
  free(f->anchor);
  cJSON_Delete(f->node);
  cJSON_Delete(f->merge);
  free(f->keyset);
  memset(f, 0, sizeof *f);
}

static void anchors_reset(yreader *r) {
  size_t i;
  for (i = 0; i < r->nanchors; i++) {
    free(r->anchors[i].name);
    free(r->anchors[i].text);
  }
  r->nanchors = 0;
  for (i = 0; i < r->hash_cap; i++) r->hash[i] = -1;
}

static void reader_free(yreader *r) {
  int i;
  if (r->have_event) yaml_event_delete(&r->event);
  r->have_event = 0;
  if (r->parser_ok) yaml_parser_delete(&r->parser);
  r->parser_ok = 0;
  for (i = 0; i < r->nframes; i++) frame_free(&r->frames[i]);
  free(r->frames);
  r->frames = NULL;
  r->nframes = r->frames_cap = 0;
  anchors_reset(r);
  free(r->anchors);
  free(r->hash);
  r->anchors = NULL;
  r->hash = NULL;
  r->anchors_cap = r->hash_cap = 0;
  free(r->doc_lines);
  r->doc_lines = NULL;
  cJSON_Delete(r->cur);
  cJSON_Delete(r->docs);
  cJSON_Delete(r->graveyard);
  r->cur = r->docs = r->graveyard = NULL;
  vr_strmap_clear(&r->names);
}

static int reader_gc(lua_State *L) {
  reader_free(lua_touserdata(L, 1));
  return 0;
}

static anchor_rec *anchor_find(yreader *r, const char *name) {
  size_t mask, h;
  if (r->hash_cap == 0) return NULL;
  mask = r->hash_cap - 1;
  for (h = hash_name(name) & mask; r->hash[h] >= 0; h = (h + 1) & mask) {
    anchor_rec *rec = &r->anchors[r->hash[h]];
    if (strcmp(rec->name, name) == 0) return rec;
  }
  return NULL;
}

static void hash_insert(yreader *r, size_t at) {
  size_t mask = r->hash_cap - 1, h = hash_name(r->anchors[at].name) & mask;
  while (r->hash[h] >= 0) h = (h + 1) & mask;
  r->hash[h] = (int)at;
}

/* The record for `name` (an existing one is reset: a later anchor replaces an earlier one).
 * NULL when out of memory. */
static anchor_rec *anchor_define(yreader *r, const char *name) {
  anchor_rec *rec = anchor_find(r, name);
  if (rec != NULL) {
    free(rec->text);
    rec->text = NULL;
    rec->node = NULL;
    return rec;
  }
  if (r->nanchors >= (size_t)INT_MAX) return NULL;
  if (r->nanchors == r->anchors_cap) {
    size_t ncap = r->anchors_cap ? r->anchors_cap * 2 : 16;
    anchor_rec *na = realloc(r->anchors, ncap * sizeof *na);
    if (na == NULL) return NULL;
    r->anchors = na;
    r->anchors_cap = ncap;
  }
  if ((r->nanchors + 1) * 2 > r->hash_cap) {
    size_t i, ncap = r->hash_cap ? r->hash_cap * 2 : 32;
    int *nh = malloc(ncap * sizeof *nh);
    if (nh == NULL) return NULL;
    free(r->hash);
    r->hash = nh;
    r->hash_cap = ncap;
    for (i = 0; i < ncap; i++) nh[i] = -1;
    for (i = 0; i < r->nanchors; i++) hash_insert(r, i);
  }
  rec = &r->anchors[r->nanchors];
  memset(rec, 0, sizeof *rec);
  rec->name = dup_bytes(name, strlen(name));
  if (rec->name == NULL) return NULL;
  hash_insert(r, r->nanchors++);
  return rec;
}

/* Remembers the completed value (Lua: on top of the stack; cJSON: r->cur or `node`) under
 * `name`. `text` is the scalar's source text, NULL for collections. */
static int register_anchor(yreader *r, const char *name, const char *text, size_t textlen,
                           cJSON *node) {
  anchor_rec *rec = anchor_define(r, name);
  if (rec == NULL) return fail_oom(r);
  rec->count = r->cur_count;
  rec->height = r->cur_height;
  if (text != NULL && (rec->text = dup_bytes(text, textlen)) == NULL) return fail_oom(r);
  rec->textlen = textlen;
  if (r->L != NULL) {
    if (!reserve(r, 2)) return 0;
    lua_pushvalue(r->L, -1);
    lua_rawseti(r->L, R_ANCHORS(r), (lua_Integer)(rec - r->anchors) + 1);
  } else {
    rec->node = node;
  }
  return 1;
}

/* Takes a node that anchors may point to but no document will own. */
static int bury(yreader *r, cJSON *node) {
  if (r->graveyard == NULL && (r->graveyard = cJSON_CreateArray()) == NULL) {
    cJSON_Delete(node);
    return fail_oom(r);
  }
  if (!cJSON_AddItemToArray(r->graveyard, node)) {
    cJSON_Delete(node);
    return fail_oom(r);
  }
  return 1;
}

static void parser_error(yreader *r) {
  yaml_parser_t *p = &r->parser;
  const char *problem = p->problem ? p->problem : "invalid YAML";
  if (p->error == YAML_MEMORY_ERROR) {
    fail_oom(r);
  } else if (p->error == YAML_READER_ERROR) {
    int line, column;
    vr_text_position(r->text, p->problem_offset, &line, &column);
    if (p->problem_value != -1) {
      set_error(r->err, line, column, "%s (#%X)", problem, (unsigned)p->problem_value);
    } else {
      set_error(r->err, line, column, "%s", problem);
    }
  } else if (p->context != NULL) {
    set_error(r->err, mark_line(&p->problem_mark), mark_column(&p->problem_mark),
              "%s (%s at line %d column %d)", problem, p->context, mark_line(&p->context_mark),
              mark_column(&p->context_mark));
  } else {
    set_error(r->err, mark_line(&p->problem_mark), mark_column(&p->problem_mark), "%s", problem);
  }
}

/* Resolves the current scalar event. Keys may carry !!merge; tags outside the core schema and
 * collection tags on scalars are errors. */
static int resolve_scalar(yreader *r, int is_key, scalar_value *sv, int *is_merge) {
  const yaml_event_t *ev = &r->event;
  const char *tag = (const char *)ev->data.scalar.tag;
  const char *s = (const char *)ev->data.scalar.value;
  size_t n = ev->data.scalar.length;
  const char *core;
  char tbuf[64], vbuf[48];
  memset(sv, 0, sizeof *sv);
  sv->kind = SC_STRING;
  if (is_merge) *is_merge = 0;
  if (tag == NULL) {
    if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
      resolve_plain(s, n, sv);
      if (is_merge) *is_merge = n == 2 && memcmp(s, "<<", 2) == 0;
    }
    return 1;
  }
  if (strcmp(tag, "!") == 0) return 1; /* non-specific tag: a string */
  core = core_tag(tag);
  if (core == NULL) {
    return fail(r, &ev->start_mark, "unknown tag '%s'", tag_display(tag, tbuf, sizeof tbuf));
  }
  if (memchr(s, '\0', n) != NULL && strcmp(core, "str") != 0) {
    return fail(r, &ev->start_mark, "invalid !!%s value", core);
  }
  if (strcmp(core, "str") == 0) return 1;
  if (strcmp(core, "null") == 0) {
    if (match_null(s, n)) {
      sv->kind = SC_NULL;
      return 1;
    }
  } else if (strcmp(core, "bool") == 0) {
    if (match_bool(s, n, &sv->boolean)) {
      sv->kind = SC_BOOL;
      return 1;
    }
  } else if (strcmp(core, "int") == 0) {
    if (parse_int(s, n, sv) > 0) return 1;
  } else if (strcmp(core, "float") == 0) {
    if (parse_int(s, n, sv) > 0) {
      sv->kind = SC_FLOAT;
      if (!sv->overflow) sv->number = (double)sv->integer;
      sv->overflow = 0;
      return 1;
    }
    if (parse_float(s, n, &sv->number)) {
      sv->kind = SC_FLOAT;
      return 1;
    }
  } else if (strcmp(core, "merge") == 0 && is_key) {
    *is_merge = 1;
    return 1;
  } else if (strcmp(core, "map") == 0 || strcmp(core, "seq") == 0) {
    return fail(r, &ev->start_mark, "tag '%s' on a scalar", tag_display(tag, tbuf, sizeof tbuf));
  } else {
    return fail(r, &ev->start_mark, "unknown tag '%s'", tag_display(tag, tbuf, sizeof tbuf));
  }
  memset(sv, 0, sizeof *sv);
  return fail(r, &ev->start_mark, "invalid !!%s value '%s'", core,
              snippet(s, n, vbuf, sizeof vbuf));
}

/* Pushes (Lua) or builds (cJSON, into r->cur) a resolved scalar. */
static int produce_scalar(yreader *r, const scalar_value *sv, const char *s, size_t n) {
  const yaml_mark_t *mark = &r->event.start_mark;
  char vbuf[48];
  if (r->L != NULL) {
    lua_State *L = r->L;
    if (!reserve(r, 3)) return 0;
    switch (sv->kind) {
    case SC_NULL:
      vr_null_push(L);
      break;
    case SC_BOOL:
      lua_pushboolean(L, sv->boolean);
      break;
    case SC_INT:
      if (sv->overflow) {
        lua_pushnumber(L, (lua_Number)sv->number);
      } else {
        lua_pushinteger(L, (lua_Integer)sv->integer);
      }
      break;
    case SC_FLOAT:
      lua_pushnumber(L, (lua_Number)sv->number);
      break;
    case SC_STRING:
      lua_pushlstring(L, s, n);
      break;
    }
    return 1;
  }
  switch (sv->kind) {
  case SC_NULL:
    r->cur = cJSON_CreateNull();
    break;
  case SC_BOOL:
    r->cur = cJSON_CreateBool(sv->boolean);
    break;
  case SC_INT:
    if (sv->overflow || sv->integer > YAML_MAX_SAFE_INTEGER ||
        sv->integer < -YAML_MAX_SAFE_INTEGER) {
      return fail(r, mark, "integer %s cannot be held exactly by a cJSON number (limit 2^53)",
                  snippet(s, n, vbuf, sizeof vbuf));
    }
    r->cur = cJSON_CreateNumber((double)sv->integer);
    break;
  case SC_FLOAT:
    if (!isfinite(sv->number)) {
      return fail(r, mark, "%s cannot be held by a cJSON number", snippet(s, n, vbuf, sizeof vbuf));
    }
    r->cur = cJSON_CreateNumber(sv->number);
    break;
  case SC_STRING:
    if (memchr(s, '\0', n) != NULL) {
      return fail(r, mark, "string with a NUL character cannot be held by cJSON");
    }
    r->cur = cJSON_CreateString(s);
    break;
  }
  return r->cur != NULL ? 1 : fail_oom(r);
}

static int count_alias(yreader *r, const anchor_rec *rec, const yaml_mark_t *mark) {
  if (r->alias_nodes + rec->count > YAML_MAX_ALIAS_NODES) {
    return fail(r, mark, "aliases expand to more than %d nodes", YAML_MAX_ALIAS_NODES);
  }
  r->alias_nodes += rec->count;
  r->nodes += rec->count;
  return 1;
}

static int attach_document(yreader *r) {
  int is_null;
  if (r->L != NULL) {
    is_null = vr_null_is(r->L, -1);
  } else {
    is_null = cJSON_IsNull(r->cur);
  }
  if (is_null) {
    if (r->L != NULL) {
      lua_pop(r->L, 1);
    } else {
      cJSON_Delete(r->cur);
      r->cur = NULL;
    }
    return 1;
  }
  if (r->ndocs == r->docs_cap) {
    size_t ncap = r->docs_cap ? r->docs_cap * 2 : 8;
    int *nl = realloc(r->doc_lines, ncap * sizeof *nl);
    if (nl == NULL) return fail_oom(r);
    r->doc_lines = nl;
    r->docs_cap = ncap;
  }
  r->doc_lines[r->ndocs++] = r->root_line;
  if (r->ndocs == 2) {
    r->second_line = r->doc_line;
    r->second_column = r->doc_column;
  }
  if (r->L != NULL) {
    lua_rawseti(r->L, R_DOCS(r), (lua_Integer)r->ndocs);
  } else {
    cJSON *item = r->cur;
    r->cur = NULL;
    if (!cJSON_AddItemToArray(r->docs, item)) {
      cJSON_Delete(item);
      return fail_oom(r);
    }
  }
  return 1;
}

/* Takes the completed value as the value of the pending << key of mapping frame f. */
static int take_merge(yreader *r, yframe *f, const yaml_mark_t *mark) {
  static const char msg[] = "the merge key '<<' needs a mapping or a sequence of mappings";
  if (r->L != NULL) {
    lua_State *L = r->L;
    vr_shape shape = vr_shape_get(L, -1);
    if (shape == VR_SHAPE_ARRAY) {
      lua_Integer i, n = (lua_Integer)lua_rawlen(L, -1);
      if (!reserve(r, 2)) return 0;
      for (i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, i);
        shape = vr_shape_get(L, -1);
        lua_pop(L, 1);
        if (shape != VR_SHAPE_OBJECT) return fail(r, mark, msg);
      }
    } else if (shape != VR_SHAPE_OBJECT) {
      return fail(r, mark, msg);
    }
    lua_rawseti(L, R_MERGES(r), r->nframes);
  } else {
    cJSON *v = r->cur, *item;
    if (cJSON_IsArray(v)) {
      cJSON_ArrayForEach(item, v) {
        if (!cJSON_IsObject(item)) return fail(r, mark, msg);
      }
    } else if (!cJSON_IsObject(v)) {
      return fail(r, mark, msg);
    }
    f->merge = v;
    r->cur = NULL;
  }
  return 1;
}

/* The interned copy of a member name (NULL: copy it), through the reader's own cache: the
 * shared table takes a lock, and two readers may run at once (vr_yaml_to_cjson). */
static const char *interned_name(yreader *r, const char *key) {
  const char *name = vr_strmap_get(&r->names, key);
  if (name == NULL && (name = vr_json_intern(key)) != NULL) {
    vr_strmap_put(&r->names, key, (void *)name); /* a miss next time if this fails */
  }
  return name;
}

/* Attaches the completed value (Lua: top of stack; cJSON: r->cur) to the open collection or,
 * at the top level, to the documents. `mark` is where the value starts. */
static int attach(yreader *r, const yaml_mark_t *mark) {
  yframe *f;
  if (r->nframes == 0) return attach_document(r);
  f = &r->frames[r->nframes - 1];
  if (r->cur_height > f->height) f->height = r->cur_height;
  if (!f->is_map) {
    if (r->L != NULL) {
      lua_rawseti(r->L, R_FRAME(r, r->nframes - 1), ++f->n);
    } else {
      cJSON *item = r->cur;
      r->cur = NULL;
      if (!cJSON_AddItemToArray(f->node, item)) {
        cJSON_Delete(item);
        return fail_oom(r);
      }
    }
    return 1;
  }
  if (f->key_is_merge) {
    if (!take_merge(r, f, mark)) return 0;
  } else if (r->L != NULL) {
    lua_pushlstring(r->L, f->key, f->keylen);
    lua_insert(r->L, -2);
    lua_rawset(r->L, R_FRAME(r, r->nframes - 1));
  } else {
    cJSON *item = r->cur;
    const char *name = interned_name(r, f->key);
    r->cur = NULL;
    if (!(name ? cJSON_AddItemToObjectCS(f->node, name, item)
               : cJSON_AddItemToObject(f->node, f->key, item))) {
      cJSON_Delete(item);
      return fail_oom(r);
    }
    if (!keyset_add(f, item)) return fail_oom(r);
  }
  free(f->key);
  f->key = NULL;
  f->have_key = 0;
  f->key_is_merge = 0;
  return 1;
}

/* The current scalar event is a mapping key of frame f. */
static int on_key(yreader *r, yframe *f, const char *s, size_t n, int is_merge,
                  const yaml_mark_t *mark) {
  char kbuf[48];
  int dup;
  if (is_merge) {
    dup = f->has_merge;
  } else if (r->L != NULL) {
    if (!reserve(r, 2)) return 0;
    lua_pushlstring(r->L, s, n);
    dup = lua_rawget(r->L, R_FRAME(r, r->nframes - 1)) != LUA_TNIL;
    lua_pop(r->L, 1);
  } else {
    if (memchr(s, '\0', n) != NULL) {
      return fail(r, mark, "key with a NUL character cannot be held by cJSON");
    }
    dup =
        f->keyset != NULL ? keyset_has(f, s) : cJSON_GetObjectItemCaseSensitive(f->node, s) != NULL;
  }
  if (dup) return fail(r, mark, "duplicate key '%s'", snippet(s, n, kbuf, sizeof kbuf));
  if ((f->key = dup_bytes(s, n)) == NULL) return fail_oom(r);
  f->keylen = n;
  f->have_key = 1;
  f->key_is_merge = is_merge;
  if (is_merge) f->has_merge = 1;
  r->nodes++;
  return 1;
}

static int on_scalar(yreader *r) {
  const yaml_event_t *ev = &r->event;
  const char *s = (const char *)ev->data.scalar.value;
  const char *anchor = (const char *)ev->data.scalar.anchor;
  size_t n = ev->data.scalar.length;
  yframe *f = r->nframes ? &r->frames[r->nframes - 1] : NULL;
  scalar_value sv;
  int is_merge = 0;
  if (f != NULL && f->is_map && !f->have_key) {
    if (!resolve_scalar(r, 1, &sv, &is_merge)) return 0;
    if (!on_key(r, f, s, n, is_merge, &ev->start_mark)) return 0;
    if (anchor != NULL) { /* an anchored key: aliases of it yield the key string */
      r->cur_count = 1;
      r->cur_height = 0;
      if (r->L != NULL) {
        if (!reserve(r, 2)) return 0;
        lua_pushlstring(r->L, s, n);
        if (!register_anchor(r, anchor, s, n, NULL)) return 0;
        lua_pop(r->L, 1);
      } else {
        cJSON *node = cJSON_CreateString(s);
        if (node == NULL) return fail_oom(r);
        if (!bury(r, node)) return 0;
        if (!register_anchor(r, anchor, s, n, node)) return 0;
      }
    }
    return 1;
  }
  if (!resolve_scalar(r, 0, &sv, NULL)) return 0;
  if (!produce_scalar(r, &sv, s, n)) return 0;
  r->nodes++;
  r->cur_count = 1;
  r->cur_height = 0;
  if (anchor != NULL && !register_anchor(r, anchor, s, n, r->cur)) return 0;
  return attach(r, &ev->start_mark);
}

static int on_alias(yreader *r) {
  const yaml_event_t *ev = &r->event;
  const char *name = (const char *)ev->data.alias.anchor;
  yframe *f = r->nframes ? &r->frames[r->nframes - 1] : NULL;
  anchor_rec *rec;
  int i;
  for (i = r->nframes - 1; i >= 0; i--) {
    if (r->frames[i].anchor != NULL && strcmp(r->frames[i].anchor, name) == 0) {
      return fail(r, &ev->start_mark, "alias '*%s' refers to a node that contains it", name);
    }
  }
  rec = anchor_find(r, name);
  if (rec == NULL) return fail(r, &ev->start_mark, "unknown anchor '%s'", name);
  if (f != NULL && f->is_map && !f->have_key) {
    if (rec->text == NULL) {
      return fail(r, &ev->start_mark, "alias '*%s' of a mapping or sequence used as a key", name);
    }
    return on_key(r, f, rec->text, rec->textlen, 0, &ev->start_mark);
  }
  if (r->nframes + rec->height > VR_CODEC_MAX_DEPTH) {
    return fail(r, &ev->start_mark, "nesting deeper than %d levels", VR_CODEC_MAX_DEPTH);
  }
  if (!count_alias(r, rec, &ev->start_mark)) return 0;
  if (r->L != NULL) {
    if (!reserve(r, 2)) return 0;
    lua_rawgeti(r->L, R_ANCHORS(r), (lua_Integer)(rec - r->anchors) + 1);
  } else if ((r->cur = cJSON_Duplicate(rec->node, 1)) == NULL) {
    return fail_oom(r);
  }
  r->cur_count = rec->count;
  r->cur_height = rec->height;
  return attach(r, &ev->start_mark);
}

static int on_start(yreader *r, int is_map) {
  const yaml_event_t *ev = &r->event;
  const char *tag, *anchor, *core;
  yframe *f = r->nframes ? &r->frames[r->nframes - 1] : NULL;
  char tbuf[64];
  if (is_map) {
    tag = (const char *)ev->data.mapping_start.tag;
    anchor = (const char *)ev->data.mapping_start.anchor;
  } else {
    tag = (const char *)ev->data.sequence_start.tag;
    anchor = (const char *)ev->data.sequence_start.anchor;
  }
  if (f != NULL && f->is_map && !f->have_key) {
    return fail(r, &ev->start_mark, "mapping keys must be scalars, not %s",
                is_map ? "mappings" : "sequences");
  }
  if (tag != NULL && strcmp(tag, "!") != 0) {
    core = core_tag(tag);
    if (core == NULL ||
        (strcmp(core, "map") != 0 && strcmp(core, "seq") != 0 && strcmp(core, "str") != 0 &&
         strcmp(core, "int") != 0 && strcmp(core, "float") != 0 && strcmp(core, "bool") != 0 &&
         strcmp(core, "null") != 0)) {
      return fail(r, &ev->start_mark, "unknown tag '%s'", tag_display(tag, tbuf, sizeof tbuf));
    }
    if (strcmp(core, is_map ? "map" : "seq") != 0) {
      return fail(r, &ev->start_mark, "tag '%s' on a %s", tag_display(tag, tbuf, sizeof tbuf),
                  is_map ? "mapping" : "sequence");
    }
  }
  if (r->nframes >= VR_CODEC_MAX_DEPTH) {
    return fail(r, &ev->start_mark, "nesting deeper than %d levels", VR_CODEC_MAX_DEPTH);
  }
  if (r->nframes == r->frames_cap) {
    int ncap = r->frames_cap ? r->frames_cap * 2 : 16;
    yframe *nf = realloc(r->frames, (size_t)ncap * sizeof *nf);
    if (nf == NULL) return fail_oom(r);
    r->frames = nf;
    r->frames_cap = ncap;
  }
  if (!reserve(r, 8)) return 0;
  /* the frame counts from here on, so that reader_free releases what it holds even when a Lua
   * memory error interrupts the code below */
  f = &r->frames[r->nframes++];
  memset(f, 0, sizeof *f);
  f->is_map = is_map;
  f->mark = ev->start_mark;
  f->start_nodes = r->nodes++;
  if (anchor != NULL && (f->anchor = dup_bytes(anchor, strlen(anchor))) == NULL) {
    return fail_oom(r);
  }
  if (r->L != NULL) {
    lua_newtable(r->L);
    vr_shape_set(r->L, -1, is_map ? VR_SHAPE_OBJECT : VR_SHAPE_ARRAY);
  } else if ((f->node = is_map ? cJSON_CreateObject() : cJSON_CreateArray()) == NULL) {
    return fail_oom(r);
  }
  return 1;
}

static void merge_lua_table(lua_State *L, int dst, int src) {
  lua_pushnil(L);
  while (lua_next(L, src)) { /* stack: key, value */
    lua_pushvalue(L, -2);
    if (lua_rawget(L, dst) == LUA_TNIL) { /* stack: key, value, nil */
      lua_pop(L, 1);
      lua_pushvalue(L, -2);
      lua_insert(L, -2); /* stack: key, key, value */
      lua_rawset(L, dst);
    } else {
      lua_pop(L, 2);
    }
  }
}

static int merge_cjson_object(yreader *r, cJSON *dst, const cJSON *src) {
  const cJSON *item;
  cJSON_ArrayForEach(item, src) {
    cJSON *copy;
    if (cJSON_GetObjectItemCaseSensitive(dst, item->string) != NULL) continue;
    if ((copy = cJSON_Duplicate(item, 1)) == NULL) return fail_oom(r);
    if (!cJSON_AddItemToObject(dst, item->string, copy)) {
      cJSON_Delete(copy);
      return fail_oom(r);
    }
  }
  return 1;
}

/* Applies the << entry of the mapping being closed: keys it brings are added unless the mapping
 * has them; with a sequence of mappings, earlier ones win. */
static int apply_merge(yreader *r, yframe *f) {
  if (r->L != NULL) {
    lua_State *L = r->L;
    int t = lua_gettop(L);
    if (!reserve(r, 8)) return 0;
    lua_rawgeti(L, R_MERGES(r), r->nframes); /* stack: t, source */
    if (vr_shape_get(L, t + 1) == VR_SHAPE_ARRAY) {
      lua_Integer i, n = (lua_Integer)lua_rawlen(L, t + 1);
      for (i = 1; i <= n; i++) {
        lua_rawgeti(L, t + 1, i);
        merge_lua_table(L, t, t + 2);
        lua_pop(L, 1);
      }
    } else {
      merge_lua_table(L, t, t + 1);
    }
    lua_pop(L, 1);
    lua_pushnil(L);
    lua_rawseti(L, R_MERGES(r), r->nframes);
  } else {
    cJSON *src = f->merge, *item;
    int ok = 1;
    f->merge = NULL;
    if (cJSON_IsArray(src)) {
      cJSON_ArrayForEach(item, src) {
        if (ok) ok = merge_cjson_object(r, f->node, item);
      }
    } else {
      ok = merge_cjson_object(r, f->node, src);
    }
    /* anchors inside the source may still be aliased later */
    if (!bury(r, src)) return 0;
    if (!ok) return 0;
  }
  return 1;
}

static int on_end(yreader *r) {
  yframe *f = &r->frames[r->nframes - 1];
  yaml_mark_t mark = f->mark;
  if (f->has_merge && !apply_merge(r, f)) return 0;
  r->cur_count = r->nodes - f->start_nodes;
  r->cur_height = f->height + 1;
  if (r->L == NULL) {
    r->cur = f->node;
    f->node = NULL;
  } /* Lua: the collection's table is already on top */
  if (f->anchor != NULL && !register_anchor(r, f->anchor, NULL, 0, r->cur)) return 0;
  frame_free(f);
  r->nframes--;
  return attach(r, &mark);
}

static void on_document_start(yreader *r) {
  anchors_reset(r); /* anchors do not cross documents */
  if (r->L != NULL) {
    lua_newtable(r->L);
    lua_replace(r->L, R_ANCHORS(r));
  }
  r->doc_line = mark_line(&r->event.start_mark);
  r->doc_column = mark_column(&r->event.start_mark);
  r->root_line = r->doc_line;
  r->doc_root_pending = 1;
}

static int reader_run(yreader *r, const char *text, size_t len) {
  int done = 0;
  r->text = text;
  if (!yaml_parser_initialize(&r->parser)) return fail_oom(r);
  r->parser_ok = 1;
  yaml_parser_set_input_string(&r->parser, (const unsigned char *)text, len);
  while (!done) {
    int ok = 1;
    if (!yaml_parser_parse(&r->parser, &r->event)) {
      parser_error(r);
      return 0;
    }
    r->have_event = 1;
    if (r->doc_root_pending &&
        (r->event.type == YAML_ALIAS_EVENT || r->event.type == YAML_SCALAR_EVENT ||
         r->event.type == YAML_SEQUENCE_START_EVENT || r->event.type == YAML_MAPPING_START_EVENT)) {
      r->doc_root_pending = 0;
      r->root_line = mark_line(&r->event.start_mark);
    }
    switch (r->event.type) {
    case YAML_STREAM_END_EVENT:
      done = 1;
      break;
    case YAML_DOCUMENT_START_EVENT:
      on_document_start(r);
      break;
    case YAML_ALIAS_EVENT:
      ok = on_alias(r);
      break;
    case YAML_SCALAR_EVENT:
      ok = on_scalar(r);
      break;
    case YAML_SEQUENCE_START_EVENT:
      ok = on_start(r, 0);
      break;
    case YAML_MAPPING_START_EVENT:
      ok = on_start(r, 1);
      break;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
      ok = on_end(r);
      break;
    default:
      break;
    }
    yaml_event_delete(&r->event);
    r->have_event = 0;
    if (!ok) return 0;
  }
  return 1;
}

static const char reader_mt_key = 'r';

int vr_yaml_decode(lua_State *L, const char *text, size_t len, int all_documents,
                   vr_codec_error *err) {
  vr_codec_error dummy;
  int base = lua_gettop(L), ok;
  yreader *r;
  if (err == NULL) err = &dummy;
  memset(err, 0, sizeof *err);
  if (!lua_checkstack(L, 8)) {
    set_error(err, 0, 0, "out of Lua stack space");
    return 0;
  }
  r = vr_push_gc_userdata(L, sizeof *r, &reader_mt_key, reader_gc);
  r->L = L;
  r->base = base;
  r->err = err;
  lua_newtable(L); /* R_ANCHORS */
  lua_newtable(L); /* R_MERGES */
  lua_newtable(L); /* R_DOCS */
  vr_shape_set(L, -1, VR_SHAPE_ARRAY);
  ok = reader_run(r, text, len);
  if (ok && !all_documents && r->ndocs > 1) {
    set_error(err, r->second_line, r->second_column,
              "stream has %zu documents; use yaml.decode_all", r->ndocs);
    ok = 0;
  }
  if (ok) {
    if (all_documents) {
      lua_pushvalue(L, R_DOCS(r));
    } else if (r->ndocs == 1) {
      lua_rawgeti(L, R_DOCS(r), 1);
    } else {
      vr_null_push(L);
    }
    lua_replace(L, base + 1);
  }
  reader_free(r);
  lua_settop(L, ok ? base + 1 : base);
  return ok;
}

/* One stream (or chunk of one) parsed to cJSON documents. */
typedef struct cjson_parse {
  const char *text;
  size_t len;
  vr_codec_error *err;
  cJSON *docs; /* out: the documents, or NULL on error */
  int *doc_lines;
  size_t ndocs, alias_nodes;
  size_t lines; /* out: the line breaks in the text, as libyaml counts them (CR, LF, CRLF, NEL,
                   LS, PS) */
} cjson_parse;

static void parse_to_cjson(cjson_parse *p) {
  yreader r;
  memset(&r, 0, sizeof r);
  r.err = p->err;
  if ((r.docs = cJSON_CreateArray()) == NULL) {
    fail_oom(&r);
  } else if (reader_run(&r, p->text, p->len)) {
    p->docs = r.docs;
    p->doc_lines = r.doc_lines;
    p->ndocs = r.ndocs;
    p->alias_nodes = r.alias_nodes;
    p->lines = r.parser.mark.line; /* at the end of the stream */
    r.docs = NULL;
    r.doc_lines = NULL;
  }
  reader_free(&r);
}

static void *parse_to_cjson_thread(void *arg) {
  parse_to_cjson(arg);
  return NULL;
}

size_t vr_yaml_split_min_bytes = (size_t)4 << 20;
static size_t halves_parsed;

size_t vr_yaml_halves_parsed(void) {
  return halves_parsed;
}

/* Whether a line after the first starts with '%' (a directive, or content that looks like one). */
static int has_directive_line(const char *text, size_t len) {
  const char *p = text, *end = text + len;
  while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
    if (++p < end && *p == '%') return 1;
  }
  return 0;
}

/* Where a second parser may take over: the start of the first "---" line (a document start)
 * that starts at or after the middle; 0 for no split. A document marker at the start of a line
 * is never content (YAML 1.2 §9.1.2: scalars end there or fail), so both halves give the
 * documents the whole stream gives, or one of them fails, and the caller then parses the whole
 * stream for its exact error. Streams with directives (they belong to the next document) or in
 * UTF-16/32 are not split. */
static size_t split_point(const char *text, size_t len) {
  size_t at = len / 2 - 1; /* the newline that ends the line before the middle, if it is one */
  if (len < vr_yaml_split_min_bytes || len < 8 || text[0] == '%' || memchr(text, '\0', 4) != NULL ||
      (unsigned char)text[0] == 0xFE || (unsigned char)text[0] == 0xFF)
    return 0;
  if (has_directive_line(text, len)) return 0;
  for (;;) {
    const char *nl = memchr(text + at, '\n', len - at);
    if (nl == NULL) return 0;
    at = (size_t)(nl - text) + 1;
    if (len - at >= 4 && memcmp(text + at, "---", 3) == 0 && memchr(" \t\r\n", text[at + 3], 4))
      return at;
  }
}

/* Joins the second half's documents and lines to the first's (its lines count on from the
 * first half's last line break); 0 when out of memory or past INT_MAX lines. */
static int join_halves(cjson_parse *a, cjson_parse *b) {
  int *lines;
  size_t i;
  if (a->lines >= (size_t)INT_MAX / 2) return 0;
  lines = realloc(a->doc_lines, (a->ndocs + b->ndocs + 1) * sizeof *lines);
  if (lines == NULL) return 0;
  a->doc_lines = lines;
  for (i = 0; i < b->ndocs; i++) {
    if (b->doc_lines[i] > INT_MAX - (int)a->lines) return 0;
    lines[a->ndocs + i] = b->doc_lines[i] + (int)a->lines;
  }
  a->ndocs += b->ndocs;
  while (b->docs->child != NULL) { /* moving the items is O(1) each: detach the first */
    cJSON *doc = cJSON_DetachItemViaPointer(b->docs, b->docs->child);
    cJSON_AddItemToArray(a->docs, doc);
  }
  return 1;
}

cJSON *vr_yaml_to_cjson(const char *text, size_t len, int **doc_lines, vr_codec_error *err) {
  vr_codec_error dummy, second_err;
  cjson_parse whole = {text, len, NULL, NULL, NULL, 0, 0, 0};
  size_t split = text ? split_point(text, len) : 0;
  if (err == NULL) err = &dummy;
  memset(err, 0, sizeof *err);
  whole.err = err;
  if (doc_lines != NULL) *doc_lines = NULL;
  if (split > 0) {
    cjson_parse first = {text, split, err, NULL, NULL, 0, 0, 0};
    cjson_parse second = {text + split, len - split, &second_err, NULL, NULL, 0, 0, 0};
    pthread_t worker;
    memset(&second_err, 0, sizeof second_err);
    if (pthread_create(&worker, NULL, parse_to_cjson_thread, &second) == 0) {
      parse_to_cjson(&first);
      pthread_join(worker, NULL);
      halves_parsed++;
      if (first.docs != NULL && second.docs != NULL &&
          first.alias_nodes + second.alias_nodes <= YAML_MAX_ALIAS_NODES &&
          join_halves(&first, &second)) {
        whole = first;
        first.docs = NULL;
        first.doc_lines = NULL;
      }
      cJSON_Delete(first.docs);
      free(first.doc_lines);
      cJSON_Delete(second.docs);
      free(second.doc_lines);
      memset(err, 0, sizeof *err);
    }
  }
  if (whole.docs == NULL) parse_to_cjson(&whole); /* not split, or a half failed: the exact error */
  if (whole.docs != NULL && doc_lines != NULL) {
    *doc_lines = whole.doc_lines;
    whole.doc_lines = NULL;
  }
  free(whole.doc_lines);
  return whole.docs;
}

/* ------------------------------------------------------------------------------------------- */
/* Writer: Lua values -> YAML text                                                             */
/* ------------------------------------------------------------------------------------------- */

typedef struct wkey {
  const char *s; /* anchored by the table being written, which nothing changes meanwhile */
  size_t len;
} wkey;

typedef struct wframe {
  int is_map;
  size_t n; /* entries */
  size_t i; /* entries started so far; the current one is i - 1 */
  wkey *keys;
} wframe;

typedef struct ywriter {
  lua_State *L;
  int base;
  vr_codec_error *err;
  yaml_emitter_t emitter;
  int emitter_ok;
  char *buf;
  size_t len, cap;
  wframe *frames;
  int nframes, frames_cap;
  int sort_keys;
} ywriter;

/* Writer stack layout: R_UD, then the set of tables being written, then one table per frame. */
#define W_VISITING(w) ((w)->base + 2)

static void writer_free(ywriter *w) {
  int i;
  if (w->emitter_ok) yaml_emitter_delete(&w->emitter);
  w->emitter_ok = 0;
  for (i = 0; i < w->nframes; i++) free(w->frames[i].keys);
  free(w->frames);
  w->frames = NULL;
  w->nframes = w->frames_cap = 0;
  free(w->buf);
  w->buf = NULL;
}

static int writer_gc(lua_State *L) {
  writer_free(lua_touserdata(L, 1));
  return 0;
}

static int write_handler(void *data, unsigned char *buffer, size_t size) {
  ywriter *w = data;
  if (w->cap - w->len < size) {
    size_t ncap = w->cap ? w->cap : 256;
    char *nb;
    while (ncap - w->len < size) {
      if (ncap > SIZE_MAX / 2) return 0;
      ncap *= 2;
    }
    if ((nb = realloc(w->buf, ncap)) == NULL) return 0;
    w->buf = nb;
    w->cap = ncap;
  }
  memcpy(w->buf + w->len, buffer, size);
  w->len += size;
  return 1;
}

static int is_ident(const char *s, size_t n) {
  size_t i;
  if (n == 0 || !(s[0] == '_' || (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'))) {
    return 0;
  }
  for (i = 1; i < n; i++) {
    char c = s[i];
    if (!(c == '_' || c == '-' || is_digit(c) || (c >= 'a' && c <= 'z') ||
          (c >= 'A' && c <= 'Z'))) {
      return 0;
    }
  }
  return 1;
}

static int utf8_valid(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    size_t k, j;
    uint32_t cp, min;
    if (c < 0x80) {
      i++;
      continue;
    }
    if ((c & 0xE0) == 0xC0) {
      k = 1, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      k = 2, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      k = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return 0;
    }
    if (n - i <= k) return 0;
    for (j = 1; j <= k; j++) {
      if ((s[i + j] & 0xC0) != 0x80) return 0;
      cp = (cp << 6) | (s[i + j] & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    i += k + 1;
  }
  return 1;
}

/* The path of the value being written, "$.spec.items[3]" (Lua's 1-based indices: items[3] is
 * the third item); long paths keep their end: "$...[7].name". */
static const char *writer_path(const ywriter *w, char *out, size_t outlen) {
  char buf[192];
  size_t pos = sizeof buf - 1;
  int k, cut = 0;
  buf[pos] = '\0';
  for (k = w->nframes - 1; k >= 0 && !cut; k--) {
    const wframe *f = &w->frames[k];
    char seg[64];
    size_t sl;
    if (f->i == 0) continue;
    if (!f->is_map) {
      snprintf(seg, sizeof seg, "[%zu]", f->i);
    } else {
      const wkey *key = &f->keys[f->i - 1];
      char kb[48];
      size_t j;
      snippet(key->s, key->len, kb, sizeof kb);
      if (!utf8_valid((const unsigned char *)key->s, key->len)) {
        for (j = 0; kb[j]; j++) {
          if ((unsigned char)kb[j] >= 0x80) kb[j] = '?';
        }
      }
      if (is_ident(key->s, key->len)) {
        snprintf(seg, sizeof seg, ".%s", kb);
      } else {
        for (j = 0; kb[j]; j++) {
          if (kb[j] == '"' || kb[j] == '\\') kb[j] = '?';
        }
        snprintf(seg, sizeof seg, "[\"%s\"]", kb);
      }
    }
    sl = strlen(seg);
    if (sl + 4 > pos) {
      cut = 1;
      memcpy(buf + pos - 3, "...", 3);
      pos -= 3;
    } else {
      pos -= sl;
      memcpy(buf + pos, seg, sl);
    }
  }
  snprintf(out, outlen, "$%s", buf + pos);
  return out;
}

static VR_PRINTF(2, 3) int wfail(ywriter *w, const char *fmt, ...) {
  char what[160], path[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  set_error(w->err, 0, 0, "%s at %s", what, writer_path(w, path, sizeof path));
  return 0;
}

static int emit(ywriter *w, yaml_event_t *ev) {
  if (!yaml_emitter_emit(&w->emitter, ev)) {
    if (w->emitter.error == YAML_MEMORY_ERROR || w->emitter.error == YAML_WRITER_ERROR) {
      return wfail(w, "out of memory");
    }
    return wfail(w, "YAML emitter: %s", w->emitter.problem ? w->emitter.problem : "failed");
  }
  return 1;
}

static int ci_equal(const char *s, size_t n, const char *word) {
  size_t i;
  if (strlen(word) != n) return 0;
  for (i = 0; i < n; i++) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
    if (c != word[i]) return 0;
  }
  return 1;
}

/* Strings that a plain scalar would not give back: whatever resolve_plain reads as something
 * else, plus words and number-like text that YAML 1.1 readers (kubectl's go-yaml v2, PyYAML)
 * would take for booleans, numbers, timestamps or merge keys. */
static int needs_quotes(const char *s, size_t n) {
  static const char *const words[] = {"y",    "n",     "yes",  "no", "on", "off",
                                      "true", "false", "null", "<<", "="};
  scalar_value sv;
  size_t i;
  resolve_plain(s, n, &sv);
  if (sv.kind != SC_STRING) return 1;
  for (i = 0; i < sizeof words / sizeof words[0]; i++) {
    if (ci_equal(s, n, words[i])) return 1;
  }
  i = (n > 0 && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  if (i < n && s[i] == '.') i++;
  if (i < n && is_digit(s[i])) {
    for (; i < n; i++) {
      if (!(digit_value(s[i]) < 16 || strchr("xXoObB_.:+-", s[i]) != NULL)) return 0;
    }
    return 1;
  }
  return 0;
}

/* Multi-line strings may be written as literal blocks when they hold only printable characters,
 * newlines and tabs (no CR, no other control or Unicode line-break characters). */
static int literal_ok(const char *s, size_t n) {
  size_t i;
  const unsigned char *u = (const unsigned char *)s;
  if (memchr(s, '\n', n) == NULL) return 0;
  for (i = 0; i < n; i++) {
    if ((u[i] < 0x20 && u[i] != '\n' && u[i] != '\t') || u[i] == 0x7f) return 0;
    if (u[i] == 0xC2 && i + 1 < n && u[i + 1] >= 0x80 && u[i + 1] <= 0x9F) return 0;
    if (u[i] == 0xE2 && i + 2 < n && u[i + 1] == 0x80 && (u[i + 2] == 0xA8 || u[i + 2] == 0xA9)) {
      return 0;
    }
    if (u[i] == 0xEF && i + 2 < n && u[i + 1] == 0xBB && u[i + 2] == 0xBF) return 0;
  }
  return 1;
}

static int emit_scalar(ywriter *w, const char *s, size_t n, yaml_scalar_style_t style) {
  yaml_event_t ev;
  if (n > (size_t)INT_MAX) return wfail(w, "string too long");
  if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (const yaml_char_t *)s, (int)n, 1, 1, style)) {
    return wfail(w, "out of memory");
  }
  return emit(w, &ev);
}

static int emit_string(ywriter *w, const char *s, size_t n, int is_key) {
  yaml_scalar_style_t style = YAML_PLAIN_SCALAR_STYLE;
  if (!utf8_valid((const unsigned char *)s, n)) {
    return wfail(w, "%s is not valid UTF-8", is_key ? "key" : "string");
  }
  if (needs_quotes(s, n)) {
    style = YAML_SINGLE_QUOTED_SCALAR_STYLE; /* libyaml switches to double quotes if needed */
  } else if (!is_key && literal_ok(s, n)) {
    style =
        YAML_LITERAL_SCALAR_STYLE; /* libyaml falls back to quotes when a block cannot hold it */
  }
  return emit_scalar(w, s, n, style);
}

/* Shortest text that reads back as the same double, always looking like a float ("1.0",
 * "1.0e+20") so that YAML 1.1 readers do not take it for an integer or a string. */
static void format_float(double d, char *out, size_t outlen) {
  int prec;
  char *e;
  if (isnan(d)) {
    snprintf(out, outlen, ".nan");
    return;
  }
  if (isinf(d)) {
    snprintf(out, outlen, d > 0 ? ".inf" : "-.inf");
    return;
  }
  for (prec = 15; prec <= 17; prec++) {
    snprintf(out, outlen, "%.*g", prec, d);
    if (strtod(out, NULL) == d) break;
  }
  if (strchr(out, '.') != NULL) return;
  e = strchr(out, 'e');
  if (e != NULL) {
    char exp[16];
    snprintf(exp, sizeof exp, "%s", e);
    snprintf(e, outlen - (size_t)(e - out), ".0%s", exp);
  } else {
    size_t l = strlen(out);
    snprintf(out + l, outlen - l, ".0");
  }
}

static int wkey_cmp(const void *a, const void *b) {
  const wkey *x = a, *y = b;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = memcmp(x->s, y->s, n);
  if (c != 0) return c;
  return x->len < y->len ? -1 : x->len > y->len;
}

static void describe_key(lua_State *L, int idx, char *out, size_t outlen) {
  if (lua_type(L, idx) == LUA_TNUMBER) {
    if (lua_isinteger(L, idx)) {
      snprintf(out, outlen, LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(L, idx));
    } else {
      snprintf(out, outlen, "%.14g", (double)lua_tonumber(L, idx));
    }
  } else {
    snprintf(out, outlen, "of type %s", luaL_typename(L, idx));
  }
}

/* Opens the table on top of the stack as a mapping or sequence (or writes {} / [] when empty and
 * pops it). Tagged shapes win; untagged tables with keys 1..n are sequences, with string keys
 * mappings. */
static int open_table(ywriter *w) {
  lua_State *L = w->L;
  int t = lua_gettop(L);
  vr_shape shape = vr_shape_get(L, t);
  size_t nstr = 0, nint = 0, k = 0;
  lua_Integer maxi = 0;
  char bad[48] = "";
  wframe *f;
  yaml_event_t ev;
  int is_map;
  lua_pushvalue(L, t);
  if (lua_rawget(L, W_VISITING(w)) != LUA_TNIL) {
    lua_pop(L, 1);
    return wfail(w, "cycle: table refers to an enclosing table");
  }
  lua_pop(L, 1);
  if (w->nframes >= VR_CODEC_MAX_DEPTH) {
    return wfail(w, "nesting deeper than %d levels", VR_CODEC_MAX_DEPTH);
  }
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) == LUA_TSTRING) {
      nstr++;
    } else if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1) {
      nint++;
      if (lua_tointeger(L, -1) > maxi) maxi = lua_tointeger(L, -1);
    } else if (bad[0] == '\0') {
      describe_key(L, -1, bad, sizeof bad);
    }
  }
  if (shape == VR_SHAPE_OBJECT || (shape == VR_SHAPE_NONE && nint == 0)) {
    is_map = 1;
    if (bad[0] == '\0' && nint > 0) {
      lua_pushnil(L);
      while (lua_next(L, t) && bad[0] == '\0') {
        if (lua_type(L, -2) != LUA_TSTRING) describe_key(L, -2, bad, sizeof bad);
        lua_pop(L, 1);
      }
      lua_settop(L, t);
    }
    if (bad[0] != '\0') {
      return wfail(w, "%s has a key %s (mapping keys must be strings)",
                   shape == VR_SHAPE_OBJECT ? "object" : "table", bad);
    }
  } else {
    const char *what = shape == VR_SHAPE_ARRAY ? "array" : "table";
    is_map = 0;
    if (nstr > 0) {
      return wfail(w, shape == VR_SHAPE_ARRAY ? "array has a string key"
                                              : "table mixes string and integer keys");
    }
    if (bad[0] != '\0') return wfail(w, "%s has a key %s", what, bad);
    if ((size_t)maxi != nint) {
      return wfail(w, "%s is sparse (%zu items, highest index " LUA_INTEGER_FMT ")", what, nint,
                   (LUAI_UACINT)maxi);
    }
  }
  if (nstr + nint == 0) {
    lua_pop(L, 1);
    if (is_map) {
      yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_FLOW_MAPPING_STYLE);
      if (!emit(w, &ev)) return 0;
      yaml_mapping_end_event_initialize(&ev);
    } else {
      yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_FLOW_SEQUENCE_STYLE);
      if (!emit(w, &ev)) return 0;
      yaml_sequence_end_event_initialize(&ev);
    }
    return emit(w, &ev);
  }
  if (w->nframes == w->frames_cap) {
    int ncap = w->frames_cap ? w->frames_cap * 2 : 16;
    wframe *nf = realloc(w->frames, (size_t)ncap * sizeof *nf);
    if (nf == NULL) return wfail(w, "out of memory");
    w->frames = nf;
    w->frames_cap = ncap;
  }
  f = &w->frames[w->nframes++]; /* counted at once: writer_free releases its keys */
  memset(f, 0, sizeof *f);
  f->is_map = is_map;
  f->n = nstr + nint;
  if (is_map) {
    if ((f->keys = malloc(f->n * sizeof *f->keys)) == NULL) return wfail(w, "out of memory");
    lua_pushnil(L);
    while (lua_next(L, t)) {
      f->keys[k].s = lua_tolstring(L, -2, &f->keys[k].len);
      k++;
      lua_pop(L, 1);
    }
    if (w->sort_keys) qsort(f->keys, f->n, sizeof *f->keys, wkey_cmp);
  }
  lua_pushvalue(L, t);
  lua_pushboolean(L, 1);
  lua_rawset(L, W_VISITING(w));
  if (is_map) {
    yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
  } else {
    yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
  }
  return emit(w, &ev);
}

/* Writes the value on top of the stack: pops it, or keeps it as a new frame when it opens a
 * non-empty table. */
static int write_value(ywriter *w) {
  lua_State *L = w->L;
  char num[64];
  size_t n;
  const char *s;
  if (!lua_checkstack(L, 8)) return wfail(w, "nesting too deep for the Lua stack");
  switch (lua_type(L, -1)) {
  case LUA_TNIL:
    return wfail(w, "nil cannot be encoded in YAML (use yaml.null)");
  case LUA_TBOOLEAN:
    s = lua_toboolean(L, -1) ? "true" : "false";
    lua_pop(L, 1);
    return emit_scalar(w, s, strlen(s), YAML_PLAIN_SCALAR_STYLE);
  case LUA_TNUMBER:
    if (lua_isinteger(L, -1)) {
      snprintf(num, sizeof num, LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(L, -1));
    } else {
      format_float((double)lua_tonumber(L, -1), num, sizeof num);
    }
    lua_pop(L, 1);
    return emit_scalar(w, num, strlen(num), YAML_PLAIN_SCALAR_STYLE);
  case LUA_TSTRING:
    s = lua_tolstring(L, -1, &n); /* anchored by the enclosing table until the pop below */
    if (!emit_string(w, s, n, 0)) return 0;
    lua_pop(L, 1);
    return 1;
  case LUA_TUSERDATA:
    if (vr_null_is(L, -1)) {
      lua_pop(L, 1);
      return emit_scalar(w, "null", 4, YAML_PLAIN_SCALAR_STYLE);
    }
    return wfail(w, "cannot encode a userdata");
  case LUA_TTABLE:
    return open_table(w);
  default:
    return wfail(w, "cannot encode a %s", luaL_typename(L, -1));
  }
}

static int writer_run(ywriter *w, const vr_encode_opts *opts) {
  lua_State *L = w->L;
  yaml_event_t ev;
  int indent = opts && opts->indent > 0 ? opts->indent : 2;
  if (!yaml_emitter_initialize(&w->emitter)) return wfail(w, "out of memory");
  w->emitter_ok = 1;
  yaml_emitter_set_output(&w->emitter, write_handler, w);
  yaml_emitter_set_encoding(&w->emitter, YAML_UTF8_ENCODING);
  yaml_emitter_set_indent(&w->emitter, indent < 2 ? 2 : indent > 9 ? 9 : indent);
  yaml_emitter_set_width(&w->emitter, -1);
  yaml_emitter_set_unicode(&w->emitter, 1);
  yaml_emitter_set_break(&w->emitter, YAML_LN_BREAK);
  yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
  if (!emit(w, &ev)) return 0;
  yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
  if (!emit(w, &ev)) return 0;
  if (!write_value(w)) return 0;
  while (w->nframes > 0) {
    wframe *f = &w->frames[w->nframes - 1];
    int t = lua_gettop(L);
    if (f->i < f->n) {
      if (f->is_map) {
        const wkey *key = &f->keys[f->i++];
        if (!emit_string(w, key->s, key->len, 1)) return 0;
        lua_pushlstring(L, key->s, key->len);
        lua_rawget(L, t);
      } else {
        lua_rawgeti(L, t, (lua_Integer)++f->i);
      }
      if (!write_value(w)) return 0;
    } else {
      free(f->keys);
      f->keys = NULL;
      w->nframes--;
      lua_pushnil(L);
      lua_rawset(L, W_VISITING(w)); /* pops the table, clearing its mark */
      if (f->is_map) {
        yaml_mapping_end_event_initialize(&ev);
      } else {
        yaml_sequence_end_event_initialize(&ev);
      }
      if (!emit(w, &ev)) return 0;
    }
  }
  yaml_document_end_event_initialize(&ev, 1);
  if (!emit(w, &ev)) return 0;
  yaml_stream_end_event_initialize(&ev);
  return emit(w, &ev);
}

static const char writer_mt_key = 'w';

int vr_yaml_encode(lua_State *L, int idx, const vr_encode_opts *opts, vr_codec_error *err) {
  vr_codec_error dummy;
  int base = lua_gettop(L), ok;
  ywriter *w;
  if (err == NULL) err = &dummy;
  memset(err, 0, sizeof *err);
  idx = lua_absindex(L, idx);
  if (!lua_checkstack(L, 8)) {
    set_error(err, 0, 0, "out of Lua stack space");
    return 0;
  }
  w = vr_push_gc_userdata(L, sizeof *w, &writer_mt_key, writer_gc);
  w->L = L;
  w->base = base;
  w->err = err;
  w->sort_keys = opts == NULL || opts->sort_keys;
  lua_newtable(L); /* W_VISITING */
  lua_pushvalue(L, idx);
  ok = writer_run(w, opts);
  if (ok) {
    lua_pushlstring(L, w->buf ? w->buf : "", w->len);
    lua_replace(L, base + 1);
  }
  writer_free(w);
  lua_settop(L, ok ? base + 1 : base);
  return ok;
}
