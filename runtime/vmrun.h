/* vmrun.h: the public embedding API of libvmrun.
 *
 * A host program creates a vr_host (a Lua 5.4 state with vmrun's standard library, a libuv loop,
 * a clock and the task scheduler), may register C modules of its own, and runs a playbook file or
 * a string as task 0; the call returns when every task has finished, with one of the VR_EXIT_*
 * codes. One vr_host per thread; a host runs one playbook at a time. The host never calls
 * exit(); errors are reported on stderr and in the returned code.
 *
 *   vr_host_config cfg;
 *   vr_host_config_init(&cfg);
 *   vr_host *h = vr_host_new(&cfg);
 *   vr_host_register_module(h, "greet", luaopen_greet, "greet");
 *   int code = vr_host_run_file(h, "script.lua", argc, argv);
 *   vr_host_free(h);
 */
#ifndef VMRUN_H
#define VMRUN_H

#include <stddef.h>

#include <lua.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VMRUN_EXIT_OK          0
#define VMRUN_EXIT_FAILED      1   /* the playbook failed */
#define VMRUN_EXIT_USAGE       2   /* usage or input error (bad option, missing file, syntax) */
#define VMRUN_EXIT_TIMEOUT     3   /* --timeout reached, or an unhandled timeout error */
#define VMRUN_EXIT_INTERRUPTED 130 /* SIGINT / SIGTERM */

typedef struct vr_host vr_host;

typedef enum { VR_LOG_DEBUG = 0, VR_LOG_INFO = 1, VR_LOG_WARN = 2, VR_LOG_ERROR = 3 } vr_log_level;

typedef struct vr_host_config {
  const char *progname;     /* prefix of messages; default "vmrun" */
  const char *dev_runtime;  /* load stdlib-lua from this directory instead of the embedded copy */
  vr_log_level log_level;   /* default VR_LOG_INFO */
  int log_json;             /* JSON lines on stderr instead of text */
  double timeout;           /* whole-run wall-clock limit in seconds; 0: none */
  size_t max_memory;        /* Lua heap limit in bytes; 0: none */
  int real_time;            /* 1: real clock; 0: virtual clock (the simulator's default) */
  int handle_signals;       /* 1: first SIGINT/SIGTERM cancels gracefully, second exits */
  const char *cluster_file; /* simulate this cluster file from the start (--cluster) */
  const char *default_cluster; /* without cluster_file: the cluster file a playbook (not `vmrun
                                  test`) simulates on its first cluster access; NULL: none */
  /* The REST backend: a real Kubernetes cluster the user named (any of these selects it; the
   * strings must outlive the host). Without them a run stays on the simulator. */
  const char *kubeconfig; /* --kubeconfig FILE (or a ':'-separated list) */
  const char *context;    /* --context NAME */
  const char *namespace_; /* --namespace NS: the namespace of names given without one */
  int in_cluster;         /* --in-cluster: the service account of the pod vmrun runs in */
  int rehearse;  /* --rehearse: read the named cluster into the simulator, close the connection
                    and run the playbook there (it changes nothing on the cluster) */
  int host_argc; /* the host's own arguments, for arg[-n] (may be 0) */
  char **host_argv;
  /* The run, for its journal (stdlib-lua/vmrun/journal.lua): the command line to record (the
   * arguments after the program's name), the folder of the journal (NULL: .vmrun beside the
   * playbook) and, for `vmrun resume`, the run id it continues (NULL: a new run). */
  int run_argc;
  char **run_argv;
  const char *state_dir;
  const char *resume_run;
  /* --run-id: the id of a new run (NULL: a fresh one); `vmrun schedule` names its runs. */
  const char *run_id;
  /* --window-end: the end of the maintenance window this attempt runs in, as seconds since the
   * epoch (0: none). Not part of the recorded command line: each attempt has its own window. */
  long long window_end;
  /* `vmrun resume --retry-failed`: the nodes that failed in earlier attempts of the resumed run
   * are maintained again (run info retry_failed; maintenance.rolling's retry_failed). */
  int retry_failed;
} vr_host_config;

void vr_host_config_init(vr_host_config *cfg);

/* NULL on failure, with a message on stderr. */
vr_host *vr_host_new(const vr_host_config *cfg);
void vr_host_free(vr_host *h);

/* The Lua state, for registering things directly (do not run Lua code on it yourself). */
lua_State *vr_host_lua(vr_host *h);

/* Makes require(name) return open()'s result and, when global is not NULL, also makes it
 * available as that global (loaded on first use). Returns 0, or -1 with a message on stderr. */
int vr_host_register_module(vr_host *h, const char *name, lua_CFunction open, const char *global);

/* Runs a playbook file (text only) or a string as task 0 with args as `...` and in `arg`. Returns
 * a VMRUN_EXIT_* code. */
int vr_host_run_file(vr_host *h, const char *path, int argc, char **argv);
int vr_host_run_string(vr_host *h, const char *code, const char *chunkname, int argc, char **argv);

/* Runs the Lua spec files (`vmrun test`): 0 when every spec passed. */
int vr_host_run_specs(vr_host *h, int nfiles, char **files);

const char *vr_version(void);

#ifdef __cplusplus
}
#endif

#endif
