"""The availability cycle on the VTN (docs/gb-profile.md §6.5): declarations checked against the contract terms,
acceptances stored per window and published to the FSP as an OpenADR event, dispatches checked against them.

A declaration is a GB_AVAILABILITY report (the FSP's VEN posts it; in an operator-managed program the operator
enters it through `POST /admin/gb/programs/{id}/declarations`). Its windows become `gb_acceptance` rows in the same
transaction, so a refused declaration stores nothing.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Text, cast
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from gb_profile import availability as av
from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.settlement import LONDON
from gb_profile.validator import is_gb_program
from openadr3.models import Event
from vtn.audit.service import Actor, record
from vtn.contracts.models import AcceptanceRow
from vtn.contracts.service import contract_terms, find_program
from vtn.core.database import utcnow
from vtn.core.errors import BadRequest, Conflict, Forbidden, NotFound
from vtn.programs.models import ProgramRow


def _raise(problems: list[av.Problem]) -> None:
    if not problems:
        return
    errors = [{"rule": p.rule, "field": p.field, "message": p.message} for p in problems]
    detail = "availability declaration refused: " + "; ".join(f"{p.rule} {p.message}" for p in problems[:5])
    status = max(p.status for p in problems)
    if status == 403:
        raise Forbidden(detail, extra={"errors": errors})
    raise (Conflict if status == 409 else BadRequest)(detail, extra={"errors": errors})


def _bids(document: dict[str, Any]) -> dict[tuple[str, str], float]:
    """The FSP's bid per (unit, window start): a PRICE payload in the declaration's interval (auctions)."""
    bids: dict[tuple[str, str], float] = {}
    for resource in document.get("resources") or ():
        for interval in resource.get("intervals") or ():
            for payload in interval.get("payloads") or ():
                values = payload.get("values") or []
                if payload.get("type") != m.P_PRICE or not values or not isinstance(values[0], int | float):
                    continue
                try:
                    start = b.parse_utc_text((interval.get("intervalPeriod") or {}).get("start"))
                except (m.ProfileError, ValueError):
                    continue
                bids[(str(resource.get("resourceName")), b.utc_text(start))] = float(values[0])
    return bids


async def capacities(session: AsyncSession, operator: str, ven_name: str, units: Iterable[str]) -> dict[str, float | None]:
    """What each dispatch unit (group) of the FSP can deliver, in kW, from its registered resources.

    The sum over its meterable units (resources with GB_DISPATCH_UNIT = the unit) of MAX_POWER_CONSUMPTION +
    MAX_POWER_EXPORT (from full import to full export); when none of them states a capacity, the dispatch unit
    resource's own two attributes; None when nothing is stated (then only the contract's maxCapacityKW limits).
    """
    from vtn.vens.models import ResourceRow, VenRow

    wanted = set(units)
    rows = (await session.exec(
        select(ResourceRow.resource_name, ResourceRow.document)  # type: ignore[call-overload]
        .join(VenRow, col(VenRow.id) == col(ResourceRow.ven_id))
        .where(VenRow.operator == operator, VenRow.ven_name == ven_name)
    )).all()

    def capacity(document: dict[str, Any]) -> float | None:
        values = {a.get("type"): (a.get("values") or [None])[0] for a in document.get("attributes") or ()}
        stated = [float(values[k]) for k in (m.A_MAX_CONSUMPTION, m.A_MAX_EXPORT)
                  if isinstance(values.get(k), int | float)]
        return sum(stated) if stated else None

    def group(document: dict[str, Any]) -> str | None:
        for attribute in document.get("attributes") or ():
            if attribute.get("type") == m.A_DISPATCH_UNIT and attribute.get("values"):
                return str(attribute["values"][0])
        return None

    result: dict[str, float | None] = {}
    for unit in wanted:
        meters = [capacity(d) for _, d in rows if group(d) == unit]
        stated = [c for c in meters if c is not None]
        own = next((capacity(d) for name, d in rows if name == unit), None)
        result[unit] = sum(stated) if stated else own
    return result


def _window(row: AcceptanceRow) -> av.Window:
    return av.Window(row.unit, row.start, row.end, m.Direction(row.direction), row.declared_kw)


async def _terms_by_unit(session: AsyncSession, operator: str, program_id: str, units: Iterable[str]
                         ) -> dict[str, m.Contract]:
    return {u: await contract_terms(session, operator, program_id, u) for u in sorted(set(units))}


def _closed(row: AcceptanceRow, terms: m.Contract, now: datetime) -> bool:
    cutoff = terms.cutoff_for(date.fromisoformat(row.week))
    return now >= (cutoff if cutoff is not None else row.start)


async def _rows_of_report(session: AsyncSession, report_id: str) -> list[AcceptanceRow]:
    return list((await session.exec(select(AcceptanceRow).where(AcceptanceRow.report_id == report_id))).all())


async def on_declaration(session: AsyncSession, actor: Actor, document: dict[str, Any], program: ProgramRow, *,
                         operator_entry: bool = False, replacing: bool = False, now: datetime | None = None) -> None:
    """Check a declaration just written (`document`, the stored report) and record its windows; raises (and the
    caller's transaction rolls back) when it is refused. `operator_entry`: the operator enters it for the FSP."""
    if document.get("reportName") != m.R_AVAILABILITY or not is_gb_program(program.document):
        return
    now = now or utcnow()
    try:
        declaration = b.parse_availability_report(document)
    except (m.ProfileError, ValueError):
        return  # the profile validator has refused it already
    operator, ven_name, report_id = program.operator, str(document["clientName"]), str(document["id"])
    windows = av.windows_of(declaration)
    old = await _rows_of_report(session, report_id) if replacing else []
    terms = await _terms_by_unit(session, operator, program.id, [w.unit for w in windows] + [r.unit for r in old])
    managed = sorted(u for u, t in terms.items() if t.operator_managed)
    if managed and not operator_entry:
        _raise([av.Problem(av.OPERATOR_MANAGED, "$", f"the operator enters the declarations of {', '.join(managed)} "
                           "in this program (operator-managed); they are read-only to the FSP", 403)])
    if any(r.operator_entered for r in old) and not operator_entry:
        _raise([av.Problem(av.OPERATOR_MANAGED, "$", "this declaration was entered by the operator and is "
                           "read-only to the FSP", 403)])
    closed = [r for r in old if _closed(r, terms[r.unit], now)]
    if closed:
        _raise([av.Problem(av.CUTOFF, "$", f"the declaration has windows of the closed week {closed[0].week}: "
                           "it cannot change any more", 409)])
    earlier = []
    if windows:
        first, last = min(w.start for w in windows), max(w.end for w in windows)
        found = (await session.exec(select(AcceptanceRow).where(
            AcceptanceRow.operator == operator, AcceptanceRow.program_id == program.id,
            AcceptanceRow.ven_name == ven_name, col(AcceptanceRow.unit).in_(sorted(terms)),
            AcceptanceRow.report_id != report_id, AcceptanceRow.status != av.REJECTED,
            col(AcceptanceRow.start) < last, col(AcceptanceRow.end) > first,
        ))).all()
        earlier = [_window(r) for r in found]
    caps = await capacities(session, operator, ven_name, terms)
    _raise(av.check_declaration(windows, terms, caps, earlier, now))

    weeks = {r.week for r in old}
    for row in old:
        await session.delete(row)
    bids = _bids(document)
    for w in windows:
        auto = terms[w.unit].acceptance_mode is m.AcceptanceMode.AUTO
        row = AcceptanceRow(
            operator=operator, program_id=program.id, report_id=report_id, ven_name=ven_name, unit=w.unit,
            week=w.week.isoformat(), start=w.start, end=w.end, direction=w.direction.value, declared_kw=w.kw,
            bid_price=bids.get((w.unit, b.utc_text(w.start))), status=av.ACCEPTED if auto else av.PENDING,
            accepted_kw=w.kw if auto else None, entered_by=actor.id, operator_entered=operator_entry,
            created_at=now, decided_by="auto" if auto else None, decided_at=now if auto else None,
        )
        session.add(row)
        weeks.add(row.week)
    await session.flush()
    for week in sorted(weeks):
        await publish(session, program, ven_name, date.fromisoformat(week))
    if operator_entry:
        await record(session, actor, "gb.declaration.enter", "report", report_id,
                     detail={"venName": ven_name, "programID": program.id, "windows": len(windows)}, operator=operator)


async def on_declaration_deleted(session: AsyncSession, viewer_is_bl: bool, document: dict[str, Any],
                                 program: ProgramRow, now: datetime | None = None) -> None:
    """Before a declaration is deleted: refused when read-only to the caller or its week is closed; else its windows
    go (and the FSP's acceptance events are published again)."""
    if document.get("reportName") != m.R_AVAILABILITY or not is_gb_program(program.document):
        return
    now = now or utcnow()
    rows = await _rows_of_report(session, str(document["id"]))
    if any(r.operator_entered for r in rows) and not viewer_is_bl:
        _raise([av.Problem(av.OPERATOR_MANAGED, "$", "this declaration was entered by the operator and is "
                           "read-only to the FSP", 403)])
    terms = await _terms_by_unit(session, program.operator, program.id, [r.unit for r in rows])
    if any(_closed(r, terms[r.unit], now) for r in rows):
        _raise([av.Problem(av.CUTOFF, "$", "the declaration has windows of a closed week: it is kept", 409)])
    weeks = {r.week for r in rows}
    for row in rows:
        await session.delete(row)
    await session.flush()
    for week in sorted(weeks):
        await publish(session, program, str(document.get("clientName")), date.fromisoformat(week))


def _acceptance(row: AcceptanceRow) -> av.Acceptance:
    return av.Acceptance(row.unit, row.start, row.end, m.Direction(row.direction), row.declared_kw, row.status,
                         row.accepted_kw, row.bid_price, row.awarded_price)


async def publish(session: AsyncSession, program: ProgramRow, ven_name: str, week: date) -> str:
    """Write (or rewrite) the FSP's acceptance event of `week` from the stored rows; returns its id. The event is an
    ordinary write: subscriptions are notified and the FSP's next poll of /events returns it."""
    from vtn.events.models import EventRow
    from vtn.events.service import store as events

    rows = list((await session.exec(select(AcceptanceRow).where(
        AcceptanceRow.operator == program.operator, AcceptanceRow.program_id == program.id,
        AcceptanceRow.ven_name == ven_name, AcceptanceRow.week == week.isoformat(),
    ).order_by(col(AcceptanceRow.start), col(AcceptanceRow.id)))).all())
    operator_id = str(program.document.get("retailerName") or program.operator)
    document = av.acceptance_event(program.id, operator_id, ven_name, week, [_acceptance(r) for r in rows])
    content = Event.model_validate(document).content()
    name = document["eventName"]
    event_id = next((r.event_id for r in rows if r.event_id), None)
    row = await session.get(EventRow, event_id) if event_id else None
    if row is None:  # all its windows were deleted once: find it by name (the JSON text holds the quoted name)
        candidates = (await session.exec(select(EventRow).where(
            EventRow.program_id == program.id, EventRow.operator == program.operator,
            cast(EventRow.document, Text).contains(f'"{name}"'),
        ))).all()
        row = next((c for c in candidates if c.document.get("eventName") == name), None)
    if row is None:
        row = await events.insert(session, content, change={"program_id": program.id}, program_id=program.id,
                                  operator=program.operator, sandbox=program.sandbox)
    else:
        row = await events.replace(session, row, content, change={"program_id": program.id})
    for r in rows:
        r.event_id = row.id
        session.add(r)
    await session.flush()
    return str(row.id)


# --- the operator's side -------------------------------------------------------------------------------------------


def acceptance_item(row: AcceptanceRow) -> dict[str, Any]:
    def z(moment: datetime | None) -> str | None:
        return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None

    return {
        "id": row.id, "programID": row.program_id, "reportID": row.report_id, "venName": row.ven_name,
        "unit": row.unit, "week": row.week, "start": z(row.start), "end": z(row.end),
        "startLocal": row.start.astimezone(LONDON).isoformat(), "endLocal": row.end.astimezone(LONDON).isoformat(),
        "direction": row.direction, "declaredKW": row.declared_kw, "bidPrice": row.bid_price, "status": row.status,
        "acceptedKW": row.accepted_kw, "awardedPrice": row.awarded_price, "reason": row.reason,
        "enteredBy": row.entered_by, "operatorEntered": row.operator_entered, "decidedBy": row.decided_by,
        "decidedDateTime": z(row.decided_at), "eventID": row.event_id,
    }


async def list_acceptances(session: AsyncSession, operator: str, program: str, week: date | None = None,
                           ven_name: str | None = None) -> tuple[ProgramRow, list[AcceptanceRow]]:
    row = await find_program(session, operator, program)
    query = select(AcceptanceRow).where(AcceptanceRow.operator == operator, AcceptanceRow.program_id == row.id)
    if week is not None:
        query = query.where(AcceptanceRow.week == week.isoformat())
    if ven_name is not None:
        query = query.where(AcceptanceRow.ven_name == ven_name)
    found = await session.exec(query.order_by(col(AcceptanceRow.start), col(AcceptanceRow.unit), col(AcceptanceRow.id)))
    return row, list(found.all())


async def decide(session: AsyncSession, actor: Actor, operator: str, acceptance_id: int, status: str,
                 accepted_kw: float | None = None, awarded_price: float | None = None, bid_price: float | None = None,
                 reason: str | None = None) -> AcceptanceRow:
    """The operator's answer to one window: ACCEPTED (all the declared kW unless `accepted_kw` says less) or
    REJECTED (with a reason). In an auction program an acceptance needs the awarded price. Republishes the FSP's
    acceptance event of that week."""
    row = await session.get(AcceptanceRow, acceptance_id)
    if row is None or row.operator != operator:
        raise NotFound(f"acceptance {acceptance_id} not found")
    program = await session.get(ProgramRow, row.program_id)
    assert program is not None
    terms = await contract_terms(session, operator, row.program_id, row.unit)
    if status not in (av.ACCEPTED, av.REJECTED):
        raise BadRequest("status must be ACCEPTED or REJECTED")
    if (awarded_price is not None and awarded_price < 0) or (bid_price is not None and bid_price < 0):
        raise BadRequest("prices must not be negative")  # every check before the row changes
    if status == av.ACCEPTED:
        kw = row.declared_kw if accepted_kw is None else accepted_kw
        if not 0 <= kw <= row.declared_kw:
            raise BadRequest(f"acceptedKW must lie between 0 and the declared {row.declared_kw:g} kW")
        if terms.auction and awarded_price is None:
            raise BadRequest("this is an auction program: an acceptance needs the awardedPrice (GBP/MW/h)")
        row.accepted_kw, row.reason = kw, reason
    else:
        if not reason:
            raise BadRequest("a rejection needs a reason")
        row.accepted_kw, row.reason = None, reason
    row.status, row.decided_by, row.decided_at = status, actor.id, utcnow()
    row.awarded_price = awarded_price if status == av.ACCEPTED else None
    if bid_price is not None:
        row.bid_price = bid_price
    session.add(row)
    await session.flush()
    await publish(session, program, row.ven_name, date.fromisoformat(row.week))
    await record(session, actor, f"gb.acceptance.{status.lower()}", "gb_acceptance", str(row.id),
                 detail={"venName": row.ven_name, "unit": row.unit, "week": row.week, "acceptedKW": row.accepted_kw,
                         "awardedPrice": row.awarded_price, "reason": reason}, operator=operator)
    return row


CSV_COLUMNS = ("id", "venName", "unit", "week", "start", "end", "startLocal", "endLocal", "direction", "declaredKW",
               "bidPrice", "status", "acceptedKW", "awardedPrice", "reason", "enteredBy", "operatorEntered",
               "decidedBy", "decidedDateTime", "reportID")


def acceptances_csv(rows: Iterable[AcceptanceRow]) -> str:
    """One line per window: UTC and London local times, declared and accepted kW, prices, who decided."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        item = acceptance_item(row)
        writer.writerow(["" if item[c] is None else item[c] for c in CSV_COLUMNS])
    return out.getvalue()


async def accepted_windows(session: AsyncSession, operator: str, program_id: str, ven_name: str, unit: str,
                           start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    rows = (await session.exec(select(AcceptanceRow.start, AcceptanceRow.end).where(  # type: ignore[call-overload]
        AcceptanceRow.operator == operator, AcceptanceRow.program_id == program_id,
        AcceptanceRow.ven_name == ven_name, AcceptanceRow.unit == unit, AcceptanceRow.status == av.ACCEPTED,
        col(AcceptanceRow.start) < end, col(AcceptanceRow.end) > start,
    ))).all()
    return [(s, e) for s, e in rows]


async def outside_window_warnings(session: AsyncSession, program: ProgramRow, event: dict[str, Any]) -> list[str]:
    """A dispatch (open status) outside its unit's accepted windows: a warning (WARN) or a 409 (REFUSE), per the
    unit's terms; nothing when the terms say OFF (the default) or for anything that is not a dispatch."""
    if not is_gb_program(program.document) or b.is_info_event(event):
        return []
    try:
        ins = b.parse_event(event)
    except (m.ProfileError, ValueError, IndexError):
        return []
    if ins.status not in m.ACTIVE_STATUSES:
        return []
    terms = await contract_terms(session, program.operator, program.id, ins.dispatch_unit)
    if terms.outside_windows is m.OutsideWindows.OFF:
        return []
    windows = await accepted_windows(session, program.operator, program.id, ins.fsp_id, ins.dispatch_unit,
                                     ins.service_start, ins.service_end)
    if av.covered(ins.service_start, ins.service_end, windows):
        return []
    start, end = (t.astimezone(LONDON).strftime("%d %b %Y %H:%M %Z") for t in (ins.service_start, ins.service_end))
    message = (f"{av.OUTSIDE}: the dispatch of {ins.dispatch_unit} ({ins.fsp_id}) from {start} to {end} lies outside "
               "the unit's accepted availability windows")
    if terms.outside_windows is m.OutsideWindows.REFUSE:
        raise Conflict(message + "; this program refuses such dispatches",
                       extra={"errors": [{"rule": av.OUTSIDE, "field": "intervalPeriod", "message": message}]})
    return [message]
