-- Scheduled channel poster: on a cron schedule, posts the next queued text to a channel.
-- The queue lives in kv ("queue", a list); when it is empty, a numbered post is made.
-- Idempotent across restarts: each run's send carries a random_id derived from the run.
-- settings: channel ("@name"), schedule (cron, default every 15 s), tz, queue (initial list)

local channel = config.channel or "@fleet_demo_channel"
local schedule = config.schedule or "*/15 * * * * *"

if kv.get("queue") == nil and config.queue then
  kv.set("queue", config.queue)
end

cron(schedule, { tz = config.tz }, function()
  local queue = kv.get("queue") or {}
  local text
  if #queue > 0 then
    text = table.remove(queue, 1)
  else
    text = "Scheduled post #" .. (kv.get("posted") or 0) + 1 .. " from Lua"
  end
  send(channel, text, { silent = true })
  kv.set("queue", queue)
  local n = kv.incr("posted")
  log.info("posted #" .. n .. " to " .. channel)
end)
