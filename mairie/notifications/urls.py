from django.urls import path

from mairie.notifications import views

app_name = "notifications"

urlpatterns = [
    path("notifications/", views.notification_list, name="list"),
    path("notifications/tout-lu/", views.mark_all_read, name="mark_all_read"),
    path("notifications/<int:notification_id>/lue/", views.mark_read, name="mark_read"),
    path("notifications/preferences/", views.preferences, name="preferences"),
    path("absences/", views.absences, name="absences"),
    path("absences/<int:absence_id>/terminer/", views.absence_end, name="absence_end"),
]
