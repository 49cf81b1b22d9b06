from django.apps import AppConfig


class OrganisationsConfig(AppConfig):
    name = "mairie.organisations"
    label = "organisations"
