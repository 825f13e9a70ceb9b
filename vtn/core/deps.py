"""Request-scoped dependencies shared by every router: sessions, path ids, target filters.

All `async def`: FastAPI runs a plain `def` dependency in its thread pool, a thread hop per request.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from openadr3.models import OBJECT_ID_PATTERN
from vtn.core.database import Database
from vtn.core.errors import BadRequest
from vtn.core.store import TargetFilter

ModelT = TypeVar("ModelT", bound=BaseModel)


async def get_database(request: Request) -> Database:
    return request.app.state.db


async def read_session(db: Annotated[Database, Depends(get_database)]) -> AsyncIterator[AsyncSession]:
    async with db.session(write=False) as session:
        yield session


async def write_session(db: Annotated[Database, Depends(get_database)]) -> AsyncIterator[AsyncSession]:
    async with db.session(write=True) as session:
        yield session


ReadSession = Annotated[AsyncSession, Depends(read_session)]
# scope="function": commit before the response is sent. With the default ("request") FastAPI
# commits after the client already has its 201, so a crash or a failed commit in between loses
# a change the client was told had succeeded (and its outbox rows).
WriteSession = Annotated[AsyncSession, Depends(write_session, scope="function")]


# Keeps one filter's bind parameters far below the databases' limits (PostgreSQL 32767).
MAX_TARGET_VALUES = 1000


async def target_filter(
    targetType: Annotated[str | None, Query(description="Indicates targeting type, e.g. GROUP")] = None,
    targetValues: Annotated[
        list[str] | None, Query(description="List of target values, e.g. group names", max_length=MAX_TARGET_VALUES)
    ] = None,
) -> TargetFilter | None:
    if targetType is None and not targetValues:
        return None
    if targetType is None or not targetValues:
        raise BadRequest("targetType and targetValues must be given together")
    return TargetFilter(targetType, tuple(targetValues))


Targets = Annotated[TargetFilter | None, Depends(target_filter)]


ObjectIDPath = Annotated[
    str,
    Path(min_length=1, max_length=128, pattern=OBJECT_ID_PATTERN, description="Object ID (URL safe, VTN assigned)"),
]


def validated_body(model: type[ModelT], raw: bytes) -> ModelT:
    """A JSON request body as `model`, refused exactly as FastAPI refuses a declared body parameter (400 from the
    same `RequestValidationError` handler): for operations that read their body themselves (vtn.core.offload)."""
    if not raw:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}])
    try:
        data = json.loads(raw)
    except ValueError as exc:  # JSONDecodeError, or bytes that are not UTF-8
        position = getattr(exc, "pos", 0)
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body", position), "msg": "JSON decode error",
                                       "input": {}, "ctx": {"error": getattr(exc, "msg", str(exc))}}]) from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError([{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]) from exc


def request_body_schema(model: type[BaseModel], description: str) -> dict[str, Any]:
    """The OpenAPI `requestBody` FastAPI writes for `Annotated[model, Body(description=…)]`, for the operations that
    read their body themselves (`openapi_extra`)."""
    schema = {"$ref": f"#/components/schemas/{model.__name__}", "description": description}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}
