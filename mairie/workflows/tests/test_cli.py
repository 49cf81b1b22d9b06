"""`mairie workflow …`: the JSON interface other tools rely on."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from mairie.workflows import services
from mairie.workflows.definition import parse_text
from mairie.workflows.models import WorkflowDefinition

from .helpers import valid


def _run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("workflow", *args, stdout=out)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue()
    return 0, out.getvalue()


def _write(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(
        content if isinstance(content, str) else json.dumps(content, ensure_ascii=False), encoding="utf-8"
    )
    return str(path)


def test_validate_valid_file_exit_0(tmp_path):
    code, out = _run("validate", _write(tmp_path, "ok.json", valid()))
    assert code == 0
    assert json.loads(out) == {"valid": True}


def test_validate_invalid_file_lists_every_problem_exit_1(tmp_path):
    data = valid()
    data["initial"] = "x"
    data["statuses"][0]["on_enter"] = [{"action": "voler"}]
    code, out = _run("validate", _write(tmp_path, "bad.yaml", json.dumps(data)))
    assert code == 1
    result = json.loads(out)
    assert result["valid"] is False
    assert {"where": "initial", "message": result["errors"][1]["message"]} in result["errors"]
    assert len(result["errors"]) == 2
    assert all(set(e) == {"where", "message"} for e in result["errors"])
    assert "action inconnue" in out and "étape inconnue" in out  # French, not escaped


def test_validate_syntax_error_and_missing_file(tmp_path):
    code, out = _run("validate", _write(tmp_path, "broken.yaml", "name: [oops\n"))
    assert code == 1 and json.loads(out)["errors"][0]["where"].startswith("ligne")
    code, out = _run("validate", str(tmp_path / "absent.yaml"))
    assert code == 1 and json.loads(out)["errors"][0]["where"] == "fichier"


def test_import_list_export_round_trip(world, tmp_path):
    source = services.library_texts()["transmission-epci"]
    path = _write(tmp_path, "epci.yaml", source)
    code, out = _run("import", "--org", world.commune.slug, path)
    assert code == 0 and json.loads(out) == {"name": "transmission-epci", "version": 1, "created": True}
    code, out = _run("import", "--org", world.commune.slug, path)
    assert json.loads(out) == {"name": "transmission-epci", "version": 1, "created": False}
    code, out = _run(
        "import",
        "--org",
        world.commune.slug,
        _write(tmp_path, "v2.yaml", source.replace("Reçue en mairie", "Déposée")),
    )
    assert json.loads(out) == {"name": "transmission-epci", "version": 2, "created": True}
    services.save_definition(organisation=world.commune, actor=None, data=valid())

    code, out = _run("list", "--org", world.commune.slug)
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(line["name"], line["version"]) for line in lines] == [
        ("demande-avis-technique", 1),
        ("transmission-epci", 2),
    ]
    assert lines[1]["title"] == "Instruction par l'EPCI (ADS) et décision du maire"

    # Export (to a file and to stdout), then validate and import it again: same definition, no new version.
    exported = tmp_path / "export.yaml"
    for name in ("transmission-epci", "demande-avis-technique"):
        code, _ = _run("export", "--org", world.commune.slug, name, "--output", str(exported))
        assert code == 0
        current = services.current_definition(world.commune, name)
        assert parse_text(exported.read_text(encoding="utf-8")) == current.definition
        assert _run("validate", str(exported)) == (0, '{"valid": true}\n')
        code, out = _run("import", "--org", world.commune.slug, str(exported))
        assert json.loads(out) == {"name": name, "version": current.version, "created": False}
    code, out = _run("export", "--org", world.commune.slug, "transmission-epci", "--version", "1")
    assert "Reçue en mairie" in out and out == source
    assert WorkflowDefinition.objects.for_org(world.commune).count() == 3


def test_import_invalid_prints_errors_exit_1(world, tmp_path):
    code, out = _run("import", "--org", world.commune.slug, _write(tmp_path, "bad.yaml", "name: x\n"))
    assert code == 1
    result = json.loads(out)
    assert result["valid"] is False and len(result["errors"]) >= 3
    assert not WorkflowDefinition.objects.exists()


def test_export_unknown_and_unknown_org(world):
    with pytest.raises(CommandError, match="Circuit inconnu"):
        _run("export", "--org", world.commune.slug, "nope")
    with pytest.raises(CommandError, match="Organisation inconnue"):
        _run("list", "--org", "nulle-part")


def test_install_library(world):
    code, out = _run("install-library", "--org", world.commune.slug)
    assert code == 0 and len(out.splitlines()) == 3
    assert _run("install-library", "--org", world.commune.slug) == (0, "")
