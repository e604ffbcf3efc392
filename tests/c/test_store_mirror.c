/* test_store_mirror.c: the store in mirror mode (a copy of an API server's objects fed by LIST
 * and WATCH): puts of new, newer, same and older versions (numeric and opaque resourceVersions),
 * objects kept as sent (uid, resourceVersion, timestamps, finalizers), removes with and without
 * the deletion's resourceVersion and late removes, the node, reference and unfinished indexes and
 * node request sums through moves, finishes and removes, local revisions (list_changed and kind
 * revisions) while the server's arrive out of order across kinds, watches resuming on local
 * revisions with version_at, the simulator's writes refused, and a custom kind made
 * cluster-scoped as discovery finds it. (The store tests have no
 * allocation-failure hook: no out-of-memory walk here.) */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "store.h"

static cJSON *parse(const char *json) {
  cJSON *obj = cJSON_Parse(json);
  if (obj == NULL) fprintf(stderr, "bad test JSON: %s\n", json);
  return obj;
}

static const char *meta(const cJSON *obj, const char *field) {
  const cJSON *v =
      cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), field);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static vr_store *mirror_store(size_t event_log) {
  vr_store *s = vr_store_new(1, event_log);
  vr_store_set_mirror(s);
  return s;
}

/* A Pod as a server sends it: rv NULL leaves metadata.resourceVersion out, node NULL unbound. */
static cJSON *pod(const char *ns, const char *name, const char *rv, const char *node,
                  const char *phase) {
  char buf[700];
  snprintf(buf, sizeof buf,
           "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\","
           "\"namespace\":\"%s\",\"uid\":\"uid-%s\"%s%s%s},\"spec\":{%s%s%s\"containers\":[{"
           "\"resources\":{\"requests\":{\"cpu\":\"500m\",\"memory\":\"1Gi\"}}}]},"
           "\"status\":{\"phase\":\"%s\"}}",
           name, ns, name, rv ? ",\"resourceVersion\":\"" : "", rv ? rv : "", rv ? "\"" : "",
           node ? "\"nodeName\":\"" : "", node ? node : "", node ? "\"," : "", phase);
  return parse(buf);
}

static cJSON *node(const char *name, const char *rv) {
  char buf[300];
  snprintf(buf, sizeof buf,
           "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"%s\","
           "\"resourceVersion\":\"%s\"}}",
           name, rv);
  return parse(buf);
}

typedef struct recorder {
  char log[4096];
} recorder;

/* "TYPE name local-revision server-resourceVersion;" */
static void record(void *ctx, vr_watch_type type, const cJSON *obj, uint64_t rv) {
  recorder *r = ctx;
  static const char *const names[] = {"ADDED", "MODIFIED", "DELETED"};
  const char *server = meta(obj, "resourceVersion");
  size_t n = strlen(r->log);
  snprintf(r->log + n, sizeof r->log - n, "%s %s %llu %s;", names[type], meta(obj, "name"),
           (unsigned long long)rv, server ? server : "-");
}

/* Puts: new and newer apply (ADDED, MODIFIED), the same or an older resourceVersion is skipped,
 * resourceVersions that are not numbers apply unless equal; objects are stored as sent. */
static void test_put(void) {
  vr_store *s = mirror_store(0);
  vr_store_error err;
  recorder r;
  const cJSON *stored, *first;
  memset(&r, 0, sizeof r);
  CHECK(vr_store_watch_start(s, "", "Pod", NULL, 0, record, &r, &err) != NULL);
  CHECK(vr_store_mirror_put(s, pod("prod", "p1", "100", NULL, "Pending"), &stored, &err) == 1);
  CHECK(err.status == 0);
  CHECK_STR(meta(stored, "resourceVersion"), "100"); /* kept, not stamped */
  CHECK_STR(meta(stored, "uid"), "uid-p1");
  CHECK(meta(stored, "creationTimestamp") == NULL);
  CHECK(vr_store_revision(s) == 1); /* the local revision */
  first = stored;
  CHECK(vr_store_get(s, "", "Pod", "prod", "p1") == first);
  /* newer */
  CHECK(vr_store_mirror_put(s, pod("prod", "p1", "105", NULL, "Running"), &stored, &err) == 1);
  CHECK(stored != first && vr_store_get(s, "", "Pod", "prod", "p1") == stored);
  CHECK_STR(meta(stored, "resourceVersion"), "105");
  CHECK(vr_store_revision(s) == 2);
  first = stored;
  /* the same version (a write's answer, then the watch) and an older one: skipped */
  CHECK(vr_store_mirror_put(s, pod("prod", "p1", "105", "n9", "Running"), &stored, &err) == 0);
  CHECK(stored == first);
  CHECK(vr_store_mirror_put(s, pod("prod", "p1", "103", "n9", "Running"), &stored, &err) == 0);
  CHECK(stored == first && vr_store_revision(s) == 2);
  CHECK(vr_store_mirror_put(s, pod("prod", "p1", "99", "n9", "Running"), NULL, &err) == 0);
  CHECK(vr_store_revision(s) == 2);
  /* numbers compare as numbers, not as strings ("1000" > "105") */
  CHECK(vr_store_mirror_put(s, pod("prod", "p1", "1000", NULL, "Running"), NULL, &err) == 1);
  CHECK(vr_store_revision(s) == 3);
  /* not numbers: only equality skips */
  CHECK(vr_store_mirror_put(s, pod("prod", "p1", "abc", NULL, "Running"), &stored, &err) == 1);
  CHECK_STR(meta(stored, "resourceVersion"), "abc");
  CHECK(vr_store_mirror_put(s, pod("prod", "p1", "abc", NULL, "Running"), NULL, &err) == 0);
  CHECK(vr_store_mirror_put(s, pod("prod", "p1", "12", NULL, "Running"), NULL, &err) == 1);
  CHECK(vr_store_mirror_put(s, pod("prod", "p1", "12a", NULL, "Running"), NULL, &err) == 1);
  CHECK(vr_store_mirror_put(s, pod("prod", "p1", "11", NULL, "Running"), NULL, &err) == 1);
  CHECK(vr_store_mirror_put(s, pod("prod", "p1", "99999999999999999999", NULL, "Running"), NULL,
                            &err) == 1); /* too big for a number: opaque */
  CHECK(vr_store_mirror_put(s, pod("prod", "p1", "5", NULL, "Running"), NULL, &err) == 1);
  CHECK(vr_store_mirror_put(s, pod("prod", "p1", "", NULL, "Running"), NULL, &err) == 1);
  CHECK(vr_store_mirror_put(s, pod("prod", "p1", "", NULL, "Running"), NULL, &err) == 0);
  /* without a resourceVersion it always applies */
  CHECK(vr_store_mirror_put(s, pod("prod", "p1", NULL, NULL, "Running"), &stored, &err) == 1);
  CHECK(meta(stored, "resourceVersion") == NULL);
  CHECK(vr_store_mirror_put(s, pod("prod", "p1", NULL, NULL, "Running"), NULL, &err) == 1);
  CHECK(vr_store_mirror_put(s, pod("prod", "p1", "4", NULL, "Running"), NULL, &err) == 1);
  CHECK(vr_store_revision(s) == 13);
  CHECK_STR(r.log, "ADDED p1 1 100;MODIFIED p1 2 105;MODIFIED p1 3 1000;MODIFIED p1 4 abc;"
                   "MODIFIED p1 5 12;MODIFIED p1 6 12a;MODIFIED p1 7 11;"
                   "MODIFIED p1 8 99999999999999999999;MODIFIED p1 9 5;MODIFIED p1 10 ;"
                   "MODIFIED p1 11 -;MODIFIED p1 12 -;MODIFIED p1 13 4;");

  /* stored as sent: finalizers and a deletionTimestamp stay, and nothing is generated */
  CHECK(vr_store_mirror_put(s,
                            parse("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{"
                                  "\"name\":\"held\",\"resourceVersion\":\"7\",\"finalizers\":["
                                  "\"example.com/x\"],\"deletionTimestamp\":"
                                  "\"2025-11-25T17:20:00Z\",\"creationTimestamp\":"
                                  "\"2025-11-24T00:00:00Z\"}}"),
                            &stored, &err) == 1);
  CHECK_STR(meta(stored, "namespace"), "default"); /* identity rules as in vr_store_create */
  CHECK_STR(meta(stored, "deletionTimestamp"), "2025-11-25T17:20:00Z");
  CHECK_STR(meta(stored, "creationTimestamp"), "2025-11-24T00:00:00Z");
  CHECK(meta(stored, "uid") == NULL);
  CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(stored, "metadata"), "finalizers")) == 1);
  /* cluster-scoped kinds: no namespace, read with or without one */
  CHECK(vr_store_mirror_put(s,
                            parse("{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{"
                                  "\"name\":\"w1\",\"namespace\":\"default\","
                                  "\"resourceVersion\":\"3\"}}"),
                            &stored, &err) == 1);
  CHECK(meta(stored, "namespace") == NULL);
  CHECK(vr_store_get(s, "", "Node", NULL, "w1") == stored);
  CHECK(vr_store_get(s, "", "Node", "prod", "w1") == stored);
  CHECK(vr_store_mirror_put(s, node("w1", "3"), NULL, &err) == 0);
  CHECK(vr_store_revision(s) == 15);

  /* invalid objects: 422, nothing changes */
  CHECK(vr_store_mirror_put(s, parse("{\"kind\":\"Pod\",\"metadata\":{\"name\":\"x\"}}"), NULL,
                            &err) == -1);
  CHECK(err.status == 422);
  CHECK_STR(err.reason, "Invalid");
  CHECK_STR(err.message, "apiVersion is missing");
  CHECK(vr_store_mirror_put(s, parse("{\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"x\"}}"), NULL,
                            &err) == -1);
  CHECK_STR(err.message, "kind is missing");
  CHECK(vr_store_mirror_put(s,
                            parse("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{"
                                  "\"generateName\":\"web-\"}}"),
                            &stored, &err) == -1);
  CHECK(err.status == 422);
  CHECK_STR(err.message, "Pod: metadata.name is missing");
  CHECK(vr_store_mirror_put(s, parse("{\"apiVersion\":\"v1\",\"kind\":\"Pod\"}"), NULL, &err) ==
        -1);
  CHECK_STR(err.message, "Pod: metadata is missing");
  CHECK(vr_store_mirror_put(s, parse("[1]"), NULL, &err) == -1);
  CHECK(err.status == 422);
  CHECK(vr_store_mirror_put(s, NULL, NULL, &err) == -1);
  CHECK(err.status == 422);
  CHECK(vr_store_revision(s) == 15);
  vr_store_free(s);
}

/* Removes: a DELETED event with the stored copy (its resourceVersion the deletion's when given);
 * absent objects and late removes change nothing. */
static void test_remove(void) {
  vr_store *s = mirror_store(0);
  vr_store_error err;
  recorder r;
  const cJSON *then = NULL;
  memset(&r, 0, sizeof r);
  CHECK(vr_store_watch_start(s, "", "Pod", NULL, 0, record, &r, &err) != NULL);
  CHECK(vr_store_watch_start(s, "", "Node", NULL, 0, record, &r, &err) != NULL);
  CHECK(vr_store_mirror_put(s, pod("prod", "a", "10", "n1", "Running"), NULL, &err) == 1);
  CHECK(vr_store_mirror_put(s, pod("prod", "b", "11", "n1", "Running"), NULL, &err) == 1);
  CHECK(vr_store_mirror_put(s, node("w1", "12"), NULL, &err) == 1);
  CHECK(vr_store_mirror_put(s, pod("prod", "c", "abc", NULL, "Running"), NULL, &err) == 1);
  CHECK(vr_store_mirror_remove(s, "", "Pod", "prod", "a", NULL) == 1); /* rev 5 */
  CHECK(vr_store_get(s, "", "Pod", "prod", "a") == NULL);
  CHECK(vr_store_mirror_remove(s, "", "Pod", "prod", "a", NULL) == 0); /* absent */
  CHECK(vr_store_mirror_remove(s, "", "Pod", "prod", "a", "50") == 0);
  CHECK(vr_store_mirror_remove(s, "", "Pod", "dev", "b", "50") == 0);     /* another namespace */
  CHECK(vr_store_mirror_remove(s, "", "Secret", "prod", "b", NULL) == 0); /* a kind never seen */
  CHECK(vr_store_revision(s) == 5);
  /* a late remove (the mirror has a newer version since) leaves it */
  CHECK(vr_store_mirror_remove(s, "", "Pod", "prod", "b", "9") == 0);
  CHECK(vr_store_get(s, "", "Pod", "prod", "b") != NULL);
  CHECK(vr_store_revision(s) == 5);
  CHECK(vr_store_mirror_remove(s, "", "Pod", "prod", "b", "20") == 1); /* rev 6 */
  CHECK(vr_store_mirror_remove(s, "", "Node", NULL, "w1", "21") == 1); /* rev 7 */
  CHECK(vr_store_mirror_remove(s, "", "Pod", "prod", "c", "1") == 1);  /* opaque: applies */
  CHECK_STR(r.log, "ADDED a 1 10;ADDED b 2 11;ADDED w1 3 12;ADDED c 4 abc;DELETED a 5 10;"
                   "DELETED b 6 20;DELETED w1 7 21;DELETED c 8 1;");
  /* the event's copy carries the deletion's resourceVersion; what readers saw before keeps its */
  CHECK(vr_store_version_at(s, "", "Pod", "prod", "b", 5, &then) == 1 && then != NULL);
  CHECK_STR(meta(then, "resourceVersion"), "11");
  CHECK(vr_store_version_at(s, "", "Pod", "prod", "b", 6, &then) == 0);
  /* removed and put again: ADDED */
  CHECK(vr_store_mirror_put(s, pod("prod", "a", "30", NULL, "Running"), NULL, &err) == 1);
  CHECK_CONTAINS(r.log, "ADDED a 9 30;");
  vr_store_free(s);
}

typedef struct node_sum {
  char node[32];
  int64_t cpu, memory, pods;
} node_sum;

static int collect_sum(void *ctx, const char *node_name, int64_t cpu, int64_t memory,
                       int64_t pods) {
  node_sum *sums = ctx;
  int i = 0;
  while (sums[i].node[0] != '\0') i++;
  snprintf(sums[i].node, sizeof sums[i].node, "%s", node_name);
  sums[i].cpu = cpu, sums[i].memory = memory, sums[i].pods = pods;
  return 0;
}

static const node_sum *sum_of(const node_sum *sums, const char *node_name) {
  for (int i = 0; sums[i].node[0] != '\0'; i++)
    if (strcmp(sums[i].node, node_name) == 0) return &sums[i];
  return NULL;
}

static size_t count_on(vr_store *s, const char *group, const char *kind, const char *node_name) {
  const cJSON **items;
  size_t n = vr_store_list(s, group, kind, NULL, node_name, &items);
  free((void *)items);
  return n;
}

static cJSON *vmi(const char *name, const char *rv, const char *node_name) {
  char buf[400];
  snprintf(buf, sizeof buf,
           "{\"apiVersion\":\"kubevirt.io/v1\",\"kind\":\"VirtualMachineInstance\",\"metadata\":"
           "{\"name\":\"%s\",\"namespace\":\"prod\",\"uid\":\"vmi-%s\",\"resourceVersion\":"
           "\"%s\"},\"status\":{\"nodeName\":\"%s\"}}",
           name, name, rv, node_name);
  return parse(buf);
}

static cJSON *launcher(const char *name, const char *rv, const char *vmi_uid, const char *node_name,
                       const char *phase) {
  cJSON *p = pod("prod", name, rv, node_name, phase);
  cJSON *labels =
      cJSON_AddObjectToObject(cJSON_GetObjectItemCaseSensitive(p, "metadata"), "labels");
  cJSON_AddStringToObject(labels, "kubevirt.io/created-by", vmi_uid);
  return p;
}

static cJSON *vmim(const char *name, const char *rv, const char *vmi_name, const char *phase) {
  char buf[400];
  snprintf(buf, sizeof buf,
           "{\"apiVersion\":\"kubevirt.io/v1\",\"kind\":\"VirtualMachineInstanceMigration\","
           "\"metadata\":{\"name\":\"%s\",\"namespace\":\"prod\",\"resourceVersion\":\"%s\"},"
           "\"spec\":{\"vmiName\":\"%s\"},\"status\":{\"phase\":\"%s\"}}",
           name, rv, vmi_name, phase);
  return parse(buf);
}

/* The indexes and node sums follow mirror puts and removes: pods and VMIs moving between nodes,
 * a pod finishing, a VMIM finishing, and removes. */
static void test_indexes(void) {
  vr_store *s = mirror_store(0);
  vr_store_error err;
  const cJSON **items;
  node_sum sums[8];
  uint64_t read_at;
  size_t n;
#define SUMS(after, whole)                                                                         \
  do {                                                                                             \
    memset(sums, 0, sizeof sums);                                                                  \
    CHECK(vr_store_requests_by_node(s, after, collect_sum, sums) == whole);                        \
  } while (0)
  CHECK(vr_store_mirror_put(s, vmi("vm1", "1000", "n1"), NULL, &err) == 1);
  CHECK(vr_store_mirror_put(s, launcher("virt-launcher-vm1-a", "1001", "vmi-vm1", "n1", "Running"),
                            NULL, &err) == 1);
  CHECK(vr_store_mirror_put(s, pod("prod", "web", "1002", "n1", "Running"), NULL, &err) == 1);
  CHECK(vr_store_mirror_put(s, pod("prod", "db", "1003", "n2", "Pending"), NULL, &err) == 1);
  CHECK(vr_store_mirror_put(s, vmim("mig-1", "1004", "vm1", "Running"), NULL, &err) == 1);
  CHECK(vr_store_mirror_put(s, vmim("mig-0", "900", "vm1", "Succeeded"), NULL, &err) == 1);
  CHECK(count_on(s, "", "Pod", "n1") == 2 && count_on(s, "", "Pod", "n2") == 1);
  CHECK(count_on(s, "kubevirt.io", "VirtualMachineInstance", "n1") == 1);
  SUMS(0, 1);
  CHECK(sum_of(sums, "n1") && sum_of(sums, "n1")->pods == 2 && sum_of(sums, "n1")->cpu == 1000 &&
        sum_of(sums, "n1")->memory == 2LL << 30);
  CHECK(sum_of(sums, "n2") && sum_of(sums, "n2")->pods == 1);
  n = vr_store_list_ref(s, "", "Pod", "prod", "vmi-vm1", &items);
  CHECK(n == 1 && strcmp(meta(items[0], "name"), "virt-launcher-vm1-a") == 0);
  free((void *)items);
  n = vr_store_list_ref(s, "kubevirt.io", "VirtualMachineInstanceMigration", "prod", "vm1", &items);
  CHECK(n == 2 && strcmp(meta(items[0], "name"), "mig-0") == 0);
  free((void *)items);
  n = vr_store_list_unfinished(s, "kubevirt.io", "VirtualMachineInstanceMigration", NULL, &items);
  CHECK(n == 1 && strcmp(meta(items[0], "name"), "mig-1") == 0);
  free((void *)items);
  read_at = vr_store_revision(s);
  SUMS(read_at, 0);
  CHECK(sums[0].node[0] == '\0');

  /* the migration: the VMI moves to n2, a second launcher starts there, the first finishes, the
   * VMIM succeeds; a stale VMI event (an older resourceVersion) does not move it back */
  CHECK(vr_store_mirror_put(s, vmi("vm1", "1010", "n2"), NULL, &err) == 1);
  CHECK(vr_store_mirror_put(s, vmi("vm1", "1005", "n1"), NULL, &err) == 0);
  CHECK(vr_store_mirror_put(s, launcher("virt-launcher-vm1-b", "1011", "vmi-vm1", "n2", "Running"),
                            NULL, &err) == 1);
  CHECK(vr_store_mirror_put(s,
                            launcher("virt-launcher-vm1-a", "1012", "vmi-vm1", "n1", "Succeeded"),
                            NULL, &err) == 1);
  CHECK(vr_store_mirror_put(s, vmim("mig-1", "1013", "vm1", "Succeeded"), NULL, &err) == 1);
  CHECK(count_on(s, "kubevirt.io", "VirtualMachineInstance", "n1") == 0);
  CHECK(count_on(s, "kubevirt.io", "VirtualMachineInstance", "n2") == 1);
  n = vr_store_list_ref(s, "", "Pod", "prod", "vmi-vm1", &items);
  CHECK(n == 2);
  free((void *)items);
  n = vr_store_list_unfinished(s, "kubevirt.io", "VirtualMachineInstanceMigration", NULL, &items);
  CHECK(n == 0);
  free((void *)items);
  /* a pod rescheduled (spec.nodeName changes, as a test may): the node index follows */
  CHECK(vr_store_mirror_put(s, pod("prod", "web", "1014", "n3", "Running"), NULL, &err) == 1);
  CHECK(count_on(s, "", "Pod", "n1") == 1); /* the finished launcher stays listed on n1 */
  CHECK(count_on(s, "", "Pod", "n3") == 1);
  SUMS(0, 1);
  CHECK(sum_of(sums, "n1") == NULL); /* no live pods left there */
  CHECK(sum_of(sums, "n2") && sum_of(sums, "n2")->pods == 2 && sum_of(sums, "n2")->cpu == 1000);
  CHECK(sum_of(sums, "n3") && sum_of(sums, "n3")->pods == 1);
  SUMS(read_at, 0); /* since read_at: all three changed, n1 down to nothing */
  CHECK(sum_of(sums, "n1") && sum_of(sums, "n1")->pods == 0 && sum_of(sums, "n1")->cpu == 0);
  CHECK(sum_of(sums, "n2") && sum_of(sums, "n2")->pods == 2);
  CHECK(sum_of(sums, "n3") && sum_of(sums, "n3")->pods == 1);

  /* removes leave every index */
  read_at = vr_store_revision(s);
  CHECK(vr_store_mirror_remove(s, "", "Pod", "prod", "db", "1020") == 1);
  CHECK(vr_store_mirror_remove(s, "", "Pod", "prod", "virt-launcher-vm1-a", NULL) == 1);
  CHECK(vr_store_mirror_remove(s, "kubevirt.io", "VirtualMachineInstanceMigration", "prod", "mig-0",
                               "1021") == 1);
  CHECK(vr_store_mirror_remove(s, "kubevirt.io", "VirtualMachineInstance", "prod", "vm1", "1022") ==
        1);
  CHECK(count_on(s, "", "Pod", "n1") == 0 && count_on(s, "", "Pod", "n2") == 1);
  CHECK(count_on(s, "kubevirt.io", "VirtualMachineInstance", "n2") == 0);
  n = vr_store_list_ref(s, "", "Pod", "prod", "vmi-vm1", &items);
  CHECK(n == 1 && strcmp(meta(items[0], "name"), "virt-launcher-vm1-b") == 0);
  free((void *)items);
  n = vr_store_list_ref(s, "kubevirt.io", "VirtualMachineInstanceMigration", "prod", "vm1", &items);
  CHECK(n == 1 && strcmp(meta(items[0], "name"), "mig-1") == 0);
  free((void *)items);
  SUMS(read_at, 0); /* db went from n2 (the finished launcher counted nowhere) */
  CHECK(sum_of(sums, "n2") && sum_of(sums, "n2")->pods == 1 && sum_of(sums, "n1") == NULL);
  /* a VMIM put back unfinished (as a test may) is in the index again, and its remove leaves it */
  CHECK(vr_store_mirror_put(s, vmim("mig-1", "1030", "vm1", "Scheduling"), NULL, &err) == 1);
  n = vr_store_list_unfinished(s, "kubevirt.io", "VirtualMachineInstanceMigration", "prod", &items);
  CHECK(n == 1);
  free((void *)items);
  CHECK(vr_store_mirror_remove(s, "kubevirt.io", "VirtualMachineInstanceMigration", "prod", "mig-1",
                               NULL) == 1);
  n = vr_store_list_unfinished(s, "kubevirt.io", "VirtualMachineInstanceMigration", NULL, &items);
  CHECK(n == 0);
  free((void *)items);
#undef SUMS
  vr_store_free(s);
}

/* The server's resourceVersions come out of order across kinds (one watch per kind); the local
 * revision orders what the mirror applied, for list_changed and the kind revisions. */
static void test_local_revisions(void) {
  vr_store *s = mirror_store(0);
  vr_store_error err;
  const cJSON **items;
  size_t n, total = 0;
  uint64_t read_at, nodes_rv;
  CHECK(vr_store_kind_revision(s, "", "Node") == 0);
  CHECK(vr_store_mirror_put(s, node("w2", "500"), NULL, &err) == 1); /* rev 1 */
  CHECK(vr_store_mirror_put(s, node("w1", "501"), NULL, &err) == 1); /* rev 2 */
  CHECK(vr_store_kind_revision(s, "", "Node") == 2);
  CHECK(vr_store_kind_revision(s, "", "Pod") == 0);
  read_at = vr_store_revision(s);
  /* the pods' stream is behind: their server versions are older than the nodes' */
  CHECK(vr_store_mirror_put(s, pod("prod", "p2", "300", NULL, "Running"), NULL, &err) == 1);
  CHECK(vr_store_mirror_put(s, pod("prod", "p1", "301", NULL, "Running"), NULL, &err) == 1);
  CHECK(vr_store_mirror_put(s, pod("dev", "p3", "302", NULL, "Running"), NULL, &err) == 1);
  CHECK(vr_store_revision(s) == 5);
  CHECK(vr_store_kind_revision(s, "", "Pod") == 5 && vr_store_kind_revision(s, "", "Node") == 2);
  n = vr_store_list_changed(s, "", "Pod", NULL, read_at, &items, &total);
  CHECK(n == 3 && total == 3); /* all written after read_at, whatever their server versions */
  CHECK(n == 3 && strcmp(meta(items[0], "name"), "p3") == 0 &&
        strcmp(meta(items[1], "name"), "p1") == 0 && strcmp(meta(items[2], "name"), "p2") == 0);
  free((void *)items);
  n = vr_store_list_changed(s, "", "Pod", "prod", read_at, &items, &total);
  CHECK(n == 2 && total == 2);
  free((void *)items);
  n = vr_store_list_changed(s, "", "Node", NULL, read_at, &items, &total);
  CHECK(n == 0 && total == 2);
  free((void *)items);
  read_at = vr_store_revision(s);
  /* a node changes (server 502), then a pod (server 303); a skipped put changes nothing */
  CHECK(vr_store_mirror_put(s, node("w2", "502"), NULL, &err) == 1); /* rev 6 */
  nodes_rv = vr_store_revision(s);
  CHECK(vr_store_mirror_put(s, pod("prod", "p1", "303", "n1", "Running"), NULL, &err) == 1);
  CHECK(vr_store_mirror_put(s, pod("prod", "p2", "300", "n1", "Running"), NULL, &err) == 0);
  CHECK(vr_store_mirror_remove(s, "", "Pod", "dev", "p3", "304") == 1); /* rev 8 */
  n = vr_store_list_changed(s, "", "Node", NULL, read_at, &items, &total);
  CHECK(n == 1 && total == 2 && strcmp(meta(items[0], "name"), "w2") == 0);
  free((void *)items);
  n = vr_store_list_changed(s, "", "Pod", NULL, read_at, &items, &total);
  CHECK(n == 1 && total == 2 && strcmp(meta(items[0], "name"), "p1") == 0);
  free((void *)items);
  n = vr_store_list_changed(s, "", "Pod", NULL, 0, &items, &total); /* 0: every one */
  CHECK(n == 2 && total == 2);
  free((void *)items);
  CHECK(vr_store_kind_revision(s, "", "Node") == nodes_rv);
  CHECK(vr_store_kind_revision(s, "", "Pod") == 8 && vr_store_revision(s) == 8);
  vr_store_free(s);
}

/* Watches on a mirror store: events with local revisions, resumed from a local revision (410 when
 * it left the log), and the versions a resuming watch saw. */
static void test_watch_resume(void) {
  vr_store *s = mirror_store(4);
  vr_store_error err;
  recorder live, resumed, late;
  vr_store_watch *w;
  const cJSON *then = NULL;
  memset(&live, 0, sizeof live);
  memset(&resumed, 0, sizeof resumed);
  memset(&late, 0, sizeof late);
  CHECK(vr_store_watch_start(s, "", "Pod", "prod", 0, record, &live, &err) != NULL);
  CHECK(vr_store_mirror_put(s, pod("prod", "a", "900", NULL, "Pending"), NULL, &err) == 1); /* 1 */
  CHECK(vr_store_mirror_put(s, node("w1", "950"), NULL, &err) == 1);                        /* 2 */
  CHECK(vr_store_mirror_put(s, pod("prod", "a", "901", "n1", "Running"), NULL, &err) == 1); /* 3 */
  CHECK(vr_store_mirror_put(s, pod("dev", "b", "902", NULL, "Running"), NULL, &err) == 1);  /* 4 */
  CHECK(vr_store_mirror_remove(s, "", "Pod", "prod", "a", "903") == 1);                     /* 5 */
  CHECK_STR(live.log, "ADDED a 1 900;MODIFIED a 3 901;DELETED a 5 903;");
  w = vr_store_watch_start(s, "", "Pod", NULL, 2, record, &resumed, &err);
  CHECK(w != NULL);
  CHECK_STR(resumed.log, "MODIFIED a 3 901;ADDED b 4 902;DELETED a 5 903;");
  vr_store_watch_stop(s, w);
  /* the log keeps 4 events: revisions 2 to 5 let a watch resume from 1; once 6 is in, no more */
  CHECK(vr_store_watch_start(s, "", "Pod", NULL, 1, record, &late, &err) != NULL);
  CHECK_STR(late.log, "MODIFIED a 3 901;ADDED b 4 902;DELETED a 5 903;");
  CHECK(vr_store_mirror_put(s, pod("dev", "c", "904", NULL, "Running"), NULL, &err) == 1); /* 6 */
  CHECK(vr_store_watch_start(s, "", "Pod", NULL, 1, record, &late, &err) == NULL);
  CHECK(err.status == 410);
  CHECK_STR(err.reason, "Expired");
  /* what a client saw at a local revision */
  CHECK(vr_store_version_at(s, "", "Pod", "prod", "a", 3, &then) == 1 && then != NULL);
  CHECK_STR(meta(then, "resourceVersion"), "901");
  CHECK(vr_store_version_at(s, "", "Pod", "dev", "b", 3, &then) == 1 && then == NULL);
  CHECK(vr_store_version_at(s, "", "Pod", "dev", "b", 4, &then) == 0);
  vr_store_free(s);
}

/* The simulator's writes on a mirror store, and the mirror's on a simulator store, are refused
 * with 500 (no crash, the object freed); loading a cluster file goes through create. */
static void test_refused(void) {
  static const char yaml[] = "apiVersion: v1\nkind: Node\nmetadata: {name: w1}\n";
  vr_store *s = mirror_store(0), *plain = vr_store_new(1, 0);
  vr_store_error err;
  const cJSON *stored = NULL;
  CHECK(vr_store_mirror_put(s, node("w1", "5"), NULL, &err) == 1);
  CHECK(vr_store_create(s, node("w2", "6"), &stored, &err) == -1);
  CHECK(err.status == 500);
  CHECK_STR(err.reason, "InternalError");
  CHECK_CONTAINS(err.message, "vr_store_create on a mirror store");
  CHECK(vr_store_replace(s, node("w1", "6"), 0, NULL, &err) == -1);
  CHECK(err.status == 500);
  CHECK_CONTAINS(err.message, "vr_store_replace on a mirror store");
  CHECK(vr_store_replace(s, NULL, 1, NULL, &err) == -1 && err.status == 500);
  CHECK(vr_store_delete(s, "", "Node", NULL, "w1", &err) == -1);
  CHECK(err.status == 500);
  CHECK_CONTAINS(err.message, "vr_store_delete on a mirror store");
  CHECK(vr_store_load_yaml(s, yaml, sizeof yaml - 1, "c.yaml", NULL, NULL, &err) == -1);
  CHECK(err.status == 500);
  CHECK(vr_store_revision(s) == 1);
  CHECK_STR(meta(vr_store_get(s, "", "Node", NULL, "w1"), "resourceVersion"), "5");
  CHECK(vr_store_mirror_put(plain, node("w1", "5"), NULL, &err) == -1);
  CHECK(err.status == 500);
  CHECK_CONTAINS(err.message, "not in mirror mode");
  CHECK(vr_store_create(plain, node("w1", "5"), NULL, &err) == 0);
  CHECK(vr_store_mirror_remove(plain, "", "Node", NULL, "w1", NULL) == -1);
  CHECK(vr_store_get(plain, "", "Node", NULL, "w1") != NULL && vr_store_revision(plain) == 1);
  vr_store_free(s);
  vr_store_free(plain);
}

/* A kind the store does not know, found cluster-scoped by discovery: kept without a namespace. */
static void test_cluster_scoped_custom_kind(void) {
  vr_store *s = vr_store_new(1, 0);
  vr_store_error err;
  const cJSON *got;
  vr_store_set_mirror(s);
  CHECK(vr_store_set_cluster_scoped(s, "example.com", "Widget") == 0);
  CHECK(vr_store_mirror_put(
            s,
            parse("{\"apiVersion\":\"example.com/v1\",\"kind\":\"Widget\",\"metadata\":"
                  "{\"name\":\"w1\",\"resourceVersion\":\"5\"}}"),
            NULL, &err) == 1);
  got = vr_store_get(s, "example.com", "Widget", NULL, "w1");
  CHECK(got != NULL);
  CHECK(got != NULL && meta(got, "namespace") == NULL);
  CHECK(vr_store_get(s, "example.com", "Widget", "default", "w1") == got);
  CHECK(vr_store_mirror_remove(s, "example.com", "Widget", NULL, "w1", "6") == 1);
  CHECK(vr_store_get(s, "example.com", "Widget", NULL, "w1") == NULL);
  vr_store_free(s);
}

int main(void) {
  test_cluster_scoped_custom_kind();
  test_put();
  test_remove();
  test_indexes();
  test_local_revisions();
  test_watch_resume();
  test_refused();
  return CHECK_DONE();
}
