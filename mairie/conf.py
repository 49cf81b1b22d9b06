"""Typed readers for environment variables.

Every setting of the platform comes from the environment through these helpers. Each call records the
variable in ``REGISTRY`` so that a test can check that docs/configuration.md documents all of them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class EnvVar:
    name: str
    default: str


REGISTRY: dict[str, EnvVar] = {}


def _raw(name: str, default: str) -> str:
    REGISTRY[name] = EnvVar(name, default)
    return os.environ.get(name, default)


def env_str(name: str, default: str = "") -> str:
    return _raw(name, default)


def env_int(name: str, default: int) -> int:
    value = _raw(name, str(default)).strip()
    try:
        return int(value)
    except ValueError as exc:
        raise ValueError(f"{name} doit être un nombre entier (reçu {value!r})") from exc


def env_float(name: str, default: float) -> float:
    value = _raw(name, str(default)).strip()
    try:
        return float(value)
    except ValueError as exc:
        raise ValueError(f"{name} doit être un nombre (reçu {value!r})") from exc


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name, "1" if default else "0").strip().lower()
    if value in {"1", "true", "yes", "oui", "on"}:
        return True
    if value in {"0", "false", "no", "non", "off", ""}:
        return False
    raise ValueError(f"{name} doit valoir 1/0, true/false ou oui/non (reçu {value!r})")


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in _raw(name, default).split(",") if item.strip()]
