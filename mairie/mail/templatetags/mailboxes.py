from __future__ import annotations

from django import template

from mairie.mail.models import Mailbox
from mairie.organisations.models import Organisation

register = template.Library()


@register.simple_tag
def org_mailboxes(organisation: Organisation) -> list[Mailbox]:
    """The organisation's mailboxes, for the organisation page (its view is not the mail app's)."""
    return list(
        Mailbox.objects.for_org(organisation).select_related("service").order_by("-is_active", "label")
    )
