"""The machine-readable KPI model document served at ``GET /api/v1/kpi/model``.

Built from the same tables the computations use, so the document cannot drift from them.
"""

from __future__ import annotations

from typing import Any

from kpi.dispositions import DISPOSITIONS, FunnelLevel
from kpi.effectiveness import BUCKETS, CURRENT, Movement
from kpi.groups import GroupKey
from kpi.measures import MEASURES
from kpi.promises import PromiseRules, PromiseStatus

MODEL_VERSION = 1

_MOVEMENT_RULES = {
    Movement.NORMALIZED: "now current (0 days past due)",
    Movement.IMPROVED: "in a better bucket, not current",
    Movement.CONTAINED: "in the same bucket",
    Movement.ROLLED: "in a worse bucket",
}

_PROMISE_RULES = {
    PromiseStatus.KEPT: (
        "payments on the account from the promise's creation to each due installment's date "
        "plus grace_days add up to at least kept_tolerance x the installments promised so far"
    ),
    PromiseStatus.PARTIALLY_KEPT: "some payment arrived by then, but not enough",
    PromiseStatus.BROKEN: "no payment arrived by the last due installment's date plus grace_days",
    PromiseStatus.PENDING: "no installment's due date plus grace_days is on or before as_of",
}


def model_document(rules: PromiseRules | None = None) -> dict[str, Any]:
    """The whole model as JSON-ready data; ``rules`` are the agency's promise settings."""
    rules = rules or PromiseRules()
    return {
        "version": MODEL_VERSION,
        "funnel": [{"level": level.machine_name, "order": int(level)} for level in FunnelLevel],
        "dispositions": [
            {
                "name": info.disposition.value,
                "label_es": info.label_es,
                "label_en": info.label_en,
                "level": info.level.machine_name,
                "yields_promise": info.yields_promise,
                "records_payment": info.records_payment,
            }
            for info in DISPOSITIONS.values()
        ],
        "promise_status": {
            "grace_days": rules.grace_days,
            "kept_tolerance": str(rules.kept_tolerance),
            "matching": "a payment counts towards one promise only, the oldest open one first",
            "statuses": [
                {"name": status.value, "rule": rule} for status, rule in _PROMISE_RULES.items()
            ],
        },
        "measures": [
            {
                "name": m.name,
                "label_es": m.label_es,
                "label_en": m.label_en,
                "kind": m.kind.value,
                "definition": m.definition,
                "additive": m.additive,
                "null_when_denominator_zero": m.kind == "rate",
            }
            for m in MEASURES
        ],
        "effectiveness": {
            "current": CURRENT,
            "buckets": [{"name": b.name, "low": b.low, "high": b.high} for b in BUCKETS],
            "movements": [
                {"name": m.value, "label_es": m.label_es, "rule": rule}
                for m, rule in _MOVEMENT_RULES.items()
            ],
        },
        "groups": [key.value for key in GroupKey],
        "period": "half-open [from, to) of agency-local days; as_of judges promise status",
    }
