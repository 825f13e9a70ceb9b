"""GB signatures end to end, in-process on SQLite and PostgreSQL (docs/gb-profile.md §7, issue 14):

- the console shows a dispatch or acknowledgement as signed only after verifying the stored document (against the
  operator's keys, the FSP's registered keys): verified / INVALID / unsigned / no key; an event altered in the
  database shows INVALID;
- FSP keys registered by the operator (`vtn gb fsp-key`, never by the FSP): reports then must verify (GB-R-050),
  per operator;
- a revision of a signed dispatch is never silently unsigned (console, `gb_profile.operator`);
- the evidence bundle (`GET /admin/events/{id}/evidence`, console download), operator-scoped.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.operator import Operator, UnsignedRevision
from gb_profile.products import SetpointKind
from gb_profile.signing import (
    KeyRing,
    SignatureState,
    check_signature,
    generate_key,
    public_jwk,
    read_signing_key,
    sign_event,
    sign_report,
)
from tests.test_console_auth import csrf_of, db_run
from tests.test_console_operator import OP, dispatch, events_by_name, fsp_ven, make_program, olive  # noqa: F401
from vtn.audit.service import Actor
from vtn.core.settings import Settings, get_settings
from vtn.events.models import EventRow
from vtn.gb import keys as gb_keys

OPERATOR_KID = "nged-op-1"


@pytest.fixture
def operator_key(tmp_path: Path) -> Any:
    key = generate_key(OPERATOR_KID)
    (tmp_path / "op.pem").write_bytes(key.as_pem(private=True))
    return key


@pytest.fixture
def settings(database_url: str, tmp_path: Path, operator_key: Any) -> Settings:
    return Settings(database_url=database_url, delivery_enabled=False, console_enabled=True, console_signin_rate_limit=1000,
                    console_require_mfa=False, gb_signing_key_file=str(tmp_path / "op.pem"), gb_signing_kid=OPERATOR_KID)


@pytest.fixture
def fsp(fsp_ven):  # type: ignore[no-untyped-def]
    """The FSP's VEN `fsp-1` with dispatch unit DU-1 (tests/test_console_operator.py)."""
    return fsp_ven


@pytest.fixture
def fsp_key() -> Any:
    return generate_key("fsp-1-k1")


def register(http, ven_name: str, key: Any, operator: str = "") -> None:  # type: ignore[no-untyped-def]
    db = http.app.state.db

    async def add() -> None:
        async with db.session() as session:
            await gb_keys.add_fsp_key(session, Actor("test", "cli", operator), operator, ven_name, key)

    http.portal.call(add)


def ack_body(event: dict[str, Any], key: Any | None = None, **kw: Any) -> dict[str, Any]:
    report = b.build_ack_report(b.acknowledge(event, datetime.now(UTC), **kw), event["programID"], event["id"])
    return (sign_report(report, key) if key is not None else report).dump()


def rules(response: Any) -> set[str]:
    return {e["rule"] for e in response.json().get("errors", [])}


def signature_state(page: str, testid: str) -> str:
    """The data-signature of the badge inside the element with data-testid `testid`."""
    start = page.index(f'data-testid="{testid}"')
    marker = 'data-signature="'
    at = page.index(marker, start) + len(marker)
    return page[at:page.index('"', at)]


def tampered(document: dict[str, Any]) -> dict[str, Any]:
    """The event with its first setpoint volume changed and its GB_SIGNATURE kept (as someone with database access would)."""
    changed = copy.deepcopy(document)
    for interval in changed["intervals"]:
        for payload in interval["payloads"]:
            if payload["type"].startswith("DISPATCH_SETPOINT"):
                payload["values"] = [payload["values"][0] * 5]
                return changed
    raise AssertionError("no setpoint")


# --- the console shows what verifies -------------------------------------------------------------------------


def test_console_shows_signed_only_when_it_verifies_and_invalid_after_the_database_was_altered(olive, bl, fsp, fsp_key):
    program_id = make_program(olive)
    dispatch(olive, program_id, ref="SIG-1")
    event = events_by_name(bl)["NGED:SIG-1"]
    register(olive, "fsp-1", fsp_key)
    assert fsp.post("/reports", json=ack_body(event, fsp_key)).status_code == 201

    board_page = olive.get(f"{OP}/board").text
    assert signature_state(board_page, f"signature-{event['id']}") == "verified" and "signed ✓ verified" in board_page
    assert signature_state(board_page, f"ack-{event['id']}") == "verified"  # the ack, against the FSP's key
    view = olive.get(f"{OP}/dispatches/{event['id']}/delivery").text
    assert signature_state(view, "dispatch-signature") == "verified"

    # Someone with database access changes the setpoint and keeps the signature: the console must not say "signed".
    db_run(olive, update(EventRow).where(EventRow.id == event["id"]).values(document=tampered(event)))
    board_page = olive.get(f"{OP}/board").text
    assert signature_state(board_page, f"signature-{event['id']}") == "invalid" and "signature INVALID" in board_page
    view = olive.get(f"{OP}/dispatches/{event['id']}/delivery").text
    assert signature_state(view, "dispatch-signature") == "invalid" and "does not verify" in view
    bundle = bl.get(f"/admin/events/{event['id']}/evidence").json()
    assert bundle["event"]["signature"]["state"] == "invalid"


def test_unsigned_and_unknown_key_states(olive, bl, fsp, settings):
    program_id = make_program(olive)
    # signed with a key the VTN does not hold; and with the operator's kid but another key (a forgery)
    stranger, forger = generate_key("someone-else-1"), generate_key(OPERATOR_KID)
    start = datetime(datetime.now(UTC).year + 2, 6, 1, 12, tzinfo=UTC)
    for ref, key in (("NOKEY", stranger), ("FORGED", forger), ("PLAIN", None)):
        ins = m.DispatchInstruction(
            operator_id="NGED", dispatch_ref=ref, revision=1, status=m.DispatchStatus.RUN,
            instruction_time=datetime.now(UTC).replace(microsecond=0), fsp_id="fsp-1", dispatch_unit="DU-1",
            contract_id="C-1", service_start=start, service_end=start.replace(hour=13),
            setpoints=(m.Setpoint(start, -10.0, m.ServiceUnits.KW, SetpointKind.DELTA),))
        event = b.build_event(ins, program_id)
        created = bl.post("/events", json=(sign_event(event, key) if key else event).dump())
        assert created.status_code == 201, created.text
    by_name = events_by_name(bl)
    board_page = olive.get(f"{OP}/board").text
    assert signature_state(board_page, f"signature-{by_name['NGED:NOKEY']['id']}") == "no_key"
    assert "signed, no key to verify" in board_page
    assert signature_state(board_page, f"signature-{by_name['NGED:FORGED']['id']}") == "invalid"
    assert signature_state(board_page, f"signature-{by_name['NGED:PLAIN']['id']}") == "unsigned"
    # without any operator key configured, a signed dispatch cannot be verified
    settings.gb_signing_key_file = None
    board_page = olive.get(f"{OP}/board").text
    assert signature_state(board_page, f"signature-{by_name['NGED:FORGED']['id']}") == "no_key"


def test_console_never_sends_a_revision_of_a_signed_dispatch_unsigned(olive, bl, fsp, settings):
    program_id = make_program(olive)
    dispatch(olive, program_id, ref="SIG-R")
    event = events_by_name(bl)["NGED:SIG-R"]
    settings.gb_signing_key_file = None  # the key is gone (misconfiguration, another console process)
    end = re.search(r'name="end" type="datetime-local" value="([^"]+)"', olive.get(f"{OP}/dispatches/{event['id']}/revise").text)
    assert end
    form = {"status": "RUN", "volume": "50", "end": end.group(1), "csrf_token": csrf_of(olive)}
    refused = olive.post(f"{OP}/dispatches/{event['id']}/revise", data=form, follow_redirects=False)
    assert refused.status_code == 400 and "its revisions must be signed too" in refused.text
    assert b.parse_event(events_by_name(bl)["NGED:SIG-R"]).revision == 1  # nothing sent
    # An emergency stop is not withheld for want of a key: sent, and the operator is told it went unsigned.
    stopped = olive.post(f"{OP}/stop", data={"event_id": event["id"], "confirm": "yes", "csrf_token": csrf_of(olive)})
    assert "Sent UNSIGNED" in stopped.text
    after = events_by_name(bl)["NGED:SIG-R"]
    assert b.parse_event(after).status == m.DispatchStatus.EMERGENCY_STOP
    assert check_signature(after, None).state == SignatureState.UNSIGNED


# --- reports verified against the FSP's registered keys ----------------------------------------------------------


def test_reports_must_verify_against_the_fsps_registered_key(olive, bl, fsp, fsp_key, operator_key):
    program_id = make_program(olive)
    dispatch(olive, program_id, ref="ACK-1")
    event = events_by_name(bl)["NGED:ACK-1"]
    other = generate_key("fsp-1-k1")  # same kid, another key
    unknown = generate_key("fsp-1-k9")

    # unsigned ack of a signed dispatch: GB-R-009, with or without keys
    assert rules(fsp.post("/reports", json=ack_body(event))) == {"GB-R-009"}
    # no key registered: any well-formed signature passes (checked for form only)
    assert fsp.post("/reports", json=ack_body(event, other)).status_code == 201
    # a key registered for the same venName by another operator does not count for this one
    register(olive, "fsp-1", fsp_key, operator="UKPN")
    assert fsp.post("/reports", json=ack_body(event, unknown)).status_code == 201

    register(olive, "fsp-1", fsp_key)
    for key in (other, unknown):
        refused = fsp.post("/reports", json=ack_body(event, key))
        assert refused.status_code == 400 and rules(refused) == {"GB-R-050"}, refused.text
    assert "unknown key id 'fsp-1-k9'" in fsp.post("/reports", json=ack_body(event, unknown)).text
    created = fsp.post("/reports", json=ack_body(event, fsp_key))
    assert created.status_code == 201, created.text
    # the operator's key is not the FSP's: an ack signed with it is refused
    assert rules(fsp.post("/reports", json=ack_body(event, operator_key))) == {"GB-R-050"}
    # PUT: the content changed, the signature kept
    body = created.json()
    altered = copy.deepcopy(body)
    altered["resources"][0]["intervals"][0]["payloads"] = [
        {**p, "values": ["REJECTED"]} if p["type"] == "GB_ACK_RESULT" else p
        for p in altered["resources"][0]["intervals"][0]["payloads"]] + [{"type": "GB_ACK_REASON", "values": ["x"]}]
    refused = fsp.put(f"/reports/{body['id']}", json=altered)
    assert refused.status_code == 400 and rules(refused) == {"GB-R-050"}, refused.text
    resigned = fsp.put(f"/reports/{body['id']}", json=ack_body(event, fsp_key))  # valid, but an ack is evidence
    assert resigned.status_code == 409 and "VTN-GB-004" in resigned.text  # a new ack is a new report (§5.4)


# --- evidence bundle ------------------------------------------------------------------------------------------------


def test_evidence_bundle_verified_operator_scoped_and_downloadable(olive, bl, clients, fsp, fsp_key, operator_key):
    program_id = make_program(olive)
    dispatch(olive, program_id, ref="EV-1")
    event = events_by_name(bl)["NGED:EV-1"]
    register(olive, "fsp-1", fsp_key)
    ack = fsp.post("/reports", json=ack_body(event, fsp_key)).json()

    response = bl.get(f"/admin/events/{event['id']}/evidence")
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"] == f'attachment; filename="evidence-{event["id"]}.json"'
    bundle = response.json()
    assert (bundle["format"], bundle["version"], bundle["eventID"]) == ("gb-dispatch-evidence", 1, event["id"])
    assert bundle["event"]["document"] == event
    assert bundle["event"]["signature"] == {"state": "verified", "kid": OPERATOR_KID, "detail": None}
    [revision] = bundle["revisions"]  # the dispatch record (§5.4): revision 1, signed, with its acknowledgement
    assert (revision["revision"], revision["document"], revision["actor"]) == (1, event, "console:olive")
    assert revision["signature"]["state"] == "verified"
    assert [a["reportID"] for a in revision["acknowledgements"]] == [ack["id"]]
    assert [(a["id"], a["signature"]["state"], a["signature"]["kid"]) for a in bundle["acknowledgements"]] == [
        (ack["id"], "verified", "fsp-1-k1")]
    assert bundle["reports"] == []
    assert bundle["keys"]["operator"] == [public_jwk(operator_key)]
    assert [(k["venName"], k["kid"], k["jwk"]) for k in bundle["keys"]["fsp"]] == [("fsp-1", "fsp-1-k1", public_jwk(fsp_key))]
    actions = [(line["action"], line["objectID"]) for line in bundle["audit"]]
    assert ("gb.dispatch", event["id"]) in actions
    # the bundle verifies again without the VTN: the keys it carries
    ring = KeyRing()
    ring.add("NGED", bundle["keys"]["operator"][0])
    ring.add("fsp-1", bundle["keys"]["fsp"][0]["jwk"])
    assert check_signature(bundle["event"]["document"], ring).state == SignatureState.VERIFIED
    assert check_signature(bundle["acknowledgements"][0]["document"], ring).state == SignatureState.VERIFIED

    # another operator's BL: the same 404 as for a missing event; a VEN: 403; a bad id: 400
    ukpn = clients.bl(operator="UKPN")
    assert ukpn.get(f"/admin/events/{event['id']}/evidence").status_code == 404
    assert bl.get("/admin/events/nope/evidence").status_code == 404
    assert fsp.get(f"/admin/events/{event['id']}/evidence").status_code == 403
    assert bl.get("/admin/events/a%20b/evidence").status_code == 400

    # the console's download: the same bundle
    view = olive.get(f"{OP}/dispatches/{event['id']}/delivery").text
    assert f"/operator/dispatches/{event['id']}/evidence.json" in view
    download = olive.get(f"{OP}/dispatches/{event['id']}/evidence.json")
    assert download.status_code == 200 and "attachment" in download.headers["content-disposition"]
    assert {k: v for k, v in download.json().items() if k != "generatedDateTime"} == {
        k: v for k, v in bundle.items() if k != "generatedDateTime"}


# --- the operator library never drops a signature ---------------------------------------------------------------


def test_operator_library_signs_and_refuses_unsigned_revisions_of_signed_dispatches(operator_key):
    start = datetime(2031, 6, 1, 12, tzinfo=UTC)
    ins = m.DispatchInstruction(
        operator_id="NGED", dispatch_ref="L-1", revision=1, status=m.DispatchStatus.RUN, instruction_time=start,
        fsp_id="fsp-1", dispatch_unit="DU-1", contract_id="C-1", service_start=start, service_end=start.replace(hour=13),
        setpoints=(m.Setpoint(start, -10.0, m.ServiceUnits.KW, SetpointKind.DELTA),))
    signed = sign_event(b.build_event(ins, "p1", event_id="e1"), operator_key).dump()
    following = b.stop_event(signed, start, start)
    with Operator("http://127.0.0.1:9", "op", "s") as unsigned_op:
        with pytest.raises(UnsignedRevision, match="is signed \\(key 'nged-op-1'\\): its revisions must be signed"):
            unsigned_op._signed(following, signed)
        assert unsigned_op._signed(following, b.build_event(ins, "p1", event_id="e1").dump()) is following
        unsigned_op.allow_unsigned = True
        assert unsigned_op._signed(following, signed) is following
    ring = KeyRing()
    ring.add("NGED", public_jwk(operator_key))
    with Operator("http://127.0.0.1:9", "op", "s", signing_key=operator_key) as op:
        assert check_signature(op._signed(following, signed).dump(), ring).state == SignatureState.VERIFIED


# --- `vtn gb fsp-key` ---------------------------------------------------------------------------------------------


def test_fsp_key_commands(tmp_path, monkeypatch, fsp_key):
    from vtn.cli import app

    monkeypatch.setenv("VTN_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}")
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        (tmp_path / "fsp.jwk").write_text(json.dumps(public_jwk(fsp_key)))
        (tmp_path / "fsp.pem").write_bytes(fsp_key.as_pem(private=False))
        (tmp_path / "bad.jwk").write_text("{}")

        def gb(*args: str, code: int = 0) -> str:
            result = runner.invoke(app, ["gb", "fsp-key", *args])
            assert result.exit_code == code, result.output
            return " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.output).split()) if code == 2 else result.output  # rich box

        assert "registered fsp-1-k1 for fsp-1" in gb("add", "fsp-1", "--key", str(tmp_path / "fsp.jwk"))
        assert "registered already" in gb("add", "fsp-1", "--key", str(tmp_path / "fsp.jwk"), code=1)
        assert "needs a kid" in gb("add", "fsp-2", "--key", str(tmp_path / "fsp.pem"), code=1)
        gb("add", "fsp-2", "--key", str(tmp_path / "fsp.pem"), "--kid", "fsp-2-a", "--operator", "UKPN")
        assert "not a P-256 EC key" in gb("add", "fsp-3", "--key", str(tmp_path / "bad.jwk"), code=2)
        listed = gb("list")
        assert "-\tfsp-1\tfsp-1-k1" in listed and "UKPN\tfsp-2\tfsp-2-a" in listed
        assert "fsp-2" not in gb("list", "--operator", "")
        line = json.loads(gb("list", "--operator", "UKPN", "--json"))
        assert line["kid"] == "fsp-2-a" and "d" not in line["jwk"]  # public only
        assert "no key 'fsp-2-a' registered for 'fsp-2'" in gb("remove", "fsp-2", "fsp-2-a", code=1)  # other operator
        assert "removed fsp-2-a" in gb("remove", "fsp-2", "fsp-2-a", "--operator", "UKPN")
        # a private key file: only the public part is stored, with a warning
        private = tmp_path / "private.pem"
        private.write_bytes(generate_key("x").as_pem(private=True))
        result = runner.invoke(app, ["gb", "fsp-key", "add", "fsp-4", "--key", str(private), "--kid", "fsp-4-a"])
        assert result.exit_code == 0 and "only its public part is stored" in result.output
        audit = runner.invoke(app, ["audit", "list", "--action", "gb.fsp_key.*"]).output
        assert audit.count("gb.fsp_key.add") == 3 and "gb.fsp_key.remove" in audit
    finally:
        get_settings.cache_clear()


def test_signing_key_reader(tmp_path, operator_key):
    (tmp_path / "public.jwk").write_text(json.dumps(public_jwk(operator_key)))
    with pytest.raises(ValueError, match="must be a private key"):
        read_signing_key(tmp_path / "public.jwk")
    assert read_signing_key(tmp_path / "op.pem").kid == operator_key.thumbprint()
    assert read_signing_key(tmp_path / "op.pem", "k").kid == "k"
