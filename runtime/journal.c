/* journal.c: see journal.h. */
#define _GNU_SOURCE
#include "journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "durable.h"

void vr_run_id_new(char id[VR_RUN_ID_MAX]) {
  unsigned char r[4] = {0, 0, 0, 0};
  time_t now = time(NULL);
  struct tm tm;
  size_t got = 0;
  while (got < sizeof r) {
    ssize_t n = getrandom(r + got, sizeof r - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) { /* no entropy source: the pid and the clock still tell runs apart */
      unsigned long mix = (unsigned long)getpid() * 2654435761ul ^ (unsigned long)clock();
      memcpy(r, &mix, sizeof r);
      break;
    }
    got += (size_t)n;
  }
  gmtime_r(&now, &tm);
  snprintf(id, VR_RUN_ID_MAX, "%04d%02d%02dT%02d%02d%02dZ-%02x%02x%02x%02x", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, r[0], r[1], r[2], r[3]);
}

int vr_run_id_valid(const char *text) {
  size_t n = 0;
  if (text == NULL) return 0;
  for (; text[n]; n++) {
    char c = text[n];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '_'))
      return 0;
  }
  return n > 0 && n < VR_RUN_ID_MAX;
}

int vr_run_index_path(char *buf, size_t len) {
  const char *env = getenv("VMRUN_RUN_INDEX");
  int n;
  if (env != NULL && env[0] != '\0') {
    n = snprintf(buf, len, "%s", env);
  } else if ((env = getenv("XDG_STATE_HOME")) != NULL && env[0] == '/') {
    n = snprintf(buf, len, "%s/vmrun/runs.tsv", env);
  } else if ((env = getenv("HOME")) != NULL && env[0] == '/') {
    n = snprintf(buf, len, "%s/.local/state/vmrun/runs.tsv", env);
  } else {
    return -1;
  }
  return n > 0 && (size_t)n < len ? 0 : -1;
}

int vr_make_parent_folders(const char *path) {
  char dir[4096];
  char *p;
  size_t n = strlen(path);
  if (n >= sizeof dir) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(dir, path, n + 1);
  p = strrchr(dir, '/');
  if (p == NULL || p == dir) return 0;
  *p = '\0';
  for (p = dir + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) return -1;
  return 0;
}

int vr_run_index_add(const char *id, const char *journal_path) {
  char path[4096], line[4400];
  int fd, n, rc;
  if (vr_run_index_path(path, sizeof path) != 0) {
    errno = ENOENT;
    return -1;
  }
  if (vr_make_parent_folders(path) != 0) return -1;
  fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  n = snprintf(line, sizeof line, "%s\t%s\n", id, journal_path);
  rc = n > 0 && (size_t)n < sizeof line ? vr_write_full(fd, line, (size_t)n) : -1;
  if (rc == 0) rc = fdatasync(fd);
  close(fd);
  return rc;
}

/* The whole file (NUL-terminated) into *out; 0, or -1 with errno set. */
static int read_file(const char *path, char **out, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  size_t cap = 65536, used = 0;
  char *buf;
  if (fd < 0) return -1;
  buf = malloc(cap);
  if (buf == NULL) {
    close(fd);
    errno = ENOMEM;
    return -1;
  }
  for (;;) {
    ssize_t n;
    if (used + 1 >= cap) {
      char *bigger = realloc(buf, cap * 2);
      if (bigger == NULL) {
        free(buf);
        close(fd);
        errno = ENOMEM;
        return -1;
      }
      buf = bigger;
      cap *= 2;
    }
    n = read(fd, buf + used, cap - used - 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int saved = errno;
      free(buf);
      close(fd);
      errno = saved;
      return -1;
    }
    if (n == 0) break;
    used += (size_t)n;
  }
  close(fd);
  buf[used] = '\0';
  *out = buf;
  *len = used;
  return 0;
}

int vr_journal_read(const char *path, vr_journal_lines *out) {
  char *text, *p, *end;
  size_t len, cap = 0;
  memset(out, 0, sizeof *out);
  if (read_file(path, &text, &len) != 0) return -1;
  p = text;
  end = text + len;
  while (p < end) {
    char *nl = memchr(p, '\n', (size_t)(end - p));
    char *line;
    if (nl == NULL) { /* cut by a crash */
      out->partial = 1;
      break;
    }
    if (out->n == cap) {
      size_t ncap = cap ? cap * 2 : 64;
      char **grown = realloc(out->lines, ncap * sizeof *grown);
      if (grown == NULL) goto oom;
      out->lines = grown;
      cap = ncap;
    }
    line = strndup(p, (size_t)(nl - p));
    if (line == NULL) goto oom;
    out->lines[out->n++] = line;
    p = nl + 1;
    out->valid_len = (size_t)(p - text);
  }
  free(text);
  return 0;
oom:
  free(text);
  vr_journal_lines_free(out);
  errno = ENOMEM;
  return -1;
}

void vr_journal_lines_free(vr_journal_lines *j) {
  size_t i;
  for (i = 0; i < j->n; i++) free(j->lines[i]);
  free(j->lines);
  memset(j, 0, sizeof *j);
}

/* The status of the "end" record that is the last record of j that parses (from line `from` on,
 * 0-based): 1 with it in status, or 0 when that record is no end (status ""). */
static int end_status(const vr_journal_lines *j, size_t from, char *status, size_t len) {
  size_t i;
  int rc = 0;
  status[0] = '\0';
  for (i = j->n; i-- > from;) {
    cJSON *rec = cJSON_Parse(j->lines[i]);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(rec, "type");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(rec, "status");
    if (rec == NULL) continue;
    if (cJSON_IsString(t) && strcmp(t->valuestring, "end") == 0 && cJSON_IsString(st)) {
      snprintf(status, len, "%s", st->valuestring);
      rc = 1;
    }
    cJSON_Delete(rec);
    break;
  }
  return rc;
}

int vr_journal_end_status(const char *path, char *status, size_t len) {
  vr_journal_lines j;
  int rc;
  status[0] = '\0';
  if (vr_journal_read(path, &j) != 0) return -1;
  rc = end_status(&j, 0, status, len);
  vr_journal_lines_free(&j);
  return rc;
}

/* Reads a journal's header and end into f (f->path set); 0, or -1 with err. */
static int inspect(vr_journal_found *f, char *err, size_t errlen) {
  vr_journal_lines j;
  const cJSON *type, *id;
  char status[32];
  if (vr_journal_read(f->path, &j) != 0) {
    snprintf(err, errlen, "cannot read the journal %s: %s", f->path, strerror(errno));
    return -1;
  }
  f->header = j.n > 0 ? cJSON_Parse(j.lines[0]) : NULL;
  type = cJSON_GetObjectItemCaseSensitive(f->header, "type");
  id = cJSON_GetObjectItemCaseSensitive(f->header, "run");
  if (!cJSON_IsString(type) || strcmp(type->valuestring, "run") != 0 || !cJSON_IsString(id) ||
      !vr_run_id_valid(id->valuestring)) {
    snprintf(err, errlen, "%s:1: not a vmrun journal (its first line is not a \"run\" record)",
             f->path);
    cJSON_Delete(f->header);
    f->header = NULL;
    vr_journal_lines_free(&j);
    return -1;
  }
  snprintf(f->id, sizeof f->id, "%s", id->valuestring);
  f->finished = end_status(&j, 1, status, sizeof status) == 1 && strcmp(status, "done") == 0;
  vr_journal_lines_free(&j);
  return 0;
}

/* One candidate journal: kept in *best when it is newer (or when it is the run asked for). */
static void consider(const char *path, const char *run_id, vr_journal_found *best,
                     time_t *best_mtime, int *found) {
  struct stat st;
  vr_journal_found f;
  char err[600];
  if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return;
  if (*found && st.st_mtime < *best_mtime) return;
  memset(&f, 0, sizeof f);
  snprintf(f.path, sizeof f.path, "%s", path);
  if (inspect(&f, err, sizeof err) != 0) return;
  if ((run_id != NULL && strcmp(f.id, run_id) != 0) || (run_id == NULL && f.finished)) {
    cJSON_Delete(f.header);
    return;
  }
  cJSON_Delete(best->header);
  *best = f;
  *best_mtime = st.st_mtime;
  *found = 1;
}

int vr_journal_find(const char *state_dir, const char *run_id, vr_journal_found *out, char *err,
                    size_t errlen) {
  char path[4096], index[4096];
  time_t best_mtime = 0;
  int found = 0;
  memset(out, 0, sizeof *out);
  if (run_id != NULL && !vr_run_id_valid(run_id)) {
    snprintf(err, errlen, "'%.60s' is not a run id (like 20261127T083012Z-3fa29c01)", run_id);
    return -1;
  }
  if (state_dir != NULL && run_id != NULL) {
    snprintf(path, sizeof path, "%s/runs/%s.jsonl", state_dir, run_id);
    if (access(path, F_OK) == 0) {
      snprintf(out->path, sizeof out->path, "%s", path);
      return inspect(out, err, errlen);
    }
  } else if (state_dir != NULL) {
    DIR *d;
    struct dirent *e;
    snprintf(path, sizeof path, "%s/runs", state_dir);
    d = opendir(path);
    while (d != NULL && (e = readdir(d)) != NULL) {
      size_t n = strlen(e->d_name);
      if (n < 7 || strcmp(e->d_name + n - 6, ".jsonl") != 0) continue;
      snprintf(path, sizeof path, "%s/runs/%s", state_dir, e->d_name);
      consider(path, NULL, out, &best_mtime, &found);
    }
    if (d != NULL) closedir(d);
  }
  if (!found && vr_run_index_path(index, sizeof index) == 0) {
    FILE *f = fopen(index, "r");
    char line[4400];
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
      char *tab = strchr(line, '\t'), *nl;
      if (tab == NULL) continue;
      *tab = '\0';
      if ((nl = strchr(tab + 1, '\n')) != NULL) *nl = '\0';
      if (run_id != NULL && strcmp(line, run_id) != 0) continue;
      consider(tab + 1, run_id, out, &best_mtime, &found);
    }
    if (f != NULL) fclose(f);
  }
  if (!found) {
    if (run_id != NULL)
      snprintf(err, errlen, "no journal of run %s%s%s (nor in the index of runs)", run_id,
               state_dir ? " in " : "", state_dir ? state_dir : "");
    else
      snprintf(err, errlen, "no unfinished run to resume%s%s (nor in the index of runs)",
               state_dir ? " in " : "", state_dir ? state_dir : "");
    return -1;
  }
  return 0;
}

/* The process a journal's run last ran as: the pid and host of its newest "run" or "resumed"
 * record; 0 when none says. */
int vr_journal_run_process(const char *path, char *host, size_t hlen) {
  vr_journal_lines j;
  size_t i;
  int pid = 0;
  host[0] = '\0';
  if (vr_journal_read(path, &j) != 0) return 0;
  for (i = 0; i < j.n; i++) {
    cJSON *rec = cJSON_Parse(j.lines[i]);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(rec, "type");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(rec, "pid");
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(rec, "host");
    if (cJSON_IsString(t) &&
        (strcmp(t->valuestring, "run") == 0 || strcmp(t->valuestring, "resumed") == 0) &&
        cJSON_IsNumber(p)) {
      pid = p->valueint;
      snprintf(host, hlen, "%s", cJSON_IsString(h) ? h->valuestring : "");
    }
    cJSON_Delete(rec);
  }
  vr_journal_lines_free(&j);
  return pid;
}

/* 1 when pid is a live vmrun process of this host (its command's name says vmrun) other than
 * this one (in a container every vmrun may be pid 1: the run's own pid is this process's then). */
int vr_vmrun_alive(int pid) {
  char path[64], cmd[256];
  FILE *f;
  size_t n;
  if (pid <= 0 || pid == (int)getpid() || kill(pid, 0) != 0) return 0;
  snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
  if ((f = fopen(path, "r")) == NULL) return 0;
  n = fread(cmd, 1, sizeof cmd - 1, f);
  fclose(f);
  cmd[n] = '\0';
  return strstr(cmd, "vmrun") != NULL;
}
