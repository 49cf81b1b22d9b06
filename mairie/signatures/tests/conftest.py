"""The test PKI (made once per session), a real RFC 3161 server on loopback, and letters to sign."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from mairie.testing.pki import Issued, TestPKI, TimestampServer, sample_letter_pdf


@dataclass
class Keys:
    pki: TestPKI
    mayor: Issued  # Hélène Roussel, mayor of Saint-Aubin
    secretary: Issued  # Sylvie Marchand
    seal: Issued  # server seal of Saint-Aubin
    other_seal: Issued  # server seal of Villeneuve
    expired: Issued
    not_yet_valid: Issued
    encryption_only: Issued
    tsa: Issued

    @property
    def root(self) -> Any:
        return self.pki.root


@pytest.fixture(scope="session")
def keys() -> Keys:
    pki = TestPKI.create()
    return Keys(
        pki=pki,
        mayor=pki.person("Hélène Roussel", organisation="Commune de Saint-Aubin-les-Vignes"),
        secretary=pki.person("Sylvie Marchand", organisation="Commune de Saint-Aubin-les-Vignes"),
        seal=pki.seal("Saint-Aubin-les-Vignes"),
        other_seal=pki.seal("Villeneuve-sur-Lergue"),
        expired=pki.expired("Ancien Maire"),
        not_yet_valid=pki.not_yet_valid("Futur Maire"),
        encryption_only=pki.encryption_only("Chiffrement Seulement"),
        tsa=pki.tsa(),
    )


@pytest.fixture(scope="session")
def tsa_server(keys: Keys) -> Iterator[TimestampServer]:
    server = TimestampServer(keys.tsa).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def letter_pdf() -> bytes:
    return sample_letter_pdf()


@pytest.fixture
def tsa_url(settings: Any, tsa_server: TimestampServer) -> str:
    settings.TSA_URL = tsa_server.url
    return tsa_server.url
