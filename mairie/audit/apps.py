from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "mairie.audit"
    label = "audit"
