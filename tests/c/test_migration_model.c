/* test_migration_model.c: unit tests of runtime/migration_model.c. Section numbers (§) are
 * those of reference/kubevirt-migration.md. A table of migrations at a constant bandwidth
 * (idle, busy with rho < 1, W <= B*Td, non-converging: failing at the completion timeout, saved
 * by auto-converge), then the §1.4 assists (post-copy, pause, VFIO), progressTimeout, bandwidth
 * changes, the closed form against the stepper, next_event (always > 0, few jumps), determinism,
 * the completion-timeout arithmetic of §1.3 and 25,000 migrations for speed. Expected times come
 * from the formulas of §7.2 or from reference_run(), a plain pass-by-pass restatement of §7.2
 * written independently of the module's closed forms. */
#include "check.h"
#include "migration_model.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#define GIB       1073741824ull
#define MIB       1048576ull
#define B_10G     1.25e9 /* 10 Gbit/s in bytes/s */
#define B_1G      1.25e8 /* 1 Gbit/s */
#define MAX_JUMPS 10000

#define CHECK_NEAR(actual, expected, tol)                                                          \
  do {                                                                                             \
    double check_a_ = (actual), check_e_ = (expected);                                             \
    check_count++;                                                                                 \
    if (!(fabs(check_a_ - check_e_) <= (tol))) {                                                   \
      check_failures++;                                                                            \
      fprintf(stderr, "%s:%d: %s = %.9f, expected %.9f (+-%g)\n", __FILE__, __LINE__, #actual,     \
              check_a_, check_e_, (double)(tol));                                                  \
    }                                                                                              \
  } while (0)

/* --- helpers ------------------------------------------------------------------------------- */

/* A 4Gi VM with HEAD defaults (§1.1): 150 s/GB, progressTimeout 150, nothing allowed. */
static vr_mig_inputs vm(uint64_t memory, uint64_t working_set, double dirty_rate) {
  vr_mig_inputs in;
  memset(&in, 0, sizeof in);
  in.memory_bytes = memory;
  in.working_set_bytes = working_set;
  in.dirty_rate = dirty_rate;
  in.config.completion_timeout_per_gib = 150;
  in.config.progress_timeout = 150;
  return in;
}

static vr_mig_status status_of(const vr_mig_state *st) {
  vr_mig_status s;
  vr_mig_get_status(st, &s);
  return s;
}

static double elapsed(const vr_mig_state *st) {
  return status_of(st).elapsed_s;
}

/* Jumps from event to event at a constant bandwidth until the migration ends, nothing is
 * pending, or `until` seconds of elapsed time; every jump must be > 0 and the whole run must
 * take fewer than MAX_JUMPS. Returns the number of jumps. */
static int drive_until(vr_mig_state *st, double bandwidth, double until) {
  int jumps = 0;
  while (!vr_mig_finished(st) && jumps < MAX_JUMPS) {
    double e = vr_mig_next_event(st, bandwidth), left = until - elapsed(st);
    CHECK(e > 0);
    if (!(e > 0) || left <= 0) break;
    if (e >= left) {
      if (isfinite(left)) CHECK(vr_mig_advance(st, left, bandwidth) == 0);
      break;
    }
    CHECK(vr_mig_advance(st, e, bandwidth) == 0);
    jumps++;
  }
  CHECK(jumps < MAX_JUMPS);
  return jumps;
}

static int drive(vr_mig_state *st, double bandwidth) {
  return drive_until(st, bandwidth, INFINITY);
}

typedef struct ref_result {
  double time, downtime, throttle;
  int64_t passes;
} ref_result;

/* §7.2 pass by pass (with §7.1 auto-converge when asked), straight from the text: pass 1 sends
 * m, each pass lasts r/b, dirties min(d_eff * t, w), switchover when that is <= b*td. */
static ref_result reference_run(double m, double w, double d, double b, double td,
                                int auto_converge) {
  ref_result res = {0, 0, 0, 0};
  double r = m, p = 0;
  int64_t bad = 0;
  while (res.passes < 1000000) {
    double t = r / b, dirtied = fmin(d * (1 - p) * t, w);
    res.passes++;
    res.time += t;
    if (dirtied > 0.5 * r && ++bad >= 2 && auto_converge) p = fmin(0.2 + 0.1 * (bad - 2), 0.99);
    if (dirtied <= b * td) {
      res.downtime = dirtied / b;
      res.time += res.downtime;
      res.throttle = p;
      return res;
    }
    r = dirtied;
  }
  res.time = INFINITY;
  return res;
}

/* --- §1.3 arithmetic ----------------------------------------------------------------------- */

static void test_completion_timeout(void) {
  vr_mig_state st;
  vr_mig_inputs in = vm(4 * GIB, GIB, 0);
  /* §1.3: 4Gi = 4.29e9 B -> 5 units -> 750 s at 150 s/GB; 8Gi -> 9 units -> 1350 s */
  CHECK(vr_mig_completion_timeout(150, 4 * GIB) == 750);
  CHECK(vr_mig_completion_timeout(150, 8 * GIB) == 1350);
  /* §1.3: no memory request and no guest memory -> 0 -> disabled */
  CHECK(vr_mig_completion_timeout(150, 0) == 0);
  /* §1.2: HCO main default 20 s/GB -> 4Gi: 100 s */
  CHECK(vr_mig_completion_timeout(20, 4 * GIB) == 100);
  /* §1.1: completionTimeoutPerGiB 0 disables; exact decimal GB boundaries */
  CHECK(vr_mig_completion_timeout(0, 4 * GIB) == 0);
  CHECK(vr_mig_completion_timeout(150, 1000000000ull) == 150);
  CHECK(vr_mig_completion_timeout(150, 1000000001ull) == 300);
  CHECK(vr_mig_completion_timeout(INT64_MAX, 2000000000ull) == INT64_MAX);
  /* §1.3: local disks count only for a block migration */
  CHECK(vr_mig_data_size(4 * GIB, GIB, 0) == 4 * GIB);
  CHECK(vr_mig_data_size(4 * GIB, GIB, 1) == 5 * GIB);
  CHECK(vr_mig_data_size(UINT64_MAX, 1, 1) == UINT64_MAX);
  /* §1.4: the monitor compares whole seconds every 400 ms: 750 acts at 751.2 s */
  CHECK_NEAR(vr_mig_monitor_fire_time(750), 751.2, 1e-9);
  CHECK_NEAR(vr_mig_monitor_fire_time(150), 151.2, 1e-9);
  CHECK_NEAR(vr_mig_monitor_fire_time(100), 101.2, 1e-9);
  CHECK_NEAR(vr_mig_monitor_fire_time(1), 2.0, 1e-9);
  CHECK(isinf(vr_mig_monitor_fire_time(0)));
  /* through init: the state carries the deadline */
  CHECK(vr_mig_init(&st, &in) == 0);
  CHECK(status_of(&st).acceptable_completion_s == 750);
  in.config.completion_timeout_per_gib = 20;
  CHECK(vr_mig_init(&st, &in) == 0);
  CHECK(status_of(&st).acceptable_completion_s == 100);
  in = vm(8 * GIB, GIB, 0);
  CHECK(vr_mig_init(&st, &in) == 0);
  CHECK(status_of(&st).acceptable_completion_s == 1350);
  in = vm(0, 0, 0);
  CHECK(vr_mig_init(&st, &in) == 0);
  CHECK(status_of(&st).acceptable_completion_s == 0);
  in = vm(4 * GIB, GIB, 0);
  in.local_disk_bytes = 2 * GIB;
  CHECK(vr_mig_init(&st, &in) == 0);
  CHECK(status_of(&st).acceptable_completion_s == 750 && status_of(&st).data_total == 4 * GIB);
  in.block_migration = 1; /* 6Gi = 6.44e9 -> 7 units */
  CHECK(vr_mig_init(&st, &in) == 0);
  CHECK(status_of(&st).acceptable_completion_s == 1050 && status_of(&st).data_total == 6 * GIB);
}

static void test_helpers(void) {
  /* §1.1: allowWorkloadDisruption unset copies allowPostCopy */
  CHECK(vr_mig_resolve_awd(-1, 1) == 1);
  CHECK(vr_mig_resolve_awd(-1, 0) == 0);
  CHECK(vr_mig_resolve_awd(0, 1) == 0);
  CHECK(vr_mig_resolve_awd(1, 0) == 1);
  CHECK_STR(vr_mig_mode_name(VR_MIG_MODE_PRECOPY), "PreCopy");
  CHECK_STR(vr_mig_mode_name(VR_MIG_MODE_POSTCOPY), "PostCopy");
  CHECK_STR(vr_mig_mode_name(VR_MIG_MODE_PAUSED), "Paused");
  CHECK_STR(vr_mig_mode_name((vr_mig_mode)42), "");
}

/* --- the table: constant bandwidth, start to end ------------------------------------------- */

typedef struct scenario {
  const char *name; /* with the reference section */
  vr_mig_inputs in;
  double bandwidth;
  vr_mig_result result;
  vr_mig_mode mode;
  double expect_s; /* when it ends */
  double tol_s;
  int64_t passes;     /* pre-copy passes (0: not checked) */
  const char *reason; /* exact failure reason, or NULL */
  int max_jumps;      /* next_event jumps it may take */
} scenario;

static void run_table(void) {
  const double td = 0.3;
  vr_mig_inputs idle = vm(4 * GIB, 64 * MIB, 1e6);
  vr_mig_inputs busy = vm(8 * GIB, 7 * GIB, 0.875e9);   /* rho = 0.7 at 10G, W >= rho M */
  vr_mig_inputs capped = vm(8 * GIB, 2 * GIB, 0.875e9); /* rho = 0.7, W < rho M */
  vr_mig_inputs small_ws = vm(4 * GIB, 256 * MIB, 5e9); /* rho = 4, W <= B*Td = 375e6 */
  vr_mig_inputs hot = vm(4 * GIB, GIB, 2e8);            /* rho = 1.6 at 1G, W/B = 8.6 s */
  vr_mig_inputs hot_ac = hot, hot_hco = hot, hot_pc_no_awd = hot, block = idle;
  ref_result r_idle = reference_run(4.0 * GIB, 64.0 * MIB, 1e6, B_10G, td, 0);
  ref_result r_busy = reference_run(8.0 * GIB, 7.0 * GIB, 0.875e9, B_10G, td, 0);
  ref_result r_capped = reference_run(8.0 * GIB, 2.0 * GIB, 0.875e9, B_10G, td, 0);
  ref_result r_hot_ac = reference_run(4.0 * GIB, 1.0 * GIB, 2e8, B_1G, td, 1);
  ref_result r_block = reference_run(6.0 * GIB, 64.0 * MIB, 1e6, B_10G, td, 0);
  double rho = 0.875e9 / B_10G, m8 = 8.0 * GIB;
  /* §7.2: n = ceil(ln(B*Td/M) / ln rho), total = (M/B) (1 - rho^(n+1)) / (1 - rho) */
  int64_t n_busy = (int64_t)ceil(log(B_10G * td / m8) / log(rho));
  double t_busy = m8 / B_10G * (1 - pow(rho, (double)(n_busy + 1))) / (1 - rho);
  size_t i;
  hot_ac.config.allow_auto_converge = 1;
  hot_hco.config.completion_timeout_per_gib = 20;
  hot_pc_no_awd.config.allow_post_copy = 1;
  hot_pc_no_awd.config.allow_workload_disruption = vr_mig_resolve_awd(0, 1);
  block.local_disk_bytes = 2 * GIB;
  block.block_migration = 1;
  {
    const scenario table[] = {
        /* §7.2: idle VM, one pass plus a few-ms switchover: time ~ M/B */
        {"idle VM (§7.2)", idle, B_10G, VR_MIG_COMPLETED, VR_MIG_MODE_PRECOPY, r_idle.time, 1e-6, 1,
         NULL, 3},
        /* §7.2: rho < 1 converges after n passes of the closed form */
        {"busy VM rho=0.7 (§7.2)", busy, B_10G, VR_MIG_COMPLETED, VR_MIG_MODE_PRECOPY, t_busy, 1e-6,
         n_busy, NULL, 4},
        /* §7.2: W < rho M: the re-sent set is capped by W */
        {"busy VM capped by W (§7.2)", capped, B_10G, VR_MIG_COMPLETED, VR_MIG_MODE_PRECOPY,
         r_capped.time, 1e-6, r_capped.passes, NULL, 4},
        /* §7.2: W <= B*Td converges after pass 1 whatever rho */
        {"W <= B*Td, rho=4 (§7.2)", small_ws, B_10G, VR_MIG_COMPLETED, VR_MIG_MODE_PRECOPY,
         (4.0 * GIB + 256.0 * MIB) / B_10G, 1e-6, 1, NULL, 3},
        /* §1.3, §1.4 case 4: rho > 1 with a large W never converges: aborted by the completion
         * timeout at the first tick past 750 whole seconds; never "stuck" (§1.5) */
        {"rho=1.6 fails at the completion timeout (§1.3, §1.4)", hot, B_1G, VR_MIG_FAILED,
         VR_MIG_MODE_PRECOPY, 751.2, 1e-9, 0,
         "Live migration is not completed after 750 seconds and has been aborted", 3},
        /* §1.2: the same at HCO main's 20 s/GB fails fast */
        {"rho=1.6 at 20 s/GB (§1.2, §1.4)", hot_hco, B_1G, VR_MIG_FAILED, VR_MIG_MODE_PRECOPY,
         101.2, 1e-9, 0, "Live migration is not completed after 100 seconds and has been aborted",
         3},
        /* §1.4: allowPostCopy with allowWorkloadDisruption explicitly false aborts */
        {"post-copy allowed, AWD false: aborts (§1.4)", hot_pc_no_awd, B_1G, VR_MIG_FAILED,
         VR_MIG_MODE_PRECOPY, 751.2, 1e-9, 0,
         "Live migration is not completed after 750 seconds and has been aborted", 3},
        /* §7.1: auto-converge throttles until it converges, timers unchanged (§1.4) */
        {"rho=1.6 with auto-converge (§7.1, §7.2)", hot_ac, B_1G, VR_MIG_COMPLETED,
         VR_MIG_MODE_PRECOPY, r_hot_ac.time, 1e-6, r_hot_ac.passes, NULL, 20},
        /* §1.3, §7.2: a block migration sends L in pass 1 */
        {"block migration (§1.3, §7.2)", block, B_10G, VR_MIG_COMPLETED, VR_MIG_MODE_PRECOPY,
         r_block.time, 1e-6, 1, NULL, 3},
    };
    for (i = 0; i < sizeof table / sizeof table[0]; i++) {
      const scenario *sc = &table[i];
      vr_mig_state st;
      vr_mig_status s;
      int jumps, ok;
      CHECK(vr_mig_init(&st, &sc->in) == 0);
      jumps = drive(&st, sc->bandwidth);
      s = status_of(&st);
      ok = check_failures;
      CHECK(s.result == sc->result);
      CHECK(s.mode == sc->mode);
      CHECK_NEAR(s.elapsed_s, sc->expect_s, sc->tol_s);
      if (sc->passes) CHECK(s.iteration == sc->passes);
      if (sc->reason) {
        CHECK_STR(s.failure_reason, sc->reason);
        CHECK_STR(s.abort_status, "Succeeded");
      } else {
        CHECK(s.failure_reason == NULL);
      }
      if (sc->result == VR_MIG_COMPLETED) {
        CHECK(s.data_remaining == 0);
        CHECK(s.data_processed >= s.data_total);
        CHECK(s.downtime_s <= td + 1e-9);
      }
      CHECK(jumps <= sc->max_jumps);
      if (check_failures != ok) fprintf(stderr, "  in scenario: %s (%d jumps)\n", sc->name, jumps);
    }
  }
  /* extra facts about some rows */
  CHECK_NEAR(r_idle.time, 4.0 * GIB / B_10G, 0.002 * 4.0 * GIB / B_10G); /* ~ M/B */
  CHECK(r_busy.passes == n_busy);
  CHECK_NEAR(r_busy.time, t_busy, 1e-9);
  CHECK(r_hot_ac.throttle > 0 && r_hot_ac.time < 751.2);
  {
    vr_mig_state st;
    CHECK(vr_mig_init(&st, &hot_ac) == 0);
    drive(&st, B_1G);
    CHECK_NEAR(status_of(&st).throttle, r_hot_ac.throttle, 1e-12);
  }
}

/* --- §1.4 assists -------------------------------------------------------------------------- */

/* The non-converging VM of the table (rho = 1.6 at 1G) when the completion timeout acts at
 * 751.2 s: after pass 1 (M/B) it repeats passes of W/B; the pass in flight has `left` bytes to
 * go and has dirtied `dirty` bytes so far. */
static void hot_at_timeout(double *left, double *dirty) {
  double t1 = 4.0 * GIB / B_1G, period = 1.0 * GIB / B_1G;
  double phase = fmod(751.2 - t1, period);
  *left = 1.0 * GIB - B_1G * phase;
  *dirty = fmin(2e8 * phase, 1.0 * GIB);
}

static void test_post_copy(void) {
  /* §1.4 case 2 + §7.1: allowPostCopy + AWD -> PostCopy at the timeout, then the rest crosses
   * once in ~R/B whatever the dirty rate, and no timer aborts it */
  vr_mig_inputs in = vm(4 * GIB, GIB, 2e8);
  vr_mig_state st, stalled;
  vr_mig_status s;
  double left, dirty, e;
  in.config.allow_post_copy = 1;
  in.config.allow_workload_disruption = vr_mig_resolve_awd(-1, 1);
  hot_at_timeout(&left, &dirty);
  CHECK(vr_mig_init(&st, &in) == 0);
  e = vr_mig_next_event(&st, B_1G); /* the first event is the timeout itself */
  CHECK_NEAR(e, 751.2, 1e-9);
  CHECK(vr_mig_advance(&st, e, B_1G) == 0);
  s = status_of(&st);
  CHECK(s.mode == VR_MIG_MODE_POSTCOPY && s.stage == VR_MIG_STAGE_POSTCOPY);
  CHECK_STR(s.mode_name, "PostCopy");
  CHECK(s.result == VR_MIG_RUNNING);
  CHECK_NEAR((double)s.data_remaining, left + dirty, 100.0);
  /* bandwidth 0 in post-copy: nothing ever aborts it (§1.4 case 1) */
  stalled = st;
  CHECK(isinf(vr_mig_next_event(&stalled, 0)));
  CHECK(vr_mig_advance(&stalled, 100000, 0) == 0);
  CHECK(status_of(&stalled).result == VR_MIG_RUNNING);
  drive(&st, B_1G);
  s = status_of(&st);
  CHECK(s.result == VR_MIG_COMPLETED && s.mode == VR_MIG_MODE_POSTCOPY);
  CHECK_NEAR(s.elapsed_s, 751.2 + (left + dirty) / B_1G, 1e-6);
  CHECK(s.downtime_s == 0);
}

static void test_pause(void) {
  /* §1.4 case 2, no post-copy: suspend the guest (D -> 0), mode Paused, deadline doubled; the
   * pass in flight ends, one pass resends what it dirtied, then it converges */
  vr_mig_inputs in = vm(4 * GIB, GIB, 2e8);
  vr_mig_state st;
  vr_mig_status s;
  double left, dirty;
  in.config.allow_workload_disruption = 1;
  hot_at_timeout(&left, &dirty);
  CHECK(vr_mig_init(&st, &in) == 0);
  CHECK(vr_mig_advance(&st, vr_mig_next_event(&st, B_1G), B_1G) == 0);
  s = status_of(&st);
  CHECK_NEAR(s.elapsed_s, 751.2, 1e-9);
  CHECK(s.mode == VR_MIG_MODE_PAUSED && s.guest_paused == 1 && s.dirty_rate == 0);
  CHECK(s.acceptable_completion_s == 1500);
  drive(&st, B_1G);
  s = status_of(&st);
  CHECK(s.result == VR_MIG_COMPLETED && s.mode == VR_MIG_MODE_PAUSED);
  CHECK_NEAR(s.elapsed_s, 751.2 + (left + dirty) / B_1G, 1e-6);
  CHECK(s.elapsed_s < vr_mig_monitor_fire_time(1500));

  /* §1.4: Paused at bandwidth 0: the second timeout (2x) aborts, naming the doubled deadline;
   * with progressTimeout off nothing else can end it */
  in.config.progress_timeout = 0;
  CHECK(vr_mig_init(&st, &in) == 0);
  CHECK(vr_mig_advance(&st, 751.2, B_1G) == 0);
  CHECK(status_of(&st).mode == VR_MIG_MODE_PAUSED);
  drive(&st, 0);
  s = status_of(&st);
  CHECK(s.result == VR_MIG_FAILED);
  CHECK_NEAR(s.elapsed_s, 1501.2, 1e-9);
  CHECK_STR(s.failure_reason, "Live migration is not completed after 1500 seconds and has been "
                              "aborted");
}

static void test_vfio(void) {
  /* §1.4 case 2, VFIO: never post-copy; max downtime min(2 x 750 s, 2000 s), mode Paused,
   * deadline doubled; QEMU switches over at once and the guest stays stopped for R/B */
  vr_mig_inputs in = vm(4 * GIB, GIB, 2e8);
  vr_mig_state st;
  vr_mig_status s;
  double left, dirty;
  in.vfio = 1;
  in.config.allow_post_copy = 1;
  in.config.allow_workload_disruption = 1;
  hot_at_timeout(&left, &dirty);
  CHECK(vr_mig_init(&st, &in) == 0);
  CHECK(vr_mig_advance(&st, vr_mig_next_event(&st, B_1G), B_1G) == 0);
  s = status_of(&st);
  CHECK(s.mode == VR_MIG_MODE_PAUSED && s.stage == VR_MIG_STAGE_SWITCHOVER);
  CHECK(s.guest_paused == 0);
  CHECK_NEAR(s.downtime_limit_s, 1500, 1e-9);
  CHECK(s.acceptable_completion_s == 1500);
  drive(&st, B_1G);
  s = status_of(&st);
  CHECK(s.result == VR_MIG_COMPLETED && s.mode == VR_MIG_MODE_PAUSED);
  CHECK_NEAR(s.elapsed_s, 751.2 + (left + dirty) / B_1G, 1e-6);
  CHECK_NEAR(s.downtime_s, (left + dirty) / B_1G, 1e-6);

  /* 8Gi: 2 x 1350 = 2700 s > QEMU's 2000 s cap; the deadline is not capped */
  in.memory_bytes = 8 * GIB;
  CHECK(vr_mig_init(&st, &in) == 0);
  CHECK(vr_mig_advance(&st, vr_mig_next_event(&st, B_1G), B_1G) == 0);
  s = status_of(&st);
  CHECK_NEAR(s.elapsed_s, 1351.2, 1e-9);
  CHECK_NEAR(s.downtime_limit_s, 2000, 1e-9);
  CHECK(s.acceptable_completion_s == 2700);
  CHECK(s.mode == VR_MIG_MODE_PAUSED);
  drive(&st, B_1G);
  CHECK(status_of(&st).result == VR_MIG_COMPLETED);

  /* at 1 MB/s what is pending does not fit even the raised downtime limit, pass 1 goes on, and
   * the doubled deadline aborts it (§1.4: in Paused mode the second timeout aborts) */
  in = vm(4 * GIB, GIB, 2e8);
  in.vfio = 1;
  in.config.allow_workload_disruption = 1;
  in.config.progress_timeout = 0;
  CHECK(vr_mig_init(&st, &in) == 0);
  drive(&st, 1e6);
  s = status_of(&st);
  CHECK(s.result == VR_MIG_FAILED && s.mode == VR_MIG_MODE_PAUSED);
  CHECK_NEAR(s.elapsed_s, 1501.2, 1e-9);
  CHECK_STR(s.failure_reason, "Live migration is not completed after 1500 seconds and has been "
                              "aborted");
}

/* --- §1.5 progressTimeout ------------------------------------------------------------------ */

static void test_progress_timeout(void) {
  vr_mig_inputs hot = vm(4 * GIB, GIB, 2e8), idle = vm(4 * GIB, GIB, 0);
  vr_mig_state st;
  vr_mig_status s;

  /* §1.5, §7.2: the link dies at 10 s (a tick: the last sample that saw progress is at 10 s);
   * stuck when more than 150 whole seconds pass without progress: 10 + 151.2 */
  CHECK(vr_mig_init(&st, &hot) == 0);
  CHECK(vr_mig_advance(&st, 10, B_1G) == 0);
  CHECK(drive(&st, 0) == 1);
  s = status_of(&st);
  CHECK(s.result == VR_MIG_FAILED);
  CHECK_NEAR(s.elapsed_s, 161.2, 1e-9);
  CHECK_STR(s.failure_reason, "Live migration stuck for 151 seconds and has been aborted");
  CHECK_STR(s.abort_status, "Succeeded");

  /* the link dies between two samples: the next sample still sees progress */
  CHECK(vr_mig_init(&st, &hot) == 0);
  CHECK(vr_mig_advance(&st, 10.1, B_1G) == 0);
  drive(&st, 0);
  CHECK_NEAR(elapsed(&st), 10.4 + 151.2, 1e-9);

  /* a 100 s outage (< progressTimeout) is survived */
  CHECK(vr_mig_init(&st, &idle) == 0);
  CHECK(vr_mig_advance(&st, 1, B_10G) == 0);
  drive_until(&st, 0, 101);
  CHECK(!vr_mig_finished(&st));
  CHECK_NEAR(elapsed(&st), 101, 1e-9);
  drive(&st, B_10G);
  s = status_of(&st);
  CHECK(s.result == VR_MIG_COMPLETED);
  CHECK_NEAR(s.elapsed_s, 101 + (4.0 * GIB - B_10G) / B_10G, 1e-6);

  /* healthy but never converging, completion timeout off: never "stuck", nothing pending */
  hot.config.completion_timeout_per_gib = 0;
  CHECK(vr_mig_init(&st, &hot) == 0);
  CHECK(isinf(vr_mig_next_event(&st, B_1G)));
  CHECK(vr_mig_advance(&st, 100000, B_1G) == 0);
  s = status_of(&st);
  CHECK(s.result == VR_MIG_RUNNING);
  CHECK_NEAR((double)s.data_processed, 100000 * B_1G, 1e3);
  CHECK(s.iteration > 10000);
  CHECK(isinf(vr_mig_eta(&st, B_1G, NULL)));

  /* progressTimeout 0 disables it (§1.1): nothing pending at bandwidth 0 */
  hot.config.progress_timeout = 0;
  CHECK(vr_mig_init(&st, &hot) == 0);
  CHECK(isinf(vr_mig_next_event(&st, 0)));

  /* §1.4 order: at bandwidth 0 from the start, 1 GB at 100 s/GB with AWD: the timeout (101.2 s)
   * pauses first (case 2), then "stuck" (case 3) fires regardless: the first sample (0.4 s) is
   * the last progress, 378 ticks later = 151.6 s */
  idle = vm(1000000000ull, 1000000, 0);
  idle.config.completion_timeout_per_gib = 100;
  idle.config.allow_workload_disruption = 1;
  CHECK(vr_mig_init(&st, &idle) == 0);
  CHECK_NEAR(vr_mig_next_event(&st, 0), 101.2, 1e-9);
  CHECK(vr_mig_advance(&st, 101.2, 0) == 0);
  CHECK(status_of(&st).mode == VR_MIG_MODE_PAUSED && status_of(&st).result == VR_MIG_RUNNING);
  drive(&st, 0);
  s = status_of(&st);
  CHECK(s.result == VR_MIG_FAILED && s.mode == VR_MIG_MODE_PAUSED);
  CHECK_NEAR(s.elapsed_s, 151.6, 1e-9);
  CHECK_STR(s.failure_reason, "Live migration stuck for 151 seconds and has been aborted");

  /* §1.4 order on one tick: 2 GB at 100 s/GB (200 s: tick 503 = 201.2 s); the link dies at
   * 50 s (tick 125), so "stuck" also becomes true at tick 125 + 378 = 503. With AWD the pause
   * (case 2) wins, then stuck fails it on the next tick; without AWD stuck (case 3) wins over
   * the timeout (case 4). */
  hot = vm(2000000000ull, 1000000000ull, 2e8);
  hot.config.completion_timeout_per_gib = 100;
  hot.config.allow_workload_disruption = 1;
  CHECK(vr_mig_init(&st, &hot) == 0);
  CHECK(vr_mig_advance(&st, 50, B_1G) == 0);
  CHECK_NEAR(vr_mig_next_event(&st, 0), 151.2, 1e-9);
  CHECK(vr_mig_advance(&st, 151.2, 0) == 0);
  s = status_of(&st);
  CHECK(s.result == VR_MIG_RUNNING && s.mode == VR_MIG_MODE_PAUSED);
  CHECK(s.acceptable_completion_s == 400);
  CHECK_NEAR(vr_mig_next_event(&st, 0), 0.4, 1e-9);
  drive(&st, 0);
  s = status_of(&st);
  CHECK_NEAR(s.elapsed_s, 201.6, 1e-9);
  CHECK_STR(s.failure_reason, "Live migration stuck for 151 seconds and has been aborted");
  hot.config.allow_workload_disruption = 0;
  CHECK(vr_mig_init(&st, &hot) == 0);
  CHECK(vr_mig_advance(&st, 50, B_1G) == 0);
  drive(&st, 0);
  s = status_of(&st);
  CHECK_NEAR(s.elapsed_s, 201.2, 1e-9);
  CHECK_STR(s.failure_reason, "Live migration stuck for 151 seconds and has been aborted");
}

/* --- §7.2 bandwidth changes ---------------------------------------------------------------- */

static void test_bandwidth_changes(void) {
  vr_mig_inputs in = vm(4 * GIB, GIB, 0);
  vr_mig_state st;
  vr_mig_status s;
  vr_mig_result outcome;
  double eta;

  /* D = 0: 10 s at 1G, then 10G for the rest of the single pass */
  CHECK(vr_mig_init(&st, &in) == 0);
  drive_until(&st, B_1G, 10);
  drive(&st, B_10G);
  CHECK(status_of(&st).result == VR_MIG_COMPLETED);
  CHECK_NEAR(elapsed(&st), 10 + (4.0 * GIB - 10 * B_1G) / B_10G, 1e-6);

  /* converging at 10G (rho 0.7) until the link share drops to 1G (rho 7): it no longer
   * converges and the completion timeout of 8Gi (1350 s) aborts it */
  in = vm(8 * GIB, 7 * GIB, 0.875e9);
  CHECK(vr_mig_init(&st, &in) == 0);
  drive_until(&st, B_10G, 5);
  drive(&st, B_1G);
  s = status_of(&st);
  CHECK(s.result == VR_MIG_FAILED);
  CHECK_NEAR(s.elapsed_s, 1351.2, 1e-9);

  /* not converging at 1G (rho 1.6) until the link frees up: at 10G (rho 0.16) it converges;
   * the ETA taken at the change is met exactly */
  in = vm(4 * GIB, GIB, 2e8);
  CHECK(vr_mig_init(&st, &in) == 0);
  drive_until(&st, B_1G, 100);
  CHECK_NEAR(elapsed(&st), 100, 1e-9);
  CHECK(isinf(vr_mig_eta(&st, B_1G, &outcome)) == 0 && outcome == VR_MIG_FAILED);
  eta = vr_mig_eta(&st, B_10G, &outcome);
  CHECK(outcome == VR_MIG_COMPLETED && eta > 0 && eta < 5);
  drive(&st, B_10G);
  CHECK(status_of(&st).result == VR_MIG_COMPLETED);
  CHECK_NEAR(elapsed(&st), 100 + eta, 1e-9);
  CHECK(vr_mig_eta(&st, B_10G, &outcome) == 0 && outcome == VR_MIG_COMPLETED);

  /* bandwidthPerMigration caps the link share, in whole MiB/s (§1.1): 100e6 -> 95 MiB/s */
  in = vm(4 * GIB, GIB, 0);
  in.config.bandwidth_per_migration = 100000000;
  CHECK(vr_mig_init(&st, &in) == 0);
  drive(&st, B_10G);
  CHECK_NEAR(elapsed(&st), 4.0 * GIB / (95.0 * MIB), 1e-6);
  in.config.bandwidth_per_migration = 1000; /* (0, 1 MiB) -> 1 MiB/s */
  in.memory_bytes = 64 * MIB;
  CHECK(vr_mig_init(&st, &in) == 0);
  drive(&st, B_10G);
  CHECK_NEAR(elapsed(&st), 64, 1e-6);
}

/* --- closed form vs stepper (§7.2) --------------------------------------------------------- */

static void test_estimate(void) {
  vr_mig_inputs cases[6];
  double bws[6] = {B_10G, B_10G, B_10G, B_10G, B_10G, B_1G};
  vr_mig_plan plan;
  size_t i;
  cases[0] = vm(4 * GIB, 64 * MIB, 1e6);      /* idle */
  cases[1] = vm(8 * GIB, 7 * GIB, 0.875e9);   /* rho 0.7, W >= rho M */
  cases[2] = vm(8 * GIB, 2 * GIB, 0.875e9);   /* rho 0.7, capped by W */
  cases[3] = vm(4 * GIB, 256 * MIB, 5e9);     /* W <= B*Td */
  cases[4] = vm(16 * GIB, 16 * GIB, 1.237e9); /* rho 0.9896: many passes */
  cases[5] = vm(4 * GIB, 3 * GIB, 0.4e8);     /* rho 0.32 at 1G, block migration */
  cases[5].local_disk_bytes = 10 * GIB;
  cases[5].block_migration = 1;
  cases[4].config.completion_timeout_per_gib = 0;
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    vr_mig_state st;
    vr_mig_status s;
    int ok = check_failures;
    CHECK(vr_mig_estimate(&cases[i], bws[i], &plan) == 0);
    CHECK(vr_mig_init(&st, &cases[i]) == 0);
    CHECK(drive(&st, bws[i]) <= 4);
    s = status_of(&st);
    CHECK(plan.converges == 1 && s.result == VR_MIG_COMPLETED);
    CHECK(plan.passes == s.iteration);
    CHECK_NEAR(s.elapsed_s, plan.duration_s, 1e-9 * plan.duration_s + 1e-8 * (double)plan.passes);
    CHECK_NEAR(s.downtime_s, plan.downtime_s, 1e-6);
    CHECK(plan.within_timeout == (plan.duration_s <= plan.timeout_s));
    if (check_failures != ok) fprintf(stderr, "  in estimate case %zu\n", i);
  }
  /* §7.2 formula for rho < 1, W >= rho M, L = 0 */
  CHECK(vr_mig_estimate(&cases[1], B_10G, &plan) == 0);
  CHECK(plan.passes == (int64_t)ceil(log(B_10G * 0.3 / (8.0 * GIB)) / log(0.7)));
  CHECK(plan.within_timeout == 1);
  CHECK(vr_mig_estimate(&cases[4], B_10G, &plan) == 0);
  CHECK(plan.passes > 100 && isinf(plan.timeout_s) && plan.within_timeout == 1);
  /* rho > 1 and a large W: does not converge; the timeout acts at 751.2 s */
  cases[0] = vm(4 * GIB, GIB, 2e8);
  CHECK(vr_mig_estimate(&cases[0], B_1G, &plan) == 0);
  CHECK(plan.converges == 0 && plan.within_timeout == 0 && isinf(plan.duration_s));
  CHECK_NEAR(plan.rho, 1.6, 1e-12);
  CHECK_NEAR(plan.timeout_s, 751.2, 1e-9);
  /* bandwidth 0 */
  CHECK(vr_mig_estimate(&cases[0], 0, &plan) == 0);
  CHECK(plan.converges == 0 && isinf(plan.rho));
  /* the cap applies to the estimate too */
  cases[0] = vm(4 * GIB, GIB, 0);
  cases[0].config.bandwidth_per_migration = 100000000;
  CHECK(vr_mig_estimate(&cases[0], B_10G, &plan) == 0);
  CHECK_NEAR(plan.duration_s, 4.0 * GIB / (95.0 * MIB), 1e-9);
}

/* --- next_event, determinism, speed -------------------------------------------------------- */

/* Deterministic pseudo-random inputs (xorshift) covering every option. */
static uint64_t next_rand(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static vr_mig_inputs random_vm(uint64_t *seed) {
  vr_mig_inputs in = vm((1 + next_rand(seed) % 64) * GIB / 2, 0, 0);
  in.working_set_bytes = in.memory_bytes / (1 + next_rand(seed) % 16);
  in.dirty_rate = (double)(next_rand(seed) % 4000) * 1e6;
  in.local_disk_bytes = (next_rand(seed) % 20) * GIB;
  in.block_migration = next_rand(seed) % 4 == 0;
  in.vfio = next_rand(seed) % 8 == 0;
  in.config.completion_timeout_per_gib = next_rand(seed) % 2 ? 150 : 20;
  in.config.allow_auto_converge = next_rand(seed) % 2;
  in.config.allow_post_copy = next_rand(seed) % 2;
  in.config.allow_workload_disruption = next_rand(seed) % 3 == 0;
  in.config.bandwidth_per_migration = next_rand(seed) % 4 == 0 ? 64 * MIB : 0;
  return in;
}

static int status_equal(const vr_mig_status *a, const vr_mig_status *b) {
  return a->result == b->result && a->mode == b->mode && a->stage == b->stage &&
         a->data_total == b->data_total && a->data_processed == b->data_processed &&
         a->data_remaining == b->data_remaining && a->iteration == b->iteration &&
         a->elapsed_s == b->elapsed_s && a->throttle == b->throttle &&
         a->downtime_s == b->downtime_s && a->downtime_limit_s == b->downtime_limit_s &&
         a->acceptable_completion_s == b->acceptable_completion_s &&
         (a->failure_reason == NULL) == (b->failure_reason == NULL) &&
         (a->failure_reason == NULL || strcmp(a->failure_reason, b->failure_reason) == 0);
}

static void test_next_event_and_determinism(void) {
  uint64_t seed = 42;
  int i;
  /* next_event: > 0 while pending (drive checks it), no state change, a few jumps each */
  for (i = 0; i < 300; i++) {
    vr_mig_inputs in = random_vm(&seed);
    double bw = (double)(1 + next_rand(&seed) % 100) * 2.5e7;
    vr_mig_state a, b, before;
    vr_mig_status sa, sb;
    int jumps_a;
    CHECK(vr_mig_init(&a, &in) == 0);
    b = a;
    before = a;
    CHECK(vr_mig_next_event(&a, bw) > 0);
    CHECK(memcmp(&a, &before, sizeof a) == 0); /* next_event is const in effect too */
    jumps_a = drive(&a, bw);
    drive(&b, bw);
    sa = status_of(&a);
    sb = status_of(&b);
    CHECK(status_equal(&sa, &sb)); /* same calls, same result, bit for bit */
    CHECK(vr_mig_finished(&a));
    CHECK(jumps_a < 60);
    CHECK(isinf(vr_mig_next_event(&a, bw)));
  }
  /* fixed 0.25 s steps give the same outcome as event jumps (within rounding) */
  for (i = 0; i < 20; i++) {
    vr_mig_inputs in = random_vm(&seed);
    double bw = (double)(1 + next_rand(&seed) % 100) * 2.5e7;
    vr_mig_state a, b;
    vr_mig_status sa, sb;
    int steps = 0;
    CHECK(vr_mig_init(&a, &in) == 0);
    b = a;
    drive(&a, bw);
    while (!vr_mig_finished(&b) && steps < 100000) {
      CHECK(vr_mig_advance(&b, 0.25, bw) == 0);
      steps++;
    }
    sa = status_of(&a);
    sb = status_of(&b);
    CHECK(sa.result == sb.result && sa.mode == sb.mode);
    CHECK_NEAR(sa.elapsed_s, sb.elapsed_s, 1e-6 * sa.elapsed_s + 1e-6);
    CHECK(sa.iteration == sb.iteration);
  }
}

static void test_many(void) {
  /* 25,000 migrations start to end through next_event (the simulator's use): each takes a
   * handful of jumps whatever its number of passes */
  uint64_t seed = 7;
  long total_jumps = 0, completed = 0, failed = 0;
  int i, worst = 0;
  for (i = 0; i < 25000; i++) {
    vr_mig_inputs in = random_vm(&seed);
    double bw = (double)(1 + next_rand(&seed) % 100) * 2.5e7;
    vr_mig_state st;
    int jumps;
    if (vr_mig_init(&st, &in) != 0) {
      CHECK(0);
      continue;
    }
    jumps = drive(&st, bw);
    total_jumps += jumps;
    if (jumps > worst) worst = jumps;
    completed += status_of(&st).result == VR_MIG_COMPLETED;
    failed += status_of(&st).result == VR_MIG_FAILED;
  }
  CHECK(completed + failed == 25000);
  CHECK(completed > 0 && failed > 0);
  CHECK(worst < 60);
  fprintf(stderr, "25000 migrations: %ld completed, %ld failed, %ld jumps (worst %d)\n", completed,
          failed, total_jumps, worst);
}

static void test_invalid(void) {
  vr_mig_inputs in = vm(4 * GIB, GIB, 0);
  vr_mig_state st, before;
  vr_mig_plan plan;
  vr_mig_status s;
  CHECK(vr_mig_init(NULL, &in) == -1);
  CHECK(vr_mig_init(&st, NULL) == -1);
  in.dirty_rate = -1;
  CHECK(vr_mig_init(&st, &in) == -1);
  in.dirty_rate = NAN;
  CHECK(vr_mig_init(&st, &in) == -1);
  CHECK(vr_mig_estimate(&in, B_10G, &plan) == -1);
  in = vm(4 * GIB, GIB, 0);
  in.config.progress_timeout = -1;
  CHECK(vr_mig_init(&st, &in) == -1);
  in = vm(4 * GIB, GIB, 0);
  in.downtime_limit_ms = VR_MIG_MAX_DOWNTIME_MS + 1;
  CHECK(vr_mig_init(&st, &in) == -1);
  in = vm(4 * GIB, 8 * GIB, 0); /* W > M is taken as M */
  CHECK(vr_mig_init(&st, &in) == 0);
  before = st;
  CHECK(vr_mig_advance(&st, -1, B_10G) == -1);
  CHECK(vr_mig_advance(&st, NAN, B_10G) == -1);
  CHECK(vr_mig_advance(&st, 1, -1) == -1);
  CHECK(vr_mig_advance(&st, 1, INFINITY) == -1);
  CHECK(vr_mig_advance(NULL, 1, B_10G) == -1);
  CHECK(memcmp(&st, &before, sizeof st) == 0);
  CHECK(vr_mig_next_event(&st, NAN) == -1);
  CHECK(vr_mig_next_event(NULL, B_10G) == -1);
  CHECK(vr_mig_eta(&st, -5, NULL) == -1);
  CHECK(vr_mig_estimate(&in, -1, &plan) == -1);
  CHECK(vr_mig_estimate(&in, B_10G, NULL) == -1);
  CHECK(vr_mig_finished(NULL) == 0);
  vr_mig_get_status(NULL, &s);
  CHECK(s.mode_name == NULL && s.elapsed_s == 0);
  /* an ended migration ignores further time */
  drive(&st, B_10G);
  s = status_of(&st);
  CHECK(s.result == VR_MIG_COMPLETED);
  CHECK(vr_mig_advance(&st, 1000, B_10G) == 0);
  CHECK(status_of(&st).elapsed_s == s.elapsed_s);
}

int main(void) {
  test_completion_timeout();
  test_helpers();
  run_table();
  test_post_copy();
  test_pause();
  test_vfio();
  test_progress_timeout();
  test_bandwidth_changes();
  test_estimate();
  test_next_event_and_determinism();
  test_many();
  test_invalid();
  return CHECK_DONE();
}
