import json
from datetime import date

import pytest

from kpi import (
    DISPOSITION_NAMES,
    MEASURE_NAMES,
    GroupKey,
    Period,
    PromiseRules,
    model_document,
    month_label,
    parse_group_by,
    week_label,
)


def test_parse_group_by() -> None:
    assert parse_group_by("collector,day") == (GroupKey.COLLECTOR, GroupKey.DAY)
    assert parse_group_by(" Day , collector,day,") == (GroupKey.DAY, GroupKey.COLLECTOR)
    assert parse_group_by("") == ()
    with pytest.raises(ValueError, match="unknown group key\\(s\\) team"):
        parse_group_by("collector,team")


def test_period_is_half_open() -> None:
    period = Period(date(2026, 11, 1), date(2026, 11, 3))
    assert date(2026, 11, 1) in period
    assert date(2026, 11, 2) in period
    assert date(2026, 11, 3) not in period
    assert list(period.each_day()) == [date(2026, 11, 1), date(2026, 11, 2)]
    with pytest.raises(ValueError):
        Period(date(2026, 11, 3), date(2026, 11, 3))


def test_week_and_month_labels() -> None:
    assert week_label(date(2026, 11, 29)) == "2026-11-23"  # a Sunday: week of Monday the 23rd
    assert week_label(date(2026, 11, 23)) == "2026-11-23"
    assert week_label(date(2027, 1, 1)) == "2026-12-28"
    assert month_label(date(2026, 2, 9)) == "2026-02"


def test_model_document_is_json_and_complete() -> None:
    doc = json.loads(json.dumps(model_document(PromiseRules(grace_days=3))))
    assert doc["version"] == 1
    assert [d["name"] for d in doc["dispositions"]] == list(DISPOSITION_NAMES)
    assert [m["name"] for m in doc["measures"]] == list(MEASURE_NAMES)
    assert doc["promise_status"]["grace_days"] == 3
    assert doc["promise_status"]["kept_tolerance"] == "1.00"
    assert [b["name"] for b in doc["effectiveness"]["buckets"]][-1] == "121+"
    assert doc["groups"] == ["collector", "zone", "day", "week", "month", "portfolio", "bucket"]
    moved = next(d for d in doc["dispositions"] if d["name"] == "debtor_moved")
    assert moved == {
        "name": "debtor_moved",
        "label_es": "Tercero informa que se mudó",
        "label_en": "Third party reports debtor moved",
        "level": "contact",
        "yields_promise": False,
        "records_payment": False,
    }
