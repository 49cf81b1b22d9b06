from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mairie.courrier.models import Courrier
from mairie.organisations.models import Organisation, Service
from mairie.organisations.services import add_service
from mairie.routing.corpus import SERVICES
from mairie.routing.models import Suggestion
from mairie.routing.services import suggest_for_courrier
from mairie.testing.factories import courrier_with_document


def add_commune_services(organisation: Organisation) -> dict[str, Service]:
    """The services of the generated corpus, added to those every commune starts with."""
    existing = {s.name: s for s in Service.objects.for_org(organisation)}
    for name in SERVICES.values():
        if name not in existing:
            existing[name] = add_service(actor=None, organisation=organisation, name=name)
    return existing


@pytest.fixture
def letter(world: Any) -> Callable[..., tuple[Courrier, Suggestion]]:
    """Register a letter (a text PDF, read as the worker would) and compute its suggestions."""

    def _make(
        text: str, *, org: Organisation | None = None, actor: Any = None, **fields: Any
    ) -> tuple[Courrier, Suggestion]:
        courrier, _ = courrier_with_document(
            organisation=org or world.commune, actor=actor or world.secretary, text=text, **fields
        )
        assert suggest_for_courrier(courrier.pk) == "suggested"
        return courrier, Suggestion.objects.get(courrier=courrier)

    return _make
