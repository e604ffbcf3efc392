/* schedule_run.h: running a schedule (`vmrun schedule FILE`, docs/schedule.md): vmrun as a
 * daemon that starts each runbook at its cron times as a child vmrun (an argv array, never a
 * shell), one run at a time, inside its windows with --window-end so that a rolling maintenance
 * starts no batch that would overrun the window, resumes a run paused at a window's end (or cut
 * short by a crash) when its runbook may next run, and writes the history as fsync'd JSON lines.
 *
 * It may not act on a cluster itself: the child runs do, under their own cluster lock. No Lua. */
#ifndef VMRUN_SCHEDULE_RUN_H
#define VMRUN_SCHEDULE_RUN_H

#include "schedule.h"

typedef struct vr_schedule_daemon_options {
  const char *self;    /* the vmrun binary the runs are started with */
  const char *runbook; /* --run NAME: this runbook now (under the schedule's rules), then exit */
  int once;            /* --once: exit after the first run */
} vr_schedule_daemon_options;

/* Runs the schedule until SIGINT/SIGTERM (or, with once/runbook, one run). Returns the exit code:
 * 0; 2 for a schedule that cannot run (its history held by another daemon or unreadable, --run
 * of a runbook that may not start now); with once/runbook the run's own exit code; 130 when a
 * signal stopped a run. */
int vr_schedule_daemon(vr_schedule *s, const vr_schedule_daemon_options *o);

#endif
