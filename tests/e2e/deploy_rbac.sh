#!/usr/bin/env bash
# tests/e2e/deploy_rbac.sh: the least privilege of deploy/kubernetes/, derived and checked. The
# runs a scheduled runbook makes go through --kubeconfig to `vmrun serve` on 127.0.0.1, each with
# the command line of the manifest that runs it (cronjob.yaml, jobs/resume.yaml, jobs/undo.yaml:
# --in-cluster becomes --kubeconfig, the mounts temporary folders, the ConfigMap's config without
# its step, since the simulator reboots the nodes itself):
#   streaming  the CronJob's rolling maintenance (journal, report, the cluster lock's Lease taken,
#              renewed and released, the other maintenance actors looked for), drain-node.lua,
#              migrate-vm.lua, preflight.lua
#   listwatch  the same maintenance on a server without streaming lists (LIST, then WATCH)
#   conflicts  the maintenance with 409 Conflicts on patches (the re-read before sending again)
#              on the first of a few seeds that makes it re-read both a node and a VM
#   resume     the maintenance killed with SIGKILL while a node is in its step, then
#              jobs/resume.yaml's `vmrun resume` (its requests count here; resume.sh checks
#              what a resumed run does)
#   undo       the maintenance stopped by SIGTERM (as Kubernetes stops a pod) with --on-abort
#              cancel (its running migrations' VMIMs deleted), then jobs/undo.yaml's `vmrun undo`
# Every request of the servers' logs is turned into (verb, API group, resource[/subresource])
# as the Kubernetes authorizer sees it (tests/e2e/lib/deploy_rbac.lua) and checked against
# clusterrole.yaml and role.yaml both ways: each is granted, each rule's verb is used and needed
# (a clear message names the missing or unused rule). The sim.vmrun.io test channel is left out,
# and /version and discovery are checked to be what the default system:discovery role allows.
# Also the manifests' shape (apiVersion, kind, names, bindings, the CronJob's image, command,
# security context and journal volume; `kubectl kustomize` where kubectl is installed). Prints
# the rules table it derived.
#   bash tests/e2e/deploy_rbac.sh PATH/TO/vmrun
set -uo pipefail
vmrun=${1:?usage: deploy_rbac.sh PATH/TO/vmrun}
vmrun=$(cd "$(dirname "$vmrun")" && pwd)/$(basename "$vmrun")
. "$(dirname "$0")/lib/serve.sh"
src=${VMRUN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
k8s=$src/deploy/kubernetes
helper=$src/tests/e2e/lib/deploy_rbac.lua
export VMRUN_RUN_INDEX=$tmp/runs.tsv # (not the user's index)
mkdir -p "$tmp/logs"

"$vmrun" -q "$helper" shape "$k8s" || fail "the manifests' shape"
if command -v kubectl >/dev/null; then # (offline: kustomize needs no server)
  kinds=$(kubectl kustomize "$k8s" 2>&1) || fail "kubectl kustomize $k8s: $kinds"
  [ "$(grep -c '^kind: ' <<<"$kinds")" -eq 9 ] || fail "kubectl kustomize: not the 9 objects: $(grep '^kind: ' <<<"$kinds")"
else
  echo "deploy_rbac: SKIP kubectl kustomize: no kubectl here"
fi

# pod SCENARIO FILE [RUN_ID]: lays out FILE's mounts under $tmp/SCENARIO/mnt (once per scenario:
# the journal volume is shared by the scenario's pods) and sets the array cmd to its command line
pod() {
  local root=$tmp/$1/mnt
  [ -d "$root" ] || "$vmrun" -q "$helper" mount "$k8s" "$2" "$root" || fail "$1: mounts of $2"
  mapfile -t cmd < <("$vmrun" -q "$helper" argv "$k8s" "$2" "$root" "$tmp/kubeconfig" "${3:-}")
  [ "${#cmd[@]}" -gt 0 ] || fail "$1: no command line in $2"
}
# run SCENARIO WHAT CMD...: runs vmrun with CMD in $src (as the image's WORKDIR holds playbooks/);
# sets rc and out (stdout and stderr)
run() {
  local scenario=$1 what=$2
  shift 2
  out=$(cd "$src" && "$vmrun" "$@" 2>&1)
  rc=$?
  printf '%s\n' "$out" >"$tmp/$scenario/$what.out"
}
# expect_rc SCENARIO WHAT CODES: rc must be one of CODES ("0" or "0 1")
expect_rc() {
  local c
  for c in $3; do [ "$rc" -eq "$c" ] && return 0; done
  fail "$1: $2 exited $rc (expected $3): $(tail -15 <<<"$out")"
}
# serve_for SCENARIO OPTIONS...: a server on the demo cluster whose log becomes the scenario's
serve_for() {
  local scenario=$1
  shift
  rm -f "$tmp/requests.log"
  mkdir -p "$tmp/$scenario"
  start_server "$src/playbooks/clusters/demo.yaml" "$@"
}
done_with() {
  stop_server
  mv "$tmp/requests.log" "$tmp/logs/$1.jsonl"
}
# journal SCENARIO: the scenario's journal (one run)
journal() { ls "$tmp/$1"/mnt/state/runs/*.jsonl 2>/dev/null | head -1; }

# --- streaming lists: the CronJob's run, the lock, the other stock playbooks ---------------------
serve_for streaming --clock client
pod streaming cronjob.yaml
run streaming maintenance "${cmd[@]}"
expect_rc streaming "the CronJob's maintenance" 0
grep -q "worker-[0-9]* done: 12/12 nodes" <<<"$out" || fail "streaming: not every worker maintained: $(tail -5 <<<"$out")"
[ -n "$(journal streaming)" ] || fail "streaming: no journal in the state volume"
grep -q '"type":"end"' "$(journal streaming)" || fail "streaming: the journal has no end"
[ -s "$tmp/streaming/mnt/state/report/report.json" ] || fail "streaming: no report in the state volume"
grep -q '"method":"PATCH","path":"/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/vmrun-maintenance"' \
  "$tmp/requests.log" || fail "streaming: the maintenance did not take and renew the cluster lock"
run streaming drain --kubeconfig "$tmp/kubeconfig" playbooks/drain-node.lua worker-02 --delete-emptydir-data --force
expect_rc streaming drain-node.lua 0
run streaming migrate --kubeconfig "$tmp/kubeconfig" playbooks/migrate-vm.lua prod-app/app-08
expect_rc streaming migrate-vm.lua 0
run streaming preflight --kubeconfig "$tmp/kubeconfig" playbooks/preflight.lua
expect_rc streaming preflight.lua "0 1"
done_with streaming

# --- without streaming lists: LIST, then WATCH -------------------------------------------------
serve_for listwatch --clock client --feature-gates WatchList=false
pod listwatch cronjob.yaml
run listwatch maintenance "${cmd[@]}"
expect_rc listwatch "the CronJob's maintenance" 0
grep -q '"query":"limit=500' "$tmp/requests.log" || fail "listwatch: no LIST"
done_with listwatch

# --- conflicts: a patch without a precondition that meets 409 reads the object again ------------
# (the first seed whose conflicts hit both a node's and a VM's patch and that the run survives:
# the seed decides which patches conflict, and code that patches in another order shifts them)
for seed in 3 4 5 6 7; do
  serve_for conflicts --clock client --faults 'conflict@patch=0.15' --seed "$seed"
  pod conflicts cronjob.yaml
  run conflicts maintenance "${cmd[@]}"
  [ "$rc" -eq 0 ] &&
    grep -q '"method":"GET","path":"/api/v1/nodes/[^"]*","query":"","status":200' "$tmp/requests.log" &&
    grep -q '"method":"GET","path":"/apis/kubevirt.io/v1/namespaces/[^"]*/virtualmachines/[^"]*","query":"","status":200' \
      "$tmp/requests.log" && break
  echo "conflicts: seed $seed: exit $rc, or no re-read of both a node and a VM; the next seed"
  stop_server
  rm -rf "$tmp/conflicts"
  seed=
done
[ -n "$seed" ] || fail "conflicts: no seed re-read both a node and a VM after a 409 (or the runs failed): $(tail -5 <<<"$out")"
done_with conflicts

# --- resume: the pod dies (SIGKILL) in the middle of the run; jobs/resume.yaml finishes it ---------
serve_for resume --clock client
pod resume cronjob.yaml
(cd "$src" && exec "$vmrun" "${cmd[@]}") >"$tmp/resume/maintenance.out" 2>&1 &
client=$!
for _ in $(seq 1 600); do
  j=$(journal resume)
  [ -n "$j" ] && grep -q '"phase":"begin"' "$j" && break # a node in its step (rebooting)
  kill -0 "$client" 2>/dev/null || break
  sleep 0.01
done
kill -KILL "$client" 2>/dev/null
wait "$client" 2>/dev/null
grep -q '"type":"end"' "$(journal resume)" && fail "resume: the run ended before it was killed"
pod resume jobs/resume.yaml
run resume resume "${cmd[@]}"
# (0, or 1 when a node failed: the requests are what counts here; resume.sh checks the outcome)
expect_rc resume "jobs/resume.yaml's vmrun resume" "0 1"
grep -q 'resuming run' <<<"$out" || fail "resume: did not resume: $(tail -5 <<<"$out")"
tail -1 "$(journal resume)" | grep -q '"type":"end"' || fail "resume: the journal does not end"
[ "$rc" -eq 0 ] || echo "note: the resumed run ended 1: $(grep -m1 ' failed: ' <<<"$out")"
done_with resume

# --- undo: SIGTERM (a deleted Job, an evicted pod) with --on-abort cancel; jobs/undo.yaml ---------
serve_for undo --speed 50 # (paced: a migration is in flight for about 0.4 s)
pod undo cronjob.yaml
(cd "$src" && exec "$vmrun" "${cmd[@]}" --on-abort cancel) >"$tmp/undo/maintenance.out" 2>&1 &
client=$!
for _ in $(seq 1 1200); do
  j=$(journal undo)
  [ -n "$j" ] && grep -q '"phase":"created"' "$j" && break
  kill -0 "$client" 2>/dev/null || fail "undo: the run ended before a migration: $(tail -5 "$tmp/undo/maintenance.out")"
  sleep 0.01
done
kill -TERM "$client"
wait "$client"
rc=$?
[ "$rc" -eq 130 ] || fail "undo: SIGTERM: the run exited $rc, not 130: $(tail -5 "$tmp/undo/maintenance.out")"
grep -q '"method":"DELETE","path":"/apis/kubevirt.io/v1/namespaces/[^"]*/virtualmachineinstancemigrations/' "$tmp/requests.log" ||
  fail "undo: no migration was cancelled: $(grep -i 'cancel' "$tmp/undo/maintenance.out" | tail -3)"
id=$(basename "$(journal undo)" .jsonl)
pod undo jobs/undo.yaml "$id"
run undo undo "${cmd[@]}"
expect_rc undo "jobs/undo.yaml's vmrun undo" 0
grep -q "undo of run $id: .*uncordoned" <<<"$out" || fail "undo: $(tail -5 <<<"$out")"
done_with undo

# --- the rules ------------------------------------------------------------------------------
"$vmrun" -q "$helper" check "$k8s" "$tmp"/logs/streaming.jsonl "$tmp"/logs/listwatch.jsonl \
  "$tmp"/logs/conflicts.jsonl "$tmp"/logs/resume.jsonl "$tmp"/logs/undo.jsonl ||
  fail "the ClusterRole and Role do not match the requests (above)"
echo "deploy_rbac: ok"
