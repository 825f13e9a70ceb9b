"""A real `vtn serve` with JSON logs: its audit lines reach the log as JSON, and an operator reads them on the
console's Audit page in a real browser (desktop and phone width); an FSP account is refused the page."""

from __future__ import annotations

import json

import httpx2
import pytest

from tests.support.browser import DESKTOP, PASSWORD, PHONE, add_console_user, browser_page, require_browser, screenshot
from tests.support.server import running_vtn
from vtn.core.security import Role

pytestmark = pytest.mark.slow


def test_serve_logs_audit_lines_as_json_and_the_operator_reads_them_in_the_browser(tmp_path):
    require_browser()
    env = {"VTN_LOG_LEVEL": "info", "VTN_LOG_FORMAT": "json", "VTN_CONSOLE_REQUIRE_MFA": "false"}
    with running_vtn(tmp_path, env=env) as vtn:
        add_console_user(vtn.env, "olive", "operator")
        add_console_user(vtn.env, "fiona", "fsp", "ven-a")
        secret = vtn.provision("ops-bl", Role.BL)
        token = httpx2.post(vtn.base_url + "/auth/token", data={"grant_type": "client_credentials"},
                            auth=("ops-bl", secret)).json()["access_token"]
        created = httpx2.post(vtn.base_url + "/programs", json={"programName": "audited"},
                              headers={"Authorization": f"Bearer {token}"})
        assert created.status_code == 201
        console = vtn.url + "/console/"

        with browser_page(DESKTOP) as page:
            page.goto(console)
            page.fill("#username", "olive")
            page.fill("#password", "wrong password!")
            page.click("button[type=submit]")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_selector("h1:has-text('Dashboard')")
            page.get_by_role("link", name="Audit").first.click()
            page.wait_for_selector("h1:has-text('Audit')")
            table = page.inner_text("[data-testid=audit]")
            for expected in ("program.create", "ops-bl", "console.signin", "failure", "wrong-password", "user.add"):
                assert expected in table, expected
            assert "GMT" in table or "BST" in table
            screenshot(page, "operator-audit-1280")
            page.fill("#action", "console.*")
            page.click("form[role=search] button[type=submit]")
            page.wait_for_url("**/operator/audit?*")
            filtered = page.inner_text("[data-testid=audit]")
            assert "console.signin" in filtered and "program.create" not in filtered
            assert not [e for e in page.console_errors if "Content Security Policy" in e], page.console_errors  # type: ignore[attr-defined]

        with browser_page(PHONE) as page:
            page.goto(console)
            page.fill("#username", "olive")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_selector("h1:has-text('Dashboard')")
            page.goto(console + "operator/audit")
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scroll
            screenshot(page, "operator-audit-375")

        with browser_page(DESKTOP) as page:
            page.goto(console)
            page.fill("#username", "fiona")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_selector("h1:has-text('Your VENs')")
            page.goto(console + "operator/audit")
            assert "Not " in page.inner_text("h1") and "program.create" not in page.inner_text("main")

    logged = [json.loads(line) for line in vtn.log_path.read_text().splitlines() if line.startswith("{")]
    assert any(e["logger"] == "vtn" and e["message"].startswith("VTN serving") for e in logged)
    audit = [e["audit"] for e in logged if e["logger"] == "vtn.audit"]
    assert {("program.create", "ops-bl", "success"), ("console.signin", "console:olive", "failure"),
            ("console.signin", "console:olive", "success")} <= {(a["action"], a["actor"], a["outcome"]) for a in audit}
