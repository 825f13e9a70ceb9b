"""The availability week calendar in a real browser against a real `vtn serve`: an FSP's declaration shows on the
operator's calendar as PENDING, the operator accepts it there, and the FSP's calendar shows the acceptance its VEN
received (the acceptance event)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import httpx2
import pytest

from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.examples import example_program
from gb_profile.settlement import local_window
from tests.support.browser import DESKTOP, PASSWORD, add_console_user, browser_page, require_browser, screenshot
from tests.support.server import running_vtn
from ven_client.client import VtnClient
from ven_client.config import GbSettings
from ven_client.gb import GbReporter
from vtn.core.security import Role

pytestmark = pytest.mark.slow
FSP, UNIT = "FSP-ACME", "DU-7"


def _client(vtn, client_id: str, secret: str) -> httpx2.Client:  # type: ignore[no-untyped-def]
    token = httpx2.post(vtn.base_url + "/auth/token", data={"grant_type": "client_credentials"},
                        auth=(client_id, secret), timeout=10).json()["access_token"]
    return httpx2.Client(base_url=vtn.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10)


def sign_in(page, console: str, username: str, heading: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(console)
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector(f"h1:has-text('{heading}')")


def test_week_calendar_operator_accepts_fsp_sees_it(tmp_path: Path) -> None:
    require_browser()
    with running_vtn(tmp_path, env={"VTN_CONSOLE_REQUIRE_MFA": "false"}) as vtn:
        api = _client(vtn, "operator", vtn.provision("operator", Role.BL))
        program_id = api.post("/programs", json=example_program().dump()).json()["id"]
        assert api.put(f"/admin/gb/programs/{program_id}/terms", json={
            "acceptanceMode": "MANUAL", "declarationCutoff": {"weekday": "TUESDAY", "time": "23:59"}}).status_code == 200
        anchor = b.build_anchor_event(program_id, "NGED", datetime(2026, 1, 1, tzinfo=UTC)).dump()
        anchor.pop("id", None)
        anchor_id = api.post("/events", json=anchor).json()["id"]
        fsp_secret = vtn.provision(FSP, Role.VEN, ven_name=FSP)
        fsp = _client(vtn, FSP, fsp_secret)
        ven_id = fsp.post("/vens", json={"venName": FSP}).json()["id"]
        unit = b.build_dispatch_unit_resource(m.DispatchUnit(FSP, UNIT, "NGED", max_consumption_kw=2000.0)).dump()
        unit.pop("targets", None)
        assert fsp.post(f"/vens/{ven_id}/resources", json=unit).status_code == 201
        # a Wednesday 16:00-19:00 London window in the week after next: before its cut-off whenever this runs
        week = m.week_of(datetime.now(UTC)) + timedelta(days=14)
        start, end = local_window(week + timedelta(days=2), time(16), time(19))
        # declared by the reference VEN's library (GbReporter.send_availability), with a bid
        windows = {UNIT: (m.AvailabilityWindow(start, end - start, turn_down_kw=1800.0),)}

        async def reference_ven(work):  # type: ignore[no-untyped-def]
            async with VtnClient(vtn.base_url, FSP, fsp_secret) as client:
                return await work(GbReporter(client, GbSettings(fsp_id=FSP, operator_id="NGED")))

        saved = asyncio.run(reference_ven(lambda r: r.send_availability(windows, "C-4411", bids={(UNIT, start): 9.5})))
        assert saved.eventID == anchor_id
        add_console_user(vtn.env, "olive", "operator")
        add_console_user(vtn.env, "fiona", "fsp", FSP)
        console = vtn.url + "/console/"

        with browser_page(DESKTOP, locale="en-GB", timezone_id="Europe/London") as page:
            sign_in(page, console, "olive", "Dashboard")
            page.get_by_role("link", name="Availability").first.click()
            page.wait_for_load_state()
            assert "Availability" in page.inner_text("h1"), page.content()[:3000]
            page.goto(console + f"operator/availability?program={program_id}&week={week.isoformat()}")
            slot = page.locator("[data-testid=slot]")
            assert slot.count() == 1
            text = slot.inner_text()
            assert "16:00–19:00" in text and "1800 kW declared" in text and "PENDING" in text, text
            header = page.inner_text("[data-testid=week-calendar] thead")
            assert (week + timedelta(days=2)).strftime("%a %d %b") in header
            screenshot(page, "operator-availability-1280")
            page.fill("[id^=kw-]", "1500")
            page.click("[data-testid^=accept-]")
            page.wait_for_selector("text=accepted")
            text = page.locator("[data-testid=slot]").inner_text()
            assert "ACCEPTED" in text and "1500 kW" in text, text
            csv = page.request.get(vtn.url + str(page.get_attribute("[data-testid=csv]", "href")))
            assert csv.ok and "ACCEPTED" in csv.text() and "1500.0" in csv.text()
            # the week before has nothing; navigation keeps the program
            page.click("[data-testid=previous-week]")
            page.wait_for_selector("[data-testid=no-windows]")

        with browser_page(DESKTOP, locale="en-GB", timezone_id="Europe/London") as page:
            sign_in(page, console, "fiona", "Your VENs")
            page.get_by_role("link", name="Availability").first.click()
            page.wait_for_selector("h1:has-text('Availability')")
            page.goto(console + f"fsp/availability?week={week.isoformat()}")
            text = page.locator("[data-testid=slot]").inner_text()
            assert "ACCEPTED" in text and "1500 kW" in text and "1800 kW declared" in text, text
            assert page.locator("form[action*=decide]").count() == 0  # read-only for the FSP
            screenshot(page, "fsp-availability-1280")
        # and the reference VEN sees the same through its poll of /events
        weeks = asyncio.run(reference_ven(lambda r: r.acceptances()))
        [accepted] = weeks[week]
        assert (accepted.status, accepted.accepted_kw, accepted.declared_kw, accepted.bid_price) == (
            "ACCEPTED", 1500.0, 1800.0, 9.5)
        api.close()
        fsp.close()
