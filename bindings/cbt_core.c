/* cbt_core.c: vmrun.cbt.core, the C half of the `cbt` module (stdlib-lua/vmrun/cbt.lua is the other
 * half, with the checks): reading .vmx, .vmsd and VMDK descriptor files into tables that keep
 * every line number (runtime/vmx.h and vmdk.h do the formats), listing a VM's folder, and
 * replace_file, cbt.enable's crash-safe rewrite of a .vmx. The readers never write; replace_file
 * writes only the file it is given and its backup. The disk-image tracker is in cbt_tracker.c. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bindings.h"
#include "durable.h"
#include "errors.h"
#include "luaval.h"
#include "vmdk.h"
#include "vmx.h"

#define MAX_FILE_BYTES                                                                             \
  ((size_t)64 << 20) /* a .vmx is a few KiB; this is clearly something else                        \
                      */

/* What a parse owns while its tables are built (freed by __gc if building raises). */
typedef struct parse_box {
  char *text;
  vr_vmx vmx;
  vr_vmx_disk *disks;
} parse_box;

static const char parse_box_key = 'b';

static int parse_box_gc(lua_State *L) {
  parse_box *b = lua_touserdata(L, 1);
  free(b->text);
  free(b->disks);
  vr_vmx_free(&b->vmx);
  b->text = NULL;
  b->disks = NULL;
  return 0;
}

static char *read_range(FILE *f, const char *path, uint64_t offset, size_t max, size_t *len,
                        char *err, size_t errlen);

/* The whole file, or NULL with err set when it cannot be read or holds more than max bytes (it
 * is never read past max + 1 bytes). */
static char *read_limited(const char *path, size_t max, size_t *len, char *err, size_t errlen) {
  FILE *f = fopen(path, "rb");
  char *text;
  if (f == NULL) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return NULL;
  }
  text = read_range(f, path, 0, max + 1, len, err, errlen);
  fclose(f);
  if (text != NULL && *len > max) {
    snprintf(err, errlen, "%s: more than %zu MiB, too big for a .vmx or .vmsd", path, max >> 20);
    free(text);
    return NULL;
  }
  return text;
}

/* Raises kind "decode" for path: "PATH:LINE: what" for a message "line LINE: what", else
 * "PATH: what". */
static int raise_decode(lua_State *L, const char *path, const char *msg) {
  if (strncmp(msg, "line ", 5) == 0)
    return vr_error_raise_for(L, "decode", path, "%s:%s", path, msg + 5);
  return vr_error_raise_for(L, "decode", path, "%s: %s", path, msg);
}

/* Reads and parses path into a box left on the stack; raises kind "input" (resource = path) when
 * the file cannot be read or is too big, kind "decode" ("PATH:LINE: what") when it is not a
 * key/value file. */
static parse_box *read_and_parse(lua_State *L, const char *path) {
  parse_box *b = vr_push_gc_userdata(L, sizeof *b, &parse_box_key, parse_box_gc);
  char msg[VR_VMX_ERRLEN + 300];
  size_t len = 0;
  if ((b->text = read_limited(path, MAX_FILE_BYTES, &len, msg, sizeof msg)) == NULL)
    vr_error_raise_for(L, "input", path, "%s", msg);
  if (vr_vmx_parse(b->text, len, &b->vmx, msg, VR_VMX_ERRLEN) != 0) raise_decode(L, path, msg);
  return b;
}

static void set_string(lua_State *L, const char *field, const char *value) {
  if (value == NULL) return;
  lua_pushstring(L, value);
  lua_setfield(L, -2, field);
}

static void set_integer(lua_State *L, const char *field, lua_Integer value) {
  lua_pushinteger(L, value);
  lua_setfield(L, -2, field);
}

static void set_boolean(lua_State *L, const char *field, int value) {
  lua_pushboolean(L, value);
  lua_setfield(L, -2, field);
}

/* Pushes {path=, entries={{key, value, line, quoted}...}, values={[lower key]=value},
 * issues={{line, message}...}}. */
static void push_common(lua_State *L, const char *path, const vr_vmx *v) {
  size_t i;
  lua_createtable(L, 0, 6);
  set_string(L, "path", path);
  lua_createtable(L, (int)v->count, 0);
  for (i = 0; i < v->count; i++) {
    lua_createtable(L, 0, 4);
    set_string(L, "key", v->entries[i].key);
    set_string(L, "value", v->entries[i].value);
    set_integer(L, "line", v->entries[i].line);
    set_boolean(L, "quoted", v->entries[i].quoted);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_setfield(L, -2, "entries");
  lua_createtable(L, 0, (int)v->count);
  for (i = 0; i < v->count; i++) set_string(L, v->entries[i].lower, v->entries[i].value);
  lua_setfield(L, -2, "values");
  lua_createtable(L, (int)v->issue_count, 0);
  for (i = 0; i < v->issue_count; i++) {
    lua_createtable(L, 0, 2);
    set_integer(L, "line", v->issues[i].line);
    set_string(L, "message", v->issues[i].message);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_setfield(L, -2, "issues");
}

/* cbt.parse_vmx(path) -> {path, entries, values, issues, disks}
 * entries: every key in file order ({key, value, line, quoted}); values: value by lower-cased
 * key; issues: the lines that are not clean `key = "value"` pairs, duplicates (the first wins)
 * and keys that are also namespaces ({line, message}); disks: the devices on the scsi, sata, ide
 * and nvme buses, sorted ({node, bus, controller, unit, present, disk, device_type, file, mode,
 * independent, ctk_enabled (nil when unset or not a boolean), line}).
 * Raises kind "input" when the file cannot be read, "decode" (with the line) when it is binary
 * or a VMDK image or descriptor, "usage" without a path. */
static int l_parse_vmx(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  parse_box *b = read_and_parse(L, path);
  size_t n = vr_vmx_disks(&b->vmx, &b->disks), i;
  if (n == (size_t)-1) return luaL_error(L, "cbt.parse_vmx: out of memory");
  push_common(L, path, &b->vmx);
  lua_createtable(L, (int)n, 0);
  for (i = 0; i < n; i++) {
    const vr_vmx_disk *d = &b->disks[i];
    lua_createtable(L, 0, 12);
    set_string(L, "node", d->node);
    set_string(L, "bus", d->bus);
    set_integer(L, "controller", d->controller);
    set_integer(L, "unit", d->unit);
    set_boolean(L, "present", d->present);
    set_boolean(L, "disk", d->is_disk);
    set_string(L, "device_type", d->device_type);
    set_string(L, "file", d->file);
    set_string(L, "mode", d->mode);
    set_boolean(L, "independent", d->independent);
    if (d->ctk_enabled >= 0) set_boolean(L, "ctk_enabled", d->ctk_enabled);
    set_integer(L, "line", d->line);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_setfield(L, -2, "disks");
  return 1;
}

static int compare_integers(const void *a, const void *b) {
  lua_Integer x = *(const lua_Integer *)a, y = *(const lua_Integer *)b;
  return (x > y) - (x < y);
}

/* Pushes an array of the values of the integer-keyed table at idx, in key order; each value that
 * is a table with a "disks" table gets that table turned into such an array too. */
static void sorted_values(lua_State *L, int idx) {
  lua_Integer *keys, n = 0, i;
  idx = lua_absindex(L, idx);
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    lua_pop(L, 1);
    n++;
  }
  keys = lua_newuserdatauv(L, (size_t)(n + 1) * sizeof *keys, 0); /* freed by the GC */
  n = 0;
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    lua_pop(L, 1);
    keys[n++] = lua_tointeger(L, -1);
  }
  qsort(keys, (size_t)n, sizeof *keys, compare_integers);
  lua_createtable(L, (int)n, 0);
  for (i = 0; i < n; i++) {
    lua_rawgeti(L, idx, keys[i]);
    if (lua_getfield(L, -1, "disks") == LUA_TTABLE) {
      sorted_values(L, -1);
      lua_setfield(L, -3, "disks");
    }
    lua_pop(L, 1);
    lua_rawseti(L, -2, i + 1);
  }
  lua_remove(L, -2); /* the keys */
}

/* Sets field to the decimal count in text (nothing when text is missing, not a number or out of
 * range). */
static void set_count(lua_State *L, const char *field, const char *text) {
  char *end;
  long long n;
  if (text == NULL) return;
  errno = 0;
  n = strtoll(text, &end, 10);
  if (end != text && *end == '\0' && errno == 0 && n >= 0) set_integer(L, field, (lua_Integer)n);
}

/* The snapshot slot of a .vmsd key ("snapshot3.uid" -> 3, rest "uid"); -1 when not one. */
static long snapshot_slot(const char *lower, const char **rest) {
  char *end;
  long slot;
  if (strncmp(lower, "snapshot", 8) != 0 || lower[8] < '0' || lower[8] > '9') return -1;
  slot = strtol(lower + 8, &end, 10);
  if (*end != '.' || slot > 100000) return -1;
  *rest = end + 1;
  return slot;
}

/* cbt.parse_vmsd(path) -> {path, entries, values, issues, snapshots, num_snapshots, current,
 * need_consolidate}
 * snapshots: one per `snapshotN.` slot, sorted by slot ({slot, uid, display_name, description,
 * filename, parent, type, line, disks = {{index, file, node}...}}); num_snapshots and current
 * (the UID the VM runs on) as integers when set; need_consolidate from
 * snapshot.needConsolidate. An empty file gives no snapshots. Raises as cbt.parse_vmx. */
static int l_parse_vmsd(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  parse_box *b = read_and_parse(L, path);
  const vr_vmx *v = &b->vmx;
  size_t i;
  int slots;
  push_common(L, path, v);
  lua_newtable(L); /* slot -> snapshot table, then made into the sorted array */
  slots = lua_gettop(L);
  for (i = 0; i < v->count; i++) {
    const char *rest;
    long slot = snapshot_slot(v->entries[i].lower, &rest);
    if (slot < 0) continue;
    if (lua_rawgeti(L, slots, slot) == LUA_TNIL) {
      lua_pop(L, 1);
      lua_createtable(L, 0, 10);
      set_integer(L, "slot", slot);
      set_integer(L, "line", v->entries[i].line);
      lua_newtable(L);
      lua_setfield(L, -2, "disks");
      lua_pushvalue(L, -1);
      lua_rawseti(L, slots, slot);
    }
    if (strncmp(rest, "disk", 4) == 0 && rest[4] >= '0' && rest[4] <= '9') {
      char *end;
      long index = strtol(rest + 4, &end, 10);
      const char *field = *end == '.' && index <= 100000 ? end + 1 : NULL;
      if (field != NULL && (strcmp(field, "filename") == 0 || strcmp(field, "node") == 0)) {
        lua_getfield(L, -1, "disks");
        if (lua_rawgeti(L, -1, index + 1) == LUA_TNIL) {
          lua_pop(L, 1);
          lua_createtable(L, 0, 3);
          set_integer(L, "index", index);
          lua_pushvalue(L, -1);
          lua_rawseti(L, -3, index + 1);
        }
        set_string(L, strcmp(field, "node") == 0 ? "node" : "file", v->entries[i].value);
        lua_pop(L, 2);
      }
    } else {
      static const char *const fields[][2] = {{"uid", "uid"},
                                              {"displayname", "display_name"},
                                              {"description", "description"},
                                              {"filename", "filename"},
                                              {"parent", "parent"},
                                              {"type", "type"}};
      size_t f;
      for (f = 0; f < sizeof fields / sizeof fields[0]; f++) {
        if (strcmp(rest, fields[f][0]) == 0) set_string(L, fields[f][1], v->entries[i].value);
      }
    }
    lua_pop(L, 1);
  }
  sorted_values(L, slots); /* the snapshots in slot order */
  lua_setfield(L, slots - 1, "snapshots");
  lua_pop(L, 1); /* the slot table */
  set_count(L, "num_snapshots", vr_vmx_get(v, "snapshot.numSnapshots"));
  set_count(L, "current", vr_vmx_get(v, "snapshot.current"));
  set_boolean(L, "need_consolidate", vr_vmx_bool(v, "snapshot.needConsolidate") == 1);
  return 1;
}

/* What a descriptor read owns (freed by __gc if building the table raises). */
typedef struct vmdk_box {
  char *text;
  vr_vmdk vmdk;
} vmdk_box;

static const char vmdk_box_key = 'd';

static int vmdk_box_gc(lua_State *L) {
  vmdk_box *b = lua_touserdata(L, 1);
  free(b->text);
  b->text = NULL;
  vr_vmdk_free(&b->vmdk);
  return 0;
}

/* Reads at most max bytes at offset into a malloc'd buffer; NULL with err on failure. */
static char *read_range(FILE *f, const char *path, uint64_t offset, size_t max, size_t *len,
                        char *err, size_t errlen) {
  char *buf = malloc(max + 1);
  if (buf == NULL) {
    snprintf(err, errlen, "%s: out of memory", path);
    return NULL;
  }
  if (fseeko(f, (off_t)offset, SEEK_SET) != 0) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    free(buf);
    return NULL;
  }
  *len = fread(buf, 1, max, f);
  if (ferror(f)) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    free(buf);
    return NULL;
  }
  buf[*len] = '\0';
  return buf;
}

/* Reads the descriptor of path into b: 0, or -1 with msg set and *decode 1 when the file holds no
 * descriptor (0 when it cannot be read). */
static int read_descriptor(const char *path, vmdk_box *b, char *msg, size_t msglen, int *decode) {
  FILE *f = fopen(path, "rb");
  size_t n = 0;
  int rc = -1;
  *decode = 0;
  if (f == NULL) {
    snprintf(msg, msglen, "%s: %s", path, strerror(errno));
    return -1;
  }
  if ((b->text = read_range(f, path, 0, (size_t)VR_VMDK_DESCRIPTOR_MAX, &n, msg, msglen)) == NULL)
    goto done;
  *decode = 1;
  if (n >= 4 && memcmp(b->text, "KDMV", 4) == 0) { /* only the header and the descriptor */
    uint64_t offset, size;
    if (vr_vmdk_sparse_descriptor((const unsigned char *)b->text, n, &offset, &size, msg, msglen) !=
        0)
      goto done;
    free(b->text);
    b->text = NULL;
    {
      struct stat st;
      if (fstat(fileno(f), &st) == 0 &&
          (offset > (uint64_t)st.st_size || size > (uint64_t)st.st_size - offset)) {
        snprintf(msg, msglen, "a sparse VMDK image whose descriptor lies past its end");
        goto done;
      }
    }
    *decode = 0;
    if ((b->text = read_range(f, path, offset, (size_t)size, &n, msg, msglen)) == NULL) goto done;
    *decode = 1;
    rc = vr_vmdk_parse_text(b->text, n, 1, &b->vmdk, msg, msglen);
  } else if (n == (size_t)VR_VMDK_DESCRIPTOR_MAX && fgetc(f) != EOF) {
    snprintf(msg, msglen, "more than 1 MiB: a disk image, not a descriptor");
  } else {
    rc = vr_vmdk_parse_text(b->text, n, 0, &b->vmdk, msg, msglen);
  }
done:
  fclose(f);
  return rc;
}

/* cbt.parse_vmdk(path) -> {path, version, create_type, change_track_path, cid, parent_cid,
 * parent_file_name_hint, rdm, embedded, extents, entries, values, issues}
 * A VMDK descriptor file, or the descriptor inside a monolithic sparse image (only its header and
 * descriptor are read, never the disk data). version is the number (3 while CBT is on); rdm is
 * "physical" or "virtual" for raw device mappings; extents: {access, sectors, type, file, line};
 * entries, values and issues as cbt.parse_vmx's. Raises kind "input" when the file cannot be
 * read, "decode" ("PATH:LINE: what", or "PATH: what") when it holds no descriptor: a flat
 * extent, a sparse image without one, a .vmx. */
static int l_parse_vmdk(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  vmdk_box *b = vr_push_gc_userdata(L, sizeof *b, &vmdk_box_key, vmdk_box_gc);
  char msg[VR_VMDK_ERRLEN + 300];
  size_t i;
  int decode;
  const vr_vmdk *d = &b->vmdk;
  if (read_descriptor(path, b, msg, sizeof msg, &decode) != 0) {
    if (decode) return raise_decode(L, path, msg);
    return vr_error_raise_for(L, "input", path, "%s", msg);
  }
  push_common(L, path, &d->fields);
  if (vr_vmdk_version(d) > 0) set_integer(L, "version", vr_vmdk_version(d));
  set_string(L, "create_type", vr_vmx_get(&d->fields, "createType"));
  set_string(L, "change_track_path", vr_vmx_get(&d->fields, "changeTrackPath"));
  set_string(L, "cid", vr_vmx_get(&d->fields, "CID"));
  set_string(L, "parent_cid", vr_vmx_get(&d->fields, "parentCID"));
  set_string(L, "parent_file_name_hint", vr_vmx_get(&d->fields, "parentFileNameHint"));
  if (vr_vmdk_rdm(d)) set_string(L, "rdm", vr_vmdk_physical_rdm(d) == 1 ? "physical" : "virtual");
  set_boolean(L, "embedded", d->embedded);
  lua_createtable(L, (int)d->extent_count, 0);
  for (i = 0; i < d->extent_count; i++) {
    lua_createtable(L, 0, 5);
    set_string(L, "access", d->extents[i].access);
    set_integer(L, "sectors", (lua_Integer)d->extents[i].sectors);
    set_string(L, "type", d->extents[i].type);
    set_string(L, "file", d->extents[i].file);
    set_integer(L, "line", d->extents[i].line);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_setfield(L, -2, "extents");
  return 1;
}

static int compare_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* What a folder listing owns while it is pushed. */
typedef struct names_box {
  char **names;
  size_t count;
} names_box;

static const char names_box_key = 'n';

static int names_box_gc(lua_State *L) {
  names_box *b = lua_touserdata(L, 1);
  size_t i;
  for (i = 0; i < b->count; i++) free(b->names[i]);
  free(b->names);
  b->names = NULL;
  b->count = 0;
  return 0;
}

/* core.files(dir) -> {{name, size, dir}...} sorted by name ("." and ".." left out; size of a
 * regular file in bytes, dir true for folders such as a powered-on VM's .lck ones).
 * Raises kind "input" (resource = dir) when the folder cannot be read. */
static int l_files(lua_State *L) {
  const char *dir = luaL_checkstring(L, 1);
  names_box *b = vr_push_gc_userdata(L, sizeof *b, &names_box_key, names_box_gc);
  size_t cap = 0, i;
  struct dirent *e;
  DIR *d = opendir(dir);
  if (d == NULL) return vr_error_raise_for(L, "input", dir, "%s: %s", dir, strerror(errno));
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    if (b->count == cap) {
      char **grown = realloc(b->names, (cap = cap ? cap * 2 : 32) * sizeof *grown);
      if (grown == NULL) break;
      b->names = grown;
    }
    if ((b->names[b->count] = strdup(e->d_name)) == NULL) break;
    b->count++;
  }
  closedir(d);
  if (e != NULL) return luaL_error(L, "cbt: out of memory listing %s", dir);
  if (b->count > 1) qsort(b->names, b->count, sizeof *b->names, compare_names);
  lua_createtable(L, (int)b->count, 0);
  for (i = 0; i < b->count; i++) {
    struct stat st;
    lua_pushfstring(L, "%s/%s", dir, b->names[i]);
    lua_createtable(L, 0, 3);
    set_string(L, "name", b->names[i]);
    if (stat(lua_tostring(L, -2), &st) == 0) {
      if (S_ISDIR(st.st_mode)) set_boolean(L, "dir", 1);
      if (S_ISREG(st.st_mode)) set_integer(L, "size", (lua_Integer)st.st_size);
    }
    lua_remove(L, -2);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

/* Writes all of text to fd, then fsyncs it; 0 or -1 (errno set). */
static int write_all(int fd, const char *text, size_t len) {
  return vr_write_full(fd, text, len) != 0 ? -1 : fsync(fd);
}

/* A new file at path with text, created exclusively (never over an existing file), synced. */
static int create_exclusive(const char *path, const char *text, size_t len, mode_t mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode & 0777);
  int rc, saved;
  if (fd < 0) return -1;
  rc = write_all(fd, text, len);
  saved = errno;
  if (close(fd) != 0 && rc == 0) rc = -1, saved = errno;
  if (rc != 0) unlink(path);
  errno = saved;
  return rc;
}

/* core.replace_file(path, expected, text, backup) -> true
 * Replaces path with text, crash-safe: the file must still hold exactly `expected` (else kind
 * "refused": someone changed it meanwhile); its bytes go first to `backup` (a new file, never
 * over an existing one); then text goes to a temporary file next to it (same mode), is synced
 * and renamed over path, and the folder is synced. A crash leaves the old or the new file, never
 * half of one. Raises kind "input" (resource = the file concerned) on any I/O error, with
 * nothing changed when it happens before the rename. */
static int l_replace_file(lua_State *L) {
  size_t expected_len, len;
  const char *path = luaL_checkstring(L, 1);
  const char *expected = luaL_checklstring(L, 2, &expected_len);
  const char *text = luaL_checklstring(L, 3, &len);
  const char *backup = luaL_checkstring(L, 4);
  const char *failed = path;
  char msg[600], *current;
  size_t current_len;
  struct stat st;
  int fd = -1, made_backup = 0;
  char *tmp = NULL;
  if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
    return vr_error_raise_for(
        L, "refused", path,
        "%s is a symbolic link: edit the file it points to (renaming over the link "
        "would replace it): nothing written",
        path);
  }
  current = vr_read_file(path, &current_len, msg, sizeof msg);
  if (current == NULL) goto io_error_msg;
  if (current_len != expected_len || memcmp(current, expected, current_len) != 0) {
    free(current);
    return vr_error_raise_for(L, "refused", path,
                              "%s changed while it was being edited: nothing written", path);
  }
  free(current);
  if (stat(path, &st) != 0) goto io_error;
  failed = backup;
  if (create_exclusive(backup, expected, expected_len, st.st_mode) != 0) goto io_error;
  made_backup = 1;
  failed = path;
  tmp = malloc(strlen(path) + 32);
  if (tmp == NULL) return luaL_error(L, "cbt: out of memory");
  sprintf(tmp, "%s.vmrun-XXXXXX", path);
  if ((fd = mkstemp(tmp)) < 0) goto io_error;
  if (fchmod(fd, st.st_mode & 0777) != 0 || write_all(fd, text, len) != 0) goto io_error;
  if (fchown(fd, st.st_uid, st.st_gid) != 0 && errno != EPERM)
    goto io_error; /* keep the owner
        where we may (root may) */
  if (close(fd) != 0) {
    fd = -1;
    goto io_error;
  }
  fd = -1;
  if (rename(tmp, path) != 0) goto io_error;
  free(tmp);
  (void)vr_sync_parent_folder(path); /* renamed already: failing here only makes it less durable */
  lua_pushboolean(L, 1);
  return 1;
io_error:
  snprintf(msg, sizeof msg, "%s: %s", failed, strerror(errno));
  if (fd >= 0) close(fd);
  if (tmp != NULL) {
    unlink(tmp);
    free(tmp);
  }
  if (made_backup) unlink(backup); /* the file is as it was: no backup of it is needed */
io_error_msg:
  return vr_error_raise_for(L, "input", failed, "%s", msg);
}

static const luaL_Reg cbt_core_funcs[] = {
    {"parse_vmx", l_parse_vmx}, {"parse_vmsd", l_parse_vmsd},     {"parse_vmdk", l_parse_vmdk},
    {"files", l_files},         {"replace_file", l_replace_file}, {NULL, NULL},
};

int luaopen_vmrun_cbt_core(lua_State *L) {
  luaL_newlib(L, cbt_core_funcs);
  return 1;
}
