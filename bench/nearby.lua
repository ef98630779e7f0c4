-- wrk script: GET /v1/places/nearby at a uniformly random point of the Tokyo box
-- (lon 139.5-139.95, lat 35.5-35.85), radius 1000 m, limit 20, with a bearer token.
-- Usage: wrk -s bench/nearby.lua URL -- TOKEN   (token optional: the bare app ignores it)
local token = nil
local counter = 0

function init(args)
  token = args[1]
  counter = counter + 1
  math.randomseed(os.time() * 1000 + counter * 7919 + math.floor(os.clock() * 1e6))
end

function request()
  local lat = 35.5 + math.random() * 0.35
  local lon = 139.5 + math.random() * 0.45
  local path = string.format("/v1/places/nearby?lat=%.6f&lon=%.6f&radius_m=1000&limit=20", lat, lon)
  local headers = {}
  if token and token ~= "" then headers["Authorization"] = "Bearer " .. token end
  return wrk.format("GET", path, headers)
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local non2xx = summary.errors.status
  local errs = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("BENCH requests=%d seconds=%.3f rps=%.1f p50_ms=%.3f p99_ms=%.3f non2xx=%d socket_errors=%d\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, non2xx, errs))
end
