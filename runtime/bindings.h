/* bindings.h: the openers of the C modules in bindings/ (one file each). */
#ifndef VMRUN_BINDINGS_H
#define VMRUN_BINDINGS_H

#include <lua.h>

int luaopen_vmrun(lua_State *L);
int luaopen_vmrun_task(lua_State *L);
int luaopen_vmrun_time(lua_State *L);
int luaopen_vmrun_log(lua_State *L);
int luaopen_vmrun_json(lua_State *L);
int luaopen_vmrun_yaml(lua_State *L);
int luaopen_vmrun_exec(lua_State *L);

#endif
