"""B8 — batch split: CPU-seconds per page to split a 50-page batch scan into courriers, ÷ raw Tesseract.

The batch is made like a real one (:mod:`mairie.courrier.tests.batch_scans`): ten courriers of four demo
letter pages (300 dpi JPEG, slight rotation, noise), each after one of the platform's separator sheets
printed and scanned at 200 dpi — 50 pages. Measured: ``courrier.batch.register_batch`` on it (page
analysis, QR decoding, pikepdf split, checks of each part, ten registrations in one transaction, journal),
excluding OCR, which runs later per document. The reference is the OCR floor of B1: ``tesseract page.jpg
out -l fra`` on one content page of the same batch (its very JPEG bytes). One child process pinned to one
core, OMP_THREAD_LIMIT=1, getrusage (self + children), alternating rounds after one unmeasured run of each.
Each round registers a freshly generated file (new bytes: the same file would be a duplicate).
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Any

from mairie.bench.common import (
    PINNED_CPU,
    Databases,
    Options,
    Section,
    cpu_seconds,
    fmt,
    log,
    run_child,
    table,
    verdict,
)

# Splitting must stay a small fraction of the OCR that follows it anyway.
TARGET = 0.10
COURRIERS = 10
PAGES_PER_COURRIER = 4


def child_measure(params: dict[str, Any]) -> dict[str, Any]:
    import os
    import time

    import pikepdf

    from mairie.courrier.batch import register_batch
    from mairie.courrier.models import Courrier
    from mairie.courrier.services import IncomingFile
    from mairie.courrier.tests import batch_scans as bs
    from mairie.organisations.models import Service
    from mairie.organisations.services import create_organisation

    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    org = create_organisation(actor=None, slug="lot-b8", name="Lot-les-Bains", kind="commune")
    services = list(Service.objects.for_org(org).order_by("pk"))
    scan = bs.Batch()
    for number in range(params["courriers"]):
        service = services[number % len(services)] if number % 2 == 0 else None
        scan.add(bs.separator(org, service, dpi=200, seed=number))
        for page in range(params["pages_per_courrier"]):
            scan.add(*bs.letter(1 + (number * params["pages_per_courrier"] + page) % 12))
    rounds: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-b8-") as tmp:
        work = Path(tmp)

        def batch_file(number: int) -> Path:
            path = work / f"lot-{number}.pdf"
            path.write_bytes(scan.pdf(quality=80 - number))  # other bytes: not a duplicate of the last one
            return path

        files = [batch_file(n) for n in range(params["rounds"] + 1)]
        with pikepdf.open(files[0]) as pdf:
            pages = len(pdf.pages)
            (image,) = pdf.pages[1].get_images().values()
            jpeg = work / "page.jpg"
            jpeg.write_bytes(bytes(image.read_raw_bytes()))

        def split(path: Path) -> int:
            result = register_batch(
                organisation=org, actor=None, incoming=IncomingFile(path, path.name), split="separators"
            )
            assert result.split and len(result.courriers) == params["courriers"], len(result.courriers)
            return len(result.courriers)

        def ocr_floor() -> None:
            subprocess.run(
                ["tesseract", str(jpeg), str(work / "ref"), "-l", "fra"],
                check=True,
                capture_output=True,
                env=env,
            )

        # Not measured: cold caches, the French model, the first queries.
        ocr_floor()
        split(files[0])
        for round_number in range(params["rounds"]):
            start, wall = cpu_seconds(), time.perf_counter()
            ocr_floor()
            reference, reference_wall = cpu_seconds() - start, time.perf_counter() - wall
            start, wall = cpu_seconds(), time.perf_counter()
            split(files[round_number + 1])
            measured, measured_wall = cpu_seconds() - start, time.perf_counter() - wall
            rounds.append(
                {
                    "split": measured,
                    "split_wall": measured_wall,
                    "tesseract": reference,
                    "tesseract_wall": reference_wall,
                }
            )
    registered = Courrier.objects.for_org(org).count()
    return {
        "rounds": rounds,
        "pages": pages,
        "registered": registered,
        "affinity": sorted(os.sched_getaffinity(0)),
    }


def run(opts: Options, dbs: Databases) -> Section:
    rounds = opts.pick(3, 1)
    results = []
    for vendor in opts.databases:
        target = dbs.fresh(vendor, "b8")
        log(
            f"B8 {target.label}: generating a {COURRIERS * (PAGES_PER_COURRIER + 1)}-page batch, splitting it…"
        )
        out = run_child(
            "b8",
            {"courriers": COURRIERS, "pages_per_courrier": PAGES_PER_COURRIER, "rounds": rounds},
            target,
            cpu=PINNED_CPU,
        )
        results.append((target.label, out))
    rows = []
    worst = 0.0
    for label, out in results:
        pages = out["pages"]
        split = sum(r["split"] for r in out["rounds"]) / len(out["rounds"]) / pages
        wall = sum(r["split_wall"] for r in out["rounds"]) / len(out["rounds"]) / pages
        floor = sum(r["tesseract"] for r in out["rounds"]) / len(out["rounds"])
        ratio = split / floor
        worst = max(worst, ratio)
        rows.append([label, pages, fmt(split, 3), fmt(wall, 3), fmt(floor), fmt(ratio, 3)])
    body = (
        f"A {results[0][1]['pages']}-page batch scan ({COURRIERS} separator sheets at 200 dpi, "
        f"{COURRIERS * PAGES_PER_COURRIER} demo letter pages at 300 dpi), split into {COURRIERS} courriers by "
        f"`register_batch` (detection, split, checks, registration; no OCR), {rounds} round(s), one child process "
        f"pinned to CPU {results[0][1]['affinity']}, OMP_THREAD_LIMIT=1, CPU = user + system (getrusage).\n\n"
        + table(
            [
                "database",
                "pages",
                "split CPU s/page",
                "split wall s/page",
                "raw `tesseract -l fra` CPU s (one page)",
                "ratio",
            ],
            rows,
        )
    )
    return Section(
        "B8",
        "B8 — batch split (CPU per page, vs the OCR floor)",
        body,
        verdict(worst <= TARGET, f"split s/page ÷ raw Tesseract s/page = {worst:.3f} (target ≤ {TARGET})"),
    )
