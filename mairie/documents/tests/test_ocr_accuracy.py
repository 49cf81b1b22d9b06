"""A scanned French letter (noise, slight rotation, accents) read back through the real intake and job."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from mairie.courrier.services import IncomingFile, register_courrier
from mairie.demo.letters import make_letter
from mairie.demo.scans import Letter, scanned_letter_pdf
from mairie.documents.models import Document

pytestmark = pytest.mark.slow

ACCENTED_PARAGRAPH = (
    "Nous espérons que la fête de l'école aura lieu près du château d'eau ; le maître d'œuvre a reçu "
    "votre lettre à Noël et s'est aperçu que la façade, déjà rénovée l'été dernier, mérite un coût "
    "supplémentaire. Où en êtes-vous ? Sûrement, l'Évêché répondra sans délai à cette requête."
)
WORD = re.compile(r"\w+")


def _words(text: str) -> Counter[str]:
    """Words as a multiset, case and accents kept (``l'école`` gives ``l`` and ``école``)."""
    return Counter(WORD.findall(text))


def _found(expected: Counter[str], read: Counter[str]) -> float:
    return sum((expected & read).values()) / sum(expected.values())


def _letter() -> Letter:
    _, base = make_letter(7)
    return Letter(
        sender=base.sender,
        recipient=base.recipient,
        place_date=base.place_date,
        subject=base.subject,
        paragraphs=[base.paragraphs[0], ACCENTED_PARAGRAPH, *base.paragraphs[1:]],
        signature=base.signature,
    )


@pytest.mark.django_db(transaction=True)
def test_scanned_french_letter_is_read_with_at_least_98_percent_of_its_words(
    world, make_file, run_jobs
) -> None:
    letter = _letter()
    scan = scanned_letter_pdf(letter, seed=1, rotation=1.0, noise=0.002)
    path = make_file("lettre.pdf", scan)
    courrier = register_courrier(
        organisation=world.commune, actor=world.secretary, files=[IncomingFile(path, "lettre.pdf")]
    )
    run_jobs()

    document = Document.objects.get(courrier=courrier)
    assert document.status == Document.Status.DONE, document.error
    assert document.text_source == "ocr"
    expected = _words(letter.full_text)
    read = _words(document.text)
    assert sum(expected.values()) > 150
    missing = sorted((expected - read).elements())
    assert _found(expected, read) >= 0.98, f"mots manqués : {missing}"

    accented = Counter({w: n for w, n in expected.items() if not w.isascii()})
    assert sum(accented.values()) >= 35
    assert {"œuvre", "Évêché", "Sûrement", "façade", "château", "Noël"} <= set(accented)
    assert _found(accented, read) >= 0.98, f"mots accentués manqués : {sorted((accented - read).elements())}"


def test_word_matching_counts_repeated_words_and_respects_case_and_accents() -> None:
    expected = _words("la fête de la fête")
    assert _found(expected, _words("la fête de la fete")) == 4 / 5
    assert _found(expected, _words("La fête de la fête")) == 4 / 5
    assert _found(expected, _words("la fête de fête")) == 4 / 5
