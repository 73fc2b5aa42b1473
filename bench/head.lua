-- wrk script for bench/run.sh: one HEAD /v1/images/<id> per request, the id drawn at random
-- (uniformly, per request) from the ids file given in the environment.
--   BENCH_IDS      file with one id per line (required)
--   BENCH_UNKNOWN  percentage (0-100) of requests for ids that do not exist (default 0);
--                  an unknown id is a known one with its first 8 hex digits replaced, so it
--                  has the same length and hashing cost.
--   BENCH_HOST     Host header value (default 127.0.0.1)
-- Every request line is built once, here, and request() only picks one: a request creates
-- no Lua garbage, so LuaJIT's collector never runs during the load. Building the line per
-- request (and collecting it) made the collector walk the table of a million ids every few
-- thousand requests: client-side stalls that showed as the SERVER's p99 (nginx's p99 with a
-- million ids was 1.1-2.6 ms against 0.5-0.8 ms with 10,000; 0.6-0.7 ms with the lines
-- prebuilt).
local unknown = tonumber(os.getenv("BENCH_UNKNOWN") or "0") or 0
local host = os.getenv("BENCH_HOST") or "127.0.0.1"
local path = os.getenv("BENCH_IDS")
local pre = "HEAD /v1/images/"
local post = " HTTP/1.1\r\nHost: " .. host .. "\r\n\r\n"

local known, missing = {}, {}
local n = 0
local f = assert(io.open(assert(path, "BENCH_IDS is not set"), "r"))
for line in f:lines() do
  if #line > 0 then
    n = n + 1
    known[n] = pre .. line .. post
    if unknown > 0 then
      missing[n] = pre .. "00000000" .. line:sub(9) .. post
    end
  end
end
f:close()
assert(n > 0, "no ids in " .. path)
collectgarbage("collect")

local random = math.random

function init(args)
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0) % 100000)
end

function request()
  local i = random(n)
  if unknown > 0 and random(100) <= unknown then
    return missing[i]
  end
  return known[i]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d max_us=%d connect=%d read=%d write=%d timeout=%d status=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.connect, e.read, e.write, e.timeout, e.status))
end
