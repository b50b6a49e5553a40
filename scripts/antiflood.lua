-- Anti-flood (a bot, admin of the group): more than `limit` messages from one member in
-- `window` seconds mutes them, longer each time (1 min, 10 min, 1 h, then a day).
-- settings: limit (5), window (10 seconds).
local limit, window = config.limit or 5, config.window or 10
local steps = { 60, 600, 3600, 86400 }

on("message", group & incoming, function(m)
  if m.service or m.sender_id == nil then return end
  local now, key = os.time(), m.chat_id .. ":" .. m.sender_id
  local w = kv.get("window:" .. key)
  if w == nil or now - w.start >= window then w = { start = now, n = 0 } end
  w.n = w.n + 1
  kv.set("window:" .. key, w)
  if w.n <= limit then return end
  local level = kv.incr("level:" .. key)
  local secs = steps[math.min(level, #steps)]
  restrict(m.chat_id, m.sender_id, { until_date = now + secs })
  kv.del("window:" .. key)
  local who = m:sender():mention()
  send(m.chat_id, string.format("%s is muted for %d min (flood).", who, secs // 60), { parse_mode = "html" })
end)
