"""Tenant isolation for EVERY URL of the project (ARCHITECTURE.md: "tests prove isolation for every URL").

The resolver of ``mairie.urls`` is walked; each pattern is requested with the identifiers of real objects of
Saint-Aubin (commune A) by people of Villeneuve (commune B). A new URL pattern fails this test until it is
either covered (its parameters known to ``PARAMS``) or listed as public with a reason.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLResolver, get_resolver, reverse
from django.utils import timezone

from mairie.circuits.models import Circuit, CircuitStep
from mairie.circuits.testing import circuit_for_tests
from mairie.courrier.models import Courrier
from mairie.documents.models import Document
from mairie.dossiers.models import Absence
from mairie.letters.services import templates_for
from mairie.mail.models import Mailbox
from mairie.notifications.models import Notification
from mairie.organisations.models import Organisation, Role, Service
from mairie.organisations.services import add_member, set_logo
from mairie.signatures.models import SigningCertificate
from mairie.testing.factories import courrier_with_document
from mairie.testing.personas import login
from mairie.workflows.models import WorkflowDefinition
from mairie.workflows.services import install_library


@dataclass
class Tenant:
    """The objects of one organisation whose identifiers fill the URLs."""

    org: Organisation
    courrier: Courrier
    document: Document

    @property
    def service(self) -> Service:
        return Service.objects.for_org(self.org).order_by("pk").first()  # type: ignore[return-value]


# How each URL parameter is filled from a tenant's objects. A list gives several URLs (one per value).
PARAMS: dict[str, Callable[[Tenant], list[Any]]] = {
    "slug": lambda t: [t.org.slug],
    "chrono": lambda t: [t.courrier.chrono],
    "document_id": lambda t: [t.document.pk],
    "number": lambda t: [1],
    "kind": lambda t: ["original", "pdf", "thumbnail", "text"],
    "org_id": lambda t: [t.org.pk],
    "service_id": lambda t: [t.service.pk],
    "template_id": lambda t: [templates_for(t.org).order_by("pk").first().pk],  # type: ignore[union-attr]
    "mailbox_id": lambda t: [Mailbox.objects.for_org(t.org).order_by("pk").first().pk],  # type: ignore[union-attr]
    "absence_id": lambda t: [Absence.objects.for_org(t.org).order_by("pk").first().pk],  # type: ignore[union-attr]
    "notification_id": lambda t: [Notification.objects.for_org(t.org).order_by("pk").first().pk],  # type: ignore[union-attr]
    "workflow_id": lambda t: [WorkflowDefinition.objects.for_org(t.org).order_by("pk").first().pk],  # type: ignore[union-attr]
    "dossier_id": lambda t: [Circuit.objects.for_org(t.org).order_by("pk").first().dossier_id],  # type: ignore[union-attr]
    "circuit_id": lambda t: [Circuit.objects.for_org(t.org).order_by("pk").first().pk],  # type: ignore[union-attr]
    "step_id": lambda t: [CircuitStep.objects.for_org(t.org).order_by("pk").first().pk],  # type: ignore[union-attr]
    # The dossier's own objects (the dossier is the circuit's, above): a task, an opinion, a file, a share.
    "task_id": lambda t: [_dossier_of(t).tasks.order_by("pk").first().pk],  # type: ignore[union-attr]
    "opinion_id": lambda t: [_dossier_of(t).opinions.order_by("pk").first().pk],  # type: ignore[union-attr]
    "file_id": lambda t: [_dossier_of(t).files.order_by("pk").first().pk],  # type: ignore[union-attr]
    "share_id": lambda t: [_dossier_of(t).shares.order_by("pk").first().pk],  # type: ignore[union-attr]
    "certificate_id": lambda t: [SigningCertificate.objects.for_org(t.org).order_by("pk").first().pk],  # type: ignore[union-attr]
}
# Parameters that name a tenant's object: swapping one of them for another tenant's must give a 404.
OBJECT_PARAMS = {"chrono", "document_id", "mailbox_id", "org_id", "service_id", "template_id", "workflow_id"}
OBJECT_PARAMS |= {"absence_id", "notification_id"}
OBJECT_PARAMS |= {"circuit_id", "step_id", "dossier_id"}
OBJECT_PARAMS |= {"task_id", "opinion_id", "file_id", "share_id"}
OBJECT_PARAMS |= {"certificate_id"}


def _dossier_of(tenant: Tenant) -> Any:
    return Circuit.objects.for_org(tenant.org).order_by("pk").first().dossier  # type: ignore[union-attr]


# URLs that show no organisation's data: anyone may reach them (or any logged-in person, for their own
# account). Keep this list short; every other URL is checked below.
PUBLIC = {
    "healthz": "état technique de la plateforme, sans donnée d'une organisation",
    "accounts:login": "page de connexion",
    "accounts:verify": "second facteur de la personne connectée",
    "accounts:logout": "déconnexion",
    "accounts:totp_setup": "authentificateur de la personne connectée",
    "home": "redirige vers une organisation de la personne connectée",
}
# URLs whose organisation comes from the query string.
QUERY_SCOPED: dict[str, Callable[[Tenant], dict[str, str]]] = {
    "switch_org": lambda t: {"slug": t.org.slug},
}
# Pages that only exist under an organisation above communes (syndicat, EPCI): the owner who proves the
# URL works is the syndicat's administrator, managing commune A.
ABOVE_COMMUNE = {"organisations:managed", "organisations:managed_edit", "organisations:managed_member_add"}

DENIED = {403, 404}


@dataclass(frozen=True)
class Route:
    name: str
    route: str
    params: tuple[str, ...]


def all_routes() -> list[Route]:
    routes: list[Route] = []

    def visit(resolver: URLResolver, prefix: str, namespace: str, stack: list[Any]) -> None:
        for entry in resolver.url_patterns:
            if isinstance(entry, URLResolver):
                ns = namespace
                if entry.namespace:
                    ns = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
                visit(entry, prefix + str(entry.pattern), ns, [*stack, entry])
            else:
                params: list[str] = []
                for node in [*stack, entry]:
                    params += [p for p in getattr(node.pattern, "converters", {}) if p not in params]
                name = f"{namespace}:{entry.name}" if namespace and entry.name else (entry.name or "")
                routes.append(Route(name=name, route=prefix + str(entry.pattern), params=tuple(params)))

    visit(get_resolver("mairie.urls"), "/", "", [])
    return routes


def urls_for(route: Route, tenant: Tenant, swap: dict[str, Tenant] | None = None) -> list[str]:
    """Every URL of a route filled with a tenant's objects (``swap`` takes some parameters from another)."""
    swap = swap or {}
    choices = [PARAMS[p](swap.get(p, tenant)) for p in route.params]
    return [
        reverse(route.name, kwargs=dict(zip(route.params, values, strict=True)))
        for values in itertools.product(*choices)
    ]


@pytest.fixture
def tenants(world: Any) -> tuple[Tenant, Tenant]:
    # A registers two courriers and its URLs use the second: its chrono then does not exist in B.
    courrier_with_document(organisation=world.commune, actor=world.secretary, text="Premier courrier")
    courrier_a, document_a = courrier_with_document(
        organisation=world.commune,
        actor=world.secretary,
        text="Demande de permis de construire, parcelle AB 12",
        subject="Permis de construire",
    )
    courrier_b, document_b = courrier_with_document(
        organisation=world.other_commune,
        actor=world.other_agent,
        text="Inscription à la cantine scolaire",
        subject="Cantine",
    )
    assert courrier_a.chrono != courrier_b.chrono
    for org in (world.commune, world.other_commune):  # so that their logo's URL answers
        set_logo(actor=None, organisation=org, data=_png())
    for org in (world.commune, world.other_commune):  # a mailbox each (not reachable: never fetched here)
        Mailbox.objects.create(
            organisation=org, label="Mairie", host="imap.invalid", username="u", password="p"
        )
    for org in (world.commune, world.other_commune):  # workflow definitions each
        install_library(org)
    # An absence and a notification each (the notification is for the person who opens the URLs).
    add_member(
        actor=None, organisation=world.other_commune, username="suppleant-villeneuve", roles=[Role.AGENT]
    )
    substitute_b = get_user_model().objects.get(username="suppleant-villeneuve")
    for org, user, delegate in (
        (world.commune, world.agent, world.secretary),
        (world.other_commune, world.other_agent, substitute_b),
    ):
        Absence.objects.create(
            organisation=org,
            user=user,
            delegate=delegate,
            starts_on=date(2030, 1, 1),
            ends_on=date(2030, 1, 5),
        )
    for org, user in ((world.commune, world.commune_admin), (world.other_commune, world.other_agent)):
        Notification.objects.create(organisation=org, user=user, kind="task.new", text="Nouvelle tâche")
    # A dossier with a PDF in a visa circuit each (parapheur URLs: circuit_id, step_id, dossier_id).
    circuit_for_tests(
        organisation=world.commune, actor=world.secretary, reference="A-1", agent="admin-commune"
    )
    circuit_for_tests(
        organisation=world.other_commune, actor=world.other_agent, reference="B-1", agent="agent-villeneuve"
    )
    # Each dossier asks an opinion of a service and is shared with the EPCI (dossiers URLs).
    from mairie.dossiers.services import request_opinions, share_dossier

    for org, actor in ((world.commune, world.secretary), (world.other_commune, world.other_agent)):
        dossier = Circuit.objects.for_org(org).order_by("pk").first().dossier  # type: ignore[union-attr]
        request_opinions(
            dossier=dossier, targets=[{"service": "Services techniques"}], actor=actor, delay_days=5
        )
        share_dossier(dossier=dossier, organisation=world.epci, purpose="view", actor=actor)
    # A signing certificate each (rows only: the URLs deactivate it, nothing signs here).
    for org, user in ((world.commune, world.commune_admin), (world.other_commune, world.other_agent)):
        SigningCertificate.objects.create(
            organisation=org,
            user=user,
            pkcs12="-",
            subject_cn="Test",
            issuer="CN=Test",
            serial="1",
            not_before=timezone.now(),
            not_after=timezone.now() + timedelta(days=365),
            fingerprint="0" * 64,
        )
    return Tenant(world.commune, courrier_a, document_a), Tenant(world.other_commune, courrier_b, document_b)


def _png() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (120, 60), (0, 70, 140)).save(buffer, "PNG")
    return buffer.getvalue()


def _client(user: Any) -> Client:
    return login(Client(), user)


def test_every_url_pattern_is_covered_or_listed_as_public():
    routes = all_routes()
    assert routes, "le résolveur d'URL est vide"
    unnamed = [r.route for r in routes if not r.name]
    assert not unnamed, f"motifs d'URL sans nom (impossible à tester) : {unnamed}"
    unknown = {r.name: [p for p in r.params if p not in PARAMS] for r in routes}
    unknown = {name: params for name, params in unknown.items() if params}
    assert not unknown, f"paramètres d'URL inconnus du test d'isolation (ajoutez-les à PARAMS) : {unknown}"
    names = {r.name for r in routes}
    stale = (set(PUBLIC) | set(QUERY_SCOPED) | ABOVE_COMMUNE) - names
    assert not stale, f"listes du test d'isolation qui nomment des URL disparues : {stale}"
    unscoped = [
        r.name
        for r in routes
        if "slug" not in r.params and r.name not in PUBLIC and r.name not in QUERY_SCOPED
    ]
    assert not unscoped, (
        f"URL ni rattachées à une organisation ni déclarées publiques : {unscoped}. "
        "Placez-les sous /o/<slug>/ ou ajoutez-les à PUBLIC avec une raison."
    )


def test_agent_of_other_commune_gets_404_on_every_url(world, tenants):
    tenant_a, _ = tenants
    owner_a = _client(world.commune_admin)
    syndicat_owner = _client(world.syndicat_admin)
    intruder = _client(world.other_agent)
    syndicat_of_a = Tenant(world.syndicat, tenant_a.courrier, tenant_a.document)
    checked = 0
    for route in all_routes():
        if route.name in PUBLIC:
            continue
        if route.name in QUERY_SCOPED:
            query = QUERY_SCOPED[route.name](tenant_a)
            url = reverse(route.name)
            assert _client(world.secretary).get(url, query).status_code == 302
            for response in (intruder.get(url, query), intruder.post(f"{url}?{urlencode(query)}")):
                assert response.status_code in DENIED, (route.name, response.status_code)
            checked += 1
            continue
        if route.name in ABOVE_COMMUNE:
            # The syndicat's admin manages commune A: /o/<syndicat>/structures/<A id>/ works for them.
            owner_urls = [
                reverse(route.name, kwargs={**_kwargs(route, tenant_a), "slug": world.syndicat.slug})
            ]
            owner = syndicat_owner
            probe_urls = urls_for(route, tenant_a) + urls_for(route, syndicat_of_a)
        else:
            owner_urls = urls_for(route, tenant_a)
            owner = owner_a
            probe_urls = owner_urls
        for url in owner_urls:
            status = owner.get(url).status_code
            assert status not in DENIED, f"{route.name} : {url} refusé ({status}) à l'organisation elle-même"
        for url in probe_urls:
            for method in ("get", "post"):
                response = getattr(intruder, method)(url)
                assert response.status_code in DENIED, (
                    f"{method.upper()} {url} ({route.name}) par un agent de Villeneuve : "
                    f"{response.status_code} au lieu de 404"
                )
                checked += 1
    assert checked > 40


def _kwargs(route: Route, tenant: Tenant) -> dict[str, Any]:
    return {p: PARAMS[p](tenant)[0] for p in route.params}


def test_admin_of_other_commune_cannot_reach_a_objects_through_own_urls(world, tenants):
    """Villeneuve's administrator, in Villeneuve's URLs, swaps in one identifier of Saint-Aubin: 404."""
    tenant_a, tenant_b = tenants
    add_member(
        actor=None,
        organisation=world.other_commune,
        username="admin-villeneuve",
        roles=[Role.ADMIN, Role.COURRIER, Role.AGENT],
        password="Motdepasse-de-test-42",
    )
    from django.contrib.auth import get_user_model

    admin_b = _client(get_user_model().objects.get(username="admin-villeneuve"))
    swapped = 0
    for route in all_routes():
        if route.name in PUBLIC or route.name in QUERY_SCOPED:
            continue
        object_params = [p for p in route.params if p in OBJECT_PARAMS]
        post_only = False
        if route.name not in ABOVE_COMMUNE:
            for url in urls_for(route, tenant_b):
                status = admin_b.get(url).status_code
                assert status not in DENIED, f"{url} refusé ({status}) à l'administrateur de Villeneuve"
                post_only = status == 405
        for param in object_params:
            for url in urls_for(route, tenant_b, swap={param: tenant_a}):
                for method in ("get", "post"):
                    response = getattr(admin_b, method)(url)
                    # A GET on a POST-only URL of one's own organisation says 405 whatever the object:
                    # that answer reveals nothing about Saint-Aubin.
                    allowed = DENIED | ({405} if post_only and method == "get" else set())
                    assert response.status_code in allowed, (
                        f"{method.upper()} {url} ({route.name}, {param} de Saint-Aubin) : "
                        f"{response.status_code} au lieu de 404"
                    )
                    swapped += 1
    assert swapped > 20
    # Nothing of Saint-Aubin changed through those requests.
    tenant_a.courrier.refresh_from_db()
    assert tenant_a.courrier.subject == "Permis de construire"
    assert not tenant_a.courrier.comments.exists()


def test_admin_of_commune_b_cannot_manage_commune_a(world):
    admin_b = world.other_agent
    from mairie.organisations.models import Membership

    Membership.objects.filter(user=admin_b).update(roles=[Role.ADMIN])
    client = _client(admin_b)
    for name in ("organisations:managed_edit", "organisations:managed_member_add"):
        url = reverse(name, kwargs={"slug": world.other_commune.slug, "org_id": world.commune.pk})
        assert client.get(url).status_code == 404
        response = client.post(url, {"name": "Piratée", "username": "intrus", "roles": ["admin"]})
        assert response.status_code == 404
    world.commune.refresh_from_db()
    assert world.commune.name == "Saint-Aubin-les-Vignes"
    assert not Membership.objects.filter(organisation=world.commune, user__username="intrus").exists()
