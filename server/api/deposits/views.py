"""Deposits of field cash and each collector's cash in hand."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint, Page

from server.api.deposits.schemas import DepositSchema
from server.api.kpi.schemas import CashPositionSchema
from server.auth import current_collector, require_roles
from server.errors import ProblemError
from server.services import cash

blp = Blueprint(
    "deposits",
    __name__,
    url_prefix="/api/v1/collectors",
    description="Cash in hand and bank deposits per collector",
)


def _own_or_staff(collector_id: int) -> None:
    collector = current_collector()
    if collector is not None and collector.id != collector_id:
        raise ProblemError(403, "Forbidden", "A collector can only see their own cash.")


@blp.route("/<int:collector_id>/deposits")
class DepositsView(MethodView):
    @require_roles("dispatcher", "manager", "collector")
    @blp.response(200, DepositSchema(many=True))
    @blp.paginate(Page)
    def get(self, collector_id: int) -> Any:
        """A collector's deposits, newest first."""
        _own_or_staff(collector_id)
        return cash.list_deposits(collector_id)

    @require_roles("dispatcher")
    @blp.arguments(DepositSchema)
    @blp.response(201, DepositSchema)
    def post(self, data: dict[str, Any], collector_id: int) -> Any:
        """Record cash the collector handed in at the bank, with the bank's reference."""
        return cash.record_deposit(collector_id, data)


@blp.route("/<int:collector_id>/cash")
class CashInHandView(MethodView):
    @require_roles("dispatcher", "manager", "collector")
    @blp.response(200, CashPositionSchema(many=True))
    def get(self, collector_id: int) -> Any:
        """Cash collected, deposited and still in hand, per currency, with the oldest receipt."""
        _own_or_staff(collector_id)
        cash.get_collector(collector_id)
        return cash.cash_report(collector_id)
