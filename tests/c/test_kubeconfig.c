/* test_kubeconfig.c: unit tests of runtime/kubeconfig.c: one file, KUBECONFIG lists of two and
 * three files (first definition and first current-context win, missing files skipped, an
 * explicit path must exist, the default ~/.kube/config), relative paths per file, base64 data,
 * file-versus-data conflicts, every error's file and line, namespaces, exec plugins of both API
 * versions, refused impersonation and auth-provider, tokens and token files, http servers, the
 * in-cluster configuration, and that no secret ever appears in an error. The test writes its
 * files under a mkdtemp folder and removes them; it changes KUBECONFIG, HOME, POD_NAMESPACE and
 * the KUBERNETES_SERVICE_* variables of its own process only. */
#include "check.h"
#include "kubeconfig.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[256];
static char *created[256];
static int created_is_dir[256];
static int ncreated;

/* Secret values the test files hold: none may appear in an error. */
static const char *secrets[16] = {"SECRET", NULL};
static int nsecrets = 1;

/* tmp/rel, in one of a few rotating buffers. */
static const char *at(const char *rel) {
  static char bufs[8][512];
  static int next;
  char *b = bufs[next++ % 8];
  snprintf(b, sizeof bufs[0], "%s/%s", root, rel);
  return b;
}

static void remember(const char *path, int is_dir) {
  int i;
  for (i = 0; i < ncreated; i++)
    if (strcmp(created[i], path) == 0) return;
  if (ncreated < 256) {
    created[ncreated] = strdup(path);
    created_is_dir[ncreated++] = is_dir;
  }
}

static void make_dir(const char *rel) {
  const char *p = at(rel);
  if (mkdir(p, 0700) != 0) perror(p);
  remember(p, 1);
}

static void write_file(const char *rel, const char *fmt, ...) {
  const char *p = at(rel);
  FILE *f = fopen(p, "w");
  va_list ap;
  if (f == NULL) {
    perror(p);
    return;
  }
  va_start(ap, fmt);
  vfprintf(f, fmt, ap);
  va_end(ap);
  fclose(f);
  remember(p, 0);
}

static void cleanup(void) {
  int i;
  for (i = ncreated - 1; i >= 0; i--) {
    if ((created_is_dir[i] ? rmdir(created[i]) : unlink(created[i])) != 0) perror(created[i]);
    free(created[i]);
  }
  if (rmdir(root) != 0) perror(root);
}

static void b64(const char *s, char *out) {
  static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t n = strlen(s), i, o = 0;
  for (i = 0; i + 2 < n; i += 3) {
    unsigned v =
        ((unsigned char)s[i] << 16) | ((unsigned char)s[i + 1] << 8) | (unsigned char)s[i + 2];
    out[o++] = tab[v >> 18];
    out[o++] = tab[(v >> 12) & 63];
    out[o++] = tab[(v >> 6) & 63];
    out[o++] = tab[v & 63];
  }
  if (n - i == 1) {
    unsigned v = (unsigned char)s[i] << 16;
    out[o++] = tab[v >> 18];
    out[o++] = tab[(v >> 12) & 63];
    out[o++] = '=';
    out[o++] = '=';
  } else if (n - i == 2) {
    unsigned v = ((unsigned char)s[i] << 16) | ((unsigned char)s[i + 1] << 8);
    out[o++] = tab[v >> 18];
    out[o++] = tab[(v >> 12) & 63];
    out[o++] = tab[(v >> 6) & 63];
    out[o++] = '=';
  }
  out[o] = '\0';
}

static const char *show(const vr_kubeconfig_error *e) {
  static char buf[1200];
  vr_kubeconfig_error_format(e, buf, sizeof buf);
  return buf;
}

static int no_secret(const char *text) {
  int i;
  for (i = 0; i < nsecrets; i++)
    if (strstr(text, secrets[i]) != NULL) return 0;
  return 1;
}

static vr_kube_config *load_ok(int line, const char *paths, const char *ctx, const char *ns) {
  vr_kubeconfig_error e;
  vr_kube_config *c = vr_kubeconfig_load(paths, ctx, ns, &e);
  check_count++;
  if (c == NULL) {
    check_failures++;
    fprintf(stderr, "%s:%d: unexpected error: %s\n", __FILE__, line, show(&e));
  }
  return c;
}
#define LOAD_OK(paths, ctx, ns) load_ok(__LINE__, paths, ctx, ns)

/* Expects a failure in file rel (NULL: no file) at line want_line whose message holds needle;
 * and no secret in it. */
static void expect_err(int line, const char *paths, const char *ctx, const char *ns,
                       const char *rel, int want_line, const char *needle) {
  vr_kubeconfig_error e;
  vr_kube_config *c = vr_kubeconfig_load(paths, ctx, ns, &e);
  const char *text = show(&e);
  check_count++;
  if (c != NULL) {
    check_failures++;
    fprintf(stderr, "%s:%d: expected an error holding \"%s\", got a config\n", __FILE__, line,
            needle);
    vr_kube_config_free(c);
    return;
  }
  if ((rel == NULL ? e.file[0] != '\0' : strcmp(e.file, at(rel)) != 0) || e.line != want_line ||
      strstr(e.message, needle) == NULL || !no_secret(text)) {
    check_failures++;
    fprintf(stderr, "%s:%d: expected %s:%d: ...%s..., got \"%s\"\n", __FILE__, line,
            rel != NULL ? rel : "(no file)", want_line, needle, text);
  }
}
#define EXPECT_ERR(paths, ctx, ns, rel, want_line, needle)                                         \
  expect_err(__LINE__, paths, ctx, ns, rel, want_line, needle)

/* A kubeconfig with one context "c" -> cluster "k" (server) and user "u" (user_body lines). */
static void one(const char *rel, const char *cluster_body, const char *user_body) {
  write_file(rel,
             "apiVersion: v1\n"
             "kind: Config\n"
             "clusters:\n"
             "- name: k\n"
             "  cluster:\n"
             "%s"
             "users:\n"
             "- name: u\n"
             "  user:\n"
             "%s"
             "contexts:\n"
             "- name: c\n"
             "  context: {cluster: k, user: u}\n"
             "current-context: c\n",
             cluster_body, user_body);
}

static const char *ca_b64, *cert_b64, *key_b64;

static void test_single_file(void) {
  vr_kube_config *c;
  char text[4096];
  write_file("ca.crt", "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n");
  snprintf(text, sizeof text,
           "# a kubeconfig as kubectl writes it\n"
           "apiVersion: v1\n"
           "kind: Config\n"
           "preferences: {}\n"
           "extensions: [{name: x, extension: {anything: [1, 2]}}]\n"
           "clusters:\n"
           "- name: prod\n"
           "  cluster:\n"
           "    server: https://API.example.com:6443/\n"
           "    certificate-authority-data: %s\n"
           "    tls-server-name: api.internal\n"
           "    proxy-url: socks5://proxy:1080\n"
           "    disable-compression: true\n"
           "    extensions: [{name: e, extension: 1}]\n"
           "    unknown-key: ignored\n"
           "- name: dev\n"
           "  cluster:\n"
           "    server: https://10.0.0.1\n"
           "    insecure-skip-tls-verify: yes\n"
           "users:\n"
           "- name: admin\n"
           "  user:\n"
           "    token: SECRET-TOKEN-123\n"
           "    extensions: []\n"
           "- name: dev-user\n"
           "  user:\n"
           "    username: alice\n"
           "    password: \"SECRET-PASSWORD-456\"\n"
           "contexts:\n"
           "- name: prod\n"
           "  context:\n"
           "    cluster: prod\n"
           "    user: admin\n"
           "    namespace: kube-system\n"
           "    extensions: {}\n"
           "- name: dev\n"
           "  context: {cluster: dev, user: dev-user}\n"
           "current-context: prod\n",
           ca_b64);
  write_file("single.yaml", "%s", text);
  c = LOAD_OK(at("single.yaml"), NULL, NULL);
  if (c != NULL) {
    CHECK_STR(c->context, "prod");
    CHECK_STR(c->cluster, "prod");
    CHECK_STR(c->user, "admin");
    CHECK_STR(c->server, "https://API.example.com:6443");
    CHECK_STR(c->namespace_, "kube-system");
    CHECK_STR(c->tls_server_name, "api.internal");
    CHECK_STR(c->proxy_url, "socks5://proxy:1080");
    CHECK(c->insecure_skip_tls_verify == 0);
    CHECK(c->ca_file == NULL);
    CHECK(c->ca_pem != NULL && c->ca_pem_len == strlen(c->ca_pem));
    CHECK_CONTAINS(c->ca_pem, "-----BEGIN CERTIFICATE-----\nCA\n");
    CHECK_STR(c->token, "SECRET-TOKEN-123");
    CHECK(c->token_file == NULL && c->username == NULL && c->password == NULL);
    CHECK(c->exec == NULL && c->client_cert_pem == NULL && c->client_key_file == NULL);
    CHECK_STR(c->source, at("single.yaml"));
    vr_kube_config_free(c);
  }
  /* another context by name, and --namespace */
  c = LOAD_OK(at("single.yaml"), "dev", "team-a");
  if (c != NULL) {
    CHECK_STR(c->context, "dev");
    CHECK_STR(c->server, "https://10.0.0.1");
    CHECK(c->insecure_skip_tls_verify == 1);
    CHECK_STR(c->namespace_, "team-a");
    CHECK_STR(c->username, "alice");
    CHECK_STR(c->password, "SECRET-PASSWORD-456");
    CHECK(c->token == NULL);
    vr_kube_config_free(c);
  }
  /* no namespace in the context: "default"; an override wins */
  c = LOAD_OK(at("single.yaml"), "dev", NULL);
  if (c != NULL) CHECK_STR(c->namespace_, "default");
  vr_kube_config_free(c);
  c = LOAD_OK(at("single.yaml"), NULL, "other");
  if (c != NULL) CHECK_STR(c->namespace_, "other");
  vr_kube_config_free(c);
  EXPECT_ERR(at("single.yaml"), NULL, "Bad_NS", NULL, 0, "namespace 'Bad_NS' is not a valid");

  /* the same as JSON (kubectl config view -o json) */
  write_file("single.json",
             "{\n"
             "  \"kind\": \"Config\",\n"
             "  \"apiVersion\": \"v1\",\n"
             "  \"clusters\": [\n"
             "    {\"name\": \"j\", \"cluster\": {\"server\": \"https://j.example:443/prefix/\",\n"
             "      \"certificate-authority\": \"ca.crt\", \"insecure-skip-tls-verify\": false}}\n"
             "  ],\n"
             "  \"users\": [{\"name\": \"ju\", \"user\": {\"token\": \"SECRET-TOKEN-123\"}}],\n"
             "  \"contexts\": [{\"name\": \"jc\", \"context\": {\"cluster\": \"j\", \"user\": "
             "\"ju\", \"namespace\": \"ns1\"}}],\n"
             "  \"current-context\": \"jc\",\n"
             "  \"preferences\": {}\n"
             "}\n");
  c = LOAD_OK(at("single.json"), NULL, NULL);
  if (c != NULL) {
    CHECK_STR(c->server, "https://j.example:443/prefix");
    CHECK_STR(c->ca_file, at("ca.crt"));
    CHECK(c->ca_pem == NULL);
    CHECK_STR(c->namespace_, "ns1");
    CHECK_STR(c->token, "SECRET-TOKEN-123");
    vr_kube_config_free(c);
  }
  /* anchors and merge keys, as kubectl's YAML reader follows them */
  write_file("merge-keys.yaml", "base: &base\n"
                                "  server: https://base.example\n"
                                "  insecure-skip-tls-verify: true\n"
                                "clusters:\n"
                                "- name: k\n"
                                "  cluster:\n"
                                "    <<: *base\n"
                                "    server: https://own.example\n"
                                "users:\n"
                                "- name: u\n"
                                "  user: {token: SECRET-TOKEN-123}\n"
                                "contexts:\n"
                                "- name: c\n"
                                "  context: {cluster: k, user: u}\n"
                                "current-context: c\n");
  c = LOAD_OK(at("merge-keys.yaml"), NULL, NULL);
  if (c != NULL) {
    CHECK_STR(c->server, "https://own.example");
    CHECK(c->insecure_skip_tls_verify == 1);
    vr_kube_config_free(c);
  }
}

static void test_merge(void) {
  vr_kube_config *c;
  char list[2048];
  make_dir("m");
  /* a: no current-context; defines "shared" first, with no tls-server-name */
  write_file("m/a.yaml", "clusters:\n"
                         "- name: shared\n"
                         "  cluster:\n"
                         "    server: https://from-a.example\n"
                         "contexts:\n"
                         "- name: ctx-a\n"
                         "  context: {cluster: shared, user: user-c}\n"
                         "current-context: \"\"\n");
  /* b: "shared" again (ignored entirely, even the field a lacks), the first current-context */
  write_file("m/b.yaml", "clusters:\n"
                         "- name: shared\n"
                         "  cluster:\n"
                         "    server: https://from-b.example\n"
                         "    tls-server-name: from-b\n"
                         "- name: only-b\n"
                         "  cluster: {server: https://only-b.example}\n"
                         "contexts:\n"
                         "- name: ctx-b\n"
                         "  context: {cluster: shared, user: user-c, namespace: from-b}\n"
                         "- name: ctx-a\n"
                         "  context: {cluster: only-b, user: user-c}\n"
                         "current-context: ctx-b\n");
  /* c: the user both contexts name, another current-context (ignored) */
  write_file("m/c.yaml", "users:\n"
                         "- name: user-c\n"
                         "  user: {token: SECRET-TOKEN-123}\n"
                         "contexts:\n"
                         "- name: ctx-c\n"
                         "  context: {cluster: only-b, user: user-c}\n"
                         "current-context: ctx-c\n");
  write_file("m/empty.yaml", "");

  snprintf(list, sizeof list, "%s:%s:%s", at("m/a.yaml"), at("m/b.yaml"), at("m/c.yaml"));
  setenv("KUBECONFIG", list, 1);
  c = LOAD_OK(NULL, NULL, NULL);
  if (c != NULL) {
    CHECK_STR(c->context, "ctx-b");
    CHECK_STR(c->server, "https://from-a.example");
    CHECK(c->tls_server_name == NULL);
    CHECK_STR(c->namespace_, "from-b");
    CHECK_STR(c->user, "user-c");
    CHECK_STR(c->token, "SECRET-TOKEN-123");
    CHECK(strncmp(c->source, "KUBECONFIG=", 11) == 0 && strcmp(c->source + 11, list) == 0);
    vr_kube_config_free(c);
  }
  /* ctx-a: a's definition, not b's */
  c = LOAD_OK(NULL, "ctx-a", NULL);
  if (c != NULL) CHECK_STR(c->server, "https://from-a.example");
  vr_kube_config_free(c);

  /* two files; a missing file, an empty file, an empty item and a repeat in the list */
  snprintf(list, sizeof list, "%s:%s::%s:%s:%s", at("m/missing.yaml"), at("m/c.yaml"),
           at("m/empty.yaml"), at("m/b.yaml"), at("m/c.yaml"));
  setenv("KUBECONFIG", list, 1);
  c = LOAD_OK(NULL, NULL, NULL);
  if (c != NULL) {
    CHECK_STR(c->context, "ctx-c"); /* c's current-context is the first now */
    CHECK_STR(c->server, "https://only-b.example");
    vr_kube_config_free(c);
  }
  /* an explicit list skips missing files as well */
  snprintf(list, sizeof list, "%s:%s:%s", at("m/b.yaml"), at("m/nope.yaml"), at("m/c.yaml"));
  c = LOAD_OK(list, "ctx-a", NULL);
  if (c != NULL) {
    CHECK_STR(c->server, "https://only-b.example");
    CHECK_STR(c->source, list);
    vr_kube_config_free(c);
  }
  /* an explicit single path must exist; a list of missing files is an error too */
  EXPECT_ERR(at("m/nope.yaml"), NULL, NULL, "m/nope.yaml", 0, "does not exist");
  snprintf(list, sizeof list, "%s:%s", at("m/nope.yaml"), at("m/nope2.yaml"));
  setenv("KUBECONFIG", list, 1);
  EXPECT_ERR(NULL, NULL, NULL, NULL, 0, "none of the files");
  setenv("KUBECONFIG", at("m/nope.yaml"), 1);
  EXPECT_ERR(NULL, NULL, NULL, "m/nope.yaml", 0, "does not exist");
  setenv("KUBECONFIG", ":", 1);
  EXPECT_ERR(NULL, NULL, NULL, NULL, 0, "names no file");
  /* a file that is unreadable for another reason is an error, not skipped */
  snprintf(list, sizeof list, "%s:%s", at("m"), at("m/c.yaml"));
  EXPECT_ERR(list, NULL, NULL, "m", 0, "cannot read");

  /* no KUBECONFIG: $HOME/.kube/config */
  unsetenv("KUBECONFIG");
  make_dir("home");
  make_dir("home/.kube");
  setenv("HOME", at("home"), 1);
  EXPECT_ERR(NULL, NULL, NULL, "home/.kube/config", 0, "does not exist");
  write_file("home/.kube/config",
             "clusters: [{name: h, cluster: {server: 'http://127.0.0.1:8080'}}]\n"
             "contexts: [{name: h, context: {cluster: h}}]\n"
             "current-context: h\n");
  c = LOAD_OK(NULL, NULL, NULL);
  if (c != NULL) {
    CHECK_STR(c->server, "http://127.0.0.1:8080");
    CHECK_STR(c->user, "");
    CHECK_STR(c->source, at("home/.kube/config"));
    vr_kube_config_free(c);
  }
  setenv("KUBECONFIG", "", 1); /* empty is unset */
  c = LOAD_OK(NULL, NULL, NULL);
  if (c != NULL) CHECK_STR(c->context, "h");
  vr_kube_config_free(c);
  unsetenv("KUBECONFIG");
}

static void test_relative_paths(void) {
  vr_kube_config *c;
  char list[1024], cwd[512];
  make_dir("ra");
  make_dir("ra/certs");
  make_dir("ra/~");
  make_dir("rb");
  make_dir("keys");
  write_file("ra/certs/ca.crt", "ca a\n");
  write_file("ra/~/ca.crt", "tilde\n");
  write_file("ra/client.crt", "cert a\n");
  write_file("keys/client.key", "SECRET key\n");
  write_file("rb/ca.crt", "ca b\n");
  write_file("rb/token", "SECRET-TOKEN-FILE\n");
  write_file("ra/config",
             "clusters:\n"
             "- name: a\n"
             "  cluster: {server: 'https://a:6443', certificate-authority: certs/ca.crt}\n"
             "- name: tilde\n"
             "  cluster: {server: 'https://t', certificate-authority: ~/ca.crt}\n"
             "users:\n"
             "- name: ua\n"
             "  user:\n"
             "    client-certificate: ./client.crt\n"
             "    client-key: ../keys//client.key\n"
             "    exec:\n"
             "      apiVersion: client.authentication.k8s.io/v1beta1\n"
             "      command: ./bin/plugin\n"
             "contexts:\n"
             "- {name: a, context: {cluster: a, user: ua}}\n"
             "- {name: tilde, context: {cluster: tilde, user: ub}}\n"
             "current-context: a\n");
  write_file("rb/config", "clusters:\n"
                          "- name: b\n"
                          "  cluster: {server: 'https://b', certificate-authority: ca.crt}\n"
                          "users:\n"
                          "- name: ub\n"
                          "  user:\n"
                          "    tokenFile: token\n"
                          "    exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: "
                          "kubelogin}\n"
                          "contexts:\n"
                          "- {name: b, context: {cluster: b, user: ub}}\n");
  snprintf(list, sizeof list, "%s:%s", at("ra/config"), at("rb/config"));
  c = LOAD_OK(list, NULL, NULL);
  if (c != NULL) {
    CHECK_STR(c->ca_file, at("ra/certs/ca.crt"));
    CHECK_STR(c->client_cert_file, at("ra/client.crt"));
    CHECK_STR(c->client_key_file, at("keys/client.key"));
    CHECK(c->exec != NULL);
    if (c->exec != NULL) CHECK_STR(c->exec->command, at("ra/bin/plugin"));
    vr_kube_config_free(c);
  }
  c = LOAD_OK(list, "b", NULL);
  if (c != NULL) {
    CHECK_STR(c->ca_file, at("rb/ca.crt"));
    CHECK_STR(c->token_file, at("rb/token"));
    CHECK(c->token == NULL);
    if (c->exec != NULL) CHECK_STR(c->exec->command, "kubelogin"); /* no '/': from PATH */
    vr_kube_config_free(c);
  }
  /* "~" is not the home folder inside a kubeconfig (client-go does not expand it) */
  c = LOAD_OK(list, "tilde", NULL);
  if (c != NULL) {
    CHECK_STR(c->ca_file, at("ra/~/ca.crt"));
    CHECK_STR(c->token_file, at("rb/token")); /* the user's file, not the context's */
    vr_kube_config_free(c);
  }
  /* relative kubeconfig paths are relative to the working folder */
  if (getcwd(cwd, sizeof cwd) != NULL && chdir(root) == 0) {
    c = LOAD_OK("ra/config:rb/config", NULL, NULL);
    if (c != NULL) CHECK_STR(c->ca_file, at("ra/certs/ca.crt"));
    vr_kube_config_free(c);
    CHECK(chdir(cwd) == 0);
  }
  /* a missing referenced file is an error at its line */
  one("ra/missing-ca.yaml", "    server: https://k\n    certificate-authority: nowhere.crt\n",
      "    token: SECRET-TOKEN-123\n");
  EXPECT_ERR(at("ra/missing-ca.yaml"), NULL, NULL, "ra/missing-ca.yaml", 7,
             "certificate-authority");
  one("ra/missing-key.yaml", "    server: https://k\n",
      "    client-certificate: client.crt\n    client-key: nokey.pem\n");
  EXPECT_ERR(at("ra/missing-key.yaml"), NULL, NULL, "ra/missing-key.yaml", 11, "client-key");
}

static void test_base64(void) {
  vr_kube_config *c;
  char body[4096], broken[256];
  /* valid: the key as PEM */
  snprintf(body, sizeof body, "    client-certificate-data: %s\n    client-key-data: %s\n",
           cert_b64, key_b64);
  one("b64-ok.yaml", "    server: https://k\n", body);
  c = LOAD_OK(at("b64-ok.yaml"), NULL, NULL);
  if (c != NULL) {
    CHECK_CONTAINS(c->client_cert_pem, "BEGIN CERTIFICATE");
    CHECK_CONTAINS(c->client_key_pem, "SECRET-KEY-789");
    CHECK(c->client_key_pem_len == strlen(c->client_key_pem));
    CHECK(c->client_cert_file == NULL && c->client_key_file == NULL);
    vr_kube_config_free(c);
  }
  /* newlines inside the data (a literal block) are skipped, as Go's decoder skips them */
  {
    char lines[2048];
    size_t i, o = 0, n = strlen(key_b64);
    for (i = 0; i < n; i++) {
      if (i % 20 == 0) o += (size_t)snprintf(lines + o, sizeof lines - o, "\n      ");
      lines[o++] = key_b64[i];
    }
    lines[o] = '\0';
    snprintf(body, sizeof body, "    client-certificate-data: %s\n    client-key-data: |%s\n",
             cert_b64, lines);
    one("b64-lines.yaml", "    server: https://k\n", body);
    c = LOAD_OK(at("b64-lines.yaml"), NULL, NULL);
    if (c != NULL) CHECK_CONTAINS(c->client_key_pem, "SECRET-KEY-789");
    vr_kube_config_free(c);
    /* a folded plain scalar turns the line breaks into spaces: kubectl refuses it */
    snprintf(body, sizeof body,
             "    client-certificate-data: %s\n    client-key-data: %.20s\n      %s\n", cert_b64,
             key_b64, key_b64 + 20);
    one("b64-spaces.yaml", "    server: https://k\n", body);
    EXPECT_ERR(at("b64-spaces.yaml"), NULL, NULL, "b64-spaces.yaml", 11,
               "client-key-data is not valid base64 (a space");
  }
  /* a bad character in the key data; the data must not be echoed */
  snprintf(broken, sizeof broken, "%.12s*%s", key_b64, key_b64 + 13);
  snprintf(body, sizeof body, "    client-certificate-data: %s\n    client-key-data: %s\n",
           cert_b64, broken);
  one("b64-bad.yaml", "    server: https://k\n", body);
  EXPECT_ERR(at("b64-bad.yaml"), NULL, NULL, "b64-bad.yaml", 11,
             "user 'u': client-key-data is not valid base64 (at byte 12)");
  /* missing padding */
  one("b64-pad.yaml", "    server: https://k\n    certificate-authority-data: QUJD RA\n",
      "    token: SECRET-TOKEN-123\n");
  EXPECT_ERR(at("b64-pad.yaml"), NULL, NULL, "b64-pad.yaml", 7, "certificate-authority-data");
  one("b64-pad2.yaml", "    server: https://k\n    certificate-authority-data: QUJDRA\n",
      "    token: SECRET-TOKEN-123\n");
  EXPECT_ERR(at("b64-pad2.yaml"), NULL, NULL, "b64-pad2.yaml", 7, "ends in the middle of a group");
  one("b64-pad3.yaml", "    server: https://k\n    certificate-authority-data: QUJDRA==QQ==\n",
      "    token: SECRET-TOKEN-123\n");
  EXPECT_ERR(at("b64-pad3.yaml"), NULL, NULL, "b64-pad3.yaml", 7, "at byte 8");
  one("b64-pad4.yaml", "    server: https://k\n    certificate-authority-data: 'QUJDRA=='\n",
      "    token: SECRET-TOKEN-123\n");
  c = LOAD_OK(at("b64-pad4.yaml"), NULL, NULL);
  if (c != NULL) {
    CHECK(c->ca_pem_len == 4 && memcmp(c->ca_pem, "ABCD", 5) == 0);
    vr_kube_config_free(c);
  }
  /* bad data in an entry that is not used is still an error (kubectl decodes every entry) */
  snprintf(body, sizeof body,
           "clusters: [{name: k, cluster: {server: 'https://k'}}]\n"
           "users:\n"
           "- name: other\n"
           "  user: {client-key-data: '%s'}\n"
           "contexts: [{name: c, context: {cluster: k}}]\n"
           "current-context: c\n",
           broken);
  write_file("b64-unused.yaml", "%s", body);
  EXPECT_ERR(at("b64-unused.yaml"), NULL, NULL, "b64-unused.yaml", 4, "user 'other'");
}

static void test_file_and_data(void) {
  char body[4096];
  snprintf(body, sizeof body,
           "    server: https://k\n    certificate-authority: ../ca.crt\n"
           "    certificate-authority-data: %s\n",
           ca_b64);
  make_dir("fd");
  one("fd/ca.yaml", body, "    token: SECRET-TOKEN-123\n");
  EXPECT_ERR(at("fd/ca.yaml"), NULL, NULL, "fd/ca.yaml", 8,
             "both certificate-authority and certificate-authority-data");
  write_file("fd/c.crt", "cert\n");
  write_file("fd/k.pem", "SECRET key\n");
  snprintf(body, sizeof body,
           "    client-certificate: c.crt\n    client-certificate-data: %s\n"
           "    client-key: k.pem\n",
           cert_b64);
  one("fd/cert.yaml", "    server: https://k\n", body);
  EXPECT_ERR(at("fd/cert.yaml"), NULL, NULL, "fd/cert.yaml", 11,
             "both client-certificate and client-certificate-data");
  snprintf(body, sizeof body,
           "    client-certificate: c.crt\n    client-key: k.pem\n    client-key-data: %s\n",
           key_b64);
  one("fd/key.yaml", "    server: https://k\n", body);
  EXPECT_ERR(at("fd/key.yaml"), NULL, NULL, "fd/key.yaml", 12,
             "both client-key and client-key-data");
  /* a certificate without a key */
  one("fd/nokey.yaml", "    server: https://k\n", "    client-certificate: c.crt\n");
  EXPECT_ERR(at("fd/nokey.yaml"), NULL, NULL, "fd/nokey.yaml", 10, "no client-key");
  /* insecure with a CA: kubectl refuses it */
  one("fd/insecure.yaml",
      "    server: https://k\n    insecure-skip-tls-verify: true\n"
      "    certificate-authority: c.crt\n",
      "    token: SECRET-TOKEN-123\n");
  EXPECT_ERR(at("fd/insecure.yaml"), NULL, NULL, "fd/insecure.yaml", 7, "insecure-skip-tls-verify");
}

static void test_errors(void) {
  /* current-context names a missing context: the line of current-context */
  write_file("e-ctx.yaml", "clusters: [{name: k, cluster: {server: 'https://k'}}]\n"
                           "users: [{name: u, user: {token: SECRET-TOKEN-123}}]\n"
                           "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
                           "current-context: prod\n");
  EXPECT_ERR(at("e-ctx.yaml"), NULL, NULL, "e-ctx.yaml", 4,
             "current-context names context 'prod', which no file defines");
  EXPECT_ERR(at("e-ctx.yaml"), "nope", NULL, NULL, 0, "context 'nope' does not exist in");
  /* no context at all */
  write_file("e-none.yaml", "clusters: [{name: k, cluster: {server: 'https://k'}}]\n");
  EXPECT_ERR(at("e-none.yaml"), NULL, NULL, NULL, 0, "no context named and no current-context");
  /* a context naming a missing cluster or user: the line of that name */
  write_file("e-refs.yaml", "clusters: [{name: k, cluster: {server: 'https://k'}}]\n"
                            "users: [{name: u, user: {token: SECRET-TOKEN-123}}]\n"
                            "contexts:\n"
                            "- name: prod\n"
                            "  context:\n"
                            "    cluster: prod-cluster\n"
                            "    user: u\n"
                            "- name: nouser\n"
                            "  context:\n"
                            "    cluster: k\n"
                            "    user: ghost\n"
                            "- name: nocluster\n"
                            "  context: {user: u}\n"
                            "- name: bare\n");
  EXPECT_ERR(at("e-refs.yaml"), "prod", NULL, "e-refs.yaml", 6,
             "context 'prod' names cluster 'prod-cluster', which no file defines");
  EXPECT_ERR(at("e-refs.yaml"), "nouser", NULL, "e-refs.yaml", 11,
             "context 'nouser' names user 'ghost', which no file defines");
  EXPECT_ERR(at("e-refs.yaml"), "nocluster", NULL, "e-refs.yaml", 12,
             "context 'nocluster' names no cluster");
  EXPECT_ERR(at("e-refs.yaml"), "bare", NULL, "e-refs.yaml", 14, "context 'bare' names no cluster");
  /* a cluster without a server, bad server URLs */
  one("e-server.yaml", "    certificate-authority-data: null\n", "    token: SECRET-TOKEN-123\n");
  EXPECT_ERR(at("e-server.yaml"), NULL, NULL, "e-server.yaml", 4, "cluster 'k' has no server");
  {
    static const char *const bad[][2] = {
        {"localhost:8080", "does not start with https://"},
        {"ftp://k", "does not start with https://"},
        {"https://", "no host"},
        {"https://:6443", "no host"},
        {"https://k:99999", "port"},
        {"'https://k:'", "port"},
        {"https://k:6443x", "port"},
        {"'https://SECRET-TOKEN-123@k'", "user name or password"},
        {"'https://k /x'", "space"},
        {"https://[::1", "closing"},
        {"https://k$x", "host name"},
    };
    size_t i;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
      char body[256];
      snprintf(body, sizeof body, "    server: %s\n", bad[i][0]);
      one("e-url.yaml", body, "    token: SECRET-TOKEN-123\n");
      EXPECT_ERR(at("e-url.yaml"), NULL, NULL, "e-url.yaml", 6, bad[i][1]);
    }
  }
  {
    vr_kube_config *c;
    one("e-url.yaml", "    server: HTTPS://[fd00::1]:6443/api/?x=1#f\n",
        "    token: SECRET-TOKEN-123\n");
    c = LOAD_OK(at("e-url.yaml"), NULL, NULL);
    if (c != NULL) CHECK_STR(c->server, "https://[fd00::1]:6443/api");
    vr_kube_config_free(c);
  }
  /* malformed YAML */
  write_file("e-yaml.yaml", "clusters:\n"
                            "- name: k\n"
                            "  cluster: {server: 'https://k'\n"
                            "users: []\n");
  EXPECT_ERR(at("e-yaml.yaml"), NULL, NULL, "e-yaml.yaml", 4, "malformed YAML");
  write_file("e-yaml2.yaml", "users:\n"
                             "- name: u\n"
                             "  user:\n"
                             "    token: SECRET-TOKEN-123\n"
                             "   bad: indentation\n");
  EXPECT_ERR(at("e-yaml2.yaml"), NULL, NULL, "e-yaml2.yaml", 5, "malformed YAML");
  write_file("e-yaml3.yaml", "users: [{name: u, user: {token: \"SECRET-TOKEN-123\x01\"}}]\n");
  EXPECT_ERR(at("e-yaml3.yaml"), NULL, NULL, "e-yaml3.yaml", 1, "malformed YAML");
  /* wrong types */
  write_file("e-types.yaml", "clusters:\n"
                             "  k: {server: 'https://k'}\n");
  EXPECT_ERR(at("e-types.yaml"), NULL, NULL, "e-types.yaml", 2,
             "clusters must be a list, not a mapping");
  write_file("e-types2.yaml", "- just\n- a list\n");
  EXPECT_ERR(at("e-types2.yaml"), NULL, NULL, "e-types2.yaml", 1,
             "a kubeconfig must be a mapping, not a list");
  write_file("e-types3.yaml", "contexts:\n"
                              "- name: c\n"
                              "  context: {cluster: k, namespace: 123}\n");
  EXPECT_ERR(at("e-types3.yaml"), NULL, NULL, "e-types3.yaml", 3,
             "context 'c': namespace must be a string, not a number (quote it)");
  write_file("e-types4.yaml", "users:\n"
                              "- name: u\n"
                              "  user:\n"
                              "    token: 12345\n");
  EXPECT_ERR(at("e-types4.yaml"), NULL, NULL, "e-types4.yaml", 4,
             "user 'u': token must be a string, not a number");
  write_file("e-types5.yaml", "clusters:\n"
                              "- name: k\n"
                              "  cluster:\n"
                              "    server: https://k\n"
                              "    insecure-skip-tls-verify: \"true\"\n");
  EXPECT_ERR(at("e-types5.yaml"), NULL, NULL, "e-types5.yaml", 5,
             "insecure-skip-tls-verify must be true or false, not a string");
  write_file("e-types6.yaml", "clusters:\n- name: k\n  cluster: [server]\n");
  EXPECT_ERR(at("e-types6.yaml"), NULL, NULL, "e-types6.yaml", 3,
             "cluster 'k': cluster must be a mapping, not a list");
  write_file("e-types7.yaml", "users:\n- just-a-name\n");
  EXPECT_ERR(at("e-types7.yaml"), NULL, NULL, "e-types7.yaml", 2,
             "item 1 of users must be a mapping");
  write_file("e-types8.yaml", "current-context: [a]\n");
  EXPECT_ERR(at("e-types8.yaml"), NULL, NULL, "e-types8.yaml", 1,
             "current-context must be a string, not a list");
  write_file("e-types9.yaml", "users:\n- name: u\n  user:\n    exec:\n      command: x\n"
                              "      args: [--port, 8080]\n");
  EXPECT_ERR(at("e-types9.yaml"), NULL, NULL, "e-types9.yaml", 6,
             "each exec argument must be a string");
  /* names: missing, duplicated in one file; keys given twice */
  write_file("e-names.yaml", "clusters:\n- cluster: {server: 'https://k'}\n");
  EXPECT_ERR(at("e-names.yaml"), NULL, NULL, "e-names.yaml", 2, "item 1 of clusters has no name");
  write_file("e-dup.yaml", "clusters:\n"
                           "- name: k\n"
                           "  cluster: {server: 'https://k'}\n"
                           "- name: k\n"
                           "  cluster: {server: 'https://k2'}\n");
  EXPECT_ERR(at("e-dup.yaml"), NULL, NULL, "e-dup.yaml", 4,
             "cluster 'k' is defined twice in this file (first at line 2)");
  write_file("e-dupkey.yaml", "users:\n"
                              "- name: u\n"
                              "  user:\n"
                              "    token: SECRET-TOKEN-123\n"
                              "    token: SECRET-TOKEN-999\n");
  EXPECT_ERR(at("e-dupkey.yaml"), NULL, NULL, "e-dupkey.yaml", 5, "user 'u': token is given twice");
  /* not a kubeconfig */
  write_file("e-kind.yaml", "apiVersion: v1\nkind: Pod\n");
  EXPECT_ERR(at("e-kind.yaml"), NULL, NULL, "e-kind.yaml", 2, "kind is 'Pod', not Config");
  write_file("e-api.yaml", "apiVersion: v2\nkind: Config\n");
  EXPECT_ERR(at("e-api.yaml"), NULL, NULL, "e-api.yaml", 1, "apiVersion is 'v2'");
  /* the context's namespace */
  write_file("e-ns.yaml", "clusters: [{name: k, cluster: {server: 'https://k'}}]\n"
                          "contexts:\n"
                          "- name: c\n"
                          "  context:\n"
                          "    cluster: k\n"
                          "    namespace: Not_Valid\n"
                          "current-context: c\n");
  EXPECT_ERR(at("e-ns.yaml"), NULL, NULL, "e-ns.yaml", 6, "namespace 'Not_Valid' is not a valid");
  /* proxy-url */
  one("e-proxy.yaml", "    server: https://k\n    proxy-url: 'ftp://SECRET-TOKEN-123@p'\n",
      "    token: SECRET-TOKEN-123\n");
  EXPECT_ERR(at("e-proxy.yaml"), NULL, NULL, "e-proxy.yaml", 7, "proxy-url must be");
  /* two methods */
  one("e-methods.yaml", "    server: https://k\n",
      "    token: SECRET-TOKEN-123\n    username: bob\n    password: SECRET-PASSWORD-456\n");
  EXPECT_ERR(at("e-methods.yaml"), NULL, NULL, "e-methods.yaml", 8, "more than one authentication");
}

static void test_exec(void) {
  vr_kube_config *c;
  one("x-v1.yaml", "    server: https://k\n",
      "    exec:\n"
      "      apiVersion: client.authentication.k8s.io/v1\n"
      "      command: aws\n"
      "      args: [eks, get-token, --cluster-name, prod, '8080']\n"
      "      env:\n"
      "      - name: AWS_PROFILE\n"
      "        value: prod\n"
      "      - {name: EMPTY}\n"
      "      - name: SECRET_ENV\n"
      "        value: SECRET-ENV-VALUE\n"
      "      installHint: \"install \\e[1maws\\e[0m\"\n"
      "      provideClusterInfo: true\n"
      "      interactiveMode: Never\n"
      "      somethingNew: ignored\n");
  c = LOAD_OK(at("x-v1.yaml"), NULL, NULL);
  if (c != NULL && c->exec != NULL) {
    vr_kube_exec *x = c->exec;
    CHECK_STR(x->api_version, "client.authentication.k8s.io/v1");
    CHECK_STR(x->command, "aws");
    CHECK_STR(x->args[0], "eks");
    CHECK_STR(x->args[4], "8080");
    CHECK(x->args[5] == NULL);
    CHECK_STR(x->env[0], "AWS_PROFILE=prod");
    CHECK_STR(x->env[1], "EMPTY=");
    CHECK_STR(x->env[2], "SECRET_ENV=SECRET-ENV-VALUE");
    CHECK(x->env[3] == NULL);
    CHECK_STR(x->install_hint, "install U+001B[1mawsU+001B[0m");
    CHECK(x->provide_cluster_info == 1);
    CHECK_STR(x->interactive_mode, "Never");
    CHECK(c->token == NULL);
  } else {
    CHECK(c != NULL && c->exec != NULL);
  }
  vr_kube_config_free(c);
  one("x-v1beta1.yaml", "    server: https://k\n",
      "    exec:\n"
      "      apiVersion: client.authentication.k8s.io/v1beta1\n"
      "      command: /usr/local/bin/gke-gcloud-auth-plugin\n");
  c = LOAD_OK(at("x-v1beta1.yaml"), NULL, NULL);
  if (c != NULL && c->exec != NULL) {
    CHECK_STR(c->exec->command, "/usr/local/bin/gke-gcloud-auth-plugin");
    CHECK_STR(c->exec->interactive_mode, "IfAvailable");
    CHECK(c->exec->args != NULL && c->exec->args[0] == NULL);
    CHECK(c->exec->env != NULL && c->exec->env[0] == NULL);
    CHECK(c->exec->install_hint == NULL && c->exec->provide_cluster_info == 0);
  } else {
    CHECK(c != NULL && c->exec != NULL);
  }
  vr_kube_config_free(c);
  one("x-nomode.yaml", "    server: https://k\n",
      "    exec:\n"
      "      apiVersion: client.authentication.k8s.io/v1\n"
      "      command: aws\n"
      "      env: [{name: X, value: SECRET-ENV-VALUE}]\n");
  EXPECT_ERR(at("x-nomode.yaml"), NULL, NULL, "x-nomode.yaml", 11, "no interactiveMode");
  one("x-badmode.yaml", "    server: https://k\n",
      "    exec:\n"
      "      apiVersion: client.authentication.k8s.io/v1\n"
      "      command: aws\n"
      "      interactiveMode: Sometimes\n");
  EXPECT_ERR(at("x-badmode.yaml"), NULL, NULL, "x-badmode.yaml", 13, "interactiveMode 'Sometimes'");
  one("x-alpha.yaml", "    server: https://k\n",
      "    exec:\n"
      "      apiVersion: client.authentication.k8s.io/v1alpha1\n"
      "      command: aws\n");
  EXPECT_ERR(at("x-alpha.yaml"), NULL, NULL, "x-alpha.yaml", 11, "v1alpha1' is not supported");
  one("x-noapi.yaml", "    server: https://k\n", "    exec: {command: aws}\n");
  EXPECT_ERR(at("x-noapi.yaml"), NULL, NULL, "x-noapi.yaml", 10, "exec has no apiVersion");
  one("x-nocmd.yaml", "    server: https://k\n",
      "    exec: {apiVersion: client.authentication.k8s.io/v1beta1}\n");
  EXPECT_ERR(at("x-nocmd.yaml"), NULL, NULL, "x-nocmd.yaml", 10, "exec has no command");
  one("x-envname.yaml", "    server: https://k\n",
      "    exec:\n"
      "      apiVersion: client.authentication.k8s.io/v1beta1\n"
      "      command: aws\n"
      "      env:\n"
      "      - value: SECRET-ENV-VALUE\n");
  EXPECT_ERR(at("x-envname.yaml"), NULL, NULL, "x-envname.yaml", 14, "exec env item has no name");
  one("x-envnull.yaml", "    server: https://k\n",
      "    exec:\n"
      "      apiVersion: client.authentication.k8s.io/v1beta1\n"
      "      command: aws\n"
      "      env: [null]\n"); /* kubectl: "env variable name must be specified" */
  EXPECT_ERR(at("x-envnull.yaml"), NULL, NULL, "x-envnull.yaml", 13, "exec env item has no name");
}

static void test_refused(void) {
  one("r-as.yaml", "    server: https://k\n",
      "    token: SECRET-TOKEN-123\n    as: system:admin\n");
  EXPECT_ERR(at("r-as.yaml"), NULL, NULL, "r-as.yaml", 11,
             "impersonation (as), which vmrun does not");
  one("r-groups.yaml", "    server: https://k\n",
      "    token: SECRET-TOKEN-123\n    as-groups: [system:masters]\n");
  EXPECT_ERR(at("r-groups.yaml"), NULL, NULL, "r-groups.yaml", 11, "impersonation (as-groups)");
  one("r-extra.yaml", "    server: http://k\n",
      "    as-uid: '42'\n    as-user-extra: {scopes: [a]}\n");
  EXPECT_ERR(at("r-extra.yaml"), NULL, NULL, "r-extra.yaml", 10, "impersonation (as-uid)");
  one("r-ap.yaml", "    server: https://k\n",
      "    auth-provider:\n"
      "      name: gcp\n"
      "      config:\n"
      "        access-token: SECRET-TOKEN-123\n"
      "        cmd-path: /usr/bin/gcloud\n");
  EXPECT_ERR(at("r-ap.yaml"), NULL, NULL, "r-ap.yaml", 11,
             "uses the auth-provider 'gcp', which vmrun does not support");
  EXPECT_ERR(at("r-ap.yaml"), NULL, NULL, "r-ap.yaml", 11, "use an exec credential plugin");
  /* an empty impersonation field is no impersonation; an unused user is not refused */
  {
    vr_kube_config *c;
    write_file("r-unused.yaml",
               "clusters: [{name: k, cluster: {server: 'https://k'}}]\n"
               "users:\n"
               "- {name: u, user: {token: SECRET-TOKEN-123, as: '', as-groups: []}}\n"
               "- {name: other, user: {as: root, auth-provider: {name: oidc}}}\n"
               "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
               "current-context: c\n");
    c = LOAD_OK(at("r-unused.yaml"), NULL, NULL);
    if (c != NULL) CHECK_STR(c->token, "SECRET-TOKEN-123");
    vr_kube_config_free(c);
  }
}

static void test_tokens(void) {
  vr_kube_config *c;
  make_dir("t");
  write_file("t/token", "SECRET-TOKEN-FILE\n");
  one("t/both.yaml", "    server: https://k\n",
      "    token: SECRET-TOKEN-123\n    tokenFile: token\n");
  c = LOAD_OK(at("t/both.yaml"), NULL, NULL);
  if (c != NULL) {
    CHECK_STR(c->token, "SECRET-TOKEN-123");
    CHECK_STR(c->token_file, at("t/token"));
    vr_kube_config_free(c);
  }
  one("t/file.yaml", "    server: https://k\n", "    tokenFile: ./token\n");
  c = LOAD_OK(at("t/file.yaml"), NULL, NULL);
  if (c != NULL) {
    CHECK(c->token == NULL); /* the file is not read here: it may rotate */
    CHECK_STR(c->token_file, at("t/token"));
    vr_kube_config_free(c);
  }
  one("t/missing.yaml", "    server: https://k\n", "    tokenFile: no-such-token\n");
  EXPECT_ERR(at("t/missing.yaml"), NULL, NULL, "t/missing.yaml", 10, "tokenFile");
  /* http:// servers get no credentials and no TLS settings (kubectl sends none over http) */
  {
    char body[1024];
    snprintf(body, sizeof body,
             "    server: http://127.0.0.1:8080\n    certificate-authority-data: %s\n", ca_b64);
    one("t/http.yaml", body,
        "    token: SECRET-TOKEN-123\n"
        "    exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: x}\n");
    c = LOAD_OK(at("t/http.yaml"), NULL, NULL);
    if (c != NULL) {
      CHECK_STR(c->server, "http://127.0.0.1:8080");
      CHECK(c->token == NULL && c->exec == NULL && c->ca_pem == NULL && c->ca_file == NULL);
      CHECK_STR(c->user, "u");
      vr_kube_config_free(c);
    }
  }
}

static void test_in_cluster(void) {
  vr_kube_config *c;
  vr_kubeconfig_error e;
  make_dir("sa");
  unsetenv("POD_NAMESPACE");
  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("KUBERNETES_SERVICE_PORT");
  c = vr_kubeconfig_in_cluster(at("sa"), &e);
  CHECK(c == NULL);
  CHECK_CONTAINS(e.message, "not running in a cluster");
  CHECK_CONTAINS(e.message, "KUBERNETES_SERVICE_HOST is not set");
  CHECK_CONTAINS(e.message, "KUBERNETES_SERVICE_PORT is not set");
  CHECK_CONTAINS(e.message, "token");
  CHECK_CONTAINS(e.message, "ca.crt");
  setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  write_file("sa/token", "SECRET-TOKEN-SA\n");
  c = vr_kubeconfig_in_cluster(at("sa"), &e);
  CHECK(c == NULL);
  CHECK_CONTAINS(e.message, "the CA");
  CHECK(strstr(e.message, "KUBERNETES_SERVICE") == NULL && strstr(e.message, "token") == NULL);
  CHECK(no_secret(e.message));
  write_file("sa/ca.crt", "ca\n");
  c = vr_kubeconfig_in_cluster(at("sa"), &e);
  CHECK(c != NULL);
  if (c != NULL) {
    CHECK_STR(c->server, "https://10.96.0.1:443");
    CHECK_STR(c->token_file, at("sa/token"));
    CHECK(c->token == NULL);
    CHECK_STR(c->ca_file, at("sa/ca.crt"));
    CHECK_STR(c->namespace_, "default"); /* no namespace file */
    CHECK_STR(c->context, "");
    CHECK_STR(c->source, "in-cluster");
    vr_kube_config_free(c);
  }
  write_file("sa/namespace", "kube-system\n");
  setenv("KUBERNETES_SERVICE_HOST", "fd00:10:96::1", 1);
  c = vr_kubeconfig_in_cluster(at("sa"), &e);
  CHECK(c != NULL);
  if (c != NULL) {
    CHECK_STR(c->server, "https://[fd00:10:96::1]:443");
    CHECK_STR(c->namespace_, "kube-system");
    vr_kube_config_free(c);
  }
  setenv("POD_NAMESPACE", "from-env", 1);
  c = vr_kubeconfig_in_cluster(at("sa"), &e);
  if (c != NULL) CHECK_STR(c->namespace_, "from-env");
  vr_kube_config_free(c);
  unsetenv("POD_NAMESPACE");
  setenv("KUBERNETES_SERVICE_PORT", "https", 1);
  c = vr_kubeconfig_in_cluster(at("sa"), &e);
  CHECK(c == NULL);
  CHECK_CONTAINS(e.message, "do not make a URL");
  unlink(at("sa/token"));
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  c = vr_kubeconfig_in_cluster(at("sa"), &e);
  CHECK(c == NULL);
  CHECK_CONTAINS(e.message, at("sa/token"));
  write_file("sa/token", "SECRET-TOKEN-SA\n");
  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("KUBERNETES_SERVICE_PORT");
}

/* Every allocation of a load fails in turn: the load reports "out of memory", leaks nothing
 * (ASan's leak check runs at exit) and, once no allocation fails, succeeds. */
static int walk_failures(int line, vr_kube_config *(*run)(vr_kubeconfig_error *)) {
  long n;
  int failures = 0;
  for (n = 1; n < 100000; n++) {
    vr_kubeconfig_error e;
    vr_kube_config *c;
    vr_kubeconfig_test_fail_alloc = n;
    c = run(&e);
    if (vr_kubeconfig_test_fail_alloc > 0) { /* no allocation failed: done */
      vr_kubeconfig_test_fail_alloc = 0;
      check_count++;
      if (c == NULL) {
        check_failures++;
        fprintf(stderr, "%s:%d: the load fails without a failed allocation: %s\n", __FILE__, line,
                show(&e));
      }
      vr_kube_config_free(c);
      return failures;
    }
    check_count++;
    if (c != NULL || strcmp(e.message, "out of memory") != 0) {
      check_failures++;
      fprintf(stderr, "%s:%d: allocation %ld failed, got %s\n", __FILE__, line, n,
              c != NULL ? "a config" : show(&e));
      vr_kube_config_free(c);
    }
    failures++;
  }
  return failures;
}

static vr_kube_config *run_relative(vr_kubeconfig_error *e) {
  char list[1024];
  snprintf(list, sizeof list, "%s:%s", at("ra/config"), at("rb/config"));
  return vr_kubeconfig_load(list, "tilde", NULL, e);
}

static vr_kube_config *run_data(vr_kubeconfig_error *e) {
  return vr_kubeconfig_load(at("b64-ok.yaml"), NULL, "ns", e);
}

static vr_kube_config *run_exec(vr_kubeconfig_error *e) {
  return vr_kubeconfig_load(at("x-v1.yaml"), NULL, NULL, e);
}

static vr_kube_config *run_merge(vr_kubeconfig_error *e) {
  return vr_kubeconfig_load(NULL, NULL, NULL, e);
}

static vr_kube_config *run_in_cluster(vr_kubeconfig_error *e) {
  return vr_kubeconfig_in_cluster(at("sa"), e);
}

static void test_out_of_memory(void) {
  char list[2048];
  CHECK(walk_failures(__LINE__, run_relative) > 10);
  CHECK(walk_failures(__LINE__, run_data) > 5);
  CHECK(walk_failures(__LINE__, run_exec) > 10);
  snprintf(list, sizeof list, "%s:%s:%s", at("m/a.yaml"), at("m/b.yaml"), at("m/c.yaml"));
  setenv("KUBECONFIG", list, 1);
  CHECK(walk_failures(__LINE__, run_merge) > 10);
  unsetenv("KUBECONFIG");
  setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  CHECK(walk_failures(__LINE__, run_in_cluster) > 5);
  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("KUBERNETES_SERVICE_PORT");
}

/* Aliases that multiply merge keys (<<): a few lines could ask for a billion merges; refused
 * at once, as kubectl refuses "excessive aliasing". */
static void test_merge_bomb(void) {
  char level[4096], anchors[32768] = "";
  int i, j;
  for (i = 1; i <= 7; i++) {
    int n = snprintf(level, sizeof level, "  a%d: &a%d {<<: [", i, i);
    for (j = 0; j < 40; j++)
      n += snprintf(level + n, sizeof level - (size_t)n, "%s*a%d", j ? ", " : "", i - 1);
    snprintf(level + n, sizeof level - (size_t)n, "]}\n");
    strncat(anchors, level, sizeof anchors - strlen(anchors) - 1);
  }
  write_file("bomb.yaml",
             "anchors:\n  a0: &a0 {x: 1}\n%s"
             "clusters:\n- name: c\n  cluster:\n    <<: *a7\n    server: https://h:6443\n"
             "contexts:\n- name: c\n  context: {cluster: c}\ncurrent-context: c\n",
             anchors);
  EXPECT_ERR(at("bomb.yaml"), NULL, NULL, "bomb.yaml", 2, "merge keys (<<) expand too much");
}

static void test_format(void) {
  vr_kubeconfig_error e;
  char buf[64];
  memset(&e, 0, sizeof e);
  snprintf(e.message, sizeof e.message, "boom");
  vr_kubeconfig_error_format(&e, buf, sizeof buf);
  CHECK_STR(buf, "boom");
  snprintf(e.file, sizeof e.file, "/k/config");
  vr_kubeconfig_error_format(&e, buf, sizeof buf);
  CHECK_STR(buf, "/k/config: boom");
  e.line = 14;
  vr_kubeconfig_error_format(&e, buf, sizeof buf);
  CHECK_STR(buf, "/k/config:14: boom");
  vr_kubeconfig_error_format(&e, buf, 4);
  CHECK_STR(buf, "/k/");
  vr_kube_config_free(NULL);
}

int main(void) {
  static char ca[256], cert[256], key[256];
  const char *tmpdir = getenv("TMPDIR");
  snprintf(root, sizeof root, "%s/vmrun-kubeconfig-XXXXXX",
           tmpdir != NULL && tmpdir[0] == '/' ? tmpdir : "/tmp");
  if (mkdtemp(root) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  b64("-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n", ca);
  b64("-----BEGIN CERTIFICATE-----\nCLIENT\n-----END CERTIFICATE-----\n", cert);
  b64("-----BEGIN PRIVATE KEY-----\nSECRET-KEY-789\n-----END PRIVATE KEY-----\n", key);
  ca_b64 = ca;
  cert_b64 = cert;
  key_b64 = key;
  secrets[nsecrets++] = key + 12; /* any stretch of the key's base64 */
  secrets[nsecrets++] = "U0VDUkVU";
  unsetenv("KUBECONFIG");
  unsetenv("POD_NAMESPACE");
  test_single_file();
  test_merge();
  test_relative_paths();
  test_base64();
  test_file_and_data();
  test_errors();
  test_exec();
  test_refused();
  test_tokens();
  test_in_cluster();
  test_out_of_memory();
  test_merge_bomb();
  test_format();
  cleanup();
  return CHECK_DONE();
}
