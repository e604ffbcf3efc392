/* serve.h: the `vmrun serve` command: the simulated cluster as a Kubernetes API server on
 * loopback (http_server.h + kube_api.h), with the simulation paced at --speed simulated seconds
 * per real second, or moved only by a client (--clock client, the sim.vmrun.io/v1 clock). No Lua
 * here. */
#ifndef VMRUN_SERVE_H
#define VMRUN_SERVE_H

/* argv[0] is "serve"; default_cluster is the demo cluster's file (NULL: none). Returns the
 * process exit code (0 after SIGINT/SIGTERM, 2 for usage or input errors). */
int vr_serve_main(int argc, char **argv, const char *default_cluster);

#endif
