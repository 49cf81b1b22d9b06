"""Certificates: upload once (password), unlock with a PIN at signing time; the server seal; refusals."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from django.core.exceptions import PermissionDenied
from django.db import connection

from mairie.audit.models import AuditEntry
from mairie.signatures import services
from mairie.signatures.models import SigningCertificate
from mairie.signatures.pades import sign_pdf
from mairie.signatures.services import SignatureError, load_signer
from mairie.signatures.verify import verify_pdf

PIN = "482916"


@pytest.fixture
def mayor_certificate(world, keys):
    return services.add_personal_certificate(
        organisation=world.commune,
        user=world.mayor,
        data=keys.mayor.p12(),
        password=keys.mayor.password,
        pin=PIN,
    )


def test_person_uploads_once_and_signs_with_the_pin(world, keys, letter_pdf, mayor_certificate):
    stored = mayor_certificate
    assert stored.subject_cn == "Hélène Roussel" and stored.user == world.mayor and stored.is_active
    assert (
        stored.fingerprint
        == keys.mayor.certificate.fingerprint(
            __import__("cryptography.hazmat.primitives.hashes", fromlist=["SHA256"]).SHA256()
        ).hex()
    )
    assert stored.not_after > stored.not_before
    # At rest: a Fernet token, not the PKCS#12.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pkcs12 FROM signatures_signingcertificate WHERE id = %s", [stored.pk])
        raw = cursor.fetchone()[0]
    assert raw.startswith("gAAAAA") and stored.pkcs12 not in raw
    # Decrypted, it opens with the PIN only: not with the file's original password.
    wrapped = base64.b64decode(stored.pkcs12)
    with pytest.raises(ValueError):
        pkcs12.load_key_and_certificates(wrapped, keys.mayor.password.encode())
    assert pkcs12.load_key_and_certificates(wrapped, PIN.encode())[0] is not None
    signer = load_signer(organisation=world.commune, user=world.mayor, pin=PIN)
    signed = sign_pdf(letter_pdf, signer=signer, signer_name="Hélène Roussel", signer_role="Maire")
    [report] = verify_pdf(signed, trust_roots=[keys.root])
    assert report.signer == "Hélène Roussel" and report.intact and report.valid and report.trusted
    assert AuditEntry.objects.filter(
        organisation=world.commune, action="signatures.certificate_added"
    ).exists()


def test_wrong_or_missing_pin_is_refused(world, mayor_certificate):
    with pytest.raises(SignatureError, match=r"^Code PIN incorrect\.$"):
        load_signer(organisation=world.commune, user=world.mayor, pin="000000")
    with pytest.raises(SignatureError, match="code PIN"):
        load_signer(organisation=world.commune, user=world.mayor, pin="")


def test_no_certificate_deactivated_certificate_and_other_organisation(world, mayor_certificate):
    with pytest.raises(SignatureError, match="Mes certificats de signature"):
        load_signer(organisation=world.commune, user=world.secretary, pin=PIN)
    # The mayor's certificate is Saint-Aubin's: not usable in another organisation.
    with pytest.raises(SignatureError, match="Aucun certificat"):
        load_signer(organisation=world.other_commune, user=world.mayor, pin=PIN)
    services.deactivate_certificate(certificate=mayor_certificate, actor=world.mayor)
    with pytest.raises(SignatureError, match="Aucun certificat"):
        load_signer(organisation=world.commune, user=world.mayor, pin=PIN)


def test_only_members_may_store_a_certificate(world, keys):
    with pytest.raises(PermissionDenied):
        services.add_personal_certificate(
            organisation=world.other_commune,
            user=world.mayor,
            data=keys.mayor.p12(),
            password=keys.mayor.password,
            pin=PIN,
        )


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("wrong_password", "Mot de passe du certificat incorrect"),
        ("not_pkcs12", "n'est pas un certificat PKCS#12"),
        ("pem", "n'est pas un certificat PKCS#12"),
        ("no_key", "pas de clé privée"),
        ("expired", "a expiré le"),
        ("not_yet_valid", "pas encore valide"),
        ("encryption_only", "ne permet pas de signer"),
        ("short_pin", "au moins 6 caractères"),
    ],
)
def test_refusals_are_clear_and_in_french(world, keys, case, message):
    issued = {"expired": keys.expired, "not_yet_valid": keys.not_yet_valid}.get(case, keys.mayor)
    if case == "encryption_only":
        issued = keys.encryption_only
    data, password, pin = issued.p12(), issued.password, PIN
    if case == "wrong_password":
        password = "pas le bon"
    elif case == "not_pkcs12":
        data = b"%PDF-1.7 pas un certificat"
    elif case == "pem":
        data = issued.certificate_pem()
    elif case == "no_key":
        data = pkcs12.serialize_key_and_certificates(
            None, None, None, [issued.certificate], serialization.BestAvailableEncryption(password.encode())
        )
    elif case == "short_pin":
        pin = "12345"
    with pytest.raises(SignatureError, match=message):
        services.add_personal_certificate(
            organisation=world.commune, user=world.mayor, data=data, password=password, pin=pin
        )
    assert not SigningCertificate.objects.exists()


def test_server_seal_is_required_then_used_without_pin_and_replaced(world, keys, letter_pdf):
    with pytest.raises(SignatureError, match="cachet serveur"):
        load_signer(organisation=world.commune)
    first = services.set_server_seal(
        organisation=world.commune,
        data=keys.seal.p12(),
        password=keys.seal.password,
        actor=world.commune_admin,
    )
    assert first.is_seal and first.seal_secret and first.is_active
    signer = load_signer(organisation=world.commune)
    signed = sign_pdf(
        letter_pdf, signer=signer, signer_name="Saint-Aubin-les-Vignes", signer_role="Cachet serveur"
    )
    [report] = verify_pdf(signed, trust_roots=[keys.root])
    assert report.signer == "Cachet serveur — Saint-Aubin-les-Vignes" and report.trusted
    # Another organisation does not see it.
    with pytest.raises(SignatureError, match="cachet serveur"):
        load_signer(organisation=world.other_commune)
    # Replaced: the new seal signs, the old one is kept, deactivated.
    second = services.set_server_seal(
        organisation=world.commune,
        data=keys.other_seal.p12(),
        password=keys.other_seal.password,
        actor=world.commune_admin,
    )
    first.refresh_from_db()
    assert not first.is_active and second.is_active
    assert services.current_seal(world.commune) == second
    # The seal opened before (kept open in the process) is not used any more: the new one signs.
    assert load_signer(organisation=world.commune).signing_cert.subject.native["common_name"] == (
        "Cachet serveur — Villeneuve-sur-Lergue"
    )
    services.deactivate_certificate(certificate=second, actor=world.commune_admin)
    with pytest.raises(SignatureError, match="cachet serveur"):
        load_signer(organisation=world.commune)
    assert AuditEntry.objects.filter(organisation=world.commune, action="signatures.seal_set").count() == 2


def test_an_elliptic_curve_certificate_signs_too(world, keys, letter_pdf):
    issued = keys.pki.person("Karim Benali", elliptic=True)
    services.add_personal_certificate(
        organisation=world.commune, user=world.agent, data=issued.p12(), password=issued.password, pin=PIN
    )
    signer = load_signer(organisation=world.commune, user=world.agent, pin=PIN)
    signed = sign_pdf(letter_pdf, signer=signer, signer_name="Karim Benali", signer_role="Agent technique")
    [report] = verify_pdf(signed, trust_roots=[keys.root])
    assert report.signer == "Karim Benali" and report.intact and report.valid and report.trusted


def test_five_wrong_pins_lock_the_key_for_a_while(world, mayor_certificate):
    import datetime as dt

    from django.utils import timezone

    for _ in range(services.MAX_PIN_FAILURES):
        with pytest.raises(SignatureError, match=r"^Code PIN incorrect\.$"):
            load_signer(organisation=world.commune, user=world.mayor, pin="111111")
    # Locked: even the right PIN is refused until the lock ends.
    with pytest.raises(SignatureError, match="Trop de codes PIN erronés"):
        load_signer(organisation=world.commune, user=world.mayor, pin=PIN)
    SigningCertificate.objects.filter(pk=mayor_certificate.pk).update(
        pin_locked_until=timezone.now() - dt.timedelta(seconds=1)
    )
    with pytest.raises(SignatureError, match=r"^Code PIN incorrect\.$"):
        load_signer(organisation=world.commune, user=world.mayor, pin="111111")
    assert load_signer(organisation=world.commune, user=world.mayor, pin=PIN) is not None
    mayor_certificate.refresh_from_db()
    assert mayor_certificate.pin_failures == 0
