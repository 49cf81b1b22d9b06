"""A throw-away public key infrastructure for tests, benchmarks and the demo — never for production.

``TestPKI.create()`` builds a root CA with ``cryptography``; from it:

- ``person(name)``: a person's signing certificate and its PKCS#12 (protected by a password);
- ``seal(org_name)``: an organisation's server seal (*cachet serveur*);
- ``expired(name)``: a certificate whose validity ended yesterday;
- ``encryption_only(name)``: a certificate whose key usage does not allow signing;
- ``tsa()``: a time-stamping authority's certificate (extended key usage ``timeStamping``).

``sample_letter_pdf()`` is a letter as the platform renders it (WeasyPrint, PDF/A-3b), to be signed.

``TimestampServer`` is a real RFC 3161 server over HTTP on loopback (``http.server`` in a thread around
pyHanko's ``DummyTimeStamper``), so that pyHanko's ``HTTPTimeStamper`` client is exercised for real.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

P12_PASSWORD = "Mot-de-passe-P12-42"
KEY_SIZE = 2048


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _name(common_name: str, organisation: str = "") -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COUNTRY_NAME, "FR")]
    if organisation:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)


@dataclass
class Issued:
    """A certificate, its private key and the PKCS#12 of both (with the CA), protected by ``password``."""

    certificate: x509.Certificate
    key: Any  # RSA (default) or EC private key
    ca: x509.Certificate
    password: str = P12_PASSWORD

    @property
    def common_name(self) -> str:
        return str(self.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)

    def p12(self, password: str | None = None) -> bytes:
        secret = (self.password if password is None else password).encode()
        return pkcs12.serialize_key_and_certificates(
            self.common_name.encode(),
            self.key,
            self.certificate,
            [self.ca],
            serialization.BestAvailableEncryption(secret),
        )

    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def asn1(self) -> tuple[Any, Any]:
        """(asn1crypto certificate, asn1crypto private key info), as pyHanko takes them."""
        from asn1crypto import keys
        from asn1crypto import x509 as asn1_x509

        der_key = self.key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return (
            asn1_x509.Certificate.load(self.certificate.public_bytes(serialization.Encoding.DER)),
            keys.PrivateKeyInfo.load(der_key),
        )


@dataclass
class TestPKI:
    root: x509.Certificate
    root_key: rsa.RSAPrivateKey
    _serial: int = field(default=1000)

    __test__ = False  # not a pytest test class

    @classmethod
    def create(cls, name: str = "Autorité de test Mairie") -> TestPKI:
        key = _key()
        subject = _name(name, "Plateforme Mairie (tests)")
        now = _now()
        root = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(root=root, root_key=key)

    def root_pem(self) -> bytes:
        return self.root.public_bytes(serialization.Encoding.PEM)

    def issue(
        self,
        common_name: str,
        *,
        organisation: str = "",
        signing: bool = True,
        time_stamping: bool = False,
        elliptic: bool = False,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        password: str = P12_PASSWORD,
    ) -> Issued:
        key: Any = ec.generate_private_key(ec.SECP256R1()) if elliptic else _key()
        now = _now()
        self._serial += 1
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name, organisation))
            .issuer_name(self.root.subject)
            .public_key(key.public_key())
            .serial_number(self._serial)
            .not_valid_before(not_before or now - dt.timedelta(hours=1))
            .not_valid_after(not_after or now + dt.timedelta(days=3 * 365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=signing,
                    content_commitment=signing,
                    key_encipherment=not signing,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.root_key.public_key()), critical=False
            )
        )
        if time_stamping:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
            )
        certificate = builder.sign(self.root_key, hashes.SHA256())
        return Issued(certificate=certificate, key=key, ca=self.root, password=password)

    def person(
        self, name: str, *, organisation: str = "", password: str = P12_PASSWORD, elliptic: bool = False
    ) -> Issued:
        return self.issue(name, organisation=organisation, password=password, elliptic=elliptic)

    def seal(self, organisation_name: str) -> Issued:
        return self.issue(f"Cachet serveur — {organisation_name}", organisation=organisation_name)

    def expired(self, name: str) -> Issued:
        now = _now()
        return self.issue(name, not_before=now - dt.timedelta(days=400), not_after=now - dt.timedelta(days=1))

    def not_yet_valid(self, name: str) -> Issued:
        now = _now()
        return self.issue(
            name, not_before=now + dt.timedelta(days=10), not_after=now + dt.timedelta(days=400)
        )

    def encryption_only(self, name: str) -> Issued:
        return self.issue(name, signing=False)

    def tsa(self, name: str = "Horodatage de test Mairie") -> Issued:
        return self.issue(name, organisation="Plateforme Mairie (tests)", time_stamping=True)


class TimestampServer:
    """An RFC 3161 time-stamping server over HTTP on 127.0.0.1 (a thread), signing with ``tsa``."""

    def __init__(self, tsa: Issued) -> None:
        from pyhanko.sign.timestamps import DummyTimeStamper

        certificate, key = tsa.asn1()
        self.stamper = DummyTimeStamper(tsa_cert=certificate, tsa_key=key)
        self.requests = 0
        self.last_error = ""
        stamper = self.stamper
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                from asn1crypto import tsp

                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                try:
                    request = tsp.TimeStampReq.load(body)
                    answer = stamper.request_tsa_response(request).dump()
                except Exception as exc:  # a malformed request: the answer RFC 3161 asks for is an HTTP error
                    server.last_error = repr(exc)
                    self.send_error(400, "Bad timestamp request")
                    return
                server.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="tsa", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}/tsa"

    def start(self) -> TimestampServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def sample_letter_pdf(paragraphs: int = 14) -> bytes:
    """A letter of Saint-Aubin as the platform renders it (WeasyPrint, PDF/A-3b), two pages by default."""
    from mairie.letters.merge import Signer
    from mairie.letters.pdf import Letter, render_pdf
    from mairie.organisations.models import Organisation

    organisation = Organisation(
        name="Saint-Aubin-les-Vignes",
        slug="saint-aubin",
        address_line1="Place de la Mairie",
        postal_code="34980",
        city="Saint-Aubin-les-Vignes",
        phone="04 67 00 00 00",
        email="mairie@saint-aubin.example",
    )
    text = (
        "Nous accusons réception de votre demande de permis de construire déposée pour la parcelle AB 12. "
        "Le service de l'urbanisme l'instruira dans le délai légal de deux mois ; une pièce manquante vous "
        "serait réclamée par courrier recommandé avec accusé de réception, dans le mois qui suit le dépôt."
    )
    return render_pdf(
        Letter(
            organisation=organisation,
            recipient_name="Madame Élodie Garçon",
            recipient_address="12 rue des Écoles\n34980 Saint-Aubin-les-Vignes",
            subject="Votre demande de permis de construire",
            body="\n\n".join([text] * paragraphs),
            signer=Signer(name="Hélène Roussel", title="Maire"),
            date=dt.date(2026, 11, 29),
        )
    )
