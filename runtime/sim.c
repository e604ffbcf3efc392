/* sim.c: the simulated cluster's container (see sim.h): the store (loaded from a cluster file or
 * from in-memory objects, a rehearsal's copy of a real cluster; vr_sim_kinds lists what such a
 * copy holds), the work queues that drive the controllers, and timed events on the run's clock.
 * Store watches only queue keys; a zero-delay clock timer then runs the controllers, so every
 * controller sees a consistent store and never runs inside another write. Deterministic: keys
 * are processed in sorted order. */
#include "sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "luaval.h"
#include "sim_internal.h"

#define MAX_ROUNDS 1000 /* controller rounds per work pass before yielding to the clock */

static uint64_t sim_now(void *ctx) {
  return vr_clock_now(((vr_sim *)ctx)->clock);
}

vr_sim *vr_sim_new(vr_clock *clock, uint64_t seed) {
  vr_sim *sim = calloc(1, sizeof *sim);
  int i;
  if (sim == NULL) return NULL;
  sim->store = vr_store_new(seed, 0);
  if (sim->store == NULL) {
    free(sim);
    return NULL;
  }
  sim->clock = clock;
  sim->seed = seed;
  sim->rng = seed * 0xD1B54A32D192ED03ull + 0x8BB84B93962EACC9ull;
  for (i = 0; i < SIM_QUEUES; i++) {
    vr_strmap_init(&sim->queues[i]);
    vr_strmap_init(&sim->queue_spares[i]);
  }
  vr_strmap_init(&sim->pod_usage);
  vr_strmap_init(&sim->node_usage);
  vr_strmap_init(&sim->limits_outbound);
  vr_strmap_init(&sim->vmims_running);
  vr_strmap_init(&sim->vmims_pending);
  vr_strmap_init(&sim->vmim_requeues);
  vr_strmap_init(&sim->unscheduled);
  vr_strmap_init(&sim->maintenance);
  vr_store_set_clock(sim->store, sim_now, sim);
  vr_store_set_admission(sim->store, sim_admit, sim);
  vr_store_set_finalizer_filter(sim->store, sim_finalizer_done_at_once, sim);
  return sim;
}

void vr_sim_free(vr_sim *sim) {
  int i;
  if (sim == NULL) return;
  vr_timer_stop(sim->clock, &sim->work_timer);
  while (sim->events) {
    sim_event *e = sim->events;
    sim->events = e->next;
    vr_timer_stop(sim->clock, &e->timer);
    free(e);
  }
  while (sim->spare_events) {
    sim_event *e = sim->spare_events;
    sim->spare_events = e->next;
    free(e);
  }
  for (i = 0; i < SIM_WATCHES; i++) {
    if (sim->watches[i]) vr_store_watch_stop(sim->store, sim->watches[i]);
  }
  sim_free_migrations(sim);
  sim_free_maintenance(sim);
  sim_free_accounting(sim);
  sim_free_nodes(sim);
  sim_node_cache_clear(sim);
  for (i = 0; i < SIM_QUEUES; i++) {
    vr_strmap_clear(&sim->queues[i]);
    vr_strmap_clear(&sim->queue_spares[i]);
  }
  vr_strmap_clear(&sim->unscheduled);
  vr_store_free(sim->store);
  free(sim->source);
  free(sim);
}

vr_store *vr_sim_store(vr_sim *sim) {
  return sim->store;
}

vr_clock *vr_sim_clock(vr_sim *sim) {
  return sim->clock;
}

uint64_t vr_sim_seed(const vr_sim *sim) {
  return sim->seed;
}

const char *vr_sim_source(const vr_sim *sim) {
  return sim->source;
}

uint64_t sim_random(vr_sim *sim) {
  uint64_t x = sim->rng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  sim->rng = x;
  return x * 2685821657736338717ull;
}

/* --- cJSON helpers -------------------------------------------------------------------------- */

/* The member of obj named by the n characters at name, or NULL. The controllers read a few
 * fields of big objects millions of times: names are matched in place (first character, then
 * the rest), without copying them. */
static const cJSON *member_named(const cJSON *obj, const char *name, size_t n) {
  const cJSON *member;
  if (!cJSON_IsObject(obj)) return NULL;
  for (member = obj->child; member != NULL; member = member->next) {
    const char *k = member->string;
    if (k != NULL && k[0] == name[0] && strncmp(k, name, n) == 0 && k[n] == '\0') return member;
  }
  return NULL;
}

const cJSON *sim_path(const cJSON *obj, const char *dotted) {
  const char *p = dotted;
  while (obj != NULL && *p) {
    const char *end = p;
    while (*end != '\0' && *end != '.') end++;
    obj = member_named(obj, p, (size_t)(end - p));
    p = *end == '.' ? end + 1 : end;
  }
  return obj;
}

const char *sim_string(const cJSON *obj, const char *dotted) {
  const cJSON *v = sim_path(obj, dotted);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

const char *sim_annotation(const cJSON *obj, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(sim_path(obj, "metadata.annotations"), key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

int sim_phase_is(const cJSON *obj, const char *phase) {
  const char *p = sim_string(obj, "status.phase");
  return p && strcmp(p, phase) == 0;
}

void sim_timestamp(vr_sim *sim, char *buf, size_t len) {
  uint64_t second = vr_clock_now(sim->clock) / 1000u;
  if (sim->timestamp_text[0] == '\0' || second != sim->timestamp_second) {
    /* formatted once per second of the run: controllers stamp thousands of objects in one */
    vr_clock_format(second * 1000u, sim->timestamp_text, sizeof sim->timestamp_text);
    if (strlen(sim->timestamp_text) >= 24) /* whole seconds */
      memmove(sim->timestamp_text + 19, sim->timestamp_text + 23,
              strlen(sim->timestamp_text + 23) + 1);
    sim->timestamp_second = second;
  }
  if (len > 0) {
    size_t n = strlen(sim->timestamp_text);
    if (n >= len) n = len - 1;
    memcpy(buf, sim->timestamp_text, n);
    buf[n] = '\0';
  }
}

void sim_set(cJSON *obj, const char *dotted, cJSON *item) {
  char part[128];
  const char *p = dotted;
  if (item == NULL) return;
  for (;;) {
    size_t n = strcspn(p, ".");
    cJSON *next;
    if (n >= sizeof part) {
      cJSON_Delete(item);
      return;
    }
    memcpy(part, p, n);
    part[n] = '\0';
    p += n;
    if (*p == '\0') {
      if (cJSON_GetObjectItemCaseSensitive(obj, part)) {
        cJSON_ReplaceItemInObjectCaseSensitive(obj, part, item);
      } else {
        cJSON_AddItemToObject(obj, part, item);
      }
      return;
    }
    p++;
    next = cJSON_GetObjectItemCaseSensitive(obj, part);
    if (!cJSON_IsObject(next)) {
      cJSON_DeleteItemFromObjectCaseSensitive(obj, part);
      next = cJSON_AddObjectToObject(obj, part);
      if (next == NULL) {
        cJSON_Delete(item);
        return;
      }
    }
    obj = next;
  }
}

/* --- work queues ----------------------------------------------------------------------------- */

static int compare_keys(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A queued VMIM key with its object, looked up once before sorting. */
typedef struct queued_vmim {
  char *key;
  int priority;
  const char *created; /* metadata.creationTimestamp, or NULL */
} queued_vmim;

static int compare_migrations(const void *a, const void *b) {
  const queued_vmim *qa = a, *qb = b;
  int c = 0;
  if (qa->priority != qb->priority) return qa->priority > qb->priority ? -1 : 1;
  if (qa->created && qb->created) c = strcmp(qa->created, qb->created);
  return c ? c : strcmp(qa->key, qb->key);
}

int sim_split_key(const char *key, char *ns, size_t nslen, const char **name) {
  const char *sep = strchr(key, SIM_SEP[0]);
  size_t len = sep ? (size_t)(sep - key) : 0;
  if (sep == NULL || len >= nslen) return -1;
  memcpy(ns, key, len);
  ns[len] = '\0';
  *name = sep + 1;
  return 0;
}

void sim_sort_vmim_keys(vr_sim *sim, char **keys, size_t n) {
  queued_vmim *q = malloc((n + 1) * sizeof *q);
  size_t i;
  if (q == NULL) { /* out of memory: key order */
    qsort(keys, n, sizeof *keys, compare_keys);
    return;
  }
  for (i = 0; i < n; i++) {
    char ns[254];
    const char *name;
    const cJSON *vmim =
        sim_split_key(keys[i], ns, sizeof ns, &name) != 0
            ? NULL
            : vr_store_get(sim->store, "kubevirt.io", "VirtualMachineInstanceMigration", ns, name);
    q[i].key = keys[i];
    q[i].priority = vmim ? sim_vmim_priority(vmim) : 0;
    q[i].created = vmim ? sim_string(vmim, "metadata.creationTimestamp") : NULL;
  }
  qsort(q, n, sizeof *q, compare_migrations);
  for (i = 0; i < n; i++) keys[i] = q[i].key;
  free(q);
}

/* Runs one controller over the keys queued so far (sorted); returns how many it ran. */
static size_t run_queue(vr_sim *sim, int q) {
  vr_strmap taken = sim->queues[q];
  size_t n = vr_strmap_count(&taken), i = 0, pos = 0;
  const char *key;
  char **keys;
  if (n == 0) return 0;
  sim->queues[q] = sim->queue_spares[q];
  vr_strmap_init(&sim->queue_spares[q]);
  keys = malloc(n * sizeof *keys);
  if (keys == NULL) {
    sim->queue_spares[q] = sim->queues[q];
    sim->queues[q] = taken; /* try again on the next pass */
    return 0;
  }
  while (vr_strmap_next(&taken, &pos, &key, NULL)) keys[i++] = (char *)key;
  if (q == SIM_Q_VMIM) {
    sim_sort_vmim_keys(sim, keys, n);
  } else {
    qsort(keys, n, sizeof *keys, compare_keys);
  }
  for (i = 0; i < n; i++) {
    char ns[254];
    const char *name;
    if (sim_split_key(keys[i], ns, sizeof ns, &name) != 0) continue;
    switch (q) {
    case SIM_Q_NODE:
      sim_reconcile_node(sim, ns, name);
      break;
    case SIM_Q_NM:
      sim_reconcile_nodemaintenance(sim, ns, name);
      break;
    case SIM_Q_VM:
      sim_reconcile_vm(sim, ns, name);
      break;
    case SIM_Q_VMI:
      sim_reconcile_vmi(sim, ns, name);
      if (sim->kubevirt_minor <= 5) sim_reconcile_vmi_budget(sim, ns, name);
      break;
    case SIM_Q_PDB:
      sim_reconcile_pdb(sim, ns, name);
      break;
    case SIM_Q_RS:
      sim_reconcile_replicaset(sim, ns, name);
      break;
    default:
      sim_reconcile_vmim(sim, ns, name);
      break;
    }
  }
  free(keys);
  vr_strmap_reset(&taken); /* the next run of this queue fills its table again */
  sim->queue_spares[q] = taken;
  return n;
}

static void on_work(vr_timer *timer) {
  vr_sim *sim = timer->data;
  int round;
  sim->work_armed = 0;
  for (round = 0; round < MAX_ROUNDS; round++) {
    size_t ran = 0;
    int q;
    for (q = 0; q < SIM_QUEUES; q++) ran += run_queue(sim, q);
    if (ran == 0) break;
  }
}

/* dst = src, cut to size - 1 characters (NULL: ""). */
static void copy_text(char *dst, size_t size, const char *src) {
  size_t n = src ? strlen(src) : 0;
  if (n > size - 1) n = size - 1;
  if (n > 0) memcpy(dst, src, n);
  dst[n] = '\0';
}

void sim_key(char *buf, size_t len, const char *ns, const char *name) {
  size_t n;
  copy_text(buf, len, ns);
  n = strlen(buf);
  if (n + 1 < len) {
    buf[n] = SIM_SEP[0];
    copy_text(buf + n + 1, len - n - 1, name);
  }
}

void sim_enqueue(vr_sim *sim, int queue, const char *ns, const char *name) {
  char key[520];
  sim_key(key, sizeof key, ns, name);
  if (vr_strmap_put(&sim->queues[queue], key, (void *)1) != 0) return;
  if (!sim->work_armed) {
    sim->work_armed = 1;
    vr_timer_start(sim->clock, &sim->work_timer, 0, on_work, sim);
  }
}

static void on_event(vr_timer *timer) {
  sim_event *e = timer->data;
  vr_sim *sim = e->sim;
  if (e->prev) {
    e->prev->next = e->next;
  } else {
    sim->events = e->next;
  }
  if (e->next) e->next->prev = e->prev;
  e->fn(sim, e->ns, e->name);
  e->next = sim->spare_events;
  sim->spare_events = e;
}

sim_event *sim_after(vr_sim *sim, uint64_t delay_ms, sim_event_fn fn, const char *ns,
                     const char *name) {
  sim_event *e = sim->spare_events; /* events are many and short-lived: reuse them */
  if (e != NULL) {
    sim->spare_events = e->next;
    memset(e, 0, sizeof *e);
  } else if ((e = calloc(1, sizeof *e)) == NULL) {
    return NULL;
  }
  e->sim = sim;
  e->fn = fn;
  copy_text(e->ns, sizeof e->ns, ns);
  copy_text(e->name, sizeof e->name, name);
  e->next = sim->events;
  if (sim->events) sim->events->prev = e;
  sim->events = e;
  vr_timer_start(sim->clock, &e->timer, delay_ms, on_event, e);
  return e;
}

void sim_cancel(vr_sim *sim, sim_event *e) {
  if (e == NULL) return;
  vr_timer_stop(sim->clock, &e->timer);
  if (e->prev) {
    e->prev->next = e->next;
  } else {
    sim->events = e->next;
  }
  if (e->next) e->next->prev = e->prev;
  e->next = sim->spare_events;
  sim->spare_events = e;
}

/* --- watches: changes queue the controllers ----------------------------------------------------
 */

static void on_vm(void *ctx, vr_watch_type type, const cJSON *obj, uint64_t rv) {
  (void)type;
  (void)rv;
  sim_enqueue(ctx, SIM_Q_VM, sim_string(obj, "metadata.namespace"),
              sim_string(obj, "metadata.name"));
}

/* Keeps the set of VMIs waiting for a node (what a node change may let in). */
static void note_unscheduled(vr_sim *sim, int deleted, const cJSON *vmi) {
  char key[520];
  const char *phase = sim_string(vmi, "status.phase");
  int waiting = !deleted && sim_string(vmi, "status.nodeName") == NULL &&
                !(phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0));
  sim_key(key, sizeof key, sim_string(vmi, "metadata.namespace"), sim_string(vmi, "metadata.name"));
  if (waiting) {
    vr_strmap_put(&sim->unscheduled, key, (void *)1);
  } else {
    vr_strmap_remove(&sim->unscheduled, key);
  }
}

/* The garbage collector: a deleted VMI's pods (the virt-launcher pods it owns, labelled with its
 * uid) are deleted gracefully; the guest shuts down within their grace period. */
static void collect_vmi_pods(vr_sim *sim, const char *ns, const char *uid) {
  const cJSON **pods;
  size_t n = vr_store_list_ref(sim->store, "", "Pod", ns, uid, &pods), i, found = 0;
  char(*names)[254];
  vr_store_error err;
  if (n == (size_t)-1) return;
  names = calloc(n + 1, sizeof *names);
  for (i = 0; names != NULL && i < n; i++) { /* first the names: deleting changes the store */
    const cJSON *by = cJSON_GetObjectItemCaseSensitive(sim_path(pods[i], "metadata.labels"),
                                                       "kubevirt.io/created-by");
    if (cJSON_IsString(by) && strcmp(by->valuestring, uid) == 0 &&
        sim_path(pods[i], "metadata.deletionTimestamp") == NULL)
      snprintf(names[found++], sizeof names[0], "%s", sim_string(pods[i], "metadata.name"));
  }
  free((void *)pods);
  for (i = 0; i < found; i++) vr_sim_delete_pod(sim, ns, names[i], -1, &err);
  free(names);
}

static void on_vmi(void *ctx, vr_watch_type type, const cJSON *obj, uint64_t rv) {
  const char *ns = sim_string(obj, "metadata.namespace"), *name = sim_string(obj, "metadata.name");
  const char *uid = sim_string(obj, "metadata.uid");
  (void)rv;
  ((vr_sim *)ctx)->limits_valid = 0;
  note_unscheduled(ctx, type == VR_WATCH_DELETED, obj);
  if (type == VR_WATCH_DELETED && uid != NULL) sim_after(ctx, 0, collect_vmi_pods, ns, uid);
  sim_enqueue(ctx, SIM_Q_VMI, ns, name);
  if (type != VR_WATCH_ADDED) sim_enqueue(ctx, SIM_Q_VM, ns, name); /* the owning VM, if any */
}

/* A node changed (capacity freed, uncordoned, labels): pending VMIs may fit now. */
static void on_node(void *ctx, vr_watch_type type, const cJSON *obj, uint64_t rv) {
  vr_sim *sim = ctx;
  const cJSON **items, *t;
  size_t n, i, pos = 0;
  const char *key;
  int tainted = 0;
  cJSON_ArrayForEach(t, sim_path(obj, "spec.taints")) {
    const char *effect = sim_string(t, "effect");
    if (effect && strcmp(effect, "NoSchedule") == 0) tainted = 1;
  }
  (void)rv;
  if (type == VR_WATCH_MODIFIED) {
    sim_node_cache_update(sim, obj);
  } else {
    sim_node_cache_clear(sim);
  }
  sim_enqueue(sim, SIM_Q_NODE, "", sim_string(obj, "metadata.name"));
  /* the VMIs waiting for a node */
  while (vr_strmap_next(&sim->unscheduled, &pos, &key, NULL)) {
    char ns[254];
    const char *name;
    if (sim_split_key(key, ns, sizeof ns, &name) == 0) sim_enqueue(sim, SIM_Q_VMI, ns, name);
  }
  if (!tainted) return;
  /* the node's own VMIs when a NoSchedule taint may be KubeVirt's drain taint (the evacuation
   * controller looks, §3.3) */
  n = vr_store_list(sim->store, "kubevirt.io", "VirtualMachineInstance", NULL,
                    sim_string(obj, "metadata.name"), &items);
  if (n == (size_t)-1) return;
  for (i = 0; i < n; i++) {
    sim_enqueue(sim, SIM_Q_VMI, sim_string(items[i], "metadata.namespace"),
                sim_string(items[i], "metadata.name"));
  }
  free((void *)items);
}

static void on_vmim(void *ctx, vr_watch_type type, const cJSON *obj, uint64_t rv) {
  const char *ns = sim_string(obj, "metadata.namespace");
  const char *vmi = sim_string(obj, "spec.vmiName");
  const char *phase = sim_string(obj, "status.phase");
  (void)rv;
  ((vr_sim *)ctx)->limits_valid = 0;
  sim_note_vmim(ctx, type == VR_WATCH_DELETED, obj);
  sim_enqueue(ctx, SIM_Q_VMIM, ns, sim_string(obj, "metadata.name"));
  if (vmi && (type == VR_WATCH_DELETED || ((vr_sim *)ctx)->kubevirt_minor <= 5 ||
              (phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0)))) {
    sim_enqueue(ctx, SIM_Q_VMI, ns, vmi); /* evacuation may need a new attempt */
  }
}

/* A virt-launcher pod went away: its VMI learns of it. */
static void on_pod(void *ctx, vr_watch_type type, const cJSON *obj, uint64_t rv) {
  const cJSON *ann =
      cJSON_GetObjectItemCaseSensitive(sim_path(obj, "metadata.annotations"), "kubevirt.io/domain");
  (void)rv;
  if (((vr_sim *)ctx)->status_writes > 0) return; /* requests, phase, labels as they were */
  sim_account_pod(ctx, type == VR_WATCH_DELETED, obj);
  sim_enqueue_pdbs(ctx, sim_string(obj, "metadata.namespace")); /* the disruption controller */
  if (type != VR_WATCH_ADDED) sim_enqueue_owner_rs(ctx, obj);   /* its ReplicaSet, if any */
  if (type != VR_WATCH_DELETED) sim_note_node_pod(ctx, obj);    /* the taint manager (§6.3) */
  if (type == VR_WATCH_DELETED && cJSON_IsString(ann)) {
    sim_enqueue(ctx, SIM_Q_VMI, sim_string(obj, "metadata.namespace"), ann->valuestring);
  }
}

static void on_pdb(void *ctx, vr_watch_type type, const cJSON *obj, uint64_t rv) {
  (void)rv;
  if (type == VR_WATCH_DELETED) return;
  sim_enqueue(ctx, SIM_Q_PDB, sim_string(obj, "metadata.namespace"),
              sim_string(obj, "metadata.name"));
}

static void on_replicaset(void *ctx, vr_watch_type type, const cJSON *obj, uint64_t rv) {
  (void)rv;
  if (type == VR_WATCH_DELETED) return;
  sim_enqueue(ctx, SIM_Q_RS, sim_string(obj, "metadata.namespace"),
              sim_string(obj, "metadata.name"));
}

static void on_nodemaintenance(void *ctx, vr_watch_type type, const cJSON *obj, uint64_t rv) {
  const char *api = sim_string(obj, "apiVersion");
  (void)type;
  (void)rv;
  sim_enqueue(ctx, SIM_Q_NM,
              api && strncmp(api, SIM_NM_GROUP_OLD "/", strlen(SIM_NM_GROUP_OLD) + 1) == 0
                  ? SIM_NM_GROUP_OLD
                  : SIM_NM_GROUP,
              sim_string(obj, "metadata.name"));
}

/* The KubeVirt or HyperConverged CR changed: the node cache holds the launcher overhead ratio. */
static void on_cluster_config(void *ctx, vr_watch_type type, const cJSON *obj, uint64_t rv) {
  (void)type;
  (void)obj;
  (void)rv;
  sim_node_cache_clear(ctx);
  sim_cluster_config_changed(ctx);
}

/* Queues every object of a kind for its controller (the first pass after loading). */
static void enqueue_all(vr_sim *sim, int queue, const char *group, const char *kind,
                        const char *key_ns) {
  const cJSON **items;
  size_t n = vr_store_list(sim->store, group, kind, NULL, NULL, &items), i;
  if (n == (size_t)-1) return;
  for (i = 0; i < n; i++) {
    sim_enqueue(sim, queue, key_ns ? key_ns : sim_string(items[i], "metadata.namespace"),
                sim_string(items[i], "metadata.name"));
  }
  free((void *)items);
}

/* Starts the controllers: watches, and a first pass over every VM and VMI. */
static int sim_start(vr_sim *sim, vr_store_error *err) {
  static const struct {
    int slot;
    const char *group, *kind;
    vr_watch_cb fn;
  } watches[] = {
      {SIM_W_VM, "kubevirt.io", "VirtualMachine", on_vm},
      {SIM_W_VMI, "kubevirt.io", "VirtualMachineInstance", on_vmi},
      {SIM_W_NODE, "", "Node", on_node},
      {SIM_W_POD, "", "Pod", on_pod},
      {SIM_W_VMIM, "kubevirt.io", "VirtualMachineInstanceMigration", on_vmim},
      {SIM_W_NM, SIM_NM_GROUP, "NodeMaintenance", on_nodemaintenance},
      {SIM_W_NM_OLD, SIM_NM_GROUP_OLD, "NodeMaintenance", on_nodemaintenance},
      {SIM_W_KUBEVIRT, "kubevirt.io", "KubeVirt", on_cluster_config},
      {SIM_W_HCO, "hco.kubevirt.io", "HyperConverged", on_cluster_config},
      {SIM_W_PDB, "policy", "PodDisruptionBudget", on_pdb},
      {SIM_W_RS, "apps", "ReplicaSet", on_replicaset},
  };
  const cJSON **items;
  size_t n, i;
  n = vr_store_list(sim->store, "", "Pod", NULL, NULL, &items); /* the loaded pods' requests */
  for (i = 0; n != (size_t)-1 && i < n; i++) sim_account_pod(sim, 0, items[i]);
  if (n != (size_t)-1) free((void *)items);
  for (i = 0; i < sizeof watches / sizeof watches[0]; i++) {
    sim->watches[watches[i].slot] = vr_store_watch_start(
        sim->store, watches[i].group, watches[i].kind, NULL, 0, watches[i].fn, sim, err);
    if (sim->watches[watches[i].slot] == NULL) return -1;
  }
  sim->kubevirt_minor = sim_kubevirt_minor(sim);
  sim_drop_budgets(sim);
  n = vr_store_list(sim->store, "kubevirt.io", "VirtualMachineInstance", NULL, NULL, &items);
  for (i = 0; n != (size_t)-1 && i < n; i++) note_unscheduled(sim, 0, items[i]);
  if (n != (size_t)-1) free((void *)items);
  n = vr_store_list(sim->store, "kubevirt.io", "VirtualMachineInstanceMigration", NULL, NULL,
                    &items);
  for (i = 0; n != (size_t)-1 && i < n; i++) sim_note_vmim(sim, 0, items[i]);
  if (n != (size_t)-1) free((void *)items);
  sim_adopt_loaded(sim);
  sim_adopt_deleting(sim);
  sim_adopt_migrations(sim);
  enqueue_all(sim, SIM_Q_NODE, "", "Node", "");
  enqueue_all(sim, SIM_Q_NM, SIM_NM_GROUP, "NodeMaintenance", SIM_NM_GROUP);
  enqueue_all(sim, SIM_Q_NM, SIM_NM_GROUP_OLD, "NodeMaintenance", SIM_NM_GROUP_OLD);
  enqueue_all(sim, SIM_Q_VM, "kubevirt.io", "VirtualMachine", NULL);
  enqueue_all(sim, SIM_Q_VMI, "kubevirt.io", "VirtualMachineInstance", NULL);
  enqueue_all(sim, SIM_Q_VMIM, "kubevirt.io", "VirtualMachineInstanceMigration", NULL);
  enqueue_all(sim, SIM_Q_PDB, "policy", "PodDisruptionBudget", NULL);
  enqueue_all(sim, SIM_Q_RS, "apps", "ReplicaSet", NULL);
  sim->started = 1;
  return 0;
}

const vr_sim_kind vr_sim_kinds[] = {
    {"", "Node"},
    {"", "Namespace"},
    {"", "Pod"},
    {"", "PersistentVolumeClaim"},
    {"", "PersistentVolume"},
    {"apps", "DaemonSet"},
    {"apps", "ReplicaSet"},
    {"apps", "Deployment"},
    {"apps", "StatefulSet"},
    {"policy", "PodDisruptionBudget"},
    {"storage.k8s.io", "StorageClass"},
    {"scheduling.k8s.io", "PriorityClass"},
    {"kubevirt.io", "KubeVirt"},
    {"kubevirt.io", "VirtualMachine"},
    {"kubevirt.io", "VirtualMachineInstance"},
    {"kubevirt.io", "VirtualMachineInstanceMigration"},
    {"migrations.kubevirt.io", "MigrationPolicy"},
    {"hco.kubevirt.io", "HyperConverged"},
    {"cdi.kubevirt.io", "DataVolume"},
    {SIM_NM_GROUP, "NodeMaintenance"},
    {SIM_NM_GROUP_OLD, "NodeMaintenance"},
    {"config.openshift.io", "Scheduler"},                  /* the scheduler profile */
    {"backup.kubevirt.io", "VirtualMachineBackupTracker"}, /* cbt.check_cluster */
    {NULL, NULL},
};

/* Drops metadata.managedFields (the API server's bookkeeping of who set which field) from each
 * object: nothing reads it, and it is often the larger part of an object's metadata. */
static void drop_managed_fields(cJSON *objects) {
  cJSON *obj;
  cJSON_ArrayForEach(obj, objects) {
    cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "metadata"),
                                            "managedFields");
  }
}

int vr_sim_load_objects(vr_sim *sim, cJSON *objects, const char *source, vr_store_error *err) {
  int rc;
  drop_managed_fields(objects);
  sim->objects_loading = 1;
  rc = vr_store_load_objects(sim->store, objects, source, sim_load_check, sim, err);
  sim->objects_loading = 0;
  if (rc == 0) {
    char *copy = strdup(source);
    if (copy == NULL) {
      err->status = 500;
      snprintf(err->reason, sizeof err->reason, "InternalError");
      snprintf(err->message, sizeof err->message, "out of memory");
      return -1;
    }
    free(sim->source);
    sim->source = copy;
    if (!sim->started) rc = sim_start(sim, err);
  }
  return rc;
}

int vr_sim_load_file(vr_sim *sim, const char *path, vr_store_error *err) {
  char msg[300];
  size_t len;
  char *text = vr_read_file(path, &len, msg, sizeof msg);
  int rc;
  if (text == NULL) {
    err->status = 400;
    snprintf(err->reason, sizeof err->reason, "BadRequest");
    snprintf(err->message, sizeof err->message, "cannot read cluster file %s", msg);
    return -1;
  }
  rc = vr_store_load_yaml(sim->store, text, len, path, sim_load_check, sim, err);
  free(text);
  if (rc == 0) {
    free(sim->source);
    sim->source = strdup(path);
    if (!sim->started) rc = sim_start(sim, err);
  }
  return rc;
}
