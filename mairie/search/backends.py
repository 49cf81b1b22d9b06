"""Full-text lookup on SQLite FTS5 or PostgreSQL, fed by the same normalised terms."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection

from mairie.search.normalise import iter_terms

# A body term repeated more than this adds nothing to ranking; capping keeps the index small.
MAX_TERM_REPEAT = 3


def org_token(organisation_id: int, term: str) -> str:
    return f"o{organisation_id}x{term}"


def title_tokens(organisation_id: int, texts: Iterable[str]) -> str:
    return " ".join(org_token(organisation_id, t) for text in texts for t in iter_terms(text))


def body_tokens(organisation_id: int, texts: Iterable[str]) -> str:
    counts: Counter[str] = Counter()
    ordered: list[str] = []
    for text in texts:
        for t in iter_terms(text):
            if counts[t] < MAX_TERM_REPEAT:
                counts[t] += 1
                ordered.append(t)
    return " ".join(org_token(organisation_id, t) for t in ordered)


@dataclass(frozen=True)
class Filters:
    date_from: Any = None  # datetime (aware), inclusive
    date_to: Any = None  # datetime (aware), exclusive
    service_id: int | None = None
    status: str | None = None
    channel: str | None = None
    kind: str | None = None
    direction: str | None = None


def _filter_sql(filters: Filters) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("c.service_id", filters.service_id),
        ("c.status", filters.status),
        ("c.channel", filters.channel),
        ("c.kind", filters.kind),
        ("c.direction", filters.direction),
    ):
        if value not in (None, ""):
            clauses.append(f"{column} = %s")
            params.append(value)
    if filters.date_from is not None:
        clauses.append("c.received_at >= %s")
        params.append(filters.date_from)
    if filters.date_to is not None:
        clauses.append("c.received_at < %s")
        params.append(filters.date_to)
    sql = "".join(f" AND {clause}" for clause in clauses)
    return sql, params


def _adapt(params: list[Any]) -> list[Any]:
    # Raw cursors do not apply Django's datetime adaptation on SQLite.
    ops = connection.ops
    out = []
    for value in params:
        if hasattr(value, "tzinfo") and hasattr(value, "hour"):
            out.append(ops.adapt_datetimefield_value(value))
        else:
            out.append(value)
    return out


def search_ids(
    organisation_id: int, terms: Sequence[str], filters: Filters, limit: int, offset: int = 0
) -> tuple[list[tuple[int, float]], int]:
    """Return ``([(courrier_id, score), …], total)`` for courriers having every term, best first."""
    if not terms:
        return [], 0
    tokens = [org_token(organisation_id, t) for t in terms]
    filter_sql, filter_params = _filter_sql(filters)
    if connection.vendor == "postgresql":
        query = " & ".join(tokens)
        base = (
            " FROM search_searchentry s JOIN courrier_courrier c ON c.id = s.courrier_id"
            " WHERE s.vector @@ to_tsquery('simple', %s) AND s.organisation_id = %s" + filter_sql
        )
        params = [query, organisation_id, *filter_params]
        hits_sql = (
            "SELECT c.id, ts_rank(s.vector, to_tsquery('simple', %s)) AS score"
            + base
            + " ORDER BY score DESC, c.received_at DESC, c.id DESC LIMIT %s OFFSET %s"
        )
        hits_params = [query, *params, limit, offset]
    else:
        query = " AND ".join(f'"{token}"' for token in tokens)
        base = (
            " FROM search_fts f JOIN search_searchentry s ON s.id = f.rowid"
            " JOIN courrier_courrier c ON c.id = s.courrier_id"
            " WHERE search_fts MATCH %s AND s.organisation_id = %s" + filter_sql
        )
        params = [query, organisation_id, *filter_params]
        hits_sql = (
            "SELECT c.id, -bm25(search_fts, 10.0, 1.0) AS score"
            + base
            + " ORDER BY score DESC, c.received_at DESC, c.id DESC LIMIT %s OFFSET %s"
        )
        hits_params = [*params, limit, offset]
    with connection.cursor() as cursor:
        cursor.execute(hits_sql, _adapt(hits_params))
        hits = [(int(row[0]), float(row[1])) for row in cursor.fetchall()]
        if offset == 0 and len(hits) < limit:
            total = len(hits)
        else:
            cursor.execute("SELECT COUNT(*)" + base, _adapt(params))
            total = int(cursor.fetchone()[0])
    return hits, total
