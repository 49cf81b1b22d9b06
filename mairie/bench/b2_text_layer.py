"""B2 — text-layer fast path: a PDF that carries its text goes through without OCR.

A 20-page French PDF made by WeasyPrint goes through ``documents.pipeline.run`` (text extraction, the check
that every page has text, first-page thumbnail); the reference is ``pdftotext`` on the same file. Both run
in one child process pinned to one core; the figure is the median wall time of several rounds.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from mairie.bench.common import PINNED_CPU, Options, Section, fmt, log, median, run_child, table

PAGES = 20


def make_text_pdf(path: Path, pages: int) -> None:
    from weasyprint import HTML

    from mairie.demo.letters import TOPICS

    paragraphs = [p for _, _, texts in TOPICS for p in texts]
    body = []
    for number in range(pages):
        chosen = [paragraphs[(number * 3 + k) % len(paragraphs)] for k in range(6)]
        body.append(
            f"<section style='page-break-after: always'><h2>Page {number + 1} — délibération n° {number + 1}"
            "</h2>" + "".join(f"<p>{p}</p>" for p in chosen) + "</section>"
        )
    HTML(string=f"<html lang='fr'><body>{''.join(body)}</body></html>").write_pdf(path)


def child_measure(params: dict[str, Any]) -> dict[str, Any]:
    import os

    from mairie.documents import pipeline
    from mairie.documents.checks import PDF

    pdf = Path(params["pdf"])
    pipeline_times: list[float] = []
    reference_times: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-b2-") as tmp:
        work = Path(tmp)
        for round_number in range(params["rounds"]):
            start = time.perf_counter()
            subprocess.run(
                ["pdftotext", "-enc", "UTF-8", str(pdf), str(work / "ref.txt")],
                check=True,
                capture_output=True,
            )
            reference_times.append(time.perf_counter() - start)
            workdir = work / f"run-{round_number}"
            workdir.mkdir()
            start = time.perf_counter()
            result = pipeline.run(pdf, PDF, workdir)
            pipeline_times.append(time.perf_counter() - start)
            assert result.text_source == "text-layer", result.text_source
            assert result.page_count == params["pages"] and result.thumbnail is not None
    return {
        "pipeline": pipeline_times,
        "pdftotext": reference_times,
        "affinity": sorted(os.sched_getaffinity(0)),
    }


def run(opts: Options) -> Section:
    rounds = opts.pick(15, 3)
    with tempfile.TemporaryDirectory(prefix="bench-b2-", dir=opts.workdir) as tmp:
        pdf = Path(tmp) / "texte.pdf"
        make_text_pdf(pdf, PAGES)
        log(f"B2: text-layer pipeline vs pdftotext on a {PAGES}-page PDF, {rounds} rounds…")
        out = run_child("b2", {"pdf": str(pdf), "pages": PAGES, "rounds": rounds}, None, cpu=PINNED_CPU)
    pipe_ms = median(out["pipeline"]) * 1000 / PAGES
    ref_ms = median(out["pdftotext"]) * 1000 / PAGES
    ratio = pipe_ms / ref_ms
    body = (
        f"A {PAGES}-page PDF with a text layer (WeasyPrint), median of {rounds} rounds, one child process "
        f"pinned to CPU {out['affinity']}; wall time.\n\n"
        + table(
            ["", "ms per page", "ms per document"],
            [
                ["pipeline (text layer, no OCR, thumbnail)", fmt(pipe_ms), fmt(pipe_ms * PAGES, 1)],
                ["`pdftotext` alone", fmt(ref_ms), fmt(ref_ms * PAGES, 1)],
                ["ratio", fmt(ratio), ""],
            ],
        )
    )
    return Section(
        "B2",
        "B2 — text-layer fast path",
        body,
        f"{pipe_ms:.1f} ms per page through the pipeline, {ratio:.1f}× pdftotext ({ref_ms:.1f} ms per page)",
    )
