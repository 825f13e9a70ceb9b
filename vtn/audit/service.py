"""Recording and reading the audit log.

`record` adds a row in the caller's transaction, so the action and its audit line commit or roll back
together: a rolled-back action leaves no line and a committed one always has its line. The same entry
goes to the `vtn.audit` logger once the transaction has committed (never for a rolled-back one).

There is deliberately no update or delete here; the database refuses them too (migration 0010).

Hooks: each audited action calls `record` (or `record_write` for API objects) once, in the service
function every caller of that action goes through (REST API, console, `vtn` command).
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from vtn.audit.models import ACTION_MAX, ACTOR_MAX, OBJECT_MAX, ROLE_MAX, TYPE_MAX, AuditRow, Outcome
from vtn.core.database import Database, utcnow
from vtn.core.pagination import Page
from vtn.core.security import Principal
from vtn.core.store import format_timestamp

log = logging.getLogger("vtn.audit")

DETAIL_MAX = 2000  # characters of JSON: the detail says what changed, it is not a copy of the object
_PENDING = "vtn_audit_pending"  # Session.info key: entries to log once the transaction commits
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Actor:
    """Who acted: `id` (client id, `console:<username>`, `cli:<os user>`) and the role it acted with."""

    id: str
    role: str
    operator: str = ""  # the tenant it acts in (vtn.auth.privacy)

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        """An API client, or a console account acting through its principal (operator → BL, FSP → VEN)."""
        return cls(principal.client_id, principal.role.value, principal.operator)

    @classmethod
    def local(cls) -> Actor:
        """The operating-system user running this process: the `vtn` command, which reaches the database directly."""
        try:
            user = getpass.getuser()
        except (OSError, KeyError):  # no login name and no passwd entry (some containers)
            user = f"uid{os.getuid()}" if hasattr(os, "getuid") else "unknown"
        return cls(f"cli:{user}", "cli")


def clean(text: str | None, limit: int) -> str | None:
    """Text as a column takes it: no control characters (PostgreSQL refuses NUL, terminals obey escapes), bounded."""
    if text is None:
        return None
    return _UNPRINTABLE.sub("?", str(text))[:limit]


def _without_nul(value: Any) -> Any:
    """PostgreSQL's JSONB refuses U+0000 in strings (and keys): it becomes '?' (on the parsed values, so an
    escaped backslash followed by the text `u0000` stays what it is)."""
    if isinstance(value, str):
        return value.replace("\x00", "?")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


def _small(detail: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not detail:
        return None
    text = json.dumps(detail, default=str, separators=(",", ":"))
    if len(text) > DETAIL_MAX:
        return {"truncated": True, "size": len(text)}
    return dict(_without_nul(json.loads(text)))


def entry(row: AuditRow) -> dict[str, Any]:
    """A row as the admin endpoint, `vtn audit list --json` and the `vtn.audit` log show it."""
    return {
        "id": row.id, "at": format_timestamp(row.at), "actor": row.actor, "actorRole": row.actor_role,
        "action": row.action, "objectType": row.object_type, "objectID": row.object_id, "outcome": row.outcome,
        "detail": row.detail, "operator": row.operator,
    }


async def record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: str | None,
    outcome: Outcome | str = Outcome.SUCCESS,
    detail: Mapping[str, Any] | None = None,
    operator: str | None = None,
) -> AuditRow:
    """Append one line in `session`'s transaction (call it after the action has been written).

    `operator`: the tenant the line belongs to (whose BL may read it); default the actor's.
    """
    row = AuditRow(
        operator=actor.operator if operator is None else operator,
        at=utcnow(),
        actor=clean(actor.id, ACTOR_MAX) or "-",
        actor_role=clean(actor.role, ROLE_MAX) or "-",
        action=clean(action, ACTION_MAX) or "-",
        object_type=clean(object_type, TYPE_MAX) or "-",
        object_id=clean(object_id, OBJECT_MAX),
        outcome=Outcome(outcome).value,
        detail=_small(detail),
    )
    session.add(row)
    await session.flush()  # the id now, and a refused insert fails the action rather than the commit
    session.sync_session.info.setdefault(_PENDING, []).append(entry(row))
    return row


async def record_apart(
    db: Database,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: str | None,
    outcome: Outcome | str,
    detail: Mapping[str, Any] | None = None,
    operator: str | None = None,
) -> None:
    """`record` in a short transaction of its own, for an attempt that fails or raises: the attempt's own
    transaction (if it has one) rolls back, and a refused attempt must still leave its line."""
    async with db.session() as session:
        await record(session, actor, action, object_type, object_id, outcome, detail, operator)


@event.listens_for(Session, "after_commit")
def _log_committed(session: Session) -> None:
    for item in session.info.pop(_PENDING, ()):
        level = logging.INFO if item["outcome"] == Outcome.SUCCESS else logging.WARNING
        log.log(level, "%s %s by %s on %s %s", item["action"], item["outcome"], item["actor"], item["objectType"],
                item["objectID"] or "-", extra={"audit": item})


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(_PENDING, None)


# --------------------------------------------------------------------------------------------- API objects

GB_UPDATE_ACTIONS = {"STOP": "gb.stop", "CANCELLED": "gb.cancel", "EMERGENCY_STOP": "gb.emergency_stop"}


def _gb_dispatch(document: Mapping[str, Any], program: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The dispatch a GB program's event carries (None for other events and the reporting anchor)."""
    from gb_profile.builders import is_info_event, parse_event
    from gb_profile.model import ProfileError
    from gb_profile.validator import is_gb_program

    if program is None or not is_gb_program(program) or is_info_event(document):
        return None
    try:
        ins = parse_event(document)
    except (ProfileError, ValueError, LookupError, TypeError):  # stored before the profile applied: a plain event
        return None
    return {"dispatchRef": ins.dispatch_ref, "revision": ins.revision, "status": str(ins.status), "fsp": ins.fsp_id,
            "unit": ins.dispatch_unit}


def write_action(operation: str, object_type: str, document: Mapping[str, Any],
                 program: Mapping[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """(action, detail) of a create/update/delete of an API object.

    GB dispatch events are named by what the revision does: `gb.dispatch` (created), `gb.revise`,
    `gb.stop`, `gb.cancel`, `gb.emergency_stop` (updated to that status). A dispatch is never deleted (VTN-GB-001).
    """
    kind = object_type.lower()
    detail: dict[str, Any] = {}
    match kind:
        case "program":
            detail = {"programName": document.get("programName"), "programType": document.get("programType")}
        case "event":
            detail = {"programID": document.get("programID"), "eventName": document.get("eventName")}
            dispatch = _gb_dispatch(document, program)
            if dispatch is not None:
                detail["gb"] = dispatch
                if operation == "create":
                    return "gb.dispatch", detail
                if operation == "update":
                    return GB_UPDATE_ACTIONS.get(dispatch["status"], "gb.revise"), detail
        case "subscription":
            urls = sorted({str(o.get("callbackUrl")) for o in document.get("objectOperations") or () if isinstance(o, dict)})
            detail = {"programID": document.get("programID"), "clientName": document.get("clientName"), "callbackUrls": urls}
    return f"{kind}.{operation}", detail


async def record_write(
    session: AsyncSession, principal: Principal, operation: str, object_type: str, document: Mapping[str, Any],
    program: Mapping[str, Any] | None = None,
) -> AuditRow:
    """Audit a create/update/delete of an API object (`document`: after the change, before it for a delete).

    `program`: the event's program document, which decides whether it is a GB dispatch.
    """
    action, detail = write_action(operation, object_type, document, program)
    return await record(session, Actor.of(principal), action, object_type.lower(), document.get("id"), Outcome.SUCCESS,
                        detail)


# --------------------------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class AuditFilter:
    since: datetime | None = None  # at or after
    actor: str | None = None  # actor and action: exact, or a prefix when ending with `*` (`console:*`, `gb.*`)
    action: str | None = None
    object_id: str | None = None
    before_id: int | None = None  # lines older than this one (the console's "older" link)
    operator: str | None = None  # one tenant's lines (API and console); None: all (the `vtn` command)


def _matches(column: Any, value: str) -> Any:
    if not value.endswith("*"):
        return column == value
    prefix = value[:-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.like(prefix + "%", escape="\\")


async def list_entries(session: AsyncSession, where: AuditFilter, page: Page, *, newest_first: bool = False) -> list[AuditRow]:
    """Rows matching every given filter, in id order (oldest first unless `newest_first`), paged."""
    if page.limit == 0:
        return []
    query = select(AuditRow)
    if where.operator is not None:
        query = query.where(col(AuditRow.operator) == where.operator)
    if where.since is not None:
        query = query.where(col(AuditRow.at) >= where.since)
    if where.actor:
        query = query.where(_matches(col(AuditRow.actor), where.actor))
    if where.action:
        query = query.where(_matches(col(AuditRow.action), where.action))
    if where.object_id:
        query = query.where(col(AuditRow.object_id) == where.object_id)
    if where.before_id is not None:
        query = query.where(col(AuditRow.id) < where.before_id)
    order = col(AuditRow.id).desc() if newest_first else col(AuditRow.id)
    return list((await session.exec(query.order_by(order).offset(page.skip).limit(page.limit))).all())
