#!/usr/bin/env bash
# tests/e2e/embed_example.sh: installs the build tree into a temporary prefix, checks the installed
# files, then builds examples/embed-host/main.c against the installed vmrun with pkg-config only
# (shared libvmrun; and static libvmrun when the system's .pc files allow it) and runs it on
# examples/embed-host/hello.lua. Usage: bash tests/e2e/embed_example.sh PATH/TO/vmrun
# (VMRUN_BINARY_DIR names the build tree; it defaults to the folder of PATH/TO/vmrun).
set -uo pipefail
vmrun=${1:?usage: embed_example.sh PATH/TO/vmrun}
src=${VMRUN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${VMRUN_BINARY_DIR:-$(dirname "$vmrun")}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

prefix="$tmp/prefix"
if ! cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1; then
  cat "$tmp/install.log"
  echo "FAIL: cmake --install $build failed"
  exit 1
fi

# --- the installed files (CMAKE_INSTALL_LIBDIR may be lib, lib64 or lib/<multiarch>) ---------------
pc=$(find "$prefix" -name vmrun.pc -path '*/pkgconfig/*' | head -n 1)
[ -n "$pc" ] || { echo "FAIL: no vmrun.pc installed under $prefix"; find "$prefix"; exit 1; }
libdir=$(dirname "$(dirname "$pc")")
[ -x "$prefix/bin/vmrun" ] || fail "bin/vmrun is missing or not executable"
[ -f "$prefix/include/vmrun.h" ] || fail "include/vmrun.h is missing"
[ -f "$libdir/libvmrun.a" ] || fail "${libdir#"$prefix"/}/libvmrun.a is missing"
ls "$libdir"/libvmrun.so* >/dev/null 2>&1 || fail "${libdir#"$prefix"/}/libvmrun.so* is missing"
[ -e "$libdir/libvmrun.so" ] || fail "the libvmrun.so link for -lvmrun is missing"
"$prefix/bin/vmrun" --version | grep -qE '^vmrun [0-9]+\.[0-9]+\.[0-9]+' ||
  fail "the installed vmrun does not run: $("$prefix/bin/vmrun" --version 2>&1)"

export PKG_CONFIG_PATH="$libdir/pkgconfig"
pkg-config --exists vmrun || fail "pkg-config does not find vmrun: $(pkg-config --print-errors vmrun 2>&1)"
pc_version=$(pkg-config --modversion vmrun)
"$prefix/bin/vmrun" --version | grep -qF "vmrun $pc_version " ||
  fail "vmrun.pc says version $pc_version, the binary says $("$prefix/bin/vmrun" --version)"
# the .pc file must point into this prefix, wherever it was installed
inc=$(pkg-config --variable=includedir vmrun)
[ -f "$inc/vmrun.h" ] || fail "vmrun.pc's includedir ($inc) does not hold vmrun.h"
pclib=$(pkg-config --variable=libdir vmrun)
[ -f "$pclib/libvmrun.a" ] || fail "vmrun.pc's libdir ($pclib) does not hold libvmrun.a"

# a sanitizer build of libvmrun needs the sanitizer runtime in the program too (the flags come
# from VMRUN_SANITIZE, or from CMAKE_C_FLAGS; the library's own symbols settle it)
cflags=()
if grep -qE -- '-fsanitize|^VMRUN_SANITIZE:BOOL=(ON|on|1|TRUE|true|YES|yes)$' \
  "$build/CMakeCache.txt" 2>/dev/null || nm -u "$libdir/libvmrun.a" 2>/dev/null | grep -q __asan_init; then
  cflags=("-fsanitize=address,undefined" -fno-omit-frame-pointer)
fi

# check_run PROGRAM: runs it on hello.lua and checks the output and exit codes
check_run() {
  local prog=$1 out rc
  out=$(cd "$tmp" && LD_LIBRARY_PATH="$libdir" "$prog" "$src/examples/embed-host/hello.lua" Ada Grace Linus 2>&1)
  rc=$?
  [ "$rc" -eq 0 ] || fail "$prog exited $rc: $out"
  local expected="hello, Ada!
hello, Grace!
hello, Linus!
woke in order: Linus, Grace, Ada"
  [ "$(head -n 4 <<<"$out")" = "$expected" ] || fail "$prog printed:
$out
expected first:
$expected"
  grep -qF "hello.lua:23: bad argument #1 to 'hello' (name must not be empty)" <<<"$out" ||
    fail "$prog: greet.hello('') did not raise with the caller's position: $out"
  # exit codes pass through: usage, missing script, a failing script, a syntax error
  LD_LIBRARY_PATH="$libdir" "$prog" >/dev/null 2>&1
  rc=$?
  [ "$rc" -eq 2 ] || fail "$prog without a script exited $rc, expected 2"
  out=$(LD_LIBRARY_PATH="$libdir" "$prog" "$tmp/nope.lua" 2>&1)
  rc=$?
  [ "$rc" -eq 2 ] || fail "$prog nope.lua exited $rc, expected 2: $out"
  grep -qF "embed-host: cannot open playbook" <<<"$out" || fail "$prog nope.lua said: $out"
  printf 'greet.hello(42)\nerror("stop here")\n' >"$tmp/fails.lua"
  out=$(LD_LIBRARY_PATH="$libdir" "$prog" "$tmp/fails.lua" 2>&1)
  rc=$?
  [ "$rc" -eq 1 ] || fail "$prog fails.lua exited $rc, expected 1: $out"
  grep -qF "fails.lua:2: stop here" <<<"$out" || fail "$prog fails.lua said: $out"
  printf 'local = 1\n' >"$tmp/syntax.lua"
  LD_LIBRARY_PATH="$libdir" "$prog" "$tmp/syntax.lua" >/dev/null 2>&1
  rc=$?
  [ "$rc" -eq 2 ] || fail "$prog syntax.lua exited $rc, expected 2"
}

# --- shared libvmrun: must work -------------------------------------------------------------------
# shellcheck disable=SC2046  # pkg-config output is a list of words
if cc -std=c11 -Wall -Wextra -Werror "${cflags[@]}" -o "$tmp/embed-host" \
  "$src/examples/embed-host/main.c" $(pkg-config --cflags --libs vmrun) 2>"$tmp/cc.log"; then
  readelf -d "$tmp/embed-host" | grep -q 'NEEDED.*libvmrun\.so' ||
    fail "the shared build does not link libvmrun.so"
  check_run "$tmp/embed-host"
else
  cat "$tmp/cc.log"
  fail "building the example against the shared libvmrun failed"
fi

# --- static libvmrun: with --static if the system's .pc files allow it, else with the shared
# dependencies (Debian's libcurl.pc lists static libraries that are not installed) ---------------
static_libs=$(pkg-config --static --libs vmrun | sed 's/-lvmrun\b/-l:libvmrun.a/')
# shellcheck disable=SC2046,SC2086
if cc -std=c11 "${cflags[@]}" -o "$tmp/embed-static" "$src/examples/embed-host/main.c" \
  $(pkg-config --cflags vmrun) $static_libs 2>"$tmp/cc-static.log"; then
  echo "static build: pkg-config --static works"
else
  echo "static build: pkg-config --static --libs vmrun does not link here ($(grep -m1 -o 'cannot find -l[^:]*' "$tmp/cc-static.log" || echo 'see below')); using static libvmrun with shared dependencies"
  deps=$(sed -n 's/^Requires\.private: *//p' "$pc")
  # shellcheck disable=SC2046,SC2086
  cc -std=c11 "${cflags[@]}" -o "$tmp/embed-static" "$src/examples/embed-host/main.c" \
    $(pkg-config --cflags vmrun) $(pkg-config --libs vmrun $deps | sed 's/-lvmrun\b/-l:libvmrun.a/') -lm \
    2>"$tmp/cc-static.log" || { cat "$tmp/cc-static.log"; fail "building the example against libvmrun.a failed"; }
fi
if [ -x "$tmp/embed-static" ]; then
  if readelf -d "$tmp/embed-static" | grep -q 'NEEDED.*libvmrun'; then
    fail "the static build still needs libvmrun.so"
  fi
  check_run "$tmp/embed-static"
fi

if [ "$failures" -ne 0 ]; then
  echo "embed_example: $failures failure(s)"
  exit 1
fi
echo "embed_example: ok"
