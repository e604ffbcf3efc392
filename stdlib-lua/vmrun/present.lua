-- vmrun/present.lua: a decoded field's value, or nil when it is absent or JSON null (vmrun.null):
-- how the stdlib reads optional fields of Kubernetes objects. Pure; no I/O.
local null = require("vmrun").null
return function(v)
  if v == null then return nil end
  return v
end
