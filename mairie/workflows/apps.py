from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    name = "mairie.workflows"
    label = "workflows"
    verbose_name = "Circuits de traitement (définitions)"
