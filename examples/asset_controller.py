"""A minimal asset controller driven by the reference VEN.

It turns dispatches into setpoints for one asset (a battery, say): each time an interval becomes
active it writes the setpoint to a JSON file (`ASSET_SETPOINT_FILE`, default `setpoint.json`) and prints
it; when an event is cancelled it returns to the baseline (0 kW). After each interval it reports the
"measured" power back to the VTN as a USAGE report, so the network operator sees the response.

Run it with `ven run --config examples/ven.toml` (the config names this class as handler), or
`python -m examples.asset_controller examples/ven.toml`.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from openadr3.models import Event
from ven_client import EventHandler, ScheduledInterval, VenAgent, load_config, report_resource
from ven_client.logs import setup_logging

SETPOINT_TYPES = ("DISPATCH_SETPOINT", "DISPATCH_SETPOINT_RELATIVE", "IMPORT_CAPACITY_LIMIT", "EXPORT_CAPACITY_LIMIT", "SIMPLE")


class AssetController(EventHandler):
    def __init__(self, setpoint_file: str | Path | None = None, report: bool = True) -> None:
        self.setpoint_file = Path(setpoint_file or os.environ.get("ASSET_SETPOINT_FILE", "setpoint.json"))
        self.report = report
        self.history: list[dict] = []
        self.delivered: dict[str, dict[int, float]] = {}  # event id → interval id → kW

    def write_setpoint(self, kw: float, event: Event | None, interval: ScheduledInterval | None, payload_type: str) -> None:
        record = {
            "at": datetime.now(UTC).isoformat(),
            "setpoint_kw": kw,
            "payload_type": payload_type,
            "event_id": event.id if event else None,
            "interval_id": interval.id if interval else None,
            "until": interval.end.isoformat() if interval and interval.end else None,
        }
        self.history.append(record)
        self.setpoint_file.write_text(json.dumps(record, indent=2) + "\n")
        print(f"setpoint {kw:+.1f} kW ({payload_type}) event={record['event_id']} until={record['until']}", flush=True)

    async def on_interval_active(self, event: Event, interval: ScheduledInterval) -> None:
        values = interval.values()
        payload_type = next((t for t in SETPOINT_TYPES if t in values), None)
        if payload_type is None or not values[payload_type]:
            return
        kw = float(values[payload_type][0])  # type: ignore[arg-type]
        self.write_setpoint(kw, event, interval, payload_type)
        if self.report and self.ven is not None and event.reportDescriptors:
            # A real controller would report metered power after the interval; we echo the setpoint.
            resource = next(iter(self.ven.resources), "battery-1")
            delivered = self.delivered.setdefault(event.id or "", {})
            delivered[interval.id] = kw
            try:  # one report per event, updated as intervals go by
                await self.ven.submit_report(event, [report_resource(resource, "USAGE", dict(delivered))])
            except Exception as exc:
                print(f"report failed: {exc}", file=sys.stderr)

    def on_event_cancelled(self, event: Event) -> None:
        self.write_setpoint(0.0, event, None, "CANCELLED")


async def main(config_path: str) -> None:
    config = load_config(config_path)
    setup_logging(config.ven.log_level, config.ven.json_logs)
    await VenAgent(config, AssetController()).run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "examples/ven.toml"))
