#!/usr/bin/env bash
# tests/e2e/docs_examples.sh: runs every Lua example in docs/*.md with the vmrun under test, so
# that the user documentation keeps matching the code. Usage:
#   bash tests/e2e/docs_examples.sh PATH/TO/vmrun [DOC.md...]     (default: docs/*.md)
#
# Conventions in the Markdown files:
#   ```lua                 a complete playbook: run as `vmrun FILE` in an empty temporary folder;
#                          it must exit 0
#   ```lua exit=N          ... must exit with code N
#   ```lua flags=A,B       ... run as `vmrun A B FILE` (e.g. flags=--real-time,-q)
#   ```lua norun           a fragment: not run
#   ```output              right after a run example: its stdout, compared exactly
# Fences may be indented (inside list items); the fence's indentation is removed from the block.
# Failures name the file and line of the example, with its stdout and stderr.
set -uo pipefail
vmrun=${1:?usage: docs_examples.sh PATH/TO/vmrun [DOC.md...]}
shift
vmrun=$(cd "$(dirname "$vmrun")" && pwd)/$(basename "$vmrun")
src=${VMRUN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$src" || exit 1
[ "$#" -gt 0 ] || set -- docs/*.md
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

for doc in "$@"; do
  [ -f "$doc" ] || { echo "FAIL: $doc does not exist"; failed=$((failed + 1)); continue; }
  rm -rf "$tmp/x" && mkdir -p "$tmp/x"
  # Splits the doc into x/N.lua (+ x/N.meta: "LINE EXIT FLAGS", x/N.out when an output block follows).
  awk -v dir="$tmp/x" '
    function flush_meta() { if (n > 0) print start " " code " " flags > (dir "/" n ".meta") }
    function body(line) { return substr(line, 1, indent) ~ /^ *$/ ? substr(line, indent + 1) : line }
    /^ *```/ && !inside {
      indent = match($0, /[^ ]/) - 1
      info = substr($0, indent + 4)
      inside = 1
      if (info ~ /^lua( |$)/ && info !~ /(^| )norun( |$)/) {
        n++; kind = "lua"; start = NR; code = 0; flags = ""
        split(info, words, " ")
        for (i in words) {
          if (words[i] ~ /^exit=/) code = substr(words[i], 6)
          if (words[i] ~ /^flags=/) flags = substr(words[i], 7)
        }
        flush_meta(); printf "" > (dir "/" n ".lua"); last_lua_end = 0
      } else if (info == "output" && n > 0 && last_lua_end == prev_nonblank) {
        kind = "out"; printf "" > (dir "/" n ".out")
      } else {
        kind = "skip"
      }
      next
    }
    /^ *```$/ && inside {
      inside = 0
      if (kind == "lua") last_lua_end = NR
      prev_nonblank = NR
      next
    }
    inside && kind == "lua" { print body($0) > (dir "/" n ".lua") }
    inside && kind == "out" { print body($0) > (dir "/" n ".out") }
    !inside && $0 !~ /^[ \t]*$/ { prev_nonblank = NR }
' "$doc"
  for meta in "$tmp"/x/*.meta; do
    [ -e "$meta" ] || continue
    n=$(basename "$meta" .meta)
    read -r line want flags <"$meta"
    work="$tmp/run" && rm -rf "$work" && mkdir -p "$work"
    cp "$tmp/x/$n.lua" "$work/example.lua"
    args=()
    [ -n "${flags:-}" ] && IFS=, read -r -a args <<<"$flags"
    (cd "$work" && NO_COLOR=1 timeout 120 "$vmrun" "${args[@]}" example.lua >"$tmp/stdout" 2>"$tmp/stderr" </dev/null)
    rc=$?
    problem=""
    [ "$rc" -eq "$want" ] || problem="exited $rc, expected $want"
    if [ -z "$problem" ] && [ -f "$tmp/x/$n.out" ] && ! cmp -s "$tmp/x/$n.out" "$tmp/stdout"; then
      problem="stdout differs from the output block: $(diff "$tmp/x/$n.out" "$tmp/stdout" | head -20)"
    fi
    if [ -n "$problem" ]; then
      failed=$((failed + 1))
      echo "FAIL: $doc:$line: example $problem"
      sed 's/^/    stdout: /' "$tmp/stdout" | head -20
      sed 's/^/    stderr: /' "$tmp/stderr" | head -20
    else
      passed=$((passed + 1))
    fi
  done
done
echo "docs examples: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
