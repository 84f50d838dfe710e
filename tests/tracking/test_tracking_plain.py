"""tracking/ stays plain Python: the server depends on it, never the other way round."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

FORBIDDEN = ("flask", "sqlalchemy", "marshmallow", "flask_sqlalchemy", "server")


def test_tracking_imports_no_web_or_database_layer() -> None:
    probe = (
        "import sys, tracking, tracking.decoders, tracking.pipeline, tracking.status, "
        "tracking.track, tracking.verification, tracking.zones\n"
        f"print(','.join(m for m in {FORBIDDEN!r} if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    ).stdout.strip()
    assert loaded == ""
