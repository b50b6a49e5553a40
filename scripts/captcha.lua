-- Captcha for new members (a bot, admin of the group): a newcomer is muted until they
-- press the button under the greeting; who does not press in time is removed.
-- settings: timeout (seconds to answer; 120), check (how often to look; "5s").
local timeout = config.timeout or 120

on("participant", function(p)
  if not p.joined or p.user_id == account.id then return end
  restrict(p.chat_id, p.user_id)
  local text = string.format("%s, press the button within %d s to write here.",
    get_peer(p.user_id):mention(), timeout)
  local button = { { { text = "I am human", data = "human:" .. p.user_id } } }
  local q = send(p.chat_id, text, { parse_mode = "html", buttons = button })
  kv.set("pending:" .. p.chat_id .. ":" .. p.user_id, { msg = q.id, due = os.time() + timeout })
end)

on("callback", function(q)
  local uid = tonumber(q.data:match("^human:(%-?%d+)$"))
  if uid == nil then return end
  if uid ~= q.user_id then return q:answer("This button is not for you", { alert = true }) end
  local key = "pending:" .. q.chat_id .. ":" .. uid
  if kv.get(key) == nil then return q:answer("Already done") end
  kv.del(key)
  unrestrict(q.chat_id, uid)
  q:answer("Welcome!")
  q:edit("Welcome, " .. get_peer(uid):mention() .. "!", { parse_mode = "html" })
end)

every(config.check or "5s", function()
  for _, key in ipairs(kv.keys("pending:")) do
    local p = kv.get(key)
    if p.due <= os.time() then
      local chat, user = key:match("^pending:(%-?%d+):(%-?%d+)$")
      chat, user = tonumber(chat), tonumber(user)
      ban(chat, user, { kick = true })
      for _, m in ipairs(get_messages(chat, { p.msg })) do m:delete() end
      kv.del(key)
    end
  end
end)
