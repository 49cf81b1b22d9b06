from django.urls import URLPattern

app_name = "signatures"

urlpatterns: list[URLPattern] = []
