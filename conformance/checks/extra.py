"""ETag/304 where offered, object privacy with two VENs (detected, not required), GB profile rules."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from conformance import fixtures as fx
from conformance.checks.objects import list_all
from conformance.core import ONLY_310, Fail, Session, Skip, body_dict, check, ensure, expect, ids, register

ET, PR, GB = "etag", "privacy", "gb-profile"


# ---- ETag ----------------------------------------------------------------------------------------


def _etag(s: Session, path: str) -> str:
    resp = expect(s.get(path), 200)
    tag = resp.headers.get("etag")
    if not tag:
        raise Skip(f"not offered: GET {path} has no ETag header")
    return tag


@check(
    "T001", "If-None-Match with the current ETag → 304 without a body", area=ET, source="RFC 9110 §13.1.2, §15.4.5", severity="S"
)
def t001(s: Session) -> str | None:
    path = f"/programs/{fx.program(s)['id']}"
    tag = _etag(s, path)
    resp = expect(s.get(path, headers={"If-None-Match": tag}), 304)
    ensure(resp.text == "", "304 with a body", resp)
    return None


@check(
    "T002", "After a PUT the ETag changes and the old one no longer yields 304", area=ET, source="RFC 9110 §8.8.3", severity="S"
)
def t002(s: Session) -> str | None:
    p = s.create("/programs", {"programName": s.name("etag")})
    path = f"/programs/{p['id']}"
    tag = _etag(s, path)
    expect(s.put(path, {"programName": p["programName"], "programLongName": "v2"}), 200)
    resp = expect(s.get(path, headers={"If-None-Match": tag}), 200, "stale If-None-Match")
    ensure(resp.headers.get("etag") != tag, "ETag unchanged after an update", resp)
    return None


@check("T003", "List responses: If-None-Match with the list's ETag → 304", area=ET, source="RFC 9110 §13.1.2", severity="I")
def t003(s: Session) -> str | None:
    tag = _etag(s, "/vens?venName=" + fx.bl_ven(s)["venName"])
    expect(s.get("/vens?venName=" + fx.bl_ven(s)["venName"], headers={"If-None-Match": tag}), 304)
    return None


@check(
    "T004",
    "ETag is not shared across clients with different views (Vary or distinct tags)",
    area=ET,
    source="RFC 9110 §12.5.5",
    severity="I",
)
def t004(s: Session) -> str | None:
    resp = expect(s.get("/programs"), 200)
    if not resp.headers.get("etag"):
        raise Skip("not offered: GET /programs has no ETag header")
    vary = resp.headers.get("vary", "").lower()
    cache = resp.headers.get("cache-control", "").lower()
    ensure(
        "authorization" in vary or "private" in cache or "no-store" in cache or "no-cache" in cache,
        "an authenticated list with an ETag should say Vary: Authorization or Cache-Control: private",
        resp,
    )
    return None


# ---- privacy ---------------------------------------------------------------------------------------


def restricted(s: Session) -> bool:
    """True when the VTN hides VEN_A's report from VEN_B (an extension 3.0.1 allows, D310:3314-3316)."""

    def detect() -> bool:
        if not s.credentials("ven2"):
            raise Skip("needs a second VEN client (--ven2-client)")
        rep = fx.report(s)
        fx.own_ven(s, "ven2")
        resp = s.get(f"/reports/{rep['id']}", "ven2")
        return resp.status in (403, 404)

    return s.fixture("privacy", detect)


def private(s: Session) -> None:
    if s.config.privacy and not s.credentials("ven2"):
        raise Fail("--privacy needs a second VEN client (--ven2-client)")
    if not restricted(s):
        if s.config.privacy:
            raise Fail("--privacy: this VTN has no object privacy (VEN_B reads VEN_A's report)")
        raise Skip("not applicable: this VTN does not restrict what a VEN reads (3.0.1 does not require it)")


@check(
    "P000",
    "Detect object privacy (informative): does VEN_B see VEN_A's report?",
    area=PR,
    source="D310:3314-3316; OLR#317",
    severity="I",
)
def p000(s: Session) -> str | None:
    return "restricted: VEN_B cannot read VEN_A's report" if restricted(s) else "open: VEN_B can read VEN_A's report"


@check(
    "P001",
    "VEN_B's report list does not include VEN_A's report; BL's does",
    area=PR,
    source="D310:644-648 (3.0.1 extension)",
    severity="I",
)
def p001(s: Session) -> str | None:
    private(s)
    rep = fx.report(s)
    ensure(rep["id"] not in [o.get("id") for o in list_all(s, "/reports", "ven2")], "VEN_B lists VEN_A's report")
    ensure(rep["id"] in [o.get("id") for o in list_all(s, "/reports", "bl")], "BL does not list VEN_A's report")
    return None


@check(
    "P002",
    "VEN_B cannot read, update or delete VEN_A's report (404/403; unchanged)",
    area=PR,
    source="D310:644-646",
    severity="I",
)
def p002(s: Session) -> str | None:
    private(s)
    rep = fx.report(s)
    path = f"/reports/{rep['id']}"
    expect(s.get(path, "ven2"), {403, 404}, "VEN_B GET")
    expect(s.put(path, fx.report_body(s, fx.event(s), reportName="stolen"), "ven2"), {403, 404}, "VEN_B PUT")
    expect(s.delete(path, "ven2"), {403, 404}, "VEN_B DELETE")
    ensure(body_dict(expect(s.get(path, "ven"), 200)).get("reportName") != "stolen", "the report was changed")
    return None


@check("P003", "VEN_B cannot see or change VEN_A's subscription", area=PR, source="D310:634, 644-646", severity="I")
def p003(s: Session) -> str | None:
    private(s)
    sub = s.fixtures.get("ven-subscription")
    if not isinstance(sub, dict):
        fx.own_ven(s, "ven")
        sub = s.create(
            "/subscriptions",
            fx.subscription_body(s, fx.program(s)["id"], [fx.entry(s, "p3", ["EVENT"], ["CREATE"])], who="ven"),
            "ven",
        )
    expect(s.get(f"/subscriptions/{sub['id']}", "ven2"), {403, 404}, "VEN_B GET")
    expect(s.delete(f"/subscriptions/{sub['id']}", "ven2"), {403, 404}, "VEN_B DELETE")
    ensure(sub["id"] not in ids(expect(s.get("/subscriptions", "ven2"), 200)), "VEN_B lists VEN_A's subscription")
    return None


@check("P004", "VEN_B cannot see or change VEN_A's ven", area=PR, source="D310:634, 644-646", severity="I")
def p004(s: Session) -> str | None:
    private(s)
    ven = fx.own_ven(s, "ven")
    expect(s.get(f"/vens/{ven['id']}", "ven2"), {403, 404}, "VEN_B GET")
    expect(s.put(f"/vens/{ven['id']}", {"venName": ven["venName"], "attributes": []}, "ven2"), {403, 404}, "VEN_B PUT")
    ensure(ven["id"] not in ids(expect(s.get("/vens", "ven2"), 200)), "VEN_B lists VEN_A's ven")
    ensure(ids(expect(s.get("/vens", "ven", params={"venName": ven["venName"]}), 200)) == [ven["id"]], "VEN_A misses its ven")
    return None


@check("P005", "VEN_B cannot see VEN_A's resources", area=PR, source="D310:644-646", severity="I")
def p005(s: Session) -> str | None:
    private(s)
    ven = fx.own_ven(s, "ven")
    res = s.create(f"/vens/{ven['id']}/resources", {"resourceName": s.name("p005")}, "ven")
    listed = expect(s.get(f"/vens/{ven['id']}/resources", "ven2"), {200, 403, 404} if s.adapter.version == "3.1.0"
                    else {403, 404}, "VEN_B lists VEN_A's resources")
    # 3.1.0 lists resources at /resources?venID=…: a filtered (empty) list is the answer there, no ven path to refuse
    ensure(listed.status != 200 or res["id"] not in ids(listed), "VEN_B's list shows VEN_A's resource", listed)
    expect(s.get(f"/vens/{ven['id']}/resources/{res['id']}", "ven2"), {403, 404}, "VEN_B GET resource")
    expect(s.get(f"/vens/{ven['id']}/resources/{res['id']}", "ven"), 200, "VEN_A GET own resource")
    return None


def _targeted(s: Session) -> dict[str, Any]:
    def make() -> dict[str, Any]:
        name_a = fx.own_ven(s, "ven")["venName"]
        tg = [{"type": "VEN_NAME", "values": [name_a]}]
        prog = s.create("/programs", {"programName": s.name("p-a"), "targets": tg})
        return {
            "program": prog,
            "event": s.create("/events", fx.event_body(s, prog["id"], targets=tg)),
            "open": s.create("/programs", {"programName": s.name("p-open")}),
        }

    return s.fixture("privacy-targets", make)


@check(
    "P006",
    "A program targeted at VEN_A (VEN_NAME) is visible to VEN_A, hidden from VEN_B; untargeted to both",
    area=PR,
    source="D310:654-666 (3.0.1 extension)",
    severity="I",
)
def p006(s: Session) -> str | None:
    private(s)
    t = _targeted(s)
    a = [o.get("id") for o in list_all(s, "/programs", "ven")]
    b = [o.get("id") for o in list_all(s, "/programs", "ven2")]
    ensure(t["program"]["id"] in a and t["open"]["id"] in a, "VEN_A misses the targeted or the open program")
    ensure(t["program"]["id"] not in b, "VEN_B sees a program targeted at VEN_A only")
    ensure(t["open"]["id"] in b, "VEN_B misses the untargeted program")
    expect(s.get(f"/programs/{t['program']['id']}", "ven2"), {403, 404}, "VEN_B GET targeted program")
    return None


@check("P007", "An event targeted at VEN_A is hidden from VEN_B", area=PR, source="D310:654-666", severity="I")
def p007(s: Session) -> str | None:
    private(s)
    ev = _targeted(s)["event"]
    expect(s.get(f"/events/{ev['id']}", "ven"), 200, "VEN_A GET")
    expect(s.get(f"/events/{ev['id']}", "ven2"), {403, 404}, "VEN_B GET")
    ensure(ev["id"] not in [o.get("id") for o in list_all(s, "/events", "ven2", programID=ev["programID"])], "VEN_B lists it")
    return None


@check(
    "P008",
    "VEN_B cannot create a report or subscription in VEN_A's name by id tricks (PUT on VEN_A's objects)",
    area=PR,
    source="D310:644-646",
    severity="I",
)
def p008(s: Session) -> str | None:
    private(s)
    ven = fx.own_ven(s, "ven")
    expect(s.post(f"/vens/{ven['id']}/resources", {"resourceName": s.name("p008")}, "ven2"), {403, 404}, "VEN_B adds a resource")
    expect(s.delete(f"/vens/{ven['id']}", "ven2"), {403, 404}, "VEN_B deletes VEN_A's ven")
    return None


# ---- isolation (the hostile-tenant cases; docs/security.md) -----------------------------------------


@check(
    "P010",
    "A resource VEN_B names after a target grants it nothing: [VEN_NAME A, RESOURCE_NAME X] stays hidden",
    area=PR,
    source="D310:654-680 (targets are granted by BL, never claimed)",
    severity="I",
)
def p010(s: Session) -> str | None:
    private(s)
    name_a, unit = fx.own_ven(s, "ven")["venName"], s.name("DG")
    ven_b = fx.own_ven(s, "ven2")
    s.create(f"/vens/{ven_b['id']}/resources", {"resourceName": unit}, "ven2")
    program = fx.program(s)
    for targets in ([{"type": "VEN_NAME", "values": [name_a]}, {"type": "RESOURCE_NAME", "values": [unit]}],
                    [{"type": "RESOURCE_NAME", "values": [unit]}]):
        ev = s.create("/events", fx.event_body(s, program["id"], targets=targets))
        expect(s.get(f"/events/{ev['id']}", "ven2"), {403, 404}, f"VEN_B GET event targeted {targets}")
        listed = [o.get("id") for o in list_all(s, "/events", "ven2", programID=program["id"])]
        ensure(ev["id"] not in listed, f"VEN_B lists the event targeted {targets} after naming a resource {unit!r}")
    return None


@check(
    "P011",
    "VEN_B cannot report or subscribe in VEN_A's name (clientName = VEN_A's venName → 4xx, nothing stored)",
    area=PR,
    source="D310:638-648 (VEN-created object privacy: identity from the token)",
    severity="I",
)
def p011(s: Session) -> str | None:
    private(s)
    name_a = fx.own_ven(s, "ven")["venName"]
    fx.own_ven(s, "ven2")
    ev = fx.event(s)
    before = [o.get("id") for o in list_all(s, "/reports", "bl", clientName=name_a)]
    resp = s.post("/reports", fx.report_body(s, ev, who="ven2", clientName=name_a), "ven2")
    if resp.status == 201 and isinstance(resp.json, dict):
        s.cleanup.append(("ven2", "DELETE", f"/reports/{resp.json.get('id')}"))
    ensure(400 <= resp.status < 500, f"VEN_B posted a report as {name_a!r}: {resp.status}", resp)
    ensure([o.get("id") for o in list_all(s, "/reports", "bl", clientName=name_a)] == before,
           "a report in VEN_A's name appeared")
    body = fx.subscription_body(s, fx.program(s)["id"], [fx.entry(s, "p011", ["EVENT"], ["CREATE"])], clientName=name_a)
    resp = s.post("/subscriptions", body, "ven2")
    if resp.status == 201 and isinstance(resp.json, dict):
        s.cleanup.append(("ven2", "DELETE", f"/subscriptions/{resp.json.get('id')}"))
    ensure(400 <= resp.status < 500, f"VEN_B subscribed as {name_a!r}: {resp.status}", resp)
    return None


@check(
    "P012",
    "A VEN cannot write targets on its ven or resources (403); an empty list keeps what BL granted",
    area=PR,
    source="D310:676-677 (only BL may write targets to ven and resource objects)",
    severity="I",
)
def p012(s: Session) -> str | None:
    private(s)
    ven = fx.own_ven(s, "ven2")
    grab = [{"type": "VEN_NAME", "values": [fx.own_ven(s, "ven")["venName"]]}]
    expect(s.put(f"/vens/{ven['id']}", {"venName": ven["venName"], "targets": grab}, "ven2"), {400, 403}, "VEN_B sets targets")
    kept = body_dict(expect(s.get(f"/vens/{ven['id']}", "bl"), 200, "BL GET"))
    ensure(not any(t.get("type") == "VEN_NAME" and grab[0]["values"][0] in (t.get("values") or [])
                   for t in kept.get("targets") or []), "VEN_B's ven now carries VEN_A's name as a target")
    expect(s.put(f"/vens/{ven['id']}", {"venName": ven["venName"], "targets": []}, "ven2"), 200, "VEN_B PUT with []")
    return None


@check(
    "P013",
    "Another operator's BL cannot read, change or delete this operator's program, event or subscription (404)",
    area=PR,
    source="multi-operator VTN (docs/security.md, operator tenancy)",
    severity="I",
)
def p013(s: Session) -> str | None:
    if not s.credentials("bl2"):
        if s.config.privacy:
            raise Fail("--privacy needs a BL client of another operator (--bl2-client)")
        raise Skip("needs a BL client of another operator (--bl2-client)")
    program, ev = fx.program(s), fx.event(s)
    sub = fx.subscription(s)
    objects = {f"/programs/{program['id']}": {"programName": s.name("stolen")},
               f"/events/{ev['id']}": fx.event_body(s, program["id"], eventName="stolen"),
               f"/subscriptions/{sub['id']}": fx.subscription_body(s, program["id"], [fx.entry(s, "x", ["EVENT"], ["CREATE"])])}
    before = {path: body_dict(expect(s.get(path), 200, "BL GET")) for path in objects}
    for path, body in objects.items():
        expect(s.get(path, "bl2"), 404, f"BL2 GET {path}")
        expect(s.put(path, body, "bl2"), 404, f"BL2 PUT {path}")
        expect(s.delete(path, "bl2"), 404, f"BL2 DELETE {path}")
    for path, was in before.items():
        ensure(body_dict(expect(s.get(path), 200, "BL GET")) == was, f"{path} changed")
    ensure(program["id"] not in [o.get("id") for o in list_all(s, "/programs", "bl2")], "BL2 lists the program")
    ensure(sub["id"] not in [o.get("id") for o in list_all(s, "/subscriptions", "bl2")], "BL2 lists the subscription")
    expect(s.post("/events", fx.event_body(s, program["id"]), "bl2"), {404, 409}, "BL2 POST event into the program")
    return None


for _id, _title in (
    ("C106", "VEN_B cannot see VEN_A's report (3.1.0 privacy)"),
    ("C107", "Subscription/ven/resource isolation (3.1.0)"),
    ("C108", "VEN ven clientID stamping"),
    ("C109", "VEN cannot set targets"),
    ("C110", "Target grants decide visibility"),
    ("C111", "Target hiding"),
    ("C112", "Resource targets count as grants"),
    ("C113", "Non-granted target query → []"),
    ("C114", "GET /notifiers"),
    ("C115", "MQTT topic endpoints"),
):
    register(_id, _title, area=PR if _id < "C114" else "notifications", source="D310:630-680; Y310:1301-1396", versions=ONLY_310)
for _id, _title in (
    ("C103", "http:// callbackUrl rejected"),
    ("C104", "echo challenge on subscribe"),
    ("C105", "notifications respect target grants"),
):
    register(_id, _title, area="notifications", source="D310:3326-3327, 668-669", versions=ONLY_310)


# ---- GB profile -------------------------------------------------------------------------------------


def _validator(s: Session) -> Any:
    if (s.config.profile or "").lower() != "gb":
        raise Skip("run with --profile gb")
    try:
        return importlib.import_module("gb_profile.validator")
    except ImportError as exc:
        raise Skip(f"GB profile validator not available: {exc}") from exc


def _violations(func: Callable[[dict[str, Any]], Any], obj: dict[str, Any]) -> list[str]:
    out = []
    for v in func(obj) or []:
        rule = getattr(v, "rule_id", None) or getattr(v, "rule", None) or getattr(v, "id", None)
        out.append(f"{rule}: {getattr(v, 'message', v)}" if rule else str(v))
    return out


def _dump(obj: Any) -> dict[str, Any]:
    return obj.dump() if hasattr(obj, "dump") else obj.model_dump(exclude_none=True, mode="json")


def _gb_programs(s: Session, mod: Any) -> list[dict[str, Any]]:
    is_gb = getattr(mod, "is_gb_program", lambda _p: True)
    return [p for p in list_all(s, "/programs") if isinstance(p, dict) and is_gb(p)]


def _gb_check(kind: str) -> Callable[[Session], str | None]:
    def run(s: Session) -> str | None:
        mod = _validator(s)
        func = getattr(mod, f"validate_{kind}", None)
        if func is None:
            raise Skip(f"validator has no validate_{kind}")
        programs = {p["id"]: p for p in _gb_programs(s, mod)}
        if kind == "program":
            objects = list(programs.values())
        else:
            objects = [o for pid in programs for o in list_all(s, f"/{kind}s", programID=pid)]
        if not objects:
            raise Skip(f"no GB {kind}s on this VTN")
        bad = {}
        for obj in objects:
            problems = (
                _violations(func, obj) if kind != "event" else _violations(lambda o: func(o, programs[o["programID"]]), obj)
            )
            if problems:
                bad[obj.get("id")] = problems[:3]
        ensure(not bad, f"{len(bad)} of {len(objects)} GB {kind}s break GB rules: {dict(list(bad.items())[:3])}")
        return f"{len(objects)} GB {kind}s conform"

    return run


def _example(s: Session) -> dict[str, Any]:
    mod = _validator(s)

    def make() -> dict[str, Any]:
        try:
            examples = importlib.import_module("gb_profile.examples")
        except ImportError as exc:
            raise Skip(f"gb_profile.examples not available: {exc}") from exc
        sent = _dump(examples.example_program())
        sent["programName"] = f"{sent['programName']}-{s.prefix.replace('-', '')}"
        prog = s.create("/programs", sent)
        ev_sent = _dump(examples.example_event(program_id=prog["id"]))
        ev_sent.pop("id", None)
        ev = s.create("/events", ev_sent)
        # A GB VTN never deletes a dispatch, nor the program holding it (docs/gb-profile.md §5.4): both stay, with the
        # run's prefix in the program name; the example's service window is in the past, so nothing is dispatched.
        s.forget(f"/events/{ev['id']}")
        s.forget(f"/programs/{prog['id']}")
        return {"program": prog, "event": ev, "sent": sent, "ev_sent": ev_sent, "mod": mod}

    return s.fixture("gb-example", make)


@check(
    "G005",
    "A GB example program posted to the VTN comes back GB-valid and unchanged",
    area=GB,
    source="GB profile (gb_profile.examples/validator); Y301:1765-1856",
)
def g005(s: Session) -> str | None:
    ex = _example(s)
    resp = expect(s.get(f"/programs/{ex['program']['id']}"), 200)
    got = body_dict(resp)
    problems = _violations(ex["mod"].validate_program, got)
    ensure(not problems, f"the VTN's copy breaks GB rules: {problems[:3]}", resp)
    from conformance.checks.objects import roundtrip

    roundtrip(ex["sent"], got, resp)
    return None


@check(
    "G006",
    "A GB dispatch event posted to the VTN comes back GB-valid and unchanged",
    area=GB,
    source="GB profile (gb_profile.examples/validator); Y301:1930-1997",
)
def g006(s: Session) -> str | None:
    ex = _example(s)
    resp = expect(s.get(f"/events/{ex['event']['id']}"), 200)
    got = body_dict(resp)
    problems = _violations(lambda o: ex["mod"].validate_event(o, ex["program"]), got)
    ensure(not problems, f"the VTN's copy breaks GB rules: {problems[:3]}", resp)
    from conformance.checks.objects import roundtrip

    roundtrip(ex["ev_sent"], got, resp)
    return None


@check("G007", "The GB program is visible to the VEN client and GB-valid in its copy", area=GB, source="GB profile; Y301:51-122")
def g007(s: Session) -> str | None:
    ex = _example(s)
    resp = expect(s.get(f"/programs/{ex['program']['id']}", "ven"), 200, "VEN reads the GB program")
    problems = _violations(ex["mod"].validate_program, body_dict(resp))
    ensure(not problems, f"the VEN's copy breaks GB rules: {problems[:3]}", resp)
    return None


for _n, _kind in ((2, "program"), (3, "event"), (4, "report")):
    register(
        f"G00{_n}",
        f"Every GB {_kind} the VTN serves satisfies the GB profile",
        area=GB,
        source="GB profile rules (gb_profile.validator)",
        func=_gb_check(_kind),
    )
