"""Chrono numbers: unique and without gaps per organisation, direction and year, under concurrency."""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from mairie.audit.services import verify_chain
from mairie.courrier import services
from mairie.courrier.models import ChronoCounter, Courrier, Direction
from mairie.courrier.services import IncomingFile, register_courrier
from mairie.documents import store
from mairie.documents.models import Document, StoredFile
from mairie.organisations.services import create_organisation
from mairie.search.models import SearchEntry

PARIS = ZoneInfo("Europe/Paris")
CHRONO_FORMAT = re.compile(r"^\d{4}-[AD]-\d{6}$")


def _in_threads(count: int, work: Callable[[int], None]) -> list[BaseException]:
    """Run ``work(i)`` in ``count`` real threads started together; each closes its own DB connection."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            work(index)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a registering thread is stuck"
    return errors


class FailOnMarkedSubject:
    """Stands in for index_courrier: raises inside the registering transaction for marked subjects.

    The number has already been taken from the counter when this runs, so a burnt number would show.
    """

    def __init__(self, real: Callable[..., None]) -> None:
        self.real = real
        self.failures = 0
        self.lock = threading.Lock()

    def __call__(self, courrier: Courrier, **kwargs: Any) -> None:
        if courrier.subject.startswith("ÉCHEC"):
            with self.lock:
                self.failures += 1
            raise RuntimeError("panne simulée pendant l'enregistrement")
        self.real(courrier, **kwargs)


@pytest.mark.django_db(transaction=True)
def test_400_courriers_from_8_threads_get_numbers_1_to_400_without_gap(world, monkeypatch):
    failing_index = FailOnMarkedSubject(services.index_courrier)
    monkeypatch.setattr(services, "index_courrier", failing_index)
    org_id = world.commune.pk

    def register_50(thread: int) -> None:
        from mairie.organisations.models import Organisation

        organisation = Organisation.objects.get(pk=org_id)
        for i in range(50):
            if i % 10 == 3:  # every thread also sees registrations fail after taking a number
                with pytest.raises(RuntimeError, match="panne simulée"):
                    register_courrier(organisation=organisation, actor=None, subject=f"ÉCHEC {thread}-{i}")
            register_courrier(organisation=organisation, actor=None, subject=f"Courrier {thread}-{i}")

    errors = _in_threads(8, register_50)

    assert errors == []
    assert failing_index.failures == 8 * 5
    courriers = Courrier.objects.for_org(world.commune)
    numbers = sorted(courriers.values_list("number", flat=True))
    assert numbers == list(range(1, 401))
    year = dt.datetime.now(PARIS).year
    assert {c.chrono for c in courriers} == {f"{year}-A-{n:06d}" for n in range(1, 401)}
    assert not courriers.filter(subject__startswith="ÉCHEC").exists()
    assert (
        ChronoCounter.objects.get(organisation=world.commune, direction=Direction.ARRIVEE, year=year).last
        == 400
    )
    assert SearchEntry.objects.for_org(world.commune).count() == 400
    report = verify_chain(world.commune)
    assert report.ok, report
    assert Courrier.objects.for_org(world.other_commune).count() == 0


@pytest.mark.django_db(transaction=True)
def test_first_courriers_of_a_new_organisation_from_8_threads_share_one_counter(world):
    """The counter row does not exist yet: 8 threads race to create it and still get 1..8."""
    org_id = world.other_commune.pk

    def register_one(thread: int) -> None:
        from mairie.organisations.models import Organisation

        register_courrier(
            organisation=Organisation.objects.get(pk=org_id),
            actor=None,
            subject=f"Premier courrier {thread}",
            direction=Direction.DEPART,
        )

    errors = _in_threads(8, register_one)

    assert errors == []
    numbers = sorted(Courrier.objects.for_org(world.other_commune).values_list("number", flat=True))
    assert numbers == list(range(1, 9))
    assert ChronoCounter.objects.filter(organisation=world.other_commune).count() == 1


@pytest.mark.django_db
def test_chrono_has_year_direction_letter_and_six_digits(world):
    arrivee = register_courrier(organisation=world.commune, actor=None, subject="Demande de permis")
    depart = register_courrier(
        organisation=world.commune, actor=None, subject="Réponse", direction=Direction.DEPART
    )
    year = dt.datetime.now(PARIS).year
    assert arrivee.chrono == f"{year}-A-000001"
    assert depart.chrono == f"{year}-D-000001"
    assert CHRONO_FORMAT.match(arrivee.chrono) and CHRONO_FORMAT.match(depart.chrono)
    assert services.format_chrono(2026, Direction.ARRIVEE, 42) == "2026-A-000042"
    assert services.format_chrono(2026, Direction.DEPART, 7) == "2026-D-000007"


@pytest.mark.django_db
def test_failed_registration_does_not_burn_a_number_nor_keep_its_file(
    world, make_file, text_pdf, monkeypatch
):
    first = register_courrier(organisation=world.commune, actor=None, subject="Avant la panne")
    path = make_file("devis.pdf", text_pdf("Devis pour la réfection du toit de l'église"))
    failing_index = FailOnMarkedSubject(services.index_courrier)
    monkeypatch.setattr(services, "index_courrier", failing_index)

    with pytest.raises(RuntimeError, match="panne simulée"):
        register_courrier(
            organisation=world.commune,
            actor=world.secretary,
            subject="ÉCHEC devis toiture",
            files=[IncomingFile(path, "devis.pdf")],
        )

    assert failing_index.failures == 1
    assert Courrier.objects.for_org(world.commune).count() == 1
    assert Document.objects.count() == 0
    assert StoredFile.objects.count() == 0
    sha = services.check_files([IncomingFile(path, "devis.pdf")])[0][0].sha256
    assert not store.exists(store.original_path(sha))
    entries_before = verify_chain(world.commune).checked

    retried = register_courrier(
        organisation=world.commune,
        actor=world.secretary,
        subject="Devis toiture",
        files=[IncomingFile(path, "devis.pdf")],
    )
    assert retried.number == first.number + 1 == 2
    assert store.exists(store.original_path(sha))
    report = verify_chain(world.commune)
    assert report.ok and report.checked == entries_before + 1


@pytest.mark.django_db
def test_numbering_restarts_each_year_by_the_paris_calendar(world):
    def at(year: int, month: int, day: int, hour: int, minute: int) -> dt.datetime:
        return dt.datetime(year, month, day, hour, minute, tzinfo=PARIS)

    def register(when: dt.datetime) -> str:
        return register_courrier(
            organisation=world.commune, actor=None, subject="Vœux", received_at=when
        ).chrono

    assert register(at(2025, 12, 31, 18, 0)) == "2025-A-000001"
    assert register(at(2025, 12, 31, 23, 59)) == "2025-A-000002"
    # 00:30 in Paris on 1 January is still 31 December in UTC: the Paris year counts.
    assert register(at(2026, 1, 1, 0, 30)) == "2026-A-000001"
    assert register(at(2026, 1, 2, 9, 0)) == "2026-A-000002"
    # A courrier of last year registered late continues last year's sequence.
    assert register(at(2025, 12, 30, 9, 0)) == "2025-A-000003"


@pytest.mark.django_db
def test_numbering_is_independent_per_organisation_and_direction(world):
    def register(org: Any, direction: str) -> int:
        return register_courrier(organisation=org, actor=None, subject="Courrier", direction=direction).number

    assert [register(world.commune, Direction.ARRIVEE) for _ in range(3)] == [1, 2, 3]
    assert [register(world.commune, Direction.DEPART) for _ in range(2)] == [1, 2]
    assert [register(world.other_commune, Direction.ARRIVEE) for _ in range(2)] == [1, 2]
    assert register(world.commune, Direction.ARRIVEE) == 4
    assert register(world.other_commune, Direction.DEPART) == 1
    newcomer = create_organisation(actor=None, slug="montbrun", name="Montbrun", kind="commune")
    assert register(newcomer, Direction.ARRIVEE) == 1
