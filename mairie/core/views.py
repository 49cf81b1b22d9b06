from __future__ import annotations

import time
import uuid

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from mairie.organisations.access import LAST_ORG_SESSION_KEY, memberships_of


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """State of the database, the file storage and the job worker, for monitoring."""
    report: dict[str, object] = {}
    healthy = True
    started = time.monotonic()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        report["database"] = {"status": "ok", "vendor": connection.vendor}
    except Exception as exc:
        healthy = False
        report["database"] = {"status": "error", "error": str(exc)}
    try:
        probe = f"healthz/{uuid.uuid4().hex}"
        default_storage.save(probe, ContentFile(b"ok"))
        with default_storage.open(probe, "rb") as handle:
            ok = handle.read() == b"ok"
        default_storage.delete(probe)
        report["storage"] = {"status": "ok" if ok else "error"}
        healthy = healthy and ok
    except Exception as exc:
        healthy = False
        report["storage"] = {"status": "error", "error": str(exc)}
    try:
        from mairie.jobs.services import last_heartbeat

        hb = last_heartbeat()
        if hb is None:
            report["worker"] = {"status": "absent", "last_heartbeat": None}
        else:
            age = (timezone.now() - hb.last_seen).total_seconds()
            report["worker"] = {
                "status": "ok" if age <= settings.WORKER_STALE_SECONDS else "stale",
                "last_heartbeat": hb.last_seen.isoformat(),
                "age_seconds": round(age, 1),
                "hostname": hb.hostname,
            }
    except Exception as exc:
        report["worker"] = {"status": "error", "error": str(exc)}
    report["status"] = "ok" if healthy else "error"
    report["elapsed_ms"] = round((time.monotonic() - started) * 1000, 1)
    return JsonResponse(report, status=200 if healthy else 503)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    memberships = memberships_of(request.user)
    last = request.session.get(LAST_ORG_SESSION_KEY)
    slugs = [m.organisation.slug for m in memberships]
    if last in slugs:
        return redirect("courrier:inbox", slug=last)
    if len(memberships) == 1:
        return redirect("courrier:inbox", slug=slugs[0])
    return render(request, "core/choose_organisation.html", {"memberships": memberships})


@login_required
def switch_org(request: HttpRequest) -> HttpResponse:
    slug = request.GET.get("slug", "")
    if slug not in {m.organisation.slug for m in memberships_of(request.user)}:
        from django.http import Http404

        raise Http404("Organisation introuvable.")
    request.session[LAST_ORG_SESSION_KEY] = slug
    return redirect("courrier:inbox", slug=slug)
