/* test_migration_config.c: effective migration settings (migration_config.h), table-driven. Each
 * case names the section of /work/shared/reference/kubevirt-migration.md (or peers.md §1) that
 * specifies it: KubeVirt defaults by version, explicit values, HyperConverged in both API
 * versions with its own version-aware defaults and evictionStrategy rule, HCO winning over the
 * KubeVirt CR, MigrationPolicy selection and overrides, eviction strategies, quantities, error
 * messages and source strings. JSON in the tables uses single quotes for readability. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "migration_config.h"

/* Parses JSON written with ' for " (NULL text: NULL). */
static cJSON *js(const char *text) {
  char *buf, *p;
  cJSON *obj;
  if (text == NULL) return NULL;
  buf = strdup(text);
  if (buf == NULL) return NULL;
  for (p = buf; *p; p++) {
    if (*p == '\'') *p = '"';
  }
  obj = cJSON_Parse(buf);
  if (obj == NULL) fprintf(stderr, "bad test JSON: %s\n", buf);
  free(buf);
  return obj;
}

static int expect_value(const char *what, const vr_mc_value *v, int set, long long num,
                        const char *str, const char *source) {
  int ok = v != NULL && v->set == set && (!set || str != NULL || v->num == num) &&
           (str == NULL || strcmp(v->str, str) == 0) &&
           (source == NULL || strcmp(v->source, source) == 0);
  if (!ok && v != NULL) {
    fprintf(stderr, "case: %s\n  got set=%d num=%lld str='%s'\n  source='%s'\n", what, v->set,
            (long long)v->num, v->str, v->source);
  } else if (!ok) {
    fprintf(stderr, "case: %s: no such field\n", what);
  }
  return ok;
}

/* ============================================================================================
 * Quantities
 * ============================================================================================ */

typedef struct quantity_case {
  const char *text;
  int scale;
  int ok;
  int64_t value;
  const char *error; /* exact message when !ok */
} quantity_case;

static const quantity_case quantity_cases[] = {
    /* §1.1 bandwidthPerMigration examples, binary and decimal SI suffixes */
    {"64Mi", 0, 1, 67108864, NULL},
    {"1Gi", 0, 1, 1073741824, NULL},
    {"500M", 0, 1, 500000000, NULL},
    {"0Mi", 0, 1, 0, NULL},
    {"0", 0, 1, 0, NULL},
    {"12345", 0, 1, 12345, NULL},
    {"1.5Gi", 0, 1, 1610612736, NULL},
    {"2.5Mi", 0, 1, 2621440, NULL},
    {"0.5Ki", 0, 1, 512, NULL},
    {"1.0001Ki", 0, 1, 1025, NULL}, /* 1024.1024 rounds up */
    {"1k", 0, 1, 1000, NULL},
    {"1Ki", 0, 1, 1024, NULL},
    {"+5k", 0, 1, 5000, NULL},
    {"1T", 0, 1, 1000000000000LL, NULL},
    {"1Pi", 0, 1, 1125899906842624LL, NULL},
    {"7Ei", 0, 1, 8070450532247928832LL, NULL},
    {"1E", 0, 1, 1000000000000000000LL, NULL}, /* E alone is exa */
    {"9223372036854775807", 0, 1, INT64_MAX, NULL},
    /* exponent forms */
    {"1e3", 0, 1, 1000, NULL},
    {"1E3", 0, 1, 1000, NULL},
    {"1e+3", 0, 1, 1000, NULL},
    {"1.5e3", 0, 1, 1500, NULL},
    {"1e-3", 0, 1, 1, NULL}, /* 0.001 rounds up to 1 */
    {"1e-3", -3, 1, 1, NULL},
    {"0e99999999", 0, 1, 0, NULL},
    {"1e-999999999", 0, 1, 1, NULL},
    /* millis and fractions, rounded away from zero like Quantity.Value() */
    {"100m", 0, 1, 1, NULL},
    {"100m", -3, 1, 100, NULL},
    {"1.5", 0, 1, 2, NULL},
    {"1.5", -3, 1, 1500, NULL},
    {"0.1", 0, 1, 1, NULL},
    {".5", 0, 1, 1, NULL},
    {"5.", 0, 1, 5, NULL},
    {"250u", -3, 1, 1, NULL},
    {"5n", 0, 1, 1, NULL},
    {"0.000", 0, 1, 0, NULL},
    {"-1.5", 0, 1, -2, NULL},
    {"-64Mi", 0, 1, -67108864, NULL},
    {"-0", 0, 1, 0, NULL},
    /* malformed */
    {"", 0, 0, 0, "'' is not a quantity"},
    {"64Mx", 0, 0, 0, "'64Mx' is not a quantity"},
    {"1K", 0, 0, 0, "'1K' is not a quantity"},
    {"1 Mi", 0, 0, 0, "'1 Mi' is not a quantity"},
    {" 1", 0, 0, 0, "' 1' is not a quantity"},
    {"1Mi ", 0, 0, 0, "'1Mi ' is not a quantity"},
    {"Mi", 0, 0, 0, "'Mi' is not a quantity"},
    {".", 0, 0, 0, "'.' is not a quantity"},
    {"-", 0, 0, 0, "'-' is not a quantity"},
    {"1e", 0, 0, 0, "'1e' is not a quantity"},
    {"1e1.5", 0, 0, 0, "'1e1.5' is not a quantity"},
    {"1.2.3", 0, 0, 0, "'1.2.3' is not a quantity"},
    {"0x10", 0, 0, 0, "'0x10' is not a quantity"},
    {"1mi", 0, 0, 0, "'1mi' is not a quantity"},
    {"1Kib", 0, 0, 0, "'1Kib' is not a quantity"},
    {"e3", 0, 0, 0, "'e3' is not a quantity"},
    {"--1", 0, 0, 0, "'--1' is not a quantity"},
    {"+-1", 0, 0, 0, "'+-1' is not a quantity"},
    {"1e+", 0, 0, 0, "'1e+' is not a quantity"},
    /* out of range (must fit an int64) */
    {"8Ei", 0, 0, 0, "'8Ei' is out of range"},
    {"9223372036854775808", 0, 0, 0, "'9223372036854775808' is out of range"},
    {"1e19", 0, 0, 0, "'1e19' is out of range"},
    {"10E", 0, 0, 0, "'10E' is out of range"},
    {"1e999999999", 0, 0, 0, "'1e999999999' is out of range"},
    {"10P", -3, 0, 0, "'10P' is out of range"}, /* fits as units, not as millis */
};

static void test_quantities(void) {
  size_t i;
  char err[VR_MC_ERRLEN], long_text[400];
  int64_t v;
  for (i = 0; i < sizeof quantity_cases / sizeof quantity_cases[0]; i++) {
    const quantity_case *c = &quantity_cases[i];
    int rc;
    err[0] = '\0';
    v = -12345;
    rc = vr_quantity_parse(c->text, c->scale, &v, err, sizeof err);
    if (c->ok) {
      if (rc != 0 || v != c->value)
        fprintf(stderr, "quantity '%s' scale %d: rc %d value %lld err '%s'\n", c->text, c->scale,
                rc, (long long)v, err);
      CHECK(rc == 0 && v == c->value);
    } else {
      if (rc == 0) fprintf(stderr, "quantity '%s' parsed as %lld\n", c->text, (long long)v);
      CHECK(rc == -1);
      CHECK_STR(err, c->error);
    }
  }
  CHECK(vr_quantity_parse(NULL, 0, &v, err, sizeof err) == -1);
  CHECK(vr_quantity_parse("1Mx", 0, &v, NULL, 0) == -1); /* err may be NULL */
  memset(long_text, '1', sizeof long_text - 1);
  long_text[sizeof long_text - 1] = '\0';
  CHECK(vr_quantity_parse(long_text, 0, &v, err, sizeof err) == -1);
  CHECK_CONTAINS(err, "is too long to be a quantity");
  /* §1.1: libvirt gets MiB/s rounded to nearest, (0, 1MiB) -> 1, 0 stays unlimited */
  CHECK(vr_bandwidth_to_mib(0) == 0);
  CHECK(vr_bandwidth_to_mib(-5) == 0);
  CHECK(vr_bandwidth_to_mib(1) == 1);
  CHECK(vr_bandwidth_to_mib(524288) == 1);
  CHECK(vr_bandwidth_to_mib(1048576) == 1);
  CHECK(vr_bandwidth_to_mib(1572863) == 1);
  CHECK(vr_bandwidth_to_mib(1572864) == 2);
  CHECK(vr_bandwidth_to_mib(67108864) == 64);
}

/* ============================================================================================
 * Cluster level
 * ============================================================================================ */

#define KV(config, status)                                                                         \
  "{'apiVersion':'kubevirt.io/v1','kind':'KubeVirt','metadata':{'name':'kubevirt','namespace':"    \
  "'kubevirt'},'spec':{'configuration':" config "},'status':" status "}"
#define OBSERVED(v) "{'observedKubeVirtVersion':'" v "'}"
#define HCO_META                                                                                   \
  "'kind':'HyperConverged','metadata':{'name':'kubevirt-hyperconverged','namespace':'openshift-"   \
  "cnv'}"
#define HCO_B1(spec, status)                                                                       \
  "{'apiVersion':'hco.kubevirt.io/v1beta1'," HCO_META ",'spec':" spec ",'status':" status "}"
#define HCO_V1(spec, status)                                                                       \
  "{'apiVersion':'hco.kubevirt.io/v1'," HCO_META ",'spec':{'virtualization':" spec                 \
  "},'status':" status "}"
#define OPERATOR(v)                                                                                \
  "{'versions':[{'name':'kubevirt','version':'v9.9.9'},{'name':'operator',"                        \
  "'version':'" v "'}]}"
#define HA(b)                                                                                      \
  "{'infrastructureHighlyAvailable':" b ",'versions':[{'name':'operator','version':"               \
  "'1.16.0'}]}"

/* Scenarios shared by several rows */
#define KV_13 KV("{}", OBSERVED("v1.3.1"))
#define KV_14 KV("{}", OBSERVED("v1.4.0"))
#define KV_EXPLICIT                                                                                \
  KV("{'evictionStrategy':'LiveMigrate','migrations':{'completionTimeoutPerGiB':300,"              \
     "'progressTimeout':60,'bandwidthPerMigration':'1Gi','parallelMigrationsPerCluster':10,"       \
     "'allowPostCopy':true,'allowWorkloadDisruption':false,'nodeDrainTaintKey':'example.com/"      \
     "drain','network':'migration-net','disableTLS':true,'maxDowntimeMs':300,"                     \
     "'matchSELinuxLevelOnMigration':false}}",                                                     \
     OBSERVED("v1.3.1"))
#define KV_CONFLICT                                                                                \
  KV("{'evictionStrategy':'LiveMigrate','migrations':{'completionTimeoutPerGiB':500,"              \
     "'progressTimeout':99,'bandwidthPerMigration':'1Gi','disableTLS':true,"                       \
     "'parallelOutboundMigrationsPerNode':4}}",                                                    \
     OBSERVED("v1.6.0"))
#define HCO_1B1_116                                                                                \
  HCO_B1("{'evictionStrategy':'LiveMigrateIfPossible','liveMigrationConfig':{"                     \
         "'completionTimeoutPerGiB':90,'parallelOutboundMigrationsPerNode':3}}",                   \
         OPERATOR("1.16.0"))
#define HCO_1V1                                                                                    \
  HCO_V1("{'evictionStrategy':'External','liveMigrationConfig':{'completionTimeoutPerGiB':60,"     \
         "'bandwidthPerMigration':'128Mi','allowPostCopy':true}}",                                 \
         "{}")
#define PATCH(p)                                                                                   \
  "{'apiVersion':'hco.kubevirt.io/v1beta1','kind':'HyperConverged','metadata':{'name':'kubevirt-"  \
  "hyperconverged','namespace':'openshift-cnv','annotations':{'kubevirt.kubevirt.io/jsonpatch':'"  \
  "[{\\\"op\\\":\\\"add\\\",\\\"path\\\":\\\"" p "\\\",\\\"value\\\":400}]'}},'spec':{},"          \
  "'status':" OPERATOR("1.16.0") "}"

typedef struct cluster_case {
  const char *what; /* the rule and its section */
  const char *kubevirt, *hco;
  const char *field;
  int set;
  long long num;
  const char *str;    /* expected string value (NULL: compare num) */
  const char *source; /* expected source, exact */
} cluster_case;

static const cluster_case cluster_cases[] = {
    /* §1.1, peers §1: no CR at all: KubeVirt HEAD defaults */
    {"§1.1 HEAD parallelMigrationsPerCluster", NULL, NULL, "parallelMigrationsPerCluster", 1, 5,
     NULL, "default for KubeVirt HEAD (5)"},
    {"§1.1 HEAD parallelOutboundMigrationsPerNode", NULL, NULL, "parallelOutboundMigrationsPerNode",
     1, 2, NULL, "default for KubeVirt HEAD (2)"},
    {"§1.1 HEAD bandwidth unlimited", NULL, NULL, "bandwidthPerMigration", 1, 0, NULL,
     "default for KubeVirt HEAD (0Mi = unlimited since v0.43.1)"},
    {"§1.1 HEAD completionTimeoutPerGiB", NULL, NULL, "completionTimeoutPerGiB", 1, 150, NULL,
     "default for KubeVirt HEAD (150 s/GB since v1.4)"},
    {"§1.1 HEAD progressTimeout", NULL, NULL, "progressTimeout", 1, 150, NULL,
     "default for KubeVirt HEAD (150 s)"},
    {"§1.1 HEAD maxDowntimeMs", NULL, NULL, "maxDowntimeMs", 1, 900, NULL,
     "default for KubeVirt HEAD (900 ms since v1.9)"},
    {"§1.1 HEAD utilityVolumesTimeout", NULL, NULL, "utilityVolumesTimeout", 1, 150, NULL,
     "default for KubeVirt HEAD (150 s since v1.8)"},
    {"§1.1 HEAD allowAutoConverge", NULL, NULL, "allowAutoConverge", 1, 0, NULL,
     "default for KubeVirt HEAD (false)"},
    {"§1.1 HEAD allowPostCopy", NULL, NULL, "allowPostCopy", 1, 0, NULL,
     "default for KubeVirt HEAD (false)"},
    {"§1.1 HEAD AWD copies allowPostCopy", NULL, NULL, "allowWorkloadDisruption", 1, 0, NULL,
     "unset, follows allowPostCopy (false) as KubeVirt HEAD does"},
    {"§1.1 HEAD unsafeMigrationOverride", NULL, NULL, "unsafeMigrationOverride", 1, 0, NULL,
     "default for KubeVirt HEAD (false)"},
    {"§1.1 HEAD disableTLS", NULL, NULL, "disableTLS", 1, 0, NULL,
     "default for KubeVirt HEAD (false)"},
    {"§1.1 HEAD nodeDrainTaintKey", NULL, NULL, "nodeDrainTaintKey", 1, 0, "kubevirt.io/drain",
     "default for KubeVirt HEAD (kubevirt.io/drain)"},
    {"§1.1 HEAD network unset", NULL, NULL, "network", 0, 0, NULL,
     "default for KubeVirt HEAD (unset: the pod network)"},
    {"§1.1 HEAD matchSELinuxLevelOnMigration unset", NULL, NULL, "matchSELinuxLevelOnMigration", 0,
     0, NULL, "default for KubeVirt HEAD (unset: the target keeps the source's level)"},
    {"§1.1 HEAD evictionStrategy", NULL, NULL, "evictionStrategy", 1, 0, "None",
     "default for KubeVirt HEAD (None)"},

    /* §1.1: version-aware KubeVirt defaults from status.observedKubeVirtVersion */
    {"§1.1 v1.3: 800 s/GB", KV_13, NULL, "completionTimeoutPerGiB", 1, 800, NULL,
     "default for KubeVirt v1.3 (800 s/GB before v1.4)"},
    {"§1.1 v1.4: 150 s/GB", KV_14, NULL, "completionTimeoutPerGiB", 1, 150, NULL,
     "default for KubeVirt v1.4 (150 s/GB since v1.4)"},
    {"§1.1 v1.4 release candidate counts as v1.4", KV("{}", OBSERVED("v1.4.0-rc.1")), NULL,
     "completionTimeoutPerGiB", 1, 150, NULL, "default for KubeVirt v1.4 (150 s/GB since v1.4)"},
    {"§1.1 v1.9: 150 s/GB", KV("{}", OBSERVED("v1.9.0")), NULL, "completionTimeoutPerGiB", 1, 150,
     NULL, "default for KubeVirt v1.9 (150 s/GB since v1.4)"},
    {"§1.1 no observed version: HEAD", KV("{}", "{}"), NULL, "completionTimeoutPerGiB", 1, 150,
     NULL, "default for KubeVirt HEAD (150 s/GB since v1.4)"},
    {"§1.1 v1.3 has no maxDowntimeMs", KV_13, NULL, "maxDowntimeMs", 0, 0, NULL,
     "not in KubeVirt v1.3 (maxDowntimeMs is new in v1.9)"},
    {"§1.1 v1.8 has no maxDowntimeMs", KV("{}", OBSERVED("v1.8.2")), NULL, "maxDowntimeMs", 0, 0,
     NULL, "not in KubeVirt v1.8 (maxDowntimeMs is new in v1.9)"},
    {"§1.1 v1.8 has utilityVolumesTimeout", KV("{}", OBSERVED("v1.8.2")), NULL,
     "utilityVolumesTimeout", 1, 150, NULL, "default for KubeVirt v1.8 (150 s since v1.8)"},
    {"§1.1 v1.7 has no utilityVolumesTimeout", KV("{}", OBSERVED("1.7.0")), NULL,
     "utilityVolumesTimeout", 0, 0, NULL,
     "not in KubeVirt v1.7 (utilityVolumesTimeout is new in v1.8)"},
    {"§1.1 v0.43.0: 64Mi bandwidth", KV("{}", OBSERVED("v0.43.0")), NULL, "bandwidthPerMigration",
     1, 67108864, NULL, "default for KubeVirt v0.43 (64Mi before v0.43.1)"},
    {"§1.1 v0.43.1: unlimited", KV("{}", OBSERVED("v0.43.1")), NULL, "bandwidthPerMigration", 1, 0,
     NULL, "default for KubeVirt v0.43 (0Mi = unlimited since v0.43.1)"},
    {"§1.1 v1.1: evictionStrategy nil behaves as None", KV("{}", OBSERVED("v1.1.0")), NULL,
     "evictionStrategy", 1, 0, "None",
     "default for KubeVirt v1.1 (unset before v1.2, behaves as None)"},
    {"§1.1/§1.4 v1.3: no AWD, timeout acts as allowPostCopy", KV_13, NULL,
     "allowWorkloadDisruption", 1, 0, NULL,
     "KubeVirt v1.3 has no allowWorkloadDisruption: a timeout acts as allowPostCopy (false)"},
    {"§1.1 AWD unset copies allowPostCopy true",
     KV("{'migrations':{'allowPostCopy':true}}", OBSERVED("v1.6.0")), NULL,
     "allowWorkloadDisruption", 1, 1, NULL,
     "unset, follows allowPostCopy (true) as KubeVirt v1.6 does"},

    /* §1.1: explicit KubeVirt CR values override the defaults */
    {"§1.1 explicit completionTimeoutPerGiB", KV_EXPLICIT, NULL, "completionTimeoutPerGiB", 1, 300,
     NULL, "KubeVirt CR spec.configuration.migrations.completionTimeoutPerGiB"},
    {"§1.1 explicit progressTimeout", KV_EXPLICIT, NULL, "progressTimeout", 1, 60, NULL,
     "KubeVirt CR spec.configuration.migrations.progressTimeout"},
    {"§1.1 explicit bandwidth 1Gi", KV_EXPLICIT, NULL, "bandwidthPerMigration", 1, 1073741824, NULL,
     "KubeVirt CR spec.configuration.migrations.bandwidthPerMigration"},
    {"§1.1 explicit bandwidth keeps its text", KV_EXPLICIT, NULL, "bandwidthPerMigration", 1, 0,
     "1Gi", NULL},
    {"§1.1 bandwidth as a JSON number",
     KV("{'migrations':{'bandwidthPerMigration':67108864}}", OBSERVED("v1.6.0")), NULL,
     "bandwidthPerMigration", 1, 67108864, NULL,
     "KubeVirt CR spec.configuration.migrations.bandwidthPerMigration"},
    {"§1.1 explicit parallelMigrationsPerCluster", KV_EXPLICIT, NULL,
     "parallelMigrationsPerCluster", 1, 10, NULL,
     "KubeVirt CR spec.configuration.migrations.parallelMigrationsPerCluster"},
    {"§1.1 untouched field keeps its v1.3 default", KV_EXPLICIT, NULL,
     "parallelOutboundMigrationsPerNode", 1, 2, NULL, "default for KubeVirt v1.3 (2)"},
    {"§1.1 explicit AWD false wins over allowPostCopy", KV_EXPLICIT, NULL,
     "allowWorkloadDisruption", 1, 0, NULL,
     "KubeVirt CR spec.configuration.migrations.allowWorkloadDisruption"},
    {"§1.1 explicit nodeDrainTaintKey", KV_EXPLICIT, NULL, "nodeDrainTaintKey", 1, 0,
     "example.com/drain", "KubeVirt CR spec.configuration.migrations.nodeDrainTaintKey"},
    {"§1.1 explicit network", KV_EXPLICIT, NULL, "network", 1, 0, "migration-net",
     "KubeVirt CR spec.configuration.migrations.network"},
    {"§1.1 explicit maxDowntimeMs (even on v1.3)", KV_EXPLICIT, NULL, "maxDowntimeMs", 1, 300, NULL,
     "KubeVirt CR spec.configuration.migrations.maxDowntimeMs"},
    {"§1.1 explicit matchSELinuxLevelOnMigration", KV_EXPLICIT, NULL,
     "matchSELinuxLevelOnMigration", 1, 0, NULL,
     "KubeVirt CR spec.configuration.migrations.matchSELinuxLevelOnMigration"},
    {"§1.1 explicit evictionStrategy", KV_EXPLICIT, NULL, "evictionStrategy", 1, 1, "LiveMigrate",
     "KubeVirt CR spec.configuration.evictionStrategy"},
    {"§1.1 null counts as unset", KV("{'migrations':{'progressTimeout':null}}", OBSERVED("v1.6.0")),
     NULL, "progressTimeout", 1, 150, NULL, "default for KubeVirt v1.6 (150 s)"},

    /* §1.2: HyperConverged hco.kubevirt.io/v1beta1 and v1 field paths */
    {"§1.2 v1beta1 spec.liveMigrationConfig", NULL, HCO_1B1_116, "completionTimeoutPerGiB", 1, 90,
     NULL,
     "HyperConverged hco.kubevirt.io/v1beta1 spec.liveMigrationConfig.completionTimeoutPerGiB"},
    {"§1.2 v1beta1 outbound", NULL, HCO_1B1_116, "parallelOutboundMigrationsPerNode", 1, 3, NULL,
     "HyperConverged hco.kubevirt.io/v1beta1 spec.liveMigrationConfig."
     "parallelOutboundMigrationsPerNode"},
    {"§1.2 v1beta1 spec.evictionStrategy", NULL, HCO_1B1_116, "evictionStrategy", 1, 2,
     "LiveMigrateIfPossible", "HyperConverged hco.kubevirt.io/v1beta1 spec.evictionStrategy"},
    {"§1.2 v1 spec.virtualization.liveMigrationConfig", NULL, HCO_1V1, "completionTimeoutPerGiB", 1,
     60, NULL,
     "HyperConverged hco.kubevirt.io/v1 spec.virtualization.liveMigrationConfig."
     "completionTimeoutPerGiB"},
    {"§1.2 v1 bandwidth string", NULL, HCO_1V1, "bandwidthPerMigration", 1, 134217728, NULL,
     "HyperConverged hco.kubevirt.io/v1 spec.virtualization.liveMigrationConfig."
     "bandwidthPerMigration"},
    {"§1.2 v1 spec.virtualization.evictionStrategy", NULL, HCO_1V1, "evictionStrategy", 1, 3,
     "External", "HyperConverged hco.kubevirt.io/v1 spec.virtualization.evictionStrategy"},
    {"§1.2 v1 (main) AWD default false although allowPostCopy is true", NULL, HCO_1V1,
     "allowWorkloadDisruption", 1, 0, NULL, "default for HyperConverged main (false since v1.14)"},

    /* §1.2 table, peers §1: HCO's own defaults by operator version */
    {"§1.2 HCO main: 1 outbound per node", NULL, HCO_B1("{}", "{}"),
     "parallelOutboundMigrationsPerNode", 1, 1, NULL,
     "default for HyperConverged main (1 since v1.19)"},
    {"§1.2 HCO main: 20 s/GB", NULL, HCO_B1("{}", "{}"), "completionTimeoutPerGiB", 1, 20, NULL,
     "default for HyperConverged main (20 s/GB since v1.19)"},
    {"§1.2 HCO main: 5 per cluster", NULL, HCO_B1("{}", "{}"), "parallelMigrationsPerCluster", 1, 5,
     NULL, "default for HyperConverged main (5)"},
    {"§1.2 HCO main: 150 s progress", NULL, HCO_B1("{}", "{}"), "progressTimeout", 1, 150, NULL,
     "default for HyperConverged main (150 s)"},
    {"§1.2 HCO v1.18: 2 outbound", NULL, HCO_B1("{}", OPERATOR("1.18.1")),
     "parallelOutboundMigrationsPerNode", 1, 2, NULL,
     "default for HyperConverged v1.18 (2 before v1.19)"},
    {"§1.2 HCO v1.18: 150 s/GB", NULL, HCO_B1("{}", OPERATOR("1.18.1")), "completionTimeoutPerGiB",
     1, 150, NULL, "default for HyperConverged v1.18 (150 s/GB in v1.14-v1.18)"},
    {"§1.2 HCO v1.14: 150 s/GB", NULL, HCO_V1("{}", OPERATOR("v1.14.0")), "completionTimeoutPerGiB",
     1, 150, NULL, "default for HyperConverged v1.14 (150 s/GB in v1.14-v1.18)"},
    {"§1.2 HCO v1.14: 2 outbound", NULL, HCO_V1("{}", OPERATOR("v1.14.0")),
     "parallelOutboundMigrationsPerNode", 1, 2, NULL,
     "default for HyperConverged v1.14 (2 before v1.19)"},
    {"§1.2 HCO v1.19: main defaults", NULL, HCO_B1("{}", OPERATOR("1.19.0")),
     "completionTimeoutPerGiB", 1, 20, NULL,
     "default for HyperConverged v1.19 (20 s/GB since v1.19)"},
    {"§1.2 HCO v1.13: 800 s/GB", NULL, HCO_B1("{}", OPERATOR("1.13.2")), "completionTimeoutPerGiB",
     1, 800, NULL, "default for HyperConverged v1.13 (800 s/GB up to v1.13)"},
    {"§1.2 HCO v1.13 has no AWD: KubeVirt rule", NULL, HCO_B1("{}", OPERATOR("1.13.2")),
     "allowWorkloadDisruption", 1, 0, NULL,
     "unset, follows allowPostCopy (false) as KubeVirt HEAD does"},
    {"§1.2 HCO v1.13 allowPostCopy default", NULL, HCO_B1("{}", OPERATOR("1.13.2")),
     "allowPostCopy", 1, 0, NULL, "default for HyperConverged v1.13 (false since v1.10)"},
    {"§1.2 HCO v1.9 does not expose allowPostCopy", NULL, HCO_B1("{}", OPERATOR("1.9.0")),
     "allowPostCopy", 1, 0, NULL, "default for KubeVirt HEAD (false)"},
    {"§1.2 HCO bandwidth unset: KubeVirt default", NULL, HCO_B1("{}", "{}"),
     "bandwidthPerMigration", 1, 0, NULL,
     "default for KubeVirt HEAD (0Mi = unlimited since v0.43.1); unset in HyperConverged"},
    {"§1.2 HCO network unset", NULL, HCO_B1("{}", "{}"), "network", 0, 0, NULL,
     "default for KubeVirt HEAD (unset: the pod network); unset in HyperConverged"},
    {"§1.2 HCO downstream version number: newest defaults, said so", NULL,
     HCO_B1("{}", OPERATOR("4.18.3")), "completionTimeoutPerGiB", 1, 20, NULL,
     "default for HyperConverged main (operator version 4.18.3 is not an HCO v1.x version) "
     "(20 s/GB since v1.19)"},

    /* §1.2: HCO evictionStrategy when unset follows status.infrastructureHighlyAvailable */
    {"§1.2 HCO eviction default, highly available", NULL, HCO_B1("{}", HA("true")),
     "evictionStrategy", 1, 1, "LiveMigrate",
     "default for HyperConverged (status.infrastructureHighlyAvailable is true: LiveMigrate)"},
    {"§1.2 HCO eviction default, single worker", NULL, HCO_V1("{}", HA("false")),
     "evictionStrategy", 1, 0, "None",
     "default for HyperConverged (status.infrastructureHighlyAvailable is false: None)"},
    {"§1.2 HCO eviction default, status not reported", NULL, HCO_B1("{}", "{}"), "evictionStrategy",
     1, 0, "None",
     "default for HyperConverged (status.infrastructureHighlyAvailable is unset: None)"},

    /* §1.2: HCO owns the KubeVirt CR: it wins for the fields it exposes */
    {"§1.2 HCO value beats KubeVirt CR", KV_CONFLICT, HCO_1B1_116, "completionTimeoutPerGiB", 1, 90,
     NULL,
     "HyperConverged hco.kubevirt.io/v1beta1 spec.liveMigrationConfig.completionTimeoutPerGiB"},
    {"§1.2 HCO default beats KubeVirt CR", KV_CONFLICT, HCO_1B1_116, "progressTimeout", 1, 150,
     NULL, "default for HyperConverged v1.16 (150 s)"},
    {"§1.2 HCO-exposed unset bandwidth: not the KubeVirt CR's", KV_CONFLICT, HCO_1B1_116,
     "bandwidthPerMigration", 1, 0, NULL,
     "default for KubeVirt v1.6 (0Mi = unlimited since v0.43.1); unset in HyperConverged"},
    {"§1.2 not exposed by HCO: from the KubeVirt CR", KV_CONFLICT, HCO_1B1_116, "disableTLS", 1, 1,
     NULL, "KubeVirt CR spec.configuration.migrations.disableTLS"},
    {"§1.2 not exposed by HCO, unset: KubeVirt default for its version", KV_CONFLICT, HCO_1B1_116,
     "maxDowntimeMs", 0, 0, NULL, "not in KubeVirt v1.6 (maxDowntimeMs is new in v1.9)"},
    {"§1.2 HCO eviction beats KubeVirt CR", KV_CONFLICT, HCO_1B1_116, "evictionStrategy", 1, 2,
     "LiveMigrateIfPossible", "HyperConverged hco.kubevirt.io/v1beta1 spec.evictionStrategy"},
    {"§1.2 HCO eviction default beats KubeVirt CR", KV_CONFLICT, HCO_B1("{}", HA("false")),
     "evictionStrategy", 1, 0, "None",
     "default for HyperConverged (status.infrastructureHighlyAvailable is false: None)"},
    {"§1.2 HCO v1.16 AWD default", KV_CONFLICT, HCO_1B1_116, "allowWorkloadDisruption", 1, 0, NULL,
     "default for HyperConverged v1.16 (false since v1.14)"},

    /* §1.2: the jsonpatch annotation is applied after HCO's values */
    {"§1.2 jsonpatch on an exposed field: KubeVirt CR value", KV_CONFLICT,
     PATCH("/spec/configuration/migrations/completionTimeoutPerGiB"), "completionTimeoutPerGiB", 1,
     500, NULL,
     "KubeVirt CR spec.configuration.migrations.completionTimeoutPerGiB (patched through the "
     "HyperConverged jsonpatch annotation)"},
    {"§1.2 jsonpatch elsewhere leaves HCO in charge", KV_CONFLICT,
     PATCH("/spec/configuration/migrations/completionTimeoutPerGiB"), "progressTimeout", 1, 150,
     NULL, "default for HyperConverged v1.16 (150 s)"},
    {"§1.2 jsonpatch of the whole block", KV("{'migrations':{}}", OBSERVED("v1.6.0")),
     PATCH("/spec/configuration/migrations"), "parallelOutboundMigrationsPerNode", 1, 2, NULL,
     "default for KubeVirt v1.6 (2) (patched through the HyperConverged jsonpatch annotation)"},
};

static void test_cluster(void) {
  size_t i;
  char err[VR_MC_ERRLEN];
  vr_migration_config c;
  for (i = 0; i < sizeof cluster_cases / sizeof cluster_cases[0]; i++) {
    const cluster_case *t = &cluster_cases[i];
    cJSON *kv = js(t->kubevirt), *hco = js(t->hco);
    int rc;
    err[0] = '\0';
    CHECK((t->kubevirt == NULL || kv != NULL) && (t->hco == NULL || hco != NULL));
    rc = vr_migration_config_cluster(kv, hco, &c, err, sizeof err);
    if (rc != 0) fprintf(stderr, "case: %s: %s\n", t->what, err);
    CHECK(rc == 0);
    if (rc == 0) {
      CHECK(expect_value(t->what, vr_migration_config_get(&c, t->field), t->set, t->num, t->str,
                         t->source));
    }
    cJSON_Delete(kv);
    cJSON_Delete(hco);
  }
  /* the version labels */
  {
    cJSON *kv = js(KV_13), *hco = js(HCO_B1("{}", OPERATOR("1.18.1")));
    CHECK(vr_migration_config_cluster(kv, hco, &c, err, sizeof err) == 0);
    CHECK_STR(c.kubevirt_version, "v1.3");
    CHECK_STR(c.hco_version, "v1.18");
    CHECK_STR(c.policy, "");
    CHECK(vr_migration_config_cluster(NULL, NULL, &c, err, sizeof err) == 0);
    CHECK_STR(c.kubevirt_version, "HEAD");
    CHECK_STR(c.hco_version, "");
    cJSON_Delete(kv);
    cJSON_Delete(hco);
  }
  CHECK(vr_migration_config_get(&c, "noSuchField") == NULL);
  CHECK(vr_migration_config_get(&c, NULL) == NULL);
}

typedef struct error_case {
  const char *what;
  const char *kubevirt, *hco;
  const char *error; /* exact */
} error_case;

#define KVM(m) KV("{'migrations':{" m "}}", OBSERVED("v1.6.0"))
#define KVE    "KubeVirt kubevirt/kubevirt: "
#define HCOE   "HyperConverged openshift-cnv/kubevirt-hyperconverged: "

static const error_case error_cases[] = {
    {"§1.1 bandwidth not a quantity", KVM("'bandwidthPerMigration':'64Mx'"), NULL,
     KVE "spec.configuration.migrations.bandwidthPerMigration: '64Mx' is not a quantity"},
    {"§1.1 bandwidth out of range", KVM("'bandwidthPerMigration':'1e30'"), NULL,
     KVE "spec.configuration.migrations.bandwidthPerMigration: '1e30' is out of range"},
    {"§1.1 bandwidth negative", KVM("'bandwidthPerMigration':'-1Mi'"), NULL,
     KVE "spec.configuration.migrations.bandwidthPerMigration: '-1Mi' must not be negative"},
    {"§1.1 bandwidth fractional number", KVM("'bandwidthPerMigration':1.5"), NULL,
     KVE "spec.configuration.migrations.bandwidthPerMigration: expected a quantity, got 1.5"},
    {"§1.1 negative timeout", KVM("'completionTimeoutPerGiB':-5"), NULL,
     KVE "spec.configuration.migrations.completionTimeoutPerGiB: must not be negative (got -5)"},
    {"§1.1 timeout as a string", KVM("'progressTimeout':'150'"), NULL,
     KVE "spec.configuration.migrations.progressTimeout: expected a non-negative integer, got a "
         "string"},
    {"§1.1 boolean as a string", KVM("'allowPostCopy':'true'"), NULL,
     KVE "spec.configuration.migrations.allowPostCopy: expected a boolean, got a string"},
    {"§1.1 fractional count", KVM("'parallelMigrationsPerCluster':1.5"), NULL,
     KVE "spec.configuration.migrations.parallelMigrationsPerCluster: expected a non-negative "
         "integer, got 1.5"},
    {"§1.1 uint32 overflow", KVM("'parallelOutboundMigrationsPerNode':4294967296"), NULL,
     KVE "spec.configuration.migrations.parallelOutboundMigrationsPerNode: 4294967296 is out of "
         "range (0 to 4294967295)"},
    {"§1.1 maxDowntimeMs below its minimum", KVM("'maxDowntimeMs':0"), NULL,
     KVE "spec.configuration.migrations.maxDowntimeMs: 0 is out of range (1 to 2000000)"},
    {"§1.1 network not a string", KVM("'network':5"), NULL,
     KVE "spec.configuration.migrations.network: expected a string, got a number"},
    {"§1.1 migrations not an object", KV("{'migrations':[]}", OBSERVED("v1.6.0")), NULL,
     KVE "spec.configuration.migrations: expected an object, got an array"},
    {"§1.1 configuration not an object", KV("true", OBSERVED("v1.6.0")), NULL,
     KVE "spec.configuration: expected an object, got a boolean"},
    {"§3.1 unknown cluster eviction strategy",
     KV("{'evictionStrategy':'Migrate'}", OBSERVED("v1.6.0")), NULL,
     KVE "spec.configuration.evictionStrategy: 'Migrate' is not an eviction strategy (None, "
         "LiveMigrate, LiveMigrateIfPossible, External)"},
    {"§1.1 unparseable observed version", KV("{}", OBSERVED("devel")), NULL,
     KVE "status.observedKubeVirtVersion: 'devel' is not a version"},
    {"§1.1 observed version of the wrong type", KV("{}", "{'observedKubeVirtVersion':14}"), NULL,
     KVE "status.observedKubeVirtVersion: expected a string, got a number"},
    {"wrong kind", "{'kind':'Pod','metadata':{'name':'web','namespace':'default'}}", NULL,
     "KubeVirt default/web: kind: expected KubeVirt, got 'Pod'"},
    {"not an object", "[]", NULL, "KubeVirt (unnamed): expected an object"},
    {"§1.2 HCO bandwidth is a *string", NULL,
     HCO_B1("{'liveMigrationConfig':{'bandwidthPerMigration':1024}}", "{}"),
     HCOE "spec.liveMigrationConfig.bandwidthPerMigration: expected a quantity string, got a "
          "number"},
    {"§1.2 HCO v1 bandwidth not a quantity", NULL,
     HCO_V1("{'liveMigrationConfig':{'bandwidthPerMigration':'1.5Gx'}}", "{}"),
     HCOE "spec.virtualization.liveMigrationConfig.bandwidthPerMigration: '1.5Gx' is not a "
          "quantity"},
    {"§1.2 HCO negative bandwidth", NULL,
     HCO_B1("{'liveMigrationConfig':{'bandwidthPerMigration':'-1Mi'}}", "{}"),
     HCOE "spec.liveMigrationConfig.bandwidthPerMigration: '-1Mi' must not be negative"},
    {"§1.2 HCO negative timeout", NULL,
     HCO_V1("{'liveMigrationConfig':{'progressTimeout':-1}}", "{}"),
     HCOE "spec.virtualization.liveMigrationConfig.progressTimeout: must not be negative (got -1)"},
    {"§1.2 HCO unknown API version", NULL,
     "{'apiVersion':'hco.kubevirt.io/v2'," HCO_META ",'spec':{}}",
     HCOE "apiVersion: expected hco.kubevirt.io/v1beta1 or hco.kubevirt.io/v1, got "
          "hco.kubevirt.io/v2"},
    {"§1.2 HCO v1 virtualization not an object", NULL,
     "{'apiVersion':'hco.kubevirt.io/v1'," HCO_META ",'spec':{'virtualization':'x'}}",
     HCOE "spec.virtualization: expected an object, got a string"},
    {"§1.2 HCO unknown eviction strategy", NULL, HCO_V1("{'evictionStrategy':'Always'}", "{}"),
     HCOE "spec.virtualization.evictionStrategy: 'Always' is not an eviction strategy (None, "
          "LiveMigrate, LiveMigrateIfPossible, External)"},
    {"§1.2 infrastructureHighlyAvailable of the wrong type", NULL,
     HCO_B1("{}", "{'infrastructureHighlyAvailable':'yes'}"),
     HCOE "status.infrastructureHighlyAvailable: expected a boolean, got a string"},
    {"§1.2 operator version of the wrong type", NULL,
     HCO_B1("{}", "{'versions':[{'name':'operator','version':42}]}"),
     HCOE "status.versions[0].version: expected a string, got a number"},
    {"§1.2 bad jsonpatch annotation", NULL,
     "{'apiVersion':'hco.kubevirt.io/v1beta1','kind':'HyperConverged','metadata':{'name':"
     "'kubevirt-hyperconverged','namespace':'openshift-cnv','annotations':{'kubevirt.kubevirt.io/"
     "jsonpatch':'not json'}},'spec':{}}",
     HCOE "metadata.annotations.kubevirt.kubevirt.io/jsonpatch: not a JSON array of patch "
          "operations"},
};

static void test_errors(void) {
  size_t i;
  char err[VR_MC_ERRLEN], tiny[16];
  vr_migration_config c;
  for (i = 0; i < sizeof error_cases / sizeof error_cases[0]; i++) {
    const error_case *t = &error_cases[i];
    cJSON *kv = js(t->kubevirt), *hco = js(t->hco);
    int rc;
    err[0] = '\0';
    CHECK((t->kubevirt == NULL || kv != NULL) && (t->hco == NULL || hco != NULL));
    rc = vr_migration_config_cluster(kv, hco, &c, err, sizeof err);
    if (rc != -1) fprintf(stderr, "case: %s: accepted\n", t->what);
    CHECK(rc == -1);
    if (strcmp(err, t->error) != 0) fprintf(stderr, "case: %s\n", t->what);
    CHECK_STR(err, t->error);
    /* no buffer, and a buffer too small: still -1, message cut */
    CHECK(vr_migration_config_cluster(kv, hco, &c, NULL, 0) == -1);
    CHECK(vr_migration_config_cluster(kv, hco, &c, tiny, sizeof tiny) == -1);
    CHECK(strlen(tiny) == sizeof tiny - 1);
    cJSON_Delete(kv);
    cJSON_Delete(hco);
  }
}

/* ============================================================================================
 * Per VMI: MigrationPolicy (§2.5)
 * ============================================================================================ */

#define POLICY(name, spec)                                                                         \
  "{'apiVersion':'migrations.kubevirt.io/"                                                         \
  "v1alpha1','kind':'MigrationPolicy','metadata':{'name':'" name "'},'spec':" spec "}"
#define VMI(labels)                                                                                \
  "{'apiVersion':'kubevirt.io/v1','kind':'VirtualMachineInstance','metadata':{'name':'db-1',"      \
  "'namespace':'prod'" labels "},'spec':{}}"
#define LABELS(l) ",'labels':" l

/* Policies of the ranking cases (§2.5). "0-no-selectors" would win every tie if it matched. */
static const char *const ranking_policies[] = {
    POLICY("0-no-selectors", "{'completionTimeoutPerGiB':1}"),
    POLICY("a-ns-only", "{'selectors':{'namespaceSelector':{'team':'db'}},"
                        "'completionTimeoutPerGiB':300}"),
    POLICY("b-vmi-one", "{'selectors':{'virtualMachineInstanceSelector':{'app':'pg'}},"
                        "'completionTimeoutPerGiB':400}"),
    POLICY("c-vmi-two", "{'selectors':{'virtualMachineInstanceSelector':{'app':'pg','tier':"
                        "'gold'}},'completionTimeoutPerGiB':500,'allowPostCopy':true}"),
    POLICY("d-mixed", "{'selectors':{'namespaceSelector':{'team':'db'},"
                      "'virtualMachineInstanceSelector':{'app':'pg'}},"
                      "'bandwidthPerMigration':'256Mi'}"),
};

typedef struct policy_case {
  const char *what;
  const char *const *policies; /* NULL: ranking_policies */
  size_t npolicies;
  const char *vmi, *ns;
  const char *policy; /* expected winner, "" for none */
  const char *field;
  int set;
  long long num;
  const char *source;
} policy_case;

#define RANKING NULL, 0
#define NS_DB   "{'team':'db'}"
#define NS_OBJ                                                                                     \
  "{'apiVersion':'v1','kind':'Namespace','metadata':{'name':'prod','labels':" NS_DB "}}"

static const char *const tie_policies[] = {
    POLICY("zeta", "{'selectors':{'virtualMachineInstanceSelector':{'app':'pg'}},"
                   "'completionTimeoutPerGiB':11}"),
    POLICY("alpha", "{'selectors':{'virtualMachineInstanceSelector':{'app':'pg'}},"
                    "'completionTimeoutPerGiB':22}"),
    POLICY("ns-pol", "{'selectors':{'namespaceSelector':{'team':'db'}},"
                     "'completionTimeoutPerGiB':33}"),
};
static const char *const vmi_beats_ns[] = {tie_policies[2], tie_policies[0]};
static const char *const override_policies[] = {
    POLICY("awd-only", "{'selectors':{},'allowWorkloadDisruption':false,'maxDowntimeMs':500,"
                       "'allowAutoConverge':true}"),
};
static const char *const both_policies[] = {
    POLICY("both", "{'selectors':{},'allowPostCopy':false,'allowWorkloadDisruption':true,"
                   "'bandwidthPerMigration':1048576}"),
};
static const char *const untouched_policies[] = {
    POLICY("timeout-only", "{'selectors':{},'completionTimeoutPerGiB':42}"),
};

static const policy_case policy_cases[] = {
    {"§2.5 most matches: two VMI pairs beat VMI+namespace", RANKING,
     VMI(LABELS("{'app':'pg','tier':'gold'}")), NS_DB, "c-vmi-two", "completionTimeoutPerGiB", 1,
     500, "MigrationPolicy c-vmi-two spec.completionTimeoutPerGiB"},
    {"§2.5 AWD follows the policy's allowPostCopy", RANKING,
     VMI(LABELS("{'app':'pg','tier':'gold'}")), NS_DB, "c-vmi-two", "allowWorkloadDisruption", 1, 1,
     "MigrationPolicy c-vmi-two spec.allowPostCopy (allowWorkloadDisruption follows it)"},
    {"§2.5 policy allowPostCopy", RANKING, VMI(LABELS("{'app':'pg','tier':'gold'}")), NS_DB,
     "c-vmi-two", "allowPostCopy", 1, 1, "MigrationPolicy c-vmi-two spec.allowPostCopy"},
    {"§2.5 fields the policy leaves nil stay cluster-wide", RANKING,
     VMI(LABELS("{'app':'pg','tier':'gold'}")), NS_DB, "c-vmi-two", "bandwidthPerMigration", 1, 0,
     "default for KubeVirt HEAD (0Mi = unlimited since v0.43.1)"},
    {"§2.5 progressTimeout is not a policy field", RANKING,
     VMI(LABELS("{'app':'pg','tier':'gold'}")), NS_DB, "c-vmi-two", "progressTimeout", 1, 150,
     "default for KubeVirt HEAD (150 s)"},
    {"§2.5 VMI+namespace (2) beats one pair", RANKING, VMI(LABELS("{'app':'pg'}")), NS_DB,
     "d-mixed", "bandwidthPerMigration", 1, 268435456,
     "MigrationPolicy d-mixed spec.bandwidthPerMigration"},
    {"§2.5 Namespace object instead of labels", RANKING, VMI(LABELS("{'app':'pg'}")), NS_OBJ,
     "d-mixed", "bandwidthPerMigration", 1, 268435456,
     "MigrationPolicy d-mixed spec.bandwidthPerMigration"},
    {"§2.5 namespace selector fails without namespace labels", RANKING, VMI(LABELS("{'app':'pg'}")),
     NULL, "b-vmi-one", "completionTimeoutPerGiB", 1, 400,
     "MigrationPolicy b-vmi-one spec.completionTimeoutPerGiB"},
    {"§2.5 all pairs must match", RANKING, VMI(LABELS("{'app':'pg','tier':'silver'}")),
     "{'team':'web'}", "b-vmi-one", "completionTimeoutPerGiB", 1, 400,
     "MigrationPolicy b-vmi-one spec.completionTimeoutPerGiB"},
    {"§2.5 nothing matches: cluster values", RANKING, VMI(LABELS("{'app':'web'}")),
     "{'team':'web'}", "", "completionTimeoutPerGiB", 1, 150,
     "default for KubeVirt HEAD (150 s/GB since v1.4)"},
    {"§2.5 empty labels map is still evaluated", RANKING, VMI(LABELS("{}")), NS_DB, "a-ns-only",
     "completionTimeoutPerGiB", 1, 300, "MigrationPolicy a-ns-only spec.completionTimeoutPerGiB"},
    {"§2.5 quirk: VMI without labels matches every policy with selectors, first name wins", RANKING,
     VMI(""), "{'team':'web'}", "a-ns-only", "completionTimeoutPerGiB", 1, 300,
     "MigrationPolicy a-ns-only spec.completionTimeoutPerGiB"},
    {"§2.5 quirk: null labels are no labels", RANKING, VMI(LABELS("null")), NULL, "a-ns-only",
     "completionTimeoutPerGiB", 1, 300, "MigrationPolicy a-ns-only spec.completionTimeoutPerGiB"},
    {"§2.5 tie broken by policy name", tie_policies, 2, VMI(LABELS("{'app':'pg'}")), NS_DB, "alpha",
     "completionTimeoutPerGiB", 1, 22, "MigrationPolicy alpha spec.completionTimeoutPerGiB"},
    {"§2.5 equal totals: more VMI pairs beat a smaller name", vmi_beats_ns, 2,
     VMI(LABELS("{'app':'pg'}")), NS_DB, "zeta", "completionTimeoutPerGiB", 1, 11,
     "MigrationPolicy zeta spec.completionTimeoutPerGiB"},
    {"§2.5 explicit AWD false without allowPostCopy", override_policies, 1,
     VMI(LABELS("{'x':'y'}")), NULL, "awd-only", "allowWorkloadDisruption", 1, 0,
     "MigrationPolicy awd-only spec.allowWorkloadDisruption"},
    {"§2.5 policy maxDowntimeMs", override_policies, 1, VMI(LABELS("{'x':'y'}")), NULL, "awd-only",
     "maxDowntimeMs", 1, 500, "MigrationPolicy awd-only spec.maxDowntimeMs"},
    {"§2.5 policy allowAutoConverge", override_policies, 1, VMI(LABELS("{'x':'y'}")), NULL,
     "awd-only", "allowAutoConverge", 1, 1, "MigrationPolicy awd-only spec.allowAutoConverge"},
    {"§2.5 explicit AWD beats allowPostCopy", both_policies, 1, VMI(LABELS("{'x':'y'}")), NULL,
     "both", "allowWorkloadDisruption", 1, 1, "MigrationPolicy both spec.allowWorkloadDisruption"},
    {"§2.5 policy bandwidth as a JSON number", both_policies, 1, VMI(LABELS("{'x':'y'}")), NULL,
     "both", "bandwidthPerMigration", 1, 1048576,
     "MigrationPolicy both spec.bandwidthPerMigration"},
    {"§1.1+§2.5 cluster AWD rule survives a policy without allowPostCopy", untouched_policies, 1,
     VMI(LABELS("{'x':'y'}")), NULL, "timeout-only", "allowWorkloadDisruption", 1, 0,
     "unset, follows allowPostCopy (false) as KubeVirt HEAD does"},
};

static cJSON **parse_all(const char *const *texts, size_t n) {
  cJSON **out = calloc(n ? n : 1, sizeof *out);
  size_t i;
  for (i = 0; out != NULL && i < n; i++) out[i] = js(texts[i]);
  return out;
}

static void free_all(cJSON **objs, size_t n) {
  size_t i;
  for (i = 0; objs != NULL && i < n; i++) cJSON_Delete(objs[i]);
  free(objs);
}

static void test_policies(void) {
  size_t i;
  char err[VR_MC_ERRLEN];
  vr_migration_config cluster, c;
  CHECK(vr_migration_config_cluster(NULL, NULL, &cluster, err, sizeof err) == 0);
  for (i = 0; i < sizeof policy_cases / sizeof policy_cases[0]; i++) {
    const policy_case *t = &policy_cases[i];
    const char *const *texts = t->policies ? t->policies : ranking_policies;
    size_t n = t->policies ? t->npolicies : sizeof ranking_policies / sizeof ranking_policies[0];
    cJSON **pol = parse_all(texts, n), *vmi = js(t->vmi), *ns = js(t->ns);
    int rc;
    err[0] = '\0';
    rc = vr_migration_config_for_vmi(&cluster, (const cJSON *const *)pol, n, vmi, ns, &c, err,
                                     sizeof err);
    if (rc != 0) fprintf(stderr, "case: %s: %s\n", t->what, err);
    CHECK(rc == 0);
    if (rc == 0) {
      if (strcmp(c.policy, t->policy) != 0) fprintf(stderr, "case: %s\n", t->what);
      CHECK_STR(c.policy, t->policy);
      CHECK(expect_value(t->what, vr_migration_config_get(&c, t->field), t->set, t->num, NULL,
                         t->source));
    }
    free_all(pol, n);
    cJSON_Delete(vmi);
    cJSON_Delete(ns);
  }
  /* out may alias cluster; NULL entries are skipped */
  {
    cJSON *pol[2] = {NULL, js(tie_policies[1])}, *vmi = js(VMI(LABELS("{'app':'pg'}")));
    c = cluster;
    CHECK(vr_migration_config_for_vmi(&c, (const cJSON *const *)pol, 2, vmi, NULL, &c, err,
                                      sizeof err) == 0);
    CHECK_STR(c.policy, "alpha");
    CHECK(c.completion_timeout_per_gib.num == 22);
    CHECK_STR(c.eviction_strategy.source, "default for KubeVirt HEAD (None)");
    cJSON_Delete(pol[1]);
    cJSON_Delete(vmi);
  }
  /* the cluster AWD rule then a policy (§1.1 then §2.5) on a KubeVirt CR with allowPostCopy */
  {
    cJSON *kv = js(KV("{'migrations':{'allowPostCopy':true}}", OBSERVED("v1.6.0")));
    cJSON *pol[1] = {js(POLICY("no-postcopy", "{'selectors':{},'allowPostCopy':false}"))};
    cJSON *vmi = js(VMI(LABELS("{}")));
    CHECK(vr_migration_config_cluster(kv, NULL, &c, err, sizeof err) == 0);
    CHECK(c.allow_workload_disruption.num == 1);
    CHECK(vr_migration_config_for_vmi(&c, (const cJSON *const *)pol, 1, vmi, NULL, &c, err,
                                      sizeof err) == 0);
    CHECK(c.allow_post_copy.num == 0 && c.allow_workload_disruption.num == 0);
    cJSON_Delete(kv);
    cJSON_Delete(pol[0]);
    cJSON_Delete(vmi);
  }
}

typedef struct policy_error_case {
  const char *what;
  const char *policy, *vmi, *ns;
  const char *error;
} policy_error_case;

static const policy_error_case policy_error_cases[] = {
    {"§2.5 policy bandwidth not a quantity",
     POLICY("fast", "{'selectors':{},'bandwidthPerMigration':'fast'}"), VMI(LABELS("{}")), NULL,
     "MigrationPolicy fast: spec.bandwidthPerMigration: 'fast' is not a quantity"},
    {"§2.5 policy negative timeout", POLICY("neg", "{'selectors':{},'completionTimeoutPerGiB':-1}"),
     VMI(LABELS("{}")), NULL,
     "MigrationPolicy neg: spec.completionTimeoutPerGiB: must not be negative (got -1)"},
    {"§2.5 selector value not a string",
     POLICY("sel", "{'selectors':{'virtualMachineInstanceSelector':{'app':1}}}"), VMI(LABELS("{}")),
     NULL,
     "MigrationPolicy sel: spec.selectors.virtualMachineInstanceSelector.app: expected a string, "
     "got a number"},
    {"§2.5 selectors not an object", POLICY("sel", "{'selectors':[]}"), VMI(LABELS("{}")), NULL,
     "MigrationPolicy sel: spec.selectors: expected an object, got an array"},
    {"§2.5 policy without a name", "{'kind':'MigrationPolicy','spec':{'selectors':{}}}",
     VMI(LABELS("{}")), NULL, "MigrationPolicy (unnamed): metadata.name: expected a string"},
    {"VMI label value not a string", POLICY("p", "{'selectors':{}}"), VMI(LABELS("{'app':true}")),
     NULL,
     "VirtualMachineInstance prod/db-1: metadata.labels.app: expected a string, got a boolean"},
    {"namespace labels not strings", POLICY("p", "{'selectors':{}}"), VMI(LABELS("{}")),
     "{'team':[]}", "Namespace labels: team: expected a string, got an array"},
    {"namespace not an object", POLICY("p", "{'selectors':{}}"), VMI(LABELS("{}")), "'prod'",
     "Namespace: expected a Namespace object or a labels object, got a string"},
    {"§3.1 unknown VMI eviction strategy", POLICY("p", "{'selectors':{}}"),
     "{'kind':'VirtualMachineInstance','metadata':{'name':'a','namespace':'b'},'spec':{"
     "'evictionStrategy':'Sometimes'}}",
     NULL,
     "VirtualMachineInstance b/a: spec.evictionStrategy: 'Sometimes' is not an eviction strategy "
     "(None, LiveMigrate, LiveMigrateIfPossible, External)"},
};

static void test_policy_errors(void) {
  size_t i;
  char err[VR_MC_ERRLEN];
  vr_migration_config cluster, c;
  CHECK(vr_migration_config_cluster(NULL, NULL, &cluster, err, sizeof err) == 0);
  for (i = 0; i < sizeof policy_error_cases / sizeof policy_error_cases[0]; i++) {
    const policy_error_case *t = &policy_error_cases[i];
    cJSON *pol[1] = {js(t->policy)}, *vmi = js(t->vmi), *ns = js(t->ns);
    err[0] = '\0';
    CHECK(vr_migration_config_for_vmi(&cluster, (const cJSON *const *)pol, 1, vmi, ns, &c, err,
                                      sizeof err) == -1);
    if (strcmp(err, t->error) != 0) fprintf(stderr, "case: %s\n", t->what);
    CHECK_STR(err, t->error);
    cJSON_Delete(pol[0]);
    cJSON_Delete(vmi);
    cJSON_Delete(ns);
  }
  CHECK(vr_migration_config_for_vmi(NULL, NULL, 0, NULL, NULL, &c, err, sizeof err) == -1);
}

/* ============================================================================================
 * Eviction strategies (§3.1)
 * ============================================================================================ */

static void test_eviction(void) {
  static const struct {
    vr_eviction_strategy s;
    int migratable, expected;
  } predicate[] = {
      {VR_EVICTION_NONE, 0, 0},
      {VR_EVICTION_NONE, 1, 0},
      {VR_EVICTION_LIVE_MIGRATE, 0, 1},
      {VR_EVICTION_LIVE_MIGRATE, 1, 1},
      {VR_EVICTION_LIVE_MIGRATE_IF_POSSIBLE, 0, 0},
      {VR_EVICTION_LIVE_MIGRATE_IF_POSSIBLE, 1, 1},
      {VR_EVICTION_EXTERNAL, 0, 0},
      {VR_EVICTION_EXTERNAL, 1, 0},
  };
  static const char *const names[] = {"None", "LiveMigrate", "LiveMigrateIfPossible", "External"};
  char err[VR_MC_ERRLEN], source[VR_MC_SOURCE_MAX];
  vr_migration_config cluster, c;
  vr_eviction_strategy s;
  cJSON *kv, *vmi, *vm;
  size_t i;
  /* §3.1 VMIMigratableOnEviction */
  for (i = 0; i < sizeof predicate / sizeof predicate[0]; i++)
    CHECK(vr_migrate_on_eviction(predicate[i].s, predicate[i].migratable) == predicate[i].expected);
  for (i = 0; i < 4; i++) {
    CHECK(vr_eviction_strategy_parse(names[i], &s) == 0 && s == (vr_eviction_strategy)i);
    CHECK_STR(vr_eviction_strategy_name((vr_eviction_strategy)i), names[i]);
  }
  CHECK(vr_eviction_strategy_parse("livemigrate", &s) == -1);
  CHECK(vr_eviction_strategy_parse(NULL, &s) == -1);
  CHECK_STR(vr_eviction_strategy_name((vr_eviction_strategy)9), "None");

  /* §3.1: the VMI's value overrides the cluster's */
  kv = js(KV("{'evictionStrategy':'LiveMigrate'}", OBSERVED("v1.6.0")));
  CHECK(vr_migration_config_cluster(kv, NULL, &cluster, err, sizeof err) == 0);
  vmi = js("{'kind':'VirtualMachineInstance','metadata':{'name':'a','namespace':'b','labels':{}},"
           "'spec':{'evictionStrategy':'None'}}");
  CHECK(vr_vmi_eviction_strategy(&cluster, vmi, &s, source, sizeof source, err, sizeof err) == 0);
  CHECK(s == VR_EVICTION_NONE);
  CHECK_STR(source, "VirtualMachineInstance spec.evictionStrategy");
  CHECK(vr_migration_config_for_vmi(&cluster, NULL, 0, vmi, NULL, &c, err, sizeof err) == 0);
  CHECK(expect_value("§3.1 per-VMI result", &c.eviction_strategy, 1, 0, "None",
                     "VirtualMachineInstance spec.evictionStrategy"));
  cJSON_Delete(vmi);
  vmi = js("{'kind':'VirtualMachineInstance','metadata':{'name':'a','namespace':'b'},'spec':{}}");
  CHECK(vr_vmi_eviction_strategy(&cluster, vmi, &s, source, sizeof source, err, sizeof err) == 0);
  CHECK(s == VR_EVICTION_LIVE_MIGRATE);
  CHECK_STR(source, "KubeVirt CR spec.configuration.evictionStrategy");
  CHECK(vr_migration_config_for_vmi(&cluster, NULL, 0, vmi, NULL, &c, err, sizeof err) == 0);
  CHECK(expect_value("§3.1 cluster value kept", &c.eviction_strategy, 1, 1, "LiveMigrate",
                     "KubeVirt CR spec.configuration.evictionStrategy"));
  /* a VirtualMachine: spec.template.spec */
  vm = js("{'kind':'VirtualMachine','metadata':{'name':'a','namespace':'b'},'spec':{'template':{"
          "'spec':{'evictionStrategy':'External'}}}}");
  CHECK(vr_vmi_eviction_strategy(&cluster, vm, &s, source, sizeof source, err, sizeof err) == 0);
  CHECK(s == VR_EVICTION_EXTERNAL);
  CHECK_STR(source, "VirtualMachine spec.template.spec.evictionStrategy");
  cJSON_Delete(vm);
  vm = js("{'kind':'VirtualMachine','metadata':{'name':'a','namespace':'b'},'spec':{'template':"
          "{'spec':{'evictionStrategy':3}}}}");
  CHECK(vr_vmi_eviction_strategy(&cluster, vm, &s, NULL, 0, err, sizeof err) == -1);
  CHECK_STR(err, "VirtualMachine b/a: spec.template.spec.evictionStrategy: expected a string, got "
                 "a number");
  /* no cluster configuration: KubeVirt's default */
  CHECK(vr_vmi_eviction_strategy(NULL, NULL, &s, source, sizeof source, err, sizeof err) == 0);
  CHECK(s == VR_EVICTION_NONE);
  CHECK_STR(source, "default for KubeVirt HEAD (None)");
  cJSON_Delete(vm);
  cJSON_Delete(vmi);
  cJSON_Delete(kv);

  /* §3.6 LiveMigratable condition */
  vmi = js("{'status':{'conditions':[{'type':'Ready','status':'True'},{'type':'LiveMigratable',"
           "'status':'True'}]}}");
  CHECK(vr_vmi_live_migratable(vmi) == 1);
  cJSON_Delete(vmi);
  vmi = js("{'status':{'conditions':[{'type':'LiveMigratable','status':'False','reason':"
           "'DisksNotLiveMigratable'}]}}");
  CHECK(vr_vmi_live_migratable(vmi) == 0);
  cJSON_Delete(vmi);
  vmi = js("{'status':{}}");
  CHECK(vr_vmi_live_migratable(vmi) == 0);
  CHECK(vr_vmi_live_migratable(NULL) == 0);
  cJSON_Delete(vmi);
}

/* ============================================================================================
 * Rendering
 * ============================================================================================ */

static void test_json(void) {
  char err[VR_MC_ERRLEN];
  vr_migration_config c;
  cJSON *hco = js(HCO_V1("{'liveMigrationConfig':{'network':'mig'}}", OPERATOR("1.18.0")));
  cJSON *out;
  const cJSON *entry;
  CHECK(vr_migration_config_cluster(NULL, hco, &c, err, sizeof err) == 0);
  out = vr_migration_config_to_json(&c);
  CHECK(out != NULL);
  entry = cJSON_GetObjectItemCaseSensitive(out, "completionTimeoutPerGiB");
  CHECK(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(entry, "value")) == 150);
  CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(entry, "source")),
            "default for HyperConverged v1.18 (150 s/GB in v1.14-v1.18)");
  entry = cJSON_GetObjectItemCaseSensitive(out, "network");
  CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(entry, "value")), "mig");
  entry = cJSON_GetObjectItemCaseSensitive(out, "allowPostCopy");
  CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(entry, "value")));
  entry = cJSON_GetObjectItemCaseSensitive(out, "matchSELinuxLevelOnMigration");
  CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(entry, "value")));
  entry = cJSON_GetObjectItemCaseSensitive(out, "evictionStrategy");
  CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(entry, "value")), "None");
  CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(out, "kubevirtVersion")), "HEAD");
  CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(out, "hyperConvergedVersion")),
            "v1.18");
  CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(out, "migrationPolicy")));
  CHECK(cJSON_GetArraySize(out) == 19);
  cJSON_Delete(out);
  cJSON_Delete(hco);
}

int main(void) {
  test_quantities();
  test_cluster();
  test_errors();
  test_policies();
  test_policy_errors();
  test_eviction();
  test_json();
  return CHECK_DONE();
}
