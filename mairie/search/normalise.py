"""The one text normalisation behind search, on every database backend.

Words are lower-cased, accents folded, then stemmed with the Snowball French stemmer, so that ``ecole``
finds ``école`` and ``délibérations`` finds ``délibération``. The same function runs on documents and on
queries, so SQLite (FTS5) and PostgreSQL (tsvector) index and look up exactly the same terms.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import lru_cache

import Stemmer

WORD_RE = re.compile(r"\w+", re.UNICODE)

# Words too frequent to help a search; they are not indexed. Folded (no accents).
STOPWORDS = frozenset(
    [
        "a",
        "au",
        "aux",
        "avec",
        "ce",
        "ces",
        "c",
        "d",
        "dans",
        "de",
        "des",
        "du",
        "elle",
        "en",
        "et",
        "eux",
        "il",
        "ils",
        "je",
        "j",
        "l",
        "la",
        "le",
        "les",
        "leur",
        "lui",
        "m",
        "ma",
        "mais",
        "me",
        "meme",
        "mes",
        "moi",
        "mon",
        "n",
        "ne",
        "nos",
        "notre",
        "nous",
        "on",
        "ou",
        "par",
        "pas",
        "pour",
        "qu",
        "que",
        "qui",
        "s",
        "sa",
        "se",
        "ses",
        "son",
        "sur",
        "t",
        "ta",
        "te",
        "tes",
        "toi",
        "ton",
        "tu",
        "un",
        "une",
        "vos",
        "votre",
        "vous",
        "y",
        "ete",
        "etre",
        "est",
        "sont",
    ]
)

_MAX_WORD = 40
_stemmer = Stemmer.Stemmer("french")


def fold(text: str) -> str:
    """Lower-case and strip accents (é → e, œ → oe, ß → ss)."""
    text = text.lower().replace("œ", "oe").replace("æ", "ae").replace("ß", "ss")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=200_000)
def stem(folded_word: str) -> str:
    return _stemmer.stemWord(folded_word)


@lru_cache(maxsize=100_000)
def term(word: str) -> str | None:
    """The index term of one word, or None when the word is not indexed.

    Cached: the words of a language are few, and indexing a long OCR text meets the same ones again.
    """
    folded = fold(word)
    if not folded or folded in STOPWORDS or len(folded) > _MAX_WORD:
        return None
    if folded.isdigit():
        return folded.lstrip("0") or "0"
    return stem(folded)


def iter_terms(text: str) -> Iterator[str]:
    for match in WORD_RE.finditer(text.replace("_", " ")):
        t = term(match.group())
        if t:
            yield t


def terms(text: str) -> list[str]:
    return list(iter_terms(text))


def query_terms(query: str) -> list[str]:
    """Distinct terms of a query, in order."""
    seen: dict[str, None] = {}
    for t in iter_terms(query):
        seen.setdefault(t, None)
    return list(seen)
