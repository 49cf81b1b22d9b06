"""Validation finds every kind of problem, with a readable place; the Definition wrapper reads a valid one."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mairie.workflows.definition import Definition, DefinitionError, Problem, parse_text, validate

from .helpers import BASE, status, transition, valid


def _messages(problems: list[Problem]) -> list[str]:
    return [str(p) for p in problems]


def _only(data) -> Problem:
    problems = validate(data)
    assert len(problems) == 1, _messages(problems)
    return problems[0]


def test_the_example_is_valid():
    assert validate(valid()) == []


# --- Parsing ----------------------------------------------------------------------------------------------


def test_parse_reads_yaml_and_json_alike():
    yaml_text = "name: a\nstatuses:\n  - id: x\n    label: X\n"
    assert parse_text(yaml_text) == parse_text(
        json.dumps({"name": "a", "statuses": [{"id": "x", "label": "X"}]})
    )


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("name: [a\n", "ligne 2"),
        ("a: b: c\n", "ligne 1"),
        ('{"name": "x"', "ligne 1"),
        ("", "texte"),
        ("- a\n- b\n", "texte"),
    ],
)
def test_syntax_error_is_one_problem_with_its_line(text, where):
    with pytest.raises(DefinitionError) as exc:
        parse_text(text)
    assert len(exc.value.problems) == 1
    assert exc.value.problems[0].where.startswith(where)


# --- One test per kind of problem -------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["name", "title", "initial", "statuses"])
def test_missing_key(key):
    data = valid()
    del data[key]
    problems = validate(data)
    assert any(p.where == key and "obligatoire" in p.message for p in problems), _messages(problems)


@pytest.mark.parametrize(
    ("change", "where", "fragment"),
    [
        (lambda d: d.update(title=12), "title", "doit être un texte"),
        (lambda d: d.update(name="Avec Espaces"), "name", "incorrect"),
        (lambda d: d.update(statuses={"id": "x"}), "statuses", "doit être une liste"),
        (lambda d: d.update(transitions="aucune"), "transitions", "doit être une liste"),
        (lambda d: status(d, "cloturee").update(final="oui"), "statuses[3] (« cloturee »)", "true ou false"),
        (
            lambda d: transition(d, "decider").update(automatic=1),
            "transitions[1] (« decider »)",
            "true ou false",
        ),
        (
            lambda d: status(d, "recue").update(id="Reçue"),
            "statuses[0] (« Reçue »)",
            "identifiant « Reçue » incorrect",
        ),
        (
            lambda d: transition(d, "clore").update(label=None),
            "transitions[3] (« clore »)",
            "« label » est obligatoire",
        ),
        (lambda d: d.update(colour="bleu"), "définition", "clé inconnue « colour »"),
        (
            lambda d: transition(d, "clore").update(form="*"),
            "transitions[3] (« clore »)",
            "clé inconnue « form »",
        ),
    ],
)
def test_ill_typed_or_unknown_keys(change, where, fragment):
    data = valid()
    change(data)
    problems = validate(data)
    assert any(p.where == where and fragment in p.message for p in problems), _messages(problems)


def test_duplicate_status_id():
    data = valid()
    data["statuses"].append({"id": "decision", "label": "Encore", "final": True})
    problem = _only(data)
    assert problem.where == "statuses[4] (« decision »)"
    assert "en double" in problem.message and "statuses[2]" in problem.message


def test_duplicate_transition_id():
    data = valid()
    data["transitions"].append({"id": "clore", "label": "Clore encore", "from": ["recue"], "to": "cloturee"})
    problem = _only(data)
    assert problem.where == "transitions[4] (« clore »)" and "en double" in problem.message


def test_unknown_initial_status():
    data = valid()
    data["initial"] = "deposee"
    problems = validate(data)
    assert problems[0] == Problem("initial", problems[0].message)
    assert "étape inconnue « deposee »" in problems[0].message
    # With no known start, reachability is not judged (no flood of « inaccessible »).
    assert not any("inaccessible" in p.message for p in problems)


def test_unknown_status_in_from_and_to():
    data = valid()
    transition(data, "decider").update({"from": ["avis"], "to": "decidee"})
    problems = validate(data)
    wheres = {p.where: p.message for p in problems}
    assert "étape inconnue « avis »" in wheres["transitions[1] (« decider »).from[0]"]
    assert "étape inconnue « decidee »" in wheres["transitions[1] (« decider »).to"]


def test_unknown_action():
    data = valid()
    status(data, "recue")["on_enter"].append({"action": "teleporter"})
    problem = _only(data)
    assert problem.where == "statuses[0] (« recue »).on_enter[1]"
    assert "action inconnue « teleporter »" in problem.message


@pytest.mark.parametrize(
    ("action", "where_suffix", "fragment"),
    [
        ({"action": "assign"}, "", "indiquez « service »"),
        ({"action": "assign", "service": "Urbanisme", "team": "x"}, "", "clé inconnue « team »"),
        ({"action": "create_task"}, "", "« title » obligatoire"),
        ({"action": "create_task", "title": "T", "delay_days": -1}, ".delay_days", "supérieur ou égal à 0"),
        ({"action": "create_task", "title": "T", "service": "A", "agent": "b"}, "", "un seul de"),
        ({"action": "request_opinions", "from": [], "delay_days": 3}, ".from", "liste non vide"),
        ({"action": "request_opinions", "from": [{"service": "A"}]}, "", "« delay_days » obligatoire"),
        (
            {"action": "request_opinions", "from": [{"service": "A"}], "delay_days": 0},
            ".delay_days",
            "au moins 1",
        ),
        (
            {"action": "request_opinions", "from": [{"organisation": "Grand Pic"}], "delay_days": 5},
            ".from[0].organisation",
            "@parent",
        ),
        (
            {"action": "request_opinions", "from": [{"service": "A", "agent": "b"}], "delay_days": 5},
            ".from[0]",
            "un seul de",
        ),
        ({"action": "start_circuit", "steps": []}, ".steps", "liste non vide"),
        (
            {"action": "start_circuit", "steps": [{"kind": "tampon", "role": "elu"}]},
            ".steps[0].kind",
            "inconnue",
        ),
        (
            {"action": "start_circuit", "steps": [{"kind": "visa"}]},
            ".steps[0]",
            "indiquez agent ou role ou service",
        ),
        (
            {"action": "start_circuit", "steps": [{"kind": "visa", "role": "maire"}]},
            ".steps[0].role",
            "rôle inconnu",
        ),
        (
            {"action": "start_circuit", "steps": [{"kind": "visa", "role": "elu", "parallel": True}]},
            ".steps[0].parallel",
            "première étape",
        ),
        (
            {"action": "start_circuit", "steps": [{"kind": "visa", "role": "elu"}], "file": "first"},
            ".file",
            "inconnue",
        ),
        ({"action": "generate_document"}, "", "« template » obligatoire"),
        ({"action": "send_email", "to": "maire", "subject": "s", "body": "b"}, ".to", "indiquez usager"),
        (
            {"action": "send_email", "to": ["pas-une-adresse"], "subject": "s", "body": "b"},
            ".to[0]",
            "adresse électronique",
        ),
        ({"action": "send_email", "to": "usager", "body": "b"}, "", "« subject » obligatoire"),
        ({"action": "share", "organisation": "@parent", "purpose": "lecture"}, ".purpose", "inconnue"),
        ({"action": "share", "purpose": "view"}, "", "« organisation » obligatoire"),
        ({"action": "hand_back", "to": "x"}, "", "aucun paramètre"),
        ({"action": "timer", "transition": "clore"}, "", "indiquez after_days ou after_hours"),
        ({"action": "timer", "after_days": 1, "after_hours": 2, "transition": "clore"}, "", "un seul de"),
        ({"action": "timer", "after_days": 2.5, "transition": "clore"}, ".after_days", "nombre entier"),
        ({"action": "timer", "after_days": 2}, "", "« transition » obligatoire"),
        ({"action": "webhook", "url": "ftp://exemple.fr/x"}, ".url", "http"),
        (
            {"action": "webhook", "url": "https://exemple.fr/x", "payload": [1]},
            ".payload",
            "ensemble de clés",
        ),
        ({"action": "close", "now": True}, "", "aucun paramètre"),
        ({"action": "set_data", "values": [1, 2]}, ".values", "ensemble de clés"),
    ],
)
def test_bad_action_parameters(action, where_suffix, fragment):
    data = valid()
    status(data, "decision")["on_enter"] = [action]
    problems = validate(data)
    base = f"statuses[2] (« decision »).on_enter[0] ({action['action']})"
    assert any(p.where == base + where_suffix and fragment in p.message for p in problems), _messages(
        problems
    )


@pytest.mark.parametrize(
    "action",
    [
        {"action": "assign", "agent": "secretaire@example.org"},
        {"action": "create_task", "title": "Vérifier", "assignee": True, "delay_days": 0},
        {
            "action": "request_opinions",
            "from": [{"organisation": "@parent"}, {"agent": "agent"}],
            "delay_days": 5,
            "question": "?",
            "then": "clore",
        },
        {
            "action": "start_circuit",
            "steps": [
                {"kind": "visa", "service": "Urbanisme"},
                {"kind": "signature", "agent": "maire", "parallel": True},
            ],
            "file": "last",
            "then": "clore",
            "on_refuse": "refaire",
        },
        {"action": "generate_document", "template": "reponse-simple", "title": "Lettre"},
        {
            "action": "send_email",
            "to": ["a@example.org"],
            "subject": "Objet {{ dossier.reference }}",
            "body": "Texte",
        },
        {"action": "share", "organisation": "cc-grand-pic", "purpose": "opinion", "note": "Pour avis"},
        {"action": "hand_back"},
        {"action": "timer", "after_hours": 48, "transition": "refaire"},
        {"action": "webhook", "url": "https://exemple.fr/hook", "payload": {"a": 1}},
        {"action": "set_data", "values": {"decision": "accord"}},
    ],
)
def test_good_action_parameters(action):
    data = valid()
    status(data, "decision")["on_enter"] = [action]
    assert validate(data) == []


def test_unknown_transition_referenced_by_an_action():
    data = valid()
    transition(data, "demander_avis")["actions"][0]["then"] = "decidr"
    status(data, "decision")["on_enter"] = [
        {
            "action": "start_circuit",
            "steps": [{"kind": "signature", "role": "elu"}],
            "then": "clore",
            "on_refuse": "nulle_part",
        },
        {"action": "timer", "after_days": 3, "transition": "relancer"},
    ]
    problems = validate(data)
    wheres = {p.where: p.message for p in problems}
    assert len(problems) == 3, _messages(problems)
    assert (
        "transition inconnue « decidr »"
        in wheres["transitions[0] (« demander_avis »).actions[0] (request_opinions).then"]
    )
    assert "« nulle_part »" in wheres["statuses[2] (« decision »).on_enter[0] (start_circuit).on_refuse"]
    assert "« relancer »" in wheres["statuses[2] (« decision »).on_enter[1] (timer).transition"]


def test_transition_named_by_an_action_must_leave_the_waiting_status():
    data = valid()
    transition(data, "demander_avis")["actions"][0]["then"] = (
        "refaire"  # leaves « decision », not « avis_en_cours »
    )
    problem = _only(data)
    assert "ne part pas de l'étape « avis_en_cours »" in problem.message


def test_condition_that_does_not_parse():
    data = valid()
    transition(data, "demander_avis")["condition"] = "data.montant >> 5000"
    problem = _only(data)
    assert problem.where == "transitions[0] (« demander_avis »).condition"
    assert "condition incorrecte" in problem.message and "colonne" in problem.message


def test_condition_calling_code_is_refused():
    data = valid()
    transition(data, "demander_avis")["condition"] = "__import__('os').system('rm -rf /')"
    assert "appels de fonction" in _only(data).message


def test_unreachable_status():
    data = valid()
    data["statuses"].insert(3, {"id": "archivee", "label": "Archivée", "final": True})
    problem = _only(data)
    assert problem.where == "statuses[3] (« archivee »)"
    assert "inaccessible depuis l'étape initiale « recue »" in problem.message


def test_unreachable_through_a_chain():
    data = valid()
    data["statuses"] += [{"id": "orphelin", "label": "Orphelin"}, {"id": "suite", "label": "Suite"}]
    data["transitions"] += [{"id": "vers_suite", "label": "Suite", "from": ["orphelin"], "to": "suite"}]
    problems = validate(data)
    unreachable = [p.where for p in problems if "inaccessible" in p.message]
    assert unreachable == ["statuses[4] (« orphelin »)", "statuses[5] (« suite »)"]


def test_non_final_status_with_no_way_out():
    data = {
        "name": "impasse",
        "title": "Impasse",
        "initial": "a",
        "statuses": [
            {"id": "a", "label": "A"},
            {"id": "b", "label": "B"},
            {"id": "z", "label": "Z", "final": True},
        ],
        "transitions": [
            {"id": "vers_b", "label": "B", "from": ["a"], "to": "b"},
            {"id": "vers_z", "label": "Z", "from": ["a"], "to": "z"},
        ],
    }
    problem = _only(data)
    assert problem.where == "statuses[1] (« b »)" and "sans issue" in problem.message


def test_trap_cycle_never_reaching_a_final_status():
    data = {
        "name": "boucle",
        "title": "Boucle",
        "initial": "a",
        "statuses": [
            {"id": "a", "label": "A"},
            {"id": "b", "label": "B"},
            {"id": "c", "label": "C"},
            {"id": "z", "label": "Z", "final": True},
        ],
        "transitions": [
            {"id": "ab", "label": "AB", "from": ["a"], "to": "b"},
            {"id": "az", "label": "AZ", "from": ["a"], "to": "z"},
            {"id": "bc", "label": "BC", "from": ["b"], "to": "c"},
            {"id": "cb", "label": "CB", "from": ["c"], "to": "b"},
        ],
    }
    problems = validate(data)
    assert sorted(p.where for p in problems) == ["statuses[1] (« b »)", "statuses[2] (« c »)"]
    assert all("aucun chemin" in p.message for p in problems)


def test_final_status_with_outgoing_transition_is_an_error():
    data = valid()
    data["transitions"].append({"id": "rouvrir", "label": "Rouvrir", "from": ["cloturee"], "to": "recue"})
    problem = _only(data)
    assert problem.where == "transitions[4] (« rouvrir »).from[0]"
    assert "est finale" in problem.message


def test_star_leaves_from_non_final_statuses_only():
    definition = Definition(valid())
    assert [t.id for t in definition.transitions_from("cloturee")] == []
    assert "clore" in [t.id for t in definition.transitions_from("decision")]


def test_no_final_status():
    data = valid()
    status(data, "cloturee")["final"] = False
    problems = validate(data)
    assert any(p.where == "statuses" and "aucune étape finale" in p.message for p in problems), _messages(
        problems
    )


def test_initial_status_cannot_be_final():
    data = valid()
    data["initial"] = "cloturee"
    assert any(p.where == "initial" and "finale" in p.message for p in validate(data))


def test_unknown_role():
    data = valid()
    transition(data, "demander_avis")["allowed"]["roles"] = ["admin", "maire"]
    problem = _only(data)
    assert problem.where == "transitions[0] (« demander_avis »).allowed.roles[1]"
    assert "rôle inconnu « maire »" in problem.message and "elu" in problem.message


def test_allowed_giving_the_right_to_nobody():
    data = valid()
    transition(data, "demander_avis")["allowed"] = {"roles": [], "assignee": False}
    assert "ne donne le droit à personne" in _only(data).message


def test_yaml_values_json_cannot_store():
    data = parse_text(
        "name: dates\ntitle: T\ninitial: a\nstatuses:\n  - id: a\n    label: A\n    description: 2026-01-01\n"
        "  - id: z\n    label: Z\n    final: true\ntransitions:\n  - {id: az, label: AZ, from: [a], to: z}\n"
    )
    problems = validate(data)
    assert any("date" in p.message and "guillemets" in p.message for p in problems), _messages(problems)


def test_many_problems_are_all_reported_at_once():
    data = valid()
    data["name"] = "Mauvais Nom"
    data["initial"] = "inconnue"
    status(data, "cloturee")["final"] = False  # no final status left
    data["statuses"].append({"id": "recue", "label": "Doublon"})
    transition(data, "demander_avis")["allowed"]["roles"] = ["chef"]
    transition(data, "demander_avis")["condition"] = "data.x ="
    transition(data, "demander_avis")["actions"] = [
        {"action": "voler"},
        {"action": "timer", "after_days": 0, "transition": "x"},
    ]
    transition(data, "decider")["to"] = "nulle_part"
    problems = validate(data)
    text = "\n".join(_messages(problems))
    for fragment in [
        "name : identifiant « Mauvais Nom » incorrect",
        "initial : étape inconnue « inconnue »",
        "aucune étape finale",
        "en double",
        "rôle inconnu « chef »",
        "condition incorrecte",
        "action inconnue « voler »",
        "after_days : doit être au moins 1",
        "transition inconnue « x »",
        "étape inconnue « nulle_part »",
    ]:
        assert fragment in text, (fragment, text)
    assert len(problems) >= 10


# --- The Definition wrapper -------------------------------------------------------------------------------


def test_definition_reads_a_valid_dict():
    definition = Definition(valid())
    assert definition.initial == "recue"
    assert [s.id for s in definition.statuses] == ["recue", "avis_en_cours", "decision", "cloturee"]
    assert (
        definition.is_final("cloturee")
        and not definition.is_final("recue")
        and not definition.is_final("nope")
    )
    assert definition.label("decision") == "Décision du maire"
    assert definition.label("ancienne_etape") == "ancienne_etape"
    assert definition.status("recue").on_enter[0].name == "assign"
    assert definition.status("recue").on_enter[0].params == {"service": "Accueil et secrétariat"}
    ask = definition.transition("demander_avis")
    assert ask.sources == ("recue",) and ask.to == "avis_en_cours" and not ask.automatic
    assert (
        ask.allowed is not None
        and ask.allowed.roles == ("admin", "courrier", "agent")
        and ask.allowed.assignee
    )
    assert ask.condition_holds({"data": {"montant": 6000}}) is True
    assert ask.condition_holds({"data": {"montant": 6000, "urgent": True}}) is False
    assert ask.condition_holds({}) is False
    assert definition.transition("clore").any_source
    assert definition.transition("clore").allowed is None
    assert definition.transition("decider").automatic
    assert [t.id for t in definition.transitions_from("avis_en_cours")] == ["decider", "clore"]
    with pytest.raises(KeyError, match="étape inconnue"):
        definition.status("nope")
    with pytest.raises(KeyError, match="transition inconnue"):
        definition.transition("nope")


def test_definition_from_text_raises_every_problem():
    with pytest.raises(DefinitionError) as exc:
        Definition.from_text("name: x\ntitle: X\n")
    assert len(exc.value.problems) >= 2


# --- Property: the validator never raises ---------------------------------------------------------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 20),
    st.floats(allow_nan=True),
    st.sampled_from(
        ["recue", "decision", "cloturee", "*", "clore", "decider", "", "X Y", "data.x >", "admin"]
    ),
)
_anything = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.sampled_from(["id", "label", "from", "to", "action", "final", "then", "steps", "x", 1]),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=12,
)


@st.composite
def _mutated(draw):
    """The valid example with random parts replaced by random values."""
    data = valid()
    for _ in range(draw(st.integers(1, 5))):
        path = draw(st.sampled_from(["top", "status", "transition", "action", "allowed"]))
        value = draw(_anything)
        if path == "top":
            data[draw(st.sampled_from(["name", "title", "initial", "statuses", "transitions", "extra"]))] = (
                value
            )
        elif path == "status" and isinstance(data.get("statuses"), list) and data["statuses"]:
            target = data["statuses"][draw(st.integers(0, len(data["statuses"]) - 1))]
            if isinstance(target, dict):
                target[draw(st.sampled_from(["id", "label", "final", "on_enter"]))] = value
        elif path == "transition" and isinstance(data.get("transitions"), list) and data["transitions"]:
            target = data["transitions"][draw(st.integers(0, len(data["transitions"]) - 1))]
            if isinstance(target, dict):
                target[
                    draw(
                        st.sampled_from(["id", "from", "to", "condition", "actions", "automatic", "allowed"])
                    )
                ] = value
        elif path == "action":
            data["statuses"] = data.get("statuses") if isinstance(data.get("statuses"), list) else []
            data["statuses"].append(
                {
                    "id": "z",
                    "label": "Z",
                    "on_enter": [
                        {
                            "action": draw(
                                st.sampled_from(
                                    sorted(
                                        __import__("mairie.workflows.actions", fromlist=["ACTIONS"]).ACTIONS
                                    )
                                )
                            ),
                            "then": value,
                            "steps": value,
                            "from": value,
                            "to": value,
                        }
                    ],
                }
            )
        elif path == "allowed" and isinstance(data.get("transitions"), list) and data["transitions"]:
            target = data["transitions"][0]
            if isinstance(target, dict):
                target["allowed"] = {"roles": value, "services": value, "assignee": value}
    return data


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_anything, _mutated()))
def test_validator_never_raises(data):
    problems = validate(data)
    assert isinstance(problems, list)
    assert all(isinstance(p, Problem) and isinstance(p.where, str) and p.message for p in problems)
    if not problems:
        Definition(data)  # a dict the validator accepts is readable by the engine


@settings(max_examples=80, deadline=None)
@given(st.text(max_size=200))
def test_parse_and_validate_any_text_never_crash(text):
    try:
        data = parse_text(text)
    except DefinitionError as exc:
        assert len(exc.problems) == 1
        return
    assert isinstance(validate(data), list)


def test_base_is_not_modified_by_tests():
    assert BASE["name"] == "demande-avis-technique"


def test_the_documented_example_is_valid():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[3] / "docs" / "workflows.md").read_text(encoding="utf-8")
    example = doc.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert validate(parse_text(example)) == []
