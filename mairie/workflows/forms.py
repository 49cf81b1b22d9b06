from __future__ import annotations

from django import forms

from mairie.workflows.definition import MAX_TEXT

MAX_UPLOAD = 256 * 1024
UPLOAD_SUFFIXES = (".yaml", ".yml", ".json")


class DefinitionForm(forms.Form):
    source = forms.CharField(
        label="Définition du circuit (YAML ou JSON)",
        max_length=MAX_TEXT,
        strip=False,
        help_text="Le format est décrit dans la documentation (docs/workflows.md). L'enregistrement vérifie "
        "tout le circuit et liste chaque problème ; un circuit modifié devient une nouvelle version, les "
        "dossiers en cours gardent la leur.",
        widget=forms.Textarea(
            attrs={
                "rows": 28,
                "spellcheck": "false",
                "autocapitalize": "off",
                "autocomplete": "off",
                "class": "code",
                "style": "font-family:monospace;width:100%",
            }
        ),
    )


class ImportForm(forms.Form):
    file = forms.FileField(
        label="Fichier du circuit",
        help_text=f"Fichier .yaml, .yml ou .json de {MAX_UPLOAD // 1024} Ko au plus.",
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(UPLOAD_SUFFIXES)}),
    )

    def clean_file(self) -> str:
        upload = self.cleaned_data["file"]
        if not upload.name.lower().endswith(UPLOAD_SUFFIXES):
            raise forms.ValidationError("Le fichier doit être un .yaml, un .yml ou un .json.")
        if upload.size > MAX_UPLOAD:
            raise forms.ValidationError(f"Fichier trop gros ({MAX_UPLOAD // 1024} Ko au plus).")
        data = upload.read(MAX_UPLOAD + 1)
        try:
            return str(data.decode("utf-8-sig"))
        except UnicodeDecodeError:
            raise forms.ValidationError("Le fichier n'est pas un texte UTF-8.") from None
