#!/usr/bin/env bash
# tests/e2e/serve_tls.sh: `vmrun serve` behind nginx terminating TLS on loopback, with
# certificates the test makes with openssl (tests/e2e/lib/tls.sh), used by the machine's
# kubectl: server verification with the right CA works; another CA and a name the certificate
# does not hold are refused; insecure-skip-tls-verify works; client-certificate authentication
# and a bearer token are sent and accepted (and refused without them). This is the TLS set-up
# that vmrun's own Kubernetes client is tested against. Skipped, with a message, where kubectl
# is missing.
#   bash tests/e2e/serve_tls.sh PATH/TO/vmrun
set -uo pipefail
vmrun=${1:?usage: serve_tls.sh PATH/TO/vmrun}
vmrun=$(cd "$(dirname "$vmrun")" && pwd)/$(basename "$vmrun")
if ! command -v kubectl >/dev/null; then
  echo "serve_tls: kubectl is not installed; skipped"
  exit 0
fi
. "$(dirname "$0")/lib/serve.sh"
. "$(dirname "$0")/lib/tls.sh"
src=${VMRUN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}

start_tls_server "$src/tests/e2e/fixtures/serve_cluster.yaml"

k() { # KUBECONFIG-NAME ARGS...
  local name=$1
  shift
  kubectl --kubeconfig "$tmp/$name.kubeconfig" --cache-dir "$tmp/cache-$name" --request-timeout=20s "$@"
}

kubeconfig ok "https://127.0.0.1:$tls_port" "    certificate-authority: $pki/ca.crt" "    token: not-checked-here"
out=$(k ok get nodes 2>&1) || fail "the right CA: $out"
grep -qE '^w1 +Ready' <<<"$out" || fail "the right CA: no node w1: $out"

kubeconfig data "https://127.0.0.1:$tls_port" \
  "    certificate-authority-data: $(base64 -w0 <"$pki/ca.crt")" "    token: not-checked-here"
k data get node w2 >/dev/null 2>&1 || fail "certificate-authority-data"

kubeconfig wrongca "https://127.0.0.1:$tls_port" "    certificate-authority: $pki/other-ca.crt" "    token: not-checked-here"
out=$(k wrongca get nodes 2>&1) && fail "another CA must be refused: $out"
grep -q 'x509: certificate signed by unknown authority' <<<"$out" || fail "wrong CA message: $out"

kubeconfig wrongname "https://127.0.0.1:$tls_port" \
  "    certificate-authority: $pki/ca.crt
    tls-server-name: api.example.com" "    token: not-checked-here"
out=$(k wrongname get nodes 2>&1) && fail "a name mismatch must be refused: $out"
grep -q 'x509: certificate is valid for localhost, not api.example.com' <<<"$out" ||
  fail "name mismatch message: $out"

kubeconfig insecure "https://127.0.0.1:$tls_port" "    insecure-skip-tls-verify: true" "    token: not-checked-here"
k insecure get nodes >/dev/null 2>&1 || fail "insecure-skip-tls-verify"

kubeconfig mtls "https://127.0.0.1:$mtls_port" "    certificate-authority: $pki/ca.crt" \
  "    client-certificate: $pki/client.crt
    client-key: $pki/client.key"
k mtls get nodes >/dev/null 2>&1 || fail "client certificate: $(k mtls get nodes 2>&1)"
kubeconfig nocert "https://127.0.0.1:$mtls_port" "    certificate-authority: $pki/ca.crt" "    token: not-checked-here"
out=$(k nocert get nodes 2>&1) && fail "a missing client certificate must be refused: $out"

kubeconfig token "https://127.0.0.1:$token_port" "    certificate-authority: $pki/ca.crt" \
  "    token: $tls_token"
k token get nodes >/dev/null 2>&1 || fail "bearer token: $(k token get nodes 2>&1)"
printf '%s\n' "$tls_token" >"$tmp/token-file"
kubeconfig tokenfile "https://127.0.0.1:$token_port" "    certificate-authority: $pki/ca.crt" \
  "    tokenFile: $tmp/token-file"
k tokenfile get nodes >/dev/null 2>&1 || fail "token file: $(k tokenfile get nodes 2>&1)"
kubeconfig notoken "https://127.0.0.1:$token_port" "    certificate-authority: $pki/ca.crt" "    token: wrong-token"
out=$(k notoken get nodes 2>&1) && fail "a missing token must be refused: $out"
grep -q 'the server has asked for the client to provide credentials' <<<"$out" || fail "no token message: $out"

# the drain path works through TLS too: a cordon and its undo
k token cordon w3 >/dev/null 2>&1 || fail "cordon through TLS"
k ok get node w3 | grep -q SchedulingDisabled || fail "the cordon through TLS did not land"
k token uncordon w3 >/dev/null 2>&1 || fail "uncordon through TLS"

stop_tls_proxy
stop_server
echo "serve_tls: ok"
