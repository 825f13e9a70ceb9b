"""F.8 filtering and pagination, F.9 protocol errors."""

from __future__ import annotations

from typing import Any

from conformance import fixtures as fx
from conformance.checks.objects import list_all
from conformance.core import ONLY_310, Session, body_list, check, ensure, expect, ids, register

FI, ER = "filters", "errors"


def _targeted_programs(s: Session) -> dict[str, dict[str, Any]]:
    g = s.prefix

    def make() -> dict[str, dict[str, Any]]:
        specs = {
            "g1g2": [{"type": "GROUP", "values": [f"{g}-g1", f"{g}-g2"]}],
            "g3": [{"type": "GROUP", "values": [f"{g}-g3"]}],
            "area-g1": [{"type": "SERVICE_AREA", "values": [f"{g}-g1"]}],
            "none": None,
        }
        out = {}
        for key, targets in specs.items():
            body: dict[str, Any] = {"programName": s.name(f"t-{key}")}
            if targets:
                body["targets"] = targets
            out[key] = s.create("/programs", body)
        return out

    return s.fixture("targeted-programs", make)


@check(
    "C074",
    "targetType=GROUP&targetValues=g1 returns only programs with a GROUP g1 target",
    area=FI,
    source="Y301:58, 65-78; checklist A.4",
    severity="S",
)
def c074(s: Session) -> str | None:
    progs = _targeted_programs(s)
    got = ids(expect(s.get("/programs", params={"targetType": "GROUP", "targetValues": f"{s.prefix}-g1"}), 200))
    ensure(got == [progs["g1g2"]["id"]], f"expected only the GROUP g1/g2 program, got {got}")
    return None


@check(
    "C075",
    "Several targetValues combine with OR",
    area=FI,
    source="EL oadr301 filters.py; OLR@v0.1.4 program.rs:357-366",
    severity="I",
)
def c075(s: Session) -> str | None:
    progs = _targeted_programs(s)
    got = ids(
        expect(s.get("/programs", params={"targetType": "GROUP", "targetValues": [f"{s.prefix}-g1", f"{s.prefix}-g3"]}), 200)
    )
    ensure(sorted(got) == sorted([progs["g1g2"]["id"], progs["g3"]["id"]]), f"expected the g1 and g3 programs, got {got}")
    return None


register("C076", "targets= query filter (3.1.0)", area=FI, source="Y310:63, 70-77", versions=ONLY_310)


@check(
    "C077",
    "Target filters work on /events, /vens, /vens/{id}/resources and /subscriptions",
    area=FI,
    source="Y301:598-611, 872-885, 1162-1175, 1438-1451",
)
def c077(s: Session) -> str | None:
    g = f"{s.prefix}-c077"
    tg = [{"type": "GROUP", "values": [g]}]
    params = {"targetType": "GROUP", "targetValues": g}
    pid = fx.program(s)["id"]
    ev = s.create("/events", fx.event_body(s, pid, targets=tg))
    ven = s.create("/vens", {"venName": s.name("c077"), "targets": tg})
    res = s.create(f"/vens/{ven['id']}/resources", {"resourceName": s.name("c077"), "targets": tg})
    s.create(f"/vens/{ven['id']}/resources", {"resourceName": s.name("c077-untargeted")})
    sub = s.create("/subscriptions", fx.subscription_body(s, pid, [fx.entry(s, "c077", ["EVENT"], ["CREATE"])], targets=tg))
    for path, want in (("/events", ev), ("/vens", ven), (f"/vens/{ven['id']}/resources", res), ("/subscriptions", sub)):
        got = ids(expect(s.get(path, params=params), 200, f"target filter on {path}"))
        ensure(got == [want["id"]], f"GET {path} with a target filter: expected [{want['id']}], got {got}")
    return None


@check("C078", "Filters combine with AND: /events?programID=P plus a target filter", area=FI, source="D310:612-613")
def c078(s: Session) -> str | None:
    g = f"{s.prefix}-c078"
    tg = [{"type": "GROUP", "values": [g]}]
    p, q = fx.program(s)["id"], fx.program_q(s)["id"]
    in_p = s.create("/events", fx.event_body(s, p, targets=tg))
    s.create("/events", fx.event_body(s, q, targets=tg))
    s.create("/events", fx.event_body(s, p))
    got = ids(expect(s.get("/events", params={"programID": p, "targetType": "GROUP", "targetValues": g}), 200))
    ensure(got == [in_p["id"]], f"expected [{in_p['id']}], got {got}")
    return None


@check(
    "C079",
    "/subscriptions?clientName&programID&objects → only subscriptions meeting all three",
    area=FI,
    source="Y301:851-854, 860-893",
)
def c079(s: Session) -> str | None:
    p, q = fx.program(s)["id"], fx.program_q(s)["id"]
    client = s.prefix + "-c079"
    want = s.create("/subscriptions", fx.subscription_body(s, p, [fx.entry(s, "c079", ["EVENT"], ["CREATE"])], clientName=client))
    s.create("/subscriptions", fx.subscription_body(s, q, [fx.entry(s, "c079", ["EVENT"], ["CREATE"])], clientName=client))
    s.create("/subscriptions", fx.subscription_body(s, p, [fx.entry(s, "c079", ["PROGRAM"], ["CREATE"])], clientName=client))
    got = ids(expect(s.get("/subscriptions", params={"clientName": client, "programID": p, "objects": "EVENT"}), 200))
    ensure(got == [want["id"]], f"expected [{want['id']}], got {got}")
    return None


def _paged_programs(s: Session) -> tuple[list[str], dict[str, str]]:
    g = f"{s.prefix}-page"

    def make() -> list[str]:
        return [
            s.create("/programs", {"programName": s.name(f"page{i}"), "targets": [{"type": "GROUP", "values": [g]}]})["id"]
            for i in range(5)
        ]

    return s.fixture("paged-programs", make), {"targetType": "GROUP", "targetValues": g}


@check("C080", "limit/skip pages are disjoint and cover the whole set", area=FI, source="Y301:79-95; D310:608-610")
def c080(s: Session) -> str | None:
    created, params = _paged_programs(s)
    pages = [ids(expect(s.get("/programs", params={**params, "limit": 2, "skip": skip}), 200)) for skip in (0, 2, 4)]
    ensure(all(len(page) <= 2 for page in pages), f"a page exceeded limit=2: {pages}")
    flat = [i for page in pages for i in page]
    ensure(len(flat) == len(set(flat)), f"pages overlap: {pages}")
    ensure(sorted(flat) == sorted(created), f"pages {pages} do not cover {created}")
    return None


@check("C081", "limit=51 → 400; limit=50 → 200 (every list endpoint)", area=FI, source="Y301:87-95", severity="S")
def c081(s: Session) -> str | None:
    ven = fx.bl_ven(s)
    for path in ("/programs", "/events", "/reports", "/subscriptions", "/vens", f"/vens/{ven['id']}/resources"):
        expect(s.get(path, params={"limit": 51}), 400, f"GET {path}?limit=51")
        body_list(expect(s.get(path, params={"limit": 50}), 200, f"GET {path}?limit=50"))
    return None


@check("C082", "limit=-1, skip=-1, limit=abc → 400", area=FI, source="Y301:79-95", severity="S")
def c082(s: Session) -> str | None:
    for params in ({"limit": -1}, {"skip": -1}, {"limit": "abc"}, {"skip": "abc"}):
        expect(s.get("/events", params=params), 400, f"GET /events?{params}")
    return None


@check("C083", "skip beyond the number of objects → 200 []", area=FI, source="Y301:81")
def c083(s: Session) -> str | None:
    _created, params = _paged_programs(s)
    resp = expect(s.get("/programs", params={**params, "skip": 100}), 200)
    ensure(body_list(resp) == [], "expected []", resp)
    return None


@check(
    "C084",
    "Without limit at most 50 items; limit=0 → [] (400 tolerated)",
    area=FI,
    source="Y301:87-95; OLR program.rs:94-101",
    severity="I",
)
def c084(s: Session) -> str | None:
    ensure(len(body_list(expect(s.get("/programs"), 200))) <= 50, "more than 50 programs without a limit")
    resp = expect(s.get("/programs", params={"limit": 0}), {200, 400})
    if resp.status == 200:
        ensure(body_list(resp) == [], "limit=0 returned items", resp)
    return f"limit=0 answered {resp.status}"


@check("F001", "targetType without targetValues → 400 (or ignored)", area=FI, source="checklist A.4 (unspecified)", severity="I")
def f001(s: Session) -> str | None:
    resp = expect(s.get("/programs", params={"targetType": "GROUP"}), {200, 400})
    return f"answered {resp.status}"


@check("F002", "Repeated targetValues keys are accepted (form, explode)", area=FI, source="Y301:72-78 (style form, explode)")
def f002(s: Session) -> str | None:
    progs = _targeted_programs(s)
    resp = expect(s.get(f"/programs?targetType=GROUP&targetValues={s.prefix}-g2&targetValues={s.prefix}-zz"), 200)
    ensure(ids(resp) == [progs["g1g2"]["id"]], "expected the g1/g2 program", resp)
    return None


@check("F003", "A target filter never returns untargeted objects", area=FI, source="checklist A.4", severity="I")
def f003(s: Session) -> str | None:
    progs = _targeted_programs(s)
    got = [o.get("id") for o in list_all(s, "/programs", targetType="GROUP", targetValues=f"{s.prefix}-g1")]
    ensure(progs["none"]["id"] not in got and progs["area-g1"]["id"] not in got, f"wrong programs returned: {got}")
    return None


@check("F004", "A filter matching nothing → 200 []", area=FI, source="D310:644-646")
def f004(s: Session) -> str | None:
    resp = expect(s.get("/vens", params={"venName": s.prefix + "-nobody"}), 200)
    ensure(body_list(resp) == [], "expected []", resp)
    return None


# ---- F.9 errors --------------------------------------------------------------------------------------


@check("C086", "GET {base}/doesnotexist → 404", area=ER, source="D310:347-353")
def c086(s: Session) -> str | None:
    expect(s.get("/doesnotexist"), 404)
    return None


@check(
    "C087",
    "Unsupported method (PATCH, DELETE on /programs) → 405 with Allow (404 tolerated)",
    area=ER,
    source="D310:339",
    severity="I",
)
def c087(s: Session) -> str | None:
    for method in ("PATCH", "DELETE"):
        resp = expect(s.call(method, "/programs", "bl", json={}), {405, 404}, f"{method} /programs")
        if resp.status == 405:
            ensure(bool(resp.headers.get("allow")), "405 without an Allow header", resp)
    return None


@check("C088", "POST /programs with Content-Type text/plain → 400 or 415", area=ER, source="Y301:132-136", severity="I")
def c088(s: Session) -> str | None:
    body = '{{"programName": "{}"}}'.format(s.name("c088"))
    resp = s.call("POST", "/programs", "bl", content=body.encode(), headers={"Content-Type": "text/plain"})
    if resp.status == 201 and isinstance(resp.json, dict):
        s.cleanup.append(("bl", "DELETE", f"/programs/{resp.json.get('id')}"))
    expect(resp, {400, 415})
    return None


@check(
    "E001",
    "An oversized body (5 MB) → 413 or 400, not accepted",
    area=ER,
    source="implementation limit; RFC 9110 §15.5.14",
    severity="I",
)
def e001(s: Session) -> str | None:
    big = {"programName": s.name("big"), "programLongName": "x" * 5_000_000}
    resp = s.post("/programs", big)
    if resp.status == 201 and isinstance(resp.json, dict):
        s.cleanup.append(("bl", "DELETE", f"/programs/{resp.json.get('id')}"))
        raise_skip = "the VTN accepted a 5 MB program (no body size limit)"
        from conformance.core import Skip

        raise Skip(raise_skip)
    expect(resp, {413, 400})
    return None


@check("E002", "GET of a by-id path with a trailing segment → 404", area=ER, source="D310:347-353")
def e002(s: Session) -> str | None:
    expect(s.get(f"/programs/{fx.program(s)['id']}/nothing"), 404)
    return None


@check(
    "E003",
    "Error responses carry a JSON content type (application/json or application/problem+json)",
    area=ER,
    source="Y301:105-110; RFC 9457",
)
def e003(s: Session) -> str | None:
    resp = expect(s.get("/programs/doesnotexist123"), 404)
    ensure(resp.content_type in ("application/json", "application/problem+json"), f"content type {resp.content_type!r}", resp)
    return None
