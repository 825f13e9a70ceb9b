"""What the acknowledgement-deadline check and the outside-window check cost (docs/benchmarks.md, issue 16).

In process, on a fresh database: N GB dispatches (half acknowledged) of one operator, then
- the background check's pass (`vtn.contracts.acks.check_once`: every operator's `ack_deadlines`, alarm rows), and
- the admin API's `GET /admin/gb/ack-deadlines`,
timed R times each; and `POST /events` of a dispatch with the outside-window check OFF vs WARN (median of R).
With `--fresh F`, all but the last F dispatches are then aged (their `modified_at` spread evenly over the last
7 days, as a week of dispatching leaves them) and the check pass is timed both ways: the full 7-day lookback
(each process's first pass; every pass before the bounded lookback) and the routine bounded one (longest ack
period + `CHECK_MARGIN`).

    python bench/ack_deadline_bench.py [--dispatches 1000] [--repeat 5] [--fresh 50] [--postgres postgresql+asyncpg://postgres@127.0.0.1:5432/DB]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dispatches", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--fresh", type=int, default=None, help="age all but this many dispatches over 7 days")
    parser.add_argument("--postgres", default=None, help="an empty PostgreSQL database URL (default: SQLite in a temp dir)")
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from gb_profile import builders as b
    from gb_profile.examples import example_instruction, example_program
    from openadr3.models import Event
    from tests.conftest import Clients, vtn_test_settings
    from vtn.app import create_app
    from vtn.contracts.acks import check_once
    from vtn.core.migrate import upgrade

    url = args.postgres or f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/bench.db"
    upgrade(url)
    app = create_app(vtn_test_settings(url))
    base = "/openadr3/3.0.1"
    with TestClient(app) as http:
        clients = Clients(http)
        bl, ven = clients.bl(), clients.ven("FSP-ACME")
        auth = {"Authorization": f"Bearer {bl.token}"}
        vauth = {"Authorization": f"Bearer {ven.token}"}
        program_id = http.post(base + "/programs", json=example_program().dump(), headers=auth).json()["id"]
        http.put(base + f"/admin/gb/programs/{program_id}/terms", json={"ackPeriodSeconds": 300}, headers=auth)
        http.post(base + "/vens", json={"venName": "FSP-ACME"}, headers=vauth)
        template = example_instruction()
        now = datetime.now(UTC).replace(microsecond=0)

        def dispatch(i: int) -> dict:
            start = now + timedelta(days=2, minutes=30 * i)
            ins = replace(template, dispatch_ref=f"B-{i}", instruction_time=now - timedelta(minutes=10),
                          service_start=start, service_end=start + timedelta(minutes=30),
                          setpoints=(replace(template.setpoints[0], timestamp=start),))
            doc = b.build_event(ins, program_id).dump()
            doc.pop("id", None)
            return doc

        started = time.perf_counter()
        for i in range(args.dispatches):
            event = http.post(base + "/events", json=dispatch(i), headers=auth).json()
            if i % 2 == 0:
                ack = b.build_ack_report(b.acknowledge(Event.model_validate(event), now), program_id, event["id"]).dump()
                ack.pop("id", None)
                http.post(base + "/reports", json=ack, headers=vauth)
        print(f"seeded {args.dispatches} dispatches in {time.perf_counter() - started:.1f} s on {url.split(':')[0]}")

        def timed(call) -> list[float]:  # type: ignore[no-untyped-def]
            out = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                call()
                out.append((time.perf_counter() - t0) * 1000)
            return out

        if args.fresh is not None:
            from sqlalchemy import update
            from sqlmodel import select

            from vtn.events.models import EventRow

            async def age() -> None:
                async with app.state.db.session() as session:
                    ids = [r for r in (await session.exec(select(EventRow.id).order_by(EventRow.created_at))).all()]
                    old = ids[:max(0, len(ids) - args.fresh)]
                    for i, event_id in enumerate(old):
                        back = timedelta(hours=2) + (timedelta(days=7) - timedelta(hours=3)) * (i / max(1, len(old)))
                        await session.exec(update(EventRow).where(EventRow.id == event_id)  # type: ignore[call-overload]
                                           .values(modified_at=now - back))

            http.portal.call(age)  # type: ignore[union-attr]
            http.portal.call(check_once, app.state.db)  # type: ignore[union-attr]  # writes the alarms
            full = timed(lambda: http.portal.call(check_once, app.state.db))  # type: ignore[union-attr]
            bounded = timed(lambda: http.portal.call(  # type: ignore[union-attr]
                lambda: check_once(app.state.db, full=False)))
            print(f"check pass over {args.dispatches} dispatches, {args.fresh} in the last hour: full 7-day lookback "
                  f"median {statistics.median(full):.0f} ms (max {max(full):.0f}); bounded lookback median "
                  f"{statistics.median(bounded):.0f} ms (max {max(bounded):.0f})")
        passes = timed(lambda: http.portal.call(check_once, app.state.db))  # type: ignore[union-attr]
        api = timed(lambda: http.get(base + "/admin/gb/ack-deadlines", headers=auth).raise_for_status())
        print(f"background check pass: median {statistics.median(passes):.0f} ms, max {max(passes):.0f} ms "
              f"({args.dispatches} dispatches, {args.dispatches // 2} overdue)")
        print(f"GET /admin/gb/ack-deadlines: median {statistics.median(api):.0f} ms, max {max(api):.0f} ms")

        results = {}
        for mode in ("OFF", "WARN"):
            http.put(base + f"/admin/gb/programs/{program_id}/terms",
                     json={"ackPeriodSeconds": 300, "outsideAcceptedWindows": mode}, headers=auth)
            offset = 10_000 if mode == "OFF" else 20_000
            counter = iter(range(offset, offset + 10 * args.repeat))
            results[mode] = timed(lambda counter=counter: http.post(  # type: ignore[misc]
                base + "/events", json=dispatch(next(counter)), headers=auth).raise_for_status())
        print("POST /events (dispatch): median OFF {:.1f} ms, WARN {:.1f} ms".format(
            statistics.median(results["OFF"]), statistics.median(results["WARN"])))


if __name__ == "__main__":
    main()
