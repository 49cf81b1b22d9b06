from __future__ import annotations

from typing import Any

from django import forms

from mairie.letters.models import LetterTemplate
from mairie.letters.services import templates_for
from mairie.organisations.models import Organisation

FIELDS_HELP = (
    "Champs de fusion, remplacés à l'usage : {{ contact.nom }}, {{ courrier.chrono }}, {{ date_du_jour }}… "
    "(liste complète ci-dessous)."
)


class LetterTemplateForm(forms.Form):
    name = forms.CharField(label="Nom du modèle", max_length=120)
    subject_template = forms.CharField(
        label="Objet de la lettre",
        max_length=300,
        help_text="Peut contenir des champs, ex. {{ courrier.objet }}.",
    )
    body_template = forms.CharField(
        label="Texte de la lettre",
        widget=forms.Textarea(attrs={"rows": 16}),
        help_text=FIELDS_HELP + " Une ligne vide sépare deux paragraphes.",
    )
    body_format = forms.ChoiceField(
        label="Format du texte",
        choices=[("text", "Texte simple (paragraphes séparés par une ligne vide)"), ("html", "HTML et CSS")],
        initial="text",
        required=False,
        help_text="HTML : titres, listes, tableaux, gras… (sans image ni lien) ; les modèles HTML servent aux "
        "documents générés depuis les dossiers, les réponses aux courriers utilisent les modèles en texte simple.",
    )
    css = forms.CharField(
        label="Feuille de style (CSS, modèles HTML)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="Par exemple : .important { font-weight: bold; } — sans url(…) ni @import.",
    )
    is_active = forms.BooleanField(label="Proposer ce modèle pour les réponses", required=False, initial=True)

    def clean_body_format(self) -> str:
        return self.cleaned_data.get("body_format") or "text"


DELIVERY_CHOICES = [
    ("email", "Envoyer par courriel (la lettre en PDF est jointe)"),
    ("print", "Imprimer seulement (envoi par la poste ou remise en main propre)"),
]


class ReplyForm(forms.Form):
    template = forms.ModelChoiceField(
        label="Modèle de lettre",
        queryset=LetterTemplate.objects.none(),
        required=False,
        empty_label="(aucun : texte libre)",
    )
    subject = forms.CharField(label="Objet", max_length=300)
    body = forms.CharField(
        label="Texte de la lettre",
        widget=forms.Textarea(attrs={"rows": 18}),
        help_text="Une ligne vide sépare deux paragraphes. L'en-tête, l'adresse, la date et la signature "
        "sont ajoutés à la lettre.",
    )
    delivery = forms.ChoiceField(
        label="Envoi", choices=DELIVERY_CHOICES, widget=forms.RadioSelect, initial="email"
    )
    recipient_email = forms.EmailField(
        label="Adresse électronique du destinataire",
        required=False,
        help_text="Celle du correspondant, proposée par le registre. Obligatoire pour un envoi par courriel.",
    )
    token = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, organisation: Organisation, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["template"].queryset = templates_for(organisation, active_only=True).filter(  # type: ignore[attr-defined]
            body_format="text"
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (
            data.get("delivery") == "email"
            and not data.get("recipient_email")
            and "recipient_email" not in self.errors
        ):
            self.add_error(
                "recipient_email",
                "Indiquez l'adresse électronique du destinataire, ou choisissez « Imprimer seulement ».",
            )
        return data
