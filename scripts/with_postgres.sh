#!/usr/bin/env bash
# Run a command against a throwaway PostgreSQL server started here and removed afterwards.
# Usage: scripts/with_postgres.sh COMMAND...   (exports TEST_DATABASE_URL for the command)
#        PG_DURABLE=1 scripts/with_postgres.sh COMMAND...   (a durable server, for benchmarks)
set -euo pipefail

bindir=""
for candidate in "${PG_BINDIR:-}" $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
  if [ -n "$candidate" ] && [ -x "$candidate/pg_ctl" ] && [ -x "$candidate/initdb" ]; then
    bindir=$candidate
    break
  fi
done
if [ -z "$bindir" ]; then
  echo "with_postgres: PostgreSQL server binaries not found; skipping the PostgreSQL run." >&2
  exit 0
fi

tmp=$(mktemp -d /tmp/pgtest.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
run_as=()
if [ "$(id -u)" = "0" ]; then
  # PostgreSQL refuses to run as root; use its own account (or nobody).
  owner=$(id -u postgres >/dev/null 2>&1 && echo postgres || echo nobody)
  chown "$owner" "$tmp"
  chmod 755 "$tmp"
  run_as=(runuser -u "$owner" --)
fi

cleanup() {
  "${run_as[@]}" "$bindir/pg_ctl" -D "$tmp/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

"${run_as[@]}" "$bindir/initdb" -D "$tmp/data" -U cobranza --auth=trust -E UTF8 >/dev/null
# Tests want speed, not durability; PG_DURABLE=1 keeps PostgreSQL's own defaults (fsync and
# synchronous commit on), as a production server runs, for benchmarks.
settings="-c max_connections=200"
if [ "${PG_DURABLE:-0}" != "1" ]; then
  settings="$settings -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
fi
"${run_as[@]}" "$bindir/pg_ctl" -D "$tmp/data" -l "$tmp/server.log" -w \
  -o "-p $port -k $tmp -h 127.0.0.1 $settings" \
  start >/dev/null
"${run_as[@]}" "$bindir/createdb" -h 127.0.0.1 -p "$port" -U cobranza cobranza_test

export TEST_DATABASE_URL="postgresql+psycopg://cobranza@127.0.0.1:$port/cobranza_test"
echo "with_postgres: PostgreSQL $("$bindir/pg_ctl" --version | awk '{print $3}') on port $port" >&2
"$@"
