"""What a delivery report needs from the contract: the utilisation price and the RAG thresholds.

The contract terms are stored per program and unit by vtn's contract-terms store (`contract_terms`); until a
program has terms the dispatch's own setpoint price (GB_PRICE, £/kWh on the wire) is the utilisation price and
the RAG thresholds are the VTN's settings (VTN_GB_RAG_GREEN_PERCENT, VTN_GB_RAG_AMBER_PERCENT).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from gb_profile import model as m
from gb_profile.delivery import Terms
from vtn.core.settings import Settings


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None


async def terms_for(session: AsyncSession, settings: Settings, operator: str, program_id: str,
                    ins: m.DispatchInstruction) -> tuple[Terms, str]:
    """The report's terms and where the price came from ("contract", "dispatch" or "none")."""
    stored = await _stored_terms(session, operator, program_id, ins)
    green = settings.gb_rag_green_percent
    amber = settings.gb_rag_amber_percent
    price: Decimal | None = None
    source = "none"
    if stored is not None:
        price = _decimal(stored.get("utilisation_price_gbp_per_mwh"))
        green = float(stored.get("rag_green_percent") or green)
        amber = float(stored.get("rag_amber_percent") or amber)
        source = "contract" if price is not None else source
    if price is None:
        prices = [sp.price for sp in ins.setpoints if sp.price is not None]
        if prices:
            price = (Decimal(str(prices[0])) * 1000).normalize()  # £/kWh on the wire -> £/MWh
            source = "dispatch"
    return Terms(utilisation_price_gbp_per_mwh=price, rag_green_percent=green, rag_amber_percent=amber,
                 rebound_periods=settings.gb_rebound_periods), source


async def _stored_terms(session: AsyncSession, operator: str, program_id: str, ins: m.DispatchInstruction
                        ) -> dict[str, Any] | None:
    """The stored contract terms as a plain mapping, when the contract-terms store exists (ops-a's branch)."""
    try:
        from vtn.contracts.service import contract_terms  # type: ignore[import-not-found]
    except ImportError:
        return None
    terms = await contract_terms(session, operator, program_id=program_id, unit=ins.dispatch_unit)
    if terms is None:
        return None
    return terms if isinstance(terms, dict) else {k: getattr(terms, k) for k in dir(terms) if not k.startswith("_")}
