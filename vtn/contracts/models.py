"""Tables of the GB contract terms (docs/gb-profile.md §2.1).

`gb_contract_terms`: one row per (operator, program, unit); unit '' holds the program's terms, any other unit's
row overrides them field by field (a NULL column inherits the program's value).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from vtn.core.database import UTCDateTime

TERM_COLUMNS = (
    "contract_id", "ven_name", "availability_price", "utilisation_price", "notice_minutes", "min_run_minutes",
    "max_run_minutes", "max_weekly_run_minutes", "min_capacity_kw", "max_capacity_kw", "ack_period_seconds",
    "valid_from", "valid_to", "cutoff_weekday", "cutoff_minute", "cutoff_weeks_before", "declaration_window_days",
    "acceptance_mode", "auction", "operator_managed", "outside_windows", "rag_green_percent", "rag_amber_percent",
    "terms_url",
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
    updated_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    updated_by: str = Field(default="", max_length=200, nullable=False)  # audit actor id
