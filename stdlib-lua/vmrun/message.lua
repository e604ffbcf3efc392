-- vmrun/message.lua: an error's text without the "file:line: " it starts with: what a function
-- that passes on another's error, or names it in its own message, shows. Pure; no I/O.
return function(err)
  return (tostring(type(err) == "table" and err.message or err):gsub("^[^:]+:%d+: ", ""))
end
