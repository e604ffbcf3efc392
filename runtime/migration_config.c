/* migration_config.c: effective KubeVirt migration settings (see migration_config.h). "§" refers
 * to /work/shared/reference/kubevirt-migration.md, "peers §1" to peers.md.
 *
 * Decisions where the reference leaves room:
 *  - Versions: "vX.Y.Z" with or without the "v", pre-release and build suffixes ignored
 *    ("v1.4.0-rc.1" counts as v1.4). An unparseable status.observedKubeVirtVersion is an error;
 *    a missing one (or no KubeVirt CR) means HEAD. An HCO operator version whose major is not 1
 *    (downstream product numbering such as "4.18.3") gets the newest HCO defaults, and the
 *    source says so. HCO "main" in §1.2 is taken to be v1.19 and later (the table's note about
 *    upgrades "for HCO < 1.19").
 *  - HCO before v1.10 is taken not to expose allowAutoConverge / allowPostCopy ("false (≥v1.10)"),
 *    and before v1.14 not to expose allowWorkloadDisruption; such fields come from the KubeVirt
 *    CR like the never-exposed ones. An explicit value in the HyperConverged CR always wins.
 *  - A field HCO exposes but leaves unset without an HCO default (bandwidthPerMigration,
 *    network) gets the KubeVirt default, not the KubeVirt CR's value: HCO writes the whole
 *    migrations block, so a value edited into the KubeVirt CR is reverted (§1.2). The jsonpatch
 *    annotation is the exception (read from the KubeVirt CR).
 *  - Quantities: "n" and "u" are accepted (apimachinery accepts them); the mantissa is at most
 *    256 characters; the result must fit an int64. A JSON number is accepted for the KubeVirt
 *    CR's and a MigrationPolicy's bandwidthPerMigration (resource.Quantity decodes numbers) when
 *    it is a whole number; HCO's field is a *string, so a number there is a type error.
 *  - Integers arrive as JSON numbers (doubles); whole numbers up to 2^53 are accepted, the
 *    uint32 fields up to 4294967295, maxDowntimeMs 1..2000000 (its kubebuilder bounds, §1.1).
 *  - MigrationPolicy: only the chosen policy's fields are validated; every policy's selectors
 *    and name are (they take part in the choice). Experimental options are not modelled. */
#include "migration_config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define NAME_MAX_LEN 384
#define PATH_MAX_LEN 160
#define MAX_SAFE_INT 9007199254740992.0 /* 2^53: larger doubles are not exact integers */

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

static int fail(char *err, size_t errlen, const char *fmt, ...) PRINTF_LIKE(3, 4);

static int fail(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  if (err != NULL && errlen > 0) {
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return -1;
}

/* ============================================================================================
 * Quantities (apimachinery resource.Quantity grammar)
 * ============================================================================================ */

#define QTY_MAX_CHARS 256
#define QTY_EXP_CAP   1000000L /* larger exponents behave the same (overflow or round to 1) */

/* The exponents a suffix stands for: value = mantissa * 10^e10 * 2^e2. 0 ok, -1 unknown. */
static int quantity_suffix(const char *s, long *e10, int *e2) {
  static const char binary[] = "KMGTPE"; /* Ki = 2^10 ... Ei = 2^60 */
  static const char decimal[] = "numkMGTPE";
  static const int decimal_exp[] = {-9, -6, -3, 3, 6, 9, 12, 15, 18};
  const char *hit;
  *e10 = 0;
  *e2 = 0;
  if (s[0] == '\0') return 0;
  if (s[1] == 'i' && s[2] == '\0' && (hit = strchr(binary, s[0])) != NULL) {
    *e2 = 10 * (int)(hit - binary + 1);
    return 0;
  }
  if (s[1] == '\0' && (hit = strchr(decimal, s[0])) != NULL) {
    *e10 = decimal_exp[hit - decimal];
    return 0;
  }
  if (s[0] == 'e' || s[0] == 'E') { /* decimal exponent: e<int>, E<int> ("E" alone is exa) */
    const char *p = s + 1;
    int negative = 0;
    long e = 0;
    if (*p == '+' || *p == '-') negative = *p++ == '-';
    if (*p < '0' || *p > '9') return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
      if (e < QTY_EXP_CAP) e = e * 10 + (*p - '0');
    }
    if (*p != '\0') return -1;
    *e10 = negative ? -e : e;
    return 0;
  }
  return -1;
}

int vr_quantity_parse(const char *text, int scale, int64_t *out, char *err, size_t errlen) {
  /* The mantissa's digits, least significant first, with room for the factor 2^60 (19 more). */
  unsigned char d[QTY_MAX_CHARS + 24];
  const char *p = text, *int_start, *frac_start = NULL;
  size_t n_int, n_frac = 0, nd = 0, i;
  int negative = 0, e2;
  long e10;
  long long exp10;
  uint64_t value = 0;
  int round_up = 0;
  if (out != NULL) *out = 0;
  if (text == NULL) return fail(err, errlen, "'' is not a quantity");
  if (strlen(text) > QTY_MAX_CHARS)
    return fail(err, errlen, "'%.40s...' is too long to be a quantity", text);
  if (*p == '+' || *p == '-') negative = *p++ == '-';
  int_start = p;
  while (*p >= '0' && *p <= '9') p++;
  n_int = (size_t)(p - int_start);
  if (*p == '.') {
    frac_start = ++p;
    while (*p >= '0' && *p <= '9') p++;
    n_frac = (size_t)(p - frac_start);
  }
  if (n_int + n_frac == 0 || quantity_suffix(p, &e10, &e2) != 0)
    return fail(err, errlen, "'%s' is not a quantity", text);

  /* mantissa = the integer digits then the fraction digits, leading zeros dropped */
  for (i = n_frac; i-- > 0;) d[nd++] = (unsigned char)(frac_start[i] - '0');
  for (i = n_int; i-- > 0;) d[nd++] = (unsigned char)(int_start[i] - '0');
  while (nd > 0 && d[nd - 1] == 0) nd--;
  if (nd == 0) return 0; /* zero, whatever the suffix */

  /* binary suffix: multiply by 2^e2 exactly */
  for (; e2 > 0; e2--) {
    unsigned carry = 0;
    for (i = 0; i < nd; i++) {
      unsigned v = d[i] * 2u + carry;
      d[i] = (unsigned char)(v % 10);
      carry = v / 10;
    }
    if (carry) d[nd++] = (unsigned char)carry;
  }

  /* value in units of 10^scale = mantissa * 10^exp10, rounded away from zero */
  exp10 = (long long)e10 - (long long)n_frac - scale;
  if (exp10 >= 0) {
    if ((long long)nd + exp10 > 19) return fail(err, errlen, "'%s' is out of range", text);
    for (i = nd; i-- > 0;) value = value * 10 + d[i];
    for (; exp10 > 0; exp10--) value *= 10;
  } else {
    size_t k = (size_t)(-exp10 < (long long)nd ? -exp10 : (long long)nd);
    for (i = 0; i < k; i++) round_up |= d[i] != 0;
    if (nd - k > 19) return fail(err, errlen, "'%s' is out of range", text);
    for (i = nd; i-- > k;) value = value * 10 + d[i];
  }
  if (value > (uint64_t)INT64_MAX - (uint64_t)round_up)
    return fail(err, errlen, "'%s' is out of range", text);
  value += (uint64_t)round_up;
  if (out != NULL) *out = negative ? -(int64_t)value : (int64_t)value;
  return 0;
}

uint64_t vr_bandwidth_to_mib(int64_t bytes_per_second) {
  const int64_t mib = (int64_t)1 << 20;
  if (bytes_per_second <= 0) return 0;
  if (bytes_per_second < mib) return 1;
  return (uint64_t)(bytes_per_second / mib + (bytes_per_second % mib >= mib / 2 ? 1 : 0));
}

/* ============================================================================================
 * Eviction strategies (§3.1)
 * ============================================================================================ */

static const char *const eviction_names[] = {"None", "LiveMigrate", "LiveMigrateIfPossible",
                                             "External"};

int vr_eviction_strategy_parse(const char *text, vr_eviction_strategy *out) {
  size_t i;
  if (text == NULL) return -1;
  for (i = 0; i < sizeof eviction_names / sizeof eviction_names[0]; i++) {
    if (strcmp(text, eviction_names[i]) == 0) {
      if (out != NULL) *out = (vr_eviction_strategy)i;
      return 0;
    }
  }
  return -1;
}

const char *vr_eviction_strategy_name(vr_eviction_strategy strategy) {
  if ((unsigned)strategy >= sizeof eviction_names / sizeof eviction_names[0]) return "None";
  return eviction_names[strategy];
}

int vr_migrate_on_eviction(vr_eviction_strategy strategy, int live_migratable) {
  /* VMIMigratableOnEviction: External never migrates, its controller acts instead (§3.1). */
  if (strategy == VR_EVICTION_LIVE_MIGRATE) return 1;
  if (strategy == VR_EVICTION_LIVE_MIGRATE_IF_POSSIBLE) return live_migratable != 0;
  return 0;
}

/* ============================================================================================
 * JSON helpers
 * ============================================================================================ */

static const cJSON *member(const cJSON *obj, const char *key) {
  return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
}

static int absent(const cJSON *item) {
  return item == NULL || cJSON_IsNull(item);
}

static const char *type_name(const cJSON *item) {
  if (cJSON_IsString(item)) return "a string";
  if (cJSON_IsNumber(item)) return "a number";
  if (cJSON_IsBool(item)) return "a boolean";
  if (cJSON_IsObject(item)) return "an object";
  if (cJSON_IsArray(item)) return "an array";
  if (cJSON_IsNull(item)) return "null";
  return "an invalid value";
}

static const char *string_member(const cJSON *obj, const char *key) {
  const cJSON *v = member(obj, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

int vr_vmi_live_migratable(const cJSON *vmi) {
  const cJSON *conditions = member(member(vmi, "status"), "conditions"), *c;
  if (!cJSON_IsArray(conditions)) return 0;
  cJSON_ArrayForEach(c, conditions) {
    const char *type = string_member(c, "type"), *status = string_member(c, "status");
    if (type != NULL && strcmp(type, "LiveMigratable") == 0)
      return status != NULL && strcmp(status, "True") == 0;
  }
  return 0;
}

/* "Role namespace/name", "Role name" (cluster-scoped) or "Role (unnamed)". */
static void object_name(const cJSON *obj, const char *role, char *buf, size_t len) {
  const cJSON *md = member(obj, "metadata");
  const char *ns = string_member(md, "namespace"), *name = string_member(md, "name");
  if (name != NULL && ns != NULL && ns[0] != '\0') {
    snprintf(buf, len, "%s %s/%s", role, ns, name);
  } else if (name != NULL) {
    snprintf(buf, len, "%s %s", role, name);
  } else {
    snprintf(buf, len, "%s (unnamed)", role);
  }
}

/* An object that must be of kind `kind` when it says its kind. */
static int check_object(const cJSON *obj, const char *kind, const char *who, char *err,
                        size_t errlen) {
  const char *k;
  if (!cJSON_IsObject(obj)) return fail(err, errlen, "%s: expected an object", who);
  k = string_member(obj, "kind");
  if (k != NULL && strcmp(k, kind) != 0)
    return fail(err, errlen, "%s: kind: expected %s, got '%s'", who, kind, k);
  return 0;
}

/* parent.key as an object: *out NULL when absent or null, an error when of another type. */
static int get_object(const cJSON *parent, const char *key, const cJSON **out, const char *who,
                      const char *path, char *err, size_t errlen) {
  const cJSON *v = member(parent, key);
  *out = NULL;
  if (absent(v)) return 0;
  if (!cJSON_IsObject(v))
    return fail(err, errlen, "%s: %s: expected an object, got %s", who, path, type_name(v));
  *out = v;
  return 0;
}

/* A labels-like map (every value a string): *out NULL when absent or null. */
static int get_string_map(const cJSON *parent, const char *key, const cJSON **out, const char *who,
                          const char *path, char *err, size_t errlen) {
  const cJSON *pair;
  if (get_object(parent, key, out, who, path, err, errlen) != 0) return -1;
  cJSON_ArrayForEach(pair, *out) {
    if (!cJSON_IsString(pair))
      return fail(err, errlen, "%s: %s.%s: expected a string, got %s", who, path, pair->string,
                  type_name(pair));
  }
  return 0;
}

/* ============================================================================================
 * Versions
 * ============================================================================================ */

typedef struct version {
  int known; /* 0: the newest (KubeVirt HEAD, HCO main) */
  int major, minor, patch;
  char label[96];
} version;

static void version_newest(version *v, const char *label) {
  memset(v, 0, sizeof *v);
  snprintf(v->label, sizeof v->label, "%s", label);
}

static int version_number(const char **p, int *out) {
  long n = 0;
  if (**p < '0' || **p > '9') return -1;
  for (; **p >= '0' && **p <= '9'; (*p)++) {
    n = n * 10 + (**p - '0');
    if (n > 1000000) return -1;
  }
  *out = (int)n;
  return 0;
}

/* "[v]MAJOR.MINOR[.PATCH][-pre][+build]" */
static int version_parse(const char *text, version *v) {
  const char *p = text;
  memset(v, 0, sizeof *v);
  if (*p == 'v') p++;
  if (version_number(&p, &v->major) != 0 || *p++ != '.' || version_number(&p, &v->minor) != 0)
    return -1;
  if (*p == '.') {
    p++;
    if (version_number(&p, &v->patch) != 0) return -1;
  }
  if (*p != '\0' && *p != '-' && *p != '+') return -1;
  v->known = 1;
  snprintf(v->label, sizeof v->label, "v%d.%d", v->major, v->minor);
  return 0;
}

/* 1 when v is older than major.minor.patch (the newest is older than nothing). */
static int before(const version *v, int major, int minor, int patch) {
  if (!v->known) return 0;
  if (v->major != major) return v->major < major;
  if (v->minor != minor) return v->minor < minor;
  return v->patch < patch;
}

/* ============================================================================================
 * The settings
 * ============================================================================================ */

typedef enum {
  K_COUNT,
  K_SECONDS,
  K_DOWNTIME,
  K_QUANTITY,
  K_BOOL,
  K_STRING,
  K_EVICTION
} value_kind;

enum {
  F_PAR_CLUSTER,
  F_PAR_OUTBOUND,
  F_BANDWIDTH,
  F_COMPLETION,
  F_PROGRESS,
  F_DOWNTIME,
  F_UTILITY,
  F_AUTO_CONVERGE,
  F_POST_COPY,
  F_AWD,
  F_UNSAFE,
  F_DISABLE_TLS,
  F_TAINT_KEY,
  F_NETWORK,
  F_SELINUX,
  F_EVICTION,
  F_COUNT
};

typedef struct field_desc {
  const char *name; /* JSON name (spec.configuration.migrations.<name>, §1.1) */
  size_t offset;
  value_kind kind;
  int hco_since; /* HCO exposes it since v1.<hco_since>; -1: never (§1.2) */
  int policy;    /* a MigrationPolicy may set it (§2.5) */
} field_desc;

#define FIELD(n, m, k, h, p)                                                                       \
  { n, offsetof(vr_migration_config, m), k, h, p }
static const field_desc fields[F_COUNT] = {
    FIELD("parallelMigrationsPerCluster", parallel_migrations_per_cluster, K_COUNT, 0, 0),
    FIELD("parallelOutboundMigrationsPerNode", parallel_outbound_migrations_per_node, K_COUNT, 0,
          0),
    FIELD("bandwidthPerMigration", bandwidth_per_migration, K_QUANTITY, 0, 1),
    FIELD("completionTimeoutPerGiB", completion_timeout_per_gib, K_SECONDS, 0, 1),
    FIELD("progressTimeout", progress_timeout, K_SECONDS, 0, 0),
    FIELD("maxDowntimeMs", max_downtime_ms, K_DOWNTIME, -1, 1),
    FIELD("utilityVolumesTimeout", utility_volumes_timeout, K_SECONDS, -1, 0),
    FIELD("allowAutoConverge", allow_auto_converge, K_BOOL, 10, 1),
    FIELD("allowPostCopy", allow_post_copy, K_BOOL, 10, 1),
    FIELD("allowWorkloadDisruption", allow_workload_disruption, K_BOOL, 14, 1),
    FIELD("unsafeMigrationOverride", unsafe_migration_override, K_BOOL, -1, 0),
    FIELD("disableTLS", disable_tls, K_BOOL, -1, 0),
    FIELD("nodeDrainTaintKey", node_drain_taint_key, K_STRING, -1, 0),
    FIELD("network", network, K_STRING, 0, 0),
    FIELD("matchSELinuxLevelOnMigration", match_selinux_level_on_migration, K_BOOL, -1, 0),
    FIELD("evictionStrategy", eviction_strategy, K_EVICTION, 0, 0),
};

static vr_mc_value *slot(vr_migration_config *c, int f) {
  return (vr_mc_value *)(void *)((char *)c + fields[f].offset);
}

static const vr_mc_value *const_slot(const vr_migration_config *c, int f) {
  return (const vr_mc_value *)(const void *)((const char *)c + fields[f].offset);
}

static void set_source(vr_mc_value *v, const char *fmt, ...) PRINTF_LIKE(2, 3);
static void add_source(vr_mc_value *v, const char *fmt, ...) PRINTF_LIKE(2, 3);

static void set_source(vr_mc_value *v, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(v->source, sizeof v->source, fmt, ap);
  va_end(ap);
}

static void add_source(vr_mc_value *v, const char *fmt, ...) {
  size_t n = strlen(v->source);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(v->source + n, sizeof v->source - n, fmt, ap);
  va_end(ap);
}

static void set_value(vr_mc_value *v, int set, int64_t num, const char *str) {
  v->set = set;
  v->num = num;
  snprintf(v->str, sizeof v->str, "%s", str);
}

/* A whole JSON number in [lo, hi]. */
static int read_integer(const cJSON *item, double lo, double hi, const char *what, const char *who,
                        const char *path, int64_t *out, char *err, size_t errlen) {
  double x;
  if (!cJSON_IsNumber(item))
    return fail(err, errlen, "%s: %s: expected %s, got %s", who, path, what, type_name(item));
  x = item->valuedouble;
  if (x < 0 && lo >= 0)
    return fail(err, errlen, "%s: %s: must not be negative (got %.15g)", who, path, x);
  if (!(x >= lo && x <= hi))
    return fail(err, errlen, "%s: %s: %.15g is out of range (%.0f to %.0f)", who, path, x, lo, hi);
  if ((double)(int64_t)x != x)
    return fail(err, errlen, "%s: %s: expected %s, got %.15g", who, path, what, x);
  *out = (int64_t)x;
  return 0;
}

/* parent[name of f] into v (source untouched): 1 when present, 0 when absent or null, -1 when
 * malformed. number_quantity: a JSON number is a valid bandwidthPerMigration. */
static int read_field(const cJSON *parent, int f, int number_quantity, const char *who,
                      const char *path, vr_mc_value *v, char *err, size_t errlen) {
  const cJSON *item = member(parent, fields[f].name);
  int64_t n = 0;
  char why[VR_MC_ERRLEN];
  if (absent(item)) return 0;
  switch (fields[f].kind) {
  case K_COUNT:
    if (read_integer(item, 0, 4294967295.0, "a non-negative integer", who, path, &n, err, errlen) !=
        0)
      return -1;
    set_value(v, 1, n, "");
    return 1;
  case K_SECONDS:
    if (read_integer(item, 0, MAX_SAFE_INT, "a non-negative integer", who, path, &n, err, errlen) !=
        0)
      return -1;
    set_value(v, 1, n, "");
    return 1;
  case K_DOWNTIME:
    if (read_integer(item, 1, 2000000, "an integer from 1 to 2000000", who, path, &n, err,
                     errlen) != 0)
      return -1;
    set_value(v, 1, n, "");
    return 1;
  case K_QUANTITY:
    if (cJSON_IsNumber(item) && number_quantity) {
      if (read_integer(item, 0, MAX_SAFE_INT, "a quantity", who, path, &n, err, errlen) != 0)
        return -1;
      set_value(v, 1, n, "");
      snprintf(v->str, sizeof v->str, "%lld", (long long)n);
      return 1;
    }
    if (!cJSON_IsString(item))
      return fail(err, errlen, "%s: %s: expected a quantity string, got %s", who, path,
                  type_name(item));
    if (vr_quantity_parse(item->valuestring, 0, &n, why, sizeof why) != 0)
      return fail(err, errlen, "%s: %s: %s", who, path, why);
    if (n < 0)
      return fail(err, errlen, "%s: %s: '%s' must not be negative", who, path, item->valuestring);
    set_value(v, 1, n, item->valuestring);
    return 1;
  case K_BOOL:
    if (!cJSON_IsBool(item))
      return fail(err, errlen, "%s: %s: expected a boolean, got %s", who, path, type_name(item));
    set_value(v, 1, cJSON_IsTrue(item) ? 1 : 0, "");
    return 1;
  case K_STRING:
    if (!cJSON_IsString(item))
      return fail(err, errlen, "%s: %s: expected a string, got %s", who, path, type_name(item));
    if (strlen(item->valuestring) >= sizeof v->str)
      return fail(err, errlen, "%s: %s: longer than %d characters", who, path,
                  (int)sizeof v->str - 1);
    set_value(v, 1, 0, item->valuestring);
    return 1;
  case K_EVICTION: {
    vr_eviction_strategy s;
    if (!cJSON_IsString(item))
      return fail(err, errlen, "%s: %s: expected a string, got %s", who, path, type_name(item));
    if (vr_eviction_strategy_parse(item->valuestring, &s) != 0)
      return fail(err, errlen,
                  "%s: %s: '%.64s' is not an eviction strategy (None, LiveMigrate, "
                  "LiveMigrateIfPossible, External)",
                  who, path, item->valuestring);
    set_value(v, 1, (int64_t)s, item->valuestring);
    return 1;
  }
  }
  return 0;
}

/* KubeVirt's built-in default of field f for version kv (§1.1, §3.1, peers §1). */
static void kubevirt_default(int f, const version *kv, vr_mc_value *v) {
  const char *ver = kv->label;
  set_value(v, 1, 0, "");
  switch (f) {
  case F_PAR_CLUSTER:
    v->num = 5;
    set_source(v, "default for KubeVirt %s (5)", ver);
    break;
  case F_PAR_OUTBOUND:
    v->num = 2;
    set_source(v, "default for KubeVirt %s (2)", ver);
    break;
  case F_BANDWIDTH: /* commit ba569ec0, first in v0.43.1 (§1.1) */
    if (before(kv, 0, 43, 1)) {
      set_value(v, 1, (int64_t)64 << 20, "64Mi");
      set_source(v, "default for KubeVirt %s (64Mi before v0.43.1)", ver);
    } else {
      set_value(v, 1, 0, "0Mi");
      set_source(v, "default for KubeVirt %s (0Mi = unlimited since v0.43.1)", ver);
    }
    break;
  case F_COMPLETION: /* commit 5080d817, v1.4.0 (§1.1) */
    if (before(kv, 1, 4, 0)) {
      v->num = 800;
      set_source(v, "default for KubeVirt %s (800 s/GB before v1.4)", ver);
    } else {
      v->num = 150;
      set_source(v, "default for KubeVirt %s (150 s/GB since v1.4)", ver);
    }
    break;
  case F_PROGRESS:
    v->num = 150;
    set_source(v, "default for KubeVirt %s (150 s)", ver);
    break;
  case F_DOWNTIME:
    if (before(kv, 1, 9, 0)) {
      v->set = 0;
      set_source(v, "not in KubeVirt %s (maxDowntimeMs is new in v1.9)", ver);
    } else {
      v->num = 900;
      set_source(v, "default for KubeVirt %s (900 ms since v1.9)", ver);
    }
    break;
  case F_UTILITY:
    if (before(kv, 1, 8, 0)) {
      v->set = 0;
      set_source(v, "not in KubeVirt %s (utilityVolumesTimeout is new in v1.8)", ver);
    } else {
      v->num = 150;
      set_source(v, "default for KubeVirt %s (150 s since v1.8)", ver);
    }
    break;
  case F_AWD: /* resolved against allowPostCopy at the end */
    v->set = 0;
    set_source(v, "default for KubeVirt %s (unset)", ver);
    break;
  case F_TAINT_KEY:
    set_value(v, 1, 0, "kubevirt.io/drain");
    set_source(v, "default for KubeVirt %s (kubevirt.io/drain)", ver);
    break;
  case F_NETWORK:
    v->set = 0;
    set_source(v, "default for KubeVirt %s (unset: the pod network)", ver);
    break;
  case F_SELINUX:
    v->set = 0;
    if (before(kv, 1, 0, 0)) {
      set_source(v, "not in KubeVirt %s (matchSELinuxLevelOnMigration is new in v1.0)", ver);
    } else {
      set_source(v, "default for KubeVirt %s (unset: the target keeps the source's level)", ver);
    }
    break;
  case F_EVICTION: /* §1.1: None since v1.2; nil before, which behaves the same */
    set_value(v, 1, VR_EVICTION_NONE, "None");
    if (before(kv, 1, 2, 0)) {
      set_source(v, "default for KubeVirt %s (unset before v1.2, behaves as None)", ver);
    } else {
      set_source(v, "default for KubeVirt %s (None)", ver);
    }
    break;
  default: /* allowAutoConverge, allowPostCopy, unsafeMigrationOverride, disableTLS */
    set_source(v, "default for KubeVirt %s (false)", ver);
    break;
  }
}

/* HCO's own default of field f for version hv (§1.2 table): 1 and v filled, or 0 (none). */
static int hco_default(int f, const version *hv, vr_mc_value *v) {
  const char *ver = hv->label;
  int main_line = !before(hv, 1, 19, 0), since14 = !before(hv, 1, 14, 0);
  set_value(v, 1, 0, "");
  switch (f) {
  case F_PAR_CLUSTER:
    v->num = 5;
    set_source(v, "default for HyperConverged %s (5)", ver);
    return 1;
  case F_PAR_OUTBOUND: /* HCO PR #4426 (peers §1) */
    v->num = main_line ? 1 : 2;
    set_source(v, "default for HyperConverged %s (%s)", ver,
               main_line ? "1 since v1.19" : "2 before v1.19");
    return 1;
  case F_COMPLETION:
    v->num = main_line ? 20 : since14 ? 150 : 800;
    set_source(v, "default for HyperConverged %s (%s)", ver,
               main_line ? "20 s/GB since v1.19"
               : since14 ? "150 s/GB in v1.14-v1.18"
                         : "800 s/GB up to v1.13");
    return 1;
  case F_PROGRESS:
    v->num = 150;
    set_source(v, "default for HyperConverged %s (150 s)", ver);
    return 1;
  case F_AUTO_CONVERGE:
  case F_POST_COPY:
    if (before(hv, 1, 10, 0)) return 0;
    set_source(v, "default for HyperConverged %s (false since v1.10)", ver);
    return 1;
  case F_AWD:
    if (!since14) return 0;
    set_source(v, "default for HyperConverged %s (false since v1.14)", ver);
    return 1;
  default:
    return 0;
  }
}

/* 1 when HCO of version hv has field f in its API. */
static int hco_exposes(int f, const version *hv) {
  return fields[f].hco_since >= 0 && !before(hv, 1, fields[f].hco_since, 0);
}

/* Where field f lives in the KubeVirt CR, as a dotted path (JSON pointer when pointer). */
static void kubevirt_path(int f, int pointer, char *buf, size_t len) {
  const char *sep = pointer ? "/" : ".";
  if (f == F_EVICTION) {
    snprintf(buf, len, "%sspec%sconfiguration%sevictionStrategy", pointer ? "/" : "", sep, sep);
  } else {
    snprintf(buf, len, "%sspec%sconfiguration%smigrations%s%s", pointer ? "/" : "", sep, sep, sep,
             fields[f].name);
  }
}

/* 1 when a JSON patch at `op_path` changes what is at `field_path` (same or parent path). */
static int patch_covers(const char *op_path, const char *field_path) {
  size_t n = strlen(op_path);
  return strncmp(op_path, field_path, n) == 0 && (field_path[n] == '\0' || field_path[n] == '/');
}

/* The fields the HyperConverged annotation kubevirt.kubevirt.io/jsonpatch patches (§1.2): HCO
 * applies that patch to the KubeVirt CR after its own values, so those come from the CR. */
static int hco_patched_fields(const cJSON *hco, const char *who, unsigned *mask, char *err,
                              size_t errlen) {
  static const char path[] = "metadata.annotations.kubevirt.kubevirt.io/jsonpatch";
  const cJSON *text = member(member(member(hco, "metadata"), "annotations"),
                             "kubevirt.kubevirt.io/jsonpatch"),
              *op;
  cJSON *ops;
  int n_op = 0;
  *mask = 0;
  if (absent(text)) return 0;
  if (!cJSON_IsString(text))
    return fail(err, errlen, "%s: %s: expected a string, got %s", who, path, type_name(text));
  ops = cJSON_Parse(text->valuestring);
  if (!cJSON_IsArray(ops)) {
    cJSON_Delete(ops);
    return fail(err, errlen, "%s: %s: not a JSON array of patch operations", who, path);
  }
  cJSON_ArrayForEach(op, ops) {
    const char *name = string_member(op, "op"), *at = string_member(op, "path");
    const char *from = string_member(op, "from");
    int f;
    if (name == NULL || at == NULL) {
      cJSON_Delete(ops);
      return fail(err, errlen, "%s: %s: operation %d has no string \"op\" and \"path\"", who, path,
                  n_op);
    }
    n_op++;
    if (strcmp(name, "test") == 0) continue;
    for (f = 0; f < F_COUNT; f++) {
      char pointer[PATH_MAX_LEN];
      kubevirt_path(f, 1, pointer, sizeof pointer);
      if (patch_covers(at, pointer) ||
          (strcmp(name, "move") == 0 && from != NULL && patch_covers(from, pointer)))
        *mask |= 1u << f;
    }
  }
  cJSON_Delete(ops);
  return 0;
}

/* The HCO version whose defaults apply (§1.2): status.versions[name=operator], else newest. */
static int hco_version(const cJSON *hco, const char *who, version *v, char *err, size_t errlen) {
  const cJSON *versions = member(member(hco, "status"), "versions"), *item;
  int n_item = 0;
  version_newest(v, "main");
  if (absent(versions)) return 0;
  if (!cJSON_IsArray(versions))
    return fail(err, errlen, "%s: status.versions: expected an array, got %s", who,
                type_name(versions));
  cJSON_ArrayForEach(item, versions) {
    const char *name = string_member(item, "name");
    if (name != NULL && strcmp(name, "operator") == 0) {
      const cJSON *text = member(item, "version");
      if (!cJSON_IsString(text))
        return fail(err, errlen, "%s: status.versions[%d].version: expected a string, got %s", who,
                    n_item, type_name(text));
      if (version_parse(text->valuestring, v) != 0)
        return fail(err, errlen, "%s: status.versions[%d].version: '%.64s' is not a version", who,
                    n_item, text->valuestring);
      if (v->major != 1) {
        char label[sizeof v->label];
        snprintf(label, sizeof label, "main (operator version %.40s is not an HCO v1.x version)",
                 text->valuestring);
        version_newest(v, label);
      }
      return 0;
    }
    n_item++;
  }
  return 0;
}

/* Where the values are: the objects and their role names and paths. */
typedef struct cluster_inputs {
  const cJSON *kv, *kv_conf, *kv_mig;
  const cJSON *hco, *hco_parent, *hco_mig;
  const char *hco_api;  /* "hco.kubevirt.io/v1beta1" or "hco.kubevirt.io/v1" */
  const char *hco_base; /* "spec" or "spec.virtualization" */
  char kv_name[NAME_MAX_LEN], hco_name[NAME_MAX_LEN];
  version kv_version, hco_version;
  unsigned patched; /* fields patched by the HCO jsonpatch annotation */
} cluster_inputs;

static int load_kubevirt(const cJSON *kv, cluster_inputs *in, char *err, size_t errlen) {
  const cJSON *spec, *status, *observed;
  in->kv = kv;
  object_name(kv, "KubeVirt", in->kv_name, sizeof in->kv_name);
  if (check_object(kv, "KubeVirt", in->kv_name, err, errlen) != 0 ||
      get_object(kv, "spec", &spec, in->kv_name, "spec", err, errlen) != 0 ||
      get_object(spec, "configuration", &in->kv_conf, in->kv_name, "spec.configuration", err,
                 errlen) != 0 ||
      get_object(in->kv_conf, "migrations", &in->kv_mig, in->kv_name,
                 "spec.configuration.migrations", err, errlen) != 0 ||
      get_object(kv, "status", &status, in->kv_name, "status", err, errlen) != 0)
    return -1;
  observed = member(status, "observedKubeVirtVersion");
  if (absent(observed)) return 0; /* not deployed yet: HEAD */
  if (!cJSON_IsString(observed))
    return fail(err, errlen, "%s: status.observedKubeVirtVersion: expected a string, got %s",
                in->kv_name, type_name(observed));
  if (version_parse(observed->valuestring, &in->kv_version) != 0)
    return fail(err, errlen, "%s: status.observedKubeVirtVersion: '%.64s' is not a version",
                in->kv_name, observed->valuestring);
  return 0;
}

static int load_hco(const cJSON *hco, cluster_inputs *in, char *err, size_t errlen) {
  const cJSON *spec;
  in->hco = hco;
  object_name(hco, "HyperConverged", in->hco_name, sizeof in->hco_name);
  if (check_object(hco, "HyperConverged", in->hco_name, err, errlen) != 0) return -1;
  in->hco_api = string_member(hco, "apiVersion");
  if (in->hco_api == NULL || (strcmp(in->hco_api, "hco.kubevirt.io/v1beta1") != 0 &&
                              strcmp(in->hco_api, "hco.kubevirt.io/v1") != 0))
    return fail(err, errlen,
                "%s: apiVersion: expected hco.kubevirt.io/v1beta1 or hco.kubevirt.io/v1, got %s",
                in->hco_name, in->hco_api ? in->hco_api : "nothing");
  if (get_object(hco, "spec", &spec, in->hco_name, "spec", err, errlen) != 0) return -1;
  if (strcmp(in->hco_api, "hco.kubevirt.io/v1") == 0) { /* §1.2: the v1 layout */
    in->hco_base = "spec.virtualization";
    if (get_object(spec, "virtualization", &in->hco_parent, in->hco_name, in->hco_base, err,
                   errlen) != 0)
      return -1;
  } else {
    in->hco_base = "spec";
    in->hco_parent = spec;
  }
  if (get_object(in->hco_parent, "liveMigrationConfig", &in->hco_mig, in->hco_name,
                 strcmp(in->hco_base, "spec") == 0 ? "spec.liveMigrationConfig"
                                                   : "spec.virtualization.liveMigrationConfig",
                 err, errlen) != 0)
    return -1;
  if (hco_version(hco, in->hco_name, &in->hco_version, err, errlen) != 0) return -1;
  return hco_patched_fields(hco, in->hco_name, &in->patched, err, errlen);
}

/* HCO's mutating webhook fills an unset evictionStrategy (§1.2 mutateEvictionStrategy). */
static int hco_eviction_default(const cluster_inputs *in, vr_mc_value *v, char *err,
                                size_t errlen) {
  const cJSON *ha = member(member(in->hco, "status"), "infrastructureHighlyAvailable");
  if (!absent(ha) && !cJSON_IsBool(ha))
    return fail(err, errlen, "%s: status.infrastructureHighlyAvailable: expected a boolean, got %s",
                in->hco_name, type_name(ha));
  if (cJSON_IsTrue(ha)) {
    set_value(v, 1, VR_EVICTION_LIVE_MIGRATE, "LiveMigrate");
    set_source(v, "default for HyperConverged (status.infrastructureHighlyAvailable is true: "
                  "LiveMigrate)");
  } else {
    set_value(v, 1, VR_EVICTION_NONE, "None");
    set_source(v, "default for HyperConverged (status.infrastructureHighlyAvailable is %s: None)",
               absent(ha) ? "unset" : "false");
  }
  return 0;
}

/* The value of field f from the KubeVirt CR, or the KubeVirt default. */
static int resolve_from_kubevirt(int f, const cluster_inputs *in, vr_mc_value *v, char *err,
                                 size_t errlen) {
  char path[PATH_MAX_LEN];
  int rc = 0;
  kubevirt_path(f, 0, path, sizeof path);
  if (in->kv != NULL) {
    rc = read_field(f == F_EVICTION ? in->kv_conf : in->kv_mig, f, 1, in->kv_name, path, v, err,
                    errlen);
    if (rc < 0) return -1;
    if (rc > 0) set_source(v, "KubeVirt CR %s", path);
  }
  if (rc == 0) kubevirt_default(f, &in->kv_version, v);
  return 0;
}

static int resolve_field(int f, const cluster_inputs *in, vr_mc_value *v, char *err,
                         size_t errlen) {
  char path[PATH_MAX_LEN];
  int rc;
  if (in->hco != NULL && hco_exposes(f, &in->hco_version) && in->kv != NULL &&
      (in->patched & (1u << f))) {
    if (resolve_from_kubevirt(f, in, v, err, errlen) != 0) return -1;
    add_source(v, " (patched through the HyperConverged jsonpatch annotation)");
    return 0;
  }
  if (in->hco != NULL) {
    if (f == F_EVICTION) {
      snprintf(path, sizeof path, "%s.evictionStrategy", in->hco_base);
    } else {
      snprintf(path, sizeof path, "%s.liveMigrationConfig.%s", in->hco_base, fields[f].name);
    }
    rc = read_field(f == F_EVICTION ? in->hco_parent : in->hco_mig, f, 0, in->hco_name, path, v,
                    err, errlen);
    if (rc < 0) return -1;
    if (rc > 0) {
      set_source(v, "HyperConverged %s %s", in->hco_api, path);
      return 0;
    }
    if (f == F_EVICTION) return hco_eviction_default(in, v, err, errlen);
    if (hco_default(f, &in->hco_version, v)) return 0;
    if (hco_exposes(f, &in->hco_version)) { /* HCO writes nil there: the KubeVirt default */
      kubevirt_default(f, &in->kv_version, v);
      add_source(v, "; unset in HyperConverged");
      return 0;
    }
  }
  return resolve_from_kubevirt(f, in, v, err, errlen);
}

int vr_migration_config_cluster(const cJSON *kubevirt, const cJSON *hyperconverged,
                                vr_migration_config *out, char *err, size_t errlen) {
  cluster_inputs in;
  vr_mc_value *awd, *apc;
  int f;
  memset(out, 0, sizeof *out);
  memset(&in, 0, sizeof in);
  version_newest(&in.kv_version, "HEAD");
  if (kubevirt != NULL && load_kubevirt(kubevirt, &in, err, errlen) != 0) return -1;
  if (hyperconverged != NULL && load_hco(hyperconverged, &in, err, errlen) != 0) return -1;
  snprintf(out->kubevirt_version, sizeof out->kubevirt_version, "%s", in.kv_version.label);
  if (hyperconverged != NULL)
    snprintf(out->hco_version, sizeof out->hco_version, "%s", in.hco_version.label);
  for (f = 0; f < F_COUNT; f++) {
    if (resolve_field(f, &in, slot(out, f), err, errlen) != 0) return -1;
  }
  /* §1.1: allowWorkloadDisruption unset copies allowPostCopy (GetMigrationConfiguration). Before
   * v1.5 the field does not exist and a timeout with allowPostCopy switches to post-copy (§1.4),
   * which is the same behaviour. */
  awd = slot(out, F_AWD);
  apc = slot(out, F_POST_COPY);
  if (!awd->set) {
    set_value(awd, 1, apc->num, "");
    if (before(&in.kv_version, 1, 5, 0)) {
      set_source(awd,
                 "KubeVirt %s has no allowWorkloadDisruption: a timeout acts as allowPostCopy (%s)",
                 in.kv_version.label, apc->num ? "true" : "false");
    } else {
      set_source(awd, "unset, follows allowPostCopy (%s) as KubeVirt %s does",
                 apc->num ? "true" : "false", in.kv_version.label);
    }
  }
  return 0;
}

/* ============================================================================================
 * Per VMI: MigrationPolicy (§2.5) and eviction strategy (§3.1)
 * ============================================================================================ */

/* The number of selector pairs present in labels, or -1 when one is missing or differs. */
static int count_matches(const cJSON *selector, const cJSON *labels) {
  const cJSON *pair;
  int n = 0;
  cJSON_ArrayForEach(pair, selector) {
    const char *have = string_member(labels, pair->string);
    if (have == NULL || strcmp(have, pair->valuestring) != 0) return -1;
    n++;
  }
  return n;
}

/* The labels of the namespace: from a Namespace object (it has an object "metadata"; label
 * values are strings, so a labels map never does) or a labels map. */
static int namespace_labels(const cJSON *ns, const cJSON **labels, char *err, size_t errlen) {
  char who[NAME_MAX_LEN];
  const cJSON *md;
  *labels = NULL;
  if (absent(ns)) return 0;
  if (!cJSON_IsObject(ns))
    return fail(err, errlen, "Namespace: expected a Namespace object or a labels object, got %s",
                type_name(ns));
  object_name(ns, "Namespace", who, sizeof who);
  if (cJSON_IsObject(member(ns, "metadata"))) {
    if (get_object(ns, "metadata", &md, who, "metadata", err, errlen) != 0) return -1;
    return get_string_map(md, "labels", labels, who, "metadata.labels", err, errlen);
  }
  {
    const cJSON *pair;
    cJSON_ArrayForEach(pair, ns) {
      if (!cJSON_IsString(pair))
        return fail(err, errlen, "Namespace labels: %s: expected a string, got %s", pair->string,
                    type_name(pair));
    }
  }
  *labels = ns;
  return 0;
}

/* Whether a policy matches (§2.5, KubeVirt countMatchingLabels): *total / *vmi_matches are the
 * matched pairs. Returns 1 match, 0 no match, -1 malformed. */
static int policy_matches(const cJSON *policy, const char *who, const cJSON *vmi_labels,
                          const cJSON *ns_labels, int *total, int *vmi_matches, char *err,
                          size_t errlen) {
  const cJSON *spec, *selectors, *vmi_sel, *ns_sel;
  int n_vmi = 0, n_ns = 0;
  *total = *vmi_matches = 0;
  if (get_object(policy, "spec", &spec, who, "spec", err, errlen) != 0 ||
      get_object(spec, "selectors", &selectors, who, "spec.selectors", err, errlen) != 0 ||
      get_string_map(selectors, "virtualMachineInstanceSelector", &vmi_sel, who,
                     "spec.selectors.virtualMachineInstanceSelector", err, errlen) != 0 ||
      get_string_map(selectors, "namespaceSelector", &ns_sel, who,
                     "spec.selectors.namespaceSelector", err, errlen) != 0)
    return -1;
  if (selectors == NULL) return 0; /* no selectors: never matches */
  /* The quirk (§2.5): both selectors are only evaluated when the VMI has a labels map; without
   * one, every policy with selectors matches with zero pairs. */
  if (vmi_labels == NULL) return 1;
  if (vmi_sel != NULL && (n_vmi = count_matches(vmi_sel, vmi_labels)) < 0) return 0;
  if (ns_sel != NULL && (n_ns = count_matches(ns_sel, ns_labels)) < 0) return 0;
  *total = n_vmi + n_ns;
  *vmi_matches = n_vmi;
  return 1;
}

/* Overrides out with the policy's non-nil fields (§2.5 applyMigrationPolicySpec). */
static int apply_policy(const cJSON *policy, const char *name, const char *who,
                        vr_migration_config *out, char *err, size_t errlen) {
  const cJSON *spec = member(policy, "spec");
  int f, rc, has_apc = 0, has_awd = 0;
  for (f = 0; f < F_COUNT; f++) {
    char path[PATH_MAX_LEN];
    vr_mc_value v;
    if (!fields[f].policy) continue;
    snprintf(path, sizeof path, "spec.%s", fields[f].name);
    memset(&v, 0, sizeof v);
    rc = read_field(spec, f, 1, who, path, &v, err, errlen);
    if (rc < 0) return -1;
    if (rc == 0) continue;
    set_source(&v, "MigrationPolicy %s %s", name, path);
    *slot(out, f) = v;
    has_apc |= f == F_POST_COPY;
    has_awd |= f == F_AWD;
  }
  /* backward compatibility: a policy with only allowPostCopy sets AWD to the same value */
  if (has_apc && !has_awd) {
    vr_mc_value *awd = slot(out, F_AWD);
    set_value(awd, 1, slot(out, F_POST_COPY)->num, "");
    set_source(awd, "MigrationPolicy %s spec.allowPostCopy (allowWorkloadDisruption follows it)",
               name);
  }
  snprintf(out->policy, sizeof out->policy, "%s", name);
  return 0;
}

int vr_vmi_eviction_strategy(const vr_migration_config *cluster, const cJSON *vmi,
                             vr_eviction_strategy *out, char *source, size_t source_len, char *err,
                             size_t errlen) {
  char who[NAME_MAX_LEN];
  const char *vmi_kind = string_member(vmi, "kind"), *path = "spec.evictionStrategy";
  const char *role = "VirtualMachineInstance";
  const cJSON *spec = NULL, *item;
  *out = VR_EVICTION_NONE;
  if (source != NULL && source_len > 0) source[0] = '\0';
  if (vmi != NULL) {
    if (!cJSON_IsObject(vmi))
      return fail(err, errlen, "VirtualMachineInstance: expected an object, got %s",
                  type_name(vmi));
    if (vmi_kind != NULL && strcmp(vmi_kind, "VirtualMachine") == 0) { /* VM.spec.template.spec */
      const cJSON *template;
      role = "VirtualMachine";
      path = "spec.template.spec.evictionStrategy";
      object_name(vmi, role, who, sizeof who);
      if (get_object(vmi, "spec", &spec, who, "spec", err, errlen) != 0 ||
          get_object(spec, "template", &template, who, "spec.template", err, errlen) != 0 ||
          get_object(template, "spec", &spec, who, "spec.template.spec", err, errlen) != 0)
        return -1;
    } else {
      object_name(vmi, role, who, sizeof who);
      if (get_object(vmi, "spec", &spec, who, "spec", err, errlen) != 0) return -1;
    }
    item = member(spec, "evictionStrategy");
    if (!absent(item)) {
      if (!cJSON_IsString(item))
        return fail(err, errlen, "%s: %s: expected a string, got %s", who, path, type_name(item));
      if (vr_eviction_strategy_parse(item->valuestring, out) != 0)
        return fail(err, errlen,
                    "%s: %s: '%.64s' is not an eviction strategy (None, LiveMigrate, "
                    "LiveMigrateIfPossible, External)",
                    who, path, item->valuestring);
      if (source != NULL) snprintf(source, source_len, "%s %s", role, path);
      return 0;
    }
  }
  if (cluster != NULL && cluster->eviction_strategy.set) {
    if (vr_eviction_strategy_parse(cluster->eviction_strategy.str, out) != 0)
      return fail(err, errlen, "cluster evictionStrategy: '%.64s' is not an eviction strategy",
                  cluster->eviction_strategy.str);
    if (source != NULL) snprintf(source, source_len, "%s", cluster->eviction_strategy.source);
    return 0;
  }
  if (source != NULL) snprintf(source, source_len, "default for KubeVirt HEAD (None)");
  return 0;
}

int vr_migration_config_for_vmi(const vr_migration_config *cluster, const cJSON *const *policies,
                                size_t npolicies, const cJSON *vmi, const cJSON *ns,
                                vr_migration_config *out, char *err, size_t errlen) {
  char vmi_name[NAME_MAX_LEN], best_who[NAME_MAX_LEN] = "", source[VR_MC_SOURCE_MAX];
  const cJSON *vmi_labels = NULL, *ns_labels = NULL, *md, *best = NULL;
  const char *best_name = NULL;
  int best_total = -1, best_vmi = -1;
  size_t i;
  vr_eviction_strategy strategy;
  vr_mc_value *ev;
  if (cluster == NULL) return fail(err, errlen, "no cluster migration configuration");
  if (out != cluster) *out = *cluster;
  out->policy[0] = '\0';
  object_name(vmi, "VirtualMachineInstance", vmi_name, sizeof vmi_name);
  if (check_object(vmi, "VirtualMachineInstance", vmi_name, err, errlen) != 0 ||
      get_object(vmi, "metadata", &md, vmi_name, "metadata", err, errlen) != 0 ||
      get_string_map(md, "labels", &vmi_labels, vmi_name, "metadata.labels", err, errlen) != 0 ||
      namespace_labels(ns, &ns_labels, err, errlen) != 0)
    return -1;
  for (i = 0; i < npolicies; i++) {
    char who[NAME_MAX_LEN];
    const char *name;
    int total, vmi_matches, rc;
    if (policies == NULL || policies[i] == NULL) continue;
    object_name(policies[i], "MigrationPolicy", who, sizeof who);
    if (check_object(policies[i], "MigrationPolicy", who, err, errlen) != 0) return -1;
    name = string_member(member(policies[i], "metadata"), "name");
    if (name == NULL) return fail(err, errlen, "%s: metadata.name: expected a string", who);
    rc = policy_matches(policies[i], who, vmi_labels, ns_labels, &total, &vmi_matches, err, errlen);
    if (rc < 0) return -1;
    if (rc == 0) continue;
    /* §2.5 ranking: matched pairs, then VMI pairs, then the smallest name */
    if (total > best_total || (total == best_total && vmi_matches > best_vmi) ||
        (total == best_total && vmi_matches == best_vmi && strcmp(name, best_name) < 0)) {
      best = policies[i];
      best_name = name;
      best_total = total;
      best_vmi = vmi_matches;
      snprintf(best_who, sizeof best_who, "%s", who);
    }
  }
  if (best != NULL && apply_policy(best, best_name, best_who, out, err, errlen) != 0) return -1;
  /* §3.1: the VMI's spec.evictionStrategy overrides the cluster's */
  if (vr_vmi_eviction_strategy(out, vmi, &strategy, source, sizeof source, err, errlen) != 0)
    return -1;
  ev = slot(out, F_EVICTION);
  set_value(ev, 1, (int64_t)strategy, vr_eviction_strategy_name(strategy));
  memcpy(ev->source, source, sizeof ev->source);
  return 0;
}

/* ============================================================================================
 * Access and rendering
 * ============================================================================================ */

const vr_mc_value *vr_migration_config_get(const vr_migration_config *config, const char *name) {
  int f;
  if (config == NULL || name == NULL) return NULL;
  for (f = 0; f < F_COUNT; f++) {
    if (strcmp(fields[f].name, name) == 0) return const_slot(config, f);
  }
  return NULL;
}

cJSON *vr_migration_config_to_json(const vr_migration_config *config) {
  cJSON *root = cJSON_CreateObject();
  int f, ok = root != NULL;
  for (f = 0; ok && f < F_COUNT; f++) {
    const vr_mc_value *v = const_slot(config, f);
    cJSON *entry = cJSON_AddObjectToObject(root, fields[f].name), *value;
    if (entry == NULL) break;
    if (!v->set) {
      value = cJSON_AddNullToObject(entry, "value");
    } else if (fields[f].kind == K_BOOL) {
      value = cJSON_AddBoolToObject(entry, "value", v->num != 0);
    } else if (fields[f].kind == K_STRING || fields[f].kind == K_EVICTION) {
      value = cJSON_AddStringToObject(entry, "value", v->str);
    } else {
      value = cJSON_AddNumberToObject(entry, "value", (double)v->num);
    }
    ok = value != NULL && cJSON_AddStringToObject(entry, "source", v->source) != NULL;
  }
  ok = ok && f == F_COUNT &&
       cJSON_AddStringToObject(root, "kubevirtVersion", config->kubevirt_version) != NULL &&
       (config->hco_version[0]
            ? cJSON_AddStringToObject(root, "hyperConvergedVersion", config->hco_version)
            : cJSON_AddNullToObject(root, "hyperConvergedVersion")) != NULL &&
       (config->policy[0] ? cJSON_AddStringToObject(root, "migrationPolicy", config->policy)
                          : cJSON_AddNullToObject(root, "migrationPolicy")) != NULL;
  if (!ok) {
    cJSON_Delete(root);
    return NULL;
  }
  return root;
}
