"""A real browser uploads a readings file larger than one request may be: the page's script (static/readings.js)
sends it in chunks of 720 rows, one GB_READINGS report each, and the VTN counts every reading once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2

from gb_profile import builders as b
from gb_profile.examples import example_program
from tests.support.browser import DESKTOP, PASSWORD, add_console_user, browser_page, require_browser
from tests.support.server import running_vtn
from vtn.core.security import Role

FSP, METER = "fsp-acme", "MU-7"


def test_large_readings_file_is_uploaded_in_chunks(tmp_path: Path) -> None:
    require_browser()
    # a 200 kB request limit: the 7 200-row file (about 300 kB) cannot go in one request, its 720-row chunks can
    with running_vtn(tmp_path, env={"VTN_MAX_BODY_BYTES": "200000"}) as vtn:
        token = httpx2.post(vtn.base_url + "/auth/token", data={"grant_type": "client_credentials"},
                            auth=("op", vtn.provision("op", Role.BL))).json()["access_token"]
        api = httpx2.Client(base_url=vtn.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        program_id = api.post("/programs", json=example_program("OU_2MIN").dump()).json()["id"]
        api.post("/events", json=b.build_anchor_event(program_id, "NGED", datetime(2026, 1, 1, tzinfo=UTC)).dump())
        ven_secret = vtn.provision(FSP, Role.VEN, ven_name=FSP)
        ven_token = httpx2.post(vtn.base_url + "/auth/token", data={"grant_type": "client_credentials"},
                                auth=(FSP, ven_secret)).json()["access_token"]
        ven = httpx2.Client(base_url=vtn.base_url, headers={"Authorization": f"Bearer {ven_token}"}, timeout=30)
        ven_id = ven.post("/vens", json={"venName": FSP}).json()["id"]
        ven.post(f"/vens/{ven_id}/resources", json={"resourceName": METER}).raise_for_status()
        add_console_user(vtn.env, "fiona", "fsp", FSP)
        start = datetime(2026, 11, 1, tzinfo=UTC)
        rows = [f"{(start + timedelta(minutes=i + 1)).strftime('%Y-%m-%dT%H:%M:%SZ')},Z1,{METER},-{i % 90}.5"
                for i in range(7200)]  # five days by the minute
        csv_file = tmp_path / "month.csv"
        csv_file.write_text("Timestamp,Zone,Meterable Unit ID,Power (kW)\n" + "\n".join(rows) + "\n")
        assert csv_file.stat().st_size > 200_000  # one request could not carry it

        with browser_page(DESKTOP) as page:
            page.goto(vtn.url + "/console/")
            page.fill("#username", "fiona")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_selector("h1")
            page.goto(vtn.url + "/console/fsp/readings")
            page.set_input_files("#file", str(csv_file))
            page.click("[data-testid=upload]")
            page.wait_for_selector("[data-testid=progress]:has-text('7200 readings sent in 10 report(s)')", timeout=60_000)
        reports = [r for r in ven.get("/reports", params={"limit": 50}).json() if r["reportName"] == "GB_READINGS"]
        assert len(reports) == 10
        assert sum(len(r["resources"][0]["intervals"]) for r in reports) == 7200
