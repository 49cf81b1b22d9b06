"""B5 — the inbox page: requests per second on a real server, and SQL queries per page.

A real gunicorn (the configuration of ``mairie serve``: 2 workers × 4 threads) serves the product with one
benchmark-only URL added (``mairie.bench.urls``: a minimal Django view, no query, no template). A load
generator (``wrk`` when installed, otherwise a pool of Python threads) requests the inbox page of a logged-in
secretary (20 rows) and the minimal view, in alternating rounds, with the same session cookie. Queries per
page are counted with Django's test client for an inbox of 5 rows and one of 20 rows.
"""

from __future__ import annotations

import http.client
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from typing import Any

from mairie.bench.common import Databases, Options, Section, child_env, fmt, log, run_child, table

TARGET_QUERIES = 8
CONNECTIONS = 8


def child_setup(params: dict[str, Any]) -> dict[str, Any]:
    import datetime as dt

    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from mairie.courrier.models import Kind
    from mairie.courrier.services import find_or_create_contact, register_courrier
    from mairie.testing.personas import build_world, login

    world = build_world()
    now = timezone.now()
    pages: dict[int, tuple[Any, Any, Any]] = {
        20: (world.commune, world.secretary, world.service("Accueil et secrétariat")),
        5: (world.other_commune, world.other_agent, None),
    }
    for rows, (org, user, service) in pages.items():
        # More courriers than the page shows: the page is full and the pager appears.
        for number in range(params["full_page"] if rows == 20 else rows):
            contact = find_or_create_contact(
                organisation=org, name=f"Habitant {number % 7}", email=f"habitant{number % 7}@example.org"
            )
            register_courrier(
                organisation=org,
                actor=user,
                subject=f"Demande n° {number} concernant la voirie communale",
                contact=contact,
                kind=Kind.REQUEST,
                service=service,
                assigned_to=user,
                due_date=(now + dt.timedelta(days=number - 10)).date(),
                received_at=now - dt.timedelta(hours=number),
            )
    counts: dict[str, Any] = {}
    for rows, (org, user, _) in pages.items():
        client = login(Client(), user)
        url = f"/o/{org.slug}/"
        first = client.get(url)  # the first request of a session stores the current organisation
        assert first.status_code == 200, first.status_code
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200
        shown = len(re.findall(rf'href="/o/{org.slug}/courriers/\d{{4}}-', response.content.decode()))
        assert shown == rows, (shown, rows)
        counts[str(rows)] = {"queries": len(queries), "sql": [q["sql"] for q in queries.captured_queries]}
    client = login(Client(), world.secretary)
    assert client.get(f"/o/{world.commune.slug}/").status_code == 200
    return {
        "counts": counts,
        "cookie": f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}",
        "inbox": f"/o/{world.commune.slug}/",
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(port: int, server: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn stopped with exit code {server.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/bench/minimal/", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer in time")


def _check_page(port: int, path: str, cookie: str, expect: str) -> None:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Cookie": cookie})
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read().decode()
        if response.status != 200 or response.url != f"http://127.0.0.1:{port}{path}" or expect not in body:
            raise RuntimeError(f"{path} did not give the expected page ({response.status} {response.url})")


def _wrk(url: str, cookie: str, seconds: float) -> tuple[float, int]:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds:.0f}s", "-H", f"Cookie: {cookie}", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    if errors:
        log(f"    wrk: {errors.group(0)}")
    return rate, int(bad.group(1)) if bad else 0


def _python_load(port: int, path: str, cookie: str, seconds: float) -> tuple[float, int]:
    """Fallback load generator: keep-alive connections from a pool of threads."""
    done = [0] * CONNECTIONS
    bad = [0] * CONNECTIONS
    stop = time.monotonic() + seconds

    def worker(slot: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.monotonic() < stop:
            try:
                conn.request("GET", path, headers={"Cookie": cookie})
                response = conn.getresponse()
                response.read()
                done[slot] += 1
                if response.status != 200:
                    bad[slot] += 1
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(CONNECTIONS)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / (time.monotonic() - began), sum(bad)


def run(opts: Options, dbs: Databases) -> Section:
    seconds = opts.pick(8, 1)
    rounds = opts.pick(3, 1)
    tool = "wrk" if shutil.which("wrk") else "python threads"
    rows: list[list[str]] = []
    query_rows: list[list[str]] = []
    ratios: list[float] = []
    worst_queries = 0
    constant = True
    for vendor in opts.databases:
        target = dbs.fresh(vendor, "b5")
        log(f"B5 {target.label}: setting up courriers and counting queries…")
        setup = run_child("b5-setup", {"full_page": opts.pick(60, 21)}, target)
        counts = setup["counts"]
        for rows_shown in ("5", "20"):
            worst_queries = max(worst_queries, counts[rows_shown]["queries"])
            query_rows.append([target.label, rows_shown, str(counts[rows_shown]["queries"])])
        constant = constant and counts["5"]["queries"] == counts["20"]["queries"]
        if counts["20"]["queries"] > TARGET_QUERIES:
            log("    queries of the 20-row inbox:\n      " + "\n      ".join(counts["20"]["sql"]))
        port = _free_port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "mairie.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--threads",
                "4",
                "--log-level",
                "warning",
            ],
            env=child_env(target),
        )
        try:
            _wait_until_up(port, server)
            _check_page(port, setup["inbox"], setup["cookie"], "Ma corbeille")
            best = {"minimal": 0.0, "inbox": 0.0}
            errors = 0
            for round_number in range(rounds):
                for name, path in (("minimal", "/bench/minimal/"), ("inbox", setup["inbox"])):
                    log(f"B5 {target.label}: {name}, round {round_number + 1}, {seconds} s with {tool}…")
                    if tool == "wrk":
                        rate, bad = _wrk(f"http://127.0.0.1:{port}{path}", setup["cookie"], seconds)
                    else:
                        rate, bad = _python_load(port, path, setup["cookie"], seconds)
                    errors += bad
                    best[name] = max(best[name], rate)
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
        if errors:
            raise RuntimeError(f"{errors} responses were not 200 during the load")
        ratio = best["inbox"] / best["minimal"]
        ratios.append(ratio)
        rows.append([target.label, fmt(best["minimal"], 0), fmt(best["inbox"], 0), f"{ratio * 100:.0f} %"])
    body = (
        f"gunicorn 2 workers × 4 threads on 127.0.0.1, load by {tool} with {CONNECTIONS} connections, "
        f"{rounds} alternating round(s) of {seconds} s per page, best round kept; both pages get the same "
        "session cookie (the minimal view thus pays the session and user look-ups of the middleware).\n\n"
        + table(["database", "minimal view req/s", "inbox (20 rows) req/s", "inbox ÷ minimal"], rows)
        + "\n\nSQL queries per inbox page (steady state, second request of a session):\n\n"
        + table(["database", "rows shown", "queries"], query_rows)
    )
    ok = worst_queries <= TARGET_QUERIES and constant
    return Section(
        "B5",
        "B5 — inbox page",
        body,
        f"{'met' if ok else 'NOT MET'} — at most {worst_queries} queries per page "
        f"({'the same' if constant else 'NOT the same'} for 5 and 20 rows; target ≤ {TARGET_QUERIES}); "
        + ", ".join(f"inbox at {r * 100:.0f} % of the minimal view's rate" for r in ratios),
    )
