from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "mairie.notifications"
    label = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from mairie.dossiers import reminders  # noqa: F401 - registers the task-reminders periodic duty
        from mairie.notifications import services  # noqa: F401 - registers the notification-digest duty
