"""Every environment variable the code reads is documented in docs/configuration.md."""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2]
DOC = PACKAGE.parent / "docs" / "configuration.md"
READ_PATTERNS = [
    re.compile(r"""env_(?:str|int|float|bool|list)\(\s*["']([A-Z][A-Z0-9_]+)["']"""),
    re.compile(r"""os\.environ(?:\.get)?[\[(]\s*["'](MAIRIE_[A-Z0-9_]+|DATABASE_URL)["']"""),
    re.compile(r"""os\.getenv\(\s*["'](MAIRIE_[A-Z0-9_]+|DATABASE_URL)["']"""),
]


def variables_read_by_code() -> set[str]:
    found: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        if "tests" in path.parts or "testing" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        for pattern in READ_PATTERNS:
            found.update(pattern.findall(text))
    return found


def test_every_environment_variable_is_documented():
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", DOC.read_text(encoding="utf-8")))
    read = variables_read_by_code()
    assert read, "the scan found no variable: the pattern is broken"
    missing = sorted(read - documented)
    assert not missing, f"undocumented in docs/configuration.md: {missing}"


def test_settings_registry_only_holds_documented_variables():
    from mairie.conf import REGISTRY

    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", DOC.read_text(encoding="utf-8")))
    assert set(REGISTRY) - documented == set()
