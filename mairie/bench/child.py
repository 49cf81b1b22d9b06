"""Entry point of the benchmark child processes: ``python -m mairie.bench.child TASK JSON``.

The child is configured like the product, by environment variables (set by the orchestrator), sets Django
up, runs one task and prints its result as one JSON line (see :func:`mairie.bench.common.report`).
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any

# task name → "module:function"; each function takes the JSON parameters and returns a JSON-able dict.
TASKS = {
    "migrate": "mairie.bench.child:migrate",
    "b1": "mairie.bench.b1_ocr:child_measure",
    "b2": "mairie.bench.b2_text_layer:child_measure",
    "b4-load": "mairie.bench.b4_search:child_load",
    "b4-measure": "mairie.bench.b4_search:child_measure",
    "b5-setup": "mairie.bench.b5_inbox:child_setup",
    "b6-setup": "mairie.bench.b6_register:child_setup",
    "b6-register": "mairie.bench.b6_register:child_register",
    "b6-raw": "mairie.bench.b6_register:child_raw",
    "b6-latency": "mairie.bench.b6_register:child_latency",
    "b9": "mairie.bench.b9_mail:child_measure",
    "b8": "mairie.bench.b8_batch:child_measure",
    "b10-setup": "mairie.bench.b10_transitions:child_setup",
    "b10-transitions": "mairie.bench.b10_transitions:child_transitions",
    "b11": "mairie.bench.b11_signature:child_measure",
}


def migrate(params: dict[str, Any]) -> dict[str, Any]:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    # As `mairie serve` does before starting gunicorn (B5 serves pages that link to them).
    call_command("collectstatic", interactive=False, verbosity=0)
    return {"ok": True}


def main(argv: list[str]) -> int:
    import django

    from mairie.bench.common import report

    task, raw = argv[0], argv[1] if len(argv) > 1 else "{}"
    module_name, function_name = TASKS[task].split(":")
    django.setup()
    function = getattr(importlib.import_module(module_name), function_name)
    report(function(json.loads(raw)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
