"""Profile enforcement: programs that declare the GB profile (programType `GB_FLEX:<product>`)
are held to it, and so are their events and reports. Violations are a 400 listing rule IDs."""

from __future__ import annotations

from typing import Any

from vtn.core.errors import BadRequest


def _reject(kind: str, violations: list[Any]) -> None:
    if violations:
        rules = ", ".join(sorted({v.rule for v in violations}))
        raise BadRequest(
            f"{kind} violates the GB profile ({rules}); see docs/gb-profile.md",
            extra={"errors": [{"rule": v.rule, "field": v.path, "message": v.message} for v in violations]},
        )


def check_program(program: dict[str, Any]) -> None:
    from gb_profile.validator import is_gb_program, validate_program

    if is_gb_program(program):
        _reject("program", validate_program(program))


def check_event(event: dict[str, Any], program: dict[str, Any], previous: dict[str, Any] | None = None) -> None:
    from gb_profile.validator import is_gb_program, validate_event

    if is_gb_program(program):
        _reject("event", validate_event(event, program, previous=previous))


def check_report(
    report: dict[str, Any], event: dict[str, Any], program: dict[str, Any], own_resources: set[str] | None = None
) -> None:
    """`own_resources`: the posting VEN's resource names (None for BL), so a VEN reports only for its own units."""
    from gb_profile.validator import is_gb_program, validate_report

    if is_gb_program(program):
        _reject("report", validate_report(report, event, own_resources=own_resources))


async def grant_dispatch_targets(session: Any, event: dict[str, Any], program: Any) -> None:
    """In a GB program, dispatching to a unit is the operator's grant of it (docs/security.md).

    The targets of the dispatch other than VEN_NAME (RESOURCE_NAME, GB_CONTRACT, GB_CMZ) are added to
    the dispatch unit resource of the VEN the dispatch names (or to that ven, when it has registered
    no such resource), so the VEN named by the BL, and only it, can read the dispatch. Nothing is
    granted to any other VEN, and nothing when the ven does not exist in the program's operator.
    """
    from sqlmodel import select

    from gb_profile import model as m
    from gb_profile.validator import is_gb_program
    from openadr3.models import PROVISIONED_FIELDS
    from openadr3.targets import target_pairs
    from vtn.vens.models import ResourceRow, VenRow
    from vtn.vens.service import resources, vens

    if not is_gb_program(program.document):
        return
    pairs = target_pairs(event.get("targets"))
    fsp = sorted(v for t, v in pairs if t == m.T_VEN_NAME)
    units = sorted(v for t, v in pairs if t == m.T_RESOURCE_NAME)
    wanted = {(t, v) for t, v in pairs if t != m.T_VEN_NAME}
    if len(fsp) != 1 or not wanted:
        return  # not a dispatch (the anchor event), or refused by the validator already
    ven = (await session.exec(
        select(VenRow).where(VenRow.operator == program.operator, VenRow.ven_name == fsp[0])
    )).first()
    if ven is None:
        return
    unit = (await session.exec(
        select(ResourceRow).where(ResourceRow.ven_id == ven.id, ResourceRow.resource_name.in_(units))  # type: ignore[attr-defined]
    )).first() if units else None
    store, row = (resources, unit) if unit is not None else (vens, ven)
    if wanted <= target_pairs(row.document.get("targets")):
        return
    merged: dict[str, list[Any]] = {}
    for entry in row.document.get("targets") or ():
        merged.setdefault(entry["type"], []).extend(entry.get("values") or ())
    for target_type, value in sorted(wanted - target_pairs(row.document.get("targets"))):
        merged.setdefault(target_type, []).append(value)
    content = {k: v for k, v in row.document.items() if k not in PROVISIONED_FIELDS}
    content["targets"] = [{"type": t, "values": values} for t, values in merged.items()]
    await store.replace(session, row, content, change={"owner_ven_id": ven.id})
