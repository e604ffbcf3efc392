/* args.h: argument helpers shared by the bindings: durations, sizes and option tables.
 * The vr_check_* functions raise Lua errors naming the caller's file:line; vr_parse_* do not
 * touch Lua and return -1 on bad input. */
#ifndef VMRUN_ARGS_H
#define VMRUN_ARGS_H

#include <lua.h>
#include <stddef.h>

/* "90", "90s", "1.5m", "20m", "2h", "1h30m", "500ms", "2d" -> seconds. Numbers are plain
 * decimals: no sign, exponent or hex. */
int vr_parse_duration(const char *text, double *seconds);
/* "512", "100B", "512K", "64M", "1G", "64MiB", "64MB" -> bytes. */
int vr_parse_size(const char *text, size_t *bytes);

/* Command-line options: matches "--name VALUE" and "--name=VALUE" at argv[*i] and advances *i
 * past the value. Returns the value; NULL when argv[*i] is not this option; "" with *missing
 * set when the value is missing. */
const char *vr_cli_option_value(int argc, char **argv, int *i, const char *name, int *missing);
/* A command-line usage error on stderr, one line: "COMMAND: " fmt (with arg) " (see COMMAND
 * --help)", where COMMAND is "vmrun", "vmrun serve", ... Returns 2, the usage exit code. */
int vr_cli_usage_error(const char *command, const char *fmt, const char *arg);

/* A duration argument: a non-negative number of seconds or a duration string. Raises
 * "bad duration 'x' for <what>: ..." */
double vr_check_duration(lua_State *L, int idx, const char *what);
/* Optional duration (nil/none gives dflt). */
double vr_opt_duration(lua_State *L, int idx, const char *what, double dflt);
/* A timeout given as a duration or as an options table {timeout=}; dflt when absent. */
double vr_check_timeout_arg(lua_State *L, int idx, double dflt);

/* Raises "unknown option 'x' for <fname> (expected one of: a, b, c)" if the table at idx has a
 * key that is not in the NULL-terminated list. */
void vr_check_options(lua_State *L, int idx, const char *fname, const char *const allowed[]);

/* Levenshtein distance of two names up to 63 bytes (99 for longer ones), for "did you mean"
 * suggestions. */
int vr_edit_distance(const char *a, const char *b, int ignore_case);

#endif
