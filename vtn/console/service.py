"""Console accounts and sessions: add/invite/reset/list/disable, password sign-in with lock-out, the TOTP
second factor with recovery codes, invitation links, session lifecycle.

Sessions, invitation links and recovery codes are opaque random values; the database keeps only their
SHA-256, so a leaked database dump cannot be replayed as a cookie, a link or a code. Each session carries
its own CSRF token. (The TOTP secret itself must be stored as is: the server computes codes from it.)
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
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from vtn.audit import service as audit
from vtn.console import totp
from vtn.console.models import AccountRole, ConsoleInvitation, ConsoleRecoveryCode, ConsoleSession, ConsoleUser
from vtn.core.database import Database, all_rows, get_or_404, utcnow
from vtn.core.errors import ApiError, BadRequest, Conflict, Forbidden, NotFound
from vtn.core.settings import Settings

_hasher = PasswordHasher()
# Verified when the username is unknown, so the answer takes as long as for a real account.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{32,128}$")  # what secrets.token_urlsafe(32) gives
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


def _new_user(username: str, role: AccountRole | str, ven_names: list[str] | None, operator: str = "") -> ConsoleUser:
    """A checked, not yet stored account of `operator` (the tenant), without password. FSP accounts must name at
    least one VEN; operators none."""
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
    return ConsoleUser(username=username, password_hash=None, role=role.value, ven_names=names, operator=operator,
                       created_at=utcnow())


async def _store_new_user(
    session: AsyncSession, user: ConsoleUser, action: str, actor: audit.Actor | None
) -> ConsoleUser:
    if await session.get(ConsoleUser, user.username) is not None:
        raise BadRequest(f"user {user.username!r} already exists")
    session.add(user)
    await session.flush()
    await audit.record(session, actor or audit.Actor.local(), action, "console_user", user.username,
                       detail={"role": user.role, "venNames": user.ven_names}, operator=user.operator)
    return user


async def add_user(
    session: AsyncSession, username: str, role: AccountRole | str, password: str, ven_names: list[str] | None = None,
    operator: str = "", *, actor: audit.Actor | None = None,
) -> ConsoleUser:
    """Create an account with a password (typed by the administrator; `invite_user` lets the person choose it).
    `actor`: default the local user."""
    user = _new_user(username, role, ven_names, operator)
    _check_password(password)
    user.password_hash = await asyncio.to_thread(_hasher.hash, password)
    return await _store_new_user(session, user, "user.add", actor)


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
    """New password; every existing session of the account ends, and an open invitation is withdrawn."""
    _check_password(password)
    user = await get_user(session, username)
    user.password_hash = await asyncio.to_thread(_hasher.hash, password)
    user.failed_attempts, user.locked_until = 0, None
    session.add(user)
    await session.exec(delete(ConsoleSession).where(ConsoleSession.username == username))  # type: ignore[call-overload]
    await _withdraw_invitations(session, username)
    await audit.record(session, actor or audit.Actor.local(), "user.set_password", "console_user", username,
                       operator=user.operator)
    return user


def must_enrol(user: ConsoleUser, settings: Settings) -> bool:
    """An operator without a second factor, when the VTN requires one: the console shows only the enrolment page."""
    return settings.console_require_mfa and user.role == AccountRole.OPERATOR and not user.has_totp


# ---------------------------------------------------------------------------------------------- invitations


@dataclass(frozen=True)
class IssuedInvitation:
    username: str
    token: str  # goes into the link; not stored
    expires_at: datetime


def invitation_url(settings: Settings, token: str) -> str:
    """`<public console URL>/invite/<token>`; the public URL is `VTN_PUBLIC_URL`, else http://host:port."""
    base = (settings.public_url or f"http://{settings.host}:{settings.port}").rstrip("/")
    return f"{base}{settings.console_path}/invite/{token}"


async def _withdraw_invitations(session: AsyncSession, username: str) -> None:
    """Unused links of the account stop working (a newer link, or a password set otherwise, replaces them)."""
    await session.exec(delete(ConsoleInvitation).where(  # type: ignore[call-overload]
        ConsoleInvitation.username == username, ConsoleInvitation.used_at.is_(None)))  # type: ignore[union-attr]


async def _issue_invitation(session: AsyncSession, username: str, settings: Settings, now: datetime) -> IssuedInvitation:
    await _withdraw_invitations(session, username)
    token = secrets.token_urlsafe(32)
    expires_at = now + timedelta(seconds=settings.console_invitation_seconds)
    session.add(ConsoleInvitation(token_hash=_hash_id(token), username=username, created_at=now, expires_at=expires_at))
    await session.flush()
    return IssuedInvitation(username, token, expires_at)


async def invite_user(
    session: AsyncSession, username: str, role: AccountRole | str, ven_names: list[str] | None, settings: Settings,
    now: datetime | None = None, operator: str = "", *, actor: audit.Actor | None = None,
) -> IssuedInvitation:
    """Create an account of `operator` without a password and a one-time link with which its person chooses one."""
    user = await _store_new_user(session, _new_user(username, role, ven_names, operator), "user.invite", actor)
    return await _issue_invitation(session, user.username, settings, now or utcnow())


async def reset_user(session: AsyncSession, username: str, settings: Settings, now: datetime | None = None) -> IssuedInvitation:
    """A lost device or password: password, second factor and recovery codes are cleared, sessions end, a new link."""
    user = await get_user(session, username)
    user.password_hash = None
    user.totp_secret, user.totp_enabled_at, user.totp_last_step = None, None, None
    user.failed_attempts, user.locked_until = 0, None
    session.add(user)
    await session.exec(delete(ConsoleSession).where(ConsoleSession.username == username))  # type: ignore[call-overload]
    await session.exec(delete(ConsoleRecoveryCode).where(ConsoleRecoveryCode.username == username))  # type: ignore[call-overload]
    return await _issue_invitation(session, username, settings, now or utcnow())


async def open_invitation(
    session: AsyncSession, token: str, now: datetime | None = None, *, lock: bool = False
) -> tuple[ConsoleInvitation, ConsoleUser]:
    """The invitation of a link and its account, or an error page's reason: unknown 404, used or expired 410."""
    now = now or utcnow()
    found = None
    if TOKEN_PATTERN.fullmatch(token):
        found = await session.get(ConsoleInvitation, _hash_id(token), with_for_update=lock, populate_existing=lock)
    if found is None:
        raise NotFound("This invitation link is not valid. It may have been replaced by a newer one: "
                       "ask the VTN's administrator for a new link.")
    if found.used_at is not None:
        raise ApiError("This invitation link was already used. If that was not you, tell the VTN's administrator; "
                       "to sign in, use the password chosen with it.", status=410)
    if found.expires_at <= now:
        raise ApiError("This invitation link expired. Ask the VTN's administrator for a new one.", status=410)
    user = await session.get(ConsoleUser, found.username, with_for_update=lock, populate_existing=lock)
    if user is None:
        raise NotFound("This invitation link is not valid.")
    if user.disabled:
        raise Forbidden("This account is disabled. Ask the VTN's administrator.")
    return found, user


async def accept_invitation(
    db: Database, token: str, password: str, settings: Settings, *, replaces: str | None = None,
    now: datetime | None = None,
) -> tuple[ConsoleUser, NewSession]:
    """Set the password of an invited account, use up the link, and sign the person in."""
    now = now or utcnow()
    async with db.session(write=False) as session:
        await open_invitation(session, token, now)  # refuse a bad link before the slow hash
    _check_password(password)
    password_hash = await asyncio.to_thread(_hasher.hash, password)  # outside the write transaction (SQLite's lock)
    async with db.session() as session:
        invitation, user = await open_invitation(session, token, now, lock=True)  # again: it may have been used meanwhile
        invitation.used_at = now
        user.password_hash = password_hash
        user.failed_attempts, user.locked_until, user.last_signin_at = 0, None, now
        session.add_all([invitation, user])
        created = await create_session(session, user, settings, replaces=replaces, now=now)
    return user, created


# ---------------------------------------------------------------------------------------------- second factor


async def start_enrolment(db: Database, username: str) -> ConsoleUser:
    """The account with a TOTP secret to show: kept across reloads of the page until a code confirms it."""
    async with db.session() as session:
        user = await get_user(session, username)
        if not user.has_totp and user.totp_secret is None:
            user.totp_secret = totp.new_secret()
            session.add(user)
    return user


async def confirm_enrolment(db: Database, username: str, code: str, now: datetime | None = None) -> list[str] | None:
    """Turn TOTP on when `code` is a current code of the shown secret; the new recovery codes (shown once), else None."""
    now = now or utcnow()
    async with db.session() as session:
        user = await session.get(ConsoleUser, username, with_for_update=True, populate_existing=True)
        if user is None:
            raise NotFound("no such account")
        if user.has_totp:
            raise Conflict("Two-factor sign-in is already on for this account. To move it to a new device, "
                           "ask the VTN's administrator to reset the account.")
        if user.totp_secret is None:
            raise BadRequest("Open the two-factor page again: no secret was shown yet.")
        step = totp.matching_step(user.totp_secret, code.strip(), after=user.totp_last_step, now=now.timestamp())
        if step is None:
            return None
        user.totp_enabled_at, user.totp_last_step = now, step
        session.add(user)
        codes = totp.new_recovery_codes()
        await session.exec(delete(ConsoleRecoveryCode).where(ConsoleRecoveryCode.username == username))  # type: ignore[call-overload]
        session.add_all([ConsoleRecoveryCode(username=username, code_hash=totp.hash_recovery_code(c.replace("-", "")),
                                             created_at=now) for c in codes])
    return codes


async def recovery_codes_left(session: AsyncSession, username: str) -> int:
    rows = await session.exec(select(ConsoleRecoveryCode.code_hash).where(ConsoleRecoveryCode.username == username))
    return len(rows.all())


async def _check_second_factor(session: AsyncSession, user: ConsoleUser, code: str, now: datetime) -> str:
    """"ok", "ok-recovery-code", "replayed" or "wrong-code"; an accepted code or recovery code is used up."""
    assert user.totp_secret is not None
    typed = code.strip()
    if totp.is_code(typed):
        step = totp.matching_step(user.totp_secret, typed, after=user.totp_last_step, now=now.timestamp())
        if step is not None:
            user.totp_last_step = step
            return "ok"
        if totp.matching_step(user.totp_secret, typed, after=None, now=now.timestamp()) is not None:
            return "replayed"
        return "wrong-code"
    normalised = totp.normalise_recovery_code(typed)
    if normalised is not None:
        used = await session.exec(delete(ConsoleRecoveryCode).where(  # type: ignore[call-overload]
            ConsoleRecoveryCode.username == user.username,
            ConsoleRecoveryCode.code_hash == totp.hash_recovery_code(normalised)))
        if used.rowcount == 1:
            return "ok-recovery-code"
    return "wrong-code"


# ---------------------------------------------------------------------------------------------- sign-in


@dataclass(frozen=True)
class SignInResult:
    user: ConsoleUser | None
    # "ok", "ok-recovery-code", "code-needed", "unknown", "no-password", "wrong-password", "wrong-code", "replayed",
    # "wrong-code, now locked", "locked", "disabled", "no-session" - for logs, never shown as is
    reason: str
    session: NewSession | None = None  # the new session when the password (and code) was right

    @property
    def ok(self) -> bool:
        """Signed in: the password, and the code when the account has TOTP, were right."""
        return self.session is not None and not self.session.row.awaiting_code

    @property
    def needs_code(self) -> bool:
        """The password was right; the session opens only the code form until `verify_second_factor`."""
        return self.session is not None and self.session.row.awaiting_code


def _record_failure(user: ConsoleUser, settings: Settings, now: datetime) -> bool:
    """Count a failed password or code; True when this failure locks the account."""
    user.failed_attempts += 1
    if user.failed_attempts >= settings.console_lockout_failures:
        user.failed_attempts = 0
        user.locked_until = now + timedelta(seconds=settings.console_lockout_seconds)
        return True
    return False


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
        if not result.ok and not result.needs_code:
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

    An account with TOTP gets a session that only opens the code form (`SignInResult.needs_code`), and its
    failure count is not reset: only a right code ends the series, so the password cannot be used to
    reset the count between code guesses. An invited account without a password cannot sign in.
    """
    now = now or utcnow()
    candidate = password[:MAX_PASSWORD_LENGTH]
    stored = None
    exists = False
    if USERNAME_PATTERN.fullmatch(username):
        async with db.session(write=False) as session:
            found = await session.get(ConsoleUser, username)
            exists, stored = found is not None, found.password_hash if found is not None else None
    ok = await asyncio.to_thread(_verify, stored or _DUMMY_HASH, candidate)
    if stored is None:
        return SignInResult(None, "no-password" if exists else "unknown")
    async with db.session() as session:
        user = await session.get(ConsoleUser, username, with_for_update=True, populate_existing=True)
        if user is None:
            return SignInResult(None, "unknown")
        if user.password_hash is None:  # reset while we verified
            return SignInResult(None, "no-password")
        if user.password_hash != stored:  # changed while we verified: judge against the current one
            ok = await asyncio.to_thread(_verify, user.password_hash, candidate)
        if user.disabled:
            return SignInResult(None, "disabled")
        if user.locked_until is not None and user.locked_until > now:
            return SignInResult(None, "locked")
        if not ok:
            _record_failure(user, settings, now)
            session.add(user)
            return SignInResult(None, "wrong-password")
        if user.has_totp:  # audited when the code completes it (`verify_second_factor`)
            created = await create_session(session, user, settings, replaces=replaces, now=now, awaiting_code=True)
            reason = "code-needed"
        else:
            user.failed_attempts, user.locked_until, user.last_signin_at = 0, None, now
            session.add(user)
            created = await create_session(session, user, settings, replaces=replaces, now=now)
            reason = "ok"
            await audit.record(session, _signin_actor(username, user.role), "console.signin", "console_user", username,
                               detail={"address": address}, operator=user.operator)
    if _hasher.check_needs_rehash(stored):  # outside the transaction, as above
        rehashed = await asyncio.to_thread(_hasher.hash, candidate)
        async with db.session() as session:
            current = await session.get(ConsoleUser, username, with_for_update=True)
            if current is not None and current.password_hash == stored:
                current.password_hash = rehashed
                session.add(current)
    return SignInResult(user, reason, created)


async def verify_second_factor(
    db: Database, token: str, code: str, settings: Settings, *, now: datetime | None = None
) -> SignInResult:
    """Second sign-in step: the code (or a recovery code, used up) of the session awaiting it (`token`).

    Right: that session is replaced by a full one (new id and CSRF token). Wrong or replayed: counted toward
    the lock-out like a wrong password; when it locks the account, the waiting session ends too.
    """
    now = now or utcnow()
    if not token or len(token) > 128:
        return SignInResult(None, "no-session")
    async with db.session() as session:
        row = await session.get(ConsoleSession, _hash_id(token), with_for_update=True, populate_existing=True)
        if row is None or not row.awaiting_code or row.expires_at <= now:
            return SignInResult(None, "no-session")
        user = await session.get(ConsoleUser, row.username, with_for_update=True, populate_existing=True)
        if user is None or user.disabled or not user.has_totp:
            await session.delete(row)
            return SignInResult(None, "disabled" if user is not None and user.disabled else "no-session")
        if user.locked_until is not None and user.locked_until > now:
            await session.delete(row)
            return SignInResult(None, "locked")
        reason = await _check_second_factor(session, user, code[:64], now)
        if not reason.startswith("ok"):
            locked = _record_failure(user, settings, now)
            session.add(user)
            await audit.record(session, _signin_actor(user.username, user.role), "console.signin", "console_user",
                               user.username, audit.Outcome.FAILURE, {"reason": f"second factor: {reason}"},
                               operator=user.operator)
            if locked:
                await session.delete(row)
                return SignInResult(None, f"{reason}, now locked")
            return SignInResult(None, reason)
        user.failed_attempts, user.locked_until, user.last_signin_at = 0, None, now
        session.add(user)
        await session.delete(row)
        created = await create_session(session, user, settings, now=now)
        await audit.record(session, _signin_actor(user.username, user.role), "console.signin", "console_user",
                           user.username, detail={"secondFactor": reason}, operator=user.operator)
    return SignInResult(user, reason, created)


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
    now: datetime | None = None, awaiting_code: bool = False,
) -> NewSession:
    """A fresh session for `user` (a new id and CSRF token on every sign-in, so a planted id is useless).

    `replaces` is the cookie the browser presented, if any: that session is ended. Expired rows of
    every account are swept here, which keeps the table small without a background job. A session
    `awaiting_code` lasts `console_code_step_seconds` and opens only the code form.
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
        expires_at=now + timedelta(seconds=settings.console_code_step_seconds if awaiting_code
                                   else settings.console_session_max_seconds),
        awaiting_code=awaiting_code,
    )
    session.add(row)
    await session.flush()
    return NewSession(token, row)


async def lookup_session(
    session: AsyncSession, token: str, settings: Settings, now: datetime | None = None, *, awaiting_code: bool = False
) -> tuple[ConsoleSession, ConsoleUser] | None:
    """The live session of this cookie and its enabled account, or None (unknown, idle, expired, disabled).

    Only signed-in sessions, or with `awaiting_code=True` only those waiting for the second factor.
    """
    if not token or len(token) > 128:
        return None
    now = now or utcnow()
    row = await session.get(ConsoleSession, _hash_id(token))
    if row is None or row.expires_at <= now or row.awaiting_code != awaiting_code:
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
