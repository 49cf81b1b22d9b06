from __future__ import annotations

import pytest

from mairie.courrier.services import IncomingFile, register_courrier
from mairie.documents.models import Document
from mairie.search.services import search_courriers


@pytest.mark.django_db(transaction=True)
def test_scanned_letter_is_registered_ocred_and_found(world, make_file, scanned_pdf, run_jobs):
    path = make_file("lettre.pdf", scanned_pdf(1))
    courrier = register_courrier(
        organisation=world.commune, actor=world.secretary, files=[IncomingFile(path, "lettre.pdf")]
    )
    assert courrier.chrono.endswith("-A-000001")
    run_jobs()
    document = Document.objects.get(courrier=courrier)
    assert document.status == Document.Status.DONE, document.error
    assert "cantine" in document.text
    result = search_courriers(organisation=world.commune, query="CANTINE scolaire")
    assert [h.courrier.pk for h in result.hits] == [courrier.pk]
    assert "<mark>" in result.hits[0].snippet
    assert search_courriers(organisation=world.other_commune, query="cantine").hits == []
