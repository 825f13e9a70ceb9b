"""Statement pages in the console, in process: an FSP account sees and decides only its own VEN's statements (another
FSP's account gets 404 pages, as its token would in the API), an operator account only its operator's; bad form
input is a 400 page, never a 500; a prior-period ADJUSTMENT line shows the month and line it adjusts. The browser
walk-through is tests/test_console_browser_statements.py."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import vtn_test_settings
from tests.test_console_auth import csrf_of
from tests.test_isolation_console import account, as_user, page
from vtn.core.settings import Settings


@pytest.fixture
def settings(database_url: str) -> Settings:
    return vtn_test_settings(database_url, console_enabled=True, console_require_mfa=False, gb_statements=False,
                             console_signin_rate_limit=1000)


def test_statement_pages_are_per_fsp_and_per_operator(http: TestClient, clients: Any) -> None:
    bl = clients.bl(operator="NGED")
    [issued] = bl.post("/admin/gb/statements/issue", json={"month": "2027-02", "fsp": "ven-a"}).json()
    account(http, "fiona-a", "fsp", "NGED", ["ven-a"])
    account(http, "fred-b", "fsp", "NGED", ["ven-b"])
    account(http, "olive-ukpn", "operator", "UKPN")
    account(http, "olive-nged", "operator", "NGED")
    path = f"/fsp/statements/{issued['id']}"

    as_user(http, "fred-b")
    assert issued["id"] not in page(http, "/fsp/statements")
    for suffix in ("", "/csv", "/xlsx"):
        assert http.get("/console" + path + suffix).status_code == 404
    refused = http.post("/console" + path + "/reject", data={"reason": "not mine", "csrf_token": csrf_of(http)},
                        follow_redirects=False)
    assert refused.status_code == 404

    as_user(http, "olive-ukpn")
    assert issued["id"] not in page(http, "/operator/statements")
    assert http.get(f"/console/operator/statements/{issued['id']}").status_code == 404

    as_user(http, "fiona-a")
    assert issued["id"] in page(http, "/fsp/statements")
    assert http.post("/console" + path + "/reject", data={"reason": " ", "csrf_token": csrf_of(http)},
                     follow_redirects=False).status_code == 400  # a rejection needs a reason
    done = http.post("/console" + path + "/reject", data={"reason": "February was empty for us too?",
                                                          "csrf_token": csrf_of(http)}, follow_redirects=False)
    assert done.status_code == 303
    assert "DISPUTED" in page(http, path) and "February was empty for us too?" in page(http, path)
    assert http.get("/console" + path + "/csv").text.splitlines()[-1].split(",")[5:8] == ["TOTAL", "", "0.00"]

    as_user(http, "olive-nged")
    shown = page(http, f"/operator/statements/{issued['id']}")
    assert "February was empty for us too?" in shown and "DISPUTED" in shown
    bad = http.post("/console/operator/statements/issue", data={"month": "2027-13", "csrf_token": csrf_of(http)},
                    follow_redirects=False)
    assert bad.status_code == 400
    final = http.post(f"/console/operator/statements/{issued['id']}/finalise", data={"csrf_token": csrf_of(http)},
                      follow_redirects=False)
    assert final.status_code == 303
    assert "FINAL" in page(http, "/operator/statements?month=2027-02")
    again = http.post(f"/console/operator/statements/{issued['id']}/finalise", data={"csrf_token": csrf_of(http)},
                      follow_redirects=False)
    assert again.status_code == 409

    # an acceptance of February decided after February's final: March's statement pays it as an adjustment of
    # February (0.5 MW × 2 h × £10 = 10.00), shown with the month and the line it adjusts
    from datetime import UTC, datetime, timedelta

    from vtn.contracts.models import AcceptanceRow

    async def acceptances() -> None:  # February's, decided late, and one of March (an ordinary line beside it)
        async with clients.app.state.db.session() as session:
            for start, week in ((datetime(2027, 2, 10, 12, tzinfo=UTC), "2027-02-08"),
                                (datetime(2027, 3, 10, 12, tzinfo=UTC), "2027-03-08")):
                session.add(AcceptanceRow(operator="NGED", program_id="P-1", report_id="r-1", ven_name="ven-a",
                                          unit="DU-7", week=week, start=start, end=start + timedelta(hours=2),
                                          direction="TURN_DOWN", declared_kw=500.0, status="ACCEPTED", accepted_kw=500.0,
                                          awarded_price=10.0, entered_by="test",
                                          created_at=datetime(2027, 3, 20, tzinfo=UTC)))
    clients._portal_run(acceptances)
    [march] = bl.post("/admin/gb/statements/issue", json={"month": "2027-03", "fsp": "ven-a"}).json()
    assert [(line["kind"], line["amountGbp"]) for line in march["lines"]] == [("AVAILABILITY", "10.00"),
                                                                              ("ADJUSTMENT", "10.00")]
    shown = page(http, f"/operator/statements/{march['id']}")
    [february_final] = bl.get("/admin/gb/statements", params={"month": "2027-02"}).json()
    assert february_final["status"] == "FINAL"
    assert "ADJUSTMENT" in shown and "AVAILABILITY of 2027-02" in shown and february_final["id"] in shown
    assert march["totalGbp"] in shown
