/* sim_admission.c: what the simulated API server refuses, and the simulation annotations.
 * - Admission (every create and replace, controllers' writes included): required fields of the
 *   kinds the simulator acts on, quantities that must parse, and every sim.vmrun.io/ annotation
 *   known, on the right kind of object and with a value of the right type.
 * - Load checks (once the whole cluster file is in): references to objects that must exist (the
 *   node a pod or VMI runs on, the claims a VM's volumes name, a claim's StorageClass).
 * - The typed readers of the annotations with their documented defaults
 *   (docs/cluster-files.md, "Simulation annotations").
 * Checks only read; they never write to the store. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "migration_config.h"
#include "sim_internal.h"

#define PREFIX "sim.vmrun.io/"

typedef enum { ANN_SECONDS, ANN_QUANTITY, ANN_NAME } ann_type;

/* Where an annotation may be written. VMI facts may also sit on a VM's template (copied to the
 * VMI) and on virt-launcher pods (the pod copies its VMI's annotations). */
enum { ON_VMI = 1, ON_NODE = 2, ON_POD = 4, ON_VMIM = 8 };

typedef struct sim_annotation_info {
  const char *key;
  int on;
  ann_type type;
  const char *dflt; /* NULL: the reader decides (working-set: a quarter of the memory) */
} sim_annotation_info;

static const sim_annotation_info annotations[] = {
    {PREFIX "pod-start-seconds", ON_VMI | ON_POD, ANN_SECONDS, "5"},
    {PREFIX "shutdown-seconds", ON_VMI | ON_POD, ANN_SECONDS, "10"},
    {PREFIX "dirty-rate", ON_VMI | ON_POD, ANN_QUANTITY, "8Mi"},
    {PREFIX "working-set", ON_VMI | ON_POD, ANN_QUANTITY, NULL},
    {PREFIX "stop-seconds", ON_POD, ANN_SECONDS, "2"},
    {PREFIX "nic-bandwidth", ON_NODE, ANN_QUANTITY, "1250Mi"},
    {PREFIX "reboot-seconds", ON_NODE, ANN_SECONDS, "300"},
    {PREFIX "target-node", ON_VMIM, ANN_NAME, NULL},
    {PREFIX "target-pod", ON_VMIM, ANN_NAME, NULL},
};
#define N_ANNOTATIONS (sizeof annotations / sizeof annotations[0])

static const sim_annotation_info *annotation_info(const char *key) {
  size_t i;
  for (i = 0; i < N_ANNOTATIONS; i++) {
    if (strcmp(annotations[i].key, key) == 0) return &annotations[i];
  }
  return NULL;
}

/* Seconds as a decimal number >= 0 ("5", "0.5"); -1 when it is not one. */
static double parse_seconds(const char *text) {
  char *end;
  double v;
  if (text == NULL || *text == '\0') return -1;
  v = strtod(text, &end);
  if (*end != '\0' || !isfinite(v) || v < 0 || v > 1e9) return -1;
  return v;
}

static uint64_t seconds_to_ms(double secs) {
  return (uint64_t)(secs * 1000.0 + 0.5);
}

uint64_t sim_annotation_ms(const cJSON *obj, const char *key) {
  const sim_annotation_info *info = annotation_info(key);
  double v = parse_seconds(sim_annotation(obj, key));
  if (v < 0 && info != NULL && info->dflt != NULL) v = parse_seconds(info->dflt);
  return v < 0 ? 0 : seconds_to_ms(v);
}

int64_t sim_annotation_bytes(const cJSON *obj, const char *key) {
  const sim_annotation_info *info = annotation_info(key);
  const char *text = sim_annotation(obj, key);
  int64_t v;
  char err[128];
  if (text != NULL && vr_quantity_parse(text, 0, &v, err, sizeof err) == 0) return v;
  if (info == NULL || info->dflt == NULL) return -1;
  if (vr_quantity_parse(info->dflt, 0, &v, err, sizeof err) != 0) return -1;
  return v;
}

int sim_finalizer_done_at_once(void *ctx, const char *name) {
  static const char *const exact[] = {"foregroundDeleteVirtualMachine",
                                      "kubernetes.io/pvc-protection",
                                      "kubernetes.io/pv-protection",
                                      "foregroundDeletion",
                                      "orphan",
                                      NULL};
  int i;
  (void)ctx;
  for (i = 0; exact[i]; i++) {
    if (strcmp(name, exact[i]) == 0) return 1;
  }
  return strncmp(name, "kubevirt.io/", 12) == 0; /* kubevirt.io/virtualMachineControllerFinalize */
}

/* --- admission --------------------------------------------------------------------------------
 */

static int refuse(vr_store_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int refuse(vr_store_error *err, const char *fmt, ...) {
  va_list ap;
  err->status = 422;
  snprintf(err->reason, sizeof err->reason, "Invalid");
  va_start(ap, fmt);
  vsnprintf(err->message, sizeof err->message, fmt, ap);
  va_end(ap);
  return -1;
}

static const char *where_name(int on) {
  if (on & ON_NODE) return "a Node";
  if (on & ON_VMIM) return "a VirtualMachineInstanceMigration (the simulator writes it)";
  if (on & ON_VMI) return "a VMI or a VM's spec.template.metadata.annotations";
  return "a Pod";
}

/* Checks the sim.vmrun.io/ annotations of an annotations object found at `path` on an object
 * that may carry the annotations of `on`. */
static int check_annotations(const cJSON *ann, const char *path, int on, vr_store_error *err) {
  const cJSON *a;
  cJSON_ArrayForEach(a, ann) {
    const sim_annotation_info *info;
    const char *v = cJSON_IsString(a) ? a->valuestring : NULL;
    if (a->string == NULL || strncmp(a->string, PREFIX, strlen(PREFIX)) != 0) continue;
    info = annotation_info(a->string);
    if (info == NULL) {
      const char *best = NULL;
      int best_d = 4;
      size_t i;
      for (i = 0; i < N_ANNOTATIONS; i++) {
        int d = vr_edit_distance(a->string, annotations[i].key, 0);
        if (d < best_d) {
          best_d = d;
          best = annotations[i].key;
        }
      }
      if (best)
        return refuse(err, "%s: unknown annotation %s (did you mean %s?)", path, a->string, best);
      return refuse(err, "%s: unknown annotation %s (docs/cluster-files.md lists them)", path,
                    a->string);
    }
    if (!(info->on & on)) {
      return refuse(err, "%s: annotation %s belongs on %s", path, a->string, where_name(info->on));
    }
    if (v == NULL) return refuse(err, "%s: annotation %s must be a string", path, a->string);
    if (info->type == ANN_SECONDS && parse_seconds(v) < 0) {
      return refuse(err,
                    "%s: annotation %s: '%s' is not a number of seconds (like \"5\" or \"0.5\")",
                    path, a->string, v);
    }
    if (info->type == ANN_QUANTITY) {
      int64_t q;
      char why[160];
      if (vr_quantity_parse(v, 0, &q, why, sizeof why) != 0) {
        return refuse(err, "%s: annotation %s: %s (a quantity like \"64Mi\" or \"1250M\")", path,
                      a->string, why);
      }
      if (q <= 0 && strcmp(info->key, PREFIX "nic-bandwidth") == 0) {
        return refuse(err, "%s: annotation %s must be more than 0", path, a->string);
      }
      if (q < 0) return refuse(err, "%s: annotation %s must not be negative", path, a->string);
    }
  }
  return 0;
}

/* A quantity field, when present, must parse ("4Gb" is not a quantity). */
static int check_quantity(const cJSON *item, const char *path, int scale, vr_store_error *err) {
  int64_t v;
  char why[160];
  if (item == NULL) return 0;
  if (cJSON_IsNumber(item)) {
    if (item->valuedouble < 0) return refuse(err, "%s must not be negative", path);
    return 0;
  }
  if (!cJSON_IsString(item)) return refuse(err, "%s must be a quantity", path);
  if (vr_quantity_parse(item->valuestring, scale, &v, why, sizeof why) != 0) {
    return refuse(err, "%s: %s", path, why);
  }
  if (v < 0) return refuse(err, "%s must not be negative", path);
  return 0;
}

static int check_resources(const cJSON *resources, const char *path, vr_store_error *err) {
  static const char *const parts[] = {"requests", "limits"};
  static const char *const names[] = {"cpu", "memory"};
  int i, k;
  for (i = 0; i < 2; i++) {
    for (k = 0; k < 2; k++) {
      char where[200];
      snprintf(where, sizeof where, "%s.%s.%s", path, parts[i], names[k]);
      if (check_quantity(sim_path(sim_path(resources, parts[i]), names[k]), where, 0, err) != 0)
        return -1;
    }
  }
  return 0;
}

static int check_vmi_spec(const cJSON *spec, const char *path, vr_store_error *err) {
  char where[200];
  const cJSON *domain = sim_path(spec, "domain");
  if (!cJSON_IsObject(domain)) return refuse(err, "%s.domain is missing", path);
  snprintf(where, sizeof where, "%s.domain.resources", path);
  if (check_resources(sim_path(domain, "resources"), where, err) != 0) return -1;
  snprintf(where, sizeof where, "%s.domain.memory.guest", path);
  return check_quantity(sim_path(domain, "memory.guest"), where, 0, err);
}

static const char *const run_strategies[] = {"Always", "RerunOnFailure", "Manual", "Halted",
                                             "Once",   "WaitAsReceiver", NULL};

static int check_vm(const cJSON *vm, vr_store_error *err) {
  const cJSON *template = sim_path(vm, "spec.template");
  const cJSON *running = sim_path(vm, "spec.running");
  const char *strategy = sim_string(vm, "spec.runStrategy");
  int i;
  if (check_annotations(sim_path(vm, "metadata.annotations"), "metadata.annotations", 0, err))
    return -1;
  if (!cJSON_IsObject(template)) return refuse(err, "spec.template is missing");
  if (check_annotations(sim_path(template, "metadata.annotations"),
                        "spec.template.metadata.annotations", ON_VMI, err) != 0)
    return -1;
  if (running != NULL && sim_path(vm, "spec.runStrategy") != NULL) {
    return refuse(err, "spec.running and spec.runStrategy are mutually exclusive");
  }
  if (running != NULL && !cJSON_IsBool(running))
    return refuse(err, "spec.running must be a boolean");
  if (sim_path(vm, "spec.runStrategy") != NULL) {
    for (i = 0; strategy && run_strategies[i]; i++) {
      if (strcmp(strategy, run_strategies[i]) == 0) break;
    }
    if (strategy == NULL || run_strategies[i] == NULL) {
      return refuse(err,
                    "spec.runStrategy '%s' is not one of Always, RerunOnFailure, Manual, Halted, "
                    "Once, WaitAsReceiver",
                    strategy ? strategy : "(not a string)");
    }
  }
  return check_vmi_spec(sim_path(template, "spec"), "spec.template.spec", err);
}

static int check_pod(const cJSON *pod, vr_store_error *err) {
  const cJSON *containers = sim_path(pod, "spec.containers"), *c;
  int i = 0;
  if (check_annotations(sim_path(pod, "metadata.annotations"), "metadata.annotations", ON_POD, err))
    return -1;
  if (!cJSON_IsArray(containers) || cJSON_GetArraySize(containers) == 0) {
    return refuse(err, "spec.containers is missing (a pod needs at least one container)");
  }
  cJSON_ArrayForEach(c, containers) {
    char where[80];
    snprintf(where, sizeof where, "spec.containers[%d].resources", i++);
    if (check_resources(sim_path(c, "resources"), where, err) != 0) return -1;
  }
  return 0;
}

int sim_admit(void *ctx, const cJSON *old, const cJSON *obj, vr_store_error *err) {
  const char *api = sim_string(obj, "apiVersion"), *kind = sim_string(obj, "kind");
  int kubevirt = api && strncmp(api, "kubevirt.io/", 12) == 0;
  if (kind == NULL) return 0;
  /* NodeMaintenance's webhook needs the Node to exist: from the file, that is a load check */
  if (strcmp(kind, "NodeMaintenance") == 0 && ((vr_sim *)ctx)->started)
    return sim_admit_nodemaintenance(ctx, old, obj, err);
  /* a controller's own write of what it read from admitted objects: the checks below are for
   * input (files, playbooks, API clients); repeating them on every status change cost more than
   * the change */
  if (((vr_sim *)ctx)->controller_writes > 0) return 0;
  if (api && strchr(api, '/') == NULL) { /* the core group */
    if (strcmp(kind, "Pod") == 0) return check_pod(obj, err);
    if (strcmp(kind, "Node") == 0) {
      return check_annotations(sim_path(obj, "metadata.annotations"), "metadata.annotations",
                               ON_NODE, err);
    }
  } else if (kubevirt && strcmp(kind, "VirtualMachine") == 0) {
    return check_vm(obj, err);
  } else if (kubevirt && strcmp(kind, "VirtualMachineInstance") == 0) {
    if (check_annotations(sim_path(obj, "metadata.annotations"), "metadata.annotations", ON_VMI,
                          err) != 0)
      return -1;
    return check_vmi_spec(sim_path(obj, "spec"), "spec", err);
  } else if ((kubevirt && strcmp(kind, "KubeVirt") == 0) ||
             (api && strncmp(api, "hco.kubevirt.io/", 16) == 0 &&
              strcmp(kind, "HyperConverged") == 0)) {
    /* the migration settings and version must read (reference §1.1, §1.2) */
    vr_migration_config cfg;
    char why[VR_MC_ERRLEN];
    int is_kv = strcmp(kind, "KubeVirt") == 0;
    if (vr_migration_config_cluster(is_kv ? obj : NULL, is_kv ? NULL : obj, &cfg, why,
                                    sizeof why) != 0) {
      /* the message names the object ("KubeVirt ns/name: ..."); the caller names it already */
      const char *field = strstr(why, ": ");
      return refuse(err, "%s", strncmp(why, kind, strlen(kind)) == 0 && field ? field + 2 : why);
    }
  } else if (kubevirt && strcmp(kind, "VirtualMachineInstanceMigration") == 0) {
    if (check_annotations(sim_path(obj, "metadata.annotations"), "metadata.annotations", ON_VMIM,
                          err) != 0)
      return -1;
    if (sim_string(obj, "spec.vmiName") == NULL) return refuse(err, "spec.vmiName is missing");
    return 0;
  }
  return check_annotations(sim_path(obj, "metadata.annotations"), "metadata.annotations", 0, err);
}

/* --- references, once the whole file is loaded ---------------------------------------------- */

/* 404-style refusal naming the closest existing name of that kind, if any is close. */
static int missing(vr_sim *sim, const char *group, const char *kind, const char *ns,
                   const char *field, const char *value, vr_store_error *err) {
  const cJSON **items;
  size_t n = vr_store_list(sim->store, group, kind, ns, NULL, &items), i;
  const char *best = NULL;
  int best_d = 4;
  for (i = 0; n != (size_t)-1 && i < n; i++) {
    const char *name = sim_string(items[i], "metadata.name");
    int d = name ? vr_edit_distance(value, name, 0) : 99;
    if (d < best_d) {
      best_d = d;
      best = name;
    }
  }
  /* (what was loaded: a cluster file, or objects read from a cluster) */
  const char *where = sim->objects_loading ? "among the objects read" : "in the file";
  if (best) {
    refuse(err, "%s '%s' names no %s %s (did you mean '%s'?)", field, value, kind, where, best);
  } else {
    refuse(err, "%s '%s' names no %s %s%s%s", field, value, kind, where, ns ? " in namespace " : "",
           ns ? ns : "");
  }
  if (n != (size_t)-1) free((void *)items);
  return -1;
}

/* 1 when a VM's spec.dataVolumeTemplates creates a DataVolume of that name. */
static int templated(const cJSON *templates, const char *name) {
  const cJSON *t;
  cJSON_ArrayForEach(t, templates) {
    const char *tn = sim_string(t, "metadata.name");
    if (tn && strcmp(tn, name) == 0) return 1;
  }
  return 0;
}

/* The claims and DataVolumes that volumes name must exist (or be in templates, a VM's
 * spec.dataVolumeTemplates; may be NULL). */
static int check_volumes(vr_sim *sim, const cJSON *volumes, const char *path, const char *ns,
                         const cJSON *templates, vr_store_error *err) {
  const cJSON *v;
  int i = 0;
  cJSON_ArrayForEach(v, volumes) {
    const char *claim = sim_string(v, "persistentVolumeClaim.claimName");
    const char *dv = sim_string(v, "dataVolume.name");
    char field[200];
    if (claim && !vr_store_get(sim->store, "", "PersistentVolumeClaim", ns, claim)) {
      snprintf(field, sizeof field, "%s[%d].persistentVolumeClaim.claimName", path, i);
      return missing(sim, "", "PersistentVolumeClaim", ns, field, claim, err);
    }
    if (dv && !templated(templates, dv) &&
        !vr_store_get(sim->store, "cdi.kubevirt.io", "DataVolume", ns, dv) &&
        !vr_store_get(sim->store, "", "PersistentVolumeClaim", ns, dv)) {
      snprintf(field, sizeof field, "%s[%d].dataVolume.name", path, i);
      return missing(sim, "", "PersistentVolumeClaim", ns, field, dv, err);
    }
    i++;
  }
  return 0;
}

int sim_load_check(void *ctx, const cJSON *obj, vr_store_error *err) {
  vr_sim *sim = ctx;
  const char *api = sim_string(obj, "apiVersion"), *kind = sim_string(obj, "kind");
  const char *ns = sim_string(obj, "metadata.namespace");
  const char *node = NULL, *node_field = NULL;
  int kubevirt = api && strncmp(api, "kubevirt.io/", 12) == 0;
  if (api == NULL || kind == NULL) return 0;
  if (strcmp(kind, "NodeMaintenance") == 0) {
    node = sim_string(obj, "spec.nodeName");
    node_field = "spec.nodeName";
    if (node == NULL) return refuse(err, "spec.nodeName is missing");
  } else if (strchr(api, '/') == NULL && strcmp(kind, "Pod") == 0) {
    node = sim_string(obj, "spec.nodeName");
    node_field = "spec.nodeName";
  } else if (strchr(api, '/') == NULL && strcmp(kind, "PersistentVolumeClaim") == 0) {
    const char *sc = sim_string(obj, "spec.storageClassName");
    if (sc && sc[0] && !vr_store_get(sim->store, "storage.k8s.io", "StorageClass", NULL, sc))
      return missing(sim, "storage.k8s.io", "StorageClass", NULL, "spec.storageClassName", sc, err);
  } else if (kubevirt && strcmp(kind, "VirtualMachineInstance") == 0) {
    node = sim_string(obj, "status.nodeName");
    node_field = "status.nodeName";
    if (check_volumes(sim, sim_path(obj, "spec.volumes"), "spec.volumes", ns, NULL, err) != 0)
      return -1;
  } else if (kubevirt && strcmp(kind, "VirtualMachine") == 0) {
    if (check_volumes(sim, sim_path(obj, "spec.template.spec.volumes"),
                      "spec.template.spec.volumes", ns, sim_path(obj, "spec.dataVolumeTemplates"),
                      err) != 0)
      return -1;
  }
  if (node && !vr_store_get(sim->store, "", "Node", NULL, node)) {
    return missing(sim, "", "Node", NULL, node_field, node, err);
  }
  return 0;
}
