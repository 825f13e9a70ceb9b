"""Validate JSON against the official OpenADR 3 OpenAPI definition (vendored, unmodified).

OpenAPI 3.0 schemas are not JSON Schema: `nullable: true` is rewritten to a null alternative (`convert`)
and every `$ref` resolves inside the same document. Used by the VTN's tests and by the
conformance suite, so both judge responses by the same rules.
"""

from __future__ import annotations

import copy
import re
from functools import lru_cache
from typing import Any

import yaml
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from openadr3 import SPEC_VERSION, spec_path

_PARAM = re.compile(r"\{[^/]+\}")


def convert(node: Any) -> Any:
    """OpenAPI 3.0 schema object → JSON Schema 2020-12 (recursively); the one conversion VTN tests and
    the conformance suite share, so both judge bodies by the same rules."""
    if isinstance(node, list):
        return [convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: convert(v) for k, v in node.items() if k not in ("nullable", "discriminator", "example", "xml")}
    # Draft 4 style boolean exclusive bounds (OpenAPI 3.0) → numeric bounds.
    for bound, exclusive in (("maximum", "exclusiveMaximum"), ("minimum", "exclusiveMinimum")):
        if isinstance(out.get(exclusive), bool):
            if out.pop(exclusive) and bound in out:
                out[exclusive] = out.pop(bound)
    if node.get("nullable") is True:
        if "$ref" in out or "allOf" in out or "anyOf" in out or "oneOf" in out:
            description = out.pop("description", None)
            out = {"anyOf": [out, {"type": "null"}]}
            if description:
                out["description"] = description
        else:
            # a null type alternative (rather than anyOf) keeps validation messages precise
            if "type" in out:
                types = out["type"] if isinstance(out["type"], list) else [out["type"]]
                out["type"] = [*types, "null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
    return out


def body_schema(response: dict[str, Any] | None) -> dict[str, Any] | None:
    """The (unconverted) schema of an OpenAPI response object's JSON body, if it declares one."""
    content = (response or {}).get("content") or {}
    media = content.get("application/json") or next(iter(content.values()), None)
    return (media or {}).get("schema")


@lru_cache
def spec_document(version: str = SPEC_VERSION) -> dict[str, Any]:
    with open(spec_path(version)) as handle:
        return yaml.safe_load(handle)


@lru_cache
def _root(version: str) -> dict[str, Any]:
    return {"components": {"schemas": convert(copy.deepcopy(spec_document(version)["components"]["schemas"]))}}


def schema_validator(schema: dict[str, Any], version: str = SPEC_VERSION) -> Draft202012Validator:
    root = dict(_root(version))
    root.update(convert(schema))
    return Draft202012Validator(root, format_checker=FormatChecker())


def component_errors(name: str, instance: Any, version: str = SPEC_VERSION) -> list[str]:
    """Errors of `instance` against components/schemas/`name` (empty list = valid)."""
    validator = schema_validator({"$ref": f"#/components/schemas/{name}"}, version)
    return [_describe(e) for e in validator.iter_errors(instance)]


def _describe(error: ValidationError) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return f"{where}: {error.message[:300]}"


@lru_cache
def _operations(version: str) -> list[tuple[re.Pattern[str], str, dict[str, Any]]]:
    operations = []
    for template, item in spec_document(version)["paths"].items():
        pattern = re.compile("^" + _PARAM.sub("[^/]+", re.escape(template).replace(r"\{", "{").replace(r"\}", "}")) + "$")
        for method, operation in item.items():
            if isinstance(operation, dict) and "responses" in operation:
                operations.append((pattern, method.upper(), operation))
    return operations


def response_schema(method: str, path: str, status: int, version: str = SPEC_VERSION) -> dict[str, Any] | None:
    """The schema the spec declares for `method path` answering `status` (path relative to the base)."""
    for pattern, op_method, operation in _operations(version):
        if op_method == method.upper() and pattern.match(path):
            response = operation["responses"].get(str(status)) or operation["responses"].get("default")
            return body_schema(response)
    return None


def response_errors(method: str, path: str, status: int, body: Any, version: str = SPEC_VERSION) -> list[str]:
    """Errors of a response body against the declared schema; an undeclared status is an error."""
    for pattern, op_method, operation in _operations(version):
        if op_method == method.upper() and pattern.match(path):
            if str(status) not in operation["responses"]:
                return [f"status {status} is not declared for {method} {path}"]
            schema = response_schema(method, path, status, version)
            if schema is None:
                return []
            return [_describe(e) for e in schema_validator(schema, version).iter_errors(body)]
    return [f"{method} {path} is not an operation of the spec"]
