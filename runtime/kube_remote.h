/* kube_remote.h: vmrun's connection to a real Kubernetes API server, under the REST backend: the
 * HTTP client (kube_client.h) set up from a resolved kubeconfig (kubeconfig.h), with exec
 * credential plugins run before the first request that needs them, again before the credential
 * expires and once more after a 401 (exec_credential.h); request paths for resources; and the
 * Kubernetes Status of an error answer turned into a status, reason and one-line message.
 *
 * No Lua. Nothing here prints or returns a token, key or certificate: messages name the method,
 * the path and what went wrong. */
#ifndef VMRUN_KUBE_REMOTE_H
#define VMRUN_KUBE_REMOTE_H

#include <stddef.h>
#include <uv.h>

#include "clock.h"
#include "kube_client.h"
#include "kubeconfig.h"
#include "store.h"

typedef struct vr_kube_remote vr_kube_remote;
typedef struct vr_kube_call vr_kube_call;

/* Where the objects of a kind live on the server. */
typedef struct vr_kube_resource {
  char group[128];  /* "" for the core group */
  char version[64]; /* "v1" */
  char plural[128]; /* "virtualmachineinstances" */
  char kind[128];   /* "VirtualMachineInstance" */
  int namespaced;
} vr_kube_resource;

/* A connection for config (taken over: freed with the connection, also on failure). NULL with a
 * message in err when the client cannot be set up (TLS material that cannot be used). */
vr_kube_remote *vr_kube_remote_new(uv_loop_t *loop, vr_clock *clock, vr_kube_config *config,
                                   const vr_kube_client_options *options, char *err, size_t errlen);
/* Cancels every call (their done callbacks run with "cancelled") and frees the connection; run
 * the loop afterwards so that libuv handles close. NULL is fine. */
void vr_kube_remote_free(vr_kube_remote *r);
const vr_kube_config *vr_kube_remote_config(const vr_kube_remote *r);
/* How many requests were started (attempts not counted), for summaries. */
unsigned long vr_kube_remote_requests(const vr_kube_remote *r);

/* Starts a request as vr_kube_request_start does (the spec's strings are copied), getting the
 * exec plugin's credential first when the kubeconfig has one and retrying once with a fresh
 * credential after a 401. on_done / on_line get the call's own vr_kube_request pointer as NULL:
 * use data. on_done is never called from inside this function. NULL when out of memory. */
vr_kube_call *vr_kube_remote_start(vr_kube_remote *r, const vr_kube_request_spec *spec);
/* Cancels a call: its on_done runs at once with status 0 and error "cancelled". No-op from inside
 * its own callbacks' on_done; after on_done returned the call is gone. */
void vr_kube_call_cancel(vr_kube_call *call);

/* The path of a resource: the collection (name NULL), an object, or an object's subresource,
 * with ns NULL or "" for all namespaces (or a cluster-scoped kind), and a query (without '?';
 * may be NULL). Names and namespaces are escaped. Returns 0, -1 when it does not fit. */
int vr_kube_path(char *buf, size_t len, const vr_kube_resource *res, const char *ns,
                 const char *name, const char *subresource, const char *query);
/* Appends "name=value" to a query in buf (escaping value), with '&' when buf is not empty.
 * Returns 0, -1 when it does not fit. */
int vr_kube_query_add(char *buf, size_t len, const char *name, const char *value);

/* The error of a failed answer, as the store reports its own: status (0 when no answer came:
 * then 503 with reason "Unavailable"), the Kubernetes reason and message from a Status body, or,
 * when the body is not a Status (an HTML page from a proxy), a message saying what came instead.
 * what names the request ("PATCH Node worker-1"). */
void vr_kube_response_error(const vr_kube_response *resp, const char *what, vr_store_error *err);

#endif
