"""Pages of batch scanning: the separator sheets to print (the split itself runs from the upload page)."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render

from mairie.courrier import separators
from mairie.courrier.forms import SeparatorSheetsForm
from mairie.organisations.access import OrgRequest, org_view


@org_view("courrier.register")
def separator_sheets(request: OrgRequest) -> HttpResponse:
    """GET form (number of sheets, optional service); with ``pdf`` in the query, the PDF to print."""
    org = request.organisation
    if "pdf" in request.GET:
        form = SeparatorSheetsForm(request.GET, organisation=org)
        if form.is_valid():
            service = form.cleaned_data.get("service")
            data = separators.sheets_pdf(organisation=org, count=form.cleaned_data["count"], service=service)
            name = f"feuilles-separation-{org.slug}" + (f"-service-{service.pk}" if service else "") + ".pdf"
            response = HttpResponse(data, content_type="application/pdf")
            response["Content-Disposition"] = f'attachment; filename="{name}"'
            return response
        status = 400
    else:
        form = SeparatorSheetsForm(organisation=org)
        status = 200
    return render(request, "courrier/separators.html", {"form": form}, status=status)
