/* embedded.h: the stdlib-lua modules compiled into the binary by tools/embed_lua.c.
 * Module names follow require(): stdlib-lua/vmrun/log.lua is "vmrun.log", .../init.lua names its
 * folder. Chunk names are "@<path below stdlib-lua>" so tracebacks read "vmrun/log.lua:12". */
#ifndef VMRUN_EMBEDDED_H
#define VMRUN_EMBEDDED_H

#include <stddef.h>

typedef struct vr_embedded_module {
  const char *name;   /* "vmrun.log" */
  const char *path;   /* "vmrun/log.lua", relative to stdlib-lua/ */
  const char *source; /* the file's bytes (NUL-terminated) */
  size_t length;      /* without the NUL */
} vr_embedded_module;

extern const vr_embedded_module vr_embedded_modules[];
extern const size_t vr_embedded_module_count;

#endif
