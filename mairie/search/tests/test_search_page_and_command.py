"""The search page (/o/<slug>/recherche/, whole page or htmx fragment) and `mairie search`."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from mairie.courrier.models import Status
from mairie.courrier.services import change_status

pytestmark = pytest.mark.django_db

URL = "/o/saint-aubin/recherche/"


def test_search_page_shows_hits_with_marked_snippets(world, add_courrier, as_user):
    courrier = add_courrier("Cantine scolaire", text="Le menu de la cantine <b>change</b> lundi.")
    add_courrier("Piscine municipale")
    client = as_user(world.secretary)
    response = client.get(URL, {"q": "cantines"})
    assert response.status_code == 200
    page = response.content.decode()
    assert page.startswith("<!DOCTYPE html>")
    assert "1 résultat pour « cantines »" in page
    assert f'href="/o/saint-aubin/courriers/{courrier.chrono}/"' in page
    assert "<mark>cantine</mark>" in page
    assert "&lt;b&gt;change&lt;/b&gt;" in page
    assert "Piscine" not in page
    assert "HX-Request" in response["Vary"]


def test_htmx_request_gets_only_the_results_fragment(world, add_courrier, as_user):
    courrier = add_courrier("Cantine scolaire")
    client = as_user(world.secretary)
    response = client.get(URL, {"q": "cantine"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    fragment = response.content.decode()
    assert "<html" not in fragment and "<form" not in fragment
    assert fragment.lstrip().startswith("<h2>1 résultat pour « cantine »</h2>")
    assert courrier.chrono in fragment
    # A history restore is a full page even though htmx sends it.
    restore = client.get(
        URL, {"q": "cantine"}, headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )
    assert restore.content.decode().startswith("<!DOCTYPE html>")


def test_search_page_applies_filters_and_pages(world, add_courrier, as_user):
    made = [add_courrier(f"Demande de rendez-vous {n}") for n in range(23)]
    change_status(membership=world.membership(world.secretary), courrier=made[3], status=Status.TRAITE)
    client = as_user(world.secretary)
    first = client.get(URL, {"q": "rendez-vous"}).content.decode()
    assert "23 résultats" in first and "Page 1 sur 2" in first
    assert first.count('<article class="result">') == 20
    second = client.get(URL, {"q": "rendez-vous", "page": "2"}).content.decode()
    assert second.count('<article class="result">') == 3 and "Page 2 sur 2" in second
    filtered = client.get(URL, {"q": "rendez-vous", "status": Status.TRAITE}).content.decode()
    assert "1 résultat" in filtered and made[3].chrono in filtered


def test_search_page_finds_a_chrono_number(world, add_courrier, as_user):
    add_courrier("Premier")
    second = add_courrier("Second")
    response = as_user(world.secretary).get(URL, {"q": second.chrono})
    page = response.content.decode()
    assert "1 résultat" in page and f"{second.chrono} — Second" in page


def test_search_page_without_query_shows_no_results(world, add_courrier, as_user):
    add_courrier("Cantine")
    page = as_user(world.secretary).get(URL).content.decode()
    assert "résultat" not in page.split("<h1>", 1)[1].split("</form>", 1)[1]


def test_agent_of_other_commune_gets_404_on_search(world, add_courrier, as_user):
    add_courrier("Cantine")
    assert as_user(world.other_agent).get(URL, {"q": "cantine"}).status_code == 404


def test_anonymous_visitor_is_sent_to_login(world, client):
    response = client.get(URL, {"q": "cantine"})
    assert response.status_code == 302
    assert "/connexion/?next=/o/saint-aubin/recherche/" in response["Location"]


def run_search(*args: str) -> list[dict]:
    out = io.StringIO()
    call_command("search", *args, stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_search_command_prints_one_json_line_per_hit(world, add_courrier):
    best = add_courrier("Cantine scolaire", text="Menu de la cantine & du goûter <bio>.")
    other = add_courrier("Lettre", text="Question sur la cantine.")
    add_courrier("Cantine", org=world.other_commune)
    lines = run_search("--org", "saint-aubin", "cantine")
    assert [line["chrono"] for line in lines] == [best.chrono, other.chrono]
    assert all(set(line) == {"chrono", "subject", "score", "snippet"} for line in lines)
    assert lines[0]["subject"] == "Cantine scolaire"
    assert lines[0]["score"] > lines[1]["score"] > 0
    assert "[[cantine]] & du goûter <bio>." in lines[0]["snippet"]
    assert run_search("--org", "saint-aubin", "--limit", "1", "cantine") == lines[:1]
    assert run_search("--org", "saint-aubin", "piscine") == []


def test_search_command_joins_words_and_reads_chrono_numbers(world, add_courrier):
    add_courrier("Cantine scolaire")
    piscine = add_courrier("Piscine et cantine")
    assert [line["chrono"] for line in run_search("--org", "saint-aubin", "piscine", "cantine")] == [
        piscine.chrono
    ]
    assert [line["chrono"] for line in run_search("--org", "saint-aubin", piscine.chrono)] == [piscine.chrono]


def test_search_command_refuses_an_unknown_organisation(world):
    with pytest.raises(CommandError, match="Organisation inconnue"):
        run_search("--org", "nulle-part", "cantine")


def test_reindex_command_rebuilds_the_index(world, add_courrier):
    from mairie.search.models import SearchEntry

    courrier = add_courrier("Cantine", text="Menu du jour", comments=["Vu"])
    SearchEntry.objects.filter(courrier=courrier).update(title_terms="", body_terms="")
    assert run_search("--org", "saint-aubin", "menu") == []
    out = io.StringIO()
    call_command("reindex", "--org", "saint-aubin", stdout=out)
    assert json.loads(out.getvalue()) == {"reindexed": 1}
    assert [line["chrono"] for line in run_search("--org", "saint-aubin", "menu")] == [courrier.chrono]


def test_search_page_says_when_only_the_most_recent_matches_are_shown(
    world, add_courrier, as_user, monkeypatch
):
    from mairie.search import backends

    monkeypatch.setattr(backends, "RANKED_CANDIDATES", 3)
    made = [add_courrier(f"Permis de construire {n}") for n in range(5)]
    page = as_user(world.secretary).get(URL, {"q": "permis"}).content.decode()
    assert "5 résultats" in page
    assert "Seuls les 3 courriers les plus récents sont classés et affichés" in page
    assert page.count('<article class="result">') == 3
    assert made[0].chrono not in page and made[4].chrono in page
