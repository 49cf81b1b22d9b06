from django.urls import URLPattern

app_name = "circuits"

urlpatterns: list[URLPattern] = []
