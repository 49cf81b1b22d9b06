"""The audit journal: one chained entry per change, tampering detected by `mairie audit verify`."""

from __future__ import annotations

import io
import itertools
import json
import threading
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from mairie.audit.models import AuditEntry, AuditHead
from mairie.audit.services import GENESIS, record, verify_chain
from mairie.courrier.models import Status
from mairie.courrier.services import (
    add_comment,
    change_status,
    link_courriers,
    register_courrier,
    update_courrier,
)

TABLE = AuditEntry._meta.db_table


def _verify(slug: str) -> tuple[int, dict[str, Any], str]:
    """Run `mairie audit verify --org slug`; return (exit code, JSON printed, error text)."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    try:
        call_command("audit", "verify", "--org", slug, stdout=out, stderr=err)
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, json.loads(out.getvalue()), err.getvalue()


def _sql(statement: str, params: list[Any]) -> None:
    """Change the journal behind the application's back, as someone with database access could."""
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def _journal_with_six_entries(world: Any) -> None:
    """A commune whose journal holds six entries after its creation and its members."""
    org = world.commune
    start = AuditEntry.objects.for_org(org).count()
    for i in range(6 - start):
        record(organisation=org, actor=world.secretary, action="test.note", summary=f"Note n° {i}")
    assert AuditEntry.objects.for_org(org).count() == 6


@pytest.mark.django_db
def test_every_change_of_a_courrier_appends_an_entry_chained_to_the_previous_one(world):
    secretary = world.membership(world.secretary)
    before = AuditEntry.objects.for_org(world.commune).count()

    courrier = register_courrier(
        organisation=world.commune, actor=world.secretary, subject="Demande de salle"
    )
    reply = register_courrier(
        organisation=world.commune, actor=world.secretary, subject="Réponse", direction="depart"
    )
    update_courrier(membership=secretary, courrier=courrier, subject="Demande de la salle des fêtes")
    change_status(membership=secretary, courrier=courrier, status=Status.EN_COURS, reason="devis demandé")
    add_comment(membership=secretary, courrier=courrier, body="Appeler le demandeur lundi.")
    link_courriers(membership=secretary, source=reply, target=courrier, kind="reply_to")

    entries = list(AuditEntry.objects.for_org(world.commune).order_by("seq"))
    new = entries[before:]
    assert [e.action for e in new] == [
        "courrier.registered",
        "courrier.registered",
        "courrier.updated",
        "courrier.status",
        "courrier.comment",
        "courrier.linked",
    ]
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    assert entries[0].prev_hash == GENESIS
    assert all(e.prev_hash == p.hash for p, e in itertools.pairwise(entries))
    assert all(e.actor_id == world.secretary.pk and e.actor_label == "Sylvie Marchand" for e in new)
    assert new[3].summary == f"{courrier.chrono} : À traiter → En cours (devis demandé)."
    assert new[0].object_type == "courrier.courrier" and new[0].object_id == str(courrier.pk)
    head = AuditHead.objects.get(organisation=world.commune)
    assert (head.seq, head.hash) == (entries[-1].seq, entries[-1].hash)
    # Each organisation has its own chain, starting from the genesis hash.
    other = list(AuditEntry.objects.for_org(world.other_commune).order_by("seq"))
    assert other[0].seq == 1 and other[0].prev_hash == GENESIS
    assert not any("Demande" in e.summary for e in other)


@pytest.mark.django_db
def test_audit_verify_prints_json_and_exits_0_when_the_chain_is_intact(world):
    _journal_with_six_entries(world)
    code, report, err = _verify("saint-aubin")
    assert code == 0
    assert report == {"org": "saint-aubin", "status": "ok", "entries": 6}
    assert err == ""


@pytest.mark.django_db
def test_summary_edited_behind_the_applications_back_is_detected_at_its_entry(world):
    _journal_with_six_entries(world)
    _sql(
        f"UPDATE {TABLE} SET summary = %s WHERE organisation_id = %s AND seq = %s",
        ["Note effacée", world.commune.pk, 4],
    )
    code, report, err = _verify("saint-aubin")
    assert code != 0
    assert report["status"] == "broken"
    assert report["broken_seq"] == 4
    assert report["entries_ok"] == 3
    assert "modifié" in report["reason"]
    assert "n° 4" in err
    # The other commune's chain is not affected.
    assert _verify("villeneuve")[0] == 0


@pytest.mark.django_db
def test_an_entry_deleted_from_the_middle_is_named_as_missing(world):
    _journal_with_six_entries(world)
    _sql(f"DELETE FROM {TABLE} WHERE organisation_id = %s AND seq = %s", [world.commune.pk, 3])
    code, report, _ = _verify("saint-aubin")
    assert code != 0
    assert report["broken_seq"] == 3
    assert "disparu" in report["reason"]


@pytest.mark.django_db
def test_the_last_entries_deleted_are_detected_against_the_chain_head(world):
    _journal_with_six_entries(world)
    _sql(f"DELETE FROM {TABLE} WHERE organisation_id = %s AND seq >= %s", [world.commune.pk, 5])
    code, report, _ = _verify("saint-aubin")
    assert code != 0
    assert report["broken_seq"] == 5
    assert "n° 5 à 6" in report["reason"]


@pytest.mark.django_db
def test_reordered_entries_are_detected_at_the_first_moved_one(world):
    _journal_with_six_entries(world)
    org_id = world.commune.pk
    # Swap entries 2 and 5 (through a free number: sequence numbers are unique).
    _sql(f"UPDATE {TABLE} SET seq = 1000 WHERE organisation_id = %s AND seq = 2", [org_id])
    _sql(f"UPDATE {TABLE} SET seq = 2 WHERE organisation_id = %s AND seq = 5", [org_id])
    _sql(f"UPDATE {TABLE} SET seq = 5 WHERE organisation_id = %s AND seq = 1000", [org_id])
    code, report, _ = _verify("saint-aubin")
    assert code != 0
    assert report["broken_seq"] == 2
    assert report["entries_ok"] == 1


@pytest.mark.django_db
def test_entries_swapped_with_their_sequence_numbers_kept_are_detected(world):
    """Re-ordering by swapping contents (dates, summaries) while keeping the numbers in place."""
    _journal_with_six_entries(world)
    third, fourth = AuditEntry.objects.for_org(world.commune).filter(seq__in=[3, 4]).order_by("seq")
    columns = ["at", "actor_label", "action", "summary", "prev_hash", "hash"]
    for target, source in ((third, fourth), (fourth, third)):
        AuditEntry.objects.filter(pk=target.pk).update(**{c: getattr(source, c) for c in columns})
    code, report, _ = _verify("saint-aubin")
    assert code != 0
    assert report["broken_seq"] == 3


@pytest.mark.django_db
def test_an_entry_appended_without_the_chain_head_is_detected(world):
    _journal_with_six_entries(world)
    last = AuditEntry.objects.for_org(world.commune).order_by("seq").last()
    AuditEntry.objects.create(
        organisation=world.commune,
        seq=last.seq + 1,
        at=last.at,
        actor_label="inconnu",
        action="test.forged",
        summary="Entrée glissée",
        prev_hash=last.hash,
        hash="f" * 64,
    )
    code, report, _ = _verify("saint-aubin")
    assert code != 0
    assert report["broken_seq"] == 7


@pytest.mark.django_db
def test_audit_verify_of_an_unknown_organisation_says_so_in_french(world):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="Organisation inconnue"):
        call_command("audit", "verify", "--org", "nulle-part")


@pytest.mark.django_db(transaction=True)
def test_entries_appended_from_8_threads_form_one_chain_without_fork(world):
    orgs = [world.commune.pk, world.other_commune.pk]
    before = {pk: AuditEntry.objects.filter(organisation_id=pk).count() for pk in orgs}
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def append(index: int) -> None:
        from mairie.organisations.models import Organisation

        try:
            barrier.wait(timeout=30)
            for i in range(25):
                org = Organisation.objects.get(pk=orgs[(index + i) % 2])
                record(organisation=org, actor=None, action="test.concurrent", summary=f"fil {index} n° {i}")
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=append, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    for pk in orgs:
        entries = list(AuditEntry.objects.filter(organisation_id=pk).order_by("seq"))
        assert len(entries) == before[pk] + 100
        assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
        assert len({e.prev_hash for e in entries}) == len(entries)  # no two entries share a parent
        assert all(e.prev_hash == p.hash for p, e in itertools.pairwise(entries))
    assert verify_chain(world.commune).ok
    assert verify_chain(world.other_commune).ok
