/* test_yaml.c: unit test of the YAML codec (runtime/yaml.c) and the vmrun.yaml module
 * (bindings/yaml.c): Kubernetes manifests, scalar resolution, block scalars, anchors and merge
 * keys, error positions, the document rules of decode/decode_all, encode round trips and errors,
 * the cJSON bridge, and the Lua stack after failures. Lua snippets report through check(cond,
 * what). */
#include "check.h"
#include "codec.h"
#include "errors.h"
#include "luaval.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A user's simulated cluster: a Node, a Pod, a KubeVirt VM and the List that
 * `kubectl get pvc,pdb -o yaml` prints. Document starts: lines 2, 23, 54 and 94 (93 is an empty
 * document). */
static const char manifest[] =
    "# worker node, as exported with kubectl get node -o yaml\n"              /* 1 */
    "apiVersion: v1\n"                                                        /* 2 */
    "kind: Node\n"                                                            /* 3 */
    "metadata:\n"                                                             /* 4 */
    "  name: worker-1\n"                                                      /* 5 */
    "  labels:\n"                                                             /* 6 */
    "    kubernetes.io/hostname: worker-1\n"                                  /* 7 */
    "    node-role.kubernetes.io/worker: \"\"\n"                              /* 8 */
    "  annotations:\n"                                                        /* 9 */
    "    sim.vmrun.io/reboot-seconds: \"90\"  # simulation only\n"            /* 10 */
    "spec:\n"                                                                 /* 11 */
    "  taints: []\n"                                                          /* 12 */
    "  podCIDR: 10.244.1.0/24\n"                                              /* 13 */
    "status:\n"                                                               /* 14 */
    "  capacity: {cpu: \"16\", memory: 64Gi, pods: \"110\"}\n"                /* 15 */
    "  conditions:\n"                                                         /* 16 */
    "    - type: Ready\n"                                                     /* 17 */
    "      status: \"True\"\n"                                                /* 18 */
    "      lastHeartbeatTime: 2024-05-01T10:00:00Z\n"                         /* 19 */
    "    - type: MemoryPressure\n"                                            /* 20 */
    "      status: 'False'\n"                                                 /* 21 */
    "\n"                                                                      /* 22 */
    "---\n"                                                                   /* 23 */
    "apiVersion: v1\n"                                                        /* 24 */
    "kind: Pod\n"                                                             /* 25 */
    "metadata:\n"                                                             /* 26 */
    "  name: web-0\n"                                                         /* 27 */
    "  namespace: default\n"                                                  /* 28 */
    "  resourceVersion: \"123456\"\n"                                         /* 29 */
    "  uid: 6f1c3a9e-0000-4000-8000-000000000001\n"                           /* 30 */
    "  ownerReferences: [{kind: StatefulSet, name: web, controller: true}]\n" /* 31 */
    "spec:\n"                                                                 /* 32 */
    "  nodeName: worker-1\n"                                                  /* 33 */
    "  containers:\n"                                                         /* 34 */
    "  - name: web\n"                                                         /* 35 */
    "    image: nginx:1.25\n"                                                 /* 36 */
    "    args: [\"--port\", \"8080\"]\n"                                      /* 37 */
    "    ports:\n"                                                            /* 38 */
    "    - containerPort: 8080\n"                                             /* 39 */
    "      protocol: TCP\n"                                                   /* 40 */
    "    env:\n"                                                              /* 41 */
    "    - name: DEBUG\n"                                                     /* 42 */
    "      value: \"false\"\n"                                                /* 43 */
    "    - name: LEVEL\n"                                                     /* 44 */
    "      value: '3'\n"                                                      /* 45 */
    "    resources: {requests: {cpu: 250m, memory: 128Mi}}\n"                 /* 46 */
    "  volumes:\n"                                                            /* 47 */
    "  - name: cfg\n"                                                         /* 48 */
    "    configMap:\n"                                                        /* 49 */
    "      name: web-cfg\n"                                                   /* 50 */
    "      defaultMode: 0644\n"                                               /* 51 */
    "  terminationGracePeriodSeconds: 30\n"                                   /* 52 */
    "status: {}\n"                                                            /* 53 */
    "---\n"                                                                   /* 54 */
    "# KubeVirt VM with a cloud-init disk\n"                                  /* 55 */
    "apiVersion: kubevirt.io/v1\n"                                            /* 56 */
    "kind: VirtualMachine\n"                                                  /* 57 */
    "metadata:\n"                                                             /* 58 */
    "  name: vm-17\n"                                                         /* 59 */
    "  namespace: prod\n"                                                     /* 60 */
    "  annotations:\n"                                                        /* 61 */
    "    sim.vmrun.io/dirty-rate: 120Mi\n"                                    /* 62 */
    "spec:\n"                                                                 /* 63 */
    "  runStrategy: Always\n"                                                 /* 64 */
    "  template:\n"                                                           /* 65 */
    "    metadata:\n"                                                         /* 66 */
    "      labels: {kubevirt.io/vm: vm-17}\n"                                 /* 67 */
    "    spec:\n"                                                             /* 68 */
    "      evictionStrategy: LiveMigrate\n"                                   /* 69 */
    "      domain:\n"                                                         /* 70 */
    "        cpu: {cores: 4, sockets: 1, threads: 1}\n"                       /* 71 */
    "        memory:\n"                                                       /* 72 */
    "          guest: 8Gi\n"                                                  /* 73 */
    "        devices:\n"                                                      /* 74 */
    "          disks:\n"                                                      /* 75 */
    "          - name: root\n"                                                /* 76 */
    "            disk: {bus: virtio}\n"                                       /* 77 */
    "          interfaces:\n"                                                 /* 78 */
    "          - name: default\n"                                             /* 79 */
    "            masquerade: {}\n"                                            /* 80 */
    "      networks:\n"                                                       /* 81 */
    "      - name: default\n"                                                 /* 82 */
    "        pod: {}\n"                                                       /* 83 */
    "      volumes:\n"                                                        /* 84 */
    "      - name: root\n"                                                    /* 85 */
    "        dataVolume: {name: vm-17-root}\n"                                /* 86 */
    "      - name: cloudinit\n"                                               /* 87 */
    "        cloudInitNoCloud:\n"                                             /* 88 */
    "          userData: |\n"                                                 /* 89 */
    "            #cloud-config\n"                                             /* 90 */
    "            password: changeme\n"                                        /* 91 */
    "            chpasswd: { expire: False }\n"                               /* 92 */
    "---\n"                                                                   /* 93 */
    "---\n"                                                                   /* 94 */
    "apiVersion: v1\n"                                                        /* 95 */
    "kind: List\n"                                                            /* 96 */
    "metadata:\n"                                                             /* 97 */
    "  resourceVersion: \"\"\n"                                               /* 98 */
    "items:\n"                                                                /* 99 */
    "- apiVersion: v1\n"                                                      /* 100 */
    "  kind: PersistentVolumeClaim\n"                                         /* 101 */
    "  metadata:\n"                                                           /* 102 */
    "    name: vm-17-root\n"                                                  /* 103 */
    "    namespace: prod\n"                                                   /* 104 */
    "  spec:\n"                                                               /* 105 */
    "    accessModes:\n"                                                      /* 106 */
    "    - ReadWriteMany\n"                                                   /* 107 */
    "    resources:\n"                                                        /* 108 */
    "      requests:\n"                                                       /* 109 */
    "        storage: 20Gi\n"                                                 /* 110 */
    "    storageClassName: ceph-rbd\n"                                        /* 111 */
    "- apiVersion: policy/v1\n"                                               /* 112 */
    "  kind: PodDisruptionBudget\n"                                           /* 113 */
    "  metadata:\n"                                                           /* 114 */
    "    name: web\n"                                                         /* 115 */
    "  spec:\n"                                                               /* 116 */
    "    maxUnavailable: 1\n"                                                 /* 117 */
    "    selector:\n"                                                         /* 118 */
    "      matchLabels:\n"                                                    /* 119 */
    "        app: web\n";                                                     /* 120 */

/* Helpers shared by the Lua snippets. */
static const char prelude_lua[] =
    "function shape(t)\n"
    "  local mt = type(t) == 'table' and getmetatable(t)\n"
    "  return mt and mt.__shape or nil\n"
    "end\n"
    "function deep_eq(a, b)\n"
    "  if type(a) ~= type(b) then return false end\n"
    "  if type(a) == 'number' then\n"
    "    if a ~= a then return b ~= b end\n"
    "    return a == b and math.type(a) == math.type(b)\n"
    "  end\n"
    "  if type(a) ~= 'table' then return rawequal(a, b) end\n"
    "  if shape(a) ~= shape(b) then return false end\n"
    "  for k, v in pairs(a) do if not deep_eq(v, b[k]) then return false end end\n"
    "  for k in pairs(b) do if a[k] == nil then return false end end\n"
    "  return true\n"
    "end\n"
    "function err_of(f, ...)\n"
    "  local ok, e = pcall(f, ...)\n"
    "  if ok then return nil end\n"
    "  return e\n"
    "end\n"
    "function msg_of(f, ...)\n"
    "  local e = err_of(f, ...)\n"
    "  return e and tostring(e) or 'no error'\n"
    "end\n";

/* check(cond, what): counts one check; a failure prints the snippet line and `what`. */
static int l_check(lua_State *L) {
  check_count++;
  if (!lua_toboolean(L, 1)) {
    check_failures++;
    luaL_where(L, 1);
    fprintf(stderr, "%scheck failed: %s\n", lua_tostring(L, -1), luaL_optstring(L, 2, "?"));
  }
  return 0;
}

/* check_eq(actual, expected, what): like check(deep_eq(actual, expected)) but prints both. */
static int l_check_eq(lua_State *L) {
  int eq;
  lua_getglobal(L, "deep_eq");
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 2);
  lua_call(L, 2, 1);
  eq = lua_toboolean(L, -1);
  lua_pop(L, 1);
  check_count++;
  if (!eq) {
    check_failures++;
    const char *where, *what = luaL_optstring(L, 3, "?"), *got, *expected;
    luaL_where(L, 1);
    where = lua_tostring(L, -1);
    got = luaL_tolstring(L, 1, NULL);
    expected = luaL_tolstring(L, 2, NULL);
    fprintf(stderr, "%scheck failed: %s: got %s, expected %s\n", where, what, got, expected);
  }
  return 0;
}

/* Runs a Lua snippet; an error escaping it counts as a failed check. */
static void run_lua(lua_State *L, const char *name, const char *code) {
  int top = lua_gettop(L);
  check_count++;
  if (luaL_loadbuffer(L, code, strlen(code), name) != LUA_OK || lua_pcall(L, 0, 0, 0) != LUA_OK) {
    check_failures++;
    fprintf(stderr, "%s: error: %s\n", name, luaL_tolstring(L, -1, NULL));
  }
  lua_settop(L, top);
}

static const char manifest_lua[] =
    "local docs = yaml.decode_all(MANIFEST, {name = 'cluster.yaml'})\n"
    "check(shape(docs) == 'array' and #docs == 4, 'four documents')\n"
    "local node, pod, vm, list = docs[1], docs[2], docs[3], docs[4]\n"
    "check(shape(node) == 'object' and node.kind == 'Node', 'node')\n"
    "check(node.metadata.labels['node-role.kubernetes.io/worker'] == '', 'empty label')\n"
    "check(node.metadata.annotations['sim.vmrun.io/reboot-seconds'] == '90', 'annotation')\n"
    "check(shape(node.spec.taints) == 'array' and next(node.spec.taints) == nil, 'taints []')\n"
    "check(node.spec.podCIDR == '10.244.1.0/24', 'cidr')\n"
    "check(node.status.capacity.cpu == '16' and node.status.capacity.memory == '64Gi', 'cap')\n"
    "check(node.status.conditions[1].status == 'True', 'quoted True stays a string')\n"
    "check(node.status.conditions[1].lastHeartbeatTime == '2024-05-01T10:00:00Z', 'time')\n"
    "check(node.status.conditions[2].status == 'False', 'quoted False')\n"
    "check(pod.metadata.resourceVersion == '123456', 'resourceVersion stays a string')\n"
    "check(pod.metadata.ownerReferences[1].controller == true, 'flow bool')\n"
    "local c = pod.spec.containers[1]\n"
    "check(c.image == 'nginx:1.25' and c.args[2] == '8080', 'container')\n"
    "check(math.type(c.ports[1].containerPort) == 'integer' and c.ports[1].containerPort == 8080,\n"
    "      'integer port')\n"
    "check(c.env[1].value == 'false' and c.env[2].value == '3', 'quoted env values')\n"
    "check(c.resources.requests.cpu == '250m', 'quantity')\n"
    "check(pod.spec.volumes[1].configMap.defaultMode == 420, 'octal file mode, as kubectl')\n"
    "check(pod.spec.terminationGracePeriodSeconds == 30, 'grace')\n"
    "check(shape(pod.status) == 'object' and next(pod.status) == nil, 'status {}')\n"
    "local ts = vm.spec.template.spec\n"
    "check(vm.kind == 'VirtualMachine' and vm.spec.runStrategy == 'Always', 'vm')\n"
    "check(vm.spec.template.metadata.labels['kubevirt.io/vm'] == 'vm-17', 'vm label')\n"
    "check(ts.domain.cpu.cores == 4 and ts.domain.memory.guest == '8Gi', 'domain')\n"
    "check(shape(ts.domain.devices.interfaces[1].masquerade) == 'object', 'masquerade {}')\n"
    "check(ts.volumes[2].cloudInitNoCloud.userData ==\n"
    "      '#cloud-config\\npassword: changeme\\nchpasswd: { expire: False }\\n', 'userData')\n"
    "check(list.kind == 'List' and list.metadata.resourceVersion == '', 'list')\n"
    "check(#list.items == 2 and list.items[1].spec.resources.requests.storage == '20Gi', 'pvc')\n"
    "check(list.items[1].spec.accessModes[1] == 'ReadWriteMany', 'access modes')\n"
    "check(list.items[2].spec.maxUnavailable == 1, 'pdb')\n"
    "check(list.items[2].spec.selector.matchLabels.app == 'web', 'selector')\n"
    "-- every document survives encode -> decode unchanged\n"
    "for i, d in ipairs(docs) do\n"
    "  local text = yaml.encode(d)\n"
    "  check_eq(yaml.decode(text), d, 'round trip of document ' .. i)\n"
    "end\n"
    "check_eq(yaml.decode(yaml.encode(docs)), docs, 'round trip of the documents as one array')\n"
    "-- decode insists on one document\n"
    "local e = err_of(yaml.decode, MANIFEST, {name = 'cluster.yaml'})\n"
    "check(e and e.kind == 'decode', 'decode of a stream raises')\n"
    "check(e and e.message == 'cluster.yaml:23:1: stream has 4 documents; use yaml.decode_all',\n"
    "      'multi-document message: ' .. tostring(e))\n"
    "check(e and e.line == 23 and e.column == 1 and e.resource == 'cluster.yaml', 'fields')\n";

static const char scalars_lua[] =
    "local NULL, NAN = yaml.null, 0/0\n"
    "local cases = {\n"
    "  {'~', NULL}, {'null', NULL}, {'Null', NULL}, {'NULL', NULL}, {'', NULL},\n"
    "  {'nULL', 'nULL'}, {'~x', '~x'},\n"
    "  {'true', true}, {'True', true}, {'TRUE', true},\n"
    "  {'false', false}, {'False', false}, {'FALSE', false}, {'tRUE', 'tRUE'},\n"
    "  {'yes', 'yes'}, {'no', 'no'}, {'on', 'on'}, {'off', 'off'}, {'y', 'y'}, {'N', 'N'},\n"
    "  {'0', 0}, {'-0', 0}, {'42', 42}, {'+42', 42}, {'-17', -17},\n"
    "  {'9223372036854775807', math.maxinteger}, {'-9223372036854775808', math.mininteger},\n"
    "  {'9223372036854775808', 9223372036854775808.0},\n"
    "  {'-99999999999999999999', -1e20},\n"
    "  {'0x1F', 31}, {'0xff', 255}, {'0o17', 15}, {'0644', 420}, {'007', 7}, {'00', 0},\n"
    "  {'09', '09'}, {'0189', '0189'}, {'0x', '0x'}, {'-0x1F', '-0x1F'}, {'0o8', '0o8'},\n"
    "  {'1.5', 1.5}, {'-2.', -2.0}, {'.5', 0.5}, {'+.5', 0.5}, {'1e3', 1000.0},\n"
    "  {'-1.2E-3', -0.0012}, {'1.0', 1.0}, {'0.1', 0.1}, {'01.5', 1.5},\n"
    "  {'.inf', math.huge}, {'.Inf', math.huge}, {'+.INF', math.huge}, {'-.inf', -math.huge},\n"
    "  {'.nan', NAN}, {'.NaN', NAN}, {'.NAN', NAN}, {'.nAn', '.nAn'},\n"
    "  {'1.2.3', '1.2.3'}, {'10Gi', '10Gi'}, {'250m', '250m'}, {'1_000', '1_000'},\n"
    "  {'1e', '1e'}, {'.', '.'}, {'e3', 'e3'}, {'2024-05-01', '2024-05-01'},\n"
    "  {'12:30', '12:30'}, {'v1', 'v1'}, {'1 2', '1 2'},\n"
    "  {\"'42'\", '42'}, {'\"true\"', 'true'}, {\"'~'\", '~'}, {'\"0x1F\"', '0x1F'},\n"
    "  {\"'1.5'\", '1.5'}, {'\"\"', ''}, {\"''\", ''}, {'\"null\"', 'null'},\n"
    "  {'\"a\\\\tb\\\\u00e9\"', 'a\\tb\\u{e9}'}, {\"'it''s'\", \"it's\"},\n"
    "  {'!!str 12', '12'}, {'!!str', ''}, {'!!int \"12\"', 12}, {'!!int 0x10', 16},\n"
    "  {'!!float 3', 3.0}, {'!!float \"2.5\"', 2.5}, {'!!bool \"true\"', true},\n"
    "  {'!!null \"\"', NULL}, {'! 12', '12'}, {'!!str true', 'true'},\n"
    "}\n"
    "for _, c in ipairs(cases) do\n"
    "  check_eq(yaml.decode('v: ' .. c[1]).v, c[2], 'scalar ' .. c[1])\n"
    "end\n"
    "check(math.type(yaml.decode('-0')) == 'integer', '-0 is an integer')\n"
    "check(1 / yaml.decode('-0.0') == -math.huge, '-0.0 keeps its sign')\n"
    "-- keys are always strings, whatever they look like\n"
    "local k = yaml.decode('80: http\\ntrue: t\\n~: n\\n1.5: f\\n\"q\": x\\n')\n"
    "check(k['80'] == 'http' and k['true'] == 't' and k['~'] == 'n' and k['1.5'] == 'f', 'keys')\n"
    "check(k[80] == nil and k.q == 'x', 'no integer keys')\n"
    "-- bad values for explicit tags, and unknown tags\n"
    "check(msg_of(yaml.decode, 'v: !!int 12a') == \"yaml:1:4: invalid !!int value '12a'\", 'int')\n"
    "check(msg_of(yaml.decode, 'v: !!bool yes') == \"yaml:1:4: invalid !!bool value 'yes'\", 'b')\n"
    "check(msg_of(yaml.decode, 'v: !!float x') == \"yaml:1:4: invalid !!float value 'x'\", 'f')\n"
    "check(msg_of(yaml.decode, 'v: !!null 0') == \"yaml:1:4: invalid !!null value '0'\", 'null')\n"
    "check(msg_of(yaml.decode, 'a: 1\\nkind: !Ref Pod\\n') == \"yaml:2:7: unknown tag '!Ref'\",\n"
    "      'unknown local tag')\n"
    "check(msg_of(yaml.decode, 'v: !!binary aGk=') == \"yaml:1:4: unknown tag '!!binary'\",\n"
    "      'unknown core tag')\n"
    "check(msg_of(yaml.decode, '- !!str [1]') == \"yaml:1:3: tag '!!str' on a sequence\", 'seq')\n"
    "check(msg_of(yaml.decode, '- !!map x') == \"yaml:1:3: tag '!!map' on a scalar\", 'scalar')\n"
    "check(msg_of(yaml.decode, '!x {a: 1}') == \"yaml:1:1: unknown tag '!x'\", 'map tag')\n"
    "check(shape(yaml.decode('!!map {a: 1}')) == 'object', '!!map')\n"
    "check(shape(yaml.decode('!!seq [1]')) == 'array', '!!seq')\n";

static const char blocks_lua[] =
    "local v = yaml.decode([[\n"
    "literal: |\n"
    "  line 1\n"
    "    indented\n"
    "  line 3\n"
    "folded: >\n"
    "  a\n"
    "  b\n"
    "\n"
    "  c\n"
    "keep: |+\n"
    "  x\n"
    "\n"
    "strip: >-\n"
    "  y\n"
    "  z\n"
    "indicator: |2\n"
    "    two leading\n"
    "  zero\n"
    "number: |\n"
    "  42\n"
    "quoted: \"multi\n"
    "  line\"\n"
    "plain: multi\n"
    "  line plain\n"
    "]])\n"
    "check(v.literal == 'line 1\\n  indented\\nline 3\\n', 'literal')\n"
    "check(v.folded == 'a b\\nc\\n', 'folded')\n"
    "check(v.keep == 'x\\n\\n', 'keep')\n"
    "check(v.strip == 'y z', 'strip')\n"
    "check(v.indicator == '  two leading\\nzero\\n', 'indentation indicator')\n"
    "check(v.number == '42\\n', 'block scalars are strings')\n"
    "check(v.quoted == 'multi line' and v.plain == 'multi line plain', 'folded flow scalars')\n"
    "check(yaml.decode('a: 1\\r\\nb: [x, y]\\r\\n').b[2] == 'y', 'CRLF line ends')\n"
    "check(yaml.decode('\\xEF\\xBB\\xBFa: 1\\n').a == 1, 'byte order mark')\n";

static const char anchors_lua[] =
    "local v = yaml.decode([[\n"
    "defaults: &defaults\n"
    "  cpu: 2\n"
    "  memory: 4Gi\n"
    "  labels: &labels {tier: db}\n"
    "small:\n"
    "  cpu: 1\n"
    "  <<: *defaults\n"
    "big:\n"
    "  <<: [*defaults, {cpu: 8, disk: 100Gi}]\n"
    "  memory: 32Gi\n"
    "tags: &tags [a, b]\n"
    "again: *tags\n"
    "same_labels: *labels\n"
    "&k name: key-anchor\n"
    "copy: *k\n"
    "port: &p 8080\n"
    "*p : by-alias-key\n"
    "]])\n"
    "check(v.small.cpu == 1 and v.small.memory == '4Gi', 'merge: explicit keys win')\n"
    "check(rawequal(v.small.labels, v.defaults.labels), 'merged values are shared')\n"
    "check(v.big.cpu == 2 and v.big.disk == '100Gi' and v.big.memory == '32Gi',\n"
    "      'merge list: earlier mappings win, explicit keys win over all')\n"
    "check(v.small['<<'] == nil and v.big['<<'] == nil, 'no << key left')\n"
    "check(rawequal(v.again, v.tags) and shape(v.again) == 'array', 'alias is the same table')\n"
    "check(rawequal(v.same_labels, v.defaults.labels), 'alias of a nested anchor')\n"
    "check(v.name == 'key-anchor' and v.copy == 'name', 'anchored key')\n"
    "check(v.port == 8080 and v['8080'] == 'by-alias-key', 'alias as a key')\n"
    "check(yaml.decode('\"<<\": 1')['<<'] == 1, 'a quoted << is an ordinary key')\n"
    "check(yaml.decode('a: &x 1\\nb: &x 2\\nc: *x').c == 2, 'an anchor can be redefined')\n"
    "check(msg_of(yaml.decode, 'a: *nope') == \"yaml:1:4: unknown anchor 'nope'\", 'unknown')\n"
    "check(msg_of(yaml.decode, 'x: &x [1, *x]') ==\n"
    "      \"yaml:1:11: alias '*x' refers to a node that contains it\", 'recursive alias')\n"
    "check(msg_of(yaml.decode_all, 'a: &x 1\\n---\\nb: *x\\n') == \"yaml:3:4: unknown anchor "
    "'x'\",\n"
    "      'anchors do not cross documents')\n"
    "check(msg_of(yaml.decode, 'a: 1\\n<<: 5\\n') ==\n"
    "      \"yaml:2:5: the merge key '<<' needs a mapping or a sequence of mappings\", 'bad "
    "merge')\n"
    "check(msg_of(yaml.decode, '<<: [{a: 1}, 2]') ==\n"
    "      \"yaml:1:5: the merge key '<<' needs a mapping or a sequence of mappings\", 'merge "
    "list')\n"
    "check(msg_of(yaml.decode, 'a: &m {x: 1}\\n<<: *m\\n<<: *m\\n') ==\n"
    "      \"yaml:3:1: duplicate key '<<'\", 'two merge keys')\n"
    "check(msg_of(yaml.decode, 'a: &s [1]\\n*s : 2\\n') ==\n"
    "      \"yaml:2:1: alias '*s' of a mapping or sequence used as a key\", 'collection key')\n"
    "-- billion laughs: aliases may not expand past the limit (the Lua values would be shared,\n"
    "-- but encoders and the cJSON path would expand them)\n"
    "local lines, prev = {'a: &a [x, x, x, x, x, x, x, x, x, x]'}, 'a'\n"
    "for _, n in ipairs{'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'} do\n"
    "  lines[#lines + 1] = string.format('%s: &%s [%s]', n, n, ('*' .. prev .. ', '):rep(9) ..\n"
    "                                    '*' .. prev)\n"
    "  prev = n\n"
    "end\n"
    "local e = err_of(yaml.decode, table.concat(lines, '\\n'))\n"
    "check(e and e.message:find('aliases expand to more than 1000000 nodes', 1, true), 'bomb')\n"
    "check(e and e.line == 6, 'bomb stops at the level that crosses the limit')\n";

static const char errors_lua[] =
    "local e = err_of(yaml.decode, [[\n"
    "metadata:\n"
    "  name: a\n"
    "  labels:\n"
    "    app: x\n"
    "  name: b\n"
    "]], {name = 'pod.yaml'})\n"
    "check(getmetatable(e) == debug.getregistry()['vmrun.Error'], 'a vmrun.Error')\n"
    "check(e.kind == 'decode' and e.message == \"pod.yaml:5:3: duplicate key 'name'\", 'dup')\n"
    "check(e.line == 5 and e.column == 3 and e.resource == 'pod.yaml', 'dup fields')\n"
    "check(tostring(e) == e.message, '__tostring')\n"
    "check(msg_of(yaml.decode, '{a: 1, b: 2, a: 3}') == \"yaml:1:14: duplicate key 'a'\",\n"
    "      'duplicate in a flow mapping')\n"
    "check(msg_of(yaml.decode, 'a: 1\\n\"a\": 2') == \"yaml:2:1: duplicate key 'a'\",\n"
    "      'quoted and plain keys are the same key')\n"
    "check(msg_of(yaml.decode, 'spec:\\n  containers:\\n  - name: c\\n   image: x\\n') ==\n"
    "      'yaml:4:4: did not find expected key (while parsing a block mapping at line 2 column "
    "3)',\n"
    "      'bad indentation')\n"
    "check(msg_of(yaml.decode, 'a: 1\\n b: 2\\n') ==\n"
    "      'yaml:2:3: mapping values are not allowed in this context', 'bad indentation 2')\n"
    "check(msg_of(yaml.decode, 'a:\\n\\tb: 1\\n'):find('^yaml:2:1: found character that cannot "
    "start any token'), 'tab indentation')\n"
    "check(msg_of(yaml.decode, 'a: \\xff\\n') == 'yaml:1:4: invalid leading UTF-8 octet (#FF)',\n"
    "      'invalid UTF-8')\n"
    "check(msg_of(yaml.decode, 'a: [1, 2\\n') ==\n"
    "      \"yaml:2:1: did not find expected ',' or ']' (while parsing a flow sequence at line 1 "
    "\"\n"
    "      .. 'column 4)', 'unclosed flow sequence')\n"
    "check(msg_of(yaml.decode, '? [a]\\n: 1\\n') ==\n"
    "      'yaml:1:3: mapping keys must be scalars, not sequences', 'complex key')\n"
    "check(msg_of(yaml.decode, '? {a: 1}\\n: 1\\n') ==\n"
    "      'yaml:1:3: mapping keys must be scalars, not mappings', 'complex key 2')\n"
    "-- nesting is capped at 1000 levels\n"
    "check(yaml.decode(('['):rep(1000) .. (']'):rep(1000)) ~= nil, '1000 levels')\n"
    "check(msg_of(yaml.decode, ('['):rep(1001) .. (']'):rep(1001)) ==\n"
    "      'yaml:1:1001: nesting deeper than 1000 levels', '1001 levels')\n"
    "check(msg_of(yaml.decode, 'a: &a ' .. ('['):rep(600) .. (']'):rep(600) .. '\\nb: ' ..\n"
    "      ('['):rep(500) .. '*a' .. (']'):rep(500)) ==\n"
    "      'yaml:2:504: nesting deeper than 1000 levels', 'aliases count for the depth')\n"
    "-- try_decode returns the error\n"
    "local v, err = yaml.try_decode('a: [', {name = 'x.yaml'})\n"
    "check(v == nil and err.kind == 'decode' and err.message:find('^x.yaml:2:1: '), 'try_decode')\n"
    "v, err = yaml.try_decode('a: 1\\n---\\nb: 2\\n', {all = true})\n"
    "check(err == nil and #v == 2 and v[2].b == 2, 'try_decode all')\n"
    "check(yaml.try_decode('k: v').k == 'v', 'try_decode ok')\n"
    "-- option and argument checking\n"
    "check(msg_of(yaml.decode, 'a', {nmae = 'x'}):find(\"unknown option 'nmae'\", 1, true),\n"
    "      'unknown option')\n"
    "check(msg_of(yaml.decode, 'a', {all = true}):find(\"unknown option 'all'\", 1, true),\n"
    "      'decode has no all option')\n"
    "check(msg_of(yaml.decode, 'a', {name = 1}):find(\"option 'name' must be a string\", 1, "
    "true),\n"
    "      'option type')\n"
    "check(msg_of(yaml.decode, {}):find('string expected', 1, true), 'text must be a string')\n"
    "check(msg_of(yaml.encode, 1, {indent = 12}):find('from 2 to 9', 1, true), 'indent range')\n";

static const char documents_lua[] =
    "check(yaml.decode('') == yaml.null, 'empty stream is null')\n"
    "check(yaml.decode('# only a comment\\n') == yaml.null, 'comment only')\n"
    "check(yaml.decode('---\\na: 1\\n').a == 1, 'explicit start')\n"
    "check(yaml.decode('a: 1\\n---\\n').a == 1, 'trailing empty document')\n"
    "check(yaml.decode('a: 1\\n...\\n').a == 1, 'document end marker')\n"
    "check(yaml.decode('---\\n---\\na: 1\\n---\\n# nothing\\n--- ~\\n').a == 1,\n"
    "      'empty and null documents do not count')\n"
    "check(msg_of(yaml.decode, 'a: 1\\n---\\nb: 2\\n') ==\n"
    "      'yaml:2:1: stream has 2 documents; use yaml.decode_all', 'two documents')\n"
    "check(msg_of(yaml.decode, 'a: 1\\n--- [2]\\n---\\n3\\n') ==\n"
    "      'yaml:2:1: stream has 3 documents; use yaml.decode_all', 'counts all of them')\n"
    "local all = yaml.decode_all('')\n"
    "check(shape(all) == 'array' and #all == 0, 'decode_all of nothing')\n"
    "all = yaml.decode_all('---\\n~\\n---\\nnull\\n---\\n- x\\n---\\n\\'\\'\\n---\\n--- 0\\n')\n"
    "check_eq(all, yaml.decode('[[x], \"\", 0]'), 'null documents skipped, others kept')\n"
    "check(yaml.decode('~') == yaml.null and yaml.decode('5') == 5, 'scalar documents')\n"
    "check(yaml.null == debug.getregistry().vmrun_null_probe, 'yaml.null is the shared null')\n"
    "check(tostring(yaml.null) == 'null', 'null prints as null')\n"
    "local t = yaml.decode('a: ~\\nb: [1, ~, 3]\\nc: {}\\nd: []\\n')\n"
    "check(t.a == yaml.null and #t.b == 3 and t.b[2] == yaml.null, 'nulls keep keys and length')\n"
    "check(shape(t.c) == 'object' and shape(t.d) == 'array', 'empty {} and [] keep their shape')\n"
    "check(yaml.encode(t) == 'a: null\\nb:\\n- 1\\n- null\\n- 3\\nc: {}\\nd: []\\n', 'encoded')\n";

static const char encode_lua[] =
    "local pod = yaml.decode('{kind: Pod, apiVersion: v1, metadata: {name: p, labels: {app: web}}, "
    "'\n"
    "  .. 'spec: {containers: [{name: c, image: nginx, ports: [{containerPort: 80}]}]}}')\n"
    "check(yaml.encode(pod) == [[\n"
    "apiVersion: v1\n"
    "kind: Pod\n"
    "metadata:\n"
    "  labels:\n"
    "    app: web\n"
    "  name: p\n"
    "spec:\n"
    "  containers:\n"
    "  - image: nginx\n"
    "    name: c\n"
    "    ports:\n"
    "    - containerPort: 80\n"
    "]], 'block style, sorted keys, 2-space indent')\n"
    "check(yaml.encode({b = {c = 1}}, {indent = 4}) == 'b:\\n    c: 1\\n', 'indent option')\n"
    "check(yaml.encode({b = 1, B = 2, a = 3, ['a b'] = 4, ['\\u{e9}'] = 5}) ==\n"
    "      'B: 2\\na: 3\\na b: 4\\nb: 1\\n\\u{e9}: 5\\n', 'byte order of keys')\n"
    "local u = yaml.encode({b = 1, a = 2, c = 3}, {sort_keys = false})\n"
    "check(#u == 15 and yaml.decode(u).c == 3, 'unsorted keys')\n"
    "check(yaml.encode({}) == '{}\\n' and yaml.encode(yaml.decode('[]')) == '[]\\n', 'empty')\n"
    "check(yaml.encode({o = {}, l = yaml.decode('[]')}) == 'l: []\\no: {}\\n', 'empty nested')\n"
    "check(yaml.encode('true') == \"'true'\\n\", 'strings that look like booleans are quoted')\n"
    "check(yaml.encode({v = '0644', w = 'yes', x = '10Gi', y = '1.2.3'}) ==\n"
    "      \"v: '0644'\\nw: 'yes'\\nx: 10Gi\\n'y': '1.2.3'\\n\", 'YAML 1.1 lookalikes quoted')\n"
    "check(yaml.encode({s = 'a\\nb\\n'}) == 's: |\\n  a\\n  b\\n', 'literal block')\n"
    "check(yaml.encode({1, 2.5, true, yaml.null, 'x'}) == '- 1\\n- 2.5\\n- true\\n- null\\n- "
    "x\\n',\n"
    "      'scalars')\n"
    "check(yaml.encode({f = 1.0, g = 1e20, h = -0.0, i = 1/0, j = -1/0, k = 0/0}) ==\n"
    "      'f: 1.0\\ng: 1.0e+20\\nh: -0.0\\ni: .inf\\nj: -.inf\\nk: .nan\\n', 'floats')\n"
    "-- tricky strings survive a round trip as values, keys, list items and whole documents\n"
    "local strings = {'true', 'True', 'null', 'Null', '~', '', ' ', '123', '-1', '+1', '1.5', "
    "'.5',\n"
    "  '1e3', '.inf', '-.inf', '.nan', '.NaN', '0x1F', '0o17', '0644', '09', '1_000', '1:30',\n"
    "  '2024-01-01', 'yes', 'No', 'ON', 'off', 'y', 'n', '<<', '=', '1.2.3', '10Gi',\n"
    "  ' lead', 'trail ', 'a: b', 'a:b', 'a #b', 'a#b', '#a', '#', '@x', '`x', '%x', '!x', '&x',\n"
    "  '*x', '|', '>', \"'\", '\"', '{', '}', '[', ']', ',', 'a,b', '- a', '-', '?', ':', '? x',\n"
    "  'key:', 'http://x:80/a', '---', '...', '--- x', '... x', '\\\\', 'multi\\nline',\n"
    "  'trailing\\n', '\\n', '\\n\\n', ' \\nx', 'x\\n ', 'x\\r\\ny', 'x\\ry', '\\1', '\\0', "
    "'a\\0b',\n"
    "  '\\127', '\\u{e9}t\\u{e9}', '\\u{1F600}', '\\u{2028}', 'a\\u{85}b', '\\u{FEFF}x', "
    "'a\\n\\n\\nb\\n\\n',\n"
    "  '  indented\\nfirst\\n', 'x\\t', '\\tx', '\\ta\\n\\tb', 'a  b', 'a\\n b\\n  c', ('long "
    "'):rep(40),\n"
    "  ('x'):rep(200) .. '\\n' .. ('y'):rep(200), 'x\\n#y\\n', '- x\\n- y\\n', 'k: v\\n', "
    "'\\n\\na',\n"
    "  'a\\n\\n', 'a\\n\\n\\n', '  ', '\\t', 'a\\tb: c', \"it's\", 'say \"hi\"'}\n"
    "for _, s in ipairs(strings) do\n"
    "  local t = {s = s, [s] = 'key', list = {s, s}}\n"
    "  local text = yaml.encode(t)\n"
    "  local ok, back = pcall(yaml.decode, text)\n"
    "  check(ok and back.s == s and back[s] == 'key' and back.list[2] == s,\n"
    "        string.format('round trip of %q via %q: %s', s, text, tostring(back)))\n"
    "  local doc = yaml.encode(s)\n"
    "  ok, back = pcall(yaml.decode, doc)\n"
    "  check(ok and back == s, string.format('document %q via %q', s, doc))\n"
    "end\n"
    "local numbers = {0, 1, -1, math.maxinteger, math.mininteger, 0.1, 1/3, 1e300, 5e-324, 2^53,\n"
    "  -2.5e-8, 1.0, 100.0, 123456789012345.6, math.huge, -math.huge, 0/0}\n"
    "for _, n in ipairs(numbers) do\n"
    "  check_eq(yaml.decode(yaml.encode({n = n})).n, n, 'number ' .. tostring(n))\n"
    "end\n"
    "local nested = {a = {b = {c = {1, {d = {}}, yaml.decode('[]'), yaml.null}}}, e = false}\n"
    "check_eq(yaml.decode(yaml.encode(nested)), yaml.decode(yaml.encode(yaml.decode(\n"
    "  yaml.encode(nested)))), 'stable')\n"
    "check_eq(yaml.decode(yaml.encode(nested)).a.b.c[2].d, yaml.decode('{}'), 'nested empty')\n"
    "-- errors name the path\n"
    "local c = {spec = {items = {1, 2, 3}}}\n"
    "c.spec.items[4] = c\n"
    "local e = err_of(yaml.encode, c)\n"
    "check(e and e.kind == 'encode', 'cycle kind')\n"
    "check(e and e.message:find('cycle: table refers to an enclosing table at $.spec.items[4]', "
    "1,\n"
    "      true), 'cycle path: ' .. tostring(e))\n"
    "local ok, e2 = pcall(function() return yaml.encode(c) end)\n"
    "check(not ok and e2.message:find('^%[string \"encode\"%]:%d+: cycle'), 'caller location: '\n"
    "      .. tostring(e2))\n"
    "local shared = {1}\n"
    "check(yaml.encode({a = shared, b = shared}) == 'a:\\n- 1\\nb:\\n- 1\\n', 'shared is no "
    "cycle')\n"
    "local function m(v) return msg_of(yaml.encode, v) end\n"
    "check(m({a = {b = {print}}}):find('cannot encode a function at $.a.b[1]', 1, true), 'fn')\n"
    "check(m({a = io.stdout}):find('cannot encode a userdata at $.a', 1, true), 'userdata')\n"
    "check(m(nil):find('nil cannot be encoded in YAML (use yaml.null) at $', 1, true), 'nil')\n"
    "check(m({a = coroutine.create(print)}):find('cannot encode a thread at $.a', 1, true), 'th')\n"
    "check(m({x = {1, 2, y = 3}}):find('table mixes string and integer keys at $.x', 1, true),\n"
    "      'mixed')\n"
    "check(m({[1] = 1, [3] = 3}):find('table is sparse (2 items, highest index 3) at $', 1, "
    "true),\n"
    "      'sparse')\n"
    "check(m({[true] = 1}):find('table has a key of type boolean', 1, true), 'boolean key')\n"
    "check(m({[1.5] = 1}):find('table has a key 1.5', 1, true), 'float key')\n"
    "local arr = yaml.decode('[1]'); arr.x = 1\n"
    "check(m({['a b'] = arr}):find('array has a string key at $[\"a b\"]', 1, true), 'tagged "
    "array')\n"
    "local obj = yaml.decode('{}'); obj[1] = 1\n"
    "check(m(obj):find('object has a key 1 (mapping keys must be strings) at $', 1, true), 'obj')\n"
    "check(m({s = 'a\\xffb'}):find('string is not valid UTF-8 at $.s', 1, true), 'utf8 value')\n"
    "check(m({['\\xff'] = 1}):find('key is not valid UTF-8 at $[\"?\"]', 1, true), 'utf8 key')\n"
    "local deep = {}\n"
    "local cur = deep\n"
    "for i = 2, 1000 do cur.x = {}; cur = cur.x end\n"
    "check(#yaml.encode(deep) > 0, '1000 levels')\n"
    "cur.x = {}\n"
    "local dm = m(deep)\n"
    "check(dm:find('nesting deeper than 1000 levels at $...', 1, true) and dm:find('.x.x$'),\n"
    "      'depth: ' .. dm)\n";

static const char file_lua[] =
    "local v = yaml.decode_file(GOOD_FILE)\n"
    "check(v.kind == 'Pod', 'decode_file')\n"
    "local all = yaml.decode_file(MULTI_FILE, {all = true})\n"
    "check(#all == 2 and all[2].kind == 'Service', 'decode_file all')\n"
    "local e = err_of(yaml.decode_file, MULTI_FILE)\n"
    "check(e and e.message == MULTI_FILE .. ':3:1: stream has 2 documents; use yaml.decode_all',\n"
    "      'file errors name the file: ' .. tostring(e))\n"
    "e = err_of(yaml.decode_file, BAD_FILE)\n"
    "check(e and e.kind == 'decode' and e.resource == BAD_FILE and e.line == 3 and e.column == 7,\n"
    "      'bad file: ' .. tostring(e))\n"
    "e = err_of(yaml.decode_file, '/nonexistent/dir/x.yaml')\n"
    "check(e and e.kind == 'input' and e.resource == '/nonexistent/dir/x.yaml', 'missing file')\n"
    "check(e and e.message:find('/nonexistent/dir/x.yaml: No such file or directory', 1, true),\n"
    "      'missing file message: ' .. tostring(e))\n"
    "check(msg_of(yaml.decode_file, GOOD_FILE, {name = 'x'}):find(\"unknown option 'name'\", 1,\n"
    "      true), 'decode_file options')\n";

static char *write_temp(const char *content) {
  char path[] = "/tmp/test_yaml_XXXXXX";
  int fd = mkstemp(path);
  size_t n = strlen(content);
  if (fd < 0) return NULL;
  if (write(fd, content, n) != (ssize_t)n) {
    close(fd);
    return NULL;
  }
  close(fd);
  return strdup(path);
}

static void test_files(lua_State *L) {
  char *good = write_temp("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n");
  char *multi = write_temp("kind: Pod\nmetadata: {name: p}\n---\nkind: Service\n");
  char *bad = write_temp("kind: Pod\nspec:\n  a: b: c\n");
  CHECK(good != NULL && multi != NULL && bad != NULL);
  if (good == NULL || multi == NULL || bad == NULL) return;
  lua_pushstring(L, good);
  lua_setglobal(L, "GOOD_FILE");
  lua_pushstring(L, multi);
  lua_setglobal(L, "MULTI_FILE");
  lua_pushstring(L, bad);
  lua_setglobal(L, "BAD_FILE");
  run_lua(L, "=files", file_lua);
  unlink(good);
  unlink(multi);
  unlink(bad);
  free(good);
  free(multi);
  free(bad);
}

/* The C API leaves the stack as it found it on failure and pushes exactly one value on success. */
static void test_stack(lua_State *L) {
  static const char *const bad[] = {
      "a: [",
      "a:\n  b:\n    c:\n      d: 1\n      d: 2\n",
      "a: &x [1]\nb:\n  - - *y\n",
      "a: 1\n---\nb: 2\n",
      "a:\n  - {b: [1, {c: !bad x}]}\n",
      "x: {<<: [1]}\n",
  };
  vr_codec_error err;
  int top, i;
  lua_settop(L, 0);
  lua_pushliteral(L, "sentinel");
  top = lua_gettop(L);
  for (i = 0; i < (int)(sizeof bad / sizeof bad[0]); i++) {
    CHECK(vr_yaml_decode(L, bad[i], strlen(bad[i]), 0, &err) == 0);
    CHECK(lua_gettop(L) == top);
    CHECK(err.line > 0 && err.column > 0 && err.message[0] != '\0');
    CHECK(vr_yaml_decode(L, bad[i], strlen(bad[i]), 1, NULL) == 0 || i == 3);
    lua_settop(L, top);
  }
  CHECK(vr_yaml_decode(L, "a: 1\n", 5, 0, &err) == 1);
  CHECK(lua_gettop(L) == top + 1 && lua_type(L, -1) == LUA_TTABLE);
  CHECK(vr_shape_get(L, -1) == VR_SHAPE_OBJECT);
  lua_settop(L, top);
  /* a \0 escape gives a string with a NUL byte; text is read up to `len`, not to a NUL */
  CHECK(vr_yaml_decode(L, "a: \"x\\0y\"\nb: 2", 14, 0, &err) == 1);
  lua_getfield(L, -1, "a");
  CHECK(lua_rawlen(L, -1) == 3);
  lua_settop(L, top);
  CHECK(vr_yaml_decode(L, "a: 1\nb: 2\n", 4, 0, &err) == 1); /* only "a: 1" */
  lua_getfield(L, -1, "b");
  CHECK(lua_isnil(L, -1));
  lua_settop(L, top);

  /* encode: a cycle deep inside fails with the stack unchanged */
  CHECK(luaL_dostring(L, "local t = {a = {b = {{c = {}}}}}; t.a.b[1].c.d = t.a; return t") ==
        LUA_OK);
  top = lua_gettop(L);
  CHECK(vr_yaml_encode(L, -1, NULL, &err) == 0);
  CHECK(lua_gettop(L) == top);
  CHECK_CONTAINS(err.message, "cycle: table refers to an enclosing table at $.a.b[1].c.d");
  CHECK(err.line == 0);
  lua_pushcfunction(L, l_check);
  CHECK(vr_yaml_encode(L, -1, NULL, NULL) == 0);
  CHECK(lua_gettop(L) == top + 1);
  lua_settop(L, top);
  lua_pushinteger(L, 7);
  CHECK(vr_yaml_encode(L, -1, NULL, &err) == 1 && lua_gettop(L) == top + 2);
  CHECK_STR(lua_tostring(L, -1), "7\n");
  lua_settop(L, 0);
}

/* The cJSON bridge: non-empty documents, their start lines, numbers, aliases, limits. */
#define Y2C(text, lines) vr_yaml_to_cjson((text), strlen(text), (lines), &err)

static void test_cjson(void) {
  static int not_reset;
  vr_codec_error err;
  int *lines = NULL;
  cJSON *docs, *d, *x;
  char *s;

  docs = vr_yaml_to_cjson(manifest, strlen(manifest), &lines, &err);
  CHECK(docs != NULL && cJSON_IsArray(docs) && cJSON_GetArraySize(docs) == 4);
  if (docs != NULL && lines != NULL) {
    CHECK(lines[0] == 2 && lines[1] == 24 && lines[2] == 56 && lines[3] == 95); /* root nodes */
    d = cJSON_GetArrayItem(docs, 1);
    x = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(d, "metadata"), "name");
    CHECK_STR(cJSON_GetStringValue(x), "web-0");
    x = cJSON_GetObjectItemCaseSensitive(d, "spec");
    x = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(x, "volumes"), 0);
    x = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(x, "configMap"),
                                         "defaultMode");
    CHECK(cJSON_IsNumber(x) && x->valuedouble == 420);
    x = cJSON_GetObjectItemCaseSensitive(d, "status");
    CHECK(cJSON_IsObject(x) && x->child == NULL);
    x = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(docs, 3), "items");
    CHECK(cJSON_GetArraySize(x) == 2);
  }
  cJSON_Delete(docs);
  free(lines);

  {
    static const char text[] = "---\n~\n---\na: [1, 2.5, true, null, '3', {}, []]\n"
                               "b: &b {c: x}\nd: *b\ne: {<<: *b, f: 0x10}\n---\n---\n- z\n";
    lines = NULL;
    docs = vr_yaml_to_cjson(text, strlen(text), &lines, &err);
    CHECK(docs != NULL && cJSON_GetArraySize(docs) == 2);
    if (docs != NULL && lines != NULL) {
      CHECK(lines[0] == 4 && lines[1] == 10); /* the root nodes, not the "---" */
      s = cJSON_PrintUnformatted(docs);
      CHECK_STR(s, "[{\"a\":[1,2.5,true,null,\"3\",{},[]],\"b\":{\"c\":\"x\"},\"d\":{\"c\":\"x\"},"
                   "\"e\":{\"f\":16,\"c\":\"x\"}},[\"z\"]]");
      free(s);
      /* an alias is a copy: changing it leaves the anchored node alone */
      d = cJSON_GetArrayItem(docs, 0);
      cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(d, "d"), "c",
                                             cJSON_CreateString("changed"));
      x = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(d, "b"), "c");
      CHECK_STR(cJSON_GetStringValue(x), "x");
    }
    cJSON_Delete(docs);
    free(lines);
  }

  lines = NULL;
  docs = vr_yaml_to_cjson("", 0, &lines, &err);
  CHECK(docs != NULL && cJSON_GetArraySize(docs) == 0 && lines == NULL);
  cJSON_Delete(docs);

  docs = Y2C("a: 1\n---\nb: [", NULL);
  CHECK(docs == NULL);
  CHECK(err.line == 4 && err.column == 1);

  lines = &not_reset;
  docs = Y2C("a: 9007199254740993\n", &lines);
  CHECK(docs == NULL && lines == NULL);
  CHECK_STR(err.message, "integer 9007199254740993 cannot be held exactly by a cJSON number "
                         "(limit 2^53)");
  CHECK(err.line == 1 && err.column == 4);
  docs = Y2C("a: 9007199254740992\nb: -9007199254740992\n", NULL);
  CHECK(docs != NULL);
  cJSON_Delete(docs);
  docs = Y2C("a: 99999999999999999999\n", NULL);
  CHECK(docs == NULL && strstr(err.message, "limit 2^53") != NULL);
  docs = Y2C("a: [1, .inf]\n", NULL);
  CHECK(docs == NULL && err.line == 1 && err.column == 8);
  CHECK_STR(err.message, ".inf cannot be held by a cJSON number");
  docs = Y2C("a: \"x\\0y\"\n", NULL);
  CHECK(docs == NULL);
  CHECK_STR(err.message, "string with a NUL character cannot be held by cJSON");
  docs = Y2C("a: 1\nb: 2\na: 3\n", NULL);
  CHECK(docs == NULL && err.line == 3 && err.column == 1);
  CHECK_STR(err.message, "duplicate key 'a'");
  docs = Y2C("a: !!float 1\nb: !!str 2\nc: !!int '3'\n", NULL);
  s = docs ? cJSON_PrintUnformatted(docs) : NULL;
  CHECK_STR(s, "[{\"a\":1,\"b\":\"2\",\"c\":3}]");
  free(s);
  cJSON_Delete(docs);

  {
    /* billion laughs: the cJSON path would really expand the aliases */
    char text[2048];
    size_t n = 0;
    const char *names = "abcdefghi";
    int i;
    n += (size_t)snprintf(text + n, sizeof text - n, "a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for (i = 1; i < 9; i++) {
      char p = names[i - 1];
      n += (size_t)snprintf(text + n, sizeof text - n,
                            "%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n",
                            names[i], names[i], p, p, p, p, p, p, p, p, p, p);
    }
    docs = vr_yaml_to_cjson(text, n, NULL, &err);
    CHECK(docs == NULL);
    CHECK_STR(err.message, "aliases expand to more than 1000000 nodes");
    CHECK(err.line == 6);
  }
  {
    /* wide mappings (hashed key sets on the cJSON path) still find duplicates */
    char text[4096];
    size_t n = 0;
    int i;
    for (i = 0; i < 100; i++) n += (size_t)snprintf(text + n, sizeof text - n, "k%d: %d\n", i, i);
    docs = vr_yaml_to_cjson(text, n, NULL, &err);
    CHECK(docs != NULL && cJSON_GetArraySize(cJSON_GetArrayItem(docs, 0)) == 100);
    CHECK(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(docs, 0), "k99") != NULL);
    cJSON_Delete(docs);
    n += (size_t)snprintf(text + n, sizeof text - n, "k77: again\n");
    docs = vr_yaml_to_cjson(text, n, NULL, &err);
    CHECK(docs == NULL && err.line == 101 && err.column == 1);
    CHECK_STR(err.message, "duplicate key 'k77'");
  }
  {
    /* merge sources that are anchored inline stay valid for later aliases */
    static const char text[] = "a: {<<: &m {x: 1}, y: 2}\nb: *m\nc: {<<: [*m, {z: 3}]}\n";
    docs = vr_yaml_to_cjson(text, strlen(text), NULL, &err);
    s = docs ? cJSON_PrintUnformatted(docs) : NULL;
    CHECK_STR(s, "[{\"a\":{\"y\":2,\"x\":1},\"b\":{\"x\":1},\"c\":{\"x\":1,\"z\":3}}]");
    free(s);
    cJSON_Delete(docs);
  }
}

/* Parses text once whole and once in two halves (the split threshold lowered to 8 bytes): the
 * same documents, start lines and error (message, line, column) both ways. Returns the number of
 * documents of the whole parse, or -1 when it failed. */
static int same_split_or_not(const char *text) {
  size_t saved = vr_yaml_split_min_bytes;
  vr_codec_error whole_err, split_err;
  int *whole_lines = NULL, *split_lines = NULL, n = -1, i;
  cJSON *whole, *split;
  vr_yaml_split_min_bytes = (size_t)-1;
  whole = vr_yaml_to_cjson(text, strlen(text), &whole_lines, &whole_err);
  vr_yaml_split_min_bytes = 8;
  split = vr_yaml_to_cjson(text, strlen(text), &split_lines, &split_err);
  vr_yaml_split_min_bytes = saved;
  CHECK((whole == NULL) == (split == NULL));
  if (whole != NULL && split != NULL) {
    n = cJSON_GetArraySize(whole);
    CHECK(cJSON_Compare(whole, split, 1));
    CHECK(n == cJSON_GetArraySize(split));
    for (i = 0; i < n && whole_lines && split_lines; i++) CHECK(whole_lines[i] == split_lines[i]);
  } else {
    CHECK_STR(split_err.message, whole_err.message);
    CHECK(split_err.line == whole_err.line && split_err.column == whole_err.column);
  }
  cJSON_Delete(whole);
  cJSON_Delete(split);
  free(whole_lines);
  free(split_lines);
  return n;
}

/* vr_yaml_to_cjson in two halves at once: split at a "---" line after the middle; anything a
 * half cannot parse alone (an unterminated scalar across the marker, an alias to an earlier
 * document's anchor, too many alias nodes in all) gives what one parse gives. */
static void test_cjson_split(void) {
  static const char *const streams[] = {
      "a: 1\n---\nb: 2\n---\nc: [3]\n---\nd: {e: 4}\n",                    /* four documents */
      "kind: List\nitems:\n- a: 1\n- b: 2\n---\n# c\n\n---\nz: 26\n---\n", /* 2 empty */
      "x: 1\n--- \ny: 2\n---\t# t\nw: 3\n---\r\nv: 4\n",                   /* marker forms */
      "a: 1\n---\nb: 2\n---\nc: [\n",                  /* an error in the second half */
      "a: [\n---\nb: 2\n---\nc: 3\n---\nd: 4\n",       /* an error in the first half */
      "a: 'x\n---\ny'\n---\nb: 1\n---\nc: 2\n",        /* a quoted scalar across a marker */
      "a: &x 1\n---\nb: 2\n---\nc: *x\n---\nd: 1\n",   /* an alias to an earlier document */
      "a: 1\n---\nb: 2\n---\nc: 3\n---\nd: 4\nd: 5\n", /* a duplicate key after the split */
      "%YAML 1.2\n---\na: 1\n---\nb: 2\n%TAG ! t:\n---\nc: !x 3\n", /* directives: no split */
      "---\nlong: ...........................................................\n---\nz: 1\n",
      "a: 1\n---x: no marker\n----\nb: 2\n",                 /* not markers: one document */
      "a: 1\rb: 2\rc: 3\n---\nd: 4\n---\ne: 5\n",            /* lone CRs break lines too */
      "a: \"x\xE2\x80\xA8y\"\nb: 2\n---\nd: 4\n---\ne: 5\n", /* so does LS (U+2028) */
      "a: 1\r\nb: 2\r\n---\r\nc: 3\r\n---\r\nd: 4\r\n",      /* CRLF counts once */
  };
  static const int docs[] = {4, 2, 4, -1, -1, -1, -1, -1, -1, 2, -1, 3, 3, 3};
  size_t i, halves = vr_yaml_halves_parsed();
  for (i = 0; i < sizeof streams / sizeof streams[0]; i++) {
    int n = same_split_or_not(streams[i]);
    if (n != docs[i]) fprintf(stderr, "stream %zu: %d documents, expected %d\n", i, n, docs[i]);
    CHECK(n == docs[i]);
  }
  /* every stream but the one with directives and the one without a marker after its middle
   * was split (the second parse of each) */
  CHECK(vr_yaml_halves_parsed() - halves == sizeof streams / sizeof streams[0] - 2);
  { /* 600,000 alias nodes in each half: fine alone, over the limit together */
    char text[4096];
    size_t n = 0;
    int doc, level;
    for (doc = 0; doc < 2; doc++) {
      const char *names = "abcde";
      n += (size_t)snprintf(text + n, sizeof text - n,
                            "---\na: &a [x, x, x, x, x, x, x, x, x, x]\n");
      for (level = 1; level < 5; level++) {
        char p = names[level - 1];
        n += (size_t)snprintf(text + n, sizeof text - n,
                              "%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n",
                              names[level], names[level], p, p, p, p, p, p, p, p, p, p);
      }
      n += (size_t)snprintf(text + n, sizeof text - n, "f: [*e, *e, *e, *e, *e, *e]\n");
    }
    halves = vr_yaml_halves_parsed();
    CHECK(same_split_or_not(text) == -1);
    CHECK(vr_yaml_halves_parsed() == halves + 1);
  }
  { /* many documents, a few thousand lines: the second half's lines count from the first's */
    char *text = malloc(200000);
    size_t n = 0;
    int k;
    CHECK(text != NULL);
    for (k = 0; text && k < 3000; k++) {
      n += (size_t)snprintf(text + n, 200000 - n, "---\nname: vm-%d\nspec:\n  cpu: %d\n", k, k % 7);
    }
    if (text) CHECK(same_split_or_not(text) == 3000);
    if (text) snprintf(text + n, 200000 - n, "---\nbad: [\n");
    if (text) CHECK(same_split_or_not(text) == -1);
    free(text);
  }
}

/* An allocator that fails once a budget of growing allocations is spent (-1: no limit). */
static long alloc_budget = -1;

static void *limited_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  (void)ud;
  if (nsize == 0) {
    free(ptr);
    return NULL;
  }
  if (ptr == NULL || nsize > osize) {
    if (alloc_budget == 0) return NULL;
    if (alloc_budget > 0) alloc_budget--;
  }
  return realloc(ptr, nsize);
}

/* Lua memory errors may strike anywhere in decode and encode: whatever the codec holds outside
 * Lua (libyaml state, frames, anchors, buffers) must still be released (checked by ASan/valgrind
 * at exit) and nothing may crash. */
static void test_memory_errors(void) {
  static const char code[] = "local text = ...\n"
                             "return function()\n"
                             "  local docs = yaml.decode_all(text)\n"
                             "  local again = yaml.decode(yaml.encode(docs))\n"
                             "  return #again\n"
                             "end\n";
  static const char text[] = "a: &a {x: [1, 2, {y: z}], s: 'str'}\nb: {<<: *a, c: *a}\n"
                             "---\n- &k key: value\n- *k : again\n- [1.5, .inf, ~, true, \"q\"]\n";
  lua_State *L = lua_newstate(limited_alloc, NULL);
  long n;
  int done = 0, memerrs = 0;
  luaL_openlibs(L);
  vr_error_init(L);
  luaL_requiref(L, "yaml", luaopen_vmrun_yaml, 1);
  lua_setglobal(L, "yaml");
  CHECK(luaL_loadstring(L, code) == LUA_OK);
  lua_pushstring(L, text);
  CHECK(lua_pcall(L, 1, 1, 0) == LUA_OK); /* stack: fn */
  for (n = 0; n < 100000 && !done; n++) {
    int status;
    lua_pushvalue(L, 1);
    alloc_budget = n;
    status = lua_pcall(L, 0, 1, 0);
    alloc_budget = -1;
    if (status == LUA_OK) {
      CHECK(lua_tointeger(L, -1) == 2);
      done = 1;
    } else if (status == LUA_ERRMEM) {
      memerrs++;
    } else {
      /* lua_checkstack failing for want of memory surfaces as a decode/encode error */
      CHECK(vr_error_is(L, -1));
    }
    lua_settop(L, 1);
    lua_gc(L, LUA_GCCOLLECT);
  }
  CHECK(done);
  CHECK(memerrs > 10);
  lua_close(L);
}

int main(void) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  vr_error_init(L);
  luaL_requiref(L, "yaml", luaopen_vmrun_yaml, 1);
  lua_pop(L, 1);
  vr_null_push(L);
  lua_setfield(L, LUA_REGISTRYINDEX, "vmrun_null_probe");
  lua_register(L, "check", l_check);
  lua_register(L, "check_eq", l_check_eq);
  lua_pushstring(L, manifest);
  lua_setglobal(L, "MANIFEST");
  run_lua(L, "=prelude", prelude_lua);

  run_lua(L, "=manifest", manifest_lua);
  run_lua(L, "=scalars", scalars_lua);
  run_lua(L, "=blocks", blocks_lua);
  run_lua(L, "=anchors", anchors_lua);
  run_lua(L, "=errors", errors_lua);
  run_lua(L, "=documents", documents_lua);
  run_lua(L, "encode", encode_lua);
  test_files(L);
  test_stack(L);
  test_cjson();
  test_cjson_split();
  test_memory_errors();

  lua_close(L);
  return CHECK_DONE();
}
