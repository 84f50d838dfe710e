#!/usr/bin/env bash
# pytest, treating "no tests collected" (exit 5) as a failure that says so plainly.
set -u
"$(dirname "$0")/../.venv/bin/pytest" "$@"
status=$?
if [ "$status" -eq 5 ]; then
  echo "pytest: no tests were collected for: $*" >&2
  exit 1
fi
exit "$status"
