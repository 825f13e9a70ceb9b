"""GB profile validator: every violation of a program, event, report or resource, with its rule ID.

Rule IDs and texts are in `RULES` and in docs/gb-profile.md (§8); the two are kept in step by
tests/test_gb_validator.py. Stateless rules need only the object; rules that compare with the
program, the acknowledged event or the previous revision run when those are supplied.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from gb_profile import model as m
from gb_profile.builders import is_acceptance_event, is_anchor_event
from gb_profile.identifiers import NETWORK_OPERATORS, MpanError, check_mpan_licence_area, parse_mpan_core
from gb_profile.products import PRODUCTS, ProductCode, product_from_program_type
from gb_profile.signing import KeyRing, SignatureError, signature_header, verify_event, verify_report
from openadr3.durations import InvalidDuration, parse_duration
from openadr3.models import Event, Interval, Program, Report, Resource, ValuesMap

RULES: dict[str, str] = {
    "GB-X-001": "The object MUST be a valid OpenADR 3.0.1 object of its type.",
    "GB-P-001": "programType MUST be GB_FLEX:<PRODUCT> with PRODUCT a catalogue product code.",
    "GB-P-002": "retailerName MUST be a well-known GB network operator ID.",
    "GB-P-003": "programName MUST be <retailerName>-<PRODUCT>, optionally followed by -<suffix> ([A-Za-z0-9_]+).",
    "GB-P-004": "country MUST be GB.",
    "GB-P-005": "bindingEvents MUST NOT be true (dispatches are revised in place).",
    "GB-P-006": "payloadDescriptors MUST only declare setpoint types the product allows (units KW or KVAR) and PRICE "
    "(units KWH or KVARH, currency GBP).",
    "GB-P-007": "principalSubdivision, if present, MUST be GB-ENG, GB-SCT or GB-WLS.",
    "GB-E-001": "eventName MUST be <NO>:<ref> with NO a well-known operator (the program's retailerName) and ref "
    "[A-Za-z0-9._-]{1,100}.",
    "GB-E-002": "A dispatch MUST have exactly one VEN_NAME target with exactly one value (the FSP).",
    "GB-E-003": "A dispatch MUST have exactly one RESOURCE_NAME target with exactly one value (the dispatch unit).",
    "GB-E-004": "A dispatch MUST have exactly one GB_CONTRACT target with one value <NO>:<contract>, NO as in eventName.",
    "GB-E-005": "A dispatch MAY have one GB_CMZ target (one value <NO>:<zone>); it MUST NOT have other target types.",
    "GB-E-006": "event intervalPeriod MUST be present: start in UTC, duration a non-negative fixed-length duration.",
    "GB-E-007": "A dispatch MUST have exactly one interval with id 0, and it MUST NOT have an intervalPeriod.",
    "GB-E-008": "Interval 0 MUST carry GB_DISPATCH_STATUS with one value of the status enumeration.",
    "GB-E-009": "Interval 0 MUST carry GB_DISPATCH_REVISION with one integer >= 1.",
    "GB-E-010": "Interval 0 MUST carry GB_INSTRUCTION_TIME with one RFC 3339 UTC date-time.",
    "GB-E-011": "Interval 0 MUST carry only GB_DISPATCH_STATUS, GB_DISPATCH_REVISION, GB_INSTRUCTION_TIME and "
    "GB_SIGNATURE, each at most once.",
    "GB-E-012": "Setpoint intervals MUST have ids 1..n and each an intervalPeriod with a UTC start and a positive "
    "fixed-length duration.",
    "GB-E-013": "Setpoint intervals MUST be contiguous in id order and lie inside the service window, the last one ending "
    "at the service end.",
    "GB-E-014": "Each setpoint interval MUST carry exactly one DISPATCH_SETPOINT or DISPATCH_SETPOINT_RELATIVE value "
    "(one finite number) and MAY carry one PRICE value; nothing else.",
    "GB-E-015": "Each payload type used MUST be declared once in payloadDescriptors; setpoint units MUST be KW or KVAR "
    "and the same for every setpoint type.",
    "GB-E-016": "The PRICE descriptor MUST have currency GBP and units KWH (KW setpoints) or KVARH (KVAR setpoints).",
    "GB-E-017": "PRE_NOTIFY, RUN and RUN_NOW dispatches MUST have a setpoint; a CANCELLED one MUST have none and a "
    "zero-length window.",
    "GB-E-018": "A dispatch MUST request acknowledgement: a reportDescriptor GB_ACK_STATUS with frequency 0.",
    "GB-E-019": "priority MUST be 0 if and only if the status is EMERGENCY_STOP.",
    "GB-E-020": "The first revision of a PRE_NOTIFY or RUN dispatch MUST respect the product's notice period.",
    "GB-E-021": "Service volumes MUST have at most 3 decimal places, prices at most 5.",
    "GB-E-022": "Setpoint types MUST be ones the program's product allows (e.g. MW Dispatch: absolute only).",
    "GB-E-023": "GB_SIGNATURE, if present, MUST be a compact detached ES256 JWS naming a kid, and MUST verify.",
    "GB-E-030": "The anchor event (<NO>:GB_ANCHOR) MUST have no targets, no payloadDescriptors, no intervals and a "
    "GB_HEARTBEAT reportDescriptor with frequency 0.",
    "GB-E-031": "An acceptance event (<NO>:GB_ACCEPTANCE:<FSP>:<week>) MUST target exactly that one VEN_NAME and carry "
    "GB_DISPATCH_UNIT and GB_ACCEPTANCE_STATUS in every interval.",
    "GB-E-040": "A revision MUST have a higher GB_DISPATCH_REVISION than the previous one.",
    "GB-E-041": "A revision MUST keep programID, eventName and the VEN_NAME, RESOURCE_NAME and GB_CONTRACT targets.",
    "GB-E-042": "A revision's status MUST be an allowed transition from the previous status.",
    "GB-E-043": "A revision's instruction time MUST NOT precede the previous revision's.",
    "GB-R-001": "reportName MUST be GB_ACK, GB_HEARTBEAT, GB_READINGS, GB_AVAILABILITY or GB_EMERGENCY_STOP.",
    "GB-R-002": "clientName MUST be the FSP ID the event targets (VEN_NAME).",
    "GB-R-003": "Every report interval start MUST be UTC and payload types MUST NOT repeat within an interval.",
    "GB-R-004": "An acknowledgement MUST have exactly one resource, named as the dispatch unit.",
    "GB-R-005": "An acknowledgement resource MUST have exactly one interval id 0 with duration PT0S (receipt time).",
    "GB-R-006": "An acknowledgement MUST carry GB_ACK_STATUS (status enum), GB_NO_DISPATCH_REF (<NO>:<ref>), "
    "GB_DISPATCH_REVISION (integer >= 1) and GB_ACK_RESULT (ACCEPTED or REJECTED).",
    "GB-R-007": "A REJECTED acknowledgement MUST carry GB_ACK_REASON.",
    "GB-R-008": "The read-back status SHOULD be the acknowledged revision's status; a VTN MUST store a well-formed "
    "acknowledgement that differs and flag it as not matching (never refuse it).",
    "GB-R-009": "An acknowledgement of a signed dispatch MUST be signed.",
    "GB-R-010": "A heartbeat MUST have one AGGREGATED_REPORT resource whose interval 0 (PT0S) carries GB_HEARTBEAT "
    "(UTC time) and GB_NETWORK_OPERATOR; other resources carry one OPERATING_STATE value.",
    "GB-R-011": "An acknowledgement MUST name the acknowledged event (GB_NO_DISPATCH_REF = its eventName) and a "
    "revision not above the event's.",
    "GB-R-012": "A readings report MUST name only meterable units of the posting VEN (resources registered under its ven).",
    "GB-R-020": "A readings report MUST declare DEMAND (readingType MEAN, units KW) and/or USAGE (units KWH) for the types "
    "it uses.",
    "GB-R-021": "DEMAND intervals MUST be PT1M starting on a whole minute; USAGE intervals PT30M starting at :00 or :30.",
    "GB-R-022": "Each reading interval MUST carry exactly one DEMAND or USAGE finite number and MAY carry BASELINE and "
    "DATA_QUALITY (OK, MISSING, ESTIMATED, BAD).",
    "GB-R-023": "Reading intervals of a resource MUST have unique ids, and intervals of the same payload type (DEMAND, "
    "USAGE) MUST NOT overlap.",
    "GB-R-024": "Readings and availability reports MUST carry GB_NETWORK_OPERATOR or GB_CONTRACT naming a well-known operator.",
    "GB-R-030": "An availability report MUST declare UP_REGULATION_AVAILABLE / DOWN_REGULATION_AVAILABLE with "
    "readingType FORECAST and units KW.",
    "GB-R-031": "Availability intervals MUST start on a settlement-period boundary and last a whole number of PT30M.",
    "GB-R-032": "Availability values MUST be finite and >= 0, with at least one per interval.",
    "GB-R-040": "An emergency stop MUST name at least one dispatch unit, each with one interval id 0 (PT0S) carrying a "
    "non-empty GB_EMERGENCY_STOP reason and GB_NETWORK_OPERATOR.",
    "GB-R-041": "An emergency-stop clearance MUST name at least one dispatch unit, each with one interval id 0 (PT0S) "
    "carrying a non-empty GB_EMERGENCY_STOP_CLEARED note and GB_NETWORK_OPERATOR; one report MUST NOT mix stops and "
    "clearances.",
    "GB-R-050": "A report MUST carry at most one GB_SIGNATURE; it MUST be a compact detached ES256 JWS and MUST verify.",
    "GB-V-001": "A GB resource MUST carry GB_RESOURCE_ROLE with one value DISPATCH_UNIT or METERABLE_UNIT.",
    "GB-V-002": "A meterable unit MUST carry GB_MPAN with one or more valid MPAN cores.",
    "GB-V-003": "An MPAN core MUST be registered by one FSP only: a meterable unit MUST NOT name a core that a "
    "resource of another ven names.",
    "GB-V-004": "When the dispatching operator is known, a meterable unit's MPAN cores MUST lie in its licence areas "
    "(distributor ID).",
}


@dataclass(frozen=True)
class Violation:
    rule: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule} at {self.path}: {self.message}"


class _Collector:
    def __init__(self) -> None:
        self.items: list[Violation] = []

    def add(self, rule: str, path: str, message: str) -> None:
        assert rule in RULES, rule
        self.items.append(Violation(rule, path, message))


def _parse(model: type, obj: Any, out: _Collector) -> Any:
    if isinstance(obj, model):
        return obj
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        for error in exc.errors():
            out.add("GB-X-001", ".".join(str(p) for p in error["loc"]) or "$", error["msg"])
        return None


def _is_utc(moment: datetime) -> bool:
    return moment.utcoffset() == timedelta(0)


def _fixed(duration: str | None) -> timedelta | None:
    if duration is None:
        return None
    try:
        parsed = parse_duration(duration)
        return None if parsed.years or parsed.months else parsed.as_timedelta()
    except InvalidDuration:
        return None


def _finite(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def _decimals_ok(value: float, places: int) -> bool:
    return abs(round(value, places) - value) < 1e-9


def _payloads(interval: Interval) -> dict[str, list[Any]]:
    return {p.type: list(p.values) for p in interval.payloads}


def _one(payloads: Mapping[str, list[Any]], type_: str) -> Any:
    values = payloads.get(type_)
    return values[0] if values is not None and len(values) == 1 else None


def _utc_text_ok(value: Any) -> bool:
    if not isinstance(value, str) or not re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|\+00:00)$", value):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _namespaced(value: Any) -> tuple[str, str] | None:
    if isinstance(value, str) and ":" in value:
        operator_id, local = value.split(":", 1)
        if operator_id and local:
            return operator_id, local
    return None


def _targets(targets: list[ValuesMap] | None, type_: str) -> list[ValuesMap]:
    return [t for t in targets or () if t.type == type_]


# --- programs --------------------------------------------------------------------------------

PROGRAM_TYPE_RE = re.compile(r"^GB_FLEX:([A-Z0-9_]+)$")


def is_gb_program(program: Program | Mapping[str, Any]) -> bool:
    """A program follows the GB profile when its programType is `GB_FLEX:<PRODUCT>`."""
    program_type = program.programType if isinstance(program, Program) else program.get("programType")
    return isinstance(program_type, str) and program_type.startswith(m.PROGRAM_TYPE_PREFIX)


def validate_program(obj: Program | Mapping[str, Any]) -> list[Violation]:
    out = _Collector()
    program = _parse(Program, obj, out)
    if program is None:
        return out.items
    prod = product_from_program_type(program.programType)
    if prod is None:
        out.add("GB-P-001", "programType", f"{program.programType!r} is not GB_FLEX:<product code>")
    if program.retailerName not in NETWORK_OPERATORS:
        out.add("GB-P-002", "retailerName", f"{program.retailerName!r} is not a well-known network operator ID")
    codes = "|".join(sorted(PRODUCTS, key=len, reverse=True))
    name_re = rf"^{re.escape(program.retailerName or '')}-({codes})(-[A-Za-z0-9_]+)?$"
    match = re.match(name_re, program.programName)
    if not match or (prod is not None and match.group(1) != prod.code.value):
        out.add("GB-P-003", "programName", f"{program.programName!r} is not <retailerName>-<product>[-suffix]")
    if program.country != m.COUNTRY:
        out.add("GB-P-004", "country", f"country is {program.country!r}, not GB")
    if program.bindingEvents is True:
        out.add("GB-P-005", "bindingEvents", "bindingEvents is true")
    for i, d in enumerate(program.payloadDescriptors or ()):
        path = f"payloadDescriptors[{i}]"
        if d.payloadType in m.SETPOINT_KIND:
            allowed = prod is None or m.SETPOINT_KIND[d.payloadType] in prod.setpoint_kinds
            if d.units not in ("KW", "KVAR") or not allowed:
                out.add("GB-P-006", path, f"{d.payloadType} with units {d.units!r} is not allowed for this product")
        elif d.payloadType == m.P_PRICE:
            if d.units not in ("KWH", "KVARH") or getattr(d, "currency", None) != m.CURRENCY:
                out.add("GB-P-006", path, "PRICE must have units KWH or KVARH and currency GBP")
        else:
            out.add("GB-P-006", path, f"{d.payloadType} is not a GB dispatch payload type")
    if program.principalSubdivision is not None and program.principalSubdivision not in ("GB-ENG", "GB-SCT", "GB-WLS"):
        out.add("GB-P-007", "principalSubdivision", f"{program.principalSubdivision!r} is not in Great Britain")
    return out.items


# --- events ----------------------------------------------------------------------------------


def _check_signature(signature: Any, path: str, rule: str, out: _Collector) -> bool:
    try:
        signature_header(signature)
    except SignatureError as exc:
        out.add(rule, path, str(exc))
        return False
    return True


def validate_event(
    obj: Event | Mapping[str, Any],
    program: Program | Mapping[str, Any] | None = None,
    *,
    previous: Event | Mapping[str, Any] | None = None,
    keys: KeyRing | None = None,
) -> list[Violation]:
    """Violations of a dispatch or anchor event; with `previous`, also of the revision rules."""
    out = _Collector()
    event = _parse(Event, obj, out)
    if event is None:
        return out.items
    prog = Program.model_validate(program) if isinstance(program, Mapping) else program
    if is_anchor_event(event):
        _validate_anchor(event, prog, out)
        return out.items
    if is_acceptance_event(event):
        _validate_acceptance(event, out)
        return out.items
    _validate_dispatch(event, prog, keys, out)
    if previous is not None:
        prev = _parse(Event, previous, out)
        if prev is not None:
            _validate_update(prev, event, out)
    return out.items


def _event_operator(event: Event, prog: Program | None, out: _Collector) -> str | None:
    parts = _namespaced(event.eventName)
    if (
        parts is None
        or parts[0] not in NETWORK_OPERATORS
        or not re.match(r"^[A-Za-z0-9._-]{1,100}$", parts[1])
        or (prog is not None and parts[0] != prog.retailerName)
    ):
        out.add("GB-E-001", "eventName", f"{event.eventName!r} is not <NO>:<ref> for this program's operator")
        return parts[0] if parts else None
    return parts[0]


def _validate_anchor(event: Event, prog: Program | None, out: _Collector) -> None:
    _event_operator(event, prog, out)
    heartbeat = [d for d in event.reportDescriptors or () if d.payloadType == m.P_HEARTBEAT and d.frequency == 0]
    if event.targets or event.payloadDescriptors or event.intervals or not heartbeat:
        out.add("GB-E-030", "$", "anchor event must be public, without payloads, with a GB_HEARTBEAT descriptor")


def _validate_acceptance(event: Event, out: _Collector) -> None:
    from gb_profile.availability import P_ACCEPTANCE_STATUS, P_UNIT, STATUSES

    parts = (event.eventName or "").split(":")
    fsp = _targets(event.targets, m.T_VEN_NAME)
    if len(parts) < 4 or len(fsp) != 1 or fsp[0].values != [":".join(parts[2:-1])] or len(event.targets or ()) != 1:
        out.add("GB-E-031", "targets", "an acceptance event targets exactly the VEN_NAME its name carries")
    for index, interval in enumerate(event.intervals or ()):
        types = {p.type: p.values for p in interval.payloads}
        if len(types.get(P_UNIT) or ()) != 1 or (types.get(P_ACCEPTANCE_STATUS) or [None])[0] not in STATUSES:
            out.add("GB-E-031", f"intervals[{index}]", "needs GB_DISPATCH_UNIT and GB_ACCEPTANCE_STATUS")


def _validate_dispatch(event: Event, prog: Program | None, keys: KeyRing | None, out: _Collector) -> None:
    operator_id = _event_operator(event, prog, out)
    for rule, type_ in (("GB-E-002", m.T_VEN_NAME), ("GB-E-003", m.T_RESOURCE_NAME)):
        found = _targets(event.targets, type_)
        if len(found) != 1 or len(found[0].values) != 1 or not isinstance(found[0].values[0], str):
            out.add(rule, "targets", f"need exactly one {type_} target with one value")
    contract = _targets(event.targets, m.T_CONTRACT)
    if len(contract) != 1 or len(contract[0].values) != 1 or (_namespaced(contract[0].values[0]) or ("",))[0] != operator_id:
        out.add("GB-E-004", "targets", "need exactly one GB_CONTRACT target <NO>:<contract> of the dispatching operator")
    cmz = _targets(event.targets, m.T_CMZ)
    others = [t.type for t in event.targets or () if t.type not in (m.T_VEN_NAME, m.T_RESOURCE_NAME, m.T_CONTRACT, m.T_CMZ)]
    if (
        others
        or len(cmz) > 1
        or (cmz and (len(cmz[0].values) != 1 or (_namespaced(cmz[0].values[0]) or ("",))[0] != operator_id))
    ):
        out.add("GB-E-005", "targets", f"bad GB_CMZ target or other target types {others}")
    window_start = window_end = None
    period = event.intervalPeriod
    length = _fixed(period.duration) if period else None
    if period is None or not _is_utc(period.start) or length is None or length < timedelta(0):
        out.add("GB-E-006", "intervalPeriod", "service window needs a UTC start and a fixed non-negative duration")
    else:
        window_start, window_end = period.start.astimezone(UTC), period.start.astimezone(UTC) + length
    zero = [i for i in event.intervals if i.id == 0]
    status = revision = None
    signature = None
    if len(zero) != 1 or zero[0].intervalPeriod is not None:
        out.add("GB-E-007", "intervals", "need exactly one interval id 0 without intervalPeriod")
    if zero:
        meta = _payloads(zero[0])
        try:
            status = m.DispatchStatus(_one(meta, m.P_STATUS))
        except ValueError:
            out.add("GB-E-008", "intervals[0]", f"GB_DISPATCH_STATUS {meta.get(m.P_STATUS)!r} is not a dispatch status")
        revision = _one(meta, m.P_REVISION)
        if isinstance(revision, bool) or not isinstance(revision, int) or revision < 1:
            out.add("GB-E-009", "intervals[0]", f"GB_DISPATCH_REVISION {meta.get(m.P_REVISION)!r} is not an integer >= 1")
            revision = None
        if not _utc_text_ok(_one(meta, m.P_INSTRUCTION_TIME)):
            out.add("GB-E-010", "intervals[0]", f"GB_INSTRUCTION_TIME {meta.get(m.P_INSTRUCTION_TIME)!r} is not RFC 3339 UTC")
        types = [p.type for p in zero[0].payloads]
        if any(t not in m.METADATA_PAYLOADS for t in types) or len(types) != len(set(types)):
            out.add("GB-E-011", "intervals[0]", f"unexpected or repeated payloads {types}")
        if m.P_SIGNATURE in meta:
            signature = _one(meta, m.P_SIGNATURE)
    setpoint_intervals = sorted((i for i in event.intervals if i.id != 0), key=lambda i: i.id)
    if [i.id for i in setpoint_intervals] != list(range(1, len(setpoint_intervals) + 1)):
        out.add("GB-E-012", "intervals", "setpoint interval ids must be 1..n")
    used: dict[str, int] = {}
    previous_end = None
    prod = product_from_program_type(prog.programType) if prog else None
    for interval in setpoint_intervals:
        path = f"intervals[id={interval.id}]"
        ip = interval.intervalPeriod
        step = _fixed(ip.duration) if ip else None
        if ip is None or not _is_utc(ip.start) or step is None or step <= timedelta(0):
            out.add("GB-E-012", path, "needs an intervalPeriod with UTC start and positive fixed duration")
        else:
            begin = ip.start.astimezone(UTC)
            if (previous_end is not None and begin != previous_end) or (
                window_start is not None and not window_start <= begin < begin + step <= window_end
            ):
                out.add("GB-E-013", path, "setpoints must be contiguous and inside the service window")
            previous_end = begin + step
        payloads = _payloads(interval)
        kinds = [t for t in payloads if t in m.SETPOINT_KIND]
        extra = [t for t in payloads if t not in m.SETPOINT_KIND and t != m.P_PRICE]
        types = [p.type for p in interval.payloads]
        volume = _one(payloads, kinds[0]) if len(kinds) == 1 else None
        price_ok = m.P_PRICE not in payloads or _finite(_one(payloads, m.P_PRICE))
        if len(kinds) != 1 or extra or len(types) != len(set(types)) or not _finite(volume) or not price_ok:
            out.add("GB-E-014", path, f"needs one setpoint number and optionally one PRICE, has {types}")
        if _finite(volume) and not _decimals_ok(volume, 3):
            out.add("GB-E-021", path, f"service volume {volume} has more than 3 decimal places")
        price = _one(payloads, m.P_PRICE)
        if _finite(price) and not _decimals_ok(price, 5):
            out.add("GB-E-021", path, f"price {price} has more than 5 decimal places")
        for t in set(types):
            used[t] = used.get(t, 0) + 1
        if prod is not None and any(m.SETPOINT_KIND[k] not in prod.setpoint_kinds for k in kinds):
            out.add("GB-E-022", path, f"{kinds} not allowed for product {prod.code}")
    descriptors: dict[str, list[Any]] = {}
    for d in event.payloadDescriptors or ():
        descriptors.setdefault(d.payloadType, []).append(d)
    setpoint_units = {d.units for t in m.SETPOINT_KIND for d in descriptors.get(t, [])}
    if any(len(descriptors.get(t, [])) != 1 for t in used) or not setpoint_units <= {"KW", "KVAR"} or len(setpoint_units) > 1:
        out.add("GB-E-015", "payloadDescriptors", f"descriptors {sorted(descriptors)} do not match payloads {sorted(used)}")
    for d in descriptors.get(m.P_PRICE, []):
        want = {"KW": "KWH", "KVAR": "KVARH"}.get(next(iter(setpoint_units), "KW"))
        if d.currency != m.CURRENCY or d.units != want:
            out.add("GB-E-016", "payloadDescriptors", f"PRICE must be GBP per {want}")
    if previous_end is not None and window_end is not None and previous_end != window_end:
        out.add("GB-E-013", "intervals", "the last setpoint must hold until the service end")
    if status in m.ACTIVE_STATUSES and not setpoint_intervals:
        out.add("GB-E-017", "intervals", f"a {status} dispatch needs at least one setpoint")
    if status == m.DispatchStatus.CANCELLED and (setpoint_intervals or (length is not None and length != timedelta(0))):
        out.add("GB-E-017", "intervals", "a CANCELLED dispatch has no setpoints and a zero-length window")
    if not any(d.payloadType == m.P_ACK_STATUS and d.frequency == 0 for d in event.reportDescriptors or ()):
        out.add("GB-E-018", "reportDescriptors", "no GB_ACK_STATUS report descriptor with frequency 0")
    if status is not None and (event.priority == 0) != (status == m.DispatchStatus.EMERGENCY_STOP):
        out.add("GB-E-019", "priority", f"priority {event.priority!r} with status {status}")
    if (
        prod is not None
        and revision == 1
        and status in (m.DispatchStatus.PRE_NOTIFY, m.DispatchStatus.RUN)
        and window_start is not None
        and zero
        and _utc_text_ok(_one(_payloads(zero[0]), m.P_INSTRUCTION_TIME))
    ):
        instructed = datetime.fromisoformat(_one(_payloads(zero[0]), m.P_INSTRUCTION_TIME).replace("Z", "+00:00"))
        if not prod.notice.satisfied(instructed, window_start):
            out.add("GB-E-020", "intervals[0]", f"instruction gives less than the {prod.notice} notice of {prod.code}")
    if signature is not None or (zero and m.P_SIGNATURE in _payloads(zero[0])):
        if _check_signature(signature, "intervals[0]", "GB-E-023", out) and keys is not None:
            try:
                verify_event(event, keys)
            except SignatureError as exc:
                out.add("GB-E-023", "intervals[0]", str(exc))


def _meta(event: Event) -> dict[str, list[Any]]:
    zero = [i for i in event.intervals if i.id == 0]
    return _payloads(zero[0]) if len(zero) == 1 else {}


def _validate_update(prev: Event, new: Event, out: _Collector) -> None:
    old_meta, new_meta = _meta(prev), _meta(new)
    old_rev, new_rev = _one(old_meta, m.P_REVISION), _one(new_meta, m.P_REVISION)
    if isinstance(old_rev, int) and (not isinstance(new_rev, int) or new_rev <= old_rev):
        out.add("GB-E-040", "intervals[0]", f"revision {new_rev!r} does not exceed {old_rev!r}")

    def fixed(event: Event) -> tuple[Any, ...]:
        keep = (m.T_VEN_NAME, m.T_RESOURCE_NAME, m.T_CONTRACT)
        return (
            event.programID,
            event.eventName,
            sorted((t.type, tuple(map(str, t.values))) for t in event.targets or () if t.type in keep),
        )

    if fixed(prev) != fixed(new):
        out.add("GB-E-041", "$", "programID, eventName or the VEN/resource/contract targets changed")
    try:
        old_status, new_status = m.DispatchStatus(_one(old_meta, m.P_STATUS)), m.DispatchStatus(_one(new_meta, m.P_STATUS))
    except ValueError:
        old_status = new_status = None
    if old_status is not None and new_status not in m.ALLOWED_TRANSITIONS[old_status]:
        out.add("GB-E-042", "intervals[0]", f"status cannot change from {old_status} to {new_status}")
    old_time, new_time = _one(old_meta, m.P_INSTRUCTION_TIME), _one(new_meta, m.P_INSTRUCTION_TIME)
    if _utc_text_ok(old_time) and _utc_text_ok(new_time):
        if datetime.fromisoformat(new_time.replace("Z", "+00:00")) < datetime.fromisoformat(old_time.replace("Z", "+00:00")):
            out.add("GB-E-043", "intervals[0]", "instruction time moved backwards")


def validate_event_update(previous: Event | Mapping[str, Any], new: Event | Mapping[str, Any]) -> list[Violation]:
    """Only the revision rules (GB-E-040..043) between two versions of one dispatch."""
    out = _Collector()
    prev, event = _parse(Event, previous, out), _parse(Event, new, out)
    if prev is not None and event is not None:
        _validate_update(prev, event, out)
    return out.items


# --- reports ---------------------------------------------------------------------------------


def validate_report(
    obj: Report | Mapping[str, Any],
    event: Event | Mapping[str, Any] | None = None,
    *,
    keys: KeyRing | None = None,
    own_resources: set[str] | None = None,
) -> list[Violation]:
    """Violations of a GB report; with `event` (the event it reports on), also the read-back rules;
    with `own_resources` (the posting VEN's resource names), also that its readings are for those."""
    out = _Collector()
    report = _parse(Report, obj, out)
    if report is None:
        return out.items
    ev = Event.model_validate(event) if isinstance(event, Mapping) else event
    if report.reportName not in m.REPORT_NAMES:
        out.add("GB-R-001", "reportName", f"{report.reportName!r} is not a GB report name")
        return out.items
    if ev is not None and not is_anchor_event(ev):
        fsp = _targets(ev.targets, m.T_VEN_NAME)
        if not fsp or report.clientName not in fsp[0].values:
            out.add("GB-R-002", "clientName", f"{report.clientName!r} is not the FSP the event targets")
    for r_index, resource in enumerate(report.resources):
        if own_resources is not None and report.reportName == m.R_READINGS and resource.resourceName not in own_resources:
            out.add("GB-R-012", f"resources[{r_index}].resourceName",
                    f"{resource.resourceName!r} is not a resource of the posting VEN")
        for interval in resource.intervals:
            types = [p.type for p in interval.payloads]
            if (interval.intervalPeriod is not None and not _is_utc(interval.intervalPeriod.start)) or len(types) != len(
                set(types)
            ):
                out.add("GB-R-003", f"resources[{r_index}]", f"interval {interval.id}: non-UTC start or repeated payloads")
    signatures = [
        (f"resources[{i}]", v)
        for i, r in enumerate(report.resources)
        for iv in r.intervals
        for p in iv.payloads
        if p.type == m.P_SIGNATURE
        for v in (p.values or [None])
    ]
    if len(signatures) > 1:
        out.add("GB-R-050", "resources", "more than one GB_SIGNATURE")
    elif signatures and _check_signature(signatures[0][1], signatures[0][0], "GB-R-050", out) and keys is not None:
        try:
            verify_report(report, keys)
        except SignatureError as exc:
            out.add("GB-R-050", signatures[0][0], str(exc))
    check = {
        m.R_ACK: _validate_ack,
        m.R_HEARTBEAT: _validate_heartbeat,
        m.R_READINGS: _validate_readings,
        m.R_AVAILABILITY: _validate_availability,
        m.R_EMERGENCY_STOP: _validate_emergency_stop,
    }[report.reportName]
    check(report, ev, out, bool(signatures))
    return out.items


def _instant_interval(resource: Any) -> Interval | None:
    if len(resource.intervals) != 1 or resource.intervals[0].id != 0:
        return None
    interval = resource.intervals[0]
    if interval.intervalPeriod is None or interval.intervalPeriod.duration != "PT0S":
        return None
    return interval


def _validate_ack(report: Report, ev: Event | None, out: _Collector, signed: bool) -> None:
    unit = _targets(ev.targets, m.T_RESOURCE_NAME) if ev is not None else []
    if len(report.resources) != 1 or (unit and report.resources[0].resourceName not in unit[0].values):
        out.add("GB-R-004", "resources", "an acknowledgement has exactly one resource, the dispatch unit")
    if not report.resources:
        return
    interval = _instant_interval(report.resources[0])
    if interval is None:
        out.add("GB-R-005", "resources[0]", "need exactly one interval id 0 with duration PT0S")
        if not report.resources[0].intervals:
            return
        interval = report.resources[0].intervals[0]
    payloads = _payloads(interval)
    status_value, ref = _one(payloads, m.P_ACK_STATUS), _one(payloads, m.P_DISPATCH_REF)
    revision, result = _one(payloads, m.P_REVISION), _one(payloads, m.P_ACK_RESULT)
    ok_revision = not isinstance(revision, bool) and isinstance(revision, int) and revision >= 1
    if (
        status_value not in m.DispatchStatus.__members__
        or _namespaced(ref) is None
        or not ok_revision
        or result not in m.AckResult.__members__
    ):
        out.add("GB-R-006", "resources[0].intervals[0]", "missing or invalid ack payloads")
    if result == m.AckResult.REJECTED and not _one(payloads, m.P_ACK_REASON):
        out.add("GB-R-007", "resources[0].intervals[0]", "REJECTED without GB_ACK_REASON")
    if ev is not None:
        meta = _meta(ev)
        event_revision = _one(meta, m.P_REVISION)
        # an ack of another dispatch, or of a revision not issued yet, is no read-back of this event
        if ref != ev.eventName or (ok_revision and isinstance(event_revision, int) and revision > event_revision):
            out.add("GB-R-011", "resources[0].intervals[0]", "the acknowledgement names another dispatch or revision")
        if m.P_SIGNATURE in meta and not signed:
            out.add("GB-R-009", "resources[0].intervals[0]", "the dispatch is signed but the acknowledgement is not")


def readback_mismatches(report: Report | Mapping[str, Any], event: Event | Mapping[str, Any]) -> list[Violation]:
    """GB-R-008 notices for an acknowledgement of the event's current revision whose read-back status differs.

    Not violations: a misread is exactly what the operator must see, so the VTN stores the ack and flags it
    (`gb_profile.board` shows it as not matching). Empty for other reports, other revisions (the event carries
    only its current status) and acks too malformed to compare (`validate_report` refuses those).
    """
    out = _Collector()
    name = report.reportName if isinstance(report, Report) else report.get("reportName")
    if name != m.R_ACK:
        return out.items  # before parsing: a readings report of thousands of intervals need not be parsed again
    parsed, ev = _parse(Report, report, _Collector()), _parse(Event, event, _Collector())
    if parsed is None or ev is None or parsed.reportName != m.R_ACK or len(parsed.resources) != 1:
        return out.items
    intervals = parsed.resources[0].intervals
    if not intervals:
        return out.items
    payloads, meta = _payloads(intervals[0]), _meta(ev)
    read_back, issued = _one(payloads, m.P_ACK_STATUS), _one(meta, m.P_STATUS)
    revision = _one(payloads, m.P_REVISION)
    if revision == _one(meta, m.P_REVISION) and _one(payloads, m.P_DISPATCH_REF) == ev.eventName and read_back != issued:
        out.add("GB-R-008", "resources[0].intervals[0]", f"read-back status {read_back!r} is not the issued {issued!r}")
    return out.items


def _validate_heartbeat(report: Report, ev: Event | None, out: _Collector, signed: bool) -> None:
    aggregated = [r for r in report.resources if r.resourceName == m.AGGREGATED_REPORT]
    interval = _instant_interval(aggregated[0]) if len(aggregated) == 1 else None
    payloads = _payloads(interval) if interval else {}
    bad = (
        interval is None
        or not _utc_text_ok(_one(payloads, m.P_HEARTBEAT))
        or _one(payloads, m.P_OPERATOR) not in NETWORK_OPERATORS
    )
    for resource in report.resources:
        if resource.resourceName != m.AGGREGATED_REPORT:
            inner = _instant_interval(resource)
            if inner is None or _one(_payloads(inner), m.P_OPERATING_STATE) not in m.OPERATING_STATES:
                bad = True
    if bad:
        out.add("GB-R-010", "resources", "heartbeat needs AGGREGATED_REPORT with GB_HEARTBEAT and GB_NETWORK_OPERATOR")


def _operator_named(report: Report, out: _Collector, type_: str) -> None:
    values = [v for r in report.resources for iv in r.intervals for p in iv.payloads if p.type == type_ for v in p.values]
    operators = {(v.split(":", 1)[0] if type_ == m.T_CONTRACT and isinstance(v, str) else v) for v in values}
    if len(values) != 1 or not operators <= set(NETWORK_OPERATORS):
        out.add("GB-R-024", "resources", f"need exactly one {type_} naming a well-known operator")


def _validate_readings(report: Report, ev: Event | None, out: _Collector, signed: bool) -> None:
    declared = {d.payloadType: d for d in report.payloadDescriptors or ()}
    used = {p.type for r in report.resources for iv in r.intervals for p in iv.payloads} & {m.P_DEMAND, m.P_USAGE}
    demand, usage = declared.get(m.P_DEMAND), declared.get(m.P_USAGE)
    if (
        not used
        or any(t not in declared for t in used)
        or (demand and (demand.readingType != "MEAN" or demand.units != "KW"))
        or (usage and usage.units != "KWH")
    ):
        out.add("GB-R-020", "payloadDescriptors", "DEMAND MEAN KW / USAGE KWH descriptors missing or wrong")
    allowed = {m.P_DEMAND, m.P_USAGE, m.P_BASELINE, m.P_DATA_QUALITY, m.P_OPERATOR, m.P_SIGNATURE}
    for r_index, resource in enumerate(report.resources):
        ids: set[int] = set()
        spans: dict[str, list[tuple[datetime, datetime, str]]] = {}  # per payload type: minutes and half hours may overlap
        for interval in resource.intervals:
            path = f"resources[{r_index}].intervals[id={interval.id}]"
            payloads = _payloads(interval)
            kinds = [t for t in (m.P_DEMAND, m.P_USAGE) if t in payloads]
            quality = payloads.get(m.P_DATA_QUALITY)
            if (
                len(kinds) != 1
                or not _finite(_one(payloads, kinds[0]))
                or set(payloads) - allowed
                or (quality is not None and (len(quality) != 1 or quality[0] not in m.DATA_QUALITIES))
            ):
                out.add("GB-R-022", path, f"bad reading payloads {sorted(payloads)}")
            ip = interval.intervalPeriod
            if ip is None or not kinds:
                out.add("GB-R-021", path, "reading interval needs an intervalPeriod")
                continue
            start = ip.start.astimezone(UTC)
            step = _fixed(ip.duration)
            if kinds[0] == m.P_DEMAND:
                ok = step == timedelta(minutes=1) and start.second == 0 and start.microsecond == 0
            else:
                ok = step == timedelta(minutes=30) and start.minute in (0, 30) and start.second == 0 and start.microsecond == 0
            if not ok:
                out.add("GB-R-021", path, f"{kinds[0]} interval {ip.duration} at {start.isoformat()} is not aligned")
            if interval.id in ids:
                out.add("GB-R-023", path, "repeated interval id")
            ids.add(interval.id)
            if step is not None:
                spans.setdefault(kinds[0], []).append((start, start + step, path))
        for kind_spans in spans.values():
            for (_, end, _), (begin, _, path) in itertools.pairwise(sorted(kind_spans)):
                if begin < end:
                    out.add("GB-R-023", path, "overlaps the previous reading of the same type")
    _operator_named(report, out, m.P_OPERATOR)


def _validate_availability(report: Report, ev: Event | None, out: _Collector, signed: bool) -> None:
    declared = {d.payloadType: d for d in report.payloadDescriptors or ()}
    used = {p.type for r in report.resources for iv in r.intervals for p in iv.payloads} & {m.P_UP_AVAILABLE, m.P_DOWN_AVAILABLE}
    if not used or any(t not in declared or declared[t].readingType != "FORECAST" or declared[t].units != "KW" for t in used):
        out.add("GB-R-030", "payloadDescriptors", "UP/DOWN_REGULATION_AVAILABLE must be declared FORECAST KW")
    for r_index, resource in enumerate(report.resources):
        for interval in resource.intervals:
            path = f"resources[{r_index}].intervals[id={interval.id}]"
            ip = interval.intervalPeriod
            step = _fixed(ip.duration) if ip else None
            start = ip.start.astimezone(UTC) if ip else None
            if (
                start is None
                or step is None
                or step <= timedelta(0)
                or step % timedelta(minutes=30)
                or start.minute not in (0, 30)
                or start.second
                or start.microsecond
            ):
                out.add("GB-R-031", path, "availability window is not whole settlement periods")
            payloads = _payloads(interval)
            values = [payloads[t] for t in (m.P_UP_AVAILABLE, m.P_DOWN_AVAILABLE) if t in payloads]
            if not values or any(len(v) != 1 or not _finite(v[0]) or v[0] < 0 for v in values):
                out.add("GB-R-032", path, "availability values must be one finite number >= 0")
    _operator_named(report, out, m.T_CONTRACT)


def _validate_emergency_stop(report: Report, ev: Event | None, out: _Collector, signed: bool) -> None:
    # A clearance is told apart by its payload: GB_EMERGENCY_STOP_CLEARED instead of GB_EMERGENCY_STOP.
    clearance = any(p.type == m.P_EMERGENCY_STOP_CLEARED for r in report.resources for i in r.intervals for p in i.payloads)
    wanted, unwanted = ((m.P_EMERGENCY_STOP_CLEARED, m.P_EMERGENCY_STOP) if clearance
                        else (m.P_EMERGENCY_STOP, m.P_EMERGENCY_STOP_CLEARED))
    bad = not report.resources
    for resource in report.resources:
        interval = _instant_interval(resource)
        payloads = _payloads(interval) if interval else {}
        reason = _one(payloads, wanted)
        if (interval is None or not isinstance(reason, str) or not reason or unwanted in payloads
                or _one(payloads, m.P_OPERATOR) not in NETWORK_OPERATORS):
            bad = True
    if bad and clearance:
        out.add("GB-R-041", "resources", "each unit needs interval 0 (PT0S) with a GB_EMERGENCY_STOP_CLEARED note and "
                "operator, and no GB_EMERGENCY_STOP")
    elif bad:
        out.add("GB-R-040", "resources", "each unit needs interval 0 (PT0S) with a GB_EMERGENCY_STOP reason and operator")


# --- resources -------------------------------------------------------------------------------


def is_gb_resource(resource: Resource | Mapping[str, Any]) -> bool:
    """A resource follows the GB profile when it carries the GB_RESOURCE_ROLE attribute (whatever its value)."""
    attributes = resource.attributes if isinstance(resource, Resource) else resource.get("attributes")
    return any(_attribute_type(a) == m.A_ROLE for a in attributes or ())


def _attribute_type(attribute: Any) -> Any:
    return attribute.get("type") if isinstance(attribute, Mapping) else getattr(attribute, "type", None)


def mpan_cores(resource: Resource | Mapping[str, Any]) -> list[str]:
    """The valid MPAN cores a meterable unit names (full MPANs and display spacing reduced to the 13-digit core)."""
    attributes = resource.attributes if isinstance(resource, Resource) else resource.get("attributes")
    cores = []
    for attribute in attributes or ():
        values = attribute.get("values") if isinstance(attribute, Mapping) else getattr(attribute, "values", None)
        if _attribute_type(attribute) != m.A_MPAN or not isinstance(values, list):
            continue
        for value in values:
            try:
                cores.append(parse_mpan_core(value).core)
            except MpanError:
                continue
    return cores


def validate_resource(
    obj: Resource | Mapping[str, Any],
    *,
    taken: Mapping[str, str] | None = None,
    operator_id: str | None = None,
) -> list[Violation]:
    """Violations of a GB resource.

    `taken`: MPAN core -> the other FSP (ven) that registered it (GB-V-003); `operator_id`: the dispatching
    operator, whose licence areas the meterable unit's MPANs must lie in (GB-V-004; unchecked when None).
    """
    out = _Collector()
    resource = _parse(Resource, obj, out)
    if resource is None:
        return out.items
    attributes = {a.type: list(a.values) for a in resource.attributes or ()}
    role = _one(attributes, m.A_ROLE)
    if role not in m.ResourceRole.__members__:
        out.add("GB-V-001", "attributes", f"GB_RESOURCE_ROLE {attributes.get(m.A_ROLE)!r} is not a GB resource role")
    if role == m.ResourceRole.METERABLE_UNIT:
        cores = attributes.get(m.A_MPAN) or []
        if not cores:
            out.add("GB-V-002", "attributes", "a meterable unit needs GB_MPAN")
        for core in cores:
            try:
                parsed = parse_mpan_core(core)
            except MpanError as exc:
                out.add("GB-V-002", "attributes", str(exc))
                continue
            if taken and parsed.core in taken:
                out.add("GB-V-003", "attributes", f"MPAN core {parsed.core} is registered by {taken[parsed.core]}")
            if operator_id is not None:
                try:
                    check_mpan_licence_area(parsed.core, operator_id)
                except MpanError as exc:
                    out.add("GB-V-004", "attributes", str(exc))
    return out.items


__all__ = [
    "RULES",
    "ProductCode",
    "Violation",
    "is_gb_program",
    "is_gb_resource",
    "mpan_cores",
    "readback_mismatches",
    "validate_event",
    "validate_event_update",
    "validate_program",
    "validate_report",
    "validate_resource",
]
