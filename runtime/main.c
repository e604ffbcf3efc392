/* main.c: the vmrun command line. Parses vmrun's own options (they come before the playbook;
 * everything after the playbook belongs to it), creates a host (vmrun.h) and runs the playbook,
 * a -e string, or `vmrun test` specs; `vmrun resume` runs a journal's command line again as the
 * same run. Usage errors exit 2 with one line naming the option. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "journal.h"
#include "json_pool.h"
#include "schedule.h"
#include "schedule_cli.h"
#include "serve.h"
#include "vmrun.h"

static const char usage_text[] =
    "usage: vmrun [options] PLAYBOOK [ARGS...]\n"
    "       vmrun [options] -e CODE [ARGS...]\n"
    "       vmrun [options] test SPEC.lua...\n"
    "       vmrun serve [serve options]   (vmrun serve --help)\n"
    "       vmrun resume [RUN_ID] [--state-dir DIR] [--window-end TIME] [--retry-failed]\n"
    "       vmrun abort RUN_ID [--state-dir DIR]\n"
    "       vmrun undo RUN_ID [--state-dir DIR]\n"
    "       vmrun schedule FILE | --list FILE | --check FILE   (vmrun schedule --help)\n"
    "\n"
    "Runs a Lua maintenance playbook (PLAYBOOK \"-\" reads it from standard input). Options of\n"
    "the playbook itself come after PLAYBOOK.\n"
    "\n"
    "options:\n"
    "  -e CODE                 run CODE instead of a playbook file\n"
    "  -v, --verbose           also write debug log lines\n"
    "  -q, --quiet             write only warnings and errors\n"
    "  --log-format text|json  log line format on stderr (default text)\n"
    "  --timeout DURATION      wall-clock limit for the whole run (\"90s\", \"20m\", \"2h\");\n"
    "                          when reached, tasks are cancelled, cleanup runs, exit code 3\n"
    "  --max-memory SIZE       limit of the Lua heap (\"512M\", \"2G\")\n"
    "  --cluster FILE          simulate this cluster (Kubernetes YAML); without it a playbook\n"
    "                          that uses the cluster simulates the demo cluster\n"
    "  --real-time             use the real clock (default: the simulator's virtual clock)\n"
    "  --kubeconfig FILE       act on the real cluster of this kubeconfig (a ':'-separated\n"
    "                          list merges files, as KUBECONFIG does)\n"
    "  --context NAME          act on this context of the kubeconfig ($KUBECONFIG, else\n"
    "                          ~/.kube/config, unless --kubeconfig names one)\n"
    "  --namespace NS          the namespace of names given without one (default: the\n"
    "                          context's); also selects the kubeconfig's current context\n"
    "  --in-cluster            act on the cluster vmrun runs in (its pod's service account)\n"
    "                          Without one of these four vmrun never touches a real cluster.\n"
    "  --rehearse              with one of them: read that cluster into the simulator, close\n"
    "                          the connection and run the playbook on the copy (virtual clock;\n"
    "                          nothing changes on the cluster; docs/rehearse.md)\n"
    "  --state-dir DIR         where the run's journal goes (default: .vmrun beside the\n"
    "                          playbook); `vmrun resume` continues a run from it\n"
    "  --window-end TIME       the maintenance window ends at TIME (ISO 8601, e.g.\n"
    "                          2026-12-20T04:00Z; no offset: UTC) or in +DURATION (+4h):\n"
    "                          a rolling maintenance starts no batch that would not end in\n"
    "                          time, and pauses (exit 4; docs/schedule.md)\n"
    "  --run-id ID             the id of this new run (default: the time and random digits)\n"
    "  --dev-runtime DIR       load the stdlib-lua modules from DIR instead of the binary\n"
    "  --version               print the version and exit\n"
    "  -h, --help              print this help and exit\n"
    "\n"
    "exit codes: 0 ok, 1 playbook failed, 2 usage or input error, 3 timeout, 4 paused at the\n"
    "window's end (`vmrun resume` continues), 130 interrupted\n";

static int usage_error(const char *fmt, const char *arg) {
  return vr_cli_usage_error("vmrun", fmt, arg);
}

/* The demo cluster's file: $VMRUN_DEMO_CLUSTER (set but empty: none), else the installed copy,
 * else the source tree's; NULL when there is none. */
static const char *demo_cluster(void) {
  const char *env = getenv("VMRUN_DEMO_CLUSTER");
  if (env != NULL) return env[0] != '\0' ? env : NULL;
  if (access(VMRUN_DEMO_CLUSTER_INSTALLED, R_OK) == 0) return VMRUN_DEMO_CLUSTER_INSTALLED;
  if (access(VMRUN_DEMO_CLUSTER_SOURCE, R_OK) == 0) return VMRUN_DEMO_CLUSTER_SOURCE;
  return NULL;
}

static int run(int argc, char **argv, const char *resume_run);

static void free_argv(char **argv, int n) {
  int i;
  for (i = 1; i < n; i++) free(argv[i]); /* argv[0] is the program's own */
  free(argv);
}

/* vmrun resume [RUN_ID] [--state-dir DIR] [--window-end TIME] [--retry-failed]: the journal's
 * command line, run again in its folder as the same run (its journal says what is done already),
 * in the window given now (the recorded command line has none), taking up the nodes that failed
 * in earlier attempts again when asked. */
static int resume_main(int argc, char **argv) {
  const char *run_id = NULL, *state_dir = NULL, *window_end = NULL, *v;
  char err[1200];
  vr_journal_found found;
  const cJSON *args, *cwd, *item;
  char **new_argv, id[VR_RUN_ID_MAX];
  int i, missing = 0, n = 0, rc, retry_failed = 0, added;
  for (i = 2; i < argc; i++) {
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      fputs("usage: vmrun resume [RUN_ID] [--state-dir DIR] [--window-end TIME] [--retry-failed]"
            "\n\nContinues an interrupted, stopped or paused run from its journal "
            "(docs/journal.md):\nthe newest unfinished one without RUN_ID. --window-end: the "
            "window this attempt runs\nin. --retry-failed: the nodes that failed in earlier "
            "attempts are maintained again,\nbefore the nodes not started yet (without it they "
            "stay failed).\n",
            stdout);
      return 0;
    } else if (strcmp(argv[i], "--retry-failed") == 0) {
      retry_failed = 1;
    } else if ((v = vr_cli_option_value(argc, argv, &i, "--state-dir", &missing)) != NULL) {
      if (missing || v[0] == '\0') return usage_error("option '%s' needs a DIR", "--state-dir");
      state_dir = v;
    } else if ((v = vr_cli_option_value(argc, argv, &i, "--window-end", &missing)) != NULL) {
      if (missing || v[0] == '\0') return usage_error("option '%s' needs a TIME", "--window-end");
      window_end = v;
    } else if (argv[i][0] == '-' || run_id != NULL) {
      return usage_error("vmrun resume: unexpected argument '%s'", argv[i]);
    } else {
      run_id = argv[i];
    }
  }
  if (state_dir == NULL && access(".vmrun/runs", F_OK) == 0) state_dir = ".vmrun";
  if (vr_journal_find(state_dir, run_id, &found, err, sizeof err) != 0) {
    fprintf(stderr, "vmrun resume: %s\n", err);
    return VMRUN_EXIT_USAGE;
  }
  if (found.finished) {
    fprintf(stderr, "vmrun resume: run %s has finished (%s): there is nothing to resume\n",
            found.id, found.path);
    cJSON_Delete(found.header);
    return VMRUN_EXIT_USAGE;
  }
  args = cJSON_GetObjectItemCaseSensitive(found.header, "argv");
  cwd = cJSON_GetObjectItemCaseSensitive(found.header, "cwd");
  if (!cJSON_IsArray(args) || !cJSON_IsString(cwd)) {
    fprintf(stderr, "vmrun resume: %s:1: the run record has no command line (argv, cwd)\n",
            found.path);
    cJSON_Delete(found.header);
    return VMRUN_EXIT_USAGE;
  }
  new_argv = calloc((size_t)cJSON_GetArraySize(args) + 5, sizeof *new_argv);
  if (new_argv == NULL) {
    cJSON_Delete(found.header);
    return VMRUN_EXIT_FAILED;
  }
  new_argv[n++] = argv[0];
  if (window_end != NULL) { /* (checked by run, as any --window-end) */
    new_argv[n++] = strdup("--window-end");
    new_argv[n++] = strdup(window_end);
  }
  if (retry_failed) new_argv[n++] = strdup("--retry-failed");
  added = n - 1;
  for (i = 1; i < n; i++) {
    if (new_argv[i] == NULL) {
      free_argv(new_argv, n);
      cJSON_Delete(found.header);
      return VMRUN_EXIT_FAILED;
    }
  }
  cJSON_ArrayForEach(item, args) {
    if (!cJSON_IsString(item)) {
      fprintf(stderr, "vmrun resume: %s:1: the recorded command line is not a list of strings\n",
              found.path);
      free_argv(new_argv, n);
      cJSON_Delete(found.header);
      return VMRUN_EXIT_USAGE;
    }
    if ((new_argv[n] = strdup(item->valuestring)) == NULL) break;
    n++;
  }
  if (n != cJSON_GetArraySize(args) + 1 + added || chdir(cwd->valuestring) != 0) {
    fprintf(stderr, "vmrun resume: cannot go to the run's folder %s: %s\n", cwd->valuestring,
            strerror(errno));
    free_argv(new_argv, n);
    cJSON_Delete(found.header);
    return VMRUN_EXIT_USAGE;
  }
  fprintf(stderr, "vmrun: resuming run %s (%s) in %s:", found.id, found.path, cwd->valuestring);
  for (i = 1; i < n; i++) fprintf(stderr, " %s", new_argv[i]);
  fprintf(stderr, "\n");
  snprintf(id, sizeof id, "%s", found.id);
  cJSON_Delete(found.header); /* (before run, which releases the pool of cJSON blocks) */
  rc = run(n, new_argv, id);
  free_argv(new_argv, n);
  return rc;
}

/* vmrun abort|undo RUN_ID [--state-dir DIR]: its journal, or exit 2 (the message printed). */
static int find_run(int argc, char **argv, vr_journal_found *found) {
  const char *run_id = NULL, *state_dir = NULL, *v;
  char err[1200];
  int i, missing = 0;
  for (i = 2; i < argc; i++) {
    if ((v = vr_cli_option_value(argc, argv, &i, "--state-dir", &missing)) != NULL) {
      if (missing || v[0] == '\0') return usage_error("option '%s' needs a DIR", "--state-dir");
      state_dir = v;
    } else if (argv[i][0] == '-' || run_id != NULL) {
      fprintf(stderr,
              "vmrun %s: unexpected argument '%s' (usage: vmrun %s RUN_ID [--state-dir DIR])\n",
              argv[1], argv[i], argv[1]);
      return VMRUN_EXIT_USAGE;
    } else {
      run_id = argv[i];
    }
  }
  if (run_id == NULL) {
    fprintf(stderr, "usage: vmrun %s RUN_ID [--state-dir DIR]\n", argv[1]);
    return VMRUN_EXIT_USAGE;
  }
  if (state_dir == NULL && access(".vmrun/runs", F_OK) == 0) state_dir = ".vmrun";
  if (vr_journal_find(state_dir, run_id, found, err, sizeof err) != 0) {
    fprintf(stderr, "vmrun %s: %s\n", argv[1], err);
    return VMRUN_EXIT_USAGE;
  }
  return 0;
}

/* vmrun abort RUN_ID: asks the run's process (on this host) to stop, as a first Ctrl-C does. */
static int abort_main(int argc, char **argv) {
  vr_journal_found found;
  char host[256], here[256] = "";
  int pid, rc = find_run(argc, argv, &found);
  if (rc != 0) return rc;
  cJSON_Delete(found.header);
  pid = vr_journal_run_process(found.path, host, sizeof host);
  if (gethostname(here, sizeof here) != 0) here[0] = '\0';
  here[sizeof here - 1] = '\0';
  if (pid > 0 && host[0] && strcmp(host, here) != 0) {
    fprintf(stderr, "vmrun abort: run %s runs on host %s (pid %d): abort it there\n", found.id,
            host, pid);
    return VMRUN_EXIT_USAGE;
  }
  if (!vr_vmrun_alive(pid)) {
    fprintf(stderr,
            "vmrun abort: run %s is not running%s: `vmrun resume %s` continues it, `vmrun undo "
            "%s` puts back what it changed\n",
            found.id, found.finished ? " (it finished)" : "", found.id, found.id);
    return VMRUN_EXIT_USAGE;
  }
  if (kill(pid, SIGINT) != 0) {
    fprintf(stderr, "vmrun abort: cannot signal run %s (pid %d): %s\n", found.id, pid,
            strerror(errno));
    return VMRUN_EXIT_FAILED;
  }
  printf("asked run %s (pid %d) to stop: no new work starts; it ends what is in flight as its "
         "--on-abort says\n",
         found.id, pid);
  return 0;
}

/* vmrun undo RUN_ID: the run's cluster options, then vmrun.journal's undo of its journal. */
static int undo_main(int argc, char **argv) {
  vr_journal_found found;
  const cJSON *opts, *cwd, *item;
  char host[256], path[4096], id[VR_RUN_ID_MAX];
  char **new_argv;
  int n = 0, rc = find_run(argc, argv, &found), pid;
  if (rc != 0) return rc;
  pid = vr_journal_run_process(found.path, host, sizeof host);
  {
    char here[256] = "";
    if (gethostname(here, sizeof here) != 0) here[0] = '\0';
    here[sizeof here - 1] = '\0';
    if (host[0] && strcmp(host, here) != 0) {
      /* another host (another pod): its process cannot be seen from here */
      fprintf(stderr,
              "vmrun undo: run %s ran on host %s (pid %d): make sure it is not running there any "
              "more\n",
              found.id, host, pid);
    } else if (vr_vmrun_alive(pid)) {
      fprintf(stderr, "vmrun undo: run %s is still running (pid %d): `vmrun abort %s` first\n",
              found.id, pid, found.id);
      cJSON_Delete(found.header);
      return VMRUN_EXIT_USAGE;
    }
  }
  opts = cJSON_GetObjectItemCaseSensitive(found.header, "options");
  cwd = cJSON_GetObjectItemCaseSensitive(found.header, "cwd");
  if (!cJSON_IsArray(opts) || !cJSON_IsString(cwd)) {
    fprintf(stderr, "vmrun undo: %s:1: the run record has no options or cwd\n", found.path);
    cJSON_Delete(found.header);
    return VMRUN_EXIT_USAGE;
  }
  new_argv = calloc((size_t)cJSON_GetArraySize(opts) + 6, sizeof *new_argv);
  if (new_argv == NULL) {
    cJSON_Delete(found.header);
    return VMRUN_EXIT_FAILED;
  }
  new_argv[n++] = argv[0];
  cJSON_ArrayForEach(item, opts) {
    /* the run's cluster and log options; not its journal's (the undo writes to the run's own) */
    if (!cJSON_IsString(item)) continue;
    if (strcmp(item->valuestring, "--state-dir") == 0) {
      if (item->next) item = item->next;
      continue;
    }
    if (strncmp(item->valuestring, "--state-dir=", 12) == 0) continue;
    if ((new_argv[n] = strdup(item->valuestring)) == NULL) break;
    n++;
  }
  snprintf(path, sizeof path, "%s", found.path);
  snprintf(id, sizeof id, "%s", found.id);
  if (chdir(cwd->valuestring) != 0) {
    fprintf(stderr, "vmrun undo: cannot go to the run's folder %s: %s\n", cwd->valuestring,
            strerror(errno));
    free_argv(new_argv, n);
    cJSON_Delete(found.header);
    return VMRUN_EXIT_USAGE;
  }
  cJSON_Delete(found.header); /* (before run, which releases the pool of cJSON blocks) */
  new_argv[n++] = strdup("-e");
  new_argv[n++] = strdup("vmrun.exit(require('vmrun.journal').undo(...))");
  new_argv[n++] = strdup(path);
  for (rc = 1; rc < n; rc++) {
    if (new_argv[rc] == NULL) {
      free_argv(new_argv, n);
      return VMRUN_EXIT_FAILED;
    }
  }
  fprintf(stderr, "vmrun: undoing run %s (%s)\n", id, path);
  rc = run(n, new_argv, NULL);
  free_argv(new_argv, n);
  return rc;
}

int main(int argc, char **argv) {
  int rc;
  vr_json_pool_install(); /* before any cJSON block exists */
  if (argc >= 2 && strcmp(argv[1], "resume") == 0) return resume_main(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "abort") == 0) return abort_main(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "undo") == 0) return undo_main(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "schedule") == 0) return vr_schedule_main(argc - 1, argv + 1);
  if (argc < 2 || strcmp(argv[1], "serve") != 0) return run(argc, argv, NULL);
  rc = vr_serve_main(argc - 1, argv + 1, demo_cluster());
  vr_json_pool_begin_exit();
  vr_json_pool_release();
  return rc;
}

static int run_parsed(int argc, char **argv, const char *resume_run, char *per_attempt,
                      char **recorded);

/* The command line of a run: options, then the playbook, -e CODE or test. */
static int run(int argc, char **argv, const char *resume_run) {
  int rc;
  /* 1: not recorded (--window-end, --run-id, --retry-failed) */
  char *per_attempt = calloc((size_t)argc + 1, 1);
  char **recorded = calloc((size_t)argc + 1, sizeof *recorded);
  if (per_attempt == NULL || recorded == NULL) {
    free(per_attempt);
    free(recorded);
    return VMRUN_EXIT_FAILED;
  }
  rc = run_parsed(argc, argv, resume_run, per_attempt, recorded);
  free(per_attempt);
  free(recorded);
  return rc;
}

/* run's work. per_attempt (argc bytes, zeroed) marks the arguments that the journal does not
 * record; recorded (argc pointers) receives the others. */
static int run_parsed(int argc, char **argv, const char *resume_run, char *per_attempt,
                      char **recorded) {
  vr_host_config cfg;
  vr_host *host;
  const char *code = NULL;
  int i, j, missing = 0, rc, run_tests = 0, nrecorded = 0, host_recorded = 0;
  int64_t window_end;
  vr_host_config_init(&cfg);
  cfg.handle_signals = 1;
  cfg.resume_run = resume_run;
  for (i = 1; i < argc; i++) {
    const char *a = argv[i], *v;
    int opt_at = i;
    if (a[0] != '-' || strcmp(a, "-") == 0) break;
    if (strcmp(a, "--") == 0) {
      i++;
      break;
    }
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      fputs(usage_text, stdout);
      return 0;
    }
    if (strcmp(a, "--version") == 0) {
      printf("vmrun %s (%s)\n", vr_version(), LUA_RELEASE);
      return 0;
    }
    if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
      cfg.log_level = VR_LOG_DEBUG;
    } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
      cfg.log_level = VR_LOG_WARN;
    } else if (strcmp(a, "--real-time") == 0) {
      cfg.real_time = 1;
    } else if (strcmp(a, "-e") == 0) {
      if (i + 1 >= argc) return usage_error("option '%s' needs CODE", a);
      code = argv[++i];
      i++;
      break;
    } else if ((v = vr_cli_option_value(argc, argv, &i, "--log-format", &missing)) != NULL) {
      if (missing) return usage_error("option '%s' needs a value: text or json", a);
      if (strcmp(v, "json") == 0) {
        cfg.log_json = 1;
      } else if (strcmp(v, "text") != 0) {
        return usage_error("bad value '%s' for --log-format: expected text or json", v);
      }
    } else if ((v = vr_cli_option_value(argc, argv, &i, "--timeout", &missing)) != NULL) {
      if (missing) return usage_error("option '%s' needs a DURATION like 90s, 20m or 2h", a);
      if (vr_parse_duration(v, &cfg.timeout) != 0 || cfg.timeout <= 0) {
        return usage_error("bad duration '%s' for --timeout: expected e.g. 90s, 20m, 2h", v);
      }
    } else if ((v = vr_cli_option_value(argc, argv, &i, "--max-memory", &missing)) != NULL) {
      if (missing) return usage_error("option '%s' needs a SIZE like 512M", a);
      if (vr_parse_size(v, &cfg.max_memory) != 0 || cfg.max_memory < (1u << 20)) {
        return usage_error("bad size '%s' for --max-memory: expected e.g. 64M, 512M, 2G (>= 1M)",
                           v);
      }
    } else if ((v = vr_cli_option_value(argc, argv, &i, "--cluster", &missing)) != NULL) {
      if (missing || v[0] == '\0') return usage_error("option '%s' needs a cluster FILE", a);
      cfg.cluster_file = v;
    } else if (strcmp(a, "--in-cluster") == 0) {
      cfg.in_cluster = 1;
    } else if (strcmp(a, "--rehearse") == 0) {
      cfg.rehearse = 1;
    } else if ((v = vr_cli_option_value(argc, argv, &i, "--kubeconfig", &missing)) != NULL) {
      if (missing || v[0] == '\0') return usage_error("option '%s' needs a kubeconfig FILE", a);
      cfg.kubeconfig = v;
    } else if ((v = vr_cli_option_value(argc, argv, &i, "--context", &missing)) != NULL) {
      if (missing || v[0] == '\0') return usage_error("option '%s' needs a context NAME", a);
      cfg.context = v;
    } else if ((v = vr_cli_option_value(argc, argv, &i, "--namespace", &missing)) != NULL) {
      if (missing || v[0] == '\0') return usage_error("option '%s' needs a NAMESPACE", a);
      cfg.namespace_ = v;
    } else if ((v = vr_cli_option_value(argc, argv, &i, "--state-dir", &missing)) != NULL) {
      if (missing || v[0] == '\0') return usage_error("option '%s' needs a DIR", a);
      cfg.state_dir = v;
    } else if ((v = vr_cli_option_value(argc, argv, &i, "--dev-runtime", &missing)) != NULL) {
      if (missing) return usage_error("option '%s' needs a DIR", a);
      cfg.dev_runtime = v;
    } else if ((v = vr_cli_option_value(argc, argv, &i, "--window-end", &missing)) != NULL) {
      double in;
      if (missing || v[0] == '\0') return usage_error("option '%s' needs a TIME", a);
      if (v[0] == '+' && vr_parse_duration(v + 1, &in) == 0 && in > 0) {
        window_end = (int64_t)time(NULL) + (int64_t)in; /* "+4h": from now */
      } else if (vr_schedule_parse_time(v, NULL, &window_end) != 0) {
        return usage_error("bad --window-end '%s': expected an ISO 8601 time such as "
                           "2026-12-20T04:00Z or 2026-12-20T05:00+01:00, or +DURATION from now "
                           "such as +4h",
                           v);
      }
      cfg.window_end = (long long)window_end;
      memset(per_attempt + opt_at, 1, (size_t)(i - opt_at + 1));
    } else if ((v = vr_cli_option_value(argc, argv, &i, "--run-id", &missing)) != NULL) {
      if (missing || !vr_run_id_valid(v))
        return usage_error("bad --run-id '%s': letters, digits, '-' and '_', at most 47", v);
      cfg.run_id = v;
      memset(per_attempt + opt_at, 1, (size_t)(i - opt_at + 1));
    } else if (strcmp(a, "--retry-failed") == 0) {
      if (resume_run == NULL)
        return usage_error("%s belongs to `vmrun resume`: a new run has no failed nodes",
                           "--retry-failed");
      cfg.retry_failed = 1;
      per_attempt[opt_at] = 1;
    } else {
      return usage_error("unknown option '%s'", a);
    }
  }
  if (code == NULL && i < argc && strcmp(argv[i], "test") == 0) {
    run_tests = 1;
    i++;
    if (i >= argc) return usage_error("%s needs at least one SPEC.lua file", "vmrun test");
  }
  if (code == NULL && !run_tests && i >= argc) {
    fputs(usage_text, stderr);
    return VMRUN_EXIT_USAGE;
  }
  if (cfg.kubeconfig || cfg.context || cfg.namespace_ || cfg.in_cluster) {
    if (cfg.cluster_file != NULL)
      return usage_error("%s: a run acts on a real cluster or simulates one, not both",
                         "--cluster");
    if (cfg.in_cluster && (cfg.kubeconfig || cfg.context))
      return usage_error("%s: the pod's service account, or a kubeconfig, not both",
                         "--in-cluster");
    if (run_tests) return usage_error("%s: specs run on the simulator", "vmrun test");
    if (!cfg.rehearse) cfg.real_time = 1; /* a real cluster moves in real time; its copy not */
  } else if (cfg.rehearse) {
    return usage_error("%s needs a real cluster to copy: --kubeconfig FILE, --context NAME or "
                       "--in-cluster (--cluster FILE already runs on the simulator)",
                       "--rehearse");
  } else {
    cfg.default_cluster = demo_cluster();
  }
  if (cfg.run_id != NULL && resume_run != NULL)
    return usage_error("%s: a resumed run keeps its id", "--run-id");
  /* the command line the journal records, without the options of this attempt alone */
  for (j = 0; j < argc; j++) {
    if (per_attempt[j]) continue;
    recorded[nrecorded++] = argv[j];
    if (j < i - (code != NULL)) host_recorded++;
  }
  cfg.host_argc = host_recorded;
  cfg.host_argv = recorded;
  cfg.run_argc = nrecorded - 1;
  cfg.run_argv = recorded + 1;
  host = vr_host_new(&cfg);
  if (host == NULL) return VMRUN_EXIT_FAILED;
  if (run_tests) {
    rc = vr_host_run_specs(host, argc - i, argv + i);
  } else if (code != NULL) {
    rc = vr_host_run_string(host, code, "=(command line)", argc - i, argv + i);
  } else {
    rc = vr_host_run_file(host, argv[i], argc - i - 1, argv + i + 1);
  }
  vr_json_pool_begin_exit(); /* the cluster's trees go with the pool's arenas, not one by one */
  vr_host_free(host);
  vr_json_pool_release();
  return rc;
}
