"""Tables of the GB contract terms (docs/gb-profile.md §2.1).

`gb_contract_terms`: one row per (operator, program, unit); unit '' holds the program's terms, any other unit's
row overrides them field by field (a NULL column inherits the program's value).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from vtn.core.database import UTCDateTime

TERM_COLUMNS = (
    "contract_id", "ven_name", "availability_price", "utilisation_price", "notice_minutes", "min_run_minutes",
    "max_run_minutes", "max_weekly_run_minutes", "min_capacity_kw", "max_capacity_kw", "ack_period_seconds",
    "valid_from", "valid_to", "cutoff_weekday", "cutoff_minute", "cutoff_weeks_before", "declaration_window_days",
    "acceptance_mode", "auction", "operator_managed", "outside_windows", "rag_green_percent", "rag_amber_percent",
    "terms_url", "run_terms",
)


class ContractTermsRow(SQLModel, table=True):
    __tablename__ = "gb_contract_terms"
    __table_args__ = (UniqueConstraint("operator", "program_id", "unit", name="uq_gb_contract_terms"),)

    id: int | None = Field(default=None, primary_key=True)
    operator: str = Field(default="", max_length=64, nullable=False)  # the tenant (vtn.auth.privacy)
    program_id: str = Field(max_length=128, nullable=False)
    unit: str = Field(default="", max_length=128, nullable=False)  # '' = the program's terms; else a dispatch unit
    contract_id: str | None = Field(default=None, max_length=128)
    ven_name: str | None = Field(default=None, max_length=128)  # the FSP the unit's contract is with
    availability_price: float | None = None  # GBP per MW per hour available
    utilisation_price: float | None = None  # GBP per MWh delivered
    notice_minutes: int | None = None
    min_run_minutes: int | None = None
    max_run_minutes: int | None = None
    max_weekly_run_minutes: int | None = None
    min_capacity_kw: float | None = None
    max_capacity_kw: float | None = None
    ack_period_seconds: int | None = None
    valid_from: datetime | None = Field(default=None, sa_type=UTCDateTime)
    valid_to: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cutoff_weekday: int | None = None  # 0 = Monday
    cutoff_minute: int | None = None  # London local minutes after midnight, 1440 = end of day
    cutoff_weeks_before: int | None = None
    declaration_window_days: int | None = None
    acceptance_mode: str | None = Field(default=None, max_length=8)  # AUTO | MANUAL
    auction: bool | None = None
    operator_managed: bool | None = None
    outside_windows: str | None = Field(default=None, max_length=8)  # OFF | WARN | REFUSE
    rag_green_percent: float | None = None
    rag_amber_percent: float | None = None
    terms_url: str | None = Field(default=None, max_length=2000)
    run_terms: str | None = Field(default=None, max_length=8)  # OFF | WARN | REFUSE (run times and notice)
    updated_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    updated_by: str = Field(default="", max_length=200, nullable=False)  # audit actor id


class AcceptanceRow(SQLModel, table=True):
    """One declared window of one dispatch unit in one direction, and the operator's answer to it.

    Written when a GB_AVAILABILITY report (the declaration) is stored; replaced when it is PUT, removed when it is
    deleted. `status` PENDING until the operator decides (MANUAL) or ACCEPTED at once (AUTO).
    """

    __tablename__ = "gb_acceptance"
    __table_args__ = (
        Index("ix_gb_acceptance_week", "operator", "program_id", "week", "ven_name"),
        Index("ix_gb_acceptance_unit", "operator", "ven_name", "unit", "start"),
        Index("ix_gb_acceptance_report", "report_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    operator: str = Field(default="", max_length=64, nullable=False)
    program_id: str = Field(max_length=128, nullable=False)
    report_id: str = Field(max_length=128, nullable=False)  # the declaration (GB_AVAILABILITY report)
    ven_name: str = Field(max_length=128, nullable=False)  # the FSP
    unit: str = Field(max_length=128, nullable=False)
    week: str = Field(max_length=10, nullable=False)  # the London Monday of the window's start, YYYY-MM-DD
    start: datetime = Field(sa_type=UTCDateTime, nullable=False)
    end: datetime = Field(sa_type=UTCDateTime, nullable=False)
    direction: str = Field(max_length=16, nullable=False)  # TURN_DOWN | TURN_UP
    declared_kw: float = Field(nullable=False)
    bid_price: float | None = None  # GBP/MW/h (auctions)
    status: str = Field(default="PENDING", max_length=8, nullable=False)  # PENDING | ACCEPTED | REJECTED
    accepted_kw: float | None = None
    awarded_price: float | None = None  # GBP/MW/h
    reason: str | None = Field(default=None, max_length=1000)
    entered_by: str = Field(default="", max_length=200, nullable=False)  # who declared (audit actor id)
    operator_entered: bool = Field(default=False, nullable=False)  # an operator-managed declaration: read-only to the FSP
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    decided_by: str | None = Field(default=None, max_length=200)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    event_id: str | None = Field(default=None, max_length=128)  # the acceptance event it is published in


class AckAlarmRow(SQLModel, table=True):
    """An acknowledgement overdue: one row per (dispatch event, revision, unit), written once by whichever VTN process
    noticed first (the unique key makes that safe with several processes); `cleared_at` when the ack arrived."""

    __tablename__ = "gb_ack_alarm"
    __table_args__ = (UniqueConstraint("event_id", "revision", "unit", name="uq_gb_ack_alarm"),)

    id: int | None = Field(default=None, primary_key=True)
    operator: str = Field(default="", max_length=64, nullable=False)
    program_id: str = Field(max_length=128, nullable=False)
    event_id: str = Field(max_length=128, nullable=False)
    revision: int = Field(nullable=False)
    ven_name: str = Field(max_length=128, nullable=False)
    unit: str = Field(default="", max_length=128, nullable=False)
    deadline: datetime = Field(sa_type=UTCDateTime, nullable=False)
    raised_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    cleared_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # the late acknowledgement's arrival
    report_id: str | None = Field(default=None, max_length=128)  # the GB_ACK_OVERDUE report publishing it
