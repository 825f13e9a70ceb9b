"""Bulk seeding of a VTN database for the benchmarks: programs, events, vens, clients and tokens.

Rows go in with Core `executemany` through the VTN's own table objects (so column types and
defaults are the VTN's), not through the API: seeding is not what is measured.

The shape (docs/benchmarks.md, "The VEN's poll against the ceiling"):
- `vens` VEN clients `ven-0 … ven-{n-1}`, each with its own ven object; the BL granted ven j the
  target GROUP g{j % 10} (a target on its ven object, as `PUT /vens/{id}` by a BL writes it);
- `events` events, 100 per program, event i targeted at GROUP g{i % 10}: each VEN sees 10 of the
  100 events of program 0, and a tenth of all events;
- one BL client `bench-bl`. Tokens are minted with the VTN's own signing keys (the database's).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from vtn.auth.models import ClientRow
from vtn.auth.service import DEFAULT_SCOPES, _hasher
from vtn.auth.tokens import TokenService
from vtn.core.database import Database
from vtn.core.security import Role
from vtn.core.store import format_timestamp
from vtn.core.tables import ObjectTarget
from vtn.events.models import EventRow
from vtn.programs.models import ProgramRow
from vtn.vens.models import VenRow

BATCH = 5_000
EVENTS_PER_PROGRAM = 100
GROUPS = 10
SECRET = "bench-secret"


@dataclass
class Seeded:
    program_ids: list[str]
    ven_names: list[str]


def _document(object_type: str, object_id: str, created: datetime, **content: Any) -> dict[str, Any]:
    stamp = format_timestamp(created)
    return {"id": object_id, "createdDateTime": stamp, "modificationDateTime": stamp, "objectType": object_type, **content}


def event_content(program_id: str, i: int, start: datetime) -> dict[str, Any]:
    return {
        "programID": program_id,
        "eventName": f"dispatch {i}",
        "targets": [{"type": "GROUP", "values": [f"g{i % GROUPS}"]}],
        "intervalPeriod": {"start": format_timestamp(start), "duration": "PT30M"},
        "intervals": [{"id": 0, "payloads": [{"type": "DISPATCH_SETPOINT", "values": [-250.0]}]}],
    }


async def seed(database_url: str, events: int, vens: int, operator: str = "") -> Seeded:
    db = Database(database_url)
    base = datetime.now(UTC) - timedelta(days=1)
    tick = iter(range(10**9))

    def moment() -> datetime:
        return base + timedelta(microseconds=next(tick))

    tables = {name: model.__table__ for name, model in  # type: ignore[attr-defined]
              (("program", ProgramRow), ("event", EventRow), ("ven", VenRow), ("target", ObjectTarget), ("client", ClientRow))}
    programs = [str(uuid.uuid4()) for _ in range(max(1, -(-events // EVENTS_PER_PROGRAM)))]
    try:
        async with db.engine.begin() as connection:
            rows = []
            for n, program_id in enumerate(programs):
                created = moment()
                rows.append({"id": program_id, "created_at": created, "modified_at": created, "operator": operator,
                             "targeted": False, "program_name": f"bench {n}",
                             "document": _document("PROGRAM", program_id, created, programName=f"bench {n}")})
            for start in range(0, len(rows), BATCH):
                await connection.execute(insert(tables["program"]), rows[start:start + BATCH])
            for start in range(0, events, BATCH):
                rows, targets = [], []
                for i in range(start, min(start + BATCH, events)):
                    event_id, created = str(uuid.uuid4()), moment()
                    program_id = programs[i // EVENTS_PER_PROGRAM]
                    rows.append({"id": event_id, "created_at": created, "modified_at": created, "operator": operator,
                                 "targeted": True, "program_id": program_id,
                                 "document": _document("EVENT", event_id, created, **event_content(program_id, i, created))})
                    targets.append({"object_type": "EVENT", "object_id": event_id, "type": "GROUP", "value": f"g{i % GROUPS}",
                                    "created_at": created})
                await connection.execute(insert(tables["event"]), rows)
                await connection.execute(insert(tables["target"]), targets)
            names = [f"ven-{j}" for j in range(vens)]
            rows, targets = [], []
            for j, name in enumerate(names):
                ven_id, created = str(uuid.uuid4()), moment()
                group = [{"type": "GROUP", "values": [f"g{j % GROUPS}"]}]
                rows.append({"id": ven_id, "created_at": created, "modified_at": created, "operator": operator,
                             "targeted": True, "ven_name": name,
                             "document": _document("VEN", ven_id, created, venName=name, targets=group)})
                targets.append({"object_type": "VEN", "object_id": ven_id, "type": "GROUP", "value": f"g{j % GROUPS}",
                                "created_at": created})
            if rows:
                await connection.execute(insert(tables["ven"]), rows)
                await connection.execute(insert(tables["target"]), targets)
            secret_hash = _hasher.hash(SECRET)  # one argon2 hash for every bench client: seeding is not measured
            now = datetime.now(UTC)
            clients = [{"client_id": "bench-bl", "role": Role.BL.value, "ven_name": None}] + [
                {"client_id": name, "role": Role.VEN.value, "ven_name": name} for name in names]
            await connection.execute(insert(tables["client"]), [
                {**c, "secret_hash": secret_hash, "operator": operator, "enabled": True, "created_at": now,
                 "scopes": " ".join(s.value for s in DEFAULT_SCOPES[Role(c["role"])])} for c in clients])
        if db.dialect == "postgresql":
            async with db.engine.connect() as connection:
                await connection.exec_driver_sql("ANALYZE")
                await connection.commit()
    finally:
        await db.dispose()
    return Seeded(programs, names)


async def mint_tokens(database_url: str, issuer: str, client_ids: list[str], lifetime: int = 3600) -> dict[str, str]:
    """Access tokens of the seeded clients, signed with the VTN's keys (what /auth/token would return)."""
    db = Database(database_url)
    try:
        tokens = TokenService(db, issuer, issuer, lifetime)
        out = {}
        for client_id in client_ids:
            role = Role.BL if client_id == "bench-bl" else Role.VEN
            out[client_id] = await tokens.issue(client_id, [s.value for s in DEFAULT_SCOPES[role]])
        return out
    finally:
        await db.dispose()


def event_body(program_id: str, i: int) -> str:
    """A `POST /events` body (the write workload)."""
    content = event_content(program_id, i, datetime.now(UTC))
    return json.dumps(content, separators=(",", ":"))
