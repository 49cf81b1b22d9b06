from __future__ import annotations

import getpass
import hashlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mairie.documents.tests.samples import EICAR


@pytest.fixture
def storage_dir(settings: Any, tmp_path: Path) -> Path:
    """Originals and renditions of this test only, in a fresh directory (to see exactly what was stored)."""
    root = tmp_path / "stockage"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root), "file_permissions_mode": 0o640},
        },
    }
    return root


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Clamd:
    socket_path: str
    tcp_address: str  # host:port
    log: Path


@pytest.fixture(scope="session")
def clamd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clamd]:
    """A real clamd for this test session, with a database holding only a test signature for EICAR.

    freshclam cannot download the official signatures here (no internet); the MD5 signature of the
    EICAR test file is enough for clamd to find it, also as an e-mail attachment.
    """
    binary = shutil.which("clamd") or ("/usr/sbin/clamd" if Path("/usr/sbin/clamd").exists() else None)
    if binary is None:
        pytest.fail(
            "clamd est introuvable : installez le paquet Debian clamav-daemon "
            "(scripts/system-deps.sh test le fait)."
        )
    root = tmp_path_factory.mktemp("clamd")
    database = root / "db"
    database.mkdir()
    (database / "test.hdb").write_text(f"{hashlib.md5(EICAR).hexdigest()}:{len(EICAR)}:Test.EICAR\n")
    port = _free_port()
    sock = root / "clamd.sock"
    log = root / "clamd.log"
    config = root / "clamd.conf"
    config.write_text(
        "\n".join(
            [
                f"DatabaseDirectory {database}",
                f"LocalSocket {sock}",
                f"TCPSocket {port}",
                "TCPAddr 127.0.0.1",
                "Foreground yes",
                f"User {getpass.getuser()}",
                f"LogFile {log}",
                f"TemporaryDirectory {root}",
                "StreamMaxLength 1M",  # small, to test files larger than clamd accepts
                "",
            ]
        )
    )
    process = subprocess.Popen(
        [binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        while not _clamd_answers(sock):
            if process.poll() is not None:
                log_text = log.read_text() if log.exists() else ""
                pytest.fail(f"clamd s'est arrêté au démarrage (code {process.returncode}) :\n{log_text}")
            if time.monotonic() > deadline:
                pytest.fail("clamd ne répond pas après 60 s")
            time.sleep(0.1)
        yield Clamd(str(sock), f"127.0.0.1:{port}", log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _clamd_answers(path: Path) -> bool:
    if not path.exists():
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(2)
            conn.connect(str(path))
            conn.sendall(b"zPING\0")
            return conn.recv(16).startswith(b"PONG")
    except OSError:
        return False
