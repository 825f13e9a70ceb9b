"""Console accounts and sessions: add/list/disable, password sign-in with lock-out, session lifecycle.

Sessions are opaque random ids (the cookie); the database keeps only their SHA-256, so a leaked
database dump cannot be replayed as a cookie. Each session carries its own CSRF token.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import re
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, or_
from sqlmodel.ext.asyncio.session import AsyncSession

from vtn.audit import service as audit
from vtn.console.models import AccountRole, ConsoleSession, ConsoleUser
from vtn.core.database import Database, all_rows, get_or_404, utcnow
from vtn.core.errors import BadRequest
from vtn.core.settings import Settings

_hasher = PasswordHasher()
# Verified when the username is unknown, so the answer takes as long as for a real account.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
VEN_NAME_MAX = 128
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024  # argon2 hashes anything, but an unbounded input is a cheap DoS


def _hash_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadRequest(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise BadRequest(f"the password may have at most {MAX_PASSWORD_LENGTH} characters")


# ---------------------------------------------------------------------------------------------- accounts


async def add_user(
    session: AsyncSession, username: str, role: AccountRole | str, password: str, ven_names: list[str] | None = None,
    operator: str = "",
    *, actor: audit.Actor | None = None,
) -> ConsoleUser:
    """Create an account of `operator` (the tenant). FSP accounts must name at least one VEN; operators none.
    `actor`: default the local user."""
    from vtn.auth.service import check_operator_id

    check_operator_id(operator)
    try:
        role = AccountRole(role)
    except ValueError:
        raise BadRequest(f"role must be one of {', '.join(r.value for r in AccountRole)}") from None
    if not USERNAME_PATTERN.fullmatch(username):
        raise BadRequest("a username is 1-64 characters: letters, digits and . _ @ - (starting with a letter or digit)")
    names = list(dict.fromkeys(v.strip() for v in ven_names or []))
    if role == AccountRole.FSP and not names:
        raise BadRequest("an FSP account must be bound to at least one VEN name (--ven)")
    if role == AccountRole.OPERATOR and names:
        raise BadRequest("an operator account sees every VEN; do not bind it to VEN names")
    if any(not v or len(v) > VEN_NAME_MAX for v in names):
        raise BadRequest(f"VEN names are 1-{VEN_NAME_MAX} characters")
    _check_password(password)
    if await session.get(ConsoleUser, username) is not None:
        raise BadRequest(f"user {username!r} already exists")
    user = ConsoleUser(
        username=username,
        password_hash=await asyncio.to_thread(_hasher.hash, password),
        role=role.value,
        ven_names=names,
        operator=operator,
        created_at=utcnow(),
    )
    session.add(user)
    await session.flush()
    await audit.record(session, actor or audit.Actor.local(), "user.add", "console_user", username,
                       detail={"role": role.value, "venNames": names}, operator=operator)
    return user


async def list_users(session: AsyncSession) -> list[ConsoleUser]:
    return await all_rows(session, ConsoleUser, ConsoleUser.username)


async def get_user(session: AsyncSession, username: str) -> ConsoleUser:
    return await get_or_404(session, ConsoleUser, username, "user")


async def set_disabled(session: AsyncSession, username: str, disabled: bool, *, actor: audit.Actor | None = None) -> ConsoleUser:
    """Disable (all its sessions end at once) or enable (the lock-out is cleared too) an account."""
    user = await get_user(session, username)
    user.disabled = disabled
    if disabled:
        await session.exec(delete(ConsoleSession).where(ConsoleSession.username == username))  # type: ignore[call-overload]
    else:
        user.failed_attempts, user.locked_until = 0, None
    session.add(user)
    await audit.record(session, actor or audit.Actor.local(), "user.disable" if disabled else "user.enable", "console_user",
                       username, operator=user.operator)
    return user


async def set_password(session: AsyncSession, username: str, password: str, *, actor: audit.Actor | None = None) -> ConsoleUser:
    """New password; every existing session of the account ends."""
    _check_password(password)
    user = await get_user(session, username)
    user.password_hash = await asyncio.to_thread(_hasher.hash, password)
    user.failed_attempts, user.locked_until = 0, None
    session.add(user)
    await session.exec(delete(ConsoleSession).where(ConsoleSession.username == username))  # type: ignore[call-overload]
    await audit.record(session, actor or audit.Actor.local(), "user.set_password", "console_user", username,
                       operator=user.operator)
    return user


# ---------------------------------------------------------------------------------------------- sign-in


@dataclass(frozen=True)
class SignInResult:
    user: ConsoleUser | None
    reason: str  # "ok", "unknown", "wrong-password", "locked", "disabled" - for logs, never shown as is
    session: NewSession | None = None  # the new session when the sign-in succeeded

    @property
    def ok(self) -> bool:
        return self.user is not None


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


# ---- audit of sign-ins: a success is recorded in the transaction that opens the session (below); a failure
# here, in a short transaction of its own, because a failed attempt either writes nothing to join or raises
# (its transaction then rolls back), and a refused sign-in must leave its line precisely then.
SIGNIN_REFUSED = frozenset({"locked", "disabled"})  # not even checked: refused; unknown or wrong password: failure


def _signin_actor(username: str, role: str) -> audit.Actor:
    return audit.Actor(f"console:{audit.clean(username, 64)}", role)


def _audit_failed_signins(authenticate: Callable[..., Awaitable[SignInResult]]) -> Callable[..., Awaitable[SignInResult]]:
    @functools.wraps(authenticate)
    async def audited(db: Database, username: str, password: str, settings: Settings, **kw: object) -> SignInResult:
        address = kw.get("address")
        try:
            result = await authenticate(db, username, password, settings, **kw)
        except Exception as exc:
            reason = f"error: {type(exc).__name__}"
            await audit.record_apart(db, _signin_actor(username, "anonymous"), "console.signin", "console_user",
                                     audit.clean(username, 64), audit.Outcome.FAILURE, {"reason": reason, "address": address})
            raise
        if not result.ok:
            outcome = audit.Outcome.REFUSED if result.reason in SIGNIN_REFUSED else audit.Outcome.FAILURE
            await audit.record_apart(db, _signin_actor(username, "anonymous"), "console.signin", "console_user",
                                     audit.clean(username, 64), outcome, {"reason": result.reason, "address": address})
        return result

    return audited


@_audit_failed_signins
async def authenticate(
    db: Database, username: str, password: str, settings: Settings, *, replaces: str | None = None,
    now: datetime | None = None, address: str | None = None,
) -> SignInResult:
    """Check a password and, when it is right, open a session (`SignInResult.session`).

    A hash is verified on every path, so response time does not tell which usernames exist; a name
    that cannot be an account (see `USERNAME_PATTERN`) is not even looked up (PostgreSQL refuses NUL).
    The hash is verified outside any transaction: on SQLite a write transaction holds the database's
    only write lock, which a stream of sign-in attempts must not be able to keep. The outcome is then
    recorded on the row re-read under a row lock (`FOR UPDATE`; SQLite's write transactions are
    serialised anyway), so parallel attempts cannot each see zero failures and slip past the lock-out.
    `console_lockout_failures` consecutive failures lock the account for `console_lockout_seconds`;
    while locked even the right password is refused. `replaces` is the cookie the browser presented;
    `address` the client's, for the audit log.
    """
    now = now or utcnow()
    candidate = password[:MAX_PASSWORD_LENGTH]
    stored = None
    if USERNAME_PATTERN.fullmatch(username):
        async with db.session(write=False) as session:
            found = await session.get(ConsoleUser, username)
            stored = found.password_hash if found is not None else None
    ok = await asyncio.to_thread(_verify, stored or _DUMMY_HASH, candidate)
    if stored is None:
        return SignInResult(None, "unknown")
    async with db.session() as session:
        user = await session.get(ConsoleUser, username, with_for_update=True, populate_existing=True)
        if user is None:
            return SignInResult(None, "unknown")
        if user.password_hash != stored:  # changed while we verified: judge against the current one
            ok = await asyncio.to_thread(_verify, user.password_hash, candidate)
        if user.disabled:
            return SignInResult(None, "disabled")
        if user.locked_until is not None and user.locked_until > now:
            return SignInResult(None, "locked")
        if not ok:
            user.failed_attempts += 1
            if user.failed_attempts >= settings.console_lockout_failures:
                user.failed_attempts = 0
                user.locked_until = now + timedelta(seconds=settings.console_lockout_seconds)
            session.add(user)
            return SignInResult(None, "wrong-password")
        user.failed_attempts, user.locked_until, user.last_signin_at = 0, None, now
        session.add(user)
        created = await create_session(session, user, settings, replaces=replaces, now=now)
        await audit.record(session, _signin_actor(username, user.role), "console.signin", "console_user", username,
                           detail={"address": address}, operator=user.operator)
    if _hasher.check_needs_rehash(stored):  # outside the transaction, as above
        rehashed = await asyncio.to_thread(_hasher.hash, candidate)
        async with db.session() as session:
            current = await session.get(ConsoleUser, username, with_for_update=True)
            if current is not None and current.password_hash == stored:
                current.password_hash = rehashed
                session.add(current)
    return SignInResult(user, "ok", created)


class SignInLimiter:
    """Sign-in attempts in a sliding window, in this process's memory: at most `limit` per (client address,
    username) and `ADDRESS_FACTOR * limit` per client address over all usernames.

    The account lock-out (in the database) protects one account across processes; this limiter
    slows down one client hammering the form, including for usernames that do not exist, and one
    client trying a password against many usernames (spraying), which no single lock-out sees.
    """

    ADDRESS_FACTOR = 5

    def __init__(self, limit: int, window_seconds: float) -> None:
        self.limit = limit
        self.window = window_seconds
        self._hits: dict[tuple[str, str | None], deque[float]] = {}

    def _queue(self, key: tuple[str, str | None], now: float) -> deque[float]:
        queue = self._hits.setdefault(key, deque())
        while queue and queue[0] <= now - self.window:
            queue.popleft()
        return queue

    def hit(self, address: str, username: str) -> float | None:
        """Record an attempt; None if allowed, else the seconds to wait."""
        now = time.monotonic()
        if len(self._hits) > 10_000:  # forget idle keys so the map stays bounded
            self._hits = {k: q for k, q in self._hits.items() if q and q[-1] > now - self.window}
        # The key is the name as the account table would match it (case and spaces are not ways round it).
        per_name = self._queue((address, username.strip().lower()[:64]), now)
        per_address = self._queue((address, None), now)
        for queue, limit in ((per_name, self.limit), (per_address, self.limit * self.ADDRESS_FACTOR)):
            if len(queue) >= limit:
                return max(1.0, queue[0] + self.window - now)
        per_name.append(now)
        per_address.append(now)
        return None


# ---------------------------------------------------------------------------------------------- sessions


@dataclass(frozen=True)
class NewSession:
    token: str  # goes into the cookie; not stored
    row: ConsoleSession


async def create_session(
    session: AsyncSession, user: ConsoleUser, settings: Settings, *, replaces: str | None = None,
    now: datetime | None = None,
) -> NewSession:
    """A fresh session for `user` (a new id and CSRF token on every sign-in, so a planted id is useless).

    `replaces` is the cookie the browser presented, if any: that session is ended. Expired rows of
    every account are swept here, which keeps the table small without a background job.
    """
    now = now or utcnow()
    if replaces:
        await session.exec(delete(ConsoleSession).where(ConsoleSession.id_hash == _hash_id(replaces)))  # type: ignore[call-overload]
    idle_cutoff = now - timedelta(seconds=settings.console_session_idle_seconds)
    await session.exec(
        delete(ConsoleSession).where(or_(ConsoleSession.expires_at <= now, ConsoleSession.last_seen <= idle_cutoff))  # type: ignore[call-overload, arg-type]
    )
    token = secrets.token_urlsafe(32)
    row = ConsoleSession(
        id_hash=_hash_id(token),
        username=user.username,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen=now,
        expires_at=now + timedelta(seconds=settings.console_session_max_seconds),
    )
    session.add(row)
    await session.flush()
    return NewSession(token, row)


async def lookup_session(
    session: AsyncSession, token: str, settings: Settings, now: datetime | None = None
) -> tuple[ConsoleSession, ConsoleUser] | None:
    """The live session of this cookie and its enabled account, or None (unknown, idle, expired, disabled)."""
    if not token or len(token) > 128:
        return None
    now = now or utcnow()
    row = await session.get(ConsoleSession, _hash_id(token))
    if row is None or row.expires_at <= now:
        return None
    if row.last_seen + timedelta(seconds=settings.console_session_idle_seconds) <= now:
        return None
    user = await session.get(ConsoleUser, row.username)
    if user is None or user.disabled:
        return None
    return row, user


def touch_interval(settings: Settings) -> float:
    """How stale `last_seen` may get before a request writes it (no write on every page view)."""
    return min(60.0, settings.console_session_idle_seconds / 4)


async def touch_session(session: AsyncSession, id_hash: str, now: datetime | None = None) -> None:
    row = await session.get(ConsoleSession, id_hash)
    if row is not None:
        row.last_seen = now or utcnow()
        session.add(row)


async def end_session(session: AsyncSession, token: str) -> None:
    """Sign-out: the session row is deleted, so the cookie is worthless even if kept."""
    await session.exec(delete(ConsoleSession).where(ConsoleSession.id_hash == _hash_id(token)))  # type: ignore[call-overload]
