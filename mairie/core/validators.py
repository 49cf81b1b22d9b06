"""Validators for French administrative identifiers."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

DEPARTEMENT_RE = re.compile(r"^(0[1-9]|[1-8]\d|9[0-5]|2A|2B|97[1-8]|98[4-9])$")
DEPARTEMENT_3_RE = re.compile(r"^(00[1-9]|0[1-8]\d|09[0-5]|02A|02B|97[1-8]|98[4-9])$")
INSEE_RE = re.compile(r"^(\d{5}|2[AB]\d{3})$")


def luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def validate_siren(value: str) -> None:
    if not re.fullmatch(r"\d{9}", value or ""):
        raise ValidationError("Le SIREN doit comporter exactement 9 chiffres.", code="siren_format")
    if not luhn_ok(value):
        raise ValidationError(
            "Ce SIREN n'est pas valide (la clé de contrôle, algorithme de Luhn, ne correspond pas).",
            code="siren_luhn",
        )


def validate_insee_code(value: str) -> None:
    if not INSEE_RE.fullmatch(value or ""):
        raise ValidationError(
            "Le code INSEE comporte 5 caractères : 5 chiffres, ou 2A/2B suivi de 3 chiffres pour la Corse.",
            code="insee_format",
        )


def normalise_departement(value: str) -> str:
    """Return the three-character form used by ACTES (``034``, ``02A``, ``971``)."""
    value = (value or "").strip().upper()
    if len(value) == 1 and value.isdigit():
        value = "0" + value
    if len(value) == 2:
        value = "0" + value
    return value


def validate_departement_code(value: str) -> None:
    if not DEPARTEMENT_3_RE.fullmatch(normalise_departement(value)):
        raise ValidationError(
            "Code de département inconnu : indiquez par exemple 034, 02A ou 971.", code="departement_format"
        )
