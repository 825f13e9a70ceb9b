"""Valid example objects for every product, used by tests and handy for conformance and demos."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.products import PRODUCTS, Product, ProductCode, SetpointKind

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
