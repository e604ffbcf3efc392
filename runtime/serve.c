/* serve.c: `vmrun serve` (see serve.h): parses its options, loads the cluster into a simulator
 * on a virtual clock, lets the VMs start (as on a running cluster), then serves the Kubernetes
 * API on a loopback address while a libuv timer moves the simulation forward at --speed
 * simulated seconds per real second (--clock paced), or leaves simulated time to the client's
 * POST /apis/sim.vmrun.io/v1/clock (--clock client: nothing else moves it). Every answer carries
 * X-Vmrun-Revision, the store's revision. Ends cleanly on SIGINT and SIGTERM. It never listens
 * on anything but loopback and runs no host commands. */
#include "serve.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "args.h"
#include "clock.h"
#include "http_server.h"
#include "kube_api.h"
#include "serve_faults.h"
#include "sim.h"
#include "store.h"

#define EXIT_USAGE      2
#define TICK_MS         10
#define SETTLE_LIMIT_MS (600 * 1000) /* simulated time the VMs get to start before serving */

static const char serve_usage[] =
    "usage: vmrun serve [--cluster FILE] [--listen 127.0.0.1:PORT] [--speed N] [--seed S]\n"
    "                   [--clock paced|client] [--log FILE] [--kubeconfig-out FILE]\n"
    "                   [--faults SPEC] [--no-settle] [--watch-history N]\n"
    "                   [--feature-gates WatchList=true|false]\n"
    "\n"
    "Serves the simulated cluster as a Kubernetes API server over HTTP on loopback, so that\n"
    "kubectl and other clients can use it (see docs/serve.md).\n"
    "\n"
    "options:\n"
    "  --cluster FILE         the cluster to simulate (Kubernetes YAML; default: the demo)\n"
    "  --listen ADDR:PORT     loopback address and port (default 127.0.0.1:8080; port 0: any\n"
    "                         free port, printed on the first line)\n"
    "  --speed N              simulated seconds per real second (default 1)\n"
    "  --clock MODE           paced (default): simulated time follows real time at --speed;\n"
    "                         client: it moves only when a client POSTs\n"
    "                         /apis/sim.vmrun.io/v1/clock {\"advanceToMs\": T}\n"
    "  --seed S               the simulation's seed (default 1)\n"
    "  --log FILE             one JSON line per request: method, path, query, status, duration\n"
    "  --kubeconfig-out FILE  write a kubeconfig that points kubectl at this server\n"
    "  --faults SPEC          inject faults (seeded; never to sim.vmrun.io): see docs/serve.md\n"
    "  --no-settle            serve at once, while the cluster's VMs are still starting\n"
    "  --watch-history N      events kept for watches that resume (default 4096); older\n"
    "                         resourceVersions get 410 Expired\n"
    "  --feature-gates G=B    WatchList=false: refuse streaming lists (sendInitialEvents) with\n"
    "                         422, as Kubernetes 1.33 does by default (default true)\n"
    "  -h, --help             print this help\n";

typedef struct serve {
  uv_loop_t loop;
  vr_clock *clock;
  vr_sim *sim;
  vr_http_server *server;
  vr_kube_api *api;
  vr_serve_faults *faults;
  uv_timer_t tick;
  uv_signal_t sigint, sigterm;
  double speed;
  uint64_t virtual_start; /* ms since the epoch when serving began, in simulated time */
  uint64_t real_start_ns; /* uv_hrtime() then */
  int stopping;
} serve;

static int usage_error(const char *fmt, const char *arg) {
  return vr_cli_usage_error("vmrun serve", fmt, arg);
}

/* Moves the simulation to the present: virtual_start plus the real time since, times speed. */
static void sync_clock(void *ctx) {
  serve *s = ctx;
  double elapsed_ms = (double)(uv_hrtime() - s->real_start_ns) / 1e6;
  uint64_t target = s->virtual_start + (uint64_t)(elapsed_ms * s->speed);
  vr_clock_advance(s->clock, target, 200000);
}

static void after_write(void *ctx) {
  serve *s = ctx;
  vr_clock_fire_due(s->clock); /* the controllers' immediate work, before the answer */
}

static void on_tick(uv_timer_t *t) {
  sync_clock(t->data);
}

/* The http_server.h headers hook: the store's revision once the request was handled. */
static void revision_header(void *ctx, char *buf, size_t len) {
  serve *s = ctx;
  snprintf(buf, len, "X-Vmrun-Revision: %llu\r\n",
           (unsigned long long)vr_store_revision(vr_sim_store(s->sim)));
}

static void stop_serving(serve *s) {
  if (s->stopping) return;
  s->stopping = 1;
  uv_timer_stop(&s->tick);
  uv_signal_stop(&s->sigint);
  uv_signal_stop(&s->sigterm);
  vr_kube_api_free(s->api);
  s->api = NULL;
  vr_http_server_close(s->server);
}

static void on_signal(uv_signal_t *h, int signum) {
  serve *s = h->data;
  fprintf(stderr, "vmrun serve: %s: stopping\n", signum == SIGINT ? "interrupted" : "terminated");
  stop_serving(s);
}

/* Whether a VM or VMI is still starting (the state a real cluster is not in when one connects). */
static int anything_starting(vr_store *store) {
  const cJSON **items;
  size_t n, i;
  int starting = 0;
  n = vr_store_list(store, "kubevirt.io", "VirtualMachineInstance", NULL, NULL, &items);
  for (i = 0; n != (size_t)-1 && i < n && !starting; i++) {
    const cJSON *phase = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(items[i], "status"), "phase");
    const char *p = cJSON_IsString(phase) ? phase->valuestring : "";
    if (p[0] == '\0' || strcmp(p, "Pending") == 0 || strcmp(p, "Scheduling") == 0 ||
        strcmp(p, "Scheduled") == 0)
      starting = 1;
  }
  if (n != (size_t)-1) free((void *)items);
  n = vr_store_list(store, "kubevirt.io", "VirtualMachine", NULL, NULL, &items);
  for (i = 0; n != (size_t)-1 && i < n && !starting; i++) {
    const cJSON *ps = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(items[i], "status"), "printableStatus");
    if (cJSON_IsString(ps) && strcmp(ps->valuestring, "Starting") == 0) starting = 1;
  }
  if (n != (size_t)-1) free((void *)items);
  return starting;
}

/* Runs the simulation (virtual time, as fast as it goes) until no VM is starting. */
static void settle(serve *s) {
  uint64_t start = vr_clock_now(s->clock);
  vr_clock_fire_due(s->clock);
  while (vr_clock_now(s->clock) - start < SETTLE_LIMIT_MS) {
    vr_clock_advance(s->clock, vr_clock_now(s->clock) + 1000, 0);
    if (!anything_starting(vr_sim_store(s->sim))) return;
  }
  fprintf(stderr,
          "vmrun serve: warning: VMs still starting after %d simulated minutes; serving "
          "anyway\n",
          SETTLE_LIMIT_MS / 60000);
}

static int write_kubeconfig(const char *path, const char *address) {
  FILE *f = fopen(path, "w");
  if (f == NULL) {
    fprintf(stderr, "vmrun serve: cannot write %s: %s\n", path, strerror(errno));
    return -1;
  }
  fprintf(f,
          "# written by vmrun serve: a kubeconfig for the simulated cluster at http://%s\n"
          "apiVersion: v1\n"
          "kind: Config\n"
          "clusters:\n"
          "- name: vmrun-sim\n"
          "  cluster:\n"
          "    server: http://%s\n"
          "contexts:\n"
          "- name: vmrun-sim\n"
          "  context:\n"
          "    cluster: vmrun-sim\n"
          "    user: vmrun-sim\n"
          "    namespace: default\n"
          "current-context: vmrun-sim\n"
          "users:\n"
          "- name: vmrun-sim\n"
          "  user: {}\n",
          address, address);
  if (fclose(f) != 0) {
    fprintf(stderr, "vmrun serve: cannot write %s: %s\n", path, strerror(errno));
    return -1;
  }
  return 0;
}

static size_t count_kind(vr_store *store, const char *group, const char *kind) {
  const cJSON **items;
  size_t n = vr_store_list(store, group, kind, NULL, NULL, &items);
  if (n == (size_t)-1) return 0;
  free((void *)items);
  return n;
}

static void close_walk(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

/* --feature-gates: comma-separated Gate=bool as Kubernetes components take them; WatchList is the
 * only gate. Returns 0, or -1 for anything else. */
static int parse_feature_gates(const char *spec, int *watch_list_disabled) {
  const char *p = spec;
  while (*p) {
    const char *comma = strchr(p, ',');
    size_t n = comma ? (size_t)(comma - p) : strlen(p);
    if (n == strlen("WatchList=true") && strncmp(p, "WatchList=true", n) == 0)
      *watch_list_disabled = 0;
    else if (n == strlen("WatchList=false") && strncmp(p, "WatchList=false", n) == 0)
      *watch_list_disabled = 1;
    else
      return -1;
    p += n;
    if (*p == ',') p++;
  }
  return 0;
}

int vr_serve_main(int argc, char **argv, const char *default_cluster) {
  const char *cluster = default_cluster, *listen = "127.0.0.1:8080", *log_path = NULL;
  const char *kubeconfig_out = NULL, *faults_spec = NULL;
  char host[64], address[96], err[512];
  double speed = 1;
  unsigned long long seed = 1, history = 0;
  int i, missing = 0, port, bound = 0, no_settle = 0, client_clock = 0, rc = 0;
  int watch_list_disabled = 0;
  FILE *log = NULL;
  serve *s;
  vr_store_error serr;
  vr_http_server_config hc;
  vr_kube_api_config kc;
  for (i = 1; i < argc; i++) {
    const char *a = argv[i], *v;
    char *end;
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      fputs(serve_usage, stdout);
      return 0;
    } else if (strcmp(a, "--no-settle") == 0) {
      no_settle = 1;
    } else if ((v = vr_cli_option_value(argc, argv, &i, "--cluster", &missing)) != NULL) {
      if (missing || !v[0]) return usage_error("option '%s' needs a cluster FILE", a);
      cluster = v;
    } else if ((v = vr_cli_option_value(argc, argv, &i, "--listen", &missing)) != NULL) {
      if (missing || !v[0]) return usage_error("option '%s' needs ADDRESS:PORT", a);
      listen = v;
    } else if ((v = vr_cli_option_value(argc, argv, &i, "--speed", &missing)) != NULL) {
      if (missing) return usage_error("option '%s' needs a number", a);
      speed = strtod(v, &end);
      if (end == v || *end != '\0' || !(speed > 0) || speed > 1e6)
        return usage_error("bad --speed '%s': expected a number above 0 (at most 1000000)", v);
    } else if ((v = vr_cli_option_value(argc, argv, &i, "--clock", &missing)) != NULL) {
      if (missing) return usage_error("option '%s' needs paced or client", a);
      if (strcmp(v, "paced") == 0) {
        client_clock = 0;
      } else if (strcmp(v, "client") == 0) {
        client_clock = 1;
      } else {
        return usage_error("bad --clock '%s': expected paced or client", v);
      }
    } else if ((v = vr_cli_option_value(argc, argv, &i, "--seed", &missing)) != NULL) {
      if (missing) return usage_error("option '%s' needs a number", a);
      errno = 0;
      seed = strtoull(v, &end, 10);
      if (end == v || *end != '\0' || errno != 0)
        return usage_error("bad --seed '%s': expected a non-negative integer", v);
    } else if ((v = vr_cli_option_value(argc, argv, &i, "--watch-history", &missing)) != NULL) {
      if (missing) return usage_error("option '%s' needs a number", a);
      errno = 0;
      history = strtoull(v, &end, 10);
      if (end == v || *end != '\0' || errno != 0 || history < 1 || history > 10000000)
        return usage_error("bad --watch-history '%s': expected 1 to 10000000 events", v);
    } else if ((v = vr_cli_option_value(argc, argv, &i, "--log", &missing)) != NULL) {
      if (missing || !v[0]) return usage_error("option '%s' needs a FILE", a);
      log_path = v;
    } else if ((v = vr_cli_option_value(argc, argv, &i, "--kubeconfig-out", &missing)) != NULL) {
      if (missing || !v[0]) return usage_error("option '%s' needs a FILE", a);
      kubeconfig_out = v;
    } else if ((v = vr_cli_option_value(argc, argv, &i, "--feature-gates", &missing)) != NULL) {
      if (missing || !v[0]) return usage_error("option '%s' needs WatchList=true|false", a);
      if (parse_feature_gates(v, &watch_list_disabled) != 0)
        return usage_error("bad --feature-gates '%s': expected WatchList=true or WatchList=false "
                           "(the only gate vmrun serve has)",
                           v);
    } else if ((v = vr_cli_option_value(argc, argv, &i, "--faults", &missing)) != NULL) {
      if (missing || !v[0]) return usage_error("option '%s' needs a SPEC", a);
      faults_spec = v;
    } else {
      return usage_error("unknown option or argument '%s'", a);
    }
  }
  {
    const char *colon = strrchr(listen, ':');
    char *end;
    long p;
    if (colon == NULL || colon == listen || (size_t)(colon - listen) >= sizeof host)
      return usage_error("bad --listen '%s': expected ADDRESS:PORT such as 127.0.0.1:8080", listen);
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    if (strcmp(host, "localhost") == 0) snprintf(host, sizeof host, "127.0.0.1");
    p = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end != '\0' || p < 0 || p > 65535)
      return usage_error("bad port in --listen '%s': expected 0 to 65535", listen);
    port = (int)p;
  }
  if (cluster == NULL) {
    fprintf(stderr, "vmrun serve: no cluster: give --cluster FILE (the demo cluster is not "
                    "installed)\n");
    return EXIT_USAGE;
  }
  s = calloc(1, sizeof *s);
  if (s == NULL) return 1;
  s->speed = speed;
  if (faults_spec) {
    s->faults = vr_serve_faults_parse(faults_spec, seed, err, sizeof err);
    if (s->faults == NULL) {
      fprintf(stderr, "vmrun serve: bad --faults '%s': %s\n", faults_spec, err);
      free(s);
      return EXIT_USAGE;
    }
  }
  if (log_path) {
    log = fopen(log_path, "a");
    if (log == NULL) {
      fprintf(stderr, "vmrun serve: cannot open %s: %s\n", log_path, strerror(errno));
      vr_serve_faults_free(s->faults);
      free(s);
      return EXIT_USAGE;
    }
  }
  uv_loop_init(&s->loop);
  s->clock = vr_clock_new(&s->loop, 1, 0);
  s->sim = s->clock ? vr_sim_new(s->clock, seed) : NULL;
  if (s->sim == NULL) {
    fprintf(stderr, "vmrun serve: out of memory\n");
    rc = 1;
    goto done;
  }
  if (history > 0 && vr_store_set_event_log(vr_sim_store(s->sim), (size_t)history) != 0) {
    fprintf(stderr, "vmrun serve: out of memory\n");
    rc = 1;
    goto done;
  }
  if (vr_sim_load_file(s->sim, cluster, &serr) != 0) {
    fprintf(stderr, "vmrun serve: %s\n", serr.message);
    rc = EXIT_USAGE;
    goto done;
  }
  if (!no_settle) settle(s);
  memset(&hc, 0, sizeof hc);
  hc.handler = vr_kube_api_handle;
  hc.headers = revision_header;
  hc.headers_ctx = s;
  s->server = NULL;
  memset(&kc, 0, sizeof kc);
  kc.loop = &s->loop;
  kc.sim = s->sim;
  if (!client_clock) { /* a client-driven clock moves only through POST .../clock */
    kc.sync = sync_clock;
    kc.after_write = after_write;
  }
  kc.sync_ctx = s;
  kc.client_clock = client_clock;
  kc.watch_list_disabled = watch_list_disabled;
  kc.speed = speed;
  kc.log = log;
  if (s->faults) {
    kc.fault = vr_serve_faults_decide;
    kc.fault_ctx = s->faults;
  }
  s->api = vr_kube_api_new(&kc);
  hc.ctx = s->api;
  s->server = s->api ? vr_http_server_new(&s->loop, &hc) : NULL;
  if (s->server == NULL) {
    fprintf(stderr, "vmrun serve: out of memory\n");
    rc = 1;
    goto done;
  }
  if (vr_http_server_listen(s->server, host, port, &bound, err, sizeof err) != 0) {
    fprintf(stderr, "vmrun serve: %s\n", err);
    rc = EXIT_USAGE;
    goto done;
  }
  snprintf(address, sizeof address, "%s:%d", host, bound);
  vr_kube_api_set_address(s->api, address);
  if (kubeconfig_out && write_kubeconfig(kubeconfig_out, address) != 0) {
    rc = EXIT_USAGE;
    goto done;
  }
  s->virtual_start = vr_clock_now(s->clock);
  s->real_start_ns = uv_hrtime();
  uv_timer_init(&s->loop, &s->tick);
  s->tick.data = s;
  if (!client_clock) uv_timer_start(&s->tick, on_tick, TICK_MS, TICK_MS);
  uv_signal_init(&s->loop, &s->sigint);
  uv_signal_init(&s->loop, &s->sigterm);
  s->sigint.data = s->sigterm.data = s;
  uv_signal_start(&s->sigint, on_signal, SIGINT);
  uv_signal_start(&s->sigterm, on_signal, SIGTERM);
  /* a write to a client that reset its connection must fail with EPIPE, not kill the server */
  signal(SIGPIPE, SIG_IGN);
  {
    char pace[64];
    if (client_clock) {
      snprintf(pace, sizeof pace, "clock client");
    } else {
      snprintf(pace, sizeof pace, "speed %g", speed);
    }
    printf("vmrun serve: %s (%zu nodes, %zu VMs; seed %llu, %s) on http://%s\n", cluster,
           count_kind(vr_sim_store(s->sim), "", "Node"),
           count_kind(vr_sim_store(s->sim), "kubevirt.io", "VirtualMachine"), seed, pace, address);
  }
  fflush(stdout);
  uv_run(&s->loop, UV_RUN_DEFAULT);
  s->server = NULL; /* freed by its close callback */
done:
  if (s->api) vr_kube_api_free(s->api);
  if (s->server) vr_http_server_close(s->server);
  vr_sim_free(s->sim);
  if (s->clock) vr_clock_free(s->clock);
  uv_walk(&s->loop, close_walk, NULL);
  uv_run(&s->loop, UV_RUN_DEFAULT);
  uv_loop_close(&s->loop);
  vr_serve_faults_free(s->faults);
  if (log) fclose(log);
  free(s);
  return rc;
}
