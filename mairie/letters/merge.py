"""Merge fields of letter templates: ``{{ contact.nom }}``, ``{{ courrier.chrono }}``, ``{{ date_du_jour }}``…

Templates are written by a commune's administrators, in the Django template language restricted to what a
letter needs: text, the fields listed in ``FIELDS`` and a few filters. Any other tag (``{% include %}``,
``{% load %}``, ``{% debug %}``…), filter or field is refused with a French message listing what is
available, when the template is saved and again when it is used. The context is a dict of plain strings
built here: a template never reaches a model, a method or the settings.

The merge produces *plain text* (autoescape off), which the agent then edits in the reply form; the text is
escaped once, when it is laid into the letter's HTML (``{{ …|linebreaksbr }}`` with autoescape on) and in
the e-mail it is plain text. Escaping at the merge would show ``&lt;`` in the form and in the e-mail.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from django.template import Context, Engine, Template, TemplateSyntaxError
from django.template.base import FilterExpression, Node, TextNode, Variable, VariableNode
from django.template.defaulttags import CommentNode
from django.utils import timezone

# Every field a template may use, in the order the help shows them, with what it becomes.
FIELDS: dict[str, str] = {
    "contact.civilite_complete": "formule d'appel : « Madame, Monsieur »",
    "contact.nom": "nom du correspondant (ou de l'organisme)",
    "contact.prenom": "prénom du correspondant",
    "contact.nom_complet": "prénom et nom, ou nom de l'organisme",
    "contact.organisme": "organisme du correspondant",
    "contact.adresse": "adresse postale du correspondant",
    "contact.email": "adresse électronique du correspondant",
    "courrier.chrono": "numéro chrono du courrier reçu",
    "courrier.objet": "objet du courrier reçu",
    "courrier.date_reception": "date de réception, en toutes lettres",
    "dossier.reference": "référence du dossier (lettres écrites depuis un dossier)",
    "dossier.objet": "objet du dossier",
    "dossier.etape": "étape où en est le dossier",
    "date_du_jour": "date du jour, en toutes lettres",
    "commune.nom": "nom de la commune (ou de l'organisation)",
    "commune.adresse": "adresse postale de la mairie",
    "commune.ville": "commune de l'adresse de la mairie",
    "commune.telephone": "téléphone de la mairie",
    "commune.email": "adresse électronique de la mairie",
    "signataire": "prénom et nom de l'agent qui répond",
    "signataire_fonction": "fonction de l'agent qui répond",
}
ALLOWED_FILTERS = {"upper", "lower", "capfirst", "title", "default"}

MONTHS = (
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
)

# Its own engine: no template directory, no loader, no library to {% load %}; autoescape off (see above).
_ENGINE = Engine(dirs=[], app_dirs=False, loaders=[], libraries={}, autoescape=False, string_if_invalid="")


class MergeError(ValueError):
    """A template that cannot be used, with the French explanation for its author."""


def french_date(value: dt.date | dt.datetime) -> str:
    """« 1er décembre 2026 », « 29 novembre 2026 »."""
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value).date()
    day = "1er" if value.day == 1 else str(value.day)
    return f"{day} {MONTHS[value.month - 1]} {value.year}"


def available_fields_text() -> str:
    return ", ".join("{{ " + name + " }}" for name in FIELDS)


def _check_expression(expression: FilterExpression, unknown: list[str], problems: list[str]) -> None:
    var = expression.var
    if isinstance(var, Variable) and var.lookups is not None:
        name = ".".join(var.lookups)
        if name not in FIELDS:
            unknown.append(name)
    for func, args in expression.filters:
        name = getattr(func, "__name__", str(func))
        if name not in ALLOWED_FILTERS:
            problems.append(
                f"Le filtre « {name} » n'est pas permis (permis : {', '.join(sorted(ALLOWED_FILTERS))})."
            )
        for is_var, arg in args:
            if is_var and isinstance(arg, Variable) and arg.lookups is not None:
                arg_name = ".".join(arg.lookups)
                if arg_name not in FIELDS:
                    unknown.append(arg_name)


def _check_nodes(nodes: list[Node], unknown: list[str], problems: list[str]) -> None:
    for node in nodes:
        if isinstance(node, TextNode):
            if "{{" in node.s or "{%" in node.s:
                problems.append(
                    "Des accolades ne sont pas refermées : écrivez les champs ainsi : {{ contact.nom }}."
                )
            continue
        if isinstance(node, CommentNode):
            continue
        if isinstance(node, VariableNode):
            _check_expression(node.filter_expression, unknown, problems)
            continue
        token = getattr(node, "token", None)
        shown = "{% " + token.contents.split()[0] + " %}" if token is not None and token.contents else "?"
        problems.append(
            f"La balise {shown} n'est pas permise dans un modèle de lettre : "
            "seuls le texte et les champs {{ … }} le sont."
        )


def compile_template(source: str) -> Template:
    """The template, checked; MergeError in French when it uses anything else than the letter fields."""
    try:
        template = _ENGINE.from_string(source)
    except TemplateSyntaxError as exc:
        raise MergeError(
            "Le modèle contient une balise ou des accolades mal formées "
            f"(écrivez les champs ainsi : {{{{ contact.nom }}}} ; détail technique : {exc})."
        ) from exc
    unknown: list[str] = []
    problems: list[str] = []
    _check_nodes(list(template.nodelist), unknown, problems)
    if unknown:
        names = ", ".join("{{ " + n + " }}" for n in dict.fromkeys(unknown))
        problems.insert(
            0,
            f"Champ{'s' if len(set(unknown)) > 1 else ''} inconnu{'s' if len(set(unknown)) > 1 else ''} : "
            f"{names}. Champs disponibles : {available_fields_text()}.",
        )
    if problems:
        raise MergeError(" ".join(problems))
    return template


def render(source: str, context: dict[str, Any]) -> str:
    """Merge a checked template with a context of plain strings (see ``letter_context``)."""
    return compile_template(source).render(Context(context, autoescape=False)).strip()


@dataclass(frozen=True)
class Signer:
    name: str
    title: str = ""


def _contact_fields(contact: Any) -> dict[str, str]:
    if contact is None:
        return {
            "civilite_complete": "Madame, Monsieur",
            "nom": "",
            "prenom": "",
            "nom_complet": "",
            "organisme": "",
            "adresse": "",
            "email": "",
        }
    return {
        # The register does not record a civility: the formula that suits everyone.
        "civilite_complete": "Madame, Monsieur",
        "nom": str(contact.name or ""),
        "prenom": str(contact.first_name or ""),
        "nom_complet": str(contact.display_name or ""),
        "organisme": str(contact.body_name or ""),
        "adresse": str(contact.postal_address or ""),
        "email": str(contact.email or ""),
    }


def letter_context(
    *,
    organisation: Any,
    courrier: Any,
    signer: Signer,
    today: dt.date | None = None,
) -> dict[str, Any]:
    """The merge context of a reply to ``courrier``: nested dicts of plain strings only."""
    today = today or timezone.localdate()
    contact = getattr(courrier, "contact", None)
    return {
        "contact": _contact_fields(contact),
        "courrier": {
            "chrono": str(courrier.chrono or ""),
            "objet": str(courrier.subject or "votre courrier"),
            "date_reception": french_date(courrier.received_at),
        },
        "date_du_jour": french_date(today),
        "commune": {
            "nom": str(organisation.name),
            "adresse": str(organisation.postal_address),
            "ville": str(organisation.city or organisation.name),
            "telephone": str(organisation.phone or ""),
            "email": str(organisation.email or ""),
        },
        "signataire": signer.name,
        "signataire_fonction": signer.title,
    }


# HTML templates: the tags and attributes a letter may use (nh3 removes the rest, with their content for
# script/style); no image, no link, no inline style: nothing the PDF renderer would fetch or run.
HTML_TAGS = {
    "p",
    "br",
    "strong",
    "b",
    "em",
    "i",
    "u",
    "s",
    "sub",
    "sup",
    "small",
    "span",
    "div",
    "blockquote",
    "h2",
    "h3",
    "h4",
    "ul",
    "ol",
    "li",
    "dl",
    "dt",
    "dd",
    "table",
    "thead",
    "tbody",
    "tfoot",
    "tr",
    "th",
    "td",
    "caption",
    "hr",
}
HTML_ATTRIBUTES = {"*": {"class"}, "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan", "scope"}}
CSS_MAX = 20_000
_CSS_FORBIDDEN = (
    (re.compile(r"url\s*\(", re.I), "url(…) (aucune ressource externe ni fichier)"),
    (re.compile(r"@import", re.I), "@import"),
    (re.compile(r"@font-face", re.I), "@font-face"),
    (re.compile(r"</", re.I), "« </ »"),
    (re.compile(r"\\"), "les caractères d'échappement « \\ »"),
    (re.compile(r"expression\s*\(", re.I), "expression(…)"),
)


def check_css(css: str) -> str:
    """The template's CSS, or MergeError (French) when it could fetch something or leave its <style>."""
    css = (css or "").replace("\r\n", "\n").strip()
    if len(css) > CSS_MAX:
        raise MergeError(f"La feuille de style dépasse {CSS_MAX} caractères.")
    found = [label for pattern, label in _CSS_FORBIDDEN if pattern.search(css)]
    if found:
        raise MergeError("La feuille de style ne peut pas contenir " + ", ".join(found) + ".")
    return css


def render_html(source: str, context: dict[str, Any]) -> str:
    """Merge an HTML template: field values are escaped, then only the letter's tags are kept."""
    import nh3

    html = compile_template(source).render(Context(context, autoescape=True))
    return nh3.clean(html, tags=HTML_TAGS, attributes=HTML_ATTRIBUTES, link_rel=None).strip()
