-- cbt_tracker_spec.lua: cbt.track and cbt.changed, the disk-image change tracker, as playbooks
-- use it: change IDs, what each pass reports, the changed extents (merged, split, clipped), "*",
-- the tracking file's place and options, and the errors (kind, message with the caller's
-- file:line, resource). tests/c/test_blocktrack.c holds the property and crash tests.
local helpers = require("spec_helpers")

local dir, remove_dir = helpers.tmpdir()
local KiB, MiB = 1024, 1024 * 1024

-- A sparse image of size bytes; writes is a list of {offset, text}.
local function image(name, size, writes)
  local path = dir .. "/" .. name
  local f = assert(io.open(path, "wb"))
  for _, w in ipairs(writes or {}) do
    f:seek("set", w[1])
    f:write(w[2])
  end
  f:close()
  exec.run({ "truncate", "-s", tostring(size), path, check = true })
  return path
end

local function write_at(path, offset, text)
  local f = assert(io.open(path, "r+b"))
  f:seek("set", offset)
  f:write(text)
  f:close()
end

local function spans(extents)
  local out = {}
  for _, e in ipairs(extents) do out[#out + 1] = { e.start, e.length } end
  return out
end

describe("cbt.track", function()
  it("makes a tracking file beside the image and returns the first change ID", function()
    local img = image("a.img", 4 * MiB, { { 0, ("x"):rep(100) }, { 2 * MiB, "y" } })
    local id, info = cbt.track(img)
    expect(id).to_match("^%x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89ab]%x%x%x%-%x+/1$")
    expect(info.change_id).to_be(id)
    expect(info.previous).to_be_nil()
    expect(info.reset).to_be_nil() -- a first pass is not a reset
    expect(info.size).to_be(4 * MiB)
    expect(info.block_size).to_be(64 * KiB)
    expect(info.blocks).to_be(64)
    expect(info.changed_blocks).to_be(64)
    expect(info.data_blocks).to_be(2)
    expect(info.bytes_read).to_be(128 * KiB) -- the holes are not read
    expect(info.state).to_be(img .. ".vmrun-cbt")
    expect(io.open(img .. ".vmrun-cbt", "rb"):read(8)).to_be("VMRUNCBT")
  end)

  it("continues the epoch: the next sequence, and only the blocks whose bytes changed", function()
    local img = image("b.img", 1 * MiB, { { 0, ("a"):rep(200 * KiB) } })
    local id1 = cbt.track(img)
    write_at(img, 70 * KiB, "changed")
    write_at(img, 0, "a") -- the same byte again
    local id2, info = cbt.track(img)
    expect(id2:sub(1, 37)).to_be(id1:sub(1, 37)) -- the same epoch, a later sequence
    expect(tonumber(id2:sub(38)) > 1).to_be(true)
    expect(info.previous).to_be(id1)
    expect(info.changed_blocks).to_be(1)
    local extents, now = cbt.changed(img, id1)
    expect(spans(extents)).to_equal({ { 64 * KiB, 64 * KiB } })
    expect(now).to_equal({ change_id = id2, size = MiB, block_size = 64 * KiB, blocks = 16,
      bytes = 64 * KiB, state = img .. ".vmrun-cbt" })
    expect(cbt.changed(img, id2)).to_equal({})
  end)

  it("takes a block size and a tracking file of the caller's choice", function()
    local img = image("c.img", 100 * KiB, { { 50 * KiB, "z" } })
    local state = dir .. "/elsewhere.track"
    local id, info = cbt.track(img, { block_size = 4096, state = state })
    expect(info.blocks).to_be(25)
    expect(info.state).to_be(state)
    expect(io.open(img .. ".vmrun-cbt")).to_be_nil()
    expect(spans(cbt.changed(img, "*", { state = state }))).to_equal({ { 48 * KiB, 4 * KiB } })
    expect(#cbt.changed(img, id, { state = state })).to_be(0)
  end)

  it("starts a new epoch over a damaged tracking file and says why", function()
    local img = image("d.img", 256 * KiB, { { 0, "data" } })
    local id1 = cbt.track(img)
    write_at(img .. ".vmrun-cbt", 128 + 16 + 3, "!")
    expect(function() cbt.changed(img, id1) end).to_fail_with("reset_required", "checksum")
    local id2, info = cbt.track(img)
    expect(id2:sub(1, 36)).never.to_be(id1:sub(1, 36))
    expect(id2:sub(-2)).to_be("/1")
    expect(info.reset).to_match("fails its checksum")
    expect(info.changed_blocks).to_be(4)
  end)

  it("refuses bad arguments with the caller's line", function()
    local img = image("e.img", 64 * KiB)
    expect(function() cbt.track(img, { blocksize = 4096 }) end)
      .to_fail_with("usage", "cbt_tracker_spec.lua:%d+: cbt.track: unknown option blocksize")
    expect(function() cbt.track(img, { block_size = "4096" }) end)
      .to_fail_with("usage", "option block_size must be an integer from 4096 to 67108864")
    expect(function() cbt.track(img, { block_size = 5000 }) end)
      .to_fail_with("usage", "option block_size must be a power of two")
    expect(function() cbt.track(img, { reset = "yes" }) end)
      .to_fail_with("usage", "option reset must be a boolean")
    expect(function() cbt.track(img, "fast") end).to_fail_with("usage", "options must be a table")
    expect(function() cbt.track() end).to_fail_with("usage", "cbt.track: the image must be a string")
    expect(function() cbt.track(img .. "\0.other") end)
      .to_fail_with("usage", "the image holds a NUL byte")
    expect(function() cbt.track(img, { state = "a\0b" }) end)
      .to_fail_with("usage", "option state holds a NUL byte")
  end)

  it("names the image that cannot be read, and changes nothing", function()
    local err = expect(function() cbt.track(dir .. "/missing.img") end)
      .to_fail_with("input", "cbt_tracker_spec.lua:%d+: .*missing.img: No such file or directory")
    expect(err.resource).to_be(dir .. "/missing.img")
    expect(io.open(dir .. "/missing.img.vmrun-cbt")).to_be_nil()
    expect(function() cbt.track(dir) end).to_fail_with("input", "not a regular file")
  end)

  it("reads options raw: values behind __index do not count", function()
    local img = image("k.img", 64 * KiB, { { 0, "k" } })
    local opts = setmetatable({}, { __index = function(_, key)
      collectgarbage()
      if key == "state" then return dir .. "/proxy-" .. ("x"):rep(10) end
    end })
    local _, info = cbt.track(img, opts)
    expect(info.state).to_be(img .. ".vmrun-cbt")
  end)

  it("refuses a FIFO as image or tracking file instead of waiting on it", function()
    local fifo = dir .. "/fifo"
    exec.run({ "mkfifo", fifo, check = true })
    expect(function() cbt.track(fifo) end).to_fail_with("input", "fifo: not a regular file")
    local img = image("l.img", 64 * KiB, { { 0, "l" } })
    local err = expect(function() cbt.track(img, { state = fifo }) end)
      .to_fail_with("input", "fifo is not a regular file")
    expect(err.resource).to_be(fifo)
    os.remove(fifo)
  end)

  it("lets other tasks run during a pass, and a cancelled pass changes nothing", function()
    local img = dir .. "/big.img"
    exec.run({ "dd", "if=/dev/zero", "of=" .. img, "bs=1M", "count=400", "status=none",
      check = true })
    local ticks = 0
    local ticker = task.spawn(function()
      while true do
        task.sleep(0.001)
        ticks = ticks + 1
      end
    end)
    local id = cbt.track(img, { block_size = 4096 })
    expect(ticks > 0).to_be(true)
    local t = task.spawn(function() return cbt.track(img) end)
    task.sleep(0.005)
    t:cancel("enough")
    local ok, err = pcall(t.wait, t)
    ticker:cancel("done")
    if not ok then
      expect(err.kind).to_be("cancelled")
      task.sleep(0.2) -- the worker thread stops at its next chunk and removes its file
      expect(io.open(img .. ".vmrun-cbt.tmp")).to_be_nil()
      expect(#cbt.changed(img, id)).to_be(0) -- the file is the first pass's
    end
    os.remove(img)
  end)

  it("needs reset = true to change the block size", function()
    local img = image("f.img", 64 * KiB, { { 0, "q" } })
    cbt.track(img)
    expect(function() cbt.track(img, { block_size = 8192 }) end)
      .to_fail_with("input", "tracks blocks of 65536 bytes, not 8192")
    local id, info = cbt.track(img, { block_size = 8192, reset = true })
    expect(id:sub(-2)).to_be("/1")
    expect(info.reset).to_be("a reset was asked for")
    expect(info.blocks).to_be(8)
  end)
end)

describe("cbt.changed", function()
  it("merges neighbouring blocks, splits at max_length and stops at the image's end", function()
    local size = 10 * 64 * KiB + 1000
    local img = image("g.img", size)
    local id = cbt.track(img)
    for _, block in ipairs({ 1, 2, 3, 6, 10 }) do write_at(img, block * 64 * KiB + 10, "new") end
    cbt.track(img)
    expect(spans(cbt.changed(img, id))).to_equal({
      { 64 * KiB, 192 * KiB }, { 384 * KiB, 64 * KiB }, { 640 * KiB, 1000 } })
    expect(spans(cbt.changed(img, id, { max_length = 128 * KiB }))).to_equal({
      { 64 * KiB, 128 * KiB }, { 192 * KiB, 64 * KiB }, { 384 * KiB, 64 * KiB },
      { 640 * KiB, 1000 } })
    local all, info = cbt.changed(img, id, { max_length = 0 })
    expect(#all).to_be(3)
    expect(info.bytes).to_be(256 * KiB + 1000)
  end)

  it("gives the blocks holding data for \"*\"", function()
    local img = image("h.img", 8 * MiB, { { 3 * MiB + 5, "abc" }, { 7 * MiB, ("d"):rep(70 * KiB) } })
    cbt.track(img)
    expect(spans(cbt.changed(img, "*"))).to_equal({ { 3 * MiB, 64 * KiB }, { 7 * MiB, 128 * KiB } })
  end)

  it("raises reset_required for a change ID of another epoch, or one newer than the file", function()
    local img = image("i.img", 64 * KiB, { { 0, "x" } })
    local id = cbt.track(img)
    local other = "0badc0de-0000-4000-8000-000000000000/1"
    local err = expect(function() cbt.changed(img, other) end)
      .to_fail_with("reset_required", "cbt_tracker_spec.lua:%d+: change ID ")
    expect(err.message:find(other .. " is from another tracking epoch than " .. img ..
      ".vmrun-cbt (now " .. id .. "): tracking started over, copy the whole image", 1, true))
      .never.to_be_nil()
    expect(err.resource).to_be(img .. ".vmrun-cbt")
    expect(function() cbt.changed(img, (id:gsub("/1$", "/99999999999"))) end)
      .to_fail_with("reset_required", "newer than")
    os.remove(img .. ".vmrun-cbt")
    expect(function() cbt.changed(img, id) end).to_fail_with("reset_required", "does not exist")
    expect(function() cbt.changed(img, "*") end).to_fail_with("input", "not tracked yet")
  end)

  it("refuses a malformed change ID and bad options", function()
    local img = image("j.img", 64 * KiB)
    cbt.track(img)
    expect(function() cbt.changed(img, "52") end).to_fail_with("input", "\"52\" is not a change ID")
    expect(function() cbt.changed(img, "*", { max = 1 }) end)
      .to_fail_with("usage", "cbt.changed: unknown option max (state, max_length)")
    expect(function() cbt.changed(img, "*", { max_length = -1 }) end)
      .to_fail_with("usage", "option max_length must be an integer")
    expect(function() cbt.changed(img) end).to_fail("bad argument #2")
    remove_dir()
  end)
end)
