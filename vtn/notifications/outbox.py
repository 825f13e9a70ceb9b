"""Matching changes to subscriptions and writing the transactional outbox.

`on_change` is a change listener: it runs inside the write transaction of every create, update
and delete, so outbox rows (and the ETag revisions of the changed object types, bumped just
before the commit) commit or roll back with the change.

Matching (checklist C.2), for each subscription S and each entry E of S.objectOperations:
1. the object's type is in E.objects and the operation is in E.operations;
2. objects that belong to a program (PROGRAM id, EVENT/REPORT/SUBSCRIPTION programID) match
   only subscriptions of that program; VEN and RESOURCE ignore S.programID, and so does a
   PROGRAM CREATE (S.programID is required and names an existing program, so it can never
   name a new one: such subscriptions could otherwise never fire);
3. S.targets is empty, or the object matches every S.targets entry with the filter rule of
   `openadr3.targets` (same type, at least one shared value);
4. privacy: a subscription gets only objects its owner may read (`vtn.auth.privacy.visible`, the
   rule GETs use): never another operator's, and for a VEN's only what its grants allow.
One notification goes to each distinct callbackUrl of a subscription.

Deleting a program deletes its subscriptions first (foreign key), then its reports, events and
the program itself. `remember_cascade` keeps those subscriptions for the rest of the
transaction, so the DELETE notifications of the cascade still reach them (otherwise nobody
would ever learn that a program, and the events in it, were deleted).
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from typing import Any

from sqlalchemy import and_, delete, event, insert, or_, text, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from openadr3.convert import V310, notification_to_v31, to_v31
from openadr3.models import NOTIFICATION_OPERATION, ObjectType, Operation
from openadr3.targets import TargetPair, matches_filter, value_key
from vtn.auth.privacy import ObjectFacts, Viewer, viewer_for_subscription, visible
from vtn.core.changes import Change, add_change_listener
from vtn.core.database import utcnow
from vtn.notifications import mqtt
from vtn.notifications.models import OutboxRow, OutboxStatus
from vtn.subscriptions import revisions
from vtn.subscriptions.models import SubscriptionRow

log = logging.getLogger("vtn.notifications")
OutboxTable = OutboxRow.__table__  # type: ignore[attr-defined]

PG_CHANNEL = "vtn_outbox"
PROGRAM_SCOPED = {ObjectType.PROGRAM, ObjectType.EVENT, ObjectType.REPORT, ObjectType.SUBSCRIPTION}
LEGACY_OPERATIONS = {"GET": "READ", "POST": "CREATE", "PUT": "UPDATE"}

# In-process wake-ups (the delivery workers of this process), called after a commit that
# wrote outbox rows. Other processes are woken by pg_notify (PostgreSQL).
_wakers: set[Callable[[], None]] = set()


def add_waker(waker: Callable[[], None]) -> None:
    _wakers.add(waker)


def remove_waker(waker: Callable[[], None]) -> None:
    _wakers.discard(waker)


def wake_local() -> None:
    for waker in list(_wakers):
        try:
            waker()
        except Exception:  # pragma: no cover - a closed loop of a stopped app
            log.debug("waker failed", exc_info=True)


def change_program_id(change: Change) -> str | None:
    if change.object_type == ObjectType.PROGRAM:
        return change.document.get("id") or change.program_id
    if change.object_type in PROGRAM_SCOPED:
        return change.document.get("programID") or change.program_id
    return None


def targets_match(subscription_targets: Iterable[Mapping[str, Any]] | None, object_targets: Any) -> bool:
    """Every subscription target entry must be matched by the object (filter rule, OR over values)."""
    for entry in subscription_targets or ():
        values = [k for k in (value_key(v) for v in entry.get("values") or ()) if k is not None]
        if not matches_filter(object_targets, entry["type"], values):
            return False
    return True


def entry_matches(entry: Mapping[str, Any], object_type: ObjectType, operation: Operation) -> bool:
    operations = {LEGACY_OPERATIONS.get(str(o), str(o)) for o in entry.get("operations") or ()}
    return object_type.value in {str(o) for o in entry.get("objects") or ()} and operation.value in operations


def callback_key(subscription_id: str, url: str) -> str:
    return hashlib.sha256(f"{subscription_id}\n{url}".encode()).hexdigest()[:32]


def without_bearer_tokens(document: dict[str, Any]) -> dict[str, Any]:
    """A subscription document with its webhook secrets removed (for anyone but its creator)."""
    operations = [{k: v for k, v in entry.items() if k != "bearerToken"} for entry in document.get("objectOperations") or ()]
    return {**document, "objectOperations": operations}


def notification_body(change: Change) -> str:
    document = change.document
    if change.object_type == ObjectType.SUBSCRIPTION:  # its creator knows its tokens; nobody else may learn them
        document = without_bearer_tokens(document)
    body: dict[str, Any] = {
        "objectType": change.object_type.value,
        "operation": NOTIFICATION_OPERATION[change.operation].value,
        "object": document,
    }
    if change.document.get("targets"):
        body["targets"] = change.document["targets"]
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def notification_body_31(change: Change, keep: AbstractSet[TargetPair] | None = None) -> str:
    """The OpenADR 3.1.0 notification of `change` (CRUD operation, the object in its 3.1.0 form); `keep`: the
    targets a VEN subscriber is shown of a program or event (3.1.0 target hiding; None: all, for BL)."""
    document = change.document
    if change.object_type == ObjectType.SUBSCRIPTION:
        document = without_bearer_tokens(document)
    body = notification_to_v31(
        {"objectType": change.object_type.value, "operation": NOTIFICATION_OPERATION[change.operation].value,
         "targets": change.document.get("targets")},
        to_v31(change.object_type.value, document, change.extra, keep=keep),
        keep,
    )
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def program_scoped(change: Change) -> bool:
    """Whether `change` matches only the subscriptions of its program."""
    if change.object_type == ObjectType.PROGRAM and change.operation == Operation.CREATE:
        return False
    return change.object_type in PROGRAM_SCOPED


def remember_cascade(session: AsyncSession, program_id: str, rows: Iterable[SubscriptionRow]) -> None:
    """Keep `rows` (subscriptions of `program_id` about to be deleted with it) as candidates for
    the changes of that program in the rest of this transaction."""
    cascade = _transaction_state(session).setdefault("cascade", {}).setdefault(program_id, {})
    for row in rows:
        cascade.setdefault(row.id, (
            (row.created_at, row.id, row.owner_ven_id, row.owner_client_id, row.document, row.extra), row.object_types,
        ))


async def candidate_subscriptions(session: AsyncSession, change: Change) -> list[Any]:
    """Subscriptions naming the object type (and its program): an index lookup, not a scan.

    Only the columns matching needs (id, owners, document), not ORM objects: a fan-out to
    10 000 subscriptions would otherwise spend most of its time building them. Only the
    subscriptions of the change's operator are candidates.
    """
    S = SubscriptionRow
    object_type = change.object_type.value
    query = select(S.created_at, S.id, S.owner_ven_id, S.owner_client_id, S.document, S.extra).where(
        S.operator == change.operator, col(S.object_types).contains(f",{object_type},")
    )
    cascade: dict[str, Any] = {}
    if program_scoped(change):
        program_id = change_program_id(change)
        if program_id is None:
            return []
        # a 3.1.0 subscription without programID hears of every program's objects (those its owner may read)
        query = query.where(or_(S.program_id == program_id, col(S.program_id).is_(None)))
        cascade = _transaction_state(session).get("cascade", {}).get(program_id, {})
    rows = (await session.exec(query.order_by(col(S.created_at), col(S.id)))).all()
    if cascade:  # subscriptions this transaction deleted together with their program
        found = {row[1] for row in rows}
        extra = [c for c, types in cascade.values() if c[1] not in found and f",{object_type}," in types]
        rows = sorted([*rows, *extra], key=lambda r: (r[0], r[1]))
    return [row[1:] for row in rows]


async def match_change(session: AsyncSession, change: Change) -> list[dict[str, Any]]:
    """The outbox rows `change` produces, as column values for one bulk INSERT."""
    rows: list[dict[str, Any]] = []
    viewers: dict[tuple[str, str | None, str | None], Viewer] = {}
    now = utcnow()
    body: str | None = None
    bodies_31: dict[AbstractSet[TargetPair] | None, str] = {}  # one serialisation per (change, shown targets)
    object_type = change.object_type.value
    operation = NOTIFICATION_OPERATION[change.operation].value
    facts = ObjectFacts(change.object_type, change.operator, change.document, change.owner_ven_id, change.sandbox)
    for subscription_id, owner_ven_id, owner_client_id, document, extra in await candidate_subscriptions(session, change):
        if not targets_match(document.get("targets"), change.document.get("targets")):
            continue
        viewer = await viewer_for_subscription(session, change.operator, owner_ven_id, owner_client_id, viewers)
        if not visible(viewer, facts):
            continue
        seen: set[str] = set()
        for entry in document.get("objectOperations") or ():
            url = entry.get("callbackUrl")
            if not url or url in seen or not entry_matches(entry, change.object_type, change.operation):
                continue
            seen.add(url)
            if (extra or {}).get("apiVersion") == V310:  # made through the 3.1.0 API: told in 3.1.0 form
                keep = None if viewer.is_bl else viewer.granted
                if keep not in bodies_31:
                    bodies_31[keep] = notification_body_31(change, keep)
                chosen = bodies_31[keep]
            else:
                body = body or notification_body(change)  # one serialisation per change, shared by all rows
                chosen = body
            rows.append({
                "message_id": "msg_" + uuid.uuid4().hex,
                "subscription_id": subscription_id,
                "operator": change.operator,
                "callback_key": callback_key(subscription_id, url),
                "callback_url": url,
                "bearer_token": entry.get("bearerToken"),
                "object_type": object_type,
                "operation": operation,
                "body": chosen,
                "transport": "webhook",
                "topics": None,
                "status": OutboxStatus.PENDING,
                "attempts": 0,
                "created_at": now,
                "next_attempt_at": now,
            })
    return rows


VERB_OPERATION = {"POST": Operation.CREATE, "PUT": Operation.UPDATE, "DELETE": Operation.DELETE}
REFUSED_STATUSES = (401, 403)  # dead-lettered at once by the worker (refused credentials)


def _destination(entries: list[Mapping[str, Any]], old_entries: list[Mapping[str, Any]], url: str,
                 object_type: ObjectType, operation: Operation) -> tuple[str, str | None] | None:
    """Where a queued notification for `url` goes under the subscription's new `entries`: the same URL
    with its current token if an entry still wants it there, else the URL of the entry that replaced the
    old one (same position in objectOperations), else nowhere (None)."""
    wanted = [e for e in entries if e.get("callbackUrl") and entry_matches(e, object_type, operation)]
    for entry in wanted:
        if entry["callbackUrl"] == url:
            return url, entry.get("bearerToken")
    for index, old in enumerate(old_entries):
        if old.get("callbackUrl") == url and index < len(entries) and entries[index] in wanted:
            return str(entries[index]["callbackUrl"]), entries[index].get("bearerToken")
    return None


async def readdress_outbox(session: AsyncSession, subscription_id: str, old: Mapping[str, Any],
                           new: Mapping[str, Any]) -> None:
    """After a PUT of a subscription: its undelivered notifications go to its *current* callbacks.

    Outbox rows copy the callbackUrl and bearerToken at write time, so a subscriber that restarted with a
    new token (or URL) and updated its subscription would otherwise be sent the old token until the rows
    died, and answer 401 to each. Pending and in-flight rows take the new address and token and are due
    at once (the subscriber just showed it is alive); rows dead-lettered because the receiver refused
    the old credentials (401/403) are queued again when those credentials changed. Rows whose
    notification the subscription no longer asks for are dropped. Runs in the PUT's transaction.
    """
    table = OutboxTable
    c = table.c
    live = c.status.in_([OutboxStatus.PENDING, OutboxStatus.IN_FLIGHT])
    refused = and_(c.status == OutboxStatus.DEAD, c.last_status.in_(REFUSED_STATUSES))
    rows = (await session.exec(  # type: ignore[call-overload]
        select(c.id, c.status, c.callback_url, c.bearer_token, c.object_type, c.operation)
        .where(c.subscription_id == subscription_id, or_(live, refused))
    )).all()
    if not rows:
        return
    entries = list(new.get("objectOperations") or ())
    old_entries = list(old.get("objectOperations") or ())
    now = utcnow()
    dropped: list[int] = []
    woke = False
    for row_id, status, url, token, object_type, verb in rows:
        try:
            where = _destination(entries, old_entries, url, ObjectType(object_type), VERB_OPERATION[verb])
        except (KeyError, ValueError):
            where = None
        if where is None:
            dropped.append(row_id)
            continue
        new_url, new_token = where
        values: dict[str, Any] = {"callback_url": new_url, "bearer_token": new_token,
                                  "callback_key": callback_key(subscription_id, new_url)}
        if status == OutboxStatus.DEAD:
            if (new_url, new_token) == (url, token):
                continue  # still the credentials the receiver refused
            values |= {"status": OutboxStatus.PENDING, "attempts": 0, "created_at": now, "last_error": None,
                       "last_status": None}
        if status != OutboxStatus.IN_FLIGHT:
            values["next_attempt_at"] = now
        await session.exec(update(table).where(c.id == row_id).values(**values))  # type: ignore[call-overload]
        woke = True
    if dropped:
        await session.exec(delete(table).where(c.id.in_(dropped)))  # type: ignore[call-overload]
    if woke:
        await notify_workers(session)


async def purge_outbox(session: AsyncSession, subscription_id: str) -> None:
    """A subscription deleted by its owner takes its undelivered notifications with it (called before the
    delete, so the notifications the delete itself produces are kept)."""
    await session.exec(delete(OutboxTable).where(OutboxTable.c.subscription_id == subscription_id))  # type: ignore[call-overload]


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name  # type: ignore[union-attr]


def _bump_before_commit(sync_session: Any) -> None:
    """Bump the revision of every object type this transaction changed, as its last statement.

    Last, and in name order: a writer then never holds a revision row while it waits for another
    lock, so two writers cannot deadlock on them (PostgreSQL), and the hot rows are held only
    for the commit. `revisions.bump` also hands the new values to this process (and, on
    PostgreSQL, announces them to the others) once the commit is through.
    """
    state = sync_session.info.get("vtn_notifications")
    if not state or state["transaction"] is not sync_session.get_transaction():
        return  # the transaction that registered this hook was rolled back
    revisions.bump(sync_session, state["types"])
    state["types"] = set()


def _transaction_state(session: AsyncSession) -> dict[str, Any]:
    transaction = session.sync_session.get_transaction()
    info = session.sync_session.info
    state = info.get("vtn_notifications")
    if state is None or state["transaction"] is not transaction:
        state = info["vtn_notifications"] = {"transaction": transaction, "types": set(), "hooked": False, "wake": False}
    return state


async def notify_workers(session: AsyncSession) -> None:
    """Wake delivery workers once the current transaction commits (at most once per transaction)."""
    state = _transaction_state(session)
    if state["wake"]:
        return
    state["wake"] = True
    if _dialect(session) == "postgresql":
        await session.exec(text("SELECT pg_notify(:channel, '')").bindparams(channel=PG_CHANNEL))  # type: ignore[call-overload]
    event.listen(session.sync_session, "after_commit", lambda _s: wake_local(), once=True)


def mark_changed(session: AsyncSession, name: str) -> None:
    """Bump the revision `name` (an object type, or CLIENT) when this transaction commits."""
    state = _transaction_state(session)
    state["types"].add(name)
    if not state["hooked"]:
        state["hooked"] = True
        event.listen(session.sync_session, "before_commit", _bump_before_commit, once=True)


async def on_change(session: AsyncSession, change: Change) -> None:
    mark_changed(session, change.object_type.value)
    rows = await match_change(session, change)
    if session.sync_session.info.get(mqtt.SESSION_KEY) is not None:  # the MQTT notifier is on (a 3.1.0 binding)
        bodies: dict[AbstractSet[TargetPair] | None, str] = {}

        def body_for(keep: AbstractSet[TargetPair] | None) -> str:
            if keep not in bodies:
                bodies[keep] = notification_body_31(change, keep)
            return bodies[keep]

        rows += await mqtt.outbox_rows(session, change, body_for, _transaction_state(session), utcnow())
    if rows:
        # Core executemany: multi-row INSERTs, no ORM objects (10 000 rows: 3.9 s → 0.7 s per POST)
        await session.exec(insert(OutboxTable), params=rows)  # type: ignore[call-overload]
        await notify_workers(session)


add_change_listener(on_change)
