/* sim_workloads.c: the simulator's workload controllers: the VirtualMachine controller (run
 * strategies start and stop VMIs), the VMI controller (scheduling and the virt-launcher pod)
 * and the scheduler's node choice (reference kubevirt-migration.md §6: unschedulable nodes,
 * nodeSelector and required node affinity, NoSchedule/NoExecute taints, CPU and memory requests
 * against allocatable; scoring by free memory (LowNodeUtilization), preferred affinity and
 * PreferNoSchedule taints). Runs from the simulator's work loop only; never calls Lua. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migration_config.h"
#include "selector.h"
#include "sim_internal.h"

#define LAUNCHER_START_MS 5000 /* default sim.vmrun.io/pod-start-seconds */

typedef struct requests {
  int64_t cpu_milli;
  int64_t memory;
} requests;

static int64_t quantity(const char *text, int scale) {
  int64_t v = 0;
  char err[128];
  if (text == NULL || vr_quantity_parse(text, scale, &v, err, sizeof err) != 0) return 0;
  return v;
}

static int64_t quantity_item(const cJSON *item, int scale) {
  char buf[64];
  if (cJSON_IsString(item)) return quantity(item->valuestring, scale);
  if (cJSON_IsNumber(item)) {
    snprintf(buf, sizeof buf, "%.0f", item->valuedouble);
    return quantity(buf, scale);
  }
  return 0;
}

/* What a VMI asks for: requests.memory (or domain.memory.guest), requests.cpu (or the vCPU
 * topology, one core each). */
static requests vmi_requests(const cJSON *vmi) { /* see sim_vmi_memory */
  requests r;
  const cJSON *domain = sim_path(vmi, "spec.domain");
  const cJSON *cpu = sim_path(domain, "cpu");
  r.memory = quantity_item(sim_path(domain, "resources.requests.memory"), 0);
  if (r.memory == 0) r.memory = quantity_item(sim_path(domain, "memory.guest"), 0);
  r.cpu_milli = quantity_item(sim_path(domain, "resources.requests.cpu"), -3);
  if (r.cpu_milli == 0 && cpu != NULL) {
    int cores = cJSON_IsNumber(sim_path(cpu, "cores")) ? sim_path(cpu, "cores")->valueint : 1;
    int sockets = cJSON_IsNumber(sim_path(cpu, "sockets")) ? sim_path(cpu, "sockets")->valueint : 1;
    int threads = cJSON_IsNumber(sim_path(cpu, "threads")) ? sim_path(cpu, "threads")->valueint : 1;
    r.cpu_milli = (int64_t)cores * sockets * threads * 1000;
  }
  return r;
}

static requests pod_requests(const cJSON *pod) {
  requests r = {0, 0};
  const cJSON *c;
  cJSON_ArrayForEach(c, sim_path(pod, "spec.containers")) {
    r.cpu_milli += quantity_item(sim_path(c, "resources.requests.cpu"), -3);
    r.memory += quantity_item(sim_path(c, "resources.requests.memory"), 0);
  }
  return r;
}

static int pod_terminal(const cJSON *pod) {
  const char *phase = sim_string(pod, "status.phase");
  return phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0);
}

static int node_ready(const cJSON *node) {
  const cJSON *c;
  cJSON_ArrayForEach(c, sim_path(node, "status.conditions")) {
    const char *type = sim_string(c, "type"), *status = sim_string(c, "status");
    if (type && strcmp(type, "Ready") == 0) return status && strcmp(status, "True") == 0;
  }
  return 1; /* a node without conditions in a cluster file counts as Ready */
}

/* Free resources of a node: allocatable (or capacity) minus the requests of its pods. */
/* --- resource accounting: requests of the live pods on each node, kept up to date from the pod
 * watch so that scheduling does not rescan every pod (sim_account_pod). */

typedef struct pod_usage {
  char node[254];
  requests req;
} pod_usage;

static requests *node_usage(vr_sim *sim, const char *node, int create) {
  requests *u = vr_strmap_get(&sim->node_usage, node);
  if (u != NULL || !create) return u;
  u = calloc(1, sizeof *u);
  if (u != NULL && vr_strmap_put(&sim->node_usage, node, u) != 0) {
    free(u);
    u = NULL;
  }
  return u;
}

void sim_account_pod(vr_sim *sim, int deleted, const cJSON *pod) {
  char key[520];
  const char *node = sim_string(pod, "spec.nodeName");
  pod_usage *old;
  snprintf(key, sizeof key, "%s" SIM_SEP "%s", sim_string(pod, "metadata.namespace"),
           sim_string(pod, "metadata.name"));
  old = vr_strmap_remove(&sim->pod_usage, key);
  if (old != NULL) { /* take its previous contribution back */
    requests *u = node_usage(sim, old->node, 0);
    if (u) {
      u->cpu_milli -= old->req.cpu_milli;
      u->memory -= old->req.memory;
    }
    free(old);
  }
  if (deleted || node == NULL || pod_terminal(pod)) return;
  old = calloc(1, sizeof *old);
  if (old == NULL) return;
  snprintf(old->node, sizeof old->node, "%s", node);
  old->req = pod_requests(pod);
  if (vr_strmap_put(&sim->pod_usage, key, old) != 0) {
    free(old);
    return;
  }
  {
    requests *u = node_usage(sim, node, 1);
    if (u) {
      u->cpu_milli += old->req.cpu_milli;
      u->memory += old->req.memory;
    }
  }
}

void sim_free_accounting(vr_sim *sim) {
  size_t pos = 0;
  void *v;
  while (vr_strmap_next(&sim->pod_usage, &pos, NULL, &v)) free(v);
  pos = 0;
  while (vr_strmap_next(&sim->node_usage, &pos, NULL, &v)) free(v);
  vr_strmap_clear(&sim->pod_usage);
  vr_strmap_clear(&sim->node_usage);
}

/* The nodes sorted by name with their parsed allocatable resources, rebuilt after any node
 * changed (the node watch clears it), so scheduling does not re-list and re-parse per VMI. */
struct sim_node_cache {
  size_t count;
  const cJSON **nodes;
  requests *alloc;
  char *ready; /* node_ready() of each */
};

void sim_node_cache_clear(vr_sim *sim) {
  if (sim->node_cache == NULL) return;
  free((void *)sim->node_cache->nodes);
  free(sim->node_cache->alloc);
  free(sim->node_cache->ready);
  free(sim->node_cache);
  sim->node_cache = NULL;
}

static sim_node_cache *node_cache(vr_sim *sim) {
  sim_node_cache *c;
  size_t i;
  if (sim->node_cache != NULL) return sim->node_cache;
  c = calloc(1, sizeof *c);
  if (c == NULL) return NULL;
  c->count = vr_store_list(sim->store, "", "Node", NULL, NULL, &c->nodes);
  if (c->count == (size_t)-1) {
    free(c);
    return NULL;
  }
  c->alloc = calloc(c->count + 1, sizeof *c->alloc);
  c->ready = calloc(c->count + 1, 1);
  if (c->alloc == NULL || c->ready == NULL) {
    free((void *)c->nodes);
    free(c->alloc);
    free(c->ready);
    free(c);
    return NULL;
  }
  for (i = 0; i < c->count; i++) {
    const cJSON *alloc = sim_path(c->nodes[i], "status.allocatable");
    c->ready[i] = (char)node_ready(c->nodes[i]);
    if (alloc == NULL) alloc = sim_path(c->nodes[i], "status.capacity");
    if (alloc == NULL) { /* a node file without resources: treat as unlimited */
      c->alloc[i].cpu_milli = INT64_MAX / 4;
      c->alloc[i].memory = INT64_MAX / 4;
    } else {
      c->alloc[i].cpu_milli = quantity_item(sim_path(alloc, "cpu"), -3);
      c->alloc[i].memory = quantity_item(sim_path(alloc, "memory"), 0);
    }
  }
  sim->node_cache = c;
  return c;
}

/* Free resources of the i-th cached node: allocatable minus the requests of its live pods. */
static requests node_free(vr_sim *sim, const sim_node_cache *c, size_t i) {
  requests r = c->alloc[i];
  const requests *used = node_usage(sim, sim_string(c->nodes[i], "metadata.name"), 0);
  if (used != NULL) {
    r.cpu_milli -= used->cpu_milli;
    r.memory -= used->memory;
  }
  return r;
}

/* The scheduler's choice for a VMI, or NULL with the reasons in why ("0/3 nodes are available:
 * 1 node(s) were unschedulable, 2 node(s) had untolerated taint"). */
const cJSON *sim_pick_node(vr_sim *sim, const cJSON *vmi, const char *exclude, char *why,
                           size_t whylen) {
  const cJSON *spec = sim_path(vmi, "spec");
  const cJSON *tolerations = sim_path(spec, "tolerations");
  requests want = vmi_requests(vmi);
  const cJSON **nodes, *best = NULL;
  double best_score = -1e300;
  size_t n, i;
  int unschedulable = 0, selector = 0, tainted = 0, resources = 0, not_ready = 0, bad = 0;
  char err[256] = "";
  sim_node_cache *cache = node_cache(sim);
  if (cache == NULL) {
    snprintf(why, whylen, "out of memory");
    return NULL;
  }
  nodes = cache->nodes;
  n = cache->count;
  for (i = 0; i < n; i++) {
    const cJSON *node = nodes[i];
    vr_toleration_result taints;
    requests avail;
    long long pref;
    double score;
    int m;
    if (exclude != NULL && strcmp(exclude, sim_string(node, "metadata.name")) == 0) {
      selector++; /* the target pod's anti-affinity to the source node (§2.4) */
      continue;
    }
    if (!cache->ready[i]) {
      not_ready++;
      continue;
    }
    if (cJSON_IsTrue(sim_path(node, "spec.unschedulable"))) {
      static const char unsched[] =
          "[{\"key\":\"node.kubernetes.io/unschedulable\",\"effect\":\"NoSchedule\"}]";
      cJSON *t = cJSON_Parse(unsched);
      int ok = vr_tolerations_check(tolerations, t, VR_TAINT_FILTER, &taints, err, sizeof err);
      cJSON_Delete(t);
      if (ok != 1) {
        unschedulable++;
        continue;
      }
    }
    m = vr_node_matches_spec(spec, node, err, sizeof err);
    if (m < 0) {
      bad++;
      break;
    }
    if (m == 0) {
      selector++;
      continue;
    }
    m = vr_tolerations_check(tolerations, sim_path(node, "spec.taints"), VR_TAINT_FILTER, &taints,
                             err, sizeof err);
    if (m < 0) {
      bad++;
      break;
    }
    if (m == 0) {
      tainted++;
      continue;
    }
    avail = node_free(sim, cache, i);
    if (avail.cpu_milli < want.cpu_milli || avail.memory < want.memory) {
      resources++;
      continue;
    }
    /* LowNodeUtilization: prefer free memory (in GiB), then preferred affinity and fewer
     * untolerated PreferNoSchedule taints; ties go to the first node by name */
    pref = vr_node_preference_score(spec, node, err, sizeof err);
    score = (double)(avail.memory - want.memory) / (1024.0 * 1024 * 1024) + (pref > 0 ? pref : 0);
    if (vr_tolerations_check(tolerations, sim_path(node, "spec.taints"),
                             VR_TAINT_PREFER_NO_SCHEDULE, &taints, err, sizeof err) == 0) {
      score -= 100.0 * taints.untolerated;
    }
    if (score > best_score) {
      best_score = score;
      best = node;
    }
  }
  if (best == NULL) {
    if (bad) {
      snprintf(why, whylen, "the VMI's scheduling constraints are invalid: %s", err);
    } else {
      struct {
        int count;
        const char *text;
      } reasons[] = {{unschedulable, "node(s) were unschedulable"},
                     {selector, "node(s) didn't match Pod's node affinity/selector"},
                     {tainted, "node(s) had untolerated taint"},
                     {resources, "node(s) had insufficient cpu or memory"},
                     {not_ready, "node(s) were not ready"}};
      size_t used = (size_t)snprintf(why, whylen, "0/%zu nodes are available", n);
      int r, first = 1;
      for (r = 0; r < 5 && used < whylen; r++) {
        if (reasons[r].count == 0) continue;
        used += (size_t)snprintf(why + used, whylen - used, "%s %d %s", first ? ":" : ",",
                                 reasons[r].count, reasons[r].text);
        first = 0;
      }
      if (used < whylen) snprintf(why + used, whylen - used, ".");
    }
  }
  return best;
}

int64_t sim_vmi_memory(const cJSON *vmi) {
  return vmi_requests(vmi).memory;
}

/* --- VMI controller ------------------------------------------------------------------------- */

cJSON *sim_condition(const char *type, const char *status, const char *reason,
                     const char *message) {
  cJSON *c = cJSON_CreateObject();
  cJSON_AddStringToObject(c, "type", type);
  cJSON_AddStringToObject(c, "status", status);
  if (reason) cJSON_AddStringToObject(c, "reason", reason);
  if (message) cJSON_AddStringToObject(c, "message", message);
  return c;
}

/* Replaces the object (a modified copy); store errors are not expected here and are dropped:
 * the next reconcile retries from the store's state. */
void sim_save(vr_sim *sim, cJSON *copy) {
  vr_store_error err;
  vr_store_replace(sim->store, copy, 0, NULL, &err);
}

const cJSON *sim_launcher_pod(vr_sim *sim, const cJSON *vmi) {
  const char *uid = sim_string(vmi, "metadata.uid"), *node = sim_string(vmi, "status.nodeName");
  const cJSON **pods, *found = NULL;
  size_t n, i;
  n = vr_store_list(sim->store, "", "Pod", sim_string(vmi, "metadata.namespace"), node, &pods);
  if (n == (size_t)-1) return NULL;
  for (i = 0; i < n && found == NULL; i++) {
    const char *created_by = sim_string(pods[i], "metadata.labels.kubevirt.io/created-by");
    const cJSON *labels = sim_path(pods[i], "metadata.labels");
    const cJSON *cb = cJSON_GetObjectItemCaseSensitive(labels, "kubevirt.io/created-by");
    (void)created_by;
    if (cJSON_IsString(cb) && uid && strcmp(cb->valuestring, uid) == 0 && !pod_terminal(pods[i]))
      found = pods[i];
  }
  free((void *)pods);
  return found;
}

/* The virt-launcher pod of a VMI on its node (phase Pending until started, or Running). */
void sim_create_launcher(vr_sim *sim, const cJSON *vmi, const char *node, int running,
                         const char *migration_uid, char *name_out, size_t name_len) {
  static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  const char *ns = sim_string(vmi, "metadata.namespace"), *name = sim_string(vmi, "metadata.name");
  requests want = vmi_requests(vmi);
  char pod_name[300], buf[64];
  cJSON *pod = cJSON_CreateObject(), *meta, *labels, *owner, *owners, *container, *volumes;
  const char *volume_names[] = {"private",         "public",          "sockets", "libvirt-runtime",
                                "ephemeral-disks", "container-disks", NULL};
  vr_store_error err;
  int i;
  char suffix[6];
  for (i = 0; i < 5; i++) suffix[i] = alphabet[sim_random(sim) % (sizeof alphabet - 1)];
  suffix[5] = '\0';
  snprintf(pod_name, sizeof pod_name, "virt-launcher-%.230s-%s", name, suffix);
  cJSON_AddStringToObject(pod, "apiVersion", "v1");
  cJSON_AddStringToObject(pod, "kind", "Pod");
  meta = cJSON_AddObjectToObject(pod, "metadata");
  cJSON_AddStringToObject(meta, "name", pod_name);
  cJSON_AddStringToObject(meta, "namespace", ns);
  /* KubeVirt copies the VMI's labels to its pod (so PDBs and selectors on them work) */
  labels = sim_path(vmi, "metadata.labels") ? cJSON_Duplicate(sim_path(vmi, "metadata.labels"), 1)
                                            : cJSON_CreateObject();
  cJSON_AddItemToObject(meta, "labels", labels);
  cJSON_DeleteItemFromObjectCaseSensitive(labels, "kubevirt.io");
  cJSON_DeleteItemFromObjectCaseSensitive(labels, "kubevirt.io/created-by");
  cJSON_DeleteItemFromObjectCaseSensitive(labels, "vm.kubevirt.io/name");
  cJSON_AddStringToObject(labels, "kubevirt.io", "virt-launcher");
  cJSON_AddStringToObject(labels, "kubevirt.io/created-by", sim_string(vmi, "metadata.uid"));
  cJSON_AddStringToObject(labels, "vm.kubevirt.io/name", name);
  {
    cJSON *ann = cJSON_AddObjectToObject(meta, "annotations");
    const cJSON *a;
    cJSON_AddStringToObject(ann, "kubevirt.io/domain", name);
    cJSON_ArrayForEach(a, sim_path(vmi, "metadata.annotations")) { /* the simulation facts */
      if (a->string && strncmp(a->string, "sim.vmrun.io/", 13) == 0 && cJSON_IsString(a))
        cJSON_AddStringToObject(ann, a->string, a->valuestring);
    }
  }
  owners = cJSON_AddArrayToObject(meta, "ownerReferences");
  owner = cJSON_CreateObject();
  cJSON_AddStringToObject(owner, "apiVersion", "kubevirt.io/v1");
  cJSON_AddStringToObject(owner, "kind", "VirtualMachineInstance");
  cJSON_AddStringToObject(owner, "name", name);
  cJSON_AddStringToObject(owner, "uid", sim_string(vmi, "metadata.uid"));
  cJSON_AddBoolToObject(owner, "controller", 1);
  cJSON_AddBoolToObject(owner, "blockOwnerDeletion", 1);
  cJSON_AddItemToArray(owners, owner);
  cJSON_AddObjectToObject(pod, "spec");
  { /* the VMI's grace (default 30 s) + 30 s, as KubeVirt's pod template (§3.5) */
    const cJSON *grace = sim_path(vmi, "spec.terminationGracePeriodSeconds");
    double g = cJSON_IsNumber(grace) ? grace->valuedouble : 30;
    sim_set(pod, "spec.terminationGracePeriodSeconds", cJSON_CreateNumber(g + 30));
  }
  if (node != NULL) sim_set(pod, "spec.nodeName", cJSON_CreateString(node));
  if (migration_uid != NULL)
    cJSON_AddStringToObject(labels, "kubevirt.io/migrationJobUID", migration_uid);
  if (name_out != NULL) snprintf(name_out, name_len, "%s", pod_name);
  container = cJSON_CreateObject();
  cJSON_AddStringToObject(container, "name", "compute");
  cJSON_AddStringToObject(container, "image", "quay.io/kubevirt/virt-launcher");
  snprintf(buf, sizeof buf, "%lldm", (long long)want.cpu_milli);
  sim_set(container, "resources.requests.cpu", cJSON_CreateString(buf));
  snprintf(buf, sizeof buf, "%lld", (long long)want.memory);
  sim_set(container, "resources.requests.memory", cJSON_CreateString(buf));
  cJSON_AddItemToArray(cJSON_AddArrayToObject((cJSON *)sim_path(pod, "spec"), "containers"),
                       container);
  volumes = cJSON_AddArrayToObject((cJSON *)sim_path(pod, "spec"), "volumes");
  for (i = 0; volume_names[i]; i++) { /* virt-launcher pods always have emptyDirs (§4.1) */
    cJSON *v = cJSON_CreateObject();
    cJSON_AddStringToObject(v, "name", volume_names[i]);
    cJSON_AddObjectToObject(v, "emptyDir");
    cJSON_AddItemToArray(volumes, v);
  }
  sim_set(pod, "status.phase", cJSON_CreateString(running ? "Running" : "Pending"));
  vr_store_create(sim->store, pod, NULL, &err);
}

/* Ready and LiveMigratable (§3.6) on a running VMI (a modified copy). */
static void set_running_conditions(vr_sim *sim, cJSON *vmi) {
  char reason[64], message[400];
  cJSON *conditions = cJSON_CreateArray();
  cJSON_AddItemToArray(conditions, sim_condition("Ready", "True", NULL, NULL));
  if (sim_vmi_live_migratable(sim, vmi, reason, sizeof reason, message, sizeof message)) {
    cJSON_AddItemToArray(conditions, sim_condition("LiveMigratable", "True", NULL, NULL));
  } else {
    cJSON_AddItemToArray(conditions, sim_condition("LiveMigratable", "False", reason, message));
  }
  sim_set(vmi, "status.conditions", conditions);
}

/* The launcher pod started: pod Running, VMI Running. */
static void launcher_started(vr_sim *sim, const char *ns, const char *name) {
  const cJSON *vmi = vr_store_get(sim->store, "kubevirt.io", "VirtualMachineInstance", ns, name);
  const cJSON *pod;
  cJSON *copy;
  const char *phase;
  if (vmi == NULL) return;
  phase = sim_string(vmi, "status.phase");
  if (phase == NULL || strcmp(phase, "Scheduled") != 0) return;
  pod = sim_launcher_pod(sim, vmi);
  if (pod != NULL) {
    copy = cJSON_Duplicate(pod, 1);
    sim_set(copy, "status.phase", cJSON_CreateString("Running"));
    sim_save(sim, copy);
  }
  copy = cJSON_Duplicate(vmi, 1);
  sim_set(copy, "status.phase", cJSON_CreateString("Running"));
  set_running_conditions(sim, copy);
  sim_save(sim, copy);
}

uint64_t sim_pod_start_ms(const cJSON *vmi) {
  const cJSON *ann = sim_path(vmi, "metadata.annotations");
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(ann, "sim.vmrun.io/pod-start-seconds");
  double secs = cJSON_IsString(v) ? atof(v->valuestring) : LAUNCHER_START_MS / 1000.0;
  return secs < 0 ? 0 : (uint64_t)(secs * 1000.0 + 0.5);
}

void sim_reconcile_vmi(vr_sim *sim, const char *ns, const char *name) {
  const cJSON *vmi = vr_store_get(sim->store, "kubevirt.io", "VirtualMachineInstance", ns, name);
  const char *phase, *node_name;
  if (vmi == NULL) return;
  phase = sim_string(vmi, "status.phase");
  node_name = sim_string(vmi, "status.nodeName");
  if (phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0)) return;
  if (node_name == NULL) { /* schedule it */
    char why[512];
    const cJSON *node = sim_pick_node(sim, vmi, NULL, why, sizeof why);
    cJSON *copy = cJSON_Duplicate(vmi, 1), *conditions = cJSON_CreateArray();
    if (node == NULL) {
      const char *old = sim_string(vmi, "status.conditions");
      (void)old;
      sim_set(copy, "status.phase", cJSON_CreateString("Pending"));
      cJSON_AddItemToArray(conditions,
                           sim_condition("PodScheduled", "False", "Unschedulable", why));
      sim_set(copy, "status.conditions", conditions);
      if (!cJSON_Compare(copy, vmi, 1)) {
        sim_save(sim, copy);
      } else {
        cJSON_Delete(copy);
      }
      return;
    }
    cJSON_Delete(conditions);
    sim_set(copy, "status.nodeName", cJSON_CreateString(sim_string(node, "metadata.name")));
    sim_set(copy, "status.phase", cJSON_CreateString("Scheduled"));
    cJSON_DeleteItemFromObjectCaseSensitive((cJSON *)sim_path(copy, "status"), "conditions");
    sim_save(sim, copy);
    vmi = vr_store_get(sim->store, "kubevirt.io", "VirtualMachineInstance", ns, name);
    if (vmi == NULL) return;
    sim_create_launcher(sim, vmi, sim_string(vmi, "status.nodeName"), 0, NULL, NULL, 0);
    sim_after(sim, sim_pod_start_ms(vmi), launcher_started, ns, name);
    return;
  }
  if (phase && strcmp(phase, "Running") == 0 && sim_launcher_pod(sim, vmi) != NULL) {
    sim_evacuate_vmi(sim, vmi); /* marked by an eviction: migrate it away (§3.3) */
    return;
  }
  if (sim_launcher_pod(sim, vmi) == NULL) { /* its pod is gone: the VM went down with it */
    cJSON *copy = cJSON_Duplicate(vmi, 1);
    cJSON *conditions = cJSON_CreateArray();
    cJSON_AddItemToArray(conditions, sim_condition("Ready", "False", "PodTerminating",
                                                   "virt-launcher pod has been deleted"));
    sim_set(copy, "status.phase", cJSON_CreateString("Failed"));
    sim_set(copy, "status.conditions", conditions);
    sim_save(sim, copy);
  }
}

void sim_adopt_loaded(vr_sim *sim) {
  const cJSON **items;
  size_t n, i;
  /* the kubelet labels every node with its name */
  n = vr_store_list(sim->store, "", "Node", NULL, NULL, &items);
  for (i = 0; n != (size_t)-1 && i < n; i++) {
    const cJSON *labels = sim_path(items[i], "metadata.labels");
    if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(labels, "kubernetes.io/hostname"))) {
      cJSON *copy = cJSON_Duplicate(items[i], 1);
      cJSON *l = (cJSON *)sim_path(copy, "metadata.labels");
      if (!cJSON_IsObject(l)) {
        cJSON_DeleteItemFromObjectCaseSensitive((cJSON *)sim_path(copy, "metadata"), "labels");
        l = cJSON_AddObjectToObject((cJSON *)sim_path(copy, "metadata"), "labels");
      }
      cJSON_AddStringToObject(l, "kubernetes.io/hostname", sim_string(copy, "metadata.name"));
      sim_save(sim, copy);
    }
  }
  if (n != (size_t)-1) free((void *)items);
  n = vr_store_list(sim->store, "kubevirt.io", "VirtualMachineInstance", NULL, NULL, &items);
  if (n == (size_t)-1) return;
  for (i = 0; i < n; i++) {
    const cJSON *vmi = items[i];
    const char *phase = sim_string(vmi, "status.phase");
    int running = phase == NULL || strcmp(phase, "Running") == 0;
    if (sim_string(vmi, "status.nodeName") == NULL) continue;
    if (phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0)) continue;
    if (sim_launcher_pod(sim, vmi) == NULL)
      sim_create_launcher(sim, vmi, sim_string(vmi, "status.nodeName"), running, NULL, NULL, 0);
    if (running && sim_path(vmi, "status.conditions") == NULL) {
      cJSON *copy = cJSON_Duplicate(vmi, 1);
      sim_set(copy, "status.phase", cJSON_CreateString("Running"));
      set_running_conditions(sim, copy);
      sim_save(sim, copy);
    } else if (!running) {
      sim_after(sim, sim_pod_start_ms(vmi), launcher_started, sim_string(vmi, "metadata.namespace"),
                sim_string(vmi, "metadata.name"));
    }
  }
  free((void *)items);
}

/* --- VM controller (run strategies, reference §3.5) ----------------------------------------- */

static const char *run_strategy(const cJSON *vm) {
  const char *s = sim_string(vm, "spec.runStrategy");
  const cJSON *running = sim_path(vm, "spec.running");
  if (s) return s;
  if (cJSON_IsBool(running)) return cJSON_IsTrue(running) ? "Always" : "Halted";
  return "Halted";
}

static void create_vmi(vr_sim *sim, const cJSON *vm) {
  const cJSON *tmpl = sim_path(vm, "spec.template");
  cJSON *vmi = cJSON_CreateObject(), *meta, *owner, *owners;
  vr_store_error err;
  cJSON_AddStringToObject(vmi, "apiVersion", "kubevirt.io/v1");
  cJSON_AddStringToObject(vmi, "kind", "VirtualMachineInstance");
  meta = cJSON_Duplicate(sim_path(tmpl, "metadata"), 1);
  if (meta == NULL) meta = cJSON_CreateObject();
  cJSON_AddItemToObject(vmi, "metadata", meta);
  sim_set(vmi, "metadata.name", cJSON_CreateString(sim_string(vm, "metadata.name")));
  sim_set(vmi, "metadata.namespace", cJSON_CreateString(sim_string(vm, "metadata.namespace")));
  owners = cJSON_CreateArray();
  owner = cJSON_CreateObject();
  cJSON_AddStringToObject(owner, "apiVersion", "kubevirt.io/v1");
  cJSON_AddStringToObject(owner, "kind", "VirtualMachine");
  cJSON_AddStringToObject(owner, "name", sim_string(vm, "metadata.name"));
  cJSON_AddStringToObject(owner, "uid", sim_string(vm, "metadata.uid"));
  cJSON_AddBoolToObject(owner, "controller", 1);
  cJSON_AddItemToArray(owners, owner);
  sim_set(vmi, "metadata.ownerReferences", owners);
  cJSON_AddItemToObject(vmi, "spec",
                        sim_path(tmpl, "spec") ? cJSON_Duplicate(sim_path(tmpl, "spec"), 1)
                                               : cJSON_CreateObject());
  sim_set(vmi, "status.phase", cJSON_CreateString("Pending"));
  vr_store_create(sim->store, vmi, NULL, &err);
}

static void set_vm_status(vr_sim *sim, const cJSON *vm, const char *printable, int ready) {
  const char *old = sim_string(vm, "status.printableStatus");
  cJSON *copy;
  if (old && strcmp(old, printable) == 0 && cJSON_IsTrue(sim_path(vm, "status.ready")) == ready)
    return;
  copy = cJSON_Duplicate(vm, 1);
  sim_set(copy, "status.printableStatus", cJSON_CreateString(printable));
  sim_set(copy, "status.ready", cJSON_CreateBool(ready));
  sim_save(sim, copy);
}

void sim_reconcile_vm(vr_sim *sim, const char *ns, const char *name) {
  const cJSON *vm = vr_store_get(sim->store, "kubevirt.io", "VirtualMachine", ns, name);
  const cJSON *vmi = vr_store_get(sim->store, "kubevirt.io", "VirtualMachineInstance", ns, name);
  const char *strategy, *phase;
  vr_store_error err;
  if (vm == NULL) return;
  strategy = run_strategy(vm);
  phase = vmi ? sim_string(vmi, "status.phase") : NULL;
  if (vmi != NULL && phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0)) {
    /* Always restarts a finished VMI; RerunOnFailure only a failed one (§3.5) */
    if (strcmp(strategy, "Always") == 0 ||
        (strcmp(strategy, "RerunOnFailure") == 0 && strcmp(phase, "Failed") == 0)) {
      vr_store_delete(sim->store, "kubevirt.io", "VirtualMachineInstance", ns, name, &err);
      vmi = NULL;
    } else {
      set_vm_status(sim, vm, "Stopped", 0);
      return;
    }
  }
  if (vmi == NULL) {
    if (strcmp(strategy, "Always") == 0 || strcmp(strategy, "RerunOnFailure") == 0 ||
        (strcmp(strategy, "Once") == 0 && !cJSON_IsTrue(sim_path(vm, "status.sim.vmrun.io/ran")))) {
      create_vmi(sim, vm);
      set_vm_status(sim, vm, "Starting", 0);
    } else {
      set_vm_status(sim, vm, "Stopped", 0);
    }
    return;
  }
  if (strcmp(strategy, "Halted") == 0) { /* stop it */
    vr_store_delete(sim->store, "kubevirt.io", "VirtualMachineInstance", ns, name, &err);
    set_vm_status(sim, vm, "Stopped", 0);
    return;
  }
  if (phase && strcmp(phase, "Running") == 0) {
    set_vm_status(sim, vm, "Running", 1);
  } else if (phase && strcmp(phase, "Pending") == 0 && sim_path(vmi, "status.conditions")) {
    set_vm_status(sim, vm, "ErrorUnschedulable", 0);
  } else {
    set_vm_status(sim, vm, "Starting", 0);
  }
}
