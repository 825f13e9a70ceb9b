"""Readings at aggregator scale: a GB_READINGS report, as stored, becomes versioned rows of `gb_reading`.

Called in the transaction that stores the report, so the report (the wire record) and its rows commit together.
Idempotent by (unit, kind, interval start, version): a reading whose value equals the latest stored version adds
nothing (retries and re-uploads never double-count); a different value is a late correction and becomes the next
version, and the delivery reports whose window it touches are marked stale so the worker issues a new version.
A MISSING or BAD reading is stored as a gap (value NULL), never as zero.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlalchemy import insert, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.delivery import UNUSABLE_QUALITIES, Reading
from openadr3.models import Report
from vtn.core.database import utcnow
from vtn.core.errors import ApiError
from vtn.core.offload import CpuPool, Problem
from vtn.delivery.models import DeliveryReportRow, ReadingRow

if TYPE_CHECKING:
    from gb_profile.signing import KeyRing

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


# --- a large upload, parsed and checked off the event loop (vtn.core.offload) --------------------------------------


def parse_upload(raw: bytes) -> dict[str, Any] | None:
    """Worker process: the content (`Report.content()`) of a GB_READINGS report body; None for anything else, an
    invalid body included (the request's process then parses it as any body and answers its errors)."""
    try:
        report = Report.model_validate(json.loads(raw))
    except (ValueError, ValidationError):
        return None
    return report.content() if report.reportName == m.R_READINGS else None


def check_upload(raw: bytes, event: dict[str, Any], program: dict[str, Any], own_resources: set[str] | None,
                 keys: dict[str, tuple[str, dict[str, Any]]] | None) -> list[_Item] | Problem:
    """Worker process: the profile's checks of an upload `parse_upload` accepted (`check_report_body`, as for any
    report), then its readings, ready for `record_readings`."""
    from gb_profile.signing import KeyRing
    from vtn.profiles import check_report_body

    report = Report.model_validate(json.loads(raw))
    ring = None
    if keys is not None:
        ring = KeyRing()
        for party, key in keys.values():
            ring.add(party, key)
    try:
        check_report_body(report, event, program, own_resources, ring)
    except ApiError as exc:
        return Problem.of(exc)
    return _items(report.content())


@dataclass(frozen=True)
class ReadingsUpload:
    """A large GB_READINGS report body as the reports service takes it in place of the `Report` model: its header and
    stored content (from `parse_upload`), and `checked`, which runs the profile's checks off the event loop too."""

    raw: bytes
    document: dict[str, Any]
    pool: CpuPool

    @property
    def programID(self) -> str:  # the model's field names
        return str(self.document["programID"])

    @property
    def eventID(self) -> str:
        return str(self.document["eventID"])

    @property
    def clientName(self) -> str:
        return str(self.document["clientName"])

    @property
    def reportName(self) -> str | None:
        return self.document.get("reportName")

    def content(self) -> dict[str, Any]:
        return self.document

    async def checked(self, event: dict[str, Any], program: dict[str, Any], own_resources: set[str] | None,
                      keys: KeyRing | None) -> list[_Item]:
        """The readings, once the profile's checks passed (else their 400/409, as for an in-process check)."""
        shipped = None if keys is None else {kid: (party, key.as_dict(private=False))
                                             for kid, (party, key) in keys.keys.items()}
        return await self.pool.run(check_upload, self.raw, event, program, own_resources, shipped)


async def record_readings(session: AsyncSession, operator: str, report_id: str, document: Mapping[str, Any],
                          items: list[_Item] | None = None) -> int:
    """Store the readings of a GB_READINGS report document (`items`: already taken from it, by `check_upload`);
    returns how many rows (new versions) were written."""
    try:
        readings = _items(document) if items is None else items
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
    table = ReadingRow.__table__  # type: ignore[attr-defined]
    for index in range(0, len(rows), INSERT_BATCH):  # Core, not the ORM's bulk insert: no per-row mapper work
        await session.exec(insert(table), params=rows[index:index + INSERT_BATCH])  # type: ignore[call-overload]
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
