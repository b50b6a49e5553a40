-- Auto-forwarder: copies messages of one chat that match a filter into another chat.
-- settings: from ("@chat"), to ("@chat"), tag (text the message must contain, default "#news")

local tag = config.tag or "#news"
local to = config.to or "@fleet_demo_group"
-- The source chat by name (resolved by the host, and again until it exists); without one,
-- every group and channel.
local where = config.from and chats(config.from) or ~private

on("message", text_contains(tag) & where, function(msg)
  msg:forward(to)
  kv.incr("forwarded")
end)
