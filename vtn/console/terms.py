"""Operator console: the contract-terms editor and operator-entered availability declarations (docs/console.md,
"Contract terms"; docs/gb-profile.md §2.1, §6.5.3). Both go through the same services as the admin API
(`vtn.contracts.service.set_terms`, `vtn.reports.service.create_report`), so the same checks and audit lines apply.

Served under `{console_path}/operator/...` (included in `vtn.console.router` with the operator routes' guards).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import select

from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.settlement import LONDON
from gb_profile.validator import is_gb_program
from openadr3.models import Report
from vtn.console.deps import OperatorAccount
from vtn.console.operator import _all, _page, _viewer, operator_actor
from vtn.console.templating import redirect
from vtn.core.deps import ReadSession, WriteSession
from vtn.core.errors import ApiError, BadRequest
from vtn.events import service as events
from vtn.programs import service as programs

router = APIRouter()

# The editable terms: (API key, label, kind). Kinds: int, float, text, mode (OFF|WARN|REFUSE), accept
# (AUTO|MANUAL), bool (tri-state: empty = not set at this level). validFrom/validTo are kept as stored (API/CLI).
FIELDS: list[tuple[str, str, str]] = [
    ("contractID", "Contract reference", "text"),
    ("venName", "FSP (VEN name)", "text"),
    ("availabilityPrice", "Availability price (GBP/MW/h)", "float"),
    ("utilisationPrice", "Utilisation price (GBP/MWh)", "float"),
    ("noticeMinutes", "Notice (minutes)", "int"),
    ("minRunMinutes", "Minimum run time (minutes)", "int"),
    ("maxRunMinutes", "Maximum run time (minutes)", "int"),
    ("maxWeeklyRunMinutes", "Maximum weekly run time (minutes, London week)", "int"),
    ("runTimeTerms", "Dispatch against run-time or notice terms", "mode"),
    ("minCapacityKW", "Minimum capacity (kW)", "float"),
    ("maxCapacityKW", "Maximum capacity (kW)", "float"),
    ("ackPeriodSeconds", "Acknowledgement period (seconds)", "int"),
    ("declarationWindowDays", "Declarations open (days before the cut-off)", "int"),
    ("acceptanceMode", "Acceptance", "accept"),
    ("auction", "Auction (bid and awarded prices)", "bool"),
    ("operatorManaged", "Operator-managed declarations", "bool"),
    ("outsideAcceptedWindows", "Dispatch outside accepted windows", "mode"),
    ("ragGreenPercent", "RAG green from (%)", "float"),
    ("ragAmberPercent", "RAG amber from (%)", "float"),
    ("termsURL", "Signed contract (URL)", "text"),
]
WEEKDAYS = m.WEEKDAYS
KEPT = ("validFrom", "validTo")  # stored values the form does not edit: carried over (a PUT replaces a level)


def _value(kind: str, key: str, label: str, text: str) -> Any:
    """A form value as the terms document wants it; BadRequest naming the field when it is not one."""
    text = text.strip()
    if text == "":
        return None
    try:
        match kind:
            case "int":
                return int(text)
            case "float":
                return float(text)
            case "bool":
                return {"true": True, "false": False}[text]
    except (ValueError, KeyError):
        raise BadRequest(f"{label}: {text!r} is not a {'whole number' if kind == 'int' else 'valid value'}") from None
    return text


def terms_from_form(form: dict[str, str], stored: dict[str, Any] | None) -> dict[str, Any]:
    """The terms document a submitted form means: every editable field from the form, the rest as stored."""
    document: dict[str, Any] = {k: stored.get(k) for k in KEPT} if stored else {}
    for key, label, kind in FIELDS:
        document[key] = _value(kind, key, label, form.get(key, ""))
    weekday, time_text = form.get("cutoffWeekday", "").strip(), form.get("cutoffTime", "").strip()
    if weekday or time_text:
        weeks = _value("int", "cutoffWeeksBefore", "Cut-off weeks before", form.get("cutoffWeeksBefore", ""))
        document["declarationCutoff"] = {"weekday": weekday, "time": time_text,
                                         "weeksBefore": 1 if weeks is None else weeks}
    else:
        document["declarationCutoff"] = None
    return {k: v for k, v in document.items() if v is not None}


def _form_of(stored: dict[str, Any] | None) -> dict[str, str]:
    """A stored level as form values (empty: not set at this level)."""
    values: dict[str, str] = {}
    for key, _, _kind in FIELDS:
        value = (stored or {}).get(key)
        values[key] = "" if value is None else ("true" if value is True else "false" if value is False else str(value))
    cut = (stored or {}).get("declarationCutoff") or {}
    values.update(cutoffWeekday=cut.get("weekday", ""), cutoffTime=cut.get("time", ""),
                  cutoffWeeksBefore=str(cut.get("weeksBefore", "")))
    return values


async def _gb_programs(session: Any, account: Any) -> list[dict[str, Any]]:
    viewer = await _viewer(session, account)
    docs = await _all(lambda page: programs.list_programs(session, viewer, None, page))
    return [d for d in docs if is_gb_program(d)]


async def _terms_context(session: Any, account: Any, program: str | None, unit: str) -> dict[str, Any]:
    from vtn.contracts.service import contract_terms, list_terms, row_document, terms_document

    gb = await _gb_programs(session, account)
    chosen = next((d for d in gb if d["id"] == program), gb[0] if gb else None)
    context: dict[str, Any] = {"title": "Contract terms", "programs": gb, "program": chosen, "unit": unit,
                               "fields": FIELDS, "weekdays": WEEKDAYS, "values": _form_of(None), "effective": None,
                               "stored_units": [], "error": None}
    if chosen is not None:
        _, rows = await list_terms(session, account.operator, chosen["id"])
        level = next((r for r in rows if r.unit == unit), None)
        context["values"] = _form_of(row_document(level) if level else None)
        context["stored_units"] = [r.unit for r in rows if r.unit]
        context["effective"] = terms_document(await contract_terms(session, account.operator, chosen["id"],
                                                                   unit or None))
    return context


@router.get("/terms", response_class=HTMLResponse)
async def terms_page(request: Request, account: OperatorAccount, session: ReadSession,
                     program: Annotated[str | None, Query(max_length=128)] = None,
                     unit: Annotated[str, Query(max_length=128)] = "") -> Response:
    """The contract terms of one GB program (or one dispatch unit's overrides): a form per level, and the terms in
    force at that level."""
    return _page(request, "operator/terms.html", await _terms_context(session, account, program, unit.strip()))


@router.post("/terms", response_class=HTMLResponse)
async def save_terms(request: Request, account: OperatorAccount, session: WriteSession) -> Response:
    from vtn.contracts.service import list_terms, row_document, set_terms

    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    program, unit = form.get("program", "")[:128], form.get("unit", "").strip()[:128]
    back = "/operator/terms?" + urlencode({"program": program, "unit": unit})
    try:
        _, rows = await list_terms(session, account.operator, program)
        level = next((r for r in rows if r.unit == unit), None)
        document = terms_from_form(form, row_document(level) if level else None)
        await set_terms(session, operator_actor(account), account.operator, program, document, unit or None)
    except BadRequest as exc:  # shown with what was typed: nothing is lost, nothing is stored
        await session.rollback()
        context = await _terms_context(session, account, program, unit)
        context.update(values={k: form.get(k, "") for k in context["values"]}, error=str(exc.detail))
        return _page(request, "operator/terms.html", context, status_code=400)
    where = f"unit {unit}" if unit else "the program"
    return redirect(request, back, level="success", message=f"Contract terms of {where} saved.")


# --------------------------------------------------------------------------------------------- declarations


@router.post("/availability/declare")
async def declare_availability(request: Request, account: OperatorAccount, session: WriteSession,
                               program: Annotated[str, Form(max_length=128)],
                               ven_name: Annotated[str, Form(min_length=1, max_length=128)],
                               unit: Annotated[str, Form(min_length=1, max_length=128)],
                               start: Annotated[str, Form(max_length=32)],
                               hours: Annotated[str, Form(max_length=20)],
                               kw: Annotated[str, Form(max_length=20)],
                               direction: Annotated[str, Form(pattern="^(TURN_DOWN|TURN_UP)$")] = "TURN_DOWN",
                               week: Annotated[str, Form(max_length=10)] = "") -> Response:
    """An FSP's availability declaration entered by the operator (operator-managed programs, §6.5.3): stored as
    the FSP's GB_AVAILABILITY report against the program's anchor event, read-only to the FSP, attributed to the
    operator's console user."""
    from vtn.contracts.service import contract_terms
    from vtn.reports.service import create_report
    from vtn.vens.models import VenRow

    back = "/operator/availability?" + urlencode({"program": program, "week": week})
    try:
        try:
            local = datetime.fromisoformat(start)
            span, power = timedelta(hours=float(hours)), float(kw)
        except ValueError:
            raise BadRequest("give the start as a London date and time, the hours and the kW as numbers") from None
        if local.tzinfo is not None:
            raise BadRequest("give the start in London local time, without an offset")
        begins = b.utc(local.replace(tzinfo=LONDON))
        viewer = await _viewer(session, account)
        docs = await _all(lambda page: events.list_events(session, viewer, program, None, page))
        anchor = next((d for d in docs if b.is_anchor_event(d)), None)
        if anchor is None:
            raise BadRequest("the program has no anchor event to declare against")
        ven = (await session.exec(select(VenRow).where(VenRow.operator == account.operator,
                                                       VenRow.ven_name == ven_name))).first()
        if ven is None:
            raise BadRequest(f"no ven {ven_name!r} in this operator: the FSP registers its ven first")
        terms = await contract_terms(session, account.operator, program, unit)
        window = m.AvailabilityWindow(begins, span, turn_down_kw=power if direction == "TURN_DOWN" else None,
                                      turn_up_kw=power if direction == "TURN_UP" else None)
        operator_id = str(anchor.get("eventName", "")).split(":")[0] or account.operator
        declaration = m.AvailabilityDeclaration(ven_name, operator_id, terms.contract_id or "CONTRACT",
                                                {unit: (window,)})
        try:
            built = b.build_availability_report(declaration, program, str(anchor["id"]))
        except (m.ProfileError, ValueError) as exc:
            raise BadRequest(str(exc)) from None
        report = Report.model_validate({**built.model_dump(mode="json", exclude_none=True), "clientName": ven_name})
        await create_report(session, viewer, report, owner_ven_id=ven.id, operator_entry=True)
    except ApiError as exc:  # the declaration's checks (cut-off, capacity, overlap, not operator-managed): shown
        await session.rollback()
        return redirect(request, back, level="error", message=str(exc.detail))
    return redirect(request, back, level="success",
                    message=f"Declared for {ven_name}: {unit} {power:g} kW from {local:%d %b %Y %H:%M} London time.")
