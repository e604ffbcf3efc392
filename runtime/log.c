/* log.c: text and JSON log lines on stderr (see log.h). Never raises. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static const char log_key = 'l';

void vr_log_init(vr_log *log, vr_log_level level, int json, vr_clock *clock) {
  const char *no_color = getenv("NO_COLOR");
  log->level = level;
  log->json = json;
  log->clock = clock;
  log->tty = !json && isatty(STDERR_FILENO);
  log->color = log->tty && (no_color == NULL || no_color[0] == '\0');
  log->status_shown = 0;
  log->status[0] = '\0';
}

static void draw_status(vr_log *log) {
  struct winsize ws;
  int width = 100;
  if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1) width = ws.ws_col;
  fprintf(stderr, "\r\033[K%s%.*s%s", log->color ? "\033[1m" : "", width - 1, log->status,
          log->color ? "\033[0m" : "");
  log->status_shown = 1;
}

int vr_log_status(vr_log *log, const char *text) {
  if (log == NULL || !log->tty) return 0;
  if (text == NULL || text[0] == '\0') {
    if (log->status_shown) fputs("\r\033[K", stderr);
    log->status_shown = 0;
    log->status[0] = '\0';
  } else {
    size_t i, n = 0;
    for (i = 0; text[i] != '\0' && n + 1 < sizeof log->status; i++) {
      unsigned char c = (unsigned char)text[i];
      log->status[n++] = (char)(c < 32 || c == 127 ? ' ' : c); /* one line, no escapes */
    }
    log->status[n] = '\0';
    draw_status(log);
  }
  fflush(stderr);
  return 1;
}

void vr_log_attach(lua_State *L, vr_log *log) {
  lua_pushlightuserdata(L, log);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &log_key);
}

vr_log *vr_log_of(lua_State *L) {
  vr_log *log;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &log_key);
  log = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return log;
}

const char *vr_log_level_name(vr_log_level level) {
  static const char *const names[] = {"debug", "info", "warn", "error"};
  return level <= VR_LOG_ERROR ? names[level] : "info";
}

int vr_log_enabled(const vr_log *log, vr_log_level level) {
  return log != NULL && level >= log->level;
}

size_t vr_json_quote(const char *s, size_t len, char *buf, size_t cap) {
  size_t n = 0, i;
#define PUT(c)                                                                                     \
  do {                                                                                             \
    if (n < cap) buf[n] = (c);                                                                     \
    n++;                                                                                           \
  } while (0)
  PUT('"');
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      PUT('\\');
      PUT((char)c);
    } else if (c == '\n') {
      PUT('\\');
      PUT('n');
    } else if (c == '\t') {
      PUT('\\');
      PUT('t');
    } else if (c < 0x20) {
      char esc[8];
      int k;
      snprintf(esc, sizeof esc, "\\u%04x", c);
      for (k = 0; esc[k]; k++) PUT(esc[k]);
    } else {
      PUT((char)c);
    }
  }
  PUT('"');
#undef PUT
  if (n < cap) buf[n] = '\0';
  return n;
}

void vr_log_emit(vr_log *log, vr_log_level level, const char *msg, size_t msglen,
                 const char *fields_text, const char *fields_json) {
  char ts[40];
  if (!vr_log_enabled(log, level)) return;
  if (log->status_shown) fputs("\r\033[K", stderr); /* the line goes above the status */
  vr_clock_format(log->clock ? vr_clock_now(log->clock) : 0, ts, sizeof ts);
  if (log->json) {
    size_t need = vr_json_quote(msg, msglen, NULL, 0) + 1;
    char *quoted = malloc(need);
    if (quoted == NULL) return;
    vr_json_quote(msg, msglen, quoted, need);
    fprintf(stderr, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":%s%s%s}\n", ts,
            vr_log_level_name(level), quoted, fields_json && *fields_json ? "," : "",
            fields_json ? fields_json : "");
    free(quoted);
  } else {
    static const char *const labels[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
    static const char *const colors[] = {"\033[2m", "\033[36m", "\033[33m", "\033[31;1m"};
    if (log->color) {
      fprintf(stderr, "\033[2m%s\033[0m %s%s\033[0m %.*s%s\n", ts, colors[level], labels[level],
              (int)msglen, msg, fields_text ? fields_text : "");
    } else {
      fprintf(stderr, "%s %s %.*s%s\n", ts, labels[level], (int)msglen, msg,
              fields_text ? fields_text : "");
    }
  }
  if (log->status_shown) draw_status(log);
  fflush(stderr);
}

void vr_logf(vr_log *log, vr_log_level level, const char *fmt, ...) {
  char buf[2048];
  va_list ap;
  int n;
  if (!vr_log_enabled(log, level)) return;
  va_start(ap, fmt);
  n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n >= sizeof buf) n = (int)sizeof buf - 1;
  vr_log_emit(log, level, buf, (size_t)n, NULL, NULL);
}
