/* sim_status.c: the status fields a real cluster's agents report beside the phases the
 * simulator's controllers decide: what the kubelet writes on a pod (hostIP, podIP, one
 * containerStatuses entry per container), what virt-handler reports on a running VMI
 * (status.interfaces), what KubeVirt's VM controller copies from the VMI to its VM (the Ready
 * condition and the VMI's other conditions) and the addresses a kubelet gives its node.
 *
 * Nothing here decides anything: the fields ride on writes the controllers make anyway (the
 * nodes' addresses and loaded pods' fields are filled once, at load; a restart in place is a
 * write of its own that the controllers ignore), no controller reads them, and pod IPs come from
 * a counter in the order pods reach a node, never from the seeded rng, so that a run takes the
 * same decisions with them as without. Members get their interned names (json_pool.h) here,
 * as the store would give them: nothing to copy now and free at the write. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "json_pool.h"
#include "sim_internal.h"

#define POD_NETWORK      ((10u << 24) | (128u << 16)) /* 10.128.0.0/14, OpenShift's default */
#define POD_NETWORK_SIZE ((1u << 18) - 2)             /* its addresses less network and broadcast */
#define NODE_NETWORK     ((10u << 24) | 10u)          /* 10.0.0.10 on: the nodes, in name order */

static int str_eq(const char *a, const char *b) {
  return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* Adds item (owned; NULL: nothing) to obj as member name, which must not be there yet. */
static cJSON *add(cJSON *obj, const char *name, cJSON *item) {
  const char *interned = vr_json_intern(name);
  if (item == NULL) return NULL;
  if (interned != NULL ? !cJSON_AddItemToObjectCS(obj, interned, item)
                       : !cJSON_AddItemToObject(obj, name, item)) {
    cJSON_Delete(item);
    return NULL;
  }
  return item;
}

/* Sets member name of obj to item (owned; NULL: nothing), in the place of the old member if
 * there is one. */
static cJSON *put(cJSON *obj, const char *name, cJSON *item) {
  cJSON *old = cJSON_GetObjectItemCaseSensitive(obj, name);
  const char *interned;
  if (old == NULL || item == NULL) return add(obj, name, item);
  if ((interned = vr_json_intern(name)) == NULL) {
    if (cJSON_ReplaceItemInObjectCaseSensitive(obj, name, item)) return item;
    cJSON_Delete(item);
    return NULL;
  }
  item->string = (char *)interned;
  item->type |= cJSON_StringIsConst;
  cJSON_ReplaceItemViaPointer(obj, old, item);
  return item;
}

static void add_string(cJSON *obj, const char *name, const char *value) {
  add(obj, name, cJSON_CreateString(value));
}

/* obj's member name as an object, made (replacing a member of another type) when missing. */
static cJSON *object_at(cJSON *obj, const char *name) {
  cJSON *o = cJSON_GetObjectItemCaseSensitive(obj, name);
  return cJSON_IsObject(o) ? o : put(obj, name, cJSON_CreateObject());
}

/* a.b.c.d of the address a into buf (16 bytes). */
static void format_ip(uint32_t a, char *buf) {
  char *p = buf;
  int shift;
  for (shift = 24; shift >= 0; shift -= 8) {
    unsigned octet = (a >> shift) & 255u;
    if (octet >= 100) *p++ = (char)('0' + octet / 100);
    if (octet >= 10) *p++ = (char)('0' + octet / 10 % 10);
    *p++ = (char)('0' + octet % 10);
    *p++ = shift ? '.' : '\0';
  }
}

/* The node's InternalIP address, or NULL. */
static const char *node_ip(const cJSON *node) {
  const cJSON *a;
  cJSON_ArrayForEach(a, sim_path(node, "status.addresses")) {
    if (str_eq(sim_string(a, "type"), "InternalIP")) return sim_string(a, "address");
  }
  return NULL;
}

static cJSON *address(const char *type, const char *value) {
  cJSON *entry = cJSON_CreateObject();
  add_string(entry, "type", type);
  add_string(entry, "address", value);
  return entry;
}

int sim_node_fill_addresses(cJSON *node, size_t index) {
  const cJSON *a;
  cJSON *status, *addresses;
  char ip[16];
  int hostname = 0;
  if (node_ip(node) != NULL || (status = object_at(node, "status")) == NULL) return 0;
  addresses = cJSON_GetObjectItemCaseSensitive(status, "addresses");
  if (!cJSON_IsArray(addresses) &&
      (addresses = put(status, "addresses", cJSON_CreateArray())) == NULL)
    return 0;
  cJSON_ArrayForEach(a, addresses) {
    if (str_eq(sim_string(a, "type"), "Hostname")) hostname = 1;
  }
  format_ip(NODE_NETWORK + (uint32_t)index, ip);
  cJSON_InsertItemInArray(addresses, 0, address("InternalIP", ip));
  if (!hostname && sim_string(node, "metadata.name") != NULL)
    cJSON_AddItemToArray(addresses, address("Hostname", sim_string(node, "metadata.name")));
  return 1;
}

int sim_node_fill_ready(vr_sim *sim, cJSON *node) {
  const cJSON *c;
  cJSON *status = object_at(node, "status"), *conditions, *ready;
  char ts[40];
  if (status == NULL) return 0;
  conditions = cJSON_GetObjectItemCaseSensitive(status, "conditions");
  cJSON_ArrayForEach(c, conditions) {
    if (str_eq(sim_string(c, "type"), "Ready")) return 0;
  }
  if (!cJSON_IsArray(conditions) &&
      (conditions = put(status, "conditions", cJSON_CreateArray())) == NULL)
    return 0;
  ready = sim_condition("Ready", "True", "KubeletReady", "kubelet is posting ready status");
  if (ready == NULL) return 0;
  sim_timestamp(sim, ts, sizeof ts);
  cJSON_AddStringToObject(ready, "lastHeartbeatTime", ts);
  cJSON_AddStringToObject(ready, "lastTransitionTime", ts);
  cJSON_AddItemToArray(conditions, ready);
  return 1;
}

static int phase_final(const char *phase) {
  return str_eq(phase, "Succeeded") || str_eq(phase, "Failed");
}

/* hostIP and podIP (with podIPs) of a pod on node, those it lacks, in its status: the node's
 * InternalIP; a pod on the host network has the node's address, any other the next address of
 * the pod network (a finished pod gets none). 1 when something was added. */
static int fill_addresses(vr_sim *sim, const cJSON *pod, cJSON *status, const char *node_name,
                          const char *phase) {
  const char *host = node_ip(vr_store_get(sim->store, "", "Node", NULL, node_name));
  cJSON *list, *entry;
  char ip[16];
  int changed = 0;
  if (host != NULL && !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(status, "hostIP"))) {
    put(status, "hostIP", cJSON_CreateString(host));
    changed = 1;
  }
  if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(status, "podIP")) || phase_final(phase))
    return changed;
  if (cJSON_IsTrue(sim_path(pod, "spec.hostNetwork"))) {
    if (host == NULL) return changed;
    snprintf(ip, sizeof ip, "%s", host);
  } else { /* handed out in order; after 2^18 - 2 pods the first addresses come round again */
    format_ip(POD_NETWORK + 1u + sim->pod_ips % POD_NETWORK_SIZE, ip);
    sim->pod_ips++;
  }
  put(status, "podIP", cJSON_CreateString(ip));
  list = put(status, "podIPs", cJSON_CreateArray());
  if (list != NULL && (entry = cJSON_CreateObject()) != NULL) {
    add_string(entry, "ip", ip);
    cJSON_AddItemToArray(list, entry);
  }
  return 1;
}

/* The entry of the containerStatuses list old (may be NULL) for the container name, or NULL. */
static const cJSON *status_of(const cJSON *old, const char *name) {
  const cJSON *s;
  cJSON_ArrayForEach(s, old) {
    if (str_eq(sim_string(s, "name"), name)) return s;
  }
  return NULL;
}

/* A containerStatuses entry for container c of a pod in phase, as the kubelet reports it:
 * waiting (ContainerCreating) while the pod is Pending on its node, running and ready while it
 * runs, terminated once it finished. restartCount, lastState and a running container's start
 * time carry over from the old entry (may be NULL). now: the time, when needed (sim_timestamp
 * into a buffer of 40 bytes, made once). */
static cJSON *container_status(vr_sim *sim, const cJSON *c, const cJSON *old, const char *phase,
                               char *now) {
  cJSON *s = cJSON_CreateObject(), *state, *inner;
  const cJSON *restarts = sim_path(old, "restartCount"), *last = sim_path(old, "lastState");
  const char *started_at = sim_string(old, "state.running.startedAt");
  const char *name = sim_string(c, "name"), *image = sim_string(c, "image");
  int running = str_eq(phase, "Running");
  if (s == NULL) return NULL;
  add_string(s, "name", name ? name : "");
  add_string(s, "image", image ? image : "");
  add(s, "ready", cJSON_CreateBool(running));
  add(s, "started", cJSON_CreateBool(running));
  add(s, "restartCount", cJSON_CreateNumber(cJSON_IsNumber(restarts) ? restarts->valuedouble : 0));
  if (phase_final(phase) && sim_path(old, "state.terminated") != NULL) {
    add(s, "state", cJSON_Duplicate(sim_path(old, "state"), 1)); /* it ended before: as it was */
  } else if ((state = add(s, "state", cJSON_CreateObject())) != NULL) {
    if ((running && started_at == NULL) || phase_final(phase)) {
      if (now[0] == '\0') sim_timestamp(sim, now, 40);
    }
    if (running) {
      inner = add(state, "running", cJSON_CreateObject());
      if (inner) add_string(inner, "startedAt", started_at ? started_at : now);
    } else if (phase_final(phase)) {
      int ok = str_eq(phase, "Succeeded");
      if ((inner = add(state, "terminated", cJSON_CreateObject())) != NULL) {
        add(inner, "exitCode", cJSON_CreateNumber(ok ? 0 : 1));
        add_string(inner, "reason", ok ? "Completed" : "Error");
        if (started_at) add_string(inner, "startedAt", started_at);
        add_string(inner, "finishedAt", now);
      }
    } else if ((inner = add(state, "waiting", cJSON_CreateObject())) != NULL) {
      add_string(inner, "reason", "ContainerCreating");
    }
  }
  if (cJSON_IsObject(last)) add(s, "lastState", cJSON_Duplicate(last, 1));
  return s;
}

/* status.containerStatuses for the pod's containers in phase. */
static cJSON *container_statuses(vr_sim *sim, const cJSON *pod, const char *phase) {
  const cJSON *c, *old = sim_path(pod, "status.containerStatuses");
  cJSON *list = cJSON_CreateArray();
  char now[40] = "";
  if (list == NULL) return NULL;
  cJSON_ArrayForEach(c, sim_path(pod, "spec.containers")) {
    cJSON *s = container_status(sim, c, status_of(old, sim_string(c, "name")), phase, now);
    if (s != NULL) cJSON_AddItemToArray(list, s);
  }
  return list;
}

void sim_pod_set_phase(vr_sim *sim, cJSON *pod, const char *phase) {
  const char *node = sim_string(pod, "spec.nodeName");
  cJSON *status = object_at(pod, "status");
  if (status == NULL) return;
  put(status, "phase", cJSON_CreateString(phase));
  if (node == NULL) return; /* not scheduled: no kubelet has seen it */
  fill_addresses(sim, pod, status, node, phase);
  put(status, "containerStatuses", container_statuses(sim, pod, phase));
}

int sim_pod_fill_loaded(vr_sim *sim, cJSON *pod) {
  const char *node = sim_string(pod, "spec.nodeName"), *phase = sim_string(pod, "status.phase");
  cJSON *status = (cJSON *)sim_path(pod, "status");
  int changed;
  if (node == NULL || phase == NULL || !cJSON_IsObject(status)) return 0;
  changed = fill_addresses(sim, pod, status, node, phase);
  if (cJSON_GetObjectItemCaseSensitive(status, "containerStatuses") == NULL) {
    put(status, "containerStatuses", container_statuses(sim, pod, phase));
    changed = 1;
  }
  return changed;
}

void sim_pod_restarted(vr_sim *sim, cJSON *pod, const char *down_at) {
  cJSON *status = object_at(pod, "status"), *s;
  char now[40];
  if (status == NULL) return;
  if (cJSON_GetObjectItemCaseSensitive(status, "containerStatuses") == NULL)
    put(status, "containerStatuses", container_statuses(sim, pod, "Running"));
  sim_timestamp(sim, now, sizeof now);
  cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(status, "containerStatuses")) {
    const cJSON *restarts = cJSON_GetObjectItemCaseSensitive(s, "restartCount");
    const char *started_at = sim_string(s, "state.running.startedAt");
    cJSON *last = cJSON_CreateObject(), *ended, *state = cJSON_CreateObject(), *running;
    if ((ended = add(last, "terminated", cJSON_CreateObject())) != NULL) {
      add(ended, "exitCode", cJSON_CreateNumber(255)); /* what the kubelet finds after a reboot */
      add_string(ended, "reason", "Unknown");
      if (started_at) add_string(ended, "startedAt", started_at);
      add_string(ended, "finishedAt", down_at);
    }
    if ((running = add(state, "running", cJSON_CreateObject())) != NULL)
      add_string(running, "startedAt", now);
    put(s, "restartCount",
        cJSON_CreateNumber((cJSON_IsNumber(restarts) ? restarts->valuedouble : 0) + 1));
    put(s, "lastState", last);
    put(s, "state", state); /* started_at pointed into the old state: used above */
    put(s, "ready", cJSON_CreateTrue());
    put(s, "started", cJSON_CreateTrue());
  }
}

/* --- VMI interfaces ------------------------------------------------------------------------- */

/* A MAC address in libvirt's 52:54:00 range, the same for the VMI (by uid) and interface on
 * every write (FNV-1a). */
static void generated_mac(const cJSON *vmi, const char *iface, char *buf, size_t len) {
  const char *parts[2] = {sim_string(vmi, "metadata.uid"), iface};
  uint64_t h = 1469598103934665603ull;
  int i;
  for (i = 0; i < 2; i++) {
    const unsigned char *p = (const unsigned char *)(parts[i] ? parts[i] : "");
    do {
      h = (h ^ *p) * 1099511628211ull;
    } while (*p++ != '\0');
  }
  snprintf(buf, len, "52:54:00:%02x:%02x:%02x", (unsigned)(h >> 16) & 255u,
           (unsigned)(h >> 8) & 255u, (unsigned)h & 255u);
}

static cJSON *interface_status(const cJSON *vmi, const char *name, const char *mac,
                               const char *pod_ip, int64_t queues) {
  cJSON *s = cJSON_CreateObject(), *ips;
  char buf[24];
  if (s == NULL) return NULL;
  if (mac == NULL || mac[0] == '\0') {
    generated_mac(vmi, name, buf, sizeof buf);
    mac = buf;
  }
  add_string(s, "name", name);
  if (pod_ip != NULL) {
    add_string(s, "ipAddress", pod_ip);
    if ((ips = add(s, "ipAddresses", cJSON_CreateArray())) != NULL)
      cJSON_AddItemToArray(ips, cJSON_CreateString(pod_ip));
    add_string(s, "interfaceName", "eth0");
  }
  add_string(s, "mac", mac);
  add_string(s, "infoSource",
             pod_ip != NULL ? "domain, guest-agent, multus-status" : "domain, multus-status");
  add(s, "queueCount", cJSON_CreateNumber((double)queues));
  return s;
}

void sim_vmi_set_interfaces(cJSON *vmi, const cJSON *pod) {
  const cJSON *devices = sim_path(vmi, "spec.domain.devices"), *net, *iface;
  const cJSON *interfaces = sim_path(devices, "interfaces");
  const cJSON *networks = sim_path(vmi, "spec.networks");
  const char *pod_net = NULL, *ip = sim_string(pod, "status.podIP");
  int64_t queues =
      cJSON_IsTrue(sim_path(devices, "networkInterfaceMultiqueue")) ? sim_vmi_vcpus(vmi) : 1;
  cJSON *status = object_at(vmi, "status"), *list;
  if (status == NULL || (list = put(status, "interfaces", cJSON_CreateArray())) == NULL) return;
  cJSON_ArrayForEach(net, networks) {
    if (sim_path(net, "pod") != NULL && pod_net == NULL) pod_net = sim_string(net, "name");
  }
  if (cJSON_GetArraySize(interfaces) == 0 && networks == NULL &&
      !cJSON_IsFalse(sim_path(devices, "autoattachPodInterface"))) {
    /* KubeVirt's defaults: an interface "default" on the pod network */
    cJSON_AddItemToArray(list, interface_status(vmi, "default", NULL, ip, queues));
  }
  cJSON_ArrayForEach(iface, interfaces) {
    const char *name = sim_string(iface, "name");
    if (name == NULL) continue;
    /* on the pod network virt-handler reports the pod's address (masquerade: the guest's is
     * behind NAT; bridge: the guest took the pod's); other networks' addresses come from the
     * guest agent, which the simulator has not */
    cJSON_AddItemToArray(list, interface_status(vmi, name, sim_string(iface, "macAddress"),
                                                str_eq(name, pod_net) ? ip : NULL, queues));
  }
}

/* --- conditions ----------------------------------------------------------------------------- */

void sim_vmi_set_ready(cJSON *vmi, const char *status, const char *reason, const char *message) {
  cJSON *st = object_at(vmi, "status"), *conditions, *c;
  if (st == NULL) return;
  conditions = cJSON_GetObjectItemCaseSensitive(st, "conditions");
  if (!cJSON_IsArray(conditions) &&
      (conditions = put(st, "conditions", cJSON_CreateArray())) == NULL)
    return;
  for (c = conditions->child; c != NULL; c = c->next) {
    if (str_eq(sim_string(c, "type"), "Ready")) break;
  }
  if (c != NULL) {
    cJSON_ReplaceItemViaPointer(conditions, c, sim_condition("Ready", status, reason, message));
  } else {
    cJSON_AddItemToArray(conditions, sim_condition("Ready", status, reason, message));
  }
}

/* A VMI condition KubeVirt's VM controller copies to the VM as it is (syncConditions). */
static int synced_condition(const cJSON *c) {
  const char *type = sim_string(c, "type");
  return !str_eq(type, "Ready") && !str_eq(type, "Failure") && !str_eq(type, "RestartRequired");
}

/* 1 when c is exactly {type: Ready, status: False, reason, message}. */
static int is_not_ready(const cJSON *c, const char *reason, const char *message) {
  return cJSON_GetArraySize(c) == 4 && str_eq(sim_string(c, "type"), "Ready") &&
         str_eq(sim_string(c, "status"), "False") && str_eq(sim_string(c, "reason"), reason) &&
         str_eq(sim_string(c, "message"), message);
}

static const cJSON *ready_of(const cJSON *vmi) {
  const cJSON *c, *ready = NULL;
  cJSON_ArrayForEach(c, sim_path(vmi, "status.conditions")) {
    if (str_eq(sim_string(c, "type"), "Ready")) ready = c;
  }
  return ready;
}

int sim_vm_conditions_current(const cJSON *conditions, const cJSON *vmi) {
  const cJSON *have = cJSON_IsArray(conditions) ? conditions->child : NULL, *c;
  const cJSON *ready = ready_of(vmi);
  if (have == NULL) return 0;
  if (vmi == NULL)
    return have->next == NULL && is_not_ready(have, "VMINotExists", "VMI does not exist");
  if (ready == NULL
          ? !is_not_ready(have, "VMIConditionMissing", "VMI is missing the Ready condition")
          : !cJSON_Compare(have, ready, 1))
    return 0;
  have = have->next;
  cJSON_ArrayForEach(c, sim_path(vmi, "status.conditions")) {
    if (!synced_condition(c)) continue;
    if (have == NULL || !cJSON_Compare(have, c, 1)) return 0;
    have = have->next;
  }
  return have == NULL;
}

cJSON *sim_vm_conditions(const cJSON *vmi) {
  const cJSON *c, *ready = ready_of(vmi);
  cJSON *out = cJSON_CreateArray();
  if (out == NULL) return NULL;
  if (vmi == NULL) {
    cJSON_AddItemToArray(out,
                         sim_condition("Ready", "False", "VMINotExists", "VMI does not exist"));
  } else if (ready == NULL) {
    cJSON_AddItemToArray(out, sim_condition("Ready", "False", "VMIConditionMissing",
                                            "VMI is missing the Ready condition"));
  } else {
    cJSON_AddItemToArray(out, cJSON_Duplicate(ready, 1));
  }
  /* the VMI's other conditions, copied as they are (KubeVirt's syncConditions) */
  cJSON_ArrayForEach(c, sim_path(vmi, "status.conditions")) {
    if (synced_condition(c)) cJSON_AddItemToArray(out, cJSON_Duplicate(c, 1));
  }
  return out;
}
