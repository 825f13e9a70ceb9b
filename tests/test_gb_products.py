from datetime import UTC, datetime, timedelta

import pytest

from gb_profile.products import (
    PRODUCTS,
    AvailabilityMode,
    DispatchMethod,
    Generation,
    NoticeKind,
    Payment,
    ProductCode,
    Scheduling,
    SetpointKind,
    UnknownProduct,
    predecessors,
    product,
    product_from_program_type,
    successors,
)


def test_catalogue_has_old_new_and_variants():
    for code in ("SUSTAIN", "SECURE", "DYNAMIC", "RESTORE", "PR", "SU", "MWD"):
        assert ProductCode(code) in PRODUCTS
    for family in ("OU", "SAOU", "VAOU"):
        for variant in ("2MIN", "15MIN", "DA", "WA"):
            assert f"{family}_{variant}" in PRODUCTS
    assert all(p.generation is Generation.LEGACY for p in PRODUCTS.values() if p.successors)


def test_payments_and_availability():
    assert product("SU").payments == frozenset({Payment.UTILISATION})
    assert product("SAOU_2MIN").availability is AvailabilityMode.FIXED and product("SAOU_2MIN").pays_availability
    assert product("VAOU_DA").availability is AvailabilityMode.VARIABLE
    assert not product("OU_15MIN").pays_availability and product("OU_15MIN").pays_utilisation
    assert product("PR").scheduling is Scheduling.SCHEDULED


def test_notice_and_dispatch_method():
    assert product("OU_2MIN").notice.minutes == 2 and product("OU_2MIN").requires_push
    assert product("VAOU_15MIN").notice.minutes == 15 and not product("VAOU_15MIN").requires_push
    assert product("SAOU_DA").notice.kind is NoticeKind.DAY_AHEAD
    assert product("OU_WA").notice.kind is NoticeKind.WEEK_AHEAD
    mwd = product("MWD")
    assert mwd.dispatch_method is DispatchMethod.RELAYED_INSTRUCTION and mwd.instructing_party == "NESO"
    assert mwd.setpoint_kinds == frozenset({SetpointKind.ABSOLUTE})


def test_old_to_new():
    assert [p.code for p in successors("SUSTAIN")] == [ProductCode.SU]
    assert ProductCode.OU_15MIN in [p.code for p in successors("RESTORE")]
    assert {p.code for p in predecessors("SU")} == {ProductCode.SUSTAIN}
    assert successors("SU") == []


def test_notice_rules():
    start = datetime(2025, 12, 3, 16, tzinfo=UTC)  # a Wednesday
    assert product("OU_15MIN").notice.satisfied(start - timedelta(minutes=15), start)
    assert not product("OU_15MIN").notice.satisfied(start - timedelta(minutes=14), start)
    assert product("OU_DA").notice.satisfied(start - timedelta(hours=17), start)  # 23:00 the day before
    assert not product("OU_DA").notice.satisfied(start - timedelta(hours=15), start)
    assert product("OU_WA").notice.satisfied(datetime(2025, 11, 28, tzinfo=UTC), start)
    assert not product("OU_WA").notice.satisfied(datetime(2025, 12, 1, 9, tzinfo=UTC), start)


def test_program_type_and_unknown():
    assert product("SU").program_type == "GB_FLEX:SU"
    assert product_from_program_type("GB_FLEX:VAOU_2MIN").code is ProductCode.VAOU_2MIN
    assert product_from_program_type("GB_FLEX:NOPE") is None and product_from_program_type("X") is None
    with pytest.raises(UnknownProduct, match="not a GB profile product"):
        product("RESERVE")
