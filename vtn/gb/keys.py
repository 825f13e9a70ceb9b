"""Keys the VTN verifies GB signatures with (docs/gb-profile.md §7).

- FSP keys: registered by the network operator (`vtn gb fsp-key add`), one row per (operator, ven name, kid).
  A key an FSP publishes itself (on its ven object, in a report) is never trusted: the FSP could then sign
  for itself whatever it likes, which is what the signature is meant to rule out.
- Operator keys: the public part of the console's signing key (`VTN_GB_SIGNING_KEY_FILE`) and any further
  public keys in `VTN_GB_OPERATOR_KEYS_FILE` (keys retired by rotation, keys the control room's CLI signs with).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from joserfc.jwk import ECKey
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from gb_profile.signing import KeyRing, SignatureCheck, check_signature, read_keys, read_signing_key
from vtn.audit.service import Actor, record
from vtn.core.database import utcnow
from vtn.core.errors import BadRequest, Conflict, NotFound
from vtn.gb.models import FspKeyRow

NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,128}$")


def _public(key: ECKey) -> ECKey:
    return ECKey.import_key(key.as_dict(private=False))


# --------------------------------------------------------------------------------------------- FSP keys


async def add_fsp_key(session: AsyncSession, actor: Actor, operator: str, ven_name: str, key: ECKey) -> FspKeyRow:
    """Register the public part of `key` for the FSP `ven_name` of `operator` (409 when that kid is registered)."""
    if not NAME.match(ven_name):
        raise BadRequest("the ven name must be 1-128 printable characters")
    if not key.kid or not NAME.match(key.kid):
        raise BadRequest("an FSP key needs a kid of 1-128 printable characters (give --kid)")
    if key.as_dict(private=False).get("crv") != "P-256":
        raise BadRequest("GB signatures are ES256: the key must be an EC P-256 key")
    existing = await _find(session, operator, ven_name, key.kid)
    if existing is not None:
        raise Conflict(f"key {key.kid!r} of {ven_name!r} is registered already; remove it first to replace it")
    row = FspKeyRow(operator=operator, ven_name=ven_name, kid=key.kid, jwk=_public(key).as_dict(private=False),
                    created_at=utcnow(), created_by=actor.id)
    session.add(row)
    try:
        await session.flush()
    except IntegrityError:  # registered concurrently
        raise Conflict(f"key {key.kid!r} of {ven_name!r} is registered already") from None
    await record(session, actor, "gb.fsp_key.add", "gb_fsp_key", f"{ven_name}/{key.kid}",
                 detail={"venName": ven_name, "kid": key.kid, "thumbprint": key.thumbprint()}, operator=operator)
    return row


async def _find(session: AsyncSession, operator: str, ven_name: str, kid: str) -> FspKeyRow | None:
    query = select(FspKeyRow).where(FspKeyRow.operator == operator, FspKeyRow.ven_name == ven_name, FspKeyRow.kid == kid)
    return (await session.exec(query)).first()


async def list_fsp_keys(session: AsyncSession, operator: str | None = None, ven_names: Iterable[str] | None = None
                        ) -> list[FspKeyRow]:
    """Registered FSP keys, of one operator (None: all) and of some FSPs (None: all), by operator, FSP, kid."""
    query = select(FspKeyRow)
    if operator is not None:
        query = query.where(FspKeyRow.operator == operator)
    if ven_names is not None:
        query = query.where(col(FspKeyRow.ven_name).in_(sorted(set(ven_names))))
    query = query.order_by(col(FspKeyRow.operator), col(FspKeyRow.ven_name), col(FspKeyRow.kid))
    return list((await session.exec(query)).all())


async def remove_fsp_key(session: AsyncSession, actor: Actor, operator: str, ven_name: str, kid: str) -> None:
    """Unregister a key: reports signed with it stop verifying (old ones then show "no key to verify")."""
    row = await _find(session, operator, ven_name, kid)
    if row is None:
        raise NotFound(f"no key {kid!r} registered for {ven_name!r}" + (f" of operator {operator!r}" if operator else ""))
    await session.delete(row)
    await session.flush()
    await record(session, actor, "gb.fsp_key.remove", "gb_fsp_key", f"{ven_name}/{kid}",
                 detail={"venName": ven_name, "kid": kid}, operator=operator)


def ring_of(rows: Iterable[FspKeyRow]) -> KeyRing | None:
    """The key ring of registered FSP keys, each bound to its FSP (None when there are none)."""
    ring = KeyRing()
    for row in rows:
        ring.add(row.ven_name, row.jwk)
    return ring if ring.keys else None


def fsp_rings(rows: Iterable[FspKeyRow]) -> dict[str, KeyRing]:
    """One ring per FSP (two FSPs may choose the same kid)."""
    rings: dict[str, KeyRing] = {}
    for row in rows:
        rings.setdefault(row.ven_name, KeyRing()).add(row.ven_name, row.jwk)
    return rings


def report_signature(document: Mapping[str, Any], rings: Mapping[str, KeyRing]) -> SignatureCheck:
    """The verified state of a stored report's signature, against its signer's (clientName's) registered keys."""
    return check_signature(document, rings.get(str(document.get("clientName"))))


async def fsp_key_ring(session: AsyncSession, operator: str, ven_names: Iterable[str]) -> KeyRing | None:
    """What the VTN verifies `ven_names`' reports with; None when none of them has a registered key."""
    return ring_of(await list_fsp_keys(session, operator, ven_names))


# --------------------------------------------------------------------------------------------- operator keys

_cache: dict[tuple[Any, ...], list[ECKey]] = {}


def _stamp(path: str | None) -> float | None:
    try:
        return os.stat(path).st_mtime if path else None
    except OSError:
        return None


def operator_public_keys(settings: Any) -> list[ECKey]:
    """The operator's public keys: the signing key's and those of `gb_operator_keys_file` (read again when changed).

    OSError / ValueError when a configured file cannot be read: a misconfiguration must not look like "unsigned".
    """
    signing, kid = getattr(settings, "gb_signing_key_file", None), getattr(settings, "gb_signing_kid", None)
    extra = getattr(settings, "gb_operator_keys_file", None)
    stamp = (signing, kid, _stamp(signing), extra, _stamp(extra))
    if stamp not in _cache:
        keys = [_public(read_signing_key(Path(signing), kid))] if signing else []
        for key in read_keys(Path(extra)) if extra else ():
            if not key.kid:
                raise ValueError(f"{extra}: every operator key needs a kid")
            keys.append(_public(key))
        _cache.clear()
        _cache[stamp] = keys
    return list(_cache[stamp])


def operator_ring(keys: Iterable[ECKey], event: Mapping[str, Any]) -> KeyRing | None:
    """A ring binding this VTN's operator keys to the operator named by the event (eventName prefix).

    The VTN's keys sign for every operator it hosts (the console signs with one key), so they are trusted for
    whichever operator the dispatch names; None when there are no keys.
    """
    party = str(event.get("eventName") or "").split(":", 1)[0]
    ring = KeyRing()
    for key in keys:
        ring.add(party, key)
    return ring if ring.keys else None
