/* migration_model.h: a deterministic model of one KubeVirt live migration, stepped through
 * virtual time by the simulator's migration controller. Section numbers (§) are those of
 * reference/kubevirt-migration.md; see also DESIGN.md §4.
 *
 * What is modelled, from the moment the VMIM reaches Running (the timers start there, §1.3):
 *
 *  - QEMU pre-copy (§7.1, §7.2). Pass 1 sends the guest memory M, plus the local disks L of a
 *    block migration. Every later pass resends what the guest dirtied during the previous pass,
 *    min(bytes dirtied, W) (W: writable working set), i.e. min(D_eff * t_prev, W) at a constant
 *    dirty rate. At the end of each pass QEMU switches over when what is left would take no
 *    longer than the downtime limit at the current bandwidth (left / B <= Td, Td = 300 ms by
 *    default): the guest stops, the rest is sent (stop-and-copy), the migration completes.
 *  - Auto-converge (§7.1): a pass is a "bad period" when the bytes dirtied during it exceed 50 %
 *    of the bytes it sent; at the 2nd bad period the vCPUs are throttled to 20 %, each further
 *    bad period adds 10 %, capped at 99 %; the guest then dirties at D_eff = D * (1 - throttle).
 *  - KubeVirt's source monitor (§1.3-§1.5): it samples every 400 ms and compares whole seconds,
 *    as KubeVirt does (`elapsed/time.Second > acceptableCompletionTime`): a timer of N seconds
 *    acts at the first 400 ms tick at which more than N whole seconds have passed (N = 750 acts
 *    at 751.2 s; see vr_mig_monitor_fire_time). Decision order at a tick (§1.4), first match
 *    wins: post-copy already running -> nothing; completion timeout passed and
 *    allowWorkloadDisruption and not yet Paused -> post-copy (allowPostCopy and no VFIO), or for
 *    VFIO raise the downtime limit to min(2 x acceptable, 2000 s) with mode Paused and the
 *    deadline doubled, or else pause the guest (D -> 0, mode Paused, deadline doubled); no
 *    progress for more than progressTimeout -> fail "stuck"; completion timeout passed -> fail.
 *  - Progress (§1.5): each sample is compared with the previous one. A sample counts as lower
 *    when bytes were sent since the previous one; so progressTimeout fires only when nothing has
 *    been sent (bandwidth 0) for more than progressTimeout, never on a healthy migration that
 *    does not converge (§7.2).
 *  - Post-copy (§7.1): what is not yet on the target (what is left of the current pass plus the
 *    pages dirtied since it began) is sent once at the current bandwidth; the dirty rate no
 *    longer matters and no timer aborts it (§1.4); at bandwidth 0 it never ends.
 *
 * Bandwidth is an argument of every stepping call, because it depends on how many migrations
 * share the link; the model itself applies only bandwidthPerMigration (rounded to whole MiB/s
 * as libvirt receives it, §1.1). A caller that changes the bandwidth first advances every
 * affected migration to "now" with the old value.
 *
 * Time is kept in whole nanoseconds since Running (so that 400 ms ticks are exact) and is given
 * and returned in seconds. Runs of pre-copy passes at a constant bandwidth in which nothing
 * changes but the pass counter are applied in closed form, so a call costs the same whatever the
 * number of passes: a whole migration takes a handful of vr_mig_next_event jumps.
 *
 * Pure C: no allocation, no clock, no Lua, libuv or JSON. The same inputs and the same sequence
 * of calls give bit-identical results. Functions with a state pointer never abort on bad input:
 * they return -1 (or the documented value) and leave the state unchanged. */
#ifndef VMRUN_MIGRATION_MODEL_H
#define VMRUN_MIGRATION_MODEL_H

#include <stdint.h>

#define VR_MIG_DEFAULT_DOWNTIME_MS 300        /* QEMU DEFAULT_MIGRATE_SET_DOWNTIME (§7.1) */
#define VR_MIG_MAX_DOWNTIME_MS     2000000    /* QEMUMaxMigrationDowntimeMS (§7.1) */
#define VR_MIG_MONITOR_PERIOD_MS   400        /* monitorSleepPeriodMS (§1.4) */
#define VR_MIG_TIMER_MAX_S         1000000000 /* timers are capped here (about 31 years) */
#define VR_MIG_REASON_MAX          96

/* The effective migration settings of one migration (§1.1, frozen per migration, §1.3). */
typedef struct vr_mig_config {
  int64_t completion_timeout_per_gib; /* completionTimeoutPerGiB: s per 10^9 bytes; 0 disables */
  int64_t progress_timeout;           /* progressTimeout: s; 0 disables */
  int allow_auto_converge;            /* 0/1 */
  int allow_post_copy;                /* 0/1 */
  int allow_workload_disruption;      /* 0/1, already resolved (vr_mig_resolve_awd) */
  uint64_t bandwidth_per_migration;   /* bandwidthPerMigration: bytes/s; 0 = unlimited */
} vr_mig_config;

/* One migration (§7.2). */
typedef struct vr_mig_inputs {
  uint64_t memory_bytes;      /* M: requests.memory, or domain.memory.guest when set (§1.3) */
  uint64_t working_set_bytes; /* W: writable working set; values above M are taken as M */
  double dirty_rate;          /* D: bytes/s of distinct pages the guest dirties, >= 0 */
  uint64_t local_disk_bytes;  /* L: local (ephemeral) disk bytes; used only when block */
  int block_migration;        /* 0/1: migrationMethod BlockMigration (§1.3) */
  int vfio;                   /* 0/1: the VMI has a VFIO (host/GPU/SR-IOV) device (§1.4) */
  uint32_t downtime_limit_ms; /* QEMU downtime limit; 0 = VR_MIG_DEFAULT_DOWNTIME_MS */
  vr_mig_config config;
} vr_mig_inputs;

/* migrationState.mode as KubeVirt reports it (§2.3). */
typedef enum vr_mig_mode {
  VR_MIG_MODE_PRECOPY = 0, /* "PreCopy" */
  VR_MIG_MODE_POSTCOPY,    /* "PostCopy" */
  VR_MIG_MODE_PAUSED       /* "Paused" (guest paused, or VFIO downtime raised) */
} vr_mig_mode;

/* Where the transfer is (not a KubeVirt field). */
typedef enum vr_mig_stage {
  VR_MIG_STAGE_PRECOPY = 0, /* iterating pre-copy passes */
  VR_MIG_STAGE_SWITCHOVER,  /* stop-and-copy: guest stopped, the rest being sent */
  VR_MIG_STAGE_POSTCOPY,    /* guest running on the target, the rest being sent */
  VR_MIG_STAGE_DONE
} vr_mig_stage;

typedef enum vr_mig_result { VR_MIG_RUNNING = 0, VR_MIG_COMPLETED, VR_MIG_FAILED } vr_mig_result;

/* The state of one migration. Plain data: embed it, copy it freely; the members are private
 * (read them through vr_mig_get_status). */
typedef struct vr_mig_state {
  double memory, working_set, dirty_rate; /* bytes, bytes, bytes/s */
  double bandwidth_cap;                   /* bytes/s after MiB rounding; 0 = none */
  double downtime_limit;                  /* s */
  uint64_t data_total;                    /* M (+ L) */
  int64_t acceptable;                     /* s; 0 = disabled */
  int64_t progress_timeout;               /* s; 0 = disabled */
  int auto_converge, post_copy, awd, vfio;
  vr_mig_result result;
  vr_mig_mode mode;
  vr_mig_stage stage;
  int guest_paused;
  int moved;             /* bytes sent since the last monitor tick */
  int64_t now;           /* ns since Running */
  int64_t pass;          /* current (or last) pre-copy pass, from 1 */
  int64_t bad_periods;   /* auto-converge bad periods so far */
  int64_t progress_tick; /* last monitor tick that saw progress */
  int64_t switch_start;  /* ns; -1 before the switchover */
  int64_t switch_end;    /* ns; -1 until the switchover ends */
  double stage_bytes;    /* bytes this pass (or switchover, or post-copy) sends */
  double stage_sent;     /* bytes of it already sent */
  double pass_dirty;     /* bytes dirtied during this pass (<= W) */
  double processed;      /* bytes sent since Running */
  double throttle;       /* auto-converge vCPU throttle, 0..0.99 */
  char reason[VR_MIG_REASON_MAX];
} vr_mig_state;

/* What KubeVirt and libvirt would report (§2.3: migrationState; libvirt job stats). */
typedef struct vr_mig_status {
  vr_mig_result result;
  vr_mig_mode mode;
  const char *mode_name; /* "PreCopy", "PostCopy", "Paused" */
  vr_mig_stage stage;
  const char *failure_reason; /* KubeVirt's text when failed, else NULL; valid with the state */
  const char *abort_status;   /* "Succeeded" when a timer aborted the migration, else NULL */
  uint64_t data_total;        /* bytes: M (+ L for a block migration) */
  uint64_t data_processed;    /* bytes sent so far (grows beyond data_total with re-sends) */
  uint64_t data_remaining;    /* bytes left in the current pass/switchover/post-copy */
  int64_t iteration;          /* pre-copy pass, from 1 */
  double elapsed_s;           /* since Running; frozen when the migration ends */
  double throttle;            /* auto-converge throttle, 0..0.99 */
  double dirty_rate;          /* effective dirty rate now, bytes/s (0 when paused/stopped) */
  double downtime_limit_s;    /* current QEMU downtime limit */
  double downtime_s;          /* guest stopped for the switchover so far (0 for post-copy) */
  int64_t acceptable_completion_s; /* current deadline (doubled when Paused); 0 = disabled */
  int guest_paused;                /* 1 after KubeVirt suspended the guest */
} vr_mig_status;

/* A closed-form plan for one migration at a constant bandwidth, without auto-converge,
 * post-copy or pause (§7.2). */
typedef struct vr_mig_plan {
  int converges;      /* 1 when pre-copy reaches the switchover on its own at this bandwidth */
  int within_timeout; /* 1 when it also completes before the completion timeout acts */
  double rho;         /* D / B (INFINITY at bandwidth 0) */
  int64_t passes;     /* pre-copy passes before the switchover (0 when it does not converge) */
  double precopy_s;   /* time of those passes (INFINITY when it does not converge) */
  double downtime_s;  /* stop-and-copy time (INFINITY when it does not converge) */
  double duration_s;  /* precopy_s + downtime_s */
  double timeout_s;   /* when the completion timeout acts; INFINITY when disabled */
} vr_mig_plan;

/* The bytes KubeVirt sizes the completion timeout with (§1.3): memory, plus the local disks
 * when block_migration is non-zero. Saturates at UINT64_MAX. */
uint64_t vr_mig_data_size(uint64_t memory_bytes, uint64_t local_disk_bytes, int block_migration);

/* acceptableCompletionTime in seconds (§1.3): per_gib * ceil(data_bytes / 10^9). 0 (disabled)
 * when per_gib <= 0 or data_bytes is 0; saturates at INT64_MAX. Example: 4Gi at 150 -> 750. */
int64_t vr_mig_completion_timeout(int64_t per_gib, uint64_t data_bytes);

/* The effective allowWorkloadDisruption (§1.1): awd < 0 means unset and copies allowPostCopy;
 * otherwise awd != 0. Returns 0 or 1. */
int vr_mig_resolve_awd(int awd, int allow_post_copy);

/* Seconds after a timer's start at which KubeVirt's monitor acts on a timer of limit_s seconds:
 * the first 400 ms tick at which more than limit_s whole seconds have passed (750 -> 751.2).
 * INFINITY when limit_s <= 0 (disabled); limits above VR_MIG_TIMER_MAX_S are capped. */
double vr_mig_monitor_fire_time(int64_t limit_s);

/* "PreCopy", "PostCopy", "Paused"; "" for values out of range. */
const char *vr_mig_mode_name(vr_mig_mode mode);

/* Starts a migration at the Running phase: elapsed 0, pass 1, mode PreCopy. Resolves the
 * inputs: W capped at M, L counted only for a block migration, the bandwidth cap rounded to
 * whole MiB/s as libvirt receives it (values in (0, 1 MiB) become 1 MiB), timers capped at
 * VR_MIG_TIMER_MAX_S. Returns 0, or -1 (st untouched) when st or in is NULL, the dirty rate is
 * negative or not finite, a timeout is negative, or the downtime limit exceeds
 * VR_MIG_MAX_DOWNTIME_MS. */
int vr_mig_init(vr_mig_state *st, const vr_mig_inputs *in);

/* Advances the migration by dt_s seconds (rounded to the nanosecond) during which the link
 * gives it bandwidth bytes/s (before bandwidthPerMigration). Everything due in that interval
 * happens at its exact time, in order: pass boundaries, throttling, the switchover, monitor
 * decisions, completion. When the migration ends inside the interval the rest of it is ignored
 * (elapsed stays at the end time); on an ended migration it does nothing. Time stops at about
 * 146 years. Returns 0, or -1 (st unchanged) when st is NULL or dt_s or bandwidth is negative
 * or not finite. */
int vr_mig_advance(vr_mig_state *st, double dt_s, double bandwidth);

/* Seconds until the next event at this (constant) bandwidth: a switchover starting, the
 * migration completing, a throttle change, or a monitor decision (post-copy, pause, VFIO
 * downtime, stuck, timeout). Pass boundaries that change nothing but the pass counter and the
 * remaining bytes are not events. The result is > 0 (at least 1e-9: advance by it, rounding UP
 * to your clock's resolution, and the event has happened), INFINITY when nothing will happen at
 * this bandwidth within about 73 years (the migration ended; bandwidth 0 with progressTimeout 0;
 * a migration that does not converge with the completion timeout disabled)
 * or -1 when st is NULL or bandwidth is negative or not finite. Does not change st. */
double vr_mig_next_event(const vr_mig_state *st, double bandwidth);

/* Seconds until the migration ends (completes or fails) if the bandwidth stays at this value;
 * *outcome (may be NULL) gets how it ends: VR_MIG_COMPLETED, VR_MIG_FAILED, or VR_MIG_RUNNING
 * with INFINITY when it never ends. 0 with the result for an ended migration; -1 (outcome
 * untouched) for a NULL st or a negative or non-finite bandwidth. Does not change st. */
double vr_mig_eta(const vr_mig_state *st, double bandwidth, vr_mig_result *outcome);

/* 1 when the migration has completed or failed, else 0 (also for NULL). */
int vr_mig_finished(const vr_mig_state *st);

/* Fills out with the observable status; out is all zeros when st is NULL; nothing happens when
 * out is NULL. */
void vr_mig_get_status(const vr_mig_state *st, vr_mig_status *out);

/* The closed form of §7.2 for pre-flight and ETAs: with B the bandwidth (after
 * bandwidthPerMigration), R1 = M (+ L) and R2 = min(D/B * R1, W), the migration converges after
 * one pass when R2 <= B*Td; otherwise, when rho = D/B < 1, after n = 1 + ceil(ln(B*Td/R2) /
 * ln rho) passes (= ceil(ln(B*Td/M) / ln rho) of §7.2 when W >= rho*M and L = 0), taking
 * (R1 + R2 (1 - rho^(n-1)) / (1 - rho)) / B plus a stop-and-copy of R2 rho^(n-1) / B; with
 * rho >= 1 and R2 > B*Td it never converges on its own. It matches the stepper (without
 * auto-converge) to within nanoseconds per pass; to forecast auto-converge, post-copy or
 * pause, use vr_mig_eta on a fresh state. Returns 0, or -1 (out untouched) for invalid inputs
 * (as vr_mig_init) or a negative or non-finite bandwidth. */
int vr_mig_estimate(const vr_mig_inputs *in, double bandwidth, vr_mig_plan *out);

#endif
