from django.apps import AppConfig


class CourrierConfig(AppConfig):
    name = "mairie.courrier"
    label = "courrier"

    def ready(self) -> None:
        from mairie.courrier import watch  # noqa: F401 - registers the scan-folder periodic duty
