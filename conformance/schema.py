"""The official OpenAPI 3.0 definition as JSON Schema: response validation for the S-xxx checks.

OpenAPI 3.0 schema objects are converted to JSON Schema by `openadr3.schema.convert` (shared with
the VTN's tests). The converted document is registered as one resource so `#/components/schemas/...`
references resolve unchanged; formats are checked strictly (RFC 3339 date-time, URI scheme).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

import openadr3
from openadr3.schema import body_schema, convert

SPEC_URI = "urn:openadr3:3.0.1"
HTTP_METHODS = ("get", "put", "post", "delete", "patch")

_DATE_TIME = re.compile(
    r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt]([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$"
)
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S*$")

format_checker = FormatChecker(formats=())


@format_checker.checks("date-time")
def _is_date_time(value: object) -> bool:
    return not isinstance(value, str) or bool(_DATE_TIME.match(value))


@format_checker.checks("uri")
def _is_uri(value: object) -> bool:
    return not isinstance(value, str) or bool(_URI.match(value))


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    operation_id: str
    line: int
    responses: dict[str, dict[str, Any] | None]  # status → JSON Schema of the body (None: no schema)
    regex: re.Pattern[str]

    def schema_for(self, status: int) -> dict[str, Any] | None:
        return self.responses.get(str(status))


class Spec:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or openadr3.spec_path()
        text = self.path.read_text()
        raw = yaml.safe_load(text)
        self.version = str(raw.get("info", {}).get("version", "3.0.1"))
        self.document = convert(raw)
        resource = Resource.from_contents(self.document, default_specification=DRAFT202012)
        self.registry: Registry[Any] = Registry().with_resource(SPEC_URI, resource)
        lines = text.splitlines()
        self.operations: list[Operation] = []
        for template, item in raw.get("paths", {}).items():
            for method in HTTP_METHODS:
                op = item.get(method)
                if not op:
                    continue
                op_id = op.get("operationId", f"{method} {template}")
                line = next((i + 1 for i, ln in enumerate(lines) if ln.strip() == f"operationId: {op_id}"), 0)
                responses: dict[str, dict[str, Any] | None] = {}
                for status, response in (op.get("responses") or {}).items():
                    schema = body_schema(response)
                    responses[str(status)] = convert(schema) if schema else None
                pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
                self.operations.append(Operation(method.upper(), template, op_id, line, responses, re.compile(pattern)))

    def validator(self, schema: dict[str, Any]) -> Draft202012Validator:
        wrapped = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SPEC_URI + ":wrapper", **schema}
        wrapped = _rebase_refs(wrapped)
        return Draft202012Validator(wrapped, registry=self.registry, format_checker=format_checker)

    def component(self, name: str) -> dict[str, Any]:
        return {"$ref": f"#/components/schemas/{name}"}

    def errors(self, schema: dict[str, Any], instance: Any, limit: int = 3) -> list[str]:
        found = []
        for error in sorted(self.validator(schema).iter_errors(instance), key=lambda e: list(e.absolute_path)):
            where = "/" + "/".join(str(p) for p in error.absolute_path)
            found.append(f"{where}: {error.message[:300]}")
            if len(found) >= limit:
                break
        return found

    def find(self, method: str, path: str) -> Operation | None:
        matches = [op for op in self.operations if op.method == method.upper() and op.regex.match(path)]
        if not matches:
            return None
        return min(matches, key=lambda op: op.template.count("{"))


def _rebase_refs(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: (SPEC_URI + v if k == "$ref" and isinstance(v, str) and v.startswith("#") else _rebase_refs(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_rebase_refs(v) for v in node]
    return node


@cache
def load_spec(version: str = openadr3.SPEC_VERSION) -> Spec:
    return Spec(openadr3.spec_path(version))
