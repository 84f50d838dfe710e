from decimal import Decimal

from kpi import MEASURE_NAMES, MEASURES, GroupTotals, MeasureKind, compute_measures, ratio


def test_every_measure_of_the_model_is_defined_once() -> None:
    expected = {
        "attempts", "connections", "contacts", "direct_contacts", "promises",
        "promises_due", "promises_kept", "promises_partially_kept", "promises_broken",
        "contact_rate", "direct_contact_rate", "promise_rate", "kept_rate",
        "amount_promised", "amount_kept", "amount_collected_field", "amount_recovered",
        "recovery_rate", "accounts_assigned", "penetration", "intensity", "field_hours",
        "attempts_per_hour", "km_travelled", "km_per_attempt", "plan_completion",
        "geo_verified_rate", "evidence_rate",
    }  # fmt: skip
    assert set(MEASURE_NAMES) == expected
    assert len(MEASURE_NAMES) == len(expected)
    assert all(m.definition and m.label_es and m.label_en for m in MEASURES)


def test_zero_denominators_give_null_not_zero() -> None:
    values = compute_measures(GroupTotals())
    rates = [m.name for m in MEASURES if m.kind is MeasureKind.RATE]
    assert rates
    assert all(values[name] is None for name in rates)
    assert values["attempts"] == 0
    assert values["amount_recovered"] == Decimal(0)
    assert ratio(0, 5) == 0.0
    assert ratio(3, 0) is None


def test_hand_computed_group() -> None:
    totals = GroupTotals(
        attempts=40,
        connections=30,
        contacts=24,
        direct_contacts=20,
        promises=8,
        promises_due=5,
        promises_kept=2,
        promises_partially_kept=1,
        promises_broken=2,
        amount_promised=Decimal("800.00"),
        amount_kept=Decimal("250.50"),
        amount_collected_field=Decimal("120.00"),
        amount_recovered=Decimal("500.00"),
        overdue_at_start=Decimal("10000.00"),
        accounts_assigned=50,
        accounts_attempted=30,
        field_seconds=8 * 3600,
        distance_m=36_000.0,
        planned_stops=45,
        planned_stops_attempted=36,
        attempts_with_position=38,
        attempts_geo_verified=19,
        attempts_with_photo=10,
    )
    v = compute_measures(totals)
    assert list(v) == list(MEASURE_NAMES)
    assert v["contact_rate"] == 0.6  # 24 / 40
    assert v["direct_contact_rate"] == 0.5  # 20 / 40
    assert v["promise_rate"] == 0.4  # 8 / 20
    assert v["kept_rate"] == 0.4  # 2 / 5
    assert v["recovery_rate"] == 0.05  # 500 / 10000
    assert v["penetration"] == 0.6  # 30 / 50
    assert v["intensity"] == 0.8  # 40 / 50
    assert v["field_hours"] == 8.0
    assert v["attempts_per_hour"] == 5.0  # 40 / 8
    assert v["km_travelled"] == 36.0
    assert v["km_per_attempt"] == 0.9  # 36 / 40
    assert v["plan_completion"] == 0.8  # 36 / 45
    assert v["geo_verified_rate"] == 0.5  # 19 / 38
    assert v["evidence_rate"] == 0.25  # 10 / 40
    assert v["amount_kept"] == Decimal("250.50")


def test_totals_add_field_by_field() -> None:
    a = GroupTotals(attempts=2, amount_recovered=Decimal("1.10"), distance_m=5.0)
    b = GroupTotals(attempts=3, amount_recovered=Decimal("2.05"), distance_m=1.5)
    assert a + b == GroupTotals(attempts=5, amount_recovered=Decimal("3.15"), distance_m=6.5)
