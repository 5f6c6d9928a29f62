-- Writes for bench/writes.sh. Arguments: MODE TOKEN MAX_ID [HOT_IDS] [TAG]
--   patch-price  PATCH a random product's price (it moves between price buckets)
--   patch-stock  PATCH a random product's stock (its own buckets change)
--   patch-hot    PATCH the stock of products from HOT_IDS (comma list, one
--                category, brand and $1 bucket: every write updates the
--                same summary rows)
--   create       POST a new product (sku WB<TAG>-<thread>-<n>, unique per run)
local threads = {}
local counter = 0
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  mode = args[1]
  auth = "Bearer " .. args[2]
  max_id = tonumber(args[3])
  hot = {}
  for id in string.gmatch(args[4] or "", "%d+") do table.insert(hot, id) end
  tag = args[5] or "0"
  math.randomseed(os.time() * 1000 + tid * 7919 + math.random(1000000))
  patch_headers = { ["Authorization"] = auth, ["Content-Type"] = "application/merge-patch+json" }
  post_headers = { ["Authorization"] = auth, ["Content-Type"] = "application/json" }
end

local function price()
  return string.format("%d.%02d", math.random(1, 499), math.random(0, 99))
end

function request()
  if mode == "patch-price" then
    return wrk.format("PATCH", "/api/v1/products/" .. math.random(max_id), patch_headers,
      '{"price": ' .. price() .. '}')
  elseif mode == "patch-stock" then
    return wrk.format("PATCH", "/api/v1/products/" .. math.random(max_id), patch_headers,
      '{"stock_quantity": ' .. math.random(0, 500) .. '}')
  elseif mode == "patch-hot" then
    return wrk.format("PATCH", "/api/v1/products/" .. hot[math.random(#hot)], patch_headers,
      '{"stock_quantity": ' .. math.random(1, 500) .. '}')
  else
    counter = counter + 1
    local body = string.format(
      '{"sku": "WB%s-%d-%d", "name": "Bench lamp %d", "description": "A lamp written by the write benchmark",'
      .. ' "category": "Bench", "brand": "Writer", "price": %s, "stock_quantity": %d, "rating": %d.%d,'
      .. ' "is_active": true}',
      tag, tid, counter, counter, price(), math.random(0, 50), math.random(0, 4), math.random(0, 9))
    return wrk.format("POST", "/api/v1/products", post_headers, body)
  end
end
