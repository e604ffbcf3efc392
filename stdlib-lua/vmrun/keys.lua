-- vmrun/keys.lua: the names of a table's keys, sorted and joined ("a, b, c"): what the "unknown
-- option x (a, b, c)" messages of the stdlib list. Pure; no I/O.
return function(t)
  local names = {}
  for k in pairs(t) do names[#names + 1] = tostring(k) end
  table.sort(names)
  return table.concat(names, ", ")
end
