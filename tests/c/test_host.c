/* test_host.c: the embedding API (vmrun.h) end to end, in process: hosts under virtual and real
 * time running strings and files, arguments and package.path, exit codes 0/1/2/3 and os.exit,
 * --timeout on a CPU-bound loop (the instruction hook) and on a long real sleep, cancellation
 * running <close> handlers, the report of an unobserved task error, deadlock detection,
 * --max-memory, a C module registered by the embedder as a lazy global, real I/O under the
 * virtual clock, and SIGINT/SIGTERM in a forked child (graceful first signal, immediate second).
 * Leaks are left to ASan/LSan: every host is freed, including after failures. */
#include "check.h"
#include "luaval.h"
#include "vmrun.h"

#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

/* --- helpers -------------------------------------------------------------------------------- */

/* Creates an empty temporary file; returns its path (static storage per slot). */
static const char *temp_path(int slot) {
  static char paths[16][64];
  int fd;
  snprintf(paths[slot], sizeof paths[slot], "/tmp/vmrun-host-XXXXXX");
  fd = mkstemp(paths[slot]);
  if (fd < 0) {
    perror("mkstemp");
    exit(1);
  }
  close(fd);
  return paths[slot];
}

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
    perror(path);
    exit(1);
  }
}

/* The whole file, or NULL (caller frees). */
static char *read_text(const char *path) {
  char err[256];
  return vr_read_file(path, NULL, err, sizeof err);
}

static int file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* Writes a playbook into a new temporary file; returns its path. */
static const char *playbook(int slot, const char *code) {
  const char *path = temp_path(slot);
  write_text(path, code);
  return path;
}

/* stderr redirection into a temporary file */
typedef struct capture {
  int saved;
  char path[64];
} capture;

static void capture_begin(capture *c) {
  int fd;
  fflush(stderr);
  memset(c, 0, sizeof *c);
  snprintf(c->path, sizeof c->path, "/tmp/vmrun-stderr-XXXXXX");
  fd = mkstemp(c->path);
  c->saved = dup(STDERR_FILENO);
  if (fd < 0 || c->saved < 0 || dup2(fd, STDERR_FILENO) < 0) {
    perror("capture");
    exit(1);
  }
  close(fd);
}

/* Restores stderr; returns what was written (caller frees). */
static char *capture_end(capture *c) {
  char *text;
  fflush(stderr);
  dup2(c->saved, STDERR_FILENO);
  close(c->saved);
  text = read_text(c->path);
  unlink(c->path);
  return text ? text : strdup("");
}

static void cfg_virtual(vr_host_config *cfg) {
  vr_host_config_init(cfg);
  cfg->progname = "vmrun-test";
}

static void cfg_real(vr_host_config *cfg) {
  cfg_virtual(cfg);
  cfg->real_time = 1;
}

/* Runs code (path NULL) or the file at path in a new host; returns the exit code and, when err
 * is not NULL, the captured stderr (caller frees). */
static int run_host(const vr_host_config *cfg, const char *code, const char *path, int argc,
                    char **argv, char **err) {
  capture c;
  vr_host *h;
  int rc;
  capture_begin(&c);
  h = vr_host_new(cfg);
  if (h == NULL) {
    rc = -1;
  } else if (path) {
    rc = vr_host_run_file(h, path, argc, argv);
  } else {
    rc = vr_host_run_string(h, code, "=spec", argc, argv);
  }
  vr_host_free(h);
  if (err) {
    *err = capture_end(&c);
  } else {
    free(capture_end(&c));
  }
  return rc;
}

static int run_code(const vr_host_config *cfg, const char *code, char **err) {
  return run_host(cfg, code, NULL, 0, NULL, err);
}

/* Runs like run_host; 1 when the exit code is `expected`, else 0 after printing the run's
 * stderr. */
static int run_expect(const vr_host_config *cfg, const char *code, const char *path, int argc,
                      char **argv, int expected) {
  char *err = NULL;
  int rc = run_host(cfg, code, path, argc, argv, &err);
  if (rc != expected) {
    fprintf(stderr, "exit code %d, expected %d; stderr of the run:\n%s---\n", rc, expected, err);
  }
  free(err);
  return rc == expected;
}

#define CHECK_RUN(cfg, code, expected) CHECK(run_expect(cfg, code, NULL, 0, NULL, expected))

static double seconds_since(uint64_t hr0) {
  return (double)(uv_hrtime() - hr0) / 1e9;
}

/* --- basics ----------------------------------------------------------------------------------- */

static void test_basics(void) {
  vr_host_config cfg;
  vr_host *h;
  char *err = NULL;
  int rc;

  CHECK(vr_version() != NULL && strlen(vr_version()) > 0);
  cfg_virtual(&cfg);
  CHECK(cfg.log_level == VR_LOG_INFO && cfg.timeout == 0 && cfg.max_memory == 0);

  /* a host that never runs anything is freed cleanly */
  h = vr_host_new(&cfg);
  CHECK(h != NULL);
  if (h) {
    CHECK(vr_host_lua(h) != NULL);
    CHECK(lua_gettop(vr_host_lua(h)) == 0);
  }
  vr_host_free(h);
  vr_host_free(NULL);

  /* virtual time: a six-hour sleep moves the clock exactly, at once */
  {
    uint64_t hr0 = uv_hrtime();
    CHECK_RUN(&cfg,
              "assert(time.is_virtual())\n"
              "local t0 = time.now()\n"
              "task.sleep('6h')\n"
              "assert(time.now() - t0 == 6 * 3600, time.now() - t0)\n",
              0);
    CHECK(seconds_since(hr0) < 60); /* not six hours */
  }

  /* real time */
  {
    vr_host_config real;
    cfg_real(&real);
    CHECK_RUN(&real,
              "assert(not time.is_virtual())\n"
              "local t0 = time.now()\n"
              "task.sleep(0.05)\n"
              "assert(time.now() - t0 >= 0.0499, time.now() - t0)\n",
              0);
  }

  /* exit codes */
  CHECK_RUN(&cfg, "local x = 1", 0);
  rc = run_code(&cfg, "\nerror('plain failure')", &err);
  CHECK(rc == 1);
  CHECK_CONTAINS(err, "vmrun-test: spec:2: plain failure");
  CHECK_CONTAINS(err, "stack traceback:");
  free(err);
  CHECK_RUN(&cfg, "vmrun.error('usage', 'bad input')", 2);
  CHECK_RUN(&cfg, "vmrun.error('decode', 'bad json')", 2);
  CHECK_RUN(&cfg, "vmrun.error('timeout', 'too slow')", 3);
  CHECK_RUN(&cfg, "vmrun.error('migration_failed', 'nope')", 1);
  CHECK_RUN(&cfg, "error({})", 1);
  CHECK_RUN(&cfg, "os.exit(5)", 5);
  CHECK_RUN(&cfg, "os.exit(true)", 0);
  CHECK_RUN(&cfg, "os.exit(false)", 1);
  rc = run_code(&cfg, "vmrun.exit(7)", &err);
  CHECK(rc == 7);
  CHECK_STR(err, ""); /* a deliberate exit is not reported as a failure */
  free(err);
  /* os.exit from a task still runs the main task's cleanup */
  {
    const char *out = temp_path(0);
    char code[512], *text;
    snprintf(code, sizeof code,
             "local g <close> = setmetatable({}, {__close = function()\n"
             "  local f = assert(io.open('%s', 'w')); f:write('closed'); f:close()\n"
             "end})\n"
             "task.spawn(function() os.exit(4) end)\n"
             "task.sleep(100)\n",
             out);
    CHECK_RUN(&cfg, code, 4);
    text = read_text(out);
    CHECK_STR(text, "closed");
    free(text);
    unlink(out);
  }

  /* a syntax error in a string is a usage error */
  rc = run_code(&cfg, "local x = = 1", &err);
  CHECK(rc == 2);
  CHECK_CONTAINS(err, "spec:1: unexpected symbol near '='");
  free(err);

  /* a host runs one playbook */
  h = vr_host_new(&cfg);
  if (h) {
    capture c;
    capture_begin(&c);
    CHECK(vr_host_run_string(h, "local x = 1", NULL, 0, NULL) == 0);
    CHECK(vr_host_run_string(h, "local x = 1", NULL, 0, NULL) == 2);
    err = capture_end(&c);
    CHECK_CONTAINS(err, "a host runs one playbook");
    free(err);
  }
  vr_host_free(h);

  /* the host's own arguments below arg[0], the script's as ... and arg[1..] */
  {
    char *host_argv[] = {"myhost", "--flag"};
    char *args[] = {"one", "two"};
    cfg.host_argc = 2;
    cfg.host_argv = host_argv;
    CHECK(
        run_expect(&cfg,
                   "local a, b = ...\n"
                   "assert(select('#', ...) == 2 and a == 'one' and b == 'two')\n"
                   "assert(arg[-2] == 'myhost' and arg[-1] == '--flag', arg[-2])\n"
                   "assert(arg[0] == '-e' and arg[1] == 'one' and arg[2] == 'two' and #arg == 2)\n",
                   NULL, 2, args, 0));
    cfg.host_argc = 0;
    cfg.host_argv = NULL;
  }

  /* guardrails: undefined globals raise, no shell */
  rc = run_code(&cfg, "print(undefined_thing)", &err);
  CHECK(rc == 1);
  CHECK_CONTAINS(err, "undefined global 'undefined_thing'");
  free(err);
  rc = run_code(&cfg, "os.execute('true')", &err);
  CHECK(rc == 2); /* kind "usage" */
  CHECK_CONTAINS(err, "os.execute is not available in vmrun");
  free(err);
}

/* --- files ------------------------------------------------------------------------------------ */

static int dump_writer(lua_State *L, const void *p, size_t size, void *ud) {
  (void)L;
  return fwrite(p, 1, size, ud) == size ? 0 : 1;
}

static void test_files(void) {
  vr_host_config cfg;
  char dir[64], path[128], sub[160], *err = NULL;
  char *args[] = {"x", "y"};
  int rc;
  cfg_virtual(&cfg);

  /* a playbook file with arguments, requiring modules from its folder and its lib/ */
  snprintf(dir, sizeof dir, "/tmp/vmrun-host-XXXXXX");
  CHECK(mkdtemp(dir) != NULL);
  snprintf(sub, sizeof sub, "%s/lib", dir);
  CHECK(mkdir(sub, 0700) == 0);
  snprintf(sub, sizeof sub, "%s/lib/helper.lua", dir);
  write_text(sub, "return { twice = function(x) return 2 * x end }\n");
  snprintf(sub, sizeof sub, "%s/sibling.lua", dir);
  write_text(sub, "return 'sibling'\n");
  snprintf(path, sizeof path, "%s/main.lua", dir);
  write_text(path, "local a, b = ...\n"
                   "assert(a == 'x' and b == 'y' and select('#', ...) == 2)\n"
                   "assert(arg[0]:match('/main%.lua$') and arg[1] == 'x' and arg[2] == 'y')\n"
                   "assert(require('helper').twice(21) == 42)\n"
                   "assert(require('sibling') == 'sibling')\n");
  CHECK(run_expect(&cfg, NULL, path, 2, args, 0));

  /* a syntax error in a file: exit 2 naming file:line */
  write_text(path, "local ok = true\nif ok then\n");
  rc = run_host(&cfg, NULL, path, 0, NULL, &err);
  CHECK(rc == 2);
  CHECK_CONTAINS(err, "main.lua:3:");
  CHECK_CONTAINS(err, "expected");
  free(err);

  /* a runtime error in a file: exit 1 naming file:line */
  write_text(path, "local t = {}\n\nlocal n = t.missing.field\n");
  rc = run_host(&cfg, NULL, path, 0, NULL, &err);
  CHECK(rc == 1);
  CHECK_CONTAINS(err, "main.lua:3: attempt to index a nil value");
  free(err);

  /* precompiled chunks are refused (text only) */
  {
    lua_State *L = luaL_newstate();
    FILE *f = fopen(path, "wb");
    CHECK(luaL_loadstring(L, "return 1") == LUA_OK);
    CHECK(f != NULL);
    if (f) {
      lua_dump(L, dump_writer, f, 0);
      fclose(f);
    }
    lua_close(L);
    rc = run_host(&cfg, NULL, path, 0, NULL, &err);
    CHECK(rc == 2);
    CHECK_CONTAINS(err, "attempt to load a binary chunk");
    free(err);
  }

  /* a missing file: exit 2 */
  snprintf(sub, sizeof sub, "%s/nope.lua", dir);
  rc = run_host(&cfg, NULL, sub, 0, NULL, &err);
  CHECK(rc == 2);
  CHECK_CONTAINS(err, "cannot open playbook");
  CHECK_CONTAINS(err, "nope.lua: No such file or directory");
  free(err);

  unlink(path);
  snprintf(sub, sizeof sub, "%s/sibling.lua", dir);
  unlink(sub);
  snprintf(sub, sizeof sub, "%s/lib/helper.lua", dir);
  unlink(sub);
  snprintf(sub, sizeof sub, "%s/lib", dir);
  rmdir(sub);
  rmdir(dir);
}

/* --- timeouts and cancellation ------------------------------------------------------------------
 */

/* Lua source of a <close> guard that writes "<label>: <error or nil>" into path. */
#define GUARD(path_fmt)                                                                            \
  "local function guard(label)\n"                                                                  \
  "  return setmetatable({}, {__close = function(_, err)\n"                                        \
  "    local f = assert(io.open('" path_fmt "', 'a'))\n"                                           \
  "    f:write(label, ': ', tostring(err), '\\n')\n"                                               \
  "    f:close()\n"                                                                                \
  "  end})\n"                                                                                      \
  "end\n"

static void test_timeout(void) {
  vr_host_config cfg;
  const char *out = temp_path(1);
  char code[1024], *err = NULL, *text;
  uint64_t hr0;
  int rc;

  /* a CPU-bound loop under virtual time is interrupted by the instruction hook: exit 3, cleanup
   * runs */
  cfg_virtual(&cfg);
  cfg.timeout = 0.3;
  snprintf(code, sizeof code,
           GUARD("%s") "local g <close> = guard('main')\n"
                       "while true do end\n",
           out);
  hr0 = uv_hrtime();
  rc = run_code(&cfg, code, &err);
  CHECK(rc == 3);
  CHECK(seconds_since(hr0) >= 0.29);
  CHECK_CONTAINS(err, "vmrun-test: --timeout 0.3s reached; cancelling 1 task(s)");
  free(err);
  text = read_text(out);
  CHECK_CONTAINS(text, "main: ");
  CHECK_CONTAINS(text, "cancelled: --timeout 0.3s");
  free(text);

  /* the same loop in a spawned task while the main task waits for it */
  write_text(out, "");
  snprintf(code, sizeof code,
           GUARD("%s") "local t = task.spawn(function()\n"
                       "  local g <close> = guard('spinner')\n"
                       "  local n = 0\n"
                       "  while true do n = n + 1 end\n"
                       "end)\n"
                       "local g <close> = guard('main')\n"
                       "t:wait()\n",
           out);
  rc = run_code(&cfg, code, NULL);
  CHECK(rc == 3);
  text = read_text(out);
  CHECK_CONTAINS(text, "spinner: ");
  CHECK_CONTAINS(text, "main: ");
  free(text);

  /* a long sleep under real time */
  cfg_real(&cfg);
  cfg.timeout = 0.2;
  write_text(out, "");
  snprintf(code, sizeof code, GUARD("%s") "local g <close> = guard('sleeper')\ntask.sleep(60)\n",
           out);
  hr0 = uv_hrtime();
  rc = run_code(&cfg, code, &err);
  CHECK(rc == 3);
  CHECK(seconds_since(hr0) >= 0.19);
  CHECK(seconds_since(hr0) < 50); /* not the whole minute */
  CHECK_CONTAINS(err, "--timeout 0.2s reached");
  free(err);
  text = read_text(out);
  CHECK_CONTAINS(text, "sleeper: ");
  free(text);

  /* an unhandled per-wait timeout also exits 3 */
  cfg_virtual(&cfg);
  rc = run_code(&cfg,
                "local t = task.spawn(function() task.sleep(3600) end)\n"
                "t:wait('1m')\n",
                &err);
  CHECK(rc == 3);
  CHECK_CONTAINS(err, "spec:2: t:wait timed out after 1m");
  free(err);
  unlink(out);
}

static void test_cancellation(void) {
  vr_host_config cfg;
  const char *out = temp_path(2);
  char code[2048], *err = NULL, *text;
  int rc;
  cfg_virtual(&cfg);

  /* t:cancel(): <close> handlers run (and may still wait), t:wait() raises "cancelled" */
  snprintf(code, sizeof code,
           GUARD("%s") "local t = task.spawn(function()\n"
                       "  local g1 <close> = guard('outer')\n"
                       "  local g2 <close> = setmetatable({}, {__close = function()\n"
                       "    task.sleep(5) -- cleanup may wait\n"
                       "    local f = assert(io.open('%s', 'a')); f:write('waited\\n'); f:close()\n"
                       "  end})\n"
                       "  task.sleep(3600)\n"
                       "  error('not reached')\n"
                       "end)\n"
                       "task.sleep(1)\n"
                       "assert(t:status() == 'waiting', t:status())\n"
                       "t:cancel('enough')\n"
                       "local ok, e = pcall(t.wait, t)\n"
                       "assert(not ok and vmrun.is_error(e, 'cancelled'), tostring(e))\n"
                       "assert(t:status() == 'cancelled', t:status())\n"
                       "assert(e.message:find('cancelled: enough', 1, true), e.message)\n"
                       "t:cancel() -- finished: no-op\n",
           out, out);
  rc = run_code(&cfg, code, &err);
  CHECK(rc == 0);
  CHECK_STR(err, "");
  free(err);
  text = read_text(out);
  CHECK_CONTAINS(text, "waited\nouter: ");
  CHECK_CONTAINS(text, "cancelled: enough");
  free(text);

  /* a task cancelled before it ever ran does not run at all */
  write_text(out, "");
  snprintf(code, sizeof code,
           "local t = task.spawn(function()\n"
           "  local f = assert(io.open('%s', 'w')); f:write('ran'); f:close()\n"
           "end)\n"
           "t:cancel()\n"
           "local ok, e = pcall(t.wait, t)\n"
           "assert(not ok and e.kind == 'cancelled' and t:status() == 'cancelled')\n",
           out);
  CHECK_RUN(&cfg, code, 0);
  text = read_text(out);
  CHECK_STR(text, "");
  free(text);

  /* a failing main task cancels the other tasks and their cleanup runs */
  write_text(out, "");
  snprintf(code, sizeof code,
           GUARD("%s") "task.spawn(function()\n"
                       "  local g <close> = guard('child')\n"
                       "  task.sleep(3600)\n"
                       "end)\n"
                       "task.sleep(1)\n"
                       "error('main fails')\n",
           out);
  rc = run_code(&cfg, code, &err);
  CHECK(rc == 1);
  CHECK_CONTAINS(err, "main fails");
  free(err);
  text = read_text(out);
  CHECK_CONTAINS(text, "child: ");
  CHECK_CONTAINS(text, "cancelled: the main task failed");
  free(text);

  /* tasks are cooperative: code between two waits is never interleaved with another task, and
   * the instruction hook still delivers a cancellation to a CPU-bound task */
  {
    vr_host_config real;
    cfg_real(&real);
    CHECK_RUN(&real,
              "local counter = 0\n"
              "local function bump() for i = 1, 300000 do local c = counter; c = c + 1; "
              "counter = c end end\n"
              "task.all{ bump, bump }\n"
              "assert(counter == 600000, counter)\n"
              "local t = task.spawn(function() task.current():cancel('stop spinning') "
              "while true do end end)\n"
              "local ok, e = pcall(t.wait, t)\n"
              "assert(not ok and e.kind == 'cancelled', tostring(e))\n",
              0);
  }
  unlink(out);
}

/* --- failures: unobserved errors, deadlocks --------------------------------------------------- */

static void test_unobserved_error(void) {
  vr_host_config cfg;
  const char *path, *out = temp_path(3);
  char code[1024], expect[256], *err = NULL, *text;
  int rc;
  cfg_virtual(&cfg);
  snprintf(code, sizeof code,
           GUARD("%s") "local function fail()\n"           /* line 8 */
                       "  error('boom in a task')\n"       /* line 9 */
                       "end\n"                             /* line 10 */
                       "local g <close> = guard('main')\n" /* line 11 */
                       "task.spawn(fail)\n"                /* line 12 */
                       "task.sleep(3600)\n",
           out);
  path = playbook(4, code);
  rc = run_host(&cfg, NULL, path, 0, NULL, &err);
  CHECK(rc == 1);
  snprintf(expect, sizeof expect, "vmrun-test: %s:9: boom in a task", path);
  CHECK_CONTAINS(err, expect);
  snprintf(expect, sizeof expect, "in task 1 (spawned at %s:12 by task 0", path);
  CHECK_CONTAINS(err, expect);
  CHECK_CONTAINS(err, "stack traceback:");
  free(err);
  text = read_text(out); /* the main task was cancelled; its cleanup ran */
  CHECK_CONTAINS(text, "main: ");
  CHECK_CONTAINS(text, "cancelled: task 1 failed");
  free(text);

  /* an error observed through t:wait() does not fail the run */
  rc = run_code(&cfg,
                "local t = task.spawn(function() error('handled') end)\n"
                "local ok, e = pcall(t.wait, t)\n"
                "assert(not ok and tostring(e):find('handled'))\n"
                "assert(t:status() == 'failed')\n",
                &err);
  CHECK(rc == 0);
  CHECK_STR(err, "");
  free(err);
  unlink(path);
  unlink(out);
}

static void test_deadlock(void) {
  vr_host_config cfg;
  const char *path, *out = temp_path(5);
  char code[1024], expect[256], *err = NULL, *text;
  int rc;
  cfg_virtual(&cfg);

  /* waiting on oneself is refused at once */
  rc = run_code(
      &cfg,
      "local t\n"
      "t = task.spawn(function() task.yield(); return t:wait() end)\n"
      "local ok, e = pcall(t.wait, t)\n"
      "assert(not ok and tostring(e):find('a task cannot wait for itself'), tostring(e))\n",
      &err);
  CHECK(rc == 0);
  CHECK_STR(err, "");
  free(err);
  rc = run_code(&cfg, "task.current():wait()", &err);
  CHECK(rc == 1);
  CHECK_CONTAINS(err, "spec:1: a task cannot wait for itself");
  free(err);

  /* two tasks waiting on each other: reported, cancelled (cleanup runs), exit 1 */
  snprintf(code, sizeof code,
           GUARD("%s") "local a, b\n"                              /* 8 */
                       "a = task.spawn(function()\n"               /* 9 */
                       "  local g <close> = guard('a')\n"          /* 10 */
                       "  task.yield(); b:wait()\n"                /* 11 */
                       "end)\n"                                    /* 12 */
                       "b = task.spawn(function() a:wait() end)\n" /* 13 */
                       "a:wait()\n",                               /* 14 */
           out);
  path = playbook(6, code);
  rc = run_host(&cfg, NULL, path, 0, NULL, &err);
  CHECK(rc == 1);
  CHECK_CONTAINS(err, "vmrun-test: deadlock: every task is waiting and nothing can wake them:");
  snprintf(expect, sizeof expect, "task 1 waits in t:wait at %s:11", path);
  CHECK_CONTAINS(err, expect);
  snprintf(expect, sizeof expect, "task 2 waits in t:wait at %s:13", path);
  CHECK_CONTAINS(err, expect);
  snprintf(expect, sizeof expect, "task 0 waits in t:wait at %s:14", path);
  CHECK_CONTAINS(err, expect);
  free(err);
  text = read_text(out);
  CHECK_CONTAINS(text, "a: ");
  CHECK_CONTAINS(text, "cancelled: deadlock");
  free(text);

  /* cleanup that deadlocks again: the run gives up on those tasks; the host still frees them */
  rc = run_code(&cfg,
                "local a, b\n"
                "local function waits_for(get)\n"
                "  return setmetatable({}, {__close = function() get():wait() end})\n"
                "end\n"
                "a = task.spawn(function()\n"
                "  local g <close> = waits_for(function() return b end)\n"
                "  task.yield(); b:wait()\n"
                "end)\n"
                "b = task.spawn(function()\n"
                "  local g <close> = waits_for(function() return a end)\n"
                "  a:wait()\n"
                "end)\n"
                "a:wait()\n",
                &err);
  CHECK(rc == 1);
  CHECK_CONTAINS(err, "deadlock");
  CHECK_CONTAINS(err, "2 task(s) cannot finish their cleanup; exiting without them");
  free(err);
  unlink(path);
  unlink(out);
}

/* --- memory -------------------------------------------------------------------------------------
 */

static void test_max_memory(void) {
  vr_host_config cfg;
  char *err = NULL;
  int rc;
  cfg_virtual(&cfg);
  cfg.max_memory = 8u << 20;

  /* in a task: the waiter sees kind "memory", the state keeps working afterwards */
  rc = run_code(&cfg,
                "local t = task.spawn(function()\n"
                "  local x = {}\n"
                "  for i = 1, 1e8 do x[i] = {i} end\n"
                "end)\n"
                "local ok, e = pcall(t.wait, t)\n"
                "assert(not ok and vmrun.is_error(e, 'memory'), tostring(e))\n"
                "assert(e.message:find('--max-memory', 1, true), e.message)\n"
                "collectgarbage()\n"
                "local y = {}\n"
                "for i = 1, 10000 do y[i] = {i} end\n"
                "assert(#y == 10000)\n"
                "error(e)\n",
                &err);
  CHECK(rc == 1);
  CHECK_CONTAINS(err, "not enough memory: the Lua heap limit (--max-memory) was reached");
  free(err);

  /* in the main task, unprotected */
  rc = run_code(&cfg, "local x = {}\nfor i = 1, 1e8 do x[i] = {i} end\n", &err);
  CHECK(rc == 1);
  CHECK_CONTAINS(err, "not enough memory");
  free(err);
  rc = run_code(&cfg, "local s = string.rep('x', 64 * 1024 * 1024)", &err);
  CHECK(rc == 1);
  CHECK_CONTAINS(err, "not enough memory");
  free(err);

  /* below the limit nothing fails */
  CHECK_RUN(&cfg, "local s = string.rep('x', 1024 * 1024)", 0);

  /* a limit too small to even start: vr_host_new fails cleanly */
  {
    capture c;
    vr_host *h;
    cfg.max_memory = 1024;
    capture_begin(&c);
    h = vr_host_new(&cfg);
    err = capture_end(&c);
    CHECK(h == NULL);
    CHECK_CONTAINS(err, "vmrun");
    free(err);
    vr_host_free(h);
  }
}

/* --- a module of the embedder ----------------------------------------------------------------- */

static int greet_opens = 0;

/* greet.hello(name) -> "hello, <name>"; raises on a non-string name */
static int l_greet_hello(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  lua_pushfstring(L, "hello, %s", name);
  return 1;
}

static int luaopen_greet(lua_State *L) {
  static const luaL_Reg funcs[] = {{"hello", l_greet_hello}, {NULL, NULL}};
  greet_opens++;
  luaL_newlib(L, funcs);
  return 1;
}

/* Runs code on a host with greet registered (as global `global`, may be NULL). */
static int run_with_greet(const char *code, const char *global, char **err) {
  vr_host_config cfg;
  vr_host *h;
  capture c;
  int rc = -1;
  cfg_virtual(&cfg);
  capture_begin(&c);
  h = vr_host_new(&cfg);
  if (h && vr_host_register_module(h, "greet", luaopen_greet, global) == 0) {
    rc = vr_host_run_string(h, code, "=spec", 0, NULL);
  }
  vr_host_free(h);
  *err = capture_end(&c);
  return rc;
}

static void test_register_module(void) {
  char *err = NULL;
  int rc;

  greet_opens = 0;
  rc = run_with_greet("local x = 1", "greet", &err);
  CHECK(rc == 0);
  CHECK(greet_opens == 0); /* lazy: not loaded until used */
  free(err);

  greet_opens = 0;
  rc = run_with_greet("assert(greet.hello('world') == 'hello, world')\n"
                      "assert(require('greet') == greet)\n"
                      "local t = task.spawn(function() return greet.hello('task') end)\n"
                      "assert(t:wait() == 'hello, task')\n",
                      "greet", &err);
  CHECK(rc == 0);
  CHECK_STR(err, "");
  CHECK(greet_opens == 1);
  free(err);

  /* its errors carry the caller's position */
  rc = run_with_greet("\ngreet.hello({})", "greet", &err);
  CHECK(rc == 1);
  CHECK_CONTAINS(err, "spec:2: bad argument #1 to 'hello' (string expected, got table)");
  free(err);

  /* a typo of the global gets a hint */
  rc = run_with_greet("gret.hello('x')", "greet", &err);
  CHECK(rc == 1);
  CHECK_CONTAINS(err, "undefined global 'gret' (did you mean 'greet'?)");
  free(err);

  /* without a global: require only */
  rc = run_with_greet("assert(require('greet').hello('r') == 'hello, r')\n"
                      "assert(not pcall(function() return greet end))\n",
                      NULL, &err);
  CHECK(rc == 0);
  free(err);
}

/* --- real I/O under the virtual clock -----------------------------------------------------------
 */

static void test_real_io_virtual_clock(void) {
  vr_host_config cfg;
  cfg_virtual(&cfg);
  /* While a host command runs, virtual time flows at the real pace: a 50 ms sleep ends during the
   * one-second command, the one-hour sleep only after it (then by a jump, exactly). */
  CHECK_RUN(&cfg,
            "local order = {}\n"
            "local t0 = time.now()\n"
            "local short = task.spawn(function()\n"
            "  task.sleep(0.05); order[#order + 1] = 'short'\n"
            "end)\n"
            "local long = task.spawn(function()\n"
            "  task.sleep(3600); order[#order + 1] = 'long'\n"
            "end)\n"
            "task.yield() -- both sleeps start at t0\n"
            "local r = exec.run{'sleep', '1'}\n"
            "order[#order + 1] = 'exec'\n"
            "assert(r.ok and r.status == 0, r.status)\n"
            "local elapsed = time.now() - t0\n"
            "assert(elapsed >= 0.05 and elapsed < 3600, elapsed)\n"
            "task.all{short, long}\n"
            "assert(table.concat(order, ',') == 'short,exec,long', table.concat(order, ','))\n"
            "assert(time.now() - t0 == 3600, time.now() - t0)\n",
            0);
}

/* --- signals ------------------------------------------------------------------------------------
 */

static int wait_for_file(const char *path, double seconds) {
  uint64_t hr0 = uv_hrtime();
  while (seconds_since(hr0) < seconds) {
    if (file_exists(path)) return 1;
    usleep(10 * 1000);
  }
  return 0;
}

/* Waits for the child up to `seconds`; kills it after that. Returns its wait status or -1. */
static int wait_child(pid_t pid, double seconds) {
  uint64_t hr0 = uv_hrtime();
  int status;
  while (seconds_since(hr0) < seconds) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno != EINTR) return -1;
    usleep(10 * 1000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}

/* Forks a child running code on a real-time host that handles signals, with stderr to errpath,
 * (ready, out) as the script's arguments and the given --timeout (0: none). */
static pid_t spawn_child(const char *code, const char *errpath, char *ready, char *out,
                         double timeout) {
  pid_t pid;
  fflush(stdout);
  fflush(stderr);
  pid = fork();
  if (pid == 0) {
    vr_host_config cfg;
    vr_host *h;
    char *args[2];
    int rc = 99, fd = open(errpath, O_WRONLY | O_TRUNC);
    if (fd >= 0) dup2(fd, STDERR_FILENO);
    args[0] = ready;
    args[1] = out;
    cfg_real(&cfg);
    cfg.handle_signals = 1;
    cfg.timeout = timeout;
    h = vr_host_new(&cfg);
    if (h) rc = vr_host_run_string(h, code, "=child", 2, args);
    vr_host_free(h);
    fflush(NULL);
    _exit(rc);
  }
  return pid;
}

static void test_signal(int sig) {
  char ready[64], out[64], *err, *text;
  const char *errpath = temp_path(7);
  pid_t pid;
  int status;
  snprintf(ready, sizeof ready, "%s", temp_path(8));
  snprintf(out, sizeof out, "%s", temp_path(9));
  unlink(ready);
  pid = spawn_child("local ready, out = ...\n"
                    "local t = task.spawn(function()\n"
                    "  local g <close> = setmetatable({}, {__close = function(_, e)\n"
                    "    task.sleep(0.05) -- cleanup may wait\n"
                    "    local f = assert(io.open(out, 'w'))\n"
                    "    f:write('cleanup: ', tostring(e)); f:close()\n"
                    "  end})\n"
                    "  assert(io.open(ready, 'w')):close()\n"
                    "  task.sleep(600)\n"
                    "end)\n"
                    "t:wait()\n",
                    errpath, ready, out, 0);
  CHECK(pid > 0);
  if (pid <= 0) return;
  CHECK(wait_for_file(ready, 60));
  kill(pid, sig);
  status = wait_child(pid, 60);
  CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 130);
  text = read_text(out);
  CHECK_CONTAINS(text, "cleanup: ");
  CHECK_CONTAINS(text, "cancelled: interrupted by signal");
  free(text);
  err = read_text(errpath);
  CHECK_CONTAINS(err, "vmrun-test: interrupted; cancelling 2 task(s) and running their cleanup");
  free(err);
  unlink(ready);
  unlink(out);
  unlink(errpath);
}

static void test_second_sigint(void) {
  char ready[64], out[64], *err;
  const char *errpath = temp_path(10);
  pid_t pid;
  int status;
  snprintf(ready, sizeof ready, "%s", temp_path(11));
  snprintf(out, sizeof out, "%s", temp_path(12));
  unlink(ready);
  unlink(out);
  /* the cleanup would take ten minutes: it creates `out` when it starts, and would write
   * "finished" into it at its end */
  pid = spawn_child("local ready, out = ...\n"
                    "task.spawn(function()\n"
                    "  local g <close> = setmetatable({}, {__close = function()\n"
                    "    assert(io.open(out, 'w')):close()\n"
                    "    task.sleep(600)\n"
                    "    assert(io.open(out, 'w')):write('finished')\n"
                    "  end})\n"
                    "  assert(io.open(ready, 'w')):close()\n"
                    "  task.sleep(600)\n"
                    "end)\n"
                    "task.sleep(600)\n",
                    errpath, ready, out, 0);
  CHECK(pid > 0);
  if (pid <= 0) return;
  CHECK(wait_for_file(ready, 60));
  kill(pid, SIGINT);
  CHECK(wait_for_file(out, 60)); /* the slow cleanup started */
  kill(pid, SIGINT);
  status = wait_child(pid, 60);
  CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 130);
  {
    char *text = read_text(out);
    CHECK_STR(text, ""); /* the cleanup never finished */
    free(text);
  }
  err = read_text(errpath);
  CHECK_CONTAINS(err, "vmrun-test: interrupted; cancelling");
  CHECK_CONTAINS(err, "vmrun-test: interrupted again; exiting now");
  free(err);
  unlink(ready);
  unlink(out);
  unlink(errpath);
}

/* Regression: a signal arriving while the run was already being cancelled for another reason
 * (here --timeout) and a cleanup handler was busy on the CPU was reported at every tick of the
 * instruction hook (thousands of "interrupted" lines). It is handled once; the first exit code
 * (3, timeout) stays. */
static void test_signal_during_timeout_cleanup(void) {
  char ready[64], stop[64], *err;
  const char *errpath = temp_path(13), *p;
  pid_t pid;
  int status, count = 0;
  snprintf(ready, sizeof ready, "%s", temp_path(14));
  snprintf(stop, sizeof stop, "%s", temp_path(15));
  unlink(ready);
  unlink(stop);
  pid = spawn_child("local ready, stop = ...\n"
                    "local g <close> = setmetatable({}, {__close = function()\n"
                    "  assert(io.open(ready, 'w')):close()\n"
                    "  while true do -- busy until the test creates `stop`\n"
                    "    local f = io.open(stop)\n"
                    "    if f then f:close(); break end\n"
                    "  end\n"
                    "end})\n"
                    "task.sleep(600)\n",
                    errpath, ready, stop, 0.2);
  CHECK(pid > 0);
  if (pid <= 0) return;
  CHECK(wait_for_file(ready, 60)); /* the timeout fired, the cleanup spins */
  kill(pid, SIGINT);
  usleep(300 * 1000);
  write_text(stop, "");
  status = wait_child(pid, 60);
  CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 3);
  err = read_text(errpath);
  CHECK_CONTAINS(err, "vmrun-test: --timeout 0.2s reached");
  for (p = err; p && (p = strstr(p, "interrupted;")) != NULL; p++) count++;
  if (count != 1) fprintf(stderr, "\"interrupted;\" reported %d times\n", count);
  CHECK(count == 1);
  free(err);
  unlink(ready);
  unlink(stop);
  unlink(errpath);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  test_basics();
  test_files();
  test_timeout();
  test_cancellation();
  test_unobserved_error();
  test_deadlock();
  test_max_memory();
  test_register_module();
  test_real_io_virtual_clock();
  test_signal(SIGINT);
  test_signal(SIGTERM);
  test_second_sigint();
  test_signal_during_timeout_cleanup();
  return CHECK_DONE();
}
