"""Use cases of recognition and routing: suggest, accept, learn.

``suggest_for_courrier`` runs as a job: once at registration (what needs no text: the same file already
registered, the sender's e-mail), and again when every document of the courrier has been read. Nothing is
applied to the courrier until an agent accepts (``accept_suggestions``) or corrects it through the normal
edit form; ``note_service_decision`` (called by ``courrier.services.update_courrier``) records which of the
two it was, and ``train_organisation`` learns from the services agents chose.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count
from django.db.models.functions import Substr
from django.utils import timezone

from mairie.audit.services import record
from mairie.courrier.models import Courrier, Direction, Kind, Status
from mairie.documents.models import Document
from mairie.organisations.models import Membership, Organisation, Service
from mairie.routing import classifier, contacts, deadlines, duplicates, rules
from mairie.routing.models import RoutingModel, Suggestion

logger = logging.getLogger("mairie.routing")

# A correction teaches more than a confirmation: the agent said the suggestion was wrong.
CORRECTION_WEIGHT = 3.0
MAX_TRAINING_SAMPLES = 5000


def _documents(courrier: Courrier) -> list[tuple[str, str]]:
    return [
        (status, head or "")
        for status, head in Document.objects.for_org(courrier.organisation)
        .filter(courrier=courrier)
        .annotate(head=Substr("text", 1, duplicates.TEXT_CHARS))
        .order_by("position", "id")
        .values_list("status", "head")
    ]


def _active_services(organisation: Organisation) -> dict[int, str]:
    return dict(Service.objects.for_org(organisation).filter(is_active=True).values_list("pk", "name"))


def _sender_name(courrier: Courrier) -> str:
    return courrier.contact.display_name if courrier.contact is not None else ""


# --- The model of an organisation --------------------------------------------------------------------

_cache: dict[tuple[int, str], classifier.Fitted | None] = {}


def fitted_model(organisation: Organisation) -> tuple[RoutingModel, classifier.Fitted] | None:
    """The organisation's own classifier, when it has one that this version can read."""
    row = (
        RoutingModel.objects.for_org(organisation)
        .defer("blob")
        .filter(samples__gte=settings.ROUTING_MIN_SAMPLES)
        .first()
    )
    if row is None:
        return None
    key = (row.pk, row.trained_at.isoformat())
    if key not in _cache:
        blob = (
            RoutingModel.objects.for_org(organisation)
            .filter(pk=row.pk)
            .values_list("blob", flat=True)
            .first()
        )
        if len(_cache) > 32:  # a worker serving many communes keeps only the latest few in memory
            _cache.clear()
        _cache[key] = classifier.loads(bytes(blob)) if blob is not None else None
    fitted = _cache[key]
    return (row, fitted) if fitted is not None else None


# --- Suggesting --------------------------------------------------------------------------------------


@dataclass
class Computed:
    fields: dict[str, Any]

    def summary(self, services: dict[int, str]) -> str:
        parts = []
        if self.fields.get("service_id"):
            parts.append(f"service {services.get(self.fields['service_id'], '?')}")
        if self.fields.get("deadline_kind"):
            parts.append(f"délai légal ({self.fields['deadline_date']:%d/%m/%Y})")
        if self.fields.get("urgent"):
            parts.append("urgent")
        if self.fields.get("duplicates"):
            parts.append("doublon possible de " + ", ".join(d["chrono"] for d in self.fields["duplicates"]))
        return ", ".join(parts) or "aucune"


def compute(courrier: Courrier) -> Computed:
    """Every suggestion for a courrier from what is known now (its text may not be read yet)."""
    organisation = courrier.organisation
    documents = _documents(courrier)
    texts = [text for _, text in documents if text]
    read = all(status in (Document.Status.DONE, Document.Status.FAILED) for status, _ in documents)
    body = "\n".join(texts)
    received = timezone.localtime(courrier.received_at).date()
    services = _active_services(organisation)
    fields: dict[str, Any] = {"with_text": read and bool(texts)}

    # Service and type: the organisation's own classifier when it has learned enough, else the rules.
    ranked: list[tuple[int, float]] = []
    kind = ""
    model = fitted_model(organisation) if (courrier.subject or body) else None
    if model is not None:
        row, fitted = model
        text = classifier.features_text(courrier.subject, _sender_name(courrier), texts)
        ranked = [(sid, score) for sid, score in fitted.rank_services(text, top=6) if sid in services][:3]
        kind = fitted.predict_kind(text) or ""
        fields.update(source=Suggestion.Source.MODEL, model_samples=row.samples)
    if not ranked and (courrier.subject or body):
        ranked = rules.rank_services(courrier.subject, body, sorted(services.items()))
        fields.update(source=Suggestion.Source.RULES, model_samples=0)
    if not kind and (courrier.subject or body):
        kind = rules.guess_kind(courrier.subject, body)
    fields["service_choices"] = [
        {"id": sid, "name": services[sid], "score": round(score, 3)} for sid, score in ranked
    ]
    fields["service_id"] = ranked[0][0] if ranked else None
    fields["kind"] = kind if kind in Kind.values else ""

    # Contact: by e-mail, name or address found in the letter (only when the courrier has none).
    fields.update(contact_id=None, contact_reason="", new_contact={})
    if courrier.contact_id is None and body:
        match = contacts.match_contact(organisation, body)
        fields.update(
            contact_id=match.contact.pk if match.contact else None,
            contact_reason=match.reason,
            new_contact=match.proposal,
        )

    # Legal deadline, urgency, due date.
    letter = f"{courrier.subject}\n{body}"
    deadline = deadlines.detect_deadline(letter, received)
    urgency = deadlines.detect_urgency(letter)
    if deadline is not None:
        fields.update(
            deadline_kind=deadline.rule.key,
            deadline_date=deadline.due,
            deadline_basis=deadline.explanation,
            due_date=deadline.due,
            due_reason=f"délai légal : {deadline.rule.label.lower()}",
        )
    else:
        due, why = deadlines.default_due(fields["kind"] or Kind.LETTER, received)
        fields.update(deadline_kind="", deadline_date=None, deadline_basis="", due_date=due, due_reason=why)
    fields["urgent"] = urgency.urgent or (deadline is not None and deadline.rule.urgent)
    reasons = list(urgency.reasons)
    if deadline is not None and deadline.rule.urgent:
        reasons.insert(0, deadline.rule.label.lower())
    fields["urgent_reason"] = ", ".join(reasons)[:300]

    # Duplicates: the same file, then the same text.
    found = duplicates.same_file_duplicates(courrier)
    if texts:
        found += duplicates.near_duplicates(courrier, texts, {d.courrier_id for d in found})
    fields["duplicates"] = [d.as_json() for d in found]
    return Computed(fields)


_COMPARED = ("service_id", "kind", "contact_id", "due_date", "deadline_kind", "urgent", "duplicates")


def suggest_for_courrier(courrier_id: int) -> str:
    """Compute (again) the suggestions of one incoming courrier. Idempotent: a job may run it twice."""
    courrier = Courrier.objects.select_related("organisation", "contact").filter(pk=courrier_id).first()
    if courrier is None or not courrier.chrono:
        return "missing"
    if courrier.direction != Direction.ARRIVEE:
        return "skipped"
    existing = Suggestion.objects.filter(courrier=courrier).first()
    if existing is not None and existing.state != Suggestion.State.PENDING:
        return "decided"  # an agent already settled it: nothing to suggest any more
    computed = compute(courrier)
    with transaction.atomic():
        # The courrier's row serialises two jobs of the same courrier (registration's and the reading's,
        # on two workers): the second sees the first's row instead of inserting a second one.
        Courrier.objects.select_for_update().filter(pk=courrier.pk).values_list("pk").first()
        current = Suggestion.objects.filter(courrier=courrier).first()
        if current is not None and current.state != Suggestion.State.PENDING:
            return "decided"
        if current is not None and current.with_text and not computed.fields["with_text"]:
            return "outdated"  # computed before the text was read, by a job that ran late
        changed = current is None or any(
            getattr(current, name) != computed.fields[name] for name in _COMPARED
        )
        if current is None:
            current = Suggestion(organisation=courrier.organisation, courrier=courrier)
        for name, value in computed.fields.items():
            setattr(current, name, value)
        current.computed_at = timezone.now()
        current.save()
        if changed:
            record(
                organisation=courrier.organisation,
                actor=None,
                action="routing.suggested",
                summary=f"{courrier.chrono} : suggestions — "
                + computed.summary(_active_services(courrier.organisation))
                + ".",
                obj=courrier,
            )
    return "suggested"


def enqueue_suggestion(courrier_id: int) -> None:
    from mairie.routing.tasks import suggest_task

    suggest_task.enqueue(courrier_id)


def after_document(document_id: int) -> None:
    """Once every document of a courrier is read, its suggestions are computed again with the text."""
    document = Document.objects.filter(pk=document_id).values("courrier_id", "organisation_id").first()
    if document is None or document["courrier_id"] is None:
        return
    waiting = Document.objects.filter(
        organisation_id=document["organisation_id"],
        courrier_id=document["courrier_id"],
        status__in=(Document.Status.PENDING, Document.Status.PROCESSING),
    ).exists()
    if not waiting:
        enqueue_suggestion(document["courrier_id"])


# --- Agents' decisions -------------------------------------------------------------------------------


def suggestion_for(membership: Membership, courrier: Courrier) -> Suggestion | None:
    if courrier.organisation_id != membership.organisation_id:
        return None
    return (
        Suggestion.objects.for_org(membership.organisation)
        .select_related("service", "contact")
        .filter(courrier=courrier)
        .first()
    )


def preview(courrier: Courrier) -> Suggestion:
    """Suggestions computed now and not stored: for a courrier without documents (counter, telephone).

    Those get no job at registration (benchmark B6: registering at the counter stays one transaction
    of a few statements); their page shows this, and accepting it stores it first.
    """
    computed = compute(courrier)
    suggestion = Suggestion(organisation=courrier.organisation, courrier=courrier)
    for name, value in computed.fields.items():
        setattr(suggestion, name, value)
    return suggestion


def accept_suggestions(
    *, membership: Membership, courrier: Courrier, service_id: int | None = None
) -> Courrier:
    """Apply the suggestions to the courrier in one click (the agent may pick another of the three services)."""
    from mairie.courrier.services import can_edit, find_or_create_contact, update_courrier

    if not can_edit(membership, courrier):
        raise PermissionDenied("Vous ne pouvez pas modifier ce courrier.")
    organisation = membership.organisation
    suggestion = suggestion_for(membership, courrier)
    if suggestion is None and suggest_for_courrier(courrier.pk) == "suggested":
        suggestion = suggestion_for(membership, courrier)  # a courrier without documents: stored now
    if suggestion is None:
        raise ValidationError("Aucune suggestion pour ce courrier.")
    offered = {choice["id"] for choice in suggestion.service_choices}
    chosen_id = service_id if service_id is not None else suggestion.service_id
    if service_id is not None and service_id not in offered:
        raise ValidationError("Ce service ne fait pas partie des suggestions.")
    changes: dict[str, Any] = {}
    if chosen_id is not None:
        service = Service.objects.for_org(organisation).filter(pk=chosen_id, is_active=True).first()
        if service is None:
            raise ValidationError("Le service suggéré n'existe plus : choisissez-en un autre.")
        changes["service"] = service
    if suggestion.kind:
        changes["kind"] = suggestion.kind
    if suggestion.due_date and courrier.due_date is None:
        changes["due_date"] = suggestion.due_date
    with transaction.atomic():
        if courrier.contact_id is None:
            if suggestion.contact is not None:
                changes["contact"] = suggestion.contact
            elif suggestion.new_contact.get("name"):
                proposal = dict(suggestion.new_contact)
                changes["contact"] = find_or_create_contact(
                    organisation=organisation,
                    name=proposal.pop("name"),
                    email=proposal.pop("email", ""),
                    **{k: v for k, v in proposal.items() if k in ("address_line1", "postal_code", "city")},
                )
        updated = update_courrier(membership=membership, courrier=courrier, **changes)
        state = (
            Suggestion.State.ACCEPTED if chosen_id == suggestion.service_id else Suggestion.State.CORRECTED
        )
        Suggestion.objects.filter(pk=suggestion.pk).update(
            state=state, decided_by=membership.user, decided_at=timezone.now()
        )
        record(
            organisation=organisation,
            actor=membership.user,
            action="routing.accepted",
            summary=f"{courrier.chrono} : suggestions acceptées"
            + (f" (service choisi : {changes['service'].name})" if "service" in changes else "")
            + ".",
            obj=courrier,
        )
    return updated


def note_service_decision(courrier: Courrier, user: Any) -> None:
    """An agent set the courrier's service: record whether it confirms or corrects the suggestion.

    Called by ``update_courrier`` inside its transaction; the next training learns from corrections.
    """
    if courrier.service_id is None:
        return
    suggestion = Suggestion.objects.filter(courrier_id=courrier.pk).first()
    if suggestion is None or not suggestion.service_choices:
        return
    state = (
        Suggestion.State.ACCEPTED
        if courrier.service_id == suggestion.service_id
        else Suggestion.State.CORRECTED
    )
    Suggestion.objects.filter(pk=suggestion.pk).update(
        state=state, decided_by=user, decided_at=timezone.now()
    )


def link_duplicate(
    *, membership: Membership, courrier: Courrier, target_id: int, close: bool = False
) -> Courrier:
    """Link a courrier to the one it duplicates and, when asked, file it away (« classer »)."""
    from mairie.courrier.models import CourrierLink
    from mairie.courrier.services import change_status, link_courriers

    suggestion = suggestion_for(membership, courrier)
    offered = {d["id"] for d in suggestion.duplicates} if suggestion else set()
    if target_id not in offered:
        raise ValidationError("Ce courrier n'est pas un doublon suggéré.")
    target = Courrier.objects.for_org(membership.organisation).filter(pk=target_id).first()
    if target is None:
        raise ValidationError("Ce courrier n'existe plus.")
    with transaction.atomic():
        link_courriers(membership=membership, source=courrier, target=target, kind=CourrierLink.Kind.RELATED)
        if close and courrier.status != Status.CLASSE:
            courrier = change_status(
                membership=membership,
                courrier=courrier,
                status=Status.CLASSE,
                reason=f"doublon de {target.chrono}",
            )
    return courrier


# --- Learning ----------------------------------------------------------------------------------------


def labelled(organisation: Organisation) -> Any:
    """The incoming courriers whose service an agent set or confirmed (suggestions are never applied alone)."""
    return Courrier.objects.for_org(organisation).filter(
        direction=Direction.ARRIVEE, service__isnull=False, service__is_active=True
    )


@dataclass
class TrainingOutcome:
    organisation: Organisation
    status: str  # "trained", "not-enough-data"
    samples: int = 0
    classes: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "org": self.organisation.slug,
            "status": self.status,
            "samples": self.samples,
            "classes": self.classes,
        }


def training_set(organisation: Organisation) -> tuple[list[str], list[int], list[str], list[float]]:
    rows = list(
        labelled(organisation)
        .select_related("contact", "routing_suggestion")
        .order_by("-received_at", "-id")[:MAX_TRAINING_SAMPLES]
    )
    texts: dict[int, list[str]] = {}
    for courrier_id, head in (
        Document.objects.for_org(organisation)
        .filter(courrier_id__in=[c.pk for c in rows])
        .annotate(head=Substr("text", 1, classifier.TEXT_CHARS))
        .order_by("courrier_id", "position")
        .values_list("courrier_id", "head")
    ):
        texts.setdefault(courrier_id, []).append(head or "")
    features, labels, kinds, weights = [], [], [], []
    for courrier in rows:
        suggestion = getattr(courrier, "routing_suggestion", None)
        corrected = (
            suggestion is not None
            and suggestion.service_choices
            and (suggestion.service_id != courrier.service_id)
        )
        features.append(
            classifier.features_text(courrier.subject, _sender_name(courrier), texts.get(courrier.pk, []))
        )
        labels.append(int(courrier.service_id))  # type: ignore[arg-type]
        kinds.append(courrier.kind)
        weights.append(CORRECTION_WEIGHT if corrected else 1.0)
    return features, labels, kinds, weights


def train_organisation(organisation: Organisation) -> TrainingOutcome:
    """Learn the organisation's classifier from its own labelled courriers, and store it."""
    count = labelled(organisation).count()
    features, labels, kinds, weights = training_set(organisation)
    if len(features) < settings.ROUTING_MIN_SAMPLES or len(set(labels)) < 2:
        return TrainingOutcome(organisation, "not-enough-data", len(features), len(set(labels)))
    fitted = classifier.fit(features, labels, kinds, weights)
    names = _active_services(organisation)
    per_class = {sid: labels.count(sid) for sid in set(labels)}
    with transaction.atomic():
        RoutingModel.objects.update_or_create(
            organisation=organisation,
            defaults={
                "blob": classifier.dumps(fitted),
                "trained_at": timezone.now(),
                "samples": len(features),
                "labelled_count": count,
                "classes": [
                    {"id": sid, "name": names.get(sid, ""), "count": n}
                    for sid, n in sorted(per_class.items())
                ],
                "kinds": sorted(set(kinds)),
                "sklearn_version": classifier.sklearn_version(),
            },
        )
        record(
            organisation=organisation,
            actor=None,
            action="routing.trained",
            summary=f"Modèle d'orientation du courrier appris sur {len(features)} courriers "
            f"({len(per_class)} services).",
        )
    return TrainingOutcome(organisation, "trained", len(features), len(per_class))


def needs_training(organisation: Organisation, labelled_now: int | None = None) -> bool:
    """Enough new labels or corrections since the last training (or a day old with any change)."""
    if labelled_now is None:
        labelled_now = labelled(organisation).count()
    if labelled_now < settings.ROUTING_MIN_SAMPLES:
        return False
    row = RoutingModel.objects.for_org(organisation).defer("blob").first()
    if row is None:
        return True
    corrections = (
        Suggestion.objects.for_org(organisation)
        .filter(state=Suggestion.State.CORRECTED, decided_at__gt=row.trained_at)
        .count()
    )
    changes = abs(labelled_now - row.labelled_count) + corrections
    if changes >= settings.ROUTING_RETRAIN_EVERY:
        return True
    age = timezone.now() - row.trained_at
    return changes > 0 and age >= dt.timedelta(hours=settings.ROUTING_RETRAIN_MAX_AGE_HOURS)


def organisations_to_train() -> list[Organisation]:
    counts = dict(
        Courrier.objects.filter(direction=Direction.ARRIVEE, service__isnull=False)
        .values("organisation")
        .annotate(n=Count("pk"))
        .filter(n__gte=settings.ROUTING_MIN_SAMPLES)
        .values_list("organisation", "n")
    )
    organisations = Organisation.objects.filter(pk__in=list(counts), is_active=True)
    return [org for org in organisations if needs_training(org, None)]


def queue_due_trainings() -> int:
    """The periodic duty: queue a training job for each organisation that has learned enough new things."""
    from mairie.routing.tasks import train_task

    due = organisations_to_train()
    for organisation in due:
        train_task.enqueue(organisation.pk)
    return len(due)
