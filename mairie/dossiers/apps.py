from django.apps import AppConfig


class DossiersConfig(AppConfig):
    name = "mairie.dossiers"
    label = "dossiers"
    verbose_name = "Dossiers"
