"""B9 — e-mail intake: messages per second from a real Dovecot mailbox into the register, vs a raw fetch.

A throw-away Dovecot (``mairie.testing.dovecot``) runs on loopback for the benchmark. For each database, a
fresh mailbox user gets the same messages by IMAP APPEND: ``bulk(n)`` of the test corpus
(``mairie/mail/tests/corpus.py``), which cycles through its real-world shapes — plain text in UTF-8,
ISO-8859-1 and Windows-1252, quoted-printable, HTML with inline images, alternatives, forwarded messages,
``winmail.dat``, PDF and other attachments, broken headers, a truncated message… (not the 15 MB one).

Measured, in one child process pinned to one core:

- the product: one pass of ``mail.fetch.fetch_all(organisation)`` — what ``mairie mail fetch --org S`` runs —
  on a fresh organisation whose mailbox (created by ``mail.services.create_mailbox``, login checked) points
  at that INBOX: per message, download, parsing, body rendered as a PDF by WeasyPrint, intake checks of the
  original, the rendition and each attachment (clamd off), storage, contact, numbering, search index,
  journal, the idempotency keys, then the MOVE to the done folder. The documents' jobs (text layer, OCR,
  thumbnails) are queued in the registering transaction as always, but no worker runs them: OCR is B1's;
- the reference: a bare ``imapclient`` session on the same messages, same Dovecot, same process: log in,
  select, search, then ``FETCH uid BODY.PEEK[]`` of every UID one by one (as the product downloads them).
  Three rounds on the INBOX before the pass and three on the done folder after it; the median is kept.

Before measuring, a small unmeasured pass on another organisation warms the process (WeasyPrint's fonts,
templates, imports, database connection), as B6's clients warm up. After the measured pass, a second pass
of the same messages into another fresh organisation is timed function by function (exclusive time of each
stage, so nothing is counted twice) to show where the time goes; its total shows the timers cost nothing.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mairie.bench.common import (
    PINNED_CPU,
    BenchError,
    Databases,
    Options,
    Section,
    cpu_seconds,
    fmt,
    log,
    median,
    run_child,
    table,
)

MESSAGES = 200
QUICK_MESSAGES = 40
WARMUP_MESSAGES = 5
RAW_ROUNDS = 3
DONE_FOLDER = "Traités"
OK_STATUSES = {"registered", "warning"}

# Stages of the profiled pass, in the order shown. "other" is the rest of the pass's wall time.
STAGES = {
    "imap_fetch": "IMAP download (FETCH, sizes and dates first)",
    "imap_move": "IMAP MOVE to the done folder",
    "parse": "parsing (MIME, charsets, HTML sanitising, winmail.dat)",
    "template": "body PDF: Django template",
    "weasyprint": "body PDF: WeasyPrint layout and PDF",
    "checks": "intake checks (type, pages, SHA-256; clamd off)",
    "storage": "storage (originals written to the data directory)",
    "database": "database (duplicate look-ups, contact, registering transaction, lease)",
}
OTHER = "other (temporary files, journal of warnings, Python in between)"


# --- Child side --------------------------------------------------------------------------------------


def _organisation_with_mailbox(slug: str, params: dict[str, Any], user: str) -> Any:
    from mairie.mail.models import Mailbox
    from mairie.mail.services import create_mailbox
    from mairie.organisations.services import create_organisation

    organisation = create_organisation(actor=None, slug=slug, name=f"Commune {slug}", kind="commune")
    create_mailbox(
        organisation=organisation,
        actor=None,
        host=params["host"],
        port=params["port"],
        security=Mailbox.Security.PLAIN,
        username=user,
        password=params["password"],
        label=f"Boîte de {slug}",
        done_folder=DONE_FOLDER,
    )
    return organisation


def _raw_fetch(params: dict[str, Any], user: str, folder: str) -> dict[str, Any]:
    """The reference: download every message of a folder with a bare imapclient session."""
    from imapclient import IMAPClient

    began = time.perf_counter()
    client = IMAPClient(params["host"], port=params["port"], ssl=False, timeout=60)
    client.login(user, params["password"])
    client.select_folder(folder, readonly=True)
    uids = sorted(client.search(["NOT", "DELETED"]))
    size = 0
    for uid in uids:
        size += len(client.fetch([uid], ["BODY.PEEK[]"])[uid][b"BODY[]"])
    client.logout()
    seconds = time.perf_counter() - began
    return {"messages": len(uids), "bytes": size, "seconds": seconds}


def _fetch_pass(organisation: Any) -> dict[str, Any]:
    from mairie.mail.fetch import fetch_all

    cpu = cpu_seconds()
    began = time.perf_counter()
    reports = fetch_all(organisation)
    seconds = time.perf_counter() - began
    cpu = cpu_seconds() - cpu
    lines = [line for report in reports for line in report.lines]
    errors = [report.error for report in reports if report.error] + [
        line.error for line in lines if line.error
    ]
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "messages": len(lines),
        "statuses": dict(Counter(line.status for line in lines)),
        "attachments": sum(line.attachments for line in lines),
        "errors": errors[:5],
    }


class StageTimer:
    """Exclusive wall and CPU time per stage: a stage called inside another is taken out of the outer one."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self._stack: list[list[float]] = []  # per running stage: wall and CPU time spent in nested stages

    def wrap(self, stage: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            nested = [0.0, 0.0]
            self._stack.append(nested)
            began, began_cpu = time.perf_counter(), time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                elapsed, elapsed_cpu = time.perf_counter() - began, time.process_time() - began_cpu
                self._stack.pop()
                self.seconds[stage] += elapsed - nested[0]
                self.cpu[stage] += elapsed_cpu - nested[1]
                if self._stack:
                    self._stack[-1][0] += elapsed
                    self._stack[-1][1] += elapsed_cpu

        return timed


def _profiled_pass(organisation: Any) -> dict[str, Any]:
    """The same pass, each stage's function wrapped by a timer (restored afterwards)."""
    from django.db import connection
    from imapclient import IMAPClient

    from mairie.documents import store
    from mairie.mail import fetch, intake, rendering

    timer = StageTimer()
    patches: list[tuple[Any, str, str]] = [
        (IMAPClient, "fetch", "imap_fetch"),
        (fetch, "move_messages", "imap_move"),
        (fetch, "ensure_folder", "imap_move"),
        (intake, "parse_message", "parse"),
        (rendering, "render_html", "template"),
        (intake, "render_pdf", "weasyprint"),  # its template part is taken out by the nested timer
        (intake, "check_file", "checks"),
        (intake, "check_message_file", "checks"),
        (store, "write_original", "storage"),
        (intake, "_known", "database"),
        (intake, "_register", "database"),
        (fetch, "take_lease", "database"),
        (fetch, "_renew_lease", "database"),
        (fetch, "release_lease", "database"),
        (fetch, "_save_outcome", "database"),
    ]
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    statements = [0]

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        statements[0] += 1
        return execute(sql, params, many, context)

    try:
        for owner, name, stage in patches:
            setattr(owner, name, timer.wrap(stage, getattr(owner, name)))
        with connection.execute_wrapper(count):
            outcome = _fetch_pass(organisation)
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)
    stages = dict(timer.seconds)
    stages["other"] = max(0.0, outcome["seconds"] - sum(stages.values()))
    stages_cpu = dict(timer.cpu)
    stages_cpu["other"] = max(0.0, outcome["cpu_seconds"] - sum(stages_cpu.values()))
    return {**outcome, "stages": stages, "stages_cpu": stages_cpu, "statements": statements[0]}


def child_measure(params: dict[str, Any]) -> dict[str, Any]:
    from mairie.courrier.models import Courrier
    from mairie.documents.models import Document

    users = params["users"]
    # Unmeasured: imports, templates, WeasyPrint's fonts, the database connection, Dovecot's first login.
    warm = _organisation_with_mailbox("b9-echauffement", params, users["warmup"])
    warmed = _fetch_pass(warm)
    measured_org = _organisation_with_mailbox("b9-mesure", params, users["measured"])
    profiled_org = _organisation_with_mailbox("b9-profil", params, users["profiled"])
    _raw_fetch(params, users["measured"], "INBOX")  # Dovecot's index and the page cache, for both sides

    raws = [_raw_fetch(params, users["measured"], "INBOX") for _ in range(RAW_ROUNDS)]
    measured = _fetch_pass(measured_org)
    raws += [_raw_fetch(params, users["measured"], DONE_FOLDER) for _ in range(RAW_ROUNDS)]
    profiled = _profiled_pass(profiled_org)

    left_in_inbox = _raw_fetch(params, users["measured"], "INBOX")["messages"]
    courriers = Courrier.objects.filter(organisation=measured_org)
    return {
        "warmup": warmed,
        "raw": raws,
        "measured": measured,
        "profiled": profiled,
        "left_in_inbox": left_in_inbox,
        "courriers": courriers.count(),
        "documents": Document.objects.filter(courrier__in=courriers).count(),
    }


# --- Orchestrator side -------------------------------------------------------------------------------


def _pct(value: float) -> str:
    return f"{value * 100:.1f} %" if value < 0.1 else f"{value * 100:.0f} %"


def run(opts: Options, dbs: Databases) -> Section:
    from mairie.mail.tests.corpus import bulk
    from mairie.testing.dovecot import start_dovecot, stop_dovecot

    count = opts.b9_messages or opts.pick(MESSAGES, QUICK_MESSAGES)
    corpus = list(bulk(count))
    warmup = list(bulk(WARMUP_MESSAGES, seed=99))
    megabytes = sum(len(m) for m in corpus) / 1e6
    # Not under the run's temporary directory: that one is private and Dovecot's mail processes run as
    # another user, who must reach the maildirs (as in mairie/mail/tests/conftest.py).
    root = Path(tempfile.mkdtemp(prefix="mairie-bench-dovecot-"))
    root.chmod(0o755)
    try:
        try:
            server = start_dovecot(root)
        except RuntimeError as exc:
            raise BenchError(f"B9 needs Dovecot: {exc}") from exc
        try:
            results = []
            for vendor in opts.databases:
                target = dbs.fresh(vendor, "b9")
                users = {
                    "warmup": f"b9warm{vendor}",
                    "measured": f"b9mesure{vendor}",
                    "profiled": f"b9profil{vendor}",
                }
                log(f"B9 {target.label}: delivering {count} messages ({megabytes:.1f} MB) twice to Dovecot…")
                server.deliver(users["warmup"], *warmup)
                server.deliver(users["measured"], *corpus)
                server.deliver(users["profiled"], *corpus)
                log(f"B9 {target.label}: warm-up, raw fetch, one `mail fetch` pass, a profiled pass…")
                params = {
                    "host": server.host,
                    "port": server.port,
                    "password": server.password,
                    "users": users,
                }
                result = run_child("b9", params, target, cpu=PINNED_CPU)
                result["label"] = target.label
                results.append(result)
        finally:
            stop_dovecot(server)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return _section(count, megabytes, results)


def _notes(count: int, results: list[dict[str, Any]]) -> str:
    """What the profile says, in words (computed: it follows the figures of the run)."""
    on_cpu = [r["measured"]["cpu_seconds"] / r["measured"]["seconds"] for r in results]
    cpu = sum(r["profiled"]["cpu_seconds"] for r in results)
    pdf_cpu = sum(
        r["profiled"]["stages_cpu"].get(k, 0.0) for r in results for k in ("weasyprint", "template")
    )
    wall = sum(r["profiled"]["seconds"] for r in results)
    pdf_wall = sum(r["profiled"]["stages"].get(k, 0.0) for r in results for k in ("weasyprint", "template"))
    rest_ms = (wall - pdf_wall) / len(results) / count * 1000
    move_ms = (
        sum(r["profiled"]["stages"].get("imap_move", 0.0) for r in results) / len(results) / count * 1000
    )
    db = {r["label"]: r["profiled"]["stages"].get("database", 0.0) / count * 1000 for r in results}
    statements = sum(r["profiled"]["statements"] for r in results) / len(results) / count
    return (
        f"Notes: the pass's process was on the CPU for {min(on_cpu) * 100:.0f}–{max(on_cpu) * 100:.0f} % of its "
        "wall time (the rest: waiting for Dovecot, the database server and their disk flushes — or, on a busy "
        f"machine, for the core). Laying out the body as a PDF takes {pdf_cpu / cpu * 100:.0f} % of that CPU "
        f"({pdf_cpu / len(results) / count * 1000:.0f} ms per message); everything else together — download, "
        f"parsing, checks, storage, the registering transaction, the move — takes {rest_ms:.0f} ms per message "
        f"of wall time, so without the rendition a pass would approach {1000 / rest_ms:.0f} messages/s. The "
        f"database's part ("
        + ", ".join(f"{label} {ms:.0f} ms" for label, ms in db.items())
        + f" per message) is {statements:.0f} SQL statements per message (duplicate look-ups, contact, "
        "courrier, stored files, documents, jobs queued, search index, numbering, journal, intake keys, the "
        "lease). The raw fetch only downloads: it neither moves the message (a copy and an "
        f"expunge in Dovecot's maildirs, {move_ms:.0f} ms per message here) nor touches a database."
    )


def _section(count: int, megabytes: float, results: list[dict[str, Any]]) -> Section:
    rows = []
    stage_rows: dict[str, list[str]] = {key: [label] for key, label in {**STAGES, "other": OTHER}.items()}
    total_row = ["**whole pass (profiled)**"]
    summary = []
    problems = []
    for result in results:
        label = result["label"]
        raw_seconds = median([r["seconds"] for r in result["raw"]])
        raw_rate = count / raw_seconds
        measured = result["measured"]
        rate = measured["messages"] / measured["seconds"]
        ratio = rate / raw_rate
        statuses = measured["statuses"]
        shown = ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
        rows.append(
            [
                label,
                str(measured["messages"]),
                fmt(raw_rate, 0),
                fmt(rate, 1),
                fmt(1000 / rate, 0),
                fmt(measured["cpu_seconds"] / max(1, measured["messages"]) * 1000, 0),
                _pct(ratio),
                f"{raw_rate / rate:,.0f}×".replace(",", " "),
                shown,
            ]
        )
        summary.append(f"{label}: {rate:.1f} messages/s, {_pct(ratio)} of the raw fetch ({raw_rate:.0f}/s)")
        bad = sum(n for s, n in statuses.items() if s not in OK_STATUSES)
        if bad or measured["messages"] != count:
            problems.append(f"{label}: {bad or count - measured['messages']} message(s) not registered")
        if result["left_in_inbox"]:
            problems.append(f"{label}: {result['left_in_inbox']} message(s) left in the INBOX")
        for raw in result["raw"]:
            if raw["messages"] != count:
                problems.append(f"{label}: the raw fetch saw {raw['messages']} messages, not {count}")
                break
        if measured["errors"]:
            problems.append(f"{label}: " + "; ".join(measured["errors"])[:300])
        profiled = result["profiled"]
        total = profiled["seconds"]
        for key in stage_rows:
            seconds = profiled["stages"].get(key, 0.0)
            cpu = profiled["stages_cpu"].get(key, 0.0)
            stage_rows[key] += [
                fmt(seconds / count * 1000, 1),
                fmt(cpu / count * 1000, 1),
                _pct(seconds / total),
            ]
        total_row += [
            f"**{fmt(total / count * 1000, 1)}**",
            f"**{fmt(profiled['cpu_seconds'] / count * 1000, 1)}**",
            "100 %",
        ]
        result["documents_per_message"] = result["documents"] / max(1, result["courriers"])
        result["profiled_vs_measured"] = total / measured["seconds"]
    first = results[0]
    profiled_share = {
        key: sum(r["profiled"]["stages"].get(key, 0.0) for r in results)
        / sum(r["profiled"]["seconds"] for r in results)
        for key in [*STAGES, "other"]
    }
    top = sorted(profiled_share.items(), key=lambda item: -item[1])[:3]
    where = ", ".join(f"{STAGES.get(k, OTHER).split(' (')[0]} {_pct(v)}" for k, v in top)
    header = [
        "stage",
        *[h for r in results for h in (f"{r['label']} ms/message", "of which CPU", "share of wall time")],
    ]
    body = (
        f"{count} messages ({megabytes:.1f} MB) from `bulk({count})` of the e-mail test corpus (plain, HTML with "
        "inline images, attachments — PDF, images, office files, archives refused —, forwarded, winmail.dat, "
        "broken and truncated ones), APPENDed to a fresh Dovecot user's INBOX on loopback; one child process "
        "pinned to one core. *Pass*: `fetch_all(organisation)` (= `mairie mail fetch --org S`) into a fresh "
        "organisation — download, parsing, body PDF (WeasyPrint), checks (clamd off), storage, numbering, "
        "index, journal, MOVE to the done folder; the documents' jobs (text layer, OCR) are queued, not run. "
        f"*Raw fetch*: bare `imapclient`, `FETCH uid BODY.PEEK[]` of every UID, median of {2 * RAW_ROUNDS} "
        f"rounds ({RAW_ROUNDS} before the pass on the INBOX, {RAW_ROUNDS} after it on the done folder). "
        "Both after an unmeasured warm-up.\n\n"
        + table(
            [
                "database",
                "messages",
                "raw fetch msg/s",
                "pass msg/s",
                "ms per message",
                "of which CPU ms in the pass's process",
                "of raw fetch",
                "raw fetch is",
                "statuses",
            ],
            rows,
        )
        + f"\n\n{first['courriers']} courriers and {first['documents']} documents registered on "
        f"{first['label']} ({first['documents_per_message']:.1f} documents per message: the `.eml`, the body "
        "PDF and the attachments kept).\n\n"
        "Where the time goes — the same messages again, into another fresh organisation, with a timer "
        "around each stage (exclusive time; the profiled pass took "
        + ", ".join(f"{r['profiled_vs_measured']:.2f}× the measured one on {r['label']}" for r in results)
        + "):\n\n"
        + table(header, [*stage_rows.values(), total_row])
    )
    body += "\n\n" + _notes(count, results)
    if problems:
        body += "\n\n**Problems:** " + " · ".join(problems)
    text = "; ".join(summary) + f"; time mostly in {where}"
    return Section(
        "B9",
        "B9 — e-mail intake",
        body,
        text + ("" if not problems else " — **" + " · ".join(problems)[:300] + "**"),
    )
