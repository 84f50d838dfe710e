"""Marshmallow fields shared by several resources."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import ValidationError, fields, validate

_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")


class ClockTime(fields.Field):  # type: ignore[type-arg]
    """A local time of day as "HH:MM" on the wire, minutes from midnight in storage."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        return f"{int(value) // 60:02d}:{int(value) % 60:02d}"

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if not isinstance(value, str) or not _CLOCK.match(value):
            raise ValidationError('Expected a time of day as "HH:MM".')
        hours, minutes = value.split(":")
        return int(hours) * 60 + int(minutes)


def latitude(**kwargs: Any) -> fields.Float:
    return fields.Float(validate=validate.Range(-90, 90), **kwargs)


def longitude(**kwargs: Any) -> fields.Float:
    return fields.Float(validate=validate.Range(-180, 180), **kwargs)
