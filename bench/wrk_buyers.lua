-- wrk script: POST (or GET) with a bearer token that rotates over a CSV of buyers (create_buyers output), so
-- that each request is a different buyer. Prints one JSON line of results on stdout when done.
-- wrk -tT ... -s bench/wrk_buyers.lua URL -- TOKENS_CSV METHOD BODY T [OFFSET]
-- OFFSET: skip that many buyers first (a later run must not reuse the buyers an earlier one used).
-- BODY "@<file>": each buyer's own body, line n of the file for the CSV's buyer n (a path or a solution of theirs).
local threads = {}
local counter = 1

setup = function(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

init = function(args)
  tokens = {}
  local first = true
  for line in io.lines(args[1]) do
    if not first then
      local token = line:gsub("\r$", ""):match("^[^,]*,[^,]*,(.+)$")
      if token then table.insert(tokens, token) end
    end
    first = false
  end
  method = args[2] or "POST"
  body = args[3]
  if body and body:sub(1, 1) == "@" then
    bodies = {}
    for line in io.lines(body:sub(2)) do table.insert(bodies, line) end
  end
  statuses = {}
  n = 0
  nthreads = tonumber(args[4] or "1")
  offset = tonumber(args[5] or "0")
end

request = function()
  -- thread k takes tokens k, k + T, k + 2T ...: no two requests share a buyer until the list wraps
  local index = (offset + n * nthreads + id - 1) % #tokens + 1
  n = n + 1
  local headers = {["Authorization"] = "Bearer " .. tokens[index], ["Content-Type"] = "application/json"}
  return wrk.format(method, nil, headers, bodies and bodies[index] or body)
end

response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

done = function(summary, latency, requests)
  local merged = {}
  local most = 0
  for _, thread in ipairs(threads) do
    most = math.max(most, thread:get("n"))
    local s = thread:get("statuses")
    for code, count in pairs(s) do merged[code] = (merged[code] or 0) + count end
  end
  local parts = {}
  for code, count in pairs(merged) do table.insert(parts, string.format('"%d": %d', code, count)) end
  io.write(string.format(
    '{"requests": %d, "buyers_used": %d, "duration_us": %d, "errors": %d, "p50_ms": %.2f, "p90_ms": %.2f, "p99_ms": %.2f, "statuses": {%s}}\n',
    summary.requests, most * #threads, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    table.concat(parts, ", ")))
end
