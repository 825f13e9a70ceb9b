"""Contract terms stored as data (docs/gb-profile.md §2.1): set and read per program and per dispatch unit.

`contract_terms(session, operator, program_id, unit)` is the one accessor everything that computes from the terms
calls (the availability cycle, acknowledgement deadlines, delivery reports, statements): it returns a
`gb_profile.model.Contract`, the unit's stored terms over its program's, field by field.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from gb_profile import model as m
from gb_profile.products import product_from_program_type
from vtn.audit.service import Actor, record
from vtn.contracts.models import TERM_COLUMNS, ContractTermsRow
from vtn.core.database import utcnow
from vtn.core.errors import BadRequest, NotFound
from vtn.programs.models import ProgramRow

ContractTerms = m.Contract  # the accessor's result type: the profile's Contract, extended with the VTN's terms
UNIT_NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,128}$")
TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")


class Cutoff(BaseModel):
    """The weekly declaration cut-off in London local time, e.g. {"weekday": "TUESDAY", "time": "23:59"}."""

    model_config = ConfigDict(extra="forbid")
    weekday: Literal["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]
    time: str = Field(description='London local "HH:MM"; "24:00" = the end of the day. The instant itself is late.')
    weeksBefore: int = Field(1, ge=0, le=52, description="1: in the week before the delivery week (Flexible Power).")

    @field_validator("time")
    @classmethod
    def _time(cls, value: str) -> str:
        if not TIME.match(value):
            raise ValueError('time must be "HH:MM" (00:00-23:59) or "24:00"')
        return value


class TermsBody(BaseModel):
    """Contract terms as set and read through the admin API and `vtn gb terms` (every field optional; null or
    absent = not set here: a unit then inherits its program's value)."""

    model_config = ConfigDict(extra="forbid")
    contractID: str | None = Field(None, min_length=1, max_length=128, description="The operator's contract reference.")
    venName: str | None = Field(None, min_length=1, max_length=128, description="The FSP (for unit terms).")
    availabilityPrice: float | None = Field(None, ge=0, le=1e6, description="GBP per MW per hour of accepted availability.")
    utilisationPrice: float | None = Field(None, ge=0, le=1e6, description="GBP per MWh delivered.")
    noticeMinutes: int | None = Field(None, ge=0, le=60 * 24 * 60)
    minRunMinutes: int | None = Field(None, ge=0, le=60 * 24 * 7)
    maxRunMinutes: int | None = Field(None, ge=1, le=60 * 24 * 7)
    maxWeeklyRunMinutes: int | None = Field(None, ge=0, le=60 * 24 * 7)
    minCapacityKW: float | None = Field(None, ge=0, le=1e7)
    maxCapacityKW: float | None = Field(None, ge=0, le=1e7)
    ackPeriodSeconds: int | None = Field(None, ge=1, le=86400 * 7,
                                         description="Acknowledgement deadline: instruction time + this period.")
    validFrom: datetime | None = None
    validTo: datetime | None = None
    declarationCutoff: Cutoff | None = None
    declarationWindowDays: int | None = Field(None, ge=1, le=366)
    acceptanceMode: Literal["AUTO", "MANUAL"] | None = None
    auction: bool | None = None
    operatorManaged: bool | None = None
    outsideAcceptedWindows: Literal["OFF", "WARN", "REFUSE"] | None = None
    ragGreenPercent: float | None = Field(None, ge=0, le=1000)
    ragAmberPercent: float | None = Field(None, ge=0, le=1000)
    termsURL: str | None = Field(None, max_length=2000)
    runTimeTerms: Literal["OFF", "WARN", "REFUSE"] | None = Field(
        None, description="A dispatch against the run-time or notice terms: OFF not checked, WARN (default) stored "
                          "with a GB-Warning header, REFUSE answered 409.")

    @field_validator("validFrom", "validTo")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.utcoffset() is None:
            raise ValueError("give an instant with a UTC offset (e.g. 2027-04-01T00:00:00+01:00)")
        return value.astimezone(UTC) if value is not None else None


def _problem(exc: ValidationError) -> BadRequest:
    errors = [{"field": ".".join(str(p) for p in e["loc"]) or "$", "message": e["msg"]} for e in exc.errors()]
    return BadRequest("contract terms: " + "; ".join(f"{e['field']}: {e['message']}" for e in errors),
                      extra={"errors": errors})


def parse_terms(document: Any) -> TermsBody:
    """A terms document (JSON object) or a 400 naming every bad field."""
    if not isinstance(document, dict):
        raise BadRequest("contract terms must be a JSON object")
    try:
        return TermsBody.model_validate(document)
    except ValidationError as exc:
        raise _problem(exc) from None


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _columns(body: TermsBody) -> dict[str, Any]:
    cut = body.declarationCutoff
    return {
        "contract_id": body.contractID, "ven_name": body.venName, "availability_price": body.availabilityPrice,
        "utilisation_price": body.utilisationPrice, "notice_minutes": body.noticeMinutes,
        "min_run_minutes": body.minRunMinutes, "max_run_minutes": body.maxRunMinutes,
        "max_weekly_run_minutes": body.maxWeeklyRunMinutes, "min_capacity_kw": body.minCapacityKW,
        "max_capacity_kw": body.maxCapacityKW, "ack_period_seconds": body.ackPeriodSeconds,
        "valid_from": body.validFrom, "valid_to": body.validTo,
        "cutoff_weekday": m.WEEKDAYS.index(cut.weekday) if cut else None,
        "cutoff_minute": _minutes(cut.time) if cut else None, "cutoff_weeks_before": cut.weeksBefore if cut else None,
        "declaration_window_days": body.declarationWindowDays, "acceptance_mode": body.acceptanceMode,
        "auction": body.auction, "operator_managed": body.operatorManaged,
        "outside_windows": body.outsideAcceptedWindows, "rag_green_percent": body.ragGreenPercent,
        "rag_amber_percent": body.ragAmberPercent, "terms_url": body.termsURL,
        "run_terms": body.runTimeTerms,
    }


def _stamp(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


def row_document(row: ContractTermsRow) -> dict[str, Any]:
    """A stored row as the API shows it: what is set at this level (null: not set, inherited or default)."""
    cut = None
    if row.cutoff_weekday is not None and row.cutoff_minute is not None:
        minute = row.cutoff_minute
        cut = {"weekday": m.WEEKDAYS[row.cutoff_weekday], "time": f"{minute // 60:02d}:{minute % 60:02d}",
               "weeksBefore": row.cutoff_weeks_before if row.cutoff_weeks_before is not None else 1}
    return {
        "programID": row.program_id, "unit": row.unit or None, "contractID": row.contract_id, "venName": row.ven_name,
        "availabilityPrice": row.availability_price, "utilisationPrice": row.utilisation_price,
        "noticeMinutes": row.notice_minutes, "minRunMinutes": row.min_run_minutes, "maxRunMinutes": row.max_run_minutes,
        "maxWeeklyRunMinutes": row.max_weekly_run_minutes, "minCapacityKW": row.min_capacity_kw,
        "maxCapacityKW": row.max_capacity_kw, "ackPeriodSeconds": row.ack_period_seconds,
        "validFrom": _stamp(row.valid_from), "validTo": _stamp(row.valid_to), "declarationCutoff": cut,
        "declarationWindowDays": row.declaration_window_days, "acceptanceMode": row.acceptance_mode,
        "auction": row.auction, "operatorManaged": row.operator_managed, "outsideAcceptedWindows": row.outside_windows,
        "ragGreenPercent": row.rag_green_percent, "ragAmberPercent": row.rag_amber_percent, "termsURL": row.terms_url,
        "runTimeTerms": row.run_terms, "updatedDateTime": _stamp(row.updated_at), "updatedBy": row.updated_by,
    }


def _td(value: int | None, unit: str) -> timedelta | None:
    return None if value is None else timedelta(**{unit: value})


def merge(program: ProgramRow, rows: list[ContractTermsRow], unit: str | None) -> m.Contract:
    """The terms in force for `unit` (None: the program's): the unit's row over the program's row, then defaults."""
    values: dict[str, Any] = {c: None for c in TERM_COLUMNS}
    for row in sorted(rows, key=lambda r: r.unit != ""):  # program level first, the unit's over it
        for column in TERM_COLUMNS:
            if getattr(row, column) is not None:
                values[column] = getattr(row, column)
    product = product_from_program_type(program.document.get("programType"))
    if product is None:
        raise BadRequest(f"program {program.id!r} is not a GB program (programType GB_FLEX:<product>): it has no "
                         "contract terms")
    cutoff = None
    if values["cutoff_weekday"] is not None and values["cutoff_minute"] is not None:
        weeks = values["cutoff_weeks_before"]
        cutoff = m.DeclarationCutoff(values["cutoff_weekday"], values["cutoff_minute"], 1 if weeks is None else weeks)
    defaults = m.Contract("", "", "", product.code)
    return m.Contract(
        operator_id=str(program.document.get("retailerName") or program.operator),
        contract_id=values["contract_id"] or "",
        fsp_id=values["ven_name"] or "",
        product=product.code,
        dispatch_units=(unit,) if unit else (),
        min_run_time=_td(values["min_run_minutes"], "minutes"),
        max_run_time=_td(values["max_run_minutes"], "minutes"),
        max_weekly_run_time=_td(values["max_weekly_run_minutes"], "minutes"),
        min_capacity_kw=values["min_capacity_kw"],
        max_capacity_kw=values["max_capacity_kw"],
        availability_price_gbp_per_mw_h=values["availability_price"],
        utilisation_price_gbp_per_mwh=values["utilisation_price"],
        ack_period=_td(values["ack_period_seconds"], "seconds"),
        valid_from=values["valid_from"],
        valid_to=values["valid_to"],
        terms_url=values["terms_url"],
        program_id=program.id,
        unit=unit,
        notice=_td(values["notice_minutes"], "minutes"),
        declaration_cutoff=cutoff,
        declaration_window_days=values["declaration_window_days"],
        acceptance_mode=m.AcceptanceMode(values["acceptance_mode"] or default_acceptance(product)),
        auction=bool(values["auction"]) if values["auction"] is not None else defaults.auction,
        operator_managed=bool(values["operator_managed"]) if values["operator_managed"] is not None
        else defaults.operator_managed,
        outside_windows=m.OutsideWindows(values["outside_windows"] or defaults.outside_windows),
        run_terms=m.OutsideWindows(values["run_terms"] or defaults.run_terms),
        rag_green_percent=values["rag_green_percent"] if values["rag_green_percent"] is not None
        else defaults.rag_green_percent,
        rag_amber_percent=values["rag_amber_percent"] if values["rag_amber_percent"] is not None
        else defaults.rag_amber_percent,
    )


def default_acceptance(product: Any) -> m.AcceptanceMode:
    """Where the terms say nothing, the product decides: variable availability (VA+OU, legacy Secure and Dynamic) is
    declared and then accepted by the operator (Flexible Power: the DNO analyses the declarations and issues its
    requirements); every other product's declared availability is accepted automatically (e.g. Restore)."""
    from gb_profile.products import AvailabilityMode

    return m.AcceptanceMode.MANUAL if product.availability is AvailabilityMode.VARIABLE else m.AcceptanceMode.AUTO


def _check(terms: m.Contract) -> None:
    """Cross-field rules, on the merged terms (a unit's value may contradict its program's)."""
    problems = []
    if terms.min_run_time and terms.max_run_time and terms.min_run_time > terms.max_run_time:
        problems.append(("minRunMinutes", "the minimum run time exceeds the maximum"))
    if terms.min_capacity_kw is not None and terms.max_capacity_kw is not None \
            and terms.min_capacity_kw > terms.max_capacity_kw:
        problems.append(("minCapacityKW", "the minimum capacity exceeds the maximum"))
    if terms.valid_from and terms.valid_to and terms.valid_from >= terms.valid_to:
        problems.append(("validTo", "validTo must be after validFrom"))
    if terms.rag_amber_percent > terms.rag_green_percent:
        problems.append(("ragAmberPercent", "the amber threshold must not exceed the green one"))
    if problems:
        raise BadRequest("contract terms: " + "; ".join(f"{f}: {msg}" for f, msg in problems),
                         extra={"errors": [{"field": f, "message": msg} for f, msg in problems]})


async def find_program(session: AsyncSession, operator: str, program: str) -> ProgramRow:
    """`operator`'s program by id or by programName (404 for another operator's: tenancy)."""
    row = (await session.exec(select(ProgramRow).where(ProgramRow.operator == operator, ProgramRow.id == program))).first()
    if row is None:
        row = (await session.exec(
            select(ProgramRow).where(ProgramRow.operator == operator, ProgramRow.program_name == program))).first()
    if row is None:
        raise NotFound(f"program {program!r} not found")
    return row


async def _rows(session: AsyncSession, operator: str, program_id: str, units: list[str] | None
                ) -> list[ContractTermsRow]:
    query = select(ContractTermsRow).where(ContractTermsRow.operator == operator,
                                           ContractTermsRow.program_id == program_id)
    if units is not None:
        query = query.where(col(ContractTermsRow.unit).in_(units))
    return list((await session.exec(query.order_by(col(ContractTermsRow.unit)))).all())


async def contract_terms(session: AsyncSession, operator: str, program_id: str, unit: str | None = None) -> m.Contract:
    """The contract terms in force for `unit` of `operator`'s program `program_id` (None: the program's own).

    Unit-level values override program-level ones field by field; unset fields are None (no price, no limit)
    or the `Contract` defaults (AUTO acceptance, no outside-window check, RAG 95/80 %). NotFound for a program
    the operator does not have; BadRequest for a program that is not a GB program.
    """
    program = (await session.exec(
        select(ProgramRow).where(ProgramRow.operator == operator, ProgramRow.id == program_id))).first()
    if program is None:
        raise NotFound(f"program {program_id!r} not found")
    return merge(program, await _rows(session, operator, program.id, ["", unit] if unit else [""]), unit)


async def all_unit_terms(session: AsyncSession, operator: str, program: ProgramRow) -> dict[str | None, m.Contract]:
    """The program's terms (key None) and every unit's that has its own row: one query."""
    rows = await _rows(session, operator, program.id, None)
    base = [r for r in rows if r.unit == ""]
    result: dict[str | None, m.Contract] = {None: merge(program, base, None)}
    for row in rows:
        if row.unit:
            result[row.unit] = merge(program, [*base, row], row.unit)
    return result


async def set_terms(session: AsyncSession, actor: Actor, operator: str, program: str, document: Any,
                    unit: str | None = None) -> ContractTermsRow:
    """Replace the program's terms (`unit` None) or one dispatch unit's with `document` (a full replacement: a
    field left out is no longer set at this level). 400 for bad terms, also when the merged terms contradict."""
    body = parse_terms(document)
    if unit is not None and not UNIT_NAME.match(unit):
        raise BadRequest("the unit must be 1-128 printable characters (the dispatch unit's resourceName)")
    row_program = await find_program(session, operator, program)
    key = unit or ""
    existing = await _rows(session, operator, row_program.id, None)
    row = next((r for r in existing if r.unit == key), None)
    if row is None:
        row = ContractTermsRow(operator=operator, program_id=row_program.id, unit=key, updated_at=utcnow())
        session.add(row)
    for column, value in _columns(body).items():
        setattr(row, column, value)
    row.updated_at, row.updated_by = utcnow(), actor.id
    # every unit's merged terms must still make sense (a program change may contradict a unit's override)
    levels = [r for r in existing if r.unit != key] + [row]
    base = [r for r in levels if r.unit == ""]
    _check(merge(row_program, base, None))
    for other in levels:
        if other.unit:
            _check(merge(row_program, [*base, other], other.unit))
    await session.flush()
    await record(session, actor, "gb.terms.set", "gb_contract_terms", f"{row_program.id}/{key}",
                 detail={"programID": row_program.id, "unit": unit, "terms": body.model_dump(mode="json",
                                                                                          exclude_none=True)},
                 operator=operator)
    return row


async def list_terms(session: AsyncSession, operator: str, program: str) -> tuple[ProgramRow, list[ContractTermsRow]]:
    row_program = await find_program(session, operator, program)
    return row_program, await _rows(session, operator, row_program.id, None)


async def clear_unit_terms(session: AsyncSession, actor: Actor, operator: str, program: str, unit: str) -> None:
    """Remove one unit's own terms (it then has its program's)."""
    row_program = await find_program(session, operator, program)
    rows = await _rows(session, operator, row_program.id, [unit])
    if not rows:
        raise NotFound(f"unit {unit!r} has no terms of its own in program {row_program.id!r}")
    await session.delete(rows[0])
    await session.flush()
    await record(session, actor, "gb.terms.clear", "gb_contract_terms", f"{row_program.id}/{unit}",
                 detail={"programID": row_program.id, "unit": unit}, operator=operator)


def terms_document(terms: m.Contract) -> dict[str, Any]:
    """The merged terms in force (what `contract_terms` returns) as JSON."""
    def minutes(value: timedelta | None) -> int | None:
        return None if value is None else int(value.total_seconds() // 60)

    cut = terms.declaration_cutoff
    return {
        "programID": terms.program_id, "unit": terms.unit, "operatorID": terms.operator_id, "product": terms.product.value,
        "contractID": terms.contract_id or None, "venName": terms.fsp_id or None,
        "availabilityPrice": terms.availability_price_gbp_per_mw_h, "utilisationPrice": terms.utilisation_price_gbp_per_mwh,
        "noticeMinutes": minutes(terms.notice), "minRunMinutes": minutes(terms.min_run_time),
        "maxRunMinutes": minutes(terms.max_run_time), "maxWeeklyRunMinutes": minutes(terms.max_weekly_run_time),
        "minCapacityKW": terms.min_capacity_kw, "maxCapacityKW": terms.max_capacity_kw,
        "ackPeriodSeconds": int(terms.ack_period.total_seconds()) if terms.ack_period else None,
        "validFrom": _stamp(terms.valid_from), "validTo": _stamp(terms.valid_to),
        "declarationCutoff": None if cut is None else {
            "weekday": m.WEEKDAYS[cut.weekday], "time": f"{cut.minute // 60:02d}:{cut.minute % 60:02d}",
            "weeksBefore": cut.weeks_before, "text": str(cut)},
        "declarationWindowDays": terms.declaration_window_days, "acceptanceMode": terms.acceptance_mode.value,
        "auction": terms.auction, "operatorManaged": terms.operator_managed,
        "outsideAcceptedWindows": terms.outside_windows.value, "runTimeTerms": terms.run_terms.value,
        "ragGreenPercent": terms.rag_green_percent,
        "ragAmberPercent": terms.rag_amber_percent, "termsURL": terms.terms_url,
    }
