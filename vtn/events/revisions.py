"""The dispatch record: every version of every event of a GB program, kept (docs/gb-profile.md §5.4).

`record_revision` is the one writer: the events service calls it in the transaction of each create and
update, so a stored version always has its row and a rolled-back write leaves none. Rows are never changed
or removed; the database refuses it too (migration 0013). `history` reads them back, oldest first, each with
the acknowledgements (GB_ACK reports of the event) of its revision, decided by `gb_profile.board`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from gb_profile import board
from gb_profile import builders as b
from gb_profile import model as m
from openadr3.models import ObjectType
from vtn.audit.service import Actor, clean
from vtn.auth.privacy import ObjectFacts, Viewer, get_visible, visible
from vtn.core.errors import NotFound
from vtn.core.pagination import Page
from vtn.core.security import Principal
from vtn.core.store import format_timestamp
from vtn.events.models import EventRevisionRow, EventRow

REPORT_PAGE = 50


def _instruction(document: Mapping[str, Any]) -> m.DispatchInstruction | None:
    """The dispatch a version carries; None for the anchor event and anything the profile cannot read."""
    if b.is_info_event(document):
        return None
    try:
        return b.parse_event(document)
    except (m.ProfileError, ValueError, LookupError, TypeError):
        return None


def is_signed(document: Mapping[str, Any]) -> bool:
    """Whether a version carries a GB_SIGNATURE (interval 0, §7); whether it verifies is gb_profile.signing's matter."""
    for interval in document.get("intervals") or ():
        if isinstance(interval, Mapping) and interval.get("id") == 0:
            return any(isinstance(p, Mapping) and p.get("type") == m.P_SIGNATURE for p in interval.get("payloads") or ())
    return False


async def record_revision(
    session: AsyncSession, principal: Principal, row: EventRow, program: Mapping[str, Any]
) -> EventRevisionRow | None:
    """Keep the version of `row` just written (create or update), when its program follows the GB profile.

    Its number is the dispatch's GB_DISPATCH_REVISION; versions without one (the anchor event) count 1, 2, …
    """
    from gb_profile.validator import is_gb_program

    if not is_gb_program(program):
        return None
    ins = _instruction(row.document)
    if ins is not None:
        number = ins.revision
    else:
        count = await session.exec(select(func.count()).where(col(EventRevisionRow.event_id) == row.id))
        number = int(count.one()) + 1
    actor = Actor.of(principal)
    revision = EventRevisionRow(
        event_id=row.id, program_id=str(row.document.get("programID")), revision=number, document=dict(row.document),
        modified_at=row.modified_at, actor=clean(actor.id, 200) or "-", actor_role=clean(actor.role, 16) or "-",
        operator=row.operator, signed=is_signed(row.document),
    )
    session.add(revision)
    await session.flush()  # a refused insert fails the write, not its commit
    return revision


# --------------------------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Revision:
    """One stored version and the acknowledgements of its revision number (every one, by arrival)."""

    row: EventRevisionRow
    instruction: m.DispatchInstruction | None
    acks: tuple[board.RevisionAck, ...]

    def entry(self) -> dict[str, Any]:
        """As `GET …/admin/events/{eventID}/revisions` and `vtn gb history` show it."""
        ins = self.instruction
        return {
            "eventID": self.row.event_id, "programID": self.row.program_id, "revision": self.row.revision,
            "modificationDateTime": format_timestamp(self.row.modified_at),
            "actor": self.row.actor, "actorRole": self.row.actor_role, "signed": self.row.signed,
            "status": None if ins is None else str(ins.status),
            "instructionTime": None if ins is None else b.utc_text(ins.instruction_time),
            "event": self.row.document,
            "acknowledgements": [ack_entry(a) for a in self.acks],
        }


def ack_entry(ack: board.RevisionAck) -> dict[str, Any]:
    return {
        "reportID": ack.report_id, "result": str(ack.result), "status": str(ack.status), "reason": ack.reason,
        "receivedDateTime": b.utc_text(ack.received_time),
        "createdDateTime": None if ack.created is None else b.utc_text(ack.created),
        "latencySeconds": ack.latency_seconds, "matches": ack.matches, "superseded": ack.superseded,
    }


def _acks_by_revision(rows: list[EventRevisionRow], reports: Iterable[Mapping[str, Any]]) -> dict[int, list[board.RevisionAck]]:
    """Every GB_ACK of the dispatch by revision acknowledged, through `board.ack_status` (superseded, matches,
    latency from that revision's own instruction time)."""
    versions = [ins for ins in (_instruction(r.document) for r in rows) if ins is not None]
    if not rows or _instruction(rows[-1].document) is None:
        return {}
    out: dict[int, list[board.RevisionAck]] = {}
    for state in board.ack_status(rows[-1].document, reports, history=versions):
        for ack in state.acks:
            out.setdefault(ack.revision, []).append(ack)
    return out


async def _rows(session: AsyncSession, event_id: str) -> list[EventRevisionRow]:
    query = select(EventRevisionRow).where(col(EventRevisionRow.event_id) == event_id).order_by(col(EventRevisionRow.id))
    return list((await session.exec(query)).all())


async def history(session: AsyncSession, viewer: Viewer, event_id: str, page: Page | None = None) -> list[Revision]:
    """The versions of event `event_id`, oldest first (paged), each with its revision's acknowledgements.

    Who may read it is the privacy rule's decision on the event (404 otherwise, as for the event itself); an
    event deleted since (never a dispatch: those are not deleted) is judged on its last stored version.
    """
    from vtn.events.service import store as events
    from vtn.reports.service import list_reports

    rows = await _rows(session, event_id)
    current = await get_visible(session, viewer, events, event_id)
    if current is None and not (rows and visible(viewer, ObjectFacts(ObjectType.EVENT, rows[-1].operator, rows[-1].document))):
        raise NotFound(f"event {event_id!r} not found")
    reports: list[dict[str, Any]] = []
    while True:  # every report of the event the viewer may read (a BL: all)
        batch = await list_reports(session, viewer, None, event_id, None, Page(len(reports), REPORT_PAGE))
        reports.extend(batch)
        if len(batch) < REPORT_PAGE:
            break
    acks = _acks_by_revision(rows, reports)
    shown = rows if page is None else rows[page.skip:page.skip + page.limit]
    return [Revision(r, _instruction(r.document), tuple(acks.get(r.revision, ()))) for r in shown]
