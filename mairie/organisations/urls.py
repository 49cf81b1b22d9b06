from django.urls import path

from mairie.organisations import views

app_name = "organisations"

urlpatterns = [
    path("organisation/", views.settings_view, name="settings"),
    path("organisation/membres/ajouter/", views.member_add, name="member_add"),
    path("structures/", views.managed_list, name="managed"),
    path("structures/<int:org_id>/", views.managed_edit, name="managed_edit"),
    path("structures/<int:org_id>/membres/ajouter/", views.managed_member_add, name="managed_member_add"),
]
