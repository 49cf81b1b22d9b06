"""Files of a dossier (drafts, generated letters, signed versions): checked by content, stored once."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from django.db import transaction

from mairie.documents import store
from mairie.documents.checks import check_file
from mairie.dossiers.models import Dossier, DossierFile
from mairie.dossiers.timeline import record_event
from mairie.organisations.models import Organisation


def store_file(
    *,
    dossier: Dossier,
    content: bytes,
    name: str,
    title: str,
    kind: str = DossierFile.Kind.UPLOADED,
    actor: Any = None,
    derived_from: DossierFile | None = None,
    acting_organisation: Organisation | None = None,
    on_behalf_of: Any = None,
    event_summary: str | None = None,
) -> DossierFile:
    """Check ``content`` like any incoming file (type by content, size, antivirus; ``FileRefused`` with a
    French message otherwise), store it content-addressed, attach it to the dossier and add a timeline event.
    Call inside or outside a transaction; the row and the event commit together."""
    with tempfile.TemporaryDirectory(prefix="mairie-dossier-") as tmp:
        path = Path(tmp) / (Path(name).name or "document")
        path.write_bytes(content)
        checked = check_file(path, name)
        store.write_original(checked)
        with transaction.atomic():
            stored = store.stored_file_for(checked)
            item = DossierFile.objects.create(
                organisation=dossier.organisation,
                dossier=dossier,
                title=title[:200],
                name=Path(name).name[:255],
                kind=kind,
                stored=stored,
                mime_type=checked.mime_type,
                size=checked.size,
                derived_from=derived_from,
                created_by=actor if getattr(actor, "pk", None) else None,
            )
            record_event(
                dossier=dossier,
                kind=f"file.{kind}",
                summary=event_summary or f"Document ajouté : {item.title}",
                actor=actor,
                acting_organisation=acting_organisation,
                on_behalf_of=on_behalf_of,
                data={"file_id": item.pk},
            )
    return item


def read_file(item: DossierFile) -> bytes:
    with store.open_file(item.stored.path) as handle:
        return handle.read()
