"""The webhook signing key is created once, however many first notifications race for it."""

from __future__ import annotations

import asyncio

from sqlmodel import select

from vtn.core.database import Database
from vtn.notifications.models import WebhookKeyRow
from vtn.notifications.signing import WebhookSigner, public_key_from, verify


async def test_concurrent_first_use_creates_one_key(database_url: str) -> None:
    db = Database(database_url)
    other_process = Database(database_url)  # a second VTN process on the same database
    try:
        signers = [WebhookSigner(db) for _ in range(2)] + [WebhookSigner(other_process) for _ in range(2)]
        # several callers per signer, as a fan-out's first deliveries do
        keys = await asyncio.gather(*(signer.key() for signer in signers for _ in range(5)))
        async with db.session(write=False) as session:
            rows = (await session.exec(select(WebhookKeyRow))).all()
        assert len(rows) == 1
        assert {signer.kid for signer in signers} == {rows[0].kid}
        assert len({key.public_key().public_bytes_raw() for key in keys}) == 1

        published = await signers[3].public_keys()
        assert [k["kid"] for k in published] == [rows[0].kid]
        headers = await signers[0].headers("msg_1", b"{}")
        assert verify(public_key_from(published[0]), headers, b"{}")
    finally:
        await db.dispose()
        await other_process.dispose()
