"""Use cases of the courrier register. Views, commands and jobs call these; they never write models directly."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone

from mairie.audit.services import chain_head_statement, create_chain_head, entry_statements, record, saved
from mairie.core.db import execute_together, fetch_together
from mairie.courrier.models import (
    OPEN_STATUSES,
    TRANSITIONS,
    Channel,
    Comment,
    Contact,
    Courrier,
    CourrierLink,
    Direction,
    IntakeKey,
    Kind,
    Status,
)
from mairie.documents import store
from mairie.documents.checks import CheckedFile, FileRefused, check_file
from mairie.documents.models import Document
from mairie.organisations.models import Membership, Organisation, Service
from mairie.search.normalise import fold
from mairie.search.services import chrono_terms_statement, index_courrier


@dataclass(frozen=True)
class IncomingFile:
    """A file waiting on local disk (an upload's temporary file, a scanned file, a CLI argument)."""

    path: Path
    name: str


class RegistrationRefused(Exception):
    def __init__(self, refusals: list[tuple[str, FileRefused]]) -> None:
        self.refusals = refusals
        super().__init__("; ".join(r.message for _, r in refusals))


# --- Numbering ---------------------------------------------------------------------------------------


def format_chrono(year: int, direction: str, number: int) -> str:
    letter = "A" if direction == Direction.ARRIVEE else "D"
    return f"{year}-{letter}-{number:06d}"


# The statements that take a number. Plain SQL, valid on PostgreSQL and SQLite (≥ 3.35 for
# RETURNING): the ORM's query compilation would cost more than the round trip, while the lock is held.
_TAKE_NUMBER_SQL = (
    'UPDATE "courrier_chronocounter" SET "last" = "last" + 1'
    ' WHERE "organisation_id" = %s AND "direction" = %s AND "year" = %s RETURNING "last"'
)
_CREATE_COUNTER_SQL = (
    'INSERT INTO "courrier_chronocounter" ("organisation_id", "direction", "year", "last")'
    " VALUES (%s, %s, %s, 0) ON CONFLICT DO NOTHING"
)
_SET_NUMBER_SQL = 'UPDATE "courrier_courrier" SET "number" = %s, "chrono" = %s WHERE "id" = %s'


def _number_and_journal(courrier: Courrier, *, actor: Any, summary: Callable[[Courrier], str]) -> None:
    """Give a courrier being registered its chrono number and its journal entry: the registration's last step.

    The counter's row and the audit chain's head are the two locks every registration of the organisation
    waits for, held until the transaction ends. Everything else (the courrier row, its documents, jobs and
    index row) is written before, and this step is two round trips: both locks with the number and the
    chain's head, then the number, the index terms, the new head and the entry (benchmark B6). A failed
    registration rolls the counter back with everything else: no number is ever burnt. The year's first
    courrier (or the organisation's first entry) creates the row; if two create it at once, the second
    insert does nothing and both go on.
    """
    organisation = courrier.organisation
    key: list[Any] = [organisation.pk, courrier.direction, courrier.year]
    with connection.cursor() as cursor:
        # Always the counter first, then the head: registrations never wait for each other in a cycle.
        # The counter is created if missing in the same round trip (a no-op when it exists; it waits for a
        # concurrent creator), so that the update that follows always finds it.
        _, number_row, head = fetch_together(
            cursor,
            [(_CREATE_COUNTER_SQL, key), (_TAKE_NUMBER_SQL, key), chain_head_statement(organisation)],
            returns=[False, True, True],
        )
        if head is None:  # an organisation whose journal has no entry yet
            create_chain_head(cursor, organisation)
            [head] = fetch_together(cursor, [chain_head_statement(organisation)])
        courrier.number = int(number_row[0])
        courrier.chrono = format_chrono(courrier.year, courrier.direction, courrier.number)
        statements = [(_SET_NUMBER_SQL, [courrier.number, courrier.chrono, courrier.pk])]
        index_terms = chrono_terms_statement(courrier)
        if index_terms is not None:
            statements.append(index_terms)
        entry, journal = entry_statements(
            organisation=organisation,
            head=head,
            actor=actor,
            action="courrier.registered",
            summary=summary(courrier),
            obj=courrier,
        )
        execute_together(cursor, [*statements, *journal])
        saved(entry, cursor.fetchone()[0])


# --- Contacts ----------------------------------------------------------------------------------------


def contact_match_key(name: str, email: str = "") -> str:
    if email:
        return "@" + email.strip().lower()
    # Typographic apostrophes (« L’Hôte », from word processors and OCR) match typed ones (« L'Hote »).
    return " ".join(fold(name).replace("’", "'").split())[:200]


def find_or_create_contact(
    *, organisation: Organisation, name: str, email: str = "", kind: str = Contact.Kind.PERSON, **fields: Any
) -> Contact | None:
    name = (name or "").strip()
    email = (email or "").strip()
    if not name and not email:
        return None
    key = contact_match_key(name, email)
    existing = Contact.objects.for_org(organisation).filter(match_key=key).first()
    if existing is not None:
        return existing
    return Contact.objects.create(
        organisation=organisation, name=name or email, email=email, kind=kind, match_key=key, **fields
    )


# --- Registration ------------------------------------------------------------------------------------


def check_files(files: Sequence[IncomingFile]) -> tuple[list[CheckedFile], list[tuple[str, FileRefused]]]:
    accepted: list[CheckedFile] = []
    refused: list[tuple[str, FileRefused]] = []
    for incoming in files:
        try:
            accepted.append(check_file(incoming.path, incoming.name))
        except FileRefused as exc:
            refused.append((incoming.name, exc))
    return accepted, refused


def log_refusals(*, organisation: Organisation, actor: Any, refusals: list[tuple[str, FileRefused]]) -> None:
    """Refused files leave a trace in the audit journal (an infected file must be visible later)."""
    for name, exc in refusals:
        record(
            organisation=organisation,
            actor=actor,
            action=f"intake.refused.{exc.code}",
            summary=f"Fichier « {name[:200]} » refusé : {exc.message}",
        )


def register_courrier(
    *,
    organisation: Organisation,
    actor: Any,
    files: Sequence[IncomingFile] = (),
    checked: Sequence[CheckedFile] | None = None,
    direction: str = Direction.ARRIVEE,
    channel: str = Channel.SCAN,
    subject: str = "",
    contact: Contact | None = None,
    kind: str = Kind.LETTER,
    service: Service | None = None,
    assigned_to: Any = None,
    due_date: dt.date | None = None,
    received_at: dt.datetime | None = None,
    status: str | None = None,
    intake_key: tuple[str, str] | None = None,
    warnings: Sequence[str] = (),
) -> Courrier:
    """Register one courrier with its documents, numbered, indexed and journaled in one transaction.

    Every file is checked before anything is stored: one refused file refuses the whole courrier and
    nothing is kept. OCR and renditions follow in a background job queued in the same transaction.
    """
    if checked is None:
        checked, refused = check_files(files)
        if refused:
            log_refusals(organisation=organisation, actor=actor, refusals=refused)
            raise RegistrationRefused(refused)
    if service is not None and service.organisation_id != organisation.pk:
        raise PermissionDenied("Service d'une autre organisation.")
    if contact is not None and contact.organisation_id != organisation.pk:
        raise PermissionDenied("Contact d'une autre organisation.")
    if status is None:
        status = Status.A_TRAITER if subject.strip() else Status.A_ENREGISTRER
    received_at = received_at or timezone.now()
    year = timezone.localtime(received_at).year

    written = [c.sha256 for c in checked if store.write_original(c)]
    try:
        with transaction.atomic():
            if intake_key is not None:
                known = (
                    IntakeKey.objects.for_org(organisation)
                    .filter(source=intake_key[0], key=intake_key[1])
                    .select_related("courrier")
                    .first()
                )
                if known is not None:
                    return known.courrier
            courrier = Courrier.objects.create(
                organisation=organisation,
                direction=direction,
                year=year,
                received_at=received_at,
                channel=channel,
                contact=contact,
                subject=subject.strip()[:500],
                kind=kind,
                service=service,
                assigned_to=assigned_to,
                due_date=due_date,
                status=status,
                intake_warnings=[str(w)[:1000] for w in warnings],
                created_by=actor,
            )
            from mairie.documents.tasks import process_document_task

            documents: list[Document] = []
            for position, item in enumerate(checked):
                document = Document.objects.create(
                    organisation=organisation,
                    courrier=courrier,
                    position=position,
                    original=store.stored_file_for(item),
                    original_name=item.name[:255],
                    mime_type=item.mime_type,
                    size=item.size,
                    page_count=item.page_count,
                    created_by=actor,
                )
                documents.append(document)
                process_document_task.enqueue(document.pk)
            if documents and direction == Direction.ARRIVEE:  # suggestions needing no text (same file…)
                from mairie.routing.services import enqueue_suggestion

                enqueue_suggestion(courrier.pk)
            if intake_key is not None:
                IntakeKey.objects.create(
                    organisation=organisation, source=intake_key[0], key=intake_key[1], courrier=courrier
                )
            index_courrier(courrier, new=True, documents=documents, comments=[])
            names = ", ".join(f"« {c.name} »" for c in checked) or "aucun document"
            _number_and_journal(  # last: see there
                courrier,
                actor=actor,
                summary=lambda c: f"Courrier {c.chrono} enregistré ({Channel(channel).label}) : {names}.",
            )
    except BaseException:
        store.discard_unreferenced(written)
        raise
    return courrier


# --- Changes -----------------------------------------------------------------------------------------


def can_edit(membership: Membership, courrier: Courrier) -> bool:
    if courrier.organisation_id != membership.organisation_id:
        return False
    if membership.can("courrier.edit_any"):
        return True
    if not membership.can("courrier.edit"):
        return False
    if courrier.assigned_to_id == membership.user_id or courrier.service_id is None:
        return True
    return courrier.service_id in {s.pk for s in membership.services.all()}


def _require_edit(membership: Membership, courrier: Courrier) -> None:
    if not can_edit(membership, courrier):
        raise PermissionDenied("Vous ne pouvez pas modifier ce courrier.")


def change_status(*, membership: Membership, courrier: Courrier, status: str, reason: str = "") -> Courrier:
    """The one function that moves a courrier from a status to another (see TRANSITIONS)."""
    _require_edit(membership, courrier)
    with transaction.atomic():
        current = Courrier.objects.select_for_update().get(pk=courrier.pk)
        if status == current.status:
            return current
        if status not in TRANSITIONS.get(current.status, set()):
            raise ValidationError(
                f"Passage impossible de « {Status(current.status).label} » à « {Status(status).label} »."
            )
        previous = current.status
        current.status = status
        current.save(update_fields=["status", "updated_at"])
        why = f" ({reason})" if reason else ""
        record(
            organisation=current.organisation,
            actor=membership.user,
            action="courrier.status",
            summary=f"{current.chrono} : {Status(previous).label} → {Status(status).label}{why}.",
            obj=current,
        )
    return current


def update_courrier(*, membership: Membership, courrier: Courrier, **changes: Any) -> Courrier:
    """Edit metadata (subject, contact, type, service, agent, due date); journal what changed."""
    _require_edit(membership, courrier)
    allowed = {"subject", "contact", "kind", "service", "assigned_to", "due_date", "received_at", "channel"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValueError(f"Champs non modifiables : {', '.join(sorted(unknown))}")
    org = membership.organisation
    if changes.get("service") is not None and changes["service"].organisation_id != org.pk:
        raise PermissionDenied("Service d'une autre organisation.")
    if changes.get("contact") is not None and changes["contact"].organisation_id != org.pk:
        raise PermissionDenied("Contact d'une autre organisation.")
    if (
        changes.get("assigned_to") is not None
        and not Membership.objects.filter(
            organisation=org, user=changes["assigned_to"], is_active=True
        ).exists()
    ):
        raise PermissionDenied("Cet agent n'appartient pas à l'organisation.")
    with transaction.atomic():
        current = Courrier.objects.select_for_update().get(pk=courrier.pk)
        described: list[str] = []
        for field, value in changes.items():
            if isinstance(value, str):
                value = value.strip()
            if getattr(current, field) != value:
                setattr(current, field, value)
                described.append(
                    f"{getattr(Courrier._meta.get_field(field), 'verbose_name', field)} : {_show(value)}"
                )
        if not described:
            return current
        if current.status == Status.A_ENREGISTRER and current.subject:
            current.status = Status.A_TRAITER
            described.append("statut : À traiter")
        current.save()
        if "service" in changes:  # confirms or corrects a suggestion: the classifier learns from it
            from mairie.routing.services import note_service_decision

            note_service_decision(current, membership.user)
        index_courrier(current)
        record(
            organisation=org,
            actor=membership.user,
            action="courrier.updated",
            summary=f"{current.chrono} modifié — " + " ; ".join(described) + ".",
            obj=current,
        )
    return current


def _show(value: Any) -> str:
    if value is None or value == "":
        return "(vide)"
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value.strftime("%d/%m/%Y")
    if hasattr(value, "get_full_name"):
        return value.get_full_name() or value.get_username()
    if isinstance(value, str) and value in {c.value for c in Kind}:
        return str(Kind(value).label)
    return str(value)


def add_comment(*, membership: Membership, courrier: Courrier, body: str) -> Comment:
    if courrier.organisation_id != membership.organisation_id:
        raise PermissionDenied
    if not membership.can("courrier.comment"):
        raise PermissionDenied("Les comptes en lecture seule ne peuvent pas commenter.")
    body = body.strip()
    if not body:
        raise ValidationError("Le commentaire est vide.")
    with transaction.atomic():
        comment = Comment.objects.create(
            organisation=membership.organisation, courrier=courrier, author=membership.user, body=body[:5000]
        )
        index_courrier(courrier)
        record(
            organisation=membership.organisation,
            actor=membership.user,
            action="courrier.comment",
            summary=f"{courrier.chrono} : commentaire ajouté.",
            obj=courrier,
        )
    return comment


CHRONO_RE = re.compile(r"^\s*(\d{4})-([AD])-(\d{1,6})\s*$", re.IGNORECASE)


def link_courriers(
    *, membership: Membership, source: Courrier, target: Courrier, kind: str = CourrierLink.Kind.RELATED
) -> CourrierLink:
    _require_edit(membership, source)
    if target.organisation_id != membership.organisation_id or source.pk == target.pk:
        raise ValidationError("Lien impossible vers ce courrier.")
    with transaction.atomic():
        link, created = CourrierLink.objects.get_or_create(
            organisation=membership.organisation,
            source=source,
            target=target,
            kind=kind,
            defaults={"created_by": membership.user},
        )
        if created:
            record(
                organisation=membership.organisation,
                actor=membership.user,
                action="courrier.linked",
                summary=f"{source.chrono} : {CourrierLink.Kind(kind).label.lower()} {target.chrono}.",
                obj=source,
            )
    return link


def overdue_filter() -> dict[str, Any]:
    return {"due_date__lt": timezone.localdate(), "status__in": OPEN_STATUSES}
