/* sim_workloads.c: the simulator's workload controllers: the VirtualMachine controller (run
 * strategies start and stop VMIs), the VMI controller (scheduling and the virt-launcher pod)
 * and the scheduler's node choice (reference kubevirt-migration.md §6): filters (unschedulable
 * nodes, NoSchedule/NoExecute taints, nodeSelector and required node affinity, CPU and memory
 * requests against allocatable) over a rotating sample of the nodes as kube-scheduler's
 * percentageOfNodesToScore, and scoring by the OpenShift scheduler profile (LowNodeUtilization,
 * HighNodeUtilization, NoScoring) with preferred affinity and PreferNoSchedule taints; the
 * virt-launcher pod's memory request includes KubeVirt's overhead, and a VMI that names no CPU
 * gets KubeVirt's share of one (cpuAllocationRatio). Runs from the simulator's work loop only;
 * never calls Lua; never writes Nodes. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migration_config.h"
#include "pod_requests.h"
#include "selector.h"
#include "sim_internal.h"

typedef vr_requests requests;

/* What a VMI asks for itself: requests.memory (or domain.memory.guest), and requests.cpu (or
 * limits.cpu, which Kubernetes copies into a missing request); cpu_milli 0 when it names no CPU
 * (launcher_requests then applies KubeVirt's allocation ratio). */
static requests vmi_requests(const cJSON *vmi) { /* see sim_vmi_memory */
  requests r;
  const cJSON *domain = sim_path(vmi, "spec.domain");
  r.memory = vr_quantity_item(sim_path(domain, "resources.requests.memory"), 0);
  if (r.memory == 0) r.memory = vr_quantity_item(sim_path(domain, "memory.guest"), 0);
  r.cpu_milli = vr_quantity_item(sim_path(domain, "resources.requests.cpu"), -3);
  if (r.cpu_milli == 0)
    r.cpu_milli = vr_quantity_item(sim_path(domain, "resources.limits.cpu"), -3);
  return r;
}

/* --- virt-launcher memory overhead ------------------------------------------------------------
 * KubeVirt's GetMemoryOverhead (pkg/virt-controller/services, KVM on x86-64): the memory the
 * virt-launcher pod requests beyond the guest's. */

#define MIB ((int64_t)1024 * 1024)

static int64_t vcpu_count(const cJSON *domain) {
  const cJSON *cpu = sim_path(domain, "cpu");
  int64_t n;
  if (cJSON_IsObject(cpu)) { /* cores x sockets x threads, each at least 1 */
    static const char *const parts[] = {"cores", "sockets", "threads"};
    size_t i;
    n = 1;
    for (i = 0; i < 3; i++) {
      const cJSON *v = sim_path(cpu, parts[i]);
      if (cJSON_IsNumber(v) && v->valuedouble >= 1) n *= (int64_t)v->valuedouble;
    }
    return n;
  }
  n = vr_quantity_item(sim_path(domain, "resources.limits.cpu"), -3);
  if (n == 0) n = vr_quantity_item(sim_path(domain, "resources.requests.cpu"), -3);
  n = (n + 999) / 1000; /* whole CPUs, rounded up */
  return n < 1 ? 1 : n;
}

int64_t sim_vmi_vcpus(const cJSON *vmi) {
  return vcpu_count(sim_path(vmi, "spec.domain"));
}

static int has_items(const cJSON *v) {
  return cJSON_GetArraySize(v) > 0;
}

/* The cluster settings the virt-launcher pod's requests depend on. overhead: the KubeVirt CR's
 * spec.configuration.additionalGuestMemoryOverheadRatio (1: none). It is not one of the
 * HyperConverged fields of §1.2: under HCO it reaches the KubeVirt CR through the
 * kubevirt.kubevirt.io/jsonpatch annotation, so the KubeVirt CR is where it is read (as
 * migration_config.h reads the fields HCO does not expose). cpu_allocation: the KubeVirt CR's
 * spec.configuration.developerConfiguration.cpuAllocationRatio, or the HyperConverged CR's
 * spec.resourceRequirements.vmiCPUAllocationRatio (which HCO copies there), default 10: a VMI
 * that names no CPU request gets vCPUs / ratio (100m per vCPU). Read at node-cache build; the
 * KubeVirt and HyperConverged watches clear the cache. */
typedef struct launcher_ratios {
  double overhead, cpu_allocation;
} launcher_ratios;

static launcher_ratios read_launcher_ratios(vr_sim *sim) {
  const cJSON **crs = NULL, *v;
  size_t n = vr_store_list(sim->store, "kubevirt.io", "KubeVirt", NULL, NULL, &crs);
  launcher_ratios r = {1.0, 10.0};
  int cpu_set = 0;
  if (n != (size_t)-1 && n > 0) {
    const char *ratio = sim_string(crs[0], "spec.configuration.additionalGuestMemoryOverheadRatio");
    if (ratio != NULL && atof(ratio) >= 1.0) r.overhead = atof(ratio);
    v = sim_path(crs[0], "spec.configuration.developerConfiguration.cpuAllocationRatio");
    if (cJSON_IsNumber(v) && v->valuedouble > 0) r.cpu_allocation = v->valuedouble, cpu_set = 1;
  }
  if (n != (size_t)-1) free((void *)crs);
  crs = NULL;
  n = vr_store_list(sim->store, "hco.kubevirt.io", "HyperConverged", NULL, NULL, &crs);
  if (!cpu_set && n != (size_t)-1 && n > 0) {
    v = sim_path(crs[0], "spec.resourceRequirements.vmiCPUAllocationRatio");
    if (cJSON_IsNumber(v) && v->valuedouble > 0) r.cpu_allocation = v->valuedouble;
  }
  if (n != (size_t)-1) free((void *)crs);
  return r;
}

/* ratio: read_launcher_ratios's overhead. */
static int64_t launcher_overhead(const cJSON *vmi, double ratio) {
  const cJSON *domain = sim_path(vmi, "spec.domain"), *devices = sim_path(domain, "devices"), *v;
  int64_t memory = vmi_requests(vmi).memory, o;
  /* page tables: one byte per 512 bytes of guest memory (counted in whole kB) */
  o = (memory + 999) / 1000 * 1000 / 512;
  o += (25 + 100 + 25 + 40 + 30) * MIB; /* virt-launcher-monitor, virt-launcher, virtlogd,
                                          virtqemud, qemu */
  o += 8 * MIB * vcpu_count(domain);    /* per vCPU */
  o += 8 * MIB;                         /* the IOThread */
  if (!cJSON_IsFalse(sim_path(devices, "autoattachGraphicsDevice"))) o += 32 * MIB; /* video */
  if (has_items(sim_path(devices, "hostDevices")) || has_items(sim_path(devices, "gpus")))
    o += 1024 * MIB; /* VFIO: guest RAM locked plus MMIO space */
  cJSON_ArrayForEach(v, sim_path(vmi, "spec.volumes")) {
    if (sim_path(v, "downwardMetrics") != NULL) {
      o += MIB;
      break;
    }
  }
  if (sim_path(vmi, "spec.livenessProbe.exec") != NULL) o += 10 * MIB;
  if (sim_path(vmi, "spec.readinessProbe.exec") != NULL) o += 10 * MIB;
  if (sim_path(vmi, "spec.livenessProbe.exec") != NULL ||
      sim_path(vmi, "spec.readinessProbe.exec") != NULL)
    o += 100 * MIB; /* the virt-probe binary */
  if (sim_path(domain, "launchSecurity.sev") != NULL ||
      sim_path(domain, "launchSecurity.snp") != NULL)
    o += 256 * MIB;
  if (cJSON_IsObject(sim_path(devices, "tpm")) && !cJSON_IsFalse(sim_path(devices, "tpm.enabled")))
    o += 53 * MIB; /* swtpm */
  if (cJSON_IsTrue(sim_path(domain, "cpu.dedicatedCpuPlacement"))) o += 100 * MIB;
  /* KubeVirt CR spec.configuration.additionalGuestMemoryOverheadRatio multiplies the total */
  if (ratio > 1.0) o += (int64_t)((double)((o + 999) / 1000) * (ratio - 1.0)) * 1000;
  return o;
}

static launcher_ratios cached_launcher_ratios(vr_sim *sim);

/* What the VMI's virt-launcher pod requests: the VMI's own requests plus the overhead (left out
 * of the request with spec.domain.resources.overcommitGuestOverhead); with no CPU named, one
 * CPU per vCPU with dedicatedCpuPlacement, else vCPUs / cpuAllocationRatio (KubeVirt's
 * renderLaunchManifest), rounded up to a millicore as the scheduler counts it. */
static requests launcher_requests(vr_sim *sim, const cJSON *vmi) {
  const char *uid = sim_string(vmi, "metadata.uid");
  const char *rv = sim_string(vmi, "metadata.resourceVersion");
  launcher_ratios ratios = cached_launcher_ratios(sim);
  double ratio = ratios.overhead;
  int memo = uid != NULL && rv != NULL && strlen(uid) < sizeof sim->launcher_memo.uid &&
             strlen(rv) < sizeof sim->launcher_memo.resource_version;
  requests r;
  /* a version of an object is one (uid, resourceVersion): scheduling a VMI and creating its
   * pod ask for the same answer, computed once */
  if (memo && strcmp(uid, sim->launcher_memo.uid) == 0 &&
      strcmp(rv, sim->launcher_memo.resource_version) == 0 &&
      ratio == sim->launcher_memo.overhead_ratio &&
      ratios.cpu_allocation == sim->launcher_memo.cpu_allocation_ratio) {
    r.cpu_milli = sim->launcher_memo.cpu_milli;
    r.memory = sim->launcher_memo.memory;
    return r;
  }
  r = vmi_requests(vmi);
  if (r.cpu_milli == 0) {
    const cJSON *domain = sim_path(vmi, "spec.domain");
    int64_t vcpus = vcpu_count(domain);
    r.cpu_milli = cJSON_IsTrue(sim_path(domain, "cpu.dedicatedCpuPlacement"))
                      ? vcpus * 1000
                      : (int64_t)ceil((double)vcpus * 1000.0 / ratios.cpu_allocation);
  }
  if (!cJSON_IsTrue(sim_path(vmi, "spec.domain.resources.overcommitGuestOverhead")))
    r.memory += launcher_overhead(vmi, ratio);
  if (memo) {
    strcpy(sim->launcher_memo.uid, uid);
    strcpy(sim->launcher_memo.resource_version, rv);
    sim->launcher_memo.overhead_ratio = ratio;
    sim->launcher_memo.cpu_allocation_ratio = ratios.cpu_allocation;
    sim->launcher_memo.cpu_milli = r.cpu_milli;
    sim->launcher_memo.memory = r.memory;
  }
  return r;
}

static int pod_terminal(const cJSON *pod) {
  const char *phase = sim_string(pod, "status.phase");
  return phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0);
}

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
  sim_key(key, sizeof key, sim_string(pod, "metadata.namespace"), sim_string(pod, "metadata.name"));
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
  old->req = vr_pod_requests(pod);
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

/* --- the scheduler ----------------------------------------------------------------------------
 * kube-scheduler's cycle for one pod (reference §6): filter the nodes in the scheduler's order
 * starting from a rotating index until percentageOfNodesToScore of them are found feasible, then
 * score those by the cluster's scheduler profile and take the best. */

typedef struct cached_node {
  const char *name;
  const char *hostname; /* its kubernetes.io/hostname label, or NULL */
  const cJSON *node;
  const cJSON *taints;  /* spec.taints, or owned_taints, or NULL */
  cJSON *owned_taints;  /* the taints the node-lifecycle controller is about to set, or NULL */
  requests alloc;       /* allocatable (or capacity) */
  requests *used;       /* its entry in sim->node_usage (owned there), or NULL */
  uint64_t labels_hash; /* of metadata.labels: the memo and the order hold while it stays */
  char unschedulable;
  char filter_taints; /* has NoSchedule or NoExecute taints */
  char prefer_taints; /* has PreferNoSchedule taints */
} cached_node;

/* The nodes in the scheduler's order, with what the filters read parsed once. A node whose
 * labels stay is updated in place (sim_node_cache_update); a node added, deleted or relabelled
 * and a KubeVirt/HyperConverged CR change rebuild it (their watches clear it). The order is
 * kube-scheduler's node tree: zones (region and zone labels) in the order of their first node by
 * name, taking one node of each zone in turn, by name within a zone. */
struct sim_node_cache {
  size_t count;
  cached_node *nodes;
  vr_strmap positions; /* node name -> (uintptr_t) its index in nodes + 1 */
  size_t *feasible;    /* scratch space of one scheduling cycle: count + 1 entries each */
  int64_t *affinity, *taint_counts;
  cJSON *unschedulable;   /* [{key: node.kubernetes.io/unschedulable, effect: NoSchedule}] */
  launcher_ratios ratios; /* read at build (read_launcher_ratios) */
  /* per distinct node constraint of the VMIs (its JSON text): "R..." -> char[count], whether
   * each node matches nodeSelector and required affinity; "P..." -> long long[count], each
   * node's preferred-affinity weight. Owned; most VMIs share a few constraints. */
  vr_strmap memo;
};

void sim_node_cache_clear(vr_sim *sim) {
  size_t pos = 0, i;
  void *v;
  if (sim->node_cache == NULL) return;
  while (vr_strmap_next(&sim->node_cache->memo, &pos, NULL, &v)) free(v);
  vr_strmap_clear(&sim->node_cache->memo);
  for (i = 0; sim->node_cache->nodes != NULL && i < sim->node_cache->count; i++)
    cJSON_Delete(sim->node_cache->nodes[i].owned_taints);
  free(sim->node_cache->nodes);
  free(sim->node_cache->feasible);
  free(sim->node_cache->affinity);
  free(sim->node_cache->taint_counts);
  vr_strmap_clear(&sim->node_cache->positions);
  cJSON_Delete(sim->node_cache->unschedulable);
  free(sim->node_cache);
  sim->node_cache = NULL;
}

static const char *label(const cJSON *node, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(sim_path(node, "metadata.labels"), key);
  return cJSON_IsString(v) ? v->valuestring : "";
}

/* FNV-1a over the label keys and values in their order. */
static uint64_t labels_hash(const cJSON *node) {
  uint64_t h = 1469598103934665603ull;
  const cJSON *l;
  cJSON_ArrayForEach(l, sim_path(node, "metadata.labels")) {
    const char *parts[2] = {l->string ? l->string : "", cJSON_IsString(l) ? l->valuestring : ""};
    int i;
    for (i = 0; i < 2; i++) {
      const unsigned char *p = (const unsigned char *)parts[i];
      do {
        h = (h ^ *p) * 1099511628211ull;
      } while (*p++ != '\0');
    }
  }
  return h;
}

static void cache_node(vr_sim *sim, cached_node *c, const cJSON *node) {
  const cJSON *alloc = sim_path(node, "status.allocatable"), *t;
  memset(c, 0, sizeof *c);
  c->node = node;
  c->labels_hash = labels_hash(node);
  c->name = sim_string(node, "metadata.name");
  if (c->name == NULL) c->name = "";
  c->hostname = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
      sim_path(node, "metadata.labels"), "kubernetes.io/hostname"));
  /* readiness, pressure and cordon act through the node-lifecycle taints only (§6.1, §6.3); a
   * node whose state changed before that controller ran is judged by the taints it will get */
  c->owned_taints = sim_node_pending_taints(sim, node);
  c->taints = c->owned_taints ? c->owned_taints : sim_path(node, "spec.taints");
  c->unschedulable = (char)cJSON_IsTrue(sim_path(node, "spec.unschedulable"));
  c->used = node_usage(sim, c->name, 1);
  cJSON_ArrayForEach(t, c->taints) {
    const char *effect = sim_string(t, "effect");
    if (effect && strcmp(effect, "PreferNoSchedule") == 0) {
      c->prefer_taints = 1;
    } else {
      c->filter_taints = 1; /* malformed taints too: the filter reports them */
    }
  }
  if (alloc == NULL) alloc = sim_path(node, "status.capacity");
  if (alloc == NULL) { /* a node file without resources: treat as unlimited */
    c->alloc.cpu_milli = INT64_MAX / 4;
    c->alloc.memory = INT64_MAX / 4;
  } else {
    c->alloc.cpu_milli = vr_quantity_item(sim_path(alloc, "cpu"), -3);
    c->alloc.memory = vr_quantity_item(sim_path(alloc, "memory"), 0);
  }
}

/* Fills order[] with the store's node indices in node-tree order (zones interleaved). */
static int zone_order(const cJSON **list, size_t n, size_t *order) {
  vr_strmap zones;
  size_t *zone_of = calloc(n + 1, sizeof *zone_of), *first = NULL, *next = NULL, *cursor = NULL;
  size_t nzones = 0, i, done = 0;
  int rc = -1;
  vr_strmap_init(&zones);
  if (zone_of == NULL) return -1;
  for (i = 0; i < n; i++) {
    char key[600];
    const char *region = label(list[i], "topology.kubernetes.io/region");
    const char *zone = label(list[i], "topology.kubernetes.io/zone");
    void *found;
    if (region[0] == '\0') region = label(list[i], "failure-domain.beta.kubernetes.io/region");
    if (zone[0] == '\0') zone = label(list[i], "failure-domain.beta.kubernetes.io/zone");
    snprintf(key, sizeof key, "%s:\x1f:%s", region, zone);
    found = vr_strmap_get(&zones, key);
    if (found == NULL) {
      found = (void *)(uintptr_t)(++nzones);
      if (vr_strmap_put(&zones, key, found) != 0) goto out;
    }
    zone_of[i] = (size_t)(uintptr_t)found - 1;
  }
  /* per zone, its nodes in name order as a linked list: first[z], next[i] */
  first = malloc((nzones + 1) * sizeof *first);
  cursor = malloc((nzones + 1) * sizeof *cursor);
  next = malloc((n + 1) * sizeof *next);
  if (first == NULL || cursor == NULL || next == NULL) goto out;
  for (i = 0; i < nzones; i++) first[i] = cursor[i] = SIZE_MAX;
  for (i = n; i-- > 0;) {
    next[i] = first[zone_of[i]];
    first[zone_of[i]] = i;
  }
  for (i = 0; i < nzones; i++) cursor[i] = first[i];
  while (done < n) {
    for (i = 0; i < nzones; i++) {
      if (cursor[i] == SIZE_MAX) continue;
      order[done++] = cursor[i];
      cursor[i] = next[cursor[i]];
    }
  }
  rc = 0;
out:
  vr_strmap_clear(&zones);
  free(zone_of);
  free(first);
  free(next);
  free(cursor);
  return rc;
}

static sim_node_cache *node_cache(vr_sim *sim) {
  sim_node_cache *c;
  size_t *order, i;
  const cJSON **list;
  if (sim->node_cache != NULL) return sim->node_cache;
  c = calloc(1, sizeof *c);
  if (c == NULL) return NULL;
  vr_strmap_init(&c->positions);
  sim->node_cache = c; /* sim_node_cache_clear frees a partial one */
  c->count = vr_store_list(sim->store, "", "Node", NULL, NULL, &list);
  if (c->count == (size_t)-1) {
    c->count = 0;
    sim_node_cache_clear(sim);
    return NULL;
  }
  c->nodes = calloc(c->count + 1, sizeof *c->nodes);
  c->feasible = calloc(c->count + 1, sizeof *c->feasible);
  c->affinity = calloc(c->count + 1, sizeof *c->affinity);
  c->taint_counts = calloc(c->count + 1, sizeof *c->taint_counts);
  order = calloc(c->count + 1, sizeof *order);
  c->unschedulable =
      cJSON_Parse("[{\"key\":\"node.kubernetes.io/unschedulable\",\"effect\":\"NoSchedule\"}]");
  if (c->nodes == NULL || c->feasible == NULL || c->affinity == NULL || c->taint_counts == NULL ||
      order == NULL || c->unschedulable == NULL || zone_order(list, c->count, order) != 0) {
    free(order);
    free((void *)list);
    sim_node_cache_clear(sim);
    return NULL;
  }
  for (i = 0; i < c->count; i++) cache_node(sim, &c->nodes[i], list[order[i]]);
  free(order);
  free((void *)list);
  for (i = 0; i < c->count; i++) {
    if (vr_strmap_put(&c->positions, c->nodes[i].name, (void *)(uintptr_t)(i + 1)) != 0) {
      sim_node_cache_clear(sim);
      return NULL;
    }
  }
  c->ratios = read_launcher_ratios(sim);
  return c;
}

void sim_node_cache_update(vr_sim *sim, const cJSON *node) {
  sim_node_cache *c = sim->node_cache;
  const char *name = sim_string(node, "metadata.name");
  uintptr_t at;
  cached_node *entry;
  if (c == NULL) return;
  at = name ? (uintptr_t)vr_strmap_get(&c->positions, name) : 0;
  entry = at ? &c->nodes[at - 1] : NULL;
  if (entry == NULL || entry->labels_hash != labels_hash(node)) { /* order or memo may change */
    sim_node_cache_clear(sim);
    return;
  }
  cJSON_Delete(entry->owned_taints);
  cache_node(sim, entry, node);
}

/* The launcher ratios, from the node cache (read at its build) or, without one, from the CRs. */
static launcher_ratios cached_launcher_ratios(vr_sim *sim) {
  sim_node_cache *c = node_cache(sim);
  return c != NULL ? c->ratios : read_launcher_ratios(sim);
}

/* The memo key of a constraint: tag, then the JSON text of the parts (NULL when out of memory;
 * the caller frees it). */
static char *memo_key(char tag, const cJSON *a, const cJSON *b) {
  char *ta = a ? cJSON_PrintUnformatted(a) : NULL, *tb = b ? cJSON_PrintUnformatted(b) : NULL;
  size_t n = (ta ? strlen(ta) : 0) + (tb ? strlen(tb) : 0) + 4;
  char *key = malloc(n);
  if (key != NULL) snprintf(key, n, "%c%s\x1f%s", tag, ta ? ta : "", tb ? tb : "");
  cJSON_free(ta);
  cJSON_free(tb);
  return key;
}

/* Whether each cached node matches the spec's nodeSelector and required node affinity, from the
 * memo or computed once for all nodes; NULL when the constraint is malformed (the caller then
 * evaluates node by node, which reports the error) or out of memory. */
static const char *required_matches(sim_node_cache *c, const cJSON *spec) {
  char *key = memo_key('R', sim_path(spec, "nodeSelector"),
                       sim_path(spec, "affinity.nodeAffinity."
                                      "requiredDuringSchedulingIgnoredDuringExecution"));
  char *matches;
  size_t i;
  if (key == NULL) return NULL;
  matches = vr_strmap_get(&c->memo, key);
  if (matches != NULL || (matches = malloc(c->count + 1)) == NULL) {
    free(key);
    return matches;
  }
  for (i = 0; i < c->count; i++) {
    int m = vr_node_matches_spec(spec, c->nodes[i].node, NULL, 0);
    if (m < 0) break;
    matches[i] = (char)m;
  }
  if (i < c->count || vr_strmap_put(&c->memo, key, matches) != 0) {
    free(matches);
    matches = NULL;
  }
  free(key);
  return matches;
}

/* Each cached node's raw preferred-affinity score (0 for a malformed term), memoised. */
static const long long *preferred_scores(sim_node_cache *c, const cJSON *preferred,
                                         const cJSON *spec) {
  char *key = memo_key('P', preferred, NULL);
  long long *scores;
  size_t i;
  if (key == NULL) return NULL;
  scores = vr_strmap_get(&c->memo, key);
  if (scores != NULL || (scores = malloc((c->count + 1) * sizeof *scores)) == NULL) {
    free(key);
    return scores;
  }
  for (i = 0; i < c->count; i++) {
    long long a = vr_node_preference_score(spec, c->nodes[i].node, NULL, 0);
    scores[i] = a > 0 ? a : 0;
  }
  if (vr_strmap_put(&c->memo, key, scores) != 0) {
    free(scores);
    scores = NULL;
  }
  free(key);
  return scores;
}

/* The scheduler profile: config.openshift.io/v1 Scheduler "cluster", spec.profile. */
enum { PROFILE_LOW, PROFILE_HIGH, PROFILE_NONE };

static int scheduler_profile(vr_sim *sim) {
  const cJSON *s = vr_store_get(sim->store, "config.openshift.io", "Scheduler", NULL, "cluster");
  const char *p = sim_string(s, "spec.profile");
  if (p && strcmp(p, "HighNodeUtilization") == 0) return PROFILE_HIGH;
  if (p && strcmp(p, "NoScoring") == 0) return PROFILE_NONE;
  return PROFILE_LOW; /* the default, also for an unknown value */
}

/* numFeasibleNodesToFind with percentageOfNodesToScore unset (adaptive): all nodes below 100;
 * else 50% - nodes/125, at least 5%, at least 100 nodes. */
static size_t nodes_to_find(size_t n) {
  size_t pct, want;
  if (n < 100) return n;
  pct = n / 125 >= 45 ? 5 : 50 - n / 125;
  want = n * pct / 100;
  return want < 100 ? 100 : want;
}

/* (capacity - requested) * 100 / capacity, or requested * 100 / capacity for most = 1. */
static int64_t allocation_score(int64_t requested, int64_t capacity, int most) {
  double s;
  if (capacity <= 0) return 0;
  if (requested > capacity) requested = capacity;
  if (requested < 0) requested = 0;
  s = most ? (double)requested * 100.0 / (double)capacity
           : (double)(capacity - requested) * 100.0 / (double)capacity;
  return (int64_t)s;
}

static double fraction(int64_t requested, int64_t capacity) {
  double f = capacity > 0 ? (double)requested / (double)capacity : 1.0;
  return f > 1.0 ? 1.0 : f < 0 ? 0 : f;
}

/* Scores the feasible nodes (indices into c->nodes, in search order) and returns the position
 * of the best; ties go to the first in search order. */
static size_t best_node(sim_node_cache *c, const size_t *feasible, size_t n, const cJSON *spec,
                        requests want, int profile) {
  const cJSON *tolerations = sim_path(spec, "tolerations");
  const cJSON *preferred =
      sim_path(spec, "affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution");
  const long long *memo =
      cJSON_GetArraySize(preferred) > 0 ? preferred_scores(c, preferred, spec) : NULL;
  int prefers = cJSON_GetArraySize(preferred) > 0;
  int64_t *affinity = c->affinity, *taints = c->taint_counts; /* n <= c->count */
  int64_t max_affinity = 0, max_taints = 0, best_score = -1;
  size_t k, best = 0;
  memset(affinity, 0, n * sizeof *affinity);
  memset(taints, 0, n * sizeof *taints);
  for (k = 0; k < n; k++) { /* the raw scores to normalise: NodeAffinity, TaintToleration */
    const cached_node *node = &c->nodes[feasible[k]];
    if (prefers) {
      long long a = memo ? memo[feasible[k]] : vr_node_preference_score(spec, node->node, NULL, 0);
      affinity[k] = a > 0 ? a : 0;
      if (affinity[k] > max_affinity) max_affinity = affinity[k];
    }
    if (node->prefer_taints) {
      vr_toleration_result r;
      if (vr_tolerations_check(tolerations, node->taints, VR_TAINT_PREFER_NO_SCHEDULE, &r, NULL,
                               0) >= 0)
        taints[k] = (int64_t)r.untolerated;
      if (taints[k] > max_taints) max_taints = taints[k];
    }
  }
  for (k = 0; k < n; k++) {
    const cached_node *node = &c->nodes[feasible[k]];
    requests used = node->used ? *node->used : (requests){0, 0};
    int64_t cpu = used.cpu_milli + want.cpu_milli, memory = used.memory + want.memory;
    int64_t score;
    if (profile == PROFILE_HIGH) { /* NodeResourcesFit MostAllocated, weight 5 */
      score = 5 * ((allocation_score(cpu, node->alloc.cpu_milli, 1) +
                    allocation_score(memory, node->alloc.memory, 1)) /
                   2);
    } else { /* NodeResourcesFit LeastAllocated and NodeResourcesBalancedAllocation, weight 1 */
      double d = fraction(cpu, node->alloc.cpu_milli) - fraction(memory, node->alloc.memory);
      score = (allocation_score(cpu, node->alloc.cpu_milli, 0) +
               allocation_score(memory, node->alloc.memory, 0)) /
              2;
      score += (int64_t)((1.0 - (d < 0 ? -d : d) / 2.0) * 100.0);
    }
    /* NodeAffinity (weight 2) and TaintToleration (weight 3), normalised to 0-100 */
    if (max_affinity > 0) score += 2 * (affinity[k] * 100 / max_affinity);
    score += 3 * (max_taints > 0 ? 100 - taints[k] * 100 / max_taints : 100);
    if (score > best_score) {
      best_score = score;
      best = k;
    }
  }
  return best;
}

/* The scheduler's choice for a pod of the VMI needing `want`, or NULL with the reasons in why
 * ("0/3 nodes are available: 1 node(s) were unschedulable, 2 node(s) had untolerated taint"). */
static const cJSON *pick_node(vr_sim *sim, const cJSON *vmi, requests want, const char *exclude,
                              char *why, size_t whylen) {
  const cJSON *spec = sim_path(vmi, "spec");
  const cJSON *tolerations = sim_path(spec, "tolerations");
  int constrained = sim_path(spec, "nodeSelector") != NULL ||
                    sim_path(spec, "affinity.nodeAffinity."
                                   "requiredDuringSchedulingIgnoredDuringExecution") != NULL;
  int unschedulable = 0, selector = 0, tainted = 0, resources = 0, bad = 0;
  int tolerates_unschedulable, profile = scheduler_profile(sim);
  size_t n, k, start, to_find, found = 0, processed = 0, *feasible;
  uintptr_t excluded; /* the excluded node's position + 1, or 0 */
  const cJSON *best = NULL;
  char err[VR_SELECTOR_ERRLEN] = "";
  sim_node_cache *cache = node_cache(sim);
  const char *matches, *pinned;
  if (cache == NULL) {
    snprintf(why, whylen, "out of memory");
    return NULL;
  }
  n = cache->count;
  /* a pod pinned to one node by name (a migration's addedNodeSelector): no other node matches,
   * so only that one is checked, and the constraint is not memoised per node name */
  pinned = cJSON_GetStringValue(
      cJSON_GetObjectItemCaseSensitive(sim_path(spec, "nodeSelector"), "kubernetes.io/hostname"));
  matches = constrained && pinned == NULL ? required_matches(cache, spec) : NULL;
  tolerates_unschedulable = vr_tolerations_check(tolerations, cache->unschedulable, VR_TAINT_FILTER,
                                                 NULL, err, sizeof err);
  if (tolerates_unschedulable < 0) {
    snprintf(why, whylen, "the VMI's scheduling constraints are invalid: %s", err);
    return NULL;
  }
  to_find = nodes_to_find(n);
  feasible = cache->feasible; /* to_find <= n */
  start = n ? sim->sched_next_start % n : 0;
  excluded = exclude ? (uintptr_t)vr_strmap_get(&cache->positions, exclude) : 0;
  for (k = 0; k < n && found < to_find && !bad; k++) {
    size_t i = (start + k) % n;
    const cached_node *node = &cache->nodes[i];
    processed++;
    if (excluded == i + 1) {
      selector++; /* the target pod's anti-affinity to the source node (§2.4) */
      continue;
    }
    if (node->unschedulable && !tolerates_unschedulable) { /* NodeUnschedulable (§6.1) */
      unschedulable++;
      continue;
    }
    if (node->filter_taints) { /* TaintToleration: NoSchedule and NoExecute (§6.1, §6.3) */
      int m =
          vr_tolerations_check(tolerations, node->taints, VR_TAINT_FILTER, NULL, err, sizeof err);
      if (m < 0) {
        bad++;
        break;
      }
      if (m == 0) {
        tainted++;
        continue;
      }
    }
    if (constrained) { /* NodeAffinity: nodeSelector and required affinity (§6.1, §6.2) */
      int m;
      if (pinned != NULL && (node->hostname == NULL || strcmp(node->hostname, pinned) != 0)) {
        m = 0;
      } else {
        m = matches ? matches[i] : vr_node_matches_spec(spec, node->node, err, sizeof err);
      }
      if (m < 0) {
        bad++;
        break;
      }
      if (m == 0) {
        selector++;
        continue;
      }
    }
    { /* NodeResourcesFit */
      requests used = node->used ? *node->used : (requests){0, 0};
      if (node->alloc.cpu_milli - used.cpu_milli < want.cpu_milli ||
          node->alloc.memory - used.memory < want.memory) {
        resources++;
        continue;
      }
    }
    feasible[found++] = i;
  }
  if (n > 0) sim->sched_next_start = (start + processed) % n;
  if (found == 1 || (found > 0 && profile == PROFILE_NONE)) {
    best = cache->nodes[feasible[0]].node; /* NoScoring: the first feasible node */
  } else if (found > 1) {
    best = cache->nodes[feasible[best_node(cache, feasible, found, spec, want, profile)]].node;
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
                     {resources, "node(s) had insufficient cpu or memory"}};
      size_t used = (size_t)snprintf(why, whylen, "0/%zu nodes are available", n);
      int r, first = 1;
      for (r = 0; r < 4 && used < whylen; r++) {
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

const cJSON *sim_pick_node(vr_sim *sim, const cJSON *vmi, const char *exclude, char *why,
                           size_t whylen) {
  return pick_node(sim, vmi, launcher_requests(sim, vmi), exclude, why, whylen);
}

const cJSON *sim_pick_node_for_pod(vr_sim *sim, const cJSON *pod, int64_t cpu_milli, int64_t memory,
                                   char *why, size_t whylen) {
  requests want;
  want.cpu_milli = cpu_milli;
  want.memory = memory;
  return pick_node(sim, pod, want, NULL, why, whylen);
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
  sim->controller_writes++;
  vr_store_replace(sim->store, copy, 0, NULL, &err);
  sim->controller_writes--;
}

const cJSON *sim_launcher_pod(vr_sim *sim, const cJSON *vmi) {
  const char *uid = sim_string(vmi, "metadata.uid"), *node = sim_string(vmi, "status.nodeName");
  const cJSON **pods, *found = NULL;
  size_t n, i;
  if (uid == NULL) return NULL;
  n = vr_store_list_ref(sim->store, "", "Pod", sim_string(vmi, "metadata.namespace"), uid, &pods);
  if (n == (size_t)-1) return NULL;
  for (i = 0; i < n && found == NULL; i++) {
    const char *on = sim_string(pods[i], "spec.nodeName");
    if ((node == NULL || (on != NULL && strcmp(on, node) == 0)) && !pod_terminal(pods[i]))
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
  requests want = launcher_requests(sim, vmi);
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
  /* KubeVirt's pod template carries the VMI's placement; the API server's DefaultTolerationSeconds
   * admission adds the not-ready/unreachable tolerations (§6.3) */
  if (sim_path(vmi, "spec.nodeSelector") != NULL)
    sim_set(pod, "spec.nodeSelector", cJSON_Duplicate(sim_path(vmi, "spec.nodeSelector"), 1));
  if (sim_path(vmi, "spec.affinity") != NULL)
    sim_set(pod, "spec.affinity", cJSON_Duplicate(sim_path(vmi, "spec.affinity"), 1));
  sim_set(pod, "spec.tolerations", sim_default_tolerations(sim_path(vmi, "spec.tolerations")));
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
  sim_pod_set_phase(sim, pod, running ? "Running" : "Pending");
  sim->controller_writes++; /* built from the admitted VMI */
  vr_store_create(sim->store, pod, NULL, &err);
  sim->controller_writes--;
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

/* The launcher pod started: pod Running, VMI Running with the pod's address. */
static void launcher_started(vr_sim *sim, const char *ns, const char *name) {
  const cJSON *vmi = vr_store_get(sim->store, "kubevirt.io", "VirtualMachineInstance", ns, name);
  const cJSON *pod;
  cJSON *copy, *pod_copy = NULL;
  const char *phase;
  if (vmi == NULL) return;
  phase = sim_string(vmi, "status.phase");
  if (phase == NULL || strcmp(phase, "Scheduled") != 0) return;
  pod = sim_launcher_pod(sim, vmi);
  copy = cJSON_Duplicate(vmi, 1);
  sim_set(copy, "status.phase", cJSON_CreateString("Running"));
  set_running_conditions(sim, copy);
  if (pod != NULL) {
    pod_copy = cJSON_Duplicate(pod, 1);
    sim_pod_set_phase(sim, pod_copy, "Running");
  }
  sim_vmi_set_interfaces(copy, pod_copy);
  if (pod_copy != NULL) sim_save(sim, pod_copy); /* the pod first, as the kubelet reports it */
  sim_save(sim, copy);
}

uint64_t sim_pod_start_ms(const cJSON *vmi) {
  return sim_annotation_ms(vmi, "sim.vmrun.io/pod-start-seconds");
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
  /* the kubelet labels every node with its name and reports its addresses */
  n = vr_store_list(sim->store, "", "Node", NULL, NULL, &items);
  for (i = 0; n != (size_t)-1 && i < n; i++) {
    const cJSON *labels = sim_path(items[i], "metadata.labels");
    cJSON *copy = cJSON_Duplicate(items[i], 1);
    int changed = sim_node_fill_addresses(copy, i);
    changed |= sim_node_fill_ready(sim, copy);
    if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(labels, "kubernetes.io/hostname"))) {
      cJSON *l = (cJSON *)sim_path(copy, "metadata.labels");
      if (!cJSON_IsObject(l)) {
        cJSON_DeleteItemFromObjectCaseSensitive((cJSON *)sim_path(copy, "metadata"), "labels");
        l = cJSON_AddObjectToObject((cJSON *)sim_path(copy, "metadata"), "labels");
      }
      cJSON_AddStringToObject(l, "kubernetes.io/hostname", sim_string(copy, "metadata.name"));
      changed = 1;
    }
    if (changed) {
      sim_save(sim, copy); /* items[i] is freed: the loop reads only later items */
    } else {
      cJSON_Delete(copy);
    }
  }
  if (n != (size_t)-1) free((void *)items);
  /* the loaded pods on nodes get the addresses and container states their kubelet reports */
  n = vr_store_list(sim->store, "", "Pod", NULL, NULL, &items);
  for (i = 0; n != (size_t)-1 && i < n; i++) {
    cJSON *copy;
    /* (a write to a pod being deleted would end its deletion: sim_adopt_deleting lets it go) */
    if (sim_path(items[i], "metadata.deletionTimestamp") != NULL) continue;
    copy = cJSON_Duplicate(items[i], 1);
    if (sim_pod_fill_loaded(sim, copy)) {
      sim_save(sim, copy);
    } else {
      cJSON_Delete(copy);
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
    if (running && (sim_path(vmi, "status.conditions") == NULL ||
                    sim_path(vmi, "status.interfaces") == NULL)) {
      cJSON *copy = cJSON_Duplicate(vmi, 1);
      if (sim_path(vmi, "status.conditions") == NULL) {
        sim_set(copy, "status.phase", cJSON_CreateString("Running"));
        set_running_conditions(sim, copy);
      }
      if (sim_path(vmi, "status.interfaces") == NULL)
        sim_vmi_set_interfaces(copy, sim_launcher_pod(sim, vmi));
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
  sim->controller_writes++; /* the template was admitted with its VM (check_vm) */
  vr_store_create(sim->store, vmi, NULL, &err);
  sim->controller_writes--;
}

/* The VM's status: printableStatus and ready as decided, with created and the conditions
 * KubeVirt derives from its VMI as it is now (sim_vm_conditions). Written only on a change. */
static void set_vm_status(vr_sim *sim, const cJSON *vm, const char *printable, int ready) {
  const char *old = sim_string(vm, "status.printableStatus");
  const cJSON *vmi =
      vr_store_get(sim->store, "kubevirt.io", "VirtualMachineInstance",
                   sim_string(vm, "metadata.namespace"), sim_string(vm, "metadata.name"));
  cJSON *copy;
  int created = vmi != NULL;
  if (old && strcmp(old, printable) == 0 && cJSON_IsTrue(sim_path(vm, "status.ready")) == ready &&
      cJSON_IsTrue(sim_path(vm, "status.created")) == created &&
      sim_vm_conditions_current(sim_path(vm, "status.conditions"), vmi))
    return;
  copy = cJSON_Duplicate(vm, 1);
  sim_set(copy, "status.printableStatus", cJSON_CreateString(printable));
  sim_set(copy, "status.ready", cJSON_CreateBool(ready));
  sim_set(copy, "status.created", cJSON_CreateBool(created));
  sim_set(copy, "status.conditions", sim_vm_conditions(vmi));
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
