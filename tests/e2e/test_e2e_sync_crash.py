"""Exactly-once against the real server process: crashes around the commit, restarts mid-upload."""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tusclient import client as tus_client

from mobile_client_stub.api import ServerApi, TransientError
from mobile_client_stub.engine import SyncEngine
from mobile_client_stub.photos import make_jpeg
from mobile_client_stub.store import LocalStore
from mobile_client_stub.tus_upload import TusUploader

from .test_e2e_sync_harness import PASSWORD, ROOT, Dispatcher, ServerProcess, build_database

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("e2e_sync")
    url = build_database(tmp, collectors=3, stops=6)
    server = ServerProcess(tmp, url)
    server.start()
    dispatcher = Dispatcher.login(server.url, tmp, url)
    yield {"tmp": tmp, "server": server, "dispatcher": dispatcher, "db": url}
    server.close()


def handheld(world: dict[str, Any], name: str, username: str) -> SyncEngine:
    world["server"].ensure_running()
    store = LocalStore(world["tmp"] / name)
    engine = SyncEngine(
        ServerApi(world["server"].url, timeout=(2, 10)), store, chunk_size=16 * 1024
    )
    engine.ensure_registered(username, PASSWORD, name)
    engine.pull()
    return engine


def capture_visit(engine: SyncEngine) -> str:
    """Queue one visit at the first stop, as the simulator would."""
    stop = engine.store.stops_to_walk()[0]
    visit_uuid = str(uuid.uuid4())
    when = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
    with engine.store.transaction():
        engine.store.enqueue(
            "check_in", {"visit_uuid": visit_uuid, "account_id": stop["account_id"]}, when
        )
        engine.store.enqueue(
            "record_visit", {"visit_uuid": visit_uuid, "disposition": "negotiating"}, when
        )
        engine.store.enqueue("check_out", {"visit_uuid": visit_uuid}, when)
        engine.store.mark_walked(stop["stop_id"])
    return visit_uuid


def server_visits(world: dict[str, Any], visit_uuid: str) -> list[dict[str, Any]]:
    return [v for v in world["dispatcher"].visits() if v["client_uuid"] == visit_uuid]


@pytest.mark.parametrize("failpoint", ["exit_after_commit", "exit_before_commit"])
def test_push_survives_a_crash_around_the_commit(world: dict[str, Any], failpoint: str) -> None:
    server: ServerProcess = world["server"]
    engine = handheld(world, f"crash-{failpoint}", "walker0")
    visit_uuid = capture_visit(engine)
    server.kill()
    server.start(failpoint=failpoint)
    with pytest.raises(TransientError):
        engine.push()
    assert server.exited() == 70
    server.start()
    applied = server_visits(world, visit_uuid)
    assert len(applied) == (1 if failpoint == "exit_after_commit" else 0)
    assert engine.store.count("outbox") == 3  # nothing was acknowledged
    engine.push()
    assert engine.store.count("outbox") == 0
    outcomes = engine.store.db.execute("SELECT status FROM outcomes").fetchall()
    assert [s for (s,) in outcomes] == ["applied"] * 3
    records = server_visits(world, visit_uuid)
    assert len(records) == 1 and records[0]["disposition"] == "negotiating"


def test_upload_resumes_after_server_restart(world: dict[str, Any]) -> None:
    server: ServerProcess = world["server"]
    engine = handheld(world, "upload-restart", "walker1")
    data = make_jpeg(random.Random(5), "resume me", 200 * 1024)
    sha = hashlib.sha256(data).hexdigest()
    with engine.store.transaction():
        engine.store.add_photo(sha, data, "image/jpeg")
    photo = engine.store.pending_photos()[0]
    uploader = TusUploader(engine.api, engine.store, chunk_size=64 * 1024)
    url, _ = uploader.create(photo)
    engine.store.set_upload_url(sha, url)
    first = uploader.api.request(
        "PATCH",
        url,
        ok=(204,),
        headers={
            "Tus-Resumable": "1.0.0",
            "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream",
        },
        data=data[: 64 * 1024],
    )
    assert first.headers["Upload-Offset"] == str(64 * 1024)
    server.kill()
    server.start()
    assert uploader.offset(url) == 64 * 1024
    uploader.upload(engine.store.pending_photos()[0])
    stored = Path(world["tmp"]) / "media" / sha[:2] / sha
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == sha
    assert engine.store.pending_photos() == []


def test_tuspy_client_uploads_and_dedupes(world: dict[str, Any]) -> None:
    engine = handheld(world, "tuspy", "walker2")
    data = make_jpeg(random.Random(9), "tuspy", 300 * 1024)
    sha = hashlib.sha256(data).hexdigest()
    path = Path(world["tmp"]) / "tuspy.jpg"
    path.write_bytes(data)
    client = tus_client.TusClient(
        f"{world['server'].url}/api/v1/media/",
        headers={"Authorization": f"Bearer {engine.api.credential}"},
    )
    # tuspy leaves files it opened itself unclosed; hand it streams we close.
    with path.open("rb") as stream:
        uploader = client.uploader(
            file_stream=stream,
            chunk_size=100 * 1024,
            metadata={"sha256": sha, "filename": "tuspy.jpg"},
            upload_checksum=True,
        )
        uploader.upload()
    stored = Path(world["tmp"]) / "media" / sha[:2] / sha
    assert stored.read_bytes() == data
    # The same photo again completes at once; tuspy asks for the offset and is done.
    with path.open("rb") as stream:
        again = client.uploader(
            file_stream=stream,
            chunk_size=100 * 1024,
            metadata={"sha256": sha},
            retries=1,
            retry_delay=0,
        )
        again.upload()
    assert again.offset == len(data)
    assert len(list((Path(world["tmp"]) / "media").glob(f"??/{sha}"))) == 1


def test_simulator_killed_and_resumed(world: dict[str, Any]) -> None:
    world["server"].ensure_running()
    state = Path(world["tmp"]) / "sim-resume"
    command = [
        sys.executable,
        "-m",
        "mobile_client_stub",
        "simulate",
        "--server",
        world["server"].url,
        "--username",
        "walker1",
        "--password",
        PASSWORD,
        "--seed",
        "11",
        "--state-dir",
        str(state),
        "--speedup",
        "3000",
        "--max-wait",
        "20",
    ]
    first = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 45
    store = LocalStore(state)
    while time.monotonic() < deadline and store.count("walked") < 2:
        time.sleep(0.2)
    first.kill()
    first.communicate()
    walked_before = store.count("walked")
    assert 0 < walked_before < 6
    resumed = subprocess.run(
        [*command, "--resume"], cwd=ROOT, capture_output=True, timeout=60, check=False
    )
    assert resumed.returncode == 0, resumed.stderr.decode()[-2000:]
    summary = json.loads(resumed.stdout)
    assert summary["pending"] == {"mutations": 0, "photos": [], "positions": 0}
    created = summary["created"]["visits"]
    assert len(created) == len(set(created)) == store.count("walked")
    on_server = [
        v["client_uuid"] for v in world["dispatcher"].visits() if v["client_uuid"] in set(created)
    ]
    assert sorted(on_server) == sorted(created)


def test_cli_pull_status_push(world: dict[str, Any]) -> None:
    engine = handheld(world, "cli", "walker2")
    engine.store.put("server", world["server"].url)
    visit_uuid = capture_visit(engine)
    state = str(Path(world["tmp"]) / "cli")

    def cli(*args: str) -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, "-m", "mobile_client_stub", *args, "--state-dir", state],
            cwd=ROOT,
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr.decode()[-2000:]
        return dict(json.loads(done.stdout))

    assert cli("status")["pending"]["mutations"] == 3
    pulled = cli("pull")
    assert pulled["stops_to_walk"] == 5
    pushed = cli("push")
    assert pushed["pending"]["mutations"] == 0
    assert len(server_visits(world, visit_uuid)) == 1
