from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "mairie.routing"
    label = "routing"
    verbose_name = "Reconnaissance et orientation"
