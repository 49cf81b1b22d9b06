"""Signing certificates: a person's (uploaded once, unlocked by a PIN), the organisation's server seal.

The PKCS#12 a person uploads is opened with its password, checked (a key, a certificate valid today whose
key usage allows signing), then serialised again with the **PIN** the person chose as its only password
(``BestAvailableEncryption``: PBES2, AES-256) and stored encrypted at rest (``mairie.core.crypto``): the platform's key
alone does not unlock a person's key, the PIN is needed at each signature (``load_signer``). The server
seal is used without a PIN: it is wrapped with a random secret stored (encrypted) next to it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
import threading
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from mairie.audit.services import record
from mairie.organisations.models import Membership, Organisation
from mairie.signatures.models import SigningCertificate

MIN_PIN_LENGTH = 6
# Wrong PINs in a row before a person's key is locked, and for how long: a 6-digit PIN cannot be guessed
# through the signing pages.
MAX_PIN_FAILURES = 5
PIN_LOCK_MINUTES = 15
MAX_P12_BYTES = 100 * 1024


class SignatureError(Exception):
    """A signature or a certificate operation refused; the message is in French, for the person."""


def _register_timestamp_types() -> None:
    """``asn1crypto.tsp`` adds « tst_info » to ``cms.ContentType`` when imported, but a name → OID table
    built before that import (cached on the class by asn1crypto) never learns it, and every timestamp then
    fails (« invalid literal for int() … 'tst_info' »). Import it, and drop a stale table (rebuilt lazily)."""
    from asn1crypto import cms, tsp  # noqa: F401 - imported for its registration

    reverse = cms.ContentType._reverse_map
    if reverse is not None and "tst_info" not in reverse:
        cms.ContentType._reverse_map = None


_register_timestamp_types()


def _french_datetime(value: dt.datetime) -> str:
    local = timezone.localtime(value)
    return f"{local:%d/%m/%Y} à {local:%H:%M}"


def _common_name(name: x509.Name) -> str:
    from cryptography.x509.oid import NameOID

    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if values:
        return str(values[0].value)
    return name.rfc4514_string()


def _looks_like_pkcs12(data: bytes) -> bool:
    """A PKCS#12 is a DER SEQUENCE holding a version and a ContentInfo (asn1crypto parses the outline)."""
    if not data or data[:1] != b"\x30":
        return False
    try:
        from asn1crypto import pkcs12 as asn1_pkcs12

        pfx = asn1_pkcs12.Pfx.load(data, strict=False)
        return pfx["version"].native == "v3" and pfx["auth_safe"]["content_type"].native == "data"
    except Exception:
        return False


def read_pkcs12(data: bytes, password: str) -> tuple[Any, x509.Certificate, list[x509.Certificate]]:
    """Open a PKCS#12 and check it can sign today. ``SignatureError`` (French) otherwise."""
    if len(data) > MAX_P12_BYTES:
        raise SignatureError("Fichier trop volumineux pour un certificat PKCS#12 (.p12 ou .pfx).")
    if not _looks_like_pkcs12(data):
        raise SignatureError("Ce fichier n'est pas un certificat PKCS#12 (.p12 ou .pfx).")
    try:
        key, certificate, others = pkcs12.load_key_and_certificates(data, password.encode("utf-8") or None)
    except (ValueError, TypeError) as exc:
        raise SignatureError("Mot de passe du certificat incorrect (ou fichier PKCS#12 endommagé).") from exc
    except Exception as exc:  # an algorithm cryptography does not support, a malformed structure…
        raise SignatureError(f"Ce certificat PKCS#12 ne peut pas être lu ({exc}).") from exc
    if key is None:
        raise SignatureError(
            "Ce fichier ne contient pas de clé privée : exportez le certificat « avec la clé privée » "
            "(fichier .p12 ou .pfx)."
        )
    if certificate is None:
        raise SignatureError("Ce fichier ne contient pas de certificat, seulement une clé.")
    public = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*public) != certificate.public_key().public_bytes(*public):
        raise SignatureError("La clé privée de ce fichier ne correspond pas à son certificat.")
    now = timezone.now()
    if certificate.not_valid_before_utc > now:
        raise SignatureError(
            f"Ce certificat n'est pas encore valide (il le sera le "
            f"{_french_datetime(certificate.not_valid_before_utc)})."
        )
    if certificate.not_valid_after_utc < now:
        raise SignatureError(
            f"Ce certificat a expiré le {_french_datetime(certificate.not_valid_after_utc)} : "
            "demandez-en un nouveau à votre autorité de certification."
        )
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is not None and not (usage.digital_signature or usage.content_commitment):
        raise SignatureError(
            "L'usage de la clé de ce certificat ne permet pas de signer (certificat de chiffrement ou "
            "d'authentification ?) : utilisez un certificat de signature."
        )
    return key, certificate, list(others)


def _wrap(key: Any, certificate: x509.Certificate, others: list[x509.Certificate], secret: str) -> str:
    """The PKCS#12 again, with ``secret`` as its only password, as base64 text (to be encrypted at rest)."""
    encryption = serialization.BestAvailableEncryption(secret.encode("utf-8"))
    data = pkcs12.serialize_key_and_certificates(
        _common_name(certificate.subject).encode("utf-8"), key, certificate, others or None, encryption
    )
    return base64.b64encode(data).decode("ascii")


def _fields(certificate: x509.Certificate) -> dict[str, Any]:
    return {
        "subject_cn": _common_name(certificate.subject)[:255],
        "subject": certificate.subject.rfc4514_string()[:500],
        "issuer": certificate.issuer.rfc4514_string()[:500],
        "serial": format(certificate.serial_number, "X")[:100],
        "not_before": certificate.not_valid_before_utc,
        "not_after": certificate.not_valid_after_utc,
        "fingerprint": hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest(),
    }


def check_pin(pin: str, confirmation: str | None = None) -> None:
    if len(pin or "") < MIN_PIN_LENGTH:
        raise SignatureError(f"Le code PIN doit comporter au moins {MIN_PIN_LENGTH} caractères.")
    if confirmation is not None and pin != confirmation:
        raise SignatureError("Les deux saisies du code PIN ne sont pas identiques.")


def add_personal_certificate(
    *,
    organisation: Organisation,
    user: Any,
    data: bytes,
    password: str,
    pin: str,
    actor: Any = None,
) -> SigningCertificate:
    """Store a person's signing certificate, unlocked from now on by ``pin`` only."""
    if not Membership.objects.filter(organisation=organisation, user=user, is_active=True).exists():
        raise PermissionDenied("Cette personne n'est pas membre de l'organisation.")
    check_pin(pin)
    key, certificate, others = read_pkcs12(data, password)
    wrapped = _wrap(key, certificate, others, pin)
    with transaction.atomic():
        stored = SigningCertificate.objects.create(
            organisation=organisation,
            user=user,
            pkcs12=wrapped,
            created_by=actor or user,
            **_fields(certificate),
        )
        record(
            organisation=organisation,
            actor=actor or user,
            action="signatures.certificate_added",
            summary=f"Certificat de signature « {stored.subject_cn} » déposé (empreinte {stored.fingerprint}).",
            obj=stored,
        )
    return stored


def set_server_seal(
    *, organisation: Organisation, data: bytes, password: str, actor: Any = None
) -> SigningCertificate:
    """Store (or replace) the organisation's server seal; the previous one is deactivated."""
    key, certificate, others = read_pkcs12(data, password)
    secret = secrets.token_urlsafe(32)
    wrapped = _wrap(key, certificate, others, secret)
    with transaction.atomic():
        SigningCertificate.objects.for_org(organisation).filter(user__isnull=True, is_active=True).update(
            is_active=False
        )
        stored = SigningCertificate.objects.create(
            organisation=organisation,
            user=None,
            pkcs12=wrapped,
            seal_secret=secret,
            created_by=actor,
            **_fields(certificate),
        )
        record(
            organisation=organisation,
            actor=actor,
            action="signatures.seal_set",
            summary=f"Cachet serveur « {stored.subject_cn} » déposé (empreinte {stored.fingerprint}).",
            obj=stored,
        )
    return stored


def deactivate_certificate(*, certificate: SigningCertificate, actor: Any) -> SigningCertificate:
    if not certificate.is_active:
        return certificate
    with transaction.atomic():
        SigningCertificate.objects.filter(pk=certificate.pk).update(is_active=False)
        certificate.is_active = False
        what = "Cachet serveur" if certificate.is_seal else "Certificat de signature"
        record(
            organisation=certificate.organisation,
            actor=actor,
            action="signatures.certificate_deactivated",
            summary=f"{what} « {certificate.subject_cn} » désactivé (empreinte {certificate.fingerprint}).",
            obj=certificate,
        )
    return certificate


def personal_certificates(organisation: Organisation, user: Any) -> list[SigningCertificate]:
    return list(
        SigningCertificate.objects.for_org(organisation).filter(user=user).order_by("-created_at", "-pk")
    )


def current_seal(organisation: Organisation) -> SigningCertificate | None:
    return (
        SigningCertificate.objects.for_org(organisation)
        .filter(user__isnull=True, is_active=True)
        .order_by("-created_at", "-pk")
        .first()
    )


def current_certificate(organisation: Organisation, user: Any) -> SigningCertificate | None:
    """The person's newest active certificate that is valid now."""
    now = timezone.now()
    return (
        SigningCertificate.objects.for_org(organisation)
        .filter(user=user, is_active=True, not_before__lte=now, not_after__gt=now)
        .order_by("-created_at", "-pk")
        .first()
    )


def load_signer(*, organisation: Organisation, user: Any = None, pin: str | None = None) -> Any:
    """A pyHanko ``SimpleSigner`` for ``sign_pdf``: the person's key unlocked by their PIN, or (``user``
    None) the organisation's server seal. ``SignatureError`` in French otherwise."""
    if user is None:
        stored = current_seal(organisation)
        if stored is None:
            raise SignatureError(
                "Aucun cachet serveur n'est enregistré pour cette organisation : un administrateur doit "
                "déposer le certificat du cachet (page « Cachet serveur »)."
            )
        if stored.not_after > timezone.now():
            with _seal_lock:
                cached = _seal_signers.get((stored.organisation_id, stored.fingerprint))
            if cached is not None:
                return cached
        secret = stored.seal_secret
    else:
        stored = current_certificate(organisation, user)
        if stored is None:
            raise SignatureError(
                "Aucun certificat de signature valide : déposez le vôtre sur la page « Mes certificats de "
                "signature »."
            )
        if not pin:
            raise SignatureError("Saisissez le code PIN de votre certificat de signature.")
        if stored.pin_locked_until is not None and stored.pin_locked_until > timezone.now():
            raise SignatureError(
                f"Trop de codes PIN erronés : votre certificat est bloqué jusqu'à "
                f"{timezone.localtime(stored.pin_locked_until):%H:%M}."
            )
        secret = pin
    if stored.not_after <= timezone.now():
        raise SignatureError(
            f"Le certificat « {stored.subject_cn} » a expiré le {_french_datetime(stored.not_after)}."
        )
    try:
        key, certificate, others = pkcs12.load_key_and_certificates(
            base64.b64decode(stored.pkcs12), secret.encode("utf-8")
        )
    except ValueError as exc:
        if user is None:
            raise SignatureError(
                "Le cachet serveur enregistré est illisible : déposez-le à nouveau."
            ) from exc
        _pin_failed(stored)
        raise SignatureError("Code PIN incorrect.") from exc
    if user is not None and stored.pin_failures:
        SigningCertificate.objects.filter(pk=stored.pk).update(pin_failures=0, pin_locked_until=None)
    if key is None or certificate is None:
        raise SignatureError("Le certificat enregistré n'a plus sa clé privée : déposez-le à nouveau.")
    signer = _loaded_signer(key, certificate, others)
    if user is None:
        with _seal_lock:
            if len(_seal_signers) >= SEAL_CACHE_SIZE:
                _seal_signers.pop(next(iter(_seal_signers)))
            _seal_signers[(stored.organisation_id, stored.fingerprint)] = signer
    return signer


# Server seals opened in this process, by organisation and certificate fingerprint (the fingerprint binds
# the public key, whose private key was checked to match at upload; ``current_seal`` decides which seal is
# in service, this only spares reopening it). A seal is used without a PIN anyway, so keeping it open
# spares the PKCS#12 opening (50 ms: cryptography checks the RSA key) at every signature. A person's key
# is never kept: their PIN unlocks it each time.
SEAL_CACHE_SIZE = 64
_seal_lock = threading.Lock()
_seal_signers: dict[tuple[int, str], Any] = {}


def _pin_failed(stored: SigningCertificate) -> None:
    """Count a wrong PIN (one conditional UPDATE); the last allowed one locks the key for a while.

    Written in the caller's transaction: a caller that rolls back on the error also rolls the count back,
    so callers should let the « Code PIN incorrect » error end their transaction normally (or call this
    outside of one)."""
    from django.db.models import F

    SigningCertificate.objects.filter(pk=stored.pk).update(pin_failures=F("pin_failures") + 1)
    stored.refresh_from_db(fields=["pin_failures"])
    if stored.pin_failures >= MAX_PIN_FAILURES:
        until = timezone.now() + dt.timedelta(minutes=PIN_LOCK_MINUTES)
        SigningCertificate.objects.filter(pk=stored.pk).update(pin_failures=0, pin_locked_until=until)


def _loaded_signer(key: Any, certificate: x509.Certificate, others: list[x509.Certificate]) -> Any:
    """A pyHanko ``SimpleSigner`` that keeps the private key loaded.

    pyHanko's own reloads the key from DER at every signature, and cryptography checks an RSA key at each
    load (40 ms for 2048 bits): the key opened once from the PKCS#12 signs directly instead."""
    from cryptography.hazmat.primitives.asymmetric.ec import ECDSA, EllipticCurvePrivateKey
    from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
    from pyhanko.keys.internal import (
        translate_pyca_cryptography_cert_to_asn1,
        translate_pyca_cryptography_key_to_asn1,
    )
    from pyhanko.sign.signers import SimpleSigner
    from pyhanko_certvalidator.registry import SimpleCertificateStore
    from pyhanko_certvalidator.util import get_pyca_cryptography_hash

    class LoadedSigner(SimpleSigner):
        def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
            try:
                mechanism = self.get_signature_mechanism_for_digest(digest_algorithm).signature_algo
            except ValueError:
                mechanism = ""
            hash_algorithm = get_pyca_cryptography_hash(digest_algorithm)
            if mechanism == "rsassa_pkcs1v15" and isinstance(key, RSAPrivateKey):
                return bytes(key.sign(data, PKCS1v15(), hash_algorithm))
            if mechanism == "ecdsa" and isinstance(key, EllipticCurvePrivateKey):
                return bytes(key.sign(data, ECDSA(hash_algorithm)))
            return bytes(super().sign_raw(data, digest_algorithm))  # PSS, EdDSA…: pyHanko's own way

    store = SimpleCertificateStore()
    store.register_multiple([translate_pyca_cryptography_cert_to_asn1(other) for other in others])
    return LoadedSigner(
        signing_cert=translate_pyca_cryptography_cert_to_asn1(certificate),
        signing_key=translate_pyca_cryptography_key_to_asn1(key),
        cert_registry=store,
    )
