"""OpenADR 3.0.1 wire models, field for field as in `spec/3.0.1/openadr3.yaml`.

These are the only definitions of the wire format: the VTN, the GB profile, the reference VEN
and the conformance suite all use them. They depend on pydantic alone, so a VEN can install
them without the server's database stack.

Conventions:
- Field names are the spec's names (camelCase), so a model dumps to the wire format directly.
- Unknown properties are ignored (the spec allows a VTN to drop them).
- `dump()` leaves out `None`: the 3.0.1 schema marks only some optional fields nullable, so
  absent is the one representation that always validates.
- Date-times must carry an offset (RFC 3339); the offset the client sent is kept.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator

from openadr3.durations import DURATION_PATTERN

OBJECT_ID_PATTERN = r"^[a-zA-Z0-9_-]*$"
MAX_LIST_LIMIT = 50

ObjectID = Annotated[str, Field(min_length=1, max_length=128, pattern=OBJECT_ID_PATTERN)]
Duration = Annotated[str, Field(pattern=DURATION_PATTERN)]
Name128 = Annotated[str, Field(min_length=1, max_length=128)]
Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]


class ObjectType(StrEnum):
    PROGRAM = "PROGRAM"
    EVENT = "EVENT"
    REPORT = "REPORT"
    SUBSCRIPTION = "SUBSCRIPTION"
    VEN = "VEN"
    RESOURCE = "RESOURCE"


class Operation(StrEnum):
    """Operations a subscription names (3.0.1 `objectOperations[].operations`)."""

    READ = "READ"
    CREATE = "CREATE"
    UPDATE = "UPDATE"
    DELETE = "DELETE"


class NotificationOperation(StrEnum):
    """Operations a 3.0.1 notification carries: HTTP verbs, unlike subscriptions (Y301:2436)."""

    GET = "GET"
    POST = "POST"
    PUT = "PUT"
    DELETE = "DELETE"


NOTIFICATION_OPERATION = {
    Operation.READ: NotificationOperation.GET,
    Operation.CREATE: NotificationOperation.POST,
    Operation.UPDATE: NotificationOperation.PUT,
    Operation.DELETE: NotificationOperation.DELETE,
}


class WireModel(BaseModel):
    # allow_inf_nan=False: Python's json reads NaN/Infinity (and 1e400 as inf), JSON cannot carry them.
    model_config = ConfigDict(
        extra="ignore", populate_by_name=True, use_enum_values=True, regex_engine="python-re", allow_inf_nan=False
    )

    def dump(self) -> dict[str, Any]:
        """The wire representation: JSON types, no `None` values."""
        return self.model_dump(mode="json", exclude_none=True, by_alias=True)


class Point(WireModel):
    x: float
    y: float


ValuesMapValue = bool | int | float | str | Point


class ValuesMap(WireModel):
    type: Name128
    values: list[ValuesMapValue]


class IntervalPeriod(WireModel):
    start: AwareDatetime
    duration: Duration | None = None
    randomizeStart: Duration | None = None


class Interval(WireModel):
    id: Int32
    intervalPeriod: IntervalPeriod | None = None
    payloads: list[ValuesMap]


class EventPayloadDescriptor(WireModel):
    objectType: Literal["EVENT_PAYLOAD_DESCRIPTOR"] | None = None
    payloadType: Name128
    units: str | None = None
    currency: str | None = None


class ReportPayloadDescriptor(WireModel):
    objectType: Literal["REPORT_PAYLOAD_DESCRIPTOR"] | None = None
    payloadType: Name128
    readingType: str | None = None
    units: str | None = None
    accuracy: float | None = None
    confidence: Annotated[int, Field(ge=0, le=100)] | None = None


class ReportDescriptor(WireModel):
    payloadType: Name128
    readingType: str | None = None
    units: str | None = None
    targets: list[ValuesMap] | None = None
    aggregate: bool | None = None
    startInterval: Int32 | None = None
    numIntervals: Int32 | None = None
    historical: bool | None = None
    frequency: Int32 | None = None
    repeat: Int32 | None = None


class ProgramDescription(WireModel):
    URL: str


class OpenADRObject(WireModel):
    """Fields every top-level object has; all four are provisioned by the VTN."""

    id: ObjectID | None = None
    createdDateTime: AwareDatetime | None = None
    modificationDateTime: AwareDatetime | None = None

    @model_validator(mode="before")
    @classmethod
    def _drop_unusable_provisioned(cls, data: Any) -> Any:
        """A VTN ignores provisioned fields sent by clients (D310:360-362): never reject a body for them."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        expected = cls.model_fields["objectType"].annotation if "objectType" in cls.model_fields else None
        if data.get("objectType") is not None and data["objectType"] not in getattr(expected, "__args__", ((),))[0].__args__:
            data.pop("objectType")
        for key, adapter in _PROVISIONED_ADAPTERS.items():
            if data.get(key) is not None:
                try:
                    adapter.validate_python(data[key])
                except ValidationError:
                    data.pop(key)
        return data

    def content(self) -> dict[str, Any]:
        """The client-supplied part: the wire dump without VTN-provisioned fields."""
        data = self.dump()
        for key in PROVISIONED_FIELDS:
            data.pop(key, None)
        return data


PROVISIONED_FIELDS = ("id", "createdDateTime", "modificationDateTime", "objectType")
_PROVISIONED_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    "id": TypeAdapter(ObjectID),
    "createdDateTime": TypeAdapter(AwareDatetime),
    "modificationDateTime": TypeAdapter(AwareDatetime),
}


def _payload_descriptor(value: Any) -> Any:
    """Pick the descriptor kind by `objectType`, else by the fields only a report descriptor has."""
    if isinstance(value, EventPayloadDescriptor | ReportPayloadDescriptor):
        return value
    if not isinstance(value, dict):
        raise ValueError("payload descriptor must be an object")
    kind = value.get("objectType")
    if kind == "REPORT_PAYLOAD_DESCRIPTOR" or (
        kind is None and any(k in value for k in ("readingType", "accuracy", "confidence"))
    ):
        return ReportPayloadDescriptor.model_validate(value)
    return EventPayloadDescriptor.model_validate(value)


class Program(OpenADRObject):
    objectType: Literal["PROGRAM"] | None = None
    programName: Name128
    programLongName: str | None = None
    retailerName: str | None = None
    retailerLongName: str | None = None
    programType: str | None = None
    country: str | None = None
    principalSubdivision: str | None = None
    timeZoneOffset: Duration | None = None
    intervalPeriod: IntervalPeriod | None = None
    programDescriptions: list[ProgramDescription] | None = None
    bindingEvents: bool | None = None
    localPrice: bool | None = None
    payloadDescriptors: list[EventPayloadDescriptor | ReportPayloadDescriptor] | None = None
    targets: list[ValuesMap] | None = None

    @field_validator("payloadDescriptors", mode="before")
    @classmethod
    def _descriptors(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [_payload_descriptor(item) for item in value]
        return value


class Event(OpenADRObject):
    objectType: Literal["EVENT"] | None = None
    programID: ObjectID
    eventName: str | None = None
    priority: Annotated[int, Field(ge=0, le=2**31 - 1)] | None = None
    targets: list[ValuesMap] | None = None
    reportDescriptors: list[ReportDescriptor] | None = None
    payloadDescriptors: list[EventPayloadDescriptor] | None = None
    intervalPeriod: IntervalPeriod | None = None
    intervals: list[Interval]


class ReportResource(WireModel):
    resourceName: Name128
    intervalPeriod: IntervalPeriod | None = None
    intervals: list[Interval]


class Report(OpenADRObject):
    objectType: Literal["REPORT"] | None = None
    programID: ObjectID
    eventID: ObjectID
    clientName: Name128
    reportName: str | None = None
    payloadDescriptors: list[ReportPayloadDescriptor] | None = None
    resources: list[ReportResource]


class ObjectOperation(WireModel):
    objects: list[ObjectType]
    operations: list[Operation]
    callbackUrl: Annotated[str, Field(min_length=1, max_length=8000)]
    bearerToken: str | None = None

    @field_validator("operations", mode="before")
    @classmethod
    def _accept_300_verbs(cls, value: Any) -> Any:
        # 3.0.0 clients subscribe with HTTP verbs; read them as the 3.0.1 CRUD names.
        legacy = {"GET": "READ", "POST": "CREATE", "PUT": "UPDATE"}
        if isinstance(value, list):
            return [legacy.get(v, v) if isinstance(v, str) else v for v in value]
        return value


class Subscription(OpenADRObject):
    objectType: Literal["SUBSCRIPTION"] | None = None
    clientName: Name128
    # required by 3.0.1 (the VTN's 3.0.1 API refuses its absence); optional in 3.1.0 (issue 231)
    programID: ObjectID | None = None
    objectOperations: list[ObjectOperation]
    targets: list[ValuesMap] | None = None


class Resource(OpenADRObject):
    objectType: Literal["RESOURCE"] | None = None
    resourceName: Name128
    venID: ObjectID | None = None
    attributes: list[ValuesMap] | None = None
    targets: list[ValuesMap] | None = None


class Ven(OpenADRObject):
    objectType: Literal["VEN"] | None = None
    venName: Name128
    attributes: list[ValuesMap] | None = None
    targets: list[ValuesMap] | None = None
    resources: list[Resource] | None = None


class Notification(WireModel):
    objectType: ObjectType
    operation: NotificationOperation
    object: dict[str, Any]
    targets: list[ValuesMap] | None = None


class Problem(WireModel):
    type: str = "about:blank"
    title: str | None = None
    status: int | None = None
    detail: str | None = None
    instance: str | None = None


class ClientCredentialResponse(WireModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int | None = None
    refresh_token: str | None = None
    scope: str | None = None


class AuthError(WireModel):
    error: Literal[
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "invalid_scope",
        "unauthorized_client",
        "unsupported_grant_type",
    ]
    error_description: str | None = None
    error_uri: str | None = None


MODEL_BY_TYPE: dict[ObjectType, type[OpenADRObject]] = {
    ObjectType.PROGRAM: Program,
    ObjectType.EVENT: Event,
    ObjectType.REPORT: Report,
    ObjectType.SUBSCRIPTION: Subscription,
    ObjectType.VEN: Ven,
    ObjectType.RESOURCE: Resource,
}


def parse_object(data: dict[str, Any]) -> OpenADRObject:
    """Parse a wire object whose `objectType` names its schema."""
    return MODEL_BY_TYPE[ObjectType(data["objectType"])].model_validate(data)
