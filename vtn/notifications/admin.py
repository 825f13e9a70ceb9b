"""Operator (BL-only) endpoints: the delivery dead-letter queue, VEN last-seen, GB FSP emergency stops."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import and_, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from vtn.core.database import Database, utcnow
from vtn.core.errors import NotFound
from vtn.core.pagination import Page, page_params
from vtn.core.responses import error_responses
from vtn.core.security import Principal, require_bl
from vtn.core.store import format_timestamp
from vtn.notifications import outbox
from vtn.notifications.models import DeliveredRow, HeartbeatRow, OutboxRow, OutboxStatus
from vtn.subscriptions.models import SubscriptionRow
from vtn.vens.models import VenRow

DeliveryStatus = Literal["pending", "failing", "dead"]
T = OutboxRow


# Response schemas, for the OpenAPI document only (the handlers build the JSON themselves).
class DeliveryItem(BaseModel):
    """A notification not yet delivered to one callback (delivered ones are removed)."""

    id: int
    webhookId: str = Field(description="The `webhook-id` header: stable across retries, the receiver's dedupe key.")
    subscriptionID: str
    callbackUrl: str
    objectType: str
    operation: str = Field(description="POST, PUT or DELETE (the 3.0.1 notification operation).")
    status: DeliveryStatus = Field(description="pending; failing (failed at least once, will retry); dead.")
    inFlight: bool
    attempts: int
    createdDateTime: str | None
    nextAttemptDateTime: str | None
    lastAttemptDateTime: str | None
    lastStatus: int | None = Field(description="HTTP status of the last attempt (null: no answer).")
    lastError: str | None


class Redriven(BaseModel):
    redriven: int


class VenLastSeen(BaseModel):
    venID: str
    venName: str
    lastSeen: str | None = Field(description="The last request of a VEN client bound to this ven (null: never).")
    lastDelivery: str | None = Field(
        description="The last webhook of a subscription this ven owns that its receiver answered 2xx (null: never)."
    )
    silent: bool = Field(description="No request for more than VTN_COMMS_LOSS_SECONDS (comms loss), or never seen.")


class FspEmergencyStop(BaseModel):
    venName: str = Field(description="The FSP (VEN_NAME) that reported the emergency stop.")
    resourceName: str = Field(description="The dispatch unit it stopped.")
    operatorID: str = Field(description="GB_NETWORK_OPERATOR of the report.")
    reason: str
    effectiveDateTime: str = Field(description="When the stop took effect (the report interval's start, UTC).")
    reportID: str | None
    eventID: str | None
    programID: str | None


def _ts(moment: datetime | None) -> str | None:
    return format_timestamp(moment) if moment else None


def delivery_item(row: OutboxRow) -> dict[str, Any]:
    """An outbox row for operators (the bearer token is never shown)."""
    if row.status == OutboxStatus.DEAD:
        status = "dead"
    else:
        status = "failing" if row.last_error else "pending"
    return {
        "id": row.id, "webhookId": row.message_id, "subscriptionID": row.subscription_id,
        "callbackUrl": row.callback_url, "objectType": row.object_type, "operation": row.operation,
        "status": status, "inFlight": row.status == OutboxStatus.IN_FLIGHT, "attempts": row.attempts,
        "createdDateTime": _ts(row.created_at), "nextAttemptDateTime": _ts(row.next_attempt_at),
        "lastAttemptDateTime": _ts(row.last_attempt_at), "lastStatus": row.last_status, "lastError": row.last_error,
    }


def status_clause(status: str | None) -> Any:
    live = col(T.status).in_([OutboxStatus.PENDING, OutboxStatus.IN_FLIGHT])
    match status:
        case "pending":
            return and_(live, col(T.last_error).is_(None))
        case "failing":
            return and_(live, col(T.last_error).is_not(None))
        case "dead":
            return col(T.status) == OutboxStatus.DEAD
    return True


def tenant_clause(operator: str | None) -> Any:
    """Rows of one operator's subscriptions; None (the server's own CLI) means every operator."""
    return True if operator is None else col(T.operator) == operator


async def list_deliveries(session: AsyncSession, operator: str | None, status: str | None, page: Page) -> list[OutboxRow]:
    query = (
        select(T).where(tenant_clause(operator), status_clause(status)).order_by(col(T.id)).offset(page.skip).limit(page.limit)
    )
    return list((await session.exec(query)).all())


async def _wake(session: AsyncSession) -> None:
    await outbox.notify_workers(session)


async def redrive(session: AsyncSession, operator: str | None, delivery_id: int) -> OutboxRow:
    row = await session.get(T, delivery_id)
    if row is None or (operator is not None and row.operator != operator):
        raise NotFound(f"delivery {delivery_id} not found")
    if row.status != OutboxStatus.IN_FLIGHT:
        row.status = OutboxStatus.PENDING
        row.attempts = 0
        row.next_attempt_at = utcnow()
        row.created_at = utcnow()  # the age limit restarts
        row.last_error = None
        row.last_status = None
        session.add(row)
        await session.flush()
        await _wake(session)
    return row


async def redrive_dead(session: AsyncSession, operator: str | None) -> int:
    now = utcnow()
    result = await session.exec(  # type: ignore[call-overload]
        update(T).where(tenant_clause(operator), col(T.status) == OutboxStatus.DEAD).values(
            status=OutboxStatus.PENDING, attempts=0, next_attempt_at=now, created_at=now, last_error=None,
            last_status=None,
        )
    )
    if result.rowcount:
        await _wake(session)
    return int(result.rowcount or 0)


async def _last_seen_items(
    session: AsyncSession, operator: str, vens: list[Any], extra: dict[str, datetime], silent_after: int
) -> list[dict[str, Any]]:
    names = [name for _id, name in vens]
    ids = [ven_id for ven_id, _name in vens]
    stored = dict((await session.exec(
        select(HeartbeatRow.ven_name, func.max(HeartbeatRow.last_seen))
        .where(HeartbeatRow.operator == operator, col(HeartbeatRow.ven_name).in_(names)).group_by(HeartbeatRow.ven_name)
    )).all()) if names else {}
    delivered = dict((await session.exec(
        select(SubscriptionRow.owner_ven_id, func.max(DeliveredRow.last_delivered_at))
        .join(DeliveredRow, col(DeliveredRow.subscription_id) == col(SubscriptionRow.id))
        .where(col(SubscriptionRow.owner_ven_id).in_(ids)).group_by(SubscriptionRow.owner_ven_id)
    )).all()) if ids else {}
    now = utcnow()
    items = []
    for ven_id, name in vens:
        seen = max([s for s in (stored.get(name), extra.get(name)) if s is not None], default=None)
        items.append({
            "venID": ven_id, "venName": name, "lastSeen": _ts(seen), "lastDelivery": _ts(delivered.get(ven_id)),
            "silent": seen is None or (now - seen).total_seconds() > silent_after,
        })
    return items


async def last_seen(
    session: AsyncSession, operator: str, extra: dict[str, datetime], silent_after: int, page: Page
) -> list[dict[str, Any]]:
    """Every ven of `operator` (paged) with its client's last request and its subscriptions' last delivered webhook.

    `extra`: this process's heartbeats not yet flushed (`Heartbeats.latest_by_ven(operator)`).
    """
    vens = list((await session.exec(
        select(VenRow.id, VenRow.ven_name).where(VenRow.operator == operator)
        .order_by(col(VenRow.created_at), col(VenRow.id)).offset(page.skip).limit(page.limit)
    )).all())
    return await _last_seen_items(session, operator, vens, extra, silent_after)


async def ven_last_seen(
    session: AsyncSession, operator: str, extra: dict[str, datetime], silent_after: int, ven_name: str
) -> dict[str, Any] | None:
    """`last_seen` for one ven, by name (None when there is no such ven)."""
    vens = list((await session.exec(
        select(VenRow.id, VenRow.ven_name).where(VenRow.operator == operator, col(VenRow.ven_name) == ven_name)
    )).all())
    items = await _last_seen_items(session, operator, vens, extra, silent_after)
    return items[0] if items else None


# --- HTTP --------------------------------------------------------------------------------------
BLPrincipal = Annotated[Principal, Depends(require_bl)]
router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_bl)])
ERRORS = error_responses(400, 401, 403, 404, 500)


def _db(request: Request) -> Database:
    return request.app.state.db


@router.get("/deliveries", operation_id="listDeliveries", summary="notification deliveries (BL)",
            response_model=list[DeliveryItem], responses=ERRORS,
            description="Notifications not yet delivered, oldest first: pending, failing (will retry) or "
                        "dead-lettered (after VTN_DELIVERY_MAX_ATTEMPTS attempts, VTN_DELIVERY_MAX_AGE_SECONDS, or "
                        "410 Gone). Bearer tokens are never shown. BL clients only.")
async def get_deliveries(
    request: Request,
    principal: BLPrincipal,
    page: Annotated[Page, Depends(page_params)],
    status: Annotated[DeliveryStatus | None, Query(description="pending, failing or dead.")] = None,
) -> JSONResponse:
    async with _db(request).session(write=False) as session:
        rows = await list_deliveries(session, principal.operator, status, page)
    return JSONResponse([delivery_item(r) for r in rows])


@router.post("/deliveries/redrive-dead", operation_id="redriveDeadDeliveries", summary="re-drive every dead delivery",
             response_model=Redriven, responses=ERRORS,
             description="Queue every dead-lettered delivery again with a fresh attempt and age budget. BL clients "
                         "only; also `vtn deliveries redrive --all-dead`.")
async def post_redrive_dead(request: Request, principal: BLPrincipal) -> JSONResponse:
    async with _db(request).session() as session:
        count = await redrive_dead(session, principal.operator)
    return JSONResponse({"redriven": count})


@router.post("/deliveries/{deliveryID}/redrive", operation_id="redriveDelivery", summary="re-drive one delivery",
             response_model=DeliveryItem, responses=ERRORS,
             description="Queue a dead or failing delivery again at once, with a fresh attempt and age budget (one "
                         "in flight is left alone). BL clients only; also `vtn deliveries redrive ID`.")
async def post_redrive(
    request: Request, principal: BLPrincipal, deliveryID: Annotated[int, Path(ge=1, le=2**63 - 1, description="outbox row id")]
) -> JSONResponse:  # bounded: a larger int overflows the database integer (a 500)
    async with _db(request).session() as session:
        row = await redrive(session, principal.operator, deliveryID)
        item = delivery_item(row)
    return JSONResponse(item)


@router.get("/vens/last-seen", operation_id="vensLastSeen", summary="when each ven last polled (BL)",
            response_model=list[VenLastSeen], responses=ERRORS,
            description="Every ven (paged like the ven list) with the last request of its VEN client (its "
                        "heartbeat: kept in memory, flushed every VTN_HEARTBEAT_FLUSH_SECONDS), the last webhook "
                        "its receiver accepted (`lastDelivery`), and `silent` when "
                        "nothing was heard for more than VTN_COMMS_LOSS_SECONDS (comms loss). BL clients only.")
async def get_last_seen(
    request: Request, principal: BLPrincipal, page: Annotated[Page, Depends(page_params)]
) -> JSONResponse:
    settings = request.app.state.settings
    async with _db(request).session(write=False) as session:
        extra = request.app.state.heartbeats.latest_by_ven(principal.operator)
        items = await last_seen(session, principal.operator, extra, settings.comms_loss_seconds, page)
    return JSONResponse(items)


@router.get("/gb/emergency-stops", operation_id="gbFspEmergencyStops", summary="FSP emergency stops not cleared (BL)",
            response_model=list[FspEmergencyStop], responses=ERRORS,
            description="GB profile: every dispatch unit whose FSP reported an emergency stop (a GB_EMERGENCY_STOP "
                        "report) and has not cleared it since (docs/gb-profile.md §6.3), newest first. Dispatches to "
                        "these units are answered with a `GB-Warning` header. BL clients only.")
async def get_fsp_emergency_stops(request: Request, principal: BLPrincipal) -> JSONResponse:
    from vtn.profiles import fsp_emergency_stops

    async with _db(request).session(write=False) as session:
        stops = await fsp_emergency_stops(session, principal.operator)
    return JSONResponse([
        {"venName": s.fsp_id, "resourceName": s.dispatch_unit, "operatorID": s.operator_id, "reason": s.reason,
         "effectiveDateTime": format_timestamp(s.effective_time), "reportID": s.report_id, "eventID": s.event_id,
         "programID": s.program_id}
        for s in stops
    ])
