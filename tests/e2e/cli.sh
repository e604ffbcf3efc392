#!/usr/bin/env bash
# tests/e2e/cli.sh: the vmrun command line end to end: options, arguments, exit codes and the
# one-line messages for bad input, signals (graceful first Ctrl-C, immediate second), --timeout
# on CPU-bound code, --max-memory, --dev-runtime, --cluster and the demo cluster. Usage:
# bash tests/e2e/cli.sh PATH/TO/vmrun
set -uo pipefail
vmrun=${1:?usage: cli.sh PATH/TO/vmrun}
src=${VMRUN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# expect CODE PATTERN -- ARGS...: exit code CODE and stderr+stdout matching PATTERN (grep -E)
expect() {
  local code=$1 pattern=$2 out rc
  shift 3
  out=$("$vmrun" "$@" 2>&1)
  rc=$?
  [ "$rc" -eq "$code" ] || fail "vmrun $* exited $rc, expected $code; output: $out"
  if [ -n "$pattern" ] && ! grep -qE -- "$pattern" <<<"$out"; then
    fail "vmrun $* output does not match /$pattern/: $out"
  fi
}

expect 0 '^vmrun [0-9]+\.[0-9]+\.[0-9]+ \(Lua 5\.4' -- --version
expect 0 'usage: vmrun' -- --help
expect 2 'usage: vmrun' --
expect 2 "unknown option '--bogus'" -- --bogus x.lua
expect 2 "bad duration '5x' for --timeout" -- --timeout 5x x.lua
expect 2 "option '--timeout' needs" -- --timeout
expect 2 "bad value 'xml' for --log-format" -- --log-format xml x.lua
expect 2 "bad size '12Q' for --max-memory" -- --max-memory 12Q x.lua
expect 2 'cannot open playbook nope\.lua: No such file' -- nope.lua
printf 'local x = = 1\n' >"$tmp/syntax.lua"
expect 2 "syntax\.lua:1: unexpected symbol near '='" -- "$tmp/syntax.lua"
# a path longer than Lua's 60-character chunk names is still named in full, not "...tail"
deep="$tmp/a-directory-name-long-enough/that-lua-would-shorten-the-chunk-name"
mkdir -p "$deep" && cp "$tmp/syntax.lua" "$deep/"
expect 2 "^vmrun: $deep/syntax\.lua:1: unexpected symbol" -- "$deep/syntax.lua"
expect 2 "vmrun test needs at least one" -- test

# arguments: after the playbook, as ... and arg
cat >"$tmp/args.lua" <<'LUA'
local a, b = ...
print(("args=%s,%s n=%d arg0=%s arg1=%s"):format(a, b, select("#", ...), arg[0]:match("[^/]+$"), arg[1]))
LUA
expect 0 '^args=one,--two n=2 arg0=args\.lua arg1=one$' -- "$tmp/args.lua" one --two
expect 0 '^7$' -- -e 'print(3 + 4)'

# runtime errors: exit 1, file:line and a traceback
printf 'local function f()\n  error("boom")\nend\nf()\n' >"$tmp/boom.lua"
expect 1 'boom\.lua:2: boom' -- "$tmp/boom.lua"
out=$("$vmrun" "$tmp/boom.lua" 2>&1)
grep -q 'stack traceback' <<<"$out" || fail "no traceback in: $out"
grep -q 'in task 0' <<<"$out" || fail "no task chain in: $out"

# input errors raised by playbooks exit 2, timeouts 3, os.exit(n) n
expect 2 'x\.json:1:' -- -e 'json.decode("{", {name = "x.json"})'
expect 3 'timed out after' -- -e 'local t = task.spawn(task.sleep, 60) t:wait(1)'
expect 5 '' -- -e 'os.exit(5)'
expect 0 '' -- -e 'os.exit(true)'

# undefined global and the new-global warning
expect 1 "undefined global 'clster'" -- -e 'local cluster = 1 print(clster)'
expect 0 "new global 'x'" -- -e 'x = 1'

# --timeout interrupts CPU-bound code (wall clock), exit 3, cleanup runs
cat >"$tmp/spin.lua" <<'LUA'
local guard <close> = setmetatable({}, { __close = function() print("cleanup ran") end })
while true do end
LUA
out=$("$vmrun" --timeout 1s "$tmp/spin.lua" 2>&1)
rc=$?
[ "$rc" -eq 3 ] || fail "--timeout on a busy loop exited $rc, expected 3: $out"
grep -q 'cleanup ran' <<<"$out" || fail "--timeout did not run cleanup: $out"

# --max-memory: a runaway table fails with a memory error, exit 1
out=$("$vmrun" --max-memory 16M -e 'local t = {} for i = 1, 1e9 do t[i] = ("x"):rep(100) .. i end' 2>&1)
rc=$?
[ "$rc" -eq 1 ] || fail "--max-memory exited $rc, expected 1: $out"
grep -q 'memory' <<<"$out" || fail "--max-memory message does not mention memory: $out"

# first SIGINT: graceful cancel with cleanup, exit 130
cat >"$tmp/sleeper.lua" <<'LUA'
local guard <close> = setmetatable({}, { __close = function()
  task.sleep(0.2) -- cleanup may still wait
  print("cleanup done")
end })
print("ready")
io.stdout:flush()
task.sleep(60)
LUA
"$vmrun" --real-time "$tmp/sleeper.lua" >"$tmp/out" 2>&1 &
pid=$!
for _ in $(seq 50); do grep -q ready "$tmp/out" 2>/dev/null && break; sleep 0.1; done
kill -INT "$pid"
wait "$pid"
rc=$?
[ "$rc" -eq 130 ] || fail "SIGINT exited $rc, expected 130: $(cat "$tmp/out")"
grep -q 'cleanup done' "$tmp/out" || fail "SIGINT did not run cleanup: $(cat "$tmp/out")"
grep -q 'interrupted' "$tmp/out" || fail "SIGINT was not announced: $(cat "$tmp/out")"

# second SIGINT during a slow cleanup exits at once
cat >"$tmp/slowclean.lua" <<'LUA'
local guard <close> = setmetatable({}, { __close = function() task.sleep(60) end })
print("ready")
io.stdout:flush()
task.sleep(60)
LUA
"$vmrun" --real-time "$tmp/slowclean.lua" >"$tmp/out2" 2>&1 &
pid=$!
for _ in $(seq 50); do grep -q ready "$tmp/out2" 2>/dev/null && break; sleep 0.1; done
kill -INT "$pid"
sleep 0.3
kill -INT "$pid"
wait "$pid"
rc=$?
[ "$rc" -eq 130 ] || fail "second SIGINT exited $rc, expected 130: $(cat "$tmp/out2")"
grep -q 'exiting now' "$tmp/out2" || fail "second SIGINT was not announced: $(cat "$tmp/out2")"

# SIGTERM on a CPU-bound task: the hook sees it
cat >"$tmp/spin2.lua" <<'LUA'
print("ready")
io.stdout:flush()
while true do end
LUA
"$vmrun" "$tmp/spin2.lua" >"$tmp/out3" 2>&1 &
pid=$!
for _ in $(seq 50); do grep -q ready "$tmp/out3" 2>/dev/null && break; sleep 0.1; done
kill -TERM "$pid"
wait "$pid"
rc=$?
[ "$rc" -eq 130 ] || fail "SIGTERM on a busy loop exited $rc, expected 130: $(cat "$tmp/out3")"

# --dev-runtime loads stdlib-lua from disk
mkdir -p "$tmp/rt/vmrun"
printf 'return { where = "disk" }\n' >"$tmp/rt/vmrun/probe.lua"
expect 0 '^disk$' -- --dev-runtime "$tmp/rt" -e 'print(require("vmrun.probe").where)'

# log lines: text and JSON, with simulated time
out=$("$vmrun" --log-format json -e 'log.info("hello", { node = "w1", n = 2 })' 2>&1)
grep -qE '^\{"time":"[0-9T:.-]+Z","level":"info","msg":"hello","n":2,"node":"w1"\}$' <<<"$out" ||
  fail "JSON log line: $out"
out=$("$vmrun" -q -e 'log.info("hidden") log.warn("shown")' 2>&1)
grep -q hidden <<<"$out" && fail "-q did not hide info: $out"
grep -q shown <<<"$out" || fail "-q hid a warning: $out"

# the cluster: --cluster FILE from the start, else the demo cluster on first use (announced)
fixture="$src/tests/lua/fixtures/drain_cluster.yaml"
out=$("$vmrun" --cluster "$fixture" -e 'print(#cluster.nodes(), sim.source())' 2>&1)
head -1 <<<"$out" | grep -qE "INFO  simulating cluster .*drain_cluster.yaml \(3 nodes, [0-9]+ VMs, [0-9]+ pods\)$" ||
  fail "--cluster announcement: $out"
grep -qE "^3	.*drain_cluster.yaml$" <<<"$out" || fail "--cluster nodes: $out"
out=$(VMRUN_DEMO_CLUSTER="$fixture" "$vmrun" -e 'print(#cluster.nodes())' 2>&1)
head -1 <<<"$out" | grep -qE "INFO  simulating the demo cluster .*drain_cluster.yaml \(3 nodes.*; name another with --cluster FILE$" ||
  fail "demo cluster announcement: $out"
expect 0 '^none$' -- -e 'print(sim.source() or "none")' # a playbook that does not use the cluster loads none
expect 2 "cannot read cluster file $tmp/none.yaml" -- --cluster "$tmp/none.yaml" -e 'print(1)'
expect 2 "option '--cluster' needs a cluster FILE" -- --cluster
expect 2 'sim.load: a cluster is already loaded' -- --cluster "$fixture" -e 'sim.load("x.yaml")'

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "cli: all checks passed"
