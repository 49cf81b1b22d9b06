"""The audit journal: append an entry in the caller's transaction; verify a chain."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.db import connection, models, transaction
from django.utils import timezone

from mairie.audit.models import AuditEntry, AuditHead
from mairie.core.db import Statement, execute_together, fetch_together

if TYPE_CHECKING:
    from mairie.organisations.models import Organisation

GENESIS = "0" * 64


def _digest(
    *,
    organisation_id: int,
    seq: int,
    at: datetime,
    actor_id: int | None,
    actor_label: str,
    action: str,
    object_type: str,
    object_id: str,
    summary: str,
    prev_hash: str,
) -> str:
    payload = json.dumps(
        [
            organisation_id,
            seq,
            at.astimezone(UTC).isoformat(timespec="microseconds"),
            actor_id,
            actor_label,
            action,
            object_type,
            object_id,
            summary,
            prev_hash,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _actor_label(actor: Any) -> str:
    if actor is None:
        return "système"
    full = actor.get_full_name() if hasattr(actor, "get_full_name") else ""
    return full or actor.get_username()


# Plain SQL, valid on PostgreSQL and SQLite (≥ 3.35 for RETURNING): appending runs under the chain's
# lock, where the ORM's query compilation would cost more than the round trips (benchmark B6).
_ADVANCE_HEAD_SQL = (
    'UPDATE "audit_audithead" SET "seq" = "seq" + 1 WHERE "organisation_id" = %s RETURNING "seq", "hash"'
)
_CREATE_HEAD_SQL = 'INSERT INTO "audit_audithead" ("organisation_id", "seq", "hash") VALUES (%s, 0, \'\') ON CONFLICT DO NOTHING'
_INSERT_ENTRY_SQL = (
    'INSERT INTO "audit_auditentry" ("organisation_id", "seq", "at", "actor_id", "actor_label", "action",'
    ' "object_type", "object_id", "summary", "prev_hash", "hash")'
    ' VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING "id"'
)
_SET_HEAD_HASH_SQL = 'UPDATE "audit_audithead" SET "hash" = %s WHERE "organisation_id" = %s'


def chain_head_statement(organisation: Organisation) -> Statement:
    """The statement that locks the chain's head and returns ``(seq, previous hash)`` of the next entry."""
    return (_ADVANCE_HEAD_SQL, [organisation.pk])


def create_chain_head(cursor: Any, organisation: Organisation) -> None:
    """Make the head of a chain that has none yet (two at once: the second insert does nothing)."""
    cursor.execute(_CREATE_HEAD_SQL, [organisation.pk])


def entry_statements(
    *,
    organisation: Organisation,
    head: tuple[int, str],
    actor: Any,
    action: str,
    summary: str,
    obj: models.Model | None = None,
) -> tuple[AuditEntry, list[Statement]]:
    """The entry that follows ``head`` (a row of :func:`chain_head_statement`) and the statements writing it.

    The last statement returns the entry's id. The caller runs them in the transaction that holds the lock.
    """
    seq = int(head[0])
    prev_hash = head[1] or GENESIS
    entry = AuditEntry(
        organisation=organisation,
        seq=seq,
        at=timezone.now(),
        actor_id=actor.pk if actor is not None else None,
        actor_label=_actor_label(actor),
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        summary=summary,
        prev_hash=prev_hash,
    )
    entry.hash = _digest(
        organisation_id=organisation.pk,
        seq=seq,
        at=entry.at,
        actor_id=entry.actor_id,
        actor_label=entry.actor_label,
        action=action,
        object_type=entry.object_type,
        object_id=entry.object_id,
        summary=summary,
        prev_hash=prev_hash,
    )
    values = [
        organisation.pk,
        seq,
        connection.ops.adapt_datetimefield_value(entry.at),
        entry.actor_id,
        entry.actor_label,
        action,
        entry.object_type,
        entry.object_id,
        summary,
        prev_hash,
        entry.hash,
    ]
    return entry, [(_SET_HEAD_HASH_SQL, [entry.hash, organisation.pk]), (_INSERT_ENTRY_SQL, values)]


def saved(entry: AuditEntry, entry_id: int) -> AuditEntry:
    """The entry once the last of its statements has returned its id."""
    entry.pk = entry_id
    entry._state.adding = False
    entry._state.db = connection.alias
    return entry


def record(
    *,
    organisation: Organisation,
    actor: Any,
    action: str,
    summary: str,
    obj: models.Model | None = None,
) -> AuditEntry:
    """Append one entry to the organisation's chain, inside the current transaction.

    The chain's head row is the lock: ``UPDATE … RETURNING`` bumps its sequence and hands back the
    previous hash in one round trip; the head takes the new hash and the entry is inserted in a second
    one (plain statements: the ORM's query compilation would cost more than the round trips, under the
    lock). No savepoint: when the caller's transaction fails, its change and its entry go together.
    Registration does the same steps together with its numbering (courrier.services, benchmark B6).
    """
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        [head] = fetch_together(cursor, [chain_head_statement(organisation)])
        if head is None:
            create_chain_head(cursor, organisation)
            [head] = fetch_together(cursor, [chain_head_statement(organisation)])
        entry, statements = entry_statements(
            organisation=organisation, head=head, actor=actor, action=action, summary=summary, obj=obj
        )
        execute_together(cursor, statements)
        return saved(entry, cursor.fetchone()[0])


@dataclass
class ChainReport:
    ok: bool
    checked: int
    broken_seq: int | None = None
    reason: str = ""


def verify_chain(organisation: Organisation) -> ChainReport:
    """Walk the whole chain in order and recompute every hash."""
    prev_hash = GENESIS
    expected_seq = 1
    checked = 0
    entries = AuditEntry.objects.for_org(organisation).order_by("seq").iterator(chunk_size=2000)
    for entry in entries:
        if entry.seq != expected_seq:
            # Sequence numbers are unique, so a jump means entries were removed: name the first missing one.
            return ChainReport(
                False,
                checked,
                expected_seq,
                f"l'entrée n° {expected_seq} a disparu (la suivante présente est la n° {entry.seq})",
            )
        if entry.prev_hash != prev_hash:
            return ChainReport(
                False, checked, entry.seq, "le lien vers l'entrée précédente ne correspond pas"
            )
        digest = _digest(
            organisation_id=entry.organisation_id,
            seq=entry.seq,
            at=entry.at,
            actor_id=entry.actor_id,
            actor_label=entry.actor_label,
            action=entry.action,
            object_type=entry.object_type,
            object_id=entry.object_id,
            summary=entry.summary,
            prev_hash=entry.prev_hash,
        )
        if digest != entry.hash:
            return ChainReport(False, checked, entry.seq, "le contenu de l'entrée a été modifié")
        prev_hash = entry.hash
        expected_seq += 1
        checked += 1
    head = AuditHead.objects.filter(organisation=organisation).first()
    if head is None and checked:
        return ChainReport(False, checked, checked, "la tête de chaîne a été supprimée")
    if head is None:
        return ChainReport(True, checked)
    if head.seq > checked:
        return ChainReport(
            False,
            checked,
            checked + 1,
            f"les entrées n° {checked + 1} à {head.seq} ont disparu (la tête de chaîne en indique {head.seq})",
        )
    if head.seq < checked:
        return ChainReport(
            False,
            head.seq,
            head.seq + 1,
            f"entrées ajoutées hors de l'application après la n° {head.seq} (tête de chaîne)",
        )
    if checked and head.hash != prev_hash:
        return ChainReport(
            False, checked - 1, checked, "la dernière entrée ne correspond pas à la tête de chaîne"
        )
    return ChainReport(True, checked)
