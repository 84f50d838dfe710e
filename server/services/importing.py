"""Portfolio and payment imports: upsert by the creditor's id, snapshot, report each bad row."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select, update

from server.extensions import db
from server.models import (
    Account,
    AccountSnapshot,
    Payment,
    Portfolio,
    PortfolioImport,
)
from server.services import audit, reporting
from server.services.settings import agency_tz, get_settings, local_date_of
from server.services.tabular import (
    CellError,
    Table,
    date_value,
    datetime_value,
    decimal_value,
    float_value,
    int_value,
    read_table,
    text_value,
)
from server.services.zones import ZoneIndex, list_zones

# Documented header mapping (README, "Import files"): normalised header -> field.
ACCOUNT_HEADERS: dict[str, list[str]] = {
    "external_id": [
        "external_id",
        "id",
        "account_id",
        "account",
        "cuenta",
        "nro_cuenta",
        "numero_cuenta",
        "id_cuenta",
        "codigo",
        "codigo_cuenta",
        "credito",
        "nro_credito",
        "contrato",
    ],
    "debtor_name": [
        "debtor_name",
        "name",
        "debtor",
        "nombre",
        "nombre_deudor",
        "deudor",
        "cliente",
        "titular",
        "nombre_cliente",
        "razon_social",
    ],
    "national_id": [
        "national_id",
        "document",
        "dni",
        "documento",
        "nro_documento",
        "doc_identidad",
        "ruc",
        "cedula",
        "curp",
        "rfc",
    ],
    "phones": ["phones", "phone", "telefono", "telefonos", "celular", "movil"],
    "address": ["address", "direccion", "domicilio"],
    "district": ["district", "distrito", "municipio", "comuna", "colonia", "barrio"],
    "lat": ["lat", "latitude", "latitud"],
    "lon": ["lon", "lng", "long", "longitude", "longitud"],
    "currency": ["currency", "moneda", "divisa"],
    "balance": ["balance", "saldo", "saldo_total", "deuda_total", "total_debt"],
    "overdue_balance": [
        "overdue_balance",
        "overdue",
        "saldo_vencido",
        "monto_vencido",
        "deuda_vencida",
        "vencido",
    ],
    "days_past_due": ["days_past_due", "dpd", "dias_mora", "dias_atraso", "dias_vencidos", "mora"],
    "risk_score": ["risk_score", "risk", "score", "riesgo", "puntaje", "puntaje_riesgo"],
    "segment": ["segment", "segmento"],
    "preferred_windows": [
        "preferred_windows",
        "visit_windows",
        "horario",
        "horario_preferido",
        "horario_visita",
    ],
    "max_discount_pct": ["max_discount_pct", "descuento_maximo", "descuento_max"],
    "max_installments": ["max_installments", "max_cuotas", "cuotas_maximas"],
    "min_installment": ["min_installment", "cuota_minima"],
}
PAYMENT_HEADERS: dict[str, list[str]] = {
    "external_id": ACCOUNT_HEADERS["external_id"],
    "amount": ["amount", "monto", "importe", "monto_pago", "pago"],
    "paid_at": ["paid_at", "payment_date", "date", "fecha", "fecha_pago"],
    "receipt_number": ["receipt_number", "receipt", "recibo", "nro_recibo", "numero_recibo"],
    "method": ["method", "payment_method", "medio", "medio_pago", "metodo", "forma_pago"],
    "reference": ["reference", "referencia", "operacion", "nro_operacion"],
    "currency": ["currency", "moneda", "divisa"],
}


def _aliases(headers: dict[str, list[str]]) -> dict[str, str]:
    return {alias: name for name, aliases in headers.items() for alias in aliases}


ACCOUNT_ALIASES = _aliases(ACCOUNT_HEADERS)
PAYMENT_ALIASES = _aliases(PAYMENT_HEADERS)
PAYMENT_METHODS = {
    "cash": "cash",
    "efectivo": "cash",
    "transfer": "transfer",
    "transferencia": "transfer",
    "deposit": "deposit",
    "deposito": "deposit",
    "card": "card",
    "tarjeta": "card",
    "yape": "wallet",
    "plin": "wallet",
    "wallet": "wallet",
    "other": "other",
    "otro": "other",
}

_WINDOW = re.compile(r"(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})")
_DAY_LETTERS = {"L": 0, "M": 1, "X": 2, "J": 3, "V": 4, "S": 5, "D": 6}


@dataclass
class RowError:
    line: int
    field: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "reason": self.reason}


@dataclass
class ImportReport:
    import_id: int | None
    kind: str
    file_format: str
    mode: str
    as_of: date
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    duplicates_of_field_payments: int = 0
    committed: bool = True
    errors: list[RowError] = field(default_factory=list)
    unknown_columns: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "import_id": self.import_id,
            "kind": self.kind,
            "format": self.file_format,
            "mode": self.mode,
            "as_of": self.as_of.isoformat(),
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "duplicates_of_field_payments": self.duplicates_of_field_payments,
            "committed": self.committed,
            "unknown_columns": self.unknown_columns,
            "errors": [e.as_dict() for e in self.errors],
        }


def parse_windows(value: Any) -> list[dict[str, Any]]:
    """Read "L-V 09:00-13:00; S 09:00-12:00", "09:00-13:00" or a JSON list of windows."""
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return value
    text = str(value).strip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CellError("invalid JSON windows") from exc
        if not isinstance(parsed, list):
            raise CellError("windows must be a list")
        return parsed
    windows = []
    for part in re.split(r"[;|]", text):
        part = part.strip().upper()
        if not part:
            continue
        match = _WINDOW.search(part)
        if not match:
            raise CellError(f"not a time window: {part[:30]!r}")
        days = list(range(7))
        prefix = part[: match.start()].strip()
        if prefix:
            ends = [_DAY_LETTERS.get(p.strip()[:1]) for p in prefix.split("-")]
            if None in ends or len(ends) > 2:
                raise CellError(f"unknown days {prefix!r} (use L M X J V S D)")
            first, last = ends[0], ends[-1]
            assert first is not None and last is not None
            days = list(range(first, last + 1))
        windows.append(
            {"days": days, "start": match.group(1).zfill(5), "end": match.group(2).zfill(5)}
        )
    return windows


def _cell(row: dict[str, Any], name: str, reader: Callable[[Any], Any], errors: list[str]) -> Any:
    try:
        return reader(row.get(name))
    except CellError as exc:
        errors.append(f"{name}: {exc}")
        return None


def _account_values(
    line: int, row: dict[str, Any], currency: str
) -> tuple[dict[str, Any] | None, list[RowError]]:
    """Validate one account row into column values, or say what is wrong with it."""
    problems: list[RowError] = []

    def read(name: str, reader: Callable[[Any], Any]) -> Any:
        try:
            return reader(row.get(name))
        except CellError as exc:
            problems.append(RowError(line, name, str(exc)))
            return None

    external_id = read("external_id", text_value)
    if not external_id:
        problems.append(RowError(line, "external_id", "missing account id"))
    elif len(external_id) > 64:
        problems.append(RowError(line, "external_id", "longer than 64 characters"))
    name = read("debtor_name", text_value)
    if not name:
        problems.append(RowError(line, "debtor_name", "missing debtor name"))
    lat, lon = read("lat", float_value), read("lon", float_value)
    if lat is not None and not -90 <= lat <= 90:
        problems.append(RowError(line, "lat", "latitude out of range [-90, 90]"))
    if lon is not None and not -180 <= lon <= 180:
        problems.append(RowError(line, "lon", "longitude out of range [-180, 180]"))
    if (lat is None) != (lon is None):
        problems.append(RowError(line, "lat", "latitude and longitude go together"))
    if lat == 0 and lon == 0:
        lat = lon = None  # 0,0 is an exporter's "unknown", never a Lima address
    balance = read("balance", decimal_value)
    overdue = read("overdue_balance", decimal_value)
    for label, amount in (("balance", balance), ("overdue_balance", overdue)):
        if amount is not None and amount < 0:
            problems.append(RowError(line, label, "must not be negative"))
    dpd = read("days_past_due", int_value)
    if dpd is not None and dpd < 0:
        problems.append(RowError(line, "days_past_due", "must not be negative"))
    risk = read("risk_score", float_value)
    windows = read("preferred_windows", parse_windows)
    row_currency = read("currency", text_value)
    if row_currency is not None and not re.fullmatch(r"[A-Za-z]{3}", row_currency):
        problems.append(RowError(line, "currency", "use a 3-letter ISO code"))
    phones_text = read("phones", text_value)
    options: dict[str, Any] = {}
    discount = read("max_discount_pct", decimal_value)
    if discount is not None:
        options["max_discount_pct"] = str(discount)
    installments = read("max_installments", int_value)
    if installments is not None:
        options["max_installments"] = installments
    minimum = read("min_installment", decimal_value)
    if minimum is not None:
        options["min_installment"] = str(minimum)
    if problems:
        return None, problems
    values = {
        "external_id": external_id,
        "debtor_name": name[:160],
        "national_id": read("national_id", text_value),
        "phones": [p.strip() for p in re.split(r"[/,;|]", phones_text or "") if p.strip()],
        "address": (read("address", text_value) or "")[:255],
        "district": read("district", text_value),
        "lat": lat,
        "lon": lon,
        "geocode_status": "ok" if lat is not None else "pending",
        "currency": (row_currency or currency).upper(),
        "balance": (balance if balance is not None else Decimal(0)).quantize(Decimal("0.01")),
        "overdue_balance": (overdue if overdue is not None else Decimal(0)).quantize(
            Decimal("0.01")
        ),
        "days_past_due": dpd or 0,
        "risk_score": risk,
        "segment": read("segment", text_value),
        "preferred_windows": windows or [],
        "negotiation_options": options or None,
    }
    return values, []


_COMPARED = (
    "debtor_name",
    "national_id",
    "phones",
    "address",
    "district",
    "lat",
    "lon",
    "currency",
    "balance",
    "overdue_balance",
    "days_past_due",
    "risk_score",
    "segment",
    "preferred_windows",
    "negotiation_options",
)


def _get_portfolio(code: str) -> Portfolio:
    portfolio = db.session.execute(
        select(Portfolio).where(Portfolio.code == code)
    ).scalar_one_or_none()
    if portfolio is None:
        portfolio = Portfolio(code=code, name=code)
        db.session.add(portfolio)
        db.session.flush()
    return portfolio


def import_portfolio(
    data: bytes,
    filename: str | None,
    portfolio_code: str = "default",
    as_of: date | None = None,
    mode: str = "partial",
) -> ImportReport:
    """Upsert accounts by external id, snapshot them as of a date, report rejected rows."""
    table = read_table(data, filename, ACCOUNT_ALIASES)
    settings = get_settings()
    as_of = as_of or local_date_of(datetime.now(UTC))
    report = ImportReport(
        None, "accounts", table.file_format, mode, as_of, unknown_columns=table.unknown_columns
    )
    valid: dict[str, tuple[int, dict[str, Any]]] = {}
    for line, row in table.rows:
        values, problems = _account_values(line, row, settings.currency)
        if values is not None and values["external_id"] in valid:
            first = valid[values["external_id"]][0]
            problems = [
                RowError(line, "external_id", f"duplicate id in this file (first at line {first})")
            ]
            values = None
        if values is None:
            report.errors.extend(problems)
            report.rejected += 1
            continue
        valid[values["external_id"]] = (line, values)

    if mode == "strict" and report.errors:
        report.committed = False
        return report

    portfolio = _get_portfolio(portfolio_code)
    record = PortfolioImport(
        kind="accounts",
        portfolio_id=portfolio.id,
        as_of=as_of,
        filename=(filename or "")[:255],
        file_format=table.file_format,
        mode=mode,
        user_id=_actor_id(),
    )
    db.session.add(record)
    db.session.flush()
    report.import_id = record.id

    existing: dict[str, dict[str, Any]] = {}
    ids = list(valid)
    columns = [Account.id, Account.external_id, *(getattr(Account, c) for c in _COMPARED)]
    for start in range(0, len(ids), 900):
        chunk = ids[start : start + 900]
        for found in db.session.execute(
            select(*columns).where(
                Account.portfolio_id == portfolio.id, Account.external_id.in_(chunk)
            )
        ):
            existing[found.external_id] = found._asdict()

    zone_index = ZoneIndex(list_zones())
    now = datetime.now(UTC)
    to_create: list[dict[str, Any]] = []
    to_update: list[dict[str, Any]] = []
    for external_id, (_line, values) in valid.items():
        current = existing.get(external_id)
        if current is None:
            to_create.append(
                {
                    **values,
                    "portfolio_id": portfolio.id,
                    "created_at": now,
                    "updated_at": now,
                    "zone_id": zone_index.zone_of(values["lat"], values["lon"]),
                    "active": True,
                }
            )
            continue
        if values["lat"] is None and current["lat"] is not None:
            # A later export without coordinates must not erase a geocoded location.
            values = {
                **values,
                "lat": current["lat"],
                "lon": current["lon"],
                "geocode_status": "ok",
            }
        if all(values[c] == current[c] for c in _COMPARED):
            report.unchanged += 1
            continue
        to_update.append(
            {
                **values,
                "id": current["id"],
                "updated_at": now,
                "zone_id": zone_index.zone_of(values["lat"], values["lon"]),
            }
        )
    for start in range(0, len(to_create), 2000):
        db.session.execute(insert(Account), to_create[start : start + 2000])
    if to_update:
        db.session.execute(update(Account), to_update)
    report.created, report.updated = len(to_create), len(to_update)

    account_ids: dict[str, int] = {}
    for start in range(0, len(ids), 900):
        chunk = ids[start : start + 900]
        account_ids.update(
            db.session.execute(
                select(Account.external_id, Account.id).where(
                    Account.portfolio_id == portfolio.id, Account.external_id.in_(chunk)
                )
            ).all()
        )
    snapshots = [
        {
            "import_id": record.id,
            "account_id": account_ids[eid],
            "as_of": as_of,
            "balance": v["balance"],
            "overdue_balance": v["overdue_balance"],
            "days_past_due": v["days_past_due"],
        }
        for eid, (_line, v) in valid.items()
    ]
    for start in range(0, len(snapshots), 5000):
        db.session.execute(insert(AccountSnapshot), snapshots[start : start + 5000])
    # A bulk insert bypasses the ORM flush that keeps the KPI rollup's overdue balances.
    reporting.refresh_assignment_days(db.session.connection(), since=as_of)

    record.created_count, record.updated_count = report.created, report.updated
    record.unchanged_count, record.rejected_count = report.unchanged, report.rejected
    audit.record(
        "import",
        "accounts",
        record.id,
        portfolio=portfolio.code,
        created=report.created,
        updated=report.updated,
        rejected=report.rejected,
    )
    db.session.commit()
    if report.created or report.updated:
        start_background_geocoding()
    return report


def _payment_key(
    account_id: int,
    paid_at: datetime,
    amount: Decimal,
    reference: str | None,
    receipt: str | None,
) -> tuple[Any, ...]:
    """What makes a posted payment the same one when the creditor sends it again."""
    if receipt:
        return ("receipt", receipt)
    if reference:
        return ("reference", account_id, reference)
    return ("fallback", account_id, paid_at.astimezone(UTC).date(), amount)


def _imported_payment_keys(account_ids: set[int]) -> set[tuple[Any, ...]]:
    keys: set[tuple[Any, ...]] = set()
    ids = sorted(account_ids)
    for start in range(0, len(ids), 900):
        rows = db.session.execute(
            select(
                Payment.account_id,
                Payment.paid_at,
                Payment.amount,
                Payment.reference,
                Payment.receipt_number,
            ).where(Payment.source == "imported", Payment.account_id.in_(ids[start : start + 900]))
        )
        keys.update(_payment_key(*row) for row in rows)
    return keys


def start_background_geocoding() -> None:
    """Queue geocoding of accounts still without coordinates, when a geocoder is set up."""
    from flask import current_app

    if current_app.config.get("GEOCODER") and current_app.config.get("GEOCODER_URL"):
        from server import jobs
        from server.services.geocoding import geocode_pending

        jobs.enqueue("geocoding", geocode_pending)


def _actor_id() -> int | None:
    from flask import g

    user = g.get("current_user")
    return user.id if user is not None else None


def import_payments(
    data: bytes, filename: str | None, portfolio_code: str = "default", mode: str = "partial"
) -> ImportReport:
    """Record the creditor's posted payments; a repeat of a field receipt is not counted twice."""
    table: Table = read_table(data, filename, PAYMENT_ALIASES)
    settings = get_settings()
    tz = agency_tz()
    portfolio = db.session.execute(
        select(Portfolio).where(Portfolio.code == portfolio_code)
    ).scalar_one_or_none()
    report = ImportReport(
        None,
        "payments",
        table.file_format,
        mode,
        local_date_of(datetime.now(UTC), tz),
        unknown_columns=table.unknown_columns,
    )
    rows: list[tuple[int, dict[str, Any]]] = []
    external_ids: set[str] = set()
    for line, row in table.rows:
        problems: list[str] = []
        external_id = _cell(row, "external_id", text_value, problems)
        amount = _cell(row, "amount", decimal_value, problems)
        moment = _cell(row, "paid_at", datetime_value, problems)
        day = None if moment else _cell(row, "paid_at", date_value, problems)
        method_text = (_cell(row, "method", text_value, problems) or "transfer").lower()
        errors = [RowError(line, p.split(":")[0], p.split(": ", 1)[1]) for p in problems]
        if not external_id:
            errors.append(RowError(line, "external_id", "missing account id"))
        if amount is None:
            errors.append(RowError(line, "amount", "missing amount"))
        elif amount <= 0:
            errors.append(RowError(line, "amount", "must be greater than zero"))
        if moment is None and day is None and not problems:
            errors.append(RowError(line, "paid_at", "missing payment date"))
        method = PAYMENT_METHODS.get(method_text)
        if method is None:
            errors.append(RowError(line, "method", f"unknown method {method_text!r}"))
        if errors:
            report.errors.extend(errors)
            report.rejected += 1
            continue
        if moment is None:
            # A date without a time is taken as local noon so it lands on that local day.
            assert day is not None
            moment = datetime.combine(day, time(12), tzinfo=tz)
        elif moment.tzinfo is None:
            moment = moment.replace(tzinfo=tz)
        assert external_id is not None and amount is not None
        external_ids.add(external_id)
        rows.append(
            (
                line,
                {
                    "external_id": external_id,
                    "amount": amount.quantize(Decimal("0.01")),
                    "paid_at": moment,
                    "method": method,
                    "receipt_number": _cell(row, "receipt_number", text_value, []),
                    "reference": _cell(row, "reference", text_value, []),
                    "currency": (
                        _cell(row, "currency", text_value, []) or settings.currency
                    ).upper(),
                },
            )
        )

    accounts: dict[str, int] = {}
    if portfolio is not None and external_ids:
        id_list = sorted(external_ids)
        for start in range(0, len(id_list), 900):
            accounts.update(
                db.session.execute(
                    select(Account.external_id, Account.id).where(
                        Account.portfolio_id == portfolio.id,
                        Account.external_id.in_(id_list[start : start + 900]),
                    )
                ).all()
            )
    receipts = {r["receipt_number"] for _, r in rows if r["receipt_number"]}
    field_receipts: set[str] = set()
    imported_receipts: set[str] = set()
    for number, source in db.session.execute(
        select(Payment.receipt_number, Payment.source).where(
            Payment.receipt_number.in_(sorted(receipts))
        )
    ):
        if number is not None:
            (field_receipts if source == "field" else imported_receipts).add(number)

    accepted: list[tuple[dict[str, Any], int]] = []
    for line, values in rows:
        account_id = accounts.get(values["external_id"])
        if account_id is None:
            report.errors.append(RowError(line, "external_id", "no such account in this portfolio"))
            report.rejected += 1
            continue
        accepted.append((values, account_id))
    if mode == "strict" and report.errors:
        report.committed = False
        return report

    seen = _imported_payment_keys({account_id for _, account_id in accepted})
    record = PortfolioImport(
        kind="payments",
        portfolio_id=portfolio.id if portfolio else None,
        as_of=report.as_of,
        filename=(filename or "")[:255],
        file_format=table.file_format,
        mode=mode,
        user_id=_actor_id(),
    )
    db.session.add(record)
    db.session.flush()
    report.import_id = record.id
    new_rows = []
    for values, account_id in accepted:
        receipt = values["receipt_number"]
        key = _payment_key(
            account_id, values["paid_at"], values["amount"], values["reference"], receipt
        )
        if (receipt and receipt in imported_receipts) or key in seen:
            report.unchanged += 1
            continue
        seen.add(key)
        counted = not (receipt and receipt in field_receipts)
        if not counted:
            report.duplicates_of_field_payments += 1
        new_rows.append(
            {
                "account_id": account_id,
                "import_id": record.id,
                "source": "imported",
                "amount": values["amount"],
                "currency": values["currency"],
                "method": values["method"],
                "receipt_number": receipt,
                "reference": values["reference"],
                "paid_at": values["paid_at"],
                "local_date": local_date_of(values["paid_at"], tz),
                "counted": counted,
                "created_at": datetime.now(UTC),
            }
        )
        if receipt is not None:
            imported_receipts.add(receipt)
    if new_rows:
        db.session.execute(insert(Payment), new_rows)
        # A bulk insert bypasses the ORM flush that keeps promise statuses current.
        connection = db.session.connection()
        reporting.refresh_promise_spans(connection, {row["account_id"] for row in new_rows})
        reporting.refresh_imported_days(connection, {row["local_date"] for row in new_rows})
    report.created = len(new_rows)
    record.created_count, record.unchanged_count = report.created, report.unchanged
    record.rejected_count = report.rejected
    audit.record("import", "payments", record.id, created=report.created, rejected=report.rejected)
    db.session.commit()
    return report
