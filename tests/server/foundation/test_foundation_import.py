"""Portfolio and payment imports with the messy files creditors really send."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import Workbook
from sqlalchemy import func, select

from server.extensions import db
from server.models import Account, AccountSnapshot, Payment

SPANISH_CSV = (
    "Cuenta;Nombre;DNI;Teléfono;Dirección;Distrito;Latitud;Longitud;Saldo;Saldo Vencido;"
    "Días Mora;Segmento;Horario\n"
    "C-001;María Quispe;40123456;987654321 / 912345678;Jr. Junín 123;Cercado de Lima;"
    "-12,0464;-77,0428;1.234,56;567,80;45;consumo;L-V 09:00-13:00\n"
    "C-002;José Ñahui;41234567;999888777;Av. Grau 55;La Victoria;;;2.000,00;0,00;0;tarjeta;\n"
)


def _post(
    client: FlaskClient,
    headers: dict[str, str],
    data: bytes,
    name: str = "cartera.csv",
    query: str = "",
) -> Any:
    return client.post(
        f"/api/v1/accounts/import{query}",
        data={"file": (io.BytesIO(data), name)},
        headers=headers,
        content_type="multipart/form-data",
    )


@pytest.fixture()
def dispatcher(staff: dict[str, Any], auth_header: Any) -> dict[str, str]:
    return auth_header("dispatcher")  # type: ignore[no-any-return]


def test_spanish_headers_semicolons_decimal_comma_with_bom(
    client: FlaskClient, dispatcher: dict[str, str]
) -> None:
    response = _post(client, dispatcher, "\ufeff".encode() + SPANISH_CSV.encode("utf-8"))
    assert response.status_code == 200, response.json
    assert response.json["created"] == 2
    assert response.json["rejected"] == 0
    account = db.session.execute(select(Account).where(Account.external_id == "C-001")).scalar_one()
    assert account.balance == Decimal("1234.56")
    assert account.overdue_balance == Decimal("567.80")
    assert account.days_past_due == 45
    assert account.phones == ["987654321", "912345678"]
    assert (account.lat, account.lon) == (-12.0464, -77.0428)
    assert account.preferred_windows == [
        {"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "13:00"}
    ]
    pending = db.session.execute(select(Account).where(Account.external_id == "C-002")).scalar_one()
    assert pending.geocode_status == "pending"
    assert pending.debtor_name == "José Ñahui"


def test_latin1_file_is_read(client: FlaskClient, dispatcher: dict[str, str]) -> None:
    response = _post(client, dispatcher, SPANISH_CSV.encode("latin-1"))
    assert response.status_code == 200
    name = db.session.execute(
        select(Account.debtor_name).where(Account.external_id == "C-002")
    ).scalar_one()
    assert name == "José Ñahui"


def test_bad_rows_are_reported_and_good_rows_kept(
    client: FlaskClient, dispatcher: dict[str, str]
) -> None:
    csv_text = (
        "external_id,debtor_name,lat,lon,balance,overdue_balance,days_past_due\n"
        "A1,Ana,-12.05,-77.03,100.00,50.00,10\n"
        ",Sin Id,-12.05,-77.03,100,50,10\n"
        "A3,Mar Adentro,-95.0,-77.03,100,50,10\n"
        "A4,Negativa,-12.05,-77.03,-5,0,10\n"
        "A1,Duplicada,-12.05,-77.03,100,50,10\n"
        "A6,Fecha,-12.05,-77.03,abc,0,10\n"
    )
    response = _post(client, dispatcher, csv_text.encode())
    body = response.json
    assert response.status_code == 200
    assert (body["created"], body["rejected"]) == (1, 5)
    problems = {(e["line"], e["field"]) for e in body["errors"]}
    assert problems == {
        (3, "external_id"),
        (4, "lat"),
        (5, "balance"),
        (6, "external_id"),
        (7, "balance"),
    }


def test_strict_mode_writes_nothing_when_a_row_fails(
    client: FlaskClient, dispatcher: dict[str, str]
) -> None:
    csv_text = "id,name,balance\nA1,Ana,100\nA2,,100\n"
    response = _post(client, dispatcher, csv_text.encode(), query="?mode=strict")
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert response.json["errors"] == [
        {"line": 3, "field": "debtor_name", "reason": "missing debtor name"}
    ]
    assert db.session.execute(select(func.count(Account.id))).scalar_one() == 0


def test_upsert_counts_and_snapshots(client: FlaskClient, dispatcher: dict[str, str]) -> None:
    first = "id,name,balance,overdue,dpd\nA1,Ana,100,50,10\nA2,Beto,200,0,0\n"
    second = "id,name,balance,overdue,dpd\nA1,Ana,100,50,10\nA2,Beto,150,30,35\nA3,Caro,10,10,5\n"
    assert _post(client, dispatcher, first.encode(), query="?as_of=2026-11-01").json["created"] == 2
    body = _post(client, dispatcher, second.encode(), query="?as_of=2026-11-15").json
    assert (body["created"], body["updated"], body["unchanged"]) == (1, 1, 1)
    snapshots = db.session.execute(
        select(AccountSnapshot.as_of, func.count())
        .group_by(AccountSnapshot.as_of)
        .order_by(AccountSnapshot.as_of)
    ).all()
    assert [(s[0].isoformat(), s[1]) for s in snapshots] == [("2026-11-01", 2), ("2026-11-15", 3)]


def test_excel_and_json_files(client: FlaskClient, dispatcher: dict[str, str]) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["N° Cuenta", "Nombre Deudor", "Saldo Vencido", "Días de mora"])
    sheet.append(["X-1", "Excel Uno", 1500.5, 31])
    buffer = io.BytesIO()
    workbook.save(buffer)
    response = _post(client, dispatcher, buffer.getvalue(), "cartera.xlsx")
    assert response.status_code == 200, response.json
    assert response.json["format"] == "xlsx"
    assert (
        response.json["unknown_columns"] == ["N° Cuenta", "Días de mora"]
        or response.json["created"] == 1
    )
    rows = [{"external_id": "J-1", "debtor_name": "Json Uno", "overdue_balance": "10.5"}]
    raw = client.post(
        "/api/v1/accounts/import",
        data=json.dumps(rows),
        headers=dispatcher,
        content_type="application/json",
    )
    assert raw.json["created"] == 1
    assert raw.json["format"] == "json"


@pytest.mark.parametrize(
    ("payload", "title"),
    [
        (b"", "Empty file"),
        (bytes(range(256)) * 40, "Unreadable file"),
        (b"PK\x03\x04garbage", "Unreadable file"),
        (b"foo,bar\n1,2\n", "Unrecognised columns"),
    ],
)
def test_unusable_files_get_problem_details(
    client: FlaskClient, dispatcher: dict[str, str], payload: bytes, title: str
) -> None:
    response = _post(client, dispatcher, payload)
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert response.json["title"] == title


def test_a_20_mb_file_over_the_limit_is_refused_clearly(
    app: Flask, client: FlaskClient, dispatcher: dict[str, str]
) -> None:
    app.config["IMPORT_MAX_BYTES"] = 10 * 1024 * 1024
    line = "A{0},Nombre {0},100.00,50.00,10\n"
    body = (
        "id,name,balance,overdue,dpd\n" + "".join(line.format(i) for i in range(700_000))
    ).encode()
    assert len(body) > 20 * 1024 * 1024
    response = client.post(
        "/api/v1/accounts/import", data=body, headers=dispatcher, content_type="text/csv"
    )
    assert response.status_code == 413
    assert response.json["title"] == "File too large"


def test_payments_import_does_not_count_a_field_receipt_twice(
    client: FlaskClient, dispatcher: dict[str, str], factory: Any
) -> None:
    account = factory.account("P-1")
    db.session.add(
        Payment(
            account_id=account.id,
            source="field",
            amount=Decimal("80.00"),
            currency="PEN",
            method="cash",
            receipt_number="R-LIM-0000007",
            paid_at=datetime(2026, 11, 20, 15, tzinfo=UTC),
            local_date=date(2026, 11, 20),
        )
    )
    db.session.commit()
    csv_text = (
        "cuenta;monto;fecha_pago;recibo;medio_pago\n"
        "P-1;80,00;20/11/2026;R-LIM-0000007;efectivo\n"
        "P-1;120,50;22/11/2026;;transferencia\n"
        "NO-EXISTE;10,00;22/11/2026;;transferencia\n"
        "P-1;-3;22/11/2026;;transferencia\n"
    )
    response = client.post(
        "/api/v1/payments/import",
        data={"file": (io.BytesIO(csv_text.encode()), "pagos.csv")},
        headers=dispatcher,
        content_type="multipart/form-data",
    )
    body = response.json
    assert (body["created"], body["rejected"], body["duplicates_of_field_payments"]) == (2, 2, 1)
    counted = db.session.execute(
        select(func.sum(Payment.amount)).where(
            Payment.account_id == account.id, Payment.counted.is_(True)
        )
    ).scalar_one()
    assert counted == Decimal("200.50")
    again = client.post(
        "/api/v1/payments/import",
        data={"file": (io.BytesIO(csv_text.encode()), "pagos.csv")},
        headers=dispatcher,
        content_type="multipart/form-data",
    ).json
    assert (again["created"], again["unchanged"]) == (0, 2)


def test_collectors_cannot_import(client: FlaskClient, factory: Any, auth_header: Any) -> None:
    factory.collector("col_a")
    response = _post(client, auth_header("col_a"), SPANISH_CSV.encode())
    assert response.status_code == 403
