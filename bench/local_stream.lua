-- wrk script: GET /v1/timelines/public at one of the benchmark's query points (a real venue and
-- a radius), limit 20, with a bearer token. bench/local_stream.py fills in the points.
-- Usage: wrk -s local_stream.lua URL -- TOKEN
local token = nil
local counter = 0
local points = {
--POINTS--
}

function init(args)
  token = args[1]
  counter = counter + 1
  math.randomseed(os.time() * 1000 + counter * 7919 + math.floor(os.clock() * 1e6))
end

function request()
  local p = points[math.random(#points)]
  local path = string.format("/v1/timelines/public?lat=%.6f&lon=%.6f&radius_m=%d&limit=20",
    p[1], p[2], p[3])
  return wrk.format("GET", path, {["Authorization"] = "Bearer " .. token})
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local non2xx = summary.errors.status
  local errs = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("BENCH requests=%d seconds=%.3f rps=%.1f p50_ms=%.3f p99_ms=%.3f non2xx=%d socket_errors=%d\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, non2xx, errs))
end
