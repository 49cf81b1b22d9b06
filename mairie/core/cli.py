"""Helpers shared by the ``mairie`` commands: JSON lines out, clear French errors, organisation lookup."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandError

from mairie.organisations.models import Organisation


def json_line(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)


def get_org(slug: str) -> Organisation:
    org = Organisation.objects.filter(slug=slug).first()
    if org is None:
        raise CommandError(f"Organisation inconnue : « {slug} ». Voir `mairie org list`.")
    return org
