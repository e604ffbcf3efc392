-- yaml_spec.lua: the yaml module at the Lua level: scalars, null, empty object vs empty array,
-- integers, round trips, multi-document streams, files, and errors with name:line:col.
local helpers = require("spec_helpers")

describe("yaml.decode", function()
  it("maps scalars to Lua values, keeping integers and quoted strings", function()
    local v = yaml.decode([[
int: 42
big: 9007199254740993
float: 1.5
yes_bool: true
quoted: "12345"
single: 'it''s'
plain: hello world
date: 2024-01-01
]])
    expect(v).to_equal({ int = 42, big = 9007199254740993, float = 1.5, yes_bool = true,
      quoted = "12345", single = "it's", plain = "hello world", date = "2024-01-01" })
    expect(v.int).to_be_a("integer")
    expect(v.big).to_be_a("integer")
    expect(v.float).to_be_a("float")
    expect(v.quoted).to_be_a("string")
  end)

  it("decodes null, ~ and empty values as yaml.null", function()
    local v = yaml.decode("a: null\nb: ~\nc:\nlist: [1, null, 3]\n")
    expect(v.a).to_be(yaml.null)
    expect(v.b).to_be(yaml.null)
    expect(v.c).to_be(yaml.null)
    expect(#v.list).to_be(3)
    expect(v.list[2]).to_be(yaml.null)
    expect(yaml.decode("")).to_be(yaml.null)
  end)

  it("decodes nested block and flow collections", function()
    local v = yaml.decode([[
spec:
  nodes:
    - name: w1
      labels: {role: worker}
    - name: w2
      taints: [a, b]
]])
    expect(v).to_equal({ spec = { nodes = {
      { name = "w1", labels = { role = "worker" } },
      { name = "w2", taints = { "a", "b" } },
    } } })
  end)

  it("tells an empty mapping from an empty sequence", function()
    local v = yaml.decode("obj: {}\narr: []\n")
    expect(v.obj).to_equal({})
    expect(getmetatable(v.obj)).never.to_be(getmetatable(v.arr))
    expect(yaml.encode(v)).to_be("arr: []\nobj: {}\n")
    expect(json.encode(v)).to_be('{"arr":[],"obj":{}}')
  end)

  it("resolves anchors and aliases", function()
    local v = yaml.decode("base: &b {cpu: 2}\nvm: *b\n")
    expect(v.vm).to_equal({ cpu = 2 })
  end)
end)

describe("yaml.encode", function()
  it("writes block YAML with sorted keys that decodes to the same value", function()
    local value = { name = "vm-1", cpus = 4, ratio = 0.5, on = true, tags = { "a", "b" },
      spec = { nested = { deep = { 1, 2, { x = "y" } } } }, none = yaml.null }
    local text = yaml.encode(value)
    -- "on" is quoted: YAML 1.1 readers (kubectl's) take a bare on for true
    expect(text).to_match("^cpus: 4\nname: vm%-1\nnone: null\n'on': true\nratio: 0%.5\n")
    expect(yaml.decode(text)).to_equal(value)
  end)

  it("quotes strings that would read back as something else", function()
    local value = { "1.0", "yes", "true", "null", "~", "123", "has: colon", "- dash", "#hash",
      "  lead", "", "multi\nline", "0x1F" }
    local back = yaml.decode(yaml.encode(value))
    expect(back).to_equal(value)
    for _, s in ipairs(back) do expect(s).to_be_a("string") end
  end)

  it("sorts keys, honours indent and checks its options", function()
    expect(yaml.encode({ b = 1, a = 2 })).to_be("a: 2\nb: 1\n")
    expect(yaml.encode({ a = { b = 1 } }, { indent = 4 })).to_be("a:\n    b: 1\n")
    expect(function() yaml.encode({}, { indent = 1 }) end).to_fail("indent")
    expect(function() yaml.encode({}, { pretty = true }) end).to_fail("unknown option 'pretty'")
  end)

  it("raises kind 'encode' naming the path of what cannot be encoded", function()
    local cycle = { spec = {} }
    cycle.spec.back = cycle
    expect(function() yaml.encode(cycle) end).to_fail_with("encode", "%$%.spec%.back")
    expect(function() yaml.encode({ a = print }) end).to_fail_with("encode", "function at %$%.a")
    expect(function() yaml.encode({ 1, 2, x = 3 }) end).to_fail_with("encode", "mixes")
    expect(function() yaml.encode({ [1] = 1, [3] = 3 }) end).to_fail_with("encode", "sparse")
    expect(function() yaml.encode({ s = "\255" }) end).to_fail_with("encode")
  end)
end)

describe("yaml errors", function()
  it("raise kind 'decode' with name:line:col and fields", function()
    local err = expect(function()
      yaml.decode("a: [1, 2\nb: 3\n", { name = "cluster.yaml" })
    end).to_fail_with("decode", "^cluster%.yaml:2:2: ")
    expect(err.line).to_be(2)
    expect(err.column).to_be(2)
    expect(err.resource).to_be("cluster.yaml")
  end)

  it("default the name to 'yaml' and report duplicate keys and unknown aliases", function()
    expect(function() yaml.decode("a: 1\na: 2\n") end)
      .to_fail_with("decode", "yaml:2:1: duplicate key 'a'")
    expect(function() yaml.decode("a: *nope\n") end).to_fail_with("decode", "unknown anchor 'nope'")
  end)

  it("try_decode returns nil and the error instead of raising", function()
    local v, err = yaml.try_decode("a: b: c")
    expect(v).to_be_nil()
    expect(vmrun.is_error(err, "decode")).to_be(true)
    expect(err.message).to_match("^yaml:1:%d+: ")
    expect(yaml.try_decode("a: 1")).to_equal({ a = 1 })
  end)

  it("reject options that do not exist and non-string input", function()
    expect(function() yaml.decode("a: 1", { nmae = "x" }) end).to_fail("unknown option 'nmae'")
    expect(function() yaml.decode({}) end).to_fail("string expected")
  end)
end)

describe("multi-document streams", function()
  it("yaml.decode refuses several documents; decode_all returns the non-empty ones", function()
    local stream = "a: 1\n---\nb: 2\n---\n---\nc: 3\n"
    expect(function() yaml.decode(stream) end)
      .to_fail_with("decode", "stream has 3 documents; use yaml.decode_all")
    expect(yaml.decode_all(stream)).to_equal({ { a = 1 }, { b = 2 }, { c = 3 } })
    expect(yaml.try_decode(stream, { all = true })).to_equal({ { a = 1 }, { b = 2 }, { c = 3 } })
    expect(yaml.decode_all("")).to_equal({})
  end)
end)

describe("yaml.decode_file", function()
  it("reads a file, and names it in errors", function()
    local dir, cleanup = helpers.tmpdir()
    helpers.write_file(dir .. "/ok.yaml", "kind: Node\nmetadata:\n  name: w1\n---\nkind: Pod\n")
    helpers.write_file(dir .. "/bad.yaml", "kind: Node\nmetadata: [\n")
    expect(yaml.decode_file(dir .. "/ok.yaml", { all = true })[2]).to_equal({ kind = "Pod" })
    expect(function() yaml.decode_file(dir .. "/ok.yaml") end).to_fail_with("decode", "2 documents")
    local err = expect(function() yaml.decode_file(dir .. "/bad.yaml") end).to_fail_with("decode")
    expect(err.message).to_match("^" .. dir:gsub("%p", "%%%0") .. "/bad%.yaml:%d+:%d+: ")
    expect(err.resource).to_be(dir .. "/bad.yaml")
    local missing = expect(function() yaml.decode_file(dir .. "/missing.yaml") end)
      .to_fail_with("input", "No such file or directory")
    expect(missing.resource).to_be(dir .. "/missing.yaml")
    cleanup()
  end)
end)
