"""The privacy rule is one function (`visible`); its SQL translation (`visible_clause`) must agree.

Generated programs, events, reports and resources with random tenants, targets and owners are
stored on SQLite and PostgreSQL; for generated viewers, the rows the SQL condition selects must be
exactly those the Python rule admits.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from openadr3.models import ObjectType
from vtn.auth.privacy import ObjectFacts, Viewer, facts_of, satisfies, visible, visible_clause
from vtn.core.database import Database
from vtn.core.pagination import Page
from vtn.core.security import Principal, Role
from vtn.events.service import store as events
from vtn.programs.models import is_sandbox_name
from vtn.programs.service import store as programs
from vtn.reports.service import store as reports
from vtn.vens.service import resources, vens

TYPES = ("VEN_NAME", "RESOURCE_NAME", "GROUP")
VALUES = ("a", "b", "c")
OPERATORS = ("", "NGED", "UKPN")


def random_targets(rng: random.Random) -> list[dict[str, Any]]:
    chosen = rng.sample(TYPES, rng.randint(0, len(TYPES)))
    return [{"type": t, "values": rng.sample(VALUES, rng.randint(1, 2))} for t in chosen]


def random_viewer(rng: random.Random, ven_ids: list[str]) -> Viewer:
    operator = rng.choice(OPERATORS)
    if rng.random() < 0.25:
        return Viewer(Principal("bl", Role.BL, frozenset(), operator=operator))
    granted = {(t, v) for t in TYPES for v in VALUES if rng.random() < 0.3}
    stage = rng.choice(["live", "sandbox", "unknown"])  # any stage but live sees sandbox programs only
    principal = Principal("ven", Role.VEN, frozenset(), ven_name="a", operator=operator, stage=stage)
    return Viewer(principal, rng.choice([None, *ven_ids]), granted)


def test_satisfies_is_and_over_types_or_over_values():
    granted = {("VEN_NAME", "a"), ("RESOURCE_NAME", "du-7")}
    assert satisfies([], granted)
    assert satisfies([{"type": "VEN_NAME", "values": ["b", "a"]}], granted)
    assert satisfies([{"type": "VEN_NAME", "values": ["a"]}, {"type": "RESOURCE_NAME", "values": ["du-7"]}], granted)
    assert not satisfies([{"type": "VEN_NAME", "values": ["b"]}, {"type": "RESOURCE_NAME", "values": ["du-7"]}], granted)
    assert not satisfies([{"type": "VEN_NAME", "values": ["a"]}, {"type": "GROUP", "values": ["x"]}], granted)


def test_unknown_object_types_are_denied_to_everyone():
    bl = Viewer(Principal("bl", Role.BL, frozenset()))
    facts = ObjectFacts("NOTIFIER", "", {})  # type: ignore[arg-type]
    assert not visible(bl, facts)


def test_stage_sandbox_sees_sandbox_programs_only() -> None:
    def ven(stage: str) -> Viewer:
        return Viewer(Principal("ven", Role.VEN, frozenset(), ven_name="a", stage=stage))

    sandbox, production = ObjectFacts(ObjectType.PROGRAM, "", {}, sandbox=True), ObjectFacts(ObjectType.EVENT, "", {})
    assert visible(ven("sandbox"), sandbox) and not visible(ven("sandbox"), production)
    assert visible(ven("live"), sandbox) and visible(ven("live"), production)
    assert not visible(ven("LIVE"), production)  # not exactly "live": default deny
    bl = Viewer(Principal("bl", Role.BL, frozenset(), stage="sandbox"))
    assert visible(bl, production)


def test_sql_clause_agrees_with_the_rule(database_url: str) -> None:
    asyncio.run(_agree(database_url))


async def _agree(url: str) -> None:
    rng = random.Random(20261202)
    db = Database(url)
    try:
        async with db.session() as session:
            ven_ids = []
            for index, operator in enumerate(OPERATORS):
                row = await vens.insert(session, {"venName": f"v{index}"}, ven_name=f"v{index}", operator=operator)
                ven_ids.append(row.id)
            program_ids = []
            for index in range(40):
                operator = rng.choice(OPERATORS)
                name = f"p{index}-SANDBOX" if rng.random() < 0.4 else f"p{index}"
                content = {"programName": name, "targets": random_targets(rng)}
                row = await programs.insert(session, content, program_name=name, operator=operator,
                                            sandbox=is_sandbox_name(name))
                program_ids.append((row.id, operator, row.sandbox))
            event_ids = []
            for index in range(120):
                program_id, operator, sandbox = rng.choice(program_ids)
                content = {"programID": program_id, "eventName": f"e{index}", "targets": random_targets(rng), "intervals": []}
                row = await events.insert(session, content, program_id=program_id, operator=operator, sandbox=sandbox)
                event_ids.append((row.id, program_id, operator))
            for _ in range(60):
                event_id, program_id, operator = rng.choice(event_ids)
                owner = rng.choice([None, *ven_ids])
                content = {"programID": program_id, "eventID": event_id, "clientName": "x", "resources": []}
                await reports.insert(session, content, program_id=program_id, event_id=event_id, client_name="x",
                                     owner_ven_id=owner, operator=operator)
            for index in range(30):
                ven_id = rng.choice(ven_ids)
                content = {"resourceName": f"r{index}", "venID": ven_id}
                await resources.insert(session, content, ven_id=ven_id, resource_name=f"r{index}",
                                       operator=rng.choice(OPERATORS))
        partial = 0  # viewers that see some but not all rows of a type: the test discriminates
        async with db.session(write=False) as session:
            for _ in range(60):
                viewer = random_viewer(rng, ven_ids)
                for store in (programs, events, reports, vens, resources):
                    rows = (await session.exec(store.table.__table__.select())).all()  # type: ignore[attr-defined]
                    expected = sorted(r.id for r in (store.table(**dict(row._mapping)) for row in rows)
                                      if visible(viewer, facts_of(store, r)))
                    found = sorted(d["id"] for d in await store.list_documents(
                        session, [visible_clause(viewer, store)], Page(0, 1000)))
                    assert found == expected, (store.object_type, viewer)
                    partial += 0 < len(expected) < len(rows)
        assert partial > 50
    finally:
        await db.dispose()


def test_object_type_of_every_store_is_named() -> None:
    from vtn.auth.privacy import NAMED_TYPES

    assert {s.object_type for s in (programs, events, reports, vens, resources)} | {ObjectType.SUBSCRIPTION} == set(NAMED_TYPES)
