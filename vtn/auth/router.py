"""POST {base}/auth/token (Y301:1704-1741, RFC 6749 §4.4) and the well-known documents."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import unquote

from cryptography.hazmat.primitives.serialization import Encoding
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from openadr3.models import AuthError, ClientCredentialResponse
from vtn.auth import service
from vtn.auth.authenticator import is_cert_bound_client
from vtn.auth.models import ClientRow
from vtn.auth.tls import cert_matches_client, client_cert, thumbprint
from vtn.core.errors import NotFound
from vtn.core.security import Role
from vtn.core.security import grantable as grantable_scopes

router = APIRouter(tags=["Auth"])
well_known = APIRouter(tags=["Auth"])

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class TokenError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        self.error, self.description, self.status = error, description, status


def token_error(exc: TokenError) -> JSONResponse:
    headers = dict(NO_STORE)
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="openadr3"'
    body = {"error": exc.error, "error_description": exc.description}
    return JSONResponse(body, status_code=exc.status, headers=headers)


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        raise TokenError("invalid_request", "only HTTP Basic client authentication is accepted in the header")
    try:
        client_id, sep, secret = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise TokenError("invalid_client", "malformed HTTP Basic credentials", 401) from exc
    if not sep:
        raise TokenError("invalid_client", "malformed HTTP Basic credentials", 401)
    # RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
    return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))


async def _form(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise TokenError("invalid_request", "the body must be application/x-www-form-urlencoded")
    form = await request.form()
    fields: dict[str, str] = {}
    for key in form:
        values = form.getlist(key)
        if len(values) > 1:
            raise TokenError("invalid_request", f"parameter {key!r} is repeated")
        fields[key] = str(values[0])
    return fields


async def _issue(request: Request) -> dict[str, Any]:
    fields = await _form(request)
    grant_type = fields.get("grant_type")
    if not grant_type:
        raise TokenError("invalid_request", "grant_type is required")
    if grant_type != "client_credentials":
        raise TokenError("unsupported_grant_type", f"grant_type {grant_type!r} is not supported")
    basic = _basic_credentials(request)
    if basic and ("client_secret" in fields):
        raise TokenError("invalid_request", "client credentials sent both in the header and in the body")
    if basic and fields.get("client_id", basic[0]) != basic[0]:
        raise TokenError("invalid_request", "client_id in the body differs from the HTTP Basic client id")
    cert = client_cert(request.scope)  # verified by the TLS layer or a trusted proxy
    if basic:
        client_id, secret = basic
    else:
        client_id, secret = fields.get("client_id", ""), fields.get("client_secret", "")
        if not client_id:
            raise TokenError("invalid_request", "client_id is required")
        if not secret and cert is None:
            raise TokenError("invalid_client", "client authentication failed: no client_secret and no client certificate", 401)
    if "\x00" in client_id:  # no client has one, and PostgreSQL refuses it in a query (a 500)
        raise TokenError("invalid_client", "client authentication failed", 401)
    db = request.app.state.db
    async with db.session(write=False) as session:
        if secret:
            client = await service.verify_secret(session, client_id, secret)
        else:  # RFC 8705 §2.1 tls_client_auth: the certificate is the credential
            client = await session.get(ClientRow, client_id)
            if client is not None and not (client.enabled and cert_matches_client(cert, client.cert_subject_dn, client.cert_san)):
                client = None
    if client is None:
        raise TokenError("invalid_client", "client authentication failed", 401)
    if is_cert_bound_client(client) and (cert is None or not cert_matches_client(cert, client.cert_subject_dn, client.cert_san)):
        raise TokenError("invalid_client", "this client must present its registered certificate (mutual TLS)", 401)
    granted = client.scopes.split()
    requested = fields.get("scope")
    grantable = grantable_scopes(granted, client.role == Role.BL.value)
    if requested is not None and requested.strip():
        wanted = requested.split()
        refused = [s for s in wanted if s not in grantable]
        if refused:
            raise TokenError("invalid_scope", f"scope not granted to this client: {' '.join(refused)}")
        scopes = [s for s in granted if s in wanted] + [s for s in wanted if s not in granted]
    else:
        scopes = granted
    tokens = request.app.state.tokens
    # RFC 8705 §3: a token obtained over mutual TLS is bound to that certificate
    extra = {"cnf": {"x5t#S256": thumbprint(cert.public_bytes(Encoding.DER))}} if cert is not None else None
    token = await tokens.issue(client.client_id, scopes, extra)
    return ClientCredentialResponse(
        access_token=token, token_type="Bearer", expires_in=tokens.lifetime_seconds, scope=" ".join(scopes)
    ).dump()


@router.post(
    "/auth/token",
    operation_id="fetchToken",
    summary="fetch a token",
    description="Client credentials grant (RFC 6749 §4.4): credentials by HTTP Basic or in the form body.",
    response_model=ClientCredentialResponse,
    responses={400: {"model": AuthError}, 401: {"model": AuthError}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {"schema": {"$ref": "#/components/schemas/clientCredentialRequest"}}
            },
        }
    },
)
async def fetch_token(request: Request) -> JSONResponse:
    try:
        body = await _issue(request)
    except TokenError as exc:
        return token_error(exc)
    return JSONResponse(body, headers=NO_STORE)


def _builtin_only(request: Request) -> None:
    if request.app.state.settings.auth_mode != "builtin":
        raise NotFound("this VTN uses an external authorisation server")


@well_known.get("/.well-known/jwks.json", include_in_schema=False)
async def jwks(request: Request) -> JSONResponse:
    _builtin_only(request)
    keys = await request.app.state.tokens.keys()
    return JSONResponse(keys.public_jwks(), headers={"Cache-Control": "public, max-age=300"})


@well_known.get("/.well-known/oauth-authorization-server", include_in_schema=False)
async def metadata(request: Request) -> JSONResponse:
    _builtin_only(request)
    settings = request.app.state.settings
    issuer = request.app.state.tokens.issuer
    return JSONResponse(
        {
            "issuer": issuer,
            "token_endpoint": f"{issuer}{settings.base_path}/auth/token",
            "jwks_uri": f"{issuer}/.well-known/jwks.json",
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "tls_client_auth"],
            "tls_client_certificate_bound_access_tokens": True,
            "scopes_supported": sorted(request.app.state.scopes),
            "response_types_supported": ["token"],
        }
    )


server_info = APIRouter(tags=["Auth"])


@server_info.get("/auth/server", operation_id="getAuthServerInfo")
async def auth_server(request: Request) -> JSONResponse:
    """OpenADR 3.1.0 `GET /auth/server` (issue 226): where clients get tokens. Built-in mode: this VTN's token
    endpoint on the 3.1.0 mount (the same one as 3.0.1's); external mode: the external issuer."""
    settings = request.app.state.settings
    if settings.auth_mode == "external":
        url = str(settings.external_issuer or "").rstrip("/")
    else:
        url = f"{request.app.state.tokens.issuer}{settings.base_path_31}/auth/token"
    return JSONResponse({"tokenURL": url})
