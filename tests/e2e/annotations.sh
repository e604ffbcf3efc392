#!/usr/bin/env bash
# tests/e2e/annotations.sh: every Lua-visible C function has a LuaLS annotation, and no annotation
# names a function that is gone. Runs tools/check_annotations.lua with the vmrun under test, which
# prints each missing or stale name with its file, and fails. Usage:
#   bash tests/e2e/annotations.sh PATH/TO/vmrun
#
# Convention (how each luaL_Reg array in bindings/*.c maps to annotated Lua names):
#   luaL_Reg <prefix>_funcs[]    module functions of the global <prefix>
#                                -> `function <prefix>.<name>(`      e.g. task_funcs "spawn" -> task.spawn
#   luaL_Reg <prefix>_methods[]  methods of the class vmrun.<Prefix> (<prefix> in CamelCase)
#                                -> `---@class vmrun.<Prefix>` over `local <Prefix> = {}`, and
#                                   `function <Prefix>:<name>(`     e.g. task_methods "wait" -> Task:wait
#   entries named __* (metamethods: __gc, __index, __close, ...) are skipped, and so is an array
#   that holds only such entries; an array with any other name fails the check (rename it to fit).
# Annotations are lines that start with `function A.b(` / `function A:b(` in stdlib-lua/meta/*.lua.
# Stale: such a line whose A is a module or class of the rule above, but whose b is registered in
# no luaL_Reg array (in meta/X.lua for an existing bindings/X.c, any unknown A is stale too).
# Async: a C function that waits (calls vr_await, vr_task_join, lua_yield or lua_yieldk, directly or
# through a function of the same file) must have ---@async in the comment block above its
# annotation, and no other function may have it.
set -uo pipefail
vmrun=${1:?usage: annotations.sh PATH/TO/vmrun}
vmrun=$(cd "$(dirname "$vmrun")" && pwd)/$(basename "$vmrun")
src=${VMRUN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$src" || exit 1
"$vmrun" tools/check_annotations.lua "$src"
