/* drain_filter.c: kubectl drain's pod filter chain and its summaries (see drain_filter.h;
 * reference kubevirt-migration.md §4.1-§4.2). Pure functions over cJSON pods; it allocates
 * nothing, touches no store and never calls Lua. */
#include "drain_filter.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* kubectl's texts ([KCTL] pkg/drain/filters.go) */
#define DAEMONSET_FATAL     "DaemonSet-managed Pods (use --ignore-daemonsets to ignore)"
#define DAEMONSET_WARNING   "ignoring DaemonSet-managed Pods"
#define LOCAL_STORAGE_FATAL "Pods with local storage (use --delete-emptydir-data to override)"
#define UNMANAGED_FATAL     "cannot delete Pods that declare no controller (use --force to override)"
#define UNMANAGED_WARNING   "deleting Pods that declare no controller"
#define MIRROR_ANNOTATION   "kubernetes.io/config.mirror"

static const cJSON *field(const cJSON *obj, const char *a, const char *b) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, a);
  return b ? cJSON_GetObjectItemCaseSensitive(v, b) : v;
}

static const char *text(const cJSON *v) {
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int terminal(const cJSON *pod) {
  const char *phase = text(field(pod, "status", "phase"));
  return phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0);
}

/* metav1.GetControllerOf: the ownerReference with controller: true, or NULL. */
static const cJSON *controller_of(const cJSON *pod) {
  const cJSON *ref;
  cJSON_ArrayForEach(ref, field(pod, "metadata", "ownerReferences")) {
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ref, "controller"))) return ref;
  }
  return NULL;
}

static vr_drain_decision say(char *message, size_t len, vr_drain_decision d, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static vr_drain_decision say(char *message, size_t len, vr_drain_decision d, const char *fmt, ...) {
  va_list ap;
  if (message != NULL && len > 0) {
    va_start(ap, fmt);
    vsnprintf(message, len, fmt, ap);
    va_end(ap);
  }
  return d;
}

int vr_k8s_time_ms(const char *s, int64_t *ms) {
  struct tm tm;
  int n = 0, frac_ms = 0, digits = 0;
  int64_t secs, offset = 0;
  memset(&tm, 0, sizeof tm);
  if (s == NULL ||
      sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
             &tm.tm_min, &tm.tm_sec, &n) != 6 ||
      n != 19)
    return -1;
  s += n;
  if (*s == '.') {
    for (s++; *s >= '0' && *s <= '9'; s++, digits++) {
      if (digits < 3) frac_ms = frac_ms * 10 + (*s - '0');
    }
    if (digits == 0) return -1;
    for (; digits < 3; digits++) frac_ms *= 10;
  }
  if (*s == '+' || *s == '-') {
    int hh, mm;
    if (sscanf(s + 1, "%2d:%2d", &hh, &mm) != 2 || strlen(s) != 6) return -1;
    offset = (int64_t)(hh * 3600 + mm * 60) * (*s == '+' ? 1 : -1);
  } else if (strcmp(s, "Z") != 0 && strcmp(s, "z") != 0) {
    return -1;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  secs = (int64_t)timegm(&tm) - offset;
  *ms = secs * 1000 + frac_ms;
  return 0;
}

/* skipDeletedFilter's test (shouldSkipPod): deleting for more than the timeout, in whole
 * seconds truncated as Go's int(duration.Seconds()). */
static int deleted_long_ago(const cJSON *pod, const vr_drain_options *o) {
  int64_t deleted;
  if (o->skip_wait_for_delete_timeout_s <= 0) return 0;
  if (vr_k8s_time_ms(text(field(pod, "metadata", "deletionTimestamp")), &deleted) != 0) return 0;
  return ((int64_t)o->now_ms - deleted) / 1000 > o->skip_wait_for_delete_timeout_s;
}

static int has_emptydir(const cJSON *pod) {
  const cJSON *v;
  cJSON_ArrayForEach(v, field(pod, "spec", "volumes")) {
    if (cJSON_GetObjectItemCaseSensitive(v, "emptyDir") != NULL) return 1;
  }
  return 0;
}

vr_drain_decision vr_drain_filter(const cJSON *pod, const vr_drain_options *o, char *message,
                                  size_t len) {
  const cJSON *owner = controller_of(pod);
  const char *owner_kind = owner ? text(cJSON_GetObjectItemCaseSensitive(owner, "kind")) : NULL;
  if (message != NULL && len > 0) message[0] = '\0';
  /* 1. skipDeletedFilter */
  if (deleted_long_ago(pod, o)) return VR_DRAIN_SKIP;
  /* vmrun's own rule (kubectl has none): a finished pod runs nothing and holds nothing */
  if (o->keep_finished && terminal(pod))
    return say(message, len, VR_DRAIN_SKIP, "finished (%s)", text(field(pod, "status", "phase")));
  /* 2. daemonSetFilter: a live DaemonSet pod is fatal unless ignored; an orphan goes with force */
  if (owner_kind && strcmp(owner_kind, "DaemonSet") == 0 && !terminal(pod)) {
    const char *ds = text(cJSON_GetObjectItemCaseSensitive(owner, "name"));
    const char *ns = text(field(pod, "metadata", "namespace"));
    if (ds == NULL) ds = "";
    if (ns == NULL) ns = "default";
    if (o->daemonset_exists == NULL || !o->daemonset_exists(o->ctx, ns, ds)) {
      if (!o->force)
        return say(message, len, VR_DRAIN_ERROR, "daemonsets.apps \"%s\" not found", ds);
      /* an orphan with --force: deleted with a warning that the later filters drop */
    } else if (!o->ignore_daemonsets) {
      return say(message, len, VR_DRAIN_ERROR, "%s", DAEMONSET_FATAL);
    } else {
      return say(message, len, VR_DRAIN_SKIP_WARN, "%s", DAEMONSET_WARNING);
    }
  }
  /* 3. mirrorPodFilter */
  if (cJSON_GetObjectItemCaseSensitive(field(pod, "metadata", "annotations"), MIRROR_ANNOTATION))
    return say(message, len, VR_DRAIN_SKIP, "%s", "");
  /* 4. localStorageFilter (its warning is dropped by the next filter, as in kubectl) */
  if (has_emptydir(pod) && !terminal(pod)) {
    if (!o->delete_emptydir_data)
      return say(message, len, VR_DRAIN_ERROR, "%s", LOCAL_STORAGE_FATAL);
    /* with the flag: "deleting Pods with local storage", which the next filter drops */
  }
  /* 5. unreplicatedFilter: the last filter; its status is the pod's */
  if (terminal(pod) || owner != NULL) return say(message, len, VR_DRAIN_DELETE, "%s", "");
  if (o->force) return say(message, len, VR_DRAIN_DELETE_WARN, "%s", UNMANAGED_WARNING);
  return say(message, len, VR_DRAIN_ERROR, "%s", UNMANAGED_FATAL);
}

int vr_drain_deletes(vr_drain_decision d) {
  return d == VR_DRAIN_DELETE || d == VR_DRAIN_DELETE_WARN;
}

/* --- summaries -------------------------------------------------------------------------------- */

typedef struct out {
  char *buf;
  size_t len, used; /* used may pass len: the length needed */
} out;

static void put(out *o, const char *s) {
  size_t n = strlen(s);
  if (o->used < o->len) {
    size_t room = o->len - o->used - 1;
    memcpy(o->buf + o->used, s, n < room ? n : room);
    o->buf[o->used + (n < room ? n : room)] = '\0';
  }
  o->used += n;
}

static int selected(const vr_drain_entry *e, int errors) {
  if (errors) return e->decision == VR_DRAIN_ERROR;
  return e->decision == VR_DRAIN_DELETE_WARN || e->decision == VR_DRAIN_SKIP_WARN;
}

static const char *message_of(const vr_drain_entry *e, int errors) {
  if (e->message != NULL && e->message[0] != '\0') return e->message;
  return errors ? "unexpected error" : "";
}

/* Groups the selected entries by message, in the order first seen. */
static size_t summarize(const vr_drain_entry *entries, size_t n, int errors, char *buf,
                        size_t len) {
  out o = {buf, len, 0};
  size_t i, j, groups = 0;
  if (len > 0) buf[0] = '\0';
  for (i = 0; i < n; i++) {
    const char *msg;
    int seen = 0;
    if (!selected(&entries[i], errors)) continue;
    msg = message_of(&entries[i], errors);
    for (j = 0; j < i && !seen; j++) {
      seen = selected(&entries[j], errors) && strcmp(message_of(&entries[j], errors), msg) == 0;
    }
    if (seen) continue;
    groups++;
  }
  if (errors && groups > 1) put(&o, "[");
  groups = 0;
  for (i = 0; i < n; i++) {
    const char *msg;
    int seen = 0, first = 1;
    if (!selected(&entries[i], errors)) continue;
    msg = message_of(&entries[i], errors);
    for (j = 0; j < i && !seen; j++) {
      seen = selected(&entries[j], errors) && strcmp(message_of(&entries[j], errors), msg) == 0;
    }
    if (seen) continue;
    if (groups++ > 0) put(&o, errors ? ", " : "; ");
    if (errors) put(&o, "cannot delete ");
    put(&o, msg);
    put(&o, ": ");
    for (j = i; j < n; j++) {
      if (!selected(&entries[j], errors) || strcmp(message_of(&entries[j], errors), msg) != 0)
        continue;
      if (!first) put(&o, ", ");
      first = 0;
      put(&o, entries[j].ns ? entries[j].ns : "");
      put(&o, "/");
      put(&o, entries[j].name ? entries[j].name : "");
    }
  }
  if (errors && groups > 1) put(&o, "]");
  return o.used;
}

size_t vr_drain_errors(const vr_drain_entry *entries, size_t n, char *buf, size_t len) {
  return summarize(entries, n, 1, buf, len);
}

size_t vr_drain_warnings(const vr_drain_entry *entries, size_t n, char *buf, size_t len) {
  return summarize(entries, n, 0, buf, len);
}
