"""Playwright for the console's browser tests: headless Debian Chromium, never a downloaded browser.

`browser_page()` skips with the reason when Playwright or /usr/bin/chromium is missing, unless
`VTN_REQUIRE_BROWSER=1` (CI) turns that into a failure. Screenshots go to `ARTIFACTS`
(tests/artifacts/console/, ignored by git; override with VTN_TEST_ARTIFACTS). With VTN_UPDATE_SCREENSHOTS=1
they are also copied to docs/img/console/ for docs/console.md.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = os.environ.get("VTN_CHROMIUM", "/usr/bin/chromium")
REQUIRE_BROWSER = os.environ.get("VTN_REQUIRE_BROWSER") == "1"
ARTIFACTS = Path(os.environ.get("VTN_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "artifacts")) / "console"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 812}
UPDATE_DOCS = os.environ.get("VTN_UPDATE_SCREENSHOTS") == "1"
DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "img" / "console"
PASSWORD = "correct horse battery staple"


def add_console_user(env: dict[str, str], username: str, role: str, *vens: str) -> None:
    """With the real command, as an administrator would: `vtn users add … --password-stdin` (password PASSWORD)."""
    args = [sys.executable, "-m", "vtn.cli", "users", "add", username, "--role", role, "--password-stdin"]
    for ven in vens:
        args += ["--ven", ven]
    done = subprocess.run(args, input=PASSWORD + "\n", env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def _unavailable(reason: str) -> None:
    if REQUIRE_BROWSER:
        pytest.fail(f"VTN_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(f"{reason} (install python playwright and Debian's chromium; CI sets VTN_REQUIRE_BROWSER=1)")


def require_browser() -> None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("playwright is not installed")
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        _unavailable(f"no Chromium at {CHROMIUM}")


@contextmanager
def browser_page(viewport: dict[str, int] | None = None, **context_options: Any) -> Iterator[Page]:
    """A fresh page in its own browser context (own cookies); closed on exit."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            context = browser.new_context(viewport=viewport or DESKTOP, **context_options)
            page = context.new_page()
            errors: list[str] = []
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.console_errors = errors  # type: ignore[attr-defined]  # e.g. CSP violations, for asserts
            yield page
            context.close()
        finally:
            browser.close()


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page PNG under ARTIFACTS and return its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if UPDATE_DOCS:
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_IMAGES / path.name)
    return path
