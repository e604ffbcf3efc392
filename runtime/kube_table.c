/* kube_table.c: the meta.k8s.io/v1 Tables of `vmrun serve` (kube_table.h): the columns and cells
 * the Kubernetes API server sends for Nodes and Pods (kubernetes/kubernetes
 * pkg/printers/internalversion/printers.go, as of Kubernetes 1.32: printNode, printPod), the
 * CustomResourceDefinition printer columns of KubeVirt's VirtualMachine, VirtualMachineInstance
 * and VirtualMachineInstanceMigration (kubevirt/kubevirt
 * pkg/virt-operator/resource/generate/components/crds.go) rendered the way the apiextensions
 * table convertor renders them (missing values are null cells, dates are ages), Name and Age for
 * every other kind, and k8s.io/apimachinery's duration.HumanDuration.
 *
 * Rules it keeps: pure functions over cJSON trees: no store, no HTTP, no Lua, no global state;
 * the input objects are only read. Any member may be missing or of any type: such a member counts
 * as absent and never aborts. Every allocation comes from cJSON's allocator (cJSON_Create*,
 * cJSON_malloc), is checked, and everything is freed when one fails (vr_kube_table then returns
 * NULL). Timestamps are parsed here, without the local time zone. */
#include "kube_table.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ============================================================================================
 * Reading objects of any shape
 * ============================================================================================ */

static const cJSON *get(const cJSON *obj, const char *key) {
  return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
}

static const cJSON *get2(const cJSON *obj, const char *a, const char *b) {
  return get(get(obj, a), b);
}

static const char *text(const cJSON *v) {
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The string, or NULL when it is missing, not a string or empty (Go's zero value). */
static const char *nonempty(const cJSON *v) {
  const char *s = text(v);
  return s != NULL && s[0] != '\0' ? s : NULL;
}

static int eq(const char *a, const char *b) {
  return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* An int32 field: 0 when missing or not a number, truncated and clamped otherwise. */
static int64_t int32_of(const cJSON *v) {
  double d;
  if (!cJSON_IsNumber(v)) return 0;
  d = v->valuedouble;
  if (isnan(d)) return 0;
  if (d <= (double)INT32_MIN) return INT32_MIN;
  if (d >= (double)INT32_MAX) return INT32_MAX;
  return (int64_t)d;
}

/* The elements of v when it is an array; nothing otherwise (cJSON_ArrayForEach would walk an
 * object's members too). */
#define EACH(el, v)                                                                                \
  for ((el) = cJSON_IsArray(v) ? (v)->child : NULL; (el) != NULL; (el) = (el)->next)

/* ============================================================================================
 * Time
 * ============================================================================================ */

/* Go's zero time.Time, 0001-01-01T00:00:00Z: metav1.Time.IsZero() */
#define ZERO_TIME_MS (-62135596800000LL)

static int read_digits(const char *s, int n, int *out) {
  int i, v = 0;
  for (i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return 0;
}

static int leap_year(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian, 0 <= y <= 9999). The year count starts
 * 400 years early (146097 days, one full cycle) so that every division is of a positive number. */
static int64_t days_since_epoch(int y, int m, int d) {
  static const int before_month[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
  int64_t p = (int64_t)y + 399; /* whole years from year -400 to year y */
  int64_t days = 365 * p + p / 4 - p / 100 + p / 400 - 146097; /* 0001-01-01 to y-01-01 */
  days += before_month[m - 1] + (m > 2 && leap_year(y)) + (d - 1);
  return days - 719162; /* 0001-01-01 to 1970-01-01 */
}

/* RFC 3339 as Go's time.Parse(time.RFC3339) takes it: YYYY-MM-DDTHH:MM:SS, optional fraction
 * (any number of digits; ms kept, the rest truncated), then Z or +HH:MM / -HH:MM. Fields out of
 * range (month 13, February 30, second 60, offset hour 24) do not parse. */
static int parse_time(const char *s, int64_t *ms) {
  static const int month_days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int y, mo, d, h, mi, sec, frac = 0, ndigits = 0, oh, om;
  int64_t offset_s = 0, total_s;
  if (s == NULL || strlen(s) < 20) return -1;
  if (read_digits(s, 4, &y) || s[4] != '-' || read_digits(s + 5, 2, &mo) || s[7] != '-' ||
      read_digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') || read_digits(s + 11, 2, &h) ||
      s[13] != ':' || read_digits(s + 14, 2, &mi) || s[16] != ':' || read_digits(s + 17, 2, &sec))
    return -1;
  if (mo < 1 || mo > 12 || d < 1 || d > month_days[mo - 1] + (mo == 2 && leap_year(y)) || h > 23 ||
      mi > 59 || sec > 59)
    return -1;
  s += 19;
  if (*s == '.') {
    for (s++; *s >= '0' && *s <= '9'; s++, ndigits++) {
      if (ndigits < 3) frac = frac * 10 + (*s - '0');
    }
    if (ndigits == 0) return -1;
    for (; ndigits < 3; ndigits++) frac *= 10;
  }
  if ((s[0] == 'Z' || s[0] == 'z') && s[1] == '\0') {
    offset_s = 0;
  } else if ((s[0] == '+' || s[0] == '-') && read_digits(s + 1, 2, &oh) == 0 && s[3] == ':' &&
             read_digits(s + 4, 2, &om) == 0 && s[6] == '\0' && oh < 24 && om < 60) {
    offset_s = (int64_t)(oh * 3600 + om * 60) * (s[0] == '+' ? 1 : -1);
  } else {
    return -1;
  }
  total_s = days_since_epoch(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset_s;
  *ms = total_s * 1000 + frac;
  return 0;
}

/* Go's time.Duration limit in ms: Time.Sub saturates at about 292 years, so the API server's
 * age of a creation 300 years ago is "292y". */
#define MAX_DURATION_MS (INT64_MAX / 1000000)

/* now - then in ms as Go's time.Since gives it (then lies within years 0000..9999). */
static int64_t since(uint64_t now_ms, int64_t then_ms) {
  int64_t now = now_ms > (uint64_t)INT64_MAX / 2 ? INT64_MAX / 2 : (int64_t)now_ms, d;
  d = now - then_ms; /* |now| < 2^62 and |then| < 2^49: no overflow */
  if (d > MAX_DURATION_MS) return MAX_DURATION_MS;
  if (d < -MAX_DURATION_MS) return -MAX_DURATION_MS;
  return d;
}

void vr_kube_human_duration(int64_t ms, char *buf, size_t len) {
  int64_t seconds = ms / 1000, minutes, hours;
  if (buf == NULL || len == 0) return;
  /* Go: seconds := int(d.Seconds()), truncated toward zero as C's division is */
  if (seconds < -1) {
    snprintf(buf, len, "<invalid>");
    return;
  }
  if (seconds < 0) {
    snprintf(buf, len, "0s");
    return;
  }
  if (seconds < 60 * 2) {
    snprintf(buf, len, "%" PRId64 "s", seconds);
    return;
  }
  minutes = ms / 60000;
  if (minutes < 10) {
    if (seconds % 60 == 0)
      snprintf(buf, len, "%" PRId64 "m", minutes);
    else
      snprintf(buf, len, "%" PRId64 "m%" PRId64 "s", minutes, seconds % 60);
    return;
  }
  if (minutes < 60 * 3) {
    snprintf(buf, len, "%" PRId64 "m", minutes);
    return;
  }
  hours = ms / 3600000;
  if (hours < 8) {
    if (minutes % 60 == 0)
      snprintf(buf, len, "%" PRId64 "h", hours);
    else
      snprintf(buf, len, "%" PRId64 "h%" PRId64 "m", hours, minutes % 60);
  } else if (hours < 48) {
    snprintf(buf, len, "%" PRId64 "h", hours);
  } else if (hours < 24 * 8) {
    if (hours % 24 == 0)
      snprintf(buf, len, "%" PRId64 "d", hours / 24);
    else
      snprintf(buf, len, "%" PRId64 "d%" PRId64 "h", hours / 24, hours % 24);
  } else if (hours < 24 * 365 * 2) {
    snprintf(buf, len, "%" PRId64 "d", hours / 24);
  } else if (hours < 24 * 365 * 8) {
    if ((hours / 24) % 365 == 0)
      snprintf(buf, len, "%" PRId64 "y", hours / 24 / 365);
    else
      snprintf(buf, len, "%" PRId64 "y%" PRId64 "d", hours / 24 / 365, (hours / 24) % 365);
  } else {
    snprintf(buf, len, "%" PRId64 "y", hours / 24 / 365);
  }
}

/* translateTimestampSince: "<unknown>" for a zero (here: missing or unparsable) timestamp. */
static void age_of_time(const cJSON *ts, uint64_t now_ms, char *buf, size_t len) {
  int64_t t;
  if (buf == NULL || len == 0) return;
  if (parse_time(text(ts), &t) != 0 || t == ZERO_TIME_MS)
    snprintf(buf, len, "<unknown>");
  else
    vr_kube_human_duration(since(now_ms, t), buf, len);
}

void vr_kube_age(const cJSON *obj, uint64_t now_ms, char *buf, size_t len) {
  age_of_time(get2(obj, "metadata", "creationTimestamp"), now_ms, buf, len);
}

/* ============================================================================================
 * Building the answer (each returns 0, or -1 when out of memory with nothing left behind)
 * ============================================================================================ */

static int push(cJSON *array, cJSON *item) {
  if (item == NULL) return -1;
  if (!cJSON_AddItemToArray(array, item)) {
    cJSON_Delete(item);
    return -1;
  }
  return 0;
}

static int put(cJSON *obj, const char *key, cJSON *item) {
  if (item == NULL) return -1;
  if (!cJSON_AddItemToObject(obj, key, item)) {
    cJSON_Delete(item);
    return -1;
  }
  return 0;
}

/* A string cell, or a null cell for NULL. */
static int cell(cJSON *cells, const char *s) {
  return push(cells, s != NULL ? cJSON_CreateString(s) : cJSON_CreateNull());
}

/* A string cell: s, or dflt when s is NULL or empty. */
static int cell_or(cJSON *cells, const char *s, const char *dflt) {
  return cell(cells, s != NULL && s[0] != '\0' ? s : dflt);
}

/* The Name cell: metadata.name, "" when it has none. */
static int name_cell(cJSON *cells, const cJSON *obj) {
  const char *name = text(get2(obj, "metadata", "name"));
  return cell(cells, name != NULL ? name : "");
}

static int age_cell(cJSON *cells, const cJSON *obj, uint64_t now_ms) {
  char age[32];
  vr_kube_age(obj, now_ms, age, sizeof age);
  return cell(cells, age);
}

/* ============================================================================================
 * Column definitions
 * ============================================================================================ */

typedef struct {
  const char *name, *type, *format, *description;
  int priority;
} column_def;

#define NAME_COLUMN                                                                                \
  { "Name", "string", "name", "Name of the object (metadata.name).", 0 }
#define AGE_COLUMN                                                                                 \
  { "Age", "string", "", "Time since the object was created.", 0 }
/* the apiextensions table convertor's description of a CRD column without one */
#define CRD_COLUMN_DESC "Custom resource definition column (in JSONPath format): "
#define CRD_AGE_COLUMN                                                                             \
  { "Age", "date", "", CRD_COLUMN_DESC ".metadata.creationTimestamp", 0 }

static const column_def node_columns[] = {
    NAME_COLUMN,
    {"Status", "string", "", "The status of the node", 0},
    {"Roles", "string", "", "The roles of the node", 0},
    AGE_COLUMN,
    {"Version", "string", "", "Kubelet Version reported by the node.", 0},
    {"Internal-IP", "string", "", "The node's first InternalIP address (status.addresses).", 1},
    {"External-IP", "string", "", "The node's first ExternalIP address (status.addresses).", 1},
    {"OS-Image", "string", "", "OS Image reported by the node from /etc/os-release.", 1},
    {"Kernel-Version", "string", "", "Kernel Version reported by the node from 'uname -r'.", 1},
    {"Container-Runtime", "string", "", "Container runtime and version reported by the node.", 1},
};

static const column_def pod_columns[] = {
    NAME_COLUMN,
    {"Ready", "string", "", "The aggregate readiness state of this pod for accepting traffic.", 0},
    {"Status", "string", "", "The aggregate status of the containers in this pod.", 0},
    {"Restarts", "string", "",
     "The number of times the containers in this pod have been restarted and when the last "
     "container in this pod has restarted.",
     0},
    AGE_COLUMN,
    {"IP", "string", "", "The pod's first IP address (status.podIPs).", 1},
    {"Node", "string", "", "The node the pod is bound to (spec.nodeName).", 1},
    {"Nominated Node", "string", "",
     "The node the scheduler nominated for the pod (status.nominatedNodeName).", 1},
    {"Readiness Gates", "string", "",
     "Readiness gates whose condition is True, of all the pod's readiness gates.", 1},
};

static const column_def vm_columns[] = {
    NAME_COLUMN,
    CRD_AGE_COLUMN,
    {"Status", "string", "", "Human Readable Status", 0},
    {"Ready", "string", "", CRD_COLUMN_DESC ".status.conditions[?(@.type=='Ready')].status", 0},
};

static const column_def vmi_columns[] = {
    NAME_COLUMN,
    CRD_AGE_COLUMN,
    {"Phase", "string", "", CRD_COLUMN_DESC ".status.phase", 0},
    {"IP", "string", "", CRD_COLUMN_DESC ".status.interfaces[0].ipAddress", 0},
    {"NodeName", "string", "", CRD_COLUMN_DESC ".status.nodeName", 0},
    {"Ready", "string", "", CRD_COLUMN_DESC ".status.conditions[?(@.type=='Ready')].status", 0},
    {"Live-Migratable", "string", "",
     CRD_COLUMN_DESC ".status.conditions[?(@.type=='LiveMigratable')].status", 1},
    {"Paused", "string", "", CRD_COLUMN_DESC ".status.conditions[?(@.type=='Paused')].status", 1},
};

/* KubeVirt's VirtualMachineInstanceMigration CRD has no Age column */
static const column_def vmim_columns[] = {
    NAME_COLUMN,
    {"Phase", "string", "", "The current phase of VM instance migration", 0},
    {"VMI", "string", "", "The name of the VMI to perform the migration on", 0},
};

static const column_def default_columns[] = {NAME_COLUMN, AGE_COLUMN};
static const column_def default_crd_columns[] = {NAME_COLUMN, CRD_AGE_COLUMN};

/* ============================================================================================
 * Node (printNode)
 * ============================================================================================ */

#define NODE_ROLE_PREFIX "node-role.kubernetes.io/"
#define NODE_ROLE_LABEL  "kubernetes.io/role"

static int compare_strings(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* findNodeRoles: node-role.kubernetes.io/<role> label keys and non-empty kubernetes.io/role label
 * values, sorted, without duplicates, joined with ","; "<none>" when there are none. */
static int roles_cell(cJSON *cells, const cJSON *node) {
  const cJSON *labels = get2(node, "metadata", "labels"), *label;
  const size_t prefix_len = strlen(NODE_ROLE_PREFIX);
  const char **roles;
  size_t n = 0, i, total = 0;
  char *joined, *p;
  int rc;
  if (!cJSON_IsObject(labels)) return cell(cells, "<none>");
  for (label = labels->child; label != NULL; label = label->next) n++;
  if (n == 0) return cell(cells, "<none>");
  roles = cJSON_malloc(n * sizeof *roles);
  if (roles == NULL) return -1;
  n = 0;
  for (label = labels->child; label != NULL; label = label->next) {
    const char *key = label->string;
    if (key == NULL) continue;
    if (strncmp(key, NODE_ROLE_PREFIX, prefix_len) == 0 && key[prefix_len] != '\0')
      roles[n++] = key + prefix_len;
    else if (strcmp(key, NODE_ROLE_LABEL) == 0 && nonempty(label) != NULL)
      roles[n++] = label->valuestring;
  }
  if (n == 0) {
    cJSON_free(roles);
    return cell(cells, "<none>");
  }
  qsort(roles, n, sizeof *roles, compare_strings);
  for (i = 0; i < n; i++) total += strlen(roles[i]) + 1;
  joined = cJSON_malloc(total);
  if (joined == NULL) {
    cJSON_free(roles);
    return -1;
  }
  p = joined;
  for (i = 0; i < n; i++) {
    size_t len = strlen(roles[i]);
    if (i > 0 && strcmp(roles[i], roles[i - 1]) == 0) continue;
    if (p != joined) *p++ = ',';
    memcpy(p, roles[i], len);
    p += len;
  }
  *p = '\0';
  rc = cell(cells, joined);
  cJSON_free(joined);
  cJSON_free(roles);
  return rc;
}

/* The first address of the type; "<none>" when there is none. */
static const char *node_address(const cJSON *node, const char *type) {
  const cJSON *a, *addresses = get2(node, "status", "addresses");
  EACH(a, addresses) {
    if (eq(text(get(a, "type")), type)) {
      const char *address = text(get(a, "address"));
      return address != NULL ? address : "";
    }
  }
  return "<none>";
}

static int node_cells(const cJSON *node, uint64_t now_ms, cJSON *cells, cJSON *row) {
  const cJSON *c, *info = get2(node, "status", "nodeInfo");
  const char *ready = NULL, *version = text(get(info, "kubeletVersion"));
  char status[64];
  (void)row;
  /* the last Ready condition counts (printNode keeps the conditions in a map by type) */
  EACH(c, get2(node, "status", "conditions")) {
    if (eq(text(get(c, "type")), "Ready"))
      ready = eq(text(get(c, "status")), "True") ? "Ready" : "NotReady";
  }
  snprintf(status, sizeof status, "%s%s", ready != NULL ? ready : "Unknown",
           cJSON_IsTrue(get2(node, "spec", "unschedulable")) ? ",SchedulingDisabled" : "");
  if (name_cell(cells, node) || cell(cells, status) || roles_cell(cells, node) ||
      age_cell(cells, node, now_ms) || cell(cells, version != NULL ? version : "") ||
      cell(cells, node_address(node, "InternalIP")) ||
      cell(cells, node_address(node, "ExternalIP")) ||
      cell_or(cells, text(get(info, "osImage")), "<unknown>") ||
      cell_or(cells, text(get(info, "kernelVersion")), "<unknown>") ||
      cell_or(cells, text(get(info, "containerRuntimeVersion")), "<unknown>"))
    return -1;
  return 0;
}

/* ============================================================================================
 * Pod (printPod)
 * ============================================================================================ */

/* A container state: state.<which> when it is an object (a Go pointer that is set). */
static const cJSON *state_of(const cJSON *status, const char *which) {
  const cJSON *s = get2(status, "state", which);
  return cJSON_IsObject(s) ? s : NULL;
}

/* lastState.terminated.finishedAt, when later than *latest (have: whether *latest is set). */
static void note_restart(const cJSON *container, int *have, int64_t *latest) {
  const cJSON *terminated = get2(container, "lastState", "terminated");
  int64_t t;
  if (!cJSON_IsObject(terminated) || parse_time(text(get(terminated, "finishedAt")), &t) != 0 ||
      t == ZERO_TIME_MS)
    return;
  if (!*have || t > *latest) {
    *have = 1;
    *latest = t;
  }
}

/* Whether the pod has a condition of the type with status True: any of them (hasPodReadyCondition),
 * or the first of the type (first_only: isPodInitializedConditionTrue). */
static int has_condition(const cJSON *pod, const char *type, int first_only) {
  const cJSON *c;
  EACH(c, get2(pod, "status", "conditions")) {
    if (!eq(text(get(c, "type")), type)) continue;
    if (eq(text(get(c, "status")), "True")) return 1;
    if (first_only) return 0;
  }
  return 0;
}

/* podutil.IsRestartableInitContainer of the spec.initContainers entry named name (the last one
 * of that name, as printPod's map keeps it): restartPolicy Always, a sidecar. */
static int restartable_init(const cJSON *pod, const char *name) {
  const cJSON *c, *found = NULL;
  EACH(c, get2(pod, "spec", "initContainers")) {
    if (eq(text(get(c, "name")), name)) found = c;
  }
  return found != NULL && eq(text(get(found, "restartPolicy")), "Always");
}

/* "Signal:9" / "ExitCode:1" style reason of a terminated state without a reason. */
static void exit_reason(char *buf, size_t len, const char *prefix, const cJSON *terminated) {
  int64_t signal = int32_of(get(terminated, "signal"));
  if (signal != 0)
    snprintf(buf, len, "%sSignal:%" PRId64, prefix, signal);
  else
    snprintf(buf, len, "%sExitCode:%" PRId64, prefix, int32_of(get(terminated, "exitCode")));
}

static int pod_row_conditions(cJSON *row, const char *phase) {
  cJSON *conditions, *c;
  const char *message;
  if (eq(phase, "Succeeded"))
    message = "The pod has completed successfully.";
  else if (eq(phase, "Failed"))
    message = "The pod failed.";
  else
    return 0;
  conditions = cJSON_CreateArray();
  if (put(row, "conditions", conditions)) return -1;
  c = cJSON_CreateObject();
  if (push(conditions, c) || !cJSON_AddStringToObject(c, "type", "Completed") ||
      !cJSON_AddStringToObject(c, "status", "True") ||
      !cJSON_AddStringToObject(c, "reason", phase) ||
      !cJSON_AddStringToObject(c, "message", message))
    return -1;
  return 0;
}

/* The Status cell (reason, len bytes), the ready and total container counts and the Restarts
 * cell (restarts, rlen bytes) of printPod. */
static void pod_status(const cJSON *pod, uint64_t now_ms, char *reason, size_t len, int64_t *ready,
                       int64_t *total, char *restarts_cell, size_t rlen) {
  const cJSON *status = get(pod, "status"), *spec = get(pod, "spec"), *c;
  const char *phase = text(get(status, "phase")), *status_reason = nonempty(get(status, "reason"));
  const cJSON *deletion = get2(pod, "metadata", "deletionTimestamp");
  int64_t restarts = 0, sidecar_restarts = 0, index = 0, n_init = 0, last = 0, sidecar_last = 0;
  int have_last = 0, have_sidecar_last = 0, initializing = 0;
  *ready = 0;
  *total = 0;
  EACH(c, get(spec, "containers")) {
    (*total)++;
  }
  EACH(c, get(spec, "initContainers")) {
    n_init++;
    if (eq(text(get(c, "restartPolicy")), "Always")) (*total)++;
  }
  snprintf(reason, len, "%s", status_reason != NULL ? status_reason : phase != NULL ? phase : "");
  EACH(c, get(status, "conditions")) {
    if (eq(text(get(c, "type")), "PodScheduled") && eq(text(get(c, "reason")), "SchedulingGated"))
      snprintf(reason, len, "SchedulingGated");
  }

  /* init containers in order: the first one that is neither done nor a started sidecar gives
   * the status, and the pod is initializing */
  EACH(c, get(status, "initContainerStatuses")) {
    const cJSON *terminated = state_of(c, "terminated"), *waiting = state_of(c, "waiting");
    const char *waiting_reason = nonempty(get(waiting, "reason"));
    int sidecar = restartable_init(pod, text(get(c, "name")));
    restarts += int32_of(get(c, "restartCount"));
    note_restart(c, &have_last, &last);
    if (sidecar) {
      sidecar_restarts += int32_of(get(c, "restartCount"));
      note_restart(c, &have_sidecar_last, &sidecar_last);
    }
    if (terminated != NULL && int32_of(get(terminated, "exitCode")) == 0) {
      index++;
      continue;
    }
    if (sidecar && cJSON_IsTrue(get(c, "started"))) {
      if (cJSON_IsTrue(get(c, "ready"))) (*ready)++;
      index++;
      continue;
    }
    if (terminated != NULL) {
      if (nonempty(get(terminated, "reason")) != NULL)
        snprintf(reason, len, "Init:%s", text(get(terminated, "reason")));
      else
        exit_reason(reason, len, "Init:", terminated);
    } else if (waiting_reason != NULL && strcmp(waiting_reason, "PodInitializing") != 0) {
      snprintf(reason, len, "Init:%s", waiting_reason);
    } else {
      snprintf(reason, len, "Init:%" PRId64 "/%" PRId64, index, n_init);
    }
    initializing = 1;
    break;
  }

  /* printPod walks the containers last to first and each waiting or terminated one overwrites
   * the reason, so the first such container in order decides: the same walk, forwards */
  if (!initializing || has_condition(pod, "Initialized", 1)) {
    int has_running = 0, decided = 0;
    restarts = sidecar_restarts;
    have_last = have_sidecar_last;
    last = sidecar_last;
    EACH(c, get(status, "containerStatuses")) {
      const cJSON *terminated = state_of(c, "terminated"), *waiting = state_of(c, "waiting");
      restarts += int32_of(get(c, "restartCount"));
      note_restart(c, &have_last, &last);
      if (waiting != NULL && nonempty(get(waiting, "reason")) != NULL) {
        if (!decided) snprintf(reason, len, "%s", text(get(waiting, "reason")));
        decided = 1;
      } else if (terminated != NULL && nonempty(get(terminated, "reason")) != NULL) {
        if (!decided) snprintf(reason, len, "%s", text(get(terminated, "reason")));
        decided = 1;
      } else if (terminated != NULL) {
        if (!decided) exit_reason(reason, len, "", terminated);
        decided = 1;
      } else if (cJSON_IsTrue(get(c, "ready")) && state_of(c, "running") != NULL) {
        has_running = 1;
        (*ready)++;
      }
    }
    if (strcmp(reason, "Completed") == 0 && has_running)
      snprintf(reason, len, "%s", has_condition(pod, "Ready", 0) ? "Running" : "NotReady");
  }

  if (deletion != NULL && !cJSON_IsNull(deletion)) {
    if (eq(status_reason, "NodeLost"))
      snprintf(reason, len, "Unknown");
    else if (!eq(phase, "Succeeded") && !eq(phase, "Failed"))
      snprintf(reason, len, "Terminating");
  }

  if (restarts != 0 && have_last) {
    char ago[32];
    vr_kube_human_duration(since(now_ms, last), ago, sizeof ago);
    snprintf(restarts_cell, rlen, "%" PRId64 " (%s ago)", restarts, ago);
  } else {
    snprintf(restarts_cell, rlen, "%" PRId64, restarts);
  }
}

/* "<true>/<all>" of spec.readinessGates (a gate's condition is the first of its type), "<none>"
 * without gates. */
static void readiness_gates(const cJSON *pod, char *buf, size_t len) {
  const cJSON *gate, *c;
  int64_t all = 0, passed = 0;
  EACH(gate, get2(pod, "spec", "readinessGates")) {
    const char *type = text(get(gate, "conditionType"));
    all++;
    EACH(c, get2(pod, "status", "conditions")) {
      if (eq(text(get(c, "type")), type != NULL ? type : "")) {
        if (eq(text(get(c, "status")), "True")) passed++;
        break;
      }
    }
  }
  if (all == 0)
    snprintf(buf, len, "<none>");
  else
    snprintf(buf, len, "%" PRId64 "/%" PRId64, passed, all);
}

/* status.podIPs[0].ip; status.podIP when podIPs is empty (the v1 to internal conversion). */
static const char *pod_ip(const cJSON *pod) {
  const cJSON *ips = get2(pod, "status", "podIPs");
  if (cJSON_IsArray(ips) && ips->child != NULL) return text(get(ips->child, "ip"));
  return text(get2(pod, "status", "podIP"));
}

static int pod_cells(const cJSON *pod, uint64_t now_ms, cJSON *cells, cJSON *row) {
  char reason[512], ready[48], restarts[64], gates[48];
  int64_t n_ready, n_total;
  pod_status(pod, now_ms, reason, sizeof reason, &n_ready, &n_total, restarts, sizeof restarts);
  snprintf(ready, sizeof ready, "%" PRId64 "/%" PRId64, n_ready, n_total);
  readiness_gates(pod, gates, sizeof gates);
  if (name_cell(cells, pod) || cell(cells, ready) || cell(cells, reason) || cell(cells, restarts) ||
      age_cell(cells, pod, now_ms) || cell_or(cells, pod_ip(pod), "<none>") ||
      cell_or(cells, text(get2(pod, "spec", "nodeName")), "<none>") ||
      cell_or(cells, text(get2(pod, "status", "nominatedNodeName")), "<none>") ||
      cell(cells, gates))
    return -1;
  return pod_row_conditions(row, text(get2(pod, "status", "phase")));
}

/* ============================================================================================
 * Custom resources (the apiextensions table convertor over KubeVirt's printer columns)
 * ============================================================================================ */

/* A "date" column (cellForJSONValue): null when the value is missing or not a string; the age
 * of the timestamp; "<unknown>" for Go's zero time ("" and "null" parse as that); "<invalid>" for
 * any other string that does not parse. */
static int date_cell(cJSON *cells, const cJSON *ts, uint64_t now_ms) {
  char age[32];
  int64_t t;
  if (!cJSON_IsString(ts) || ts->valuestring == NULL) return cell(cells, NULL);
  if (ts->valuestring[0] == '\0' || strcmp(ts->valuestring, "null") == 0)
    return cell(cells, "<unknown>");
  if (parse_time(ts->valuestring, &t) != 0) return cell(cells, "<invalid>");
  if (t == ZERO_TIME_MS) return cell(cells, "<unknown>");
  vr_kube_human_duration(since(now_ms, t), age, sizeof age);
  return cell(cells, age);
}

/* A JSON number as Go's fmt prints what an unstructured object holds: int64 for integral values,
 * float64 (%v: shortest digits, exponent below 1e-4 and from 1e6) for the rest. */
static void format_number(double d, char *buf, size_t len) {
  char tmp[40];
  int digits, exponent;
  if (d >= -9.2e18 && d <= 9.2e18 && (double)(int64_t)d == d) {
    snprintf(buf, len, "%" PRId64, (int64_t)d);
    return;
  }
  if (isnan(d) || isinf(d)) { /* not JSON, but a cJSON number can hold them */
    snprintf(buf, len, "%s", isnan(d) ? "NaN" : d > 0 ? "+Inf" : "-Inf");
    return;
  }
  for (digits = 1; digits < 17; digits++) {
    snprintf(tmp, sizeof tmp, "%.*e", digits - 1, d);
    if (strtod(tmp, NULL) == d) break;
  }
  snprintf(tmp, sizeof tmp, "%.*e", digits - 1, d);
  exponent = atoi(strchr(tmp, 'e') + 1);
  if (exponent < -4 || exponent >= 6)
    snprintf(buf, len, "%s", tmp);
  else
    snprintf(buf, len, "%.*g", digits, d);
}

/* A "string" column: the value as jsonpath prints it; null when missing or null. Objects and
 * arrays print as compact JSON in their own member order (Go's encoder would sort map keys). */
static int string_cell(cJSON *cells, const cJSON *v) {
  char num[64];
  char *printed;
  int rc;
  if (v == NULL || cJSON_IsNull(v) || cJSON_IsInvalid(v)) return cell(cells, NULL);
  if (cJSON_IsString(v)) return cell(cells, v->valuestring != NULL ? v->valuestring : "");
  if (cJSON_IsBool(v)) return cell(cells, cJSON_IsTrue(v) ? "true" : "false");
  if (cJSON_IsNumber(v)) {
    format_number(v->valuedouble, num, sizeof num);
    return cell(cells, num);
  }
  if (cJSON_IsRaw(v)) return cell(cells, v->valuestring != NULL ? v->valuestring : "");
  printed = cJSON_PrintUnformatted(v);
  if (printed == NULL) return -1;
  rc = cell(cells, printed);
  cJSON_free(printed);
  return rc;
}

/* .status.conditions[?(@.type=='<type>')].status: the status of the first condition of that
 * type that has one; NULL when there is none or conditions is not an array. */
static const cJSON *condition_status(const cJSON *obj, const char *type) {
  const cJSON *c;
  EACH(c, get2(obj, "status", "conditions")) {
    if (eq(text(get(c, "type")), type) && get(c, "status") != NULL) return get(c, "status");
  }
  return NULL;
}

static int vm_cells(const cJSON *vm, uint64_t now_ms, cJSON *cells, cJSON *row) {
  (void)row;
  if (name_cell(cells, vm) || date_cell(cells, get2(vm, "metadata", "creationTimestamp"), now_ms) ||
      string_cell(cells, get2(vm, "status", "printableStatus")) ||
      string_cell(cells, condition_status(vm, "Ready")))
    return -1;
  return 0;
}

static int vmi_cells(const cJSON *vmi, uint64_t now_ms, cJSON *cells, cJSON *row) {
  const cJSON *interfaces = get2(vmi, "status", "interfaces");
  const cJSON *first = cJSON_IsArray(interfaces) ? interfaces->child : NULL;
  (void)row;
  if (name_cell(cells, vmi) ||
      date_cell(cells, get2(vmi, "metadata", "creationTimestamp"), now_ms) ||
      string_cell(cells, get2(vmi, "status", "phase")) ||
      string_cell(cells, get(first, "ipAddress")) ||
      string_cell(cells, get2(vmi, "status", "nodeName")) ||
      string_cell(cells, condition_status(vmi, "Ready")) ||
      string_cell(cells, condition_status(vmi, "LiveMigratable")) ||
      string_cell(cells, condition_status(vmi, "Paused")))
    return -1;
  return 0;
}

static int vmim_cells(const cJSON *vmim, uint64_t now_ms, cJSON *cells, cJSON *row) {
  (void)now_ms;
  (void)row;
  if (name_cell(cells, vmim) || string_cell(cells, get2(vmim, "status", "phase")) ||
      string_cell(cells, get2(vmim, "spec", "vmiName")))
    return -1;
  return 0;
}

static int default_cells(const cJSON *obj, uint64_t now_ms, cJSON *cells, cJSON *row) {
  (void)row;
  return name_cell(cells, obj) || age_cell(cells, obj, now_ms) ? -1 : 0;
}

static int default_crd_cells(const cJSON *obj, uint64_t now_ms, cJSON *cells, cJSON *row) {
  (void)row;
  if (name_cell(cells, obj) || date_cell(cells, get2(obj, "metadata", "creationTimestamp"), now_ms))
    return -1;
  return 0;
}

/* ============================================================================================
 * The Table
 * ============================================================================================ */

typedef int (*cells_fn)(const cJSON *obj, uint64_t now_ms, cJSON *cells, cJSON *row);

typedef struct {
  const char *group, *kind;
  const column_def *columns;
  size_t ncolumns;
  cells_fn cells;
} printer;

#define PRINTER(group, kind, columns, fn)                                                          \
  { group, kind, columns, sizeof(columns) / sizeof((columns)[0]), fn }

static const printer printers[] = {
    PRINTER("", "Node", node_columns, node_cells),
    PRINTER("", "Pod", pod_columns, pod_cells),
    PRINTER("kubevirt.io", "VirtualMachine", vm_columns, vm_cells),
    PRINTER("kubevirt.io", "VirtualMachineInstance", vmi_columns, vmi_cells),
    PRINTER("kubevirt.io", "VirtualMachineInstanceMigration", vmim_columns, vmim_cells),
};

static const printer default_printer = PRINTER("", "", default_columns, default_cells);
static const printer default_crd_printer = PRINTER("", "", default_crd_columns, default_crd_cells);

/* Kubernetes' own API groups: the core group, the dotless ones (apps, batch, policy, ...) and
 * *.k8s.io. Any other group is served by a CustomResourceDefinition, whose default printer column
 * is an Age of type date. */
static int builtin_group(const char *group) {
  size_t n = strlen(group);
  return strchr(group, '.') == NULL || strcmp(group, "k8s.io") == 0 ||
         (n > 7 && strcmp(group + n - 7, ".k8s.io") == 0);
}

static const printer *printer_for(const char *group, const char *kind) {
  size_t i;
  if (group == NULL) group = "";
  for (i = 0; kind != NULL && i < sizeof printers / sizeof printers[0]; i++) {
    if (strcmp(printers[i].group, group) == 0 && strcmp(printers[i].kind, kind) == 0)
      return &printers[i];
  }
  return builtin_group(group) ? &default_printer : &default_crd_printer;
}

static int add_columns(cJSON *table, const printer *p) {
  cJSON *columns = cJSON_CreateArray(), *c;
  size_t i;
  if (put(table, "columnDefinitions", columns)) return -1;
  for (i = 0; i < p->ncolumns; i++) {
    const column_def *d = &p->columns[i];
    c = cJSON_CreateObject();
    if (push(columns, c) || !cJSON_AddStringToObject(c, "name", d->name) ||
        !cJSON_AddStringToObject(c, "type", d->type) ||
        !cJSON_AddStringToObject(c, "format", d->format) ||
        !cJSON_AddStringToObject(c, "description", d->description) ||
        !cJSON_AddNumberToObject(c, "priority", d->priority))
      return -1;
  }
  return 0;
}

/* The row's object: a PartialObjectMetadata with a copy of the object's metadata, without
 * managedFields ({} when the object has no metadata object). */
static int add_row_object(cJSON *row, const cJSON *obj) {
  const cJSON *metadata = get(obj, "metadata");
  cJSON *partial = cJSON_CreateObject(), *copy;
  if (put(row, "object", partial) ||
      !cJSON_AddStringToObject(partial, "kind", "PartialObjectMetadata") ||
      !cJSON_AddStringToObject(partial, "apiVersion", "meta.k8s.io/v1"))
    return -1;
  copy = cJSON_IsObject(metadata) ? cJSON_Duplicate(metadata, 1) : cJSON_CreateObject();
  if (put(partial, "metadata", copy)) return -1;
  cJSON_DeleteItemFromObjectCaseSensitive(copy, "managedFields");
  return 0;
}

static int add_row(cJSON *rows, const printer *p, const cJSON *obj, uint64_t now_ms) {
  cJSON *row = cJSON_CreateObject(), *cells;
  if (push(rows, row)) return -1;
  cells = cJSON_CreateArray();
  if (put(row, "cells", cells) || p->cells(obj, now_ms, cells, row)) return -1;
  return add_row_object(row, obj);
}

cJSON *vr_kube_table(const char *group, const char *kind, const cJSON *const *items, size_t n,
                     uint64_t now_ms, const char *list_rv, const char *continue_token) {
  const printer *p = printer_for(group, kind);
  cJSON *table = cJSON_CreateObject(), *metadata, *rows;
  size_t i;
  if (table == NULL) return NULL;
  if (!cJSON_AddStringToObject(table, "kind", "Table") ||
      !cJSON_AddStringToObject(table, "apiVersion", "meta.k8s.io/v1"))
    goto fail;
  metadata = cJSON_CreateObject();
  if (put(table, "metadata", metadata) ||
      (list_rv != NULL && !cJSON_AddStringToObject(metadata, "resourceVersion", list_rv)) ||
      (continue_token != NULL && !cJSON_AddStringToObject(metadata, "continue", continue_token)) ||
      add_columns(table, p))
    goto fail;
  rows = cJSON_CreateArray();
  if (put(table, "rows", rows)) goto fail;
  for (i = 0; items != NULL && i < n; i++) {
    if (add_row(rows, p, items[i], now_ms)) goto fail;
  }
  return table;
fail:
  cJSON_Delete(table);
  return NULL;
}
