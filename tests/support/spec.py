"""Every response the tests see is checked against the official openadr3.yaml of the API version it came from."""

from __future__ import annotations

from urllib.parse import urlsplit

from openadr3.schema import component_errors, response_errors, response_schema

BASE = "/openadr3/3.0.1"
BASE_31 = "/openadr3/3.1.0"
BASES = {BASE: "3.0.1", BASE_31: "3.1.0"}
# Statuses we answer that a version does not declare: their bodies must still be `problem`s.
UNDECLARED_PROBLEMS = {"3.0.1": {401, 405, 413, 415}, "3.1.0": {405, 413, 415}}
# A defect of the 3.1.0 YAML (checklist G): `ven` and `resource` responses are objectMetadata (objectType VEN or
# RESOURCE) AND Bl*Request (objectType BL_VEN_REQUEST / BL_RESOURCE_REQUEST), which no object can satisfy. The
# one error that makes is waived; every other property is checked.
UNSATISFIABLE_31 = ("['BL_VEN_REQUEST']", "['BL_RESOURCE_REQUEST']")


def spec_version(path: str) -> tuple[str, str] | None:
    """(version, path below its base) of a request path under one of the API bases, else None."""
    for base, version in BASES.items():
        if path == base or path.startswith(base + "/"):
            return version, path[len(base):] or "/"
    return None


def _waived(version: str, errors: list[str]) -> list[str]:
    if version != "3.1.0":
        return errors
    return [e for e in errors if not (e.split(":", 1)[0].endswith("objectType") and any(w in e for w in UNSATISFIABLE_31))]


def assert_spec_response(method: str, url: str, response) -> None:  # type: ignore[no-untyped-def]
    found = spec_version(urlsplit(url).path)
    if found is None or response.status_code == 304:
        return
    version, path = found
    if path.startswith("/admin") or path == "/auth/token" or path == "/openapi.json":
        return
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json"), response.text
        errors = component_errors("problem", response.json(), version)
        assert not errors, f"{method} {path} {response.status_code}: {errors}"
        assert response.json()["status"] == response.status_code
        if response.status_code in UNDECLARED_PROBLEMS[version]:
            return
    body = response.json() if response.content else None
    errors = _waived(version, response_errors(method, path, response.status_code, body, version))
    if errors and response.status_code >= 400 and response_schema(method, path, response.status_code, version) is None:
        errors = []
    assert not errors, f"{method} {path} → {response.status_code} does not match openadr3.yaml {version}: {errors}"
