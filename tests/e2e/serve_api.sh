#!/usr/bin/env bash
# tests/e2e/serve_api.sh: `vmrun serve`'s API over real HTTP on 127.0.0.1 (an ephemeral port),
# with curl and raw requests: discovery, JSON for a client that asks for protobuf first, list
# pagination, watches (initial ADDED events, watch=True, resume from a resourceVersion, 410 as an
# ERROR event, bookmarks, timeoutSeconds, streaming lists with sendInitialEvents and the API
# server's checks of their options), evictions with policy/v1, policy/v1beta1 and untyped
# bodies, create/update/delete, and bad input (malformed HTTP, oversized headers and bodies,
# invalid JSON, a patch that does not apply, unknown resources, a client gone mid-watch) answered
# with the right status and a Status object while the server keeps serving; then --faults
# (errors per verb, 429 with Retry-After, dropped connections, latency, watch cuts) and the
# request log. Under the sanitizer build a leak makes the server's exit status non-zero.
#   bash tests/e2e/serve_api.sh PATH/TO/vmrun
set -uo pipefail
vmrun=${1:?usage: serve_api.sh PATH/TO/vmrun}
vmrun=$(cd "$(dirname "$vmrun")" && pwd)/$(basename "$vmrun")
src=${VMRUN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
cluster="$src/tests/e2e/fixtures/serve_cluster.yaml"
command -v curl >/dev/null || { echo "FAIL: curl is not installed (README's first command installs it)"; exit 1; }
. "$(dirname "$0")/lib/serve.sh"
# get PATH [CURL ARGS...]: the body; $code gets the status
get() {
  local path=$1
  shift
  code=$(curl -s -o "$tmp/body" -w '%{http_code}' "$@" "$base$path")
  cat "$tmp/body"
}
# raw BYTES: sends them as they are (printf format) and prints the answer
raw() {
  exec 3<>"/dev/tcp/127.0.0.1/$port" || fail "cannot connect"
  printf "$1" >&3
  timeout 5 cat <&3
  exec 3<&-
}
expect_status() { # CODE REASON BODY-FILE
  [ "$code" = "$1" ] || fail "expected $1, got $code: $(cat "$tmp/body")"
  grep -q "\"kind\":\"Status\"" "$tmp/body" || fail "no Status object: $(cat "$tmp/body")"
  grep -q "\"reason\":\"$2\"" "$tmp/body" || fail "expected reason $2: $(cat "$tmp/body")"
  grep -q "\"code\":$1" "$tmp/body" || fail "expected code $1 in the Status: $(cat "$tmp/body")"
}

start_server "$cluster" --watch-history 64

# --- discovery and reads -----------------------------------------------------------------------
get /version | grep -q '"gitVersion":"v1\.' || fail "/version"
get /api | grep -q '"kind":"APIVersions"' || fail "/api"
get /apis | lua_json '
  local names = {}
  for _, g in ipairs(doc.groups) do names[g.name] = g.preferredVersion.groupVersion end
  assert(names.policy == "policy/v1" and names["kubevirt.io"] == "kubevirt.io/v1" and names.apps == "apps/v1",
    "groups")' || fail "/apis"
get /api/v1 | lua_json '
  local by = {}
  for _, r in ipairs(doc.resources) do by[r.name] = r end
  local e = by["pods/eviction"]
  assert(e and e.group == "policy" and e.version == "v1" and e.kind == "Eviction", "pods/eviction")
  assert(by.pods.namespaced == true and by.nodes.namespaced == false, "namespaced")
  assert(by.nodes.shortNames[1] == "no", "shortNames")' || fail "/api/v1"
get /apis/kubevirt.io/v1 | lua_json '
  for _, r in ipairs(doc.resources) do
    if r.name == "virtualmachineinstances" then
      assert(r.kind == "VirtualMachineInstance" and r.namespaced and r.shortNames[1] == "vmi", "vmi")
      return
    end
  end
  error("no virtualmachineinstances")' || fail "/apis/kubevirt.io/v1"
# protobuf asked first: JSON answered
ctype=$(curl -s -o /dev/null -w '%{content_type}' -H 'Accept: application/vnd.kubernetes.protobuf,application/json' "$base/api/v1/nodes/w1")
[ "$ctype" = application/json ] || fail "protobuf first: content type $ctype"
get /api/v1/nodes/w1 | grep -q '"kind":"Node"' || fail "GET node"
get /api/v1/nodes | lua_json 'assert(doc.kind == "NodeList" and doc.apiVersion == "v1" and #doc.items == 5
  and tonumber(doc.metadata.resourceVersion) > 0)' || fail "LIST nodes"
# pagination: 2 + 2 + 1
page1=$(get '/api/v1/nodes?limit=2')
cont=$(lua_json 'assert(#doc.items == 2 and doc.metadata.remainingItemCount == 3) print(doc.metadata.continue)' <<<"$page1") ||
  fail "page 1: $page1"
page2=$(get "/api/v1/nodes?limit=2&continue=$cont")
cont2=$(lua_json 'assert(#doc.items == 2) print(doc.metadata.continue)' <<<"$page2") || fail "page 2: $page2"
get "/api/v1/nodes?limit=2&continue=$cont2" | lua_json 'assert(#doc.items == 1 and doc.metadata.continue == nil)' ||
  fail "page 3"
get "/api/v1/nodes?continue=zz" >/dev/null
expect_status 400 BadRequest
get '/api/v1/pods?fieldSelector=spec.nodeName%3Dw1&labelSelector=kubevirt.io%3Dvirt-launcher' | lua_json '
  assert(#doc.items >= 1)
  for _, p in ipairs(doc.items) do assert(p.spec.nodeName == "w1" and p.metadata.labels["kubevirt.io"] == "virt-launcher") end' ||
  fail "selectors"
# the same list twice (the second from the server's list cache), then again after a change:
# the change is there, and the list's resourceVersion is the store's newest
first=$(get '/api/v1/namespaces/default/pods')
[ "$(get '/api/v1/namespaces/default/pods')" = "$first" ] || fail "the same list twice differs"
get /api/v1/namespaces/default/pods/tools-1 -X PATCH -H 'Content-Type: application/merge-patch+json' \
  -d '{"metadata":{"labels":{"cached":"no"}}}' >/dev/null
get '/api/v1/namespaces/default/pods' | lua_json '
  local first = json.decode(arg[1])
  assert(tonumber(doc.metadata.resourceVersion) > tonumber(first.metadata.resourceVersion), "rv")
  for _, p in ipairs(doc.items) do
    if p.metadata.name == "tools-1" then assert(p.metadata.labels.cached == "no", "label") return end
  end
  error("no tools-1")' "$first" || fail "a list after a change does not show it"
get '/api/v1/pods?labelSelector=a%20in%20(' >/dev/null
expect_status 400 BadRequest
get /api/v1/nodes/nope >/dev/null
expect_status 404 NotFound
grep -q '"message":"nodes \\"nope\\" not found"' "$tmp/body" || fail "404 message: $(cat "$tmp/body")"
get /api/v1/namespaces/default/pods/nope -X DELETE >/dev/null
expect_status 404 NotFound
grep -q '"message":"pods \\"nope\\" not found"' "$tmp/body" || fail "pod 404 message: $(cat "$tmp/body")"
get /api/v1/widgets >/dev/null
expect_status 404 NotFound
get /apis/example.com/v1/things >/dev/null
expect_status 404 NotFound
get /api/v1/nodes -X DELETE >/dev/null
expect_status 405 MethodNotAllowed
get /api/v1/nodes -H 'Accept: application/json;as=Table;v=v1;g=meta.k8s.io,application/json' | lua_json '
  assert(doc.kind == "Table" and doc.columnDefinitions[1].name == "Name" and #doc.rows == 5)
  assert(doc.rows[1].object.kind == "PartialObjectMetadata")' || fail "Table"

# --- watches -----------------------------------------------------------------------------------
rv=$(get /api/v1/nodes | lua_json 'print(doc.metadata.resourceVersion)')
# initial ADDED events (no resourceVersion), watch=True as the Python client sends it
get '/api/v1/nodes?watch=True&timeoutSeconds=1' | grep -c '"type":"ADDED"' | grep -qx 5 || fail "initial ADDED events"
# from a resourceVersion: only what happens after it
( sleep 0.5; curl -s -X PATCH -H 'Content-Type: application/merge-patch+json' \
    -d '{"metadata":{"labels":{"watched":"yes"}}}' "$base/api/v1/nodes/w2" >/dev/null ) &
events=$(get "/api/v1/nodes?watch=true&resourceVersion=$rv&timeoutSeconds=2")
wait $!
[ "$(grep -c '"type":' <<<"$events")" -eq 1 ] || fail "watch from rv: $events"
grep -q '"type":"MODIFIED".*"watched":"yes"' <<<"$events" || fail "watch from rv: $events"
# a selector: the object that stops matching leaves as DELETED
( sleep 0.5; curl -s -X PATCH -H 'Content-Type: application/merge-patch+json' \
    -d '{"metadata":{"labels":{"watched":null}}}' "$base/api/v1/nodes/w2" >/dev/null ) &
events=$(get "/api/v1/nodes?watch=1&labelSelector=watched%3Dyes&timeoutSeconds=2")
wait $!
grep -q '"type":"ADDED"' <<<"$events" && grep -q '"type":"DELETED"' <<<"$events" ||
  fail "selector watch: $events"
# resuming a selected watch: the object that left the selection while the client was away
# arrives as DELETED, the one that joined it as ADDED (from the store's history)
patch_pod() { curl -s -X PATCH -H 'Content-Type: application/merge-patch+json' -d "$2" \
  "$base/api/v1/namespaces/default/pods/$1" >/dev/null; }
patch_pod tools-1 '{"metadata":{"labels":{"team":"a"}}}'
team_rv=$(get '/api/v1/pods?labelSelector=team%3Da' | lua_json 'print(doc.metadata.resourceVersion)')
patch_pod tools-1 '{"metadata":{"labels":{"team":"b"}}}'
patch_pod tools-2 '{"metadata":{"labels":{"team":"a"}}}'
got=$(get "/api/v1/pods?watch=1&labelSelector=team%3Da&resourceVersion=$team_rv&timeoutSeconds=1" |
  while read -r line; do lua_json 'print(doc.type .. " " .. doc.object.metadata.name)' <<<"$line"; done | tr '\n' ,)
[ "$got" = "DELETED tools-1,ADDED tools-2," ] || fail "resumed team=a watch: $got"
got=$(get "/api/v1/pods?watch=1&labelSelector=team%3Db&resourceVersion=$team_rv&timeoutSeconds=1" |
  while read -r line; do lua_json 'print(doc.type .. " " .. doc.object.metadata.name)' <<<"$line"; done | tr '\n' ,)
[ "$got" = "ADDED tools-1," ] || fail "resumed team=b watch: $got"
# a watch answers no HEAD request (it would be an endless body)
[ "$(curl -s -o /dev/null -w '%{http_code}' -I "$base/api/v1/nodes?watch=1")" = 405 ] || fail "HEAD watch"
# an expired resourceVersion: one ERROR event with a Status 410, then the end
events=$(get '/api/v1/pods?watch=true&resourceVersion=1&timeoutSeconds=5')
first=$(head -1 <<<"$events")
lua_json 'assert(doc.type == "ERROR" and doc.object.kind == "Status" and doc.object.code == 410
  and doc.object.reason == "Expired")' <<<"$first" || fail "410: $events"
# bookmarks: at the end of a watch that allows them
events=$(get "/api/v1/nodes?watch=true&allowWatchBookmarks=true&resourceVersion=$rv&timeoutSeconds=1")
tail -1 <<<"$events" | lua_json 'assert(doc.type == "BOOKMARK" and tonumber(doc.object.metadata.resourceVersion) >= 1)' ||
  fail "bookmark: $events"
# a streaming list: the objects as ADDED events, then the bookmark that ends them (annotated,
# at the current resourceVersion), then the watch goes on
sl='watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true'
nodes=$(get '/api/v1/nodes' | lua_json 'print(#doc.items .. " " .. doc.metadata.resourceVersion)')
events=$(get "/api/v1/nodes?$sl&timeoutSeconds=1")
got=$(while read -r line; do
  lua_json 'local a = doc.object.metadata.annotations
    print(doc.type .. (a and (" " .. tostring(a["k8s.io/initial-events-end"]) .. " " .. doc.object.metadata.resourceVersion) or ""))' <<<"$line"
done <<<"$events" | uniq -c | awk '{$1 = $1; print}' | tr '\n' ,)
[ "$got" = "${nodes% *} ADDED,1 BOOKMARK true ${nodes#* },1 BOOKMARK," ] ||
  fail "streaming list ($nodes): $got"
# sendInitialEvents=false, no resourceVersion: from now, without the state
events=$(get "/api/v1/nodes?watch=1&sendInitialEvents=false&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1")
[ "$(grep -c '"ADDED"' <<<"$events")" = 0 ] || fail "sendInitialEvents=false sent the state: $events"
# the API server's checks: 422 Invalid, naming the field
get '/api/v1/nodes?watch=1&sendInitialEvents=true&allowWatchBookmarks=true' >/dev/null
expect_status 422 Invalid
grep -q 'resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan' "$tmp/body" ||
  fail "422 message: $(cat "$tmp/body")"
get '/api/v1/nodes?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan' >/dev/null
expect_status 422 Invalid
grep -q 'requires setting allowWatchBookmarks to true' "$tmp/body" || fail "422 message: $(cat "$tmp/body")"
get '/api/v1/nodes?watch=1&resourceVersionMatch=NotOlderThan' >/dev/null
expect_status 422 Invalid
grep -q 'resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided' "$tmp/body" ||
  fail "422 message: $(cat "$tmp/body")"
# a Table watch: one-row Tables
get '/api/v1/nodes?watch=true&timeoutSeconds=1' -H 'Accept: application/json;as=Table;v=v1;g=meta.k8s.io' |
  head -1 | lua_json 'assert(doc.object.kind == "Table" and #doc.object.rows == 1)' || fail "Table watch"
# a client that goes away in the middle of a watch
timeout 1 curl -s -N "$base/api/v1/pods?watch=true" >/dev/null
get /api/v1/nodes/w1 >/dev/null
[ "$code" = 200 ] || fail "the server stopped serving after a client left a watch"

# --- evictions ---------------------------------------------------------------------------------
tools() { get "/api/v1/namespaces/default/pods/$1" >/dev/null; echo "$code"; }
evict() { # POD BODY
  get "/api/v1/namespaces/default/pods/$1/eviction" -X POST -H 'Content-Type: application/json' -d "$2"
}
evict tools-1 '{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"tools-1","namespace":"default"}}' >/dev/null
[ "$code" = 201 ] || fail "policy/v1 eviction: $code $(cat "$tmp/body")"
grep -q '"status":"Success"' "$tmp/body" || fail "eviction answer: $(cat "$tmp/body")"
evict tools-2 '{"apiVersion":"policy/v1beta1","kind":"Eviction","metadata":{"name":"tools-2","namespace":"default"},"deleteOptions":{}}' >/dev/null
[ "$code" = 201 ] || fail "policy/v1beta1 eviction: $code"
evict tools-3 '{"metadata":{"name":"tools-3","namespace":"default"}}' >/dev/null
[ "$code" = 201 ] || fail "untyped eviction: $code"
evict tools-4 '{"metadata":{"name":"tools-1"}}' >/dev/null
expect_status 400 BadRequest
evict tools-4 '{"kind":"Pod"}' >/dev/null
expect_status 400 BadRequest
evict no-such-pod '{}' >/dev/null
expect_status 404 NotFound
# a VM's pod: KubeVirt's webhook answers 429 with Retry-After while it evacuates the VM
launcher=$(get '/api/v1/namespaces/prod/pods?labelSelector=vm.kubevirt.io%2Fname%3Dvm-1' | lua_json 'print(doc.items[1].metadata.name)')
headers=$(curl -s -D - -o "$tmp/body" -X POST -H 'Content-Type: application/json' -d '{}' \
  "$base/api/v1/namespaces/prod/pods/$launcher/eviction")
code=429
grep -q '^HTTP/1.1 429' <<<"$headers" || fail "launcher eviction: $headers $(cat "$tmp/body")"
grep -qi '^Retry-After: 1' <<<"$headers" || fail "no Retry-After: $headers"
expect_status 429 TooManyRequests
grep -q 'virt-launcher-eviction-interceptor.kubevirt.io' "$tmp/body" || fail "webhook message: $(cat "$tmp/body")"

# --- writes and bad bodies ---------------------------------------------------------------------
get /api/v1/namespaces/default/configmaps -X POST -H 'Content-Type: application/json' \
  -d '{"metadata":{"name":"cm1"},"data":{"a":"1"}}' >/dev/null
[ "$code" = 201 ] || fail "create: $code $(cat "$tmp/body")"
get /api/v1/namespaces/default/configmaps -X POST -H 'Content-Type: application/json' \
  -d '{"metadata":{"name":"cm1"}}' >/dev/null
expect_status 409 AlreadyExists
get /api/v1/namespaces/default/configmaps -X POST -H 'Content-Type: application/json' -d '{"metadata":' >/dev/null
expect_status 400 BadRequest
get /api/v1/namespaces/default/configmaps -X POST -H 'Content-Type: application/json' \
  -d '{"metadata":{"name":"cm2","namespace":"other"}}' >/dev/null
expect_status 400 BadRequest
cm=$(get /api/v1/namespaces/default/configmaps/cm1)
old=$(lua_json 'print(doc.metadata.resourceVersion)' <<<"$cm")
get /api/v1/namespaces/default/configmaps/cm1 -X PUT -H 'Content-Type: application/json' \
  -d "{\"metadata\":{\"name\":\"cm1\",\"resourceVersion\":\"$old\"},\"data\":{\"a\":\"2\"}}" >/dev/null
[ "$code" = 200 ] || fail "update: $code $(cat "$tmp/body")"
get /api/v1/namespaces/default/configmaps/cm1 -X PUT -H 'Content-Type: application/json' \
  -d "{\"metadata\":{\"name\":\"cm1\",\"resourceVersion\":\"$old\"},\"data\":{\"a\":\"3\"}}" >/dev/null
expect_status 409 Conflict
get /api/v1/namespaces/default/configmaps/cm1 -X PATCH -H 'Content-Type: application/json-patch+json' \
  -d '[{"op":"remove","path":"/data/nope"}]' >/dev/null
expect_status 422 Invalid
get /api/v1/namespaces/default/configmaps/cm1 -X PATCH -H 'Content-Type: application/apply-patch+yaml' \
  -d 'data: {}' >/dev/null
expect_status 415 UnsupportedMediaType
get /api/v1/namespaces/default/configmaps/cm1 -X PATCH -H 'Content-Type: application/merge-patch+json' \
  -d '{"metadata":{"name":"renamed"}}' >/dev/null
expect_status 422 Invalid
get '/api/v1/nodes/w3?dryRun=All' -X PATCH -H 'Content-Type: application/merge-patch+json' \
  -d '{"spec":{"unschedulable":true}}' | grep -q '"unschedulable":true' || fail "dry-run patch answer"
get /api/v1/nodes/w3 | grep -q '"unschedulable"' && fail "a dry-run patch changed the node"
get /api/v1/namespaces/default/configmaps/cm1 -X DELETE >/dev/null
[ "$code" = 200 ] || fail "delete: $code"
get /api/v1/namespaces/default/configmaps/cm1 >/dev/null
[ "$code" = 404 ] || fail "deleted object still there: $code"

# --- malformed HTTP --------------------------------------------------------------------------------
out=$(raw 'GARBAGE\r\n\r\n')
grep -q '^HTTP/1.1 400' <<<"$out" && grep -q '"kind":"Status"' <<<"$out" || fail "malformed request line: $out"
out=$(raw 'GET /version HTTP/2.0\r\n\r\n')
grep -q '^HTTP/1.1 505' <<<"$out" || fail "HTTP/2.0: $out"
out=$(raw "GET /version HTTP/1.1\r\nHost: x\r\nX-Big: $(head -c 70000 /dev/zero | tr '\0' a)\r\n\r\n")
grep -q '^HTTP/1.1 431' <<<"$out" || fail "oversized header: $(head -c 300 <<<"$out")"
out=$(raw "GET /$(head -c 9000 /dev/zero | tr '\0' a) HTTP/1.1\r\n\r\n")
grep -q '^HTTP/1.1 414' <<<"$out" || fail "oversized target: $(head -c 300 <<<"$out")"
out=$(raw 'POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n')
grep -q '^HTTP/1.1 413' <<<"$out" || fail "oversized body: $out"
out=$(raw 'POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n')
grep -q '^HTTP/1.1 501' <<<"$out" || fail "unknown transfer coding: $out"
# keep-alive and pipelining: two answers on one connection, in order
out=$(raw 'GET /api/v1/nodes/w1 HTTP/1.1\r\nHost: x\r\n\r\nGET /api/v1/nodes/w2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
[ "$(grep -o 'HTTP/1.1 200 OK' <<<"$out" | wc -l)" -eq 2 ] || fail "pipelined requests: $out"
[ "$(grep -o '"name":"w[12]"' <<<"$out" | head -2 | tr '\n' ' ')" = '"name":"w1" "name":"w2" ' ] ||
  fail "pipelined answers out of order: $out"
# a request cut in the middle, then the connection closed: nothing breaks
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nContent-Length: 100\r\n\r\n{"meta' >&3
exec 3<&-
get /api/v1/nodes/w1 >/dev/null
[ "$code" = 200 ] || fail "the server stopped serving after bad input"
grep -q '"method":"GET","path":"/api/v1/nodes/w1","query":"","status":200,"duration_ms":' "$tmp/requests.log" ||
  fail "request log line: $(tail -2 "$tmp/requests.log")"
stop_server

# --- fault injection -----------------------------------------------------------------------------
start_server "$cluster" --seed 3 --faults 'error@get=1:503,throttle@list=1:7,drop@delete=1,latency@patch=1:600ms,watch-cut=1s'
get /api/v1/nodes/w1 >/dev/null
expect_status 503 ServiceUnavailable
grep -q 'injected fault' "$tmp/body" || fail "fault message: $(cat "$tmp/body")"
headers=$(curl -s -D - -o "$tmp/body" "$base/api/v1/nodes")
grep -q '^HTTP/1.1 429' <<<"$headers" && grep -qi '^Retry-After: 7' <<<"$headers" || fail "throttle: $headers"
get /api/v1/namespaces/default/pods/tools-4 -X DELETE >/dev/null
[ "$code" = 000 ] || fail "a dropped connection must give no answer: $code"
[ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Accept: application/json' "$base/api")" = 200 ] ||
  fail "discovery must be spared by default"
start=$(date +%s%N)
get /api/v1/nodes/w1 -X PATCH -H 'Content-Type: application/merge-patch+json' -d '{"metadata":{"labels":{"l":"1"}}}' >/dev/null
[ "$code" = 200 ] || fail "delayed patch: $code"
[ $(( ($(date +%s%N) - start) / 1000000 )) -ge 550 ] || fail "latency not injected"
start=$(date +%s)
get '/api/v1/pods?watch=true' >/dev/null
[ $(( $(date +%s) - start )) -le 5 ] || fail "watch-cut did not end the watch"
stop_server
out=$("$vmrun" serve --faults 'explode=1' 2>&1) && fail "a bad --faults spec must fail"
grep -q "unknown rule 'explode'" <<<"$out" || fail "bad spec message: $out"
out=$("$vmrun" serve --listen 10.1.2.3:8080 --cluster "$cluster" 2>&1) && fail "a non-loopback address must be refused"
grep -q 'not a loopback address' <<<"$out" || fail "loopback message: $out"
out=$("$vmrun" serve --cluster /nonexistent.yaml 2>&1)
[ $? -eq 2 ] && grep -q 'nonexistent.yaml' <<<"$out" || fail "missing cluster file: $out"
echo "serve_api: ok"
