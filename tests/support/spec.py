"""Every response the tests see is checked against the official openadr3.yaml."""

from __future__ import annotations

from urllib.parse import urlsplit

from openadr3.schema import component_errors, response_errors, response_schema

BASE = "/openadr3/3.0.1"
# Statuses we answer that 3.0.1 does not declare: their bodies must still be `problem`s.
UNDECLARED_PROBLEMS = {401, 405, 413, 415}


def assert_spec_response(method: str, url: str, response) -> None:  # type: ignore[no-untyped-def]
    path = urlsplit(url).path
    if not path.startswith(BASE) or path.startswith((BASE + "/admin", BASE + "/gb/")) or response.status_code == 304:
        return  # /admin and /gb/ are this VTN's extensions (GB profile), not operations of openadr3.yaml
    path = path[len(BASE):] or "/"
    if path == "/auth/token":
        return
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json"), response.text
        errors = component_errors("problem", response.json())
        assert not errors, f"{method} {path} {response.status_code}: {errors}"
        assert response.json()["status"] == response.status_code
        if response.status_code in UNDECLARED_PROBLEMS:
            return
    errors = response_errors(method, path, response.status_code, response.json() if response.content else None)
    if errors and response.status_code >= 400 and response_schema(method, path, response.status_code) is None:
        errors = []
    assert not errors, f"{method} {path} → {response.status_code} does not match openadr3.yaml: {errors}"
