#!/usr/bin/env bash
# tests/e2e/rest_equivalence.sh: every stock playbook run through the REST backend against
# `vmrun serve --clock client` (the run drives the server's simulated time: lockstep) ends as the
# same playbook run in-process on the same cluster file and seed: the same output and log lines,
# the same report (rolling-maintenance --report: report.json with its times made relative,
# junit.xml, timeline.html), the same exit code, and the same final cluster state (nodes, VMs,
# VMIs, migrations and pods, as the run sees them and as the server's API shows them).
#   bash tests/e2e/rest_equivalence.sh PATH/TO/vmrun
set -uo pipefail
vmrun=${1:?usage: rest_equivalence.sh PATH/TO/vmrun}
vmrun=$(cd "$(dirname "$vmrun")" && pwd)/$(basename "$vmrun")
. "$(dirname "$0")/lib/serve.sh"
src=${VMRUN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
cluster=$src/playbooks/clusters/demo.yaml
wrap=$src/tests/e2e/fixtures/run_then_state.lua

# normalize FILE: the lines to compare (log times, the REST backend's own lines, the CPU time
# and the cluster's name in the server's words taken out)
normalize() {
  sed -E -e 's/^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z //' \
    -e '/^vmrun: cluster .* at http:\/\/127\.0\.0\.1:[0-9]+ \(context/d' \
    -e '/ connected to vmrun serve at /d' \
    -e '/^INFO  simulating cluster .* \([0-9]+ nodes, [0-9]+ VMs, [0-9]+ pods\)$/d' \
    -e 's/; [0-9.]+ s of CPU//' \
    -e 's#journal /[^ ]*\.jsonl#journal JOURNAL#' \
    -e 's/[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}/RUN/g' \
    -e "s#vmrun serve at http://127\\.0\\.0\\.1:[0-9]+ \\(([^)]*)\\)#\\1#g" "$1"
}

# a JSON report with each RFC 3339 time replaced by its offset in ms from the earliest one,
# fractions of seconds to ms and the cluster's name in the server's words as the file's
relative_json() {
  "$vmrun" -q -e '
    local doc = json.decode_file(arg[1])
    local function ms(s)
      local y, mo, d, h, mi, se, f = s:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)%.?(%d*)Z$")
      if not y then return nil end
      y, mo = tonumber(y), tonumber(mo)
      if mo <= 2 then y = y - 1 end
      local era = y // 400
      local yoe = y - era * 400
      local doy = (153 * (mo + (mo > 2 and -3 or 9)) + 2) // 5 + tonumber(d) - 1
      local days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy
      return ((days * 24 + h) * 60 + mi) * 60000 + se * 1000 + (tonumber(f) or 0)
    end
    local base
    local function scan(v)
      if type(v) == "string" then
        local t = ms(v)
        if t and (base == nil or t < base) then base = t end
      elseif type(v) == "table" then
        for _, x in pairs(v) do scan(x) end
      end
    end
    local function fix(v)
      if type(v) == "string" then
        local t = ms(v)
        if t then return "+" .. (t - base) .. "ms" end
        return (v:gsub("vmrun serve at http://127%.0%.0%.1:%d+ %((.-)%)", "%1"))
      elseif math.type(v) == "float" then -- times from different epochs round differently
        return string.format("%.3f", v)
      elseif type(v) == "table" then
        for k, x in pairs(v) do v[k] = fix(x) end
      end
      return v
    end
    scan(doc)
    print(json.encode(fix(doc), { indent = 2 }))' "$1"
}

# compare NAME PLAYBOOK ARGS...: the playbook in-process and through the REST backend
compare() {
  local name=$1 playbook=$2
  shift 2
  local a=$tmp/$name.inproc b=$tmp/$name.rest
  mkdir -p "$a" "$b"
  (cd "$a" && "$vmrun" --cluster "$cluster" --state-dir "$a/state" "$wrap" "$playbook" "$@" >out 2>err)
  echo $? >"$a/rc"
  start_server "$cluster" --clock client --no-settle
  (cd "$b" && "$vmrun" --kubeconfig "$tmp/kubeconfig" --state-dir "$b/state" "$wrap" "$playbook" "$@" >out 2>err)
  echo $? >"$b/rc"
  # the server's own view of the end state: every VMI's phase and node, every node's cordon
  "$vmrun" -q -e '
    local function get(p) return json.decode((exec.run({ "curl", "-sf", arg[1] .. p }, { check = true }).stdout)) end
    for _, n in ipairs(get("/api/v1/nodes").items) do
      print(("node %s %s"):format(n.metadata.name, tostring(n.spec.unschedulable == true)))
    end
    for _, v in ipairs(get("/apis/kubevirt.io/v1/virtualmachineinstances").items) do
      print(("vmi %s/%s %s %s"):format(v.metadata.namespace, v.metadata.name, v.status.phase, tostring(v.status.nodeName)))
    end' "$base" | sort >"$b/server-state" || fail "$name: cannot read the server's state"
  stop_server
  [ "$(cat "$a/rc")" = "$(cat "$b/rc")" ] ||
    fail "$name: exit $(cat "$a/rc") in-process, $(cat "$b/rc") through the API: $(tail -5 "$b/err")"
  diff <(normalize "$a/out") <(normalize "$b/out") >"$tmp/$name.diff" ||
    fail "$name: the output differs (in-process <, REST >): $(head -30 "$tmp/$name.diff")"
  diff <(normalize "$a/err") <(normalize "$b/err") >"$tmp/$name.diff" ||
    fail "$name: the log differs (in-process <, REST >): $(head -30 "$tmp/$name.diff")"
  grep -q '^--- state$' "$b/out" || fail "$name: no final state: $(tail -5 "$b/err")"
  # the run's view of the end matches the server's
  sed -n '/^--- state$/,$p' "$b/out" | awk '
    $1 == "node" { print "node", $2, ($3 == "unschedulable=true") ? "true" : "false" }
    $1 == "vmi" { print "vmi", $2, $3, $5 }' | sort >"$b/run-state"
  diff "$b/run-state" "$b/server-state" >"$tmp/$name.diff" ||
    fail "$name: the run's final state is not the server's: $(head -20 "$tmp/$name.diff")"
  echo "$name: same ($(grep -c '' "$b/out") lines of output, exit $(cat "$b/rc"))"
}

compare hello "$src/playbooks/hello.lua" a b
compare drain-node "$src/playbooks/drain-node.lua" worker-01
compare migrate-vm "$src/playbooks/migrate-vm.lua" sap/hana-01
compare preflight "$src/playbooks/preflight.lua" --json
mkdir -p "$tmp/ds/web"
printf 'displayName = "web"\nvirtualHW.version = "13"\nctkEnabled = "FALSE"\nscsi0.present = "TRUE"\nscsi0:0.present = "TRUE"\nscsi0:0.fileName = "web.vmdk"\n' >"$tmp/ds/web/web.vmx"
compare cbt-audit "$src/playbooks/cbt-audit.lua" "$tmp/ds"
compare rolling "$src/playbooks/rolling-maintenance.lua" --report report
for f in report.json junit.xml timeline.html; do
  [ -s "$tmp/rolling.inproc/report/$f" ] || fail "rolling: no $f in-process"
  [ -s "$tmp/rolling.rest/report/$f" ] || fail "rolling: no $f through the API"
done
relative_json "$tmp/rolling.inproc/report/report.json" >"$tmp/report.inproc" ||
  fail "rolling: report.json (in-process) cannot be read"
relative_json "$tmp/rolling.rest/report/report.json" >"$tmp/report.rest" ||
  fail "rolling: report.json (REST) cannot be read"
grep -q '"+0ms"' "$tmp/report.rest" || fail "rolling: no times in report.json: $(head -20 "$tmp/report.rest")"
diff "$tmp/report.inproc" "$tmp/report.rest" >"$tmp/report.diff" ||
  fail "rolling: report.json differs: $(head -30 "$tmp/report.diff")"
cmp -s "$tmp/rolling.inproc/report/junit.xml" "$tmp/rolling.rest/report/junit.xml" ||
  fail "rolling: junit.xml differs: $(diff "$tmp/rolling.inproc/report/junit.xml" "$tmp/rolling.rest/report/junit.xml" | head -10)"
cmp -s "$tmp/rolling.inproc/report/timeline.html" "$tmp/rolling.rest/report/timeline.html" ||
  fail "rolling: timeline.html differs"
grep -q '66 migrations\|  66 ' "$tmp/rolling.rest/out" || fail "rolling: unexpected summary: $(tail -5 "$tmp/rolling.rest/out")"
echo "rest_equivalence: ok"
