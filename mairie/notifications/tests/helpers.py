"""A dossier and its tasks for the tests of notifications, delegation and reminders."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from mairie.dossiers.models import Dossier, Task
from mairie.workflows.models import WorkflowDefinition

DEFINITION = {
    "name": "t",
    "title": "T",
    "initial": "a",
    "statuses": [{"id": "a", "label": "A"}, {"id": "b", "label": "B", "final": True}],
    "transitions": [{"id": "t", "label": "T", "from": ["a"], "to": "b"}],
}

# A fixed moment (Tuesday 10 March 2026, 9 h in Paris): no test depends on the real clock.
NOW = timezone.make_aware(dt.datetime(2026, 3, 10, 9, 0))


def make_dossier(
    organisation: Any, reference: str = "2026-0001", subject: str = "Permis de construire"
) -> Dossier:
    workflow, _ = WorkflowDefinition.objects.get_or_create(
        organisation=organisation, name="t", defaults={"title": "T", "definition": DEFINITION}
    )
    return Dossier.objects.create(
        organisation=organisation,
        holder=organisation,
        reference=reference,
        subject=subject,
        workflow=workflow,
        status="a",
    )


def make_task(dossier: Dossier, *, due_at: dt.datetime | None, **fields: Any) -> Task:
    return Task.objects.create(
        organisation=dossier.organisation,
        dossier=dossier,
        title=fields.pop("title", "Vérifier le dossier"),
        due_at=due_at,
        **fields,
    )
