from django.apps import AppConfig


class SignaturesConfig(AppConfig):
    name = "mairie.signatures"
    label = "signatures"
    verbose_name = "Signatures électroniques"
