// Paced load with stock wrk, which has no rate option (that is wrk2): a Lua `delay()` hook hands
// each request the next free slot of a per-thread schedule, one slot every 1/rate s. wrk asks
// `delay()` before every request on every connection and measures latency from the moment the
// request is written, so the pause is not counted as latency. A thread that falls behind does not
// catch up in a burst: the schedule restarts from now, and the achieved rate says so.

/**
 * The hook. wrk's timers have 1 ms resolution and it truncates the delay, so a request may leave
 * up to 1 ms before its slot; slots stay 1/rate apart, so the rate over a run holds. The clock is
 * CLOCK_MONOTONIC through LuaJIT's FFI (os.time() counts whole seconds).
 */
export const PACING_SCRIPT = `
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } oisp_timespec;
int clock_gettime(int clk, oisp_timespec *tp);
]]
local ts = ffi.new("oisp_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end
local interval_ms = 1
local next_ms = nil
function init(args)
  interval_ms = 1000 / tonumber(args[1])
end
function delay()
  local now = now_ms()
  if next_ms == nil or next_ms < now then next_ms = now end
  local slot = next_ms
  next_ms = next_ms + interval_ms
  return slot - now
end
`;

/** The most requests one connection is asked to carry per second: 10 ms per request leaves room for latency. */
const PER_CONNECTION_RATE = 100;

/**
 * Connections for a paced rate: a request waits for a free connection, so at `rate` with latency L
 * about rate × L of them are busy; 10 ms per request per connection covers latencies up to
 * several ms (the sensor on this VM) without opening hundreds of TLS connections.
 */
export function connectionsFor(rate: number): number {
  return Math.min(512, Math.max(8, Math.ceil(rate / PER_CONNECTION_RATE)));
}
