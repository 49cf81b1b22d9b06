from django.urls import path

from mairie.circuits import views

app_name = "circuits"

urlpatterns = [
    path("parapheur/", views.parapheur, name="parapheur"),
    path("parapheur/signer/", views.batch_sign, name="batch_sign"),
    path("parapheur/etapes/<int:step_id>/", views.step_detail, name="step"),
    path("parapheur/etapes/<int:step_id>/approuver/", views.approve, name="approve"),
    path("parapheur/etapes/<int:step_id>/refuser/", views.refuse, name="refuse"),
    path("parapheur/circuits/<int:circuit_id>/", views.circuit_detail, name="circuit"),
    path("parapheur/circuits/<int:circuit_id>/document/", views.document, name="document"),
    path("parapheur/circuits/<int:circuit_id>/annoter/", views.annotate, name="annotate"),
    path("parapheur/circuits/<int:circuit_id>/annuler/", views.cancel, name="cancel"),
    path("parapheur/dossiers/<int:dossier_id>/circuit/", views.start, name="start"),
]
