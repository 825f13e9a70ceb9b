"""Typed domain objects of the GB profile and the names it puts on the wire (docs/gb-profile.md §3-§6).

These are not wire models: `gb_profile.builders` turns them into `openadr3.models` objects and back.
All instants are timezone-aware; builders emit them in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from gb_profile.products import ProductCode, SetpointKind

PROFILE_VERSION = "1.0"
PROGRAM_TYPE_PREFIX = "GB_FLEX:"
COUNTRY = "GB"
CURRENCY = "GBP"

# Target types (3.0.1 valuesMap `type`)
T_VEN_NAME = "VEN_NAME"  # FSP ID
T_RESOURCE_NAME = "RESOURCE_NAME"  # dispatch unit (namespaced by the VEN_NAME)
T_CONTRACT = "GB_CONTRACT"  # "<NO>:<contract id>"
# The contract id of a test dispatch (sandbox program): not a contract, no payment, and never actuated by a VEN
SANDBOX_CONTRACT = "SANDBOX"
T_CMZ = "GB_CMZ"  # "<NO>:<constraint management zone code>"
T_MPAN = "GB_MPAN"  # MPAN core, on meterable-unit resources

# Resource attribute types
A_ROLE = "GB_RESOURCE_ROLE"
A_MPAN = "GB_MPAN"
A_CMZ = "GB_CMZ"
A_DISPATCH_UNIT = "GB_DISPATCH_UNIT"
A_METERABLE_UNITS = "GB_METERABLE_UNITS"
A_MAX_CONSUMPTION = "MAX_POWER_CONSUMPTION"
A_MAX_EXPORT = "MAX_POWER_EXPORT"

# Event payload types
P_STATUS = "GB_DISPATCH_STATUS"
P_REVISION = "GB_DISPATCH_REVISION"
P_INSTRUCTION_TIME = "GB_INSTRUCTION_TIME"
P_SIGNATURE = "GB_SIGNATURE"
P_SETPOINT_ABSOLUTE = "DISPATCH_SETPOINT"
P_SETPOINT_DELTA = "DISPATCH_SETPOINT_RELATIVE"
P_PRICE = "PRICE"
SETPOINT_PAYLOAD = {SetpointKind.ABSOLUTE: P_SETPOINT_ABSOLUTE, SetpointKind.DELTA: P_SETPOINT_DELTA}
SETPOINT_KIND = {v: k for k, v in SETPOINT_PAYLOAD.items()}
METADATA_PAYLOADS = (P_STATUS, P_REVISION, P_INSTRUCTION_TIME, P_SIGNATURE)

# Report names and payload types
R_ACK = "GB_ACK"
R_HEARTBEAT = "GB_HEARTBEAT"
R_READINGS = "GB_READINGS"
R_AVAILABILITY = "GB_AVAILABILITY"
R_EMERGENCY_STOP = "GB_EMERGENCY_STOP"
REPORT_NAMES = (R_ACK, R_HEARTBEAT, R_READINGS, R_AVAILABILITY, R_EMERGENCY_STOP)
P_ACK_STATUS = "GB_ACK_STATUS"
P_DISPATCH_REF = "GB_NO_DISPATCH_REF"
P_ACK_RESULT = "GB_ACK_RESULT"
P_ACK_REASON = "GB_ACK_REASON"
P_HEARTBEAT = "GB_HEARTBEAT"
P_OPERATOR = "GB_NETWORK_OPERATOR"
P_EMERGENCY_STOP = "GB_EMERGENCY_STOP"
P_EMERGENCY_STOP_CLEARED = "GB_EMERGENCY_STOP_CLEARED"  # the FSP's clearance of its emergency stop (§6.3)
P_DEMAND = "DEMAND"
P_USAGE = "USAGE"
P_BASELINE = "BASELINE"
P_DATA_QUALITY = "DATA_QUALITY"
P_OPERATING_STATE = "OPERATING_STATE"
P_UP_AVAILABLE = "UP_REGULATION_AVAILABLE"
P_DOWN_AVAILABLE = "DOWN_REGULATION_AVAILABLE"
AGGREGATED_REPORT = "AGGREGATED_REPORT"
ANCHOR_REF = "GB_ANCHOR"

OPERATING_STATES = (
    "NORMAL",
    "ERROR",
    "IDLE_NORMAL",
    "RUNNING_NORMAL",
    "RUNNING_CURTAILED",
    "RUNNING_HEIGHTENED",
    "IDLE_CURTAILED",
    "SGD_ERROR_CONDITION",
    "IDLE_HEIGHTENED",
    "IDLE_OPTED_OUT",
    "RUNNING_OPTED_OUT",
)
DATA_QUALITIES = ("OK", "MISSING", "ESTIMATED", "BAD")


class DispatchStatus(StrEnum):
    PRE_NOTIFY = "PRE_NOTIFY"
    RUN = "RUN"
    RUN_NOW = "RUN_NOW"
    STOP = "STOP"
    CANCELLED = "CANCELLED"
    EMERGENCY_STOP = "EMERGENCY_STOP"


ACTIVE_STATUSES = frozenset({DispatchStatus.PRE_NOTIFY, DispatchStatus.RUN, DispatchStatus.RUN_NOW})
TERMINAL_STATUSES = frozenset({DispatchStatus.STOP, DispatchStatus.CANCELLED, DispatchStatus.EMERGENCY_STOP})

ALLOWED_TRANSITIONS: dict[DispatchStatus, frozenset[DispatchStatus]] = {
    DispatchStatus.PRE_NOTIFY: frozenset(DispatchStatus),
    DispatchStatus.RUN: frozenset(
        {DispatchStatus.RUN, DispatchStatus.RUN_NOW, DispatchStatus.STOP, DispatchStatus.CANCELLED, DispatchStatus.EMERGENCY_STOP}
    ),
    DispatchStatus.RUN_NOW: frozenset({DispatchStatus.RUN_NOW, DispatchStatus.STOP, DispatchStatus.EMERGENCY_STOP}),
    DispatchStatus.STOP: frozenset(),
    DispatchStatus.CANCELLED: frozenset(),
    DispatchStatus.EMERGENCY_STOP: frozenset(),
}


class ServiceType(StrEnum):
    REAL = "REAL"
    REACTIVE = "REACTIVE"


class ServiceUnits(StrEnum):
    KW = "KW"
    KVAR = "KVAR"


SERVICE_TYPE_OF_UNITS = {ServiceUnits.KW: ServiceType.REAL, ServiceUnits.KVAR: ServiceType.REACTIVE}
PRICE_UNITS = {ServiceUnits.KW: "KWH", ServiceUnits.KVAR: "KVARH"}


class Direction(StrEnum):
    """ENA 'Required Service' direction, as a contract term (Piclo need_direction in brackets)."""

    TURN_DOWN = "TURN_DOWN"  # demand turn-down / generation turn-up (deficit): net import falls
    TURN_UP = "TURN_UP"  # demand turn-up / generation turn-down (excess): net import rises
    REACTIVE_IMPORT = "REACTIVE_IMPORT"  # Piclo "import" (leading)
    REACTIVE_EXPORT = "REACTIVE_EXPORT"  # Piclo "export" (lagging)


class AckResult(StrEnum):
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"


class ResourceRole(StrEnum):
    DISPATCH_UNIT = "DISPATCH_UNIT"
    METERABLE_UNIT = "METERABLE_UNIT"


class ReadingKind(StrEnum):
    POWER_KW = "POWER_KW"  # per-minute mean power, DEMAND MEAN KW, PT1M
    ENERGY_KWH = "ENERGY_KWH"  # half-hourly energy, USAGE KWH, PT30M


READING_STEP = {ReadingKind.POWER_KW: timedelta(minutes=1), ReadingKind.ENERGY_KWH: timedelta(minutes=30)}


class ProfileError(ValueError):
    """A domain object cannot be encoded, or a wire object cannot be decoded, under the profile."""


@dataclass(frozen=True)
class ConstraintManagementZone:
    operator_id: str
    code: str  # e.g. CMZ_T7B_SWA_0012

    @property
    def target_value(self) -> str:
        return f"{self.operator_id}:{self.code}"


@dataclass(frozen=True)
class Contract:
    """A flexibility services contract between a network operator and an FSP.

    Run times, sizes and prices are per contract; the profile carries them, it does not fix them.
    """

    operator_id: str
    contract_id: str  # the operator's reference, unique within the operator
    fsp_id: str
    product: ProductCode
    direction: Direction = Direction.TURN_DOWN
    dispatch_units: tuple[str, ...] = ()
    cmz: str | None = None
    min_run_time: timedelta | None = None
    max_run_time: timedelta | None = None
    max_weekly_run_time: timedelta | None = None
    min_capacity_kw: float | None = None
    max_capacity_kw: float | None = None
    availability_price_gbp_per_mw_h: float | None = None
    utilisation_price_gbp_per_mwh: float | None = None
    ack_period: timedelta | None = None  # Utilisation Instruction Acknowledgement Period
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    terms_url: str | None = None

    @property
    def target_value(self) -> str:
        return f"{self.operator_id}:{self.contract_id}"


@dataclass(frozen=True)
class DispatchUnit:
    """What a dispatch addresses (Flexible Power 'dispatch group'): a VEN resource of one FSP."""

    fsp_id: str
    name: str
    operator_id: str
    meterable_units: tuple[str, ...] = ()
    cmz: str | None = None
    contracts: tuple[str, ...] = ()
    max_consumption_kw: float | None = None
    max_export_kw: float | None = None


@dataclass(frozen=True)
class MeterableUnit:
    """A metered site or asset (Flexible Power 'meterable unit'), identified by its MPAN core(s)."""

    fsp_id: str
    name: str
    mpans: tuple[str, ...]
    dispatch_unit: str | None = None


@dataclass(frozen=True)
class Setpoint:
    """One ENA 'service timing' entry: from `timestamp` until the next setpoint (or service end)."""

    timestamp: datetime
    volume: float  # signed, net-import-positive (see §4.4); units below
    units: ServiceUnits = ServiceUnits.KW
    kind: SetpointKind = SetpointKind.DELTA
    price: float | None = None  # GBP per KWH (KVARH for reactive)

    @property
    def service_type(self) -> ServiceType:
        return SERVICE_TYPE_OF_UNITS[self.units]


@dataclass(frozen=True)
class DispatchInstruction:
    """The ENA TWG Appendix A dispatch (network operator -> FSP); one per dispatch unit."""

    operator_id: str
    dispatch_ref: str
    revision: int
    status: DispatchStatus
    instruction_time: datetime
    fsp_id: str
    dispatch_unit: str
    contract_id: str  # operator-local id; namespaced on the wire as <operator>:<id>
    service_start: datetime
    service_end: datetime
    setpoints: tuple[Setpoint, ...] = ()
    cmz: str | None = None
    signature: str | None = None

    @property
    def event_name(self) -> str:
        return f"{self.operator_id}:{self.dispatch_ref}"


@dataclass(frozen=True)
class Acknowledgement:
    """FSP read-back of one revision of a dispatch."""

    fsp_id: str
    operator_id: str
    dispatch_ref: str
    revision: int
    dispatch_unit: str
    status: DispatchStatus
    received_time: datetime
    result: AckResult = AckResult.ACCEPTED
    reason: str | None = None
    signature: str | None = None

    @property
    def event_name(self) -> str:
        return f"{self.operator_id}:{self.dispatch_ref}"


@dataclass(frozen=True)
class Heartbeat:
    fsp_id: str
    operator_id: str
    time: datetime
    operating_states: tuple[tuple[str, str], ...] = ()  # (dispatch unit, OPERATING_STATE)
    signature: str | None = None


@dataclass(frozen=True)
class EmergencyStop:
    """FSP-initiated emergency stop (Flexible Power 'emergency stop' signal) for some dispatch units, or, with
    `cleared`, the FSP's clearance of it (the units are available again; `reason` is then the FSP's note)."""

    fsp_id: str
    operator_id: str
    dispatch_units: tuple[str, ...]
    effective_time: datetime
    reason: str
    signature: str | None = None
    cleared: bool = False


@dataclass(frozen=True)
class AvailabilityWindow:
    start: datetime
    duration: timedelta
    turn_down_kw: float | None = None  # UP_REGULATION_AVAILABLE
    turn_up_kw: float | None = None  # DOWN_REGULATION_AVAILABLE


@dataclass(frozen=True)
class AvailabilityDeclaration:
    fsp_id: str
    operator_id: str
    contract_id: str
    windows: dict[str, tuple[AvailabilityWindow, ...]] = field(default_factory=dict)  # by dispatch unit
    signature: str | None = None


@dataclass(frozen=True)
class MeterReading:
    """One reading in OpenADR convention: period *start*, net import positive."""

    meterable_unit: str
    start: datetime
    kind: ReadingKind
    value: float
    quality: str | None = None

    @property
    def end(self) -> datetime:
        return self.start + READING_STEP[self.kind]


@dataclass(frozen=True)
class MeterReadings:
    fsp_id: str
    operator_id: str
    readings: tuple[MeterReading, ...]
    signature: str | None = None
