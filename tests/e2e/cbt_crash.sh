#!/usr/bin/env bash
# tests/e2e/cbt_crash.sh: cbt.track killed with SIGKILL at random moments (24 rounds on a 192 MiB
# image with 4 KiB blocks, so that many kills land inside a pass). After each kill,
# cbt.changed(image, id0) must give the answer of the old tracking file (nothing changed since
# id0) or of the new one (exactly the blocks written), never another; a leftover temporary file
# must not matter; and the next complete pass must give exactly the written blocks.
# Usage: bash tests/e2e/cbt_crash.sh PATH/TO/vmrun
set -uo pipefail
vmrun=${1:?usage: cbt_crash.sh PATH/TO/vmrun}
vmrun=$(cd "$(dirname "$vmrun")" && pwd)/$(basename "$vmrun")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

img=$tmp/disk.img
head -c $((192 << 20)) /dev/urandom >"$img" || fail "cannot write $img"

cat >"$tmp/track.lua" <<'EOF'
io.write(cbt.track(arg[1], { block_size = 4096 }), "\n")
EOF
# Prints the changed blocks since arg[2] as "b1 b2 ...", or "reset_required: message".
cat >"$tmp/changed.lua" <<'EOF'
local ok, extents = pcall(cbt.changed, arg[1], arg[2], { max_length = 0 })
if not ok then
  io.write(extents.kind or "error", ": ", tostring(extents), "\n")
  return
end
local blocks = {}
for _, e in ipairs(extents) do
  for b = e.start // 4096, (e.start + e.length - 1) // 4096 do blocks[#blocks + 1] = b end
end
io.write(table.concat(blocks, " "), "\n")
EOF

old_answers=0 new_answers=0 leftovers=0
for round in $(seq 1 24); do
  id0=$("$vmrun" "$tmp/track.lua" "$img") || fail "round $round: track failed: $id0"
  # Three blocks get new bytes; the expected answer lists them in order.
  blocks=$(shuf -i 0-49151 -n 3 | sort -n | tr '\n' ' ' | sed 's/ $//')
  for b in $blocks; do
    head -c 100 /dev/urandom | dd of="$img" bs=1 seek=$((b * 4096 + 7)) conv=notrunc status=none
  done
  "$vmrun" "$tmp/track.lua" "$img" >/dev/null 2>&1 &
  pid=$!
  sleep "0.0$(shuf -i 10-99 -n 1)"
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  [ -e "$img.vmrun-cbt.tmp" ] && leftovers=$((leftovers + 1))
  got=$("$vmrun" "$tmp/changed.lua" "$img" "$id0")
  if [ -z "$got" ]; then
    old_answers=$((old_answers + 1))
  elif [ "$got" = "$blocks" ]; then
    new_answers=$((new_answers + 1))
  else
    fail "round $round: after the kill, changed since $id0 gave '$got'; want '' or '$blocks'"
  fi
  "$vmrun" "$tmp/track.lua" "$img" >/dev/null || fail "round $round: the pass after the kill failed"
  got=$("$vmrun" "$tmp/changed.lua" "$img" "$id0")
  [ "$got" = "$blocks" ] || fail "round $round: after a full pass, changed gave '$got', want '$blocks'"
  [ -e "$img.vmrun-cbt.tmp" ] && fail "round $round: a complete pass left $img.vmrun-cbt.tmp"
done
echo "ok: 24 kills: $old_answers answered from the old tracking file, $new_answers from the new one, $leftovers left a temporary file"
