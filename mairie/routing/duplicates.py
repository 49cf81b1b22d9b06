"""The same courrier registered twice: the same file, or the same letter received by two channels.

*Same file*: one of the courrier's documents has the SHA-256 of a document already in the organisation's
register (the stored file is shared, so it is one indexed look-up).

*Same letter*: a scan of a letter also sent by e-mail reads differently (OCR noise, headers), so texts are
compared as sets of overlapping 5-character pieces of the folded text with the Jaccard index.
Comparing with every courrier would cost as much as the register is large; candidates are found through
the search index instead: a few pairs of distinctive words of the letter, each looked up as one
full-text query restricted to the organisation's recent incoming courriers. A letter whose OCR broke
some words is still found as long as one pair came out intact.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass

from django.db.models.functions import Substr

from mairie.courrier.models import Courrier, Direction
from mairie.documents.models import Document
from mairie.search.backends import Filters, search_ids
from mairie.search.normalise import fold, terms

WINDOW_DAYS = 90
SIMILARITY = 0.8
MIN_TERMS = 25  # shorter texts (a two-line note) are too alike to compare
MIN_SHINGLES = 150
PROBE_PAIRS = 6
CANDIDATES_PER_PROBE = 20
MAX_COMPARED = 15
TEXT_CHARS = 20_000

SAME_FILE = "même fichier"
SAME_TEXT = "texte quasi identique"


@dataclass(frozen=True)
class Duplicate:
    courrier_id: int
    chrono: str
    reason: str
    similarity: float = 1.0

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.courrier_id,
            "chrono": self.chrono,
            "reason": self.reason,
            "similarity": round(self.similarity, 3),
        }


SHINGLE = 5
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def shingles(text: str) -> set[str]:
    """Overlapping 5-character pieces of the folded text (letters and digits, single spaces).

    Characters rather than words: an OCR misreading (« dcpuis » for « depuis ») changes one word, hence
    two word pairs of ten, but only five character pieces of some fifty. Measured on one letter read twice
    with about 1 % of its characters misread each time (7 % of its words): word pairs give a Jaccard
    index of 0.55, 5-character pieces 0.85 (at 2 %: 0.37 and 0.71, under the threshold).
    """
    flat = _NOT_ALNUM.sub(" ", fold(text[:TEXT_CHARS])).strip()
    return {flat[i : i + SHINGLE] for i in range(max(0, len(flat) - SHINGLE + 1))}


def jaccard(a: set[str], b: set[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def same_file_duplicates(courrier: Courrier) -> list[Duplicate]:
    originals = (
        Document.objects.for_org(courrier.organisation).filter(courrier=courrier).values("original_id")
    )
    rows = (
        Document.objects.for_org(courrier.organisation)
        .filter(original_id__in=originals, courrier__isnull=False)
        .exclude(courrier=courrier)
        .values_list("courrier_id", "courrier__chrono")
        .order_by("courrier_id")[:10]
    )
    seen: dict[int, Duplicate] = {}
    for courrier_id, chrono in rows:
        if chrono:
            seen.setdefault(courrier_id, Duplicate(courrier_id, chrono, SAME_FILE))
    return list(seen.values())


def _probe_terms(words: list[str]) -> list[str]:
    """Distinctive terms spread over the letter: long, not numbers, rare within the letter itself."""
    counts = Counter(words)
    chosen: list[str] = []
    usable = [w for w in dict.fromkeys(words) if len(w) >= 5 and not w.isdigit() and counts[w] <= 2]
    if not usable:
        return []
    step = max(1, len(usable) // (PROBE_PAIRS * 2))
    for index in range(0, len(usable), step):
        chosen.append(usable[index])
        if len(chosen) == PROBE_PAIRS * 2:
            break
    return chosen


def _similarity(mine: list[set[str]], theirs: list[set[str]]) -> float:
    """Best Jaccard index between the two courriers as wholes, or between one document of each.

    Document by document: the letter attached to an e-mail (whose body is another document) is the same
    letter as its scan received by post.
    """
    whole = jaccard(set().union(*mine), set().union(*theirs)) if mine and theirs else 0.0
    pairs = (jaccard(a, b) for a in mine for b in theirs if len(a) >= MIN_SHINGLES and len(b) >= MIN_SHINGLES)
    return max([whole, *pairs])


def near_duplicates(courrier: Courrier, texts: list[str], exclude: set[int]) -> list[Duplicate]:
    words = terms("\n".join(texts)[:TEXT_CHARS])
    if len(words) < MIN_TERMS:
        return []
    probes = _probe_terms(words)
    received = courrier.received_at
    filters = Filters(
        date_from=received - dt.timedelta(days=WINDOW_DAYS),
        date_to=received + dt.timedelta(days=WINDOW_DAYS),
        direction=Direction.ARRIVEE,
    )
    hits: Counter[int] = Counter()
    org_id = courrier.organisation_id
    for index in range(0, len(probes) - 1, 2):
        found, _ = search_ids(
            org_id, probes[index : index + 2], filters, CANDIDATES_PER_PROBE, candidates=CANDIDATES_PER_PROBE
        )
        for courrier_id, _score in found:
            if courrier_id != courrier.pk and courrier_id not in exclude:
                hits[courrier_id] += 1
    if not hits:
        return []
    candidate_ids = [courrier_id for courrier_id, _ in hits.most_common(MAX_COMPARED)]
    theirs: dict[int, list[set[str]]] = {}
    for courrier_id, head in (
        Document.objects.for_org(courrier.organisation)
        .filter(courrier_id__in=candidate_ids)
        .annotate(head=Substr("text", 1, TEXT_CHARS))
        .order_by("courrier_id", "position")
        .values_list("courrier_id", "head")
    ):
        theirs.setdefault(courrier_id, []).append(shingles(head or ""))
    chronos = dict(
        Courrier.objects.for_org(courrier.organisation)
        .filter(pk__in=candidate_ids)
        .values_list("pk", "chrono")
    )
    mine = [shingles(text) for text in texts]
    found_duplicates = []
    for courrier_id in candidate_ids:
        similarity = _similarity(mine, theirs.get(courrier_id, []))
        chrono = chronos.get(courrier_id)
        if similarity >= SIMILARITY and chrono:
            found_duplicates.append(Duplicate(courrier_id, chrono, SAME_TEXT, similarity))
    return sorted(found_duplicates, key=lambda d: -d.similarity)
