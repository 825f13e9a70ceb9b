"""A real browser, a real `vtn serve` and a real reference VEN (ven_client agent + GbAdapter) for one FSP: the FSP
signs in, sees its VEN and resources, clicks "Send me a test dispatch", and the result panel turns to received and
acknowledged, with the seconds, without a page reload. Screenshots at 1280 px and 375 px."""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path

import httpx2
import pytest

from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.products import ProductCode
from tests.support.browser import DESKTOP, PASSWORD, PHONE, add_console_user, browser_page, require_browser, screenshot
from tests.support.gb_ven import running_gb_ven
from tests.support.server import VtnProcess, running_vtn
from vtn.core.security import Role

FSP = "fsp-acme"
UNIT, METER, MPAN = "DU-7", "MU-7", "1312345678907"
SANDBOX = "NGED-OU_2MIN-SANDBOX"  # the default VTN_CONSOLE_SANDBOX_PROGRAM


def register_units(vtn: VtnProcess) -> httpx2.Client:
    """The operator registers the FSP's VEN with a dispatch unit and a meterable unit (MPAN), over the REST API;
    returns the operator's API client."""
    secret = vtn.provision("operator", Role.BL)
    token = httpx2.post(vtn.base_url + "/auth/token", data={"grant_type": "client_credentials"},
                        auth=("operator", secret), timeout=10).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    unit = m.DispatchUnit(FSP, UNIT, "NGED", meterable_units=(METER,), cmz="CMZ_T7B_SWA_0012", contracts=("C-4411",),
                          max_consumption_kw=400.0, max_export_kw=150.0)
    meter = m.MeterableUnit(FSP, METER, (MPAN,), dispatch_unit=UNIT)
    ven = b.build_ven(FSP, [unit], [meter])
    api = httpx2.Client(base_url=vtn.base_url, headers=headers, timeout=10)
    created = api.post("/vens", json=ven.model_copy(update={"resources": None}).dump())
    assert created.status_code == 201, created.text
    ven_id = created.json()["id"]
    for resource in ven.resources or []:
        done = api.post(f"/vens/{ven_id}/resources", json=resource.model_copy(update={"venID": ven_id}).dump())
        assert done.status_code == 201, done.text
    return api


def sign_in(page, console: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(console)
    page.fill("#username", "fiona")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("h1:has-text('Your VENs')")


@pytest.mark.parametrize("mode", ["pull", "push"])
def test_fsp_test_dispatch_round_trips_through_a_real_ven(tmp_path: Path, mode: str) -> None:
    """pull: the VEN polls every 0.5 s and the console creates the sandbox program on the first click.
    push: the operator created the sandbox program beforehand, the VEN subscribed to it and gets a webhook."""
    require_browser()
    with running_vtn(tmp_path, env={"VTN_CONSOLE_TEST_DISPATCH_INTERVAL_SECONDS": "30"}) as vtn, ExitStack() as stack:
        api = register_units(vtn)
        stack.callback(api.close)
        sandbox_id = None
        if mode == "push":
            program = b.build_program(ProductCode.OU_2MIN, operator_id="NGED", suffix="SANDBOX")
            created = api.post("/programs", json=program.dump())
            assert created.status_code == 201 and created.json()["programName"] == SANDBOX, created.text
            sandbox_id = created.json()["id"]
        ven_secret = vtn.provision(FSP, Role.VEN, ven_name=FSP)
        add_console_user(vtn.env, "fiona", "fsp", FSP)
        console = vtn.url + "/console/"
        # screenshot() also copies into docs/img/console/ when VTN_UPDATE_SCREENSHOTS=1; the pull run is the one shown
        shot = screenshot if mode == "pull" else (lambda page, name: None)
        # The VEN registers nothing itself (resources=()): its units are the ones the operator registered.
        with running_gb_ven(vtn, FSP, ven_secret, resources=(), poll_interval=0.5, mode=mode) as ven, \
                browser_page(DESKTOP) as page:
            if sandbox_id:
                ven.wait_for(lambda: sandbox_id in ven.agent.subscription_ids, what="subscription to the sandbox")
            notifications = ven.agent.stats.notifications
            sign_in(page, console)
            page.get_by_role("link", name="VENs").first.click()
            page.wait_for_selector("[data-testid=resources]")
            main = page.inner_text("main")
            for shown in (FSP, UNIT, METER, MPAN, "DISPATCH_UNIT", "METERABLE_UNIT", "NGED:C-4411"):
                assert shown in main, shown
            shot(page, "fsp-vens-1280")

            page.get_by_role("link", name="Test dispatch").first.click()
            page.wait_for_selector("[data-testid=send-test]")
            assert UNIT in page.inner_text("#target")
            page.evaluate("window.__noReload = 'still here'")  # gone if the page reloads
            started = time.monotonic()
            page.click("[data-testid=send-test]")
            page.wait_for_selector("[data-testid=test-panel]")
            page.wait_for_selector("[data-testid=step-received].done", timeout=30_000)
            page.wait_for_selector("[data-testid=test-panel][data-acked=true]", timeout=30_000)
            click_to_ack = time.monotonic() - started
            assert page.evaluate("window.__noReload") == "still here"  # updated live by htmx, no reload
            panel = page.inner_text("[data-testid=test-panel]")
            assert "Received: yes" in panel and "Acknowledged: yes" in panel and "ACCEPTED" in panel, panel
            ack_seconds = float(page.get_attribute("[data-testid=test-panel]", "data-ack-seconds") or "nan")
            assert 0 <= ack_seconds < 30
            assert page.url.rsplit("/", 1)[1] == page.get_attribute("[data-testid=test-panel] a[href*='/fsp/events/']",
                                                                    "href").rsplit("/", 1)[1]  # HX-Push-Url
            # the real VEN got exactly this dispatch, for its own unit, and acknowledged revision 1; a test dispatch
            # (sandbox program) never reaches its controller: nothing is actuated
            name = page.inner_text("#test-panel-title .mono")
            assert ven.acknowledged(name, 1) and ven.adapter.tests[-1].dispatch_unit == UNIT
            assert ven.adapter.tests[-1].event_name == name and not ven.controller.dispatched  # type: ignore[attr-defined]
            shot(page, "fsp-test-1280")
            if mode == "push":
                assert ven.agent.stats.notifications > notifications  # it came by webhook
            # keyboard: the result heading took focus after the swap, and the form is reachable by Tab
            assert page.evaluate("document.activeElement.id") in ("test-panel-title", "")
            page.focus("#target")
            page.keyboard.press("Tab")
            assert page.evaluate("document.activeElement.dataset.testid") == "send-test"
            # a second click within the interval is refused and shown in the panel area
            page.click("[data-testid=send-test]")
            page.wait_for_selector("#test-result [data-status='429']")
            assert "wait" in page.inner_text("#test-result")

            page.get_by_role("link", name="Dispatches").first.click()
            page.wait_for_selector("[data-testid=events]")
            assert name in page.inner_text("main") and "revision 1 accepted" in page.inner_text("main")
            shot(page, "fsp-events-1280")
            page.get_by_role("link", name="Reports").first.click()
            page.wait_for_selector("[data-testid=reports]")
            assert "matches the current revision" in page.inner_text("main")
            shot(page, "fsp-reports-1280")
            assert not [e for e in page.console_errors if "Content Security Policy" in e], page.console_errors  # type: ignore[attr-defined]

        if mode == "push":
            print(f"FSP test dispatch ({mode}): click -> acknowledged shown {click_to_ack:.2f} s; ack stored "
                  f"{ack_seconds:.2f} s after the dispatch was created (webhook, panel polled every 1 s)")
            return
        with browser_page(PHONE) as page:
            sign_in(page, console)
            page.goto(console + "fsp/vens")
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            shot(page, "fsp-vens-375")
            page.goto(console + "fsp/test")
            page.get_by_role("link", name=name).click()
            page.wait_for_selector("[data-testid=test-panel][data-acked=true]")
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            shot(page, "fsp-test-375")
            page.goto(console + "fsp/events")
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            shot(page, "fsp-events-375")
            page.goto(console + "fsp/reports")
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    print(f"FSP test dispatch ({mode}): click -> acknowledged shown {click_to_ack:.2f} s; ack stored {ack_seconds:.2f} s "
          f"after the dispatch was created (VEN poll interval 0.5 s, panel polled every 1 s)")
