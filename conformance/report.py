"""Terminal summary, JUnit XML, JSON and Markdown renderings of a run."""

from __future__ import annotations

import json
import platform
from collections import defaultdict
from importlib import metadata
from xml.etree import ElementTree as ET

from conformance.core import Outcome, Run

SYMBOL = {Outcome.PASS: "PASS", Outcome.FAIL: "FAIL", Outcome.SKIP: "skip", Outcome.ERROR: "ERR "}


def suite_version() -> str:
    try:
        return metadata.version("gb-openadr3")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def terminal(run: Run) -> str:
    lines = [f"OpenADR {run.config.version} {run.suite} conformance — {run.subject or run.config.vtn_url}"]
    by_area = defaultdict(list)
    for r in run.results:
        by_area[r.check.area].append(r)
    for area, results in by_area.items():
        counts = {o: sum(1 for r in results if r.outcome == o) for o in Outcome}
        lines.append(
            f"  {area:<14} pass {counts[Outcome.PASS]:>3}  fail {counts[Outcome.FAIL]:>3}  "
            f"skip {counts[Outcome.SKIP]:>3}  error {counts[Outcome.ERROR]:>3}"
        )
    bad = [r for r in run.results if r.outcome in (Outcome.FAIL, Outcome.ERROR)]
    if bad:
        lines.append("Failures:")
        for r in bad:
            lines.append(f"  {SYMBOL[r.outcome]} {r.check.id} {r.check.title}")
            lines.append(f"       {r.message}")
            lines += [f"       evidence: {e[:400]}" for e in r.evidence[:2]]
    c = run.counts()
    lines.append(
        f"Total {c['total']}: {c['pass']} passed, {c['fail']} failed, {c['skip']} skipped, {c['error']} errors "
        f"({(run.finished - run.started).total_seconds():.1f} s)"
    )
    if run.cleanup_problems:
        lines.append(f"Cleanup problems ({len(run.cleanup_problems)}): " + " | ".join(run.cleanup_problems[:3]))
    return "\n".join(lines)


def to_json(run: Run) -> str:
    return json.dumps(
        {
            "suite": "oadr-conformance",
            "side": run.suite,
            "subject": run.subject or run.config.vtn_url,
            # the VEN under test, machine-readable: a VTN's sandbox sign-off checks it names the FSP's VEN
            **({"venName": run.config.ven_name} if run.suite == "VEN" else {}),
            "suiteVersion": suite_version(),
            "specVersion": run.config.version,
            "vtnUrl": run.config.vtn_url,
            "started": run.started.isoformat(),
            "finished": run.finished.isoformat(),
            "runPrefix": run.prefix,
            "profile": run.config.profile,
            "counts": run.counts(),
            "cleanupProblems": run.cleanup_problems,
            "results": [r.to_dict() for r in run.results],
        },
        indent=2,
    )


def to_junit(run: Run) -> str:
    c = run.counts()
    suite = ET.Element(
        "testsuite",
        name="oadr-conformance" if run.suite == "VTN" else f"oadr-conformance-{run.suite.lower()}",
        tests=str(c["total"]),
        failures=str(c["fail"]),
        errors=str(c["error"]),
        skipped=str(c["skip"]),
        timestamp=run.started.isoformat(),
        time=f"{(run.finished - run.started).total_seconds():.3f}",
    )
    for r in run.results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"conformance.{r.check.area}",
            name=f"{r.check.id} {r.check.title}",
            time=f"{r.duration:.3f}",
        )
        detail = "\n".join([r.message, *r.evidence])
        if r.outcome == Outcome.FAIL:
            ET.SubElement(case, "failure", message=r.message[:500]).text = detail
        elif r.outcome == Outcome.ERROR:
            ET.SubElement(case, "error", message=r.message[:500]).text = detail
        elif r.outcome == Outcome.SKIP:
            ET.SubElement(case, "skipped", message=r.message[:500])
        if r.outcome == Outcome.PASS and r.message:
            ET.SubElement(case, "system-out").text = r.message
    return ET.tostring(ET.ElementTree(suite).getroot(), encoding="unicode", xml_declaration=True)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(run: Run) -> str:
    c = run.counts()
    out = [
        f"# OpenADR {run.config.version} {run.suite} conformance report",
        "",
        "| | |",
        "|---|---|",
        *([f"| VEN under test | {_cell(run.subject)} |"] if run.suite == "VEN" else []),
        f"| VTN URL | {run.config.vtn_url} |",
        f"| Date (UTC) | {run.started.strftime('%Y-%m-%d %H:%M:%S')} |",
        f"| Suite | oadr-conformance {suite_version()} (Python {platform.python_version()}) |",
        f"| Specification | OpenADR {run.config.version} (openadr3.yaml) |",
        f"| Profile | {run.config.profile or 'none'} |",
        f"| Result | **{c['pass']} passed, {c['fail']} failed, {c['error']} errors, {c['skip']} skipped** of {c['total']} |",
        "",
    ]
    by_area = defaultdict(list)
    for r in run.results:
        by_area[r.check.area].append(r)
    for area, results in by_area.items():
        out += [f"## {area}", "", "| ID | Check | Source | Result | Detail |", "|---|---|---|---|---|"]
        for r in results:
            out.append(
                f"| {r.check.id} | {_cell(r.check.title)} | {_cell(r.check.source)} | {r.outcome.value} | {_cell(r.message)} |"
            )
        failures = [r for r in results if r.outcome in (Outcome.FAIL, Outcome.ERROR)]
        if failures:
            out += ["", "### Evidence", ""]
            for r in failures:
                out.append(f"- **{r.check.id}** {r.message}")
                out += [f"  - `{_cell(e[:600])}`" for e in r.evidence]
        out.append("")
    if run.cleanup_problems:
        out += ["## Cleanup problems", "", *[f"- {p}" for p in run.cleanup_problems], ""]
    return "\n".join(out)
