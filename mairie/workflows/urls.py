from django.urls import path

from mairie.workflows import views

app_name = "workflows"

urlpatterns = [
    path("circuits-de-traitement/", views.definition_list, name="list"),
    path("circuits-de-traitement/nouveau/", views.definition_add, name="add"),
    path("circuits-de-traitement/importer/", views.definition_import, name="import"),
    path("circuits-de-traitement/bibliotheque/", views.install_library, name="install_library"),
    path("circuits-de-traitement/<int:workflow_id>/", views.definition_detail, name="detail"),
    path("circuits-de-traitement/<int:workflow_id>/modifier/", views.definition_edit, name="edit"),
    path("circuits-de-traitement/<int:workflow_id>/export/", views.definition_export, name="export"),
    path("circuits-de-traitement/<int:workflow_id>/activation/", views.definition_toggle, name="toggle"),
]
