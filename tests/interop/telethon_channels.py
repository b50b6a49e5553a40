"""Telethon (unmodified, from PyPI) with channels, files and bots through the local DC.

usage: telethon_channels.py INFO_JSON PHONE_A PHONE_B BOT_TOKEN BOT_USERNAME

A creates a broadcast channel and a supergroup and posts; B joins the channel and is invited
to the supergroup, writes there, comments on a post once the supergroup is the channel's
discussion group, is mentioned there, and is banned by A; A sends B a 5 MiB file that B downloads
with its hash checked; a Telethon bot answers /start with an inline button, and A presses it
and gets the bot's answer. Prints one line per step and "OK" at the end; any failure raises.
"""
import asyncio
import hashlib
import io
import json
import logging
import os
import sys

from telethon import Button, TelegramClient, connection, errors, events, functions, types
from telethon.crypto import rsa as telethon_rsa
from telethon.sessions import MemorySession

logging.basicConfig(level=logging.WARNING)

CODE = "12345"


def client(info):
    dc = info["dcs"][0]
    session = MemorySession()
    session.set_dc(dc["id"], dc["host"], dc["port"])
    return TelegramClient(session, 1, "local-api-hash", connection=connection.ConnectionTcpAbridged,
                          timeout=15, request_retries=2, connection_retries=2)


async def login(info, phone):
    c = client(info)
    await c.connect()
    await c.send_code_request(phone)
    await c.sign_in(phone, CODE)
    return c


def into(queue):
    async def handler(event):
        queue.put_nowait(event)
    return handler


async def wait(queue, what, timeout=20):
    try:
        return await asyncio.wait_for(queue.get(), timeout)
    except asyncio.TimeoutError:
        raise AssertionError(f"timed out waiting for {what}")


async def main():
    info_path, phone_a, phone_b, token, bot_name = sys.argv[1:6]
    info = json.load(open(info_path))
    telethon_rsa.add_key(info["rsa"]["pem"], old=False)
    a = await login(info, phone_a)
    b = await login(info, phone_b)
    await b(functions.account.UpdateUsernameRequest("tg_interop_bob"))
    bob = await a.get_entity("tg_interop_bob")

    # A broadcast channel: A posts, B joins by its username and reads the post.
    r = await a(functions.channels.CreateChannelRequest(title="Interop channel", about="", broadcast=True))
    channel = r.chats[0]
    assert channel.broadcast and not channel.megagroup, channel
    await a(functions.channels.UpdateUsernameRequest(channel, "tg_interop_channel"))
    await a.send_message(channel, "hello channel")
    b_channel = await b.get_entity("tg_interop_channel")
    await b(functions.channels.JoinChannelRequest(b_channel))
    posts = await b.get_messages(b_channel, limit=5)
    assert any(m.message == "hello channel" for m in posts), posts
    print("channel created, posted to and read by a subscriber", flush=True)

    # A supergroup: A invites B, B writes, A sees it.
    r = await a(functions.channels.CreateChannelRequest(title="Interop group", about="", megagroup=True))
    group = r.chats[0]
    assert group.megagroup, group
    await a(functions.channels.UpdateUsernameRequest(group, "tg_interop_group"))
    await a(functions.channels.InviteToChannelRequest(group, [bob]))
    in_group = asyncio.Queue()
    a.add_event_handler(into(in_group), events.NewMessage(chats=[group.id], incoming=True))
    b_group = await b.get_entity("tg_interop_group")
    await b.send_message(b_group, "hi group")
    ev = await wait(in_group, "B's message in the supergroup")
    assert ev.message.message == "hi group", ev.message
    print("supergroup created; the invited member's message arrived", flush=True)

    # Comments: the supergroup becomes the channel's discussion group; B comments on a post
    # (Telethon's comment_to), A lists the comments, and the post counts them.
    await a(functions.channels.SetDiscussionGroupRequest(channel, group))
    post = await a.send_message(channel, "discuss me")
    b_post = (await b.get_messages(b_channel, ids=[post.id]))[0]
    await b.send_message(b_channel, "a comment", comment_to=b_post)
    comments = [m.message async for m in a.iter_messages(channel, reply_to=post.id)]
    assert comments == ["a comment"], comments
    post = (await a.get_messages(channel, ids=[post.id]))[0]
    assert post.replies and post.replies.comments and post.replies.replies == 1, post.replies
    print("comments: B commented on a post, A listed them", flush=True)

    # Mentions: A mentions B in the group; B's dialog counts it until B reads the mentions.
    await a.send_message(group, "hey @tg_interop_bob")

    async def mentions():
        dialogs = await b.get_dialogs()
        return next(d.unread_mentions_count for d in dialogs if d.entity.id == b_group.id)

    assert await mentions() == 1
    await b(functions.messages.ReadMentionsRequest(b_group))
    assert await mentions() == 0
    print("mentions counted and read", flush=True)

    # A bans B; B can no longer write there.
    await a.edit_permissions(group, bob, view_messages=False)
    try:
        await b.send_message(b_group, "still here?")
        raise AssertionError("a banned member could write")
    except (errors.ChannelPrivateError, errors.ChatWriteForbiddenError, errors.UserBannedInChannelError):
        pass
    banned = await a.get_participants(group, filter=types.ChannelParticipantsKicked(q=""))
    assert any(u.id == bob.id for u in banned), banned
    print("member banned by the admin", flush=True)

    # 5 MiB from A to B, downloaded by B with its hash checked.
    data = os.urandom(5 * 1024 * 1024)
    files = asyncio.Queue()
    b.add_event_handler(into(files), events.NewMessage(incoming=True, func=lambda e: e.message.media is not None))
    f = io.BytesIO(data)
    f.name = "payload.bin"
    await a.send_file(await a.get_entity(bob.id), f, caption="the file")
    ev = await wait(files, "the file message")
    got = await b.download_media(ev.message, file=bytes)
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest(), (len(got), len(data))
    print("5 MiB uploaded and downloaded, hash checked", flush=True)

    # A Telethon bot with an inline button; A presses it and gets the bot's answer.
    bot = client(info)
    await bot.start(bot_token=token)

    @bot.on(events.NewMessage(pattern="/start"))
    async def start(event):
        await event.respond("pick one", buttons=[Button.inline("Yes", b"yes"), Button.inline("No", b"no")])

    @bot.on(events.CallbackQuery())
    async def pressed(event):
        await event.answer("you said " + event.data.decode(), alert=True)

    replies = asyncio.Queue()
    a.add_event_handler(into(replies), events.NewMessage(from_users=[bot_name], incoming=True))
    await a.send_message(bot_name, "/start")
    ev = await wait(replies, "the bot's keyboard")
    assert ev.message.buttons, ev.message
    answer = await ev.message.click(data=b"yes")
    assert answer.message == "you said yes" and answer.alert, answer
    print("inline button pressed; the bot's answer arrived", flush=True)

    for c in (a, b, bot):
        await c.disconnect()
    print("OK", flush=True)


asyncio.run(main())
