"""Payment imports follow the same file rules and report shape as account imports."""

from __future__ import annotations

from server.api.accounts.schemas import (
    IMPORT_BODY_DOC,
    ImportReportSchema,
    PaymentImportArgsSchema,
)

__all__ = ["IMPORT_BODY_DOC", "ImportReportSchema", "PaymentImportArgsSchema"]
