"""The operator console's contract-terms editor and operator-entered declarations (vtn.console.terms): saved through
the same services as the admin API; bad input is a 400 page that keeps what was typed and stores nothing."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from fastapi.testclient import TestClient

from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.settlement import LONDON, local_window
from tests.test_console_auth import csrf_of
from tests.test_console_operator import OP, make_program
from tests.test_console_operator import olive as olive
from tests.test_console_operator import settings as settings


def _form(http: TestClient, program_id: str, unit: str = "", **fields: str) -> dict[str, str]:
    return {"csrf_token": csrf_of(http), "program": program_id, "unit": unit, **fields}


def test_terms_editor_saves_keeps_and_refuses(olive: TestClient, bl) -> None:  # type: ignore[no-untyped-def]
    program_id = make_program(olive, "SECURE")
    # set through the API first: the console form does not edit validFrom, and saving must keep it
    assert bl.put(f"/admin/gb/programs/{program_id}/terms",
                  json={"validFrom": "2027-04-01T00:00:00+01:00", "availabilityPrice": 3.0}).status_code == 200
    page = olive.get(f"{OP}/terms", params={"program": program_id})
    assert page.status_code == 200 and 'data-testid="terms-form"' in page.text and 'value="3.0"' in page.text

    saved = olive.post(f"{OP}/terms", data=_form(olive, program_id, availabilityPrice="3.0", minRunMinutes="60",
                                                 maxRunMinutes="120", runTimeTerms="REFUSE", operatorManaged="true",
                                                 acceptanceMode="AUTO", cutoffWeekday="TUESDAY", cutoffTime="23:59"),
                       follow_redirects=False)
    assert saved.status_code == 303, saved.text
    terms = bl.get(f"/admin/gb/programs/{program_id}/terms/effective").json()
    assert (terms["minRunMinutes"], terms["maxRunMinutes"], terms["runTimeTerms"], terms["operatorManaged"],
            terms["acceptanceMode"], terms["availabilityPrice"]) == (60, 120, "REFUSE", True, "AUTO", 3.0)
    assert terms["validFrom"] == "2027-03-31T23:00:00Z"
    assert terms["declarationCutoff"]["text"] == "23:59 on Tuesday of the week before"
    audit = bl.get("/admin/audit", params={"action": "gb.terms.set"}).json()
    assert audit[-1]["actor"] == "console:olive" or audit[0]["actor"] == "console:olive"

    # a unit's own level: only what it overrides
    unit = olive.post(f"{OP}/terms", data=_form(olive, program_id, "DU-1", maxRunMinutes="90"),
                      follow_redirects=False)
    assert unit.status_code == 303
    du1 = bl.get(f"/admin/gb/programs/{program_id}/terms/effective", params={"unit": "DU-1"}).json()
    assert (du1["maxRunMinutes"], du1["minRunMinutes"]) == (90, 60)

    # bad input: a 400 page with the typed text, nothing stored
    bad = olive.post(f"{OP}/terms", data=_form(olive, program_id, minRunMinutes="an hour", maxRunMinutes="120"))
    assert bad.status_code == 400 and 'data-testid="terms-error"' in bad.text and 'value="an hour"' in bad.text
    crossed = olive.post(f"{OP}/terms", data=_form(olive, program_id, minRunMinutes="200", maxRunMinutes="120"))
    assert crossed.status_code == 400 and "minimum run time exceeds the maximum" in crossed.text
    after = bl.get(f"/admin/gb/programs/{program_id}/terms/effective").json()
    assert (after["minRunMinutes"], after["runTimeTerms"], after["validFrom"]) == (60, "REFUSE", "2027-03-31T23:00:00Z")
    assert olive.get(f"{OP}/terms", params={"program": "nope"}).status_code == 200  # unknown: the first program


def test_operator_enters_a_declaration_for_the_fsp(olive: TestClient, bl, clients) -> None:  # type: ignore[no-untyped-def]
    program_id = make_program(olive, "SECURE")
    assert bl.put(f"/admin/gb/programs/{program_id}/terms",
                  json={"operatorManaged": True, "acceptanceMode": "AUTO"}).status_code == 200
    ven = clients.ven("fsp-1")
    ven_id = ven.post("/vens", json={"venName": "fsp-1"}).json()["id"]
    unit = b.build_dispatch_unit_resource(m.DispatchUnit("fsp-1", "DU-1", "NGED", max_consumption_kw=500.0)).dump()
    unit.pop("id", None)
    unit.pop("targets", None)
    assert ven.post(f"/vens/{ven_id}/resources", json=unit).status_code == 201
    week = m.week_of(datetime.now(UTC)) + timedelta(days=21)
    start, _ = local_window(week + timedelta(days=2), time(16), time(19))  # a Wednesday, 16:00 London time
    local = start.astimezone(LONDON).strftime("%Y-%m-%dT%H:%M")
    form = {"csrf_token": csrf_of(olive), "program": program_id, "week": week.isoformat(), "ven_name": "fsp-1",
            "unit": "DU-1", "start": local, "hours": "3", "kw": "400", "direction": "TURN_DOWN"}
    made = olive.post(f"{OP}/availability/declare", data=form, follow_redirects=False)
    assert made.status_code == 303, made.text
    [row] = bl.get(f"/admin/gb/programs/{program_id}/acceptances").json()
    assert (row["unit"], row["declaredKW"], row["status"], row["start"]) == (
        "DU-1", 400.0, "ACCEPTED", b.utc_text(start).replace("+00:00", "Z"))
    # the FSP's VEN reads it as its own declaration, and may not change it
    [declared] = [r for r in ven.get("/reports").json() if r["reportName"] == "GB_AVAILABILITY"]
    assert ven.delete(f"/reports/{declared['id']}").status_code in (403, 409)
    # more than the unit's 500 kW: refused and shown, nothing stored
    over = olive.post(f"{OP}/availability/declare", data={**form, "kw": "900", "start": local.replace("T16", "T20")})
    assert over.status_code == 200 and "500" in over.text
    assert len(bl.get(f"/admin/gb/programs/{program_id}/acceptances").json()) == 1
    garbled = olive.post(f"{OP}/availability/declare", data={**form, "hours": "three"})
    assert garbled.status_code == 200 and "as numbers" in garbled.text


def test_console_dispatch_refused_by_run_time_terms_shows_the_rule(olive: TestClient, bl, clients) -> None:  # type: ignore[no-untyped-def]
    from tests.test_console_operator import dispatch_form

    program_id = make_program(olive, "RESTORE")
    assert bl.put(f"/admin/gb/programs/{program_id}/terms",
                  json={"minRunMinutes": 60, "runTimeTerms": "REFUSE"}).status_code == 200
    ven = clients.ven("fsp-1")
    ven_id = ven.post("/vens", json={"venName": "fsp-1"}).json()["id"]
    role = [{"type": "GB_RESOURCE_ROLE", "values": ["DISPATCH_UNIT"]}]
    assert ven.post(f"/vens/{ven_id}/resources", json={"resourceName": "DU-1", "venID": ven_id,
                                                       "attributes": role}).status_code == 201
    refused = olive.post(f"{OP}/dispatch", data=dispatch_form(olive, program_id))  # 30 min < 60
    assert refused.status_code == 400 and "VTN-RT-001" in refused.text and "minimum run time of 60 min" in refused.text
    assert "NGED:D-1" not in [e["eventName"] for e in bl.get("/events").json()]
