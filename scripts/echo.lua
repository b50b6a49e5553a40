-- Echo bot: answers /start with a keyboard, echoes private messages, answers button presses.
-- settings: greeting (string)

local greeting = config.greeting or "Hi! I echo what you write. Try the buttons."

on("message", command("start") & private, function(msg)
  -- buttons: rows of buttons (here one row of two).
  msg:reply(greeting, { buttons = { { { text = "Ping", data = "ping" }, { text = "Count", data = "count" } } } })
end)

on("message", private & incoming & ~command("start"), function(msg)
  if msg.text ~= "" then
    msg:reply(msg.text)
  end
end)

on("callback", function(q)
  if q.data == "ping" then
    q:answer("pong")
  elseif q.data == "count" then
    local n = kv.incr("presses")
    q:answer("pressed " .. n .. " times", { alert = true })
  else
    q:answer("unknown button")
  end
  log.info("button", q.data, "pressed by", q.user_id)
end)
