from django.urls import path

from mairie.signatures import views

app_name = "signatures"

urlpatterns = [
    path("signatures/certificats/", views.certificates, name="certificates"),
    path(
        "signatures/certificats/<int:certificate_id>/desactiver/",
        views.certificate_deactivate,
        name="certificate_deactivate",
    ),
    path("signatures/cachet/", views.seal, name="seal"),
    path("signatures/verifier/", views.verify, name="verify"),
]
