"""A WSGI app that only reads the request body: the HTTP floor of a tus chunk under gunicorn.

bench/sync.py serves it with the same gunicorn settings as the real server and sends it the
same 256 KB PATCHes, so the table shows how much of a chunk's time is HTTP itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    received = len(environ["wsgi.input"].read(length)) if length else 0
    start_response("204 No Content", [("Upload-Offset", str(received))])
    return [b""]
