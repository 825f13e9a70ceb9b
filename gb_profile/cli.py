"""`gb`: a network operator's dispatch commands against a VTN (mounted as `vtn gb`).

Credentials come from flags or the environment (GB_VTN_URL, GB_CLIENT_ID, GB_CLIENT_SECRET). Dispatches and
their revisions are signed with the operator key of --signing-key / VTN_GB_SIGNING_KEY_FILE (the variable the
console's key comes from, so both sign with one key) and --signing-kid / VTN_GB_SIGNING_KID.
Times without an offset are Europe/London local time; everything is sent in UTC.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from gb_profile import board
from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.emergency import StopScope
from gb_profile.operator import Operator, OperatorError
from gb_profile.products import SetpointKind, product
from gb_profile.settlement import LONDON, SettlementPeriodError, local_to_utc
from gb_profile.signing import read_signing_key

app = typer.Typer(help="GB flexibility dispatches (network operator side).", no_args_is_help=True)

VtnUrl = Annotated[str, typer.Option("--vtn-url", envvar="GB_VTN_URL", help="VTN base URL (…/openadr3/3.0.1).")]
ClientId = Annotated[str, typer.Option("--client-id", envvar="GB_CLIENT_ID", help="BL client id.")]
ClientSecret = Annotated[str, typer.Option("--client-secret", envvar="GB_CLIENT_SECRET", help="BL client secret.")]
SigningKey = Annotated[Path | None, typer.Option(
    "--signing-key", envvar="VTN_GB_SIGNING_KEY_FILE",
    help="Operator's ES256 private key (PEM or JWK) signing dispatches and revisions (docs/gb-profile.md §7).")]
SigningKid = Annotated[str | None, typer.Option(
    "--signing-kid", envvar="VTN_GB_SIGNING_KID", help="Key id of --signing-key (default: the JWK's kid or thumbprint).")]
AllowUnsigned = Annotated[bool, typer.Option(
    "--allow-unsigned", help="Send a revision of a signed dispatch unsigned when no key is given (a VEN that requires "
                             "signatures rejects it); refused otherwise.")]


def parse_time(text: str) -> datetime:
    """ISO 8601 date-time; without an offset it is Europe/London local time. Returned in UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO 8601 date-time") from None
    try:
        return local_to_utc(moment)  # naive = London local; refuses times the clock change skips or repeats
    except SettlementPeriodError as exc:
        raise typer.BadParameter(str(exc)) from None


def _operator(url: str, client_id: str, secret: str, key_file: Path | None = None, kid: str | None = None,
              allow_unsigned: bool = False) -> Operator:
    key = None
    if key_file is not None:
        try:
            key = read_signing_key(key_file, kid)
        except (OSError, ValueError) as exc:
            raise typer.BadParameter(f"signing key: {exc}", param_hint="--signing-key") from None
    return Operator(url, client_id, secret, signing_key=key, allow_unsigned=allow_unsigned)


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(1)


def _show(event_id: str, ins: m.DispatchInstruction) -> None:
    window = f"{_utc_text(ins.service_start)} .. {_utc_text(ins.service_end)}"
    typer.echo(f"event {event_id}  {ins.event_name}  revision {ins.revision}  {ins.status}  {window}")


def _warn(op: Operator) -> None:
    """The VTN's warnings on the last write (GB-Warning headers), e.g. the unit is emergency-stopped by its FSP."""
    for warning in op.last_warnings:
        typer.echo(f"warning: {warning}", err=True)


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@app.command()
def dispatch(
    vtn_url: VtnUrl,
    client_id: ClientId,
    client_secret: ClientSecret,
    product_code: Annotated[str, typer.Option("--product", help="Product code, e.g. SU, OU_DA, SUSTAIN.")],
    operator: Annotated[str, typer.Option(help="Network operator id, e.g. NGED.")],
    fsp: Annotated[str, typer.Option(help="FSP id (the VEN's venName).")],
    unit: Annotated[str, typer.Option(help="Dispatch unit (resource name).")],
    start: Annotated[str, typer.Option(help="Service start (London local unless an offset is given).")],
    end: Annotated[str, typer.Option(help="Service end (London local unless an offset is given).")],
    kw: Annotated[float, typer.Option(help="Service volume, net-import positive (kW).")],
    delta: Annotated[bool, typer.Option("--delta/--absolute", help="Relative to baseline, or an absolute level.")] = True,
    contract: Annotated[str, typer.Option(help="Contract id (operator-local).")] = "C-1",
    ref: Annotated[str | None, typer.Option(help="Dispatch reference; default generated.")] = None,
    pre_notify: Annotated[bool, typer.Option("--pre-notify/--run", help="Status of revision 1.")] = False,
    price: Annotated[float | None, typer.Option(help="Utilisation price, GBP per kWh.")] = None,
    cmz: Annotated[str | None, typer.Option(help="Constraint management zone code.")] = None,
    signing_key: SigningKey = None,
    signing_kid: SigningKid = None,
) -> None:
    """Issue a dispatch (revision 1), signed when a signing key is given; prints the event id."""
    try:
        prod = product(product_code)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    kind = SetpointKind.DELTA if delta else SetpointKind.ABSOLUTE
    if kind not in prod.setpoint_kinds:
        raise typer.BadParameter(f"{prod.code} does not allow {kind} setpoints")
    begin, finish = parse_time(start), parse_time(end)
    terms = m.Contract(operator_id=operator, contract_id=contract, fsp_id=fsp, product=prod.code, dispatch_units=(unit,), cmz=cmz)
    with _operator(vtn_url, client_id, client_secret, signing_key, signing_kid) as op:
        instruction = m.DispatchInstruction(
            operator_id=operator,
            dispatch_ref=ref or f"D-{uuid.uuid4().hex[:12].upper()}",
            revision=1,
            status=m.DispatchStatus.PRE_NOTIFY if pre_notify else m.DispatchStatus.RUN,
            instruction_time=op.now(),
            fsp_id=fsp,
            dispatch_unit=unit,
            contract_id=contract,
            service_start=begin,
            service_end=finish,
            setpoints=(m.Setpoint(begin, kw, m.ServiceUnits.KW, kind, price=price),),
            cmz=cmz,
        )
        try:
            event_id = op.issue_dispatch(instruction, contract=terms)
        except (OperatorError, m.ProfileError) as exc:
            _fail(exc)
        _warn(op)
        _show(event_id, instruction)
        typer.echo(event_id)


@app.command()
def revise(
    event_id: Annotated[str, typer.Argument(help="The dispatch event id.")],
    vtn_url: VtnUrl,
    client_id: ClientId,
    client_secret: ClientSecret,
    status: Annotated[m.DispatchStatus | None, typer.Option(help="New status (e.g. RUN after PRE_NOTIFY).")] = None,
    kw: Annotated[float | None, typer.Option(help="New volume for every setpoint (kW).")] = None,
    start: Annotated[str | None, typer.Option(help="New service start.")] = None,
    end: Annotated[str | None, typer.Option(help="New service end.")] = None,
    signing_key: SigningKey = None,
    signing_kid: SigningKid = None,
    allow_unsigned: AllowUnsigned = False,
) -> None:
    """Issue the next revision of a dispatch (signed with the operator key; a signed dispatch needs one)."""
    with _operator(vtn_url, client_id, client_secret, signing_key, signing_kid, allow_unsigned) as op:
        try:
            current = op.instruction(event_id)
            changes: dict[str, object] = {}
            if status is not None:
                changes["status"] = status
            begin = parse_time(start) if start else None
            if begin is not None:
                changes["service_start"] = begin
            if end:
                changes["service_end"] = parse_time(end)
            if kw is not None or begin is not None:
                points = list(current.setpoints)
                if points and begin is not None:
                    points[0] = m.Setpoint(begin, points[0].volume, points[0].units, points[0].kind, points[0].price)
                changes["setpoints"] = tuple(
                    m.Setpoint(p.timestamp, kw if kw is not None else p.volume, p.units, p.kind, p.price) for p in points
                )
            revised = op.revise(event_id, **changes)
        except (OperatorError, m.ProfileError) as exc:
            _fail(exc)
        _warn(op)
        _show(event_id, revised)


@app.command()
def stop(
    event_id: Annotated[str, typer.Argument(help="The dispatch event id.")],
    vtn_url: VtnUrl,
    client_id: ClientId,
    client_secret: ClientSecret,
    at: Annotated[str | None, typer.Option(help="Stop time (default now).")] = None,
    signing_key: SigningKey = None,
    signing_kid: SigningKid = None,
    allow_unsigned: AllowUnsigned = False,
) -> None:
    """Stop a dispatch (STOP revision, window truncated)."""
    with _operator(vtn_url, client_id, client_secret, signing_key, signing_kid, allow_unsigned) as op:
        try:
            stopped = op.stop(event_id, parse_time(at) if at else None)
        except (OperatorError, m.ProfileError) as exc:
            _fail(exc)
        _show(event_id, stopped)


@app.command()
def cancel(
    event_id: Annotated[str, typer.Argument(help="The dispatch event id.")],
    vtn_url: VtnUrl,
    client_id: ClientId,
    client_secret: ClientSecret,
    signing_key: SigningKey = None,
    signing_kid: SigningKid = None,
    allow_unsigned: AllowUnsigned = False,
) -> None:
    """Withdraw a dispatch that has not started (CANCELLED revision, no setpoints)."""
    with _operator(vtn_url, client_id, client_secret, signing_key, signing_kid, allow_unsigned) as op:
        try:
            cancelled = op.cancel(event_id)
        except (OperatorError, m.ProfileError) as exc:
            _fail(exc)
        _show(event_id, cancelled)


@app.command("emergency-stop")
def emergency_stop(
    vtn_url: VtnUrl,
    client_id: ClientId,
    client_secret: ClientSecret,
    dispatch_id: Annotated[str | None, typer.Option("--dispatch", help="One dispatch (event id).")] = None,
    program_id: Annotated[str | None, typer.Option("--program", help="Every open dispatch of a program (id).")] = None,
    cmz: Annotated[str | None, typer.Option("--cmz", help="Every open dispatch in a constraint zone, NO:ZONE.")] = None,
    everything: Annotated[bool, typer.Option("--all", help="Every open dispatch of every GB program.")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Confirmed: do not ask.")] = False,
    signing_key: SigningKey = None,
    signing_kid: SigningKid = None,
    allow_unsigned: AllowUnsigned = False,
) -> None:
    """Emergency-stop open dispatches now: one EMERGENCY_STOP revision (priority 0) per dispatch covered.

    Exactly one of --dispatch, --program, --cmz, --all. The dispatches covered are listed first; without --yes the
    command asks for confirmation (and stops nothing when it cannot ask). Each revision is signed with the operator
    key; a signed dispatch is not stopped unsigned unless --allow-unsigned (the others are stopped all the same).
    """
    try:
        scope = StopScope(event_id=dispatch_id, program_id=program_id, cmz=cmz, everything=everything)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    with _operator(vtn_url, client_id, client_secret, signing_key, signing_kid, allow_unsigned) as op:
        try:
            targets = op.emergency_stop_targets(scope)
        except (OperatorError, m.ProfileError) as exc:
            _fail(exc)
        if not targets:
            typer.echo(f"Nothing to stop: no open dispatch ({scope.describe()}).")
            return
        typer.echo(f"Emergency stop of {scope.describe()}: {len(targets)} dispatch(es)")
        for doc, ins in targets:
            typer.echo(f"  {doc['id']}  {ins.event_name}  {ins.fsp_id}/{ins.dispatch_unit}  revision {ins.revision} {ins.status}")
        if not yes and not typer.confirm(f"Send EMERGENCY_STOP to {len(targets)} dispatch(es)?", default=False):
            typer.echo("Not confirmed: nothing sent.", err=True)
            raise typer.Exit(1)
        failed = 0
        for doc, ins in targets:
            try:
                stopped = op.emergency_stop(str(doc["id"]))
            except (OperatorError, m.ProfileError) as exc:  # keep stopping the others
                failed += 1
                typer.echo(f"error: {ins.event_name}: {exc}", err=True)
                continue
            _show(str(doc["id"]), stopped)
    if failed:
        raise typer.Exit(1)


@app.command()
def status(
    vtn_url: VtnUrl,
    client_id: ClientId,
    client_secret: ClientSecret,
    event_id: Annotated[list[str] | None, typer.Argument(help="Dispatch event ids; default all dispatches.")] = None,
) -> None:
    """Acknowledgements per revision and the VENs silent on a dispatch's latest revision."""
    with _operator(vtn_url, client_id, client_secret) as op:
        try:
            events = [op.event(e) for e in event_id] if event_id else op.dispatch_events()
            rows = []
            for event in events:
                ins = b.parse_event(event)
                for state in op.ack_status(event):
                    for revision in range(1, ins.revision + 1):
                        acks = [a for a in state.acks if a.revision == revision] or [None]
                        for ack in acks:  # every ack, by arrival: the last one counts (board.effective_acks)
                            rows.append((event["id"], ins.event_name, str(revision), state.fsp_id, _ack_text(ack, state)))
            silent = op.silent_vens([e["id"] for e in events])
            fsp_stops = op.fsp_emergency_stops()
        except (OperatorError, m.ProfileError) as exc:
            _fail(exc)
    if fsp_stops:  # an alarm: first, before the tables
        typer.echo("ALARM: FSP emergency stops not cleared:")
        _table(("VEN", "UNIT", "OPERATOR", "SINCE", "REASON"),
               [(s.fsp_id, s.dispatch_unit, s.operator_id, _utc_text(s.effective_time), s.reason) for s in fsp_stops])
        typer.echo("")
    _table(("EVENT", "DISPATCH", "REV", "VEN", "ACKNOWLEDGEMENT"), rows)
    typer.echo("")
    if silent:
        typer.echo("Silent VENs (latest revision not acknowledged):")
        _table(
            ("VEN", "EVENT", "DISPATCH", "LATEST", "LAST ACKED"),
            [(s.fsp_id, s.event_id, s.event_name, str(s.revision), str(s.acknowledged_revision or "-")) for s in silent],
        )
    else:
        typer.echo("Silent VENs: none")
    if not fsp_stops:
        typer.echo("FSP emergency stops: none")


@app.command()
def history(
    event_id: Annotated[str, typer.Argument(help="The dispatch event id.")],
    vtn_url: VtnUrl,
    client_id: ClientId,
    client_secret: ClientSecret,
) -> None:
    """The dispatch record: every revision the VTN stored, oldest first, who sent it and when (London time), and
    every acknowledgement of each revision."""
    with _operator(vtn_url, client_id, client_secret) as op:
        try:
            revisions = op.revisions(event_id)
        except OperatorError as exc:
            _fail(exc)
    if not revisions:
        typer.echo(f"event {event_id}: no revisions recorded (not an event of a GB program)")
        return
    typer.echo(f"event {event_id}  {revisions[-1]['event'].get('eventName')}  {len(revisions)} revision(s), times Europe/London")
    for item in revisions:
        line = f"revision {item['revision']}"
        if item["status"]:
            line += f"  {item['status']}  instructed {_london(item['instructionTime'])}"
        line += f"  stored {_london(item['modificationDateTime'])}  by {item['actor']} ({item['actorRole']})"
        typer.echo(line + ("  signed" if item["signed"] else ""))
        if item["status"] and not item["acknowledgements"]:
            typer.echo("  no acknowledgement")
        for ack in item["acknowledgements"]:
            text = f"  ack {ack['result']} {ack['status']} received {_london(ack['receivedDateTime'])}"
            if ack["reason"]:
                text += f" ({ack['reason']})"
            if ack["matches"] is False:  # GB-R-008
                text += f" does not match (issued {item['status']})"
            typer.echo(text + (" (superseded)" if ack["superseded"] else ""))


def _london(text: str | None) -> str:
    """An RFC 3339 instant from the API as London wall time with its zone (GMT/BST)."""
    try:
        return b.parse_utc_text(text).astimezone(LONDON).strftime("%Y-%m-%d %H:%M:%S %Z")
    except m.ProfileError:
        return text or "-"



@app.command()
def evidence(
    event_id: Annotated[str, typer.Argument(help="The dispatch event id.")],
    vtn_url: VtnUrl,
    client_id: ClientId,
    client_secret: ClientSecret,
    output: Annotated[Path, typer.Option("-o", "--output", help="File to write the bundle to ('-': standard output).")],
) -> None:
    """Export the dispatch's evidence bundle: event, acknowledgements and reports, each signature verified by the
    VTN, the public keys used and the audit lines (one JSON document, docs/gb-profile.md §7.1)."""
    with _operator(vtn_url, client_id, client_secret) as op:
        try:
            bundle = op.evidence(event_id)
        except OperatorError as exc:
            _fail(exc)
    text = json.dumps(bundle, indent=2, ensure_ascii=False) + "\n"
    if str(output) == "-":
        typer.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    items = [bundle["event"], *bundle.get("revisions", []), *bundle.get("acknowledgements", []), *bundle.get("reports", [])]
    invalid = [i.get("id") or "event" for i in items if i["signature"]["state"] == "invalid"]
    typer.echo(f"{output}: event {event_id}, {len(bundle.get('acknowledgements', []))} acknowledgement(s), "
               f"{len(bundle.get('reports', []))} other report(s), {len(bundle.get('audit', []))} audit line(s)")
    if invalid:  # the bundle is written all the same: it is the evidence of the tampering
        typer.echo(f"warning: INVALID signature on {', '.join(map(str, invalid))}", err=True)


@app.command()
def delivery(
    vtn_url: VtnUrl,
    client_id: ClientId,
    client_secret: ClientSecret,
    event_id: Annotated[str | None, typer.Argument(help="A dispatch event id (default: every report).")] = None,
    issue: Annotated[bool, typer.Option("--issue", help="Issue the dispatch's report now (a new version).")] = False,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="Write the dispatch's latest report as CSV.")] = None,
    pdf_out: Annotated[Path | None, typer.Option("--pdf", help="Write the dispatch's latest report as PDF.")] = None,
    all_versions: Annotated[bool, typer.Option("--all-versions", help="List every version, not the latest.")] = False,
) -> None:
    """Delivery reports (docs/gb-profile.md §6.8): one line per report (newest first), or one dispatch's, with
    `--issue` to issue it now and `--csv` / `--pdf` to export its latest version."""
    if (issue or csv_out or pdf_out) and not event_id:
        raise typer.BadParameter("--issue, --csv and --pdf need a dispatch EVENT_ID", param_hint="EVENT_ID")
    with _operator(vtn_url, client_id, client_secret) as op:
        try:
            if issue:
                made = op.issue_delivery_report(str(event_id))
                typer.echo(f"issued {made['id']} version {made['version']}")
            rows = op.delivery_reports(event_id, all_versions)
            for form, target in (("csv", csv_out), ("pdf", pdf_out)):
                if target is not None:
                    if not rows:
                        _fail(OperatorError(f"dispatch {event_id} has no delivery report yet"))
                    target.write_bytes(op.delivery_report_file(rows[0]["id"], form))
                    typer.echo(f"{target}: {form.upper()} of report {rows[0]['id']} version {rows[0]['version']}")
        except OperatorError as exc:
            _fail(exc)
    _table(("REPORT", "V", "DISPATCH", "FSP", "UNIT", "FROM (UTC)", "INSTRUCTED", "DELIVERED", "%", "GBP", "RAG"),
           [(r["id"], str(r["version"]), str(r["eventName"]), str(r["fspID"]), str(r["dispatchUnit"]),
             str(r["countedFrom"]), str(r["instructedKwh"]), str(r["deliveredKwh"]), str(r["percent"]),
             str(r["earningsGbp"]), str(r["rag"]) + (" (recomputing)" if r["stale"] else "")) for r in rows])


@app.command()
def baseline(
    vtn_url: VtnUrl,
    client_id: ClientId,
    client_secret: ClientSecret,
    unit: Annotated[str | None, typer.Argument(help="The meterable unit (default: list every unit's).")] = None,
    static_kw: Annotated[float | None, typer.Option("--static", help="A nominated constant baseline, kW.")] = None,
    weekly: Annotated[Path | None, typer.Option("--weekly", exists=True, dir_okay=False,
                                                help="A JSON file {\"mon\": [48 kW by London half hour], …}.")] = None,
    auto_days: Annotated[int | None, typer.Option("--auto", help="Automatic: the mean of this many like days.")] = None,
) -> None:
    """Record a meterable unit's baseline method (exactly one of --static, --weekly, --auto), or list them."""
    chosen = [x for x in (static_kw, weekly, auto_days) if x is not None]
    if unit is None and chosen:
        raise typer.BadParameter("name the meterable UNIT to set", param_hint="UNIT")
    if unit is not None and len(chosen) != 1:
        raise typer.BadParameter("give exactly one of --static, --weekly, --auto")
    with _operator(vtn_url, client_id, client_secret) as op:
        try:
            if unit is not None:
                if static_kw is not None:
                    spec: dict[str, Any] = {"method": "STATIC", "staticKw": static_kw}
                elif weekly is not None:
                    try:
                        spec = {"method": "WEEKLY", "weeklyKw": json.loads(weekly.read_text(encoding="utf-8"))}
                    except (ValueError, UnicodeDecodeError) as exc:
                        raise typer.BadParameter(f"{weekly}: not JSON ({exc})", param_hint="--weekly") from None
                else:
                    spec = {"method": "AUTO", "autoDays": auto_days}
                op.set_baseline(unit, spec)
            rows = op.baselines()
        except OperatorError as exc:
            _fail(exc)
    _table(("UNIT", "METHOD", "STATIC KW", "AUTO DAYS", "UPDATED", "BY"),
           [(r["unit"], r["method"], str(r.get("staticKw") if r.get("staticKw") is not None else "-"),
             str(r.get("autoDays")), r["updatedAt"], r["updatedBy"]) for r in rows])


def _ack_text(ack: board.RevisionAck | None, state: board.AckStatus) -> str:
    if ack is None:
        return "-"
    text = f"{ack.result} {ack.status} at {_utc_text(ack.received_time)}"
    if ack.matches is False:  # the read-back status is not the issued one (GB-R-008)
        text += " does not match" + (f" (issued {state.status})" if ack.revision == state.revision else "")
    return text + (" (superseded)" if ack.superseded else "")


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=False)]
    for row in (header, *rows):
        typer.echo("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


if __name__ == "__main__":
    app()
