"""Signed dispatches and reports: detached JWS (ES256) over a canonical JSON form (docs/gb-profile.md §7).

Canonical form of an event or report: the object as the OpenADR 3.0.1 schema reads it (unknown
properties dropped, absent == null), without the VTN-provisioned `id`, `createdDateTime`,
`modificationDateTime`, `objectType` and without every `GB_SIGNATURE` payload, date-times rendered in
UTC with `Z`, serialised RFC 8785 style (sorted keys, no whitespace, ECMAScript number form).
The signature is a compact JWS with detached payload (`<header>..<signature>`), protected header
`{"alg": "ES256", "kid": ..., "cty": "gb-flex-event" | "gb-flex-report"}`.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from gb_profile import model as m
from openadr3.models import PROVISIONED_FIELDS, Event, Report, ValuesMap

ALGORITHM = "ES256"
CTY_EVENT = "gb-flex-event"
CTY_REPORT = "gb-flex-report"


class SignatureError(ValueError):
    pass


# --- canonical JSON --------------------------------------------------------------------------


def _number(value: float | int) -> str:
    """ECMAScript Number::toString of the IEEE double (RFC 8785 §3.2.2.3): shortest round-trip digits,
    plain notation for 1e-6 <= |x| < 1e21, else `d.ddde±n`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and abs(value) < 2**53:
        return str(value)
    value = float(value)
    if not math.isfinite(value):
        raise SignatureError("NaN and infinity cannot be canonicalised")
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    shortest = Decimal(repr(abs(value))).normalize()
    digits = "".join(map(str, shortest.as_tuple().digits))
    n = shortest.adjusted() + 1  # value = 0.<digits> x 10^n
    k = len(digits)
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = f"{digits[:n]}.{digits[n:]}"
    elif -6 < n <= 0:
        text = "0." + "0" * -n + digits
    else:
        mantissa = digits[0] + (f".{digits[1:]}" if k > 1 else "")
        text = f"{mantissa}e{'+' if n - 1 >= 0 else '-'}{abs(n - 1)}"
    return sign + text


def canonical_json(value: Any) -> str:
    """RFC 8785-style serialisation (keys sorted by UTF-16 code units, no whitespace)."""
    if value is None:
        return "null"
    if isinstance(value, bool | int | float):
        return _number(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ",".join(canonical_json(v) for v in value) + "]"
    if isinstance(value, Mapping):
        keys = sorted(value, key=lambda k: k.encode("utf-16-be"))
        return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{canonical_json(value[k])}" for k in keys) + "}"
    raise SignatureError(f"cannot canonicalise {type(value).__name__}")


def _utc_z(text: Any) -> Any:
    if isinstance(text, str):
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return text
        if moment.tzinfo is not None:
            return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return text


def _strip_intervals(intervals: list[dict[str, Any]]) -> None:
    for interval in intervals:
        interval["payloads"] = [p for p in interval.get("payloads", []) if p.get("type") != m.P_SIGNATURE]
        period = interval.get("intervalPeriod")
        if period:
            period["start"] = _utc_z(period.get("start"))


def canonical_form(obj: Event | Report | Mapping[str, Any]) -> bytes:
    """The bytes a GB signature covers."""
    model = _model(obj)
    data = model.dump()
    for key in PROVISIONED_FIELDS:
        data.pop(key, None)
    if isinstance(model, Event):
        _strip_intervals(data.get("intervals", []))
        if data.get("intervalPeriod"):
            data["intervalPeriod"]["start"] = _utc_z(data["intervalPeriod"].get("start"))
    else:
        for resource in data.get("resources", []):
            _strip_intervals(resource.get("intervals", []))
            if resource.get("intervalPeriod"):
                resource["intervalPeriod"]["start"] = _utc_z(resource["intervalPeriod"].get("start"))
    return canonical_json(data).encode()


def _model(obj: Event | Report | Mapping[str, Any]) -> Event | Report:
    if isinstance(obj, Event | Report):
        return obj
    if "eventID" in obj or "resources" in obj:
        return Report.model_validate(obj)
    return Event.model_validate(obj)


# --- keys ------------------------------------------------------------------------------------


def generate_key(kid: str) -> ECKey:
    """A new P-256 key pair for ES256 with key id `kid`."""
    return ECKey.generate_key("P-256", parameters={"kid": kid})


def public_jwk(key: ECKey) -> dict[str, Any]:
    return key.as_dict(private=False)


def read_keys(path: Path, kid: str | None = None) -> list[ECKey]:
    """The EC keys of a PEM file, a JWK or a JWK Set; `kid` names (or renames) the key(s).

    OSError when the file cannot be read, ValueError (naming the file) when it holds no such key.
    """
    raw = path.read_bytes()
    if raw.lstrip().startswith(b"-----BEGIN"):
        documents: list[dict[str, Any] | bytes] = [raw]
    else:
        try:
            document = json.loads(raw)
        except ValueError as exc:
            raise ValueError(f"{path}: neither a PEM file nor JSON (JWK / JWK Set)") from exc
        if isinstance(document, dict) and isinstance(document.get("keys"), list):
            documents = [k for k in document["keys"] if isinstance(k, dict)]
        elif isinstance(document, dict):
            documents = [document]
        else:
            raise ValueError(f"{path}: expected a JWK object or a JWK Set")
    keys = []
    for doc in documents:
        try:
            if isinstance(doc, bytes):
                keys.append(ECKey.import_key(doc, {"kid": kid} if kid else None))
            else:
                keys.append(ECKey.import_key({**doc, "kid": kid} if kid else doc))
        except (ValueError, TypeError, JoseError) as exc:  # joserfc: e.g. KeyParameterError for a JWK without kty
            raise ValueError(f"{path}: not a P-256 EC key ({exc})") from exc
    return keys


@dataclass
class KeyRing:
    """Public keys by kid, each bound to the party (network operator ID or FSP ID) that holds it."""

    keys: dict[str, tuple[str, ECKey]] = field(default_factory=dict)

    def add(self, party_id: str, key: ECKey | Mapping[str, Any]) -> None:
        imported = key if isinstance(key, ECKey) else ECKey.import_key(dict(key))
        public = ECKey.import_key(imported.as_dict(private=False))
        if not public.kid:
            raise SignatureError("a verification key needs a kid")
        self.keys[public.kid] = (party_id, public)

    def lookup(self, kid: str, party_id: str) -> ECKey:
        if kid not in self.keys:
            raise SignatureError(f"unknown key id {kid!r}")
        owner, key = self.keys[kid]
        if owner != party_id:
            raise SignatureError(f"key {kid!r} belongs to {owner!r}, not to the signer {party_id!r}")
        return key


# --- sign / verify ---------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def detached_signature(payload: bytes, key: ECKey, cty: str) -> str:
    if not key.kid:
        raise SignatureError("the signing key needs a kid")
    compact = jws.serialize_compact({"alg": ALGORITHM, "kid": key.kid, "cty": cty}, payload, key, algorithms=[ALGORITHM])
    header, _, signature = compact.split(".")
    return f"{header}..{signature}"


def signature_header(signature: str) -> dict[str, Any]:
    parts = signature.split(".") if isinstance(signature, str) else []
    if len(parts) != 3 or parts[1] != "":
        raise SignatureError("GB_SIGNATURE must be a compact JWS with detached payload '<header>..<signature>'")
    try:
        header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
    except ValueError:
        raise SignatureError("GB_SIGNATURE header is not base64url JSON") from None
    if not isinstance(header, dict) or header.get("alg") != ALGORITHM or not isinstance(header.get("kid"), str):
        raise SignatureError(f"GB_SIGNATURE header must name alg {ALGORITHM} and a kid")
    return header


# joserfc bounds a JWS payload at 128 000 bytes by default; a signed day of per-minute readings is ~200 KB of canonical
# JSON. What reaches a verifier is bounded by the request body limit (VTN_MAX_BODY_BYTES) before it gets here.
_VERIFYING = jws.JWSRegistry(algorithms=[ALGORITHM])
_VERIFYING.max_payload_length = 64 * 1024 * 1024


def verify_detached(signature: str, payload: bytes, key: ECKey, cty: str) -> None:
    header = signature_header(signature)
    if header.get("cty") != cty:
        raise SignatureError(f"signature is for {header.get('cty')!r}, not {cty!r}")
    head, _, sig = signature.split(".")
    try:
        jws.deserialize_compact(f"{head}.{_b64(payload)}.{sig}", key, registry=_VERIFYING)
    except (JoseError, ValueError) as exc:
        raise SignatureError(f"signature does not verify: {exc.__class__.__name__}") from None


def _signatures(payload_lists: list[list[ValuesMap]]) -> list[str]:
    return [v for payloads in payload_lists for p in payloads if p.type == m.P_SIGNATURE for v in p.values]


def sign_event(obj: Event | Mapping[str, Any], key: ECKey) -> Event:
    """A copy of the dispatch event carrying the operator's signature in interval 0."""
    event = _model(obj).model_copy(deep=True)
    if not isinstance(event, Event):
        raise SignatureError("not an event")
    zero = [i for i in event.intervals if i.id == 0]
    if len(zero) != 1:
        raise SignatureError("a signed event needs exactly one metadata interval id 0")
    zero[0].payloads = [p for p in zero[0].payloads if p.type != m.P_SIGNATURE]
    zero[0].payloads.append(ValuesMap(type=m.P_SIGNATURE, values=[detached_signature(canonical_form(event), key, CTY_EVENT)]))
    return event


def _one_signature(found: list[str]) -> str:
    if len(found) != 1:
        raise SignatureError(f"expected exactly one {m.P_SIGNATURE}, found {len(found)}")
    return found[0]


def verify_event(obj: Event | Mapping[str, Any], keys: KeyRing) -> str:
    """Verify the operator signature of a dispatch event; returns the kid. Raises `SignatureError`."""
    event = _model(obj)
    if not isinstance(event, Event):
        raise SignatureError("not an event")
    signature = _one_signature(_signatures([i.payloads for i in event.intervals]))
    operator_id = (event.eventName or "").split(":", 1)[0]
    kid = signature_header(signature)["kid"]
    verify_detached(signature, canonical_form(event), keys.lookup(kid, operator_id), CTY_EVENT)
    return kid


def sign_report(obj: Report | Mapping[str, Any], key: ECKey) -> Report:
    """A copy of the report carrying the FSP's signature in the first interval of the first resource."""
    report = _model(obj).model_copy(deep=True)
    if not isinstance(report, Report) or not report.resources or not report.resources[0].intervals:
        raise SignatureError("a signed report needs at least one resource interval")
    for resource in report.resources:
        for interval in resource.intervals:
            interval.payloads = [p for p in interval.payloads if p.type != m.P_SIGNATURE]
    signature = detached_signature(canonical_form(report), key, CTY_REPORT)
    report.resources[0].intervals[0].payloads.append(ValuesMap(type=m.P_SIGNATURE, values=[signature]))
    return report


def verify_report(obj: Report | Mapping[str, Any], keys: KeyRing) -> str:
    """Verify the FSP signature of a report (signer = `clientName`); returns the kid."""
    report = _model(obj)
    if not isinstance(report, Report):
        raise SignatureError("not a report")
    signature = _one_signature(_signatures([i.payloads for r in report.resources for i in r.intervals]))
    kid = signature_header(signature)["kid"]
    verify_detached(signature, canonical_form(report), keys.lookup(kid, report.clientName), CTY_REPORT)
    return kid


def read_signing_key(path: Path, kid: str | None = None) -> ECKey:
    """The operator's private signing key from a PEM or JWK file, as the console and `vtn gb` use it.

    `kid` names the key; without one the JWK's own kid is kept, else the RFC 7638 thumbprint is used (a GB
    signature must name a kid, GB-E-023). OSError when unreadable, ValueError when it holds no private EC key.
    """
    key = read_keys(path, kid)[0]
    if not key.is_private:
        raise ValueError(f"{path}: a signing key must be a private key")
    if not key.kid:
        key = ECKey.import_key({**key.as_dict(private=True), "kid": key.thumbprint()})
    return key


# --- verification results (console, evidence bundles) -------------------------------------------


class SignatureState(StrEnum):
    """What a stored object's GB_SIGNATURE is worth, as an operator is shown it (docs/gb-profile.md §7)."""

    VERIFIED = "verified"  # it verifies against a key the verifier holds for the signer
    INVALID = "invalid"  # malformed, more than one, a key of another party, or it does not verify
    UNSIGNED = "unsigned"
    NO_KEY = "no_key"  # signed with a kid the verifier holds no key for: nothing can be said


@dataclass(frozen=True)
class SignatureCheck:
    state: SignatureState
    kid: str | None = None
    detail: str | None = None

    @property
    def label(self) -> str:
        return {
            SignatureState.VERIFIED: "signed ✓ verified",
            SignatureState.INVALID: "signature INVALID",
            SignatureState.UNSIGNED: "unsigned",
            SignatureState.NO_KEY: "signed, no key to verify",
        }[self.state]

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state.value, "kid": self.kid, "detail": self.detail}


def found_signatures(obj: Mapping[str, Any]) -> list[Any]:
    """Every GB_SIGNATURE value of a stored event or report document, read without trusting its shape."""
    def payload_values(intervals: Any) -> list[Any]:
        values: list[Any] = []
        for interval in intervals if isinstance(intervals, list) else ():
            for payload in (interval.get("payloads") if isinstance(interval, Mapping) else None) or ():
                if isinstance(payload, Mapping) and payload.get("type") == m.P_SIGNATURE:
                    values.extend(payload.get("values") or [None])
        return values

    if "resources" in obj or "eventID" in obj:
        return [v for r in obj.get("resources") or () if isinstance(r, Mapping) for v in payload_values(r.get("intervals"))]
    return payload_values(obj.get("intervals"))


def check_signature(obj: Mapping[str, Any], keys: KeyRing | None) -> SignatureCheck:
    """Verify the GB_SIGNATURE of a stored event or report document against `keys` (never raises).

    The key is chosen by the header's kid among `keys` only (never from the message); an event must be signed by
    a key of its operator (eventName prefix), a report by a key of its clientName (`KeyRing` binds keys to parties).
    """
    found = found_signatures(obj)
    if not found:
        return SignatureCheck(SignatureState.UNSIGNED)
    if len(found) > 1:
        return SignatureCheck(SignatureState.INVALID, detail=f"{len(found)} GB_SIGNATURE values, at most one allowed")
    try:
        kid = signature_header(found[0])["kid"]
    except SignatureError as exc:
        return SignatureCheck(SignatureState.INVALID, detail=str(exc))
    if keys is None or kid not in keys.keys:
        return SignatureCheck(SignatureState.NO_KEY, kid, f"no key {kid!r} to verify with")
    try:
        model = _model(obj)
        if isinstance(model, Event):
            verify_event(model, keys)
        else:
            verify_report(model, keys)
    except SignatureError as exc:
        return SignatureCheck(SignatureState.INVALID, kid, str(exc))
    except ValueError as exc:  # not a valid event / report any more
        return SignatureCheck(SignatureState.INVALID, kid, f"not a valid object: {exc.__class__.__name__}")
    return SignatureCheck(SignatureState.VERIFIED, kid)


def is_signed(obj: Mapping[str, Any]) -> bool:
    """The stored event or report carries a GB_SIGNATURE (valid or not)."""
    return bool(found_signatures(obj))
