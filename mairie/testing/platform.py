"""A separate Mairie platform driven through the real console script, for end-to-end tests.

Each platform has its own data directory and, when the test run uses PostgreSQL (``DATABASE_URL`` set),
its own freshly created database on the same server, named ``<test run's database>_restore_<suffix>``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit


def console_script() -> list[str]:
    """``.venv/bin/mairie`` beside the running interpreter (``python -m mairie`` if not installed)."""
    script = Path(sys.executable).with_name("mairie")
    return [str(script)] if script.exists() else [sys.executable, "-m", "mairie"]


def postgres_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else ""


def _admin_connection() -> Any:
    import psycopg

    parts = urlsplit(postgres_url())
    return psycopg.connect(
        host=parts.hostname or None,
        port=parts.port or None,
        user=parts.username or None,
        password=parts.password or None,
        dbname="postgres",
        autocommit=True,
    )


@contextmanager
def scratch_postgres_database(suffix: str) -> Iterator[str]:
    """A new empty PostgreSQL database for the length of the block; yields its URL."""
    base = urlsplit(postgres_url())
    name = f"{base.path.lstrip('/')}_restore_{suffix}"
    with _admin_connection() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit((base.scheme, base.netloc, f"/{name}", base.query, base.fragment))
    finally:
        with _admin_connection() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Platform:
    data_dir: Path
    database_url: str = ""  # empty: SQLite in the data directory

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAIRIE_") and k != "DATABASE_URL"}
        env.update(
            {
                "MAIRIE_DATA_DIR": str(self.data_dir),
                "MAIRIE_SECRET_KEY": "tests-only-not-a-secret",
                "OMP_THREAD_LIMIT": "1",
            }
        )
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        return env

    def run(
        self, *args: str, expect: int | None = 0, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run ``mairie ARGS``; check the exit code unless ``expect`` is None."""
        result = subprocess.run(
            [*console_script(), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if expect is not None:
            assert result.returncode == expect, (
                f"mairie {' '.join(args)} → {result.returncode}\n{result.stdout}\n{result.stderr}"
            )
        return result

    def json_lines(self, *args: str, expect: int | None = 0) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.run(*args, expect=expect).stdout.splitlines() if line]

    def python(self, code: str) -> Any:
        """Run Python with Django set up on this platform; the code prints one JSON value, returned here."""
        script = "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mairie.settings'); "
        script += "django.setup()\n" + code
        result = subprocess.run(
            [sys.executable, "-c", script],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout.strip().splitlines()[-1])


@contextmanager
def platform(root: Path, name: str, *, migrate: bool = True) -> Iterator[Platform]:
    """A platform on the database kind of the test run (SQLite, or a scratch PostgreSQL database)."""
    data_dir = root / name
    if postgres_url():
        with scratch_postgres_database(name) as url:
            created = Platform(data_dir, url)
            if migrate:
                created.run("migrate", "--no-input", "-v", "0")
            yield created
    else:
        created = Platform(data_dir)
        if migrate:
            created.run("migrate", "--no-input", "-v", "0")
        yield created
