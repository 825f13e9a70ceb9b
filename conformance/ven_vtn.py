"""The scripted VTN of the VEN-side suite: just what a VEN uses, in memory, recording everything it sees.

The VEN under test is pointed at `{url}` (base path `/openadr3/3.0.1`) with the client credentials given to
the suite. The VTN issues short-lived tokens (and refuses expired ones, so a VEN that does not refresh shows
up), answers list GETs with an `ETag` and 304 on a matching `If-None-Match`, stores what the VEN posts after
validating it against the 3.0.1 models, publishes its Standard Webhooks (`v1a`, ed25519) key at
`/.well-known/webhook-keys`, and sends signed notifications to the VEN's subscriptions when the scenario
runner publishes an event. Faults (a 503 with `Retry-After` on the next matching request) are armed by the
runner. Handlers run on uvicorn's thread, the runner on its own: one lock guards the store.

With a server certificate (`tls_cert`, `tls_key`) it speaks HTTPS; with `client_ca` too it asks every VEN
connection for a client certificate (optional at the handshake, so a VEN that presents none still gets
through and the check can say so) and records the verified certificate's RFC 8705 thumbprint on each request.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import httpx2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from openadr3.convert import V301, V310, VERB_TO_CRUD, report_from_v31, subscription_from_v31, to_v31, ven_from_v31
from openadr3.models import Event, Program, Report, Resource, Subscription, Ven

BASE_PATH = "/openadr3/3.0.1"
WELL_KNOWN_KEYS = "/.well-known/webhook-keys"
TERMS_PATH = "/contracts"  # contract terms documents, linked from programs' programDescriptions (GB profile §1)
MAX_LIMIT = 50
NOTIFIED_AS = {"CREATE": "POST", "UPDATE": "PUT", "DELETE": "DELETE"}
MODELS: dict[str, type[BaseModel]] = {"programs": Program, "events": Event, "reports": Report,
                                      "subscriptions": Subscription, "vens": Ven, "resources": Resource}
OBJECT_TYPES = {"programs": "PROGRAM", "events": "EVENT", "reports": "REPORT", "subscriptions": "SUBSCRIPTION",
                "vens": "VEN", "resources": "RESOURCE"}
# query parameter → object field, per collection (3.0.1 filters a VEN uses)
FILTERS = {"programID": "programID", "eventID": "eventID", "clientName": "clientName", "venName": "venName",
           "resourceName": "resourceName"}


def now_utc() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Seen:
    """One request of the VEN, as the VTN answered it (evidence for the checks)."""

    at: float  # monotonic
    method: str
    path: str  # relative to the base path
    query: str
    headers: dict[str, str]
    status: int
    body: Any = None
    token: str | None = None
    note: str = ""
    cert: str | None = None  # x5t#S256 of the client certificate the connection presented (mTLS)

    def summary(self, limit: int = 300) -> str:
        inm = f" If-None-Match={self.headers['if-none-match']}" if "if-none-match" in self.headers else ""
        body = json.dumps(self.body)[:limit] if self.body is not None else ""
        note = f" ({self.note})" if self.note else ""
        note += f" [client certificate {self.cert[:12]}…]" if self.cert else ""
        return f"VEN {self.method} {self.path}{'?' + self.query if self.query else ''}{inm} → {self.status}{note} {body}".strip()


@dataclass
class Issued:
    token: str
    at: float
    expires: float


async def _json_body(request: Request) -> Any:
    """The request's JSON body, or None (Starlette keeps the bytes for the handler)."""
    try:
        return json.loads(await request.body() or b"null")
    except ValueError:
        return None


@dataclass
class Fault:
    method: str
    path: str
    status: int
    retry_after: int | None
    remaining: int = 1
    event_id: str | None = None  # only requests whose JSON body names this eventID (one dispatch's ack)


@dataclass
class Delivery:
    """One notification the VTN sent to the VEN's callback."""

    at: float
    url: str
    status: int | None
    note: str
    object_type: str
    operation: str

    def summary(self, limit: int = 300) -> str:
        return f"VTN POST {self.url} ({self.object_type} {self.operation}, {self.note}) → {self.status}"[:limit]


@dataclass
class Store:
    objects: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: {k: {} for k in MODELS})

    def put(self, collection: str, body: dict[str, Any], object_id: str | None = None) -> dict[str, Any]:
        stamp = iso(now_utc())
        existing = self.objects[collection].get(object_id or "")
        obj = {**body, "id": object_id or uuid.uuid4().hex[:12], "objectType": OBJECT_TYPES[collection],
               "createdDateTime": existing["createdDateTime"] if existing else stamp, "modificationDateTime": stamp}
        self.objects[collection][obj["id"]] = obj
        return obj


class ScriptedVtn:
    def __init__(self, client_id: str, client_secret: str, *, token_lifetime: float = 60.0,
                 host: str = "127.0.0.1", port: int = 0, public_url: str | None = None,
                 tls_cert: str | None = None, tls_key: str | None = None, client_ca: str | None = None,
                 api_version: str = V301) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        # the store holds 3.0.1 documents; a 3.1.0 VTN converts at the wire (openadr3.convert), so every check reads
        # what the VEN sent in the same terms whichever version it speaks
        if api_version not in (V301, V310):
            raise ValueError(f"api_version must be {V301} or {V310}")
        self.api_version = api_version
        self.base_path = f"/openadr3/{api_version}"
        self.token_lifetime = token_lifetime
        self.host, self.port = host, port
        self.public_url = public_url
        if (tls_cert is None) != (tls_key is None) or (client_ca and not tls_cert):
            raise ValueError("tls_cert and tls_key go together; client_ca needs them")
        self.tls = (tls_cert, tls_key, client_ca) if tls_cert and tls_key else None
        self.lock = threading.RLock()
        self.store = Store()
        self.seen: list[Seen] = []
        self.tokens: dict[str, Issued] = {}
        self.faults: list[Fault] = []
        self.deliveries: list[Delivery] = []
        self.invalid_bodies: list[Seen] = []
        self.terms: dict[str, dict[str, Any]] = {}  # contractID → terms document (docs/gb-profile.md §2.1 fields)
        self.webhook_key = Ed25519PrivateKey.generate()
        self.webhook_kid = "whk_" + secrets.token_hex(6)
        self.started = time.monotonic()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._http = httpx2.Client(timeout=10.0)
        routes = [Route(WELL_KNOWN_KEYS, self.webhook_keys, methods=["GET"]),
                  Route(TERMS_PATH + "/{contract}", self.contract_terms, methods=["GET"]),
                  Route(self.base_path + "/auth/token", self.token, methods=["POST"]),
                  Route(self.base_path + "/{path:path}", self.api, methods=["GET", "POST", "PUT", "DELETE"])]
        self.app = Starlette(routes=routes)

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return (self.public_url or f"{scheme}://{self.host}:{self.port}").rstrip("/") + self.base_path

    @property
    def root_url(self) -> str:
        return self.url.removesuffix(self.base_path)

    def publish_terms(self, contract_id: str, document: dict[str, Any]) -> str:
        """Publish a contract's terms; returns the URL a program links them by (programDescriptions[].URL)."""
        with self.lock:
            self.terms[contract_id] = document
        return f"{self.root_url}{TERMS_PATH}/{contract_id}"

    def terms_at(self, url: str) -> dict[str, Any] | None:
        """The terms document a program's link names, if this VTN publishes it."""
        prefix = f"{self.root_url}{TERMS_PATH}/"
        with self.lock:
            return dict(self.terms[url[len(prefix):]]) if url.startswith(prefix) and url[len(prefix):] in self.terms else None

    @property
    def asks_client_certificates(self) -> bool:
        return bool(self.tls and self.tls[2])

    def start(self) -> None:
        import uvicorn

        tls: dict[str, Any] = {}
        if self.tls:
            from vtn.auth.tls import uvicorn_ssl_options  # the one TLS set-up (and client certificate in the scope)

            tls = uvicorn_ssl_options(self.tls[0], self.tls[1], self.tls[2], "optional")
        config = uvicorn.Config(self.app, host=self.host, port=self.port, log_level="warning", lifespan="off",
                                access_log=False, **tls)
        self._server = uvicorn.Server(config)
        self._server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self._thread = threading.Thread(target=self._server.run, name="ven-suite-vtn", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"the suite's VTN could not listen on {self.host}:{self.port}")
            time.sleep(0.02)
        if not self.port:
            self.port = self._server.servers[0].sockets[0].getsockname()[1]
        self.started = time.monotonic()

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self._http.close()

    # --- helpers for the runner --------------------------------------------------------------

    def arm(self, method: str, path: str, status: int = 503, retry_after: int | None = 1, times: int = 1,
            event_id: str | None = None) -> Fault:
        fault = Fault(method, path, status, retry_after, times, event_id)
        with self.lock:
            self.faults.append(fault)
        return fault

    def objects(self, collection: str) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(o) for o in self.store.objects[collection].values()]

    def requests(self, since: float = 0.0) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if s.at >= since]

    def backfill(self, collection: str, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Store objects as history, without notifying anyone (what a VEN finds only by reading the lists)."""
        with self.lock:
            return [self.store.put(collection, body) for body in bodies]

    def publish(self, collection: str, body: dict[str, Any], object_id: str | None = None) -> dict[str, Any]:
        """Create or update a program or event as the operator, and notify the VEN's subscriptions."""
        with self.lock:
            operation = "PUT" if object_id and object_id in self.store.objects[collection] else "POST"
            obj = self.store.put(collection, body, object_id)
        self.notify(OBJECT_TYPES[collection], "CREATE" if operation == "POST" else "UPDATE", obj)
        return obj

    def signature_headers(self, body: bytes, message_id: str | None = None) -> dict[str, str]:
        message_id = message_id or "msg_" + uuid.uuid4().hex
        stamp = str(int(time.time()))
        signature = self.webhook_key.sign(f"{message_id}.{stamp}.".encode() + body)
        return {"webhook-id": message_id, "webhook-timestamp": stamp,
                "webhook-signature": "v1a," + base64.b64encode(signature).decode()}

    def send_notification(self, url: str, bearer: str, object_type: str, operation: str, obj: dict[str, Any], *,
                          sign: bool = True, tamper_signature: bool = False, note: str = "") -> Delivery:
        """POST a notification; an empty `bearer` sends no Authorization header (as for a subscription without a
        bearerToken), `sign=False` leaves the webhook-* headers out, `tamper_signature` signs other bytes."""
        if self.api_version == V310:  # CRUD operation names, the object in its 3.1.0 form
            operation, obj = VERB_TO_CRUD.get(operation, operation), to_v31(object_type, obj)
        body = json.dumps({"objectType": object_type, "operation": operation, "object": obj}).encode()
        headers = {"content-type": "application/json"}
        if bearer:
            headers["authorization"] = f"Bearer {bearer}"
        if sign:
            headers |= self.signature_headers(body)
            if tamper_signature:  # a valid signature of other content: the key is right, the bytes are not
                headers["webhook-signature"] = "v1a," + base64.b64encode(self.webhook_key.sign(b"other")).decode()
        try:
            status: int | None = self._http.post(url, content=body, headers=headers).status_code
        except httpx2.HTTPError as exc:
            status, note = None, f"{note} transport error {exc!r}".strip()
        delivery = Delivery(time.monotonic(), url, status, note or "valid token and signature", object_type, operation)
        with self.lock:
            self.deliveries.append(delivery)
        return delivery

    def notify(self, object_type: str, operation: str, obj: dict[str, Any]) -> None:
        with self.lock:
            subscriptions = list(self.store.objects["subscriptions"].values())
        for sub in subscriptions:
            if sub.get("programID") not in (None, obj.get("programID"), obj.get("id")):
                continue
            for op in sub.get("objectOperations") or []:
                if object_type in (op.get("objects") or []) and operation in (op.get("operations") or []):
                    # subscriptions name CREATE/UPDATE/DELETE; a 3.0.1 notification carries the HTTP method
                    self.send_notification(op.get("callbackUrl", ""), op.get("bearerToken") or "", object_type,
                                           NOTIFIED_AS[operation], obj)  # 3.1.0: back to CRUD in send_notification

    # --- endpoints --------------------------------------------------------------------------

    async def webhook_keys(self, request: Request) -> Response:
        raw = self.webhook_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return JSONResponse({"keys": [{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
                                       "kid": self.webhook_kid,
                                       "x": base64.urlsafe_b64encode(raw).rstrip(b"=").decode()}]})

    async def contract_terms(self, request: Request) -> Response:
        with self.lock:
            document = self.terms.get(request.path_params["contract"])
        if document is None:
            return self._problem(404, "no such contract")
        return JSONResponse(document)

    def _record(self, request: Request, status: int, body: Any = None, token: str | None = None, note: str = "") -> None:
        base = self.base_path
        path = request.url.path[len(base):] if request.url.path.startswith(base) else request.url.path
        headers = {k: v for k, v in request.headers.items() if k in ("if-none-match", "content-type", "user-agent")}
        cert = None
        if self.tls:
            from vtn.auth.tls import client_cert_der, thumbprint

            der = client_cert_der(request.scope)  # verified against client_ca by the handshake
            cert = thumbprint(der) if der else None
        with self.lock:
            self.seen.append(Seen(time.monotonic(), request.method, path, request.url.query, headers, status, body,
                                  token, note, cert))

    @staticmethod
    def _problem(status: int, title: str, **headers: str) -> JSONResponse:
        return JSONResponse({"type": "about:blank", "title": title, "status": status}, status_code=status,
                            media_type="application/problem+json", headers=headers)

    async def token(self, request: Request) -> Response:
        # parsed here: Starlette's form parser needs python-multipart, which only the server extra installs
        parsed = parse_qs((await request.body()).decode("utf-8", "replace"))
        form = {k: v[0] for k, v in parsed.items()}
        client_id, secret = form.get("client_id"), form.get("client_secret")
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                client_id, _, secret = base64.b64decode(encoded).decode().partition(":")
            except ValueError:
                client_id = secret = None
        if form.get("grant_type") != "client_credentials":
            self._record(request, 400, note="grant_type is not client_credentials")
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        if client_id != self.client_id or not secrets.compare_digest(str(secret or ""), self.client_secret):
            self._record(request, 401, note="wrong client credentials")
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        issued = Issued(secrets.token_urlsafe(24), time.monotonic(), time.monotonic() + self.token_lifetime)
        with self.lock:
            self.tokens[issued.token] = issued
        self._record(request, 200, token=issued.token, note="token issued")
        return JSONResponse({"access_token": issued.token, "token_type": "Bearer",
                             "expires_in": int(self.token_lifetime)}, headers={"cache-control": "no-store"})

    def _fault(self, method: str, path: str, event_id: Any) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if (fault.remaining > 0 and fault.method == method and path.startswith(fault.path)
                        and fault.event_id in (None, event_id)):
                    fault.remaining -= 1
                    return fault
        return None

    async def api(self, request: Request) -> Response:
        path = "/" + request.path_params["path"].strip("/")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        with self.lock:
            issued = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if issued is None or time.monotonic() >= issued.expires:
            note = "expired token" if issued is not None else "unknown or missing token"
            self._record(request, 401, token=token or None, note=note)
            return self._problem(401, note, **{"WWW-Authenticate": 'Bearer error="invalid_token"'})
        sent = await _json_body(request)
        fault = self._fault(request.method, path, sent.get("eventID") if isinstance(sent, dict) else None)
        if fault is not None:
            self._record(request, fault.status, sent, token=issued.token, note="injected fault")
            extra = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            return self._problem(fault.status, "injected by the suite", **extra)
        body: Any = None
        if request.method in ("POST", "PUT"):
            try:
                body = json.loads(await request.body())
            except ValueError:
                self._record(request, 400, token=issued.token, note="body is not JSON")
                return self._problem(400, "body is not JSON")
        if self.api_version == V310 and isinstance(body, dict):
            body = self._from_v31(path, body)
        response, note = self._route(request, path, body)
        self._record(request, response.status_code, body, issued.token, note)
        if self.api_version == V310 and response.status_code < 300 and response.media_type == "application/json":
            response = self._to_v31(path, response)
        return response

    def _from_v31(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """A 3.1.0 request body in the 3.0.1 terms of the store (reports take their event's programID)."""
        collection = path.strip("/").split("/")[0]
        if collection == "reports":
            with self.lock:
                event = self.store.objects["events"].get(str(body.get("eventID")), {})
            return report_from_v31(body, str(event.get("programID") or ""), self.client_id)[0]
        if collection == "subscriptions":
            return subscription_from_v31(body, self.client_id)[0]
        if collection in ("vens", "resources"):
            return ven_from_v31(body, None)[0]
        return body

    def _to_v31(self, path: str, response: Response) -> Response:
        collection = path.strip("/").split("/")[0]
        object_type = OBJECT_TYPES.get(collection)
        data = json.loads(bytes(response.body))
        if object_type is None:
            return response
        convert = lambda o: to_v31(object_type, o) if isinstance(o, dict) and "id" in o else o  # noqa: E731
        data = [convert(o) for o in data] if isinstance(data, list) else convert(data)
        headers = {k: v for k, v in response.headers.items() if k.lower() == "etag"}
        return JSONResponse(data, status_code=response.status_code, headers=headers)

    def _route(self, request: Request, path: str, body: Any) -> tuple[Response, str]:
        parts = path.strip("/").split("/")
        collection = parts[0]
        if collection == "vens" and len(parts) >= 3 and parts[2] == "resources":
            collection, parts = "resources", ["resources", *parts[3:]]
            scope = {"venID": path.strip("/").split("/")[1]}
        else:
            scope = {}
        if collection not in MODELS or len(parts) > 2:
            return self._problem(404, "not found"), ""
        if scope and scope["venID"] not in self.store.objects["vens"]:
            return self._problem(404, f"no ven {scope['venID']}"), ""
        object_id = parts[1] if len(parts) == 2 else None
        method = request.method
        with self.lock:
            table = self.store.objects[collection]
            if method == "GET" and object_id is None:
                return self._list(request, collection, scope), ""
            if object_id is not None and object_id not in table:
                return self._problem(404, f"no {collection} {object_id}"), ""
            if method == "GET":
                return JSONResponse(table[object_id]), ""  # type: ignore[index]
            if method == "DELETE":
                if collection in ("programs", "events"):
                    return self._problem(403, "a VEN may not delete programs or events"), ""
                return JSONResponse(table.pop(object_id)), ""  # type: ignore[arg-type]
            if collection in ("programs", "events"):
                return self._problem(403, "a VEN may not write programs or events"), ""
            if (method == "POST") != (object_id is None):
                return self._problem(405, "method not allowed"), ""
            try:
                model = MODELS[collection].model_validate({**(body if isinstance(body, dict) else {}), **scope})
                if not isinstance(body, dict):
                    raise ValueError("body is not a JSON object")
            except (ValidationError, ValueError) as exc:
                seen_note = f"not a valid 3.0.1 {OBJECT_TYPES[collection]}: {str(exc)[:300]}"
                self.invalid_bodies.append(Seen(time.monotonic(), method, path, "", {}, 400, body, note=seen_note))
                return self._problem(400, seen_note), seen_note
            content = model.content() if hasattr(model, "content") else body  # type: ignore[attr-defined]
            if collection == "vens" and method == "POST" and any(
                    v.get("venName") == content.get("venName") for v in table.values()):
                return self._problem(409, "venName exists"), ""
            obj = self.store.put(collection, content, object_id)
            return JSONResponse(obj, status_code=201 if method == "POST" else 200), ""

    def _list(self, request: Request, collection: str, scope: dict[str, str]) -> Response:
        query = request.query_params
        items = list(self.store.objects[collection].values())
        for key, value in scope.items():
            items = [o for o in items if o.get(key) == value]
        for param, field_name in FILTERS.items():
            if param in query:
                wanted = set(query.getlist(param))
                items = [o for o in items if o.get(field_name) in wanted]
        try:
            skip, limit = int(query.get("skip", 0)), int(query.get("limit", MAX_LIMIT))
        except ValueError:
            return self._problem(400, "skip and limit must be integers")
        page = items[max(skip, 0): max(skip, 0) + max(0, min(limit, MAX_LIMIT))]
        text = json.dumps(page, sort_keys=True)
        etag = '"' + hashlib.sha256(text.encode()).hexdigest()[:20] + '"'
        # RFC 9110 §13.1.2: a list of tags or "*", compared weakly
        offered = {t.strip().removeprefix("W/") for t in request.headers.get("if-none-match", "").split(",")}
        if etag in offered or "*" in offered:
            return Response(status_code=304, headers={"ETag": etag})
        return Response(text, media_type="application/json", headers={"ETag": etag})

