#!/usr/bin/env bash
# bench/queue/run.sh: the limit-aware migration queue's simulated makespan against lower bounds
# on generated drains (see bench_queue.c for the workloads, the bounds and the goal). Builds the
# bench with the system C compiler from runtime/migqueue.c and runs it; prints, never fails on a
# missed goal.
#   bench/queue/run.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
${CC:-cc} -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -I"$root/runtime" "$here/bench_queue.c" \
  "$root/runtime/migqueue.c" -lm -o "$out/bench_queue"
"$out/bench_queue"
