"""The contract-terms editor and an operator-entered declaration in a real browser against a real `vtn serve`: the
operator sets an operator-managed program's terms in the console, the API shows them in force, then enters the FSP's
declaration on the availability page and sees it on the week calendar (attributed to the operator)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.examples import example_program
from gb_profile.settlement import LONDON, local_window
from tests.support.browser import DESKTOP, add_console_user, browser_page, require_browser, screenshot
from tests.support.server import running_vtn
from tests.test_console_browser_availability import _client, sign_in
from vtn.core.security import Role

pytestmark = pytest.mark.slow
FSP, UNIT = "FSP-ACME", "DU-7"


def test_operator_edits_terms_and_declares_for_the_fsp(tmp_path: Path) -> None:
    require_browser()
    with running_vtn(tmp_path, env={"VTN_CONSOLE_REQUIRE_MFA": "false"}) as vtn:
        api = _client(vtn, "operator", vtn.provision("operator", Role.BL))
        program_id = api.post("/programs", json=example_program().dump()).json()["id"]
        anchor = b.build_anchor_event(program_id, "NGED", datetime(2026, 1, 1, tzinfo=UTC)).dump()
        anchor.pop("id", None)
        assert api.post("/events", json=anchor).status_code == 201
        fsp = _client(vtn, FSP, vtn.provision(FSP, Role.VEN, ven_name=FSP))
        ven_id = fsp.post("/vens", json={"venName": FSP}).json()["id"]
        unit = b.build_dispatch_unit_resource(m.DispatchUnit(FSP, UNIT, "NGED", max_consumption_kw=2000.0)).dump()
        unit.pop("targets", None)
        assert fsp.post(f"/vens/{ven_id}/resources", json=unit).status_code == 201
        add_console_user(vtn.env, "olive", "operator")
        console = vtn.url + "/console/"

        with browser_page(DESKTOP, locale="en-GB", timezone_id="Europe/London") as page:
            sign_in(page, console, "olive", "Dashboard")
            page.get_by_role("link", name="Contract terms").first.click()
            page.wait_for_selector("h1:has-text('Contract terms')")
            page.fill("#t-minRunMinutes", "sixty")  # a typing slip: refused, kept in the form
            page.select_option("#t-operatorManaged", "true")
            page.click("[data-testid=save-terms]")
            page.wait_for_selector("[data-testid=terms-error]")
            assert page.input_value("#t-minRunMinutes") == "sixty"
            assert page.locator("#t-operatorManaged").input_value() == "true"
            page.fill("#t-minRunMinutes", "30")
            page.fill("#t-maxRunMinutes", "240")
            page.select_option("#t-runTimeTerms", "REFUSE")
            page.select_option("#t-acceptanceMode", "AUTO")
            page.select_option("#t-cutoffWeekday", "TUESDAY")
            page.fill("#t-cutoffTime", "23:59")
            page.click("[data-testid=save-terms]")
            page.wait_for_selector("text=Contract terms of the program saved")
            effective = page.inner_text("[data-testid=effective-terms]")
            assert "23:59 on Tuesday of the week before" in effective and "REFUSE" in effective, effective
            screenshot(page, "operator-terms-1280")
            terms = api.get(f"/admin/gb/programs/{program_id}/terms/effective").json()
            assert (terms["minRunMinutes"], terms["maxRunMinutes"], terms["runTimeTerms"], terms["operatorManaged"]) \
                == (30, 240, "REFUSE", True)

            # a Wednesday 16:00-19:00 London window three weeks ahead: before its cut-off whenever this runs
            week = m.week_of(datetime.now(UTC)) + timedelta(days=21)
            start, _ = local_window(week + timedelta(days=2), time(16), time(19))
            page.goto(console + f"operator/availability?program={program_id}&week={week.isoformat()}")
            page.fill("#d-ven", FSP)
            page.fill("#d-unit", UNIT)
            page.fill("#d-start", start.astimezone(LONDON).strftime("%Y-%m-%dT%H:%M"))
            page.fill("#d-hours", "3")
            page.fill("#d-kw", "1200")
            page.click("[data-testid=declare]")
            page.wait_for_selector("[data-testid=slot]")
            text = page.locator("[data-testid=slot]").inner_text()
            assert "16:00–19:00" in text and "1200 kW declared" in text and "ACCEPTED" in text, text
        [row] = api.get(f"/admin/gb/programs/{program_id}/acceptances").json()
        assert row["enteredBy"] == "console:olive" and row["operatorEntered"] is True, row
        api.close()
        fsp.close()
