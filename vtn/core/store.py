"""Generic persistence of OpenADR objects: one implementation for all six object types.

Domains describe their table and extra columns; this module provisions ids and timestamps,
keeps the target side table in step, pages deterministically by (created, id), and emits a
`Change` for every write inside the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, and_, delete, false, or_
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from openadr3.models import ObjectType, Operation
from openadr3.targets import TargetPair, target_pairs
from vtn.core import changes
from vtn.core.database import utcnow
from vtn.core.errors import Conflict
from vtn.core.pagination import Page
from vtn.core.tables import ObjectRow, ObjectTarget

RowT = TypeVar("RowT", bound=ObjectRow)


INDEXED_VALUE_LENGTH = 512  # object_target.value


def index_value(value: str) -> str:
    """The form a target value is indexed and looked up by; longer values match on their prefix."""
    return value[:INDEXED_VALUE_LENGTH]


def format_timestamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class TargetFilter:
    """`targetType` + `targetValues` from a query (OR over values); or, from a 3.1.0 `targets` query, `pairs`
    of any types (OR over them, openadr3.convert)."""

    type: str
    values: tuple[str, ...]
    pairs: tuple[TargetPair, ...] = ()

    @classmethod
    def any_of(cls, pairs: Iterable[TargetPair]) -> TargetFilter:
        return cls("", (), tuple(sorted(set(pairs))))

    def all_pairs(self) -> list[TargetPair]:
        return list(self.pairs) if self.pairs else [(self.type, v) for v in self.values]


class ObjectStore(Generic[RowT]):
    def __init__(self, object_type: ObjectType, table: type[RowT]) -> None:
        self.object_type = object_type
        self.table = table

    # --- reading -------------------------------------------------------------------------------
    def _by_target(self, pairs: Iterable[TargetPair]) -> Any:
        # One IN list per type, not an OR per pair: SQLite refuses expression trees deeper than 1000.
        by_type: dict[str, set[str]] = {}
        for target_type, value in pairs:
            by_type.setdefault(target_type, set()).add(index_value(value))
        conditions = [
            and_(ObjectTarget.type == t, ObjectTarget.value.in_(sorted(values)))  # type: ignore[attr-defined]
            for t, values in sorted(by_type.items())
        ]
        return select(ObjectTarget.object_id).where(
            ObjectTarget.object_type == self.object_type.value, or_(*conditions) if conditions else false()
        )

    def target_clause(self, target: TargetFilter) -> ColumnElement[bool]:
        return self.table.id.in_(self._by_target(target.all_pairs()))  # type: ignore[attr-defined]

    def named_target_clause(self, target: TargetFilter, name_type: str, name_column: Any) -> ColumnElement[bool] | None:
        """For a filter naming `name_type` (VEN_NAME, PROGRAM_NAME): match the object's targets *or* its own name,
        which is its target of that type whether or not a BL also wrote one (clients find their ven or program
        this way). None: the filter names no such type (use the plain target filter and its index walk)."""
        names = sorted({v for t, v in target.all_pairs() if t == name_type})
        if not names:
            return None
        return or_(name_column.in_(names), self.target_clause(target))

    async def ensure_unique(
        self, session: AsyncSession, where: Sequence[Any], own_id: str | None, conflict: str
    ) -> None:
        """409 `conflict` when a row other than `own_id` matches `where` (a name within its scope)."""
        existing = (await session.exec(select(self.table.id).where(*where))).first()  # type: ignore[call-overload]
        if existing is not None and existing != own_id:
            raise Conflict(conflict)

    async def get(self, session: AsyncSession, object_id: str, *where: Any, for_update: bool = False) -> RowT | None:
        query = select(self.table).where(self.table.id == object_id, *where)  # type: ignore[arg-type]
        if for_update and session.bind.dialect.name == "postgresql":  # type: ignore[union-attr]
            query = query.with_for_update()
        return (await session.exec(query)).first()  # type: ignore[call-overload]

    def _page_query(self, where: Sequence[Any], page: Page, target: TargetFilter | None, *columns: Any) -> Any:
        table = self.table
        query = select(table.document, *columns)  # type: ignore[call-overload]
        order: tuple[Any, ...] = (table.created_at, table.id)
        values = {index_value(v) for v in target.values} if target and not target.pairs else set()
        if target and len(values) == 1:
            # One value: join its target rows (at most one per object: the value is in the primary key)
            # and order by their copy of created_at, so the page is a walk of ix_object_target_lookup
            # that stops after `limit` rows, not a sort of every match.
            query = query.join(ObjectTarget, and_(
                ObjectTarget.object_type == self.object_type.value, ObjectTarget.object_id == table.id,
                ObjectTarget.type == target.type, ObjectTarget.value == values.pop(),
            ))
            order = (ObjectTarget.created_at, ObjectTarget.object_id)
        elif target:
            where = [*where, self.target_clause(target)]
        return query.where(*where).order_by(*order).offset(page.skip).limit(page.limit)

    async def list_documents(
        self, session: AsyncSession, where: Sequence[Any], page: Page, target: TargetFilter | None = None
    ) -> list[dict[str, Any]]:
        """Documents of one page of the rows matching `where` (and `target`, if given), in list order."""
        if page.limit == 0:
            return []
        return list((await session.exec(self._page_query(where, page, target))).all())

    async def list_with_extra(
        self, session: AsyncSession, where: Sequence[Any], page: Page, target: TargetFilter | None = None
    ) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
        """(document, extra) of one page: what the 3.1.0 API shows (openadr3.convert)."""
        return [(row[0], row[1]) for row in await self.list_columns(session, where, page, target, self.table.extra)]

    async def list_columns(
        self, session: AsyncSession, where: Sequence[Any], page: Page, target: TargetFilter | None, *columns: Any
    ) -> list[Any]:
        """(document, *columns) tuples of one page of the rows matching `where` and `target`, in list order."""
        if page.limit == 0:
            return []
        return list((await session.exec(self._page_query(where, page, target, *columns))).all())  # columns: tuples

    # --- writing -------------------------------------------------------------------------------
    async def _write_targets(
        self, session: AsyncSession, object_id: str, created: datetime, targets: Any, *, replacing: bool = True
    ) -> bool:
        if replacing:  # a new object (a fresh uuid) has no target rows to clear: one statement less per insert
            await session.exec(  # type: ignore[call-overload]
                delete(ObjectTarget).where(
                    ObjectTarget.object_type == self.object_type.value, ObjectTarget.object_id == object_id
                )
            )
        pairs = target_pairs(targets)
        # Values sharing the indexed prefix are one row (the prefix is part of the primary key).
        for target_type, value in sorted({(t, index_value(v)) for t, v in pairs}):
            session.add(ObjectTarget(object_type=self.object_type.value, object_id=object_id, type=target_type,
                                     value=value, created_at=created))
        return bool(pairs)

    def _document(self, object_id: str, created: datetime, modified: datetime, content: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": object_id,
            "createdDateTime": format_timestamp(created),
            "modificationDateTime": format_timestamp(modified),
            "objectType": self.object_type.value,
            **content,
        }

    async def insert(
        self, session: AsyncSession, content: dict[str, Any], change: dict[str, Any] | None = None, **columns: Any
    ) -> RowT:
        now = utcnow()
        object_id = str(uuid.uuid4())
        document = self._document(object_id, now, now, content)
        targeted = await self._write_targets(session, object_id, now, content.get("targets"), replacing=False)
        row = self.table(id=object_id, created_at=now, modified_at=now, document=document, targeted=targeted, **columns)
        session.add(row)
        await session.flush()
        await self._emit(session, Operation.CREATE, row, document, change)
        return row

    async def replace(
        self, session: AsyncSession, row: RowT, content: dict[str, Any], change: dict[str, Any] | None = None,
        **columns: Any,
    ) -> RowT:
        now = max(utcnow(), row.modified_at)
        row.document = self._document(row.id, row.created_at, now, content)
        row.modified_at = now
        row.targeted = await self._write_targets(session, row.id, row.created_at, content.get("targets"))
        for key, value in columns.items():
            setattr(row, key, value)
        session.add(row)
        await session.flush()
        await self._emit(session, Operation.UPDATE, row, row.document, change)
        return row

    async def delete(self, session: AsyncSession, row: RowT, change: dict[str, Any] | None = None) -> dict[str, Any]:
        document = row.document
        await session.exec(  # type: ignore[call-overload]
            delete(ObjectTarget).where(
                ObjectTarget.object_type == self.object_type.value, ObjectTarget.object_id == row.id
            )
        )
        operator = row.operator
        await session.delete(row)
        await session.flush()
        await self._emit(session, Operation.DELETE, row, document, change, operator)
        return document

    async def _emit(
        self, session: AsyncSession, operation: Operation, row: RowT, document: dict[str, Any],
        change: dict[str, Any] | None, operator: str | None = None,
    ) -> None:
        tenant = row.operator if operator is None else operator
        sandbox = bool(getattr(row, "sandbox", False))  # programs and events only (vtn.auth.privacy, stage)
        await changes.emit(session, changes.Change(self.object_type, operation, document, operator=tenant,
                                                   sandbox=sandbox, extra=row.extra, **(change or {})))
