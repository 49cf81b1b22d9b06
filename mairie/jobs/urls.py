from django.urls import path

from mairie.jobs import views

app_name = "jobs"

urlpatterns = [
    path("traitements/", views.processing, name="processing"),
    path("traitements/<int:document_id>/relancer/", views.retry, name="retry"),
    path("journal/", views.journal, name="journal"),
]
