"""The `ven` command: run a VEN, list events, submit reports, manage subscriptions.

Every command reads `--config ven.toml` (or `VEN_CONFIG`) and `VEN_*` environment variables.
"""

from __future__ import annotations

import asyncio
import csv
import importlib
import importlib.util
import json
import signal
import sys
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from gb_profile.readings_csv import READINGS_CHUNK
from openadr3.models import Report
from ven_client.agent import EventHandler, LoggingHandler, VenAgent, report_resource
from ven_client.client import VtnClient, VtnError, VtnUnavailable
from ven_client.config import ConfigError, VenConfig, load_config
from ven_client.logs import setup_logging
from ven_client.timing import event_span, format_both, has_ended, is_cancelled, schedule

app = typer.Typer(help="OpenADR 3.0.1 VEN for GB flexibility.", no_args_is_help=True)
ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="ven.toml (default: $VEN_CONFIG).")]


def _config(path: Path | None) -> VenConfig:
    try:
        config = load_config(path)
        config.check_credentials()
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    return config


def _command_config(path: Path | None) -> VenConfig:
    """The config of a one-shot command: only warnings are logged, so its own output stays readable."""
    config = _config(path)
    setup_logging("warning", config.ven.json_logs)
    return config


def load_handler(spec: str, base_dir: Path | None = None) -> EventHandler:
    """'package.module:Name' or 'path/to/file.py:Name' (relative to `base_dir`) → a handler instance.

    Classes and factories are called without arguments.
    """
    module_name, _, attribute = spec.partition(":")
    try:
        if module_name.endswith(".py"):
            path = Path(module_name).expanduser()
            if not path.is_absolute():
                path = (base_dir or Path.cwd()) / path
            module_spec = importlib.util.spec_from_file_location(path.stem, path)
            if module_spec is None or module_spec.loader is None:
                raise ImportError(f"cannot load {path}")
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[path.stem] = module
            module_spec.loader.exec_module(module)
        else:
            if str(Path.cwd()) not in sys.path:
                sys.path.insert(0, str(Path.cwd()))
            module = importlib.import_module(module_name)
        target: Any = getattr(module, attribute or "handler")
    except (ImportError, AttributeError, OSError) as exc:
        typer.echo(f"error: cannot load handler {spec!r}: {exc}", err=True)
        raise typer.Exit(2) from exc
    return target() if callable(target) and not isinstance(target, EventHandler) else target


def gb_handler(handler: Any, settings: VenConfig) -> Any:
    """Wrap the handler in the GB adapter: a `GbController` always, any handler when `[gb]` is configured."""
    from ven_client.gb import GbAdapter, GbController

    if isinstance(handler, GbController):
        return GbAdapter(handler, settings.gb)
    if settings.gb is not None and not isinstance(handler, GbAdapter):
        return GbAdapter(settings=settings.gb, fallback=None if isinstance(handler, LoggingHandler) else handler)
    return handler


def _run(coro: Any) -> Any:
    try:
        return asyncio.run(coro)
    except (VtnError, VtnUnavailable) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


@app.command()
def run(
    config: ConfigOption = None,
    mode: Annotated[str | None, typer.Option(help="pull, push or mqtt (default: [ven] mode).")] = None,
    handler: Annotated[str | None, typer.Option(help="module:Class of your event handler (default: [ven] handler).")] = None,
    api_version: Annotated[str | None, typer.Option(
        "--api-version", help="3.0.1 or 3.1.0: the OpenADR version of [vtn] url (default: [vtn] api_version).")] = None,
) -> None:
    """Register, then follow events until Ctrl-C (pull: poll; push: webhooks plus a slow poll)."""
    if api_version not in (None, "3.0.1", "3.1.0"):
        raise typer.BadParameter("--api-version must be 3.0.1 or 3.1.0")
    settings = _config(config)
    if api_version is not None:
        settings.vtn.api_version = api_version  # type: ignore[assignment]
    setup_logging(settings.ven.log_level, settings.ven.json_logs)
    spec = handler or settings.ven.handler
    base_dir = config.resolve().parent if config and not handler else Path.cwd()
    event_handler: Any = load_handler(spec, base_dir) if spec else LoggingHandler()
    event_handler = gb_handler(event_handler, settings)

    async def main() -> None:
        agent = VenAgent(settings, event_handler)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, agent.stop)
        try:
            await agent.run(mode)
        finally:
            await agent.client.close()

    _run(main())


@app.command()
def register(config: ConfigOption = None) -> None:
    """Find or create this VEN's ven object and resources, and print them."""
    settings = _config(config)

    async def main() -> None:
        async with VtnClient.from_config(settings) as client:
            agent = VenAgent(settings, client=client)
            ven = await agent.register()
            typer.echo(f"ven {ven.venName} id={ven.id}")
            for name, resource in agent.resources.items():
                typer.echo(f"  resource {name} id={resource.id}")

    _run(main())


def _table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows, strict=False)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


@app.command()
def events(
    config: ConfigOption = None,
    all_: Annotated[bool, typer.Option("--all", help="Include events that have ended.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
) -> None:
    """Active and upcoming events for this VEN, in London time and UTC."""
    settings = _config(config)

    async def main() -> None:
        async with VtnClient.from_config(settings) as client:
            programs = {p.id: p for p in await client.list_programs()}
            found = await client.list_events()
        now = datetime.now().astimezone()
        rows, records = [], []
        for event in found:
            if settings.ven.programs and programs.get(event.programID) and \
                    programs[event.programID].programName not in settings.ven.programs:
                continue
            intervals = schedule(event, now)
            if is_cancelled(event):
                status = "cancelled"
            elif has_ended(intervals, now):
                status = "ended"
            elif any(i.active_at(now) for i in intervals):
                status = "ACTIVE"
            else:
                status = "upcoming"
            if status in ("ended", "cancelled") and not all_:
                continue
            start, end, open_ended = event_span(intervals)
            current = next((i for i in intervals if i.active_at(now)), None)
            program = programs.get(event.programID)
            values = json.dumps(current.values()) if current else ""
            rows.append([event.id or "", event.eventName or "", program.programName if program else event.programID,
                         status, format_both(start), "open" if open_ended else format_both(end), values])
            records.append({"id": event.id, "eventName": event.eventName, "programID": event.programID, "status": status,
                            "start": start.isoformat() if start else None,
                            "end": None if open_ended or end is None else end.isoformat(),
                            "current": current.values() if current else None})
        if as_json:
            typer.echo(json.dumps(records, indent=2))
        elif not rows:
            typer.echo("no active or upcoming events")
        else:
            typer.echo(_table(rows, ["ID", "NAME", "PROGRAM", "STATUS", "START (London / UTC)", "END (London / UTC)", "NOW"]))

    _run(main())


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


@app.command()
def report(
    config: ConfigOption = None,
    event_id: Annotated[str | None, typer.Option("--event", help="Event id the report answers.")] = None,
    resource: Annotated[str | None, typer.Option(help="Resource name (default: the first in the config).")] = None,
    payload_type: Annotated[str, typer.Option("--type", help="Report payload type, e.g. USAGE.")] = "USAGE",
    value: Annotated[list[str] | None, typer.Option(help="INTERVAL_ID=VALUE (repeat), e.g. --value 0=12.5")] = None,
    file: Annotated[Path | None, typer.Option(help="CSV with columns event_id,resource,type,interval_id,value.")] = None,
    report_name: Annotated[str | None, typer.Option(help="reportName (default: <ven>:<event id>).")] = None,
) -> None:
    """Create or update this VEN's report for an event (one-off values or a CSV file)."""
    settings = _command_config(config)
    # (event, report name) → resource → payload type → {interval id: value}
    grouped: dict[str, dict[str, dict[str, dict[int, Any]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(dict)))
    default_resource = resource or (settings.resources[0].name if settings.resources else None)
    if file is not None:
        with open(file, newline="") as handle:
            for row in csv.DictReader(handle):
                name = row.get("resource") or default_resource
                if not name:
                    raise typer.BadParameter("no resource: add a resource column or --resource")
                by_type = grouped[row["event_id"]][name][row.get("type") or payload_type]
                by_type[int(row["interval_id"])] = _parse_value(row["value"])
    else:
        if not event_id or not value or not default_resource:
            raise typer.BadParameter("give --event, --resource (or one in the config) and --value, or --file")
        for item in value:
            interval_id, sep, text = item.partition("=")
            if not sep:
                raise typer.BadParameter(f"--value {item!r}: expected INTERVAL_ID=VALUE")
            grouped[event_id][default_resource][payload_type][int(interval_id)] = _parse_value(text)

    async def main() -> None:
        async with VtnClient.from_config(settings) as client:
            agent = VenAgent(settings, client=client)
            with typer.progressbar(list(grouped.items()), label="uploading reports", file=sys.stderr,
                                   show_pos=True) as progress:
                for ev_id, resources in progress:
                    event = await client.get_event(ev_id)
                    items = []
                    for res_name, by_type in resources.items():
                        for p_type, values in by_type.items():
                            items.append(report_resource(res_name, p_type, values))
                    saved = await agent.submit_report(event, items, report_name=report_name)
                    typer.echo(f"report {saved.id} for event {ev_id} ({sum(len(r.intervals) for r in items)} intervals)")

    _run(main())


@app.command()
def subscribe(
    config: ConfigOption = None,
    callback_url: Annotated[str | None, typer.Option(help="Your receiver URL (default: from [push]).")] = None,
    bearer_token: Annotated[str | None, typer.Option(help="Token the VTN must send (default: a random one, printed).")] = None,
) -> None:
    """Subscribe to event and program changes of every visible program (for a receiver you run yourself)."""
    settings = _config(config)
    setup_logging("critical", json_logs=False)

    async def main() -> None:
        async with VtnClient.from_config(settings) as client:
            agent = VenAgent(settings, client=client)
            if bearer_token:
                agent.bearer_token = bearer_token
            if callback_url:
                settings.push.callback_url = callback_url
            await agent.register()
            for program in await client.list_programs():
                await agent._apply_program(program)
            await agent.subscribe_all()
            if agent.last_error:
                typer.echo(f"error: subscription refused: {agent.last_error}", err=True)
                raise typer.Exit(1)
            for program_id, subscription_id in agent.subscription_ids.items():
                typer.echo(f"subscription {subscription_id} program {program_id} -> {settings.push.effective_callback_url}")
            typer.echo(f"bearer token: {agent.bearer_token}")

    _run(main())


@app.command()
def unsubscribe(
    config: ConfigOption = None,
    subscription_id: Annotated[str | None, typer.Option("--id", help="Delete only this subscription.")] = None,
) -> None:
    """Delete this VEN's subscriptions (all of them, or one by --id)."""
    settings = _config(config)

    async def main() -> None:
        async with VtnClient.from_config(settings) as client:
            if subscription_id:
                ids = [subscription_id]
            else:
                ids = [s.id for s in await client.list_subscriptions(client_name=settings.ven.name) if s.id]
            for item in ids:
                await client.delete_subscription(item)
                typer.echo(f"deleted subscription {item}")
            if not ids:
                typer.echo("no subscriptions")

    _run(main())


gb_app = typer.Typer(help="GB profile reports: meter readings, emergency stop, heartbeat; FSP signing key.",
                      no_args_is_help=True)
app.add_typer(gb_app, name="gb")
EventOption = Annotated[str | None, typer.Option("--event", help="Event id (default: the operator's GB_ANCHOR event).")]
OperatorOption = Annotated[str | None, typer.Option("--operator", help="Network operator ID (default: gb.operator_id).")]


def _gb_send(settings: VenConfig, send: Callable[[Any], Awaitable[Report]], message: Callable[[Report], str]) -> None:
    """Send one GB report with `send(reporter)` and print `message(saved report)`."""
    from ven_client.config import GbSettings
    from ven_client.gb import GbReporter

    async def main() -> None:
        async with VtnClient.from_config(settings) as client:
            saved = await send(GbReporter(client, settings.gb or GbSettings(fsp_id=settings.ven.name)))
            typer.echo(message(saved))

    _run_gb(main())


@gb_app.command("declare")
def gb_declare(
    unit: Annotated[str, typer.Option("--unit", help="The dispatch unit (group).")],
    start: Annotated[str, typer.Option(help="Window start, London local time (2027-03-28T16:00) or with an offset.")],
    end: Annotated[str, typer.Option(help="Window end, as --start (whole settlement periods).")],
    kw: Annotated[float, typer.Option("--kw", help="Available kW (>= 0).")],
    contract: Annotated[str, typer.Option(help="The contract id (without the operator prefix).")],
    turn_up: Annotated[bool, typer.Option("--turn-up", help="Turn-up (net import rises) instead of turn-down.")] = False,
    bid: Annotated[float | None, typer.Option(help="Bid, GBP/MW/h (auction programs).")] = None,
    config: ConfigOption = None,
    operator: OperatorOption = None,
) -> None:
    """Declare availability for one window (GB_AVAILABILITY against the anchor event); see `ven gb acceptances`."""
    from datetime import datetime as dt

    from gb_profile import model as gm
    from gb_profile.settlement import SettlementPeriodError, local_to_utc

    try:
        begin, finish = (local_to_utc(dt.fromisoformat(t)) for t in (start, end))
    except (ValueError, SettlementPeriodError) as exc:
        raise typer.BadParameter(str(exc)) from None
    window = gm.AvailabilityWindow(begin, finish - begin, turn_down_kw=None if turn_up else kw,
                                   turn_up_kw=kw if turn_up else None)
    _gb_send(_command_config(config),
             lambda reporter: reporter.send_availability({unit: (window,)}, contract, operator_id=operator,
                                                         bids={(unit, begin): bid} if bid is not None else None),
             lambda saved: f"availability declaration {saved.id} for {unit}: {kw:g} kW")


@gb_app.command("acceptances")
def gb_acceptances(config: ConfigOption = None) -> None:
    """The operator's answers to this FSP's availability declarations, per week (London times)."""
    from gb_profile.settlement import LONDON
    from ven_client.config import GbSettings
    from ven_client.gb import GbReporter

    settings = _command_config(config)

    async def main() -> None:
        async with VtnClient.from_config(settings) as client:
            weeks = await GbReporter(client, settings.gb or GbSettings(fsp_id=settings.ven.name)).acceptances()
        rows = [[week.isoformat(), a.unit, a.start.astimezone(LONDON).strftime("%a %d %b %H:%M"),
                 a.end.astimezone(LONDON).strftime("%H:%M %Z"), a.direction.value, a.status,
                 "" if a.accepted_kw is None else f"{a.accepted_kw:g}", "" if a.awarded_price is None else f"{a.awarded_price:g}"]
                for week, windows in weeks.items() for a in windows]
        if rows:
            typer.echo(_table(rows, ["week", "unit", "from", "to", "direction", "status", "accepted kW", "GBP/MW/h"]))
        else:
            typer.echo("no acceptances")

    _run_gb(main())


@gb_app.command("readings")
def gb_readings(
    csv_file: Annotated[Path, typer.Option("--csv", exists=True, dir_okay=False,
                                           help="Flexible Power readings CSV (kW per minute or kWh per half hour).")],
    config: ConfigOption = None,
    event_id: EventOption = None,
    operator: OperatorOption = None,
    chunk_size: Annotated[int, typer.Option("--chunk-size", min=1, max=7000,
                                            help="Readings per report: a large file is sent as several reports.")]
    = READINGS_CHUNK,
) -> None:
    """Send meter readings from a CSV file as GB_READINGS reports, in chunks of --chunk-size readings.

    The whole file is checked first (all lines or none). The VTN keeps readings idempotent by unit, interval and
    version, so sending the file again after an interruption counts nothing twice; a changed value is a correction.
    """
    from gb_profile.readings_csv import ReadingsCsvError, parse_readings_csv
    from ven_client.config import GbSettings
    from ven_client.gb import GbReporter

    settings = _command_config(config)
    try:
        parsed = parse_readings_csv(csv_file)
    except ReadingsCsvError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    units = len({r.meterable_unit for r in parsed.readings})

    def progress(done: int, total: int, saved: Report) -> None:
        typer.echo(f"report {saved.id} for event {saved.eventID}: {done}/{total} readings sent")

    async def main() -> None:
        async with VtnClient.from_config(settings) as client:
            reporter = GbReporter(client, settings.gb or GbSettings(fsp_id=settings.ven.name))
            sent = await reporter.send_readings_chunked(parsed.readings, chunk_size=chunk_size, event_id=event_id,
                                                        operator_id=operator, progress=progress)
            typer.echo(f"{len(parsed.readings)} {parsed.kind.value} readings, {units} meterable unit(s), "
                       f"in {len(sent)} report(s)")

    _run_gb(main())


@gb_app.command("delivery-reports")
def gb_delivery_reports(
    config: ConfigOption = None,
    event_id: Annotated[str | None, typer.Option("--event", help="Only this dispatch's report.")] = None,
    report_id: Annotated[str | None, typer.Option("--report", help="Export this report (with --csv / --pdf).")] = None,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="Write the report as CSV to this file.")] = None,
    pdf_out: Annotated[Path | None, typer.Option("--pdf", help="Write the report as PDF to this file.")] = None,
) -> None:
    """The operator's delivery reports on this FSP's dispatches (docs/gb-profile.md §6.8): one line each, newest
    first; with --report and --csv / --pdf, that report's file."""
    from ven_client.client import _checked

    settings = _command_config(config)
    if (csv_out or pdf_out) and not report_id:
        raise typer.BadParameter("--csv and --pdf need --report REPORT_ID", param_hint="--report")

    async def main() -> None:
        async with VtnClient.from_config(settings) as client:
            for form, target in (("csv", csv_out), ("pdf", pdf_out)):
                if target is not None:
                    response = await client.request("GET", f"gb/delivery-reports/{report_id}/{form}")
                    if response.status_code != 200:
                        _checked(response)
                    target.write_bytes(response.content)
                    typer.echo(f"{target}: {form.upper()} of report {report_id}")
            rows = await client._call("GET", "gb/delivery-reports", params={"eventID": event_id} if event_id else None)
            for r in rows:
                typer.echo(f"{r['id']}  v{r['version']}  {r['eventName']}  {r['dispatchUnit']}  {r['countedFrom']}  "
                           f"instructed {r['instructedKwh']} kWh  delivered {r['deliveredKwh']} kWh ({r['percent']} %)  "
                           f"GBP {r['earningsGbp']}  {r['rag']}")
            if not rows:
                typer.echo("no delivery report")

    _run_gb(main())


@gb_app.command("emergency-stop")
def gb_emergency_stop(
    unit: Annotated[list[str], typer.Option("--unit", help="Dispatch unit to stop (repeat).")],
    reason: Annotated[str | None, typer.Option(help="Why (sent to the operator); with --clear, a note.")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Clear an earlier emergency stop: the units are available again.")]
    = False,
    config: ConfigOption = None,
    event_id: EventOption = None,
    operator: OperatorOption = None,
) -> None:
    """Send a GB_EMERGENCY_STOP report (FSP opt-out) for dispatch units, against a dispatch or the anchor event.

    The operator sees an alarm, and dispatches to the units carry a warning, until `--clear` is sent for them.
    """
    if not clear and not reason:
        raise typer.BadParameter("--reason is required (the operator is told why)", param_hint="--reason")
    note = reason or "emergency stop cleared by the FSP"
    _gb_send(_command_config(config),
             lambda reporter: reporter.send_emergency_stop(unit, note, event_id=event_id, operator_id=operator,
                                                           cleared=clear),
             lambda saved: f"emergency stop {'clearance ' if clear else ''}{saved.id} for event {saved.eventID}: "
                           f"{', '.join(unit)}")


@gb_app.command("heartbeat")
def gb_heartbeat(
    config: ConfigOption = None,
    state: Annotated[list[str] | None, typer.Option(help="DISPATCH_UNIT=OPERATING_STATE (repeat).")] = None,
    operator: OperatorOption = None,
) -> None:
    """Send a GB_HEARTBEAT report against the operator's anchor event."""
    settings = _command_config(config)
    pairs = []
    for item in state or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"--state {item!r}: expected DISPATCH_UNIT=OPERATING_STATE")
        pairs.append((name, value))
    _gb_send(settings, lambda reporter: reporter.send_heartbeat(pairs, operator_id=operator),
             lambda saved: f"heartbeat {saved.id} for event {saved.eventID}")


@gb_app.command("keygen")
def gb_keygen(
    kid: Annotated[str, typer.Option(help="Key id to give the operator with the public key.")],
    out: Annotated[Path, typer.Option(help="Where to write the private JWK (mode 0600).")],
) -> None:
    """Create the FSP's P-256 signing key: private JWK to --out, public JWK (for the operator) to stdout."""
    from gb_profile.signing import generate_key, public_jwk

    if out.exists():
        typer.echo(f"error: {out} exists; not overwriting a key", err=True)
        raise typer.Exit(2)
    key = generate_key(kid)
    out.touch(mode=0o600)
    out.write_text(json.dumps(key.as_dict(private=True), indent=2) + "\n")
    typer.echo(json.dumps(public_jwk(key), indent=2))


def _run_gb(coro: Any) -> Any:
    from gb_profile.model import ProfileError
    from ven_client.config import ConfigError as _ConfigError

    try:
        return _run(coro)
    except (ProfileError, _ConfigError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


if __name__ == "__main__":
    app()
