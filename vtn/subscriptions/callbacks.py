"""Callback URL checks made when a subscription is created or updated."""

from __future__ import annotations

from urllib.parse import urlsplit

from vtn.core.errors import BadRequest
from vtn.core.settings import Settings


def check_callback_url(url: str, settings: Settings) -> None:
    """Refuse URLs the VTN must not call: wrong scheme, credentials in the URL, no host."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as exc:
        raise BadRequest(f"callbackUrl {url!r} is not a valid URL") from exc
    allowed = {"https", "http"} if settings.callback_allow_http else {"https"}
    if parts.scheme not in allowed:
        raise BadRequest(f"callbackUrl must use {' or '.join(sorted(allowed))}, not {parts.scheme or 'no scheme'!r}")
    if not parts.hostname:
        raise BadRequest("callbackUrl has no host")
    if parts.username or parts.password:
        raise BadRequest("callbackUrl must not carry credentials; use bearerToken")
