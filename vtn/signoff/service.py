"""Sandbox to live: submit a VEN conformance report for a sandbox client, an operator approves or rejects it.

One decision per sign-off, made once. Approval flips the client's stage to `live` in the same transaction as the
decision and its audit lines, so a client is never live without an approved sign-off on record (nor the reverse).
The report is evidence the operator judges, not proof: the VTN checks it is a complete VEN-suite report of that
VEN with nothing failed, and the operator decides (docs/conformance.md, "Sandbox to live").
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from vtn.audit import service as audit
from vtn.auth.models import ClientRow
from vtn.auth.service import clients_changed
from vtn.core.database import utcnow
from vtn.core.errors import BadRequest, Conflict, NotFound
from vtn.core.security import Role, Stage
from vtn.signoff.models import SignoffRow

MAX_REPORT_BYTES = 1_000_000  # a full VEN-suite report is tens of kB
APPROVED, REJECTED = "approved", "rejected"
PASSING = frozenset({"pass", "skip"})


def parse_report(raw: bytes | str) -> dict[str, Any]:
    """The uploaded file as JSON (400 if it is not)."""
    if len(raw) > MAX_REPORT_BYTES:
        raise BadRequest(f"the report is larger than {MAX_REPORT_BYTES} bytes; upload the --json report as written")
    try:
        report = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the report is not JSON: {exc}") from None
    if not isinstance(report, dict):
        raise BadRequest("the report is not a JSON object: upload the file `oadr-conformance ven --json` wrote")
    return report


def check_report(report: dict[str, Any], ven_name: str) -> None:
    """A VEN-suite report (`oadr-conformance ven --json`) of `ven_name`, every check of the suite run, none failed."""
    from conformance.ven_suite import VEN_CHECKS

    if report.get("suite") != "oadr-conformance" or report.get("side") != "VEN":
        raise BadRequest("not a VEN conformance report: run `oadr-conformance ven … --json report.json` and upload it")
    if report.get("venName") != ven_name:
        raise BadRequest(f"the report tests VEN {report.get('venName')!r}, not {ven_name!r}")
    results = report.get("results")
    if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
        raise BadRequest("the report has no list of results")
    outcomes = {str(r.get("id")): r.get("outcome") for r in results}
    missing = sorted(set(VEN_CHECKS) - set(outcomes))
    if missing:
        raise BadRequest(f"the report does not cover the whole VEN suite (missing {', '.join(missing)}): run it without --only")
    failed = sorted(i for i, o in outcomes.items() if o not in PASSING)
    if failed:
        raise BadRequest(f"checks not passed: {', '.join(failed)}; fix the VEN and run the suite again")
    if "pass" not in outcomes.values():
        raise BadRequest("the report passes no check")


def entry(row: SignoffRow) -> dict[str, Any]:
    """What pages and the `vtn` command show of a sign-off (the report itself only summarised)."""
    report = row.report
    return {
        "id": row.id, "clientID": row.client_id, "venName": report.get("venName"), "operator": row.operator,
        "submittedBy": row.submitted_by, "submittedAt": row.submitted_at, "decision": row.decision or "pending",
        "decidedBy": row.approved_by, "decidedAt": row.approved_at, "reason": row.reason,
        "counts": report.get("counts") or {}, "subject": report.get("subject"), "suiteVersion": report.get("suiteVersion"),
        "finished": report.get("finished"),
    }


async def _client(session: AsyncSession, operator: str, client_id: str, *, for_update: bool = False) -> ClientRow:
    query = select(ClientRow).where(ClientRow.client_id == client_id, ClientRow.operator == operator)
    row = (await session.exec(query.with_for_update() if for_update else query)).first()
    if row is None:  # another operator's client: the same answer as a missing one
        raise NotFound(f"client {client_id!r} not found")
    return row


async def ven_clients(session: AsyncSession, operator: str, ven_names: Collection[str]) -> list[ClientRow]:
    """The VEN clients of these VENs (an FSP account's), sandbox and live."""
    query = select(ClientRow).where(
        ClientRow.operator == operator, ClientRow.role == Role.VEN.value, col(ClientRow.ven_name).in_(list(ven_names)),
    ).order_by(ClientRow.client_id)
    return list((await session.exec(query)).all())


async def submit(session: AsyncSession, actor: audit.Actor, client_id: str, report: dict[str, Any],
                 ven_names: Collection[str] | None = None) -> SignoffRow:
    """Record a pending sign-off for a sandbox VEN client of the actor's operator (`ven_names`: an FSP account's
    VENs; a client of another VEN is not found)."""
    client = await _client(session, actor.operator, client_id, for_update=True)
    if ven_names is not None and client.ven_name not in ven_names:
        raise NotFound(f"client {client_id!r} not found")
    if client.role != Role.VEN.value or not client.ven_name:
        raise BadRequest(f"client {client_id!r} is not a VEN client")
    if client.stage == Stage.LIVE.value:
        raise Conflict(f"client {client_id!r} is already live")
    check_report(report, client.ven_name)
    pending = (await session.exec(select(SignoffRow.id).where(
        SignoffRow.operator == actor.operator, SignoffRow.client_id == client_id, col(SignoffRow.decision).is_(None)
    ))).first()
    if pending is not None:
        raise Conflict(f"sign-off {pending} for client {client_id!r} is still pending: wait for the operator's decision")
    row = SignoffRow(operator=actor.operator, client_id=client_id, report=report, submitted_by=actor.id,
                     submitted_at=utcnow())
    session.add(row)
    await session.flush()
    await audit.record(session, actor, "signoff.submit", "signoff", str(row.id), detail={
        "clientID": client_id, "venName": client.ven_name, "counts": report.get("counts")})
    return row


async def get(session: AsyncSession, operator: str, signoff_id: int, *, for_update: bool = False) -> SignoffRow:
    query = select(SignoffRow).where(SignoffRow.id == signoff_id, SignoffRow.operator == operator)
    row = (await session.exec(query.with_for_update() if for_update else query)).first()
    if row is None:
        raise NotFound(f"sign-off {signoff_id} not found")
    return row


async def list_signoffs(session: AsyncSession, operator: str, *, pending: bool | None = None,
                        client_ids: list[str] | None = None, limit: int = 200) -> list[SignoffRow]:
    """Newest first; `pending` True: undecided only, False: decided only."""
    query = select(SignoffRow).where(SignoffRow.operator == operator)
    if pending is not None:
        column = col(SignoffRow.decision)
        query = query.where(column.is_(None) if pending else column.is_not(None))
    if client_ids is not None:
        query = query.where(col(SignoffRow.client_id).in_(client_ids))
    return list((await session.exec(query.order_by(col(SignoffRow.id).desc()).limit(limit))).all())


async def decide(session: AsyncSession, actor: audit.Actor, signoff_id: int, approve: bool,
                 reason: str | None = None) -> SignoffRow:
    """Approve (the client goes live) or reject (it stays in the sandbox; a reason is required) a pending sign-off."""
    reason = audit.clean((reason or "").strip(), 1000) or None
    if not approve and not reason:
        raise BadRequest("say why the sign-off is rejected: the FSP sees the reason")
    row = await get(session, actor.operator, signoff_id, for_update=True)
    if row.decision is not None:
        raise Conflict(f"sign-off {signoff_id} was already {row.decision}")
    client = await _client(session, row.operator, row.client_id, for_update=True)
    row.decision, row.reason = (APPROVED if approve else REJECTED), reason
    row.approved_by, row.approved_at = actor.id, utcnow()
    session.add(row)
    await audit.record(session, actor, f"signoff.{'approve' if approve else 'reject'}", "signoff", str(row.id),
                       detail={"clientID": row.client_id, "reason": reason}, operator=row.operator)
    if approve:
        await _promote(session, actor, client, row)
    await session.flush()
    return row


async def _promote(session: AsyncSession, actor: audit.Actor, client: ClientRow, row: SignoffRow) -> None:
    if client.stage == Stage.LIVE.value:
        return
    client.stage = Stage.LIVE.value
    session.add(client)
    clients_changed(session)  # every process re-reads the client: the new stage applies to its next request
    await audit.record(session, actor, "client.promote", "client", client.client_id,
                       detail={"stage": Stage.LIVE.value, "signoff": row.id}, operator=client.operator)


async def promote(session: AsyncSession, client_id: str, signoff_id: int, actor: audit.Actor | None = None) -> SignoffRow:
    """`vtn clients promote`: approve the client's pending sign-off (or apply an approved one) as the local user."""
    client = await session.get(ClientRow, client_id)
    if client is None:
        raise NotFound(f"client {client_id!r} not found")
    actor = actor or audit.Actor.local()
    actor = audit.Actor(actor.id, actor.role, client.operator)
    row = await get(session, client.operator, signoff_id, for_update=True)
    if row.client_id != client_id:
        raise BadRequest(f"sign-off {signoff_id} is for client {row.client_id!r}, not {client_id!r}")
    if row.decision == REJECTED:
        raise Conflict(f"sign-off {signoff_id} was rejected: the client stays in the sandbox")
    if row.decision is None:
        return await decide(session, actor, signoff_id, approve=True)
    await _promote(session, actor, client, row)
    return row
