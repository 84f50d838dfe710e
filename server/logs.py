"""Logging that never writes passwords, tokens, credentials or national ids."""

from __future__ import annotations

import logging
import re

from flask import Flask

# Query parameters that carry credentials or identify devices (OsmAnd ids are credentials).
_SENSITIVE_PARAMS = re.compile(
    r"(?i)\b(id|deviceid|token|access_token|password|cursor|credential|national_id)=([^&\s\"]+)"
)
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")


class RedactingFilter(logging.Filter):
    """Masks sensitive values in every record, including werkzeug's request lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _BEARER.sub(r"\1[redacted]", _SENSITIVE_PARAMS.sub(r"\1=[redacted]", message))
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True


def configure_logging(app: Flask) -> None:
    redactor = RedactingFilter()
    for name in ("werkzeug", "gunicorn.access", "gunicorn.error", app.logger.name, "server"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(redactor)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(redactor)
