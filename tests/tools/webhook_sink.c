/* webhook_sink.c: a webhook receiver for the tests of notifications (tests/e2e/notify.sh), on
 * runtime/http_server.h: listens on 127.0.0.1 (a free port, printed as "listening on
 * http://127.0.0.1:PORT"), answers the first --fail N requests 503 and the others 200, and
 * appends each request to --out FILE as one JSON line {method, target, status, body} (the body
 * as received). Stops on SIGTERM or SIGINT. A test tool: it is not installed, and it may not be
 * used for anything but loopback tests. */
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "http_server.h"

typedef struct sink {
  FILE *out;
  long fail; /* requests still to refuse */
} sink;

static void handle(void *ctx, vr_http_conn *conn, vr_http_request *req) {
  sink *s = ctx;
  int status = s->fail > 0 ? 503 : 200;
  cJSON *line = cJSON_CreateObject();
  char *text;
  if (s->fail > 0) s->fail--;
  cJSON_AddStringToObject(line, "method", req->method);
  cJSON_AddStringToObject(line, "target", req->target);
  cJSON_AddNumberToObject(line, "status", status);
  cJSON_AddStringToObject(line, "body", req->body);
  text = cJSON_PrintUnformatted(line);
  if (text != NULL) {
    fprintf(s->out, "%s\n", text);
    fflush(s->out);
  }
  cJSON_free(text);
  cJSON_Delete(line);
  vr_http_respond(conn, status, "application/json", status == 503 ? "Retry-After: 0\r\n" : NULL,
                  "{}", 2);
  vr_http_request_free(req);
}

static void on_signal(uv_signal_t *h, int signum) {
  (void)signum;
  uv_stop(h->loop);
}

int main(int argc, char **argv) {
  uv_loop_t loop;
  uv_signal_t sigterm, sigint;
  vr_http_server_config cfg;
  vr_http_server *server;
  sink s = {NULL, 0};
  const char *out = NULL;
  char err[256];
  int i, port = 0;
  for (i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--out") == 0)
      out = argv[i + 1];
    else if (strcmp(argv[i], "--fail") == 0)
      s.fail = strtol(argv[i + 1], NULL, 10);
  }
  if (out == NULL || (s.out = fopen(out, "a")) == NULL) {
    fprintf(stderr, "usage: webhook_sink --out FILE [--fail N]\n");
    return 2;
  }
  uv_loop_init(&loop);
  memset(&cfg, 0, sizeof cfg);
  cfg.handler = handle;
  cfg.ctx = &s;
  server = vr_http_server_new(&loop, &cfg);
  if (server == NULL ||
      vr_http_server_listen(server, "127.0.0.1", 0, &port, err, sizeof err) != 0) {
    fprintf(stderr, "webhook_sink: %s\n", server ? err : "out of memory");
    return 1;
  }
  printf("listening on http://127.0.0.1:%d\n", port);
  fflush(stdout);
  uv_signal_init(&loop, &sigterm);
  uv_signal_init(&loop, &sigint);
  uv_signal_start(&sigterm, on_signal, SIGTERM);
  uv_signal_start(&sigint, on_signal, SIGINT);
  uv_run(&loop, UV_RUN_DEFAULT);
  vr_http_server_close(server);
  uv_close((uv_handle_t *)&sigterm, NULL);
  uv_close((uv_handle_t *)&sigint, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  fclose(s.out);
  return 0;
}
