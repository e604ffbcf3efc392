#!/usr/bin/env bash
# bench/rolling/run.sh: the stock rolling maintenance against bench/baseline-drain.lua (kubectl
# drain node by node) on the demo cluster and on a generated 100-node cluster (the same seed):
# total simulated time, migrations, VMs migrated twice, VMs shut down, failed migrations, and the
# stock run against the lower bound of its own summary. Goals (printed, never asserted): vmrun at
# least 2x faster than the baseline, no more VMs shut down, fewer double migrations, within 1.15x
# of the lower bound.
#   bench/rolling/run.sh [PATH/TO/vmrun]     (default: build-rel/vmrun, else build/vmrun)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
vmrun=${1:-}
if [ -z "$vmrun" ]; then
  for c in "$root/build-rel/vmrun" "$root/build/vmrun"; do [ -x "$c" ] && { vmrun=$c; break; }; done
fi
[ -x "$vmrun" ] || { echo "bench/rolling: build vmrun first (cmake --build build-rel)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$vmrun" -q "$root/tools/gen-cluster.lua" --nodes 100 --vms 650 --seed 1 --zones 3 --out "$tmp/c100.yaml" >/dev/null
for cluster in "$root/playbooks/clusters/demo.yaml" "$tmp/c100.yaml"; do
  name=$(basename "$cluster" .yaml)
  for mode in stock baseline; do
    /usr/bin/time -f '%e %M' -o "$tmp/$mode.time" "$vmrun" -q --cluster "$cluster" \
      "$here/measure.lua" "$mode" >"$tmp/$mode.json"
  done
  "$vmrun" -q -e '
    local name, stock_file, base_file, st_time, bt_time = ...
    local s, b = json.decode_file(stock_file), json.decode_file(base_file)
    local function wall(f) local t = io.open(f):read("a") return t:match("^(%S+) (%S+)") end
    local sw, sm = wall(st_time)
    local bw, bm = wall(bt_time)
    print(("%s:"):format(name))
    print(("  %-9s %10s %11s %7s %9s %7s %8s %8s"):format("", "simulated", "migrations", "twice",
      "shut down", "failed", "wall s", "RSS MiB"))
    for _, r in ipairs({ { "vmrun", s, sw, sm }, { "baseline", b, bw, bm } }) do
      print(("  %-9s %9.0fs %11d %7d %9d %7d %8.2f %8.0f"):format(r[1], r[2].seconds, r[2].migrations,
        r[2].twice, r[2].shut_down, r[2].failed, tonumber(r[3]), tonumber(r[4]) / 1024))
    end
    print(("  speed-up against the baseline: %.2fx (goal >= 2)"):format(b.seconds / s.seconds))
    print(("  VMs shut down: %d against %d (goal: no more)"):format(s.shut_down, b.shut_down))
    print(("  double migrations: %d against %d (goal: fewer)"):format(s.twice, b.twice))
    print(("  against the lower bound: %.3fx (goal <= 1.15)"):format(s.seconds / s.lower_bound))
  ' "$name" "$tmp/stock.json" "$tmp/baseline.json" "$tmp/stock.time" "$tmp/baseline.time"
done
