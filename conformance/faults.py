"""The suite tests itself: faults the proxy injects, one per run, and the campaign that scores them.

Each fault is one clear violation of OpenADR 3.0.1 (Y301 = openadr3/spec/3.0.1/openadr3.yaml, with
line numbers; D310 = the 3.1.0 Definition, whose general rules we apply to 3.0.1, see
docs/conformance.md) or of an RFC it cites. A fault is *caught* when at least one check fails under
it that passes on the clean VTN (through the same proxy with no fault).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from conformance.core import CHECKS, Config, Outcome, Run, run_suite, selected
from conformance.proxy import Context, Fault, FaultProxy, Notification, Request, Response
from openadr3.convert import VERB_TO_CRUD

Pred = Callable[[Request], bool]

COLLECTIONS = ("/programs", "/events", "/reports", "/subscriptions", "/vens", "/resources")
TYPE_OF = {"/programs": "PROGRAM", "/events": "EVENT", "/reports": "REPORT", "/subscriptions": "SUBSCRIPTION",
           "/vens": "VEN", "/resources": "RESOURCE"}


def on(method: str | None = None, collection: str | None = None, by_id: bool | None = None) -> Pred:
    def match(req: Request) -> bool:
        return ((method is None or req.method == method) and (collection is None or req.collection == collection)
                and (by_id is None or req.by_id == by_id))

    return match


def objects(resp: Response) -> list[dict[str, Any]]:
    body = resp.body
    items = body if isinstance(body, list) else [body]
    return [o for o in items if isinstance(o, dict)]


# ---- transform building blocks ------------------------------------------------------------------


def edit_objects(pred: Pred, edit: Callable[[dict[str, Any]], None], lists_only: bool = False):
    def run(req: Request, resp: Response, ctx: Context) -> None:
        if pred(req) and resp.ok and (not lists_only or isinstance(resp.body, list)):
            for obj in objects(resp):
                edit(obj)

    return run


def drop_falsy(obj: Any) -> None:
    """Remove every field whose value is 0, false or "" (ids excepted: those would be too easy)."""
    if isinstance(obj, dict):
        for key in [k for k, v in obj.items() if k != "id" and v is not None and not isinstance(v, dict | list) and not v]:
            del obj[key]
        for v in obj.values():
            drop_falsy(v)
    elif isinstance(obj, list):
        for v in obj:
            drop_falsy(v)


def drop_falsy_values(obj: Any) -> None:
    """Remove 0, false and "" from every `values` array."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "values" and isinstance(v, list):
                obj[k] = [x for x in v if x is None or isinstance(x, dict | list) or x]
            else:
                drop_falsy_values(v)
    elif isinstance(obj, list):
        for v in obj:
            drop_falsy_values(v)


def renumber(obj: Any) -> None:
    """Interval ids become 0, 1, 2… (they are client-chosen, "not a sequence number")."""
    if isinstance(obj, dict):
        intervals = obj.get("intervals")
        if isinstance(intervals, list):
            for i, interval in enumerate(intervals):
                if isinstance(interval, dict):
                    interval["id"] = i
        for v in obj.values():
            renumber(v)
    elif isinstance(obj, list):
        for v in obj:
            renumber(v)


def drop_key(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda obj: obj.pop(key, None) and None


def frozen_modification(obj: dict[str, Any]) -> None:
    if "createdDateTime" in obj and "modificationDateTime" in obj:
        obj["modificationDateTime"] = obj["createdDateTime"]


def as_get(pred: Pred):
    """The request is answered as a GET of the same path: 200 with the unchanged object."""

    def run(req: Request, ctx: Context) -> None:
        if pred(req):
            req.method, req.body, req.raw = "GET", None, b""

    return run


def ignore_params(collection: str, *names: str):
    # 3.1.0 names the target filter `targets` (conformance.versions)
    ignored = {*names, "targets"} if "targetType" in names else set(names)

    def run(req: Request, ctx: Context) -> None:
        if req.method == "GET" and req.collection == collection and not req.by_id:
            req.query = [(k, v) for k, v in req.query if k not in ignored]

    return run


def fake_created(req: Request, resp: Response) -> None:
    """Answer 201 with what was sent plus provisioned metadata, as if the VTN had stored it."""
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    body = copy.deepcopy(req.body) if isinstance(req.body, dict) else {}
    body.update(id=f"fault{int(time.time() * 1e6)}", createdDateTime=now, modificationDateTime=now,
                objectType=TYPE_OF.get(req.collection, "PROGRAM"))
    resp.status, resp.body, resp.headers["content-type"] = 201, body, "application/json"


def status_to_created(collection: str, status: int, missing: str | None = None):
    def run(req: Request, resp: Response, ctx: Context) -> None:
        if req.method == "POST" and req.collection == collection and not req.by_id and resp.status == status:
            if missing is None or (isinstance(req.body, dict) and missing not in req.body):
                fake_created(req, resp)

    return run


def forbidden_to_ok(method: str, collection: str):
    """A 403 on a write becomes 200 with the object as it stands (nothing was changed)."""

    def run(req: Request, resp: Response, ctx: Context) -> None:
        if req.method == method and req.collection == collection and req.by_id and resp.status == 403:
            current = ctx.fetch(Request("GET", req.path, [], req.headers, None))
            resp.status, resp.headers["content-type"] = 200, "application/json"
            resp.body = current.body if current.ok else req.body

    return run


def success_content_type(pred: Pred, value: str):
    def run(req: Request, resp: Response, ctx: Context) -> None:
        if pred(req) and resp.ok and resp.body is not None:
            resp.headers["content-type"] = value

    return run


def drop_www_authenticate(req: Request, resp: Response, ctx: Context) -> None:
    # GET /programs keeps its header: the plain check (C009) looks there, subtler ones elsewhere
    if resp.status == 401 and not (req.method == "GET" and req.path == "/programs"):
        resp.headers.pop("www-authenticate", None)


def error_content_type(req: Request, resp: Response, ctx: Context) -> None:
    if resp.status >= 400 and req.path != "/auth/token":
        resp.headers["content-type"] = "text/plain"


def problem_status_mismatch(req: Request, resp: Response, ctx: Context) -> None:
    if resp.status in (400, 404) and isinstance(resp.body, dict) and req.path != "/auth/token":
        resp.body["status"] = 500


def not_found_to_empty(req: Request, resp: Response, ctx: Context) -> None:
    if req.method == "GET" and req.by_id and resp.status == 404:
        resp.status, resp.body, resp.headers["content-type"] = 200, [], "application/json"


def put_targets_not_stored(collection: str):
    """PUT stores the object without its new targets but answers as if it had stored them."""

    def before(req: Request, ctx: Context) -> None:
        if req.method == "PUT" and req.collection == collection and req.by_id and isinstance(req.body, dict):
            current = ctx.fetch(Request("GET", req.path, [], req.headers, None))
            ctx.memory[req.path] = req.body.get("targets")
            if current.ok and isinstance(current.body, dict):
                req.body = {**req.body, "targets": current.body.get("targets")}

    def after(req: Request, resp: Response, ctx: Context) -> None:
        if req.method == "PUT" and req.path in ctx.memory and resp.ok and isinstance(resp.body, dict):
            resp.body["targets"] = ctx.memory[req.path]

    return before, after


def deleted_still_listed(collection: str):
    def run(req: Request, resp: Response, ctx: Context) -> None:
        if req.collection != collection or not resp.ok:
            return
        gone: dict[str, dict[str, Any]] = ctx.memory.setdefault("deleted", {})
        if req.method == "DELETE" and isinstance(resp.body, dict) and resp.body.get("id"):
            gone[resp.body["id"]] = copy.deepcopy(resp.body)
        elif req.method == "GET" and not req.by_id and isinstance(resp.body, list):
            present = {o.get("id") for o in resp.body if isinstance(o, dict)}
            resp.body += [o for i, o in gone.items() if i not in present]

    return run


def notify(edit: Callable[[Notification], None], object_type: str | None = None, operation: str | None = None):
    def run(note: Notification, ctx: Context) -> None:
        body = note.body if isinstance(note.body, dict) else {}
        # operations as 3.0.1 names them (HTTP verbs); 3.1.0 notifications carry the CRUD names
        if (object_type is None or body.get("objectType") == object_type) and (
            operation is None or body.get("operation") in (operation, VERB_TO_CRUD.get(operation))
        ):
            edit(note)

    return run


def _set_operation(value: str) -> Callable[[Notification], None]:
    def run(note: Notification) -> None:
        crud = note.body.get("operation") in VERB_TO_CRUD.values()  # a 3.1.0 notification
        note.body["operation"] = VERB_TO_CRUD[value] if crud else value

    return run


def _object_drop(key: str) -> Callable[[Notification], None]:
    def run(note: Notification) -> None:
        obj = note.body.get("object")
        if isinstance(obj, dict):
            obj.pop(key, None)

    return run


def _undeliver(note: Notification) -> None:
    note.deliver = False


def _no_bearer(note: Notification) -> None:
    note.headers.pop("authorization", None)


def _object_type(value: str) -> Callable[[Notification], None]:
    def run(note: Notification) -> None:
        note.body["objectType"] = value

    return run


def _delete_object_stale(note: Notification) -> None:
    obj = note.body.get("object")
    if isinstance(obj, dict):
        obj["modificationDateTime"] = obj.get("createdDateTime")
        obj.pop("targets", None)


# ---- the catalogue ------------------------------------------------------------------------------

Y = "Y301"
FAULTS: list[Fault] = []


def fault(id: str, title: str, source: str, checks: Iterable[str], **transforms: Any) -> None:
    FAULTS.append(Fault(id, title, source, tuple(checks), **transforms))


ABBR = {"/programs": "PRG", "/events": "EVT", "/reports": "REP", "/subscriptions": "SUB", "/vens": "VEN",
        "/resources": "RES"}


def d(base: str, *collections: str) -> list[str]:
    """The per-type D-checks (conformance/checks/subtle.py) of these collections."""
    return [f"{base}-{ABBR[c]}" for c in collections]


NAME = {"/programs": "programs", "/events": "events", "/reports": "reports", "/subscriptions": "subscriptions",
        "/vens": "vens", "/resources": "resources"}
SCHEMA_LINE = {"/programs": "1745-1856", "/events": "1930-1997", "/reports": "1857-1929",
               "/subscriptions": "1998-2076", "/vens": "2077-2125", "/resources": "2126-2171"}
PUT_LINE = {"/programs": "218-269", "/events": "751-802", "/reports": "484-535", "/subscriptions": "1049-1100",
            "/vens": "1318-1369", "/resources": "1612-1663"}
DELETE_LINE = {"/programs": "270-309", "/events": "803-843", "/reports": "536-575", "/subscriptions": "1101-1140",
               "/vens": "1370-1409", "/resources": "1664-1703"}
LIST_LINE = {"/programs": "51-122", "/events": "577-655", "/reports": "311-388", "/subscriptions": "845-941",
             "/vens": "1142-1223", "/resources": "1418-1505"}

# round trips
fault("RT-01", "events: fields whose value is 0, false or \"\" are dropped from responses",
      f"{Y}:1930-1997 event; D310:305-337 (GET returns the object as stored)", d("D001", "/events"),
      response=edit_objects(on(collection="/events"), drop_falsy))
fault("RT-02", "programs: fields whose value is 0, false or \"\" are dropped from responses",
      f"{Y}:1745-1856 program; D310:305-337", d("D001", "/programs"),
      response=edit_objects(on(collection="/programs"), drop_falsy))
fault("RT-03", "reports: fields whose value is 0, false or \"\" are dropped from responses",
      f"{Y}:1857-1929 report; D310:305-337", d("D001", "/reports"),
      response=edit_objects(on(collection="/reports"), drop_falsy))
fault("RT-04", "vens and resources: 0, false and \"\" vanish from attribute values",
      f"{Y}:2212-2239 valuesMap.values", d("D001", "/vens", "/resources"),
      response=edit_objects(lambda r: r.collection in ("/vens", "/resources"), drop_falsy_values))
fault("RT-05", "events: interval ids renumbered 0, 1, 2…", f"{Y}:2172-2193 interval.id is client generated, not a sequence",
      d("D001", "/events"), response=edit_objects(on(collection="/events"), renumber))
fault("RT-06", "reports: interval ids renumbered 0, 1, 2…", f"{Y}:2172-2193", d("D001", "/reports"),
      response=edit_objects(on(collection="/reports"), renumber))
for _c, _key in (("/programs", "targets"), ("/events", "targets"), ("/reports", "reportName"),
                 ("/subscriptions", "targets"), ("/vens", "attributes"), ("/resources", "attributes")):
    fault(f"LI-{len([f for f in FAULTS if f.id.startswith('LI')]) + 1:02d}",
          f"{NAME[_c]}: list items lack {_key} that GET by id returns",
          f"{Y}:{LIST_LINE[_c]} (the list returns the objects themselves)", d("D002", _c),
          response=edit_objects(on("GET", _c, False), drop_key(_key), lists_only=True))

# PUT and DELETE really act
for _n, _c in enumerate(COLLECTIONS, 1):
    fault(f"PU-{_n:02d}", f"{NAME[_c]}: PUT answers 200 with the old object and changes nothing",
          f"{Y}:{PUT_LINE[_c]} (PUT updates the object)", d("D003", _c), request=as_get(on("PUT", _c, True)))
fault("PU-07", "modificationDateTime never advances (always createdDateTime)",
      "Y301:1757-1759 (modificationDateTime: set by the VTN at modification)", d("D003", "/programs", "/vens"),
      response=edit_objects(lambda r: True, frozen_modification))
for _n, _c in enumerate(("/programs", "/events", "/vens"), 8):
    _before, _after = put_targets_not_stored(_c)
    fault(f"PU-{_n:02d}", f"{NAME[_c]}: PUT answers with the new targets but stores the old ones",
          f"{Y}:{PUT_LINE[_c]}", d("D003", _c), request=_before, response=_after)
for _n, _c in enumerate(COLLECTIONS, 1):
    fault(f"DE-{_n:02d}", f"{NAME[_c]}: DELETE answers 200 with the object but deletes nothing",
          f"{Y}:{DELETE_LINE[_c]} (DELETE removes the object)", d("D004", _c), request=as_get(on("DELETE", _c, True)))
fault("DE-07", "events: a deleted event still appears in lists", f"{Y}:{DELETE_LINE['/events']}", d("D004", "/events"),
      response=deleted_still_listed("/events"))
fault("DE-08", "subscriptions: a deleted subscription still appears in lists", f"{Y}:{DELETE_LINE['/subscriptions']}",
      d("D004", "/subscriptions"), response=deleted_still_listed("/subscriptions"))

# pagination and filters
for _n, (_c, _p) in enumerate((("/programs", "limit"), ("/events", "skip"), ("/reports", "limit"),
                               ("/subscriptions", "skip"), ("/vens", "limit"), ("/resources", "skip")), 1):
    fault(f"PG-{_n:02d}", f"{NAME[_c]}: the {_p} query parameter is ignored",
          f"{Y}:{LIST_LINE[_c]} (skip, limit)", d("D005", _c), request=ignore_params(_c, _p))
for _n, (_c, _ps, _checks) in enumerate((
    ("/events", ("programID",), ["C050"]),
    ("/reports", ("programID",), ["C059"]),
    ("/reports", ("eventID",), ["C059"]),
    ("/reports", ("clientName",), ["C059"]),
    ("/subscriptions", ("programID",), ["C079"]),
    ("/subscriptions", ("clientName",), ["C079"]),
    ("/subscriptions", ("objects",), ["C079"]),
    ("/programs", ("targetType", "targetValues"), ["C074"]),
    ("/events", ("targetType", "targetValues"), ["C077"]),
    ("/subscriptions", ("targetType", "targetValues"), ["C077"]),
    ("/vens", ("targetType", "targetValues"), ["C077"]),
    ("/resources", ("targetType", "targetValues"), ["C077"]),
    ("/vens", ("venName",), ["C066"]),
    ("/resources", ("resourceName",), ["C069"]),
), 1):
    fault(f"FI-{_n:02d}", f"{NAME[_c]}: the {'/'.join(_ps)} filter is ignored", f"{Y}:{LIST_LINE[_c]}",
          [*_checks, *d("D006", _c)],
          request=ignore_params(_c, *_ps))

# uniqueness and required fields
fault("UQ-01", "programs: a duplicate programName is accepted (409 → 201)", f"{Y}:123-168 (409); D310 names unique",
      d("D007", "/programs"), response=status_to_created("/programs", 409))
fault("UQ-02", "vens: a duplicate venName is accepted (409 → 201)", f"{Y}:2077-2125; RN:19", d("D007", "/vens"),
      response=status_to_created("/vens", 409))
fault("UQ-03", "resources: a duplicate resourceName in one ven is accepted (409 → 201)", f"{Y}:2126-2171",
      d("D007", "/resources"),
      response=status_to_created("/resources", 409))
for _n, (_c, _field) in enumerate((("/programs", "programName"), ("/events", "intervals"), ("/reports", "resources"),
                                   ("/subscriptions", "objectOperations"), ("/vens", "venName"),
                                   ("/resources", "resourceName")), 1):
    fault(f"RQ-{_n:02d}", f"{NAME[_c]}: a create without the required {_field} is accepted (400 → 201)",
          f"{Y}:{SCHEMA_LINE[_c]} (required); D310:305-337 (400)", d("D008", _c),
          response=status_to_created(_c, 400, _field))

# scopes
for _n, (_m, _c) in enumerate((("PUT", "/programs"), ("DELETE", "/events"), ("PUT", "/reports"),
                               ("DELETE", "/subscriptions"), ("PUT", "/vens"), ("DELETE", "/resources")), 1):
    fault(f"SC-{_n:02d}", f"{NAME[_c]}: {_m} without the write scope answers 200 (403 ignored)",
          f"{Y}:{(PUT_LINE if _m == 'PUT' else DELETE_LINE)[_c]} (security scopes); RFC 6750 §3.1 insufficient_scope",
          d("D009", _c), response=forbidden_to_ok(_m, _c))

# HTTP surface
fault("HT-01", "success responses of GET by id carry Content-Type text/plain",
      f"{Y} responses: content application/json; RFC 9110 §8.3", d("D010", "/programs", "/vens"),
      response=success_content_type(lambda r: r.method == "GET" and r.by_id, "text/plain"))
fault("HT-02", "201 responses to POST carry Content-Type text/html", f"{Y} responses: content application/json",
      d("D010", "/events", "/resources"),
      response=success_content_type(lambda r: r.method == "POST" and r.path != "/auth/token", "text/html"))
fault("HT-03", "401 without WWW-Authenticate (except on GET /programs)", "RFC 6750 §3; RFC 9110 §15.5.2", ["D011"],
      response=drop_www_authenticate)
fault("HT-04", "error responses lose their JSON/problem content type", f"{Y}:2566-2607 problem; RFC 9457 §3",
      ["E003", "C085"], response=error_content_type)
fault("HT-05", "problem bodies carry a status other than the HTTP status", "RFC 9457 §3.1.4; D310:343-353",
      ["C085", "C029"], response=problem_status_mismatch)
fault("HT-06", "GET of an unknown id answers 200 [] instead of 404", f"{Y}: 404 on every {{id}} operation (RN:6)",
      ["C029"], response=not_found_to_empty)

# notifications
fault("NO-01", "update notifications say operation POST", f"{Y}:2421-2456 notification.operation", ["C095", "D012"],
      notification=notify(_set_operation("POST"), operation="PUT"))
fault("NO-02", "program notifications lose programLongName", f"{Y}:2421-2456 (object: the object operated on)",
      ["D012"], notification=notify(_object_drop("programLongName"), "PROGRAM"))
fault("NO-03", "event DELETE notifications carry a stale object, not what DELETE returned",
      f"{Y}:2421-2456", ["D012"], notification=notify(_delete_object_stale, "EVENT", "DELETE"))
fault("NO-04", "report notifications are never delivered", f"{Y}:957-969 (callbacks for subscribed objects)",
      ["D012"], notification=notify(_undeliver, "REPORT"))
fault("NO-05", "ven notifications are labelled objectType RESOURCE", f"{Y}:2421-2456 notification.objectType",
      ["D012"], notification=notify(_object_type("RESOURCE"), "VEN"))
fault("NO-06", "notifications lose the subscription's bearer token", f"{Y}:2061-2066 bearerToken; RFC 6750 §2.1",
      ["C094", "D012"], notification=notify(_no_bearer))
fault("NO-07", "program DELETE notifications are never delivered", f"{Y}:957-969", ["D012"],
      notification=notify(_undeliver, "PROGRAM", "DELETE"))
fault("NO-08", "subscription notifications lose their objectOperations", f"{Y}:2421-2456", ["D012"],
      notification=notify(_object_drop("objectOperations"), "SUBSCRIPTION"))


# ---- the campaign -------------------------------------------------------------------------------


@dataclass
class Score:
    fault: Fault
    failed: list[str]  # checks that failed under the fault
    caught_by: list[str]  # of those, the ones that pass on the clean VTN
    seconds: float

    @property
    def caught(self) -> bool:
        return bool(self.caught_by)


@dataclass
class Campaign:
    clean: Run
    scores: list[Score] = field(default_factory=list)

    @property
    def clean_failures(self) -> list[str]:
        return [r.check.id for r in self.clean.results if r.outcome in (Outcome.FAIL, Outcome.ERROR)]

    @property
    def score(self) -> float:
        return sum(s.caught for s in self.scores) / len(self.scores) if self.scores else 0.0


def selected_faults(patterns: list[str] | None = None) -> list[Fault]:
    import fnmatch

    return [f for f in FAULTS if not patterns or any(fnmatch.fnmatch(f.id, p) for p in patterns)]


def run_campaign(
    config: Config,
    faults: list[Fault] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Campaign:
    """Run the suite through a proxy: clean (the checks every fault uses), then once per fault.

    `config.vtn_url` is the real VTN; the proxy listens on loopback. The suite's receiver must be
    reachable from the VTN as usual (notifications go VTN → proxy → receiver).
    """
    faults = faults if faults is not None else FAULTS
    proxy = FaultProxy(config.vtn_url, timeout=config.timeout)
    try:
        tokens: dict[str, str | None] = {}

        def suite(only: list[str]) -> Run:
            cfg = copy.copy(config)
            cfg.vtn_url, cfg.only, cfg.token_cache = proxy.base_url, only, tokens
            return run_suite(cfg)

        # another version: only the faults some of whose checks run there (conformance.core NOT_IN_310)
        selected([])
        faults = [f for f in faults if any(CHECKS[c].applies(config.version) for c in f.checks)]
        union = sorted({c for f in faults for c in f.checks} | set(config.only))
        proxy.use(None)
        clean = suite(union)
        passing = {r.check.id for r in clean.results if r.outcome == Outcome.PASS}
        campaign = Campaign(clean)
        for f in faults:
            start = time.monotonic()
            proxy.use(f)
            run = suite(list(f.checks))
            failed = [r.check.id for r in run.results if r.outcome in (Outcome.FAIL, Outcome.ERROR)]
            score = Score(f, failed, [c for c in failed if c in passing], time.monotonic() - start)
            campaign.scores.append(score)
            if progress:
                verdict = "caught" if score.caught else "MISSED"
                progress(f"{f.id:<6} {verdict:<6} {score.seconds:5.1f}s {','.join(score.caught_by) or '-'}")
        proxy.use(None)
        return campaign
    finally:
        proxy.stop()


def markdown_table(faults: list[Fault] | None = None) -> str:
    rows = ["| Fault | What breaks | Violates | Checks run |", "|---|---|---|---|"]
    for f in faults if faults is not None else FAULTS:
        cells = [f.id, f.title, f.source, ", ".join(f.checks)]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows)
