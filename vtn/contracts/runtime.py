"""The contract's run-time and notice terms on dispatch (docs/gb-profile.md §2.1.1): min/max run time, max weekly
run time and notice, judged on every open dispatch (`vtn.profiles.open_dispatch`) as it is written.

What breaks a term is answered per the unit's `runTimeTerms`: WARN (the default) stores the dispatch with one
GB-Warning header per broken term, REFUSE answers 409 before anything is stored, OFF checks nothing. Weeks are
London weeks (Monday 00:00 local to the next Monday 00:00 local: 167 or 169 hours across a clock change).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.settlement import LONDON, day_start
from vtn.contracts.service import contract_terms
from vtn.core.errors import Conflict
from vtn.programs.models import ProgramRow

RULE_MIN_RUN = "VTN-RT-001"
RULE_MAX_RUN = "VTN-RT-002"
RULE_WEEKLY = "VTN-RT-003"
RULE_NOTICE = "VTN-RT-004"


def _minutes(span: timedelta) -> str:
    return f"{span.total_seconds() / 60:g} min"


def _london(moment: datetime) -> str:
    return moment.astimezone(LONDON).strftime("%d %b %Y %H:%M %Z")


def london_week(moment: datetime) -> tuple[datetime, datetime]:
    """The UTC bounds of the London week (Monday to Monday, local midnights) holding `moment`."""
    local: date = moment.astimezone(LONDON).date()
    monday = local - timedelta(days=local.weekday())
    return day_start(monday), day_start(monday + timedelta(days=7))


def _weeks(start: datetime, end: datetime) -> Iterable[tuple[datetime, datetime]]:
    week = london_week(start)
    while week[0] < end:
        yield week
        week = london_week(week[1])


def _overlap(a: tuple[datetime, datetime], b_: tuple[datetime, datetime]) -> timedelta:
    return max(timedelta(0), min(a[1], b_[1]) - max(a[0], b_[0]))


async def _other_runs(session: AsyncSession, program: ProgramRow, ins: m.DispatchInstruction, until: datetime
                      ) -> list[tuple[datetime, datetime]]:
    """The service windows of the unit's other open dispatches in the program written before `until` (the end of
    the last week judged: nothing written later can be instructed for it). Every such dispatch of the program is
    parsed, so this costs in proportion to the program's dispatches; only done when a weekly limit is set."""
    from vtn.events.models import EventRow
    from vtn.profiles import open_dispatch

    documents = (await session.exec(select(EventRow.document).where(  # type: ignore[call-overload]
        EventRow.program_id == program.id, col(EventRow.created_at) < until))).all()
    runs = []
    for document in documents:
        other = open_dispatch(program.document, document)
        if other is None or other.dispatch_unit != ins.dispatch_unit or other.fsp_id != ins.fsp_id \
                or other.dispatch_ref == ins.dispatch_ref:  # the dispatch being revised is this one
            continue
        runs.append((b.utc(other.service_start), b.utc(other.service_end)))
    return runs


async def run_term_problems(session: AsyncSession, program: ProgramRow, ins: m.DispatchInstruction,
                            terms: m.Contract) -> list[tuple[str, str]]:
    """(rule, message) for every run-time or notice term `ins` breaks."""
    start, end = b.utc(ins.service_start), b.utc(ins.service_end)
    run = end - start
    where = f"the dispatch of {ins.dispatch_unit} ({ins.fsp_id}) from {_london(start)} to {_london(end)}"
    problems = []
    if terms.min_run_time is not None and run < terms.min_run_time:
        problems.append((RULE_MIN_RUN, f"{RULE_MIN_RUN}: {where} runs {_minutes(run)}, less than the contract's "
                                       f"minimum run time of {_minutes(terms.min_run_time)}"))
    if terms.max_run_time is not None and run > terms.max_run_time:
        problems.append((RULE_MAX_RUN, f"{RULE_MAX_RUN}: {where} runs {_minutes(run)}, more than the contract's "
                                       f"maximum run time of {_minutes(terms.max_run_time)}"))
    if terms.notice is not None and ins.revision == 1:  # later revisions amend a dispatch already given notice
        given = start - b.utc(ins.instruction_time)
        if given < terms.notice:
            problems.append((RULE_NOTICE, f"{RULE_NOTICE}: {where} was instructed at "
                                          f"{_london(b.utc(ins.instruction_time))}, {_minutes(given)} ahead, less "
                                          f"than the contract's notice of {_minutes(terms.notice)}"))
    if terms.max_weekly_run_time is not None:
        weeks = list(_weeks(start, end))
        others = await _other_runs(session, program, ins, weeks[-1][1])
        for week in weeks:
            total = _overlap((start, end), week) + sum((_overlap(r, week) for r in others), timedelta(0))
            if total > terms.max_weekly_run_time:
                monday = week[0].astimezone(LONDON).strftime("%d %b %Y")
                problems.append((RULE_WEEKLY, f"{RULE_WEEKLY}: {where} brings the unit's dispatched run time in the "
                                              f"London week commencing {monday} to {_minutes(total)}, more than the "
                                              f"contract's maximum weekly run time of "
                                              f"{_minutes(terms.max_weekly_run_time)}"))
    return problems


async def run_term_warnings(session: AsyncSession, program: ProgramRow, ins: m.DispatchInstruction) -> list[str]:
    """The warnings for an open dispatch (WARN), or a 409 naming every broken term (REFUSE); nothing for OFF."""
    terms = await contract_terms(session, program.operator, program.id, ins.dispatch_unit)
    if terms.run_terms is m.OutsideWindows.OFF:
        return []
    problems = await run_term_problems(session, program, ins, terms)
    if problems and terms.run_terms is m.OutsideWindows.REFUSE:
        raise Conflict("; ".join(p for _, p in problems) + "; this program refuses such dispatches",
                       extra={"errors": [{"rule": r, "field": "intervalPeriod", "message": p} for r, p in problems]})
    return [p for _, p in problems]
