"""Command line: ``python -m routing plan-day`` and ``python -m routing solve``."""

from routing.cli import main

raise SystemExit(main())
