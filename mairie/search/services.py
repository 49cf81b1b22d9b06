"""Index courriers and search them, scoped to one organisation."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mairie.search.backends import Filters, body_tokens, search_ids, title_tokens
from mairie.search.models import SearchEntry
from mairie.search.normalise import WORD_RE, query_terms, term

if TYPE_CHECKING:
    from mairie.courrier.models import Courrier
    from mairie.organisations.models import Organisation


def _title_texts(courrier: Courrier) -> list[str]:
    texts = [courrier.chrono, courrier.subject]
    contact = courrier.contact
    if contact is not None:
        texts += [contact.display_name, contact.email, contact.city]
    return texts


def _body_texts(courrier: Courrier) -> list[str]:
    texts: list[str] = []
    for document in courrier.documents.all():
        texts.append(document.original_name)
        texts.append(document.text)
    for comment in courrier.comments.all():
        texts.append(comment.body)
    return texts


def index_courrier(courrier: Courrier) -> None:
    """Write the courrier's index row; call it inside the transaction that changed its text."""
    org_id = courrier.organisation_id
    SearchEntry.objects.update_or_create(
        courrier=courrier,
        defaults={
            "organisation_id": org_id,
            "title_terms": title_tokens(org_id, _title_texts(courrier)),
            "body_terms": body_tokens(org_id, _body_texts(courrier)),
        },
    )


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


def highlight(text: str, qterms: set[str], *, width: int = 220) -> str:
    """An HTML snippet of ``text`` around the first matched word, matched words in ``<mark>``."""
    if not text:
        return ""
    matches = [m for m in WORD_RE.finditer(text) if term(m.group()) in qterms]
    if matches:
        first = matches[0].start()
        start = max(0, first - width // 3)
        if start > 0:
            space = text.rfind(" ", 0, start)
            start = space + 1 if space != -1 and first - space < width // 2 else start
    else:
        start = 0
    end = min(len(text), start + width)
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > start + width // 2 else end
    out: list[str] = ["…" if start > 0 else ""]
    cursor = start
    for m in matches:
        if m.start() < start or m.end() > end:
            continue
        out.append(html.escape(text[cursor : m.start()]))
        out.append(f"<mark>{html.escape(m.group())}</mark>")
        cursor = m.end()
    out.append(html.escape(text[cursor:end]))
    if end < len(text):
        out.append("…")
    return " ".join("".join(out).split())


def _snippet(courrier: Courrier, qterms: set[str]) -> str:
    """Prefer a passage of the documents' text; fall back to the subject."""
    for document in courrier.documents.all():
        if document.text and any(term(m.group()) in qterms for m in WORD_RE.finditer(document.text)):
            return highlight(document.text, qterms)
    return highlight(courrier.subject, qterms)


def search_courriers(
    *,
    organisation: Organisation,
    query: str,
    filters: Filters | None = None,
    limit: int = 20,
    offset: int = 0,
) -> SearchResult:
    from mairie.courrier.models import Courrier

    qterms = query_terms(query)
    ids, total = search_ids(organisation.pk, qterms, filters or Filters(), limit, offset)
    if not ids:
        return SearchResult([], total, qterms)
    courriers = {
        c.pk: c
        for c in Courrier.objects.for_org(organisation)
        .filter(pk__in=[pk for pk, _ in ids])
        .select_related("contact", "service", "assigned_to")
        .prefetch_related("documents")
    }
    wanted = set(qterms)
    hits = [
        Hit(courriers[pk], score, _snippet(courriers[pk], wanted)) for pk, score in ids if pk in courriers
    ]
    return SearchResult(hits, total, qterms)
