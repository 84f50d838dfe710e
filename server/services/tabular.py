"""Reading the messy spreadsheets creditors export: CSV (any common dialect), XLSX and JSON.

Real exports come as UTF-8 with or without BOM or as Latin-1, with commas or semicolons,
decimal commas (1.234,56), DD/MM/YYYY dates and Spanish or English headers.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from server.errors import ProblemError

XLSX_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class Table:
    """Rows keyed by canonical field name, each with the line it came from."""

    file_format: str
    columns: list[str]
    rows: list[tuple[int, dict[str, Any]]]
    unknown_columns: list[str]


def normalise_header(name: str) -> str:
    """Lower-case, strip accents and punctuation: "Días Mora" -> "dias_mora"."""
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def read_table(data: bytes, filename: str | None, aliases: dict[str, str]) -> Table:
    """Parse a file into canonical rows using `aliases` (normalised header -> field)."""
    if not data:
        raise ProblemError(422, "Empty file", "The uploaded file has no content.")
    name = (filename or "").lower()
    if data.startswith(XLSX_MAGIC) or name.endswith(".xlsx"):
        file_format, header, raw_rows = "xlsx", *_read_xlsx(data)
    else:
        text = _decode(data)
        stripped = text.lstrip()
        if name.endswith(".json") or stripped.startswith(("[", "{")):
            file_format, header, raw_rows = "json", *_read_json(stripped)
        else:
            file_format, header, raw_rows = "csv", *_read_csv(text)
    mapped = [aliases.get(normalise_header(h)) for h in header]
    unknown = [h for h, m in zip(header, mapped, strict=True) if m is None and str(h).strip()]
    if not any(mapped):
        raise ProblemError(
            422,
            "Unrecognised columns",
            "None of the column names is known; see the documented header mapping.",
            errors={"columns": [str(h) for h in header]},
        )
    rows: list[tuple[int, dict[str, Any]]] = []
    for line, values in raw_rows:
        if all(v is None or str(v).strip() == "" for v in values):
            continue
        row: dict[str, Any] = {}
        for field, value in zip(mapped, values, strict=False):
            if field is not None and field not in row:
                row[field] = value
        rows.append((line, row))
    columns = [m for m in mapped if m is not None]
    return Table(file_format, columns, rows, unknown)


def _decode(data: bytes) -> str:
    if b"\x00" in data[:4096]:
        raise ProblemError(
            422, "Unreadable file", "This looks like a binary file, not CSV, XLSX or JSON."
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Spreadsheet exports from Windows machines in Latin America are cp1252/Latin-1.
        return data.decode("cp1252", errors="replace")


def _read_csv(text: str) -> tuple[list[str], Iterator[tuple[int, list[Any]]]]:
    sample = "\n".join(text.splitlines()[:20])
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t|")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ";" if sample.count(";") > sample.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration as exc:
        raise ProblemError(422, "Empty file", "The file has no header row.") from exc
    except csv.Error as exc:
        raise ProblemError(422, "Unreadable file", f"Not a readable CSV file: {exc}") from exc

    def rows() -> Iterator[tuple[int, list[Any]]]:
        try:
            for values in reader:
                yield reader.line_num, values
        except csv.Error as exc:
            raise ProblemError(
                422, "Unreadable file", f"CSV error near line {reader.line_num}: {exc}"
            ) from exc

    return header, rows()


def _read_xlsx(data: bytes) -> tuple[list[str], Iterator[tuple[int, list[Any]]]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ProblemError(422, "Unreadable file", "Not a readable .xlsx workbook.") from exc
    sheet = workbook.worksheets[0]
    iterator = sheet.iter_rows(values_only=True)
    try:
        header = ["" if h is None else str(h) for h in next(iterator)]
    except StopIteration as exc:
        raise ProblemError(422, "Empty file", "The workbook's first sheet is empty.") from exc

    def rows() -> Iterator[tuple[int, list[Any]]]:
        for offset, values in enumerate(iterator, start=2):
            yield offset, list(values)

    return header, rows()


def _read_json(text: str) -> tuple[list[str], Iterator[tuple[int, list[Any]]]]:
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProblemError(422, "Unreadable file", f"Invalid JSON: {exc.msg}.") from exc
    records = payload.get("rows", payload.get("accounts")) if isinstance(payload, dict) else payload
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ProblemError(
            422, "Unreadable file", 'JSON must be a list of objects or {"rows": [...]}.'
        )
    header: list[str] = []
    for record in records:
        for key in record:
            if key not in header:
                header.append(key)

    def rows() -> Iterator[tuple[int, list[Any]]]:
        for index, record in enumerate(records, start=1):
            yield index, [record.get(h) for h in header]

    return header, rows()


class CellError(ValueError):
    """A value that cannot be read; the message is shown to the dispatcher."""


def text_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def decimal_value(value: Any) -> Decimal | None:
    """Read 1234.56, 1.234,56, 1,234.56, 1234,56 or "S/ 1 234,56"."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise CellError("not a number")
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(str(value))
    text = re.sub(r"[^\d,.\-]", "", str(value))
    if "," in text and "." in text:
        if text.rfind(",") > text.rfind("."):
            text = text.replace(".", "").replace(",", ".")
        else:
            text = text.replace(",", "")
    elif "," in text:
        head, _, tail = text.rpartition(",")
        # "1,234" with three decimals is a thousands separator only when there are more groups.
        text = text.replace(",", "") if len(tail) == 3 and "," in head else text.replace(",", ".")
    try:
        return Decimal(text)
    except InvalidOperation as exc:
        raise CellError(f"not a number: {str(value)[:30]!r}") from exc


def int_value(value: Any) -> int | None:
    number = decimal_value(value)
    if number is None:
        return None
    if number != number.to_integral_value():
        raise CellError("must be a whole number")
    return int(number)


def float_value(value: Any) -> float | None:
    number = decimal_value(value)
    return None if number is None else float(number)


_DMY = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")


def date_value(value: Any) -> date | None:
    """Read DD/MM/YYYY (the Latin American order), ISO dates and spreadsheet dates."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    try:
        if match := _DMY.match(text):
            day, month, year = (int(g) for g in match.groups())
            return date(year, month, day)
        if match := _ISO.match(text):
            year, month, day = (int(g) for g in match.groups())
            return date(year, month, day)
    except ValueError as exc:
        raise CellError(f"not a real date: {text!r}") from exc
    raise CellError(f"not a date (use DD/MM/YYYY or YYYY-MM-DD): {text[:30]!r}")


def datetime_value(value: Any) -> datetime | None:
    """A datetime if the cell has a time, else None; callers fall back to date_value."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and "T" in value:
        try:
            return datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise CellError(f"not an ISO-8601 time: {value[:30]!r}") from exc
    return None
