-- gate_spec.lua: approval gates (gate.approve, vmrun.gate.core). The options and their refusals
-- (kind "usage" at the caller's line); nobody to ask: the default, or a usage error saying how to
-- answer a non-interactive run; the virtual clock (a default is answered at once, a wait for a
-- file or HTTP runs in real time, and so does its timeout, never jumping to it); the answer file
-- (taken and removed, junk reported once and waited past, the environment variable); the HTTP
-- source through curl (GET /, 401, 403, 404, 405, 409, the answer and who gave it, nothing left
-- listening once answered); cancellation and an abort request while waiting (everything closed,
-- no real I/O left pending); the journal's records (no token in them). Runs needing a clean
-- environment or their own process (an abort request stays for the run) run as child vmruns.
local helpers = require("spec_helpers")
local core = require("vmrun.gate.core")

-- The wall clock in seconds (time.now() is the virtual clock here).
local function wall()
  return tonumber((exec.run({ "date", "+%s.%N", check = true }).stdout))
end

local function have_curl() return exec.run({ "sh", "-c", "command -v curl" }).ok end

-- curl ARGS... -> status code (0 when it could not connect), body
local function curl(...)
  local r = exec.run({ "curl", "-s", "-o", "-", "-w", "\n%{http_code}", "--max-time", "5", ... })
  local body, code = r.stdout:match("^(.*)\n(%d+)$")
  return tonumber(code) or 0, body, r.status
end

-- Runs `vmrun ARGS...` with the approval variables cleared (plus env) and stdin /dev/null.
local function child(args, env)
  args.env = { VMRUN_APPROVAL_FILE = "", VMRUN_APPROVAL_HTTP = "" }
  for k, v in pairs(env or {}) do args.env[k] = v end
  return helpers.vmrun(args)
end

local NONE = { tty = false, file = false, http = false }

describe("gate.approve options", function()
  it("refuses bad options with kind usage at the caller's line", function()
    local cases = {
      { nil, "the message must be a non%-empty string" },
      { "", "the message must be a non%-empty string" },
      { "go?", "options must be a table", "yes" },
      { "go?", "unknown option colour", { colour = "red" } },
      { "go?", "bad timeout soon", { timeout = "soon", default = false } },
      { "go?", "default must be true or false", { default = "yes" } },
      { "go?", "tty must be true or false", { tty = 1, default = true } },
      { "go?", "file must be a non%-empty string, or false for none", { file = "", default = true } },
      { "go?", "http must be a non%-empty string", { http = 8700, default = true } },
    }
    for _, c in ipairs(cases) do
      local err = expect(function() gate.approve(c[1], c[3]) end).to_fail_with("usage", c[2])
      expect(err.message).to_match("^[^:]*gate_spec%.lua:%d+: gate%.approve: ")
    end
  end)

  it("refuses an HTTP address that is not loopback or not HOST:PORT", function()
    expect(function() gate.approve("go?", { http = "10.0.0.1:8700", tty = false }) end)
      .to_fail_with("usage", "not a loopback IPv4 address %(127%.0%.0%.0/8%): a gate listens only on loopback")
    expect(function() gate.approve("go?", { http = "127.0.0.1", tty = false }) end)
      .to_fail_with("usage", "is not HOST:PORT")
    expect(function() gate.approve("go?", { http = "127.0.0.1:99999", tty = false }) end)
      .to_fail_with("usage", "the port must be a number from 0 to 65535")
    expect(vmrun.stats().real_pending).to_be(0)
  end)

  it("raises kind io for a port that is taken", function()
    local g <close> = core.open({ message = "first", http = "127.0.0.1:0" })
    local port = g:url():match(":(%d+)$")
    local err = expect(function() gate.approve("go?", { http = "127.0.0.1:" .. port, tty = false }) end)
      .to_fail_with("io", "gate: http = 127%.0%.0%.1:" .. port .. ": cannot listen on 127%.0%.0%.1:" .. port
        .. ": address already in use")
    expect(err.resource).to_be("127.0.0.1:" .. port)
  end)

  it("says how to answer when nobody can be asked and no default is given", function()
    local err = expect(function() gate.approve("drain batch 2?", NONE) end).to_fail_with("usage",
      "nobody can answer \"drain batch 2%?\": the terminal is not asked %(tty = false%), and no answer "
      .. "file or HTTP address is given")
    expect(err.message).to_match("%$VMRUN_APPROVAL_FILE")
    expect(err.message).to_match("%$VMRUN_APPROVAL_HTTP")
    expect(err.message).to_match("docs/gates%.md")
    -- a run whose stdin is not a terminal (a CronJob) is told so, and exits 2
    local r = child({ "-e", 'gate.approve("go?")' })
    expect(r.status).to_be(2)
    expect(r.stderr).to_match("nobody can answer \"go%?\": stdin is not a terminal")
    r = child({ "-e", 'gate.approve("go?", {tty = true})' })
    expect(r.status).to_be(2)
    expect(r.stderr).to_match("tty = true, but stdin is not a terminal: nobody can answer there")
  end)

  it("answers the default at once, without waiting, when nobody can be asked", function()
    local t0 = time.now()
    local logs = helpers.logged({ "info", "warn" }, function()
      local approved, how, who = gate.approve("go?", { tty = false, file = false, http = false, default = true })
      expect(approved).to_be(true)
      expect(how).to_be("default")
      expect(who).to_be("the default: the terminal is not asked (tty = false)")
      approved, how = gate.approve("go?", { tty = false, file = false, http = false, default = false })
      expect(approved).to_be(false)
      expect(how).to_be("default")
    end)
    expect(time.now()).to_be(t0)
    expect(logs.info[1]).to_be("gate: approved (default: the default: the terminal is not asked (tty = false)): go?")
    expect(logs.info[2]).to_match("^gate: denied %(default: ")
  end)
end)

describe("gate.approve on the virtual clock", function()
  it("runs on the virtual clock", function()
    expect(time.is_virtual()).to_be(true)
  end)

  it("waits for an answer file in real time: virtual time does not jump to the timeout", function()
    local dir, cleanup = helpers.tmpdir()
    local path = dir .. "/answer"
    local t0, w0 = time.now(), wall()
    local writer = task.spawn(function()
      exec.run({ "sleep", "0.3" })
      helpers.write_file(path, "Approve\n")
    end)
    local approved, how, who = gate.approve("go?", { file = path, tty = false, http = false, timeout = "1h" })
    writer:wait()
    expect(approved).to_be(true)
    expect(how).to_be("file")
    expect(who).to_match("^" .. path:gsub("%p", "%%%0") .. " %(owner [^)]+%)$")
    expect(io.open(path)).to_be_nil() -- taken: it does not answer the next gate
    local waited = time.now() - t0
    expect(waited >= 0.29 and waited < 30).to_be(true)
    expect(wall() - w0 >= 0.29).to_be(true)
    expect(vmrun.stats().real_pending).to_be(0)
    cleanup()
  end)

  it("times out in real seconds and answers its default (false without one)", function()
    local dir, cleanup = helpers.tmpdir()
    local w0 = wall()
    local logs = helpers.logged({ "info", "warn" }, function()
      local approved, how, who = gate.approve("go?", { file = dir .. "/never", tty = false, timeout = 0.4 })
      expect(approved).to_be(false)
      expect(how).to_be("timeout")
      expect(who).to_be("no answer in 0.4 s; denied as no default was given")
      approved, how, who = gate.approve("go?", { file = dir .. "/never", tty = false, timeout = "300ms",
        default = true })
      expect(approved).to_be(true)
      expect(how).to_be("timeout")
      expect(who).to_be("no answer in 0.3 s; the default")
    end)
    expect(wall() - w0 >= 0.69).to_be(true)
    expect(logs.warn[1]).to_be("gate: denied (timeout: no answer in 0.4 s; denied as no default was given): go?")
    expect(logs.warn[2]).to_be("gate: approved (timeout: no answer in 0.3 s; the default): go?")
    expect(vmrun.stats().real_pending).to_be(0)
    cleanup()
  end)
end)

describe("the answer file", function()
  it("reports what is no answer once, waits past it, and takes the next", function()
    local dir, cleanup = helpers.tmpdir()
    local path = dir .. "/answer"
    local code = ([[
      local t = task.spawn(function()
        local f = assert(io.open(%q, "w")); f:write("maybe later\n"); f:close()
        exec.run({ "sleep", "1.3" }) -- polled 2 or 3 times meanwhile
        f = assert(io.open(%q, "w")); f:write("no\nthe rest is ignored\n"); f:close()
      end)
      print(gate.approve("go?", { timeout = 20 }))
      t:wait()
    ]]):format(path, path)
    local r = child({ "--real-time", "-e", code }, { VMRUN_APPROVAL_FILE = path })
    expect(r.status).to_be(0)
    expect(r.stdout).to_match("^false\tfile\t" .. path:gsub("%p", "%%%0") .. " %(owner ")
    local _, reports = r.stderr:gsub("says \"maybe later\", which is no answer %(approve, yes, deny or no on its first line%): waiting for another", "")
    expect(reports).to_be(1)
    expect(io.open(path)).to_be_nil()
    cleanup()
  end)

  it("takes an answer written before the gate asks (then removes it)", function()
    local dir, cleanup = helpers.tmpdir()
    local path = dir .. "/answer"
    helpers.write_file(path, "yes")
    local approved, how = gate.approve("go?", { file = path, tty = false, timeout = 5 })
    expect(approved).to_be(true)
    expect(how).to_be("file")
    expect(io.open(path)).to_be_nil()
    cleanup()
  end)
end)

describe("the HTTP source", function()
  it("answers GET / and refuses what is no answer; the answer closes it", function()
    if not have_curl() then
      print("  (skipped: curl is not installed)")
      return
    end
    local g <close> = core.open({ message = "drain worker-3?", http = "127.0.0.1:0" })
    local url, token = g:url(), g:token()
    expect(url).to_match("^http://127%.0%.0%.1:%d+$")
    expect(token).to_match("^" .. ("%x"):rep(32) .. "$")
    local code, body = curl(url .. "/")
    expect(code).to_be(200)
    local info = json.decode(body)
    expect(info.message).to_be("drain worker-3?")
    expect(info.state).to_be("waiting")
    expect(info.answer.approve).to_be("POST /approve")
    expect((curl("-X", "POST", url .. "/approve"))).to_be(401)
    expect((curl("-X", "POST", "-H", "Authorization: Bearer " .. ("0"):rep(32), url .. "/approve"))).to_be(403)
    expect((curl("-X", "POST", url .. "/deny?token=" .. token:sub(1, 31)))).to_be(403)
    expect((curl(url .. "/approve"))).to_be(405)
    expect((curl("-X", "POST", url .. "/"))).to_be(405)
    expect((curl(url .. "/other"))).to_be(404)
    -- the answer may come before anybody waits; a second answer is refused
    code, body = curl("-X", "POST", "-H", "X-Vmrun-By: alice", url .. "/deny?token=" .. token)
    expect(code).to_be(200)
    expect(json.decode(body).approved).to_be(false)
    expect((curl("-X", "POST", "-H", "Authorization: Bearer " .. token, url .. "/approve"))).to_be(409)
    local approved, how, who = g:wait(5)
    expect(approved).to_be(false)
    expect(how).to_be("http")
    expect(who).to_match("^alice via http from 127%.0%.0%.1:%d+$")
    expect(g:token()).to_be_nil()
    expect((curl(url .. "/"))).to_be(0) -- nothing listens any more
    expect({ g:wait() }).to_equal({ false, "http", who }) -- the answer stays
  end)

  it("is answered while a task waits on it, with ?token= and ?by=", function()
    if not have_curl() then return end
    local g <close> = core.open({ message = "go?", http = "localhost:0" })
    local url, token = g:url(), g:token()
    local t = task.spawn(function()
      return curl("-X", "POST", url .. "/approve?by=bob&token=" .. token)
    end)
    local approved, how, who = g:wait("10s")
    expect({ approved, how }).to_equal({ true, "http" })
    expect(who).to_match("^bob via http from ")
    expect(t:wait()).to_be(200)
    expect((curl(url .. "/"))).to_be(0)
    expect(vmrun.stats().real_pending).to_be(0)
  end)

  it("prints the token once on stderr, and never in the log or the journal", function()
    local dir, cleanup = helpers.tmpdir()
    local code = [[
      require("vmrun.journal").current():record("note", {})
      print(gate.approve("go?", { http = "127.0.0.1:0", timeout = 0.3 }))
    ]]
    -- the virtual clock: with --real-time, the simulated cluster the journal names would keep
    -- the run alive for its own events
    local r = child({ "--state-dir", dir, "-e", code })
    expect(r.status).to_be(0)
    expect(r.stdout).to_be("false\ttimeout\tno answer in 0.3 s; denied as no default was given\n")
    local token = r.stderr:match("Bearer (%x+)")
    expect(token).to_match("^" .. ("%x"):rep(32) .. "$")
    local _, times = r.stderr:gsub(token, "")
    expect(times).to_be(1)
    local line = r.stderr:match("[^\n]*" .. token .. "[^\n]*")
    expect(line).to_match("^vmrun: to answer the gate: curl %-X POST %-H 'Authorization: Bearer %x+' "
      .. "http://127%.0%.0%.1:%d+/approve %(or http://127%.0%.0%.1:%d+/deny%)$")
    local journal = exec.run({ "sh", "-c", "cat " .. dir .. "/runs/*.jsonl", check = true }).stdout
    expect(journal:find(token, 1, true)).to_be_nil()
    local gates = {}
    for l in journal:gmatch("[^\n]+") do
      local rec = json.decode(l)
      if rec.type == "gate" then gates[#gates + 1] = rec end
    end
    expect(#gates).to_be(2)
    expect(gates[1].phase).to_be("begin")
    expect(gates[1].message).to_be("go?")
    expect(gates[1].sources).to_equal({ "http" })
    expect(gates[1].timeout).to_be(0.3)
    expect(gates[2].phase).to_be("end")
    expect(gates[2].approved).to_be(false)
    expect(gates[2].how).to_be("timeout")
    cleanup()
  end)
end)

describe("cancellation and abort requests", function()
  it("closes every source when the waiting task is cancelled", function()
    local dir, cleanup = helpers.tmpdir()
    local g = core.open({ message = "go?", http = "127.0.0.1:0", file = dir .. "/answer" })
    local url = g:url()
    local t = task.spawn(function() return g:wait() end)
    exec.run({ "sleep", "0.1" })
    expect(t:status()).to_be("waiting")
    expect(vmrun.stats().real_pending >= 1).to_be(true)
    t:cancel("operator left")
    expect(function() t:wait() end).to_fail_with("cancelled", "operator left")
    expect(vmrun.stats().real_pending).to_be(0)
    if have_curl() then expect((curl(url .. "/"))).to_be(0) end
    helpers.write_file(dir .. "/answer", "approve") -- nobody watches it any more
    exec.run({ "sleep", "0.7" })
    expect(io.open(dir .. "/answer")).never.to_be_nil()
    expect(function() g:wait() end).to_fail("this gate is closed")
    g:close()
    cleanup()
  end)

  it("refuses a second waiting task, and close while one waits", function()
    local g <close> = core.open({ message = "go?", http = "127.0.0.1:0" })
    local t = task.spawn(function() return g:wait(5) end)
    task.yield()
    expect(function() g:wait() end).to_fail("another task waits on this gate already")
    expect(function() g:close() end).to_fail("a task waits on this gate: cancel it instead")
    t:cancel()
    pcall(t.wait, t)
  end)

  it("answers no when the run is asked to stop (a maintenance's first Ctrl-C)", function()
    local code = [[
      vmrun.stop_gracefully()
      local t = task.spawn(function()
        exec.run({ "sleep", "0.2" })
        vmrun.request_abort("asked to stop by the spec")
      end)
      print(gate.approve("go?", { http = "127.0.0.1:0" }))
      t:wait()
      print(gate.approve("again?", { http = "127.0.0.1:0" }))
      print(vmrun.stats().real_pending)
    ]]
    local r = child({ "--real-time", "-e", code })
    expect(r.status).to_be(0)
    expect(r.stdout).to_be("false\tabort\tasked to stop by the spec\nfalse\tabort\tasked to stop by the spec\n0\n")
    expect(r.stderr).to_match("WARN  gate: denied %(abort: asked to stop by the spec%): go%?")
  end)
end)
