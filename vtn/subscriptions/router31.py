"""HTTP operations on /subscriptions of the OpenADR 3.1.0 API, over the same subscriptions as 3.0.1.

3.1.0 differences: programID is optional (a subscription to every program's objects the owner may read, or
to its own ven), operations are CRUD names in notifications too (a 3.1.0 subscription is told in 3.1.0 form,
vtn.notifications.outbox), clientID is the creating client's, and each callback URL must pass the
ownership check (GET `?echo=`, D310:3327) before the subscription is stored.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlmodel.ext.asyncio.session import AsyncSession

from openadr3.convert import V310, subscription_from_v31
from openadr3.models import ObjectID, ObjectType, Subscription
from vtn.auth.dependencies import ReadContextFor, grants_version, resolve
from vtn.auth.privacy import Viewer
from vtn.core.deps import ObjectIDPath
from vtn.core.pagination import Page, page_params
from vtn.core.responses import object_response
from vtn.core.security import Principal, Scope, requires
from vtn.core.versions import check_v31, model_of
from vtn.subscriptions import service

router = APIRouter(tags=["subscriptions"])
ReadVenObjects = ReadContextFor(Scope.READ_VEN_OBJECTS)
Writer = Annotated[Principal, requires(Scope.WRITE_SUBSCRIPTIONS)]
Body31 = Annotated[dict[str, Any], Body(description="subscriptionRequest (OpenADR 3.1.0)")]


def _subscription(principal: Principal, body: Any) -> tuple[Subscription, dict[str, Any]]:
    content, extra = subscription_from_v31(check_v31("subscriptionRequest", body, "subscription"), principal.client_id)
    return model_of(Subscription, content), extra


async def _write(request: Request, principal: Principal, work: Callable[[AsyncSession, Viewer], Awaitable[Any]]) -> Any:
    """`work` in a write transaction opened only now (after the callback checks), with the caller's viewer."""
    state = request.app.state
    async with state.db.session(write=True) as session:
        viewer = await resolve(state, session, principal, grants_version(await state.revisions.current(state.db)))
        return await work(session, viewer)


@router.get("/subscriptions", operation_id="searchSubscriptions")
async def search_subscriptions(
    read: ReadVenObjects, page: Annotated[Page, Depends(page_params)],
    programID: Annotated[ObjectID | None, Query(description="filter results to subscriptions with programID.")] = None,
    clientName: Annotated[str | None, Query(description="filter results to subscriptions with clientName.")] = None,
    objects: Annotated[list[ObjectType] | None, Query(description="list of objects to subscribe to.")] = None,
) -> Response:
    return await read.answer(lambda session, viewer: service.list_subscriptions(
        session, viewer, programID, clientName, None, objects, page, api=V310))


@router.post("/subscriptions", operation_id="createSubscription", status_code=201)
async def create_subscription(request: Request, principal: Writer, body: Body31) -> JSONResponse:
    subscription, extra = _subscription(principal, body)
    settings = request.app.state.settings
    await service.verify_callbacks(subscription, settings)
    document = await _write(request, principal, lambda session, viewer: service.create_subscription(
        session, viewer, subscription, settings, extra, api=V310))
    return object_response(document, status=201)


@router.get("/subscriptions/{subscriptionID}", operation_id="searchSubscriptionByID")
async def search_subscription_by_id(read: ReadVenObjects, subscriptionID: ObjectIDPath) -> Response:
    return await read.answer(lambda session, viewer: service.subscription_document(session, viewer, subscriptionID, V310))


@router.put("/subscriptions/{subscriptionID}", operation_id="updateSubscription")
async def update_subscription(request: Request, principal: Writer, subscriptionID: ObjectIDPath, body: Body31) -> JSONResponse:
    subscription, extra = _subscription(principal, body)
    settings = request.app.state.settings
    await service.verify_callbacks(subscription, settings)
    return object_response(await _write(request, principal, lambda session, viewer: service.update_subscription(
        session, viewer, subscriptionID, subscription, settings, extra, api=V310)))


@router.delete("/subscriptions/{subscriptionID}", operation_id="deleteSubscription")
async def delete_subscription(request: Request, principal: Writer, subscriptionID: ObjectIDPath) -> JSONResponse:
    return object_response(await _write(request, principal, lambda session, viewer: service.delete_subscription(
        session, viewer, subscriptionID, V310)))
