"""Reading an uploaded import file and answering its report."""

from __future__ import annotations

from typing import Any

from flask import current_app, request

from server.errors import ProblemError


def uploaded_file() -> tuple[bytes, str | None]:
    """The file's bytes and name; refuses bodies over the configured import size."""
    limit = int(current_app.config.get("IMPORT_MAX_BYTES", 50 * 1024 * 1024))
    if request.content_length is not None and request.content_length > limit:
        raise ProblemError(
            413, "File too large", f"Imports are limited to {limit // (1024 * 1024)} MB."
        )
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise ProblemError(422, "Missing file", errors={"file": ["Attach the file as 'file'."]})
        data = upload.read(limit + 1)
        name = upload.filename
    else:
        data = request.get_data(cache=False)
        name = {
            "text/csv": "upload.csv",
            "application/json": "upload.json",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "upload.xlsx",
        }.get(request.mimetype)
    if len(data) > limit:
        raise ProblemError(
            413, "File too large", f"Imports are limited to {limit // (1024 * 1024)} MB."
        )
    return data, name


def import_result(report: dict[str, Any]) -> dict[str, Any]:
    """The report of a committed import; a strict import with bad rows is a 422 instead."""
    if not report["committed"]:
        raise ProblemError(
            422,
            "Import rejected",
            "Strict mode: rows failed validation, nothing was written.",
            errors=report["errors"],
            report=report,
        )
    return report
