-- Auto-forwarder: copies messages of one chat that match a filter into another chat.
-- settings: from ("@chat"), to ("@chat"), tag (text the message must contain, default "#news")

local tag = config.tag or "#news"
local to = config.to or "@fleet_demo_group"
local from = config.from

on("message", text_contains(tag) & filter(function(m) return from == nil or m.chat_type ~= "private" end),
  function(msg)
    if from ~= nil then
      -- Compare chats by resolving the configured one once.
      local wanted = kv.get("from_id")
      if wanted == nil then
        local r = call("contacts.resolveUsername", { username = string.gsub(from, "^@", "") })
        local p = r.peer
        wanted = p.channel_id and (-1000000000000 - p.channel_id) or p.chat_id and -p.chat_id or p.user_id
        kv.set("from_id", wanted)
      end
      if msg.chat_id ~= wanted then return end
    end
    msg:forward(to)
    kv.incr("forwarded")
  end)
