"""Legal deadlines and urgency read from realistic French letters (no database)."""

from __future__ import annotations

import datetime as dt

from mairie.routing.deadlines import add_months, detect_deadline, detect_urgency

RECEIVED = dt.date(2026, 3, 10)

RECOURS = """Jean-Pierre Garnier
12 chemin des Écoliers
34980 Saint-Aubin-les-Vignes

Madame le Maire
Mairie de Saint-Aubin-les-Vignes

Objet : recours gracieux contre l'arrêté n° 2026-014

Madame le Maire,
Par la présente, je forme un RECOURS GRACIEUX contre l'arrêté municipal du 2 février 2026 refusant
l'accès des riverains au hameau pendant les travaux. Je vous demande de bien vouloir le retirer.
Je vous prie d'agréer, Madame le Maire, l'expression de mes salutations distinguées."""

CADA = """Association Vigilance Citoyenne
Objet : demande de communication de documents administratifs
Monsieur le Maire,
En application des articles L. 311-1 et suivants du code des relations entre le public et
l'administration, je vous demande la communication de la délibération du conseil municipal du
12 janvier 2026 et de ses annexes, au format électronique."""

MISE_EN_DEMEURE = """SARL Bâti-Sud
Objet : mise en demeure de payer — facture n° 2025-118
Monsieur le Maire,
Malgré nos relances, notre facture du 5 novembre 2025 reste impayée. Nous vous mettons en demeure
de procéder à son règlement dans un délai de 8 jours à compter de la réception de la présente,
faute de quoi nous saisirons le tribunal administratif."""

ORDINARY = """Élodie Mercier
4 rue de l'Église
34980 Saint-Aubin-les-Vignes
Objet : réservation de la salle des fêtes
Madame le Maire,
Je souhaite réserver la salle des fêtes le samedi 20 juin pour l'anniversaire de ma mère. Nous
serons une soixantaine de personnes. Je vous remercie de votre réponse dans les meilleurs délais.
Veuillez agréer, Madame le Maire, mes salutations distinguées."""


def test_recours_gracieux_gives_two_months_and_its_legal_basis():
    deadline = detect_deadline(RECOURS, RECEIVED)
    assert deadline is not None
    assert deadline.rule.key == "recours_gracieux"
    assert deadline.due == dt.date(2026, 5, 10)
    assert "rejet implicite" in deadline.explanation and "L411-2" in deadline.explanation


def test_request_for_administrative_documents_gives_one_month():
    deadline = detect_deadline(CADA, RECEIVED)
    assert deadline is not None and deadline.rule.key == "cada"
    assert deadline.due == dt.date(2026, 4, 10)
    assert "CADA" in deadline.explanation


def test_mise_en_demeure_takes_the_delay_written_in_the_letter_and_is_urgent():
    deadline = detect_deadline(MISE_EN_DEMEURE, RECEIVED)
    assert deadline is not None and deadline.rule.key == "mise_en_demeure"
    assert deadline.rule.urgent
    assert deadline.due == RECEIVED + dt.timedelta(days=8)
    assert "« dans un délai de 8 jours »" in deadline.explanation


def test_mise_en_demeure_in_words_and_without_delay():
    in_words = "Je vous mets en demeure de faire cesser ces nuisances sous quinze jours."
    deadline = detect_deadline(in_words, RECEIVED)
    assert deadline is not None and deadline.due == RECEIVED + dt.timedelta(days=15)
    without = "Par la présente, je vous mets en demeure de réparer le mur de soutènement."
    deadline = detect_deadline(without, RECEIVED)
    assert deadline is not None and deadline.due == RECEIVED + dt.timedelta(days=15)
    short = detect_deadline("Mise en demeure : réponse sous huitaine.", RECEIVED)
    assert short is not None and short.due == RECEIVED + dt.timedelta(days=8)


def test_silence_vaut_accord_for_urbanism_requests():
    dp = detect_deadline("Objet : Déclaration préalable pour une clôture", RECEIVED)
    assert dp is not None and dp.rule.key == "sva_declaration_prealable" and dp.due == dt.date(2026, 4, 10)
    house = detect_deadline("Dépôt d'un permis de construire pour une maison individuelle", RECEIVED)
    assert house is not None and house.rule.key == "sva_permis_maison" and house.due == dt.date(2026, 5, 10)
    other = detect_deadline("Permis de construire d'un hangar agricole", RECEIVED)
    assert other is not None and other.rule.key == "sva_permis" and other.due == dt.date(2026, 6, 10)
    auth = detect_deadline("Demande d'autorisation d'occupation du domaine public", RECEIVED)
    assert auth is not None and auth.rule.key == "sva_autorisation" and "L231-1" in auth.explanation


def test_an_ordinary_letter_carries_no_deadline_and_is_not_urgent():
    assert detect_deadline(ORDINARY, RECEIVED) is None
    assert not detect_urgency(ORDINARY).urgent


def test_urgent_wording_is_flagged_with_its_reason():
    urgency = detect_urgency("Un arbre menace de tomber sur l'école : il y a PÉRIL, intervenez au plus vite.")
    assert urgency.urgent and "« péril »" in urgency.reasons and "« au plus vite »" in urgency.reasons
    assert detect_urgency("Merci de traiter ma demande dans les plus brefs délais.").urgent
    assert detect_urgency("C'est urgent.").urgent


def test_ocr_hyphenation_does_not_hide_a_deadline():
    assert detect_deadline("je forme un recours gra-\ncieux contre la décision", RECEIVED) is not None


def test_add_months_keeps_the_end_of_month():
    assert add_months(dt.date(2026, 12, 31), 2) == dt.date(2027, 2, 28)
