"""The GB flexibility profile in the reference VEN (docs/gb-profile.md, docs/ven.md "GB profile").

    class Battery(GbController):
        async def on_dispatch(self, instruction, previous):
            await my_asset.schedule(instruction.setpoints)      # return Reject("reason") to decline

        async def on_stop(self, instruction, previous):
            await my_asset.release()

    agent = VenAgent(config, GbAdapter(Battery(), config.gb))
    await agent.run()

`GbAdapter` is an `EventHandler`: the agent's new/changed/cancelled detection feeds it OpenADR events,
it decodes each revision of a dispatch into a `gb_profile.model.DispatchInstruction`, verifies the
operator's signature (when keys are configured), calls the controller, and acknowledges the revision
with a read-back `GB_ACK` report (ACCEPTED, or REJECTED with a reason), signed with the FSP key when
one is configured. `GbReporter` sends the other FSP → operator reports (readings, emergency stop,
heartbeat) and works without an agent (the `ven gb ...` commands use it).
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from joserfc.jwk import ECKey

from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.availability import Acceptance
from gb_profile.readings_csv import READINGS_CHUNK, parse_readings_csv
from gb_profile.signing import KeyRing, SignatureError, read_keys, sign_report, verify_event
from gb_profile.validator import is_gb_program
from openadr3.models import Event, Program, Report, ValuesMap
from ven_client.agent import EventHandler
from ven_client.client import VtnClient, VtnError, VtnUnavailable
from ven_client.config import ConfigError, GbSettings, OperatorKeyConfig
from ven_client.timing import ScheduledInterval

if TYPE_CHECKING:
    from ven_client.agent import VenAgent

log = logging.getLogger("ven_client.gb")

__all__ = [
    "DispatchRejected",
    "GbAdapter",
    "GbController",
    "GbReporter",
    "LoggingController",
    "Refusal",
    "Reject",
    "load_operator_keys",
    "load_public_keys",
    "load_signing_key",
]


def utc_now() -> datetime:
    return datetime.now(UTC)


# --- the controller contract -------------------------------------------------------------------


@dataclass(frozen=True)
class Reject:
    """Return this from `on_dispatch` / `on_stop` to acknowledge the revision as REJECTED."""

    reason: str


class DispatchRejected(Exception):
    """Raise this from a controller method to acknowledge the revision as REJECTED with `reason`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


Decision = bool | Reject | None
DispatchCallback = Callable[[m.DispatchInstruction, m.DispatchInstruction | None], Decision | Awaitable[Decision]]


class GbController:
    """Override what you need; methods may be plain functions or coroutines.

    `on_dispatch` / `on_stop` decide the acknowledgement: return None or True to accept, False or
    `Reject(reason)` (or raise `DispatchRejected(reason)`) to reject; any other exception also rejects
    (reason "controller error: ...") and is logged. `self.adapter` is the running `GbAdapter`.
    """

    adapter: GbAdapter | None = None

    def bind(self, adapter: GbAdapter) -> None:
        self.adapter = adapter

    def on_dispatch(self, instruction: m.DispatchInstruction, previous: m.DispatchInstruction | None) -> Any:
        """A new revision with status PRE_NOTIFY, RUN or RUN_NOW (`previous`: the revision before, if seen)."""

    def on_stop(self, instruction: m.DispatchInstruction, previous: m.DispatchInstruction | None) -> Any:
        """A STOP (window truncated), CANCELLED or EMERGENCY_STOP revision: stop acting on the dispatch."""

    def on_deleted(self, instruction: m.DispatchInstruction) -> Any:
        """The dispatch event disappeared from the VTN (deleted, or no longer visible): stop acting on it."""

    def on_setpoint(self, instruction: m.DispatchInstruction, setpoint: m.Setpoint) -> Any:
        """A setpoint of an accepted RUN / RUN_NOW dispatch has just become active."""

    def on_refused(self, event: Event, instruction: m.DispatchInstruction | None, reason: str) -> Any:
        """A dispatch was refused before reaching `on_dispatch` (bad or missing signature, undecodable)."""


class LoggingController(GbController):
    """The default controller: logs every instruction and accepts it."""

    def on_dispatch(self, instruction: m.DispatchInstruction, previous: m.DispatchInstruction | None) -> None:
        log.info("gb dispatch", extra=_describe(instruction))

    def on_stop(self, instruction: m.DispatchInstruction, previous: m.DispatchInstruction | None) -> None:
        log.info("gb dispatch ended", extra=_describe(instruction))

    def on_deleted(self, instruction: m.DispatchInstruction) -> None:
        log.info("gb dispatch deleted", extra=_describe(instruction))

    def on_setpoint(self, instruction: m.DispatchInstruction, setpoint: m.Setpoint) -> None:
        log.info("gb setpoint active", extra={**_describe(instruction), "volume": setpoint.volume, "units": setpoint.units.value,
                                              "kind": setpoint.kind.value, "from": setpoint.timestamp.isoformat()})


class _CallbackController(GbController):
    def __init__(self, on_dispatch: DispatchCallback | None, on_stop: DispatchCallback | None) -> None:
        self._on_dispatch, self._on_stop = on_dispatch, on_stop

    def on_dispatch(self, instruction: m.DispatchInstruction, previous: m.DispatchInstruction | None) -> Any:
        return self._on_dispatch(instruction, previous) if self._on_dispatch else None

    def on_stop(self, instruction: m.DispatchInstruction, previous: m.DispatchInstruction | None) -> Any:
        return self._on_stop(instruction, previous) if self._on_stop else None


def _describe(ins: m.DispatchInstruction) -> dict[str, Any]:
    return {"dispatch": ins.event_name, "revision": ins.revision, "status": ins.status.value, "dispatch_unit": ins.dispatch_unit,
            "start": ins.service_start.isoformat(), "end": ins.service_end.isoformat(), "setpoints": len(ins.setpoints)}


# --- keys --------------------------------------------------------------------------------------


def _read_keys(path: Path, kid: str | None, what: str) -> list[ECKey]:
    try:
        return read_keys(path, kid)
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc}") from exc
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def load_signing_key(path: str | Path, kid: str | None = None) -> ECKey:
    """The FSP's private P-256 key from a JWK (its `kid`, or `kid`) or PEM file (`kid` required)."""
    path = Path(path)
    key = _read_keys(path, kid, "signing key")[0]
    if not key.is_private:
        raise ConfigError(f"{path}: the signing key must be a private key")
    if not key.kid:
        raise ConfigError(f"{path}: the signing key needs a kid (set gb.signing_kid)")
    return key


def load_public_keys(path: str | Path, kid: str | None = None) -> list[ECKey]:
    """Public verification keys from a JWK, JWK Set or PEM file; `kid` names (or renames) a single key."""
    path = Path(path)
    keys = _read_keys(path, kid, "operator key")
    if kid and len(keys) > 1:
        raise ConfigError(f"{path}: kid given for a file with {len(keys)} keys")
    for key in keys:
        if not key.kid:
            raise ConfigError(f"{path}: a verification key needs a kid (set kid in [[gb.operator_keys]])")
    return [ECKey.import_key(k.as_dict(private=False)) for k in keys]


def load_operator_keys(entries: Iterable[OperatorKeyConfig]) -> KeyRing:
    """The key ring of network operators' dispatch-signing keys from `[[gb.operator_keys]]`."""
    ring = KeyRing()
    for entry in entries:
        for key in load_public_keys(entry.file, entry.kid):
            ring.add(entry.operator, key)
    return ring


# --- FSP -> operator reports -------------------------------------------------------------------


class GbReporter:
    """Builds, signs and submits GB reports for one FSP over a `VtnClient` (docs/gb-profile.md §6)."""

    def __init__(self, client: VtnClient, settings: GbSettings, *, fsp_id: str | None = None,
                 signing_key: ECKey | None = None, clock: Callable[[], datetime] = utc_now) -> None:
        self.client = client
        self.settings = settings
        self.fsp_id = fsp_id or settings.fsp_id
        if not self.fsp_id:
            raise ConfigError("gb.fsp_id (or [ven] name) is required")
        self.clock = clock
        if signing_key is None and settings.signing_key:
            signing_key = load_signing_key(settings.signing_key, settings.signing_kid)
        self.signing_key: ECKey | None = signing_key

    def sign(self, report: Report) -> Report:
        """The report signed with the FSP key (unchanged when no key is configured)."""
        return sign_report(report, self.signing_key) if self.signing_key is not None else report

    async def submit(self, report: Report) -> Report:
        """Sign and POST a new report (GB reports are never overwritten: one per revision / upload)."""
        saved = await self.client.create_report(self.sign(report))
        log.info("gb report submitted", extra={"report_name": report.reportName, "event_id": report.eventID,
                                               "report_id": saved.id})
        return saved

    # acknowledgements

    def build_ack(self, event: Event, *, result: m.AckResult = m.AckResult.ACCEPTED, reason: str | None = None,
                  received_time: datetime | None = None) -> tuple[m.Acknowledgement, Report]:
        """The read-back of the revision `event` carries, and its (unsigned) GB_ACK report."""
        assert event.id is not None
        ack = b.acknowledge(event, received_time or self.clock(), result=result,
                            reason=reason if result == m.AckResult.REJECTED else None)
        if ack.result == m.AckResult.REJECTED and not ack.reason:
            ack = dataclasses.replace(ack, reason="rejected by the FSP")
        return ack, b.build_ack_report(ack, event.programID, event.id)

    async def acknowledge(self, event: Event, *, result: m.AckResult = m.AckResult.ACCEPTED, reason: str | None = None,
                          received_time: datetime | None = None) -> m.Acknowledgement:
        """Send the read-back acknowledgement of the revision `event` carries; returns what was sent."""
        ack, report = self.build_ack(event, result=result, reason=reason, received_time=received_time)
        await self.submit(report)
        return ack

    async def acknowledged_revisions(self, event_id: str) -> set[int]:
        """Revisions of a dispatch this FSP has already acknowledged (to not repeat them after a restart)."""
        found = set()
        for report in await self.client.list_reports(event_id=event_id, client_name=self.fsp_id):
            if report.reportName == m.R_ACK:
                try:
                    found.add(b.parse_ack_report(report).revision)
                except m.ProfileError:
                    continue
        return found

    # the operator's answers to this FSP's availability declarations (docs/gb-profile.md §6.5.2)

    async def acceptances(self, program_id: str | None = None) -> dict[date, list[Acceptance]]:
        """This FSP's acceptance events, by week commencing: every declared window with its status (PENDING,
        ACCEPTED, REJECTED), the accepted kW and, in auctions, the bid and awarded prices. One GET /events: what
        the VEN's next poll returns anyway."""
        from gb_profile.availability import parse_acceptance_event

        found: dict[date, list[Acceptance]] = {}
        for event in await self.client.list_events(program_id=program_id):
            if not b.is_acceptance_event(event):
                continue
            try:
                fsp, week, windows = parse_acceptance_event(event.model_dump(mode="json"))
            except (m.ProfileError, ValueError, KeyError, TypeError):
                continue
            if fsp == self.fsp_id:
                found.setdefault(week, []).extend(windows)
        return dict(sorted(found.items()))

    # the event a report goes against

    async def anchor_event(self, operator_id: str | None = None, program_id: str | None = None) -> Event:
        """The program's anchor event `<NO>:GB_ANCHOR` (readings, heartbeats, availability, emergency stops)."""
        operator_id = operator_id or self.settings.operator_id
        if not operator_id:
            raise ConfigError("no network operator: give one or set gb.operator_id")
        wanted = f"{operator_id}:{m.ANCHOR_REF}"
        for event in await self.client.list_events(program_id=program_id):
            if event.eventName == wanted:
                return event
        raise VtnError(404, f"no anchor event {wanted} visible to this VEN" + (f" in program {program_id}" if program_id else ""))

    async def _target(self, event_id: str | None, operator_id: str | None) -> tuple[Event, str]:
        if event_id:
            event = await self.client.get_event(event_id)
            operator_id = operator_id or self.settings.operator_id or (event.eventName or "").partition(":")[0] or None
            if not operator_id:
                raise ConfigError("no network operator: give one or set gb.operator_id")
            return event, operator_id
        event = await self.anchor_event(operator_id)
        return event, (event.eventName or "").partition(":")[0]

    # readings, emergency stop, heartbeat

    async def send_readings(self, readings: Iterable[m.MeterReading], *, event_id: str | None = None,
                            operator_id: str | None = None) -> Report:
        """A GB_READINGS report (per-minute kW as DEMAND and/or half-hourly kWh as USAGE, import positive).

        Against `event_id`, or by default the anchor event of the operator (`operator_id` or gb.operator_id).
        """
        event, operator = await self._target(event_id, operator_id)
        assert event.id is not None
        body = m.MeterReadings(fsp_id=self.fsp_id, operator_id=operator, readings=tuple(readings))
        return await self.submit(b.build_readings_report(body, event.programID, event.id))

    async def send_readings_chunked(self, readings: Iterable[m.MeterReading], *, chunk_size: int = READINGS_CHUNK,
                                    event_id: str | None = None, operator_id: str | None = None,
                                    progress: Callable[[int, int, Report], None] | None = None) -> list[Report]:
        """Readings as several GB_READINGS reports of at most `chunk_size` readings each (a month of per-minute data
        does not fit one request body). The VTN keeps readings idempotent by (unit, interval, version), so a chunk
        sent twice (a retry, or the whole file again after a failure) counts once. `progress(done, total, report)`
        is called after each chunk."""
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        event, operator = await self._target(event_id, operator_id)
        assert event.id is not None
        ordered = sorted(readings, key=lambda r: (r.meterable_unit, r.start, r.kind))
        sent: list[Report] = []
        for index in range(0, len(ordered), chunk_size):
            body = m.MeterReadings(fsp_id=self.fsp_id, operator_id=operator,
                                   readings=tuple(ordered[index:index + chunk_size]))
            sent.append(await self.submit(b.build_readings_report(body, event.programID, event.id)))
            if progress is not None:
                progress(min(index + chunk_size, len(ordered)), len(ordered), sent[-1])
        return sent

    async def send_readings_csv(self, source: str | bytes | Path, *, event_id: str | None = None,
                                operator_id: str | None = None) -> Report:
        """Readings from a Flexible Power CSV file (converted to period start, import positive); all or nothing."""
        parsed = parse_readings_csv(source)
        return await self.send_readings(parsed.readings, event_id=event_id, operator_id=operator_id)

    async def send_emergency_stop(self, dispatch_units: Iterable[str], reason: str, *, event_id: str | None = None,
                                  operator_id: str | None = None, effective_time: datetime | None = None,
                                  cleared: bool = False) -> Report:
        """A GB_EMERGENCY_STOP report (FSP opt-out) for `dispatch_units`, against a dispatch or the anchor; with
        `cleared`, its clearance (the units are available again; `reason` is the note for the operator)."""
        event, operator = await self._target(event_id, operator_id)
        assert event.id is not None
        stop = m.EmergencyStop(fsp_id=self.fsp_id, operator_id=operator, dispatch_units=tuple(dispatch_units),
                               effective_time=effective_time or self.clock(), reason=reason, cleared=cleared)
        return await self.submit(b.build_emergency_stop_report(stop, event.programID, event.id))

    async def send_availability(self, windows: dict[str, tuple[m.AvailabilityWindow, ...]], contract_id: str, *,
                                operator_id: str | None = None, bids: dict[tuple[str, datetime], float] | None = None
                                ) -> Report:
        """A GB_AVAILABILITY declaration against the anchor event: per dispatch unit, whole settlement periods with
        turn-down and/or turn-up kW; `bids` (auctions) per (unit, window start) in GBP/MW/h as PRICE payloads. The
        VTN checks it against the contract (cut-off, capacity, overlaps) and answers with acceptance events."""
        event, operator = await self._target(None, operator_id)
        assert event.id is not None
        declaration = m.AvailabilityDeclaration(self.fsp_id, operator, contract_id, windows=windows)
        report = b.build_availability_report(declaration, event.programID, event.id)
        for resource in report.resources:
            for interval in resource.intervals:
                period = interval.intervalPeriod
                bid = (bids or {}).get((resource.resourceName, b.utc(period.start))) if period else None
                if bid is not None:
                    interval.payloads.append(ValuesMap(type=m.P_PRICE, values=[bid]))
        return await self.submit(report)

    async def send_heartbeat(self, operating_states: Iterable[tuple[str, str]] = (), *, operator_id: str | None = None,
                             event_id: str | None = None) -> Report:
        """A GB_HEARTBEAT report against the anchor event, with optional (dispatch unit, OPERATING_STATE) pairs.

        The FSP's existing heartbeat for that event is updated in place (§6.2: PUT the same report to avoid growth).
        """
        event, operator = await self._target(event_id, operator_id)
        assert event.id is not None
        beat = m.Heartbeat(fsp_id=self.fsp_id, operator_id=operator, time=self.clock(), operating_states=tuple(operating_states))
        report = self.sign(b.build_heartbeat_report(beat, event.programID, event.id))
        existing = [r for r in await self.client.list_reports(event_id=event.id, client_name=self.fsp_id)
                    if r.reportName == m.R_HEARTBEAT and r.id]
        if existing and existing[0].id:
            saved = await self.client.update_report(existing[0].id, report)
        else:
            saved = await self.client.create_report(report)
        log.info("gb heartbeat sent", extra={"event_id": event.id, "report_id": saved.id})
        return saved


# --- the adapter -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    """A dispatch revision that was not passed to the controller, and why."""

    event_id: str
    event_name: str | None
    revision: int | None
    reason: str


@dataclass
class _Seen:
    revision: int  # newest revision handled (accepted, rejected or refused)
    instruction: m.DispatchInstruction | None = None  # newest revision the controller saw
    accepted: bool = False  # whether that newest revision was accepted (setpoints are only announced then)
    acked: set[int] = field(default_factory=set)


class GbAdapter(EventHandler):
    """Turns the agent's event callbacks into GB dispatch instructions, acknowledgements and verification.

    `controller`: a `GbController`, or pass `on_dispatch` / `on_stop` callables instead. `settings`:
    the `[gb]` section (default: the agent's `config.gb`, else defaults). Events of non-GB programs go to
    `fallback` (an ordinary `EventHandler`) when given.
    """

    def __init__(self, controller: GbController | None = None, settings: GbSettings | None = None, *,
                 on_dispatch: DispatchCallback | None = None, on_stop: DispatchCallback | None = None,
                 fallback: EventHandler | None = None, clock: Callable[[], datetime] = utc_now) -> None:
        if controller is not None and (on_dispatch or on_stop):
            raise ValueError("give a controller or on_dispatch/on_stop callables, not both")
        self.controller = controller or (_CallbackController(on_dispatch, on_stop) if on_dispatch or on_stop
                                         else LoggingController())
        self.controller.bind(self)
        self.settings = settings
        self.fallback = fallback
        self.clock = clock
        self._reporter: GbReporter | None = None
        self._signing_key: ECKey | None = None
        self.keys: KeyRing | None = None
        self._seen: dict[str, _Seen] = {}
        self.acknowledgements: list[m.Acknowledgement] = []  # every acknowledgement sent, in order
        self.refusals: list[Refusal] = []
        self.errors: list[str] = []  # acknowledgements that could not be delivered
        self.tests: list[m.DispatchInstruction] = []  # test dispatches acknowledged and not actuated, in order

    def bind(self, ven: VenAgent) -> None:
        super().bind(ven)
        if self.settings is None:
            self.settings = ven.config.gb or GbSettings(fsp_id=ven.name)
        if not self.settings.fsp_id:
            self.settings = self.settings.model_copy(update={"fsp_id": ven.name})
        self._reporter = None  # built on first use: the agent sets its client after binding the handler
        # Key files are read now, so a bad one stops the VEN at start-up, not at its first dispatch.
        self._signing_key = (load_signing_key(self.settings.signing_key, self.settings.signing_kid)
                             if self.settings.signing_key else None)
        self.keys = load_operator_keys(self.settings.operator_keys) if self.settings.operator_keys else None
        if self.fallback is not None and hasattr(self.fallback, "bind"):
            self.fallback.bind(ven)

    @property
    def reporter(self) -> GbReporter:
        """Acknowledgements and other reports, over the agent's client (available once bound to an agent)."""
        if self._reporter is None:
            if self.ven is None or self.settings is None:
                raise RuntimeError("GbAdapter is not bound to a VenAgent")
            self._reporter = GbReporter(self.ven.client, self.settings, signing_key=self._signing_key, clock=self.clock)
        return self._reporter

    def instruction(self, event_id: str) -> m.DispatchInstruction | None:
        """The newest revision of a dispatch that reached the controller."""
        seen = self._seen.get(event_id)
        return seen.instruction if seen else None

    @property
    def instructions(self) -> dict[str, m.DispatchInstruction]:
        return {k: v.instruction for k, v in self._seen.items() if v.instruction is not None}

    # classification

    def _is_gb(self, event: Event) -> bool:
        program = self.ven.programs.get(event.programID) if self.ven is not None else None
        if program is not None:
            return is_gb_program(program)
        try:  # program not (yet) visible: decide by the event itself
            b.parse_event(event)
        except (m.ProfileError, ValueError, IndexError):
            return b.is_info_event(event)
        return True

    async def _forward(self, name: str, *args: Any) -> None:
        method = getattr(self.fallback, name, None) if self.fallback is not None else None
        if method is not None:
            result = method(*args)
            if inspect.isawaitable(result):
                await result

    # agent callbacks

    async def on_event(self, event: Event, intervals: list[ScheduledInterval]) -> None:
        if not self._is_gb(event):
            return await self._forward("on_event", event, intervals)
        await self._revision(event)

    async def on_event_changed(self, event: Event, previous: Event, intervals: list[ScheduledInterval]) -> None:
        if not self._is_gb(event):
            return await self._forward("on_event_changed", event, previous, intervals)
        await self._revision(event)

    async def on_event_cancelled(self, event: Event) -> None:
        if not self._is_gb(event):
            return await self._forward("on_event_cancelled", event)
        if b.is_info_event(event) or event.id is None:
            return
        seen = self._seen.get(event.id)
        try:
            revision = b.parse_event(event).revision
        except (m.ProfileError, ValueError, IndexError):
            revision = None
        if revision is not None and (seen is None or revision > seen.revision):
            await self._revision(event)  # a STOP / EMERGENCY_STOP update (the agent stops tracking it)
        elif seen is not None and seen.instruction is not None:
            self._seen.pop(event.id, None)
            await self._controller("on_deleted", seen.instruction)

    async def on_cancelled_event_found(self, event: Event) -> None:
        """A dispatch first seen in a terminal state (STOP, CANCELLED, EMERGENCY_STOP): if this FSP had
        acknowledged an earlier revision but not this one (it was dispatched, then stopped while the VEN was
        down), the asset may still be following it, so the controller gets `on_stop` and the revision is
        acknowledged. A dispatch this FSP never acknowledged never reached the asset, and one whose terminal
        revision it acknowledged was already stopped: both are left alone."""
        if not self._is_gb(event):
            return await self._forward("on_cancelled_event_found", event)
        if event.id is None or b.is_info_event(event) or event.id in self._seen or self.ven is None:
            return
        try:
            acknowledged = await self.reporter.acknowledged_revisions(event.id)
        except (VtnError, VtnUnavailable) as exc:
            log.warning("cannot list earlier acknowledgements", extra={"event_id": event.id, "error": str(exc)})
            return
        try:
            revision = b.parse_event(event).revision
        except (m.ProfileError, ValueError, IndexError):
            return
        if acknowledged and revision not in acknowledged:
            await self._revision(event)

    async def on_interval_active(self, event: Event, interval: ScheduledInterval) -> None:
        if not self._is_gb(event):
            return await self._forward("on_interval_active", event, interval)
        seen = self._seen.get(event.id or "")
        ins = seen.instruction if seen is not None and seen.accepted else None
        if ins is None or ins.status not in (m.DispatchStatus.RUN, m.DispatchStatus.RUN_NOW) or interval.id < 1:
            return
        if interval.id <= len(ins.setpoints):
            await self._controller("on_setpoint", ins, ins.setpoints[interval.id - 1])

    async def on_program(self, program: Program) -> None:
        if not is_gb_program(program):
            await self._forward("on_program", program)

    # one revision

    async def _controller(self, name: str, *args: Any) -> Decision:
        result = getattr(self.controller, name)(*args)
        if inspect.isawaitable(result):
            result = await result
        return result

    def verify(self, event: Event, instruction: m.DispatchInstruction) -> str | None:
        """None if the dispatch may be executed, else why not (signature policy of `[gb]`)."""
        assert self.settings is not None
        if instruction.signature is None:
            return "dispatch is not signed" if self.settings.require_signature else None
        if self.keys is None:
            return None  # nothing to verify with; require_signature needs keys (config check)
        try:
            verify_event(event, self.keys)
        except SignatureError as exc:
            return f"signature refused: {exc}"
        return None

    async def _revision(self, event: Event) -> None:
        if event.id is None or b.is_info_event(event):
            return
        assert self.settings is not None
        try:
            ins = b.parse_event(event)
        except (m.ProfileError, ValueError, IndexError) as exc:
            await self._refuse(event, None, f"not a GB dispatch: {exc}", acknowledge=False)
            return
        seen = self._seen.get(event.id)
        if seen is not None and ins.revision <= seen.revision:
            return  # the same revision again (or an older one): already handled
        if ins.fsp_id != self.settings.fsp_id:
            await self._refuse(event, ins, f"addressed to FSP {ins.fsp_id!r}, not {self.settings.fsp_id!r}", acknowledge=False)
            return
        if seen is None:
            seen = self._seen[event.id] = _Seen(revision=ins.revision)
            if self.settings.acknowledge:  # after a restart: do not acknowledge the same revision twice
                try:
                    seen.acked = await self.reporter.acknowledged_revisions(event.id)
                except (VtnError, VtnUnavailable) as exc:
                    log.warning("cannot list earlier acknowledgements", extra={"event_id": event.id, "error": str(exc)})
        previous = seen.instruction
        seen.revision = ins.revision
        problem = self.verify(event, ins)
        if problem is not None:
            seen.accepted = False  # an unverified revision replaces nothing: stop announcing setpoints
            await self._refuse(event, ins, problem)
            return
        if ins.contract_id == m.SANDBOX_CONTRACT:
            # A test dispatch (sandbox program): acknowledged with its read-back so the FSP sees the round trip, but the
            # controller never hears of it, so no asset moves; seen.instruction stays what the controller last saw.
            self.tests.append(ins)
            log.info("gb test dispatch acknowledged, not actuated", extra=_describe(ins))
            await self._acknowledge(event, ins, m.AckResult.ACCEPTED, None)
            return
        method = "on_stop" if ins.status in m.TERMINAL_STATUSES else "on_dispatch"
        result, reason = m.AckResult.ACCEPTED, None
        try:
            decision = await self._controller(method, ins, previous)
        except DispatchRejected as exc:
            decision = Reject(exc.reason)
        except Exception as exc:
            log.exception("gb controller failed", extra={"handler": method, **_describe(ins)})
            decision = Reject(f"controller error: {exc.__class__.__name__}")
        if decision is False:
            decision = Reject("declined by the FSP")
        if isinstance(decision, Reject):
            result, reason = m.AckResult.REJECTED, decision.reason or "rejected by the FSP"
        seen.instruction, seen.accepted = ins, result == m.AckResult.ACCEPTED
        await self._acknowledge(event, ins, result, reason)

    async def _refuse(self, event: Event, ins: m.DispatchInstruction | None, reason: str, acknowledge: bool = True) -> None:
        assert event.id is not None
        self.refusals.append(Refusal(event.id, event.eventName, ins.revision if ins else None, reason))
        log.warning("gb dispatch refused", extra={"event_id": event.id, "event_name": event.eventName, "reason": reason})
        try:
            await self._controller("on_refused", event, ins, reason)
        except Exception:
            log.exception("gb controller failed", extra={"handler": "on_refused"})
        if acknowledge and ins is not None:
            await self._acknowledge(event, ins, m.AckResult.REJECTED, reason)

    async def _acknowledge(self, event: Event, ins: m.DispatchInstruction, result: m.AckResult, reason: str | None) -> None:
        assert self.settings is not None and event.id is not None
        seen = self._seen.get(event.id)
        if not self.settings.acknowledge or (seen is not None and ins.revision in seen.acked):
            return
        try:
            ack = await self.reporter.acknowledge(event, result=result, reason=reason)
        except (VtnError, VtnUnavailable) as exc:
            # Not retried here: the operator sees the VEN as silent for this revision (Operator.silent_vens).
            self.errors.append(f"{event.id} revision {ins.revision}: {exc}")
            log.error("gb acknowledgement failed", extra={**_describe(ins), "error": str(exc)})
            return
        if seen is not None:
            seen.acked.add(ins.revision)
        self.acknowledgements.append(ack)
        log.info("gb dispatch acknowledged", extra={**_describe(ins), "result": result.value, "reason": reason})
