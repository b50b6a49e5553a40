-- Posting from a feed (a bot, admin of the channel): every few minutes the feed's new
-- entries go to the channel, oldest first, each title a link; what was posted is kept in
-- kv, so nothing is posted twice. The account's entry needs the feed's host in http_allow.
-- settings: url (the feed), chat (the channel), every ("10m").
local url, chat = config.url, config.chat or "@fleet_demo_channel"
if url == nil then
  log.warn("no feed: set `url` in this script's settings (and its host in http_allow)")
  return
end

every(config.every or "10m", function()
  local f = feed.parse(http.get(url).body)
  for i = #f.entries, 1, -1 do
    local e = f.entries[i]
    local key = "posted:" .. (e.id or e.link or e.title or "")
    if kv.get(key) == nil then
      local title = escape(e.title or e.link or "(untitled)")
      local text = e.link and string.format('<a href="%s">%s</a>', escape(e.link), title) or title
      send(chat, text, { parse_mode = "html" })
      kv.set(key, os.time())
    end
  end
end)
