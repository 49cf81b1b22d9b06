from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mairie.testing.personas import World, build_world, login


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """PBKDF2's million rounds cost ~0.4 s per persona (2.6 s per world); tests do not need them."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(db: Any) -> World:
    return build_world()


@pytest.fixture
def as_user(client: Any) -> Callable[[Any], Any]:
    def _login(user: Any) -> Any:
        return login(client, user)

    return _login


@pytest.fixture
def run_jobs() -> Callable[[], None]:
    """Run the job queue to the end in this process, as `mairie worker --burst` would."""

    def _run() -> None:
        from mairie.jobs.worker import MairieWorker

        MairieWorker(
            queue_names=["*"],
            interval=0,
            batch=True,
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            worker_id="test-worker",
            excluded_queue_names=[],
        ).run()

    return _run


@pytest.fixture
def make_file(tmp_path: Path) -> Callable[..., Path]:
    """Write bytes to a file with a given name under tmp_path."""

    def _make(name: str, content: bytes) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        return path

    return _make


@pytest.fixture
def text_pdf() -> Callable[[str], bytes]:
    """A small PDF with a real text layer (made by WeasyPrint)."""

    def _make(text: str) -> bytes:
        from weasyprint import HTML

        paragraphs = "".join(f"<p>{line}</p>" for line in text.split("\n"))
        return HTML(string=f"<html lang='fr'><body>{paragraphs}</body></html>").write_pdf()

    return _make


@pytest.fixture
def scanned_pdf() -> Callable[..., bytes]:
    """A scanned letter (JPEG page images in a PDF), as a scanner produces."""

    def _make(index: int = 1, **kwargs: Any) -> bytes:
        from mairie.demo.letters import make_letter
        from mairie.demo.scans import scanned_letter_pdf

        _, letter = make_letter(index)
        return scanned_letter_pdf(letter, seed=index, **kwargs)

    return _make


@pytest.fixture
def png_bytes() -> Callable[..., bytes]:
    def _make(size: tuple[int, int] = (120, 80), color: int = 255) -> bytes:
        from PIL import Image

        buffer = io.BytesIO()
        Image.new("L", size, color).save(buffer, format="PNG")
        return buffer.getvalue()

    return _make
