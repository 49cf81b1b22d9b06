from django.urls import path

from mairie.courrier import batch_views, views

app_name = "courrier"

urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("registre/", views.register, name="register"),
    path("registre/export/", views.register_export, name="export"),
    path("recherche/", views.search, name="search"),
    path("courriers/nouveau/", views.upload, name="upload"),
    path("courrier/separateurs/", batch_views.separator_sheets, name="separators"),
    path("courriers/<str:chrono>/", views.detail, name="detail"),
    path("courriers/<str:chrono>/modifier/", views.edit, name="edit"),
    path("courriers/<str:chrono>/statut/", views.change_status, name="status"),
    path("courriers/<str:chrono>/commentaires/", views.comment, name="comment"),
    path("courriers/<str:chrono>/liens/", views.link, name="link"),
    path(
        "courriers/<str:chrono>/pieces/<int:document_id>/pages/<int:number>/",
        views.document_page,
        name="document_page",
    ),
    path(
        "courriers/<str:chrono>/pieces/<int:document_id>/<str:kind>/",
        views.document_file,
        name="document_file",
    ),
]
