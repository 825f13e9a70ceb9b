"""Console pages of delivery reports (docs/console.md): the operator's (every FSP) and an FSP's (its VENs' own);
and the FSP's readings upload, which the page's script sends in chunks (static/readings.js).

Both read through vtn.delivery.service with the account's viewer(s), so what a page shows is exactly what the
API answers that account's token (vtn.auth.privacy.fsp_record_clauses).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response
from markupsafe import Markup

from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.delivery import report_csv
from gb_profile.readings_csv import READINGS_CHUNK, ReadingsCsvError, parse_readings_csv
from vtn.console.deps import FspAccount, OperatorAccount, all_pages, viewer_for_account, viewers_for_account
from vtn.console.templating import redirect, render
from vtn.console.times import london
from vtn.core.deps import ReadSession, WriteSession
from vtn.core.errors import BadRequest, NotFound
from vtn.delivery import service
from vtn.delivery.models import DeliveryReportRow
from vtn.delivery.render import chart_svg, report_pdf
from vtn.delivery.router import download_name
from vtn.events import service as events
from vtn.reports import service as reports

operator_router = APIRouter()
fsp_router = APIRouter()
ReportId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]
LIST_ROWS = 200


async def _list(session: Any, account: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for viewer in await viewers_for_account(session, account):
        rows += await service.list_reports(session, viewer, None, None, False, 0, LIST_ROWS)
    rows.sort(key=lambda r: (r.get("countedFrom") or "", r.get("version") or 0), reverse=True)
    return rows[:LIST_ROWS]


async def _find(session: Any, account: Any, report_id: str) -> DeliveryReportRow:
    for viewer in await viewers_for_account(session, account):
        try:
            return await service.get_report(session, viewer, report_id)
        except NotFound:
            continue
    raise NotFound(f"delivery report {report_id!r} not found")


def _list_page(request: Request, rows: list[dict[str, Any]], base: str) -> HTMLResponse:
    return render(request, "delivery_reports.html", {"title": "Delivery reports", "rows": rows, "base": base,
                                                     "london": london})


async def _detail_page(request: Request, session: Any, account: Any, report_id: str, base: str) -> HTMLResponse:
    row = await _find(session, account, report_id)
    versions = [v for viewer in await viewers_for_account(session, account)
                for v in await service.list_reports(session, viewer, row.event_id, None, True, 0, 50)]
    document = row.document
    return render(request, "delivery_report.html", {
        "title": f"Delivery report {document.get('eventName')}", "doc": document, "row": row, "base": base,
        "versions": sorted({v["id"]: v for v in versions}.values(), key=lambda v: -v["version"]),
        "chart": Markup(chart_svg(document)), "london": london,  # the SVG: numbers and escaped labels only
    })


async def _download(session: Any, account: Any, report_id: str, form: str) -> Response:
    row = await _find(session, account, report_id)
    if form == "csv":
        return Response(report_csv(row.document), media_type="text/csv; charset=utf-8",
                        headers={"content-disposition": f'attachment; filename="{download_name(row.document, "csv")}"'})
    return Response(report_pdf(row.document), media_type="application/pdf",
                    headers={"content-disposition": f'attachment; filename="{download_name(row.document, "pdf")}"'})


@operator_router.get("/delivery-reports", response_class=HTMLResponse)
async def operator_list(request: Request, account: OperatorAccount, session: ReadSession) -> Response:
    return _list_page(request, await _list(session, account), "/operator/delivery-reports")


@operator_router.get("/delivery-reports/{report_id}", response_class=HTMLResponse)
async def operator_detail(request: Request, account: OperatorAccount, session: ReadSession, report_id: ReportId
                          ) -> Response:
    return await _detail_page(request, session, account, report_id, "/operator/delivery-reports")


@operator_router.get("/delivery-reports/{report_id}/csv")
async def operator_csv(account: OperatorAccount, session: ReadSession, report_id: ReportId) -> Response:
    return await _download(session, account, report_id, "csv")


@operator_router.get("/delivery-reports/{report_id}/pdf")
async def operator_pdf(account: OperatorAccount, session: ReadSession, report_id: ReportId) -> Response:
    return await _download(session, account, report_id, "pdf")


@fsp_router.get("/delivery-reports", response_class=HTMLResponse)
async def fsp_list(request: Request, account: FspAccount, session: ReadSession) -> Response:
    return _list_page(request, await _list(session, account), "/fsp/delivery-reports")


@fsp_router.get("/delivery-reports/{report_id}", response_class=HTMLResponse)
async def fsp_detail(request: Request, account: FspAccount, session: ReadSession, report_id: ReportId) -> Response:
    return await _detail_page(request, session, account, report_id, "/fsp/delivery-reports")


@fsp_router.get("/delivery-reports/{report_id}/csv")
async def fsp_csv(account: FspAccount, session: ReadSession, report_id: ReportId) -> Response:
    return await _download(session, account, report_id, "csv")


@fsp_router.get("/delivery-reports/{report_id}/pdf")
async def fsp_pdf(account: FspAccount, session: ReadSession, report_id: ReportId) -> Response:
    return await _download(session, account, report_id, "pdf")


# --- an FSP's readings upload, in chunks ---------------------------------------------------------------------------

UPLOAD_ROWS = READINGS_CHUNK  # rows per chunk the page's script sends (as `ven gb readings --csv` does)


async def _anchor_events(session: Any, viewer: Any) -> list[dict[str, Any]]:
    """The GB anchor events the VEN can see (readings that belong to no dispatch go against one)."""
    found, _cut = await all_pages(lambda page: events.list_events(session, viewer, None, None, page))
    return [e for e in found if b.is_anchor_event(e)]


@fsp_router.get("/readings", response_class=HTMLResponse)
async def readings_page(request: Request, account: FspAccount, session: ReadSession) -> Response:
    anchors: list[dict[str, Any]] = []
    for viewer in await viewers_for_account(session, account):
        anchors += [{"ven": viewer.principal.ven_name, "id": e["id"], "name": e.get("eventName")}
                    for e in await _anchor_events(session, viewer)]
    return render(request, "fsp/readings_upload.html", {"title": "Upload readings", "anchors": anchors,
                                                        "chunk_rows": UPLOAD_ROWS})


@fsp_router.post("/readings")
async def upload_readings(request: Request, account: FspAccount, session: WriteSession,
                          target: Annotated[str, Form(max_length=300)] = "",
                          file: Annotated[UploadFile | None, File()] = None) -> Response:
    """One file, or one chunk of a file (the page's script splits large files, each chunk with the header line):
    checked whole (all lines or none), stored as one GB_READINGS report of the VEN against the chosen anchor event.
    Readings are idempotent (docs/gb-profile.md §6.4.1), so a chunk sent again counts once."""
    wants_json = "application/json" in request.headers.get("accept", "")
    ven, _, event_id = target.partition("|")
    if file is None or ven not in account.ven_names or not event_id:
        raise BadRequest("choose a VEN and anchor event, and a readings CSV file")
    try:
        parsed = parse_readings_csv(await file.read())
        viewer = await viewer_for_account(session, account, ven)
        event = next((e for e in await _anchor_events(session, viewer) if e["id"] == event_id), None)
        if event is None:
            raise NotFound(f"anchor event {event_id!r} not found")
        operator_id = str(event.get("eventName") or "").partition(":")[0]
        body = m.MeterReadings(fsp_id=ven, operator_id=operator_id, readings=parsed.readings)
        saved = await reports.create_report(session, viewer, b.build_readings_report(body, event["programID"], event_id))
    except ReadingsCsvError as exc:
        raise BadRequest(str(exc)) from None
    except m.ProfileError as exc:
        raise BadRequest(f"readings: {exc}") from None
    message = f"report {saved['id']}: {len(parsed.readings)} {parsed.kind.value} readings"
    if wants_json:
        return JSONResponse({"report": saved["id"], "readings": len(parsed.readings), "message": message})
    return redirect(request, "/fsp/readings", message=message, level="success")
