"""B11 — electronic signatures: PDFs signed per second (PAdES B-B, server seal) and validated per second.

One child process pinned to one core, on a fresh SQLite platform. The document is a two-page letter as the
platform renders it (WeasyPrint, PDF/A-3b, ``mairie.testing.pki.sample_letter_pdf``); the key, a 2048-bit
RSA server seal of the test PKI, is stored by ``signatures.services.set_server_seal``.

- *Platform, sign*: ``load_signer(organisation=…)`` (the seal read from the database, decrypted at rest,
  PKCS#12 opened) then ``pades.sign_pdf`` (free place for the visible block found on the last page, block
  drawn with an embedded font subset, incremental update), once per document, as the parapheur does.
- *Reference, sign*: a raw pyHanko ``signers.sign_pdf`` of the same bytes with the same key already loaded
  (``SimpleSigner.load_pkcs12_data`` once) and the same room reserved for the CMS blob: an invisible PAdES
  signature, no database, no block. pyHanko's ``SimpleSigner`` reloads its key from DER at every signature,
  and cryptography checks an RSA key at each load (about 40 ms for 2048 bits); the platform's signer keeps
  the key it opened (``signatures.services._loaded_signer``), and a seal stays open in the process.
- *Platform, validate*: ``verify.verify_pdf(signed, trust_roots=[CA])`` — parsing, each signature checked
  (integrity, CMS signature, chain to the root, modification analysis), the French report.
- *Reference, validate*: raw ``validate_pdf_signature`` of the reference's signature with a
  ``ValidationContext`` holding the same root.

Each is timed over the same number of documents after two unmeasured warm-up rounds; the medians of the
per-document wall times give the rates.
"""

from __future__ import annotations

import io
import os
import time
from typing import Any

from mairie.bench.common import PINNED_CPU, Databases, Options, Section, fmt, log, median, run_child, table

DOCUMENTS = 60
QUICK_DOCUMENTS = 5
WARMUP = 2


def _timed(function: Any, count: int) -> tuple[list[float], Any]:
    times: list[float] = []
    result = None
    for _ in range(count):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return times, result


def child_measure(params: dict[str, Any]) -> dict[str, Any]:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign import fields, signers
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    from mairie.organisations.services import create_organisation
    from mairie.signatures.pades import _bytes_reserved, sign_pdf
    from mairie.signatures.services import load_signer, set_server_seal
    from mairie.signatures.verify import load_trust_roots, verify_pdf
    from mairie.testing.pki import TestPKI, sample_letter_pdf

    count = params["documents"]
    pki = TestPKI.create()
    seal = pki.seal("Saint-Aubin-les-Vignes")
    organisation = create_organisation(
        actor=None, slug="b11-saint-aubin", name="Saint-Aubin-les-Vignes", kind="commune"
    )
    set_server_seal(organisation=organisation, data=seal.p12(), password=seal.password)
    letter = sample_letter_pdf()
    [asn1_root] = load_trust_roots([pki.root])

    def platform_sign() -> bytes:
        signer = load_signer(organisation=organisation)
        return sign_pdf(
            letter,
            signer=signer,
            signer_name="Saint-Aubin-les-Vignes",
            signer_role="Cachet serveur",
            reason="Accusé de réception",
        )

    raw_signer = signers.SimpleSigner.load_pkcs12_data(seal.p12(), [], passphrase=seal.password.encode())
    reserved = _bytes_reserved(raw_signer, timestamped=False)

    def raw_sign() -> bytes:
        meta = signers.PdfSignatureMetadata(
            field_name="Signature1", md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES
        )
        writer = IncrementalPdfFileWriter(io.BytesIO(letter), strict=False)
        # The same room for the CMS blob as the platform's (else pyHanko signs twice, once to measure).
        return bytes(signers.sign_pdf(writer, meta, signer=raw_signer, bytes_reserved=reserved).getvalue())

    for _ in range(WARMUP):  # imports, the font subset, the database connection
        platform_sign()
        raw_sign()
    sign_times, signed = _timed(platform_sign, count)
    raw_sign_times, raw_signed = _timed(raw_sign, count)

    def platform_verify() -> list[Any]:
        return verify_pdf(signed, trust_roots=[pki.root])

    def raw_verify() -> Any:
        reader = PdfFileReader(io.BytesIO(raw_signed), strict=False)
        context = ValidationContext(trust_roots=[asn1_root], allow_fetching=False)
        return validate_pdf_signature(reader.embedded_signatures[0], signer_validation_context=context)

    for _ in range(WARMUP):
        platform_verify()
        raw_verify()
    verify_times, reports = _timed(platform_verify, count)
    raw_verify_times, raw_status = _timed(raw_verify, count)
    [report] = reports
    return {
        "sign": sign_times,
        "raw_sign": raw_sign_times,
        "verify": verify_times,
        "raw_verify": raw_verify_times,
        "letter_bytes": len(letter),
        "signed_bytes": len(signed),
        "raw_signed_bytes": len(raw_signed),
        "report_ok": report.intact and report.valid and report.trusted and report.covers_whole_document,
        "raw_ok": bool(raw_status.intact and raw_status.valid and raw_status.trusted),
        "affinity": sorted(os.sched_getaffinity(0)),
    }


def run(opts: Options, dbs: Databases) -> Section:
    count = opts.pick(DOCUMENTS, QUICK_DOCUMENTS)
    target = dbs.fresh("sqlite", "b11")
    log(f"B11: {count} signatures (seal, B-B) and validations of a 2-page letter, platform vs raw pyHanko…")
    out = run_child("b11", {"documents": count}, target, cpu=PINNED_CPU)
    rates = {key: 1 / median(out[key]) for key in ("sign", "raw_sign", "verify", "raw_verify")}
    sign_ratio = rates["sign"] / rates["raw_sign"]
    verify_ratio = rates["verify"] / rates["raw_verify"]
    problems = []
    if not out["report_ok"]:
        problems.append("the platform's signature did not validate as intact, valid, trusted and whole")
    if not out["raw_ok"]:
        problems.append("the reference signature did not validate")
    body = (
        f"{count} documents each way after {WARMUP} warm-up rounds; a 2-page WeasyPrint letter (PDF/A-3b, "
        f"{out['letter_bytes'] / 1024:.0f} kB), signed with the organisation's server seal (RSA 2048, PAdES "
        f"B-B, no timestamp); one child process pinned to CPU {out['affinity']}, SQLite; median wall time per "
        "document. *Platform*: `load_signer` + `sign_pdf` (visible block placed and drawn) / `verify_pdf` "
        "(French report). *Reference*: raw pyHanko with the key already loaded, invisible signature / "
        "`validate_pdf_signature` alone. The platform keeps a seal it has opened (per process) and "
        "signs with the loaded key; pyHanko's `SimpleSigner` reloads its key from DER at every signature, and "
        "cryptography re-checks an RSA key at each load (about 40 ms for 2048 bits).\n\n"
        + table(
            ["", "platform per second", "platform ms", "raw pyHanko per second", "raw ms", "platform / raw"],
            [
                [
                    "sign",
                    fmt(rates["sign"], 1),
                    fmt(1000 / rates["sign"], 1),
                    fmt(rates["raw_sign"], 1),
                    fmt(1000 / rates["raw_sign"], 1),
                    f"{sign_ratio * 100:.0f} %",
                ],
                [
                    "validate",
                    fmt(rates["verify"], 1),
                    fmt(1000 / rates["verify"], 1),
                    fmt(rates["raw_verify"], 1),
                    fmt(1000 / rates["raw_verify"], 1),
                    f"{verify_ratio * 100:.0f} %",
                ],
            ],
        )
        + f"\n\nSigned file: {out['signed_bytes'] / 1024:.0f} kB (reference: {out['raw_signed_bytes'] / 1024:.0f} kB; "
        "the difference is the visible block's appearance and its embedded font subset)."
    )
    if problems:
        body += "\n\n**Problems:** " + " · ".join(problems)
    verdict = (
        f"{rates['sign']:.1f} PDFs signed/s ({sign_ratio * 100:.0f} % of raw pyHanko's {rates['raw_sign']:.1f}/s), "
        f"{rates['verify']:.1f} validated/s ({verify_ratio * 100:.0f} % of raw {rates['raw_verify']:.1f}/s)"
    )
    if problems:
        verdict += " — **" + " · ".join(problems) + "**"
    return Section("B11", "B11 — electronic signatures", body, verdict)
