# bench/lib.sh: shared by the benchmarks' run.sh (sourced, not run).
# bench_vmrun NAME [PATH]: sets $vmrun to PATH, else to the tree's build-rel/vmrun or build/vmrun,
# as an absolute path; exits 2 with a message naming bench/NAME when there is none.
bench_vmrun() {
  local root c
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  vmrun=${2:-}
  if [ -z "$vmrun" ]; then
    for c in "$root/build-rel/vmrun" "$root/build/vmrun"; do [ -x "$c" ] && { vmrun=$c; break; }; done
  fi
  [ -x "$vmrun" ] || { echo "bench/$1: build vmrun first (cmake --build build-rel)" >&2; exit 2; }
  vmrun=$(cd "$(dirname "$vmrun")" && pwd)/$(basename "$vmrun")
}
