-- vmrun/k8stime.lua: Kubernetes timestamps in Lua: RFC 3339 text (as the API server and Go's
-- encoding/json write it: "2026-05-01T10:00:00Z", fractions and offsets allowed) to seconds since
-- the epoch, and seconds to the MicroTime text a Lease's times need (six fraction digits, UTC).
-- Pure arithmetic: no I/O, no time zone of the host, nothing read from the cluster.
local M = {}

-- Days from 1970-01-01 to the given civil date (proleptic Gregorian, any year).
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * (m + (m > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

--- k8stime.parse(text) -> seconds | nil
-- Seconds since the epoch (a float when the text has a fraction) of an RFC 3339 timestamp, or nil
-- when text is not a string or not such a timestamp (never raises).
function M.parse(text)
  if type(text) ~= "string" then return nil end
  local y, mo, d, h, mi, s, rest =
    text:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)[Tt](%d%d):(%d%d):(%d%d)(.*)$")
  if y == nil then return nil end
  y, mo, d, h, mi, s = tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(s)
  if mo < 1 or mo > 12 or d < 1 or d > 31 or h > 23 or mi > 59 or s > 60 then return nil end
  local micros = 0 -- the fraction in whole microseconds (further digits cut), for exact sums
  local digits, zone = rest:match("^%.(%d+)(.*)$")
  if digits ~= nil then
    micros = tonumber((digits .. "00000"):sub(1, 6))
    rest = zone
  end
  local offset
  if rest == "Z" or rest == "z" then
    offset = 0
  else
    local sign, oh, om = rest:match("^([+-])(%d%d):(%d%d)$")
    if sign == nil then return nil end
    offset = (tonumber(oh) * 3600 + tonumber(om) * 60) * (sign == "+" and 1 or -1)
  end
  local seconds = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset
  -- one division of exact integers: the same number as time.now() gives for that instant
  if micros > 0 then return (seconds * 1000000 + micros) / 1e6 end
  return seconds
end

--- k8stime.micro(seconds) -> text
-- The MicroTime text of a time ("2026-05-01T10:00:00.250000Z"), as coordination.k8s.io Leases
-- take it: the API server parses exactly six fraction digits.
function M.micro(seconds)
  local micros = math.floor(seconds * 1e6 + 0.5)
  local whole, fraction = micros // 1000000, micros % 1000000
  return os.date("!%Y-%m-%dT%H:%M:%S", whole) .. (".%06dZ"):format(fraction)
end

return M
