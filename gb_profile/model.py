"""Typed domain objects of the GB profile and the names it puts on the wire (docs/gb-profile.md §3-§6).

These are not wire models: `gb_profile.builders` turns them into `openadr3.models` objects and back.
All instants are timezone-aware; builders emit them in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from gb_profile.products import ProductCode, SetpointKind
from gb_profile.settlement import LONDON, local_to_utc

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


class AcceptanceMode(StrEnum):
    """How declared availability becomes accepted availability (docs/gb-profile.md §6.5)."""

    AUTO = "AUTO"  # every declaration that passes the checks is accepted as declared
    MANUAL = "MANUAL"  # the operator accepts (or rejects) each window, with an awarded price in auctions


class OutsideWindows(StrEnum):
    """What the VTN does with a dispatch outside the unit's accepted availability windows."""

    OFF = "OFF"  # not checked (utilisation-only products)
    WARN = "WARN"  # stored, answered with a GB-Warning header
    REFUSE = "REFUSE"  # 409


WEEKDAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")


@dataclass(frozen=True)
class DeclarationCutoff:
    """The weekly cut-off for availability declarations, in London local time.

    Declarations for the week commencing Monday M are accepted until `weekday` at `minute` (minutes after
    local midnight; 1440 = the end of that day) of the week `weeks_before` weeks before M. Flexible Power:
    "until 23:59 on Tuesday" of the previous week = (1, 1439, 1); "end of Wednesday" = (2, 1440, 1).
    The cut-off instant itself is late (a declaration must be received strictly before it).
    """

    weekday: int  # 0 = Monday
    minute: int  # 0..1440
    weeks_before: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6 or not 0 <= self.minute <= 1440 or not 0 <= self.weeks_before <= 52:
            raise ValueError("a declaration cut-off needs weekday 0-6, minute 0-1440 and weeks_before 0-52")

    def for_week(self, week_start: date) -> datetime:
        """The UTC instant of the cut-off for the week commencing (Monday) `week_start`."""
        day = week_start - timedelta(weeks=self.weeks_before) + timedelta(days=self.weekday)
        if self.minute == 1440:  # end of the day: the next local midnight (which always exists in GB)
            day, minute = day + timedelta(days=1), 0
        else:
            minute = self.minute
        return local_to_utc(datetime.combine(day, time(minute // 60, minute % 60)))

    def __str__(self) -> str:
        when = "end of" if self.minute == 1440 else f"{self.minute // 60:02d}:{self.minute % 60:02d} on"
        ahead = {0: "of the same week", 1: "of the week before"}.get(self.weeks_before, f"{self.weeks_before} weeks before")
        return f"{when} {WEEKDAYS[self.weekday].title()} {ahead}"


def week_of(moment: datetime) -> date:
    """The London-local Monday of the week containing the instant `moment`."""
    day = moment.astimezone(LONDON).date()
    return day - timedelta(days=day.weekday())


@dataclass(frozen=True)
class Contract:
    """A flexibility services contract between a network operator and an FSP: the contract terms.

    Run times, sizes and prices are per contract; the profile carries them, it does not fix them. The VTN stores
    them per program and per dispatch unit (`vtn.contracts`, docs/gb-profile.md §2.1): a unit's terms override
    its program's field by field; `None` means "not set" (no price, no limit).
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
    # where the terms are stored (VTN): the program, and the dispatch unit for unit-level terms
    program_id: str | None = None
    unit: str | None = None
    notice: timedelta | None = None  # the contract's notice (None: the product's, products.NoticePeriod)
    # the availability cycle (§6.5)
    declaration_cutoff: DeclarationCutoff | None = None  # None: declarations are accepted until the window starts
    declaration_window_days: int | None = None  # declarations open this many days before the cut-off (None: any time)
    acceptance_mode: AcceptanceMode = AcceptanceMode.AUTO
    auction: bool = False  # acceptances carry the FSP's bid and the awarded price
    operator_managed: bool = False  # the operator enters declarations for the FSP
    outside_windows: OutsideWindows = OutsideWindows.OFF
    # dispatches against the run-time and notice terms above (min/max run, max weekly run, notice): the same
    # three answers as for windows; WARN by default, so a limit that is set is never silently ignored
    run_terms: OutsideWindows = OutsideWindows.WARN
    # delivery RAG: delivered/instructed ≥ green % is GREEN, ≥ amber % AMBER, else RED
    rag_green_percent: float = 95.0
    rag_amber_percent: float = 80.0

    @property
    def target_value(self) -> str:
        return f"{self.operator_id}:{self.contract_id}"

    def in_force(self, moment: datetime) -> bool:
        """True when `moment` lies in [valid_from, valid_to) (an open end is unbounded)."""
        return (self.valid_from is None or self.valid_from <= moment) and (self.valid_to is None or moment < self.valid_to)

    def rag(self, delivered_percent: float) -> str:
        """GREEN, AMBER or RED for a delivery of `delivered_percent` % of the instructed energy."""
        if delivered_percent >= self.rag_green_percent:
            return "GREEN"
        return "AMBER" if delivered_percent >= self.rag_amber_percent else "RED"

    def cutoff_for(self, week_start: date) -> datetime | None:
        """The UTC cut-off for declarations of the week commencing `week_start` (None: no weekly cut-off)."""
        return self.declaration_cutoff.for_week(week_start) if self.declaration_cutoff else None


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
