from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "mairie.notifications"
    label = "notifications"
    verbose_name = "Notifications"
