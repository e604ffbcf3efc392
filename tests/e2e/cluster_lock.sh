#!/usr/bin/env bash
# tests/e2e/cluster_lock.sh: the cluster lock between separate vmrun processes on one cluster
# (`vmrun serve` over HTTP on 127.0.0.1, real time): a run holds the lock past its TTL through the
# heartbeat's renewals (PATCHes with a resourceVersion precondition); a second run is refused
# (exit 1) naming holder, host, pid, run id and playbook, and changes nothing; the release clears
# the holder, and a third run takes it; Ctrl-C releases it (with and without <close>). Bad input: a
# run killed while holding the lock (its process is gone, its Lease is not): the next run is
# refused with a message saying that process is gone, and takes the lock over with a warning once
# it expired. Then actors.detect through the REST backend: a node cordoned by someone else is
# reported, the kinds the server does not serve read as none. Usage:
#   bash tests/e2e/cluster_lock.sh PATH/TO/vmrun
set -uo pipefail
vmrun=${1:?usage: cluster_lock.sh PATH/TO/vmrun}
vmrun=$(cd "$(dirname "$vmrun")" && pwd)/$(basename "$vmrun")
. "$(dirname "$0")/lib/serve.sh"
src=${VMRUN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
start_server "$src/tests/lua/fixtures/coordination_cluster.yaml"
kc=$tmp/kubeconfig
lease_url=$base/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/vmrun-maintenance

# A playbook that takes the lock (ttl from its first argument), says so in $tmp/held, and holds it
# until $tmp/go exists.
cat >"$tmp/hold.lua" <<'EOF'
local dir, ttl = ...
local l <close> = lock.acquire({ ttl = tonumber(ttl) })
io.open(dir .. "/held", "w"):close()
while not io.open(dir .. "/go") do task.sleep(0.1) end
print("released", l:release())
EOF
# wait_held: until the holder has the lock (at most 30 s)
wait_held() {
  for _ in $(seq 1 300); do
    [ -f "$tmp/held" ] && return 0
    sleep 0.1
  done
  fail "the holder never took the lock: $(cat "$tmp/a.err")"
}

# --- a run holds the lock past its TTL; a second run is refused -----------------------------------
"$vmrun" --kubeconfig "$kc" "$tmp/hold.lua" "$tmp" 2 >"$tmp/a.out" 2>"$tmp/a.err" &
holder=$!
wait_held
sleep 3 # past the 2 s TTL: only the heartbeat keeps it
lease=$(curl -s "$lease_url")
lua_json 'assert(doc.spec.leaseDurationSeconds == 2, "duration")
  assert(doc.spec.renewTime > doc.spec.acquireTime, "never renewed")
  io.write(doc.metadata.annotations["vmrun.io/pid"], " ", doc.metadata.annotations["vmrun.io/run-id"], " ",
    doc.spec.holderIdentity, " ", doc.metadata.resourceVersion)' <<<"$lease" >"$tmp/facts" || fail "lease: $lease"
read -r pid run_id holder_id rv <"$tmp/facts"
[ "$pid" = "$holder" ] || fail "the Lease names pid $pid, the holder is $holder"
out=$("$vmrun" --kubeconfig "$kc" -e 'lock.acquire({ ttl = 2 })' 2>&1)
rc=$?
[ "$rc" -eq 1 ] || fail "a second run exited $rc while the lock was held: $out"
grep -qF "lock.acquire: the lock kube-system/vmrun-maintenance is held by $holder_id (host $(cat /proc/sys/kernel/hostname), pid $holder, run $run_id, playbook $tmp/hold.lua) since " <<<"$out" ||
  fail "the refusal does not name the holder: $out"
grep -q 'Another maintenance run holds this cluster' <<<"$out" || fail "no advice: $out"
[ "$(curl -s "$lease_url" | lua_json 'io.write(doc.spec.holderIdentity)')" = "$holder_id" ] ||
  fail "the refused run changed the holder"
touch "$tmp/go"
wait "$holder" || fail "the holder exited $?: $(cat "$tmp/a.err")"
grep -q '^released	true$' "$tmp/a.out" || fail "release did not clear the lock: $(cat "$tmp/a.out" "$tmp/a.err")"
curl -s "$lease_url" | lua_json 'assert(doc.spec.holderIdentity == nil, "holder left")
  assert(doc.metadata.annotations["vmrun.io/pid"] == nil, "pid left")' || fail "release: $(curl -s "$lease_url")"
out=$("$vmrun" --kubeconfig "$kc" -e 'local l = lock.acquire() assert(l:release())' 2>&1) ||
  fail "a run after the release could not take the lock: $out"

# --- Ctrl-C releases the lock: through <close> and the heartbeat's cleanup, or the latter alone -----
for playbook in "$tmp/hold.lua" "$tmp/forgets.lua"; do
  printf '%s\n' 'local dir = ...' 'lock.acquire({ ttl = 5 })' 'io.open(dir .. "/held", "w"):close()' \
    'task.sleep(60)' >"$tmp/forgets.lua"
  rm -f "$tmp/held" "$tmp/go"
  "$vmrun" --kubeconfig "$kc" "$playbook" "$tmp" 5 >"$tmp/a.out" 2>"$tmp/a.err" &
  holder=$!
  wait_held
  kill -INT "$holder"
  wait "$holder"
  rc=$?
  [ "$rc" -eq 130 ] || fail "$(basename "$playbook") exited $rc after Ctrl-C: $(cat "$tmp/a.err")"
  curl -s "$lease_url" | lua_json 'assert(doc.spec.holderIdentity == nil, "holder left")' ||
    fail "Ctrl-C did not release the lock of $(basename "$playbook"): $(cat "$tmp/a.err")"
done

# --- a run killed while it holds the lock ------------------------------------------------------------
rm -f "$tmp/held" "$tmp/go"
"$vmrun" --kubeconfig "$kc" "$tmp/hold.lua" "$tmp" 2 >"$tmp/a.out" 2>"$tmp/a.err" &
holder=$!
wait_held
kill -KILL "$holder"
wait "$holder" 2>/dev/null
out=$("$vmrun" --kubeconfig "$kc" -e 'lock.acquire()' 2>&1)
rc=$?
[ "$rc" -eq 1 ] || fail "the lock of a killed run was taken before it expired (exit $rc): $out"
grep -qF "No process $holder runs on this host" <<<"$out" || fail "the refusal does not say the process is gone: $out"
sleep 2.5 # its 2 s TTL has passed
out=$("$vmrun" --kubeconfig "$kc" -e 'local l = lock.acquire() assert(l:release())' 2>&1) ||
  fail "the expired lock of a killed run was not taken over: $out"
grep -qE "WARN  lock kube-system/vmrun-maintenance: took over the expired lock of vmrun-[^ ]+ \(host [^,]+, pid $holder, " <<<"$out" ||
  fail "no warning naming the previous holder: $out"

# --- the other maintenance actors through the REST backend ---------------------------------------
"$vmrun" --kubeconfig "$kc" -q -e 'cluster.patch("Node", "worker-4", { spec = { unschedulable = true } })' 2>/dev/null ||
  fail "cordon"
out=$("$vmrun" --kubeconfig "$kc" -q -e 'for _, a in ipairs(actors.detect()) do print(a.kind, a.name, a.reason) end' \
  2>"$tmp/d.err") || fail "actors.detect: $out $(cat "$tmp/d.err")"
[ "$out" = "cordoned	worker-4	is cordoned by someone else (no vmrun.io/cordoned-by mark)" ] ||
  fail "actors.detect found: $out"
stop_server
echo "cluster_lock: ok"
