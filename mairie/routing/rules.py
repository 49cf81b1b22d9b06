"""Keyword rules for an organisation with no history yet: which common service of a small commune a
letter is for, and what type of courrier it is.

Keywords are matched on the search normalisation (folded, stemmed, stop words dropped), so « Permis de
construire », « PERMIS DE CONSTRUIRE » and « permis construire » are the same phrase. A rule's service is
then found among the organisation's actual services by name (``names``); a commune that has no such
service gets the first of ``fallbacks`` it has (a village often lets État civil keep the cemetery).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from mairie.search.normalise import fold, terms


@dataclass(frozen=True)
class ServiceRule:
    key: str
    names: tuple[str, ...]  # folded fragments of the service names this rule stands for
    keywords: tuple[tuple[str, float], ...]  # (phrase, weight)
    fallbacks: tuple[str, ...] = ("accueil",)


SERVICE_RULES: tuple[ServiceRule, ...] = (
    ServiceRule(
        key="etat_civil",
        names=("etat civil", "etat-civil", "population", "formalites"),
        keywords=(
            ("acte de naissance", 3),
            ("naissance", 2),
            ("mariage", 2),
            ("marier", 2),
            ("pacs", 2),
            ("pacte civil de solidarité", 3),
            ("décès", 1.5),
            ("acte de décès", 3),
            ("livret de famille", 3),
            ("copie intégrale", 2),
            ("extrait d'acte", 2),
            ("reconnaissance anticipée", 3),
            ("changement de prénom", 3),
            ("changement de nom", 2),
            ("officier de l'état civil", 3),
            ("état civil", 2),
            ("recensement citoyen", 2),
            ("mention marginale", 3),
            ("publication des bans", 3),
            ("baptême républicain", 3),
            ("parrainage civil", 3),
            ("attestation d'accueil", 2),
            ("légalisation de signature", 2),
        ),
    ),
    ServiceRule(
        key="urbanisme",
        names=("urbanisme", "ads", "droit des sols", "amenagement"),
        keywords=(
            ("permis de construire", 3),
            ("permis d'aménager", 3),
            ("permis de démolir", 3),
            ("déclaration préalable", 3),
            ("certificat d'urbanisme", 3),
            ("plan local d'urbanisme", 3),
            ("plu", 2),
            ("carte communale", 2),
            ("cadastre", 1.5),
            ("parcelle", 1.5),
            ("cadastrée", 1.5),
            ("zone constructible", 2),
            ("constructible", 1.5),
            ("clôture", 1),
            ("abri de jardin", 2),
            ("piscine", 1.5),
            ("extension", 1),
            ("véranda", 1.5),
            ("construction", 1),
            ("achèvement des travaux", 3),
            ("daact", 3),
            ("droit de préemption", 3),
            ("déclaration d'intention d'aliéner", 3),
            ("dia", 2),
            ("alignement", 1.5),
            ("certificat de numérotage", 2),
            ("adressage", 1.5),
            ("notaire", 1),
        ),
    ),
    ServiceRule(
        key="technique",
        names=("technique", "voirie", "travaux", "espaces verts", "cadre de vie", "environnement"),
        keywords=(
            ("nid-de-poule", 3),
            ("nids-de-poule", 3),
            ("éclairage public", 3),
            ("lampadaire", 2),
            ("candélabre", 2),
            ("trottoir", 2),
            ("chaussée", 2),
            ("voirie", 2),
            ("élagage", 3),
            ("élaguer", 3),
            ("branches", 1.5),
            ("arbre", 1),
            ("haie", 1),
            ("fossé", 2),
            ("caniveau", 2),
            ("avaloir", 2),
            ("eaux pluviales", 2),
            ("inondation", 1),
            ("dépôt sauvage", 3),
            ("encombrants", 2),
            ("déchets", 1),
            ("poubelles", 1),
            ("signalisation", 1.5),
            ("panneau", 1),
            ("ralentisseur", 2),
            ("chemin communal", 1.5),
            ("espaces verts", 2),
            ("tonte", 1.5),
            ("fuite", 1.5),
            ("réparation", 1),
            ("travaux", 0.5),
            ("cantonnier", 2),
            ("déneigement", 2),
        ),
    ),
    ServiceRule(
        key="scolaire",
        names=("scolaire", "ecole", "enfance", "jeunesse", "periscolaire", "education"),
        fallbacks=("accueil",),
        keywords=(
            ("cantine", 3),
            ("restauration scolaire", 3),
            ("école", 2),
            ("inscription scolaire", 3),
            ("périscolaire", 3),
            ("garderie", 3),
            ("accueil de loisirs", 2),
            ("centre de loisirs", 2),
            ("transport scolaire", 3),
            ("élève", 2),
            ("enseignant", 1.5),
            ("directrice de l'école", 2),
            ("classe", 1),
            ("rentrée", 1.5),
            ("maternelle", 2),
            ("élémentaire", 1.5),
            ("dérogation scolaire", 3),
            ("temps d'activités périscolaires", 3),
            ("atsem", 3),
        ),
    ),
    ServiceRule(
        key="finances",
        names=("financ", "comptab", "budget", "tresor"),
        fallbacks=("accueil",),
        keywords=(
            ("facture", 3),
            ("mandat", 1.5),
            ("mandatement", 3),
            ("titre de recette", 3),
            ("trésorerie", 3),
            ("trésor public", 2),
            ("comptable public", 3),
            ("paiement", 1.5),
            ("règlement", 1),
            ("virement", 1.5),
            ("relance", 1),
            ("impayé", 2),
            ("devis", 1.5),
            ("bon de commande", 2),
            ("budget", 1.5),
            ("dotation", 2),
            ("subvention", 1),
            ("emprunt", 2),
            ("taxe", 1),
            ("iban", 2),
            ("rib", 2),
            ("tva", 1.5),
            ("montant", 1),
            ("euros", 0.5),
        ),
    ),
    ServiceRule(
        key="social",
        names=("ccas", "social", "solidarit", "action sociale"),
        fallbacks=("accueil",),
        keywords=(
            ("ccas", 3),
            ("centre communal d'action sociale", 3),
            ("aide sociale", 3),
            ("secours", 2),
            ("aide financière", 2),
            ("banque alimentaire", 3),
            ("colis", 1.5),
            ("personnes âgées", 2),
            ("portage de repas", 3),
            ("allocation", 1.5),
            ("rsa", 2),
            ("logement social", 3),
            ("hlm", 2),
            ("handicap", 2),
            ("apa", 2),
            ("difficultés financières", 2),
            ("précarité", 2),
            ("téléassistance", 3),
            ("domiciliation", 2),
            ("aide ménagère", 2),
        ),
    ),
    ServiceRule(
        key="elections",
        names=("election", "electoral"),
        fallbacks=("etat_civil", "accueil"),
        keywords=(
            ("liste électorale", 3),
            ("listes électorales", 3),
            ("inscription sur les listes", 3),
            ("carte électorale", 3),
            ("carte d'électeur", 3),
            ("procuration", 3),
            ("bureau de vote", 3),
            ("scrutin", 2),
            ("élection", 2),
            ("radiation", 2),
            ("vote", 1.5),
            ("assesseur", 3),
            ("répertoire électoral unique", 3),
        ),
    ),
    ServiceRule(
        key="cimetiere",
        names=("cimetiere", "funeraire"),
        fallbacks=("etat_civil", "technique", "accueil"),
        keywords=(
            ("concession", 3),
            ("cimetière", 3),
            ("inhumation", 3),
            ("exhumation", 3),
            ("caveau", 3),
            ("columbarium", 3),
            ("cavurne", 3),
            ("jardin du souvenir", 3),
            ("sépulture", 3),
            ("tombe", 2),
            ("pompes funèbres", 2),
            ("dispersion des cendres", 3),
            ("urne", 2),
            ("défunt", 1.5),
        ),
    ),
    ServiceRule(
        key="accueil",
        names=("accueil", "secretariat", "administration generale", "direction generale", "vie associative"),
        fallbacks=(),
        keywords=(
            ("salle des fêtes", 3),
            ("salle polyvalente", 3),
            ("réservation", 1.5),
            ("association", 1.5),
            ("subvention", 1.5),
            ("invitation", 1),
            ("convier", 1),
            ("inauguration", 1.5),
            ("conseil municipal", 1),
            ("délibération", 1),
            ("marché", 1),
            ("manifestation", 1.5),
            ("buvette", 2),
            ("prêt de matériel", 2),
            ("tables et chaises", 2),
            ("communauté de communes", 1),
            ("préfecture", 1),
            ("bulletin municipal", 2),
        ),
    ),
)

KIND_RULES: tuple[tuple[str, tuple[tuple[str, float], ...]], ...] = (
    (
        "invoice",
        (("facture", 3), ("relance de paiement", 2), ("montant ttc", 2), ("échéance de paiement", 2)),
    ),
    (
        "complaint",
        (
            ("réclamation", 3),
            ("recours", 3),
            ("plainte", 3),
            ("conteste", 2),
            ("contestation", 2),
            ("mécontentement", 2),
            ("mise en demeure", 3),
            ("inadmissible", 1.5),
            ("nuisance", 1.5),
            ("signaler", 1),
            ("déplorer", 1.5),
        ),
    ),
    (
        "invitation",
        (("invitation", 3), ("convier", 3), ("avoir le plaisir de vous inviter", 3), ("inauguration", 2)),
    ),
    (
        "request",
        (
            ("demande", 1.5),
            ("solliciter", 2),
            ("sollicite", 2),
            ("souhaite", 1.5),
            ("souhaiterais", 1.5),
            ("souhaitons", 1.5),
            ("vous prie de bien vouloir", 1.5),
            ("pourriez-vous", 1.5),
            ("merci de m'indiquer", 1.5),
            ("inscription", 1.5),
            ("inscrire", 1.5),
            ("réservation", 1.5),
            ("autorisation", 1.5),
            ("demander", 1),
            ("dépose", 1.5),
            ("dossier", 1),
            ("déclaration préalable", 2),
            ("permis de construire", 2),
            ("certificat", 1),
            ("devis", 1),
        ),
    ),
)


@lru_cache(maxsize=2048)
def _phrase(phrase: str) -> str:
    return " " + " ".join(terms(phrase)) + " "


def _score(haystack: str, keywords: Sequence[tuple[str, float]]) -> float:
    total = 0.0
    for phrase, weight in keywords:
        needle = _phrase(phrase)
        if needle.strip():
            total += weight * min(haystack.count(needle), 3)
    return total


def haystack(subject: str, body: str) -> str:
    """The terms of a letter as one space-delimited string, the subject counted twice."""
    return " " + " ".join([*terms(subject), *terms(subject), *terms(body)]) + " "


def score_rules(subject: str, body: str) -> dict[str, float]:
    """Score of each service rule for this letter (0 when none of its keywords occurs)."""
    text = haystack(subject, body)
    return {rule.key: _score(text, rule.keywords) for rule in SERVICE_RULES}


def guess_kind(subject: str, body: str) -> str:
    text = haystack(subject, body)
    scores = {kind: _score(text, keywords) for kind, keywords in KIND_RULES}
    best = max(scores, key=lambda k: scores[k])
    return best if scores[best] >= 1.5 else "letter"


def rule_for_service_name(name: str) -> str | None:
    """Which rule an organisation's service stands for, from its name (None: none of them)."""
    folded = " ".join(fold(name).split())
    for rule in SERVICE_RULES:
        if any(fragment in folded for fragment in rule.names):
            return rule.key
    return None


def rank_services(
    subject: str, body: str, services: Sequence[tuple[int, str]], *, top: int = 3
) -> list[tuple[int, float]]:
    """The organisation's services (``(id, name)``) best suited to a letter, with a score between 0 and 1."""
    by_rule: dict[str, int] = {}
    for service_id, name in services:
        key = rule_for_service_name(name)
        if key is not None:
            by_rule.setdefault(key, service_id)
    rules = {rule.key: rule for rule in SERVICE_RULES}
    scores: dict[int, float] = {}
    for key, score in score_rules(subject, body).items():
        target = by_rule.get(key)
        if target is None:
            target = next((by_rule[f] for f in rules[key].fallbacks if f in by_rule), None)
        if target is not None and score > 0:
            scores[target] = scores.get(target, 0.0) + score
    if not scores:
        fallback = by_rule.get("accueil")
        return [(fallback, 0.0)] if fallback is not None else []
    total = sum(scores.values())
    ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:top]
    return [(service_id, score / total) for service_id, score in ranked]
