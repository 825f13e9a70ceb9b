"""Large readings uploads parsed and checked in a worker process (vtn.core.offload, docs/architecture.md): the same
stored report, rows and errors as in the request's process, the FSP's signing keys shipped to the worker, and the
caller's scope checked before any parsing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.signing import generate_key, sign_report
from tests.conftest import vtn_test_settings
from tests.test_gb_delivery_api import DAY, FSP, _count_readings, _minutes, _readings_report, _setup
from tests.test_gb_signatures import register
from vtn.core.settings import Settings

DAY_OF_MINUTES = [(1440, 250.0)]  # a day of per-minute readings: ~190 KB of JSON


@pytest.fixture(params=[1, 0], ids=["worker-process", "in-process"])
def settings(request: pytest.FixtureRequest, database_url: str) -> Settings:
    # every readings body is large enough to go to the worker process (offload_body_bytes=0), or none is
    return vtn_test_settings(database_url, offload_processes=request.param, offload_body_bytes=0)


def _provisioned_aside(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k not in ("id", "createdDateTime", "modificationDateTime", "objectType")}


def test_an_upload_is_stored_and_versioned_as_any_report(bl: Any, clients: Any, settings: Settings) -> None:
    ven, program_id, event_id = _setup(bl, clients)
    body = _readings_report(program_id, event_id, _minutes(DAY, DAY_OF_MINUTES))
    created = ven.post("/reports", json=body)
    assert created.status_code == 201, created.text
    assert (clients.app.state.offload._executor is not None) == (settings.offload_processes > 0)  # where it was parsed
    stored = ven.get(f"/reports/{created.json()['id']}").json()
    assert _provisioned_aside(stored) == _provisioned_aside(created.json()) == b.build_readings_report(
        m.MeterReadings(FSP, "NGED", tuple(_minutes(DAY, DAY_OF_MINUTES))), program_id, event_id).content()
    assert _count_readings(clients) == 1440
    assert ven.post("/reports", json=body).status_code == 201  # a re-upload adds no reading
    assert _count_readings(clients) == 1440
    corrected = _readings_report(program_id, event_id, _minutes(DAY, [(60, 250.0), (1, 999.0), (1379, 250.0)]))
    assert ven.put(f"/reports/{created.json()['id']}", json=corrected).status_code == 200
    assert _count_readings(clients) == 1441  # one late correction: one new version


def test_errors_are_the_same_as_in_the_requests_process(bl: Any, clients: Any) -> None:
    ven, program_id, event_id = _setup(bl, clients)
    body = _readings_report(program_id, event_id, _minutes(DAY, DAY_OF_MINUTES))

    # the profile's checks run in the worker: a unit that is not the FSP's own (GB-R-012), a 400 with its rule
    foreign = {**body, "resources": [{**body["resources"][0], "resourceName": "MU-NOT-MINE"}]}
    refused = ven.post("/reports", json=foreign)
    assert refused.status_code == 400 and refused.headers["content-type"].startswith("application/problem+json")
    assert {e["rule"] for e in refused.json()["errors"]} == {"GB-R-012"}
    # a body the model refuses, and one that is not JSON: FastAPI's own 400s
    bad_id = {**body, "resources": [{**body["resources"][0], "intervals": [{"id": "x", "payloads": []}]}]}
    invalid = ven.post("/reports", json=bad_id)
    assert invalid.status_code == 400 and invalid.json()["errors"][0]["field"].startswith("resources")
    broken = ven.post("/reports", content=b'{"reportName": "GB_READINGS", ', headers={"Content-Type": "application/json"})
    assert broken.status_code == 400 and broken.json()["detail"] == "request body is not valid JSON"
    empty = ven.post("/reports", content=b"", headers={"Content-Type": "application/json"})
    assert empty.status_code == 400
    # another FSP may not speak for this one, and a reference it cannot see is a 409, as for any report
    assert clients.ven("FSP-OTHER").post("/reports", json=body).status_code in (400, 409)
    assert _count_readings(clients) == 0
    # no token: refused before the body is read
    anonymous = ven.http.post(ven.base + "/reports", json=body)
    assert anonymous.status_code == 401


def test_signed_uploads_verify_against_the_fsps_key_in_the_worker(bl: Any, clients: Any) -> None:
    ven, program_id, event_id = _setup(bl, clients)
    key = generate_key("fsp-acme-k1")
    register(clients.http, FSP, key)
    report = b.build_readings_report(
        m.MeterReadings(FSP, "NGED", tuple(_minutes(DAY, DAY_OF_MINUTES))), program_id, event_id)
    signed = sign_report(report, key).dump()
    accepted = ven.post("/reports", json=signed)
    assert accepted.status_code == 201, accepted.text
    tampered = {**signed, "resources": [{**signed["resources"][0], "intervals": signed["resources"][0]["intervals"][:-1]}]}
    refused = ven.post("/reports", json=tampered)
    assert refused.status_code == 400 and "GB-R-050" in {e["rule"] for e in refused.json()["errors"]}
    other_key = generate_key("fsp-acme-k1")  # same kid, another key: does not verify
    forged = sign_report(report, other_key).dump()
    assert ven.post("/reports", json=forged).status_code == 400
    assert datetime.now(UTC) > DAY  # the readings are of a past day


def test_a_31_upload_is_schema_checked_in_the_worker_with_the_same_answers(bl: Any, clients: Any) -> None:
    ven, program_id, event_id = _setup(bl, clients)
    body = _readings_report(program_id, event_id, _minutes(DAY, DAY_OF_MINUTES))
    body31 = {k: v for k, v in body.items() if k != "programID"}  # a 3.1.0 report names no program
    body31["payloadDescriptors"] = [{**d, "objectType": "REPORT_PAYLOAD_DESCRIPTOR"} for d in body["payloadDescriptors"]]
    created = ven.v31().post("/reports", json=body31)
    assert created.status_code == 201, created.text
    assert _count_readings(clients) == 1440
    # the 3.1.0 schema's refusal, computed in the worker, is the same 400 as in the request's process
    wrong = {**body31, "payloadDescriptors": body["payloadDescriptors"]}  # objectType missing
    refused = ven.v31().post("/reports", json=wrong)
    assert refused.status_code == 400 and "reportRequest schema" in refused.json()["detail"]
    assert "objectType" in refused.json()["errors"][0]["message"]
