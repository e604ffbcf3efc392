#!/usr/bin/env bash
# bench/startup/run.sh: start-up cost of vmrun against Lua's own interpreter (the floor), measured
# in the same run: wall time per start (mean over many starts) and peak RSS (max resident set).
# Goal: vmrun -e '' within 1.5x the time and 2x the memory of lua5.4 -e ''. Prints, never fails
# on a missed goal.
#   bench/startup/run.sh [VMRUN_BINARY] [RUNS]
set -euo pipefail
vmrun=${1:-build/vmrun}
runs=${2:-300}
command -v lua5.4 >/dev/null || { echo "bench/startup: lua5.4 is not installed (apt-get install lua5.4)" >&2; exit 2; }
[ -x "$vmrun" ] || { echo "bench/startup: $vmrun is not built" >&2; exit 2; }
if grep -q -- '-fsanitize' "$(dirname "$vmrun")/CMakeCache.txt" 2>/dev/null; then
  echo "bench/startup: warning: $vmrun is a sanitizer build; numbers are not representative" >&2
fi

# mean wall time of one start, in microseconds
time_starts() {
  local start end i
  for i in 1 2 3 4 5 6 7 8 9 10; do "$@" >/dev/null; done # warm the page cache
  start=$(date +%s%N)
  for ((i = 0; i < runs; i++)); do "$@" >/dev/null; done
  end=$(date +%s%N)
  echo $(((end - start) / runs / 1000))
}

# peak RSS in KiB (the largest of 5 starts)
peak_rss() {
  local max=0 i kb
  for i in 1 2 3 4 5; do
    kb=$(/usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -n 1)
    ((kb > max)) && max=$kb
  done
  echo "$max"
}

lua_us=$(time_starts lua5.4 -e '')
vmrun_us=$(time_starts "$vmrun" -e '')
lua_kb=$(peak_rss lua5.4 -e '')
vmrun_kb=$(peak_rss "$vmrun" -e '')

printf '%-22s %12s %14s\n' "startup ($runs runs)" "time/start" "peak RSS"
printf '%-22s %10d us %11d KiB\n' "lua5.4 -e ''" "$lua_us" "$lua_kb"
printf '%-22s %10d us %11d KiB\n' "vmrun -e ''" "$vmrun_us" "$vmrun_kb"
awk -v vt="$vmrun_us" -v lt="$lua_us" -v vm="$vmrun_kb" -v lm="$lua_kb" 'BEGIN {
  printf "ratio vmrun/lua5.4:    time %.2fx (goal <= 1.5x)   memory %.2fx (goal <= 2x)\n", vt / lt, vm / lm
}'
