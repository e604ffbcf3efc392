/* log.h: the run's log on stderr, as text lines or JSON lines, stamped with the run's clock (so a
 * simulated run shows simulated time). Text lines are coloured on a terminal unless NO_COLOR is
 * set. Writing never raises; it only touches Lua through vr_log_of(). */
#ifndef VMRUN_LOG_H
#define VMRUN_LOG_H

#include <lua.h>
#include <stddef.h>

#include "clock.h"
#include "vmrun.h"

typedef struct vr_log {
  vr_log_level level;
  int json;
  int color;
  int tty;          /* text lines on a terminal: a status line may be kept below them */
  int status_shown; /* the status line is on the screen */
  char status[512]; /* its text */
  vr_clock *clock;
} vr_log;

void vr_log_init(vr_log *log, vr_log_level level, int json, vr_clock *clock);
/* Attaches log to L (vr_log_of) for the bindings. */
void vr_log_attach(lua_State *L, vr_log *log);
vr_log *vr_log_of(lua_State *L);

const char *vr_log_level_name(vr_log_level level);
int vr_log_enabled(const vr_log *log, vr_log_level level);

/* One line: msg plus already formatted fields, " k=v k2=v2" for text and "\"k\":v,..." (no
 * leading comma) for JSON; either may be NULL. */
void vr_log_emit(vr_log *log, vr_log_level level, const char *msg, size_t msglen,
                 const char *fields_text, const char *fields_json);
/* The live status line under the log lines, on a terminal only: text replaces it (cut to the
 * terminal's width), NULL or "" removes it. Log lines are written above it. Returns 1 when it is
 * shown (stderr is a terminal and the log is text), else 0 (nothing is written). */
int vr_log_status(vr_log *log, const char *text);
void vr_logf(vr_log *log, vr_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Appends s as a JSON string literal (quotes included) to buf; returns the length it needs. */
size_t vr_json_quote(const char *s, size_t len, char *buf, size_t cap);

#endif
