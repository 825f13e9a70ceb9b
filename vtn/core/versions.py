"""What the 3.1.0 API shares across its routers: body checks against the 3.1.0 schemas, the `targets` query,
3.1.0 target hiding, and its served OpenAPI document (docs/openadr-3.1.md).

The conversion itself is `openadr3.convert` (one module, pure); privacy is `vtn.auth.privacy` (one rule).
"""

from __future__ import annotations

import json
from collections.abc import Set as AbstractSet
from functools import lru_cache
from typing import Annotated, Any, TypeVar

import yaml
from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from openadr3 import spec_path
from openadr3.convert import V310, pairs_of, target_string
from openadr3.schema import component_errors
from openadr3.targets import TargetPair
from vtn.auth.privacy import PROGRAM_NAME, Viewer
from vtn.core.deps import MAX_TARGET_VALUES
from vtn.core.deps import target_filter as legacy_target_filter
from vtn.core.errors import ApiError, BadRequest, describe_validation_errors
from vtn.core.offload import CpuPool, Problem
from vtn.core.store import TargetFilter


def without_nulls(value: Any) -> Any:
    """`value` with every object member whose value is null left out (array items are kept as sent)."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def check_v31(schema: str, body: Any, what: str) -> dict[str, Any]:
    """`body` checked against the 3.1.0 component `schema` (the spec's own rules): 400 listing what is wrong.

    Tolerant in what it accepts: an explicit null is read as the member left out (ElaadNL openadr3-client
    sends every unset optional field as null, e.g. `intervalPeriod: null`, which the 3.1.0 schemas do not
    declare nullable); a required member sent as null is still refused, as missing."""
    if not isinstance(body, dict):
        raise BadRequest(f"the {what} must be a JSON object")
    body = without_nulls(body)
    errors = component_errors(schema, body, V310)
    if errors:
        raise BadRequest(f"the {what} does not match the OpenADR 3.1.0 {schema} schema: {errors[0]}",
                         extra={"errors": [{"message": e} for e in errors[:20]]})
    return body


def _check_v31_apart(schema: str, body: Any, what: str) -> dict[str, Any] | Problem:
    """Worker process (vtn.core.offload): `check_v31`, its 400 returned as a `Problem`."""
    try:
        return check_v31(schema, body, what)
    except ApiError as exc:
        return Problem.of(exc)


async def check_v31_off_loop(request: Request, schema: str, body: Any, what: str) -> dict[str, Any]:
    """`check_v31`; for a body of at least VTN_OFFLOAD_BODY_BYTES in a worker process: the schema check is pure
    Python (~0.3 ms per interval), which for a chunk of meter readings would hold up every poll meanwhile."""
    pool: CpuPool = request.app.state.offload
    size = request.headers.get("content-length", "")
    if pool.processes > 0 and size.isdigit() and int(size) >= request.app.state.settings.offload_body_bytes:
        return await pool.run(_check_v31_apart, schema, body, what)
    return check_v31(schema, body, what)


ModelT = TypeVar("ModelT", bound=BaseModel)


def model_of(model: type[ModelT], content: dict[str, Any]) -> ModelT:
    """The converted body as the service's (3.0.1) model; what the 3.1.0 schema let through but the stored
    model refuses (e.g. a GB profile rule on a field) is a 400, never a 500."""
    try:
        return model.model_validate(content)
    except ValidationError as exc:
        summary, items = describe_validation_errors(exc.errors())
        raise BadRequest(summary, extra={"errors": items}) from exc


async def targets_query(
    targets: Annotated[list[str] | None, Query(
        description="3.1.0 target strings (OR); `TYPE:value` names a typed target (docs/openadr-3.1.md)",
        max_length=MAX_TARGET_VALUES)] = None,
    legacy: Annotated[TargetFilter | None, Depends(legacy_target_filter)] = None,
) -> list[str] | None:
    """The 3.1.0 `targets`; 3.0.1-style `targetType` + `targetValues` are read too (tolerant: clients such as
    python-oa3-client send them to 3.1.0 VTNs), as the strings `TYPE:value`."""
    if targets is not None and any(not t or len(t) > 128 for t in targets):
        raise BadRequest("each target is a string of 1 to 128 characters")
    if legacy is not None:
        targets = [*(targets or ()), *(target_string(legacy.type, v) for v in legacy.values)]
    return targets


def target_filter(targets: list[str] | None) -> TargetFilter | None:
    """A plain 3.1.0 `targets` filter (OR), for objects only their owner reads (vens, resources)."""
    return TargetFilter.any_of(pairs_of(targets)) if targets else None


NAME_TYPES = frozenset({PROGRAM_NAME})  # an object's own name: a filter on it, never a grant (store `name_target`)


class Requested:
    """A 3.1.0 read's `targets` as the Definition applies them ("Object privacy", targeting): for a VEN, the
    AND of the requested targets and its granted ones; for BL, the requested ones. A request by name
    (`PROGRAM_NAME:<name>`) stays a filter on the name: what the VEN may read is still the privacy rule's."""

    def __init__(self, viewer: Viewer, targets: list[str] | None) -> None:
        self.pairs: set[TargetPair] | None = pairs_of(targets) if targets else None
        if self.pairs is not None and not viewer.is_bl:
            names = {pair for pair in self.pairs if pair[0] in NAME_TYPES}
            self.pairs = (self.pairs & set(viewer.granted)) | names
        self.viewer = viewer

    @property
    def empty(self) -> bool:
        """Targets were asked for and none of them is the VEN's: the answer is an empty set."""
        return self.pairs is not None and not self.pairs

    @property
    def filter(self) -> TargetFilter | None:
        return TargetFilter.any_of(self.pairs) if self.pairs else None

    @property
    def keep(self) -> AbstractSet[TargetPair] | None:
        """Target hiding: a VEN is shown only the targets it asked for (else those granted to it); BL all."""
        if self.viewer.is_bl:
            return None
        return self.pairs if self.pairs is not None else self.viewer.granted


@lru_cache
def _spec_json() -> str:
    with open(spec_path(V310)) as handle:
        return json.dumps(yaml.safe_load(handle), default=str)  # YAML examples parse as datetimes


def _route_paths(routes: Any) -> set[str]:
    """Every path the app routes (FastAPI ≥ 0.16x keeps included routers as contexts, not copied routes)."""
    paths: set[str] = set()
    for route in routes:
        if getattr(route, "path", None):
            paths.add(route.path)
        contexts = getattr(route, "effective_route_contexts", None)
        if callable(contexts):
            paths.update(str(context.path) for context in contexts() if getattr(context, "path", None))
    return paths


def install_openapi_31(app: FastAPI, base: str) -> None:
    """`{base}/openapi.json`: the vendored 3.1.0 definition, its server set to `base`, with the paths this VTN
    serves under `base` (so routes other modules add there, e.g. /notifiers, appear once they exist)."""

    @app.get(f"{base}/openapi.json", include_in_schema=False)
    async def openapi_31(request: Request) -> JSONResponse:
        document = json.loads(_spec_json())
        served = {path[len(base):] for path in _route_paths(request.app.routes) if path.startswith(base + "/")}
        document["paths"] = {p: v for p, v in document["paths"].items() if p in served}
        document["servers"] = [{"url": base, "description": "OpenADR 3.1.0 base path"}]
        return JSONResponse(document)
