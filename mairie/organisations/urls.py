from django.urls import path

from mairie.organisations import views

app_name = "organisations"

urlpatterns = [
    path("organisation/", views.settings_view, name="settings"),
    path("organisation/membres/ajouter/", views.member_add, name="member_add"),
    path("organisation/services/ajouter/", views.service_add, name="service_add"),
    path("organisation/services/<int:service_id>/", views.service_edit, name="service_edit"),
    path("organisation/logo/", views.logo, name="logo"),
    path("organisation/logo/changer/", views.logo_change, name="logo_change"),
    path("organisation/logo/retirer/", views.logo_remove, name="logo_remove"),
    path("structures/", views.managed_list, name="managed"),
    path("structures/<int:org_id>/", views.managed_edit, name="managed_edit"),
    path("structures/<int:org_id>/membres/ajouter/", views.managed_member_add, name="managed_member_add"),
]
