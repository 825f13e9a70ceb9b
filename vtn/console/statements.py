"""Monthly statement pages (docs/gb-profile.md §6.9, docs/console.md).

Operator (`/operator/statements`): every FSP's statements, issue a month now (provisional), finalise, each
version with its lines and the FSP's decision, CSV/XLSX downloads. FSP (`/fsp/statements`): its own VENs'
statements, approve or reject the latest provisional version with a reason, CSV/XLSX downloads.

Data goes only through vtn.statements.service with the account's viewer (`viewer_for_account`), so a page shows
what the account's API token would; `vtn.console.router` includes these routers with the role check and CSRF.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from gb_profile.statements import statement_csv
from vtn.audit.service import Actor
from vtn.console.deps import Account, FspAccount, OperatorAccount, viewer_for_account
from vtn.console.templating import redirect, render
from vtn.console.times import london
from vtn.core.deps import ReadSession, WriteSession
from vtn.core.errors import BadRequest, NotFound
from vtn.core.security import Role
from vtn.statements import service
from vtn.statements.models import APPROVED, FINAL, PROVISIONAL, REJECTED
from vtn.statements.render import file_name, statement_xlsx

operator_router = APIRouter()
fsp_router = APIRouter()
OPERATOR_NAV = ("Statements", "/operator/statements")
FSP_NAV = ("Statements", "/fsp/statements")

StatementId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]
MonthField = Annotated[str, Form(pattern=r"^\d{4}-\d{2}$")]
MonthFilter = Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")]


def _page(request: Request, name: str, context: dict[str, Any]) -> HTMLResponse:
    return render(request, name, {"london": london, **context})


def _download(document: dict[str, Any], form: str) -> Response:
    if form == "csv":
        return Response(statement_csv(document), media_type="text/csv; charset=utf-8",
                        headers={"content-disposition": f'attachment; filename="{file_name(document, "csv")}"'})
    return Response(statement_xlsx(document),
                    media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"content-disposition": f'attachment; filename="{file_name(document, "xlsx")}"'})


def _actor(account: Account, role: Role) -> Actor:
    return Actor(f"console:{account.username}", role.value, account.operator)


# ------------------------------------------------------------------------------------------ operator


@operator_router.get("/statements", response_class=HTMLResponse)
async def operator_list(request: Request, account: OperatorAccount, session: ReadSession,
                        month: MonthFilter = None) -> Response:
    viewer = await viewer_for_account(session, account)
    rows = await service.list_statements(session, viewer, month, None, False, 0, 500)
    return _page(request, "operator/statements.html", {"title": "Statements", "rows": rows, "month": month or ""})


@operator_router.post("/statements/issue")
async def operator_issue(request: Request, account: OperatorAccount, session: WriteSession, month: MonthField,
                         kind: Annotated[str, Form(pattern="^(PROVISIONAL|FINAL)$")] = PROVISIONAL) -> Response:
    first = service.month_of(month)
    reason = f"{kind.lower()}: issued in the console"
    issued = await service.issue_month(session, account.operator, first, kind, reason, _actor(account, Role.BL))
    new = sum(1 for _, is_new in issued if is_new)
    word = "final" if kind == FINAL else "provisional"
    return redirect(request, f"/operator/statements?month={month}", level="success",
                    message=f"{month}: {new} new {word} statement version(s), {len(issued) - new} unchanged.")


@operator_router.get("/statements/{statement_id}", response_class=HTMLResponse)
async def operator_one(request: Request, account: OperatorAccount, session: ReadSession,
                       statement_id: StatementId) -> Response:
    viewer = await viewer_for_account(session, account)
    document = await service.get_document(session, viewer, statement_id)
    versions = await service.list_statements(session, viewer, document["month"], document["fsp"], True, 0, 100)
    return _page(request, "operator/statement.html", {"title": f"Statement {document['fsp']} {document['month']}",
                                                      "s": document, "versions": versions})


@operator_router.post("/statements/{statement_id}/finalise")
async def operator_finalise(request: Request, account: OperatorAccount, session: WriteSession,
                            statement_id: StatementId) -> Response:
    viewer = await viewer_for_account(session, account)
    row = await service.get_row(session, viewer, statement_id)
    final, _ = await service.issue(session, row.operator, row.fsp, service.month_of(row.month), FINAL,
                                   "final: finalised in the console", _actor(account, Role.BL))
    return redirect(request, f"/operator/statements/{final.id}", level="success",
                    message=f"Statement of {row.fsp} for {row.month} is final (version {final.version}).")


@operator_router.get("/statements/{statement_id}/{form}")
async def operator_download(account: OperatorAccount, session: ReadSession, statement_id: StatementId,
                            form: Annotated[str, Path(pattern="^(csv|xlsx)$")]) -> Response:
    viewer = await viewer_for_account(session, account)
    return _download(await service.get_document(session, viewer, statement_id), form)


# ------------------------------------------------------------------------------------------ FSP


async def _fsp_document(session: Any, account: Account, statement_id: str) -> tuple[Any, dict[str, Any]]:
    """The statement through whichever of the account's VENs it belongs to (404 for anything else)."""
    for name in account.ven_names:
        viewer = await viewer_for_account(session, account, name)
        try:
            return viewer, await service.get_document(session, viewer, statement_id)
        except NotFound:
            continue
    raise NotFound(f"statement {statement_id!r} not found")


@fsp_router.get("/statements", response_class=HTMLResponse)
async def fsp_list(request: Request, account: FspAccount, session: ReadSession) -> Response:
    rows: list[dict[str, Any]] = []
    for name in account.ven_names:
        viewer = await viewer_for_account(session, account, name)
        rows += await service.list_statements(session, viewer, None, None, False, 0, 500)
    rows.sort(key=lambda r: (r["month"], r["fsp"]), reverse=True)
    return _page(request, "fsp/statements.html", {"title": "Statements", "rows": rows})


@fsp_router.get("/statements/{statement_id}", response_class=HTMLResponse)
async def fsp_one(request: Request, account: FspAccount, session: ReadSession, statement_id: StatementId) -> Response:
    _, document = await _fsp_document(session, account, statement_id)
    return _page(request, "fsp/statement.html", {"title": f"Statement {document['month']}", "s": document})


@fsp_router.post("/statements/{statement_id}/approve")
async def fsp_approve(request: Request, account: FspAccount, session: WriteSession,
                      statement_id: StatementId) -> Response:
    viewer, _ = await _fsp_document(session, account, statement_id)
    await service.decide(session, viewer, _actor(account, Role.VEN), statement_id, APPROVED, None)
    return redirect(request, f"/fsp/statements/{statement_id}", level="success", message="Statement approved.")


@fsp_router.post("/statements/{statement_id}/reject")
async def fsp_reject(request: Request, account: FspAccount, session: WriteSession, statement_id: StatementId,
                     reason: Annotated[str, Form(max_length=1000)] = "") -> Response:
    if not reason.strip():
        raise BadRequest("give the reason you reject the statement")
    viewer, _ = await _fsp_document(session, account, statement_id)
    await service.decide(session, viewer, _actor(account, Role.VEN), statement_id, REJECTED, reason)
    return redirect(request, f"/fsp/statements/{statement_id}", level="info",
                    message="Statement rejected; the operator sees your reason.")


@fsp_router.get("/statements/{statement_id}/{form}")
async def fsp_download(account: FspAccount, session: ReadSession, statement_id: StatementId,
                       form: Annotated[str, Path(pattern="^(csv|xlsx)$")]) -> Response:
    _, document = await _fsp_document(session, account, statement_id)
    return _download(document, form)
