#!/usr/bin/env bash
# bench/cbt/run.sh: the disk-image change tracker (cbt.track) against its floors, measured in the
# same run.
#  1. A 4 GiB file of random bytes, in the page cache: a tracking pass (64 KiB blocks, after a
#     first pass, so it compares as a nightly pass does) against `xxhsum -H3` over the same file
#     (Debian package xxhash: the hashing floor). Ratio = throughput(track)/throughput(xxhsum);
#     goal at least 0.8.
#  2. A 100 GiB sparse file holding 1 GiB of data in 1,024 islands of 1 MiB: a tracking pass;
#     goal at most 2 s. Baseline: `xxhsum -H3` over the same 1 GiB of data packed in a plain
#     file (what hashing the data alone costs); the ratio says what the holes and the 26 MB
#     tracking file add.
# Each measurement runs RUNS times (default 5); medians are compared. Prints, never fails on a
# missed goal. Needs openssl (for test data) and about 5 GiB free in BENCH_DIR (default $TMPDIR or /tmp); removes its files.
#   bench/cbt/run.sh [VMRUN_BINARY]
set -euo pipefail
vmrun=${1:-build/vmrun}
runs=${RUNS:-5}
[ -x "$vmrun" ] || { echo "cbt bench: $vmrun is not built" >&2; exit 2; }
command -v xxhsum >/dev/null || { echo "cbt bench: xxhsum is missing (apt-get install xxhash)" >&2; exit 2; }
if grep -q 'VMRUN_SANITIZE:BOOL=ON' "$(dirname "$vmrun")/CMakeCache.txt" 2>/dev/null; then
  echo "cbt bench: warning: $vmrun is a sanitizer build; numbers are not representative" >&2
fi
dir=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/vmrun-bench-cbt.XXXXXX")
trap 'rm -rf "$dir"' EXIT

echo 'cbt.track(arg[1])' >"$dir/track.lua"

# N bytes that do not compress or repeat (AES-CTR over zeros: much faster than /dev/urandom).
random_bytes() {
  { openssl enc -aes-128-ctr -nosalt -pbkdf2 -pass pass:vmrun-bench </dev/zero 2>/dev/null || true; } | head -c "$1"
}

# Prints the median wall time in seconds of RUNS runs of the command.
median() {
  local i t0 t1
  for ((i = 0; i < runs; i++)); do
    t0=$EPOCHREALTIME
    "$@" >/dev/null 2>&1 # xxhsum draws progress on stderr
    t1=$EPOCHREALTIME
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }'
  done | sort -n | awk -v n="$runs" '{ t[NR] = $1 } END { print t[int((n + 1) / 2)] }'
}

# 1. 4 GiB in the page cache.
big=$dir/big.img
random_bytes $((4 << 30)) >"$big"
cat "$big" >/dev/null
"$vmrun" "$dir/track.lua" "$big" # the first pass makes the tracking file
xxh_s=$(median xxhsum -H3 "$big")
track_s=$(median "$vmrun" "$dir/track.lua" "$big")
rm -f "$big" "$big.vmrun-cbt"

# 2. 100 GiB sparse, 1 GiB of data; and the same data packed.
sparse=$dir/sparse.img packed=$dir/packed.img
truncate -s 100G "$sparse"
random_bytes $((1 << 30)) >"$packed"
for ((i = 0; i < 1024; i++)); do
  dd if="$packed" of="$sparse" bs=1M count=1 skip=$i seek=$((i * 100)) conv=notrunc status=none
done
cat "$packed" >/dev/null # (the sparse file's data is in the page cache from its writes)
"$vmrun" "$dir/track.lua" "$sparse"
packed_s=$(median xxhsum -H3 "$packed")
sparse_s=$(median "$vmrun" "$dir/track.lua" "$sparse")

printf 'cbt tracker, %s runs each (medians)\n' "$runs"
awk -v x="$xxh_s" -v t="$track_s" 'BEGIN {
  printf "  4 GiB in page cache: cbt.track %.3f s (%.2f GiB/s), xxhsum -H3 %.3f s (%.2f GiB/s)\n", t, 4 / t, x, 4 / x
  printf "  throughput ratio track/xxhsum: %.2f (goal >= 0.8)\n", x / t
}'
awk -v p="$packed_s" -v s="$sparse_s" 'BEGIN {
  printf "  100 GiB sparse, 1 GiB data: cbt.track %.3f s (goal <= 2 s); xxhsum -H3 of the 1 GiB packed %.3f s; ratio %.2f\n", s, p, s / p
}'
