"""Validation of the signatures of a PDF (pyHanko), offline, reported in plain French.

Trust: the roots given plus those of ``MAIRIE_SIGNATURE_TRUST_ROOTS`` (a PEM bundle). Nothing is ever
fetched online (no CRL, OCSP or AIA: ``allow_fetching=False``): « intègre » and « valide » never depend on
the network; « reconnu » means the certificate chains to one of those roots.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import io
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from mairie.signatures.pades import check_pdf_bytes
from mairie.signatures.services import SignatureError

logger = logging.getLogger("mairie.signatures")


def _drop_validation_warnings(record: logging.LogRecord) -> bool:
    """pyHanko logs a warning with a traceback for every certificate it cannot chain to a trusted root;
    the report already says it (« Certificat non reconnu »), in French: those warnings are dropped."""
    return record.levelno != logging.WARNING


logging.getLogger("pyhanko.sign.validation.generic_cms").addFilter(_drop_validation_warnings)

# pyHanko's ModificationLevel names → what was changed after the signature, in French.
MODIFICATION_NOTES = {
    "NONE": "Aucune modification après la signature.",
    "LTA_UPDATES": "Ajouts d'informations de validation ou d'horodatage seulement (sans effet sur le contenu).",
    "FORM_FILLING": "Ajouts de signatures ou de champs de formulaire seulement (permis après une signature).",
    "ANNOTATIONS": "Annotations ajoutées après la signature (commentaires, surlignages) : le contenu signé est "
    "intact, mais vérifiez-les.",
    "OTHER": "Le document a été modifié après la signature : le contenu affiché n'est plus celui qui a été "
    "signé.",
}


@dataclass
class SignatureReport:
    field: str
    signer: str
    signing_time: dt.datetime | None
    intact: bool
    valid: bool
    trusted: bool
    covers_whole_document: bool
    modification_level: str  # NONE, LTA_UPDATES, FORM_FILLING, ANNOTATIONS, OTHER, or "" when unknown
    modification_note: str
    timestamp: dt.datetime | None
    problems: list[str] = dataclasses.field(default_factory=list)
    issuer: str = ""
    fingerprint: str = ""  # SHA-256 of the signer's certificate, hex
    reason: str = ""
    location: str = ""

    @property
    def broken(self) -> bool:
        """Not intact or not cryptographically valid: what makes ``mairie pdf verify`` exit 1."""
        return not (self.intact and self.valid)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("signing_time", "timestamp"):
            value = data[key]
            data[key] = value.isoformat() if value is not None else None
        return data


def _load_certificates(data: bytes, origin: str) -> list[Any]:
    from asn1crypto import pem
    from asn1crypto import x509 as asn1_x509

    try:
        if pem.detect(data):
            return [asn1_x509.Certificate.load(der) for _, _, der in pem.unarmor(data, multiple=True)]
        return [asn1_x509.Certificate.load(data)]
    except Exception as exc:
        raise SignatureError(f"Certificats de confiance illisibles ({origin}) : {exc}") from exc


def _as_asn1(root: Any) -> list[Any]:
    """A trust root given as asn1crypto or cryptography certificate, PEM/DER bytes, or a path."""
    from asn1crypto import x509 as asn1_x509

    if isinstance(root, asn1_x509.Certificate):
        return [root]
    if hasattr(root, "public_bytes"):  # cryptography's x509.Certificate
        from cryptography.hazmat.primitives.serialization import Encoding

        return [asn1_x509.Certificate.load(root.public_bytes(Encoding.DER))]
    if isinstance(root, bytes | bytearray):
        return _load_certificates(bytes(root), "certificats fournis")
    if isinstance(root, str | Path):
        try:
            return _load_certificates(Path(root).read_bytes(), str(root))
        except OSError as exc:
            raise SignatureError(f"Fichier de certificats de confiance illisible : {root} ({exc}).") from exc
    raise TypeError(f"Racine de confiance d'un type inattendu : {type(root).__name__}")


def load_trust_roots(extra: list[Any] | None = None) -> list[Any]:
    roots: list[Any] = []
    for root in extra or []:
        roots += _as_asn1(root)
    configured = settings.SIGNATURE_TRUST_ROOTS
    if configured:
        path = Path(configured)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SignatureError(
                f"MAIRIE_SIGNATURE_TRUST_ROOTS : fichier illisible ({path}) : {exc.strerror or exc}."
            ) from exc
        roots += _load_certificates(data, f"MAIRIE_SIGNATURE_TRUST_ROOTS, {path}")
    return roots


def _common_name(certificate: Any) -> str:
    if certificate is None:
        return ""
    try:
        native = certificate.subject.native
        return str(native.get("common_name") or certificate.subject.human_friendly)
    except Exception:
        return ""


def _fail_report(name: str, embedded: Any, exc: Exception) -> SignatureReport:
    signer = ""
    with contextlib.suppress(Exception):  # the certificate itself may be what is unreadable
        signer = _common_name(embedded.signer_cert)
    return SignatureReport(
        field=name,
        signer=signer,
        signing_time=None,
        intact=False,
        valid=False,
        trusted=False,
        covers_whole_document=False,
        modification_level="",
        modification_note="",
        timestamp=None,
        problems=[f"Signature illisible ou endommagée : elle ne peut pas être vérifiée ({exc})."],
    )


def _report(embedded: Any, roots: list[Any]) -> SignatureReport:
    import hashlib

    from pyhanko.sign.validation import SignatureCoverageLevel, validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    name = str(embedded.field_name or "")
    try:
        status = validate_pdf_signature(
            embedded,
            signer_validation_context=ValidationContext(trust_roots=roots, allow_fetching=False),
            ts_validation_context=ValidationContext(trust_roots=roots, allow_fetching=False),
        )
    except Exception as exc:
        logger.info("Signature %s invérifiable : %s", name, exc)
        return _fail_report(name, embedded, exc)
    certificate = status.signing_cert
    level = status.modification_level.name if status.modification_level is not None else ""
    covers = status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    timestamp = None
    problems: list[str] = []
    ts_status = status.timestamp_validity
    if ts_status is not None:
        timestamp = ts_status.timestamp
        if not (ts_status.intact and ts_status.valid):
            problems.append("Le jeton d'horodatage est invalide : la date qu'il porte n'est pas prouvée.")
        elif not ts_status.trusted:
            problems.append("L'autorité d'horodatage n'est pas reconnue.")
    if not status.intact:
        problems.append("Le document a été altéré : les octets signés ont changé depuis la signature.")
    elif not status.valid:
        problems.append(
            "La signature ne correspond pas au certificat (signature cryptographiquement invalide)."
        )
    if not status.trusted:
        problems.append(
            "Le certificat du signataire n'est pas reconnu : il ne remonte à aucune autorité de "
            "certification de confiance configurée (ou il a expiré, ou son usage ne permet pas de signer)."
        )
    if status.coverage is not None and status.coverage < SignatureCoverageLevel.ENTIRE_REVISION:
        problems.append("La signature ne couvre qu'une partie du fichier (structure inhabituelle).")
    if not covers and level == "OTHER":
        problems.append(MODIFICATION_NOTES["OTHER"])
    elif status.docmdp_ok is False:
        problems.append(
            "Des modifications interdites par le premier signataire ont été faites après la signature."
        )
    fingerprint = hashlib.sha256(certificate.dump()).hexdigest() if certificate is not None else ""
    signed = embedded.sig_object
    return SignatureReport(
        field=name,
        signer=_common_name(certificate),
        signing_time=status.signer_reported_dt,
        intact=bool(status.intact),
        valid=bool(status.intact and status.valid),
        trusted=bool(status.trusted),
        covers_whole_document=covers,
        modification_level=level,
        modification_note=MODIFICATION_NOTES.get(level, ""),
        timestamp=timestamp,
        problems=problems,
        issuer=_common_name_of_name(certificate.issuer) if certificate is not None else "",
        fingerprint=fingerprint,
        reason=str(signed.get("/Reason", "") or ""),
        location=str(signed.get("/Location", "") or ""),
    )


def _common_name_of_name(name: Any) -> str:
    try:
        return str(name.native.get("common_name") or name.human_friendly)
    except Exception:
        return ""


def verify_pdf(pdf: bytes, *, trust_roots: list[Any] | None = None) -> list[SignatureReport]:
    """One report per signature of ``pdf``, in the document's order (empty: no signature).

    ``SignatureError`` (French) when the file is not a PDF or cannot be read."""
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.pdf_utils.reader import PdfFileReader

    check_pdf_bytes(pdf)
    roots = load_trust_roots(trust_roots)
    try:
        reader = PdfFileReader(io.BytesIO(bytes(pdf)), strict=False)
        if reader.encrypted:
            raise SignatureError(
                "Ce PDF est chiffré par un mot de passe : ses signatures ne peuvent pas être lues."
            )
        signatures = list(reader.embedded_regular_signatures)
    except SignatureError:
        raise
    except (PdfError, ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise SignatureError(f"PDF illisible ou endommagé : {exc}") from exc
    return [_report(embedded, roots) for embedded in signatures]


def _french(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    return f"{local:%d/%m/%Y} à {local:%H:%M:%S}"


def report_context(reports: list[SignatureReport]) -> dict[str, Any]:
    """What ``signatures/_report.html`` shows: one row of plain French per signature, and a verdict."""
    rows = []
    for report in reports:
        rows.append(
            {
                "report": report,
                "field": report.field,
                "signer": report.signer or "Inconnu",
                "issuer": report.issuer,
                "integrity": "Intègre" if report.intact else "Altéré",
                "integrity_ok": report.intact,
                "validity": "Valide" if report.valid else "Invalide",
                "valid": report.valid,
                "date": _french(report.signing_time) or "Non indiquée",
                "coverage": (
                    "Couvre tout le document"
                    if report.covers_whole_document
                    else "Ne couvre pas tout le document (des ajouts ont suivi)"
                ),
                "covers": report.covers_whole_document,
                "modification_note": report.modification_note,
                "timestamp": (
                    f"Horodaté le {_french(report.timestamp)}" if report.timestamp else "Pas d'horodatage"
                ),
                "has_timestamp": report.timestamp is not None,
                "trust": "Certificat reconnu" if report.trusted else "Certificat non reconnu",
                "trusted": report.trusted,
                "reason": report.reason,
                "location": report.location,
                "fingerprint": report.fingerprint,
                "problems": report.problems,
                "ok": report.intact and report.valid and report.trusted and not report.problems,
            }
        )
    broken = [r for r in reports if r.broken]
    if not reports:
        verdict = "Aucune signature dans ce fichier."
    elif broken:
        verdict = f"{len(broken)} signature(s) sur {len(reports)} altérée(s) ou invalide(s)."
    elif all(r.trusted for r in reports):
        verdict = f"{len(reports)} signature(s) intègre(s), valide(s) et reconnue(s)."
    else:
        verdict = f"{len(reports)} signature(s) intègre(s) et valide(s), certificat(s) non reconnu(s)."
    return {"signatures": rows, "verdict": verdict, "all_ok": bool(reports) and all(r["ok"] for r in rows)}
