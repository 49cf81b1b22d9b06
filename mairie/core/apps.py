from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "mairie.core"
    label = "core"
