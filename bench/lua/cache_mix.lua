-- A realistic read mix for the cache benchmark: 1,000 distinct list queries
-- (category x brand x sort x page) requested with a Zipf-like spread
-- (weight of the k-th most popular query = 1/k), counting X-Cache HIT/MISS.
local categories = {"Electronics", "Computers", "Books", "Clothing", "Shoes",
  "Home%20%26%20Kitchen", "Furniture", "Garden", "Sports", "Toys"}
local brands = {"Acme", "Globex", "Initech", "Umbrella", "Stark"}
local sorts = {"id", "-price", "price", "-rating"}
local pages = {0, 20, 40, 60, 80}

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  hits = 0
  misses = 0
  errors = 0
  paths = {}
  for _, c in ipairs(categories) do
    for _, b in ipairs(brands) do
      for _, s in ipairs(sorts) do
        for _, o in ipairs(pages) do
          table.insert(paths, string.format(
            "/api/v1/products?category=%s&brand=%s&sort=%s&offset=%d&limit=20", c, b, s, o))
        end
      end
    end
  end
  -- Shuffle deterministically so popularity is not tied to the nesting order.
  math.randomseed(7)
  for i = #paths, 2, -1 do
    local j = math.random(i)
    paths[i], paths[j] = paths[j], paths[i]
  end
  cumulative = {}
  local total = 0
  for k = 1, #paths do
    total = total + 1 / k
    cumulative[k] = total
  end
  norm = total
  math.randomseed(os.time() + (args[1] and tonumber(args[1]) or 0) + math.random(1000000))
end

local function pick()
  local r = math.random() * norm
  local lo, hi = 1, #cumulative
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if cumulative[mid] < r then lo = mid + 1 else hi = mid end
  end
  return paths[lo]
end

function request()
  return wrk.format("GET", pick())
end

function response(status, headers, body)
  if status ~= 200 then
    errors = errors + 1
  end
  local x = headers["x-cache"] or headers["X-Cache"]
  if x == "HIT" then hits = hits + 1 else misses = misses + 1 end
end

function done(summary, latency, requests)
  local h, m, e = 0, 0, 0
  for _, t in ipairs(threads) do
    h = h + t:get("hits")
    m = m + t:get("misses")
    e = e + t:get("errors")
  end
  io.write(string.format("CACHE hits=%d misses=%d non200=%d ratio=%.4f\n", h, m, e, h / math.max(1, h + m)))
end
