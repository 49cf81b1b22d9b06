from django.urls import include, path

from mairie.core import views as core_views

urlpatterns = [
    path("", core_views.home, name="home"),
    path("healthz", core_views.healthz, name="healthz"),
    path("changer-organisation/", core_views.switch_org, name="switch_org"),
    path("", include("mairie.accounts.urls")),
    path("o/<slug:slug>/", include("mairie.courrier.urls")),
    path("o/<slug:slug>/", include("mairie.organisations.urls")),
    path("o/<slug:slug>/", include("mairie.jobs.urls")),
    path("o/<slug:slug>/", include("mairie.routing.urls")),
    path("o/<slug:slug>/", include("mairie.letters.urls")),
    path("o/<slug:slug>/", include("mairie.mail.urls")),
    path("o/<slug:slug>/", include("mairie.workflows.urls")),
    path("o/<slug:slug>/", include("mairie.dossiers.urls")),
    path("o/<slug:slug>/", include("mairie.signatures.urls")),
    path("o/<slug:slug>/", include("mairie.circuits.urls")),
    path("o/<slug:slug>/", include("mairie.notifications.urls")),
]

handler404 = "mairie.core.errors.not_found"
handler403 = "mairie.core.errors.forbidden"
handler500 = "mairie.core.errors.server_error"
