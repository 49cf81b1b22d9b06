from django.urls import URLPattern

app_name = "workflows"

urlpatterns: list[URLPattern] = []
