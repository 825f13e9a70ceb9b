"""The VTN holds programs declaring the GB profile, and their events, to the profile."""

from __future__ import annotations

from gb_profile.examples import example_event, example_program


def _dump(model_or_dict):  # type: ignore[no-untyped-def]
    return model_or_dict.dump() if hasattr(model_or_dict, "dump") else model_or_dict


def test_gb_program_and_event_enforced(bl):
    program = _dump(example_program())
    created = bl.post("/programs", json=program)
    assert created.status_code == 201, created.text
    broken = {**program, "programName": "not-a-gb-name", "country": "FR"}
    refused = bl.post("/programs", json=broken)
    assert refused.status_code == 400
    rules = {e["rule"] for e in refused.json()["errors"]}
    assert {"GB-P-003", "GB-P-004"} <= rules
    assert "GB-P-004" in refused.json()["detail"]
    event = _dump(example_event(program_id=created.json()["id"]))
    made = bl.post("/events", json=event)
    assert made.status_code == 201, made.text
    bad_event = {**event, "targets": []}
    bad = bl.post("/events", json=bad_event)
    assert bad.status_code == 400 and bad.json()["errors"]


def test_non_gb_programs_are_not_profiled(bl):
    assert bl.post("/programs", json={"programName": "plain", "country": "FR"}).status_code == 201
