"""The one normalisation behind both search backends (no database needed)."""

from __future__ import annotations

from mairie.search.backends import body_tokens, org_token, title_tokens
from mairie.search.normalise import fold, query_terms, terms
from mairie.search.services import highlight, search_terms


def test_fold_lowercases_and_strips_accents_and_ligatures():
    assert (
        fold("ÉCOLE Hôtel-de-Ville Œuvre cæcum Straße ﬁn") == "ecole hotel-de-ville oeuvre caecum strasse fin"
    )


def test_plural_singular_and_accents_give_one_term():
    assert len(set(terms("délibération délibérations DELIBERATION Délibérations"))) == 1
    assert terms("écoles") == terms("ecole") == terms("ÉCOLE")
    assert terms("municipaux") == terms("municipal")


def test_stop_words_are_dropped_and_numbers_lose_leading_zeros():
    assert terms("le la les de des du à l'école") == terms("école")
    assert terms("000042 042 42") == ["42", "42", "42"]
    assert terms("0 00") == ["0", "0"]


def test_query_terms_are_distinct_and_in_order():
    assert query_terms("cantine école cantines Cantine") == [terms("cantine")[0], terms("école")[0]]


def test_chrono_queries_become_one_term_whatever_the_padding():
    expected = search_terms("2026-A-000042")
    assert len(expected) == 1
    for query in ("2026-a-42", " 2026 - A - 0042 ", "2026A42"):
        assert search_terms(query) == expected
    assert search_terms("2026-D-000042") != expected
    assert search_terms("2026-X-42") == query_terms("2026 X 42")


def test_tokens_are_prefixed_by_organisation_and_ascii_only():
    assert org_token(12, "ecol") == "o12xecol"
    assert org_token(12, "łodz") == "o12y" + "łodz".encode().hex()
    assert org_token(12, "łodz") != org_token(1, "łodz")
    assert title_tokens(7, ["Jumelage avec Łódź"]).split() == ["o7xjumelag", "o7y" + "łodz".encode().hex()]


def test_body_tokens_cap_repeated_terms():
    assert body_tokens(3, ["cantine " * 10, "cantines"]).split() == ["o3xcantin"] * 3


def test_highlight_escapes_html_and_marks_words_as_written():
    snippet = highlight("<i>Les Écoles</i> & « cantines »", {terms("ecole")[0], terms("cantine")[0]})
    assert snippet == "&lt;i&gt;Les <mark>Écoles</mark>&lt;/i&gt; &amp; « <mark>cantines</mark> »"


def test_highlight_without_match_gives_the_beginning():
    assert highlight("Un texte sans rapport. " * 20, {"cantin"}).startswith("Un texte sans rapport.")
    assert highlight("", {"cantin"}) == ""


def test_snippet_looks_for_a_match_only_near_the_start_of_a_huge_text():
    from mairie.search.services import SNIPPET_SCAN_CHARS

    cantine = terms("cantine")[0]
    near = "mot " * 100 + "la cantine"
    far = "mot " * (SNIPPET_SCAN_CHARS // 4) + "la cantine"
    assert "<mark>cantine</mark>" in highlight(near, {cantine})
    assert highlight(far, {cantine}).startswith("mot mot")


def test_a_very_long_query_keeps_its_first_words_only():
    from mairie.search.services import MAX_QUERY_TERMS

    words = [f"mot{n}" for n in range(200)]
    assert search_terms(" ".join(words)) == [terms(w)[0] for w in words[:MAX_QUERY_TERMS]]
