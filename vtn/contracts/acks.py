"""Acknowledgement deadlines (docs/gb-profile.md §6.1.1): per program and unit from the contract terms' ack period.

- Computed on read (`ack_deadlines`): every recent dispatch's latest revision is ON_TIME, LATE, OVERDUE or WAITING,
  from the stored event and its acknowledgements; nothing is cached, so the admin API and the board are always right.
- Recorded: a late acknowledgement gets an audit line `gb.ack.late` when it arrives (`on_acknowledgement`); an
  overdue one an alarm row (`gb_ack_alarm`), an audit line `gb.ack.overdue` and a warning in the log, written once
  by the background check (`AckWatcher`) of whichever VTN process sees it first (a unique key: safe with several
  processes on PostgreSQL); the row is cleared when the acknowledgement arrives.
- Notified: each alarm is also published as a REPORT `GB_ACK_OVERDUE` the VTN writes against the dispatch event
  (`alarm_report`), owned by no VEN, so only the operator's BL clients can read it; an ordinary write, so a BL
  subscription to REPORT objects of the program gets it by webhook through the transactional outbox (CREATE when
  raised, UPDATE with status CLEARED and the arrival time when the late acknowledgement comes).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from gb_profile import board
from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.validator import is_gb_program
from vtn.audit.service import Actor, record
from vtn.contracts.models import AckAlarmRow
from vtn.contracts.service import contract_terms
from vtn.core import background
from vtn.core.database import Database, utcnow
from vtn.programs.models import ProgramRow

log = logging.getLogger("vtn.gb.acks")
ALARM_REPORT = "GB_ACK_OVERDUE"  # reportName of the alarm the VTN publishes (docs/gb-profile.md §6.1.1)
ALARM_CLIENT = "VTN"  # its clientName
LOOKBACK = timedelta(days=7)  # dispatches last written longer ago are not listed nor checked any more (alarms stay)
# The background check's lookback beyond the operator's longest ack period: a dispatch written longer ago than that
# has had its deadline judged by an earlier pass (every `gb_ack_check_seconds`), so re-reading it each pass is waste.
# The first pass of each process reads the full LOOKBACK, catching deadlines that passed while no VTN ran.
CHECK_MARGIN = timedelta(hours=1)


def system_actor(operator: str) -> Actor:
    return Actor("vtn:ack-check", "SYSTEM", operator)


async def _instruction_time(session: AsyncSession, event_id: str, revision: int) -> datetime | None:
    from vtn.events.models import EventRevisionRow

    documents = (await session.exec(
        select(EventRevisionRow.document).where(  # type: ignore[call-overload]
            EventRevisionRow.event_id == event_id, EventRevisionRow.revision == revision)
        .order_by(col(EventRevisionRow.id).desc()).limit(1)
    )).all()
    for document in documents:
        try:
            return b.utc(b.parse_event(document).instruction_time)
        except (m.ProfileError, ValueError, IndexError):
            return None
    return None


def alarm_report(row: AckAlarmRow, event_name: str) -> dict[str, Any]:
    """The alarm as an OpenADR report (content only: the store adds id and timestamps)."""
    from openadr3.models import Report

    payloads: list[dict[str, Any]] = [
        {"type": "GB_ALARM_STATUS", "values": ["CLEARED" if row.cleared_at else "OVERDUE"]},
        {"type": "GB_DISPATCH_REVISION", "values": [row.revision]},
        {"type": "GB_FSP_ID", "values": [row.ven_name]},
        {"type": "GB_ACK_DEADLINE", "values": [b.utc_text(row.deadline)]},
        {"type": "GB_ALARM_RAISED", "values": [b.utc_text(row.raised_at)]},
    ]
    if row.cleared_at:
        payloads.append({"type": "GB_ACK_RECEIVED", "values": [b.utc_text(row.cleared_at)]})
    document = {
        "objectType": "REPORT", "programID": row.program_id, "eventID": row.event_id, "clientName": ALARM_CLIENT,
        "reportName": ALARM_REPORT,
        "payloadDescriptors": [{"objectType": "REPORT_PAYLOAD_DESCRIPTOR", "payloadType": p["type"]} for p in payloads],
        "resources": [{"resourceName": row.unit or event_name,
                       "intervals": [{"id": 0, "payloads": payloads}]}],
    }
    return Report.model_validate(document).content()


async def _publish_alarm(session: AsyncSession, row: AckAlarmRow, event_name: str) -> None:
    """Write (or rewrite, when cleared) the alarm's report: BL subscriptions are notified like for any write."""
    from vtn.reports.models import ReportRow
    from vtn.reports.service import store as reports

    content = alarm_report(row, event_name)
    change = {"program_id": row.program_id, "owner_ven_id": None}
    existing = await session.get(ReportRow, row.report_id) if row.report_id else None
    if existing is None:
        written = await reports.insert(session, content, change=change, owner_ven_id=None, operator=row.operator,
                                       program_id=row.program_id, event_id=row.event_id, client_name=ALARM_CLIENT,
                                       report_name=ALARM_REPORT)
        row.report_id = written.id
        session.add(row)
    else:
        await reports.replace(session, existing, content, change=change)


async def on_acknowledgement(session: AsyncSession, document: dict[str, Any], program: ProgramRow) -> None:
    """An acknowledgement just stored: recorded as late (audit line) when its revision's deadline had passed on
    arrival, and any overdue alarm of that revision cleared."""
    if document.get("reportName") != m.R_ACK or not is_gb_program(program.document):
        return
    try:
        ack = b.parse_ack_report(document)
        received = b.parse_utc_text(document.get("createdDateTime"), "createdDateTime")
    except (m.ProfileError, ValueError):
        return
    event_id = str(document.get("eventID"))
    alarm = (await session.exec(select(AckAlarmRow).where(
        AckAlarmRow.event_id == event_id, AckAlarmRow.revision == ack.revision, AckAlarmRow.unit == ack.dispatch_unit,
        col(AckAlarmRow.cleared_at).is_(None)))).first()
    if alarm is not None:
        alarm.cleared_at = received
        session.add(alarm)
        await _publish_alarm(session, alarm, ack.event_name)
    terms = await contract_terms(session, program.operator, program.id, ack.dispatch_unit)
    issued = await _instruction_time(session, event_id, ack.revision)
    if terms.ack_period is None or issued is None:
        return
    deadline = issued + terms.ack_period
    if received > deadline:
        late = (received - deadline).total_seconds()
        await record(session, system_actor(program.operator), "gb.ack.late", "report", str(document.get("id")),
                     detail={"eventID": event_id, "revision": ack.revision, "venName": ack.fsp_id,
                             "resourceName": ack.dispatch_unit, "deadline": b.utc_text(deadline),
                             "received": b.utc_text(received), "lateSeconds": late}, operator=program.operator)
        log.warning("acknowledgement of %s revision %s by %s arrived %.0f s after its deadline",
                    ack.event_name, ack.revision, ack.fsp_id, late)


async def ack_deadlines(session: AsyncSession, operator: str, now: datetime, lookback: timedelta = LOOKBACK
                        ) -> list[board.AckDeadline]:
    """The deadline of the latest revision of every GB dispatch of `operator` written in the last `lookback`
    whose unit's terms set an acknowledgement period, oldest deadline first."""
    from vtn.events.models import EventRow
    from vtn.reports.models import ReportRow

    rows = (await session.exec(
        select(EventRow, ProgramRow).join(ProgramRow, col(ProgramRow.id) == col(EventRow.program_id))  # type: ignore[call-overload]
        .where(EventRow.operator == operator, col(EventRow.modified_at) >= now - lookback)
    )).all()
    dispatches = [(e, p) for e, p in rows if is_gb_program(p.document) and not b.is_info_event(e.document)]
    if not dispatches:
        return []
    acks: dict[str, list[dict[str, Any]]] = {}
    ids = [e.id for e, _ in dispatches]
    for start in range(0, len(ids), 500):
        found = (await session.exec(select(ReportRow.event_id, ReportRow.document).where(  # type: ignore[call-overload]
            col(ReportRow.event_id).in_(ids[start:start + 500]), ReportRow.report_name == m.R_ACK))).all()
        for event_id, document in found:
            acks.setdefault(event_id, []).append(document)
    terms_cache: dict[tuple[str, str], m.Contract] = {}
    result = []
    for event, program in dispatches:
        try:
            states = board.ack_status(event.document, acks.get(event.id, []))
        except (m.ProfileError, ValueError, IndexError):
            continue
        for state in states:
            key = (program.id, state.dispatch_unit)
            if key not in terms_cache:
                terms_cache[key] = await contract_terms(session, operator, program.id, state.dispatch_unit)
            if state.status not in m.ACTIVE_STATUSES and state.revision == 1:
                continue  # a dispatch cancelled in its first revision asks nothing of the FSP
            deadline = board.ack_deadline(state, terms_cache[key].ack_period)
            if deadline is not None:
                result.append(deadline)
    return sorted(result, key=lambda d: (d.deadline, d.event_name))


async def check_lookback(session: AsyncSession, operator: str) -> timedelta | None:
    """The background check's lookback for `operator`: its longest ack period (program or unit terms) plus
    CHECK_MARGIN, at most LOOKBACK; None when no terms of the operator set an ack period (nothing to check)."""
    from sqlalchemy import func

    from vtn.contracts.models import ContractTermsRow

    longest = (await session.exec(select(func.max(ContractTermsRow.ack_period_seconds)).where(  # type: ignore[call-overload]
        ContractTermsRow.operator == operator))).first()
    if longest is None:
        return None
    return min(LOOKBACK, timedelta(seconds=longest) + CHECK_MARGIN)


async def raise_overdue(session: AsyncSession, operator: str, now: datetime, lookback: timedelta | None = LOOKBACK
                        ) -> list[AckAlarmRow]:
    """Write an alarm for every overdue acknowledgement not alarmed yet (each in a savepoint: a row another
    process wrote first is skipped) among the dispatches written in the last `lookback`; returns the new ones."""
    from vtn.events.models import EventRow

    raised = []
    if lookback is None:
        return raised
    for d in await ack_deadlines(session, operator, now, lookback):
        if d.state(now) != "OVERDUE" or d.event_id is None:
            continue
        exists = (await session.exec(select(AckAlarmRow.id).where(  # type: ignore[call-overload]
            AckAlarmRow.event_id == d.event_id, AckAlarmRow.revision == d.revision,
            AckAlarmRow.unit == d.dispatch_unit))).first()
        if exists is not None:
            continue
        event = await session.get(EventRow, d.event_id)
        row = AckAlarmRow(operator=operator, program_id=str(event.program_id if event else ""), event_id=d.event_id,
                          revision=d.revision, ven_name=d.fsp_id, unit=d.dispatch_unit, deadline=d.deadline,
                          raised_at=now)
        try:
            async with session.begin_nested():
                session.add(row)
        except IntegrityError:  # another VTN process raised it first
            continue
        await _publish_alarm(session, row, d.event_name)
        await record(session, system_actor(operator), "gb.ack.overdue", "event", d.event_id,
                     detail={"revision": d.revision, "venName": d.fsp_id, "resourceName": d.dispatch_unit,
                             "deadline": b.utc_text(d.deadline)}, operator=operator)
        log.warning("ALARM: acknowledgement of %s revision %s by %s (%s) overdue since %s", d.event_name, d.revision,
                    d.fsp_id, d.dispatch_unit, b.utc_text(d.deadline))
        raised.append(row)
    return raised


async def check_once(db: Database, now: datetime | None = None, full: bool = True) -> list[AckAlarmRow]:
    """One pass over every operator that has GB programs: over the last LOOKBACK (`full`) or, for the watcher's
    routine passes, over each operator's `check_lookback`."""
    now = now or utcnow()
    async with db.session(write=False) as session:
        programs = (await session.exec(select(ProgramRow.operator, ProgramRow.document))).all()  # type: ignore[call-overload]
    operators = sorted({operator for operator, document in programs if is_gb_program(document)})
    raised = []
    for operator in operators:
        async with db.session() as session:
            lookback = LOOKBACK if full else await check_lookback(session, operator)
            raised += await raise_overdue(session, operator, now, lookback)
    return raised


class AckWatcher:
    """The background check: every `interval` seconds, `check_once` (an asyncio task in each VTN process)."""

    def __init__(self, db: Database, interval: float) -> None:
        self.db, self.interval = db, interval
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.interval > 0:
            self.task = asyncio.create_task(self._run(), name="gb-ack-watcher")

    async def _run(self) -> None:
        full = True  # the first pass catches up on anything that went overdue while no VTN process ran
        while True:
            await asyncio.sleep(self.interval)
            try:
                await check_once(self.db, full=full)
                full = False
            except Exception:  # a failed pass must not end the watcher; the next one retries
                log.exception("acknowledgement deadline check failed")

    async def stop(self) -> None:
        await background.cancel(self.task)
        self.task = None


async def alarm_rows(session: AsyncSession, operator: str, open_only: bool = True) -> list[AckAlarmRow]:
    query = select(AckAlarmRow).where(AckAlarmRow.operator == operator)
    if open_only:
        query = query.where(col(AckAlarmRow.cleared_at).is_(None))
    return list((await session.exec(query.order_by(col(AckAlarmRow.deadline), col(AckAlarmRow.id)))).all())
