"""Readings at aggregator scale: a GB_READINGS report, as stored, becomes versioned rows of `gb_reading`.

Called in the transaction that stores the report, so the report (the wire record) and its rows commit together.
Idempotent by (unit, kind, interval start, version): a reading whose value equals the latest stored version adds
nothing (retries and re-uploads never double-count); a different value is a late correction and becomes the next
version, and the delivery reports whose window it touches are marked stale so the worker issues a new version.
A MISSING or BAD reading is stored as a gap (value NULL), never as zero.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import insert, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.delivery import UNUSABLE_QUALITIES, Reading
from vtn.core.database import utcnow
from vtn.delivery.models import DeliveryReportRow, ReadingRow

log = logging.getLogger("vtn.delivery")

INSERT_BATCH = 2000  # rows per executemany statement (bound parameters stay under SQLite's limit)


def _value(reading: m.MeterReading) -> float | None:
    return None if reading.quality in UNUSABLE_QUALITIES else float(reading.value)


async def record_readings(session: AsyncSession, operator: str, report_id: str, document: Mapping[str, Any]) -> int:
    """Store the readings of a GB_READINGS report document; returns how many rows (new versions) were written."""
    try:
        parsed = b.parse_readings_report(document)
    except (m.ProfileError, ValueError) as exc:  # validated before; a non-GB program's report is not ours
        log.debug("report %s: readings not recorded (%s)", report_id, exc)
        return 0
    if not parsed.readings:
        return 0
    units = sorted({r.meterable_unit for r in parsed.readings})
    first = min(b.utc(r.start) for r in parsed.readings)
    last = max(b.utc(r.start) for r in parsed.readings)
    latest: dict[tuple[str, str, datetime], tuple[int, float | None]] = {}
    stored = await session.exec(
        select(ReadingRow.unit, ReadingRow.kind, ReadingRow.start, ReadingRow.version, ReadingRow.value)  # type: ignore[call-overload]
        .where(ReadingRow.operator == operator, col(ReadingRow.unit).in_(units),
               col(ReadingRow.start) >= first, col(ReadingRow.start) <= last)
    )
    for unit, kind, start, version, value in stored.all():
        key = (unit, kind, b.utc(start))
        if key not in latest or latest[key][0] < version:
            latest[key] = (version, value)
    now = utcnow()
    rows: list[dict[str, Any]] = []
    corrected_from: datetime | None = None
    corrected_to: datetime | None = None
    touched: set[str] = set()
    for r in parsed.readings:
        key = (r.meterable_unit, r.kind.value, b.utc(r.start))
        value = _value(r)
        before = latest.get(key)
        if before is not None and before[1] == value:
            continue  # the same reading again: a retry or a re-upload
        version = 1 if before is None else before[0] + 1
        latest[key] = (version, value)
        rows.append({"operator": operator, "fsp": parsed.fsp_id, "unit": r.meterable_unit, "kind": r.kind.value,
                     "start": key[2], "version": version, "value": value, "quality": r.quality, "report_id": report_id,
                     "received_at": now})
        end = key[2] + m.READING_STEP[r.kind]
        corrected_from = key[2] if corrected_from is None else min(corrected_from, key[2])
        corrected_to = end if corrected_to is None else max(corrected_to, end)
        touched.add(r.meterable_unit)
    for index in range(0, len(rows), INSERT_BATCH):
        await session.exec(insert(ReadingRow), params=rows[index:index + INSERT_BATCH])  # type: ignore[call-overload]
    if rows and corrected_from is not None and corrected_to is not None:
        await mark_stale(session, operator, parsed.fsp_id, touched, corrected_from, corrected_to)
    return len(rows)


async def mark_stale(session: AsyncSession, operator: str, fsp: str, units: set[str], start: datetime, end: datetime
                     ) -> None:
    """Issued reports whose window [counted start, rebound end) overlaps [start, end) for one of `units` are stale.

    Also AUTO baselines read earlier days, but a report's baseline is frozen at its first issue (settlement is
    reproducible), so only readings inside a report's own window make it stale.
    """
    candidates = (await session.exec(
        select(DeliveryReportRow.id, DeliveryReportRow.document)  # type: ignore[call-overload]
        .where(DeliveryReportRow.operator == operator, DeliveryReportRow.fsp == fsp, col(DeliveryReportRow.latest),
               col(DeliveryReportRow.window_start) < end, col(DeliveryReportRow.window_end) > start)
    )).all()
    stale = [report_id for report_id, document in candidates if units & set(document.get("meterableUnits") or ())]
    if stale:
        await session.exec(update(DeliveryReportRow).where(col(DeliveryReportRow.id).in_(stale))  # type: ignore[call-overload]
                           .values(stale=True))


async def load_readings(session: AsyncSession, operator: str, units: list[str], start: datetime, end: datetime
                        ) -> dict[str, list[Reading]]:
    """The latest version of every reading of `units` starting in [start, end), by unit."""
    rows = await session.exec(
        select(ReadingRow.unit, ReadingRow.kind, ReadingRow.start, ReadingRow.version, ReadingRow.value)  # type: ignore[call-overload]
        .where(ReadingRow.operator == operator, col(ReadingRow.unit).in_(units), col(ReadingRow.start) >= start,
               col(ReadingRow.start) < end)
        .order_by(col(ReadingRow.version))
    )
    latest: dict[tuple[str, str, datetime], float | None] = {}
    for unit, kind, moment, _version, value in rows.all():
        latest[(unit, kind, b.utc(moment))] = value  # ordered by version: the last one wins
    result: dict[str, list[Reading]] = {u: [] for u in units}
    for (unit, kind, moment), value in latest.items():
        result[unit].append(Reading(unit, moment, m.ReadingKind(kind), value))
    return result


async def reading_versions(session: AsyncSession, operator: str, unit: str, start: datetime, end: datetime
                           ) -> list[ReadingRow]:
    """Every stored version of `unit`'s readings in [start, end) (the audit view of corrections)."""
    rows = await session.exec(
        select(ReadingRow).where(ReadingRow.operator == operator, ReadingRow.unit == unit,
                                 col(ReadingRow.start) >= start, col(ReadingRow.start) < end)
        .order_by(col(ReadingRow.start), col(ReadingRow.kind), col(ReadingRow.version))
    )
    return list(rows.all())
