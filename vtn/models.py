"""Every table of the VTN, imported in one place for Alembic and the test fixtures."""

from vtn.audit.models import AuditRow
from vtn.auth.models import ClientRow, SigningKeyRow
from vtn.console.models import ConsoleInvitation, ConsoleRecoveryCode, ConsoleSession, ConsoleUser
from vtn.contracts.models import AcceptanceRow, AckAlarmRow, ContractTermsRow
from vtn.core.tables import ObjectTarget
from vtn.delivery.models import DeliveryReportRow, ReadingRow, UnitBaselineRow
from vtn.events.models import EventRevisionRow, EventRow
from vtn.gb.models import FspKeyRow
from vtn.notifications.models import DeliveredRow, HeartbeatRow, OutboxRow, RevisionRow, WebhookKeyRow
from vtn.programs.models import ProgramRow
from vtn.reports.models import ReportRow
from vtn.signoff.models import SignoffRow
from vtn.statements.models import StatementChargesRow, StatementDecisionRow, StatementRow
from vtn.subscriptions.models import SubscriptionRow
from vtn.vens.models import ResourceRow, VenRow

__all__ = [
    "AcceptanceRow",
    "AckAlarmRow",
    "AuditRow",
    "ClientRow",
    "ConsoleInvitation",
    "ConsoleRecoveryCode",
    "ConsoleSession",
    "ConsoleUser",
    "ContractTermsRow",
    "DeliveredRow",
    "DeliveryReportRow",
    "EventRevisionRow",
    "EventRow",
    "FspKeyRow",
    "HeartbeatRow",
    "ObjectTarget",
    "OutboxRow",
    "ProgramRow",
    "ReadingRow",
    "ReportRow",
    "ResourceRow",
    "RevisionRow",
    "SigningKeyRow",
    "SignoffRow",
    "StatementChargesRow",
    "StatementDecisionRow",
    "StatementRow",
    "SubscriptionRow",
    "UnitBaselineRow",
    "VenRow",
    "WebhookKeyRow",
]
