from __future__ import annotations

from django_tasks import task

from mairie.jobs.services import periodic

# Suggestions are cheap and agents wait for them: ahead of OCR in the queue.
SUGGESTION_PRIORITY = 10
# How often a worker looks for organisations whose classifier should learn again (seconds).
RETRAIN_CHECK_SECONDS = 3600.0


@task(queue_name="default", priority=SUGGESTION_PRIORITY)
def suggest_task(courrier_id: int) -> str:
    from mairie.routing.services import suggest_for_courrier

    return suggest_for_courrier(courrier_id)


@task(queue_name="default")
def train_task(organisation_id: int) -> str:
    from mairie.organisations.models import Organisation
    from mairie.routing.services import needs_training, train_organisation

    organisation = Organisation.objects.filter(pk=organisation_id, is_active=True).first()
    if organisation is None:
        return "missing"
    if not needs_training(organisation):  # a second job queued for the same change: nothing left to do
        return "up-to-date"
    return train_organisation(organisation).status


@periodic("routing-retrain", every=RETRAIN_CHECK_SECONDS)
def _retrain_duty() -> None:
    from mairie.routing.services import queue_due_trainings

    queue_due_trainings()
