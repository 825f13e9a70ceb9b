"""Pieces every load generator here shares: an OAuth2 client-credentials token, latency statistics and the VTN's own
CPU time."""

from __future__ import annotations

import math
import os
import shutil
import statistics
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2


def fetch_token(base_url: str, client_id: str, secret: str) -> str:
    """A bearer token from the VTN's built-in token endpoint (`base_url` = the API base, e.g. …/openadr3/3.0.1)."""
    response = httpx2.post(base_url + "/auth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
    response.raise_for_status()
    return str(response.json()["access_token"])


def percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (no interpolation: a latency that was really measured)."""
    if not ordered:
        return math.nan
    return ordered[max(math.ceil(fraction * len(ordered)) - 1, 0)]


def latency_stats(latencies: list[float], elapsed: float) -> dict[str, float]:
    """requests, rps, p50_ms and p99_ms of request latencies in seconds measured over `elapsed` seconds."""
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "rps": len(ordered) / elapsed if elapsed > 0 else 0.0,
        "p50_ms": statistics.median(ordered) * 1000 if ordered else math.nan,
        "p99_ms": percentile(ordered, 0.99) * 1000,
    }


def process_tree(pid: int) -> list[int]:
    """The VTN process and its workers (Linux /proc)."""
    pids = [pid]
    for p in pids:
        try:
            pids += [int(c) for t in Path(f"/proc/{p}/task").iterdir() for c in (t / "children").read_text().split()]
        except OSError:
            continue
    return pids


def memory(pid: int | None) -> str:
    """Resident and peak resident memory of the VTN process and its workers."""
    if pid is None:
        return "rss ?"
    pids, rss, hwm = process_tree(pid), 0, 0
    for p in pids:
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        rss += int(fields.get("VmRSS", "0 kB").split()[0])
        hwm += int(fields.get("VmHWM", "0 kB").split()[0])
    return f"rss {rss / 1024:.0f} MiB, peak {hwm / 1024:.0f} MiB ({len(pids)} process(es))"


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of the VTN process and its workers so far (what the machine's other load does not
    inflate; per request it is the VTN's own cost)."""
    total = 0
    for p in process_tree(pid) if pid is not None else []:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


@contextmanager
def py_spy(pid: int | None, out: Path | None, seconds: float) -> Iterator[None]:
    """A py-spy profile (speedscope JSON) of the VTN and its child processes for `seconds`, if `out` is given."""
    if pid is None or out is None or shutil.which("py-spy") is None:
        yield
        return
    recorder = subprocess.Popen(["py-spy", "record", "--pid", str(pid), "--subprocesses", "--duration", f"{seconds:g}",
                                 "--rate", "200", "--format", "speedscope", "--output", str(out), "--nonblocking"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        recorder.wait(timeout=seconds + 60)
