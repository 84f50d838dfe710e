"""Portfolio import speed: 50,000 rows through the real endpoint, beside a bare-load peer.

The peer is the floor any importer sits on: csv.reader plus one executemany INSERT into the
same table, with no validation, upsert, snapshot or zone lookup. Run:

    .venv/bin/python bench/import.py [--rows 50000] [--repeat 3] [--database-url URL]
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask_migrate import upgrade
from sqlalchemy import text

from server import create_app
from server.auth import hash_password, issue_token
from server.extensions import db
from server.models import User

HEADER = "Cuenta;Nombre;DNI;Teléfono;Dirección;Distrito;Latitud;Longitud;Saldo;Saldo Vencido;Días Mora;Segmento\n"


def make_file(rows: int, seed: int, bump: bool = False) -> bytes:
    rng = random.Random(seed)
    out = io.StringIO()
    out.write(HEADER)
    for n in range(rows):
        lat, lon = -12.05 + rng.uniform(-0.12, 0.1), -77.0 + rng.uniform(-0.06, 0.08)
        balance = rng.uniform(100, 20000) + (50 if bump and n % 2 else 0)
        overdue = balance * rng.uniform(0, 0.6)
        out.write(
            f"BN-{n:07d};Deudor {n};{40000000 + n};9{rng.randint(10**7, 10**8 - 1)};"
            f"Av. Perú {n % 3000};Comas;{lat:.6f}".replace(".", ",")
            + f";{lon:.6f}".replace(".", ",")
            + f";{balance:,.2f}".replace(",", "X").replace(".", ",").replace("X", ".")
            + f";{overdue:,.2f}".replace(",", "X").replace(".", ",").replace("X", ".")
            + f";{rng.randint(0, 240)};consumo\n"
        )
    return out.getvalue().encode("utf-8")


def fresh_app(base: Path, url: str | None) -> Any:
    tmp = Path(tempfile.mkdtemp(dir=base))
    database = url or f"sqlite:///{tmp / 'bench.db'}"
    app = create_app(
        {
            "INSTANCE_PATH": str(tmp),
            "SECRET_KEY": "b" * 40,
            "SQLALCHEMY_DATABASE_URI": database,
            "IMPORT_MAX_BYTES": 200 * 1024 * 1024,
        }
    )
    with app.app_context():
        if url:
            db.session.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            db.session.commit()
        upgrade()
        user = User(username="dispatcher", role="dispatcher", password_hash=hash_password("x" * 12))
        db.session.add(user)
        db.session.commit()
    return app


def timed_import(app: Any, data: bytes) -> tuple[float, dict[str, Any]]:
    with app.app_context():
        user = db.session.execute(db.select(User)).scalar_one()
        token, _ = issue_token(user)
    client = app.test_client()
    start = time.perf_counter()
    response = client.post(
        "/api/v1/accounts/import?portfolio=bench",
        data=data,
        headers={"Authorization": f"Bearer {token}"},
        content_type="text/csv",
    )
    elapsed = time.perf_counter() - start
    assert response.status_code == 200, response.json
    return elapsed, response.json


def peer_load(app: Any, data: bytes) -> float:
    """csv.reader + executemany INSERT, nothing else."""
    with app.app_context():
        start = time.perf_counter()
        reader = csv.reader(io.StringIO(data.decode("utf-8")), delimiter=";")
        next(reader)
        db.session.execute(
            text(
                "INSERT INTO portfolios (code, name, creditor, created_at) "
                "VALUES ('peer', 'peer', '', CURRENT_TIMESTAMP)"
            )
        )
        pid = db.session.execute(text("SELECT id FROM portfolios WHERE code='peer'")).scalar_one()
        rows = [
            {
                "p": pid,
                "e": r[0],
                "n": r[1],
                "b": int(float(r[8].replace(".", "").replace(",", ".")) * 100),
            }
            for r in reader
        ]
        db.session.execute(
            text(
                "INSERT INTO accounts (portfolio_id, external_id, debtor_name, phones, address, geocode_status,"
                " currency, balance, overdue_balance, days_past_due, preferred_windows, active, created_at, updated_at)"
                " VALUES (:p, :e, :n, '[]', '', 'pending', 'PEN', :b, 0, 0, '[]', true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            rows,
        )
        db.session.commit()
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL; default: SQLite file")
    args = parser.parse_args()
    first, second = make_file(args.rows, 1), make_file(args.rows, 1, bump=True)
    base = Path(tempfile.mkdtemp(prefix="bench-import-"))
    results: dict[str, list[float]] = {"create": [], "update half": [], "unchanged": [], "peer": []}
    try:
        for _ in range(args.repeat):
            app = fresh_app(base, args.database_url)
            elapsed, body = timed_import(app, first)
            assert body["created"] == args.rows
            results["create"].append(elapsed)
            elapsed, body = timed_import(app, second)
            results["update half"].append(elapsed)
            elapsed, body = timed_import(app, second)
            assert body["unchanged"] == args.rows
            results["unchanged"].append(elapsed)
            peer_app = fresh_app(base, args.database_url)
            results["peer"].append(peer_load(peer_app, first))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    database = "PostgreSQL" if args.database_url else "SQLite (WAL)"
    size_mb = len(first) / 1e6
    print(
        f"\nPortfolio import, {args.rows:,} rows ({size_mb:.1f} MB CSV, Spanish headers, "
        f"decimal comma), {database}, median of {args.repeat}"
    )
    print(f"{'case':<34}{'median s':>10}{'rows/s':>12}{'vs peer':>10}")
    peer = statistics.median(results["peer"])
    labels = {
        "create": "import: all new (API)",
        "update half": "import: half changed (API)",
        "unchanged": "import: all unchanged (API)",
        "peer": "peer: csv.reader + executemany",
    }
    for key, label in labels.items():
        median = statistics.median(results[key])
        print(f"{label:<34}{median:>10.2f}{args.rows / median:>12,.0f}{median / peer:>9.1f}x")
    goal = statistics.median(results["create"])
    print(
        f"\nGoal: 50,000 rows in under 30 s -> {'met' if goal < 30 else 'NOT met'} ({goal:.1f} s)"
    )


if __name__ == "__main__":
    main()
