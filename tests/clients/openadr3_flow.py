"""Run in .venv-clients (`python -I`): PyPI's `openadr3` (0.5) and `python-oa3-client` flows against a VTN.

Usage: python -I openadr3_flow.py '<json arguments>'; prints one JSON line of what each step saw.
Nothing here changes the packages: they are used as their READMEs show.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def library_flow(args: dict[str, Any]) -> dict[str, Any]:
    """`openadr3` (the entity library): token, find-or-create the ven, programs, events, report, subscription."""
    from openadr3 import create_bl_client, create_ven_client, fetch_token, success

    base, out = args["base_url"], {}
    token_url = args.get("token_url")  # 3.0.1 has no /auth/server: the library then takes the URL given
    bl_token = fetch_token(base, args["bl_id"], args["bl_secret"], token_url=token_url)
    ven_token = fetch_token(base, args["ven_id"], args["ven_secret"], token_url=token_url)
    bl, ven = create_bl_client(base, bl_token), create_ven_client(base, ven_token)
    created = bl.create_program({"programName": args["program_name"]})
    out["program_status"] = created.status_code
    program = bl.find_program_by_name(args["program_name"])
    out["program_found"] = program.id if program else None
    event = bl.create_event({"programID": program.id if program else "", "eventName": "oa3-lib-event",
                             "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [1]}]}]})
    out["event_status"] = event.status_code
    out["ven_before"] = ven.find_ven_by_name(args["ven_name"]) is not None
    out["ven_status"] = ven.create_ven({"venName": args["ven_name"]}).status_code
    found = ven.find_ven_by_name(args["ven_name"])
    out["ven_found"] = found.id if found else None
    out["programs"] = [p.id for p in ven.programs()]
    events = ven.events(programID=out["program_found"])
    out["events"] = [e.id for e in events]
    report = ven.create_report({
        **({"programID": out["program_found"]} if args["version"] == "3.0.1" else {}),  # 3.1.0: from the event
        "eventID": out["events"][0] if out["events"] else "",
        "clientName": args["ven_name"], "reportName": "oa3-lib-report",
        "resources": [{"resourceName": "AGGREGATED_REPORT",
                       "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [1]}]}]}],
    })
    out["report_status"] = report.status_code
    out["report"] = report.json() if success(report) else report.text
    out["reports"] = [r.id for r in ven.reports(eventID=out["events"][0])] if out["events"] else []
    operations = ["POST", "PUT"] if args["version"] == "3.0.1" else ["CREATE", "UPDATE"]
    sub = ven.create_subscription({
        "clientName": args["ven_name"], "programID": out["program_found"],
        "objectOperations": [{"objects": ["EVENT"], "operations": operations,
                              "callbackUrl": args["callback_url"], "bearerToken": "t"}],
    })
    out["subscription_status"] = sub.status_code
    out["subscriptions"] = [s.id for s in ven.subscriptions()]
    bl.close()
    ven.close()
    return out


def oa3_client_flow(args: dict[str, Any]) -> dict[str, Any]:
    """`python-oa3-client` (3.1 only): VenClient.start (token via /auth/server), register, poll events."""
    from openadr3_client import VenClient

    out: dict[str, Any] = {}
    with VenClient(url=args["base_url"], client_id=args["ven_id"], client_secret=args["ven_secret"]) as client:
        client.register(args["ven_name"])
        out["ven_id"] = client.ven_id
        client.register(args["ven_name"])  # idempotent: the second finds it (VEN_NAME filter)
        out["ven_id_again"] = client.ven_id
        out["program_id"] = client.resolve_program_id(args["program_name"])
        out["events"] = [e.id for e in client.poll_events(args["program_name"])]
        report = client.create_report({
            "programID": out["program_id"], "eventID": out["events"][0] if out["events"] else "",
            "clientName": args["ven_name"], "reportName": "oa3-client-report",
            "resources": [{"resourceName": "AGGREGATED_REPORT",
                           "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [1]}]}]}],
        })
        out["report_status"] = report.status_code
        out["report"] = report.json() if report.status_code < 300 else report.text
        out["notifiers"] = client.discover_notifiers()  # GET /notifiers: which transports the VTN offers
        out["mqtt"] = client.vtn_supports_mqtt()
    return out


if __name__ == "__main__":
    arguments = json.loads(sys.argv[1])
    flow = {"library": library_flow, "oa3-client": oa3_client_flow}[arguments["flow"]]
    print(json.dumps(flow(arguments)))
