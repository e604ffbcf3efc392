#!/usr/bin/env bash
# tests/e2e/schedule_run.sh: running a schedule (`vmrun schedule FILE`, docs/schedule.md) end to
# end. The demo cluster is served by `vmrun serve --clock client` (it outlives each run; the runs
# drive its time). A window that opened this minute and lasts 30 minutes: `--run patch` starts
# the rolling maintenance with --window-end, which pauses (exit 4) before the first batch that
# would not end in time, no node left cordoned, "paused" in the journal and the history. The
# daemon then finds the run to resume in its history (whose last lines a crash cut: the run's end
# and half a record) and, the window now 6 hours long, resumes it at once (--once): every node
# maintained exactly once, the journal ends "done". Also: a second daemon on the same history is
# refused; the cron loop waits for the next minute and runs a runbook, which crashes and is resumed
# at once by the same daemon; SIGTERM during a
# run stops the run (130) and the daemon; --run outside a window is refused; a corrupt history
# record is named by file:line; --window-end and --run-id are checked.
#   bash tests/e2e/schedule_run.sh PATH/TO/vmrun
set -uo pipefail
vmrun=${1:?usage: schedule_run.sh PATH/TO/vmrun}
vmrun=$(cd "$(dirname "$vmrun")" && pwd)/$(basename "$vmrun")
src=${VMRUN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
source "$src/tests/e2e/lib/serve.sh"
export VMRUN_RUN_INDEX=$tmp/runs.tsv # (not the user's index)
# cJSON on vmrun's pool, as in optimized builds (sanitizer builds otherwise leave it off): what
# the daemon allocates through cJSON must be given back to it
export VMRUN_JSON_POOL=force
cd "$tmp" || exit 1

start_server "$src/playbooks/clusters/demo.yaml" --clock client --no-settle
history=$tmp/.vmrun/schedule-history.jsonl

# the served cluster, a window that opened this minute (UTC), the rolling maintenance as runbook
# "patch" (this test starts its runs with --run and --once: a pending resume goes before the
# runbook's next cron time)
cat >"$tmp/sched.yaml" <<EOF
cluster: {kubeconfig: $tmp/kubeconfig}
windows:
  weekly:
    - {days: [$(date -u +%a)], start: "$(date -u +%H:%M)", duration: 30m}
runbooks:
  - name: patch
    playbook: $src/playbooks/rolling-maintenance.lua
    cron: "*/5 * * * *"
EOF

# schedule_ok NAME CODE ARGS...: `vmrun schedule ARGS` exits CODE ($tmp/NAME.out, $tmp/NAME.err)
schedule_ok() {
  local name=$1 code=$2 rc
  shift 2
  "$vmrun" schedule "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
  rc=$?
  [ "$rc" -eq "$code" ] || fail "vmrun schedule $* exited $rc, expected $code: $(tail -20 "$tmp/$name.err")"
}

# --- a run paused at the window's end (exit 4) -------------------------------------------------
schedule_ok run1 4 "$tmp/sched.yaml" --run patch
grep -q 'starting run .* of patch (window ends ' "$tmp/run1.err" || fail "no start line with the window's end: $(cat "$tmp/run1.err")"
grep -q 'rolling-maintenance: paused before batch [0-9]* (.*): it needs about .* and the window ends in ' "$tmp/run1.err" \
  || fail "the maintenance did not say why it paused: $(tail -5 "$tmp/run1.err")"
grep -q 'ended: paused (exit 4)' "$tmp/run1.err" || fail "no end line: $(tail -5 "$tmp/run1.err")"
run_id=$(sed -n 's/.*starting run \([^ ]*\) of patch.*/\1/p' "$tmp/run1.err")
journal=$tmp/.vmrun/runs/$run_id.jsonl
[ -f "$journal" ] || fail "no journal $journal beside the history"
tail -1 "$journal" | grep -q '"status":"paused"' || fail "the journal does not end paused: $(tail -1 "$journal")"
tail -1 "$journal" | grep -q '"reason":"window"' || fail "the journal's end does not say window: $(tail -1 "$journal")"
grep -q '"type":"window"' "$journal" || fail "no window record in the journal"
[ "$(grep -c '' "$history")" -eq 2 ] || fail "the history should have a start and an end: $(cat "$history")"
grep -q "\"type\":\"start\",\"runbook\":\"patch\",\"run\":\"$run_id\",\"resume\":false,\"window_end\":\"20" "$history" \
  || fail "the start record lacks the run or the window's end: $(head -1 "$history")"
grep -q '"type":"end".*"status":"paused","exit":4' "$history" || fail "the end record is not paused: $(tail -1 "$history")"
lua_json '
  local bad, done = {}, 0
  for _, n in ipairs(doc.items) do
    if n.spec.unschedulable == true then bad[#bad + 1] = n.metadata.name end
  end
  if #bad > 0 then error("cordoned after the pause: " .. table.concat(bad, ", ")) end' \
  < <(curl -sf "$base/api/v1/nodes") || fail "a node stayed cordoned after the pause"
done1=$(grep -c '"state":"done","t":[0-9.]*,"type":"node"' "$journal")
[ "$done1" -gt 0 ] && [ "$done1" -lt 12 ] || fail "the paused run should have done some nodes, not all: $done1"
# a second --run-id of that id is a new run with a journal already: refused
"$vmrun" --kubeconfig "$tmp/kubeconfig" --state-dir "$tmp/.vmrun" --run-id "$run_id" \
  "$src/playbooks/rolling-maintenance.lua" >/dev/null 2>"$tmp/dup.err"
rc=$?
[ "$rc" -eq 2 ] && grep -q "run $run_id has a journal already" "$tmp/dup.err" \
  || fail "a new run with a used --run-id: exit $rc: $(tail -3 "$tmp/dup.err")"

# --- the daemon resumes a paused run in the next window, not in the one it paused in -------------
"$vmrun" schedule "$tmp/sched.yaml" >"$tmp/wait.out" 2>"$tmp/wait.err" &
waiting=$!
for _ in $(seq 1 100); do grep -q 'next: ' "$tmp/wait.err" && break; sleep 0.1; done
grep -q "next: resuming run $run_id at .* (in [67]d[0-9]*h)" "$tmp/wait.err" \
  || fail "the paused run should wait for next week's window: $(cat "$tmp/wait.err")"
kill -TERM "$waiting"
wait "$waiting" || fail "the waiting daemon did not stop cleanly on SIGTERM: $(tail -3 "$tmp/wait.err")"

# --- a crash cut the history: the daemon resumes the run in the (now longer) window -------------
sed -i '$d' "$history"                          # the run's end record is lost
printf '{"type":"start","runb' >>"$history"     # and half a record written
sed -i 's/duration: 30m/duration: 6h/' "$tmp/sched.yaml"
schedule_ok run2 0 "$tmp/sched.yaml" --once
grep -q 'schedule-history.jsonl:2: the last record was cut short' "$tmp/run2.err" || fail "the cut record was not reported: $(head -5 "$tmp/run2.err")"
grep -q "run $run_id of patch has no end in the history .*: its journal says paused; it is resumed" "$tmp/run2.err" \
  || fail "the run without an end was not taken up: $(head -5 "$tmp/run2.err")"
grep -q "resuming run $run_id of patch (window ends " "$tmp/run2.err" || fail "not resumed: $(head -8 "$tmp/run2.err")"
grep -q "ended: done (exit 0)" "$tmp/run2.err" || fail "no done line: $(tail -5 "$tmp/run2.err")"
for want in '"type":"end".*"status":"paused".*"note":"recorded at the daemon' \
  "\"type\":\"start\",\"runbook\":\"patch\",\"run\":\"$run_id\",\"resume\":true" \
  '"type":"end","runbook":"patch","run":"'"$run_id"'","status":"done","exit":0'; do
  grep -q "$want" "$history" || fail "the history lacks $want: $(cat "$history")"
done
"$vmrun" -q -e 'for line in io.lines(arg[1]) do json.decode(line) end' "$history" \
  || fail "the history is not JSON lines after the trim: $(cat "$history")"
tail -1 "$journal" | grep -q '"status":"done"' || fail "the journal does not end done: $(tail -1 "$journal")"
"$vmrun" -q -e '
  local done, n = {}, 0
  for line in io.lines(arg[1]) do
    local r = json.decode(line)
    if r.type == "node" and r.state == "done" then
      if done[r.node] then error(r.node .. " was maintained twice") end
      done[r.node], n = true, n + 1
    end
  end
  if n ~= 12 then error(("%d nodes maintained, not 12"):format(n)) end' "$journal" \
  || fail "each node once, all of them"
lua_json '
  for _, n in ipairs(doc.items) do
    if n.spec.unschedulable == true then error("cordoned at the end: " .. n.metadata.name) end
  end' < <(curl -sf "$base/api/v1/nodes") || fail "a node stayed cordoned"

# --- one daemon per history ------------------------------------------------------------------------
cat >"$tmp/idle.yaml" <<EOF
cluster: {kubeconfig: $tmp/kubeconfig}
runbooks:
  - {name: patch, playbook: $src/playbooks/rolling-maintenance.lua, cron: "0 0 1 1 *"}
history: .vmrun/schedule-history.jsonl
EOF
"$vmrun" schedule "$tmp/idle.yaml" >"$tmp/idle.out" 2>"$tmp/idle.err" &
idle=$!
for _ in $(seq 1 100); do grep -q 'next: runbook patch at ' "$tmp/idle.err" && break; sleep 0.1; done
grep -q 'next: runbook patch at .*-01-01 00:00 UTC (in ' "$tmp/idle.err" || fail "the idle daemon did not say its next run: $(cat "$tmp/idle.err")"
"$vmrun" schedule "$tmp/sched.yaml" --run patch >/dev/null 2>"$tmp/second.err"
rc=$?
[ "$rc" -eq 2 ] && grep -q 'another vmrun schedule runs this schedule' "$tmp/second.err" \
  || fail "a second daemon on the same history: exit $rc: $(cat "$tmp/second.err")"
kill -TERM "$idle"
wait "$idle"
rc=$?
[ "$rc" -eq 0 ] && grep -q 'stopping (no run in progress)' "$tmp/idle.err" \
  || fail "SIGTERM to an idle daemon: exit $rc: $(tail -3 "$tmp/idle.err")"

# --- the cron loop: the next minute's run; cut short, it is resumed at once by the same daemon ---
# (tick.lua journals a record and exits as a crash would on its first attempt; resumed, it ends
# its journal "done")
mkdir -p "$tmp/loop"
cat >"$tmp/loop/tick.lua" <<'EOF'
local j = require("vmrun.journal").current()
local f = assert(io.open(arg[1], "a"))
f:write(("tick %s %s\n"):format(j.resuming and "resumed" or "first", table.concat({ select(2, ...) }, " ")))
f:close()
j:record("tick", {})
if not j.resuming then os.exit(1) end
j:finish("done")
EOF
cat >"$tmp/loop/loop.yaml" <<EOF
cluster: {kubeconfig: $tmp/kubeconfig}
runbooks:
  - {name: tick, playbook: tick.lua, cron: "* * * * *", args: ["$tmp/loop/ticks", "a b"]}
EOF
"$vmrun" schedule "$tmp/loop/loop.yaml" >"$tmp/loop/out" 2>"$tmp/loop/err" &
daemon=$!
for _ in $(seq 1 900); do
  grep -q 'ended: done' "$tmp/loop/err" && break
  kill -0 "$daemon" 2>/dev/null || break
  sleep 0.1
done
kill -TERM "$daemon" 2>/dev/null
wait "$daemon"
rc=$?
[ "$rc" -eq 0 ] || fail "the cron loop's daemon: exit $rc: $(cat "$tmp/loop/err")"
grep -q 'next: runbook tick at ' "$tmp/loop/err" || fail "no next-run line: $(cat "$tmp/loop/err")"
grep -q 'ended: interrupted (exit 1)' "$tmp/loop/err" || fail "the first attempt was not seen cut short: $(cat "$tmp/loop/err")"
grep -q 'is resumed at once (it was cut short)' "$tmp/loop/err" || fail "not resumed at once: $(cat "$tmp/loop/err")"
[ "$(cat "$tmp/loop/ticks" 2>/dev/null)" = "$(printf 'tick first a b\ntick resumed a b')" ] \
  || fail "the runbook did not run, then resume, with its args: $(cat "$tmp/loop/ticks" 2>&1)"
grep -q '"type":"start","runbook":"tick","run":"[^"]*","resume":true' "$tmp/loop/.vmrun/schedule-history.jsonl" \
  && grep -q '"type":"end","runbook":"tick","run":"[^"]*","status":"done","exit":0' "$tmp/loop/.vmrun/schedule-history.jsonl" \
  || fail "the loop's history lacks the resume: $(cat "$tmp/loop/.vmrun/schedule-history.jsonl")"

# --- SIGTERM during a run: the run is stopped, then the daemon --------------------------------------
cat >"$tmp/loop/slow.lua" <<'EOF'
exec.run({ "sleep", "30" })
EOF
cat >"$tmp/loop/slow.yaml" <<EOF
cluster: {file: $src/playbooks/clusters/demo.yaml}
runbooks:
  - {name: slow, playbook: slow.lua, cron: "0 0 1 1 *"}
history: slow-history.jsonl
EOF
"$vmrun" schedule "$tmp/loop/slow.yaml" --run slow >"$tmp/loop/slow.out" 2>"$tmp/loop/slow.err" &
daemon=$!
for _ in $(seq 1 100); do grep -q 'starting run' "$tmp/loop/slow.err" && break; sleep 0.1; done
sleep 1
kill -TERM "$daemon"
wait "$daemon"
rc=$?
[ "$rc" -eq 130 ] || fail "SIGTERM during a run: the daemon exited $rc, expected 130: $(cat "$tmp/loop/slow.err")"
grep -q 'run .* is asked to stop' "$tmp/loop/slow.err" || fail "the signal was not passed on: $(cat "$tmp/loop/slow.err")"
grep -q '"status":"aborted","exit":130' "$tmp/loop/slow-history.jsonl" || fail "the history does not say aborted: $(cat "$tmp/loop/slow-history.jsonl")"

# --- refusals ----------------------------------------------------------------------------------------
other_day=$(date -u -d tomorrow +%a)
sed "s/days: \[$(date -u +%a)\]/days: [$other_day]/" "$tmp/sched.yaml" >"$tmp/closed.yaml"
echo "history: closed-history.jsonl" >>"$tmp/closed.yaml"
"$vmrun" schedule "$tmp/closed.yaml" --run patch >/dev/null 2>"$tmp/closed.err"
rc=$?
[ "$rc" -eq 2 ] && grep -q -- '--run patch: it may not start now: outside window' "$tmp/closed.err" \
  || fail "--run outside its window: exit $rc: $(cat "$tmp/closed.err")"
printf 'garbage\n{"type":"start"}\n' >"$tmp/loop/bad-history.jsonl"
sed 's/^history: .*/history: bad-history.jsonl/' "$tmp/loop/slow.yaml" >"$tmp/loop/bad.yaml"
"$vmrun" schedule "$tmp/loop/bad.yaml" --run slow >/dev/null 2>"$tmp/loop/bad.err"
rc=$?
[ "$rc" -eq 2 ] && grep -q 'bad-history.jsonl:1: not a history record' "$tmp/loop/bad.err" \
  || fail "a corrupt history: exit $rc: $(cat "$tmp/loop/bad.err")"
"$vmrun" --window-end tomorrow -e 'print(1)' >/dev/null 2>"$tmp/we.err"
rc=$?
[ "$rc" -eq 2 ] && grep -q "bad --window-end 'tomorrow'" "$tmp/we.err" || fail "--window-end tomorrow: exit $rc: $(cat "$tmp/we.err")"
"$vmrun" --window-end +0s -e 'print(1)' >/dev/null 2>"$tmp/we.err"
rc=$?
[ "$rc" -eq 2 ] && grep -q "bad --window-end '+0s'" "$tmp/we.err" || fail "--window-end +0s: exit $rc: $(cat "$tmp/we.err")"
# +DURATION from now: the run's journal knows the window's end, its recorded command line does not
"$vmrun" --window-end +2h -e 'local r = require("vmrun.journal.core").run()
  assert(math.abs(r.window_end - (os.time() + 7200)) <= 5, "window_end " .. tostring(r.window_end))
  for _, a in ipairs(r.argv) do assert(a ~= "--window-end" and a ~= "+2h", "recorded: " .. a) end' \
  2>"$tmp/we2.err" || fail "--window-end +2h: $(cat "$tmp/we2.err")"
"$vmrun" --run-id 'a b' -e 'print(1)' >/dev/null 2>"$tmp/id.err"
rc=$?
[ "$rc" -eq 2 ] && grep -q "bad --run-id 'a b'" "$tmp/id.err" || fail "--run-id 'a b': exit $rc: $(cat "$tmp/id.err")"

stop_server
echo "ok: paused at the window's end and resumed in the next window, each node once; the cron loop, SIGTERM, one daemon per history, refusals"
