"""`mairie pdf verify FILE [--trust CA.pem]`: one JSON line per signature; exit status 1 when one is broken."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from mairie.signatures.pades import sign_pdf
from mairie.signatures.tests.helpers import flip_byte_in_signed_range, signer_of


@pytest.fixture(scope="module")
def signed(keys, letter_pdf):
    once = sign_pdf(
        letter_pdf, signer=signer_of(keys.mayor), signer_name="Hélène Roussel", signer_role="Maire"
    )
    return sign_pdf(
        once, signer=signer_of(keys.seal), signer_name="Saint-Aubin", signer_role="Cachet serveur"
    )


def _run(*args):
    out, err = StringIO(), StringIO()
    code = 0
    try:
        call_command("pdf", *args, stdout=out, stderr=err)
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def test_verify_prints_one_json_line_per_signature(tmp_path, keys, signed):
    path = tmp_path / "signe.pdf"
    path.write_bytes(signed)
    ca = tmp_path / "ca.pem"
    ca.write_bytes(keys.pki.root_pem())
    code, out, _ = _run("verify", str(path), "--trust", str(ca))
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["signer"] for line in lines] == ["Hélène Roussel", "Cachet serveur — Saint-Aubin-les-Vignes"]
    first, second = lines
    assert set(first) >= {
        "signer",
        "signing_time",
        "intact",
        "valid",
        "trusted",
        "covers_whole_document",
        "timestamp",
        "problems",
    }
    assert first["intact"] and first["valid"] and first["trusted"] and not first["covers_whole_document"]
    assert second["covers_whole_document"] and second["problems"] == [] and second["timestamp"] is None
    assert "T" in first["signing_time"]  # ISO 8601
    # Without --trust: still intact and valid (exit 0), but not trusted.
    code, out, _ = _run("verify", str(path))
    assert code == 0 and all(not json.loads(line)["trusted"] for line in out.splitlines())


def test_broken_signature_exits_1_and_no_signature_says_so(tmp_path, keys, signed, letter_pdf):
    altered = tmp_path / "altere.pdf"
    altered.write_bytes(flip_byte_in_signed_range(signed))
    code, out, _ = _run("verify", str(altered))
    assert code == 1
    assert json.loads(out.splitlines()[0])["intact"] is False
    unsigned = tmp_path / "lettre.pdf"
    unsigned.write_bytes(letter_pdf)
    code, out, err = _run("verify", str(unsigned))
    assert (code, out) == (1, "") and "Aucune signature dans ce fichier." in err
    not_pdf = tmp_path / "texte.pdf"
    not_pdf.write_text("Bonjour")
    with pytest.raises(CommandError, match="n'est pas un PDF"):
        call_command("pdf", "verify", str(not_pdf))
    with pytest.raises(CommandError, match="Fichier illisible"):
        call_command("pdf", "verify", str(tmp_path / "absent.pdf"))


def test_the_mairie_command_line_exit_status(tmp_path, signed):
    """The real console script, as other tools call it (exit statuses, stdout JSON only)."""
    good, bad = tmp_path / "bon.pdf", tmp_path / "altere.pdf"
    good.write_bytes(signed)
    bad.write_bytes(flip_byte_in_signed_range(signed))
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "mairie.settings"}
    command = [sys.executable, "-m", "mairie", "pdf", "verify"]
    ok = subprocess.run([*command, str(good)], capture_output=True, text=True, env=env, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert len(ok.stdout.splitlines()) == 2 and all(json.loads(line) for line in ok.stdout.splitlines())
    broken = subprocess.run([*command, str(bad)], capture_output=True, text=True, env=env, timeout=120)
    assert broken.returncode == 1
