/* sim_replicaset.c: the ReplicaSet controller of the simulator (Kubernetes'
 * pkg/controller/replicaset, reduced to what node maintenance meets): a ReplicaSet whose active
 * pods (owned by it, not finished, not being deleted) are fewer than spec.replicas gets new pods
 * from spec.template, named <replicaset>-<5 characters>, owned by it, placed by the scheduler
 * (Running at once on the chosen node, or Pending without one). So an evicted Deployment pod comes
 * back elsewhere, and a PodDisruptionBudget over it recovers, as on a real cluster. Scaling down
 * is not simulated. Runs from the work queue; never calls Lua. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migration_config.h" /* vr_quantity_parse */
#include "sim_internal.h"

static const char *owner_rs(const cJSON *pod) {
  const cJSON *o;
  cJSON_ArrayForEach(o, sim_path(pod, "metadata.ownerReferences")) {
    const char *kind = sim_string(o, "kind");
    if (kind && strcmp(kind, "ReplicaSet") == 0 && cJSON_IsTrue(sim_path(o, "controller")))
      return sim_string(o, "name");
  }
  return NULL;
}

void sim_enqueue_owner_rs(vr_sim *sim, const cJSON *pod) {
  const char *rs = owner_rs(pod);
  if (rs != NULL) sim_enqueue(sim, SIM_Q_RS, sim_string(pod, "metadata.namespace"), rs);
}

/* The requests of a pod spec's containers (CPU in millicores, memory in bytes). */
static void requests_of(const cJSON *spec, int64_t *cpu, int64_t *memory) {
  const cJSON *c;
  *cpu = 0;
  *memory = 0;
  cJSON_ArrayForEach(c, sim_path(spec, "containers")) {
    int64_t v;
    char err[96];
    const char *text = sim_string(c, "resources.requests.cpu");
    if (text && vr_quantity_parse(text, -3, &v, err, sizeof err) == 0) *cpu += v;
    text = sim_string(c, "resources.requests.memory");
    if (text && vr_quantity_parse(text, 0, &v, err, sizeof err) == 0) *memory += v;
  }
}

/* Creates one pod of the ReplicaSet; returns 0 or -1. */
static int create_pod(vr_sim *sim, const cJSON *rs) {
  static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  const char *ns = sim_string(rs, "metadata.namespace"), *name = sim_string(rs, "metadata.name");
  const cJSON *template = sim_path(rs, "spec.template");
  const cJSON *node;
  cJSON *pod, *meta, *owner, *owners, *spec;
  char pod_name[300], suffix[6], why[512];
  int64_t cpu, memory;
  vr_store_error err;
  int i, rc;
  if (template == NULL || sim_path(template, "spec.containers") == NULL) return -1;
  for (i = 0; i < 5; i++) suffix[i] = alphabet[sim_random(sim) % (sizeof alphabet - 1)];
  suffix[5] = '\0';
  snprintf(pod_name, sizeof pod_name, "%.240s-%s", name, suffix);
  pod = cJSON_CreateObject();
  if (pod == NULL) return -1;
  cJSON_AddStringToObject(pod, "apiVersion", "v1");
  cJSON_AddStringToObject(pod, "kind", "Pod");
  meta = cJSON_AddObjectToObject(pod, "metadata");
  cJSON_AddStringToObject(meta, "name", pod_name);
  cJSON_AddStringToObject(meta, "namespace", ns);
  if (sim_path(template, "metadata.labels") != NULL)
    cJSON_AddItemToObject(meta, "labels",
                          cJSON_Duplicate(sim_path(template, "metadata.labels"), 1));
  if (sim_path(template, "metadata.annotations") != NULL)
    cJSON_AddItemToObject(meta, "annotations",
                          cJSON_Duplicate(sim_path(template, "metadata.annotations"), 1));
  owners = cJSON_AddArrayToObject(meta, "ownerReferences");
  owner = cJSON_CreateObject();
  cJSON_AddStringToObject(owner, "apiVersion", "apps/v1");
  cJSON_AddStringToObject(owner, "kind", "ReplicaSet");
  cJSON_AddStringToObject(owner, "name", name);
  if (sim_string(rs, "metadata.uid"))
    cJSON_AddStringToObject(owner, "uid", sim_string(rs, "metadata.uid"));
  cJSON_AddBoolToObject(owner, "controller", 1);
  cJSON_AddBoolToObject(owner, "blockOwnerDeletion", 1);
  cJSON_AddItemToArray(owners, owner);
  spec = cJSON_Duplicate(sim_path(template, "spec"), 1);
  cJSON_AddItemToObject(pod, "spec", spec);
  { /* the API server's DefaultTolerationSeconds admission */
    cJSON *t = sim_default_tolerations(sim_path(spec, "tolerations"));
    cJSON_DeleteItemFromObjectCaseSensitive(spec, "tolerations");
    cJSON_AddItemToObject(spec, "tolerations", t);
  }
  requests_of(spec, &cpu, &memory);
  node = sim_pick_node_for_pod(sim, pod, cpu, memory, why, sizeof why);
  if (node != NULL) {
    cJSON_DeleteItemFromObjectCaseSensitive(spec, "nodeName");
    cJSON_AddStringToObject(spec, "nodeName", sim_string(node, "metadata.name"));
    sim_pod_set_phase(sim, pod, "Running");
  } else {
    sim_pod_set_phase(sim, pod, "Pending");
    cJSON *conditions = cJSON_CreateArray();
    cJSON_AddItemToArray(conditions, sim_condition("PodScheduled", "False", "Unschedulable", why));
    sim_set(pod, "status.conditions", conditions);
  }
  sim->controller_writes++; /* built from the stored, admitted ReplicaSet */
  rc = vr_store_create(sim->store, pod, NULL, &err);
  sim->controller_writes--;
  return rc;
}

void sim_reconcile_replicaset(vr_sim *sim, const char *ns, const char *name) {
  const cJSON *rs = vr_store_get(sim->store, "apps", "ReplicaSet", ns, name);
  const cJSON **pods, *replicas;
  const char *uid;
  size_t n, i;
  long long want, active = 0;
  if (rs == NULL || sim_path(rs, "metadata.deletionTimestamp") != NULL) return;
  replicas = sim_path(rs, "spec.replicas");
  want = cJSON_IsNumber(replicas) ? (long long)replicas->valuedouble : 1;
  uid = sim_string(rs, "metadata.uid");
  n = vr_store_list(sim->store, "", "Pod", ns, NULL, &pods);
  if (n == (size_t)-1) return;
  for (i = 0; i < n; i++) {
    const char *owner = owner_rs(pods[i]);
    const cJSON *o;
    int mine = 0;
    if (owner == NULL || strcmp(owner, name) != 0) continue;
    cJSON_ArrayForEach(o, sim_path(pods[i], "metadata.ownerReferences")) {
      const char *ouid = sim_string(o, "uid");
      if (ouid == NULL || uid == NULL || strcmp(ouid, uid) == 0) mine = 1;
    }
    if (!mine || sim_phase_is(pods[i], "Succeeded") || sim_phase_is(pods[i], "Failed") ||
        sim_path(pods[i], "metadata.deletionTimestamp") != NULL)
      continue;
    active++;
  }
  free((void *)pods);
  for (; active < want; active++) {
    if (create_pod(sim, rs) != 0) break;
  }
}
