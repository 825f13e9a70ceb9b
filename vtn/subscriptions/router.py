"""HTTP operations on /subscriptions (Y301:844-1140)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from openadr3.models import ObjectID, ObjectType, Subscription
from vtn.auth.dependencies import ReadContext, ViewerFor
from vtn.core.deps import ObjectIDPath, Targets, WriteSession
from vtn.core.pagination import Page, page_params
from vtn.core.responses import error_responses, object_response
from vtn.core.security import Scope
from vtn.subscriptions import service

router = APIRouter(tags=["subscriptions"])
SubscriptionBody = Annotated[Subscription, Body(description="subscription item to add or update.")]


@router.get(
    "/subscriptions", operation_id="searchSubscriptions", summary="search subscriptions",
    response_model=list[Subscription], responses=error_responses(400, 401, 403, 500),
)
async def search_subscriptions(
    read: ReadContext,
    targets: Targets,
    page: Annotated[Page, Depends(page_params)],
    programID: Annotated[ObjectID | None, Query(description="filter results to subscriptions with programID.")] = None,
    clientName: Annotated[str | None, Query(description="filter results to subscriptions with clientName.")] = None,
    objects: Annotated[list[ObjectType] | None, Query(description="list of objects to subscribe to.")] = None,
) -> Response:
    return await read.answer(
        lambda session, viewer: service.list_subscriptions(session, viewer, programID, clientName, targets, objects, page)
    )


@router.post(
    "/subscriptions", operation_id="createSubscription", summary="create subscription", status_code=201,
    response_model=Subscription, responses=error_responses(400, 401, 403, 409, 500),
)
async def create_subscription(
    request: Request, session: WriteSession, viewer: ViewerFor(Scope.WRITE_SUBSCRIPTIONS), body: SubscriptionBody
) -> JSONResponse:
    document = await service.create_subscription(session, viewer, body, request.app.state.settings)
    return object_response(document, status=201)


@router.get(
    "/subscriptions/{subscriptionID}", operation_id="searchSubscriptionByID", summary="search subscriptions by ID",
    response_model=Subscription, responses=error_responses(400, 401, 403, 404, 500),
)
async def search_subscription_by_id(read: ReadContext, subscriptionID: ObjectIDPath) -> Response:
    return await read.answer(lambda session, viewer: service.subscription_document(session, viewer, subscriptionID))


@router.put(
    "/subscriptions/{subscriptionID}", operation_id="updateSubscription", summary="update subscription",
    response_model=Subscription, responses=error_responses(400, 401, 403, 404, 409, 500),
)
async def update_subscription(
    request: Request,
    session: WriteSession,
    viewer: ViewerFor(Scope.WRITE_SUBSCRIPTIONS),
    subscriptionID: ObjectIDPath,
    body: SubscriptionBody,
) -> JSONResponse:
    document = await service.update_subscription(session, viewer, subscriptionID, body, request.app.state.settings)
    return object_response(document)


@router.delete(
    "/subscriptions/{subscriptionID}", operation_id="deleteSubscription", summary="delete subscription",
    response_model=Subscription, responses=error_responses(400, 401, 403, 404, 500),
)
async def delete_subscription(
    session: WriteSession, viewer: ViewerFor(Scope.WRITE_SUBSCRIPTIONS), subscriptionID: ObjectIDPath
) -> JSONResponse:
    return object_response(await service.delete_subscription(session, viewer, subscriptionID))
