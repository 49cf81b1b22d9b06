"""The mayor signs on a phone: the parapheur and a step page in a real Chromium, checked by axe-core."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connections

from mairie.circuits import services
from mairie.circuits.models import Circuit
from mairie.testing.browser import axe_violations, describe, horizontal_overflow, launch, log_in
from mairie.testing.personas import PASSWORD

from .conftest import PIN

PHONE = {"width": 375, "height": 812}


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_mayor_signs_and_visas_on_a_phone(
    world, dossier, new_pdf, mayor_certificate, live_server, monkeypatch
):
    from playwright.sync_api import expect, sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    for title in ("Arrêté de voirie", "Arrêté de stationnement"):
        services.start_circuit(
            dossier=dossier,
            file=new_pdf(title),
            steps=[{"kind": "signature", "agent": "maire"}],
            actor=world.secretary,
        )
    visa = services.start_circuit(
        dossier=dossier,
        file=new_pdf("Note de service"),
        steps=[{"kind": "visa", "role": "elu"}],
        actor=world.secretary,
    )
    base = live_server.url
    failures: dict[str, str] = {}

    def audit(page: Any, name: str) -> None:
        found = axe_violations(page)
        if found:
            failures[name] = describe(found)
        overflow = horizontal_overflow(page)
        if overflow > 0:
            failures[f"{name} (largeur)"] = f"la page dépasse l'écran de {overflow} px"

    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_context(viewport=PHONE, locale="fr-FR").new_page()
            log_in(page, base, world.mayor.username, PASSWORD)
            page.get_by_role("link", name="Parapheur").first.click()
            expect(page.get_by_role("heading", level=1)).to_have_text("Parapheur")
            audit(page, "parapheur")
            page.get_by_label(re.compile("Arrêté de voirie")).check()
            page.get_by_label(re.compile("Arrêté de stationnement")).check()
            page.get_by_label("Code PIN de votre certificat").fill(PIN)
            page.get_by_role("button", name="Signer la sélection").click()
            expect(page.get_by_role("status").first).to_contain_text("2 documents traités")
            audit(page, "parapheur (après signature)")

            page.get_by_role("link", name=re.compile("Détail et décision")).click()
            expect(page.get_by_role("heading", level=1)).to_have_text("Note de service")
            audit(page, "étape")
            page.get_by_role("button", name="Viser (approuver)").click()
            expect(page.get_by_role("status").first).to_contain_text("visé")
            audit(page, "circuit terminé")
        finally:
            connections.close_all()
            browser.close()
    assert not failures, "\n".join(f"{name}:\n{text}" for name, text in failures.items())
    assert Circuit.objects.filter(status=Circuit.Status.APPROVED).count() == 3
    visa.refresh_from_db()
    assert visa.status == Circuit.Status.APPROVED
