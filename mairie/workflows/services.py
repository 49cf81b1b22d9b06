"""Use cases of workflow definitions: save (a change makes a new version), export, the ready-made library."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import yaml
from django.db import transaction
from django.db.models import Max, QuerySet

from mairie.audit.services import record
from mairie.organisations.models import Organisation
from mairie.workflows.definition import (
    DefinitionError,
    Problem,
    canonical_json,
    parse_text,
    validate,
)
from mairie.workflows.models import WorkflowDefinition

LIBRARY_DIR = Path(__file__).resolve().parent / "library"

# Key order of exported YAML (PostgreSQL's jsonb does not keep the order the admin wrote).
_TOP_ORDER = ("name", "title", "description", "initial", "statuses", "transitions")
_STATUS_ORDER = ("id", "label", "description", "final", "on_enter")
_TRANSITION_ORDER = (
    "id",
    "label",
    "description",
    "from",
    "to",
    "allowed",
    "condition",
    "automatic",
    "actions",
)


def _content(text: str | None, data: dict[str, Any] | None) -> tuple[dict[str, Any], str]:
    if (text is None) == (data is None):
        raise ValueError("save_definition: give text or data, not both")
    if text is not None:
        text = text.replace("\r\n", "\n").replace("\r", "\n")  # browsers send CRLF
        return parse_text(text), text
    assert data is not None
    return copy.deepcopy(data), ""


def save_definition(
    *,
    organisation: Organisation,
    actor: Any,
    text: str | None = None,
    data: dict[str, Any] | None = None,
) -> WorkflowDefinition:
    """Validate and save a definition (from its YAML/JSON ``text``, or parsed ``data``).

    Raises ``DefinitionError`` with every problem. A new name makes version 1; a different content for an
    existing name makes the next version, which becomes the current one (dossiers keep theirs); the same
    content returns the current version unchanged (a change in comments or layout alone is not a version).
    """
    parsed, source = _content(text, data)
    problems = validate(parsed)
    if problems:
        raise DefinitionError(problems)
    name = parsed["name"]
    with transaction.atomic():
        versions = WorkflowDefinition.objects.for_org(organisation).filter(name=name)
        current = versions.select_for_update().filter(is_current=True).first()
        if current is not None and canonical_json(current.definition) == canonical_json(parsed):
            return current
        last = versions.aggregate(last=Max("version"))["last"] or 0
        if current is not None:
            current.is_current = False
            current.save(update_fields=["is_current"])
        saved = WorkflowDefinition.objects.create(
            organisation=organisation,
            name=name,
            version=last + 1,
            title=parsed["title"],
            definition=parsed,
            source=source,
            is_current=True,
            is_active=current.is_active if current is not None else True,
            created_by=actor,
        )
        what = "créé" if saved.version == 1 else f"modifié (version {saved.version})"
        record(
            organisation=organisation,
            actor=actor,
            action="workflow.saved",
            summary=f"Circuit de traitement « {saved.title} » ({name}) {what}.",
            obj=saved,
        )
    return saved


def set_active(*, organisation: Organisation, actor: Any, name: str, active: bool) -> WorkflowDefinition:
    """Offer (or stop offering) a definition for new dossiers; running dossiers are not affected."""
    with transaction.atomic():
        wd = (
            WorkflowDefinition.objects.for_org(organisation)
            .select_for_update()
            .get(name=name, is_current=True)
        )
        if wd.is_active != active:
            wd.is_active = active
            wd.save(update_fields=["is_active"])
            record(
                organisation=organisation,
                actor=actor,
                action="workflow.activated" if active else "workflow.deactivated",
                summary=f"Circuit de traitement « {wd.title} » "
                + ("proposé pour les nouveaux dossiers." if active else "retiré des nouveaux dossiers."),
                obj=wd,
            )
    return wd


def current_definition(organisation: Organisation, name: str) -> WorkflowDefinition | None:
    return WorkflowDefinition.objects.for_org(organisation).filter(name=name, is_current=True).first()


def definitions_for(organisation: Organisation) -> QuerySet[WorkflowDefinition]:
    """The current version of each of the organisation's definitions (by title)."""
    return WorkflowDefinition.objects.for_org(organisation).filter(is_current=True).order_by("title", "name")


def versions_of(organisation: Organisation, name: str) -> QuerySet[WorkflowDefinition]:
    return WorkflowDefinition.objects.for_org(organisation).filter(name=name).order_by("-version")


def _ordered(mapping: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    keys = [k for k in order if k in mapping] + sorted(k for k in mapping if k not in order)
    return {k: mapping[k] for k in keys}


def _action(item: Any) -> Any:
    if isinstance(item, dict) and "action" in item:
        return {"action": item["action"], **{k: v for k, v in sorted(item.items()) if k != "action"}}
    return item


def ordered_definition(data: dict[str, Any]) -> dict[str, Any]:
    """The definition with its keys in the documented order (for a readable export)."""
    result = _ordered(data, _TOP_ORDER)
    if isinstance(result.get("statuses"), list):
        statuses = []
        for status in result["statuses"]:
            if isinstance(status, dict):
                status = _ordered(status, _STATUS_ORDER)
                if isinstance(status.get("on_enter"), list):
                    status["on_enter"] = [_action(a) for a in status["on_enter"]]
            statuses.append(status)
        result["statuses"] = statuses
    if isinstance(result.get("transitions"), list):
        transitions = []
        for item in result["transitions"]:
            if isinstance(item, dict):
                item = _ordered(item, _TRANSITION_ORDER)
                if isinstance(item.get("actions"), list):
                    item["actions"] = [_action(a) for a in item["actions"]]
            transitions.append(item)
        result["transitions"] = transitions
    return result


class _Dumper(yaml.SafeDumper):
    """Lists indented under their key; short lists of plain values on one line (« from: [recue] »)."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _represent_list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.Node:
    flow = (
        bool(value)
        and len(value) <= 6
        and all(isinstance(v, str | int | float | bool) and len(str(v)) < 40 for v in value)
    )
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)


_Dumper.add_representer(list, _represent_list)


def dump_yaml(data: dict[str, Any]) -> str:
    return yaml.dump(ordered_definition(data), Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=110)


def export_text(wd: WorkflowDefinition) -> str:
    """The version as YAML: the text the admin wrote (comments kept) when it is this version's, otherwise
    the definition written out."""
    if wd.source.strip():
        try:
            if canonical_json(parse_text(wd.source)) == canonical_json(wd.definition):
                return wd.source if wd.source.endswith("\n") else wd.source + "\n"
        except DefinitionError:
            pass
    return dump_yaml(wd.definition)


@functools.cache
def _library() -> tuple[tuple[str, str], ...]:
    items = []
    for path in sorted(LIBRARY_DIR.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        items.append((parse_text(text)["name"], text))
    return tuple(items)


def library_texts() -> dict[str, str]:
    """The ready-made definitions (``workflows/library/*.yaml``), by name."""
    return dict(_library())


def install_library(organisation: Organisation, actor: Any = None) -> list[WorkflowDefinition]:
    """Install the ready-made definitions the organisation does not have (by name); returns the ones
    installed now (none the second time: then it costs one query)."""
    installed: list[WorkflowDefinition] = []
    names = {name for name, _ in _library()}
    present = WorkflowDefinition.objects.for_org(organisation).filter(name__in=names, is_current=True)
    if present.count() == len(names):
        return installed
    with transaction.atomic():
        existing = set(WorkflowDefinition.objects.for_org(organisation).values_list("name", flat=True))
        for name, text in library_texts().items():
            if name not in existing:
                installed.append(save_definition(organisation=organisation, actor=actor, text=text))
    return installed


def problems_json(problems: list[Problem]) -> list[dict[str, str]]:
    return [problem.as_json() for problem in problems]
