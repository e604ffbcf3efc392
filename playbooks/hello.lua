-- hello.lua: a first playbook. Three "nodes" are maintained concurrently, each task sleeping on
-- the run's clock (virtual by default, so an hour of waiting takes no wall time); the main task
-- waits for them all and prints a summary.
--
--   vmrun playbooks/hello.lua [NAME...]
local names = { ... }
if #names == 0 then names = { "worker-1", "worker-2", "worker-3" } end

local started = time.now()
log.info("hello from vmrun " .. vmrun.version, { clock = time.is_virtual() and "virtual" or "real" })

local function maintain(name, minutes)
  log.info("maintenance started", { node = name, minutes = minutes })
  task.sleep(minutes * 60)
  log.info("maintenance done", { node = name })
  return minutes
end

local work = {}
for i, name in ipairs(names) do
  work[i] = task.spawn(maintain, name, 10 * i)
end
local results = task.all(work)

local total = 0
for _, minutes in ipairs(results) do total = total + minutes end
print(string.format("maintained %d nodes (%d node-minutes) in %s of %s time", #names, total,
  string.format("%.0f minutes", (time.now() - started) / 60),
  time.is_virtual() and "simulated" or "real"))
