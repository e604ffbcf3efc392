/* selector.c: label selectors, field selectors, node affinity and taint tolerations on cJSON trees
 * (selector.h).
 *
 * Rules it keeps: no Lua; no recursion; bad input is reported through the caller's err buffer,
 * never by aborting; a compiled selector is one struct with three malloc'd arrays (requirements
 * or terms, value offsets, a string pool), so every failure path frees exactly what it made.
 * Node affinity and tolerations are evaluated straight from the cJSON trees and allocate nothing.
 *
 * Decisions and deliberate differences from Kubernetes:
 *  - Equality requirements are kept as In with one value and != as NotIn with one value; the
 *    semantics are the same (apimachinery labels.Requirement.Matches).
 *  - Node affinity: every term is validated before the answer is given, so a malformed term is an
 *    error even when another term matches (Kubernetes' lazy selector would return the match).
 *  - A text label selector accepts "in" and "notin" as keys ("in=x"); Kubernetes' lexer rejects
 *    them. Empty members of a value list are kept as empty values ("a in (x,)"), as Kubernetes
 *    does; "a in ()" is an error.
 *  - Field selectors trim whitespace around paths and values; the apiserver does not.
 *  - Tolerations with operator Lt/Gt are honoured as with the alpha gate
 *    TaintTolerationComparisonOperators enabled (§6.3); an object can only hold them if the gate
 *    was on when it was written.
 * "§n.m" below means /work/shared/reference/kubevirt-migration.md section n.m. */
#include "selector.h"

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ============================================================================================
 * Messages
 * ============================================================================================ */

static void fail(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  if (err == NULL || errlen == 0) return;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

#define QUOTE_MAX 48 /* input bytes shown in a message before "..." */
#define QUOTE_BUF (QUOTE_MAX * 4 + 8)

/* Writes s[0..n) between two `quote` characters into buf (QUOTE_BUF bytes), bytes outside
 * printable ASCII (and the quote and backslash) as \xNN, cut after QUOTE_MAX bytes with "...".
 * Returns buf. */
static const char *quoted(char *buf, char quote, const char *s, size_t n) {
  size_t i, o = 0;
  buf[o++] = quote;
  for (i = 0; i < n && i < QUOTE_MAX; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c > 0x7E || c == (unsigned char)quote || c == '\\') {
      snprintf(buf + o, 5, "\\x%02X", c);
      o += 4;
    } else {
      buf[o++] = (char)c;
    }
  }
  if (i < n) {
    memcpy(buf + o, "...", 3);
    o += 3;
  }
  buf[o++] = quote;
  buf[o] = '\0';
  return buf;
}

/* ============================================================================================
 * Names, values and integers
 * ============================================================================================ */

static int is_alnum(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* [A-Za-z0-9] at both ends, [A-Za-z0-9._-] inside (the label name/value pattern). */
static int name_chars_ok(const char *s, size_t n) {
  size_t i;
  if (n == 0) return 1;
  if (!is_alnum((unsigned char)s[0]) || !is_alnum((unsigned char)s[n - 1])) return 0;
  for (i = 1; i + 1 < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!is_alnum(c) && c != '.' && c != '_' && c != '-') return 0;
  }
  return 1;
}

static const char *const NAME_CHARS_REASON = "must consist of alphanumerics, '-', '_' or '.', "
                                             "starting and ending with an alphanumeric";

/* A lowercase RFC 1123 subdomain: dot-separated labels of [a-z0-9-] that start and end with
 * [a-z0-9]. */
static int dns_subdomain_ok(const char *s, size_t n) {
  size_t i, start = 0;
  for (i = 0; i <= n; i++) {
    if (i == n || s[i] == '.') {
      if (i == start || s[start] == '-' || s[i - 1] == '-') return 0;
      start = i + 1;
    } else if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-')) {
      return 0;
    }
  }
  return 1;
}

/* Why s[0..n) is not a label key (a qualified name), or NULL when it is one. */
static const char *label_key_problem(const char *s, size_t n) {
  const char *slash = memchr(s, '/', n);
  const char *name = s;
  size_t name_len = n;
  if (slash != NULL) {
    size_t prefix_len = (size_t)(slash - s);
    name = slash + 1;
    name_len = n - prefix_len - 1;
    if (memchr(name, '/', name_len) != NULL) return "at most one '/' is allowed";
    if (prefix_len == 0) return "prefix part must be non-empty";
    if (prefix_len > 253) return "prefix part must be no more than 253 characters";
    if (!dns_subdomain_ok(s, prefix_len)) {
      return "prefix part must be a lowercase DNS subdomain (a-z, 0-9, '-' and '.')";
    }
  }
  if (name_len == 0) return "name part must be non-empty";
  if (name_len > 63) return "name part must be no more than 63 characters";
  if (!name_chars_ok(name, name_len)) {
    return "name part must consist of alphanumerics, '-', '_' or '.', starting and ending with "
           "an alphanumeric";
  }
  return NULL;
}

/* Why s[0..n) is not a label value, or NULL when it is one (the empty value is one). */
static const char *label_value_problem(const char *s, size_t n) {
  if (n > 63) return "must be no more than 63 characters";
  if (memchr(s, '\0', n) != NULL || !name_chars_ok(s, n)) return NAME_CHARS_REASON;
  return NULL;
}

/* Parses s[0..n) as a decimal int64 with an optional sign, nothing else (strconv.ParseInt base
 * 10). Returns 1 and sets *out, or 0. */
static int parse_int64(const char *s, size_t n, long long *out) {
  size_t i = 0;
  int neg = 0;
  unsigned long long v = 0, limit;
  if (n > 0 && (s[0] == '+' || s[0] == '-')) {
    neg = s[0] == '-';
    i = 1;
  }
  if (i == n) return 0;
  limit = neg ? (unsigned long long)LLONG_MAX + 1u : (unsigned long long)LLONG_MAX;
  for (; i < n; i++) {
    unsigned d;
    if (s[i] < '0' || s[i] > '9') return 0;
    d = (unsigned)(s[i] - '0');
    if (v > (limit - d) / 10u) return 0;
    v = v * 10u + d;
  }
  if (!neg) {
    *out = (long long)v;
  } else if (v == (unsigned long long)LLONG_MAX + 1u) {
    *out = LLONG_MIN;
  } else {
    *out = -(long long)v;
  }
  return 1;
}

/* A JSON number holding an integer that fits int64. Returns 1 and sets *out, or 0. */
static int json_integer(const cJSON *item, long long *out) {
  double d;
  if (!cJSON_IsNumber(item)) return 0;
  d = item->valuedouble;
  /* 2^63 is exact in a double; the range check comes before the cast (which is UB outside it). */
  if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) return 0;
  if ((double)(long long)d != d) return 0;
  *out = (long long)d;
  return 1;
}

/* ============================================================================================
 * Requirements (apimachinery labels.Requirement)
 * ============================================================================================ */

enum { OP_IN, OP_NOT_IN, OP_EXISTS, OP_NOT_EXISTS, OP_GT, OP_LT, OP_COUNT };

static const char *const op_names[OP_COUNT] = {"In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"};

#define OPS_LABEL_SELECTOR                                                                         \
  ((1u << OP_IN) | (1u << OP_NOT_IN) | (1u << OP_EXISTS) | (1u << OP_NOT_EXISTS))
#define OPS_NODE_SELECTOR (OPS_LABEL_SELECTOR | (1u << OP_GT) | (1u << OP_LT))

/* Whether a label with value `actual` (NULL when absent) satisfies op; in_set says whether actual
 * is among the requirement's values, bound is the Gt/Lt integer (§6.2 operators). */
static int requirement_holds(int op, const char *actual, int in_set, long long bound) {
  long long n;
  switch (op) {
  case OP_IN:
    return actual != NULL && in_set;
  case OP_NOT_IN:
    return actual == NULL || !in_set;
  case OP_EXISTS:
    return actual != NULL;
  case OP_NOT_EXISTS:
    return actual == NULL;
  case OP_GT:
    return actual != NULL && parse_int64(actual, strlen(actual), &n) && n > bound;
  case OP_LT:
    return actual != NULL && parse_int64(actual, strlen(actual), &n) && n < bound;
  default:
    return 0;
  }
}

/* The string value of member `key` of object labels, or NULL when labels is not an object, the
 * member is absent or its value is not a string. */
static const char *label_get(const cJSON *labels, const char *key) {
  const cJSON *v;
  if (!cJSON_IsObject(labels)) return NULL;
  v = cJSON_GetObjectItemCaseSensitive(labels, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* member of obj, with JSON null counted as absent */
static const cJSON *member(const cJSON *obj, const char *name) {
  const cJSON *v = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, name) : NULL;
  return cJSON_IsNull(v) ? NULL : v;
}

/* One {key, operator, values} expression read from JSON and checked. */
typedef struct json_req {
  int op;
  const char *key;
  const cJSON *values; /* array of strings, or NULL */
  long long bound;     /* Gt/Lt */
} json_req;

/* Reads expression expr at path into r, allowing the operators in the `allowed` mask. Checks
 * what labels.NewRequirement checks: a valid key; In/NotIn with values, Exists/DoesNotExist
 * without, Gt/Lt with exactly one integer; every value a valid label value. Returns 1, or 0 with
 * a message. */
static int read_json_req(const cJSON *expr, unsigned allowed, const char *path, json_req *r,
                         char *err, size_t errlen) {
  char q[QUOTE_BUF];
  const cJSON *key = member(expr, "key"), *op = member(expr, "operator"), *v;
  size_t i = 0;
  const char *problem;
  if (!cJSON_IsObject(expr)) return fail(err, errlen, "%s: must be an object", path), 0;
  if (!cJSON_IsString(key)) return fail(err, errlen, "%s.key: must be a string", path), 0;
  problem = label_key_problem(key->valuestring, strlen(key->valuestring));
  if (problem != NULL) {
    fail(err, errlen, "%s.key: invalid label key %s: %s", path,
         quoted(q, '"', key->valuestring, strlen(key->valuestring)), problem);
    return 0;
  }
  if (!cJSON_IsString(op)) return fail(err, errlen, "%s.operator: must be a string", path), 0;
  for (r->op = 0; r->op < OP_COUNT; r->op++) {
    if ((allowed & (1u << r->op)) && strcmp(op->valuestring, op_names[r->op]) == 0) break;
  }
  if (r->op == OP_COUNT) {
    fail(err, errlen, "%s.operator: unsupported operator %s (expected %s)", path,
         quoted(q, '"', op->valuestring, strlen(op->valuestring)),
         allowed == OPS_LABEL_SELECTOR ? "In, NotIn, Exists or DoesNotExist"
                                       : "In, NotIn, Exists, DoesNotExist, Gt or Lt");
    return 0;
  }
  r->key = key->valuestring;
  r->values = member(expr, "values");
  r->bound = 0;
  if (r->values != NULL && !cJSON_IsArray(r->values)) {
    return fail(err, errlen, "%s.values: must be an array", path), 0;
  }
  cJSON_ArrayForEach(v, r->values) {
    if (!cJSON_IsString(v)) {
      return fail(err, errlen, "%s.values[%zu]: must be a string", path, i), 0;
    }
    problem = label_value_problem(v->valuestring, strlen(v->valuestring));
    if ((r->op == OP_GT || r->op == OP_LT) &&
        !parse_int64(v->valuestring, strlen(v->valuestring), &r->bound)) {
      fail(err, errlen, "%s.values[%zu]: '%s' needs an integer, got %s", path, i, op_names[r->op],
           quoted(q, '"', v->valuestring, strlen(v->valuestring)));
      return 0;
    }
    if (problem != NULL) {
      fail(err, errlen, "%s.values[%zu]: invalid label value %s: %s", path, i,
           quoted(q, '"', v->valuestring, strlen(v->valuestring)), problem);
      return 0;
    }
    i++;
  }
  if ((r->op == OP_IN || r->op == OP_NOT_IN) && i == 0) {
    return fail(err, errlen, "%s.values: '%s' needs at least one value", path, op_names[r->op]), 0;
  }
  if ((r->op == OP_EXISTS || r->op == OP_NOT_EXISTS) && i != 0) {
    return fail(err, errlen, "%s.values: '%s' takes no values", path, op_names[r->op]), 0;
  }
  if ((r->op == OP_GT || r->op == OP_LT) && i != 1) {
    return fail(err, errlen, "%s.values: '%s' needs exactly one value", path, op_names[r->op]), 0;
  }
  return 1;
}

/* Whether the labels satisfy a checked JSON requirement. */
static int json_req_holds(const json_req *r, const cJSON *labels) {
  const char *actual = label_get(labels, r->key);
  const cJSON *v;
  int in_set = 0;
  if (actual != NULL) {
    cJSON_ArrayForEach(v, r->values) {
      if (strcmp(v->valuestring, actual) == 0) in_set = 1;
    }
  }
  return requirement_holds(r->op, actual, in_set, r->bound);
}

/* ============================================================================================
 * Compiled storage: growable arrays and a string pool addressed by offsets
 * ============================================================================================ */

/* Returns p grown to hold at least `need` elements of `size` bytes (*cap updated), p itself when
 * it is big enough, or NULL when out of memory (p is then untouched and still owned). */
static void *reserve(void *p, size_t *cap, size_t need, size_t size) {
  size_t ncap = *cap ? *cap : 8;
  void *np;
  if (need <= *cap && p != NULL) return p;
  while (ncap < need) {
    if (ncap > SIZE_MAX / 2) return NULL;
    ncap *= 2;
  }
  if (ncap > SIZE_MAX / size) return NULL;
  np = realloc(p, ncap * size);
  if (np == NULL) return NULL;
  *cap = ncap;
  return np;
}

typedef struct pool {
  char *data;
  size_t len, cap;
} pool;

/* Appends s[0..n) and a NUL; *off receives where it starts. Returns 0 when out of memory. */
static int pool_add(pool *p, const char *s, size_t n, size_t *off) {
  char *data;
  if (n > SIZE_MAX - p->len - 1) return 0;
  data = reserve(p->data, &p->cap, p->len + n + 1, 1);
  if (data == NULL) return 0;
  p->data = data;
  if (n > 0) memcpy(p->data + p->len, s, n);
  *off = p->len;
  p->len += n;
  p->data[p->len++] = '\0';
  return 1;
}

/* ============================================================================================
 * Label selectors
 * ============================================================================================ */

typedef struct label_req {
  int op;
  size_t key;          /* offset in the pool */
  size_t first, count; /* values: offsets vals[first .. first+count) */
  long long bound;     /* Gt/Lt */
} label_req;

struct vr_label_selector {
  int nothing; /* the selector of a missing metav1.LabelSelector: matches nothing */
  label_req *reqs;
  size_t nreqs, reqcap;
  size_t *vals;
  size_t nvals, valcap;
  pool strings;
};

void vr_label_selector_free(vr_label_selector *sel) {
  if (sel == NULL) return;
  free(sel->reqs);
  free(sel->vals);
  free(sel->strings.data);
  free(sel);
}

static vr_label_selector *label_selector_new(char *err, size_t errlen) {
  vr_label_selector *sel = calloc(1, sizeof *sel);
  if (sel == NULL) fail(err, errlen, "out of memory");
  return sel;
}

/* Appends a requirement on key[0..n) with no values yet. Returns 0 when out of memory. */
static int add_req(vr_label_selector *sel, int op, const char *key, size_t n, long long bound) {
  label_req *reqs = reserve(sel->reqs, &sel->reqcap, sel->nreqs + 1, sizeof *sel->reqs);
  label_req *r;
  if (reqs == NULL) return 0;
  sel->reqs = reqs;
  r = &sel->reqs[sel->nreqs];
  r->op = op;
  r->first = sel->nvals;
  r->count = 0;
  r->bound = bound;
  if (!pool_add(&sel->strings, key, n, &r->key)) return 0;
  sel->nreqs++;
  return 1;
}

/* Appends value s[0..n) to the last requirement. Returns 0 when out of memory. */
static int add_value(vr_label_selector *sel, const char *s, size_t n) {
  size_t *vals = reserve(sel->vals, &sel->valcap, sel->nvals + 1, sizeof *sel->vals);
  if (vals == NULL) return 0;
  sel->vals = vals;
  if (!pool_add(&sel->strings, s, n, &sel->vals[sel->nvals])) return 0;
  sel->nvals++;
  sel->reqs[sel->nreqs - 1].count++;
  return 1;
}

int vr_label_selector_matches(const vr_label_selector *sel, const cJSON *labels) {
  size_t i, j;
  if (sel == NULL || sel->nothing) return 0;
  for (i = 0; i < sel->nreqs; i++) {
    const label_req *r = &sel->reqs[i];
    const char *actual = label_get(labels, sel->strings.data + r->key);
    int in_set = 0;
    for (j = 0; actual != NULL && j < r->count && !in_set; j++) {
      in_set = strcmp(actual, sel->strings.data + sel->vals[r->first + j]) == 0;
    }
    if (!requirement_holds(r->op, actual, in_set, r->bound)) return 0;
  }
  return 1;
}

int vr_label_selector_is_empty(const vr_label_selector *sel) {
  return sel != NULL && !sel->nothing && sel->nreqs == 0;
}

/* --- text form ------------------------------------------------------------------------------ */

enum { T_END, T_IDENT, T_COMMA, T_EQ, T_EQEQ, T_NE, T_BANG, T_LPAREN, T_RPAREN, T_GT, T_LT };

typedef struct token {
  int type;
  size_t start, len; /* byte offset and length in the text */
} token;

typedef struct lparser {
  const char *text;
  size_t pos; /* where the next token is looked for */
  vr_label_selector *sel;
  char *err;
  size_t errlen;
} lparser;

static int is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int is_symbol(char c) {
  return c == ',' || c == '=' || c == '!' || c == '(' || c == ')' || c == '<' || c == '>';
}

/* The token at p->pos, consumed when `consume`. An identifier is a run of bytes that are neither
 * blanks nor symbols (the lexer of apimachinery labels); its content is checked later. */
static token lex(lparser *p, int consume) {
  const char *s = p->text;
  size_t i = p->pos;
  token t;
  while (is_blank(s[i])) i++;
  t.start = i;
  t.len = 1;
  switch (s[i]) {
  case '\0':
    t.type = T_END;
    t.len = 0;
    break;
  case ',':
    t.type = T_COMMA;
    break;
  case '(':
    t.type = T_LPAREN;
    break;
  case ')':
    t.type = T_RPAREN;
    break;
  case '<':
    t.type = T_LT;
    break;
  case '>':
    t.type = T_GT;
    break;
  case '=':
    t.type = s[i + 1] == '=' ? T_EQEQ : T_EQ;
    t.len = s[i + 1] == '=' ? 2 : 1;
    break;
  case '!':
    t.type = s[i + 1] == '=' ? T_NE : T_BANG;
    t.len = s[i + 1] == '=' ? 2 : 1;
    break;
  default:
    t.type = T_IDENT;
    while (s[i] != '\0' && !is_blank(s[i]) && !is_symbol(s[i])) i++;
    t.len = i - t.start;
    break;
  }
  if (consume) p->pos = t.start + t.len;
  return t;
}

static int unexpected(lparser *p, token t) {
  if (t.type == T_END) {
    fail(p->err, p->errlen, "labelSelector: unexpected end of input at column %zu", t.start + 1);
  } else {
    char q[QUOTE_BUF];
    fail(p->err, p->errlen, "labelSelector: unexpected %s at column %zu",
         quoted(q, '\'', p->text + t.start, t.len), t.start + 1);
  }
  return 0;
}

static int out_of_memory(lparser *p) {
  fail(p->err, p->errlen, "out of memory");
  return 0;
}

static int check_key(lparser *p, token t) {
  char q[QUOTE_BUF];
  const char *problem = label_key_problem(p->text + t.start, t.len);
  if (problem == NULL) return 1;
  fail(p->err, p->errlen, "labelSelector: invalid label key %s at column %zu: %s",
       quoted(q, '"', p->text + t.start, t.len), t.start + 1, problem);
  return 0;
}

/* Adds the identifier t as a value of the last requirement after checking it. */
static int take_value(lparser *p, token t) {
  const char *problem = label_value_problem(p->text + t.start, t.len);
  if (problem != NULL) {
    char q[QUOTE_BUF];
    fail(p->err, p->errlen, "labelSelector: invalid label value %s at column %zu: %s",
         quoted(q, '"', p->text + t.start, t.len), t.start + 1, problem);
    return 0;
  }
  return add_value(p->sel, p->text + t.start, t.len) || out_of_memory(p);
}

/* "(" was read: the members of an in/notin list up to ")". Empty members are empty values. */
static int parse_value_list(lparser *p, const char *word) {
  token t = lex(p, 1);
  if (t.type == T_RPAREN) {
    fail(p->err, p->errlen, "labelSelector: '%s' needs at least one value at column %zu", word,
         t.start + 1);
    return 0;
  }
  for (;;) {
    if (t.type == T_IDENT) {
      if (!take_value(p, t)) return 0;
      t = lex(p, 1);
    } else if (t.type == T_COMMA || t.type == T_RPAREN) {
      if (!add_value(p->sel, "", 0)) return out_of_memory(p);
    } else {
      return unexpected(p, t);
    }
    if (t.type == T_RPAREN) return 1;
    if (t.type != T_COMMA) return unexpected(p, t);
    t = lex(p, 1);
  }
}

/* One requirement starting with the (consumed) token t. */
static int parse_requirement(lparser *p, token t) {
  const char *key = p->text + t.start;
  token op, v;
  long long bound;
  if (t.type == T_BANG) {
    t = lex(p, 1);
    if (t.type != T_IDENT) return unexpected(p, t);
    if (!check_key(p, t)) return 0;
    return add_req(p->sel, OP_NOT_EXISTS, p->text + t.start, t.len, 0) || out_of_memory(p);
  }
  if (t.type != T_IDENT) return unexpected(p, t);
  if (!check_key(p, t)) return 0;
  op = lex(p, 0);
  switch (op.type) {
  case T_END:
  case T_COMMA:
    return add_req(p->sel, OP_EXISTS, key, t.len, 0) || out_of_memory(p);
  case T_EQ:
  case T_EQEQ:
  case T_NE:
    lex(p, 1);
    if (!add_req(p->sel, op.type == T_NE ? OP_NOT_IN : OP_IN, key, t.len, 0)) {
      return out_of_memory(p);
    }
    v = lex(p, 0);
    if (v.type == T_END || v.type == T_COMMA) {
      return add_value(p->sel, "", 0) || out_of_memory(p); /* "key=" : the empty value */
    }
    if (v.type != T_IDENT) return unexpected(p, v);
    lex(p, 1);
    return take_value(p, v);
  case T_GT:
  case T_LT:
    lex(p, 1);
    v = lex(p, 1);
    if (v.type != T_IDENT) return unexpected(p, v);
    if (!parse_int64(p->text + v.start, v.len, &bound)) {
      char q[QUOTE_BUF];
      fail(p->err, p->errlen, "labelSelector: '%c' needs an integer, got %s at column %zu",
           op.type == T_GT ? '>' : '<', quoted(q, '"', p->text + v.start, v.len), v.start + 1);
      return 0;
    }
    if (!add_req(p->sel, op.type == T_GT ? OP_GT : OP_LT, key, t.len, bound)) {
      return out_of_memory(p);
    }
    return take_value(p, v);
  case T_IDENT:
    if ((op.len == 2 && memcmp(p->text + op.start, "in", 2) == 0) ||
        (op.len == 5 && memcmp(p->text + op.start, "notin", 5) == 0)) {
      lex(p, 1);
      v = lex(p, 1);
      if (v.type != T_LPAREN) return unexpected(p, v);
      if (!add_req(p->sel, op.len == 2 ? OP_IN : OP_NOT_IN, key, t.len, 0)) {
        return out_of_memory(p);
      }
      return parse_value_list(p, op.len == 2 ? "in" : "notin");
    }
    return unexpected(p, op);
  default:
    return unexpected(p, op);
  }
}

vr_label_selector *vr_label_selector_parse(const char *text, char *err, size_t errlen) {
  lparser p;
  token t;
  p.text = text != NULL ? text : "";
  p.pos = 0;
  p.err = err;
  p.errlen = errlen;
  p.sel = label_selector_new(err, errlen);
  if (p.sel == NULL) return NULL;
  t = lex(&p, 1);
  if (t.type == T_END) return p.sel; /* matches everything */
  for (;;) {
    /* a requirement (after a comma, the end is unexpected: "a=b,") */
    if (!parse_requirement(&p, t)) break;
    t = lex(&p, 1);
    if (t.type == T_END) return p.sel;
    if (t.type != T_COMMA) {
      unexpected(&p, t);
      break;
    }
    t = lex(&p, 1);
  }
  vr_label_selector_free(p.sel);
  return NULL;
}

/* --- metav1.LabelSelector ------------------------------------------------------------------- */

/* Adds the requirements of matchLabels and matchExpressions of obj to sel. Returns 1, or 0 with
 * a message. */
static int label_selector_fill(vr_label_selector *sel, const cJSON *obj, char *err, size_t errlen) {
  char q[QUOTE_BUF], q2[QUOTE_BUF], path[64];
  const cJSON *labels = member(obj, "matchLabels"), *exprs = member(obj, "matchExpressions"), *m;
  size_t i = 0;
  if (labels != NULL && !cJSON_IsObject(labels)) {
    return fail(err, errlen, "labelSelector: matchLabels: must be an object"), 0;
  }
  cJSON_ArrayForEach(m, labels) {
    size_t klen = strlen(m->string);
    const char *problem;
    if (!cJSON_IsString(m)) {
      fail(err, errlen, "labelSelector: matchLabels: value of %s must be a string",
           quoted(q, '"', m->string, klen));
      return 0;
    }
    problem = label_key_problem(m->string, klen);
    if (problem != NULL) {
      fail(err, errlen, "labelSelector: matchLabels: invalid label key %s: %s",
           quoted(q, '"', m->string, klen), problem);
      return 0;
    }
    problem = label_value_problem(m->valuestring, strlen(m->valuestring));
    if (problem != NULL) {
      fail(err, errlen, "labelSelector: matchLabels: invalid label value %s of %s: %s",
           quoted(q, '"', m->valuestring, strlen(m->valuestring)), quoted(q2, '"', m->string, klen),
           problem);
      return 0;
    }
    if (!add_req(sel, OP_IN, m->string, klen, 0) ||
        !add_value(sel, m->valuestring, strlen(m->valuestring))) {
      return fail(err, errlen, "out of memory"), 0;
    }
  }
  if (exprs != NULL && !cJSON_IsArray(exprs)) {
    return fail(err, errlen, "labelSelector: matchExpressions: must be an array"), 0;
  }
  cJSON_ArrayForEach(m, exprs) {
    json_req r;
    const cJSON *v;
    snprintf(path, sizeof path, "labelSelector: matchExpressions[%zu]", i++);
    if (!read_json_req(m, OPS_LABEL_SELECTOR, path, &r, err, errlen)) return 0;
    if (!add_req(sel, r.op, r.key, strlen(r.key), 0)) return fail(err, errlen, "out of memory"), 0;
    cJSON_ArrayForEach(v, r.values) {
      if (!add_value(sel, v->valuestring, strlen(v->valuestring))) {
        return fail(err, errlen, "out of memory"), 0;
      }
    }
  }
  return 1;
}

vr_label_selector *vr_label_selector_from_json(const cJSON *selector, char *err, size_t errlen) {
  vr_label_selector *sel;
  if (selector != NULL && !cJSON_IsNull(selector) && !cJSON_IsObject(selector)) {
    fail(err, errlen, "labelSelector: must be an object");
    return NULL;
  }
  sel = label_selector_new(err, errlen);
  if (sel == NULL) return NULL;
  if (selector == NULL || cJSON_IsNull(selector)) {
    sel->nothing = 1;
    return sel;
  }
  if (!label_selector_fill(sel, selector, err, errlen)) {
    vr_label_selector_free(sel);
    return NULL;
  }
  return sel;
}

/* ============================================================================================
 * Field selectors
 * ============================================================================================ */

typedef struct field_term {
  size_t path, value; /* offsets in the pool */
  int negated;        /* != */
} field_term;

struct vr_field_selector {
  field_term *terms;
  size_t nterms, termcap;
  pool strings;
};

void vr_field_selector_free(vr_field_selector *sel) {
  if (sel == NULL) return;
  free(sel->terms);
  free(sel->strings.data);
  free(sel);
}

static int path_chars_ok(const char *s, size_t n) {
  size_t i;
  if (n == 0 || s[0] == '.' || s[n - 1] == '.') return 0;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '.' && s[i + 1] == '.') return 0;
    if (!is_alnum(c) && c != '.' && c != '_' && c != '-') return 0;
  }
  return 1;
}

/* Parses the term text[start..end) (no unescaped comma inside) into sel. Returns 1, or 0 with a
 * message. */
static int parse_field_term(vr_field_selector *sel, const char *text, size_t start, size_t end,
                            char *err, size_t errlen) {
  char q[QUOTE_BUF];
  size_t i, op = end, oplen = 0, pstart = start, pend, vstart, vend, off;
  field_term *terms;
  for (i = start; i < end && oplen == 0; i++) { /* the first operator (fields.splitTerm) */
    if (text[i] == '!' && i + 1 < end && text[i + 1] == '=') {
      oplen = 2;
    } else if (text[i] == '=') {
      oplen = i + 1 < end && text[i + 1] == '=' ? 2 : 1;
    }
    if (oplen != 0) op = i;
  }
  while (pstart < end && is_blank(text[pstart])) pstart++;
  if (oplen == 0) {
    pend = end;
    while (pend > pstart && is_blank(text[pend - 1])) pend--;
    fail(err, errlen, "fieldSelector: missing operator in %s at column %zu",
         quoted(q, '"', text + pstart, pend - pstart), pstart + 1);
    return 0;
  }
  pend = op;
  while (pend > pstart && is_blank(text[pend - 1])) pend--;
  if (pend == pstart) {
    fail(err, errlen, "fieldSelector: missing field path at column %zu", op + 1);
    return 0;
  }
  if (!path_chars_ok(text + pstart, pend - pstart)) {
    fail(err, errlen, "fieldSelector: invalid field path %s at column %zu",
         quoted(q, '"', text + pstart, pend - pstart), pstart + 1);
    return 0;
  }
  vstart = op + oplen;
  while (vstart < end && is_blank(text[vstart])) vstart++;
  /* the value ends after its last non-blank byte; an escape pair counts as non-blank */
  for (i = vstart, vend = vstart; i < end; i++) {
    if (text[i] == '\\' && i + 1 < end) {
      i++;
      vend = i + 1;
    } else if (!is_blank(text[i])) {
      vend = i + 1;
    }
  }
  /* check the escapes before storing anything (fields.UnescapeValue) */
  for (i = vstart; i < vend; i++) {
    if (text[i] == '\\') {
      if (i + 1 >= vend) {
        fail(err, errlen, "fieldSelector: unfinished escape sequence at column %zu", i + 1);
        return 0;
      }
      if (text[i + 1] != '\\' && text[i + 1] != ',' && text[i + 1] != '=') {
        fail(
            err, errlen,
            "fieldSelector: invalid escape of %s at column %zu (only \\, \\= and \\\\ are escapes)",
            quoted(q, '\'', text + i + 1, 1), i + 1);
        return 0;
      }
      i++;
    } else if (text[i] == '=') {
      fail(err, errlen, "fieldSelector: unexpected '=' at column %zu (write \\= in a value)",
           i + 1);
      return 0;
    }
  }
  terms = reserve(sel->terms, &sel->termcap, sel->nterms + 1, sizeof *sel->terms);
  if (terms == NULL) return fail(err, errlen, "out of memory"), 0;
  sel->terms = terms;
  terms[sel->nterms].negated = text[op] == '!';
  if (!pool_add(&sel->strings, text + pstart, pend - pstart, &terms[sel->nterms].path) ||
      !pool_add(&sel->strings, text + vstart, vend - vstart, &off)) {
    return fail(err, errlen, "out of memory"), 0;
  }
  /* unescape in place: the unescaped value is never longer */
  {
    char *dst = sel->strings.data + off;
    const char *src = dst;
    while (*src != '\0') {
      if (*src == '\\') src++;
      *dst++ = *src++;
    }
    *dst = '\0';
  }
  terms[sel->nterms].value = off;
  sel->nterms++;
  return 1;
}

vr_field_selector *vr_field_selector_parse(const char *text, char *err, size_t errlen) {
  vr_field_selector *sel = calloc(1, sizeof *sel);
  size_t start = 0, i;
  if (sel == NULL) {
    fail(err, errlen, "out of memory");
    return NULL;
  }
  if (text == NULL) return sel;
  for (;;) {
    int blank = 1;
    for (i = start; text[i] != '\0' && text[i] != ','; i++) {
      if (!is_blank(text[i])) blank = 0;
      if (text[i] == '\\' && text[i + 1] != '\0') i++;
    }
    if (!blank && !parse_field_term(sel, text, start, i, err, errlen)) {
      vr_field_selector_free(sel);
      return NULL;
    }
    if (text[i] == '\0') return sel;
    start = i + 1;
  }
}

/* The string form of the field at dotted path in obj (selector.h rules), or NULL for an object or
 * an array. buf (32 bytes) holds formatted numbers. */
static const char *field_string(const cJSON *obj, const char *path, char *buf, size_t size) {
  const cJSON *cur = obj;
  const char *seg = path;
  for (;;) {
    size_t n = strcspn(seg, ".");
    const cJSON *c = NULL;
    if (!cJSON_IsObject(cur)) return "";
    for (c = cur->child; c != NULL; c = c->next) {
      if (c->string != NULL && strncmp(c->string, seg, n) == 0 && c->string[n] == '\0') break;
    }
    if (c == NULL) return "";
    cur = c;
    if (seg[n] == '\0') break;
    seg += n + 1;
  }
  if (cJSON_IsString(cur)) return cur->valuestring != NULL ? cur->valuestring : "";
  if (cJSON_IsTrue(cur)) return "true";
  if (cJSON_IsFalse(cur)) return "false";
  if (cJSON_IsNumber(cur)) {
    long long v;
    if (json_integer(cur, &v)) {
      snprintf(buf, size, "%lld", v);
    } else {
      snprintf(buf, size, "%.17g", cur->valuedouble);
    }
    return buf;
  }
  if (cJSON_IsObject(cur) || cJSON_IsArray(cur)) return NULL;
  return ""; /* null */
}

int vr_field_selector_matches(const vr_field_selector *sel, const cJSON *object) {
  size_t i;
  if (sel == NULL) return 0;
  for (i = 0; i < sel->nterms; i++) {
    char buf[32];
    const field_term *t = &sel->terms[i];
    const char *v = field_string(object, sel->strings.data + t->path, buf, sizeof buf);
    int equal = v != NULL && strcmp(v, sel->strings.data + t->value) == 0;
    if (equal == t->negated) return 0;
  }
  return 1;
}

const char *vr_field_selector_requires(const vr_field_selector *sel, const char *path) {
  size_t i;
  if (sel == NULL || path == NULL) return NULL;
  for (i = 0; i < sel->nterms; i++) {
    const field_term *t = &sel->terms[i];
    if (!t->negated && strcmp(sel->strings.data + t->path, path) == 0) {
      return sel->strings.data + t->value;
    }
  }
  return NULL;
}

size_t vr_field_selector_count(const vr_field_selector *sel) {
  return sel != NULL ? sel->nterms : 0;
}

int vr_field_selector_term(const vr_field_selector *sel, size_t i, const char **path, int *negated,
                           const char **value) {
  if (sel == NULL || i >= sel->nterms) return 0;
  if (path != NULL) *path = sel->strings.data + sel->terms[i].path;
  if (negated != NULL) *negated = sel->terms[i].negated;
  if (value != NULL) *value = sel->strings.data + sel->terms[i].value;
  return 1;
}

/* ============================================================================================
 * Node affinity (§6.2)
 * ============================================================================================ */

#define PATH_MAX_LEN 320

/* One NodeSelectorTerm at path against node labels and name. A term with neither expressions
 * nor fields matches nothing (§6.2). Every entry is checked even after one fails. Returns 1, 0,
 * or -1 with a message. */
static int term_match(const cJSON *term, const cJSON *labels, const char *name, const char *path,
                      char *err, size_t errlen) {
  char sub[PATH_MAX_LEN], q[QUOTE_BUF];
  const cJSON *exprs = member(term, "matchExpressions"), *fields = member(term, "matchFields");
  const cJSON *e;
  size_t i = 0;
  int match = 1;
  if (!cJSON_IsObject(term)) return fail(err, errlen, "%s: must be an object", path), -1;
  if (exprs != NULL && !cJSON_IsArray(exprs)) {
    return fail(err, errlen, "%s.matchExpressions: must be an array", path), -1;
  }
  if (fields != NULL && !cJSON_IsArray(fields)) {
    return fail(err, errlen, "%s.matchFields: must be an array", path), -1;
  }
  cJSON_ArrayForEach(e, exprs) {
    json_req r;
    snprintf(sub, sizeof sub, "%s.matchExpressions[%zu]", path, i++);
    if (!read_json_req(e, OPS_NODE_SELECTOR, sub, &r, err, errlen)) return -1;
    if (!json_req_holds(&r, labels)) match = 0;
  }
  if (i == 0 && cJSON_GetArraySize(fields) == 0) return 0; /* empty term */
  i = 0;
  /* matchFields: only metadata.name, In/NotIn, exactly one value (§6.2) */
  cJSON_ArrayForEach(e, fields) {
    const cJSON *key = member(e, "key"), *op = member(e, "operator"), *values, *v;
    snprintf(sub, sizeof sub, "%s.matchFields[%zu]", path, i++);
    if (!cJSON_IsObject(e)) return fail(err, errlen, "%s: must be an object", sub), -1;
    if (!cJSON_IsString(key) || strcmp(key->valuestring, "metadata.name") != 0) {
      fail(err, errlen, "%s.key: only \"metadata.name\" is supported, got %s", sub,
           cJSON_IsString(key) ? quoted(q, '"', key->valuestring, strlen(key->valuestring))
                               : "no string");
      return -1;
    }
    if (!cJSON_IsString(op) ||
        (strcmp(op->valuestring, "In") != 0 && strcmp(op->valuestring, "NotIn") != 0)) {
      fail(err, errlen, "%s.operator: unsupported operator %s (expected In or NotIn)", sub,
           cJSON_IsString(op) ? quoted(q, '"', op->valuestring, strlen(op->valuestring))
                              : "(not a string)");
      return -1;
    }
    values = member(e, "values");
    v = cJSON_IsArray(values) && cJSON_GetArraySize(values) == 1 ? values->child : NULL;
    if (!cJSON_IsString(v)) {
      fail(err, errlen, "%s.values: '%s' on a field needs exactly one string value", sub,
           op->valuestring);
      return -1;
    }
    if ((strcmp(v->valuestring, name) == 0) != (op->valuestring[0] == 'I')) match = 0;
  }
  return match;
}

static const cJSON *node_labels(const cJSON *node) {
  return member(member(node, "metadata"), "labels");
}

static const char *node_name(const cJSON *node) {
  const cJSON *name = member(member(node, "metadata"), "name");
  return cJSON_IsString(name) ? name->valuestring : "";
}

/* NodeSelector ns at path (the prefix of messages; "" at the top): terms ORed, all checked. */
static int node_selector_at(const cJSON *ns, const cJSON *node, const char *path, char *err,
                            size_t errlen) {
  char sub[PATH_MAX_LEN];
  const char *dot = path[0] != '\0' ? "." : "";
  const cJSON *terms = member(ns, "nodeSelectorTerms"), *t;
  const cJSON *labels = node_labels(node);
  const char *name = node_name(node);
  size_t i = 0;
  int any = 0;
  if (!cJSON_IsObject(ns)) {
    return fail(err, errlen, "%s: must be an object", path[0] ? path : "nodeSelector"), -1;
  }
  if (terms != NULL && !cJSON_IsArray(terms)) {
    return fail(err, errlen, "%s%snodeSelectorTerms: must be an array", path, dot), -1;
  }
  cJSON_ArrayForEach(t, terms) {
    int m;
    snprintf(sub, sizeof sub, "%s%snodeSelectorTerms[%zu]", path, dot, i++);
    m = term_match(t, labels, name, sub, err, errlen);
    if (m < 0) return -1;
    if (m) any = 1;
  }
  return any;
}

int vr_node_selector_match(const cJSON *node_selector, const cJSON *node, char *err,
                           size_t errlen) {
  return node_selector_at(node_selector, node, "", err, errlen);
}

#define NODE_AFFINITY "affinity.nodeAffinity"

/* spec.affinity.nodeAffinity, or NULL when absent; -1 in *bad with a message when a level is not
 * an object. */
static const cJSON *node_affinity(const cJSON *spec, int *bad, char *err, size_t errlen) {
  const cJSON *affinity = member(spec, "affinity"), *na;
  *bad = 0;
  if (affinity == NULL) return NULL;
  if (!cJSON_IsObject(affinity)) {
    *bad = 1;
    fail(err, errlen, "affinity: must be an object");
    return NULL;
  }
  na = member(affinity, "nodeAffinity");
  if (na != NULL && !cJSON_IsObject(na)) {
    *bad = 1;
    fail(err, errlen, NODE_AFFINITY ": must be an object");
    return NULL;
  }
  return na;
}

int vr_node_matches_spec(const cJSON *spec, const cJSON *node, char *err, size_t errlen) {
  char q[QUOTE_BUF];
  const cJSON *selector = member(spec, "nodeSelector"), *na, *required, *m;
  const cJSON *labels = node_labels(node);
  int match = 1, bad;
  /* nodeSelector: every pair must equal a node label (§6.1) */
  if (selector != NULL && !cJSON_IsObject(selector)) {
    return fail(err, errlen, "nodeSelector: must be an object"), -1;
  }
  cJSON_ArrayForEach(m, selector) {
    const char *actual;
    if (!cJSON_IsString(m)) {
      fail(err, errlen, "nodeSelector: value of %s must be a string",
           quoted(q, '"', m->string, strlen(m->string)));
      return -1;
    }
    actual = label_get(labels, m->string);
    if (actual == NULL || strcmp(actual, m->valuestring) != 0) match = 0;
  }
  na = node_affinity(spec, &bad, err, errlen);
  if (bad) return -1;
  required = member(na, "requiredDuringSchedulingIgnoredDuringExecution");
  if (required != NULL) {
    int r = node_selector_at(required, node,
                             NODE_AFFINITY ".requiredDuringSchedulingIgnoredDuringExecution", err,
                             errlen);
    if (r < 0) return -1;
    if (!r) match = 0;
  }
  return match;
}

long long vr_node_preference_score(const cJSON *spec, const cJSON *node, char *err, size_t errlen) {
  static const char prefix[] = NODE_AFFINITY ".preferredDuringSchedulingIgnoredDuringExecution";
  char path[PATH_MAX_LEN];
  const cJSON *na, *preferred, *p;
  const cJSON *labels = node_labels(node);
  const char *name = node_name(node);
  long long score = 0, weight;
  size_t i = 0;
  int bad;
  na = node_affinity(spec, &bad, err, errlen);
  if (bad) return -1;
  preferred = member(na, "preferredDuringSchedulingIgnoredDuringExecution");
  if (preferred != NULL && !cJSON_IsArray(preferred)) {
    return fail(err, errlen, "%s: must be an array", prefix), -1;
  }
  cJSON_ArrayForEach(p, preferred) {
    const cJSON *w = member(p, "weight"), *pref = member(p, "preference");
    int m;
    snprintf(path, sizeof path, "%s[%zu]", prefix, i++);
    if (!cJSON_IsObject(p)) return fail(err, errlen, "%s: must be an object", path), -1;
    weight = 0;
    if (w != NULL && (!json_integer(w, &weight) || weight < 0 || weight > 100)) {
      return fail(err, errlen, "%s.weight: must be an integer from 0 to 100", path), -1;
    }
    if (pref == NULL) continue; /* an empty preference matches nothing */
    snprintf(path, sizeof path, "%s[%zu].preference", prefix, i - 1);
    m = term_match(pref, labels, name, path, err, errlen);
    if (m < 0) return -1;
    if (m) score += weight; /* weight 0 adds nothing (§6.2) */
  }
  return score;
}

/* ============================================================================================
 * Taints and tolerations (§6.3)
 * ============================================================================================ */

enum { TOL_EQUAL, TOL_EXISTS, TOL_LT, TOL_GT };

typedef struct toleration {
  const char *key, *value; /* "" when absent */
  int op;
  unsigned effect; /* 0: every effect */
  int has_seconds;
  long long seconds;
} toleration;

/* The effect bit of name, 0 for "" and UINT_MAX for an unknown effect. */
static unsigned effect_bit(const char *name) {
  if (name[0] == '\0') return 0;
  if (strcmp(name, "NoSchedule") == 0) return VR_TAINT_NO_SCHEDULE;
  if (strcmp(name, "PreferNoSchedule") == 0) return VR_TAINT_PREFER_NO_SCHEDULE;
  if (strcmp(name, "NoExecute") == 0) return VR_TAINT_NO_EXECUTE;
  return UINT_MAX;
}

/* An optional string member: "" when absent; NULL with a message when not a string. */
static const char *opt_string(const cJSON *obj, const char *name, const char *path, size_t i,
                              char *err, size_t errlen) {
  const cJSON *v = member(obj, name);
  if (v == NULL) return "";
  if (!cJSON_IsString(v))
    return fail(err, errlen, "%s[%zu].%s: must be a string", path, i, name), NULL;
  return v->valuestring;
}

/* Reads and checks tolerations[i]. Returns 1, or 0 with a message. */
static int read_toleration(const cJSON *item, size_t i, toleration *t, char *err, size_t errlen) {
  char q[QUOTE_BUF];
  const char *op, *effect;
  const cJSON *secs;
  if (!cJSON_IsObject(item)) return fail(err, errlen, "tolerations[%zu]: must be an object", i), 0;
  if ((t->key = opt_string(item, "key", "tolerations", i, err, errlen)) == NULL ||
      (t->value = opt_string(item, "value", "tolerations", i, err, errlen)) == NULL ||
      (op = opt_string(item, "operator", "tolerations", i, err, errlen)) == NULL ||
      (effect = opt_string(item, "effect", "tolerations", i, err, errlen)) == NULL) {
    return 0;
  }
  if (op[0] == '\0' || strcmp(op, "Equal") == 0) {
    t->op = TOL_EQUAL; /* Equal is the default */
  } else if (strcmp(op, "Exists") == 0) {
    t->op = TOL_EXISTS;
  } else if (strcmp(op, "Lt") == 0) {
    t->op = TOL_LT;
  } else if (strcmp(op, "Gt") == 0) {
    t->op = TOL_GT;
  } else {
    fail(err, errlen,
         "tolerations[%zu].operator: unsupported operator %s (expected Equal, Exists, Lt or Gt)", i,
         quoted(q, '"', op, strlen(op)));
    return 0;
  }
  t->effect = effect_bit(effect);
  if (t->effect == UINT_MAX) {
    fail(err, errlen,
         "tolerations[%zu].effect: unknown effect %s (expected NoSchedule, PreferNoSchedule or "
         "NoExecute)",
         i, quoted(q, '"', effect, strlen(effect)));
    return 0;
  }
  /* API validation: an empty key needs Exists; Exists takes no value (§6.3) */
  if (t->key[0] == '\0' && t->op != TOL_EXISTS) {
    return fail(err, errlen, "tolerations[%zu].operator: must be Exists when key is empty", i), 0;
  }
  if (t->op == TOL_EXISTS && t->value[0] != '\0') {
    return fail(err, errlen, "tolerations[%zu].value: must be empty when operator is Exists", i), 0;
  }
  secs = member(item, "tolerationSeconds");
  t->has_seconds = secs != NULL;
  if (secs != NULL && !json_integer(secs, &t->seconds)) {
    return fail(err, errlen, "tolerations[%zu].tolerationSeconds: must be an integer", i), 0;
  }
  return 1;
}

/* ToleratesTaint (§6.3 steps 1-3). */
static int tolerates(const toleration *t, const char *key, const char *value, unsigned effect) {
  long long tv, nv;
  if (t->effect != 0 && t->effect != effect) return 0;
  if (t->key[0] != '\0' && strcmp(t->key, key) != 0) return 0;
  switch (t->op) {
  case TOL_EXISTS:
    return 1;
  case TOL_EQUAL:
    return strcmp(t->value, value) == 0;
  default:
    /* Lt/Gt: both values as int64; a parse failure does not tolerate */
    if (!parse_int64(t->value, strlen(t->value), &tv) || !parse_int64(value, strlen(value), &nv)) {
      return 0;
    }
    return t->op == TOL_LT ? nv < tv : nv > tv;
  }
}

int vr_tolerations_check(const cJSON *tolerations, const cJSON *taints, unsigned effects,
                         vr_toleration_result *out, char *err, size_t errlen) {
  char q[QUOTE_BUF];
  vr_toleration_result res;
  const cJSON *taint, *item;
  size_t i = 0, j;
  long long min_seconds = -1;
  if (cJSON_IsNull(tolerations)) tolerations = NULL;
  if (cJSON_IsNull(taints)) taints = NULL;
  if (tolerations != NULL && !cJSON_IsArray(tolerations)) {
    return fail(err, errlen, "tolerations: must be an array"), -1;
  }
  if (taints != NULL && !cJSON_IsArray(taints)) {
    return fail(err, errlen, "taints: must be an array"), -1;
  }
  cJSON_ArrayForEach(item, tolerations) { /* check every toleration once, up front */
    toleration t;
    if (!read_toleration(item, i++, &t, err, errlen)) return -1;
  }
  res.untolerated = 0;
  res.first_untolerated = NULL;
  res.evict_after = -1;
  i = 0;
  cJSON_ArrayForEach(taint, taints) {
    const char *key, *value, *effect_name;
    unsigned effect;
    int tolerated = 0;
    if (!cJSON_IsObject(taint)) return fail(err, errlen, "taints[%zu]: must be an object", i), -1;
    if ((key = opt_string(taint, "key", "taints", i, err, errlen)) == NULL ||
        (value = opt_string(taint, "value", "taints", i, err, errlen)) == NULL ||
        (effect_name = opt_string(taint, "effect", "taints", i, err, errlen)) == NULL) {
      return -1;
    }
    if (key[0] == '\0') return fail(err, errlen, "taints[%zu].key: must not be empty", i), -1;
    effect = effect_bit(effect_name);
    if (effect == 0 || effect == UINT_MAX) {
      fail(err, errlen,
           "taints[%zu].effect: must be NoSchedule, PreferNoSchedule or NoExecute, got %s", i,
           quoted(q, '"', effect_name, strlen(effect_name)));
      return -1;
    }
    i++;
    if (!(effects & effect)) continue;
    /* The first toleration that tolerates the taint is the one used, as the taint-eviction
     * controller does (GetMatchingTolerations); its tolerationSeconds bounds the stay. */
    j = 0;
    cJSON_ArrayForEach(item, tolerations) {
      toleration t;
      read_toleration(item, j++, &t, NULL, 0); /* checked above */
      if (!tolerates(&t, key, value, effect)) continue;
      tolerated = 1;
      if (effect == VR_TAINT_NO_EXECUTE && t.has_seconds) {
        long long s = t.seconds > 0 ? t.seconds : 0;
        if (min_seconds < 0 || s < min_seconds) min_seconds = s;
      }
      break;
    }
    if (!tolerated) {
      if (res.untolerated++ == 0) res.first_untolerated = taint;
      if (effect == VR_TAINT_NO_EXECUTE) min_seconds = 0; /* evicted at once */
    }
  }
  if (effects & VR_TAINT_NO_EXECUTE) res.evict_after = min_seconds;
  if (out != NULL) *out = res;
  return res.untolerated == 0;
}
