-- gen-cluster.lua: generates a simulated KubeVirt cluster as standard Kubernetes YAML (a
-- multi-document manifest that sim.load reads), deterministic for a seed. Run by vmrun itself:
--
--   vmrun tools/gen-cluster.lua [--nodes N] [--vms M] [--seed S] [--zones Z] [--out FILE]
--
-- Defaults: 12 worker nodes (plus 3 control-plane nodes), 80 VirtualMachines, seed 1, 3 zones;
-- the YAML goes to stdout unless --out names a file. Bad arguments print one line on stderr and
-- exit with code 2. playbooks/clusters/demo.yaml is this generator's output with the defaults;
-- docs/cluster-files.md ("Generating clusters") describes what it writes.
--
-- How it works: it first decides every VM (a plain record: namespace, memory, run and eviction
-- strategy, network, storage, placement constraints), then sizes the worker nodes so that the
-- memory of the VMs set to run (plus the DaemonSet and other pods) is about 60% of the regular
-- workers' allocatable memory, or less when the free memory of an average worker must still hold
-- a second copy of the largest VM (a live migration needs a second VM-sized slot on another
-- node). The large-memory VMs get their own tainted node pool with one spare node. Then it writes
-- the documents. All random choices come from the small xorshift generator below, never from
-- math.random.
local M = {}

local USAGE = "usage: vmrun tools/gen-cluster.lua [--nodes N] [--vms M] [--seed S] [--zones Z] "
  .. "[--out FILE]"

local TARGET_UTILISATION = 0.60 -- memory of running VMs / allocatable memory of regular workers
local KUBEVIRT_VERSION = "v1.6.2"
local KUBELET_VERSION = "v1.32.7"
local RWX_CLASS = "ocs-storagecluster-ceph-rbd-virtualization"
local LOCAL_CLASS = "lvms-vg1"
local GIB = 1024 -- sizes are kept in MiB

---------------------------------------------------------------------------------------------------
-- Random numbers: xorshift64* seeded through splitmix64, on Lua's 64-bit integers (which wrap).

local Rng = {}
Rng.__index = Rng

local function new_rng(seed, stream)
  local z = seed * 0x100000001B3 + stream + 0x9E3779B97F4A7C15
  z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
  z = (z ~ (z >> 27)) * 0x94D049BB133111EB
  z = z ~ (z >> 31)
  if z == 0 then z = 0x2545F4914F6CDD1D end
  return setmetatable({ state = z }, Rng)
end

-- The next 53-bit non-negative integer.
function Rng:next()
  local x = self.state
  x = x ~ (x >> 12)
  x = x ~ (x << 25)
  x = x ~ (x >> 27)
  self.state = x
  return (x * 0x2545F4914F6CDD1D) >> 11
end

-- An integer in [lo, hi].
function Rng:int(lo, hi)
  return lo + self:next() % (hi - lo + 1)
end

-- True with a probability of percent/100.
function Rng:chance(percent)
  return self:next() % 100 < percent
end

function Rng:pick(list)
  return list[1 + self:next() % #list]
end

-- choices: { {weight, value}, ... }. The first #choices calls with index 1..#choices return
-- each value once in order (so a profile with enough VMs shows every case), later ones draw.
function Rng:weighted(choices, index)
  if index and index <= #choices then return choices[index][2] end
  local total = 0
  for _, c in ipairs(choices) do total = total + c[1] end
  local r = self:next() % total
  for _, c in ipairs(choices) do
    if r < c[1] then return c[2] end
    r = r - c[1]
  end
  return choices[#choices][2]
end

local NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789" -- Kubernetes' SafeEncodeString alphabet

function Rng:suffix(n)
  local out = {}
  for i = 1, n do
    local k = 1 + self:next() % #NAME_ALPHABET
    out[i] = NAME_ALPHABET:sub(k, k)
  end
  return table.concat(out)
end

function Rng:uuid()
  local a, b, c, d = self:next() & 0xffffffff, self:next() & 0xffffffff,
    self:next() & 0xffffffff, self:next() & 0xffffffff
  return string.format("%08x-%04x-4%03x-%04x-%04x%08x", a, b >> 16, b & 0xfff,
    0x8000 | (c & 0x3fff), c >> 16, d)
end

---------------------------------------------------------------------------------------------------
-- YAML writer: block style, Kubernetes' usual key order (a document starts with apiVersion,
-- kind, metadata and ends with spec, status; name, namespace, key, type come first in a mapping,
-- the rest sorted), strings quoted where a YAML 1.1 reader such as kubectl would read something
-- else (a JSON string is a valid YAML double-quoted scalar).

local TOP_RANK = { apiVersion = 1, kind = 2, metadata = 3, spec = 98, status = 99 }
local KEY_RANK = {
  apiVersion = 1, kind = 2, name = 3, generateName = 4, namespace = 5, uid = 6, key = 7, type = 8,
}

local RESERVED = {
  y = true, n = true, yes = true, no = true, on = true, off = true, ["true"] = true,
  ["false"] = true, null = true, ["~"] = true,
}

local function plain_ok(v)
  if v:match("^[%a/][%w%._/%-:, ]*$") then
    return not (RESERVED[v:lower()] or v:find(": ", 1, true) or v:find(" #", 1, true)
      or v:match("[: ]$"))
  end
  return v:match("^%d+%.?%d*%a+$") and not v:match("^%d+[eE]") -- quantities: 4Gi, 500m
end

local function scalar(v)
  local t = type(v)
  if t == "string" then
    if plain_ok(v) then return v end
    return json.encode(v)
  elseif t == "number" then
    if math.type(v) == "integer" then return tostring(v) end
    return string.format("%.17g", v)
  elseif t == "boolean" then
    return tostring(v)
  end
  error("gen-cluster: cannot write a " .. t .. " as YAML")
end

local function before(rank)
  return function(a, b)
    local ra, rb = rank[a] or 50, rank[b] or 50
    if ra ~= rb then return ra < rb end
    return a < b
  end
end
local top_before, key_before = before(TOP_RANK), before(KEY_RANK)

local write_map, write_list

-- The one-line form of a scalar or an empty table, else nil.
local function inline(v)
  if type(v) ~= "table" then return scalar(v) end
  if next(v) == nil then return "{}" end
  return nil
end

function write_map(buf, t, pad, first_pad, order)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, order or key_before)
  for i, k in ipairs(keys) do
    local lead = (i == 1 and first_pad or pad) .. scalar(k) .. ":"
    local v = t[k]
    local s = inline(v)
    if s then
      buf[#buf + 1] = lead .. " " .. s
    elseif v[1] ~= nil then
      buf[#buf + 1] = lead
      write_list(buf, v, pad)
    else
      buf[#buf + 1] = lead
      write_map(buf, v, pad .. "  ", pad .. "  ")
    end
  end
end

function write_list(buf, t, pad)
  for _, v in ipairs(t) do
    local s = inline(v)
    if s then
      buf[#buf + 1] = pad .. "- " .. s
    elseif v[1] ~= nil then
      buf[#buf + 1] = pad .. "-"
      write_list(buf, v, pad .. "  ")
    else
      write_map(buf, v, pad .. "  ", pad .. "- ")
    end
  end
end

-- One document ("---" line, then the object) appended to buf.
local function document(buf, obj)
  buf[#buf + 1] = "---"
  write_map(buf, obj, "", "", top_before)
end

---------------------------------------------------------------------------------------------------
-- Small helpers.

local function mem(mib) -- a memory quantity
  if mib % GIB == 0 then return string.format("%dGi", mib // GIB) end
  return string.format("%dMi", mib)
end

local function millicores(m)
  if m % 1000 == 0 then return tostring(m // 1000) end
  return string.format("%dm", m)
end

local function pad_number(n, width)
  return string.format("%0" .. width .. "d", n)
end

local function copy(t)
  local out = {}
  for k, v in pairs(t) do out[k] = v end
  return out
end

local function human_mib(mib)
  if mib >= 1024 * GIB then return string.format("%.1fTi", mib / (1024 * GIB)) end
  return string.format("%dGi", (mib + GIB // 2) // GIB)
end

---------------------------------------------------------------------------------------------------
-- Options.

local LIMITS = {
  nodes = { 1, 100000, 12 }, vms = { 0, 1000000, 80 }, zones = { 1, 26, 3 },
}

local function usage_error(fmt, ...)
  return nil, string.format(fmt, ...) .. " (" .. USAGE .. ")"
end

-- Parses the playbook arguments; returns the options, or nil and a one-line message, or
-- "help".
function M.parse_args(argv)
  local opts = { nodes = 12, vms = 80, seed = 1, zones = 3 }
  local i = 1
  while i <= #argv do
    local a = argv[i]
    if a == "-h" or a == "--help" then return "help" end
    local name, value = a:match("^%-%-(%w+)=(.*)$")
    if not name then
      name = a:match("^%-%-(%w+)$")
      if name and (LIMITS[name] or name == "seed" or name == "out") then
        value = argv[i + 1]
        if value == nil then return usage_error("gen-cluster: %s needs a value", a) end
        i = i + 1
      end
    end
    if not name or not (LIMITS[name] or name == "seed" or name == "out") then
      return usage_error("gen-cluster: unknown argument '%s'", a)
    end
    if name == "out" then
      if value == "" then return usage_error("gen-cluster: --out needs a file name") end
      opts.out = value
    else
      local n = value:match("^%-?%d+$") and math.tointeger(tonumber(value))
      if name == "seed" then
        if not n then
          return usage_error("gen-cluster: --seed expects an integer, got '%s'", value)
        end
      else
        local lo, hi = LIMITS[name][1], LIMITS[name][2]
        if not n or n < lo or n > hi then
          return usage_error("gen-cluster: --%s expects a whole number from %d to %d, got '%s'",
            name, lo, hi, value)
        end
      end
      opts[name] = n
    end
    i = i + 1
  end
  if opts.zones > opts.nodes then
    return usage_error("gen-cluster: --zones %d is more than --nodes %d (every zone needs a "
      .. "worker)", opts.zones, opts.nodes)
  end
  return opts
end

---------------------------------------------------------------------------------------------------
-- Nodes.

local CPU_MODELS = {
  Icelake = {
    vendor = "Intel", host = "Icelake-Server-noTSX",
    models = { "Icelake-Server-noTSX", "Cascadelake-Server-noTSX", "Skylake-Server-noTSX-IBRS" },
    features = { "invtsc", "pdpe1gb", "vmx" },
  },
  Cascadelake = {
    vendor = "Intel", host = "Cascadelake-Server-noTSX",
    models = { "Cascadelake-Server-noTSX", "Skylake-Server-noTSX-IBRS" },
    features = { "invtsc", "pdpe1gb", "vmx" },
  },
  Milan = {
    vendor = "AMD", host = "EPYC-Milan",
    models = { "EPYC-Milan", "EPYC-Rome" },
    features = { "invtsc", "pdpe1gb", "svm" },
  },
}

local function zone_names(z)
  local out = {}
  for i = 1, z do out[i] = "zone-" .. string.char(96 + i) end
  return out
end

-- n of the records in list, spread evenly over it and round-robin over the zones (so that a
-- pool of nodes does not sit in one zone); returns the chosen records.
local function spread(n, list, zone_count)
  local out, taken = {}, {}
  n = math.min(n, #list)
  for k = 1, n do
    local want = "zone-" .. string.char(96 + (k - 1) % zone_count + 1)
    local base = 1 + ((k - 1) * #list) // n
    local pick
    for step = 0, #list - 1 do -- the first free record from base in the wanted zone
      local i = (base - 1 + step) % #list + 1
      if not taken[i] and list[i].zone == want then
        pick = i
        break
      end
    end
    if not pick then -- else the first free one
      for step = 0, #list - 1 do
        local i = (base - 1 + step) % #list + 1
        if not taken[i] then
          pick = i
          break
        end
      end
    end
    taken[pick] = true
    out[#out + 1] = list[pick]
  end
  return out
end

-- Decides the workers' roles (not their sizes yet).
local function plan_workers(opts, big_count, rng)
  local w, zones = opts.nodes, zone_names(opts.zones)
  local width = math.max(2, #tostring(w))
  local workers = {}
  for i = 1, w do
    workers[i] = {
      index = i, name = "worker-" .. pad_number(i, width), zone = zones[(i - 1) % #zones + 1],
      cpu_family = "Icelake",
    }
  end
  -- the large-memory pool: one node per large VM plus a spare, tainted for those VMs only
  local large = big_count > 0 and big_count + 1 or 0
  for _, wk in ipairs(spread(large, workers, #zones)) do wk.large_memory = true end
  local regular = {}
  for _, wk in ipairs(workers) do
    if not wk.large_memory then regular[#regular + 1] = wk end
  end
  -- a few AMD nodes (at least two, so that a VM on one has somewhere to migrate), Intel nodes of
  -- two CPU generations, a third of the Intel ones with the CPU manager, some SR-IOV capable
  local amd = #regular >= 8 and math.max(2, #regular // 10) or 0
  for _, wk in ipairs(spread(amd, regular, #zones)) do wk.cpu_family = "Milan" end
  for _, wk in ipairs(regular) do
    if wk.cpu_family ~= "Milan" and rng:chance(40) then wk.cpu_family = "Cascadelake" end
  end
  local function mark(field, count, pool)
    local offset, rotated = rng:int(0, #pool - 1), {}
    for i = 1, #pool do rotated[i] = pool[(i - 1 + offset) % #pool + 1] end
    for _, wk in ipairs(spread(count, rotated, #zones)) do wk[field] = true end
  end
  if #regular >= 4 then
    local intel = {}
    for _, wk in ipairs(regular) do
      if wk.cpu_family ~= "Milan" then intel[#intel + 1] = wk end
    end
    mark("cpumanager", math.max(3, #intel // 3), intel) -- the dedicated-CPU VMs are Intel only
    mark("sriov", math.max(2, #regular // 10), intel)
  end
  for _, wk in ipairs(workers) do
    wk.nic_25g = wk.large_memory or rng:chance(30)
    wk.factor = rng:pick({ 3, 4, 4, 5, 6 }) -- relative memory size of a regular worker
  end
  return workers, regular
end

-- Realistic memory sizes of a server (GiB), for the capacity of a worker.
local SERVER_SIZES = { 96, 128, 160, 192, 224, 256, 320, 384, 448, 512, 640, 768, 1024, 1536, 2048 }

-- The capacity (MiB) nearest to want_mib among SERVER_SIZES, at least floor_mib; beyond the
-- biggest size (very dense clusters), want_mib rounded up to 256Gi.
local function server_size(want_mib, floor_mib)
  local best
  local biggest = SERVER_SIZES[#SERVER_SIZES] * GIB
  if want_mib > biggest or floor_mib > biggest then
    local need = math.max(want_mib, floor_mib)
    return (need + 256 * GIB - 1) // (256 * GIB) * 256 * GIB
  end
  for _, gib in ipairs(SERVER_SIZES) do
    local size = gib * GIB
    if size >= floor_mib
      and (best == nil or math.abs(size - want_mib) < math.abs(best - want_mib)) then
      best = size
    end
  end
  return best
end

-- Sizes the workers. The regular workers' allocatable memory adds up to demand / 60%, or more
-- when needed so that the free memory left on an average worker (the scheduler spreads by free
-- memory) still holds a second copy of the largest VM; no worker is smaller than that VM plus
-- 24Gi. The large-memory pool is sized for one large VM per node. Cores follow memory (4Gi per
-- core, 16 to 192), or the CPU requests at 60% when those need more. Allocatable = capacity -
-- 2Gi and - 500m CPU; the pod limit is 250, or more for very dense clusters.
local function size_workers(workers, regular, demand, largest, big_mib, cpu_demand, pods)
  local factors = 0
  for _, wk in ipairs(regular) do factors = factors + wk.factor end
  factors = math.max(factors, 1)
  local total = math.max(demand / TARGET_UTILISATION, demand + #regular * (largest + 4 * GIB))
  local unit = total / factors
  local cpu_unit = cpu_demand / TARGET_UTILISATION / factors -- millicores per factor
  local floor_mib = math.max(64 * GIB, largest + 24 * GIB)
  local max_pods = math.max(250, (pods * 2 // math.max(#regular, 1) + 49) // 50 * 50)
  for _, wk in ipairs(workers) do
    local cap, cores
    if wk.large_memory then
      cap = server_size(big_mib + big_mib // 4, big_mib + 8 * GIB)
      cores = math.min(192, math.max(16, ((cap // GIB) // 4 + 7) // 8 * 8))
    else
      cap = server_size(math.floor(unit * wk.factor) + 2 * GIB, floor_mib)
      cores = math.min(192, math.max(16, ((cap // GIB) // 4 + 7) // 8 * 8))
      local need = math.ceil(cpu_unit * wk.factor / 1000) + 1
      if need > cores then cores = (need + 7) // 8 * 8 end
    end
    wk.capacity_mib, wk.alloc_mib, wk.cores, wk.max_pods = cap, cap - 2 * GIB, cores, max_pods
    wk.reboot_seconds = 240 + (cap // GIB) // 2 + (wk.index * 37) % 120
  end
end

local function node_doc(wk, rng)
  local labels = {
    ["kubernetes.io/hostname"] = wk.name, ["kubernetes.io/os"] = "linux",
    ["kubernetes.io/arch"] = "amd64", ["topology.kubernetes.io/region"] = "region-1",
    ["topology.kubernetes.io/zone"] = wk.zone,
  }
  local taints
  local alloc, cap
  if wk.control_plane then
    labels["node-role.kubernetes.io/control-plane"] = ""
    labels["node-role.kubernetes.io/master"] = ""
    taints = { { key = "node-role.kubernetes.io/control-plane", effect = "NoSchedule" } }
  else
    local cpu = CPU_MODELS[wk.cpu_family]
    labels["node-role.kubernetes.io/worker"] = ""
    labels["kubevirt.io/schedulable"] = "true"
    labels["cpu-vendor.node.kubevirt.io/" .. cpu.vendor] = "true"
    labels["host-model-cpu.node.kubevirt.io/" .. cpu.host] = "true"
    for _, model in ipairs(cpu.models) do
      labels["cpu-model.node.kubevirt.io/" .. model] = "true"
      labels["cpu-model-migration.node.kubevirt.io/" .. model] = "true"
    end
    for _, f in ipairs(cpu.features) do
      labels["host-model-required-features.node.kubevirt.io/" .. f] = "true"
    end
    if wk.cpumanager then labels.cpumanager = "true" end
    if wk.sriov then labels["feature.node.kubernetes.io/network-sriov.capable"] = "true" end
    if wk.large_memory then
      labels.dedicated = "large-memory"
      taints = { { key = "dedicated", value = "large-memory", effect = "NoSchedule" } }
    end
  end
  cap = {
    cpu = tostring(wk.cores), memory = mem(wk.capacity_mib), pods = tostring(wk.max_pods or 250),
    ["ephemeral-storage"] = "893Gi",
  }
  alloc = {
    cpu = millicores(wk.cores * 1000 - 500), memory = mem(wk.alloc_mib),
    pods = tostring(wk.max_pods or 250),
    ["ephemeral-storage"] = "822Gi",
  }
  if not wk.control_plane then
    for _, res in ipairs({ cap, alloc }) do
      res["devices.kubevirt.io/kvm"] = "1k"
      res["devices.kubevirt.io/tun"] = "1k"
      res["devices.kubevirt.io/vhost-net"] = "1k"
      if wk.sriov then res["openshift.io/sriov_nic"] = "8" end
    end
  end
  local function cond(type, status, reason, message)
    return { type = type, status = status, reason = reason, message = message }
  end
  return {
    apiVersion = "v1", kind = "Node",
    metadata = {
      name = wk.name, labels = labels,
      annotations = {
        ["sim.vmrun.io/nic-bandwidth"] = wk.nic_25g and "3125M" or "1250M",
        ["sim.vmrun.io/reboot-seconds"] = tostring(wk.reboot_seconds),
      },
    },
    spec = { taints = taints, providerID = "baremetalhost:///" .. wk.name .. "/" .. rng:uuid() },
    status = {
      capacity = cap, allocatable = alloc,
      conditions = {
        cond("MemoryPressure", "False", "KubeletHasSufficientMemory",
          "kubelet has sufficient memory available"),
        cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        cond("PIDPressure", "False", "KubeletHasSufficientPID",
          "kubelet has sufficient PID available"),
        cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
      },
      nodeInfo = {
        architecture = "amd64", operatingSystem = "linux", kubeletVersion = KUBELET_VERSION,
        containerRuntimeVersion = "cri-o://1.32.7", kernelVersion = "5.14.0-570.el9_6.x86_64",
        osImage = "Red Hat Enterprise Linux CoreOS 9.6",
      },
    },
  }
end

---------------------------------------------------------------------------------------------------
-- VirtualMachines: the special cases first (each shows one thing a drain or a migration must
-- handle), then the bulk from weighted profiles.

-- Profiles: namespace, app, share of the bulk (percent) and the distributions of each field.
-- eviction = false means "not set on the VMI" (the cluster default, LiveMigrate, applies).
local PROFILES = {
  {
    app = "web", ns = "prod-web", share = 30, env = "prod",
    memory = { { 30, 2 }, { 40, 4 }, { 30, 8 } }, cores = { 2, 2, 4 },
    run = { { 95, "Always" }, { 5, "RerunOnFailure" } },
    eviction = { { 60, false }, { 40, "LiveMigrate" } },
    storage = { { 100, "rwx" } }, dirty = { 2, 24 }, working_set = { 15, 40 },
    start = { 4, 9 }, prefer_zone = true,
  },
  {
    app = "app", ns = "prod-app", share = 22, env = "prod",
    memory = { { 25, 4 }, { 35, 8 }, { 25, 16 }, { 15, 32 } }, cores = { 2, 4, 8 },
    run = { { 80, "Always" }, { 20, "RerunOnFailure" } },
    eviction = { { 70, "LiveMigrate" }, { 30, "LiveMigrateIfPossible" } },
    storage = { { 100, "rwx" } }, dirty = { 10, 80 }, working_set = { 25, 60 },
    start = { 5, 12 }, zone_pair = 30,
  },
  {
    app = "db", ns = "prod-db", share = 10, env = "prod",
    memory = { { 40, 16 }, { 40, 32 }, { 20, 64 } }, cores = { 4, 8, 16 },
    run = { { 100, "Always" } }, eviction = { { 100, "LiveMigrate" } },
    storage = { { 100, "rwx" } }, data_disk = true, dirty = { 80, 400 }, working_set = { 50, 80 },
    start = { 8, 20 }, intel_only = true, labels = { workload = "database" },
  },
  {
    app = "dev", ns = "dev", share = 20, env = "dev",
    memory = { { 20, 1 }, { 35, 2 }, { 30, 4 }, { 15, 8 } }, cores = { 1, 2, 2, 4 },
    run = { { 25, "Always" }, { 15, "RerunOnFailure" }, { 25, "Manual" }, { 35, "Halted" } },
    eviction = { { 50, "LiveMigrateIfPossible" }, { 30, "None" }, { 20, false } },
    storage = { { 50, "local" }, { 50, "rwx" } }, dirty = { 1, 50 }, working_set = { 10, 50 },
    start = { 3, 8 },
  },
  {
    app = "batch", ns = "batch", share = 10, env = "prod",
    memory = { { 30, 4 }, { 45, 8 }, { 25, 16 } }, cores = { 4, 8 },
    run = { { 60, "RerunOnFailure" }, { 20, "Halted" }, { 20, "Always" } },
    eviction = { { 70, "None" }, { 30, "LiveMigrateIfPossible" } },
    storage = { { 70, "rwo" }, { 30, "rwx" } }, dirty = { 20, 120 }, working_set = { 30, 70 },
    start = { 4, 10 },
  },
  {
    app = "tenant-a", ns = "capi-tenant", share = 8, env = "prod",
    memory = { { 50, 8 }, { 50, 16 } }, cores = { 4 },
    run = { { 100, "Always" } }, eviction = { { 100, "External" } },
    storage = { { 100, "rwx" } }, dirty = { 10, 60 }, working_set = { 30, 60 },
    start = { 5, 10 }, labels = { ["cluster.x-k8s.io/cluster-name"] = "tenant-a" },
  },
}

local function new_vm(ns, name, app)
  return {
    ns = ns, name = name, app = app, labels = {}, volumes = {}, cloudinit = true,
    iface = "masquerade", cores = 2, memory = 4 * GIB, run = "Always", dirty = 10,
    working_set = 40, start = 6, env = "prod",
  }
end

local function add_disk(vm, kind, size_gib, suffix)
  vm.volumes[#vm.volumes + 1] = {
    name = suffix, claim = vm.name .. "-" .. suffix, kind = kind, size = size_gib,
  }
end

-- The special cases; returns a list of VM records (empty for small clusters).
local function special_vms(opts, big_count, rng)
  local out = {}
  if opts.vms < 20 or opts.nodes < 4 then return out end
  local function two(n) return pad_number(n, 2) end
  for i = 1, big_count do -- large-memory VMs on their own node pool
    local vm = new_vm("sap", "hana-" .. two(i), "hana")
    vm.memory, vm.cores, vm.run, vm.eviction = 192 * GIB, 24, "Always", "LiveMigrate"
    vm.dirty, vm.working_set, vm.start = 320, 60, 45
    add_disk(vm, "rwx", 120, "rootdisk")
    add_disk(vm, "rwx", 1024, "data")
    vm.required = { { key = "dedicated", operator = "In", values = { "large-memory" } } }
    vm.tolerations = {
      { key = "dedicated", operator = "Equal", value = "large-memory", effect = "NoSchedule" },
    }
    vm.note = "large-memory VM on the tainted large-memory pool (one spare node for the copy)"
    out[#out + 1] = vm
  end
  local bridges = math.max(2, opts.vms // 1000)
  for i = 1, bridges do -- bridge binding on the pod network: not live-migratable (§3.6)
    local vm = new_vm("legacy", (i % 2 == 1 and "voip-" or "licsrv-") .. two((i + 1) // 2),
      i % 2 == 1 and "voip" or "licsrv")
    vm.iface, vm.memory, vm.cores = "bridge", (i % 2 == 1 and 4 or 2) * GIB, 2
    vm.eviction = i % 2 == 1 and "None" or false
    add_disk(vm, "rwx", 40, "rootdisk")
    vm.note = i % 2 == 1 and "bridge on the pod network, evictionStrategy None: shut down and "
      .. "restarted elsewhere on drain"
      or "bridge on the pod network, cluster default LiveMigrate: not migratable, blocks a drain "
      .. "(maintenance policy restart-after)"
    if i % 2 == 0 then vm.policy = "restart-after" end
    out[#out + 1] = vm
  end
  for i = 1, math.max(1, opts.vms // 2000) do -- SR-IOV secondary NIC through Multus
    local vm = new_vm("telco", "vrouter-" .. two(i), "vrouter")
    vm.sriov, vm.memory, vm.cores, vm.eviction = true, 8 * GIB, 4, "LiveMigrate"
    vm.node_selector = { ["feature.node.kubernetes.io/network-sriov.capable"] = "true" }
    add_disk(vm, "rwx", 30, "rootdisk")
    vm.cpu_model = "Cascadelake-Server-noTSX" -- the SR-IOV nodes are of both Intel generations
    vm.note = "SR-IOV NIC on a Multus network (migratable, SR-IOV capable nodes only, CPU model "
      .. "Cascadelake-Server-noTSX)"
    out[#out + 1] = vm
  end
  for i = 1, math.max(3, opts.vms // 100) do -- dedicated CPUs, CPU-manager nodes only
    local vm = new_vm("prod-db", "oracle-" .. two(i), "oracle")
    vm.dedicated, vm.cores, vm.memory = true, i % 3 == 1 and 4 or 8, 32 * GIB
    vm.eviction, vm.dirty, vm.working_set, vm.start = "LiveMigrate", 150, 70, 15
    vm.labels.workload = "database"
    vm.node_selector = { cpumanager = "true" }
    vm.required = { { key = "cpu-vendor.node.kubevirt.io/Intel", operator = "In",
      values = { "true" } } }
    add_disk(vm, "rwx", 60, "rootdisk")
    add_disk(vm, "rwx", 500, "data")
    -- a named model both Intel generations offer, as a mixed cluster needs: with the default
    -- host-model a VM started on Icelake could move to Icelake nodes only
    vm.cpu_model = "Cascadelake-Server-noTSX"
    vm.note = "dedicated CPUs (Intel cpumanager nodes, CPU model Cascadelake-Server-noTSX), "
      .. "MigrationPolicy databases applies"
    out[#out + 1] = vm
  end
  -- LiveMigrate with a ReadWriteOnce PVC (§3.6, §8 row 1)
  for i = 1, math.max(1, opts.vms // 2500) do
    local vm = new_vm("prod-db", "reporting-" .. two(i), "reporting")
    vm.memory, vm.cores, vm.eviction = 16 * GIB, 4, "LiveMigrate"
    add_disk(vm, "rwo", 200, "rootdisk")
    vm.note = "LiveMigrate with a ReadWriteOnce PVC: not migratable, blocks a drain (maintenance "
      .. "policy restart-after)"
    vm.policy = "restart-after"
    out[#out + 1] = vm
  end
  do -- masquerade listing the migration port 49152 (a pre-flight warning)
    local vm = new_vm("prod-web", "gateway-01", "gateway")
    vm.memory, vm.cores, vm.eviction = 4 * GIB, 2, "LiveMigrate"
    vm.ports = { { name = "http", port = 80 }, { name = "https", port = 443 },
      { name = "proxy", port = 49152 } }
    add_disk(vm, "rwx", 30, "rootdisk")
    vm.note = "masquerade interface listing port 49152, which KubeVirt keeps for migrations "
      .. "(a pre-flight warning; it migrates)"
    out[#out + 1] = vm
  end
  for i = 1, 2 do -- the PDB trap (§8 #5): maxUnavailable on VM pods allows no disruption
    local vm = new_vm("prod-erp", "erp-" .. two(i), "erp")
    vm.memory, vm.cores, vm.eviction = 12 * GIB, 4, "None"
    add_disk(vm, "rwx", 80, "rootdisk")
    vm.note = "evictionStrategy None, covered by PDB erp-vms (maxUnavailable: 1 on VM pods: "
      .. "0 disruptions allowed; maintenance policy restart-after)"
    vm.policy = "restart-after"
    out[#out + 1] = vm
  end
  return out
end

-- Shares of n by weights (largest remainder; deterministic).
local function apportion(n, profiles)
  local counts, rest, order = {}, n, {}
  for i, p in ipairs(profiles) do
    counts[i] = n * p.share // 100
    rest = rest - counts[i]
    order[i] = i
  end
  table.sort(order, function(a, b)
    local ra, rb = n * profiles[a].share % 100, n * profiles[b].share % 100
    if ra ~= rb then return ra > rb end
    return a < b
  end)
  for k = 1, rest do
    local p = order[(k - 1) % #order + 1]
    counts[p] = counts[p] + 1
  end
  return counts
end

local function profile_vms(opts, count, rng)
  local out = {}
  local counts = apportion(count, PROFILES)
  local zones = zone_names(opts.zones)
  local width = math.max(2, #tostring(opts.vms))
  for p, prof in ipairs(PROFILES) do
    for i = 1, counts[p] do
      local vm = new_vm(prof.ns, prof.app .. "-" .. pad_number(i, width), prof.app)
      vm.env = prof.env
      vm.memory = rng:weighted(prof.memory) * GIB
      vm.cores = rng:pick(prof.cores)
      vm.run = rng:weighted(prof.run, i)
      vm.eviction = rng:weighted(prof.eviction, i)
      local storage = rng:weighted(prof.storage, i)
      add_disk(vm, storage, rng:pick({ 30, 40, 60 }), "rootdisk")
      if prof.data_disk then add_disk(vm, "rwx", rng:pick({ 100, 200, 500 }), "data") end
      vm.dirty = rng:int(prof.dirty[1], prof.dirty[2])
      vm.working_set = rng:int(prof.working_set[1], prof.working_set[2])
      vm.start = rng:int(prof.start[1], prof.start[2])
      for k, v in pairs(prof.labels or {}) do vm.labels[k] = v end
      if prof.prefer_zone and i % 2 == 0 then vm.prefer_zone = zones[(i // 2 - 1) % #zones + 1] end
      if prof.zone_pair and #zones >= 2 and rng:chance(prof.zone_pair) then
        local a = rng:int(1, #zones)
        vm.required = { { key = "topology.kubernetes.io/zone", operator = "In",
          values = { zones[a], zones[a % #zones + 1] } } }
      end
      if prof.intel_only then
        vm.required = { { key = "cpu-vendor.node.kubevirt.io/Intel", operator = "In",
          values = { "true" } } }
      end
      -- a VM that no drain can move (External; LiveMigrate, the cluster default too, on
      -- ReadWriteOnce storage) is stopped for its node's maintenance and started again after it
      if vm.eviction == "External" or ((vm.eviction == "LiveMigrate" or vm.eviction == false)
          and storage ~= "rwx") then
        vm.policy = "restart-after"
      end
      out[#out + 1] = vm
    end
  end
  return out
end

local function runs(vm)
  return vm.run == "Always" or vm.run == "RerunOnFailure"
end

local function vm_docs(vm, rng)
  local labels = { app = vm.app, ["kubevirt.io/domain"] = vm.name }
  for k, v in pairs(vm.labels) do labels[k] = v end
  local disks, volumes, docs = {}, {}, {}
  for _, v in ipairs(vm.volumes) do
    disks[#disks + 1] = { name = v.name, disk = { bus = "virtio" } }
    volumes[#volumes + 1] = { name = v.name, persistentVolumeClaim = { claimName = v.claim } }
    local mode = v.kind == "rwx" and "ReadWriteMany" or "ReadWriteOnce"
    local class = v.kind == "local" and LOCAL_CLASS or RWX_CLASS
    local size = mem(v.size * GIB)
    docs[#docs + 1] = {
      apiVersion = "v1", kind = "PersistentVolumeClaim",
      metadata = { name = v.claim, namespace = vm.ns, labels = { app = vm.app } },
      spec = {
        accessModes = { mode }, storageClassName = class,
        volumeMode = v.kind == "local" and "Filesystem" or "Block",
        resources = { requests = { storage = size } }, volumeName = "pvc-" .. rng:uuid(),
      },
      status = { phase = "Bound", accessModes = { mode }, capacity = { storage = size } },
    }
  end
  if vm.cloudinit then
    disks[#disks + 1] = { name = "cloudinitdisk", disk = { bus = "virtio" } }
    volumes[#volumes + 1] = {
      name = "cloudinitdisk",
      cloudInitNoCloud = { userData = "#cloud-config\nhostname: " .. vm.name .. "\n" },
    }
  end
  local interfaces = { { name = "default" } }
  if vm.iface == "bridge" then
    interfaces[1].bridge = {}
  else
    interfaces[1].masquerade = {}
    interfaces[1].ports = vm.ports
  end
  local networks = { { name = "default", pod = {} } }
  if vm.sriov then
    interfaces[2] = { name = "sriov-net", sriov = {} }
    networks[2] = { name = "sriov-net", multus = { networkName = "sriov-net" } }
  end
  local cpu = { cores = vm.cores, sockets = 1, threads = 1, model = vm.cpu_model }
  local resources
  if vm.dedicated then
    cpu.dedicatedCpuPlacement, cpu.isolateEmulatorThread = true, true
    resources = {
      requests = { cpu = tostring(vm.cores), memory = mem(vm.memory) },
      limits = { cpu = tostring(vm.cores), memory = mem(vm.memory) },
    }
  else -- KubeVirt's default CPU allocation ratio 10: 100m per vCPU
    resources = { requests = { cpu = millicores(vm.cores * 100), memory = mem(vm.memory) } }
  end
  local affinity
  if vm.required or vm.prefer_zone then
    affinity = { nodeAffinity = {} }
    if vm.required then
      affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution = {
        nodeSelectorTerms = { { matchExpressions = vm.required } },
      }
    end
    if vm.prefer_zone then
      affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution = { {
        weight = 20,
        preference = { matchExpressions = { { key = "topology.kubernetes.io/zone",
          operator = "In", values = { vm.prefer_zone } } } },
      } }
    end
  end
  local working_set = math.max(256, vm.memory * vm.working_set // 100)
  if working_set > 4 * GIB then working_set = (working_set + GIB // 2) // GIB * GIB end
  docs[#docs + 1] = {
    apiVersion = "kubevirt.io/v1", kind = "VirtualMachine",
    metadata = { name = vm.name, namespace = vm.ns, labels = { app = vm.app, env = vm.env },
      annotations = vm.policy and { ["vmrun.io/maintenance-policy"] = vm.policy } or nil },
    spec = {
      runStrategy = vm.run,
      template = {
        metadata = {
          labels = labels,
          annotations = {
            ["sim.vmrun.io/dirty-rate"] = string.format("%dMi", vm.dirty),
            ["sim.vmrun.io/working-set"] = mem(working_set),
            ["sim.vmrun.io/pod-start-seconds"] = tostring(vm.start),
          },
        },
        spec = {
          domain = {
            cpu = cpu, resources = resources, machine = { type = "q35" },
            devices = { disks = disks, interfaces = interfaces },
          },
          evictionStrategy = vm.eviction or nil, networks = networks, volumes = volumes,
          nodeSelector = vm.node_selector, affinity = affinity, tolerations = vm.tolerations,
          terminationGracePeriodSeconds = 180,
        },
      },
    },
  }
  return docs
end

---------------------------------------------------------------------------------------------------
-- Pods that are not VMs: DaemonSets on the nodes, a Deployment, a bare pod, an emptyDir pod.

-- The tolerations the DaemonSet controller adds to every DaemonSet pod.
local function daemonset_tolerations(extra)
  local out = {}
  for _, t in ipairs(extra or {}) do out[#out + 1] = t end
  for _, t in ipairs({
    { key = "node.kubernetes.io/not-ready", operator = "Exists", effect = "NoExecute" },
    { key = "node.kubernetes.io/unreachable", operator = "Exists", effect = "NoExecute" },
    { key = "node.kubernetes.io/disk-pressure", operator = "Exists", effect = "NoSchedule" },
    { key = "node.kubernetes.io/memory-pressure", operator = "Exists", effect = "NoSchedule" },
    { key = "node.kubernetes.io/pid-pressure", operator = "Exists", effect = "NoSchedule" },
    { key = "node.kubernetes.io/unschedulable", operator = "Exists", effect = "NoSchedule" },
  }) do
    out[#out + 1] = t
  end
  return out
end

local DAEMONSETS = {
  {
    name = "node-exporter", ns = "monitoring", image = "quay.io/prometheus/node-exporter:v1.9.1",
    cpu = 8, memory = 32, all_nodes = true, tolerations = { { operator = "Exists" } },
  },
  {
    name = "virt-handler", ns = "kubevirt",
    image = "quay.io/kubevirt/virt-handler:" .. KUBEVIRT_VERSION,
    cpu = 10, memory = 325, labels = { ["kubevirt.io"] = "virt-handler" },
    tolerations = {
      { key = "CriticalAddonsOnly", operator = "Exists" },
      { key = "dedicated", operator = "Equal", value = "large-memory", effect = "NoSchedule" },
    },
  },
}

local function container(name, image, cpu_m, mem_mib)
  return {
    name = name, image = image,
    resources = { requests = { cpu = millicores(cpu_m), memory = mem(mem_mib) } },
  }
end

local function owner(kind, api, name, uid)
  return { { apiVersion = api, kind = kind, name = name, uid = uid, controller = true,
    blockOwnerDeletion = true } }
end

-- Returns the documents of the DaemonSets and their pods (nodes: every node record).
local function daemonset_docs(nodes, rng, used_names)
  local docs = {}
  local function unique(prefix)
    local name
    repeat name = prefix .. "-" .. rng:suffix(5) until not used_names[name]
    used_names[name] = true
    return name
  end
  for _, ds in ipairs(DAEMONSETS) do
    local uid = rng:uuid()
    local labels = { app = ds.name }
    for k, v in pairs(ds.labels or {}) do labels[k] = v end
    local selector = ds.all_nodes and { ["kubernetes.io/os"] = "linux" }
      or { ["kubernetes.io/os"] = "linux", ["node-role.kubernetes.io/worker"] = "" }
    local count = 0
    for _, n in ipairs(nodes) do
      if ds.all_nodes or not n.control_plane then count = count + 1 end
    end
    docs[#docs + 1] = {
      apiVersion = "apps/v1", kind = "DaemonSet",
      metadata = { name = ds.name, namespace = ds.ns, uid = uid, labels = { app = ds.name } },
      spec = {
        selector = { matchLabels = { app = ds.name } },
        template = {
          metadata = { labels = labels },
          spec = {
            containers = { container(ds.name, ds.image, ds.cpu, ds.memory) },
            nodeSelector = selector, tolerations = ds.tolerations,
          },
        },
      },
      status = {
        currentNumberScheduled = count, desiredNumberScheduled = count, numberReady = count,
        numberAvailable = count, numberMisscheduled = 0, updatedNumberScheduled = count,
      },
    }
    for _, n in ipairs(nodes) do
      if ds.all_nodes or not n.control_plane then
        docs[#docs + 1] = {
          apiVersion = "v1", kind = "Pod",
          metadata = {
            name = unique(ds.name), namespace = ds.ns, labels = copy(labels),
            ownerReferences = owner("DaemonSet", "apps/v1", ds.name, uid),
          },
          spec = {
            nodeName = n.name, nodeSelector = selector,
            containers = { container(ds.name, ds.image, ds.cpu, ds.memory) },
            tolerations = daemonset_tolerations(ds.tolerations),
            affinity = { nodeAffinity = { requiredDuringSchedulingIgnoredDuringExecution = {
              nodeSelectorTerms = { { matchFields = { { key = "metadata.name", operator = "In",
                values = { n.name } } } } },
            } } },
          },
          status = { phase = "Running" },
        }
        n.pod_memory = (n.pod_memory or 0) + ds.memory
        n.pod_cpu = (n.pod_cpu or 0) + ds.cpu
        n.pod_count = (n.pod_count or 0) + 1
      end
    end
  end
  return docs
end

local DEPLOYMENTS = {
  {
    name = "kube-state-metrics", ns = "monitoring", replicas = 2, cpu = 10, memory = 190,
    image = "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.16.0",
  },
  {
    name = "redis-cache", ns = "infra", replicas = 1, cpu = 100, memory = 1024,
    image = "docker.io/library/redis:7.4", empty_dir = true,
  },
}

-- Deployments with their ReplicaSets and pods, and one bare pod; placed on regular workers.
local function workload_docs(regular, rng, used_names)
  local docs = {}
  local function place(offset, k) return regular[(offset + k - 1) % #regular + 1] end
  for _, d in ipairs(DEPLOYMENTS) do
    local duid, ruid, hash = rng:uuid(), rng:uuid(), rng:suffix(10)
    local rs = d.name .. "-" .. hash
    local pod_spec = { containers = { container(d.name, d.image, d.cpu, d.memory) } }
    if d.empty_dir then
      pod_spec.containers[1].volumeMounts = { { name = "data", mountPath = "/data" } }
      pod_spec.volumes = { { name = "data", emptyDir = {} } }
    end
    local status = { replicas = d.replicas, readyReplicas = d.replicas,
      availableReplicas = d.replicas }
    docs[#docs + 1] = {
      apiVersion = "apps/v1", kind = "Deployment",
      metadata = { name = d.name, namespace = d.ns, uid = duid, labels = { app = d.name } },
      spec = {
        replicas = d.replicas, selector = { matchLabels = { app = d.name } },
        template = { metadata = { labels = { app = d.name } }, spec = pod_spec },
      },
      status = copy(status),
    }
    local rs_labels = { app = d.name, ["pod-template-hash"] = hash }
    docs[#docs + 1] = {
      apiVersion = "apps/v1", kind = "ReplicaSet",
      metadata = {
        name = rs, namespace = d.ns, uid = ruid, labels = copy(rs_labels),
        ownerReferences = owner("Deployment", "apps/v1", d.name, duid),
      },
      spec = {
        replicas = d.replicas, selector = { matchLabels = copy(rs_labels) },
        template = { metadata = { labels = copy(rs_labels) }, spec = pod_spec },
      },
      status = copy(status),
    }
    local offset = rng:int(0, #regular - 1)
    for k = 1, d.replicas do -- replicas on different nodes
      local n = place(offset, k)
      local name
      repeat name = rs .. "-" .. rng:suffix(5) until not used_names[name]
      used_names[name] = true
      local spec = copy(pod_spec)
      spec.nodeName = n.name
      docs[#docs + 1] = {
        apiVersion = "v1", kind = "Pod",
        metadata = {
          name = name, namespace = d.ns, labels = copy(rs_labels),
          ownerReferences = owner("ReplicaSet", "apps/v1", rs, ruid),
        },
        spec = spec, status = { phase = "Running" },
      }
      n.pod_memory = (n.pod_memory or 0) + d.memory
      n.pod_cpu = (n.pod_cpu or 0) + d.cpu
      n.pod_count = (n.pod_count or 0) + 1
    end
  end
  -- a bare pod without a controller: kubectl drain refuses it without --force
  local n = place(rng:int(0, #regular - 1), 1)
  docs[#docs + 1] = {
    apiVersion = "v1", kind = "Pod",
    metadata = {
      name = "debug-toolbox", namespace = "default", labels = { run = "debug-toolbox" },
    },
    spec = {
      nodeName = n.name, restartPolicy = "Never",
      containers = { {
        name = "toolbox", image = "registry.access.redhat.com/ubi9/toolbox:latest",
        command = { "sleep", "infinity" },
        resources = { requests = { cpu = "50m", memory = "64Mi" } },
      } },
    },
    status = { phase = "Running" },
  }
  n.pod_memory = (n.pod_memory or 0) + 64
  n.pod_cpu = (n.pod_cpu or 0) + 50
  n.pod_count = (n.pod_count or 0) + 1
  return docs
end

---------------------------------------------------------------------------------------------------
-- Cluster-wide objects.

local NAMESPACES = {
  { "default" }, { "kubevirt" }, { "monitoring" }, { "infra" },
  { "prod-web", { env = "prod" } }, { "prod-app", { env = "prod" } },
  { "prod-db", { env = "prod", tier = "database" } }, { "prod-erp", { env = "prod" } },
  { "dev", { env = "dev" } }, { "batch", { env = "prod" } }, { "legacy", { env = "prod" } },
  { "telco", { env = "prod" } }, { "sap", { env = "prod" } }, { "capi-tenant", { env = "prod" } },
}

local function cluster_docs()
  local docs = {}
  for _, ns in ipairs(NAMESPACES) do
    local labels = { ["kubernetes.io/metadata.name"] = ns[1] }
    for k, v in pairs(ns[2] or {}) do labels[k] = v end
    docs[#docs + 1] = { apiVersion = "v1", kind = "Namespace",
      metadata = { name = ns[1], labels = labels } }
  end
  docs[#docs + 1] = {
    apiVersion = "storage.k8s.io/v1", kind = "StorageClass",
    metadata = {
      name = RWX_CLASS,
      annotations = {
        ["storageclass.kubernetes.io/is-default-class"] = "true",
        ["storageclass.kubevirt.io/is-default-virt-class"] = "true",
      },
    },
    provisioner = "openshift-storage.rbd.csi.ceph.com",
    parameters = { clusterID = "openshift-storage", pool = "ocs-storagecluster-cephblockpool",
      imageFeatures = "layering,deep-flatten,exclusive-lock,object-map,fast-diff",
      mounter = "rbd", mapOptions = "krbd:rxbounce" },
    reclaimPolicy = "Delete", volumeBindingMode = "Immediate", allowVolumeExpansion = true,
  }
  docs[#docs + 1] = {
    apiVersion = "storage.k8s.io/v1", kind = "StorageClass",
    metadata = { name = LOCAL_CLASS },
    provisioner = "topolvm.io",
    parameters = { ["csi.storage.k8s.io/fstype"] = "xfs", ["topolvm.io/device-class"] = "vg1" },
    reclaimPolicy = "Delete", volumeBindingMode = "WaitForFirstConsumer",
    allowVolumeExpansion = true,
  }
  docs[#docs + 1] = {
    apiVersion = "kubevirt.io/v1", kind = "KubeVirt",
    metadata = { name = "kubevirt", namespace = "kubevirt" },
    spec = {
      configuration = {
        evictionStrategy = "LiveMigrate",
        migrations = {
          parallelMigrationsPerCluster = 5, parallelOutboundMigrationsPerNode = 2,
          completionTimeoutPerGiB = 150, progressTimeout = 150,
          allowAutoConverge = false, allowPostCopy = false,
        },
        developerConfiguration = { featureGates = { "Snapshot", "HotplugVolumes" } },
      },
      workloads = { nodePlacement = { tolerations = {
        { key = "dedicated", operator = "Equal", value = "large-memory", effect = "NoSchedule" },
      } } },
      workloadUpdateStrategy = { workloadUpdateMethods = { "LiveMigrate" }, batchEvictionSize = 10,
        batchEvictionInterval = "1m0s" },
    },
    status = {
      phase = "Deployed", observedKubeVirtVersion = KUBEVIRT_VERSION,
      targetKubeVirtVersion = KUBEVIRT_VERSION,
    },
  }
  docs[#docs + 1] = {
    apiVersion = "migrations.kubevirt.io/v1alpha1", kind = "MigrationPolicy",
    metadata = { name = "databases" },
    spec = {
      selectors = {
        namespaceSelector = { tier = "database" },
        virtualMachineInstanceSelector = { workload = "database" },
      },
      allowAutoConverge = true, completionTimeoutPerGiB = 300, bandwidthPerMigration = "1Gi",
    },
  }
  docs[#docs + 1] = {
    apiVersion = "k8s.cni.cncf.io/v1", kind = "NetworkAttachmentDefinition",
    metadata = {
      name = "sriov-net", namespace = "telco",
      annotations = { ["k8s.v1.cni.cncf.io/resourceName"] = "openshift.io/sriov_nic" },
    },
    spec = { config = '{"cniVersion":"0.3.1","name":"sriov-net","type":"sriov","vlan":100,'
      .. '"ipam":{"type":"whereabouts","range":"192.0.2.0/24"}}' },
  }
  return docs
end

local function pdb_docs(has_erp)
  local docs = {
    {
      apiVersion = "policy/v1", kind = "PodDisruptionBudget",
      metadata = { name = "kube-state-metrics", namespace = "monitoring" },
      spec = { minAvailable = 1, selector = { matchLabels = { app = "kube-state-metrics" } } },
    },
  }
  if has_erp then
    -- the trap (§8 #5): maxUnavailable needs the pods' controller to have a scale subresource;
    -- a VMI has none, so the disruption controller allows no disruption at all
    docs[#docs + 1] = {
      apiVersion = "policy/v1", kind = "PodDisruptionBudget",
      metadata = { name = "erp-vms", namespace = "prod-erp" },
      spec = {
        maxUnavailable = 1,
        selector = { matchExpressions = { { key = "vm.kubevirt.io/name", operator = "In",
          values = { "erp-01", "erp-02" } } } },
      },
    }
  end
  return docs
end

---------------------------------------------------------------------------------------------------
-- The whole cluster.

-- Generates the cluster; calls emit(text) with chunks of the YAML. Returns a summary table.
function M.generate(opts, emit)
  local node_rng, vm_rng, pod_rng = new_rng(opts.seed, 1), new_rng(opts.seed, 2),
    new_rng(opts.seed, 3)
  local big_count = (opts.vms >= 20 and opts.nodes >= 6) and math.max(1, opts.vms // 2500) or 0

  -- VMs first: their memory sizes the nodes
  local vms = special_vms(opts, big_count, vm_rng)
  if #vms == 0 then big_count = 0 end
  local has_erp = #vms > 0
  for _, vm in ipairs(profile_vms(opts, opts.vms - #vms, vm_rng)) do vms[#vms + 1] = vm end

  local workers, regular = plan_workers(opts, big_count, node_rng)
  local control = {}
  for i = 1, 3 do
    control[i] = {
      name = "control-plane-" .. i, control_plane = true, index = i,
      zone = zone_names(opts.zones)[(i - 1) % opts.zones + 1], cores = 16,
      capacity_mib = 64 * GIB, alloc_mib = 62 * GIB, nic_25g = false,
      reboot_seconds = 300 + i * 20,
    }
  end
  local nodes = {}
  for _, n in ipairs(control) do nodes[#nodes + 1] = n end
  for _, n in ipairs(workers) do nodes[#nodes + 1] = n end

  -- pods other than VMs (their memory counts too); their documents are written later
  local used_names = {}
  local ds_docs = daemonset_docs(nodes, pod_rng, used_names)
  local wl_docs = workload_docs(regular, pod_rng, used_names)

  local demand, largest, big_mib, running, cpu_demand, pods = 0, 0, 0, 0, 0, 0
  for _, vm in ipairs(vms) do
    if runs(vm) then
      running = running + 1
      if vm.app == "hana" then
        big_mib = math.max(big_mib, vm.memory)
      else
        demand = demand + vm.memory
        largest = math.max(largest, vm.memory)
        cpu_demand = cpu_demand + vm.cores * (vm.dedicated and 1000 or 100)
        pods = pods + 1
      end
    end
  end
  for _, wk in ipairs(regular) do
    demand = demand + (wk.pod_memory or 0)
    cpu_demand = cpu_demand + (wk.pod_cpu or 0)
    pods = pods + (wk.pod_count or 0)
  end
  size_workers(workers, regular, demand, largest, big_mib, cpu_demand, pods)

  -- summary
  local alloc_regular, alloc_all, used_all = 0, 0, demand + big_mib * big_count
  for _, wk in ipairs(workers) do
    alloc_all = alloc_all + wk.alloc_mib
    if not wk.large_memory then alloc_regular = alloc_regular + wk.alloc_mib end
  end
  for _, wk in ipairs(workers) do
    if wk.large_memory then used_all = used_all + (wk.pod_memory or 0) end
  end
  local by_run, by_eviction = {}, {}
  for _, vm in ipairs(vms) do
    by_run[vm.run] = (by_run[vm.run] or 0) + 1
    local e = vm.eviction or "unset"
    by_eviction[e] = (by_eviction[e] or 0) + 1
  end

  local summary = {
    nodes = #nodes, workers = #workers, large_memory = big_count > 0 and big_count + 1 or 0,
    vms = #vms, running = running, by_run = by_run, by_eviction = by_eviction,
    util_regular = alloc_regular > 0 and demand / alloc_regular or 0,
    util_all = alloc_all > 0 and used_all / alloc_all or 0,
    used_all = used_all, alloc_all = alloc_all,
  }

  -- header
  local cmd = string.format("vmrun tools/gen-cluster.lua --nodes %d --vms %d --seed %d --zones %d",
    opts.nodes, opts.vms, opts.seed, opts.zones) -- the text does not depend on --out
  local function count_line(t, order)
    local parts = {}
    for _, k in ipairs(order) do
      if t[k] then parts[#parts + 1] = string.format("%s %d", k, t[k]) end
    end
    return table.concat(parts, ", ")
  end
  local head = {
    "# A simulated KubeVirt cluster for vmrun's simulator (sim.load), standard Kubernetes YAML.",
    "# Generated by tools/gen-cluster.lua; do not edit by hand. Regenerate (the same options give",
    "# the same text):",
    "#   " .. cmd .. " --out THIS_FILE",
    string.format("# %d nodes: 3 control-plane (tainted NoSchedule), %d workers in %d zones%s.",
      #nodes, #workers, opts.zones, big_count > 0
        and string.format(" (%d of them the large-memory pool, tainted dedicated=large-memory)",
          big_count + 1) or ""),
    string.format("# %d VirtualMachines, %d set to run. runStrategy: %s.", #vms, running,
      count_line(by_run, { "Always", "RerunOnFailure", "Manual", "Halted" })),
    string.format("# evictionStrategy on the VMI: %s (unset = the cluster's LiveMigrate).",
      count_line(by_eviction,
        { "LiveMigrate", "LiveMigrateIfPossible", "None", "External", "unset" })),
    string.format("# Memory requested by running VMs and pods: %s of %s allocatable on the "
      .. "workers (%d%%; %d%% on the regular workers).", human_mib(used_all), human_mib(alloc_all),
      math.floor(summary.util_all * 100 + 0.5), math.floor(summary.util_regular * 100 + 0.5)),
    "# sim.vmrun.io/* annotations are simulation-only facts (docs/cluster-files.md).",
  }
  local notes, by_note = {}, {} -- the special cases, grouped by what they show
  for _, vm in ipairs(vms) do
    if vm.note then
      if not by_note[vm.note] then
        by_note[vm.note] = {}
        notes[#notes + 1] = vm.note
      end
      table.insert(by_note[vm.note], vm.ns .. "/" .. vm.name)
    end
  end
  if #notes > 0 then head[#head + 1] = "# Special cases:" end
  for _, note in ipairs(notes) do
    local names = by_note[note]
    local shown = table.concat(names, ", ", 1, math.min(#names, 3))
    if #names > 3 then shown = string.format("%s and %d more", shown, #names - 3) end
    head[#head + 1] = "#   " .. shown .. ": " .. note
  end
  local wrapped = {} -- comment lines of at most 100 columns
  for _, line in ipairs(head) do
    local lead, text = line:match("^(#%s*)(.*)$")
    local cur = lead
    for word in text:gmatch("%S+") do
      if #cur + 1 + #word > 100 and #cur > #lead then
        wrapped[#wrapped + 1] = cur
        cur = lead .. "  " .. word
      else
        cur = (cur == lead) and (lead .. word) or (cur .. " " .. word)
      end
    end
    wrapped[#wrapped + 1] = cur
  end
  emit(table.concat(wrapped, "\n") .. "\n")

  local function section(title, docs)
    local buf = { "# --- " .. title }
    for _, d in ipairs(docs) do document(buf, d) end
    emit(table.concat(buf, "\n") .. "\n")
  end
  section("Namespaces, storage, KubeVirt configuration", cluster_docs())
  local node_docs = {}
  for _, n in ipairs(nodes) do node_docs[#node_docs + 1] = node_doc(n, node_rng) end
  section("Nodes", node_docs)
  section("DaemonSets and their pods", ds_docs)
  section("Deployments, ReplicaSets and other pods", wl_docs)
  section("PodDisruptionBudgets", pdb_docs(has_erp))
  -- VMs in chunks, each with its PVCs before it
  local buf, pvc_rng = { "# --- VirtualMachines and their PersistentVolumeClaims" }, vm_rng
  for i, vm in ipairs(vms) do
    for _, d in ipairs(vm_docs(vm, pvc_rng)) do document(buf, d) end
    if i % 500 == 0 then
      emit(table.concat(buf, "\n") .. "\n")
      buf = {}
    end
  end
  if #buf > 0 then emit(table.concat(buf, "\n") .. "\n") end
  return summary
end

function M.main(argv)
  local opts, err = M.parse_args(argv)
  if opts == "help" then
    io.write(USAGE, "\n")
    return 0
  end
  if not opts then
    io.stderr:write(err, "\n")
    return 2
  end
  local out = io.stdout
  if opts.out then
    local f, why = io.open(opts.out, "wb")
    if not f then
      io.stderr:write("gen-cluster: cannot write ", opts.out, ": ", tostring(why), "\n")
      return 2
    end
    out = f
  end
  local summary = M.generate(opts, function(text) out:write(text) end)
  if opts.out then
    out:close()
    io.stderr:write(string.format("gen-cluster: wrote %s: %d nodes, %d VMs (%d set to run)\n",
      opts.out, summary.nodes, summary.vms, summary.running))
  end
  return 0
end

if arg and arg[0] and arg[0]:match("gen%-cluster%.lua$") then
  local code = M.main({ ... })
  if code ~= 0 then os.exit(code) end
else
  return M
end
