from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "mairie.accounts"
    label = "accounts"
