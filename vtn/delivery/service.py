"""Delivery reports: issued per GB dispatch after its end, versioned, never overwritten (docs/gb-profile.md §6.8).

`issue_due` is the background work (vtn.delivery.worker): every ended dispatch without a report gets version 1,
every report marked stale by late readings gets the next version. `delivery_report_for` is the stable accessor
monthly statements build on: the latest version of an event's report, or a given version.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from gb_profile import builders as b
from gb_profile import delivery as d
from gb_profile import model as m
from vtn.auth.privacy import Viewer, fsp_record_clauses
from vtn.core.background import try_round_lock
from vtn.core.database import utcnow
from vtn.core.errors import BadRequest, Conflict, NotFound
from vtn.core.settings import Settings
from vtn.delivery.models import DeliveryReportRow, UnitBaselineRow
from vtn.delivery.readings import load_readings
from vtn.delivery.terms import terms_for
from vtn.events.models import EventRevisionRow, EventRow
from vtn.programs.models import ProgramRow
from vtn.vens.models import ResourceRow, VenRow

log = logging.getLogger("vtn.delivery")

def _reportable(ins: m.DispatchInstruction) -> bool:
    """A dispatch cancelled before it started instructed nothing: no report."""
    return ins.status is not m.DispatchStatus.CANCELLED and b.utc(ins.service_end) > b.utc(ins.service_start)


# --- baselines per unit ----------------------------------------------------------------------------------------


async def unit_baselines(session: AsyncSession, operator: str, units: list[str]) -> dict[str, d.BaselineSpec]:
    rows = await session.exec(select(UnitBaselineRow).where(UnitBaselineRow.operator == operator,
                                                            col(UnitBaselineRow.unit).in_(units)))
    return {row.unit: d.BaselineSpec.from_json(row.spec) for row in rows.all()}


async def list_baselines(session: AsyncSession, operator: str) -> list[dict[str, Any]]:
    rows = await session.exec(select(UnitBaselineRow).where(UnitBaselineRow.operator == operator)
                              .order_by(col(UnitBaselineRow.unit)))
    return [baseline_json(row) for row in rows.all()]


def baseline_json(row: UnitBaselineRow) -> dict[str, Any]:
    return {"unit": row.unit, **row.spec, "updatedAt": b.utc_text(row.updated_at), "updatedBy": row.updated_by}


async def set_baseline(session: AsyncSession, operator: str, unit: str, body: Any, actor: str) -> dict[str, Any]:
    """Record a unit's baseline method (replacing the previous one; reports already issued keep theirs)."""
    if not isinstance(body, dict):
        raise BadRequest("a baseline is a JSON object: {method, staticKw | weeklyKw | autoDays}")
    if not unit or len(unit) > 128:
        raise BadRequest("a meterable unit name is 1 to 128 characters")
    try:
        spec = d.BaselineSpec.from_json(body)
    except m.ProfileError as exc:
        raise BadRequest(f"baseline: {exc}") from None
    row = (await session.exec(select(UnitBaselineRow).where(UnitBaselineRow.operator == operator,
                                                            UnitBaselineRow.unit == unit))).first()
    if row is None:
        row = UnitBaselineRow(operator=operator, unit=unit, method=spec.method.value, spec=spec.to_json(),
                              updated_at=utcnow(), updated_by=actor)
    else:
        row.method, row.spec, row.updated_at, row.updated_by = spec.method.value, spec.to_json(), utcnow(), actor
    session.add(row)
    await session.flush()
    return baseline_json(row)


# --- computing one report ----------------------------------------------------------------------------------------


async def _meterable_units(session: AsyncSession, operator: str, ins: m.DispatchInstruction) -> list[str]:
    """The dispatch unit's meterable units (its resource's GB_METERABLE_UNITS), else the dispatch unit itself."""
    row = (await session.exec(
        select(ResourceRow.document).join(VenRow, col(VenRow.id) == col(ResourceRow.ven_id))  # type: ignore[call-overload]
        .where(VenRow.operator == operator, VenRow.ven_name == ins.fsp_id,
               ResourceRow.resource_name == ins.dispatch_unit)
    )).first()
    units: list[str] = []
    for attribute in (row or {}).get("attributes") or ():
        if isinstance(attribute, dict) and attribute.get("type") == m.A_METERABLE_UNITS:
            units.extend(v for v in attribute.get("values") or () if isinstance(v, str))
    return sorted(set(units)) or [ins.dispatch_unit]


async def _event_windows(session: AsyncSession, operator: str, ins: m.DispatchInstruction, since: datetime
                         ) -> list[tuple[datetime, datetime]]:
    """Service windows of the dispatch unit's dispatches created since `since` (left out of AUTO baselines)."""
    documents = await session.exec(select(EventRow.document).where(  # type: ignore[call-overload]
        EventRow.operator == operator, col(EventRow.created_at) >= since))
    spans = []
    for document in documents.all():
        if b.is_anchor_event(document):
            continue
        try:
            other = b.parse_event(document)
        except (m.ProfileError, ValueError, IndexError):
            continue
        if other.dispatch_unit == ins.dispatch_unit and other.fsp_id == ins.fsp_id and _reportable(other):
            spans.append((b.utc(other.service_start), b.utc(other.service_end)))
    return spans


async def _with_first_instruction(session: AsyncSession, event: EventRow, ins: m.DispatchInstruction
                                  ) -> m.DispatchInstruction:
    """`ins` (the revision in force: setpoints, window) with the instruction time of the dispatch's first revision.

    The first-period rule counts from the dispatch's instruction; a later revision (a revised RUN, a STOP) restates
    the instruction but does not move that start, so periods already judged stay judged (event_revision, §5.4)."""
    documents = await session.exec(select(EventRevisionRow.document)  # type: ignore[call-overload]
                                   .where(EventRevisionRow.event_id == event.id))
    times = [b.utc(ins.instruction_time)]
    for document in documents.all():
        try:
            times.append(b.utc(b.parse_event(document).instruction_time))
        except (m.ProfileError, ValueError, IndexError):
            continue
    return replace(ins, instruction_time=min(times))


def _frozen_json(used: dict[str, dict[datetime, float | None]]) -> dict[str, Any]:
    return {unit: {b.utc_text(t): v for t, v in sorted(values.items())} for unit, values in used.items()}


def _frozen_parse(data: dict[str, Any]) -> dict[str, dict[datetime, float | None]]:
    return {unit: {b.parse_utc_text(t, "baseline"): v for t, v in values.items()} for unit, values in data.items()}


async def compute(session: AsyncSession, settings: Settings, event: EventRow, frozen: dict[str, Any] | None
                  ) -> tuple[d.DeliveryReport, dict[str, Any], str]:
    """The report of `event` from stored readings now; `frozen`: the baseline an earlier version used."""
    ins = await _with_first_instruction(session, event, b.parse_event(event.document))
    operator = event.operator
    units = await _meterable_units(session, operator, ins)
    baselines = await unit_baselines(session, operator, units)
    start = d.counted_start(ins)
    end = b.utc(ins.service_end) + settings.gb_rebound_periods * d.PERIOD
    history_from = start
    excluded: list[tuple[datetime, datetime]] = []
    if frozen is None and any(s.method is d.BaselineMethod.AUTO for s in baselines.values()):
        days = max(s.auto_days for s in baselines.values() if s.method is d.BaselineMethod.AUTO)
        history_from = start - timedelta(days=4 * days + 1)
        excluded = await _event_windows(session, operator, ins, history_from - timedelta(days=1))
    readings = await load_readings(session, operator, units, history_from, end)
    series = {u: d.UnitSeries.of(readings.get(u, [])) for u in units}
    terms, price_source = await terms_for(session, settings, operator, event.program_id, ins)
    report, used = d.delivery_report(ins, units, series, baselines, terms,
                                     frozen_baseline_kw=None if frozen is None else _frozen_parse(frozen),
                                     excluded=excluded)
    return report, _frozen_json(used), price_source


async def issue(session: AsyncSession, settings: Settings, event: EventRow, reason: str) -> DeliveryReportRow:
    """The next version of `event`'s report (version 1 the first time); earlier versions are kept, not latest."""
    previous = (await session.exec(
        select(DeliveryReportRow).where(DeliveryReportRow.event_id == event.id).order_by(col(DeliveryReportRow.version))
    )).all()
    frozen = previous[0].baseline if previous else None
    report, used, price_source = await compute(session, settings, event, frozen)
    version = (previous[-1].version + 1) if previous else 1
    now = utcnow()
    document = {
        "id": "", "version": version, "eventID": event.id, "programID": event.program_id, "operator": event.operator,
        "issuedAt": b.utc_text(now), "reason": reason, "priceSource": price_source,
        "baselineFrozenAt": previous[0].document.get("issuedAt") if previous else b.utc_text(now),
        **report.to_json(),
    }
    row_id = str(uuid.uuid4())
    document["id"] = row_id
    if previous:
        await session.exec(update(DeliveryReportRow).where(DeliveryReportRow.event_id == event.id)  # type: ignore[call-overload]
                           .values(latest=False, stale=False))
    row = DeliveryReportRow(
        id=row_id, operator=event.operator, program_id=event.program_id, event_id=event.id, fsp=report.fsp_id,
        version=version, latest=True, stale=False, reason=reason[:200],
        window_start=report.counted_from,
        window_end=report.service_end + settings.gb_rebound_periods * d.PERIOD, issued_at=now, document=document,
        baseline=used,
    )
    session.add(row)
    await session.flush()
    log.info("delivery report %s v%d for event %s: %s", row_id, version, event.id, reason)
    return row


# --- the background work -----------------------------------------------------------------------------------------


async def due_events(session: AsyncSession, settings: Settings, now: datetime) -> list[EventRow]:
    """Ended GB dispatches (end + delay passed) without a report, created within the lookback."""
    since = now - timedelta(days=settings.gb_delivery_lookback_days)
    reported = select(DeliveryReportRow.event_id)
    rows = await session.exec(
        select(EventRow, ProgramRow.document).join(ProgramRow, col(ProgramRow.id) == col(EventRow.program_id))  # type: ignore[call-overload]
        .where(col(EventRow.created_at) >= since, col(EventRow.id).not_in(reported))
        .order_by(col(EventRow.created_at))
    )
    due = []
    for event, program in rows.all():
        if not str(program.get("programType") or "").startswith(m.PROGRAM_TYPE_PREFIX) or b.is_anchor_event(event.document):
            continue
        try:
            ins = b.parse_event(event.document)
        except (m.ProfileError, ValueError, IndexError):
            continue
        if _reportable(ins) and b.utc(ins.service_end) + timedelta(seconds=settings.gb_delivery_delay_seconds) <= now:
            due.append(event)
    return due


async def issue_due(session: AsyncSession, settings: Settings, now: datetime | None = None) -> list[DeliveryReportRow]:
    """One round of the worker, in the caller's write transaction: first reports, then stale ones again.

    Safe with several VTN processes: on PostgreSQL the round holds a transaction advisory lock (a process that
    cannot take it skips the round) and (event, version) is unique; SQLite writes are serialised already.
    """
    if not await try_round_lock(session, _LOCK_KEY):
        return []
    now = now or utcnow()
    issued = []
    for event in await due_events(session, settings, now):
        issued.append(await issue(session, settings, event, "issued after the dispatch ended"))
    stale = (await session.exec(
        select(DeliveryReportRow).where(col(DeliveryReportRow.stale), col(DeliveryReportRow.latest))
    )).all()
    for report in stale:
        event = await session.get(EventRow, report.event_id)
        if event is not None:
            issued.append(await issue(session, settings, event, "recomputed: readings arrived or were corrected"))
    return issued


_LOCK_KEY = 0x6762_6465_6C76  # an arbitrary constant: one delivery-report round at a time across processes


# --- reading reports ----------------------------------------------------------------------------------------------


async def list_reports(session: AsyncSession, viewer: Viewer, event_id: str | None, fsp: str | None,
                       all_versions: bool, skip: int, limit: int) -> list[dict[str, Any]]:
    query = select(DeliveryReportRow).where(*fsp_record_clauses(viewer, DeliveryReportRow.operator, DeliveryReportRow.fsp))
    if event_id is not None:
        query = query.where(DeliveryReportRow.event_id == event_id)
    if fsp is not None:
        query = query.where(DeliveryReportRow.fsp == fsp)
    if not all_versions:
        query = query.where(col(DeliveryReportRow.latest))
    query = query.order_by(col(DeliveryReportRow.window_start).desc(), col(DeliveryReportRow.version).desc()) \
        .offset(skip).limit(limit)
    return [summary(row) for row in (await session.exec(query)).all()]


def summary(row: DeliveryReportRow) -> dict[str, Any]:
    doc = row.document
    keys = ("id", "version", "eventID", "programID", "eventName", "fspID", "dispatchUnit", "issuedAt", "reason",
            "countedFrom", "serviceEnd", "instructedKwh", "deliveredKwh", "percent", "earningsGbp", "rag",
            "missingPeriods")
    return {**{k: doc.get(k) for k in keys}, "latest": row.latest, "stale": row.stale}


async def get_report(session: AsyncSession, viewer: Viewer, report_id: str) -> DeliveryReportRow:
    row = (await session.exec(select(DeliveryReportRow).where(
        DeliveryReportRow.id == report_id,
        *fsp_record_clauses(viewer, DeliveryReportRow.operator, DeliveryReportRow.fsp)))).first()
    if row is None:
        raise NotFound(f"delivery report {report_id!r} not found")
    return row


async def delivery_report_for(session: AsyncSession, operator: str, event_id: str, version: int | None = None
                              ) -> DeliveryReportRow | None:
    """The stable accessor (monthly statements): `event_id`'s latest report in `operator`, or that version."""
    query = select(DeliveryReportRow).where(DeliveryReportRow.operator == operator,
                                            DeliveryReportRow.event_id == event_id)
    query = query.where(DeliveryReportRow.version == version) if version is not None \
        else query.where(col(DeliveryReportRow.latest))
    return (await session.exec(query)).first()


async def reports_between(session: AsyncSession, operator: str, start: datetime, end: datetime,
                          fsp: str | None = None) -> list[DeliveryReportRow]:
    """Latest reports whose counted span starts in [start, end) (a statement month), oldest first."""
    query = select(DeliveryReportRow).where(
        DeliveryReportRow.operator == operator, col(DeliveryReportRow.latest),
        col(DeliveryReportRow.window_start) >= start, col(DeliveryReportRow.window_start) < end)
    if fsp is not None:
        query = query.where(DeliveryReportRow.fsp == fsp)
    return list((await session.exec(query.order_by(col(DeliveryReportRow.window_start)))).all())


async def issue_now(session: AsyncSession, settings: Settings, viewer: Viewer, event_id: str) -> DeliveryReportRow:
    """BL: issue (or re-issue) an event's report now, e.g. after correcting readings by hand."""
    event = await session.get(EventRow, event_id)
    if event is None or event.operator != viewer.operator:
        raise NotFound(f"event {event_id!r} not found")
    program = await session.get(ProgramRow, event.program_id)
    if program is None or not str(program.document.get("programType") or "").startswith(m.PROGRAM_TYPE_PREFIX) \
            or b.is_anchor_event(event.document):
        raise Conflict(f"event {event_id!r} is not a dispatch of a GB program: it has no delivery report")
    try:
        ins = b.parse_event(event.document)
    except (m.ProfileError, ValueError, IndexError) as exc:
        raise Conflict(f"event {event_id!r} cannot be read as a dispatch: {exc}") from None
    if not _reportable(ins):
        raise Conflict(f"dispatch {event_id!r} was cancelled: it has no delivery report")
    return await issue(session, settings, event, "issued on request")


async def count_reports(session: AsyncSession, operator: str) -> int:
    return (await session.exec(select(func.count()).select_from(DeliveryReportRow)  # type: ignore[call-overload]
                               .where(DeliveryReportRow.operator == operator))).one()
