from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model

from mairie.notifications.models import NotificationPreference
from mairie.organisations.models import Organisation


class PersonChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return (obj.get_full_name() or obj.get_username()).strip()


def active_members(organisation: Organisation) -> Any:
    return (
        get_user_model()
        .objects.filter(
            memberships__organisation=organisation,
            memberships__is_active=True,
            is_active=True,
        )
        .order_by("last_name", "first_name", "username")
    )


class AbsenceForm(forms.Form):
    user = PersonChoiceField(label="Personne absente", queryset=get_user_model().objects.none())
    delegate = PersonChoiceField(
        label="Remplacée par",
        queryset=get_user_model().objects.none(),
        help_text="Pendant l'absence, les nouvelles tâches et étapes de circuit lui sont confiées.",
    )
    starts_on = forms.DateField(label="Du", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    ends_on = forms.DateField(
        label="Au (inclus)", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    reason = forms.CharField(label="Motif (facultatif)", max_length=200, required=False)

    def __init__(self, *args: Any, organisation: Organisation, for_anyone: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        members = active_members(organisation)
        self.fields["delegate"].queryset = members  # type: ignore[attr-defined]
        if for_anyone:
            self.fields["user"].queryset = members  # type: ignore[attr-defined]
        else:
            del self.fields["user"]


class PreferenceForm(forms.Form):
    digest = forms.ChoiceField(
        label="Recevoir mes notifications par courriel",
        choices=NotificationPreference.Digest.choices,
        widget=forms.RadioSelect,
    )
    daily_hour = forms.TypedChoiceField(
        label="Heure du récapitulatif quotidien",
        choices=[(h, f"{h} h") for h in range(24)],
        coerce=int,
        help_text="Le récapitulatif liste les notifications non lues de toutes vos organisations.",
    )
