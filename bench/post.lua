-- wrk script: POST CustomerIdentified bodies (with BENCH_AUTHORIZATION as the Authorization
-- header, when set); the gateway gives each request a new event id. The body BENCH_BODY is sent for
-- BENCH_CUSTOMERS customers in turn (default 500), so that the events spread over the topic's
-- partitions as real guests' do: the partition key is the customer. One customer would put every
-- event on one partition.
-- Prints one JSON line of totals and latency percentiles (microseconds) when done.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local authorization = os.getenv("BENCH_AUTHORIZATION")
if authorization and authorization ~= "" then
  wrk.headers["Authorization"] = authorization
end

local template = os.getenv("BENCH_BODY") or "{}"
local customers = tonumber(os.getenv("BENCH_CUSTOMERS") or "500")
local requests = {}
local turn = 0

-- Every request is built once, before the run: the run only picks the next one.
init = function(args)
  for i = 0, customers - 1 do
    local body = (template:gsub('"customer_id":"[^"]*"', '"customer_id":"cust' .. i .. '"', 1))
    requests[i] = wrk.format(nil, nil, nil, body)
  end
end

request = function()
  local r = requests[turn]
  turn = (turn + 1) % customers
  return r
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"socket_errors":%d,"non2xx":%d,"p50_us":%d,"p99_us":%d,"p999_us":%d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
