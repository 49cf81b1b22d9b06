"""The actions a workflow definition may name: their French label, description and parameter checks.

The *runners* (what an action does to a dossier) live in the dossiers app, which registers them by name::

    from mairie.workflows.actions import register_runner
    register_runner("assign", run_assign)

``runner_for(name)`` gives the registered function, or raises ``MissingRunner`` with a clear message.
Transition ids an action names (``transition_params``: ``then``, ``on_refuse``, ``transition``) are checked
against the definition by ``workflows.definition.validate``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from mairie.workflows.definition import Problem, _type_name, unknown_keys

PARENT = "@parent"
ORG_SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SHARE_PURPOSES = ("opinion", "task", "handover", "view")
CIRCUIT_KINDS = ("visa", "signature")
CIRCUIT_FILES = ("last", "last_generated")
EMAIL_TARGETS = ("usager", "assignee", "service")

Validator = Callable[[Mapping[str, Any], str], list[Problem]]


class MissingRunner(LookupError):
    """No runner registered for an action (the dossiers app registers them when it starts)."""


@dataclass
class ActionSpec:
    name: str
    label: str
    description: str
    params: tuple[str, ...]
    check: Validator
    transition_params: tuple[str, ...] = ()
    runner: Callable[..., Any] | None = field(default=None, repr=False)

    def validate(self, params: Mapping[str, Any], where: str) -> list[Problem]:
        """Every problem of these parameters (``params`` without the ``action`` key). Never raises."""
        if not isinstance(params, Mapping):
            return [
                Problem(where, f"les paramètres doivent être un ensemble de clés, pas {_type_name(params)}")
            ]
        problems = unknown_keys(params, self.params, where) if self.params else []
        if not self.params:
            problems = [
                Problem(where, f"l'action « {self.name} » ne prend aucun paramètre (« {key} » en trop)")
                for key in params
            ]
        return problems + self.check(params, where)


def register_runner(name: str, func: Callable[..., Any]) -> None:
    """Attach the function that runs an action (called by the dossiers app)."""
    spec = ACTIONS.get(name)
    if spec is None:
        raise KeyError(f"Action inconnue « {name} » : impossible d'y associer une exécution.")
    spec.runner = func


def runner_for(name: str) -> Callable[..., Any]:
    spec = ACTIONS.get(name)
    if spec is None:
        raise MissingRunner(f"Action inconnue « {name} » (actions : {', '.join(sorted(ACTIONS))}).")
    if spec.runner is None:
        raise MissingRunner(
            f"Aucune exécution n'est enregistrée pour l'action « {name} » ({spec.label}) : "
            "l'application des dossiers doit l'enregistrer par register_runner()."
        )
    return spec.runner


# --- Parameter helpers -------------------------------------------------------------------------------------


def _text(params: Mapping[str, Any], key: str, where: str, *, required: bool = False) -> list[Problem]:
    if key not in params or params[key] is None:
        return [Problem(where, f"paramètre « {key} » obligatoire")] if required else []
    value = params[key]
    if not isinstance(value, str):
        return [Problem(f"{where}.{key}", f"doit être un texte, pas {_type_name(value)}")]
    if not value.strip():
        return [Problem(f"{where}.{key}", "ne peut pas être vide")]
    return []


def _integer(
    params: Mapping[str, Any], key: str, where: str, *, minimum: int, required: bool = False
) -> list[Problem]:
    if key not in params or params[key] is None:
        return [Problem(where, f"paramètre « {key} » obligatoire (nombre entier)")] if required else []
    value = params[key]
    if isinstance(value, bool) or not isinstance(value, int):
        return [Problem(f"{where}.{key}", f"doit être un nombre entier, pas {_type_name(value)}")]
    if value < minimum:
        bound = "supérieur ou égal à 0" if minimum == 0 else f"au moins {minimum}"
        return [Problem(f"{where}.{key}", f"doit être {bound}")]
    return []


def _true(params: Mapping[str, Any], key: str, where: str) -> list[Problem]:
    value = params.get(key)
    if value is None or value is True:
        return []
    return [Problem(f"{where}.{key}", "ne peut valoir que true (ou être omis)")]


def _one_of(
    params: Mapping[str, Any], key: str, where: str, choices: Iterable[str], *, required: bool
) -> list[Problem]:
    choices = tuple(choices)
    if key not in params or params[key] is None:
        return (
            [Problem(where, f"paramètre « {key} » obligatoire ({' | '.join(choices)})")] if required else []
        )
    if params[key] not in choices:
        return [
            Problem(f"{where}.{key}", f"valeur « {params[key]} » inconnue (valeurs : {', '.join(choices)})")
        ]
    return []


def _organisation(params: Mapping[str, Any], key: str, where: str, *, required: bool) -> list[Problem]:
    problems = _text(params, key, where, required=required)
    value = params.get(key)
    if problems or not isinstance(value, str):
        return problems
    if value != PARENT and not ORG_SLUG_RE.match(value):
        return [
            Problem(
                f"{where}.{key}",
                f"« {value} » n'est ni l'identifiant d'une organisation (ex. « cc-grand-pic ») ni « {PARENT} »",
            )
        ]
    return []


def _exclusive(
    params: Mapping[str, Any], keys: tuple[str, ...], where: str, *, required: bool
) -> list[Problem]:
    present = [k for k in keys if params.get(k) is not None and params.get(k) is not False]
    if len(present) > 1:
        return [Problem(where, f"un seul de {', '.join(keys)} à la fois ({', '.join(present)} donnés)")]
    if required and not present:
        return [Problem(where, f"indiquez {' ou '.join(keys)}")]
    return []


def _role_names() -> tuple[str, ...]:
    from mairie.organisations.models import Role

    return tuple(str(value) for value in Role.values)


# --- The actions -------------------------------------------------------------------------------------------


def _check_assign(params: Mapping[str, Any], where: str) -> list[Problem]:
    problems = _text(params, "service", where) + _text(params, "agent", where)
    if not params.get("service") and not params.get("agent"):
        problems.append(
            Problem(where, "indiquez « service » (nom du service) et/ou « agent » (courriel ou identifiant)")
        )
    return problems


def _check_create_task(params: Mapping[str, Any], where: str) -> list[Problem]:
    return (
        _text(params, "title", where, required=True)
        + _text(params, "description", where)
        + _text(params, "service", where)
        + _text(params, "agent", where)
        + _true(params, "assignee", where)
        + _exclusive(params, ("service", "agent", "assignee"), where, required=False)
        + _integer(params, "delay_days", where, minimum=0)
    )


def _check_request_opinions(params: Mapping[str, Any], where: str) -> list[Problem]:
    problems: list[Problem] = []
    sources = params.get("from")
    if sources is None:
        problems.append(Problem(where, "paramètre « from » obligatoire (à qui demander l'avis)"))
    elif not isinstance(sources, list) or not sources:
        problems.append(
            Problem(
                f"{where}.from",
                "doit être une liste non vide de {service: …}, {agent: …} ou {organisation: …}",
            )
        )
    else:
        for index, source in enumerate(sources):
            here = f"{where}.from[{index}]"
            if not isinstance(source, dict):
                problems.append(
                    Problem(
                        here,
                        f"doit être {{service: …}}, {{agent: …}} ou {{organisation: …}}, pas {_type_name(source)}",
                    )
                )
                continue
            problems += unknown_keys(source, ("service", "agent", "organisation"), here)
            problems += _exclusive(source, ("service", "agent", "organisation"), here, required=True)
            problems += _text(source, "service", here) + _text(source, "agent", here)
            problems += _organisation(source, "organisation", here, required=False)
    return (
        problems
        + _integer(params, "delay_days", where, minimum=1, required=True)
        + _text(params, "question", where)
        + _text(params, "then", where)
    )


def _check_start_circuit(params: Mapping[str, Any], where: str) -> list[Problem]:
    problems: list[Problem] = []
    steps = params.get("steps")
    if steps is None:
        problems.append(
            Problem(where, "paramètre « steps » obligatoire (les étapes de visa et de signature)")
        )
    elif not isinstance(steps, list) or not steps:
        problems.append(
            Problem(
                f"{where}.steps",
                "doit être une liste non vide d'étapes {kind: visa|signature, agent|role|service: …}",
            )
        )
    else:
        roles = _role_names()
        for index, step in enumerate(steps):
            here = f"{where}.steps[{index}]"
            if not isinstance(step, dict):
                problems.append(
                    Problem(
                        here,
                        f"une étape est un ensemble de clés (kind, agent|role|service), pas {_type_name(step)}",
                    )
                )
                continue
            problems += unknown_keys(step, ("kind", "agent", "role", "service", "parallel"), here)
            problems += _one_of(step, "kind", here, CIRCUIT_KINDS, required=True)
            problems += _exclusive(step, ("agent", "role", "service"), here, required=True)
            problems += _text(step, "agent", here) + _text(step, "service", here) + _text(step, "role", here)
            role = step.get("role")
            if isinstance(role, str) and role.strip() and role not in roles:
                problems.append(
                    Problem(f"{here}.role", f"rôle inconnu « {role} » (rôles : {', '.join(roles)})")
                )
            parallel = step.get("parallel")
            if parallel is not None and not isinstance(parallel, bool):
                problems.append(Problem(f"{here}.parallel", "doit valoir true ou false"))
            elif parallel is True and index == 0:
                problems.append(
                    Problem(
                        f"{here}.parallel", "la première étape ne peut pas être parallèle à la précédente"
                    )
                )
    return (
        problems
        + _one_of(params, "file", where, CIRCUIT_FILES, required=False)
        + _text(params, "then", where)
        + _text(params, "on_refuse", where)
    )


def _check_generate_document(params: Mapping[str, Any], where: str) -> list[Problem]:
    return _text(params, "template", where, required=True) + _text(params, "title", where)


def _check_send_email(params: Mapping[str, Any], where: str) -> list[Problem]:
    problems: list[Problem] = []
    to = params.get("to")
    if to is None:
        problems.append(
            Problem(where, f"paramètre « to » obligatoire ({', '.join(EMAIL_TARGETS)} ou liste d'adresses)")
        )
    elif isinstance(to, str):
        if to not in EMAIL_TARGETS:
            problems.append(
                Problem(
                    f"{where}.to", f"« {to} » : indiquez {', '.join(EMAIL_TARGETS)} ou une liste d'adresses"
                )
            )
    elif isinstance(to, list) and to:
        for index, address in enumerate(to):
            try:
                if not isinstance(address, str):
                    raise ValidationError("")
                validate_email(address)
            except ValidationError:
                problems.append(
                    Problem(f"{where}.to[{index}]", f"adresse électronique incorrecte : {address!r}")
                )
    else:
        problems.append(
            Problem(f"{where}.to", f"doit être {', '.join(EMAIL_TARGETS)} ou une liste non vide d'adresses")
        )
    return (
        problems
        + _text(params, "subject", where, required=True)
        + _text(params, "body", where, required=True)
    )


def _check_share(params: Mapping[str, Any], where: str) -> list[Problem]:
    return (
        _organisation(params, "organisation", where, required=True)
        + _one_of(params, "purpose", where, SHARE_PURPOSES, required=True)
        + _text(params, "note", where)
    )


def _check_timer(params: Mapping[str, Any], where: str) -> list[Problem]:
    return (
        _exclusive(params, ("after_days", "after_hours"), where, required=True)
        + _integer(params, "after_days", where, minimum=1)
        + _integer(params, "after_hours", where, minimum=1)
        + _text(params, "transition", where, required=True)
    )


def _check_webhook(params: Mapping[str, Any], where: str) -> list[Problem]:
    problems = _text(params, "url", where, required=True)
    url = params.get("url")
    if not problems and isinstance(url, str):
        try:
            parts = urlsplit(url)
            ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        except ValueError:
            ok = False
        if not ok:
            problems.append(
                Problem(
                    f"{where}.url",
                    f"adresse « {url} » incorrecte : http:// ou https:// suivi d'un nom de serveur",
                )
            )
    payload = params.get("payload")
    if payload is not None and not isinstance(payload, dict):
        problems.append(
            Problem(f"{where}.payload", f"doit être un ensemble de clés, pas {_type_name(payload)}")
        )
    return problems


def _check_set_data(params: Mapping[str, Any], where: str) -> list[Problem]:
    values = params.get("values")
    if values is None:
        return [
            Problem(where, "paramètre « values » obligatoire (les valeurs à enregistrer dans le dossier)")
        ]
    if not isinstance(values, dict):
        return [Problem(f"{where}.values", f"doit être un ensemble de clés, pas {_type_name(values)}")]
    return []


def _check_send_document(params: Mapping[str, Any], where: str) -> list[Problem]:
    problems = _one_of(params, "file", where, ("last_signed", "last_generated"), required=False)
    problems += _text(params, "subject", where) + _text(params, "body", where)
    by_email = params.get("by_email")
    if by_email is not None and not isinstance(by_email, bool):
        problems.append(Problem(f"{where}.by_email", f"doit être true ou false, pas {_type_name(by_email)}"))
    return problems


def _nothing(params: Mapping[str, Any], where: str) -> list[Problem]:
    return []


ACTIONS: dict[str, ActionSpec] = {
    spec.name: spec
    for spec in (
        ActionSpec(
            "assign",
            "Attribuer",
            "Attribue le dossier à un service et/ou à un agent (courriel ou identifiant).",
            ("service", "agent"),
            _check_assign,
        ),
        ActionSpec(
            "create_task",
            "Créer une tâche",
            "Crée une tâche (intitulé, description) pour un service, un agent ou la personne en charge du "
            "dossier, avec un délai en jours ; sans destinataire, elle va au service du dossier.",
            ("title", "description", "service", "agent", "assignee", "delay_days"),
            _check_create_task,
        ),
        ActionSpec(
            "request_opinions",
            "Demander des avis",
            "Demande l'avis de services, d'agents ou d'autres organisations (« @parent » : l'EPCI de la "
            "commune) dans un délai ; quand tous sont rendus ou le délai passé, applique la transition "
            "« then ».",
            ("from", "delay_days", "question", "then"),
            _check_request_opinions,
            ("then",),
        ),
        ActionSpec(
            "start_circuit",
            "Lancer un circuit de visa et de signature",
            "Soumet un document du dossier (le dernier généré, ou le dernier ajouté) à des visas et "
            "signatures successifs ou parallèles ; « then » à la fin, « on_refuse » en cas de refus.",
            ("steps", "file", "then", "on_refuse"),
            _check_start_circuit,
            ("then", "on_refuse"),
        ),
        ActionSpec(
            "generate_document",
            "Générer un document",
            "Produit un document à partir d'un modèle de lettre (clé ou nom) et le joint au dossier.",
            ("template", "title"),
            _check_generate_document,
        ),
        ActionSpec(
            "send_email",
            "Envoyer un courriel",
            "Envoie un courriel à l'usager, à la personne en charge, au service ou à des adresses ; objet "
            "et texte peuvent contenir des champs de fusion.",
            ("to", "subject", "body"),
            _check_send_email,
        ),
        ActionSpec(
            "send_document",
            "Envoyer le document à l'usager",
            "Enregistre au départ (numéro D) le dernier document signé (ou généré) du dossier et l'envoie à "
            "l'usager : par courriel avec le PDF joint s'il a une adresse, sinon à imprimer et poster.",
            ("file", "subject", "body", "by_email"),
            _check_send_document,
        ),
        ActionSpec(
            "share",
            "Partager avec une organisation",
            "Partage le dossier avec une autre organisation (« @parent » : l'EPCI de la commune) pour avis, "
            "pour action, pour instruction (transmission) ou pour information.",
            ("organisation", "purpose", "note"),
            _check_share,
        ),
        ActionSpec(
            "hand_back",
            "Rendre le dossier",
            "Termine une transmission : le dossier revient à l'organisation qui l'a transmis.",
            (),
            _nothing,
        ),
        ActionSpec(
            "timer",
            "Programmer un délai",
            "Après un délai (en jours ou en heures), applique la transition indiquée si le dossier est "
            "toujours à la même étape (relance, décision implicite).",
            ("after_days", "after_hours", "transition"),
            _check_timer,
            ("transition",),
        ),
        ActionSpec(
            "webhook",
            "Prévenir un autre logiciel",
            "Envoie une requête HTTP (POST, JSON) à une adresse http(s), avec un contenu facultatif.",
            ("url", "payload"),
            _check_webhook,
        ),
        ActionSpec(
            "close",
            "Clore le dossier",
            "Clôt le dossier.",
            (),
            _nothing,
        ),
        ActionSpec(
            "set_data",
            "Enregistrer des valeurs",
            "Ajoute ou remplace des valeurs dans les données du dossier (lues par les conditions).",
            ("values",),
            _check_set_data,
        ),
    )
}
