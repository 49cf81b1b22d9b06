from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from mairie.core.cli import get_org, json_line
from mairie.organisations.models import Organisation
from mairie.organisations.services import create_organisation


class Command(BaseCommand):
    help = "Gère les organisations : `org create`, `org list`."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, parser_class=CommandParser)
        create = sub.add_parser("create", help="Crée une organisation et affiche {slug, id} en JSON.")
        create.add_argument("--slug", required=True)
        create.add_argument("--name", required=True)
        create.add_argument("--kind", required=True, choices=Organisation.Kind.values)
        create.add_argument("--siren", default="")
        create.add_argument("--insee", default="")
        create.add_argument("--departement", default="")
        create.add_argument("--parent", default=None, help="slug de la structure de rattachement")
        create.add_argument("--population", type=int, default=None)
        sub.add_parser("list", help="Une ligne JSON par organisation.")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "create":
            parent = get_org(options["parent"]) if options["parent"] else None
            try:
                org = create_organisation(
                    actor=None,
                    slug=options["slug"],
                    name=options["name"],
                    kind=options["kind"],
                    siren=options["siren"],
                    insee_code=options["insee"],
                    departement_code=options["departement"],
                    parent=parent,
                    population=options["population"],
                )
            except ValidationError as exc:
                messages = (
                    [m for msgs in exc.message_dict.values() for m in msgs]
                    if hasattr(exc, "error_dict")
                    else exc.messages
                )
                raise CommandError(" ".join(messages)) from exc
            self.stdout.write(json_line({"slug": org.slug, "id": org.pk}))
        else:
            for org in Organisation.objects.select_related("parent").order_by("pk"):
                self.stdout.write(
                    json_line(
                        {
                            "slug": org.slug,
                            "name": org.name,
                            "kind": org.kind,
                            "parent": org.parent.slug if org.parent else None,
                        }
                    )
                )
