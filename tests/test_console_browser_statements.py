"""Monthly statements in the console, in a real browser against a real `vtn serve`: the operator issues March
2027's statement, the FSP sees it and rejects it with a reason, the operator sees the reason and finalises, the FSP
downloads the final statement as CSV and XLSX. Screenshots at 1280 px and 375 px.

Data (REST, as an operator and an FSP's VEN would): an availability price of £12/MW/h, a monthly fee of £25, one
window declared for Sunday 28 March 2027 00:00-06:00 London (5 hours: the clocks go forward), 500 kW, accepted
automatically: availability 0.5 × 5 × 12 = 30.00, fee -25.00, total 5.00.
"""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2
import pytest

from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.examples import FSP, OPERATOR, example_program
from tests.support.browser import DESKTOP, PASSWORD, PHONE, browser_page, require_browser, screenshot
from tests.support.server import VtnProcess, running_vtn
from vtn.core.security import Role


def _accounts(vtn: VtnProcess) -> dict[str, str]:
    """API clients and console accounts straight into the running VTN's (already upgraded) database, in-process:
    the `vtn users add` command would cost a process start each on a loaded machine."""
    from vtn.auth import service as auth
    from vtn.console import service as console
    from vtn.core.database import Database

    async def main() -> dict[str, str]:
        db = Database(vtn.database_url)
        try:
            async with db.session() as session:
                secrets = {"operator": (await auth.add_client(session, "operator", Role.BL)).secret,
                           "acme": (await auth.add_client(session, "acme", Role.VEN, ven_name=FSP)).secret}
                await console.add_user(session, "olive", "operator", PASSWORD)
                await console.add_user(session, "fiona", "fsp", PASSWORD, [FSP])
            return {k: str(v) for k, v in secrets.items()}
        finally:
            await db.dispose()
    return asyncio.run(main())


def _client(vtn: VtnProcess, client_id: str, secret: str) -> httpx2.Client:
    token = httpx2.post(vtn.base_url + "/auth/token", data={"grant_type": "client_credentials"},
                        auth=(client_id, secret), timeout=10).json()["access_token"]
    return httpx2.Client(base_url=vtn.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10)


def _month_of_data(vtn: VtnProcess) -> None:
    secrets = _accounts(vtn)
    with _client(vtn, "operator", secrets["operator"]) as api, _client(vtn, "acme", secrets["acme"]) as ven:
        program_id = api.post("/programs", json=example_program("VAOU_15MIN").dump()).json()["id"]
        assert api.put(f"/admin/gb/programs/{program_id}/terms",
                       json={"availabilityPrice": 12.0, "maxCapacityKW": 2000, "acceptanceMode": "AUTO"}).status_code == 200
        assert api.put(f"/admin/gb/programs/{program_id}/statement-charges",
                       json={"monthlyFeeGbp": "25.00"}).status_code == 200
        anchor = b.build_anchor_event(program_id, OPERATOR, datetime(2027, 1, 1, tzinfo=UTC)).dump()
        anchor.pop("id", None)
        anchor_id = api.post("/events", json=anchor).json()["id"]
        ven_id = ven.post("/vens", json={"venName": FSP}).json()["id"]
        unit = b.build_dispatch_unit_resource(m.DispatchUnit(FSP, "DU-7", OPERATOR, max_consumption_kw=1500.0)).dump()
        unit.pop("id", None)
        unit.pop("targets", None)
        assert ven.post(f"/vens/{ven_id}/resources", json=unit).status_code == 201
        window = m.AvailabilityWindow(datetime(2027, 3, 28, tzinfo=UTC), timedelta(hours=5), turn_down_kw=500.0)
        report = b.build_availability_report(m.AvailabilityDeclaration(FSP, OPERATOR, "C-4411", {"DU-7": (window,)}),
                                             program_id, anchor_id).dump()
        report.pop("id", None)
        made = ven.post("/reports", json=report)
        assert made.status_code == 201, made.text


pytestmark = pytest.mark.slow


def _sign_in(page, console: str, user: str, heading: str) -> None:  # type: ignore[no-untyped-def]
    """Sign out whoever is signed in (one browser for the whole test: a Chromium start costs seconds), then in."""
    page.goto(console)
    if page.locator("button:has-text('Sign out')").count():
        page.click("button:has-text('Sign out')")
        page.wait_for_selector("#username")
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector(f"h1:has-text('{heading}')")


def test_statement_issue_dispute_finalise_download(tmp_path: Path) -> None:
    require_browser()
    reason = "The 28 March window was 500 kW for 6 hours on our clock"
    with running_vtn(tmp_path, env={"VTN_CONSOLE_REQUIRE_MFA": "false"}) as vtn:  # password-only operator
        _month_of_data(vtn)
        console = vtn.url + "/console/"
        with browser_page(DESKTOP) as page:
            _sign_in(page, console, "olive", "Dashboard")
            page.get_by_role("link", name="Statements").first.click()
            page.wait_for_selector("[data-testid=no-statements]")
            page.fill("#issue-month", "2027-03")
            page.click("[data-testid=issue-statements]")
            page.wait_for_selector("[data-testid=statements] >> text=FSP-ACME")
            assert "1 new provisional" in page.inner_text("main")
            page.click(f"[data-testid=statements] >> text={FSP}")
            page.wait_for_selector("[data-testid=statement-lines]")
            assert page.inner_text("[data-testid=statement-total]") == "5.00"
            assert [a.strip() for a in page.locator("[data-testid=amount]").all_inner_texts()] == ["30.00", "-25.00"]
            assert "2027-03-28T06:00:00+01:00" in page.inner_text("[data-testid=statement-lines]")
            screenshot(page, "statement-operator")
            operator_url = page.url

            _sign_in(page, console, "fiona", "Your VENs")
            page.get_by_role("link", name="Statements").first.click()
            page.click("[data-testid=statements] >> text=2027-03")
            page.wait_for_selector("[data-testid=reject]")
            page.fill("#reason", reason)
            page.click("[data-testid=reject]")
            page.wait_for_selector("text=Statement rejected")
            assert "DISPUTED" in page.inner_text("main") and reason in page.inner_text("main")
            assert page.locator("[data-testid=approve]").count() == 0  # decided: no buttons any more
            screenshot(page, "statement-fsp-disputed")

            _sign_in(page, console, "olive", "Dashboard")
            page.goto(operator_url)
            assert page.inner_text("[data-testid=decision-reason]") == reason
            page.click("[data-testid=finalise]")
            page.wait_for_selector("text=is final (version 2)")
            assert "FINAL" in page.inner_text("main") and page.locator("[data-testid=finalise]").count() == 0

            page.set_viewport_size(PHONE)
            _sign_in(page, console, "fiona", "Your VENs")
            page.goto(console + "fsp/statements")
            assert "FINAL" in page.inner_text("[data-testid=statements]")
            page.click("[data-testid=statements] >> text=2027-03")
            page.wait_for_selector("[data-testid=download-csv]")
            screenshot(page, "statement-fsp-final-phone")
            with page.expect_download() as download:
                page.click("[data-testid=download-csv]")
            rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
            assert [(r["kind"], r["amount_gbp"], r["status"]) for r in rows] == [
                ("AVAILABILITY", "30.00", "FINAL"), ("FEE", "-25.00", "FINAL"), ("TOTAL", "5.00", "FINAL")]
            with page.expect_download() as download:
                page.click("[data-testid=download-xlsx]")
            assert Path(download.value.path()).read_bytes()[:2] == b"PK"  # a zip: the XLSX container
