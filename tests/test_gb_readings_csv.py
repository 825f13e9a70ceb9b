from datetime import UTC, datetime

import pytest

from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.readings_csv import ReadingsCsvError, parse_readings_csv, to_readings_csv
from gb_profile.validator import validate_report

GOOD_KW = """Timestamp,Zone,Meterable Unit ID,Power (kW)
2025-02-01T02:00:00Z,twilight-zone,LuHmGc49c30Hsb872q2d,-907.99
2025-02-01T01:59:00Z,twilight-zone,LuHmGc49c30Hsb872q2d,-907.99
2025-02-01T01:58:00Z,twilight-zone,LuHmGc49c30Hsb872q2d,12.5
2025-02-01T02:00:00Z,twilight-zone,Other,0
"""

GOOD_KWH = """timestamp,zone,meterable_unit_id,energy_kwh\r
2025-02-01T02:00:00Z,z,MU-1,10.25\r
2025-02-01T02:30:00+00:00,z,MU-1,-3\r
\r
"""


def test_per_minute_file(tmp_path):
    result = parse_readings_csv(GOOD_KW)
    assert result.kind is m.ReadingKind.POWER_KW and len(result.readings) == 4
    first = next(r for r in result.readings if r.meterable_unit == "LuHmGc49c30Hsb872q2d")
    assert first.start == datetime(2025, 2, 1, 1, 57, tzinfo=UTC) and first.value == -12.5  # period start, import +
    last = [r for r in result.readings if r.meterable_unit == "LuHmGc49c30Hsb872q2d"][-1]
    assert last.start == datetime(2025, 2, 1, 1, 59, tzinfo=UTC) and last.value == 907.99
    assert result.zones == {"LuHmGc49c30Hsb872q2d": "twilight-zone", "Other": "twilight-zone"}
    path = tmp_path / "r.csv"
    path.write_bytes(("\ufeff" + GOOD_KW).encode())
    assert parse_readings_csv(path) == result
    report = b.build_readings_report(m.MeterReadings("FSP", "NGED", result.readings), "p", "anchor")
    assert validate_report(report) == []
    again = parse_readings_csv(to_readings_csv(list(result.readings), result.zones))
    assert again == result


def test_half_hourly_file():
    result = parse_readings_csv(GOOD_KWH.encode())
    assert result.kind is m.ReadingKind.ENERGY_KWH
    assert [(r.start.minute, r.value) for r in result.readings] == [(30, -10.25), (0, 3.0)]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("", 1, "file is empty"),
        ("Time,Zone,MU,kW\n", 1, "unrecognised header"),
        ("Timestamp,Zone,Meterable Unit ID,Power (kW)\n", 1, "no readings"),
        ("Timestamp,Zone,Meterable Unit ID,Power (kW)\n2025-02-01T02:00:00Z,z,MU\n", 2, "expected 4 columns"),
        ("Timestamp,Zone,Meterable Unit ID,Power (kW)\n2025-02-01 02:00,z,MU,1\n", 2, "not ISO 8601 UTC"),
        ("Timestamp,Zone,Meterable Unit ID,Power (kW)\n2025-02-01T02:00:00+01:00,z,MU,1\n", 2, "not ISO 8601 UTC"),
        ("Timestamp,Zone,Meterable Unit ID,Power (kW)\n2025-02-30T02:00:00Z,z,MU,1\n", 2, "not a valid date-time"),
        ("Timestamp,Zone,Meterable Unit ID,Power (kW)\n2025-02-01T02:00:30Z,z,MU,1\n", 2, "whole minute"),
        ("Timestamp,Zone,Meterable Unit ID,Energy (kWh)\n2025-02-01T02:15:00Z,z,MU,1\n", 2, ":00 or :30"),
        ("Timestamp,Zone,Meterable Unit ID,Power (kW)\n2025-02-01T02:00:00Z,,MU,1\n", 2, "zone is empty"),
        ("Timestamp,Zone,Meterable Unit ID,Power (kW)\n2025-02-01T02:00:00Z,z,,1\n", 2, "meterable unit ID is empty"),
        ("Timestamp,Zone,Meterable Unit ID,Power (kW)\n2025-02-01T02:00:00Z,z,MU,abc\n", 2, "not a number"),
        ("Timestamp,Zone,Meterable Unit ID,Power (kW)\n2025-02-01T02:00:00Z,z,MU,nan\n", 2, "not finite"),
    ],
)
def test_malformed_files(text, line, message):
    with pytest.raises(ReadingsCsvError) as info:
        parse_readings_csv(text)
    assert info.value.errors[0][0] == line and message in info.value.errors[0][1]
    assert f"line {line}" in str(info.value)


def test_all_errors_reported_nothing_partial():
    text = GOOD_KW + "2025-02-01T02:01:00Z,z2,Other,1\n2025-02-01T01:59:00Z,twilight-zone,LuHmGc49c30Hsb872q2d,5\nbad,row\n"
    with pytest.raises(ReadingsCsvError) as info:
        parse_readings_csv(text)
    assert [line for line, _ in info.value.errors] == [6, 7, 8]
    assert "zones" in info.value.errors[0][1] and "duplicate" in info.value.errors[1][1]
    assert "first on line 3" in info.value.errors[1][1]


def test_not_utf8():
    with pytest.raises(ReadingsCsvError, match="not UTF-8"):
        parse_readings_csv(b"Timestamp,Zone\n\xff\xfe")
