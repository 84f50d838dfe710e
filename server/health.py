"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import text

from server.errors import problem_response
from server.extensions import db

health_blueprint = Blueprint("health", __name__)


@health_blueprint.get("/healthz")
def healthz() -> ResponseReturnValue:
    """The process is up."""
    return jsonify(status="ok")


@health_blueprint.get("/readyz")
def readyz() -> ResponseReturnValue:
    """The database answers; a balancer should not route here otherwise."""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:
        db.session.rollback()
        return problem_response(503, "Service Unavailable", "The database is not reachable.")
    return jsonify(status="ready", database=db.engine.dialect.name)
