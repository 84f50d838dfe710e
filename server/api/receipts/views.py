"""Field receipts, as shown to a debtor or an auditor."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from server.api.receipts.schemas import ReceiptSchema
from server.auth import current_collector, require_roles
from server.services import syncing

blp = Blueprint("receipts", __name__, url_prefix="/api/v1/receipts", description="Receipts")


@blp.route("/<string:number>")
class ReceiptView(MethodView):
    @require_roles("dispatcher", "manager", "collector")
    @blp.response(200, ReceiptSchema)
    def get(self, number: str) -> Any:
        """One receipt (collectors see their own) and whether it was reversed."""
        own = current_collector()
        return syncing.find_receipt(number, own.id if own else None)
