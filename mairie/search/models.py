from __future__ import annotations

from django.db import models

from mairie.core.tenancy import TenantManager


class SearchEntry(models.Model):
    """The normalised terms of one courrier; the full-text index is built on top of this table.

    SQLite: an FTS5 table with this table as external content, kept in sync by triggers.
    PostgreSQL: a generated ``tsvector`` column with a GIN index. Both are created by migration 0002.
    Terms are prefixed with the organisation (``o12xecol``) so that a lookup only ever reads the posting
    list of one organisation: search time does not grow with the number of communes on the instance.
    """

    # No index of its own: the terms already carry the organisation, and with an index on this column
    # PostgreSQL's planner reads every index row of the organisation and matches each text instead of
    # asking the full-text index (3.5 ms instead of 1 ms at 100,000 documents, benchmark B4).
    organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    courrier = models.OneToOneField(
        "courrier.Courrier", on_delete=models.CASCADE, related_name="search_entry"
    )
    title_terms = models.TextField()
    body_terms = models.TextField()
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantManager["SearchEntry"]()

    def __str__(self) -> str:
        return f"index de {self.courrier_id}"
