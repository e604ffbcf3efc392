/* kube_api.h: the Kubernetes API of `vmrun serve`, over the simulator's store and controllers:
 * /version, discovery (/api, /apis, every group version, with verbs, namespaced, kind,
 * shortNames and pods/eviction in group policy), and for every resource of kinds.h get, list
 * (label and field selectors, limit and continue), watch (resourceVersion semantics, initial
 * ADDED events, 410 as an ERROR event, bookmarks, timeoutSeconds), create, replace, patch
 * (strategic merge, merge and JSON patch), delete (graceful for pods) and pod eviction through
 * KubeVirt's webhook and PodDisruptionBudgets; server-side Tables for `kubectl get`; Status
 * objects for every error. Answers are JSON whatever the client asks first.
 *
 * Beside it, the vmrun-only group sim.vmrun.io/v1 (a test control channel that real clusters do
 * not have): GET and POST /apis/sim.vmrun.io/v1/clock (the Clock object; POST {"advanceToMs":T}
 * moves a client-driven clock) and POST /apis/sim.vmrun.io/v1/nodes/NAME/reboot.
 *
 * It plugs into http_server.h as the handler. Every write goes through the same store calls as
 * the in-process cluster bindings, so the simulation follows the same rules. It never blocks:
 * watches are streams fed by store watch callbacks. No Lua here. */
#ifndef VMRUN_KUBE_API_H
#define VMRUN_KUBE_API_H

#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "http_server.h"
#include "sim.h"

typedef struct vr_kube_api vr_kube_api;

/* Decides, per request, whether to inject a fault (see serve's --faults). Fills what to do and
 * returns 1, or returns 0 for a normal answer. NULL: never. */
typedef struct vr_kube_fault {
  int status;            /* answer this error status (0: none) */
  int retry_after;       /* seconds for Retry-After with 429 (0: none) */
  uint64_t delay_ms;     /* answer this much later */
  int drop;              /* close the connection without an answer */
  uint64_t watch_cut_ms; /* a watch stream ends after this long (0: not cut) */
} vr_kube_fault;
typedef int (*vr_kube_fault_fn)(void *ctx, const char *verb, const char *resource,
                                vr_kube_fault *fault);

typedef struct vr_kube_api_config {
  uv_loop_t *loop;
  vr_sim *sim;
  /* Brings the simulation up to the present before each request (serve paces the virtual
   * clock); may be NULL. */
  void (*sync)(void *ctx);
  /* Runs the controllers' immediate work after a write (may be NULL). */
  void (*after_write)(void *ctx);
  void *sync_ctx;
  FILE *log;                     /* one JSON line per request, or NULL */
  uint64_t bookmark_interval_ms; /* watch bookmarks (default 60 s) */
  vr_kube_fault_fn fault;        /* may be NULL; never asked for the sim.vmrun.io group */
  void *fault_ctx;
  /* The sim.vmrun.io/v1 group's clock: 1 when only a client's POST .../clock moves simulated
   * time (serve's --clock client; sync and after_write are then NULL), 0 when serve paces it
   * (POST answers 409). speed is reported in the Clock object. */
  int client_clock;
  double speed;
  /* 1: watches refuse sendInitialEvents (422), as an API server whose WatchList feature gate is
   * off (Kubernetes 1.33's default); 0: streaming lists are served (1.32, 1.34 and later) */
  int watch_list_disabled;
} vr_kube_api_config;

/* NULL when out of memory. */
vr_kube_api *vr_kube_api_new(const vr_kube_api_config *config);
/* Ends every watch (their connections close) and frees the API. */
void vr_kube_api_free(vr_kube_api *api);

/* Sets the address /api reports (known once the server listens); copied. */
void vr_kube_api_set_address(vr_kube_api *api, const char *address);

/* The http_server.h handler; ctx is the vr_kube_api. */
void vr_kube_api_handle(void *ctx, vr_http_conn *conn, vr_http_request *req);

/* Requests answered so far, and watches open now. */
uint64_t vr_kube_api_requests(const vr_kube_api *api);
size_t vr_kube_api_watches(const vr_kube_api *api);

#endif
