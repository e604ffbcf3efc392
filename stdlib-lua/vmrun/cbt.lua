-- vmrun/cbt.lua: the `cbt` module: VMware change-tracking (CBT) checks, on top of vmrun.cbt.core
-- (the C readers of .vmx, .vmsd and VMDK descriptors, the folder listing, the crash-safe file
-- replace). check_vm runs the checks of the reference vmware-cbt.md §8.1 that a VM's folder can
-- answer, check_inventory those a vSphere inventory export can, both graded as Forklift (MTV)
-- grades them for a warm migration; check_cluster looks at KubeVirt's own change tracking (§5.3).
-- These only read. enable is the one function that writes: a .vmx, with a backup, and only the
-- lines it must (see its comment).
local core = require("vmrun.cbt.core")
local tracker = require("vmrun.cbt.tracker")
local vmrun = require("vmrun")
local json = require("vmrun.json")

local M = {
  parse_vmx = core.parse_vmx,
  parse_vmsd = core.parse_vmsd,
  parse_vmdk = core.parse_vmdk,
  track = tracker.track, -- the disk-image tracker, in C (bindings/cbt_tracker.c)
  changed = tracker.changed,
}

local SEVERITY_ORDER = { critical = 1, warning = 2, info = 3 }

local function is_true(value)
  if value == nil then return nil end
  local v = value:lower()
  if v == "true" or v == "t" or v == "1" or v == "yes" then return true end
  if v == "false" or v == "f" or v == "0" or v == "no" then return false end
  return nil
end

local function basename(path) return (path:match("([^/]+)$")) or path end
local function dirname(path) return path:match("^(.*)/[^/]*$") or "." end

-- A snapshot delta's descriptor name: <disk>-00000N.vmdk.
local function is_delta_name(name) return name:match("%-%d%d%d%d%d%d%.vmdk$") ~= nil end

-- The .vmx of a VM folder, or the file itself.
local function locate_vmx(path)
  local ok, listing = pcall(core.files, path)
  if not ok then return path, dirname(path), nil end
  local found = {}
  for _, f in ipairs(listing) do
    if f.name:lower():match("%.vmx$") and not f.dir then found[#found + 1] = f.name end
  end
  if #found == 0 then
    vmrun.error("input", ("cbt.check_vm: no .vmx file in %s"):format(path),
      { resource = path, level = 3 })
  elseif #found > 1 then
    vmrun.error("input", ("cbt.check_vm: %s holds %d .vmx files (%s): name one"):format(
      path, #found, table.concat(found, ", ")), { resource = path, level = 3 })
  end
  return path .. "/" .. found[1], path, listing
end

--- cbt.check_vm(dir_or_vmx) -> report
-- Checks a VM's folder (or its .vmx): see docs/cbt.md for the findings. Raises kind "input" when
-- the folder holds no .vmx or several, or a file cannot be read, "decode" when the .vmx is not one.
function M.check_vm(path)
  if type(path) ~= "string" then
    vmrun.error("usage", "cbt.check_vm(dir_or_vmx): a path is needed", { level = 2 })
  end
  local vmx_path, dir, listing = locate_vmx(path)
  listing = listing or core.files(dir)
  local vmx = core.parse_vmx(vmx_path)
  local vmx_name = basename(vmx_path)
  local files = {} -- by lower-cased name: VMware file names compare in any case here
  for _, f in ipairs(listing) do files[f.name:lower()] = f end
  local function file(name) return files[name:lower()] end
  local findings = json.array()
  local function add(id, severity, file, line, message, fix, disk)
    findings[#findings + 1] = { id = id, severity = severity, file = file, line = line,
      message = message, fix = fix, disk = disk }
  end
  local function entry(key)
    for _, e in ipairs(vmx.entries) do
      if e.key:lower() == key then return e end
    end
  end

  -- VMX-PARSE (§2.1)
  for _, issue in ipairs(vmx.issues) do
    local duplicate = issue.message:match("^duplicate key") ~= nil
    add("VMX-PARSE", duplicate and "warning" or "info", vmx_name, issue.line, issue.message,
      duplicate and "remove the later line: VMware and virt-v2v use the first" or nil)
  end

  -- CBT-HWVER (§1.3, §2.2)
  local hw = entry("virtualhw.version")
  local version = hw and tonumber(hw.value)
  if version == nil then
    add("CBT-HWVER", "warning", vmx_name, hw and hw.line, "no readable virtualHW.version",
      "check the VM's hardware version in vSphere; CBT needs 7 or later")
  elseif version < 7 then
    add("CBT-HWVER", "critical", vmx_name, hw.line,
      ("virtual hardware version %d: change tracking needs 7 or later"):format(version),
      "upgrade the VM's compatibility (virtual hardware) to version 7 or later")
  end

  -- CBT-DISALLOWED and CBT-VM (§1.1, §4.3 VMMissingChangedBlockTracking)
  local disallowed = entry("ctkdisallowed")
  if disallowed and is_true(disallowed.value) then
    add("CBT-DISALLOWED", "critical", vmx_name, disallowed.line,
      "ctkDisallowed is TRUE: change tracking is prohibited for this VM",
      "remove ctkDisallowed (it is set on clustered multi-writer VMs; check why first)")
  end
  local vm_ctk = entry("ctkenabled")
  local vm_tracking = vm_ctk ~= nil and is_true(vm_ctk.value) == true
  if not vm_tracking then
    add("CBT-VM", "critical", vmx_name, vm_ctk and vm_ctk.line,
      vm_ctk and ('ctkEnabled is "' .. vm_ctk.value .. '": change tracking is off for the VM')
        or "no ctkEnabled: change tracking is off for the VM",
      'set ctkEnabled = "TRUE" with the VM powered off and without snapshots (cbt.enable), '
        .. "then power it on")
  end

  -- the disks (§1.1, §1.3, §1.4, §2.3, §2.5)
  local referenced = {} -- descriptor file names the .vmx and the .vmsd use
  local ctk_used = {} -- change tracking files the descriptors name (lower-cased)
  for _, d in ipairs(vmx.disks) do
    if d.present and d.disk then
      local where = d.node .. " (" .. (d.file or "no file") .. ")"
      if d.file then referenced[basename(d.file)] = true end
      if d.independent then
        add("CBT-DISK-MODE", "warning", vmx_name, d.line,
          ("%s is %s: independent disks are not tracked and not copied by VDDK"):format(where, d.mode),
          "make the disk dependent (mode persistent) with the VM powered off", d.node)
      end
      if d.ctk_enabled ~= true and not d.independent then -- independent: CBT-DISK-MODE says it
        add("CBT-DISK", "warning", vmx_name, d.line,
          ("%s: %s.ctkEnabled is %s: the disk is not tracked and is copied in full at cutover")
            :format(where, d.node, d.ctk_enabled == false and "FALSE" or "not set"),
          ('set %s.ctkEnabled = "TRUE" (cbt.enable)'):format(d.node), d.node)
      end
      local elsewhere = d.file and (d.file:match("^/") or d.file:match("\\") or d.file:match("^%a:"))
      if d.file and is_delta_name(basename(d.file:gsub("\\", "/"))) then
        add("SNAP-NONE", "critical", vmx_name, d.line,
          ("%s runs on a snapshot delta: snapshots exist"):format(where),
          "delete or consolidate the snapshots before a warm migration or enabling CBT", d.node)
      end
      if elsewhere then
        add("DISK-ELSEWHERE", "info", vmx_name, d.line,
          ("%s lies outside the VM's folder: its descriptor is not checked"):format(where), nil, d.node)
      elseif d.file then
        local full = dir .. "/" .. d.file
        local probe = io.open(full, "rb")
        if probe then probe:close() end
        if not probe then
          add("DISK-MISSING", "critical", vmx_name, d.line, ("%s: the file is missing"):format(where),
            "restore the disk or remove it from the VM", d.node)
        else
          local ok, desc = pcall(core.parse_vmdk, full)
          if not ok then
            add("CBT-DESCRIPTOR", "warning", d.file, nil, ("%s: %s"):format(where,
              tostring(desc.message or desc)), nil, d.node)
          else
            if desc.rdm == "physical" then
              add("CBT-RDM", "warning", d.file, nil,
                ("%s is a raw device mapping in physical mode: it cannot be tracked, and VDDK "
                  .. "cannot copy it"):format(where),
                "switch the RDM to virtual mode and migrate it with copy-offload", d.node)
            elseif desc.rdm == "virtual" then
              add("CBT-RDM", "warning", d.file, nil,
                ("%s is a raw device mapping (virtual mode): VDDK cannot copy it"):format(where),
                "migrate it with copy-offload, or move its data to a virtual disk", d.node)
            end
            if not is_delta_name(basename(d.file)) and desc.parent_cid
              and desc.parent_cid:lower() ~= "ffffffff" then
              add("SNAP-NONE", "critical", vmx_name, d.line,
                ("%s runs on a snapshot delta (its parentCID is %s): snapshots exist"):format(where,
                  desc.parent_cid),
                "delete or consolidate the snapshots before a warm migration or enabling CBT", d.node)
            end
            local tracked = vm_tracking and d.ctk_enabled == true and desc.rdm ~= "physical"
            local ctk = desc.change_track_path
            if ctk then ctk_used[basename(ctk):lower()] = true end
            local ctk_path = ctk and (dirname(full) .. "/" .. ctk)
            local ctk_file = ctk and (dirname(d.file) == "." and file(ctk) or nil)
            if ctk and not ctk_file then
              local fh = io.open(ctk_path, "rb")
              if fh then
                ctk_file = { size = fh:seek("end") }
                fh:close()
              end
            end
            if tracked and (desc.version ~= 3 or ctk == nil) then
              add("CBT-DESCRIPTOR", "warning", d.file, nil,
                ("%s: CBT is switched on but the descriptor has version %s and %s: it takes effect "
                  .. "at the next power-on or snapshot create/delete"):format(where,
                  tostring(desc.version), ctk and "a changeTrackPath" or "no changeTrackPath"),
                "power-cycle the VM, or create and delete a snapshot", d.node)
            elseif tracked and not ctk_file then
              add("CBT-CTK-FILES", "warning", d.file, nil,
                ("%s: the change tracking file %s is missing"):format(where, ctk),
                "reset CBT (off, power-cycle, on) and take a new full copy", d.node)
            elseif not tracked and ctk ~= nil then
              add("CBT-DESCRIPTOR", "info", d.file, nil,
                ("%s is not tracked but its descriptor still names %s"):format(where, ctk), nil, d.node)
            end
            if ctk_file and ctk_file.size == 0 then
              add("CBT-CTK-FILES", "warning", ctk, nil, ("%s is empty"):format(ctk),
                "reset CBT (off, power-cycle, on) and take a new full copy", d.node)
            end
          end
        end
      end
    end
  end

  -- snapshots (§2.5, §4.3 VMHasSnapshots and VMConsolidationNeeded)
  local vmsd_entry = file((vmx_name:gsub("%.[vV][mM][xX]$", "")) .. ".vmsd")
  local vmsd_name = vmsd_entry and vmsd_entry.name
  local vmsd_ok, vmsd = true, nil
  if vmsd_name then
    vmsd_ok, vmsd = pcall(core.parse_vmsd, dir .. "/" .. vmsd_name)
    if not vmsd_ok then
      add("VMSD-PARSE", "critical", vmsd_name, nil, ("the snapshot database cannot be read: %s")
        :format(tostring(vmsd.message or vmsd)),
        "check the VM's snapshots in vSphere; a damaged .vmsd hides whether snapshots exist")
    end
  end
  if vmsd_name and vmsd_ok then
    local count = vmsd.num_snapshots or #vmsd.snapshots
    if count > 0 then
      add("SNAP-NONE", "critical", vmsd_name, nil,
        ("%d snapshot(s) exist: a warm migration cannot start, and enabling CBT now could give "
          .. "silently incomplete incrementals"):format(count),
        "delete the snapshots (and consolidate) first")
    end
    for _, s in ipairs(vmsd.snapshots) do
      for _, disk in ipairs(s.disks) do
        if disk.file then referenced[basename(disk.file)] = true end
      end
    end
    if vmsd.need_consolidate then
      add("SNAP-CONSOLIDATE", "warning", vmsd_name, nil, "snapshot.needConsolidate is TRUE",
        "consolidate the VM's disks (Snapshots > Consolidate)")
    end
  end
  for _, f in ipairs(listing) do
    if is_delta_name(f.name:lower()) and not referenced[f.name] then
      add("SNAP-CONSOLIDATE", "warning", f.name, nil,
        ("%s is a snapshot delta that neither the .vmx nor the .vmsd uses"):format(f.name),
        "consolidate the VM's disks; check that no snapshot still needs the file")
    end
  end

  -- CBT-CTK-FILES: orphans (§1.4, §3.1)
  for _, f in ipairs(listing) do
    local base = f.name:match("^(.*)%-[cC][tT][kK]%.[vV][mM][dD][kK]$")
    if base and not file(base .. ".vmdk") and not ctk_used[f.name:lower()] then
      add("CBT-CTK-FILES", "warning", f.name, nil,
        ("%s has no disk %s.vmdk: a leftover change tracking file"):format(f.name, base),
        "remove it with the VM powered off (leftovers can break backups)")
    end
  end

  -- SHARED-DISK and PASSTHRU (§4.2)
  local present_nodes = {}
  for _, d in ipairs(vmx.disks) do present_nodes[d.node] = d.present end
  local function present(ns) return is_true(vmx.values[ns .. ".present"]) == true end
  for _, e in ipairs(vmx.entries) do
    local key, value = e.key:lower(), e.value:lower()
    local node = key:match("^(%a+%d+:%d+)%.sharing$")
    local nic = key:match("^(ethernet%d+)%.virtualdev$")
    if node and present_nodes[node] and value ~= "none" and value ~= "" then
      add("SHARED-DISK", "warning", vmx_name, e.line,
        ("%s is %s: shared disks cannot be migrated warm"):format(e.key, e.value), nil)
    elseif key:match("^scsi%d+%.sharedbus$") and value ~= "none" and present(key:match("^[^.]+")) then
      add("SHARED-DISK", "warning", vmx_name, e.line,
        ("%s is %s: disks on a shared SCSI bus are not tracked"):format(e.key, e.value), nil)
    elseif key:match("^pcipassthru%d+%.present$") and is_true(value) then
      add("PASSTHRU", "critical", vmx_name, e.line,
        ("%s: a PCI passthrough device cannot be migrated"):format(e.key),
        "remove the passthrough device before migrating")
    elseif nic and value == "sriov" and present(nic) then
      add("PASSTHRU", "warning", vmx_name, e.line,
        ("%s is an SR-IOV network adapter"):format(e.key:match("^[^.]+")),
        "plan an SR-IOV network on the KubeVirt side")
    elseif (key == "usb.present" or key == "usb_xhci.present") and is_true(value) then
      add("PASSTHRU", "warning", vmx_name, e.line, "the VM has a USB controller", nil)
    end
  end

  table.sort(findings, function(a, b)
    if a.severity ~= b.severity then return SEVERITY_ORDER[a.severity] < SEVERITY_ORDER[b.severity] end
    if a.file ~= b.file then return a.file < b.file end
    return (a.line or 0) < (b.line or 0)
  end)
  local counts = { critical = 0, warning = 0, info = 0 }
  for _, f in ipairs(findings) do counts[f.severity] = counts[f.severity] + 1 end
  return { vmx = vmx_path, name = vmx.values.displayname, findings = findings, counts = counts,
    disks = vmx.disks }
end

-- --- vSphere inventory exports ---------------------------------------------------------------

-- obj's value under a key in any case ("config" and "Config": govc's JSON changed its casing).
local function field(obj, name)
  if type(obj) ~= "table" then return nil end
  local v = rawget(obj, name)
  if v == nil then
    local lower = name:lower()
    for k, value in pairs(obj) do
      if type(k) == "string" and k:lower() == lower then
        v = value
        break
      end
    end
  end
  if v == json.null then return nil end -- JSON null reads as absent
  return v
end

-- Follows a path of fields in any case: path(vm, "config", "hardware", "device").
local function path_of(obj, ...)
  for _, name in ipairs({ ... }) do
    obj = field(obj, name)
    if obj == nil then return nil end
  end
  return obj
end

local function list(v)
  if type(v) ~= "table" then return {} end
  return v
end

local function type_name(device)
  local t = field(device, "_typeName") or field(device, "type")
  return type(t) == "string" and t or nil
end

-- The VMs of an export: {virtualMachines = [...]} (govc vm.info -json, either casing), a list of
-- VMs, or one VM.
local function inventory_vms(doc)
  local vms = field(doc, "virtualMachines")
  if type(vms) == "table" then return vms end
  if type(doc) == "table" and doc[1] ~= nil then return doc end
  if field(doc, "config") ~= nil then return { doc } end
  return nil
end

-- A controller's bus ("scsi", "sata", "nvme", "ide") from its type name, or from the device key
-- ranges vCenter uses when the export has no type names (IDE 200, SCSI 1000, SATA 15000, NVMe
-- 31000).
local function controller_bus(controller, key)
  local t = (type_name(controller) or ""):lower()
  if t:match("scsi") or t:match("lsilogic") or t:match("buslogic") then return "scsi" end
  if t:match("ahci") or t:match("sata") then return "sata" end
  if t:match("nvme") then return "nvme" end
  if t:match("ide") then return "ide" end
  if key >= 31000 and key < 31100 then return "nvme" end
  if key >= 15000 and key < 15100 then return "sata" end
  if key >= 1000 and key < 1100 then return "scsi" end
  if key >= 200 and key < 300 then return "ide" end
  return nil
end

-- The UUID part of a changeId ("52 de ... 63/81" -> "52 de ... 63"), or nil.
local function change_uuid(change_id)
  if type(change_id) ~= "string" then return nil end
  return change_id:match("^(.-)/%d*$")
end

-- disk file -> changeId from an earlier export, for CBT-RESET (datastore paths name one disk,
-- whatever VM names say).
local function previous_change_ids(path)
  local doc = json.decode_file(path)
  local out = {}
  for _, vm in ipairs(list(inventory_vms(doc))) do
    for _, device in ipairs(list(path_of(vm, "config", "hardware", "device"))) do
      local backing = field(device, "backing")
      local file, change = field(backing, "fileName"), field(backing, "changeId")
      if type(file) == "string" and type(change) == "string" then out[file] = change end
    end
  end
  return out
end

local function check_inventory_vm(vm, file, previous)
  local findings = json.array()
  local name = field(vm, "name") or path_of(vm, "config", "name") or "?"
  local function add(id, severity, message, fix, disk)
    findings[#findings + 1] = { id = id, severity = severity, file = file, vm = name,
      message = message, fix = fix, disk = disk }
  end
  local config = field(vm, "config")
  if type(config) ~= "table" then
    add("INVENTORY-CONFIG", "critical", "the export has no config for this VM (inaccessible, or a "
      .. "partial export): nothing can be checked", "export it again with the VM accessible")
    return { name = name, findings = findings, counts = { critical = 1, warning = 0, info = 0 },
      disks = json.array() }
  end
  local extra = {}
  for _, o in ipairs(list(field(config, "extraConfig"))) do
    local k, v = field(o, "key"), field(o, "value")
    if type(k) == "string" then extra[k:lower()] = type(v) == "string" and v or tostring(v) end
  end
  -- CBT-HWVER, CBT-VM, CBT-DISALLOWED (§1.1-1.3, §4.3)
  local raw_version = field(config, "version")
  local version = (type(raw_version) == "string" or type(raw_version) == "number")
    and tonumber(tostring(raw_version):match("(%d+)")) or nil
  if version == nil then
    add("CBT-HWVER", "warning", "no readable config.version", nil)
  elseif version < 7 then
    add("CBT-HWVER", "critical", ("virtual hardware version %d: change tracking needs 7 or later")
      :format(version), "upgrade the VM's compatibility to version 7 or later")
  end
  if is_true(extra.ctkdisallowed) then
    add("CBT-DISALLOWED", "critical", "extraConfig ctkDisallowed is TRUE", "remove ctkDisallowed")
  end
  local tracking = field(config, "changeTrackingEnabled") == true
  if not tracking then
    add("CBT-VM", "critical", "config.changeTrackingEnabled is not true: change tracking is off",
      "enable it (ReconfigVM_Task changeTrackingEnabled = true), then create and delete a snapshot")
  end
  -- snapshots (§2.5, §4.3)
  local snapshot = field(vm, "snapshot")
  if type(snapshot) == "table" and (field(snapshot, "currentSnapshot") ~= nil
      or #list(field(snapshot, "rootSnapshotList")) > 0) then
    add("SNAP-NONE", "critical", "the VM has snapshots", "delete or consolidate them first")
  end
  if path_of(vm, "runtime", "consolidationNeeded") == true then
    add("SNAP-CONSOLIDATE", "warning", "runtime.consolidationNeeded is true",
      "consolidate the VM's disks")
  end
  -- devices (§4.1, §4.2)
  local devices = list(path_of(config, "hardware", "device"))
  local controllers = {}
  for _, device in ipairs(devices) do
    local key = tonumber(field(device, "key"))
    if key and field(device, "busNumber") ~= nil then controllers[key] = device end
  end
  local disks = json.array()
  for _, device in ipairs(devices) do
    local t = type_name(device) or ""
    local backing = field(device, "backing")
    local file_name = field(backing, "fileName") or field(backing, "descriptorFileName")
    local is_disk = t == "VirtualDisk" or (t == "" and type(file_name) == "string"
      and file_name:lower():match("%.vmdk$") and (field(device, "capacityInKB") ~= nil
        or field(device, "capacityInBytes") ~= nil))
    if is_disk then
      local ckey = tonumber(field(device, "controllerKey")) or 0
      local controller = controllers[ckey]
      local bus = controller_bus(controller, ckey)
      local number = tonumber(field(controller, "busNumber")) or (ckey % 100)
      local unit = tonumber(field(device, "unitNumber"))
      local node = bus and unit and (bus .. number .. ":" .. unit) or ("disk " .. tostring(file_name))
      local where = node .. " (" .. tostring(file_name) .. ")"
      local ctk = bus and unit and is_true(extra[(node .. ".ctkEnabled"):lower()])
      disks[#disks + 1] = { node = node, file = file_name, ctk_enabled = ctk,
        mode = field(backing, "diskMode"), change_id = field(backing, "changeId") }
      local mode = tostring(field(backing, "diskMode") or "")
      if mode:match("^independent") then
        add("CBT-DISK-MODE", "warning", ("%s is %s: not tracked, not copied by VDDK"):format(where, mode),
          "make the disk dependent (persistent)", node)
      elseif ctk ~= true then
        add("CBT-DISK", "warning", ("%s: extraConfig %s.ctkEnabled is not TRUE: copied in full at cutover")
          :format(where, node), ("set %s.ctkEnabled = TRUE"):format(node), node)
      end
      local compat = field(backing, "compatibilityMode")
      if compat == nil and (t == "" or t == "VirtualDisk")
        and field(backing, "descriptorFileName") ~= nil then
        compat = "physicalMode" -- a RawDiskVer2 backing: Forklift takes it as physical
      end
      if compat ~= nil or field(backing, "lunUuid") ~= nil then
        add("CBT-RDM", "warning", ("%s is a raw device mapping (%s): VDDK cannot copy it%s"):format(where,
          tostring(compat or "?"), compat == "physicalMode" and ", and it cannot be tracked" or ""),
          "migrate it with copy-offload, or move its data to a virtual disk", node)
      end
      local sharing = field(backing, "sharing")
      if type(sharing) == "string" and sharing ~= "" and sharing ~= "sharingNone" then
        add("SHARED-DISK", "warning", ("%s is shared (%s)"):format(where, sharing), nil, node)
      end
      local before = previous and previous[file_name]
      if previous and before ~= nil then
        local now = field(backing, "changeId")
        if change_uuid(now) ~= change_uuid(before) then
          add("CBT-RESET", "warning", ("%s: changeId %s, was %s: change tracking was reset, the "
            .. "next copy is a full one"):format(where, tostring(now), before),
            "plan a full copy; find out why it was reset (power loss, CBT off and on)", node)
        end
      end
    elseif t == "VirtualPCIPassthrough" or (t == "" and (field(backing, "vgpu") ~= nil
        or field(backing, "allowedDevice") ~= nil
        or (field(backing, "vendorId") ~= nil and field(backing, "deviceId") ~= nil))) then
      -- DirectPath I/O, dynamic DirectPath (allowedDevice) and NVIDIA vGPU (vgpu: the profile)
      -- are all VirtualPCIPassthrough; older exports name none of them but carry their backings.
      local vgpu = field(backing, "vgpu")
      local what = type(vgpu) == "string" and ("a vGPU (profile %s)"):format(vgpu)
        or field(backing, "allowedDevice") ~= nil and "a dynamic DirectPath I/O device"
        or "a PCI passthrough device"
      add("PASSTHRU", "critical", what .. " cannot be migrated",
        "remove it first, and plan a GPU or host device for the VM on the KubeVirt side")
    elseif t == "VirtualSriovEthernetCard" or field(device, "sriovBacking") ~= nil then
      add("PASSTHRU", "warning", "an SR-IOV network adapter", "plan an SR-IOV network on the KubeVirt side")
    elseif t:match("^VirtualUSB") or (t == "" and field(device, "autoConnectDevices") ~= nil) then
      add("PASSTHRU", "warning", "a USB controller", nil)
    end
  end
  table.sort(findings, function(a, b)
    if a.severity ~= b.severity then return SEVERITY_ORDER[a.severity] < SEVERITY_ORDER[b.severity] end
    return (a.disk or "") < (b.disk or "")
  end)
  local counts = { critical = 0, warning = 0, info = 0 }
  for _, f in ipairs(findings) do counts[f.severity] = counts[f.severity] + 1 end
  return { name = name, findings = findings, counts = counts, disks = disks }
end

--- cbt.check_inventory(file [, {previous=}]) -> report
-- The checks of cbt.check_vm, as far as a vSphere inventory export allows (the JSON govc prints
-- for VMs, either casing). previous: an earlier export; a disk whose changeId UUID changed since
-- is reported as CBT-RESET. See docs/cbt.md.
function M.check_inventory(file, opts)
  if type(file) ~= "string" then
    vmrun.error("usage", "cbt.check_inventory(file [, opts]): the export's path is needed", { level = 2 })
  end
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "previous" then
      vmrun.error("usage", ("cbt.check_inventory: unknown option '%s' (previous)"):format(tostring(k)),
        { level = 2 })
    end
  end
  local doc = json.decode_file(file)
  local vms = inventory_vms(doc)
  if vms == nil then
    vmrun.error("decode", ("%s: not a VM inventory export (no virtualMachines, no list of VMs)")
      :format(file), { resource = file, level = 2 })
  end
  local previous = opts.previous and previous_change_ids(opts.previous) or nil
  local report = { file = file, vms = json.array(), counts = { critical = 0, warning = 0, info = 0 } }
  for _, vm in ipairs(vms) do
    local r = check_inventory_vm(vm, file, previous)
    report.vms[#report.vms + 1] = r
    for k, n in pairs(r.counts) do report.counts[k] = report.counts[k] + n end
  end
  return report
end

-- --- KubeVirt's own change tracking (reference §5.3, §8.3) -----------------------------------

-- A LabelSelector object as the selector text cluster.list takes ("a=b,c in (d,e),!f"), or nil
-- for an empty selector (which selects everything).
local function selector_text(sel)
  if type(sel) ~= "table" then return nil end
  local parts = {}
  local labels = {}
  for k, v in pairs(field(sel, "matchLabels") or {}) do labels[#labels + 1] = k .. "=" .. tostring(v) end
  table.sort(labels)
  for _, l in ipairs(labels) do parts[#parts + 1] = l end
  for _, e in ipairs(list(field(sel, "matchExpressions"))) do
    local key, op = field(e, "key"), field(e, "operator")
    local values = table.concat(list(field(e, "values")), ",")
    if op == "In" then parts[#parts + 1] = ("%s in (%s)"):format(key, values)
    elseif op == "NotIn" then parts[#parts + 1] = ("%s notin (%s)"):format(key, values)
    elseif op == "Exists" then parts[#parts + 1] = key
    elseif op == "DoesNotExist" then parts[#parts + 1] = "!" .. key end
  end
  return #parts > 0 and table.concat(parts, ",") or nil
end

--- cbt.check_cluster() -> report
-- KubeVirt's own change tracking on the current cluster: the IncrementalBackup feature gate, the
-- changedBlockTrackingLabelSelectors of the KubeVirt CR, each VM's status.changedBlockTracking
-- and its VirtualMachineBackupTracker checkpoint. See docs/cbt.md. Raises kind "usage" without
-- a cluster.
function M.check_cluster()
  local cluster = require("vmrun.cluster")
  local kv = cluster.list("kubevirt.io/KubeVirt")[1]
  local config = path_of(kv, "spec", "configuration")
  local gates = list(path_of(config, "developerConfiguration", "featureGates"))
  local gate = false
  for _, g in ipairs(gates) do if g == "IncrementalBackup" then gate = true end end
  local findings = json.array()
  local function add(id, severity, vm, message, fix)
    findings[#findings + 1] = { id = id, severity = severity, vm = vm, message = message, fix = fix }
  end
  if not gate then
    add("KV-FG", "warning", nil, "the KubeVirt feature gate IncrementalBackup is off: no VM has "
      .. "change tracking, every backup is a full one",
      "add IncrementalBackup to spec.configuration.developerConfiguration.featureGates (Alpha)")
  end
  local selectors = field(config, "changedBlockTrackingLabelSelectors")
  local chosen = {} -- "ns/name" of the VMs the selectors pick
  if gate and selectors == nil then
    add("KV-FG", "warning", nil, "no changedBlockTrackingLabelSelectors: no VM is chosen for "
      .. "change tracking", "set spec.configuration.changedBlockTrackingLabelSelectors")
  elseif selectors ~= nil then
    local ns_sel = selector_text(field(selectors, "namespaceLabelSelector"))
    local vm_sel = selector_text(field(selectors, "virtualMachineLabelSelector"))
    for _, ns in ipairs(cluster.list("Namespace", ns_sel and { selector = ns_sel } or nil)) do
      local opts = { namespace = ns.metadata.name, selector = vm_sel }
      for _, vm in ipairs(cluster.list("vm", opts)) do
        chosen[vm.metadata.namespace .. "/" .. vm.metadata.name] = true
      end
    end
  end
  local trackers = {}
  for _, t in ipairs(cluster.list("backup.kubevirt.io/VirtualMachineBackupTracker")) do
    local source = path_of(t, "spec", "source", "name")
    if source then trackers[t.metadata.namespace .. "/" .. source] = t end
  end
  local vms = json.array()
  for _, vm in ipairs(cluster.list("vm")) do
    local id = vm.metadata.namespace .. "/" .. vm.metadata.name
    local state = path_of(vm, "status", "changedBlockTracking", "state")
    vms[#vms + 1] = { vm = id, chosen = chosen[id] == true, state = state }
    if chosen[id] then
      if state ~= "Enabled" then
        add("KV-STATE", "warning", id, ("change tracking is %s, not Enabled"):format(tostring(state or "not reported")),
          state == "PendingRestart" and "restart the VM to turn it on" or nil)
      elseif not path_of(trackers[id], "status", "latestCheckpoint") then
        add("KV-TRACKER", "warning", id, "no VirtualMachineBackupTracker checkpoint yet: the next "
          .. "backup is a full one", nil)
      end
    end
  end
  local counts = { critical = 0, warning = 0, info = 0 }
  for _, f in ipairs(findings) do counts[f.severity] = counts[f.severity] + 1 end
  return { feature_gate = gate, vms = vms, findings = findings, counts = counts }
end

-- The lines of text with their line ends ("\n", "\r\n" or "" for a last line without one).
local function split_lines(text)
  local lines, pos = {}, 1
  while pos <= #text do
    local stop = text:find("[\r\n]", pos)
    if stop == nil then
      lines[#lines + 1] = { body = text:sub(pos), ending = "" }
      break
    end
    local ending = text:sub(stop, stop) == "\r" and text:sub(stop + 1, stop + 1) == "\n" and "\r\n"
      or text:sub(stop, stop) -- LF, CRLF, or a CR alone, as the .vmx reader ends lines
    lines[#lines + 1] = { body = text:sub(pos, stop - 1), ending = ending }
    pos = stop + #ending
  end
  return lines
end

local ENABLED_NOTE = "change tracking takes effect at the next power-on, or after a snapshot is "
  .. "created and deleted; check with cbt.check_vm afterwards"

--- cbt.enable(vmx [, {force=, dry_run=}]) -> result
-- Switches change tracking on in a .vmx: ctkEnabled and the ctkEnabled of every present,
-- dependent hard disk. See docs/cbt.md. Raises kind "refused" (nothing written) while snapshots
-- exist, the VM looks powered on (.lck files) or ctkDisallowed is set, unless force; kind
-- "input"/"decode" as cbt.parse_vmx; kind "usage" on bad arguments.
function M.enable(vmx_path, opts)
  if type(vmx_path) ~= "string" then
    vmrun.error("usage", "cbt.enable(vmx [, opts]): the .vmx path is needed", { level = 2 })
  end
  opts = opts or {}
  if type(opts) ~= "table" then
    vmrun.error("usage", "cbt.enable: opts must be a table", { level = 2 })
  end
  for k in pairs(opts) do
    if k ~= "force" and k ~= "dry_run" then
      vmrun.error("usage", ("cbt.enable: unknown option '%s' (force, dry_run)"):format(tostring(k)),
        { level = 2 })
    end
  end
  local function read_all()
    local f = io.open(vmx_path, "rb")
    if not f then return nil end
    local text = f:read("a")
    f:close()
    return text
  end
  local original = read_all()
  local vmx = core.parse_vmx(vmx_path) -- raises kind input when the file cannot be read
  if read_all() ~= original then -- the lines below are edited by the parse's line numbers
    vmrun.error("refused", ("cbt.enable: %s changed while it was being read: nothing written")
      :format(vmx_path), { resource = vmx_path, level = 2 })
  end
  local dir, name = dirname(vmx_path), basename(vmx_path)
  -- what stands in the way (§1.5, §1.6: never with snapshots; a running VM rewrites its .vmx)
  local blockers = {}
  local ok, listing = pcall(core.files, dir)
  if not ok then
    blockers[#blockers + 1] = ("the folder cannot be listed (%s): whether the VM is powered on is "
      .. "unknown"):format(tostring(listing.message or listing))
  end
  for _, f in ipairs(ok and listing or {}) do
    if f.name:match("%.lck$") or f.name:match("^%.lck%-") then
      blockers[#blockers + 1] = ("%s exists: the VM looks powered on"):format(f.name)
    end
  end
  local vmsd_name = (name:gsub("%.[vV][mM][xX]$", "")) .. ".vmsd"
  for _, f in ipairs(ok and listing or {}) do
    if f.name:lower() == vmsd_name:lower() then vmsd_name = f.name end
  end
  local vmsd_ok, vmsd = pcall(core.parse_vmsd, dir .. "/" .. vmsd_name)
  if not vmsd_ok and not tostring(vmsd.message or vmsd):match("No such file") then
    blockers[#blockers + 1] = ("%s cannot be read: whether snapshots exist is unknown"):format(vmsd_name)
  end
  if vmsd_ok and (vmsd.num_snapshots or #vmsd.snapshots) > 0 then
    blockers[#blockers + 1] = ("%s lists %d snapshot(s): enabling CBT with snapshots can give "
      .. "silently incomplete incrementals"):format(vmsd_name, vmsd.num_snapshots or #vmsd.snapshots)
  end
  for _, d in ipairs(vmx.disks) do
    if d.present and d.disk and d.file and is_delta_name(basename(d.file:gsub("\\", "/")):lower()) then
      blockers[#blockers + 1] = ("%s runs on the snapshot delta %s"):format(d.node, d.file)
    end
  end
  if is_true(vmx.values.ctkdisallowed) then
    blockers[#blockers + 1] = "ctkDisallowed is TRUE (a clustered multi-writer VM?)"
  end
  if #blockers > 0 and not opts.force then
    vmrun.error("refused", ("cbt.enable: %s: %s; nothing written (force = true to go ahead)")
      :format(vmx_path, table.concat(blockers, "; ")), { resource = vmx_path, level = 2 })
  end

  -- the keys to set: the VM's switch, then each present dependent hard disk's
  local wanted = { { key = "ctkEnabled" } }
  local skipped = {}
  for _, d in ipairs(vmx.disks) do
    if d.present and d.disk then
      if d.independent then
        skipped[#skipped + 1] = ("%s is %s: independent disks cannot be tracked"):format(d.node, d.mode)
      else
        wanted[#wanted + 1] = { key = d.node .. ".ctkEnabled" }
      end
    end
  end
  local lines = split_lines(original)
  local ending = (lines[1] and lines[1].ending ~= "" and lines[1].ending) or "\n"
  local changes, appended = {}, {}
  -- every line that sets a wanted key: the entry, and the later duplicates the reader reported
  local lines_of = {}
  for _, entry in ipairs(vmx.entries) do
    local k = entry.key:lower()
    lines_of[k] = lines_of[k] or {}
    table.insert(lines_of[k], { line = entry.line, key = entry.key, value = entry.value })
  end
  for _, issue in ipairs(vmx.issues) do
    local key = issue.message:match("^duplicate key '([^']+)'")
    local body = key and lines[issue.line] and lines[issue.line].body
    local value = body and body:match('=%s*"(.-)"%s*$')
    if key and lines_of[key:lower()] and value then
      table.insert(lines_of[key:lower()], { line = issue.line, key = key, value = value })
    end
  end
  for _, w in ipairs(wanted) do
    local found = lines_of[w.key:lower()]
    if found == nil then
      appended[#appended + 1] = w.key .. ' = "TRUE"'
      changes[#changes + 1] = { key = w.key, new = w.key .. ' = "TRUE"' }
    else
      for _, e in ipairs(found) do
        if is_true(e.value) ~= true then
          local line = lines[e.line]
          local lead = line.body:match("^\239\187\191[ \t]*") or line.body:match("^[ \t]*")
          local new = lead .. e.key .. ' = "TRUE"' -- the byte order mark and indentation kept
          changes[#changes + 1] = { key = e.key, line = e.line, old = line.body, new = new }
          line.body = new
        end
      end
    end
  end
  table.sort(changes, function(a, b) return (a.line or math.huge) < (b.line or math.huge) end)
  local result = { vmx = vmx_path, changed = #changes > 0, changes = changes, skipped = skipped,
    blockers = blockers, note = ENABLED_NOTE }
  local diff = { "--- " .. name, "+++ " .. name .. " (change tracking on)" }
  for _, c in ipairs(changes) do
    if c.line then
      diff[#diff + 1] = ("@@ line %d @@"):format(c.line)
      diff[#diff + 1] = "-" .. c.old
    else
      diff[#diff + 1] = "@@ appended @@"
    end
    diff[#diff + 1] = "+" .. c.new
  end
  result.diff = #changes > 0 and (table.concat(diff, "\n") .. "\n") or ""
  if #changes == 0 or opts.dry_run then
    result.written = false
    return result
  end
  local out = {}
  for i, l in ipairs(lines) do
    out[#out + 1] = l.body .. ((i == #lines and l.ending == "" and #appended > 0) and ending or l.ending)
  end
  for _, a in ipairs(appended) do out[#out + 1] = a .. ending end
  local function exists(p)
    local fh = io.open(p, "rb")
    if fh then fh:close() end
    return fh ~= nil
  end
  local backup, n = vmx_path .. ".vmrun-backup", 1
  while exists(backup) do -- the first free name; replace_file never overwrites one anyway
    n = n + 1
    backup = vmx_path .. ".vmrun-backup." .. n
  end
  core.replace_file(vmx_path, original, table.concat(out), backup)
  result.written, result.backup = true, backup
  return result
end

return M
