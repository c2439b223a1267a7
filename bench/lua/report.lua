-- Appended to every scenario script: prints one machine-readable line, "BENCH_JSON {...}", when wrk is done.
-- Scenario scripts may define bench_setup(thread) (called from setup) and bench_extra() (a JSON member).

bench_threads = {}

function setup(thread)
   table.insert(bench_threads, thread)
   if bench_setup then bench_setup(thread) end
end

local function n(x)
   return string.format("%.0f", x)
end

function done(summary, latency, requests)
   local e = summary.errors
   local parts = {
      '"duration_us":' .. n(summary.duration),
      '"requests":' .. n(summary.requests),
      '"bytes":' .. n(summary.bytes),
      string.format('"errors":{"connect":%s,"read":%s,"write":%s,"status":%s,"timeout":%s}',
         n(e.connect), n(e.read), n(e.write), n(e.status), n(e.timeout)),
   }
   if summary.requests > 0 then
      table.insert(parts, string.format(
         '"latency_us":{"min":%s,"max":%s,"mean":%.1f,"stdev":%.1f,"p50":%s,"p75":%s,"p90":%s,"p99":%s,"p999":%s}',
         n(latency.min), n(latency.max), latency.mean, latency.stdev, n(latency:percentile(50)),
         n(latency:percentile(75)), n(latency:percentile(90)), n(latency:percentile(99)),
         n(latency:percentile(99.9))))
   end
   if bench_extra then table.insert(parts, bench_extra()) end
   io.write("BENCH_JSON {" .. table.concat(parts, ",") .. "}\n")
end
