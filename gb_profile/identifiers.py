"""GB network operators, distribution licence holders and MPAN cores (docs/gb-profile.md §3).

The lists are a snapshot of Elexon Market Domain Data as transcribed in the research notes
(shared/background/gb-flexibility-research.md §4): the 14 DNO licence areas (distributor IDs 10-23)
and the IDNOs (24-38). Network operator IDs are the short group names the profile uses in
`retailerName`, event names and namespaced targets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class OperatorKind(StrEnum):
    DNO = "DNO"
    IDNO = "IDNO"
    SYSTEM_OPERATOR = "SYSTEM_OPERATOR"


@dataclass(frozen=True)
class NetworkOperator:
    """A party that may issue dispatches: `id` is the profile's well-known operator ID."""

    id: str
    name: str
    kind: OperatorKind


@dataclass(frozen=True)
class Distributor:
    """One distribution licence (an MPAN distributor ID)."""

    distributor_id: str
    mpid: str
    name: str
    kind: OperatorKind
    operator_id: str
    gsp_group: str | None = None


_DNO_GROUPS = {
    "UKPN": "UK Power Networks",
    "NGED": "National Grid Electricity Distribution",
    "SPEN": "SP Energy Networks",
    "NPG": "Northern Powergrid",
    "ENWL": "Electricity North West",
    "SSEN": "Scottish and Southern Electricity Networks",
}

_LICENCE_AREAS = [
    # distributor ID, MPID, licence area, group, GSP group
    ("10", "EELC", "Eastern (EPN)", "UKPN", "_A"),
    ("11", "EMEB", "East Midlands", "NGED", "_B"),
    ("12", "LOND", "London (LPN)", "UKPN", "_C"),
    ("13", "MANW", "Merseyside and North Wales (SP Manweb)", "SPEN", "_D"),
    ("14", "MIDE", "West Midlands", "NGED", "_E"),
    ("15", "NEEB", "North East", "NPG", "_F"),
    ("16", "NORW", "North West", "ENWL", "_G"),
    ("17", "HYDE", "North Scotland (SHEPD)", "SSEN", "_P"),
    ("18", "SPOW", "South Scotland (SP Distribution)", "SPEN", "_N"),
    ("19", "SEEB", "South Eastern (SPN)", "UKPN", "_J"),
    ("20", "SOUT", "Southern England (SEPD)", "SSEN", "_H"),
    ("21", "SWAE", "South Wales", "NGED", "_K"),
    ("22", "SWEB", "South West", "NGED", "_L"),
    ("23", "YELG", "Yorkshire", "NPG", "_M"),
]

_IDNOS = [
    ("24", "IPNL", "Independent Power Networks"),
    ("25", "LENG", "ESP Electricity"),
    ("26", "GUCL", "Last Mile Electricity"),
    ("27", "ETCL", "The Electricity Network Company"),
    ("28", "EDFI", "UK Power Networks (IDNO)"),
    ("29", "HARL", "Harlaxton Energy Networks"),
    ("30", "PENL", "Leep Electricity Networks"),
    ("31", "UKPD", "UK Power Distribution"),
    ("32", "UDNL", "Energy Assets Networks"),
    ("33", "GGEN", "Eclipse Power Networks"),
    ("34", "MPDL", "Murphy Power Distribution"),
    ("35", "FEAL", "Fulcrum Electricity Assets"),
    ("36", "VATT", "Vattenfall Networks"),
    ("37", "FORB", "Optimal Power Networks"),
    ("38", "INDI", "Indigo Power"),
]

DISTRIBUTORS: dict[str, Distributor] = {}
for _id, _mpid, _area, _group, _gsp in _LICENCE_AREAS:
    DISTRIBUTORS[_id] = Distributor(_id, _mpid, _area, OperatorKind.DNO, _group, _gsp)
for _id, _mpid, _name in _IDNOS:
    DISTRIBUTORS[_id] = Distributor(_id, _mpid, _name, OperatorKind.IDNO, _mpid)

NESO = NetworkOperator("NESO", "National Energy System Operator", OperatorKind.SYSTEM_OPERATOR)

NETWORK_OPERATORS: dict[str, NetworkOperator] = {
    **{code: NetworkOperator(code, name, OperatorKind.DNO) for code, name in _DNO_GROUPS.items()},
    **{mpid: NetworkOperator(mpid, name, OperatorKind.IDNO) for _, mpid, name in _IDNOS},
    NESO.id: NESO,
}
"""The closed list of network operator IDs: DNO groups, IDNOs (by MPID) and NESO."""


class UnknownOperator(ValueError):
    pass


def network_operator(operator_id: str) -> NetworkOperator:
    """The well-known operator for `operator_id` (case-sensitive), or `UnknownOperator`."""
    try:
        return NETWORK_OPERATORS[operator_id]
    except (KeyError, TypeError):
        known = ", ".join(sorted(NETWORK_OPERATORS))
        raise UnknownOperator(f"{operator_id!r} is not a well-known GB network operator ID (known: {known})") from None


def licence_areas(operator_id: str) -> list[Distributor]:
    """The distribution licences an operator holds (empty for NESO)."""
    return [d for d in DISTRIBUTORS.values() if d.operator_id == operator_id]


# --- MPAN -----------------------------------------------------------------------------------

MPAN_PRIMES = (3, 5, 7, 13, 17, 19, 23, 29, 31, 37, 41, 43)
_FULL_MPAN = re.compile(r"^(\d{2})(\d{3})([A-Z0-9]{3})(\d{13})$")


class MpanError(ValueError):
    pass


@dataclass(frozen=True)
class MpanCore:
    core: str

    @property
    def distributor_id(self) -> str:
        return self.core[:2]

    @property
    def distributor(self) -> Distributor:
        return DISTRIBUTORS[self.distributor_id]

    @property
    def unique_id(self) -> str:
        return self.core[2:12]

    @property
    def check_digit(self) -> int:
        return int(self.core[12])

    def __str__(self) -> str:
        return self.core


def mpan_check_digit(first_twelve: str) -> int:
    """The check digit of an MPAN core from its first 12 digits (prime-weighted mod 11, mod 10)."""
    if len(first_twelve) != 12 or not first_twelve.isascii() or not first_twelve.isdigit():
        raise MpanError("the check digit is computed from exactly 12 digits")
    return sum(int(d) * p for d, p in zip(first_twelve, MPAN_PRIMES, strict=True)) % 11 % 10


def parse_mpan_core(text: str) -> MpanCore:
    """Validate an MPAN core (13 digits, known distributor ID, check digit) or raise `MpanError`.

    Spaces and hyphens used for display are ignored; a full 21-character MPAN (top line + core)
    is accepted and reduced to its core.
    """
    if not isinstance(text, str):
        raise MpanError(f"MPAN must be a string, not {type(text).__name__}")
    compact = re.sub(r"[\s-]", "", text).upper()
    full = _FULL_MPAN.match(compact)
    if full:
        profile_class = int(full.group(1))
        if profile_class > 8:
            raise MpanError(f"MPAN {text!r}: profile class {full.group(1)} is not 00-08")
        compact = full.group(4)
    if not compact.isascii() or not compact.isdigit():
        raise MpanError(f"MPAN core {text!r} must contain digits only")
    if len(compact) != 13:
        raise MpanError(f"MPAN core {text!r} must have 13 digits, not {len(compact)}")
    distributor_id = compact[:2]
    if distributor_id not in DISTRIBUTORS:
        raise MpanError(f"MPAN core {text!r}: distributor ID {distributor_id} is not a GB distributor (10-23 DNO, 24-38 IDNO)")
    expected = mpan_check_digit(compact[:12])
    if int(compact[12]) != expected:
        raise MpanError(f"MPAN core {text!r}: check digit is {compact[12]}, expected {expected}")
    return MpanCore(compact)


def is_valid_mpan_core(text: str) -> bool:
    try:
        parse_mpan_core(text)
    except MpanError:
        return False
    return True


def check_mpan_licence_area(mpan: str, operator_id: str) -> MpanCore:
    """The MPAN's core if it lies in a licence area of the dispatching operator `operator_id`, else `MpanError`.

    The licence area is the core's distributor ID (its first two digits, `DISTRIBUTORS`): a DNO group holds its
    DNO areas (NGED: 11, 14, 21, 22), an IDNO its own distributor ID; a site on an IDNO network inside a DNO area
    carries the IDNO's ID, so it is not in the DNO's area. NESO holds no distribution licence but dispatches
    across GB, so every valid GB MPAN is in its area. An invalid MPAN raises `MpanError` as in `parse_mpan_core`,
    an unknown operator `UnknownOperator`.
    """
    operator = network_operator(operator_id)
    core = parse_mpan_core(mpan)
    if operator.kind is OperatorKind.SYSTEM_OPERATOR:
        return core
    distributor = core.distributor
    if distributor.operator_id != operator.id:
        raise MpanError(
            f"MPAN core {core} is in distributor {distributor.distributor_id} ({distributor.name}, "
            f"{distributor.operator_id}), not a licence area of {operator.id}"
        )
    return core
