"""Shared fixtures: the real model, a real index of the seed corpus and a real server, built once."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def free_port() -> int:
    """An unused TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def embedder():
    """The bundled all-MiniLM-L6-v2, loaded once."""
    from indexer.embedding import Embedder

    return Embedder()


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory, embedder) -> Path:
    """An index of the five seed reviews, built once with the real model."""
    from indexer.build import build_index

    index_dir = tmp_path_factory.mktemp("seed") / "index"
    summary = build_index(CORPUS, index_dir, embedder=embedder, progress=False)
    assert summary.passages_embedded > 0
    return index_dir


@pytest.fixture(scope="session")
def engine(seed_index):
    """The loaded seed index."""
    from server.engine import Engine

    return Engine(seed_index)


@pytest.fixture()
def app(engine):
    """The Flask app over the seed index (flaskr style)."""
    from server.app import create_app

    return create_app({"TESTING": True, "ENGINE": engine, "INDEX_DIR": str(engine.index_dir)})


@pytest.fixture()
def client(app):
    """Flask's test client."""
    return app.test_client()


def copy_corpus(dest: Path) -> Path:
    """A private copy of the seed corpus, to change without touching the real one."""
    shutil.copytree(CORPUS, dest)
    return dest


def copy_index(src: Path, dest: Path) -> Path:
    """A private copy of an index directory."""
    shutil.copytree(src, dest, symlinks=True)
    return dest


class LiveServer:
    """`reviews serve` running as a real process on a loopback port."""

    def __init__(self, index_dir: Path, env: dict | None = None, corpus: Path | None = None, args: list[str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "server.cli", "serve", "--index", str(index_dir), "--port", str(self.port), *(args or [])]
        if corpus is not None:
            cmd += ["--corpus", str(corpus)]
        self.log = open(index_dir.parent / f"server-{self.port}.log", "w+")  # noqa: SIM115
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})

    def wait(self, timeout: float = 300) -> LiveServer:
        """Block until /api/health answers (or the process dies)."""
        deadline = time.time() + timeout
        headers = {}
        if os.environ.get("REVIEWS_API_TOKEN"):
            headers["Authorization"] = f"Bearer {os.environ['REVIEWS_API_TOKEN']}"
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.output()}")
            try:
                r = requests.get(self.url + "/api/health", timeout=2, headers=headers)
                if r.status_code in (200, 401):
                    return self
            except (requests.ConnectionError, requests.Timeout):  # worker processes may still be loading
                pass
            time.sleep(0.3)
        raise TimeoutError(f"server did not start: {self.output()}")

    def output(self) -> str:
        """Everything the server printed so far."""
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> None:
        """Terminate the server process."""
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.fixture(scope="session")
def live_server(seed_index):
    """A real server over the seed index for the whole session."""
    server = LiveServer(seed_index).wait()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def api(live_server):
    """POST/GET helpers against the live server."""

    class Api:
        url = live_server.url

        def post(self, path: str, body: object = None, **kw):
            return requests.post(self.url + path, json=body, timeout=60, **kw)

        def get(self, path: str, **kw):
            return requests.get(self.url + path, timeout=60, **kw)

    return Api()


def assert_error(response, status: int, code: str | None = None) -> dict:
    """Check the one error shape and return its body."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert isinstance(body["error"]["code"], str) and body["error"]["code"]
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code:
        assert body["error"]["code"] == code
    return body
