"""What differs between the API versions the suite speaks, written once (issues 17/18).

The checks are written in 3.0.1 terms: paths, bodies, query parameters and the answers they read. Against a
3.1.0 VTN the session passes every request through `Adapter310.outgoing` and every answer through
`Adapter310.incoming`, so each check runs unchanged on the 3.1.0 wire form:

- paths: a 3.0.1 resource lives under its ven (`/vens/{venID}/resources/...`), a 3.1.0 one at `/resources`
  with `venID` in the body (writes) or the query (lists);
- targets: 3.0.1 `valuesMap`s {type, values} ↔ 3.1.0 strings (`openadr3.convert`), in bodies and filters
  (`targetType`/`targetValues` ↔ `targets`);
- bodies: program fields ↔ program `attributes`, reports without `programID`, payload descriptors with
  their `objectType`, `clientID` (the VTN's, from the token) dropped on the way back;
- notifications: operations as CRUD names (3.1.0) ↔ HTTP verbs (3.0.1), the object as above.

The schema checks validate the raw 3.1.0 answers (as recorded, before `incoming`) against the 3.1.0 YAML.
Only well-shaped fields are converted: a check that sends a deliberately wrong body sends it as it is.
"""

from __future__ import annotations

import json
import re
from typing import Any

from openadr3 import convert as cv

_RESOURCES = re.compile(r"^/vens/([^/]+)/resources(/[^/]+)?$")
CRUD_TO_VERB = {v: k for k, v in cv.VERB_TO_CRUD.items()}
FIELD_TO_ATTRIBUTE = {field: name for name, field in cv.PROGRAM_ATTRIBUTES.items()}


class Adapter:
    """3.0.1: the checks' own terms, nothing to change."""

    version = cv.V301
    spec_prefix = "Y301"

    client_ids: dict[str, str]

    def __init__(self) -> None:
        self.client_ids = {}  # venName → the client id of the VEN client of that name (3.1.0 clientID)

    def outgoing(self, method: str, path: str, params: Any, body: Any, as_bl: bool = True) -> tuple[str, Any, Any]:
        return path, params, body

    def target_filter(self, collection: str) -> bool:
        """Whether the list at `collection` (3.0.1 path) takes a target filter."""
        return True

    def incoming(self, method: str, path: str, data: Any) -> Any:
        return data

    def notification(self, data: Any) -> Any:
        return data


def _is_values_maps(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(e, dict) and isinstance(e.get("values"), list)
                                           and isinstance(e.get("type"), str) for e in value)


def _is_strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(e, str) for e in value)


def _targets_out(obj: dict[str, Any]) -> None:
    if _is_values_maps(obj.get("targets")):
        obj["targets"] = cv.targets_to_v31(obj["targets"])


def _targets_in(obj: dict[str, Any]) -> None:
    if _is_strings(obj.get("targets")):
        obj["targets"] = cv.targets_from_v31(obj["targets"])


def _key(descriptor: dict[str, Any]) -> str:
    return json.dumps(descriptor, sort_keys=True)


def _collection(path: str) -> str:
    return path.strip("/").split("/")[0] if path.strip("/") else ""


class Adapter310(Adapter):
    version = cv.V310
    spec_prefix = "Y310"

    def __init__(self) -> None:
        super().__init__()
        self.program_of_event: dict[str, str] = {}  # 3.1.0 reports name no program: the event's (convert.py)
        self.bare_descriptors: set[str] = set()  # descriptors sent without objectType (3.1.0 requires it)
        self.explicit_descriptors: set[str] = set()  # and those sent with it

    def target_filter(self, collection: str) -> bool:
        return _collection(collection) != "subscriptions"  # 3.1.0 GET /subscriptions: programID, clientName, objects

    # ---- requests ---------------------------------------------------------------------------------------
    def outgoing(self, method: str, path: str, params: Any, body: Any, as_bl: bool = True) -> tuple[str, Any, Any]:
        match = _RESOURCES.match(path)
        if match:
            ven_id, rest = match[1], match[2] or ""
            path = "/resources" + rest
            if method == "GET" and not rest:
                params = {**(params or {}), "venID": ven_id} if isinstance(params, dict | type(None)) else params
            elif method in ("POST", "PUT") and isinstance(body, dict):
                body = {**body, "venID": ven_id} if "venID" not in body else body
        if isinstance(params, dict) and ("targetType" in params or "targetValues" in params):
            params = self._target_params(params)
        if isinstance(body, dict) and method in ("POST", "PUT"):
            body = self._body_out(_collection(path), dict(body), as_bl)
        return path, params, body

    @staticmethod
    def _target_params(params: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in params.items() if k not in ("targetType", "targetValues")}
        kind, values = params.get("targetType"), params.get("targetValues")
        if kind is None or values is None:
            # half a filter: pass it on as 3.0.1 had it, so the VTN answers it (unknown parameters are ignored)
            return params
        values = values if isinstance(values, list) else [values]
        out["targets"] = [cv.target_string(str(kind), str(v)) for v in values]
        return out

    def _body_out(self, collection: str, body: dict[str, Any], as_bl: bool) -> dict[str, Any]:
        _targets_out(body)
        if collection in ("vens", "resources"):
            # 3.1.0 tells a BL's request from a VEN's by objectType; a BL names the VEN client (clientID)
            kind = {"vens": "VEN", "resources": "RESOURCE"}[collection]
            name = body.get("venName") if collection == "vens" else body.get("resourceName")
            body.setdefault("objectType", f"{'BL' if as_bl else 'VEN'}_{kind}_REQUEST")
            if as_bl and isinstance(name, str):
                body.setdefault("clientID", self.client_ids.get(name, name))
        if collection == "programs":
            attributes = list(body.get("attributes") or []) if isinstance(body.get("attributes"), list) else []
            for field, name in FIELD_TO_ATTRIBUTE.items():
                if field in body and body[field] is not None:
                    attributes.append({"type": name, "values": [body.pop(field)]})
            if attributes:
                body["attributes"] = attributes
            self._descriptors_out(body, None)
        elif collection == "events":
            self._descriptors_out(body, "EVENT_PAYLOAD_DESCRIPTOR")
            for descriptor in body.get("reportDescriptors") or ():
                if isinstance(descriptor, dict):
                    _targets_out(descriptor)
        elif collection == "reports":
            if isinstance(body.get("programID"), str):
                body.pop("programID")  # 3.1.0 reports name no program (the event's)
            self._descriptors_out(body, "REPORT_PAYLOAD_DESCRIPTOR")
        return body

    def _descriptors_out(self, body: dict[str, Any], kind: str | None) -> None:
        descriptors = body.get("payloadDescriptors")
        if isinstance(descriptors, list) and all(isinstance(d, dict) for d in descriptors):
            self.bare_descriptors.update(_key(d) for d in descriptors if "objectType" not in d)
            self.explicit_descriptors.update(_key(d) for d in descriptors if "objectType" in d)
            body["payloadDescriptors"] = cv._payload_descriptors(descriptors, kind)

    def _descriptors_in(self, obj: dict[str, Any], default: str | None) -> None:
        """3.1.0 requires each descriptor's objectType, 3.0.1 has it optional: it is left out again where this side
        sent none, and where it is the default of an event's or report's descriptors (unless sent so), so a 3.0.1
        document comes back as it was written (its GB signature covers those bytes, gb_profile.signing)."""
        descriptors = obj.get("payloadDescriptors")
        if not isinstance(descriptors, list):
            return
        out = []
        for d in descriptors:
            if isinstance(d, dict) and "objectType" in d:
                bare = {k: v for k, v in d.items() if k != "objectType"}
                if _key(bare) in self.bare_descriptors or (
                        d["objectType"] == default and _key(d) not in self.explicit_descriptors):
                    d = bare
            out.append(d)
        obj["payloadDescriptors"] = out

    # ---- answers ----------------------------------------------------------------------------------------
    def incoming(self, method: str, path: str, data: Any) -> Any:
        collection = _collection(path)
        if collection not in ("programs", "events", "reports", "subscriptions", "vens", "resources"):
            return data
        if isinstance(data, list):
            return [self._object_in(collection, o) if isinstance(o, dict) else o for o in data]
        if isinstance(data, dict) and "id" in data:
            return self._object_in(collection, data)
        return data

    def _object_in(self, collection: str, obj: dict[str, Any]) -> dict[str, Any]:
        out = dict(obj)
        _targets_in(out)
        kind = out.get("objectType")
        self._descriptors_in(out, {"events": "EVENT_PAYLOAD_DESCRIPTOR", "reports": "REPORT_PAYLOAD_DESCRIPTOR"}.get(
            collection) or {"EVENT": "EVENT_PAYLOAD_DESCRIPTOR", "REPORT": "REPORT_PAYLOAD_DESCRIPTOR"}.get(str(kind)))
        if kind == "PROGRAM" or collection == "programs":
            kept = []
            for attribute in out.pop("attributes", None) or []:
                field = cv.PROGRAM_ATTRIBUTES.get(str(attribute.get("type")))
                values = attribute.get("values") or []
                if field and len(values) == 1 and field not in out:
                    out[field] = values[0]
                else:
                    kept.append(attribute)
            if kept:
                out["attributes"] = kept
        elif kind == "EVENT" or collection == "events":
            if isinstance(out.get("id"), str) and isinstance(out.get("programID"), str):
                self.program_of_event[out["id"]] = out["programID"]
            out.pop("duration", None)
            for descriptor in out.get("reportDescriptors") or ():
                if isinstance(descriptor, dict):
                    _targets_in(descriptor)
                    descriptor.pop("reportIntervals", None)
        elif kind == "REPORT" or collection == "reports":
            out.pop("clientID", None)
            program_id = self.program_of_event.get(str(out.get("eventID")))
            if program_id and "programID" not in out:
                out["programID"] = program_id
        elif kind in ("SUBSCRIPTION", "VEN", "RESOURCE") or collection in ("subscriptions", "vens", "resources"):
            out.pop("clientID", None)
        return out

    def notification(self, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out = dict(data)
        if isinstance(out.get("operation"), str):
            out["operation"] = CRUD_TO_VERB.get(out["operation"], out["operation"])
        _targets_in(out)
        kind = str(out.get("objectType") or "")
        if isinstance(out.get("object"), dict):
            out["object"] = self._object_in(kind.lower() + "s", out["object"])
        return out


def adapter(version: str) -> Adapter:
    return Adapter310() if version == cv.V310 else Adapter()

