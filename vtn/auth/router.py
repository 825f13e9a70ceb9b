"""POST {base}/auth/token (Y301:1704-1741, RFC 6749 §4.4) and the well-known documents."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import unquote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from openadr3.models import AuthError, ClientCredentialResponse
from vtn.auth import service
from vtn.auth.tokens import ALGORITHM

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
    if basic:
        client_id, secret = basic
    else:
        client_id, secret = fields.get("client_id", ""), fields.get("client_secret", "")
        if not client_id:
            raise TokenError("invalid_request", "client_id is required")
        if not secret:
            raise TokenError("invalid_client", "client authentication failed: no client_secret", 401)
    db = request.app.state.db
    async with db.session(write=False) as session:
        client = await service.verify_secret(session, client_id, secret)
    if client is None:
        raise TokenError("invalid_client", "client authentication failed", 401)
    granted = client.scopes.split()
    requested = fields.get("scope")
    if requested is not None and requested.strip():
        wanted = requested.split()
        refused = [s for s in wanted if s not in granted]
        if refused:
            raise TokenError("invalid_scope", f"scope not granted to this client: {' '.join(refused)}")
        scopes = [s for s in granted if s in wanted]
    else:
        scopes = granted
    tokens = request.app.state.tokens
    token = await tokens.issue(client.client_id, scopes)
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


@well_known.get("/.well-known/jwks.json", include_in_schema=False)
async def jwks(request: Request) -> JSONResponse:
    keys = await request.app.state.tokens.keys()
    return JSONResponse(keys.public_jwks(), headers={"Cache-Control": "public, max-age=300"})


@well_known.get("/.well-known/oauth-authorization-server", include_in_schema=False)
async def metadata(request: Request) -> JSONResponse:
    settings = request.app.state.settings
    issuer = request.app.state.tokens.issuer
    return JSONResponse(
        {
            "issuer": issuer,
            "token_endpoint": f"{issuer}{settings.base_path}/auth/token",
            "jwks_uri": f"{issuer}/.well-known/jwks.json",
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "token_endpoint_auth_signing_alg_values_supported": [ALGORITHM],
            "scopes_supported": sorted(request.app.state.scopes),
            "response_types_supported": ["token"],
        }
    )
