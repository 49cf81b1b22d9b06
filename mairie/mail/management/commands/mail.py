from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from mairie.core.cli import get_org, json_line
from mairie.mail.fetch import fetch_all
from mairie.mail.imap import MailboxError
from mairie.mail.models import Mailbox
from mairie.mail.services import create_mailbox
from mairie.organisations.models import Organisation, Service

DEFAULT_PORTS = {"tls": 993, "starttls": 143, "plain": 143}


def _service(organisation: Organisation, value: str) -> Service:
    """A service given by its number, its name or its name in slug form (« services-techniques »)."""
    from django.utils.text import slugify

    services = list(Service.objects.for_org(organisation))
    for service in services:
        if (
            value == str(service.pk)
            or value.lower() == service.name.lower()
            or value == slugify(service.name)
        ):
            return service
    names = ", ".join(slugify(s.name) for s in services) or "aucun"
    raise CommandError(f"Service inconnu dans {organisation.slug} : « {value} » (services : {names}).")


class Command(BaseCommand):
    help = "Boîtes aux lettres IMAP : add (connecter une boîte), fetch (un relevé), list."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="Connecter une boîte (la connexion est essayée d'abord).")
        add.add_argument("--org", required=True)
        add.add_argument("--host", required=True)
        add.add_argument("--port", type=int)
        add.add_argument("--user", required=True)
        add.add_argument(
            "--password-file", required=True, help="Fichier contenant le mot de passe (« - » : entrée)"
        )
        security = add.add_mutually_exclusive_group()
        security.add_argument("--tls", dest="security", action="store_const", const="tls")
        security.add_argument("--starttls", dest="security", action="store_const", const="starttls")
        security.add_argument("--plain", dest="security", action="store_const", const="plain")
        add.add_argument("--folder", default="INBOX")
        add.add_argument("--done-folder", default="Traités")
        add.add_argument("--quarantine-folder", default="Quarantaine")
        add.add_argument("--service")
        add.add_argument("--label")
        fetch = sub.add_parser("fetch", help="Un relevé : une ligne JSON par courriel.")
        fetch.add_argument("--org")
        listing = sub.add_parser("list", help="Les boîtes d'une organisation (une ligne JSON par boîte).")
        listing.add_argument("--org", required=True)

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        getattr(self, f"_{action}")(**options)

    def _add(self, **options: Any) -> None:
        organisation = get_org(options["org"])
        security = options["security"] or "tls"
        source = options["password_file"]
        try:
            password = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"Fichier du mot de passe illisible : {exc}") from exc
        password = password.rstrip("\r\n")
        fields: dict[str, Any] = {
            "host": options["host"],
            "port": options["port"] or DEFAULT_PORTS[security],
            "security": security,
            "username": options["user"],
            "password": password,
            "folder": options["folder"],
            "done_folder": options["done_folder"],
            "quarantine_folder": options["quarantine_folder"],
        }
        if options["service"]:
            fields["service"] = _service(organisation, options["service"])
        if options["label"]:
            fields["label"] = options["label"]
        try:
            mailbox = create_mailbox(organisation=organisation, actor=None, **fields)
        except MailboxError as exc:
            raise CommandError(f"Boîte refusée : {exc}") from exc
        self.stdout.write(json_line({"id": mailbox.pk}))

    def _fetch(self, **options: Any) -> None:
        organisation = get_org(options["org"]) if options.get("org") else None
        failed = False
        for report in fetch_all(organisation):
            for line in report.lines:
                self.stdout.write(json_line(line.as_json()))
                self.stdout.flush()
            if report.skipped:
                self.stderr.write(
                    f"Boîte {report.mailbox.pk} « {report.mailbox.label} » : relevé déjà en cours ailleurs."
                )
            if report.error:
                failed = True
                self.stderr.write(f"Boîte {report.mailbox.pk} « {report.mailbox.label} » : {report.error}")
        if failed:
            sys.exit(1)

    def _list(self, **options: Any) -> None:
        organisation = get_org(options["org"])
        for mailbox in Mailbox.objects.for_org(organisation).order_by("pk"):
            self.stdout.write(
                json_line(
                    {
                        "id": mailbox.pk,
                        "label": mailbox.label,
                        "host": mailbox.host,
                        "port": mailbox.port,
                        "user": mailbox.username,
                        "folder": mailbox.folder,
                        "active": mailbox.is_active,
                        "last_status": mailbox.last_status,
                        "last_fetch_at": mailbox.last_fetch_at,
                        "last_error": mailbox.last_error,
                    }
                )
            )
