"""The administrators' pages: list, write with every problem shown, import, diagram, versions, export."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from mairie.workflows import services
from mairie.workflows.models import WorkflowDefinition

from .test_services import SOURCE


def _url(world, name, *args):
    return reverse(f"workflows:{name}", args=[world.commune.slug, *args])


def test_admin_creates_a_definition_errors_listed_and_text_kept(world, as_user):
    client = as_user(world.commune_admin)
    page = client.get(_url(world, "add"))
    assert page.status_code == 200 and "name: mon-circuit" in page.content.decode()
    broken = SOURCE.replace("to: clos", "to: fermé").replace(
        "label: Reçu", "label: Reçu\n    on_enter: [{action: voler}]"
    )
    response = client.post(_url(world, "add"), {"source": broken})
    html = response.content.decode()
    assert response.status_code == 400
    assert "2 problèmes à corriger" in html  # not the graph consequences of the typo
    assert "<code>transitions[0] (« clore »).to</code>" in html and "étape inconnue « fermé »" in html
    assert "action inconnue « voler »" in html
    assert "to: fermé" in html  # the text typed is kept
    assert 'aria-invalid="true"' in html and 'role="alert"' in html
    assert not WorkflowDefinition.objects.exists()

    response = client.post(_url(world, "add"), {"source": SOURCE})
    wd = WorkflowDefinition.objects.get()
    assert response.status_code == 302 and response["Location"] == _url(world, "detail", wd.pk)
    assert wd.created_by == world.commune_admin and wd.source == SOURCE


def test_edit_makes_a_new_version_and_history_shows_both(world, as_user):
    client = as_user(world.commune_admin)
    v1 = services.save_definition(organisation=world.commune, actor=None, text=SOURCE)
    page = client.get(_url(world, "edit", v1.pk))
    assert "# Un commentaire" in page.content.decode()
    response = client.post(
        _url(world, "edit", v1.pk), {"source": SOURCE.replace("label: Clos", "label: Terminé")}, follow=True
    )
    v2 = services.current_definition(world.commune, "simple")
    assert v2.version == 2
    html = response.content.decode()
    assert "version 2" in html and "Version 1" in html
    response = client.post(_url(world, "edit", v2.pk), {"source": v2.source}, follow=True)
    assert "aucune nouvelle version" in response.content.decode()


def test_detail_page_has_diagram_and_text_list(world, as_user):
    client = as_user(world.commune_admin)
    services.install_library(world.commune)
    wd = services.current_definition(world.commune, "avis-technique-decision-maire")
    html = client.get(_url(world, "detail", wd.pk)).content.decode()
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in html and 'role="img"' in html
    assert "Demander l&#x27;avis des services techniques" in html
    assert "Élu" in html and "Administrateur" in html  # who may apply « accepter »
    assert "le système seulement (transition automatique)" in html
    assert "Lancer un circuit de visa et de signature" in html and "visa courrier → signature elu" in html
    assert "data.montant &lt;= 1000" in html


def test_list_install_and_export(world, as_user):
    client = as_user(world.commune_admin)
    html = client.get(_url(world, "list")).content.decode()
    assert "Aucun circuit" in html and "Installer les circuits prêts à l'emploi" in html
    client.post(_url(world, "install_library"))
    html = client.get(_url(world, "list")).content.decode()
    assert "Instruction par l&#x27;EPCI (ADS) et décision du maire" in html
    assert "Installer les circuits" not in html
    wd = services.current_definition(world.commune, "transmission-epci")
    response = client.get(_url(world, "export", wd.pk))
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="transmission-epci-v1.yaml"'
    assert response.content.decode() == services.export_text(wd)


def test_import_file(world, as_user):
    client = as_user(world.commune_admin)
    upload = SimpleUploadedFile("simple.yaml", SOURCE.encode("utf-8"), content_type="application/yaml")
    response = client.post(_url(world, "import"), {"file": upload})
    assert response.status_code == 302
    assert services.current_definition(world.commune, "simple").source == SOURCE
    bad = SimpleUploadedFile("simple.txt", b"name: x", content_type="text/plain")
    response = client.post(_url(world, "import"), {"file": bad})
    assert response.status_code == 400 and ".yaml" in response.content.decode()
    too_big = SimpleUploadedFile("big.yaml", b"#" * (300 * 1024), content_type="application/yaml")
    assert "trop gros" in client.post(_url(world, "import"), {"file": too_big}).content.decode()
    invalid = SimpleUploadedFile("x.json", b'{"name": "x"}', content_type="application/json")
    response = client.post(_url(world, "import"), {"file": invalid})
    assert response.status_code == 400 and "problèmes à corriger" in response.content.decode()


def test_toggle_active(world, as_user):
    client = as_user(world.commune_admin)
    wd = services.save_definition(organisation=world.commune, actor=None, text=SOURCE)
    client.post(_url(world, "toggle", wd.pk))
    wd.refresh_from_db()
    assert not wd.is_active


def test_non_admins_are_refused(world, as_user):
    wd = services.save_definition(organisation=world.commune, actor=None, text=SOURCE)
    for user in (world.secretary, world.mayor, world.agent):
        client = as_user(user)
        for name, args in (
            ("list", ()),
            ("add", ()),
            ("detail", (wd.pk,)),
            ("export", (wd.pk,)),
            ("import", ()),
        ):
            assert client.get(_url(world, name, *args)).status_code == 403
        assert (
            client.post(
                _url(world, "add"), {"source": SOURCE.replace("Circuit simple", "Piraté")}
            ).status_code
            == 403
        )
    outsider = as_user(world.other_agent)
    assert outsider.get(_url(world, "detail", wd.pk)).status_code == 404
    assert WorkflowDefinition.objects.count() == 1


def test_nav_link_for_admins(world, as_user):
    html = as_user(world.commune_admin).get(_url(world, "list")).content.decode()
    assert 'aria-current="page">Circuits de traitement</a>' in html
