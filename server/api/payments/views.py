"""Payments posted by the creditor's core system."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from server.api.payments.schemas import (
    IMPORT_BODY_DOC,
    ImportReportSchema,
    PaymentImportArgsSchema,
)
from server.api.uploads import import_result, uploaded_file
from server.auth import require_roles
from server.services import importing

blp = Blueprint("payments", __name__, url_prefix="/api/v1/payments", description="Payments")


@blp.route("/import")
class PaymentImportView(MethodView):
    @require_roles("dispatcher")
    @blp.arguments(PaymentImportArgsSchema, location="query")
    @blp.doc(requestBody=IMPORT_BODY_DOC)
    @blp.response(200, ImportReportSchema)
    def post(self, args: dict[str, Any]) -> Any:
        """Import posted payments; a receipt already taken in the field is not counted twice."""
        data, name = uploaded_file()
        return import_result(
            importing.import_payments(data, name, args["portfolio"], args["mode"]).as_dict()
        )
