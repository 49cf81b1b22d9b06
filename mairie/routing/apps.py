from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "mairie.routing"
    label = "routing"
    verbose_name = "Reconnaissance et orientation"

    def ready(self) -> None:
        from mairie.routing import tasks  # noqa: F401 - registers the retraining periodic duty
