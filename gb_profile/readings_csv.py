"""Import Flexible Power style readings CSV files (docs/gb-profile.md §6.4).

Accepted header (case and spacing insensitive), one of:
    Timestamp,Zone,Meterable Unit ID,Power (kW)      per-minute mean power
    Timestamp,Zone,Meterable Unit ID,Energy (kWh)    half-hourly energy
(`timestamp,zone,meterable_unit_id,power_kw|energy_kwh` also accepted.) Timestamps are ISO 8601 UTC
and mark the *end* of the minute / half hour; values are export-positive. The importer converts to
the profile convention (period start, import positive) and either returns every reading or raises
`ReadingsCsvError` listing every problem with its line number - never a partial result.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from gb_profile import model as m
from gb_profile.builders import from_flexible_power

_HEADERS = {
    ("timestamp", "zone", "meterableunitid", "powerkw"): m.ReadingKind.POWER_KW,
    ("timestamp", "zone", "meterableunitid", "energykwh"): m.ReadingKind.ENERGY_KWH,
}
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|\+00:00)$")
MAX_ERRORS = 100
# Readings per GB_READINGS report when a file is sent in chunks (`ven gb readings --csv`, the FSP console): half a day
# of one unit by the minute, about 100 kB of JSON (some 142 bytes a reading). Measured (docs/benchmarks.md): the VTN's
# CPU per POST grows with the chunk, and a POST holds the event loop for that long, so smaller chunks keep both the
# POST's and other VENs' poll latency low; 720 rather than 2 880 (which also fits the 1 MiB body limit).
READINGS_CHUNK = 720


class ReadingsCsvError(ValueError):
    def __init__(self, errors: list[tuple[int, str]]):
        self.errors = errors
        shown = "; ".join(f"line {line}: {message}" for line, message in errors[:10])
        more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
        super().__init__(f"{len(errors)} problem(s) in readings file: {shown}{more}")


@dataclass(frozen=True)
class ReadingsFile:
    kind: m.ReadingKind
    readings: tuple[m.MeterReading, ...]
    zones: dict[str, str]  # meterable unit -> Flexible Power zone


def _normalise(header: str) -> str:
    return re.sub(r"[^a-z]", "", header.lower())


def parse_readings_csv(source: str | bytes | Path) -> ReadingsFile:
    """Parse a readings file (text, bytes or a path)."""
    if isinstance(source, Path):
        source = source.read_bytes()
    if isinstance(source, bytes):
        try:
            source = source.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ReadingsCsvError([(1, f"file is not UTF-8 ({exc.reason} at byte {exc.start})")]) from None
    text = source.removeprefix("\ufeff")
    errors: list[tuple[int, str]] = []
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise ReadingsCsvError([(1, "file is empty; expected a header 'Timestamp,Zone,Meterable Unit ID,Power (kW)'")])
    header = tuple(_normalise(h) for h in rows[0])
    kind = _HEADERS.get(header)
    if kind is None:
        raise ReadingsCsvError(
            [(1, f"unrecognised header {rows[0]!r}; expected Timestamp,Zone,Meterable Unit ID,Power (kW) or Energy (kWh)")]
        )
    step = m.READING_STEP[kind]
    readings: list[m.MeterReading] = []
    zones: dict[str, str] = {}
    seen: dict[tuple[str, datetime], int] = {}
    for line, row in enumerate(rows[1:], start=2):
        if len(errors) >= MAX_ERRORS:
            break
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != 4:
            errors.append((line, f"expected 4 columns, found {len(row)}"))
            continue
        stamp, zone, unit, raw = (cell.strip() for cell in row)
        if not _TIMESTAMP.match(stamp):
            errors.append((line, f"timestamp {stamp!r} is not ISO 8601 UTC (e.g. 2025-02-01T02:00:00Z)"))
            continue
        try:
            moment = datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            errors.append((line, f"timestamp {stamp!r} is not a valid date-time"))
            continue
        if kind is m.ReadingKind.POWER_KW and (moment.second or moment.microsecond):
            errors.append((line, f"per-minute timestamp {stamp!r} is not on a whole minute"))
            continue
        if kind is m.ReadingKind.ENERGY_KWH and (moment.minute % 30 or moment.second or moment.microsecond):
            errors.append((line, f"half-hourly timestamp {stamp!r} is not at :00 or :30"))
            continue
        if not zone:
            errors.append((line, "zone is empty"))
            continue
        if not unit:
            errors.append((line, "meterable unit ID is empty"))
            continue
        try:
            value = float(raw)
        except ValueError:
            errors.append((line, f"value {raw!r} is not a number"))
            continue
        if not math.isfinite(value):
            errors.append((line, f"value {raw!r} is not finite"))
            continue
        if zones.setdefault(unit, zone) != zone:
            errors.append((line, f"meterable unit {unit!r} appears in zones {zones[unit]!r} and {zone!r}"))
            continue
        key = (unit, moment)
        if key in seen:
            errors.append((line, f"duplicate reading for {unit!r} at {stamp} (first on line {seen[key]})"))
            continue
        seen[key] = line
        readings.append(from_flexible_power(unit, moment, value, kind))
    if errors:
        raise ReadingsCsvError(errors)
    if not readings:
        raise ReadingsCsvError([(1, "file has a header but no readings")])
    readings.sort(key=lambda r: (r.meterable_unit, r.start))
    assert all(r.end - r.start == step for r in readings)
    return ReadingsFile(kind=kind, readings=tuple(readings), zones=zones)


def to_readings_csv(readings: list[m.MeterReading], zones: dict[str, str]) -> str:
    """Write profile readings back as a Flexible Power style file (period-ending, export positive)."""
    kinds = {r.kind for r in readings}
    if len(kinds) != 1:
        raise m.ProfileError("a readings file holds one kind of reading")
    kind = kinds.pop()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["Timestamp", "Zone", "Meterable Unit ID", "Power (kW)" if kind is m.ReadingKind.POWER_KW else "Energy (kWh)"]
    )
    for r in readings:
        end = (r.start + m.READING_STEP[kind]).astimezone(UTC)
        writer.writerow(
            [end.isoformat().replace("+00:00", "Z"), zones[r.meterable_unit], r.meterable_unit, repr(-r.value or 0.0)]
        )
    return out.getvalue()


__all__ = ["READINGS_CHUNK", "ReadingsCsvError", "ReadingsFile", "parse_readings_csv", "to_readings_csv"]
