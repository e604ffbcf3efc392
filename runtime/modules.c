/* modules.c: the built-in module table (see modules.h). Adding a binding means one line here
 * and a ---@meta file in stdlib-lua/meta/. */
#include "modules.h"

#include "bindings.h"

const vr_builtin_module vr_builtin_modules[] = {
    /* clang-format off */
    {"vmrun", luaopen_vmrun, "vmrun"},
    {"vmrun.task", luaopen_vmrun_task, "task"},
    {"vmrun.time", luaopen_vmrun_time, "time"},
    {"vmrun.log", luaopen_vmrun_log, "log"},
    {"vmrun.json", luaopen_vmrun_json, "json"},
    {"vmrun.yaml", luaopen_vmrun_yaml, "yaml"},
    {"vmrun.exec", luaopen_vmrun_exec, "exec"},
    {"vmrun.sim", luaopen_vmrun_sim, "sim"},
    {"vmrun.cluster.core", luaopen_vmrun_cluster, NULL},
    {"vmrun.migconfig", luaopen_vmrun_migconfig, NULL},
    {"vmrun.queue.core", luaopen_vmrun_queue_core, NULL},
    {"vmrun.drain.core", luaopen_vmrun_drain_core, NULL},
    {"vmrun.journal.core", luaopen_vmrun_journal_core, NULL},
    {"vmrun.notify.core", luaopen_vmrun_notify_core, NULL},
    {"vmrun.gate.core", luaopen_vmrun_gate_core, NULL},
    {"vmrun.migration.model", luaopen_vmrun_migration_model, NULL},
    {"vmrun.cbt.core", luaopen_vmrun_cbt_core, NULL},
    {"vmrun.cbt.tracker", luaopen_vmrun_cbt_tracker, NULL},
    {NULL, NULL, NULL},
    /* clang-format on */
};

const vr_lua_global vr_lua_globals[] = {
    {"actors", "vmrun.actors"},   /* stdlib-lua/vmrun/actors.lua, over cluster */
    {"cbt", "vmrun.cbt"},         /* stdlib-lua/vmrun/cbt.lua, over vmrun.cbt.core */
    {"cluster", "vmrun.cluster"}, /* stdlib-lua/vmrun/cluster.lua, over vmrun.cluster.core */
    {"gate", "vmrun.gate"},       /* stdlib-lua/vmrun/gate.lua, over vmrun.gate.core */
    {"lock", "vmrun.lock"},       /* stdlib-lua/vmrun/lock.lua, over cluster */
    {"maintenance", "vmrun.maintenance"}, /* stdlib-lua/vmrun/maintenance.lua */
    {"node", "vmrun.node"},               /* stdlib-lua/vmrun/node.lua, over cluster */
    {"preflight", "vmrun.preflight"},     /* stdlib-lua/vmrun/preflight.lua, over cluster */
    {"queue", "vmrun.queue"},             /* stdlib-lua/vmrun/queue.lua, over vmrun.queue.core */
    {NULL, NULL},
};
