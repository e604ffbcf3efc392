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
