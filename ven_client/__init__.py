"""The reference VEN: an async OpenADR 3.0.1 client library, pull and push modes, and the `ven` CLI.

Needs only the base install (no `server` extra): pydantic, httpx2, starlette, uvicorn, typer.
"""

from ven_client.agent import EventHandler, LoggingHandler, VenAgent, report_resource
from ven_client.client import VtnClient, VtnError, VtnUnavailable, make_ssl_context
from ven_client.config import GbSettings, VenConfig, load_config
from ven_client.gb import DispatchRejected, GbAdapter, GbController, GbReporter, Reject
from ven_client.timing import ScheduledInterval, is_cancelled, schedule

__all__ = [
    "DispatchRejected",
    "EventHandler",
    "GbAdapter",
    "GbController",
    "GbReporter",
    "GbSettings",
    "LoggingHandler",
    "Reject",
    "ScheduledInterval",
    "VenAgent",
    "VenConfig",
    "VtnClient",
    "VtnError",
    "VtnUnavailable",
    "is_cancelled",
    "load_config",
    "make_ssl_context",
    "report_resource",
    "schedule",
]
