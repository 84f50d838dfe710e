import subprocess
import sys

import pytest

from kpi import (
    DISPOSITION_NAMES,
    DISPOSITIONS,
    MODEL_VERSION,
    Disposition,
    FunnelLevel,
    dispositions_reaching,
    parse_disposition,
)

# The table of §2, copied by hand from kpi-model.md.
EXPECTED_LEVELS = {
    "address_not_found": "attempt",
    "no_answer": "attempt",
    "access_denied": "connection",
    "third_party_message": "contact",
    "debtor_moved": "contact",
    "debtor_deceased": "contact",
    "refused_to_pay": "direct_contact",
    "dispute": "direct_contact",
    "negotiating": "direct_contact",
    "already_paid": "direct_contact",
    "promise_to_pay": "promise",
    "payment_collected": "direct_contact",
}


def test_table_matches_model_text() -> None:
    assert {d.value: d.level.machine_name for d in Disposition} == EXPECTED_LEVELS
    assert tuple(EXPECTED_LEVELS) == DISPOSITION_NAMES
    assert MODEL_VERSION == 1


def test_spanish_labels_and_flags() -> None:
    assert DISPOSITIONS[Disposition.ACCESS_DENIED].label_es == "Atienden pero no permiten contacto"
    assert Disposition.DEBTOR_MOVED.info.label_es == "Tercero informa que se mudó"
    assert [d for d in Disposition if d.info.records_payment] == [Disposition.PAYMENT_COLLECTED]
    assert [d for d in Disposition if d.info.yields_promise] == [Disposition.PROMISE_TO_PAY]
    assert all(info.label_en and info.label_es for info in DISPOSITIONS.values())


def test_funnel_order() -> None:
    assert [lvl.machine_name for lvl in sorted(FunnelLevel)] == [
        "attempt",
        "connection",
        "contact",
        "direct_contact",
        "promise",
    ]


@pytest.mark.parametrize(
    ("level", "count"),
    [
        (FunnelLevel.ATTEMPT, 12),
        (FunnelLevel.CONNECTION, 10),
        (FunnelLevel.CONTACT, 9),
        (FunnelLevel.DIRECT_CONTACT, 6),
        (FunnelLevel.PROMISE, 1),
    ],
)
def test_dispositions_reaching(level: FunnelLevel, count: int) -> None:
    assert len(dispositions_reaching(level)) == count


def test_parse_disposition() -> None:
    assert parse_disposition("dispute") is Disposition.DISPUTE
    with pytest.raises(ValueError, match="unknown disposition 'nope'"):
        parse_disposition("nope")


def test_kpi_imports_no_web_or_database_code() -> None:
    code = (
        "import sys, kpi, kpi.model\n"
        "bad = [m for m in ('flask', 'sqlalchemy', 'marshmallow', 'server') if m in sys.modules]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
