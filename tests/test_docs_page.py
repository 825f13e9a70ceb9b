"""Swagger UI at /docs is served from the vendored swagger-ui-dist: no third-party host at run time."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx2
import pytest

from tests.support.server import VtnProcess, running_vtn

ASSETS = {
    "/static/swagger/swagger-ui-bundle.js": ("javascript", 1_000_000),
    "/static/swagger/swagger-ui.css": ("text/css", 100_000),
    "/static/swagger/favicon-32x32.png": ("image/png", 100),
}
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@pytest.fixture(scope="module")
def vtn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VtnProcess]:
    with running_vtn(tmp_path_factory.mktemp("docs")) as process:
        yield process


def test_docs_page_references_no_external_host(vtn: VtnProcess) -> None:
    response = httpx2.get(vtn.url + "/docs", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert re.findall(r"https?://[^\s\"'<>]+", html) == []
    for path in ASSETS:
        assert f"'{path}'" in html or f'"{path}"' in html, path
    assert "/openadr3/3.0.1/openapi.json" in html


@pytest.mark.parametrize("path", sorted(ASSETS))
def test_vendored_assets_are_served(vtn: VtnProcess, path: str) -> None:
    kind, min_size = ASSETS[path]
    response = httpx2.get(vtn.url + path, timeout=10)
    assert response.status_code == 200
    assert kind in response.headers["content-type"]
    assert len(response.content) >= min_size
    vendored = Path(__file__).parents[1] / "vtn" / "static" / "swagger" / path.rsplit("/", 1)[1]
    assert response.content == vendored.read_bytes()


def test_unknown_static_file_is_404(vtn: VtnProcess) -> None:
    assert httpx2.get(vtn.url + "/static/swagger/nope.js", timeout=10).status_code == 404
    assert httpx2.get(vtn.url + "/static/swagger/../app.py", timeout=10).status_code == 404


def test_swagger_ui_renders_offline_in_chromium(vtn: VtnProcess) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("no /usr/bin/chromium")
    hosts: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
        try:
            page = browser.new_page()
            page.on("request", lambda request: hosts.append(urlsplit(request.url).hostname or ""))
            page.goto(vtn.url + "/docs")
            # the title comes from openapi.json, so this proves the bundle ran and loaded the spec
            page.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
            title = page.inner_text(".swagger-ui .info .title")
        finally:
            browser.close()
    assert "OpenADR 3 API" in title
    assert set(hosts) <= LOOPBACK, set(hosts) - LOOPBACK
