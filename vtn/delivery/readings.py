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
from dataclasses import dataclass
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


_KIND_OF_PAYLOAD = {m.P_DEMAND: m.ReadingKind.POWER_KW, m.P_USAGE: m.ReadingKind.ENERGY_KWH}


@dataclass(frozen=True)
class _Item:
    meterable_unit: str
    start: datetime
    kind: m.ReadingKind
    value: float | None  # None: MISSING / BAD
    quality: str | None


def _items(document: Mapping[str, Any]) -> list[_Item]:
    """The readings of a GB_READINGS report document that `validate_report` has accepted.

    Read from the JSON directly: a month of per-minute data is tens of thousands of intervals, and parsing them
    into models once more (gb_profile.builders.parse_readings_report) would double the request's CPU time.
    """
    items: list[_Item] = []
    for resource in document.get("resources") or ():
        unit = resource["resourceName"]
        for interval in resource.get("intervals") or ():
            kind = value = quality = None
            for payload in interval.get("payloads") or ():
                kind_type, values = payload.get("type"), payload.get("values") or [None]
                if kind_type in _KIND_OF_PAYLOAD:
                    kind, value = _KIND_OF_PAYLOAD[kind_type], values[0]
                elif kind_type == m.P_DATA_QUALITY:
                    quality = values[0]
            if kind is None:
                continue
            start = b.utc(datetime.fromisoformat(interval["intervalPeriod"]["start"].replace("Z", "+00:00")))
            number = None if quality in UNUSABLE_QUALITIES or value is None else float(value)
            items.append(_Item(unit, start, kind, number, quality))
    return items


async def record_readings(session: AsyncSession, operator: str, report_id: str, document: Mapping[str, Any]) -> int:
    """Store the readings of a GB_READINGS report document; returns how many rows (new versions) were written."""
    try:
        readings = _items(document)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # validated before: not expected
        log.warning("report %s: readings not recorded (%s)", report_id, exc)
        return 0
    if not readings:
        return 0
    fsp = str(document.get("clientName"))
    units = sorted({r.meterable_unit for r in readings})
    first = min(r.start for r in readings)
    last = max(r.start for r in readings)
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
    for r in readings:
        key = (r.meterable_unit, r.kind.value, r.start)
        value = r.value
        before = latest.get(key)
        if before is not None and before[1] == value:
            continue  # the same reading again: a retry or a re-upload
        version = 1 if before is None else before[0] + 1
        latest[key] = (version, value)
        rows.append({"operator": operator, "fsp": fsp, "unit": r.meterable_unit, "kind": r.kind.value,
                     "start": key[2], "version": version, "value": value, "quality": r.quality, "report_id": report_id,
                     "received_at": now})
        end = key[2] + m.READING_STEP[r.kind]
        corrected_from = key[2] if corrected_from is None else min(corrected_from, key[2])
        corrected_to = end if corrected_to is None else max(corrected_to, end)
        touched.add(r.meterable_unit)
    for index in range(0, len(rows), INSERT_BATCH):
        await session.exec(insert(ReadingRow), params=rows[index:index + INSERT_BATCH])  # type: ignore[call-overload]
    if rows and corrected_from is not None and corrected_to is not None:
        await mark_stale(session, operator, fsp, touched, corrected_from, corrected_to)
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
