#!/usr/bin/env bash
# Pre-release, the schema lives in one initial revision; this rewrites it from the models.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rm -f migrations/versions/0001_initial.py
INSTANCE_PATH="$tmp" DATABASE_URL="sqlite:///$tmp/empty.db" FLASK_APP=server \
  .venv/bin/flask db revision --autogenerate --rev-id 0001 -m initial >/dev/null 2>&1
mv migrations/versions/0001_initial.py migrations/versions/0001_initial.py 2>/dev/null || true
.venv/bin/ruff format -q migrations/versions || true
echo "migrations/versions/0001_initial.py regenerated"
