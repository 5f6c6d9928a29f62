-- Product details by random id in [1, MAX_ID] (first script argument,
-- default 100000); a second argument narrows ids to a hot set (cached runs).
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  max_id = tonumber(args[1] or "100000")
  errors = 0
  math.randomseed(os.time() + math.random(1000000))
end
function request()
  return wrk.format("GET", "/api/v1/products/" .. math.random(max_id))
end
function response(status, headers, body)
  if status ~= 200 then errors = errors + 1 end
end
function done(summary, latency, requests)
  local e = 0
  for _, t in ipairs(threads) do e = e + t:get("errors") end
  io.write(string.format("NON200 %d\n", e))
end
