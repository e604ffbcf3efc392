/* migration_model.c: one KubeVirt live migration over virtual time (see migration_model.h).
 * Section numbers (§) are those of reference/kubevirt-migration.md.
 *
 * The core is run_until(): it moves a state forward through a time budget at one bandwidth,
 * stopping at every instant where something happens (end of a pass or of the transfer, a
 * monitor tick that decides something) and skipping, in closed form, runs of passes that change
 * nothing but the pass counter. vr_mig_advance runs it on the state; vr_mig_next_event and
 * vr_mig_eta run it on a copy, so that the times they return are exactly those at which
 * vr_mig_advance makes things happen. */
#include "migration_model.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define NS_PER_S     1000000000.0
#define TICK_NS      ((int64_t)VR_MIG_MONITOR_PERIOD_MS * 1000000)
#define HORIZON_NS   ((int64_t)1 << 62) /* time stops here (about 146 years) */
#define LOOKAHEAD_NS ((int64_t)1 << 61) /* how far next_event and eta look ahead */
#define NS_MAX_DBL   4.0e18             /* durations at or above this are "never" */
#define MIB          1048576.0

/* QEMU auto-converge defaults (§7.1): throttle-trigger-threshold, cpu-throttle-initial,
 * cpu-throttle-increment, max-cpu-throttle; the throttle starts at the 2nd bad period. */
#define THROTTLE_TRIGGER     0.5
#define THROTTLE_INITIAL     0.2
#define THROTTLE_INCREMENT   0.1
#define THROTTLE_MAX         0.99
#define BAD_PERIODS_TO_START 2

/* --- small helpers ------------------------------------------------------------------------ */

uint64_t vr_mig_data_size(uint64_t memory_bytes, uint64_t local_disk_bytes, int block_migration) {
  if (!block_migration) return memory_bytes;
  return local_disk_bytes > UINT64_MAX - memory_bytes ? UINT64_MAX
                                                      : memory_bytes + local_disk_bytes;
}

/* §1.3: Quantity.ScaledValue(resource.Giga) rounds up to whole 10^9 bytes. */
int64_t vr_mig_completion_timeout(int64_t per_gib, uint64_t data_bytes) {
  uint64_t units;
  if (per_gib <= 0 || data_bytes == 0) return 0;
  units = data_bytes / 1000000000u + (data_bytes % 1000000000u != 0);
  if (units > (uint64_t)(INT64_MAX / per_gib)) return INT64_MAX;
  return per_gib * (int64_t)units;
}

/* §1.1: unset allowWorkloadDisruption copies allowPostCopy. */
int vr_mig_resolve_awd(int awd, int allow_post_copy) {
  return awd < 0 ? allow_post_copy != 0 : awd != 0;
}

/* Monitor ticks after a timer's start tick until KubeVirt's whole-second comparison
 * "(ticks * 400 ms) / 1 s > limit" holds (§1.4, §1.5): ceil((limit + 1) s / 400 ms). */
static int64_t ticks_over(int64_t limit_s) {
  return ((limit_s + 1) * 1000 + VR_MIG_MONITOR_PERIOD_MS - 1) / VR_MIG_MONITOR_PERIOD_MS;
}

double vr_mig_monitor_fire_time(int64_t limit_s) {
  if (limit_s <= 0) return INFINITY;
  if (limit_s > VR_MIG_TIMER_MAX_S) limit_s = VR_MIG_TIMER_MAX_S;
  return (double)(ticks_over(limit_s) * TICK_NS) / NS_PER_S;
}

const char *vr_mig_mode_name(vr_mig_mode mode) {
  switch (mode) {
  case VR_MIG_MODE_PRECOPY:
    return "PreCopy";
  case VR_MIG_MODE_POSTCOPY:
    return "PostCopy";
  case VR_MIG_MODE_PAUSED:
    return "Paused";
  }
  return "";
}

/* The bandwidth libvirt enforces for bandwidthPerMigration (§1.1): KubeVirt passes whole MiB/s,
 * rounded to the nearest, with any value in (0, 1 MiB) raised to 1. */
static double libvirt_bandwidth(uint64_t bytes_per_s) {
  if (bytes_per_s == 0) return 0;
  if (bytes_per_s < 1048576u) return MIB;
  return floor((double)bytes_per_s / MIB + 0.5) * MIB;
}

static int64_t cap_timer(int64_t seconds) {
  return seconds > VR_MIG_TIMER_MAX_S ? VR_MIG_TIMER_MAX_S : seconds;
}

static int bandwidth_valid(double bandwidth) {
  return isfinite(bandwidth) && bandwidth >= 0;
}

static int inputs_valid(const vr_mig_inputs *in) {
  return in != NULL && isfinite(in->dirty_rate) && in->dirty_rate >= 0 &&
         in->config.completion_timeout_per_gib >= 0 && in->config.progress_timeout >= 0 &&
         in->downtime_limit_ms <= VR_MIG_MAX_DOWNTIME_MS;
}

static double downtime_limit_s(const vr_mig_inputs *in) {
  return (in->downtime_limit_ms ? in->downtime_limit_ms : VR_MIG_DEFAULT_DOWNTIME_MS) / 1000.0;
}

static double effective_bandwidth(const vr_mig_state *st, double bandwidth) {
  return st->bandwidth_cap > 0 && bandwidth > st->bandwidth_cap ? st->bandwidth_cap : bandwidth;
}

/* The rate at which the guest dirties memory now: D throttled by auto-converge (§7.1), 0 once
 * KubeVirt paused it (§1.4) or while it is stopped for the switchover. */
static double dirty_now(const vr_mig_state *st) {
  if (st->stage != VR_MIG_STAGE_PRECOPY || st->guest_paused) return 0;
  return st->dirty_rate * (1.0 - st->throttle);
}

/* ceil(seconds) in ns, at least 1; INT64_MAX for "never". */
static int64_t ns_ceil(double seconds) {
  double ns = ceil(seconds * NS_PER_S);
  if (!(ns < NS_MAX_DBL)) return INT64_MAX;
  return ns < 1 ? 1 : (int64_t)ns;
}

static uint64_t bytes_u64(double bytes) {
  if (!(bytes > 0)) return 0;
  if (bytes >= 18446744073709549568.0) return UINT64_MAX;
  return (uint64_t)llround(bytes);
}

/* --- runs of passes in closed form (§7.2) -------------------------------------------------- *
 * From the start of a pass that sends r0 <= W bytes, at bandwidth B and dirty rate D_eff, the
 * passes of a run send R_i = min(r0 * rho^i, W), rho = D_eff / B, as long as nothing changes
 * (no throttle change, no switchover, no decision). */

static double run_pass_bytes(double r0, double rho, double w, int64_t i) {
  double r;
  if (i == 0) return r0;
  r = r0 * pow(rho, (double)i);
  return r < w ? r : w;
}

/* For rho > 1: the first pass index g with r0 * rho^g >= w (the run grows to W, then stays). */
static int64_t growth_passes(double r0, double rho, double w) {
  double x;
  int64_t g;
  if (r0 >= w) return 0;
  x = ceil(log(w / r0) / log(rho));
  g = x < 1 ? 1 : x > 1e17 ? (int64_t)1e17 : (int64_t)x;
  while (g > 1 && r0 * pow(rho, (double)(g - 1)) >= w) g--;
  while (r0 * pow(rho, (double)g) < w) g++;
  return g;
}

/* Bytes sent by the first k passes of a run. */
static double run_sum(double r0, double rho, double w, int64_t k) {
  int64_t g;
  if (k <= 0) return 0;
  if (rho == 1.0) return (double)k * r0;
  if (rho < 1.0) return rho == 0 ? r0 : r0 * -expm1((double)k * log(rho)) / (1.0 - rho);
  g = growth_passes(r0, rho, w);
  if (k <= g) return r0 * expm1((double)k * log(rho)) / (rho - 1.0);
  return r0 * expm1((double)g * log(rho)) / (rho - 1.0) + (double)(k - g) * w;
}

/* Index of the first pass of a run at whose end QEMU switches over (R_{i+1} <= thr = B*Td),
 * INT64_MAX when none does. */
static int64_t run_switch_index(double r0, double rho, double w, double thr) {
  double x;
  int64_t i;
  if (run_pass_bytes(r0, rho, w, 1) <= thr) return 0;
  if (rho >= 1.0) return INT64_MAX; /* R never decreases */
  x = ceil(log(thr / r0) / log(rho)) - 1;
  i = x < 1 ? 1 : x > 1e17 ? (int64_t)1e17 : (int64_t)x;
  while (i > 1 && run_pass_bytes(r0, rho, w, i) <= thr) i--;
  while (run_pass_bytes(r0, rho, w, i + 1) > thr) i++;
  return i;
}

/* --- the monitor's samples and ticks (§1.4, §1.5) ----------------------------------------- */

static int64_t tick_time(int64_t tick) {
  return tick > INT64_MAX / TICK_NS ? INT64_MAX : tick * TICK_NS;
}

/* Moves the clock to t1 (> now) and records the samples taken in (now, t1]. KubeVirt resets
 * lastProgressUpdate when a sample is lower than the previous one (or the previous was 0, as for
 * the first sample at tick 1). Here a sample is lower when bytes were sent since the previous
 * one: the jump up of DataRemaining at a pass boundary is folded in, as in practice the next
 * sample falls again; taken literally, the sawtooth would alias with the 400 ms period and time
 * out healthy migrations, which §1.5 and §7.2 rule out. */
static void move_clock(vr_mig_state *st, int64_t t1, int sending) {
  int64_t k0 = st->now / TICK_NS, k1 = t1 / TICK_NS;
  if (k1 > k0) {
    if (sending)
      st->progress_tick = k1;
    else if (st->moved || k0 == 0)
      st->progress_tick = k0 + 1;
    st->moved = sending && t1 > k1 * TICK_NS;
  } else if (sending && t1 > st->now) {
    st->moved = 1;
  }
  st->now = t1;
}

/* The next tick (> the current one) at which the monitor will act, assuming the bandwidth stays
 * as it is (sending: bytes are moving), or INT64_MAX. Between such ticks every tick is a no-op:
 * the completion condition only becomes true at its tick, and "stuck" cannot while data moves. */
static int64_t next_decision_tick(const vr_mig_state *st, int sending) {
  int64_t now_tick = st->now / TICK_NS, best = INT64_MAX;
  if (st->stage == VR_MIG_STAGE_DONE || st->mode == VR_MIG_MODE_POSTCOPY) return INT64_MAX;
  if (st->acceptable > 0) best = ticks_over(st->acceptable);
  if (st->progress_timeout > 0 && !sending) {
    int64_t last = st->moved || now_tick == 0 ? now_tick + 1 : st->progress_tick;
    int64_t k = last + ticks_over(st->progress_timeout);
    if (k < best) best = k;
  }
  if (best <= now_tick) best = now_tick + 1;
  return best;
}

/* --- transitions --------------------------------------------------------------------------- */

static void finish(vr_mig_state *st, vr_mig_result result) {
  st->stage = VR_MIG_STAGE_DONE;
  st->result = result;
  if (st->switch_start >= 0) st->switch_end = st->now;
}

/* Starts the switchover or post-copy with `bytes` still to send. */
static void start_stage(vr_mig_state *st, vr_mig_stage stage, double bytes) {
  st->stage = stage;
  st->stage_bytes = bytes;
  st->stage_sent = 0;
  st->pass_dirty = 0;
  if (stage == VR_MIG_STAGE_SWITCHOVER) st->switch_start = st->now;
  if (!(bytes > 0)) finish(st, VR_MIG_COMPLETED);
}

/* End of a pre-copy pass (§7.1, §7.2): auto-converge bookkeeping, then the switchover test at
 * the current bandwidth, else the next pass resends what was dirtied. Returns 1 when something
 * other than the pass counter changed (throttle, switchover). */
static int end_pass(vr_mig_state *st, double bandwidth) {
  double next = st->pass_dirty; /* already <= W */
  int changed = 0;
  if (next > THROTTLE_TRIGGER * st->stage_bytes) {
    st->bad_periods++;
    if (st->auto_converge && st->bad_periods >= BAD_PERIODS_TO_START) {
      double p =
          THROTTLE_INITIAL + THROTTLE_INCREMENT * (double)(st->bad_periods - BAD_PERIODS_TO_START);
      if (p > THROTTLE_MAX) p = THROTTLE_MAX;
      if (p != st->throttle) {
        st->throttle = p;
        changed = 1;
      }
    }
  }
  if (next <= bandwidth * st->downtime_limit) {
    start_stage(st, VR_MIG_STAGE_SWITCHOVER, next);
    return 1;
  }
  st->pass++;
  st->stage_bytes = next;
  st->stage_sent = 0;
  st->pass_dirty = 0;
  return changed;
}

/* §1.4 case 2: the completion timeout passed with allowWorkloadDisruption. */
static void assist(vr_mig_state *st, double bandwidth) {
  double pending = st->stage_bytes - st->stage_sent;
  int64_t twice = st->acceptable > VR_MIG_TIMER_MAX_S / 2 ? VR_MIG_TIMER_MAX_S : 2 * st->acceptable;
  /* not on the target yet: the rest of this pass and what was dirtied since it began */
  if (st->stage == VR_MIG_STAGE_PRECOPY) pending += st->pass_dirty;
  if (pending > (double)st->data_total) pending = (double)st->data_total;
  if (st->post_copy && !st->vfio) {
    /* MigrateStartPostCopy. Also taken during a (<= Td long) switchover: the guest is stopped
     * either way and the rest crosses once. */
    st->mode = VR_MIG_MODE_POSTCOPY;
    start_stage(st, VR_MIG_STAGE_POSTCOPY, pending);
    return;
  }
  if (st->vfio) {
    /* max downtime = min(2 x acceptable s, 2000 s); QEMU switches over as soon as what is
     * pending fits in it; deadline = 2 x acceptable (not capped) */
    double limit_ms = (double)twice * 1000.0;
    st->downtime_limit =
        (limit_ms < VR_MIG_MAX_DOWNTIME_MS ? limit_ms : VR_MIG_MAX_DOWNTIME_MS) / 1000.0;
    st->acceptable = twice;
    st->mode = VR_MIG_MODE_PAUSED;
    if (st->stage == VR_MIG_STAGE_PRECOPY && pending <= bandwidth * st->downtime_limit)
      start_stage(st, VR_MIG_STAGE_SWITCHOVER, pending);
    return;
  }
  st->guest_paused = 1; /* dom.Suspend(): D -> 0, pre-copy goes on */
  st->acceptable = twice;
  st->mode = VR_MIG_MODE_PAUSED;
}

/* One monitor tick (now is exactly on it), §1.4 decision order. Returns 1 when it acted. */
static int decide(vr_mig_state *st, double bandwidth) {
  int64_t tick = st->now / TICK_NS;
  int64_t elapsed_s = tick * VR_MIG_MONITOR_PERIOD_MS / 1000;
  int64_t stuck_s = (tick - st->progress_tick) * VR_MIG_MONITOR_PERIOD_MS / 1000;
  int timeout = st->acceptable > 0 && elapsed_s > st->acceptable;
  if (st->mode == VR_MIG_MODE_POSTCOPY) return 0;
  if (timeout && st->awd && st->mode != VR_MIG_MODE_PAUSED) {
    assist(st, bandwidth);
    return 1;
  }
  if (st->progress_timeout > 0 && stuck_s > st->progress_timeout) {
    snprintf(st->reason, sizeof st->reason,
             "Live migration stuck for %" PRId64 " seconds and has been aborted", stuck_s);
    finish(st, VR_MIG_FAILED);
    return 1;
  }
  if (timeout) {
    snprintf(st->reason, sizeof st->reason,
             "Live migration is not completed after %" PRId64 " seconds and has been aborted",
             st->acceptable);
    finish(st, VR_MIG_FAILED);
    return 1;
  }
  return 0;
}

/* --- stepping ------------------------------------------------------------------------------ */

/* ns until the current pass (switchover, post-copy) has sent everything; INT64_MAX at 0. */
static int64_t stage_end_in(const vr_mig_state *st, double bandwidth) {
  if (!(bandwidth > 0)) return INT64_MAX;
  return ns_ceil((st->stage_bytes - st->stage_sent) / bandwidth);
}

/* Sends and dirties for ns nanoseconds; to_end: this interval ends the stage exactly. */
static void integrate(vr_mig_state *st, double bandwidth, int64_t ns, int to_end) {
  double dt = (double)ns / NS_PER_S, left = st->stage_bytes - st->stage_sent;
  int sending = bandwidth > 0 && left > 0;
  if (sending) {
    double sent = to_end || bandwidth * dt > left ? left : bandwidth * dt;
    st->stage_sent = to_end ? st->stage_bytes : st->stage_sent + sent;
    st->processed += sent;
  }
  if (st->stage == VR_MIG_STAGE_PRECOPY) {
    double d = st->pass_dirty + dirty_now(st) * dt;
    st->pass_dirty = d < st->working_set ? d : st->working_set;
  }
  move_clock(st, st->now + ns, sending);
}

/* At the start of a pass: applies at once the longest run of whole passes that changes nothing
 * but the pass counter, ends within `limit` ns and before the pass at whose end QEMU switches
 * over. Returns the ns it took (0: nothing skipped). */
static int64_t skip_passes(vr_mig_state *st, double bandwidth, int64_t limit) {
  double r0 = st->stage_bytes, w = st->working_set, rho = dirty_now(st) / bandwidth;
  int bad = rho > THROTTLE_TRIGGER; /* in a run, a pass is bad exactly when rho > 0.5 */
  int64_t lo = 0, hi, ns;
  if (limit <= 0 || !(r0 > 0) || r0 > w) return 0;
  if (bad && st->auto_converge && st->throttle < THROTTLE_MAX) return 0; /* throttle changes */
  hi = run_switch_index(r0, rho, w, bandwidth * st->downtime_limit);
  if (rho >= 1.0) { /* every pass takes at least r0 / B */
    double most = (double)limit / NS_PER_S * bandwidth / r0 + 1;
    if (most < (double)hi) hi = (int64_t)most;
  }
  while (lo < hi) {
    int64_t mid = lo + (hi - lo + 1) / 2;
    if (ns_ceil(run_sum(r0, rho, w, mid) / bandwidth) <= limit)
      lo = mid;
    else
      hi = mid - 1;
  }
  if (lo == 0) return 0;
  ns = ns_ceil(run_sum(r0, rho, w, lo) / bandwidth);
  st->processed += run_sum(r0, rho, w, lo);
  move_clock(st, st->now + ns, 1);
  st->pass += lo;
  if (bad) st->bad_periods += lo;
  st->stage_bytes = run_pass_bytes(r0, rho, w, lo);
  return ns;
}

/* Moves st forward by at most budget ns at a constant bandwidth (already capped). With
 * stop_at_event it stops right after the first event (see vr_mig_next_event); *hit (may be
 * NULL) tells whether one happened. Returns the ns used. */
static int64_t run_until(vr_mig_state *st, double bandwidth, int64_t budget, int stop_at_event,
                         int *hit) {
  int64_t used = 0;
  if (hit) *hit = 0;
  if (budget > HORIZON_NS - st->now) budget = HORIZON_NS - st->now;
  while (st->stage != VR_MIG_STAGE_DONE && used < budget) {
    int64_t tick = next_decision_tick(st, bandwidth > 0);
    int64_t tick_at = tick_time(tick);
    int64_t to_tick = tick_at == INT64_MAX ? INT64_MAX : tick_at - st->now;
    int64_t to_end = stage_end_in(st, bandwidth), step = budget - used;
    int event = 0, at_end = 0;
    if (st->stage == VR_MIG_STAGE_PRECOPY && st->stage_sent == 0 && st->pass_dirty == 0 &&
        bandwidth > 0) {
      int64_t skipped = skip_passes(st, bandwidth, step < to_tick - 1 ? step : to_tick - 1);
      if (skipped > 0) {
        used += skipped;
        continue;
      }
    }
    if (to_tick < step) step = to_tick;
    if (to_end <= step) {
      step = to_end;
      at_end = 1;
    }
    integrate(st, bandwidth, step, at_end);
    used += step;
    if (at_end) {
      if (st->stage == VR_MIG_STAGE_PRECOPY)
        event = end_pass(st, bandwidth);
      else {
        finish(st, VR_MIG_COMPLETED);
        event = 1;
      }
    }
    /* a boundary and a tick at the same instant: the sample sees the boundary first */
    if (st->stage != VR_MIG_STAGE_DONE && st->now == tick_at) event |= decide(st, bandwidth);
    if (event) {
      if (hit) *hit = 1;
      if (stop_at_event) break;
    }
  }
  return used;
}

/* --- public stepping API ------------------------------------------------------------------- */

int vr_mig_init(vr_mig_state *st, const vr_mig_inputs *in) {
  double memory;
  if (st == NULL || !inputs_valid(in)) return -1;
  memset(st, 0, sizeof *st);
  memory = (double)in->memory_bytes;
  st->memory = memory;
  st->working_set = (double)in->working_set_bytes < memory ? (double)in->working_set_bytes : memory;
  st->dirty_rate = in->dirty_rate;
  st->bandwidth_cap = libvirt_bandwidth(in->config.bandwidth_per_migration);
  st->downtime_limit = downtime_limit_s(in);
  st->data_total = vr_mig_data_size(in->memory_bytes, in->local_disk_bytes, in->block_migration);
  st->acceptable =
      cap_timer(vr_mig_completion_timeout(in->config.completion_timeout_per_gib, st->data_total));
  st->progress_timeout = cap_timer(in->config.progress_timeout);
  st->auto_converge = in->config.allow_auto_converge != 0;
  st->post_copy = in->config.allow_post_copy != 0;
  st->awd = in->config.allow_workload_disruption != 0;
  st->vfio = in->vfio != 0;
  st->result = VR_MIG_RUNNING;
  st->mode = VR_MIG_MODE_PRECOPY;
  st->stage = VR_MIG_STAGE_PRECOPY;
  st->pass = 1;
  st->switch_start = -1;
  st->switch_end = -1;
  st->stage_bytes = (double)st->data_total; /* pass 1: M (+ L), §7.2 */
  return 0;
}

int vr_mig_advance(vr_mig_state *st, double dt_s, double bandwidth) {
  double ns;
  if (st == NULL || !isfinite(dt_s) || dt_s < 0 || !bandwidth_valid(bandwidth)) return -1;
  if (st->stage == VR_MIG_STAGE_DONE) return 0;
  ns = nearbyint(dt_s * NS_PER_S);
  run_until(st, effective_bandwidth(st, bandwidth), ns < NS_MAX_DBL ? (int64_t)ns : INT64_MAX, 0,
            NULL);
  return 0;
}

double vr_mig_next_event(const vr_mig_state *st, double bandwidth) {
  vr_mig_state copy;
  int64_t ns;
  int hit;
  if (st == NULL || !bandwidth_valid(bandwidth)) return -1;
  if (st->stage == VR_MIG_STAGE_DONE) return INFINITY;
  copy = *st;
  ns = run_until(&copy, effective_bandwidth(st, bandwidth), LOOKAHEAD_NS, 1, &hit);
  return hit ? (double)ns / NS_PER_S : INFINITY;
}

double vr_mig_eta(const vr_mig_state *st, double bandwidth, vr_mig_result *outcome) {
  vr_mig_state copy;
  int64_t ns;
  if (st == NULL || !bandwidth_valid(bandwidth)) return -1;
  if (st->stage == VR_MIG_STAGE_DONE) {
    if (outcome) *outcome = st->result;
    return 0;
  }
  copy = *st;
  ns = run_until(&copy, effective_bandwidth(st, bandwidth), LOOKAHEAD_NS, 0, NULL);
  if (outcome) *outcome = copy.result;
  return copy.stage == VR_MIG_STAGE_DONE ? (double)ns / NS_PER_S : INFINITY;
}

int vr_mig_finished(const vr_mig_state *st) {
  return st != NULL && st->stage == VR_MIG_STAGE_DONE;
}

void vr_mig_get_status(const vr_mig_state *st, vr_mig_status *out) {
  if (out == NULL) return;
  memset(out, 0, sizeof *out);
  if (st == NULL) return;
  out->result = st->result;
  out->mode = st->mode;
  out->mode_name = vr_mig_mode_name(st->mode);
  out->stage = st->stage;
  if (st->result == VR_MIG_FAILED) {
    out->failure_reason = st->reason;
    out->abort_status = "Succeeded"; /* the monitor's AbortJob succeeded (§1.4) */
  }
  out->data_total = st->data_total;
  out->data_processed = bytes_u64(st->processed);
  out->data_remaining =
      st->result == VR_MIG_COMPLETED ? 0 : bytes_u64(st->stage_bytes - st->stage_sent);
  out->iteration = st->pass;
  out->elapsed_s = (double)st->now / NS_PER_S;
  out->throttle = st->throttle;
  out->dirty_rate = dirty_now(st);
  out->downtime_limit_s = st->downtime_limit;
  if (st->switch_start >= 0)
    out->downtime_s =
        (double)((st->switch_end >= 0 ? st->switch_end : st->now) - st->switch_start) / NS_PER_S;
  out->acceptable_completion_s = st->acceptable;
  out->guest_paused = st->guest_paused;
}

/* --- closed form (§7.2) -------------------------------------------------------------------- */

int vr_mig_estimate(const vr_mig_inputs *in, double bandwidth, vr_mig_plan *out) {
  double b, td, r1, r2, rho, w, thr;
  uint64_t total;
  if (!inputs_valid(in) || out == NULL || !bandwidth_valid(bandwidth)) return -1;
  memset(out, 0, sizeof *out);
  b = bandwidth;
  if (in->config.bandwidth_per_migration) {
    double cap = libvirt_bandwidth(in->config.bandwidth_per_migration);
    if (b > cap) b = cap;
  }
  td = downtime_limit_s(in);
  total = vr_mig_data_size(in->memory_bytes, in->local_disk_bytes, in->block_migration);
  out->timeout_s = vr_mig_monitor_fire_time(
      cap_timer(vr_mig_completion_timeout(in->config.completion_timeout_per_gib, total)));
  out->precopy_s = out->downtime_s = out->duration_s = INFINITY;
  if (!(b > 0)) {
    out->rho = INFINITY;
    return 0;
  }
  w = (double)in->working_set_bytes < (double)in->memory_bytes ? (double)in->working_set_bytes
                                                               : (double)in->memory_bytes;
  rho = in->dirty_rate / b;
  thr = b * td;
  r1 = (double)total;
  r2 = rho * r1 < w ? rho * r1 : w;
  out->rho = rho;
  if (r2 <= thr) {
    out->passes = 1;
    out->precopy_s = r1 / b;
    out->downtime_s = r2 / b;
  } else if (rho < 1.0) {
    /* pass m >= 2 sends r2 rho^(m-2); switchover after pass n = 1 + j, j the first with
     * r2 rho^j <= thr */
    double x = ceil(log(thr / r2) / log(rho));
    int64_t j = x < 1 ? 1 : x > 1e17 ? (int64_t)1e17 : (int64_t)x;
    while (j > 1 && r2 * pow(rho, (double)(j - 1)) <= thr) j--;
    while (r2 * pow(rho, (double)j) > thr) j++;
    out->passes = 1 + j;
    out->precopy_s = (r1 + r2 * -expm1((double)j * log(rho)) / (1.0 - rho)) / b;
    out->downtime_s = r2 * pow(rho, (double)j) / b;
  } else {
    return 0; /* rho >= 1 and W > B*Td: the re-sent set never shrinks */
  }
  out->converges = 1;
  out->duration_s = out->precopy_s + out->downtime_s;
  out->within_timeout = out->duration_s <= out->timeout_s;
  return 0;
}
