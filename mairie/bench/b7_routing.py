"""B7 — routing: accuracy of the service suggestion on a labelled corpus of generated French courriers.

``mairie.routing.corpus`` writes letters to a small commune (nine services, several topics each, varied
wordings, vague subjects, words of other services). The classifier of ``mairie.routing.classifier`` (the
one each organisation learns) is trained on two thirds and tested on the last third; the keyword rules a
new organisation starts with are measured on the same third. Several corpus seeds show how much the
figures move; the first seed is the one the test suite checks against the targets.
"""

from __future__ import annotations

import time
from typing import Any

from mairie.bench.common import Options, Section, fmt, log, median, table, verdict

TARGET_TOP1 = 0.85
TARGET_TOP3 = 0.95
LETTERS = 360
SEEDS = (2026, 1, 2, 3, 4)


def evaluate(count: int = LETTERS, seed: int = SEEDS[0]) -> dict[str, Any]:
    """Accuracy of the learned classifier and of the rules on one generated corpus (no database needed)."""
    from mairie.routing import classifier, corpus, rules

    letters = corpus.generate(count, seed)
    train, test = corpus.split(letters, seed)
    ids = {key: index for index, key in enumerate(corpus.SERVICES)}
    services = [(ids[key], name) for key, name in corpus.SERVICES.items()]

    def features(letter: corpus.CorpusLetter) -> str:
        return classifier.features_text(letter.subject, letter.sender, [letter.text])

    started = time.perf_counter()
    fitted = classifier.fit(
        [features(letter) for letter in train],
        [ids[letter.service] for letter in train],
        [letter.kind for letter in train],
    )
    train_seconds = time.perf_counter() - started
    top1 = top3 = kind_ok = rules_top1 = rules_top3 = rules_kind_ok = noisy_top1 = 0
    predict_times = []
    for letter in test:
        expected = ids[letter.service]
        started = time.perf_counter()
        ranked = fitted.rank_services(features(letter))
        kind = fitted.predict_kind(features(letter))
        predict_times.append(time.perf_counter() - started)
        top1 += ranked[0][0] == expected
        top3 += expected in [sid for sid, _ in ranked]
        kind_ok += kind == letter.kind
        noisy = corpus.ocr_noise(letter.text, seed=len(letter.text))
        noisy_ranked = fitted.rank_services(classifier.features_text(letter.subject, letter.sender, [noisy]))
        noisy_top1 += noisy_ranked[0][0] == expected
        by_rules = rules.rank_services(letter.subject, letter.text, services)
        rules_top1 += bool(by_rules) and by_rules[0][0] == expected
        rules_top3 += expected in [sid for sid, _ in by_rules]
        rules_kind_ok += rules.guess_kind(letter.subject, letter.text) == letter.kind
    n = len(test)
    return {
        "letters": len(letters),
        "train": len(train),
        "test": n,
        "top1": top1 / n,
        "top3": top3 / n,
        "kind": kind_ok / n,
        "noisy_top1": noisy_top1 / n,
        "rules_top1": rules_top1 / n,
        "rules_top3": rules_top3 / n,
        "rules_kind": rules_kind_ok / n,
        "train_seconds": train_seconds,
        "predict_ms": median(predict_times) * 1000,
    }


def _pct(value: float) -> str:
    return f"{value * 100:.1f} %"


def run(opts: Options) -> Section:
    seeds = opts.pick(SEEDS, SEEDS[:1])
    results = []
    for seed in seeds:
        log(f"B7: routing accuracy, corpus of {LETTERS} letters, seed {seed}…")
        results.append((seed, evaluate(LETTERS, seed)))
    rows = [
        [
            str(seed),
            f"{r['train']} / {r['test']}",
            _pct(r["top1"]),
            _pct(r["top3"]),
            _pct(r["kind"]),
            _pct(r["noisy_top1"]),
            _pct(r["rules_top1"]),
            _pct(r["rules_top3"]),
            fmt(r["train_seconds"]),
            fmt(r["predict_ms"]),
        ]
        for seed, r in results
    ]
    first = results[0][1]
    worst_top1 = min(r["top1"] for _, r in results)
    worst_top3 = min(r["top3"] for _, r in results)
    body = (
        f"{LETTERS} generated French courriers (`mairie/routing/corpus.py`, 9 services of a small commune), "
        "trained on 2/3, tested on 1/3; the learned classifier (TF-IDF on the search normalisation + "
        "logistic regression) and, for an organisation with no history, the keyword rules. "
        "« OCR noise »: the test letters' text with about 1 % of characters misread (e → c, l → 1, o → 0…). "
        "Training and prediction times on one core.\n\n"
        + table(
            [
                "seed",
                "train / test",
                "model top-1",
                "model top-3",
                "model type",
                "model top-1, OCR noise",
                "rules top-1",
                "rules top-3",
                "training (s)",
                "ms per courrier",
            ],
            rows,
        )
    )
    ok = worst_top1 >= TARGET_TOP1 and worst_top3 >= TARGET_TOP3
    return Section(
        "B7",
        "B7 — routing suggestions",
        body,
        verdict(
            ok,
            f"service top-1 {_pct(first['top1'])}, top-3 {_pct(first['top3'])} (targets ≥ 85 % / ≥ 95 %; "
            f"worst seed {_pct(worst_top1)} / {_pct(worst_top3)}); rules alone {_pct(first['rules_top1'])}",
        ),
    )
