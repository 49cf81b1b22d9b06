"""The body of an e-mail as a PDF that reads like a letter: a header block, the warnings, then the text.

WeasyPrint lays it out with a real text layer (the document pipeline reads it without OCR). Nothing is ever
fetched: the HTML was sanitised (``parsing.sanitise_html``) and the fetcher refuses every URL that is not a
``data:`` URI, so a message cannot tell its sender that it was opened.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

from django.template.loader import render_to_string
from django.utils import timezone

from mairie.mail.parsing import Attachment, ParsedMessage

logger = logging.getLogger("mairie.mail")

# Beyond these sizes the layout would take minutes: the rendition shows the beginning and says so (the
# whole message stays in the original .eml).
MAX_TEXT_CHARS = 300_000
MAX_HTML_CHARS = 400_000  # not counting inlined images
MAX_LISTED_ADDRESSES = 40
HTML_FALLBACK = "La mise en forme HTML du courriel n'a pas pu être reproduite : texte brut affiché."
_DATA_URI = re.compile(r"data:[^\"'\s)]*")


def _fetcher_class() -> Any:
    from weasyprint.urls import URLFetcher

    class DataOnlyFetcher(URLFetcher):  # type: ignore[misc]
        """Serves ``data:`` URIs, refuses everything else (and remembers what was asked, for the tests)."""

        def __init__(self) -> None:
            super().__init__(allowed_protocols={"data"}, allow_redirects=False, timeout=1)
            self.refused: list[str] = []

        def fetch(self, url: str, headers: Any = None) -> Any:
            if not url.lower().startswith("data:"):
                self.refused.append(url)
                raise ValueError(f"Ressource externe refusée : {url[:200]}")
            return super().fetch(url, headers)

    return DataOnlyFetcher


def data_only_fetcher() -> Any:
    return _fetcher_class()()


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} o"
    if count < 1024 * 1024:
        return f"{count / 1024:.0f} Ko"
    return f"{count / 1024 / 1024:.1f} Mo".replace(".", ",")


def _addresses(addresses: list[Any]) -> str:
    shown = ", ".join(str(a) for a in addresses[:MAX_LISTED_ADDRESSES])
    if len(addresses) > MAX_LISTED_ADDRESSES:
        shown += f" et {len(addresses) - MAX_LISTED_ADDRESSES} autres"
    return shown


def render_html(
    parsed: ParsedMessage,
    *,
    received_at: dt.datetime | None = None,
    warnings: list[str] | None = None,
    refused: dict[str, str] | None = None,
) -> str:
    """The HTML of the rendition (before WeasyPrint)."""
    refused = refused or {}
    attachments = [
        {"name": a.filename, "size": _size(len(a.content)), "refused": refused.get(a.filename, "")}
        for a in parsed.attachments
    ]
    date = parsed.date
    body_html, body_text, cut = parsed.body_html, parsed.body_text, False
    if body_html and len(_DATA_URI.sub("", body_html)) > MAX_HTML_CHARS:
        body_html, cut = "", True
    if len(body_text) > MAX_TEXT_CHARS:
        body_text, cut = body_text[:MAX_TEXT_CHARS], True
    return render_to_string(
        "mail/courriel.html",
        {
            "m": parsed,
            "subject": (parsed.subject or "(sans objet)")[:1000],
            "sender": str(parsed.sender) or "(expéditeur inconnu)",
            "to": _addresses(parsed.to),
            "cc": _addresses(parsed.cc),
            "date": timezone.localtime(date) if date else None,
            "received_at": timezone.localtime(received_at) if received_at else None,
            "attachments": attachments,
            "warnings": warnings if warnings is not None else parsed.warnings,
            "body_html": body_html,
            "body_text": body_text,
            "cut": cut,
        },
    )


def render_pdf(
    parsed: ParsedMessage,
    *,
    received_at: dt.datetime | None = None,
    warnings: list[str] | None = None,
    refused: dict[str, str] | None = None,
    fetcher: Any = None,
) -> bytes:
    """The rendition's PDF bytes.

    If the sender's HTML breaks the layout engine (nesting thousands deep…), the plain text is laid out
    instead and ``HTML_FALLBACK`` is added to ``warnings`` (the caller's list, to keep it with the others).
    """
    from weasyprint import HTML

    fetcher = fetcher or data_only_fetcher()
    html = render_html(parsed, received_at=received_at, warnings=warnings, refused=refused)
    try:
        return bytes(HTML(string=html, base_url=None, url_fetcher=fetcher).write_pdf())
    except Exception as exc:
        if not parsed.body_html:
            raise
        logger.warning(
            "Mise en page du courriel HTML impossible (%s) ; texte brut utilisé", type(exc).__name__
        )
    notes = list(parsed.warnings if warnings is None else warnings)
    if warnings is not None:
        warnings.append(HTML_FALLBACK)
    notes.append(HTML_FALLBACK)
    fallback = ParsedMessage(**{**parsed.__dict__, "body_html": ""})
    html = render_html(fallback, received_at=received_at, warnings=notes, refused=refused)
    return bytes(HTML(string=html, base_url=None, url_fetcher=fetcher).write_pdf())


__all__ = ["Attachment", "data_only_fetcher", "render_html", "render_pdf"]
