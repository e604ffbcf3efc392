# tests/e2e/lib/serve.sh: shared by the end-to-end tests of `vmrun serve` (sourced, not run):
# a temporary folder, fail(), and start_server/stop_server for a server on a free loopback port.
# Needs $vmrun (an absolute path) set before it is sourced.
tmp=$(mktemp -d)
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  echo "--- server stderr:"
  tail -20 "$tmp/serve.err" 2>/dev/null
  exit 1
}
# start_server CLUSTER [OPTIONS...]: serves it at --speed 20 with a request log
# ($tmp/requests.log) and a kubeconfig ($tmp/kubeconfig); sets $base (http://127.0.0.1:PORT)
# and $port once it listens
start_server() {
  local cluster=$1
  shift
  rm -f "$tmp/serve.out" "$tmp/kubeconfig"
  "$vmrun" serve --cluster "$cluster" --listen 127.0.0.1:0 --speed 20 --log "$tmp/requests.log" \
    --kubeconfig-out "$tmp/kubeconfig" "$@" >"$tmp/serve.out" 2>"$tmp/serve.err" &
  server=$!
  for _ in $(seq 1 600); do
    grep -q 'on http://127.0.0.1:' "$tmp/serve.out" 2>/dev/null && break
    kill -0 "$server" 2>/dev/null || fail "vmrun serve exited: $(cat "$tmp/serve.err")"
    sleep 0.1
  done
  base=$(sed -n 's/.* on \(http:\/\/127\.0\.0\.1:[0-9]*\)$/\1/p' "$tmp/serve.out")
  port=${base##*:}
  [ -n "$base" ] || fail "no address: $(cat "$tmp/serve.out")"
}
# stop_server: SIGTERM; it must stop cleanly (exit 0: under ASan, no leak) and say so
stop_server() {
  kill "$server"
  wait "$server"
  local rc=$?
  server=
  [ "$rc" -eq 0 ] || fail "vmrun serve exited $rc after SIGTERM (a leak under ASan?): $(tail -30 "$tmp/serve.err")"
  grep -q 'terminated: stopping' "$tmp/serve.err" || fail "no stop message: $(cat "$tmp/serve.err")"
}
# lua_json CODE [ARGS...]: a Lua chunk over a JSON document on stdin, as `doc` (ARGS in arg)
lua_json() {
  local code=$1
  shift
  "$vmrun" -q -e "local doc = json.decode(io.read('a')); $code" "$@"
}
