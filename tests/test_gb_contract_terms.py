"""Contract terms stored per program and dispatch unit (vtn.contracts): admin API, CLI, the accessor."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from gb_profile import model as m
from gb_profile.examples import example_program

TERMS = {
    "contractID": "C-4411", "availabilityPrice": 12.5, "utilisationPrice": 300.0, "noticeMinutes": 15,
    "minRunMinutes": 30, "maxRunMinutes": 240, "maxWeeklyRunMinutes": 900, "maxCapacityKW": 2000,
    "ackPeriodSeconds": 300, "validFrom": "2027-04-01T00:00:00+01:00", "validTo": "2028-04-01T00:00:00+01:00",
    "declarationCutoff": {"weekday": "TUESDAY", "time": "23:59"}, "acceptanceMode": "MANUAL", "auction": True,
    "outsideAcceptedWindows": "WARN", "ragGreenPercent": 90, "ragAmberPercent": 60,
}


def _program(bl) -> str:  # type: ignore[no-untyped-def]
    created = bl.post("/programs", json=example_program().dump())
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _terms(bl, program_id: str, unit: str | None = None):  # type: ignore[no-untyped-def]
    query = {"unit": unit} if unit else None
    return bl.get(f"/admin/gb/programs/{program_id}/terms/effective", params=query)


def test_program_and_unit_terms_merge_field_by_field(bl, app):  # type: ignore[no-untyped-def]
    program_id = _program(bl)
    put = bl.put(f"/admin/gb/programs/{program_id}/terms", json=TERMS)
    assert put.status_code == 200, put.text
    assert put.json()["validFrom"] == "2027-03-31T23:00:00Z" and put.json()["unit"] is None
    # the unit's own price and capacity; everything else from the program
    unit = bl.put(f"/admin/gb/programs/{program_id}/terms/units/DU-7",
                  json={"utilisationPrice": 450.0, "maxCapacityKW": 800, "venName": "FSP-ACME", "contractID": None})
    assert unit.status_code == 200, unit.text

    du7 = _terms(bl, program_id, "DU-7").json()
    assert (du7["utilisationPrice"], du7["maxCapacityKW"], du7["availabilityPrice"], du7["ackPeriodSeconds"]) == (
        450.0, 800, 12.5, 300)
    assert du7["contractID"] == "C-4411" and du7["venName"] == "FSP-ACME" and du7["product"] == "SU"
    assert du7["declarationCutoff"]["text"] == "23:59 on Tuesday of the week before"
    assert (du7["acceptanceMode"], du7["auction"], du7["operatorManaged"], du7["outsideAcceptedWindows"]) == (
        "MANUAL", True, False, "WARN")
    other = _terms(bl, program_id, "DU-9").json()  # no row of its own: the program's
    assert other["utilisationPrice"] == 300.0 and other["unit"] == "DU-9"

    listing = bl.get(f"/admin/gb/programs/{program_id}/terms").json()
    assert [s["unit"] for s in listing["stored"]] == [None, "DU-7"]
    assert [u["unit"] for u in listing["units"]] == ["DU-7"]
    assert listing["stored"][1]["availabilityPrice"] is None  # not set at the unit's level: inherited

    # the Python accessor other domains call
    async def read() -> m.Contract:
        from vtn.contracts.service import contract_terms

        async with app.state.db.session(write=False) as session:
            return await contract_terms(session, "", program_id, "DU-7")

    terms = bl.http.portal.call(read)
    assert isinstance(terms, m.Contract)
    assert terms.utilisation_price_gbp_per_mwh == 450.0 and terms.ack_period == timedelta(minutes=5)
    assert terms.max_run_time == timedelta(hours=4) and terms.notice == timedelta(minutes=15)
    assert terms.valid_from == datetime(2027, 3, 31, 23, tzinfo=UTC)
    assert terms.in_force(datetime(2027, 4, 1, tzinfo=UTC)) and not terms.in_force(datetime(2027, 3, 31, 22, tzinfo=UTC))
    assert (terms.rag(90.0), terms.rag(89.9), terms.rag(60.0), terms.rag(59.99)) == ("GREEN", "AMBER", "AMBER", "RED")
    # the Tuesday 23:59 London cut-off of the week commencing Monday 5 April 2027 (BST) and 1 November (GMT)
    assert terms.cutoff_for(date(2027, 4, 5)) == datetime(2027, 3, 30, 22, 59, tzinfo=UTC)
    assert terms.cutoff_for(date(2027, 11, 1)) == datetime(2027, 10, 26, 22, 59, tzinfo=UTC)

    # removing the unit's override falls back to the program
    assert bl.delete(f"/admin/gb/programs/{program_id}/terms/units/DU-7").status_code == 204
    assert _terms(bl, program_id, "DU-7").json()["utilisationPrice"] == 300.0
    assert bl.delete(f"/admin/gb/programs/{program_id}/terms/units/DU-7").status_code == 404


def test_bad_terms_are_400_and_keep_what_is_stored(bl):  # type: ignore[no-untyped-def]
    program_id = _program(bl)
    assert bl.put(f"/admin/gb/programs/{program_id}/terms", json=TERMS).status_code == 200
    for bad, field in [
        ({"utilisationPrice": -1}, "utilisationPrice"),
        ({"utilisationPrise": 1}, "utilisationPrise"),  # a typo is refused, not silently ignored
        ({"declarationCutoff": {"weekday": "TUESDAY", "time": "24:30"}}, "declarationCutoff.time"),
        ({"declarationCutoff": {"weekday": "TUESDAYS", "time": "23:59"}}, "declarationCutoff.weekday"),
        ({"validFrom": "2027-04-01T00:00:00"}, "validFrom"),  # no offset
        ({"minRunMinutes": 300, "maxRunMinutes": 200}, "minRunMinutes"),
        ({"ragGreenPercent": 50, "ragAmberPercent": 60}, "ragAmberPercent"),
        ({"validFrom": "2028-01-01T00:00:00Z", "validTo": "2027-01-01T00:00:00Z"}, "validTo"),
        ({"acceptanceMode": "SOMETIMES"}, "acceptanceMode"),
    ]:
        response = bl.put(f"/admin/gb/programs/{program_id}/terms", json=bad)
        assert response.status_code == 400, (bad, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in {e["field"] for e in response.json()["errors"]}, (bad, response.json())
    assert bl.put(f"/admin/gb/programs/{program_id}/terms", json=[1]).status_code in (400, 422)
    # a unit override that contradicts the program's terms (its min run above the program's max)
    clash = bl.put(f"/admin/gb/programs/{program_id}/terms/units/DU-7", json={"minRunMinutes": 500})
    assert clash.status_code == 400, clash.text
    assert _terms(bl, program_id).json()["utilisationPrice"] == 300.0  # nothing changed
    assert bl.get(f"/admin/gb/programs/{program_id}/terms").json()["stored"][1:] == []


def test_terms_are_bl_only_and_per_operator(clients, bl):  # type: ignore[no-untyped-def]
    program_id = _program(bl)
    ven = clients.ven("FSP-ACME")
    assert ven.get(f"/admin/gb/programs/{program_id}/terms").status_code == 403
    assert ven.put(f"/admin/gb/programs/{program_id}/terms", json=TERMS).status_code == 403
    other = clients.bl(operator="SPEN")  # another operator's BL: the program does not exist for it
    assert other.get(f"/admin/gb/programs/{program_id}/terms").status_code == 404
    assert other.put(f"/admin/gb/programs/{program_id}/terms", json=TERMS).status_code == 404
    plain = bl.post("/programs", json={"programName": "plain"}).json()["id"]  # not a GB program: no terms
    assert bl.put(f"/admin/gb/programs/{plain}/terms", json=TERMS).status_code == 400
    # by programName as well as by id
    assert bl.put("/admin/gb/programs/NGED-SU/terms", json=TERMS).status_code == 200
    assert _terms(bl, program_id).json()["utilisationPrice"] == 300.0


def test_cli_sets_and_shows_terms(tmp_path, monkeypatch, database_url):  # type: ignore[no-untyped-def]
    import json

    from typer.testing import CliRunner

    from vtn.cli import app as cli
    from vtn.core.settings import get_settings

    monkeypatch.setenv("VTN_DATABASE_URL", database_url)
    get_settings.cache_clear()
    from fastapi.testclient import TestClient

    from tests.conftest import Clients, vtn_test_settings
    from vtn.app import create_app

    with TestClient(create_app(vtn_test_settings(database_url))) as http:
        program_id = _program(Clients(http).bl())
    path = tmp_path / "terms.json"
    path.write_text(json.dumps(TERMS))
    runner = CliRunner()
    done = runner.invoke(cli, ["gb", "terms", "set", "NGED-SU", str(path)])
    assert done.exit_code == 0, done.output
    done = runner.invoke(cli, ["gb", "terms", "set", program_id, "-", "--unit", "DU-7"], input='{"utilisationPrice": 1.5}')
    assert done.exit_code == 0, done.output
    shown = runner.invoke(cli, ["gb", "terms", "show", "NGED-SU", "--unit", "DU-7"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["utilisationPrice"] == 1.5 and json.loads(shown.output)["ackPeriodSeconds"] == 300
    bad = runner.invoke(cli, ["gb", "terms", "set", "NGED-SU", "-"], input='{"ackPeriodSeconds": 0}')
    assert bad.exit_code == 1 and "ackPeriodSeconds" in bad.output
    get_settings.cache_clear()


def test_acceptance_defaults_to_the_products(bl):  # type: ignore[no-untyped-def]
    """Unset, the acceptance mode follows the product: variable availability is accepted by the operator."""
    for code, mode in (("SU", "AUTO"), ("RESTORE", "AUTO"), ("VAOU_WA", "MANUAL"), ("SECURE", "MANUAL")):
        program_id = bl.post("/programs", json=example_program(code).dump()).json()["id"]
        assert _terms(bl, program_id).json()["acceptanceMode"] == mode, code
