#!/usr/bin/env bash
# bench/sim-scale/run.sh: simulator scale benchmark. Generates 1,000-node clusters with 2,500 and
# 25,000 VMs (tools/gen-cluster.lua, seed 1) and evacuates every worker node in turn under the
# virtual clock (bench/sim-scale/evacuate.lua). Prints wall time, peak RSS and simulated
# duration for both sizes, and the ratio time(25,000)/time(2,500).
# Goals on a 2-core machine: 25,000 VMs in at most 10 s wall and 1 GiB RSS; ratio at most 12.
# Prints, never fails on a missed goal.
#   bench/sim-scale/run.sh [VMRUN_BINARY] [NODES] [SMALL_VMS] [LARGE_VMS] [MAX_EVACUATED_NODES]
set -euo pipefail
vmrun=${1:-build/vmrun}
nodes=${2:-1000}
small=${3:-2500}
large=${4:-25000}
max_nodes=${5:-}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
dir=${BENCH_DIR:-${TMPDIR:-/tmp}/vmrun-bench-sim}
mkdir -p "$dir"
[ -x "$vmrun" ] || { echo "sim-scale: $vmrun is not built" >&2; exit 2; }
if grep -q 'VMRUN_SANITIZE:BOOL=ON' "$(dirname "$vmrun")/CMakeCache.txt" 2>/dev/null; then
  echo "sim-scale: warning: $vmrun is a sanitizer build; numbers are not representative" >&2
fi

measure() { # VMS -> prints "wall_s rss_kb result-line"
  local vms=$1 file="$dir/cluster-$nodes-$1.yaml" out
  [ -f "$file" ] || "$vmrun" "$root/tools/gen-cluster.lua" --nodes "$nodes" --vms "$vms" --out "$file" 2>/dev/null
  out=$( { /usr/bin/time -f '%e %M' "$vmrun" "$here/evacuate.lua" "$file" $max_nodes; } 2>&1 )
  echo "$(tail -n 1 <<<"$out") $(grep '^vms=' <<<"$out")"
}

read -r small_s small_kb small_line <<<"$(measure "$small")"
read -r large_s large_kb large_line <<<"$(measure "$large")"
printf 'sim-scale, %s nodes%s\n' "$nodes" "${max_nodes:+, first $max_nodes nodes evacuated}"
printf '  %6s VMs: %8.2f s wall %8d KiB peak  %s\n' "$small" "$small_s" "$small_kb" "$small_line"
printf '  %6s VMs: %8.2f s wall %8d KiB peak  %s\n' "$large" "$large_s" "$large_kb" "$large_line"
awk -v a="$small_s" -v b="$large_s" -v m="$large_kb" 'BEGIN {
  printf "ratio time(large)/time(small): %.1f (goal <= 12); large: %.1f s (goal <= 10 s), %.0f MiB (goal <= 1024 MiB)\n",
    (a > 0 ? b / a : 0), b, m / 1024
}'
