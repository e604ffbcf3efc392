/* test_exec_credential.c: unit tests of runtime/exec_credential.c: parsing ExecCredentials
 * (tokens, client certificates, expiry, the API version the kubeconfig asked for, every refusal,
 * no secret in any message), KUBERNETES_EXEC_INFO (interactive false, the cluster with its CA as
 * base64 only with provideClusterInfo), and running real plugins (small shell scripts written
 * by the test): the cache until expiry, force after a 401, one run for concurrent requests,
 * failures with the first line of stderr and never stdout, a missing command with the install
 * hint, and freeing while a plugin runs. */
#include "check.h"
#include "exec_credential.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *V1 = "client.authentication.k8s.io/v1";

static void test_parse(void) {
  vr_exec_credential c;
  char err[256];
  const char *ok =
      "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
      "\"status\":{\"token\":\"SECRET-TOK\",\"expirationTimestamp\":"
      "\"2030-01-02T03:04:05Z\"}}";
  CHECK(vr_exec_credential_parse(ok, strlen(ok), V1, &c, err, sizeof err) == 0);
  CHECK_STR(c.token, "SECRET-TOK");
  CHECK(c.expires_ms == 1893553445000LL);
  vr_exec_credential_clear(&c);
  CHECK(c.token == NULL);
  {
    const char *cert = "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":"
                       "\"ExecCredential\",\"status\":{\"clientCertificateData\":\"CERT\","
                       "\"clientKeyData\":\"SECRET-KEY\"}}";
    CHECK(vr_exec_credential_parse(cert, strlen(cert), V1, &c, err, sizeof err) == 0);
    CHECK_STR(c.client_cert_pem, "CERT");
    CHECK_STR(c.client_key_pem, "SECRET-KEY");
    CHECK(c.client_key_pem_len == 10 && c.expires_ms == 0 && c.token == NULL);
    vr_exec_credential_clear(&c);
  }
  {
    struct {
      const char *text, *needle;
    } bad[] = {
        {"not json SECRET-TOK", "not a JSON ExecCredential"},
        {"{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"kind\":\"ExecCredential\","
         "\"status\":{\"token\":\"SECRET-TOK\"}}",
         "answered apiVersion client.authentication.k8s.io/v1beta1"},
        {"{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"Secret\","
         "\"status\":{\"token\":\"SECRET-TOK\"}}",
         "not an ExecCredential"},
        {"{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\"}",
         "has no status"},
        {"{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
         "\"status\":{}}",
         "neither a token nor a client certificate"},
        {"{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
         "\"status\":{\"clientCertificateData\":\"SECRET-TOK\"}}",
         "clientCertificateData without clientKeyData"},
        {"{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
         "\"status\":{\"token\":\"SECRET-TOK\",\"expirationTimestamp\":\"soon\"}}",
         "expirationTimestamp is not an RFC 3339 time"},
        {"{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
         "\"status\":{\"token\":7}}",
         "not a string"},
    };
    size_t i;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
      err[0] = '\0';
      CHECK(vr_exec_credential_parse(bad[i].text, strlen(bad[i].text), V1, &c, err, sizeof err) ==
            -1);
      CHECK_CONTAINS(err, bad[i].needle);
      CHECK(strstr(err, "SECRET") == NULL);
      CHECK(c.token == NULL && c.client_cert_pem == NULL);
    }
  }
}

static void test_exec_info(void) {
  vr_kube_exec exec;
  vr_kube_config cfg;
  char *json;
  memset(&exec, 0, sizeof exec);
  memset(&cfg, 0, sizeof cfg);
  exec.api_version = (char *)"client.authentication.k8s.io/v1beta1";
  exec.command = (char *)"plugin";
  cfg.server = (char *)"https://api.example:6443";
  cfg.ca_pem = (char *)"abc";
  cfg.ca_pem_len = 3;
  cfg.tls_server_name = (char *)"api.internal";
  json = vr_exec_info_json(&exec, &cfg);
  CHECK_STR(json, "{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"kind\":"
                  "\"ExecCredential\",\"spec\":{\"interactive\":false}}");
  free(json);
  exec.provide_cluster_info = 1;
  json = vr_exec_info_json(&exec, &cfg);
  CHECK_CONTAINS(json, "\"cluster\":{\"server\":\"https://api.example:6443\",\"tls-server-name\":"
                       "\"api.internal\",\"certificate-authority-data\":\"YWJj\"}");
  free(json);
}

/* --- running plugins ---------------------------------------------------------------------------
 */

static char dir[256];

static void write_script(const char *name, const char *body) {
  char path[512];
  FILE *f;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  f = fopen(path, "w");
  if (f == NULL) return;
  fprintf(f, "#!/bin/sh\n%s", body);
  fclose(f);
  chmod(path, 0755);
}

static int runs(void) { /* how many times the plugin ran: lines in its log */
  char path[512], line[4096];
  int n = 0;
  FILE *f;
  snprintf(path, sizeof path, "%s/runs.log", dir);
  f = fopen(path, "r");
  if (f == NULL) return 0;
  while (fgets(line, sizeof line, f)) n++;
  fclose(f);
  return n;
}

typedef struct got {
  int calls;
  char token[64];
  char error[800];
} got;

static void on_cred(void *data, const vr_exec_credential *cred, const char *error) {
  got *g = data;
  g->calls++;
  snprintf(g->token, sizeof g->token, "%s", cred && cred->token ? cred->token : "");
  snprintf(g->error, sizeof g->error, "%s", error ? error : "");
}

static void run_until(uv_loop_t *loop, const int *calls, int want) {
  int i;
  for (i = 0; i < 2000 && *calls < want; i++) uv_run(loop, UV_RUN_ONCE);
}

static void test_plugins(void) {
  uv_loop_t loop;
  vr_clock *clock;
  vr_kube_exec exec;
  vr_kube_config cfg;
  vr_exec_plugin *p;
  got a, b, c;
  char cmd[512], log_env[600], *env[3];
  char *args[] = {(char *)"--flag", NULL};
  snprintf(dir, sizeof dir, "/tmp/vmrun-exec-cred-XXXXXX");
  if (mkdtemp(dir) == NULL) {
    CHECK(0);
    return;
  }
  uv_loop_init(&loop);
  clock = vr_clock_new(&loop, 0, 0);
  /* a plugin that logs each run (with the exec info it got) and answers a long-lived token */
  write_script("good",
               "echo \"$1 $KUBERNETES_EXEC_INFO\" >> \"$RUNS\"\n"
               "sleep 0.2\n"
               "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":"
               "\"ExecCredential\",\"status\":{\"token\":\"tok-%s\",\"expirationTimestamp\":"
               "\"2099-01-01T00:00:00Z\"}}' $(wc -l < \"$RUNS\")\n");
  memset(&exec, 0, sizeof exec);
  memset(&cfg, 0, sizeof cfg);
  snprintf(cmd, sizeof cmd, "%s/good", dir);
  snprintf(log_env, sizeof log_env, "RUNS=%s/runs.log", dir);
  env[0] = log_env;
  env[1] = NULL;
  exec.api_version = (char *)V1;
  exec.command = cmd;
  exec.args = args;
  exec.env = env;
  cfg.server = (char *)"https://127.0.0.1:6443";
  cfg.exec = &exec;
  p = vr_exec_plugin_new(&loop, clock, &cfg);
  CHECK(p != NULL);
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  memset(&c, 0, sizeof c);
  /* two requests while it runs: one run, both answered */
  CHECK(vr_exec_plugin_get(p, 0, on_cred, &a) == 0);
  CHECK(vr_exec_plugin_get(p, 0, on_cred, &b) == 0);
  run_until(&loop, &b.calls, 1);
  CHECK(a.calls == 1 && b.calls == 1);
  CHECK_STR(a.token, "tok-1");
  CHECK_STR(b.token, "tok-1");
  CHECK(runs() == 1);
  /* cached: answered at once, no run */
  CHECK(vr_exec_plugin_get(p, 0, on_cred, &c) == 0);
  CHECK(c.calls == 1 && strcmp(c.token, "tok-1") == 0 && runs() == 1);
  /* force (after a 401): runs again */
  CHECK(vr_exec_plugin_get(p, 1, on_cred, &c) == 0);
  run_until(&loop, &c.calls, 2);
  CHECK_STR(c.token, "tok-2");
  {
    char path[512], line[4096] = "";
    FILE *f;
    snprintf(path, sizeof path, "%s/runs.log", dir);
    f = fopen(path, "r");
    if (f) {
      CHECK(fgets(line, sizeof line, f) != NULL);
      fclose(f);
    }
    CHECK_CONTAINS(line, "--flag {\"apiVersion\":\"client.authentication.k8s.io/v1\"");
    CHECK_CONTAINS(line, "\"interactive\":false");
  }
  vr_exec_plugin_free(p);

  /* an expired credential is fetched again every time */
  write_script("expired",
               "echo x >> \"$RUNS\"\n"
               "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":"
               "\"ExecCredential\",\"status\":{\"token\":\"old\",\"expirationTimestamp\":"
               "\"2001-01-01T00:00:00Z\"}}'\n");
  snprintf(cmd, sizeof cmd, "%s/expired", dir);
  p = vr_exec_plugin_new(&loop, clock, &cfg);
  memset(&a, 0, sizeof a);
  CHECK(vr_exec_plugin_get(p, 0, on_cred, &a) == 0);
  run_until(&loop, &a.calls, 1);
  CHECK(vr_exec_plugin_get(p, 0, on_cred, &a) == 0);
  run_until(&loop, &a.calls, 2);
  CHECK(a.calls == 2 && runs() == 4 && strcmp(a.token, "old") == 0);
  vr_exec_plugin_free(p);

  /* a failing plugin: its exit and stderr's first line, never its stdout */
  write_script("failing", "echo '{\"status\":{\"token\":\"SECRET-OUT\"}}'\n"
                          "echo 'login required' >&2\necho 'second line' >&2\nexit 3\n");
  snprintf(cmd, sizeof cmd, "%s/failing", dir);
  p = vr_exec_plugin_new(&loop, clock, &cfg);
  memset(&a, 0, sizeof a);
  CHECK(vr_exec_plugin_get(p, 0, on_cred, &a) == 0);
  run_until(&loop, &a.calls, 1);
  CHECK_CONTAINS(a.error, "exited with status 3: login required");
  CHECK(strstr(a.error, "SECRET") == NULL && strstr(a.error, "second") == NULL);
  vr_exec_plugin_free(p);

  /* garbage on stdout */
  write_script("garbage", "echo 'SECRET-GARBAGE'\n");
  snprintf(cmd, sizeof cmd, "%s/garbage", dir);
  p = vr_exec_plugin_new(&loop, clock, &cfg);
  memset(&a, 0, sizeof a);
  CHECK(vr_exec_plugin_get(p, 0, on_cred, &a) == 0);
  run_until(&loop, &a.calls, 1);
  CHECK_CONTAINS(a.error, "not a JSON ExecCredential");
  CHECK(strstr(a.error, "SECRET") == NULL);
  vr_exec_plugin_free(p);

  /* a command that does not exist: the install hint */
  exec.command = (char *)"/nonexistent/vmrun-test-plugin";
  exec.install_hint = (char *)"install it with your package manager";
  p = vr_exec_plugin_new(&loop, clock, &cfg);
  memset(&a, 0, sizeof a);
  CHECK(vr_exec_plugin_get(p, 0, on_cred, &a) == 0);
  run_until(&loop, &a.calls, 1);
  CHECK_CONTAINS(a.error, "vmrun-test-plugin");
  CHECK_CONTAINS(a.error, "install it with your package manager");
  vr_exec_plugin_free(p);

  /* freed while it runs: the waiter hears "cancelled", the process is stopped */
  write_script("slow", "exec sleep 30\n");
  snprintf(cmd, sizeof cmd, "%s/slow", dir);
  exec.command = cmd;
  p = vr_exec_plugin_new(&loop, clock, &cfg);
  memset(&a, 0, sizeof a);
  CHECK(vr_exec_plugin_get(p, 0, on_cred, &a) == 0);
  uv_run(&loop, UV_RUN_NOWAIT);
  vr_exec_plugin_free(p);
  run_until(&loop, &a.calls, 1);
  CHECK_STR(a.error, "cancelled");

  vr_clock_free(clock);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
  {
    char rm[600];
    const char *names[] = {"good", "expired", "failing", "garbage", "slow", "runs.log"};
    size_t i;
    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
      snprintf(rm, sizeof rm, "%s/%s", dir, names[i]);
      unlink(rm);
    }
    rmdir(dir);
  }
}

int main(void) {
  test_parse();
  test_exec_info();
  test_plugins();
  return CHECK_DONE();
}
