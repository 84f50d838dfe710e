"""Sign-in: exchange a username and password for a bearer token."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from server.api.auth.schemas import TokenRequestSchema, TokenSchema
from server.extensions import limiter
from server.services import users

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Sign-in")


def _login_limit() -> str:
    return str(current_app.config["LOGIN_RATE_LIMIT"])


@blp.route("/token")
class TokenView(MethodView):
    # Only failed sign-ins count against the limit, so a busy office is not locked out.
    decorators = [
        limiter.limit(
            _login_limit, methods=["POST"], deduct_when=lambda response: response.status_code == 401
        )
    ]

    @blp.doc(security=[])
    @blp.arguments(TokenRequestSchema)
    @blp.response(200, TokenSchema)
    def post(self, credentials: dict[str, Any]) -> dict[str, Any]:
        """Sign in; failed attempts are rate-limited per client address."""
        return users.sign_in(credentials["username"], credentials["password"])
