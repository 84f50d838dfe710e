"""Command line: ``simulate`` a day, or ``pull`` / ``push`` / ``status`` an existing handheld."""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

from mobile_client_stub.api import ClientError, ServerApi, TransientError
from mobile_client_stub.engine import Backoff, SyncBroken, SyncEngine
from mobile_client_stub.simulator import SimConfig, Simulator
from mobile_client_stub.store import LocalStore


def summary(store: LocalStore, engine: SyncEngine) -> dict[str, Any]:
    """What this handheld created, what is still pending, what the server refused."""
    created = store.created()
    return {
        "device_id": store.get("device_id"),
        "created": {
            kind: created.get(kind, [])
            for kind in ("visits", "promises", "payments", "photos", "notes", "contact_updates")
        },
        "pending": engine.pending(),
        "rejected": store.rejected(),
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mobile_client_stub")
    commands = parser.add_subparsers(dest="command", required=True)
    sim = commands.add_parser("simulate", help="walk today's route and sync it")
    sim.add_argument("--server", required=True)
    sim.add_argument("--username", required=True)
    sim.add_argument("--password", required=True)
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--offline-every", type=float, default=0.0, help="simulated minutes")
    sim.add_argument("--offline-for", type=float, default=0.0, help="simulated minutes")
    sim.add_argument("--resume", action="store_true", help="continue a killed run")
    sim.add_argument("--speedup", type=float, default=5000.0, help="simulated s per real s")
    sim.add_argument("--max-wait", type=float, default=120.0, help="real s of failing to sync")
    sim.add_argument("--state-dir", type=Path)
    sim.add_argument("--chunk-size", type=int, default=256 * 1024)
    for name, text in (
        ("pull", "fetch changes to the day"),
        ("push", "send the outbox, photos and positions"),
        ("status", "show what is still in the outbox"),
    ):
        cmd = commands.add_parser(name, help=text)
        cmd.add_argument("--state-dir", type=Path, required=True)
        cmd.add_argument("--server", help="defaults to the server the handheld registered with")
        cmd.add_argument("--max-wait", type=float, default=30.0)
    return parser


def _print(data: dict[str, Any]) -> None:
    print(json.dumps(data, indent=2, sort_keys=True))


def _retrying(engine: SyncEngine, action: str, max_wait: float) -> Any:
    backoff = Backoff(random.Random())
    deadline = time.monotonic() + max_wait
    while True:
        try:
            return engine.pull() if action == "pull" else engine.sync_once()
        except TransientError as exc:
            if time.monotonic() > deadline:
                raise
            delay = backoff.next_delay()
            print(f"{action} failed ({exc}); retrying in {delay:.2f}s", file=sys.stderr)
            time.sleep(delay)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "simulate":
        return _simulate(args)
    store = LocalStore(args.state_dir)
    server = args.server or store.get("server")
    if server is None:
        print("this state dir has no registered handheld", file=sys.stderr)
        return 2
    engine = SyncEngine(ServerApi(server), store)
    try:
        if args.command == "pull":
            counts = _retrying(engine, "pull", args.max_wait)
            _print({"pulled": counts, "stops_to_walk": len(store.stops_to_walk())})
        elif args.command == "push":
            _retrying(engine, "push", args.max_wait)
            _print(summary(store, engine))
        else:
            _print(summary(store, engine))
    except (TransientError, ClientError, SyncBroken) as exc:
        print(f"{args.command} failed: {exc}", file=sys.stderr)
        _print(summary(store, engine))
        return 3
    return 0


def _simulate(args: argparse.Namespace) -> int:
    state_dir = args.state_dir or Path(".handheld") / args.username
    store = LocalStore(state_dir)
    if not args.resume and store.get("device_id"):
        pending = store.count("outbox") + len(store.pending_photos())
        if pending:
            print(
                f"{state_dir} holds {pending} unsent captures; use --resume or `push`",
                file=sys.stderr,
            )
            return 2
        store.close()
        for path in sorted(state_dir.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        store = LocalStore(state_dir)
    store.put("server", args.server)
    engine = SyncEngine(ServerApi(args.server), store, chunk_size=args.chunk_size)
    config = SimConfig(
        seed=args.seed,
        speedup=args.speedup,
        offline_every_min=args.offline_every,
        offline_for_min=args.offline_for,
        max_wait_s=args.max_wait,
    )
    code = 3
    try:
        _register(engine, args)
        code = Simulator(engine, store, config).run()
    except (ClientError, SyncBroken) as exc:
        print(f"simulate failed: {exc}", file=sys.stderr)
    except TransientError as exc:
        print(f"server unreachable: {exc}", file=sys.stderr)
    _print(summary(store, engine))
    return code


def _register(engine: SyncEngine, args: argparse.Namespace) -> None:
    backoff = Backoff(random.Random(args.seed))
    deadline = time.monotonic() + args.max_wait
    while True:
        try:
            engine.ensure_registered(args.username, args.password, f"sim-{args.username}")
            return
        except TransientError:
            if time.monotonic() > deadline:
                raise
            time.sleep(backoff.next_delay())
