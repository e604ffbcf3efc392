#!/usr/bin/env bash
# tests/e2e/notify.sh: webhook notifications of a maintenance (docs/notify.md). A receiver on
# 127.0.0.1 (tests/tools/webhook_sink.c) answers the first request 503 and the others 200; the
# rolling maintenance of two nodes of the demo cluster runs through the REST backend against
# `vmrun serve` with $VMRUN_NOTIFY_URL naming it, with a secret in the URL's path. The receiver must
# get, in order, start (the nodes), node per node (done), end (done), each a JSON POST with the
# run id and the cluster, the 503 retried; the secret must appear in no output, log or journal. A
# receiver that is down costs a warning naming its host only, and the run still ends 0. A config's
# notify.events keeps only those events; a URL that is not http(s) is a usage error (exit 2).
#   bash tests/e2e/notify.sh PATH/TO/vmrun
set -uo pipefail
vmrun=${1:?usage: notify.sh PATH/TO/vmrun}
vmrun=$(cd "$(dirname "$vmrun")" && pwd)/$(basename "$vmrun")
. "$(dirname "$0")/lib/serve.sh"
. "$(dirname "$0")/lib/tls.sh"
src=${VMRUN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
sink_bin=${VMRUN_BINARY_DIR:-$(dirname "$vmrun")}/tests/webhook_sink
[ -x "$sink_bin" ] || fail "no webhook_sink at $sink_bin (built with the tests)"
export VMRUN_RUN_INDEX=$tmp/runs.tsv
playbook=$src/playbooks/rolling-maintenance.lua
secret=s3cr3t-T0KEN-4711

"$sink_bin" --out "$tmp/hooks.jsonl" --fail 1 >"$tmp/sink.out" 2>&1 &
sink=$!
trap 'kill "$sink" 2>/dev/null; cleanup' EXIT
for _ in $(seq 1 100); do grep -q listening "$tmp/sink.out" && break; sleep 0.05; done
hook=$(sed -n 's/^listening on //p' "$tmp/sink.out")
[ -n "$hook" ] || fail "the receiver did not start: $(cat "$tmp/sink.out")"

start_server "$src/playbooks/clusters/demo.yaml" --speed 50
VMRUN_NOTIFY_URL="$hook/hooks/$secret?token=$secret" "$vmrun" --kubeconfig "$tmp/kubeconfig" \
  --state-dir "$tmp/state" "$playbook" --nodes worker-01,worker-02 >"$tmp/out" 2>"$tmp/err" ||
  fail "the maintenance: $(tail -5 "$tmp/err")"
"$vmrun" -q -e '
  local got, statuses = {}, {}
  for line in io.lines(arg[1]) do
    local r = json.decode(line)
    assert(r.method == "POST", "method " .. r.method)
    assert(r.target == "/hooks/" .. arg[2] .. "?token=" .. arg[2], "target " .. r.target)
    local ev = json.decode(r.body)
    statuses[#statuses + 1] = r.status
    if r.status == 200 then got[#got + 1] = ev end
    assert(type(ev.run) == "string" and ev.run:match("^%d+T%d+Z%-%x+$"), "run id: " .. tostring(ev.run))
    assert(ev.cluster:match("^cluster .vmrun%-sim. at http://127%.0%.0%.1:%d+$"), "cluster: " .. tostring(ev.cluster))
    assert(type(ev.at) == "string" and ev.at:match("^%d+%-%d+%-%d+T"), "at")
  end
  assert(statuses[1] == 503, "the first answer was not the 503: " .. tostring(statuses[1]))
  local kinds = {}
  for i, ev in ipairs(got) do kinds[i] = ev.event .. (ev.node and (":" .. ev.node .. ":" .. ev.state) or "") end
  local want = "start,node:worker-01:done,node:worker-02:done,end"
  local seen = table.concat(kinds, ",")
  -- the two nodes may end in either order (one batch)
  assert(seen == want or seen == "start,node:worker-02:done,node:worker-01:done,end", "events: " .. seen)
  assert(#got[1].nodes == 2, "start names the nodes")
  assert(got[#got].status == "done" and got[#got].nodes_done == 2, "end: " .. json.encode(got[#got]))' \
  "$tmp/hooks.jsonl" "$secret" || fail "what the receiver got: $(cat "$tmp/hooks.jsonl")"
if grep -rq "$secret" "$tmp/out" "$tmp/err" "$tmp/state"; then
  fail "the webhook's secret leaked: $(grep -rl "$secret" "$tmp/out" "$tmp/err" "$tmp/state")"
fi

# a receiver that is down: warnings naming the host only, and the run goes on
dead=$(free_port)
VMRUN_NOTIFY_URL="http://127.0.0.1:$dead/hooks/$secret" "$vmrun" --kubeconfig "$tmp/kubeconfig" \
  --state-dir "$tmp/state2" "$playbook" --nodes worker-03 >"$tmp/out2" 2>"$tmp/err2" ||
  fail "a receiver that is down stopped the maintenance: $(tail -5 "$tmp/err2")"
grep -q "WARN  notification \"start\" not sent to http://127.0.0.1:$dead: " "$tmp/err2" ||
  fail "no warning for the receiver that is down: $(grep -i notif "$tmp/err2" | head -3)"
grep -rq "$secret" "$tmp/out2" "$tmp/err2" "$tmp/state2" && fail "the secret leaked in a warning"

# a config's events; a URL that is not http(s)
: >"$tmp/hooks.jsonl"
printf 'notify: {url: "%s/only", events: [failure, end]}\n' "$hook" >"$tmp/config.yaml"
"$vmrun" --kubeconfig "$tmp/kubeconfig" --state-dir "$tmp/state3" "$playbook" --nodes worker-08 \
  --config "$tmp/config.yaml" >"$tmp/out3" 2>"$tmp/err3" || fail "config notify: $(tail -5 "$tmp/err3")"
events=$("$vmrun" -q -e 'for line in io.lines(arg[1]) do io.write(json.decode(json.decode(line).body).event, " ") end' "$tmp/hooks.jsonl")
[ "$events" = "end " ] || fail "notify.events [failure, end] sent: $events"
printf 'notify: {url: "ftp://example.invalid/x"}\n' >"$tmp/bad.yaml"
out=$("$vmrun" --kubeconfig "$tmp/kubeconfig" "$playbook" --nodes worker-05 --config "$tmp/bad.yaml" 2>&1)
[ $? -eq 2 ] || fail "an ftp:// webhook: exit 2 expected: $out"
grep -q "notify.*http:// or https://" <<<"$out" || fail "an ftp:// webhook: $out"
stop_server
echo "notify: ok"
