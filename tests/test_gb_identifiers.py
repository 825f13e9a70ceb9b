import pytest

from gb_profile.identifiers import (
    DISTRIBUTORS,
    NETWORK_OPERATORS,
    MpanError,
    OperatorKind,
    UnknownOperator,
    check_mpan_licence_area,
    is_valid_mpan_core,
    licence_areas,
    mpan_check_digit,
    network_operator,
    parse_mpan_core,
)


def test_fourteen_dno_areas_and_idnos():
    dnos = [d for d in DISTRIBUTORS.values() if d.kind is OperatorKind.DNO]
    assert sorted(d.distributor_id for d in dnos) == [str(i) for i in range(10, 24)]
    assert {d.distributor_id for d in DISTRIBUTORS.values() if d.kind is OperatorKind.IDNO} == {str(i) for i in range(24, 39)}
    assert {d.distributor_id for d in licence_areas("NGED")} == {"11", "14", "21", "22"}
    assert {d.distributor_id for d in licence_areas("UKPN")} == {"10", "12", "19"}
    assert DISTRIBUTORS["16"].mpid == "NORW" and DISTRIBUTORS["16"].operator_id == "ENWL"


def test_operator_list():
    assert {"UKPN", "NGED", "SPEN", "NPG", "ENWL", "SSEN", "NESO", "IPNL"} <= set(NETWORK_OPERATORS)
    assert network_operator("NESO").kind is OperatorKind.SYSTEM_OPERATOR
    with pytest.raises(UnknownOperator, match="not a well-known"):
        network_operator("WPD")


@pytest.mark.parametrize("core", ["1312345678907", "2499999999991", "13 1234 5678 907", "01 801 123 1312345678907"])
def test_valid_mpans(core):
    assert is_valid_mpan_core(core)


def test_full_mpan_and_fields():
    mpan = parse_mpan_core("0380112A1312345678907")
    assert mpan.core == "1312345678907" and mpan.distributor.mpid == "MANW" and mpan.check_digit == 7
    assert mpan_check_digit("131234567890") == 7


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1312345678901", "check digit is 1, expected 7"),
        ("131234567890", "13 digits"),
        ("13123456789077", "13 digits"),
        ("131234567890X", "digits only"),
        ("0912345678907", "distributor ID 09"),
        ("3912345678907", "distributor ID 39"),
        ("0980112A1312345678907", "profile class 09"),
    ],
)
def test_invalid_mpans(text, message):
    with pytest.raises(MpanError, match=message):
        parse_mpan_core(text)
    assert not is_valid_mpan_core(text)


def test_every_distributor_has_a_valid_example():
    for distributor_id in DISTRIBUTORS:
        first = distributor_id + "1234567890"
        assert parse_mpan_core(first + str(mpan_check_digit(first))).distributor_id == distributor_id


def test_mpan_licence_area_of_the_dispatching_operator():
    """The distributor ID (first two digits of the core) must be a licence area of the dispatching operator."""
    first = "141234567890"
    nged = first + str(mpan_check_digit(first))  # 14 West Midlands: NGED
    assert check_mpan_licence_area(nged, "NGED").core == nged
    assert check_mpan_licence_area("01 801 123 " + nged, "NGED").core == nged  # a full MPAN is reduced to its core
    with pytest.raises(MpanError, match=r"distributor 14 \(West Midlands, NGED\), not a licence area of UKPN"):
        check_mpan_licence_area(nged, "UKPN")
    assert check_mpan_licence_area("1312345678907", "SPEN").distributor.mpid == "MANW"  # 13 Manweb: SPEN
    idno_first = "241234567890"
    idno = idno_first + str(mpan_check_digit(idno_first))
    assert check_mpan_licence_area(idno, "IPNL").distributor_id == "24"  # an IDNO by its MPID
    with pytest.raises(MpanError, match="not a licence area of NGED"):
        check_mpan_licence_area(idno, "NGED")  # an IDNO network inside a DNO area is the IDNO's licence
    assert check_mpan_licence_area(nged, "NESO").core == nged  # the system operator's area is all of GB
    with pytest.raises(MpanError, match="check digit"):
        check_mpan_licence_area(nged[:-1] + str((int(nged[-1]) + 1) % 10), "NGED")
    with pytest.raises(UnknownOperator):
        check_mpan_licence_area(nged, "WPD")
