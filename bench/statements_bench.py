"""What a monthly statement round costs (docs/benchmarks.md, issue 16).

In process, on a fresh database: F FSPs of one operator, each with W accepted availability windows and D delivery
reports in March 2027 (rows written directly, as vtn.contracts and vtn.delivery would), then
- the first round of the statement worker (`vtn.statements.service.run_due` on 1 April: F provisional versions),
- a second round that changes nothing (F recomputations, digests equal, nothing issued),
each timed; and the pure computation of one statement (`gb_profile.statements.compute`), median of R.

    python bench/statements_bench.py [--fsps 200] [--windows 60] [--deliveries 20] [--repeat 5]
                                     [--postgres postgresql+asyncpg://postgres@127.0.0.1:5432/DB]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fsps", type=int, default=200)
    parser.add_argument("--windows", type=int, default=60)
    parser.add_argument("--deliveries", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--postgres", default=None, help="an empty PostgreSQL database URL (default: SQLite in a temp dir)")
    args = parser.parse_args()

    from gb_profile import statements as st
    from vtn.contracts.models import AcceptanceRow
    from vtn.core.database import Database
    from vtn.core.migrate import upgrade
    from vtn.delivery.models import DeliveryReportRow
    from vtn.statements.service import run_due

    url = args.postgres or f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/bench.db"
    upgrade(url)
    start = datetime(2027, 3, 1, tzinfo=UTC)
    now = datetime(2027, 3, 2, tzinfo=UTC)

    async def seed(db: Database) -> None:
        async with db.session() as session:
            for f in range(args.fsps):
                fsp = f"FSP-{f:04d}"
                for w in range(args.windows):
                    begin = start + timedelta(hours=11 * w + 1)
                    session.add(AcceptanceRow(
                        operator="", program_id="P-1", report_id=f"r-{f}-{w}", ven_name=fsp, unit="DU-1",
                        week=st.first_of(begin).isoformat(), start=begin, end=begin + timedelta(hours=3),
                        direction="TURN_DOWN", declared_kw=500.0, status="ACCEPTED", accepted_kw=400.0,
                        awarded_price=10.5, entered_by="bench", created_at=now))
                for d in range(args.deliveries):
                    begin = start + timedelta(hours=11 * d * 3 + 1)
                    document = {"eventName": f"NGED:D-{f}-{d}", "dispatchUnit": "DU-1",
                                "serviceEnd": (begin + timedelta(hours=1)).isoformat(), "payableKwh": 180.0,
                                "utilisationPriceGbpPerMwh": "300", "earningsGbp": "54.00",
                                "percent": 90.0 if d % 4 else 50.0, "rag": "AMBER" if d % 4 else "RED"}
                    session.add(DeliveryReportRow(
                        id=str(uuid.uuid4()), operator="", program_id="P-1", event_id=f"ev-{f}-{d}", fsp=fsp,
                        version=1, latest=True, stale=False, reason="bench", window_start=begin,
                        window_end=begin + timedelta(hours=2), issued_at=now, document=document, baseline={}))

    async def round_at(db: Database, moment: datetime) -> tuple[int, float]:
        began = time.perf_counter()
        async with db.session() as session:
            issued = await run_due(session, moment)
        return len(issued), time.perf_counter() - began

    async def run() -> None:
        db = Database(url)
        try:
            await seed(db)
            first = await round_at(db, datetime(2027, 3, 31, 23, 5, tzinfo=UTC))
            second = await round_at(db, datetime(2027, 4, 1, 6, tzinfo=UTC))
        finally:
            await db.dispose()
        print(f"database: {url.split(':')[0]}; {args.fsps} FSPs × {args.windows} windows + {args.deliveries} delivery "
              f"reports in March 2027")
        print(f"first round (provisional): {first[0]} statements in {first[1]:.2f} s "
              f"({1000 * first[1] / max(first[0], 1):.1f} ms each)")
        print(f"second round (nothing changed): {second[0]} issued in {second[1]:.2f} s")

    asyncio.run(run())

    windows = [st.AcceptedWindow(w, "P-1", "DU-1", start + timedelta(hours=11 * w), start + timedelta(hours=11 * w + 3),
                                 400.0, Decimal("10.5"), "awarded") for w in range(args.windows)]
    deliveries = [st.Delivery(f"ev-{d}", f"D-{d}", "P-1", "DU-1", f"dr-{d}", 1, start + timedelta(hours=33 * d),
                              start + timedelta(hours=33 * d + 1), Decimal("180"), Decimal("300"), Decimal("54.00"),
                              50.0, "RED") for d in range(args.deliveries)]
    times = []
    for _ in range(args.repeat):
        began = time.perf_counter()
        st.compute("F", date(2027, 3, 1), windows, deliveries, [], {})
        times.append(time.perf_counter() - began)
    print(f"pure compute of one statement: median {1000 * statistics.median(times):.2f} ms (R={args.repeat})")


if __name__ == "__main__":
    main()
