# tests/e2e/lib/tls.sh: TLS in front of `vmrun serve` for the end-to-end tests (sourced, not run):
# a throw-away PKI made with the openssl command, and nginx (Debian's) terminating TLS on
# loopback and passing requests to the server. Needs lib/serve.sh sourced first ($tmp, fail(),
# start_server); sets the exit trap to stop nginx and the server.
#
# make_pki DIR: DIR/ca.crt (the CA) and DIR/server.{crt,key} (subjectAltName IP:127.0.0.1 and
#   DNS:localhost, as kubectl requires SANs), DIR/other-ca.crt (a CA that signed nothing here),
#   DIR/client-ca.crt and DIR/client.{crt,key} (a client certificate, CN vmrun-test).
# start_tls_proxy DIR UPSTREAM_PORT: nginx on three free ports, each passing to
#   127.0.0.1:UPSTREAM_PORT: $tls_port (server certificate only), $mtls_port (also requires a
#   client certificate signed by DIR/client-ca.crt: 400 without one), $token_port (also requires
#   "Authorization: Bearer $tls_token": 401 without it). Stopped by stop_tls_proxy (and at exit).
# start_tls_server CLUSTER [SERVE-OPTIONS...]: make_pki $pki ($tmp/pki), start_server (lib/serve.sh)
#   and start_tls_proxy in front of it.
# kubeconfig NAME SERVER CLUSTER-LINES USER-LINES: writes $tmp/NAME.kubeconfig, one context
#   (cluster c, user u) for SERVER; the other two are lines of YAML indented by four spaces
#   (the cluster's fields, the user's fields; "" for none).

tls_token=vmrun-test-token-$$
trap 'stop_tls_proxy; cleanup' EXIT

make_pki() {
  local d=$1
  command -v openssl >/dev/null || fail "openssl is not installed"
  mkdir -p "$d"
  (
    cd "$d" || exit 1
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=vmrun test CA" \
      -keyout ca.key -out ca.crt 2>/dev/null &&
      openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=other CA" \
        -keyout other-ca.key -out other-ca.crt 2>/dev/null &&
      openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key \
        -out server.csr 2>/dev/null &&
      printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >server.ext &&
      openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
        -extfile server.ext -out server.crt 2>/dev/null &&
      openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=vmrun client CA" \
        -keyout client-ca.key -out client-ca.crt 2>/dev/null &&
      openssl req -newkey rsa:2048 -nodes -subj "/CN=vmrun-test" -keyout client.key \
        -out client.csr 2>/dev/null &&
      printf 'extendedKeyUsage=clientAuth\n' >client.ext &&
      openssl x509 -req -in client.csr -CA client-ca.crt -CAkey client-ca.key \
        -CAcreateserial -days 2 -extfile client.ext -out client.crt 2>/dev/null
  ) || fail "openssl could not make the test certificates"
}

kubeconfig() {
  cat >"$tmp/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: $2
$3
users:
- name: u
  user:
$4
contexts:
- name: c
  context: {cluster: c, user: u}
current-context: c
EOF
}

nginx_pid=
# a port below Linux's ephemeral range (32768 and up), where the servers and clients of tests
# running beside this one get theirs: a random pick there could collide with them
free_port() { "$vmrun" -q -e 'print(math.random(20000, 32000))'; }

# start_tls_proxy DIR UPSTREAM_PORT: nginx on three free ports (picked again, up to 5 times, when
# one of them is taken after all)
start_tls_proxy() {
  local try
  for try in 1 2 3 4 5; do
    start_tls_proxy_once "$@" && return 0
    grep -q 'Address already in use' "$tmp/nginx/error.log" 2>/dev/null ||
      fail "nginx did not start: $(cat "$tmp/nginx/error.log" 2>/dev/null)"
    rm -f "$tmp/nginx/error.log"
  done
  fail "nginx found no free ports in 5 tries"
}

start_tls_proxy_once() {
  local d=$1 upstream=$2 conf nginx_bin
  nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
  [ -x "$nginx_bin" ] || fail "nginx is not installed (README's first command installs nginx-light)"
  tls_port=$(free_port)
  mtls_port=$((tls_port + 1))
  token_port=$((tls_port + 2))
  mkdir -p "$tmp/nginx"
  conf=$tmp/nginx/nginx.conf
  cat >"$conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log;
events { worker_connections 128; }
http {
  access_log off;
  client_body_temp_path $tmp/nginx;
  proxy_temp_path $tmp/nginx;
  fastcgi_temp_path $tmp/nginx;
  uwsgi_temp_path $tmp/nginx;
  scgi_temp_path $tmp/nginx;
  proxy_http_version 1.1;
  proxy_buffering off;
  proxy_read_timeout 600s;
  ssl_certificate $d/server.crt;
  ssl_certificate_key $d/server.key;
  server {
    listen 127.0.0.1:$tls_port ssl;
    location / { proxy_pass http://127.0.0.1:$upstream; }
  }
  server {
    listen 127.0.0.1:$mtls_port ssl;
    ssl_client_certificate $d/client-ca.crt;
    ssl_verify_client on;
    location / { proxy_pass http://127.0.0.1:$upstream; }
  }
  server {
    listen 127.0.0.1:$token_port ssl;
    location / {
      if (\$http_authorization != "Bearer $tls_token") { return 401; }
      proxy_pass http://127.0.0.1:$upstream;
    }
  }
}
EOF
  "$nginx_bin" -p "$tmp/nginx" -c "$conf" &
  nginx_pid=$!
  for _ in $(seq 1 50); do
    curl -s --cacert "$d/ca.crt" "https://127.0.0.1:$tls_port/version" >/dev/null && return 0
    if ! kill -0 "$nginx_pid" 2>/dev/null; then
      wait "$nginx_pid" 2>/dev/null
      nginx_pid=
      return 1 # (start_tls_proxy reads the error log)
    fi
    sleep 0.1
  done
  fail "nginx did not answer on $tls_port: $(cat "$tmp/nginx/error.log" 2>/dev/null)"
}

start_tls_server() {
  pki=$tmp/pki
  make_pki "$pki"
  start_server "$@"
  start_tls_proxy "$pki" "$port"
}

stop_tls_proxy() {
  [ -n "$nginx_pid" ] || return 0
  kill "$nginx_pid" 2>/dev/null
  wait "$nginx_pid" 2>/dev/null
  nginx_pid=
}
