"""Property test of the engine (Hypothesis): random valid definitions, random sequences of transitions tried by
random people. An independent model of the rules says which attempts must pass; the engine must agree on
every one — no dossier ever reaches a status the definition does not allow, every forbidden transition is
refused and changes nothing."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mairie.dossiers import services
from mairie.dossiers.engine import TransitionRefused, apply_transition
from mairie.workflows.definition import validate
from mairie.workflows.services import save_definition

pytestmark = pytest.mark.django_db

ROLES = ["admin", "courrier", "agent", "elu"]
_names = itertools.count()


@st.composite
def definitions(draw: Any) -> dict[str, Any]:
    count = draw(st.integers(min_value=2, max_value=6))
    ids = [f"s{i}" for i in range(count)]
    final = {ids[-1]} | {s for s in ids[1:-1] if draw(st.booleans()) and draw(st.booleans())}
    transitions = []
    # A path through every status keeps each one reachable and gives every non-final one a way out.
    for i in range(count - 1):
        transitions.append((ids[i] if ids[i] not in final else ids[0], ids[i + 1]))
    extra = draw(st.lists(st.tuples(st.sampled_from(ids), st.sampled_from(ids)), max_size=6))
    transitions += [(a, b) for a, b in extra if a not in final]
    specs = []
    for n, (origin, target) in enumerate(transitions):
        spec: dict[str, Any] = {"id": f"t{n}", "label": f"T{n}", "from": [origin], "to": target}
        if draw(st.booleans()):
            spec["allowed"] = {
                "roles": draw(st.lists(st.sampled_from(ROLES), min_size=1, max_size=2, unique=True))
            }
        if draw(st.integers(0, 3)) == 0:
            spec["condition"] = f"data.n > {draw(st.integers(0, 10))}"
        if draw(st.integers(0, 4)) == 0:
            spec["automatic"] = True
        if draw(st.integers(0, 5)) == 0:
            spec["from"] = "*"
        specs.append(spec)
    return {
        "name": f"prop-{next(_names)}",
        "title": "Circuit au hasard",
        "initial": ids[0],
        "statuses": [{"id": s, "label": s.upper(), **({"final": True} if s in final else {})} for s in ids],
        "transitions": specs,
    }


def expected_allowed(
    definition: dict[str, Any], status: str, closed: bool, spec: dict[str, Any], roles: list[str], n: int
) -> bool:
    """The rules, written again independently of the engine."""
    finals = {s["id"] for s in definition["statuses"] if s.get("final")}
    if closed:
        return False
    sources = {s["id"] for s in definition["statuses"]} - finals if spec["from"] == "*" else set(spec["from"])
    if status not in sources or spec.get("automatic"):
        return False
    if not roles:  # not a member of the organisation
        return False
    rule = spec.get("allowed")
    if rule:
        if not set(rule["roles"]) & set(roles):
            return False
    elif not set(roles) & {"admin", "courrier", "agent"}:  # dossier.edit
        return False
    if "condition" in spec:
        threshold = int(spec["condition"].rsplit(" ", 1)[1])
        return n > threshold
    return True


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    definition=definitions(),
    n=st.integers(0, 12),
    attempts=st.lists(st.tuples(st.integers(0, 30), st.integers(0, 4)), min_size=1, max_size=12),
)
def test_engine_never_leaves_the_definition(world, definition, n, attempts):
    assert validate(definition) == [], validate(definition)
    people = [
        (world.secretary, ["courrier", "agent"]),
        (world.mayor, ["elu"]),
        (world.agent, ["agent"]),
        (world.commune_admin, ["admin"]),
        (world.other_agent, []),  # another commune
    ]
    workflow = save_definition(organisation=world.commune, actor=None, data=definition)
    dossier = services.create_dossier(
        organisation=world.commune,
        actor=world.secretary,
        subject="Au hasard",
        workflow=workflow,
        data={"n": n},
    )
    status_ids = {s["id"] for s in definition["statuses"]}
    finals = {s["id"] for s in definition["statuses"] if s.get("final")}
    specs = definition["transitions"]
    for which, who in attempts:
        spec = specs[which % len(specs)]
        user, roles = people[who]
        before = dossier.status
        closed = dossier.closed_at is not None
        allowed = expected_allowed(definition, before, closed, spec, roles, n)
        try:
            apply_transition(dossier=dossier, transition=spec["id"], actor=user)
        except TransitionRefused:
            assert not allowed, (spec, before, roles)
            dossier.refresh_from_db()
            assert dossier.status == before
            continue
        assert allowed, (spec, before, roles)
        dossier.refresh_from_db()
        assert dossier.status == spec["to"]
        assert dossier.status in status_ids
        assert (dossier.closed_at is not None) == (dossier.status in finals)
    # Every move is in the timeline, and each one was a transition of the definition from where it was.
    moves = list(dossier.events.filter(kind="transition").values_list("data", flat=True))
    by_id = {t["id"]: t for t in specs}
    current = definition["initial"]
    for move in moves:
        spec = by_id[move["transition"]]
        assert move["from"] == current and move["to"] == spec["to"]
        current = spec["to"]
    assert current == dossier.status
