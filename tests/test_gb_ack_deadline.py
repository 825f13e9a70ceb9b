"""Acknowledgement deadlines (vtn.contracts.acks, docs/gb-profile.md §6.1.1): computed on read from the terms'
ack period, overdue ones alarmed once by the background check, late ones recorded as late."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from gb_profile import board
from gb_profile import builders as b
from gb_profile.examples import FSP, example_instruction, example_program
from vtn.core.database import utcnow


def _dispatch(program_id: str, ref: str, instructed: datetime) -> dict:
    base = example_instruction()
    start = instructed + timedelta(days=2)
    ins = replace(base, dispatch_ref=ref, instruction_time=instructed, service_start=start,
                  service_end=start + timedelta(hours=1), setpoints=(replace(base.setpoints[0], timestamp=start),))
    event = b.build_event(ins, program_id).dump()
    event.pop("id", None)
    return event


def _ack(event: dict, received: datetime) -> dict:
    from openadr3.models import Event

    report = b.build_ack_report(b.acknowledge(Event.model_validate(event), received), event["programID"],
                                event["id"]).dump()
    report.pop("id", None)
    return report


def test_overdue_alarmed_once_then_recorded_late(bl, clients, app):  # type: ignore[no-untyped-def]
    from vtn.contracts.acks import check_once

    program_id = bl.post("/programs", json=example_program().dump()).json()["id"]
    assert bl.put(f"/admin/gb/programs/{program_id}/terms", json={"ackPeriodSeconds": 120}).status_code == 200
    ven = clients.ven(FSP)
    ven.post("/vens", json={"venName": FSP})
    ven_id = ven.get("/vens").json()[0]["id"]
    assert ven.post(f"/vens/{ven_id}/resources", json={"resourceName": "DU-7"}).status_code == 201
    now = utcnow().replace(microsecond=0)
    old = bl.post("/events", json=_dispatch(program_id, "D-OLD", now - timedelta(minutes=10))).json()
    fresh = bl.post("/events", json=_dispatch(program_id, "D-NEW", now)).json()

    states = {d["eventName"]: d for d in bl.get("/admin/gb/ack-deadlines").json()}
    assert states["NGED:D-OLD"]["state"] == "OVERDUE" and states["NGED:D-NEW"]["state"] == "WAITING"
    assert states["NGED:D-OLD"]["deadline"] == b.utc_text(now - timedelta(minutes=8)).replace("+00:00", "Z")
    assert states["NGED:D-OLD"]["alarmRaisedDateTime"] is None
    assert [d["eventName"] for d in bl.get("/admin/gb/ack-deadlines", params={"state": "OVERDUE"}).json()] == [
        "NGED:D-OLD"]

    # the background check raises it once, however often (or in however many processes) it runs
    raised = bl.http.portal.call(check_once, app.state.db)
    assert [(r.event_id, r.revision, r.ven_name, r.unit) for r in raised] == [(old["id"], 1, FSP, "DU-7")]
    assert bl.http.portal.call(check_once, app.state.db) == []
    assert bl.get("/admin/gb/ack-deadlines", params={"state": "OVERDUE"}).json()[0]["alarmRaisedDateTime"]
    audit = bl.get("/admin/audit", params={"action": "gb.ack.overdue"}).json()
    assert [a["objectID"] for a in audit] == [old["id"]]

    # the acknowledgements arrive: the old one late (recorded, alarm cleared), the new one on time
    assert ven.post("/reports", json=_ack(old, utcnow())).status_code == 201
    assert ven.post("/reports", json=_ack(fresh, utcnow())).status_code == 201
    states = {d["eventName"]: d for d in bl.get("/admin/gb/ack-deadlines").json()}
    assert states["NGED:D-OLD"]["state"] == "LATE" and states["NGED:D-NEW"]["state"] == "ON_TIME"
    late = bl.get("/admin/audit", params={"action": "gb.ack.late"}).json()
    assert len(late) == 1 and late[0]["detail"]["eventID"] == old["id"] and late[0]["detail"]["lateSeconds"] > 400

    async def open_alarms() -> int:
        from vtn.contracts.acks import alarm_rows

        async with app.state.db.session(write=False) as session:
            return len(await alarm_rows(session, ""))

    assert bl.http.portal.call(open_alarms) == 0
    assert clients.ven(FSP).get("/admin/gb/ack-deadlines").status_code == 403


def test_deadline_states() -> None:
    ins = example_instruction()
    event = b.build_event(ins, "p", event_id="e").dump()
    [state] = board.ack_status(event, [])
    deadline = board.ack_deadline(state, timedelta(minutes=5))
    assert deadline is not None and deadline.deadline == ins.instruction_time + timedelta(minutes=5)
    assert deadline.state(deadline.deadline - timedelta(seconds=1)) == "WAITING"
    assert deadline.state(deadline.deadline) == "OVERDUE"
    assert board.ack_deadline(state, None) is None
    on_time = replace(deadline, acknowledged=deadline.deadline)
    assert on_time.state(datetime(2030, 1, 1, tzinfo=UTC)) == "ON_TIME"
    assert replace(deadline, acknowledged=deadline.deadline + timedelta(seconds=1)).state(deadline.deadline) == "LATE"


def test_routine_pass_reads_only_the_longest_ack_period_plus_margin(bl, clients, app):  # type: ignore[no-untyped-def]
    from sqlalchemy import update

    from vtn.contracts.acks import CHECK_MARGIN, check_lookback, check_once
    from vtn.events.models import EventRow

    db = app.state.db

    async def lookback():  # type: ignore[no-untyped-def]
        async with db.session(write=False) as session:
            return await check_lookback(session, "")

    program_id = bl.post("/programs", json=example_program().dump()).json()["id"]
    assert bl.http.portal.call(lookback) is None  # no ack period anywhere: a routine pass reads nothing
    assert bl.put(f"/admin/gb/programs/{program_id}/terms", json={"ackPeriodSeconds": 120}).status_code == 200
    assert bl.put(f"/admin/gb/programs/{program_id}/terms/units/DU-9", json={"ackPeriodSeconds": 900}).status_code == 200
    assert bl.http.portal.call(lookback) == timedelta(seconds=900) + CHECK_MARGIN  # the longest, unit level included

    now = utcnow().replace(microsecond=0)
    old = bl.post("/events", json=_dispatch(program_id, "D-AGED", now - timedelta(hours=3))).json()

    async def age() -> None:  # written 3 hours ago: beyond 900 s + 1 h
        async with db.session() as session:
            await session.exec(update(EventRow).where(EventRow.id == old["id"])  # type: ignore[call-overload]
                               .values(modified_at=now - timedelta(hours=3)))

    bl.http.portal.call(age)
    assert bl.http.portal.call(lambda: check_once(db, full=False)) == []  # a routine pass: judged long ago
    [raised] = bl.http.portal.call(lambda: check_once(db, full=True))  # a process's first pass catches it up
    assert raised.event_id == old["id"]
