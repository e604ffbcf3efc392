/* sim_disruption.c: KubeVirt's disruption-budget controller as the cluster's KubeVirt version
 * has it (reference kubevirt-migration.md §3.2, "Version differences"):
 * - up to v1.5 every VMI that migrates on eviction gets a PodDisruptionBudget
 *   (generateName kubevirt-disruption-budget-, minAvailable 1, selector
 *   kubevirt.io/created-by=<vmi uid>, owned by the VMI), minAvailable 2 while it migrates;
 * - from v1.6 the controller only deletes the budgets older versions left behind.
 * Runs from the work queues (never in watch callbacks); only touches the store. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migration_config.h"
#include "sim_internal.h"

#define BUDGET_PREFIX "kubevirt-disruption-budget-"

/* The KubeVirt minor version whose behaviour applies (HEAD: a large number). */
int sim_kubevirt_minor(vr_sim *sim) {
  const vr_migration_config *cfg;
  int major = 0, minor = 0;
  cfg = sim_cluster_config(sim);
  if (sscanf(cfg->kubevirt_version, "v%d.%d", &major, &minor) != 2 || major != 1) return 1000;
  return minor;
}

/* 1 when the budget was made by KubeVirt's controller for a VMI (its name and owner). */
static int kubevirt_budget_of(const cJSON *pdb, const char *vmi_uid) {
  const char *name = sim_string(pdb, "metadata.name");
  const cJSON *owner = cJSON_GetArrayItem(sim_path(pdb, "metadata.ownerReferences"), 0);
  const char *kind = sim_string(owner, "kind"), *uid = sim_string(owner, "uid");
  if (name == NULL || strncmp(name, BUDGET_PREFIX, strlen(BUDGET_PREFIX)) != 0) return 0;
  if (kind == NULL || strcmp(kind, "VirtualMachineInstance") != 0) return 0;
  return vmi_uid == NULL || (uid != NULL && strcmp(uid, vmi_uid) == 0);
}

/* 1 when a migration of the VMI has not finished yet. */
static int migrating(vr_sim *sim, const cJSON *vmi) {
  const char *ns = sim_string(vmi, "metadata.namespace"), *name = sim_string(vmi, "metadata.name");
  const cJSON **vmims;
  size_t n = name ? vr_store_list_ref(sim->store, "kubevirt.io", "VirtualMachineInstanceMigration",
                                      ns, name, &vmims)
                  : (size_t)-1,
         i;
  int found = 0;
  for (i = 0; n != (size_t)-1 && i < n && !found; i++) {
    found = !sim_phase_is(vmims[i], "Succeeded") && !sim_phase_is(vmims[i], "Failed") &&
            sim_path(vmims[i], "status.phase") != NULL;
  }
  if (n != (size_t)-1) free((void *)vmims);
  return found;
}

/* Whether the VMI needs a budget: it migrates on eviction (§3.1). */
static int needs_budget(vr_sim *sim, const cJSON *vmi) {
  const vr_migration_config *cfg;
  vr_eviction_strategy strategy;
  char err[VR_MC_ERRLEN], reason[64], message[300];
  const char *phase = sim_string(vmi, "status.phase");
  if (phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0)) return 0;
  if (sim_path(vmi, "metadata.deletionTimestamp") != NULL) return 0;
  cfg = sim_cluster_config(sim);
  if (vr_vmi_eviction_strategy(cfg, vmi, &strategy, NULL, 0, err, sizeof err) != 0) return 0;
  if (strategy == VR_EVICTION_LIVE_MIGRATE) return 1;
  return strategy == VR_EVICTION_LIVE_MIGRATE_IF_POSSIBLE &&
         sim_vmi_live_migratable(sim, vmi, reason, sizeof reason, message, sizeof message);
}

static void delete_budget(vr_sim *sim, const cJSON *pdb) {
  vr_store_error err;
  vr_store_delete(sim->store, "policy", "PodDisruptionBudget",
                  sim_string(pdb, "metadata.namespace"), sim_string(pdb, "metadata.name"), &err);
}

static cJSON *new_budget(const cJSON *vmi, int min_available) {
  const char *uid = sim_string(vmi, "metadata.uid");
  cJSON *pdb = cJSON_CreateObject(), *owner = cJSON_CreateObject(), *owners = cJSON_CreateArray();
  cJSON_AddStringToObject(pdb, "apiVersion", "policy/v1");
  cJSON_AddStringToObject(pdb, "kind", "PodDisruptionBudget");
  sim_set(pdb, "metadata.generateName", cJSON_CreateString(BUDGET_PREFIX));
  sim_set(pdb, "metadata.namespace", cJSON_CreateString(sim_string(vmi, "metadata.namespace")));
  cJSON_AddStringToObject(owner, "apiVersion", "kubevirt.io/v1");
  cJSON_AddStringToObject(owner, "kind", "VirtualMachineInstance");
  cJSON_AddStringToObject(owner, "name", sim_string(vmi, "metadata.name"));
  cJSON_AddStringToObject(owner, "uid", uid ? uid : "");
  cJSON_AddBoolToObject(owner, "controller", 1);
  cJSON_AddBoolToObject(owner, "blockOwnerDeletion", 1);
  cJSON_AddItemToArray(owners, owner);
  sim_set(pdb, "metadata.ownerReferences", owners);
  sim_set(pdb, "spec.minAvailable", cJSON_CreateNumber(min_available));
  {
    cJSON *labels = cJSON_CreateObject();
    cJSON_AddStringToObject(labels, "kubevirt.io/created-by", uid ? uid : "");
    sim_set(pdb, "spec.selector.matchLabels", labels);
  }
  return pdb;
}

void sim_reconcile_vmi_budget(vr_sim *sim, const char *ns, const char *name) {
  const cJSON *vmi = vr_store_get(sim->store, "kubevirt.io", "VirtualMachineInstance", ns, name);
  const char *uid = sim_string(vmi, "metadata.uid");
  const cJSON **pdbs, *mine = NULL;
  size_t n, i;
  int want;
  vr_store_error err;
  if (sim->kubevirt_minor > 5) return; /* v1.6+: leftovers go at load (sim_drop_budgets) */
  n = vr_store_list(sim->store, "policy", "PodDisruptionBudget", ns, NULL, &pdbs);
  if (n == (size_t)-1) return;
  for (i = 0; i < n; i++) {
    if (kubevirt_budget_of(pdbs[i], NULL) && (uid == NULL || !kubevirt_budget_of(pdbs[i], uid))) {
      /* a budget of a VMI of this name that is gone (or was replaced) */
      const cJSON *owner = cJSON_GetArrayItem(sim_path(pdbs[i], "metadata.ownerReferences"), 0);
      const char *owner_name = sim_string(owner, "name");
      if (owner_name && strcmp(owner_name, name) == 0) delete_budget(sim, pdbs[i]);
    } else if (uid != NULL && kubevirt_budget_of(pdbs[i], uid)) {
      mine = pdbs[i];
    }
  }
  want = vmi != NULL && needs_budget(sim, vmi);
  if (!want) {
    if (mine) delete_budget(sim, mine);
  } else {
    int min_available = migrating(sim, vmi) ? 2 : 1;
    if (mine == NULL) {
      vr_store_create(sim->store, new_budget(vmi, min_available), NULL, &err);
    } else if (!cJSON_IsNumber(sim_path(mine, "spec.minAvailable")) ||
               sim_path(mine, "spec.minAvailable")->valueint != min_available) {
      cJSON *copy = cJSON_Duplicate(mine, 1);
      sim_set(copy, "spec.minAvailable", cJSON_CreateNumber(min_available));
      sim_save(sim, copy);
    }
  }
  free((void *)pdbs);
}

void sim_drop_budgets(vr_sim *sim) {
  const cJSON **pdbs;
  size_t n, i;
  if (sim->kubevirt_minor <= 5) return;
  n = vr_store_list(sim->store, "policy", "PodDisruptionBudget", NULL, NULL, &pdbs);
  if (n == (size_t)-1) return;
  for (i = 0; i < n; i++) {
    if (kubevirt_budget_of(pdbs[i], NULL)) delete_budget(sim, pdbs[i]);
  }
  free((void *)pdbs);
}
