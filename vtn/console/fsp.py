"""FSP pages: its VENs and resources, dispatches, acknowledgements and readings, test dispatch.

Routes declared on `router` are served under `{console_path}/fsp/...`; `vtn.console.router` includes
it with `require_fsp` and `csrf_protect`. Data is read only through services with
`viewer_for_account(session, account, ven_name)`, so an FSP sees what its VEN's token would.

The one write is "send me a test dispatch" (docs/console.md, "Test dispatch"): an FSP account holds
VEN rights and cannot write events, so the console itself creates the event through the events
service with a narrow BL viewer of its own, and only an event it builds here: on the sandbox program
(`settings.console_sandbox_program`), addressed to one dispatch unit of one of the account's own VENs,
a few minutes ahead, with fixed small volumes, at most one per `console_test_dispatch_interval_seconds`.
"""

from __future__ import annotations

import json
import logging
import math
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlmodel.ext.asyncio.session import AsyncSession

from gb_profile import board
from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.identifiers import NETWORK_OPERATORS
from gb_profile.products import NoticeKind, Product, ProductCode, SetpointKind, product, product_from_program_type
from gb_profile.signing import sign_event
from gb_profile.validator import is_gb_program
from openadr3.models import OBJECT_ID_PATTERN
from vtn.audit import service as audit
from vtn.auth.privacy import Viewer
from vtn.console.deps import Account, FspAccount, all_pages, is_htmx, viewer_for_account, viewers_for_account
from vtn.console.operator import signing_key_for
from vtn.console.templating import console_url, redirect, render
from vtn.console.times import london, london_window, parse_time
from vtn.core.deps import ReadSession, WriteSession
from vtn.core.errors import BadRequest, Conflict, NotFound
from vtn.core.pagination import Page
from vtn.core.security import Principal, Role, Scope, Stage
from vtn.core.settings import Settings
from vtn.events import service as events
from vtn.programs import service as programs
from vtn.reports import service as reports
from vtn.signoff import service as signoffs
from vtn.subscriptions import admin
from vtn.vens import service as vens

log = logging.getLogger("vtn.console")
router = APIRouter()

# (label, path relative to the console) shown in the header for FSP accounts, after "Home".
NAV: list[tuple[str, str]] = [
    ("VENs", "/fsp/vens"),
    ("Dispatches", "/fsp/events"),
    ("Reports", "/fsp/reports"),
    ("Readings", "/fsp/readings"),
    ("Delivery reports", "/fsp/delivery-reports"),
    ("Test dispatch", "/fsp/test"),
    ("Go live", "/fsp/signoff"),
    ("Availability", "/fsp/availability"),
]

UNIT_LABELS = {"KW": "kW", "KVAR": "kvar"}
MAX_ROWS = 500  # per VEN and list: a console page, not an export
TEST_TIMEOUT_SECONDS = 120  # the result panel stops polling after this without an acknowledgement
TEST_VOLUME_KW = -10.0  # a 10 kW turn-down: small, and obviously a test
TEST_LENGTH = timedelta(minutes=5)
TEST_REF_PREFIX = "SANDBOX-"
ObjectId = Annotated[str, Path(pattern=OBJECT_ID_PATTERN, max_length=128)]
VenFilter = Annotated[str | None, Query(max_length=128)]


# ------------------------------------------------------------------------------------------ helpers


def _sort_key(doc: Mapping[str, Any]) -> tuple[datetime, str]:
    """Newest first by the VTN's createdDateTime (then id, for a stable order)."""
    return parse_time(doc.get("createdDateTime")) or datetime.min.replace(tzinfo=UTC), str(doc.get("id"))


def _volume(setpoint: m.Setpoint) -> str:
    return f"{setpoint.volume:g} {UNIT_LABELS.get(setpoint.units.value, setpoint.units.value)}"


def seconds(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.1f} s"


Fetch = Callable[[Page], Awaitable[list[dict[str, Any]]]]


async def _all(fetch: Fetch, cap: int = MAX_ROWS) -> tuple[list[dict[str, Any]], bool]:
    """Every item a paged service call returns (up to `cap`), and whether the cap cut the list."""
    return await all_pages(fetch, cap)


def _values(maps: Iterable[Mapping[str, Any]] | None, type_: str) -> list[Any]:
    return [v for item in maps or () if item.get("type") == type_ for v in item.get("values") or ()]


def _first(maps: Iterable[Mapping[str, Any]] | None, type_: str) -> Any:
    found = _values(maps, type_)
    return found[0] if found else None


def _text(values: Iterable[Any]) -> str:
    return ", ".join(str(v) for v in values) or "—"


async def _viewers(session: AsyncSession, account: Account, ven: str | None) -> list[tuple[str, Viewer]]:
    """(VEN name, viewer) for the account's VENs, or only `ven` (404 when it is not the account's)."""
    if ven:
        return [(ven, await viewer_for_account(session, account, ven))]
    return list(zip(account.ven_names, await viewers_for_account(session, account), strict=True))


def _page(request: Request, name: str, context: dict[str, Any]) -> HTMLResponse:
    return render(request, name, {"ven_names": [], "ven": None, "single": False, "london": london, "seconds": seconds,
                                  **context})


# ------------------------------------------------------------------------------------------ VENs


def _resource_view(doc: dict[str, Any]) -> dict[str, Any]:
    attributes = doc.get("attributes") or []
    targets = doc.get("targets") or []
    shown = {m.A_ROLE, m.A_MPAN, m.A_METERABLE_UNITS, m.A_DISPATCH_UNIT, m.A_CMZ, m.A_MAX_CONSUMPTION, m.A_MAX_EXPORT}
    return {
        "id": doc.get("id"),
        "name": doc.get("resourceName"),
        "role": _first(attributes, m.A_ROLE) or "—",
        "mpans": _text(_values(attributes, m.A_MPAN)),
        "meterable_units": _text(_values(attributes, m.A_METERABLE_UNITS)),
        "dispatch_unit": _text(_values(attributes, m.A_DISPATCH_UNIT)),
        "cmz": _text(_values(attributes, m.A_CMZ)),
        "max_import": _text(_values(attributes, m.A_MAX_CONSUMPTION)),
        "max_export": _text(_values(attributes, m.A_MAX_EXPORT)),
        "contracts": _text(_values(targets, m.T_CONTRACT)),
        "other": [(a.get("type"), _text(a.get("values") or ())) for a in attributes if a.get("type") not in shown],
    }


async def _ven_view(session: AsyncSession, name: str, viewer: Viewer) -> dict[str, Any]:
    view: dict[str, Any] = {"name": name, "id": viewer.ven_id, "registered": viewer.ven_id is not None,
                            "targets": [], "resources": [], "truncated": False, "created": "—"}
    if viewer.ven_id is None:
        return view
    ven_id = viewer.ven_id
    doc = (await vens.get_ven(session, viewer, ven_id)).document
    rows, truncated = await _all(lambda page: vens.list_resources(session, viewer, ven_id, None, None, page))
    view.update(
        created=london(doc.get("createdDateTime")),
        targets=[(t.get("type"), _text(t.get("values") or ())) for t in doc.get("targets") or []],
        resources=[_resource_view(r) for r in rows], truncated=truncated,
    )
    return view


@router.get("/vens", response_class=HTMLResponse, include_in_schema=False)
async def vens_page(request: Request, account: FspAccount, session: ReadSession, ven: VenFilter = None) -> Response:
    views = [await _ven_view(session, name, viewer) for name, viewer in await _viewers(session, account, ven)]
    return _page(request, "fsp/vens.html", {"title": "Your VENs and resources", "vens": views,
                                            "ven_names": account.ven_names, "ven": ven})


@router.get("/vens/{ven_id}", response_class=HTMLResponse, include_in_schema=False)
async def ven_page(request: Request, account: FspAccount, session: ReadSession, ven_id: ObjectId) -> Response:
    for name, viewer in await _viewers(session, account, None):
        if viewer.ven_id == ven_id:
            view = await _ven_view(session, name, viewer)
            return _page(request, "fsp/vens.html", {"title": f"VEN {name}", "vens": [view], "single": True})
    raise NotFound(f"ven {ven_id!r} not found")


# ------------------------------------------------------------------------------------------ dispatches


def _instruction(doc: Mapping[str, Any]) -> m.DispatchInstruction | None:
    try:
        return b.parse_event(doc)
    except (ValueError, IndexError, KeyError, TypeError):
        return None  # not a GB dispatch (an anchor, or another profile's event): shown with its plain fields


def _ack_view(event: Mapping[str, Any], event_reports: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The acknowledgement state (gb_profile.board.ack_status) of one dispatch, for a table cell."""
    try:
        status = board.ack_status(event, event_reports)[0]
    except (ValueError, IndexError, KeyError, TypeError):
        return None
    latest = status.latest_ack
    if latest is None:
        acked = status.acknowledged_revision
        text = f"not acknowledged (newest ack: revision {acked})" if acked else "not acknowledged"
        return {"level": "warning", "text": text, "status": status}
    matches = status.latest_status_matches
    text = f"revision {status.revision} {latest.result.value.lower()} {london(latest.received_time, False)}"
    if not matches:
        text += f"; read back as {latest.status.value}, not {status.status.value}"
    level = "ok" if latest.result == m.AckResult.ACCEPTED and matches else "error"
    return {"level": level, "text": text, "status": status}


def _event_view(doc: dict[str, Any], program_names: Mapping[str, str], ven_name: str,
                event_reports: list[dict[str, Any]]) -> dict[str, Any]:
    ins = _instruction(doc)
    period = doc.get("intervalPeriod") or {}
    start = parse_time(period.get("start"))
    view: dict[str, Any] = {
        "id": doc.get("id"), "name": doc.get("eventName") or "—", "ven": ven_name, "sort": _sort_key(doc),
        "program": program_names.get(str(doc.get("programID")), str(doc.get("programID"))),
        "program_id": doc.get("programID"), "created": london(doc.get("createdDateTime")),
        "modified": london(doc.get("modificationDateTime")), "gb": ins is not None,
        "start": london(start), "end": "—", "window": london(start), "status": "—", "revision": "—", "unit": "—", "contract": "—",
        "instructed": "—", "ack": None, "setpoints": [], "targets": [(t.get("type"), _text(t.get("values") or ()))
                                                                      for t in doc.get("targets") or []],
    }
    if ins is None:
        return view
    view.update(
        start=london(ins.service_start), end=london(ins.service_end), status=ins.status.value, revision=ins.revision,
        window=london_window(ins.service_start, ins.service_end),
        unit=ins.dispatch_unit, contract=f"{ins.operator_id}:{ins.contract_id}", instructed=london(ins.instruction_time),
        operator=ins.operator_id, ack=_ack_view(doc, event_reports),
        setpoints=[{"from": london(s.timestamp), "volume": _volume(s),
                    "kind": s.kind.value.lower(), "price": "—" if s.price is None else f"£{s.price:g}/{m.PRICE_UNITS[s.units]}"}
                   for s in ins.setpoints],
    )
    return view


async def _program_names(session: AsyncSession, viewer: Viewer) -> dict[str, str]:
    rows, _ = await _all(lambda page: programs.list_programs(session, viewer, None, page))
    return {str(p["id"]): str(p.get("programName")) for p in rows}


async def _reports_by_event(session: AsyncSession, viewer: Viewer,
                            event_id: str | None = None) -> tuple[dict[str, list[dict[str, Any]]], bool]:
    if viewer.ven_id is None:
        return {}, False  # no ven object yet: it cannot have reported
    rows, truncated = await _all(lambda page: reports.list_reports(session, viewer, None, event_id, None, page), cap=4 * MAX_ROWS)
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(str(row.get("eventID")), []).append(row)
    return grouped, truncated


@router.get("/events", response_class=HTMLResponse, include_in_schema=False)
async def events_page(request: Request, account: FspAccount, session: ReadSession, ven: VenFilter = None) -> Response:
    rows: list[dict[str, Any]] = []
    truncated = False
    for name, viewer in await _viewers(session, account, ven):
        names = await _program_names(session, viewer)
        by_event, cut = await _reports_by_event(session, viewer)
        docs, more = await _all(lambda page, viewer=viewer: events.list_events(session, viewer, None, None, page))  # type: ignore[misc]
        truncated = truncated or cut or more
        rows += [_event_view(d, names, name, by_event.get(str(d.get("id")), [])) for d in docs]
    rows.sort(key=lambda r: r["sort"], reverse=True)
    return _page(request, "fsp/events.html", {"title": "Dispatches", "rows": rows, "truncated": truncated,
                                              "ven_names": account.ven_names, "ven": ven})


async def _find_event(session: AsyncSession, account: Account, event_id: str) -> tuple[str, Viewer, dict[str, Any]]:
    """The event through the first bound VEN that may read it; 404 like the API when none may."""
    for name, viewer in await _viewers(session, account, None):
        try:
            return name, viewer, (await events.get_event(session, viewer, event_id)).document
        except NotFound:
            continue
    raise NotFound(f"event {event_id!r} not found")


def _report_view(doc: dict[str, Any], event: dict[str, Any] | None, event_reports: list[dict[str, Any]]) -> dict[str, Any]:
    name = doc.get("reportName") or "—"
    view: dict[str, Any] = {
        "id": doc.get("id"), "name": name, "client": doc.get("clientName") or "—", "sort": _sort_key(doc),
        "received": london(doc.get("createdDateTime")), "modified": london(doc.get("modificationDateTime")),
        "event_id": doc.get("eventID"), "event_name": (event or {}).get("eventName") or "(not visible)",
        "summary": "", "level": "", "acks": None, "readings": [], "rows": [],
    }
    if name == m.R_ACK:
        try:
            ack = b.parse_ack_report(doc)
        except (ValueError, IndexError, KeyError, TypeError):
            view.update(summary="not a valid GB acknowledgement", level="error")
            return view
        summary = f"revision {ack.revision}, {ack.status.value}, {ack.result.value}"
        if ack.reason:
            summary += f" ({ack.reason})"
        level = "ok" if ack.result == m.AckResult.ACCEPTED else "error"
        ins = _instruction(event) if event else None
        if ins is not None:
            if ack.revision < ins.revision:
                summary += f" — superseded: the dispatch is at revision {ins.revision}"
                level = "warning"
            elif ack.revision == ins.revision and ack.status != ins.status:
                summary += f" — read-back does not match the issued status {ins.status.value}"
                level = "error"
            elif ack.revision == ins.revision:
                summary += " — matches the current revision"
        view.update(summary=summary, level=level, acked=ack)
        if event is not None:
            view["acks"] = _ack_view(event, event_reports)
        return view
    if name == m.R_READINGS:
        try:
            readings = b.parse_readings_report(doc).readings
        except (ValueError, IndexError, KeyError, TypeError):
            readings = ()
        units = sorted({r.meterable_unit for r in readings})
        first = min((r.start for r in readings), default=None)
        last = max((r.end for r in readings), default=None)
        view.update(summary=f"{len(readings)} readings from {len(units)} meterable unit(s), "
                            f"{london(first)} – {london(last)}" if readings else "no readable readings",
                    readings=[{"unit": r.meterable_unit, "start": london(r.start), "kind": r.kind.value,
                               "value": f"{r.value:g}", "quality": r.quality or "—"} for r in readings[:2000]])
        return view
    for resource in doc.get("resources") or []:
        for interval in resource.get("intervals") or []:
            period = interval.get("intervalPeriod") or {}
            for payload in interval.get("payloads") or []:
                view["rows"].append({"resource": resource.get("resourceName"), "interval": interval.get("id"),
                                     "start": london(period.get("start")), "type": payload.get("type"),
                                     "value_text": _text(payload.get("values") or ())})
    view["summary"] = f"{len(view['rows'])} payload value(s)"
    return view


@router.get("/events/{event_id}", response_class=HTMLResponse, include_in_schema=False)
async def event_page(request: Request, account: FspAccount, session: ReadSession, event_id: ObjectId) -> Response:
    name, viewer, doc = await _find_event(session, account, event_id)
    by_event, _ = await _reports_by_event(session, viewer, event_id)
    event_reports = by_event.get(event_id, [])
    view = _event_view(doc, await _program_names(session, viewer), name, event_reports)
    own = [_report_view(r, doc, event_reports) for r in event_reports]
    return _page(request, "fsp/event.html", {"title": f"Dispatch {view['name']}", "event": view, "reports": own})


# ------------------------------------------------------------------------------------------ reports


@router.get("/reports", response_class=HTMLResponse, include_in_schema=False)
async def reports_page(request: Request, account: FspAccount, session: ReadSession, ven: VenFilter = None) -> Response:
    rows: list[dict[str, Any]] = []
    truncated = False
    for name, viewer in await _viewers(session, account, ven):
        by_event, cut = await _reports_by_event(session, viewer)
        truncated = truncated or cut
        for event_id, event_reports in by_event.items():
            try:
                event: dict[str, Any] | None = (await events.get_event(session, viewer, event_id)).document
            except NotFound:
                event = None  # its event is not (or no longer) visible to this VEN
            rows += [{**_report_view(r, event, event_reports), "ven": name} for r in event_reports]
    rows.sort(key=lambda r: r["sort"], reverse=True)
    return _page(request, "fsp/reports.html", {"title": "Reports received by the operator", "rows": rows,
                                               "truncated": truncated, "ven_names": account.ven_names, "ven": ven})


@router.get("/reports/{report_id}", response_class=HTMLResponse, include_in_schema=False)
async def report_page(request: Request, account: FspAccount, session: ReadSession, report_id: ObjectId) -> Response:
    for name, viewer in await _viewers(session, account, None):
        if viewer.ven_id is None:
            continue
        try:
            doc = (await reports.get_report(session, viewer, report_id)).document
        except NotFound:
            continue
        event_id = str(doc.get("eventID"))
        try:
            event: dict[str, Any] | None = (await events.get_event(session, viewer, event_id)).document
        except NotFound:
            event = None
        by_event, _ = await _reports_by_event(session, viewer, event_id)
        view = {**_report_view(doc, event, by_event.get(event_id, [])), "ven": name}
        return _page(request, "fsp/report.html", {"title": f"Report {view['name']}", "report": view})
    raise NotFound(f"report {report_id!r} not found")


# ------------------------------------------------------------------------------------------ test dispatch


@dataclass(frozen=True)
class Sandbox:
    name: str
    operator_id: str
    product: Product
    suffix: str | None


_SANDBOX_NAME = re.compile(r"^(?P<operator>[A-Z]+)-(?P<code>[A-Z0-9_]+)(?:-(?P<suffix>[A-Za-z0-9_]+))?$")


def sandbox_of(settings: Settings) -> Sandbox:
    """The sandbox program the setting names; a product with a minutes notice, so a test can start soon."""
    name = settings.console_sandbox_program
    match = _SANDBOX_NAME.match(name)
    if not match or match["operator"] not in NETWORK_OPERATORS or match["code"] not in ProductCode.__members__:
        raise Conflict(f"the sandbox program name {name!r} (VTN_CONSOLE_SANDBOX_PROGRAM) is not <operator>-<product>[-suffix]")
    prod = product(match["code"])
    if prod.notice.kind is not NoticeKind.MINUTES:
        raise Conflict(f"the sandbox product {prod.code.value} needs {prod.notice} notice; choose one with minutes")
    return Sandbox(name, match["operator"], prod, match["suffix"])


def sandbox_viewer(account: Account) -> Viewer:
    """The console's own BL identity for test dispatches, named after the account (it shows in logs)."""
    scopes = frozenset({Scope.READ_ALL.value, Scope.WRITE_PROGRAMS.value, Scope.WRITE_EVENTS.value})
    return Viewer(Principal(
        client_id=f"console-sandbox:{account.username}", role=Role.BL, scopes=scopes, operator=account.operator
    ))


async def _find_program(session: AsyncSession, viewer: Viewer, name: str) -> dict[str, Any] | None:
    rows, _ = await _all(lambda page: programs.list_programs(session, viewer, None, page), cap=10_000)
    return next((p for p in rows if p.get("programName") == name), None)


async def ensure_sandbox_program(request: Request, session: AsyncSession, viewer: Viewer) -> dict[str, Any]:
    """Find the sandbox program by name, or create it (untargeted, so every VEN may read it)."""
    sandbox = sandbox_of(request.app.state.settings)
    cached = getattr(request.app.state, "console_sandbox_program_id", None)
    found = None
    if cached:
        try:
            found = (await programs.get_program(session, viewer, cached)).document
        except NotFound:
            found = None
    found = found if found and found.get("programName") == sandbox.name else await _find_program(session, viewer, sandbox.name)
    if found is None:
        program = b.build_program(sandbox.product.code, operator_id=sandbox.operator_id, suffix=sandbox.suffix)
        program = program.model_copy(update={"programLongName": f"SANDBOX: console test dispatches ({sandbox.product.name}); "
                                                                "not a contract, no payment"})
        found = await programs.create_program(session, viewer, program)
        log.info("console sandbox program %s created (%s)", sandbox.name, found.get("id"))
    if not is_gb_program(found) or product_from_program_type(found.get("programType")) is None:
        raise Conflict(f"program {sandbox.name!r} exists but is not a GB program; rename it or change the setting")
    request.app.state.console_sandbox_program_id = found["id"]
    return found


def _dispatch_units(resources: list[dict[str, Any]]) -> list[str]:
    """Its dispatch units; a VEN that declares no GB roles offers all its resources."""
    roles = {str(r.get("resourceName")): _first(r.get("attributes"), m.A_ROLE) for r in resources}
    units = [name for name, role in roles.items() if role == m.ResourceRole.DISPATCH_UNIT.value]
    return units or [name for name, role in roles.items() if role is None]


async def _test_targets(session: AsyncSession, account: Account) -> list[dict[str, Any]]:
    """(VEN, dispatch unit) choices: only the account's own VENs and their own resources."""
    choices = []
    for name, viewer in await _viewers(session, account, None):
        if viewer.ven_id is None:
            continue
        ven_id = viewer.ven_id
        rows, _ = await _all(lambda page, v=viewer, i=ven_id: vens.list_resources(session, v, i, None, None, page))  # type: ignore[misc]
        for unit in _dispatch_units(rows):
            choices.append({"ven": name, "unit": unit, "value": json.dumps([name, unit]), "label": f"{name} / {unit}"})
    return choices


def _memory(request: Request, key: str) -> dict[str, Any]:
    """A small per-process dict on the app state (rate limit, first sightings)."""
    store = getattr(request.app.state, key, None)
    if store is None:
        store = {}
        setattr(request.app.state, key, store)
    return store


def _rate_limit(request: Request, account: Account) -> int | None:
    """Seconds to wait, or None and the attempt is counted: one test dispatch per account per interval
    (per process, like the sign-in limiter)."""
    interval = float(request.app.state.settings.console_test_dispatch_interval_seconds)
    last = _memory(request, "console_test_last")
    now = time.monotonic()
    previous = last.get(account.username)
    if previous is not None and now - previous < interval:
        return max(1, math.ceil(interval - (now - previous)))
    last[account.username] = now
    return None


def _unrate(request: Request, account: Account) -> None:
    _memory(request, "console_test_last").pop(account.username, None)


def _test_ref(ven_name: str, now: datetime) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", ven_name)[:40]
    return f"{TEST_REF_PREFIX}{safe}-{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


def build_test_instruction(prod: Product, operator_id: str, ven_name: str, unit: str,
                           now: datetime) -> m.DispatchInstruction:
    """RUN, revision 1, instructed now, starting after the product's notice plus a minute, five minutes long."""
    if prod.notice.kind is not NoticeKind.MINUTES:
        raise Conflict(f"the sandbox program's product {prod.code.value} needs {prod.notice} notice; use one with minutes")
    minutes = (prod.notice.minutes or 0) + 1
    start = (now + timedelta(minutes=minutes, seconds=59)).replace(second=0, microsecond=0)
    kind = SetpointKind.DELTA if SetpointKind.DELTA in prod.setpoint_kinds else SetpointKind.ABSOLUTE
    volume = TEST_VOLUME_KW if kind is SetpointKind.DELTA else 0.0
    return m.DispatchInstruction(
        operator_id=operator_id, dispatch_ref=_test_ref(ven_name, now), revision=1, status=m.DispatchStatus.RUN,
        instruction_time=now, fsp_id=ven_name, dispatch_unit=unit, contract_id="SANDBOX",
        service_start=start, service_end=start + TEST_LENGTH,
        setpoints=(m.Setpoint(start, volume, m.ServiceUnits.KW, kind),),
    )


async def _recent_tests(session: AsyncSession, account: Account, sandbox_id: str | None) -> list[dict[str, Any]]:
    if sandbox_id is None:
        return []
    found = []
    for name, viewer in await _viewers(session, account, None):
        docs, _ = await _all(lambda page, v=viewer: events.list_events(session, v, sandbox_id, None, page))  # type: ignore[misc]
        for doc in docs:
            ins = _instruction(doc)
            if ins is not None and ins.fsp_id in account.ven_names and ins.dispatch_ref.startswith(TEST_REF_PREFIX):
                found.append({"id": doc["id"], "name": doc.get("eventName"), "ven": name, "unit": ins.dispatch_unit,
                              "created": london(doc.get("createdDateTime")), "sort": _sort_key(doc)})
    unique = {f["id"]: f for f in found}
    return sorted(unique.values(), key=lambda f: f["sort"], reverse=True)[:10]


@router.get("/test", response_class=HTMLResponse, include_in_schema=False)
async def test_page(request: Request, account: FspAccount, session: ReadSession) -> Response:
    settings: Settings = request.app.state.settings
    sandbox_id = None
    for _name, viewer in await _viewers(session, account, None):
        program = await _find_program(session, viewer, settings.console_sandbox_program)
        if program is not None:
            sandbox_id = str(program["id"])
            break
    return _page(request, "fsp/test.html", {
        "title": "Send me a test dispatch", "choices": await _test_targets(session, account),
        "sandbox": settings.console_sandbox_program, "interval": f"{settings.console_test_dispatch_interval_seconds:g}",
        "recent": await _recent_tests(session, account, sandbox_id), "panel": None,
        "timeout": TEST_TIMEOUT_SECONDS,
    })


@router.post("/test", include_in_schema=False)
async def send_test_dispatch(request: Request, account: FspAccount, session: WriteSession,
                             target: Annotated[str, Form(max_length=600)] = "") -> Response:
    try:
        ven_name, unit = json.loads(target)
        if not isinstance(ven_name, str) or not isinstance(unit, str):
            raise ValueError
    except (ValueError, TypeError):
        raise BadRequest("choose one of your VENs and dispatch units") from None
    viewer = await viewer_for_account(session, account, ven_name)  # 404 unless the account is bound to it
    if viewer.ven_id is None:
        raise Conflict(f"VEN {ven_name!r} has not registered with the VTN yet: start it once, then try again")
    ven_id = viewer.ven_id
    resources, _ = await _all(lambda page: vens.list_resources(session, viewer, ven_id, None, None, page))
    if unit not in _dispatch_units(resources):
        raise NotFound(f"{unit!r} is not a dispatch unit of VEN {ven_name!r}")
    sandbox_of(request.app.state.settings)  # a misconfigured name is a 409 page before anything else
    wait = _rate_limit(request, account)
    if wait is not None:
        interval = request.app.state.settings.console_test_dispatch_interval_seconds
        return render(request, "error_fragment.html" if is_htmx(request) else "error.html",
                      {"title": "Too many requests", "status": 429,
                       "detail": f"One test dispatch every {interval:g} seconds: wait {wait} s and try again."},
                      status_code=429, headers={"Retry-After": str(wait)})
    try:
        operator_viewer = sandbox_viewer(account)
        program = await ensure_sandbox_program(request, session, operator_viewer)
        now = datetime.now(UTC).replace(microsecond=0)
        prod = product_from_program_type(program.get("programType"))
        assert prod is not None  # ensure_sandbox_program checked it
        ins = build_test_instruction(prod, str(program.get("retailerName")), ven_name, unit, now)
        event = b.build_event(ins, str(program["id"]))
        if (key := signing_key_for(request)) is not None:  # as the operator's own dispatches: a VEN that requires
            event = sign_event(event, key)  # signatures can be tested end to end
        created = await events.create_event(session, operator_viewer, event)
    except BaseException:
        _unrate(request, account)  # nothing was sent: the next click may try again at once
        raise
    log.info("console test dispatch %s (%s) for %s/%s by %s", created["id"], ins.event_name, ven_name, unit, account.username)
    path = f"/fsp/test/{created['id']}"
    if is_htmx(request):
        await session.commit()  # the panel's first poll must find the event
        response = await _panel(request, session, account, str(created["id"]), fragment=True)
        response.headers["HX-Push-Url"] = console_url(request, path)
        return response
    return redirect(request, path, message=f"Test dispatch {ins.event_name} sent to {ven_name} / {unit}.", level="success")


async def _last_contact(
    request: Request, session: AsyncSession, operator: str, ven_name: str
) -> tuple[datetime | None, datetime | None]:
    """The VEN's last call to the VTN and the last webhook its receiver accepted (any VTN process)."""
    state = request.app.state
    item = await admin.ven_last_seen(
        session, operator, state.heartbeats.latest_by_ven(operator), state.settings.comms_loss_seconds, ven_name
    ) or {}
    return parse_time(item.get("lastSeen")), parse_time(item.get("lastDelivery"))


async def _test_status(request: Request, session: AsyncSession, account: Account, event_id: str) -> dict[str, Any]:
    settings: Settings = request.app.state.settings
    _name, viewer, doc = await _find_event(session, account, event_id)
    program = (await programs.get_program(session, viewer, str(doc.get("programID")))).document
    ins = _instruction(doc)
    # Only the account's own test dispatches: on the sandbox program and addressed to one of its VENs.
    if program.get("programName") != settings.console_sandbox_program or ins is None or ins.fsp_id not in account.ven_names:
        raise NotFound(f"test dispatch {event_id!r} not found")
    ven_name = ins.fsp_id
    created = parse_time(doc.get("createdDateTime")) or b.utc(ins.instruction_time)
    now = datetime.now(UTC)
    by_event, _ = await _reports_by_event(session, await viewer_for_account(session, account, ven_name), event_id)
    ack_docs = [r for r in by_event.get(event_id, []) if r.get("reportName") == m.R_ACK]
    ack_status = board.ack_status(doc, ack_docs)[0]
    latest = ack_status.latest_ack
    ack_report = None
    for report in sorted(ack_docs, key=lambda r: str(r.get("createdDateTime"))):
        try:
            parsed = b.parse_ack_report(report)
        except (ValueError, IndexError, KeyError, TypeError):
            continue
        if parsed.revision == ins.revision and parsed.event_name == ins.event_name and parsed.dispatch_unit == ins.dispatch_unit:
            ack_report = report
            break
    # "Received": the VEN's first call to the VTN after the dispatch existed (poll, or its ack). The heartbeat
    # keeps only the newest call, so the first one seen after creation is remembered (per process).
    firsts = _memory(request, "console_test_received")
    seen, delivered = await _last_contact(request, session, account.operator, ven_name)
    contact = min((t for t in (seen, delivered) if t is not None and t >= created), default=None)
    if event_id not in firsts and contact is not None:
        if len(firsts) > 1000:
            firsts.clear()
        firsts[event_id] = contact
    received_at = firsts.get(event_id)
    acked_at = parse_time(ack_report.get("createdDateTime")) if ack_report else None
    if acked_at is not None and (received_at is None or acked_at < received_at):
        received_at = acked_at
    if latest is not None and (received_at is None or latest.received_time < received_at):
        received_at = max(latest.received_time, created)  # the VEN's own receipt time (its clock)
    elapsed = (now - created).total_seconds()
    done = acked_at is not None or elapsed > TEST_TIMEOUT_SECONDS
    return {
        "id": event_id, "name": ins.event_name, "ven": ven_name, "unit": ins.dispatch_unit,
        "program": program.get("programName"), "created": london(created),
        "window": london_window(ins.service_start, ins.service_end), "volume": _text(_volume(s) for s in ins.setpoints),
        "status": ins.status.value, "revision": ins.revision,
        "received": received_at is not None, "received_at": london(received_at),
        "received_seconds": seconds((received_at - created).total_seconds() if received_at else None),
        "last_seen": london(seen),
        "acked": acked_at is not None, "acked_at": london(acked_at),
        "ack_seconds": seconds((acked_at - created).total_seconds() if acked_at else None),
        "ack_seconds_raw": f"{(acked_at - created).total_seconds():.3f}" if acked_at else "",
        "ven_latency": seconds(latest.latency_seconds if latest else None),
        "ack_result": latest.result.value if latest else None, "ack_reason": latest.reason if latest else None,
        "ack_status": latest.status.value if latest else None,
        "status_matches": ack_status.latest_status_matches,
        "report_id": ack_report.get("id") if ack_report else None,
        "done": done, "timed_out": done and acked_at is None, "elapsed": seconds(elapsed), "timeout": TEST_TIMEOUT_SECONDS,
    }


async def _panel(request: Request, session: AsyncSession, account: Account, event_id: str, fragment: bool) -> HTMLResponse:
    panel = await _test_status(request, session, account, event_id)
    if fragment:
        return render(request, "fsp/_test_panel.html", {"panel": panel})
    return _page(request, "fsp/test_result.html", {"title": f"Test dispatch {panel['name']}", "panel": panel})


@router.get("/test/{event_id}", response_class=HTMLResponse, include_in_schema=False)
async def test_result_page(request: Request, account: FspAccount, session: ReadSession, event_id: ObjectId) -> Response:
    return await _panel(request, session, account, event_id, fragment=False)


@router.get("/test/{event_id}/panel", response_class=HTMLResponse, include_in_schema=False)
async def test_result_panel(request: Request, account: FspAccount, session: ReadSession, event_id: ObjectId) -> Response:
    """The live result panel: htmx re-fetches it every second until acknowledged or timed out."""
    return await _panel(request, session, account, event_id, fragment=True)


# ------------------------------------------------------------------------------------------ sign-off (go live)


def fsp_actor(account: Account) -> audit.Actor:
    return audit.Actor(f"console:{account.username}", Role.VEN.value, account.operator)


async def _signoff_page(request: Request, session: AsyncSession, account: Account, *, status_code: int = 200,
                        error: str | None = None) -> HTMLResponse:
    clients = await signoffs.ven_clients(session, account.operator, account.ven_names)
    rows = await signoffs.list_signoffs(session, account.operator, client_ids=[c.client_id for c in clients], limit=50)
    pending = {r.client_id for r in rows if r.decision is None}
    return render(request, "fsp/signoff.html", {
        "title": "Go live", "clients": clients, "signoffs": [signoffs.entry(r) for r in rows], "london": london,
        "eligible": [c for c in clients if c.stage != Stage.LIVE.value and c.client_id not in pending], "error": error,
        "sandbox": request.app.state.settings.console_sandbox_program,
    }, status_code=status_code)


@router.get("/signoff", response_class=HTMLResponse, include_in_schema=False)
async def signoff_page(request: Request, account: FspAccount, session: ReadSession) -> Response:
    return await _signoff_page(request, session, account)


@router.post("/signoff", include_in_schema=False)
async def submit_signoff(request: Request, account: FspAccount, session: WriteSession,
                         client_id: Annotated[str, Form(max_length=128)] = "",
                         report: Annotated[UploadFile | None, File()] = None) -> Response:
    """Upload the `oadr-conformance ven --json` report for one sandbox client; an operator decides."""
    if report is None:
        raise BadRequest("choose the JSON report file `oadr-conformance ven --json` wrote")
    raw = await report.read(signoffs.MAX_REPORT_BYTES + 1)
    try:
        row = await signoffs.submit(session, fsp_actor(account), client_id, signoffs.parse_report(raw),
                                    ven_names=account.ven_names)
    except (BadRequest, Conflict) as exc:  # the form again, with why (nothing was recorded)
        await session.rollback()
        return await _signoff_page(request, session, account, status_code=exc.status, error=exc.detail)
    log.info("sign-off %s submitted for %s by %s", row.id, client_id, account.username)
    return redirect(request, "/fsp/signoff", level="success",
                    message=f"Sign-off {row.id} for {client_id} submitted: the network operator will review it.")


__all__ = ["NAV", "Sandbox", "build_test_instruction", "ensure_sandbox_program", "router", "sandbox_of"]


# ------------------------------------------------------------------------------------------ availability


@router.get("/availability", response_class=HTMLResponse, include_in_schema=False)
async def availability_page(request: Request, account: FspAccount, session: ReadSession,
                            week: Annotated[str | None, Query(max_length=10)] = None) -> Response:
    """The operator's answers to this FSP's declarations for a week: read from the acceptance events its VENs see."""
    from gb_profile.availability import parse_acceptance_event
    from vtn.console.calendar import Slot, grid, parse_week

    monday = parse_week(week, datetime.now(UTC))
    entries = []
    for _name, viewer in await _viewers(session, account, None):
        docs, _ = await _all(lambda page, viewer=viewer: events.list_events(session, viewer, None, None, page))  # type: ignore[misc]
        for doc in docs:
            if not b.is_acceptance_event(doc):
                continue
            try:
                fsp, doc_week, windows = parse_acceptance_event(doc)
            except (m.ProfileError, ValueError, KeyError, TypeError):
                continue
            if doc_week == monday:
                entries += [(fsp, a.unit, a.direction.value, Slot(None, a.start, a.end, a.declared_kw, a.status,
                                                                  a.accepted_kw, a.bid_price, a.awarded_price))
                            for a in windows]
    return _page(request, "fsp/availability.html", {"title": "Availability", "calendar": grid(monday, entries)})
