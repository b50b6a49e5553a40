"""Telethon (unmodified, from PyPI) against the local DC.

usage: telethon_login.py INFO_JSON PHONE_DC1 ID_DC1 PHONE_DC2 ID_DC2

Signs in over every framing Telethon offers (full, intermediate, abridged, obfuscated),
follows PHONE_MIGRATE to the account's home DC, reads the account back and logs out.
Prints one line per step and "OK" at the end; any failure raises.
"""
import asyncio
import json
import logging
import sys

from telethon import TelegramClient, connection, functions
from telethon.crypto import rsa as telethon_rsa
from telethon.sessions import MemorySession

logging.basicConfig(level=logging.WARNING)

CODE = "12345"
FRAMINGS = {
    "full": connection.ConnectionTcpFull,
    "intermediate": connection.ConnectionTcpIntermediate,
    "abridged": connection.ConnectionTcpAbridged,
    "obfuscated": connection.ConnectionTcpObfuscated,
}


def client(info, framing, dc_index=0):
    dc = info["dcs"][dc_index]
    session = MemorySession()
    session.set_dc(dc["id"], dc["host"], dc["port"])
    return TelegramClient(session, 1, "local-api-hash", connection=FRAMINGS[framing], timeout=10, request_retries=2, connection_retries=2)


async def login(info, framing, phone, expected_id):
    c = client(info, framing)
    await c.connect()
    await c.send_code_request(phone)
    me = await c.sign_in(phone, CODE)
    assert me.id == expected_id, (me.id, expected_id)
    again = await c.get_me()
    assert again.id == expected_id and again.is_self, again
    config = await c(functions.help.GetConfigRequest())
    assert len(config.dc_options) == len(info["dcs"]), config.dc_options
    return c


async def main():
    info_path, phone1, id1, phone2, id2 = sys.argv[1:6]
    info = json.load(open(info_path))
    telethon_rsa.add_key(info["rsa"]["pem"], old=False)
    for framing in FRAMINGS:
        c = await login(info, framing, phone1, int(id1))
        print(f"signed in over {framing} as {id1}", flush=True)
        await c.disconnect()
    # The second account lives on DC 2: Telethon starts on DC 1 and follows PHONE_MIGRATE_2.
    c = await login(info, "abridged", phone2, int(id2))
    print(f"followed PHONE_MIGRATE to DC {c.session.dc_id}", flush=True)
    assert c.session.dc_id == 2, c.session.dc_id
    assert await c.is_user_authorized()
    await c.log_out()
    print("logged out", flush=True)
    print("OK", flush=True)


asyncio.run(main())
