from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from mairie.courrier.models import Courrier
from mairie.courrier.services import IncomingFile, add_comment, find_or_create_contact, register_courrier
from mairie.documents.services import process_document
from mairie.organisations.models import Organisation
from mairie.testing.personas import World


def eml_bytes(body: str, number: int) -> bytes:
    """A plain e-mail: its text goes through the real pipeline fast (no OCR), like any document text."""
    message = EmailMessage()
    message["From"] = "expediteur@example.org"
    message["To"] = "accueil@example.org"
    message["Subject"] = "Transmission"
    message["Message-ID"] = f"<piece-{number}@example.org>"
    message.set_content(body)
    return message.as_bytes()


AddCourrier = Callable[..., Courrier]


@pytest.fixture
def add_courrier(world: World, tmp_path: Path) -> AddCourrier:
    """Register a courrier through the real services; ``text`` becomes the text of an attached document."""
    numbers = itertools.count(1)

    def _add(
        subject: str = "",
        *,
        org: Organisation | None = None,
        text: str | None = None,
        sender: str = "",
        sender_email: str = "",
        comments: Iterable[str] = (),
        **fields: Any,
    ) -> Courrier:
        org = org or world.commune
        actor = world.secretary if org == world.commune else world.other_agent
        files = []
        if text is not None:
            number = next(numbers)
            path = tmp_path / f"piece-{number}.eml"
            path.write_bytes(eml_bytes(text, number))
            files.append(IncomingFile(path, path.name))
        contact = find_or_create_contact(organisation=org, name=sender, email=sender_email)
        courrier = register_courrier(
            organisation=org, actor=actor, files=files, subject=subject, contact=contact, **fields
        )
        for document in courrier.documents.all():
            assert process_document(document.pk) == "done"
        for body in comments:
            add_comment(membership=world.membership(actor, org), courrier=courrier, body=body)
        return courrier

    return _add
