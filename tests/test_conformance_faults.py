"""The suite tests itself: every injected fault (conformance/faults.py) must be caught by a check
that passes on our correct VTN, and the list in docs/conformance.md must match the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conformance.core import Config
from conformance.faults import FAULTS, markdown_table, run_campaign, selected_faults
from tests.conftest import ConformanceVtn

DOC = Path(__file__).resolve().parents[1] / "docs" / "conformance.md"
BEGIN, END = "<!-- faults:begin -->", "<!-- faults:end -->"


@pytest.mark.slow
def test_fault_campaign_against_our_vtn(conformance_vtn: ConformanceVtn) -> None:
    clients = conformance_vtn.clients
    config = Config(vtn_url=conformance_vtn.process.base_url, bl_client=clients["bl"], ven_client=clients["ven"],
                    ven2_client=clients["ven2"], bl2_client=clients["bl2"], privacy=True, notify_timeout=5)
    campaign = run_campaign(config)
    assert not campaign.clean_failures, [
        (r.check.id, r.message) for r in campaign.clean.results if r.check.id in campaign.clean_failures
    ]
    assert len(campaign.scores) == len(FAULTS) >= 40
    missed = [(s.fault.id, s.failed) for s in campaign.scores if not s.caught]
    assert campaign.score >= 0.95, missed
    # a fault counts only when caught by a check that passed on the clean run (not by a flaky or broken one)
    clean_pass = {r.check.id for r in campaign.clean.results if r.outcome.value == "pass"}
    assert all(set(s.caught_by) <= clean_pass for s in campaign.scores)


# faults the 3.1.0 run misses, and why (docs/conformance.md): the program fields RT-02 and NO-02 drop are program
# `attributes` in 3.1.0; FI-06's checks (C079, D006-SUB) do not run on 3.1.0
MISSED_ON_310 = {"RT-02", "NO-02", "FI-06"}


@pytest.mark.slow
def test_fault_campaign_against_our_31_mount(conformance_vtn: ConformanceVtn) -> None:
    """The protocol and shape faults (round trips, list items, required fields, uniqueness, scopes, HTTP surface,
    notifications) through the proxy in front of the 3.1.0 mount, the suite speaking 3.1.0 (openadr3.wire). The
    whole catalogue on 3.1.0 (72 of 75 caught) is `oadr-conformance faults run --version 3.1.0`; this keeps CI short."""
    clients = conformance_vtn.clients
    config = Config(vtn_url=conformance_vtn.process.url + "/openadr3/3.1.0", version="3.1.0", bl_client=clients["bl"],
                    ven_client=clients["ven"], ven2_client=clients["ven2"], bl2_client=clients["bl2"], privacy=True,
                    notify_timeout=5)
    faults = selected_faults(["RT-*", "LI-*", "RQ-*", "UQ-*", "SC-*", "HT-*", "NO-*"])
    campaign = run_campaign(config, faults)
    assert not campaign.clean_failures, [
        (r.check.id, r.message) for r in campaign.clean.results if r.check.id in campaign.clean_failures
    ]
    # every fault of those families has a check that runs on 3.1.0, except events without intervals (optional there)
    assert {f.id for f in faults} - {s.fault.id for s in campaign.scores} == {"RQ-02"}
    missed = {s.fault.id for s in campaign.scores if not s.caught}
    assert missed <= MISSED_ON_310, missed
    clean_pass = {r.check.id for r in campaign.clean.results if r.outcome.value == "pass"}
    assert all(set(s.caught_by) <= clean_pass for s in campaign.scores)


def test_fault_catalogue_is_well_formed() -> None:
    from conformance.core import selected

    known = {c.id for c in selected([])}
    ids = [f.id for f in FAULTS]
    assert len(ids) == len(set(ids)) and len(ids) >= 40
    for f in FAULTS:
        assert f.title and f.source and f.checks, f.id
        assert f.request or f.response or f.notification, f.id
        assert all(c in known for c in f.checks), (f.id, [c for c in f.checks if c not in known])
        assert re.search(r"Y301|D310|RFC \d+|RN:", f.source), f.id


def test_docs_fault_table_matches_the_code() -> None:
    text = DOC.read_text()
    assert BEGIN in text and END in text
    table = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert table == markdown_table(), "regenerate with: oadr-conformance faults list --markdown"
