from django.apps import AppConfig


class LettersConfig(AppConfig):
    name = "mairie.letters"
    label = "letters"
    verbose_name = "Modèles de lettres et réponses"
