"""A real browser signs in to the console of a real `vtn serve`, at desktop and phone width."""

from __future__ import annotations

import time

from tests.support.browser import DESKTOP, PASSWORD, PHONE, add_console_user, browser_page, require_browser, screenshot
from tests.support.server import running_vtn


def test_operator_signs_in_and_out_in_a_browser(tmp_path):
    require_browser()
    # Password-only operator here; invitation and TOTP sign-in: test_console_browser_invite.py.
    with running_vtn(tmp_path, env={"VTN_CONSOLE_REQUIRE_MFA": "false"}) as vtn:
        add_console_user(vtn.env, "olive", "operator")
        add_console_user(vtn.env, "fiona", "fsp", "ven-a")
        console = vtn.url + "/console/"

        with browser_page(DESKTOP) as page:
            page.goto(console)
            assert page.url.endswith("/console/signin")  # signed out → the sign-in form
            screenshot(page, "signin-1280")
            page.fill("#username", "olive")
            page.fill("#password", "wrong password!")
            page.click("button[type=submit]")
            assert "Sign-in failed" in page.inner_text("main")
            page.fill("#password", PASSWORD)
            started = time.monotonic()
            page.click("button[type=submit]")
            page.wait_for_selector("h1:has-text('Dashboard')")
            signin_seconds = time.monotonic() - started
            assert page.inner_text("[data-testid=signed-in-user]").startswith("olive")
            for section in ("Programs", "Dispatch", "Board", "VENs"):
                assert page.get_by_role("link", name=section).count() >= 1
            cookie = next(c for c in page.context.cookies() if c["name"] == "vtn_console")
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console"
            screenshot(page, "operator-home-1280")
            # keyboard: the first Tab reaches the skip link, and its focus is visible
            page.keyboard.press("Tab")
            assert page.evaluate("document.activeElement.className") == "skip-link"
            assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
            page.get_by_role("button", name="Sign out").click()
            page.wait_for_url("**/console/signin")
            assert "You are signed out." in page.inner_text("main")
            assert not [e for e in page.console_errors if "Content Security Policy" in e], page.console_errors  # type: ignore[attr-defined]

        with browser_page(PHONE) as page:
            page.goto(console)
            screenshot(page, "signin-375")
            page.fill("#username", "fiona")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_selector("h1:has-text('Your VENs')")
            assert "ven-a" in page.inner_text("main")
            # nothing overflows sideways at phone width
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            screenshot(page, "fsp-home-375")
            page.goto(vtn.url + "/console/operator/programs")
            assert "Not " in page.inner_text("h1")  # 403 (or 404 before stage 2) page, not operator data
    print(f"sign-in to dashboard: {signin_seconds:.2f} s")
