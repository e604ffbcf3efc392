#!/usr/bin/env bash
# tests/e2e/deploy_image.sh: deploy/Containerfile checked by reading it, since no image can be
# built here (no registry): every package it installs exists in this machine's apt metadata
# (`apt-cache show`; skipped, saying so, where there is none); the build stage installs only
# packages of the README's first command; the runtime stage installs the package of every shared
# library the vmrun binary needs (its ELF NEEDED entries through ldd and dpkg; libc6 aside, the
# base image has it, and a sanitizer build's runtimes); the paths it copies from the build stage are where `cmake --install` puts
# them (a DESTDIR install of this build) and the sources it copies from the context exist and are
# not left out by Containerfile.dockerignore; its USER is the uid the Kubernetes pods run as, its
# WORKDIR holds the CronJob's playbook, and the CronJob's image tag is vmrun's version.
#   bash tests/e2e/deploy_image.sh PATH/TO/vmrun
set -uo pipefail
vmrun=${1:?usage: deploy_image.sh PATH/TO/vmrun}
vmrun=$(cd "$(dirname "$vmrun")" && pwd)/$(basename "$vmrun")
src=${VMRUN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
containerfile=$src/deploy/Containerfile
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "FAIL: $*"
  exit 1
}

# The Containerfile as lines of facts: "pkg STAGE NAME", "copy FROM SOURCE DEST", "user UID:GID",
# "workdir DIR", "entrypoint PATH" (the last stage's), "dest PREFIX" (the build's DESTDIR install)
"$vmrun" -q -e '
local text = io.open(arg[1]):read("a"):gsub("\\\n", " ")
local stage, args, last = 0, {}, {}
local function out(...) print(table.concat({ ... }, " ")) end
for line in text:gmatch("[^\n]+") do
  local word, rest = line:match("^%s*(%u+)%s+(.*)$")
  if word == "FROM" then
    stage = stage + 1
  elseif word == "ARG" then
    local k, v = rest:match("^([%w_]+)=\"?([^\"]*)\"?$")
    if k then args[k] = v end
  elseif word == "RUN" then
    rest = rest:gsub("%${?([%w_]+)}?", function(k) return args[k] end)
    for cmd in rest:gmatch("[^&;]+") do
      local pkgs = cmd:match("apt%-get install (.*)")
      if pkgs then
        for p in pkgs:gmatch("%S+") do
          if not p:match("^%-") then out("pkg", stage, p) end
        end
      end
      local dest = cmd:match("DESTDIR=(%S+) cmake %-%-install")
      if dest then out("dest", dest) end
    end
  elseif word == "COPY" then
    local from, s, d = rest:match("^%-%-from=(%S+)%s+(%S+)%s+(%S+)$")
    if not from then s, d = rest:match("^(%S+)%s+(%S+)$") end
    out("copy", stage, from or "-", s, d)
  elseif word == "USER" or word == "WORKDIR" then
    last[word] = rest
  elseif word == "ENTRYPOINT" then
    last.ENTRYPOINT = json.decode(rest)[1]
  end
end
out("stages", stage)
out("user", last.USER)
out("workdir", last.WORKDIR)
out("entrypoint", last.ENTRYPOINT)' "$containerfile" >"$tmp/facts" || fail "cannot read $containerfile"
[ "$(sed -n 's/^stages //p' "$tmp/facts")" = 2 ] || fail "expected two stages (build, runtime): $(cat "$tmp/facts")"
build_pkgs=$(awk '$1 == "pkg" && $2 == 1 { print $3 }' "$tmp/facts")
runtime_pkgs=$(awk '$1 == "pkg" && $2 == 2 { print $3 }' "$tmp/facts")
[ -n "$build_pkgs" ] && [ -n "$runtime_pkgs" ] || fail "no apt-get install in a stage: $(cat "$tmp/facts")"

# --- the package names, in apt's metadata -------------------------------------------------------
if command -v apt-cache >/dev/null && [ -n "$(ls /var/lib/apt/lists/*_Packages* 2>/dev/null | head -1)" ]; then
  for p in $build_pkgs $runtime_pkgs; do
    apt-cache show --no-all-versions "$p" >/dev/null 2>&1 || fail "apt has no package $p (deploy/Containerfile)"
  done
  echo "deploy_image: $(wc -w <<<"$build_pkgs $runtime_pkgs") package names found in apt's metadata"
else
  echo "deploy_image: SKIP the package names: no apt metadata on this machine (apt-get update first)"
fi

# --- the build stage: the README's build dependencies ----------------------------------------------
readme_cmd=$(grep -m1 'apt-get install' "$src/README.md")
for p in $build_pkgs; do
  grep -qE "(^| )$p( |$)" <<<"$readme_cmd" || fail "the build stage installs $p, which the README's first command does not"
done

# --- the runtime stage: a package for every library the binary needs ------------------------------
if command -v dpkg-query >/dev/null && command -v ldd >/dev/null && command -v objdump >/dev/null; then
  for lib in $(objdump -p "$vmrun" | awk '$1 == "NEEDED" { print $2 }'); do
    case $lib in lib[alt]san.so.* | libubsan.so.*) continue ;; esac # a sanitizer build's, not the image's
    path=$(ldd "$vmrun" | awk -v l="$lib" '$1 == l { print $3 } $1 ~ ("/" l "$") { print $1 }')
    [ -n "$path" ] || fail "ldd does not resolve $lib"
    pkg=$(dpkg-query -S "$(readlink -f "$path")" 2>/dev/null | head -1 | cut -d: -f1)
    [ -n "$pkg" ] || pkg=$(dpkg-query -S "$path" 2>/dev/null | head -1 | cut -d: -f1)
    [ -n "$pkg" ] || fail "no Debian package holds $path ($lib)"
    [ "$pkg" = libc6 ] && continue
    grep -qx "$pkg" <<<"$runtime_pkgs" || fail "vmrun needs $lib from $pkg, which the runtime stage does not install"
  done
  echo "deploy_image: the runtime stage installs the package of every library vmrun links"
else
  echo "deploy_image: SKIP the runtime libraries: no dpkg-query, ldd or objdump here"
fi

# --- the paths: CMake's install rules, the build context, the pods ------------------------------
build_dir=$(dirname "$vmrun")
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build_dir/CMakeCache.txt" 2>/dev/null)
dest=$(sed -n 's/^dest //p' "$tmp/facts")
[ -n "$dest" ] || fail "the build stage does not install with DESTDIR=... cmake --install"
if [ "$prefix" = /usr/local ] && [ -f "$build_dir/cmake_install.cmake" ]; then
  DESTDIR=$tmp/stage cmake --install "$build_dir" >/dev/null || fail "cmake --install $build_dir"
  while read -r _ stage from s _; do
    [ "$from" = build ] || continue
    case $s in "$dest"/*) ;; *) continue ;; esac
    [ -e "$tmp/stage${s#"$dest"}" ] || fail "COPY --from=build $s: cmake --install puts nothing there"
  done < <(grep '^copy ' "$tmp/facts")
  echo "deploy_image: the runtime stage copies what cmake --install installs"
else
  echo "deploy_image: SKIP the install paths: $build_dir is not a build configured for /usr/local"
fi
while read -r _ stage from s d; do
  [ "$from" = - ] || continue
  compgen -G "$src/$s" >/dev/null || fail "COPY $s: nothing in the repository matches"
  top=${s%%/*}
  grep -qx "!$top" "$src/deploy/Containerfile.dockerignore" || fail "COPY $s: Containerfile.dockerignore leaves $top out"
done < <(grep '^copy ' "$tmp/facts")
user=$(sed -n 's/^user //p' "$tmp/facts")
workdir=$(sed -n 's/^workdir //p' "$tmp/facts")
# the CronJob's uid and playbook, and its image's tag
read -r uid gid playbook image < <("$vmrun" -q -e '
local cj = yaml.decode_file(arg[1])
local pod = cj.spec.jobTemplate.spec.template.spec
local playbook
for _, a in ipairs(pod.containers[1].args) do if a:match("%.lua$") then playbook = playbook or a end end
print(pod.securityContext.runAsUser, pod.securityContext.runAsGroup, playbook, pod.containers[1].image)' \
  "$src/deploy/kubernetes/cronjob.yaml")
[ "$user" = "$uid:$gid" ] || fail "the image's USER $user is not the pods' runAsUser:runAsGroup $uid:$gid"
[ "${user%%:*}" != 0 ] || fail "the image runs as root"
grep -q "^copy 2 - playbooks/\*\.lua $workdir/playbooks/$" "$tmp/facts" ||
  fail "the playbooks are not copied to WORKDIR/playbooks ($workdir), where the CronJob names $playbook"
[ -f "$src/$playbook" ] || fail "the CronJob's playbook $playbook is not in the repository"
[ "$(sed -n 's/^entrypoint //p' "$tmp/facts")" = /usr/local/bin/vmrun ] || fail "ENTRYPOINT is not /usr/local/bin/vmrun"
version=$("$vmrun" --version | awk '{ print $2 }')
[ "$image" = "vmrun:$version" ] || fail "the CronJob's image $image is not vmrun:$version (vmrun --version)"
echo "deploy_image: ok"
