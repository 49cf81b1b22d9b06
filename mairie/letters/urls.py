from django.urls import path

from mairie.letters import views

app_name = "letters"

urlpatterns = [
    path("courriers/<str:chrono>/repondre/", views.reply, name="reply"),
    path("modeles-de-lettres/", views.template_list, name="templates"),
    path("modeles-de-lettres/nouveau/", views.template_add, name="template_add"),
    path("modeles-de-lettres/<int:template_id>/", views.template_edit, name="template_edit"),
    path("modeles-de-lettres/<int:template_id>/apercu/", views.template_preview, name="template_preview"),
]
