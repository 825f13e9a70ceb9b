"""The operator's console end to end, in a real browser against a real `vtn serve` and a real reference VEN.

An operator signs in, creates a program from the GB catalogue, dispatches to the FSP's dispatch unit;
the reference VEN (ven_client agent + GbAdapter, in a thread) acknowledges; the board shows the
acknowledgement without a reload; the VEN's meter readings appear in the delivery chart; an emergency
stop reaches the VEN's controller. Screenshots of each step go to the test artefacts folder.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gb_profile import model as m
from gb_profile.settlement import LONDON
from gb_profile.signing import generate_key, public_jwk
from tests.support.browser import DESKTOP, PASSWORD, PHONE, add_console_user, browser_page, require_browser, screenshot
from tests.support.gb_ven import RecordingController, running_gb_ven
from tests.support.server import running_vtn
from ven_client.config import GbSettings, OperatorKeyConfig
from vtn.core.security import Role

pytestmark = pytest.mark.slow


class HeldController(RecordingController):
    """Holds the first dispatch until the test has seen it awaiting acknowledgement on the board."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()  # set by the test thread

    async def on_dispatch(self, instruction: m.DispatchInstruction, previous: m.DispatchInstruction | None) -> None:
        if not self.dispatched:
            await asyncio.to_thread(self.release.wait, 60)
        self.dispatched.append(instruction)


def local(moment: datetime) -> str:
    return moment.astimezone(LONDON).strftime("%Y-%m-%dT%H:%M")


def ack_text(page: Any, event_id: str) -> str:
    return str(page.inner_text(f"[data-testid='ack-{event_id}']"))


def wait_for_ack(page: Any, event_id: str, text: str) -> None:
    """Wait for the board's live refresh to show `text` in the dispatch's acknowledgement cell (no eval: CSP)."""
    page.wait_for_selector(f"[data-testid='ack-{event_id}'] [data-ack=latest]:has-text('{text}')", timeout=20_000)


def dispatch_from_form(page: Any, console: str, program_id: str, ref: str, start: datetime) -> None:
    page.goto(console + "operator/dispatch")
    page.select_option("#program_id", program_id)
    page.select_option("#units", ["fsp-1|DU-1"])
    page.fill("#ref", ref)
    page.fill("#start", local(start))
    page.fill("#end", local(start + timedelta(minutes=10)))
    page.fill("#volume", "100")
    page.check("#direction-down")
    page.select_option("#status", "RUN")


def test_operator_dispatches_watches_the_ack_reads_delivery_and_stops(tmp_path):
    require_browser()
    controller = HeldController()
    # The VTN signs dispatches with the operator's key; the VEN requires and verifies it and signs its reports (§7).
    key = generate_key("nged-console-e2e")
    (tmp_path / "nged.pem").write_bytes(key.as_pem(private=True))
    (tmp_path / "nged.jwk").write_text(json.dumps({"keys": [public_jwk(key)]}))
    fsp_key = generate_key("fsp-1-e2e")  # acknowledgements of signed dispatches must be signed (GB-R-009)
    (tmp_path / "fsp.pem").write_bytes(fsp_key.as_pem(private=True))
    gb = GbSettings(fsp_id="fsp-1", require_signature=True, signing_key=tmp_path / "fsp.pem", signing_kid="fsp-1-e2e",
                    operator_keys=[OperatorKeyConfig(operator="NGED", file=tmp_path / "nged.jwk")])
    signing = {"VTN_GB_SIGNING_KEY_FILE": str(tmp_path / "nged.pem"), "VTN_GB_SIGNING_KID": "nged-console-e2e",
               "VTN_CONSOLE_REQUIRE_MFA": "false"}  # password-only operator; TOTP: test_console_browser_invite.py
    with running_vtn(tmp_path, env=signing) as vtn:
        add_console_user(vtn.env, "olive", "operator")
        secret = vtn.provision("fsp-1", Role.VEN, ven_name="fsp-1")
        console = vtn.url + "/console/"
        with running_gb_ven(vtn, "fsp-1", secret, controller=controller, resources=["DU-1", "MU-1"], poll_interval=0.5,
                            gb=gb) as ven, \
                browser_page(DESKTOP, locale="en-GB", timezone_id="Europe/London") as page:
            page.on("dialog", lambda dialog: dialog.accept())  # the data-confirm of the emergency stop form
            page.goto(console)
            page.fill("#username", "olive")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_selector("h1:has-text('Dashboard')")

            # 1. a program from the catalogue
            page.get_by_role("link", name="Programs").first.click()
            page.select_option("#product", "DYNAMIC")
            page.select_option("#operator", "NGED")
            page.get_by_role("button", name="Create program").click()
            page.wait_for_selector("text=Program NGED-DYNAMIC created.")
            screenshot(page, "operator-programs-1280")
            program_id = page.get_attribute("a.button:has-text('Dispatch')", "href").split("program=")[1]  # type: ignore[union-attr]

            # 2. a dispatch to the VEN's resource, previewed first (Dynamic: 15 minutes' notice)
            start = (datetime.now(UTC) + timedelta(minutes=20)).replace(second=0, microsecond=0)
            dispatch_from_form(page, console, program_id, "E2E-1", start)
            unlabelled = page.evaluate("""() => [...document.querySelectorAll('main input:not([type=hidden]), main select')]
                .filter(el => !el.labels || el.labels.length === 0).map(el => el.name)""")
            assert unlabelled == []  # every field has a label
            page.focus("#cmz")
            page.keyboard.press("Tab")  # keyboard order: the last field, then the preview and send buttons
            assert page.evaluate("document.activeElement.id") == "preview-button"
            assert "nged-console-e2e" in page.inner_text("[data-testid=signing]")
            page.get_by_role("button", name="Preview the event").click()
            page.wait_for_selector("[data-testid=preview-json]")
            assert '"eventName": "NGED:E2E-1"' in page.inner_text("[data-testid=preview-json]")
            screenshot(page, "operator-dispatch-1280")
            page.get_by_role("button", name="Send dispatch").click()
            page.wait_for_url("**/operator/board")
            event_id = page.get_attribute("tr[data-event-id]", "data-event-id")
            assert event_id
            # the VEN holds its acknowledgement: the board shows the dispatch awaiting it
            assert "awaiting rev 1" in ack_text(page, event_id)
            page.evaluate("window.__notReloaded = true")
            screenshot(page, "operator-board-awaiting-1280")
            released = time.monotonic()
            controller.release.set()
            wait_for_ack(page, event_id, "rev 1 ACCEPTED")
            held_seconds = time.monotonic() - released
            assert page.evaluate("window.__notReloaded") is True  # the DOM changed in place: no reload
            assert "rev 1 ACCEPTED" in ack_text(page, event_id) and "fsp-1 / DU-1" in ack_text(page, event_id)
            screenshot(page, "operator-board-1280")

            # A second dispatch, not held: submit → acknowledgement shown, as an operator sees it.
            dispatch_from_form(page, console, program_id, "E2E-2", start)
            submitted = time.monotonic()
            page.get_by_role("button", name="Send dispatch").click()
            page.wait_for_url("**/operator/board")
            second_id = page.get_attribute("tr[data-event-id]:has-text('NGED:E2E-2')", "data-event-id")
            assert second_id
            wait_for_ack(page, second_id, "rev 1 ACCEPTED")
            submit_to_ack = time.monotonic() - submitted

            # board at phone width: nothing overflows sideways
            page.set_viewport_size(PHONE)
            page.wait_for_timeout(300)
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            screenshot(page, "operator-board-375")
            for path in ("programs", "dispatch", "vens", "stop?all=1", f"dispatches/{event_id}/delivery",
                         f"dispatches/{event_id}/revise"):
                page.goto(console + "operator/" + path)
                assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], path
            page.goto(console + "operator/board")
            page.set_viewport_size(DESKTOP)

            # 3. readings from the VEN → the delivery chart
            readings = [m.MeterReading("MU-1", start + timedelta(minutes=i), m.ReadingKind.POWER_KW, v)
                        for i, v in enumerate([410.0, 400.0, 395.0, 400.0, 405.0, 390.0, 400.0, 400.0, 398.0, 402.0])]
            ven.call(ven.adapter.reporter.send_readings(readings, event_id=event_id))
            page.click(f"tr[data-event-id='{event_id}'] a:has-text('Delivery')")
            page.wait_for_url(f"**/dispatches/{event_id}/delivery")
            page.fill("#baseline_kw", "500")
            page.get_by_role("button", name="Apply").click()
            page.wait_for_selector("#delivery-chart[data-ready=true] canvas")
            assert page.get_attribute("#delivery-chart", "data-points") == "10"
            delivered = page.inner_text("[data-testid=delivered-kwh]")
            assert delivered == "16.667 kWh", delivered  # 1000 kW·min / 60 below a 500 kW baseline
            screenshot(page, "operator-delivery-1280")
            csv_text = page.request.get(vtn.url + f"/console/operator/dispatches/{event_id}/delivery.csv?baseline_kw=500").text()
            assert csv_text.startswith("time_utc,") and len(csv_text.strip().splitlines()) == 11

            # 4. the VENs page
            page.get_by_role("link", name="VENs").first.click()
            page.wait_for_selector("[data-testid=vens] >> text=fsp-1")
            assert "DU-1" in page.inner_text("[data-testid=vens]")
            screenshot(page, "operator-vens-1280")

            # 5. emergency stop of everything, confirmed; it reaches the VEN
            page.get_by_role("link", name="Board").first.click()
            page.get_by_role("link", name="Emergency stop…").click()
            page.wait_for_selector("[data-testid=stop-targets]")
            assert "NGED:E2E-1" in page.inner_text("[data-testid=stop-targets]")
            screenshot(page, "operator-stop-1280")
            stop_clicked = time.monotonic()
            page.click("#confirm-stop")
            page.wait_for_url("**/operator/board")
            ven.wait_for(lambda: len(controller.stopped) >= 2, what="the EMERGENCY_STOP at the VEN's controller")
            stop_reached = time.monotonic() - stop_clicked
            assert not controller.refused and all(i.signature for i in controller.dispatched + controller.stopped)
            assert {(i.dispatch_ref, i.status) for i in controller.stopped} == {
                ("E2E-1", m.DispatchStatus.EMERGENCY_STOP), ("E2E-2", m.DispatchStatus.EMERGENCY_STOP)}
            wait_for_ack(page, event_id, "rev 2 ACCEPTED")
            screenshot(page, "operator-board-stopped-1280")

            # 6. the FSP's own emergency stop of DU-1: an alarm appears on the open board (no reload), then clears
            ven.call(ven.adapter.reporter.send_emergency_stop(["DU-1"], "battery inverter trip", operator_id="NGED"))
            page.wait_for_selector("[data-testid=fsp-estop-alarms] >> text=fsp-1 / DU-1", timeout=10000)
            assert "battery inverter trip" in page.inner_text("[data-testid=fsp-estop-alarms]")
            assert page.get_attribute("[data-testid=fsp-estop-alarms]", "role") == "alert"
            screenshot(page, "operator-board-fsp-estop-1280")
            ven.call(ven.adapter.reporter.send_emergency_stop(["DU-1"], "inverter replaced", operator_id="NGED",
                                                              cleared=True))
            page.wait_for_selector("[data-testid=fsp-estop-alarms]", state="detached", timeout=10000)
            assert not [e for e in page.console_errors if "Content Security Policy" in e], page.console_errors  # type: ignore[attr-defined]
    print(f"\nsubmit → acknowledgement shown on the board: {submit_to_ack:.2f} s (VEN polling every 0.5 s, board every 2 s); "
          f"held ack released → shown without reload: {held_seconds:.2f} s; emergency stop click → VEN controller: "
          f"{stop_reached:.2f} s")
