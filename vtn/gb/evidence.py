"""A dispatch's evidence bundle: one JSON document an operator can archive or hand to a dispute
(docs/gb-profile.md §7.1). `GET {base}/admin/events/{eventID}/evidence`, `vtn gb evidence`, the console's
download on the dispatch's delivery page.

Every signature is verified here, by the VTN, against the keys it holds (the operator's from the settings, the
FSP's registered ones), and the keys are included so that anyone can verify again without the VTN.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from joserfc.jwk import ECKey
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from gb_profile import model as m
from gb_profile.signing import SignatureCheck, check_signature
from openadr3.targets import target_pairs
from vtn.audit.service import AuditFilter, entry, list_entries
from vtn.auth.privacy import Viewer, find_visible, read_clauses
from vtn.core.pagination import Page
from vtn.gb.keys import fsp_rings, list_fsp_keys, operator_ring, report_signature

FORMAT = "gb-dispatch-evidence"
VERSION = 1
AUDIT_PAGE = 500


async def build_evidence(session: AsyncSession, viewer: Viewer, event_id: str, operator_keys: Iterable[ECKey],
                         now: datetime | None = None) -> dict[str, Any]:
    """The evidence bundle of one event the (BL) `viewer` may read; 404 (`NotFound`) otherwise, also for an event
    of another operator. `operator_keys`: the operator's public keys (`vtn.gb.keys.operator_public_keys`)."""
    from vtn.events.revisions import history
    from vtn.events.service import store as events
    from vtn.reports.models import ReportRow
    from vtn.reports.service import store as reports

    row = await find_visible(session, viewer, events, event_id)
    event: dict[str, Any] = row.document
    report_rows = (await session.exec(
        select(ReportRow).where(*read_clauses(viewer, reports), ReportRow.event_id == event_id)
        .order_by(col(ReportRow.created_at), col(ReportRow.id))
    )).all()
    documents = [r.document for r in report_rows]

    operator_keys = list(operator_keys)
    fsps = {v for t, v in target_pairs(event.get("targets")) if t == m.T_VEN_NAME}
    fsps |= {str(d["clientName"]) for d in documents if isinstance(d.get("clientName"), str)}
    fsp_rows = await list_fsp_keys(session, viewer.operator, fsps)
    rings = fsp_rings(fsp_rows)

    def item(document: dict[str, Any], check: SignatureCheck) -> dict[str, Any]:
        return {"id": document.get("id"), "document": document, "signature": check.as_dict()}

    acks = [item(d, report_signature(d, rings)) for d in documents if d.get("reportName") == m.R_ACK]
    others = [item(d, report_signature(d, rings)) for d in documents if d.get("reportName") != m.R_ACK]

    audit: list[dict[str, Any]] = []
    for object_id in [event_id, *(str(d.get("id")) for d in documents)]:
        where = AuditFilter(object_id=object_id, operator=viewer.operator)
        skip = 0
        while True:
            lines = await list_entries(session, where, Page(skip, AUDIT_PAGE))
            audit.extend(entry(line) for line in lines)
            skip += len(lines)
            if len(lines) < AUDIT_PAGE:
                break
    audit.sort(key=lambda line: line["id"])

    return {
        "format": FORMAT,
        "version": VERSION,
        "generatedDateTime": (now or datetime.now(UTC)).astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "operator": viewer.operator,
        "eventID": event_id,
        "event": item(event, check_signature(event, operator_ring(operator_keys, event))),
        # every stored revision (the append-only `event_revision` history), oldest first, verified like "event"
        "revisions": [
            {"revision": r.row.revision, "modificationDateTime": r.entry()["modificationDateTime"],
             "actor": r.row.actor, "actorRole": r.row.actor_role, "document": r.row.document,
             "signature": check_signature(r.row.document, operator_ring(operator_keys, r.row.document)).as_dict(),
             "acknowledgements": r.entry()["acknowledgements"]}
            for r in await history(session, viewer, event_id)
        ],
        "acknowledgements": acks,
        "reports": others,
        "keys": {
            "operator": [k.as_dict(private=False) for k in operator_keys],
            "fsp": [{"venName": r.ven_name, "kid": r.kid, "jwk": r.jwk,
                     "registeredDateTime": r.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                     "registeredBy": r.created_by} for r in fsp_rows],
        },
        "audit": audit,
    }
