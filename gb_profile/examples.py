"""Valid example objects for every product, used by tests and handy for conformance and demos."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from joserfc.jwk import ECKey

from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.products import PRODUCTS, Product, ProductCode, SetpointKind
from gb_profile.settlement import LONDON, SettlementPeriodError, local_window, period_start, periods_in_day
from gb_profile.signing import KeyRing, canonical_form, public_jwk, sign_event, sign_report

SERVICE_START = datetime(2025, 12, 3, 16, 0, tzinfo=UTC)
OPERATOR = "NGED"
FSP = "FSP-ACME"
UNIT = "DU-7"
MPAN = "1312345678907"


def example_contract(code: ProductCode | str = ProductCode.SU, operator_id: str = OPERATOR) -> m.Contract:
    return m.Contract(
        operator_id=operator_id,
        contract_id="C-4411",
        fsp_id=FSP,
        product=ProductCode(code),
        dispatch_units=(UNIT,),
        cmz="CMZ_T7B_SWA_0012",
        min_run_time=timedelta(minutes=30),
        max_run_time=timedelta(hours=4),
        max_capacity_kw=500.0,
        utilisation_price_gbp_per_mwh=350.0,
        ack_period=timedelta(minutes=5),
    )


def example_instruction(code: ProductCode | str = ProductCode.SU, *, reactive: bool = False) -> m.DispatchInstruction:
    prod: Product = PRODUCTS[ProductCode(code)]
    kind = SetpointKind.DELTA if SetpointKind.DELTA in prod.setpoint_kinds else SetpointKind.ABSOLUTE
    units = m.ServiceUnits.KVAR if reactive else m.ServiceUnits.KW
    volumes = (-250.0, -180.5) if kind is SetpointKind.DELTA else (0.0, 0.0)
    return m.DispatchInstruction(
        operator_id=OPERATOR,
        dispatch_ref=f"D-{prod.code.value}-0001",
        revision=1,
        status=m.DispatchStatus.RUN,
        instruction_time=SERVICE_START - timedelta(days=14, minutes=3),
        fsp_id=FSP,
        dispatch_unit=UNIT,
        contract_id="C-4411",
        service_start=SERVICE_START,
        service_end=SERVICE_START + timedelta(hours=2),
        setpoints=(
            m.Setpoint(SERVICE_START, volumes[0], units, kind, price=0.35),
            m.Setpoint(SERVICE_START + timedelta(hours=1), volumes[1], units, kind, price=0.35),
        ),
        cmz="CMZ_T7B_SWA_0012",
    )


def example_program(code: ProductCode | str = ProductCode.SU):
    return b.build_program(code, example_contract(code))


def example_event(code: ProductCode | str = ProductCode.SU, program_id: str = "prog-1"):
    return b.build_event(example_instruction(code), program_id, event_id="ev-1")


def example_readings(kind: m.ReadingKind = m.ReadingKind.POWER_KW) -> m.MeterReadings:
    step = m.READING_STEP[kind]
    readings = tuple(
        m.MeterReading("MU-1", SERVICE_START + i * step, kind, value, "OK" if i == 0 else None)
        for i, value in enumerate((120.5, -80.25, 0.0))
    )
    return m.MeterReadings(fsp_id=FSP, operator_id=OPERATOR, readings=readings)


def example_availability() -> m.AvailabilityDeclaration:
    windows = (
        m.AvailabilityWindow(SERVICE_START, timedelta(minutes=30), turn_down_kw=300.0),
        m.AvailabilityWindow(SERVICE_START + timedelta(minutes=30), timedelta(hours=1), turn_down_kw=250.0, turn_up_kw=50.0),
    )
    return m.AvailabilityDeclaration(fsp_id=FSP, operator_id=OPERATOR, contract_id="C-4411", windows={UNIT: windows})


# --- the worked examples of docs/gb-profile.md -----------------------------------------------
# tests/test_gb_doc_examples.py compares every JSON block of the document with `doc_examples()`;
# `python -m gb_profile.examples` prints them as Markdown for pasting.

EXAMPLE_OPERATOR_JWK = {
    "kty": "EC",
    "crv": "P-256",
    "kid": "NGED-example-1",
    "x": "z6nHxTdJGigxtYAf40r21NSI42H7qCdg7UV85MYcWMA",
    "y": "27pKHkM6t-ESADIgNU-x6xuDM6f1Tt1r4M0HHiZeo38",
    "d": "6vY4Z_G4y5-x7AGqnHdUeAsOWH8RbWc94IalSolC3_0",
}
"""Published in the document so readers can check signatures: never use it for anything real."""
EXAMPLE_FSP_JWK = {
    "kty": "EC",
    "crv": "P-256",
    "kid": "FSP-ACME-example-1",
    "x": "PeF0kGG1_Q8bNrqrsw58AGLv_AFHM2Hmeg-6zYGMqP0",
    "y": "Uviv4NZ-IzteiMHldKBXaKtAn_0yIT0LOTMa8oN0o8s",
    "d": "e1wHov0SSWbFHZ-Qmd37LYmBsbN7iqGHzJNACuSnhA4",
}
PROGRAM_ID = "prog-nged-su"
ANCHOR_ID = "ev-nged-anchor"
EVENT_ID = "ev-1042"


def example_keys() -> tuple[ECKey, ECKey, KeyRing]:
    """(operator key, FSP key, key ring with both public keys) for the document's examples."""
    operator, fsp = ECKey.import_key(dict(EXAMPLE_OPERATOR_JWK)), ECKey.import_key(dict(EXAMPLE_FSP_JWK))
    ring = KeyRing()
    ring.add(OPERATOR, public_jwk(operator))
    ring.add(FSP, public_jwk(fsp))
    return operator, fsp, ring


def doc_examples() -> dict[str, Any]:
    """Every worked example of docs/gb-profile.md, by the name its block carries (`<!-- example: NAME -->`).

    Signatures are ES256 with the published example keys; ECDSA signatures are randomised, so a
    comparison must verify `GB_SIGNATURE` values rather than compare them.
    """
    operator_key, fsp_key, _ = example_keys()
    contract = example_season_contract()
    minute = timedelta(minutes=1)
    pre_notify = dataclasses.replace(  # the Sustain example instruction, announced two weeks ahead
        example_instruction(ProductCode.SU),
        dispatch_ref="D-SU-0042",
        status=m.DispatchStatus.PRE_NOTIFY,
        instruction_time=datetime(2025, 11, 19, 15, 57, tzinfo=UTC),
        cmz=contract.cmz,
    )
    rev1 = sign_event(b.build_event(pre_notify, PROGRAM_ID, event_id=EVENT_ID), operator_key)
    rev2 = sign_event(b.revise_event(rev1, datetime(2025, 12, 2, 10, 0, tzinfo=UTC), status=m.DispatchStatus.RUN), operator_key)
    new_setpoints = (
        m.Setpoint(SERVICE_START, -250.0, m.ServiceUnits.KW, SetpointKind.DELTA, price=0.35),
        m.Setpoint(SERVICE_START + timedelta(minutes=30), -300.0, m.ServiceUnits.KW, SetpointKind.DELTA, price=0.35),
        m.Setpoint(SERVICE_START + timedelta(hours=1), -180.5, m.ServiceUnits.KW, SetpointKind.DELTA, price=0.35),
    )
    rev3 = sign_event(b.revise_event(rev2, datetime(2025, 12, 3, 15, 30, tzinfo=UTC), setpoints=new_setpoints), operator_key)
    rev4 = sign_event(
        b.stop_event(rev3, SERVICE_START + timedelta(minutes=90), datetime(2025, 12, 3, 17, 25, tzinfo=UTC)), operator_key
    )
    ack = b.acknowledge(rev2, datetime(2025, 12, 2, 10, 0, 4, tzinfo=UTC))
    ack_report = sign_report(b.build_ack_report(ack, PROGRAM_ID, EVENT_ID), fsp_key)
    stop_report = sign_report(
        b.build_emergency_stop_report(
            m.EmergencyStop(FSP, OPERATOR, (UNIT,), SERVICE_START + timedelta(minutes=47), "battery inverter trip"),
            PROGRAM_ID,
            EVENT_ID,
        ),
        fsp_key,
    )
    availability = sign_report(b.build_availability_report(example_availability(), PROGRAM_ID, ANCHOR_ID), fsp_key)
    readings = m.MeterReadings(
        fsp_id=FSP,
        operator_id=OPERATOR,
        readings=(
            b.from_flexible_power("MU-1", SERVICE_START + minute, -120.5, m.ReadingKind.POWER_KW),
            b.from_flexible_power("MU-1", SERVICE_START + 2 * minute, 80.25, m.ReadingKind.POWER_KW),
            b.from_flexible_power("MU-1", SERVICE_START + timedelta(minutes=30), -52.125, m.ReadingKind.ENERGY_KWH),
        ),
    )
    readings_report = sign_report(b.build_readings_report(readings, PROGRAM_ID, ANCHOR_ID), fsp_key)
    heartbeat = sign_report(
        b.build_heartbeat_report(
            m.Heartbeat(FSP, OPERATOR, datetime(2025, 12, 3, 15, 59, 30, tzinfo=UTC), ((UNIT, "RUNNING_NORMAL"),)),
            PROGRAM_ID,
            ANCHOR_ID,
        ),
        fsp_key,
    )
    dispatch_unit = m.DispatchUnit(
        FSP, UNIT, OPERATOR, meterable_units=("MU-1",), cmz=contract.cmz, contracts=("C-4411",), max_consumption_kw=500.0,
        max_export_kw=500.0,
    )
    ven = b.build_ven(FSP, [dispatch_unit], [m.MeterableUnit(FSP, "MU-1", (MPAN,), dispatch_unit=UNIT)])
    program = b.build_program(ProductCode.SU, contract)
    program.id = PROGRAM_ID
    anchor = b.build_anchor_event(PROGRAM_ID, OPERATOR, datetime(2025, 4, 1, tzinfo=UTC))
    anchor.id = ANCHOR_ID
    objects = {
        "program": program,
        "ven": ven,
        "anchor-event": anchor,
        "event-rev1-pre-notify": rev1,
        "event-rev2-run": rev2,
        "event-rev3-revised": rev3,
        "event-rev4-stop": rev4,
        "ack-report": ack_report,
        "emergency-stop-report": stop_report,
        "availability-report": availability,
        "readings-report": readings_report,
        "heartbeat-report": heartbeat,
    }
    result = {name: obj.dump() for name, obj in objects.items()}
    result["operator-public-jwk"] = public_jwk(operator_key)
    result["fsp-public-jwk"] = public_jwk(fsp_key)
    result["canonical-ack-report"] = canonical_form(ack_report).decode()
    result["flexible-power-power-csv"] = flexible_power_csv([r for r in readings.readings if r.kind is m.ReadingKind.POWER_KW])
    result["flexible-power-energy-csv"] = flexible_power_csv([r for r in readings.readings if r.kind is m.ReadingKind.ENERGY_KWH])
    result["settlement-spring"] = settlement_table(date(2025, 3, 30), (1, 2, 3, 4, 46))
    result["settlement-autumn"] = settlement_table(date(2025, 10, 26), (1, 2, 3, 4, 5, 6, 50))
    result["local-window"] = local_window_table(
        (date(2025, 3, 29), date(2025, 3, 30), date(2025, 10, 25), date(2025, 10, 26)),
        ((time(16), time(19)), (time(0, 30), time(3))),
    )
    return result


def flexible_power_csv(readings: list[m.MeterReading], zone: str = "Z1") -> str:
    """Readings as a Flexible Power CSV file: period-ending UTC timestamps, export positive."""
    kind = readings[0].kind
    lines = [f"Timestamp,Zone,Meterable Unit ID,{'Power (kW)' if kind is m.ReadingKind.POWER_KW else 'Energy (kWh)'}"]
    for r in readings:
        end, value = b.to_flexible_power(r)
        lines.append(f"{b.utc_text(end)},{zone},{r.meterable_unit},{value:g}")
    return "\n".join(lines)


def settlement_table(day: date, numbers: tuple[int, ...]) -> str:
    """Some settlement periods of `day` with their UTC and local starts."""
    lines = [f"settlement day {day.isoformat()}: {periods_in_day(day)} periods", "period  start (UTC)           local start"]
    for n in numbers:
        start = period_start(day, n)
        local = start.astimezone(LONDON)
        lines.append(f"{n:>6}  {b.utc_text(start)}  {local:%Y-%m-%d %H:%M} {local.tzname()} ({local:%z})")
    return "\n".join(lines)


def local_window_table(days: tuple[date, ...], windows: tuple[tuple[time, time], ...]) -> str:
    """Contract windows in London local time converted to UTC on ordinary and clock-change days."""
    lines = ["local window  day         UTC start             UTC end               length"]
    for start, end in windows:
        for day in days:
            label = f"{start:%H:%M}-{end:%H:%M}"
            try:
                begin, finish = local_window(day, start, end)
            except SettlementPeriodError:
                lines.append(f"{label:<12}  {day.isoformat()}  refused: a boundary does not exist or is ambiguous")
                continue
            lines.append(f"{label:<12}  {day.isoformat()}  {b.utc_text(begin)}  {b.utc_text(finish)}  {finish - begin}")
    return "\n".join(lines)


def example_season_contract() -> m.Contract:
    """The SU contract of the examples, valid for the 2025/26 season and with its terms online."""
    return dataclasses.replace(
        example_contract(ProductCode.SU),
        valid_from=datetime(2025, 4, 1, tzinfo=UTC),
        valid_to=datetime(2026, 4, 1, tzinfo=UTC),
        terms_url="https://flex.example/nged/contracts/C-4411",
    )


def format_json(value: Any, level: int = 0, width: int = 110) -> str:
    """JSON indented by two spaces, with objects and arrays that fit in `width` kept on one line."""
    flat = json.dumps(value, ensure_ascii=False)
    if len(flat) + 2 * level <= width or not isinstance(value, dict | list) or not value:
        return flat
    pad, inner = "  " * level, "  " * (level + 1)
    if isinstance(value, dict):
        items = [f"{inner}{json.dumps(k)}: {format_json(v, level + 1, width)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    return "[\n" + ",\n".join(inner + format_json(v, level + 1, width) for v in value) + f"\n{pad}]"


if __name__ == "__main__":
    for name, obj in doc_examples().items():
        block = obj if isinstance(obj, str) else format_json(obj)
        print(f"<!-- example: {name} -->\n```{'text' if isinstance(obj, str) else 'json'}\n{block}\n```\n")
