"""Two real `vtn serve` processes on one PostgreSQL: a write in process A reaches process B's polls by NOTIFY.

Process B re-reads the revisions from the database only once an hour here
(`VTN_REVISION_REFRESH_SECONDS=3600`), so only the `vtn_revisions` notification can make its next
poll see A's write: without it B would answer 304 (and its cached body) for an hour.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx2

from tests.conftest import PG_HOST, PG_PORT, _pg_admin, skip_without_postgres
from tests.support.server import running_vtn
from vtn.core.security import Role

EVENT_BODY = {"intervals": [{"id": 0, "payloads": [{"type": "PRICE", "values": [1.0]}]}]}
NOTIFY_WAIT_SECONDS = 5.0  # NOTIFY arrives within milliseconds; a loaded CI machine gets slack


def token(base: str, client_id: str, secret: str) -> dict[str, str]:
    response = httpx2.post(base + "/auth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def next_poll(base: str, path: str, headers: dict[str, str]) -> httpx2.Response:
    """B's poll once A's NOTIFY has been processed by B (a 304 before that is B not knowing yet)."""
    deadline = time.monotonic() + NOTIFY_WAIT_SECONDS
    while True:
        response = httpx2.get(base + path, headers=headers)
        if response.status_code != 304 or time.monotonic() > deadline:
            return response
        time.sleep(0.02)


def test_a_write_in_one_process_reaches_the_next_poll_in_another(tmp_path):  # type: ignore[no-untyped-def]
    skip_without_postgres()
    name = f"vtn_test_{uuid.uuid4().hex[:10]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    url = f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    # one public URL (token issuer) for both, as behind a load balancer: a token works in either process
    env = {"VTN_REVISION_REFRESH_SECONDS": "3600", "VTN_DELIVERY_ENABLED": "false", "VTN_CONSOLE_ENABLED": "false",
           "VTN_PUBLIC_URL": "http://vtn.example"}
    try:
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        with running_vtn(tmp_path / "a", database_url=url, env=env) as a, \
                running_vtn(tmp_path / "b", database_url=url, env=env) as b:
            bl_a = token(a.base_url, "op", a.provision("op", Role.BL))
            ven_b = token(b.base_url, "v1", b.provision("v1", Role.VEN, ven_name="v1"))
            assert httpx2.post(a.base_url + "/vens", json={"venName": "v1"}, headers=bl_a).status_code == 201
            program_id = httpx2.post(a.base_url + "/programs", json={"programName": "p"}, headers=bl_a).json()["id"]
            path = f"/events?programID={program_id}"
            first = next_poll(b.base_url, path, ven_b)
            assert first.status_code == 200 and first.json() == []
            tag = first.headers["etag"]
            assert httpx2.get(b.base_url + path, headers={**ven_b, "If-None-Match": tag}).status_code == 304
            assert httpx2.get(b.base_url + path, headers=ven_b).json() == []  # B's body, from memory

            created = httpx2.post(a.base_url + "/events", json={"programID": program_id, **EVENT_BODY}, headers=bl_a)
            assert created.status_code == 201

            seen = next_poll(b.base_url, path, {**ven_b, "If-None-Match": tag})
            assert seen.status_code == 200 and [e["id"] for e in seen.json()] == [created.json()["id"]]
            assert seen.headers["etag"] != tag
            plain = httpx2.get(b.base_url + path, headers=ven_b)  # and no stale body from B's memory
            assert [e["id"] for e in plain.json()] == [created.json()["id"]]
            # and the other way round: B writes a grant, A's next poll of that VEN sees it (tokens work in both)
            grouped = {"programID": program_id, "targets": [{"type": "GROUP", "values": ["g"]}], **EVENT_BODY}
            grouped_id = httpx2.post(a.base_url + "/events", json=grouped, headers=bl_a).json()["id"]
            polled = httpx2.get(a.base_url + path, headers=ven_b)
            assert grouped_id not in [e["id"] for e in polled.json()]
            ven_id = httpx2.get(a.base_url + "/vens", headers=bl_a).json()[0]["id"]
            granted = httpx2.put(b.base_url + f"/vens/{ven_id}", json={"venName": "v1", "targets": grouped["targets"]},
                                 headers=bl_a)
            assert granted.status_code == 200, granted.text
            after = next_poll(a.base_url, path, {**ven_b, "If-None-Match": polled.headers["etag"]})
            assert after.status_code == 200 and grouped_id in [e["id"] for e in after.json()]
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
