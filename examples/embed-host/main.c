/* main.c: embed-host, a small program that embeds the vmrun runtime through its public API
 * (vmrun.h, libvmrun) and adds one binding of its own, the `greet` module. It runs the Lua script
 * named on its command line (its other arguments become the script's `...`) on the real clock and
 * exits with the script's exit code (0 ok, 1 failed, 2 usage or input error, 3 timeout, 130
 * interrupted). Build: see README.md beside this file.
 *
 *   embed-host hello.lua Ada Linus */
#include <lauxlib.h>
#include <stdio.h>
#include <vmrun.h>

/* greet.hello(name) -> string
 * Returns "hello, <name>!". Raises (with the caller's file:line) when name is not a string or is
 * empty. */
static int l_greet_hello(lua_State *L) {
  size_t len;
  const char *name = luaL_checklstring(L, 1, &len);
  luaL_argcheck(L, len > 0, 1, "name must not be empty");
  lua_pushfstring(L, "hello, %s!", name);
  return 1;
}

static const luaL_Reg greet_funcs[] = {
    {"hello", l_greet_hello},
    {NULL, NULL},
};

/* The module's opener, named as Lua's C loader would look it up. */
static int luaopen_greet(lua_State *L) {
  luaL_newlib(L, greet_funcs);
  return 1;
}

int main(int argc, char **argv) {
  vr_host_config cfg;
  vr_host *host;
  int code;
  if (argc < 2) {
    fprintf(stderr, "usage: %s SCRIPT.lua [ARGS...]\n", argv[0]);
    return VMRUN_EXIT_USAGE;
  }
  vr_host_config_init(&cfg);
  cfg.progname = "embed-host";
  cfg.real_time = 1;      /* task.sleep waits for real; vmrun's own default is simulated time */
  cfg.handle_signals = 1; /* Ctrl-C cancels the tasks and runs their cleanup; twice exits */
  cfg.host_argc = 1;      /* arg[-1] = the program */
  cfg.host_argv = argv;
  host = vr_host_new(&cfg);
  if (host == NULL) return VMRUN_EXIT_FAILED;
  /* require("greet"), and the global `greet` loaded on first use */
  if (vr_host_register_module(host, "greet", luaopen_greet, "greet") != 0) {
    vr_host_free(host);
    return VMRUN_EXIT_FAILED;
  }
  code = vr_host_run_file(host, argv[1], argc - 2, argv + 2);
  vr_host_free(host);
  return code;
}
