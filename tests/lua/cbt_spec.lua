-- cbt_spec.lua: the cbt module's .vmx, .vmsd and VMDK descriptor readers (reference
-- vmware-cbt.md §2) on files
-- written to a temporary directory: entries with their lines, values by lower-cased key, the
-- disks on each bus, issues for odd lines, snapshots from a .vmsd, and the errors for files that
-- cannot be read or are not key/value files.
local helpers = require("spec_helpers")

local dir, remove_dir = helpers.tmpdir()
local function file(name, text)
  local path = dir .. "/" .. name
  helpers.write_file(path, text)
  return path
end

local VMX = table.concat({
  '.encoding = "UTF-8"',
  'config.version = "8"',
  'virtualHW.version = "19"',
  'displayName = "db |22primary|22"',
  'ctkEnabled = "TRUE"',
  'scsi0.present = "TRUE"',
  'scsi0.virtualDev = "pvscsi"',
  'scsi0:0.present = "TRUE"',
  'scsi0:0.fileName = "db.vmdk"',
  'scsi0:0.ctkEnabled = "TRUE"',
  'scsi0:1.present = "TRUE"',
  'scsi0:1.fileName = "db_1.vmdk"',
  'scsi0:1.mode = "independent-persistent"',
  'sata0.present = "TRUE"',
  'sata0:0.present = "TRUE"',
  'sata0:0.deviceType = "cdrom-image"',
  'sata0:0.fileName = "/iso/tools.iso"',
  'nvme0:0.present = "FALSE"',
  'nvme0:0.fileName = "old.vmdk"',
  'ctkenabled = "FALSE"',
  'guestOS = rhel9-64',
  '',
}, "\n")

describe("cbt.parse_vmx", function()
  it("keeps every entry with its line, and values by lower-cased key", function()
    local vmx = cbt.parse_vmx(file("db.vmx", VMX))
    expect(vmx.path).to_be(dir .. "/db.vmx")
    expect(#vmx.entries).to_be(20) -- the duplicate ctkenabled is not an entry
    expect(vmx.entries[4]).to_equal({ key = "displayName", value = 'db "primary"', line = 4, quoted = true })
    expect(vmx.values["virtualhw.version"]).to_be("19")
    expect(vmx.values.ctkenabled).to_be("TRUE") -- the first of the duplicates wins
    expect(vmx.values.guestos).to_be("rhel9-64")
    expect(vmx.entries[20].quoted).to_be(false)
  end)

  it("reports odd lines as issues with their line numbers", function()
    local vmx = cbt.parse_vmx(file("db.vmx", VMX))
    expect(#vmx.issues).to_be(2)
    expect(vmx.issues[1]).to_equal({ line = 20,
      message = "duplicate key 'ctkenabled' (first at line 5): the first value is used" })
    expect(vmx.issues[2]).to_equal({ line = 21, message = "the value of 'guestOS' is not quoted" })
  end)

  it("lists the devices on every disk bus, sorted, with what the checks need", function()
    local disks = cbt.parse_vmx(file("db.vmx", VMX)).disks
    local nodes = {}
    for i, d in ipairs(disks) do nodes[i] = d.node end
    expect(nodes).to_equal({ "nvme0:0", "sata0:0", "scsi0:0", "scsi0:1" })
    expect(disks[1]).to_equal({ node = "nvme0:0", bus = "nvme", controller = 0, unit = 0,
      present = false, disk = true, file = "old.vmdk", mode = "persistent", independent = false,
      line = 18 })
    expect(disks[2].disk).to_be(false)
    expect(disks[2].device_type).to_be("cdrom-image")
    expect(disks[3].ctk_enabled).to_be(true)
    expect(disks[3].present).to_be(true)
    expect(disks[4].ctk_enabled).to_be_nil()
    expect(disks[4].independent).to_be(true)
    expect(disks[4].mode).to_be("independent-persistent")
  end)

  it("refuses files that are not .vmx files, naming file and line", function()
    local err = expect(function() cbt.parse_vmx(dir .. "/missing.vmx") end).to_fail_with("input",
      "missing.vmx: No such file or directory")
    expect(err.resource).to_be(dir .. "/missing.vmx")
    expect(function() cbt.parse_vmx(file("disk.vmx", "# Disk DescriptorFile\nversion=1\n")) end)
      .to_fail_with("decode", "disk.vmx:1: a VMDK disk descriptor, not a key/value file")
    expect(function() cbt.parse_vmx(file("bin.vmx", 'a = "1"\n\0\1\2')) end)
      .to_fail_with("decode", "bin.vmx:2: binary data (a NUL byte)")
    expect(function() cbt.parse_vmx() end).to_fail("bad argument #1")
  end)
end)

describe("cbt.parse_vmdk", function()
  it("reads a CBT-enabled descriptor: version 3, its change tracking file, extents with lines", function()
    local d = cbt.parse_vmdk(file("db.vmdk", table.concat({
      "# Disk DescriptorFile", "version=3", 'encoding="UTF-8"', "CID=21c6c69b",
      "parentCID=ffffffff", 'createType="vmfs"', "# Extent description",
      'RW 41963520 VMFS "db-flat.vmdk"', "# Change Tracking File",
      'changeTrackPath="db-ctk.vmdk"', 'ddb.thinProvisioned = "1"', "" }, "\n")))
    expect(d.version).to_be(3)
    expect(d.change_track_path).to_be("db-ctk.vmdk")
    expect(d.create_type).to_be("vmfs")
    expect(d.cid).to_be("21c6c69b")
    expect(d.parent_cid).to_be("ffffffff")
    expect(d.rdm).to_be_nil()
    expect(d.embedded).to_be(false)
    expect(d.extents).to_equal({ { access = "RW", sectors = 41963520, type = "VMFS",
      file = "db-flat.vmdk", line = 8 } })
    expect(d.values["ddb.thinprovisioned"]).to_be("1")
    expect(d.issues).to_equal({})
  end)

  it("tells raw device mappings apart: physical mode cannot be tracked", function()
    local function rdm(create_type)
      return cbt.parse_vmdk(file("lun.vmdk", "# Disk DescriptorFile\nversion=1\ncreateType=\""
        .. create_type .. '"\nRW 2097152 VMFSRAW "lun-rdmp.vmdk"\n')).rdm
    end
    expect(rdm("vmfsPassthroughRawDeviceMap")).to_be("physical")
    expect(rdm("vmfsRDMP")).to_be("physical")
    expect(rdm("vmfsRawDeviceMap")).to_be("virtual")
    expect(rdm("vmfsRDM")).to_be("virtual")
  end)

  it("reads only the header and descriptor of a monolithic sparse image", function()
    local desc = '# Disk DescriptorFile\nversion=1\ncreateType="monolithicSparse"\n'
      .. 'RW 8388608 SPARSE "ws.vmdk"\n'
    local header = "KDMV" .. string.pack("<I4I4I8I8I8I8", 1, 3, 8388608, 128, 1, 2)
    local image = header .. ("\0"):rep(512 - #header) .. desc .. ("\0"):rep(1024 - #desc)
      .. ("\0"):rep(4 * 1024 * 1024) -- the disk's data, never read
    local d = cbt.parse_vmdk(file("ws.vmdk", image))
    expect(d.embedded).to_be(true)
    expect(d.create_type).to_be("monolithicSparse")
    expect(d.extents[1].file).to_be("ws.vmdk")
    local bare = "KDMV" .. string.pack("<I4I4I8I8I8I8", 1, 3, 8388608, 128, 0, 0)
    expect(function() cbt.parse_vmdk(file("bare.vmdk", bare .. ("\0"):rep(512))) end)
      .to_fail_with("decode", "bare.vmdk: a sparse VMDK image without an embedded descriptor")
    local far = "KDMV" .. string.pack("<I4I4I8I8I8I8", 1, 3, 8388608, 128, (1 << 53) - 1, 2)
    expect(function() cbt.parse_vmdk(file("far.vmdk", far .. ("\0"):rep(512))) end)
      .to_fail_with("decode", "far.vmdk: a sparse VMDK image whose descriptor")
  end)

  it("refuses what holds no descriptor, naming the file", function()
    expect(function() cbt.parse_vmdk(file("db-flat.vmdk", ("\0"):rep(2 * 1024 * 1024))) end)
      .to_fail_with("decode", "db-flat.vmdk: more than 1 MiB: a disk image, not a descriptor")
    expect(function() cbt.parse_vmdk(file("db.vmx", VMX)) end)
      .to_fail_with("decode", "db.vmx: no disk descriptor here")
    expect(function() cbt.parse_vmdk(file("half.vmdk", "# Disk DescriptorFile\nversion=1\n\0")) end)
      .to_fail_with("decode", "half.vmdk:3: binary data")
    expect(function() cbt.parse_vmdk(dir .. "/none.vmdk") end).to_fail_with("input", "none.vmdk")
  end)
end)

-- A VM folder: files {name = text}; returns its path.
local vm_count = 0
local function vm_folder(files)
  vm_count = vm_count + 1
  local path = dir .. "/vm" .. vm_count
  exec.run({ "mkdir", "-p", path, check = true })
  for name, text in pairs(files) do helpers.write_file(path .. "/" .. name, text) end
  return path
end

local function descriptor(version, ctk, extra)
  return "# Disk DescriptorFile\nversion=" .. version .. '\nCID=21c6c69b\nparentCID=ffffffff\n'
    .. 'createType="vmfs"\nRW 41963520 VMFS "db-flat.vmdk"\n'
    .. (ctk and ('changeTrackPath="' .. ctk .. '"\n') or "") .. (extra or "")
end

local GOOD_VMX = table.concat({
  '.encoding = "UTF-8"', 'displayName = "db"', 'virtualHW.version = "19"', 'ctkEnabled = "TRUE"',
  'scsi0.present = "TRUE"', 'scsi0:0.present = "TRUE"', 'scsi0:0.fileName = "db.vmdk"',
  'scsi0:0.ctkEnabled = "TRUE"', "" }, "\n")

-- The ids of a report's findings, "SEVERITY ID" in report order.
local function ids(report)
  local out = {}
  for _, f in ipairs(report.findings) do out[#out + 1] = f.severity .. " " .. f.id end
  return out
end

describe("cbt.check_vm", function()
  it("finds nothing wrong with a tracked VM without snapshots", function()
    local path = vm_folder({ ["db.vmx"] = GOOD_VMX, ["db.vmdk"] = descriptor(3, "db-ctk.vmdk"),
      ["db-ctk.vmdk"] = ("\0"):rep(512), ["db.vmsd"] = "" })
    local report = cbt.check_vm(path)
    expect(report.findings).to_equal({})
    expect(report.counts).to_equal({ critical = 0, warning = 0, info = 0 })
    expect(report.name).to_be("db")
    expect(report.vmx).to_be(path .. "/db.vmx")
    expect(#cbt.check_vm(path .. "/db.vmx").findings).to_be(0) -- the .vmx itself works too
  end)

  it("grades CBT off, old hardware and ctkDisallowed as Forklift does for warm migration", function()
    local report = cbt.check_vm(vm_folder({ ["old.vmx"] = table.concat({ 'virtualHW.version = "4"',
      'ctkEnabled = "FALSE"', 'ctkDisallowed = "TRUE"', "" }, "\n") }))
    expect(ids(report)).to_equal({ "critical CBT-HWVER", "critical CBT-VM", "critical CBT-DISALLOWED" })
    local vm = report.findings[2]
    expect(vm.file).to_be("old.vmx")
    expect(vm.line).to_be(2)
    expect(vm.message).to_contain('ctkEnabled is "FALSE"')
    expect(vm.fix).to_contain("cbt.enable")
  end)

  it("checks each present disk: its switch, its mode, its descriptor and change tracking file", function()
    local vmx = GOOD_VMX .. table.concat({
      'scsi0:1.present = "TRUE"', 'scsi0:1.fileName = "data.vmdk"',
      'scsi0:2.present = "TRUE"', 'scsi0:2.fileName = "scratch.vmdk"',
      'scsi0:2.mode = "independent-nonpersistent"', 'scsi0:2.ctkEnabled = "TRUE"',
      'scsi0:3.present = "TRUE"', 'scsi0:3.fileName = "lun.vmdk"', 'scsi0:3.ctkEnabled = "TRUE"',
      'scsi0:4.present = "TRUE"', 'scsi0:4.fileName = "gone.vmdk"', 'scsi0:4.ctkEnabled = "TRUE"',
      'scsi0:5.present = "FALSE"', 'scsi0:5.fileName = "off.vmdk"',
      'sata0:0.present = "TRUE"', 'sata0:0.deviceType = "cdrom-image"', 'sata0:0.fileName = "x.iso"',
      "" }, "\n")
    local report = cbt.check_vm(vm_folder({ ["db.vmx"] = vmx,
      ["db.vmdk"] = descriptor(1, nil), -- switched on, not yet effective
      ["data.vmdk"] = descriptor(1, nil),
      ["scratch.vmdk"] = descriptor(3, "scratch-ctk.vmdk"), ["scratch-ctk.vmdk"] = "x",
      ["lun.vmdk"] = '# Disk DescriptorFile\nversion=1\ncreateType="vmfsPassthroughRawDeviceMap"\n'
        .. 'RW 2097152 VMFSRAW "lun-rdmp.vmdk"\n',
      ["old-ctk.vmdk"] = "x" }))
    local by_id = {}
    for _, f in ipairs(report.findings) do
      by_id[f.id .. (f.disk and (" " .. f.disk) or "")] = f
    end
    expect(by_id["CBT-DESCRIPTOR scsi0:0"].message).to_contain("takes effect at the next power-on")
    expect(by_id["CBT-DISK scsi0:1"].message).to_contain("scsi0:1.ctkEnabled is not set")
    expect(by_id["CBT-DISK scsi0:1"].line).to_be(9)
    expect(by_id["CBT-DISK-MODE scsi0:2"].severity).to_be("warning")
    expect(by_id["CBT-RDM scsi0:3"].message).to_contain("physical mode")
    expect(by_id["DISK-MISSING scsi0:4"].severity).to_be("critical")
    expect(by_id["CBT-CTK-FILES"].file).to_be("old-ctk.vmdk") -- an orphan
    expect(by_id["CBT-CTK-FILES"].message).to_contain("leftover")
    for _, f in ipairs(report.findings) do expect(f.disk).never.to_be("scsi0:5") end
    expect(report.counts.critical).to_be(1)
  end)

  it("finds snapshots, deltas and consolidation left to do", function()
    local vmx = GOOD_VMX:gsub('"db.vmdk"', '"db-000001.vmdk"')
    local report = cbt.check_vm(vm_folder({ ["db.vmx"] = vmx,
      ["db.vmdk"] = descriptor(3, "db-ctk.vmdk"), ["db-ctk.vmdk"] = "x",
      ["db-000001.vmdk"] = "# Disk DescriptorFile\nversion=3\nparentCID=21c6c69b\n"
        .. 'createType="vmfsSparse"\nparentFileNameHint="db.vmdk"\n'
        .. 'RW 41963520 VMFSSPARSE "db-000001-delta.vmdk"\nchangeTrackPath="db-000001-ctk.vmdk"\n',
      ["db-000001-ctk.vmdk"] = "x", ["db-000002.vmdk"] = "stale",
      ["db.vmsd"] = 'snapshot.numSnapshots = "1"\nsnapshot0.uid = "1"\n'
        .. 'snapshot0.disk0.fileName = "db.vmdk"\nsnapshot.needConsolidate = "TRUE"\n' }))
    expect(ids(report)).to_equal({ "critical SNAP-NONE", "critical SNAP-NONE",
      "warning SNAP-CONSOLIDATE", "warning SNAP-CONSOLIDATE" })
    expect(report.findings[1].file).to_be("db.vmsd")
    expect(report.findings[2].disk).to_be("scsi0:0")
    expect(report.findings[3].file).to_be("db-000002.vmdk")
    expect(report.findings[4].message).to_contain("needConsolidate")
  end)

  it("finds shared disks, passthrough, SR-IOV and USB, and reports .vmx issues", function()
    local vmx = GOOD_VMX .. table.concat({ 'scsi0:0.sharing = "multi-writer"',
      'scsi1.present = "TRUE"', 'scsi1.sharedBus = "physical"', 'pciPassthru0.present = "TRUE"',
      'ethernet0.present = "TRUE"', 'ethernet0.virtualDev = "sriov"', 'usb_xhci.present = "TRUE"',
      'displayName = "again"', "guestOS = rhel9-64",
      -- devices that are not present are not flagged
      'scsi0:3.present = "FALSE"', 'scsi0:3.fileName = "old.vmdk"', 'scsi0:3.sharing = "multi-writer"',
      'scsi2.sharedBus = "virtual"', 'ethernet1.present = "FALSE"', 'ethernet1.virtualDev = "sriov"',
      'pciPassthru1.present = "FALSE"', "" }, "\n")
    local report = cbt.check_vm(vm_folder({ ["db.vmx"] = vmx,
      ["db.vmdk"] = descriptor(3, "db-ctk.vmdk"), ["db-ctk.vmdk"] = "x" }))
    expect(ids(report)).to_equal({ "critical PASSTHRU", "warning SHARED-DISK", "warning SHARED-DISK",
      "warning PASSTHRU", "warning PASSTHRU", "warning VMX-PARSE", "info VMX-PARSE" })
    expect(report.findings[1].line).to_be(12)
    expect(report.findings[6].message).to_contain("duplicate key 'displayName'")
  end)

  it("refuses a folder without a .vmx or with several, naming it", function()
    local empty = vm_folder({ ["notes.txt"] = "x" })
    expect(function() cbt.check_vm(empty) end).to_fail_with("input", "no .vmx file in " .. empty)
    local two = vm_folder({ ["a.vmx"] = GOOD_VMX, ["b.vmx"] = GOOD_VMX })
    expect(function() cbt.check_vm(two) end).to_fail_with("input", "holds 2 .vmx files (a.vmx, b.vmx)")
    expect(function() cbt.check_vm(dir .. "/nothing-here") end).to_fail_with("input", "nothing-here")
  end)
end)

local function read(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("a")
  f:close()
  return text
end

describe("cbt.check_vm on awkward folders", function()
  local function ids_of(report)
    local out = {}
    for _, f in ipairs(report.findings) do out[#out + 1] = f.id .. (f.disk and (" " .. f.disk) or "") end
    return out
  end

  it("follows disk files in subfolders and finds deltas by name wherever they are", function()
    local folder = vm_folder({ ["db.vmx"] = GOOD_VMX:gsub('"db.vmdk"', '"disks/db.vmdk"') .. table.concat({
      'scsi0:1.present = "TRUE"', 'scsi0:1.fileName = "/vmfs/volumes/ds2/db/db_1-000003.vmdk"',
      'scsi0:1.ctkEnabled = "TRUE"', "" }, "\n") })
    exec.run({ "mkdir", folder .. "/disks", check = true })
    helpers.write_file(folder .. "/disks/db.vmdk", descriptor(3, "db-ctk.vmdk"))
    helpers.write_file(folder .. "/disks/db-ctk.vmdk", "x")
    expect(ids_of(cbt.check_vm(folder))).to_equal({ "SNAP-NONE scsi0:1", "DISK-ELSEWHERE scsi0:1" })
  end)

  it("reads VM.VMX and VM.VMSD in any case, and reports a damaged .vmsd", function()
    local folder = vm_folder({ ["VM.VMX"] = 'ctkEnabled = "TRUE"\nvirtualHW.version = "19"\n',
      ["VM.VMSD"] = 'snapshot.numSnapshots = "1"\n' })
    expect(ids_of(cbt.check_vm(folder))).to_equal({ "SNAP-NONE" })
    expect(ids_of(cbt.check_vm(folder .. "/VM.VMX"))).to_equal({ "SNAP-NONE" })
    helpers.write_file(folder .. "/VM.VMSD", "snapshot\0")
    local report = cbt.check_vm(folder)
    expect(ids_of(report)).to_equal({ "VMSD-PARSE" })
    expect(report.findings[1].severity).to_be("critical")
    expect(function() cbt.enable(folder .. "/VM.VMX") end).to_fail_with("refused", "VM.VMSD cannot be read")
  end)

  it("does not take a change tracking file that a descriptor names for a leftover", function()
    local report = cbt.check_vm(vm_folder({ ["db.vmx"] = GOOD_VMX,
      ["db.vmdk"] = descriptor(3, "renamed-ctk.vmdk"), ["renamed-ctk.vmdk"] = "x" }))
    expect(report.findings).to_equal({})
  end)

  it("warns about raw device mappings in virtual mode too (VDDK cannot copy them)", function()
    local report = cbt.check_vm(vm_folder({ ["db.vmx"] = GOOD_VMX,
      ["db.vmdk"] = '# Disk DescriptorFile\nversion=3\ncreateType="vmfsRawDeviceMap"\n'
        .. 'RW 2097152 VMFSRDM "db-rdm.vmdk"\nchangeTrackPath="db-ctk.vmdk"\n', ["db-ctk.vmdk"] = "x" }))
    expect(ids_of(report)).to_equal({ "CBT-RDM scsi0:0" })
    expect(report.findings[1].message).to_contain("virtual mode")
  end)

  it("reads files with CR line ends, and cbt.enable keeps them", function()
    local path = vm_folder({ ["mac.vmx"] = 'virtualHW.version = "14"\rctkEnabled = "FALSE"\r' }) .. "/mac.vmx"
    local vmx = cbt.parse_vmx(path)
    expect(#vmx.entries).to_be(2)
    expect(vmx.values.ctkenabled).to_be("FALSE")
    cbt.enable(path)
    expect(read(path)).to_be('virtualHW.version = "14"\rctkEnabled = "TRUE"\r')
  end)

  it("refuses a file too big to be a .vmx without reading it all", function()
    local path = dir .. "/huge.vmx"
    exec.run({ "truncate", "-s", "65M", path, check = true }) -- sparse: costs no disk
    expect(function() cbt.parse_vmx(path) end).to_fail_with("input", "more than 64 MiB")
    os.remove(path)
  end)

  it("ignores absurd disk indexes in a .vmsd and sector counts in a descriptor", function()
    local vmsd = cbt.parse_vmsd(file("odd.vmsd",
      'snapshot1.disk9223372036854775807.fileName = "a"\nsnapshot.numSnapshots = "99999999999999999999"\n'))
    expect(vmsd.snapshots[1].disks).to_equal({})
    expect(vmsd.num_snapshots).to_be_nil()
    local d = cbt.parse_vmdk(file("odd.vmdk", '# Disk DescriptorFile\ncreateType="vmfs"\n'
      .. 'RW 1000000000000000000000000 VMFS "x-flat.vmdk"\n'))
    expect(d.extents).to_equal({})
    expect(#d.issues).to_be(1)
  end)
end)

describe("cbt.check_inventory", function()
  -- govc vm.info -json as newer govc prints it (lowerCamel, _typeName on devices)
  local function export(vms) return json.encode({ virtualMachines = vms }) end
  local function vm(name, opts)
    local devices = {
      { _typeName = "ParaVirtualSCSIController", key = 1000, busNumber = 0 },
      { _typeName = "VirtualDisk", key = 2000, controllerKey = 1000, unitNumber = 0,
        capacityInKB = 41943040, backing = { fileName = "[ds1] " .. name .. "/" .. name .. ".vmdk",
          diskMode = "persistent", sharing = "sharingNone", changeId = opts.change_id } },
    }
    for _, d in ipairs(opts.devices or {}) do devices[#devices + 1] = d end
    return { name = name, config = { name = name, version = opts.version or "vmx-19",
      changeTrackingEnabled = opts.tracking ~= false, hardware = { device = devices },
      extraConfig = opts.extra or { { key = "scsi0:0.ctkEnabled", value = "TRUE" } } },
      runtime = { consolidationNeeded = opts.consolidate == true }, snapshot = opts.snapshot }
  end
  local function ids(r)
    local out = {}
    for _, f in ipairs(r.findings) do out[#out + 1] = f.severity .. " " .. f.id .. (f.disk and (" " .. f.disk) or "") end
    return out
  end

  it("checks each VM of an export as check_vm checks a folder", function()
    local path = file("inv.json", export({
      vm("good", { change_id = "52 de c0 d9 b9 43 9d 10-61 d5 4c 1b e9 7b 65 63/81" }),
      vm("bad", { tracking = false, version = "vmx-04", consolidate = true,
        snapshot = { currentSnapshot = { value = "snapshot-1" }, rootSnapshotList = { {} } },
        extra = { { key = "ctkDisallowed", value = "TRUE" } },
        devices = {
          { _typeName = "VirtualAHCIController", key = 15000, busNumber = 0 },
          { _typeName = "VirtualDisk", key = 2001, controllerKey = 15000, unitNumber = 1,
            backing = { fileName = "[ds1] bad/lun.vmdk", diskMode = "independent_persistent",
              compatibilityMode = "physicalMode", sharing = "sharingMultiWriter" } },
          { _typeName = "VirtualPCIPassthrough", key = 13000 },
          { _typeName = "VirtualSriovEthernetCard", key = 4000 },
          { _typeName = "VirtualUSBXHCIController", key = 14000 } } }) }))
    local r = cbt.check_inventory(path)
    expect(#r.vms).to_be(2)
    expect(r.vms[1].name).to_be("good")
    expect(r.vms[1].findings).to_equal({})
    expect(r.vms[1].disks[1].node).to_be("scsi0:0")
    local got = ids(r.vms[2])
    table.sort(got)
    expect(got).to_equal({ "critical CBT-DISALLOWED", "critical CBT-HWVER", "critical CBT-VM",
      "critical PASSTHRU", "critical SNAP-NONE", "warning CBT-DISK scsi0:0",
      "warning CBT-DISK-MODE sata0:1", "warning CBT-RDM sata0:1", "warning PASSTHRU",
      "warning PASSTHRU", "warning SHARED-DISK sata0:1", "warning SNAP-CONSOLIDATE" })
    expect(r.vms[2].findings[1].severity).to_be("critical") -- critical first
    local seen = {}
    for _, f in ipairs(r.vms[2].findings) do seen[f.id .. (f.disk and (" " .. f.disk) or "")] = f end
    expect(seen["CBT-DISK scsi0:0"].message).to_contain("scsi0:0.ctkEnabled is not TRUE")
    expect(seen["CBT-DISK-MODE sata0:1"]).never.to_be_nil()
    expect(seen["CBT-RDM sata0:1"].message).to_contain("cannot be tracked")
    expect(seen["SHARED-DISK sata0:1"].message).to_contain("sharingMultiWriter")
    expect(seen["SNAP-NONE"].severity).to_be("critical")
    expect(seen["CBT-HWVER"].message).to_contain("version 4")
    expect(r.counts.critical).to_be(5)
    expect(seen["CBT-VM"].vm).to_be("bad")
    expect(seen["CBT-VM"].file).to_be(path)
  end)

  it("reads the older PascalCase export without type names, by device key ranges", function()
    local path = file("old.json", json.encode({ VirtualMachines = { { Name = "legacy", Config = {
      Version = "vmx-13", ChangeTrackingEnabled = true,
      ExtraConfig = { { Key = "scsi0:0.ctkEnabled", Value = "TRUE" } },
      Hardware = { Device = {
        { Key = 1000, BusNumber = 0 },
        { Key = 2000, ControllerKey = 1000, UnitNumber = 0, CapacityInKB = 1024,
          Backing = { FileName = "[ds] legacy/legacy.vmdk", DiskMode = "persistent" } },
        { Key = 2001, ControllerKey = 1000, UnitNumber = 1, CapacityInKB = 1024,
          Backing = { FileName = "[ds] legacy/legacy_1.vmdk", DiskMode = "persistent" } } } } } } } }))
    local r = cbt.check_inventory(path)
    expect(ids(r.vms[1])).to_equal({ "warning CBT-DISK scsi0:1" })
  end)

  it("tells vGPU and dynamic DirectPath devices in exports without type names", function()
    local path = file("gpu.json", json.encode({ VirtualMachines = { { Name = "gpu", Config = {
      Version = "vmx-19", ChangeTrackingEnabled = true,
      Hardware = { Device = {
        { Key = 13000, Backing = { Vgpu = "grid_a100-8c" } },
        { Key = 13001, Backing = { AllowedDevice = { { VendorId = 4318, DeviceId = 8418 } },
          CustomLabel = "fpga" } },
        { Key = 13002, Backing = { Id = "0000:3b:00.0", VendorId = -32634, DeviceId = 4116 } } } } } } } }))
    local f = cbt.check_inventory(path).vms[1].findings
    expect(#f).to_be(3)
    local messages = {}
    for i, finding in ipairs(f) do
      expect(finding.id).to_be("PASSTHRU")
      expect(finding.severity).to_be("critical")
      messages[i] = finding.message
    end
    table.sort(messages)
    expect(messages).to_equal({ "a PCI passthrough device cannot be migrated",
      "a dynamic DirectPath I/O device cannot be migrated",
      "a vGPU (profile grid_a100-8c) cannot be migrated" })
  end)

  it("reports a changeId whose UUID changed since an earlier export as a CBT reset", function()
    local before = file("before.json", export({ vm("db", { change_id = "52 de c0 d9-61 d5 4c 1b/81" }) }))
    local same = file("same.json", export({ vm("db", { change_id = "52 de c0 d9-61 d5 4c 1b/95" }) }))
    local reset = file("reset.json", export({ vm("db", { change_id = "52 aa bb cc-61 d5 4c 1b/3" }) }))
    expect(cbt.check_inventory(same, { previous = before }).vms[1].findings).to_equal({})
    local f = cbt.check_inventory(reset, { previous = before }).vms[1].findings
    expect(#f).to_be(1)
    expect(f[1].id).to_be("CBT-RESET")
    expect(f[1].message).to_contain("the next copy is a full one")
  end)

  it("reads JSON null as absent, and a VM without config as one that cannot be checked", function()
    local r = cbt.check_inventory(file("nulls.json", json.encode({ virtualMachines = {
      { name = json.null, snapshot = { currentSnapshot = json.null }, config = { name = "n",
        version = "vmx-19", changeTrackingEnabled = true, extraConfig = {},
        hardware = { device = { { _typeName = "VirtualVmxnet3", key = 4000, sriovBacking = json.null } } } } },
      { name = "gone", config = json.null },
      { name = "odd", config = { version = { v = 19 }, changeTrackingEnabled = true } } } })))
    expect(r.vms[1].name).to_be("n")
    expect(r.vms[1].findings).to_equal({})
    expect(ids(r.vms[2])).to_equal({ "critical INVENTORY-CONFIG" })
    expect(ids(r.vms[3])).to_equal({ "warning CBT-HWVER" }) -- not "version 0"
  end)

  it("tells RawDiskVer2 backings for physical RDMs, and keys changeIds by disk file", function()
    local r = cbt.check_inventory(file("raw.json", export({ vm("r", { change_id = "a-b/1", devices = {
      { _typeName = "VirtualDisk", key = 2001, controllerKey = 1000, unitNumber = 1,
        backing = { descriptorFileName = "[ds1] r/lun.vmdk", deviceName = "vml.0200" } } } }) })))
    local rdm
    for _, f in ipairs(r.vms[1].findings) do if f.id == "CBT-RDM" then rdm = f end end
    expect(rdm.message).to_contain("cannot be tracked")
    -- two VMs called db: their disks are told apart by file, not by VM name
    local function twins(first, second)
      local a, b = vm("db", { change_id = first }), vm("db", { change_id = second })
      b.config.hardware.device[2].backing.fileName = "[ds2] db/db.vmdk"
      return export({ a, b })
    end
    local before = file("twins-before.json", twins("11-22/1", "33-44/1"))
    local after = file("twins-after.json", twins("55-66/2", "33-44/2"))
    local report = cbt.check_inventory(after, { previous = before })
    expect(ids(report.vms[1])).to_equal({ "warning CBT-RESET scsi0:0" })
    expect(report.vms[2].findings).to_equal({})
  end)

  it("refuses what is not an export, naming the file", function()
    expect(function() cbt.check_inventory(file("x.json", '{"kind": "Pod"}')) end)
      .to_fail_with("decode", "x.json: not a VM inventory export")
    expect(function() cbt.check_inventory(file("broken.json", '{"virtualMachines": [')) end)
      .to_fail_with("decode", "broken.json:1:")
    expect(function() cbt.check_inventory(dir .. "/none.json") end).to_fail_with("input", "none.json")
    expect(function() cbt.check_inventory(file("x.json", "[]"), { prev = 1 }) end)
      .to_fail_with("usage", "unknown option 'prev'")
  end)
end)

describe("cbt.enable", function()
  local OFF = table.concat({ ".encoding = \"UTF-8\"", "# keep this comment", 'virtualHW.version = "19"',
    'ctkEnabled = "FALSE"', 'scsi0.present = "TRUE"', 'scsi0:0.present = "TRUE"',
    'scsi0:0.fileName = "db.vmdk"', 'scsi0:1.present = "TRUE"', 'scsi0:1.fileName = "db_1.vmdk"',
    'SCSI0:1.CTKENABLED = "false"', 'scsi0:2.present = "TRUE"', 'scsi0:2.fileName = "tmp.vmdk"',
    'scsi0:2.mode = "independent-persistent"', 'scsi0:3.present = "FALSE"',
    'scsi0:3.fileName = "off.vmdk"', 'odd   =   "spacing kept"' }, "\r\n") -- no final line end

  it("switches CBT on, changing only the lines it must, with a backup and a diff", function()
    local path = vm_folder({ ["db.vmx"] = OFF }) .. "/db.vmx"
    local r = cbt.enable(path)
    expect(r.changed).to_be(true)
    expect(r.written).to_be(true)
    expect(r.backup).to_be(path .. ".vmrun-backup")
    expect(read(r.backup)).to_be(OFF) -- the original, byte for byte
    local expected = OFF:gsub('ctkEnabled = "FALSE"', 'ctkEnabled = "TRUE"')
      :gsub('SCSI0:1.CTKENABLED = "false"', 'SCSI0:1.CTKENABLED = "TRUE"')
      .. '\r\nscsi0:0.ctkEnabled = "TRUE"\r\n'
    expect(read(path)).to_be(expected)
    expect(r.diff).to_be(table.concat({ "--- db.vmx", "+++ db.vmx (change tracking on)",
      "@@ line 4 @@", '-ctkEnabled = "FALSE"', '+ctkEnabled = "TRUE"',
      "@@ line 10 @@", '-SCSI0:1.CTKENABLED = "false"', '+SCSI0:1.CTKENABLED = "TRUE"',
      "@@ appended @@", '+scsi0:0.ctkEnabled = "TRUE"', "" }, "\n"))
    expect(r.skipped).to_equal({ "scsi0:2 is independent-persistent: independent disks cannot be tracked" })
    expect(r.note).to_contain("next power-on")
    -- the checks agree now, but for the descriptors that are not here
    local ids_now = {}
    for _, f in ipairs(cbt.check_vm(path).findings) do ids_now[f.id] = true end
    expect(ids_now["CBT-VM"]).to_be_nil()
    expect(ids_now["CBT-DISK"]).to_be_nil()
    -- idempotent: a second run changes and writes nothing
    local again = cbt.enable(path)
    expect(again.changed).to_be(false)
    expect(again.written).to_be(false)
    expect(again.diff).to_be("")
    expect(read(path)).to_be(expected)
  end)

  it("shows the diff and writes nothing with dry_run", function()
    local path = vm_folder({ ["db.vmx"] = OFF }) .. "/db.vmx"
    local r = cbt.enable(path, { dry_run = true })
    expect(r.changed).to_be(true)
    expect(r.written).to_be(false)
    expect(r.diff).to_contain('+scsi0:0.ctkEnabled = "TRUE"')
    expect(read(path)).to_be(OFF)
    expect(io.open(path .. ".vmrun-backup")).to_be_nil()
  end)

  it("refuses with snapshots, lock files or ctkDisallowed, unless forced", function()
    local folder = vm_folder({ ["db.vmx"] = OFF, ["db.vmsd"] = 'snapshot.numSnapshots = "1"\n',
      ["db.vmx.lck"] = "" })
    local path = folder .. "/db.vmx"
    local err = expect(function() cbt.enable(path) end).to_fail_with("refused",
      "db.vmx.lck exists: the VM looks powered on; db.vmsd lists 1 snapshot(s)")
    expect(err.resource).to_be(path)
    expect(err.message).to_contain("nothing written")
    expect(read(path)).to_be(OFF)
    local r = cbt.enable(path, { force = true })
    expect(r.written).to_be(true)
    expect(#r.blockers).to_be(2)
    local disallowed = vm_folder({ ["x.vmx"] = 'ctkDisallowed = "TRUE"\n' }) .. "/x.vmx"
    expect(function() cbt.enable(disallowed) end).to_fail_with("refused", "ctkDisallowed is TRUE")
    expect(function() cbt.enable(path, { forse = true }) end)
      .to_fail_with("usage", "unknown option 'forse'")
    expect(function() cbt.enable() end).to_fail_with("usage", "the .vmx path is needed")
  end)

  it("keeps a byte order mark and indentation, and sets every duplicate of a key", function()
    local path = vm_folder({ ["b.vmx"] = '\239\187\191ctkEnabled = "FALSE"\n  ctkEnabled = "no"\n' }) .. "/b.vmx"
    local r = cbt.enable(path)
    expect(read(path)).to_be('\239\187\191ctkEnabled = "TRUE"\n  ctkEnabled = "TRUE"\n')
    expect(#r.changes).to_be(2)
    expect(cbt.enable(path).changed).to_be(false)
  end)

  it("refuses a disk on a delta whatever its case, and a .vmx that is a symbolic link", function()
    local folder = vm_folder({ ["d.vmx"] = 'scsi0:0.present = "TRUE"\nscsi0:0.fileName = "D-000001.VMDK"\n' })
    expect(function() cbt.enable(folder .. "/d.vmx") end).to_fail_with("refused", "runs on the snapshot delta")
    exec.run({ "ln", "-s", folder .. "/d.vmx", folder .. "/link.vmx", check = true })
    expect(function() cbt.enable(folder .. "/link.vmx", { force = true }) end)
      .to_fail_with("refused", "is a symbolic link")
    expect(io.open(folder .. "/link.vmx.vmrun-backup")).to_be_nil()
  end)

  it("keeps the .vmx's mode, and its owner where it may", function()
    local path = vm_folder({ ["o.vmx"] = 'ctkEnabled = "FALSE"\n' }) .. "/o.vmx"
    exec.run({ "chmod", "640", path, check = true })
    local owned = exec.run({ "chown", "65534:65534", path }).ok -- only root may; then check it
    cbt.enable(path)
    local st = exec.run({ "stat", "-c", "%a %u:%g", path, check = true }).stdout
    expect(st).to_be(owned and "640 65534:65534\n" or st)
    expect(st:match("^640 ")).to_be("640 ")
  end)

  it("keeps a second backup apart from the first, and appends after a last line without an end", function()
    local path = vm_folder({ ["v.vmx"] = 'ctkEnabled = "TRUE"' }) .. "/v.vmx"
    helpers.write_file(path .. ".vmrun-backup", "an older backup")
    helpers.write_file(path, 'ctkEnabled = "no"\nscsi0:0.present = "TRUE"\nscsi0:0.fileName = "v.vmdk"')
    local r = cbt.enable(path)
    expect(r.backup).to_be(path .. ".vmrun-backup.2")
    expect(read(path .. ".vmrun-backup")).to_be("an older backup")
    expect(read(path)).to_be('ctkEnabled = "TRUE"\nscsi0:0.present = "TRUE"\n'
      .. 'scsi0:0.fileName = "v.vmdk"\nscsi0:0.ctkEnabled = "TRUE"\n')
  end)
end)

describe("vmrun.cbt.core.replace_file (what cbt.enable writes with)", function()
  local core = require("vmrun.cbt.core")
  it("refuses when the file changed since it was read, and never overwrites a backup", function()
    local folder = vm_folder({ ["f.vmx"] = "now", ["f.vmx.bak"] = "old backup" })
    local path = folder .. "/f.vmx"
    expect(function() core.replace_file(path, "before", "new", path .. ".b1") end)
      .to_fail_with("refused", "changed while it was being edited: nothing written")
    expect(read(path)).to_be("now")
    expect(io.open(path .. ".b1")).to_be_nil()
    local err = expect(function() core.replace_file(path, "now", "new", path .. ".bak") end)
      .to_fail_with("input", "f.vmx.bak: File exists")
    expect(err.resource).to_be(path .. ".bak")
    expect(read(path)).to_be("now")
    expect(read(path .. ".bak")).to_be("old backup")
    expect(core.replace_file(path, "now", "new", path .. ".b2")).to_be(true)
    expect(read(path)).to_be("new")
    expect(read(path .. ".b2")).to_be("now")
    local leftovers = {}
    for _, f in ipairs(core.files(folder)) do
      if f.name:match("vmrun%-") then leftovers[#leftovers + 1] = f.name end
    end
    expect(leftovers).to_equal({}) -- no temporary file left behind
  end)
end)

describe("cbt.parse_vmsd", function()
  it("groups the snapshots by slot with their disks", function()
    local vmsd = cbt.parse_vmsd(file("db.vmsd", table.concat({
      '.encoding = "UTF-8"',
      'snapshot.lastUID = "3"',
      'snapshot.current = "3"',
      'snapshot.numSnapshots = "2"',
      'snapshot2.uid = "3"',
      'snapshot2.displayName = "after patch"',
      'snapshot2.parent = "1"',
      'snapshot2.disk1.fileName = "db_1-000002.vmdk"',
      'snapshot2.disk1.node = "scsi0:1"',
      'snapshot2.disk0.fileName = "db-000002.vmdk"',
      'snapshot2.disk0.node = "scsi0:0"',
      'snapshot0.uid = "1"',
      'snapshot0.displayName = "before patch"',
      'snapshot0.filename = "db-Snapshot1.vmsn"',
      'snapshot0.numDisks = "1"',
      'snapshot0.disk0.fileName = "db.vmdk"',
      'snapshot0.disk0.node = "scsi0:0"',
      'snapshot.needConsolidate = "TRUE"',
    }, "\n")))
    expect(vmsd.num_snapshots).to_be(2)
    expect(vmsd.current).to_be(3)
    expect(vmsd.need_consolidate).to_be(true)
    expect(#vmsd.snapshots).to_be(2)
    local first, second = vmsd.snapshots[1], vmsd.snapshots[2]
    expect(first.slot).to_be(0)
    expect(first.uid).to_be("1")
    expect(first.display_name).to_be("before patch")
    expect(first.filename).to_be("db-Snapshot1.vmsn")
    expect(first.line).to_be(12)
    expect(first.disks).to_equal({ { index = 0, file = "db.vmdk", node = "scsi0:0" } })
    expect(second.parent).to_be("1")
    expect(second.disks).to_equal({ { index = 0, file = "db-000002.vmdk", node = "scsi0:0" },
      { index = 1, file = "db_1-000002.vmdk", node = "scsi0:1" } })
  end)

  it("reads an empty .vmsd as no snapshots", function()
    local vmsd = cbt.parse_vmsd(file("empty.vmsd", ""))
    expect(vmsd.snapshots).to_equal({})
    expect(vmsd.num_snapshots).to_be_nil()
    expect(vmsd.need_consolidate).to_be(false)
    remove_dir()
  end)
end)
