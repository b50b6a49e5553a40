-- A daily digest that pins itself: counts a group's messages (and who sent them) in kv,
-- and every evening posts the count with the most active member, pins it, starts over.
-- settings: chat (the group: "@name" or an id), at (a cron expression; 20:00 UTC).
local chat = config.chat or "@fleet_demo_group"

on("message", chats(chat) & incoming, function(m)
  kv.incr("today")
  if m.sender_id then kv.incr("from:" .. m.sender_id) end
end)

cron(config.at or "0 20 * * *", function()
  local top, best = nil, 0
  for _, k in ipairs(kv.keys("from:")) do
    local n = kv.get(k)
    if n > best then top, best = tonumber(k:sub(6)), n end
    kv.del(k)
  end
  local text = string.format("<b>Daily digest</b>: %d messages today", kv.get("today") or 0)
  if top then
    text = text .. string.format(", %d from %s", best, get_peer(top):mention())
  end
  send(chat, text, { parse_mode = "html" }):pin({ silent = true })
  kv.set("today", 0)
end)
