"""Optional ClamAV scan (MAIRIE_CLAMD): infected files are refused and journaled; no daemon, no intake."""

from __future__ import annotations

import pytest

from mairie.audit.models import AuditEntry
from mairie.courrier.models import Courrier
from mairie.courrier.services import IncomingFile, RegistrationRefused, register_courrier
from mairie.documents.checks import FileRefused, check_file
from mairie.documents.models import Document, StoredFile
from mairie.documents.tests import samples
from mairie.documents.tests.conftest import _free_port

pytestmark = pytest.mark.slow


@pytest.fixture(params=["socket", "tcp"])
def with_clamd(request, clamd, settings) -> str:
    settings.CLAMD = clamd.socket_path if request.param == "socket" else clamd.tcp_address
    return settings.CLAMD


def test_eicar_file_is_refused_as_a_virus_and_journaled(with_clamd, world, make_file, storage_dir) -> None:
    path = make_file("facture.pdf", samples.EICAR)
    with pytest.raises(RegistrationRefused) as refused:
        register_courrier(
            organisation=world.commune, actor=world.secretary, files=[IncomingFile(path, "facture.pdf")]
        )
    [(name, refusal)] = refused.value.refusals
    assert name == "facture.pdf"
    assert refusal.code == "virus"
    assert (
        refusal.message
        == "Le fichier « facture.pdf » contient un virus (Test.EICAR.UNOFFICIAL) : il a été refusé."
    )
    entry = AuditEntry.objects.get(organisation=world.commune, action="intake.refused.virus")
    assert entry.actor == world.secretary
    assert "facture.pdf" in entry.summary and "virus" in entry.summary
    assert Courrier.objects.count() == Document.objects.count() == StoredFile.objects.count() == 0
    assert samples.files_under(storage_dir) == []


def test_email_carrying_eicar_as_attachment_is_refused(with_clamd, make_file) -> None:
    # An .eml is an accepted type: only the antivirus (which decodes the attachment) can stop it.
    path = make_file("message.eml", samples.email_bytes(attachment=samples.EICAR))
    with pytest.raises(FileRefused) as refused:
        check_file(path, "message.eml")
    assert refused.value.code == "virus"


def test_clean_files_pass_the_antivirus(with_clamd, world, make_file, text_pdf) -> None:
    pdf = make_file("lettre.pdf", text_pdf("Demande d'inscription sur les listes électorales"))
    mail = make_file("message.eml", samples.email_bytes())
    courrier = register_courrier(
        organisation=world.commune,
        actor=world.secretary,
        files=[IncomingFile(pdf, "lettre.pdf"), IncomingFile(mail, "message.eml")],
    )
    assert courrier.documents.count() == 2
    assert not AuditEntry.objects.filter(action__startswith="intake.refused").exists()


def test_file_larger_than_clamd_accepts_is_refused_not_let_through(with_clamd, make_file, text_pdf) -> None:
    # clamd's StreamMaxLength is 1 MB in the test daemon (25 MB by default: see docs/configuration.md).
    path = make_file("gros.pdf", text_pdf("Rapport") + b"%" + b"x" * 1_500_000)
    with pytest.raises(FileRefused) as refused:
        check_file(path, "gros.pdf")
    assert refused.value.code == "antivirus_too_large"
    assert "plus grand que ce que l'antivirus accepte d'analyser" in refused.value.message


@pytest.mark.parametrize("where", ["tcp", "socket"])
def test_unreachable_antivirus_refuses_rather_than_accepting_unscanned(
    where, settings, world, make_file, text_pdf, tmp_path, storage_dir
) -> None:
    settings.CLAMD = f"127.0.0.1:{_free_port()}" if where == "tcp" else str(tmp_path / "absent.sock")
    path = make_file("lettre.pdf", text_pdf("Lettre parfaitement saine"))
    with pytest.raises(RegistrationRefused) as refused:
        register_courrier(
            organisation=world.commune, actor=world.secretary, files=[IncomingFile(path, "lettre.pdf")]
        )
    [(_, refusal)] = refused.value.refusals
    assert refusal.code == "antivirus_unavailable"
    assert refusal.message == (
        "Le fichier « lettre.pdf » n'a pas pu être analysé par l'antivirus ; réessayez plus tard ou "
        "prévenez l'administrateur."
    )
    assert AuditEntry.objects.filter(action="intake.refused.antivirus_unavailable").count() == 1
    assert Courrier.objects.count() == 0
    assert samples.files_under(storage_dir) == []


def test_without_clamd_setting_nothing_is_scanned(settings, make_file) -> None:
    settings.CLAMD = ""
    # The EICAR string alone is then just an unknown type, refused for that reason.
    with pytest.raises(FileRefused) as refused:
        check_file(make_file("eicar.com", samples.EICAR), "eicar.com")
    assert refused.value.code == "type"
