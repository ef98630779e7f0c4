-- wrk script: GET /v1/places/nearby as bench/nearby.lua (random Tokyo point, radius 1000 m,
-- limit 20), each request as a random one of many viewers (tokens given after `--`), so
-- frequency caps behave as with real traffic rather than one viewer capped everywhere.
-- Usage: wrk -s bench/nearby_viewers.lua URL -- TOKEN1 TOKEN2 ...
local tokens = {}
local counter = 0

function init(args)
  for i = 1, #args do tokens[i] = args[i] end
  counter = counter + 1
  math.randomseed(os.time() * 1000 + counter * 7919 + math.floor(os.clock() * 1e6))
end

function request()
  local lat = 35.5 + math.random() * 0.35
  local lon = 139.5 + math.random() * 0.45
  local path = string.format("/v1/places/nearby?lat=%.6f&lon=%.6f&radius_m=1000&limit=20", lat, lon)
  local headers = {}
  if #tokens > 0 then headers["Authorization"] = "Bearer " .. tokens[math.random(#tokens)] end
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
