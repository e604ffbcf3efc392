/* test_store.c: the simulator's object store: identity and validation, resourceVersions, uids
 * and generated names per seed, the node index following spec.nodeName / status.nodeName,
 * the reference index (launcher pods by VMI uid, VMIMs by VMI name), finalizers holding a delete,
 * optimistic concurrency, deletion, watches with resume and 410 Expired, interned member names,
 * and loading cluster files (multi-document and kind: List) with errors naming file and line. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "json_pool.h"
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

static cJSON *pod(const char *ns, const char *name, const char *node) {
  char buf[512];
  snprintf(buf, sizeof buf,
           "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\"%s%s%s},"
           "\"spec\":{%s%s%s}}",
           name, ns ? ",\"namespace\":\"" : "", ns ? ns : "", ns ? "\"" : "",
           node ? "\"nodeName\":\"" : "", node ? node : "", node ? "\"" : "");
  return parse(buf);
}

typedef struct recorder {
  char log[4096];
} recorder;

static void record(void *ctx, vr_watch_type type, const cJSON *obj, uint64_t rv) {
  recorder *r = ctx;
  static const char *const names[] = {"ADDED", "MODIFIED", "DELETED"};
  size_t n = strlen(r->log);
  snprintf(r->log + n, sizeof r->log - n, "%s %s %llu;", names[type], meta(obj, "name"),
           (unsigned long long)rv);
}

static uint64_t fixed_clock(void *ctx) {
  (void)ctx;
  return 1764091200000ull; /* 2025-11-25T17:20:00Z */
}

static void test_create_get_list(void) {
  vr_store *s = vr_store_new(1, 0);
  vr_store_error err;
  const cJSON *stored, **items;
  size_t n;
  vr_store_set_clock(s, fixed_clock, NULL);
  CHECK(vr_store_create(s, pod(NULL, "web-b", "node1"), &stored, &err) == 0);
  CHECK_STR(meta(stored, "namespace"), "default");
  CHECK_STR(meta(stored, "resourceVersion"), "1");
  CHECK_STR(meta(stored, "creationTimestamp"), "2025-11-25T17:20:00Z");
  CHECK(strlen(meta(stored, "uid")) == 36 && meta(stored, "uid")[14] == '4');
  CHECK(vr_store_create(s, pod("default", "web-a", "node2"), NULL, &err) == 0);
  CHECK(vr_store_create(s, pod("kube-system", "dns", "node1"), NULL, &err) == 0);
  CHECK(vr_store_revision(s) == 3);
  CHECK(vr_store_get(s, "", "Pod", "default", "web-a") != NULL);
  CHECK(vr_store_get(s, "", "Pod", "kube-system", "web-a") == NULL);
  n = vr_store_list(s, "", "Pod", NULL, NULL, &items);
  CHECK(n == 3);
  CHECK_STR(meta(items[0], "name"), "web-a"); /* sorted by namespace, then name */
  CHECK_STR(meta(items[1], "name"), "web-b");
  CHECK_STR(meta(items[2], "name"), "dns");
  free(items);
  n = vr_store_list(s, "", "Pod", NULL, "node1", &items);
  CHECK(n == 2);
  free(items);
  n = vr_store_list(s, "", "Pod", "default", "node1", &items);
  CHECK(n == 1 && strcmp(meta(items[0], "name"), "web-b") == 0);
  free(items);
  n = vr_store_list(s, "", "Node", NULL, NULL, &items);
  CHECK(n == 0);
  free(items);

  /* errors */
  CHECK(vr_store_create(s, pod("default", "web-a", NULL), NULL, &err) == -1);
  CHECK(err.status == 409);
  CHECK_STR(err.reason, "AlreadyExists");
  CHECK_STR(err.message, "Pod \"web-a\" already exists in namespace default");
  CHECK(vr_store_create(s, pod(NULL, "Bad_Name", NULL), NULL, &err) == -1);
  CHECK(err.status == 422);
  CHECK_CONTAINS(err.message, "metadata.name 'Bad_Name' is not a valid name");
  CHECK(vr_store_create(s, parse("{\"kind\":\"Pod\",\"metadata\":{\"name\":\"x\"}}"), NULL, &err) ==
        -1);
  CHECK_STR(err.message, "apiVersion is missing");
  CHECK(vr_store_create(s, parse("[1,2]"), NULL, &err) == -1);
  CHECK(err.status == 422);
  CHECK(vr_store_create(s, parse("{\"apiVersion\":\"v1\",\"kind\":\"Pod\"}"), NULL, &err) == -1);
  CHECK_STR(err.message, "Pod: metadata is missing");
  CHECK(vr_store_revision(s) == 3); /* failed writes do not bump the revision */
  vr_store_free(s);
}

static void test_scope_and_generate_name(void) {
  vr_store *a = vr_store_new(42, 0), *b = vr_store_new(42, 0);
  vr_store_error err;
  const cJSON *x, *y;
  CHECK(vr_store_create(a,
                        parse("{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{"
                              "\"name\":\"node1\",\"namespace\":\"default\"}}"),
                        &x, &err) == 0);
  CHECK(meta(x, "namespace") == NULL); /* cluster-scoped */
  CHECK(vr_store_get(a, "", "Node", NULL, "node1") == x);
  CHECK(vr_store_get(a, "", "Node", "whatever", "node1") == x);
  CHECK(vr_store_create(b,
                        parse("{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{"
                              "\"name\":\"node1\"}}"),
                        &y, &err) == 0);
  CHECK_STR(meta(x, "uid"), meta(y, "uid")); /* same seed, same uids */
  CHECK(vr_store_create(a,
                        parse("{\"apiVersion\":\"kubevirt.io/v1\",\"kind\":"
                              "\"VirtualMachineInstanceMigration\",\"metadata\":{"
                              "\"generateName\":\"evacuation-\"}}"),
                        &x, &err) == 0);
  CHECK(strncmp(meta(x, "name"), "evacuation-", 11) == 0 && strlen(meta(x, "name")) == 16);
  CHECK(vr_kind_cluster_scoped("migrations.kubevirt.io", "MigrationPolicy"));
  CHECK(!vr_kind_cluster_scoped("kubevirt.io", "VirtualMachine"));
  {
    char group[64];
    vr_api_group("kubevirt.io/v1", group, sizeof group);
    CHECK_STR(group, "kubevirt.io");
    vr_api_group("v1", group, sizeof group);
    CHECK_STR(group, "");
  }
  vr_store_free(a);
  vr_store_free(b);
}

static void test_replace_and_index(void) {
  vr_store *s = vr_store_new(1, 0);
  vr_store_error err;
  const cJSON *stored, **items;
  cJSON *copy;
  size_t n;
  char uid[64];
  CHECK(vr_store_create(s,
                        parse("{\"apiVersion\":\"kubevirt.io/v1\",\"kind\":"
                              "\"VirtualMachineInstance\",\"metadata\":{\"name\":\"vm1\","
                              "\"namespace\":\"prod\"},\"status\":{\"nodeName\":\"n1\"}}"),
                        &stored, &err) == 0);
  snprintf(uid, sizeof uid, "%s", meta(stored, "uid"));
  n = vr_store_list(s, "kubevirt.io", "VirtualMachineInstance", NULL, "n1", &items);
  CHECK(n == 1);
  free(items);
  /* migrate: status.nodeName changes, the index follows */
  copy = cJSON_Duplicate(stored, 1);
  cJSON_ReplaceItemInObject(cJSON_GetObjectItem(copy, "status"), "nodeName",
                            cJSON_CreateString("n2"));
  cJSON_DeleteItemFromObject(cJSON_GetObjectItem(copy, "metadata"), "uid");
  CHECK(vr_store_replace(s, copy, 1, &stored, &err) == 0);
  CHECK_STR(meta(stored, "uid"), uid);
  CHECK_STR(meta(stored, "resourceVersion"), "2");
  n = vr_store_list(s, "kubevirt.io", "VirtualMachineInstance", NULL, "n1", &items);
  CHECK(n == 0);
  free(items);
  n = vr_store_list(s, "kubevirt.io", "VirtualMachineInstance", NULL, "n2", &items);
  CHECK(n == 1);
  free(items);
  /* a stale resourceVersion is a conflict */
  copy = cJSON_Duplicate(stored, 1);
  cJSON_ReplaceItemInObject(cJSON_GetObjectItem(copy, "metadata"), "resourceVersion",
                            cJSON_CreateString("1"));
  CHECK(vr_store_replace(s, copy, 1, NULL, &err) == -1);
  CHECK(err.status == 409);
  CHECK_STR(err.reason, "Conflict");
  CHECK(vr_store_revision(s) == 2);
  /* replacing something that does not exist */
  CHECK(vr_store_replace(s, pod("prod", "nope", NULL), 0, NULL, &err) == -1);
  CHECK(err.status == 404);
  /* delete */
  CHECK(vr_store_delete(s, "kubevirt.io", "VirtualMachineInstance", "prod", "vm1", &err) == 0);
  CHECK(vr_store_revision(s) == 3);
  CHECK(vr_store_get(s, "kubevirt.io", "VirtualMachineInstance", "prod", "vm1") == NULL);
  n = vr_store_list(s, "kubevirt.io", "VirtualMachineInstance", NULL, "n2", &items);
  CHECK(n == 0);
  free(items);
  CHECK(vr_store_delete(s, "kubevirt.io", "VirtualMachineInstance", "prod", "vm1", &err) == -1);
  CHECK(err.status == 404);
  CHECK_STR(err.message, "VirtualMachineInstance \"vm1\" not found");
  vr_store_free(s);
}

static void test_watch(void) {
  vr_store *s = vr_store_new(1, 4);
  vr_store_error err;
  recorder all, prod, resumed, late;
  vr_store_watch *w_all, *w_prod, *w;
  memset(&all, 0, sizeof all);
  memset(&prod, 0, sizeof prod);
  memset(&resumed, 0, sizeof resumed);
  memset(&late, 0, sizeof late);
  w_all = vr_store_watch_start(s, "", "Pod", NULL, 0, record, &all, &err);
  w_prod = vr_store_watch_start(s, "", "Pod", "prod", 0, record, &prod, &err);
  CHECK(w_all && w_prod);
  CHECK(vr_store_create(s, pod("prod", "a", NULL), NULL, &err) == 0);     /* rv 1 */
  CHECK(vr_store_create(s, pod("dev", "b", NULL), NULL, &err) == 0);      /* rv 2 */
  CHECK(vr_store_replace(s, pod("prod", "a", "n1"), 0, NULL, &err) == 0); /* rv 3 */
  CHECK(vr_store_delete(s, "", "Pod", "dev", "b", &err) == 0);            /* rv 4 */
  CHECK_STR(all.log, "ADDED a 1;ADDED b 2;MODIFIED a 3;DELETED b 4;");
  CHECK_STR(prod.log, "ADDED a 1;MODIFIED a 3;");
  /* resume after rv 2: the retained events after it are replayed */
  w = vr_store_watch_start(s, "", "Pod", NULL, 2, record, &resumed, &err);
  CHECK(w != NULL);
  CHECK_STR(resumed.log, "MODIFIED a 3;DELETED b 4;");
  vr_store_watch_stop(s, w);
  /* the log keeps 4 events: after two more writes, resuming from rv 1 is too old */
  CHECK(vr_store_create(s, pod("prod", "c", NULL), NULL, &err) == 0); /* rv 5 */
  CHECK(vr_store_create(s, pod("prod", "d", NULL), NULL, &err) == 0); /* rv 6 */
  CHECK(vr_store_watch_start(s, "", "Pod", NULL, 1, record, &late, &err) == NULL);
  CHECK(err.status == 410);
  CHECK_STR(err.reason, "Expired");
  w = vr_store_watch_start(s, "", "Pod", NULL, 2, record, &late, &err); /* oldest kept: rv 3 */
  CHECK(w != NULL);
  CHECK_STR(late.log, "MODIFIED a 3;DELETED b 4;ADDED c 5;ADDED d 6;");
  vr_store_watch_stop(s, w_prod);
  CHECK(vr_store_create(s, pod("prod", "e", NULL), NULL, &err) == 0);
  CHECK_CONTAINS(all.log, "ADDED e 7;");
  CHECK(strstr(prod.log, "ADDED e") == NULL);
  /* a smaller log keeps the newest events (rv 6 and 7): resuming from rv 4 is now too old */
  CHECK(vr_store_set_event_log(s, 2) == 0);
  CHECK(vr_store_watch_start(s, "", "Pod", NULL, 4, record, &late, &err) == NULL);
  CHECK(err.status == 410);
  memset(&late, 0, sizeof late);
  w = vr_store_watch_start(s, "", "Pod", NULL, 5, record, &late, &err);
  CHECK(w != NULL);
  CHECK_STR(late.log, "ADDED d 6;ADDED e 7;");
  vr_store_watch_stop(s, w);
  /* a larger one keeps what it had and grows from there */
  CHECK(vr_store_set_event_log(s, 100) == 0);
  CHECK(vr_store_create(s, pod("prod", "f", NULL), NULL, &err) == 0); /* rv 8 */
  memset(&late, 0, sizeof late);
  w = vr_store_watch_start(s, "", "Pod", NULL, 5, record, &late, &err);
  CHECK(w != NULL);
  CHECK_STR(late.log, "ADDED d 6;ADDED e 7;ADDED f 8;");
  vr_store_watch_stop(s, w);
  CHECK(vr_store_set_event_log(s, 0) == -1);
  /* versions at a revision, from the log (it holds rv 6 to 8, and each event the object before
   * it): f did not exist at rv 7 (created at 8); e has no change after rv 7 (as it is now); a is
   * not in the log after rv 7 either */
  {
    const cJSON *then = NULL;
    CHECK(vr_store_version_at(s, "", "Pod", "prod", "f", 7, &then) == 1 && then == NULL);
    CHECK(vr_store_version_at(s, "", "Pod", "prod", "e", 7, &then) == 0);
    CHECK(vr_store_version_at(s, "", "Pod", "prod", "f", 8, &then) == 0);
    CHECK(vr_store_version_at(s, "", "Pod", "prod", "a", 7, &then) == 0);
    CHECK(vr_store_replace(s, pod("prod", "f", "n7"), 0, NULL, &err) == 0); /* rv 9 */
    CHECK(vr_store_delete(s, "", "Pod", "prod", "f", &err) == 0);           /* rv 10 */
    CHECK(vr_store_version_at(s, "", "Pod", "prod", "f", 8, &then) == 1 && then != NULL);
    if (then) { /* f as it was at rv 8: before its move to node n7 */
      const char *node = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
          cJSON_GetObjectItemCaseSensitive(then, "spec"), "nodeName"));
      CHECK(node == NULL || strcmp(node, "n7") != 0);
    }
    CHECK(vr_store_version_at(s, "", "Pod", "prod", "f", 9, &then) == 1 && then != NULL);
    CHECK(vr_store_version_at(s, "", "Pod", "prod", "f", 10, &then) == 0);
    CHECK(vr_store_version_at(s, "", "Pod", "dev", "f", 8, &then) == 0); /* another namespace */
  }
  vr_store_free(s); /* frees the remaining watches */
}

static void test_load_yaml(void) {
  static const char cluster[] = "apiVersion: v1\n"
                                "kind: Node\n"
                                "metadata:\n"
                                "  name: worker-1\n"
                                "---\n"
                                "apiVersion: v1\n"
                                "kind: List\n"
                                "items:\n"
                                "- apiVersion: v1\n"
                                "  kind: Pod\n"
                                "  metadata: {name: p1, namespace: prod}\n"
                                "  spec: {nodeName: worker-1}\n"
                                "- apiVersion: kubevirt.io/v1\n"
                                "  kind: VirtualMachine\n"
                                "  metadata: {name: vm1}\n";
  static const char broken[] = "apiVersion: v1\n"
                               "kind: Node\n"
                               "metadata: {name: a}\n"
                               "---\n"
                               "apiVersion: v1\n"
                               "kind: Pod\n"
                               "metadata: {namespace: prod}\n";
  static const char bad_yaml[] = "apiVersion: v1\nkind: [\n";
  vr_store *s = vr_store_new(1, 0);
  vr_store_error err;
  const cJSON **items;
  size_t n;
  CHECK(vr_store_load_yaml(s, cluster, sizeof cluster - 1, "demo.yaml", NULL, NULL, &err) == 0);
  CHECK(vr_store_get(s, "", "Node", NULL, "worker-1") != NULL);
  CHECK(vr_store_get(s, "", "Pod", "prod", "p1") != NULL);
  CHECK(vr_store_get(s, "kubevirt.io", "VirtualMachine", "default", "vm1") != NULL);
  n = vr_store_list(s, "", "Pod", NULL, "worker-1", &items);
  CHECK(n == 1);
  free(items);
  vr_store_free(s);

  s = vr_store_new(1, 0);
  CHECK(vr_store_load_yaml(s, broken, sizeof broken - 1, "broken.yaml", NULL, NULL, &err) == -1);
  CHECK_STR(err.message, "broken.yaml:5: Pod prod/(no name): Pod: metadata.name is missing");
  vr_store_free(s);

  s = vr_store_new(1, 0);
  CHECK(vr_store_load_yaml(s, bad_yaml, sizeof bad_yaml - 1, "bad.yaml", NULL, NULL, &err) == -1);
  CHECK_CONTAINS(err.message, "bad.yaml:");
  CHECK(err.status == 422);
  vr_store_free(s);

  s = vr_store_new(1, 0);
  {
    static const char dup[] = "apiVersion: v1\nkind: List\nitems:\n"
                              "- {apiVersion: v1, kind: Node, metadata: {name: a}}\n"
                              "- {apiVersion: v1, kind: Node, metadata: {name: a}}\n";
    CHECK(vr_store_load_yaml(s, dup, sizeof dup - 1, "dup.yaml", NULL, NULL, &err) == -1);
    CHECK_STR(err.message, "dup.yaml:1: item 2 of the List: Node a: Node \"a\" already exists");
  }
  vr_store_free(s);
}

/* The reference index: launcher pods by their VMI's uid (kubevirt.io/created-by), VMIMs by
 * spec.vmiName, per namespace, following replaces and deletes. */
static void test_reference_index(void) {
  vr_store *s = vr_store_new(1, 0);
  vr_store_error err;
  const cJSON **items;
  size_t n;
  const char *launcher = "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\","
                         "\"namespace\":\"%s\",\"labels\":{\"kubevirt.io/created-by\":\"%s\"}}}";
  const char *vmim = "{\"apiVersion\":\"kubevirt.io/v1\",\"kind\":"
                     "\"VirtualMachineInstanceMigration\",\"metadata\":{\"name\":\"%s\","
                     "\"namespace\":\"%s\"},\"spec\":{\"vmiName\":\"%s\"}}";
  char buf[400];
#define PUT(fmt, a, b, c, create)                                                                  \
  do {                                                                                             \
    snprintf(buf, sizeof buf, fmt, a, b, c);                                                       \
    CHECK((create ? vr_store_create(s, parse(buf), NULL, &err)                                     \
                  : vr_store_replace(s, parse(buf), 0, NULL, &err)) == 0);                         \
  } while (0)
  PUT(launcher, "virt-launcher-a-1", "prod", "uid-a", 1);
  PUT(launcher, "virt-launcher-a-2", "prod", "uid-a", 1);
  PUT(launcher, "virt-launcher-b-1", "prod", "uid-b", 1);
  PUT(launcher, "virt-launcher-a-1", "dev", "uid-a", 1); /* another namespace */
  PUT(vmim, "m2", "prod", "vm-a", 1);
  PUT(vmim, "m1", "prod", "vm-a", 1);
  PUT(vmim, "m3", "prod", "vm-b", 1);
  n = vr_store_list_ref(s, "", "Pod", "prod", "uid-a", &items);
  CHECK(n == 2 && strcmp(meta(items[0], "name"), "virt-launcher-a-1") == 0 &&
        strcmp(meta(items[1], "name"), "virt-launcher-a-2") == 0);
  free((void *)items);
  n = vr_store_list_ref(s, "kubevirt.io", "VirtualMachineInstanceMigration", "prod", "vm-a",
                        &items);
  CHECK(n == 2 && strcmp(meta(items[0], "name"), "m1") == 0); /* sorted by name */
  free((void *)items);
  /* a replace that changes the reference moves the object; one that keeps it stays */
  PUT(vmim, "m1", "prod", "vm-b", 0);
  PUT(vmim, "m3", "prod", "vm-b", 0);
  n = vr_store_list_ref(s, "kubevirt.io", "VirtualMachineInstanceMigration", "prod", "vm-a",
                        &items);
  CHECK(n == 1 && strcmp(meta(items[0], "name"), "m2") == 0);
  free((void *)items);
  n = vr_store_list_ref(s, "kubevirt.io", "VirtualMachineInstanceMigration", "prod", "vm-b",
                        &items);
  CHECK(n == 2);
  free((void *)items);
  CHECK(vr_store_delete(s, "", "Pod", "prod", "virt-launcher-a-2", &err) == 0);
  CHECK(vr_store_delete(s, "", "Pod", "prod", "virt-launcher-a-1", &err) == 0);
  n = vr_store_list_ref(s, "", "Pod", "prod", "uid-a", &items);
  CHECK(n == 0);
  free((void *)items);
  n = vr_store_list_ref(s, "", "Pod", "dev", "uid-a", &items);
  CHECK(n == 1);
  free((void *)items);
#undef PUT
  vr_store_free(s);
}

/* The unfinished index (VMIMs with no phase or a phase other than Succeeded and Failed) follows
 * phase changes and deletes; the kind revision moves only with its own kind. */
static void test_unfinished_index_and_kind_revision(void) {
  vr_store *s = vr_store_new(1, 0);
  vr_store_error err;
  const cJSON **items;
  size_t n;
  uint64_t pods_rv;
  const char *vmim = "{\"apiVersion\":\"kubevirt.io/v1\",\"kind\":"
                     "\"VirtualMachineInstanceMigration\",\"metadata\":{\"name\":\"%s\","
                     "\"namespace\":\"%s\"},\"spec\":{\"vmiName\":\"vm\"}%s}";
  char buf[400];
#define PUT(name, ns, status, create)                                                              \
  do {                                                                                             \
    snprintf(buf, sizeof buf, vmim, name, ns, status);                                             \
    CHECK((create ? vr_store_create(s, parse(buf), NULL, &err)                                     \
                  : vr_store_replace(s, parse(buf), 0, NULL, &err)) == 0);                         \
  } while (0)
  CHECK(vr_store_kind_revision(s, "kubevirt.io", "VirtualMachineInstanceMigration") == 0);
  PUT("m1", "prod", "", 1);
  PUT("m2", "prod", ",\"status\":{\"phase\":\"Running\"}", 1);
  PUT("m3", "prod", ",\"status\":{\"phase\":\"Succeeded\"}", 1);
  PUT("m4", "dev", ",\"status\":{\"phase\":\"Scheduling\"}", 1);
  CHECK(vr_store_kind_revision(s, "kubevirt.io", "VirtualMachineInstanceMigration") ==
        vr_store_revision(s));
  n = vr_store_list_unfinished(s, "kubevirt.io", "VirtualMachineInstanceMigration", NULL, &items);
  CHECK(n == 3 && strcmp(meta(items[0], "name"), "m4") == 0 && /* dev first: sorted */
        strcmp(meta(items[1], "name"), "m1") == 0 && strcmp(meta(items[2], "name"), "m2") == 0);
  free((void *)items);
  n = vr_store_list_unfinished(s, "kubevirt.io", "VirtualMachineInstanceMigration", "prod", &items);
  CHECK(n == 2);
  free((void *)items);
  PUT("m2", "prod", ",\"status\":{\"phase\":\"Failed\"}", 0);  /* finishes */
  PUT("m3", "prod", ",\"status\":{\"phase\":\"Running\"}", 0); /* (as a test may) */
  PUT("m1", "prod", ",\"status\":{\"phase\":\"Pending\"}", 0); /* stays in */
  CHECK(vr_store_delete(s, "kubevirt.io", "VirtualMachineInstanceMigration", "dev", "m4", &err) ==
        0);
  n = vr_store_list_unfinished(s, "kubevirt.io", "VirtualMachineInstanceMigration", NULL, &items);
  CHECK(n == 2 && strcmp(meta(items[0], "name"), "m1") == 0 &&
        strcmp(meta(items[1], "name"), "m3") == 0);
  free((void *)items);
  n = vr_store_list_unfinished(s, "", "Pod", NULL, &items); /* other kinds: none */
  CHECK(n == 0);
  free((void *)items);
  CHECK(vr_store_create(s,
                        parse("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":"
                              "{\"name\":\"p\",\"namespace\":\"prod\"}}"),
                        NULL, &err) == 0);
  pods_rv = vr_store_kind_revision(s, "", "Pod");
  CHECK(pods_rv == vr_store_revision(s));
  CHECK(vr_store_kind_revision(s, "kubevirt.io", "VirtualMachineInstanceMigration") < pods_rv);
#undef PUT
  vr_store_free(s);
}

/* Changed since a revision: the objects written after it, sorted, and how many there are, so
 * that a reader can refresh what it kept and see deletions. */
static void test_list_changed(void) {
  vr_store *s = vr_store_new(1, 0);
  vr_store_error err;
  const cJSON **items;
  size_t n, total = 0;
  uint64_t read_at;
  const char *node = "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"%s\"},"
                     "\"spec\":{\"unschedulable\":%s}}";
  char buf[300];
  const char *names[] = {"w3", "w1", "w2"};
  for (int i = 0; i < 3; i++) {
    snprintf(buf, sizeof buf, node, names[i], "false");
    CHECK(vr_store_create(s, parse(buf), NULL, &err) == 0);
  }
  n = vr_store_list_changed(s, "", "Node", NULL, 0, &items, &total); /* 0: all, sorted */
  CHECK(n == 3 && total == 3);
  CHECK(strcmp(cJSON_GetObjectItem(cJSON_GetObjectItem(items[0], "metadata"), "name")->valuestring,
               "w1") == 0);
  free((void *)items);
  read_at = vr_store_revision(s);
  n = vr_store_list_changed(s, "", "Node", NULL, read_at, &items, &total);
  CHECK(n == 0 && total == 3);
  free((void *)items);
  snprintf(buf, sizeof buf, node, "w2", "true");
  CHECK(vr_store_replace(s, parse(buf), 0, NULL, &err) == 0);
  CHECK(vr_store_delete(s, "", "Node", NULL, "w3", &err) == 0);
  n = vr_store_list_changed(s, "", "Node", NULL, read_at, &items, &total);
  CHECK(n == 1 && total == 2); /* w2 changed; w3 is gone, which the total shows */
  CHECK(strcmp(cJSON_GetObjectItem(cJSON_GetObjectItem(items[0], "metadata"), "name")->valuestring,
               "w2") == 0);
  free((void *)items);
  vr_store_free(s);
}

typedef struct node_sum {
  char node[32];
  int64_t cpu, memory, pods;
} node_sum;

static int collect_sum(void *ctx, const char *node, int64_t cpu, int64_t memory, int64_t pods) {
  node_sum *sums = ctx;
  int i = 0;
  while (sums[i].node[0] != '\0') i++;
  snprintf(sums[i].node, sizeof sums[i].node, "%s", node);
  sums[i].cpu = cpu, sums[i].memory = memory, sums[i].pods = pods;
  return 0;
}

static const node_sum *sum_of(const node_sum *sums, const char *node) {
  for (int i = 0; sums[i].node[0] != '\0'; i++)
    if (strcmp(sums[i].node, node) == 0) return &sums[i];
  return NULL;
}

/* Requests by node: live pods only, read when stored, following replaces (a pod that finishes
 * or moves) and deletes. */
static void test_requests_by_node(void) {
  vr_store *s = vr_store_new(1, 0);
  vr_store_error err;
  uint64_t read_at;
  node_sum sums[8];
  const char *pod = "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\","
                    "\"namespace\":\"prod\"},\"spec\":{\"nodeName\":\"%s\",\"containers\":[{"
                    "\"resources\":{\"requests\":{\"cpu\":\"%s\",\"memory\":\"1Gi\"}}}]},"
                    "\"status\":{\"phase\":\"%s\"}}";
  char buf[400];
#define PUT(name, node, cpu, phase, create)                                                        \
  do {                                                                                             \
    snprintf(buf, sizeof buf, pod, name, node, cpu, phase);                                        \
    CHECK((create ? vr_store_create(s, parse(buf), NULL, &err)                                     \
                  : vr_store_replace(s, parse(buf), 0, NULL, &err)) == 0);                         \
  } while (0)
#define SUMS()                                                                                     \
  do {                                                                                             \
    memset(sums, 0, sizeof sums);                                                                  \
    CHECK(vr_store_requests_by_node(s, 0, collect_sum, sums) == 1);                                \
  } while (0)
  PUT("a", "w1", "500m", "Running", 1);
  PUT("b", "w1", "1", "Pending", 1);
  PUT("c", "w2", "250m", "Succeeded", 1);
  PUT("d", "w2", "2", "Running", 1);
  SUMS();
  CHECK(sum_of(sums, "w1") && sum_of(sums, "w1")->cpu == 1500 && sum_of(sums, "w1")->pods == 2 &&
        sum_of(sums, "w1")->memory == 2LL << 30);
  CHECK(sum_of(sums, "w2") && sum_of(sums, "w2")->cpu == 2000 && sum_of(sums, "w2")->pods == 1);
  read_at = vr_store_revision(s);
  memset(sums, 0, sizeof sums); /* nothing changed since: nothing to report */
  CHECK(vr_store_requests_by_node(s, read_at, collect_sum, sums) == 0 && sums[0].node[0] == '\0');
  PUT("a", "w1", "500m", "Failed", 0); /* finishes */
  PUT("d", "w3", "2", "Running", 0);   /* (moves, as a test may) */
  CHECK(vr_store_delete(s, "", "Pod", "prod", "b", &err) == 0);
  SUMS();
  CHECK(sum_of(sums, "w1") == NULL && sum_of(sums, "w2") == NULL);
  CHECK(sum_of(sums, "w3") && sum_of(sums, "w3")->cpu == 2000 && sum_of(sums, "w3")->pods == 1);
  /* since read_at: the three nodes changed, two of them down to no pods (the delete counts at
   * its own revision, after the replaces) */
  memset(sums, 0, sizeof sums);
  CHECK(vr_store_requests_by_node(s, read_at, collect_sum, sums) == 0);
  CHECK(sum_of(sums, "w1") && sum_of(sums, "w1")->pods == 0 && sum_of(sums, "w1")->cpu == 0);
  CHECK(sum_of(sums, "w2") && sum_of(sums, "w2")->pods == 0 && sum_of(sums, "w2")->memory == 0);
  CHECK(sum_of(sums, "w3") && sum_of(sums, "w3")->pods == 1);
  read_at = vr_store_revision(s) - 1; /* only the delete of b (on w1) is after this */
  memset(sums, 0, sizeof sums);
  CHECK(vr_store_requests_by_node(s, read_at, collect_sum, sums) == 0);
  CHECK(sum_of(sums, "w1") && sum_of(sums, "w2") == NULL && sum_of(sums, "w3") == NULL);
#undef SUMS
#undef PUT
  vr_store_free(s);
}

static int done_at_once(void *ctx, const char *name) {
  (void)ctx;
  return strcmp(name, "kubevirt.io/foregroundDeleteVirtualMachine") == 0;
}

/* Finalizers: a delete only marks the object (deletionTimestamp, a MODIFIED event) while a
 * finalizer that holds it is left; the update that removes the last one deletes it. Finalizers
 * the filter completes at once never hold it. */
static void test_finalizers(void) {
  vr_store *s = vr_store_new(1, 0);
  vr_store_error err;
  recorder r;
  const cJSON *stored;
  memset(&r, 0, sizeof r);
  vr_store_set_clock(s, fixed_clock, NULL);
  vr_store_set_finalizer_filter(s, done_at_once, NULL);
  CHECK(vr_store_watch_start(s, "", "ConfigMap", NULL, 0, record, &r, &err) != NULL);
  CHECK(vr_store_create(s,
                        parse("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{"
                              "\"name\":\"held\",\"finalizers\":[\"example.com/cleanup\","
                              "\"kubevirt.io/foregroundDeleteVirtualMachine\"]}}"),
                        NULL, &err) == 0);
  CHECK(vr_store_create(s,
                        parse("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{"
                              "\"name\":\"free\",\"finalizers\":["
                              "\"kubevirt.io/foregroundDeleteVirtualMachine\"]}}"),
                        NULL, &err) == 0);
  CHECK(vr_store_delete(s, "", "ConfigMap", "default", "held", &err) == 0);
  stored = vr_store_get(s, "", "ConfigMap", "default", "held");
  CHECK(stored != NULL);
  CHECK_STR(meta(stored, "deletionTimestamp"), "2025-11-25T17:20:00Z");
  CHECK(vr_store_delete(s, "", "ConfigMap", "default", "held", &err) == 0); /* no change */
  CHECK(vr_store_delete(s, "", "ConfigMap", "default", "free", &err) == 0);
  CHECK(vr_store_get(s, "", "ConfigMap", "default", "free") == NULL);
  /* the finalizer's controller is done: the update removing it deletes the object */
  CHECK(vr_store_replace(s,
                         parse("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{"
                               "\"name\":\"held\",\"finalizers\":["
                               "\"kubevirt.io/foregroundDeleteVirtualMachine\"]}}"),
                         0, NULL, &err) == 0);
  CHECK(vr_store_get(s, "", "ConfigMap", "default", "held") == NULL);
  CHECK_STR(r.log, "ADDED held 1;ADDED free 2;MODIFIED held 3;DELETED free 4;MODIFIED held 5;"
                   "DELETED held 6;");
  vr_store_free(s);
}

/* Metadata the store writes over a member that is not a string (resourceVersion: 12 in a file)
 * keeps the member's name. */
static void test_metadata_not_strings(void) {
  vr_store *s = vr_store_new(1, 0);
  vr_store_error err;
  const cJSON *stored;
  CHECK(vr_store_create(s,
                        parse("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{"
                              "\"name\":\"n1\",\"resourceVersion\":12,\"uid\":7}}"),
                        &stored, &err) == 0);
  CHECK_STR(meta(stored, "resourceVersion"), "1");
  CHECK(meta(stored, "uid") != NULL && strlen(meta(stored, "uid")) == 36);
  CHECK(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(stored, "metadata"),
                                         "") == NULL);
  CHECK(vr_store_replace(s,
                         parse("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{"
                               "\"name\":\"n1\",\"resourceVersion\":\"1\"}}"),
                         1, &stored, &err) == 0);
  CHECK_STR(meta(stored, "resourceVersion"), "2");
  vr_store_free(s);
}

/* Stored versions hold interned member names (cJSON_Parse gives copies): nested ones too, and
 * after a replace that adds members; a name too long to intern stays a readable copy. */
static void test_interned_names(void) {
  vr_store *s = vr_store_new(1, 0);
  vr_store_error err;
  const cJSON *stored, *c;
  char json[600], longname[200];
  memset(longname, 'k', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  snprintf(json, sizeof json,
           "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"n1\"},"
           "\"data\":{\"a\":{\"deep\":[{\"inner\":1}]},\"%s\":\"long\"}}",
           longname);
  CHECK(vr_store_create(s, parse(json), &stored, &err) == 0);
  for (c = stored ? stored->child : NULL; c != NULL; c = c->next) {
    CHECK((c->type & cJSON_StringIsConst) && c->string == vr_json_intern(c->string));
  }
  c = cJSON_GetObjectItemCaseSensitive(stored, "data");
  c = cJSON_GetArrayItem(
      cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(c, "a"), "deep"), 0);
  CHECK(c != NULL && c->child != NULL && c->child->string == vr_json_intern("inner"));
  c = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(stored, "data"), longname);
  CHECK(c != NULL && !(c->type & cJSON_StringIsConst) && strcmp(c->valuestring, "long") == 0);
  CHECK(vr_store_replace(s,
                         parse("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{"
                               "\"name\":\"n1\"},\"status\":{\"added\":true}}"),
                         0, &stored, &err) == 0);
  c = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(stored, "status"), "added");
  CHECK(c != NULL && c->string == vr_json_intern("added"));
  vr_store_free(s);
}

int main(void) {
  test_create_get_list();
  test_interned_names();
  test_metadata_not_strings();
  test_reference_index();
  test_unfinished_index_and_kind_revision();
  test_requests_by_node();
  test_list_changed();
  test_finalizers();
  test_scope_and_generate_name();
  test_replace_and_index();
  test_watch();
  test_load_yaml();
  return CHECK_DONE();
}
