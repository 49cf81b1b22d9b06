"""The pages: my certificates, the server seal (administrators), verify a signed PDF; scoped by organisation."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from mairie.signatures import services
from mairie.signatures.models import SigningCertificate
from mairie.signatures.pades import sign_pdf
from mairie.signatures.tests.helpers import flip_byte_in_signed_range, signer_of
from mairie.testing.personas import login

PIN = "753159"


def _url(name, org, **kwargs):
    return reverse(f"signatures:{name}", kwargs={"slug": org.slug, **kwargs})


def _p12(issued, name="certificat.p12"):
    return SimpleUploadedFile(name, issued.p12(), content_type="application/x-pkcs12")


def test_my_certificates_upload_list_and_deactivate(client, world, keys):
    login(client, world.mayor)
    url = _url("certificates", world.commune)
    page = client.get(url)
    assert page.status_code == 200
    assert "Mes certificats de signature" in page.text and 'for="id_pin_confirmation"' in page.text
    # PINs that differ, then a wrong password: nothing is stored, the French errors are shown.
    response = client.post(
        url,
        {"file": _p12(keys.mayor), "password": keys.mayor.password, "pin": PIN, "pin_confirmation": "999999"},
    )
    assert response.status_code == 200 and "ne sont pas identiques" in response.text
    response = client.post(
        url, {"file": _p12(keys.mayor), "password": "faux", "pin": PIN, "pin_confirmation": PIN}
    )
    assert response.status_code == 200 and "Mot de passe du certificat incorrect" in response.text
    response = client.post(
        url,
        {"file": _p12(keys.expired), "password": keys.expired.password, "pin": PIN, "pin_confirmation": PIN},
    )
    assert "a expiré le" in response.text
    assert not SigningCertificate.objects.exists()
    response = client.post(
        url, {"file": _p12(keys.mayor), "password": keys.mayor.password, "pin": PIN, "pin_confirmation": PIN}
    )
    assert response.status_code == 302
    stored = SigningCertificate.objects.get()
    assert stored.user == world.mayor and stored.organisation == world.commune
    page = client.get(url)
    assert "Hélène Roussel" in page.text and stored.fingerprint_display in page.text
    assert "Utilisé pour signer" in page.text
    assert services.load_signer(organisation=world.commune, user=world.mayor, pin=PIN) is not None
    # Someone else of the commune (not an administrator) cannot deactivate it; the mayor can.
    other = login(type(client)(), world.secretary)
    deactivate = _url("certificate_deactivate", world.commune, certificate_id=stored.pk)
    assert other.post(deactivate).status_code == 404
    assert client.post(deactivate).status_code == 302
    stored.refresh_from_db()
    assert not stored.is_active
    assert "Désactivé" in client.get(url).text


def test_an_administrator_may_deactivate_a_members_certificate(client, world, keys):
    stored = services.add_personal_certificate(
        organisation=world.commune,
        user=world.mayor,
        data=keys.mayor.p12(),
        password=keys.mayor.password,
        pin=PIN,
    )
    login(client, world.commune_admin)
    assert (
        client.post(_url("certificate_deactivate", world.commune, certificate_id=stored.pk)).status_code
        == 302
    )
    stored.refresh_from_db()
    assert not stored.is_active


def test_server_seal_page_is_for_administrators(client, world, keys):
    url = _url("seal", world.commune)
    login(client, world.secretary)
    assert client.get(url).status_code == 403
    login(client, world.commune_admin)
    page = client.get(url)
    assert page.status_code == 200 and "Aucun cachet serveur" in page.text
    response = client.post(url, {"file": _p12(keys.seal, "cachet.pfx"), "password": keys.seal.password})
    assert response.status_code == 302
    page = client.get(url)
    assert "Cachet serveur — Saint-Aubin-les-Vignes" in page.text and "Remplacer le cachet" in page.text
    assert services.load_signer(organisation=world.commune) is not None
    response = client.post(url, {"file": SimpleUploadedFile("x.p12", b"pas un p12"), "password": "x"})
    assert response.status_code == 200 and "pas un certificat PKCS#12" in response.text


def test_verify_page_reports_each_signature_in_plain_french(
    client, settings, tmp_path, world, keys, letter_pdf
):
    bundle = tmp_path / "racines.pem"
    bundle.write_bytes(keys.pki.root_pem())
    settings.SIGNATURE_TRUST_ROOTS = str(bundle)
    signed = sign_pdf(
        letter_pdf, signer=signer_of(keys.mayor), signer_name="Hélène Roussel", signer_role="Maire"
    )
    twice = sign_pdf(
        signed, signer=signer_of(keys.seal), signer_name="Saint-Aubin", signer_role="Cachet serveur"
    )
    login(client, world.agent)
    url = _url("verify", world.commune)
    assert client.get(url).status_code == 200
    page = client.post(url, {"file": SimpleUploadedFile("arrete.pdf", twice, content_type="application/pdf")})
    assert page.status_code == 200
    text = page.text
    assert "Résultat pour « arrete.pdf »" in text
    assert "Hélène Roussel" in text and "Cachet serveur — Saint-Aubin-les-Vignes" in text
    assert text.count("Intègre") == 2 and "Altéré" not in text
    assert "Couvre tout le document" in text and "Ne couvre pas tout le document" in text
    assert text.count("Certificat reconnu") == 2 and "Pas d&#x27;horodatage" in text
    assert "2 signature(s) intègre(s), valide(s) et reconnue(s)." in text
    page = client.post(
        url,
        {
            "file": SimpleUploadedFile(
                "altere.pdf", flip_byte_in_signed_range(signed), content_type="application/pdf"
            )
        },
    )
    assert "Altéré" in page.text and "altérée(s) ou invalide(s)" in page.text
    # Checked by content, whatever the name says.
    page = client.post(url, {"file": SimpleUploadedFile("faux.pdf", b"MZ\x90\x00 un programme")})
    assert page.status_code == 200 and "Ce fichier n&#x27;est pas un PDF." in page.text
    page = client.post(url, {"file": SimpleUploadedFile("vide.pdf", letter_pdf)})
    assert "Aucune signature dans ce fichier." in page.text


@pytest.mark.parametrize("name", ["certificates", "seal", "verify"])
def test_pages_answer_404_to_another_commune(client, world, name):
    login(client, world.other_agent)
    assert client.get(_url(name, world.commune)).status_code == 404
    assert client.post(_url(name, world.commune)).status_code == 404


def test_certificate_of_another_commune_is_404(client, world, keys):
    stored = services.add_personal_certificate(
        organisation=world.commune,
        user=world.mayor,
        data=keys.mayor.p12(),
        password=keys.mayor.password,
        pin=PIN,
    )
    from mairie.organisations.models import Membership, Role

    Membership.objects.filter(user=world.other_agent).update(roles=[Role.ADMIN])
    login(client, world.other_agent)
    url = _url("certificate_deactivate", world.other_commune, certificate_id=stored.pk)
    assert client.post(url).status_code == 404
    stored.refresh_from_db()
    assert stored.is_active
