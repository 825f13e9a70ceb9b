"""D-checks: the subtle faults, on every object type and every list endpoint, not on one example.

Found by injecting faults into a correct VTN (conformance/faults.py): round trips with falsy values
and client-chosen interval ids, list items equal to GET by id, PUT and DELETE that really act,
pagination, uniqueness, required fields, write scopes on PUT and DELETE, content types,
WWW-Authenticate, and every notification for every object type and operation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from conformance import fixtures as fx
from conformance.checks.objects import list_all, parse_dt, same
from conformance.core import Fail, Response, Session, body_dict, body_list, check, ensure, expect, ids, register

Y = "Y301"
TYPES = ("program", "event", "report", "subscription", "ven", "resource")


@dataclass
class Kind:
    """One object type: how to make a body, where it lives, who writes it, how to list just ours."""

    name: str
    object_type: str
    who: str
    collection: Callable[[Session], str]
    body: Callable[[Session, dict[str, Any]], dict[str, Any]]  # (session, extra fields) → POST body
    listing: Callable[[Session, dict[str, Any]], dict[str, Any]]  # the object → list query that finds it
    changed: tuple[str, Any]  # a field a PUT changes, and its new value
    targets: bool  # carries targets the list filters see


def _scope(s: Session) -> dict[str, Any]:
    """A program, event and ven the D-checks hang their objects on."""

    def make() -> dict[str, Any]:
        prog = s.create("/programs", {"programName": s.name("d-prog")})
        ev = s.create("/events", fx.event_body(s, prog["id"]))
        ven = s.create("/vens", {"venName": s.name("d-ven")})
        fx.own_ven(s, "ven")
        return {"program": prog, "event": ev, "ven": ven}

    return s.fixture("subtle-scope", make)


def _group(s: Session, label: str) -> list[dict[str, Any]]:
    return [{"type": "GROUP", "values": [f"{s.prefix}-{label}"]}]


KINDS: dict[str, Kind] = {
    "program": Kind(
        "program", "PROGRAM", "bl", lambda s: "/programs",
        lambda s, x: {"programName": s.name("d"), **x},
        lambda s, o: {"targetType": "GROUP", "targetValues": (o.get("targets") or [{}])[0].get("values", [""])[0]}
        if o.get("targets") else {"targetType": "GROUP", "targetValues": "none"},
        ("programLongName", "changed"), True,
    ),
    "event": Kind(
        "event", "EVENT", "bl", lambda s: "/events",
        lambda s, x: fx.event_body(s, _scope(s)["program"]["id"], **x),
        lambda s, o: {"programID": o["programID"]}, ("priority", 7), True,
    ),
    "report": Kind(
        "report", "REPORT", "ven", lambda s: "/reports",
        lambda s, x: fx.report_body(s, _scope(s)["event"], **x),
        lambda s, o: {"eventID": o["eventID"]}, ("reportName", "changed"), False,
    ),
    "subscription": Kind(
        "subscription", "SUBSCRIPTION", "bl", lambda s: "/subscriptions",
        lambda s, x: fx.subscription_body(s, _scope(s)["program"]["id"], [fx.entry(s, "d-idle", ["EVENT"], ["CREATE"])],
                                          **x),
        lambda s, o: {"programID": o["programID"]}, ("clientName", "changed-client"), True,
    ),
    "ven": Kind(
        "ven", "VEN", "bl", lambda s: "/vens",
        lambda s, x: {"venName": s.name("d"), **x},
        lambda s, o: {"venName": o["venName"]}, ("attributes", [{"type": "X", "values": ["changed"]}]), True,
    ),
    "resource": Kind(
        "resource", "RESOURCE", "bl", lambda s: f"/vens/{_scope(s)['ven']['id']}/resources",
        lambda s, x: {"resourceName": s.name("d"), **x},
        lambda s, o: {"resourceName": o["resourceName"]}, ("attributes", [{"type": "X", "values": ["changed"]}]), True,
    ),
}


ABBR = {"program": "PRG", "event": "EVT", "report": "REP", "subscription": "SUB", "ven": "VEN", "resource": "RES"}
NAMED = {"program": "programName", "ven": "venName", "resource": "resourceName"}


def per_type(base: str, title: str, *, area: str, source: str, types: tuple[str, ...] = TYPES):
    """Register one check per object type (`D003-EVT`…), so a fault run can focus on the type it breaks."""

    def decorate(func: Callable[[Session, str], str | None]) -> Callable[[Session, str], str | None]:
        for name in types:
            register(f"{base}-{ABBR[name]}", f"{title}: {name}", area=area, source=source,
                     func=lambda s, n=name: func(s, n))
        return func

    return decorate


def _path(s: Session, kind: Kind, obj: dict[str, Any]) -> str:
    return f"{kind.collection(s)}/{obj['id']}"


def _listed(s: Session, kind: Kind, obj: dict[str, Any], query: dict[str, Any] | None = None,
            who: str | None = None) -> list[dict[str, Any]]:
    query = query if query is not None else kind.listing(s, obj)
    return list_all(s, kind.collection(s), who or kind.who, **query)


def _compare(what: str, want: dict[str, Any], got: Any, resp: Response | None, keys: list[str] | None = None) -> None:
    ensure(isinstance(got, dict), f"{what}: not an object", resp)
    for key in keys if keys is not None else sorted(set(want) | set(got)):
        ensure(same(want.get(key), got.get(key)), f"{what}: {key} is {got.get(key)!r}, expected {want.get(key)!r}", resp)


# ---- D001 round trips ----------------------------------------------------------------------------

FALSY = [{"type": "X-FALSY", "values": [0, False, "", 0.0]}]
FALSY_FIELDS: dict[str, dict[str, Any]] = {
    "program": {"programLongName": "", "retailerName": "", "retailerLongName": "", "programType": "",
                "bindingEvents": False, "localPrice": False},
    "event": {"eventName": "", "priority": 0, "intervals": [
        {"id": 5, "payloads": [{"type": "SIMPLE", "values": [0]}]},
        {"id": 2, "payloads": [{"type": "X-FLAG", "values": [False, ""]}]},
        {"id": 9, "payloads": [{"type": "PRICE", "values": [0.0]}]},
    ]},
    "report": {"reportName": "", "resources": [{"resourceName": "r1", "intervals": [
        {"id": 7, "payloads": [{"type": "USAGE", "values": [0]}]},
        {"id": 3, "payloads": [{"type": "USAGE", "values": [0.0]}]},
    ]}]},
    "ven": {"attributes": FALSY},
    "resource": {"attributes": FALSY},
}


@per_type("D001", "Every field round-trips exactly: 0, false, \"\" and interval ids 5, 2, 9 kept",
          area="lifecycle", types=tuple(FALSY_FIELDS),
          source=f"{Y}:1745-2193 (schemas; interval.id client generated, not a sequence 2172-2193)")
def d001(s: Session, name: str) -> str | None:
    extra = FALSY_FIELDS[name]
    kind = KINDS[name]
    sent = kind.body(s, extra)
    created = s.create(kind.collection(s), sent, kind.who)
    resp = expect(s.get(_path(s, kind, created), kind.who), 200, f"GET the {name}")
    for what, got, r in (("POST response", created, None), ("GET by id", body_dict(resp), resp)):
        _compare(f"{name} {what}", sent, got, r, keys=list(sent))
    return None


# ---- D002 list items ----------------------------------------------------------------------------

LIST_EXTRA: dict[str, Callable[[Session], dict[str, Any]]] = {
    "program": lambda s: {"targets": _group(s, "d002-p"), "programLongName": "long"},
    "event": lambda s: {"targets": _group(s, "d002-e"), "priority": 3},
    "report": lambda s: {"reportName": "d002"},
    "subscription": lambda s: {"targets": _group(s, "d002-s")},
    "ven": lambda s: {"attributes": [{"type": "X", "values": [1, "a"]}], "targets": _group(s, "d002-v")},
    "resource": lambda s: {"attributes": [{"type": "X", "values": [1, "a"]}], "targets": _group(s, "d002-r")},
}


@per_type("D002", "Each list item equals GET by id of the same object", area="lifecycle",
       source=f"{Y}:51-122, 311-388, 577-655, 845-941, 1142-1223, 1418-1505 (lists return the objects)")
def d002(s: Session, name: str) -> str | None:
    kind = KINDS[name]
    obj = s.create(kind.collection(s), kind.body(s, LIST_EXTRA[name](s)), kind.who)
    one = body_dict(expect(s.get(_path(s, kind, obj), kind.who), 200, f"GET the {name}"))
    items = [o for o in _listed(s, kind, obj) if o.get("id") == obj["id"]]
    ensure(len(items) == 1, f"the {name} {obj['id']} is listed {len(items)} times by {kind.listing(s, obj)}")
    _compare(f"{name} list item vs GET by id", one, items[0], None)
    return None


# ---- D003 PUT ----------------------------------------------------------------------------------


@per_type("D003", "PUT really changes: fields, targets the filters then find, modificationDateTime",
       area="lifecycle", source=f"{Y}:218-269, 484-535, 751-802, 1049-1100, 1318-1369, 1612-1663; {Y}:1757-1759")
def d003(s: Session, name: str) -> str | None:
    kind = KINDS[name]
    first = {"targets": _group(s, f"d003-{name}-1")} if kind.targets else {}
    obj = s.create(kind.collection(s), kind.body(s, first), kind.who)
    path = _path(s, kind, obj)
    time.sleep(0.02)  # modificationDateTime must be able to advance at millisecond precision
    field, value = kind.changed
    body = {k: v for k, v in obj.items() if k not in ("id", "createdDateTime", "modificationDateTime", "objectType")}
    body[field] = value
    if kind.targets:
        body["targets"] = _group(s, f"d003-{name}-2")
    resp = expect(s.put(path, body, kind.who), 200, f"PUT the {name}")
    got = body_dict(resp)
    ensure(got.get("id") == obj["id"] and got.get("createdDateTime") == obj["createdDateTime"],
           f"{name}: PUT changed id or createdDateTime", resp)
    before, after = parse_dt(obj.get("modificationDateTime")), parse_dt(got.get("modificationDateTime"))
    ensure(before is not None and after is not None and after > before,
           f"{name}: modificationDateTime did not advance ({obj.get('modificationDateTime')} → "
           f"{got.get('modificationDateTime')})", resp)
    _compare(f"{name} PUT response", body, got, resp, keys=list(body))
    again = expect(s.get(path, kind.who), 200, f"GET the {name} after PUT")
    _compare(f"{name} GET after PUT", got, body_dict(again), again)
    if _filters_targets(s, kind):
        new = [o["id"] for o in _listed(s, kind, obj, {**_scope_query(s, kind, obj), "targetType": "GROUP",
                                                       "targetValues": f"{s.prefix}-d003-{name}-2"})]
        old = [o["id"] for o in _listed(s, kind, obj, {**_scope_query(s, kind, obj), "targetType": "GROUP",
                                                       "targetValues": f"{s.prefix}-d003-{name}-1"})]
        ensure(obj["id"] in new and obj["id"] not in old,
               f"{name}: after PUT the new target finds {new}, the old one {old} (expected only the new)")
    return None


def _filters_targets(s: Session, kind: Kind) -> bool:
    """The kind carries targets and its list takes a target filter in this run's version (conformance.versions)."""
    return kind.targets and s.adapter.target_filter(kind.collection(s))


def _scope_query(s: Session, kind: Kind, obj: dict[str, Any]) -> dict[str, Any]:
    return {"programID": obj["programID"]} if kind.name in ("event", "subscription") else {}


# ---- D004 DELETE -------------------------------------------------------------------------------


@per_type("D004", "DELETE really deletes: returns the object, then 404 and absent from lists",
       area="lifecycle", source=f"{Y}:270-309, 536-575, 803-843, 1101-1140, 1370-1409, 1664-1703")
def d004(s: Session, name: str) -> str | None:
    kind = KINDS[name]
    obj = s.create(kind.collection(s), kind.body(s, {}), kind.who)
    path = _path(s, kind, obj)
    resp = expect(s.delete(path, kind.who), 200, f"DELETE the {name}")
    s.forget(path)
    _compare(f"{name} DELETE response", obj, body_dict(resp), resp, keys=["id", "createdDateTime", "objectType"])
    expect(s.get(path, kind.who), 404, f"GET the deleted {name}")
    listed = [o.get("id") for o in _listed(s, kind, obj)]
    ensure(obj["id"] not in listed, f"the deleted {name} {obj['id']} is still listed by {kind.listing(s, obj)}")
    return None


# ---- D005 pagination ---------------------------------------------------------------------------


@per_type("D005", "limit and skip work (pages of 1 are disjoint and cover; limit=2 → 2)",
       area="filters", source=f"{Y}:51-122, 311-388, 577-655, 845-941, 1142-1223, 1418-1505 (skip, limit)")
def d005(s: Session, name: str) -> str | None:
    kind = KINDS[name]
    group = f"{s.prefix}-d005-{name}"
    extra = {"targets": [{"type": "GROUP", "values": [group]}]} if kind.targets else {}
    if name == "subscription" and not _filters_targets(s, kind):
        extra = {"clientName": group}  # no target filter on 3.1.0 subscription lists: their clientName finds ours
    made = [s.create(kind.collection(s), kind.body(s, extra), kind.who)["id"] for _ in range(3)]
    if name == "report":
        query: dict[str, Any] = {"eventID": _scope(s)["event"]["id"]}
        made = [i for i in ids(expect(s.get("/reports", "ven", params={**query, "limit": 50}), 200))]
    elif "clientName" in extra:
        query = {"programID": _scope(s)["program"]["id"], "clientName": group}
    else:
        query = {**_scope_query(s, kind, {"programID": _scope(s)["program"]["id"]}), "targetType": "GROUP",
                 "targetValues": group}
    pages = [ids(expect(s.get(kind.collection(s), kind.who, params={**query, "limit": 1, "skip": k}), 200))
             for k in range(len(made))]
    ensure(all(len(p) == 1 for p in pages), f"{name}: limit=1 pages {pages}")
    flat = [p[0] for p in pages]
    ensure(sorted(flat) == sorted(made), f"{name}: pages {pages} do not cover {made} exactly once")
    two = ids(expect(s.get(kind.collection(s), kind.who, params={**query, "limit": 2}), 200))
    ensure(len(two) == 2, f"{name}: limit=2 returned {len(two)} items")
    return None


# ---- D006 every filter ------------------------------------------------------------------------


def _two(s: Session, name: str) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """Two objects of a type that differ in every filterable field, and the queries that tell them apart."""
    kind = KINDS[name]
    scope = _scope(s)
    other = s.fixture("subtle-program-2", lambda: s.create("/programs", {"programName": s.name("d-prog2")}))
    ga, gb = _group(s, f"d006-{name}-a"), _group(s, f"d006-{name}-b")
    target = {"targetType": "GROUP", "targetValues": ga[0]["values"][0]}
    if name == "event":
        a = s.create("/events", fx.event_body(s, scope["program"]["id"], targets=ga))
        b = s.create("/events", fx.event_body(s, other["id"], targets=gb))
        return a, b, [{"programID": a["programID"]}, target]
    if name == "report":
        ev2 = s.fixture("subtle-event-2", lambda: s.create("/events", fx.event_body(s, other["id"])))
        a = s.create("/reports", fx.report_body(s, scope["event"]), "ven")
        if s.config.ven2_client:  # a VEN reports under its own name: the second name needs the second VEN
            fx.own_ven(s, "ven2")
            b = s.create("/reports", fx.report_body(s, ev2, "ven2"), "ven2")
        else:
            b = s.create("/reports", fx.report_body(s, ev2), "ven")
        by_client = [{"clientName": a["clientName"]}] if a["clientName"] != b["clientName"] else []
        return a, b, [{"programID": a["programID"]}, {"eventID": a["eventID"]}, *by_client]
    if name == "subscription":
        a = s.create("/subscriptions", fx.subscription_body(
            s, scope["program"]["id"], [fx.entry(s, "d006", ["EVENT"], ["CREATE"])], targets=ga))
        b = s.create("/subscriptions", fx.subscription_body(
            s, other["id"], [fx.entry(s, "d006", ["PROGRAM"], ["CREATE"])], clientName=s.prefix + "-other", targets=gb))
        return a, b, [{"programID": a["programID"]}, {"clientName": a["clientName"]}, {"objects": "EVENT"}, target]
    a = s.create(kind.collection(s), kind.body(s, {"targets": ga}), kind.who)
    b = s.create(kind.collection(s), kind.body(s, {"targets": gb}), kind.who)
    named = {"ven": "venName", "resource": "resourceName"}.get(name)
    return a, b, ([{named: a[named]}] if named else []) + [target]


@per_type("D006", "Every filter of the list endpoint keeps the match and drops the other object", area="filters",
          source=f"{Y}:51-122, 311-388, 577-655, 845-941, 1142-1223, 1418-1505 (query parameters)")
def d006(s: Session, name: str) -> str | None:
    kind = KINDS[name]
    a, b, queries = _two(s, name)
    for query in queries:
        found = [o.get("id") for o in _listed(s, kind, a, query, "bl")]  # BL sees both
        ensure(a["id"] in found and b["id"] not in found,
               f"{kind.collection(s)}?{query}: expected {a['id']} and not {b['id']}, got {found}")
    return f"{len(queries)} filters"


# ---- D007 uniqueness, D008 required fields ----------------------------------------------------


@per_type("D007", "A duplicate name (programName, venName, resourceName in one ven) → 409, nothing stored",
       area="validation", source=f"{Y}:123-168 (409); {Y}:2077-2171; RN:19", types=tuple(NAMED))
def d007(s: Session, name: str) -> str | None:
    key = NAMED[name]
    kind = KINDS[name]
    obj = s.create(kind.collection(s), kind.body(s, {}), kind.who)
    resp = s.post(kind.collection(s), kind.body(s, {key: obj[key]}), kind.who)
    if resp.status in (200, 201) and isinstance(resp.json, dict) and resp.json.get("id"):
        s.cleanup.append((kind.who, "DELETE", f"{kind.collection(s)}/{resp.json['id']}"))
    expect(resp, 409, f"a second {name} named {obj[key]!r}")
    found = [o for o in _listed(s, kind, obj, {} if name == "program" else None) if o.get(key) == obj[key]]
    ensure(len(found) == 1, f"{len(found)} {name}s named {obj[key]!r} after the conflict")
    return None


REQUIRED = {"program": "programName", "event": "intervals", "report": "resources", "subscription": "objectOperations",
            "ven": "venName", "resource": "resourceName"}


@per_type("D008", "A create without a required field → 400, nothing stored", area="validation",
       source=f"{Y}:1745-2171 (required); D310:305-337")
def d008(s: Session, name: str) -> str | None:
    key = REQUIRED[name]
    kind = KINDS[name]
    body = kind.body(s, {})
    body.pop(key, None)
    resp = s.post(kind.collection(s), body, kind.who)
    if resp.status in (200, 201) and isinstance(resp.json, dict) and resp.json.get("id"):
        s.cleanup.append((kind.who, "DELETE", f"{kind.collection(s)}/{resp.json['id']}"))
        get = s.get(f"{kind.collection(s)}/{resp.json['id']}", kind.who)
        raise Fail(f"a {name} without {key} was accepted ({resp.status}; GET → {get.status})", resp)
    expect(resp, 400, f"a {name} without {key}")
    return None


# ---- D009 write scopes ------------------------------------------------------------------------


@per_type("D009", "PUT and DELETE without the write scope → 403 on the caller's own object, unchanged",
       area="scopes", source=f"{Y} securitySchemes and per-operation scopes; RFC 6750 §3.1 insufficient_scope")
def d009(s: Session, name: str) -> str | None:
    kind = KINDS[name]
    obj = s.create(kind.collection(s), kind.body(s, {}), kind.who)
    path = _path(s, kind, obj)
    # a token with another write scope only: a VTN may answer `scope=read_all` alone with the whole grant
    other = "write_vens" if name == "subscription" else "write_subscriptions"
    narrow = f"{kind.who}:{other}"
    field, value = kind.changed
    body = {**kind.body(s, {}), field: value}
    for key in ("programName", "venName", "resourceName"):
        if key in obj:
            body[key] = obj[key]
    expect(s.put(path, body, narrow), 403, f"PUT the {name} with a {other} token")
    expect(s.delete(path, narrow), 403, f"DELETE the {name} with a {other} token")
    after = expect(s.get(path, kind.who), 200, f"the {name} after the refused writes")
    _compare(f"{name} after refused writes", obj, body_dict(after), after)
    return None


# ---- D010 content types, D011 WWW-Authenticate -------------------------------------------------


@per_type("D010", "Success responses with a body are application/json (POST, GET, list, PUT, DELETE)",
       area="errors", source=f"{Y} responses (content: application/json); RFC 9110 §8.3")
def d010(s: Session, name: str) -> str | None:
    kind = KINDS[name]
    obj = s.create(kind.collection(s), kind.body(s, {}), kind.who)
    path = _path(s, kind, obj)
    s.get(path, kind.who)
    s.get(kind.collection(s), kind.who, params=kind.listing(s, obj))
    body = {k: v for k, v in obj.items() if k not in ("id", "createdDateTime", "modificationDateTime", "objectType")}
    s.put(path, body, kind.who)
    if s.delete(path, kind.who).status == 200:
        s.forget(path)
    seen = [r for r in s.recorded if 200 <= r.status < 300 and r.text and not r.url.startswith(s.token_url)]
    bad = [f"{r.method} {r.url} → {r.status} {r.content_type!r}" for r in seen if r.content_type != "application/json"]
    ensure(not bad, f"{len(bad)} of {len(seen)} success responses are not application/json: " + " | ".join(bad[:3]))
    return f"{len(seen)} success responses checked"


@check("D011", "Every 401 carries WWW-Authenticate: Bearer (no token or a bad token, every method and type)",
       area="auth", source="RFC 6750 §3; RFC 9110 §11.6.1, §15.5.2")
def d011(s: Session) -> str | None:
    scope = _scope(s)
    paths = ["/programs", f"/programs/{scope['program']['id']}", "/events", f"/events/{scope['event']['id']}",
             "/reports", "/subscriptions/x", "/vens", f"/vens/{scope['ven']['id']}/resources"]
    seen = 0
    for token in (None, "not-a-token"):
        for path in paths:
            collection = path.count("/") == 1 or path.endswith("/resources")
            for method in ("GET", "POST") if collection else ("GET", "PUT", "DELETE"):
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                resp = s.call(method, path, None, headers=headers, json={} if method in ("POST", "PUT") else None)
                if resp.status == 401:
                    seen += 1
                    challenge = resp.headers.get("www-authenticate", "")
                    ensure(challenge.lower().startswith("bearer"), f"401 without WWW-Authenticate: Bearer ({challenge!r})",
                           resp)
                else:
                    expect(resp, {401, 403}, f"{method} {path} with token {token!r}")
    return f"{seen} 401 responses checked"


# ---- D012 notifications --------------------------------------------------------------------------


def _no_secrets(obj: Any) -> Any:
    """A subscription without its bearer tokens: a VTN may rightly withhold them from other listeners."""
    if not isinstance(obj, dict) or not isinstance(obj.get("objectOperations"), list):
        return obj
    entries = [{k: v for k, v in e.items() if k != "bearerToken"} if isinstance(e, dict) else e
               for e in obj["objectOperations"]]
    return {**obj, "objectOperations": entries}


@check("D012", "Every object type and operation is notified: schema, objectType, operation, object equal to the "
       "API answer (DELETE included), bearer token", area="notifications",
       source=f"{Y}:942-1000 (notifyEvent), 2421-2456 (notification), 2061-2066 (bearerToken)")
def d012(s: Session) -> str | None:
    from conformance.schema import load_spec

    rx = fx.receiver(s)
    prog = s.create("/programs", {"programName": s.name("d012"), "programLongName": "long",
                                  "targets": _group(s, "d012-p")})
    ops = ["CREATE", "UPDATE", "DELETE"]
    sub = s.create("/subscriptions", fx.subscription_body(s, prog["id"], [
        fx.entry(s, "d012", ["PROGRAM", "EVENT", "REPORT", "SUBSCRIPTION", "VEN", "RESOURCE"], ops, "tokd012")]))
    expected: list[tuple[str, str, dict[str, Any]]] = []  # (objectType, operation, API answer)

    def lifecycle(object_type: str, collection: str, body: dict[str, Any], change: dict[str, Any], who: str) -> None:
        created = s.create(collection, body, who)
        expected.append((object_type, "POST", created))
        path = f"{collection}/{created['id']}"
        updated = body_dict(expect(s.put(path, {**body, **change}, who), 200, f"PUT {path}"))
        expected.append((object_type, "PUT", updated))
        deleted = body_dict(expect(s.delete(path, who), 200, f"DELETE {path}"))
        s.forget(path)
        expected.append((object_type, "DELETE", deleted))

    ev_body = fx.event_body(s, prog["id"])
    lifecycle("EVENT", "/events", ev_body, {"priority": 4}, "bl")
    ev = s.create("/events", fx.event_body(s, prog["id"]))
    fx.own_ven(s, "ven")
    lifecycle("REPORT", "/reports", fx.report_body(s, ev), {"reportName": "changed"}, "ven")
    lifecycle("SUBSCRIPTION", "/subscriptions",
              fx.subscription_body(s, prog["id"], [fx.entry(s, "d012-idle", ["EVENT"], ["CREATE"])]),
              {"clientName": "changed-client"}, "bl")
    ven = s.create("/vens", {"venName": s.name("d012-ven")})
    expected.append(("VEN", "POST", ven))
    lifecycle("RESOURCE", f"/vens/{ven['id']}/resources", {"resourceName": s.name("d012-res")},
              {"attributes": [{"type": "X", "values": [1]}]}, "bl")
    ven_path = f"/vens/{ven['id']}"
    expected.append(("VEN", "PUT", body_dict(expect(s.put(ven_path, {"venName": ven["venName"], "attributes": [
        {"type": "X", "values": [2]}]}), 200, "PUT the ven"))))
    expected.append(("VEN", "DELETE", body_dict(expect(s.delete(ven_path), 200, "DELETE the ven"))))
    s.forget(ven_path)
    expected.append(("PROGRAM", "PUT", body_dict(expect(s.put(f"/programs/{prog['id']}", {
        "programName": prog["programName"], "programLongName": "longer", "targets": prog["targets"]}), 200))))
    expected.append(("PROGRAM", "DELETE", body_dict(expect(s.delete(f"/programs/{prog['id']}"), 200))))
    s.forget(f"/programs/{prog['id']}")
    s.forget(f"/subscriptions/{sub['id']}")
    s.forget(f"/events/{ev['id']}")
    spec = load_spec()
    where = f"/{s.prefix}/d012"
    missing: list[str] = []
    # every change above was made before this loop: one deadline for all of them, not one timeout per missing one
    deadline = time.monotonic() + s.config.notify_timeout
    for object_type, operation, answer in expected:
        def match(d: Any, oid: str = answer["id"], op: str = operation) -> bool:
            body = d.json if isinstance(d.json, dict) else {}
            obj = body.get("object") if isinstance(body.get("object"), dict) else {}
            return d.path == where and obj.get("id") == oid and body.get("operation") == op

        d = rx.wait_for(match, max(0.0, deadline - time.monotonic()))
        if d is None:
            missing.append(f"{object_type} {operation} {answer['id']}")
            continue
        body = d.json
        what = f"{object_type} {operation} notification"
        ensure(d.method == "POST", f"{what}: callback method {d.method}")
        ensure(d.headers.get("content-type", "").startswith("application/json"), f"{what}: Content-Type "
               f"{d.headers.get('content-type')!r}")
        ensure(d.headers.get("authorization") == "Bearer tokd012", f"{what}: Authorization "
               f"{d.headers.get('authorization')!r}")
        problems = spec.errors(spec.component("notification"), body)
        ensure(not problems, f"{what} does not fit the schema: " + "; ".join(problems[:3]))
        ensure(body.get("operation") == operation, f"{what}: operation {body.get('operation')!r}")
        ensure(body.get("objectType") == object_type, f"{what}: objectType {body.get('objectType')!r}")
        _compare(what, _no_secrets(answer), _no_secrets(body.get("object")), None)
    ensure(not missing, f"{len(missing)} of {len(expected)} notifications never arrived at {where}: {missing[:6]}")
    return f"{len(expected)} notifications checked"


__all__ = ["KINDS", "body_list"]
