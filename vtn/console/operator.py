"""Operator pages: Programs, Dispatch (+ preview), Board (live), dispatch record, Emergency stop, VENs (+ outbox),
Delivery, Audit.

Routes declared on `router` are served under `{console_path}/operator/...`; `vtn.console.router`
includes it with `require_operator` and `csrf_protect`, so every route here already needs a signed-in
operator and every unsafe method a valid CSRF token.

Every read and write goes through the services the REST API uses (programs, events, reports, vens,
subscriptions) with the operator's BL `Viewer`, so the GB profile enforcement (`vtn.profiles`) and the
change notifications apply exactly as for a BL client. The notification outbox and last-seen come from
the operator admin functions (`vtn.notifications.admin`), as `/admin/...` serves them.
"""

from __future__ import annotations

import json
import logging
import math
import re
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from joserfc.jwk import ECKey
from sqlmodel.ext.asyncio.session import AsyncSession

from gb_profile import board
from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.emergency import StopScope, select_for_emergency_stop
from gb_profile.identifiers import NETWORK_OPERATORS, OperatorKind
from gb_profile.products import PRODUCTS, Generation, Product, ProductCode, SetpointKind, product_from_program_type
from gb_profile.settlement import LONDON, local_to_utc
from gb_profile.signing import SignatureCheck, check_signature, is_signed, read_signing_key, sign_event
from gb_profile.validator import RULES, Violation, is_gb_program, validate_event
from openadr3.models import OBJECT_ID_PATTERN, Event
from vtn.audit.service import Actor
from vtn.auth.privacy import Viewer
from vtn.console.deps import OperatorAccount, all_pages, viewer_for_account
from vtn.console.templating import redirect, render
from vtn.console.times import london, parse_time
from vtn.core.deps import ReadSession, WriteSession
from vtn.core.errors import BadRequest, Conflict, NotFound
from vtn.core.pagination import Page
from vtn.core.security import Role
from vtn.events import revisions
from vtn.events import service as events
from vtn.gb.evidence import build_evidence
from vtn.gb.keys import fsp_rings, list_fsp_keys, operator_public_keys, operator_ring, report_signature
from vtn.gb.router import download_name
from vtn.notifications import admin
from vtn.profiles import dispatch_warnings, fsp_emergency_stops
from vtn.programs import service as programs
from vtn.programs.models import is_sandbox_name
from vtn.reports import service as reports
from vtn.signoff import service as signoffs
from vtn.subscriptions import service as subscriptions
from vtn.vens import service as vens

router = APIRouter()
log = logging.getLogger("vtn.console")

# (label, path relative to the console) shown in the header for operator accounts, after "Home".
NAV: list[tuple[str, str]] = [
    ("Programs", "/operator/programs"),
    ("Dispatch", "/operator/dispatch"),
    ("Board", "/operator/board"),
    ("Delivery reports", "/operator/delivery-reports"),
    ("VENs", "/operator/vens"),
    ("Audit", "/operator/audit"),
    ("Sign-offs", "/operator/signoffs"),
    ("Availability", "/operator/availability"),
    ("Contract terms", "/operator/terms"),
]

BOARD_PAST = timedelta(hours=6)  # ended dispatches stay on the board this long
REF = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
SUFFIX = re.compile(r"^[A-Za-z0-9_]{1,40}$")
FIELD_OF_RULE = {  # where a validator rule is shown on the dispatch form
    "GB-E-001": "ref", "GB-E-002": "units", "GB-E-003": "units", "GB-E-004": "contract", "GB-E-005": "cmz",
    "GB-E-006": "end", "GB-E-013": "end", "GB-E-017": "end", "GB-E-020": "start", "GB-E-014": "volume",
    "GB-E-021": "volume", "GB-E-022": "kind", "GB-E-019": "status", "GB-E-008": "status", "GB-E-023": "signature",
    # the contract's run-time and notice terms (vtn.contracts.runtime) when they say REFUSE
    "VTN-RT-001": "end", "VTN-RT-002": "end", "VTN-RT-003": "end", "VTN-RT-004": "start",
}
OPENING_STATUSES = (m.DispatchStatus.PRE_NOTIFY, m.DispatchStatus.RUN, m.DispatchStatus.RUN_NOW)
# Object ids as the REST API takes them: anything else is a 400 page, never a database error (NUL on PostgreSQL).
ObjectId = Annotated[str, Path(pattern=OBJECT_ID_PATTERN, min_length=1, max_length=128)]
QueryId = Annotated[str | None, Query(pattern=OBJECT_ID_PATTERN, max_length=128)]
FormId = Annotated[str, Form(pattern=OBJECT_ID_PATTERN, max_length=128)]


# --------------------------------------------------------------------------------------------- helpers


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def local_input(moment: datetime) -> str:
    """The value of a `datetime-local` input for a UTC instant (London wall-clock time)."""
    return moment.astimezone(LONDON).strftime("%Y-%m-%dT%H:%M")


def parse_local(text: str) -> datetime:
    """A `datetime-local` value (London wall-clock, or with an explicit offset) → aware UTC. ValueError if not valid.

    Local times the clock changes skip or repeat are refused (gb_profile.settlement.local_to_utc), and so are
    years no dispatch can have (they would overflow time-zone arithmetic further on).
    """
    text = text.strip()
    if not text:
        raise ValueError("required")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("not a date and time (YYYY-MM-DDTHH:MM)") from None
    if not 2000 <= moment.year <= 9000:
        raise ValueError("out of range (years 2000 to 9000)")
    return local_to_utc(moment)


def offset_hint(text: str) -> str:
    """What a form's London wall-clock value means: `GMT (+00:00) = 2026-11-23T19:50:00Z`, or '' if unparsable."""
    try:
        moment = parse_local(text)
    except ValueError:
        return ""
    local = moment.astimezone(LONDON)
    offset = local.strftime("%z")
    return f"{local.tzname()} ({offset[:3]}:{offset[3:]}) = {b.utc_text(moment)}"


def _kw(value: float | None) -> str:
    return "—" if value is None else f"{value:,.3f}".rstrip("0").rstrip(".")


async def _all(fetch: Callable[[Page], Awaitable[list[Any]]]) -> list[Any]:
    """Every page of a service list call (the services keep the spec's 50-item pages)."""
    return (await all_pages(fetch))[0]


async def _viewer(session: AsyncSession, account: Any) -> Viewer:
    return await viewer_for_account(session, account)


def _page(request: Request, name: str, context: dict[str, Any], **kw: Any) -> HTMLResponse:
    return render(request, name, {"london": london, "kw": _kw, "offset_hint": offset_hint, **context}, **kw)


def signing_key_for(request: Request) -> ECKey | None:
    """The operator's dispatch signing key, when the VTN has one configured (docs/gb-profile.md §7).

    Settings `gb_signing_key_file` (PEM or JWK; `VTN_GB_SIGNING_KEY_FILE`) and `gb_signing_kid`; absent →
    dispatches are sent unsigned, which the profile allows (a VEN with `require_signature` then refuses them
    with a REJECTED ack). A key without a kid gets its JWK thumbprint: a GB signature must name a kid (GB-E-023).
    """
    settings = request.app.state.settings
    path = getattr(settings, "gb_signing_key_file", None)
    if not path:
        return None
    cached = getattr(request.app.state, "console_gb_signing_key", None)
    if isinstance(cached, ECKey):
        return cached
    key = read_signing_key(FilePath(path), getattr(settings, "gb_signing_kid", None))
    request.app.state.console_gb_signing_key = key
    return key


class UnsignedRevision(ValueError):
    """A revision of a signed dispatch while the VTN has no operator key: refused, never sent unsigned silently."""


def _sign(request: Request, event: Event, previous: dict[str, Any] | None = None) -> Event:
    """`event` signed with the operator key; without a key, a revision of a signed dispatch is `UnsignedRevision`."""
    key = signing_key_for(request)
    if key is not None:
        return sign_event(event, key)
    if previous is not None and is_signed(previous):
        raise UnsignedRevision(f"{previous.get('eventName')} is signed, and this VTN has no operator signing key "
                               "(VTN_GB_SIGNING_KEY_FILE): its revisions must be signed too. Configure the key, or "
                               "revise it with `vtn gb revise --signing-key`.")
    return event


def _signature_keys(request: Request) -> list[ECKey]:
    """The operator's public keys the console verifies stored dispatches with (vtn.gb.keys)."""
    return operator_public_keys(request.app.state.settings)


# --------------------------------------------------------------------------------------------- programs


def _catalogue() -> dict[str, list[Product]]:
    groups: dict[str, list[Product]] = {"Legacy ENA names": [], "Current ENA products": []}
    for prod in PRODUCTS.values():
        groups["Legacy ENA names" if prod.generation is Generation.LEGACY else "Current ENA products"].append(prod)
    return groups


def _operators() -> list[Any]:
    order = {OperatorKind.DNO: 0, OperatorKind.SYSTEM_OPERATOR: 1, OperatorKind.IDNO: 2}
    return sorted(NETWORK_OPERATORS.values(), key=lambda o: (order[o.kind], o.id))


def _program_row(doc: dict[str, Any]) -> dict[str, Any]:
    prod = product_from_program_type(doc.get("programType"))
    return {"id": doc.get("id"), "name": doc.get("programName"), "long_name": doc.get("programLongName"),
            "operator": doc.get("retailerName"), "product": prod, "gb": is_gb_program(doc),
            "created": doc.get("createdDateTime")}


async def _programs_page(request: Request, session: AsyncSession, viewer: Viewer, *, form: dict[str, str] | None = None,
                         errors: dict[str, list[str]] | None = None, status_code: int = 200) -> HTMLResponse:
    docs = await _all(lambda page: programs.list_programs(session, viewer, None, page))
    return _page(request, "operator/programs.html", {
        "title": "Programs", "programs": [_program_row(d) for d in docs], "catalogue": _catalogue(),
        "operators": _operators(), "form": form or {"product": "SECURE", "operator": "NGED", "units": "KW", "suffix": "",
                                                    "terms_url": "", "anchor": "on", "valid_from": "", "valid_to": ""},
        "errors": errors or {},
    }, status_code=status_code)


@router.get("/programs", response_class=HTMLResponse)
async def programs_page(request: Request, account: OperatorAccount, session: ReadSession) -> Response:
    return await _programs_page(request, session, await _viewer(session, account))


@router.post("/programs", response_class=HTMLResponse)
async def create_program(
    request: Request,
    account: OperatorAccount,
    session: WriteSession,
    product: Annotated[str, Form(max_length=32)] = "",
    operator: Annotated[str, Form(max_length=16)] = "",
    suffix: Annotated[str, Form(max_length=40)] = "",
    units: Annotated[str, Form(max_length=8)] = "KW",
    terms_url: Annotated[str, Form(max_length=500)] = "",
    anchor: Annotated[str, Form(max_length=8)] = "",
    valid_from: Annotated[str, Form(max_length=40)] = "",
    valid_to: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    viewer = await _viewer(session, account)
    form = {"product": product, "operator": operator, "suffix": suffix, "units": units, "terms_url": terms_url,
            "anchor": anchor, "valid_from": valid_from, "valid_to": valid_to}
    errors: dict[str, list[str]] = {}
    if product not in PRODUCTS:
        errors["product"] = ["Choose a product from the catalogue."]
    if operator not in NETWORK_OPERATORS:
        errors["operator"] = ["Choose a GB network operator."]
    if suffix and not SUFFIX.match(suffix):
        errors["suffix"] = ["Letters, digits and _ only (GB-P-003)."]
    if units not in ("KW", "KVAR"):
        errors["units"] = ["KW (real power) or KVAR (reactive)."]
    if terms_url and not terms_url.startswith(("https://", "http://")):
        errors["terms_url"] = ["An http(s) URL."]
    span: dict[str, datetime | None] = {"valid_from": None, "valid_to": None}
    for name, text in (("valid_from", valid_from), ("valid_to", valid_to)):
        if text:
            try:
                span[name] = parse_local(text)
            except ValueError as exc:
                errors[name] = [f"{exc}."]
    if span["valid_to"] and not span["valid_from"]:
        errors["valid_from"] = ["Give the start of the contract period too."]
    elif span["valid_to"] and span["valid_from"] and span["valid_to"] <= span["valid_from"]:
        errors["valid_to"] = ["After the start."]
    if errors:
        return await _programs_page(request, session, viewer, form=form, errors=errors, status_code=400)
    contract = None
    if terms_url or span["valid_from"]:
        # Only the contract terms a program carries (terms URL, period); the parties' ids live on each dispatch.
        contract = m.Contract(operator, "program", "", ProductCode(product), terms_url=terms_url or None,
                              valid_from=span["valid_from"], valid_to=span["valid_to"])
    body = b.build_program(product, contract, operator_id=operator, suffix=suffix or None, units=m.ServiceUnits(units))
    created = await programs.create_program(session, viewer, body)
    if anchor:
        # The public reporting anchor: heartbeats, readings and availability go against it (§6).
        await events.create_event(session, viewer, b.build_anchor_event(created["id"], operator, now_utc()))
    return redirect(request, "/operator/programs", message=f"Program {created['programName']} created.", level="success")


# --------------------------------------------------------------------------------------------- dispatch


@dataclass
class DispatchForm:
    program_id: str = ""
    units: list[str] = field(default_factory=list)  # "venName|resourceName"
    ref: str = ""
    contract: str = "C-1"
    cmz: str = ""
    start: str = ""
    end: str = ""
    volume: str = ""
    direction: str = "TURN_DOWN"
    kind: str = "DELTA"
    status: str = "RUN"
    price: str = ""


@dataclass
class Built:
    events: list[Event]
    program: dict[str, Any] | None
    errors: dict[str, list[str]]  # field → messages (rule IDs first)
    violations: list[Violation]
    instruction_time: datetime


async def _gb_programs(session: AsyncSession, viewer: Viewer) -> list[dict[str, Any]]:
    docs = await _all(lambda page: programs.list_programs(session, viewer, None, page))
    return [d for d in docs if is_gb_program(d)]


async def _dispatch_units(session: AsyncSession, viewer: Viewer) -> list[dict[str, str]]:
    """Resources of every VEN that may be dispatched: dispatch units, or resources without a GB role."""
    found = []
    for ven in await _all(lambda page: vens.list_vens(session, viewer, None, None, page)):
        for res in await _all(lambda page, ven=ven: vens.list_resources(session, viewer, ven["id"], None, None, page)):
            roles = [v for a in res.get("attributes") or () if a.get("type") == m.A_ROLE for v in a.get("values", ())]
            if roles and m.ResourceRole.DISPATCH_UNIT.value not in roles:
                continue
            found.append({"value": f"{ven['venName']}|{res['resourceName']}", "ven": ven["venName"],
                          "resource": res["resourceName"]})
    return found


def _build(form: DispatchForm, program: dict[str, Any] | None, now: datetime) -> Built:
    """Parse the form into one instruction per dispatch unit and their events; collect errors by field."""
    errors: dict[str, list[str]] = {}

    def err(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    if program is None:
        err("program_id", "Choose a GB program.")
    if not form.units:
        err("units", "Choose at least one dispatch unit.")
    pairs = []
    for unit in form.units:
        fsp, sep, name = unit.partition("|")
        if not sep or not fsp or not name:
            err("units", f"{unit!r} is not a VEN's resource.")
        else:
            pairs.append((fsp, name))
    ref = form.ref.strip()
    if not REF.match(ref):
        err("ref", "1–100 letters, digits, '.', '_' or '-'.")
    contract = form.contract.strip()
    if not contract or len(contract) > 100:
        err("contract", "The contract reference (operator-local).")
    start = end = None
    try:
        start = parse_local(form.start)
    except ValueError as exc:
        err("start", f"Start: {exc}.")
    try:
        end = parse_local(form.end)
    except ValueError as exc:
        err("end", f"End: {exc}.")
    if start and end and end <= start:
        err("end", "The end must be after the start.")
    volume = None
    try:
        volume = float(form.volume)
        if not math.isfinite(volume) or volume < 0:
            raise ValueError
    except ValueError:
        err("volume", "A number of kW, 0 or more.")
    price = None
    if form.price.strip():
        try:
            price = float(form.price)
            if not math.isfinite(price):
                raise ValueError
        except ValueError:
            err("price", "A price in GBP per kWh, or empty.")
    if form.direction not in (m.Direction.TURN_DOWN.value, m.Direction.TURN_UP.value):
        err("direction", "Turn down or turn up.")
    try:
        kind = SetpointKind(form.kind)
    except ValueError:
        err("kind", "Relative to baseline or absolute.")
        kind = SetpointKind.DELTA
    try:
        status = m.DispatchStatus(form.status)
        if status not in OPENING_STATUSES:
            raise ValueError
    except ValueError:
        err("status", "PRE_NOTIFY, RUN or RUN_NOW.")
        status = m.DispatchStatus.RUN
    cmz = form.cmz.strip() or None
    if cmz and not REF.match(cmz):
        err("cmz", "A zone code: letters, digits, '.', '_' or '-'.")
    built: list[Event] = []
    violations: list[Violation] = []
    if errors or program is None or start is None or end is None or volume is None:
        return Built(built, program, errors, violations, now)
    operator_id = str(program.get("retailerName") or "")
    # Direction is carried by the sign (net import positive, §4.4): turn-down lowers import.
    signed = -volume if kind is SetpointKind.DELTA and form.direction == m.Direction.TURN_DOWN.value else volume
    units = m.ServiceUnits.KVAR if any(d.get("units") == "KVAR" for d in program.get("payloadDescriptors") or ()) \
        else m.ServiceUnits.KW
    for index, (fsp, unit) in enumerate(pairs, start=1):
        instruction = m.DispatchInstruction(
            operator_id=operator_id, dispatch_ref=ref if len(pairs) == 1 else f"{ref}-{index}", revision=1,
            status=status, instruction_time=now, fsp_id=fsp, dispatch_unit=unit, contract_id=contract,
            service_start=start, service_end=end, setpoints=(m.Setpoint(start, signed, units, kind, price),), cmz=cmz,
        )
        try:
            event = b.build_event(instruction, str(program["id"]))
        except (m.ProfileError, ValueError) as exc:
            err("general", str(exc))
            continue
        found = validate_event(event, program)
        violations.extend(found)
        for v in found:
            err(FIELD_OF_RULE.get(v.rule, "general"), f"{v.rule}: {v.message}")
        built.append(event)
    return Built(built, program, errors, violations, now)


async def _read_dispatch_form(request: Request) -> DispatchForm:
    form = await request.form()
    limits = {"program_id": 128, "ref": 100, "contract": 100, "cmz": 100, "start": 40, "end": 40, "volume": 40,
              "direction": 16, "kind": 16, "status": 16, "price": 40}
    values: dict[str, Any] = {}
    for name, limit in limits.items():
        raw = form.get(name, "")
        text = raw if isinstance(raw, str) else ""
        if len(text) > limit:
            raise BadRequest(f"{name} is too long")
        values[name] = text
    units = [u for u in form.getlist("units") if isinstance(u, str)]
    if len(units) > 200 or any(len(u) > 300 for u in units):
        raise BadRequest("too many or too long dispatch units")
    return DispatchForm(units=units, **values)


async def _find_program(session: AsyncSession, viewer: Viewer, program_id: str) -> dict[str, Any] | None:
    if not program_id or not re.fullmatch(OBJECT_ID_PATTERN, program_id):
        return None
    try:
        row = await programs.get_program(session, viewer, program_id)
    except NotFound:
        return None
    return row.document if is_gb_program(row.document) else None


def _default_form(gb_programs: list[dict[str, Any]]) -> DispatchForm:
    now = now_utc()
    start = (now + timedelta(hours=1)).replace(minute=0, second=0)
    return DispatchForm(program_id=str(gb_programs[0]["id"]) if gb_programs else "", ref=f"D-{now:%Y%m%d-%H%M}-"
                        + secrets.token_hex(2).upper(), start=local_input(start), end=local_input(start + timedelta(hours=1)),
                        volume="100")


async def _dispatch_page(request: Request, session: AsyncSession, viewer: Viewer, form: DispatchForm | None = None,
                         built: Built | None = None, status_code: int = 200) -> HTMLResponse:
    gb_programs = await _gb_programs(session, viewer)
    form = form or _default_form(gb_programs)
    key = signing_key_for(request)
    return _page(request, "operator/dispatch.html", {
        "title": "Dispatch", "form": form, "gb_programs": gb_programs, "units": await _dispatch_units(session, viewer),
        "errors": built.errors if built else {}, "products": PRODUCTS, "product_of": product_from_program_type,
        "signing_kid": key.kid if key is not None else None, "rules": RULES,
    }, status_code=status_code)


@router.get("/dispatch", response_class=HTMLResponse)
async def dispatch_page(request: Request, account: OperatorAccount, session: ReadSession,
                        program: QueryId = None) -> Response:
    viewer = await _viewer(session, account)
    form = None
    if program:
        form = _default_form(await _gb_programs(session, viewer))
        form.program_id = program
    return await _dispatch_page(request, session, viewer, form)


@router.post("/dispatch/preview", response_class=HTMLResponse)
async def dispatch_preview(request: Request, account: OperatorAccount, session: ReadSession) -> Response:
    """htmx: the OpenADR event(s) the form would create, or the rule violations (200 either way: it is a preview)."""
    viewer = await _viewer(session, account)
    form = await _read_dispatch_form(request)
    built = _build(form, await _find_program(session, viewer, form.program_id), now_utc())
    documents = [_sign(request, e).dump() if not built.errors else e.dump() for e in built.events]
    return _page(request, "operator/_preview.html", {
        "built": built, "errors": built.errors,
        "documents": [json.dumps(d, indent=2, ensure_ascii=False) for d in documents],
        "signing_kid": (k.kid if (k := signing_key_for(request)) else None),
    })


@router.post("/dispatch", response_class=HTMLResponse)
async def dispatch_submit(request: Request, account: OperatorAccount, session: WriteSession) -> Response:
    viewer = await _viewer(session, account)
    form = await _read_dispatch_form(request)
    built = _build(form, await _find_program(session, viewer, form.program_id), now_utc())
    if built.errors:
        return await _dispatch_page(request, session, viewer, form, built, status_code=400)
    created = []
    for event in built.events:
        try:
            created.append(await events.create_event(session, viewer, _sign(request, event)))
        except (BadRequest, Conflict) as exc:  # the service's profile and terms checks: their rule IDs on the form
            for item in exc.extra.get("errors", []):
                built.errors.setdefault(FIELD_OF_RULE.get(item.get("rule"), "general"), []).append(
                    f"{item.get('rule')}: {item.get('message')}")
            built.errors.setdefault("general", []).append(exc.detail)
            await session.rollback()
            return await _dispatch_page(request, session, viewer, form, built, status_code=400)
    names = ", ".join(str(c.get("eventName")) for c in created)
    message = f"Dispatched {names} (instruction time {london(built.instruction_time)})."
    warnings = [w for c in created for w in await dispatch_warnings(session, c)]
    if warnings:  # the same warning the API answers with (GB-Warning): the unit's FSP has emergency-stopped it
        return redirect(request, "/operator/board", message=message + " Warning: " + " ".join(warnings), level="warning")
    return redirect(request, "/operator/board", message=message, level="success")


# --------------------------------------------------------------------------------------------- board


@dataclass
class BoardRow:
    event: dict[str, Any]
    instruction: m.DispatchInstruction
    program: dict[str, Any] | None
    acks: list[board.AckStatus]
    phase: str  # "live", "next", "ended"
    signature: SignatureCheck  # verified against the operator's keys, not read off the document
    ack_signatures: dict[str, SignatureCheck] = field(default_factory=dict)  # report id -> against the FSP's keys

    @property
    def id(self) -> str:
        return str(self.event["id"])


def _phase(ins: m.DispatchInstruction, now: datetime) -> str:
    if ins.status in m.TERMINAL_STATUSES or b.utc(ins.service_end) <= now:
        return "ended"
    return "live" if b.utc(ins.service_start) <= now else "next"


Dispatch = tuple[dict[str, Any], m.DispatchInstruction]  # the event document and the instruction it carries


async def _dispatches(session: AsyncSession, viewer: Viewer, program_id: str | None = None) -> list[Dispatch]:
    found = []
    for doc in await _all(lambda page: events.list_events(session, viewer, program_id, None, page)):
        if b.is_info_event(doc):
            continue
        try:
            found.append((doc, b.parse_event(doc)))
        except (m.ProfileError, ValueError):
            continue  # not a GB dispatch
    return found


async def _event_reports(session: AsyncSession, viewer: Viewer, event_id: str) -> list[dict[str, Any]]:
    return await _all(lambda page: reports.list_reports(session, viewer, None, event_id, None, page))


async def _signatures(session: AsyncSession, viewer: Viewer, keys: list[ECKey], event: dict[str, Any],
                      reports: list[dict[str, Any]]) -> tuple[SignatureCheck, dict[str, SignatureCheck]]:
    """The dispatch's signature checked against the operator's keys, each report's against its FSP's registered keys."""
    rings = fsp_rings(await list_fsp_keys(session, viewer.operator, {str(r.get("clientName")) for r in reports}))
    return (check_signature(event, operator_ring(keys, event)),
            {str(r.get("id")): report_signature(r, rings) for r in reports})


async def _board_rows(session: AsyncSession, viewer: Viewer, keys: list[ECKey]) -> list[BoardRow]:
    now = now_utc()
    program_docs = {d["id"]: d for d in await _all(lambda page: programs.list_programs(session, viewer, None, page))}
    rows = []
    for doc, ins in await _dispatches(session, viewer):
        if b.utc(ins.service_end) < now - BOARD_PAST:
            continue  # long over: the board is for now and next
        program = program_docs.get(doc.get("programID"))
        if program is not None and is_sandbox_name(program.get("programName")):
            continue  # test dispatches (sandbox programs) are not production: never on the board
        found = await _event_reports(session, viewer, str(doc["id"]))
        acks = board.ack_status(doc, found)
        signature, ack_signatures = await _signatures(session, viewer, keys, doc, found)
        rows.append(BoardRow(doc, ins, program, acks, _phase(ins, now), signature,
                             ack_signatures))
    order = {"live": 0, "next": 1, "ended": 2}
    rows.sort(key=lambda r: (order[r.phase], b.utc(r.instruction.service_start), r.instruction.event_name))
    return rows


async def _board_context(request: Request, session: AsyncSession, viewer: Viewer) -> dict[str, Any]:
    from vtn.contracts.acks import ack_deadlines

    rows = await _board_rows(session, viewer, _signature_keys(request))
    now = now_utc()
    overdue = [d for d in await ack_deadlines(session, viewer.operator, now) if d.state(now) == "OVERDUE"]
    return {"rows": rows, "updated": london(now), "fsp_stops": await fsp_emergency_stops(session, viewer.operator),
            "ack_overdue": overdue,
            "silent": sum(1 for r in rows if r.phase != "ended" and any(not a.latest_acknowledged for a in r.acks))}


@router.get("/board", response_class=HTMLResponse)
async def board_page(request: Request, account: OperatorAccount, session: ReadSession) -> Response:
    viewer = await _viewer(session, account)
    return _page(request, "operator/board.html", {"title": "Dispatch board", **await _board_context(request, session, viewer)})


@router.get("/board/fragment", response_class=HTMLResponse)
async def board_fragment(request: Request, account: OperatorAccount, session: ReadSession) -> Response:
    viewer = await _viewer(session, account)
    return _page(request, "operator/_board_table.html", await _board_context(request, session, viewer))


# --------------------------------------------------------------------------------------------- revise


async def _dispatch(session: AsyncSession, viewer: Viewer, event_id: str) -> tuple[dict[str, Any], m.DispatchInstruction]:
    row = await events.get_event(session, viewer, event_id)
    try:
        return row.document, b.parse_event(row.document)
    except (m.ProfileError, ValueError):
        raise NotFound(f"event {event_id!r} is not a GB dispatch") from None


@router.get("/dispatches/{event_id}", response_class=HTMLResponse)
async def dispatch_record_page(request: Request, account: OperatorAccount, session: ReadSession, event_id: ObjectId) -> Response:
    """The dispatch record: every revision stored, who sent it and when, and each revision's acknowledgements."""
    viewer = await _viewer(session, account)
    doc, ins = await _dispatch(session, viewer, event_id)
    history = await revisions.history(session, viewer, event_id)
    return _page(request, "operator/dispatch_record.html", {
        "title": f"Dispatch {ins.event_name}", "event": doc, "ins": ins, "revisions": history,
    })


@router.get("/dispatches/{event_id}/revise", response_class=HTMLResponse)
async def revise_page(request: Request, account: OperatorAccount, session: ReadSession, event_id: ObjectId) -> Response:
    viewer = await _viewer(session, account)
    doc, ins = await _dispatch(session, viewer, event_id)
    return _revise_page(request, doc, ins)


def _revise_page(request: Request, doc: dict[str, Any], ins: m.DispatchInstruction, errors: list[str] | None = None,
                 status_code: int = 200) -> HTMLResponse:
    volume = abs(ins.setpoints[0].volume) if ins.setpoints else 0.0
    return _page(request, "operator/revise.html", {
        "title": f"Revise {ins.event_name}", "event": doc, "ins": ins, "errors": errors or [],
        "statuses": sorted(m.ALLOWED_TRANSITIONS[ins.status] - {m.DispatchStatus.STOP}, key=list(m.DispatchStatus).index),
        "volume": _kw(volume), "end": local_input(ins.service_end),
    }, status_code=status_code)


@router.post("/dispatches/{event_id}/revise", response_class=HTMLResponse)
async def revise_submit(
    request: Request, account: OperatorAccount, session: WriteSession, event_id: ObjectId,
    status: Annotated[str, Form(max_length=16)] = "",
    volume: Annotated[str, Form(max_length=40)] = "",
    end: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    viewer = await _viewer(session, account)
    doc, ins = await _dispatch(session, viewer, event_id)
    errors = []
    changes: dict[str, Any] = {}
    try:
        new_status = m.DispatchStatus(status)
        changes["status"] = new_status
    except ValueError:
        errors.append("Choose a status.")
        new_status = ins.status
    try:
        new_volume = float(volume)
        if not math.isfinite(new_volume) or new_volume < 0:
            raise ValueError
    except ValueError:
        errors.append("Volume: a number of kW, 0 or more.")
        new_volume = None
    try:
        new_end = parse_local(end)
    except ValueError as exc:
        errors.append(f"End: {exc}.")
        new_end = None
    if errors:
        return _revise_page(request, doc, ins, errors, 400)
    if new_status is not m.DispatchStatus.CANCELLED:
        assert new_end is not None and new_volume is not None
        if new_end <= b.utc(ins.service_start):
            return _revise_page(request, doc, ins, ["End: must be after the start."], 400)
        changes["service_end"] = new_end
        changes["setpoints"] = tuple(
            m.Setpoint(s.timestamp, math.copysign(new_volume, s.volume) if s.volume else new_volume, s.units, s.kind, s.price)
            for s in ins.setpoints if b.utc(s.timestamp) < new_end)
    try:
        if new_status is m.DispatchStatus.CANCELLED:  # only before the start (the builder refuses otherwise)
            following = _sign(request, b.cancel_event(doc, now_utc()), doc)
        else:
            following = _sign(request, b.revise_event(doc, now_utc(), **changes), doc)
    except (m.ProfileError, ValueError) as exc:  # UnsignedRevision too
        return _revise_page(request, doc, ins, [str(exc)], 400)
    try:
        updated = await events.update_event(session, viewer, event_id, following)
    except (BadRequest, Conflict) as exc:  # profile checks; the terms' REFUSE (windows, run times) is a 409
        await session.rollback()
        shown = [f"{e.get('rule')}: {e.get('message')}" for e in exc.extra.get("errors", [])] or [exc.detail]
        return _revise_page(request, doc, ins, shown, 400)
    message = f"{ins.event_name} revision {ins.revision + 1} sent."
    if warnings := await dispatch_warnings(session, updated):
        return redirect(request, "/operator/board", message=message + " Warning: " + " ".join(warnings), level="warning")
    return redirect(request, "/operator/board", message=message, level="success")


# --------------------------------------------------------------------------------------------- emergency stop


async def _stoppable(session: AsyncSession, viewer: Viewer, scope: StopScope) -> tuple[str, list[Dispatch]]:
    """What an emergency stop of `scope` covers: (description, the open dispatches of GB programs)."""
    gb_programs = {p["id"]: p for p in await _gb_programs(session, viewer)}
    if scope.event_id:
        await _dispatch(session, viewer, scope.event_id)  # 404 if missing or not a GB dispatch
    if scope.program_id and scope.program_id not in gb_programs:
        await programs.get_program(session, viewer, scope.program_id)  # 404 if missing
        raise BadRequest(f"program {scope.program_id!r} is not a GB program")
    found = [(d, i) for d, i in await _dispatches(session, viewer, scope.program_id) if d.get("programID") in gb_programs]
    chosen = select_for_emergency_stop(found, scope, now_utc())
    if scope.event_id:
        name = next((i.event_name for d, i in found if d["id"] == scope.event_id), scope.event_id)
        return f"dispatch {name}", chosen
    program = gb_programs.get(scope.program_id or "")
    return scope.describe(program.get("programName") if program else None), chosen


def _scope(event_id: str | None, program_id: str | None, cmz: str | None, everything: bool) -> StopScope:
    try:
        return StopScope(event_id=event_id or None, program_id=program_id or None, cmz=cmz or None, everything=everything)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


CmzQuery = Annotated[str | None, Query(max_length=200, pattern=r"^[A-Za-z0-9]{1,16}:[A-Za-z0-9._-]{1,100}$")]
CmzForm = Annotated[str, Form(max_length=200, pattern=r"^([A-Za-z0-9]{1,16}:[A-Za-z0-9._-]{1,100})?$")]


@router.get("/stop", response_class=HTMLResponse)
async def stop_confirm(
    request: Request, account: OperatorAccount, session: ReadSession,
    event_id: QueryId = None,
    program_id: QueryId = None,
    cmz: CmzQuery = None,
    everything: Annotated[bool, Query(alias="all")] = False,
) -> Response:
    """The confirmation step of an emergency stop: what it covers, then a form that sends it."""
    viewer = await _viewer(session, account)
    what, targets = await _stoppable(session, viewer, _scope(event_id, program_id, cmz, everything))
    gb_programs = await _gb_programs(session, viewer)
    now = now_utc()
    zones = sorted({f"{i.operator_id}:{i.cmz}" for d, i in await _dispatches(session, viewer)
                    if i.cmz and select_for_emergency_stop([(d, i)], StopScope(everything=True), now)})
    return _page(request, "operator/stop.html", {
        "title": "Emergency stop", "what": what, "targets": targets, "event_id": event_id or "",
        "program_id": program_id or "", "cmz": cmz or "", "everything": everything, "gb_programs": gb_programs,
        "zones": zones,
    })


@router.post("/stop", response_class=HTMLResponse)
async def stop_submit(
    request: Request, account: OperatorAccount, session: WriteSession,
    event_id: FormId = "",
    program_id: FormId = "",
    cmz: CmzForm = "",
    everything: Annotated[str, Form(max_length=8, alias="all")] = "",
    confirm: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Send the emergency stop: one EMERGENCY_STOP revision (priority 0, GB-E-019) per open dispatch covered."""
    viewer = await _viewer(session, account)
    if confirm != "yes":
        raise BadRequest("the emergency stop was not confirmed")
    what, targets = await _stoppable(session, viewer, _scope(event_id, program_id, cmz, everything == "1"))
    now = now_utc()
    stopped, unsigned = [], []
    for doc, ins in targets:
        # EMERGENCY_STOP now: as STOP, the window is cut here (a dispatch that has not started gets a zero-length one).
        following = b.emergency_stop_event(doc, now, max(now, b.utc(ins.instruction_time)))
        try:
            following = _sign(request, following, doc)
        except UnsignedRevision:
            # Unlike a revision, an emergency stop is not withheld for want of a key: it is sent, and said so.
            unsigned.append(ins.event_name)
        await events.update_event(session, viewer, str(doc["id"]), following)
        stopped.append(ins.event_name)
    if not stopped:
        return redirect(request, "/operator/board", message=f"Nothing to stop: no open dispatch ({what}).", level="warning")
    message = f"EMERGENCY_STOP sent for {len(stopped)} dispatch(es): {', '.join(stopped)}."
    if unsigned:
        return redirect(request, "/operator/board", level="warning", message=message + " Sent UNSIGNED (no operator "
                        f"signing key configured) although signed before: {', '.join(unsigned)}; a VEN that requires "
                        "signatures rejects it.")
    return redirect(request, "/operator/board", message=message, level="success")


# --------------------------------------------------------------------------------------------- VENs and outbox


async def _vens_context(request: Request, session: AsyncSession, viewer: Viewer) -> dict[str, Any]:
    settings = request.app.state.settings
    operator = viewer.operator
    extra = request.app.state.heartbeats.latest_by_ven(operator)  # polls not flushed yet
    seen = {item["venName"]: item
            for item in await _all(lambda page: admin.last_seen(session, operator, extra, settings.comms_loss_seconds, page))}
    subs = await _all(lambda page: subscriptions.list_subscriptions(session, viewer, None, None, None, None, page))
    owner_of = {s["id"]: s.get("clientName") for s in subs}
    outbox = {status: [admin.delivery_item(r) for r in await admin.list_deliveries(session, operator, status, Page(0, 100))]
              for status in ("pending", "failing", "dead")}
    problems: dict[str, list[dict[str, Any]]] = {}
    for status, items in outbox.items():
        for item in items:
            item["subscriber"] = owner_of.get(item["subscriptionID"], "")
            if status != "pending":
                problems.setdefault(str(item["subscriber"]), []).append(item)
    rows = []
    for ven in await _all(lambda page: vens.list_vens(session, viewer, None, None, page)):
        name = ven["venName"]
        info = seen.get(name, {})
        mine = [s for s in subs if s.get("clientName") == name]
        attempts = [i for items in outbox.values() for i in items if i["subscriber"] == name and i["lastAttemptDateTime"]]
        last_attempt = max(attempts, key=lambda i: i["lastAttemptDateTime"], default=None)
        resources = await _all(lambda page, ven=ven: vens.list_resources(session, viewer, ven["id"], None, None, page))
        delivered = parse_time(info.get("lastDelivery"))
        # Failures older than the VEN's last accepted webhook are history (e.g. before it restarted and
        # re-subscribed): they stay listed in the outbox but do not make a healthy VEN "comms loss".
        failing = [i for i in problems.get(name, []) if delivered is None or not i["lastAttemptDateTime"]
                   or (parse_time(i["lastAttemptDateTime"]) or delivered) > delivered]
        # Comms loss: failing webhooks, or no call within the window unless its webhooks were accepted within it.
        push_ok = delivered is not None and (datetime.now(UTC) - delivered).total_seconds() <= settings.comms_loss_seconds
        rows.append({
            "id": ven["id"], "name": name, "last_seen": info.get("lastSeen"), "resources": [r["resourceName"] for r in resources],
            "subscriptions": len(mine), "last_attempt": last_attempt, "failing": len(failing),
            "last_delivery": info.get("lastDelivery"),
            "comms_loss": bool(failing) or (bool(info.get("silent", True)) and not push_ok),
        })
    return {"vens": rows, "outbox": outbox, "comms_loss_seconds": settings.comms_loss_seconds}


@router.get("/vens", response_class=HTMLResponse)
async def vens_page(request: Request, account: OperatorAccount, session: ReadSession) -> Response:
    viewer = await _viewer(session, account)
    return _page(request, "operator/vens.html", {"title": "VENs", **await _vens_context(request, session, viewer)})


@router.get("/vens/fragment", response_class=HTMLResponse)
async def vens_fragment(request: Request, account: OperatorAccount, session: ReadSession) -> Response:
    viewer = await _viewer(session, account)
    return _page(request, "operator/_vens_tables.html", await _vens_context(request, session, viewer))


@router.post("/vens/deliveries/{delivery_id}/redrive", response_class=HTMLResponse)
async def redrive_delivery(request: Request, account: OperatorAccount, session: WriteSession, delivery_id: int) -> Response:
    if not 0 < delivery_id < 2**62:
        raise BadRequest("not a delivery id")
    await admin.redrive(session, account.operator, delivery_id)
    return redirect(request, "/operator/vens", message=f"Delivery {delivery_id} queued for another attempt.", level="success")


@router.post("/vens/deliveries/redrive-dead", response_class=HTMLResponse)
async def redrive_dead(request: Request, account: OperatorAccount, session: WriteSession) -> Response:
    count = await admin.redrive_dead(session, account.operator)
    return redirect(request, "/operator/vens", message=f"{count} dead-lettered deliveries queued again.", level="success")


# --------------------------------------------------------------------------------------------- delivery


def _baselines(documents: Iterable[dict[str, Any]], ins: m.DispatchInstruction) -> dict[datetime, float]:
    """BASELINE companions of the FSP's GB_READINGS (§6.4), summed over meterable units per interval start (kW).

    Half-hourly USAGE baselines are kWh: ×2 gives mean kW, as for the readings themselves.
    """
    totals: dict[datetime, float] = {}
    for doc in documents:
        if doc.get("reportName") != m.R_READINGS or doc.get("clientName") != ins.fsp_id:
            continue
        for resource in doc.get("resources") or ():
            for interval in resource.get("intervals") or ():
                period = interval.get("intervalPeriod") or {}
                payloads = {p.get("type"): p.get("values") or [] for p in interval.get("payloads") or ()}
                values = payloads.get(m.P_BASELINE)
                if not values or not isinstance(values[0], int | float) or not period.get("start"):
                    continue
                start = parse_time(period["start"])
                if start is None:
                    continue
                start = start.astimezone(UTC)
                factor = 2.0 if m.P_USAGE in payloads else 1.0
                totals[start] = totals.get(start, 0.0) + float(values[0]) * factor
    return totals


async def _delivery(session: AsyncSession, viewer: Viewer, event_id: str, baseline_kw: str | None) -> dict[str, Any]:
    doc, ins = await _dispatch(session, viewer, event_id)
    documents = await _event_reports(session, viewer, event_id)
    # Readings may also go against the program's anchor event (the reference VEN's default).
    for other in await _all(lambda page: events.list_events(session, viewer, doc["programID"], None, page)):
        if b.is_anchor_event(other):
            documents += await _event_reports(session, viewer, str(other["id"]))
    readings = [d for d in documents if d.get("reportName") == m.R_READINGS]
    form_baseline = None
    if baseline_kw not in (None, ""):
        try:
            form_baseline = float(str(baseline_kw))
            if not math.isfinite(form_baseline):
                raise ValueError
        except ValueError:
            raise BadRequest("baseline must be a number of kW") from None
    reported = _baselines(readings, ins)
    baseline: float | dict[datetime, float] | None = form_baseline if form_baseline is not None else (reported or None)
    source = "form" if form_baseline is not None else ("reported BASELINE" if reported else "none")
    try:
        summary = board.delivery_summary(ins, readings, baseline=baseline)
    except (m.ProfileError, ValueError) as exc:
        raise BadRequest(f"no delivery for this dispatch: {exc}") from None
    return {"event": doc, "ins": ins, "summary": summary, "baseline_source": source,
            "baseline_kw": "" if form_baseline is None else baseline_kw, "reports": len(readings)}


@router.get("/dispatches/{event_id}/delivery", response_class=HTMLResponse)
async def delivery_page(request: Request, account: OperatorAccount, session: ReadSession, event_id: ObjectId,
                        baseline_kw: Annotated[str | None, Query(max_length=40)] = None) -> Response:
    viewer = await _viewer(session, account)
    data = await _delivery(session, viewer, event_id, baseline_kw)
    found = await _event_reports(session, viewer, event_id)
    acks = board.ack_status(data["event"], found)
    signature, ack_signatures = await _signatures(session, viewer, _signature_keys(request), data["event"], found)
    return _page(request, "operator/delivery.html", {"title": f"Delivery {data['ins'].event_name}", "acks": acks,
                                                     "signature": signature, "ack_signatures": ack_signatures, **data})


@router.get("/dispatches/{event_id}/evidence.json")
async def evidence_download(request: Request, account: OperatorAccount, session: ReadSession, event_id: ObjectId) -> Response:
    """The dispatch's evidence bundle, as `GET /admin/events/{id}/evidence` serves it (vtn.gb.evidence)."""
    viewer = await _viewer(session, account)
    bundle = await build_evidence(session, viewer, event_id, _signature_keys(request))
    return JSONResponse(bundle, headers={"content-disposition": f'attachment; filename="{download_name(event_id)}"'})


@router.get("/dispatches/{event_id}/delivery.json")
async def delivery_json(request: Request, account: OperatorAccount, session: ReadSession, event_id: ObjectId,
                        baseline_kw: Annotated[str | None, Query(max_length=40)] = None) -> Response:
    viewer = await _viewer(session, account)
    data = await _delivery(session, viewer, event_id, baseline_kw)
    summary: board.DeliverySummary = data["summary"]
    return JSONResponse({
        "eventName": summary.event_name, "step": int(summary.step.total_seconds()),
        "series": ["instructed_kw", "target_kw", "metered_kw", "baseline_kw", "delivered_kw"],
        "columns": summary.columns(), "deliveredKwh": summary.delivered_kwh, "requestedKwh": summary.requested_kwh,
        "meteredKwh": summary.metered_kwh, "missingSteps": summary.missing_steps,
    })


@router.get("/dispatches/{event_id}/delivery.csv")
async def delivery_csv(request: Request, account: OperatorAccount, session: ReadSession, event_id: ObjectId,
                       baseline_kw: Annotated[str | None, Query(max_length=40)] = None) -> Response:
    viewer = await _viewer(session, account)
    data = await _delivery(session, viewer, event_id, baseline_kw)
    name = re.sub(r"[^A-Za-z0-9._-]", "_", data["ins"].event_name)
    return Response(board.delivery_csv(data["summary"]), media_type="text/csv; charset=utf-8",
                    headers={"content-disposition": f'attachment; filename="delivery-{name}.csv"'})


__all__ = ["NAV", "router"]


# --------------------------------------------------------------------------------------------- audit log

AUDIT_PAGE = 50
AuditText = Annotated[str, Query(max_length=200)]


@router.get("/audit", response_class=HTMLResponse)
async def audit_page(
    request: Request, account: OperatorAccount, session: ReadSession,
    actor: AuditText = "", action: AuditText = "", object_id: Annotated[str, Query(alias="object", max_length=200)] = "",
    since: Annotated[str, Query(max_length=40)] = "",
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> Response:
    """The audit log, newest first, filtered like `vtn audit list` and `GET /admin/audit` (times London)."""
    from vtn.audit.service import AuditFilter, entry, list_entries

    errors: dict[str, list[str]] = {}
    start = None
    if since.strip():
        try:
            start = parse_local(since)
        except ValueError as exc:
            errors["since"] = [f"Since: {exc}."]
    where = AuditFilter(since=start, actor=actor.strip() or None, action=action.strip() or None,
                        object_id=object_id.strip() or None, before_id=before, operator=account.operator)
    rows = [] if errors else [entry(r) for r in await list_entries(session, where, Page(0, AUDIT_PAGE), newest_first=True)]
    filters = {"actor": actor, "action": action, "object": object_id, "since": since}
    older = None
    if len(rows) == AUDIT_PAGE:
        older = {**{k: v for k, v in filters.items() if v}, "before": rows[-1]["id"]}
    return _page(request, "operator/audit.html", {
        "title": "Audit", "rows": rows, "filters": filters, "errors": errors, "older": older,
        "detail_text": lambda d: json.dumps(d, separators=(", ", ": ")) if d else "",
    }, status_code=400 if errors else 200)


# --------------------------------------------------------------------------------------------- sign-offs


def operator_actor(account: Any) -> Actor:
    return Actor(f"console:{account.username}", Role.BL.value, account.operator)


@router.get("/signoffs", response_class=HTMLResponse)
async def signoffs_page(request: Request, account: OperatorAccount, session: ReadSession) -> Response:
    """Pending sign-offs (sandbox clients asking to go live, each with its VEN conformance report) and recent decisions."""
    pending = await signoffs.list_signoffs(session, account.operator, pending=True)
    decided = await signoffs.list_signoffs(session, account.operator, pending=False, limit=50)
    reports = {r.id: [(str(x.get("id")), str(x.get("title")), str(x.get("outcome")))
                      for x in r.report.get("results") or () if isinstance(x, dict)] for r in pending}
    return _page(request, "operator/signoffs.html", {
        "title": "Sign-offs", "pending": [signoffs.entry(r) for r in pending], "decided": [signoffs.entry(r) for r in decided],
        "results": reports,
    })


@router.post("/signoffs/{signoff_id}/approve")
async def approve_signoff(request: Request, account: OperatorAccount, session: WriteSession,
                          signoff_id: Annotated[int, Path(ge=1, le=2**63 - 1)]) -> Response:
    row = await signoffs.decide(session, operator_actor(account), signoff_id, approve=True)
    log.info("sign-off %s approved by %s: client %s is live", signoff_id, account.username, row.client_id)
    return redirect(request, "/operator/signoffs", level="success",
                    message=f"Sign-off {signoff_id} approved: client {row.client_id} is live.")


@router.post("/signoffs/{signoff_id}/reject")
async def reject_signoff(request: Request, account: OperatorAccount, session: WriteSession,
                         signoff_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
                         reason: Annotated[str, Form(max_length=1000)] = "") -> Response:
    row = await signoffs.decide(session, operator_actor(account), signoff_id, approve=False, reason=reason)
    log.info("sign-off %s rejected by %s", signoff_id, account.username)
    return redirect(request, "/operator/signoffs", level="info",
                    message=f"Sign-off {signoff_id} rejected: client {row.client_id} stays in the sandbox.")


# --------------------------------------------------------------------------------------------- availability


@router.get("/availability", response_class=HTMLResponse)
async def availability_page(request: Request, account: OperatorAccount, session: ReadSession,
                            program: Annotated[str | None, Query(max_length=128)] = None,
                            week: Annotated[str | None, Query(max_length=10)] = None) -> Response:
    """The week calendar of declared windows of one GB program, with accept/reject per window (docs/console.md)."""
    from vtn.console.calendar import Slot, grid, parse_week
    from vtn.contracts.availability import list_acceptances

    viewer = await _viewer(session, account)
    docs = await _all(lambda page: programs.list_programs(session, viewer, None, page))
    gb = [d for d in docs if is_gb_program(d)]
    chosen = next((d for d in gb if d["id"] == program), gb[0] if gb else None)
    monday = parse_week(week, now_utc())
    context: dict[str, Any] = {"title": "Availability", "programs": gb, "program": chosen, "calendar": None}
    if chosen is not None:
        _, rows = await list_acceptances(session, account.operator, chosen["id"], monday)
        context["calendar"] = grid(monday, [
            (r.ven_name, r.unit, r.direction, Slot(r.id, r.start, r.end, r.declared_kw, r.status, r.accepted_kw,
                                                   r.bid_price, r.awarded_price, r.reason, r.entered_by,
                                                   r.operator_entered)) for r in rows])
    else:
        context["calendar"] = grid(monday, [])
    return _page(request, "operator/availability.html", context)


@router.get("/availability.csv")
async def availability_csv(request: Request, account: OperatorAccount, session: ReadSession,
                           program: Annotated[str, Query(max_length=128)],
                           week: Annotated[str, Query(max_length=10)]) -> Response:
    from vtn.console.calendar import parse_week
    from vtn.contracts.availability import acceptances_csv, list_acceptances

    monday = parse_week(week, now_utc())
    found, rows = await list_acceptances(session, account.operator, program, monday)
    name = f"acceptances-{found.document.get('programName', found.id)}-{monday.isoformat()}.csv"
    return Response(acceptances_csv(rows), media_type="text/csv",
                    headers={"content-disposition": f'attachment; filename="{name}"'})


@router.post("/availability/{acceptance_id}/decide")
async def decide_availability(request: Request, account: OperatorAccount, session: WriteSession,
                              acceptance_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
                              status: Annotated[str, Form(pattern="^(ACCEPTED|REJECTED)$")],
                              program: Annotated[str, Form(max_length=128)], week: Annotated[str, Form(max_length=10)],
                              accepted_kw: Annotated[str, Form(max_length=20)] = "",
                              awarded_price: Annotated[str, Form(max_length=20)] = "",
                              reason: Annotated[str, Form(max_length=1000)] = "") -> Response:
    from urllib.parse import urlencode

    from vtn.contracts.availability import decide

    def number(text: str, what: str) -> float | None:
        try:
            return float(text) if text.strip() else None
        except ValueError:
            raise BadRequest(f"{what} must be a number") from None

    back = "/operator/availability?" + urlencode({"program": program, "week": week})
    try:
        row = await decide(session, operator_actor(account), account.operator, acceptance_id, status,
                           number(accepted_kw, "accepted kW"), number(awarded_price, "awarded price"),
                           reason=reason or None)
    except BadRequest as exc:
        return redirect(request, back, level="error", message=str(exc.detail))
    return redirect(request, back, level="success",
                    message=f"{row.unit} {london(row.start)}: {row.status.lower()}.")
