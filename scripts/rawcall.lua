-- One raw TL call: /dc answers with one field of help.getConfig (any method works the
-- same way; `fleetgram tl describe help.getConfig` lists the fields).
on("message", command("dc"), function(m)
  local cfg = call("help.getConfig", {})
  m:reply("This account is served by DC " .. cfg.this_dc .. " (" .. cfg._ .. ")")
end)
