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
from mairie.core.db import execute_together

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
    previous hash in one round trip, the entry is inserted, the head takes the new hash. No savepoint:
    when the caller's transaction fails, its change and its entry go together (benchmark B6).
    """
    actor_id = actor.pk if actor is not None else None
    actor_label = _actor_label(actor)
    object_type = obj._meta.label_lower if obj is not None else ""
    object_id = str(obj.pk) if obj is not None else ""
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        row = None
        for _ in range(2):
            cursor.execute(
                _ADVANCE_HEAD_SQL,
                [organisation.pk],
            )
            row = cursor.fetchone()
            if row is not None:
                break
            cursor.execute(
                _CREATE_HEAD_SQL,
                [organisation.pk],
            )
        if row is None:  # pragma: no cover — the insert above made it
            raise RuntimeError("tête de chaîne du journal introuvable")
        seq = int(row[0])
        prev_hash = row[1] or GENESIS
        at = timezone.now()
        digest = _digest(
            organisation_id=organisation.pk,
            seq=seq,
            at=at,
            actor_id=actor_id,
            actor_label=actor_label,
            action=action,
            object_type=object_type,
            object_id=object_id,
            summary=summary,
            prev_hash=prev_hash,
        )
        entry = AuditEntry(
            organisation=organisation,
            seq=seq,
            at=at,
            actor_id=actor_id,
            actor_label=actor_label,
            action=action,
            object_type=object_type,
            object_id=object_id,
            summary=summary,
            prev_hash=prev_hash,
            hash=digest,
        )
        # Plain statements, the new head and the entry in one round trip: see execute_together.
        execute_together(
            cursor,
            [
                (_SET_HEAD_HASH_SQL, [digest, organisation.pk]),
                (
                    _INSERT_ENTRY_SQL,
                    [
                        organisation.pk,
                        seq,
                        connection.ops.adapt_datetimefield_value(at),
                        actor_id,
                        actor_label,
                        action,
                        object_type,
                        object_id,
                        summary,
                        prev_hash,
                        digest,
                    ],
                ),
            ],
        )
        entry.pk = cursor.fetchone()[0]
        entry._state.adding = False
        entry._state.db = connection.alias
        return entry


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
