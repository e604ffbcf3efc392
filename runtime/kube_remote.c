/* kube_remote.c: the connection to a real Kubernetes API server (see kube_remote.h): the client,
 * credentials from exec plugins, request paths and error answers. No Lua; no secrets in
 * anything it returns. */
#include "kube_remote.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec_credential.h"
#include "secret.h"

struct vr_kube_remote {
  uv_loop_t *loop;
  vr_clock *clock;
  vr_kube_config *config;
  vr_kube_client *client;
  vr_exec_plugin *plugin; /* NULL without an exec plugin */
  vr_kube_call *calls;    /* live calls */
  unsigned long requests;
  int freeing;
};

struct vr_kube_call {
  vr_kube_remote *remote;
  vr_kube_request_spec spec; /* strings below are the call's copies */
  char *method, *path, *content_type, *body;
  vr_kube_request *req;   /* in flight, or NULL */
  int waiting_credential; /* asked the plugin, no answer yet */
  int refreshed;          /* already retried with a fresh credential */
  int in_done;
  int cancelled;
  int orphan; /* its connection is gone: only the plugin's answer is awaited, then it is freed */
  uv_timer_t *defer; /* for an end that is known inside vr_kube_remote_start */
  char *deferred_error;
  vr_kube_call *prev, *next;
};

static void call_unlink(vr_kube_call *c) {
  vr_kube_remote *r = c->remote;
  if (c->orphan) return;
  if (c->prev) {
    c->prev->next = c->next;
  } else if (r->calls == c) {
    r->calls = c->next;
  }
  if (c->next) c->next->prev = c->prev;
  c->prev = c->next = NULL;
}

static void call_free(vr_kube_call *c) {
  free(c->method);
  free(c->path);
  free(c->content_type);
  if (c->body)
    vr_secret_free_n(c->body, c->spec.body_len + 1); /* a Secret's data may be in there */
  free(c->deferred_error);
  free(c);
}

static void on_defer_closed(uv_handle_t *h) {
  vr_kube_call *c = h->data;
  free(h);
  if (c != NULL) call_free(c);
}

/* Ends a call: on_done with resp (or a response made of error), then frees it. */
static void call_end(vr_kube_call *c, const vr_kube_response *resp, const char *error) {
  vr_kube_response fallback;
  if (resp == NULL) {
    memset(&fallback, 0, sizeof fallback);
    fallback.body = "";
    fallback.error = error;
    resp = &fallback;
  }
  call_unlink(c);
  c->in_done = 1;
  if (c->spec.on_done) c->spec.on_done(NULL, resp, c->spec.data);
  if (c->defer != NULL) { /* its close callback frees the call */
    c->defer->data = c;
    if (!uv_is_closing((uv_handle_t *)c->defer)) uv_close((uv_handle_t *)c->defer, on_defer_closed);
    return;
  }
  call_free(c);
}

static void on_deferred(uv_timer_t *t) {
  vr_kube_call *c = t->data;
  char *error = c->deferred_error;
  c->deferred_error = NULL;
  call_end(c, NULL, error ? error : "out of memory");
  free(error);
}

/* Ends the call from the loop (never from inside vr_kube_remote_start). */
static void call_fail_later(vr_kube_call *c, const char *error) {
  free(c->deferred_error);
  c->deferred_error = strdup(error);
  if (c->defer == NULL) {
    c->defer = malloc(sizeof *c->defer);
    if (c->defer == NULL || uv_timer_init(c->remote->loop, c->defer) != 0) {
      free(c->defer);
      c->defer = NULL;
      call_end(c, NULL, error); /* out of memory: nothing better is left */
      return;
    }
  }
  c->defer->data = c;
  uv_timer_start(c->defer, on_deferred, 0, 0);
}

static void send_request(vr_kube_call *c);

static int on_call_line(vr_kube_request *req, const char *line, size_t len, void *data) {
  vr_kube_call *c = data;
  (void)req;
  return c->spec.on_line(NULL, line, len, c->spec.data);
}

static void on_credential(void *data, const vr_exec_credential *cred, const char *error);

static void on_call_done(vr_kube_request *req, const vr_kube_response *resp, void *data) {
  vr_kube_call *c = data;
  (void)req;
  c->req = NULL;
  if (resp->status == 401 && c->remote->plugin != NULL && !c->refreshed && !c->cancelled &&
      !c->remote->freeing) {
    /* the credential was refused: get a fresh one (not the cached one) and try once more */
    c->refreshed = 1;
    c->waiting_credential = 1;
    if (vr_exec_plugin_get(c->remote->plugin, 1, on_credential, c) != 0) {
      c->waiting_credential = 0;
      call_end(c, resp, NULL);
    }
    return;
  }
  call_end(c, resp, NULL);
}

static void send_request(vr_kube_call *c) {
  vr_kube_request_spec spec = c->spec;
  spec.on_done = on_call_done;
  spec.on_line = c->spec.on_line ? on_call_line : NULL;
  spec.data = c;
  c->req = vr_kube_request_start(c->remote->client, &spec);
  if (c->req == NULL)
    call_fail_later(c, "out of memory");
  else
    c->remote->requests++;
}

static void on_credential(void *data, const vr_exec_credential *cred, const char *error) {
  vr_kube_call *c = data;
  c->waiting_credential = 0;
  if (c->orphan) {
    call_free(c);
    return;
  }
  if (c->cancelled || c->remote->freeing) {
    call_end(c, NULL, "cancelled");
    return;
  }
  if (cred == NULL) {
    char msg[900];
    snprintf(msg, sizeof msg, "%s %s: no credential: %s", c->method, c->path,
             error ? error : "the exec plugin failed");
    call_fail_later(c, msg);
    return;
  }
  if (cred->token != NULL) vr_kube_client_set_token(c->remote->client, cred->token);
  send_request(c);
}

vr_kube_call *vr_kube_remote_start(vr_kube_remote *r, const vr_kube_request_spec *spec) {
  vr_kube_call *c;
  if (r->freeing) return NULL;
  c = calloc(1, sizeof *c);
  if (c == NULL) return NULL;
  c->remote = r;
  c->spec = *spec;
  c->method = strdup(spec->method);
  c->path = strdup(spec->path);
  c->content_type = spec->content_type ? strdup(spec->content_type) : NULL;
  if (spec->body != NULL) {
    c->body = malloc(spec->body_len + 1);
    if (c->body) {
      memcpy(c->body, spec->body, spec->body_len);
      c->body[spec->body_len] = '\0';
    }
  }
  if (c->method == NULL || c->path == NULL || (spec->content_type && c->content_type == NULL) ||
      (spec->body && c->body == NULL)) {
    call_free(c);
    return NULL;
  }
  c->spec.method = c->method;
  c->spec.path = c->path;
  c->spec.content_type = c->content_type;
  c->spec.body = c->body;
  c->next = r->calls;
  if (r->calls) r->calls->prev = c;
  r->calls = c;
  if (r->plugin != NULL) {
    c->waiting_credential = 1;
    if (vr_exec_plugin_get(r->plugin, 0, on_credential, c) != 0) {
      c->waiting_credential = 0;
      call_fail_later(c, "out of memory");
    }
    return c;
  }
  send_request(c);
  return c;
}

void vr_kube_call_cancel(vr_kube_call *c) {
  if (c == NULL || c->in_done || c->cancelled) return;
  c->cancelled = 1;
  if (c->req != NULL) {
    vr_kube_request *req = c->req;
    c->req = NULL;
    vr_kube_request_cancel(req); /* on_call_done ends the call */
    return;
  }
  if (c->waiting_credential) { /* answered now; on_credential frees it */
    vr_kube_done_cb done = c->spec.on_done;
    vr_kube_response resp;
    memset(&resp, 0, sizeof resp);
    resp.body = "";
    resp.error = "cancelled";
    c->spec.on_done = NULL;
    c->in_done = 1;
    if (done) done(NULL, &resp, c->spec.data);
    c->in_done = 0;
    return;
  }
  if (c->defer != NULL) uv_timer_stop(c->defer);
  call_end(c, NULL, "cancelled");
}

vr_kube_remote *vr_kube_remote_new(uv_loop_t *loop, vr_clock *clock, vr_kube_config *config,
                                   const vr_kube_client_options *options, char *err,
                                   size_t errlen) {
  vr_kube_remote *r = calloc(1, sizeof *r);
  if (r == NULL) {
    vr_kube_config_free(config);
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  r->loop = loop;
  r->clock = clock;
  r->config = config;
  r->client = vr_kube_client_new(loop, config, options, err, errlen);
  if (r->client == NULL) {
    vr_kube_config_free(config);
    free(r);
    return NULL;
  }
  if (config->exec != NULL) {
    r->plugin = vr_exec_plugin_new(loop, clock, config);
    if (r->plugin == NULL) {
      vr_kube_client_free(r->client);
      vr_kube_config_free(config);
      free(r);
      snprintf(err, errlen, "out of memory");
      return NULL;
    }
  }
  return r;
}

void vr_kube_remote_free(vr_kube_remote *r) {
  if (r == NULL) return;
  r->freeing = 1;
  while (r->calls != NULL) {
    vr_kube_call *c = r->calls;
    vr_kube_call_cancel(c);
    if (r->calls == c) { /* waiting for the plugin: answered, freed when the plugin ends */
      call_unlink(c);
      c->orphan = 1;
    }
  }
  if (r->plugin) vr_exec_plugin_free(r->plugin); /* "cancelled" to the calls still waiting */
  vr_kube_client_free(r->client);
  vr_kube_config_free(r->config);
  free(r);
}

const vr_kube_config *vr_kube_remote_config(const vr_kube_remote *r) {
  return r->config;
}

unsigned long vr_kube_remote_requests(const vr_kube_remote *r) {
  return r->requests;
}

/* --- paths --------------------------------------------------------------------------------- */

static int escape_into(char *buf, size_t len, size_t *at, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    int plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                ch == '-' || ch == '.' || ch == '_' || ch == '~';
    if (*at + (plain ? 1 : 3) >= len) return -1;
    if (plain) {
      buf[(*at)++] = (char)ch;
    } else {
      buf[(*at)++] = '%';
      buf[(*at)++] = hex[ch >> 4];
      buf[(*at)++] = hex[ch & 15];
    }
  }
  buf[*at] = '\0';
  return 0;
}

static int append(char *buf, size_t len, size_t *at, const char *s) {
  size_t n = strlen(s);
  if (*at + n >= len) return -1;
  memcpy(buf + *at, s, n + 1);
  *at += n;
  return 0;
}

int vr_kube_path(char *buf, size_t len, const vr_kube_resource *res, const char *ns,
                 const char *name, const char *subresource, const char *query) {
  size_t at = 0;
  if (len == 0) return -1;
  buf[0] = '\0';
  if (res->group[0] == '\0') {
    if (append(buf, len, &at, "/api/") != 0) return -1;
  } else if (append(buf, len, &at, "/apis/") != 0 || append(buf, len, &at, res->group) != 0 ||
             append(buf, len, &at, "/") != 0) {
    return -1;
  }
  if (append(buf, len, &at, res->version) != 0) return -1;
  if (res->namespaced && ns != NULL && ns[0] != '\0') {
    if (append(buf, len, &at, "/namespaces/") != 0 || escape_into(buf, len, &at, ns) != 0)
      return -1;
  }
  if (append(buf, len, &at, "/") != 0 || append(buf, len, &at, res->plural) != 0) return -1;
  if (name != NULL) {
    if (append(buf, len, &at, "/") != 0 || escape_into(buf, len, &at, name) != 0) return -1;
    if (subresource != NULL &&
        (append(buf, len, &at, "/") != 0 || append(buf, len, &at, subresource) != 0))
      return -1;
  }
  if (query != NULL && query[0] != '\0' &&
      (append(buf, len, &at, "?") != 0 || append(buf, len, &at, query) != 0))
    return -1;
  return 0;
}

int vr_kube_query_add(char *buf, size_t len, const char *name, const char *value) {
  size_t at = strlen(buf);
  if (at > 0 && append(buf, len, &at, "&") != 0) return -1;
  if (append(buf, len, &at, name) != 0 || append(buf, len, &at, "=") != 0) return -1;
  return escape_into(buf, len, &at, value);
}

/* --- errors -------------------------------------------------------------------------------- */

static const char *reason_of_status(int status) {
  switch (status) {
  case 400:
    return "BadRequest";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 404:
    return "NotFound";
  case 405:
    return "MethodNotAllowed";
  case 409:
    return "Conflict";
  case 410:
    return "Expired";
  case 415:
    return "UnsupportedMediaType";
  case 422:
    return "Invalid";
  case 429:
    return "TooManyRequests";
  case 500:
    return "InternalError";
  case 503:
    return "ServiceUnavailable";
  case 504:
    return "Timeout";
  default:
    return "Unknown";
  }
}

/* The start of a body that is not a Status, as printable text on one line (at most max bytes). */
static void body_excerpt(const char *body, size_t len, char *out, size_t max) {
  size_t i, o = 0;
  for (i = 0; i < len && o + 1 < max; i++) {
    unsigned char ch = (unsigned char)body[i];
    if (ch == '\n' || ch == '\r' || ch == '\t') ch = ' ';
    if (ch < 0x20 || ch >= 0x7f) ch = '?';
    if (ch == ' ' && o > 0 && out[o - 1] == ' ') continue;
    out[o++] = (char)ch;
  }
  out[o] = '\0';
}

void vr_kube_response_error(const vr_kube_response *resp, const char *what, vr_store_error *err) {
  cJSON *doc = NULL;
  const cJSON *message, *reason, *kind;
  memset(err, 0, sizeof *err);
  if (resp->status == 0) {
    err->status = 503;
    snprintf(err->reason, sizeof err->reason, "ServiceUnavailable");
    snprintf(err->message, sizeof err->message, "%s: %s", what,
             resp->error ? resp->error : "no answer from the server");
    return;
  }
  err->status = resp->status;
  if (resp->body != NULL && resp->body_len > 0)
    doc = cJSON_ParseWithLength(resp->body, resp->body_len);
  kind = cJSON_GetObjectItemCaseSensitive(doc, "kind");
  message = cJSON_GetObjectItemCaseSensitive(doc, "message");
  reason = cJSON_GetObjectItemCaseSensitive(doc, "reason");
  if (cJSON_IsString(kind) && strcmp(kind->valuestring, "Status") == 0) {
    snprintf(err->reason, sizeof err->reason, "%s",
             cJSON_IsString(reason) && reason->valuestring[0] ? reason->valuestring
                                                              : reason_of_status(resp->status));
    snprintf(err->message, sizeof err->message, "%s: %s", what,
             cJSON_IsString(message) && message->valuestring[0] ? message->valuestring
                                                                : reason_of_status(resp->status));
  } else {
    char excerpt[160];
    body_excerpt(resp->body ? resp->body : "", resp->body_len, excerpt, sizeof excerpt);
    snprintf(err->reason, sizeof err->reason, "%s", reason_of_status(resp->status));
    snprintf(err->message, sizeof err->message,
             "%s: HTTP %d with a body that is not a Kubernetes Status (%s%s%s)", what, resp->status,
             resp->content_type ? resp->content_type : "no content type", excerpt[0] ? ": " : "",
             excerpt);
  }
  cJSON_Delete(doc);
}
