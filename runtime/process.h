/* process.h: host commands run from an argv array (never a shell string) on the libuv loop,
 * with captured stdout/stderr, optional stdin text, environment additions and a working
 * directory. The done callback runs from the loop once the process exited and both output
 * streams are drained; it must only enqueue work. Counts as real I/O on the clock. */
#ifndef VMRUN_PROCESS_H
#define VMRUN_PROCESS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "clock.h"

#define VR_PROCESS_MAX_OUTPUT (16u << 20) /* per stream; more is dropped and marked truncated */

typedef struct vr_process vr_process;
typedef void (*vr_process_done_cb)(vr_process *p, void *data);

typedef struct vr_process_spec {
  char **argv;            /* argv[0] is looked up in PATH; NULL-terminated */
  char **env_add;         /* "KEY=value" entries added to the inherited environment, or NULL */
  const char *cwd;        /* NULL: the current directory */
  const char *stdin_data; /* NULL: stdin is /dev/null */
  size_t stdin_len;
} vr_process_spec;

typedef struct vr_process_result {
  int exited;            /* 1 when it exited with a status, 0 when killed by a signal */
  int64_t status;        /* exit status */
  int term_signal;       /* signal number when killed */
  const char *out, *err; /* captured output (NUL-terminated), valid until vr_process_free */
  size_t out_len, err_len;
  int out_truncated, err_truncated;
  double seconds; /* real time it ran */
} vr_process_result;

/* Starts the process. Returns 0, or a libuv error code with a message in err (nothing to free). */
int vr_process_start(uv_loop_t *loop, vr_clock *clock, const vr_process_spec *spec,
                     vr_process_done_cb cb, void *data, vr_process **out, char *err, size_t errlen);
/* Sends SIGTERM now and SIGKILL after grace_ms if it is still running. */
void vr_process_terminate(vr_process *p, unsigned grace_ms);
/* After the done callback: the result. */
const vr_process_result *vr_process_result_get(const vr_process *p);
/* Frees a finished process (only after its done callback ran). */
void vr_process_free(vr_process *p);

#endif
