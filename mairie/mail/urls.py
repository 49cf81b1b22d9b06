from django.urls import path

from mairie.mail import views

app_name = "mail"

urlpatterns = [
    path("organisation/boites/ajouter/", views.mailbox_add, name="mailbox_add"),
    path("organisation/boites/<int:mailbox_id>/", views.mailbox_edit, name="mailbox_edit"),
    path("organisation/boites/<int:mailbox_id>/activation/", views.mailbox_toggle, name="mailbox_toggle"),
    path("organisation/boites/<int:mailbox_id>/relever/", views.mailbox_fetch, name="mailbox_fetch"),
]
