from django.apps import AppConfig


class CircuitsConfig(AppConfig):
    name = "mairie.circuits"
    label = "circuits"
    verbose_name = "Parapheur (visas et signatures)"
