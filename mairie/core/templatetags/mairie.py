from __future__ import annotations

from typing import Any

from django import template
from django.template.defaultfilters import filesizeformat

register = template.Library()


@register.filter
def can(membership: Any, capability: str) -> bool:
    """``{% if current_membership|can:"courrier.register" %}``"""
    return bool(membership) and membership.can(capability)


@register.filter
def octets(size: int | None) -> str:
    """File sizes in French units (Ko, Mo), whatever the language Django formats them in (KB, Kio…)."""
    if size is None:
        return ""
    return (
        str(filesizeformat(size))
        .replace("KB", "Ko")
        .replace("MB", "Mo")
        .replace("GB", "Go")
        .replace("Kio", "Ko")
        .replace("Mio", "Mo")
        .replace("Gio", "Go")
        .replace("bytes", "octets")
    )


@register.filter
def file_type(mime_type: str) -> str:
    """A document's type in French ("document Word (.docx)"), or its MIME type when it has no name here."""
    from mairie.documents.checks import ACCEPTED

    return ACCEPTED.get(mime_type, mime_type)


@register.filter
def rendition_of(document: Any, kind: str) -> Any:
    """The document's rendition of a kind, from prefetched renditions (no extra query)."""
    return document.rendition(kind)


# Pages shown inline in the viewer; longer documents are opened as PDF.
VIEWER_MAX_PAGES = 30


@register.filter
def page_numbers(document: Any) -> range:
    return range(1, min(document.page_count or 0, VIEWER_MAX_PAGES) + 1)
