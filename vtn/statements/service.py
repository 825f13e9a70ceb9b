"""Monthly statements (docs/gb-profile.md §6.9): inputs read from the VTN, versions kept append-only.

Inputs, all of one operator (tenant) and one FSP (its venName):
- accepted availability windows (`vtn.contracts` gb_acceptance, status ACCEPTED), priced at the awarded price or
  else the unit's contract availability price (`contract_terms`);
- the latest delivery report of each dispatch counted in the month (`vtn.delivery.service.reports_between`);
- overdue acknowledgements (`vtn.contracts` gb_ack_alarm) whose deadline falls in the month;
- the program's fees and penalties (gb_statement_charges, set by the operator).

Lifecycle: version 1 PROVISIONAL on the 1st of the next month (London), a new PROVISIONAL version whenever a
recomputation changes a line (a late reading correction → a new delivery report version → a new statement
version), the FSP's approval or rejection (with a reason) of a provisional version, FINAL on the 15th (or when the
operator finalises); nothing after FINAL. A correction that reaches a month after its final is paid or recovered
in the FSP's next open statement: computing a month also recomputes the final months of the 12 before it and
adds an ADJUSTMENT line per difference from what was paid (gb_profile.statements.adjustments). Rows are never
updated.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from gb_profile import statements as st
from vtn.audit.service import Actor, record
from vtn.auth.privacy import Viewer, fsp_record_clauses
from vtn.contracts.models import AcceptanceRow, AckAlarmRow
from vtn.contracts.service import contract_terms, find_program
from vtn.core.background import try_round_lock
from vtn.core.database import utcnow
from vtn.core.errors import ApiError, BadRequest, Conflict, NotFound
from vtn.delivery.models import DeliveryReportRow
from vtn.delivery.service import reports_between
from vtn.statements.models import (
    APPROVED,
    FINAL,
    PROVISIONAL,
    REJECTED,
    StatementChargesRow,
    StatementDecisionRow,
    StatementRow,
)

log = logging.getLogger("vtn.statements")
ACCEPTED = "ACCEPTED"
_LOCK_KEY = 0x6762_7374_6D74  # an arbitrary constant: one statement round at a time across processes
# a statement adjusts the finals of the 12 months before its own; an older month's correction is settled outside
ADJUSTMENT_LOOKBACK_MONTHS = 12


def month_of(text_value: str) -> date:
    try:
        return st.parse_month(text_value)
    except (ValueError, TypeError) as exc:
        raise BadRequest(f"month: {exc}") from None


# --- inputs --------------------------------------------------------------------------------------------------------


async def _windows(session: AsyncSession, operator: str, fsp: str, start: datetime, end: datetime
                   ) -> list[st.AcceptedWindow]:
    rows = (await session.exec(select(AcceptanceRow).where(
        AcceptanceRow.operator == operator, AcceptanceRow.ven_name == fsp, AcceptanceRow.status == ACCEPTED,
        col(AcceptanceRow.start) < end, col(AcceptanceRow.end) > start))).all()
    terms: dict[tuple[str, str], Decimal | None] = {}
    out = []
    for row in rows:
        if row.awarded_price is not None:
            price, source = Decimal(str(row.awarded_price)), "awarded"
        else:
            key = (row.program_id, row.unit)
            if key not in terms:
                try:
                    contract = await contract_terms(session, operator, row.program_id, row.unit)
                    value = contract.availability_price_gbp_per_mw_h
                except ApiError:  # the program is gone: no price to pay at
                    value = None
                terms[key] = None if value is None else Decimal(str(value))
            price = terms[key]
            source = "contract" if price is not None else "none"
        kw = row.accepted_kw if row.accepted_kw is not None else row.declared_kw
        out.append(st.AcceptedWindow(int(row.id or 0), row.program_id, row.unit, row.start, row.end, kw, price, source))
    return out


def _delivery(row: DeliveryReportRow) -> st.Delivery:
    doc = row.document

    def dec(value: Any) -> Decimal | None:
        return None if value is None else Decimal(str(value))

    return st.Delivery(
        event_id=row.event_id, event_name=str(doc.get("eventName") or row.event_id), program_id=row.program_id,
        unit=str(doc.get("dispatchUnit") or ""), report_id=row.id, report_version=row.version,
        counted_from=row.window_start, service_end=datetime.fromisoformat(str(doc["serviceEnd"]).replace("Z", "+00:00")),
        payable_kwh=dec(doc.get("payableKwh")) or Decimal(0), price_gbp_per_mwh=dec(doc.get("utilisationPriceGbpPerMwh")),
        earnings_gbp=dec(doc.get("earningsGbp")), percent=doc.get("percent"), rag=str(doc.get("rag") or "RED"))


async def _late_acks(session: AsyncSession, operator: str, fsp: str, start: datetime, end: datetime
                     ) -> list[st.LateAck]:
    rows = (await session.exec(select(AckAlarmRow).where(
        AckAlarmRow.operator == operator, AckAlarmRow.ven_name == fsp,
        col(AckAlarmRow.deadline) >= start, col(AckAlarmRow.deadline) < end))).all()
    return [st.LateAck(int(r.id or 0), r.event_id, r.program_id, r.unit, r.deadline, r.cleared_at) for r in rows]


async def _charges(session: AsyncSession, operator: str) -> dict[str, st.ProgramCharges]:
    rows = (await session.exec(select(StatementChargesRow).where(StatementChargesRow.operator == operator))).all()
    return {r.program_id: st.ProgramCharges(Decimal(r.monthly_fee_pence) / 100, Decimal(r.late_ack_penalty_pence) / 100)
            for r in rows}


async def _month(session: AsyncSession, operator: str, fsp: str, month: date, charges: dict[str, st.ProgramCharges],
                 stated: dict[str, Any] | None = None) -> st.Statement:
    """The lines of one month from what is stored now; `stated`: the month's final, whose prices and charges hold."""
    start, end = st.month_bounds(month)
    windows = await _windows(session, operator, fsp, start, end)
    if stated is not None:
        windows, charges = st.stated_prices(windows, stated), st.stated_charges(stated, charges)
    deliveries = [_delivery(r) for r in await reports_between(session, operator, start, end, fsp)]
    late = await _late_acks(session, operator, fsp, start, end)
    return st.compute(fsp, month, windows, deliveries, late, charges)


def _lookback_start(month: date) -> date:
    """The earliest month a statement of `month` still adjusts."""
    return st.months_back(month, ADJUSTMENT_LOOKBACK_MONTHS + 1)[-1]


async def compute(session: AsyncSession, operator: str, fsp: str, month: date) -> st.Statement:
    """The month's lines, then an ADJUSTMENT for every line of the ADJUSTMENT_LOOKBACK_MONTHS before it whose
    statement is final and whose recomputation differs from what that final and the finals since paid for it."""
    charges = await _charges(session, operator)
    statement = await _month(session, operator, fsp, month, charges)
    label = month.strftime("%Y-%m")
    finals = (await session.exec(select(StatementRow).where(
        StatementRow.operator == operator, StatementRow.fsp == fsp, StatementRow.kind == FINAL,
        col(StatementRow.month) >= _lookback_start(month).strftime("%Y-%m"), StatementRow.month != label)
        .order_by(col(StatementRow.month)))).all()
    adjusted: list[st.Line] = []
    for final in finals:
        if final.month > label:
            break  # a later month's final only carries adjustments (read below), it is not adjusted here
        carried = [line for later in finals if later.month > final.month for line in later.document["lines"]
                   if line["kind"] == st.Kind.ADJUSTMENT and line["refs"].get("adjustsMonth") == final.month]
        recomputed = await _month(session, operator, fsp, st.parse_month(final.month), charges, final.document)
        adjusted += st.adjustments(recomputed, final.document, carried)
    return replace(statement, lines=statement.lines + tuple(adjusted))


async def fsps_of_month(session: AsyncSession, month: date, operator: str | None = None) -> list[tuple[str, str]]:
    """(operator, FSP) pairs with anything to state in the month: an accepted window, a delivery report, an alarm."""
    start, end = st.month_bounds(month)
    pairs: set[tuple[str, str]] = set()
    queries = [
        select(AcceptanceRow.operator, AcceptanceRow.ven_name).where(
            AcceptanceRow.status == ACCEPTED, col(AcceptanceRow.start) < end, col(AcceptanceRow.end) > start),
        select(DeliveryReportRow.operator, DeliveryReportRow.fsp).where(
            col(DeliveryReportRow.latest), col(DeliveryReportRow.window_start) >= start,
            col(DeliveryReportRow.window_start) < end),
        select(AckAlarmRow.operator, AckAlarmRow.ven_name).where(
            col(AckAlarmRow.deadline) >= start, col(AckAlarmRow.deadline) < end),
    ]
    for query in queries:
        for op_, fsp in (await session.exec(query.distinct())).all():  # type: ignore[call-overload]
            if operator is None or op_ == operator:
                pairs.add((op_, fsp))
    # an FSP stated before keeps being stated (e.g. every window of the month was later rejected)
    stated = select(StatementRow.operator, StatementRow.fsp).where(StatementRow.month == month.strftime("%Y-%m"))
    for op_, fsp in (await session.exec(stated.distinct())).all():  # type: ignore[call-overload]
        if operator is None or op_ == operator:
            pairs.add((op_, fsp))
    return sorted(pairs)


async def adjusted_fsps(session: AsyncSession, month: date, operator: str | None = None) -> list[tuple[str, str]]:
    """(operator, FSP) pairs with a final statement in the months `month` adjusts: a statement of `month` may owe
    them adjustments even with nothing of their own in it."""
    query = select(StatementRow.operator, StatementRow.fsp).where(  # type: ignore[call-overload]
        StatementRow.kind == FINAL, col(StatementRow.month) >= _lookback_start(month).strftime("%Y-%m"),
        col(StatementRow.month) < month.strftime("%Y-%m"))
    if operator is not None:
        query = query.where(StatementRow.operator == operator)
    return sorted((op_, fsp) for op_, fsp in (await session.exec(query.distinct())).all())


RULES_VERSION = 2  # bump when gb_profile.statements computes differently: every open month is then recomputed


async def _input_parts(session: AsyncSession, operator: str, start: datetime, end: datetime, names: list[str] | None,
                       fsp: str | None) -> dict[str, list[Any]]:
    """Per FSP (of `names`, or every one when None), counts and latest change times of its acceptances, delivery
    reports and alarms in [start, end): in a few grouped queries, whatever the number of FSPs."""
    parts: dict[str, list[Any]] = {}
    if names is not None and not names:
        return parts

    async def grouped(query: Any, column: Any) -> None:
        if fsp is not None:
            query = query.where(column == fsp)
        elif names is not None:
            query = query.where(col(column).in_(names))
        for fsp_name, *values in (await session.exec(query.group_by(column))).all():
            parts.setdefault(fsp_name, []).append([str(v) for v in values])

    await grouped(select(AcceptanceRow.ven_name, func.count(), func.max(AcceptanceRow.id),  # type: ignore[call-overload]
                         func.max(AcceptanceRow.created_at), func.max(AcceptanceRow.decided_at),
                         func.sum(AcceptanceRow.accepted_kw)).where(
        AcceptanceRow.operator == operator, col(AcceptanceRow.start) < end, col(AcceptanceRow.end) > start),
        AcceptanceRow.ven_name)
    await grouped(select(DeliveryReportRow.fsp, func.count(), func.max(DeliveryReportRow.issued_at)).where(  # type: ignore[call-overload]
        DeliveryReportRow.operator == operator, col(DeliveryReportRow.latest),
        col(DeliveryReportRow.window_start) >= start, col(DeliveryReportRow.window_start) < end), DeliveryReportRow.fsp)
    await grouped(select(AckAlarmRow.ven_name, func.count(), func.max(AckAlarmRow.id), func.max(AckAlarmRow.cleared_at)).where(  # type: ignore[call-overload]
        AckAlarmRow.operator == operator, col(AckAlarmRow.deadline) >= start, col(AckAlarmRow.deadline) < end),
        AckAlarmRow.ven_name)
    return parts


async def fingerprints(session: AsyncSession, operator: str, month: date, names: list[str], fsp: str | None = None
                       ) -> dict[str, str]:
    """Per FSP, a digest of what its statement of `month` is computed from (counts and latest change times of its
    acceptances, delivery reports and alarms; the operator's charges and contract terms) and, for an FSP with a final
    statement in the adjustment lookback, of what its adjustments are computed from (the same of the lookback's
    months, and its final statements): the worker recomputes a month only for the FSPs whose fingerprint moved since
    their latest version, so an idle round costs a few grouped queries rather than a statement per FSP.
    `names`: the FSPs to answer for; `fsp`: read only that one's."""
    from vtn.contracts.models import ContractTermsRow

    start, end = st.month_bounds(month)
    parts = await _input_parts(session, operator, start, end, None, fsp)
    # adjustments: the finals in the lookback (a new final changes what was paid) and what their months hold now
    finals_query = select(StatementRow.fsp, func.count(), func.max(StatementRow.issued_at)).where(  # type: ignore[call-overload]
        StatementRow.operator == operator, StatementRow.kind == FINAL,
        col(StatementRow.month) >= _lookback_start(month).strftime("%Y-%m"), StatementRow.month != month.strftime("%Y-%m"))
    if fsp is not None:
        finals_query = finals_query.where(StatementRow.fsp == fsp)
    finals = {name: [str(v) for v in values]
              for name, *values in (await session.exec(finals_query.group_by(StatementRow.fsp))).all()}
    adjusted = [name for name in names if name in finals]
    earlier = await _input_parts(session, operator, st.month_bounds(_lookback_start(month))[0], start, adjusted, fsp)
    common = [str(v) for v in (await session.exec(select(  # type: ignore[call-overload]
        func.count(), func.max(StatementChargesRow.updated_at)).where(StatementChargesRow.operator == operator))).one()]
    common += [str(v) for v in (await session.exec(select(  # type: ignore[call-overload]
        func.count(), func.max(ContractTermsRow.updated_at)).where(ContractTermsRow.operator == operator))).one()]
    out = {}
    for name in names:
        prior = [finals[name], sorted(earlier.get(name, []))] if name in finals else []
        payload = json.dumps([RULES_VERSION, common, sorted(parts.get(name, [])), prior], separators=(",", ":"))
        out[name] = hashlib.sha256(payload.encode()).hexdigest()
    return out


# --- versions ------------------------------------------------------------------------------------------------------


async def versions(session: AsyncSession, operator: str, fsp: str, month: str) -> list[StatementRow]:
    return list((await session.exec(select(StatementRow).where(
        StatementRow.operator == operator, StatementRow.fsp == fsp, StatementRow.month == month)
        .order_by(col(StatementRow.version)))).all())


async def _latest(session: AsyncSession, operator: str, fsp: str, month: str) -> StatementRow | None:
    return (await session.exec(select(StatementRow).where(
        StatementRow.operator == operator, StatementRow.fsp == fsp, StatementRow.month == month)
        .order_by(col(StatementRow.version).desc()).limit(1))).first()


async def issue(session: AsyncSession, operator: str, fsp: str, month: date, kind: str, reason: str, actor: Actor,
                unless_empty: bool = False) -> tuple[StatementRow | None, bool]:
    """The next version of (fsp, month) if the recomputation differs (PROVISIONAL) or always (FINAL); returns the
    row and whether it is new. After a FINAL version nothing more is issued (409). `unless_empty`: no first version
    without a line (an FSP stated only for adjustments that come to nothing): (None, False)."""
    label = month.strftime("%Y-%m")
    previous = await versions(session, operator, fsp, label)
    latest = previous[-1] if previous else None
    if latest is not None and latest.kind == FINAL:
        raise Conflict(f"the statement of {fsp} for {label} is final (version {latest.version})")
    fingerprint = (await fingerprints(session, operator, month, [fsp], fsp))[fsp]
    statement = await compute(session, operator, fsp, month)
    digest = statement.digest()
    if kind == PROVISIONAL and latest is not None and latest.digest == digest:
        return latest, False
    if unless_empty and latest is None and not statement.lines:
        return None, False
    version = latest.version + 1 if latest else 1
    now = utcnow()
    row_id = str(uuid.uuid4())
    document = {"id": row_id, "operator": operator, "version": version, "kind": kind, "reason": reason,
                "issuedAt": st.utc_text(now), "issuedAtLondon": st.london(now), "issuedBy": actor.id,
                "supersedes": None if latest is None else latest.id, "inputsFingerprint": fingerprint,
                **statement.to_json()}
    row = StatementRow(id=row_id, operator=operator, fsp=fsp, month=label, version=version, kind=kind,
                       reason=reason[:200], issued_at=now, issued_by=actor.id[:200],
                       total_pence=st.pence(statement.total), digest=digest, document=document)
    session.add(row)
    await session.flush()
    await record(session, actor, f"statement.{kind.lower()}", "gb_statement", row_id,
                 detail={"fsp": fsp, "month": label, "version": version, "totalGbp": str(statement.total)},
                 operator=operator)
    log.info("statement %s of %s for %s: v%d %s £%s (%s)", row_id, fsp, label, version, kind, statement.total, reason)
    return row, True


async def issue_month(session: AsyncSession, operator: str | None, month: date, kind: str, reason: str, actor: Actor,
                      fsp: str | None = None) -> list[tuple[StatementRow, bool]]:
    """Issue (fsp, month) for every FSP with anything in the month, or owed an adjustment of an earlier final month
    (or the one named; for it, an empty statement if it has nothing); a statement already final is answered as it
    is (`new` False)."""
    pairs = [(op_, f) for op_, f in await fsps_of_month(session, month, operator) if fsp is None or f == fsp]
    if fsp is not None and operator is not None and not pairs:
        pairs = [(operator, fsp)]  # an empty statement on demand: says "nothing this month"
    adjusted_only = set() if fsp is not None else set(await adjusted_fsps(session, month, operator)) - set(pairs)
    out = []
    for op_, name in sorted({*pairs, *adjusted_only}):
        latest = (await versions(session, op_, name, month.strftime("%Y-%m")) or [None])[-1]
        if latest is not None and latest.kind == FINAL:
            out.append((latest, False))
            continue
        row, new = await issue(session, op_, name, month, kind, reason, actor, (op_, name) in adjusted_only)
        if row is not None:
            out.append((row, new))
    return out


async def run_due(session: AsyncSession, now: datetime | None = None, lookback_months: int = 2,
                  nothing_owed: dict[tuple[str, str, str], str] | None = None) -> list[StatementRow]:
    """One round of the worker, in the caller's write transaction: for the last `lookback_months` months whose
    provisional date has passed, a provisional version when anything changed, a final one once the 15th has passed.
    An FSP with nothing of its own in a month but a final statement in the months it adjusts is stated only when
    it is owed an adjustment; `nothing_owed` (the worker's, kept between its rounds) remembers the fingerprint at
    which it was not, so it is not recomputed again until that moves.

    Safe with several VTN processes: on PostgreSQL the round holds a transaction advisory lock (taken with try-lock,
    a process that cannot take it skips the round) and (operator, fsp, month, version) is unique; SQLite writes
    are serialised already.
    """
    if not await try_round_lock(session, _LOCK_KEY):
        return []
    now = now or utcnow()
    issued = []
    current = st.first_of(now)
    months = st.months_back(st.previous_month(current), lookback_months)
    if nothing_owed is not None:
        labels = {month.strftime("%Y-%m") for month in months}
        for key in [key for key in nothing_owed if key[2] not in labels]:
            del nothing_owed[key]  # a month out of the rounds' reach
    for month in months:
        if now < st.provisional_due(month):
            continue
        final = now >= st.final_due(month)
        kind = FINAL if final else PROVISIONAL
        label = month.strftime("%Y-%m")
        pairs = await fsps_of_month(session, month)
        adjusted_only = set(await adjusted_fsps(session, month)) - set(pairs)
        everyone = sorted({*pairs, *adjusted_only})
        prints: dict[str, dict[str, str]] = {}
        for operator, fsp in everyone:
            if operator not in prints:
                prints[operator] = await fingerprints(session, operator, month, [f for o, f in everyone if o == operator])
            latest = await _latest(session, operator, fsp, label)
            if latest is not None and (latest.kind == FINAL or (
                    not final and latest.document.get("inputsFingerprint") == prints[operator][fsp])):
                continue  # final already, or nothing it is computed from changed since its latest version
            if nothing_owed is not None and nothing_owed.get((operator, fsp, label)) == prints[operator][fsp]:
                continue  # stated only for adjustments, which came to nothing, and nothing moved since
            actor = Actor("system:statements", "SYSTEM", operator)
            reason = "final: the 15th" if final else (
                "provisional: the 1st" if latest is None else "provisional: recomputed, what it is computed from changed")
            try:
                row, new = await issue(session, operator, fsp, month, kind, reason, actor,
                                       (operator, fsp) in adjusted_only)
            except Conflict:  # final already
                continue
            if row is None:
                if nothing_owed is not None:
                    nothing_owed[(operator, fsp, label)] = prints[operator][fsp]
            elif new:
                issued.append(row)
    return issued


# --- decisions -----------------------------------------------------------------------------------------------------


async def decisions_of(session: AsyncSession, ids: list[str]) -> dict[str, StatementDecisionRow]:
    if not ids:
        return {}
    rows = (await session.exec(select(StatementDecisionRow).where(col(StatementDecisionRow.statement_id).in_(ids)))).all()
    return {r.statement_id: r for r in rows}


async def decide(session: AsyncSession, viewer: Viewer, actor: Actor, statement_id: str, decision: str,
                 reason: str | None) -> dict[str, Any]:
    """The FSP approves or rejects (with a reason) the latest provisional version of its statement."""
    if viewer.is_bl or not viewer.principal.ven_name:
        raise NotFound(f"statement {statement_id!r} not found")  # only the FSP itself decides
    row = await get_row(session, viewer, statement_id)
    reason = (reason or "").strip()
    if decision == REJECTED and not reason:
        raise BadRequest("a rejection needs a reason")
    if len(reason) > 1000:
        raise BadRequest("a reason is at most 1000 characters")
    latest = (await versions(session, row.operator, row.fsp, row.month))[-1]
    if latest.id != row.id:
        raise Conflict(f"version {row.version} is superseded by version {latest.version}: decide on that one")
    if row.kind == FINAL:
        raise Conflict("the statement is final")
    if await decisions_of(session, [row.id]):
        raise Conflict(f"version {row.version} has been decided already")
    session.add(StatementDecisionRow(statement_id=row.id, operator=row.operator, fsp=row.fsp, decision=decision,
                                     reason=reason, decided_by=actor.id[:200], decided_at=utcnow()))
    await session.flush()
    await record(session, actor, f"statement.{decision.lower()}", "gb_statement", row.id,
                 detail={"fsp": row.fsp, "month": row.month, "version": row.version, "reason": reason[:200]},
                 operator=row.operator)
    return await document(session, row)


# --- reading -------------------------------------------------------------------------------------------------------


def status(row: StatementRow, latest_version: int, decision: StatementDecisionRow | None) -> str:
    """FINAL | APPROVED | DISPUTED (rejected) | PROVISIONAL, or SUPERSEDED for an earlier version."""
    if row.kind == FINAL:
        return FINAL
    if row.version < latest_version:
        return "SUPERSEDED"
    if decision is not None:
        return APPROVED if decision.decision == APPROVED else "DISPUTED"
    return PROVISIONAL


def _decision_json(decision: StatementDecisionRow | None) -> dict[str, Any] | None:
    if decision is None:
        return None
    return {"decision": decision.decision, "reason": decision.reason, "decidedBy": decision.decided_by,
            "decidedAt": st.utc_text(decision.decided_at), "decidedAtLondon": st.london(decision.decided_at)}


async def _latest_versions(session: AsyncSession, rows: list[StatementRow]) -> dict[tuple[str, str, str], int]:
    """The latest version number of each (operator, fsp, month) among `rows`, in one grouped query per operator."""
    out: dict[tuple[str, str, str], int] = {}
    by_operator: dict[str, set[str]] = {}
    for r in rows:
        by_operator.setdefault(r.operator, set()).add(r.month)
    for operator, months in by_operator.items():
        found = (await session.exec(
            select(StatementRow.fsp, StatementRow.month, func.max(StatementRow.version))  # type: ignore[call-overload]
            .where(StatementRow.operator == operator, col(StatementRow.month).in_(sorted(months)))
            .group_by(StatementRow.fsp, StatementRow.month))).all()
        for fsp, month, version in found:
            out[(operator, fsp, month)] = version
    return out


def _summary(row: StatementRow, latest: int, decision: StatementDecisionRow | None) -> dict[str, Any]:
    totals = row.document.get("totals") or {}
    return {"id": row.id, "fsp": row.fsp, "month": row.month, "version": row.version, "kind": row.kind,
            "status": status(row, latest, decision), "latest": row.version == latest, "reason": row.reason,
            "issuedAt": st.utc_text(row.issued_at), "issuedAtLondon": st.london(row.issued_at),
            "totalGbp": row.document.get("totalGbp"), "totals": totals, "lines": len(row.document.get("lines") or ()),
            "decision": _decision_json(decision)}


async def list_statements(session: AsyncSession, viewer: Viewer, month: str | None, fsp: str | None,
                          all_versions: bool, skip: int, limit: int) -> list[dict[str, Any]]:
    query = select(StatementRow).where(*fsp_record_clauses(viewer, StatementRow.operator, StatementRow.fsp))
    if month is not None:
        query = query.where(StatementRow.month == month_of(month).strftime("%Y-%m"))
    if fsp is not None:
        query = query.where(StatementRow.fsp == fsp)
    rows = list((await session.exec(query.order_by(col(StatementRow.month).desc(), col(StatementRow.fsp),
                                                   col(StatementRow.version).desc()))).all())
    latest = await _latest_versions(session, rows)
    if not all_versions:
        rows = [r for r in rows if r.version == latest[(r.operator, r.fsp, r.month)]]
    rows = rows[skip:skip + limit]
    decided = await decisions_of(session, [r.id for r in rows])
    return [_summary(r, latest[(r.operator, r.fsp, r.month)], decided.get(r.id)) for r in rows]


async def list_for_operator(session: AsyncSession, operator: str, month: str | None) -> list[dict[str, Any]]:
    """The latest versions in `operator` (the CLI: no principal, the operator named on the command line)."""
    query = select(StatementRow).where(StatementRow.operator == operator)
    if month is not None:
        query = query.where(StatementRow.month == month_of(month).strftime("%Y-%m"))
    rows = list((await session.exec(query.order_by(col(StatementRow.month).desc(), col(StatementRow.fsp)))).all())
    latest = await _latest_versions(session, rows)
    rows = [r for r in rows if r.version == latest[(r.operator, r.fsp, r.month)]]
    decided = await decisions_of(session, [r.id for r in rows])
    return [_summary(r, latest[(r.operator, r.fsp, r.month)], decided.get(r.id)) for r in rows]


async def get_row(session: AsyncSession, viewer: Viewer, statement_id: str) -> StatementRow:
    row = (await session.exec(select(StatementRow).where(
        StatementRow.id == statement_id, *fsp_record_clauses(viewer, StatementRow.operator, StatementRow.fsp)))).first()
    if row is None:
        raise NotFound(f"statement {statement_id!r} not found")
    return row


async def document(session: AsyncSession, row: StatementRow) -> dict[str, Any]:
    latest = (await _latest_versions(session, [row]))[(row.operator, row.fsp, row.month)]
    decision = (await decisions_of(session, [row.id])).get(row.id)
    return {**row.document, "status": status(row, latest, decision), "latest": row.version == latest,
            "decision": _decision_json(decision)}


async def get_document(session: AsyncSession, viewer: Viewer, statement_id: str) -> dict[str, Any]:
    return await document(session, await get_row(session, viewer, statement_id))


# --- charges (fees and penalties per program) ----------------------------------------------------------------------


def _pence(body: dict[str, Any], key: str) -> int:
    value = body.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BadRequest(f"{key}: an amount in pounds, e.g. \"25.00\"")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise BadRequest(f"{key}: an amount in pounds, e.g. \"25.00\"") from None
    if not amount.is_finite() or amount < 0 or amount > 1_000_000 or amount != amount.quantize(st.PENNY):
        raise BadRequest(f"{key}: 0 to 1000000 pounds, at most two decimals")
    return int(amount * 100)


def charges_json(program_id: str, row: StatementChargesRow | None) -> dict[str, Any]:
    fee, late = (0, 0) if row is None else (row.monthly_fee_pence, row.late_ack_penalty_pence)
    return {"programID": program_id, "monthlyFeeGbp": str(Decimal(fee) / 100), "lateAckPenaltyGbp": str(Decimal(late) / 100),
            "updatedAt": None if row is None else st.utc_text(row.updated_at),
            "updatedBy": None if row is None else row.updated_by}


async def get_charges(session: AsyncSession, operator: str, program: str) -> dict[str, Any]:
    program_row = await find_program(session, operator, program)
    row = (await session.exec(select(StatementChargesRow).where(
        StatementChargesRow.operator == operator, StatementChargesRow.program_id == program_row.id))).first()
    return charges_json(program_row.id, row)


async def set_charges(session: AsyncSession, actor: Actor, operator: str, program: str, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict) or set(body) - {"monthlyFeeGbp", "lateAckPenaltyGbp"}:
        raise BadRequest('statement charges: {"monthlyFeeGbp": "25.00", "lateAckPenaltyGbp": "50.00"}')
    fee, late = _pence(body, "monthlyFeeGbp"), _pence(body, "lateAckPenaltyGbp")
    program_row = await find_program(session, operator, program)
    row = (await session.exec(select(StatementChargesRow).where(
        StatementChargesRow.operator == operator, StatementChargesRow.program_id == program_row.id))).first()
    if row is None:
        row = StatementChargesRow(operator=operator, program_id=program_row.id, monthly_fee_pence=fee,
                                  late_ack_penalty_pence=late, updated_at=utcnow(), updated_by=actor.id[:200])
    else:
        row.monthly_fee_pence, row.late_ack_penalty_pence = fee, late
        row.updated_at, row.updated_by = utcnow(), actor.id[:200]
    session.add(row)
    await session.flush()
    await record(session, actor, "statement.charges", "program", program_row.id,
                 detail={"monthlyFeePence": fee, "lateAckPenaltyPence": late}, operator=operator)
    return charges_json(program_row.id, row)
