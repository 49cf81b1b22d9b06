"""PAdES signing (sign_pdf) and validation (verify_pdf), with the test PKI and a real RFC 3161 server."""

from __future__ import annotations

import io

import pikepdf
import pytest

from mairie.signatures.pades import sign_pdf
from mairie.signatures.services import SignatureError
from mairie.signatures.tests.helpers import flip_byte_in_signed_range, page_text, signer_of, widget_rects
from mairie.signatures.verify import verify_pdf


@pytest.fixture(scope="module")
def signed_once(keys, letter_pdf):
    return sign_pdf(
        letter_pdf,
        signer=signer_of(keys.mayor),
        signer_name="Hélène Roussel",
        signer_role="Maire de Saint-Aubin-les-Vignes",
        reason="Réponse à une demande de permis",
        location="Saint-Aubin-les-Vignes",
    )


def test_signed_letter_is_intact_valid_trusted_and_covers_everything(keys, letter_pdf, signed_once):
    assert signed_once.startswith(letter_pdf)  # incremental update: the original bytes are kept as they are
    [report] = verify_pdf(signed_once, trust_roots=[keys.root])
    assert report.signer == "Hélène Roussel"
    assert report.intact and report.valid and report.trusted
    assert report.covers_whole_document
    assert report.modification_level == "NONE"
    assert report.signing_time is not None and report.timestamp is None  # B-B: no timestamp
    assert report.reason == "Réponse à une demande de permis"
    assert report.problems == []
    data = report.to_json()
    assert data["signing_time"] == report.signing_time.isoformat() and data["timestamp"] is None
    assert data["problems"] == [] and data["trusted"] is True


def test_without_the_ca_the_signature_is_valid_but_not_trusted(signed_once):
    [report] = verify_pdf(signed_once)
    assert report.intact and report.valid
    assert not report.trusted
    assert any("n'est pas reconnu" in problem for problem in report.problems)


def test_trust_roots_from_the_setting(settings, tmp_path, keys, signed_once):
    bundle = tmp_path / "racines.pem"
    bundle.write_bytes(keys.pki.root_pem())
    settings.SIGNATURE_TRUST_ROOTS = str(bundle)
    [report] = verify_pdf(signed_once)
    assert report.trusted
    settings.SIGNATURE_TRUST_ROOTS = str(tmp_path / "absent.pem")
    with pytest.raises(SignatureError, match="MAIRIE_SIGNATURE_TRUST_ROOTS"):
        verify_pdf(signed_once)


def test_visible_block_shows_name_role_and_french_date_on_the_last_page(signed_once):
    last = page_text(signed_once, 2)
    assert "Hélène Roussel" in last
    assert "Maire de Saint-Aubin-les-Vignes" in last
    assert "Signé le " in last and " à " in last.split("Signé le ", 1)[1].splitlines()[0]
    assert "Signé le" not in page_text(signed_once, 1)
    [(page, rect)] = widget_rects(signed_once).values()
    assert page == 1
    with pikepdf.open(io.BytesIO(signed_once)) as pdf:
        width = float(pdf.pages[1].mediabox[2])
    assert rect[2] > width / 2  # right half of the page


def test_block_does_not_cover_the_text_of_the_page(letter_pdf, signed_once):
    import pypdfium2 as pdfium

    [(page, rect)] = widget_rects(signed_once).values()
    textpage = pdfium.PdfDocument(letter_pdf)[page].get_textpage()
    lines = [textpage.get_rect(i) for i in range(textpage.count_rects())]
    assert lines
    for left, bottom, right, top in lines:
        assert not (rect[0] < right and left < rect[2] and rect[1] < top and bottom < rect[3]), (rect, lines)


def test_signed_pdfa_keeps_its_pdfa_identification(signed_once):
    with pikepdf.open(io.BytesIO(signed_once)) as pdf:
        assert pdf.open_metadata().pdfa_status == "3B"


def test_one_altered_byte_in_the_signed_range_is_detected(keys, signed_once):
    [report] = verify_pdf(flip_byte_in_signed_range(signed_once), trust_roots=[keys.root])
    assert not report.intact
    assert not report.valid
    assert report.broken
    assert any("altéré" in problem for problem in report.problems)


def test_a_second_signature_keeps_the_first_valid(keys, signed_once):
    twice = sign_pdf(
        signed_once, signer=signer_of(keys.secretary), signer_name="Sylvie Marchand", signer_role="Secrétaire"
    )
    assert twice.startswith(signed_once)
    first, second = verify_pdf(twice, trust_roots=[keys.root])
    assert (first.field, second.field) == ("Signature1", "Signature2")
    assert first.signer == "Hélène Roussel" and second.signer == "Sylvie Marchand"
    assert first.intact and first.valid and first.trusted
    assert not first.covers_whole_document
    assert first.modification_level == "FORM_FILLING" and first.problems == []
    assert second.intact and second.valid and second.trusted and second.covers_whole_document
    # The two blocks do not overlap.
    rects = widget_rects(twice)
    (p1, r1), (p2, r2) = rects["Signature1"], rects["Signature2"]
    assert p1 == p2 == 1
    assert not (r1[0] < r2[2] and r2[0] < r1[2] and r1[1] < r2[3] and r2[1] < r1[3])
    assert "Sylvie Marchand" in page_text(twice, 2) and "Hélène Roussel" in page_text(twice, 2)


def test_content_changed_after_signing_is_reported(keys, signed_once):
    """An incremental update that rewrites the page (not a signature) is « OTHER »: the signed content moved."""
    with pikepdf.open(io.BytesIO(signed_once)) as pdf:
        page = pdf.pages[0]
        page.contents_add(pikepdf.Stream(pdf, b"BT /F1 24 Tf 100 100 Td (Falsifie) Tj ET"), prepend=False)
        out = io.BytesIO()
        pdf.save(out)
    # pikepdf rewrites the whole file: the signature no longer matches any byte range.
    reports = verify_pdf(out.getvalue(), trust_roots=[keys.root])
    assert all(report.broken for report in reports)


def test_b_t_signature_carries_a_timestamp_from_the_http_tsa(keys, letter_pdf, tsa_url, tsa_server):
    before = tsa_server.requests
    tsa_server.last_error = ""
    signed = sign_pdf(
        letter_pdf, signer=signer_of(keys.seal), signer_name="Saint-Aubin", signer_role="Cachet"
    )
    assert tsa_server.last_error == ""
    assert tsa_server.requests == before + 1  # pyHanko's HTTPTimeStamper really spoke to the server
    [report] = verify_pdf(signed, trust_roots=[keys.root])
    assert report.timestamp is not None
    assert abs((report.timestamp - report.signing_time).total_seconds()) < 60
    assert report.intact and report.valid and report.trusted and report.problems == []
    [untrusted] = verify_pdf(signed)
    assert untrusted.timestamp is not None and not untrusted.trusted


def test_tsa_unreachable_refuses_to_sign(settings, keys, letter_pdf):
    settings.TSA_URL = "http://127.0.0.1:9/tsa"
    settings.TSA_TIMEOUT_SECONDS = 2
    with pytest.raises(SignatureError, match="Horodatage impossible"):
        sign_pdf(letter_pdf, signer=signer_of(keys.seal), signer_name="Saint-Aubin", signer_role="Cachet")


def test_page_argument_and_missing_page(keys, letter_pdf):
    signed = sign_pdf(letter_pdf, signer=signer_of(keys.seal), signer_name="X", signer_role="Y", page=0)
    assert [page for page, _ in widget_rects(signed).values()] == [0]
    with pytest.raises(SignatureError, match="inexistante"):
        sign_pdf(letter_pdf, signer=signer_of(keys.seal), signer_name="X", signer_role="Y", page=5)


def test_not_a_pdf_and_corrupt_pdf_are_refused_in_french(keys, text_pdf):
    signer = signer_of(keys.seal)
    with pytest.raises(SignatureError, match="n'est pas un PDF"):
        sign_pdf(b"GIF89a...", signer=signer, signer_name="X", signer_role="Y")
    with pytest.raises(SignatureError, match="n'est pas un PDF"):
        verify_pdf(b"Bonjour")
    broken = b"%PDF-1.7\n" + b"\x00garbage" * 50
    with pytest.raises(SignatureError, match="illisible ou endommagé"):
        verify_pdf(broken)
    with pytest.raises(SignatureError, match="illisible ou endommagé"):
        sign_pdf(broken, signer=signer, signer_name="X", signer_role="Y")


def test_unsigned_pdf_has_no_report(text_pdf):
    assert verify_pdf(text_pdf("Aucune signature ici.")) == []


def test_a_full_page_gets_the_block_at_the_bottom_right(keys, text_pdf):
    """No free room: the block goes to the bottom right corner anyway (it then covers some text)."""
    from mairie.signatures.pades import MARGIN, place_block

    full = text_pdf(
        "\n".join(f"Ligne {n} du procès-verbal, pleine de texte jusqu'au bord." * 2 for n in range(60))
    )
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(full)
    assert len(document) > 1
    width, index = document[0].get_width(), 0  # the first page is full
    textpage = document[index].get_textpage()
    lines = [textpage.get_rect(i) for i in range(textpage.count_rects())]
    left, bottom, right, top = place_block(full, index, [])
    assert bottom == round(MARGIN) and right == round(width - MARGIN)
    assert any(left < r and x < right and bottom < t and b < top for x, b, r, t in lines)
    document.close()
