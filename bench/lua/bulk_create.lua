-- wrk: POST /api/v1/products/bulk with 1,000 new products per request.
-- The body is a template (BULK_TEMPLATE, written by bench/bulk.sh) whose
-- skus carry the placeholder @@; each request replaces it with a token
-- unique to this thread and request, so every item is a create.
local counter = 0
local thread_id = 0
local template = nil
local token = os.getenv("BULK_TOKEN")

function setup(thread)
    thread:set("id", thread_id)
    thread_id = thread_id + 1
end

function init(args)
    local f = assert(io.open(os.getenv("BULK_TEMPLATE"), "r"))
    template = f:read("*a")
    f:close()
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
    wrk.headers["Authorization"] = "Bearer " .. token
end

function request()
    counter = counter + 1
    local tag = string.format("R%dT%dN%d", os.time() % 100000, id, counter)
    local body = template:gsub("@@", tag)
    return wrk.format(nil, "/api/v1/products/bulk", nil, body)
end

function response(status, headers, body)
    if status ~= 200 then
        io.stderr:write("bulk request failed: " .. status .. " " .. body:sub(1, 200) .. "\n")
    end
end
