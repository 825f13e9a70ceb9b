"""S-xxx: every response recorded for each operation validates against the official YAML.

S-001…S-031: success responses; S-101…S-131: error responses (declared schema, else `problem`).
An operation not exercised by the other checks is exercised here with fixtures (success) or an
unknown id / out-of-range limit / empty body (errors).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from conformance import fixtures as fx
from conformance.core import ONLY_301, ONLY_310, Response, Session, Skip, ensure, register
from conformance.schema import Operation, Spec, load_spec

SPEC = load_spec()
SPEC_310 = load_spec("3.1.0")
OWNER = {"reportID": "ven"}


def _path_for(s: Session, op: Operation) -> tuple[str, str]:
    who = "bl"
    path = op.template
    if "{programID}" in path:
        path = path.replace("{programID}", fx.program(s)["id"])
    if "{eventID}" in path:
        path = path.replace("{eventID}", fx.event(s)["id"])
    if "{reportID}" in path:
        path, who = path.replace("{reportID}", fx.report(s)["id"]), "ven"
    if "{subscriptionID}" in path:
        path = path.replace("{subscriptionID}", fx.subscription(s)["id"])
    if "{resourceID}" in path:
        res = fx.resource(s)
        path = path.replace("{venID}", res["venID"]).replace("{resourceID}", res["id"])
    if "{venID}" in path:
        path = path.replace("{venID}", fx.bl_ven(s)["id"])
    return path, who


def _seen(s: Session, op: Operation, success: bool, spec: Spec) -> list[Response]:
    out = []
    for r in s.recorded:
        if r.method != op.method:
            continue
        if op.operation_id == "fetchToken":
            if not r.url.startswith(s.token_url):
                continue
        elif spec.find(r.method, r.path) is not op:
            continue
        if success == (200 <= r.status < 300) and r.status != 304:
            out.append(r)
    return out


def _exercise_ok(s: Session, op: Operation) -> None:
    if op.method != "GET":
        raise Skip(f"{op.method} {op.template} was not exercised by the selected checks")
    path, who = _path_for(s, op)
    s.get(path, who)


def _exercise_err(s: Session, op: Operation) -> None:
    missing = "doesnotexist" + s.prefix.replace("-", "")
    if op.operation_id == "fetchToken":
        s.raw("POST", s.token_url, data={"grant_type": "password"})
    elif op.template.endswith("}"):
        path = re.sub(r"\{[^}]+\}$", missing, op.template)
        path = path.replace("{venID}", fx.bl_ven(s)["id"]) if "{venID}" in path else path
        s.call(op.method, path, "bl", json={} if op.method == "PUT" else None)
    elif op.method == "GET":
        path, who = _path_for(s, op)
        s.get(path, who, params={"limit": 51})
    else:
        path, who = _path_for(s, op)
        s.post(path, {}, who)


# A defect of the 3.1.0 YAML (as tests/support/spec.py): `ven` and `resource` are objectMetadata (objectType VEN,
# RESOURCE) AND Bl*Request (objectType BL_VEN_REQUEST, BL_RESOURCE_REQUEST), which no object satisfies. That one
# error is waived; every other property is checked.
UNSATISFIABLE_310 = ("['BL_VEN_REQUEST']", "['BL_RESOURCE_REQUEST']")


def _waived(spec: Spec, error: str) -> bool:
    return spec is SPEC_310 and error.split(":", 1)[0].endswith("objectType") and any(w in error for w in UNSATISFIABLE_310)


def _make(op: Operation, success: bool, spec: Spec = SPEC) -> Callable[[Session], str | None]:
    def run(s: Session) -> str | None:
        seen = _seen(s, op, success, spec)
        if not seen:
            (_exercise_ok if success else _exercise_err)(s, op)
            seen = _seen(s, op, success, spec)
        if not seen:
            raise Skip(f"no {'success' if success else 'error'} response to {op.method} {op.template} observed")
        bad = []
        for r in seen:
            schema = op.schema_for(r.status)
            if schema is None:
                if success:
                    bad.append(f"status {r.status} is not declared for {op.operation_id}: {r.method} {r.url}")
                    continue
                schema = spec.component("authError" if op.operation_id == "fetchToken" and r.status in (400, 401) else "problem")
            problems = [e for e in spec.errors(schema, r.json) if not _waived(spec, e)]
            if problems:
                bad.append(f"{r.method} {r.url} → {r.status}: {'; '.join(problems)}")
        ensure(not bad, f"{len(bad)} of {len(seen)} responses do not validate: " + " | ".join(bad[:3]))
        return f"{len(seen)} responses validated"

    return run


for _i, _op in enumerate(SPEC.operations, 1):
    _where = f"{_op.method} {_op.template} ({_op.operation_id}, Y301:{_op.line})"
    register(
        f"S-{_i:03d}",
        f"{_op.operation_id}: success responses fit the YAML schema",
        area="schema",
        source=_where,
        versions=ONLY_301,
        func=_make(_op, True),
    )
    register(
        f"S-{100 + _i:03d}",
        f"{_op.operation_id}: error responses fit the YAML schema",
        area="schema",
        source=_where,
        versions=ONLY_301,
        func=_make(_op, False),
    )

# the same against the 3.1.0 YAML, on the 3.1.0 wire form (the raw answers, before the version adapter)
for _i, _op in enumerate(SPEC_310.operations, 1):
    _where = f"{_op.method} {_op.template} ({_op.operation_id}, Y310:{_op.line})"
    register(f"S31-{_i:03d}", f"{_op.operation_id}: success responses fit the 3.1.0 YAML schema", area="schema",
             source=_where, versions=ONLY_310, func=_make(_op, True, SPEC_310))
    register(f"S31-{100 + _i:03d}", f"{_op.operation_id}: error responses fit the 3.1.0 YAML schema", area="schema",
             source=_where, versions=ONLY_310, func=_make(_op, False, SPEC_310))

__all__ = ["OWNER"]
