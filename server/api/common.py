"""Helpers shared by the blueprints: pagination over SQLAlchemy selects."""

from __future__ import annotations

from typing import Any

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
