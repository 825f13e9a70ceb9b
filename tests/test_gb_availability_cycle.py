"""The availability cycle (vtn.contracts.availability, docs/gb-profile.md §6.5): declarations checked against the
contract terms in London time, acceptances per window seen by the FSP's VEN in one poll, the weekly CSV,
operator-managed declarations, and dispatches outside accepted windows warned or refused."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from gb_profile import availability as av
from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.examples import FSP, OPERATOR, example_instruction, example_program

# The week commencing Monday 22 March 2027 holds the spring clock change (Sunday 28 March, 01:00 GMT -> 02:00 BST).
WEEK = date(2027, 3, 22)
CUTOFF = datetime(2027, 3, 16, 23, 59, tzinfo=UTC)  # 23:59 on Tuesday 16 March, GMT = UTC
SUNDAY_4PM = datetime(2027, 3, 28, 15, 0, tzinfo=UTC)  # 16:00 BST on the clock-change day


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock(CUTOFF - timedelta(hours=2))
    monkeypatch.setattr("vtn.contracts.availability.utcnow", clock)
    return clock


def _declaration(unit: str, start: datetime, hours: float, kw: float, bid: float | None = None,
                 up: float | None = None) -> m.AvailabilityDeclaration:
    window = m.AvailabilityWindow(start, timedelta(hours=hours), turn_down_kw=kw, turn_up_kw=up)
    return m.AvailabilityDeclaration(FSP, OPERATOR, "C-4411", {unit: (window,)})


def _report(declaration: m.AvailabilityDeclaration, program_id: str, anchor_id: str, bid: float | None = None
            ) -> dict:
    report = b.build_availability_report(declaration, program_id, anchor_id).dump()
    report.pop("id", None)
    if bid is not None:
        report["resources"][0]["intervals"][0]["payloads"].append({"type": "PRICE", "values": [bid]})
    return report


def _dispatch(program_id: str, ref: str, start: datetime, hours: float, instructed: datetime) -> dict:
    base = example_instruction()
    ins = replace(base, dispatch_ref=ref, instruction_time=instructed, service_start=start,
                  service_end=start + timedelta(hours=hours),
                  setpoints=(replace(base.setpoints[0], timestamp=start),))
    event = b.build_event(ins, program_id).dump()
    event.pop("id", None)
    return event


@pytest.fixture
def world(bl, clients):  # type: ignore[no-untyped-def]
    """A VAOU program with terms (cut-off Tuesday 23:59, manual acceptance, auction, WARN), an FSP with DU-7
    (1 500 + 500 kW = 2 000 kW) and DU-8 (operator-managed), and the anchor event."""
    program_id = bl.post("/programs", json=example_program().dump()).json()["id"]
    terms = {"ackPeriodSeconds": 300, "declarationCutoff": {"weekday": "TUESDAY", "time": "23:59"},
             "acceptanceMode": "MANUAL", "auction": True, "outsideAcceptedWindows": "WARN", "availabilityPrice": 12.0}
    assert bl.put(f"/admin/gb/programs/{program_id}/terms", json=terms).status_code == 200
    assert bl.put(f"/admin/gb/programs/{program_id}/terms/units/DU-8",
                  json={"operatorManaged": True, "acceptanceMode": "AUTO", "auction": False}).status_code == 200
    anchor = b.build_anchor_event(program_id, OPERATOR, datetime(2027, 1, 1, tzinfo=UTC)).dump()
    anchor.pop("id", None)
    anchor_id = bl.post("/events", json=anchor).json()["id"]
    ven = clients.ven(FSP)
    ven_id = ven.post("/vens", json={"venName": FSP}).json()["id"]
    for name, kw in (("DU-7", (1500.0, 500.0)), ("DU-8", (300.0, None))):
        unit = b.build_dispatch_unit_resource(m.DispatchUnit(FSP, name, OPERATOR, max_consumption_kw=kw[0],
                                                             max_export_kw=kw[1])).dump()
        unit.pop("id", None)
        unit.pop("targets", None)  # targets are the operator's grants, not the VEN's to set
        assert ven.post(f"/vens/{ven_id}/resources", json=unit).status_code == 201
    return program_id, anchor_id, ven


def _rules(response) -> set[str]:  # type: ignore[no-untyped-def]
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return {e["rule"] for e in response.json()["errors"]}


def test_declaration_checked_accepted_and_seen_in_one_poll(world, bl, clock):  # type: ignore[no-untyped-def]
    program_id, anchor_id, ven = world
    # 2 400 kW for a dispatch group whose units add up to 2 000 kW
    too_much = ven.post("/reports", json=_report(_declaration("DU-7", SUNDAY_4PM, 3, 2400.0), program_id, anchor_id))
    assert too_much.status_code == 400 and _rules(too_much) == {av.CAPACITY}
    made = ven.post("/reports", json=_report(_declaration("DU-7", SUNDAY_4PM, 3, 1800.0), program_id, anchor_id,
                                             bid=11.0))
    assert made.status_code == 201, made.text
    # an overlapping declaration (17:00-18:00 BST inside 16:00-19:00) is refused, not merged
    overlap = ven.post("/reports", json=_report(_declaration("DU-7", SUNDAY_4PM + timedelta(hours=1), 1, 100.0),
                                                program_id, anchor_id))
    assert overlap.status_code == 409 and _rules(overlap) == {av.OVERLAP}

    # the FSP's next poll shows the window PENDING
    def acceptances() -> list[av.Acceptance]:
        events = [e for e in ven.get("/events", params={"programID": program_id}).json()
                  if b.is_acceptance_event(e)]
        assert len(events) == 1 and events[0]["eventName"] == f"NGED:GB_ACCEPTANCE:{FSP}:2027-03-22"
        # the week is 167 hours long: the clocks go forward on its Sunday
        assert events[0]["intervalPeriod"] == {"start": "2027-03-22T00:00:00Z", "duration": "PT167H"}
        return av.parse_acceptance_event(events[0])[2]

    [pending] = acceptances()
    assert (pending.status, pending.unit, pending.declared_kw, pending.bid_price) == ("PENDING", "DU-7", 1800.0, 11.0)

    [row] = bl.get(f"/admin/gb/programs/{program_id}/acceptances", params={"week": "2027-03-22"}).json()
    assert (row["start"], row["startLocal"], row["end"]) == (
        "2027-03-28T15:00:00Z", "2027-03-28T16:00:00+01:00", "2027-03-28T18:00:00Z")
    no_price = bl.post(f"/admin/gb/acceptances/{row['id']}", json={"status": "ACCEPTED"})
    assert no_price.status_code == 400 and "awardedPrice" in no_price.json()["detail"]
    assert bl.post(f"/admin/gb/acceptances/{row['id']}", json={"status": "ACCEPTED", "acceptedKW": 2000}
                   ).status_code == 400  # more than declared
    decided = bl.post(f"/admin/gb/acceptances/{row['id']}",
                      json={"status": "ACCEPTED", "acceptedKW": 1500, "awardedPrice": 10.5})
    assert decided.status_code == 200, decided.text
    [accepted] = acceptances()
    assert (accepted.status, accepted.accepted_kw, accepted.awarded_price, accepted.bid_price, accepted.declared_kw) == (
        "ACCEPTED", 1500.0, 10.5, 11.0, 1800.0)

    # the reference VEN reads them from what its poll returns (GbReporter.acceptances)
    from openadr3.models import Event
    from ven_client.config import GbSettings
    from ven_client.gb import GbReporter

    polled = [Event.model_validate(e) for e in ven.get("/events").json()]

    class Polled:  # the VEN's VtnClient.list_events, answered with what this VTN returned
        async def list_events(self, program_id: str | None = None) -> list[Event]:
            return polled

    weeks = bl.http.portal.call(GbReporter(Polled(), GbSettings(fsp_id=FSP, operator_id=OPERATOR)).acceptances)  # type: ignore[arg-type]
    assert list(weeks) == [WEEK] and weeks[WEEK][0].accepted_kw == 1500.0

    # the week's CSV
    text = bl.get(f"/admin/gb/programs/{program_id}/acceptances.csv", params={"week": "2027-03-22"}).text
    [line] = list(csv.DictReader(io.StringIO(text)))
    assert (line["startLocal"], line["endLocal"], line["declaredKW"], line["acceptedKW"], line["awardedPrice"],
            line["status"]) == ("2027-03-28T16:00:00+01:00", "2027-03-28T19:00:00+01:00", "1800.0", "1500.0", "10.5",
                                "ACCEPTED")
    assert bl.get(f"/admin/gb/programs/{program_id}/acceptances.csv", params={"week": "2027-03-23"}).status_code == 400

    # at 23:59 GMT on Tuesday 16 March the week has closed: no new declaration, no change to the old one
    clock.now = CUTOFF
    late = ven.post("/reports", json=_report(_declaration("DU-7", SUNDAY_4PM + timedelta(hours=5), 1, 100.0),
                                             program_id, anchor_id))
    assert late.status_code == 409 and _rules(late) == {av.CUTOFF}
    changed = ven.put(f"/reports/{made.json()['id']}", json={**made.json(), "reportName": "GB_AVAILABILITY"})
    assert changed.status_code == 409
    assert ven.delete(f"/reports/{made.json()['id']}").status_code == 409


def test_dispatch_outside_accepted_windows_warned_or_refused(world, bl, clock):  # type: ignore[no-untyped-def]
    program_id, anchor_id, ven = world
    made = ven.post("/reports", json=_report(_declaration("DU-7", SUNDAY_4PM, 3, 1800.0), program_id, anchor_id))
    [row] = bl.get(f"/admin/gb/programs/{program_id}/acceptances").json()
    bl.post(f"/admin/gb/acceptances/{row['id']}", json={"status": "ACCEPTED", "awardedPrice": 10.0})
    instructed = datetime(2027, 3, 20, 9, tzinfo=UTC)
    inside = bl.post("/events", json=_dispatch(program_id, "D-IN", SUNDAY_4PM + timedelta(hours=1), 1, instructed))
    assert inside.status_code == 201, inside.text
    assert "GB-Warning" not in inside.headers
    outside = bl.post("/events", json=_dispatch(program_id, "D-OUT", SUNDAY_4PM + timedelta(hours=2), 2, instructed))
    assert outside.status_code == 201
    warning = outside.headers["GB-Warning"]
    assert av.OUTSIDE in warning and "from 28 Mar 2027 18:00 BST to 28 Mar 2027 20:00 BST" in warning

    terms = bl.get(f"/admin/gb/programs/{program_id}/terms").json()["stored"][0]
    keep = {k: v for k, v in terms.items() if k not in ("programID", "unit", "updatedDateTime", "updatedBy")}
    assert bl.put(f"/admin/gb/programs/{program_id}/terms", json={**keep, "outsideAcceptedWindows": "REFUSE"}
                  ).status_code == 200
    refused = bl.post("/events", json=_dispatch(program_id, "D-OUT2", SUNDAY_4PM + timedelta(hours=2), 2, instructed))
    assert refused.status_code == 409 and _rules(refused) == {av.OUTSIDE}
    names = [e["eventName"] for e in bl.get("/events", params={"programID": program_id}).json()]
    assert "NGED:D-OUT2" not in names and "NGED:D-IN" in names
    assert made.status_code == 201


def test_operator_managed_declarations(world, bl, clock):  # type: ignore[no-untyped-def]
    program_id, anchor_id, ven = world
    report = _report(_declaration("DU-8", SUNDAY_4PM, 1, 250.0), program_id, anchor_id)
    own = ven.post("/reports", json=report)
    assert own.status_code == 403 and _rules(own) == {av.OPERATOR_MANAGED}
    # the BL cannot write reports, but enters the declaration through the admin API, attributed to it
    entered = bl.post(f"/admin/gb/programs/{program_id}/declarations", json=report)
    assert entered.status_code == 201, entered.text
    report_id = entered.json()["id"]
    assert entered.json()["clientName"] == FSP
    # the FSP's VEN sees it (and the automatic acceptance) but cannot change or delete it
    seen = ven.get(f"/reports/{report_id}")
    assert seen.status_code == 200
    assert ven.put(f"/reports/{report_id}", json=seen.json()).status_code == 403
    assert ven.delete(f"/reports/{report_id}").status_code == 403
    [row] = bl.get(f"/admin/gb/programs/{program_id}/acceptances").json()
    assert row["operatorEntered"] is True and row["enteredBy"] == bl.client_id
    assert (row["status"], row["acceptedKW"], row["decidedBy"]) == ("ACCEPTED", 250.0, "auto")
    [event] = [e for e in ven.get("/events").json() if b.is_acceptance_event(e)]
    assert av.parse_acceptance_event(event)[2][0].status == "ACCEPTED"
    # the operator corrects its entry before the cut-off, and can withdraw it
    corrected = bl.put(f"/admin/gb/programs/{program_id}/declarations/{report_id}",
                       json=_report(_declaration("DU-8", SUNDAY_4PM, 1, 200.0), program_id, anchor_id))
    assert corrected.status_code == 200, corrected.text
    assert [r["declaredKW"] for r in bl.get(f"/admin/gb/programs/{program_id}/acceptances").json()] == [200.0]
    assert bl.delete(f"/admin/gb/programs/{program_id}/declarations/{report_id}").status_code == 200
    assert bl.get(f"/admin/gb/programs/{program_id}/acceptances").json() == []
    [event] = [e for e in ven.get("/events").json() if b.is_acceptance_event(e)]
    assert event["intervals"] == []  # the FSP sees the withdrawal too
    # an unknown FSP, or another report type, is refused
    assert bl.post(f"/admin/gb/programs/{program_id}/declarations",
                   json={**report, "clientName": "FSP-NOBODY"}).status_code == 400
    assert bl.post(f"/admin/gb/programs/{program_id}/declarations",
                   json={**report, "reportName": "GB_READINGS"}).status_code == 400


# --- pure checks, both clock changes -----------------------------------------------------------------------------


def _terms(**kw) -> m.Contract:  # type: ignore[no-untyped-def]
    return replace(m.Contract(OPERATOR, "C-1", FSP, example_instruction().dispatch_unit and m.ProductCode.VAOU_WA), **kw)


def test_cutoff_and_window_across_the_autumn_clock_change() -> None:
    # "end of Wednesday" of the week before the week commencing Monday 1 November 2027 = Thursday 28 October 00:00
    # BST = 27 October 23:00 UTC; the week commencing 25 October holds Sunday 31 October (25 hours, 169-hour week).
    terms = _terms(declaration_cutoff=m.DeclarationCutoff(2, 1440), declaration_window_days=7)
    assert terms.cutoff_for(date(2027, 11, 1)) == datetime(2027, 10, 27, 23, tzinfo=UTC)
    assert terms.cutoff_for(date(2027, 10, 25)) == datetime(2027, 10, 20, 23, tzinfo=UTC)
    # a window 01:00-02:00 GMT on 31 October (the second 01:00) belongs to the week of 25 October
    window = av.Window("DU-7", datetime(2027, 10, 31, 1, tzinfo=UTC), datetime(2027, 10, 31, 2, tzinfo=UTC),
                       m.Direction.TURN_DOWN, 100.0)
    assert window.week == date(2027, 10, 25)
    check = av.check_declaration
    on_time = datetime(2027, 10, 20, 22, 59, 59, tzinfo=UTC)
    assert check([window], {"DU-7": terms}, {"DU-7": 150.0}, [], on_time) == []
    [closed] = check([window], {"DU-7": terms}, {"DU-7": 150.0}, [], datetime(2027, 10, 20, 23, tzinfo=UTC))
    assert closed.rule == av.CUTOFF and "Thu 21 Oct 2027 00:00 BST" in closed.message
    [early] = check([window], {"DU-7": terms}, {}, [], datetime(2027, 10, 13, 22, 59, tzinfo=UTC))
    assert early.rule == av.NOT_OPEN
    [big] = check([window], {"DU-7": replace(terms, max_capacity_kw=80.0)}, {"DU-7": 150.0}, [], on_time)
    assert big.rule == av.CAPACITY and "at most 80 kW" in big.message
    # the turn-up direction of the same hour is another window: no overlap
    up = replace(window, direction=m.Direction.TURN_UP)
    assert check([window, up], {"DU-7": terms}, {}, [], on_time) == []
    assert [p.rule for p in check([window, window], {"DU-7": terms}, {}, [], on_time)] == [av.OVERLAP]
    # without a cut-off, a declaration is taken until its window starts
    open_terms = _terms()
    assert check([window], {"DU-7": open_terms}, {}, [], window.start - timedelta(seconds=1)) == []
    assert [p.rule for p in check([window], {"DU-7": open_terms}, {}, [], window.start)] == [av.CUTOFF]


def test_covered_by_accepted_windows() -> None:
    t = datetime(2027, 3, 28, 15, tzinfo=UTC)
    hour = timedelta(hours=1)
    assert av.covered(t, t + 2 * hour, [(t, t + hour), (t + hour, t + 3 * hour)])
    assert not av.covered(t, t + 2 * hour, [(t, t + hour), (t + hour + timedelta(minutes=30), t + 3 * hour)])
    assert not av.covered(t, t + hour, [])


def test_capacity_is_the_sum_of_the_groups_meterable_units(bl, clients, clock):  # type: ignore[no-untyped-def]
    """The issue's case: a dispatch group whose meterable units add up to 2 000 kW refuses 2 400 kW."""
    from gb_profile.identifiers import mpan_check_digit

    program_id = bl.post("/programs", json=example_program().dump()).json()["id"]
    anchor = b.build_anchor_event(program_id, OPERATOR, datetime(2027, 1, 1, tzinfo=UTC)).dump()
    anchor.pop("id", None)
    anchor_id = bl.post("/events", json=anchor).json()["id"]
    ven = clients.ven(FSP)
    ven_id = ven.post("/vens", json={"venName": FSP}).json()["id"]
    group = b.build_dispatch_unit_resource(m.DispatchUnit(FSP, "DU-G", OPERATOR, meterable_units=("MU-1", "MU-2"))).dump()
    for resource in [group] + [b.build_meterable_unit_resource(m.MeterableUnit(
            FSP, f"MU-{i}", (f"13{i:010d}" + str(mpan_check_digit(f"13{i:010d}")),), dispatch_unit="DU-G")).dump()
            for i in (1, 2)]:
        resource.pop("id", None)
        resource.pop("targets", None)
        if resource["resourceName"] != "DU-G":  # 1 200 kW import + 0 export, 800 kW import: 2 000 kW in all
            kw = 1200.0 if resource["resourceName"] == "MU-1" else 800.0
            resource["attributes"].append({"type": "MAX_POWER_CONSUMPTION", "values": [kw]})
        made = ven.post(f"/vens/{ven_id}/resources", json=resource)
        assert made.status_code == 201, made.text
    refused = ven.post("/reports", json=_report(_declaration("DU-G", SUNDAY_4PM, 1, 2400.0), program_id, anchor_id))
    assert refused.status_code == 400 and "at most 2000 kW" in refused.json()["detail"]
    assert ven.post("/reports", json=_report(_declaration("DU-G", SUNDAY_4PM, 1, 2000.0), program_id, anchor_id)
                    ).status_code == 201
