"""Check registry, the HTTP session the checks share, and the runner."""

from __future__ import annotations

import fnmatch
import json
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import httpx2

TARGET_VERSION = "3.0.1"
BOTH = ("3.0.1", "3.1.0")
ONLY_310 = ("3.1.0",)
ONLY_301 = ("3.0.1",)
VERSIONS = BOTH
# Against a 3.1.0 VTN (`--version 3.1.0`) every check for both versions runs through the version adapter
# (conformance.versions: paths, bodies, targets, notification operations). These do not, and say why.
NOT_IN_310: dict[str, str] = {
    "C033": "3.1.0 programs have no timeZoneOffset (nor an attribute for it), so a full 3.0.1 program cannot round-trip",
    "C038": "3.1.0 makes event intervals optional",
    "C058": "3.1.0 reports name no programID (it is the event's)",
    "C068": "3.1.0 has no /vens/{venID}/resources path; /resources?venID=<unknown> is an empty list",
    "C067": "3.1.0 names a resource's ven in the body (venID), there is no path venID to win over it",
    "C071": "3.1.0 has no /vens/{venID}/resources/{id} path to mismatch",
    "C077": "3.1.0 GET /subscriptions has no targets parameter (D006-* check the target filter per list)",
    "C090": "3.1.0 makes subscription.programID optional",
    "D008-EVT": "3.1.0 makes event intervals optional",
    "D006-SUB": "3.1.0 GET /subscriptions has no targets parameter",
}


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"
    ERROR = "error"


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    area: str
    source: str
    versions: tuple[str, ...]
    severity: str
    func: Callable[[Session], str | None] | None

    def applies(self, version: str = TARGET_VERSION) -> bool:
        return version in self.versions and (version == TARGET_VERSION or self.id not in NOT_IN_310)

    def why_not(self, version: str) -> str:
        if version not in self.versions:
            return f"{' and '.join(self.versions)} only; this run targets {version}"
        return f"not for {version}: {NOT_IN_310[self.id]}"


@dataclass
class Result:
    check: Check
    outcome: Outcome
    message: str = ""
    evidence: list[str] = field(default_factory=list)
    duration: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        c = self.check
        return {
            "id": c.id,
            "title": c.title,
            "area": c.area,
            "source": c.source,
            "versions": list(c.versions),
            "severity": c.severity,
            "outcome": self.outcome.value,
            "message": self.message,
            "evidence": self.evidence,
            "duration": round(self.duration, 3),
        }


CHECKS: dict[str, Check] = {}


def register(
    id: str,
    title: str,
    *,
    area: str,
    source: str,
    versions: tuple[str, ...] = BOTH,
    severity: str = "M",
    func: Callable[[Session], str | None] | None = None,
) -> Check:
    if id in CHECKS:
        raise ValueError(f"duplicate check id {id}")
    check = Check(id, title, area, source, versions, severity, func)
    CHECKS[id] = check
    return check


def check(id: str, title: str, *, area: str, source: str, versions: tuple[str, ...] = BOTH, severity: str = "M"):
    """Register a check function. It returns None or a note on pass, raises Fail/Skip otherwise."""

    def decorate(func: Callable[[Session], str | None]) -> Callable[[Session], str | None]:
        register(id, title, area=area, source=source, versions=versions, severity=severity, func=func)
        return func

    return decorate


class Fail(Exception):
    def __init__(self, message: str, response: Response | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.response = response


class Skip(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Response:
    """One request and its answer, as recorded for evidence and for the schema checks."""

    method: str
    url: str
    path: str  # relative to the base URL, without the query
    status: int
    headers: httpx2.Headers
    text: str
    request_body: str | None = None

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.text)
        except ValueError:
            return None

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def summary(self, limit: int = 600) -> str:
        body = self.text if len(self.text) <= limit else self.text[:limit] + "…"
        sent = f" sent {self.request_body[:300]}" if self.request_body else ""
        return f"{self.method} {self.url}{sent} → {self.status} {self.content_type}: {body}"


@dataclass
class Config:
    vtn_url: str
    bl_client: tuple[str, str]
    ven_client: tuple[str, str]
    ven2_client: tuple[str, str] | None = None
    token_url: str | None = None
    ven_name: str | None = None
    ven2_name: str | None = None
    bl2_client: tuple[str, str] | None = None  # a BL client of another operator (tenancy checks)
    privacy: bool = False  # object privacy required: its checks fail, not skip, on a VTN without it
    profile: str | None = None
    callback_host: str = "127.0.0.1:0"
    callback_url: str | None = None
    only: list[str] = field(default_factory=list)
    notify_timeout: float = 10.0
    timeout: float = 20.0
    version: str = TARGET_VERSION  # the OpenADR version of the API at vtn_url (3.0.1 or 3.1.0)
    # tokens shared between runs (the fault campaign runs the suite many times; each token costs a hash)
    token_cache: dict[str, str | None] | None = None

    @property
    def base(self) -> str:
        return self.vtn_url.rstrip("/")


class Session:
    """What every check works with: tokens per client, an HTTP client that records, fixtures, cleanup."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.base = config.base
        self.token_url = config.token_url or self.base + "/auth/token"
        self.http = httpx2.Client(timeout=config.timeout, follow_redirects=False)
        self.prefix = f"oadrc-{uuid.uuid4().hex[:8]}"
        self.tokens: dict[str, str | None] = config.token_cache if config.token_cache is not None else {}
        self.token_errors: dict[str, str] = {}
        self.recorded: list[Response] = []
        self.current: list[Response] = []
        self.cleanup: list[tuple[str, str, str]] = []  # (who, method, path)
        self.fixtures: dict[str, Any] = {}
        self.notes: dict[str, Any] = {}
        self._receiver: Any = None
        self.ven_names = {
            "ven": config.ven_name or config.ven_client[0],
            "ven2": config.ven2_name or (config.ven2_client[0] if config.ven2_client else ""),
        }
        from openadr3.wire import adapter

        self.adapter = adapter(config.version)  # the version differences, written once
        for who in ("ven", "ven2"):
            creds = self.credentials(who)
            if creds and self.ven_names[who]:
                self.adapter.client_ids[self.ven_names[who]] = creds[0]

    # ---- tokens -----------------------------------------------------------------------------
    def credentials(self, who: str) -> tuple[str, str] | None:
        return {"bl": self.config.bl_client, "ven": self.config.ven_client, "ven2": self.config.ven2_client,
                "bl2": self.config.bl2_client}.get(who)

    def fetch_token(self, client_id: str, secret: str, scope: str | None = None) -> Response:
        return self.fetch_token_at(self.token_url, client_id, secret, scope)

    def fetch_token_at(self, url: str, client_id: str, secret: str, scope: str | None = None) -> Response:
        form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
        if scope is not None:
            form["scope"] = scope
        return self.raw("POST", url, data=form)

    def token(self, who: str) -> str:
        """A bearer token for `who`: bl, ven, ven2, or `<who>:<scope>` for a narrowed token."""
        if who not in self.tokens:
            base_who, _, scope = who.partition(":")
            creds = self.credentials(base_who)
            if creds is None:
                raise Skip(f"no credentials for the {base_who} client (pass --{base_who.replace('ven2', 'ven2')}-client)")
            resp = self.fetch_token(*creds, scope=scope or None)
            body = resp.json if isinstance(resp.json, dict) else {}
            if resp.status == 200 and body.get("access_token"):
                self.tokens[who] = str(body["access_token"])
                if scope:
                    granted = str(body.get("scope") or "").split()
                    if granted and set(granted) != set(scope.split()):
                        self.tokens[who] = None
                        self.token_errors[who] = f"asked for scope {scope!r}, got {body.get('scope')!r}"
            else:
                self.tokens[who] = None
                self.token_errors[who] = resp.summary(300)
        token = self.tokens[who]
        if token is None:
            raise Skip(f"no token for {who}: {self.token_errors.get(who)}")
        return token

    # ---- HTTP ------------------------------------------------------------------------------
    def raw(self, method: str, url: str, **kw: Any) -> Response:
        body = kw.get("json")
        sent = json.dumps(body)[:300] if body is not None else (str(kw.get("data"))[:300] if kw.get("data") else None)
        if sent and "client_secret" in sent:
            sent = "(form with client credentials)"
        try:
            r = self.http.request(method, url, **kw)
        except httpx2.HTTPError as exc:
            raise Fail(f"{method} {url}: transport error {exc!r}") from exc
        path = url[len(self.base) :] if url.startswith(self.base) else url
        resp = Response(method, str(r.url), path.split("?")[0], r.status_code, r.headers, r.text, sent)
        self.recorded.append(resp)
        self.current.append(resp)
        return resp

    def call(
        self,
        method: str,
        path: str,
        who: str | None = "bl",
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        **kw: Any,
    ) -> Response:
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        elif who is not None:
            hdrs["Authorization"] = f"Bearer {self.token(who)}"
        if self.adapter.version == TARGET_VERSION:
            return self.raw(method, self.base + path, headers=hdrs, **kw)
        # another version: the request in its wire form, the answer back in the checks' 3.0.1 terms; the raw
        # answer stays recorded for the schema checks (against that version's YAML)
        path, params, body = self.adapter.outgoing(method, path, kw.pop("params", None), kw.pop("json", None),
                                                   as_bl=who is None or who.startswith("bl"))
        if params is not None:
            kw["params"] = params
        if body is not None:
            kw["json"] = body
        resp = self.raw(method, self.base + path, headers=hdrs, **kw)
        data = resp.json
        if data is None:
            return resp
        seen = self.adapter.incoming(method, resp.path, data)
        return Response(resp.method, resp.url, resp.path, resp.status, resp.headers, json.dumps(seen), resp.request_body)

    def get(self, path: str, who: str | None = "bl", **kw: Any) -> Response:
        return self.call("GET", path, who, **kw)

    def post(self, path: str, body: Any, who: str | None = "bl", **kw: Any) -> Response:
        return self.call("POST", path, who, json=body, **kw)

    def put(self, path: str, body: Any, who: str | None = "bl", **kw: Any) -> Response:
        return self.call("PUT", path, who, json=body, **kw)

    def delete(self, path: str, who: str | None = "bl", **kw: Any) -> Response:
        return self.call("DELETE", path, who, **kw)

    # ---- objects the suite owns -----------------------------------------------------------
    def name(self, label: str) -> str:
        return f"{self.prefix}-{label}-{uuid.uuid4().hex[:6]}"

    def create(self, collection: str, body: dict[str, Any], who: str = "bl") -> dict[str, Any]:
        """POST and expect 201 with an id; the object is deleted (by `who`) at the end of the run."""
        resp = self.post(collection, body, who)
        expect(resp, 201, f"creating {collection} as {who}")
        obj = resp.json
        if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
            raise Fail(f"POST {collection} returned no object id", resp)
        self.cleanup.append((who, "DELETE", f"{collection}/{obj['id']}"))
        return obj

    def forget(self, path: str) -> None:
        self.cleanup = [c for c in self.cleanup if c[2] != path]

    def fixture(self, key: str, factory: Callable[[], Any]) -> Any:
        if key not in self.fixtures:
            try:
                self.fixtures[key] = factory()
            except (Fail, Skip) as exc:
                self.fixtures[key] = exc
        value = self.fixtures[key]
        if isinstance(value, Fail):
            raise Skip(
                f"fixture {key!r} could not be created: {value.message}"
                + (f" ({value.response.summary(300)})" if value.response else "")
            )
        if isinstance(value, Skip):
            raise Skip(value.reason)
        return value

    def run_cleanup(self) -> list[str]:
        problems = []
        for who, method, path in reversed(self.cleanup):
            try:
                resp = self.call(method, path, who)
            except (Fail, Skip) as exc:
                problems.append(f"{method} {path}: {exc}")
                continue
            if resp.status not in (200, 204, 404):
                problems.append(resp.summary(200))
        self.cleanup.clear()
        return problems

    def close(self) -> None:
        if self._receiver is not None:
            self._receiver.stop()
        self.http.close()


def expect(resp: Response, status: int | Iterable[int], what: str = "") -> Response:
    allowed = {status} if isinstance(status, int) else set(status)
    if resp.status not in allowed:
        wanted = " or ".join(str(s) for s in sorted(allowed))
        raise Fail(f"{what + ': ' if what else ''}expected HTTP {wanted}, got {resp.status}", resp)
    return resp


def ensure(condition: bool, message: str, resp: Response | None = None) -> None:
    if not condition:
        raise Fail(message, resp)


def body_dict(resp: Response) -> dict[str, Any]:
    obj = resp.json
    if not isinstance(obj, dict):
        raise Fail("expected a JSON object body", resp)
    return obj


def body_list(resp: Response) -> list[Any]:
    obj = resp.json
    if not isinstance(obj, list):
        raise Fail("expected a JSON array body", resp)
    return obj


def ids(resp: Response) -> list[str]:
    return [o.get("id") for o in body_list(resp) if isinstance(o, dict)]


# ---- runner ------------------------------------------------------------------------------------


def selected(patterns: list[str]) -> list[Check]:
    from conformance import checks  # noqa: F401  (registers every check)

    all_checks = list(CHECKS.values())
    if not patterns:
        return all_checks
    out = []
    for c in all_checks:
        if any(fnmatch.fnmatch(c.id, p) or fnmatch.fnmatch(c.area, p) or p == c.id for p in patterns):
            out.append(c)
    return out


@dataclass
class Run:
    config: Config
    results: list[Result]
    started: datetime
    finished: datetime
    cleanup_problems: list[str]
    prefix: str
    suite: str = "VTN"  # which side is under test: VTN, or VEN (conformance.ven_suite)
    subject: str = ""  # what was tested, for the report heading (default: the VTN URL)

    def counts(self) -> dict[str, int]:
        out = {o.value: 0 for o in Outcome}
        for r in self.results:
            out[r.outcome.value] += 1
        out["total"] = len(self.results)
        return out

    @property
    def ok(self) -> bool:
        return all(r.outcome in (Outcome.PASS, Outcome.SKIP) for r in self.results)


def run_one(session: Session, c: Check, version: str = TARGET_VERSION) -> Result:
    session.current = []
    start = time.monotonic()
    if not c.applies(version):
        return Result(c, Outcome.SKIP, c.why_not(version))
    if c.func is None:
        return Result(c, Outcome.SKIP, f"not implemented for {version}")
    assert c.func is not None
    try:
        note = c.func(session)
        result = Result(c, Outcome.PASS, note or "")
    except Fail as exc:
        evidence = [exc.response.summary()] if exc.response else []
        evidence += [r.summary(300) for r in session.current[-3:] if exc.response is None or r is not exc.response]
        result = Result(c, Outcome.FAIL, exc.message, evidence[:4])
    except Skip as exc:
        result = Result(c, Outcome.SKIP, exc.reason)
    except Exception as exc:  # a bug in a check or an unusable answer: report, keep going
        evidence = [r.summary(300) for r in session.current[-2:]]
        result = Result(c, Outcome.ERROR, f"{type(exc).__name__}: {exc}", evidence)
    result.duration = time.monotonic() - start
    return result


def run_suite(config: Config, progress: Callable[[int, int, Result], None] | None = None) -> Run:
    checks = selected(config.only)
    session = Session(config)
    started = datetime.now(UTC)
    results: list[Result] = []
    try:
        for i, c in enumerate(checks, 1):
            result = run_one(session, c, config.version)
            results.append(result)
            if progress:
                progress(i, len(checks), result)
    finally:
        problems = session.run_cleanup()
        session.close()
    return Run(config, results, started, datetime.now(UTC), problems, session.prefix)


def stderr_progress(i: int, total: int, result: Result) -> None:
    line = f"\r[{i:>3}/{total}] {result.check.id:<10} {result.outcome.value:<5} {result.check.title[:70]:<70}"
    sys.stderr.write(line)
    if i == total:
        sys.stderr.write("\n")
    sys.stderr.flush()
