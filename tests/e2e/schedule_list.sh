#!/usr/bin/env bash
# tests/e2e/schedule_list.sh: `vmrun schedule --list` and `--check` end to end on
# tests/e2e/fixtures/schedule.yaml with a fixed --now: the table of next runs (start in the
# schedule's zone and in UTC, window ends, skipped cron times frozen or outside a window), --now
# in UTC, with an offset and in the schedule's zone, --count, and exit code 2 with file:line:column
# for bad files (bad cron field, missing playbook, a runbook that never runs) and bad options.
# Usage: bash tests/e2e/schedule_list.sh PATH/TO/vmrun
set -uo pipefail
vmrun=${1:?usage: schedule_list.sh PATH/TO/vmrun}
src=${VMRUN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
fixture=tests/e2e/fixtures/schedule.yaml
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
cd "$src" || exit 1

if ! "$vmrun" schedule --help 2>/dev/null | grep -q 'usage: vmrun schedule'; then
  echo "FAIL: '$vmrun schedule' is not wired into runtime/main.c (vr_schedule_main, runtime/schedule_cli.h)"
  exit 1
fi

# expect CODE PATTERN -- ARGS...: exit code CODE and stdout+stderr matching PATTERN (grep -E)
expect() {
  local code=$1 pattern=$2 out rc
  shift 3
  out=$("$vmrun" schedule "$@" 2>&1)
  rc=$?
  [ "$rc" -eq "$code" ] || fail "vmrun schedule $* exited $rc, expected $code; output: $out"
  if [ -n "$pattern" ] && ! grep -qE -- "$pattern" <<<"$out"; then
    fail "vmrun schedule $* output does not match /$pattern/: $out"
  fi
}

# the table, exactly
cat >"$tmp/expected" <<'EOF'
schedule tests/e2e/fixtures/schedule.yaml: 3 runbooks on cluster context admin@prod of ~/.kube/prod
next 10 runs after Sat 2026-12-19 13:00 CET (2026-12-19 12:00 UTC):

RUNBOOK        START (Europe/Berlin)     START (UTC)           WINDOW ENDS               SKIPPED CRON TIMES
rolling-patch  Sat 2026-12-19 22:00 CET  2026-12-19 21:00 UTC  Sun 2026-12-20 00:00 CET
cbt-audit      Mon 2027-01-04 07:00 CET  2027-01-04 06:00 UTC  -                         since Mon 2026-12-21 07:00 CET: frozen (year-end freeze)
cbt-audit      Tue 2027-01-05 07:00 CET  2027-01-05 06:00 UTC  -
cbt-audit      Wed 2027-01-06 07:00 CET  2027-01-06 06:00 UTC  -
cbt-audit      Thu 2027-01-07 07:00 CET  2027-01-07 06:00 UTC  -
cbt-audit      Fri 2027-01-08 07:00 CET  2027-01-08 06:00 UTC  -
rolling-patch  Sat 2027-01-09 22:00 CET  2027-01-09 21:00 UTC  Sun 2027-01-10 04:00 CET  since Sat 2026-12-26 22:00 CET: frozen (year-end freeze)
preflight      Sun 2027-01-10 03:30 CET  2027-01-10 02:30 UTC  Sun 2027-01-10 04:00 CET  since Sun 2026-12-20 03:30 CET: frozen (year-end freeze), outside window
cbt-audit      Mon 2027-01-11 07:00 CET  2027-01-11 06:00 UTC  -
cbt-audit      Tue 2027-01-12 07:00 CET  2027-01-12 06:00 UTC  -
EOF
for now in 2026-12-19T12:00Z 2026-12-19T12:00:00Z 2026-12-19T13:00+01:00 2026-12-19T07:00-0500 \
  "2026-12-19 13:00" 2026-12-19T13:00:00.250; do
  out=$("$vmrun" schedule --list "$fixture" --now "$now" 2>&1)
  rc=$?
  [ "$rc" -eq 0 ] || fail "--list --now $now exited $rc: $out"
  diff -u "$tmp/expected" - <<<"$out" >"$tmp/diff" || fail "--list --now $now:"$'\n'"$(cat "$tmp/diff")"
done

# the excluded Saturday (2027-01-16) moves rolling-patch a week; Sunday's window opens at
# its midnight, so preflight still runs
out=$("$vmrun" schedule "$fixture" --list --now 2027-01-11T00:00Z --count 12 2>&1)
grep -qE '^rolling-patch +Sat 2027-01-23 22:00 CET +2027-01-23 21:00 UTC +Sun 2027-01-24 04:00 CET +since Sat 2027-01-16 22:00 CET: excluded \(2027-01-16\)$' <<<"$out" ||
  fail "excluded Saturday not skipped: $out"
grep -qE '^preflight +Sun 2027-01-17 03:30 CET +2027-01-17 02:30 UTC +Sun 2027-01-17 04:00 CET +since Mon 2027-01-11 03:30 CET: outside window$' <<<"$out" ||
  fail "preflight after the excluded Saturday: $out"
[ "$(grep -cE '^(rolling-patch|preflight|cbt-audit) ' <<<"$out")" -eq 12 ] || fail "--count 12: $out"

# summer time: CEST in the zone column, two hours off UTC
out=$("$vmrun" schedule --list "$fixture" --now 2027-06-30T12:00Z --count 1 2>&1)
grep -qE '^cbt-audit +Thu 2027-07-01 07:00 CEST +2027-07-01 05:00 UTC +-$' <<<"$out" ||
  fail "summer time: $out"

# a window that never closes: every day, touching, across the DST change of 2027-03-28
cat >"$tmp/always.yaml" <<EOF
timezone: Europe/Berlin
cluster: {context: prod}
windows: {weekly: [{days: [Mon, Tue, Wed, Thu, Fri, Sat, Sun], start: "00:00", duration: 24h}]}
runbooks: [{name: any, playbook: $src/playbooks/hello.lua, cron: "*/30 * * * *"}]
EOF
out=$("$vmrun" schedule --list "$tmp/always.yaml" --now 2027-03-28T00:10Z --count 4 2>&1)
grep -qE '^any +Sun 2027-03-28 03:00 CEST +2027-03-28 01:00 UTC +not within 400 days$' <<<"$out" ||
  fail "always-open window over the spring DST change: $out"
[ "$(grep -c '^any ' <<<"$out")" -eq 4 ] || fail "always-open --count 4: $out"

expect 0 "^$fixture: ok \(3 runbooks, 1 weekly window, 1 excluded date, 1 freeze; time zone Europe/Berlin\)$" -- --check "$fixture"
expect 0 'usage: vmrun schedule FILE \[--once \| --run RUNBOOK\]' -- --help
expect 0 'vmrun schedule --list FILE \[--now TIME\]' -- --help

# bad files: exit 2, one line with file:line:column
pb="$src/playbooks/hello.lua"
cat >"$tmp/bad-cron.yaml" <<EOF
cluster: {context: prod}
runbooks:
  - name: nightly
    playbook: $pb
    cron: "0 25 * * *"
EOF
expect 2 "^vmrun schedule: $tmp/bad-cron.yaml:5:14: runbook 'nightly': cron '0 25 \* \* \*': hour field: 25 is out of range 0-23$" -- --check "$tmp/bad-cron.yaml"
expect 2 "bad-cron.yaml:5:14: " -- --list "$tmp/bad-cron.yaml" --now 2026-12-19T12:00Z

cat >"$tmp/no-playbook.yaml" <<'EOF'
cluster: {context: prod}
runbooks:
  - name: nightly
    playbook: nowhere/missing.lua
    cron: "@daily"
EOF
expect 2 "^vmrun schedule: $tmp/no-playbook.yaml:3:5: runbook 'nightly': playbook $tmp/nowhere/missing.lua cannot be read: No such file or directory$" -- --check "$tmp/no-playbook.yaml"

cat >"$tmp/never.yaml" <<EOF
cluster: {context: prod}
windows: {weekly: [{days: [Sat], start: "22:00", duration: 6h}]}
runbooks:
  - name: noon
    playbook: $pb
    cron: "0 12 * * MON"
EOF
expect 2 "^vmrun schedule: $tmp/never.yaml:6:11: runbook 'noon' never runs: none of its cron times \('0 12 \* \* MON'\) in the next 50 years falls inside a window that is not frozen or excluded$" -- --check "$tmp/never.yaml"

printf 'cluster: {context: prod}\nrunbooks: [{name: a, windwo: true, playbook: %s, cron: "@daily"}]\n' "$pb" >"$tmp/typo.yaml"
expect 2 "typo.yaml:2:22: runbooks\[1\]: unknown key 'windwo' \(did you mean 'window'\?\)$" -- --check "$tmp/typo.yaml"
expect 2 "nope.yaml: cannot read the schedule: No such file or directory" -- --check "$tmp/nope.yaml"

# usage errors
expect 2 "bad --now 'yesterday'" -- --list "$fixture" --now yesterday
expect 2 "bad --now '2026-02-30T00:00Z'" -- --list "$fixture" --now 2026-02-30T00:00Z
expect 2 "bad --count '0': expected 1 to 1000" -- --list "$fixture" --count 0
expect 2 "option '--now' needs a TIME" -- --list "$fixture" --now
expect 2 "unknown option '--bogus'" -- --list "$fixture" --bogus
expect 2 "give --list or --check, not both" -- --list --check "$fixture"
expect 2 "one schedule FILE at a time" -- --list "$fixture" "$fixture"
expect 2 "a schedule runs on the clock" -- "$fixture" --now 2026-12-19T12:00Z
expect 2 "give --once or --run, not both" -- "$fixture" --once --run rolling-patch
expect 2 "--once and --run run the schedule; --list and --check only read it" -- --list "$fixture" --once
expect 2 'usage: vmrun schedule' --

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "schedule_list: ok"
