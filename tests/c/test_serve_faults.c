/* test_serve_faults.c: unit tests of runtime/serve_faults.c: the --faults grammar (every rule,
 * verb lists, the messages of bad specs), the decisions (rates close to the probabilities over
 * many requests, the same seed giving the same decisions, verbs outside a rule never hit,
 * discovery spared unless named, watch-cut on every watch, the first rule that fires decides). */
#include "check.h"
#include "serve_faults.h"

#include <stdlib.h>
#include <string.h>

static vr_serve_faults *parse_ok(const char *spec, uint64_t seed) {
  char err[256] = "";
  vr_serve_faults *f = vr_serve_faults_parse(spec, seed, err, sizeof err);
  if (f == NULL) fprintf(stderr, "spec '%s' refused: %s\n", spec, err);
  CHECK(f != NULL);
  return f;
}

static void check_refused(const char *spec, const char *needle) {
  char err[256] = "";
  vr_serve_faults *f = vr_serve_faults_parse(spec, 1, err, sizeof err);
  CHECK(f == NULL);
  CHECK_CONTAINS(err, needle);
  vr_serve_faults_free(f);
}

static int decide(vr_serve_faults *f, const char *verb, vr_kube_fault *out) {
  memset(out, 0, sizeof *out);
  return vr_serve_faults_decide(f, verb, "nodes", out);
}

static void test_grammar(void) {
  vr_serve_faults *f = parse_ok("error=0.1:503,latency@get+list=0.5:150ms,drop=0.01,conflict=0.2,"
                                "throttle=0.3:2,watch-cut=30s",
                                7);
  vr_serve_faults_free(f);
  check_refused("", "no rules");
  check_refused("error=0.1", "error=PROBABILITY:CODE");
  check_refused("error=1.5:500", "error=PROBABILITY:CODE");
  check_refused("error=0.1:200", "CODE 400..599");
  check_refused("latency=0.1:fast", "latency=PROBABILITY:DURATION");
  check_refused("drop=0.1:3", "drop=PROBABILITY");
  check_refused("throttle=0.1", "throttle=PROBABILITY:RETRY_AFTER_SECONDS");
  check_refused("watch-cut=0s", "watch-cut=DURATION");
  check_refused("watch-cut@get=5s", "no @verbs");
  check_refused("explode=1", "unknown rule 'explode'");
  check_refused("error@fly=0.1:500", "verbs are");
  check_refused("error@get+=0.1:500", "verbs are");
  check_refused("error=0.1:500,,drop=0.1", "empty rule");
  check_refused("nothing", "has no '='");
}

static void test_rates_and_seed(void) {
  vr_serve_faults *f = parse_ok("error=0.25:503", 42), *g = parse_ok("error=0.25:503", 42);
  vr_kube_fault a, b;
  int i, hits = 0, same = 1;
  for (i = 0; i < 4000; i++) {
    int x = decide(f, "get", &a), y = decide(g, "get", &b);
    if (x) {
      hits++;
      CHECK(a.status == 503);
    }
    if (x != y) same = 0;
  }
  CHECK(same);                      /* the same seed: the same decisions */
  CHECK(hits > 850 && hits < 1150); /* about a quarter */
  vr_serve_faults_free(f);
  vr_serve_faults_free(g);
}

static void test_verbs(void) {
  vr_serve_faults *f = parse_ok("error@patch=1:500", 1);
  vr_kube_fault out;
  CHECK(decide(f, "patch", &out) == 1 && out.status == 500);
  CHECK(decide(f, "get", &out) == 0 && out.status == 0);
  CHECK(decide(f, "discovery", &out) == 0);
  CHECK(decide(f, "no-such-verb", &out) == 0);
  vr_serve_faults_free(f);

  f = parse_ok("drop=1", 1); /* every verb but discovery */
  CHECK(decide(f, "evict", &out) == 1 && out.drop == 1);
  CHECK(decide(f, "discovery", &out) == 0);
  vr_serve_faults_free(f);
  f = parse_ok("drop@discovery=1", 1);
  CHECK(decide(f, "discovery", &out) == 1 && out.drop == 1);
  vr_serve_faults_free(f);

  f = parse_ok("conflict=1", 1); /* patches and updates only */
  CHECK(decide(f, "patch", &out) == 1 && out.status == 409);
  CHECK(decide(f, "update", &out) == 1 && out.status == 409);
  CHECK(decide(f, "create", &out) == 0);
  vr_serve_faults_free(f);
}

static void test_kinds(void) {
  vr_serve_faults *f = parse_ok("watch-cut=2s,throttle@list=1:3,latency@get=1:250ms", 1);
  vr_kube_fault out;
  CHECK(decide(f, "watch", &out) == 1 && out.watch_cut_ms == 2000 && out.status == 0);
  CHECK(decide(f, "list", &out) == 1 && out.status == 429 && out.retry_after == 3);
  CHECK(decide(f, "get", &out) == 1 && out.delay_ms == 250 && out.status == 0);
  CHECK(decide(f, "create", &out) == 0);
  vr_serve_faults_free(f);

  /* a watch cut applies whatever other rule fires, before or after it */
  f = parse_ok("latency@watch=1:1500ms,watch-cut=1s", 1);
  CHECK(decide(f, "watch", &out) == 1 && out.delay_ms == 1500 && out.watch_cut_ms == 1000);
  vr_serve_faults_free(f);

  /* the first rule that fires decides */
  f = parse_ok("error=1:500,error=1:503", 1);
  CHECK(decide(f, "get", &out) == 1 && out.status == 500);
  vr_serve_faults_free(f);
  f = parse_ok("error=0:500,error=1:503", 1);
  CHECK(decide(f, "get", &out) == 1 && out.status == 503);
  vr_serve_faults_free(f);
}

int main(void) {
  test_grammar();
  test_rates_and_seed();
  test_verbs();
  test_kinds();
  return CHECK_DONE();
}
