"""Originals written before a registration that then fails are removed, never those another one relies on."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connections, transaction

from mairie.courrier.models import Courrier
from mairie.courrier.services import IncomingFile, register_courrier
from mairie.documents import store
from mairie.documents.checks import check_file
from mairie.documents.models import StoredFile
from mairie.documents.tests import samples


def test_failed_registration_removes_the_original_it_wrote(world, make_file, text_pdf, storage_dir) -> None:
    path = make_file("lettre.pdf", text_pdf("Demande de dérogation scolaire"))
    with pytest.raises(ValueError):
        # An unknown channel fails inside the transaction, after the original was written.
        register_courrier(
            organisation=world.commune,
            actor=world.secretary,
            files=[IncomingFile(path, "lettre.pdf")],
            channel="pigeon",
        )
    assert Courrier.objects.count() == 0
    assert StoredFile.objects.count() == 0
    assert samples.files_under(storage_dir) == []
    courrier = register_courrier(
        organisation=world.commune, actor=world.secretary, files=[IncomingFile(path, "lettre.pdf")]
    )
    assert courrier.number == 1


def test_registration_puts_back_bytes_removed_under_its_feet(world, make_file, text_pdf, storage_dir) -> None:
    checked = check_file(make_file("a.pdf", text_pdf("Avis d'enquête publique")), "a.pdf")
    assert store.write_original(checked)
    store.delete(store.original_path(checked.sha256))  # what a concurrent failed registration does
    with transaction.atomic():
        stored = store.stored_file_for(checked)
    assert store.exists(stored.path)
    with store.open_file(stored.path) as handle:
        assert handle.read() == checked.path.read_bytes()


def test_discard_keeps_originals_that_a_registration_references(
    world, make_file, text_pdf, storage_dir
) -> None:
    checked = check_file(make_file("a.pdf", text_pdf("Arrêté de voirie")), "a.pdf")
    store.write_original(checked)
    with transaction.atomic():
        store.stored_file_for(checked)
    store.discard_unreferenced([checked.sha256])
    assert store.exists(store.original_path(checked.sha256))
    assert StoredFile.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_discard_waits_for_a_registration_in_flight_and_leaves_its_file(
    world, make_file, text_pdf, storage_dir
) -> None:
    """A writes the original then fails; B, registering the same bytes, found the file and did not write it."""
    checked = check_file(make_file("circulaire.pdf", text_pdf("Circulaire préfectorale")), "circulaire.pdf")
    assert store.write_original(checked)  # A's write
    b_has_its_row = threading.Event()
    b_may_commit = threading.Event()
    errors: list[BaseException] = []

    def registration_b() -> None:
        try:
            with transaction.atomic():
                store.stored_file_for(checked)
                b_has_its_row.set()
                assert b_may_commit.wait(30)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    def discard_a() -> None:
        try:
            store.discard_unreferenced([checked.sha256])
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    b = threading.Thread(target=registration_b)
    b.start()
    assert b_has_its_row.wait(30)
    a = threading.Thread(target=discard_a)
    a.start()
    time.sleep(0.5)
    assert a.is_alive(), "the discard must wait for the registration in flight"
    b_may_commit.set()
    b.join(30)
    a.join(30)
    assert not errors, errors
    assert StoredFile.objects.count() == 1
    assert store.exists(store.original_path(checked.sha256))
