-- fleetgram's Lua prelude: turns the raw Rust functions into the script API.
-- Raw functions return (true, value) or (false, error table); the wrappers raise the error
-- table (fields: kind, code, name, value, method, message) so `pcall` can inspect it.
local raw = ...
local rawload = raw.load
local setmetatable, error, type, tostring, pcall = raw.setmetatable, error, type, tostring, pcall
raw.setmetatable = nil

-- A run stopped by its budget (instructions, time, memory) cannot be caught: whatever
-- catches errors re-raises once the run is stopped (raw.check raises its reason).
local check = raw.check
local rawpcall, rawxpcall = pcall, xpcall
local co_resume, co_close = coroutine.resume, coroutine.close
local function pass(...)
  check()
  return ...
end
_G.pcall = function(...) return pass(rawpcall(...)) end
_G.xpcall = function(...) return pass(rawxpcall(...)) end
coroutine.resume = function(...) return pass(co_resume(...)) end
coroutine.close = function(...) return pass(co_close(...)) end

local errmt = { __tostring = function(e) return e.message end }
local function unwrap(ok, v)
  if ok then return v end
  error(setmetatable(v, errmt), 0)
end
local function wrap(f)
  return function(...) return unwrap(f(...)) end
end

call = wrap(raw.call)
invoke = call
ban = wrap(raw.ban)
restrict = wrap(raw.restrict)
escape = wrap(raw.escape)
unrestrict = wrap(raw.unrestrict)
answer_callback = wrap(raw.answer_callback)
sleep = raw.sleep
download = wrap(raw.download)
kv = {
  get = function(k) return unwrap(raw.kv_get(k)) end,
  set = function(k, v) return unwrap(raw.kv_set(k, v)) end,
  del = function(k) return unwrap(raw.kv_set(k, nil)) end,
  incr = function(k, by) return unwrap(raw.kv_incr(k, by)) end,
  keys = function(prefix) return unwrap(raw.kv_keys(prefix)) end,
}
-- A space shared by the fleet's scripts (or a pool's): the same methods, with a colon.
local S = {}
S.__index = S
function S.get(self, k) return unwrap(raw.kv_get(k, self.__space)) end
function S.set(self, k, v) return unwrap(raw.kv_set(k, v, self.__space)) end
function S.del(self, k) return unwrap(raw.kv_set(k, nil, self.__space)) end
function S.incr(self, k, by) return unwrap(raw.kv_incr(k, by, self.__space)) end
function S.keys(self, prefix) return unwrap(raw.kv_keys(prefix, self.__space)) end
function kv.shared(name, opts)
  return setmetatable({ name = name, __space = unwrap(raw.kv_shared(name, opts)) }, S)
end
kv.shared_space = kv.shared
feed = { parse = function(text) return unwrap(raw.feed_parse(text)) end }
http = { get = function(url, opts) return unwrap(raw.http_get(url, opts)) end }
log = {
  info = function(...) raw.log("info", ...) end,
  warn = function(...) raw.log("warn", ...) end,
  error = function(...) raw.log("error", ...) end,
}
print = log.info
config = raw.config or {}
account = raw.account
function on(kind, a, b)
  if b == nil then return raw.on(kind, nil, a) end
  return raw.on(kind, a, b)
end
every = raw.every
function cron(expr, a, b)
  if type(a) == "function" then return raw.cron(expr, nil, a) end
  return raw.cron(expr, a and a.tz, b)
end
private, group, channel = raw.private, raw.group, raw.channel
private_chat = private
incoming, outgoing, has_media, all = raw.incoming, raw.outgoing, raw.has_media, raw.all
mentioned = raw.mentioned
command, text_contains, regex = raw.command, raw.text_contains, raw.regex
from_users, chats, filter = raw.from_users, raw.chats, raw.filter

fleet = {
  pool = function(name)
    return {
      send = function(_, peer, text, opts) return unwrap(raw.pool_send(name, peer, text, opts)) end,
    }
  end,
  account = function(name)
    return {
      call = function(_, method, params) return unwrap(raw.fleet_call(name, method, params)) end,
      invoke = function(_, method, params) return unwrap(raw.fleet_call(name, method, params)) end,
      send = function(_, peer, text, opts) return unwrap(raw.fleet_send(name, peer, text, opts)) end,
    }
  end,
}

-- Methods of events: msg:reply(...), msg:edit(...), query:answer(...).
local M = {}
-- An event table's `raw` (the whole TL update) is made the first time it is read.
local eventmt = {
  __index = function(t, k)
    if k == "raw" then
      local id = rawget(t, "__event")
      if id == nil then return nil end
      local r = raw.event_raw(id)
      rawset(t, "raw", r)
      return r
    end
    return M[k]
  end,
}
-- What send, reply, edit, forward... return are messages with the same methods.
local function message(v)
  if type(v) == "table" then return setmetatable(v, eventmt) end
  return v
end
local function messages(list)
  for _, m in ipairs(list) do message(m) end
  return list
end
-- Users and chats (msg:sender(), msg:chat(), get_peer): peer:mention(mode).
local P = {}
P.__index = P
function P.mention(self, mode) return unwrap(raw.mention(self, mode)) end
local function peer(v)
  if type(v) == "table" then return setmetatable(v, P) end
  return v
end

send = function(...) return message(unwrap(raw.send(...))) end
function M.reply(self, text, opts) return message(unwrap(raw.reply(self, text, opts))) end
function M.edit(self, text, opts) return message(unwrap(raw.edit(self, text, opts))) end
function M.pin(self, opts) return unwrap(raw.pin(self, opts)) end
function M.unpin(self) return unwrap(raw.unpin(self)) end
function M.delete(self) return unwrap(raw.delete(self)) end
function M.forward(self, to) return message(unwrap(raw.forward(self, to))) end
function M.forward_to(self, to) return M.forward(self, to) end
function M.copy_to(self, to) return message(unwrap(raw.copy_to(self, to))) end
function M.react(self, emoji) return unwrap(raw.react(self, emoji)) end
function M.click(self, what) return unwrap(raw.click(self, what)) end
function M.answer(self, text, opts) return unwrap(raw.answer_callback(self, text, opts)) end
function M.get_reply(self) return message(unwrap(raw.get_reply(self))) end
function M.sender(self) return peer(unwrap(raw.sender(self))) end
function M.chat(self) return peer(unwrap(raw.chat(self))) end
-- The script's later handlers do not get this event.
function M.stop(self) rawset(self, "__stop", true) end

-- Lists, with the paging done: messages (with methods), dialogs, members.
function iter_history(chat, opts) return messages(unwrap(raw.iter_history(chat, opts))) end
function iter_dialogs(opts)
  local list = unwrap(raw.iter_dialogs(opts))
  for _, d in ipairs(list) do message(d.top) end
  return list
end
iter_participants = wrap(raw.iter_participants)
participant = wrap(raw.participant)
function get_messages(chat, ids) return messages(unwrap(raw.get_messages(chat, ids))) end
function search(chat, query, opts) return messages(unwrap(raw.search(chat, query, opts))) end
function get_peer(ref) return peer(unwrap(raw.get_peer(ref))) end
-- Files of the account's media_dir; what they return is the sent message, with methods.
function send_file(to, path, opts) return message(unwrap(raw.send_file(to, path, opts))) end
function send_photo(to, path, opts) return message(unwrap(raw.send_photo(to, path, opts))) end
function upload(to, data, opts) return message(unwrap(raw.upload(to, data, opts))) end

-- Conversations: conv:ask(text) sends and waits for the answer.
local C = {}
C.__index = C
function C.send(self, text, opts) return message(unwrap(raw.conv_send(self.__conv, text, opts))) end
function C.ask(self, text, opts) return message(unwrap(raw.conv_ask(self.__conv, text, opts))) end
function C.get_response(self, timeout)
  return message(unwrap(raw.conv_get_response(self.__conv, timeout)))
end
function C.close(self) unwrap(raw.conv_close(self.__conv)) end
function conversation(chat, opts)
  local ok, conv, id = raw.conversation(chat, opts)
  unwrap(ok, conv)
  return setmetatable({ chat_id = id, __conv = conv }, C)
end

local loaded, loading = {}, {}
function require(name)
  local m = loaded[name]
  if m ~= nil then return m end
  if loading[name] then
    error(("require %q: a module that requires itself (a cycle)"):format(tostring(name)), 2)
  end
  local src, chunkname = raw.find_module(name)
  local f, err = rawload(src, chunkname, "t", _ENV)
  if not f then error(err, 2) end
  loading[name] = true
  local ok, r = pcall(f, name)
  loading[name] = nil
  if not ok then error(r, 0) end
  m = r
  if m == nil then m = true end
  loaded[name] = m
  return m
end
function load(chunk, name, _, env)
  return rawload(chunk, name, "t", env or _ENV)
end

-- Runs a handler (or the top level, or a job); its budget is counted by the host's hook.
-- True when the handler stopped the event (msg:stop()).
local function run(f, ev)
  if ev ~= nil then setmetatable(ev, eventmt) end
  local ok, err = pcall(f, ev)
  if not ok then
    -- API errors are tables with a message; others are rethrown as they are.
    if type(err) == "table" then error(tostring(err), 0) end
    error(err, 0)
  end
  return ev ~= nil and rawget(ev, "__stop") == true
end

-- A message event, its table built here from plain values.
local function run_message(f, id, kind, mid, chat_id, sender_id, text, out, date, reply_to,
                           has_media, chat_type, buttons, sender_name, sender_username,
                           mentioned)
  return run(f, {
    __event = id, kind = kind, id = mid, chat_id = chat_id, sender_id = sender_id,
    text = text, out = out, date = date, reply_to = reply_to, has_media = has_media,
    chat_type = chat_type, buttons = buttons or {}, service = false,
    sender_name = sender_name, sender_username = sender_username, mentioned = mentioned,
  })
end

return { run = run, run_message = run_message }
