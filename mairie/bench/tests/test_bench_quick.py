"""The benchmarks' quick mode runs end to end, so that `make bench` does not rot between full runs.

The figures of a quick run mean nothing; what is checked is that every cheap benchmark completes and
writes its section. B1 (several seconds of OCR) is left to `make bench`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection


@pytest.mark.slow
def test_quick_benchmarks_run_and_record_their_sections(tmp_path: Path) -> None:
    vendor = connection.vendor
    args = ["B2", "B4", "B5"]
    if vendor == "postgresql":
        settings = connection.settings_dict
        auth = settings["USER"] + (f":{settings['PASSWORD']}" if settings["PASSWORD"] else "")
        server = f"postgres://{auth}@{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}"
        # Named after this run's own database, so that two suites running at once never share one.
        prefix = "mairie_bench_" + re.sub(r"[^a-z0-9_]", "_", settings["NAME"].lower())[:28]
        args += ["B6", "--databases", "postgresql", "--postgres", server, "--db-prefix", prefix]
    else:
        args += ["--databases", "sqlite"]
    output = tmp_path / "benchmarks.md"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAIRIE_") and k != "DATABASE_URL"}
    proc = subprocess.run(
        [sys.executable, "-m", "mairie.bench", "--quick", "--output", str(output), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    written = output.read_text()
    assert written.startswith("# Benchmarks")
    assert "(quick mode: tiny sizes, figures not meaningful)" in written
    assert "- CPU: " in written and "SQLite " in written
    for title in (
        "### B2 — text-layer fast path",
        "### B4 — organisation-scoped search",
        "### B5 — inbox page",
    ):
        assert title in written
    label = "PostgreSQL" if vendor == "postgresql" else "SQLite"
    assert f"| {label} | 1 200 | 6 | very common |" in written
    assert f"| {label} | 20 | " in written  # queries of the 20-row inbox
    if vendor == "postgresql":
        assert "### B6 — register throughput (PostgreSQL)" in written
        assert "| yes | yes |" in written  # numbers gapless, audit chains intact
    assert "FAILED" not in written
