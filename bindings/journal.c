/* journal.c: vmrun.journal.core, the file side of a run's journal for
 * stdlib-lua/vmrun/journal.lua: what this run is (its id, command line, folder, whether it
 * resumes), appending lines that are on disk when the call returns (write, then fdatasync), and
 * reading a journal back with a crash's partial last line set apart. It never encodes or decodes
 * records (the Lua layer does) and never touches the cluster. Raises vmrun.Errors of kind "io"
 * naming the file. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <string.h>
#include <unistd.h>

#include "bindings.h"
#include "durable.h"
#include "errors.h"
#include "journal.h"

#define JOURNAL_MT "vmrun.journal.file"

typedef struct journal_file {
  int fd;
  char path[4096];
} journal_file;

static journal_file *check_file(lua_State *L) {
  journal_file *f = luaL_checkudata(L, 1, JOURNAL_MT);
  if (f->fd < 0) vr_error_raise_for(L, "usage", NULL, "journal: %s is closed", f->path);
  return f;
}

/* core.run() -> {id, resuming, state_dir, playbook, cwd, argv, named, window_end, retry_failed}
 * What the host said of this run (runtime/host.c fills the registry's "vmrun.run"); a copy. Never
 * fails. */
static int l_run(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, VR_RUN_INFO_KEY);
  if (!lua_istable(L, -1)) {
    lua_newtable(L);
    return 1;
  }
  lua_newtable(L);
  lua_pushnil(L);
  while (lua_next(L, -3) != 0) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_settable(L, -4);
  }
  return 1;
}

/* core.open(path [, valid_len]) -> file
 * Opens the journal at path for appending, making its folders (mode 0700) and the file (0600);
 * with valid_len, first cuts the file to that length (a crash's partial last line goes). A new
 * file's folder is fsync'd. Raises kind "io" naming the file and the system's reason. */
static int l_open(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  lua_Integer valid = luaL_optinteger(L, 2, -1);
  journal_file *f;
  int existed;
  if (strlen(path) >= sizeof f->path)
    return vr_error_raise_for(L, "usage", NULL, "journal: the path is too long");
  f = lua_newuserdatauv(L, sizeof *f, 0);
  f->fd = -1;
  snprintf(f->path, sizeof f->path, "%s", path);
  luaL_setmetatable(L, JOURNAL_MT);
  if (vr_make_parent_folders(path) != 0)
    return vr_error_raise_for(L, "io", path, "journal: cannot make the folder of %s: %s", path,
                              strerror(errno));
  existed = access(path, F_OK) == 0;
  f->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (f->fd < 0)
    return vr_error_raise_for(L, "io", path, "journal: cannot open %s: %s", path, strerror(errno));
  if (valid >= 0 && ftruncate(f->fd, (off_t)valid) != 0)
    return vr_error_raise_for(L, "io", path, "journal: cannot cut %s to its last whole line: %s",
                              path, strerror(errno));
  if (!existed && (fsync(f->fd) != 0 || vr_sync_parent_folder(path) != 0))
    return vr_error_raise_for(L, "io", path, "journal: cannot sync %s: %s", path, strerror(errno));
  return 1;
}

/* file:append(line)
 * Writes line and a newline, and returns once they are on disk (fdatasync). Raises kind "io"
 * (a full disk, an I/O error) naming the file. */
static int l_append(lua_State *L) {
  journal_file *f = check_file(L);
  size_t len;
  const char *line = luaL_checklstring(L, 2, &len);
  if (memchr(line, '\n', len) != NULL)
    return vr_error_raise_for(L, "usage", NULL, "journal: a record is one line");
  if (vr_write_full(f->fd, line, len) != 0 || vr_write_full(f->fd, "\n", 1) != 0 ||
      fdatasync(f->fd) != 0)
    return vr_error_raise_for(L, "io", f->path, "journal: cannot write %s: %s", f->path,
                              strerror(errno));
  return 0;
}

/* file:close() -- closes it (again: nothing). Never fails. */
static int l_close(lua_State *L) {
  journal_file *f = luaL_checkudata(L, 1, JOURNAL_MT);
  if (f->fd >= 0) close(f->fd);
  f->fd = -1;
  return 0;
}

/* core.read(path) -> lines, partial, valid_len | nil
 * The journal's complete lines (a list of strings), whether a partial last line (cut by a crash)
 * was left out, and the length of the complete lines; nil when there is no such file. Raises kind
 * "io" when it cannot be read. */
static int l_read(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  vr_journal_lines j;
  size_t i;
  if (vr_journal_read(path, &j) != 0) {
    if (errno == ENOENT) {
      lua_pushnil(L);
      return 1;
    }
    return vr_error_raise_for(L, "io", path, "journal: cannot read %s: %s", path, strerror(errno));
  }
  lua_createtable(L, (int)j.n, 0);
  for (i = 0; i < j.n; i++) {
    lua_pushstring(L, j.lines[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_pushboolean(L, j.partial);
  lua_pushinteger(L, (lua_Integer)j.valid_len);
  vr_journal_lines_free(&j);
  return 3;
}

/* core.index_add(id, path) -> true | nil, why
 * Adds the run to the index of runs (`vmrun resume ID` finds it from anywhere). Never raises: a
 * machine without a home folder has no index. */
static int l_index_add(lua_State *L) {
  const char *id = luaL_checkstring(L, 1), *path = luaL_checkstring(L, 2);
  if (vr_run_index_add(id, path) != 0) {
    lua_pushnil(L);
    lua_pushstring(L, strerror(errno));
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

static const luaL_Reg journal_file_methods[] = {{"append", l_append},
                                                {"close", l_close},
                                                {"__gc", l_close},
                                                {"__close", l_close},
                                                {NULL, NULL}};

static const luaL_Reg journal_core_funcs[] = {
    {"run", l_run}, {"open", l_open}, {"read", l_read}, {"index_add", l_index_add}, {NULL, NULL}};

int luaopen_vmrun_journal_core(lua_State *L) {
  if (luaL_newmetatable(L, JOURNAL_MT)) {
    luaL_setfuncs(L, journal_file_methods, 0);
    lua_pushvalue(L, -1);
    lua_setfield(L, -2, "__index");
  }
  lua_pop(L, 1);
  luaL_newlib(L, journal_core_funcs);
  return 1;
}
