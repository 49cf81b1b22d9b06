"""What every benchmark shares: options, throw-away databases, child processes, figures and tables."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

RESULT_MARK = "BENCH-RESULT "
# Pinned measurements run on this core (the machine has at least two; the other one keeps the rest).
PINNED_CPU = 1


class BenchError(Exception):
    pass


@dataclass
class Options:
    quick: bool = False
    postgres: str = "postgres://postgres@127.0.0.1:5432"
    databases: tuple[str, ...] = ("postgresql", "sqlite")
    db_prefix: str = "mairie_bench"
    keep: bool = False
    b4_sizes: list[int] | None = None  # documents at each measuring point of B4 (default 10,000 then 100,000)
    b9_messages: int | None = None  # messages of B9 (default 200, quick 40)
    workdir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()))

    def pick(self, full: Any, quick: Any) -> Any:
        return quick if self.quick else full


@dataclass
class Section:
    """One benchmark's outcome: a Markdown body for docs/benchmarks.md and a one-line verdict."""

    key: str
    title: str
    body: str
    verdict: str


# --- Databases ---------------------------------------------------------------------------------------


def server_url(url: str) -> str:
    """``postgres://user@host:port`` without a database name."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


def pg_connect(opts: Options, dbname: str = "postgres", **kwargs: Any) -> Any:
    import psycopg

    return psycopg.connect(f"{server_url(opts.postgres)}/{dbname}", **kwargs)


def postgres_version(opts: Options) -> str | None:
    try:
        with pg_connect(opts, connect_timeout=3) as conn:
            return str(conn.execute("SHOW server_version").fetchone()[0])
    except Exception:
        return None


@dataclass
class Target:
    """A fresh, migrated database and data directory for one benchmark."""

    vendor: str  # "postgresql" or "sqlite"
    data_dir: Path
    dbname: str | None = None
    opts: Options | None = None

    @property
    def database_url(self) -> str | None:
        if self.vendor == "postgresql":
            assert self.opts is not None
            return f"{server_url(self.opts.postgres)}/{self.dbname}"
        return None

    @property
    def label(self) -> str:
        return "PostgreSQL" if self.vendor == "postgresql" else "SQLite"


class Databases:
    """Migrates one template per vendor once per run, then hands out copies of it (fast)."""

    def __init__(self, opts: Options, root: Path) -> None:
        self.opts = opts
        self.root = root
        self._templates: dict[str, Target] = {}
        self._made: list[Target] = []

    def _template(self, vendor: str) -> Target:
        if vendor not in self._templates:
            target = Target(vendor, self.root / f"template-{vendor}", opts=self.opts)
            target.data_dir.mkdir(parents=True)
            if vendor == "postgresql":
                target.dbname = f"{self.opts.db_prefix}_template"
                _recreate_pg(self.opts, target.dbname)
            log(f"  migrating the {target.label} template database…")
            run_child("migrate", {}, target)
            if vendor == "postgresql":
                # A database used as a template must have no open connection left.
                with pg_connect(self.opts, autocommit=True) as conn:
                    conn.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                        (target.dbname,),
                    )
            self._templates[vendor] = target
        return self._templates[vendor]

    def fresh(self, vendor: str, name: str) -> Target:
        template = self._template(vendor)
        target = Target(vendor, self.root / f"{name}-{vendor}", opts=self.opts)
        shutil.copytree(template.data_dir, target.data_dir)
        if vendor == "postgresql":
            target.dbname = f"{self.opts.db_prefix}_{name}"
            _recreate_pg(self.opts, target.dbname, template=template.dbname)
        self._made.append(target)
        return target

    def drop_all(self) -> None:
        if self.opts.keep:
            return
        for target in [*self._made, *self._templates.values()]:
            if target.vendor == "postgresql" and target.dbname:
                _drop_pg(self.opts, target.dbname)


def _drop_pg(opts: Options, dbname: str) -> None:
    with pg_connect(opts, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def _recreate_pg(opts: Options, dbname: str, template: str | None = None) -> None:
    if not dbname.startswith(opts.db_prefix):
        raise BenchError(f"refusing to touch database {dbname!r} (expected prefix: {opts.db_prefix})")
    _drop_pg(opts, dbname)
    with pg_connect(opts, autocommit=True) as conn:
        suffix = f' TEMPLATE "{template}"' if template else ""
        conn.execute(f'CREATE DATABASE "{dbname}"{suffix}')


# --- Child processes ---------------------------------------------------------------------------------


def child_env(target: Target | None, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a child: the product's variables only, pointing at the throw-away target."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAIRIE_") and k != "DATABASE_URL"}
    env["DJANGO_SETTINGS_MODULE"] = "mairie.bench.settings"
    env["MAIRIE_LOG_LEVEL"] = "WARNING"
    env["OMP_THREAD_LIMIT"] = "1"
    if target is not None:
        env["MAIRIE_DATA_DIR"] = str(target.data_dir)
        if target.database_url:
            env["DATABASE_URL"] = target.database_url
    env.update(extra or {})
    return env


def child_command(task: str, params: dict[str, Any]) -> list[str]:
    return [sys.executable, "-m", "mairie.bench.child", task, json.dumps(params)]


def run_child(
    task: str,
    params: dict[str, Any],
    target: Target | None,
    *,
    cpu: int | None = None,
    timeout: float = 3600,
) -> dict[str, Any]:
    """Run one task of :mod:`mairie.bench.child` and return the JSON it reports."""
    cmd = child_command(task, params)
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu), *cmd]
    # The child's progress and errors go straight to our stderr; its stdout carries the result.
    proc = subprocess.run(cmd, env=child_env(target), stdout=subprocess.PIPE, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise BenchError(f"task {task} failed with exit code {proc.returncode} (its error is above)")
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            return dict(json.loads(line[len(RESULT_MARK) :]))
    raise BenchError(f"task {task} reported nothing:\n{proc.stdout[-2000:]}")


def report(result: dict[str, Any]) -> None:
    """Called in a child: hand the result to the orchestrator."""
    sys.stdout.write(RESULT_MARK + json.dumps(result) + "\n")
    sys.stdout.flush()


# --- Figures -----------------------------------------------------------------------------------------


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (no interpolation: p95 of 20 values is the 19th)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def cpu_seconds() -> float:
    """CPU time of this process and of its waited-for children, user + system."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@contextmanager
def stopwatch() -> Iterator[dict[str, float]]:
    out: dict[str, float] = {}
    start = time.perf_counter()
    try:
        yield out
    finally:
        out["seconds"] = time.perf_counter() - start


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt(value: float, digits: int = 2) -> str:
    return f"{value:,.{digits}f}".replace(",", " ")


def num(value: float) -> str:
    """A whole number with spaces between thousands, as written in French: 100 000."""
    return f"{value:,.0f}".replace(",", " ")


def verdict(ok: bool, text: str) -> str:
    return f"{'met' if ok else 'NOT MET'} — {text}"


def race(target: Any, arguments: Sequence[tuple[Any, ...]]) -> tuple[list[tuple[int, float, float]], float]:
    """Start one forked process per ``arguments`` running ``target(*args, ready, start, results)``: each warms
    up, releases ``ready``, waits for ``start``, works, then puts ``(count, began, ended)`` on ``results``.
    Returns every client's outcome and the common start time (perf_counter, same clock: fork)."""
    import multiprocessing
    import queue

    context = multiprocessing.get_context("fork")
    start, ready, results = context.Event(), context.Semaphore(0), context.Queue()
    workers = [context.Process(target=target, args=(*args, ready, start, results)) for args in arguments]
    for worker in workers:
        worker.start()
    for _ in workers:  # every client warmed up and waiting for the start
        if not ready.acquire(timeout=300):
            raise RuntimeError("a client did not get ready")
    began = time.perf_counter()
    start.set()
    outcomes: list[tuple[int, float, float]] = []
    while len(outcomes) < len(workers):
        try:
            outcomes.append(results.get(timeout=5))
        except queue.Empty:
            failed = [w.exitcode for w in workers if w.exitcode not in (None, 0)]
            if failed:
                raise RuntimeError(f"a client failed (exit code {failed[0]})") from None
    for worker in workers:
        worker.join()
        if worker.exitcode != 0:
            raise RuntimeError(f"a client failed (exit code {worker.exitcode})")
    return outcomes, began
