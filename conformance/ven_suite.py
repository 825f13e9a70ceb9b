"""VEN-side conformance: the suite plays the VTN (`conformance.ven_vtn`) and scripts a network operator.

Each check runs one scenario against the VEN under test and judges what the VEN did, from the requests the
scripted VTN recorded: tokens, polls, registrations, subscriptions, acknowledgements, reports. Checks are
independent (each makes its own dispatch), so `--only` can run any subset. Results use the VTN suite's
`Check`/`Result`/`Run`, so the reports (terminal, JSON, JUnit, Markdown) are the same.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import parse_qs

from joserfc.jwk import ECKey

from conformance.core import Check, Config, Fail, Outcome, Result, Run, Skip, run_one
from conformance.ven_vtn import MAX_LIMIT, ScriptedVtn, Seen
from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.products import ProductCode, SetpointKind
from gb_profile.signing import sign_event
from gb_profile.validator import readback_mismatches, validate_report

T = TypeVar("T")
VERSIONS = ("3.0.1",)
GB = "docs/gb-profile.md"
SPEC = "OpenADR 3.0.1 User Guide"


@dataclass
class VenSuiteConfig:
    ven_client: tuple[str, str]
    ven_name: str
    mode: str = "pull"  # pull | push
    listen: str = "127.0.0.1:0"
    public_url: str | None = None
    operator_id: str = "NGED"
    operator_key: ECKey | None = None  # signs every dispatch; the VEN verifies with its public part
    dispatch_unit: str | None = None  # default: the VEN's first resource
    token_lifetime: float = 30.0
    # the acknowledgement period of the suite's contract, stated in the program's terms (GB profile §2.1, §6.1.1)
    ack_period: float = 60.0
    ack_deadline: float | None = None  # overrides the period the checks read from the program
    start_timeout: float = 300.0
    settle: float = 3.0  # how long to watch for something that must not happen
    poll_wait: float = 90.0  # how long to wait for the VEN's next polls (a few of its poll intervals)
    report_wait: float = 0.0  # how long to wait for readings / availability reports
    webhook_signatures: bool = True
    # HTTPS for the suite's VTN; with client_ca, V021 requires the VEN to present a certificate from that CA
    tls_cert: str | None = None
    tls_key: str | None = None
    client_ca: str | None = None
    only: list[str] = field(default_factory=list)


VEN_CHECKS: dict[str, Check] = {}


def ven_check(id: str, title: str, *, area: str, source: str, modes: tuple[str, ...] = ("pull", "push")):
    def decorate(func: Callable[[VenSession], str | None]) -> Callable[[VenSession], str | None]:
        def guarded(session: VenSession) -> str | None:
            if session.config.mode not in modes:
                raise Skip(f"{' and '.join(modes)} mode only")
            return func(session)

        VEN_CHECKS[id] = Check(id, title, area, source, VERSIONS, "M", guarded)  # type: ignore[arg-type]
        return func

    return decorate


def selected_ven_checks(patterns: list[str]) -> list[Check]:
    import fnmatch

    return [c for c in VEN_CHECKS.values()
            if not patterns or any(fnmatch.fnmatch(c.id, p) or fnmatch.fnmatch(c.area, p) for p in patterns)]


@dataclass
class Dispatch:
    event: dict[str, Any]
    instruction: m.DispatchInstruction
    published: float  # monotonic


class VenSession:
    """What the checks work with: the scripted VTN, the VEN's registration, dispatch helpers, evidence."""

    def __init__(self, config: VenSuiteConfig, vtn: ScriptedVtn) -> None:
        self.config = config
        self.vtn = vtn
        self.current: list[Any] = []  # evidence of the running check (core.run_one resets it)
        self.program: dict[str, Any] = {}
        self.anchor: dict[str, Any] = {}
        self.unit = config.dispatch_unit or ""
        self.ack_period = 0.0  # seconds, from the program's contract terms (or --ack-deadline); set by setup()
        self.ack_source = ""
        self.counter = 0
        self.poll_pause = 0.05

    # --- waiting and evidence ----------------------------------------------------------------

    def wait(self, condition: Callable[[], T], within: float, what: str) -> T:
        deadline = time.monotonic() + within
        while True:
            result = condition()
            if result:
                return result
            if time.monotonic() >= deadline:
                raise Fail(f"timed out after {within:g} s waiting for {what}")
            time.sleep(self.poll_pause)

    def watch(self, condition: Callable[[], T], within: float) -> T | None:
        """`condition`'s first truthy value within `within` seconds, else None (for what must not happen)."""
        try:
            return self.wait(condition, within, "")
        except Fail:
            return None

    def evidence(self, items: list[Any]) -> None:
        self.current.extend(items)

    # --- set-up --------------------------------------------------------------------------------

    def ven_object(self) -> dict[str, Any] | None:
        return next((v for v in self.vtn.objects("vens") if v.get("venName") == self.config.ven_name), None)

    def resources(self) -> list[dict[str, Any]]:
        ven = self.ven_object()
        return [r for r in self.vtn.objects("resources") if ven and r.get("venID") == ven["id"]]

    def setup(self) -> None:
        """The program and its anchor event (if not seeded yet), then wait until the VEN has registered (and
        subscribed)."""
        self.program, self.anchor = seed_program(self.config, self.vtn)
        self.ack_period, self.ack_source = self._ack_period()
        wait = self.config.start_timeout
        self.wait(lambda: self.ven_object() and self.resources(), wait, f"the VEN {self.config.ven_name!r} to register "
                  "its ven object and a resource")
        if not self.unit:
            self.unit = self.resources()[0]["resourceName"]
        if self.config.mode == "push":
            self.watch(self.subscriptions, wait)

    def _ack_period(self) -> tuple[float, str]:
        """The acknowledgement period: --ack-deadline, else `ackPeriodSeconds` of the contract terms the program links
        (programDescriptions[].URL, docs/gb-profile.md §2.1), as a VEN would read it."""
        if self.config.ack_deadline is not None:
            return self.config.ack_deadline, "--ack-deadline"
        for description in self.program.get("programDescriptions") or []:
            terms = self.vtn.terms_at(str(description.get("URL") or ""))
            if terms and isinstance(terms.get("ackPeriodSeconds"), int | float) and terms["ackPeriodSeconds"] > 0:
                return float(terms["ackPeriodSeconds"]), f"the program's contract terms ({description['URL']})"
        raise Fail(f"the program {self.program.get('programName')!r} links no contract terms with an "
                   "ackPeriodSeconds; give --ack-deadline")

    def subscriptions(self) -> list[dict[str, Any]]:
        return [s for s in self.vtn.objects("subscriptions")
                if s.get("programID") in (None, self.program.get("id"))
                and any("EVENT" in (o.get("objects") or []) for o in s.get("objectOperations") or [])]

    # --- dispatches ---------------------------------------------------------------------------

    def instruction(self, label: str, lead: timedelta = timedelta(hours=2)) -> m.DispatchInstruction:
        """A RUN dispatch of the VEN's unit starting `lead` from now (negative: history, over before now)."""
        self.counter += 1
        now = datetime.now(UTC).replace(microsecond=0)
        start = (now + lead).replace(second=0)
        if lead < timedelta(0):
            now = start - timedelta(hours=1)
        setpoints = (m.Setpoint(start, -100.0, m.ServiceUnits.KW, SetpointKind.DELTA, price=0.35),
                     m.Setpoint(start + timedelta(minutes=30), -80.0, m.ServiceUnits.KW, SetpointKind.DELTA, price=0.35))
        return m.DispatchInstruction(
            operator_id=self.config.operator_id, dispatch_ref=f"D-{label}-{uuid.uuid4().hex[:6].upper()}", revision=1,
            status=m.DispatchStatus.RUN, instruction_time=now, fsp_id=self.config.ven_name, dispatch_unit=self.unit,
            contract_id="C-SUITE", service_start=start, service_end=start + timedelta(hours=1), setpoints=setpoints)

    def _body(self, ins: m.DispatchInstruction, event_id: str | None) -> dict[str, Any]:
        event = b.build_event(ins, self.program["id"], event_id=event_id)
        if self.config.operator_key is not None:
            event = sign_event(event, self.config.operator_key)
        return event.content()

    def dispatch(self, ins: m.DispatchInstruction, event_id: str | None = None,
                 tamper: Callable[[dict[str, Any]], None] | None = None) -> Dispatch:
        body = self._body(ins, event_id)
        if tamper is not None:
            tamper(body)
        started = time.monotonic()
        event = self.vtn.publish("events", body, event_id)
        return Dispatch(event, ins, started)

    def revise(self, previous: Dispatch, ins: m.DispatchInstruction) -> Dispatch:
        return self.dispatch(ins, previous.event["id"])

    def acks(self, event_id: str) -> list[tuple[Seen, m.Acknowledgement | None, dict[str, Any]]]:
        out = []
        for seen in self.vtn.requests():
            body = seen.body if isinstance(seen.body, dict) else {}
            if (seen.method == "POST" and seen.path == "/reports" and seen.status == 201
                    and body.get("eventID") == event_id and body.get("reportName") == m.R_ACK):
                try:
                    ack: m.Acknowledgement | None = b.parse_ack_report(body)
                except (m.ProfileError, ValueError):
                    ack = None
                out.append((seen, ack, body))
        return out

    def expect_ack(self, dispatch: Dispatch, what: str) -> tuple[m.Acknowledgement, float]:
        """Wait until the revision's deadline (GB_INSTRUCTION_TIME + the ack period, GB profile §6.1.1) for an
        ACCEPTED read-back of the dispatch's revision; check it."""
        ins, event_id = dispatch.instruction, dispatch.event["id"]
        deadline = ins.instruction_time + timedelta(seconds=self.ack_period)
        within = max(0.0, (deadline - datetime.now(UTC)).total_seconds())

        def found() -> tuple[Seen, m.Acknowledgement | None, dict[str, Any]] | None:
            # the first acknowledgement posted after this revision was published is its read-back
            return next((item for item in self.acks(event_id) if item[0].at >= dispatch.published), None)

        try:
            seen, ack, body = self.wait(found, within, f"the acknowledgement of {what} ({ins.event_name} revision "
                                        f"{ins.revision}) by its deadline {deadline:%H:%M:%S} UTC")
        except Fail:
            self.evidence(self._ack_evidence(event_id))
            raise
        self.evidence([seen])
        latency = seen.at - dispatch.published
        problems = [f"{v.rule} {v.path}: {v.message}" for v in validate_report(body, dispatch.event)]
        problems += [f"{v.rule}: {v.message}" for v in readback_mismatches(body, dispatch.event)]
        if ack is None or problems:
            raise Fail(f"the acknowledgement of {what} breaks the GB profile: {'; '.join(problems) or 'unparseable'}")
        expected = {"dispatch ref": (ack.event_name, ins.event_name), "revision": (ack.revision, ins.revision),
                    "status": (ack.status, ins.status), "dispatch unit": (ack.dispatch_unit, ins.dispatch_unit),
                    "FSP": (ack.fsp_id, ins.fsp_id), "result": (ack.result, m.AckResult.ACCEPTED)}
        wrong = [f"{k} {got!s} (expected {want!s})" for k, (got, want) in expected.items() if got != want]
        if wrong:
            raise Fail(f"the read-back of {what} is wrong: {', '.join(wrong)}")
        return ack, latency

    def _ack_evidence(self, event_id: str) -> list[Seen]:
        mine = [s for s in self.vtn.requests() if s.method != "GET" or "events" in s.path]
        return [s for s in mine if isinstance(s.body, dict) and s.body.get("eventID") == event_id][-3:] or mine[-3:]


def seed_program(config: VenSuiteConfig, vtn: ScriptedVtn) -> tuple[dict[str, Any], dict[str, Any]]:
    """Publish the suite's GB program and its anchor event once. Called before the VEN starts, as on a real VTN:
    a push VEN subscribes to the programs it finds at start-up."""
    programs = vtn.objects("programs")
    if not programs:
        # the contract's terms are published as data and linked from the program, as the GB profile says (§1, §2.1)
        terms = {"operatorID": config.operator_id, "contractID": "C-SUITE", "venName": config.ven_name,
                 "product": ProductCode.SU.value,  # whole seconds as an integer, as §2.1 has them
                 "ackPeriodSeconds": int(config.ack_period) if float(config.ack_period).is_integer() else config.ack_period}
        contract = m.Contract(operator_id=config.operator_id, contract_id="C-SUITE", fsp_id=config.ven_name,
                              product=ProductCode.SU, dispatch_units=(config.dispatch_unit or "DU-1",), cmz=None,
                              ack_period=timedelta(seconds=config.ack_period),
                              terms_url=vtn.publish_terms("C-SUITE", terms))
        programs = [vtn.publish("programs", b.build_program(ProductCode.SU, contract, suffix="CONFORMANCE").content())]
        anchor = b.build_anchor_event(programs[0]["id"], config.operator_id, datetime.now(UTC) - timedelta(days=1))
        vtn.publish("events", anchor.content())
    anchor_event = next(e for e in vtn.objects("events") if b.is_anchor_event(e))
    return programs[0], anchor_event


# --- checks -------------------------------------------------------------------------------------


def _token_requests(session: VenSession) -> list[Seen]:
    return [s for s in session.vtn.requests() if s.path == "/auth/token"]


@ven_check("V001", "Fetches a token with its client credentials (client_credentials grant)", area="auth",
           source=f"{SPEC} §8 (OAuth 2.0 client credentials)")
def v001_token(session: VenSession) -> str | None:
    issued = [s for s in _token_requests(session) if s.status == 200]
    session.evidence(_token_requests(session)[-3:])
    if not issued:
        raise Fail("the VEN never obtained a token")
    refused = [s for s in _token_requests(session) if s.status != 200]
    return f"{len(issued)} token(s) issued" + (f", {len(refused)} refused first" if refused else "")


@ven_check("V002", "Registers its ven (venName) and resources with valid 3.0.1 objects", area="registration",
           source=f"{SPEC} §6 (vens, resources); openadr3.yaml")
def v002_register(session: VenSession) -> str | None:
    ven = session.ven_object()
    if ven is None:
        raise Fail(f"no ven named {session.config.ven_name!r} was created")
    names = [r["resourceName"] for r in session.resources()]
    if not names:
        raise Fail("the VEN registered no resource")
    return f"ven {ven['id']}, resources {', '.join(names)}"


@ven_check("V003", "Push: subscribes to EVENT create/update with a callback URL and a bearer token, and accepts "
           "a valid notification", area="push", source=f"{SPEC} §9 (subscriptions, webhooks)", modes=("push",))
def v003_subscribe(session: VenSession) -> str | None:
    subs = session.subscriptions()
    if not subs:
        raise Fail("the VEN made no subscription to the program's events")
    ops = [o for s in subs for o in s.get("objectOperations") or [] if "EVENT" in (o.get("objects") or [])]
    if not any({"CREATE", "UPDATE"} <= set(o.get("operations") or []) for o in ops):
        raise Fail(f"no subscription asks for EVENT CREATE and UPDATE: {json.dumps(ops)[:300]}")
    if not all(o.get("bearerToken") for o in ops):
        raise Fail("a subscription has no bearerToken: anyone could post notifications to the VEN")
    dispatch = session.dispatch(session.instruction("PUSH"))
    deliveries = [d for d in session.vtn.deliveries if d.at >= dispatch.published]
    session.evidence(deliveries[-2:])
    if not deliveries or not all(d.status is not None and 200 <= d.status < 300 for d in deliveries):
        raise Fail("the VEN's receiver did not accept a valid, signed notification with its bearer token")
    _, latency = session.expect_ack(dispatch, "a dispatch sent by notification")
    return f"{len(subs)} subscription(s); notified dispatch acknowledged after {latency:.2f} s"


@ven_check("V004", "Pull: polls with If-None-Match and accepts 304 Not Modified", area="polling",
           source="RFC 9110 §13.1.2, §15.4.5; docs/ven.md §5", modes=("pull",))
def v004_conditional(session: VenSession) -> str | None:
    def conditional() -> list[Seen]:
        return [s for s in session.vtn.requests() if s.method == "GET" and s.path in ("/events", "/programs")
                and s.status == 304]

    try:
        hits = session.wait(conditional, session.config.poll_wait, "a conditional poll answered 304")
    except Fail as exc:
        session.evidence([s for s in session.vtn.requests() if s.method == "GET" and s.path == "/events"][-3:])
        raise Fail("no poll carried the ETag the VTN sent as If-None-Match (every poll downloaded the full list)") from exc
    first = hits[0]
    session.evidence([first])
    later = session.watch(lambda: [s for s in session.vtn.requests(first.at + 1e-6)
                                   if s.method == "GET" and s.path == first.path], session.config.poll_wait)
    if not later:
        raise Fail("the VEN stopped polling after a 304")
    # accepting a 304 means still acting on the next change
    dispatch = session.dispatch(session.instruction("POLL"))
    session.expect_ack(dispatch, "a dispatch published after 304s")
    return f"{len(hits)} polls answered 304"


@ven_check("V005", "A dispatch is acknowledged (GB_ACK, ACCEPTED) within the ack period with a correct read-back",
           area="dispatch", source=f"{GB} §6.1, GB-R-004..011")
def v005_dispatch(session: VenSession) -> str | None:
    dispatch = session.dispatch(session.instruction("RUN"))
    _, latency = session.expect_ack(dispatch, "a RUN dispatch")
    return f"acknowledged after {latency:.2f} s (period {session.ack_period:g} s, from {session.ack_source})"


def _dispatched(session: VenSession, label: str) -> Dispatch:
    dispatch = session.dispatch(session.instruction(label))
    session.expect_ack(dispatch, "the first revision")
    return dispatch


@ven_check("V006", "A revision is acknowledged with its own revision number and read-back", area="dispatch",
           source=f"{GB} §5.2, §6.1")
def v006_revision(session: VenSession) -> str | None:
    first = _dispatched(session, "REV")
    ins = first.instruction
    setpoints = tuple(replace(s, volume=s.volume - 20.0) for s in ins.setpoints)
    second = session.revise(first, b.revise(ins, datetime.now(UTC).replace(microsecond=0), setpoints=setpoints))
    _, latency = session.expect_ack(second, "revision 2")
    return f"revision 2 acknowledged after {latency:.2f} s"


def _terminal(session: VenSession, label: str, make: Callable[[m.DispatchInstruction, datetime],
              m.DispatchInstruction], what: str) -> str:
    first = _dispatched(session, label)
    now = datetime.now(UTC).replace(microsecond=0)
    final = session.revise(first, make(first.instruction, now))
    _, latency = session.expect_ack(final, what)
    return f"{final.instruction.status} acknowledged after {latency:.2f} s"


@ven_check("V007", "A cancellation (CANCELLED) is acknowledged and read back", area="dispatch", source=f"{GB} §5.3")
def v007_cancel(session: VenSession) -> str | None:
    return _terminal(session, "CAN", lambda ins, now: b.cancel(ins, now), "the cancellation")


@ven_check("V008", "A stop (STOP) is acknowledged and read back", area="dispatch", source=f"{GB} §5.3")
def v008_stop(session: VenSession) -> str | None:
    return _terminal(session, "STP", lambda ins, now: b.stop(ins, ins.service_start + timedelta(minutes=30), now),
                     "the stop")


@ven_check("V009", "An emergency stop (EMERGENCY_STOP) is acknowledged and read back", area="dispatch",
           source=f"{GB} §5.3")
def v009_emergency(session: VenSession) -> str | None:
    return _terminal(session, "EMS", lambda ins, now: b.emergency_stop(ins, ins.service_start, now),
                     "the emergency stop")


@ven_check("V010", "A tampered signed dispatch is refused (no ACCEPTED acknowledgement)", area="signatures",
           source=f"{GB} §7 (dispatch signatures)")
def v010_tampered(session: VenSession) -> str | None:
    if session.config.operator_key is None:
        raise Skip("no --operator-key: dispatches are not signed, so a tampered one cannot be told apart")

    def tamper(body: dict[str, Any]) -> None:  # signed for -100 kW, delivered as -400 kW
        body["intervals"][1]["payloads"][0]["values"] = [-400.0]

    dispatch = session.dispatch(session.instruction("TMP"), tamper=tamper)
    event_id = dispatch.event["id"]

    def decided() -> list[Any]:
        return session.acks(event_id)

    acks = session.watch(decided, session.config.settle) or []
    session.evidence([a[0] for a in acks])
    accepted = [a for a in acks if a[1] is None or a[1].result == m.AckResult.ACCEPTED]
    if accepted:
        raise Fail("the VEN accepted a dispatch whose signature does not match its content")
    return "refused with a REJECTED acknowledgement" if acks else f"no acknowledgement within {session.config.settle:g} s"


@ven_check("V011", "Retries after a 503 and waits the Retry-After it was given", area="resilience",
           source="RFC 9110 §10.2.3, §15.6.4; docs/ven.md (operations notes)")
def v011_retry(session: VenSession) -> str | None:
    retry_after = 2
    event_id = "rty-" + uuid.uuid4().hex[:8]  # the fault meets this dispatch's acknowledgement, not another report
    fault = session.vtn.arm("POST", "/reports", 503, retry_after, event_id=event_id)
    dispatch = session.dispatch(session.instruction("RTY"), event_id)
    try:
        session.expect_ack(dispatch, "a dispatch whose first acknowledgement got a 503")
    finally:
        fault.remaining = 0
    posts = [s for s in session.vtn.requests(dispatch.published) if s.method == "POST" and s.path == "/reports"
             and isinstance(s.body, dict) and s.body.get("eventID") == dispatch.event["id"]]
    refused = [s for s in posts if s.status == 503]
    session.evidence(posts[:3])
    if not refused:
        raise Skip("the acknowledgement never met the injected 503 (sent on another path?)")
    retry = next((s for s in posts if s.at > refused[0].at), None)
    assert retry is not None  # expect_ack found a 201 after the 503
    gap = retry.at - refused[0].at
    if gap < retry_after - 0.2:
        raise Fail(f"the VEN retried {gap:.2f} s after a 503 with Retry-After: {retry_after}")
    return f"retried after {gap:.2f} s (Retry-After: {retry_after})"


def _fake_dispatch(session: VenSession, label: str) -> dict[str, Any]:
    ins = session.instruction(label)
    body = session._body(ins, None)
    return {**body, "id": "fake-" + uuid.uuid4().hex[:8], "objectType": "EVENT",
            "createdDateTime": datetime.now(UTC).isoformat(), "modificationDateTime": datetime.now(UTC).isoformat()}


def _refused_notification(session: VenSession, label: str, *, token: str | None, tamper_signature: bool = False,
                          sign: bool = True) -> str:
    subs = session.subscriptions()
    if not subs:
        raise Skip("the VEN made no subscription")
    op = next(o for s in subs for o in s.get("objectOperations") or [] if "EVENT" in (o.get("objects") or []))
    event = _fake_dispatch(session, label)
    note = ("no Authorization header" if token == "" else "wrong bearer token" if token is not None
            else "valid token, signature of other content" if tamper_signature else "valid token, no webhook signature headers")
    delivery = session.vtn.send_notification(op["callbackUrl"], token if token is not None else op.get("bearerToken", ""),
                                             "EVENT", "POST", event, sign=sign, tamper_signature=tamper_signature,
                                             note=note)
    session.evidence([delivery])
    if delivery.status is None:
        raise Fail(f"the VEN's receiver at {op['callbackUrl']} could not be reached")
    if 200 <= delivery.status < 300:
        raise Fail(f"the VEN's receiver accepted a notification with a {note} (HTTP {delivery.status})")
    acted = session.watch(lambda: session.acks(event["id"]), session.config.settle)
    if acted:
        raise Fail("the VEN acted on the refused notification (it acknowledged its dispatch)")
    return f"refused with HTTP {delivery.status}"


@ven_check("V012", "Push: a notification with a wrong bearer token, or with none, is refused and not acted on",
           area="push", source=f"{SPEC} §9 (bearerToken)", modes=("push",))
def v012_bearer(session: VenSession) -> str | None:
    wrong = _refused_notification(session, "TOK", token="not-" + uuid.uuid4().hex)
    missing = _refused_notification(session, "NOT", token="")
    return f"wrong token {wrong}; no token {missing}"


@ven_check("V013", "Push: a notification with an invalid or missing webhook signature is refused and not acted on",
           area="push", source="Standard Webhooks (v1a); docs/notifications.md", modes=("push",))
def v013_signature(session: VenSession) -> str | None:
    if not session.config.webhook_signatures:
        raise Skip("--no-webhook-signatures: the VEN is not expected to verify notification signatures")
    # the right bearer token both times: only the signature can tell these apart from the VTN's own notifications
    tampered = _refused_notification(session, "SIG", token=None, tamper_signature=True)
    unsigned = _refused_notification(session, "UNS", token=None, sign=False)
    return f"signature of other content {tampered}; unsigned {unsigned}"


@ven_check("V014", "Refreshes its token in time: never presents an expired token, fetches a new one", area="auth",
           source="RFC 6749 §5.1 (expires_in); docs/ven.md (operations notes)")
def v014_refresh(session: VenSession) -> str | None:
    vtn = session.vtn
    with vtn.lock:
        issued = sorted(vtn.tokens.values(), key=lambda t: t.at)
    if not issued:
        raise Fail("the VEN never obtained a token")
    # Outlive the newest token, then make the VEN work (a dispatch): it must fetch a fresh token first, not
    # present the expired one (pull VENs poll anyway; a push VEN may be idle until notified).
    time.sleep(max(0.0, issued[-1].expires - time.monotonic() + 0.2))
    session.expect_ack(session.dispatch(session.instruction("TOK")), "a dispatch after the token's lifetime")
    expired = [s for s in vtn.requests() if s.note == "expired token"]
    session.evidence(expired[:2] + _token_requests(session)[-2:])
    if expired:
        raise Fail(f"the VEN presented an expired token {len(expired)} time(s) instead of refreshing ahead of expiry")
    with vtn.lock:
        issued = sorted(vtn.tokens.values(), key=lambda t: t.at)
    if len(issued) < 2:
        raise Fail("the VEN kept using one token past its lifetime")
    return f"{len(issued)} tokens over {time.monotonic() - vtn.started:.1f} s (lifetime {vtn.token_lifetime:g} s)"


def _gb_report(session: VenSession, name: str, what: str) -> str:
    reports = _reports_named(session, name, what)
    own = {r["resourceName"] for r in session.resources()}
    problems = _profile_problems(session, reports, own if name == m.R_READINGS else None)
    session.evidence(reports[-2:])
    if problems:
        raise Fail(f"{name} breaks the GB profile: " + "; ".join(problems[:5]))
    return f"{len(reports)} {name} report(s) valid"


@ven_check("V015", "Meter readings (GB_READINGS) validate against the GB profile", area="reports",
           source=f"{GB} §6.4, GB-R-012..")
def v015_readings(session: VenSession) -> str | None:
    return _gb_report(session, m.R_READINGS, "readings (`ven gb readings`)")


@ven_check("V016", "Availability declarations (GB_AVAILABILITY) validate against the GB profile", area="reports",
           source=f"{GB} §6.5")
def v016_availability(session: VenSession) -> str | None:
    return _gb_report(session, m.R_AVAILABILITY, "an availability declaration")


@ven_check("V017", "Every object the VEN sent is a valid 3.0.1 object", area="schema", source="openadr3.yaml")
def v017_bodies(session: VenSession) -> str | None:
    with session.vtn.lock:
        invalid = list(session.vtn.invalid_bodies)
    session.evidence(invalid[:3])
    if invalid:
        raise Fail(f"{len(invalid)} request bodies were not valid 3.0.1 objects: {invalid[0].note}")
    sent = [s for s in session.vtn.requests() if s.method in ("POST", "PUT") and s.path != "/auth/token"]
    return f"{len(sent)} bodies, all valid"


@ven_check("V018", "Pull: follows the pages of /events (a dispatch beyond the first page is acted on)",
           area="polling", source=f"{SPEC} §6 (skip, limit); openadr3.yaml searchAllEvents", modes=("pull",))
def v018_pages(session: VenSession) -> str | None:
    # History first (dispatches already over, stored without notifying), so that the new dispatch is listed after
    # more events than one page holds: a VEN reading only the first page never sees it.
    history = MAX_LIMIT + 5 - len(session.vtn.objects("events"))
    if history > 0:
        session.vtn.backfill("events", [session._body(session.instruction("OLD", lead=-timedelta(days=1)), None)
                                        for _ in range(history)])
    dispatch = session.dispatch(session.instruction("PAGE"))
    position = [e["id"] for e in session.vtn.objects("events")].index(dispatch.event["id"])
    try:
        _, latency = session.expect_ack(dispatch, f"a dispatch listed at position {position + 1} of /events")
    except Fail:
        pages = [s for s in session.vtn.requests(dispatch.published) if s.method == "GET" and s.path == "/events"]
        session.evidence(pages[-3:])
        raise
    session.evidence([s for s in session.vtn.requests(dispatch.published) if s.method == "GET" and s.path == "/events"
                      and parse_qs(s.query).get("skip", ["0"])[0] not in ("", "0")][:1])
    return f"dispatch at position {position + 1} (page size {MAX_LIMIT}) acknowledged after {latency:.2f} s"


def _reports_named(session: VenSession, name: str, what: str, wanted: int = 1) -> list[Seen]:
    """The VEN's POSTs and PUTs of `name` reports during the run, waiting (up to --report-wait) for `wanted` of
    them; skip, with how to send them, when there is none."""
    def posted() -> list[Seen]:
        return [s for s in session.vtn.requests() if s.method in ("POST", "PUT") and s.path.startswith("/reports")
                and isinstance(s.body, dict) and s.body.get("reportName") == name]

    session.watch(lambda: len(posted()) >= wanted, session.config.report_wait)
    reports = posted()
    if not reports:
        raise Skip(f"the VEN sent no {name} report during the run (send {what} while the suite runs; "
                   "--report-wait sets how long it waits)")
    return reports


def _profile_problems(session: VenSession, reports: list[Seen], own: set[str] | None = None) -> list[str]:
    events = {e["id"]: e for e in session.vtn.objects("events")}
    problems = []
    for seen in reports:
        event = events.get(seen.body.get("eventID"))
        if event is None:
            problems.append(f"eventID {seen.body.get('eventID')!r} names no event of the VTN")
        problems += [f"{v.rule} {v.path}: {v.message}" for v in validate_report(seen.body, event, own_resources=own)]
        if seen.status >= 400:
            problems.append(f"the VTN refused it: {seen.note or seen.status}")
    return problems


@ven_check("V019", "Heartbeats (GB_HEARTBEAT) validate, go against the anchor event, and are one report kept up to "
           "date by PUT", area="reports", source=f"{GB} §6.2, GB-R-010")
def v019_heartbeat(session: VenSession) -> str | None:
    # two, since only a second heartbeat shows whether the VEN updates its report or adds one each time
    reports = _reports_named(session, m.R_HEARTBEAT, "heartbeats (`ven gb heartbeat`, twice)", wanted=2)
    session.evidence(reports[-2:])
    problems = _profile_problems(session, reports)
    anchors = {e["id"] for e in session.vtn.objects("events") if b.is_anchor_event(e)}
    problems += [f"a heartbeat against event {s.body.get('eventID')!r}, not the anchor event" for s in reports
                 if s.body.get("eventID") not in anchors]
    created = [s for s in reports if s.method == "POST" and s.status == 201]
    if len(created) > 1:  # §6.2: PUT the same report, so heartbeats do not grow the VTN's report list
        problems.append(f"{len(created)} heartbeat reports created by POST instead of one kept up to date by PUT")
    if problems:
        raise Fail("GB_HEARTBEAT: " + "; ".join(problems[:5]))
    updates = len(reports) - len(created)
    return f"{len(reports)} heartbeat(s): {len(created)} created, {updates} updated in place" + (
        "" if updates else " (send two to see the PUT)")


@ven_check("V020", "FSP emergency stops and their clearances (GB_EMERGENCY_STOP) validate and name the VEN's own "
           "units", area="reports", source=f"{GB} §6.3, GB-R-040, GB-R-041")
def v020_emergency_reports(session: VenSession) -> str | None:
    reports = _reports_named(session, m.R_EMERGENCY_STOP, "an emergency stop and its clearance (`ven gb "
                             "emergency-stop`, then with --clear)", wanted=2)
    session.evidence(reports[-2:])
    problems = _profile_problems(session, reports)
    own = {r["resourceName"] for r in session.resources()}
    for seen in reports:
        units = {r.get("resourceName") for r in seen.body.get("resources") or [] if isinstance(r, dict)}
        problems += [f"unit {u!r} is not a resource of the VEN" for u in sorted(units - own, key=str)]
    if problems:
        raise Fail("GB_EMERGENCY_STOP: " + "; ".join(problems[:5]))
    cleared = sum(1 for s in reports if any(p.get("type") == m.P_EMERGENCY_STOP_CLEARED for r in s.body["resources"]
                                             for i in r.get("intervals") or [] for p in i.get("payloads") or []))
    return f"{len(reports) - cleared} stop(s), {cleared} clearance(s), all valid"


@ven_check("V021", "mTLS: presents its client certificate on every request (token and API) when configured with one",
           area="auth", source="RFC 8705 §2; docs/security.md (mTLS)")
def v021_mtls(session: VenSession) -> str | None:
    if not session.vtn.asks_client_certificates:
        raise Skip("the suite's VTN does not ask for client certificates (run with --tls-cert, --tls-key, --client-ca)")
    seen = session.vtn.requests()
    without = [s for s in seen if s.cert is None]
    session.evidence(without[:2] or seen[:1])
    if without:
        raise Fail(f"{len(without)} of {len(seen)} requests presented no client certificate (first: "
                   f"{without[0].method} {without[0].path})")
    certificates = {s.cert for s in seen}
    return f"{len(seen)} requests, each with a client certificate of the client CA ({len(certificates)} distinct)"


# --- runner -------------------------------------------------------------------------------------


def run_ven_suite(config: VenSuiteConfig, vtn: ScriptedVtn,
                  progress: Callable[[int, int, Result], None] | None = None) -> Run:
    """Set up the program, wait for the VEN, run the selected checks in order; `vtn` must be started."""
    checks = selected_ven_checks(config.only)
    session = VenSession(config, vtn)
    started = datetime.now(UTC)
    results: list[Result] = []
    try:
        session.setup()
    except Fail as exc:
        results = [Result(c, Outcome.FAIL if c.id in ("V001", "V002") else Outcome.SKIP, exc.message) for c in checks]
    else:
        for i, c in enumerate(checks, 1):
            result = run_one(session, c)  # type: ignore[arg-type]
            results.append(result)
            if progress:
                progress(i, len(checks), result)
    core_config = Config(vtn_url=vtn.url, bl_client=("", ""), ven_client=config.ven_client, ven_name=config.ven_name,
                         profile="gb", version=vtn.api_version)
    return Run(core_config, results, started, datetime.now(UTC), [], f"ven-{config.mode}",
               suite="VEN", subject=f"VEN {config.ven_name!r} ({config.mode} mode) via {vtn.url}")
