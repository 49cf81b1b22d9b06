from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q

from mairie.courrier.models import Channel, Contact, Courrier, Direction, Kind, Status
from mairie.documents.checks import ACCEPT_ATTRIBUTE
from mairie.organisations.models import Organisation, Service


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # An empty file is refused by the intake checks, by name and alone: Django's own "empty file"
        # error would refuse every file of the post with a message naming none of them.
        kwargs.setdefault("allow_empty_file", True)
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data if item]
        return [single(data, initial)] if data else []


def _org_users(organisation: Organisation) -> Any:
    return (
        get_user_model()
        .objects.filter(memberships__organisation=organisation, memberships__is_active=True)
        .order_by("last_name", "first_name", "username")
    )


class _OrgForm(forms.Form):
    # A deactivated service takes no new courrier, but filters still find the ones it had.
    inactive_services = False

    def __init__(
        self, *args: Any, organisation: Organisation, current_service_id: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.organisation = organisation
        if "service" in self.fields:
            field = self.fields["service"]
            choices = Service.objects.for_org(organisation)
            if not self.inactive_services:
                # …and a courrier already with one keeps it when other fields are edited.
                choices = choices.filter(Q(is_active=True) | Q(pk=current_service_id))
            field.queryset = choices  # type: ignore[attr-defined]
            field.label_from_instance = lambda s: s.name if s.is_active else f"{s.name} (inactif)"  # type: ignore[attr-defined]
        if "assigned_to" in self.fields:
            self.fields["assigned_to"].queryset = _org_users(organisation)  # type: ignore[attr-defined]
            self.fields["assigned_to"].label_from_instance = lambda u: u.get_full_name() or u.username  # type: ignore[attr-defined]


class UploadForm(_OrgForm):
    files = MultipleFileField(  # type: ignore[assignment]
        label="Fichiers (PDF, images, courriels .eml ou documents bureautiques)",
        help_text=(
            "Formats acceptés : PDF, PNG, JPEG, TIFF, courriel .eml, et documents bureautiques Word (.docx, "
            ".doc), OpenDocument (.odt, .ods), Excel (.xlsx, .xls) et RTF, convertis en PDF pour être lus "
            "dans le navigateur. Vous pouvez en choisir plusieurs, ou les glisser ici."
        ),
        widget=MultipleFileInput(attrs={"accept": ACCEPT_ATTRIBUTE}),
    )
    grouping = forms.ChoiceField(
        label="Regroupement",
        choices=[("each", "Un courrier par fichier"), ("one", "Un seul courrier avec toutes les pièces")],
        initial="each",
        widget=forms.RadioSelect,
    )
    split_separators = forms.BooleanField(
        label="Ce fichier contient plusieurs courriers séparés par des feuilles de séparation",
        help_text="Chaque partie devient un courrier avec son propre numéro chrono.",
        required=False,
    )
    split_blank = forms.BooleanField(
        label="Ce fichier contient plusieurs courriers séparés par des pages blanches", required=False
    )
    channel = forms.ChoiceField(label="Canal de réception", choices=Channel.choices, initial=Channel.SCAN)
    subject = forms.CharField(label="Objet", max_length=500, required=False)
    sender_name = forms.CharField(label="Expéditeur (nom)", max_length=200, required=False)
    sender_email = forms.EmailField(label="Courriel de l'expéditeur", required=False)
    kind = forms.ChoiceField(label="Type", choices=Kind.choices, initial=Kind.LETTER)
    service = forms.ModelChoiceField(label="Service", queryset=Service.objects.none(), required=False)
    due_date = forms.DateField(
        label="Échéance", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )


class SeparatorSheetsForm(_OrgForm):
    count = forms.IntegerField(label="Nombre de feuilles", min_value=1, max_value=200, initial=10)
    service = forms.ModelChoiceField(
        label="Service destinataire (facultatif)",
        queryset=Service.objects.none(),
        required=False,
        empty_label="Aucun : l'agent choisira",
        help_text="Pré-remplit le service des courriers qui suivent chaque feuille.",
    )


class CourrierEditForm(_OrgForm):
    subject = forms.CharField(label="Objet", max_length=500, required=False)
    kind = forms.ChoiceField(label="Type", choices=Kind.choices)
    channel = forms.ChoiceField(label="Canal", choices=Channel.choices)
    sender_name = forms.CharField(label="Expéditeur ou destinataire", max_length=200, required=False)
    sender_email = forms.EmailField(label="Son courriel", required=False)
    service = forms.ModelChoiceField(label="Service", queryset=Service.objects.none(), required=False)
    assigned_to = forms.ModelChoiceField(
        label="Agent", queryset=get_user_model().objects.none(), required=False
    )
    due_date = forms.DateField(
        label="Échéance", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )


class StatusForm(forms.Form):
    status = forms.ChoiceField(label="Nouveau statut", choices=Status.choices)
    reason = forms.CharField(label="Motif (facultatif)", max_length=300, required=False)


class CommentForm(forms.Form):
    body = forms.CharField(label="Commentaire", widget=forms.Textarea(attrs={"rows": 3}), max_length=5000)


class LinkForm(forms.Form):
    target = forms.CharField(
        label="Numéro chrono du courrier lié", max_length=20, help_text="Par exemple 2026-D-000007"
    )
    kind = forms.ChoiceField(
        label="Nature du lien", choices=[("reply_to", "Ce courrier répond à"), ("related", "Lié à")]
    )


class RegisterFilterForm(_OrgForm):
    inactive_services = True

    q = forms.CharField(label="Rechercher", required=False)
    direction = forms.ChoiceField(label="Sens", choices=[("", "Tous"), *Direction.choices], required=False)
    status = forms.ChoiceField(label="Statut", choices=[("", "Tous"), *Status.choices], required=False)
    channel = forms.ChoiceField(label="Canal", choices=[("", "Tous"), *Channel.choices], required=False)
    kind = forms.ChoiceField(label="Type", choices=[("", "Tous"), *Kind.choices], required=False)
    service = forms.ModelChoiceField(
        label="Service", queryset=Service.objects.none(), required=False, empty_label="Tous"
    )
    date_from = forms.DateField(label="Du", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="Au", required=False, widget=forms.DateInput(attrs={"type": "date"}))


class ExportForm(forms.Form):
    date_from = forms.DateField(label="Du", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="Au (inclus)", widget=forms.DateInput(attrs={"type": "date"}))
    direction = forms.ChoiceField(
        label="Sens", choices=[("", "Arrivée et départ"), *Direction.choices], required=False
    )
    format = forms.ChoiceField(
        label="Format", choices=[("pdf", "PDF (registre imprimable)"), ("csv", "CSV (tableur)")]
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise forms.ValidationError("La date de début doit précéder la date de fin.")
        return data


__all__ = ["Contact", "Courrier"]
