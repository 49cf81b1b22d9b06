"""In a real Chromium, checked by axe-core: the secretary makes a dossier of a courrier in one click and moves
it on; the agent finds his task; the administrator sees a workflow's diagram. Desktop and phone widths."""

from __future__ import annotations

import re
from typing import Any

import pyotp
import pytest
from django.db import connections
from django.utils import timezone

from mairie.accounts.models import TOTPDevice
from mairie.dossiers.models import Dossier, Task
from mairie.testing.browser import axe_violations, describe, horizontal_overflow, launch, log_in
from mairie.testing.personas import PASSWORD

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_dossier_from_a_courrier_in_the_browser(world, simple_workflow, incoming, live_server, monkeypatch):
    from playwright.sync_api import expect, sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    base = live_server.url
    failures: dict[str, str] = {}

    def audit(page: Any, name: str, *, phone: bool = False) -> None:
        found = axe_violations(page)
        if found:
            failures[name] = describe(found)
        if phone and horizontal_overflow(page) > 0:
            failures[f"{name} (largeur)"] = f"la page dépasse l'écran de {horizontal_overflow(page)} px"

    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_context(viewport=DESKTOP, locale="fr-FR").new_page()
            log_in(page, base, world.secretary.username, PASSWORD)
            page.goto(f"{base}/o/saint-aubin/courriers/{incoming.chrono}/")
            page.get_by_label("Circuit de traitement").select_option(label="Demande simple")
            page.get_by_role("button", name="Créer un dossier à partir de ce courrier").click()
            expect(page.get_by_role("heading", level=1)).to_contain_text("Demande d'abattage")
            audit(page, "dossier")
            page.get_by_label("Commentaire (facultatif, visible dans l'historique)").fill("Vu avec M. Martin")
            page.get_by_role("button", name="Instruire").click()
            expect(page.get_by_role("status").first).to_contain_text("En instruction")
            expect(page.locator("#historique")).to_contain_text("Vu avec M. Martin")
            audit(page, "dossier (après la transition)")
            page.close()

            phone = browser.new_context(viewport=PHONE, locale="fr-FR").new_page()
            log_in(phone, base, world.agent.username, PASSWORD)
            phone.goto(f"{base}/o/saint-aubin/taches/")
            expect(phone.get_by_role("table")).to_contain_text("Étudier la demande")
            audit(phone, "mes tâches (téléphone)", phone=True)
            phone.get_by_role("button", name=re.compile("Marquer comme faite")).click()
            expect(phone.get_by_role("status").first).to_contain_text("faite")
            phone.goto(f"{base}/o/saint-aubin/dossiers/{Dossier.objects.get().pk}/")
            phone.get_by_text("Schéma du circuit").click()  # the diagram, opened, must fit too
            audit(phone, "dossier (téléphone)", phone=True)
            phone.close()

            admin = browser.new_context(viewport=DESKTOP, locale="fr-FR").new_page()
            secret = pyotp.random_base32()
            TOTPDevice.objects.create(user=world.commune_admin, secret=secret, confirmed_at=timezone.now())
            log_in(admin, base, world.commune_admin.username, PASSWORD)
            admin.get_by_label("Code à 6 chiffres").fill(pyotp.TOTP(secret).now())
            admin.get_by_role("button", name="Valider").click()
            admin.goto(f"{base}/o/saint-aubin/dossiers/")
            expect(admin.get_by_role("table")).to_contain_text("Demande d'abattage")
            audit(admin, "liste des dossiers")
            admin.get_by_role("link", name="Circuits de traitement").click()
            audit(admin, "circuits de traitement")
            admin.get_by_role("link", name=re.compile("Demande simple")).first.click()
            expect(admin.locator("svg").first).to_be_visible()
            audit(admin, "schéma du circuit")
        finally:
            connections.close_all()
            browser.close()
    assert not failures, "\n".join(f"{name}:\n{text}" for name, text in failures.items())
    dossier = Dossier.objects.get()
    assert dossier.status == "instruction"
    assert Task.objects.get(dossier=dossier).status == Task.Status.DONE
