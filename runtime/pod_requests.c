/* pod_requests.c: what a Pod asks of its node, as kube-scheduler's NodeResourcesFit counts it
 * (the simulator's scheduler and the store, for cluster.requests_by_node, read it the same way).
 * Pure functions over cJSON: no allocation, no I/O. */
#include "pod_requests.h"

#include <stdio.h>

#include "migration_config.h"

int64_t vr_quantity_item(const cJSON *item, int scale) {
  char buf[64], err[128];
  const char *text = NULL;
  int64_t v = 0;
  if (cJSON_IsString(item)) {
    text = item->valuestring;
  } else if (cJSON_IsNumber(item)) {
    /* as the Lua side (vmrun.migconfig.quantity) writes a number: 0.5 CPU is 500m, not 0 */
    snprintf(buf, sizeof buf, "%f", item->valuedouble);
    text = buf;
  }
  if (text == NULL || vr_quantity_parse(text, scale, &v, err, sizeof err) != 0) return 0;
  return v;
}

static const cJSON *field(const cJSON *obj, const char *name) {
  return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, name) : NULL;
}

static vr_requests container_requests(const cJSON *container) {
  const cJSON *req = field(field(container, "resources"), "requests");
  vr_requests r = {vr_quantity_item(field(req, "cpu"), -3),
                   vr_quantity_item(field(req, "memory"), 0)};
  return r;
}

vr_requests vr_pod_requests(const cJSON *pod) {
  vr_requests r = {0, 0}, init = {0, 0};
  const cJSON *spec = field(pod, "spec"), *c, *overhead = field(spec, "overhead");
  cJSON_ArrayForEach(c, field(spec, "containers")) {
    vr_requests one = container_requests(c);
    r.cpu_milli += one.cpu_milli;
    r.memory += one.memory;
  }
  cJSON_ArrayForEach(c, field(spec, "initContainers")) {
    vr_requests one = container_requests(c);
    if (one.cpu_milli > init.cpu_milli) init.cpu_milli = one.cpu_milli;
    if (one.memory > init.memory) init.memory = one.memory;
  }
  if (init.cpu_milli > r.cpu_milli) r.cpu_milli = init.cpu_milli;
  if (init.memory > r.memory) r.memory = init.memory;
  r.cpu_milli += vr_quantity_item(field(overhead, "cpu"), -3);
  r.memory += vr_quantity_item(field(overhead, "memory"), 0);
  return r;
}
