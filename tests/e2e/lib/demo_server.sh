# tests/e2e/lib/demo_server.sh: sourced by the end-to-end tests that run several maintenances of
# the demo cluster side by side, each against its own `vmrun serve --clock client` in its own
# folder (the run drives the server's time, so a run does the same every time). Needs $vmrun
# and $src (absolute paths) set before it is sourced.
#
# serve_demo DIR [OPTIONS...]: starts the server (OPTIONS added to its command line) with its
# request log DIR/requests.log and kubeconfig DIR/kubeconfig; sets $srv (its pid) and $base
# (http://127.0.0.1:PORT, empty when it did not start within 30 s: DIR/serve.err says why).
serve_demo() {
  local dir=$1
  shift
  "$vmrun" serve --cluster "$src/playbooks/clusters/demo.yaml" --listen 127.0.0.1:0 --clock client \
    --no-settle --log "$dir/requests.log" --kubeconfig-out "$dir/kubeconfig" "$@" \
    >"$dir/serve.out" 2>"$dir/serve.err" &
  srv=$!
  for _ in $(seq 1 300); do
    grep -q 'on http://127.0.0.1:' "$dir/serve.out" 2>/dev/null && break
    sleep 0.1
  done
  base=$(sed -n 's/.* on \(http:\/\/127\.0\.0\.1:[0-9]*\)$/\1/p' "$dir/serve.out")
}
