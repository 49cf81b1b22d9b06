"""A small, safe expression language for the conditions of workflow transitions.

    data.montant > 5000 and not data.urgent
    dossier.service == "Urbanisme" or contact.kind in ["entreprise", "association"]
    data["surface plancher"] >= 150

The text is parsed by Python's ``ast`` (``eval`` mode) and every node is checked against a whitelist:
``and``/``or``/``not``, comparisons (``== != < <= > >= in not in``), numbers, strings, booleans,
``None``/``null``, lists, and names read from the context as attribute chains (``data.x.y``,
``dossier.status``…) or ``data["clé avec espace"]``. No call, no other subscript, no name starting with
``_``: nothing of Python can be reached. The checked tree is turned into plain closures once; evaluating
never raises: a missing name is ``None``, and an ordering comparison with ``None`` or between values of
different kinds is false.

The context is a dict of plain JSON-like values (dicts, lists, strings, numbers, booleans, None), e.g.
``{"data": dossier.data, "dossier": {"status": …, "service": …}, "contact": {"kind": …}}``.
"""

from __future__ import annotations

import ast
import functools
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# The names a condition may start with. Anything else is refused when the definition is saved, so a typo
# (« dat.montant ») is caught then rather than silently false at run time.
ROOTS = frozenset({"data", "dossier", "contact", "organisation", "usager"})
CONSTANT_NAMES: dict[str, Any] = {
    "None": None,
    "null": None,
    "True": True,
    "true": True,
    "False": False,
    "false": False,
}
MAX_LENGTH = 2000
MAX_DEPTH = 40

Evaluator = Callable[[Mapping[str, Any]], Any]


class ConditionError(ValueError):
    """A condition that cannot be used; the message is in French and gives the position."""

    def __init__(self, message: str, column: int | None = None) -> None:
        self.column = column
        if column is not None:
            message = f"{message} (colonne {column})"
        super().__init__(message)


@dataclass(frozen=True)
class Condition:
    text: str
    names: frozenset[str] = field(default_factory=frozenset)
    _evaluate: Evaluator = field(default=lambda context: True, repr=False, compare=False)

    def evaluate(self, context: Mapping[str, Any]) -> bool:
        """True or False; never raises (a missing name is None, a mismatched comparison is False)."""
        try:
            return bool(self._evaluate(context))
        except Exception:
            return False


def compile_condition(text: str) -> Condition:
    """Parse and check a condition; raises ``ConditionError`` with a French message. Compiled conditions
    are kept (they are immutable): the engine may call this at every check."""
    if not isinstance(text, str):
        raise ConditionError("une condition est un texte")
    return _compile(text)


@functools.lru_cache(maxsize=1024)
def _compile(text: str) -> Condition:
    stripped = text.strip()
    if not stripped:
        raise ConditionError("la condition est vide")
    if len(stripped) > MAX_LENGTH:
        raise ConditionError(f"la condition est trop longue (plus de {MAX_LENGTH} caractères)")
    if "\n" in stripped or "\r" in stripped:
        raise ConditionError("une condition tient sur une seule ligne")
    try:
        tree = ast.parse(stripped, mode="eval")
    except SyntaxError as exc:
        column = exc.offset if exc.offset and (exc.lineno or 1) == 1 else len(stripped)
        reason = str(exc.msg or "")
        hint = ""
        if "never closed" in reason or "unexpected EOF" in reason:
            hint = " : parenthèse ou crochet non fermé"
        elif "unmatched" in reason or "does not match" in reason:
            hint = " : parenthèse ou crochet fermant en trop"
        elif "unterminated string" in reason:
            hint = " : guillemet non fermé"
        elif "Maybe you meant '=='" in reason or re.search(r"(?<![=!<>])=(?!=)", stripped):
            hint = " : pour comparer, écrivez =="
        raise ConditionError(f"syntaxe incorrecte{hint}", min(max(column, 1), len(stripped) + 1)) from None
    except (ValueError, RecursionError, MemoryError):
        raise ConditionError("expression illisible ou trop imbriquée") from None
    names: set[str] = set()
    evaluator = _Compiler(names).compile(tree.body, 0)
    return Condition(text=stripped, names=frozenset(names), _evaluate=evaluator)


# --- Evaluation helpers ------------------------------------------------------------------------------------


def _number(value: Any) -> Any:
    """Numbers typed in forms arrive as text: « 5000 » compares as 5000 with a number."""
    if isinstance(value, str):
        text = value.strip().replace(",", ".").replace("\u202f", "").replace(" ", "")
        try:
            return int(text)
        except ValueError:
            try:
                return float(text)
            except ValueError:
                return value
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _align(left: Any, right: Any) -> tuple[Any, Any]:
    if _is_number(left) and isinstance(right, str):
        return left, _number(right)
    if _is_number(right) and isinstance(left, str):
        return _number(left), right
    return left, right


def _equal(left: Any, right: Any) -> bool:
    left, right = _align(left, right)
    if isinstance(left, bool) != isinstance(right, bool):
        return False  # true is not 1
    return bool(left == right)


def _ordered(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(left: Any, right: Any) -> bool:
        left, right = _align(left, right)
        if left is None or right is None or isinstance(left, bool) or isinstance(right, bool):
            return False
        if _is_number(left) and _is_number(right):
            return bool(op(left, right))
        if isinstance(left, str) and isinstance(right, str):
            return bool(op(left, right))
        return False

    return compare


def _contains(item: Any, container: Any) -> bool:
    if isinstance(container, str):
        return isinstance(item, str) and item in container
    if isinstance(container, list | tuple):
        return any(_equal(item, element) for element in container)
    if isinstance(container, Mapping):
        return isinstance(item, str) and item in container
    return False


COMPARATORS: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: _equal,
    ast.NotEq: lambda a, b: not _equal(a, b),
    ast.Lt: _ordered(operator.lt),
    ast.LtE: _ordered(operator.le),
    ast.Gt: _ordered(operator.gt),
    ast.GtE: _ordered(operator.ge),
    ast.In: _contains,
    ast.NotIn: lambda a, b: not _contains(a, b),
}
OPERATOR_TEXT = {ast.Is: "is", ast.IsNot: "is not"}


def _lookup(context: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = context
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
        if value is None:
            return None
    return value


class _Compiler:
    def __init__(self, names: set[str]) -> None:
        self.names = names

    def refuse(self, node: ast.AST, message: str) -> ConditionError:
        column = getattr(node, "col_offset", None)
        return ConditionError(message, None if column is None else column + 1)

    def compile(self, node: ast.AST, depth: int) -> Evaluator:
        if depth > MAX_DEPTH:
            raise self.refuse(node, "expression trop imbriquée")
        depth += 1
        if isinstance(node, ast.BoolOp):
            parts = [self.compile(value, depth) for value in node.values]
            if isinstance(node.op, ast.And):
                return lambda ctx: all(bool(part(ctx)) for part in parts)
            return lambda ctx: any(bool(part(ctx)) for part in parts)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.Not):
                inner = self.compile(node.operand, depth)
                return lambda ctx: not inner(ctx)
            if isinstance(node.op, ast.USub | ast.UAdd) and isinstance(node.operand, ast.Constant):
                value = node.operand.value
                if isinstance(value, int | float) and not isinstance(value, bool):
                    signed = -value if isinstance(node.op, ast.USub) else value
                    return lambda ctx: signed
            raise self.refuse(node, "opérateur non autorisé (seuls and, or, not et les comparaisons le sont)")
        if isinstance(node, ast.Compare):
            for op in node.ops:
                if type(op) not in COMPARATORS:
                    text = OPERATOR_TEXT.get(type(op), type(op).__name__)
                    raise self.refuse(node, f"comparaison « {text} » non autorisée : utilisez == ou !=")
            operands = [self.compile(node.left, depth)] + [self.compile(c, depth) for c in node.comparators]
            functions = [COMPARATORS[type(op)] for op in node.ops]

            def compare(ctx: Mapping[str, Any]) -> bool:
                values = [operand(ctx) for operand in operands]
                return all(f(values[i], values[i + 1]) for i, f in enumerate(functions))

            return compare
        if isinstance(node, ast.Constant):
            value = node.value
            if value is None or isinstance(value, bool | int | float | str):
                return lambda ctx: value
            raise self.refuse(node, "valeur non autorisée (nombres, textes, true, false, null)")
        if isinstance(node, ast.List | ast.Tuple):
            items = [self.compile(element, depth) for element in node.elts]
            return lambda ctx: [item(ctx) for item in items]
        if isinstance(node, ast.Name):
            if node.id in CONSTANT_NAMES:
                constant = CONSTANT_NAMES[node.id]
                return lambda ctx: constant
            return self.path(node)
        if isinstance(node, ast.Attribute | ast.Subscript):
            return self.path(node)
        if isinstance(node, ast.Call):
            raise self.refuse(node, "les appels de fonction ne sont pas autorisés")
        if isinstance(node, ast.BinOp):
            raise self.refuse(node, "les calculs (+, -, *, /…) ne sont pas autorisés dans une condition")
        raise self.refuse(node, "élément non autorisé dans une condition")

    def path(self, node: ast.AST) -> Evaluator:
        keys: list[str] = []
        current = node
        while True:
            if isinstance(current, ast.Attribute):
                keys.append(current.attr)
                current = current.value
            elif isinstance(current, ast.Subscript):
                index = current.slice
                if not (isinstance(index, ast.Constant) and isinstance(index.value, str)):
                    raise self.refuse(
                        current, 'seul un texte est permis entre crochets : data["nom du champ"]'
                    )
                keys.append(index.value)
                current = current.value
            elif isinstance(current, ast.Name):
                keys.append(current.id)
                break
            else:
                raise self.refuse(current, "seuls des noms comme data.montant peuvent être lus")
        keys.reverse()
        root = keys[0]
        if root not in ROOTS:
            allowed = ", ".join(sorted(ROOTS))
            raise self.refuse(node, f"nom inconnu « {root} » (noms possibles : {allowed})")
        for key in keys:
            if key.startswith("_"):
                raise self.refuse(node, f"le nom « {key} » est interdit (il commence par « _ »)")
        path = tuple(keys)
        self.names.add(".".join(path))
        return lambda ctx: _lookup(ctx, path)
