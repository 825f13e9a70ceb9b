"""`oadr-conformance`: run the black-box OpenADR 3.0.1 conformance suite against a VTN."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from conformance.core import VERSIONS, Config, run_suite, selected, stderr_progress

app = typer.Typer(help="Black-box OpenADR 3.0.1 VTN conformance suite.", no_args_is_help=True, add_completion=False)


def _pair(value: str | None, option: str) -> tuple[str, str] | None:
    if value is None:
        return None
    client_id, sep, secret = value.partition(":")
    if not sep or not client_id:
        raise typer.BadParameter(f"{option} must be CLIENT_ID:SECRET")
    return client_id, secret


@app.command()
def run(
    vtn_url: Annotated[str, typer.Option(help="Base URL of the VTN, e.g. https://vtn.example/openadr3/3.0.1")],
    bl_client: Annotated[str, typer.Option(help="Business-logic client credentials ID:SECRET")],
    ven_client: Annotated[str, typer.Option(help="VEN client credentials ID:SECRET")],
    ven2_client: Annotated[str | None, typer.Option(help="A second VEN client ID:SECRET (privacy checks)")] = None,
    token_url: Annotated[str | None, typer.Option(help="Token endpoint (default {vtn-url}/auth/token)")] = None,
    ven_name: Annotated[str | None, typer.Option(help="venName the VEN client acts for (default: its client id)")] = None,
    ven2_name: Annotated[str | None, typer.Option(help="venName of the second VEN client (default: its client id)")] = None,
    bl2_client: Annotated[str | None, typer.Option(
        help="A BL client of another operator ID:SECRET (operator isolation checks)")] = None,
    privacy: Annotated[bool, typer.Option(
        help="Require object privacy: privacy checks fail (not skip) when the VTN has none")] = False,
    profile: Annotated[str | None, typer.Option(help="Extra profile rules to check: gb")] = None,
    callback_host: Annotated[str, typer.Option(help="HOST:PORT the webhook receiver listens on")] = "127.0.0.1:0",
    callback_url: Annotated[str | None, typer.Option(help="Public base URL of the receiver if not http://HOST:PORT")] = None,
    notify_timeout: Annotated[float, typer.Option(help="Seconds to wait for each expected notification")] = 10.0,
    version: Annotated[str, typer.Option(
        help="OpenADR version of the API at --vtn-url: 3.0.1, or 3.1.0 (the checks that apply to it; see docs)")] = "3.0.1",
    only: Annotated[list[str] | None, typer.Option(help="Run only checks whose ID or area matches (glob; repeatable)")] = None,
    junit_xml: Annotated[Path | None, typer.Option(help="Write JUnit XML here")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write a JSON report here")] = None,
    markdown: Annotated[Path | None, typer.Option(help="Write a Markdown report here")] = None,
    quiet: Annotated[bool, typer.Option(help="No live progress line")] = False,
) -> None:
    """Run the checks; exit 0 when nothing failed, 1 otherwise."""

    if version not in VERSIONS:
        raise typer.BadParameter(f"--version must be one of {', '.join(VERSIONS)}")

    config = Config(
        vtn_url=vtn_url,
        token_url=token_url,
        bl_client=_pair(bl_client, "--bl-client"),  # type: ignore[arg-type]
        ven_client=_pair(ven_client, "--ven-client"),
        ven2_client=_pair(ven2_client, "--ven2-client"),  # type: ignore[arg-type]
        ven_name=ven_name,
        ven2_name=ven2_name,
        bl2_client=_pair(bl2_client, "--bl2-client"),
        privacy=privacy,
        profile=profile,
        callback_host=callback_host,
        callback_url=callback_url,
        only=[p for item in (only or []) for p in item.split(",") if p],
        notify_timeout=notify_timeout,
        version=version,
    )
    result = run_suite(config, None if quiet else stderr_progress)
    _report_and_exit(result, junit_xml, json_out, markdown)


def _report_and_exit(result: Any, junit_xml: Path | None, json_out: Path | None, markdown: Path | None) -> None:
    """Print the run, write the report files asked for; exit 0 when nothing failed, 1 otherwise (both suites)."""
    from conformance import report

    typer.echo(report.terminal(result))
    if junit_xml:
        junit_xml.write_text(report.to_junit(result))
    if json_out:
        json_out.write_text(report.to_json(result))
    if markdown:
        markdown.write_text(report.to_markdown(result))
    raise typer.Exit(0 if result.ok else 1)


@app.command("list")
def list_checks(
    only: Annotated[list[str] | None, typer.Option(help="Filter by ID or area (glob)")] = None,
    markdown: Annotated[bool, typer.Option(help="Print a Markdown table")] = False,
) -> None:
    """List the checks: ID, area, versions, severity, title, source."""
    checks = selected([p for item in (only or []) for p in item.split(",") if p])
    if markdown:
        typer.echo("| ID | Area | Versions | Sev. | Check | Source |\n|---|---|---|---|---|---|")
    for c in checks:
        if markdown:
            cells = [c.id, c.area, ", ".join(c.versions), c.severity, c.title, c.source]
            typer.echo("| " + " | ".join(x.replace("|", "\\|") for x in cells) + " |")
        else:
            typer.echo(f"{c.id:<7} {c.area:<14} {'/'.join(c.versions):<13} {c.severity}  {c.title}")
    if not markdown:
        typer.echo(f"{len(checks)} checks")


@app.command("ven")
def ven(
    ven_client: Annotated[str, typer.Option(help="Client credentials ID:SECRET the VEN under test is configured with")],
    ven_name: Annotated[str, typer.Option(help="venName (GB: FSP ID) the VEN registers and is dispatched as")],
    listen: Annotated[str, typer.Option(help="HOST:PORT the suite's VTN listens on")] = "127.0.0.1:8090",
    mode: Annotated[str, typer.Option(help="pull or push: how the VEN under test is configured")] = "pull",
    public_url: Annotated[str | None, typer.Option(help="Base URL the VEN reaches the suite at, if not http://HOST:PORT")] = None,
    operator_key: Annotated[Path | None, typer.Option(
        help="Operator private key (JWK or PEM, P-256) signing every dispatch; the VEN gets its public part")] = None,
    operator_kid: Annotated[str | None, typer.Option(help="kid of a PEM operator key")] = None,
    operator_id: Annotated[str, typer.Option(help="Network operator the suite plays")] = "NGED",
    dispatch_unit: Annotated[str | None, typer.Option(help="Dispatch unit to dispatch (default: the VEN's 1st resource)")] = None,
    token_lifetime: Annotated[float, typer.Option(help="Seconds a token lives (the VEN must refresh within the run)")] = 30.0,
    ack_period: Annotated[float, typer.Option(
        help="The suite contract's acknowledgement period (s), stated in the program's contract terms")] = 60.0,
    ack_deadline: Annotated[float | None, typer.Option(
        help="Override: seconds the VEN has to acknowledge each revision, instead of the program's period")] = None,
    start_timeout: Annotated[float, typer.Option(help="Seconds to wait for the VEN to register")] = 300.0,
    settle: Annotated[float, typer.Option(help="Seconds to watch for what must not happen (a tampered dispatch accepted)")] = 5.0,
    poll_wait: Annotated[float, typer.Option(help="Pull: seconds to wait for the VEN's next polls")] = 90.0,
    report_wait: Annotated[float, typer.Option(help="Seconds to wait for GB_READINGS / GB_AVAILABILITY reports")] = 0.0,
    webhook_signatures: Annotated[bool, typer.Option(help="Push: expect the VEN to verify webhook signatures")] = True,
    tls_cert: Annotated[Path | None, typer.Option(help="Server certificate (PEM): the suite's VTN speaks HTTPS")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="Server private key (PEM)")] = None,
    client_ca: Annotated[Path | None, typer.Option(
        help="With --tls-cert: CA of the VEN's client certificate; V021 then requires mTLS on every request")] = None,
    only: Annotated[list[str] | None, typer.Option(help="Run only checks whose ID or area matches (glob; repeatable)")] = None,
    junit_xml: Annotated[Path | None, typer.Option(help="Write JUnit XML here")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write a JSON report here")] = None,
    markdown: Annotated[Path | None, typer.Option(help="Write a Markdown report here")] = None,
    quiet: Annotated[bool, typer.Option(help="No live progress line")] = False,
    version: Annotated[str, typer.Option(help="OpenADR version the suite's VTN speaks: 3.0.1 or 3.1.0")] = "3.0.1",
) -> None:
    """Play the VTN for a VEN under test: start it, wait for the VEN, run the V checks; exit 1 on a failure."""
    from conformance.ven_suite import VenSuiteConfig, run_ven_suite, seed_program
    from conformance.ven_vtn import ScriptedVtn
    from gb_profile.signing import SignatureError, read_signing_key

    if mode not in ("pull", "push"):
        raise typer.BadParameter("--mode must be pull or push")
    if version not in ("3.0.1", "3.1.0"):
        raise typer.BadParameter("--version must be 3.0.1 or 3.1.0")
    if (tls_cert is None) != (tls_key is None) or (client_ca and not tls_cert):
        raise typer.BadParameter("--tls-cert and --tls-key go together; --client-ca needs them")
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise typer.BadParameter("--listen must be HOST:PORT")
    key = None
    if operator_key is not None:
        try:
            key = read_signing_key(operator_key, operator_kid)
        except (OSError, SignatureError, ValueError) as exc:
            raise typer.BadParameter(f"--operator-key: {exc}") from exc
    client = _pair(ven_client, "--ven-client")
    assert client is not None
    config = VenSuiteConfig(
        ven_client=client, ven_name=ven_name, mode=mode, listen=listen, public_url=public_url, operator_id=operator_id,
        operator_key=key, dispatch_unit=dispatch_unit, token_lifetime=token_lifetime, ack_period=ack_period,
        ack_deadline=ack_deadline,
        start_timeout=start_timeout, settle=settle, poll_wait=poll_wait, report_wait=report_wait,
        webhook_signatures=webhook_signatures,
        tls_cert=str(tls_cert) if tls_cert else None, tls_key=str(tls_key) if tls_key else None,
        client_ca=str(client_ca) if client_ca else None,
        only=[p for item in (only or []) for p in item.split(",") if p],
    )
    vtn = ScriptedVtn(client[0], client[1], token_lifetime=token_lifetime, host=host, port=int(port),
                      public_url=public_url, tls_cert=config.tls_cert, tls_key=config.tls_key, client_ca=config.client_ca,
                      api_version=version)
    vtn.start()
    seed_program(config, vtn)
    typer.echo(f"The suite's VTN is listening: point the VEN at {vtn.url} (client {client[0]}, {mode} mode); "
               f"waiting up to {start_timeout:g} s for it to register.", err=True)
    try:
        result = run_ven_suite(config, vtn, None if quiet else stderr_progress)
    finally:
        vtn.stop()
    _report_and_exit(result, junit_xml, json_out, markdown)


faults_app = typer.Typer(help="The suite tests itself: inject faults into a correct VTN through a proxy.",
                         no_args_is_help=True)
app.add_typer(faults_app, name="faults")


@faults_app.command("run")
def faults_run(
    vtn_url: Annotated[str, typer.Option(help="Base URL of a correct VTN, e.g. http://127.0.0.1:8080/openadr3/3.0.1")],
    bl_client: Annotated[str, typer.Option(help="Business-logic client credentials ID:SECRET")],
    ven_client: Annotated[str, typer.Option(help="VEN client credentials ID:SECRET")],
    ven2_client: Annotated[str | None, typer.Option(help="A second VEN client ID:SECRET")] = None,
    bl2_client: Annotated[str | None, typer.Option(help="A BL client of another operator ID:SECRET")] = None,
    privacy: Annotated[bool, typer.Option(help="Require object privacy")] = False,
    notify_timeout: Annotated[float, typer.Option(help="Seconds to wait for each expected notification")] = 5.0,
    fault: Annotated[list[str] | None, typer.Option(help="Only these faults (ID glob; repeatable)")] = None,
    min_score: Annotated[float, typer.Option(help="Exit 1 below this share of faults caught")] = 0.95,
    version: Annotated[str, typer.Option(help="OpenADR version of the API at --vtn-url: 3.0.1 or 3.1.0")] = "3.0.1",
) -> None:
    """Run the suite clean, then once per fault; print which checks caught each fault and the score."""
    from conformance.faults import run_campaign, selected_faults

    if version not in VERSIONS:
        raise typer.BadParameter(f"--version must be one of {', '.join(VERSIONS)}")
    config = Config(
        vtn_url=vtn_url,
        bl_client=_pair(bl_client, "--bl-client"),  # type: ignore[arg-type]
        ven_client=_pair(ven_client, "--ven-client"),  # type: ignore[arg-type]
        ven2_client=_pair(ven2_client, "--ven2-client"),
        bl2_client=_pair(bl2_client, "--bl2-client"),
        privacy=privacy,
        notify_timeout=notify_timeout,
        version=version,
    )
    campaign = run_campaign(config, selected_faults(fault), progress=typer.echo)
    caught = sum(s.caught for s in campaign.scores)
    typer.echo(f"clean run failures: {', '.join(campaign.clean_failures) or 'none'}")
    typer.echo(f"caught {caught} of {len(campaign.scores)} faults ({campaign.score:.1%})")
    raise typer.Exit(0 if campaign.score >= min_score and not campaign.clean_failures else 1)


@faults_app.command("list")
def faults_list(markdown: Annotated[bool, typer.Option(help="Print the Markdown table of docs/conformance.md")] = False) -> None:
    """List the faults: ID, what breaks, what it violates, the checks run against it."""
    from conformance.faults import FAULTS, markdown_table

    if markdown:
        typer.echo(markdown_table())
        return
    for f in FAULTS:
        typer.echo(f"{f.id:<6} {f.title}")
    typer.echo(f"{len(FAULTS)} faults")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
