/* test_kube_table.c: unit tests of runtime/kube_table.c: duration.HumanDuration at every
 * threshold, ages from RFC 3339 timestamps (fractions, offsets, bad dates, a time zone that is not
 * UTC), the columns and cells of Nodes, Pods, VirtualMachines, VirtualMachineInstances and
 * VirtualMachineInstanceMigrations as the Kubernetes 1.32 API server and KubeVirt's CRDs give
 * them, priority flags, PartialObjectMetadata rows, list resourceVersion and continue, other
 * kinds, malformed objects, and a memory failure at every allocation. The inputs must come back
 * unchanged. It may not depend on the machine's clock or time zone.
 *
 * JSON is written with ' for " (check_json.h); expected cells are compact JSON in the same style
 * (no cell in these cases contains a quote). */
#include "check.h"
#include "check_json.h"
#include "kube_table.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

/* 2026-05-01T10:00:00Z */
#define NOW_MS 1777629600000ull
/* five days before NOW_MS */
#define CREATED "'creationTimestamp':'2026-04-26T10:00:00Z'"

/* Prints j compactly with " turned into ', into one of four static buffers. */
static const char *show(const cJSON *j) {
  static char bufs[4][8192];
  static int next = 0;
  char *buf = bufs[next++ % 4], *p;
  char *printed = j != NULL ? cJSON_PrintUnformatted(j) : NULL;
  snprintf(buf, sizeof bufs[0], "%s", printed != NULL ? printed : "(null)");
  cJSON_free(printed);
  for (p = buf; *p; p++) {
    if (*p == '"') *p = '\'';
  }
  return buf;
}

static const cJSON *at(const cJSON *j, const char *a, const char *b) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, a);
  return b != NULL ? cJSON_GetObjectItemCaseSensitive(v, b) : v;
}

/* The Table of the one object in obj_text (NULL: a NULL item), checking that it was not changed. */
static cJSON *table_of(const char *group, const char *kind, const char *obj_text) {
  cJSON *obj = obj_text != NULL ? J(obj_text) : NULL, *copy = cJSON_Duplicate(obj, 1), *t;
  const cJSON *items[1];
  items[0] = obj;
  t = vr_kube_table(group, kind, items, 1, NOW_MS, NULL, NULL);
  CHECK(t != NULL);
  CHECK(obj == NULL || cJSON_Compare(obj, copy, 1));
  cJSON_Delete(obj);
  cJSON_Delete(copy);
  return t;
}

/* The cells of the one object's row, compactly. */
static const char *cells_of(const char *group, const char *kind, const char *obj_text) {
  cJSON *t = table_of(group, kind, obj_text);
  const char *s = show(at(cJSON_GetArrayItem(at(t, "rows", NULL), 0), "cells", NULL));
  cJSON_Delete(t);
  return s;
}

/* name:type:format:priority of every column, joined with "|". */
static const char *columns_of(const char *group, const char *kind) {
  static char buf[2048];
  cJSON *t = vr_kube_table(group, kind, NULL, 0, NOW_MS, NULL, NULL);
  const cJSON *c;
  size_t used = 0;
  buf[0] = '\0';
  cJSON_ArrayForEach(c, at(t, "columnDefinitions", NULL)) {
    const cJSON *desc = at(c, "description", NULL);
    CHECK(cJSON_IsString(desc) && strlen(desc->valuestring) > 5);
    used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%s:%s:%s:%d", used ? "|" : "",
                             at(c, "name", NULL)->valuestring, at(c, "type", NULL)->valuestring,
                             at(c, "format", NULL)->valuestring, at(c, "priority", NULL)->valueint);
  }
  cJSON_Delete(t);
  return buf;
}

static void age_text(const char *obj_text, char *buf, size_t len) {
  cJSON *obj = J(obj_text);
  vr_kube_age(obj, NOW_MS, buf, len);
  cJSON_Delete(obj);
}

/* ============================================================================================ */

static void test_human_duration(void) {
  static const struct {
    int64_t ms;
    const char *want;
  } cases[] = {
      {INT64_MIN, "<invalid>"},
      {-2000, "<invalid>"}, /* int(d.Seconds()) = -2 */
      {-1999, "0s"},        /* -1.999 s truncates to -1: tolerated clock skew */
      {-1000, "0s"},
      {-1, "0s"},
      {0, "0s"},
      {999, "0s"},
      {1000, "1s"},
      {59999, "59s"},
      {60000, "60s"},
      {119999, "119s"},
      {120000, "2m"}, /* from 2 minutes: minutes, with seconds below 10 minutes */
      {120999, "2m"},
      {121000, "2m1s"},
      {599999, "9m59s"},
      {600000, "10m"},
      {659000, "10m"},
      {10799999, "179m"},
      {10800000, "3h"}, /* from 3 hours: hours, with minutes below 8 hours */
      {10859999, "3h"},
      {10860000, "3h1m"},
      {28799999, "7h59m"},
      {28800000, "8h"},
      {31500000, "8h"},
      {172799999, "47h"},
      {172800000, "2d"}, /* from 48 hours: days, with hours below 8 days */
      {176399999, "2d"},
      {176400000, "2d1h"},
      {691199999, "7d23h"},
      {691200000, "8d"},
      {63071999999, "729d"},
      {63072000000, "2y"}, /* from 2 * 365 days: years, with days below 8 years */
      {63158399999, "2y"},
      {63158400000, "2y1d"},
      {252287999999, "7y364d"},
      {252288000000, "8y"},
      {252374400000, "8y"},
      {3153600000000, "100y"},
      {INT64_MAX, "292471208y"},
  };
  char buf[32];
  size_t i;
  for (i = 0; i < LEN(cases); i++) {
    memset(buf, 'x', sizeof buf);
    vr_kube_human_duration(cases[i].ms, buf, sizeof buf);
    if (strcmp(buf, cases[i].want) != 0)
      fprintf(stderr, "%lld ms: want %s, got %s\n", (long long)cases[i].ms, cases[i].want, buf);
    CHECK_STR(buf, cases[i].want);
  }
  /* short buffers are cut and terminated; none and NULL are left alone */
  vr_kube_human_duration(63158400000, buf, 3);
  CHECK_STR(buf, "2y");
  buf[0] = 'x';
  vr_kube_human_duration(1000, buf, 0);
  CHECK(buf[0] == 'x');
  vr_kube_human_duration(1000, NULL, 10);
}

static void test_ages(void) {
  static const struct {
    const char *obj, *want;
  } cases[] = {
      {"{'metadata':{" CREATED "}}", "5d"},
      {"{'metadata':{'creationTimestamp':'2026-05-01T09:59:30.500Z'}}", "29s"},
      {"{'metadata':{'creationTimestamp':'2026-04-30T10:00:00.123456789Z'}}", "23h"},
      {"{'metadata':{'creationTimestamp':'2026-05-01T11:00:00+02:00'}}", "60m"},
      {"{'metadata':{'creationTimestamp':'2026-05-01T04:30:00-05:00'}}", "30m"},
      {"{'metadata':{'creationTimestamp':'2026-05-01t09:00:00z'}}", "60m"},
      {"{'metadata':{'creationTimestamp':'2026-05-01T10:00:01.500Z'}}", "0s"},
      {"{'metadata':{'creationTimestamp':'2026-05-01T10:00:02Z'}}", "<invalid>"},
      {"{'metadata':{'creationTimestamp':'2024-02-29T10:00:00Z'}}", "2y62d"},
      {"{'metadata':{'creationTimestamp':'2020-05-01T10:00:00Z'}}", "6y1d"},
      {"{'metadata':{'creationTimestamp':'2019-03-01T00:00:00Z'}}", "7y63d"},
      {"{'metadata':{'creationTimestamp':'1970-01-01T00:00:00Z'}}", "56y"},
      /* Go's time.Sub saturates at 292 years */
      {"{'metadata':{'creationTimestamp':'0000-01-01T00:00:00Z'}}", "292y"},
      {"{'metadata':{'creationTimestamp':'9999-12-31T23:59:59Z'}}", "<invalid>"},
      /* Go's zero time is no timestamp */
      {"{'metadata':{'creationTimestamp':'0001-01-01T00:00:00Z'}}", "<unknown>"},
      {"{'metadata':{'creationTimestamp':'0001-01-01T01:00:00+01:00'}}", "<unknown>"},
      {"{'metadata':{}}", "<unknown>"},
      {"{}", "<unknown>"},
      {"{'metadata':'x'}", "<unknown>"},
      {"{'metadata':{'creationTimestamp':null}}", "<unknown>"},
      {"{'metadata':{'creationTimestamp':1777629600}}", "<unknown>"},
      {"{'metadata':{'creationTimestamp':''}}", "<unknown>"},
      {"{'metadata':{'creationTimestamp':'yesterday'}}", "<unknown>"},
      {"{'metadata':{'creationTimestamp':'2026-02-29T00:00:00Z'}}", "<unknown>"},
      {"{'metadata':{'creationTimestamp':'2026-04-31T00:00:00Z'}}", "<unknown>"},
      {"{'metadata':{'creationTimestamp':'2026-13-01T00:00:00Z'}}", "<unknown>"},
      {"{'metadata':{'creationTimestamp':'2026-00-01T00:00:00Z'}}", "<unknown>"},
      {"{'metadata':{'creationTimestamp':'2026-05-00T00:00:00Z'}}", "<unknown>"},
      {"{'metadata':{'creationTimestamp':'2026-05-01T24:00:00Z'}}", "<unknown>"},
      {"{'metadata':{'creationTimestamp':'2026-05-01T10:60:00Z'}}", "<unknown>"},
      {"{'metadata':{'creationTimestamp':'2026-05-01T10:00:60Z'}}", "<unknown>"},
      {"{'metadata':{'creationTimestamp':'2026-05-01 10:00:00Z'}}", "<unknown>"},
      {"{'metadata':{'creationTimestamp':'2026-05-01T10:00:00'}}", "<unknown>"},
      {"{'metadata':{'creationTimestamp':'2026-05-01T10:00:00.Z'}}", "<unknown>"},
      {"{'metadata':{'creationTimestamp':'2026-05-01T10:00:00ZZ'}}", "<unknown>"},
      {"{'metadata':{'creationTimestamp':'2026-05-01T10:00:00+0200'}}", "<unknown>"},
      {"{'metadata':{'creationTimestamp':'2026-05-01T10:00:00+24:00'}}", "<unknown>"},
      {"{'metadata':{'creationTimestamp':'2026-05-01T10:00:00+02:60'}}", "<unknown>"},
      {"{'metadata':{'creationTimestamp':'2026-05-01T10:00:00+02:00 '}}", "<unknown>"},
      {"{'metadata':{'creationTimestamp':'+026-05-01T10:00:00Z'}}", "<unknown>"},
      {"{'metadata':{'creationTimestamp':'2026-5-01T10:00:00Z'}}", "<unknown>"},
      {"{'metadata':{'creationTimestamp':'2026-05-01T10:00:0'}}", "<unknown>"},
  };
  char buf[32];
  size_t i;
  for (i = 0; i < LEN(cases); i++) {
    age_text(cases[i].obj, buf, sizeof buf);
    if (strcmp(buf, cases[i].want) != 0) fprintf(stderr, "age of %s\n", cases[i].obj);
    CHECK_STR(buf, cases[i].want);
  }
  vr_kube_age(NULL, NOW_MS, buf, sizeof buf);
  CHECK_STR(buf, "<unknown>");
  /* a clock far in the future saturates as Go's durations do */
  {
    cJSON *obj = J("{'metadata':{" CREATED "}}");
    vr_kube_age(obj, UINT64_MAX, buf, sizeof buf);
    CHECK_STR(buf, "292y");
    vr_kube_age(obj, 0, buf, sizeof buf);
    CHECK_STR(buf, "<invalid>");
    cJSON_Delete(obj);
  }
}

/* ============================================================================================ */

#define NODE_COLUMNS                                                                               \
  "Name:string:name:0|Status:string::0|Roles:string::0|Age:string::0|Version:string::0|"           \
  "Internal-IP:string::1|External-IP:string::1|OS-Image:string::1|Kernel-Version:string::1|"       \
  "Container-Runtime:string::1"
#define POD_COLUMNS                                                                                \
  "Name:string:name:0|Ready:string::0|Status:string::0|Restarts:string::0|Age:string::0|"          \
  "IP:string::1|Node:string::1|Nominated Node:string::1|Readiness Gates:string::1"
#define VM_COLUMNS "Name:string:name:0|Age:date::0|Status:string::0|Ready:string::0"
#define VMI_COLUMNS                                                                                \
  "Name:string:name:0|Age:date::0|Phase:string::0|IP:string::0|NodeName:string::0|"                \
  "Ready:string::0|Live-Migratable:string::1|Paused:string::1"
#define VMIM_COLUMNS        "Name:string:name:0|Phase:string::0|VMI:string::0"
#define DEFAULT_COLUMNS     "Name:string:name:0|Age:string::0"
#define DEFAULT_CRD_COLUMNS "Name:string:name:0|Age:date::0"

static void test_columns(void) {
  cJSON *t;
  CHECK_STR(columns_of("", "Node"), NODE_COLUMNS);
  CHECK_STR(columns_of(NULL, "Node"), NODE_COLUMNS);
  CHECK_STR(columns_of("", "Pod"), POD_COLUMNS);
  CHECK_STR(columns_of("kubevirt.io", "VirtualMachine"), VM_COLUMNS);
  CHECK_STR(columns_of("kubevirt.io", "VirtualMachineInstance"), VMI_COLUMNS);
  CHECK_STR(columns_of("kubevirt.io", "VirtualMachineInstanceMigration"), VMIM_COLUMNS);
  /* other kinds: Name and Age; a custom resource's Age is a date column */
  CHECK_STR(columns_of("", "Namespace"), DEFAULT_COLUMNS);
  CHECK_STR(columns_of("apps", "DaemonSet"), DEFAULT_COLUMNS);
  CHECK_STR(columns_of("storage.k8s.io", "StorageClass"), DEFAULT_COLUMNS);
  CHECK_STR(columns_of("", "VirtualMachine"), DEFAULT_COLUMNS);
  CHECK_STR(columns_of("", NULL), DEFAULT_COLUMNS);
  CHECK_STR(columns_of("kubevirt.io", "KubeVirt"), DEFAULT_CRD_COLUMNS);
  CHECK_STR(columns_of("kubevirt.io", "Node"), DEFAULT_CRD_COLUMNS);
  CHECK_STR(columns_of("k8s.cni.cncf.io", "NetworkAttachmentDefinition"), DEFAULT_CRD_COLUMNS);
  CHECK_STR(columns_of("migrations.kubevirt.io", "MigrationPolicy"), DEFAULT_CRD_COLUMNS);
  CHECK_STR(columns_of("kubevirt.io", NULL), DEFAULT_CRD_COLUMNS);
  /* descriptions: the KubeVirt CRD's own, or the convertor's JSONPath text */
  t = vr_kube_table("kubevirt.io", "VirtualMachineInstanceMigration", NULL, 0, NOW_MS, NULL, NULL);
  CHECK_STR(
      at(cJSON_GetArrayItem(at(t, "columnDefinitions", NULL), 2), "description", NULL)->valuestring,
      "The name of the VMI to perform the migration on");
  cJSON_Delete(t);
  t = vr_kube_table("kubevirt.io", "VirtualMachineInstance", NULL, 0, NOW_MS, NULL, NULL);
  CHECK_STR(
      at(cJSON_GetArrayItem(at(t, "columnDefinitions", NULL), 3), "description", NULL)->valuestring,
      "Custom resource definition column (in JSONPath format): "
      ".status.interfaces[0].ipAddress");
  CHECK_STR(
      show(cJSON_GetArrayItem(at(t, "columnDefinitions", NULL), 6)),
      "{'name':'Live-Migratable','type':'string','format':'','description':'Custom resource "
      "definition column (in JSONPath format): .status.conditions[?(@.type=='LiveMigratable')]."
      "status','priority':1}");
  cJSON_Delete(t);
}

/* ============================================================================================ */

static void test_nodes(void) {
  /* Ready, cordoned, with roles from both kinds of label (duplicates and an empty role dropped) */
  CHECK_STR(cells_of("", "Node",
                     "{'metadata':{'name':'cp-1'," CREATED ",'labels':{"
                     "'node-role.kubernetes.io/master':'','node-role.kubernetes.io/control-plane':"
                     "'','kubernetes.io/role':'infra','node-role.kubernetes.io/':'x',"
                     "'node-role.kubernetes.io/infra':'yes','kubernetes.io/hostname':'cp-1'}},"
                     "'spec':{'unschedulable':true},'status':{'conditions':["
                     "{'type':'MemoryPressure','status':'False'},{'type':'Ready','status':'True'}],"
                     "'addresses':[{'type':'Hostname','address':'cp-1'},{'type':'ExternalIP',"
                     "'address':'1.2.3.4'},{'type':'InternalIP','address':'10.0.0.1'},{'type':"
                     "'InternalIP','address':'10.0.0.2'}],'nodeInfo':{'kubeletVersion':'v1.32.7',"
                     "'osImage':'Red Hat Enterprise Linux CoreOS 9.6','kernelVersion':"
                     "'5.14.0-570.el9_6.x86_64','containerRuntimeVersion':'cri-o://1.32.7'}}}"),
            "['cp-1','Ready,SchedulingDisabled','control-plane,infra,master','5d','v1.32.7',"
            "'10.0.0.1','1.2.3.4','Red Hat Enterprise Linux CoreOS 9.6','5.14.0-570.el9_6.x86_64',"
            "'cri-o://1.32.7']");
  /* NotReady (status Unknown), schedulable, no roles, addresses or node info */
  CHECK_STR(cells_of("", "Node",
                     "{'metadata':{'name':'worker-1'," CREATED ",'labels':{'kubernetes.io/role':"
                     "''}},'spec':{'unschedulable':false},'status':{'conditions':[{'type':'Ready',"
                     "'status':'Unknown'}]}}"),
            "['worker-1','NotReady','<none>','5d','','<none>','<none>','<unknown>','<unknown>',"
            "'<unknown>']");
  CHECK_STR(cells_of("", "Node",
                     "{'metadata':{'name':'w'},'status':{'conditions':[{'type':'Ready','status':"
                     "'False'}],'nodeInfo':{'osImage':'','kubeletVersion':'v1'}}}"),
            "['w','NotReady','<none>','<unknown>','v1','<none>','<none>','<unknown>','<unknown>',"
            "'<unknown>']");
  /* no Ready condition: Unknown; printNode keeps the last condition of a type */
  CHECK_STR(cells_of("", "Node", "{'metadata':{'name':'w'},'spec':{'unschedulable':true}}"),
            "['w','Unknown,SchedulingDisabled','<none>','<unknown>','','<none>','<none>',"
            "'<unknown>','<unknown>','<unknown>']");
  CHECK_STR(cells_of("", "Node",
                     "{'metadata':{'name':'w'},'status':{'conditions':[{'type':'Ready','status':"
                     "'True'},{'type':'Ready','status':'False'}]}}"),
            "['w','NotReady','<none>','<unknown>','','<none>','<none>','<unknown>','<unknown>',"
            "'<unknown>']");
  /* an address entry without an address gives "" as printNode's does */
  CHECK_STR(cells_of("", "Node",
                     "{'metadata':{'name':'w'},'status':{'addresses':[{'type':'InternalIP'}]}}"),
            "['w','Unknown','<none>','<unknown>','','','<none>','<unknown>','<unknown>',"
            "'<unknown>']");
}

/* ============================================================================================ */

#define POD_META(name) "'metadata':{'name':'" name "','namespace':'default'," CREATED "}"
#define ONE_CONTAINER  "'spec':{'containers':[{'name':'app'}],'nodeName':'worker-1'}"
#define RUNNING_APP                                                                                \
  "{'name':'app','ready':true,'restartCount':0,'state':{'running':{'startedAt':"                   \
  "'2026-04-26T10:00:05Z'}}}"

static void test_pods(void) {
  static const struct {
    const char *what, *pod, *cells;
  } cases[] = {
      {"running, restarts, last restart 5 minutes ago",
       "{" POD_META(
           "web") ",'spec':{'containers':[{'name':'a'},{'name':'b'}],'nodeName':'worker-1'},"
                  "'status':{'phase':'Running','podIP':'10.128.0.9','podIPs':[{'ip':'10.128."
                  "0.5'},{'ip':'fd00::5'}],'conditions':[{'type':'Ready','status':'True'}],"
                  "'containerStatuses':[{'name':'a','ready':true,'restartCount':2,'state':{"
                  "'running':{}},'lastState':{'terminated':{'exitCode':1,'finishedAt':'2026-"
                  "05-01T09:55:00Z'}}},{'name':'b','ready':true,'restartCount':1,'state':{"
                  "'running':{}},'lastState':{'terminated':{'exitCode':1,'finishedAt':'2026-"
                  "05-01T09:50:00Z'}}}]}}",
       "['web','2/2','Running','3 (5m ago)','5d','10.128.0.5','worker-1','<none>','<none>']"},
      {"restarts without a last termination time",
       "{" POD_META("web") "," ONE_CONTAINER ",'status':{'phase':'Running','containerStatuses':[{"
                           "'name':'app','ready':true,'restartCount':4,'state':{'running':{}}}]}}",
       "['web','1/1','Running','4','5d','<none>','worker-1','<none>','<none>']"},
      {"the simulator's pods: a phase and nothing else",
       "{" POD_META("virt-launcher-vm1-abcde") "," ONE_CONTAINER ",'status':{'phase':'Running'}}",
       "['virt-launcher-vm1-abcde','0/"
       "1','Running','0','5d','<none>','worker-1','<none>','<none>']"},
      {"podIP when podIPs is empty, a nominated node",
       "{" POD_META("p") "," ONE_CONTAINER ",'status':{'phase':'Pending','podIP':'10.0.0.7',"
                         "'podIPs':[],'nominatedNodeName':'worker-2'}}",
       "['p','0/1','Pending','0','5d','10.0.0.7','worker-1','worker-2','<none>']"},
      {"terminating",
       "{'metadata':{'name':'t'," CREATED ",'deletionTimestamp':'2026-05-01T09:59:00Z'},"
       "" ONE_CONTAINER ",'status':{'phase':'Running','containerStatuses':[" RUNNING_APP "]}}",
       "['t','1/1','Terminating','0','5d','<none>','worker-1','<none>','<none>']"},
      {"terminating on a lost node",
       "{'metadata':{'name':'t','deletionTimestamp':'2026-05-01T09:59:00Z'}," ONE_CONTAINER
       ",'status':{'phase':'Running','reason':'NodeLost'}}",
       "['t','0/1','Unknown','0','<unknown>','<none>','worker-1','<none>','<none>']"},
      {"completed",
       "{" POD_META("job-x") "," ONE_CONTAINER ",'status':{'phase':'Succeeded','containerStatuses':"
                             "[{'name':'app','ready':false,'restartCount':0,'state':{'terminated':{"
                             "'exitCode':0,'reason':'Completed'}}}]}}",
       "['job-x','0/1','Completed','0','5d','<none>','worker-1','<none>','<none>']"},
      {"completed and being deleted: not Terminating",
       "{'metadata':{'name':'c','deletionTimestamp':'2026-05-01T09:59:00Z'}," ONE_CONTAINER
       ",'status':{'phase':'Succeeded','containerStatuses':[{'name':'app','state':{'terminated':{"
       "'exitCode':0,'reason':'Completed'}}}]}}",
       "['c','0/1','Completed','0','<unknown>','<none>','worker-1','<none>','<none>']"},
      {"succeeded without container statuses (a migrated source pod)",
       "{" POD_META("s") "," ONE_CONTAINER ",'status':{'phase':'Succeeded'}}",
       "['s','0/1','Succeeded','0','5d','<none>','worker-1','<none>','<none>']"},
      {"failed with an error",
       "{" POD_META("f") "," ONE_CONTAINER ",'status':{'phase':'Failed','containerStatuses':[{"
                         "'name':'app','state':{'terminated':{'exitCode':1,'reason':'Error'}}}]}}",
       "['f','0/1','Error','0','5d','<none>','worker-1','<none>','<none>']"},
      {"evicted",
       "{" POD_META("e") "," ONE_CONTAINER ",'status':{'phase':'Failed','reason':'Evicted'}}",
       "['e','0/1','Evicted','0','5d','<none>','worker-1','<none>','<none>']"},
      {"killed by a signal",
       "{" POD_META("k") "," ONE_CONTAINER ",'status':{'phase':'Running','containerStatuses':[{"
                         "'name':'app','state':{'terminated':{'exitCode':137,'signal':9}}}]}}",
       "['k','0/1','Signal:9','0','5d','<none>','worker-1','<none>','<none>']"},
      {"exit code without a reason",
       "{" POD_META("k") "," ONE_CONTAINER ",'status':{'phase':'Running','containerStatuses':[{"
                         "'name':'app','state':{'terminated':{'exitCode':137,'reason':''}}}]}}",
       "['k','0/1','ExitCode:137','0','5d','<none>','worker-1','<none>','<none>']"},
      {"crash loop, last restart 2 minutes ago",
       "{" POD_META("c") "," ONE_CONTAINER ",'status':{'phase':'Running','containerStatuses':[{"
                         "'name':'app','restartCount':5,'state':{'waiting':{'reason':"
                         "'CrashLoopBackOff'}},'lastState':{'terminated':{'exitCode':1,"
                         "'finishedAt':'2026-05-01T09:58:00Z'}}}]}}",
       "['c','0/1','CrashLoopBackOff','5 (2m ago)','5d','<none>','worker-1','<none>','<none>']"},
      {"the first container in order that waits or ended decides",
       "{" POD_META("o") ",'spec':{'containers':[{'name':'a'},{'name':'b'},{'name':'c'}]},"
                         "'status':{'phase':'Running','containerStatuses':[" RUNNING_APP ",{'name':"
                         "'b','state':{'waiting':{'reason':'ImagePullBackOff'}}},{'name':'c',"
                         "'state':{'terminated':{'exitCode':1,'reason':'Error'}}}]}}",
       "['o','1/3','ImagePullBackOff','0','5d','<none>','<none>','<none>','<none>']"},
      {"an ended container before a waiting one",
       "{" POD_META("o") ",'spec':{'containers':[{'name':'a'},{'name':'b'}]},'status':{'phase':"
                         "'Running','containerStatuses':[{'name':'a','state':{'terminated':{"
                         "'exitCode':1,'reason':'Error'}}},{'name':'b','state':{'waiting':{"
                         "'reason':'CrashLoopBackOff'}}}]}}",
       "['o','0/2','Error','0','5d','<none>','<none>','<none>','<none>']"},
      {"creating",
       "{" POD_META("p") "," ONE_CONTAINER ",'status':{'phase':'Pending',"
                         "'containerStatuses':[{'name':'app','state':{'waiting':{"
                         "'reason':'ContainerCreating'}}}]}}",
       "['p','0/1','ContainerCreating','0','5d','<none>','worker-1','<none>','<none>']"},
      {"completed container next to a running one, pod not ready",
       "{" POD_META("n") ",'spec':{'containers':[{'name':'a'},{'name':'app'}]},'status':{'phase':"
                         "'Running','containerStatuses':[{'name':'a','state':{'terminated':{"
                         "'exitCode':0,'reason':'Completed'}}}," RUNNING_APP "]}}",
       "['n','1/2','NotReady','0','5d','<none>','<none>','<none>','<none>']"},
      {"completed container next to a running one, pod ready",
       "{" POD_META("n") ",'spec':{'containers':[{'name':'a'},{'name':'app'}]},'status':{'phase':"
                         "'Running','conditions':[{'type':'Ready','status':'True'}],"
                         "'containerStatuses':[{'name':'a','state':{'terminated':{'exitCode':0,"
                         "'reason':'Completed'}}}," RUNNING_APP "]}}",
       "['n','1/2','Running','0','5d','<none>','<none>','<none>','<none>']"},
      {"scheduling gated",
       "{" POD_META("g") "," ONE_CONTAINER ",'status':{'phase':'Pending','conditions':[{'type':"
                         "'PodScheduled','status':'False','reason':'SchedulingGated'}]}}",
       "['g','0/1','SchedulingGated','0','5d','<none>','worker-1','<none>','<none>']"},
      {"first init container waiting to start",
       "{" POD_META("i") ",'spec':{'initContainers':[{'name':'i1'},{'name':'i2'}],'containers':[{"
                         "'name':'app'}]},'status':{'phase':'Pending','initContainerStatuses':[{"
                         "'name':'i1','state':{'waiting':{'reason':'PodInitializing'}}},{'name':"
                         "'i2','state':{'waiting':{}}}]}}",
       "['i','0/1','Init:0/2','0','5d','<none>','<none>','<none>','<none>']"},
      {"second init container running",
       "{" POD_META("i") ",'spec':{'initContainers':[{'name':'i1'},{'name':'i2'}],'containers':[{"
                         "'name':'app'}]},'status':{'phase':'Pending','initContainerStatuses':[{"
                         "'name':'i1','state':{'terminated':{'exitCode':0,'reason':'Completed'}}},{"
                         "'name':'i2','restartCount':1,'state':{'running':{}}}],"
                         "'containerStatuses':[{'name':'app','restartCount':7,'state':{'waiting':{"
                         "'reason':'PodInitializing'}}}]}}",
       "['i','0/1','Init:1/2','1','5d','<none>','<none>','<none>','<none>']"},
      {"an init container failed, but the pod says it is initialized",
       "{" POD_META(
           "i") ",'spec':{'initContainers':[{'name':'i1'}],'containers':[{'name':'app'}]},"
                "'status':{'phase':'Running','conditions':[{'type':'Initialized','status':"
                "'True'}],'initContainerStatuses':[{'name':'i1','restartCount':3,'state':{"
                "'terminated':{'exitCode':1,'reason':'Error'}}}],'containerStatuses':[" RUNNING_APP
                "]}}",
       "['i','1/1','Init:Error','0','5d','<none>','<none>','<none>','<none>']"},
      {"only the first Initialized condition counts",
       "{" POD_META("i") ",'spec':{'initContainers':[{'name':'i1'}],'containers':[{'name':'app'}]},"
                         "'status':{'phase':'Running','conditions':[{'type':'Initialized','status':"
                         "'False'},{'type':'Initialized','status':'True'}],'initContainerStatuses':"
                         "[{'name':'i1','restartCount':3,'state':{'terminated':{'exitCode':1,"
                         "'reason':'Error'}}}],'containerStatuses':[" RUNNING_APP "]}}",
       "['i','0/1','Init:Error','3','5d','<none>','<none>','<none>','<none>']"},
      {"init container failed",
       "{" POD_META("i") ",'spec':{'initContainers':[{'name':'i1'}],'containers':[{'name':'app'}]},"
                         "'status':{'phase':'Pending','initContainerStatuses':[{'name':'i1',"
                         "'state':{'terminated':{'exitCode':1,'reason':'Error'}}}]}}",
       "['i','0/1','Init:Error','0','5d','<none>','<none>','<none>','<none>']"},
      {"init container failed without a reason",
       "{" POD_META("i") ",'spec':{'initContainers':[{'name':'i1'}],'containers':[{'name':'app'}]},"
                         "'status':{'phase':'Pending','initContainerStatuses':[{'name':'i1',"
                         "'state':{'terminated':{'exitCode':2}}}]}}",
       "['i','0/1','Init:ExitCode:2','0','5d','<none>','<none>','<none>','<none>']"},
      {"init container cannot pull",
       "{" POD_META("i") ",'spec':{'initContainers':[{'name':'i1'}],'containers':[{'name':'app'}]},"
                         "'status':{'phase':'Pending','initContainerStatuses':[{'name':'i1',"
                         "'state':{'waiting':{'reason':'ImagePullBackOff'}}}]}}",
       "['i','0/1','Init:ImagePullBackOff','0','5d','<none>','<none>','<none>','<none>']"},
      {"a started sidecar counts as a ready container",
       "{" POD_META("s") ",'spec':{'initContainers':[{'name':'proxy','restartPolicy':'Always'}],"
                         "'containers':[{'name':'app'}]},'status':{'phase':'Running',"
                         "'conditions':[{'type':'Ready','status':'True'}],'initContainerStatuses':"
                         "[{'name':'proxy','started':true,'ready':true,'restartCount':1,'state':{"
                         "'running':{}}}],'containerStatuses':[" RUNNING_APP "]}}",
       "['s','2/2','Running','1','5d','<none>','<none>','<none>','<none>']"},
      {"readiness gates",
       "{" POD_META("r") ",'spec':{'containers':[{'name':'app'}],'readinessGates':[{"
                         "'conditionType':'a'},{'conditionType':'b'},{'conditionType':'c'}]},"
                         "'status':{'phase':'Running','conditions':[{'type':'a','status':'True'},"
                         "{'type':'b','status':'False'},{'type':'a','status':'False'}]}}",
       "['r','0/1','Running','0','5d','<none>','<none>','<none>','1/3']"},
  };
  size_t i;
  for (i = 0; i < LEN(cases); i++) {
    const char *got = cells_of("", "Pod", cases[i].pod);
    if (strcmp(got, cases[i].cells) != 0) fprintf(stderr, "pod case: %s\n", cases[i].what);
    CHECK_STR(got, cases[i].cells);
  }
}

/* Table row conditions: Completed for Succeeded and Failed pods, none otherwise. */
static void test_pod_row_conditions(void) {
  cJSON *t = table_of("", "Pod", "{" POD_META("a") ",'status':{'phase':'Succeeded'}}");
  CHECK_STR(show(at(cJSON_GetArrayItem(at(t, "rows", NULL), 0), "conditions", NULL)),
            "[{'type':'Completed','status':'True','reason':'Succeeded','message':'The pod has "
            "completed successfully.'}]");
  cJSON_Delete(t);
  t = table_of("", "Pod", "{" POD_META("a") ",'status':{'phase':'Failed'}}");
  CHECK_STR(show(at(cJSON_GetArrayItem(at(t, "rows", NULL), 0), "conditions", NULL)),
            "[{'type':'Completed','status':'True','reason':'Failed','message':'The pod failed.'}]");
  cJSON_Delete(t);
  t = table_of("", "Pod", "{" POD_META("a") ",'status':{'phase':'Running'}}");
  CHECK(at(cJSON_GetArrayItem(at(t, "rows", NULL), 0), "conditions", NULL) == NULL);
  cJSON_Delete(t);
}

/* ============================================================================================ */

#define VMI_META "'metadata':{'name':'vm1','namespace':'prod'," CREATED "}"

static void test_kubevirt(void) {
  /* a running VMI */
  CHECK_STR(cells_of("kubevirt.io", "VirtualMachineInstance",
                     "{" VMI_META ",'status':{'phase':'Running','nodeName':'worker-1','interfaces':"
                     "[{'name':'default','ipAddress':'10.128.2.14','ipAddresses':['10.128.2.14']},"
                     "{'name':'sriov','ipAddress':'192.168.5.5'}],'conditions':[{'type':"
                     "'LiveMigratable','status':'False','reason':'InterfaceNotLiveMigratable'},"
                     "{'type':'Ready','status':'True'}]}}"),
            "['vm1','5d','Running','10.128.2.14','worker-1','True','False',null]");
  CHECK_STR(cells_of("kubevirt.io", "VirtualMachineInstance",
                     "{" VMI_META ",'status':{'phase':'Running','conditions':[{'type':'Paused',"
                     "'status':'True'},{'type':'Ready'},{'type':'Ready','status':'False'}]}}"),
            "['vm1','5d','Running',null,null,'False',null,'True']");
  /* without status, without a creation time, with one that does not parse */
  CHECK_STR(cells_of("kubevirt.io", "VirtualMachineInstance", "{" VMI_META "}"),
            "['vm1','5d',null,null,null,null,null,null]");
  CHECK_STR(cells_of("kubevirt.io", "VirtualMachineInstance",
                     "{'metadata':{'name':'vm1'},'status':{'phase':'Pending'}}"),
            "['vm1',null,'Pending',null,null,null,null,null]");
  CHECK_STR(cells_of("kubevirt.io", "VirtualMachineInstance",
                     "{'metadata':{'name':'vm1','creationTimestamp':'today'}}"),
            "['vm1','<invalid>',null,null,null,null,null,null]");
  CHECK_STR(cells_of("kubevirt.io", "VirtualMachineInstance",
                     "{'metadata':{'name':'vm1','creationTimestamp':''}}"),
            "['vm1','<unknown>',null,null,null,null,null,null]");
  CHECK_STR(cells_of("kubevirt.io", "VirtualMachineInstance",
                     "{'metadata':{'name':'vm1','creationTimestamp':'null'}}"),
            "['vm1','<unknown>',null,null,null,null,null,null]");
  CHECK_STR(cells_of("kubevirt.io", "VirtualMachineInstance",
                     "{'metadata':{'name':'vm1','creationTimestamp':5}}"),
            "['vm1',null,null,null,null,null,null,null]");
  CHECK_STR(cells_of("kubevirt.io", "VirtualMachineInstance",
                     "{'metadata':{'name':'vm1','creationTimestamp':'0001-01-01T00:00:00Z'}}"),
            "['vm1','<unknown>',null,null,null,null,null,null]");
  /* a migration (no Age column in KubeVirt's CRD) */
  CHECK_STR(cells_of("kubevirt.io", "VirtualMachineInstanceMigration",
                     "{'metadata':{'name':'kubevirt-evacuation-x7k2p','namespace':'prod'," CREATED
                     "},'spec':{'vmiName':'vm1'},'status':{'phase':'Running'}}"),
            "['kubevirt-evacuation-x7k2p','Running','vm1']");
  CHECK_STR(cells_of("kubevirt.io", "VirtualMachineInstanceMigration",
                     "{'metadata':{'name':'m'},'spec':{'vmiName':'vm1'}}"),
            "['m',null,'vm1']");
  /* a VM */
  CHECK_STR(cells_of("kubevirt.io", "VirtualMachine",
                     "{" VMI_META ",'status':{'printableStatus':'Running','ready':true,"
                     "'conditions':[{'type':'Ready','status':'True'}]}}"),
            "['vm1','5d','Running','True']");
  CHECK_STR(cells_of("kubevirt.io", "VirtualMachine",
                     "{" VMI_META ",'status':{'printableStatus':'Stopped','ready':false}}"),
            "['vm1','5d','Stopped',null]");
  /* values that are not strings print as jsonpath prints them */
  CHECK_STR(cells_of("kubevirt.io", "VirtualMachineInstanceMigration",
                     "{'metadata':{'name':'m'},'spec':{'vmiName':5},'status':{'phase':true}}"),
            "['m','true','5']");
  CHECK_STR(cells_of("kubevirt.io", "VirtualMachineInstanceMigration",
                     "{'metadata':{'name':'m'},'spec':{'vmiName':1.5},'status':{'phase':null}}"),
            "['m',null,'1.5']");
  CHECK_STR(cells_of("kubevirt.io", "VirtualMachineInstanceMigration",
                     "{'metadata':{'name':'m'},'spec':{'vmiName':1234567.5},'status':{'phase':"
                     "0.00001}}"),
            "['m','1e-05','1.2345675e+06']");
  CHECK_STR(cells_of("kubevirt.io", "VirtualMachineInstanceMigration",
                     "{'metadata':{'name':'m'},'spec':{'vmiName':-1e300},'status':{'phase':"
                     "0.0001}}"),
            "['m','0.0001','-1e+300']");
  CHECK_STR(cells_of("kubevirt.io", "VirtualMachineInstanceMigration",
                     "{'metadata':{'name':'m'},'spec':{'vmiName':12345678901234},'status':{"
                     "'phase':{'a':[1,'x']}}}"),
            "['m','{\\'a\\':[1,\\'x\\']}','12345678901234']");
}

/* ============================================================================================ */

static void test_rows_and_metadata(void) {
  cJSON *a = J("{'kind':'Node','apiVersion':'v1','metadata':{'name':'node1','uid':'u1',"
               "'resourceVersion':'1001','labels':{'a':'b'},'annotations':{'x':'y'},"
               "'managedFields':[{'manager':'kubectl'}]," CREATED "},'spec':{},'status':{}}");
  cJSON *b = J("{'kind':'Node','metadata':{'name':'node2','resourceVersion':'1002'}}");
  cJSON *c = J("{'kind':'Node','spec':{}}");
  cJSON *copy_a = cJSON_Duplicate(a, 1);
  const cJSON *items[3];
  cJSON *t;
  items[0] = a;
  items[1] = b;
  items[2] = c;
  t = vr_kube_table("", "Node", items, 3, NOW_MS, "1041", NULL);
  CHECK(t != NULL);
  CHECK_STR(show(at(t, "kind", NULL)), "'Table'");
  CHECK_STR(show(at(t, "apiVersion", NULL)), "'meta.k8s.io/v1'");
  CHECK_STR(show(at(t, "metadata", NULL)), "{'resourceVersion':'1041'}");
  CHECK(cJSON_GetArraySize(at(t, "rows", NULL)) == 3);
  CHECK_STR(show(at(cJSON_GetArrayItem(at(t, "rows", NULL), 0), "object", NULL)),
            "{'kind':'PartialObjectMetadata','apiVersion':'meta.k8s.io/v1','metadata':{'name':"
            "'node1','uid':'u1','resourceVersion':'1001','labels':{'a':'b'},'annotations':{'x':"
            "'y'},'creationTimestamp':'2026-04-26T10:00:00Z'}}");
  CHECK_STR(show(at(cJSON_GetArrayItem(at(t, "rows", NULL), 1), "object", NULL)),
            "{'kind':'PartialObjectMetadata','apiVersion':'meta.k8s.io/v1','metadata':{'name':"
            "'node2','resourceVersion':'1002'}}");
  CHECK_STR(show(at(cJSON_GetArrayItem(at(t, "rows", NULL), 2), "object", NULL)),
            "{'kind':'PartialObjectMetadata','apiVersion':'meta.k8s.io/v1','metadata':{}}");
  CHECK_STR(show(at(cJSON_GetArrayItem(at(t, "rows", NULL), 2), "cells", NULL)),
            "['','Unknown','<none>','<unknown>','','<none>','<none>','<unknown>','<unknown>',"
            "'<unknown>']");
  /* the row keys in the API server's order; the input is unchanged (managedFields too) */
  CHECK(strncmp(show(cJSON_GetArrayItem(at(t, "rows", NULL), 0)), "{'cells':[", 10) == 0);
  CHECK(cJSON_Compare(a, copy_a, 1));
  cJSON_Delete(t);

  /* the namespace reaches the row for `kubectl get -A` */
  t = table_of("", "Pod", "{'metadata':{'name':'p','namespace':'kubevirt'}}");
  CHECK_STR(
      show(at(at(cJSON_GetArrayItem(at(t, "rows", NULL), 0), "object", NULL), "metadata", NULL)),
      "{'name':'p','namespace':'kubevirt'}");
  cJSON_Delete(t);

  /* continue with and without a resourceVersion; none at all; no items */
  t = vr_kube_table("", "Pod", items, 0, NOW_MS, "7", "eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ");
  CHECK_STR(show(at(t, "metadata", NULL)),
            "{'resourceVersion':'7','continue':'eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ'}");
  CHECK_STR(show(at(t, "rows", NULL)), "[]");
  cJSON_Delete(t);
  t = vr_kube_table("", "Pod", NULL, 5, NOW_MS, NULL, "c");
  CHECK_STR(show(at(t, "metadata", NULL)), "{'continue':'c'}");
  CHECK_STR(show(at(t, "rows", NULL)), "[]");
  cJSON_Delete(t);
  t = vr_kube_table("", "Pod", NULL, 0, NOW_MS, NULL, NULL);
  CHECK_STR(show(at(t, "metadata", NULL)), "{}");
  CHECK(cJSON_GetArraySize(at(t, "columnDefinitions", NULL)) == 9);
  cJSON_Delete(t);

  cJSON_Delete(a);
  cJSON_Delete(b);
  cJSON_Delete(c);
  cJSON_Delete(copy_a);
}

static void test_other_kinds(void) {
  CHECK_STR(cells_of("", "Namespace", "{'metadata':{'name':'prod'," CREATED "}}"), "['prod','5d']");
  CHECK_STR(cells_of("apps", "DaemonSet", "{'metadata':{'name':'virt-handler'}}"),
            "['virt-handler','<unknown>']");
  CHECK_STR(cells_of("kubevirt.io", "KubeVirt", "{'metadata':{'name':'kubevirt'," CREATED "}}"),
            "['kubevirt','5d']");
  CHECK_STR(cells_of("kubevirt.io", "KubeVirt", "{'metadata':{'name':'kubevirt'}}"),
            "['kubevirt',null]");
  CHECK_STR(cells_of("snapshot.kubevirt.io", "VirtualMachineSnapshot",
                     "{'metadata':{'name':'s','creationTimestamp':'soon'}}"),
            "['s','<invalid>']");
}

/* ============================================================================================ */

static void test_malformed(void) {
  static const struct {
    const char *group, *kind, *obj, *cells;
  } cases[] = {
      {"", "Node", "{'metadata':7,'spec':'x','status':'broken'}",
       "['','Unknown','<none>','<unknown>','','<none>','<none>','<unknown>','<unknown>',"
       "'<unknown>']"},
      {"", "Node",
       "{'metadata':{'name':5,'labels':['node-role.kubernetes.io/master']},'spec':{"
       "'unschedulable':'true'},'status':{'conditions':{'Ready':{'type':'Ready','status':'True'}},"
       "'addresses':{'type':'InternalIP','address':'1.1.1.1'},'nodeInfo':['v1']}}",
       "['','Unknown','<none>','<unknown>','','<none>','<none>','<unknown>','<unknown>',"
       "'<unknown>']"},
      {"", "Node",
       "{'metadata':{'name':'n','labels':{'kubernetes.io/role':5,'node-role.kubernetes.io/x':7}},"
       "'status':{'conditions':[5,'Ready',null,{'type':5},{'type':'Ready','status':true}],"
       "'addresses':[1,{'type':'InternalIP','address':7}],'nodeInfo':{'kubeletVersion':1,"
       "'osImage':[],'kernelVersion':{},'containerRuntimeVersion':null}}}",
       "['n','NotReady','x','<unknown>','','','<none>','<unknown>','<unknown>','<unknown>']"},
      {"", "Pod", "{'metadata':{'name':'p'},'spec':'x','status':'running'}",
       "['p','0/0','','0','<unknown>','<none>','<none>','<none>','<none>']"},
      {"", "Pod",
       "{'metadata':{'name':'p','deletionTimestamp':null},'spec':{'containers':{'name':'app'},"
       "'initContainers':'x','nodeName':7,'readinessGates':{'conditionType':'a'}},'status':{"
       "'phase':5,'reason':[],'conditions':'Ready','containerStatuses':{'name':'app'},"
       "'initContainerStatuses':7,'podIPs':'1.2.3.4','podIP':{'ip':'x'},'nominatedNodeName':1}}",
       "['p','0/0','','0','<unknown>','<none>','<none>','<none>','<none>']"},
      {"", "Pod",
       "{'metadata':{'name':'p'},'spec':{'containers':[1,'a',{'name':'app'}],'initContainers':[5,"
       "{'name':'i','restartPolicy':'Always'}]},'status':{'phase':'Running',"
       "'initContainerStatuses':[3,{'name':'i','restartCount':'5','started':'true','state':5}],"
       "'containerStatuses':[null,{'state':{'waiting':'x','terminated':[],'running':'yes'},"
       "'ready':1,'restartCount':1e12,'lastState':{'terminated':{'finishedAt':'x'}}},{"
       "'restartCount':-1e12,'lastState':'x'}],'podIPs':[5]}}",
       "['p','0/4','Init:0/2','0','<unknown>','<none>','<none>','<none>','<none>']"},
      {"", "Pod",
       "{'metadata':{'name':'p'},'spec':{'containers':[{'name':'a'}]},'status':{'phase':"
       "'Running','containerStatuses':[{'restartCount':1e12,'lastState':{'terminated':{"
       "'finishedAt':'2026-05-01T09:00:00Z'}},'state':{'terminated':{'exitCode':1e12,'signal':"
       "'9'}}},{'restartCount':1e12}]}}",
       "['p','0/1','ExitCode:2147483647','4294967294 (60m ago)','<unknown>','<none>','<none>',"
       "'<none>','<none>']"},
      {"kubevirt.io", "VirtualMachineInstance",
       "{'metadata':{'name':'v'},'status':{'phase':'Running','conditions':{'type':'Ready',"
       "'status':'True'},'interfaces':{'ipAddress':'1.1.1.1'},'nodeName':['n']}}",
       "['v',null,'Running',null,'[\\'n\\']',null,null,null]"},
      {"kubevirt.io", "VirtualMachineInstance",
       "{'metadata':{'name':'v'},'status':{'conditions':[1,null,{'type':['Ready'],'status':'x'}],"
       "'interfaces':['x',{'ipAddress':'1.1.1.1'}]}}",
       "['v',null,null,null,null,null,null,null]"},
      {"kubevirt.io", "VirtualMachineInstance", "{'metadata':{'name':'v'},'status':'Running'}",
       "['v',null,null,null,null,null,null,null]"},
      {"kubevirt.io", "VirtualMachine", "[1,2,3]", "['',null,null,null]"},
      {"kubevirt.io", "VirtualMachineInstanceMigration", "'vmim'", "['',null,null]"},
      {"", "Namespace", "{'metadata':[]}", "['','<unknown>']"},
  };
  size_t i;
  for (i = 0; i < LEN(cases); i++) {
    const char *got = cells_of(cases[i].group, cases[i].kind, cases[i].obj);
    if (strcmp(got, cases[i].cells) != 0) fprintf(stderr, "malformed case %zu\n", i);
    CHECK_STR(got, cases[i].cells);
  }
  /* a NULL item is an object without fields */
  CHECK_STR(cells_of("", "Pod", NULL),
            "['','0/0','','0','<unknown>','<none>','<none>','<none>','<none>']");
  CHECK_STR(cells_of("kubevirt.io", "VirtualMachineInstance", NULL),
            "['',null,null,null,null,null,null,null]");
}

/* ============================================================================================ */

static long alloc_budget = -1; /* allocations left before failing; -1: unlimited */

static void *limited_malloc(size_t size) {
  if (alloc_budget == 0) return NULL;
  if (alloc_budget > 0) alloc_budget--;
  return malloc(size);
}

/* Builds the Table of the objects with a memory failure at every allocation in turn until it
 * succeeds: every failure must be NULL with the inputs unchanged (ASan finds any leak), and the
 * final Table must equal the one built without failures. */
static int survives_memory_failures(const char *group, const char *kind, const char *objs_text) {
  cJSON_Hooks hooks = {limited_malloc, free};
  cJSON *objs = J(objs_text), *copy = cJSON_Duplicate(objs, 1), *expected, *out;
  const cJSON *items[8], *o;
  size_t n = 0;
  long budget;
  int ok = 1, failures = 0;
  cJSON_ArrayForEach(o, objs) {
    if (n < LEN(items)) items[n++] = o;
  }
  expected = vr_kube_table(group, kind, items, n, NOW_MS, "41", "next");
  for (budget = 0; budget < 100000; budget++) {
    cJSON_InitHooks(&hooks);
    alloc_budget = budget;
    out = vr_kube_table(group, kind, items, n, NOW_MS, "41", "next");
    alloc_budget = -1;
    cJSON_InitHooks(NULL);
    if (!cJSON_Compare(objs, copy, 1)) {
      fprintf(stderr, "budget %ld: inputs modified\n", budget);
      ok = 0;
    }
    if (out != NULL) {
      if (!cJSON_Compare(out, expected, 1)) {
        fprintf(stderr, "budget %ld: wrong result %s\n", budget, show(out));
        ok = 0;
      }
      cJSON_Delete(out);
      break;
    }
    failures++;
  }
  if (failures < 10) ok = 0;
  cJSON_Delete(objs);
  cJSON_Delete(copy);
  cJSON_Delete(expected);
  return ok;
}

static void test_memory_failures(void) {
  CHECK(survives_memory_failures(
      "", "Node",
      "[{'metadata':{'name':'cp-1','labels':{'node-role.kubernetes.io/master':'',"
      "'node-role.kubernetes.io/control-plane':''},'managedFields':[{'m':1}]," CREATED "},"
      "'spec':{'unschedulable':true},'status':{'conditions':[{'type':'Ready','status':'True'}]}},"
      "{'metadata':{'name':'w','labels':{'a':'b'}}},{'metadata':{'labels':{}}},7]"));
  CHECK(survives_memory_failures(
      "", "Pod",
      "[{'metadata':{'name':'a'},'status':{'phase':'Succeeded'}},{'metadata':{'name':'b'},"
      "'status':{'phase':'Running','containerStatuses':[{'restartCount':2,'lastState':{"
      "'terminated':{'finishedAt':'2026-05-01T09:00:00Z'}}}]}}]"));
  CHECK(survives_memory_failures("kubevirt.io", "VirtualMachineInstance",
                                 "[{'metadata':{'name':'v'," CREATED
                                 "},'status':{'phase':{'odd':[1,2]},'nodeName':3,"
                                 "'conditions':[{'type':'Ready','status':'True'}]}},{}]"));
  CHECK(survives_memory_failures("kubevirt.io", "KubeVirt", "[{'metadata':{'name':'kv'}}]"));
}

int main(void) {
  /* nothing may depend on the local time zone */
  setenv("TZ", "America/St_Johns", 1);
  tzset();
  test_human_duration();
  test_ages();
  test_columns();
  test_nodes();
  test_pods();
  test_pod_row_conditions();
  test_kubevirt();
  test_rows_and_metadata();
  test_other_kinds();
  test_malformed();
  test_memory_failures();
  return CHECK_DONE();
}
