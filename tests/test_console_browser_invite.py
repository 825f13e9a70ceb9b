"""A real browser follows an invitation link of a real `vtn serve`: chooses a password, enrols TOTP (the code
computed here from the secret the page shows, as an authenticator app would), then signs in with password and code."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pyotp

from tests.support.browser import DESKTOP, PASSWORD, browser_page, require_browser, screenshot
from tests.support.server import running_vtn


def invite(env: dict[str, str], username: str) -> str:
    """`vtn users invite` as an administrator runs it; the link it prints."""
    done = subprocess.run([sys.executable, "-m", "vtn.cli", "users", "invite", username, "--role", "operator"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    links = re.findall(r"http://127\.0\.0\.1:\d+/console/invite/[A-Za-z0-9_-]+", done.stdout)
    assert len(links) == 1, done.stdout
    return links[0]


def test_invitation_password_totp_enrolment_and_signin_with_a_code(tmp_path):
    require_browser()
    with running_vtn(tmp_path) as vtn:  # the default: operators must enrol a second factor
        link = invite(vtn.env, "olive")
        with browser_page(DESKTOP) as page:
            page.goto(link)
            assert page.inner_text("[data-testid=invite-user]") == "olive"
            screenshot(page, "invite-1280")
            page.fill("#password", PASSWORD)
            page.fill("#password_confirm", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url("**/console/account/two-factor")
            assert "Operator accounts need two-factor sign-in" in page.inner_text("main")
            assert page.get_by_role("navigation", name="Main").count() == 0  # nothing else to open yet
            qr = page.locator("img.qr")
            assert qr.get_attribute("src").startswith("data:image/svg+xml")  # type: ignore[union-attr]
            assert page.evaluate("document.querySelector('img.qr').naturalWidth") > 0  # drawn, not blocked by the CSP
            secret = page.inner_text("[data-testid=totp-secret]").replace(" ", "")
            screenshot(page, "two-factor-enrol-1280")
            totp = pyotp.TOTP(secret)
            page.fill("#code", totp.now())
            page.get_by_role("button", name="Turn on two-factor sign-in").click()
            page.wait_for_selector("h1:has-text('Recovery codes')")
            codes = page.locator("[data-testid=recovery-codes] li").all_inner_texts()
            assert len(codes) == 10
            screenshot(page, "two-factor-recovery-1280")
            page.get_by_role("link", name="Continue to the console").click()
            page.wait_for_selector("h1:has-text('Dashboard')")
            page.get_by_role("button", name="Sign out").click()
            page.wait_for_url("**/console/signin")

            page.fill("#username", "olive")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url("**/console/signin/code**")
            screenshot(page, "signin-code-1280")
            page.fill("#code", totp.at(time.time() + 30))  # the next step: the enrolment's code cannot be used again
            page.click("button[type=submit]")
            page.wait_for_selector("h1:has-text('Dashboard')")
            assert page.inner_text("[data-testid=signed-in-user]").startswith("olive")
            assert not [e for e in page.console_errors if "Content Security Policy" in e], page.console_errors  # type: ignore[attr-defined]

            page.goto(link)  # the link worked once
            assert "already used" in page.inner_text("main")
