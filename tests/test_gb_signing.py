import copy
from datetime import timedelta

import pytest

from gb_profile import builders as b
from gb_profile import model as m
from gb_profile import signing as s
from gb_profile.examples import SERVICE_START, example_event, example_readings
from gb_profile.validator import validate_event, validate_report


@pytest.fixture(scope="module")
def keys():
    operator, fsp, rogue = s.generate_key("nged-2025-1"), s.generate_key("acme-1"), s.generate_key("rogue-1")
    ring = s.KeyRing()
    ring.add("NGED", operator)
    ring.add("FSP-ACME", s.public_jwk(fsp))
    return operator, fsp, rogue, ring


def test_sign_verify_event_both_directions(keys):
    operator, fsp, _, ring = keys
    signed = s.sign_event(example_event("SU"), operator)
    data = signed.dump()
    assert s.verify_event(data, ring) == "nged-2025-1"
    assert b.parse_event(data).signature.count(".") == 2 and ".." in b.parse_event(data).signature
    assert validate_event(data, keys=ring) == []
    ack = b.build_ack_report(b.acknowledge(signed, SERVICE_START), "prog-1", "ev-1")
    signed_ack = s.sign_report(ack, fsp)
    assert s.verify_report(signed_ack.dump(), ring) == "acme-1"
    assert validate_report(signed_ack, signed, keys=ring) == []
    assert {v.rule for v in validate_report(ack, signed)} == {"GB-R-009"}


def test_vtn_provisioned_fields_and_formatting_are_ignored(keys):
    operator, _, _, ring = keys
    data = s.sign_event(example_event("SU"), operator).dump()
    data.update(
        id="other",
        createdDateTime="2026-01-01T00:00:00Z",
        modificationDateTime="2026-01-01T00:00:00Z",
        objectType="EVENT",
        unknownExtra=1,
    )
    data["intervalPeriod"]["start"] = "2025-12-03T16:00:00+00:00"
    data["intervals"][1]["payloads"][0]["values"] = [-250]  # 250.0 vs 250: same JSON number
    assert s.verify_event(data, ring)


def test_tamper_detection(keys):
    operator, _, _, ring = keys
    data = s.sign_event(example_event("SU"), operator).dump()
    for mutate in (
        lambda d: d["intervals"][1]["payloads"][0].update(values=[-999.0]),
        lambda d: d["intervals"][0]["payloads"][0].update(values=["STOP"]),
        lambda d: d["targets"][1].update(values=["DU-8"]),
        lambda d: d["intervalPeriod"].update(duration="PT3H"),
    ):
        tampered = copy.deepcopy(data)
        mutate(tampered)
        with pytest.raises(s.SignatureError, match="does not verify"):
            s.verify_event(tampered, ring)
        assert "GB-E-023" in {v.rule for v in validate_event(tampered, keys=ring)}


def test_wrong_key_and_wrong_party(keys):
    operator, fsp, rogue, ring = keys
    with pytest.raises(s.SignatureError, match="unknown key id"):
        s.verify_event(s.sign_event(example_event("SU"), rogue), ring)
    # a key registered to the FSP cannot sign for the operator
    with pytest.raises(s.SignatureError, match="belongs to 'FSP-ACME'"):
        s.verify_event(s.sign_event(example_event("SU"), fsp), ring)
    # same kid, different key material
    impostor = s.generate_key("nged-2025-1")
    with pytest.raises(s.SignatureError, match="does not verify"):
        s.verify_event(s.sign_event(example_event("SU"), impostor), ring)
    # an event signature cannot be replayed as a report signature
    report = b.build_readings_report(example_readings(), "prog-1", "anchor")
    event_sig = s.sign_event(example_event("SU"), operator).intervals[0].payloads[-1]
    forged = report.model_copy(deep=True)
    forged.resources[0].intervals[0].payloads.append(event_sig)
    with pytest.raises(s.SignatureError):
        s.verify_report(forged, ring)


def test_resign_after_revision(keys):
    operator, _, _, ring = keys
    signed = s.sign_event(example_event("SU"), operator)
    revised = b.revise_event(signed, SERVICE_START - timedelta(days=1), status=m.DispatchStatus.RUN)
    assert b.parse_event(revised).signature is None
    assert s.verify_event(s.sign_event(revised, operator), ring)


def test_malformed_signature_reported():
    event = example_event("SU")
    event.intervals[0].payloads.append(m_vm := type(event.intervals[0].payloads[0])(type="GB_SIGNATURE", values=["x.y.z"]))
    assert m_vm.type == "GB_SIGNATURE"
    assert {v.rule for v in validate_event(event)} == {"GB-E-023"}


def test_canonical_json():
    assert s.canonical_json({"b": [1.0, 2.5, 1e-7, True, None], "a": "é\n"}) == '{"a":"é\\n","b":[1,2.5,1e-7,true,null]}'


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.00001, "0.00001"),  # Python repr says 1e-05; ECMAScript keeps plain notation down to 1e-6
        (0.000001, "0.000001"),
        (1e-7, "1e-7"),
        (-180.5, "-180.5"),
        (250.0, "250"),
        (-0.0, "0"),
        (123456789012345680000.0, "123456789012345680000"),  # shortest digits, not the binary expansion
        (1e21, "1e+21"),
        (1.5e300, "1.5e+300"),
        (0.1 + 0.2, "0.30000000000000004"),
        (2**60, "1152921504606847000"),
    ],
)
def test_canonical_numbers_follow_ecmascript(value, text):
    assert s.canonical_json(value) == text
