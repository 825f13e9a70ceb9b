"""A GB flexibility asset controller on the reference VEN (docs/ven.md, "GB profile").

The VEN turns each revision of a network operator's dispatch into a typed
`gb_profile.model.DispatchInstruction`, verifies the operator's signature (if `[[gb.operator_keys]]`
are configured), calls this controller, and acknowledges the revision with a read-back (signed with
`gb.signing_key`): ACCEPTED, or REJECTED with the reason returned here.

This controller drives one battery (ASSET_MAX_KW, default 50 kW): it declines setpoints beyond that,
writes the active setpoint to `ASSET_SETPOINT_FILE` (default `gb-setpoint.json`), and returns to 0 kW on
STOP, CANCELLED, EMERGENCY_STOP or deletion. Run it with

    ven run --config examples/gb-ven.toml

or `python -m examples.gb_controller examples/gb-ven.toml`.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from gb_profile.model import DispatchInstruction, DispatchStatus, Setpoint, SetpointKind
from ven_client import GbAdapter, GbController, Reject, VenAgent, load_config
from ven_client.logs import setup_logging


class BatteryController(GbController):
    def __init__(self, max_kw: float | None = None, setpoint_file: str | Path | None = None) -> None:
        self.max_kw = max_kw if max_kw is not None else float(os.environ.get("ASSET_MAX_KW", "50"))
        self.setpoint_file = Path(setpoint_file or os.environ.get("ASSET_SETPOINT_FILE", "gb-setpoint.json"))
        self.history: list[dict] = []

    def write(self, instruction: DispatchInstruction, kw: float, kind: str, note: str) -> None:
        record = {"at": datetime.now(UTC).isoformat(), "dispatch": instruction.event_name, "revision": instruction.revision,
                  "status": instruction.status.value, "setpoint_kw": kw, "kind": kind, "note": note}
        self.history.append(record)
        self.setpoint_file.write_text(json.dumps(record, indent=2) + "\n")
        print(f"{instruction.event_name} r{instruction.revision} {instruction.status.value}: {kw:+.1f} kW {kind} ({note})",
              flush=True)

    def on_dispatch(self, instruction: DispatchInstruction, previous: DispatchInstruction | None) -> Reject | None:
        too_big = [s for s in instruction.setpoints if abs(s.volume) > self.max_kw]
        if too_big:
            # The read-back tells the operator at once; the dispatch is not executed.
            return Reject(f"setpoint {too_big[0].volume} kW exceeds the unit's {self.max_kw} kW")
        if instruction.status is DispatchStatus.PRE_NOTIFY:
            print(f"{instruction.event_name}: pre-notified for {instruction.service_start:%Y-%m-%d %H:%M}Z", flush=True)
        elif instruction.status is DispatchStatus.RUN_NOW and instruction.setpoints:
            self.apply(instruction, instruction.setpoints[0])  # start at once, do not wait for the interval timer
        return None

    def on_setpoint(self, instruction: DispatchInstruction, setpoint: Setpoint) -> None:
        self.apply(instruction, setpoint)

    def apply(self, instruction: DispatchInstruction, setpoint: Setpoint) -> None:
        # DELTA: change of net import vs baseline (turn-down negative); ABSOLUTE: net import level.
        kind = "delta" if setpoint.kind is SetpointKind.DELTA else "absolute"
        self.write(instruction, setpoint.volume, kind, f"from {setpoint.timestamp:%H:%M}Z")

    def on_stop(self, instruction: DispatchInstruction, previous: DispatchInstruction | None) -> None:
        self.write(instruction, 0.0, "delta", "released")

    def on_deleted(self, instruction: DispatchInstruction) -> None:
        self.write(instruction, 0.0, "delta", "dispatch deleted")


async def main(config_path: str) -> None:
    config = load_config(config_path)
    setup_logging(config.ven.log_level, config.ven.json_logs)
    await VenAgent(config, GbAdapter(BatteryController(), config.gb)).run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "examples/gb-ven.toml"))
