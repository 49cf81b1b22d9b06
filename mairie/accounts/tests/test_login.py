"""Login with password, TOTP second factor (mandatory for administrators), recovery codes, CSRF."""

from __future__ import annotations

import re
import time
from typing import Any

import pyotp
import pytest
from django.conf import global_settings
from django.contrib.auth import get_user_model
from django.test import Client

from mairie.accounts.models import RecoveryCode, TOTPDevice
from mairie.testing.personas import PASSWORD

LOGIN = "/connexion/"
VERIFY = "/connexion/verification/"
SETUP = "/compte/double-authentification/"


def password_login(client: Client, user: Any, password: str = PASSWORD) -> Any:
    return client.post(LOGIN, {"username": user.username, "password": password})


def enrol(client: Client, user: Any) -> tuple[str, list[str]]:
    """Go through the enrolment page as a person would, with a real code from an authenticator."""
    page = client.get(SETUP)
    assert page.status_code == 200
    secret = TOTPDevice.objects.get(user=user).secret
    assert secret in page.content.decode()  # typed by hand when the phone has no camera
    assert "<svg" in page.content.decode()  # the QR code
    done = client.post(SETUP, {"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200
    codes = re.findall(r"<code>(\d{5}-\d{5})</code>", done.content.decode())
    assert len(codes) == 8
    return secret, codes


def test_login_page_is_in_french_and_wrong_password_is_refused(world, client):
    page = client.get(LOGIN)
    assert page.status_code == 200
    assert "Mot de passe" in page.content.decode()
    response = password_login(client, world.secretary, "pas-le-bon-mot-de-passe")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'role="alert"' in html
    assert "mot de passe" in html.lower() and "incorrect" in html.lower(), html
    assert "_auth_user_id" not in client.session


def test_non_admin_uses_the_site_without_second_factor(world, client):
    response = password_login(client, world.secretary)
    assert response.status_code == 302
    inbox = client.get("/", follow=True)
    assert inbox.redirect_chain[-1][0] == "/o/saint-aubin/"
    assert inbox.status_code == 200
    assert not TOTPDevice.objects.filter(user=world.secretary).exists()


def test_admin_must_enrol_totp_before_any_page(world, client):
    password_login(client, world.commune_admin)
    for url in ("/", "/o/saint-aubin/", "/o/saint-aubin/registre/", "/o/saint-aubin/organisation/"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"] == SETUP, url
    page = client.get(SETUP)
    assert "obligatoire pour les administrateurs" in page.content.decode()
    # A wrong code does not enrol.
    wrong = client.post(SETUP, {"code": "000000"})
    assert "Code incorrect" in wrong.content.decode()
    assert client.get("/o/saint-aubin/").status_code == 302
    enrol(client, world.commune_admin)
    assert TOTPDevice.objects.get(user=world.commune_admin).confirmed
    assert client.get("/o/saint-aubin/organisation/").status_code == 200


def test_next_login_asks_for_code_refuses_wrong_and_replayed_codes(world):
    first = Client()
    password_login(first, world.commune_admin)
    secret, _ = enrol(first, world.commune_admin)
    totp = pyotp.TOTP(secret)
    used_at_enrolment = totp.now()

    second = Client()
    response = password_login(second, world.commune_admin)
    assert response.status_code == 302
    blocked = second.get("/o/saint-aubin/")
    assert blocked.status_code == 302
    assert blocked["Location"].startswith(VERIFY)
    assert "Vérification en deux étapes" in second.get(VERIFY).content.decode()

    wrong = second.post(VERIFY, {"code": "123456" if used_at_enrolment != "123456" else "654321"})
    assert wrong.status_code == 400
    assert "Code incorrect ou déjà utilisé" in wrong.content.decode()
    replayed = second.post(VERIFY, {"code": used_at_enrolment})
    assert replayed.status_code == 400, "un code déjà utilisé ne doit pas resservir"
    assert second.get("/o/saint-aubin/").status_code == 302

    # The next code (one step of clock drift is allowed) opens the session, once.
    next_code = totp.at(time.time() + 30)
    ok = second.post(VERIFY, {"code": next_code, "next": "/o/saint-aubin/registre/"})
    assert ok.status_code == 302
    assert ok["Location"] == "/o/saint-aubin/registre/"
    assert second.get("/o/saint-aubin/registre/").status_code == 200

    third = Client()
    password_login(third, world.commune_admin)
    assert third.post(VERIFY, {"code": next_code}).status_code == 400
    assert third.get("/o/saint-aubin/").status_code == 302


def test_recovery_code_works_once(world):
    first = Client()
    password_login(first, world.commune_admin)
    _, codes = enrol(first, world.commune_admin)
    # Stored hashed, like passwords.
    stored = list(RecoveryCode.objects.filter(user=world.commune_admin).values_list("code_hash", flat=True))
    assert len(stored) == 8
    assert not set(codes) & set(stored)

    lost_phone = Client()
    password_login(lost_phone, world.commune_admin)
    response = lost_phone.post(VERIFY, {"secours-recovery": codes[3]})
    assert response.status_code == 302
    assert lost_phone.get("/o/saint-aubin/").status_code == 200

    again = Client()
    password_login(again, world.commune_admin)
    assert again.post(VERIFY, {"secours-recovery": codes[3]}).status_code == 400
    assert again.get("/o/saint-aubin/").status_code == 302
    assert again.post(VERIFY, {"secours-recovery": codes[4]}).status_code == 302


def test_verification_does_not_redirect_off_site(world):
    client = Client()
    password_login(client, world.commune_admin)
    secret, _ = enrol(client, world.commune_admin)
    other = Client()
    password_login(other, world.commune_admin)
    response = other.post(
        VERIFY, {"code": pyotp.TOTP(secret).at(time.time() + 30), "next": "https://evil.example/"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_csrf_is_enforced_on_login_and_forms(world):
    client = Client(enforce_csrf_checks=True)
    refused = client.post(LOGIN, {"username": world.secretary.username, "password": PASSWORD})
    assert refused.status_code == 403
    assert "_auth_user_id" not in client.session
    client.get(LOGIN)
    token = client.cookies["csrftoken"].value
    accepted = client.post(
        LOGIN, {"username": world.secretary.username, "password": PASSWORD, "csrfmiddlewaretoken": token}
    )
    assert accepted.status_code == 302
    # Forms of the agent pages too: a comment without the token is refused.
    from mairie.testing.factories import courrier_with_document

    courrier, _ = courrier_with_document(organisation=world.commune, actor=world.secretary, process=False)
    url = f"/o/saint-aubin/courriers/{courrier.chrono}/commentaires/"
    assert client.post(url, {"body": "Sans jeton"}).status_code == 403
    assert not courrier.comments.exists()
    token = client.cookies["csrftoken"].value
    assert client.post(url, {"body": "Avec jeton", "csrfmiddlewaretoken": token}).status_code == 302
    assert courrier.comments.get().body == "Avec jeton"


@pytest.fixture
def production_hashers(settings: Any) -> None:
    """The suite hashes with MD5 for speed (conftest); these tests check what the project really uses."""
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS


def test_personas_passwords_are_not_stored_in_clear(world):
    for user in get_user_model().objects.all():
        assert PASSWORD not in user.password
        assert user.check_password(PASSWORD)


def test_member_created_through_the_ui_gets_a_salted_slow_hash(world, as_user, production_hashers):
    client = as_user(world.commune_admin)
    response = client.post(
        "/o/saint-aubin/organisation/membres/ajouter/",
        {"username": "nouvelle", "roles": ["agent"], "password": "Un-mot-de-passe-solide-7"},
    )
    assert response.status_code == 302
    user = get_user_model().objects.get(username="nouvelle")
    assert "Un-mot-de-passe-solide-7" not in user.password
    assert user.password.startswith("pbkdf2_sha256$")
    assert int(user.password.split("$")[1]) >= 1_000_000
    assert user.check_password("Un-mot-de-passe-solide-7")
