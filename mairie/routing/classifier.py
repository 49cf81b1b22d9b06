"""The per-organisation classifier: TF-IDF on the search normalisation, then a logistic regression.

Features are the terms of ``mairie.search.normalise`` (folded, stemmed, without stop words) and their
pairs, over the subject (counted twice), the sender's name and the beginning of the documents' text. A
logistic regression gives calibrated probabilities, so the three best services come with scores an agent
can read. The fitted objects are pickled into the organisation's ``RoutingModel`` row: a worker on any
machine reads them from the database.
"""

from __future__ import annotations

import itertools
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mairie.search.normalise import terms

# Only the beginning of a long document says what it is about (a 300-page annex would drown its letter).
TEXT_CHARS = 4000
FORMAT_VERSION = 1


def features_text(subject: str, sender: str, texts: Sequence[str]) -> str:
    body = "\n".join(t for t in texts if t)[:TEXT_CHARS]
    return "\n".join([subject, subject, sender, body])


def analyse(text: str) -> list[str]:
    """Terms and pairs of neighbouring terms (module-level: the fitted vectoriser is pickled with it)."""
    words = terms(text)
    return words + [f"{a}_{b}" for a, b in itertools.pairwise(words)]


@dataclass
class Fitted:
    vectorizer: Any
    service: Any  # classifier over service ids
    kind: Any | None  # classifier over courrier types (None: a single type was seen)
    service_labels: list[int]
    kind_labels: list[str]

    def rank_services(self, text: str, top: int = 3) -> list[tuple[int, float]]:
        matrix = self.vectorizer.transform([text])
        probabilities = self.service.predict_proba(matrix)[0]
        order = probabilities.argsort()[::-1][:top]
        return [(int(self.service.classes_[i]), float(probabilities[i])) for i in order]

    def predict_kind(self, text: str) -> str | None:
        if self.kind is None:
            return self.kind_labels[0] if self.kind_labels else None
        return str(self.kind.predict(self.vectorizer.transform([text]))[0])


def fit(
    texts: Sequence[str],
    services: Sequence[int],
    kinds: Sequence[str],
    weights: Sequence[float] | None = None,
) -> Fitted:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(analyzer=analyse, sublinear_tf=True, min_df=1, max_features=50_000)
    matrix = vectorizer.fit_transform(texts)
    service_model = LogisticRegression(C=20.0, max_iter=2000)
    service_model.fit(matrix, list(services), sample_weight=weights)
    kind_model = None
    if len(set(kinds)) > 1:
        kind_model = LogisticRegression(C=20.0, max_iter=2000)
        kind_model.fit(matrix, list(kinds), sample_weight=weights)
    return Fitted(
        vectorizer=vectorizer,
        service=service_model,
        kind=kind_model,
        service_labels=sorted(set(services)),
        kind_labels=sorted(set(kinds)),
    )


def dumps(fitted: Fitted) -> bytes:
    return pickle.dumps({"version": FORMAT_VERSION, "fitted": fitted}, protocol=pickle.HIGHEST_PROTOCOL)


def loads(blob: bytes) -> Fitted | None:
    """The fitted classifier, or None when it cannot be read (written by another version: retrain)."""
    try:
        # The blob was written by this platform into its own database (RoutingModel), never by a user.
        data = pickle.loads(blob)  # noqa: S301
    except Exception:
        return None
    if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
        return None
    fitted = data.get("fitted")
    return fitted if isinstance(fitted, Fitted) else None


def sklearn_version() -> str:
    import sklearn

    return str(sklearn.__version__)
