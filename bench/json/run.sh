#!/usr/bin/env bash
# run.sh: JSON codec benchmark, vmrun against lua-cjson, on a generated Kubernetes-style List.
# Usage: bench/json/run.sh [SIZE_MB]   (default 100)
#   VMRUN=path      the vmrun binary (default build/vmrun); it runs bench.lua with the global json
#   BENCH_DIR=dir   where the generated input is kept (default ${TMPDIR:-/tmp}/vmrun-bench-json)
# Prints decode/encode throughput and peak RSS for both codecs, the ratios and the goals (decode
# time <= 1.5x lua-cjson, peak memory <= 3x the input). A missed goal is printed, not failed; the
# script exits non-zero only when something does not run. It writes only under BENCH_DIR.
set -euo pipefail

size_mb=${1:-100}
case $size_mb in
'' | *[!0-9]*)
  echo "usage: $0 [SIZE_MB]" >&2
  exit 2
  ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
vmrun=${VMRUN:-$root/build/vmrun}
dir=${BENCH_DIR:-${TMPDIR:-/tmp}/vmrun-bench-json}
input=$dir/list-${size_mb}mb.json

if [ ! -x "$vmrun" ]; then
  echo "run.sh: $vmrun is not an executable; build vmrun or set VMRUN" >&2
  exit 2
fi
if ! lua5.4 -e 'require("cjson")' 2>/dev/null; then
  echo "run.sh: lua5.4 cannot load cjson (Debian package lua-cjson)" >&2
  exit 2
fi

if ldd "$vmrun" 2>/dev/null | grep -q libasan; then
  echo "warning: $vmrun is built with AddressSanitizer; its numbers are not representative" >&2
fi

mkdir -p "$dir"
if [ ! -s "$input" ]; then
  echo "generating $input ..."
  lua5.4 "$here/gen.lua" "$size_mb" >"$input.tmp"
  mv "$input.tmp" "$input"
fi

# one codec: prints its RESULT line followed by the process's max RSS (KiB) and wall seconds
run_one() {
  local out timef
  timef=$(mktemp)
  out=$(/usr/bin/time -o "$timef" -f '%M %e' "$@" "$here/bench.lua" "$input")
  echo "$(grep '^RESULT ' <<<"$out") process_max_kb=$(cut -d' ' -f1 "$timef")" \
    "wall_s=$(cut -d' ' -f2 "$timef")"
  rm -f "$timef"
}

vm=$(run_one "$vmrun")
cj=$(run_one lua5.4)
grep -q 'codec=vmrun' <<<"$vm" || {
  echo "run.sh: $vmrun did not run bench.lua with vmrun's json: $vm" >&2
  exit 1
}
grep -q 'codec=lua-cjson' <<<"$cj" || {
  echo "run.sh: lua-cjson run failed: $cj" >&2
  exit 1
}

awk -v vm="$vm" -v cj="$cj" '
function parse(line, r,   n, i, kv, parts) {
  n = split(line, parts, " ")
  for (i = 1; i <= n; i++) if (split(parts[i], kv, "=") == 2) r[kv[1]] = kv[2]
}
function mbs(bytes, s) { return s > 0 ? sprintf("%8.1f", bytes / 1048576 / s) : "     n/a" }
function row(name, r) {
  printf "%-10s %8.3f %s %8.3f %s %10.1f %10.1f %10.1f\n", name, r["decode_s"],
    mbs(r["size"], r["decode_s"]), r["encode_s"], mbs(r["out_size"], r["encode_s"]),
    r["hwm_decode_kb"] / 1024, r["hwm_encode_kb"] / 1024, r["process_max_kb"] / 1024
}
BEGIN {
  parse(vm, v); parse(cj, c)
  size = v["size"] / 1048576
  printf "input: %.1f MB, %d items (compact JSON)\n", size, v["items"]
  printf "times are CPU seconds (os.clock); peak RSS in MB (VmHWM per phase; process max)\n\n"
  printf "%-10s %8s %8s %8s %8s %10s %10s %10s\n", "codec", "decode s", "MB/s", "encode s",
    "MB/s", "peak dec", "peak enc", "proc max"
  row("vmrun", v); row("lua-cjson", c)
  if (v["encode_unsorted_s"] > 0)
    printf "(vmrun sorts object keys by default; with sort_keys=false encode takes %.3f s)\n",
      v["encode_unsorted_s"]
  if (v["peak_reset"] != "true")
    print "(peak RSS could not be reset per phase: it includes reading the file)"
  tr = v["decode_s"] / c["decode_s"]
  mr = v["hwm_decode_kb"] / 1024 / size
  gr = (v["hwm_decode_kb"] - v["rss_before_kb"]) / 1024 / size
  printf "\nvmrun/lua-cjson decode time: %.2fx   (goal <= 1.5x: %s)\n", tr, tr <= 1.5 ? "met" : "MISSED"
  printf "vmrun/lua-cjson encode time: %.2fx\n", v["encode_s"] / c["encode_s"]
  printf "vmrun decode peak RSS / input size: %.2fx   (goal <= 3x: %s)\n", mr, mr <= 3 ? "met" : "MISSED"
  printf "  of which growth during decode / input size: %.2fx (the rest is the input text and the interpreter)\n", gr
  printf "lua-cjson decode peak RSS / input size: %.2fx\n", c["hwm_decode_kb"] / 1024 / size
}'
