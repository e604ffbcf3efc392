-- journal.lua: the run's journal (docs/journal.md). Every run has an id; a playbook writes what
-- it is about to change and what it changed as records, one JSON object a line, each on disk
-- before the call returns, in STATE_DIR/runs/RUN_ID.jsonl (STATE_DIR: --state-dir, else .vmrun
-- beside the playbook). The file is made at the first record, which is preceded by the "run"
-- record: the command line, the folder it ran in and the cluster it acts on, all `vmrun resume`
-- needs to run it again as the same run. A resumed run reads the records of its earlier attempts
-- (journal:previous) to skip what is done. This module writes and reads records; what they mean
-- is its callers' (vmrun.maintenance). It never touches the cluster but to ask which one it is.
local core = require("vmrun.journal.core")
local cluster = require("vmrun.cluster")
local vmrun = require("vmrun")
local json = require("vmrun.json")
local time = require("vmrun.time")
local log = require("vmrun.log")

local M = {}

local Journal = {}
Journal.__index = Journal

local current -- this run's journal, made on first use

local function iso(t)
  local whole = math.floor(t)
  return os.date("!%Y-%m-%dT%H:%M:%S", whole) .. ("%.3fZ"):format(t - whole):sub(2)
end

local function folder_of(path)
  return path:match("^(.*)/[^/]*$") or "."
end

--- journal.read(path) -> records, notes
-- The records of the journal at path, decoded, and notes (a list of strings) about what was
-- left out: a last line cut by a crash. Raises kind "input" naming path:line for a line that is
-- not a JSON object (a corrupt journal: nothing is guessed), "io" when the file cannot be read,
-- "not_found" when there is none.
function M.read(path)
  local lines, partial = core.read(path)
  if lines == nil then vmrun.error("not_found", ("no journal at %s"):format(path), { level = 2 }) end
  local records, notes = {}, {}
  for i, line in ipairs(lines) do
    local ok, rec = pcall(json.decode, line)
    if not ok or type(rec) ~= "table" or type(rec.type) ~= "string" then
      vmrun.error("input", ("%s:%d: not a journal record (the journal is corrupt; vmrun does not "
        .. "guess what a broken record said)"):format(path, i), { level = 2 })
    end
    records[#records + 1] = rec
  end
  if partial then
    notes[#notes + 1] = ("%s:%d: a record cut short by a crash was left out"):format(path, #lines + 1)
  end
  return records, notes
end

-- The journal's path for this run.
local function path_of(run)
  local dir = run.state_dir
  if dir == nil then
    dir = run.playbook and (folder_of(run.playbook) .. "/.vmrun") or ".vmrun"
  end
  return dir .. "/runs/" .. run.id .. ".jsonl"
end

--- journal.current() -> journal
-- This run's journal: fields id, path, resuming (a `vmrun resume`). Its file is made at the first
-- record. Never fails (reading a resumed run's journal happens at the first record or previous()).
function M.current()
  if current == nil then
    local run = core.run()
    run.id = run.id or "unnamed"
    current = setmetatable({ id = run.id, path = path_of(run), resuming = run.resuming == true,
      run = run, seq = 0 }, Journal)
  end
  return current
end

-- Opens the file: a new run writes its "run" record first; a resumed run checks that the journal
-- is its own and of the same cluster, keeps its earlier records and appends after them.
function Journal:open()
  if self.file then return end
  local target = cluster.target()
  if self.resuming then
    local lines, _, valid = core.read(self.path)
    if lines == nil then
      vmrun.error("input", ("resume: no journal at %s"):format(self.path), { level = 3 })
    end
    local records, notes = M.read(self.path)
    local head = records[1]
    if head == nil or head.type ~= "run" or head.run ~= self.id then
      vmrun.error("input", ("%s:1: not the journal of run %s"):format(self.path, self.id), { level = 3 })
    end
    if head.cluster ~= target.identity then
      vmrun.error("input", ("resume: run %s acted on %s, this run on %s: not resumed, nothing "
        .. "changed"):format(self.id, tostring(head.cluster), target.identity), { level = 3 })
    end
    if head.real ~= true then
      vmrun.error("input", ("resume: run %s simulated its cluster in its own process, and nothing "
        .. "of it outlived that process: run the playbook again instead"):format(self.id), { level = 3 })
    end
    for _, n in ipairs(notes) do log.warn("journal: " .. n, { run = self.id }) end
    self.earlier = records
    for _, r in ipairs(records) do
      if type(r.seq) == "number" and r.seq > self.seq then self.seq = r.seq end
    end
    self.file = core.open(self.path, valid)
    self:write({ type = "resumed", at = iso(os.time()), pid = self.run.pid, host = self.run.host,
      retry_failed = self.run.retry_failed or nil })
    log.info(("run %s resumed: journal %s (%d earlier records)"):format(self.id, self.path,
      #records), { run = self.id })
    return
  end
  if self.run.named and core.read(self.path) ~= nil then
    vmrun.error("input", ("run %s has a journal already (%s): a new run needs a new --run-id")
      :format(self.id, self.path), { level = 3 })
  end
  self.file = core.open(self.path)
  self.earlier = {}
  local run = self.run
  self:write({ type = "run", run = self.id, version = vmrun.version, cwd = run.cwd,
    argv = run.argv or {}, options = run.options or {}, playbook = run.playbook,
    cluster = target.identity, real = target.real, started = iso(os.time()), pid = run.pid,
    host = run.host })
  core.index_add(self.id, self.path)
  log.info(("run %s: journal %s"):format(self.id, self.path), { run = self.id })
end

function Journal:write(rec)
  self.seq = self.seq + 1
  rec.seq = self.seq
  rec.t = rec.t or time.now()
  self.file:append(json.encode(rec))
end

--- journal.wanted() -> boolean
-- Whether this run journals by default: it acts on a real cluster (one that outlives the process
-- and can be resumed), or --state-dir names where its journal goes.
function M.wanted()
  return core.run().state_dir ~= nil or cluster.target().real == true
end

--- journal.active() -> journal | nil
-- This run's journal once something has been written to it (a maintenance journals; other
-- playbooks' changes are not journaled unless they write a record first), else nil.
function M.active()
  return current and current.file and current or nil
end

--- journal:record(type, fields) -> record
-- Writes a record {type, seq, t (the run's clock), fields...}; it is on disk when this returns.
-- Raises kind "io" when it cannot be written (the caller has not changed anything yet: records
-- are written before the change they announce).
function Journal:record(rtype, fields)
  if type(rtype) ~= "string" then vmrun.error("usage", "journal:record: type must be a string", { level = 2 }) end
  self:open()
  local rec = {}
  for k, v in pairs(fields or {}) do rec[k] = v end
  rec.type = rtype
  self:write(rec)
  return rec
end

--- journal:previous([type]) -> records
-- The records of this run's earlier attempts (empty for a new run), of that type when given.
function Journal:previous(rtype)
  self:open()
  if rtype == nil then return self.earlier end
  local out = {}
  for _, r in ipairs(self.earlier) do
    if r.type == rtype then out[#out + 1] = r end
  end
  return out
end

--- journal:finish(status [, fields]) -- the "end" record: "done" (resume refuses it), "failed",
-- "stopped", "aborted", "paused" (at the window's end); fields (a table) go into the record.
function Journal:finish(status, fields)
  if self.file == nil then return end -- nothing was journaled: nothing changed
  local rec = { type = "end", status = status }
  for k, v in pairs(fields or {}) do rec[k] = v end
  self:write(rec)
end

--- journal.undo(path) -> exit code
-- `vmrun undo RUN_ID`: puts back what the run of the journal at path changed, on the cluster this
-- run acts on (its own, or refused): uncordons the nodes it cordoned that are still cordoned by
-- vmrun and marked with its run id, starts the VMs it stopped by their policy that are still
-- stopped by a maintenance, as they ran before; writes "undo" records to that journal. Prints
-- what it did and what it left, and returns 0 (everything put back), or 1 (something left: a node
-- someone else cordoned or another run now holds, an error). Raises kind "input" for a journal
-- that is corrupt, of another cluster or of a simulated run.
function M.undo(path)
  local records, notes = M.read(path)
  for _, n in ipairs(notes) do log.warn("journal: " .. n, {}) end
  local head = records[1]
  if head == nil or head.type ~= "run" then
    vmrun.error("input", ("%s:1: not a vmrun journal"):format(path), { level = 2 })
  end
  local target = cluster.target()
  if head.real ~= true then
    vmrun.error("input", ("undo: run %s simulated its cluster in its own process: there is nothing "
      .. "left to put back"):format(head.run), { level = 2 })
  end
  if head.cluster ~= target.identity then
    vmrun.error("input", ("undo: run %s acted on %s, this run on %s: nothing changed"):format(head.run,
      tostring(head.cluster), target.identity), { level = 2 })
  end
  local node_mod, maintenance = require("vmrun.node"), require("vmrun.maintenance")
  local file = core.open(path)
  local seq = 0
  for _, r in ipairs(records) do if type(r.seq) == "number" and r.seq > seq then seq = r.seq end end
  local function note(rec)
    seq = seq + 1
    rec.seq, rec.t = seq, time.now()
    file:append(json.encode(rec))
  end
  local nodes, vms, seen = {}, {}, {}
  for _, r in ipairs(records) do
    if r.type == "cordoned" and r.node and not seen["n" .. r.node] then
      seen["n" .. r.node] = true
      nodes[#nodes + 1] = r.node
    elseif r.type == "vm_stop" and r.vm and not seen["v" .. r.vm] then
      seen["v" .. r.vm] = true
      vms[#vms + 1] = r.vm
    end
  end
  local put_back, left = {}, {}
  note({ type = "undo", phase = "begin", nodes = nodes, vms = vms })
  for _, name in ipairs(nodes) do
    local n = cluster.get("Node", name)
    local a = n and n.metadata.annotations or {}
    local mark = a[maintenance.RUN_ANNOTATION]
    local ok_mark, m = pcall(json.decode, mark or "")
    local ours = ok_mark and type(m) == "table" and m.run == head.run
    if n == nil then
      left[#left + 1] = name .. " (gone)"
    elseif not (n.spec and n.spec.unschedulable == true) then
      -- uncordoned already (the run finished it, or someone did)
    elseif not ours or a[node_mod.OWNER_ANNOTATION] ~= "vmrun" then
      left[#left + 1] = ("%s (cordoned by %s)"):format(name, not ours and "another run or someone else"
        or tostring(a[node_mod.OWNER_ANNOTATION] or "someone else"))
    else
      node_mod.uncordon(name)
      cluster.patch("Node", nil, name, { metadata = { annotations = { [maintenance.RUN_ANNOTATION] =
        json.encode({ run = head.run, state = "undone", at = time.now() }) } } }, { type = "merge" })
      note({ type = "undo", node = name, action = "uncordoned" })
      put_back[#put_back + 1] = "uncordoned " .. name
    end
  end
  for _, key in ipairs(vms) do
    local ns, name = key:match("^([^/]+)/(.+)$")
    local ok, started = pcall(maintenance.restore_vm, ns, name)
    if not ok then
      left[#left + 1] = ("%s (%s)"):format(key, tostring(type(started) == "table" and started.message or started))
    elseif started then
      note({ type = "undo", vm = key, action = "started" })
      put_back[#put_back + 1] = "started " .. key
    end
  end
  note({ type = "undo", phase = "end", left = left })
  file:close()
  print(("undo of run %s: %s"):format(head.run, #put_back > 0 and table.concat(put_back, ", ")
    or "nothing to put back"))
  if #left > 0 then print("left as they are: " .. table.concat(left, ", ")) end
  return #left > 0 and 1 or 0
end

return M
