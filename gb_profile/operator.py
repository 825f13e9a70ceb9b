"""A control-room helper for a network operator (BL client) driving GB dispatches on a VTN.

Synchronous, over httpx2, with an OAuth2 client-credentials token. Programs are found by their
profile name (docs/gb-profile.md §4) or created; dispatches follow the library's revision flows
(`gb_profile.builders.revise` / `stop` / `cancel`): GET the current event, build the next revision, PUT.

With a `signing_key` every dispatch and revision is signed (docs/gb-profile.md §7). Without one, a revision of a
signed dispatch is refused (`UnsignedRevision`) unless `allow_unsigned`: it would silently drop the signature and
a VEN that requires signatures would reject it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx2
from joserfc.jwk import ECKey

from gb_profile import board
from gb_profile import builders as b
from gb_profile import model as m
from gb_profile.emergency import WARNING_HEADER, StopScope, UnitEmergencyStop, select_for_emergency_stop
from gb_profile.products import ProductCode, product
from gb_profile.signing import found_signatures, sign_event, signature_header
from gb_profile.validator import is_gb_program

PAGE = 50


class OperatorError(RuntimeError):
    """The VTN refused a request (the message carries its status and problem details)."""


class UnsignedRevision(OperatorError):
    """A revision of a signed dispatch without a signing key: refused rather than sent unsigned."""


@dataclass(frozen=True)
class SilentVen:
    """A VEN targeted by a dispatch that has not acknowledged the dispatch's latest revision."""

    fsp_id: str
    event_id: str
    event_name: str
    revision: int
    acknowledged_revision: int | None  # the newest revision it did acknowledge, if any


class Operator:
    """BL helper: `with Operator(base_url, client_id, client_secret) as op: ...`."""

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        timeout: float = 10.0,
        client: httpx2.Client | None = None,
        clock: Any = None,
        signing_key: ECKey | None = None,
        allow_unsigned: bool = False,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._credentials = (client_id, client_secret)
        self._http = client or httpx2.Client(base_url=self.base_url, timeout=timeout)
        self._token: str | None = None
        self._token_expiry = 0.0
        self._clock = clock or (lambda: datetime.now(UTC))
        self.signing_key = signing_key
        self.allow_unsigned = allow_unsigned
        # `GB-Warning` headers of the last write (e.g. a dispatch to a unit its FSP has emergency-stopped)
        self.last_warnings: list[str] = []

    # --- plumbing ------------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Operator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def now(self) -> datetime:
        return self._clock()

    def _auth(self) -> dict[str, str]:
        if self._token is None or time.monotonic() >= self._token_expiry:
            response = self._http.post(
                self.base_url + "/auth/token", auth=self._credentials, data={"grant_type": "client_credentials"}
            )
            self._check(response)
            body = response.json()
            self._token = body["access_token"]
            self._token_expiry = time.monotonic() + max(float(body.get("expires_in", 300)) - 30, 1)
        return {"Authorization": f"Bearer {self._token}"}

    @staticmethod
    def _check(response: httpx2.Response) -> None:
        if response.status_code >= 400:
            raise OperatorError(f"{response.request.method} {response.request.url} -> {response.status_code}: {response.text}")

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, self.base_url + path, headers=self._auth(), **kwargs)
        if response.status_code == 401:  # token revoked or expired early: one fresh try
            self._token = None
            response = self._http.request(method, self.base_url + path, headers=self._auth(), **kwargs)
        self._check(response)
        if method != "GET":
            self.last_warnings = response.headers.get_list(WARNING_HEADER)
        return response.json() if response.content else None

    def _all(self, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while True:
            page = self._request("GET", path, params={**(params or {}), "skip": len(items), "limit": PAGE})
            items.extend(page)
            if len(page) < PAGE:
                return items

    # --- programs ------------------------------------------------------------------------------

    def ensure_program(self, product_code: ProductCode | str, contract: m.Contract) -> dict[str, Any]:
        """The operator's program for this product (found by programName), created if missing."""
        wanted = b.build_program(product(product_code).code, contract)
        for existing in self._all("/programs"):
            if existing.get("programName") == wanted.programName:
                return existing
        return self._request("POST", "/programs", json=wanted.dump())

    # --- dispatches ----------------------------------------------------------------------------

    def issue_dispatch(
        self, instruction: m.DispatchInstruction, program_id: str | None = None, contract: m.Contract | None = None
    ) -> str:
        """Create the dispatch event (revision 1); returns its event id.

        Without `program_id`, the operator's program for the product in `contract` is ensured first.
        """
        if program_id is None:
            if contract is None:
                raise ValueError("issue_dispatch needs program_id or contract")
            program_id = self.ensure_program(contract.product, contract)["id"]
        created = self._request("POST", "/events", json=self._signed(b.build_event(instruction, program_id)).dump())
        return str(created["id"])

    def _signed(self, event: Any, previous: dict[str, Any] | None = None) -> Any:
        """`event` signed with the operator key; unsigned only when there is no key and `previous` was not signed."""
        if self.signing_key is not None:
            return sign_event(event, self.signing_key)
        signatures = found_signatures(previous) if previous is not None else []
        if not signatures or self.allow_unsigned or previous is None:
            return event
        try:
            kid = f" (key {signature_header(signatures[0])['kid']!r})"
        except ValueError:
            kid = ""
        raise UnsignedRevision(
            f"dispatch {previous.get('eventName')} is signed{kid}: its revisions must be signed too. Give the operator "
            "signing key (--signing-key or VTN_GB_SIGNING_KEY_FILE); --allow-unsigned sends it unsigned, which a VEN "
            "that requires signatures rejects."
        )

    def event(self, event_id: str) -> dict[str, Any]:
        return self._request("GET", f"/events/{event_id}")

    def instruction(self, event_id: str) -> m.DispatchInstruction:
        """The instruction the event currently carries (its latest revision)."""
        return b.parse_event(self.event(event_id))

    def _put_next(self, event_id: str, build: Any) -> m.DispatchInstruction:
        current = self.event(event_id)
        following = self._signed(build(current), current)
        self._request("PUT", f"/events/{event_id}", json=following.dump())
        return b.parse_event(following)

    def revise(self, event_id: str, **changes: Any) -> m.DispatchInstruction:
        """Next revision with `changes` (status, setpoints, service_start/end, cmz...); returns it."""
        when = self.now()
        return self._put_next(event_id, lambda ev: b.revise_event(ev, when, **changes))

    def stop(self, event_id: str, at: datetime | None = None) -> m.DispatchInstruction:
        """STOP revision: window truncated at `at` (default now, clamped to the service window)."""
        when = self.now()
        return self._put_next(event_id, lambda ev: b.stop_event(ev, at or when, when))

    def cancel(self, event_id: str) -> m.DispatchInstruction:
        when = self.now()
        return self._put_next(event_id, lambda ev: b.cancel_event(ev, when))

    # --- emergency stop ------------------------------------------------------------------------

    def emergency_stop(self, event_id: str) -> m.DispatchInstruction:
        """EMERGENCY_STOP revision now (priority 0, GB-E-019; otherwise as STOP: window cut at now)."""
        when = self.now()
        return self._put_next(event_id, lambda ev: b.emergency_stop_event(ev, when, when))

    def emergency_stop_targets(self, scope: StopScope) -> list[tuple[dict[str, Any], m.DispatchInstruction]]:
        """The open dispatches of GB programs an emergency stop of `scope` covers."""
        if scope.event_id:
            event = self.event(scope.event_id)
            program = self._request("GET", f"/programs/{event['programID']}")
            dispatches = [(event, b.parse_event(event))] if is_gb_program(program) else []
        else:
            gb_programs = {p["id"] for p in self._all("/programs") if is_gb_program(p)}
            if scope.program_id and scope.program_id not in gb_programs:
                raise OperatorError(f"program {scope.program_id} is not a GB program (or does not exist)")
            found = self.dispatch_events(scope.program_id)
            dispatches = [(e, b.parse_event(e)) for e in found if e.get("programID") in gb_programs]
        return select_for_emergency_stop(dispatches, scope, self.now())

    def fsp_emergency_stops(self) -> list[UnitEmergencyStop]:
        """Dispatch units whose FSP reported an emergency stop it has not cleared (`GET /admin/gb/emergency-stops`)."""
        return [
            UnitEmergencyStop(s["venName"], s["resourceName"], s["operatorID"], s["reason"],
                              b.parse_utc_text(s["effectiveDateTime"]), s.get("reportID"), s.get("eventID"), s.get("programID"))
            for s in self._request("GET", "/admin/gb/emergency-stops")
        ]

    # --- evidence ------------------------------------------------------------------------------

    def evidence(self, event_id: str) -> dict[str, Any]:
        """The dispatch's evidence bundle (`GET /admin/events/{id}/evidence`, docs/gb-profile.md §7.1)."""
        return self._request("GET", f"/admin/events/{event_id}/evidence")

    # --- delivery reports and baselines (docs/gb-profile.md §6.8) -------------------------------

    def delivery_reports(self, event_id: str | None = None, all_versions: bool = False) -> list[dict[str, Any]]:
        """Delivery report summaries, newest first (latest versions unless `all_versions`)."""
        params: dict[str, Any] = {"allVersions": str(all_versions).lower()}
        if event_id:
            params["eventID"] = event_id
        return self._all("/admin/gb/delivery-reports", params)

    def delivery_report(self, report_id: str) -> dict[str, Any]:
        return self._request("GET", f"/admin/gb/delivery-reports/{report_id}")

    def delivery_report_file(self, report_id: str, form: str) -> bytes:
        """The report as `csv` or `pdf` bytes."""
        response = self._http.get(f"{self.base_url}/admin/gb/delivery-reports/{report_id}/{form}", headers=self._auth())
        self._check(response)
        return response.content

    def issue_delivery_report(self, event_id: str) -> dict[str, Any]:
        """Issue the dispatch's report now (the next version, from the readings stored now)."""
        return self._request("POST", f"/admin/gb/events/{event_id}/delivery-report")

    def baselines(self) -> list[dict[str, Any]]:
        return self._request("GET", "/admin/gb/baselines")

    def set_baseline(self, unit: str, spec: dict[str, Any]) -> dict[str, Any]:
        """Record a meterable unit's baseline method: {"method": "STATIC", "staticKw": …} | WEEKLY | AUTO."""
        return self._request("PUT", f"/admin/gb/baselines/{unit}", json=spec)

    # --- acknowledgements ----------------------------------------------------------------------

    def acknowledgements(self, event_id: str) -> list[m.Acknowledgement]:
        """Parsed GB_ACK reports for the event, by revision then receipt time (others are skipped)."""
        return board.parse_acks(self._all("/reports", {"eventID": event_id}))

    def ack_status(self, event: dict[str, Any]) -> list[board.AckStatus]:
        """Every acknowledgement of a dispatch event and the one that counts per revision (`board.ack_status`)."""
        return board.ack_status(event, self._all("/reports", {"eventID": event["id"]}))

    def revisions(self, event_id: str) -> list[dict[str, Any]]:
        """Every stored version of a GB event, oldest first, each with its acknowledgements
        (`GET /admin/events/{eventID}/revisions`, docs/gb-profile.md §5.4)."""
        return self._all(f"/admin/events/{event_id}/revisions")

    def dispatch_events(self, program_id: str | None = None) -> list[dict[str, Any]]:
        """GB dispatch events (anchor and non-profile events skipped)."""
        events = []
        for event in self._all("/events", {"programID": program_id} if program_id else None):
            if b.is_info_event(event):
                continue
            try:
                b.parse_event(event)
            except (m.ProfileError, ValueError):
                continue
            events.append(event)
        return events

    def silent_vens(self, event_ids: list[str] | None = None, program_id: str | None = None) -> list[SilentVen]:
        """VENs targeted by a dispatch that have not acknowledged its latest revision."""
        events = [self.event(e) for e in event_ids] if event_ids is not None else self.dispatch_events(program_id)
        silent = []
        for event in events:
            for state in self.ack_status(event):
                if not state.latest_acknowledged:
                    silent.append(
                        SilentVen(state.fsp_id, event["id"], state.event_name, state.revision, state.acknowledged_revision)
                    )
        return silent
