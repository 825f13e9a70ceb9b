"""HTTP pieces shared by the GB record APIs (delivery reports, monthly statements): their id and paging
parameters, and the read of one record in each of its forms, served to the operator and to the FSP it is for.

No `from __future__ import annotations` here: FastAPI reads the signatures of the functions built in
`add_record_routes`, whose id parameter is annotated with a type made at call time.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from vtn.core.responses import error_responses
from vtn.core.security import Principal, Scope, require_bl, requires

ID_CONSTRAINTS = {"min_length": 1, "max_length": 64, "pattern": r"^[A-Za-z0-9-]+$"}
RecordID = Annotated[str, Path(**ID_CONSTRAINTS)]  # type: ignore[arg-type]
Skip = Annotated[int, Query(ge=0, le=1_000_000)]
Limit = Annotated[int, Query(ge=1, le=500)]

ReadOne = Callable[[Request, Principal, str, str], Awaitable[Response]]


Handler = Callable[..., Awaitable[Response]]


def _readers(read_one: ReadOne, record_path: object, form: str) -> tuple[Handler, Handler]:
    """The two GET operations of one form: the operator's (BL) and any reader's."""

    async def admin_get(request: Request, principal: Annotated[Principal, Depends(require_bl)],
                        record_id: record_path) -> Response:  # type: ignore[valid-type]
        return await read_one(request, principal, record_id, form)

    async def own_get(request: Request, principal: Annotated[Principal, requires(Scope.READ_ALL)],
                      record_id: record_path) -> Response:  # type: ignore[valid-type]
        return await read_one(request, principal, record_id, form)

    return admin_get, own_get


def add_record_routes(admin_router: APIRouter, router: APIRouter, collection: str, id_name: str, read_one: ReadOne,
                      forms: dict[str, str], operation: str) -> None:
    """`GET /{collection}/{id_name}` (form "json") and `…/{form}` for each other form, on `admin_router` for the
    operator's BL clients and on `router` for any reader (what it may see is `read_one`'s privacy decision).
    `forms`: form → summary; `operation`: the operationId stem (`gbAdmin<operation><FORM>`, `gb<operation><FORM>`)."""
    record_path = Annotated[str, Path(alias=id_name, **ID_CONSTRAINTS)]  # type: ignore[arg-type]
    for form, summary in forms.items():
        path = f"/{collection}/{{{id_name}}}" + ("" if form == "json" else f"/{form}")
        admin_get, own_get = _readers(read_one, record_path, form)
        admin_router.add_api_route(path, admin_get, methods=["GET"], operation_id=f"gbAdmin{operation}{form.upper()}",
                                   summary=f"{summary} (BL)", responses=error_responses(401, 403, 404, 500))
        router.add_api_route(path, own_get, methods=["GET"], operation_id=f"gb{operation}{form.upper()}",
                             summary=f"{summary} (own FSP)", responses=error_responses(401, 403, 404, 500))
