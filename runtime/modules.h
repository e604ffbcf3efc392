/* modules.h: the host's table of built-in modules (like Lua's linit.c): C modules placed in
 * package.preload, and the globals that load a module on first use. */
#ifndef VMRUN_MODULES_H
#define VMRUN_MODULES_H

#include <lua.h>

typedef struct vr_builtin_module {
  const char *name; /* require() name */
  lua_CFunction open;
  const char *global; /* global that loads it on first use, or NULL */
} vr_builtin_module;

typedef struct vr_lua_global {
  const char *global; /* global name */
  const char *module; /* stdlib-lua module it loads on first use */
} vr_lua_global;

extern const vr_builtin_module vr_builtin_modules[]; /* ends with {NULL} */
extern const vr_lua_global vr_lua_globals[];         /* ends with {NULL} */

#endif
