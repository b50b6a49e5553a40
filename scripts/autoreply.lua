-- An auto-reply with a button (a bot): every private message gets a thank-you with a
-- button; pressing it answers the press and edits the reply, formatted.
-- settings: reply (the text of the thank-you; optional).
local text = config.reply or "Thanks, we got your message and will answer soon."

on("message", private & incoming, function(m)
  m:reply(text, { buttons = { { { text = "Mark urgent", data = "urgent" } } } })
end)

on("callback", function(q)
  if q.data ~= "urgent" then return end
  q:answer("Marked urgent")
  q:edit("<b>Urgent:</b> " .. text, { parse_mode = "html" })
end)
