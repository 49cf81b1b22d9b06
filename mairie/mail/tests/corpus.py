"""A corpus of real-world-shaped e-mail messages, as raw bytes, with what intake must read in each.

Plain functions of the standard library, Pillow and pikepdf: importable without Django (the IMAP tests,
the benchmarks and the parsing tests share it). ``CORPUS`` builds each message the first time it is read;
the 15 MB one is only in ``CORPUS`` when asked for by name (``CORPUS["large"]``), not when iterating.

    from mairie.mail.tests.corpus import CORPUS, EXPECTED, corpus_messages
    for name, raw in corpus_messages():  # every message but the large one
        ...
"""

from __future__ import annotations

import base64
import io
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP

from mairie.mail import tnef

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
DOMAIN = "saint-aubin.example"
MAIRIE = f"mairie@{DOMAIN}"


# --- Files the messages carry ------------------------------------------------------------------------


def _pdf_string(text: str) -> bytes:
    data = text.encode("cp1252", errors="replace")
    return b"(" + data.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def text_pdf(*lines: str, padding: int = 0, seed: int = 0) -> bytes:
    """A one-page PDF with a real text layer (Helvetica, WinAnsi: French accents and € read back).

    ``padding`` adds that many random (incompressible) bytes in an unused stream: a large yet valid PDF.
    """
    content = (
        b"BT /F1 12 Tf 60 780 Td 16 TL " + b" ".join(_pdf_string(line) + b" '" for line in lines) + b" ET"
    )
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R" + (b" /MairieTestPadding 6 0 R" if padding else b"") + b" >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >>"
        b" /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length " + str(len(content)).encode() + b" >>\nstream\n" + content + b"\nendstream",
    ]
    if padding:
        blob = random.Random(seed).randbytes(padding)
        objects.append(b"<< /Length " + str(len(blob)).encode() + b" >>\nstream\n" + blob + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def png(
    size: tuple[int, int] = (40, 20), *, noise: bool = False, color: tuple[int, int, int] = (30, 80, 160)
) -> bytes:
    """A PNG: a flat logo (a few hundred bytes), or a noisy photo (incompressible, larger than 15 KB)."""
    from PIL import Image

    image = Image.new("RGB", size, color)
    if noise:
        image = Image.frombytes("RGB", size, random.Random(size[0]).randbytes(size[0] * size[1] * 3))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# --- Helpers -----------------------------------------------------------------------------------------


def _headers(
    message: EmailMessage,
    *,
    subject: str,
    sender: str,
    msgid: str,
    date: str = "Tue, 06 Jan 2026 10:15:00 +0100",
    to: str = MAIRIE,
) -> EmailMessage:
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = date
    message["Message-ID"] = msgid
    return message


def _bytes(message: EmailMessage) -> bytes:
    return message.as_bytes(policy=SMTP)


def _crlf(text: str) -> bytes:
    """Hand-written raw message (``str`` with only ASCII, or latin-1 for 8-bit bytes) with CRLF line ends."""
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("latin-1")


def _b64(data: bytes) -> str:
    return "\n".join(base64.encodebytes(data).decode("ascii").splitlines())


# --- The messages ------------------------------------------------------------------------------------


def plain_utf8() -> bytes:
    message = _headers(
        EmailMessage(),
        subject="Demande de rendez-vous à l'état civil",
        sender="Élodie Lefèvre <elodie.lefevre@example.org>",
        msgid="<plain-utf8-1@example.org>",
    )
    message.set_content(
        "Madame, Monsieur,\n\nJe souhaiterais obtenir un rendez-vous pour déposer mon dossier de mariage.\n"
        "Pourriez-vous m'indiquer les créneaux disponibles en février ?\n\nBien à vous,\nÉlodie Lefèvre\n",
        cte="8bit",
    )
    return _bytes(message)


def latin1_qp() -> bytes:
    body = (
        "Bonjour,\n\nSuite à la réunion du conseil, voici ma requête concernant l'élagage des arbres "
        "situés près de l'école.\nJe reste à votre disposition.\n\nFrançois Bérenger\n"
    )
    import quopri

    encoded = quopri.encodestring(body.encode("iso-8859-1")).decode("ascii")
    return _crlf(
        "From: =?ISO-8859-1?Q?Fran=E7ois_B=E9renger?= <f.berenger@example.fr>\n"
        f"To: {MAIRIE}\n"
        "Subject: =?ISO-8859-1?Q?Requ=EAte_=E9lagage_pr=E8s_de_l'=E9cole?=\n"
        "Date: Wed, 07 Jan 2026 08:02:11 +0100\n"
        "Message-ID: <latin1-qp-1@example.fr>\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=ISO-8859-1\n"
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n" + encoded
    )


def cp1252_euro() -> bytes:
    body = (
        "Bonjour,\n\nVeuillez trouver ci-dessous notre devis pour la rénovation du cœur de village : "
        "12 500 € HT, soit 15 000 € TTC.\nNous restons à votre écoute… «\u00a0cordialement\u00a0».\n\nSARL Bâtisœur\n"
    )
    return _crlf(
        "From: =?windows-1252?Q?SARL_B=E2tis=9Cur?= <devis@batisoeur.example>\n"
        f"To: {MAIRIE}\n"
        "Subject: =?windows-1252?Q?Devis_r=E9novation_c=9Cur_de_village_=96_12_500_=80?=\n"
        "Date: Thu, 08 Jan 2026 14:30:00 +0100\n"
        "Message-ID: <cp1252-1@batisoeur.example>\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=windows-1252\n"
        "Content-Transfer-Encoding: 8bit\n"
        "\n"
    ) + body.replace("\n", "\r\n").encode("cp1252")


def _logo() -> bytes:
    return png((60, 24), color=(0, 90, 160))


def _signature() -> bytes:
    return png((120, 30), color=(200, 30, 30))


def html_inline_images() -> bytes:
    html = (
        "<html><head><style>p { color: navy }</style></head><body>"
        '<p><img src="cid:logo@association.example" alt="Logo"></p>'
        "<p>Madame la Maire,</p><p>L'association <b>Les Amis du Lavoir</b> sollicite une subvention "
        "exceptionnelle pour la fête du patrimoine.</p>"
        '<p>Cordialement,<br>Hélène Garçon<br><img src="cid:signature@association.example"></p>'
        "</body></html>"
    )
    return _crlf(
        "From: =?utf-8?b?SMOpbMOobmUgR2Fyw6dvbg==?= <contact@amis-du-lavoir.example>\n"
        f"To: {MAIRIE}\n"
        "Subject: =?utf-8?q?Demande_de_subvention_=E2=80=93_f=C3=AAte_du_patrimoine?=\n"
        "Date: Fri, 09 Jan 2026 09:00:00 +0100\n"
        "Message-ID: <html-inline-1@amis-du-lavoir.example>\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/related; boundary="rel"; type="text/html"\n'
        "\n"
        "--rel\n"
        "Content-Type: text/html; charset=utf-8\n"
        "Content-Transfer-Encoding: base64\n"
        "\n" + _b64(html.encode("utf-8")) + "\n"
        "--rel\n"
        "Content-Type: image/png\n"
        "Content-Transfer-Encoding: base64\n"
        "Content-ID: <logo@association.example>\n"
        'Content-Disposition: inline; filename="logo.png"\n'
        "\n" + _b64(_logo()) + "\n"
        "--rel\n"
        "Content-Type: image/png\n"
        "Content-Transfer-Encoding: base64\n"
        "Content-ID: <signature@association.example>\n"
        'Content-Disposition: inline; filename="image001.png"\n'
        "\n" + _b64(_signature()) + "\n"
        "--rel--\n"
    )


def mixed_alternative() -> bytes:
    message = _headers(
        EmailMessage(),
        subject="Permis de construire – pièces complémentaires",
        sender='"Dupont, Jean-Michel" <jm.dupont@example.com>',
        msgid="<mixed-alt-1@example.com>",
    )
    message["Cc"] = "Cabinet d'architecture Ocre <archi@ocre.example>, urbanisme@cc-grand-pic.example"
    message.set_content(
        "Bonjour,\n\nCi-joint le plan de masse et la photo du terrain.\n\nJean-Michel Dupont\n"
    )
    message.add_alternative(
        "<p>Bonjour,</p><p>Ci-joint le <b>plan de masse</b> et la photo du terrain.</p><p>Jean-Michel Dupont</p>",
        subtype="html",
    )
    message.add_attachment(
        text_pdf("Plan de masse", "Parcelle cadastrée AB 123, surface 1 250 m²"),
        maintype="application",
        subtype="pdf",
        filename="plan-de-masse.pdf",
    )
    message.add_attachment(
        png((160, 120), noise=True), maintype="image", subtype="png", filename="terrain.png"
    )
    return _bytes(message)


def forwarded() -> bytes:
    inner = _headers(
        EmailMessage(),
        subject="Facture eau 2025",
        sender="Service des eaux <factures@eaux-du-pic.example>",
        msgid="<facture-eau-2025@eaux-du-pic.example>",
        date="Mon, 05 Jan 2026 07:00:00 +0100",
        to="tresorerie@example.org",
    )
    inner.set_content("Veuillez trouver votre facture d'eau ci-jointe.\n")
    inner.add_attachment(
        text_pdf("Facture n° 2025-0042", "Montant : 84,20 €"),
        maintype="application",
        subtype="pdf",
        filename="facture-2025-0042.pdf",
    )
    outer = _headers(
        EmailMessage(),
        subject="TR: Facture eau 2025",
        sender="Trésorerie <tresorerie@example.org>",
        msgid="<forward-1@example.org>",
    )
    outer.set_content("Bonjour,\n\nJe vous transfère la facture reçue par erreur.\n\nLa trésorerie\n")
    outer.add_attachment(inner)
    return _bytes(outer)


def winmail() -> bytes:
    attachment = tnef.build(
        [("arrêté de voirie.pdf", text_pdf("Arrêté de voirie n° 17", "Stationnement interdit rue Haute"))],
        body="Voir la pièce jointe.",
    )
    return _crlf(
        "From: =?utf-8?q?Conseil_d=C3=A9partemental?= <voirie@departement.example>\n"
        f"To: {MAIRIE}\n"
        "Subject: Arrete de voirie\n"
        "Date: Mon, 12 Jan 2026 11:00:00 +0100\n"
        "Message-ID: <winmail-1@departement.example>\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="outlook"\n'
        "\n"
        "--outlook\n"
        "Content-Type: text/plain; charset=us-ascii\n"
        "\n"
        "Bonjour, veuillez trouver l'arrete en piece jointe.\n"
        "--outlook\n"
        'Content-Type: application/ms-tnef; name="winmail.dat"\n'
        "Content-Transfer-Encoding: base64\n"
        'Content-Disposition: attachment; filename="winmail.dat"\n'
        "\n" + _b64(attachment) + "\n"
        "--outlook--\n"
    )


def winmail_unreadable() -> bytes:
    """A winmail.dat with the TNEF signature but nothing readable after it: kept as is, with a warning."""
    return _crlf(
        "From: Agence postale <agence@example.org>\n"
        f"To: {MAIRIE}\n"
        "Subject: Horaires de l'agence postale\n"
        "Date: Mon, 12 Jan 2026 11:05:00 +0100\n"
        "Message-ID: <winmail-2@example.org>\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="b"\n'
        "\n"
        "--b\n"
        "Content-Type: text/plain; charset=us-ascii\n"
        "\n"
        "Nouveaux horaires en piece jointe.\n"
        "--b\n"
        "Content-Type: application/ms-tnef\n"
        "Content-Transfer-Encoding: base64\n"
        'Content-Disposition: attachment; filename="winmail.dat"\n'
        "\n" + _b64(tnef.SIGNATURE + b"\x01\x00\x02\xff\xff\xff\xff") + "\n"
        "--b--\n"
    )


def attachment_without_name() -> bytes:
    pdf = text_pdf("Attestation d'assurance", "Responsabilité civile 2026")
    return _crlf(
        "From: assurances@mutuelle.example\n"
        f"To: {MAIRIE}\n"
        "Subject: Attestation\n"
        "Date: Tue, 13 Jan 2026 16:45:00 +0100\n"
        "Message-ID: <noname-1@mutuelle.example>\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="x"\n'
        "\n"
        "--x\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "\n"
        "Votre attestation.\n"
        "--x\n"
        "Content-Type: application/pdf\n"
        "Content-Transfer-Encoding: base64\n"
        "Content-Disposition: attachment\n"
        "\n" + _b64(pdf) + "\n"
        "--x\n"
        "Content-Type: application/octet-stream\n"
        "Content-Transfer-Encoding: base64\n"
        "\n" + _b64(pdf.replace(b"Attestation", b"Quittance  ")) + "\n"
        "--x--\n"
    )


def rfc2231_filename() -> bytes:
    return _crlf(
        "From: =?utf-8?q?Secr=C3=A9tariat_du_SIVOM?= <secretariat@sivom.example>\n"
        f"To: {MAIRIE}\n"
        "Subject: =?utf-8?b?RMOpbGliw6lyYXRpb24gbsKwMTI=?=\n"
        "Date: Wed, 14 Jan 2026 10:00:00 +0100\n"
        "Message-ID: <rfc2231-1@sivom.example>\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="z"\n'
        "\n"
        "--z\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n"
        "Veuillez trouver la d=C3=A9lib=C3=A9ration n=C2=B012 du comit=C3=A9 syndical.\n"
        "--z\n"
        "Content-Type: application/pdf\n"
        "Content-Transfer-Encoding: base64\n"
        "Content-Disposition: attachment;\n"
        " filename*0*=UTF-8''d%C3%A9lib%C3%A9ration%20n%C2%B012%20du%20comit%C3%A9;\n"
        " filename*1*=%20syndical.pdf\n"
        "\n" + _b64(text_pdf("Délibération n° 12", "Le comité syndical approuve le budget")) + "\n"
        "--z\n"
        'Content-Type: application/pdf; name="=?utf-8?q?annexe_budg=C3=A9taire.pdf?="\n'
        "Content-Transfer-Encoding: base64\n"
        'Content-Disposition: attachment; filename="=?utf-8?q?annexe_budg=C3=A9taire.pdf?="\n'
        "\n" + _b64(text_pdf("Annexe budgétaire")) + "\n"
        "--z--\n"
    )


def missing_headers() -> bytes:
    return _crlf(
        f"To: {MAIRIE}\n"
        "Subject: Sans en-tetes\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "\n"
        "Un message sans expediteur, sans date et sans identifiant.\n"
    )


def broken_headers() -> bytes:
    """8-bit bytes in headers, an unterminated encoded word, charset labels Python does not know."""
    return (
        b"Received: from mx.example.net by mx.saint-aubin.example; Thu, 15 Jan 2026 09:00:00 +0100\r\n"
        b"From: =?utf-8?q?Ren=C3=A9e_Mart <renee.martin@example.net>\r\n"
        b"To: " + MAIRIE.encode() + b"\r\n"
        b"Subject: R\xe9clamation =?unknown-8bit?q?=E9clairage_public?= \xc3\xa0 r\xc3\xa9parer\r\n"
        b"Date: le 15 janvier 2026\r\n"
        b"Message-ID: <broken-1@example.net>\r\n"
        b"X-Garbage: \x00\x01\xff\xfe\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf8\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n"
        b"\r\n" + "L'éclairage public de la rue des Écoles est en panne depuis une semaine.\r\n".encode()
    )


def wrong_charset() -> bytes:
    """A body labelled unknown-8bit holding UTF-8, and another labelled us-ascii holding Windows-1252."""
    return (
        b"From: Gilles <gilles@example.net>\r\n"
        b"To: " + MAIRIE.encode() + b"\r\n"
        b"Subject: =?x-unknown?q?D=C3=A9chets_verts?=\r\n"
        b"Date: Fri, 16 Jan 2026 18:20:00 +0100\r\n"
        b"Message-ID: <charset-1@example.net>\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="c"\r\n'
        b"\r\n"
        b"--c\r\n"
        b"Content-Type: text/plain; charset=unknown-8bit\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n"
        b"\r\n" + "Quand a lieu la collecte des déchets verts ?\r\n".encode() + b"--c\r\n"
        b"Content-Type: text/plain; charset=us-ascii\r\n"
        b"Content-Disposition: inline\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n"
        b"\r\n" + "Merci d'avance, à bientôt.\r\n".encode("cp1252") + b"--c--\r\n"
    )


def large(size: int = 15 * 1024 * 1024) -> bytes:
    message = _headers(
        EmailMessage(),
        subject="Dossier complet de la consultation",
        sender="Bureau d'études <be@etudes.example>",
        msgid="<large-1@etudes.example>",
    )
    message.set_content("Veuillez trouver le dossier complet en pièce jointe.\n")
    message.add_attachment(
        text_pdf("Dossier de consultation des entreprises", padding=size, seed=15),
        maintype="application",
        subtype="pdf",
        filename="DCE-complet.pdf",
    )
    return _bytes(message)


def hostile_html(remote: str = "http://tracker.example/pixel.gif") -> bytes:
    """Script, event handlers, remote images and style sheets: none may run or be fetched."""
    base = remote.rsplit("/", 1)[0]
    html = (
        "<html><head>"
        f'<link rel="stylesheet" href="{base}/style.css">'
        f"<style>@import url({base}/import.css); body {{ background: url({base}/fond.png) }}</style>"
        "<script>document.write('pirate')</script></head>"
        f'<body background="{base}/body-bg.png" onload="alert(1)">'
        "<p onclick=\"alert('clic')\">Bonjour, voici notre offre spéciale pour la commune.</p>"
        f'<img src="{remote}" width="1" height="1">'
        f'<img src="{base}/banniere.jpg" alt="Bannière">'
        f'<div style="background-image: url({base}/div.png)">Texte important à lire.</div>'
        f'<table background="{base}/table.png"><tr><td>Cellule</td></tr></table>'
        f'<iframe src="{base}/cadre.html"></iframe>'
        f'<object data="{base}/objet.swf"></object>'
        '<a href="javascript:alert(1)">Lien piégé</a> '
        f'<a href="{base}/page">Lien normal</a>'
        f'<svg><image href="{base}/svg.png"/></svg>'
        "<script>alert('encore')</script>"
        "</body></html>"
    )
    message = _headers(
        EmailMessage(),
        subject="Offre spéciale",
        sender="Marketing <news@promo.example>",
        msgid="<hostile-1@promo.example>",
    )
    message.set_content(html, subtype="html", cte="base64")
    return _bytes(message)


def nested_multipart() -> bytes:
    """mixed → (related → (alternative → text, html + cid image) + big image) + PDF: as Apple Mail writes."""
    pdf = text_pdf("Compte rendu de la réunion de chantier", "Présents : M. Roux, Mme Nguyen")
    photo = png((200, 150), noise=True)
    return _crlf(
        "From: Chantier <chantier@btp.example>\n"
        f"To: {MAIRIE}\n"
        "Subject: Compte rendu de chantier\n"
        "Date: Sat, 17 Jan 2026 12:00:00 +0100\n"
        "Message-ID: <nested-1@btp.example>\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="m1"\n'
        "\n"
        "--m1\n"
        'Content-Type: multipart/related; boundary="m2"\n'
        "\n"
        "--m2\n"
        'Content-Type: multipart/alternative; boundary="m3"\n'
        "\n"
        "--m3\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n"
        "Voici le compte rendu de la r=C3=A9union de chantier et une photo.\n"
        "--m3\n"
        "Content-Type: text/html; charset=utf-8\n"
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n"
        "<p>Voici le compte rendu de la r=C3=A9union de chantier et une photo.</p>"
        '<p><img src=3D"cid:photo1"></p>\n'
        "--m3--\n"
        "--m2\n"
        "Content-Type: image/png\n"
        "Content-ID: <photo1>\n"
        "Content-Transfer-Encoding: base64\n"
        'Content-Disposition: inline; filename="photo.png"\n'
        "\n" + _b64(photo) + "\n"
        "--m2--\n"
        "--m1\n"
        "Content-Type: application/pdf\n"
        "Content-Transfer-Encoding: base64\n"
        'Content-Disposition: attachment; filename="compte-rendu.pdf"\n'
        "\n" + _b64(pdf) + "\n"
        "--m1--\n"
    )


def refused_attachments() -> bytes:
    """A zip and a program attached: not registered, the message is, with a warning naming each file."""
    message = _headers(
        EmailMessage(),
        subject="Photos de la kermesse",
        sender="Parents d'élèves <ape@ecole.example>",
        msgid="<refused-1@ecole.example>",
    )
    message.set_content("Bonjour, voici les photos de la kermesse (archive) et le diaporama.\n")
    buffer = io.BytesIO()
    import zipfile

    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("photo1.jpg", b"\xff\xd8\xff" + b"0" * 100)
    message.add_attachment(buffer.getvalue(), maintype="application", subtype="zip", filename="photos.zip")
    message.add_attachment(
        b"MZ\x90\x00" + b"\x00" * 200,
        maintype="application",
        subtype="octet-stream",
        filename="diaporama.exe",
    )
    message.add_attachment(
        text_pdf("Programme de la kermesse"), maintype="application", subtype="pdf", filename="programme.pdf"
    )
    return _bytes(message)


def truncated() -> bytes:
    """Cut in the middle of a base64 attachment, closing boundary missing (a connection lost mid-send)."""
    pdf = _b64(text_pdf("Document coupé"))
    return _crlf(
        "From: Coupure <coupure@example.org>\n"
        f"To: {MAIRIE}\n"
        "Subject: Message interrompu\n"
        "Date: Sun, 18 Jan 2026 08:00:00 +0100\n"
        "Message-ID: <truncated-1@example.org>\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="t"\n'
        "\n"
        "--t\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "\n"
        "Début du message avant la coupure.\n".encode().decode("latin-1")
        + "--t\n"
        "Content-Type: application/pdf\n"
        "Content-Transfer-Encoding: base64\n"
        'Content-Disposition: attachment; filename="coupe.pdf"\n'
        "\n" + pdf[: len(pdf) // 2 + 3] + "\n"
    )


def eicar_attachment() -> bytes:
    """EICAR (the antivirus test file) attached: clamd must find it in the message (not in CORPUS)."""
    message = _headers(
        EmailMessage(),
        subject="Facture impayée",
        sender="Comptabilité <compta@arnaque.example>",
        msgid="<eicar-1@arnaque.example>",
    )
    message.set_content("Veuillez régler la facture ci-jointe.\n")
    message.add_attachment(EICAR, maintype="application", subtype="pdf", filename="facture.pdf")
    return _bytes(message)


# --- What intake must read in each -------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    subject: str
    sender_address: str
    sender_name: str = ""
    attachments: tuple[str, ...] = ()  # names of the attachment documents registered, in order
    refused: tuple[str, ...] = ()  # attachments present but refused by the intake checks
    body_words: tuple[str, ...] = ()  # found in the body text (and in the body PDF's text)
    warning: bool = False  # registered with at least one warning
    inline: int = 0  # inline images not registered
    date: str | None = "present"  # None: no usable Date header
    message_id: str = ""
    extra: dict[str, str] = field(default_factory=dict)


EXPECTED: dict[str, Expected] = {
    "plain_utf8": Expected(
        "Demande de rendez-vous à l'état civil",
        "elodie.lefevre@example.org",
        "Élodie Lefèvre",
        body_words=("rendez-vous", "dossier de mariage", "créneaux", "février"),
        message_id="plain-utf8-1@example.org",
    ),
    "latin1_qp": Expected(
        "Requête élagage près de l'école",
        "f.berenger@example.fr",
        "François Bérenger",
        body_words=("requête", "élagage", "école", "disposition"),
        message_id="latin1-qp-1@example.fr",
    ),
    "cp1252_euro": Expected(
        "Devis rénovation cœur de village – 12 500 €",
        "devis@batisoeur.example",
        "SARL Bâtisœur",
        body_words=("rénovation", "cœur", "12 500 €", "écoute…"),
        message_id="cp1252-1@batisoeur.example",
    ),
    "html_inline_images": Expected(
        "Demande de subvention – fête du patrimoine",
        "contact@amis-du-lavoir.example",
        "Hélène Garçon",
        body_words=("Madame la Maire", "Les Amis du Lavoir", "subvention", "Hélène Garçon"),
        inline=2,
        message_id="html-inline-1@amis-du-lavoir.example",
    ),
    "mixed_alternative": Expected(
        "Permis de construire – pièces complémentaires",
        "jm.dupont@example.com",
        "Dupont, Jean-Michel",
        attachments=("plan-de-masse.pdf", "terrain.png"),
        body_words=("plan de masse", "photo du terrain"),
        message_id="mixed-alt-1@example.com",
    ),
    "forwarded": Expected(
        "TR: Facture eau 2025",
        "tresorerie@example.org",
        "Trésorerie",
        attachments=("Facture eau 2025.eml",),
        body_words=("transfère", "facture"),
        message_id="forward-1@example.org",
    ),
    "winmail": Expected(
        "Arrete de voirie",
        "voirie@departement.example",
        "Conseil départemental",
        attachments=("arrêté de voirie.pdf",),
        body_words=("arrete en piece jointe",),
        warning=True,
        message_id="winmail-1@departement.example",
    ),
    "winmail_unreadable": Expected(
        "Horaires de l'agence postale",
        "agence@example.org",
        "Agence postale",
        refused=("winmail.dat",),
        body_words=("Nouveaux horaires",),
        warning=True,
        message_id="winmail-2@example.org",
    ),
    "attachment_without_name": Expected(
        "Attestation",
        "assurances@mutuelle.example",
        attachments=("piece-jointe-1.pdf", "piece-jointe-2.pdf"),
        body_words=("Votre attestation",),
        message_id="noname-1@mutuelle.example",
    ),
    "rfc2231_filename": Expected(
        "Délibération n°12",
        "secretariat@sivom.example",
        "Secrétariat du SIVOM",
        attachments=("délibération n°12 du comité syndical.pdf", "annexe budgétaire.pdf"),
        body_words=("délibération n°12", "comité syndical"),
        message_id="rfc2231-1@sivom.example",
    ),
    "missing_headers": Expected(
        "Sans en-tetes",
        "",
        body_words=("sans expediteur",),
        warning=True,
        date=None,
    ),
    "broken_headers": Expected(
        "Réclamation éclairage public à réparer",
        "renee.martin@example.net",
        "Renée Mart",  # from an unterminated encoded word
        body_words=("éclairage public", "rue des Écoles", "semaine"),
        warning=True,
        date=None,
        message_id="broken-1@example.net",
    ),
    "wrong_charset": Expected(
        "Déchets verts",
        "gilles@example.net",
        "Gilles",
        body_words=("déchets verts", "à bientôt"),
        warning=True,
        message_id="charset-1@example.net",
    ),
    "hostile_html": Expected(
        "Offre spéciale",
        "news@promo.example",
        "Marketing",
        body_words=("offre spéciale", "Texte important à lire", "Lien normal"),
        warning=True,  # remote images removed
        message_id="hostile-1@promo.example",
    ),
    "nested_multipart": Expected(
        "Compte rendu de chantier",
        "chantier@btp.example",
        "Chantier",
        attachments=("compte-rendu.pdf",),
        body_words=("compte rendu de la réunion de chantier",),
        inline=1,
        message_id="nested-1@btp.example",
    ),
    "refused_attachments": Expected(
        "Photos de la kermesse",
        "ape@ecole.example",
        "Parents d'élèves",
        attachments=("programme.pdf",),
        refused=("photos.zip", "diaporama.exe"),
        body_words=("kermesse",),
        warning=True,
        message_id="refused-1@ecole.example",
    ),
    "truncated": Expected(
        "Message interrompu",
        "coupure@example.org",
        "Coupure",
        refused=("coupe.pdf",),
        body_words=("Début du message",),
        warning=True,
        message_id="truncated-1@example.org",
    ),
    "large": Expected(
        "Dossier complet de la consultation",
        "be@etudes.example",
        "Bureau d'études",
        attachments=("DCE-complet.pdf",),
        body_words=("dossier complet",),
        message_id="large-1@etudes.example",
    ),
}

BUILDERS: dict[str, Callable[[], bytes]] = {
    "plain_utf8": plain_utf8,
    "latin1_qp": latin1_qp,
    "cp1252_euro": cp1252_euro,
    "html_inline_images": html_inline_images,
    "mixed_alternative": mixed_alternative,
    "forwarded": forwarded,
    "winmail": winmail,
    "winmail_unreadable": winmail_unreadable,
    "attachment_without_name": attachment_without_name,
    "rfc2231_filename": rfc2231_filename,
    "missing_headers": missing_headers,
    "broken_headers": broken_headers,
    "wrong_charset": wrong_charset,
    "hostile_html": hostile_html,
    "nested_multipart": nested_multipart,
    "refused_attachments": refused_attachments,
    "truncated": truncated,
    "large": large,
}
HEAVY = {"large"}  # left out of iteration: ask for it by name


class _LazyCorpus(Mapping[str, bytes]):
    """name → raw bytes, each message built once on first access. Iterating skips the HEAVY ones."""

    def __init__(self) -> None:
        self._built: dict[str, bytes] = {}

    def __getitem__(self, name: str) -> bytes:
        if name not in self._built:
            self._built[name] = BUILDERS[name]()
        return self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter([name for name in BUILDERS if name not in HEAVY])

    def __len__(self) -> int:
        return len(BUILDERS) - len(HEAVY)


CORPUS: Mapping[str, bytes] = _LazyCorpus()


def corpus_messages(*, heavy: bool = False) -> Iterator[tuple[str, bytes]]:
    for name in BUILDERS:
        if heavy or name not in HEAVY:
            yield name, CORPUS[name]


def bulk(count: int, *, seed: int = 0) -> Iterator[bytes]:
    """``count`` distinct messages cycling through the corpus shapes (unique Message-IDs): for benchmarks."""
    names = [n for n in BUILDERS if n not in HEAVY]
    rng = random.Random(seed)
    for index in range(count):
        raw = CORPUS[names[index % len(names)]]
        marker = f"bulk{index}-{rng.randrange(1 << 30)}".encode()
        if b"Message-ID: <" in raw:
            yield raw.replace(b"Message-ID: <", b"Message-ID: <" + marker + b".", 1)
        else:
            yield b"Message-ID: <" + marker + b"@bulk.example>\r\n" + raw


__all__ = [
    "BUILDERS",
    "CORPUS",
    "EICAR",
    "EXPECTED",
    "bulk",
    "corpus_messages",
    "eicar_attachment",
    "text_pdf",
]
