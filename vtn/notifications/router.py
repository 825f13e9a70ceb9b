"""OpenADR 3.1.0 `/notifiers` and `/notifiers/mqtt/topics/...` (mounted under the 3.1.0 base path).

Scopes as the 3.1.0 YAML names them (`read_all`, `read_bl`, `read_ven_objects`; `vtn.core.security.holds`).
Topic privacy is the object rule (`vtn.auth.privacy`): a ven client is answered with the topics of its own
subtree (`vens/{its venID}/...`), where only what it may read is published; the operator-wide topics are
`read_bl` (business-logic clients only: 403 to vens); a program or ven the caller may not read is a 404, as
on its GET. While no broker is configured (`VTN_MQTT_URL` unset) `/notifiers` says
WEBHOOK only and the topic endpoints answer 404.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse

from vtn.auth.dependencies import ViewerFor, grants_version, resolve
from vtn.auth.privacy import Viewer, ensure_has_ven
from vtn.core.deps import ReadSession
from vtn.core.errors import NotFound
from vtn.core.responses import error_responses
from vtn.core.security import Principal, Scope, requires
from vtn.core.settings import Settings
from vtn.notifications import mqtt
from vtn.programs import service as programs
from vtn.vens import service as vens

router = APIRouter(tags=["notifiers"])
Reader = ViewerFor(Scope.READ_ALL)
# read_bl: BL clients only (403 to a VEN, vtn.core.security.holds); the topics need only the caller's operator
OperatorWide = Annotated[Principal, requires(Scope.READ_BL)]
VenObjects = Annotated[Principal, requires(Scope.READ_VEN_OBJECTS)]
ObjectID = Annotated[str, PathParam(pattern=r"^[a-zA-Z0-9_-]*$", min_length=1, max_length=128)]
TOPIC_ERRORS = error_responses(400, 401, 403, 404, 500)


def binding(settings: Settings) -> dict[str, Any]:
    """The `mqttNotifierBindingObject` clients are told: where the broker is and how to log in."""
    method = settings.mqtt_client_auth
    authentication: dict[str, Any] = {"method": method}
    if method == "OAUTH2_BEARER_TOKEN":
        authentication["username"] = settings.mqtt_client_username
    elif method == "CERTIFICATE":
        # the CA is public; each client's own certificate and key are issued to it out of band, never served
        ca = Path(settings.mqtt_ca_file).read_text() if settings.mqtt_ca_file else ""
        authentication |= {"caCert": ca, "clientCert": "", "clientKey": ""}
    uris = settings.mqtt_public_uris or [str(settings.mqtt_url)]
    return {"URIS": uris, "serialization": "JSON", "authentication": authentication}


@router.get("/notifiers", operation_id="listAllNotifiers", summary="List all notifier bindings",
            responses=error_responses(400, 401, 403, 500))
async def list_notifiers(request: Request, viewer: Reader) -> JSONResponse:
    settings: Settings = request.app.state.settings
    body: dict[str, Any] = {"WEBHOOK": True}
    if settings.mqtt_url:
        body["MQTT"] = binding(settings)
    return JSONResponse(body)


def _topics(request: Request) -> mqtt.Topics:
    topics: mqtt.Topics | None = request.app.state.db.info.get(mqtt.SESSION_KEY)
    if topics is None:
        raise NotFound("this VTN has no MQTT notifier (GET /notifiers lists the bindings it has)")
    return topics


def _answer(base: str, *, create: bool = True) -> JSONResponse:
    return JSONResponse({"topics": mqtt.operations(base, create=create)})


@router.get("/notifiers/mqtt/topics/programs", operation_id="listAllMqttNotifierTopicsPrograms",
            summary="MQTT topic names for operations on programs", tags=["MQTT_notifier"], responses=TOPIC_ERRORS)
async def program_topics(request: Request, viewer: Reader) -> JSONResponse:
    topics = _topics(request)
    ven_id = None if viewer.is_bl else ensure_has_ven(viewer)
    return _answer(topics.programs(viewer.operator, ven_id))


@router.get("/notifiers/mqtt/topics/programs/{programID}", operation_id="listAllMqttNotifierTopicsProgram",
            summary="MQTT topic names for operations on a program", tags=["MQTT_notifier"], responses=TOPIC_ERRORS)
async def one_program_topics(request: Request, session: ReadSession, viewer: Reader, programID: ObjectID) -> JSONResponse:
    topics = _topics(request)
    await programs.get_program(session, viewer, programID)  # 404 unless the caller may read it
    ven_id = None if viewer.is_bl else ensure_has_ven(viewer)
    return _answer(topics.programs(viewer.operator, ven_id, programID), create=False)


@router.get("/notifiers/mqtt/topics/events", operation_id="listAllMqttNotifierTopicsEvents",
            summary="MQTT topic names for operations on all events", tags=["MQTT_notifier"], responses=TOPIC_ERRORS)
async def event_topics(request: Request, principal: OperatorWide) -> JSONResponse:
    return _answer(_topics(request).events(principal.operator))


@router.get("/notifiers/mqtt/topics/programs/{programID}/events", operation_id="listAllMqttNotifierTopicsProgramEvents",
            summary="MQTT topic names for operations on the events of a program", tags=["MQTT_notifier"],
            responses=TOPIC_ERRORS)
async def program_event_topics(request: Request, session: ReadSession, viewer: Reader, programID: ObjectID) -> JSONResponse:
    topics = _topics(request)
    await programs.get_program(session, viewer, programID)
    ven_id = None if viewer.is_bl else ensure_has_ven(viewer)
    return _answer(topics.events(viewer.operator, ven_id, programID))


@router.get("/notifiers/mqtt/topics/reports", operation_id="listAllMqttNotifierTopicsReports",
            summary="MQTT topic names for operations on all reports", tags=["MQTT_notifier"], responses=TOPIC_ERRORS)
async def report_topics(request: Request, principal: OperatorWide) -> JSONResponse:
    return _answer(_topics(request).reports(principal.operator))


@router.get("/notifiers/mqtt/topics/subscriptions", operation_id="listAllMqttNotifierTopicsSubscriptions",
            summary="MQTT topic names for operations on all subscriptions", tags=["MQTT_notifier"], responses=TOPIC_ERRORS)
async def subscription_topics(request: Request, principal: OperatorWide) -> JSONResponse:
    return _answer(_topics(request).subscriptions(principal.operator))


@router.get("/notifiers/mqtt/topics/vens", operation_id="listAllMqttNotifierTopicsVens",
            summary="MQTT topic names for operations on vens", tags=["MQTT_notifier"], responses=TOPIC_ERRORS)
async def ven_topics(request: Request, principal: OperatorWide) -> JSONResponse:
    return _answer(_topics(request).vens(principal.operator))


@router.get("/notifiers/mqtt/topics/resources", operation_id="listAllMqttNotifierTopicsResources",
            summary="MQTT topic names for operations on resources", tags=["MQTT_notifier"], responses=TOPIC_ERRORS)
async def resource_topics(request: Request, principal: OperatorWide) -> JSONResponse:
    return _answer(_topics(request).resources(principal.operator))


async def _ven(request: Request, session: Any, principal: Principal, ven_id: str) -> tuple[mqtt.Topics, Viewer]:
    topics = _topics(request)
    state = request.app.state
    viewer = await resolve(state, session, principal, grants_version(await state.revisions.current(state.db)))
    await vens.get_ven(session, viewer, ven_id)  # 404 unless it is the caller's own ven (or the caller is BL)
    return topics, viewer


@router.get("/notifiers/mqtt/topics/vens/{venID}", operation_id="listAllMqttNotifierTopicsVen",
            summary="MQTT topic names for operations on a ven", tags=["MQTT_notifier"], responses=TOPIC_ERRORS)
async def one_ven_topics(request: Request, session: ReadSession, principal: VenObjects, venID: ObjectID) -> JSONResponse:
    topics, viewer = await _ven(request, session, principal, venID)
    return _answer(topics.vens(viewer.operator, venID), create=False)


@router.get("/notifiers/mqtt/topics/vens/{venID}/events", operation_id="listAllMqttNotifierTopicsVenEvents",
            summary="MQTT topic names for operations on the events a ven may read", tags=["MQTT_notifier"],
            responses=TOPIC_ERRORS)
async def ven_event_topics(request: Request, session: ReadSession, principal: VenObjects, venID: ObjectID) -> JSONResponse:
    topics, viewer = await _ven(request, session, principal, venID)
    return _answer(topics.events(viewer.operator, venID))


@router.get("/notifiers/mqtt/topics/vens/{venID}/programs", operation_id="listAllMqttNotifierTopicsVenPrograms",
            summary="MQTT topic names for operations on the programs a ven may read", tags=["MQTT_notifier"],
            responses=TOPIC_ERRORS)
async def ven_program_topics(request: Request, session: ReadSession, principal: VenObjects, venID: ObjectID) -> JSONResponse:
    topics, viewer = await _ven(request, session, principal, venID)
    return _answer(topics.programs(viewer.operator, venID))


@router.get("/notifiers/mqtt/topics/vens/{venID}/resources", operation_id="listAllMqttNotifierTopicsVenResources",
            summary="MQTT topic names for operations on the resources of a ven", tags=["MQTT_notifier"],
            responses=TOPIC_ERRORS)
async def ven_resource_topics(request: Request, session: ReadSession, principal: VenObjects, venID: ObjectID) -> JSONResponse:
    topics, viewer = await _ven(request, session, principal, venID)
    return _answer(topics.resources(viewer.operator, venID))
