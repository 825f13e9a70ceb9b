"""The contract's run-time and notice terms on dispatch (vtn.contracts.runtime, docs/gb-profile.md §2.1.1), worked
in London time across the spring 2027 clock change (the week commencing Monday 22 March is 167 hours long)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from gb_profile import builders as b
from gb_profile.examples import example_instruction, example_program
from vtn.contracts.runtime import RULE_MAX_RUN, RULE_MIN_RUN, RULE_NOTICE, RULE_WEEKLY, london_week

EARLY = datetime(2027, 3, 10, 9, tzinfo=UTC)  # instructed well ahead: Wednesday 10 March, 09:00 GMT
TERMS = {"minRunMinutes": 60, "maxRunMinutes": 180, "maxWeeklyRunMinutes": 240, "noticeMinutes": 10 * 24 * 60}


def _dispatch(program_id: str, ref: str, start: datetime, minutes: int, instructed: datetime = EARLY,
              revision: int = 1) -> dict:
    base = example_instruction()
    ins = replace(base, dispatch_ref=ref, revision=revision, instruction_time=instructed, service_start=start,
                  service_end=start + timedelta(minutes=minutes),
                  setpoints=(replace(base.setpoints[0], timestamp=start),))
    event = b.build_event(ins, program_id).dump()
    event.pop("id", None)
    return event


def _program(bl, **terms) -> str:  # type: ignore[no-untyped-def]
    program_id = bl.post("/programs", json=example_program().dump()).json()["id"]
    put = bl.put(f"/admin/gb/programs/{program_id}/terms", json={**TERMS, **terms})
    assert put.status_code == 200, put.text
    return str(program_id)


def _warnings(response) -> list[str]:  # type: ignore[no-untyped-def]
    assert response.status_code in (200, 201), response.text
    return response.headers.get_list("GB-Warning")


def test_london_week_across_the_spring_clock_change() -> None:
    start, end = london_week(datetime(2027, 3, 28, 22, 30, tzinfo=UTC))  # Sunday 23:30 BST
    assert (start, end) == (datetime(2027, 3, 22, 0, tzinfo=UTC), datetime(2027, 3, 28, 23, tzinfo=UTC))
    assert end - start == timedelta(hours=167)
    assert london_week(datetime(2027, 3, 28, 23, 0, tzinfo=UTC))[0] == end  # Monday 29 March 00:00 BST


def test_run_time_and_notice_terms_warned(bl):  # type: ignore[no-untyped-def]
    program_id = _program(bl)
    # A: Tuesday 23 March 10:00-13:00 GMT, 180 min: at the maximum run time, nothing to say
    a = bl.post("/events", json=_dispatch(program_id, "R-A", datetime(2027, 3, 23, 10, tzinfo=UTC), 180))
    assert _warnings(a) == []
    # B: Sunday 28 March 23:00 BST to Monday 29 March 00:30 BST (22:00-23:30 UTC): only its first 60 minutes lie in
    # the London week of 22 March (which ends at 23:00 UTC, midnight BST), so that week holds 180 + 60 = 240 min,
    # at the limit. (Counted by UTC weeks it would be 270 min, over.)
    b_ = bl.post("/events", json=_dispatch(program_id, "R-B", datetime(2027, 3, 28, 22, tzinfo=UTC), 90))
    assert _warnings(b_) == []
    # C: Wednesday 31 March 10:00-10:30 BST, 30 min: under the minimum run time, stated in London time
    c = bl.post("/events", json=_dispatch(program_id, "R-C", datetime(2027, 3, 31, 9, tzinfo=UTC), 30))
    [warning] = _warnings(c)
    assert warning.startswith(RULE_MIN_RUN) and "from 31 Mar 2027 10:00 BST to 31 Mar 2027 10:30 BST" in warning
    assert "runs 30 min, less than the contract's minimum run time of 60 min" in warning
    # D: Monday 22 March 06:00-07:00 GMT: the week now holds 180 + 60 + 60 = 300 min > 240
    d = bl.post("/events", json=_dispatch(program_id, "R-D", datetime(2027, 3, 22, 6, tzinfo=UTC), 60))
    [warning] = _warnings(d)
    assert warning.startswith(RULE_WEEKLY) and "week commencing 22 Mar 2027 to 300 min" in warning
    # E: 4 h, instructed 7 days ahead of Thursday 1 April 10:00 BST: over the maximum run, short of the notice
    e = bl.post("/events", json=_dispatch(program_id, "R-E", datetime(2027, 4, 1, 9, tzinfo=UTC), 240,
                                          instructed=datetime(2027, 3, 25, 9, tzinfo=UTC)))
    warnings = _warnings(e)
    assert [w.split(":")[0] for w in warnings] == [RULE_MAX_RUN, RULE_NOTICE, RULE_WEEKLY]
    # ... and its week (from Monday 29 March 00:00 BST) holds B's last 30 min + C's 30 + E's 240 = 300 min
    assert "week commencing 29 Mar 2027 to 300 min" in warnings[2]
    assert "instructed at 25 Mar 2027 09:00 GMT, 10080 min ahead, less than the contract's notice of 14400 min" \
        in warnings[1]
    # A revised to 10:00-12:00 (revision 2): counted once, not beside its own first revision: 120 + 60 + 60 = 240;
    # a revision is not held to the notice (revision 2 is instructed the day before)
    revised = bl.put(f"/events/{a.json()['id']}", json=_dispatch(
        program_id, "R-A", datetime(2027, 3, 23, 10, tzinfo=UTC), 120, instructed=datetime(2027, 3, 22, 12, tzinfo=UTC),
        revision=2))
    assert _warnings(revised) == []


def test_run_terms_refused_or_off_per_the_terms(bl):  # type: ignore[no-untyped-def]
    program_id = _program(bl, runTimeTerms="REFUSE")
    effective = bl.get(f"/admin/gb/programs/{program_id}/terms/effective").json()
    assert effective["runTimeTerms"] == "REFUSE"
    short = bl.post("/events", json=_dispatch(program_id, "R-S", datetime(2027, 3, 31, 9, tzinfo=UTC), 30))
    assert short.status_code == 409 and short.headers["content-type"].startswith("application/problem+json")
    assert {e["rule"] for e in short.json()["errors"]} == {RULE_MIN_RUN}
    assert "NGED:R-S" not in [e["eventName"] for e in bl.get("/events", params={"programID": program_id}).json()]
    ok = bl.post("/events", json=_dispatch(program_id, "R-OK", datetime(2027, 3, 31, 9, tzinfo=UTC), 60))
    assert _warnings(ok) == []

    bad = bl.put(f"/admin/gb/programs/{program_id}/terms", json={**TERMS, "runTimeTerms": "SOMETIMES"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "runTimeTerms"
    assert bl.get(f"/admin/gb/programs/{program_id}/terms/effective").json()["runTimeTerms"] == "REFUSE"

    assert bl.put(f"/admin/gb/programs/{program_id}/terms", json={**TERMS, "runTimeTerms": "OFF"}).status_code == 200
    off = bl.post("/events", json=_dispatch(program_id, "R-S2", datetime(2027, 3, 31, 9, tzinfo=UTC), 30))
    assert _warnings(off) == []
