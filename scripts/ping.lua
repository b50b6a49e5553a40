-- Userbot command: writing ".ping" anywhere edits that message into the round-trip time.

on("message", outgoing & command(".ping"), function(msg)
  local start = os.clock()
  local t0 = os.time()
  call("help.getNearestDc", {})
  local ms = math.floor((os.clock() - start) * 1000 + 0.5)
  msg:edit(string.format("pong: %d ms (at %s)", ms, os.date("!%H:%M:%S", t0)))
end)
