-- wrk script for bench/run.py: optional request bodies and a JSON summary line.
--
-- BENCH_BODIES names a file with one JSON body per line, POSTed in turn; the
-- lines are dealt out to wrk's threads. With BENCH_ONCE=1 each body is sent
-- once (invite codes sign in only once) and a thread stops when its lines are
-- used up. Without BENCH_BODIES every request is the plain GET wrk was given.

local thread_count = 0
local threads = {}

function setup(thread)
  thread:set("thread_index", thread_count)
  thread_count = thread_count + 1
  table.insert(threads, thread)
end

function init(args)
  bodies = {}
  next_body = 1
  answered = 0
  send_once = os.getenv("BENCH_ONCE") == "1"
  local path = os.getenv("BENCH_BODIES")
  if path == nil or path == "" then
    return
  end
  local line_number = 0
  for line in io.lines(path) do
    if line_number % tonumber(os.getenv("BENCH_THREADS")) == thread_index then
      table.insert(bodies, line)
    end
    line_number = line_number + 1
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  if #bodies == 0 then
    return wrk.request()
  end
  local body = bodies[next_body]
  next_body = next_body + 1
  if next_body > #bodies then
    next_body = 1
  end
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  answered = answered + 1
  if send_once and answered >= #bodies then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "non_2xx": %d, ' ..
    '"socket_errors": %d, "p50_us": %d, "p95_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50), latency:percentile(95), latency.max))
end
