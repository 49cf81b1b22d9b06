"""B10 — workflow transitions per second on PostgreSQL, with their timeline, audit entry and actions.

8 client processes, each on its own organisation (as on a hosted instance) and its own dossiers, apply
transitions through ``dossiers.engine.apply_transition``: the dossier row locked, rights and state checked
against the dossier's workflow version, the move, a timeline event and a hash-chained audit entry per event,
and the actions — going forward sets data and creates a task for a service (with its own event and the
notification of the service's members), coming back assigns the dossier to a service. No e-mail. The
reference is B6's: a single-row INSERT then COMMIT in a loop, one client, same database.
"""

from __future__ import annotations

import time
from typing import Any

from mairie.bench.common import Databases, Options, Section, fmt, log, race, run_child, table

CLIENTS = 8
WARMUP = 4

LOOP = {
    "name": "aller-retour",
    "title": "Aller-retour (banc d'essai)",
    "initial": "a",
    "statuses": [
        {"id": "a", "label": "À traiter"},
        {"id": "b", "label": "En cours"},
        {"id": "z", "label": "Clos", "final": True},
    ],
    "transitions": [
        {
            "id": "aller",
            "label": "Prendre en charge",
            "from": ["a"],
            "to": "b",
            "allowed": {"roles": ["courrier", "agent"]},
            "condition": "data.montant >= 0",
            "actions": [
                {"action": "set_data", "values": {"pris": True}},
                {
                    "action": "create_task",
                    "title": "Vérifier la demande",
                    "service": "Services techniques",
                    "delay_days": 5,
                },
            ],
        },
        {
            "id": "retour",
            "label": "Remettre à traiter",
            "from": ["b"],
            "to": "a",
            "actions": [{"action": "assign", "service": "Accueil et secrétariat"}],
        },
        {"id": "clore", "label": "Clore", "from": "*", "to": "z"},
    ],
}


def child_setup(params: dict[str, Any]) -> dict[str, Any]:
    from django.contrib.auth import get_user_model

    from mairie.dossiers.services import create_dossier
    from mairie.organisations.models import Role
    from mairie.organisations.services import add_member, create_organisation
    from mairie.workflows.services import save_definition

    clients = []
    for number in range(params["organisations"]):
        org = create_organisation(
            actor=None, slug=f"flux-{number}", name=f"Commune de flux {number}", kind="commune"
        )
        add_member(
            actor=None,
            organisation=org,
            username=f"agent-flux-{number}",
            first_name="Sylvie",
            last_name=f"Flux {number}",
            email=f"agent-flux-{number}@example.org",
            roles=[Role.COURRIER, Role.AGENT],
            password="Motdepasse-de-banc-42",
        )
        user = get_user_model().objects.get(username=f"agent-flux-{number}")
        workflow = save_definition(organisation=org, actor=None, data=LOOP)
        dossiers = [
            create_dossier(
                organisation=org, actor=user, subject=f"Demande {n}", workflow=workflow, data={"montant": n}
            ).pk
            for n in range(params["dossiers"])
        ]
        clients.append({"org_id": org.pk, "user_id": user.pk, "dossier_ids": dossiers})
    return {"clients": clients}


def _client(client: dict[str, Any], rounds: int, ready: Any, start: Any, results: Any) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connections

    from mairie.dossiers.engine import apply_transition
    from mairie.dossiers.models import Dossier

    connections.close_all()
    user = get_user_model().objects.get(pk=client["user_id"])
    dossiers = list(Dossier.objects.filter(pk__in=client["dossier_ids"]).select_related("workflow"))

    def step(dossier: Dossier) -> None:
        name = "aller" if dossier.status == "a" else "retour"
        apply_transition(dossier=dossier, transition=name, actor=user)

    for n in range(WARMUP):
        step(dossiers[n % len(dossiers)])
    ready.release()
    start.wait()
    began = time.perf_counter()
    done = 0
    for n in range(rounds):
        step(dossiers[n % len(dossiers)])
        done += 1
    results.put((done, began, time.perf_counter()))
    connections.close_all()


def child_transitions(params: dict[str, Any]) -> dict[str, Any]:
    from django.db import connections

    from mairie.audit.services import verify_chain
    from mairie.dossiers.models import DossierEvent
    from mairie.organisations.models import Organisation

    connections.close_all()
    outcomes, began = race(_client, [(client, params["rounds"]) for client in params["clients"]])
    ended = max(end for _, _, end in outcomes)
    applied = sum(count for count, _, _ in outcomes)
    org_ids = [c["org_id"] for c in params["clients"]]
    events = DossierEvent.objects.filter(organisation_id__in=org_ids, kind="transition").count()
    chains = all(verify_chain(org).ok for org in Organisation.objects.filter(pk__in=org_ids))
    return {
        "applied": applied,
        "seconds": ended - began,
        "per_second": applied / (ended - began),
        "events": events,
        "audit_ok": chains,
    }


def run(opts: Options, dbs: Databases) -> Section:
    target = dbs.fresh("postgresql", "b10")
    rounds = opts.pick(200, 6)
    raw_rows = opts.pick(4000, 200)
    log(f"B10: {CLIENTS} organisations with 10 dossiers each…")
    setup = run_child("b10-setup", {"organisations": CLIENTS, "dossiers": 10}, target)
    raws = [run_child("b6-raw", {"rows": raw_rows}, target)]
    log(f"B10: {CLIENTS} clients × {rounds} transitions…")
    result = run_child("b10-transitions", {"clients": setup["clients"], "rounds": rounds}, target)
    raws.append(run_child("b6-raw", {"rows": raw_rows}, target))
    raw_rate = sum(r["rows"] for r in raws) / sum(r["seconds"] for r in raws)
    ratio = result["per_second"] / raw_rate
    expected_events = CLIENTS * (rounds + WARMUP)
    rows = [
        ["raw INSERT + COMMIT, 1 client (reference)", fmt(raw_rate, 0), "100 %", ""],
        [
            f"`apply_transition`, {CLIENTS} clients on {CLIENTS} organisations",
            fmt(result["per_second"], 0),
            f"{ratio * 100:.0f} %",
            "yes" if result["audit_ok"] and result["events"] == expected_events else "**NO**",
        ],
    ]
    body = (
        f"{CLIENTS} client processes × {rounds} transitions (alternately « aller », which sets data and creates "
        "a service task — its own timeline event, audit entry and notifications —, and « retour », which assigns "
        "the dossier to a service), each on its organisation's 10 dossiers; reference: "
        f"{raw_rows} single-row INSERT+COMMIT, before and after, averaged.\n\n"
        + table(["", "per second", "of reference", "timeline complete, audit chains intact"], rows)
    )
    return Section(
        "B10",
        "B10 — workflow transitions (PostgreSQL)",
        body,
        f"{fmt(result['per_second'], 0)} transitions/s with their actions, timeline and journal = "
        f"{ratio * 100:.1f} % of the raw INSERT loop (the issue sets no target: reported)",
    )
