"""Blueprints, one per resource, all under /api/v1."""

from __future__ import annotations

from importlib import import_module

from flask_smorest import Api

# Each entry is a module under server.api exposing `blp`; order sets the OpenAPI tag order.
BLUEPRINT_MODULES = [
    "auth.views",
    "users.views",
    "settings.views",
    "audit.views",
    "collectors.views",
    "zones.views",
    "accounts.views",
    "payments.views",
    "devices.views",
    "sync.views",
    "media.views",
    "receipts.views",
    "visits.views",
    "kpi.views",
    "deposits.views",
    "tracking.views",
    "device_protocols.views",
    "plans.views",
]


def register_blueprints(api: Api) -> None:
    for name in BLUEPRINT_MODULES:
        module = import_module(f"server.api.{name}")
        api.register_blueprint(module.blp)
