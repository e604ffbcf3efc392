/* kubeconfig.h: reading kubeconfig files as kubectl reads them, and the in-cluster service-account
 * configuration, into one resolved connection description for vmrun's Kubernetes REST backend:
 * the server URL, TLS material, credentials (token, token file, client certificate and key, exec
 * credential plugin), the namespace, proxy and TLS server name, and where each came from.
 *
 * Rules (kubectl's, k8s.io/client-go/tools/clientcmd): KUBECONFIG is a list of files separated
 * by ':'; missing files in the list are skipped; maps are merged with the FIRST file that sets a
 * given cluster, user or context name winning, and current-context taken from the first file that
 * sets it; relative file paths (certificate-authority, client-certificate, client-key, tokenFile,
 * exec command when it contains a '/') are relative to the folder of the file that holds them;
 * the *-data fields are base64. Errors name the file and line ("~/.kube/config:14: context 'prod'
 * names cluster 'prod-cluster', which no file defines").
 *
 * Secrets (tokens, keys, certificate data) are kept in memory only as long as the description
 * lives and are wiped when it is freed; nothing here prints them. No network, no Lua, and the
 * exec plugin is not run here (its settings are returned for the client to run). */
#ifndef VMRUN_KUBECONFIG_H
#define VMRUN_KUBECONFIG_H

#include <stddef.h>

typedef struct vr_kube_exec {
  char *api_version; /* client.authentication.k8s.io/v1 or v1beta1 */
  char *command;     /* resolved against the kubeconfig's folder when it contains a '/' */
  char **args;       /* NULL-terminated (may be empty) */
  char **env;        /* "NAME=VALUE", NULL-terminated (may be empty) */
  char *install_hint;
  int provide_cluster_info;
  char *interactive_mode; /* "Never", "IfAvailable", "Always" (default IfAvailable for v1beta1) */
} vr_kube_exec;

/* For an http:// server the description holds, as kubectl uses, no credentials (token,
 * token_file, client certificate and key, username, password, exec) and no TLS settings: kubectl
 * sends credentials only over TLS. They are still checked (files readable, no conflicts). */
typedef struct vr_kube_config {
  char *context;    /* the context used ("" for in-cluster) */
  char *cluster;    /* its cluster's name */
  char *user;       /* its user's name ("" when the context names none) */
  char *server;     /* "https://api.example:6443" (no trailing '/') */
  char *namespace_; /* the context's namespace, or "default" */
  char *tls_server_name;
  char *proxy_url;
  int insecure_skip_tls_verify;
  /* TLS material: a file path or in-memory PEM (from *-data, base64-decoded); at most one of
   * each pair is set */
  char *ca_file;
  char *ca_pem;
  size_t ca_pem_len;
  char *client_cert_file;
  char *client_cert_pem;
  size_t client_cert_pem_len;
  char *client_key_file;
  char *client_key_pem;
  size_t client_key_pem_len;
  /* credentials */
  char *token;               /* bearer token (secret) */
  char *token_file;          /* read by the client on each use (it may rotate) */
  char *username, *password; /* basic auth (secret password) */
  vr_kube_exec *exec;        /* NULL unless the user has an exec plugin */
  /* where it came from, for the first line of output and for messages */
  char *source; /* "KUBECONFIG=/a:/b", the kubeconfig path, or "in-cluster" */
} vr_kube_config;

typedef struct vr_kubeconfig_error {
  char file[512]; /* the file the problem is in ("" when none) */
  int line;       /* 1-based; 0 when not about a line */
  char message[512];
} vr_kubeconfig_error;

/* Loads kubeconfig files. paths: a ':'-separated list as in KUBECONFIG (an explicit --kubeconfig
 * is one path, which must exist); NULL means $KUBECONFIG, else ~/.kube/config. context: the
 * context to use (NULL: current-context). namespace_override: --namespace (NULL: the
 * context's). Returns NULL with err filled: unreadable or malformed file (file:line), no current
 * context and none named, a context, cluster or user that does not exist, a cluster without a
 * server, a server that is not an http(s) URL, bad base64, both a file and data for the same
 * item, an unknown auth-provider (vmrun does not support the deprecated auth-provider plugins:
 * the message says to use an exec plugin). */
vr_kube_config *vr_kubeconfig_load(const char *paths, const char *context,
                                   const char *namespace_override, vr_kubeconfig_error *err);

/* The in-cluster configuration: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT, the token
 * file, CA and namespace from dir (NULL: /var/run/secrets/kubernetes.io/serviceaccount). NULL
 * with err filled when not running in a cluster (names what is missing). */
vr_kube_config *vr_kubeconfig_in_cluster(const char *dir, vr_kubeconfig_error *err);

/* Wipes the secrets and frees everything. NULL is fine. */
void vr_kube_config_free(vr_kube_config *c);

/* "file:line: message" (or "file: message", or "message") into buf. */
void vr_kubeconfig_error_format(const vr_kubeconfig_error *err, char *buf, size_t len);

/* Test hook (tests only; not thread-safe): set to n > 0, the n-th allocation that kubeconfig.c
 * makes from then on fails, so that a test can walk every out-of-memory path. 0: none. */
extern long vr_kubeconfig_test_fail_alloc;

#endif
