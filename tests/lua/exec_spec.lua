-- exec_spec.lua: exec.run: argv without a shell, output capture, exit status and signals,
-- check=true errors, env, cwd, stdin, timeouts and cancellation that stop the command, misuse
-- errors, real time under the virtual clock.
local helpers = require("spec_helpers")

-- Polls until process `pid` is gone (reaped), up to about 5 s of real time (task.sleep would be
-- virtual time here, which passes at once).
local function gone(pid)
  for _ = 1, 100 do
    if not exec.run({ "kill", "-0", pid }).ok then return true end
    exec.run({ "sleep", "0.05" })
  end
  return false
end

-- Polls until the file exists and has a line; returns that line.
local function wait_for_line(path)
  for _ = 1, 200 do
    local f = io.open(path)
    if f then
      local line = f:read("l")
      f:close()
      if line then return line end
    end
    exec.run({ "sleep", "0.02" })
  end
  error("no line in " .. path)
end

describe("exec.run argv", function()
  it("passes each argument as is", function()
    local r = exec.run({ "printf", "[%s]", "a b", "", "c\td", 42 })
    expect(r.ok).to_be(true)
    expect(r.status).to_be(0)
    expect(r.stdout).to_be("[a b][][c\td][42]")
    expect(r.stderr).to_be("")
    expect(r.truncated).to_be(false)
    expect(r.seconds).to_be_a("number")
  end)

  it("never interprets shell metacharacters", function()
    local dir, cleanup = helpers.tmpdir()
    local text = "$HOME `id` $(id) ; rm -rf / | cat && echo x > " .. dir .. "/created *"
    local r = exec.run({ "echo", text })
    expect(r.stdout).to_be(text .. "\n")
    expect(io.open(dir .. "/created")).to_be_nil()
    cleanup()
  end)

  it("finds programs in PATH and reports ones that cannot be started", function()
    expect(exec.run({ "true" }).ok).to_be(true)
    local err = expect(function() exec.run({ "no-such-program-vmrun-spec" }) end)
      .to_fail_with("exec", "cannot run 'no%-such%-program%-vmrun%-spec': no such file or "
        .. "directory")
    expect(err.resource).to_be("no-such-program-vmrun-spec")
    expect(err.message).to_match("^[^:]*exec_spec%.lua:%d+: ")
    expect(function() exec.run({ "/nonexistent/prog" }) end)
      .to_fail_with("exec", "cannot run '/nonexistent/prog'")
  end)
end)

describe("exec.run results", function()
  it("captures stdout and stderr separately with the exit status", function()
    local r = exec.run({ "sh", "-c", "echo out; echo err >&2; echo more; exit 3" })
    expect(r.ok).to_be(false)
    expect(r.status).to_be(3)
    expect(r.signal).to_be_nil()
    expect(r.stdout).to_be("out\nmore\n")
    expect(r.stderr).to_be("err\n")
  end)

  it("reports a signal instead of a status when the command was killed", function()
    local r = exec.run({ "sh", "-c", "kill -TERM $$" })
    expect(r.ok).to_be(false)
    expect(r.status).to_be_nil()
    expect(r.signal).to_be(15)
  end)

  it("keeps binary output and marks output beyond 16 MiB as truncated", function()
    local r = exec.run({ "printf", "a\\000b\\377" })
    expect(r.stdout).to_be("a\0b\255")
    local big = exec.run({ "head", "-c", "17000000", "/dev/zero" })
    expect(big.ok).to_be(true)
    expect(#big.stdout).to_be(16 * 1024 * 1024)
    expect(big.truncated).to_be(true)
  end)
end)

describe("exec.run check=true", function()
  it("returns the result when the command succeeds", function()
    expect(exec.run({ "echo", "fine", check = true }).stdout).to_be("fine\n")
  end)

  it("raises kind 'exec' with status, resource, output and the first stderr line", function()
    local err = expect(function()
      exec.run({
        "sh", "-c", "echo partial; echo 'bad thing' >&2; echo detail >&2; exit 4", check = true,
      })
    end).to_fail_with("exec")
    expect(err.message).to_be("'sh' exited with status 4: bad thing")
    expect(err.status).to_be(4)
    expect(err.resource).to_be("sh")
    expect(err.stdout).to_be("partial\n")
    expect(err.stderr).to_be("bad thing\ndetail\n")
  end)

  it("says how a killed command ended, with status 128 + signal", function()
    local err = expect(function() exec.run({ "sh", "-c", "kill -KILL $$", check = true }) end)
      .to_fail_with("exec")
    expect(err.message).to_be("'sh' was killed by signal 9")
    expect(err.status).to_be(137)
    local quiet = expect(function() exec.run({ "false", check = true }) end).to_fail_with("exec")
    expect(quiet.message).to_be("'false' exited with status 1")
  end)
end)

describe("exec.run options", function()
  it("adds env variables to the inherited environment and overrides existing ones", function()
    local r = exec.run({
      "sh", "-c", 'printf "%s|%s|%s" "$VMRUN_SPEC_A" "$VMRUN_SPEC_B" "$PATH"',
      env = { VMRUN_SPEC_A = "a b;$c", VMRUN_SPEC_B = "" },
    })
    expect(r.stdout).to_be("a b;$c||" .. os.getenv("PATH"))
    local o = exec.run({ "sh", "-c", 'printf "%s" "$HOME"', env = { HOME = "/elsewhere" } })
    expect(o.stdout).to_be("/elsewhere")
  end)

  it("runs in cwd", function()
    local dir, cleanup = helpers.tmpdir()
    local r = exec.run({ "pwd", cwd = dir })
    expect(r.stdout).to_be(dir .. "\n")
    expect(function() exec.run({ "pwd", cwd = dir .. "/missing" }) end)
      .to_fail_with("exec", "cannot run 'pwd'")
    cleanup()
  end)

  it("writes stdin to the command, and gives it /dev/null otherwise", function()
    expect(exec.run({ "cat", stdin = "hello\nworld" }).stdout).to_be("hello\nworld")
    expect(exec.run({ "cat", stdin = "" }).stdout).to_be("")
    expect(exec.run({ "cat" }).stdout).to_be("")
    local big = string.rep("0123456789abcdef", 65536) -- 1 MiB, more than a pipe buffer
    expect(exec.run({ "wc", "-c", stdin = big }).stdout).to_match("^%s*1048576%s*$")
  end)

  it("rejects unknown options and bad values with the caller's location", function()
    local err = expect(function() exec.run({ "ls", shell = true }) end)
      .to_fail("unknown option 'shell' for exec.run (expected one of: timeout, env, cwd, stdin, "
        .. "check)")
    expect(err).to_match("^[^:]*exec_spec%.lua:%d+: ")
    expect(function() exec.run({}) end).to_fail("exec.run needs an argv array")
    expect(function() exec.run({ "ls", {} }) end)
      .to_fail("argv[2] is a table; every argument must be a string")
    expect(function() exec.run({ "ls", [3] = "x" }) end).to_fail("unexpected key 3")
    expect(function() exec.run("ls -l") end).to_fail("table expected, got string")
    expect(function() exec.run({ "ls", env = { A = 1 } }) end)
      .to_fail("env must map variable names to string values")
    expect(function() exec.run({ "ls", env = { ["A=B"] = "x" } }) end)
      .to_fail("env must map variable names to string values")
    expect(function() exec.run({ "ls", cwd = 1 }) end).to_fail("cwd must be a string")
    expect(function() exec.run({ "ls", stdin = {} }) end).to_fail("stdin must be a string")
    expect(function() exec.run({ "ls", timeout = "soon" }) end)
      .to_fail("bad duration 'soon' for exec.run timeout")
  end)
end)

describe("exec.run timeouts and cancellation", function()
  it("raises kind 'timeout' and kills the command", function()
    local dir, cleanup = helpers.tmpdir()
    local pidfile = dir .. "/pid"
    local t0 = time.now()
    local err = expect(function()
      exec.run({ "sh", "-c", "echo $$ > " .. pidfile .. "; exec sleep 30", timeout = 0.5 })
    end).to_fail_with("timeout", "exec.run 'sh' timed out after 0.5s")
    local elapsed = time.now() - t0
    expect(elapsed >= 0.45 and elapsed < 10).to_be(true)
    local pid = wait_for_line(pidfile)
    expect(gone(pid)).to_be(true)
    expect(err.where).to_match("exec_spec%.lua:%d+$")
    cleanup()
  end)

  it("stops the command when the waiting task is cancelled", function()
    local dir, cleanup = helpers.tmpdir()
    local pidfile = dir .. "/pid"
    local t = task.spawn(exec.run, { "sh", "-c", "echo $$ > " .. pidfile .. "; exec sleep 30" })
    local pid = wait_for_line(pidfile)
    expect(exec.run({ "kill", "-0", pid }).ok).to_be(true)
    t:cancel("no longer needed")
    expect(function() t:wait() end).to_fail_with("cancelled", "no longer needed")
    expect(gone(pid)).to_be(true)
    cleanup()
  end)
end)

describe("exec.run under the virtual clock", function()
  it("still takes real time, and the clock flows at the real pace meanwhile", function()
    expect(time.is_virtual()).to_be(true)
    local order = {}
    local sleeper = task.spawn(function()
      task.sleep(5)
      order[#order + 1] = "virtual 5s sleep"
    end)
    local t0 = time.now()
    local r = exec.run({ "sleep", "0.3" })
    order[#order + 1] = "real 0.3s command"
    expect(r.seconds >= 0.29).to_be(true)
    local elapsed = time.now() - t0
    expect(elapsed >= 0.29 and elapsed < 5).to_be(true)
    sleeper:wait()
    expect(order).to_equal({ "real 0.3s command", "virtual 5s sleep" })
  end)
end)
