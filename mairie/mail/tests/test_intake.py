"""One raw message → one courrier: documents, contact, warnings, duplicates, refusals, no remote fetch."""

from __future__ import annotations

import datetime as dt
import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from mairie.audit.models import AuditEntry
from mairie.courrier.models import Channel, Contact, Courrier, IntakeKey, Status
from mairie.documents import store
from mairie.documents.models import Document, StoredFile
from mairie.documents.pipeline import pdf_page_texts
from mairie.documents.tests import samples
from mairie.documents.tests.conftest import clamd, storage_dir  # noqa: F401 - fixtures
from mairie.mail import intake
from mairie.mail.intake import register_message
from mairie.mail.parsing import ParsedMessage
from mairie.mail.rendering import data_only_fetcher, render_pdf
from mairie.mail.tests import corpus
from mairie.mail.tests.corpus import CORPUS, EXPECTED


def _pdf_text(document: Document) -> str:
    with store.local_copy(document.original.path, suffix=".pdf") as path:
        return "\n".join(pdf_page_texts(path))


def _flat(text: str) -> str:
    return " ".join(text.split()).lower()


@pytest.mark.parametrize("name", list(CORPUS))
def test_every_corpus_message_becomes_a_courrier(name, world) -> None:
    raw = CORPUS[name]
    expected = EXPECTED[name]
    result = register_message(organisation=world.commune, raw=raw, intake_key=("imap", f"1:7:{name}"))

    assert result.status == ("warning" if expected.warning or not expected.subject else "registered"), (
        result.warnings
    )
    assert bool(result.warnings) == (result.status == "warning")
    assert result.message_id == expected.message_id
    courrier = result.courrier
    assert courrier is not None and courrier.chrono
    assert courrier.channel == Channel.EMAIL
    assert courrier.subject == expected.subject
    assert courrier.status == (Status.A_TRAITER if expected.subject else Status.A_ENREGISTRER)

    documents = list(courrier.documents.select_related("original").order_by("position"))
    original, rendition, *attachments = documents
    assert original.original_name == "courriel.eml" and original.mime_type == "message/rfc822"
    assert original.sha256 == hashlib.sha256(raw).hexdigest()  # the immutable original, byte for byte
    with store.open_file(original.original.path) as handle:
        assert handle.read() == raw
    assert rendition.original_name == "courriel.pdf" and rendition.mime_type == "application/pdf"
    assert [d.original_name for d in attachments] == list(expected.attachments)
    assert result.attachments == len(expected.attachments)

    text = _flat(_pdf_text(rendition))
    for word in expected.body_words:
        assert _flat(word) in text, (word, text)
    if expected.subject:
        assert _flat(expected.subject) in text
    for refused in expected.refused:
        assert any(f"« {refused} »" in w for w in result.warnings), result.warnings
        assert refused in text  # listed in the rendition's header, marked as not registered
    if result.warnings:
        assert "avertissements" in text
        entry = AuditEntry.objects.get(organisation=world.commune, action="mail.warnings")
        assert entry.object_id == str(courrier.pk)

    if expected.sender_address:
        assert courrier.contact is not None
        assert courrier.contact.email == expected.sender_address
        assert courrier.contact.name == (expected.sender_name or expected.sender_address)
    else:
        assert courrier.contact is None

    assert IntakeKey.objects.filter(courrier=courrier, source="imap", key=f"1:7:{name}").exists()
    if expected.message_id:
        assert IntakeKey.objects.filter(
            courrier=courrier, source="message-id", key=expected.message_id
        ).exists()


def test_message_date_becomes_the_reception_date_unless_implausible(world) -> None:
    result = register_message(organisation=world.commune, raw=CORPUS["plain_utf8"])
    result.courrier.refresh_from_db()
    assert result.courrier.received_at == dt.datetime(2026, 1, 6, 9, 15, tzinfo=dt.UTC)

    future = CORPUS["latin1_qp"].replace(b"Date: Wed, 07 Jan 2026", b"Date: Wed, 07 Jan 2099")
    result = register_message(organisation=world.commune, raw=future)
    assert result.courrier.received_at.year != 2099
    assert any("invraisemblable" in w for w in result.warnings)

    given = register_message(
        organisation=world.commune,
        raw=CORPUS["cp1252_euro"],
        received_at=result.courrier.received_at.replace(year=2025),
    )
    assert given.courrier.received_at.year == 2025


def test_second_message_from_the_same_address_finds_the_same_contact(world) -> None:
    first = register_message(organisation=world.commune, raw=CORPUS["plain_utf8"])
    again = (
        CORPUS["plain_utf8"]
        .replace(b"plain-utf8-1@", b"plain-utf8-2@")
        .replace(b"From: =?utf-8?q?=C3=89lodie_Lef=C3=A8vre?=", b"From: E. Lefevre")
    )
    second = register_message(organisation=world.commune, raw=again)
    assert second.status == "registered"
    assert second.courrier.pk != first.courrier.pk
    assert second.courrier.contact_id == first.courrier.contact_id
    assert Contact.objects.for_org(world.commune).filter(email="elodie.lefevre@example.org").count() == 1
    assert Contact.objects.get(pk=first.courrier.contact_id).name == "Élodie Lefèvre"  # not overwritten
    # Another commune has its own contacts.
    other = register_message(organisation=world.other_commune, raw=CORPUS["plain_utf8"])
    assert other.status == "registered" and other.courrier.contact_id != first.courrier.contact_id


def test_contact_known_by_address_only_gets_the_name_of_a_later_message(world) -> None:
    bare = CORPUS["plain_utf8"].replace(
        b"From: =?utf-8?q?=C3=89lodie_Lef=C3=A8vre?= <elodie.lefevre@example.org>",
        b"From: elodie.lefevre@example.org",
    )
    first = register_message(organisation=world.commune, raw=bare.replace(b"plain-utf8-1@", b"bare-1@"))
    assert first.courrier.contact.name == "elodie.lefevre@example.org"
    second = register_message(organisation=world.commune, raw=CORPUS["plain_utf8"])
    assert second.courrier.contact_id == first.courrier.contact_id
    assert Contact.objects.get(pk=first.courrier.contact_id).name == "Élodie Lefèvre"


def test_same_message_id_is_a_duplicate_whatever_the_uid(world) -> None:
    first = register_message(
        organisation=world.commune, raw=CORPUS["mixed_alternative"], intake_key=("imap", "1:1:10")
    )
    documents = Document.objects.count()
    # The same message again: another UID (moved back, UIDVALIDITY changed), another mailbox, no key at all.
    for key in [("imap", "1:1:10"), ("imap", "1:2:11"), ("imap", "2:5:3"), None]:
        again = register_message(organisation=world.commune, raw=CORPUS["mixed_alternative"], intake_key=key)
        assert again.status == "duplicate"
        assert again.courrier.pk == first.courrier.pk
        assert again.message_id == "mixed-alt-1@example.com"
    assert Courrier.objects.filter(organisation=world.commune).count() == 1
    assert Document.objects.count() == documents
    # Every key it arrived under now points to it: the IMAP side finds it by its UID next time.
    keys = set(IntakeKey.objects.filter(courrier=first.courrier).values_list("source", "key"))
    assert keys == {
        ("imap", "1:1:10"),
        ("imap", "1:2:11"),
        ("imap", "2:5:3"),
        ("message-id", "mixed-alt-1@example.com"),
    }
    # The same Message-ID in another organisation is another courrier.
    other = register_message(organisation=world.other_commune, raw=CORPUS["mixed_alternative"])
    assert other.status == "registered"


def test_message_without_message_id_is_recognised_by_its_intake_key(world) -> None:
    raw = CORPUS["missing_headers"]
    first = register_message(organisation=world.commune, raw=raw, intake_key=("imap", "1:1:1"))
    assert first.status == "warning" and first.message_id == ""
    again = register_message(organisation=world.commune, raw=raw, intake_key=("imap", "1:1:1"))
    assert again.status == "duplicate" and again.courrier.pk == first.courrier.pk
    assert Courrier.objects.count() == 1


def test_concurrent_registration_of_the_same_message_keeps_one_courrier(
    world,
    storage_dir,  # noqa: F811
    monkeypatch,
) -> None:
    first = register_message(
        organisation=world.commune, raw=CORPUS["nested_multipart"], intake_key=("imap", "1:1:1")
    )
    stored = samples.files_under(storage_dir)
    # Another worker, with the same message under another UID, that did not see the first one's keys when it
    # looked (they were not committed yet): its own registration fails on the key and gives the first.
    real_known = intake._known
    calls = {"n": 0}

    def _known(organisation, *keys):
        calls["n"] += 1
        return None if calls["n"] == 1 else real_known(organisation, *keys)

    monkeypatch.setattr(intake, "_known", _known)
    again = register_message(
        organisation=world.commune, raw=CORPUS["nested_multipart"], intake_key=("imap", "1:1:2")
    )
    assert again.status == "duplicate"
    assert again.courrier.pk == first.courrier.pk
    assert Courrier.objects.count() == 1
    assert samples.files_under(storage_dir) == stored  # nothing left behind by the failed attempt
    assert IntakeKey.objects.filter(courrier=first.courrier, key="1:1:2").exists()


def test_refused_attachments_are_named_in_warnings_and_the_message_is_registered(world) -> None:
    result = register_message(organisation=world.commune, raw=CORPUS["refused_attachments"])
    assert result.status == "warning"
    assert [d.original_name for d in result.courrier.documents.order_by("position")] == [
        "courriel.eml",
        "courriel.pdf",
        "programme.pdf",
    ]
    zip_warning = next(w for w in result.warnings if "« photos.zip »" in w)
    assert "archive ZIP" in zip_warning
    exe_warning = next(w for w in result.warnings if "« diaporama.exe »" in w)
    assert "exécutable" in exe_warning
    assert result.attachments == 1


def test_warnings_are_kept_on_the_courrier_and_shown_on_its_page(world, client) -> None:
    from mairie.testing.personas import login

    result = register_message(organisation=world.commune, raw=CORPUS["refused_attachments"])
    courrier = type(result.courrier).objects.get(pk=result.courrier.pk)
    assert courrier.intake_warnings == result.warnings and len(courrier.intake_warnings) >= 2
    login(client, world.secretary)
    page = client.get(f"/o/{world.commune.slug}/courriers/{courrier.chrono}/").content.decode()
    assert "À vérifier : ce courrier n'a pas pu être lu entièrement" in page
    assert "« photos.zip »" in page


def test_message_with_broken_headers_is_registered_with_warnings(world) -> None:
    for name in ("broken_headers", "missing_headers", "truncated", "wrong_charset"):
        result = register_message(organisation=world.commune, raw=CORPUS[name])
        assert result.status == "warning", name
        assert result.courrier is not None and result.courrier.documents.count() >= 2


def test_unparseable_garbage_is_still_registered_with_its_original(world) -> None:
    raw = b"\x00\x01\x02 ceci n'est pas un courriel \xff\xfe\r\n\r\n\x00"
    result = register_message(organisation=world.commune, raw=raw, intake_key=("imap", "9:9:9"))
    assert result.status == "warning"
    original = result.courrier.documents.get(position=0)
    assert original.sha256 == hashlib.sha256(raw).hexdigest()
    assert original.mime_type == "message/rfc822"


def test_large_message_is_registered(world, storage_dir) -> None:  # noqa: F811
    raw = CORPUS["large"]
    result = register_message(organisation=world.commune, raw=raw)
    assert result.status == "registered"
    [attachment] = result.courrier.documents.filter(position=2)
    assert attachment.original_name == "DCE-complet.pdf" and attachment.size > 15 * 1024 * 1024


def test_empty_subject_is_left_to_complete(world) -> None:
    raw = CORPUS["plain_utf8"].replace(b"Subject: ", b"X-Old-Subject: ")
    result = register_message(organisation=world.commune, raw=raw)
    assert result.status == "warning"
    assert result.courrier.subject == ""
    assert result.courrier.status == Status.A_ENREGISTRER
    assert "Courriel sans objet : objet à compléter." in result.warnings
    assert "(sans objet)" in _pdf_text(result.courrier.documents.get(position=1))


def test_service_and_actor_are_passed_on(world) -> None:
    service = world.service("Services techniques")
    result = register_message(
        organisation=world.commune, raw=CORPUS["plain_utf8"], actor=world.secretary, service=service
    )
    assert result.courrier.service == service
    assert result.courrier.created_by == world.secretary
    assert result.as_json() == {
        "message_id": "plain-utf8-1@example.org",
        "status": "registered",
        "chrono": result.courrier.chrono,
        "attachments": 0,
    }


# --- No remote fetch ---------------------------------------------------------------------------------


@pytest.fixture
def http_spy() -> Iterator[tuple[str, list[str]]]:
    """A local HTTP server that records every request it receives (there must be none)."""
    requests: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/gif")
            self.end_headers()
            self.wfile.write(b"GIF89a")

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.django_db(transaction=True)
def test_hostile_html_runs_nothing_and_fetches_nothing(world, http_spy, run_jobs) -> None:
    base, requests = http_spy
    raw = corpus.hostile_html(remote=f"{base}/pixel.gif")
    result = register_message(organisation=world.commune, raw=raw)
    run_jobs()  # the pipeline reads the .eml and the PDF too
    assert requests == []
    rendition = result.courrier.documents.get(position=1)
    text = _pdf_text(rendition)
    assert "pirate" not in text and "alert" not in text
    assert "Texte important à lire." in text
    assert "image non chargée : Bannière" in text
    assert any("distante" in w for w in result.warnings)
    assert all(d.status == Document.Status.DONE for d in result.courrier.documents.all())


def test_renderer_refuses_every_url_but_data_even_for_unsanitised_html(http_spy) -> None:
    base, requests = http_spy
    fetcher = data_only_fetcher()
    parsed = ParsedMessage(
        subject="Test",
        body_html=(
            f'<link rel="stylesheet" href="{base}/s.css"><style>@import url({base}/i.css);</style>'
            f'<img src="{base}/a.png"><div style="background: url({base}/b.png)">x</div>'
            '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">'
            '<img src="file:///etc/passwd">'
        ),
    )
    pdf = render_pdf(parsed, fetcher=fetcher)
    assert pdf.startswith(b"%PDF-")
    assert requests == []
    assert {f"{base}/a.png", "file:///etc/passwd"} <= set(fetcher.refused)
    assert not any(url.startswith("data:") for url in fetcher.refused)


# --- Pipeline and search -----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_attachment_text_becomes_searchable_after_the_pipeline(world, run_jobs) -> None:
    from mairie.search.services import search_courriers

    result = register_message(organisation=world.commune, raw=CORPUS["rfc2231_filename"])
    run_jobs()
    documents = list(result.courrier.documents.order_by("position"))
    assert all(d.status == Document.Status.DONE for d in documents), [
        (d.original_name, d.error) for d in documents
    ]
    assert documents[1].text_source == "text-layer"  # the body PDF needs no OCR
    assert "comité syndical" in documents[1].text
    # Words only in the attached PDFs, and in the body:
    for query in ("approuve le budget", "annexe budgétaire", "délibération comité"):
        hits = search_courriers(organisation=world.commune, query=query).hits
        assert [h.courrier.pk for h in hits] == [result.courrier.pk], query
    assert search_courriers(organisation=world.other_commune, query="approuve le budget").hits == []


# --- Antivirus ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_infected_attachment_refuses_the_whole_message(world, clamd, settings, storage_dir) -> None:  # noqa: F811
    settings.CLAMD = clamd.socket_path
    result = register_message(
        organisation=world.commune, raw=corpus.eicar_attachment(), intake_key=("imap", "1:1:66")
    )
    assert result.status == "refused"
    assert result.refusal_code == "virus"
    assert not result.temporary
    assert "virus" in result.reason
    assert result.courrier is None
    assert Courrier.objects.count() == Document.objects.count() == StoredFile.objects.count() == 0
    assert not IntakeKey.objects.exists()
    assert samples.files_under(storage_dir) == []
    entry = AuditEntry.objects.get(organisation=world.commune, action="intake.refused.virus")
    assert "compta@arnaque.example" in entry.summary and "Facture impayée" in entry.summary
    assert "eicar-1@arnaque.example" in entry.summary and "virus" in entry.summary
    # A clean message passes the same antivirus.
    clean = register_message(organisation=world.commune, raw=CORPUS["mixed_alternative"])
    assert clean.status == "registered"


@pytest.mark.slow
def test_headerless_message_still_goes_through_the_antivirus(world, clamd, settings) -> None:  # noqa: F811
    # No From and no Received: the checks do not recognise it as an e-mail, intake does; clamd still sees it.
    raw = corpus.eicar_attachment().replace(b"From: ", b"X-From: ")
    settings.CLAMD = clamd.socket_path
    result = register_message(organisation=world.commune, raw=raw)
    assert result.status == "refused" and result.refusal_code == "virus"
    assert Courrier.objects.count() == 0


def test_unreachable_antivirus_is_a_temporary_refusal(world, settings, tmp_path: Path) -> None:
    settings.CLAMD = str(tmp_path / "absent.sock")
    result = register_message(organisation=world.commune, raw=CORPUS["plain_utf8"])
    assert result.status == "refused" and result.temporary
    assert Courrier.objects.count() == 0


# --- Whatever arrives, the mailbox goes on -----------------------------------------------------------


def test_nul_bytes_and_stray_surrogates_never_reach_the_database(world) -> None:
    # PostgreSQL refuses NUL characters and unpaired surrogates in text: headers and names are cleaned.
    raw = (
        b'From: "Jean\x00 \xff Nul" <jean@example.org>\r\n'
        b"Subject: objet\x00 avec \xe9 \xed\xa0\x80 nul\r\n"
        b"Message-ID: <id\x00\xff@example.org>\r\n"
        b'Content-Type: multipart/mixed; boundary="n"\r\n\r\n'
        b"--n\r\nContent-Type: text/plain; charset=utf-8\r\n\r\ntexte \x00 nul\r\n"
        b'--n\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="a\x00\xffb.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        + corpus._b64(corpus.text_pdf("Pièce")).encode()
        + b"\r\n--n--\r\n"
    )
    result = register_message(organisation=world.commune, raw=raw)
    assert result.status == "warning"
    courrier = Courrier.objects.get(pk=result.courrier.pk)
    assert "\x00" not in courrier.subject and courrier.subject.startswith("objet")
    assert courrier.contact.email == "jean@example.org" and "\x00" not in courrier.contact.name
    [attachment] = courrier.documents.filter(position=2)
    assert attachment.original_name.endswith(".pdf") and "\x00" not in attachment.original_name
    assert "\x00" not in result.message_id
    assert IntakeKey.objects.filter(source="message-id", key=result.message_id).exists()


@given(st.data())
@hypothesis_settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_mutated_messages_are_registered_or_recognised_never_raise(world, data) -> None:
    names = list(CORPUS)
    raw = bytearray(CORPUS[data.draw(st.sampled_from(names))])
    for _ in range(data.draw(st.integers(1, 6))):
        position = data.draw(st.integers(0, max(len(raw) - 1, 0)))
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip" and raw:
            raw[position] = data.draw(st.integers(0, 255))
        elif action == "cut":
            del raw[position : position + data.draw(st.integers(1, 300))]
        else:
            raw[position:position] = data.draw(st.binary(min_size=1, max_size=30))
    result = register_message(organisation=world.commune, raw=bytes(raw))
    if not raw:  # nothing left to keep: refused as empty, with a French reason
        assert (result.status, result.refusal_code, result.courrier) == ("refused", "empty", None)
        assert "vide" in result.reason
        return
    assert result.status in {"registered", "warning", "duplicate"}
    assert result.courrier is not None
    assert result.courrier.documents.filter(
        position=0, original__sha256=hashlib.sha256(raw).hexdigest()
    ).exists() or (result.status == "duplicate")
