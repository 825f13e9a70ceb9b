"""OpenADR 3.0.1 ↔ 3.1.0: the one conversion between the two wire formats (docs/openadr-3.1.md has the table).

The VTN stores every object as its 3.0.1 document plus `extra`, what only 3.1.0 can say (clientID, program
attributes without a 3.0.1 field, event duration, reportIntervals, a subscription's API version). Both APIs
read the same rows: the 3.0.1 API sends the document as it is, the 3.1.0 API sends `to_v31(...)` of it.

Targets: 3.1.0 targets are plain strings, 3.0.1 targets are `valuesMap`s {type, values}. A 3.1.0 string
`TYPE:value` (TYPE in capitals, digits and `_`, as the 3.0.1 target types are: `VEN_NAME:ven-a`,
`GROUP:g1`) is the 3.0.1 pair (TYPE, value); any other string `s` is the pair (`TARGET`, s). The 3.0.1 pair
(TYPE, value) is shown in 3.1.0 as `TYPE:value`, and (`TARGET`, s) as `s`. So both directions round-trip,
and target matching and privacy work on the same pairs whichever API wrote them (vtn.auth.privacy).

Pure functions on JSON dicts: no database, usable by the VEN and the conformance suite too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from typing import Any

from openadr3.targets import TargetPair, value_key

V301 = "3.0.1"
V310 = "3.1.0"
PLAIN_TARGET = "TARGET"  # the 3.0.1 type of a 3.1.0 target string without a `TYPE:` prefix
_TYPED = re.compile(r"^([A-Z][A-Z0-9_]*):(.+)$", re.DOTALL)

METADATA = ("id", "createdDateTime", "modificationDateTime", "objectType")

# 3.0.1 program fields that 3.1.0 carries as program attributes (enumerations/program-attributes.schema.yaml)
PROGRAM_ATTRIBUTES = {
    "PROGRAM_LONG_NAME": "programLongName",
    "RETAILER_NAME": "retailerName",
    "RETAILER_LONG_NAME": "retailerLongName",
    "PROGRAM_TYPE": "programType",
    "COUNTRY": "country",
    "PRINCIPAL_SUBDIVISION": "principalSubdivision",
    "BINDING_EVENTS": "bindingEvents",
    "LOCAL": "localPrice",
}
_BOOLEAN_ATTRIBUTES = {"BINDING_EVENTS", "LOCAL"}
# 3.0.1 notification operations are HTTP verbs (Y301:2436), 3.1.0 ones CRUD names
VERB_TO_CRUD = {"GET": "READ", "POST": "CREATE", "PUT": "UPDATE", "DELETE": "DELETE"}


# --- targets -------------------------------------------------------------------------------------------


def target_pair(target: str) -> TargetPair:
    """The 3.0.1 (type, value) pair of a 3.1.0 target string."""
    match = _TYPED.match(target)
    return (match[1], match[2]) if match else (PLAIN_TARGET, target)


def target_string(target_type: str, value: str) -> str:
    """The 3.1.0 target string of a 3.0.1 (type, value) pair."""
    return value if target_type == PLAIN_TARGET else f"{target_type}:{value}"


def pairs_of(targets: Iterable[str] | None) -> set[TargetPair]:
    return {target_pair(t) for t in targets or ()}


def targets_from_v31(targets: Iterable[str] | None) -> list[dict[str, Any]] | None:
    """3.1.0 target strings → 3.0.1 `valuesMap` list (one entry per type, first-seen order); None stays None."""
    if targets is None:
        return None
    by_type: dict[str, list[str]] = {}
    for target in targets:
        target_type, value = target_pair(target)
        values = by_type.setdefault(target_type, [])
        if value not in values:
            values.append(value)
    return [{"type": t, "values": v} for t, v in by_type.items()]


def targets_to_v31(targets: Iterable[Mapping[str, Any]] | None,
                   keep: AbstractSet[TargetPair] | None = None) -> list[str] | None:
    """3.0.1 `valuesMap` targets → 3.1.0 strings; with `keep`, only those pairs (3.1.0 target hiding)."""
    if targets is None:
        return None
    out: list[str] = []
    for entry in targets:
        for value in entry.get("values") or ():
            key = value_key(value)
            if key is None or (keep is not None and (entry["type"], key) not in keep):
                continue
            text = target_string(entry["type"], key)
            if text not in out:
                out.append(text)
    return out


# --- helpers -------------------------------------------------------------------------------------------


def _metadata(document: Mapping[str, Any]) -> dict[str, Any]:
    return {k: document[k] for k in METADATA if k in document}


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        out[key] = value


def _payload_descriptors(descriptors: Iterable[Mapping[str, Any]] | None, kind: str | None) -> list[dict[str, Any]] | None:
    """3.1.0 requires each descriptor's objectType; 3.0.1 made it optional (`kind` None: guess as 3.0.1 reads)."""
    if descriptors is None:
        return None
    out = []
    for descriptor in descriptors:
        guessed = kind or descriptor.get("objectType") or (
            "REPORT_PAYLOAD_DESCRIPTOR" if any(k in descriptor for k in ("readingType", "accuracy", "confidence"))
            else "EVENT_PAYLOAD_DESCRIPTOR")
        out.append({**descriptor, "objectType": guessed})
    return out


def _without_nulls(body: Mapping[str, Any]) -> dict[str, Any]:
    """Explicit nulls are absent (tolerant reader); provisioned metadata is the VTN's."""
    return {k: v for k, v in body.items() if v is not None and k not in METADATA}


# --- programs ------------------------------------------------------------------------------------------


def program_to_v31(document: Mapping[str, Any], extra: Mapping[str, Any] | None,
                   keep: AbstractSet[TargetPair] | None = None) -> dict[str, Any]:
    out = _metadata(document)
    out["programName"] = document["programName"]
    _put(out, "intervalPeriod", document.get("intervalPeriod"))
    _put(out, "programDescriptions", document.get("programDescriptions"))
    _put(out, "payloadDescriptors", _payload_descriptors(document.get("payloadDescriptors"), None))
    attributes = [{"type": name, "values": [document[field]]}
                  for name, field in PROGRAM_ATTRIBUTES.items() if document.get(field) is not None]
    attributes += list((extra or {}).get("attributes") or ())
    if attributes:
        out["attributes"] = attributes
    _put(out, "targets", targets_to_v31(document.get("targets"), keep))
    return out


def program_from_v31(body: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A 3.1.0 program request → (3.0.1 program body, extra). Attributes with a 3.0.1 field move to it."""
    data = _without_nulls(body)
    attributes = data.pop("attributes", None) or []
    content: dict[str, Any] = {k: v for k, v in data.items() if k != "targets"}
    if "targets" in data:
        content["targets"] = targets_from_v31(data["targets"])
    kept = []
    for attribute in attributes:
        field = PROGRAM_ATTRIBUTES.get(attribute.get("type", ""))
        values = attribute.get("values") or []
        fits = len(values) == 1 and isinstance(values[0], bool) == (attribute.get("type") in _BOOLEAN_ATTRIBUTES) \
            and isinstance(values[0], bool | str)
        if field and fits and field not in content:
            content[field] = values[0]
        else:
            kept.append(attribute)
    return content, ({"attributes": kept} if kept else {})


# --- events --------------------------------------------------------------------------------------------


def event_to_v31(document: Mapping[str, Any], extra: Mapping[str, Any] | None,
                 keep: AbstractSet[TargetPair] | None = None) -> dict[str, Any]:
    extra = extra or {}
    out = _metadata(document)
    out["programID"] = document["programID"]
    for key in ("eventName", "priority"):
        _put(out, key, document.get(key))
    _put(out, "duration", extra.get("duration"))
    _put(out, "targets", targets_to_v31(document.get("targets"), keep))
    descriptors = document.get("reportDescriptors")
    if descriptors is not None:
        intervals = list(extra.get("reportIntervals") or ())
        converted = []
        for index, descriptor in enumerate(descriptors):
            item = {k: v for k, v in descriptor.items() if k != "targets"}
            _put(item, "targets", targets_to_v31(descriptor.get("targets")))
            if index < len(intervals) and intervals[index] is not None:
                item["reportIntervals"] = intervals[index]
            converted.append(item)
        out["reportDescriptors"] = converted
    _put(out, "payloadDescriptors", _payload_descriptors(document.get("payloadDescriptors"), "EVENT_PAYLOAD_DESCRIPTOR"))
    _put(out, "intervalPeriod", document.get("intervalPeriod"))
    out["intervals"] = document.get("intervals") or []
    return out


def event_from_v31(body: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    data = _without_nulls(body)
    extra: dict[str, Any] = {}
    if "duration" in data:
        extra["duration"] = data.pop("duration")
    content: dict[str, Any] = {k: v for k, v in data.items() if k != "targets"}
    if "targets" in data:
        content["targets"] = targets_from_v31(data["targets"])
    content.setdefault("intervals", [])  # optional in 3.1.0, required in 3.0.1
    if data.get("reportDescriptors") is not None:
        descriptors, intervals = [], []
        for descriptor in data["reportDescriptors"]:
            item = {k: v for k, v in descriptor.items() if k not in ("targets", "reportIntervals") and v is not None}
            if descriptor.get("targets") is not None:
                item["targets"] = targets_from_v31(descriptor["targets"])
            descriptors.append(item)
            intervals.append(descriptor.get("reportIntervals"))
        content["reportDescriptors"] = descriptors
        if any(i is not None for i in intervals):
            extra["reportIntervals"] = intervals
    return content, extra


# --- reports -------------------------------------------------------------------------------------------


def report_to_v31(document: Mapping[str, Any], extra: Mapping[str, Any] | None) -> dict[str, Any]:
    out = _metadata(document)
    out["eventID"] = document["eventID"]
    out["clientName"] = document["clientName"]
    out["clientID"] = (extra or {}).get("clientID") or document["clientName"]
    _put(out, "reportName", document.get("reportName"))
    _put(out, "payloadDescriptors", _payload_descriptors(document.get("payloadDescriptors"), "REPORT_PAYLOAD_DESCRIPTOR"))
    out["resources"] = document.get("resources") or []
    return out


def report_from_v31(body: Mapping[str, Any], program_id: str, client_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """3.1.0 reports name no program (issue 253): it is the event's. clientID is the token's, never the body's."""
    content = {k: v for k, v in _without_nulls(body).items() if k != "clientID"}
    content["programID"] = program_id
    return content, {"clientID": client_id}


# --- subscriptions -------------------------------------------------------------------------------------


def subscription_to_v31(document: Mapping[str, Any], extra: Mapping[str, Any] | None,
                        owner_client_id: str | None) -> dict[str, Any]:
    out = _metadata(document)
    out["clientName"] = document["clientName"]
    out["clientID"] = (extra or {}).get("clientID") or owner_client_id or document["clientName"]
    _put(out, "programID", document.get("programID"))
    out["objectOperations"] = [
        {**entry, "operations": [VERB_TO_CRUD.get(str(o), str(o)) for o in entry.get("operations") or ()]}
        for entry in document.get("objectOperations") or ()
    ]
    _put(out, "targets", targets_to_v31(document.get("targets")))
    return out


def subscription_from_v31(body: Mapping[str, Any], client_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    data = {k: v for k, v in _without_nulls(body).items() if k != "clientID"}
    if "targets" in data:
        data["targets"] = targets_from_v31(data["targets"])
    return data, {"clientID": client_id, "apiVersion": V310}


# --- vens and resources --------------------------------------------------------------------------------


def ven_to_v31(document: Mapping[str, Any], extra: Mapping[str, Any] | None) -> dict[str, Any]:
    out = _metadata(document)
    out["venName"] = document["venName"]
    out["clientID"] = (extra or {}).get("clientID") or document["venName"]
    _put(out, "attributes", document.get("attributes"))
    _put(out, "targets", targets_to_v31(document.get("targets")))
    return out


def ven_from_v31(body: Mapping[str, Any], client_id: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """`client_id`: the BL's clientID from the body, or the VEN's own (from its token)."""
    data = {k: v for k, v in _without_nulls(body).items() if k != "clientID"}
    if "targets" in data:
        data["targets"] = targets_from_v31(data["targets"])
    return data, ({"clientID": client_id} if client_id else {})


def resource_to_v31(document: Mapping[str, Any], extra: Mapping[str, Any] | None) -> dict[str, Any]:
    out = _metadata(document)
    out["resourceName"] = document["resourceName"]
    out["venID"] = document.get("venID")
    out["clientID"] = (extra or {}).get("clientID") or document["resourceName"]
    _put(out, "attributes", document.get("attributes"))
    _put(out, "targets", targets_to_v31(document.get("targets")))
    return out


resource_from_v31 = ven_from_v31  # the same fields move: targets to valuesMaps, clientID to extra


# --- notifications -------------------------------------------------------------------------------------


def notification_to_v31(notification: Mapping[str, Any], object_v31: Mapping[str, Any],
                        keep: AbstractSet[TargetPair] | None = None) -> dict[str, Any]:
    """A 3.0.1 notification body → 3.1.0: CRUD operation names, the object in its 3.1.0 form (`keep`: the
    targets a VEN subscriber may be shown, as `to_v31`)."""
    out = {
        "objectType": notification["objectType"],
        "operation": VERB_TO_CRUD.get(notification["operation"], notification["operation"]),
        "object": dict(object_v31),
    }
    if notification.get("targets"):
        out["targets"] = targets_to_v31(notification["targets"], keep if notification["objectType"] in HIDDEN else None)
    return out


HIDDEN = ("PROGRAM", "EVENT")  # the object types whose targets a VEN sees only as granted (D310 "Target hiding")


def to_v31(object_type: str, document: Mapping[str, Any], extra: Mapping[str, Any] | None = None,
           owner_client_id: str | None = None, keep: AbstractSet[TargetPair] | None = None) -> dict[str, Any]:
    """Any stored object in its 3.1.0 form; `keep` (programs and events): only those targets (target hiding)."""
    match object_type:
        case "PROGRAM":
            return program_to_v31(document, extra, keep)
        case "EVENT":
            return event_to_v31(document, extra, keep)
        case "REPORT":
            return report_to_v31(document, extra)
        case "SUBSCRIPTION":
            return subscription_to_v31(document, extra, owner_client_id)
        case "VEN":
            return ven_to_v31(document, extra)
        case "RESOURCE":
            return resource_to_v31(document, extra)
    raise ValueError(f"unknown object type {object_type!r}")
