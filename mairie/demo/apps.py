from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "mairie.demo"
    label = "demo"
