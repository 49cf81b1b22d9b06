from django.apps import AppConfig


class LettersConfig(AppConfig):
    name = "mairie.letters"
    label = "letters"
    verbose_name = "Modèles de lettres et réponses"

    def ready(self) -> None:
        from mairie.core import mailer  # noqa: F401 - registers the duty that re-queues orphaned e-mails
