"""Monthly statements: the pure computation (gb_profile.statements: rounding, London months, the autumn clock
change, lifecycle dates), bad input through the API, and the `vtn gb statements` command. The whole month runs in
tests/test_gb_statement_month.py."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from gb_profile import statements as st


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def _window(start: datetime, end: datetime, kw: float = 1000.0, price: str | None = "10.00", ident: int = 1,
            ) -> st.AcceptedWindow:
    return st.AcceptedWindow(ident, "P-1", "DU-7", start, end, kw, None if price is None else Decimal(price),
                             "awarded" if price else "none")


def test_london_months_and_lifecycle_dates() -> None:
    assert st.month_bounds(date(2027, 3, 1)) == (utc(2027, 3, 1), utc(2027, 3, 31, 23))  # 743 hours
    assert st.month_bounds(date(2027, 10, 1)) == (utc(2027, 9, 30, 23), utc(2027, 11, 1))  # 745 hours
    assert st.month_bounds(date(2027, 12, 1)) == (utc(2027, 12, 1), utc(2028, 1, 1))
    assert st.provisional_due(date(2027, 3, 1)) == utc(2027, 3, 31, 23)  # 1 April 00:00 BST
    assert st.final_due(date(2027, 3, 1)) == utc(2027, 4, 14, 23)  # 15 April 00:00 BST
    assert st.final_due(date(2027, 12, 1)) == utc(2028, 1, 15)  # GMT
    assert st.first_of(utc(2027, 3, 31, 23, 30)) == date(2027, 4, 1)  # already April in London
    assert st.previous_month(date(2027, 1, 1)) == date(2026, 12, 1)
    for bad in ("2027-13", "2027-3", "27-03", "2027/03", ""):
        with pytest.raises(ValueError):
            st.parse_month(bad)


def test_autumn_clock_change_window_pays_seven_hours() -> None:
    # Sunday 31 October 2027, London 00:00-06:00: 00:00 BST (30 Oct 23:00 UTC) to 06:00 GMT: 7 hours
    window = _window(utc(2027, 10, 30, 23), utc(2027, 10, 31, 6), kw=500.0, price="12.00")
    statement = st.compute("FSP-ACME", date(2027, 10, 1), [window], [], [], {})
    [line] = statement.lines
    assert (line.figures["hours"], line.figures["fromLondon"], line.figures["toLondon"]) == (
        "7", "2027-10-31T00:00:00+01:00", "2027-10-31T06:00:00+00:00")
    assert line.amount_gbp == Decimal("42.00")  # 0.5 MW × 7 h × £12


def test_window_across_months_is_split_and_rounding_is_half_up() -> None:
    # 30 Sep 22:30 UTC (23:30 BST) to 1 Oct 01:00 UTC: 30 minutes in September, 2 hours in October
    window = _window(utc(2027, 9, 30, 22, 30), utc(2027, 10, 1, 1), kw=333.0, price="10.01")
    sept = st.compute("F", date(2027, 9, 1), [window], [], [], {})
    octo = st.compute("F", date(2027, 10, 1), [window], [], [], {})
    # 0.333 × 0.5 × 10.01 = 1.666665 → 1.67; 0.333 × 2 × 10.01 = 6.66666 → 6.67
    assert [line.amount_gbp for line in sept.lines] == [Decimal("1.67")]
    assert [line.amount_gbp for line in octo.lines] == [Decimal("6.67")]
    assert st.pounds(Decimal("0.125")) == Decimal("0.13") and st.pounds(Decimal("-0.125")) == Decimal("-0.13")
    # a window without a price is shown, at £0.00, so the operator sees it is unpriced
    [unpriced] = st.compute("F", date(2027, 10, 1), [_window(utc(2027, 10, 5), utc(2027, 10, 5, 1), price=None)],
                            [], [], {}).lines
    assert (unpriced.amount_gbp, unpriced.figures["priceSource"]) == (Decimal("0.00"), "none")


def test_penalties_and_fees() -> None:
    window = _window(utc(2027, 10, 5, 16), utc(2027, 10, 5, 19), kw=800.0, price="10.50", ident=7)
    red = st.Delivery("ev-1", "NGED:D-1", "P-1", "DU-7", "dr-1", 2, utc(2027, 10, 5, 16, 30), utc(2027, 10, 5, 17, 30),
                      Decimal("40"), Decimal("300"), Decimal("12.00"), 40.0, "RED")
    green = st.Delivery("ev-2", "NGED:D-2", "P-1", "DU-7", "dr-2", 1, utc(2027, 10, 6, 16), utc(2027, 10, 6, 17),
                        Decimal("100"), Decimal("300"), Decimal("30.00"), 100.0, "GREEN")
    late = st.LateAck(3, "ev-1", "P-1", "DU-7", utc(2027, 10, 5, 16, 5), None)
    charges = {"P-1": st.ProgramCharges(Decimal("25"), Decimal("50"))}
    statement = st.compute("F", date(2027, 10, 1), [window], [red, green], [late], charges)
    assert [(line.kind, line.amount_gbp) for line in statement.lines] == [
        ("AVAILABILITY", Decimal("25.20")),  # 0.8 × 3 × 10.50
        ("UTILISATION", Decimal("12.00")),
        ("PENALTY_DELIVERY", Decimal("-8.40")),  # 0.8 × 1 h (16:30-17:30 inside the window) × 10.50
        ("UTILISATION", Decimal("30.00")),  # GREEN: no penalty
        ("PENALTY_LATE_ACK", Decimal("-50.00")),
        ("FEE", Decimal("-25.00")),
    ]
    assert statement.total == Decimal("-16.20")
    penalty = statement.lines[2]
    assert penalty.refs == {"eventID": "ev-1", "deliveryReportID": "dr-1", "deliveryReportVersion": 2,
                            "programID": "P-1", "unit": "DU-7", "acceptanceID": 7}
    # the same inputs give the same digest; a changed line another
    assert statement.digest() == st.compute("F", date(2027, 10, 1), [window], [red, green], [late], charges).digest()
    assert statement.digest() != st.compute("F", date(2027, 10, 1), [window], [green], [late], charges).digest()
    # no fee for a program with nothing in the month
    assert st.compute("F", date(2027, 11, 1), [window], [red], [late], charges).lines == ()
    csv_text = st.statement_csv({"fsp": "F", "month": "2027-10", "id": "s-1", "version": 1, "status": "PROVISIONAL",
                                 "totalGbp": str(statement.total), **statement.to_json()})
    assert csv_text.splitlines()[-1].split(",")[5:8] == ["TOTAL", "", "-16.20"]


def _stored(statement: st.Statement, ident: str, version: int) -> dict[str, Any]:
    return {"id": ident, "version": version, "kind": "FINAL", **statement.to_json()}


def test_adjustments_against_a_final_and_what_later_finals_carried() -> None:
    """A final month recomputed later: each line's difference from what was paid for it (the final, plus adjustments
    carried by later finals), new lines in full, vanished lines reversed, a charges change not paid again."""
    october = date(2027, 10, 1)
    window = _window(utc(2027, 10, 5, 16), utc(2027, 10, 5, 19), kw=800.0, price="10.50", ident=7)
    red = st.Delivery("ev-1", "NGED:D-1", "P-1", "DU-7", "dr-1", 1, utc(2027, 10, 5, 16, 30), utc(2027, 10, 5, 17, 30),
                      Decimal("40"), Decimal("300"), Decimal("12.00"), 40.0, "RED")
    charges = {"P-1": st.ProgramCharges(Decimal("25"), Decimal("50"))}
    final = _stored(st.compute("F", october, [window], [red], [], charges), "s-oct", 3)
    assert final["charges"] == {"P-1": {"monthlyFeeGbp": "25.00", "lateAckPenaltyGbp": "50.00"}}
    # nothing changed (and the fee went up since, which a final month does not pay again): no adjustment
    dearer = {"P-1": st.ProgramCharges(Decimal("40"), Decimal("80"))}
    same = st.compute("F", october, [window], [red], [], st.stated_charges(final, dearer))
    assert st.adjustments(same, final, []) == []
    # the readings corrected (GREEN, £30.00) and a late alarm found: +18.00, +8.40 (penalty gone), -50.00 (new)
    green = replace(red, report_version=2, payable_kwh=Decimal("100"), earnings_gbp=Decimal("30.00"), percent=100.0,
                    rag="GREEN")
    late = st.LateAck(4, "ev-1", "P-1", "DU-7", utc(2027, 10, 5, 16, 5), None)
    now = st.compute("F", october, [window], [green], [late], st.stated_charges(final, dearer))
    lines = st.adjustments(now, final, [])
    assert [(line.refs["adjustsKind"], line.amount_gbp) for line in lines] == [
        ("UTILISATION", Decimal("18.00")), ("PENALTY_LATE_ACK", Decimal("-50.00")),
        ("PENALTY_DELIVERY", Decimal("8.40"))]
    assert lines[0].refs == {"eventID": "ev-1", "deliveryReportID": "dr-1", "deliveryReportVersion": 2,
                             "programID": "P-1", "unit": "DU-7", "adjustsKind": "UTILISATION",
                             "adjustsMonth": "2027-10", "finalStatementID": "s-oct", "finalStatementVersion": 3}
    assert (lines[2].refs["deliveryReportVersion"], lines[2].refs["acceptanceID"]) == (1, 7)  # the penalty paid
    assert [(x.figures["recomputedGbp"], x.figures["finalGbp"], x.figures["carriedGbp"]) for x in lines] == [
        ("30.00", "12.00", "0.00"), ("-50.00", "0.00", "0.00"), ("0.00", "-8.40", "0.00")]
    # November's final carried them: December owes nothing more, however November's own lines read
    november = {"id": "s-nov", "version": 2, "kind": "FINAL", "month": "2027-11",
                "lines": [line.to_json() for line in lines]}
    assert st.adjustments(now, final, november["lines"]) == []
    # November itself recomputed: its carried lines are October's account, not November's
    assert st.adjustments(st.compute("F", date(2027, 11, 1), [], [], [], charges), november, []) == []
    # a second correction after that (RED again, £6.00): only the new difference, against final + carried
    worse = replace(red, report_version=3, payable_kwh=Decimal("20"), earnings_gbp=Decimal("6.00"), percent=20.0)
    third = st.compute("F", october, [window], [worse], [late], st.stated_charges(final, dearer))
    assert [(x.refs["adjustsKind"], x.amount_gbp, x.figures["carriedGbp"])
            for x in st.adjustments(third, final, november["lines"])] == [
        ("UTILISATION", Decimal("-24.00"), "18.00"), ("PENALTY_DELIVERY", Decimal("-8.40"), "8.40")]
    # a contract price changed after the final is not paid again either
    contract = replace(window, price_gbp_per_mw_h=Decimal("9.00"), price_source="contract")
    stated = _stored(st.compute("F", october, [contract], [], [], {}), "s-oct", 3)
    dearer_contract = replace(contract, price_gbp_per_mw_h=Decimal("11.00"))
    assert st.stated_prices([dearer_contract], stated) == [contract]
    assert st.stated_prices([window], stated) == [window]  # an awarded price is the acceptance's own


# --- through the API and the command line -------------------------------------------------------------------------


def test_bad_input_and_privacy(bl: Any, clients: Any) -> None:
    for body in ({"month": "2027-13"}, {"month": "March"}, {"month": "2027-03", "kind": "DRAFT"}, {"month": "2027-03",
                 "extra": 1}, ["2027-03"]):
        refused = bl.post("/admin/gb/statements/issue", json=body)
        assert refused.status_code == 400, (body, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
    assert bl.get("/admin/gb/statements", params={"month": "2027-3"}).status_code == 400
    assert bl.get("/admin/gb/statements/nope").status_code == 404
    assert bl.get("/admin/gb/statements/bad id!").status_code in (400, 404)
    assert bl.get("/admin/gb/programs/nope/statement-charges").status_code == 404
    ven = clients.ven("FSP-ACME")
    assert ven.post("/admin/gb/statements/issue", json={"month": "2027-03"}).status_code == 403
    # on demand for one FSP with nothing in the month: an empty statement, £0.00
    [empty] = bl.post("/admin/gb/statements/issue", json={"month": "2027-02", "fsp": "FSP-ACME"}).json()
    assert (empty["lines"], empty["totalGbp"], empty["new"], empty["status"]) == ([], "0.00", True, "PROVISIONAL")
    assert ven.get(f"/gb/statements/{empty['id']}").json()["totalGbp"] == "0.00"
    assert ven.post(f"/gb/statements/{empty['id']}/reject", json={"reason": "x" * 1001}).status_code == 400
    assert ven.post(f"/gb/statements/{empty['id']}/reject", json={}).status_code == 400
    # another operator's BL sees nothing of it
    other = clients.bl(operator="SSEN")
    assert other.get("/admin/gb/statements").json() == []
    assert other.get(f"/admin/gb/statements/{empty['id']}").status_code == 404


def test_cli_issues_lists_and_runs(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from vtn.cli import app as cli
    from vtn.core.settings import get_settings

    monkeypatch.setenv("VTN_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        done = runner.invoke(cli, ["gb", "statements", "issue", "2027-02", "--fsp", "FSP-ACME"])
        assert done.exit_code == 0, done.output
        [issued] = json.loads(done.stdout)
        assert (issued["version"], issued["kind"], issued["totalGbp"], issued["new"]) == (1, "PROVISIONAL", "0.00", True)
        done = runner.invoke(cli, ["gb", "statements", "issue", "2027-02", "--fsp", "FSP-ACME", "--final"])
        assert done.exit_code == 0 and json.loads(done.stdout)[0]["kind"] == "FINAL"
        listed = runner.invoke(cli, ["gb", "statements", "list", "2027-02"])
        assert [(s["version"], s["status"]) for s in json.loads(listed.stdout)] == [(2, "FINAL")]
        bad = runner.invoke(cli, ["gb", "statements", "issue", "2027-00"])
        assert bad.exit_code == 1 and "month" in bad.output
        ran = runner.invoke(cli, ["gb", "statements", "run", "--at", "2027-03-01T00:00:00Z"])
        assert ran.exit_code == 0 and json.loads(ran.stdout) == []  # February is final already
        assert runner.invoke(cli, ["gb", "statements", "run", "--at", "yesterday"]).exit_code != 0
    finally:
        get_settings.cache_clear()


def test_concurrent_rounds_issue_each_version_once(bl: Any, clients: Any) -> None:
    """Two worker rounds at once (as two VTN processes would run them): on PostgreSQL one holds the advisory lock
    and the other skips; on SQLite the writes are serialised. Either way one version, not two."""
    import asyncio

    from vtn.statements.models import StatementRow
    from vtn.statements.service import run_due

    # something to state in February 2027: an empty on-demand statement makes the FSP known for the month
    assert bl.post("/admin/gb/statements/issue", json={"month": "2027-02", "fsp": "FSP-ACME"}).status_code == 200

    async def rounds() -> list[int]:
        db = clients.app.state.db

        async def one() -> int:
            async with db.session() as session:
                return len(await run_due(session, utc(2027, 3, 20)))  # after the 15th: final due
        return list(await asyncio.gather(one(), one()))

    counts = clients._portal_run(rounds)
    assert sorted(counts) == [0, 1]

    async def versions() -> list[tuple[int, str]]:
        from sqlmodel import select

        async with clients.app.state.db.session(write=False) as session:
            rows = (await session.exec(select(StatementRow).order_by(StatementRow.version))).all()
            return [(r.version, r.kind) for r in rows]
    assert clients._portal_run(versions) == [(1, "PROVISIONAL"), (2, "FINAL")]


def test_the_apps_own_task_issues_last_months_statement(database_url: str) -> None:
    """The background task of a running app (every 0.2 s here) states last month (London) on its own: an accepted
    window there is enough; provisional before the 15th, final after."""
    import time
    from datetime import timedelta

    from fastapi.testclient import TestClient
    from sqlmodel import select

    from tests.conftest import vtn_test_settings
    from vtn.app import create_app
    from vtn.contracts.models import AcceptanceRow
    from vtn.core.database import utcnow
    from vtn.statements.models import StatementRow

    now = utcnow()
    month = st.previous_month(st.first_of(now))
    start = st.month_bounds(month)[0] + timedelta(days=9, hours=12)
    app = create_app(vtn_test_settings(database_url, gb_statement_worker_seconds=0.2))
    with TestClient(app) as http:
        async def seed() -> None:
            async with app.state.db.session() as session:
                session.add(AcceptanceRow(operator="", program_id="P-1", report_id="r-1", ven_name="FSP-ACME", unit="DU-7",
                                          week=start.date().isoformat(), start=start, end=start + timedelta(hours=2),
                                          direction="TURN_DOWN", declared_kw=500.0, status="ACCEPTED", accepted_kw=500.0,
                                          awarded_price=10.0, entered_by="test", created_at=now))

        async def stated() -> list[StatementRow]:
            async with app.state.db.session(write=False) as session:
                return list((await session.exec(select(StatementRow))).all())

        assert http.portal is not None
        http.portal.call(seed)
        deadline = time.monotonic() + 20
        rows: list[StatementRow] = []
        while time.monotonic() < deadline and not rows:
            time.sleep(0.2)
            rows = http.portal.call(stated)
        assert [(r.fsp, r.month, r.version, r.total_pence) for r in rows] == [
            ("FSP-ACME", month.strftime("%Y-%m"), 1, 1000)]  # 0.5 MW × 2 h × £10
        assert rows[0].kind == ("FINAL" if now >= st.final_due(month) else "PROVISIONAL")
