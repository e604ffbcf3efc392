#!/usr/bin/env bash
# tests/e2e/lint.sh: the tree's C files are formatted with the project's .clang-format and
# cppcheck finds nothing. Fails (listing the files) otherwise. Needs clang-format and cppcheck
# (installed by the README's first command).
set -uo pipefail
cd "${VMRUN_SOURCE_DIR:-$(dirname "$0")/../..}"
status=0
for tool in clang-format cppcheck; do
  command -v "$tool" >/dev/null || { echo "lint: $tool is not installed"; exit 1; }
done
mapfile -t files < <(git ls-files -co --exclude-standard -- '*.c' '*.h' | grep -v '^build')
unformatted=()
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || unformatted+=("$f")
done
if [ "${#unformatted[@]}" -ne 0 ]; then
  echo "lint: not formatted with .clang-format (run clang-format -i): ${unformatted[*]}"
  status=1
fi
if ! cppcheck --enable=warning,performance,portability --std=c11 --quiet --error-exitcode=1 \
  --inline-suppr -I runtime -I tests/c \
  --include=/usr/include/cjson/cJSON.h --suppress=missingIncludeSystem \
  runtime bindings tools tests/c examples 2>&1; then
  echo "lint: cppcheck reported the problems above"
  status=1
fi
[ "$status" -eq 0 ] && echo "lint: clean (${#files[@]} files)"
exit "$status"
