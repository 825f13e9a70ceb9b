"""The VEN runtime: registration, pull or push, event tracking, the interval scheduler, reporting.

    class MyHandler(EventHandler):
        async def on_interval_active(self, event, interval):
            print(interval.values())

    await VenAgent(load_config("ven.toml"), MyHandler()).run()

Handler methods may be plain functions or coroutines; an exception in a handler is logged and
does not stop the VEN.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import logging
import random
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from openadr3.models import (
    Event,
    Interval,
    Notification,
    ObjectOperation,
    ObjectType,
    Operation,
    Program,
    Report,
    ReportPayloadDescriptor,
    ReportResource,
    Resource,
    Subscription,
    ValuesMap,
    Ven,
)
from ven_client.client import VtnClient, VtnError, VtnUnavailable
from ven_client.config import VenConfig
from ven_client.timing import ScheduledInterval, has_ended, is_cancelled, schedule

log = logging.getLogger("ven_client.agent")


def utc_now() -> datetime:
    return datetime.now(UTC)


class EventHandler:
    """Override what you need. `self.ven` is the running VenAgent (for reports)."""

    ven: VenAgent | None = None

    def bind(self, ven: VenAgent) -> None:
        self.ven = ven

    def on_event(self, event: Event, intervals: list[ScheduledInterval]) -> Any:
        """A new event for this VEN."""

    def on_event_changed(self, event: Event, previous: Event, intervals: list[ScheduledInterval]) -> Any:
        """An event this VEN already had was updated."""

    def on_event_cancelled(self, event: Event) -> Any:
        """An event was deleted on the VTN or cancelled by an update: stop acting on it."""

    def on_interval_active(self, event: Event, interval: ScheduledInterval) -> Any:
        """An interval of an event has just begun (or was already running when the event arrived)."""

    def on_program(self, program: Program) -> Any:
        """A program became visible or changed."""

    def on_cancelled_event_found(self, event: Event) -> Any:
        """An event this VEN had not seen (in this run) was found already cancelled by an update, e.g.
        stopped while the VEN was down. Default: ignored, as an event that never reached the VEN needs no
        stop; the GB adapter passes it on when this FSP had acknowledged the dispatch before a restart."""


class LoggingHandler(EventHandler):
    """The default handler: logs what happens."""

    def on_event(self, event: Event, intervals: list[ScheduledInterval]) -> None:
        log.info("event received", extra={"event_id": event.id, "event_name": event.eventName, "intervals": len(intervals)})

    def on_event_changed(self, event: Event, previous: Event, intervals: list[ScheduledInterval]) -> None:
        log.info("event changed", extra={"event_id": event.id, "event_name": event.eventName})

    def on_event_cancelled(self, event: Event) -> None:
        log.info("event cancelled", extra={"event_id": event.id, "event_name": event.eventName})

    def on_interval_active(self, event: Event, interval: ScheduledInterval) -> None:
        log.info("interval active", extra={"event_id": event.id, "interval_id": interval.id, "start": interval.start.isoformat(),
                                           "end": interval.end.isoformat() if interval.end else None,
                                           "values": interval.values()})


@dataclass
class TrackedEvent:
    event: Event
    fingerprint: str
    intervals: list[ScheduledInterval]
    received_at: datetime


def fingerprint(event: Event) -> str:
    return hashlib.sha256(json.dumps(event.content(), sort_keys=True).encode()).hexdigest()


def _interval_key(event_id: str, item: ScheduledInterval) -> str:
    payloads = json.dumps([p.dump() for p in item.interval.payloads], sort_keys=True)
    return f"{event_id}|{item.id}|{item.start.isoformat()}|{payloads}"


@dataclass
class Stats:
    polls: int = 0
    poll_failures: int = 0
    notifications: int = 0
    handler_errors: int = 0
    fired: list[str] = field(default_factory=list)


class VenAgent:
    def __init__(self, config: VenConfig, handler: EventHandler | None = None, client: VtnClient | None = None,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.config = config
        self.name = config.ven.name
        self.handler = handler or LoggingHandler()
        if hasattr(self.handler, "bind"):
            self.handler.bind(self)
        self.client = client or VtnClient.from_config(config)
        self.clock = clock
        self.ven: Ven | None = None
        self.resources: dict[str, Resource] = {}
        self.programs: dict[str, Program] = {}
        self._program_prints: dict[str, str] = {}
        self.events: dict[str, TrackedEvent] = {}
        self.stats = Stats()
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._poll_now = asyncio.Event()
        self._fired: set[str] = set()
        self._report_ids: dict[tuple[str, str], str] = {}
        self._found_cancelled: dict[str, str] = {}  # event id → fingerprint told to on_cancelled_event_found
        self.subscription_ids: dict[str, str] = {}  # programID → subscription id
        self.bearer_token = secrets.token_urlsafe(32)
        self.receiver: Any = None
        self.last_error: str | None = None
        self._server: Any = None
        self.mqtt_connected = asyncio.Event()  # mode mqtt: subscribed to this ven's topics

    # --- registration -----------------------------------------------------------------------

    async def register(self) -> Ven:
        """Find or create this VEN's ven object and the resources in the config."""
        ven = await self._find_ven()
        if ven is None:
            try:
                ven = await self.client.create_ven(Ven(venName=self.name))
                log.info("ven created", extra={"ven_name": self.name, "ven_id": ven.id})
            except VtnError as exc:
                if exc.status != 409:
                    raise
                ven = await self._find_ven()
                if ven is None:
                    raise
        assert ven.id is not None
        self.ven = ven
        existing = {r.resourceName: r for r in await self.client.list_resources(ven.id)}
        for wanted in self.config.resources:
            attributes = wanted.values_maps() or None
            current = existing.get(wanted.name)
            if current is None:
                current = await self.client.create_resource(
                    ven.id, Resource(resourceName=wanted.name, venID=ven.id, attributes=attributes))
                log.info("resource created", extra={"resource_name": wanted.name, "resource_id": current.id})
            elif attributes is not None and [a.dump() for a in current.attributes or []] != [a.dump() for a in attributes]:
                assert current.id is not None
                updated = current.model_copy(update={"attributes": attributes})
                current = await self.client.update_resource(ven.id, current.id, updated)
                log.info("resource updated", extra={"resource_name": wanted.name, "resource_id": current.id})
            self.resources[wanted.name] = current
        return ven

    async def _find_ven(self) -> Ven | None:
        return next((v for v in await self.client.list_vens(ven_name=self.name) if v.venName == self.name), None)

    # --- handlers ---------------------------------------------------------------------------

    async def _call(self, name: str, *args: Any) -> None:
        method = getattr(self.handler, name, None)
        if method is None:
            return
        try:
            result = method(*args)
            if inspect.isawaitable(result):
                await result
        except Exception:
            self.stats.handler_errors += 1
            log.exception("handler failed", extra={"handler": name})

    # --- event tracking ---------------------------------------------------------------------

    def _wanted_program(self, program_id: str) -> bool:
        names = self.config.ven.programs
        if not names:
            return True
        program = self.programs.get(program_id)
        return program is not None and program.programName in names

    def _schedule(self, event: Event, received_at: datetime) -> list[ScheduledInterval]:
        # Seeded by event and VEN: a re-read of the same event keeps its randomized starts.
        seed = int(hashlib.sha256(f"{self.name}|{event.id}|{fingerprint(event)}".encode()).hexdigest()[:16], 16)
        return schedule(event, received_at, random.Random(seed))

    async def _apply_event(self, event: Event) -> None:
        if event.id is None or not self._wanted_program(event.programID):
            return
        tracked = self.events.get(event.id)
        print_ = fingerprint(event)
        if tracked is not None and tracked.fingerprint == print_:
            return
        if is_cancelled(event):
            if tracked is not None:
                del self.events[event.id]
                log.info("event cancelled by update", extra={"event_id": event.id})
                await self._call("on_event_cancelled", event)
            elif self._found_cancelled.get(event.id) != print_:  # once per version, pull and push alike
                self._found_cancelled[event.id] = print_
                await self._call("on_cancelled_event_found", event)
            return
        received_at = tracked.received_at if tracked else self.clock()
        intervals = self._schedule(event, received_at)
        if tracked is None and has_ended(intervals, self.clock()):
            return  # an event that has transpired is inactive (UG 7.3)
        self.events[event.id] = TrackedEvent(event, print_, intervals, received_at)
        if tracked is None:
            log.info("event new", extra={"event_id": event.id, "event_name": event.eventName})
            await self._call("on_event", event, intervals)
        else:
            log.info("event changed", extra={"event_id": event.id, "event_name": event.eventName})
            await self._call("on_event_changed", event, tracked.event, intervals)
        self._wake.set()

    async def _remove_event(self, event_id: str, deleted: Event | None = None) -> None:
        tracked = self.events.pop(event_id, None)
        if tracked is None:
            return
        self._fired = {k for k in self._fired if not k.startswith(f"{event_id}|")}
        if has_ended(tracked.intervals, self.clock()):
            log.info("ended event removed", extra={"event_id": event_id})
            return
        log.info("event deleted", extra={"event_id": event_id})
        await self._call("on_event_cancelled", deleted or tracked.event)
        self._wake.set()

    async def _apply_program(self, program: Program) -> bool:
        """Returns True when the program is new."""
        if program.id is None:
            return False
        print_ = hashlib.sha256(json.dumps(program.content(), sort_keys=True).encode()).hexdigest()
        is_new = program.id not in self.programs
        self.programs[program.id] = program
        if self._program_prints.get(program.id) != print_:
            self._program_prints[program.id] = print_
            if self._wanted_program(program.id):
                await self._call("on_program", program)
        return is_new

    async def poll(self) -> bool:
        """One pull cycle: programs, then events (If-None-Match on both). False if the VTN was unreachable."""
        try:
            programs, programs_changed = await self.client.list_all("programs", Program)
            events, events_changed = await self.client.list_all("events", Event)
        except (VtnUnavailable, VtnError) as exc:
            self.stats.poll_failures += 1
            log.warning("poll failed", extra={"error": str(exc)})
            return False
        self.stats.polls += 1
        async with self._lock:
            if programs_changed:
                for program in programs:
                    await self._apply_program(program)
                for gone in set(self.programs) - {p.id for p in programs}:
                    self.programs.pop(gone, None)
                    self._program_prints.pop(gone, None)
            if events_changed or programs_changed:
                seen = set()
                for event in events:
                    if event.id is not None and self._wanted_program(event.programID):
                        seen.add(event.id)
                        await self._apply_event(event)
                for gone in set(self.events) - seen:
                    await self._remove_event(gone)
        return True

    # --- scheduler --------------------------------------------------------------------------

    async def fire_due(self) -> float:
        """Call on_interval_active for intervals active now and not yet announced; seconds to the next start."""
        now = self.clock()
        next_start: float = 60.0
        async with self._lock:
            tracked = list(self.events.values())
        for item in tracked:
            if item.event.id is None:
                continue
            for interval in item.intervals:
                if interval.active_at(now):
                    key = _interval_key(item.event.id, interval)
                    if key not in self._fired:
                        self._fired.add(key)
                        self.stats.fired.append(f"{item.event.id}:{interval.id}")
                        await self._call("on_interval_active", item.event, interval)
                elif interval.start > now:
                    next_start = min(next_start, (interval.start - now).total_seconds())
        return max(0.01, next_start)

    async def _scheduler(self) -> None:
        while not self._stop.is_set():
            delay = await self.fire_due()
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            except TimeoutError:
                pass

    # --- push -------------------------------------------------------------------------------

    async def _on_notification(self, notification: Notification, webhook_id: str) -> None:
        self.stats.notifications += 1
        log.info("notification", extra={"webhook_id": webhook_id, "object_type": notification.objectType,
                                        "operation": notification.operation})
        async with self._lock:
            if notification.objectType == ObjectType.EVENT:
                event = Event.model_validate(notification.object)
                if notification.operation == "DELETE":
                    if event.id:
                        await self._remove_event(event.id, event)
                else:
                    await self._apply_event(event)
            elif notification.objectType == ObjectType.PROGRAM:
                program = Program.model_validate(notification.object)
                if notification.operation == "DELETE":
                    self.programs.pop(program.id or "", None)
                elif await self._apply_program(program) and program.id:
                    asyncio.get_running_loop().create_task(self._subscribe_program(program.id))

    async def _fetch_webhook_keys(self) -> Any:
        from urllib.parse import urlsplit

        from ven_client.webhook import WELL_KNOWN_KEYS

        parts = urlsplit(self.client.base_url)
        response = await self.client.fetch_public(f"{parts.scheme}://{parts.netloc}{WELL_KNOWN_KEYS}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()

    def subscription_body(self, program_id: str, callback_url: str | None = None) -> Subscription:
        operation = ObjectOperation(
            objects=[ObjectType.EVENT, ObjectType.PROGRAM],
            operations=[Operation.CREATE, Operation.UPDATE, Operation.DELETE],
            callbackUrl=callback_url or self.config.push.effective_callback_url,
            bearerToken=self.bearer_token,
        )
        return Subscription(clientName=self.name, programID=program_id, objectOperations=[operation])

    def _is_mine(self, subscription: Subscription, program_id: str) -> bool:
        """A subscription this VEN made for `program_id` (its clientName, asking for EVENT objects): one VEN
        name runs one receiver, so any of these left by an earlier run is stale."""
        return (subscription.programID == program_id and subscription.clientName == self.name
                and any(ObjectType.EVENT in o.objects for o in subscription.objectOperations))

    async def _subscribe_program(self, program_id: str, existing: list[Subscription] | None = None) -> None:
        """Subscribe to `program_id` with this run's callback URL and bearer token.

        An earlier run (a crash, a restart with another URL) may have left subscriptions behind: the VTN
        would keep sending them, with the old token, to a receiver that answers 401. So the first one is
        updated in place (PUT: the VTN then sends what it still has queued with the new URL and token) and
        any other is deleted.
        """
        if program_id in self.subscription_ids or not self._wanted_program(program_id):
            return
        body = self.subscription_body(program_id)
        url = self.config.push.effective_callback_url
        if existing is None:
            existing = await self.client.list_subscriptions(program_id=program_id, client_name=self.name)
        mine = [s for s in existing if s.id and self._is_mine(s, program_id)]
        # Prefer one already pointing here, so a restart on the same URL keeps its subscription id.
        mine.sort(key=lambda s: not any(o.callbackUrl == url for o in s.objectOperations))
        try:
            subscription = None
            if mine and mine[0].id:
                try:
                    subscription = await self.client.update_subscription(mine[0].id, body)
                except VtnError as exc:
                    if exc.status != 404:  # deleted meanwhile: create a new one
                        raise
            if subscription is None:
                subscription = await self.client.create_subscription(body)
            for stale in mine[1:]:
                assert stale.id is not None
                try:
                    await self.client.delete_subscription(stale.id)
                    log.info("stale subscription deleted", extra={"program_id": program_id, "subscription_id": stale.id})
                except VtnError as exc:
                    if exc.status != 404:
                        raise
        except (VtnError, VtnUnavailable) as exc:
            self.last_error = f"program {program_id}: {exc}"
            log.error("subscription failed", extra={"program_id": program_id, "error": str(exc)})
            return
        assert subscription.id is not None
        self.subscription_ids[program_id] = subscription.id
        log.info("subscribed", extra={"program_id": program_id, "subscription_id": subscription.id, "callback_url": url,
                                      "replaced": [s.id for s in mine]})

    async def subscribe_all(self) -> None:
        existing = await self.client.list_subscriptions(client_name=self.name)
        for program_id in list(self.programs):
            await self._subscribe_program(program_id, existing)

    async def unsubscribe_all(self) -> None:
        for program_id, subscription_id in list(self.subscription_ids.items()):
            try:
                await self.client.delete_subscription(subscription_id)
                log.info("unsubscribed", extra={"subscription_id": subscription_id})
            except (VtnError, VtnUnavailable) as exc:
                log.warning("unsubscribe failed", extra={"subscription_id": subscription_id, "error": str(exc)})
            self.subscription_ids.pop(program_id, None)

    async def start_receiver(self) -> None:
        import uvicorn

        from ven_client.webhook import KeyStore, WebhookReceiver

        push = self.config.push
        keys = KeyStore(self._fetch_webhook_keys) if push.signatures != "off" else None
        self.receiver = WebhookReceiver(self.bearer_token, self._on_notification, keys, push.signatures, push.path,
                                        push.timestamp_tolerance, convert=self.client.wire.notification)
        config = uvicorn.Config(self.receiver.app, host=push.listen_host, port=push.listen_port, log_level="warning",
                                lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        task = asyncio.get_running_loop().create_task(self._server.serve())
        while not self._server.started:
            if task.done():
                task.result()
                raise RuntimeError("webhook receiver did not start")
            await asyncio.sleep(0.02)
        self._server_task = task
        log.info("webhook receiver listening", extra={"host": push.listen_host, "port": push.listen_port, "path": push.path})

    async def stop_receiver(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            await self._server_task
            self._server = None

    # --- run --------------------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def request_poll(self) -> None:
        """Poll now instead of at the end of the current interval."""
        self._poll_now.set()

    async def _sleep_or_stop(self, seconds: float) -> None:
        waiters = [asyncio.ensure_future(self._stop.wait()), asyncio.ensure_future(self._poll_now.wait())]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            self._poll_now.clear()

    async def _register_until_done(self) -> None:
        delay = 1.0
        while not self._stop.is_set():
            try:
                await self.register()
                return
            except (VtnUnavailable, VtnError) as exc:
                if isinstance(exc, VtnError) and exc.status in (400, 401, 403):
                    raise
                log.warning("registration failed, retrying", extra={"error": str(exc), "delay": delay})
                await self._sleep_or_stop(delay)
                delay = min(delay * 2, 60.0)

    async def run(self, mode: str | None = None) -> None:
        """Register, then follow events until stop() (pull, push or mqtt per config)."""
        mode = mode or self.config.ven.mode
        self._stop.clear()
        await self._register_until_done()
        scheduler = asyncio.get_running_loop().create_task(self._scheduler())
        listener: asyncio.Task[None] | None = None
        try:
            if mode == "push":
                await self.start_receiver()
                await self.poll()  # the programs to subscribe to
                await self.subscribe_all()
                # Once more now that the subscriptions carry this run's URL and token: whatever changed
                # while the VEN was down or before the subscription took effect (a STOP) is acted on now,
                # not at the next fallback poll.
                await self.poll()
                interval = self.config.push.fallback_poll_interval
            elif mode == "mqtt":  # OpenADR 3.1.0 MQTT notifier: this ven's topics, and a slow poll
                from ven_client import mqtt

                await self.poll()
                listener = asyncio.get_running_loop().create_task(mqtt.listen(self, self.mqtt_connected))
                interval = self.config.mqtt.fallback_poll_interval
            else:
                interval = self.config.ven.poll_interval
            while not self._stop.is_set():
                if mode == "pull":
                    await self.poll()
                await self._sleep_or_stop(interval)
                if mode in ("push", "mqtt") and not self._stop.is_set():
                    await self.poll()  # the slow fallback: catches a missed notification
                    if mode == "push":
                        await self._subscribe_missing()
        finally:
            self.stop()
            if mode == "push":
                await self.unsubscribe_all()
                await self.stop_receiver()
            for task in (scheduler, listener):
                if task is not None:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)

    async def _subscribe_missing(self) -> None:
        missing = [p for p in self.programs if p not in self.subscription_ids and self._wanted_program(p)]
        if missing:
            try:
                existing = await self.client.list_subscriptions(client_name=self.name)
            except (VtnError, VtnUnavailable):
                return
            for program_id in missing:
                await self._subscribe_program(program_id, existing)

    # --- reporting --------------------------------------------------------------------------

    async def submit_report(self, event: Event, resources: Iterable[ReportResource], *, report_name: str | None = None,
                            payload_descriptors: list[ReportPayloadDescriptor] | None = None) -> Report:
        """Create the report of this VEN for `event`, or update it if it already exists (same reportName)."""
        assert event.id is not None
        name = report_name or f"{self.config.ven.report_name_prefix}{self.name}:{event.id}"
        report = Report(programID=event.programID, eventID=event.id, clientName=self.name, reportName=name,
                        payloadDescriptors=payload_descriptors, resources=list(resources))
        report_id = self._report_ids.get((event.id, name))
        if report_id is None:
            found = [r for r in await self.client.list_reports(event_id=event.id, client_name=self.name) if r.reportName == name]
            report_id = found[0].id if found else None
        if report_id is not None:
            try:
                saved = await self.client.update_report(report_id, report)
            except VtnError as exc:
                if exc.status != 404:
                    raise
                saved = await self.client.create_report(report)
        else:
            saved = await self.client.create_report(report)
        assert saved.id is not None
        self._report_ids[(event.id, name)] = saved.id
        log.info("report submitted", extra={"event_id": event.id, "report_id": saved.id, "report_name": name})
        return saved


def report_resource(resource_name: str, payload_type: str, values: dict[int, Any]) -> ReportResource:
    """A report resource with one interval per event interval id: {interval_id: value or [values]}."""
    intervals = [
        Interval(id=interval_id, payloads=[ValuesMap(type=payload_type, values=v if isinstance(v, list) else [v])])
        for interval_id, v in sorted(values.items())
    ]
    return ReportResource(resourceName=resource_name, intervals=intervals)
