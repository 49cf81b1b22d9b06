from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "mairie.mail"
    label = "mail"
    verbose_name = "Courriels entrants"
