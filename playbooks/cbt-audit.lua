-- cbt-audit.lua: checks VMware VMs for what stands in the way of change tracking (CBT) before a
-- warm migration with MTV or an incremental backup: cbt.check_vm on one VM folder, or on every VM
-- folder directly under a datastore folder, or cbt.check_inventory on a vSphere inventory export
-- (the JSON `govc vm.info -json` prints). Prints a table of VMs and their findings
-- (or, with --json, one JSON document), and exits 1 when a finding is critical.
--
--   vmrun playbooks/cbt-audit.lua DIR|INVENTORY.json [--enable] [--json]
--
-- --enable switches CBT on (cbt.enable) in each VM whose checks say it is off, before it is
-- checked; VMs that are powered on or have snapshots are refused and reported, never changed.
-- docs/cbt.md describes the findings and the JSON document.
local args = { ... }
local dir, enable, as_json
for _, a in ipairs(args) do
  if a == "--enable" then
    enable = true
  elseif a == "--json" then
    as_json = true
  elseif a:sub(1, 2) == "--" or dir ~= nil then
    io.stderr:write("usage: vmrun playbooks/cbt-audit.lua DIR|INVENTORY.json [--enable] [--json]\n")
    vmrun.exit(2)
  else
    dir = a
  end
end
if dir == nil then
  io.stderr:write("usage: vmrun playbooks/cbt-audit.lua DIR|INVENTORY.json [--enable] [--json]\n")
  vmrun.exit(2)
end
dir = dir:gsub("/+$", "")

-- Bad input (a missing folder, an unreadable or broken export): its message, exit code 2.
local function or_exit(ok, ...)
  if ok then return ... end
  local err = ...
  io.stderr:write("cbt-audit: " .. tostring(type(err) == "table" and err.message or err) .. "\n")
  vmrun.exit(2)
end

-- One row per finding (severity, id, where, message), then its fix.
local function print_findings(findings)
  for _, f in ipairs(findings) do
    local where = f.file and not f.vm and (f.file .. (f.line and (":" .. f.line) or "") .. "  ") or ""
    print(("  %-8s %-16s %s%s"):format(f.severity, f.id, where, f.message))
    if f.fix then print(("  %-8s %-16s fix: %s"):format("", "", f.fix)) end
  end
end

-- A vSphere inventory export: every VM in it, checked from the export alone.
if dir:lower():match("%.json$") then
  if enable then
    io.stderr:write("cbt-audit: --enable works on VM folders, not on inventory exports\n")
    vmrun.exit(2)
  end
  local report = or_exit(pcall(cbt.check_inventory, dir))
  if #report.vms == 0 then
    io.stderr:write("cbt-audit: " .. dir .. ": the export lists no VM\n")
    vmrun.exit(2)
  end
  if as_json then
    print(json.encode({ inventory = dir, critical = report.counts.critical, vms = report.vms },
      { indent = 2 }))
  else
    for _, vm in ipairs(report.vms) do
      print(("%s: %d critical, %d warning, %d info"):format(vm.name, vm.counts.critical,
        vm.counts.warning, vm.counts.info))
      print_findings(vm.findings)
    end
    print(("%d VM(s) checked, %d critical finding(s)"):format(#report.vms, report.counts.critical))
  end
  if report.counts.critical > 0 then vmrun.exit(1) end
  return
end

local core = require("vmrun.cbt.core")


-- The VM folders: dir itself when it holds a .vmx, else each folder under it that holds one.
local function vm_folders(path)
  local entries = core.files(path)
  for _, e in ipairs(entries) do
    if not e.dir and e.name:lower():match("%.vmx$") then return { path } end
  end
  local out = {}
  for _, e in ipairs(entries) do
    if e.dir then
      local listed, inner_entries = pcall(core.files, path .. "/" .. e.name)
      for _, inner in ipairs(listed and inner_entries or {}) do
        if not inner.dir and inner.name:lower():match("%.vmx$") then
          out[#out + 1] = path .. "/" .. e.name
          break
        end
      end
    end
  end
  return out
end

local folders = or_exit(pcall(vm_folders, dir))
if #folders == 0 then
  io.stderr:write("cbt-audit: " .. dir .. ": no VM folder (no .vmx file) here or one level down\n")
  vmrun.exit(2)
end

local reports, critical = json.array(), 0
for _, folder in ipairs(folders) do
  local ok, report = pcall(cbt.check_vm, folder)
  local entry = { folder = folder }
  if not ok then
    entry.error = tostring(report.message or report)
    critical = critical + 1
  else
    if enable and (report.counts.critical > 0 or report.counts.warning > 0) then
      local done, result = pcall(cbt.enable, report.vmx)
      if done then
        entry.enabled = { changed = result.changed, backup = result.backup, diff = result.diff,
          skipped = result.skipped }
        report = cbt.check_vm(folder)
      else
        entry.enable_error = tostring(result.message or result)
      end
    end
    entry.report = report
    critical = critical + report.counts.critical
  end
  reports[#reports + 1] = entry
end

if as_json then
  local doc = { vms = json.array() }
  for _, e in ipairs(reports) do
    local vm = { folder = e.folder, error = e.error, enable_error = e.enable_error,
      enabled = e.enabled }
    if e.report then
      vm.vmx, vm.name, vm.counts = e.report.vmx, e.report.name, e.report.counts
      vm.findings = e.report.findings
    end
    doc.vms[#doc.vms + 1] = vm
  end
  doc.critical = critical
  print(json.encode(doc, { indent = 2 }))
else
  for _, e in ipairs(reports) do
    if e.error then
      print(("%s: cannot be checked: %s"):format(e.folder, e.error))
    else
      local r = e.report
      print(("%s (%s): %d critical, %d warning, %d info"):format(r.name or "?", r.vmx,
        r.counts.critical, r.counts.warning, r.counts.info))
      if e.enabled and e.enabled.changed then
        print(("  CBT switched on (backup %s); it takes effect at the next power-on"):format(
          e.enabled.backup or "none"))
      elseif e.enable_error then
        print("  not switched on: " .. e.enable_error)
      end
      print_findings(r.findings)
    end
  end
  print(("%d VM(s) checked, %d critical finding(s)"):format(#reports, critical))
end
if critical > 0 then vmrun.exit(1) end
