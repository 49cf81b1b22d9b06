"""Realistic French letters to a small mairie, for the demo, tests and benchmarks."""

from __future__ import annotations

import datetime as dt
import random

from mairie.demo.scans import Letter

FIRST_NAMES = [
    "Élodie",
    "François",
    "Hélène",
    "Jérôme",
    "Mathilde",
    "Noël",
    "Anaïs",
    "Grégoire",
    "Léa",
    "Thérèse",
    "Benoît",
    "Agnès",
    "Raphaël",
    "Maëlle",
    "Joël",
    "Cécile",
]
LAST_NAMES = [
    "Lefèvre",
    "Garnier",
    "Mercier",
    "Rousseau",
    "Faure",
    "André",
    "Chevalier",
    "Bérard",
    "Gauthier",
    "Dufour",
    "Noël",
    "Brémond",
    "Périer",
    "Roché",
    "Séverac",
    "Aubépin",
]
STREETS = [
    "rue de l'Église",
    "chemin des Écoliers",
    "place de la Mairie",
    "route de Saint-Gély",
    "impasse des Lilas",
    "avenue du Général de Gaulle",
    "rue du Château d'eau",
    "chemin de la Fontaine",
]

TOPICS: list[tuple[str, str, list[str]]] = [
    (
        "request",
        "Demande d'autorisation d'occupation du domaine public",
        [
            "J'ai l'honneur de solliciter l'autorisation d'installer un échafaudage devant mon domicile afin de procéder "
            "à la réfection complète de la façade, du lundi 14 décembre au vendredi 8 janvier.",
            "L'échafaudage occupera environ deux mètres de trottoir ; un passage sécurisé sera maintenu pour les piétons "
            "et une signalisation sera mise en place par l'entreprise.",
        ],
    ),
    (
        "request",
        "Demande d'inscription à la cantine scolaire",
        [
            "Je souhaite inscrire ma fille, élève de CE2 à l'école communale, au service de restauration scolaire à "
            "compter de la rentrée de janvier, les lundis, mardis et jeudis.",
            "Vous trouverez ci-joint l'attestation d'assurance et le justificatif de domicile demandés.",
        ],
    ),
    (
        "complaint",
        "Réclamation concernant l'éclairage public",
        [
            "Depuis plus de trois semaines, les lampadaires de notre rue restent éteints toute la nuit, ce qui rend "
            "la circulation des piétons dangereuse, en particulier pour les enfants qui se rendent à l'arrêt de bus.",
            "Je vous remercie de bien vouloir faire intervenir les services techniques dans les meilleurs délais.",
        ],
    ),
    (
        "request",
        "Demande d'acte de naissance",
        [
            "Je vous prie de bien vouloir m'adresser une copie intégrale de mon acte de naissance, nécessaire à la "
            "constitution de mon dossier de demande de passeport.",
            "Je suis née dans votre commune ; vous trouverez ci-dessous mes nom, prénoms et date de naissance.",
        ],
    ),
    (
        "request",
        "Réservation de la salle des fêtes",
        [
            "Notre association souhaite réserver la salle des fêtes le samedi 20 février pour son assemblée générale "
            "annuelle, suivie d'un repas réunissant une soixantaine d'adhérents.",
            "Nous nous engageons à respecter le règlement intérieur et à restituer la salle propre et rangée.",
        ],
    ),
    (
        "invoice",
        "Facture de travaux de voirie",
        [
            "Veuillez trouver ci-joint notre facture relative aux travaux de réfection de la chaussée du chemin "
            "communal, réalisés conformément au devis accepté et au bon de commande de la mairie.",
            "Le règlement est attendu sous trente jours par virement au Trésor public.",
        ],
    ),
    (
        "invitation",
        "Invitation à l'inauguration de la médiathèque intercommunale",
        [
            "Le président de la communauté de communes a le plaisir de vous convier à l'inauguration de la médiathèque "
            "intercommunale, qui se tiendra en présence des maires du territoire.",
            "Une visite des nouveaux espaces et un verre de l'amitié suivront les discours.",
        ],
    ),
    (
        "complaint",
        "Recours gracieux contre un arrêté de voirie",
        [
            "Par la présente, je forme un recours gracieux contre l'arrêté municipal réglementant la circulation dans "
            "le hameau, qui interdit l'accès des riverains à leur propriété pendant la durée des travaux.",
            "Je vous demande de bien vouloir retirer cet arrêté ou d'en modifier les dispositions.",
        ],
    ),
    (
        "letter",
        "Délibérations du conseil communautaire",
        [
            "Je vous prie de trouver ci-joint les délibérations adoptées par le conseil communautaire lors de sa "
            "dernière séance, concernant la compétence eau et assainissement et le budget annexe des déchets.",
            "Ces délibérations ont été transmises au contrôle de légalité et sont exécutoires.",
        ],
    ),
    (
        "request",
        "Demande de certificat d'adressage",
        [
            "Dans le cadre de la vente de ma maison, le notaire me demande un certificat d'adressage attestant du numéro "
            "attribué à la parcelle située au lieu-dit la Garrigue.",
            "Je vous remercie par avance de votre diligence.",
        ],
    ),
]


def make_letter(
    index: int,
    *,
    commune: str = "Saint-Aubin-les-Vignes",
    mayor: str = "Madame le Maire",
    written: dt.date | None = None,
) -> tuple[str, Letter]:
    """The index-th demo letter (deterministic) and its courrier type, dated ``written`` when given."""
    rng = random.Random(index)
    kind, subject, paragraphs = TOPICS[index % len(TOPICS)]
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    number = rng.randint(1, 48)
    street = rng.choice(STREETS)
    day, month, year = 1 + index % 27, index % 12, 2026
    if written is not None:
        day, month, year = written.day, written.month - 1, written.year
    months = [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ]
    letter = Letter(
        sender=[f"{first} {last}", f"{number} {street}", f"34980 {commune}"],
        recipient=[mayor, f"Mairie de {commune}", "Place de la Mairie", f"34980 {commune}"],
        place_date=f"{commune}, le {day} {months[month]} {year}",
        subject=subject,
        paragraphs=[
            f"{mayor},",
            *paragraphs,
            f"Je vous prie d'agréer, {mayor}, l'expression de mes salutations distinguées.",
        ],
        signature=f"{first} {last}",
    )
    return kind, letter
