"""Accounts: dispatchers import and manage them; collectors read only their own."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from server.api.accounts.schemas import (
    IMPORT_BODY_DOC,
    AccountListArgsSchema,
    AccountSchema,
    AccountUpdateSchema,
    ImportArgsSchema,
    ImportReportSchema,
)
from server.api.common import SelectPage
from server.api.uploads import import_result, uploaded_file
from server.auth import require_roles
from server.services import accounts, importing

blp = Blueprint(
    "accounts", __name__, url_prefix="/api/v1/accounts", description="Portfolio accounts"
)


@blp.route("")
class AccountsView(MethodView):
    @require_roles("dispatcher", "manager", "collector")
    @blp.arguments(AccountListArgsSchema, location="query")
    @blp.response(200, AccountSchema(many=True))
    @blp.paginate(SelectPage)
    def get(self, filters: dict[str, Any]) -> Any:
        """List accounts (a collector gets only those assigned to them)."""
        return accounts.list_accounts_query(filters)


@blp.route("/<int:account_id>")
class AccountView(MethodView):
    @require_roles("dispatcher", "manager", "collector")
    @blp.response(200, AccountSchema)
    def get(self, account_id: int) -> Any:
        """Read an account (404 for a collector it is not assigned to)."""
        return accounts.get_account(account_id)

    @require_roles("dispatcher")
    @blp.arguments(AccountUpdateSchema)
    @blp.response(200, AccountSchema)
    def patch(self, changes: dict[str, Any], account_id: int) -> Any:
        """Correct an account: place its pin on the map, phones, visit windows, offers."""
        return accounts.update_account(account_id, changes)


@blp.route("/import")
class AccountImportView(MethodView):
    @require_roles("dispatcher")
    @blp.arguments(ImportArgsSchema, location="query")
    @blp.doc(requestBody=IMPORT_BODY_DOC)
    @blp.response(200, ImportReportSchema)
    @blp.alt_response(422, description="strict mode with rejected rows, or unreadable file")
    def post(self, args: dict[str, Any]) -> Any:
        """Import the creditor's portfolio file (CSV, XLSX or JSON); upsert by external id."""
        data, name = uploaded_file()
        return import_result(
            importing.import_portfolio(
                data, name, args["portfolio"], args.get("as_of"), args["mode"]
            ).as_dict()
        )
