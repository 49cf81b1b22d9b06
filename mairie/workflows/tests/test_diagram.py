"""The SVG diagram: well-formed, one box per status, the current status highlighted, accessible."""

from __future__ import annotations

import pytest
from lxml import etree

from mairie.workflows.definition import parse_text
from mairie.workflows.diagram import to_svg
from mairie.workflows.services import library_texts

from .helpers import valid

SVG = "{http://www.w3.org/2000/svg}"


def _parse(svg: str):
    return etree.fromstring(svg.encode("utf-8"))


def _statuses(root):
    return {
        g.get("data-status"): g for g in root.iter(f"{SVG}g") if "status" in (g.get("class") or "").split()
    }


def test_svg_is_valid_with_one_box_per_status():
    data = valid()
    root = _parse(to_svg(data))
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img" and "4 étapes" in root.get("aria-label")
    assert root.find(f"{SVG}title") is not None
    boxes = _statuses(root)
    assert set(boxes) == {"recue", "avis_en_cours", "decision", "cloturee"}
    assert all(len(g.findall(f"{SVG}rect")) == 1 for g in boxes.values())
    assert "final" in boxes["cloturee"].get("class") and "initial" in boxes["recue"].get("class")
    assert not any("current" in g.get("class") for g in boxes.values())
    transitions = {g.get("data-transition") for g in root.iter(f"{SVG}g") if g.get("data-transition")}
    assert transitions == {"demander_avis", "decider", "refaire", "clore"}


def test_layers_follow_the_flow_and_back_edges_curve():
    root = _parse(to_svg(valid()))
    boxes = _statuses(root)
    y = {sid: float(g.find(f"{SVG}rect").get("y")) for sid, g in boxes.items()}
    assert y["recue"] < y["avis_en_cours"] < y["decision"] < y["cloturee"]
    back = next(g for g in root.iter(f"{SVG}g") if g.get("data-transition") == "refaire")
    assert " C" in back.find(f"{SVG}path").get("d")


def test_current_status_is_highlighted():
    root = _parse(to_svg(valid(), current="decision"))
    boxes = _statuses(root)
    assert "current" in boxes["decision"].get("class").split()
    assert sum("current" in g.get("class").split() for g in boxes.values()) == 1
    assert "étape actuelle : Décision du maire" in root.get("aria-label")


def test_text_is_escaped_and_self_loops_drawn():
    data = valid()
    data["statuses"][0]["label"] = "Reçue <b>&</b> « vérifiée »"
    data["transitions"].append(
        {"id": "relancer", "label": "Relancer", "from": ["decision"], "to": "decision"}
    )
    svg = to_svg(data)
    root = _parse(svg)
    assert "<b>" not in svg
    loop = next(g for g in root.iter(f"{SVG}g") if g.get("data-transition") == "relancer")
    assert loop.find(f"{SVG}path") is not None


@pytest.mark.parametrize("name", sorted(library_texts()))
def test_library_diagrams_parse(name):
    data = parse_text(library_texts()[name])
    root = _parse(to_svg(data, current=data["initial"]))
    assert len(_statuses(root)) == len(data["statuses"])
    width, height = (float(v) for v in root.get("viewBox").split()[2:])
    for g in _statuses(root).values():
        rect = g.find(f"{SVG}rect")
        assert float(rect.get("x")) >= 0 and float(rect.get("x")) + float(rect.get("width")) <= width
        assert float(rect.get("y")) >= 0 and float(rect.get("y")) + float(rect.get("height")) <= height


def test_tolerates_an_incomplete_definition():
    root = _parse(
        to_svg({"name": "x", "statuses": [{"id": "a", "label": "A"}, "junk"], "transitions": [{"to": "zz"}]})
    )
    assert set(_statuses(root)) == {"a"}
