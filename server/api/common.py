"""Helpers shared by the blueprints: pagination over SQLAlchemy selects, large JSON bodies."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from flask import Response, request
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


def json_response(document: dict[str, Any], *, weak_etag_of: str | None = None) -> Response:
    """A document encoded once, by orjson, and sent as it is.

    For large bodies such as the live map (a thousand features) and for hot paths such as
    position batches: flask-smorest would dump them again through the response schema and
    then encode them with the standard library, which costs more than building them. Aware
    datetimes become ISO 8601 strings and enums their values; keys are sorted like Flask's
    own encoder sorts them. The view keeps its ``@blp.response`` schema, which then only
    documents the body.

    With ``weak_etag_of``, that member of the document (the features, say, without the time
    the document was generated) is encoded first and its digest sent as a weak ETag: a
    client that already holds an equivalent document gets 304 Not Modified and no body.
    """
    option = orjson.OPT_SORT_KEYS
    etag = None
    if weak_etag_of is not None:
        part = orjson.dumps(document[weak_etag_of], option=option)
        etag = hashlib.blake2b(part, digest_size=16).hexdigest()
        if request.if_none_match.contains_weak(etag):
            not_modified = Response(status=304)
            not_modified.set_etag(etag, weak=True)
            return not_modified
        document = {**document, weak_etag_of: orjson.Fragment(part)}
    body = orjson.dumps(document, option=option | orjson.OPT_APPEND_NEWLINE)
    response = Response(body, mimetype="application/json")
    if etag is not None:
        response.set_etag(etag, weak=True)
        response.headers["Cache-Control"] = "no-cache"  # keep it, but ask every time
    return response
