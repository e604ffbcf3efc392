/* migration_config.h: the EFFECTIVE KubeVirt live-migration settings of a cluster and of one VMI,
 * computed from cluster objects read as cJSON trees (Kubernetes shape), each value with a note
 * saying where it came from. Pure C: no Lua, no I/O, nothing allocated except by
 * vr_migration_config_to_json.
 *
 * Rules (section numbers are those of /work/shared/reference/kubevirt-migration.md; the version
 * tables are also in peers.md §1):
 *
 *  - Cluster level (§1.1, §1.2). Values come from the KubeVirt CR (spec.configuration.migrations,
 *    spec.configuration.evictionStrategy) and the HyperConverged CR (hco.kubevirt.io/v1beta1:
 *    spec.liveMigrationConfig, spec.evictionStrategy; hco.kubevirt.io/v1:
 *    spec.virtualization.liveMigrationConfig, spec.virtualization.evictionStrategy). HCO owns the
 *    KubeVirt CR, so for every field HCO exposes the HyperConverged value wins; when HCO leaves
 *    an exposed field unset its own version-aware default applies, or, when it has none
 *    (bandwidthPerMigration, network), the KubeVirt default, since HCO writes nothing there.
 *    An exposed field that the HyperConverged `kubevirt.kubevirt.io/jsonpatch` annotation patches
 *    is read from the KubeVirt CR instead (when it is given), as HCO applies that patch last.
 *    Fields HCO does not expose come from the KubeVirt CR, else from the KubeVirt defaults of the
 *    version in status.observedKubeVirtVersion (HEAD when absent, or without a KubeVirt CR).
 *    HCO's defaults follow the operator version in status.versions (name "operator"), the newest
 *    ("main") when absent. Unset evictionStrategy under HCO: LiveMigrate when
 *    status.infrastructureHighlyAvailable is true, else None. allowWorkloadDisruption still unset
 *    at the end copies allowPostCopy (KubeVirt's rule; before v1.5 there is no such field, and a
 *    timeout behaves as if it did).
 *  - Per VMI (§2.5, §3.1): the MigrationPolicy that matches best overrides its non-nil fields;
 *    the VMI's spec.evictionStrategy overrides the cluster's.
 *
 * Errors: malformed input (a wrong JSON type, a negative timeout, a bandwidth that is not a
 * quantity, an unknown eviction strategy) makes a function return -1 with one line in the
 * caller's buffer naming the object and the field path, e.g.
 *   "KubeVirt kubevirt/kubevirt: spec.configuration.migrations.bandwidthPerMigration: '64Mx' is
 *    not a quantity".
 * err may be NULL; messages are cut to fit errlen (VR_MC_ERRLEN is enough). Nothing aborts and
 * nothing falls back to a default silently. Inputs are never modified. */
#ifndef VMRUN_MIGRATION_CONFIG_H
#define VMRUN_MIGRATION_CONFIG_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#define VR_MC_ERRLEN     512
#define VR_MC_STR_MAX    320 /* longest string value + 1 (a label key is at most 317) */
#define VR_MC_SOURCE_MAX 256

/* ============================================================================================
 * Kubernetes resource quantities
 * ============================================================================================ */

/* Parses a Kubernetes resource quantity (apimachinery resource.Quantity):
 *   [+|-] number [suffix]   number: digits | digits.digits | digits. | .digits
 *   suffix: binary Ki Mi Gi Ti Pi Ei | decimal n u m "" k M G T P E | exponent e<int> or E<int>
 * e.g. "64Mi", "1.5Gi", "500M", "0Mi", "1e3", "100m", "12". No blanks anywhere; "K" (capital) is
 * not a suffix; "E" alone is exa, "E3" an exponent. Stores the amount in units of 10^scale
 * (scale 0: whole units such as bytes; scale -3: milli-units such as millicores), rounded away
 * from zero as Quantity.Value() / MilliValue() round ("100m" at scale 0 is 1). Returns 0, or -1
 * with "'64Mx' is not a quantity" or "'16Ei' is out of range" (the result must fit an int64) in
 * err. Usable for memory requests and CPU as well as bandwidths. */
int vr_quantity_parse(const char *text, int scale, int64_t *out, char *err, size_t errlen);

/* The MiB/s that KubeVirt hands libvirt for a bandwidth in bytes/s (§1.1): rounded to the
 * nearest MiB, any value in (0, 1MiB) becomes 1; 0 (unlimited) stays 0, negatives give 0. */
uint64_t vr_bandwidth_to_mib(int64_t bytes_per_second);

/* ============================================================================================
 * Eviction strategies (§3.1)
 * ============================================================================================ */

typedef enum vr_eviction_strategy {
  VR_EVICTION_NONE = 0,
  VR_EVICTION_LIVE_MIGRATE,
  VR_EVICTION_LIVE_MIGRATE_IF_POSSIBLE,
  VR_EVICTION_EXTERNAL
} vr_eviction_strategy;

/* "None", "LiveMigrate", "LiveMigrateIfPossible", "External" (exact case) to the enum. Returns 0,
 * or -1 for anything else (NULL included). */
int vr_eviction_strategy_parse(const char *text, vr_eviction_strategy *out);
/* The API spelling of a strategy ("None" for out-of-range values). */
const char *vr_eviction_strategy_name(vr_eviction_strategy strategy);

/* KubeVirt's migrate-on-eviction predicate (VMIMigratableOnEviction, §3.1): 1 for LiveMigrate,
 * 1 for LiveMigrateIfPossible when live_migratable is non-zero, 0 otherwise (External too). */
int vr_migrate_on_eviction(vr_eviction_strategy strategy, int live_migratable);

/* 1 when the VMI's status.conditions holds {type: LiveMigratable, status: "True"}, else 0
 * (condition missing, False or Unknown, or vmi NULL). */
int vr_vmi_live_migratable(const cJSON *vmi);

/* ============================================================================================
 * Effective settings
 * ============================================================================================ */

/* One effective setting. Numbers are counts, seconds, milliseconds or bytes/s; booleans are 0/1
 * in num; strings (nodeDrainTaintKey, network, evictionStrategy) are in str. set is 0 when the
 * setting has no value (nil in KubeVirt, e.g. network = pod network, or a field the version does
 * not have); source still says why. */
typedef struct vr_mc_value {
  int set;
  int64_t num;
  char str[VR_MC_STR_MAX];
  char source[VR_MC_SOURCE_MAX]; /* "KubeVirt CR spec.configuration.migrations.progressTimeout",
                                    "default for KubeVirt v1.3 (800 s/GB before v1.4)", ... */
} vr_mc_value;

/* The effective settings. The member names follow the JSON field names of §1.1; bandwidth is in
 * bytes/s (0 = unlimited). */
typedef struct vr_migration_config {
  vr_mc_value parallel_migrations_per_cluster;       /* parallelMigrationsPerCluster */
  vr_mc_value parallel_outbound_migrations_per_node; /* parallelOutboundMigrationsPerNode */
  vr_mc_value bandwidth_per_migration;               /* bandwidthPerMigration, bytes/s */
  vr_mc_value completion_timeout_per_gib;            /* completionTimeoutPerGiB, s per 10^9 B */
  vr_mc_value progress_timeout;                      /* progressTimeout, s */
  vr_mc_value max_downtime_ms;                       /* maxDowntimeMs (v1.9+) */
  vr_mc_value utility_volumes_timeout;               /* utilityVolumesTimeout, s (v1.8+) */
  vr_mc_value allow_auto_converge;                   /* allowAutoConverge */
  vr_mc_value allow_post_copy;                       /* allowPostCopy */
  vr_mc_value allow_workload_disruption;             /* allowWorkloadDisruption */
  vr_mc_value unsafe_migration_override;             /* unsafeMigrationOverride */
  vr_mc_value disable_tls;                           /* disableTLS */
  vr_mc_value node_drain_taint_key;                  /* nodeDrainTaintKey */
  vr_mc_value network;                               /* network (unset: pod network) */
  vr_mc_value match_selinux_level_on_migration;      /* matchSELinuxLevelOnMigration */
  vr_mc_value eviction_strategy;                     /* evictionStrategy, in str */
  char kubevirt_version[96]; /* whose KubeVirt defaults applied: "v1.3", "HEAD" */
  char hco_version[96];      /* whose HCO defaults applied: "v1.14", "main", "" (no HCO CR) */
  char policy[254];          /* per VMI: the MigrationPolicy applied, "" when none */
} vr_migration_config;

/* Computes the cluster-level settings from the KubeVirt CR and the HyperConverged CR, either of
 * which may be NULL (both NULL: the KubeVirt HEAD defaults). out is always fully written (on
 * error its content is unspecified but safe to read). Returns 0 or -1 (message in err). */
int vr_migration_config_cluster(const cJSON *kubevirt, const cJSON *hyperconverged,
                                vr_migration_config *out, char *err, size_t errlen);

/* Computes the settings one VMI migrates with (the VMIM configuration options, §2.5) plus its
 * effective eviction strategy (§3.1): starts from cluster, picks the MigrationPolicy that matches
 * best among policies[0..npolicies) (NULL entries are skipped), overrides its non-nil fields
 * (allowWorkloadDisruption follows the policy's allowPostCopy when the policy sets only that),
 * names it in out->policy, and applies the VMI's spec.evictionStrategy.
 * Matching (§2.5): spec.selectors.namespaceSelector against the namespace's labels and
 * spec.selectors.virtualMachineInstanceSelector against the VMI's metadata.labels, every pair
 * must match; best = most matched pairs, then most VMI-label pairs, then the smallest name
 * (byte order). A policy without spec.selectors never matches. Quirk kept from KubeVirt: the
 * selectors are only evaluated when the VMI has a labels map, so a VMI without metadata.labels
 * matches every policy that has spec.selectors, each with zero matches (the first name wins).
 * ns is the VMI's Namespace object, or just its labels map, or NULL (no labels).
 * out may be the same object as cluster. Returns 0 or -1 (message in err). */
int vr_migration_config_for_vmi(const vr_migration_config *cluster, const cJSON *const *policies,
                                size_t npolicies, const cJSON *vmi, const cJSON *ns,
                                vr_migration_config *out, char *err, size_t errlen);

/* The effective eviction strategy of a VMI (or of a VirtualMachine, through
 * spec.template.spec): its spec.evictionStrategy when set, else the cluster's (cluster NULL or
 * without a value: None, the KubeVirt default). source (may be NULL) receives where it came
 * from. Returns 0 or -1 (unknown strategy or wrong type; message in err). */
int vr_vmi_eviction_strategy(const vr_migration_config *cluster, const cJSON *vmi,
                             vr_eviction_strategy *out, char *source, size_t source_len, char *err,
                             size_t errlen);

/* The setting with the given JSON field name ("completionTimeoutPerGiB", "evictionStrategy",
 * ...), or NULL for unknown names. */
const vr_mc_value *vr_migration_config_get(const vr_migration_config *config, const char *name);

/* A JSON rendering for plans and dry runs: {"<jsonName>": {"value": v, "source": "..."}, ...,
 * "kubevirtVersion": "...", "hyperConvergedVersion": "..."|null, "migrationPolicy": "..."|null}
 * with value a number, boolean, string or null (unset). Caller frees with cJSON_Delete; NULL
 * when out of memory. */
cJSON *vr_migration_config_to_json(const vr_migration_config *config);

#endif
