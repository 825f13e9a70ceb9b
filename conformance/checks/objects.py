"""F.3 lifecycle and provisioned fields, F.4 request validation, F.5 events, F.6 reports, F.7 vens."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from conformance import fixtures as fx
from conformance.core import (
    ONLY_310,
    Fail,
    Response,
    Session,
    Skip,
    body_dict,
    body_list,
    check,
    ensure,
    expect,
    ids,
    register,
)

LC, VA, EV, RE, VE = "lifecycle", "validation", "events", "reports", "vens"
ID_RE = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
DT_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$", re.I)


def parse_dt(value: Any) -> datetime | None:
    if not isinstance(value, str) or not DT_RE.match(value):
        return None
    return datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))


def metadata(obj: dict[str, Any], object_type: str, resp: Response | None = None) -> None:
    ensure(isinstance(obj.get("id"), str) and bool(ID_RE.match(obj["id"])), f"id {obj.get('id')!r} is not an objectID", resp)
    for key in ("createdDateTime", "modificationDateTime"):
        ensure(parse_dt(obj.get(key)) is not None, f"{key} {obj.get(key)!r} is not an RFC 3339 date-time", resp)
    ensure(obj.get("objectType") == object_type, f"objectType should be {object_type}, got {obj.get('objectType')!r}", resp)


def bad(s: Session, method: str, path: str, body: Any, what: str, who: str = "bl") -> Response:
    resp = s.call(method, path, who, json=body)
    if resp.status in (200, 201) and isinstance(resp.json, dict) and resp.json.get("id") and method == "POST":
        s.cleanup.append((who, "DELETE", f"{path}/{resp.json['id']}"))
    return expect(resp, 400, what)


def list_all(s: Session, path: str, who: str = "bl", **params: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for page in range(40):
        resp = expect(s.get(path, who, params={**params, "skip": page * 50, "limit": 50}), 200, f"listing {path}")
        items = body_list(resp)
        out += items
        if len(items) < 50:
            break
    return out


def same(a: Any, b: Any) -> bool:
    """Equality where absent ≡ null and numbers compare by value."""
    if isinstance(a, dict) and isinstance(b, dict):
        keys = set(a) | set(b)
        return all(same(a.get(k), b.get(k)) for k in keys)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return (a == b and type(a) is type(b)) or (
        isinstance(a, int | float)
        and isinstance(b, int | float)
        and not isinstance(a, bool)
        and not isinstance(b, bool)
        and a == b
    )


def roundtrip(sent: dict[str, Any], got: dict[str, Any], resp: Response, keys: list[str] | None = None) -> None:
    for key in keys or list(sent):
        ensure(same(sent[key], got.get(key)), f"{key} did not round-trip: sent {sent[key]!r}, got {got.get(key)!r}", resp)


# ---- F.3 lifecycle ------------------------------------------------------------------------------


@check(
    "C022",
    "POST /programs → 201 with provisioned id, timestamps, objectType PROGRAM",
    area=LC,
    source="Y301:139-144, 1751-1770, 2414-2420; D310:270-280",
)
def c022(s: Session) -> str | None:
    name = s.name("c022")
    resp = s.post("/programs", {"programName": name})
    expect(resp, 201)
    p = body_dict(resp)
    s.cleanup.append(("bl", "DELETE", f"/programs/{p.get('id')}"))
    metadata(p, "PROGRAM", resp)
    ensure(p.get("programName") == name, "programName not echoed", resp)
    other = fx.program(s)
    ensure(other["id"] != p["id"], "two POSTs returned the same id", resp)
    return None


@check(
    "C023",
    "Every object type gets provisioned metadata (EVENT, REPORT, SUBSCRIPTION, VEN, RESOURCE)",
    area=LC,
    source="Y301:1875-1879, 1948-1952, 2018-2022, 2092-2096, 2142-2146",
)
def c023(s: Session) -> str | None:
    metadata(fx.event(s), "EVENT")
    metadata(fx.report(s), "REPORT")
    metadata(fx.subscription(s), "SUBSCRIPTION")
    metadata(fx.bl_ven(s), "VEN")
    res = fx.resource(s)
    metadata(res, "RESOURCE")
    return None


@check("C024", "GET /programs/{id} returns the created program; it is listed", area=LC, source="Y301:177-193, 96-104")
def c024(s: Session) -> str | None:
    p = fx.program(s)
    resp = expect(s.get(f"/programs/{p['id']}"), 200)
    got = body_dict(resp)
    for key in ("id", "programName", "createdDateTime"):
        ensure(got.get(key) == p.get(key), f"{key} differs from the POST response", resp)
    ensure(p["id"] in [o.get("id") for o in list_all(s, "/programs")], "the program is not in GET /programs")
    return None


@check("C025", "Client-supplied id/timestamps/objectType are ignored on POST", area=LC, source="D310:360-362, 1556-1559")
def c025(s: Session) -> str | None:
    resp = s.post(
        "/programs",
        {
            "id": "clientchosen",
            "createdDateTime": "2000-01-01T00:00:00Z",
            "modificationDateTime": "2000-01-01T00:00:00Z",
            "objectType": "EVENT",
            "programName": s.name("c025"),
        },
    )
    expect(resp, 201)
    p = body_dict(resp)
    s.cleanup.append(("bl", "DELETE", f"/programs/{p.get('id')}"))
    ensure(p.get("objectType") == "PROGRAM", "objectType from the request was kept", resp)
    ensure(not str(p.get("createdDateTime", "")).startswith("2000-01-01"), "createdDateTime from the request was kept", resp)
    ensure(p.get("id") != "clientchosen", "the client-chosen id was kept", resp)
    return None


@check(
    "C026",
    "PUT keeps id and createdDateTime, advances modificationDateTime, applies changes",
    area=LC,
    source="Y301:218-239, 1757-1759; D310:360-362",
)
def c026(s: Session) -> str | None:
    p = s.create("/programs", {"programName": s.name("c026")})
    body = {
        "id": "otherid",
        "createdDateTime": "2000-01-01T00:00:00Z",
        "programName": p["programName"] + "-x",
        "programLongName": "long",
    }
    resp = expect(s.put(f"/programs/{p['id']}", body), 200)
    got = body_dict(resp)
    ensure(got.get("id") == p["id"], "id changed", resp)
    ensure(got.get("createdDateTime") == p["createdDateTime"], "createdDateTime changed", resp)
    before, after = parse_dt(p.get("modificationDateTime")), parse_dt(got.get("modificationDateTime"))
    ensure(before is not None and after is not None and after >= before, "modificationDateTime went back", resp)
    again = body_dict(expect(s.get(f"/programs/{p['id']}"), 200))
    ensure(
        again.get("programName") == body["programName"] and again.get("programLongName") == "long", "changes not visible in GET"
    )
    return None


@check(
    "C027", "PUT replaces the whole object: an omitted optional field is cleared", area=LC, source="D310:288-290", severity="I"
)
def c027(s: Session) -> str | None:
    p = s.create("/programs", {"programName": s.name("c027"), "programLongName": "to be dropped"})
    resp = expect(s.put(f"/programs/{p['id']}", {"programName": p["programName"]}), 200)
    ensure(body_dict(resp).get("programLongName") is None, "programLongName survived a PUT that omitted it", resp)
    return None


@check("C028", "DELETE → 200 with the deleted object; then GET and DELETE → 404", area=LC, source="Y301:270-303")
def c028(s: Session) -> str | None:
    p = s.create("/programs", {"programName": s.name("c028")})
    resp = expect(s.delete(f"/programs/{p['id']}"), 200)
    ensure(body_dict(resp).get("id") == p["id"], "DELETE did not return the deleted program", resp)
    s.forget(f"/programs/{p['id']}")
    expect(s.get(f"/programs/{p['id']}"), 404, "GET after DELETE")
    expect(s.delete(f"/programs/{p['id']}"), 404, "second DELETE")
    return None


@check(
    "C029", "GET/PUT/DELETE of an unknown id → 404 for all six object types", area=LC, source="Y301:206-211 … 1692-1697 (RN:6)"
)
def c029(s: Session) -> str | None:
    missing = "doesnotexist" + s.prefix.replace("-", "")
    ven = fx.bl_ven(s)
    ev = fx.event(s)
    bodies = {
        f"/programs/{missing}": ({"programName": s.name("x")}, "bl"),
        f"/events/{missing}": (fx.event_body(s, ev["programID"]), "bl"),
        f"/reports/{missing}": (fx.report_body(s, ev), "ven"),
        f"/subscriptions/{missing}": (fx.subscription_body(s, ev["programID"], [fx.entry(s, "x", ["EVENT"], ["CREATE"])]), "bl"),
        f"/vens/{missing}": ({"venName": s.name("x")}, "bl"),
        f"/vens/{ven['id']}/resources/{missing}": ({"resourceName": s.name("x")}, "bl"),
    }
    for path, (body, who) in bodies.items():
        expect(s.get(path, who), 404, f"GET {path}")
        expect(s.put(path, body, who), 404, f"PUT {path}")
        expect(s.delete(path, who), 404, f"DELETE {path}")
    return None


@check(
    "C030",
    "A path id violating objectID (a.b, 129 chars) → 400 (404 tolerated)",
    area=LC,
    source="Y301:171-175, 2414-2420",
    severity="S",
)
def c030(s: Session) -> str | None:
    for bad_id in ("a.b", "x" * 129):
        expect(s.get(f"/programs/{bad_id}"), {400, 404}, f"GET /programs/{bad_id[:10]}…")
    return None


@check("C031", "Unknown extra property in a POST body → 201", area=LC, source="D310:299-301, 2540-2560", severity="S")
def c031(s: Session) -> str | None:
    s.create("/programs", {"programName": s.name("c031"), "vendorExtension": {"a": 1}})
    return None


@check("C032", "Omitted optional fields come back absent, null or default", area=LC, source="D310:288-297", severity="S")
def c032(s: Session) -> str | None:
    p = fx.program(s)
    for key in ("programLongName", "retailerName", "country", "targets", "payloadDescriptors"):
        ensure(p.get(key) in (None, []), f"{key} was invented: {p.get(key)!r}")
    return None


FULL_PROGRAM: dict[str, Any] = {
    "programLongName": "Conformance full program",
    "retailerName": "ret",
    "retailerLongName": "Retailer Ltd",
    "programType": "PRICING_TARIFF",
    "country": "GB",
    "principalSubdivision": "ENG",
    "timeZoneOffset": "PT1H",
    "intervalPeriod": {"start": "2031-01-01T00:00:00Z", "duration": "PT30M"},
    "programDescriptions": [{"URL": "https://example.com/program"}],
    "bindingEvents": True,
    "localPrice": False,
    "payloadDescriptors": [{"objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": "PRICE", "units": "KWH", "currency": "GBP"}],
    "targets": [{"type": "GROUP", "values": ["conf-g"]}],
}


@check("C033", "A fully populated program round-trips through GET", area=LC, source="Y301:1765-1856")
def c033(s: Session) -> str | None:
    sent = {"programName": s.name("c033"), **FULL_PROGRAM}
    p = s.create("/programs", sent)
    resp = expect(s.get(f"/programs/{p['id']}"), 200)
    roundtrip(sent, body_dict(resp), resp)
    return None


# ---- F.4 validation -------------------------------------------------------------------------------


@check(
    "C034", "POST /programs {} or a bad programName → 400, nothing created", area=VA, source="Y301:1748-1749, 1768-1769; D310:286"
)
def c034(s: Session) -> str | None:
    before = len(list_all(s, "/programs"))
    bad(s, "POST", "/programs", {}, "empty program")
    bad(s, "POST", "/programs", {"programName": ""}, "empty programName")
    bad(s, "POST", "/programs", {"programName": "x" * 129}, "129-char programName")
    ensure(len(list_all(s, "/programs")) == before, "the program list changed after rejected POSTs")
    return None


@check("C035", "Syntactically invalid JSON → 400", area=VA, source="Y301:145-150")
def c035(s: Session) -> str | None:
    resp = s.call("POST", "/programs", "bl", content=b'{"programName": ', headers={"Content-Type": "application/json"})
    expect(resp, 400)
    return None


@check("C036", "Wrong JSON types → 400", area=VA, source="Y301 schemas (A.8)", severity="S")
def c036(s: Session) -> str | None:
    pid = fx.program(s)["id"]
    bad(s, "POST", "/programs", {"programName": 123}, "programName 123")
    bad(s, "POST", "/events", {"programID": pid, "intervals": {}}, "intervals {}")
    bad(s, "POST", "/events", fx.event_body(s, pid, priority="high"), "priority 'high'")
    return None


@check("C037", "POST /events without programID → 400", area=VA, source="Y301:1935-1937")
def c037(s: Session) -> str | None:
    body = fx.event_body(s, "x")
    body.pop("programID")
    bad(s, "POST", "/events", body, "event without programID")
    return None


@check("C038", "POST /events without intervals → 400 (3.0.1)", area=VA, source="Y301:1937")
def c038(s: Session) -> str | None:
    body = fx.event_body(s, fx.program(s)["id"])
    body.pop("intervals")
    bad(s, "POST", "/events", body, "event without intervals")
    return None


@check(
    "C039",
    "Interval missing id/payloads, valuesMap missing type/values or empty type → 400",
    area=VA,
    source="Y301:2177-2179, 2217-2224",
    severity="S",
)
def c039(s: Session) -> str | None:
    pid = fx.program(s)["id"]
    for broken in (
        {"payloads": [{"type": "SIMPLE", "values": [1]}]},
        {"id": 0},
        {"id": 0, "payloads": [{"values": [1]}]},
        {"id": 0, "payloads": [{"type": "SIMPLE"}]},
        {"id": 0, "payloads": [{"type": "", "values": [1]}]},
    ):
        bad(s, "POST", "/events", fx.event_body(s, pid, intervals=[broken]), f"interval {broken}")
    return None


@check("C040", "intervalPeriod without start → 400 (3.0.1)", area=VA, source="Y301:2200-2201")
def c040(s: Session) -> str | None:
    bad(s, "POST", "/events", fx.event_body(s, fx.program(s)["id"], intervalPeriod={"duration": "PT1H"}), "no start")
    return None


@check("C041", "event.priority -1 → 400; 0 → 201", area=VA, source="Y301:1962-1968 (RN:7)", severity="S")
def c041(s: Session) -> str | None:
    pid = fx.program(s)["id"]
    bad(s, "POST", "/events", fx.event_body(s, pid, priority=-1), "priority -1")
    s.create("/events", fx.event_body(s, pid, priority=0))
    return None


@check(
    "C042",
    "Duration pattern: 1H, PT1.5H, P0S, PT → 400; PT1H, P1D, P9999Y, -PT5M, PT0.5S → 201",
    area=VA,
    source="Y301:2467-2472 (RN:9)",
    severity="S",
)
def c042(s: Session) -> str | None:
    pid = fx.program(s)["id"]
    for d in ("1H", "PT1.5H", "P0S", "PT"):
        bad(s, "POST", "/events", fx.event_body(s, pid, intervalPeriod={"start": fx.FUTURE, "duration": d}), f"duration {d}")
    for d in ("PT1H", "P1D", "P9999Y", "-PT5M", "PT0.5S"):
        ev = s.create("/events", fx.event_body(s, pid, intervalPeriod={"start": fx.FUTURE, "duration": d}))
        ensure((ev.get("intervalPeriod") or {}).get("duration") == d, f"duration {d} came back as {ev.get('intervalPeriod')}")
    return None


@check(
    "C043",
    "start: invalid date-times → 400; Z and +02:00 → 201 and the same instant",
    area=VA,
    source="Y301:2462-2466",
    severity="S",
)
def c043(s: Session) -> str | None:
    pid = fx.program(s)["id"]
    for start in ("tomorrow", "2023-13-01T00:00:00Z"):
        bad(s, "POST", "/events", fx.event_body(s, pid, intervalPeriod={"start": start}), f"start {start}")
    for start in ("2023-06-15T09:30:00Z", "2023-06-15T09:30:00+02:00"):
        ev = s.create("/events", fx.event_body(s, pid, intervalPeriod={"start": start, "duration": "PT1H"}))
        got = parse_dt((ev.get("intervalPeriod") or {}).get("start"))
        ensure(got == parse_dt(start), f"start {start} came back as {ev.get('intervalPeriod')}")
    return None


register(
    "C044",
    "The 0001-01-01 'now' sentinel round-trips",
    area=VA,
    source="Y310:2158; UG310:640-652",
    versions=ONLY_310,
    severity="I",
)


@check(
    "C045",
    "confidence 101 and empty eventPayloadDescriptor.payloadType → 400",
    area=VA,
    source="Y301:2326-2334, 2270-2275",
    severity="S",
)
def c045(s: Session) -> str | None:
    bad(
        s,
        "POST",
        "/programs",
        {
            "programName": s.name("c045"),
            "payloadDescriptors": [{"objectType": "REPORT_PAYLOAD_DESCRIPTOR", "payloadType": "USAGE", "confidence": 101}],
        },
        "confidence 101",
    )
    bad(s, "POST", "/events", fx.event_body(s, fx.program(s)["id"], payloadDescriptors=[{"payloadType": ""}]), "payloadType ''")
    return None


register(
    "C046", "eventPayloadDescriptor without objectType → 400", area=VA, source="Y310:2224-2226", versions=ONLY_310, severity="S"
)


@check(
    "C047",
    "Private strings (payload type, units, readingType, attribute type) are accepted unchanged",
    area=VA,
    source="D310:2562-2582; UG310:451",
)
def c047(s: Session) -> str | None:
    sent = fx.event_body(
        s,
        fx.program(s)["id"],
        intervals=[fx.interval(0, "PRIVATE_ALGORITHM", [7])],
        payloadDescriptors=[{"payloadType": "PRIVATE_ALGORITHM", "units": "MY_UNIT"}],
        reportDescriptors=[{"payloadType": "PRIVATE_REPORT", "readingType": "X"}],
    )
    ev = s.create("/events", sent)
    got = body_dict(expect(s.get(f"/events/{ev['id']}"), 200))
    ensure(got["intervals"][0]["payloads"][0]["type"] == "PRIVATE_ALGORITHM", "payload type changed")
    ensure((got.get("payloadDescriptors") or [{}])[0].get("units") == "MY_UNIT", "units changed")
    ensure((got.get("reportDescriptors") or [{}])[0].get("readingType") == "X", "readingType changed")
    ven = s.create("/vens", {"venName": s.name("c047"), "attributes": [{"type": "FOO", "values": ["bar"]}]})
    ensure((ven.get("attributes") or [{}])[0].get("type") == "FOO", "attribute type changed")
    return None


@check(
    "C048", "valuesMap.values with mixed types (number, int, string, bool, point) round-trip", area=VA, source="Y301:2229-2256"
)
def c048(s: Session) -> str | None:
    values = [0.17, 3, "x", True, {"x": 1.0, "y": 2.0}]
    ev = s.create("/events", fx.event_body(s, fx.program(s)["id"], intervals=[fx.interval(0, "CONTROL_SETPOINT", values)]))
    resp = expect(s.get(f"/events/{ev['id']}"), 200)
    got = body_dict(resp)["intervals"][0]["payloads"][0]["values"]
    ensure(same(values, got), f"values came back as {got!r}", resp)
    return None


register(
    "C049",
    "POST /vens without the objectType discriminator → 400",
    area=VA,
    source="Y310:1983-2038",
    versions=ONLY_310,
    severity="S",
)


# ---- F.5 events -------------------------------------------------------------------------------------


@check("C050", "GET /events?programID=P returns only events of P", area=EV, source="Y301:584, 591-597")
def c050(s: Session) -> str | None:
    ev = fx.event(s)
    other = s.create("/events", fx.event_body(s, fx.program_q(s)["id"]))
    got = list_all(s, "/events", programID=ev["programID"])
    ensure(all(e.get("programID") == ev["programID"] for e in got), "an event of another program was returned")
    ensure(ev["id"] in [e.get("id") for e in got] and other["id"] not in [e.get("id") for e in got], "filter result wrong")
    return None


@check(
    "C051",
    "POST /events with an unknown programID → 400/404/409, nothing created",
    area=EV,
    source="UG310:2683; Y310:1687",
    severity="I",
)
def c051(s: Session) -> str | None:
    resp = s.post("/events", fx.event_body(s, "doesnotexist" + s.prefix.replace("-", "")))
    if resp.status == 201 and isinstance(resp.json, dict):
        s.cleanup.append(("bl", "DELETE", f"/events/{resp.json.get('id')}"))
    expect(resp, {400, 404, 409})
    return f"answered {resp.status}"


@check("C052", "A fully populated event round-trips through GET", area=EV, source="Y301:1930-1997; UG310:733-780")
def c052(s: Session) -> str | None:
    sent = fx.event_body(
        s,
        fx.program(s)["id"],
        priority=3,
        targets=[{"type": "GROUP", "values": ["conf-g1", "conf-g2"]}],
        intervalPeriod={"start": "2031-02-01T00:00:00Z", "duration": "PT1H", "randomizeStart": "PT5M"},
        intervals=[
            fx.interval(0, "PRICE", [0.21]),
            {
                "id": 1,
                "intervalPeriod": {"start": "2031-02-01T01:00:00Z", "duration": "PT30M"},
                "payloads": [{"type": "PRICE", "values": [0.25]}],
            },
            {
                "id": 2,
                "intervalPeriod": {"start": "2031-02-01T01:30:00Z", "duration": "PT15M"},
                "payloads": [{"type": "PRICE", "values": [0.3]}],
            },
        ],
        payloadDescriptors=[
            {"objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": "PRICE", "units": "KWH", "currency": "GBP"}
        ],
        reportDescriptors=[
            {
                "payloadType": "USAGE",
                "readingType": "DIRECT_READ",
                "units": "KWH",
                "aggregate": True,
                "startInterval": 0,
                "numIntervals": 2,
                "historical": False,
                "frequency": 1,
                "repeat": 2,
            }
        ],
    )
    ev = s.create("/events", sent)
    resp = expect(s.get(f"/events/{ev['id']}"), 200)
    roundtrip(sent, body_dict(resp), resp)
    return None


@check(
    "C053",
    "reportDescriptor defaults come back absent or at their defaults",
    area=EV,
    source="Y301:2335-2413; D310:292-293",
    severity="S",
)
def c053(s: Session) -> str | None:
    ev = s.create("/events", fx.event_body(s, fx.program(s)["id"], reportDescriptors=[{"payloadType": "USAGE"}]))
    rd = (ev.get("reportDescriptors") or [{}])[0]
    defaults = {"aggregate": False, "startInterval": -1, "numIntervals": -1, "historical": True, "frequency": -1, "repeat": 1}
    for key, value in defaults.items():
        ensure(rd.get(key) in (None, value), f"reportDescriptor.{key} = {rd.get(key)!r}, default is {value!r}")
    return None


for _id, _title in (
    ("C054", "GET /events?active=true"),
    ("C055", "Event without intervals → 201"),
    ("C056", "event.duration round-trips"),
):
    register(_id, _title, area=EV, source="Y310:500-505, 1851-1852, 1863-1865", versions=ONLY_310)


# ---- F.6 reports ---------------------------------------------------------------------------------------


@check("C057", "VEN POST /reports → 201 REPORT", area=RE, source="Y301:389-410, 1857-1929")
def c057(s: Session) -> str | None:
    rep = fx.report(s)
    metadata(rep, "REPORT")
    ensure(rep.get("eventID") == fx.event(s)["id"], "eventID not echoed")
    return None


@check(
    "C058",
    "Report missing required fields or with a bad clientName → 400",
    area=RE,
    source="Y301:1860-1864, 1886-1891, 1912-1919",
)
def c058(s: Session) -> str | None:
    fx.own_ven(s, "ven")
    good = fx.report_body(s, fx.event(s))
    for key in ("clientName", "eventID", "resources", "programID"):
        body = {k: v for k, v in good.items() if k != key}
        bad(s, "POST", "/reports", body, f"report without {key}", "ven")
    bad(s, "POST", "/reports", {**good, "resources": [{"intervals": []}]}, "resource without resourceName", "ven")
    bad(s, "POST", "/reports", {**good, "resources": [{"resourceName": "r"}]}, "resource without intervals", "ven")
    for name in ("", "x" * 129):
        bad(s, "POST", "/reports", {**good, "clientName": name}, f"clientName of {len(name)} chars", "ven")
    return None


@check(
    "C059",
    "GET /reports filters by eventID, clientName, programID and their combination",
    area=RE,
    source="Y301:318, 324-344; D310:612-613",
)
def c059(s: Session) -> str | None:
    rep = fx.report(s)
    ev2 = s.create("/events", fx.event_body(s, fx.program(s)["id"]))
    if s.credentials("ven2"):  # a second client: a second clientName for any VTN
        fx.own_ven(s, "ven2")
        rep2 = s.create("/reports", fx.report_body(s, ev2, who="ven2"), "ven2")
    else:
        resp = s.post("/reports", fx.report_body(s, ev2, clientName=s.prefix + "-other"), "ven")
        if resp.status == 400:
            raise Skip("this VTN binds clientName to the VEN's identity: pass --ven2-client to test the clientName filter")
        rep2 = body_dict(expect(resp, 201, "POST /reports"))
        s.cleanup.append(("ven", "DELETE", f"/reports/{rep2['id']}"))
    by_event = ids(expect(s.get("/reports", params={"eventID": rep["eventID"]}), 200))
    ensure(rep["id"] in by_event and rep2["id"] not in by_event, f"eventID filter wrong: {by_event}")
    by_client = ids(expect(s.get("/reports", params={"clientName": rep2["clientName"]}), 200))
    ensure(rep2["id"] in by_client and rep["id"] not in by_client, f"clientName filter wrong: {by_client}")
    by_program = [o.get("id") for o in list_all(s, "/reports", programID=rep["programID"])]
    ensure(rep["id"] in by_program and rep2["id"] in by_program, f"programID filter wrong: {by_program}")
    both = ids(expect(s.get("/reports", params={"programID": rep["programID"], "clientName": rep2["clientName"]}), 200))
    ensure(both == [rep2["id"]], f"combined filter should give only {rep2['id']}, got {both}")
    return None


register("C060", "Report clientID is stamped from the token", area=RE, source="D310:639-640", versions=ONLY_310)


@check("C061", "POST /reports with an unknown eventID → 400/404/409", area=RE, source="UG310:478", severity="I")
def c061(s: Session) -> str | None:
    fx.own_ven(s, "ven")
    ev = dict(fx.event(s), id="doesnotexist" + s.prefix.replace("-", ""))
    resp = s.post("/reports", fx.report_body(s, ev), "ven")
    if resp.status == 201 and isinstance(resp.json, dict):
        s.cleanup.append(("ven", "DELETE", f"/reports/{resp.json.get('id')}"))
    expect(resp, {400, 404, 409})
    return f"answered {resp.status}"


@check(
    "C062",
    "AGGREGATED_REPORT resource with a DATA_QUALITY payload round-trips",
    area=RE,
    source="D310:2951-2997; UG310:1167-1225",
    severity="S",
)
def c062(s: Session) -> str | None:
    fx.own_ven(s, "ven")
    resources = [
        {
            "resourceName": "AGGREGATED_REPORT",
            "intervals": [
                {"id": 0, "payloads": [{"type": "USAGE", "values": [2.5]}, {"type": "DATA_QUALITY", "values": ["MISSING"]}]}
            ],
        }
    ]
    rep = s.create("/reports", fx.report_body(s, fx.event(s), resources=resources), "ven")
    resp = expect(s.get(f"/reports/{rep['id']}", "ven"), 200)
    roundtrip({"resources": resources}, body_dict(resp), resp)
    return None


# ---- F.7 vens and resources ----------------------------------------------------------------------------


@check(
    "C063",
    "BL POST /vens with attributes and targets → 201 VEN; GET returns the same",
    area=VE,
    source="Y301:1224-1245, 2077-2125",
)
def c063(s: Session) -> str | None:
    sent = {
        "venName": s.name("c063"),
        "attributes": [{"type": "DESCRIPTION", "values": ["conformance"]}],
        "targets": [{"type": "GROUP", "values": ["conf-vg"]}],
    }
    ven = s.create("/vens", sent)
    metadata(ven, "VEN")
    resp = expect(s.get(f"/vens/{ven['id']}"), 200)
    roundtrip(sent, body_dict(resp), resp)
    return None


@check("C064", "POST /vens without venName → 400", area=VE, source="Y301:2080-2081", severity="S")
def c064(s: Session) -> str | None:
    bad(s, "POST", "/vens", {"attributes": []}, "ven without venName")
    return None


@check("C065", "Duplicate venName → 409", area=VE, source="Y301:1258-1263, 2099-2101; D310:619-625", severity="S")
def c065(s: Session) -> str | None:
    ven = fx.bl_ven(s)
    resp = s.post("/vens", {"venName": ven["venName"]})
    if resp.status == 201 and isinstance(resp.json, dict):
        s.cleanup.append(("bl", "DELETE", f"/vens/{resp.json.get('id')}"))
    expect(resp, 409, "second ven with the same venName")
    return None


@check("C066", "GET /vens?venName=X → exactly the ven named X", area=VE, source="Y301:1149, 1156-1161")
def c066(s: Session) -> str | None:
    ven = fx.bl_ven(s)
    fx.bl_ven(s, "bl-ven-2")
    got = ids(expect(s.get("/vens", params={"venName": ven["venName"]}), 200))
    ensure(got == [ven["id"]], f"expected [{ven['id']}], got {got}")
    return None


@check(
    "C067", "POST /vens/{venID}/resources → 201 RESOURCE with venID from the path", area=VE, source="Y301:1506-1527, 2155-2157"
)
def c067(s: Session) -> str | None:
    ven = fx.bl_ven(s)
    res = s.create(f"/vens/{ven['id']}/resources", {"resourceName": s.name("c067"), "venID": "other"})
    metadata(res, "RESOURCE")
    ensure(res.get("venID") == ven["id"], f"venID should be {ven['id']}, got {res.get('venID')!r}")
    return None


@check("C068", "POST and GET /vens/doesnotexist/resources → 404", area=VE, source="Y301:1494-1499, 1540-1545")
def c068(s: Session) -> str | None:
    path = f"/vens/doesnotexist{s.prefix.replace('-', '')}/resources"
    expect(s.get(path), 404, "GET")
    resp = s.post(path, {"resourceName": s.name("c068")})
    expect(resp, 404, "POST")
    return None


@check("C069", "GET /vens/{venID}/resources → array; ?resourceName filters", area=VE, source="Y301:1423-1437, 1474-1481")
def c069(s: Session) -> str | None:
    res = fx.resource(s)
    ven_id = res["venID"]
    s.create(f"/vens/{ven_id}/resources", {"resourceName": s.name("c069")})
    all_ids = ids(expect(s.get(f"/vens/{ven_id}/resources"), 200))
    ensure(res["id"] in all_ids and len(all_ids) >= 2, f"list incomplete: {all_ids}")
    got = ids(expect(s.get(f"/vens/{ven_id}/resources", params={"resourceName": res["resourceName"]}), 200))
    ensure(got == [res["id"]], f"resourceName filter: expected [{res['id']}], got {got}")
    return None


@check(
    "C070",
    "Duplicate resourceName in one ven → 409; same name in another ven → 201",
    area=VE,
    source="Y301:1546-1551, 2147-2152; D310:626",
    severity="S",
)
def c070(s: Session) -> str | None:
    res = fx.resource(s)
    resp = s.post(f"/vens/{res['venID']}/resources", {"resourceName": res["resourceName"]})
    if resp.status == 201 and isinstance(resp.json, dict):
        s.cleanup.append(("bl", "DELETE", f"/vens/{res['venID']}/resources/{resp.json.get('id')}"))
    expect(resp, 409, "duplicate resourceName")
    other = fx.bl_ven(s, "bl-ven-2")
    s.create(f"/vens/{other['id']}/resources", {"resourceName": res["resourceName"]})
    return None


@check("C071", "A resource addressed under the wrong ven → 404", area=VE, source="Y301:1572-1611", severity="I")
def c071(s: Session) -> str | None:
    res = fx.resource(s)
    other = fx.bl_ven(s, "bl-ven-2")
    path = f"/vens/{other['id']}/resources/{res['id']}"
    expect(s.get(path), 404, "GET")
    expect(s.put(path, {"resourceName": res["resourceName"]}), 404, "PUT")
    expect(s.delete(path), 404, "DELETE")
    expect(s.get(f"/vens/{res['venID']}/resources/{res['id']}"), 200, "the resource itself is intact")
    return None


@check("C072", "/resources top-level endpoint: create, list by venID, GET, delete", area=VE, source="Y310:1054-1196",
       versions=ONLY_310)
def c072(s: Session) -> str | None:
    ven = fx.bl_ven(s)
    made = s.create("/resources", {"resourceName": s.name("c072"), "venID": ven["id"]})
    ensure(made.get("venID") == ven["id"], f"venID {made.get('venID')!r}, expected {ven['id']!r}")
    listed = ids(expect(s.get("/resources", params={"venID": ven["id"]}), 200, "GET /resources?venID="))
    ensure(made["id"] in listed, f"/resources?venID={ven['id']} misses {made['id']}")
    expect(s.get(f"/resources/{made['id']}"), 200, "GET /resources/{id}")
    expect(s.delete(f"/resources/{made['id']}"), 200, "DELETE /resources/{id}")
    s.forget(f"/resources/{made['id']}")
    expect(s.get(f"/resources/{made['id']}"), 404, "GET the deleted resource")
    return None


@check("C073", "POST /resources with unknown venID → 404", area=VE, source="Y310:1157-1160", versions=ONLY_310,
       severity="I")
def c073(s: Session) -> str | None:
    resp = s.post("/resources", {"resourceName": s.name("c073"), "venID": "doesnotexist" + s.prefix.replace("-", "")})
    expect(resp, {404, 400}, "POST /resources with an unknown venID")
    return None if resp.status == 404 else "400 (the spec names 404 for an unknown ven; 400 accepted)"

__all__ = ["Fail"]


# ---- update and delete of the other object types ------------------------------------------------------


def _put_delete(s: Session, path: str, body: dict[str, Any], who: str, changed: str) -> None:
    resp = expect(s.put(path, body, who), 200, f"PUT {path}")
    ensure(same(body.get(changed), body_dict(resp).get(changed)), f"{changed} not updated", resp)
    resp = expect(s.delete(path, who), 200, f"DELETE {path}")
    ensure(body_dict(resp).get("id") == path.rsplit("/", 1)[1], "DELETE did not return the deleted object", resp)
    s.forget(path)
    expect(s.get(path, who), 404, "GET after DELETE")


@check("L001", "VEN PUT and DELETE of its own report → 200; then 404", area=RE, source="Y301:484-575")
def l001(s: Session) -> str | None:
    fx.own_ven(s, "ven")
    ev = fx.event(s)
    rep = s.create("/reports", fx.report_body(s, ev), "ven")
    _put_delete(s, f"/reports/{rep['id']}", fx.report_body(s, ev, reportName="updated"), "ven", "reportName")
    return None


@check("L002", "PUT and DELETE of a ven → 200; then 404", area=VE, source="Y301:1318-1409")
def l002(s: Session) -> str | None:
    ven = s.create("/vens", {"venName": s.name("l002")})
    _put_delete(s, f"/vens/{ven['id']}", {"venName": ven["venName"] + "-x"}, "bl", "venName")
    return None


@check("L003", "PUT and DELETE of a resource → 200; then 404", area=VE, source="Y301:1612-1703")
def l003(s: Session) -> str | None:
    ven = fx.bl_ven(s)
    res = s.create(f"/vens/{ven['id']}/resources", {"resourceName": s.name("l003")})
    path = f"/vens/{ven['id']}/resources/{res['id']}"
    _put_delete(
        s,
        path,
        {"resourceName": res["resourceName"] + "-x", "attributes": [{"type": "DESCRIPTION", "values": ["x"]}]},
        "bl",
        "attributes",
    )
    return None


@check("L004", "PUT and DELETE of an event → 200; then 404", area=EV, source="Y301:751-843")
def l004(s: Session) -> str | None:
    ev = s.create("/events", fx.event_body(s, fx.program(s)["id"]))
    _put_delete(s, f"/events/{ev['id']}", fx.event_body(s, ev["programID"], priority=2), "bl", "priority")
    return None


@check("L005", "Deleting a ven removes its resources (GET → 404)", area=VE, source="Y301:1370-1409, 2126-2157", severity="I")
def l005(s: Session) -> str | None:
    ven = s.create("/vens", {"venName": s.name("l005")})
    res = s.create(f"/vens/{ven['id']}/resources", {"resourceName": s.name("l005")})
    expect(s.delete(f"/vens/{ven['id']}"), 200)
    s.forget(f"/vens/{ven['id']}")
    s.forget(f"/vens/{ven['id']}/resources/{res['id']}")
    expect(s.get(f"/vens/{ven['id']}/resources/{res['id']}"), 404, "resource of a deleted ven")
    return None
