"""Letter templates: merge fields, refused templates, default templates, the letter's PDF."""

from __future__ import annotations

import datetime as dt
import re
import subprocess

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from mairie.audit.models import AuditEntry
from mairie.courrier.services import find_or_create_contact
from mairie.letters import merge, pdf, services
from mairie.letters.models import LetterTemplate
from mairie.organisations.models import Membership
from mairie.organisations.services import set_logo
from mairie.testing.factories import courrier_with_document

from .conftest import pdf_text


def _png() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (240, 120), (0, 70, 140)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def incoming(world):
    contact = find_or_create_contact(
        organisation=world.commune,
        name="Dupont",
        first_name="Jeanne",
        email="jeanne.dupont@example.org",
        address_line1="3 chemin des Vignes",
        postal_code="34980",
        city="Saint-Aubin-les-Vignes",
    )
    courrier, _ = courrier_with_document(
        organisation=world.commune,
        actor=world.secretary,
        text="Demande d'acte de naissance",
        subject="Demande d'acte de naissance",
        contact=contact,
        received_at=timezone.make_aware(dt.datetime(2026, 11, 1, 10, 30)),
        process=False,
    )
    return courrier


# --- Merge fields --------------------------------------------------------------------------------------


def test_merge_fields_are_filled_in_french(world, incoming):
    membership = world.membership(world.secretary)
    context = merge.letter_context(
        organisation=world.commune,
        courrier=incoming,
        signer=services.signer_of(membership),
        today=dt.date(2026, 11, 29),
    )
    text = merge.render(
        "{{ contact.civilite_complete }} {{ contact.prenom }} {{ contact.nom|upper }} — {{ courrier.chrono }} — "
        "{{ courrier.objet }} reçu le {{ courrier.date_reception }} ; {{ commune.nom }}, le {{ date_du_jour }}. "
        "{{ signataire }}{{ contact.organisme|default:'' }}",
        context,
    )
    assert text == (
        f"Madame, Monsieur Jeanne DUPONT — {incoming.chrono} — Demande d'acte de naissance reçu le "
        "1er novembre 2026 ; Saint-Aubin-les-Vignes, le 29 novembre 2026. Sylvie Marchand"
    )


def test_unknown_field_is_refused_with_the_list_of_available_fields():
    with pytest.raises(merge.MergeError) as caught:
        merge.compile_template("Bonjour {{ contact.age }} et {{ settings.SECRET_KEY }}")
    message = str(caught.value)
    assert message.startswith("Champs inconnus : {{ contact.age }}, {{ settings.SECRET_KEY }}.")
    assert "Champs disponibles : {{ contact.civilite_complete }}, {{ contact.nom }}" in message
    assert "{{ signataire }}" in message


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ('{% include "base.html" %}', "La balise {% include %} n'est pas permise"),
        ("{% debug %}", "La balise {% debug %} n'est pas permise"),
        ("{% load static %}", "mal formées"),
        ("{{ contact.nom|safe }}", "Le filtre « safe » n'est pas permis"),
        ("{{ contact.nom.__class__ }}", "mal formées"),
        ("{{ contact.nom.upper }}", "Champ inconnu : {{ contact.nom.upper }}"),
        ("Bonjour {{ contact.nom", "Des accolades ne sont pas refermées"),
    ],
)
def test_anything_but_text_and_fields_is_refused(source, message):
    with pytest.raises(merge.MergeError, match=re.escape(message)):
        merge.compile_template(source)


def test_merge_inserts_values_as_they_are_and_never_evaluates_them(world, incoming):
    """A contact named like a field stays a name: the merge result is not merged again."""
    incoming.contact.name = "{{ commune.email }} <b>"
    context = merge.letter_context(
        organisation=world.commune, courrier=incoming, signer=merge.Signer("Sylvie Marchand")
    )
    assert merge.render("Cher {{ contact.nom }}", context) == "Cher {{ commune.email }} <b>"


def test_every_organisation_has_the_default_templates_without_setup(world):
    names = list(services.templates_for(world.other_commune).values_list("name", flat=True))
    assert names == ["Accusé de réception", "Réponse simple"]
    services.templates_for(world.other_commune)  # a second call creates nothing more
    assert LetterTemplate.objects.for_org(world.other_commune).count() == 2
    for template in LetterTemplate.objects.for_org(world.other_commune):
        merge.compile_template(template.subject_template)
        merge.compile_template(template.body_template)
    assert (
        AuditEntry.objects.filter(organisation=world.other_commune, action="letters.template.default").count()
        == 2
    )


def test_administrator_saves_templates_others_cannot(world):
    admin = world.membership(world.commune_admin)
    template = services.save_template(
        membership=admin,
        name="Refus de permis",
        subject_template="Votre demande {{ courrier.chrono }}",
        body_template="{{ contact.civilite_complete }},\r\n\r\nNous regrettons…",
    )
    assert template.body_template == "{{ contact.civilite_complete }},\n\nNous regrettons…"
    with pytest.raises(ValidationError) as caught:
        services.save_template(
            membership=admin,
            template=template,
            name="Refus de permis",
            subject_template="{{ x }}",
            body_template="ok",
        )
    assert "Champ inconnu : {{ x }}" in caught.value.message_dict["subject_template"][0]
    with pytest.raises(ValidationError) as caught:
        services.save_template(
            membership=admin, name="refus de permis", subject_template="a", body_template="b"
        )
    assert caught.value.message_dict["name"] == ["Un autre modèle porte déjà ce nom."]
    with pytest.raises(PermissionDenied):
        services.save_template(
            membership=world.membership(world.secretary),
            name="Autre",
            subject_template="a",
            body_template="b",
        )


# --- The letter's PDF ----------------------------------------------------------------------------------


def _letter(world, incoming, **overrides):
    membership = world.membership(world.secretary)
    defaults = {
        "membership": membership,
        "courrier": incoming,
        "subject": "Votre demande d'acte de naissance",
        "body": "Madame, Monsieur,\n\nVotre acte est joint.\nIl est gratuit.\n\nSalutations distinguées.",
    }
    defaults.update(overrides)
    return services.reply_letter(**defaults)


def test_letter_pdf_has_letterhead_recipient_reference_and_a_text_layer(world, incoming):
    Membership.objects.filter(user=world.secretary).update(title="Secrétaire de mairie")
    content = pdf.render_pdf(_letter(world, incoming))
    assert content.startswith(b"%PDF-")
    text = pdf_text(content)
    for expected in (
        "Saint-Aubin-les-Vignes",
        "Place de la Mairie",
        "Tél. : 04 67 00 00 00",
        "mairie@saint-aubin.example",
        "Jeanne Dupont",
        "3 chemin des Vignes",
        "34980 Saint-Aubin-les-Vignes",
        f"Saint-Aubin-les-Vignes, le {merge.french_date(timezone.localdate())}",
        incoming.chrono,
        "Objet : Votre demande d'acte de naissance",
        "Votre acte est joint.",
        "Sylvie Marchand",
        "Secrétaire de mairie",
    ):
        assert expected in text, expected
    info = subprocess.run(["pdfinfo", "-"], input=content, capture_output=True, check=True).stdout.decode()
    assert "Pages:           1" in info and "A4" in info
    assert "Title:           Votre demande d'acte de naissance" in info


def _image_count(content: bytes) -> int:
    listing = subprocess.run(["pdfimages", "-list", "-"], input=content, capture_output=True, check=False)
    if listing.returncode != 0:  # older poppler reads no stdin: go through a file
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "l.pdf"
            path.write_bytes(content)
            listing = subprocess.run(["pdfimages", "-list", str(path)], capture_output=True, check=True)
    return len(listing.stdout.decode().splitlines()) - 2


def test_letterhead_shows_the_logo_when_there_is_one(world, incoming):
    assert _image_count(pdf.render_pdf(_letter(world, incoming))) == 0
    set_logo(actor=None, organisation=world.commune, data=_png())
    world.commune.refresh_from_db()
    membership = world.membership(world.secretary)
    membership.organisation.refresh_from_db()
    with_logo = pdf.render_pdf(_letter(world, incoming, membership=membership))
    assert _image_count(with_logo) == 1
    assert "Saint-Aubin-les-Vignes" in pdf_text(with_logo)


def test_html_in_a_contact_name_or_the_text_is_printed_not_interpreted(world, incoming):
    incoming.contact.name = '<script>alert("x")</script><img src=x>'
    letter = _letter(world, incoming, body='Texte <b>gras</b> & <a href="http://evil.example">lien</a>')
    html = pdf.render_html(letter)
    assert "<script>" not in html and "<img src=x>" not in html and "<b>gras</b>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "&lt;b&gt;gras&lt;/b&gt; &amp;" in html
    text = " ".join(pdf_text(pdf.render_pdf(letter)).split())
    assert '<script>alert("x")</script><img src=x>' in text
    assert 'Texte <b>gras</b> & <a href="http://evil.example">lien</a>' in text


def test_template_preview_uses_a_fictitious_correspondent(world):
    admin = world.membership(world.commune_admin)
    content = services.template_preview_pdf(
        membership=admin,
        subject_template="Essai {{ courrier.chrono }}",
        body_template="{{ contact.civilite_complete }},\n\nBonjour {{ contact.prenom }} {{ contact.nom }}.",
    )
    text = pdf_text(content)
    assert "Jeanne Exemple" in text and "Bonjour Jeanne Exemple." in text and "-A-000123" in text
    with pytest.raises(ValidationError):
        services.template_preview_pdf(membership=admin, subject_template="{{ oups }}", body_template="")


# --- HTML and CSS templates ------------------------------------------------------------------------------

HTML_BODY = """<h2>Décision</h2>
<p>Madame {{ contact.nom }}, votre demande « {{ courrier.objet }} » est <strong class="ok">acceptée</strong>.</p>
<table><tr><th scope="col">Pièce</th><th scope="col">État</th></tr><tr><td>Acte</td><td>délivré</td></tr></table>
<script>alert(1)</script><img src="file:///etc/passwd"><a href="http://evil.example/">lien</a>"""


def test_html_template_with_css_keeps_the_letter_tags_escapes_values_and_drops_the_rest(world, incoming):
    admin = world.membership(world.commune_admin)
    incoming.contact.name = "<i>Dupont</i>"
    incoming.contact.save()
    template = services.save_template(
        membership=admin,
        name="Décision (HTML)",
        subject_template="Décision — {{ courrier.chrono }}",
        body_template=HTML_BODY,
        body_format="html",
        css=".ok { color: #006400; } table { font-size: 9pt; }",
    )
    context = merge.letter_context(
        organisation=world.commune, courrier=incoming, signer=merge.Signer("Claire Fabre")
    )
    html = merge.render_html(template.body_template, context)
    assert (
        "<h2>Décision</h2>" in html and '<strong class="ok">acceptée</strong>' in html and "<table>" in html
    )
    assert "&lt;i&gt;Dupont&lt;/i&gt;" in html  # a value is text, never markup
    assert "<script" not in html and "alert(1)" not in html and "<img" not in html and "<a " not in html
    letter = pdf.Letter(
        organisation=world.commune,
        recipient_name="Jeanne Dupont",
        recipient_address="",
        subject="Décision",
        body="",
        signer=merge.Signer("Claire Fabre"),
        date=timezone.localdate(),
        html_body=html,
        css=template.css,
    )
    text = " ".join(pdf_text(pdf.render_pdf(letter)).split())
    assert "Décision" in text and "est acceptée." in text and "Pièce État Acte délivré" in text
    # HTML templates are for documents of dossiers: the reply form offers only plain-text ones.
    from mairie.letters.forms import ReplyForm

    offered = ReplyForm(organisation=world.commune).fields["template"].queryset
    assert template not in offered and offered.exists()


@pytest.mark.parametrize(
    "css, message",
    [
        ("body { background: url(http://evil.example/x.png); }", "url("),
        ('@import "http://evil.example/x.css";', "@import"),
        ("p { color: red; } </style><script>x</script>", "</"),
        ("p { font-family: \\\\66 oo; }", "échappement"),
    ],
)
def test_css_that_could_fetch_or_escape_is_refused_in_french(world, css, message):
    with pytest.raises(ValidationError) as refused:
        services.save_template(
            membership=world.membership(world.commune_admin),
            name="Essai",
            subject_template="Essai",
            body_template="<p>Bonjour</p>",
            body_format="html",
            css=css,
        )
    assert message in refused.value.message_dict["css"][0]
    assert "ne peut pas contenir" in refused.value.message_dict["css"][0]
