#!/usr/bin/env bash
# bench/serve/run.sh: `vmrun serve` under load. Serves a generated 200-node cluster (seed 1) with
# about 5,000 pods, and measures with wrk (16 connections, 2 threads, on loopback) the requests
# per second of GET one node and of LIST every pod, and the server's peak RSS. The yardstick,
# measured in the same run on the same machine: nginx (Debian's) serving a tiny static file with
# the same wrk settings. Prints each rate and its ratio to nginx's. Printed, never asserted.
# Needs wrk and nginx (Debian packages wrk and nginx-light, or nginx).
#   bench/serve/run.sh [PATH/TO/vmrun]      (default: build-rel/vmrun, else build/vmrun)
#   DURATION=10s bench/serve/run.sh ...     (each wrk run; default 5s)
# shellcheck source-path=SCRIPTDIR/../..
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
bench_vmrun serve "${1:-}"
for tool in wrk nginx; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] ||
    { echo "bench/serve: $tool is not installed (apt-get install wrk nginx-light)" >&2; exit 2; }
done
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
duration=${DURATION:-5s}
tmp=$(mktemp -d)
server= nginx_pid=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

"$vmrun" -q "$root/tools/gen-cluster.lua" --nodes 200 --vms 5400 --seed 1 --zones 3 \
  --out "$tmp/cluster.yaml" >/dev/null
"$vmrun" serve --cluster "$tmp/cluster.yaml" --listen 127.0.0.1:0 >"$tmp/serve.out" 2>"$tmp/serve.err" &
server=$!
for _ in $(seq 1 600); do
  grep -q 'on http://' "$tmp/serve.out" 2>/dev/null && break
  kill -0 "$server" 2>/dev/null || { cat "$tmp/serve.err" >&2; exit 1; }
  sleep 0.1
done
url=$(sed -n 's/.* on \(http:\/\/[0-9.:]*\)$/\1/p' "$tmp/serve.out")
[ -n "$url" ] || { echo "bench/serve: vmrun serve did not start" >&2; exit 1; }
pods=$(curl -s "$url/api/v1/pods" | "$vmrun" -q -e 'print(#json.decode(io.read("a")).items)')
node=$(curl -s "$url/api/v1/nodes?limit=1" | "$vmrun" -q -e 'print(json.decode(io.read("a")).items[1].metadata.name)')

# nginx on a free port: a tiny static file, no logs, one worker, in the foreground
mkdir -p "$tmp/www" "$tmp/nginx"
printf '{"kind":"Status","apiVersion":"v1","status":"Success"}\n' >"$tmp/www/tiny.json"
port=$("$vmrun" -q -e 'print(math.random(20000, 60000))')
cat >"$tmp/nginx/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $tmp/nginx;
  proxy_temp_path $tmp/nginx;
  fastcgi_temp_path $tmp/nginx;
  uwsgi_temp_path $tmp/nginx;
  scgi_temp_path $tmp/nginx;
  server { listen 127.0.0.1:$port; root $tmp/www; }
}
EOF
"$nginx_bin" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" &
nginx_pid=$!
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/tiny.json" >/dev/null && break; sleep 0.1; done

# "Requests/sec:" of one wrk run
rate() { wrk -t2 -c16 -d"$duration" "$1" | awk '/^Requests\/sec:/ { print $2 }'; }
yardstick=$(rate "http://127.0.0.1:$port/tiny.json")
get_node=$(rate "$url/api/v1/nodes/$node")
list_pods=$(rate "$url/api/v1/pods")
rss=$(awk '/^VmHWM:/ { print int($2 / 1024) }' "/proc/$server/status")
echo "bench/serve: $pods pods, 16 connections, $duration per run ($(nproc) cores)"
awk -v y="$yardstick" -v g="$get_node" -v l="$list_pods" -v pods="$pods" -v rss="$rss" 'BEGIN {
  printf "  %-34s %12s %10s\n", "", "requests/s", "vs nginx"
  printf "  %-34s %12.0f %10s\n", "nginx, a tiny static file", y, "1"
  printf "  %-34s %12.0f %10.3f\n", "vmrun serve, GET one node", g, g / y
  printf "  %-34s %12.1f %10.5f\n", "vmrun serve, LIST " pods " pods", l, l / y
  printf "  peak RSS of vmrun serve: %d MiB\n", rss
}'
