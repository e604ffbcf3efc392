/* pod_requests.h: what a Pod asks of its node (CPU in millicores, memory in bytes), counted as
 * kube-scheduler's NodeResourcesFit counts it; and one quantity read from a JSON value. Pure
 * functions over cJSON: no allocation, no I/O. */
#ifndef VMRUN_POD_REQUESTS_H
#define VMRUN_POD_REQUESTS_H

#include <stdint.h>

#include <cjson/cJSON.h>

typedef struct vr_requests {
  int64_t cpu_milli;
  int64_t memory;
} vr_requests;

/* A Kubernetes quantity held as a JSON string or number, scaled by 10^scale units (scale -3:
 * millicores); 0 when absent or not a quantity. */
int64_t vr_quantity_item(const cJSON *item, int scale);

/* The sum of the pod's containers' requests, or the largest init container's if that is more
 * (init containers run one at a time, before the others), plus its spec.overhead. */
vr_requests vr_pod_requests(const cJSON *pod);

#endif
