from django.urls import path

from mairie.routing import views

app_name = "routing"

urlpatterns = [
    path("courriers/<str:chrono>/suggestions/accepter/", views.accept, name="accept"),
    path("courriers/<str:chrono>/suggestions/doublon/", views.duplicate, name="duplicate"),
]
