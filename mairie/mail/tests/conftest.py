from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mairie.testing.dovecot import Dovecot, start_dovecot, stop_dovecot

_users = itertools.count(1)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """A real Dovecot on loopback for the session (any user logs in with its password; XOAUTH2 too)."""
    # Not under pytest's base temporary directory: that one is private (0700) and the mail processes
    # run as another user, who must reach the maildirs.
    root = Path(tempfile.mkdtemp(prefix="mairie-dovecot-"))
    root.chmod(0o755)
    server = start_dovecot(root)
    try:
        yield server
    finally:
        stop_dovecot(server)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def mail_user(dovecot: Dovecot) -> str:
    """A user of its own for each test: an empty mailbox."""
    return f"mairie{next(_users)}"
