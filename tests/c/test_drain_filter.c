/* test_drain_filter.c: unit tests of runtime/drain_filter.c: kubectl drain's pod filter chain
 * (reference kubevirt-migration.md §4.2 step 4, flags of §4.1) with kubectl's exact texts, the
 * error and warning summaries of a filtered list, and the timestamp parser. Table-driven; every
 * case names the section it checks.
 *
 * JSON in the tables is written with single quotes, turned into double quotes before parsing
 * (no test value contains a quote). */
#include "check.h"
#include "check_json.h"
#include "drain_filter.h"

#include <stdlib.h>
#include <string.h>

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

/* DaemonSets that exist: kube-system/ds-live only. */
static int ds_exists(void *ctx, const char *ns, const char *name) {
  (void)ctx;
  return strcmp(ns, "kube-system") == 0 && strcmp(name, "ds-live") == 0;
}

/* 2026-05-01T10:00:00Z */
#define NOW_MS 1777629600000ull

#define RS_OWNER "'ownerReferences':[{'kind':'ReplicaSet','name':'web-5d','controller':true}]"
#define VMI_OWNER                                                                                  \
  "'ownerReferences':[{'kind':'VirtualMachineInstance','name':'vm1','controller':true}]"
#define DS_LIVE  "'ownerReferences':[{'kind':'DaemonSet','name':'ds-live','controller':true}]"
#define DS_GONE  "'ownerReferences':[{'kind':'DaemonSet','name':'ds-gone','controller':true}]"
#define NOT_CTRL "'ownerReferences':[{'kind':'ReplicaSet','name':'rs','controller':false}]"
#define EMPTYDIR "'spec':{'volumes':[{'name':'private','emptyDir':{}}]}"
#define RUNNING  "'status':{'phase':'Running'}"
#define DONE     "'status':{'phase':'Succeeded'}"
#define FAILED   "'status':{'phase':'Failed'}"

/* option sets: none, all of NMO's (§5.2), and single flags */
enum { NONE, NMO, FORCE, IGNORE_DS, EMPTYDIR_OK, SKIP_60, KEEP_FINISHED };

static vr_drain_options options(int which) {
  vr_drain_options o;
  memset(&o, 0, sizeof o);
  o.now_ms = NOW_MS;
  o.daemonset_exists = ds_exists;
  if (which == NMO) o.force = o.ignore_daemonsets = o.delete_emptydir_data = 1;
  if (which == FORCE) o.force = 1;
  if (which == IGNORE_DS) o.ignore_daemonsets = 1;
  if (which == EMPTYDIR_OK) o.delete_emptydir_data = 1;
  if (which == SKIP_60) o.skip_wait_for_delete_timeout_s = 60;
  if (which == KEEP_FINISHED) {
    o.keep_finished = 1;
    o.skip_wait_for_delete_timeout_s = 60;
  }
  return o;
}

static const struct {
  const char *section, *what;
  int opts;
  const char *pod;
  vr_drain_decision expect;
  const char *message;
} filter_cases[] = {
    /* §4.2 step 4.5 unreplicatedFilter */
    {"§4.2 4.5", "a ReplicaSet pod is evicted", NONE,
     "{'metadata':{'name':'p'," RS_OWNER "}," RUNNING "}", VR_DRAIN_DELETE, ""},
    {"§4.2 4.5", "a bare pod is fatal without --force", NONE,
     "{'metadata':{'name':'p','namespace':'default'}," RUNNING "}", VR_DRAIN_ERROR,
     "cannot delete Pods that declare no controller (use --force to override)"},
    {"§4.2 4.5", "an owner that is not the controller counts as none", NONE,
     "{'metadata':{'name':'p'," NOT_CTRL "}," RUNNING "}", VR_DRAIN_ERROR,
     "cannot delete Pods that declare no controller (use --force to override)"},
    {"§4.2 4.5", "--force deletes a bare pod with a warning", FORCE,
     "{'metadata':{'name':'p'}," RUNNING "}", VR_DRAIN_DELETE_WARN,
     "deleting Pods that declare no controller"},
    {"§4.2 4.5", "a finished bare pod goes without --force", NONE,
     "{'metadata':{'name':'p'}," DONE "}", VR_DRAIN_DELETE, ""},
    {"§4.2 4.5", "a failed bare pod goes without --force", NONE,
     "{'metadata':{'name':'p'}," FAILED "}", VR_DRAIN_DELETE, ""},
    /* §4.2 step 4.4 localStorageFilter */
    {"§4.2 4.4", "an emptyDir is fatal without --delete-emptydir-data", NONE,
     "{'metadata':{'name':'p'," RS_OWNER "}," EMPTYDIR "," RUNNING "}", VR_DRAIN_ERROR,
     "Pods with local storage (use --delete-emptydir-data to override)"},
    {"§4.1 / §4.2 4.4", "a virt-launcher pod needs --delete-emptydir-data", NONE,
     "{'metadata':{'name':'virt-launcher-vm1-abcde'," VMI_OWNER "}," EMPTYDIR "," RUNNING "}",
     VR_DRAIN_ERROR, "Pods with local storage (use --delete-emptydir-data to override)"},
    {"§4.2 4.4", "with the flag, the local-storage warning is dropped by the next filter",
     EMPTYDIR_OK, "{'metadata':{'name':'p'," RS_OWNER "}," EMPTYDIR "," RUNNING "}",
     VR_DRAIN_DELETE, ""},
    {"§4.2 4.4", "a finished pod with an emptyDir goes", NONE,
     "{'metadata':{'name':'p'," RS_OWNER "}," EMPTYDIR "," DONE "}", VR_DRAIN_DELETE, ""},
    {"§4.2 4.4-4.5", "emptyDir allowed, no controller: the unreplicated error wins", EMPTYDIR_OK,
     "{'metadata':{'name':'p'}," EMPTYDIR "," RUNNING "}", VR_DRAIN_ERROR,
     "cannot delete Pods that declare no controller (use --force to override)"},
    {"§4.2 4.4-4.5", "emptyDir and no controller with both flags: the last warning", NMO,
     "{'metadata':{'name':'p'}," EMPTYDIR "," RUNNING "}", VR_DRAIN_DELETE_WARN,
     "deleting Pods that declare no controller"},
    /* §4.2 step 4.2 daemonSetFilter */
    {"§4.2 4.2", "a live DaemonSet pod is fatal without --ignore-daemonsets", NONE,
     "{'metadata':{'name':'p','namespace':'kube-system'," DS_LIVE "}," RUNNING "}", VR_DRAIN_ERROR,
     "DaemonSet-managed Pods (use --ignore-daemonsets to ignore)"},
    {"§4.2 4.2", "--force does not override a live DaemonSet", FORCE,
     "{'metadata':{'name':'p','namespace':'kube-system'," DS_LIVE "}," RUNNING "}", VR_DRAIN_ERROR,
     "DaemonSet-managed Pods (use --ignore-daemonsets to ignore)"},
    {"§4.2 4.2", "--ignore-daemonsets skips it with a warning", IGNORE_DS,
     "{'metadata':{'name':'p','namespace':'kube-system'," DS_LIVE "}," RUNNING "}",
     VR_DRAIN_SKIP_WARN, "ignoring DaemonSet-managed Pods"},
    {"§4.2 4.2 / §5.2", "NMO's options skip a DaemonSet pod with emptyDirs", NMO,
     "{'metadata':{'name':'p','namespace':'kube-system'," DS_LIVE "}," EMPTYDIR "," RUNNING "}",
     VR_DRAIN_SKIP_WARN, "ignoring DaemonSet-managed Pods"},
    {"§4.2 4.2", "the DaemonSet is looked up in the pod's namespace", IGNORE_DS,
     "{'metadata':{'name':'p','namespace':'default'," DS_LIVE "}," RUNNING "}", VR_DRAIN_ERROR,
     "daemonsets.apps \"ds-live\" not found"},
    {"§4.2 4.2", "a missing DaemonSet is an error without --force", IGNORE_DS,
     "{'metadata':{'name':'p','namespace':'kube-system'," DS_GONE "}," RUNNING "}", VR_DRAIN_ERROR,
     "daemonsets.apps \"ds-gone\" not found"},
    {"§4.2 4.2", "an orphan of a missing DaemonSet goes with --force (warning dropped later)",
     FORCE, "{'metadata':{'name':'p','namespace':'kube-system'," DS_GONE "}," RUNNING "}",
     VR_DRAIN_DELETE, ""},
    {"§4.2 4.2", "a finished DaemonSet pod goes", NONE,
     "{'metadata':{'name':'p','namespace':'kube-system'," DS_LIVE "}," DONE "}", VR_DRAIN_DELETE,
     ""},
    /* §4.2 step 4.3 mirrorPodFilter */
    {"§4.2 4.3", "a mirror pod is skipped silently, before the fatal checks", NONE,
     "{'metadata':{'name':'etcd-m1','annotations':{'kubernetes.io/config.mirror':'abc'}}," EMPTYDIR
     "," RUNNING "}",
     VR_DRAIN_SKIP, ""},
    {"§4.2 4.2-4.3", "a live DaemonSet is checked before the mirror annotation", NONE,
     "{'metadata':{'name':'p','namespace':'kube-system','annotations':{'kubernetes.io/"
     "config.mirror':'x'}," DS_LIVE "}," RUNNING "}",
     VR_DRAIN_ERROR, "DaemonSet-managed Pods (use --ignore-daemonsets to ignore)"},
    /* §4.2 step 4.1 skipDeletedFilter (§4.1 --skip-wait-for-delete-timeout) */
    {"§4.2 4.1", "a pod deleting for 61 s is skipped with a 60 s timeout", SKIP_60,
     "{'metadata':{'name':'p','deletionTimestamp':'2026-05-01T09:58:59Z'}," RUNNING "}",
     VR_DRAIN_SKIP, ""},
    {"§4.2 4.1", "60 s is not more than 60 s", SKIP_60,
     "{'metadata':{'name':'p','deletionTimestamp':'2026-05-01T09:59:00Z'," RS_OWNER "}," RUNNING
     "}",
     VR_DRAIN_DELETE, ""},
    {"§4.2 4.1", "whole seconds, truncated: 60.9 s is not more than 60 s", SKIP_60,
     "{'metadata':{'name':'p','deletionTimestamp':'2026-05-01T09:58:59.1Z'," RS_OWNER "}," RUNNING
     "}",
     VR_DRAIN_DELETE, ""},
    {"§4.2 4.1", "an offset timestamp is understood", SKIP_60,
     "{'metadata':{'name':'p','deletionTimestamp':'2026-05-01T11:50:00+02:00'}," RUNNING "}",
     VR_DRAIN_SKIP, ""},
    {"§4.2 4", "without the flag a terminating pod is not filtered out", NONE,
     "{'metadata':{'name':'p','deletionTimestamp':'2020-01-01T00:00:00Z'," RS_OWNER "}," RUNNING
     "}",
     VR_DRAIN_DELETE, ""},
    {"§4.2 4.1", "the skip comes before the fatal checks", SKIP_60,
     "{'metadata':{'name':'p','deletionTimestamp':'2020-01-01T00:00:00Z'}," EMPTYDIR "," RUNNING
     "}",
     VR_DRAIN_SKIP, ""},
    /* §5.2: NMO's drainer (Force, DeleteEmptyDirData, IgnoreAllDaemonSets) */
    {"§5.2", "NMO evicts a virt-launcher pod", NMO,
     "{'metadata':{'name':'virt-launcher-vm1-abcde'," VMI_OWNER "}," EMPTYDIR "," RUNNING "}",
     VR_DRAIN_DELETE, ""},
    {"§5.2", "NMO evicts a bare pod with a warning", NMO, "{'metadata':{'name':'p'}," RUNNING "}",
     VR_DRAIN_DELETE_WARN, "deleting Pods that declare no controller"},
    /* vmrun's keep_finished (not kubectl's): finished pods stay, whatever else they are */
    {"keep_finished", "a launcher pod whose VM migrated away stays", KEEP_FINISHED,
     "{'metadata':{'name':'virt-launcher-vm1-abcde'," VMI_OWNER "}," EMPTYDIR "," DONE "}",
     VR_DRAIN_SKIP, "finished (Succeeded)"},
    {"keep_finished", "a failed bare pod stays, without --force", KEEP_FINISHED,
     "{'metadata':{'name':'p'}," FAILED "}", VR_DRAIN_SKIP, "finished (Failed)"},
    {"keep_finished", "a finished DaemonSet pod stays", KEEP_FINISHED,
     "{'metadata':{'name':'p','namespace':'kube-system'," DS_LIVE "}," DONE "}", VR_DRAIN_SKIP,
     "finished (Succeeded)"},
    {"keep_finished", "a running pod is filtered as before", KEEP_FINISHED,
     "{'metadata':{'name':'p'}," RUNNING "}", VR_DRAIN_ERROR,
     "cannot delete Pods that declare no controller (use --force to override)"},
    {"keep_finished", "the skip-deleted filter comes first", KEEP_FINISHED,
     "{'metadata':{'name':'p','deletionTimestamp':'2020-01-01T00:00:00Z'}," DONE "}", VR_DRAIN_SKIP,
     ""},
    {"§4.2 4.5", "a pod without status is not terminal", NONE, "{'metadata':{'name':'p'}}",
     VR_DRAIN_ERROR, "cannot delete Pods that declare no controller (use --force to override)"},
};

static void test_filter(void) {
  size_t i;
  for (i = 0; i < LEN(filter_cases); i++) {
    vr_drain_options o = options(filter_cases[i].opts);
    char msg[VR_DRAIN_MSG_MAX];
    cJSON *pod = J(filter_cases[i].pod);
    vr_drain_decision d = vr_drain_filter(pod, &o, msg, sizeof msg);
    if (d != filter_cases[i].expect || strcmp(msg, filter_cases[i].message) != 0) {
      fprintf(stderr, "case %zu (%s: %s): decision %d \"%s\", expected %d \"%s\"\n", i,
              filter_cases[i].section, filter_cases[i].what, (int)d, msg,
              (int)filter_cases[i].expect, filter_cases[i].message);
    }
    CHECK(d == filter_cases[i].expect);
    CHECK_STR(msg, filter_cases[i].message);
    CHECK(vr_drain_deletes(d) == (filter_cases[i].expect == VR_DRAIN_DELETE ||
                                  filter_cases[i].expect == VR_DRAIN_DELETE_WARN));
    cJSON_Delete(pod);
  }
}

/* No DaemonSet callback: every DaemonSet counts as missing (§4.2 4.2); NULL message is fine. */
static void test_no_callback(void) {
  vr_drain_options o;
  cJSON *pod = J("{'metadata':{'name':'p'," DS_LIVE "}," RUNNING "}");
  memset(&o, 0, sizeof o);
  CHECK(vr_drain_filter(pod, &o, NULL, 0) == VR_DRAIN_ERROR);
  o.force = 1;
  CHECK(vr_drain_filter(pod, &o, NULL, 0) == VR_DRAIN_DELETE);
  cJSON_Delete(pod);
}

/* §4.2 step 4 ("Any error → the node is not drained at all (fatal list printed)"): kubectl's
 * PodDeleteList.errors() and Warnings() texts, grouped per message. */
static void test_summaries(void) {
  const vr_drain_entry list[] = {
      {"default", "bare-1", VR_DRAIN_ERROR,
       "cannot delete Pods that declare no controller (use --force to override)"},
      {"kube-system", "proxy-x", VR_DRAIN_ERROR,
       "DaemonSet-managed Pods (use --ignore-daemonsets to ignore)"},
      {"default", "web-1", VR_DRAIN_DELETE, ""},
      {"default", "bare-2", VR_DRAIN_ERROR,
       "cannot delete Pods that declare no controller (use --force to override)"},
      {"kube-system", "flannel-y", VR_DRAIN_SKIP_WARN, "ignoring DaemonSet-managed Pods"},
      {"default", "orphan", VR_DRAIN_DELETE_WARN, "deleting Pods that declare no controller"},
      {"kube-system", "proxy-z", VR_DRAIN_SKIP_WARN, "ignoring DaemonSet-managed Pods"},
      {"default", "odd", VR_DRAIN_ERROR, NULL},
  };
  char buf[600], tiny[16];
  size_t need;
  vr_drain_errors(list, 2, buf, sizeof buf);
  CHECK_STR(buf, "[cannot delete cannot delete Pods that declare no controller (use --force to "
                 "override): default/bare-1, cannot delete DaemonSet-managed Pods (use "
                 "--ignore-daemonsets to ignore): kube-system/proxy-x]");
  vr_drain_errors(list, 4, buf, sizeof buf);
  CHECK_STR(buf, "[cannot delete cannot delete Pods that declare no controller (use --force to "
                 "override): default/bare-1, default/bare-2, cannot delete DaemonSet-managed Pods "
                 "(use --ignore-daemonsets to ignore): kube-system/proxy-x]");
  vr_drain_errors(list + 1, 1, buf, sizeof buf); /* one error: no brackets */
  CHECK_STR(buf, "cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): "
                 "kube-system/proxy-x");
  vr_drain_errors(list + 7, 1, buf, sizeof buf);
  CHECK_STR(buf, "cannot delete unexpected error: default/odd");
  vr_drain_errors(list + 2, 1, buf, sizeof buf);
  CHECK_STR(buf, "");
  vr_drain_warnings(list, LEN(list), buf, sizeof buf);
  CHECK_STR(buf, "ignoring DaemonSet-managed Pods: kube-system/flannel-y, kube-system/proxy-z; "
                 "deleting Pods that declare no controller: default/orphan");
  need = vr_drain_warnings(list, LEN(list), tiny, sizeof tiny); /* truncated, length reported */
  CHECK(need == strlen(buf));
  CHECK_STR(tiny, "ignoring Daemon");
}

static void test_time(void) {
  static const struct {
    const char *text;
    int ok;
    int64_t ms;
  } cases[] = {
      {"2026-05-01T10:00:00Z", 0, 1777629600000},
      {"2026-05-01T10:00:00.250000Z", 0, 1777629600250},
      {"2026-05-01T12:00:00+02:00", 0, 1777629600000},
      {"2026-05-01T09:30:00-00:30", 0, 1777629600000},
      {"1970-01-01T00:00:00Z", 0, 0},
      {"2026-05-01T10:00:00", -1, 0},
      {"2026-05-01 10:00:00Z", -1, 0},
      {"2026-05-01T10:00:00.Z", -1, 0},
      {"yesterday", -1, 0},
  };
  size_t i;
  int64_t ms;
  for (i = 0; i < LEN(cases); i++) {
    ms = -7;
    CHECK(vr_k8s_time_ms(cases[i].text, &ms) == cases[i].ok);
    if (cases[i].ok == 0) CHECK(ms == cases[i].ms);
  }
  CHECK(vr_k8s_time_ms(NULL, &ms) == -1);
}

int main(void) {
  test_filter();
  test_no_callback();
  test_summaries();
  test_time();
  return CHECK_DONE();
}
