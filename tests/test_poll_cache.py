"""The poll path's memory: cached tokens, grants, revisions and bodies never serve what a caller may no longer see.

Counts the SQL statements a poll sends (so "served from memory" is checked, not assumed), and moves
the authenticator's clock instead of sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from vtn.auth import authenticator as authenticator_module
from vtn.auth import service as auth_service
from vtn.auth.authenticator import CLIENT_CACHE_SECONDS, TokenCache

EVENT_BODY = {"intervals": [{"id": 0, "payloads": [{"type": "PRICE", "values": [1.0]}]}]}
GROUP_G = [{"type": "GROUP", "values": ["g"]}]


@contextmanager
def statements(app: Any) -> Iterator[list[str]]:
    """The SQL statements sent to the database meanwhile (both engines; SQLite's BEGIN left out)."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.strip().upper() != "BEGIN":
            sent.append(statement)

    engines = {id(e): e.sync_engine for e in (app.state.db.engine, app.state.db.read_engine)}.values()
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


def setup_ven(clients: Any) -> tuple[Any, Any, str, str]:
    bl, ven = clients.bl(), clients.ven("v1")
    ven_id = bl.post("/vens", json={"venName": "v1", "targets": GROUP_G}).json()["id"]
    program_id = bl.post("/programs", json={"programName": "p"}).json()["id"]
    assert bl.post("/events", json={"programID": program_id, "targets": GROUP_G, **EVENT_BODY}).status_code == 201
    return bl, ven, ven_id, program_id


def test_unchanged_poll_sends_no_statement_and_a_changed_one_at_most_two(app, clients):  # type: ignore[no-untyped-def]
    bl, ven, ven_id, program_id = setup_ven(clients)
    path = f"/events?programID={program_id}&limit=50"
    first = ven.get(path)
    assert first.status_code == 200 and len(first.json()) == 1
    tag = first.headers["etag"]
    with statements(app) as sent:
        again = ven.get(path)  # no If-None-Match: the body from memory
        cached = ven.get(path, headers={"If-None-Match": tag})
    assert again.status_code == 200 and again.content == first.content and again.headers["etag"] == tag
    assert cached.status_code == 304 and cached.content == b""
    assert sent == []
    # an event written: the VEN's next poll is one statement (its grants are still cached)
    assert bl.post("/events", json={"programID": program_id, "targets": GROUP_G, **EVENT_BODY}).status_code == 201
    with statements(app) as sent:
        changed = ven.get(path, headers={"If-None-Match": tag})
    assert changed.status_code == 200 and len(changed.json()) == 2
    assert len(sent) == 1, sent
    # its ven written: its grants are read again, with the list: two statements
    assert bl.put(f"/vens/{ven_id}", json={"venName": "v1", "targets": GROUP_G}).status_code == 200
    with statements(app) as sent:
        assert ven.get(path).status_code == 200
    assert len(sent) == 2, sent


def test_an_unchanged_poll_is_answered_before_routing_and_anything_else_goes_on(app, clients, monkeypatch):  # type: ignore[no-untyped-def]
    """`UnchangedPolls`: a matching If-None-Match is a 304 without the operation; refusals and other ETags reach it."""
    from vtn.subscriptions.polling import ConditionalRead

    bl, ven, _ven_id, program_id = setup_ven(clients)
    path = f"/events?programID={program_id}&limit=50"
    first = ven.get(path)
    tag = first.headers["etag"]
    app.state.heartbeats.seen.clear()

    async def operation_ran(*_args: Any) -> Any:
        raise AssertionError("the operation ran")

    monkeypatch.setattr(ConditionalRead, "answer", operation_ran)
    with statements(app) as sent:
        unchanged = ven.get(path, headers={"If-None-Match": f'"other", {tag}'})
    assert unchanged.status_code == 304 and unchanged.content == b"" and sent == []
    assert unchanged.headers["etag"] == tag and unchanged.headers["cache-control"] == "private, no-cache"
    assert ven.client_id in app.state.heartbeats.seen  # a VEN that polls is alive, also on this path
    monkeypatch.undo()
    # another ETag, `*`, another caller's ETag: the operation answers (and builds its own context)
    assert ven.get(path, headers={"If-None-Match": '"stale"'}).content == first.content
    assert ven.get(path, headers={"If-None-Match": "*"}).status_code == 304
    other = bl.get(path, headers={"If-None-Match": tag})
    assert other.status_code == 200 and other.headers["etag"] != tag
    # a token without read_all, a bad token: the operation's 403 / 401, never a 304
    blind = clients.ven("v2", scopes=["write_reports"])
    refused = blind.http.get("/openadr3/3.0.1" + path, headers={"Authorization": f"Bearer {blind.token}", "If-None-Match": tag})
    assert refused.status_code == 403 and refused.headers["content-type"].startswith("application/problem+json")
    bad = ven.http.get("/openadr3/3.0.1" + path, headers={"Authorization": "Bearer x.y.z", "If-None-Match": tag})
    assert bad.status_code == 401
    # not a ReadContext path: routed as always
    assert ven.http.get("/openadr3/3.0.1/nowhere", headers={"If-None-Match": tag}).status_code == 404


def test_a_grant_taken_away_is_seen_by_the_next_plain_poll(clients):  # type: ignore[no-untyped-def]
    bl, ven, ven_id, program_id = setup_ven(clients)
    path = f"/events?programID={program_id}"
    assert len(ven.get(path).json()) == 1
    assert len(ven.get(path).json()) == 1  # now from memory
    assert bl.put(f"/vens/{ven_id}", json={"venName": "v1"}).status_code == 200  # GROUP g withdrawn
    assert ven.get(path).json() == []
    assert bl.put(f"/vens/{ven_id}", json={"venName": "v1", "targets": GROUP_G}).status_code == 200
    assert len(ven.get(path).json()) == 1


def test_bodies_are_per_caller(clients):  # type: ignore[no-untyped-def]
    """Two clients of one ven see the same events, but a subscription's bearer token only its creator."""
    bl = clients.bl()
    program_id = bl.post("/programs", json={"programName": "p"}).json()["id"]
    first, second = clients.ven("v1"), clients.ven("v1")
    first.post("/vens", json={"venName": "v1"})
    sub = {"clientName": "v1", "programID": program_id, "objectOperations": [
        {"objects": ["EVENT"], "operations": ["CREATE"], "callbackUrl": "http://127.0.0.1:9/", "bearerToken": "secret"}]}
    assert first.post("/subscriptions", json=sub).status_code == 201
    mine = first.get("/subscriptions").json()
    theirs = second.get("/subscriptions").json()
    assert mine[0]["objectOperations"][0]["bearerToken"] == "secret"
    assert "bearerToken" not in theirs[0]["objectOperations"][0]
    assert "bearerToken" not in second.get("/subscriptions").json()[0]["objectOperations"][0]


def test_each_token_is_verified_once(app, clients, monkeypatch):  # type: ignore[no-untyped-def]
    _bl, ven, _ven_id, _program_id = setup_ven(clients)
    verified: list[str] = []
    real = app.state.authenticator.verify

    async def counting(token: str) -> dict[str, Any]:
        verified.append(token)
        return await real(token)

    monkeypatch.setattr(app.state.authenticator, "verify", counting)
    app.state.authenticator.verified = TokenCache(100)
    for _ in range(5):
        assert ven.get("/events").status_code == 200
    assert verified == [ven.token]
    # a forged token is not accepted because a real one is cached
    forged = ven.token[:-4] + ("AAAA" if not ven.token.endswith("AAAA") else "BBBB")
    response = ven.http.get("/openadr3/3.0.1/events", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401


def test_token_cache_forgets_expired_tokens_and_is_bounded() -> None:
    cache = TokenCache(2)
    cache.put("old", {"exp": time.time() - 1}, "k")
    assert cache.get("old") is None
    for name in ("a", "b", "c"):
        cache.put(name, {"exp": time.time() + 60}, "k")
    assert cache.get("a") is None and cache.get("b") and cache.get("c")
    cache.put("no-exp", {}, "k")
    assert cache.get("no-exp") is None


class LaterClock:
    """`time` for the authenticator module, `seconds` ahead on the monotonic clock."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def monotonic(self) -> float:
        return time.monotonic() + self.seconds

    def time(self) -> float:
        return time.time()


def test_a_disabled_client_is_refused_at_its_next_request(app, clients):  # type: ignore[no-untyped-def]
    _bl, ven, _ven_id, program_id = setup_ven(clients)
    path = f"/events?programID={program_id}"
    tag = ven.get(path).headers["etag"]
    assert ven.get(path).status_code == 200  # token, client, grants and body all cached now

    async def disable() -> None:
        async with app.state.db.session() as session:
            await auth_service.set_enabled(session, ven.client_id, False)

    ven.http.portal.call(disable)  # what `vtn clients disable` does (from any process: the CLIENT revision moves)
    for headers in ({}, {"If-None-Match": tag}):
        refused = ven.http.get("/openadr3/3.0.1" + path, headers={"Authorization": f"Bearer {ven.token}", **headers})
        assert refused.status_code == 401, refused.text
        assert "etag" not in refused.headers


def test_a_client_row_edited_by_hand_is_read_again_within_the_cache_bound(app, clients, monkeypatch):  # type: ignore[no-untyped-def]
    from sqlalchemy import update

    from vtn.auth.models import ClientRow

    _bl, ven, _ven_id, program_id = setup_ven(clients)
    path = f"/events?programID={program_id}"
    assert ven.get(path).status_code == 200

    async def edit() -> None:  # no service, no revision: only the time bound applies
        async with app.state.db.session() as session:
            await session.exec(update(ClientRow).where(ClientRow.client_id == ven.client_id).values(enabled=False))

    ven.http.portal.call(edit)
    assert ven.get(path).status_code == 200  # still the cached row
    monkeypatch.setattr(authenticator_module, "time", LaterClock(CLIENT_CACHE_SECONDS + 0.1))
    refused = ven.http.get("/openadr3/3.0.1" + path, headers={"Authorization": f"Bearer {ven.token}"})
    assert refused.status_code == 401, refused.text


@pytest.mark.parametrize("fail", [False, True])
def test_revisions_move_only_with_a_commit(app, clients, fail):  # type: ignore[no-untyped-def]
    """A write that rolls back leaves the in-memory revisions as they were; one that commits moves them."""
    from vtn.programs.service import store as programs

    bl = clients.bl()
    bl.post("/programs", json={"programName": "p"})
    revisions = app.state.revisions
    before = dict(revisions.values)

    async def write() -> None:
        async with app.state.db.session() as session:
            await programs.insert(session, {"programName": "q"}, program_name="q")
            if fail:
                raise RuntimeError("rolled back")

    if fail:
        with pytest.raises(RuntimeError):
            bl.http.portal.call(write)
        assert revisions.values == before
    else:
        bl.http.portal.call(write)
        assert revisions.values["PROGRAM"] == before["PROGRAM"] + 1
