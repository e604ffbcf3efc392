-- tests/e2e/lib/deploy_rbac.lua: the Lua half of tests/e2e/deploy_rbac.sh, run by vmrun itself
-- (`vmrun -q deploy_rbac.lua COMMAND ...`). It reads deploy/kubernetes/ with yaml.decode_file and:
--   shape DIR                      checks every manifest's shape (exit 1 naming what is wrong)
--   mount DIR FILE ROOT            lays out, under ROOT/VOLUME, what the pod spec in FILE mounts:
--                                  the ConfigMap's files (the config without its step: the
--                                  simulator reboots the nodes), empty folders for the others
--   argv DIR FILE ROOT KUBECONFIG [RUN_ID]
--                                  prints the container's command line from FILE, one argument a
--                                  line, as it runs here: --in-cluster becomes --kubeconfig, each
--                                  mount path ROOT/VOLUME, RUN_ID the run's id
--   check DIR LOG...               turns every request of `vmrun serve`'s logs into what the
--                                  Kubernetes authorizer sees, prints the rules they need, and
--                                  checks them against clusterrole.yaml and role.yaml both ways
local command = ...
local args = { select(2, ...) }

local failures = {}
local function problem(fmt, ...) failures[#failures + 1] = fmt:format(...) end
local function finish(ok_text)
  if #failures > 0 then
    for _, f in ipairs(failures) do io.stderr:write("deploy_rbac: ", f, "\n") end
    os.exit(1)
  end
  if ok_text then print(ok_text) end
end

local function docs_of(path) return yaml.decode_file(path, { all = true }) end

local function set_of(list)
  local s = {}
  for _, v in ipairs(list or {}) do s[v] = true end
  return s
end

-- --- the manifests ---------------------------------------------------------------------------------

local NAMESPACE, ACCOUNT = "vmrun-system", "vmrun"

-- every manifest of DIR (and DIR/jobs): {file, doc}
local function manifests(dir)
  local out = {}
  for _, sub in ipairs({ "", "/jobs" }) do
    local r = exec.run({ "sh", "-c", 'ls "$1"/*.yaml', "-", dir .. sub }, { check = true })
    for file in r.stdout:gmatch("[^\n]+") do
      for _, doc in ipairs(docs_of(file)) do out[#out + 1] = { file = file, doc = doc } end
    end
  end
  return out
end

local function one(dir, file, kind)
  local docs = docs_of(dir .. "/" .. file)
  if #docs ~= 1 or docs[1].kind ~= kind then
    error(("%s/%s: expected one %s"):format(dir, file, kind), 0)
  end
  return docs[1]
end

-- The pod spec of a CronJob or a Job.
local function pod_spec(doc)
  if doc.kind == "CronJob" then return doc.spec.jobTemplate.spec.template.spec end
  return doc.spec.template.spec
end

local function check_pod(where, spec)
  local sc = spec.securityContext or {}
  if spec.serviceAccountName ~= ACCOUNT then problem("%s: serviceAccountName is not %s", where, ACCOUNT) end
  if spec.restartPolicy ~= "Never" then problem("%s: restartPolicy must be Never (a run is resumed, not restarted)", where) end
  if sc.runAsNonRoot ~= true then problem("%s: securityContext.runAsNonRoot is not true", where) end
  if math.type(sc.runAsUser) ~= "integer" or sc.runAsUser == 0 then problem("%s: runAsUser must be a non-zero uid", where) end
  if sc.fsGroup ~= sc.runAsUser then problem("%s: fsGroup must be the uid's group (the journal volume is written)", where) end
  if not (sc.seccompProfile and sc.seccompProfile.type == "RuntimeDefault") then
    problem("%s: seccompProfile is not RuntimeDefault", where)
  end
  if #(spec.containers or {}) ~= 1 then problem("%s: expected one container", where) return end
  local c = spec.containers[1]
  local csc = c.securityContext or {}
  local image = type(c.image) == "string" and c.image or ""
  if not (image:match("^[%w./:_-]+:[%w._-]+$") or image:match("^[%w./:_-]+@sha256:%x+$")) or image:match(":latest$") then
    problem("%s: the image %s is not a reference with a tag (not latest) or a digest", where, tostring(c.image))
  end
  if not (type(c.command) == "table" and c.command[1] == "vmrun") then problem("%s: the command is not vmrun", where) end
  if csc.readOnlyRootFilesystem ~= true then problem("%s: readOnlyRootFilesystem is not true", where) end
  if csc.allowPrivilegeEscalation ~= false then problem("%s: allowPrivilegeEscalation is not false", where) end
  local drop = csc.capabilities and csc.capabilities.drop or {}
  if #drop ~= 1 or drop[1] ~= "ALL" then problem("%s: capabilities.drop is not [ALL]", where) end
  local volumes = {}
  for _, v in ipairs(spec.volumes or {}) do volumes[v.name] = v end
  local state
  for _, m in ipairs(c.volumeMounts or {}) do
    if volumes[m.name] == nil then problem("%s: volumeMount %s names no volume", where, m.name) end
    if m.mountPath == "/var/lib/vmrun" then state = volumes[m.name] end
  end
  if not (state and state.persistentVolumeClaim and state.persistentVolumeClaim.claimName == "vmrun-state") then
    problem("%s: /var/lib/vmrun (the journal) is not the PersistentVolumeClaim vmrun-state", where)
  end
  local argv = c.args or {}
  local has_state = false
  for i, a in ipairs(argv) do
    if a == "--state-dir" and argv[i + 1] == "/var/lib/vmrun" then has_state = true end
  end
  if not has_state then problem("%s: the command line has no --state-dir /var/lib/vmrun", where) end
end

-- The cluster lock the ConfigMap's config names (lock = {namespace=, name=}), else lock's defaults.
local function lock_of(dir)
  local ns, name = lock.DEFAULT_NAMESPACE, lock.DEFAULT_NAME
  for _, text in pairs(one(dir, "configmap.yaml", "ConfigMap").data or {}) do
    local config = yaml.decode(text)
    if type(config) == "table" and type(config.lock) == "table" then
      ns, name = config.lock.namespace or ns, config.lock.name or name
    end
  end
  return ns, name
end

local function shape(dir)
  local all = manifests(dir)
  local kinds = {}
  local lock_ns, lock_name = lock_of(dir)
  for _, m in ipairs(all) do
    local d, where = m.doc, m.file
    if type(d) == "table" and d.kind == "Kustomization" then
      local listed = set_of(d.resources)
      for _, other in ipairs(all) do
        local base = other.file:match("([^/]+%.yaml)$")
        if not other.file:match("/jobs/[^/]+$") and base ~= "kustomization.yaml" and not listed[base] then
          problem("%s: does not list %s", where, base)
        end
      end
    elseif type(d) ~= "table" or type(d.apiVersion) ~= "string" or type(d.kind) ~= "string" then
      problem("%s: a document without apiVersion and kind", where)
    elseif type(d.metadata) ~= "table" or (type(d.metadata.name) ~= "string" and type(d.metadata.generateName) ~= "string") then
      problem("%s: %s without metadata.name", where, d.kind)
    else
      where = ("%s: %s %s"):format(where, d.kind, d.metadata.name or d.metadata.generateName)
      kinds[d.kind] = (kinds[d.kind] or 0) + 1
      local namespaced = d.kind ~= "Namespace" and d.kind ~= "ClusterRole" and d.kind ~= "ClusterRoleBinding"
        and d.kind ~= "Kustomization"
      local lock_kind = d.kind == "Role" or d.kind == "RoleBinding"
      local want_ns = lock_kind and lock_ns or NAMESPACE
      if namespaced and d.metadata.namespace ~= want_ns then
        problem("%s: namespace %s, not %s%s", where, tostring(d.metadata.namespace), want_ns,
          lock_kind and " (the cluster lock's, as configmap.yaml names it)" or "")
      end
      if d.kind == "Namespace" and d.metadata.name ~= NAMESPACE then problem("%s: not %s", where, NAMESPACE) end
      if d.kind == "ServiceAccount" and d.metadata.name ~= ACCOUNT then problem("%s: not %s", where, ACCOUNT) end
      if d.kind == "Role" then
        for _, rule in ipairs(d.rules or {}) do
          for _, name in ipairs(rule.resourceNames or {}) do
            if name ~= lock_name then problem("%s: resourceNames %s is not the lock's Lease %s", where, name, lock_name) end
          end
        end
      end
      if d.kind == "ClusterRoleBinding" or d.kind == "RoleBinding" then
        local s = d.subjects or {}
        if #s ~= 1 or s[1].kind ~= "ServiceAccount" or s[1].name ~= ACCOUNT or s[1].namespace ~= NAMESPACE then
          problem("%s: subjects must be the ServiceAccount %s/%s alone", where, NAMESPACE, ACCOUNT)
        end
        local want = d.kind == "RoleBinding" and "Role" or "ClusterRole"
        if not (d.roleRef and d.roleRef.kind == want and d.roleRef.apiGroup == "rbac.authorization.k8s.io") then
          problem("%s: roleRef is not a %s", where, want)
        end
      elseif d.kind == "CronJob" then
        local s = d.spec or {}
        if s.concurrencyPolicy ~= "Forbid" then problem("%s: concurrencyPolicy is not Forbid", where) end
        if type(s.schedule) ~= "string" then problem("%s: no schedule", where) end
        if s.jobTemplate.spec.backoffLimit ~= 0 then problem("%s: backoffLimit must be 0 (a failed run is resumed, not run anew)", where) end
        check_pod(where, pod_spec(d))
        local argv = pod_spec(d).containers[1].args or {}
        local ok_argv = argv[1] == "--in-cluster"
        local playbook
        for _, a in ipairs(argv) do
          if a:match("%.lua$") then playbook = playbook or a end
        end
        if not ok_argv or playbook ~= "playbooks/rolling-maintenance.lua" then
          problem("%s: the command is not vmrun --in-cluster ... playbooks/rolling-maintenance.lua", where)
        end
      elseif d.kind == "Job" then
        check_pod(where, pod_spec(d))
      end
    end
  end
  for _, k in ipairs({ "Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
    "PersistentVolumeClaim", "ConfigMap", "CronJob" }) do
    if kinds[k] ~= 1 then problem("%s: expected one %s, found %d", dir, k, kinds[k] or 0) end
  end
  finish(("manifests: %d documents, shapes ok"):format(#all))
end

-- --- a pod's command line, run here ---------------------------------------------------------------

local function container(dir, file)
  local doc = docs_of(dir .. "/" .. file)[1]
  local spec = pod_spec(doc)
  return spec, spec.containers[1]
end

local function mount(dir, file, root)
  local spec, c = container(dir, file)
  local volumes = {}
  for _, v in ipairs(spec.volumes or {}) do volumes[v.name] = v end
  for _, m in ipairs(c.volumeMounts or {}) do
    local target = root .. "/" .. m.name
    exec.run({ "mkdir", "-p", target }, { check = true })
    local cm = volumes[m.name].configMap
    if cm then
      local map = one(dir, "configmap.yaml", "ConfigMap")
      if map.metadata.name ~= cm.name then error(("%s: no ConfigMap %s"):format(file, cm.name), 0) end
      for name, text in pairs(map.data) do
        local value = yaml.decode(text, { name = "configmap.yaml: " .. name })
        if type(value) == "table" and value.step == nil then
          error(("configmap.yaml: %s has no step (required on a real cluster)"):format(name), 0)
        end
        if type(value) == "table" then value.step = nil end -- the simulator reboots the node itself
        local f = assert(io.open(target .. "/" .. name, "w"))
        f:write(type(value) == "table" and yaml.encode(value) or text)
        f:close()
      end
    end
  end
end

local function argv(dir, file, root, kubeconfig, run_id)
  local _, c = container(dir, file)
  local mounts = {}
  for _, m in ipairs(c.volumeMounts or {}) do mounts[#mounts + 1] = m end
  table.sort(mounts, function(a, b) return #a.mountPath > #b.mountPath end) -- the deepest first
  for _, a in ipairs(c.args or {}) do
    if a == "--in-cluster" then
      print("--kubeconfig")
      print(kubeconfig)
    elseif a == "RUN_ID" then
      print(run_id or error(file .. ": RUN_ID needs a run id", 0))
    else
      for _, m in ipairs(mounts) do
        if a == m.mountPath or a:sub(1, #m.mountPath + 1) == m.mountPath .. "/" then
          a = root .. "/" .. m.name .. a:sub(#m.mountPath + 1)
          break
        end
      end
      print(a)
    end
  end
end

-- --- requests as the authorizer sees them ---------------------------------------------------------

-- What the default ClusterRole system:discovery (bound to every authenticated user) lets anyone
-- read that is not a resource.
local DISCOVERY = { "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*",
  "/readyz", "/version", "/version/" }
local function discovery_allows(path)
  for _, p in ipairs(DISCOVERY) do
    if p == path or (p:sub(-1) == "*" and path:sub(1, #p - 1) == p:sub(1, -2)) then return true end
  end
  return false
end

-- Kinds that vmrun looks for in groups that `vmrun serve` does not serve: the 404 of the group's
-- discovery is all the log shows; on a cluster that serves the group vmrun lists and watches
-- the kind (actors.detect: the deprecated NodeMaintenance group of the old operator).
local ABSENT = { ["nodemaintenance.kubevirt.io"] = "nodemaintenances" }

local function unescape(s)
  return (s:gsub("+", " "):gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

local function query_of(q)
  local out = {}
  for pair in (q or ""):gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    out[unescape(k)] = unescape(v)
  end
  return out
end

local TRUE = set_of({ "1", "t", "T", "true", "TRUE", "True" }) -- Go's strconv.ParseBool

-- One logged request as the API server's RequestInfo: {verb, group, resource (with
-- "/subresource"), namespace, name}, or {nonresource = path}, or nil for the sim.vmrun.io group.
local function request_info(r)
  local parts = {}
  for p in r.path:gmatch("[^/]+") do parts[#parts + 1] = p end
  if #parts < 3 or (parts[1] ~= "api" and parts[1] ~= "apis") then return { nonresource = r.path } end
  local info, rest = {}, {}
  if parts[1] == "api" then
    info.group = ""
    table.move(parts, 3, #parts, 1, rest)
  else
    if #parts < 4 then return { nonresource = r.path } end
    info.group = parts[2]
    table.move(parts, 4, #parts, 1, rest)
  end
  if info.group == "sim.vmrun.io" then return nil end
  local query = query_of(r.query)
  local watch_path = false
  if rest[1] == "watch" then
    watch_path = true
    table.remove(rest, 1)
  end
  if rest[1] == "namespaces" and #rest > 1 then
    info.namespace = rest[2]
    if #rest > 2 and rest[3] ~= "status" and rest[3] ~= "finalize" then
      rest = table.move(rest, 3, #rest, 1, {})
    end
  end
  info.resource, info.name = rest[1], rest[2]
  if rest[3] then info.resource = info.resource .. "/" .. rest[3] end
  local m = r.method
  if watch_path then
    info.verb = "watch"
  elseif m == "GET" or m == "HEAD" then
    if info.name then
      info.verb = "get"
    else
      info.verb = TRUE[query.watch or ""] and "watch" or "list"
      local by_name = (query.fieldSelector or ""):match("^metadata%.name==?([^,]+)$")
      if by_name then info.name = by_name end
    end
  elseif m == "POST" then
    info.verb = "create"
  elseif m == "PUT" then
    info.verb = "update"
  elseif m == "PATCH" then
    info.verb = "patch"
  elseif m == "DELETE" then
    info.verb = info.name and "delete" or "deletecollection"
  else
    info.verb = m:lower()
  end
  return info
end

-- --- the rules -----------------------------------------------------------------------------------

local function rules_of(dir)
  local list = {}
  local function add(doc, file, namespace)
    for i, rule in ipairs(doc.rules or {}) do
      for _, field in ipairs({ "apiGroups", "resources", "verbs", "resourceNames" }) do
        for _, v in ipairs(rule[field] or {}) do
          if v == "*" then problem("%s rule %d: %s has a wildcard: grant what is used, by name", file, i, field) end
        end
      end
      if rule.nonResourceURLs then problem("%s rule %d: nonResourceURLs (discovery is system:discovery's)", file, i) end
      list[#list + 1] = { file = file, index = i, namespace = namespace, groups = set_of(rule.apiGroups),
        resources = set_of(rule.resources), verbs = set_of(rule.verbs),
        names = rule.resourceNames and set_of(rule.resourceNames) or nil, rule = rule }
    end
  end
  local cr = one(dir, "clusterrole.yaml", "ClusterRole")
  add(cr, "clusterrole.yaml", nil)
  local role = one(dir, "role.yaml", "Role")
  add(role, "role.yaml", role.metadata.namespace)
  local crb = one(dir, "clusterrolebinding.yaml", "ClusterRoleBinding")
  local rb = one(dir, "rolebinding.yaml", "RoleBinding")
  if crb.roleRef.name ~= cr.metadata.name then problem("clusterrolebinding.yaml binds %s, not %s", crb.roleRef.name, cr.metadata.name) end
  if rb.roleRef.name ~= role.metadata.name or rb.metadata.namespace ~= role.metadata.namespace then
    problem("rolebinding.yaml binds %s in %s, not the Role %s in %s", rb.roleRef.name, tostring(rb.metadata.namespace),
      role.metadata.name, tostring(role.metadata.namespace))
  end
  return list
end

local function grants(rule, req)
  if rule.namespace and rule.namespace ~= req.namespace then return false end
  if not (rule.verbs[req.verb] and rule.groups[req.group] and rule.resources[req.resource]) then return false end
  return rule.names == nil or (req.name ~= nil and rule.names[req.name] == true)
end

local function rule_text(rule)
  local r = rule.rule
  local function list(t) return table.concat(t or {}, ",") end
  return ("%s rule %d (apiGroups [%s], resources [%s]%s, verbs [%s])"):format(rule.file, rule.index,
    list(r.apiGroups), list(r.resources), r.resourceNames and (", resourceNames [" .. list(r.resourceNames) .. "]") or "",
    list(r.verbs))
end

local function group_text(g) return g == "" and '""' or g end

local function check(dir, logs)
  local rules = rules_of(dir)
  local requests, seen, sim, total = {}, {}, 0, 0
  local nonresource = {}
  for _, path in ipairs(logs) do
    local scenario = path:match("([^/]+)%.jsonl$") or path
    for line in io.lines(path) do
      local r = json.decode(line)
      total = total + 1
      local info = request_info(r)
      if info == nil then
        sim = sim + 1
      elseif info.nonresource then
        nonresource[info.nonresource] = nonresource[info.nonresource] or r.status
        local group = info.nonresource:match("^/apis/([^/]+)/?$") or info.nonresource:match("^/apis/([^/]+)/[^/]+/?$")
        if r.status == 404 and group and group ~= "sim.vmrun.io" then
          if ABSENT[group] == nil then
            problem("%s: vmrun looked for the API group %s, which vmrun serve does not serve: say in ABSENT "
              .. "(tests/e2e/lib/deploy_rbac.lua) which resource it reads there, and grant it", scenario, group)
          else
            for _, verb in ipairs({ "list", "watch" }) do
              requests[#requests + 1] = { verb = verb, group = group, resource = ABSENT[group],
                scenario = scenario .. "*" }
            end
          end
        end
      else
        info.scenario = scenario
        requests[#requests + 1] = info
      end
    end
  end
  -- every request granted, and by which rules
  local used = {}
  for _, req in ipairs(requests) do
    local by = {}
    for _, rule in ipairs(rules) do
      if grants(rule, req) then by[#by + 1] = rule end
    end
    local key = ("%s %s %s"):format(req.verb, group_text(req.group), req.resource)
    if #by == 0 and not seen[key] then
      seen[key] = true
      problem("missing: %s %s/%s%s%s is not granted (first by %s)", req.verb, group_text(req.group), req.resource,
        req.namespace and (" in namespace " .. req.namespace) or "", req.name and (" (name " .. req.name .. ")") or "",
        req.scenario)
    end
    for _, rule in ipairs(by) do
      -- a use of the rule's (verb, group, resource[, name]); alone (no other rule grants it) or not
      local k = ("%s|%s|%s|%s"):format(req.verb, req.group, req.resource, rule.names and req.name or "")
      used[rule] = used[rule] or {}
      local u = used[rule][k] or { count = 0, alone = false, scenarios = {} }
      u.count = u.count + 1
      u.alone = u.alone or #by == 1
      u.scenarios[req.scenario] = true
      used[rule][k] = u
    end
  end
  for path, status in pairs(nonresource) do
    if not discovery_allows(path) then
      problem("the non-resource URL %s (status %s) is not one system:discovery allows", path, tostring(status))
    end
  end
  -- every rule's every verb, group, resource (and name) used, and needed
  local rows = {}
  for _, rule in ipairs(rules) do
    for verb in pairs(rule.verbs) do
      for group in pairs(rule.groups) do
        for resource in pairs(rule.resources) do
          for _, name in ipairs(rule.names and rule.rule.resourceNames or { "" }) do
            local u = (used[rule] or {})[("%s|%s|%s|%s"):format(verb, group, resource, name)]
            local what = ("%s %s/%s%s"):format(verb, group_text(group), resource, name ~= "" and (" named " .. name) or "")
            if u == nil then
              problem("unused: %s grants %s, which no request uses", rule_text(rule), what)
            elseif not u.alone then
              problem("redundant: %s grants %s, which other rules grant too", rule_text(rule), what)
            else
              local scenarios = {}
              for s in pairs(u.scenarios) do scenarios[#scenarios + 1] = s end
              table.sort(scenarios)
              rows[#rows + 1] = { group = group, resource = resource, verb = verb,
                scope = rule.namespace and (rule.namespace .. (name ~= "" and ("/" .. name) or "")) or "cluster",
                count = u.count, scenarios = scenarios }
            end
          end
        end
      end
    end
  end
  local ORDER = { get = 1, list = 2, watch = 3, create = 4, update = 5, patch = 6, delete = 7 }
  table.sort(rows, function(a, b)
    if a.group ~= b.group then return a.group < b.group end
    if a.resource ~= b.resource then return a.resource < b.resource end
    if a.scope ~= b.scope then return a.scope < b.scope end
    return (ORDER[a.verb] or 9) < (ORDER[b.verb] or 9)
  end)
  print(("deploy_rbac: %d requests in %d logs: %d of the sim.vmrun.io test channel left out; non-resource "
    .. "URLs (system:discovery's):"):format(total, #logs, sim))
  local paths = {}
  for p, status in pairs(nonresource) do paths[#paths + 1] = p .. (status ~= 200 and (" (" .. status .. ")") or "") end
  table.sort(paths)
  print("  " .. table.concat(paths, " "))
  print(("  %-34s %-32s %-30s %-8s %6s  %s"):format("GROUP", "RESOURCE", "SCOPE", "VERB", "COUNT", "USED BY"))
  for _, r in ipairs(rows) do
    print(("  %-34s %-32s %-30s %-8s %6d  %s"):format(group_text(r.group), r.resource, r.scope, r.verb, r.count,
      table.concat(r.scenarios, ", ")))
  end
  print("  (* the discovery of a group vmrun serve does not serve answered 404: a cluster that serves it gets these)")
  finish(("deploy_rbac: every request is granted, every rule is used (%d rules, %d verb grants)"):format(#rules, #rows))
end

-- --- main ---------------------------------------------------------------------------------------------

if command == "shape" then
  shape(args[1])
elseif command == "mount" then
  mount(args[1], args[2], args[3])
elseif command == "argv" then
  argv(args[1], args[2], args[3], args[4], args[5])
elseif command == "check" then
  check(args[1], table.move(args, 2, #args, 1, {}))
else
  io.stderr:write("usage: vmrun -q deploy_rbac.lua shape|mount|argv|check DIR ...\n")
  os.exit(2)
end
