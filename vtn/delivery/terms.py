"""What a delivery report needs from the contract: the utilisation price and the RAG thresholds.

Both come from the contract terms stored per program and dispatch unit (`vtn.contracts.service.contract_terms`,
unit terms overriding the program's). A contract without a utilisation price falls back to the dispatch's own
setpoint price (GB_PRICE, £/kWh on the wire, ×1000 = £/MWh); the report records which one it used.
"""

from __future__ import annotations

from decimal import Decimal

from sqlmodel.ext.asyncio.session import AsyncSession

from gb_profile import model as m
from gb_profile.delivery import Terms
from vtn.contracts.service import contract_terms
from vtn.core.errors import ApiError
from vtn.core.settings import Settings


async def terms_for(session: AsyncSession, settings: Settings, operator: str, program_id: str,
                    ins: m.DispatchInstruction) -> tuple[Terms, str]:
    """The report's terms and where the price came from ("contract", "dispatch" or "none")."""
    defaults = Terms()
    green, amber = defaults.rag_green_percent, defaults.rag_amber_percent
    price: Decimal | None = None
    source = "none"
    try:
        contract = await contract_terms(session, operator, program_id, ins.dispatch_unit)
    except ApiError:  # the program is gone or not a GB program: the VTN's defaults
        contract = None
    if contract is not None:
        green, amber = contract.rag_green_percent, contract.rag_amber_percent
        if contract.utilisation_price_gbp_per_mwh is not None:
            price, source = Decimal(str(contract.utilisation_price_gbp_per_mwh)), "contract"
    if price is None:
        prices = [sp.price for sp in ins.setpoints if sp.price is not None]
        if prices:
            price, source = (Decimal(str(prices[0])) * 1000).normalize(), "dispatch"
    return Terms(utilisation_price_gbp_per_mwh=price, rag_green_percent=green, rag_amber_percent=amber,
                 rebound_periods=settings.gb_rebound_periods), source
