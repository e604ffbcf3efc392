#!/usr/bin/env bash
# tests/e2e/playbooks.sh: the small stock playbooks on the demo cluster: drain-node.lua (a node
# drained with its account, a refusal that changes nothing, a node that does not exist) and
# migrate-vm.lua (a pinned migration followed to the end, a VM that cannot migrate, bad
# arguments). Usage: bash tests/e2e/playbooks.sh PATH/TO/vmrun
set -uo pipefail
vmrun=${1:?usage: playbooks.sh PATH/TO/vmrun}
src=${VMRUN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
fail() { echo "FAIL: $*"; exit 1; }
run() { # run EXPECTED_CODE PLAYBOOK ARGS...
  local code=$1 pb=$2
  shift 2
  out=$("$vmrun" "$src/playbooks/$pb" "$@" 2>&1)
  local rc=$?
  [ "$rc" -eq "$code" ] || fail "$pb $* exited $rc, expected $code: $out"
}

run 0 drain-node.lua worker-01
grep -qE '^sap/hana-01 +migrate +migrated +worker-01 -> worker-' <<<"$out" || fail "no VM line: $out"
grep -qE '^kubevirt/virt-handler-[a-z0-9]+ +skipped +ignoring DaemonSet-managed Pods$' <<<"$out" || fail "no pod line: $out"
grep -qE '^worker-01 drained in [0-9]+ s \(simulated\)$' <<<"$out" || fail "no summary: $out"
run 1 drain-node.lua worker-04
grep -q 'drain-node: node.drain worker-04: cannot drain, nothing changed: VM prod-db/reporting-01' <<<"$out" || fail "no refusal: $out"
grep -q 'cordoned worker-04' <<<"$out" && fail "a refused drain must not cordon: $out"
run 2 drain-node.lua worker-99
grep -q 'no node worker-99' <<<"$out" || fail "missing node: $out"
run 2 drain-node.lua worker-01 --bogus
run 2 drain-node.lua worker-01 --timeout soon

run 0 migrate-vm.lua prod-db/oracle-01 --to worker-06
grep -q '^prod-db/oracle-01 migrated: worker-02 -> worker-06$' <<<"$out" || fail "no migration: $out"
run 1 migrate-vm.lua prod-db/reporting-01
grep -q 'cannot live-migrate: DisksNotLiveMigratable' <<<"$out" || fail "no refusal: $out"
run 1 migrate-vm.lua prod-db/oracle-01 --to worker-03
grep -q 'cannot go to worker-03: nodeSelector cpumanager=true' <<<"$out" || fail "no target refusal: $out"
run 2 migrate-vm.lua prod-db/none
run 2 migrate-vm.lua oracle-01
echo "playbooks: ok"
