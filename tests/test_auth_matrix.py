"""The permission matrix: all 30 operations by callers (BL, owning VEN, other VEN, VEN lacking the
operation's scope, no token, expired token, token signed by an unknown key, token for another audience).

Denied calls come first, each followed by a re-read as BL proving nothing changed; then the allowed
calls run in an order that keeps the fixtures alive until the deletes at the end.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey

from tests.conftest import Caller
from tests.factories import full_event, full_report, full_subscription
from vtn.auth.tokens import ALGORITHM, TOKEN_TYPE
from vtn.core.security import Scope

VEN_SCOPES = [Scope.READ_ALL, Scope.WRITE_REPORTS, Scope.WRITE_SUBSCRIPTIONS, Scope.WRITE_VENS]
PROGRAM_TARGETS = [{"type": "VEN_NAME", "values": ["ven-a"]}]


@dataclass(frozen=True)
class Op:
    method: str
    path: str  # with {program}, {event}, {report}, {subscription}, {ven}, {resource}
    scope: Scope
    family: str

    @property
    def is_write(self) -> bool:
        return self.method != "GET"

    @property
    def is_list(self) -> bool:
        return self.method == "GET" and "{" not in self.path.rsplit("/", 1)[-1]


def _crud(family: str, collection: str, key: str, write: Scope) -> list[Op]:
    item = f"{collection}/{{{key}}}"
    return [Op("GET", collection, Scope.READ_ALL, family), Op("POST", collection, write, family),
            Op("GET", item, Scope.READ_ALL, family), Op("PUT", item, write, family), Op("DELETE", item, write, family)]


OPERATIONS = [
    *_crud("program", "/programs", "program", Scope.WRITE_PROGRAMS),
    *_crud("event", "/events", "event", Scope.WRITE_EVENTS),
    *_crud("report", "/reports", "report", Scope.WRITE_REPORTS),
    *_crud("subscription", "/subscriptions", "subscription", Scope.WRITE_SUBSCRIPTIONS),
    *_crud("ven", "/vens", "ven", Scope.WRITE_VENS),
    *_crud("resource", "/vens/{ven}/resources", "resource", Scope.WRITE_VENS),
]
assert len(OPERATIONS) == 30

FAMILIES = ["program", "event", "report", "subscription", "ven", "resource"]
SNAPSHOT = ["/programs", "/events", "/reports", "/subscriptions", "/vens", "/vens/{ven}/resources"]


def _raw(http, token: str | None) -> Caller:  # type: ignore[no-untyped-def]
    caller = Caller(http, token or "", "raw")
    if token is None:
        caller._headers = lambda headers: dict(headers or {})  # type: ignore[method-assign]
    return caller


def _forged(app: Any, *, key: ECKey | None = None, audience: str | None = None, expired: bool = False) -> str:
    """A token for a real BL client that is wrong in exactly one way."""
    tokens = app.state.tokens
    signing_key = key
    kid = key.kid if key else None
    if signing_key is None:
        row, signing_key = tokens._keys.signing
        kid = row.kid
    now = int(time.time()) - (7200 if expired else 0)
    claims = {"iss": tokens.issuer, "sub": "matrix-bl", "client_id": "matrix-bl", "aud": audience or tokens.audience,
              "iat": now, "nbf": now, "exp": now + 3600, "jti": uuid.uuid4().hex, "scope": "read_all write_programs"}
    return jwt.encode({"alg": ALGORITHM, "kid": kid, "typ": TOKEN_TYPE}, claims, signing_key)


def _bodies(ids: dict[str, str], suffix: str) -> dict[str, dict[str, Any]]:
    return {
        "program": {"programName": f"prog-{suffix}", "targets": PROGRAM_TARGETS},
        "event": full_event(ids["program"], f"ev-{suffix}", PROGRAM_TARGETS),
        "report": full_report(ids["program"], ids["event"], "ven-a"),
        "subscription": full_subscription(ids["program"]),
        "ven": {"venName": f"ven-{suffix}"},
        "resource": {"resourceName": f"res-{suffix}"},
    }


def _call(caller: Caller, op: Op, ids: dict[str, str], body: dict[str, Any] | None):  # type: ignore[no-untyped-def]
    path = op.path.format(**ids)
    return caller.request(op.method, path, json=body if op.method in ("POST", "PUT") else None)


def test_permission_matrix(clients, http) -> None:  # type: ignore[no-untyped-def]
    app = http.app
    bl = clients.bl(client_id="matrix-bl")
    owner = clients.ven("ven-a")
    other = clients.ven("ven-b")
    lacking = {scope: clients.ven("ven-a", scopes=[s.value for s in VEN_SCOPES if s != scope])
               for scope in Scope}

    # fixtures: a program and event targeted at ven-a; ven-a's ven, resource, report and subscription
    def ok(response, status: int = 201) -> dict[str, Any]:  # type: ignore[no-untyped-def]
        assert response.status_code == status, response.text
        return dict(response.json())

    ids: dict[str, str] = {}
    ids["program"] = ok(bl.post("/programs", json={"programName": "matrix", "targets": PROGRAM_TARGETS}))["id"]
    ids["event"] = ok(bl.post("/events", json=full_event(ids["program"], "ev", PROGRAM_TARGETS)))["id"]
    ids["ven"] = ok(owner.post("/vens", json={"venName": "ven-a"}))["id"]
    ids["resource"] = ok(owner.post(f"/vens/{ids['ven']}/resources", json={"resourceName": "res-a"}))["id"]
    ids["report"] = ok(owner.post("/reports", json=full_report(ids["program"], ids["event"])))["id"]
    ids["subscription"] = ok(owner.post("/subscriptions", json=full_subscription(ids["program"])))["id"]
    ok(other.post("/vens", json={"venName": "ven-b"}))
    bodies = _bodies(ids, "new")

    def snapshot(family: str | None = None) -> dict[str, Any]:
        paths = [SNAPSHOT[FAMILIES.index(family)]] if family else SNAPSHOT
        return {path: bl.get(path.format(**ids)).json() for path in paths}

    before = snapshot()
    private = {ids["report"], ids["subscription"], ids["ven"], ids["resource"], ids["program"], ids["event"]}

    # 1. token problems: 401 with a Bearer challenge, for every operation
    token_problems = {
        "no token": _raw(http, None),
        "expired": _raw(http, _forged(app, expired=True)),
        "unknown key": _raw(http, _forged(app, key=ECKey.generate_key("P-256", auto_kid=True))),
        "other audience": _raw(http, _forged(app, audience="https://other-vtn.example")),
        "garbage": _raw(http, "not-a-jwt"),
    }
    failures: list[str] = []

    def expect(who: str, caller: Caller, op: Op, status: int, *, challenge: bool = False) -> None:
        response = _call(caller, op, ids, bodies[op.family])
        if response.status_code != status:
            failures.append(f"{who} {op.method} {op.path}: {response.status_code} != {status} {response.text[:120]}")
            return
        if status >= 400:
            if not response.headers.get("content-type", "").startswith("application/problem+json"):
                failures.append(f"{who} {op.method} {op.path}: not a problem body")
            if challenge and not response.headers.get("www-authenticate", "").startswith("Bearer"):
                failures.append(f"{who} {op.method} {op.path}: no Bearer challenge")
            after = snapshot(op.family) if op.is_write else {}
            if after != {k: before[k] for k in after}:
                failures.append(f"{who} {op.method} {op.path}: a denied write changed state")

    for who, caller in token_problems.items():
        for op in OPERATIONS:
            expect(who, caller, op, 401, challenge=True)

    # 2. scope missing: 403 (the scope check comes before any existence check)
    for op in OPERATIONS:
        expect(f"VEN without {op.scope}", lacking[op.scope], op, 403)

    # 3. VENs never write programs or events; BL never writes reports (write_reports is VEN-only)
    for op in OPERATIONS:
        if op.is_write and op.family in ("program", "event"):
            expect("owning VEN", owner, op, 403)
            expect("other VEN", other, op, 403)
        if op.is_write and op.family == "report":
            expect("BL", bl, op, 403)

    # 4. another VEN: ven-a's objects are invisible (404); lists leave them out
    for op in OPERATIONS:
        if op.family in ("program", "event") and op.is_write:
            continue
        if op.is_list and op.family != "resource":
            response = _call(other, op, ids, None)
            assert response.status_code == 200, (op, response.text)
            assert not ({item["id"] for item in response.json()} & private), op
        elif op.method == "POST" and op.family not in ("resource",):
            continue  # creating its own objects is allowed; the probes below cover ven-a's
        else:
            expect("other VEN", other, op, 404)
    # ...and it cannot create objects for ven-a
    probes = {
        "ven under another name": other.post("/vens", json={"venName": "ven-a2"}),
        "report on an invisible program": other.post("/reports", json=full_report(ids["program"], ids["event"], "ven-b")),
        "subscription to an invisible program": other.post("/subscriptions", json=full_subscription(ids["program"])),
    }
    # an invisible program or event is treated as absent: a dangling reference (409), nothing revealed
    assert {k: v.status_code for k, v in probes.items()} == {
        "ven under another name": 403, "report on an invisible program": 409, "subscription to an invisible program": 409,
    }, {k: v.text for k, v in probes.items()}
    assert snapshot() == before
    assert not failures, "\n".join(failures)

    # 5. allowed: reads for BL and the owner
    for caller in (bl, owner):
        for op in OPERATIONS:
            if not op.is_write:
                response = _call(caller, op, ids, None)
                assert response.status_code == 200, (op, response.text)
                if not op.is_list:
                    assert response.json()["id"] in private

    # 6. allowed writes: creates and updates by BL and by the owner, deletes last
    writes = [
        (bl, "POST", "/programs", {"programName": "p-bl"}, 201),
        (bl, "PUT", "/programs/{program}", {"programName": "matrix", "programLongName": "x", "targets": PROGRAM_TARGETS}, 200),
        (bl, "POST", "/events", full_event(ids["program"], "ev-bl", PROGRAM_TARGETS), 201),
        (bl, "PUT", "/events/{event}", full_event(ids["program"], "ev-upd", PROGRAM_TARGETS), 200),
        (owner, "POST", "/reports", full_report(ids["program"], ids["event"]), 201),
        (owner, "PUT", "/reports/{report}", full_report(ids["program"], ids["event"]), 200),
        (owner, "POST", "/subscriptions", full_subscription(ids["program"]), 201),
        (owner, "PUT", "/subscriptions/{subscription}", full_subscription(ids["program"]), 200),
        (bl, "POST", "/subscriptions", full_subscription(ids["program"]), 201),
        (bl, "PUT", "/subscriptions/{subscription}", full_subscription(ids["program"]), 200),
        (bl, "POST", "/vens", {"venName": "ven-c"}, 201),
        (owner, "PUT", "/vens/{ven}", {"venName": "ven-a"}, 200),
        (bl, "PUT", "/vens/{ven}", {"venName": "ven-a"}, 200),
        (owner, "POST", "/vens/{ven}/resources", {"resourceName": "res-a2"}, 201),
        (bl, "POST", "/vens/{ven}/resources", {"resourceName": "res-a3"}, 201),
        (owner, "PUT", "/vens/{ven}/resources/{resource}", {"resourceName": "res-a"}, 200),
        (bl, "PUT", "/vens/{ven}/resources/{resource}", {"resourceName": "res-a"}, 200),
        (owner, "DELETE", "/reports/{report}", None, 200),
        (owner, "DELETE", "/subscriptions/{subscription}", None, 200),
        (owner, "DELETE", "/vens/{ven}/resources/{resource}", None, 200),
        (bl, "DELETE", "/events/{event}", None, 200),
        (owner, "DELETE", "/vens/{ven}", None, 200),
        (bl, "DELETE", "/programs/{program}", None, 200),
    ]
    for caller, method, path, body, status in writes:
        response = caller.request(method, path.format(**ids), json=body)
        assert response.status_code == status, (caller.client_id, method, path, response.text)
    # the BL may delete a VEN's objects too
    ven_c = next(v["id"] for v in bl.get("/vens").json() if v["venName"] == "ven-c")
    assert bl.delete(f"/vens/{ven_c}").status_code == 200
