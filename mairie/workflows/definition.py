"""The workflow definition format: parse (YAML or JSON), validate (every problem at once), read.

A definition is data (see docs/workflows.md for the format and a full example)::

    name: demande-avis-technique
    title: Demande avec avis du service technique
    initial: recue
    statuses: [{id: recue, label: Reçue, on_enter: [...]}, {id: cloturee, label: Clôturée, final: true}]
    transitions: [{id: demander_avis, label: …, from: [recue], to: …, allowed: …, condition: …,
                   automatic: false, actions: [...]}]

``validate`` never raises: whatever the input, it returns the list of problems (empty = valid), each with a
readable place (``transitions[2] (« demander_avis »).actions[0]``) and a French message. ``Definition`` wraps
a validated dict for the engine.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from mairie.workflows.conditions import Condition, ConditionError, compile_condition

ID_RE = re.compile(r"^[a-z][a-z0-9_-]*$")
NAME_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
ID_MAX = 80  # Dossier.status, WorkflowTimer.transition, Opinion.then_transition
NAME_MAX = 80
TITLE_MAX = 200
MAX_TEXT = 200_000
ANY = "*"

TOP_KEYS = ("name", "title", "description", "initial", "statuses", "transitions")
STATUS_KEYS = ("id", "label", "description", "final", "on_enter")
TRANSITION_KEYS = ("id", "label", "description", "from", "to", "allowed", "condition", "automatic", "actions")
ALLOWED_KEYS = ("roles", "services", "assignee")


@dataclass(frozen=True)
class Problem:
    """One problem of a definition: where (a readable path) and what (French)."""

    where: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"where": self.where, "message": self.message}

    def __str__(self) -> str:
        return f"{self.where} : {self.message}" if self.where else self.message


class DefinitionError(ValueError):
    """A definition that cannot be used; ``problems`` lists every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        first = str(self.problems[0]) if self.problems else "définition invalide"
        more = len(self.problems) - 1
        super().__init__(first + (f" (et {more} autre(s) problème(s))" if more > 0 else ""))


# --- Parsing -----------------------------------------------------------------------------------------------


def parse_text(text: str) -> dict[str, Any]:
    """YAML or JSON text → dict. A syntax error (or anything but a mapping) raises ``DefinitionError``."""
    if len(text) > MAX_TEXT:
        raise DefinitionError([Problem("texte", f"texte trop long (plus de {MAX_TEXT} caractères)")])
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"ligne {mark.line + 1}, colonne {mark.column + 1}" if mark else "texte"
        reason = exc.problem or "syntaxe incorrecte"
        raise DefinitionError([Problem(where, f"syntaxe YAML/JSON incorrecte : {reason}")]) from None
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        raise DefinitionError([Problem("texte", f"syntaxe YAML/JSON incorrecte : {exc}")]) from None
    if data is None:
        raise DefinitionError([Problem("texte", "le texte est vide")])
    if not isinstance(data, dict):
        raise DefinitionError(
            [
                Problem(
                    "texte", "la définition doit être un ensemble de clés (name, title, initial, statuses…)"
                )
            ]
        )
    return data


# --- Validation --------------------------------------------------------------------------------------------


def _type_name(value: Any) -> str:
    if value is None:
        return "vide"
    if isinstance(value, bool):
        return "un booléen"
    if isinstance(value, int | float):
        return "un nombre"
    if isinstance(value, str):
        return "un texte"
    if isinstance(value, list):
        return "une liste"
    if isinstance(value, dict):
        return "un ensemble de clés"
    return type(value).__name__


def _json_problems(value: Any, where: str, depth: int = 0) -> Iterator[Problem]:
    """Values YAML can produce but JSON cannot store (dates, binary, sets, non-text keys)."""
    if depth > 50:
        yield Problem(where, "structure trop imbriquée")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                yield Problem(where, f"la clé {key!r} doit être un texte (mettez-la entre guillemets)")
                continue
            yield from _json_problems(item, f"{where}.{key}" if where else key, depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _json_problems(item, f"{where}[{index}]", depth + 1)
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            yield Problem(where, "nombre non représentable")
    elif value is not None and not isinstance(value, str | int | bool):
        yield Problem(
            where, f"valeur non prise en charge ({type(value).__name__}) : mettez-la entre guillemets"
        )


def unknown_keys(obj: Mapping[str, Any], known: tuple[str, ...], where: str) -> list[Problem]:
    extra = [k for k in obj if k not in known]
    return [
        Problem(where, f"clé inconnue « {key} » (clés possibles : {', '.join(known)})")
        for key in extra
        if isinstance(key, str)
    ]


def _label_of(obj: Any, kind: str, index: int) -> str:
    ident = obj.get("id") if isinstance(obj, dict) else None
    if isinstance(ident, str) and ident:
        return f"{kind}[{index}] (« {ident} »)"
    return f"{kind}[{index}]"


def _text(
    obj: Mapping[str, Any], key: str, where: str, *, required: bool, max_length: int = 0
) -> list[Problem]:
    value = obj.get(key)
    if value is None:
        return [Problem(where, f"« {key} » est obligatoire")] if required else []
    if not isinstance(value, str):
        return [Problem(where, f"« {key} » doit être un texte, pas {_type_name(value)}")]
    if required and not value.strip():
        return [Problem(where, f"« {key} » ne peut pas être vide")]
    if max_length and len(value) > max_length:
        return [Problem(where, f"« {key} » est trop long ({max_length} caractères au plus)")]
    return []


def _boolean(obj: Mapping[str, Any], key: str, where: str) -> list[Problem]:
    value = obj.get(key)
    if value is None or isinstance(value, bool):
        return []
    return [Problem(where, f"« {key} » doit valoir true ou false, pas {_type_name(value)}")]


def _identifier(obj: Mapping[str, Any], where: str, what: str) -> list[Problem]:
    problems = _text(obj, "id", where, required=True)
    value = obj.get("id")
    if problems or not isinstance(value, str):
        return problems
    if len(value) > ID_MAX:
        return [Problem(where, f"l'identifiant d'une {what} fait {ID_MAX} caractères au plus")]
    if not ID_RE.match(value):
        return [
            Problem(
                where,
                f"identifiant « {value} » incorrect : lettres minuscules sans accent, chiffres, « _ » ou « - », "
                "en commençant par une lettre",
            )
        ]
    return []


def _role_names() -> tuple[str, ...]:
    from mairie.organisations.models import Role

    return tuple(str(value) for value in Role.values)


def _string_list(value: Any, key: str, where: str) -> tuple[list[str], list[Problem]]:
    if not isinstance(value, list):
        return [], [Problem(where, f"« {key} » doit être une liste, pas {_type_name(value)}")]
    items: list[str] = []
    problems: list[Problem] = []
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            problems.append(Problem(f"{where}.{key}[{index}]", "chaque élément doit être un texte non vide"))
        else:
            items.append(item)
    return items, problems


def _allowed(value: Any, where: str) -> list[Problem]:
    where = f"{where}.allowed"
    if not isinstance(value, dict):
        return [
            Problem(
                where,
                f"« allowed » doit être un ensemble de clés (roles, services, assignee), pas {_type_name(value)}",
            )
        ]
    problems = unknown_keys(value, ALLOWED_KEYS, where)
    if "roles" in value:
        roles, found = _string_list(value["roles"], "roles", where)
        problems += found
        known = _role_names()
        for index, role in enumerate(roles):
            if role not in known:
                problems.append(
                    Problem(
                        f"{where}.roles[{index}]", f"rôle inconnu « {role} » (rôles : {', '.join(known)})"
                    )
                )
    if "services" in value:
        problems += _string_list(value["services"], "services", where)[1]
    problems += _boolean(value, "assignee", where)
    if not problems and not any(value.get(k) for k in ALLOWED_KEYS):
        problems.append(
            Problem(
                where,
                "« allowed » ne donne le droit à personne : retirez-le ou indiquez roles, services ou assignee",
            )
        )
    return problems


@dataclass
class _ActionRef:
    """A transition id named by an action, checked once all transitions are known."""

    where: str
    key: str
    transition: str
    waiting_status: str | None  # the status the dossier is in when the action's transition fires


def _actions(value: Any, where: str, waiting_status: str | None, refs: list[_ActionRef]) -> list[Problem]:
    from mairie.workflows.actions import ACTIONS

    if not isinstance(value, list):
        return [Problem(where, f"doit être une liste d'actions, pas {_type_name(value)}")]
    problems: list[Problem] = []
    for index, item in enumerate(value):
        here = f"{where}[{index}]"
        if not isinstance(item, dict):
            problems.append(
                Problem(here, f"une action est un ensemble de clés (action: …), pas {_type_name(item)}")
            )
            continue
        name = item.get("action")
        if not isinstance(name, str) or not name:
            problems.append(Problem(here, "« action » est obligatoire (le nom de l'action)"))
            continue
        spec = ACTIONS.get(name)
        if spec is None:
            problems.append(
                Problem(here, f"action inconnue « {name} » (actions : {', '.join(sorted(ACTIONS))})")
            )
            continue
        here = f"{here} ({name})"
        params = {k: v for k, v in item.items() if k != "action"}
        problems += spec.validate(params, here)
        for key in spec.transition_params:
            target = params.get(key)
            if isinstance(target, str) and target:
                refs.append(_ActionRef(f"{here}.{key}", key, target, waiting_status))
    return problems


def validate(data: Any) -> list[Problem]:
    """Every problem of a definition, in a stable order; an empty list when it is valid. Never raises."""
    try:
        return _validate(data)
    except RecursionError:
        return [Problem("texte", "structure trop imbriquée")]


def _validate(data: Any) -> list[Problem]:
    if not isinstance(data, dict):
        return [Problem("", "la définition doit être un ensemble de clés (name, title, initial, statuses…)")]
    problems = list(_json_problems(data, ""))
    problems += unknown_keys(data, TOP_KEYS, "définition")
    problems += _text(data, "name", "name", required=True)
    name = data.get("name")
    if isinstance(name, str) and name.strip():
        if len(name) > NAME_MAX:
            problems.append(Problem("name", f"l'identifiant fait {NAME_MAX} caractères au plus"))
        elif not NAME_RE.match(name):
            problems.append(
                Problem(
                    "name",
                    f"identifiant « {name} » incorrect : lettres minuscules sans accent, chiffres et tirets "
                    "(ex. « courrier-avec-reponse »)",
                )
            )
    problems += _text(data, "title", "title", required=True, max_length=TITLE_MAX)
    problems += _text(data, "description", "description", required=False)
    problems += _text(data, "initial", "initial", required=True)

    # Statuses.
    statuses: dict[str, dict[str, Any]] = {}
    status_where: dict[str, str] = {}
    refs: list[_ActionRef] = []
    raw_statuses = data.get("statuses")
    if raw_statuses is None:
        problems.append(Problem("statuses", "« statuses » est obligatoire (la liste des étapes)"))
        raw_statuses = []
    elif not isinstance(raw_statuses, list):
        problems.append(
            Problem("statuses", f"« statuses » doit être une liste, pas {_type_name(raw_statuses)}")
        )
        raw_statuses = []
    elif not raw_statuses:
        problems.append(Problem("statuses", "il faut au moins une étape"))
    for index, status in enumerate(raw_statuses):
        where = _label_of(status, "statuses", index)
        if not isinstance(status, dict):
            problems.append(
                Problem(where, f"une étape est un ensemble de clés (id, label…), pas {_type_name(status)}")
            )
            continue
        problems += unknown_keys(status, STATUS_KEYS, where)
        id_problems = _identifier(status, where, "étape")
        problems += id_problems
        problems += _text(status, "label", where, required=True, max_length=TITLE_MAX)
        problems += _text(status, "description", where, required=False)
        problems += _boolean(status, "final", where)
        ident = status.get("id")
        if not id_problems and isinstance(ident, str):
            if ident in statuses:
                problems.append(
                    Problem(where, f"identifiant « {ident} » en double (déjà pris par {status_where[ident]})")
                )
            else:
                statuses[ident] = status
                status_where[ident] = where
        if "on_enter" in status:
            waiting = ident if isinstance(ident, str) else None
            problems += _actions(status["on_enter"], f"{where}.on_enter", waiting, refs)
    finals = {ident for ident, status in statuses.items() if status.get("final") is True}

    initial = data.get("initial")
    if isinstance(initial, str) and initial.strip() and statuses:
        if initial not in statuses:
            problems.append(Problem("initial", f"étape inconnue « {initial} » ({_known(statuses)})"))
        elif initial in finals:
            problems.append(Problem("initial", f"l'étape initiale « {initial} » ne peut pas être finale"))

    # Transitions.
    transitions: dict[str, dict[str, Any]] = {}
    transition_where: dict[str, str] = {}
    edges: dict[str, set[str]] = {ident: set() for ident in statuses}
    sources_of: dict[str, set[str]] = {}
    # A transition with an unknown or missing status makes the graph incomplete: judging reachability then
    # would only repeat the same mistake as « inaccessible » and « sans issue » problems.
    graph_complete = True
    raw_transitions = data.get("transitions", [])
    if raw_transitions is None:
        raw_transitions = []
    if not isinstance(raw_transitions, list):
        problems.append(
            Problem("transitions", f"« transitions » doit être une liste, pas {_type_name(raw_transitions)}")
        )
        raw_transitions = []
    for index, transition in enumerate(raw_transitions):
        where = _label_of(transition, "transitions", index)
        if not isinstance(transition, dict):
            problems.append(
                Problem(
                    where,
                    f"une transition est un ensemble de clés (id, label, from, to…), pas {_type_name(transition)}",
                )
            )
            continue
        problems += unknown_keys(transition, TRANSITION_KEYS, where)
        id_problems = _identifier(transition, where, "transition")
        problems += id_problems
        problems += _text(transition, "label", where, required=True, max_length=TITLE_MAX)
        problems += _text(transition, "description", where, required=False)
        problems += _boolean(transition, "automatic", where)
        ident = transition.get("id")
        if not id_problems and isinstance(ident, str):
            if ident in transitions:
                problems.append(
                    Problem(
                        where, f"identifiant « {ident} » en double (déjà pris par {transition_where[ident]})"
                    )
                )
            else:
                transitions[ident] = transition
                transition_where[ident] = where

        # from
        sources: set[str] = set()
        if "from" not in transition:
            graph_complete = False
            problems.append(
                Problem(where, "« from » est obligatoire (liste d'étapes, ou « * » : toute étape non finale)")
            )
        else:
            origin = transition["from"]
            if origin == ANY:
                sources = set(statuses) - finals
            elif isinstance(origin, list):
                if not origin:
                    problems.append(Problem(f"{where}.from", "la liste des étapes de départ est vide"))
                for position, source in enumerate(origin):
                    if not isinstance(source, str):
                        problems.append(
                            Problem(f"{where}.from[{position}]", "chaque étape est un identifiant (texte)")
                        )
                    elif source == ANY:
                        problems.append(
                            Problem(f"{where}.from[{position}]", '« * » s\'écrit seul : from: "*"')
                        )
                    elif source not in statuses:
                        graph_complete = False
                        if statuses:
                            problems.append(
                                Problem(
                                    f"{where}.from[{position}]",
                                    f"étape inconnue « {source} » ({_known(statuses)})",
                                )
                            )
                    elif source in finals:
                        problems.append(
                            Problem(
                                f"{where}.from[{position}]",
                                f"l'étape « {source} » est finale : aucune transition ne peut en partir "
                                "(retirez « final: true » si le dossier peut être rouvert)",
                            )
                        )
                    else:
                        sources.add(source)
            else:
                graph_complete = False
                problems.append(
                    Problem(
                        f"{where}.from",
                        f"« from » doit être une liste d'étapes ou « * », pas {_type_name(origin)}"
                        + (f" (écrivez from: [{origin}])" if isinstance(origin, str) else ""),
                    )
                )
        # to
        target = transition.get("to")
        if target is None or not isinstance(target, str) or target not in statuses:
            graph_complete = False
        if target is None:
            problems.append(Problem(where, "« to » est obligatoire (l'étape d'arrivée)"))
        elif not isinstance(target, str):
            problems.append(
                Problem(f"{where}.to", f"« to » doit être un identifiant d'étape, pas {_type_name(target)}")
            )
        elif statuses and target not in statuses:
            problems.append(Problem(f"{where}.to", f"étape inconnue « {target} » ({_known(statuses)})"))
        elif target in statuses:
            for source in sources:
                edges[source].add(target)
        if not id_problems and isinstance(ident, str):
            sources_of.setdefault(ident, set()).update(sources)
        if "allowed" in transition and transition["allowed"] is not None:
            problems += _allowed(transition["allowed"], where)
        condition = transition.get("condition")
        if condition is not None:
            if not isinstance(condition, str):
                problems.append(
                    Problem(
                        f"{where}.condition", f"la condition doit être un texte, pas {_type_name(condition)}"
                    )
                )
            else:
                try:
                    compile_condition(condition)
                except ConditionError as exc:
                    problems.append(Problem(f"{where}.condition", f"condition incorrecte : {exc}"))
        if "actions" in transition:
            waiting = target if isinstance(target, str) and target in statuses else None
            problems += _actions(transition["actions"], f"{where}.actions", waiting, refs)

    # Transitions named by actions (then, on_refuse, transition) must exist and leave the status the dossier
    # waits in.
    for ref in refs:
        if ref.transition not in transitions:
            if transitions or raw_transitions:
                problems.append(
                    Problem(ref.where, f"transition inconnue « {ref.transition} » ({_known(transitions)})")
                )
            else:
                problems.append(
                    Problem(
                        ref.where, f"transition inconnue « {ref.transition} » (aucune transition définie)"
                    )
                )
        elif ref.waiting_status is not None and ref.waiting_status not in sources_of.get(
            ref.transition, set()
        ):
            if ref.waiting_status in finals:
                continue  # already reported on the status or the transition
            problems.append(
                Problem(
                    ref.where,
                    f"la transition « {ref.transition} » ne part pas de l'étape « {ref.waiting_status} », "
                    "où se trouve le dossier quand elle doit s'appliquer",
                )
            )

    # The graph: finals, reachability, ways out.
    if statuses:
        if not finals:
            problems.append(
                Problem(
                    "statuses", "aucune étape finale (final: true) : un dossier ne pourrait jamais être clos"
                )
            )
        if not graph_complete:
            return problems
        if isinstance(initial, str) and initial in statuses:
            reached = _reachable({initial}, edges)
            for ident in statuses:
                if ident not in reached:
                    problems.append(
                        Problem(
                            status_where[ident], f"étape inaccessible depuis l'étape initiale « {initial} »"
                        )
                    )
        reverse: dict[str, set[str]] = {ident: set() for ident in statuses}
        for source, targets in edges.items():
            for target in targets:
                reverse[target].add(source)
        can_finish = _reachable(finals, reverse)
        for ident in statuses:
            if ident in finals:
                continue
            if not edges[ident]:
                problems.append(
                    Problem(status_where[ident], "étape non finale sans issue : aucune transition n'en part")
                )
            elif finals and ident not in can_finish:
                problems.append(
                    Problem(status_where[ident], "aucun chemin ne mène de cette étape à une étape finale")
                )
    return problems


def _known(items: Mapping[str, Any]) -> str:
    if not items:
        return "aucune n'est définie"
    names = sorted(items)
    shown = ", ".join(names[:12]) + ("…" if len(names) > 12 else "")
    return f"connues : {shown}"


def _reachable(start: set[str], edges: Mapping[str, set[str]]) -> set[str]:
    seen = set(start)
    queue = deque(start)
    while queue:
        current = queue.popleft()
        for target in edges.get(current, ()):
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return seen


def check(data: Any) -> dict[str, Any]:
    """The data itself when valid; raises ``DefinitionError`` with every problem otherwise."""
    problems = validate(data)
    if problems:
        raise DefinitionError(problems)
    return data  # type: ignore[no-any-return]


def canonical_json(data: Any) -> str:
    """A stable text of a definition's content (key order does not matter; PostgreSQL reorders keys)."""
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


# --- Reading a validated definition ------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionCall:
    """One action of a status's ``on_enter`` or of a transition: its registry name and parameters."""

    name: str
    params: dict[str, Any]


@dataclass(frozen=True)
class Status:
    id: str
    label: str
    final: bool = False
    description: str = ""
    on_enter: tuple[ActionCall, ...] = ()


@dataclass(frozen=True)
class Allowed:
    """Who may apply a transition: any of the roles, members of any of the services, or the assignee.
    ``None`` on a transition (no ``allowed``) means any agent able to edit dossiers."""

    roles: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    assignee: bool = False


@dataclass(frozen=True)
class Transition:
    id: str
    label: str
    sources: tuple[str, ...]  # the statuses it leaves from, « * » expanded (never a final status)
    to: str
    any_source: bool = False  # written « from: "*" »
    allowed: Allowed | None = None
    condition: str | None = None
    automatic: bool = False
    description: str = ""
    actions: tuple[ActionCall, ...] = ()
    _compiled: Condition | None = field(default=None, repr=False, compare=False)

    def condition_holds(self, context: Mapping[str, Any]) -> bool:
        """True when there is no condition, or when it holds in this context (never raises)."""
        if self._compiled is None:
            return True
        return self._compiled.evaluate(context)


def _calls(value: Any) -> tuple[ActionCall, ...]:
    return tuple(
        ActionCall(name=item["action"], params={k: v for k, v in item.items() if k != "action"})
        for item in value or ()
    )


class Definition:
    """Read-only view of a validated definition dict (``validate(data) == []``; not checked again here)."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.name: str = data["name"]
        self.title: str = data["title"]
        self.description: str = data.get("description") or ""
        self.initial: str = data["initial"]
        self._statuses: dict[str, Status] = {}
        for raw in data["statuses"]:
            self._statuses[raw["id"]] = Status(
                id=raw["id"],
                label=raw["label"],
                final=raw.get("final") is True,
                description=raw.get("description") or "",
                on_enter=_calls(raw.get("on_enter")),
            )
        non_final = tuple(s.id for s in self._statuses.values() if not s.final)
        self._transitions: dict[str, Transition] = {}
        for raw in data.get("transitions") or ():
            any_source = raw["from"] == ANY
            allowed_raw = raw.get("allowed")
            allowed = None
            if allowed_raw:
                allowed = Allowed(
                    roles=tuple(allowed_raw.get("roles") or ()),
                    services=tuple(allowed_raw.get("services") or ()),
                    assignee=allowed_raw.get("assignee") is True,
                )
            condition = raw.get("condition")
            self._transitions[raw["id"]] = Transition(
                id=raw["id"],
                label=raw["label"],
                sources=non_final if any_source else tuple(raw["from"]),
                to=raw["to"],
                any_source=any_source,
                allowed=allowed,
                condition=condition,
                automatic=raw.get("automatic") is True,
                description=raw.get("description") or "",
                actions=_calls(raw.get("actions")),
                _compiled=compile_condition(condition) if condition else None,
            )

    @classmethod
    def from_text(cls, text: str) -> Definition:
        """Parse and validate; raises ``DefinitionError`` with every problem."""
        return cls(check(parse_text(text)))

    @property
    def statuses(self) -> list[Status]:
        return list(self._statuses.values())

    @property
    def transitions(self) -> list[Transition]:
        return list(self._transitions.values())

    def status(self, status_id: str) -> Status:
        try:
            return self._statuses[status_id]
        except KeyError:
            raise KeyError(f"étape inconnue « {status_id} » dans le circuit « {self.name} »") from None

    def has_status(self, status_id: str) -> bool:
        return status_id in self._statuses

    def is_final(self, status_id: str) -> bool:
        status = self._statuses.get(status_id)
        return status is not None and status.final

    def transition(self, transition_id: str) -> Transition:
        try:
            return self._transitions[transition_id]
        except KeyError:
            raise KeyError(
                f"transition inconnue « {transition_id} » dans le circuit « {self.name} »"
            ) from None

    def transitions_from(self, status_id: str) -> list[Transition]:
        """Transitions leaving this status (``from: "*"`` included), in the definition's order."""
        return [t for t in self._transitions.values() if status_id in t.sources]

    def label(self, status_id: str) -> str:
        """The status's label; its id when the definition does not know it (kept for display)."""
        status = self._statuses.get(status_id)
        return status.label if status else status_id
