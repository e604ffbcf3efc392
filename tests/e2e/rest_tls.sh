#!/usr/bin/env bash
# tests/e2e/rest_tls.sh: vmrun's REST backend (--kubeconfig) over TLS and with credentials, against
# `vmrun serve` behind nginx on 127.0.0.1 (tests/e2e/lib/tls.sh). Each working case reads the 15
# nodes and patches a node label, which the plain server then shows: certificate-authority and
# certificate-authority-data; tls-server-name (verified by that name) and a URL by name;
# insecure-skip-tls-verify (with a CA it is refused, as kubectl refuses it); client certificates
# as files and as *-data; a token; a token file (read again by the next run: a changed file is
# refused with 401); exec plugins v1 and v1beta1 (KUBERNETES_EXEC_INFO set). Each failing case
# (another CA, a name the certificate does not hold, no client certificate, a key that does not
# fit, a refused token, token file or plugin) exits 2 before the playbook runs, with one line
# naming the server and the reason, and no PATCH reaches the server. Tokens and the client key
# never show in the output, with -v and --log-format json too, failures included. --in-cluster:
# the service account's token, CA and namespace files (VMRUN_SERVICEACCOUNT_DIR) and
# KUBERNETES_SERVICE_HOST/PORT reach the token-checking server.
#   bash tests/e2e/rest_tls.sh PATH/TO/vmrun
set -uo pipefail
vmrun=${1:?usage: rest_tls.sh PATH/TO/vmrun}
vmrun=$(cd "$(dirname "$vmrun")" && pwd)/$(basename "$vmrun")
. "$(dirname "$0")/lib/serve.sh"
. "$(dirname "$0")/lib/tls.sh"
src=${VMRUN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}

start_tls_server "$src/playbooks/clusters/demo.yaml" --speed 50
ca="    certificate-authority: $pki/ca.crt"
tls=https://127.0.0.1:$tls_port
mtls=https://127.0.0.1:$mtls_port
tok=https://127.0.0.1:$token_port

# the playbook of every case: 15 nodes read, one label written (its value: the case's name)
cat >"$tmp/check.lua" <<'LUA'
local case = ...
assert(#cluster.list("Node") == 15, "15 nodes")
local n = cluster.patch("Node", "worker-01", { metadata = { labels = { ["vmrun-tls"] = case } } })
assert(n.metadata.labels["vmrun-tls"] == case, "the patch's answer")
print("tls ok " .. case)
LUA

# run NAME [OPTIONS...]: check.lua with $tmp/NAME.kubeconfig; sets $out (stdout and stderr), $rc
run() {
  local name=$1
  shift
  out=$(timeout 60 "$vmrun" --kubeconfig "$tmp/$name.kubeconfig" "$@" "$tmp/check.lua" "$name" 2>&1)
  rc=$?
}
# works NAME [OPTIONS...]: the run ends 0 and the plain server holds its label
works() {
  run "$@"
  [ "$rc" -eq 0 ] || fail "$1: exit 0 expected ($rc): $out"
  grep -q "^tls ok $1\$" <<<"$out" || fail "$1: no result: $out"
  curl -s "$base/api/v1/nodes/worker-01" |
    lua_json 'assert(doc.metadata.labels["vmrun-tls"] == arg[1], "label " .. tostring(doc.metadata.labels["vmrun-tls"]))' "$1" ||
    fail "$1: the label did not reach the server"
}
patches() { grep -c '"method":"PATCH"' "$tmp/requests.log"; }
# refused NAME PATTERN [OPTIONS...]: exit 2, the server named, PATTERN (grep -E) in the message,
# and no PATCH reached the server
refused() {
  local name=$1 pattern=$2 before
  shift 2
  before=$(patches)
  run "$name" "$@"
  [ "$rc" -eq 2 ] || fail "$name: exit 2 expected ($rc): $out"
  grep -qF "vmrun: cannot use cluster 'c': $(sed -n 's/^    server: //p' "$tmp/$name.kubeconfig")" <<<"$out" ||
    fail "$name: the server is not named: $out"
  grep -qE "$pattern" <<<"$out" || fail "$name: no clear reason ($pattern): $out"
  grep -q 'tls ok' <<<"$out" && fail "$name: the playbook ran: $out"
  [ "$(patches)" -eq "$before" ] || fail "$name: a PATCH reached the server"
}

# --- verifying the server ---------------------------------------------------------------------
kubeconfig ca "$tls" "$ca" ""
works ca
kubeconfig cadata "$tls" "    certificate-authority-data: $(base64 -w0 <"$pki/ca.crt")" ""
works cadata
kubeconfig otherca "$tls" "    certificate-authority: $pki/other-ca.crt" ""
refused otherca "TLS: certificate verify failed: .*certificate problem.*\(CA: certificate-authority $pki/other-ca\.crt\)"
kubeconfig othercadata "$tls" "    certificate-authority-data: $(base64 -w0 <"$pki/other-ca.crt")" ""
refused othercadata 'TLS: certificate verify failed: .*\(CA: certificate-authority-data\)'
kubeconfig wrongname "$tls" "$ca
    tls-server-name: wrong.example" ""
refused wrongname "TLS: certificate verify failed: .*'wrong\.example'"
kubeconfig sni "$tls" "$ca
    tls-server-name: localhost" ""
works sni
kubeconfig byname "https://localhost:$tls_port" "$ca" ""
works byname
kubeconfig insecure "$tls" "    insecure-skip-tls-verify: true" ""
works insecure
# a CA with insecure-skip-tls-verify is refused when the kubeconfig is read, as kubectl does
kubeconfig insecureca "$tls" "$ca
    insecure-skip-tls-verify: true" ""
run insecureca
[ "$rc" -eq 2 ] || fail "insecure with a CA: exit 2 expected ($rc): $out"
grep -q "insecureca\.kubeconfig:[0-9]*: cluster 'c': insecure-skip-tls-verify and a certificate authority" <<<"$out" ||
  fail "insecure with a CA: $out"

# --- client certificates ----------------------------------------------------------------------
kubeconfig cert "$mtls" "$ca" "    client-certificate: $pki/client.crt
    client-key: $pki/client.key"
works cert -v --log-format json
certout=$out
kubeconfig certdata "$mtls" "$ca" "    client-certificate-data: $(base64 -w0 <"$pki/client.crt")
    client-key-data: $(base64 -w0 <"$pki/client.key")"
works certdata -v
certout+=$out
kubeconfig nocert "$mtls" "$ca" ""
refused nocert 'HTTP 400 .*No required SSL certificate was sent'
# a key that is not the certificate's
kubeconfig badkey "$mtls" "$ca" "    client-certificate-data: $(base64 -w0 <"$pki/server.crt")
    client-key-data: $(base64 -w0 <"$pki/client.key")"
refused badkey 'TLS: cannot use the client certificate or key \(client-certificate-data, client-key-data\)' -v
certout+=$out

# --- bearer tokens ----------------------------------------------------------------------------
secret_out=
kubeconfig token "$tok" "$ca" "    token: $tls_token"
works token -v --log-format json
secret_out+=$out
printf '%s\n' "$tls_token" >"$tmp/token"
kubeconfig tokenfile "$tok" "$ca" "    tokenFile: $tmp/token"
works tokenfile -v
secret_out+=$out
# the file is read again by each run: a wrong token now is refused
printf 'wrong-%s\n' "$tls_token" >"$tmp/token"
refused tokenfile "401 .*the server does not accept the credentials of user 'u' \(the token in the file $tmp/token\)" -v --log-format json
secret_out+=$out
rm "$tmp/token"
run tokenfile
[ "$rc" -eq 2 ] || fail "a missing token file: exit 2 expected ($rc): $out"
grep -q "tokenfile\.kubeconfig:[0-9]*: user 'u': tokenFile $tmp/token cannot be read: No such file" <<<"$out" ||
  fail "a missing token file: $out"
kubeconfig badtoken "$tok" "$ca" "    token: wrong-$tls_token"
refused badtoken "401 .*the server does not accept the credentials of user 'u' \(the kubeconfig's token\)" -v
secret_out+=$out

# exec plugins: a script that answers an ExecCredential of the apiVersion it is given (env
# TOKEN overrides the token) and records KUBERNETES_EXEC_INFO, which it requires
cat >"$tmp/plugin.sh" <<EOF
#!/bin/sh
[ -n "\$KUBERNETES_EXEC_INFO" ] || { echo "KUBERNETES_EXEC_INFO is not set" >&2; exit 1; }
printf '%s\n' "\$KUBERNETES_EXEC_INFO" >"$tmp/exec-info"
printf '{"apiVersion":"%s","kind":"ExecCredential","status":{"token":"%s"}}\n' "\$1" "\${TOKEN:-$tls_token}"
EOF
chmod +x "$tmp/plugin.sh"
# exec_kubeconfig NAME APIVERSION [EXTRA-EXEC-LINES]: a user with the plugin
exec_kubeconfig() {
  kubeconfig "$1" "$tok" "$ca" "    exec:
      apiVersion: client.authentication.k8s.io/$2
      command: $tmp/plugin.sh
      args: [client.authentication.k8s.io/$2]
      interactiveMode: Never${3:-}"
}
for v in v1 v1beta1; do
  exec_kubeconfig "exec$v" "$v"
  works "exec$v" -v --log-format json
  secret_out+=$out
  lua_json 'assert(doc.apiVersion == "client.authentication.k8s.io/" .. arg[1] and doc.kind == "ExecCredential", "KUBERNETES_EXEC_INFO")' "$v" \
    <"$tmp/exec-info" || fail "exec $v: KUBERNETES_EXEC_INFO: $(cat "$tmp/exec-info")"
done
exec_kubeconfig execbad v1 "
      env: [{name: TOKEN, value: wrong-$tls_token}]"
refused execbad "401 .*the server does not accept the credentials of user 'u' \(a credential from the exec plugin '$tmp/plugin\.sh'\)" -v
secret_out+=$out

# --- secrets never show -----------------------------------------------------------------------
grep -q -- "$tls_token" <<<"$secret_out" && fail "a token in the output: $(grep -- "$tls_token" <<<"$secret_out" | head -3)"
grep -v -- '-----' "$pki/client.key" >"$tmp/key-lines"
base64 -w0 <"$pki/client.key" >>"$tmp/key-lines"
grep -qFf "$tmp/key-lines" <<<"$certout$secret_out" && fail "the client key in the output"
grep -q '"level":"debug"' <<<"$certout" || fail "no debug lines: the check above saw too little"

# --- in-cluster: the pod's service account --------------------------------------------------
mkdir -p "$tmp/sa"
cp "$pki/ca.crt" "$tmp/sa/ca.crt"
printf '%s' "$tls_token" >"$tmp/sa/token"
printf 'default' >"$tmp/sa/namespace"
out=$(VMRUN_SERVICEACCOUNT_DIR=$tmp/sa KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=$token_port \
  timeout 60 "$vmrun" -v --in-cluster "$tmp/check.lua" in-cluster 2>&1)
rc=$?
[ "$rc" -eq 0 ] || fail "in-cluster: exit 0 expected ($rc): $out"
grep -q "^tls ok in-cluster\$" <<<"$out" || fail "in-cluster: no result: $out"
grep -q "^vmrun: cluster .* at https://127.0.0.1:$token_port (context 'in-cluster'" <<<"$out" ||
  fail "in-cluster: first line: $(head -1 <<<"$out")"
grep -qF "$tls_token" <<<"$out" && fail "in-cluster: the token shows in the output"
out=$(VMRUN_SERVICEACCOUNT_DIR=$tmp/nowhere KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=$token_port \
  timeout 60 "$vmrun" --in-cluster "$tmp/check.lua" in-cluster 2>&1)
[ $? -eq 2 ] || fail "in-cluster without a service account: exit 2 expected: $out"
stop_tls_proxy
stop_server

echo "rest_tls: ok"
