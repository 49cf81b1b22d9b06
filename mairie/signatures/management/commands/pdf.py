from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from mairie.core.cli import json_line
from mairie.signatures.services import SignatureError
from mairie.signatures.verify import verify_pdf

# What each line says about one signature (other tools read these keys).
KEYS = (
    "field",
    "signer",
    "signing_time",
    "intact",
    "valid",
    "trusted",
    "covers_whole_document",
    "modification_level",
    "timestamp",
    "problems",
)


class Command(BaseCommand):
    help = (
        "PDF signés : verify (une ligne JSON par signature ; code de sortie 1 si une signature est altérée)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        verify = sub.add_parser(
            "verify",
            help="Vérifier les signatures d'un PDF : une ligne JSON par signature. Code de sortie 1 si une "
            "signature est altérée ou invalide, ou s'il n'y en a aucune.",
        )
        verify.add_argument("file", metavar="FILE", help="Le PDF à vérifier (« - » : entrée standard)")
        verify.add_argument(
            "--trust",
            action="append",
            default=[],
            metavar="CA.pem",
            help="Certificats d'autorités reconnues (PEM), en plus de MAIRIE_SIGNATURE_TRUST_ROOTS ; répétable",
        )

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        getattr(self, f"_{action}")(**options)

    def _verify(self, **options: Any) -> None:
        source = options["file"]
        try:
            data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
        except OSError as exc:
            raise CommandError(f"Fichier illisible : {source} ({exc.strerror or exc}).") from exc
        roots: list[Any] = []
        for path in options["trust"]:
            try:
                roots.append(Path(path).read_bytes())
            except OSError as exc:
                raise CommandError(
                    f"Certificats de confiance illisibles : {path} ({exc.strerror or exc})."
                ) from exc
        try:
            reports = verify_pdf(data, trust_roots=roots)
        except SignatureError as exc:
            raise CommandError(str(exc)) from exc
        if not reports:
            self.stderr.write("Aucune signature dans ce fichier.")
            sys.exit(1)
        for report in reports:
            line = report.to_json()
            self.stdout.write(json_line({key: line[key] for key in KEYS}))
        if any(report.broken for report in reports):
            sys.exit(1)
