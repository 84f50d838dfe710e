"""Swagger UI's files served from the pinned swagger-ui-bundle package, never from a CDN."""

from __future__ import annotations

from flask import Blueprint, send_from_directory
from flask.typing import ResponseReturnValue
from swagger_ui_bundle import swagger_ui_path

docs_assets = Blueprint("docs_assets", __name__)


@docs_assets.get("/api/docs/assets/<path:filename>")
def swagger_asset(filename: str) -> ResponseReturnValue:
    """Static files of the API docs page."""
    return send_from_directory(swagger_ui_path, filename, max_age=86400)
