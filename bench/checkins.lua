-- wrk script: POST /v1/checkins, each request by the next of the benchmark's authors, each at its
-- own place with the place's exact coordinates (plausible: no distance, no speed). Authors come
-- from a file of "token place_id lat lon" lines (bench/hot_paths.py writes it).
-- Usage: wrk -s bench/checkins.lua URL -- AUTHORS_FILE [DELAY_MS]
-- DELAY_MS > 0: each connection waits that long before each request (an offered rate, not max).
local authors = {}
local next_author = 1
local delay_ms = 0
local counter = 0

function init(args)
  for line in io.lines(args[1]) do
    local token, place, lat, lon = line:match("(%S+) (%S+) (%S+) (%S+)")
    authors[#authors + 1] = {token, place, lat, lon}
  end
  delay_ms = tonumber(args[2] or "0")
  counter = counter + 1
  math.randomseed(os.time() * 1000 + counter * 7919 + math.floor(os.clock() * 1e6))
  next_author = math.random(#authors)
end

function delay()
  return delay_ms
end

function request()
  local a = authors[next_author]
  next_author = next_author % #authors + 1
  local body = string.format('{"place_id":"%s","lat":%s,"lon":%s,"accuracy_m":20}', a[2], a[3], a[4])
  local headers = {["Authorization"] = "Bearer " .. a[1], ["Content-Type"] = "application/json"}
  return wrk.format("POST", "/v1/checkins", headers, body)
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local non2xx = summary.errors.status
  local errs = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("BENCH requests=%d seconds=%.3f rps=%.1f p50_ms=%.3f p99_ms=%.3f non2xx=%d socket_errors=%d\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, non2xx, errs))
end
