from django.urls import path

from mairie.dossiers import views

app_name = "dossiers"

urlpatterns = [
    path("dossiers/", views.dossier_list, name="list"),
    path("dossiers/nouveau/", views.dossier_create, name="create"),
    path("taches/", views.my_tasks, name="tasks"),
    path("courriers/<str:chrono>/dossier/", views.from_courrier, name="from_courrier"),
    path("dossiers/<int:dossier_id>/", views.dossier_detail, name="detail"),
    path("dossiers/<int:dossier_id>/circuit.svg", views.dossier_diagram, name="diagram"),
    path("dossiers/<int:dossier_id>/transition/", views.transition, name="transition"),
    path("dossiers/<int:dossier_id>/commentaire/", views.comment, name="comment"),
    path("dossiers/<int:dossier_id>/donnees/", views.data, name="data"),
    path("dossiers/<int:dossier_id>/taches/", views.task_add, name="task_add"),
    path("dossiers/<int:dossier_id>/taches/<int:task_id>/", views.task_done, name="task_done"),
    path("dossiers/<int:dossier_id>/avis/<int:opinion_id>/", views.opinion, name="opinion"),
    path("dossiers/<int:dossier_id>/avis/", views.opinion_request, name="opinion_request"),
    path("dossiers/<int:dossier_id>/courriers/", views.courrier_add, name="courrier_add"),
    path("dossiers/<int:dossier_id>/fichiers/", views.file_add, name="file_add"),
    path("dossiers/<int:dossier_id>/fichiers/<int:file_id>/", views.file_download, name="file"),
    path(
        "dossiers/<int:dossier_id>/fichiers/<int:file_id>/signatures/",
        views.file_signatures,
        name="file_signatures",
    ),
    path("dossiers/<int:dossier_id>/generer/", views.generate, name="generate"),
    path("dossiers/<int:dossier_id>/partage/", views.share, name="share"),
    path("dossiers/<int:dossier_id>/partage/<int:share_id>/fin/", views.share_end, name="share_end"),
    path("dossiers/<int:dossier_id>/rendre/", views.give_back, name="hand_back"),
]
