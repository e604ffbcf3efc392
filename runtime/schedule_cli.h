/* schedule_cli.h: the `vmrun schedule` command (docs/schedule.md): --list prints a schedule
 * file's next runs, --check only checks the file, and without them the schedule runs
 * (schedule_run.h). No Lua. */
#ifndef VMRUN_SCHEDULE_CLI_H
#define VMRUN_SCHEDULE_CLI_H

/* argv[0] is "schedule". Returns the process exit code: 0, or 2 for a usage error or a bad
 * schedule file (one line naming file:line:column). */
int vr_schedule_main(int argc, char **argv);

#endif
