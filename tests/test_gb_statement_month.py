"""Issue 16 "Done when": one GB month (March 2027, the spring clock change on Sunday 28 March) run end to end on
one VTN — declarations, acceptance, dispatches with overdue acknowledgements flagged, readings arriving late and
corrected, a delivery report per event, and a provisional, disputed and final statement whose every figure is
recomputed here by hand (docs/gb-profile.md §6.9 has the same worked figures).

The VTN's clock is moved through the month (the store's, the availability cycle's, the statement service's), the
background rounds are called as the workers call them (`check_once`, `issue_due`, `run_due`) at chosen instants.

Worked figures (program: availability 12 £/MW/h, utilisation 300 £/MWh, ack period 5 min, RAG amber 80 %;
statement charges: monthly fee £25.00, late acknowledgement £50.00; DU-7's meter MU-7 baseline static 500 kW):
  A  Mon 15 Mar 17:00-19:00 GMT  accepted 800 kW at 10.50   0.8 × 2 × 10.50 = 16.80
  B  Sun 28 Mar 00:00-06:00 London (00:00-05:00 UTC: 5 h)  500 kW at 12.00   0.5 × 5 × 12.00 = 30.00
  C  Tue 30 Mar 16:00-19:00 BST  1000 kW at 9.99           1.0 × 3 × 9.99  = 29.97
  D  Wed 31 Mar 23:00 BST - Thu 1 Apr 01:00 BST: 1 h in March, 400 kW at 10.00   0.4 × 1 × 10 = 4.00
  (E Thu 18 Mar 10:00-12:00, rejected: nothing)                                    availability 80.77
  E1 Mon 15 Mar 17:00-18:00 GMT, -200 kW (SP35, SP36: 100 kWh instructed each), acknowledged on time.
     first readings: 300 kW then 400 kW → delivered 100 + 50 = 150 kWh, 75 % RED → £45.00, and the
     under-delivery penalty forfeits A's availability for 17:00-18:00: -(0.8 × 1 × 10.50) = -8.40.
     corrected on 3 April (SP36 was 300 kW): 200 kWh, 100 % GREEN → £60.00, no penalty.
  E2 Sun 28 Mar 00:30-02:30 UTC (00:30 GMT - 03:30 BST: SP2-SP5 of a 46-period day), -100 kW, 400 kW metered →
     200 kWh, 100 % → £60.00; acknowledged at 00:40 (deadline 00:15): alarm raised at 00:20 → -50.00
  E3 Tue 30 Mar 16:00-17:00 BST, -400 kW, 400 kW metered → 100 kWh of 400, 25 % RED → £30.00, penalty
     -(1.0 × 1 × 9.99) = -9.99; never acknowledged: alarm → -50.00
  fee -25.00
  v1 (provisional, 1 April): 80.77 + (45 + 60 + 30) - (8.40 + 9.99) - 100 - 25 = 72.38  → rejected by the FSP
  v2 (after the correction):  80.77 + (60 + 60 + 30) - 9.99 - 100 - 25 = 95.78          → approved
  v3 (final, 15 April 00:00 BST = 14 April 23:00 UTC): 95.78
After the final, corrections are paid in the next open statement as prior-period ADJUSTMENT lines (recomputed −
what March's final and the finals since paid for the line):
  20 April, E3's readings corrected (100 kW metered → 400 kWh, 100 % GREEN → £120.00, no penalty)
  April v1 (provisional, 1 May 00:00 BST): D's April hour 0.4 × 1 × 10 = 4.00, fee -25.00,
     ADJUSTMENT 120.00 - 30.00 = +90.00, ADJUSTMENT 0.00 - (-9.99) = +9.99          → 78.99; final on 15 May: 78.99
  May: nothing of its own, March paid in full by March's final + April's final → no statement
  2 June, E2's readings corrected (450 kW metered → 100 kWh of 200, 50 % RED → £30.00; B forfeited for the two
     elapsed hours 00:30-02:30 UTC of the clock-change night: -(0.5 × 2 × 12) = -12.00)
  May v1 (provisional, 2 June): ADJUSTMENT 30.00 - 60.00 = -30.00, ADJUSTMENT -12.00 - 0.00 = -12.00 → -42.00
"""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.examples import FSP, OPERATOR, example_instruction, example_program
from tests.conftest import vtn_test_settings
from vtn.contracts.acks import check_once
from vtn.core.settings import Settings
from vtn.delivery.service import issue_due
from vtn.statements import service
from vtn.statements.service import fingerprints, run_due

UNIT, METER = "DU-7", "MU-7"
MINUTE = timedelta(minutes=1)
PRODUCT = "VAOU_15MIN"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def settings(database_url: str) -> Settings:
    # the rounds are driven by the test at chosen instants, not by background tasks on the real clock
    return vtn_test_settings(database_url, gb_statements=False, gb_delivery_reports=False)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock(utc(2027, 3, 2, 12))
    for module in ("vtn.core.store", "vtn.contracts.availability", "vtn.delivery.readings", "vtn.delivery.service",
                   "vtn.statements.service"):
        monkeypatch.setattr(f"{module}.utcnow", clock)
    return clock


def _run(clients: Any, factory: Any) -> Any:
    return clients._portal_run(factory)


def _delivery_round(clients: Any, now: datetime) -> list[Any]:
    async def go() -> list[Any]:
        async with clients.app.state.db.session() as session:
            return await issue_due(session, clients.app.state.settings, now)
    return _run(clients, go)


def _statement_round(clients: Any, now: datetime, nothing_owed: dict[Any, str] | None = None) -> list[Any]:
    async def go() -> list[Any]:
        async with clients.app.state.db.session() as session:
            return await run_due(session, now, nothing_owed=nothing_owed)
    return _run(clients, go)


def _fingerprint(clients: Any, month: date) -> str:
    async def go() -> str:
        async with clients.app.state.db.session(write=False) as session:
            return (await fingerprints(session, "", month, [FSP], FSP))[FSP]
    return _run(clients, go)


def _ack_check(clients: Any, now: datetime) -> list[Any]:
    return _run(clients, lambda: check_once(clients.app.state.db, now))


def _declare(ven: Any, program_id: str, anchor_id: str, start: datetime, hours: float, kw: float) -> None:
    window = m.AvailabilityWindow(start, timedelta(hours=hours), turn_down_kw=kw)
    declaration = m.AvailabilityDeclaration(FSP, OPERATOR, "C-4411", {UNIT: (window,)})
    report = b.build_availability_report(declaration, program_id, anchor_id).dump()
    report.pop("id", None)
    made = ven.post("/reports", json=report)
    assert made.status_code == 201, made.text


def _dispatch(bl: Any, program_id: str, ref: str, instructed: datetime, start: datetime, hours: float, kw: float
              ) -> dict[str, Any]:
    base = example_instruction(PRODUCT)
    ins = replace(base, dispatch_ref=ref, instruction_time=instructed, service_start=start,
                  service_end=start + timedelta(hours=hours),
                  setpoints=(m.Setpoint(start, kw, m.ServiceUnits.KW, m.SetpointKind.DELTA, price=0.3),))
    event = b.build_event(ins, program_id).dump()
    event.pop("id", None)
    made = bl.post("/events", json=event)
    assert made.status_code == 201, made.text
    return made.json()


def _ack(ven: Any, event: dict[str, Any], at: datetime) -> None:
    ack = b.acknowledge(event, at)
    sent = ven.post("/reports", json=b.build_ack_report(ack, event["programID"], event["id"]).dump())
    assert sent.status_code == 201, sent.text


def _readings(ven: Any, event: dict[str, Any], start: datetime, values: list[tuple[int, float]]) -> None:
    out, cursor = [], start
    for count, kw in values:
        for _ in range(count):
            out.append(m.MeterReading(METER, cursor, m.ReadingKind.POWER_KW, kw))
            cursor += MINUTE
    report = b.build_readings_report(m.MeterReadings(FSP, OPERATOR, tuple(out)), event["programID"], event["id"]).dump()
    report.pop("id", None)
    sent = ven.post("/reports", json=report)
    assert sent.status_code == 201, sent.text


def _lines(document: dict[str, Any]) -> list[tuple[str, str]]:
    return [(line["kind"], line["amountGbp"]) for line in document["lines"]]


def test_one_gb_month_end_to_end(bl: Any, clients: Any, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    # --- the contract: a VAOU program, its terms, its statement charges; the FSP's unit and meter -------------
    program_id = bl.post("/programs", json=example_program(PRODUCT).dump()).json()["id"]
    terms = {"ackPeriodSeconds": 300, "declarationCutoff": {"weekday": "TUESDAY", "time": "23:59"},
             "acceptanceMode": "MANUAL", "auction": True, "availabilityPrice": 12.0, "utilisationPrice": 300,
             "maxCapacityKW": 2000}
    assert bl.put(f"/admin/gb/programs/{program_id}/terms", json=terms).status_code == 200
    charges = bl.put(f"/admin/gb/programs/{program_id}/statement-charges",
                     json={"monthlyFeeGbp": "25.00", "lateAckPenaltyGbp": 50})
    assert charges.status_code == 200, charges.text
    assert charges.json()["monthlyFeeGbp"] == "25" and charges.json()["lateAckPenaltyGbp"] == "50"
    for bad in ({"monthlyFeeGbp": "2.555"}, {"monthlyFeeGbp": -1}, {"fee": 1}, ["25"], {"lateAckPenaltyGbp": True}):
        refused = bl.put(f"/admin/gb/programs/{program_id}/statement-charges", json=bad)
        assert refused.status_code == 400, (bad, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
    anchor = b.build_anchor_event(program_id, OPERATOR, utc(2027, 1, 1)).dump()
    anchor.pop("id", None)
    anchor_id = bl.post("/events", json=anchor).json()["id"]
    ven = clients.ven(FSP)
    ven_id = ven.post("/vens", json={"venName": FSP}).json()["id"]
    unit = b.build_dispatch_unit_resource(m.DispatchUnit(FSP, UNIT, OPERATOR, meterable_units=(METER,),
                                                         max_consumption_kw=1500.0, max_export_kw=500.0)).dump()
    unit.pop("id", None)
    unit.pop("targets", None)
    assert ven.post(f"/vens/{ven_id}/resources", json=unit).status_code == 201
    assert ven.post(f"/vens/{ven_id}/resources", json={"resourceName": METER}).status_code == 201
    assert bl.put(f"/admin/gb/baselines/{METER}", json={"method": "STATIC", "staticKw": 500}).status_code == 200

    # --- declarations (Tuesday 2 March, before every cut-off) and the operator's acceptances -----------------
    windows = {
        "A": (utc(2027, 3, 15, 17), 2, 1000.0), "B": (utc(2027, 3, 28, 0), 5, 500.0),
        "C": (utc(2027, 3, 30, 15), 3, 1000.0), "D": (utc(2027, 3, 31, 22), 2, 400.0),
        "E": (utc(2027, 3, 18, 10), 2, 600.0),
    }
    for start, hours, kw in windows.values():
        _declare(ven, program_id, anchor_id, start, hours, kw)
    rows = {row["start"]: row for row in bl.get(f"/admin/gb/programs/{program_id}/acceptances").json()}
    ids = {name: rows[b.utc_text(start)]["id"] for name, (start, _, _) in windows.items()}
    decisions = {"A": {"acceptedKW": 800, "awardedPrice": 10.5}, "B": {"awardedPrice": 12.0},
                 "C": {"awardedPrice": 9.99}, "D": {"awardedPrice": 10.0}}
    for name, decision in decisions.items():
        done = bl.post(f"/admin/gb/acceptances/{ids[name]}", json={"status": "ACCEPTED", **decision})
        assert done.status_code == 200, done.text
    assert bl.post(f"/admin/gb/acceptances/{ids['E']}", json={"status": "REJECTED", "reason": "not needed"}
                   ).status_code == 200

    # --- E1, Monday 15 March: acknowledged on time; readings arrive that evening -----------------------------
    clock.now = utc(2027, 3, 15, 16, 40)
    e1 = _dispatch(bl, program_id, "D-0315", clock.now, utc(2027, 3, 15, 17), 1, -200.0)
    clock.now = utc(2027, 3, 15, 16, 41)
    _ack(ven, e1, clock.now)
    assert _ack_check(clients, utc(2027, 3, 15, 16, 50)) == []  # acknowledged within the 5 minutes
    clock.now = utc(2027, 3, 15, 18, 30)
    _readings(ven, e1, utc(2027, 3, 15, 17), [(30, 300.0), (30, 400.0)])
    [r1] = _delivery_round(clients, utc(2027, 3, 15, 19))
    assert (r1.document["deliveredKwh"], r1.document["percent"], r1.document["rag"], r1.document["earningsGbp"]) == (
        150.0, 75.0, "RED", "45.00")
    assert [p["settlementPeriod"] for p in r1.document["periods"]] == [35, 36]

    # --- E2, Sunday 28 March (clocks go forward at 01:00 GMT): the acknowledgement comes late ---------------
    clock.now = utc(2027, 3, 28, 0, 10)
    e2 = _dispatch(bl, program_id, "D-0328", clock.now, utc(2027, 3, 28, 0, 30), 2, -100.0)
    [alarm] = _ack_check(clients, utc(2027, 3, 28, 0, 20))  # overdue since 00:15: flagged
    assert (alarm.event_id, alarm.deadline) == (e2["id"], utc(2027, 3, 28, 0, 15))
    clock.now = utc(2027, 3, 28, 0, 40)
    _ack(ven, e2, clock.now)
    clock.now = utc(2027, 3, 28, 3)
    _readings(ven, e2, utc(2027, 3, 28, 0, 30), [(120, 400.0)])
    [r2] = _delivery_round(clients, utc(2027, 3, 28, 4))
    assert [p["settlementPeriod"] for p in r2.document["periods"]] == [2, 3, 4, 5]
    assert [p["startLondon"] for p in r2.document["periods"]][1:3] == ["2027-03-28T02:00:00+01:00",
                                                                        "2027-03-28T02:30:00+01:00"]
    assert (r2.document["deliveredKwh"], r2.document["rag"], r2.document["earningsGbp"]) == (200.0, "GREEN", "60.00")

    # --- E3, Tuesday 30 March: never acknowledged, under-delivered -------------------------------------------
    clock.now = utc(2027, 3, 30, 14, 40)
    e3 = _dispatch(bl, program_id, "D-0330", clock.now, utc(2027, 3, 30, 15), 1, -400.0)
    [alarm3] = _ack_check(clients, utc(2027, 3, 30, 14, 50))
    assert alarm3.event_id == e3["id"]
    clock.now = utc(2027, 3, 30, 17)
    _readings(ven, e3, utc(2027, 3, 30, 15), [(60, 400.0)])
    [r3] = _delivery_round(clients, utc(2027, 3, 30, 17))
    assert (r3.document["deliveredKwh"], r3.document["percent"], r3.document["rag"], r3.document["earningsGbp"]) == (
        100.0, 25.0, "RED", "30.00")

    # --- nothing is stated before the 1st; the provisional statement on 1 April (00:00 BST = 31 Mar 23:00 UTC)
    assert _statement_round(clients, utc(2027, 3, 31, 22, 59)) == []
    clock.now = utc(2027, 3, 31, 23, 5)
    [v1] = _statement_round(clients, clock.now)
    assert _statement_round(clients, utc(2027, 4, 1, 9)) == []  # nothing changed: no new version
    doc = bl.get(f"/admin/gb/statements/{v1.id}").json()
    assert (doc["fsp"], doc["month"], doc["version"], doc["kind"], doc["status"]) == (
        FSP, "2027-03", 1, "PROVISIONAL", "PROVISIONAL")
    assert (doc["periodStart"], doc["periodEnd"]) == ("2027-03-01T00:00:00Z", "2027-03-31T23:00:00Z")
    assert _lines(doc) == [  # availability by window start, then each event's utilisation (and penalty), ...
        ("AVAILABILITY", "16.80"), ("AVAILABILITY", "30.00"), ("AVAILABILITY", "29.97"), ("AVAILABILITY", "4.00"),
        ("UTILISATION", "45.00"), ("PENALTY_DELIVERY", "-8.40"), ("UTILISATION", "60.00"),
        ("UTILISATION", "30.00"), ("PENALTY_DELIVERY", "-9.99"),
        ("PENALTY_LATE_ACK", "-50.00"), ("PENALTY_LATE_ACK", "-50.00"), ("FEE", "-25.00"),
    ]
    by_kind: dict[str, list[str]] = {}
    for kind, amount in _lines(doc):
        by_kind.setdefault(kind, []).append(amount)
    assert by_kind == {
        "AVAILABILITY": ["16.80", "30.00", "29.97", "4.00"],
        "UTILISATION": ["45.00", "60.00", "30.00"],
        "PENALTY_DELIVERY": ["-8.40", "-9.99"],
        "PENALTY_LATE_ACK": ["-50.00", "-50.00"],
        "FEE": ["-25.00"],
    }
    assert doc["totals"] == {"AVAILABILITY": "80.77", "UTILISATION": "135.00", "PENALTY_DELIVERY": "-18.39",
                             "PENALTY_LATE_ACK": "-100.00", "FEE": "-25.00"}
    assert doc["totalGbp"] == "72.38" and v1.total_pence == 7238
    assert sum(Decimal(a) for _, a in _lines(doc)) == Decimal("72.38")
    # every line is traced to what it pays for
    refs = [line["refs"] for line in doc["lines"]]
    assert {r["acceptanceID"] for r in refs if "acceptanceID" in r} == {ids["A"], ids["B"], ids["C"], ids["D"]}
    assert {r["eventID"] for r in refs if "deliveryReportID" in r} == {e1["id"], e2["id"], e3["id"]}
    assert {r["ackAlarmID"] for r in refs if "ackAlarmID" in r} == {alarm.id, alarm3.id}
    [b_line] = [line for line in doc["lines"] if line["refs"].get("acceptanceID") == ids["B"]
                and line["kind"] == "AVAILABILITY"]
    assert (b_line["figures"]["hours"], b_line["figures"]["fromLondon"], b_line["figures"]["toLondon"]) == (
        "5", "2027-03-28T00:00:00+00:00", "2027-03-28T06:00:00+01:00")
    [d_line] = [line for line in doc["lines"] if line["refs"].get("acceptanceID") == ids["D"]]
    assert (d_line["figures"]["hours"], d_line["figures"]["toLondon"]) == ("1", "2027-04-01T00:00:00+01:00")

    # --- the FSP sees its statement (another FSP does not) and disputes it ------------------------------------
    [mine] = ven.get("/gb/statements").json()
    assert (mine["id"], mine["status"], mine["totalGbp"]) == (v1.id, "PROVISIONAL", "72.38")
    other = clients.ven("FSP-OTHER")
    assert other.get("/gb/statements").json() == []
    assert other.get(f"/gb/statements/{v1.id}").status_code == 404
    assert other.post(f"/gb/statements/{v1.id}/approve").status_code == 404
    assert ven.get("/admin/gb/statements").status_code == 403
    assert bl.post(f"/gb/statements/{v1.id}/approve").status_code in (403, 404)  # the FSP decides, not the operator
    no_reason = ven.post(f"/gb/statements/{v1.id}/reject", json={"reason": ""})
    assert no_reason.status_code == 400 and no_reason.headers["content-type"].startswith("application/problem+json")
    reason = "SP36 on 15 March read 400 kW by a meter fault; corrected readings follow"
    rejected = ven.post(f"/gb/statements/{v1.id}/reject", json={"reason": reason})
    assert rejected.status_code == 200, rejected.text
    assert (rejected.json()["status"], rejected.json()["decision"]["reason"]) == ("DISPUTED", reason)
    assert ven.post(f"/gb/statements/{v1.id}/approve").status_code == 409  # decided already

    # --- the correction arrives on 3 April: a new delivery report version, then a new statement version -------
    clock.now = utc(2027, 4, 3, 10)
    _readings(ven, e1, utc(2027, 3, 15, 17, 30), [(30, 300.0)])
    [r1b] = _delivery_round(clients, utc(2027, 4, 3, 10, 5))
    assert (r1b.event_id, r1b.version, r1b.document["deliveredKwh"], r1b.document["rag"], r1b.document["earningsGbp"]
            ) == (e1["id"], 2, 200.0, "GREEN", "60.00")
    clock.now = utc(2027, 4, 3, 10, 10)
    [v2] = _statement_round(clients, clock.now)
    doc2 = ven.get(f"/gb/statements/{v2.id}").json()
    assert (doc2["version"], doc2["status"], doc2["supersedes"], doc2["totalGbp"]) == (2, "PROVISIONAL", v1.id, "95.78")
    assert doc["reason"] == "provisional: the 1st" and doc2["reason"].startswith("provisional: recomputed")
    assert doc2["totals"] == {"AVAILABILITY": "80.77", "UTILISATION": "150.00", "PENALTY_DELIVERY": "-9.99",
                              "PENALTY_LATE_ACK": "-100.00", "FEE": "-25.00"}
    [u1] = [line for line in doc2["lines"] if line["refs"].get("eventID") == e1["id"]]
    assert (u1["kind"], u1["amountGbp"], u1["refs"]["deliveryReportID"], u1["refs"]["deliveryReportVersion"]) == (
        "UTILISATION", "60.00", r1b.id, 2)
    # the first version is kept as it was, superseded, with its dispute
    old = bl.get(f"/admin/gb/statements/{v1.id}").json()
    assert (old["totalGbp"], old["status"], old["decision"]["decision"]) == ("72.38", "SUPERSEDED", "REJECTED")
    assert ven.post(f"/gb/statements/{v1.id}/approve").status_code == 409  # superseded
    history = bl.get("/admin/gb/statements", params={"month": "2027-03", "allVersions": True}).json()
    assert [(s["version"], s["status"]) for s in history] == [(2, "PROVISIONAL"), (1, "SUPERSEDED")]
    approved = ven.post(f"/gb/statements/{v2.id}/approve")
    assert approved.status_code == 200 and approved.json()["status"] == "APPROVED"

    # --- final on the 15th (00:00 BST = 14 April 23:00 UTC), never after ------------------------------------
    assert _statement_round(clients, utc(2027, 4, 14, 22, 59)) == []
    clock.now = utc(2027, 4, 14, 23, 1)
    [v3] = _statement_round(clients, clock.now)
    assert (v3.version, v3.kind, v3.total_pence) == (3, "FINAL", 9578)
    assert _statement_round(clients, utc(2027, 4, 20)) == []
    final = ven.get(f"/gb/statements/{v3.id}").json()
    assert (final["status"], final["totalGbp"], _lines(final)) == ("FINAL", "95.78", _lines(doc2))
    assert ven.post(f"/gb/statements/{v3.id}/reject", json={"reason": "too late"}).status_code == 409
    again = bl.post("/admin/gb/statements/issue", json={"month": "2027-03"})
    assert again.status_code == 200 and [(s["version"], s["new"]) for s in again.json()] == [(3, False)]

    # --- exports: CSV and XLSX carry the same lines and total ------------------------------------------------
    text = ven.get(f"/gb/statements/{v3.id}/csv").text
    table = list(csv.DictReader(io.StringIO(text)))
    assert [row["amount_gbp"] for row in table] == [line["amountGbp"] for line in final["lines"]] + ["95.78"]
    assert {row["event_id"] for row in table if row["kind"] == "UTILISATION"} == {e1["id"], e2["id"], e3["id"]}
    from openpyxl import load_workbook

    xlsx = bl.get(f"/admin/gb/statements/{v3.id}/xlsx")
    assert xlsx.status_code == 200 and xlsx.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    values = [row for row in sheet.iter_rows(values_only=True)]
    amounts = [row[7] for row in values if row and row[5] in {"AVAILABILITY", "UTILISATION", "PENALTY_DELIVERY",
                                                            "PENALTY_LATE_ACK", "FEE", "TOTAL"}]
    assert [Decimal(str(a)).quantize(Decimal("0.01")) for a in amounts] == [
        Decimal(line["amountGbp"]) for line in final["lines"]] + [Decimal("95.78")]

    # --- rows are never overwritten: the database refuses it ------------------------------------------------
    async def overwrite() -> str:
        from sqlalchemy import text as sql

        try:
            async with clients.app.state.db.session() as session:
                await session.exec(sql("UPDATE gb_statement SET total_pence = 0"))  # type: ignore[call-overload]
        except Exception as exc:
            return str(exc)
        return "updated"
    assert "append-only" in _run(clients, overwrite)

    # --- after the final: a late correction of 30 March is paid in April's statement, as adjustments ----------
    # 20 April: E3's meter (SP33-34 of 30 March) really read 100 kW: 400 kWh of 400, GREEN → £120.00, no penalty
    april_print = _fingerprint(clients, date(2027, 4, 1))
    clock.now = utc(2027, 4, 20, 10)
    _readings(ven, e3, utc(2027, 3, 30, 15), [(60, 100.0)])
    [r3b] = _delivery_round(clients, utc(2027, 4, 20, 10, 5))
    assert (r3b.event_id, r3b.version, r3b.document["deliveredKwh"], r3b.document["rag"], r3b.document["earningsGbp"]
            ) == (e3["id"], 2, 400.0, "GREEN", "120.00")
    assert _fingerprint(clients, date(2027, 4, 1)) != april_print  # March is final: what April adjusts moved
    assert _statement_round(clients, utc(2027, 4, 20, 10, 10)) == []  # March final, April not due before 1 May
    assert ven.get(f"/gb/statements/{v3.id}").json()["totalGbp"] == "95.78"  # the final is never changed
    # 1 May 00:00 BST (30 April 23:00 UTC): April's provisional statement
    clock.now = utc(2027, 4, 30, 23, 5)
    [a1] = _statement_round(clients, clock.now)
    april = ven.get(f"/gb/statements/{a1.id}").json()
    assert (april["month"], april["version"], april["status"]) == ("2027-04", 1, "PROVISIONAL")
    assert _lines(april) == [("AVAILABILITY", "4.00"),  # window D's hour in April: 0.4 × 1 × 10
                             ("FEE", "-25.00"), ("ADJUSTMENT", "90.00"), ("ADJUSTMENT", "9.99")]
    assert april["totals"] == {"AVAILABILITY": "4.00", "UTILISATION": "0.00", "PENALTY_DELIVERY": "0.00",
                               "PENALTY_LATE_ACK": "0.00", "FEE": "-25.00", "ADJUSTMENT": "99.99"}
    assert april["totalGbp"] == "78.99" and a1.total_pence == 7899  # 4.00 - 25.00 + 90.00 + 9.99
    utilisation, penalty = april["lines"][2:]
    final_refs = {"adjustsMonth": "2027-03", "finalStatementID": v3.id, "finalStatementVersion": 3}
    assert utilisation["refs"] == {"eventID": e3["id"], "deliveryReportID": r3b.id, "deliveryReportVersion": 2,
                                   "programID": program_id, "unit": UNIT, "adjustsKind": "UTILISATION", **final_refs}
    assert penalty["refs"] == {"eventID": e3["id"], "deliveryReportID": r3.id, "deliveryReportVersion": 1,
                               "programID": program_id, "unit": UNIT, "acceptanceID": ids["C"],
                               "adjustsKind": "PENALTY_DELIVERY", **final_refs}
    # each recomputes by hand: recomputed - what March's final paid - what was carried since
    assert [(line["figures"]["recomputedGbp"], line["figures"]["finalGbp"], line["figures"]["carriedGbp"])
            for line in (utilisation, penalty)] == [("120.00", "30.00", "0.00"), ("0.00", "-9.99", "0.00")]
    assert utilisation["figures"]["payableKwh"] == "400.0" and utilisation["figures"]["rag"] == "GREEN"
    # nothing changed: nothing recomputed, nothing issued
    computed: list[date] = []
    real_compute = service.compute

    async def counted(session: Any, operator: str, fsp: str, month: date) -> Any:
        computed.append(month)
        return await real_compute(session, operator, fsp, month)
    monkeypatch.setattr(service, "compute", counted)
    assert _statement_round(clients, utc(2027, 5, 1, 9)) == [] and computed == []
    again = bl.post("/admin/gb/statements/issue", json={"month": "2027-04"})
    assert [(s["version"], s["new"]) for s in again.json()] == [(1, False)]
    # the CSV shows them like any other line, with the month they adjust
    table = list(csv.DictReader(io.StringIO(ven.get(f"/gb/statements/{a1.id}/csv").text)))
    assert [(row["kind"], row["amount_gbp"], row["adjusts_month"], row["adjusts_kind"], row["final_statement_id"])
            for row in table if row["kind"] == "ADJUSTMENT"] == [
        ("ADJUSTMENT", "90.00", "2027-03", "UTILISATION", v3.id),
        ("ADJUSTMENT", "9.99", "2027-03", "PENALTY_DELIVERY", v3.id)]
    assert table[-1]["kind"] == "TOTAL" and table[-1]["amount_gbp"] == "78.99"
    assert ven.post(f"/gb/statements/{a1.id}/approve").json()["status"] == "APPROVED"
    # April final on 15 May 00:00 BST (14 May 23:00 UTC): it carries them; March stays as it was
    [a2] = _statement_round(clients, utc(2027, 5, 14, 23, 1))
    assert (a2.month, a2.version, a2.kind, a2.total_pence) == ("2027-04", 2, "FINAL", 7899)
    # 1 June: May has nothing of its own and March was paid in full by April's final: nothing to state, and the
    # worker's memory keeps it from recomputing May again while nothing moves
    computed.clear()
    owed: dict[Any, str] = {}
    assert _statement_round(clients, utc(2027, 5, 31, 23, 5), owed) == [] and computed == [date(2027, 5, 1)]
    assert _statement_round(clients, utc(2027, 6, 1, 9), owed) == [] and computed == [date(2027, 5, 1)]
    # 2 June: E2 of 28 March (the clock change) corrected: 450 kW metered → 100 kWh of 200, 50 % RED → £30.00, and
    # B's availability forfeited for the 2 elapsed hours 00:30-02:30 UTC (00:30 GMT-03:30 BST on the wall clock):
    # -(0.5 × 2 × 12.00) = -12.00. May has nothing of its own: it is stated for these adjustments alone.
    clock.now = utc(2027, 6, 2, 10)
    _readings(ven, e2, utc(2027, 3, 28, 0, 30), [(120, 450.0)])
    [r2b] = _delivery_round(clients, utc(2027, 6, 2, 10, 5))
    assert (r2b.version, r2b.document["deliveredKwh"], r2b.document["rag"], r2b.document["earningsGbp"]) == (
        2, 100.0, "RED", "30.00")
    [m1] = _statement_round(clients, utc(2027, 6, 2, 10, 10), owed)  # the memory does not hide what moved
    may = ven.get(f"/gb/statements/{m1.id}").json()
    assert (may["month"], may["version"], may["totalGbp"], may["totals"]["ADJUSTMENT"]) == (
        "2027-05", 1, "-42.00", "-42.00")
    assert _lines(may) == [("ADJUSTMENT", "-30.00"), ("ADJUSTMENT", "-12.00")]  # no fee: no line of its own
    cut, forfeit = may["lines"]
    assert (cut["refs"]["eventID"], cut["refs"]["deliveryReportVersion"], cut["refs"]["finalStatementID"],
            cut["figures"]["recomputedGbp"], cut["figures"]["finalGbp"]) == (e2["id"], 2, v3.id, "30.00", "60.00")
    assert (forfeit["refs"]["adjustsKind"], forfeit["refs"]["acceptanceID"], forfeit["figures"]["from"],
            forfeit["figures"]["to"], forfeit["figures"]["recomputedGbp"], forfeit["figures"]["finalGbp"]) == (
        "PENALTY_DELIVERY", ids["B"], "2027-03-28T00:30:00Z", "2027-03-28T02:30:00Z", "-12.00", "0.00")
    assert Decimal(forfeit["figures"]["hours"]) == 2
    # 30 March's correction is not carried again: April's final paid it
    [same] = bl.post("/admin/gb/statements/issue", json={"month": "2027-05", "fsp": FSP}).json()
    assert (same["id"], same["new"]) == (m1.id, False)
