"""B6 — register throughput on PostgreSQL: 8 concurrent clients calling ``register_courrier``.

Each client is a process (Python threads would share one interpreter lock) with its own database
connection; it registers courriers without files (numbering, courrier row, search index row and hash-chained
audit entry, all in one transaction — files are written before the transaction and OCR is a background job,
so neither belongs to the registering transaction). Two cases: the 8 clients on one organisation (they queue
on its chrono counter and audit chain) and on 8 organisations. The reference is the simplest durable write
PostgreSQL does: a single-row INSERT then COMMIT, in a loop, one client, in the same database.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from mairie.bench.common import Databases, Options, Section, fmt, log, median, race, run_child, table

TARGET = 0.25
CLIENTS = 8
WARMUP = 3


def child_setup(params: dict[str, Any]) -> dict[str, Any]:
    from django.contrib.auth import get_user_model

    from mairie.organisations.models import Role
    from mairie.organisations.services import add_member, create_organisation

    orgs = []
    users = []
    for number in range(params["organisations"]):
        org = create_organisation(
            actor=None, slug=f"debit-{number}", name=f"Commune de débit {number}", kind="commune"
        )
        add_member(
            actor=None,
            organisation=org,
            username=f"secretaire-{number}",
            first_name="Sylvie",
            last_name=f"Débit {number}",
            email=f"secretaire-{number}@example.org",
            roles=[Role.COURRIER, Role.AGENT],
            password="Motdepasse-de-banc-42",
        )
        orgs.append(org.pk)
        users.append(get_user_model().objects.get(username=f"secretaire-{number}").pk)
    return {"org_ids": orgs, "user_ids": users}


def _client(org_id: int, user_id: int, count: int, label: str, ready: Any, start: Any, results: Any) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connections

    from mairie.courrier.services import register_courrier
    from mairie.organisations.models import Organisation

    connections.close_all()  # never share the parent's connection
    org = Organisation.objects.get(pk=org_id)
    user = get_user_model().objects.get(pk=user_id)
    for number in range(WARMUP):  # connection open, modules imported, statements cached: not measured
        register_courrier(organisation=org, actor=user, channel="counter", subject=f"Échauffement {number}")
    ready.release()
    start.wait()
    began = time.perf_counter()
    for number in range(count):
        register_courrier(
            organisation=org,
            actor=user,
            channel="counter",
            subject=f"Demande déposée à l'accueil n° {number} ({label})",
        )
    results.put((count, began, time.perf_counter()))
    connections.close_all()


def child_register(params: dict[str, Any]) -> dict[str, Any]:
    from django.db import connection, connections

    from mairie.audit.services import verify_chain
    from mairie.organisations.models import Organisation

    connections.close_all()
    pairs = list(zip(params["org_ids"], params["user_ids"], strict=True))
    outcomes, began = race(
        _client,
        [(*pairs[n % len(pairs)], params["per_client"], f"client {n}") for n in range(params["clients"])],
    )
    ended = max(end for _, _, end in outcomes)
    registered = sum(count for count, _, _ in outcomes)
    gapless = True
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT organisation_id, COUNT(*), MIN(number), MAX(number) FROM courrier_courrier"
            " WHERE organisation_id = ANY(%s) GROUP BY organisation_id",
            [list(set(params["org_ids"]))],
        )
        for _, count, low, high in cursor.fetchall():
            gapless = gapless and low == 1 and high == count
    chains = all(verify_chain(org).ok for org in Organisation.objects.filter(pk__in=params["org_ids"]))
    return {
        "registered": registered,
        "seconds": ended - began,
        "per_second": registered / (ended - began),
        "gapless": gapless,
        "audit_ok": chains,
    }


def child_raw(params: dict[str, Any]) -> dict[str, Any]:
    import psycopg
    from django.db import connection

    settings = connection.settings_dict
    with psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"] or None,
        password=settings["PASSWORD"] or None,
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
    ) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_raw (id bigserial PRIMARY KEY, organisation_id integer NOT NULL,"
            " subject text NOT NULL, created_at timestamptz NOT NULL)"
        )
        conn.commit()
        began = time.perf_counter()
        for number in range(params["rows"]):
            conn.execute(
                "INSERT INTO bench_raw (organisation_id, subject, created_at) VALUES (%s, %s, now())",
                (1, f"Demande déposée à l'accueil n° {number}"),
            )
            conn.commit()
        seconds = time.perf_counter() - began
    return {"rows": params["rows"], "seconds": seconds, "per_second": params["rows"] / seconds}


def make_scan(path: Path, pages: int, variant: int) -> None:
    """A scanner's PDF: one full-page 300 dpi JPEG per page (distinct bytes per variant: no deduplication)."""
    import io

    import pikepdf
    from PIL import Image, ImageDraw

    image = Image.new("L", (2480, 3508), 255)
    draw = ImageDraw.Draw(image)
    for y in range(200, 3300, 60):
        draw.text(
            (200, y), f"Monsieur le Maire, je sollicite une autorisation de voirie ({variant}) " * 2, fill=0
        )
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=75, dpi=(300, 300))
    data = buffer.getvalue()
    pdf = pikepdf.new()
    for _ in range(pages):
        stream = pikepdf.Stream(pdf, data)
        stream.Type = pikepdf.Name.XObject
        stream.Subtype = pikepdf.Name.Image
        stream.Width, stream.Height = image.size
        stream.ColorSpace = pikepdf.Name.DeviceGray
        stream.BitsPerComponent = 8
        stream.Filter = pikepdf.Name.DCTDecode
        page = pikepdf.Dictionary(
            Type=pikepdf.Name.Page,
            MediaBox=[0, 0, 595, 842],
            Resources=pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=stream)),
            Contents=pdf.make_stream(b"q 595 0 0 842 0 0 cm /Im0 Do Q"),
        )
        pdf.pages.append(pikepdf.Page(page))
    pdf.save(path)


def child_latency(params: dict[str, Any]) -> dict[str, Any]:
    """Time ``register_courrier`` for fresh scans: checks, storage, numbering — until the chrono number."""
    from mairie.courrier.services import IncomingFile, register_courrier
    from mairie.organisations.models import Organisation

    org = Organisation.objects.get(pk=params["org_id"])
    times = []
    with tempfile.TemporaryDirectory(prefix="bench-b6-") as tmp:
        for variant in range(params["rounds"]):
            path = Path(tmp) / f"scan-{variant}.pdf"
            make_scan(path, params["pages"], variant)
            began = time.perf_counter()
            courrier = register_courrier(
                organisation=org, actor=None, files=[IncomingFile(path, f"scan-{variant}.pdf")]
            )
            times.append(time.perf_counter() - began)
            assert courrier.chrono and courrier.documents.get().page_count == params["pages"]
            size = path.stat().st_size
    return {"times": times, "megabytes": size / 1e6}


def run(opts: Options, dbs: Databases) -> Section:
    target = dbs.fresh("postgresql", "b6")
    per_client = opts.pick(250, 4)
    raw_rows = opts.pick(4000, 200)
    log("B6: creating 9 organisations…")
    setup = run_child("b6-setup", {"organisations": 1 + CLIENTS}, target)
    one = {"org_ids": setup["org_ids"][:1], "user_ids": setup["user_ids"][:1]}
    many = {"org_ids": setup["org_ids"][1:], "user_ids": setup["user_ids"][1:]}
    raws: list[dict[str, Any]] = []
    cases: dict[str, dict[str, Any]] = {}
    log(f"B6: raw INSERT+COMMIT loop, {raw_rows} rows…")
    raws.append(run_child("b6-raw", {"rows": raw_rows}, target))
    for label, orgs in (("8 clients, one organisation", one), ("8 clients, 8 organisations", many)):
        log(f"B6: {label}, {per_client} courriers each…")
        cases[label] = run_child(
            "b6-register", {**orgs, "clients": CLIENTS, "per_client": per_client}, target
        )
    log(f"B6: raw INSERT+COMMIT loop again, {raw_rows} rows…")
    raws.append(run_child("b6-raw", {"rows": raw_rows}, target))
    raw_rate = sum(r["rows"] for r in raws) / sum(r["seconds"] for r in raws)
    pages, rounds = opts.pick(100, 3), opts.pick(5, 2)
    log(f"B6: registering {rounds} scans of {pages} pages, one at a time…")
    latency = run_child(
        "b6-latency", {"org_id": setup["org_ids"][0], "pages": pages, "rounds": rounds}, target
    )
    rows = [["raw INSERT + COMMIT, 1 client (reference)", fmt(raw_rate, 0), "100 %", "", ""]]
    ratios = []
    for label, case in cases.items():
        ratio = case["per_second"] / raw_rate
        ratios.append(ratio)
        rows.append(
            [
                f"`register_courrier`, {label}",
                fmt(case["per_second"], 0),
                f"{ratio * 100:.0f} %",
                "yes" if case["gapless"] else "**NO**",
                "yes" if case["audit_ok"] else "**NO**",
            ]
        )
    body = (
        f"{CLIENTS} client processes × {per_client} courriers without files (one transaction each: chrono "
        f"number, courrier, search index row, audit entry); reference: {raw_rows} single-row INSERT+COMMIT, "
        "run before and after, averaged. Throughput = courriers registered ÷ wall time from the common start "
        "to the last client's end.\n\n"
        + table(["", "per second", "of reference", "numbers gapless", "audit chains intact"], rows)
        + f"\n\nTime until the chrono number comes back for a {pages}-page scanned PDF "
        f"({latency['megabytes']:.0f} MB, one 300 dpi JPEG per page, new bytes each time: type and page checks, "
        f"SHA-256, storage, the registering transaction; OCR follows in the background): median "
        f"{median(latency['times']) * 1000:.0f} ms, worst {max(latency['times']) * 1000:.0f} ms over {rounds}."
    )
    # The target is the issue's: 8 concurrent clients of the platform, which on a hosted instance are
    # different organisations. All 8 on one organisation (one counter, one journal: every registration
    # waits for the previous one's commit) is the worst case, reported beside it.
    hosted, single = ratios[1], ratios[0]
    checks_ok = all(c["gapless"] and c["audit_ok"] for c in cases.values())
    ok = hosted >= TARGET and checks_ok
    return Section(
        "B6",
        "B6 — register throughput (PostgreSQL)",
        body
        + "\n\nThe target applies to 8 clients on 8 organisations (a hosted instance's clients are different "
        "communes); 8 clients on one organisation, who all queue on its counter and journal, is the worst case.",
        f"{'met' if ok else 'NOT MET'} — 8 clients on 8 organisations: {hosted * 100:.1f} % of the raw INSERT "
        f"loop (target ≥ {TARGET * 100:.0f} %); worst case, all 8 on one organisation: {single * 100:.1f} %"
        + ("" if checks_ok else "; **numbering or audit chain check failed**"),
    )
