"""Search through the services, on whichever database the suite runs (SQLite or PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone

from mairie.courrier.models import Channel, Direction, Kind, Status
from mairie.courrier.services import change_status, update_courrier
from mairie.search.backends import Filters
from mairie.search.models import SearchEntry
from mairie.search.services import search_courriers

pytestmark = pytest.mark.django_db


def chronos(world, query, **kwargs):
    result = search_courriers(organisation=kwargs.pop("org", world.commune), query=query, **kwargs)
    return {hit.courrier.chrono for hit in result.hits}


def test_accents_and_case_do_not_matter(world, add_courrier):
    accented = add_courrier("Inscription à l'école maternelle")
    plain = add_courrier("Cantine de l'ECOLE primaire")
    for query in ("ecole", "ECOLE", "école", "École", "EcOlE"):
        assert chronos(world, query) == {accented.chrono, plain.chrono}, query


def test_plural_and_singular_find_each_other(world, add_courrier):
    singular = add_courrier("Délibération du conseil municipal")
    plural = add_courrier("Registre des délibérations")
    other = add_courrier("Demandes de subventions municipaux")
    assert chronos(world, "délibérations") == {singular.chrono, plural.chrono}
    assert chronos(world, "deliberation") == {singular.chrono, plural.chrono}
    assert chronos(world, "demande subvention") == {other.chrono}
    assert chronos(world, "municipal") == {singular.chrono, other.chrono}


def test_subject_contact_document_text_and_comments_are_searched(world, add_courrier):
    by_subject = add_courrier("Élagage des platanes")
    by_contact = add_courrier(
        "Demande de rendez-vous", sender="Gaëlle Prud'homme", sender_email="gp@exemple.fr"
    )
    by_text = add_courrier("Lettre", text="Le lavoir communal menace de s'effondrer.")
    by_comment = add_courrier("Appel téléphonique", comments=["Rappeler le garde champêtre demain."])
    assert chronos(world, "platane") == {by_subject.chrono}
    assert chronos(world, "gaelle prud homme") == {by_contact.chrono}
    assert chronos(world, "gp@exemple.fr") == {by_contact.chrono}
    assert chronos(world, "lavoirs effondrer") == {by_text.chrono}
    assert chronos(world, "champetre") == {by_comment.chrono}


def test_every_word_of_the_query_must_match(world, add_courrier):
    both = add_courrier("Cantine et piscine municipale")
    add_courrier("Cantine scolaire")
    add_courrier("Horaires de la piscine")
    assert chronos(world, "piscine cantine") == {both.chrono}


def test_a_query_of_stop_words_or_punctuation_finds_nothing(world, add_courrier):
    add_courrier("Le la les de des")
    for query in ("", "   ", "le la les", "!!! ???"):
        result = search_courriers(organisation=world.commune, query=query)
        assert (result.hits, result.total) == ([], 0), query


@pytest.mark.parametrize(
    "query",
    [
        '"cantine" OR NEAR(a b)',
        "cantine*",
        "cantine & !piscine | (x:*)",
        "col:cantine",
        "cantine'; DROP TABLE search_searchentry; --",
        "o1xcantine",
        "\x00cantine\x00",
    ],
)
def test_query_syntax_of_the_databases_is_inert(world, add_courrier, query):
    courrier = add_courrier("Cantine scolaire")
    found = chronos(world, query)
    assert found <= {courrier.chrono}
    assert SearchEntry.objects.count() == 1


def test_filters_narrow_the_hits(world, add_courrier):
    technique = world.service("Services techniques")
    urbanisme = world.service("Urbanisme")
    paris = timezone.get_current_timezone()
    old = add_courrier(
        "Travaux de voirie",
        service=technique,
        channel=Channel.COUNTER,
        kind=Kind.COMPLAINT,
        received_at=dt.datetime(2025, 3, 10, 9, 0, tzinfo=paris),
    )
    recent = add_courrier(
        "Travaux de toiture",
        service=urbanisme,
        channel=Channel.EMAIL,
        kind=Kind.REQUEST,
        received_at=dt.datetime(2025, 6, 2, 23, 30, tzinfo=paris),
    )
    departure = add_courrier(
        "Réponse sur les travaux",
        direction=Direction.DEPART,
        received_at=dt.datetime(2025, 6, 3, 8, 0, tzinfo=paris),
    )
    change_status(membership=world.membership(world.secretary), courrier=recent, status=Status.EN_COURS)

    def hits(**filters):
        return chronos(world, "travaux", filters=Filters(**filters))

    assert hits() == {old.chrono, recent.chrono, departure.chrono}
    assert hits(service_id=technique.pk) == {old.chrono}
    assert hits(status=Status.EN_COURS) == {recent.chrono}
    assert hits(channel=Channel.COUNTER) == {old.chrono}
    assert hits(kind=Kind.REQUEST) == {recent.chrono}
    assert hits(direction=Direction.DEPART) == {departure.chrono}
    assert hits(direction=Direction.ARRIVEE) == {old.chrono, recent.chrono}
    # Dates: from inclusive, to exclusive, compared in absolute time (23:30 in Paris is 21:30 UTC).
    assert hits(date_from=dt.datetime(2025, 6, 2, tzinfo=paris)) == {recent.chrono, departure.chrono}
    assert hits(date_to=dt.datetime(2025, 6, 3, tzinfo=paris)) == {old.chrono, recent.chrono}
    assert hits(
        date_from=dt.datetime(2025, 6, 2, 23, 30, tzinfo=paris), date_to=dt.datetime(2025, 6, 3, tzinfo=paris)
    ) == {recent.chrono}
    assert hits(service_id=technique.pk, status=Status.EN_COURS) == set()


def test_total_counts_every_hit_and_pages_do_not_overlap(world, add_courrier):
    expected = {add_courrier(f"Demande d'acte de naissance numéro {n}").chrono for n in range(25)}
    add_courrier("Autre chose")
    pages = []
    for offset in (0, 10, 20):
        result = search_courriers(organisation=world.commune, query="naissance", limit=10, offset=offset)
        assert result.total == 25
        pages.append([hit.courrier.chrono for hit in result.hits])
    assert [len(page) for page in pages] == [10, 10, 5]
    assert set(pages[0]) | set(pages[1]) | set(pages[2]) == expected
    beyond = search_courriers(organisation=world.commune, query="naissance", limit=10, offset=30)
    assert (beyond.hits, beyond.total) == ([], 25)


def test_equal_scores_list_the_most_recent_first(world, add_courrier):
    start = timezone.now() - dt.timedelta(days=10)
    made = [add_courrier("Compteur d'eau", received_at=start + dt.timedelta(days=n)) for n in range(4)]
    result = search_courriers(organisation=world.commune, query="compteur")
    assert [hit.courrier.chrono for hit in result.hits] == [c.chrono for c in reversed(made)]


def test_a_subject_match_ranks_above_a_body_match(world, add_courrier):
    in_body = add_courrier(
        "Lettre de riverain",
        text="Les riverains signalent un nid-de-poule. " + "Circulation difficile. " * 5,
    )
    in_subject = add_courrier("Nid-de-poule rue des Écoles", text="Merci de votre intervention rapide.")
    in_comment = add_courrier("Appel", comments=["Il parle d'un nid-de-poule."])
    result = search_courriers(organisation=world.commune, query="nid de poule")
    order = [hit.courrier.chrono for hit in result.hits]
    assert order[0] == in_subject.chrono
    assert set(order) == {in_subject.chrono, in_body.chrono, in_comment.chrono}
    assert result.hits[0].score > result.hits[1].score


def test_snippet_marks_matched_words_and_escapes_the_rest(world, add_courrier):
    add_courrier(
        "Signalement",
        text=(
            "Bonjour,\nle <script>alert('x')</script> site de la mairie affiche mal les Écoles "
            "& la cantine.\nCordialement."
        ),
    )
    (hit,) = search_courriers(organisation=world.commune, query="ecoles cantines").hits
    assert "<mark>Écoles</mark>" in hit.snippet
    assert "<mark>cantine</mark>" in hit.snippet
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in hit.snippet
    assert "<script>" not in hit.snippet
    assert "&amp; la" in hit.snippet
    assert hit.snippet.replace("<mark>", "").replace("</mark>", "").count("<") == 0


def test_snippet_of_a_long_text_is_the_passage_around_the_first_match(world, add_courrier):
    filler = "Lorem ipsum dolor sit amet. " * 100
    add_courrier("Rapport", text=filler + "Le transformateur électrique est hors service. " + filler)
    (hit,) = search_courriers(organisation=world.commune, query="transformateurs").hits
    assert "<mark>transformateur</mark> électrique" in hit.snippet
    assert hit.snippet.startswith("…") and hit.snippet.endswith("…")
    assert len(hit.snippet) < 300


def test_snippet_comes_from_the_comment_or_subject_when_the_text_does_not_match(world, add_courrier):
    add_courrier("Permis de construire", text="Pièces jointes.", comments=["Dossier incomplet, relancer."])
    (by_comment,) = search_courriers(organisation=world.commune, query="relancer").hits
    assert by_comment.snippet == "Dossier incomplet, <mark>relancer</mark>."
    (by_subject,) = search_courriers(organisation=world.commune, query="permis").hits
    assert by_subject.snippet == "<mark>Permis</mark> de construire"


def test_another_communes_identical_courrier_never_appears(world, add_courrier):
    mine = add_courrier(
        "Fête du village", text="Demande d'autorisation de buvette.", sender="Comité des fêtes"
    )
    theirs = add_courrier(
        "Fête du village",
        org=world.other_commune,
        text="Demande d'autorisation de buvette.",
        sender="Comité des fêtes",
    )
    for query in ("fete village", "buvette", "comite", theirs.chrono):
        assert {
            hit.courrier.pk for hit in search_courriers(organisation=world.commune, query=query).hits
        } == {mine.pk}, query
        assert {
            hit.courrier.pk for hit in search_courriers(organisation=world.other_commune, query=query).hits
        } == {theirs.pk}, query
    assert chronos(world, "fete", org=world.epci) == set()


def test_index_rows_hold_only_tokens_of_their_organisation(world, add_courrier):
    mine = add_courrier("Fête du village", text="Buvette", comments=["Vu"])
    entry = SearchEntry.objects.get(courrier=mine)
    prefix = f"o{world.commune.pk}"
    tokens = (entry.title_terms + " " + entry.body_terms).split()
    assert tokens and all(t.startswith((prefix + "x", prefix + "y")) for t in tokens)
    assert all(t.isascii() and t.isalnum() for t in tokens)


def test_words_beyond_ascii_are_found_on_every_database(world, add_courrier):
    polish = add_courrier("Jumelage avec Łódź", sender="Ærøskøbing")
    greek = add_courrier("Colloque sur le nombre π et Ωmega")
    assert chronos(world, "lodz") == set()  # ł is a letter of its own, not an accented l
    assert chronos(world, "łódź") == {polish.chrono}
    assert chronos(world, "ŁODZ") == {polish.chrono}
    assert chronos(world, "aerøskøbing") == {polish.chrono}
    assert chronos(world, "π") == {greek.chrono}
    assert chronos(world, "ωmega") == {greek.chrono}


def test_a_chrono_number_finds_that_courrier_only(world, add_courrier):
    made = [add_courrier(f"Courrier {n} de 2026") for n in range(1, 13)]
    made.append(add_courrier("Réponse", direction=Direction.DEPART))
    target = made[1]
    year = target.year
    assert target.chrono == f"{year}-A-000002"
    for query in (target.chrono, f"{year}-a-2", f" {year}-A-02 ", f"{year}A000002"):
        assert chronos(world, query) == {target.chrono}, query
    assert chronos(world, f"{year}-D-1") == {made[-1].chrono}
    assert chronos(world, f"{year}-D-2") == set()
    # A plain number is an ordinary word: it finds the chrono and the subjects holding it.
    assert made[11].chrono in chronos(world, "12")


def test_the_index_follows_changes_of_subject_contact_and_comments(world, add_courrier):
    courrier = add_courrier("Ancien objet")
    secretary = world.membership(world.secretary)
    update_courrier(membership=secretary, courrier=courrier, subject="Nouvel objet sur la fontaine")
    assert chronos(world, "ancien") == set()
    assert chronos(world, "fontaine") == {courrier.chrono}
    from mairie.courrier.services import add_comment

    add_comment(membership=secretary, courrier=courrier, body="Le fontainier passera lundi.")
    assert chronos(world, "fontainier lundi") == {courrier.chrono}


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_update_leaves_the_old_index(world, add_courrier):
    courrier = add_courrier("Objet d'origine", text="Texte sur le cimetière.")
    before = SearchEntry.objects.get(courrier=courrier)
    secretary = world.membership(world.secretary)

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        update_courrier(membership=secretary, courrier=courrier, subject="Objet remplacé par le columbarium")
        assert chronos(world, "columbarium") == {courrier.chrono}  # visible inside the transaction
        raise Abort

    after = SearchEntry.objects.get(courrier=courrier)
    assert (after.title_terms, after.body_terms) == (before.title_terms, before.body_terms)
    assert chronos(world, "columbarium") == set()
    assert chronos(world, "origine cimetiere") == {courrier.chrono}


def test_a_new_courrier_is_found_by_its_file_name_before_its_text_is_read(world, tmp_path):
    from mairie.courrier.services import IncomingFile, register_courrier
    from mairie.search.tests.conftest import eml_bytes

    path = tmp_path / "devis-toiture.eml"
    path.write_bytes(eml_bytes("Texte lu plus tard : charpente.", 1))
    courrier = register_courrier(
        organisation=world.commune, actor=world.secretary, files=[IncomingFile(path, "devis-toiture.eml")]
    )
    assert chronos(world, "toitures") == {courrier.chrono}
    assert chronos(world, "charpente") == set()


def test_only_the_most_recent_matches_are_ranked_but_all_are_counted(world, add_courrier):
    from mairie.search.backends import search_ids
    from mairie.search.normalise import query_terms

    oldest = add_courrier("Cantine : menus", text="La cantine, la cantine, la cantine.")
    newer = [add_courrier("Lettre", text=f"Question {n} sur la cantine.") for n in range(4)]
    add_courrier("Cantine", org=world.other_commune)
    terms = query_terms("cantine")
    hits, total = search_ids(world.commune.pk, terms, Filters(), 20, candidates=3)
    assert total == 5
    assert {pk for pk, _ in hits} == {c.pk for c in newer[1:]}
    everything, _ = search_ids(world.commune.pk, terms, Filters(), 20)
    assert everything[0][0] == oldest.pk  # ranked first once it is among the candidates
    # Filters apply before the bound: the candidates are the most recent of the filtered matches.
    change_status(membership=world.membership(world.secretary), courrier=oldest, status=Status.CLASSE)
    filtered, total = search_ids(world.commune.pk, terms, Filters(status=Status.CLASSE), 20, candidates=3)
    assert ([pk for pk, _ in filtered], total) == ([oldest.pk], 1)
