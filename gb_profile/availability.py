"""The weekly availability cycle (docs/gb-profile.md §6.5): declaration checks and the acceptance event.

Pure functions over the profile's objects, no database: the VTN (`vtn.contracts.availability`) feeds them the
stored terms, capacities and earlier declarations, and the reference VEN reads the acceptance event with
`parse_acceptance_event`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from gb_profile import model as m
from gb_profile.settlement import day_start

ACCEPTANCE_REF = "GB_ACCEPTANCE"
P_ACCEPTANCE_STATUS = "GB_ACCEPTANCE_STATUS"
P_BID_PRICE = "GB_BID_PRICE"
P_UNIT = "GB_DISPATCH_UNIT"
P_DECLARED = "GB_DECLARED_KW"
PENDING, ACCEPTED, REJECTED = "PENDING", "ACCEPTED", "REJECTED"
STATUSES = (PENDING, ACCEPTED, REJECTED)

# rule ids of the VTN's availability checks (VTN rules: what the VTN does with the contract, not the payload)
CUTOFF = "VTN-AV-001"  # after the week's cut-off (or, without one, after the window started)
NOT_OPEN = "VTN-AV-002"  # before the declaration window opens
CAPACITY = "VTN-AV-003"  # more than the dispatch group can deliver
OVERLAP = "VTN-AV-004"  # overlaps another declaration of the unit
OPERATOR_MANAGED = "VTN-AV-005"  # the operator enters this program's declarations
NOT_IN_FORCE = "VTN-AV-006"  # outside the contract's validity
OUTSIDE = "VTN-AV-010"  # a dispatch outside the unit's accepted windows


@dataclass(frozen=True)
class Problem:
    rule: str
    field: str
    message: str
    status: int  # 400 (bad declaration) or 409 (conflicts with the contract or stored declarations)


@dataclass(frozen=True)
class Window:
    """One declared (or accepted) window of one unit in one direction."""

    unit: str
    start: datetime
    end: datetime
    direction: m.Direction
    kw: float

    @property
    def week(self) -> date:
        return m.week_of(self.start)


def windows_of(declaration: m.AvailabilityDeclaration) -> list[Window]:
    """Every (unit, window, direction) a declaration declares; a window without a direction declares nothing for it."""
    found = []
    for unit, windows in declaration.windows.items():
        for w in windows:
            for direction, kw in ((m.Direction.TURN_DOWN, w.turn_down_kw), (m.Direction.TURN_UP, w.turn_up_kw)):
                if kw is not None:
                    found.append(Window(unit, w.start, w.start + w.duration, direction, float(kw)))
    return found


def _local(moment: datetime) -> str:
    from gb_profile.settlement import LONDON

    return moment.astimezone(LONDON).strftime("%a %d %b %Y %H:%M %Z")


def check_declaration(
    windows: Iterable[Window],
    terms: Mapping[str, m.Contract],
    capacities: Mapping[str, float | None],
    earlier: Iterable[Window],
    now: datetime,
) -> list[Problem]:
    """What is wrong with declaring `windows` at `now`.

    `terms`: per unit, the contract terms in force (vtn.contracts); `capacities`: per unit, what its dispatch
    group can deliver in kW (None: unknown); `earlier`: the unit's windows in other declarations still standing.
    """
    problems: list[Problem] = []
    listed = list(windows)
    earlier = list(earlier)
    for i, w in enumerate(listed):
        where = f"resources[{w.unit}] {w.start.astimezone(UTC).isoformat()}"
        contract = terms[w.unit]
        cutoff = contract.cutoff_for(w.week)
        if cutoff is not None and now >= cutoff:
            problems.append(Problem(CUTOFF, where, f"declarations for the week commencing {w.week.isoformat()} closed "
                                    f"at {_local(cutoff)} ({contract.declaration_cutoff})", 409))
        elif cutoff is None and now >= w.start:
            problems.append(Problem(CUTOFF, where, f"the window starting {_local(w.start)} has started", 409))
        if cutoff is not None and contract.declaration_window_days is not None:
            opens = cutoff - timedelta(days=contract.declaration_window_days)
            if now < opens:
                problems.append(Problem(NOT_OPEN, where, f"declarations for the week commencing {w.week.isoformat()} "
                                        f"open at {_local(opens)}", 409))
        if not contract.in_force(w.start) or (contract.valid_to is not None and w.end > contract.valid_to):
            problems.append(Problem(NOT_IN_FORCE, where, "the window lies outside the contract's validity", 409))
        limit = _limit(capacities.get(w.unit), contract.max_capacity_kw)
        if limit is not None and w.kw > limit + 1e-9:
            problems.append(Problem(CAPACITY, where, f"{w.kw:g} kW declared for {w.unit}, which can deliver at most "
                                    f"{limit:g} kW", 400))
        for other in listed[:i]:
            if _overlap(w, other):
                problems.append(Problem(OVERLAP, where, f"two windows of {w.unit} overlap in this declaration", 400))
        for other in earlier:
            if _overlap(w, other):
                problems.append(Problem(OVERLAP, where, f"overlaps the declared window {_local(other.start)}-"
                                        f"{_local(other.end)} of {w.unit}: change that declaration instead", 409))
    return problems


def _limit(capacity: float | None, contracted: float | None) -> float | None:
    known = [c for c in (capacity, contracted) if c is not None]
    return min(known) if known else None


def _overlap(a: Window, b: Window) -> bool:
    return a.unit == b.unit and a.direction == b.direction and a.start < b.end and b.start < a.end


def covered(start: datetime, end: datetime, accepted: Iterable[tuple[datetime, datetime]]) -> bool:
    """True when [start, end) lies inside the union of the accepted windows."""
    cursor = start
    for a_start, a_end in sorted(accepted):
        if a_start > cursor:
            break
        cursor = max(cursor, a_end)
        if cursor >= end:
            return True
    return cursor >= end


# --- the acceptance event ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Acceptance:
    """The operator's answer to one declared window."""

    unit: str
    start: datetime
    end: datetime
    direction: m.Direction
    declared_kw: float
    status: str = PENDING
    accepted_kw: float | None = None
    bid_price: float | None = None  # GBP/MW/h, auctions
    awarded_price: float | None = None  # GBP/MW/h


def acceptance_event_name(operator_id: str, fsp_id: str, week: date) -> str:
    return f"{operator_id}:{ACCEPTANCE_REF}:{fsp_id}:{week.isoformat()}"


def is_acceptance_event(obj: Any) -> bool:
    name = getattr(obj, "eventName", None) if not isinstance(obj, Mapping) else obj.get("eventName")
    return isinstance(name, str) and f":{ACCEPTANCE_REF}:" in name


def _z(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _duration(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    return f"PT{minutes // 60}H{minutes % 60}M" if minutes % 60 else f"PT{minutes // 60}H"


def acceptance_event(program_id: str, operator_id: str, fsp_id: str, week: date,
                     acceptances: Iterable[Acceptance]) -> dict[str, Any]:
    """The OpenADR event that tells one FSP the operator's answers for one week (docs/gb-profile.md §6.5.2).

    Targeted at the FSP's VEN_NAME only; one interval per window: GB_DISPATCH_UNIT, GB_ACCEPTANCE_STATUS,
    UP_REGULATION_AVAILABLE (turn-down) or DOWN_REGULATION_AVAILABLE (turn-up) = the accepted kW (the declared
    kW while PENDING, 0 when REJECTED), and for auctions GB_BID_PRICE and PRICE (awarded, GBP/MW/h).
    """
    begin, end = day_start(week), day_start(week + timedelta(days=7))  # 167 h or 169 h on clock-change weeks
    intervals = []
    for index, a in enumerate(sorted(acceptances, key=lambda a: (a.start, a.unit, a.direction))):
        kw = a.accepted_kw if a.status == ACCEPTED and a.accepted_kw is not None else (
            0.0 if a.status == REJECTED else a.declared_kw)
        payloads: list[dict[str, Any]] = [
            {"type": P_UNIT, "values": [a.unit]},
            {"type": P_ACCEPTANCE_STATUS, "values": [a.status]},
            {"type": m.P_UP_AVAILABLE if a.direction is m.Direction.TURN_DOWN else m.P_DOWN_AVAILABLE, "values": [kw]},
            {"type": P_DECLARED, "values": [a.declared_kw]},
        ]
        if a.bid_price is not None:
            payloads.append({"type": P_BID_PRICE, "values": [a.bid_price]})
        if a.awarded_price is not None:
            payloads.append({"type": m.P_PRICE, "values": [a.awarded_price]})
        intervals.append({"id": index, "intervalPeriod": {"start": _z(a.start), "duration": _duration(a.end - a.start)},
                          "payloads": payloads})
    return {
        "programID": program_id,
        "eventName": acceptance_event_name(operator_id, fsp_id, week),
        "priority": None,
        "targets": [{"type": m.T_VEN_NAME, "values": [fsp_id]}],
        "payloadDescriptors": [
            {"objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": m.P_UP_AVAILABLE, "units": "KW"},
            {"objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": m.P_DOWN_AVAILABLE, "units": "KW"},
            {"objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": m.P_PRICE, "currency": m.CURRENCY},
        ],
        "intervalPeriod": {"start": _z(begin), "duration": _duration(end - begin)},
        "intervals": intervals,
    }


def parse_acceptance_event(event: Mapping[str, Any]) -> tuple[str, date, list[Acceptance]]:
    """(FSP, week, acceptances) of an acceptance event; ProfileError when it is not one."""
    name = str(event.get("eventName") or "")
    parts = name.split(":")
    if len(parts) < 4 or parts[1] != ACCEPTANCE_REF:
        raise m.ProfileError(f"{name!r} is not an acceptance event")
    fsp, week = ":".join(parts[2:-1]), date.fromisoformat(parts[-1])
    found = []
    for interval in event.get("intervals") or ():
        payloads = {p["type"]: p.get("values") or [None] for p in interval.get("payloads") or ()}
        period = interval.get("intervalPeriod") or {}
        start = datetime.fromisoformat(str(period["start"]).replace("Z", "+00:00"))
        end = start + _parse_duration(str(period["duration"]))
        direction = m.Direction.TURN_DOWN if m.P_UP_AVAILABLE in payloads else m.Direction.TURN_UP
        kw = float((payloads.get(m.P_UP_AVAILABLE) or payloads.get(m.P_DOWN_AVAILABLE) or [0.0])[0])
        status = str(payloads[P_ACCEPTANCE_STATUS][0])
        declared = float((payloads.get(P_DECLARED) or [kw])[0])
        found.append(Acceptance(
            unit=str(payloads[P_UNIT][0]), start=start, end=end, direction=direction, declared_kw=declared, status=status,
            accepted_kw=kw if status == ACCEPTED else None, bid_price=(payloads.get(P_BID_PRICE) or [None])[0],
            awarded_price=(payloads.get(m.P_PRICE) or [None])[0]))
    return fsp, week, found


def _parse_duration(text: str) -> timedelta:
    import re

    match = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?", text)
    if not match:
        raise m.ProfileError(f"unexpected duration {text!r}")
    return timedelta(hours=int(match.group(1) or 0), minutes=int(match.group(2) or 0))
