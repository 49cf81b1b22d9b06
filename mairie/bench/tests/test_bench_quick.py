"""The benchmarks' quick mode runs end to end, so that `make bench` does not rot between full runs.

The figures of a quick run mean nothing; what is checked is that every cheap benchmark completes and
writes its section. B1 and B8 (several seconds of OCR and page analysis) are left to `make bench`; B9
(e-mail intake) runs on its own with six messages against the Dovecot it starts.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection


def database_args(suffix: str = "") -> list[str]:
    """The suite's own database server (PostgreSQL) or SQLite, for the benchmarks that take one."""
    if connection.vendor != "postgresql":
        return ["--databases", "sqlite"]
    settings = connection.settings_dict
    auth = settings["USER"] + (f":{settings['PASSWORD']}" if settings["PASSWORD"] else "")
    server = f"postgres://{auth}@{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}"
    # Named after this run's own database, so that two suites running at once never share one.
    prefix = (
        "mairie_bench_" + re.sub(r"[^a-z0-9_]", "_", settings["NAME"].lower())[: 28 - len(suffix)] + suffix
    )
    return ["--databases", "postgresql", "--postgres", server, "--db-prefix", prefix]


def run_quick(output: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAIRIE_") and k != "DATABASE_URL"}
    proc = subprocess.run(
        [sys.executable, "-m", "mairie.bench", "--quick", "--output", str(output), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return output.read_text()


@pytest.mark.slow
def test_quick_benchmarks_run_and_record_their_sections(tmp_path: Path) -> None:
    vendor = connection.vendor
    args = ["B2", "B4", "B5", *(["B6"] if vendor == "postgresql" else []), "B7", *database_args()]
    written = run_quick(tmp_path / "benchmarks.md", *args)
    assert written.startswith("# Benchmarks")
    assert "(quick mode: tiny sizes, figures not meaningful)" in written
    assert "- CPU: " in written and "SQLite " in written
    for title in (
        "### B2 — text-layer fast path",
        "### B4 — organisation-scoped search",
        "### B5 — inbox page",
        "### B7 — routing suggestions",
    ):
        assert title in written
    label = "PostgreSQL" if vendor == "postgresql" else "SQLite"
    assert f"| {label} | 1 200 | 6 | very common |" in written
    assert f"| {label} | 20 | " in written  # queries of the 20-row inbox
    if vendor == "postgresql":
        assert "### B6 — register throughput (PostgreSQL)" in written
        assert "| yes | yes |" in written  # numbers gapless, audit chains intact
    assert "FAILED" not in written


@pytest.mark.slow
def test_quick_b9_reads_a_real_dovecot_mailbox_into_the_register(tmp_path: Path) -> None:
    """B9 starts its own Dovecot, fills a mailbox, fetches it raw and through `mail fetch`, profiles it."""
    label = "PostgreSQL" if connection.vendor == "postgresql" else "SQLite"
    # Its own databases: the other test may run at the same time under pytest-xdist.
    args = ["B9", "--b9-messages", "6", *database_args("_b9")]
    written = run_quick(tmp_path / "benchmarks.md", *args)
    assert "### B9 — e-mail intake" in written
    assert f"| {label} | 6 | " in written  # six messages went through the pass
    assert "registered" in written and "6 courriers and " in written
    assert "| body PDF: WeasyPrint layout and PDF | " in written
    assert "**Problems:**" not in written and "FAILED" not in written
