"""The real tus-js-client (Node) against the real server: chunked upload, dedupe, and a resume
after the connection was lost and the server was killed and restarted in between."""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from mobile_client_stub.api import ServerApi
from mobile_client_stub.photos import make_jpeg

from .test_e2e_sync_harness import PASSWORD, ROOT, ServerProcess, build_database

pytestmark = pytest.mark.e2e

SCRIPT = Path(__file__).with_name("tus_js_client_upload.js")
NODE = shutil.which("node")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    if NODE is None or not (ROOT / "node_modules" / "tus-js-client").is_dir():
        pytest.skip("node or tus-js-client missing: `npm ci` (make run and make test do it)")
    tmp = tmp_path_factory.mktemp("e2e_tus_js")
    process = ServerProcess(tmp, build_database(tmp, collectors=2, stops=2))
    process.start()
    yield process
    process.close()


def credential(server: ServerProcess, username: str) -> str:
    api = ServerApi(server.url)
    device = api.register_device(api.login(username, PASSWORD), "web", "tus-js-client")
    return str(device["credential"])


def tus_js(server: ServerProcess, token: str, file: Path, **options: Any) -> dict[str, Any]:
    """Run one tus-js-client upload; answer its JSON report."""
    args = [
        NODE or "node",
        str(SCRIPT),
        "--endpoint",
        f"{server.url}/api/v1/media/",
        "--file",
        str(file),
        "--token",
        token,
        "--sha256",
        hashlib.sha256(file.read_bytes()).hexdigest(),
    ]
    for key, value in options.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def photo(tmp: Path, name: str, seed: int, size_kb: int) -> tuple[Path, bytes]:
    data = make_jpeg(random.Random(seed), name, size_kb * 1024)
    path = tmp / f"{name}.jpg"
    path.write_bytes(data)
    return path, data


def stored(server: ServerProcess, data: bytes) -> list[Path]:
    sha = hashlib.sha256(data).hexdigest()
    return list((server.tmp / "media").glob(f"??/{sha}"))


def test_tus_js_client_uploads_in_chunks_and_dedupes(server: ServerProcess) -> None:
    token = credential(server, "walker0")
    path, data = photo(server.tmp, "chunks", 1, 400)
    first = tus_js(server, token, path, chunk_size=64 * 1024)
    assert first["done"] and first["startedAt"] == 0
    assert [p.read_bytes() == data for p in stored(server, data)] == [True]
    # The same photo again: the server holds it, so the upload completes at once.
    again = tus_js(server, token, path, chunk_size=64 * 1024)
    assert again["done"] and again["url"] != first["url"]
    assert len(stored(server, data)) == 1


def test_tus_js_client_resumes_after_an_interruption_and_a_server_crash(
    server: ServerProcess,
) -> None:
    token = credential(server, "walker1")
    path, data = photo(server.tmp, "resume", 2, 600)
    # The connection is lost after about a third of the photo was acknowledged...
    cut = tus_js(server, token, path, chunk_size=32 * 1024, stop_after=200 * 1024)
    assert not cut["done"] and 200 * 1024 <= cut["offset"] < len(data)
    # ...and the server is killed and started again meanwhile.
    server.kill()
    server.start()
    held = requests.head(
        cut["url"],
        headers={"Tus-Resumable": "1.0.0", "Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert held.headers["Upload-Offset"] == str(cut["offset"])
    assert "Upload-Expires" in held.headers
    resumed = tus_js(server, token, path, chunk_size=32 * 1024, upload_url=cut["url"])
    # tus-js-client asked where to go on and sent only the rest.
    assert resumed["done"] and resumed["startedAt"] == cut["offset"]
    assert [p.read_bytes() == data for p in stored(server, data)] == [True]
