"""The environment of the test run itself (``mairie.testing.pytest_env``)."""

from __future__ import annotations

import warnings
from pathlib import Path

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler


def test_web_stack_starts_without_warnings() -> None:
    """Loading every middleware is quiet: WhiteNoise warns when STATIC_ROOT does not exist."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        WSGIHandler()
    assert [f"{w.category.__name__}: {w.message}" for w in caught] == []
    assert Path(settings.STATIC_ROOT).is_dir()
