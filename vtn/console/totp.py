"""TOTP (RFC 6238) and recovery codes for console accounts: pure functions, no database.

pyotp computes the codes; this module adds what pyotp's `verify` does not give: the time step a code
matched, so the caller can refuse a code whose step was already used (replay). QR codes are drawn with
segno as an SVG data URI, so the enrolment page loads nothing from anywhere (CSP `img-src 'self' data:`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time

import pyotp
import segno

DIGITS = 6
STEP_SECONDS = 30
DRIFT_STEPS = 1  # one step either side: clocks of phones and servers drift, and typing takes time
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read from paper
_RECOVERY_LENGTH = 16  # 16 symbols of 31: about 79 bits, so a plain SHA-256 of it cannot be brute-forced
_CODE = re.compile(rf"^\d{{{DIGITS}}}$")


def new_secret() -> str:
    """A 160-bit base32 secret (RFC 4226 recommends 160 bits)."""
    return pyotp.random_base32(32)


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)


def provisioning_uri(secret: str, username: str, issuer: str) -> str:
    """The `otpauth://totp/…` URI an authenticator app reads from the QR code."""
    return _totp(secret).provisioning_uri(name=username, issuer_name=issuer)


def qr_data_uri(uri: str) -> str:
    """The QR code of `uri` as an SVG `data:` URI (no request leaves the page)."""
    return str(segno.make(uri, error="m").svg_data_uri(scale=5, border=4, dark="#000", light="#fff"))


def grouped(secret: str) -> str:
    """The secret in groups of four, as people type it into an app."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def current_step(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // STEP_SECONDS)


def is_code(text: str) -> bool:
    return bool(_CODE.fullmatch(text))


def matching_step(secret: str, code: str, *, after: int | None, now: float | None = None) -> int | None:
    """The time step (within the drift window) whose code is `code` and that is later than `after`, else None.

    Refusing every step up to the last one accepted makes each code single-use, and also an older code
    seen after a newer one was used (RFC 6238 §5.2).
    """
    if not is_code(code):
        return None
    totp = _totp(secret)
    here = current_step(now)
    for step in range(here - DRIFT_STEPS, here + DRIFT_STEPS + 1):
        if (after is None or step > after) and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def new_recovery_codes(count: int = RECOVERY_CODES) -> list[str]:
    """Fresh codes formatted `XXXX-XXXX-XXXX-XXXX`; show them once and store only `hash_recovery_code`."""
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
        codes.append("-".join(raw[i:i + 4] for i in range(0, _RECOVERY_LENGTH, 4)))
    return codes


def normalise_recovery_code(text: str) -> str | None:
    """A typed recovery code without spaces and dashes, upper case; None if it cannot be one."""
    raw = re.sub(r"[\s-]", "", text).upper()
    if len(raw) != _RECOVERY_LENGTH or any(c not in _RECOVERY_ALPHABET for c in raw):
        return None
    return raw


def hash_recovery_code(normalised: str) -> str:
    return hashlib.sha256(normalised.encode()).hexdigest()
