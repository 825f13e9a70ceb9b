"""Encode GB profile domain objects as OpenADR 3.0.1 wire models and decode them back.

Every builder returns an `openadr3.models` object; every parser accepts a model or a wire dict and
returns the domain object, raising `ProfileError` when the object does not follow the profile's
structure (use `gb_profile.validator` for a full list of rule violations).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from gb_profile import model as m
from gb_profile.identifiers import network_operator, parse_mpan_core
from gb_profile.products import Product, ProductCode, SetpointKind, product
from openadr3.durations import InvalidDuration, format_duration, parse_duration
from openadr3.models import (
    Event,
    EventPayloadDescriptor,
    Interval,
    IntervalPeriod,
    Program,
    ProgramDescription,
    Report,
    ReportDescriptor,
    ReportPayloadDescriptor,
    ReportResource,
    Resource,
    ValuesMap,
    Ven,
)

# --- time helpers ---------------------------------------------------------------------------


def utc(moment: datetime) -> datetime:
    if not isinstance(moment, datetime) or moment.tzinfo is None or moment.utcoffset() is None:
        raise m.ProfileError(f"{moment!r} is not a timezone-aware datetime")
    return moment.astimezone(UTC)


def utc_text(moment: datetime) -> str:
    """RFC 3339 in UTC with a `Z` suffix."""
    return utc(moment).isoformat().replace("+00:00", "Z")


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def parse_utc_text(text: Any, what: str = "date-time") -> datetime:
    """Parse an RFC 3339 date-time that is in UTC (`Z` or `+00:00`)."""
    if not isinstance(text, str) or not _RFC3339.match(text):
        raise m.ProfileError(f"{what} {text!r} is not an RFC 3339 date-time")
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.utcoffset() != timedelta(0):
        raise m.ProfileError(f"{what} {text!r} must be in UTC (Z)")
    return moment.astimezone(UTC)


def _duration(text: str | None, what: str) -> timedelta:
    if text is None:
        raise m.ProfileError(f"{what} has no duration")
    try:
        return parse_duration(text).as_timedelta()
    except InvalidDuration as exc:
        raise m.ProfileError(f"{what}: {exc}") from None


def _period(start: datetime, duration: timedelta) -> IntervalPeriod:
    if duration < timedelta(0):
        raise m.ProfileError(f"negative duration from {utc_text(start)}")
    return IntervalPeriod(start=utc(start), duration=format_duration(duration))


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise m.ProfileError(f"{what} must be a finite number, not {value!r}")
    return value


def _vm(type_: str, *values: Any) -> ValuesMap:
    return ValuesMap(type=type_, values=list(values))


def field_of(doc: Any, name: str) -> Any:
    """A top-level field of a wire document (a mapping) or of a parsed model."""
    return doc.get(name) if isinstance(doc, Mapping) else getattr(doc, name, None)


def _as_event(obj: Event | Mapping[str, Any]) -> Event:
    return obj if isinstance(obj, Event) else Event.model_validate(obj)


def _as_report(obj: Report | Mapping[str, Any]) -> Report:
    return obj if isinstance(obj, Report) else Report.model_validate(obj)


def payload_map(payloads: Iterable[ValuesMap], where: str) -> dict[str, list[Any]]:
    result: dict[str, list[Any]] = {}
    for p in payloads:
        if p.type in result:
            raise m.ProfileError(f"{where}: payload {p.type} appears twice")
        result[p.type] = list(p.values)
    return result


def _single(payloads: Mapping[str, list[Any]], type_: str, where: str, required: bool = True) -> Any:
    values = payloads.get(type_)
    if values is None:
        if required:
            raise m.ProfileError(f"{where}: payload {type_} is missing")
        return None
    if len(values) != 1:
        raise m.ProfileError(f"{where}: payload {type_} must have exactly one value")
    return values[0]


def _target_values(targets: Iterable[ValuesMap] | None, type_: str) -> list[Any]:
    found = [t for t in targets or () if t.type == type_]
    if len(found) != 1 or len(found[0].values) != 1:
        raise m.ProfileError(f"event must have exactly one {type_} target with one value")
    return found[0].values


def split_namespaced(value: Any, what: str) -> tuple[str, str]:
    if not isinstance(value, str) or ":" not in value:
        raise m.ProfileError(f"{what} {value!r} must be '<network operator>:<id>'")
    operator_id, local = value.split(":", 1)
    if not operator_id or not local:
        raise m.ProfileError(f"{what} {value!r} must be '<network operator>:<id>'")
    return operator_id, local


# --- programs, VENs, resources ---------------------------------------------------------------


def program_name(operator_id: str, code: ProductCode | str, suffix: str | None = None) -> str:
    return f"{operator_id}-{ProductCode(code).value}" + (f"-{suffix}" if suffix else "")


def build_program(
    product_code: ProductCode | str,
    contract: m.Contract | None = None,
    *,
    operator_id: str | None = None,
    suffix: str | None = None,
    units: m.ServiceUnits | None = None,
) -> Program:
    """One program per (network operator, product[, suffix]); the contract supplies operator, units and span."""
    prod: Product = product(product_code)
    operator = network_operator(operator_id or (contract.operator_id if contract else ""))
    if units is None:
        reactive = contract is not None and contract.direction in (m.Direction.REACTIVE_IMPORT, m.Direction.REACTIVE_EXPORT)
        units = m.ServiceUnits.KVAR if reactive else m.ServiceUnits.KW
    descriptors: list[EventPayloadDescriptor] = [
        EventPayloadDescriptor(payloadType=m.SETPOINT_PAYLOAD[kind], units=units.value)
        for kind in (SetpointKind.ABSOLUTE, SetpointKind.DELTA)
        if kind in prod.setpoint_kinds
    ]
    descriptors.append(EventPayloadDescriptor(payloadType=m.P_PRICE, units=m.PRICE_UNITS[units], currency=m.CURRENCY))
    period = None
    if contract is not None and contract.valid_from is not None:
        length = (contract.valid_to - contract.valid_from) if contract.valid_to else None
        period = IntervalPeriod(start=utc(contract.valid_from), duration=format_duration(length) if length else "P9999Y")
    return Program(
        programName=program_name(operator.id, prod.code, suffix),
        programLongName=f"{operator.name} {prod.name}",
        retailerName=operator.id,
        retailerLongName=operator.name,
        programType=prod.program_type,
        country=m.COUNTRY,
        bindingEvents=False,
        intervalPeriod=period,
        programDescriptions=[ProgramDescription(URL=contract.terms_url)] if contract and contract.terms_url else None,
        payloadDescriptors=descriptors,
    )


def build_dispatch_unit_resource(unit: m.DispatchUnit) -> Resource:
    attributes = [_vm(m.A_ROLE, m.ResourceRole.DISPATCH_UNIT.value)]
    if unit.meterable_units:
        attributes.append(_vm(m.A_METERABLE_UNITS, *unit.meterable_units))
    if unit.cmz:
        attributes.append(_vm(m.A_CMZ, f"{unit.operator_id}:{unit.cmz}"))
    if unit.max_consumption_kw is not None:
        attributes.append(_vm(m.A_MAX_CONSUMPTION, unit.max_consumption_kw))
    if unit.max_export_kw is not None:
        attributes.append(_vm(m.A_MAX_EXPORT, unit.max_export_kw))
    targets = [_vm(m.T_RESOURCE_NAME, unit.name)]
    if unit.contracts:
        targets.append(_vm(m.T_CONTRACT, *(f"{unit.operator_id}:{c}" for c in unit.contracts)))
    if unit.cmz:
        targets.append(_vm(m.T_CMZ, f"{unit.operator_id}:{unit.cmz}"))
    return Resource(resourceName=unit.name, attributes=attributes, targets=targets)


def build_meterable_unit_resource(unit: m.MeterableUnit) -> Resource:
    cores = [parse_mpan_core(mpan).core for mpan in unit.mpans]
    if not cores:
        raise m.ProfileError(f"meterable unit {unit.name!r} has no MPAN")
    attributes = [_vm(m.A_ROLE, m.ResourceRole.METERABLE_UNIT.value), _vm(m.A_MPAN, *cores)]
    if unit.dispatch_unit:
        attributes.append(_vm(m.A_DISPATCH_UNIT, unit.dispatch_unit))
    return Resource(resourceName=unit.name, attributes=attributes, targets=[_vm(m.T_MPAN, *cores)])


def build_ven(fsp_id: str, units: Iterable[m.DispatchUnit] = (), meters: Iterable[m.MeterableUnit] = ()) -> Ven:
    """The FSP's VEN with its dispatch and meterable units; targets are those the BL grants it."""
    units, meters = list(units), list(meters)
    for unit in [*units, *meters]:
        if unit.fsp_id != fsp_id:
            raise m.ProfileError(f"unit {unit.name!r} belongs to FSP {unit.fsp_id!r}, not {fsp_id!r}")
    targets = [_vm(m.T_VEN_NAME, fsp_id)]
    contracts = sorted({f"{u.operator_id}:{c}" for u in units for c in u.contracts})
    if contracts:
        targets.append(_vm(m.T_CONTRACT, *contracts))
    if units:
        targets.append(_vm(m.T_RESOURCE_NAME, *(u.name for u in units)))
    resources = [build_dispatch_unit_resource(u) for u in units] + [build_meterable_unit_resource(u) for u in meters]
    return Ven(venName=fsp_id, targets=targets, resources=resources or None)


# --- dispatch events -------------------------------------------------------------------------

ACK_DESCRIPTOR = ReportDescriptor(payloadType=m.P_ACK_STATUS, frequency=0, repeat=-1)


def build_event(instruction: m.DispatchInstruction, program_id: str, *, event_id: str | None = None) -> Event:
    """The dispatch event for one revision of an instruction (docs/gb-profile.md §5)."""
    ins = instruction
    network_operator(ins.operator_id)
    if ins.revision < 1:
        raise m.ProfileError("revision must be >= 1")
    start, end = utc(ins.service_start), utc(ins.service_end)
    if end < start:
        raise m.ProfileError("service end is before service start")
    setpoints = sorted(ins.setpoints, key=lambda s: utc(s.timestamp))
    if [s.timestamp for s in setpoints] != [s.timestamp for s in ins.setpoints]:
        raise m.ProfileError("setpoints must be in chronological order")
    if len({s.units for s in setpoints}) > 1:
        raise m.ProfileError("all setpoints of a dispatch must use the same units (one service type per event)")
    metadata = [
        _vm(m.P_STATUS, m.DispatchStatus(ins.status).value),
        _vm(m.P_REVISION, ins.revision),
        _vm(m.P_INSTRUCTION_TIME, utc_text(ins.instruction_time)),
    ]
    if ins.signature:
        metadata.append(_vm(m.P_SIGNATURE, ins.signature))
    intervals = [Interval(id=0, payloads=metadata)]
    for index, sp in enumerate(setpoints):
        begin = utc(sp.timestamp)
        finish = utc(setpoints[index + 1].timestamp) if index + 1 < len(setpoints) else end
        if not start <= begin < finish <= end:
            raise m.ProfileError(f"setpoint at {utc_text(begin)} is outside the service window or not before the next one")
        payloads = [_vm(m.SETPOINT_PAYLOAD[SetpointKind(sp.kind)], _number(sp.volume, "service volume"))]
        if sp.price is not None:
            payloads.append(_vm(m.P_PRICE, _number(sp.price, "price")))
        intervals.append(Interval(id=index + 1, intervalPeriod=_period(begin, finish - begin), payloads=payloads))
    descriptors: list[EventPayloadDescriptor] = []
    if setpoints:
        units = m.ServiceUnits(setpoints[0].units)
        for kind in (SetpointKind.ABSOLUTE, SetpointKind.DELTA):
            if any(SetpointKind(s.kind) is kind for s in setpoints):
                descriptors.append(EventPayloadDescriptor(payloadType=m.SETPOINT_PAYLOAD[kind], units=units.value))
        if any(s.price is not None for s in setpoints):
            descriptors.append(EventPayloadDescriptor(payloadType=m.P_PRICE, units=m.PRICE_UNITS[units], currency=m.CURRENCY))
    targets = [
        _vm(m.T_VEN_NAME, ins.fsp_id),
        _vm(m.T_RESOURCE_NAME, ins.dispatch_unit),
        _vm(m.T_CONTRACT, f"{ins.operator_id}:{ins.contract_id}"),
    ]
    if ins.cmz:
        targets.append(_vm(m.T_CMZ, f"{ins.operator_id}:{ins.cmz}"))
    return Event(
        id=event_id,
        programID=program_id,
        eventName=ins.event_name,
        priority=0 if ins.status == m.DispatchStatus.EMERGENCY_STOP else None,
        targets=targets,
        reportDescriptors=[ACK_DESCRIPTOR],
        payloadDescriptors=descriptors or None,
        intervalPeriod=_period(start, end - start),
        intervals=intervals,
    )


def event_metadata(event: Event) -> dict[str, list[Any]]:
    zero = [i for i in event.intervals if i.id == 0]
    if len(zero) != 1:
        raise m.ProfileError("a dispatch event must have exactly one metadata interval with id 0")
    return payload_map(zero[0].payloads, "interval 0")


def parse_event(obj: Event | Mapping[str, Any]) -> m.DispatchInstruction:
    """Decode a dispatch event into the instruction it carries (inverse of `build_event`)."""
    event = _as_event(obj)
    operator_id, ref = split_namespaced(event.eventName, "eventName")
    fsp_id = _target_values(event.targets, m.T_VEN_NAME)[0]
    unit = _target_values(event.targets, m.T_RESOURCE_NAME)[0]
    contract_operator, contract_id = split_namespaced(_target_values(event.targets, m.T_CONTRACT)[0], m.T_CONTRACT)
    if contract_operator != operator_id:
        raise m.ProfileError(f"contract is namespaced by {contract_operator!r}, the dispatch by {operator_id!r}")
    cmz = None
    if any(t.type == m.T_CMZ for t in event.targets or ()):
        cmz_operator, cmz = split_namespaced(_target_values(event.targets, m.T_CMZ)[0], m.T_CMZ)
        if cmz_operator != operator_id:
            raise m.ProfileError(f"CMZ is namespaced by {cmz_operator!r}, the dispatch by {operator_id!r}")
    if event.intervalPeriod is None:
        raise m.ProfileError("a dispatch event must have an intervalPeriod (the service window)")
    start = utc(event.intervalPeriod.start)
    end = start + _duration(event.intervalPeriod.duration, "event intervalPeriod")
    meta = event_metadata(event)
    try:
        status = m.DispatchStatus(_single(meta, m.P_STATUS, "interval 0"))
    except ValueError:
        raise m.ProfileError(f"unknown dispatch status {meta.get(m.P_STATUS)!r}") from None
    revision = _single(meta, m.P_REVISION, "interval 0")
    if isinstance(revision, bool) or not isinstance(revision, int):
        raise m.ProfileError(f"revision {revision!r} is not an integer")
    instruction_time = parse_utc_text(_single(meta, m.P_INSTRUCTION_TIME, "interval 0"), m.P_INSTRUCTION_TIME)
    signature = _single(meta, m.P_SIGNATURE, "interval 0", required=False)
    units_by_type = {d.payloadType: d.units for d in event.payloadDescriptors or ()}
    setpoints = []
    for interval in sorted((i for i in event.intervals if i.id != 0), key=lambda i: i.id):
        where = f"interval {interval.id}"
        if interval.intervalPeriod is None:
            raise m.ProfileError(f"{where} has no intervalPeriod")
        payloads = payload_map(interval.payloads, where)
        kinds = [t for t in payloads if t in m.SETPOINT_KIND]
        if len(kinds) != 1:
            raise m.ProfileError(f"{where} must carry exactly one setpoint payload")
        try:
            units = m.ServiceUnits(units_by_type.get(kinds[0]))
        except ValueError:
            raise m.ProfileError(f"payload descriptor of {kinds[0]} must have units KW or KVAR") from None
        price = _single(payloads, m.P_PRICE, where, required=False)
        setpoints.append(
            m.Setpoint(
                timestamp=utc(interval.intervalPeriod.start),
                volume=_number(_single(payloads, kinds[0], where), "service volume"),
                units=units,
                kind=m.SETPOINT_KIND[kinds[0]],
                price=None if price is None else _number(price, "price"),
            )
        )
    return m.DispatchInstruction(
        operator_id=operator_id,
        dispatch_ref=ref,
        revision=revision,
        status=status,
        instruction_time=instruction_time,
        fsp_id=fsp_id,
        dispatch_unit=unit,
        contract_id=contract_id,
        service_start=start,
        service_end=end,
        setpoints=tuple(setpoints),
        cmz=cmz,
        signature=signature,
    )


def build_anchor_event(program_id: str, operator_id: str, start: datetime) -> Event:
    """The program's public reporting anchor: heartbeats, readings, availability and emergency stops."""
    network_operator(operator_id)
    descriptors = [
        ReportDescriptor(payloadType=m.P_HEARTBEAT, frequency=0, repeat=-1),
        ReportDescriptor(payloadType=m.P_DEMAND, readingType="MEAN", units="KW", frequency=0, repeat=-1),
        ReportDescriptor(payloadType=m.P_USAGE, readingType="DIRECT_READ", units="KWH", frequency=0, repeat=-1),
        ReportDescriptor(
            payloadType=m.P_UP_AVAILABLE, readingType="FORECAST", units="KW", historical=False, frequency=0, repeat=-1
        ),
        ReportDescriptor(
            payloadType=m.P_DOWN_AVAILABLE, readingType="FORECAST", units="KW", historical=False, frequency=0, repeat=-1
        ),
        ReportDescriptor(payloadType=m.P_EMERGENCY_STOP, frequency=0, repeat=-1),
        ReportDescriptor(payloadType=m.P_OPERATING_STATE, frequency=0, repeat=-1),
    ]
    return Event(
        programID=program_id,
        eventName=f"{operator_id}:{m.ANCHOR_REF}",
        reportDescriptors=descriptors,
        intervalPeriod=IntervalPeriod(start=utc(start), duration="P9999Y"),
        intervals=[],
    )


def is_anchor_event(obj: Event | Mapping[str, Any]) -> bool:
    name = obj.eventName if isinstance(obj, Event) else obj.get("eventName")
    return isinstance(name, str) and name.endswith(f":{m.ANCHOR_REF}")


def is_acceptance_event(obj: Event | Mapping[str, Any]) -> bool:
    """The operator's weekly answer to an FSP's availability declarations (§6.5.2): instructs nothing."""
    from gb_profile.availability import is_acceptance_event as check

    return check(obj)


def is_info_event(obj: Event | Mapping[str, Any]) -> bool:
    """An event of a GB program that is not a dispatch: the anchor event or an acceptance event."""
    return is_anchor_event(obj) or is_acceptance_event(obj)


# --- revision / stop / cancel ----------------------------------------------------------------


def check_transition(old: m.DispatchStatus, new: m.DispatchStatus) -> None:
    if m.DispatchStatus(new) not in m.ALLOWED_TRANSITIONS[m.DispatchStatus(old)]:
        raise m.ProfileError(f"dispatch status cannot change from {old} to {new}")


def revise(instruction: m.DispatchInstruction, instruction_time: datetime, **changes: Any) -> m.DispatchInstruction:
    """The next revision: `changes` applied, revision + 1, new instruction time, signature dropped."""
    forbidden = {"operator_id", "dispatch_ref", "revision", "fsp_id", "dispatch_unit", "contract_id"} & set(changes)
    if forbidden:
        raise m.ProfileError(f"a revision cannot change {', '.join(sorted(forbidden))}")
    if "status" in changes:
        check_transition(instruction.status, changes["status"])
    elif instruction.status in m.TERMINAL_STATUSES:
        raise m.ProfileError(f"a {instruction.status} dispatch cannot be revised")
    if utc(instruction_time) < utc(instruction.instruction_time):
        raise m.ProfileError("a revision's instruction time cannot precede the previous revision's")
    return dataclasses.replace(
        instruction, revision=instruction.revision + 1, instruction_time=instruction_time, signature=None, **changes
    )


def _stopped(instruction: m.DispatchInstruction, at: datetime, instruction_time: datetime,
             status: m.DispatchStatus) -> m.DispatchInstruction:
    end = min(max(utc(at), utc(instruction.service_start)), utc(instruction.service_end))
    kept = tuple(s for s in instruction.setpoints if utc(s.timestamp) < end)
    return revise(instruction, instruction_time, status=status, service_end=end, setpoints=kept)


def stop(instruction: m.DispatchInstruction, at: datetime, instruction_time: datetime) -> m.DispatchInstruction:
    """STOP at `at`: the window is truncated there and later setpoints dropped."""
    return _stopped(instruction, at, instruction_time, m.DispatchStatus.STOP)


def emergency_stop(instruction: m.DispatchInstruction, at: datetime, instruction_time: datetime) -> m.DispatchInstruction:
    """Operator emergency stop at `at` (§5.3): as STOP, with status EMERGENCY_STOP; `build_event` then sets
    `priority` 0 (GB-E-019), the profile's only priority-0 dispatch."""
    return _stopped(instruction, at, instruction_time, m.DispatchStatus.EMERGENCY_STOP)


def cancel(instruction: m.DispatchInstruction, instruction_time: datetime) -> m.DispatchInstruction:
    """Withdraw a dispatch that has not started: zero-length window, no setpoints."""
    if utc(instruction_time) >= utc(instruction.service_start) and instruction.status != m.DispatchStatus.PRE_NOTIFY:
        raise m.ProfileError("a dispatch that has started must be stopped, not cancelled")
    return revise(
        instruction, instruction_time, status=m.DispatchStatus.CANCELLED, service_end=instruction.service_start, setpoints=()
    )


def revise_event(obj: Event | Mapping[str, Any], instruction_time: datetime, **changes: Any) -> Event:
    """The updated event (same id and program) for the next revision of the dispatch `obj` carries."""
    event = _as_event(obj)
    return build_event(revise(parse_event(event), instruction_time, **changes), event.programID, event_id=event.id)


def stop_event(obj: Event | Mapping[str, Any], at: datetime, instruction_time: datetime) -> Event:
    event = _as_event(obj)
    return build_event(stop(parse_event(event), at, instruction_time), event.programID, event_id=event.id)


def emergency_stop_event(obj: Event | Mapping[str, Any], at: datetime, instruction_time: datetime) -> Event:
    event = _as_event(obj)
    return build_event(emergency_stop(parse_event(event), at, instruction_time), event.programID, event_id=event.id)


def cancel_event(obj: Event | Mapping[str, Any], instruction_time: datetime) -> Event:
    event = _as_event(obj)
    return build_event(cancel(parse_event(event), instruction_time), event.programID, event_id=event.id)


# --- reports ---------------------------------------------------------------------------------


def _instant_interval(moment: datetime, payloads: list[ValuesMap]) -> Interval:
    return Interval(id=0, intervalPeriod=IntervalPeriod(start=utc(moment), duration="PT0S"), payloads=payloads)


def _instant(interval: Interval, where: str) -> datetime:
    if interval.intervalPeriod is None or interval.intervalPeriod.duration != "PT0S":
        raise m.ProfileError(f"{where}: interval 0 must have a period with duration PT0S")
    return utc(interval.intervalPeriod.start)


def _only_interval(resource: ReportResource) -> Interval:
    if len(resource.intervals) != 1 or resource.intervals[0].id != 0:
        raise m.ProfileError(f"resource {resource.resourceName!r} must have exactly one interval with id 0")
    return resource.intervals[0]


def _expect_name(report: Report, name: str) -> None:
    if report.reportName != name:
        raise m.ProfileError(f"reportName is {report.reportName!r}, expected {name!r}")


def build_ack_report(ack: m.Acknowledgement, program_id: str, event_id: str) -> Report:
    payloads = [
        _vm(m.P_ACK_STATUS, m.DispatchStatus(ack.status).value),
        _vm(m.P_DISPATCH_REF, ack.event_name),
        _vm(m.P_REVISION, ack.revision),
        _vm(m.P_ACK_RESULT, m.AckResult(ack.result).value),
    ]
    if ack.reason:
        payloads.append(_vm(m.P_ACK_REASON, ack.reason))
    if ack.signature:
        payloads.append(_vm(m.P_SIGNATURE, ack.signature))
    return Report(
        programID=program_id,
        eventID=event_id,
        clientName=ack.fsp_id,
        reportName=m.R_ACK,
        resources=[ReportResource(resourceName=ack.dispatch_unit, intervals=[_instant_interval(ack.received_time, payloads)])],
    )


def acknowledge(
    obj: Event | Mapping[str, Any],
    received_time: datetime,
    *,
    result: m.AckResult = m.AckResult.ACCEPTED,
    reason: str | None = None,
    status: m.DispatchStatus | None = None,
) -> m.Acknowledgement:
    """The read-back of the revision an event carries (status may differ if the FSP understood otherwise)."""
    ins = parse_event(obj)
    return m.Acknowledgement(
        fsp_id=ins.fsp_id,
        operator_id=ins.operator_id,
        dispatch_ref=ins.dispatch_ref,
        revision=ins.revision,
        dispatch_unit=ins.dispatch_unit,
        status=status or ins.status,
        received_time=received_time,
        result=result,
        reason=reason,
    )


def parse_ack_report(obj: Report | Mapping[str, Any]) -> m.Acknowledgement:
    report = _as_report(obj)
    _expect_name(report, m.R_ACK)
    if len(report.resources) != 1:
        raise m.ProfileError("an acknowledgement has exactly one resource, the dispatch unit")
    resource = report.resources[0]
    interval = _only_interval(resource)
    payloads = payload_map(interval.payloads, "ack interval 0")
    operator_id, ref = split_namespaced(_single(payloads, m.P_DISPATCH_REF, "ack"), m.P_DISPATCH_REF)
    try:
        status = m.DispatchStatus(_single(payloads, m.P_ACK_STATUS, "ack"))
        result = m.AckResult(_single(payloads, m.P_ACK_RESULT, "ack"))
    except ValueError as exc:
        raise m.ProfileError(f"ack: {exc}") from None
    revision = _single(payloads, m.P_REVISION, "ack")
    if isinstance(revision, bool) or not isinstance(revision, int):
        raise m.ProfileError(f"ack revision {revision!r} is not an integer")
    return m.Acknowledgement(
        fsp_id=report.clientName,
        operator_id=operator_id,
        dispatch_ref=ref,
        revision=revision,
        dispatch_unit=resource.resourceName,
        status=status,
        received_time=_instant(interval, "ack"),
        result=result,
        reason=_single(payloads, m.P_ACK_REASON, "ack", required=False),
        signature=_single(payloads, m.P_SIGNATURE, "ack", required=False),
    )


def build_heartbeat_report(heartbeat: m.Heartbeat, program_id: str, anchor_event_id: str) -> Report:
    payloads = [_vm(m.P_HEARTBEAT, utc_text(heartbeat.time)), _vm(m.P_OPERATOR, network_operator(heartbeat.operator_id).id)]
    if heartbeat.signature:
        payloads.append(_vm(m.P_SIGNATURE, heartbeat.signature))
    resources = [ReportResource(resourceName=m.AGGREGATED_REPORT, intervals=[_instant_interval(heartbeat.time, payloads)])]
    for unit, state in heartbeat.operating_states:
        if state not in m.OPERATING_STATES:
            raise m.ProfileError(f"{state!r} is not an OPERATING_STATE value")
        resources.append(
            ReportResource(resourceName=unit, intervals=[_instant_interval(heartbeat.time, [_vm(m.P_OPERATING_STATE, state)])])
        )
    return Report(
        programID=program_id, eventID=anchor_event_id, clientName=heartbeat.fsp_id, reportName=m.R_HEARTBEAT, resources=resources
    )


def parse_heartbeat_report(obj: Report | Mapping[str, Any]) -> m.Heartbeat:
    report = _as_report(obj)
    _expect_name(report, m.R_HEARTBEAT)
    aggregated = [r for r in report.resources if r.resourceName == m.AGGREGATED_REPORT]
    if len(aggregated) != 1:
        raise m.ProfileError(f"a heartbeat has exactly one {m.AGGREGATED_REPORT} resource")
    payloads = payload_map(_only_interval(aggregated[0]).payloads, "heartbeat")
    states = []
    for resource in report.resources:
        if resource.resourceName != m.AGGREGATED_REPORT:
            states.append(
                (
                    resource.resourceName,
                    _single(payload_map(_only_interval(resource).payloads, "heartbeat"), m.P_OPERATING_STATE, "heartbeat"),
                )
            )
    return m.Heartbeat(
        fsp_id=report.clientName,
        operator_id=_single(payloads, m.P_OPERATOR, "heartbeat"),
        time=parse_utc_text(_single(payloads, m.P_HEARTBEAT, "heartbeat"), m.P_HEARTBEAT),
        operating_states=tuple(states),
        signature=_single(payloads, m.P_SIGNATURE, "heartbeat", required=False),
    )


def build_emergency_stop_report(stop_: m.EmergencyStop, program_id: str, event_id: str) -> Report:
    network_operator(stop_.operator_id)
    if not stop_.dispatch_units:
        raise m.ProfileError("an emergency stop names at least one dispatch unit")
    resources = []
    if not stop_.reason:
        raise m.ProfileError("an emergency stop (or its clearance) carries a non-empty reason")
    for index, unit in enumerate(stop_.dispatch_units):
        payloads = [
            _vm(m.P_EMERGENCY_STOP_CLEARED if stop_.cleared else m.P_EMERGENCY_STOP, stop_.reason),
            _vm(m.P_OPERATOR, stop_.operator_id),
            _vm(m.P_OPERATING_STATE, "IDLE_NORMAL" if stop_.cleared else "IDLE_OPTED_OUT"),
        ]
        if index == 0 and stop_.signature:
            payloads.append(_vm(m.P_SIGNATURE, stop_.signature))
        resources.append(ReportResource(resourceName=unit, intervals=[_instant_interval(stop_.effective_time, payloads)]))
    return Report(
        programID=program_id, eventID=event_id, clientName=stop_.fsp_id, reportName=m.R_EMERGENCY_STOP, resources=resources
    )


def parse_emergency_stop_report(obj: Report | Mapping[str, Any]) -> m.EmergencyStop:
    report = _as_report(obj)
    _expect_name(report, m.R_EMERGENCY_STOP)
    if not report.resources:
        raise m.ProfileError("an emergency stop names at least one dispatch unit")
    first = payload_map(_only_interval(report.resources[0]).payloads, "emergency stop")
    cleared = m.P_EMERGENCY_STOP_CLEARED in first
    return m.EmergencyStop(
        fsp_id=report.clientName,
        operator_id=_single(first, m.P_OPERATOR, "emergency stop"),
        dispatch_units=tuple(r.resourceName for r in report.resources),
        effective_time=_instant(_only_interval(report.resources[0]), "emergency stop"),
        reason=_single(first, m.P_EMERGENCY_STOP_CLEARED if cleared else m.P_EMERGENCY_STOP, "emergency stop"),
        signature=_single(first, m.P_SIGNATURE, "emergency stop", required=False),
        cleared=cleared,
    )


AVAILABILITY_DESCRIPTORS = [
    ReportPayloadDescriptor(payloadType=m.P_UP_AVAILABLE, readingType="FORECAST", units="KW"),
    ReportPayloadDescriptor(payloadType=m.P_DOWN_AVAILABLE, readingType="FORECAST", units="KW"),
]


def build_availability_report(declaration: m.AvailabilityDeclaration, program_id: str, anchor_event_id: str) -> Report:
    """Declared availability per dispatch unit: turn-down as UP_REGULATION_AVAILABLE, turn-up as DOWN_... (kW >= 0)."""
    network_operator(declaration.operator_id)
    resources = []
    for unit, windows in declaration.windows.items():
        intervals = []
        for index, w in enumerate(sorted(windows, key=lambda w: utc(w.start))):
            payloads = []
            for type_, value in ((m.P_UP_AVAILABLE, w.turn_down_kw), (m.P_DOWN_AVAILABLE, w.turn_up_kw)):
                if value is not None:
                    if _number(value, type_) < 0:
                        raise m.ProfileError(f"{type_} must be >= 0 (direction is in the payload type)")
                    payloads.append(_vm(type_, value))
            if not payloads:
                raise m.ProfileError(f"availability window at {utc_text(w.start)} declares nothing")
            intervals.append(Interval(id=index, intervalPeriod=_period(w.start, w.duration), payloads=payloads))
        resources.append(ReportResource(resourceName=unit, intervals=intervals))
    first = resources[0].intervals[0] if resources and resources[0].intervals else None
    if first is None:
        raise m.ProfileError("an availability declaration needs at least one window")
    first.payloads.append(_vm(m.T_CONTRACT, f"{declaration.operator_id}:{declaration.contract_id}"))
    if declaration.signature:
        first.payloads.append(_vm(m.P_SIGNATURE, declaration.signature))
    return Report(
        programID=program_id,
        eventID=anchor_event_id,
        clientName=declaration.fsp_id,
        reportName=m.R_AVAILABILITY,
        payloadDescriptors=list(AVAILABILITY_DESCRIPTORS),
        resources=resources,
    )


def parse_availability_report(obj: Report | Mapping[str, Any]) -> m.AvailabilityDeclaration:
    report = _as_report(obj)
    _expect_name(report, m.R_AVAILABILITY)
    windows: dict[str, tuple[m.AvailabilityWindow, ...]] = {}
    contract = signature = None
    for resource in report.resources:
        found = []
        for interval in resource.intervals:
            payloads = payload_map(interval.payloads, f"{resource.resourceName} interval {interval.id}")
            contract = _single(payloads, m.T_CONTRACT, "availability", required=False) or contract
            signature = _single(payloads, m.P_SIGNATURE, "availability", required=False) or signature
            if interval.intervalPeriod is None:
                raise m.ProfileError(f"{resource.resourceName} interval {interval.id} has no intervalPeriod")
            found.append(
                m.AvailabilityWindow(
                    start=utc(interval.intervalPeriod.start),
                    duration=_duration(interval.intervalPeriod.duration, "availability window"),
                    turn_down_kw=_single(payloads, m.P_UP_AVAILABLE, "availability", required=False),
                    turn_up_kw=_single(payloads, m.P_DOWN_AVAILABLE, "availability", required=False),
                )
            )
        windows[resource.resourceName] = tuple(found)
    operator_id, contract_id = split_namespaced(contract, m.T_CONTRACT)
    return m.AvailabilityDeclaration(
        fsp_id=report.clientName, operator_id=operator_id, contract_id=contract_id, windows=windows, signature=signature
    )


READING_PAYLOAD = {m.ReadingKind.POWER_KW: m.P_DEMAND, m.ReadingKind.ENERGY_KWH: m.P_USAGE}
READING_DESCRIPTOR = {
    m.ReadingKind.POWER_KW: ReportPayloadDescriptor(payloadType=m.P_DEMAND, readingType="MEAN", units="KW"),
    m.ReadingKind.ENERGY_KWH: ReportPayloadDescriptor(payloadType=m.P_USAGE, readingType="DIRECT_READ", units="KWH"),
}


def build_readings_report(readings: m.MeterReadings, program_id: str, event_id: str) -> Report:
    """Meter readings per meterable unit: DEMAND MEAN KW per minute and/or USAGE KWH per half hour, import +."""
    network_operator(readings.operator_id)
    by_unit: dict[str, list[m.MeterReading]] = {}
    for reading in readings.readings:
        by_unit.setdefault(reading.meterable_unit, []).append(reading)
    if not by_unit:
        raise m.ProfileError("a readings report needs at least one reading")
    kinds = sorted({r.kind for r in readings.readings})
    resources = []
    for unit, items in by_unit.items():
        intervals = []
        for index, r in enumerate(sorted(items, key=lambda r: (utc(r.start), r.kind))):
            payloads = [_vm(READING_PAYLOAD[r.kind], _number(r.value, "reading"))]
            if r.quality is not None:
                if r.quality not in m.DATA_QUALITIES:
                    raise m.ProfileError(f"{r.quality!r} is not a DATA_QUALITY value")
                payloads.append(_vm(m.P_DATA_QUALITY, r.quality))
            intervals.append(Interval(id=index, intervalPeriod=_period(r.start, m.READING_STEP[r.kind]), payloads=payloads))
        resources.append(ReportResource(resourceName=unit, intervals=intervals))
    resources[0].intervals[0].payloads.append(_vm(m.P_OPERATOR, readings.operator_id))
    if readings.signature:
        resources[0].intervals[0].payloads.append(_vm(m.P_SIGNATURE, readings.signature))
    return Report(
        programID=program_id,
        eventID=event_id,
        clientName=readings.fsp_id,
        reportName=m.R_READINGS,
        payloadDescriptors=[READING_DESCRIPTOR[k] for k in kinds],
        resources=resources,
    )


def parse_readings_report(obj: Report | Mapping[str, Any]) -> m.MeterReadings:
    report = _as_report(obj)
    _expect_name(report, m.R_READINGS)
    readings = []
    operator_id = signature = None
    for resource in report.resources:
        for interval in resource.intervals:
            payloads = payload_map(interval.payloads, f"{resource.resourceName} interval {interval.id}")
            operator_id = _single(payloads, m.P_OPERATOR, "readings", required=False) or operator_id
            signature = _single(payloads, m.P_SIGNATURE, "readings", required=False) or signature
            kinds = [k for k, t in READING_PAYLOAD.items() if t in payloads]
            if len(kinds) != 1 or interval.intervalPeriod is None:
                raise m.ProfileError(f"{resource.resourceName} interval {interval.id}: one DEMAND or USAGE and a period")
            readings.append(
                m.MeterReading(
                    meterable_unit=resource.resourceName,
                    start=utc(interval.intervalPeriod.start),
                    kind=kinds[0],
                    value=_number(_single(payloads, READING_PAYLOAD[kinds[0]], "readings"), "reading"),
                    quality=_single(payloads, m.P_DATA_QUALITY, "readings", required=False),
                )
            )
    if operator_id is None:
        raise m.ProfileError(f"readings report carries no {m.P_OPERATOR}")
    return m.MeterReadings(fsp_id=report.clientName, operator_id=operator_id, readings=tuple(readings), signature=signature)


def from_flexible_power(meterable_unit: str, timestamp: datetime, value: float, kind: m.ReadingKind) -> m.MeterReading:
    """Flexible Power reading (period-ending UTC timestamp, export positive) -> profile reading."""
    return m.MeterReading(
        meterable_unit=meterable_unit, start=utc(timestamp) - m.READING_STEP[kind], kind=kind, value=-value if value else 0.0
    )


def to_flexible_power(reading: m.MeterReading) -> tuple[datetime, float]:
    """Profile reading -> (period-ending UTC timestamp, export-positive value)."""
    return utc(reading.start) + m.READING_STEP[reading.kind], (-reading.value if reading.value else 0.0)
