from __future__ import annotations

import html
import re
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from mairie.core.cli import get_org, json_line
from mairie.search.services import search_courriers


class Command(BaseCommand):
    help = "Recherche dans le courrier d'une organisation ; une ligne JSON par résultat."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True)
        parser.add_argument("--limit", type=int, default=20)
        parser.add_argument("query", nargs="+")

    def handle(self, *args: Any, org: str, limit: int, query: list[str], **options: Any) -> None:
        result = search_courriers(organisation=get_org(org), query=" ".join(query), limit=max(1, limit))
        for hit in result.hits:
            # Matched words are wrapped in [[ ]] so scripts can see them without parsing HTML.
            snippet = re.sub(r"<mark>(.*?)</mark>", r"[[\1]]", hit.snippet)
            self.stdout.write(
                json_line(
                    {
                        "chrono": hit.courrier.chrono,
                        "subject": hit.courrier.subject,
                        "score": round(hit.score, 6),
                        "snippet": html.unescape(snippet),
                    }
                )
            )
