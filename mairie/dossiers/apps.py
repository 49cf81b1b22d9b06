from django.apps import AppConfig


class DossiersConfig(AppConfig):
    name = "mairie.dossiers"
    label = "dossiers"
    verbose_name = "Dossiers"

    def ready(self) -> None:
        from mairie.dossiers import actions, tasks  # noqa: F401 - action runners and the timers duty
