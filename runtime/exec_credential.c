/* exec_credential.c: client-go credential plugins for the REST backend (see
 * exec_credential.h): KUBERNETES_EXEC_INFO, running the plugin through process.h, parsing and
 * caching its ExecCredential. It runs nothing but the configured argv, and it never keeps a
 * secret longer than the credential it belongs to. */
#include "exec_credential.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "secret.h"
#include "drain_filter.h"
#include "process.h"

#define REFRESH_BEFORE_MS 10000 /* a credential this close to its expiry is fetched again */
#define KILL_GRACE_MS     2000

static uint64_t wall_ms(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
}

void vr_exec_credential_clear(vr_exec_credential *c) {
  if (c == NULL) return;
  vr_secret_free(c->token);
  vr_secret_free_n(c->client_cert_pem, c->client_cert_pem_len);
  vr_secret_free_n(c->client_key_pem, c->client_key_pem_len);
  memset(c, 0, sizeof *c);
}

/* Wipes the strings of a parsed ExecCredential's status before the tree is freed (cJSON frees
 * without wiping). */
static void wipe_tree(cJSON *item) {
  for (; item != NULL; item = item->next) {
    if (cJSON_IsString(item) && item->valuestring)
      vr_secret_wipe(item->valuestring, strlen(item->valuestring));
    wipe_tree(item->child);
  }
}

static char *copy_string(const cJSON *v, size_t *len) {
  size_t n;
  char *s;
  if (!cJSON_IsString(v) || v->valuestring == NULL) return NULL;
  n = strlen(v->valuestring);
  s = malloc(n + 1);
  if (s == NULL) return NULL;
  memcpy(s, v->valuestring, n + 1);
  if (len) *len = n;
  return s;
}

int vr_exec_credential_parse(const char *text, size_t len, const char *api_version,
                             vr_exec_credential *out, char *err, size_t errlen) {
  cJSON *doc = cJSON_ParseWithLength(text, len);
  const cJSON *apiv, *kind, *status, *token, *cert, *key, *expiry;
  int rc = -1;
  memset(out, 0, sizeof *out);
  if (doc == NULL || !cJSON_IsObject(doc)) {
    snprintf(err, errlen, "its output is not a JSON ExecCredential");
    goto done;
  }
  apiv = cJSON_GetObjectItemCaseSensitive(doc, "apiVersion");
  kind = cJSON_GetObjectItemCaseSensitive(doc, "kind");
  if (!cJSON_IsString(kind) || strcmp(kind->valuestring, "ExecCredential") != 0) {
    snprintf(err, errlen, "its output is not an ExecCredential (kind)");
    goto done;
  }
  if (!cJSON_IsString(apiv) || strcmp(apiv->valuestring, api_version) != 0) {
    snprintf(err, errlen, "it answered apiVersion %.60s, the kubeconfig asks for %.60s",
             cJSON_IsString(apiv) ? apiv->valuestring : "(none)", api_version);
    goto done;
  }
  status = cJSON_GetObjectItemCaseSensitive(doc, "status");
  if (!cJSON_IsObject(status)) {
    snprintf(err, errlen, "its ExecCredential has no status");
    goto done;
  }
  token = cJSON_GetObjectItemCaseSensitive(status, "token");
  cert = cJSON_GetObjectItemCaseSensitive(status, "clientCertificateData");
  key = cJSON_GetObjectItemCaseSensitive(status, "clientKeyData");
  expiry = cJSON_GetObjectItemCaseSensitive(status, "expirationTimestamp");
  if ((cert != NULL) != (key != NULL)) {
    snprintf(err, errlen, "its ExecCredential has %s without %s",
             cert ? "clientCertificateData" : "clientKeyData",
             cert ? "clientKeyData" : "clientCertificateData");
    goto done;
  }
  if ((token && (!cJSON_IsString(token) || token->valuestring[0] == '\0')) ||
      (cert && (!cJSON_IsString(cert) || !cJSON_IsString(key)))) {
    snprintf(err, errlen, "its ExecCredential's token or client certificate is not a string");
    goto done;
  }
  if (token == NULL && cert == NULL) {
    snprintf(err, errlen, "its ExecCredential has neither a token nor a client certificate");
    goto done;
  }
  if (expiry != NULL) {
    int64_t ms;
    if (!cJSON_IsString(expiry) || vr_k8s_time_ms(expiry->valuestring, &ms) != 0) {
      snprintf(err, errlen, "its expirationTimestamp is not an RFC 3339 time");
      goto done;
    }
    out->expires_ms = ms;
  }
  if ((token && (out->token = copy_string(token, NULL)) == NULL) ||
      (cert && (out->client_cert_pem = copy_string(cert, &out->client_cert_pem_len)) == NULL) ||
      (key && (out->client_key_pem = copy_string(key, &out->client_key_pem_len)) == NULL)) {
    vr_exec_credential_clear(out);
    snprintf(err, errlen, "out of memory");
    goto done;
  }
  rc = 0;
done:
  if (doc) {
    wipe_tree(doc->child);
    cJSON_Delete(doc);
  }
  return rc;
}

static char *base64(const char *data, size_t n) {
  static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
  size_t i;
  if (out == NULL) return NULL;
  for (i = 0; i + 2 < n; i += 3) {
    unsigned v =
        (unsigned char)data[i] << 16 | (unsigned char)data[i + 1] << 8 | (unsigned char)data[i + 2];
    *o++ = abc[v >> 18];
    *o++ = abc[(v >> 12) & 63];
    *o++ = abc[(v >> 6) & 63];
    *o++ = abc[v & 63];
  }
  if (i < n) {
    unsigned v = (unsigned char)data[i] << 16 | (i + 1 < n ? (unsigned char)data[i + 1] << 8 : 0);
    *o++ = abc[v >> 18];
    *o++ = abc[(v >> 12) & 63];
    *o++ = i + 1 < n ? abc[(v >> 6) & 63] : '=';
    *o++ = '=';
  }
  *o = '\0';
  return out;
}

/* The CA the cluster info carries: the PEM, or the file's bytes (as client-go reads CAFile). */
static char *read_ca(const vr_kube_config *c, size_t *len) {
  FILE *f;
  char *buf;
  long n;
  if (c->ca_pem) {
    buf = malloc(c->ca_pem_len + 1);
    if (buf) memcpy(buf, c->ca_pem, c->ca_pem_len);
    *len = c->ca_pem_len;
    return buf;
  }
  if (c->ca_file == NULL || (f = fopen(c->ca_file, "rb")) == NULL) return NULL;
  if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || n > (1 << 20) ||
      fseek(f, 0, SEEK_SET) != 0 || (buf = malloc((size_t)n + 1)) == NULL) {
    fclose(f);
    return NULL;
  }
  *len = fread(buf, 1, (size_t)n, f);
  fclose(f);
  return buf;
}

char *vr_exec_info_json(const vr_kube_exec *exec, const vr_kube_config *cluster) {
  cJSON *doc = cJSON_CreateObject(), *spec;
  char *text = NULL, *out;
  if (doc == NULL) return NULL;
  cJSON_AddStringToObject(doc, "apiVersion", exec->api_version);
  cJSON_AddStringToObject(doc, "kind", "ExecCredential");
  spec = cJSON_AddObjectToObject(doc, "spec");
  cJSON_AddBoolToObject(spec, "interactive", 0); /* vmrun never hands a plugin its terminal */
  if (cluster != NULL && exec->provide_cluster_info) {
    cJSON *c = cJSON_AddObjectToObject(spec, "cluster");
    size_t ca_len = 0;
    char *ca = read_ca(cluster, &ca_len), *ca64 = ca ? base64(ca, ca_len) : NULL;
    cJSON_AddStringToObject(c, "server", cluster->server);
    if (cluster->tls_server_name)
      cJSON_AddStringToObject(c, "tls-server-name", cluster->tls_server_name);
    if (cluster->insecure_skip_tls_verify) cJSON_AddBoolToObject(c, "insecure-skip-tls-verify", 1);
    if (ca64) cJSON_AddStringToObject(c, "certificate-authority-data", ca64);
    if (cluster->proxy_url) cJSON_AddStringToObject(c, "proxy-url", cluster->proxy_url);
    free(ca);
    free(ca64);
  }
  text = cJSON_PrintUnformatted(doc);
  cJSON_Delete(doc);
  if (text == NULL) return NULL;
  out = strdup(text); /* the caller frees with free(), whatever allocator cJSON uses */
  cJSON_free(text);
  return out;
}

/* --- the plugin ------------------------------------------------------------------------------ */

typedef struct waiter {
  vr_exec_plugin_cb cb;
  void *data;
} waiter;

struct vr_exec_plugin {
  uv_loop_t *loop;
  vr_clock *clock;
  const vr_kube_config *config;
  vr_exec_credential cached;
  int have_cached;
  vr_process *running;
  waiter *waiters;
  size_t nwaiters, cap;
  int freeing;
};

vr_exec_plugin *vr_exec_plugin_new(uv_loop_t *loop, vr_clock *clock, const vr_kube_config *config) {
  vr_exec_plugin *p;
  if (config == NULL || config->exec == NULL) return NULL;
  p = calloc(1, sizeof *p);
  if (p == NULL) return NULL;
  p->loop = loop;
  p->clock = clock;
  p->config = config;
  return p;
}

static void destroy(vr_exec_plugin *p) {
  vr_exec_credential_clear(&p->cached);
  free(p->waiters);
  free(p);
}

/* Tells every waiter (the list is taken first: a callback may ask again). */
static void notify(vr_exec_plugin *p, const vr_exec_credential *cred, const char *error) {
  waiter *list = p->waiters;
  size_t n = p->nwaiters, i;
  p->waiters = NULL;
  p->nwaiters = p->cap = 0;
  for (i = 0; i < n; i++) list[i].cb(list[i].data, cred, error);
  free(list);
}

static void on_plugin_done(vr_process *proc, void *data) {
  vr_exec_plugin *p = data;
  const vr_process_result *res = vr_process_result_get(proc);
  const vr_kube_exec *exec = p->config->exec;
  char err[512], msg[768];
  vr_exec_credential fresh;
  p->running = NULL;
  if (p->freeing) {
    vr_secret_wipe((char *)res->out, res->out_len);
    vr_process_free(proc);
    notify(p, NULL, "cancelled");
    destroy(p);
    return;
  }
  if (!res->exited || res->status != 0) {
    size_t line = strcspn(res->err, "\n");
    if (res->exited) {
      snprintf(msg, sizeof msg, "exec plugin '%s' exited with status %d%s%.*s", exec->command,
               (int)res->status, line ? ": " : "", (int)(line > 300 ? 300 : line), res->err);
    } else {
      snprintf(msg, sizeof msg, "exec plugin '%s' was killed by signal %d", exec->command,
               res->term_signal);
    }
    vr_secret_wipe((char *)res->out, res->out_len);
    vr_process_free(proc);
    notify(p, NULL, msg);
    return;
  }
  if (vr_exec_credential_parse(res->out, res->out_len, exec->api_version, &fresh, err,
                               sizeof err) != 0) {
    snprintf(msg, sizeof msg, "exec plugin '%s': %s", exec->command, err);
    vr_secret_wipe((char *)res->out, res->out_len);
    vr_process_free(proc);
    notify(p, NULL, msg);
    return;
  }
  vr_secret_wipe((char *)res->out, res->out_len);
  vr_process_free(proc);
  vr_exec_credential_clear(&p->cached);
  p->cached = fresh;
  p->have_cached = 1;
  notify(p, &p->cached, NULL);
}

static int add_waiter(vr_exec_plugin *p, vr_exec_plugin_cb cb, void *data) {
  if (p->nwaiters == p->cap) {
    size_t cap = p->cap ? p->cap * 2 : 4;
    waiter *w = realloc(p->waiters, cap * sizeof *w);
    if (w == NULL) return -1;
    p->waiters = w;
    p->cap = cap;
  }
  p->waiters[p->nwaiters].cb = cb;
  p->waiters[p->nwaiters].data = data;
  p->nwaiters++;
  return 0;
}

/* Starts the plugin: argv from the command and its args, env with KUBERNETES_EXEC_INFO. */
static int start_plugin(vr_exec_plugin *p, char *msg, size_t msglen) {
  const vr_kube_exec *exec = p->config->exec;
  size_t nargs = 0, nenv = 0, i;
  char **argv = NULL, **env = NULL, *info = NULL, err[256];
  vr_process_spec spec;
  int rc = -1;
  while (exec->args && exec->args[nargs]) nargs++;
  while (exec->env && exec->env[nenv]) nenv++;
  argv = calloc(nargs + 2, sizeof *argv);
  env = calloc(nenv + 2, sizeof *env);
  info = vr_exec_info_json(exec, p->config);
  if (argv == NULL || env == NULL || info == NULL) {
    snprintf(msg, msglen, "out of memory");
    goto done;
  }
  argv[0] = exec->command;
  for (i = 0; i < nargs; i++) argv[i + 1] = exec->args[i];
  for (i = 0; i < nenv; i++) env[i] = exec->env[i];
  env[nenv] = malloc(strlen(info) + sizeof "KUBERNETES_EXEC_INFO=");
  if (env[nenv] == NULL) {
    snprintf(msg, msglen, "out of memory");
    goto done;
  }
  sprintf(env[nenv], "KUBERNETES_EXEC_INFO=%s", info);
  memset(&spec, 0, sizeof spec);
  spec.argv = argv;
  spec.env_add = env;
  if (vr_process_start(p->loop, p->clock, &spec, on_plugin_done, p, &p->running, err, sizeof err) !=
      0) {
    snprintf(msg, msglen, "cannot run exec plugin '%s': %s%s%s", exec->command, err,
             exec->install_hint ? ". " : "", exec->install_hint ? exec->install_hint : "");
    goto done;
  }
  rc = 0;
done:
  if (env) free(env[nenv]);
  free(env);
  free(argv);
  free(info);
  return rc;
}

int vr_exec_plugin_get(vr_exec_plugin *p, int force, vr_exec_plugin_cb cb, void *data) {
  char msg[768];
  if (!force && p->have_cached && p->running == NULL &&
      (p->cached.expires_ms == 0 ||
       (int64_t)wall_ms() + REFRESH_BEFORE_MS < p->cached.expires_ms)) {
    cb(data, &p->cached, NULL);
    return 0;
  }
  if (add_waiter(p, cb, data) != 0) return -1;
  if (p->running != NULL) return 0; /* joins the run in progress */
  if (start_plugin(p, msg, sizeof msg) != 0) notify(p, NULL, msg);
  return 0;
}

void vr_exec_plugin_free(vr_exec_plugin *p) {
  if (p == NULL) return;
  if (p->running) { /* on_plugin_done finishes the job */
    p->freeing = 1;
    vr_process_terminate(p->running, KILL_GRACE_MS);
    return;
  }
  notify(p, NULL, "cancelled");
  destroy(p);
}
