"""ORM models, one module per aggregate. Importing this package registers every table."""

from server.models.accounts import Account, AccountSnapshot, Assignment, Portfolio, PortfolioImport
from server.models.agency import AgencySettings
from server.models.audit import AuditEntry
from server.models.cash import Deposit
from server.models.collectors import Collector, Zone, collector_zones
from server.models.devices import AppliedMutation, Device, MediaUpload, ReceiptBlock
from server.models.plans import RoutePlan
from server.models.tracking import CollectorLocation, FieldAlert, Position
from server.models.users import Role, User
from server.models.visits import (
    CollectorDayActivity,
    CollectorDayAssignments,
    ContactUpdate,
    ImportedPaymentsDay,
    Note,
    Payment,
    Photo,
    PromiseInstallment,
    PromiseStatusSpan,
    PromiseToPay,
    Visit,
)

__all__ = [
    "Account",
    "AccountSnapshot",
    "AgencySettings",
    "AppliedMutation",
    "Assignment",
    "AuditEntry",
    "Collector",
    "CollectorDayActivity",
    "CollectorDayAssignments",
    "CollectorLocation",
    "ContactUpdate",
    "Deposit",
    "Device",
    "FieldAlert",
    "ImportedPaymentsDay",
    "MediaUpload",
    "Note",
    "Payment",
    "Photo",
    "Portfolio",
    "PortfolioImport",
    "Position",
    "PromiseInstallment",
    "PromiseStatusSpan",
    "PromiseToPay",
    "ReceiptBlock",
    "Role",
    "RoutePlan",
    "User",
    "Visit",
    "Zone",
    "collector_zones",
]
