#!/usr/bin/env bash
# bench/sim-scale/run.sh: simulator scale benchmark. Generates 1,000-node clusters with 2,500 and
# 25,000 VMs (tools/gen-cluster.lua, seed 1) and evacuates every worker node in turn under the
# virtual clock (bench/sim-scale/evacuate.lua). Runs each size RUNS times (default 3; the shared
# 2-core machines vary by a quarter from minute to minute) and prints, per size, the median and
# the best wall time, the largest peak RSS and the simulated duration, then the ratio
# time(25,000)/time(2,500) of the medians.
# Goals on a 2-core machine: 25,000 VMs in at most 10 s wall and 1 GiB RSS; ratio at most 12.
# The goals are judged on the medians. Prints, never fails on a missed goal.
#   bench/sim-scale/run.sh [VMRUN_BINARY] [NODES] [SMALL_VMS] [LARGE_VMS] [MAX_EVACUATED_NODES]
#   RUNS=5 bench/sim-scale/run.sh ...
set -euo pipefail
vmrun=${1:-build/vmrun}
nodes=${2:-1000}
small=${3:-2500}
large=${4:-25000}
max_nodes=${5:-}
runs=${RUNS:-3}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
dir=${BENCH_DIR:-${TMPDIR:-/tmp}/vmrun-bench-sim}
mkdir -p "$dir"
[ -x "$vmrun" ] || { echo "sim-scale: $vmrun is not built" >&2; exit 2; }
if grep -q 'VMRUN_SANITIZE:BOOL=ON' "$(dirname "$vmrun")/CMakeCache.txt" 2>/dev/null; then
  echo "sim-scale: warning: $vmrun is a sanitizer build; numbers are not representative" >&2
fi

# VMS -> prints "median_s best_s max_rss_kb result-line-of-the-median-run"
measure() {
  local vms=$1 file="$dir/cluster-$nodes-$1.yaml" out i
  local -a lines=()
  [ -f "$file" ] || "$vmrun" "$root/tools/gen-cluster.lua" --nodes "$nodes" --vms "$vms" --out "$file" 2>/dev/null
  for ((i = 0; i < runs; i++)); do
    out=$( { /usr/bin/time -f '%e %M' "$vmrun" "$here/evacuate.lua" "$file" $max_nodes; } 2>&1 )
    lines+=("$(tail -n 1 <<<"$out") $(grep '^vms=' <<<"$out")")
  done
  printf '%s\n' "${lines[@]}" | sort -n -k1,1 | awk -v n="$runs" '
    { wall[NR] = $1; if ($2 > rss) rss = $2; line[NR] = $0 }
    END {
      m = int((n + 1) / 2)
      sub(/^[^ ]+ [^ ]+ /, "", line[m])
      print wall[m], wall[1], rss, line[m]
    }'
}

read -r small_s small_best small_kb small_line <<<"$(measure "$small")"
read -r large_s large_best large_kb large_line <<<"$(measure "$large")"
printf 'sim-scale, %s nodes%s, %s runs per size (median, best)\n' "$nodes" \
  "${max_nodes:+, first $max_nodes nodes evacuated}" "$runs"
printf '  %6s VMs: %6.2f s (best %6.2f s) wall %8d KiB peak  %s\n' "$small" "$small_s" "$small_best" "$small_kb" "$small_line"
printf '  %6s VMs: %6.2f s (best %6.2f s) wall %8d KiB peak  %s\n' "$large" "$large_s" "$large_best" "$large_kb" "$large_line"
awk -v a="$small_s" -v b="$large_s" -v m="$large_kb" 'BEGIN {
  printf "ratio time(large)/time(small): %.1f (goal <= 12); large: %.1f s (goal <= 10 s), %.0f MiB (goal <= 1024 MiB)\n",
    (a > 0 ? b / a : 0), b, m / 1024
}'
