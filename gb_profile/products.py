"""Typed catalogue of GB flexibility products, old and new names (docs/gb-profile.md §2).

Sources: research notes §1 (ENA definitions via Utility Week, SSEN, Electron, ENWL, NGED, ENA Open
Networks Revenue Stacking Assessment Tool). The old -> new correspondence is not published by the ENA
as a table; `successors` records the most likely mapping and `Product.notes` says where it is uncertain.
Run times, sizes and prices are contract terms (`gb_profile.model.Contract`), never product constants.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from gb_profile.settlement import LONDON


class Generation(StrEnum):
    LEGACY = "LEGACY"  # ENA names 2019-2023
    CURRENT = "CURRENT"  # ENA common product names 2023 onwards


class FaultState(StrEnum):
    PRE_FAULT = "PRE_FAULT"
    POST_FAULT = "POST_FAULT"
    EITHER = "EITHER"


class Scheduling(StrEnum):
    SCHEDULED = "SCHEDULED"  # delivery time fixed ahead (at procurement, week- or day-ahead)
    REAL_TIME = "REAL_TIME"  # dispatched close to real time on network measurements


class Payment(StrEnum):
    AVAILABILITY = "AVAILABILITY"
    UTILISATION = "UTILISATION"


class AvailabilityMode(StrEnum):
    NONE = "NONE"  # utilisation only
    FIXED = "FIXED"  # availability fixed at procurement (Scheduled Availability)
    VARIABLE = "VARIABLE"  # availability refined/declared closer to delivery (Variable Availability)


class DispatchMethod(StrEnum):
    SCHEDULE_AT_PROCUREMENT = "SCHEDULE_AT_PROCUREMENT"  # windows agreed when contracted
    AHEAD_INSTRUCTION = "AHEAD_INSTRUCTION"  # instruction issued day- or week-ahead
    REAL_TIME_INSTRUCTION = "REAL_TIME_INSTRUCTION"  # instruction with minutes of notice
    RELAYED_INSTRUCTION = "RELAYED_INSTRUCTION"  # system operator instruction relayed by the DNO


class NoticeKind(StrEnum):
    AT_PROCUREMENT = "AT_PROCUREMENT"
    WEEK_AHEAD = "WEEK_AHEAD"
    DAY_AHEAD = "DAY_AHEAD"
    MINUTES = "MINUTES"


@dataclass(frozen=True)
class NoticePeriod:
    """Minimum time between instruction and service start the product promises the FSP."""

    kind: NoticeKind
    minutes: int | None = None  # for NoticeKind.MINUTES

    def satisfied(self, instruction_time: datetime, service_start: datetime) -> bool:
        """True if an instruction at `instruction_time` gives enough notice for `service_start`.

        MINUTES: start - instruction >= minutes. DAY_AHEAD and AT_PROCUREMENT: instructed on an earlier
        Europe/London calendar day than the start. WEEK_AHEAD: instructed before the London-local week
        (Monday 00:00) that contains the start.
        """
        if self.kind is NoticeKind.MINUTES:
            return service_start - instruction_time >= timedelta(minutes=self.minutes or 0)
        start_day = service_start.astimezone(LONDON).date()
        instructed_day = instruction_time.astimezone(LONDON).date()
        if self.kind is NoticeKind.WEEK_AHEAD:
            week_start = start_day - timedelta(days=start_day.weekday())
            return instructed_day < week_start
        return instructed_day < start_day

    def __str__(self) -> str:
        return f"{self.minutes} minutes" if self.kind is NoticeKind.MINUTES else self.kind.value.lower().replace("_", "-")


class ProductCode(StrEnum):
    # legacy ENA names
    SUSTAIN = "SUSTAIN"
    SECURE = "SECURE"
    DYNAMIC = "DYNAMIC"
    RESTORE = "RESTORE"
    # current ENA common products
    PR = "PR"
    SU = "SU"
    OU_2MIN = "OU_2MIN"
    OU_15MIN = "OU_15MIN"
    OU_DA = "OU_DA"
    OU_WA = "OU_WA"
    SAOU_2MIN = "SAOU_2MIN"
    SAOU_15MIN = "SAOU_15MIN"
    SAOU_DA = "SAOU_DA"
    SAOU_WA = "SAOU_WA"
    VAOU_2MIN = "VAOU_2MIN"
    VAOU_15MIN = "VAOU_15MIN"
    VAOU_DA = "VAOU_DA"
    VAOU_WA = "VAOU_WA"
    # system operator service relayed by a DNO
    MWD = "MWD"


class SetpointKind(StrEnum):
    ABSOLUTE = "ABSOLUTE"  # DISPATCH_SETPOINT: net import level
    DELTA = "DELTA"  # DISPATCH_SETPOINT_RELATIVE: change versus baseline


@dataclass(frozen=True)
class Product:
    code: ProductCode
    name: str
    generation: Generation
    fault_state: FaultState
    scheduling: Scheduling
    notice: NoticePeriod
    payments: frozenset[Payment]
    availability: AvailabilityMode
    dispatch_method: DispatchMethod
    instructing_party: str = "DNO"  # "DNO" or "NESO"
    aliases: tuple[str, ...] = ()
    successors: tuple[ProductCode, ...] = ()  # legacy -> current
    setpoint_kinds: frozenset[SetpointKind] = field(default=frozenset({SetpointKind.DELTA, SetpointKind.ABSOLUTE}))
    requires_push: bool = False  # notice too short for polling (2-minute products)
    notes: str = ""

    @property
    def pays_availability(self) -> bool:
        return Payment.AVAILABILITY in self.payments

    @property
    def pays_utilisation(self) -> bool:
        return Payment.UTILISATION in self.payments

    @property
    def program_type(self) -> str:
        return f"GB_FLEX:{self.code.value}"


_U = frozenset({Payment.UTILISATION})
_AU = frozenset({Payment.AVAILABILITY, Payment.UTILISATION})

_VARIANTS = {
    "2MIN": (NoticePeriod(NoticeKind.MINUTES, 2), Scheduling.REAL_TIME, DispatchMethod.REAL_TIME_INSTRUCTION, "2-minute"),
    "15MIN": (NoticePeriod(NoticeKind.MINUTES, 15), Scheduling.REAL_TIME, DispatchMethod.REAL_TIME_INSTRUCTION, "15-minute"),
    "DA": (NoticePeriod(NoticeKind.DAY_AHEAD), Scheduling.SCHEDULED, DispatchMethod.AHEAD_INSTRUCTION, "day-ahead"),
    "WA": (NoticePeriod(NoticeKind.WEEK_AHEAD), Scheduling.SCHEDULED, DispatchMethod.AHEAD_INSTRUCTION, "week-ahead"),
}

_FAMILIES = {
    "OU": ("Operational Utilisation", AvailabilityMode.NONE, _U, FaultState.EITHER, ("Operational Utilisation",)),
    "SAOU": (
        "Scheduled Availability + Operational Utilisation",
        AvailabilityMode.FIXED,
        _AU,
        FaultState.POST_FAULT,
        ("SA+OU", "Operational Utilisation + Scheduled Availability"),
    ),
    "VAOU": (
        "Variable Availability + Operational Utilisation",
        AvailabilityMode.VARIABLE,
        _AU,
        FaultState.POST_FAULT,
        ("VA+OU", "Operational Utilisation + Variable Availability"),
    ),
}


def _catalogue() -> dict[ProductCode, Product]:
    products = [
        Product(
            ProductCode.PR,
            "Peak Reduction",
            Generation.CURRENT,
            FaultState.PRE_FAULT,
            Scheduling.SCHEDULED,
            NoticePeriod(NoticeKind.AT_PROCUREMENT),
            _U,
            AvailabilityMode.NONE,
            DispatchMethod.SCHEDULE_AT_PROCUREMENT,
            aliases=("Peak Reduction",),
            notes="long-term auctions, pre-defined windows; activation only",
        ),
        Product(
            ProductCode.SU,
            "Scheduled Utilisation",
            Generation.CURRENT,
            FaultState.PRE_FAULT,
            Scheduling.SCHEDULED,
            NoticePeriod(NoticeKind.AT_PROCUREMENT),
            _U,
            AvailabilityMode.NONE,
            DispatchMethod.SCHEDULE_AT_PROCUREMENT,
            aliases=("Scheduled Utilisation", "SU_HV", "SU_SEP"),
            notes="pre-agreed change at a pre-agreed time",
        ),
        Product(
            ProductCode.MWD,
            "MW Dispatch",
            Generation.CURRENT,
            FaultState.EITHER,
            Scheduling.REAL_TIME,
            NoticePeriod(NoticeKind.MINUTES, 0),
            _U,
            AvailabilityMode.NONE,
            DispatchMethod.RELAYED_INSTRUCTION,
            instructing_party="NESO",
            aliases=("RDP MW Dispatch", "RDP_NEGATIVE"),
            setpoint_kinds=frozenset({SetpointKind.ABSOLUTE}),
            requires_push=True,
            notes="NESO instruction relayed by the DNO; curtail to an absolute level (often 0 MW); Cease = STOP",
        ),
        Product(
            ProductCode.SUSTAIN,
            "Sustain",
            Generation.LEGACY,
            FaultState.PRE_FAULT,
            Scheduling.SCHEDULED,
            NoticePeriod(NoticeKind.AT_PROCUREMENT),
            _U,
            AvailabilityMode.NONE,
            DispatchMethod.SCHEDULE_AT_PROCUREMENT,
            successors=(ProductCode.SU,),
        ),
        Product(
            ProductCode.SECURE,
            "Secure",
            Generation.LEGACY,
            FaultState.PRE_FAULT,
            Scheduling.REAL_TIME,
            NoticePeriod(NoticeKind.WEEK_AHEAD),
            _AU,
            AvailabilityMode.VARIABLE,
            DispatchMethod.AHEAD_INSTRUCTION,
            successors=(ProductCode.VAOU_WA, ProductCode.SAOU_WA),
            notes="DNO-dependent: SA+OU if availability fixed at contract, VA+OU if declared week-ahead (uncertain)",
        ),
        Product(
            ProductCode.DYNAMIC,
            "Dynamic",
            Generation.LEGACY,
            FaultState.POST_FAULT,
            Scheduling.REAL_TIME,
            NoticePeriod(NoticeKind.MINUTES, 15),
            _AU,
            AvailabilityMode.VARIABLE,
            DispatchMethod.REAL_TIME_INSTRUCTION,
            successors=(ProductCode.SAOU_15MIN, ProductCode.VAOU_15MIN, ProductCode.OU_15MIN),
            notes="utilisation-only in some DNOs (then OU); mapping uncertain",
        ),
        Product(
            ProductCode.RESTORE,
            "Restore",
            Generation.LEGACY,
            FaultState.POST_FAULT,
            Scheduling.REAL_TIME,
            NoticePeriod(NoticeKind.MINUTES, 15),
            _U,
            AvailabilityMode.NONE,
            DispatchMethod.REAL_TIME_INSTRUCTION,
            successors=(ProductCode.OU_15MIN,),
            notes="availability automatically accepted; utilisation only (inference)",
        ),
    ]
    for family, (name, availability, payments, fault, aliases) in _FAMILIES.items():
        for variant, (notice, scheduling, method, label) in _VARIANTS.items():
            products.append(
                Product(
                    ProductCode(f"{family}_{variant}"),
                    f"{name} ({label})",
                    Generation.CURRENT,
                    fault,
                    scheduling,
                    notice,
                    payments,
                    availability,
                    method,
                    aliases=aliases,
                    requires_push=variant == "2MIN",
                )
            )
    return {p.code: p for p in products}


PRODUCTS: dict[ProductCode, Product] = _catalogue()


class UnknownProduct(ValueError):
    pass


def product(code: str | ProductCode) -> Product:
    try:
        return PRODUCTS[ProductCode(code)]
    except ValueError:
        raise UnknownProduct(f"{code!r} is not a GB profile product code (known: {', '.join(PRODUCTS)})") from None


def successors(code: str | ProductCode) -> list[Product]:
    """Current products a legacy product most likely corresponds to (empty for current products)."""
    return [PRODUCTS[c] for c in product(code).successors]


def predecessors(code: str | ProductCode) -> list[Product]:
    """Legacy products that map onto a current product."""
    wanted = ProductCode(code)
    return [p for p in PRODUCTS.values() if wanted in p.successors]


def product_from_program_type(program_type: str | None) -> Product | None:
    """The product a `GB_FLEX:<code>` programType names, or None."""
    if not isinstance(program_type, str) or not program_type.startswith("GB_FLEX:"):
        return None
    try:
        return product(program_type.removeprefix("GB_FLEX:"))
    except UnknownProduct:
        return None
