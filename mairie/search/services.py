"""Index courriers and search them, scoped to one organisation."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import transaction

from mairie.search import backends
from mairie.search.backends import Filters, body_tokens, search_ids, title_tokens
from mairie.search.models import SearchEntry
from mairie.search.normalise import WORD_RE, query_terms, term

if TYPE_CHECKING:
    from mairie.courrier.models import Comment, Courrier
    from mairie.documents.models import Document
    from mairie.organisations.models import Organisation

# A query that is a chrono number (``2026-A-000042``, ``2026-a-42``, ``2026A42``) looks up that number only.
CHRONO_QUERY_RE = re.compile(r"^\s*(\d{4})\s*-?\s*([AD])\s*-?\s*(\d{1,6})\s*$", re.IGNORECASE)


def chrono_word(year: int | str, letter: str, number: int | str) -> str:
    """One word standing for a chrono number, whatever its padding: ``2026a42``.

    Words alone would not do: ``a`` is a stop word and ``2026`` and ``42`` occur in many courriers.
    """
    return f"{int(year)}{letter.lower()}{int(number)}"


# A longer query is cut: every word must match, so more words only make the database work harder.
MAX_QUERY_TERMS = 32


def search_terms(query: str) -> list[str]:
    """The index terms a query looks for."""
    match = CHRONO_QUERY_RE.match(query)
    if match:
        return query_terms(chrono_word(*match.groups()))
    return query_terms(query)[:MAX_QUERY_TERMS]


def _chrono_texts(chrono: str | None) -> list[str]:
    if not chrono:  # a courrier being registered: its number comes last (see add_chrono_terms)
        return []
    texts = [chrono]
    match = CHRONO_QUERY_RE.match(chrono)
    if match:
        texts.append(chrono_word(*match.groups()))
    return texts


def _title_texts(courrier: Courrier) -> list[str]:
    texts = [*_chrono_texts(courrier.chrono), courrier.subject]
    contact = courrier.contact
    if contact is not None:
        texts += [contact.display_name, contact.email, contact.city]
    return texts


def _body_texts(
    courrier: Courrier, documents: Sequence[Document] | None, comments: Sequence[Comment] | None
) -> list[str]:
    texts: list[str] = []
    for document in courrier.documents.all() if documents is None else documents:
        texts.append(document.original_name)
        texts.append(document.text)
    for comment in courrier.comments.all() if comments is None else comments:
        texts.append(comment.body)
    return texts


def index_courrier(
    courrier: Courrier,
    *,
    new: bool = False,
    documents: Sequence[Document] | None = None,
    comments: Sequence[Comment] | None = None,
) -> None:
    """Write the courrier's index row; call it inside the transaction that changed its text.

    Subject, contact, chrono number go to the title terms (they weigh more in ranking); the documents'
    names and text and the comments go to the body terms. A caller that has just created the courrier
    says so (``new=True``) and hands over its documents and comments: registering then costs one INSERT
    here instead of three look-ups, two savepoints and an INSERT (benchmark B6).
    """
    org_id = courrier.organisation_id
    fields = {
        "organisation_id": org_id,
        "title_terms": title_tokens(org_id, _title_texts(courrier)),
        "body_terms": body_tokens(org_id, _body_texts(courrier, documents, comments)),
    }
    if new:
        SearchEntry.objects.create(courrier=courrier, **fields)
    else:
        SearchEntry.objects.update_or_create(courrier=courrier, defaults=fields)


_ADD_TITLE_TERMS_SQL = (
    'UPDATE "search_searchentry" SET "title_terms" = "title_terms" || %s WHERE "courrier_id" = %s'
)


def chrono_terms_statement(courrier: Courrier) -> tuple[str, list[Any]] | None:
    """The statement adding a just-numbered courrier's chrono terms to its index row (None: nothing to add).

    Registration writes the index row before taking the number, so that the counter's lock is held for a
    few plain statements only; this completes the row, in the same transaction.
    """
    terms = title_tokens(courrier.organisation_id, _chrono_texts(courrier.chrono))
    return (_ADD_TITLE_TERMS_SQL, [" " + terms, courrier.pk]) if terms else None


def reindex(courriers: Iterable[Courrier]) -> int:
    """Rebuild the index rows of these courriers (after a change of normalisation); returns the count."""
    count = 0
    for courrier in courriers:
        with transaction.atomic():
            index_courrier(courrier)
        count += 1
    return count


@dataclass
class Hit:
    courrier: Courrier
    score: float
    snippet: str  # HTML: escaped text with <mark> around matched words


@dataclass
class SearchResult:
    hits: list[Hit]
    total: int
    terms: list[str]

    @property
    def reachable(self) -> int:
        """How many hits pages can show: only the most recent matches are ranked (RANKED_CANDIDATES)."""
        return min(self.total, backends.RANKED_CANDIDATES)


# How far into a text the snippet looks for a matched word: a 300-page OCR text whose match is in the
# subject would otherwise be read word by word for each hit of the page.
SNIPPET_SCAN_CHARS = 50_000


def _first_match(text: str, qterms: set[str]) -> re.Match[str] | None:
    words = WORD_RE.finditer(text, 0, SNIPPET_SCAN_CHARS)
    return next((m for m in words if term(m.group()) in qterms), None)


def highlight(text: str, qterms: set[str], *, width: int = 220) -> str:
    """An HTML snippet of ``text`` around the first matched word, matched words in ``<mark>``.

    Everything else is HTML-escaped. Only the words of the window are normalised, so a long OCR text
    costs little beyond finding its first match.
    """
    if not text:
        return ""
    first = _first_match(text, qterms)
    if first is not None:
        start = max(0, first.start() - width // 3)
        if start > 0:
            space = text.rfind(" ", 0, start)
            start = space + 1 if space != -1 and first.start() - space < width // 2 else start
    else:
        start = 0
    end = min(len(text), start + width)
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > start + width // 2 else end
    if first is not None and first.end() > end:
        end = first.end()
    out: list[str] = ["…" if start > 0 else ""]
    cursor = start
    if first is not None:
        for m in WORD_RE.finditer(text, start, end):
            if term(m.group()) not in qterms:
                continue
            out.append(html.escape(text[cursor : m.start()]))
            out.append(f"<mark>{html.escape(m.group())}</mark>")
            cursor = m.end()
    out.append(html.escape(text[cursor:end]))
    if end < len(text):
        out.append("…")
    return " ".join("".join(out).split())


def _snippet(courrier: Courrier, qterms: set[str]) -> str:
    """The first passage holding a matched word: documents' text, comments, sender, subject."""
    texts = [d.text for d in courrier.documents.all()]
    texts += [c.body for c in courrier.comments.all()]
    if courrier.contact is not None:
        texts.append(courrier.contact.display_name)
    texts.append(courrier.subject)
    for text in texts:
        if text and _first_match(text, qterms) is not None:
            return highlight(text, qterms)
    fallback = next((text for text in texts if text), "")
    return highlight(fallback, qterms)


def search_courriers(
    *,
    organisation: Organisation,
    query: str,
    filters: Filters | None = None,
    limit: int = 20,
    offset: int = 0,
) -> SearchResult:
    from mairie.courrier.models import Courrier

    qterms = search_terms(query)
    ids, total = search_ids(organisation.pk, qterms, filters or Filters(), limit, offset)
    if not ids:
        return SearchResult([], total, qterms)
    courriers = {
        c.pk: c
        for c in Courrier.objects.for_org(organisation)
        .filter(pk__in=[pk for pk, _ in ids])
        .select_related("contact", "service", "assigned_to")
        .prefetch_related("documents", "comments")
    }
    wanted = set(qterms)
    hits = [
        Hit(courriers[pk], score, _snippet(courriers[pk], wanted)) for pk, score in ids if pk in courriers
    ]
    return SearchResult(hits, total, qterms)
