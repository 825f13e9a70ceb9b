"""The worked examples of docs/gb-profile.md are what the library builds, so the document cannot drift.

Every block preceded by `<!-- example: NAME -->` must equal `gb_profile.examples.doc_examples()[NAME]`
(JSON compared as data, text exactly), except `GB_SIGNATURE` values: ECDSA signatures are randomised,
so the document's signatures are verified instead, with the public keys the document itself publishes.
Regenerate the blocks with `python -m gb_profile.examples`.
"""

import base64
import copy
import json
import re
from pathlib import Path

import pytest
from joserfc import jws
from joserfc.jwk import ECKey

from gb_profile import builders as b
from gb_profile import model as m
from gb_profile import signing as s
from gb_profile.examples import doc_examples
from gb_profile.readings_csv import parse_readings_csv
from gb_profile.validator import validate_event, validate_program, validate_report, validate_resource

DOC = Path(__file__).resolve().parents[1] / "docs" / "gb-profile.md"
BLOCK = re.compile(r"<!-- example: ([a-z0-9-]+) -->\s*```(json|text)\n(.*?)\n```", re.DOTALL)
EXPECTED = doc_examples()


def _doc_blocks() -> dict[str, object]:
    blocks: dict[str, object] = {}
    for name, kind, body in BLOCK.findall(DOC.read_text()):
        assert name not in blocks, f"example {name} appears twice in the document"
        blocks[name] = json.loads(body) if kind == "json" else body
    return blocks


DOC_BLOCKS = _doc_blocks()


def _unsigned(obj):
    """A copy with every GB_SIGNATURE value replaced, for comparing signed objects."""
    data = copy.deepcopy(obj)
    intervals = data.get("intervals", []) + [i for r in data.get("resources", []) for i in r.get("intervals", [])]
    for interval in intervals:
        for payload in interval.get("payloads", []):
            if payload.get("type") == m.P_SIGNATURE:
                payload["values"] = ["<signature>"]
    return data


def _doc_keys() -> s.KeyRing:
    ring = s.KeyRing()
    ring.add("NGED", DOC_BLOCKS["operator-public-jwk"])
    ring.add("FSP-ACME", DOC_BLOCKS["fsp-public-jwk"])
    return ring


def test_document_has_every_example_and_no_stale_one():
    assert set(DOC_BLOCKS) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_matches_the_builders(name):
    want, got = EXPECTED[name], DOC_BLOCKS.get(name)
    if isinstance(want, str):
        assert got == want, f"regenerate with `python -m gb_profile.examples`:\n{want}"
    else:
        assert _unsigned(got) == _unsigned(want), f"regenerate with `python -m gb_profile.examples` ({name})"


EVENTS = ["event-rev1-pre-notify", "event-rev2-run", "event-rev3-revised", "event-rev4-stop"]
REPORTS = {  # report -> the event it is sent against
    "ack-report": "event-rev2-run",
    "emergency-stop-report": "event-rev3-revised",
    "availability-report": "anchor-event",
    "readings-report": "anchor-event",
    "heartbeat-report": "anchor-event",
}


def test_document_examples_are_valid_and_signed():
    ring = _doc_keys()
    program = DOC_BLOCKS["program"]
    assert validate_program(program) == []
    assert [validate_resource(r) for r in DOC_BLOCKS["ven"]["resources"]] == [[], []]
    assert validate_event(DOC_BLOCKS["anchor-event"], program) == []
    previous = None
    for name in EVENTS:
        assert validate_event(DOC_BLOCKS[name], program, previous=previous, keys=ring) == [], name
        assert s.verify_event(DOC_BLOCKS[name], ring) == "NGED-example-1"
        previous = DOC_BLOCKS[name]
    for name, event in REPORTS.items():
        assert validate_report(DOC_BLOCKS[name], DOC_BLOCKS[event], keys=ring) == [], name
        assert s.verify_report(DOC_BLOCKS[name], ring) == "FSP-ACME-example-1"


def test_revision_flow_in_the_document():
    """pre-notify -> run -> revise -> stop: one event id, revision +1, the stop truncates the window."""
    flow = [b.parse_event(DOC_BLOCKS[n]) for n in EVENTS]
    assert {DOC_BLOCKS[n]["id"] for n in EVENTS} == {"ev-1042"}
    assert [i.revision for i in flow] == [1, 2, 3, 4]
    assert [i.status for i in flow] == ["PRE_NOTIFY", "RUN", "RUN", "STOP"]
    assert b.utc_text(flow[2].service_end) == "2025-12-03T18:00:00Z"
    assert b.utc_text(flow[3].service_end) == "2025-12-03T17:30:00Z"  # STOP at 17:30: window and last setpoint cut there
    assert flow[3].setpoints == flow[2].setpoints
    ack = b.parse_ack_report(DOC_BLOCKS["ack-report"])
    assert (ack.event_name, ack.revision, ack.status) == (DOC_BLOCKS["event-rev2-run"]["eventName"], 2, "RUN")


def test_signature_recipe_from_the_document_alone():
    """§7 by hand: JWS signing input = b64url(header) '.' b64url(canonical bytes); the doc's canonical text verifies."""
    report = DOC_BLOCKS["ack-report"]
    canonical = DOC_BLOCKS["canonical-ack-report"].encode()
    assert s.canonical_form(report) == canonical
    signature = report["resources"][0]["intervals"][0]["payloads"][-1]["values"][0]
    head, empty, sig = signature.split(".")
    assert empty == ""
    header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    assert header == {"alg": "ES256", "kid": "FSP-ACME-example-1", "cty": "gb-flex-report"}
    payload = base64.urlsafe_b64encode(canonical).rstrip(b"=").decode()
    key = ECKey.import_key(DOC_BLOCKS["fsp-public-jwk"])
    assert jws.deserialize_compact(f"{head}.{payload}.{sig}", key, algorithms=["ES256"]).payload == canonical
    # any change to the signed content breaks it
    tampered = copy.deepcopy(report)
    tampered["resources"][0]["intervals"][0]["payloads"][2]["values"] = [3]
    with pytest.raises(s.SignatureError):
        s.verify_report(tampered, _doc_keys())


def test_flexible_power_worked_example():
    """The CSV files of §4.4 (period-ending, export positive) import to the readings of the readings example."""
    imported = [
        r
        for name in ("flexible-power-power-csv", "flexible-power-energy-csv")
        for r in parse_readings_csv(DOC_BLOCKS[name]).readings
    ]
    report = b.parse_readings_report(DOC_BLOCKS["readings-report"])
    key = lambda r: (r.start, r.kind)  # noqa: E731
    assert sorted(imported, key=key) == sorted(report.readings, key=key)
    first = min((r for r in imported if r.kind is m.ReadingKind.POWER_KW), key=key)
    assert (b.utc_text(first.start), first.value) == ("2025-12-03T16:00:00Z", 120.5)  # 16:01Z, -120.5 (export) in the file
