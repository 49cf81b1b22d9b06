from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "mairie.jobs"
    label = "jobs"
