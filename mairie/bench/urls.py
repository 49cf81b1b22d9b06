"""The product's URLs plus ``/bench/minimal/``: the reference of B5, never part of the product."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def minimal(request: HttpRequest) -> HttpResponse:
    """The least a Django view costs on this server: the full middleware stack, no query, no template."""
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("bench/minimal/", minimal),
    path("", include("mairie.urls")),
]
