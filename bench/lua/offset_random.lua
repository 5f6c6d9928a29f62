-- Deep offset pages with distinct keys for bench/scale.sh: each request
-- draws its offset uniformly in [0, MAX_OFFSET] and its sort from SORTS.
-- Arguments: SORTS MAX_OFFSET [EXTRA_QUERY]
--   SORTS        a comma list of sorts, one drawn for each request (e.g. "price" or "price,-rating")
--   MAX_OFFSET   the deepest offset drawn
--   EXTRA_QUERY  appended as it is (e.g. "&count=none")
-- Prints "KEYS requests=N non200=E short_pages=S" at the end (S: 200 responses with fewer than 20 items).
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  sorts = {}
  for s in string.gmatch(args[1] or "price", "[^,]+") do table.insert(sorts, s) end
  max_offset = tonumber(args[2] or "900000")
  extra = args[3] or ""
  requests, non200, short_pages = 0, 0, 0
  math.randomseed(os.time() * 1000 + (tid or 0) * 7919 + math.random(1000000))
  -- Reading every response in Lua (headers and body handed to response())
  -- costs wrk about as much CPU as building the request, on the cores the
  -- server shares: only a checking run (WRK_CHECK=1) reads them. wrk still
  -- counts non-2xx responses and socket errors without it.
  if os.getenv("WRK_CHECK") ~= "1" then response = nil end
end

function request()
  return wrk.format("GET", "/api/v1/products?sort=" .. sorts[math.random(#sorts)]
    .. "&offset=" .. math.random(0, max_offset) .. "&limit=20" .. extra)
end

function response(status, headers, body)
  requests = requests + 1
  if status ~= 200 then
    non200 = non200 + 1
    return
  end
  -- Every item has exactly one "sku"; a full page has 20.
  local _, items = string.gsub(body, '"sku":', "")
  if items < 20 then short_pages = short_pages + 1 end
end

function done(summary, latency, requests_)
  -- Nothing was counted unless WRK_CHECK=1 (the threads had no response()).
  local n, e, s = 0, 0, 0
  for _, t in ipairs(threads) do
    n = n + t:get("requests")
    e = e + t:get("non200")
    s = s + t:get("short_pages")
  end
  if n == 0 then return end
  io.write(string.format("KEYS requests=%d non200=%d short_pages=%d\n", n, e, s))
end
