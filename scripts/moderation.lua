-- Moderation for a supergroup (run it on a bot that is an admin there):
--  * a banned word: the message is deleted and its author warned; after `strikes`
--    warnings the author is banned;
--  * more than `rate` messages a minute from one user: the extra ones are deleted;
--  * join requests are approved unless the user was banned here before.
-- settings: banned_words (list), strikes (default 3), rate (default 20)

local words = config.banned_words or { "spam", "scam" }
local max_strikes = config.strikes or 3
local rate = config.rate or 20

local function banned_word(text)
  local lower = string.lower(text or "")
  for _, w in ipairs(words) do
    if string.find(lower, string.lower(w), 1, true) then return w end
  end
  return nil
end

on("message", group & incoming, function(msg)
  if msg.service or msg.sender_id == nil then return end
  local who = msg.chat_id .. ":" .. msg.sender_id
  -- Spam-rate limit: count this minute's messages.
  local minute = os.time() // 60
  local count = kv.incr("rate:" .. who .. ":" .. minute)
  if count > rate then
    msg:delete()
    return
  end
  local word = banned_word(msg.text)
  if not word then return end
  msg:delete()
  local strikes = kv.incr("strikes:" .. who)
  if strikes >= max_strikes then
    ban(msg.chat_id, msg.sender_id)
    kv.set("banned:" .. msg.sender_id, true)
    send(msg.chat_id, "User " .. msg.sender_id .. " was banned after " .. strikes .. " warnings.")
    log.warn("banned", msg.sender_id, "in", msg.chat_id)
  else
    send(msg.chat_id, "Message removed: the word '" .. word .. "' is not allowed here (warning "
      .. strikes .. "/" .. max_strikes .. ").")
  end
end)

on("join_request", function(req)
  if req.user_id == nil then return end
  local approve = not kv.get("banned:" .. req.user_id)
  call("messages.hideChatJoinRequest", { peer = req.chat_id, user_id = req.user_id, approved = approve })
  log.info(approve and "approved" or "declined", "join request of", req.user_id)
end)
