"""Telethon (unmodified, from PyPI) messaging through the local DC.

usage: telethon_messaging.py INFO_JSON PHONE_A PHONE_B

A sets a 2FA password with edit_2fa, logs out and signs in again with the password; B takes
a username; A sends B a message that B receives as a NewMessage event, edits it (B sees
MessageEdited), reads the history back, and deletes it for both (B sees MessageDeleted).
Prints one line per step and "OK" at the end; any failure raises.
"""
import asyncio
import json
import logging
import sys

from telethon import TelegramClient, connection, errors, events, functions
from telethon.crypto import rsa as telethon_rsa
from telethon.sessions import MemorySession

logging.basicConfig(level=logging.WARNING)

CODE = "12345"
PASSWORD = "correct horse battery staple"


def client(info, framing):
    dc = info["dcs"][0]
    session = MemorySession()
    session.set_dc(dc["id"], dc["host"], dc["port"])
    return TelegramClient(session, 1, "local-api-hash", connection=framing, timeout=10, request_retries=2, connection_retries=2)


async def login(info, framing, phone, password=None):
    c = client(info, framing)
    await c.connect()
    await c.send_code_request(phone)
    try:
        await c.sign_in(phone, CODE)
    except errors.SessionPasswordNeededError:
        assert password is not None, "unexpected 2FA"
        await c.sign_in(password=password)
        print("signed in with the 2FA password", flush=True)
    return c


async def wait(queue, what):
    try:
        return await asyncio.wait_for(queue.get(), 15)
    except asyncio.TimeoutError:
        raise AssertionError(f"no {what} event within 15 s")


async def main():
    info_path, phone_a, phone_b = sys.argv[1:4]
    info = json.load(open(info_path))
    telethon_rsa.add_key(info["rsa"]["pem"], old=False)

    a = await login(info, connection.ConnectionTcpFull, phone_a)
    await a.edit_2fa(new_password=PASSWORD, hint="horse")
    print("2FA password set", flush=True)
    await a.log_out()
    a = await login(info, connection.ConnectionTcpIntermediate, phone_a, password=PASSWORD)
    me_a = await a.get_me()

    b = await login(info, connection.ConnectionTcpObfuscated, phone_b)
    await b(functions.account.UpdateUsernameRequest("telethon_bob"))
    new, edited, deleted = asyncio.Queue(), asyncio.Queue(), asyncio.Queue()
    b.add_event_handler(lambda e: new.put(e.message), events.NewMessage(incoming=True))
    b.add_event_handler(lambda e: edited.put(e.message), events.MessageEdited())
    b.add_event_handler(lambda e: deleted.put(e.deleted_ids), events.MessageDeleted())
    await b.catch_up()

    sent = await a.send_message("telethon_bob", "hello from telethon")
    got = await wait(new, "NewMessage")
    assert got.text == "hello from telethon", got.text
    assert got.sender_id == me_a.id, (got.sender_id, me_a.id)
    print("B received the message as a NewMessage event", flush=True)

    await a.edit_message("telethon_bob", sent.id, "hello, edited")
    ed = await wait(edited, "MessageEdited")
    assert ed.text == "hello, edited" and ed.id == got.id, (ed.text, ed.id, got.id)
    print("B saw the edit", flush=True)

    history = await a.get_messages("telethon_bob", limit=10)
    assert [m.text for m in history] == ["hello, edited"], [m.text for m in history]
    print("A read the history back", flush=True)

    await a.delete_messages("telethon_bob", [sent.id], revoke=True)
    ids = await wait(deleted, "MessageDeleted")
    assert got.id in ids, (got.id, ids)
    assert await a.get_messages("telethon_bob", limit=10) == []
    print("the message is deleted on both sides", flush=True)

    await a.disconnect()
    await b.disconnect()
    print("OK", flush=True)


asyncio.run(main())
