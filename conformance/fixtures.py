"""Objects the checks share, created once per run under the run's name prefix."""

from __future__ import annotations

from typing import Any

from conformance.core import Fail, Session, Skip, body_list, expect
from conformance.receiver import Receiver

FUTURE = "2031-01-01T00:00:00Z"


def interval(i: int = 0, payload_type: str = "SIMPLE", values: list[Any] | None = None) -> dict[str, Any]:
    return {"id": i, "payloads": [{"type": payload_type, "values": values if values is not None else [1]}]}


def event_body(s: Session, program_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "programID": program_id,
        "eventName": s.name("E"),
        "intervalPeriod": {"start": FUTURE, "duration": "PT1H"},
        "intervals": [interval()],
        **extra,
    }


def report_body(s: Session, ev: dict[str, Any], who: str = "ven", **extra: Any) -> dict[str, Any]:
    """A report as `who` sends it: a VEN names itself (its venName) as clientName."""
    return {
        "programID": ev["programID"],
        "eventID": ev["id"],
        "clientName": s.ven_names.get(who) or s.prefix + "-client",
        "resources": [{"resourceName": "r1", "intervals": [interval(0, "USAGE", [1.5])]}],
        **extra,
    }


def program(s: Session, key: str = "program", **extra: Any) -> dict[str, Any]:
    return s.fixture(key, lambda: s.create("/programs", {"programName": s.name(key), **extra}))


def program_q(s: Session) -> dict[str, Any]:
    return program(s, "program-q")


def event(s: Session) -> dict[str, Any]:
    return s.fixture("event", lambda: s.create("/events", event_body(s, program(s)["id"])))


def own_ven(s: Session, who: str = "ven") -> dict[str, Any]:
    """The ven object of a VEN client (named --ven-name, default its client id); created if missing."""

    def make() -> dict[str, Any]:
        name = s.ven_names[who]
        if not name:
            raise Skip(f"no {who} client configured")
        resp = s.get("/vens", who, params={"venName": name})
        if resp.status == 200:
            found = [v for v in body_list(resp) if isinstance(v, dict) and v.get("venName") == name]
            if found:
                s.notes[f"{who}-ven-preexisting"] = True
                return found[0]
        return s.create("/vens", {"venName": name}, who)

    return s.fixture(f"own-ven-{who}", make)


def report(s: Session) -> dict[str, Any]:
    def make() -> dict[str, Any]:
        own_ven(s, "ven")
        return s.create("/reports", report_body(s, event(s)), "ven")

    return s.fixture("report", make)


def bl_ven(s: Session, key: str = "bl-ven") -> dict[str, Any]:
    return s.fixture(key, lambda: s.create("/vens", {"venName": s.name(key)}))


def resource(s: Session) -> dict[str, Any]:
    def make() -> dict[str, Any]:
        ven = bl_ven(s)
        return s.create(f"/vens/{ven['id']}/resources", {"resourceName": s.name("res")})

    return s.fixture("resource", make)


def receiver(s: Session) -> Receiver:
    if s._receiver is None:
        host, _, port = s.config.callback_host.rpartition(":")
        try:
            s._receiver = Receiver(host or "127.0.0.1", int(port or 0), s.config.callback_url, s.adapter.notification)
        except OSError as exc:
            raise Skip(f"cannot listen on --callback-host {s.config.callback_host}: {exc}") from exc
    return s._receiver


def callback(s: Session, path: str) -> str:
    return f"{receiver(s).url}/{s.prefix}/{path.lstrip('/')}"


def subscription_body(
    s: Session, program_id: str, entries: list[dict[str, Any]], who: str = "bl", **extra: Any
) -> dict[str, Any]:
    """A subscription as `who` sends it: a VEN names itself (its venName) as clientName."""
    client = s.ven_names.get(who) or s.prefix + "-client"
    return {"clientName": client, "programID": program_id, "objectOperations": entries, **extra}


def entry(s: Session, path: str, objects: list[str], operations: list[str], token: str | None = "tok123") -> dict[str, Any]:
    out: dict[str, Any] = {"objects": objects, "operations": operations, "callbackUrl": callback(s, path)}
    if token:
        out["bearerToken"] = token
    return out


def subscription(s: Session) -> dict[str, Any]:
    def make() -> dict[str, Any]:
        body = subscription_body(s, program(s)["id"], [entry(s, "idle", ["EVENT"], ["CREATE"])])
        return s.create("/subscriptions", body)

    return s.fixture("subscription", make)


def require_created(resp_status: int, what: str) -> None:
    if resp_status != 201:
        raise Fail(f"could not create {what}")


__all__ = ["expect"]
