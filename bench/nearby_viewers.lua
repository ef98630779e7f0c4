-- wrk script: GET /v1/places/nearby (radius 1000 m, limit 20), each request by a random one of
-- many viewers (tokens given after `--`), each viewer looking around their own home: a fixed
-- point in the Tokyo box (lon 139.5-139.95, lat 35.5-35.85) drawn from the viewer's number,
-- moved by up to ~220 m per request. So viewers behave as people do: frequency caps bind per
-- person, and the ads' invalid-traffic rules (decisions per minute, speed) pass for them as for
-- real traffic instead of flagging every viewer as teleporting across the city.
-- Usage: wrk -s bench/nearby_viewers.lua URL -- TOKEN1 TOKEN2 ...
local tokens = {}
local homes = {}
local counter = 0

function init(args)
  for i = 1, #args do
    tokens[i] = args[i]
    -- a low-discrepancy spread of homes (golden-ratio sequence), the same in every thread/run
    homes[i] = {35.5 + ((i * 0.6180339887) % 1) * 0.35, 139.5 + ((i * 0.7548776662) % 1) * 0.45}
  end
  counter = counter + 1
  math.randomseed(os.time() * 1000 + counter * 7919 + math.floor(os.clock() * 1e6))
end

function request()
  local lat, lon = 35.5 + math.random() * 0.35, 139.5 + math.random() * 0.45
  local headers = {}
  if #tokens > 0 then
    local i = math.random(#tokens)
    lat = homes[i][1] + (math.random() - 0.5) * 0.004
    lon = homes[i][2] + (math.random() - 0.5) * 0.004
    headers["Authorization"] = "Bearer " .. tokens[i]
  end
  local path = string.format("/v1/places/nearby?lat=%.6f&lon=%.6f&radius_m=1000&limit=20", lat, lon)
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
