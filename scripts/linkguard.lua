-- Link moderation with strikes: a member's message with a link is deleted and counted;
-- the warning mentions them by name, and the last strike bans them. Admins may post
-- links. The account must be an admin of the group.
-- settings: strikes (how many links ban; 3).
local limit = config.strikes or 3

on("message", group & incoming & regex("(?i)https?://|t\\.me/"), function(m)
  local who = m:sender()
  if who == nil or who.kind ~= "user" then return end
  local member = participant(m.chat_id, who.id)
  if member and (member.status == "admin" or member.status == "creator") then return end
  m:delete()
  local n = kv.incr("strikes:" .. m.chat_id .. ":" .. who.id)
  if n >= limit then
    ban(m.chat_id, who.id)
    send(m.chat_id, who:mention() .. " is banned: " .. n .. " links.", { parse_mode = "html" })
  else
    local warning = string.format("%s, no links here (strike %d of %d).", who:mention(), n, limit)
    send(m.chat_id, warning, { parse_mode = "html" })
  end
end)
