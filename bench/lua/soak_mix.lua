-- The soak's traffic (bench/soak.sh): 90 % reads, a quarter of them
-- searches, and 10 % writes, every request with keys drawn at random from
-- the data so that no cache or page stays warm by accident.
-- Arguments: TOKEN MAX_ID WORDS_FILE CATEGORIES_FILE BRANDS_FILE TAG
-- (categories and brands URL-encoded, one a line)
--   reads (90 %): 22.5 % search (a word, or two, of the data; a fifth with a
--                 category, a tenth with fuzzy=true), 27.5 % list (random
--                 category and/or brand, sort, page by offset up to 200),
--                 25 % detail of a random id, 10 % stats or facets of a
--                 random category or brand (a fifth of them within a price
--                 range), 5 % categories or brands
--   writes (10 %): 7 % PATCH of a random product's price or stock,
--                  3 % POST of a new product (sku SOAK<TAG>-<thread>-<n>)
-- At the end prints one line per thread:
--   SOAK thread=T requests=N non2xx=E statuses=CODE:COUNT,...
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

local function read_lines(path)
  local out = {}
  local f = assert(io.open(path, "r"), "cannot open " .. path)
  for line in f:lines() do
    if line ~= "" then table.insert(out, line) end
  end
  f:close()
  return out
end

local sorts = {"id", "-price", "price", "-rating", "name", "-created_at"}

function init(args)
  auth = "Bearer " .. args[1]
  max_id = tonumber(args[2])
  words = read_lines(args[3])
  categories = read_lines(args[4])
  brands = read_lines(args[5])
  tag = args[6] or "0"
  -- Diagnostics: a 7th argument sends one class of the mix alone (search,
  -- list, detail, aggregate, names, patch, create).
  only = args[7]
  counter = 0
  requests = 0
  statuses = {}
  math.randomseed(os.time() * 1000 + tid * 7919)
  patch_headers = { ["Authorization"] = auth, ["Content-Type"] = "application/merge-patch+json" }
  post_headers = { ["Authorization"] = auth, ["Content-Type"] = "application/json" }
end

local function pick(t) return t[math.random(#t)] end

local function price()
  return string.format("%d.%02d", math.random(1, 499), math.random(0, 99))
end

local function search_text()
  local w = pick(words)
  if math.random() < 0.3 then w = w .. "%20" .. pick(words) end
  return w
end

local class_at = { search = 0, list = 30, detail = 60, aggregate = 80, names = 87, patch = 92, create = 98 }

function request()
  local r = math.random() * 100
  if only ~= nil and only ~= "" then r = class_at[only] end
  if r < 22.5 then
    local q = "/api/v1/products?limit=20&search=" .. search_text()
    if math.random() < 0.2 then q = q .. "&category=" .. pick(categories) end
    if math.random() < 0.1 then q = q .. "&fuzzy=true" end
    return wrk.format("GET", q)
  elseif r < 50 then
    local q = "/api/v1/products?limit=20&sort=" .. pick(sorts) .. "&offset=" .. 20 * math.random(0, 10)
    if math.random() < 0.6 then q = q .. "&category=" .. pick(categories) end
    if math.random() < 0.4 then q = q .. "&brand=" .. pick(brands) end
    return wrk.format("GET", q)
  elseif r < 75 then
    return wrk.format("GET", "/api/v1/products/" .. math.random(max_id))
  elseif r < 85 then
    -- A category or brand page's sidebar and stats bar; a fifth of them
    -- narrowed by a price range (a slider: whole dollars).
    local path = math.random() < 0.5 and "/api/v1/products/stats" or "/api/v1/products/facets"
    local q = math.random() < 0.5 and ("?category=" .. pick(categories)) or ("?brand=" .. pick(brands))
    if math.random() < 0.2 then
      local lo = math.random(0, 400)
      q = q .. "&min_price=" .. lo .. "&max_price=" .. (lo + math.random(5, 100))
    end
    return wrk.format("GET", path .. q)
  elseif r < 90 then
    return wrk.format("GET", math.random() < 0.5 and "/api/v1/products/categories" or "/api/v1/products/brands")
  elseif r < 97 then
    local body
    if math.random() < 0.5 then
      body = '{"price": ' .. price() .. '}'
    else
      body = '{"stock_quantity": ' .. math.random(0, 500) .. '}'
    end
    return wrk.format("PATCH", "/api/v1/products/" .. math.random(max_id), patch_headers, body)
  else
    counter = counter + 1
    local body = string.format(
      '{"sku": "SOAK%s-%d-%d", "name": "Soak lamp %d", "description": "Written by the soak test",'
      .. ' "category": "Soak", "brand": "Writer", "price": %s, "stock_quantity": %d, "rating": %d.%d,'
      .. ' "is_active": true}',
      tag, tid, counter, counter, price(), math.random(0, 50), math.random(0, 4), math.random(0, 9))
    return wrk.format("POST", "/api/v1/products", post_headers, body)
  end
end

function response(status, headers, body)
  requests = requests + 1
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests_)
  for _, t in ipairs(threads) do
    local n = t:get("requests")
    local s = t:get("statuses")
    local parts, bad = {}, 0
    for code, count in pairs(s) do
      table.insert(parts, code .. ":" .. count)
      if code < 200 or code >= 300 then bad = bad + count end
    end
    table.sort(parts)
    io.write(string.format("SOAK thread=%d requests=%d non2xx=%d statuses=%s\n",
      t:get("tid"), n, bad, table.concat(parts, ",")))
  end
end
