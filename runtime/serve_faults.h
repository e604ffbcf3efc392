/* serve_faults.h: seeded fault injection for `vmrun serve --faults SPEC`, so that clients can be
 * tested against an API server that fails the way real ones do. SPEC is a comma-separated list
 * of rules NAME[@VERBS]=VALUE:
 *   error=P:CODE        answer CODE (400..599) with probability P
 *   latency=P:DURATION  answer DURATION later ("150ms", "2s") with probability P
 *   drop=P              close the connection without an answer with probability P
 *   conflict=P          answer a patch or update 409 Conflict with probability P
 *   throttle=P:SECONDS  answer 429 Too Many Requests with Retry-After SECONDS, probability P
 *   watch-cut=DURATION  end every watch stream after DURATION
 * VERBS is a '+'-separated list of get, list, watch, create, update, patch, delete, evict and
 * discovery (default: every verb but discovery, so that clients still find the API); requests
 * to the sim.vmrun.io group (serve's test control channel) never get a fault. The first
 * rule that fires decides; the random numbers come from the seed, so a run with the same
 * requests in the same order fails the same way. No I/O here. */
#ifndef VMRUN_SERVE_FAULTS_H
#define VMRUN_SERVE_FAULTS_H

#include <stddef.h>
#include <stdint.h>

#include "kube_api.h"

typedef struct vr_serve_faults vr_serve_faults;

/* NULL with a message in err when SPEC is malformed (the message names the rule). */
vr_serve_faults *vr_serve_faults_parse(const char *spec, uint64_t seed, char *err, size_t errlen);
void vr_serve_faults_free(vr_serve_faults *f);

/* A vr_kube_fault_fn: ctx is the vr_serve_faults. */
int vr_serve_faults_decide(void *ctx, const char *verb, const char *resource, vr_kube_fault *fault);

#endif
