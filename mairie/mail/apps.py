from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "mairie.mail"
    label = "mail"
    verbose_name = "Courriels entrants"

    def ready(self) -> None:
        from mairie.mail import fetch  # noqa: F401 - registers the mailbox-polling periodic duty
