from django.urls import path

from mairie.accounts import views

app_name = "accounts"

urlpatterns = [
    path("connexion/", views.LoginView.as_view(), name="login"),
    path("connexion/verification/", views.verify, name="verify"),
    path("deconnexion/", views.LogoutView.as_view(), name="logout"),
    path("compte/double-authentification/", views.totp_setup, name="totp_setup"),
]
