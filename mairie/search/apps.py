from django.apps import AppConfig


class SearchConfig(AppConfig):
    name = "mairie.search"
    label = "search"
