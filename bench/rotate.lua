-- wrk script: every request as the next identity of a list (round robin), so caches are measured honestly.
-- Usage: wrk ... -s bench/rotate.lua URL -- requests.tsv [body.json]
-- requests.tsv: one line per identity: METHOD \t PATH \t TOKEN \t IF-NONE-MATCH (or empty)
-- BENCH_DELAY_MS (environment): each connection waits that long before its next request (a paced load:
-- connections x 1000 / BENCH_DELAY_MS requests per second at most, less the time of each answer).
local lines = {}
local body = nil
local n = 0

function init(args)
  for line in io.lines(args[1]) do
    local method, path, token, etag = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t?(.*)$")
    local headers = {["Authorization"] = "Bearer " .. token}
    if etag ~= nil and etag ~= "" then headers["If-None-Match"] = etag end
    if method == "POST" then headers["Content-Type"] = "application/json" end
    table.insert(lines, {method, path, headers})
  end
  if args[2] then
    local f = assert(io.open(args[2], "r"))
    body = f:read("*a")
    f:close()
  end
end

function request()
  n = n % #lines + 1
  local item = lines[n]
  return wrk.format(item[1], item[2], item[3], item[1] == "POST" and body or nil)
end

local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "")

if pause then
  function delay()
    return pause
  end
end
