"""The measures of §4 of kpi-model.md, computed from aggregated counts and sums.

The server aggregates in SQL (one row of ``GroupTotals`` per GROUP BY group) and feeds the
rows through ``compute_measures``, so the ratios and their null-for-zero-denominator rule are
defined once, here, for every channel.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal
from enum import StrEnum

ZERO = Decimal(0)

MeasureValue = int | Decimal | float | None


class MeasureKind(StrEnum):
    """What a measure's number is, so clients can format it."""

    COUNT = "count"
    AMOUNT = "amount"
    RATE = "rate"
    HOURS = "hours"
    KM = "km"


@dataclass(frozen=True, slots=True)
class Measure:
    """One row of the §4 table.

    ``additive`` measures of disjoint groups add up to the measure of their union (the
    total row equals the sum of its groups); distinct counts and ratios do not.
    ``bounded`` rates always lie in [0, 1] (or are null).
    """

    name: str
    label_es: str
    label_en: str
    kind: MeasureKind
    definition: str
    additive: bool = False
    bounded: bool = False


def _m(name: str, es: str, en: str, kind: MeasureKind, definition: str) -> Measure:
    additive = kind in (MeasureKind.COUNT, MeasureKind.AMOUNT, MeasureKind.HOURS, MeasureKind.KM)
    return Measure(name, es, en, kind, definition, additive=additive)


def _rate(name: str, es: str, en: str, definition: str, *, bounded: bool) -> Measure:
    return Measure(name, es, en, MeasureKind.RATE, definition, bounded=bounded)


_C, _A = MeasureKind.COUNT, MeasureKind.AMOUNT

MEASURES: tuple[Measure, ...] = (
    _m("attempts", "Intentos", "Attempts", _C, "Attempts (visits with a disposition)."),
    _m(
        "connections",
        "Conexiones",
        "Connections",
        _C,
        "Attempts whose disposition reaches the connection level or deeper.",
    ),
    _m(
        "contacts",
        "Contactos",
        "Contacts",
        _C,
        "Attempts whose disposition reaches the contact level or deeper.",
    ),
    _m(
        "direct_contacts",
        "Contactos directos",
        "Direct contacts",
        _C,
        "Attempts whose disposition reaches the direct-contact level or deeper.",
    ),
    _m("promises", "Promesas", "Promises", _C, "Attempts that yielded a promise to pay."),
    _m(
        "promises_due",
        "Promesas vencidas",
        "Promises due",
        _C,
        "Promises made in the period whose status is no longer pending as of as_of.",
    ),
    _m(
        "promises_kept",
        "Promesas cumplidas",
        "Promises kept",
        _C,
        "Due promises judged kept (§3).",
    ),
    _m(
        "promises_partially_kept",
        "Promesas cumplidas parcialmente",
        "Promises partially kept",
        _C,
        "Due promises judged partially kept (§3).",
    ),
    _m(
        "promises_broken",
        "Promesas incumplidas",
        "Promises broken",
        _C,
        "Due promises judged broken (§3).",
    ),
    _rate("contact_rate", "Tasa de contacto", "Contact rate", "contacts / attempts", bounded=True),
    _rate(
        "direct_contact_rate",
        "Tasa de contacto directo",
        "Direct-contact rate",
        "direct_contacts / attempts",
        bounded=True,
    ),
    _rate(
        "promise_rate",
        "Tasa de promesa",
        "Promise rate",
        "promises / direct_contacts",
        bounded=True,
    ),
    _rate(
        "kept_rate",
        "Tasa de cumplimiento",
        "Kept rate",
        "promises_kept / promises_due",
        bounded=True,
    ),
    _m(
        "amount_promised",
        "Monto prometido",
        "Amount promised",
        _A,
        "Sum of the amounts of the promises made.",
    ),
    _m(
        "amount_kept",
        "Monto cumplido",
        "Amount kept",
        _A,
        "Sum of the payments matched to kept or partially kept promises.",
    ),
    _m(
        "amount_collected_field",
        "Cobrado en campo",
        "Collected in the field",
        _A,
        "Sum of the payments collected in the field during attempts.",
    ),
    _m(
        "amount_recovered",
        "Monto recuperado",
        "Amount recovered",
        _A,
        "All payments on the group's accounts in the period (field payments repeated by "
        "the import counted once).",
    ),
    _rate(
        "recovery_rate",
        "Tasa de recuperación",
        "Recovery rate",
        "amount_recovered / overdue balance of the group's accounts at period start",
        bounded=False,
    ),
    _m(
        "accounts_assigned",
        "Cuentas asignadas",
        "Accounts assigned",
        _C,
        "Distinct accounts assigned in the period.",
    ),
    _rate(
        "penetration",
        "Penetración",
        "Penetration",
        "assigned accounts with >= 1 attempt / accounts_assigned",
        bounded=True,
    ),
    _rate(
        "intensity",
        "Intensidad",
        "Intensity",
        "attempts / accounts_assigned",
        bounded=False,
    ),
    _m(
        "field_hours",
        "Horas en campo",
        "Field hours",
        MeasureKind.HOURS,
        "Per collector-day, first check-in to last check-in, summed.",
    ),
    _rate(
        "attempts_per_hour",
        "Intentos por hora",
        "Attempts per hour",
        "attempts / field_hours",
        bounded=False,
    ),
    _m(
        "km_travelled",
        "Km recorridos",
        "Km travelled",
        MeasureKind.KM,
        "Distance of the filtered GPS track.",
    ),
    _rate(
        "km_per_attempt",
        "Km por intento",
        "Km per attempt",
        "km_travelled / attempts",
        bounded=False,
    ),
    _rate(
        "plan_completion",
        "Cumplimiento de ruta",
        "Plan completion",
        "planned stops attempted / planned stops",
        bounded=True,
    ),
    _rate(
        "geo_verified_rate",
        "Tasa de geoverificación",
        "Geo-verified rate",
        "attempts whose check-in position is within verify_radius_m of the account's "
        "location / attempts with a position",
        bounded=True,
    ),
    _rate(
        "evidence_rate",
        "Tasa de evidencia",
        "Evidence rate",
        "attempts with at least one photo / attempts",
        bounded=True,
    ),
)

MEASURE_NAMES: tuple[str, ...] = tuple(m.name for m in MEASURES)
"""Column order of reports (JSON keys and CSV header after the group keys)."""

MEASURES_BY_NAME = {m.name: m for m in MEASURES}


@dataclass(frozen=True, slots=True)
class GroupTotals:
    """The aggregated counts and sums of one group: everything the measures derive from.

    Every field but the distinct counts adds up across disjoint groups (see ``__add__``).
    ``accounts_assigned`` and ``accounts_attempted`` are distinct counts, so the server
    computes them for the total row itself instead of adding.
    """

    attempts: int = 0
    connections: int = 0
    contacts: int = 0
    direct_contacts: int = 0
    promises: int = 0
    promises_due: int = 0
    promises_kept: int = 0
    promises_partially_kept: int = 0
    promises_broken: int = 0
    amount_promised: Decimal = ZERO
    amount_kept: Decimal = ZERO
    amount_collected_field: Decimal = ZERO
    amount_recovered: Decimal = ZERO
    overdue_at_start: Decimal = ZERO
    accounts_assigned: int = 0
    accounts_attempted: int = 0
    field_seconds: int = 0
    distance_m: float = 0.0
    planned_stops: int = 0
    planned_stops_attempted: int = 0
    attempts_with_position: int = 0
    attempts_geo_verified: int = 0
    attempts_with_photo: int = 0

    def __add__(self, other: GroupTotals) -> GroupTotals:
        """Totals of two disjoint groups (distinct counts added as if disjoint)."""
        merged = {
            f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(GroupTotals)
        }
        return GroupTotals(**merged)


def ratio(numerator: int | float | Decimal, denominator: int | float | Decimal) -> float | None:
    """A rate of the model: ``None`` when the denominator is 0, never 0 and never an error."""
    if denominator == 0:
        return None
    return float(numerator) / float(denominator)


def compute_measures(t: GroupTotals) -> dict[str, MeasureValue]:
    """Every measure of §4 for one group, keyed by machine name, in ``MEASURE_NAMES`` order."""
    field_hours = t.field_seconds / 3600
    km = t.distance_m / 1000
    values: dict[str, MeasureValue] = {
        "attempts": t.attempts,
        "connections": t.connections,
        "contacts": t.contacts,
        "direct_contacts": t.direct_contacts,
        "promises": t.promises,
        "promises_due": t.promises_due,
        "promises_kept": t.promises_kept,
        "promises_partially_kept": t.promises_partially_kept,
        "promises_broken": t.promises_broken,
        "contact_rate": ratio(t.contacts, t.attempts),
        "direct_contact_rate": ratio(t.direct_contacts, t.attempts),
        "promise_rate": ratio(t.promises, t.direct_contacts),
        "kept_rate": ratio(t.promises_kept, t.promises_due),
        "amount_promised": t.amount_promised,
        "amount_kept": t.amount_kept,
        "amount_collected_field": t.amount_collected_field,
        "amount_recovered": t.amount_recovered,
        "recovery_rate": ratio(t.amount_recovered, t.overdue_at_start),
        "accounts_assigned": t.accounts_assigned,
        "penetration": ratio(t.accounts_attempted, t.accounts_assigned),
        "intensity": ratio(t.attempts, t.accounts_assigned),
        "field_hours": field_hours,
        "attempts_per_hour": ratio(t.attempts, field_hours),
        "km_travelled": km,
        "km_per_attempt": ratio(km, t.attempts),
        "plan_completion": ratio(t.planned_stops_attempted, t.planned_stops),
        "geo_verified_rate": ratio(t.attempts_geo_verified, t.attempts_with_position),
        "evidence_rate": ratio(t.attempts_with_photo, t.attempts),
    }
    return {name: values[name] for name in MEASURE_NAMES}
