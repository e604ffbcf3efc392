#!/usr/bin/env bash
# bench/rolling/run.sh: the stock rolling maintenance against bench/baseline-drain.lua (kubectl
# drain node by node) on the demo cluster and on a generated 100-node cluster (the same seed):
# total simulated time, migrations, VMs migrated twice, VMs shut down, failed migrations, and the
# stock run against the lower bound of its own summary. Goals (printed, never asserted): vmrun at
# least 2x faster than the baseline, no more VMs shut down, fewer double migrations, within 1.15x
# of the lower bound. With LARGE=1 it also runs the stock maintenance of a generated 1,000-node
# cluster with 25,000 VMs (the same seed) and prints its wall time and peak RSS against the goal
# (at most 10 s and 1 GiB), and its CPU seconds by phase; that run takes about 24 to 28 s and 820 MiB
# today.
#   bench/rolling/run.sh [PATH/TO/vmrun]     (default: build-rel/vmrun, else build/vmrun)
#   LARGE=1 bench/rolling/run.sh ...
# shellcheck source-path=SCRIPTDIR/../..
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
bench_vmrun rolling "${1:-}"
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
if [ "${LARGE:-0}" = 1 ]; then
  "$vmrun" -q "$root/tools/gen-cluster.lua" --nodes 1000 --vms 25000 --seed 1 --zones 3 \
    --out "$tmp/c1000.yaml" >/dev/null
  /usr/bin/time -f '%e %M' -o "$tmp/large.time" "$vmrun" -q --cluster "$tmp/c1000.yaml" \
    "$here/measure.lua" stock >"$tmp/large.json"
  "$vmrun" -q -e '
    local stock_file, time_file = ...
    local s = json.decode_file(stock_file)
    local wall, rss = io.open(time_file):read("a"):match("^(%S+) (%S+)")
    print("c1000 (1,000 nodes, 25,000 VMs):")
    print(("  vmrun %.0fs simulated, %d migrations, %d twice, %d shut down, %d failed"):format(
      s.seconds, s.migrations, s.twice, s.shut_down, s.failed))
    print(("  wall %.1f s (goal <= 10), peak RSS %.0f MiB (goal <= 1024)"):format(tonumber(wall),
      tonumber(rss) / 1024))
    print(("  CPU by phase: load %.1f s, VMs starting %.1f s, maintenance %.1f s"):format(s.cpu.load,
      s.cpu.start, s.cpu.run))
  ' "$tmp/large.json" "$tmp/large.time"
fi
