"""`mairie serve` starts a real WSGI server and a worker; /healthz sees both; Ctrl+C stops both."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.mark.slow
def test_serve_runs_web_and_worker_and_stops_cleanly(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAIRIE_") and k != "DATABASE_URL"}
    env.update({"MAIRIE_DATA_DIR": str(tmp_path / "data"), "MAIRIE_WORKER_HEARTBEAT": "1"})
    mairie = [sys.executable, "-m", "mairie"]
    subprocess.run([*mairie, "migrate", "-v", "0"], env=env, check=True, timeout=120)
    port = _free_port()
    server = subprocess.Popen([*mairie, "serve", "--port", str(port), "--workers", "1"], env=env)
    try:
        deadline = time.monotonic() + 60
        health: dict = {}
        while time.monotonic() < deadline:
            try:
                status, body = _get(f"http://127.0.0.1:{port}/healthz")
                health = json.loads(body)
                if status == 200 and health["worker"]["status"] == "ok":
                    break
            except OSError:
                pass
            time.sleep(0.5)
        assert health.get("status") == "ok", health
        assert health["database"]["status"] == "ok"
        assert health["storage"]["status"] == "ok"
        assert health["worker"]["status"] == "ok"
        status, body = _get(f"http://127.0.0.1:{port}/connexion/")
        assert status == 200 and "Connexion" in body.decode()
        status, css = _get(f"http://127.0.0.1:{port}/static/mairie/mairie.css")
        assert status == 200 and b"--blue" in css
        assert (
            "gunicorn"
            in subprocess.run(
                ["ps", "-o", "args=", "--ppid", str(server.pid)], capture_output=True, text=True
            ).stdout
        )
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    time.sleep(0.5)
    assert _port_closed(port)


def _port_closed(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0
