from __future__ import annotations

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from mairie.audit.services import verify_chain
from mairie.courrier.models import Courrier, Status
from mairie.demo.services import DEMO_PASSWORD, LOGINS, create_demo
from mairie.documents.models import Document
from mairie.organisations.models import Organisation


@pytest.mark.django_db(transaction=True)
def test_demo_is_complete_idempotent_and_goes_through_the_real_pipeline(run_jobs, capsys):
    first = create_demo(letters=5)
    assert first["courriers_created"] == 9  # 5 scanned letters and 4 e-mails in Saint-Aubin
    assert first["dossiers_created"] == 3
    kinds = dict(Organisation.objects.values_list("slug", "kind"))
    assert kinds == {
        "numerique-34": "syndicat",
        "cc-grand-pic": "epci",
        "saint-aubin": "commune",
        "montbrun": "commune",
        "villeneuve": "commune",
    }
    small = Organisation.objects.get(slug="saint-aubin")
    assert small.population == 412
    assert small.parent.slug == "cc-grand-pic" and small.parent.parent.slug == "numerique-34"
    for login in LOGINS:
        assert authenticate(username=login.username, password=DEMO_PASSWORD) is not None, login.username

    call_command("demo", letters=5)
    out = capsys.readouterr().out
    assert "déjà en place" in out and "Mairie-demo-2026" in out and "admin-syndicat" in out
    assert "246810" in out  # the mayor's signing PIN
    from mairie.circuits.models import Circuit
    from mairie.dossiers.models import Dossier

    dossiers = Dossier.objects.filter(organisation=small)
    assert sorted(dossiers.values_list("status", flat=True)) == [
        "avis_technique",
        "instruction_epci",
        "visa_signature",
    ]
    assert dossiers.get(status="instruction_epci").holder.slug == "cc-grand-pic"
    assert Circuit.objects.filter(dossier__in=dossiers).count() == 1
    assert Courrier.objects.count() == 9

    run_jobs()
    scans = Document.objects.exclude(courrier__channel="email")
    assert scans.count() == 5
    assert all(d.status == Document.Status.DONE and d.text_source == "ocr" for d in scans)
    emails = Courrier.objects.filter(channel="email", organisation__slug="saint-aubin")
    assert emails.count() == 4
    assert all(d.status == Document.Status.DONE for d in Document.objects.filter(courrier__in=emails))
    assert emails.exclude(intake_warnings=[]).exists()  # one shows what could not be kept
    assert Courrier.objects.filter(status=Status.A_ENREGISTRER).exists()
    for org in Organisation.objects.all():
        assert verify_chain(org).ok


def test_a_demo_letter_is_dated_when_it_was_written():
    import datetime as dt

    from mairie.demo.letters import make_letter

    _, letter = make_letter(3, commune="Montbrun-le-Haut", written=dt.date(2026, 11, 24))
    assert letter.place_date == "Montbrun-le-Haut, le 24 novembre 2026"
