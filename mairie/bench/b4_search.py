"""B4 — search latency at the SQL level, organisation-scoped, as the instance grows.

A synthetic corpus (French-looking text, 100–300 words a document, Zipf word frequencies) is bulk-loaded as
minimal ``Courrier`` rows and ``SearchEntry`` rows built with the product's own ``title_tokens`` /
``body_tokens``, 200 documents per organisation. Latency is measured at 10,000 documents (50 organisations),
then the same database grows to 100,000 (500 organisations) and is measured again: with organisation-prefixed
terms a search reads only its organisation's postings, so the two should be nearly equal.

Each query is ``search.backends.search_ids(org, terms, no filters, limit=20)`` on a random organisation:
the ranked page of hits plus, when there are more than 20, the exact total. Then, for information, one
organisation of 20,000 documents is added and searched: there the cost follows that organisation's size.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from typing import Any

from mairie.bench.common import (
    Databases,
    Options,
    Section,
    Target,
    fmt,
    log,
    median,
    num,
    percentile,
    run_child,
    table,
)

TARGET_P95_MS = 25.0
DOCS_PER_ORG = 200
# Frequency classes: ranks of the Zipf vocabulary the query words are taken from.
CLASSES = {
    "rare": (12_000, 19_000),
    "medium": (250, 450),
    "very common": (25, 40),
}
TWO_WORDS = "two words (common + medium)"
# An organisation of this size is measured apart, for information (a large town among villages).
BIG_ORGANISATION = 20_000


def child_load(params: dict[str, Any]) -> dict[str, Any]:
    """Add organisations ``[first, last)`` with their documents to the database."""
    from django.db import connection, transaction
    from django.utils import timezone

    from mairie.bench.corpus import Corpus
    from mairie.courrier.models import Courrier
    from mairie.courrier.services import format_chrono
    from mairie.organisations.models import Organisation
    from mairie.search.backends import body_tokens, title_tokens
    from mairie.search.models import SearchEntry

    first, last = params["first"], params["last"]
    per_org = params["docs_per_org"]
    lo, hi = params["words"]
    corpus = Corpus()
    rng = random.Random(params["seed"])
    started = time.perf_counter()
    orgs = Organisation.objects.bulk_create(
        [
            Organisation(kind="commune", name=f"Commune de banc d'essai {n}", slug=f"banc-{n:04d}")
            for n in range(first, last)
        ]
    )
    now = timezone.now()
    made = 0
    batch_orgs = max(1, 2000 // per_org)
    for start in range(0, len(orgs), batch_orgs):
        group = orgs[start : start + batch_orgs]
        courriers: list[Courrier] = []
        texts: list[str] = []
        for org in group:
            for number in range(1, per_org + 1):
                chrono = format_chrono(2026, "arrivee", number)
                courriers.append(
                    Courrier(
                        organisation=org,
                        direction="arrivee",
                        year=2026,
                        number=number,
                        chrono=chrono,
                        received_at=now - dt.timedelta(minutes=rng.randint(0, 525_600)),
                        channel="scan",
                        subject=corpus.subject(rng),
                        kind="letter",
                        status="a_traiter",
                    )
                )
                texts.append(corpus.text(rng, rng.randint(lo, hi)))
        with transaction.atomic():
            Courrier.objects.bulk_create(courriers)
            SearchEntry.objects.bulk_create(
                [
                    SearchEntry(
                        organisation_id=c.organisation_id,
                        courrier_id=c.pk,
                        title_terms=title_tokens(c.organisation_id, [c.chrono or "", c.subject]),
                        body_terms=body_tokens(c.organisation_id, [text]),
                    )
                    for c, text in zip(courriers, texts, strict=True)
                ],
                batch_size=500,
            )
        made += len(courriers)
        if made % 10_000 < len(courriers):
            print(f"    {made} documents…", flush=True, file=__import__("sys").stderr)
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # What autovacuum does in steady state: GIN pending list merged, statistics up to date.
            cursor.execute("VACUUM ANALYZE search_searchentry")
            cursor.execute("VACUUM ANALYZE courrier_courrier")
            cursor.execute("SELECT pg_database_size(current_database())")
            size = int(cursor.fetchone()[0])
        else:
            cursor.execute("ANALYZE")
            cursor.execute("SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()")
            size = int(cursor.fetchone()[0])
    return {
        "documents": made,
        "load_seconds": loaded,
        "maintenance_seconds": time.perf_counter() - started,
        "database_bytes": size,
        "org_ids": [o.pk for o in orgs],
    }


def child_measure(params: dict[str, Any]) -> dict[str, Any]:
    from mairie.bench.corpus import Corpus
    from mairie.search.backends import Filters, search_ids
    from mairie.search.normalise import query_terms

    corpus = Corpus()
    rng = random.Random(params["seed"])
    org_ids = params["org_ids"]
    queries: dict[str, list[list[str]]] = {}
    for name, (first, last) in CLASSES.items():
        queries[name] = [query_terms(w) for w in corpus.words_between(first, last, 40, seed=len(name))]
    queries[TWO_WORDS] = [a + b for a, b in zip(queries["very common"], queries["medium"], strict=False)]
    for _ in range(params["warmup"]):
        search_ids(rng.choice(org_ids), rng.choice(queries["medium"]), Filters(), 20)
    out: dict[str, Any] = {}
    for name, pool in queries.items():
        times: list[float] = []
        totals: list[int] = []
        for _ in range(params["queries"]):
            org_id = rng.choice(org_ids)
            terms = rng.choice(pool)
            start = time.perf_counter()
            _, total = search_ids(org_id, terms, Filters(), 20)
            times.append((time.perf_counter() - start) * 1000)
            totals.append(total)
        out[name] = {"ms": times, "mean_hits": sum(totals) / len(totals)}
    return out


def _load(target: Target, first: int, last: int, per_org: int, words: tuple[int, int]) -> dict[str, Any]:
    params = {"first": first, "last": last, "docs_per_org": per_org, "words": words, "seed": last * per_org}
    load = run_child("b4-load", params, target)
    load["line"] = (
        f"{target.label}: {num(load['documents'])} documents in {last - first} organisation(s) loaded in "
        f"{load['load_seconds']:.0f} s, then {'VACUUM ANALYZE' if target.vendor == 'postgresql' else 'ANALYZE'} "
        f"{load['maintenance_seconds']:.0f} s; database now {num(load['database_bytes'] / 2**20)} MiB"
    )
    return load


def run(opts: Options, dbs: Databases) -> Section:
    sizes = opts.b4_sizes or opts.pick([10_000, 100_000], [400, 1_200])
    big = opts.pick(BIG_ORGANISATION, 1_000)
    words = opts.pick((100, 300), (30, 80))
    queries = opts.pick(400, 20)
    measure = {"queries": queries, "warmup": opts.pick(200, 5), "seed": 1}
    rows: list[list[str]] = []
    big_rows: list[list[str]] = []
    worst_p95 = 0.0
    growth: list[str] = []
    loads: list[str] = []
    for vendor in opts.databases:
        target = dbs.fresh(vendor, "b4")
        loaded_orgs: list[int] = []
        figures_by_size: dict[int, dict[str, tuple[float, float]]] = {}
        for size in sizes:
            first, last = len(loaded_orgs), size // DOCS_PER_ORG
            log(f"B4 {target.label}: loading organisations {first}–{last - 1} (up to {size} documents)…")
            load = _load(target, first, last, DOCS_PER_ORG, words)
            loaded_orgs += load["org_ids"]
            loads.append(load["line"])
            log(f"B4 {target.label}: {queries} queries per class at {size} documents…")
            out = run_child("b4-measure", {**measure, "org_ids": loaded_orgs}, target)
            figures_by_size[size] = {}
            for name, figures in out.items():
                p50, p95 = median(figures["ms"]), percentile(figures["ms"], 95)
                figures_by_size[size][name] = (p50, p95)
                worst_p95 = max(worst_p95, p95)
                rows.append(_row(target.label, num(size), str(len(loaded_orgs)), name, figures))
        small, large = sizes[0], sizes[-1]
        p50s = [figures_by_size[large][n][0] / figures_by_size[small][n][0] for n in figures_by_size[large]]
        p95s = [figures_by_size[large][n][1] / figures_by_size[small][n][1] for n in figures_by_size[large]]
        growth.append(
            f"{target.label}: from {num(small)} to {num(large)} documents, p50 × {min(p50s):.2f}–{max(p50s):.2f} "
            f"and p95 × {min(p95s):.2f}–{max(p95s):.2f} across query classes"
        )
        # Not a target: how one organisation much larger than the others fares (its own postings grow).
        log(f"B4 {target.label}: one large organisation of {big} documents…")
        load = _load(target, len(loaded_orgs), len(loaded_orgs) + 1, big, words)
        loads.append(load["line"])
        out = run_child("b4-measure", {**measure, "org_ids": load["org_ids"]}, target)
        total = large + big
        for name, figures in out.items():
            big_rows.append(_row(target.label, num(total), f"the one of {num(big)} documents", name, figures))
    header = ["database", "documents", "organisations", "query", "mean hits", "p50 ms", "p95 ms", "max ms"]
    body = (
        f"{DOCS_PER_ORG} documents per organisation, {words[0]}–{words[1]} words each; {queries} queries per "
        "class and size, each on a random organisation; time of `search_ids` (ranked page of 20 + exact "
        "total), milliseconds. *mean hits* is the average total per query.\n\n"
        + table(header, rows)
        + "\n\n"
        + "\n".join(f"- {line}" for line in growth)
        + "\n\nFor information (no target): searches in one organisation much larger than the others, "
        "added afterwards. Their cost follows that organisation's own size, not the instance's.\n\n"
        + table(header, big_rows)
        + "\n\n"
        + "\n".join(f"- {line}" for line in loads)
    )
    ok = worst_p95 <= TARGET_P95_MS
    return Section(
        "B4",
        "B4 — organisation-scoped search latency",
        body,
        f"{'met' if ok else 'NOT MET'} — worst p95 {worst_p95:.2f} ms (target ≤ {TARGET_P95_MS:.0f} ms); "
        + "; ".join(growth),
    )


def _row(label: str, documents: str, organisations: str, name: str, figures: dict[str, Any]) -> list[str]:
    return [
        label,
        documents,
        organisations,
        name,
        fmt(figures["mean_hits"], 1),
        fmt(median(figures["ms"])),
        fmt(percentile(figures["ms"], 95)),
        fmt(max(figures["ms"])),
    ]
