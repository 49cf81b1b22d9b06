"""``python -m mairie.bench [--quick] [--only B1,B4] …``: run the benchmarks, print, record in docs/benchmarks.md."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from mairie.bench.common import BenchError, Databases, Options, Section, log, postgres_version

ALL = ("B1", "B2", "B4", "B5", "B6", "B7", "B8", "B9", "B10", "B11")
NEEDS_POSTGRES = {"B6", "B10"}
DEFAULT_OUTPUT = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"


def machine_lines(opts: Options) -> list[str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 2**20:.1f} GiB"
                break
    except OSError:
        pass
    try:
        tesseract = subprocess.run(["tesseract", "--version"], capture_output=True, text=True).stdout
        tesseract = tesseract.splitlines()[0] if tesseract else "unknown"
    except FileNotFoundError:
        tesseract = "not installed"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip()
    except FileNotFoundError:
        commit = ""
    load = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    return [
        f"- CPU: {cpu}, {os.cpu_count()} cores; RAM: {ram}; load average at start: {load}",
        f"- Python {platform.python_version()}, PostgreSQL {postgres_version(opts) or 'unreachable'}, "
        f"SQLite {sqlite3.sqlite_version}, {tesseract}",
        f"- {platform.platform()}" + (f", commit {commit}" if commit else ""),
    ]


def parse(argv: list[str]) -> tuple[Options, list[str], Path | None]:
    parser = argparse.ArgumentParser(
        prog="python -m mairie.bench",
        description=f"Benchmarks {' '.join(ALL)} of the platform (see docs/benchmarks.md).",
    )
    parser.add_argument(
        "benchmarks", nargs="*", metavar="BENCH", help=f"which to run among {', '.join(ALL)} (default: all)"
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that the code runs")
    parser.add_argument(
        "--postgres",
        default="postgres://postgres@127.0.0.1:5432",
        help="PostgreSQL server (databases named after --db-prefix are created and dropped there)",
    )
    parser.add_argument(
        "--databases",
        default="postgresql,sqlite",
        help="for B4, B5, B8 and B9: postgresql, sqlite or both (default: both)",
    )
    parser.add_argument(
        "--b4-sizes",
        default="",
        help="B4: documents at each measuring point, e.g. 10000,100000 (multiples of 200, increasing)",
    )
    parser.add_argument(
        "--b9-messages", type=int, default=None, help="B9: messages in the mailbox (default 200; --quick: 40)"
    )
    parser.add_argument("--db-prefix", default="mairie_bench", help="prefix of the throw-away databases")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark databases afterwards")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help=f"Markdown file the results are appended to (default: {DEFAULT_OUTPUT.name}, not in --quick)",
    )
    parser.add_argument("--no-record", action="store_true", help="print only, append nothing")
    args = parser.parse_args(argv)
    chosen = [b.upper() for b in args.benchmarks] or list(ALL)
    unknown = sorted(set(chosen) - set(ALL))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    if args.b9_messages is not None and args.b9_messages < 1:
        parser.error("--b9-messages takes a whole number of at least 1")
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,40}", args.db_prefix):
        parser.error("--db-prefix takes lower-case letters, digits and underscores (at most 41)")
    databases = tuple(d.strip() for d in args.databases.split(",") if d.strip())
    if not set(databases) <= {"postgresql", "sqlite"} or not databases:
        parser.error("--databases takes postgresql, sqlite or both")
    try:
        b4_sizes = [int(n) for n in args.b4_sizes.split(",") if n.strip()] or None
    except ValueError:
        parser.error("--b4-sizes takes whole numbers separated by commas")
    if b4_sizes and (len(b4_sizes) < 2 or b4_sizes != sorted(set(b4_sizes)) or b4_sizes[0] < 200):
        parser.error("--b4-sizes takes at least two increasing sizes of 200 documents or more")
    opts = Options(
        b4_sizes=b4_sizes,
        b9_messages=args.b9_messages,
        quick=args.quick,
        postgres=args.postgres,
        databases=databases,
        db_prefix=args.db_prefix,
        keep=args.keep,
    )
    output = None if args.no_record else (args.output or (None if args.quick else DEFAULT_OUTPUT))
    return opts, chosen, output


def runners(dbs: Databases) -> dict[str, Callable[[Options], Section]]:
    from mairie.bench import (
        b1_ocr,
        b2_text_layer,
        b4_search,
        b5_inbox,
        b6_register,
        b7_routing,
        b8_batch,
        b9_mail,
        b10_transitions,
        b11_signature,
    )

    return {
        "B1": b1_ocr.run,
        "B2": b2_text_layer.run,
        "B4": lambda opts: b4_search.run(opts, dbs),
        "B5": lambda opts: b5_inbox.run(opts, dbs),
        "B6": lambda opts: b6_register.run(opts, dbs),
        "B7": b7_routing.run,
        "B8": lambda opts: b8_batch.run(opts, dbs),
        "B9": lambda opts: b9_mail.run(opts, dbs),
        "B10": lambda opts: b10_transitions.run(opts, dbs),
        "B11": lambda opts: b11_signature.run(opts, dbs),
    }


def main(argv: list[str] | None = None) -> int:
    opts, chosen, output = parse(sys.argv[1:] if argv is None else argv)
    if postgres_version(opts) is None:
        if "postgresql" in opts.databases:
            log(f"PostgreSQL unreachable at {opts.postgres}: B4/B5/B8/B9 run on SQLite only, B6 is skipped.")
            opts.databases = tuple(d for d in opts.databases if d != "postgresql") or ("sqlite",)
        chosen = [b for b in chosen if b not in NEEDS_POSTGRES] or []
    started = dt.datetime.now().astimezone()
    header = machine_lines(opts)
    sections: list[Section] = []
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mairie-bench-") as tmp:
        opts.workdir = Path(tmp)
        dbs = Databases(opts, Path(tmp) / "data")
        table = runners(dbs)
        try:
            for key in chosen:
                begin = time.perf_counter()
                try:
                    section = table[key](opts)
                except (BenchError, AssertionError, OSError, subprocess.SubprocessError) as exc:
                    log(traceback.format_exc())
                    failures.append(f"{key}: {exc}")
                    continue
                section.body += f"\n\n*{key} took {time.perf_counter() - begin:.0f} s.*"
                sections.append(section)
                print(f"\n## {section.title}\n\n{section.body}\n\n**{section.verdict}**\n", flush=True)
        finally:
            dbs.drop_all()
    mode = " (quick mode: tiny sizes, figures not meaningful)" if opts.quick else ""
    document = [f"\n## Run of {started:%Y-%m-%d %H:%M %Z}{mode}\n", *header, ""]
    document += ["**Summary** — " + " · ".join(f"{s.key}: {s.verdict}" for s in sections), ""]
    for section in sections:
        document += [f"### {section.title}\n", section.body, "", f"**{section.verdict}**", ""]
    for failure in failures:
        document += [f"**FAILED** {failure}", ""]
    if output is not None:
        if not output.exists():
            output.write_text(INTRO)
        with output.open("a", encoding="utf-8") as handle:
            handle.write("\n".join(document))
        log(f"Results appended to {output}")
    print("\n".join(["", "Summary:", *header, *(f"  {s.key}: {s.verdict}" for s in sections)]))
    for failure in failures:
        print(f"  FAILED {failure}")
    return 1 if failures else 0


INTRO = """# Benchmarks

`make bench` (= `.venv/bin/python -m mairie.bench`) runs the benchmarks of issues 2 and 3 and appends a dated
section to this file. Each figure is compared with a reference measured **in the same run on the same
machine**: on a shared machine absolute times move by ±40 % from one run to the next, ratios hardly.

| | what | reference | target |
|---|---|---|---|
| B1 | CPU-seconds per scanned page through the whole intake pipeline, pinned to one core | raw `tesseract page.jpg out -l fra` on the same page images | ≤ 1.15× |
| B2 | ms per page of a PDF that has a text layer (no OCR) | `pdftotext` on the same PDF | — |
| B4 | p50/p95 of organisation-scoped searches (rare, medium, very common terms) at the SQL level, 10,000 then 100,000 documents over 50 then 500 organisations, PostgreSQL and SQLite; then, for information, one organisation of 20,000 documents | — | p95 ≤ 25 ms, nearly flat |
| B5 | requests per second of the inbox page (20 rows) on a real gunicorn; SQL queries per page at 5 and 20 rows | a minimal Django view on the same server | ≤ 8 queries, constant |
| B6 | courriers registered per second on PostgreSQL, 8 concurrent clients on 8 organisations, numbering included (and, as the worst case, all 8 on one organisation) | a raw single-row INSERT + COMMIT loop (psycopg, one client) | ≥ 25 % |
| B7 | accuracy of the service suggestion: the organisation's classifier (TF-IDF + logistic regression) trained on 2/3 of 360 generated French courriers to the 9 services of a small commune, tested on the last 1/3; 5 corpus seeds (1 in `--quick`); also the type, the same letters with OCR noise, training and prediction times; no database | the keyword rules a new organisation starts with, on the same letters | top-1 ≥ 85 %, top-3 ≥ 95 % (every seed) |
| B8 | CPU-seconds per page to split a 50-page batch scan (10 printed-and-scanned separator sheets, 40 letter pages) into 10 courriers with `register_batch` — page analysis, QR codes, split, checks, registration; no OCR — pinned to one core, SQLite and PostgreSQL | B1's OCR floor: raw `tesseract -l fra` CPU-seconds on one content page of the same batch | ≤ 0.10× (the issue sets none: splitting must stay small beside the OCR that follows) |
| B9 | e-mail intake: messages per second from a real Dovecot mailbox (loopback) into the register — one `mairie mail fetch` pass over 200 messages of the e-mail test corpus: download, parsing, body rendered as PDF, checks (clamd off), storage, numbering, move to the done folder; the attachments' OCR is excluded (queued, not run) — SQLite and PostgreSQL, pinned to one core; then the same pass timed stage by stage | a raw `imapclient` fetch (`FETCH uid BODY.PEEK[]` of every UID) of the same messages, same Dovecot, same process | — (the issue sets none: the ratio and where the time goes are reported) |
| B11 | electronic signatures: PDFs signed per second (PAdES B-B with the organisation's server seal: `load_signer` + `sign_pdf`, visible block placed and drawn) and validated per second (`verify_pdf`, French report), a 2-page WeasyPrint letter, SQLite, pinned to one core | raw pyHanko: `signers.sign_pdf` of the same bytes with the same key already loaded (invisible signature) / `validate_pdf_signature` alone | — |

Options: `python -m mairie.bench B4 B6` runs some only (`make bench BENCH_ARGS="B4 B6"`); `--quick` uses tiny
sizes (a smoke test, also run by the test suite, recorded nowhere unless `--output` is given);
`--databases sqlite` or `postgresql`; `--postgres URL` names the server, where databases `mairie_bench_*`
are created and dropped (`--db-prefix` changes that prefix); `--b4-sizes 10000,30000` changes B4's measuring
points; `--b9-messages 500` B9's mailbox; `--no-record` prints without writing here. B9 starts its own
Dovecot (package `dovecot-imapd`, installed by `scripts/system-deps.sh bench`). A full run takes about twenty
minutes; run it on an idle machine.
"""
