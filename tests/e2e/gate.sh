#!/usr/bin/env bash
# tests/e2e/gate.sh: approval gates end to end (docs/gates.md), each a `vmrun --real-time` whose
# gate.approve is answered from outside: through HTTP with curl (the URL and token read from
# stderr; GET / says how, a wrong token is refused 403 and the gate goes on waiting, the answer
# closes the port, the token is printed once), through an answer file named by
# $VMRUN_APPROVAL_FILE (junk is reported and waited past; the answer is removed), by its timeout
# (the default, or false without one), by Ctrl-C while it waits (exit 130, nothing left
# listening), and on a terminal with script(1) (util-linux; skipped with a message without it):
# "y" approves, "maybe" asks again and "no" denies, so does Ctrl-D (the end of input) when
# nothing else can answer, one gate at a time reads the terminal, Ctrl-C at the prompt exits 130,
# the terminal is left as it was (stty -g, and stdin blocking again for the next read), and a
# simulated run (the virtual clock) is not asked on a terminal unless tty = true. Built with ASan,
# a leak or a handle left open would change the exit codes checked here.
#   bash tests/e2e/gate.sh PATH/TO/vmrun
set -uo pipefail
vmrun=${1:?usage: gate.sh PATH/TO/vmrun}
vmrun=$(cd "$(dirname "$vmrun")" && pwd)/$(basename "$vmrun")
tmp=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
  [ -n "${KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  exit 1
}
command -v curl >/dev/null || fail "curl is not installed"
unset VMRUN_APPROVAL_FILE VMRUN_APPROVAL_HTTP
export NO_COLOR=1

# wait_for FILE PATTERN: until FILE has a line matching PATTERN (grep -E), at most 15 s
wait_for() {
  local _
  for _ in $(seq 1 150); do
    grep -qE "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  fail "no '$2' in $1 after 15 s: $(cat "$1" 2>/dev/null)"
}
# start NAME LUA [ENV=VALUE...]: runs `vmrun --real-time -e LUA` in the background (stdin
# /dev/null), stdout in $tmp/NAME.out, stderr in $tmp/NAME.err; sets $pid
start() {
  local name=$1 code=$2
  shift 2
  env "$@" "$vmrun" --real-time -e "$code" </dev/null >"$tmp/$name.out" 2>"$tmp/$name.err" &
  pid=$!
}
# token NAME: waits for the line with the token on stderr; sets $url and $token
token() {
  wait_for "$tmp/$1.err" "^vmrun: to answer the gate: curl"
  token=$(sed -n "s/^vmrun: to answer the gate: .*Bearer \([0-9a-f]*\)'.*/\1/p" "$tmp/$1.err")
  url=$(sed -n 's/^vmrun: to answer the gate: .* \(http:\/\/127\.0\.0\.1:[0-9]*\)\/approve .*/\1/p' "$tmp/$1.err")
  [ "${#token}" -eq 32 ] && [ -n "$url" ] || fail "no token or URL on stderr: $(cat "$tmp/$1.err")"
}
# finish NAME: waits for the background vmrun; sets $rc
finish() {
  wait "$pid"
  rc=$?
  pid=
}
# status ARGS...: curl's HTTP status (000 when it cannot connect), the body in $tmp/body
status() { curl -s -o "$tmp/body" -w '%{http_code}' --max-time 5 "$@"; }

# --- HTTP: GET /, a wrong token, the approval -------------------------------------------------------
start http 'print(gate.approve("drain batch 2?", {http = "127.0.0.1:0", timeout = 60}))'
token http
[ "$(status "$url/")" = 200 ] || fail "GET /: $(cat "$tmp/body")"
grep -q '"message":"drain batch 2?","state":"waiting"' "$tmp/body" || fail "GET /: $(cat "$tmp/body")"
[ "$(status -X POST -H "Authorization: Bearer 0123456789abcdef0123456789abcdef" "$url/approve")" = 403 ] ||
  fail "a wrong token was not refused 403: $(cat "$tmp/body")"
[ "$(status -X POST "$url/approve")" = 401 ] || fail "no token: not 401"
[ "$(status "$url/approve")" = 405 ] || fail "GET /approve: not 405"
[ "$(status "$url/nothing")" = 404 ] || fail "GET /nothing: not 404"
sleep 0.3
kill -0 "$pid" 2>/dev/null || fail "the gate stopped waiting after a wrong token: $(cat "$tmp/http.out")"
[ "$(status -X POST -H "Authorization: Bearer $token" -H "X-Vmrun-By: ci-bot" "$url/approve")" = 200 ] ||
  fail "the approval: $(cat "$tmp/body")"
grep -q '"approved":true' "$tmp/body" || fail "the approval's answer: $(cat "$tmp/body")"
finish
[ "$rc" -eq 0 ] || fail "approved through HTTP: exit $rc: $(tail -5 "$tmp/http.err")"
grep -qE "^true	http	ci-bot via http from 127\.0\.0\.1:[0-9]+$" "$tmp/http.out" ||
  fail "approved through HTTP printed: $(cat "$tmp/http.out")"
grep -q "WARN  gate: refused POST /approve from 127.0.0.1:[0-9]*: wrong token (403)" "$tmp/http.err" ||
  fail "the wrong token was not logged: $(cat "$tmp/http.err")"
grep -q "INFO  gate: approved (http: ci-bot via http from 127.0.0.1:[0-9]*): drain batch 2?" "$tmp/http.err" ||
  fail "no log line for the approval: $(cat "$tmp/http.err")"
[ "$(grep -c "$token" "$tmp/http.err")" -eq 1 ] || fail "the token is printed more than once"
[ "$(status "$url/")" = 000 ] || fail "the gate still listens once answered"

# --- an answer file: junk reported and waited past, then "deny" --------------------------------------
answer=$tmp/approval
start file 'print(gate.approve("reboot worker-3?", {timeout = 60}))' VMRUN_APPROVAL_FILE="$answer"
wait_for "$tmp/file.err" "gate: waiting for an answer: reboot worker-3\? file=$answer"
echo "later" >"$tmp/junk" && mv "$tmp/junk" "$answer"
wait_for "$tmp/file.err" "says \"later\", which is no answer"
kill -0 "$pid" 2>/dev/null || fail "the gate stopped on junk in the file: $(cat "$tmp/file.out")"
echo "deny" >"$tmp/deny" && mv "$tmp/deny" "$answer"
finish
[ "$rc" -eq 0 ] || fail "denied through a file: exit $rc: $(tail -5 "$tmp/file.err")"
grep -qE "^false	file	$answer \(owner [^)]+\)$" "$tmp/file.out" || fail "denied through a file printed: $(cat "$tmp/file.out")"
[ ! -e "$answer" ] || fail "the answer file was not removed"

# --- the timeout: the default, or false --------------------------------------------------------------
t0=$(date +%s%N)
out=$("$vmrun" --real-time -e 'print(gate.approve("go?", {http = "127.0.0.1:0", timeout = 1, default = true}))' 2>"$tmp/timeout.err" </dev/null)
rc=$?
t1=$(date +%s%N)
[ "$rc" -eq 0 ] || fail "timeout: exit $rc: $(cat "$tmp/timeout.err")"
[ "$out" = "true	timeout	no answer in 1 s; the default" ] || fail "timeout with default = true printed: $out"
[ $(((t1 - t0) / 1000000)) -ge 1000 ] || fail "the timeout of 1 s passed in $(((t1 - t0) / 1000000)) ms"
grep -q "WARN  gate: approved (timeout: no answer in 1 s; the default): go?" "$tmp/timeout.err" ||
  fail "no warning for the timeout: $(cat "$tmp/timeout.err")"
out=$("$vmrun" --real-time -e 'print(gate.approve("go?", {file = arg[1], timeout = 0.5}))' "$tmp/none" 2>/dev/null </dev/null)
[ "$out" = "false	timeout	no answer in 0.5 s; denied as no default was given" ] || fail "timeout without a default printed: $out"

# --- Ctrl-C while waiting: exit 130, nothing left listening ---------------------------------------
start sigint 'print(gate.approve("go?", {http = "127.0.0.1:0"}))'
token sigint
kill -INT "$pid"
finish
[ "$rc" -eq 130 ] || fail "Ctrl-C while waiting: exit $rc (130 expected): $(tail -5 "$tmp/sigint.err")"
[ "$(status "$url/")" = 000 ] || fail "the gate still listens after Ctrl-C"
[ -s "$tmp/sigint.out" ] && fail "Ctrl-C: the gate answered: $(cat "$tmp/sigint.out")"

# --- refusals: not loopback; nobody to ask ---------------------------------------------------------
out=$("$vmrun" -e 'gate.approve("go?", {http = "0.0.0.0:8700"})' 2>&1 </dev/null)
[ $? -eq 2 ] || fail "http on 0.0.0.0: exit 2 expected: $out"
grep -q "a gate listens only on loopback" <<<"$out" || fail "http on 0.0.0.0: $out"
out=$("$vmrun" -e 'gate.approve("go?")' 2>&1 </dev/null)
[ $? -eq 2 ] || fail "nobody to ask: exit 2 expected: $out"
grep -q 'nobody can answer "go?": stdin is not a terminal' <<<"$out" || fail "nobody to ask: $out"

# --- the terminal, through script(1) ------------------------------------------------------------------
if ! command -v script >/dev/null; then
  echo "gate: the terminal part is skipped: script (util-linux) is not installed"
  echo "gate: ok"
  exit 0
fi
# on_tty NAME LUA [--virtual] -- FEED...: runs the playbook LUA in a pseudo-terminal, between two
# `stty -g`; each FEED is "PATTERN=>TEXT": once the output has PATTERN, TEXT (printf format) is typed.
# The output (CRs removed) is in $tmp/NAME.tty. script(1) runs the command with $SHELL, /bin/sh
# when it is unset (dash on Debian): dash is killed by the Ctrl-C typed for vmrun and would not
# report vmrun's exit, so bash is named.
bash=$(command -v bash)
on_tty() {
  local name=$1 code=$2 clock=--real-time
  shift 2
  if [ "${1:-}" = --virtual ]; then
    clock=
    shift
  fi
  [ "${1:-}" = -- ] && shift
  printf '%s\n' "$code" >"$tmp/$name.lua"
  : >"$tmp/$name.raw"
  {
    local step
    for step in "$@"; do
      wait_for "$tmp/$name.raw" "${step%%=>*}" >&2
      # shellcheck disable=SC2059
      printf "${step#*=>}"
    done
    wait_for "$tmp/$name.raw" "^stty-after" >&2
  } | SHELL=$bash timeout 60 script -qec "stty -g; $vmrun $clock $tmp/$name.lua; echo vmrun-exit=\$?; echo stty-after; stty -g" /dev/null >"$tmp/$name.raw"
  tr -d '\r' <"$tmp/$name.raw" >"$tmp/$name.tty"
  local before after
  before=$(sed -n 1p "$tmp/$name.tty")
  after=$(tail -1 "$tmp/$name.tty")
  [ -n "$before" ] && [ "$before" = "$after" ] || fail "$name: the terminal was left changed: $before -> $after"
}

# "y" approves; the terminal reads in blocking mode again afterwards (a line typed later is read)
on_tty yes 'print(gate.approve("go?", {timeout = 30})); print("next:", io.read("l"))' -- \
  '\[y/n\] $=>y\n' 'approved \(terminal=>hello\n'
grep -qE "^true	terminal	[^ ]+ on /dev/pts/[0-9]+$" "$tmp/yes.tty" || fail "y: $(cat "$tmp/yes.tty")"
grep -q "^next:	hello$" "$tmp/yes.tty" || fail "stdin after the gate: $(cat "$tmp/yes.tty")"
grep -q "^vmrun-exit=0$" "$tmp/yes.tty" || fail "y: $(cat "$tmp/yes.tty")"

# anything else asks again; "no" denies
on_tty no 'print(gate.approve("go?", {timeout = 30}))' -- '\[y/n\] $=>maybe\n' 'Please answer yes or no: $=>NO\n'
grep -qE "^false	terminal	" "$tmp/no.tty" || fail "maybe, no: $(cat "$tmp/no.tty")"

# two gates at once: one reads the terminal, the other asks there next
on_tty two 'local t = task.spawn(function() return gate.approve("first?", {timeout = 20}) end)
task.yield()
print(gate.approve("second?", {timeout = 20}))
print(t:wait())' -- 'second\?" is asked there next=>y\n' '^second\? \[y/n\] =>no\n'
[ "$(grep -E '^(true|false)	' "$tmp/two.tty" | cut -f1,2 | tr '\n' ' ')" = "false	terminal true	terminal " ] ||
  fail "two gates: $(cat "$tmp/two.tty")"

# the end of input (Ctrl-D) with nothing else to answer: no
on_tty eof 'print(gate.approve("go?"))' -- '\[y/n\] $=>\004'
grep -qE "^false	terminal	[^ ]+ on /dev/pts/[0-9]+ \(end of input\)$" "$tmp/eof.tty" || fail "Ctrl-D: $(cat "$tmp/eof.tty")"

# Ctrl-C at the prompt (the terminal sends SIGINT): exit 130
on_tty ctrlc 'print(gate.approve("go?", {http = "127.0.0.1:0"}))' -- '\[y/n\] $=>\003'
grep -q "^vmrun-exit=130$" "$tmp/ctrlc.tty" || fail "Ctrl-C at the prompt: $(cat "$tmp/ctrlc.tty")"
curl_url=$(sed -n 's/^vmrun: to answer the gate: .* \(http:\/\/127\.0\.0\.1:[0-9]*\)\/approve .*/\1/p' "$tmp/ctrlc.tty")
[ -n "$curl_url" ] && [ "$(status "$curl_url/")" = 000 ] || fail "Ctrl-C at the prompt: still listening"

# a simulated run (the virtual clock) is not asked on a terminal, unless tty = true
on_tty virtual 'print(gate.approve("go?", {default = true}))' --virtual
grep -q "^true	default	the default: a simulated run (virtual clock) is not asked on the terminal$" "$tmp/virtual.tty" ||
  fail "virtual clock on a terminal: $(cat "$tmp/virtual.tty")"
on_tty virtual_tty 'print(gate.approve("go?", {tty = true}))' --virtual -- '\[y/n\] $=>yes\n'
grep -qE "^true	terminal	" "$tmp/virtual_tty.tty" || fail "tty = true on the virtual clock: $(cat "$tmp/virtual_tty.tty")"

echo "gate: ok"
