"""Checks over everything recorded so far (run after the functional checks)."""

from __future__ import annotations

from conformance.core import Session, check, ensure
from conformance.schema import load_spec


@check(
    "C085",
    "Every 4xx/5xx response seen has a problem body (status equals the HTTP status)",
    area="errors",
    source="D310:343-353; Y301:2566-2607",
)
def c085(s: Session) -> str | None:
    spec = load_spec()
    seen = [r for r in s.recorded if r.status >= 400 and not r.url.startswith(s.token_url)]
    ensure(bool(seen), "no error responses were recorded (run the other checks too)")
    bad = []
    for r in seen:
        body = r.json
        problems = spec.errors(spec.component("problem"), body) if isinstance(body, dict) else ["body is not a JSON object"]
        if isinstance(body, dict) and "status" in body and body["status"] != r.status:
            problems.append(f"status {body['status']} ≠ HTTP {r.status}")
        if r.content_type not in ("application/json", "application/problem+json"):
            problems.append(f"content type {r.content_type!r}")
        if problems:
            bad.append(f"{r.method} {r.url} → {r.status}: {'; '.join(problems)}: {r.text[:200]}")
    ensure(not bad, f"{len(bad)} of {len(seen)} error responses are not problem objects: " + " | ".join(bad[:3]))
    return f"{len(seen)} error responses checked"
