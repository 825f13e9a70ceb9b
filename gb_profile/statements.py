"""Monthly statements of a GB flexibility contract: what an operator owes an FSP for one London calendar month
(docs/gb-profile.md §6.9). Pure computation; vtn/statements reads the inputs from the VTN and keeps the versions.

Every line is traced to what it pays for (an acceptance id, an event id and its delivery report, an overdue
acknowledgement's alarm, a program) and every amount is a `Decimal` in pounds, rounded half up to the penny once
per line; the total is the sum of the rounded lines, so each figure recomputes by hand.

  AVAILABILITY       accepted kW / 1000 × hours of the accepted window inside the month × £/MW/h
                     (the awarded price of an auction, else the contract's availability price)
  UTILISATION        the event's latest delivery report's earnings (payable kWh × £/MWh, already to the penny)
  PENALTY_DELIVERY   a dispatch whose delivery report is RED (below the contract's amber threshold, or no delivery
                     evidenced) forfeits the availability paid for the hours its counted span overlaps the accepted
                     window(s) it was dispatched in: −(accepted kW / 1000 × overlap hours × £/MW/h)
  PENALTY_LATE_ACK   −(the program's late-acknowledgement penalty) per acknowledgement that missed its deadline
                     (an ack alarm whose deadline falls in the month), acknowledged late or never
  FEE                −(the program's monthly fee) for each program in which the FSP has any other line
  ADJUSTMENT         a line of an earlier month whose statement is final, recomputed now: recomputed − what the final
                     and the final statements since paid for it (`adjustments`); carried by the next open statement
Hours are real elapsed hours (UTC instants), not wall-clock hours: a London 00:00-06:00 window pays 5 hours on
28 March 2027 (clocks go forward) and 7 on 31 October 2027 (clocks go back).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from gb_profile.settlement import day_start

LONDON = ZoneInfo("Europe/London")
PENNY = Decimal("0.01")
ZERO = Decimal("0.00")


class Kind:
    AVAILABILITY = "AVAILABILITY"
    UTILISATION = "UTILISATION"
    PENALTY_DELIVERY = "PENALTY_DELIVERY"
    PENALTY_LATE_ACK = "PENALTY_LATE_ACK"
    FEE = "FEE"
    ADJUSTMENT = "ADJUSTMENT"


# What identifies a line across recomputations of its month (an adjustment compares the lines of one key): the
# delivery report's id and version are left out, since a correction is exactly a new version of the same line.
_IDENTITY: dict[str, tuple[str, ...]] = {
    Kind.AVAILABILITY: ("acceptanceID",),
    Kind.UTILISATION: ("eventID",),
    Kind.PENALTY_DELIVERY: ("eventID", "acceptanceID"),
    Kind.PENALTY_LATE_ACK: ("ackAlarmID",),
    Kind.FEE: ("programID",),
}


def pounds(value: Decimal) -> Decimal:
    """Half up to the penny (0.005 → 0.01), the one rounding rule of statements and delivery reports."""
    return value.quantize(PENNY, rounding=ROUND_HALF_UP)


def pence(value: Decimal) -> int:
    return int(pounds(value) * 100)


def parse_month(text: str) -> date:
    """'2027-03' → 1 March 2027; ValueError for anything else."""
    if not isinstance(text, str) or len(text) != 7 or text[4] != "-":
        raise ValueError("a month is YYYY-MM")
    year, month = int(text[:4]), int(text[5:])
    if not 2000 <= year <= 2100 or not 1 <= month <= 12:
        raise ValueError("a month is YYYY-MM (2000-01 to 2100-12)")
    return date(year, month, 1)


def next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def previous_month(first: date) -> date:
    return date(first.year - (first.month == 1), (first.month - 2) % 12 + 1, 1)


def month_bounds(first: date) -> tuple[datetime, datetime]:
    """[London midnight starting the month, London midnight starting the next) in UTC."""
    return day_start(first), day_start(next_month(first))


def provisional_due(first: date) -> datetime:
    """The provisional statement of month M is issued on the 1st of M+1, 00:00 London."""
    return day_start(next_month(first))


def final_due(first: date) -> datetime:
    """The final statement of month M is issued on the 15th of M+1, 00:00 London."""
    following = next_month(first)
    return day_start(following.replace(day=15))


def london(moment: datetime) -> str:
    return moment.astimezone(LONDON).isoformat()


def utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _hours(start: datetime, end: datetime) -> Decimal:
    """Elapsed hours as an exact Decimal (whole seconds)."""
    return Decimal(int((end - start).total_seconds())) / Decimal(3600)


def _dec(value: float | Decimal | str | None) -> Decimal | None:
    return None if value is None else Decimal(str(value))


@dataclass(frozen=True)
class AcceptedWindow:
    acceptance_id: int
    program_id: str
    unit: str
    start: datetime
    end: datetime
    kw: float
    price_gbp_per_mw_h: Decimal | None  # awarded price, else the contract's availability price
    price_source: str  # "awarded" | "contract" | "none"


@dataclass(frozen=True)
class Delivery:
    event_id: str
    event_name: str
    program_id: str
    unit: str
    report_id: str
    report_version: int
    counted_from: datetime
    service_end: datetime
    payable_kwh: Decimal
    price_gbp_per_mwh: Decimal | None
    earnings_gbp: Decimal | None
    percent: float | None
    rag: str


@dataclass(frozen=True)
class LateAck:
    alarm_id: int
    event_id: str
    program_id: str
    unit: str
    deadline: datetime
    acknowledged_at: datetime | None


@dataclass(frozen=True)
class ProgramCharges:
    """Fees and penalties per program (vtn/statements' statement terms)."""

    monthly_fee_gbp: Decimal = ZERO
    late_ack_penalty_gbp: Decimal = ZERO


@dataclass(frozen=True)
class Line:
    kind: str
    description: str
    amount_gbp: Decimal
    refs: dict[str, Any]
    figures: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "description": self.description, "amountGbp": str(self.amount_gbp),
                "refs": self.refs, "figures": self.figures}


@dataclass(frozen=True)
class Statement:
    fsp: str
    month: date
    lines: tuple[Line, ...]
    charges: dict[str, ProgramCharges] = field(default_factory=dict)  # of the programs it charged, as applied

    @property
    def totals(self) -> dict[str, Decimal]:
        totals = {k: ZERO for k in (Kind.AVAILABILITY, Kind.UTILISATION, Kind.PENALTY_DELIVERY, Kind.PENALTY_LATE_ACK,
                                    Kind.FEE)}
        for line in self.lines:
            totals[line.kind] = totals.get(line.kind, ZERO) + line.amount_gbp  # ADJUSTMENT only when there is one
        return totals

    @property
    def total(self) -> Decimal:
        return sum((line.amount_gbp for line in self.lines), ZERO)

    def to_json(self) -> dict[str, Any]:
        start, end = month_bounds(self.month)
        return {
            "fsp": self.fsp, "month": self.month.strftime("%Y-%m"),
            "periodStart": utc_text(start), "periodEnd": utc_text(end),
            "periodStartLondon": london(start), "periodEndLondon": london(end),
            "lines": [line.to_json() for line in self.lines],
            "totals": {k: str(v) for k, v in self.totals.items()}, "totalGbp": str(self.total),
            "charges": {program: {"monthlyFeeGbp": str(pounds(c.monthly_fee_gbp)),
                                  "lateAckPenaltyGbp": str(pounds(c.late_ack_penalty_gbp))}
                        for program, c in sorted(self.charges.items())},
        }

    def digest(self) -> str:
        """What the statement says (lines and total), to tell whether a recomputation changed anything."""
        payload = json.dumps([line.to_json() for line in self.lines], sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()


def _availability_amount(kw: float, seconds_from: datetime, seconds_to: datetime, price: Decimal) -> Decimal:
    return pounds(Decimal(str(kw)) / Decimal(1000) * _hours(seconds_from, seconds_to) * price)


def compute(fsp: str, month: date, windows: Sequence[AcceptedWindow], deliveries: Sequence[Delivery],
            late_acks: Sequence[LateAck], charges: dict[str, ProgramCharges]) -> Statement:
    """The statement of `fsp` for the London month starting `month` (inputs already restricted to the FSP).

    Lines in a stable order: availability by window start, then per event (utilisation, its penalty), late
    acknowledgements by deadline, fees by program.
    """
    start, end = month_bounds(month)
    lines: list[Line] = []
    active_programs: set[str] = set()
    for w in sorted(windows, key=lambda w: (w.start, w.acceptance_id)):
        begin, finish = max(w.start, start), min(w.end, end)
        if finish <= begin:
            continue
        hours = _hours(begin, finish)
        amount = ZERO if w.price_gbp_per_mw_h is None else _availability_amount(w.kw, begin, finish, w.price_gbp_per_mw_h)
        active_programs.add(w.program_id)
        lines.append(Line(
            Kind.AVAILABILITY,
            f"{w.unit} available {begin.astimezone(LONDON):%a %d %b %H:%M %Z}–{finish.astimezone(LONDON):%H:%M %Z}",
            amount, {"acceptanceID": w.acceptance_id, "programID": w.program_id, "unit": w.unit},
            {"from": utc_text(begin), "to": utc_text(finish), "fromLondon": london(begin), "toLondon": london(finish),
             "hours": str(hours.normalize()) if hours == hours.to_integral() else str(round(hours, 6)),
             "kw": w.kw, "priceGbpPerMwH": None if w.price_gbp_per_mw_h is None else str(w.price_gbp_per_mw_h),
             "priceSource": w.price_source}))
    for d in sorted(deliveries, key=lambda d: (d.counted_from, d.event_id)):
        if not start <= d.counted_from < end:
            continue
        active_programs.add(d.program_id)
        refs = {"eventID": d.event_id, "deliveryReportID": d.report_id, "deliveryReportVersion": d.report_version,
                "programID": d.program_id, "unit": d.unit}
        lines.append(Line(
            Kind.UTILISATION, f"{d.event_name}: {d.payable_kwh} kWh delivered ({d.rag})",
            d.earnings_gbp if d.earnings_gbp is not None else ZERO, refs,
            {"payableKwh": str(d.payable_kwh),
             "priceGbpPerMwh": None if d.price_gbp_per_mwh is None else str(d.price_gbp_per_mwh),
             "percent": d.percent, "rag": d.rag, "countedFrom": utc_text(d.counted_from),
             "serviceEnd": utc_text(d.service_end)}))
        if d.rag != "RED":
            continue
        for w in windows:
            if w.unit != d.unit or w.program_id != d.program_id or w.price_gbp_per_mw_h is None:
                continue
            begin = max(w.start, d.counted_from, start)
            finish = min(w.end, d.service_end, end)
            if finish <= begin:
                continue
            amount = -_availability_amount(w.kw, begin, finish, w.price_gbp_per_mw_h)
            lines.append(Line(
                Kind.PENALTY_DELIVERY,
                f"{d.event_name}: under-delivery ({'no delivery evidenced' if d.percent is None else f'{d.percent}%'}"
                f", RED) forfeits availability {begin.astimezone(LONDON):%H:%M}–{finish.astimezone(LONDON):%H:%M %Z}",
                amount, {**refs, "acceptanceID": w.acceptance_id},
                {"from": utc_text(begin), "to": utc_text(finish), "hours": str(round(_hours(begin, finish), 6)),
                 "kw": w.kw, "priceGbpPerMwH": str(w.price_gbp_per_mw_h), "percent": d.percent}))
    for a in sorted(late_acks, key=lambda a: (a.deadline, a.alarm_id)):
        if not start <= a.deadline < end:
            continue
        penalty = charges.get(a.program_id, ProgramCharges()).late_ack_penalty_gbp
        active_programs.add(a.program_id)
        when = "never acknowledged" if a.acknowledged_at is None else \
            f"acknowledged {a.acknowledged_at.astimezone(LONDON):%d %b %H:%M:%S %Z}"
        lines.append(Line(
            Kind.PENALTY_LATE_ACK,
            f"acknowledgement overdue (deadline {a.deadline.astimezone(LONDON):%d %b %H:%M:%S %Z}, {when})",
            -pounds(penalty), {"eventID": a.event_id, "ackAlarmID": a.alarm_id, "programID": a.program_id,
                               "unit": a.unit},
            {"deadline": utc_text(a.deadline),
             "acknowledgedAt": None if a.acknowledged_at is None else utc_text(a.acknowledged_at),
             "penaltyGbp": str(pounds(penalty))}))
    for program_id in sorted(active_programs):
        fee = charges.get(program_id, ProgramCharges()).monthly_fee_gbp
        if fee:
            lines.append(Line(Kind.FEE, "monthly fee", -pounds(fee), {"programID": program_id},
                              {"feeGbp": str(pounds(fee))}))
    applied = {program_id: charges.get(program_id, ProgramCharges()) for program_id in active_programs}
    return Statement(fsp, month, tuple(lines), applied)


# --- prior-period adjustments ---------------------------------------------------------------------------------------


def line_key(line: dict[str, Any]) -> tuple[Any, ...]:
    """(kind, identifying refs) of a stored line; an ADJUSTMENT answers for the line it adjusts."""
    refs = line.get("refs") or {}
    kind = refs.get("adjustsKind") if line["kind"] == Kind.ADJUSTMENT else line["kind"]
    return (kind, *(refs.get(name) for name in _IDENTITY.get(kind, ())))


def stated_charges(document: dict[str, Any], current: dict[str, ProgramCharges]) -> dict[str, ProgramCharges]:
    """The fees and penalties a stated month was computed with, so that a later change of the charges is not paid
    again for a final month: the document's `charges` (written since adjustments exist), else what its FEE and
    PENALTY_LATE_ACK lines show; a program the document did not charge takes `current`."""
    out = dict(current)
    if "charges" in document:
        for program, c in (document["charges"] or {}).items():
            out[program] = ProgramCharges(Decimal(c["monthlyFeeGbp"]), Decimal(c["lateAckPenaltyGbp"]))
        return out
    for line in document.get("lines") or ():
        program, figures = (line.get("refs") or {}).get("programID"), line.get("figures") or {}
        if line["kind"] == Kind.FEE:
            out[program] = replace(out.get(program, ProgramCharges()), monthly_fee_gbp=Decimal(figures["feeGbp"]))
        elif line["kind"] == Kind.PENALTY_LATE_ACK:
            out[program] = replace(out.get(program, ProgramCharges()),
                                   late_ack_penalty_gbp=Decimal(figures["penaltyGbp"]))
    return out


def stated_prices(windows: Sequence[AcceptedWindow], document: dict[str, Any]) -> list[AcceptedWindow]:
    """`windows` with the contract price (or none) a stated month paid each of them at, so that a later change of
    the contract's availability price is not paid again; an awarded price is the acceptance's own and stays."""
    stated = {}
    for line in document.get("lines") or ():
        figures = line.get("figures") or {}
        if line["kind"] == Kind.AVAILABILITY and figures.get("priceSource") in ("contract", "none"):
            price = figures.get("priceGbpPerMwH")
            stated[line["refs"]["acceptanceID"]] = (None if price is None else Decimal(price), figures["priceSource"])
    return [w if w.price_source == "awarded" or w.acceptance_id not in stated else
            replace(w, price_gbp_per_mw_h=stated[w.acceptance_id][0], price_source=stated[w.acceptance_id][1])
            for w in windows]


# what an ADJUSTMENT adds to the refs and figures of the line it adjusts (dropped when a carried one is the origin)
_ADJUSTMENT_REFS = ("adjustsKind", "adjustsMonth", "finalStatementID", "finalStatementVersion")
_ADJUSTMENT_FIGURES = ("recomputedGbp", "finalGbp", "carriedGbp")


def adjustments(recomputed: Statement, final: dict[str, Any], carried: Iterable[dict[str, Any]]) -> list[Line]:
    """ADJUSTMENT lines for a month whose statement `final` (a stored FINAL document) is final: per line, what the
    month's recomputation says minus what was paid for it (the final's line plus the `carried` ADJUSTMENT lines of
    later final statements); a line new since the final is adjusted by its full amount, a line gone by minus what was
    paid; no difference, no line. Each keeps the refs of the line it adjusts and names the final it corrects."""
    month = final["month"]
    now: dict[tuple[Any, ...], dict[str, Any]] = {}
    stated: dict[tuple[Any, ...], dict[str, Any]] = {}
    paid: dict[tuple[Any, ...], Decimal] = {}
    carried_gbp: dict[tuple[Any, ...], Decimal] = {}
    for line in (line.to_json() for line in recomputed.lines):
        now.setdefault(line_key(line), line)  # keys are unique in one statement (one line per key)
    for line in final.get("lines") or ():
        if line["kind"] == Kind.ADJUSTMENT:
            continue  # what the final carried for earlier months is their account, not this month's
        stated.setdefault(line_key(line), line)
        paid[line_key(line)] = paid.get(line_key(line), ZERO) + Decimal(line["amountGbp"])
    for line in carried:
        stated.setdefault(line_key(line), line)
        carried_gbp[line_key(line)] = carried_gbp.get(line_key(line), ZERO) + Decimal(line["amountGbp"])
    out = []
    for key in [*now, *(k for k in stated if k not in now)]:
        recomputed_gbp = Decimal(now[key]["amountGbp"]) if key in now else ZERO
        final_gbp, carried_sum = paid.get(key, ZERO), carried_gbp.get(key, ZERO)
        amount = pounds(recomputed_gbp - final_gbp - carried_sum)
        if not amount:
            continue
        origin = now.get(key) or stated[key]
        kind = key[0]
        what = origin["description"] if key in now else f"{origin['description']} (no longer due)"
        refs = {name: value for name, value in (origin.get("refs") or {}).items()
                if name not in _ADJUSTMENT_REFS}
        figures = {name: value for name, value in (origin.get("figures") or {}).items()
                   if name not in _ADJUSTMENT_FIGURES}
        out.append(Line(
            Kind.ADJUSTMENT, f"{month} {kind} adjusted: {what}; paid {final_gbp + carried_sum}, now {recomputed_gbp}",
            amount, {**refs, "adjustsKind": kind, "adjustsMonth": month, "finalStatementID": final["id"],
                     "finalStatementVersion": final["version"]},
            {**figures, "recomputedGbp": str(recomputed_gbp), "finalGbp": str(final_gbp),
             "carriedGbp": str(pounds(carried_sum))}))
    return out


CSV_HEADER = ("fsp", "month", "statement_id", "version", "status", "kind", "description", "amount_gbp",
              "acceptance_id", "event_id", "delivery_report_id", "delivery_report_version", "ack_alarm_id",
              "program_id", "unit", "figures", "adjusts_month", "adjusts_kind", "final_statement_id",
              "final_statement_version")


def rows(document: dict[str, Any]) -> Iterable[list[Any]]:
    """A stored statement document as table rows (CSV and XLSX): a header, one row per line, then TOTAL."""
    yield list(CSV_HEADER)
    head = [document.get("fsp"), document.get("month"), document.get("id"), document.get("version"),
            document.get("status")]
    for line in document.get("lines") or ():
        refs = line.get("refs") or {}
        yield [*head, line["kind"], line["description"], line["amountGbp"], refs.get("acceptanceID"),
               refs.get("eventID"), refs.get("deliveryReportID"), refs.get("deliveryReportVersion"),
               refs.get("ackAlarmID"), refs.get("programID"), refs.get("unit"),
               json.dumps(line.get("figures") or {}, sort_keys=True), refs.get("adjustsMonth"), refs.get("adjustsKind"),
               refs.get("finalStatementID"), refs.get("finalStatementVersion")]
    yield [*head, "TOTAL", "", document.get("totalGbp"), None, None, None, None, None, None, None, "", None, None,
           None, None]


def statement_csv(document: dict[str, Any]) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows(document):
        writer.writerow(["" if cell is None else cell for cell in row])
    return out.getvalue()


def first_of(moment: datetime) -> date:
    """The first day of the London month `moment` falls in."""
    local = moment.astimezone(LONDON)
    return date(local.year, local.month, 1)


def months_back(first: date, count: int) -> list[date]:
    out = [first]
    for _ in range(count - 1):
        out.append(previous_month(out[-1]))
    return out

