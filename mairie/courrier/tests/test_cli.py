"""The command-line interface other tools rely on: exact JSON shapes, exit codes, French messages."""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from mairie.courrier.models import Channel, Courrier, Status
from mairie.courrier.services import register_courrier
from mairie.organisations.models import Organisation
from mairie.testing.platform import platform

EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200


def _run(*args: str) -> tuple[int, list[dict[str, Any]]]:
    """call_command; return (exit code, JSON lines printed)."""
    out = io.StringIO()
    code = 0
    try:
        call_command(*args, stdout=out, stderr=io.StringIO())
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, [json.loads(line) for line in out.getvalue().splitlines() if line]


# --- org ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_org_create_prints_slug_and_id_and_keeps_the_identifiers(world):
    code, lines = _run(
        "org", "create", "--slug", "montbrun", "--name", "Montbrun-les-Bains", "--kind", "commune",
        "--siren", "212602221", "--insee", "26206", "--departement", "26", "--parent", "cc-grand-pic",
    )  # fmt: skip
    assert code == 0
    org = Organisation.objects.get(slug="montbrun")
    assert lines == [{"slug": "montbrun", "id": org.pk}]
    assert (org.name, org.kind, org.siren, org.insee_code) == (
        "Montbrun-les-Bains",
        "commune",
        "212602221",
        "26206",
    )
    assert org.departement_code == "026"
    assert org.parent == world.epci


@pytest.mark.django_db
def test_org_create_refuses_a_siren_failing_the_luhn_check_in_french(world):
    with pytest.raises(CommandError, match="Luhn"):
        call_command(
            "org", "create", "--slug", "faux", "--name", "Faux", "--kind", "commune", "--siren", "213400012"
        )
    assert not Organisation.objects.filter(slug="faux").exists()


@pytest.mark.django_db
def test_org_create_refuses_a_duplicate_slug_in_french(world):
    with pytest.raises(CommandError, match="« saint-aubin » est déjà utilisé"):
        call_command("org", "create", "--slug", "saint-aubin", "--name", "Autre", "--kind", "commune")
    assert Organisation.objects.get(slug="saint-aubin").name == "Saint-Aubin-les-Vignes"


@pytest.mark.django_db
def test_org_create_refuses_an_unknown_parent(world):
    with pytest.raises(CommandError, match="Organisation inconnue : « nulle-part »"):
        call_command(
            "org", "create", "--slug", "x", "--name", "X", "--kind", "commune", "--parent", "nulle-part"
        )


@pytest.mark.django_db
def test_org_list_prints_one_json_line_per_organisation_with_its_parent(world):
    code, lines = _run("org", "list")
    assert code == 0
    by_slug = {line["slug"]: line for line in lines}
    assert set(by_slug) == set(Organisation.objects.values_list("slug", flat=True))
    assert all(set(line) == {"slug", "name", "kind", "parent"} for line in lines)
    assert by_slug["saint-aubin"] == {
        "slug": "saint-aubin",
        "name": "Saint-Aubin-les-Vignes",
        "kind": "commune",
        "parent": "cc-grand-pic",
    }
    assert by_slug["numerique-34"]["parent"] is None
    assert by_slug["cc-grand-pic"]["kind"] == "epci"


# --- ingest ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_ingest_registers_accepted_files_reports_refused_ones_and_exits_1(
    world, make_file, text_pdf, png_bytes
):
    letter = make_file("lettre.pdf", text_pdf("Demande de location de la salle des fêtes"))
    disguised = make_file("facture.pdf", EXE)
    empty = make_file("vide.pdf", b"")
    photo = make_file("photo.png", png_bytes())
    missing = letter.with_name("absent.pdf")

    code, lines = _run(
        "ingest", "--org", "saint-aubin", str(letter), str(disguised), str(empty), str(missing), str(photo)
    )

    assert code == 1
    assert [line["file"] for line in lines] == [str(p) for p in (letter, disguised, empty, missing, photo)]
    assert [line["status"] for line in lines] == [
        "registered",
        "rejected",
        "rejected",
        "rejected",
        "registered",
    ]
    assert set(lines[0]) == {"file", "status", "chrono", "sha256"}
    assert all(set(line) == {"file", "status", "error"} for line in lines[1:4])
    assert lines[0]["sha256"] == hashlib.sha256(letter.read_bytes()).hexdigest()
    assert lines[4]["sha256"] == hashlib.sha256(photo.read_bytes()).hexdigest()
    year = Courrier.objects.get(chrono=lines[0]["chrono"]).year
    assert [lines[0]["chrono"], lines[4]["chrono"]] == [f"{year}-A-000001", f"{year}-A-000002"]
    assert "n'est pas accepté" in lines[1]["error"] and "facture.pdf" in lines[1]["error"]
    assert "vide" in lines[2]["error"]
    assert lines[3]["error"] == "Fichier introuvable."
    registered = Courrier.objects.for_org(world.commune)
    assert registered.count() == 2
    assert all(c.channel == Channel.SCAN and c.status == Status.A_ENREGISTRER for c in registered)
    assert Courrier.objects.for_org(world.other_commune).count() == 0


@pytest.mark.django_db
def test_ingest_exits_0_when_every_file_is_registered_through_the_given_channel(world, make_file, text_pdf):
    first = make_file("guichet-1.pdf", text_pdf("Déclaration de travaux"))
    second = make_file("guichet-2.pdf", text_pdf("Demande d'acte de naissance"))

    code, lines = _run("ingest", "--org", "villeneuve", "--channel", "counter", str(first), str(second))

    assert code == 0
    assert [line["status"] for line in lines] == ["registered", "registered"]
    courriers = Courrier.objects.for_org(world.other_commune)
    assert sorted(courriers.values_list("chrono", flat=True)) == [line["chrono"] for line in lines]
    assert {c.channel for c in courriers} == {Channel.COUNTER}


@pytest.mark.django_db
def test_ingest_into_an_unknown_organisation_is_refused(world, make_file, text_pdf):
    path = make_file("lettre.pdf", text_pdf("Bonjour"))
    with pytest.raises(CommandError, match="Organisation inconnue"):
        call_command("ingest", "--org", "atlantide", str(path))
    assert Courrier.objects.count() == 0


# --- search ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_search_prints_one_json_line_per_hit_accent_insensitive_and_scoped(world):
    school = register_courrier(
        organisation=world.commune, actor=None, subject="Travaux à l'École Jules-Ferry"
    )
    canteen = register_courrier(organisation=world.commune, actor=None, subject="Menus de l'école maternelle")
    register_courrier(organisation=world.commune, actor=None, subject="Élagage des platanes")
    register_courrier(organisation=world.other_commune, actor=None, subject="École de musique")

    code, lines = _run("search", "--org", "saint-aubin", "ecole")

    assert code == 0
    assert {line["chrono"] for line in lines} == {school.chrono, canteen.chrono}
    assert all(set(line) == {"chrono", "subject", "score", "snippet"} for line in lines)
    by_chrono = {line["chrono"]: line for line in lines}
    assert by_chrono[school.chrono]["subject"] == "Travaux à l'École Jules-Ferry"
    assert "[[École]]" in by_chrono[school.chrono]["snippet"]
    assert all(isinstance(line["score"], float) for line in lines)
    assert lines[0]["score"] >= lines[1]["score"]

    code, limited = _run("search", "--org", "saint-aubin", "--limit", "1", "ecole")
    assert code == 0 and len(limited) == 1 and limited[0]["chrono"] in by_chrono
    assert _run("search", "--org", "saint-aubin", "musique") == (0, [])


# --- the real console script -------------------------------------------------------------------------


def test_console_script_prints_json_lines_and_sets_exit_codes(tmp_path, text_pdf):
    """`.venv/bin/mairie` as other tools call it, on its own platform."""
    letter = tmp_path / "subvention-comite-des-fetes.pdf"
    letter.write_bytes(text_pdf("Demande de subvention pour le comité des fêtes"))
    program = tmp_path / "programme.pdf"
    program.write_bytes(EXE)

    with platform(tmp_path, "cli") as mairie:
        [created] = mairie.json_lines("org", "create", "--slug", "st-aubin", "--name", "Saint-Aubin",
                                      "--kind", "commune", "--siren", "213400013")  # fmt: skip
        assert set(created) == {"slug", "id"} and created["slug"] == "st-aubin"

        bad = mairie.run("org", "create", "--slug", "x", "--name", "X", "--kind", "commune",
                         "--siren", "123456789", expect=None)  # fmt: skip
        assert bad.returncode != 0 and "Luhn" in bad.stderr and "Traceback" not in bad.stderr

        assert mairie.json_lines("org", "list") == [
            {"slug": "st-aubin", "name": "Saint-Aubin", "kind": "commune", "parent": None}
        ]

        ingested = mairie.json_lines("ingest", "--org", "st-aubin", str(letter), str(program), expect=1)
        assert [line["status"] for line in ingested] == ["registered", "rejected"]
        chrono = ingested[0]["chrono"]

        # Found at once by its file name (the text follows when the worker has read the document).
        [hit] = mairie.json_lines("search", "--org", "st-aubin", "subventions")
        assert hit["chrono"] == chrono

        csv_path = tmp_path / "registre.csv"
        [summary] = mairie.json_lines("register", "export", "--org", "st-aubin", "--from", "2000-01-01",
                                      "--to", "2100-12-31", "--format", "csv", "--output", str(csv_path))  # fmt: skip
        assert summary["courriers"] == 1 and chrono in csv_path.read_text(encoding="utf-8-sig")

        [chain] = mairie.json_lines("audit", "verify", "--org", "st-aubin")
        assert chain["status"] == "ok"
