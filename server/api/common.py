"""Helpers shared by the blueprints: pagination over SQLAlchemy selects, large JSON bodies."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Response
from flask_smorest import Page
from sqlalchemy import Select, func, select

from server.extensions import db


class SelectPage(Page):  # type: ignore[misc]
    """flask-smorest pagination for a SQLAlchemy 2 `select`, counted in SQL."""

    @property
    def items(self) -> list[Any]:
        stmt: Select[Any] = self.collection
        offset = self.page_params.first_item
        return list(
            db.session.execute(stmt.offset(offset).limit(self.page_params.page_size)).scalars()
        )

    @property
    def item_count(self) -> int:
        stmt: Select[Any] = self.collection
        counted = select(func.count()).select_from(stmt.order_by(None).subquery())
        return int(db.session.execute(counted).scalar_one())


def json_response(document: Any) -> Response:
    """A large document encoded once, by orjson, and sent as it is.

    For bodies such as the live map (a thousand features): flask-smorest would dump them
    again through the response schema and then encode them with the standard library, which
    costs more than building them. Aware datetimes become ISO 8601 strings and enums their
    values; keys are sorted like Flask's own encoder sorts them. The view keeps its
    ``@blp.response`` schema, which then only documents the body.
    """
    body = orjson.dumps(document, option=orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE)
    return Response(body, mimetype="application/json")
