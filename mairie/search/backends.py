"""Full-text lookup on SQLite FTS5 or PostgreSQL, fed by the same normalised terms.

Every indexed term is prefixed with its organisation (``o12xecol``): a lookup reads only the posting list
of one organisation, so search time follows the size of that organisation's register, not the number of
communes on the instance (benchmark B4). The database never normalises anything itself: both backends
store and match these tokens as opaque words, which is why SQLite and PostgreSQL return the same hits.

Tokens are plain ASCII letters and digits. A term that still holds other characters after accent
folding (``łodz``, ``π``) is written in hexadecimal under another prefix (``o12y…``), so that neither
PostgreSQL's word parser (whose idea of a letter depends on the database's locale) nor FTS5's
``unicode61`` tokenizer can split it differently.
"""

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
    if term.isascii():
        return f"o{organisation_id}x{term}"
    return f"o{organisation_id}y{term.encode('utf-8').hex()}"


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


# Ranking reads every candidate's terms; a very common word in a large organisation would make that the
# cost of a search. Only the most recently registered matches are ranked (all of them below this number);
# the total stays exact.
RANKED_CANDIDATES = 1000


def search_ids(
    organisation_id: int,
    terms: Sequence[str],
    filters: Filters,
    limit: int,
    offset: int = 0,
    *,
    candidates: int | None = None,
) -> tuple[list[tuple[int, float]], int]:
    """Return ``([(courrier_id, score), …], total)`` for courriers having every term, best first.

    The hits are the best of the ``candidates`` most recently registered matching courriers (the same
    set on both backends); ``total`` counts every match.
    """
    if not terms:
        return [], 0
    candidates = candidates or RANKED_CANDIDATES
    tokens = [org_token(organisation_id, t) for t in terms]
    filter_sql, filter_params = _filter_sql(filters)
    if connection.vendor == "postgresql":
        query = " & ".join(tokens)
        base = (
            " FROM search_searchentry s JOIN courrier_courrier c ON c.id = s.courrier_id"
            " WHERE s.vector @@ to_tsquery('simple', %s) AND s.organisation_id = %s" + filter_sql
        )
        params = [query, organisation_id, *filter_params]
        # Only fixed SQL fragments are concatenated; every value is a parameter.
        hits_sql = (
            "SELECT id, ts_rank(vector, to_tsquery('simple', %s)) AS score FROM ("  # noqa: S608
            "SELECT c.id, c.received_at, s.vector"
            + base
            + " ORDER BY s.courrier_id DESC LIMIT %s) AS candidates"
            " ORDER BY score DESC, received_at DESC, id DESC LIMIT %s OFFSET %s"
        )
        hits_params = [query, *params, candidates, limit, offset]
    else:
        query = " AND ".join(f'"{token}"' for token in tokens)
        base = (
            " FROM search_fts f JOIN search_searchentry s ON s.id = f.rowid"
            " JOIN courrier_courrier c ON c.id = s.courrier_id"
            " WHERE f.search_fts MATCH %s AND s.organisation_id = %s" + filter_sql
        )
        params = [query, organisation_id, *filter_params]
        # bm25() only exists in the query that matches the FTS table: rank there, among the candidates.
        hits_sql = (
            "SELECT rc.id, -bm25(search_fts, 10.0, 1.0) AS score"  # noqa: S608
            " FROM search_fts JOIN search_searchentry rs ON rs.id = search_fts.rowid"
            " JOIN courrier_courrier rc ON rc.id = rs.courrier_id"
            " WHERE search_fts MATCH %s AND search_fts.rowid IN (SELECT s.id"
            + base
            + " ORDER BY s.courrier_id DESC LIMIT %s)"
            " ORDER BY score DESC, rc.received_at DESC, rc.id DESC LIMIT %s OFFSET %s"
        )
        hits_params = [query, *params, candidates, limit, offset]
    with connection.cursor() as cursor:
        cursor.execute(hits_sql, _adapt(hits_params))
        hits = [(int(row[0]), float(row[1])) for row in cursor.fetchall()]
        if offset == 0 and len(hits) < min(limit, candidates):
            total = len(hits)
        else:
            cursor.execute("SELECT COUNT(*)" + base, _adapt(params))
            total = int(cursor.fetchone()[0])
    return hits, total
