"""Definitions described in French for people: who may apply a transition, what an action does."""

from __future__ import annotations

from typing import Any

from mairie.workflows.actions import ACTIONS
from mairie.workflows.definition import ActionCall, Allowed, Definition

PARAM_LABELS = {
    "service": "service",
    "agent": "agent",
    "title": "intitulé",
    "template": "modèle",
    "delay_days": "délai (jours)",
    "after_days": "après (jours)",
    "after_hours": "après (heures)",
    "then": "puis",
    "on_refuse": "si refus",
    "transition": "transition",
    "organisation": "organisation",
    "purpose": "objet",
    "to": "à",
    "subject": "objet",
    "url": "adresse",
    "file": "document",
    "question": "question",
    "assignee": "la personne en charge",
}
PURPOSES = {
    "opinion": "pour avis",
    "task": "pour action",
    "handover": "pour instruction",
    "view": "pour information",
}


def _role_labels() -> dict[str, str]:
    from mairie.organisations.models import Role

    return {str(value): str(label) for value, label in Role.choices}


def who(allowed: Allowed | None, automatic: bool = False) -> str:
    if automatic:
        return "le système seulement (transition automatique)"
    if allowed is None:
        return "tout agent pouvant modifier les dossiers"
    labels = _role_labels()
    parts = []
    if allowed.roles:
        parts.append("rôles " + ", ".join(labels.get(r, r) for r in allowed.roles))
    if allowed.services:
        parts.append("membres des services " + ", ".join(allowed.services))
    if allowed.assignee:
        parts.append("la personne en charge du dossier")
    return " ; ou ".join(parts)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, dict):
        return ", ".join(f"{k} : {_value(v)}" for k, v in value.items())
    if isinstance(value, list):
        return " ; ".join(_value(v) for v in value)
    if value == "@parent":
        return "l'organisation de rattachement (EPCI)"
    return str(value)


def describe_action(call: ActionCall) -> str:
    spec = ACTIONS.get(call.name)
    label = spec.label if spec else call.name
    details = []
    for key, value in call.params.items():
        if key in ("body", "payload", "description", "note", "values", "steps", "from"):
            if key == "steps" and isinstance(value, list):
                steps = []
                for step in value:
                    if isinstance(step, dict):
                        kind = "visa" if step.get("kind") == "visa" else "signature"
                        target = step.get("agent") or step.get("service") or step.get("role")
                        together = " (en parallèle)" if step.get("parallel") else ""
                        steps.append(f"{kind} {target}{together}")
                details.append(" → ".join(steps))
            elif key == "from" and isinstance(value, list):
                details.append("avis de " + _value(value))
            continue
        if key == "purpose":
            details.append(PURPOSES.get(str(value), str(value)))
            continue
        details.append(f"{PARAM_LABELS.get(key, key)} : {_value(value)}")
    return label + (f" ({' ; '.join(details)})" if details else "")


def describe(definition: Definition) -> dict[str, Any]:
    """Statuses and transitions as plain data for the page's text list."""
    statuses = [
        {
            "id": status.id,
            "label": status.label,
            "final": status.final,
            "initial": status.id == definition.initial,
            "on_enter": [describe_action(call) for call in status.on_enter],
            "leaving": [t.label for t in definition.transitions_from(status.id)],
        }
        for status in definition.statuses
    ]
    transitions = [
        {
            "id": t.id,
            "label": t.label,
            "sources": "toute étape non finale"
            if t.any_source
            else ", ".join(definition.label(s) for s in t.sources),
            "target": definition.label(t.to),
            "who": who(t.allowed, t.automatic),
            "condition": t.condition,
            "automatic": t.automatic,
            "actions": [describe_action(call) for call in t.actions],
        }
        for t in definition.transitions
    ]
    return {"statuses": statuses, "transitions": transitions}
