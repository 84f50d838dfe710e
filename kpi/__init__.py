"""The shared field-collection KPI model (kpi-model.md, version 1), in plain Python.

The server, the device protocol and any future channel import the model from here so that
every report reads the same way whoever produced the events.
"""

from kpi.dispositions import (
    DISPOSITION_NAMES,
    DISPOSITIONS,
    Disposition,
    DispositionInfo,
    FunnelLevel,
    dispositions_reaching,
    parse_disposition,
)
from kpi.effectiveness import (
    BUCKET_NAMES,
    BUCKETS,
    Bucket,
    BucketEffectiveness,
    Movement,
    Tally,
    bucket_name,
    bucket_rank,
    movement,
    summarize,
)
from kpi.groups import GroupKey, Period, month_label, parse_group_by, week_label
from kpi.measures import (
    MEASURE_NAMES,
    MEASURES,
    GroupTotals,
    Measure,
    MeasureKind,
    compute_measures,
    ratio,
)
from kpi.model import MODEL_VERSION, model_document
from kpi.promises import (
    Installment,
    Payment,
    Promise,
    PromiseOutcome,
    PromiseRules,
    PromiseStatus,
    StatusSpan,
    judge_account,
    judge_promise,
    match_payments,
    status_spans,
)

__all__ = [
    "BUCKETS",
    "BUCKET_NAMES",
    "DISPOSITIONS",
    "DISPOSITION_NAMES",
    "MEASURES",
    "MEASURE_NAMES",
    "MODEL_VERSION",
    "Bucket",
    "BucketEffectiveness",
    "Disposition",
    "DispositionInfo",
    "FunnelLevel",
    "GroupKey",
    "GroupTotals",
    "Installment",
    "Measure",
    "MeasureKind",
    "Movement",
    "Payment",
    "Period",
    "Promise",
    "PromiseOutcome",
    "PromiseRules",
    "PromiseStatus",
    "StatusSpan",
    "Tally",
    "bucket_name",
    "bucket_rank",
    "compute_measures",
    "dispositions_reaching",
    "judge_account",
    "judge_promise",
    "match_payments",
    "model_document",
    "month_label",
    "movement",
    "parse_disposition",
    "parse_group_by",
    "ratio",
    "status_spans",
    "summarize",
    "week_label",
]
