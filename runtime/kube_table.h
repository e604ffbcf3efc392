/* kube_table.h: server-side Tables (meta.k8s.io/v1 Table) for `vmrun serve`, the answer to a GET
 * whose Accept asks for `as=Table`, so that `kubectl get` shows the columns it shows on a real
 * cluster: Nodes, Pods, VirtualMachines, VirtualMachineInstances and
 * VirtualMachineInstanceMigrations with their own columns (priority 1 columns are the extra ones
 * of `-o wide`), every other kind with Name and Age, as the API server does for a resource
 * without printer columns.
 *
 * Pure functions over cJSON objects: no store, no HTTP, no Lua. Nothing aborts on any input;
 * a field that is missing or of the wrong type gives the cell kubectl shows for it ("<none>",
 * "0/1", an empty IP, ...). */
#ifndef VMRUN_KUBE_TABLE_H
#define VMRUN_KUBE_TABLE_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

/* A Table of n objects of one kind (group "" for the core group): {"kind":"Table",
 * "apiVersion":"meta.k8s.io/v1", "metadata":{"resourceVersion":list_rv} (omitted when list_rv
 * is NULL; plus "continue" when continue_token is not NULL), "columnDefinitions":[...],
 * "rows":[{"cells":[...], "object":{"kind":"PartialObjectMetadata",
 * "apiVersion":"meta.k8s.io/v1","metadata":<the object's metadata>}}]}. now_ms (ms since the
 * epoch) is the time ages are counted to. NULL when out of memory.
 *
 * Columns and cells follow the Kubernetes 1.32 API server (Node, Pod: Restarts is a string column
 * such as "3 (5m ago)") and KubeVirt's CRD printer columns (VirtualMachineInstanceMigration has no
 * Age there). Custom resources' cells are what the apiextensions table convertor makes of them: a
 * missing value is a null cell (kubectl prints it blank) and Age is a "date" column already
 * rendered as an age; other kinds outside Kubernetes' own groups (any group with a dot that is
 * not *.k8s.io) also get a "date" Age. Rows of Succeeded and Failed Pods also carry the API
 * server's "conditions" ([{"type":"Completed","status":"True",...}]); the row metadata leaves out
 * managedFields. group NULL means "". A NULL item renders as an empty object; items NULL renders
 * no rows. */
cJSON *vr_kube_table(const char *group, const char *kind, const cJSON *const *items, size_t n,
                     uint64_t now_ms, const char *list_rv, const char *continue_token);

/* An age as kubectl prints it (k8s.io/apimachinery duration.HumanDuration): "0s" .. "119s",
 * "2m".."9m59s" style, up to "3y"; negative durations as "<invalid>". Into buf (len bytes). */
void vr_kube_human_duration(int64_t ms, char *buf, size_t len);

/* The age cell of an object: now minus metadata.creationTimestamp (RFC 3339), "<unknown>" when
 * it has none or it does not parse. */
void vr_kube_age(const cJSON *obj, uint64_t now_ms, char *buf, size_t len);

#endif
