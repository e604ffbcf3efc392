-- hello.lua: the script of examples/embed-host. It calls the embedder's own binding (greet) from
-- tasks run by vmrun's scheduler: one task per name, all sleeping at the same time, the last name
-- with the shortest sleep, so the names wake in reverse order.
-- Usage: embed-host hello.lua [NAME...]
local names = { ... }
if #names == 0 then names = { "world" } end

local woke = {}
local tasks = {}
for i, name in ipairs(names) do
  tasks[i] = task.spawn(function()
    task.sleep(0.05 * (#names - i + 1))
    woke[#woke + 1] = name
    return greet.hello(name)
  end)
end

for _, t in ipairs(tasks) do
  print(t:wait())
end
print("woke in order: " .. table.concat(woke, ", "))

local ok, err = pcall(function() return greet.hello("") end)
assert(not ok)
print("greet.hello('') raised: " .. tostring(err))
