"""`mairie workflow validate|list|import|export|install-library`: workflow definitions from the command line.

Other tools rely on this interface: ``validate`` and ``import`` print one JSON object (``{"valid": false,
"errors": [{"where", "message"}…]}`` and exit 1 on an invalid definition); ``list`` prints one JSON line per
current definition.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from mairie.core.cli import get_org, json_line
from mairie.workflows import services
from mairie.workflows.definition import DefinitionError, Problem, parse_text, validate
from mairie.workflows.models import WorkflowDefinition


def _read(source: str) -> str:
    try:
        if source == "-":
            return sys.stdin.read()
        return Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DefinitionError([Problem("fichier", f"fichier illisible : {exc}")]) from None


class Command(BaseCommand):
    help = (
        "Circuits de traitement : validate (vérifier un fichier), list, import (nouvelle version si modifié), "
        "export, install-library (circuits prêts à l'emploi)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        check = sub.add_parser("validate", help="Vérifier un fichier YAML ou JSON (« - » : entrée standard).")
        check.add_argument("file")
        listing = sub.add_parser("list", help="Les circuits d'une organisation (une ligne JSON chacun).")
        listing.add_argument("--org", required=True)
        load = sub.add_parser("import", help="Enregistrer un circuit (nouvelle version s'il a changé).")
        load.add_argument("--org", required=True)
        load.add_argument("file")
        dump = sub.add_parser("export", help="Écrire un circuit en YAML.")
        dump.add_argument("--org", required=True)
        dump.add_argument("name")
        dump.add_argument(
            "--version", dest="wf_version", type=int, help="Une version précise (défaut : la courante)"
        )
        dump.add_argument("--output", default="-", help="Fichier de sortie (« - » : sortie standard)")
        library = sub.add_parser("install-library", help="Installer les circuits prêts à l'emploi absents.")
        library.add_argument("--org", required=True)

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        getattr(self, "_" + action.replace("-", "_"))(**options)

    def _invalid(self, exc: DefinitionError) -> None:
        self.stdout.write(json_line({"valid": False, "errors": [p.as_json() for p in exc.problems]}))
        sys.exit(1)

    def _validate(self, **options: Any) -> None:
        try:
            data = parse_text(_read(options["file"]))
        except DefinitionError as exc:
            self._invalid(exc)
            return
        problems = validate(data)
        if problems:
            self._invalid(DefinitionError(problems))
            return
        self.stdout.write(json_line({"valid": True}))

    def _list(self, **options: Any) -> None:
        organisation = get_org(options["org"])
        for wd in services.definitions_for(organisation).order_by("name"):
            self.stdout.write(
                json_line({"name": wd.name, "version": wd.version, "title": wd.title, "active": wd.is_active})
            )

    def _import(self, **options: Any) -> None:
        organisation = get_org(options["org"])
        try:
            text = _read(options["file"])
            name = parse_text(text).get("name")
            before = services.current_definition(organisation, name) if isinstance(name, str) else None
            saved = services.save_definition(organisation=organisation, actor=None, text=text)
        except DefinitionError as exc:
            self._invalid(exc)
            return
        created = before is None or before.pk != saved.pk
        self.stdout.write(json_line({"name": saved.name, "version": saved.version, "created": created}))

    def _export(self, **options: Any) -> None:
        organisation = get_org(options["org"])
        versions = WorkflowDefinition.objects.for_org(organisation).filter(name=options["name"])
        if options.get("wf_version"):
            wd = versions.filter(version=options["wf_version"]).first()
        else:
            wd = versions.filter(is_current=True).first()
        if wd is None:
            raise CommandError(
                f"Circuit inconnu dans {organisation.slug} : « {options['name']} »"
                + (f" version {options['wf_version']}" if options.get("wf_version") else "")
                + ". Voir `mairie workflow list`."
            )
        text = services.export_text(wd)
        if options["output"] == "-":
            self.stdout.write(text, ending="")
        else:
            try:
                Path(options["output"]).write_text(text, encoding="utf-8")
            except OSError as exc:
                raise CommandError(f"Écriture impossible : {exc}") from exc

    def _install_library(self, **options: Any) -> None:
        organisation = get_org(options["org"])
        for wd in services.install_library(organisation):
            self.stdout.write(json_line({"name": wd.name, "version": wd.version, "created": True}))
