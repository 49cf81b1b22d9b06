from __future__ import annotations

from typing import Any

from django import forms

from mairie.core.validators import validate_siren
from mairie.organisations.models import Organisation, Role, Service

CONTACT_FIELDS = [
    "name",
    "siren",
    "insee_code",
    "departement_code",
    "population",
    "address_line1",
    "address_line2",
    "postal_code",
    "city",
    "phone",
    "email",
    "website",
]


class OrganisationForm(forms.ModelForm):
    website = forms.URLField(label="Site internet", required=False, assume_scheme="https")

    class Meta:
        model = Organisation
        fields = CONTACT_FIELDS


class NewOrganisationForm(forms.Form):
    name = forms.CharField(label="Nom", max_length=200)
    slug = forms.SlugField(label="Identifiant court (dans les adresses web)", max_length=60)
    kind = forms.ChoiceField(
        label="Type", choices=Organisation.Kind.choices, initial=Organisation.Kind.COMMUNE
    )
    siren = forms.CharField(label="SIREN", max_length=9, required=False, validators=[validate_siren])
    insee_code = forms.CharField(label="Code INSEE", max_length=5, required=False)
    departement_code = forms.CharField(label="Département (ex. 034, 02A)", max_length=3, required=False)
    population = forms.IntegerField(label="Population", min_value=0, required=False)
    postal_code = forms.CharField(label="Code postal", max_length=5, required=False)
    city = forms.CharField(label="Commune (adresse)", max_length=120, required=False)
    email = forms.EmailField(label="Courriel", required=False)


class MemberForm(forms.Form):
    username = forms.CharField(label="Identifiant de connexion", max_length=150)
    first_name = forms.CharField(label="Prénom", max_length=150, required=False)
    last_name = forms.CharField(label="Nom", max_length=150, required=False)
    email = forms.EmailField(label="Courriel", required=False)
    title = forms.CharField(label="Fonction", max_length=120, required=False)
    roles = forms.MultipleChoiceField(
        label="Rôles", choices=Role.choices, widget=forms.CheckboxSelectMultiple
    )
    services = forms.ModelMultipleChoiceField(
        label="Services", queryset=Service.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )
    password = forms.CharField(
        label="Mot de passe initial (nouvelle personne)",
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Au moins 10 caractères. Laissez vide pour une personne qui a déjà un compte.",
    )

    def __init__(self, *args: Any, organisation: Organisation, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["services"].queryset = Service.objects.for_org(organisation)  # type: ignore[attr-defined]


class ServiceForm(forms.Form):
    name = forms.CharField(label="Nom du service", max_length=120)
    email = forms.EmailField(label="Adresse électronique du service", required=False)


class ServiceEditForm(ServiceForm):
    is_active = forms.BooleanField(
        label="Actif",
        required=False,
        help_text="Un service inactif ne reçoit plus de nouveaux courriers ; ceux qu'il a déjà le gardent.",
    )
    head: forms.ModelChoiceField[Any] = forms.ModelChoiceField(
        label="Responsable du service",
        queryset=None,
        required=False,
        empty_label="— aucun (les administrateurs) —",
        help_text="Les tâches du service restées en retard lui sont signalées.",
    )

    def __init__(self, *args: Any, organisation: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from django.contrib.auth import get_user_model

        field = self.fields["head"]
        field.queryset = (  # type: ignore[attr-defined]
            get_user_model()
            .objects.filter(memberships__organisation=organisation, memberships__is_active=True)
            .order_by("last_name", "first_name")
        )
        field.label_from_instance = lambda u: u.get_full_name() or u.get_username()  # type: ignore[attr-defined]


class LogoForm(forms.Form):
    logo = forms.FileField(
        label="Logo",
        allow_empty_file=True,  # refused by check_logo, with the rule that says what is expected
        help_text="Image PNG ou JPEG, 2 Mo au plus. Il figure sur les accusés de réception et les courriers.",
        widget=forms.FileInput(attrs={"accept": "image/png,image/jpeg"}),
    )
