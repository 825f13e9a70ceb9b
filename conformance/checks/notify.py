"""F.10 subscriptions and webhook notifications, with the suite's own receiver."""

from __future__ import annotations

import time
from typing import Any

from conformance import fixtures as fx
from conformance.checks.objects import bad
from conformance.core import ONLY_310, Fail, Session, Skip, body_dict, check, ensure, expect, register
from conformance.receiver import Delivery

NO = "notifications"
GRACE = 1.0


def setup(s: Session) -> dict[str, Any]:
    """A dedicated program with subscriptions whose callbacks land on distinct receiver paths."""

    def make() -> dict[str, Any]:
        fx.receiver(s)
        prog = s.create("/programs", {"programName": s.name("notify")})
        pid = prog["id"]
        subs = {
            "s1": s.create(
                "/subscriptions",
                fx.subscription_body(
                    s,
                    pid,
                    [
                        fx.entry(s, "s1/e", ["EVENT"], ["CREATE", "UPDATE", "DELETE"], "tok123"),
                        fx.entry(s, "s1/p", ["PROGRAM"], ["CREATE", "UPDATE", "DELETE"], "tok123"),
                    ],
                ),
            ),
            "s2": s.create("/subscriptions", fx.subscription_body(s, pid, [fx.entry(s, "s2", ["EVENT"], ["CREATE"])])),
            "s3": s.create(
                "/subscriptions",
                fx.subscription_body(
                    s,
                    pid,
                    [fx.entry(s, "s3", ["EVENT"], ["CREATE", "UPDATE", "DELETE"])],
                    targets=[{"type": "GROUP", "values": [f"{s.prefix}-match"]}],
                ),
            ),
            "s4": s.create("/subscriptions", fx.subscription_body(s, pid, [fx.entry(s, "s4", ["EVENT"], ["CREATE", "UPDATE"])])),
        }
        return {"program": prog, "subs": subs}

    return s.fixture("notify", make)


def at(s: Session, path: str) -> str:
    return f"/{s.prefix}/{path}"


def wait(s: Session, path: str, object_id: str, operation: str | None = None) -> Delivery | None:
    def match(d: Delivery) -> bool:
        body = d.json if isinstance(d.json, dict) else {}
        obj = body.get("object") if isinstance(body.get("object"), dict) else {}
        return d.path == at(s, path) and obj.get("id") == object_id and (operation is None or body.get("operation") == operation)

    timeout = 1.0 if s.notes.get("no-delivery") else s.config.notify_timeout
    return fx.receiver(s).wait_for(match, timeout)


def got_any(s: Session, path: str, object_id: str) -> list[Delivery]:
    return [
        d
        for d in fx.receiver(s).matching(lambda d: d.path == at(s, path))
        if isinstance(d.json, dict) and isinstance(d.json.get("object"), dict) and d.json["object"].get("id") == object_id
    ]


def need(delivery: Delivery | None, what: str, s: Session) -> Delivery:
    if delivery is None:
        seen = [d.summary() for d in fx.receiver(s).deliveries[-3:]]
        raise Fail(
            f"no notification {what} within {s.config.notify_timeout:.0f} s; "
            f"{len(fx.receiver(s).deliveries)} callbacks received in total" + (f", last: {seen}" if seen else "")
        )
    return delivery


def control(s: Session, what: str) -> dict[str, Any]:
    """Create an event the s1 entry must hear about; absence checks are only trusted once it arrived."""
    n = setup(s)
    ev = s.create("/events", fx.event_body(s, n["program"]["id"]))
    if wait(s, "s1/e", ev["id"], "POST") is None:
        raise Skip(f"cannot verify that {what}: even the control notification did not arrive (see C094)")
    time.sleep(GRACE)
    return ev


@check("C089", "POST /subscriptions → 201 SUBSCRIPTION; GET by id returns the same", area=NO, source="Y301:942-976, 1998-2076")
def c089(s: Session) -> str | None:
    sub = setup(s)["subs"]["s1"]
    ensure(sub.get("objectType") == "SUBSCRIPTION", f"objectType {sub.get('objectType')!r}")
    resp = expect(s.get(f"/subscriptions/{sub['id']}"), 200)
    got = body_dict(resp)
    ensure(
        got.get("objectOperations") == sub.get("objectOperations") and got.get("programID") == sub.get("programID"),
        "GET differs from the POST response",
        resp,
    )
    return None


@check(
    "C090",
    "Subscription missing objectOperations/clientName/programID or entry fields → 400",
    area=NO,
    source="Y301:2004-2007, 2038-2041",
)
def c090(s: Session) -> str | None:
    pid = fx.program(s)["id"]
    good = fx.subscription_body(s, pid, [fx.entry(s, "c090", ["EVENT"], ["CREATE"])])
    for key in ("objectOperations", "clientName", "programID"):
        bad(s, "POST", "/subscriptions", {k: v for k, v in good.items() if k != key}, f"without {key}")
    for key in ("callbackUrl", "objects", "operations"):
        entry = {k: v for k, v in good["objectOperations"][0].items() if k != key}
        bad(s, "POST", "/subscriptions", {**good, "objectOperations": [entry]}, f"entry without {key}")
    return None


@check("C091", "objects:[FOO] or operations:[FOO] → 400", area=NO, source="Y301:2043-2055, 2457-2461", severity="S")
def c091(s: Session) -> str | None:
    pid = fx.program(s)["id"]
    bad(s, "POST", "/subscriptions", fx.subscription_body(s, pid, [fx.entry(s, "c091", ["FOO"], ["CREATE"])]), "objects FOO")
    bad(s, "POST", "/subscriptions", fx.subscription_body(s, pid, [fx.entry(s, "c091", ["EVENT"], ["FOO"])]), "operations FOO")
    return None


@check(
    "C092",
    "operations:[POST] (3.0.0 style): 400 (strict) or accepted (lenient) — recorded",
    area=NO,
    source="Y301:2055 vs Y300",
    severity="I",
)
def c092(s: Session) -> str | None:
    resp = s.post("/subscriptions", fx.subscription_body(s, fx.program(s)["id"], [fx.entry(s, "c092", ["EVENT"], ["POST"])]))
    if resp.status == 201 and isinstance(resp.json, dict):
        s.cleanup.append(("bl", "DELETE", f"/subscriptions/{resp.json.get('id')}"))
        return "lenient: accepted"
    expect(resp, 400)
    return "strict: 400"


register("C093", "Subscription without programID → 201", area=NO, source="Y310:1920-1929", versions=ONLY_310)


@check(
    "C094",
    "Creating an event notifies the subscriber: POST, JSON, objectType EVENT, operation POST, Bearer token",
    area=NO,
    source="D310:490-494; Y301:957-969, 2061-2066, 2421-2456",
)
def c094(s: Session) -> str | None:
    from conformance.schema import load_spec

    n = setup(s)
    ev = s.create("/events", fx.event_body(s, n["program"]["id"]))
    s.fixtures["notify-event"] = ev
    d = wait(s, "s1/e", ev["id"])
    if d is None:
        s.notes["no-delivery"] = True
    d = need(d, f"for the new event {ev['id']} at {fx.callback(s, 's1/e')}", s)
    body = d.json
    ensure(d.method == "POST", f"callback method {d.method}")
    ensure(d.headers.get("content-type", "").startswith("application/json"), f"Content-Type {d.headers.get('content-type')!r}")
    ensure(body.get("objectType") == "EVENT" and body["object"].get("objectType") == "EVENT", f"objectType wrong: {d.summary()}")
    ensure(body.get("operation") == "POST", f"3.0.1 notifications use HTTP verbs: expected POST, got {body.get('operation')!r}")
    ensure(d.headers.get("authorization") == "Bearer tok123", f"Authorization header {d.headers.get('authorization')!r}")
    spec = load_spec()
    problems = spec.errors(spec.component("notification"), body)
    ensure(not problems, "notification does not fit the schema: " + "; ".join(problems))
    return None


@check("C095", "Updating and deleting the event notify PUT and DELETE with the object", area=NO, source="Y301:2432-2436")
def c095(s: Session) -> str | None:
    n = setup(s)
    ev = s.create("/events", fx.event_body(s, n["program"]["id"]))
    s.fixtures["c095-event"] = ev
    need(wait(s, "s1/e", ev["id"], "POST"), "for the create", s)
    expect(s.put(f"/events/{ev['id']}", fx.event_body(s, ev["programID"], eventName=ev["eventName"], priority=5)), 200)
    d = need(wait(s, "s1/e", ev["id"], "PUT"), "with operation PUT", s)
    ensure(d.json["object"].get("priority") == 5, f"the PUT notification does not carry the update: {d.summary()}")
    expect(s.delete(f"/events/{ev['id']}"), 200)
    s.forget(f"/events/{ev['id']}")
    need(wait(s, "s1/e", ev["id"], "DELETE"), "with operation DELETE", s)
    return None


@check("C096", "An entry with operations [CREATE] gets no update notification", area=NO, source="D310:449-451, 490-491")
def c096(s: Session) -> str | None:
    ev = s.fixtures.get("c095-event")
    if not isinstance(ev, dict):
        raise Skip("needs C095's event")
    control(s, "updates are not sent to CREATE-only entries")
    ops = [d.json.get("operation") for d in got_any(s, "s2", ev["id"])]
    ensure("POST" in ops, f"the CREATE-only entry did not even get the create: {ops}")
    ensure("PUT" not in ops and "DELETE" not in ops, f"the CREATE-only entry received {ops}")
    return None


@check("C097", "An entry with objects [EVENT] gets no program notification", area=NO, source="D310:449-451")
def c097(s: Session) -> str | None:
    n = setup(s)
    prog = n["program"]
    expect(s.put(f"/programs/{prog['id']}", {"programName": prog["programName"], "programLongName": "changed"}), 200)
    need(wait(s, "s1/p", prog["id"], "PUT"), "for the program update at the PROGRAM entry", s)
    control(s, "program changes skip EVENT-only entries")
    for path in ("s1/e", "s2", "s4"):
        wrong = [
            d
            for d in fx.receiver(s).matching(lambda d, p=path: d.path == at(s, p))
            if isinstance(d.json, dict) and d.json.get("objectType") == "PROGRAM"
        ]
        ensure(not wrong, f"EVENT-only entry {path} received a PROGRAM notification: {wrong[0].summary() if wrong else ''}")
    return None


@check("C098", "An event in another program is not notified", area=NO, source="D310:449-450; Y301:2029-2031", severity="I")
def c098(s: Session) -> str | None:
    setup(s)
    other = s.create("/events", fx.event_body(s, fx.program_q(s)["id"]))
    control(s, "other programs' events are not notified")
    hits = [
        d
        for d in fx.receiver(s).deliveries
        if isinstance(d.json, dict)
        and isinstance(d.json.get("object"), dict)
        and d.json["object"].get("id") == other["id"]
        and d.path.startswith(at(s, "s"))
    ]
    ensure(not hits, f"notified about an event of another program: {hits[0].summary() if hits else ''}")
    return None


@check(
    "C099",
    "Subscription targets filter notifications: matching notified, non-matching not",
    area=NO,
    source="D310:423-425; Y301:2070-2072",
    severity="I",
)
def c099(s: Session) -> str | None:
    n = setup(s)
    pid = n["program"]["id"]
    match = s.create("/events", fx.event_body(s, pid, targets=[{"type": "GROUP", "values": [f"{s.prefix}-match"]}]))
    miss = s.create("/events", fx.event_body(s, pid, targets=[{"type": "GROUP", "values": [f"{s.prefix}-other"]}]))
    need(wait(s, "s3", match["id"], "POST"), "for the matching targeted event", s)
    control(s, "non-matching targets are not notified")
    ensure(not got_any(s, "s3", miss["id"]), "the targeted subscription was notified about a non-matching event")
    return None


@check("C100", "Two entries: events only at /e, programs only at /p", area=NO, source="D310:453-488 (Figure 5)")
def c100(s: Session) -> str | None:
    setup(s)
    e_hits = fx.receiver(s).matching(lambda d: d.path == at(s, "s1/e"))
    p_hits = fx.receiver(s).matching(lambda d: d.path == at(s, "s1/p"))
    if not e_hits or not p_hits:
        raise Fail(f"expected deliveries at both entries, got {len(e_hits)} at /e and {len(p_hits)} at /p")
    ensure(all(isinstance(d.json, dict) and d.json.get("objectType") == "EVENT" for d in e_hits), "non-EVENT at /e")
    ensure(all(isinstance(d.json, dict) and d.json.get("objectType") == "PROGRAM" for d in p_hits), "non-PROGRAM at /p")
    return None


@check("C101", "After DELETE /subscriptions/{id} no further notifications", area=NO, source="Y301:1101-1116; D310:490-491")
def c101(s: Session) -> str | None:
    n = setup(s)
    sub = n["subs"]["s4"]
    expect(s.delete(f"/subscriptions/{sub['id']}"), 200)
    s.forget(f"/subscriptions/{sub['id']}")
    ev = control(s, "deleted subscriptions stay silent")
    ensure(not got_any(s, "s4", ev["id"]), "the deleted subscription was still notified")
    return None


@check(
    "C102",
    "A failing callback (500) does not block the API: POST /events answers promptly",
    area=NO,
    source="D310:3333, 3338-3341",
    severity="I",
)
def c102(s: Session) -> str | None:
    n = setup(s)
    rec = fx.receiver(s)
    rec.status_for[at(s, "s5")] = 500
    s.create("/subscriptions", fx.subscription_body(s, n["program"]["id"], [fx.entry(s, "s5", ["EVENT"], ["CREATE"])]))
    start = time.monotonic()
    s.create("/events", fx.event_body(s, n["program"]["id"]))
    elapsed = time.monotonic() - start
    ensure(elapsed < 5.0, f"POST /events took {elapsed:.1f} s while the callback fails")
    return f"{elapsed:.2f} s"


@check("N001", "PUT /subscriptions/{id} replaces objectOperations (200)", area=NO, source="Y301:1049-1100")
def n001(s: Session) -> str | None:
    sub = fx.subscription(s)
    body = fx.subscription_body(s, sub["programID"], [fx.entry(s, "idle2", ["EVENT", "PROGRAM"], ["CREATE", "DELETE"])])
    resp = expect(s.put(f"/subscriptions/{sub['id']}", body), 200)
    got = body_dict(resp)
    ensure(
        got.get("objectOperations", [{}])[0].get("callbackUrl") == body["objectOperations"][0]["callbackUrl"],
        "callbackUrl not updated",
        resp,
    )
    return None


@check("N002", "A callbackUrl that is not a URI → 400", area=NO, source="Y301:2056-2060 (format: uri)", severity="S")
def n002(s: Session) -> str | None:
    entry = dict(fx.entry(s, "x", ["EVENT"], ["CREATE"]), callbackUrl="not a url")
    bad(s, "POST", "/subscriptions", fx.subscription_body(s, fx.program(s)["id"], [entry]), "callbackUrl 'not a url'")
    return None


@check(
    "N003", "A subscription referencing an unknown programID → 4xx", area=NO, source="Y301:2029-2031; UG310:2683", severity="I"
)
def n003(s: Session) -> str | None:
    resp = s.post(
        "/subscriptions",
        fx.subscription_body(s, "doesnotexist" + s.prefix.replace("-", ""), [fx.entry(s, "x", ["EVENT"], ["CREATE"])]),
    )
    if resp.status == 201 and isinstance(resp.json, dict):
        s.cleanup.append(("bl", "DELETE", f"/subscriptions/{resp.json.get('id')}"))
    expect(resp, {400, 404, 409})
    return f"answered {resp.status}"
