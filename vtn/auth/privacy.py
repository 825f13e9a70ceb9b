"""Object privacy: who may see and change what. Decided here, and only here (docs/security.md).

Every object, client and console account belongs to one operator (tenant); nothing crosses
operators. Within its operator:

| object              | BL        | VEN client (bound to one ven)                                         |
|---------------------|-----------|-----------------------------------------------------------------------|
| program, event      | all, r/w  | read: untargeted, or every target type satisfied by its grants        |
| report              | all, r/w  | its own (created by its ven), r/w                                     |
| subscription        | all, r/w  | its own, r/w (webhook bearer tokens only ever shown to their creator) |
| ven                 | all, r/w  | its own ven object only, r/w (create only under its bound name)       |
| resource            | all, r/w  | resources of its own ven, r/w                                         |
| GB delivery report  | all, read | its own FSP's (fsp = its bound venName), read (`fsp_record_clauses`)  |
| anything else       | nothing   | nothing                                                               |

A VEN's grants are (VEN_NAME, its bound venName) plus the targets a BL wrote on its ven and on its
resources. Targets are granted, never claimed: a VEN cannot write targets on vens or resources
(`vtn.vens.service`), and a resource name it chose grants nothing.

Stage (docs/conformance.md, "Sandbox to live"): a VEN client whose stage is not `live` (a `sandbox` client, or
any value the rule does not know: default deny) reads sandbox programs and their events only. A live client
reads both: sandbox events are test dispatches, marked `<NO>:SANDBOX` and never actuated, and live VENs keep
receiving the console's test dispatches. BL clients are not staged.

A targeted program or event is visible to a VEN when, for every target type on the object, the
VEN holds a grant of that type with one of the object's values for it (AND over types, OR over the
values of a type). Objects a principal may not read are invisible: lists leave them out and by-id
access answers 404, so nothing leaks, not even a count.

The rule is one function, `visible`. Lists need it as SQL: `visible_clause` is its translation,
and tests/test_privacy_rule.py proves the two agree on generated objects and grants.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, false, not_, null, or_, true, union_all
from sqlalchemy.orm import aliased
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from openadr3.models import ObjectType
from openadr3.targets import TargetPair, target_pairs
from vtn.core.errors import BadRequest, Forbidden, NotFound
from vtn.core.security import Principal, Role, Stage
from vtn.core.store import ObjectStore, index_value
from vtn.core.tables import ObjectTarget
from vtn.vens.models import ResourceRow, VenRow

VEN_NAME = "VEN_NAME"
RESOURCE_NAME = "RESOURCE_NAME"
TARGETED_TYPES = (ObjectType.PROGRAM, ObjectType.EVENT)
# The object types the rule names; any other is refused to everyone (default deny).
NAMED_TYPES = frozenset({*TARGETED_TYPES, ObjectType.REPORT, ObjectType.SUBSCRIPTION, ObjectType.VEN, ObjectType.RESOURCE})


@dataclass
class Viewer:
    """A principal with its ven resolved: the unit privacy decisions are made on."""

    principal: Principal
    ven_id: str | None = None
    granted: AbstractSet[TargetPair] = frozenset()
    # GB network operator this caller acts for (MPAN licence areas): VTN_GB_OPERATOR today, the client's own
    # operator once clients have one (operator tenancy)
    gb_operator: str | None = None

    @property
    def is_bl(self) -> bool:
        return self.principal.is_bl

    @property
    def operator(self) -> str:
        return self.principal.operator

    @property
    def live(self) -> bool:
        """May read production programs and events (exactly `live`: any other stage is sandbox)."""
        return self.principal.stage == Stage.LIVE.value


@dataclass(frozen=True)
class ObjectFacts:
    """What the rule looks at: the object's type, tenant, targets and owner."""

    object_type: ObjectType
    operator: str
    document: Mapping[str, Any]
    owner_ven_id: str | None = None
    sandbox: bool = False  # a program (or event of a program) whose name marks it sandbox


def satisfies(targets: Iterable[Mapping[str, Any]] | None, granted: AbstractSet[TargetPair]) -> bool:
    """Every target type on the object has one of its values among `granted` (no targets: true)."""
    by_type: dict[str, set[str]] = {}
    for target_type, value in target_pairs(targets):
        by_type.setdefault(target_type, set()).add(index_value(value))
    indexed = {(t, index_value(v)) for t, v in granted}
    return all(any((t, v) in indexed for v in values) for t, values in by_type.items())


def visible(viewer: Viewer, facts: ObjectFacts) -> bool:
    """The privacy rule: may `viewer` read (and so refer to) this object?"""
    if facts.operator != viewer.operator or facts.object_type not in NAMED_TYPES:
        return False
    if viewer.is_bl:
        return True
    match facts.object_type:
        case ObjectType.PROGRAM | ObjectType.EVENT:
            return (facts.sandbox or viewer.live) and satisfies(facts.document.get("targets"), viewer.granted)
        case ObjectType.REPORT | ObjectType.SUBSCRIPTION:
            return viewer.ven_id is not None and facts.owner_ven_id == viewer.ven_id
        case ObjectType.VEN:
            return viewer.ven_id is not None and facts.document.get("id") == viewer.ven_id
        case ObjectType.RESOURCE:
            return viewer.ven_id is not None and facts.document.get("venID") == viewer.ven_id
    return False


def facts_of(store: ObjectStore[Any], row: Any) -> ObjectFacts:
    return ObjectFacts(store.object_type, row.operator, row.document, getattr(row, "owner_ven_id", None),
                       bool(getattr(row, "sandbox", False)))


def _granted_clause(target: Any, granted: AbstractSet[TargetPair]) -> ColumnElement[bool]:
    by_type: dict[str, set[str]] = {}
    for target_type, value in granted:
        by_type.setdefault(target_type, set()).add(index_value(value))
    # One IN list per type: SQLite refuses expression trees deeper than 1000.
    clauses = [and_(target.type == t, target.value.in_(sorted(v))) for t, v in sorted(by_type.items())]
    return or_(*clauses) if clauses else false()


def visible_clause(viewer: Viewer, store: ObjectStore[Any]) -> ColumnElement[bool]:
    """`visible` as an SQL condition on `store`'s rows (lists); tests prove the two agree."""
    table = store.table
    tenant = table.operator == viewer.operator
    if store.object_type not in NAMED_TYPES:
        return false()
    if viewer.is_bl:
        return tenant
    if viewer.ven_id is None and store.object_type not in TARGETED_TYPES:
        return false()
    match store.object_type:
        case ObjectType.PROGRAM | ObjectType.EVENT:
            # No target type on the object lacks a granted value of that type.
            kind = store.object_type.value
            target, grant = aliased(ObjectTarget), aliased(ObjectTarget)
            satisfied_types = select(grant.type).where(
                grant.object_type == kind, grant.object_id == target.object_id, _granted_clause(grant, viewer.granted)
            )
            unsatisfied = select(target.object_id).where(
                target.object_type == kind, target.object_id == table.id, not_(target.type.in_(satisfied_types))
            )
            staged = true() if viewer.live else table.sandbox == true()
            return and_(tenant, staged, or_(table.targeted == false(), not_(unsatisfied.exists())))
        case ObjectType.REPORT | ObjectType.SUBSCRIPTION:
            return and_(tenant, table.owner_ven_id == viewer.ven_id)
        case ObjectType.VEN:
            return and_(tenant, table.id == viewer.ven_id)
        case ObjectType.RESOURCE:
            return and_(tenant, table.ven_id == viewer.ven_id)
    return false()


def read_clauses(viewer: Viewer, store: ObjectStore[Any]) -> list[Any]:
    """The WHERE list a service starts from: only what `viewer` may read."""
    return [visible_clause(viewer, store)]


async def get_visible(
    session: AsyncSession, viewer: Viewer, store: ObjectStore[Any], object_id: str, *where: Any, for_update: bool = False
) -> Any:
    """The row `object_id` if `viewer` may read it, else None: reads by id and references use this."""
    row = await store.get(session, object_id, *where, for_update=for_update)
    if row is None or not visible(viewer, facts_of(store, row)):
        return None
    return row


async def find_visible(
    session: AsyncSession, viewer: Viewer, store: ObjectStore[Any], object_id: str, *where: Any,
    for_update: bool = False, label: str | None = None,
) -> Any:
    """`get_visible`, or 404 (the same answer whether the object is missing or not the caller's)."""
    row = await get_visible(session, viewer, store, object_id, *where, for_update=for_update)
    if row is None:
        raise NotFound(f"{label or store.object_type.value.lower()} {object_id!r} not found")
    return row


def ensure_can_write(viewer: Viewer, object_type: ObjectType) -> None:
    """Programs and events are written by the network operator's business logic only."""
    if not viewer.is_bl and object_type in TARGETED_TYPES:
        raise Forbidden(f"a VEN client cannot write {object_type.value.lower()}s")


def ensure_has_ven(viewer: Viewer) -> str:
    """The ven a VEN client acts for; it must have registered its ven object first."""
    if viewer.ven_id is None:
        raise Forbidden(
            f"VEN client {viewer.principal.client_id!r} has no ven object yet: create ven "
            f"{viewer.principal.ven_name!r} first"
        )
    return viewer.ven_id


def may_see_secrets(viewer: Viewer, owner_client_id: str | None, owner_ven_id: str | None) -> bool:
    """A subscription's webhook bearer tokens are shown only to the client that created it (rows
    older than that record: to its ven's clients)."""
    if owner_client_id is not None:
        return viewer.principal.client_id == owner_client_id
    return owner_ven_id is not None and viewer.ven_id == owner_ven_id


def fsp_record_clauses(viewer: Viewer, operator_column: Any, fsp_column: Any) -> list[Any]:
    """GB settlement records of an FSP (delivery reports, statements): the BL sees its operator's, a VEN client
    those of its own FSP (its bound venName) and nothing else; any other principal nothing (default deny)."""
    clauses: list[Any] = [operator_column == viewer.operator]
    if viewer.is_bl:
        return clauses
    if viewer.principal.ven_name:
        return [*clauses, fsp_column == viewer.principal.ven_name]
    return [false()]


CLIENT_NAME_RULE = "VTN-ID-001"


def ensure_own_client_name(viewer: Viewer, client_name: str, what: str) -> None:
    """A VEN speaks only for itself: its reports and subscriptions carry its own venName."""
    if viewer.is_bl or client_name == viewer.principal.ven_name:
        return
    raise BadRequest(
        f"{CLIENT_NAME_RULE}: a VEN's {what} must carry its own clientName {viewer.principal.ven_name!r}, "
        f"not {client_name!r}",
        extra={"errors": [{"rule": CLIENT_NAME_RULE, "field": "clientName",
                           "message": f"expected {viewer.principal.ven_name!r}"}]},
    )


async def resolve_viewer(session: AsyncSession, principal: Principal) -> Viewer:
    """The caller's ven (by bound name, within its operator) and the targets a BL granted it: one statement."""
    if principal.is_bl or not principal.ven_name:
        return Viewer(principal)
    ven, target = VenRow.__table__.c, ObjectTarget.__table__.c  # type: ignore[attr-defined]
    resource = ResourceRow.__table__.c  # type: ignore[attr-defined]
    own_ven = and_(ven.operator == principal.operator, ven.ven_name == principal.ven_name)
    on_ven = select(ven.id, target.type, target.value).select_from(
        VenRow.__table__.outerjoin(  # type: ignore[attr-defined]
            ObjectTarget.__table__, and_(target.object_type == ObjectType.VEN.value, target.object_id == ven.id)
        )
    ).where(own_ven)
    # Not a join: an uncorrelated IN list, so both databases go ven → its resources → their targets by
    # index instead of scanning every resource's targets (SQLite without statistics chose the scan).
    own_resources = select(resource.id).where(resource.ven_id.in_(select(ven.id).where(own_ven)))
    on_resources = select(null(), target.type, target.value).where(
        target.object_type == ObjectType.RESOURCE.value, target.object_id.in_(own_resources)
    )
    rows = (await session.exec(union_all(on_ven, on_resources))).all()  # type: ignore[call-overload]
    ven_id = next((row[0] for row in rows if row[0] is not None), None)
    granted = {(VEN_NAME, principal.ven_name), *((t, v) for _, t, v in rows if t is not None)}
    return Viewer(principal, ven_id, frozenset(granted))


class Viewers:
    """VEN viewers' grants, cached per (VEN, RESOURCE) revision: the only writes that can change them.

    `version` is the pair of those revisions read *before* the grants are (so cached grants are
    never older than the version they are filed under). Bounded: least recently used out.
    """

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._grants: OrderedDict[tuple[str, str], tuple[object, str | None, AbstractSet[TargetPair]]] = OrderedDict()

    async def resolve(self, session: AsyncSession, principal: Principal, version: object) -> Viewer:
        if principal.is_bl or not principal.ven_name:
            return Viewer(principal)
        key = (principal.operator, principal.ven_name)
        cached = self._grants.get(key)
        if cached is not None and cached[0] == version:
            self._grants.move_to_end(key)
            return Viewer(principal, cached[1], cached[2])
        viewer = await resolve_viewer(session, principal)
        self._grants[key] = (version, viewer.ven_id, viewer.granted)
        self._grants.move_to_end(key)
        if len(self._grants) > self.max_entries:
            self._grants.popitem(last=False)
        return viewer


async def ven_stage(session: AsyncSession, operator: str, ven_name: str | None, client_id: str | None = None) -> str:
    """The stage a VEN is judged at where no token says it: that of `client_id` when it is a registered client;
    else sandbox while the ven has clients and none of them is live; live otherwise (a VEN without clients)."""
    from vtn.auth.models import ClientRow

    if client_id is not None:
        stage = (await session.exec(select(ClientRow.stage).where(ClientRow.client_id == client_id))).first()
        if stage is not None:
            return str(stage)
    stages = set((await session.exec(select(ClientRow.stage).where(  # type: ignore[call-overload]
        ClientRow.operator == operator, ClientRow.role == Role.VEN.value, ClientRow.ven_name == ven_name))).all())
    return Stage.SANDBOX.value if stages and Stage.LIVE.value not in stages else Stage.LIVE.value


async def viewer_for_subscription(
    session: AsyncSession, operator: str, owner_ven_id: str | None, owner_client_id: str | None,
    cache: dict[tuple[str, str | None, str | None], Viewer] | None = None,
) -> Viewer:
    """The Viewer a subscription's notifications are decided for: its owner's, as if it polled (with the stage
    of the client that created it: a sandbox client's subscription gets only what its token may read)."""
    key = (operator, owner_ven_id, owner_client_id)
    if cache is not None and key in cache:
        return cache[key]
    if owner_ven_id is None:
        viewer = Viewer(Principal(client_id=owner_client_id or "bl", role=Role.BL, scopes=frozenset(), operator=operator))
    else:
        ven_name = (await session.exec(select(VenRow.ven_name).where(VenRow.id == owner_ven_id))).first()
        principal = Principal(client_id=f"ven:{owner_ven_id}", role=Role.VEN, scopes=frozenset(),
                              ven_name=ven_name, operator=operator,
                              stage=await ven_stage(session, operator, ven_name, owner_client_id))
        viewer = await resolve_viewer(session, principal) if ven_name else Viewer(principal)
    if cache is not None:
        cache[key] = viewer
    return viewer
