/* test_sim_load.c: loading the simulator from in-memory objects (vr_sim_load_objects, what a
 * rehearsal copies from a real cluster): the objects are stored with their uid and status,
 * without metadata.managedFields and with the simulator's own resourceVersions; the source names
 * the simulator; the checks of a cluster file apply, with errors naming the source and the
 * object; and what is not an array of objects is refused. */
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "check.h"
#include "sim.h"

static cJSON *parse(const char *json) {
  cJSON *obj = cJSON_Parse(json);
  if (obj == NULL) fprintf(stderr, "bad test JSON: %s\n", json);
  return obj;
}

static const char *string_at(const cJSON *obj, const char *a, const char *b) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, a);
  if (b != NULL) v = cJSON_GetObjectItemCaseSensitive(v, b);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const char good[] =
    "[{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"w1\",\"uid\":\"n-1\","
    "\"resourceVersion\":\"918273\",\"managedFields\":[{\"manager\":\"kubelet\"}]},"
    "\"status\":{\"allocatable\":{\"cpu\":\"8\",\"memory\":\"32Gi\"}}},"
    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web\",\"namespace\":\"prod\","
    "\"uid\":\"p-1\",\"creationTimestamp\":\"2025-01-02T03:04:05Z\"},"
    "\"spec\":{\"nodeName\":\"w1\",\"containers\":[{\"name\":\"app\",\"image\":\"app\"}]},"
    "\"status\":{\"phase\":\"Running\"}}]";

static void test_load(uv_loop_t *loop) {
  vr_clock *clock = vr_clock_new(loop, 1, 1764091200000ull);
  vr_sim *sim = vr_sim_new(clock, 1);
  vr_store_error err;
  const cJSON *node, *pod;
  CHECK(vr_sim_load_objects(sim, parse(good), "copy of 'lab'", &err) == 0);
  CHECK_STR(vr_sim_source(sim), "copy of 'lab'");
  node = vr_store_get(vr_sim_store(sim), "", "Node", NULL, "w1");
  pod = vr_store_get(vr_sim_store(sim), "", "Pod", "prod", "web");
  CHECK(node != NULL && pod != NULL);
  CHECK_STR(string_at(node, "metadata", "uid"), "n-1");
  CHECK(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(node, "metadata"),
                                         "managedFields") == NULL);
  CHECK(strcmp(string_at(node, "metadata", "resourceVersion"), "918273") != 0);
  CHECK_STR(string_at(pod, "metadata", "creationTimestamp"), "2025-01-02T03:04:05Z");
  CHECK_STR(string_at(pod, "status", "phase"), "Running");
  CHECK_STR(string_at(pod, "status", "hostIP"), "10.0.0.10"); /* the kubelet's report */
  vr_sim_free(sim);
  vr_clock_free(clock);
}

static void test_refused(uv_loop_t *loop) {
  vr_clock *clock = vr_clock_new(loop, 1, 1764091200000ull);
  vr_store_error err;
  vr_sim *sim = vr_sim_new(clock, 1);
  /* a reference that does not resolve: the source, the object, the field */
  CHECK(vr_sim_load_objects(
            sim,
            parse("[{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"w1\"}},"
                  "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web\","
                  "\"namespace\":\"prod\"},\"spec\":{\"nodeName\":\"w2\",\"containers\":"
                  "[{\"name\":\"app\"}]}}]"),
            "copy of 'lab'", &err) == -1);
  CHECK_CONTAINS(err.message,
                 "copy of 'lab': Pod prod/web: spec.nodeName 'w2' names no Node among the "
                 "objects read (did you mean 'w1'?)");
  vr_sim_free(sim);
  /* an object admission refuses */
  sim = vr_sim_new(clock, 1);
  CHECK(vr_sim_load_objects(sim,
                            parse("[{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":"
                                  "{\"name\":\"bare\",\"namespace\":\"prod\"},\"spec\":{}}]"),
                            "copy of 'lab'", &err) == -1);
  CHECK_CONTAINS(err.message, "copy of 'lab': Pod prod/bare: ");
  CHECK(err.status == 422);
  vr_sim_free(sim);
  /* not a list of objects */
  sim = vr_sim_new(clock, 1);
  CHECK(vr_sim_load_objects(sim, parse("{\"kind\":\"Pod\"}"), "copy", &err) == -1);
  CHECK_STR(err.message, "copy: not a list of objects");
  vr_sim_free(sim);
  sim = vr_sim_new(clock, 1);
  CHECK(vr_sim_load_objects(sim, parse("[1]"), "copy", &err) == -1);
  CHECK_STR(err.message, "copy: an item is not an object");
  vr_sim_free(sim);
  vr_clock_free(clock);
}

int main(void) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  test_load(&loop);
  test_refused(&loop);
  uv_run(&loop, UV_RUN_NOWAIT);
  uv_loop_close(&loop);
  return CHECK_DONE();
}
