#!/usr/bin/env bash
# tests/e2e/cbt_audit.sh: playbooks/cbt-audit.lua on a datastore folder with two VMs, one without
# CBT: the table and exit code 1, then --enable (exit 0, the .vmx rewritten with a backup, the
# other VM untouched), --json (one document that json.decode reads, with the findings), an
# inventory export, and the usage errors (exit 2). Usage: bash tests/e2e/cbt_audit.sh PATH/TO/vmrun
set -uo pipefail
vmrun=${1:?usage: cbt_audit.sh PATH/TO/vmrun}
vmrun=$(cd "$(dirname "$vmrun")" && pwd)/$(basename "$vmrun")
src=${VMRUN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

mkdir -p "$tmp/ds/web" "$tmp/ds/db" "$tmp/ds/iso"
printf 'displayName = "web"\nvirtualHW.version = "13"\nctkEnabled = "FALSE"\nscsi0.present = "TRUE"\nscsi0:0.present = "TRUE"\nscsi0:0.fileName = "web.vmdk"\n' >"$tmp/ds/web/web.vmx"
printf '# Disk DescriptorFile\nversion=1\ncreateType="vmfs"\nRW 100 VMFS "web-flat.vmdk"\n' >"$tmp/ds/web/web.vmdk"
printf 'displayName = "db"\nvirtualHW.version = "19"\nctkEnabled = "TRUE"\n' >"$tmp/ds/db/db.vmx"
cp "$tmp/ds/db/db.vmx" "$tmp/db.vmx.orig"
audit() { "$vmrun" "$src/playbooks/cbt-audit.lua" "$@"; }

out=$(audit "$tmp/ds") && fail "a critical finding must exit 1"
[ $? -eq 1 ] || fail "exit code $? instead of 1"
grep -q '^web (.*web.vmx): 1 critical, 1 warning, 0 info$' <<<"$out" || fail "no web summary: $out"
grep -q 'critical CBT-VM *web.vmx:3 *ctkEnabled is "FALSE"' <<<"$out" || fail "no CBT-VM row: $out"
grep -q '^db (.*db.vmx): 0 critical, 0 warning, 0 info$' <<<"$out" || fail "no db summary: $out"
grep -q '^2 VM(s) checked, 1 critical finding(s)$' <<<"$out" || fail "no total: $out"

out=$(audit "$tmp/ds" --enable) || fail "--enable must leave no critical finding: $out"
grep -q 'CBT switched on (backup .*web.vmx.vmrun-backup)' <<<"$out" || fail "no enable line: $out"
grep -q 'ctkEnabled = "TRUE"' "$tmp/ds/web/web.vmx" || fail "web.vmx not rewritten"
grep -q 'scsi0:0.ctkEnabled = "TRUE"' "$tmp/ds/web/web.vmx" || fail "disk switch not added"
cmp -s "$tmp/ds/db/db.vmx" "$tmp/db.vmx.orig" || fail "db.vmx was changed"
[ ! -e "$tmp/ds/db/db.vmx.vmrun-backup" ] || fail "db.vmx got a backup"

audit "$tmp/ds/web" --json >"$tmp/report.json" || fail "--json exit code"
"$vmrun" -e '
  local f = assert(io.open(arg[1])) local doc = json.decode(f:read("a")) f:close()
  assert(doc.critical == 0, "critical " .. tostring(doc.critical))
  assert(#doc.vms == 1 and doc.vms[1].name == "web", "vms")
  assert(doc.vms[1].findings[1].id == "CBT-DESCRIPTOR", doc.vms[1].findings[1].id)
  assert(doc.vms[1].counts.warning == 1)' "$tmp/report.json" || fail "JSON document"

printf '{"virtualMachines":[{"name":"inv","config":{"version":"vmx-19","changeTrackingEnabled":false,"hardware":{"device":[]}}}]}' >"$tmp/inv.json"
out=$(audit "$tmp/inv.json") && fail "an inventory with CBT off must exit 1"
grep -q '^inv: 1 critical, 0 warning, 0 info$' <<<"$out" || fail "no inventory summary: $out"
grep -q 'critical CBT-VM' <<<"$out" || fail "no CBT-VM row for the inventory: $out"
audit "$tmp/inv.json" --enable >/dev/null 2>&1
[ $? -eq 2 ] || fail "--enable on an inventory must exit 2"

printf '{"virtualMachines":[]}' >"$tmp/empty.json"
audit "$tmp/empty.json" >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] || fail "an export without VMs must exit 2"
grep -q 'lists no VM' "$tmp/err" || fail "no message for an empty export"
printf '{"virtualMachines": [' >"$tmp/broken.json"
audit "$tmp/broken.json" >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] || fail "a broken export must exit 2"
grep -q '^cbt-audit: .*broken.json:1:' "$tmp/err" || fail "no message for a broken export: $(cat "$tmp/err")"
audit "$tmp/nowhere" >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] || fail "a missing folder must exit 2"
grep -q '^cbt-audit: .*nowhere' "$tmp/err" || fail "no message for a missing folder"
mkdir -p "$tmp/upper/VM1" && printf 'ctkEnabled = "TRUE"
virtualHW.version = "19"
' >"$tmp/upper/VM1/VM1.VMX"
audit "$tmp/upper" --json >"$tmp/upper.json" || fail "an upper-case .VMX folder: exit $?"
"$vmrun" -e '
  local f = assert(io.open(arg[1])) local text = f:read("a") f:close()
  assert(text:find("\"findings\": []", 1, true), "an empty findings list must be []: " .. text)' "$tmp/upper.json" \
  || fail "empty lists in --json"

audit >/dev/null 2>&1
[ $? -eq 2 ] || fail "no argument must exit 2"
audit "$tmp/ds" --bogus >/dev/null 2>&1
[ $? -eq 2 ] || fail "an unknown option must exit 2"
audit "$tmp/ds/iso" >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] || fail "a folder without VMs must exit 2"
grep -q 'no VM folder' "$tmp/err" || fail "no message for an empty folder"
echo "cbt_audit: ok"
