"""French legal deadlines and urgency, read from a letter's text.

The table below is the whole logic: each row says what wording reveals the procedure, how long the
commune has, and on what legal basis. Texts are matched after accent folding and lower-casing (the same
``fold`` as search), so OCR'd capitals and missing accents match too. When several rows match, the one
ending first wins: it is the one the agent must not miss.

Kept simple on purpose: the deadline runs from the day the courrier was received (the date of the
register), the common case for a letter; an agent corrects it when the procedure says otherwise.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

from mairie.search.normalise import fold


@dataclass(frozen=True)
class DeadlineRule:
    key: str
    label: str  # shown to the agent
    patterns: tuple[str, ...]  # regular expressions on folded text
    months: int = 0
    days: int = 0
    basis: str = ""  # the legal basis, in French, shown to the agent
    urgent: bool = False
    # Extra words that must also be present (e.g. "maison individuelle" for the 2-month permit).
    requires: tuple[str, ...] = ()
    # Wording that, when present, means the rule does not apply (a more specific row takes it).
    unless: tuple[str, ...] = ()


DEADLINE_RULES: tuple[DeadlineRule, ...] = (
    DeadlineRule(
        key="recours_gracieux",
        label="Recours administratif (gracieux ou hiérarchique)",
        patterns=(
            r"recours (?:gracieux|hierarchique|administratif prealable)",
            r"(?:former|forme|formons|introduire|introduis|presente|presenter) (?:un |le present )?recours",
        ),
        months=2,
        basis=(
            "Code des relations entre le public et l'administration (CRPA), art. L411-2 et L231-4 : "
            "l'administration dispose de deux mois pour répondre ; son silence vaut rejet implicite, qui "
            "ouvre au demandeur un nouveau délai de recours contentieux de deux mois devant le tribunal "
            "administratif (code de justice administrative, art. R421-1 et R421-2)."
        ),
    ),
    DeadlineRule(
        key="cada",
        label="Demande de communication de documents administratifs",
        patterns=(
            r"communication (?:de |des |d'un |du |de la )?(?:documents?|pieces?|actes?) administrati",
            r"acces aux documents administratifs",
            r"\bcada\b",
            r"loi (?:n. ?78-753 )?du 17 juillet 1978",
            r"\bl\.? ?311-1\b",
        ),
        months=1,
        basis=(
            "CRPA, art. L311-1 et R311-13 : le silence gardé pendant un mois vaut refus de communication ; "
            "le demandeur peut alors saisir la Commission d'accès aux documents administratifs (CADA) dans "
            "les deux mois (art. R343-1)."
        ),
    ),
    DeadlineRule(
        key="mise_en_demeure",
        label="Mise en demeure",
        patterns=(r"mise? en demeure", r"(?:mets|met|mettons|mettre) en demeure"),
        days=15,
        urgent=True,
        basis=(
            "Mise en demeure : l'expéditeur fixe le délai de réponse (à défaut d'un délai dans la lettre, "
            "échéance prudente de 15 jours) ; sans réponse, il peut engager une action contentieuse ou "
            "rechercher la responsabilité de la commune."
        ),
    ),
    DeadlineRule(
        key="sva_declaration_prealable",
        label="Déclaration préalable (silence vaut non-opposition)",
        patterns=(r"declaration prealable",),
        months=1,
        basis=(
            "Code de l'urbanisme, art. R423-23 a) : délai d'instruction d'un mois à compter du dépôt du "
            "dossier complet ; à défaut de réponse, décision tacite de non-opposition (art. L424-1)."
        ),
    ),
    DeadlineRule(
        key="sva_permis_maison",
        label="Permis de construire une maison individuelle ou de démolir (silence vaut accord)",
        patterns=(r"permis de construire", r"permis de demolir"),
        requires=(r"maison individuelle|permis de demolir|annexe",),
        months=2,
        basis=(
            "Code de l'urbanisme, art. R423-23 b) : deux mois pour un permis de démolir ou un permis de "
            "construire une maison individuelle ou ses annexes ; à défaut de réponse, permis tacite "
            "(art. L424-2)."
        ),
    ),
    DeadlineRule(
        key="sva_permis",
        label="Permis de construire ou d'aménager (silence vaut accord)",
        patterns=(r"permis de construire", r"permis d'amenager"),
        unless=(r"maison individuelle|permis de demolir|annexe",),
        months=3,
        basis=(
            "Code de l'urbanisme, art. R423-23 c) : trois mois pour les autres permis de construire et les "
            "permis d'aménager ; à défaut de réponse, permis tacite (art. L424-2)."
        ),
    ),
    DeadlineRule(
        key="sva_certificat_urbanisme",
        label="Certificat d'urbanisme (silence vaut certificat tacite)",
        patterns=(r"certificat d'urbanisme",),
        months=1,
        basis=(
            "Code de l'urbanisme, art. R410-9 : un mois pour un certificat d'information (deux mois pour un "
            "certificat opérationnel, art. R410-10 : corrigez l'échéance) ; à défaut de réponse, certificat "
            "tacite (art. L410-1)."
        ),
    ),
    DeadlineRule(
        key="sva_autorisation",
        label="Demande d'autorisation (silence vaut accord, en principe)",
        patterns=(r"demande d'autorisation", r"solliciter? (?:l'|votre )autorisation"),
        unless=(r"permis de|declaration prealable",),
        months=2,
        basis=(
            "CRPA, art. L231-1 : le silence gardé pendant deux mois sur une demande vaut en principe "
            "décision d'acceptation ; de nombreuses exceptions existent (art. L231-4 et décrets) : vérifiez "
            "le régime de la demande."
        ),
    ),
)

URGENT_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"\burgen(?:t|te|ts|tes|ce)\b", "« urgent »"),
    (r"dans les plus brefs delais", "« dans les plus brefs délais »"),
    (r"\bdanger", "« danger »"),
    (r"\bperil\b", "« péril »"),
    (r"sans delai\b", "« sans délai »"),
    (r"au plus vite\b", "« au plus vite »"),
)

_NUMBER_WORDS = {
    "un": 1,
    "une": 1,
    "deux": 2,
    "trois": 3,
    "quatre": 4,
    "cinq": 5,
    "six": 6,
    "sept": 7,
    "huit": 8,
    "dix": 10,
    "quinze": 15,
    "vingt": 20,
    "trente": 30,
    "quarante-huit": 48,
    "quarante huit": 48,
    "soixante": 60,
}
_NUMBER = r"(\d{1,3}|" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True)) + r")"
_DELAY_RE = re.compile(
    r"(?:sous|dans un delai de|dans les|d'ici|sous un delai de|delai de|dans)\s+"
    + _NUMBER
    + r"\s*(?:\(\s*\d{1,3}\s*\)\s*)?(jours?|heures?|h\b|semaines?|mois)"
)
_SHORT_DELAYS = {r"sous huitaine": 8, r"sous quinzaine": 15, r"sous (?:48|quarante-huit) ?h": 2}

# Default due dates when no legal deadline applies: days after reception, by courrier type.
DEFAULT_DUE_DAYS: dict[str, tuple[int, str]] = {
    "invoice": (
        30,
        "délai global de paiement des collectivités : 30 jours (code de la commande publique, art. R2192-10)",
    ),
    "request": (30, "délai de réponse habituel à une demande : 30 jours"),
    "complaint": (30, "délai de réponse habituel à une réclamation : 30 jours"),
    "letter": (15, "délai de traitement habituel : 15 jours"),
    "invitation": (15, "réponse à une invitation : 15 jours"),
    "other": (15, "délai de traitement habituel : 15 jours"),
}


@dataclass(frozen=True)
class Deadline:
    rule: DeadlineRule
    due: dt.date
    explanation: str


@dataclass(frozen=True)
class Urgency:
    urgent: bool
    reasons: list[str]


def folded_text(text: str) -> str:
    """Folded, single-spaced text: OCR line breaks and hyphenation do not split the wording looked for."""
    text = fold(text).replace("’", "'").replace("`", "'")
    text = re.sub(r"-\s*\n\s*", "", text)  # "recours gra-\ncieux"
    return " ".join(text.split())


def add_months(day: dt.date, months: int) -> dt.date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def stated_delay(folded: str) -> tuple[dt.timedelta | int, str] | None:
    """A delay the letter states (« sous quinze jours », « dans un délai de 8 jours », « sous huitaine »)."""
    for pattern, days in _SHORT_DELAYS.items():
        found = re.search(pattern, folded)
        if found:
            return dt.timedelta(days=days), found.group(0)
    for found in _DELAY_RE.finditer(folded):
        raw, unit = found.group(1), found.group(2)
        amount = int(raw) if raw.isdigit() else _NUMBER_WORDS[raw]
        if amount <= 0:
            continue
        if unit.startswith("mois"):
            return amount, found.group(0)
        if unit.startswith("semaine"):
            return dt.timedelta(weeks=amount), found.group(0)
        if unit.startswith("h"):
            return dt.timedelta(days=max(1, -(-amount // 24))), found.group(0)
        if amount <= 365:
            return dt.timedelta(days=amount), found.group(0)
    return None


def _applies(rule: DeadlineRule, folded: str) -> bool:
    if not any(re.search(p, folded) for p in rule.patterns):
        return False
    if rule.requires and not all(re.search(p, folded) for p in rule.requires):
        return False
    return not any(re.search(p, folded) for p in rule.unless)


def detect_deadline(text: str, received: dt.date) -> Deadline | None:
    """The legal deadline a letter carries, the earliest when several apply; None for an ordinary letter."""
    folded = folded_text(text)
    found: list[Deadline] = []
    for rule in DEADLINE_RULES:
        if not _applies(rule, folded):
            continue
        explanation = rule.basis
        due = add_months(received, rule.months) + dt.timedelta(days=rule.days)
        if rule.key == "mise_en_demeure":
            delay = stated_delay(folded)
            if delay is not None:
                amount, words = delay
                words = _as_written(text, folded, words)
                due = add_months(received, amount) if isinstance(amount, int) else received + amount
                explanation = f"Délai fixé par la lettre (« {words} »). " + rule.basis
        found.append(Deadline(rule, due, explanation))
    if not found:
        return None
    return min(found, key=lambda d: (d.due, DEADLINE_RULES.index(d.rule)))


def _as_written(text: str, folded: str, words: str) -> str:
    """The letter's own words (with their accents) for a passage found in its folded text, when possible."""
    plain = " ".join(text.replace("’", "'").replace("`", "'").split())
    start = folded.find(words)
    if start < 0 or len(plain) != len(folded) or fold(plain) != folded:
        return words
    return plain[start : start + len(words)]


def detect_urgency(text: str) -> Urgency:
    folded = folded_text(text)
    reasons = [label for pattern, label in URGENT_PATTERNS if re.search(pattern, folded)]
    return Urgency(bool(reasons), reasons)


def default_due(kind: str, received: dt.date) -> tuple[dt.date, str]:
    days, why = DEFAULT_DUE_DAYS.get(kind, DEFAULT_DUE_DAYS["other"])
    return received + dt.timedelta(days=days), why
