from __future__ import annotations

from typing import Any

from django import template

from mairie.core.mailer import status_text
from mairie.core.models import OutgoingMail
from mairie.courrier.models import Direction
from mairie.letters.services import replies_to

register = template.Library()


@register.inclusion_tag("letters/_panel.html", takes_context=True)
def letters_panel(context: Any) -> dict[str, Any]:
    """What the courrier's page shows of replies: the « Répondre » button, the replies and their e-mails."""
    courrier = context["courrier"]
    incoming = courrier.direction == Direction.ARRIVEE
    replies = replies_to(courrier) if incoming else []
    mails = (
        []
        if incoming
        else list(
            OutgoingMail.objects.for_org(courrier.organisation)
            .filter(courrier=courrier)
            .order_by("created_at")
        )
    )
    return {
        "courrier": courrier,
        "current_org": context.get("current_org"),
        "can_reply": incoming and bool(context.get("can_edit")),
        "replies": [(r, status_text(r.mail) if r.mail else "") for r in replies],
        "mails": [(m, status_text(m)) for m in mails],
    }
