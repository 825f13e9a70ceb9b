"""Meter data at aggregator scale and delivery reports through the VTN (vtn/delivery, docs/gb-profile.md §6.8):
readings idempotent and versioned, the report issued by the worker round, recomputed after a late correction,
per-FSP privacy, CSV and PDF, and bad input."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import select

from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.examples import example_instruction, example_program
from vtn.delivery.models import DeliveryReportRow, ReadingRow
from vtn.delivery.service import delivery_report_for, issue_due

FSP, UNIT, METER = "FSP-ACME", "DU-7", "MU-1"
MINUTE = timedelta(minutes=1)
DAY = datetime(2026, 11, 10, tzinfo=UTC)  # a Tuesday in GMT: London time = UTC, 16:30 is settlement period 34
SENT = DAY.replace(hour=16, minute=10)
END = DAY.replace(hour=18)


def _run(clients: Any, coro_factory: Any) -> Any:
    return clients._portal_run(coro_factory)


def _count_readings(clients: Any) -> int:
    async def count() -> int:
        async with clients.app.state.db.session(write=False) as session:
            return (await session.exec(select(func.count()).select_from(ReadingRow))).one()
    return _run(clients, count)


def _round(clients: Any, now: datetime) -> list[DeliveryReportRow]:
    async def go() -> list[DeliveryReportRow]:
        async with clients.app.state.db.session() as session:
            return await issue_due(session, clients.app.state.settings, now)
    return _run(clients, go)


def _minutes(start: datetime, values: list[tuple[int, float]]) -> list[m.MeterReading]:
    out = []
    cursor = start
    for count, kw in values:
        for _ in range(count):
            out.append(m.MeterReading(METER, cursor, m.ReadingKind.POWER_KW, kw))
            cursor += MINUTE
    return out


def _readings_report(program_id: str, event_id: str, readings: list[m.MeterReading]) -> dict[str, Any]:
    return b.build_readings_report(m.MeterReadings(FSP, "NGED", tuple(readings)), program_id, event_id).dump()


def _setup(bl: Any, clients: Any) -> tuple[Any, str, str]:
    ven = clients.ven(FSP)
    ven_id = ven.post("/vens", json={"venName": FSP}).json()["id"]
    unit = {"resourceName": UNIT, "attributes": [{"type": m.A_ROLE, "values": ["DISPATCH_UNIT"]},
                                                 {"type": m.A_METERABLE_UNITS, "values": [METER]}]}
    assert ven.post(f"/vens/{ven_id}/resources", json=unit).status_code == 201
    assert ven.post(f"/vens/{ven_id}/resources", json={"resourceName": METER}).status_code == 201
    program_id = bl.post("/programs", json=example_program("OU_2MIN").dump()).json()["id"]
    start = SENT + timedelta(minutes=2)  # the product's 2 minutes' notice: the period under way is not judged
    ins = replace(example_instruction("OU_2MIN"), instruction_time=SENT, service_start=start, service_end=END,
                  setpoints=(m.Setpoint(start, -200.0, m.ServiceUnits.KW, m.SetpointKind.DELTA, price=0.3417),))
    made = bl.post("/events", json=b.build_event(ins, program_id).dump() | {"id": None})
    assert made.status_code == 201, made.text
    return ven, program_id, made.json()["id"]


WORKED = [(30, 500.0), (30, 320.0), (30, 290.0), (15, 300.0), (15, 400.0), (60, 560.0)]  # 16:00-19:00


def test_readings_versions_and_delivery_report(bl: Any, clients: Any) -> None:
    ven, program_id, event_id = _setup(bl, clients)
    report = _readings_report(program_id, event_id, _minutes(DAY.replace(hour=16), WORKED))
    assert ven.post("/reports", json=report).status_code == 201
    assert _count_readings(clients) == 180
    # the same file again (a retry, a re-upload) is stored as a report but adds no reading
    assert ven.post("/reports", json=report).status_code == 201
    assert _count_readings(clients) == 180

    # the baseline is the operator's: a static 500 kW nominated for the meter
    assert ven.put(f"/admin/gb/baselines/{METER}", json={"method": "STATIC", "staticKw": 500}).status_code == 403
    bad = bl.put(f"/admin/gb/baselines/{METER}", json={"method": "STATIC", "staticKw": "lots"})
    assert bad.status_code == 400 and bad.headers["content-type"].startswith("application/problem+json")
    assert bl.put(f"/admin/gb/baselines/{METER}", json=["STATIC"]).status_code == 400
    saved = bl.put(f"/admin/gb/baselines/{METER}", json={"method": "STATIC", "staticKw": 500})
    assert saved.status_code == 200 and saved.json()["method"] == "STATIC"
    assert [row["unit"] for row in bl.get("/admin/gb/baselines").json()] == [METER]

    # not due before the end + delay; issued once after it, and a further round issues nothing
    assert _round(clients, END) == []
    [issued] = _round(clients, END + timedelta(hours=1))
    assert _round(clients, END + timedelta(hours=1)) == []
    [listed] = bl.get("/admin/gb/delivery-reports").json()
    assert listed["id"] == issued.id and listed["version"] == 1 and listed["eventID"] == event_id
    document = bl.get(f"/admin/gb/delivery-reports/{issued.id}").json()
    assert [p["settlementPeriod"] for p in document["periods"]] == [34, 35, 36]
    assert [p["deliveredKwh"] for p in document["periods"]] == [90.0, 105.0, 75.0]
    assert (document["instructedKwh"], document["deliveredKwh"], document["percent"]) == (300.0, 270.0, 90.0)
    assert document["utilisationPriceGbpPerMwh"] == "341.7" and document["priceSource"] == "dispatch"
    assert document["earningsGbp"] == "90.55" and document["rag"] == "AMBER"
    assert document["reboundKwh"] == 60.0 and document["baselines"][METER]["method"] == "STATIC"

    # the FSP sees its own report; another FSP sees nothing, and not by id either
    assert [r["id"] for r in ven.get("/gb/delivery-reports").json()] == [issued.id]
    other = clients.ven("FSP-OTHER")
    assert other.get("/gb/delivery-reports").json() == []
    assert other.get(f"/gb/delivery-reports/{issued.id}").status_code == 404
    assert ven.get("/admin/gb/delivery-reports").status_code == 403

    # a late correction (SP36's second quarter hour was 300 kW, not 400) is a new version of those 15 readings
    late = _minutes(DAY.replace(hour=17, minute=45), [(15, 300.0)])
    assert ven.post("/reports", json=_readings_report(program_id, event_id, late)).status_code == 201
    assert _count_readings(clients) == 195
    assert bl.get("/admin/gb/delivery-reports").json()[0]["stale"] is True
    [again] = _round(clients, END + timedelta(hours=2))
    assert again.version == 2 and "recomputed" in again.reason
    latest = bl.get(f"/admin/gb/delivery-reports/{again.id}").json()
    assert [p["deliveredKwh"] for p in latest["periods"]] == [90.0, 105.0, 100.0]
    assert (latest["deliveredKwh"], latest["percent"], latest["earningsGbp"], latest["rag"]) == (
        295.0, 98.3, "99.09", "GREEN")
    # version 1 is kept as it was; the stable accessor gives the latest, or a version
    versions = bl.get("/admin/gb/delivery-reports", params={"eventID": event_id, "allVersions": "true"}).json()
    assert [(r["version"], r["latest"], r["earningsGbp"]) for r in versions] == [(2, True, "99.09"), (1, False, "90.55")]

    async def accessor() -> tuple[int, int]:
        async with clients.app.state.db.session(write=False) as session:
            newest = await delivery_report_for(session, "", event_id)
            first = await delivery_report_for(session, "", event_id, 1)
            assert newest is not None and first is not None
            return newest.version, first.version
    assert _run(clients, accessor) == (2, 1)

    # CSV and PDF, for the operator and for the FSP
    sheet = ven.get(f"/gb/delivery-reports/{again.id}/csv")
    assert sheet.status_code == 200 and sheet.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(sheet.text)))
    assert rows[-1][0] == "total" and rows[-1][-1] == "99.09"
    pdf = bl.get(f"/admin/gb/delivery-reports/{again.id}/pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")

    # the contract's utilisation price (ops-a's contract terms, unit level) rules over the dispatch's price, and so
    # do its RAG thresholds: 295 kWh payable 100 + 90 + 100 -> 290 kWh x £250/MWh, to the penny per period
    terms = bl.put(f"/admin/gb/programs/{program_id}/terms/units/{UNIT}",
                   json={"utilisationPrice": 250.0, "ragGreenPercent": 99.0, "ragAmberPercent": 90.0})
    assert terms.status_code == 200, terms.text
    third = bl.post(f"/admin/gb/events/{event_id}/delivery-report").json()
    assert third["version"] == 3 and third["priceSource"] == "contract"
    assert third["utilisationPriceGbpPerMwh"] == "250.0"
    assert [p["earningsGbp"] for p in third["periods"]] == ["22.50", "25.00", "25.00"]
    assert third["earningsGbp"] == "72.50" and third["rag"] == "AMBER"
    # an unknown event is 404
    assert bl.post("/admin/gb/events/no-such-event/delivery-report").status_code == 404
    assert bl.get("/admin/gb/delivery-reports/no-such-report").status_code == 404


def test_missing_reading_stays_a_gap(bl: Any, clients: Any) -> None:
    ven, program_id, event_id = _setup(bl, clients)
    readings = _minutes(DAY.replace(hour=16), WORKED)
    readings[95] = replace(readings[95], quality="MISSING")  # 17:35, in SP36
    assert ven.post("/reports", json=_readings_report(program_id, event_id, readings)).status_code == 201
    bl.put(f"/admin/gb/baselines/{METER}", json={"method": "STATIC", "staticKw": 500})
    [issued] = _round(clients, END + timedelta(hours=1))
    document = issued.document
    assert [p["deliveredKwh"] for p in document["periods"]] == [90.0, 105.0, None]
    assert document["missingPeriods"] == 1 and document["earningsGbp"] == "64.92"
    # the reading arrives later: it fills the gap in a new version
    fixed = [replace(readings[95], quality=None)]
    assert ven.post("/reports", json=_readings_report(program_id, event_id, fixed)).status_code == 201
    [again] = _round(clients, END + timedelta(hours=2))
    assert again.document["periods"][2]["deliveredKwh"] == 75.0 and again.document["earningsGbp"] == "90.55"


def test_console_pages(database_url: str) -> None:
    """The operator's and the FSP's console pages: list, detail with the chart, CSV and PDF; another FSP sees 404."""
    from fastapi.testclient import TestClient

    from tests.conftest import Clients, vtn_test_settings
    from tests.test_console_auth import add_user, signin
    from vtn.app import create_app

    settings = vtn_test_settings(database_url, console_enabled=True, console_require_mfa=False,
                                 console_signin_rate_limit=1000)
    with TestClient(create_app(settings), raise_server_exceptions=False) as http:
        clients = Clients(http)
        bl = clients.bl()
        ven, program_id, event_id = _setup(bl, clients)
        readings = _minutes(DAY.replace(hour=16), WORKED)
        assert ven.post("/reports", json=_readings_report(program_id, event_id, readings)).status_code == 201
        bl.put(f"/admin/gb/baselines/{METER}", json={"method": "STATIC", "staticKw": 500})
        [issued] = _round(clients, END + timedelta(hours=1))

        add_user(http, "olive", "operator")
        add_user(http, "fiona", "fsp", ven_names=[FSP])
        add_user(http, "otto", "fsp", ven_names=["FSP-OTHER"])
        assert signin(http, "olive").status_code == 303
        page = http.get("/console/operator/delivery-reports")
        assert page.status_code == 200 and issued.id in page.text and "AMBER" in page.text
        detail = http.get(f"/console/operator/delivery-reports/{issued.id}")
        assert detail.status_code == 200 and "<svg" in detail.text and "90.55" in detail.text and "SP34" in detail.text
        assert http.get(f"/console/operator/delivery-reports/{issued.id}/pdf").content.startswith(b"%PDF")
        http.cookies.clear()
        assert signin(http, "fiona").status_code == 303
        assert issued.id in http.get("/console/fsp/delivery-reports").text
        assert "total" in http.get(f"/console/fsp/delivery-reports/{issued.id}/csv").text
        assert http.get("/console/operator/delivery-reports").status_code in (403, 404)
        # the readings upload page: chunks as its script sends them (header + rows, JSON answer), idempotent
        page = http.get("/console/fsp/readings")
        assert page.status_code == 200 and "readings.js" in page.text
        anchor = bl.post("/events", json=b.build_anchor_event(program_id, "NGED", DAY - timedelta(days=30)).dump())
        target = f"{FSP}|{anchor.json()['id']}"
        token = re.search(r'name="csrf_token" value="([^"]+)"', http.get("/console/fsp/readings").text).group(1)  # type: ignore[union-attr]
        header = "Timestamp,Zone,Meterable Unit ID,Power (kW)\n"
        rows = [f"2026-11-09T00:{i + 1:02d}:00Z,Z1,{METER},-100" for i in range(50)]
        before = _count_readings(clients)

        def chunk(lines: list[str]) -> Any:
            return http.post("/console/fsp/readings", data={"csrf_token": token, "target": target},
                             files={"file": ("chunk.csv", header + "\n".join(lines) + "\n", "text/csv")},
                             headers={"Accept": "application/json"})
        first, second = chunk(rows[:30]), chunk(rows[30:])
        assert first.status_code == 200 and first.json()["readings"] == 30 and second.json()["readings"] == 20
        assert chunk(rows[:30]).status_code == 200  # sent again: stored as a report, no reading counted twice
        assert _count_readings(clients) == before + 50
        bad = chunk(["2026-11-09T00:01:30Z,Z1,MU-1,abc"])
        assert bad.status_code == 400 and "line 2" in bad.text
        assert http.post("/console/fsp/readings", data={"csrf_token": token, "target": "FSP-OTHER|x"},
                         files={"file": ("c.csv", header, "text/csv")}).status_code == 400  # not the account's VEN
        http.cookies.clear()
        assert signin(http, "otto").status_code == 303
        assert issued.id not in http.get("/console/fsp/delivery-reports").text
        assert http.get(f"/console/fsp/delivery-reports/{issued.id}").status_code == 404


def test_concurrent_rounds_issue_one_report(bl: Any, clients: Any) -> None:
    """Two processes' rounds at once (two sessions here): one report, never two versions 1."""
    import asyncio

    ven, program_id, event_id = _setup(bl, clients)
    readings = _minutes(DAY.replace(hour=16), WORKED)
    assert ven.post("/reports", json=_readings_report(program_id, event_id, readings)).status_code == 201

    async def both() -> list[int]:
        db, settings = clients.app.state.db, clients.app.state.settings

        async def one() -> int:
            async with db.session() as session:
                issued = await issue_due(session, settings, END + timedelta(hours=1))
                await asyncio.sleep(0.2)  # hold the transaction (and, on PostgreSQL, the lock) a while
                return len(issued)
        return list(await asyncio.gather(one(), one()))

    assert sorted(_run(clients, both)) == [0, 1]
    versions = bl.get("/admin/gb/delivery-reports", params={"allVersions": "true"}).json()
    assert [(r["eventID"], r["version"]) for r in versions] == [(event_id, 1)]


def test_a_later_revision_does_not_move_the_first_counted_period(bl: Any, clients: Any) -> None:
    ven, program_id, event_id = _setup(bl, clients)
    stored = bl.get(f"/events/{event_id}").json()
    revised = b.revise(b.parse_event(stored), DAY.replace(hour=17, minute=5))  # a revised RUN sent at 17:05
    put = bl.put(f"/events/{event_id}", json=b.build_event(revised, program_id, event_id=event_id).dump())
    assert put.status_code == 200, put.text
    assert ven.post("/reports", json=_readings_report(program_id, event_id,
                                                      _minutes(DAY.replace(hour=16), WORKED))).status_code == 201
    bl.put(f"/admin/gb/baselines/{METER}", json={"method": "STATIC", "staticKw": 500})
    [issued] = _round(clients, END + timedelta(hours=1))
    assert [p["settlementPeriod"] for p in issued.document["periods"]] == [34, 35, 36]  # still from 16:30
    assert issued.document["dispatchRevision"] == 2 and issued.document["earningsGbp"] == "90.55"


def test_background_task_issues_the_report(database_url: str) -> None:
    """The app's own task (not a round called by the test) issues the report of an ended dispatch."""
    import time

    from fastapi.testclient import TestClient

    from tests.conftest import Clients, vtn_test_settings
    from vtn.app import create_app

    settings = vtn_test_settings(database_url, gb_delivery_worker_seconds=0.2)
    with TestClient(create_app(settings), raise_server_exceptions=False) as http:
        clients = Clients(http)
        bl = clients.bl()
        _ven, _program_id, event_id = _setup(bl, clients)
        deadline = time.monotonic() + 30
        while not (found := bl.get("/admin/gb/delivery-reports").json()) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [(r["eventID"], r["version"], r["reason"]) for r in found] == [
            (event_id, 1, "issued after the dispatch ended")]
        assert found[0]["missingPeriods"] == 3  # no readings yet: gaps, not zeros
