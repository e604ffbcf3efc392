/* kinds.c: the table of API resources vmrun knows (see kinds.h). */
#include "kinds.h"

#include "args.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

const vr_kind_info vr_known_kinds[] = {
    {"Namespace", "", "v1", "namespaces", "ns", 0},
    {"Node", "", "v1", "nodes", "no", 0},
    {"Pod", "", "v1", "pods", "po", 1},
    {"PersistentVolumeClaim", "", "v1", "persistentvolumeclaims", "pvc", 1},
    {"PersistentVolume", "", "v1", "persistentvolumes", "pv", 0},
    {"Service", "", "v1", "services", "svc", 1},
    {"ConfigMap", "", "v1", "configmaps", "cm", 1},
    {"Secret", "", "v1", "secrets", "", 1},
    {"Event", "", "v1", "events", "ev", 1},
    {"DaemonSet", "apps", "v1", "daemonsets", "ds", 1},
    {"ReplicaSet", "apps", "v1", "replicasets", "rs", 1},
    {"Deployment", "apps", "v1", "deployments", "deploy", 1},
    {"StatefulSet", "apps", "v1", "statefulsets", "sts", 1},
    {"PodDisruptionBudget", "policy", "v1", "poddisruptionbudgets", "pdb", 1},
    {"StorageClass", "storage.k8s.io", "v1", "storageclasses", "sc", 0},
    {"Lease", "coordination.k8s.io", "v1", "leases", "", 1},
    {"PriorityClass", "scheduling.k8s.io", "v1", "priorityclasses", "pc", 0},
    {"VirtualMachine", "kubevirt.io", "v1", "virtualmachines", "vm,vms", 1},
    {"VirtualMachineInstance", "kubevirt.io", "v1", "virtualmachineinstances", "vmi,vmis", 1},
    {"VirtualMachineInstanceMigration", "kubevirt.io", "v1", "virtualmachineinstancemigrations",
     "vmim,vmims", 1},
    {"KubeVirt", "kubevirt.io", "v1", "kubevirts", "kv,kvs", 1},
    {"MigrationPolicy", "migrations.kubevirt.io", "v1alpha1", "migrationpolicies", "", 0},
    {"HyperConverged", "hco.kubevirt.io", "v1beta1", "hyperconvergeds", "hco,hcos", 1},
    {"DataVolume", "cdi.kubevirt.io", "v1beta1", "datavolumes", "dv,dvs", 1},
    {"NodeMaintenance", "nodemaintenance.medik8s.io", "v1beta1", "nodemaintenances", "nm", 0},
    {"MachineConfigPool", "machineconfiguration.openshift.io", "v1", "machineconfigpools", "mcp",
     0},
    {"Scheduler", "config.openshift.io", "v1", "schedulers", "", 0},
    {NULL, NULL, NULL, NULL, NULL, 0},
};

static int in_short_names(const char *list, const char *name) {
  size_t n = strlen(name);
  const char *p = list;
  while (*p) {
    size_t len = strcspn(p, ",");
    if (len == n && strncasecmp(p, name, n) == 0) return 1;
    p += len;
    if (*p == ',') p++;
  }
  return 0;
}

const vr_kind_info *vr_kind_lookup(const char *name) {
  const char *slash = strrchr(name, '/');
  int i;
  if (slash != NULL) { /* "group/Kind" */
    size_t glen = (size_t)(slash - name);
    for (i = 0; vr_known_kinds[i].kind; i++) {
      if (strlen(vr_known_kinds[i].group) == glen &&
          strncmp(vr_known_kinds[i].group, name, glen) == 0 &&
          strcmp(vr_known_kinds[i].kind, slash + 1) == 0)
        return &vr_known_kinds[i];
    }
    return NULL;
  }
  for (i = 0; vr_known_kinds[i].kind; i++) {
    const vr_kind_info *k = &vr_known_kinds[i];
    if (strcasecmp(k->kind, name) == 0 || strcasecmp(k->plural, name) == 0 ||
        in_short_names(k->short_names, name))
      return k;
  }
  return NULL;
}

int vr_kind_resolve(const char *name, char *group, size_t glen, char *kind, size_t klen, char *err,
                    size_t errlen) {
  const vr_kind_info *k = name ? vr_kind_lookup(name) : NULL;
  const char *slash;
  if (k != NULL) {
    snprintf(group, glen, "%s", k->group);
    snprintf(kind, klen, "%s", k->kind);
    return 0;
  }
  slash = name ? strrchr(name, '/') : NULL;
  if (slash != NULL && slash != name && slash[1] != '\0') {
    const char *first = strchr(name, '/');
    size_t n = (size_t)(first - name); /* "group/Kind" or "group/version/Kind" */
    if (n >= glen) n = glen - 1;
    memcpy(group, name, n);
    group[n] = '\0';
    snprintf(kind, klen, "%s", slash + 1);
    return 0;
  }
  {
    int i, best = 3;
    const char *near = NULL;
    for (i = 0; name && vr_known_kinds[i].kind; i++) {
      int d = vr_edit_distance(name, vr_known_kinds[i].kind, 1);
      if (d < best) {
        best = d;
        near = vr_known_kinds[i].kind;
      }
    }
    if (near) {
      snprintf(err, errlen,
               "unknown kind '%s' (did you mean '%s'?); name unknown kinds as "
               "group/Kind",
               name ? name : "", near);
    } else {
      snprintf(err, errlen, "unknown kind '%s'; name unknown kinds as group/Kind",
               name ? name : "");
    }
  }
  return -1;
}

int vr_kind_builtin_group(const char *group) {
  static const char *const builtin[] = {"",
                                        "apps",
                                        "batch",
                                        "policy",
                                        "autoscaling",
                                        "networking.k8s.io",
                                        "storage.k8s.io",
                                        "coordination.k8s.io",
                                        "scheduling.k8s.io",
                                        "rbac.authorization.k8s.io",
                                        "node.k8s.io",
                                        "discovery.k8s.io",
                                        NULL};
  size_t i;
  for (i = 0; builtin[i] != NULL; i++)
    if (strcmp(group, builtin[i]) == 0) return 1;
  return 0;
}
