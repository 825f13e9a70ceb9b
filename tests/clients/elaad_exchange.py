"""ElaadNL `openadr3-client` 2.4.2's VEN flows as the requests it sends, replayed by tests/test_clients.py.

Why a recording: the package requires Python >= 3.12 (its models use PEP 695 generics, `class
Interval[PAYLOAD: ...]`, which Python 3.11 cannot parse), and this project runs on 3.11. Each step
below was written down from the package's source (wheel 2.4.2, read 2026-12-02), file by file:

- token: `_auth/token_manager.py` uses requests-oauthlib `OAuth2Session(BackendApplicationClient)`
  `.fetch_token(token_url, client_secret=...)`: HTTP Basic (client id and secret as given), a form body
  `grant_type=client_credentials` (+ `scope` when the factory is given `scopes`), `Accept: application/json`.
  oauthlib raises "Scope has changed" when the answer's `scope` differs from a requested one.
- 3.0.1 (`oadr301/_vtn/http/*.py`): `vens.get_vens(ven_name=...)` → `GET /vens?venName=`, `create_ven(NewVen)`
  → `POST /vens` with `model_dump(by_alias=True, mode="json")` (unset optional fields as explicit nulls),
  `programs.get_programs(pagination=...)` → `GET /programs?skip=&limit=`, `events.get_events(program_id=...)`
  → `GET /events?programID=`, `reports.create_report(NewReport)` → `POST /reports`, `reports.get_reports(event_id=)`,
  `subscriptions.get_subscriptions()` (the 3.0.1 VEN client reads subscriptions only).
- 3.1.0 (`oadr310/...`): the token URL from `GET /auth/server` (`tokenURL`) when none is given, `NewVenVenRequest`
  (`objectType: VEN_VEN_REQUEST`), reports without `programID`; answers must carry `clientID` (ServerVen,
  ServerReport).
- Answers are parsed with the package's pydantic models (`ExistingVen.model_validate(...)` etc.): `RESPONSE_KEYS`
  lists the fields those models require, which the replay checks in every answer.
"""

from __future__ import annotations

from typing import Any

FORM = "application/x-www-form-urlencoded;charset=UTF-8"

# Fields the package's Existing* models require (pydantic would refuse an answer without them).
RESPONSE_KEYS: dict[str, dict[str, set[str]]] = {
    "3.0.1": {
        "ven": {"id", "createdDateTime", "modificationDateTime", "venName"},
        "program": {"id", "createdDateTime", "modificationDateTime", "programName"},
        "event": {"id", "createdDateTime", "modificationDateTime", "programID", "intervals"},
        "report": {"id", "createdDateTime", "modificationDateTime", "programID", "eventID", "clientName", "resources"},
    },
    "3.1.0": {
        "ven": {"id", "createdDateTime", "modificationDateTime", "venName", "clientID"},
        "program": {"id", "createdDateTime", "modificationDateTime", "programName"},
        "event": {"id", "createdDateTime", "modificationDateTime", "programID", "intervals"},
        "report": {"id", "createdDateTime", "modificationDateTime", "eventID", "clientName", "resources", "clientID"},
    },
}


def report_resources(resource_name: str) -> list[dict[str, Any]]:
    """`ReportResource(resource_name=..., intervals=(Interval(id=0, payloads=(ReportPayload(USAGE, (1.5,)),)),))`."""
    return [{
        "resourceName": resource_name, "intervalPeriod": None,
        "intervals": [{"id": 0, "intervalPeriod": None, "payloads": [{"type": "USAGE", "values": [1.5]}]}],
    }]


def ven_flow(version: str, ven_name: str) -> list[dict[str, Any]]:
    """The VEN flow, one dict per request: method, path (relative to the base URL; `{program}`, `{event}`
    filled in at replay), query, JSON body, the status the package accepts, and what the answer holds."""
    if version == "3.0.1":
        new_ven: dict[str, Any] = {"venName": ven_name, "attributes": None, "targets": None, "resources": None}
        new_report: dict[str, Any] = {"programID": "{program}", "eventID": "{event}", "clientName": ven_name,
                                      "reportName": None, "payloadDescriptors": None,
                                      "resources": report_resources(f"{ven_name}-unit")}
    else:
        new_ven = {"venName": ven_name, "attributes": None, "objectType": "VEN_VEN_REQUEST"}
        new_report = {"eventID": "{event}", "clientName": ven_name, "reportName": None, "payloadDescriptors": None,
                      "resources": report_resources(f"{ven_name}-unit")}
    return [
        {"method": "GET", "path": "/vens", "query": {"venName": ven_name}, "status": 200, "list": "ven", "count": 0},
        {"method": "POST", "path": "/vens", "json": new_ven, "status": 201, "object": "ven"},
        {"method": "GET", "path": "/vens", "query": {"venName": ven_name}, "status": 200, "list": "ven", "count": 1},
        {"method": "GET", "path": "/programs", "query": {"skip": 0, "limit": 50}, "status": 200, "list": "program",
         "contains": "{program}"},
        {"method": "GET", "path": "/events", "query": {"programID": "{program}"}, "status": 200, "list": "event",
         "contains": "{event}"},
        {"method": "POST", "path": "/reports", "json": new_report, "status": 201, "object": "report"},
        {"method": "GET", "path": "/reports", "query": {"eventID": "{event}"}, "status": 200, "list": "report",
         "count": 1},
        {"method": "GET", "path": "/subscriptions", "status": 200},
    ]
