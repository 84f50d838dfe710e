"""User administration (admins only)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from server.api.common import SelectPage
from server.api.users.schemas import UserSchema, UserUpdateSchema
from server.auth import require_roles
from server.services import users

blp = Blueprint("users", __name__, url_prefix="/api/v1/users", description="Users and roles")


@blp.route("")
class UsersView(MethodView):
    decorators = [require_roles("admin")]

    @blp.response(200, UserSchema(many=True))
    @blp.paginate(SelectPage)
    def get(self) -> Any:
        """List users."""
        return users.list_users_query()

    @blp.arguments(UserSchema)
    @blp.response(201, UserSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Create a user with a role."""
        return users.create_user(data)


@blp.route("/<int:user_id>")
class UserView(MethodView):
    decorators = [require_roles("admin")]

    @blp.response(200, UserSchema)
    def get(self, user_id: int) -> Any:
        """Read a user."""
        return users.get_user(user_id)

    @blp.arguments(UserUpdateSchema)
    @blp.response(200, UserSchema)
    def patch(self, changes: dict[str, Any], user_id: int) -> Any:
        """Change a user's name, role, activity or password."""
        return users.update_user(user_id, changes)
